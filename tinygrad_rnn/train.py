"""The training loop: updates with clipping and penalties, truncated BPTT over long sequences, a progress bar.

Truncated BPTT (chunks of k steps): a sequence of T steps is cut into chunks [1..k], [k+1..2k], …; each chunk's
loss is built starting from the previous chunk's last hidden state *detached*, so the gradient does not flow from
step t+1 into h_t when t is a multiple of k — the convention of `lecture.truncated_bptt_gradients`. The chunking is
`Recurrent.chunks`, shared by every model (RNN, LSTM, GRU) and by forecasting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from tinygrad_rnn.inputs import Array, whole_number
from tinygrad_rnn.module import Recurrent, chunk_bounds, detach_state  # noqa: F401 (re-exported)
from tinygrad_rnn.optim import SGD, Adagrad, Adam, Optimizer, clip_grad_norm, clip_grad_value, l1_penalty, l2_penalty
from tinygrad_rnn.tensor import Tensor, no_grad

if TYPE_CHECKING:
    from tinygrad_rnn.data import Vocabulary

__all__ = [
    "OPTIMIZERS",
    "History",
    "fit",
    "detach_state",
    "chunk_bounds",
    "tbptt_backward",
    "train_sequence",
    "sample_text",
    "CharResult",
    "train_chars",
    "sample_saved",
]


OPTIMIZERS: dict[str, type[Optimizer]] = {"adam": Adam, "adagrad": Adagrad, "sgd": SGD}


# ----------------------------------------------------------------------------------------------------- the loop
@dataclass
class History:
    """Per update: the loss value (without penalties), the penalty, and the gradient norm before clipping; `clip`
    the norm it was clipped to (None: not clipped). `plot()` draws them."""

    loss: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    clip: float | None = None

    def plot(self, path: str | Path | None = None, title: str = "") -> Any:
        """The loss per update and, below it, the gradient norm before and after clipping (log scale); a matplotlib
        Figure (shown inline in a notebook), also written to `path` when given."""
        import matplotlib.pyplot as plt

        if not self.loss:
            raise ValueError("History.plot: no update was recorded")
        steps = np.arange(1, len(self.loss) + 1)
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True, constrained_layout=True)
        top.plot(steps, self.loss, color="#0d6efd", lw=1.2, label="loss")
        if any(self.penalty):
            top.plot(steps, np.add(self.loss, self.penalty), color="#6c757d", lw=1, label="loss + penalty")
        top.set_ylabel("loss")
        top.set_title(title or f"training: {len(self.loss)} updates, last loss {self.loss[-1]:.4g}")
        top.legend(loc="upper right")
        top.grid(alpha=0.3)
        bottom.semilogy(steps, self.grad_norm, color="#b02a37", lw=1, label="‖∇θ‖ before clipping")
        if self.clip is not None:
            bottom.semilogy(steps, np.minimum(self.grad_norm, self.clip), color="#212529", lw=1, ls="--",
                            label=f"after clipping to {self.clip:g}")  # fmt: skip
            bottom.axhline(self.clip, color="#6c757d", lw=0.8, ls=":")
        bottom.set_xlabel("update")
        bottom.set_ylabel("gradient norm")
        bottom.legend(loc="upper right")
        bottom.grid(alpha=0.3, which="both")
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def fit(
    loss_fn: Callable[[int], Any],
    optimizer: Optimizer,
    steps: int,
    *,
    clip: float | None = None,
    clip_value: float | None = None,
    l1: float = 0.0,
    l2: float = 0.0,
    progress: bool = False,
    desc: str = "train",
    callback: Callable[[int, History], None] | None = None,
    replay: bool = False,
) -> History:
    """For i = 1..steps:  L_i = loss_fn(i) + λ₁Σ|θ| + λ₂Σθ²;  backward;  clip;  θ ← optimizer step.

    `clip` caps the global gradient norm (`clip_grad_norm`), `clip_value` each entry; both may be given. The
    penalties are graph nodes of their own whose gradients add to the loss's (`History.penalty`: their values).
    `callback(i, history)` runs after each update (e.g. to sample text). A non-finite loss stops training with a
    ValueError naming the update. `progress` shows a tqdm bar (in a notebook, its widget) with the current loss.

    replay=True: loss_fn(i) returns (fn, args) instead of a loss, fn(*args) the loss (or (loss, *extras)); the update
    runs fn through `replay(fn)` — one recording per fn and argument shapes — and the penalties eagerly beside it.
    The optimizer step stays outside the recording: it updates the parameters in place, where the program reads
    them, and clipping and the gradient norm need the whole gradient first, as in eager training.
    """
    steps = whole_number(steps, "steps", "fit")
    params = optimizer.params
    hist = History(clip=clip)
    replays: dict[int, Any] = {}
    bar = tqdm(total=steps, desc=desc, disable=not progress, unit="update", dynamic_ncols=True)
    try:
        for i in range(1, int(steps) + 1):
            optimizer.zero_grad()
            value = _replayed(loss_fn(i), replays, i) if replay else _eager(loss_fn(i), i)
            if not math.isfinite(value):
                raise ValueError(f"fit: the loss is {value} at update {i}; lower the learning rate or clip gradients")
            pen = 0.0
            for penalty, weight in ((l1_penalty, l1), (l2_penalty, l2)):
                if weight:
                    r = penalty(params, weight)
                    r.backward()  # its gradient adds to the loss's, as for the sum of the two
                    pen += r.item()
            hist.grad_norm.append(_global_norm(params) if clip is None else clip_grad_norm(params, clip))
            if clip_value is not None:
                clip_grad_value(params, clip_value)
            optimizer.step()
            hist.loss.append(value)
            hist.penalty.append(pen)
            bar.set_postfix(loss=f"{value:.4g}", refresh=False)
            bar.update()
            if callback is not None:
                callback(i, hist)
    finally:
        bar.close()
    return hist


def _eager(loss: Any, i: int) -> float:
    """backward() of loss_fn(i)'s loss (training needs only the parameters' gradients); its value."""
    if not isinstance(loss, Tensor) or loss.size != 1:
        raise TypeError(f"fit: loss_fn({i}) must return a scalar Tensor, got {loss!r}")
    loss.backward(retain_grads=False)
    return loss.item()


def _replayed(call: Any, replays: dict[int, Any], i: int) -> float:
    """fn(*args) through replay(fn) (made once per fn), for loss_fn(i) = (fn, args)."""
    from tinygrad_rnn.replay import Replay

    if not (isinstance(call, tuple) and len(call) == 2 and callable(call[0])):
        raise TypeError(f"fit(replay=True): loss_fn({i}) must return (fn, args), fn(*args) the loss; got {call!r}")
    fn, args = call
    if not isinstance(fn, Replay):
        if id(fn) not in replays:  # the Replay holds fn, so its id stays its own
            replays[id(fn)] = Replay(fn)
        fn = replays[id(fn)]
    return fn(*args)


def _global_norm(params: list[Tensor]) -> float:
    return math.sqrt(sum(float(np.sum(np.square(p.grad))) for p in params if p.grad is not None))


# ----------------------------------------------------------------------------------------------------- truncated BPTT
def _check_pair(fn: str, xs: Any, ys: Any) -> tuple[np.ndarray, np.ndarray]:
    xs = np.asarray(xs)
    if xs.ndim not in (2, 3) or len(xs) == 0:
        raise ValueError(f"{fn}: xs must have shape (T, D) or (T, B, D) with T ≥ 1, got {xs.shape}")
    if ys is None or len(ys) != len(xs):
        raise ValueError(f"{fn}: xs has {len(xs)} steps but ys has {'None' if ys is None else len(ys)}")
    return xs, np.asarray(ys)


def tbptt_backward(model: Recurrent, xs: Array, ys: Array, k: int | None, h0: Array | None = None) -> float:
    """Σ over chunks of backward(L_chunk), the state carried detached: accumulates ∇θ of truncated BPTT into .grad.

    No parameter changes in between, so the accumulated gradient is exactly the gradient of the whole loss with a
    detach() after steps k, 2k, … (`lecture.truncated_bptt_gradients`). Returns the total loss.
    """
    xs, ys = _check_pair("tbptt_backward", xs, ys)
    total = 0.0
    for _, _, loss in model.chunks(xs, ys, k, h0):
        loss.backward()
        total += loss.item()
    return total


def train_sequence(
    model: Recurrent,
    xs: Array,
    ys: Array,
    optimizer: Optimizer,
    *,
    epochs: int = 1,
    tbptt: int | None = None,
    clip: float | None = None,
    clip_value: float | None = None,
    l1: float = 0.0,
    l2: float = 0.0,
    progress: bool = False,
    callback: Callable[[int, History], None] | None = None,
    replay: bool = False,
) -> History:
    """Truncated BPTT training on one long sequence (T, D) or a batch of them (T, B, D).

    Each epoch walks the chunks of `tbptt` steps in order, one update per chunk, carrying the hidden state across
    chunks detached; the state restarts from zeros at each epoch. `History.loss` holds the loss of each chunk
    divided by its number of steps (so chunks of different length compare). replay=True runs each chunk through
    `replay` (one recording per chunk length; the same updates as eager training, to rounding).
    """
    xs, ys = _check_pair("train_sequence", xs, ys)
    epochs = whole_number(epochs, "epochs", "train_sequence")
    n_chunks = len(chunk_bounds(len(xs), tbptt))
    epoch: dict[str, Iterator] = {}

    def loss_fn(i: int) -> Tensor:
        if (i - 1) % n_chunks == 0:  # a new epoch: the state restarts from zeros
            epoch["chunks"] = model.chunks(xs, ys, tbptt)
        a, b, loss = next(epoch["chunks"])
        return loss * (1.0 / (b - a))

    options: dict[str, Any] = dict(clip=clip, clip_value=clip_value, l1=l1, l2=l2, progress=progress, callback=callback)
    if replay:
        return fit(_replayed_chunks(model, xs, ys, tbptt), optimizer, epochs * n_chunks, replay=True, **options)
    return fit(loss_fn, optimizer, epochs * n_chunks, **options)


def _replayed_chunks(model: Recurrent, xs: np.ndarray, ys: np.ndarray, k: int | None) -> Callable[[int], Any]:
    """train_sequence's chunks as (fn, args) for fit(replay=True): fn(x, y, *state) is the chunk's loss per step and
    the state after it, which the next chunk gets as its (non-differentiable) initial state — truncated BPTT."""
    from tinygrad_rnn.replay import Replay

    def chunk(x: Tensor, y: Tensor, *state: Tensor) -> tuple:
        loss = model.loss(x, y, state if len(state) > 1 else state[0])
        carried = model.state if isinstance(model.state, tuple) else (model.state,)
        return (loss * (1.0 / len(x)), *carried)

    g, bounds = Replay(chunk), chunk_bounds(len(xs), k)
    shape = model._state_shape(xs.shape[1] if xs.ndim == 3 else None)

    def loss_fn(i: int) -> tuple:
        j = (i - 1) % len(bounds)
        parts = len(model.state_keys)
        state = [np.zeros(shape, dtype=model.dtype)] * parts if j == 0 else [o.reshape(shape) for o in g.outputs]
        a, b = bounds[j]
        return g, (xs[a:b], ys[a:b], *state)

    return loss_fn


# ----------------------------------------------------------------------------------------------------- sampling
def sample_text(
    model: Recurrent, vocab: Vocabulary, prefix: str, n: int, *, temperature: float = 1.0, seed: int = 0
) -> str:
    """Feed `prefix`, then draw n characters one at a time from p_k ∝ ŷ_k^(1/τ), each fed back as the next input."""
    if not prefix:
        raise ValueError("sample_text: the prefix must hold at least one character")
    if temperature <= 0:
        raise ValueError(f"sample_text: temperature must be > 0, got {temperature}")
    rng = np.random.default_rng(seed)
    out = []
    with no_grad():
        _, os = model.forward(vocab.one_hot(vocab.encode(prefix)))
        state = model.state
        o = os[-1].data
        for _ in range(n):
            z = o / temperature
            p = np.exp(z - z.max())
            p /= p.sum()
            k = int(rng.choice(len(p), p=p))
            out.append(k)
            _, os = model.forward(vocab.one_hot(np.array([k])), state)
            state = model.state
            o = os[-1].data
    return vocab.decode(np.array(out, dtype=np.int64)) if out else ""


# ------------------------------------------------------------------------------------------------ a character model
@dataclass
class CharResult:
    """What `train_chars` measured: the mean loss per epoch (nats per character) and a sample of the model."""

    characters: int
    distinct: int
    updates: int
    epoch_loss: list[float]
    sample: str
    model: Any = None
    history: History | None = None
    vocab: Any = None

    def __str__(self) -> str:
        lines = [f"{self.characters} characters, {self.distinct} distinct; {self.updates} updates"]
        lines.append("epoch  mean loss (nats/char)")
        lines += [f"{e:5d}  {v:.3f}" for e, v in enumerate(self.epoch_loss, start=1)]
        return "\n".join(lines) + f"\n\nsample:\n{self.sample}"


def train_chars(
    text: str,
    model: str = "rnn",
    *,
    hidden: int = 64,
    optimizer: str = "adagrad",
    lr: float = 0.1,
    epochs: int = 5,
    tbptt: int = 25,
    clip: float | None = None,
    sample: int = 200,
    seed: int = 0,
    progress: bool = False,
    replay: bool = False,
) -> CharResult:
    """A character model of `text` (softmax head) trained by truncated BPTT in chunks of `tbptt`, the gradient
    clipped to norm `clip` (else each entry to ±5, as min-char-rnn does), then `sample` characters drawn at τ = 0.8.
    replay=True trains through `replay` (see train_sequence)."""
    from tinygrad_rnn import data
    from tinygrad_rnn.models import make_model

    if len(text) < 2:
        raise ValueError("train_chars: the text needs at least 2 characters")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"train_chars: optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    vocab = data.Vocabulary.from_text(text)
    ids = vocab.encode(text)
    net = make_model(model, vocab.size, hidden, vocab.size, seed=seed, head="softmax")
    opt = OPTIMIZERS[optimizer](net.parameters(), lr=lr)
    hist = train_sequence(
        net, vocab.one_hot(ids[:-1]), ids[1:], opt, epochs=epochs, tbptt=tbptt, clip=clip,
        clip_value=None if clip else 5.0, progress=progress, replay=replay,
    )  # fmt: skip
    n = len(hist.loss) // epochs
    per_epoch = [float(np.mean(hist.loss[i * n : (i + 1) * n])) for i in range(epochs)]
    drawn = text[0] + sample_text(net, vocab, text[0], sample, temperature=0.8, seed=seed)
    return CharResult(len(text), vocab.size, len(hist.loss), per_epoch, drawn, net, hist, vocab)


def sample_saved(path: str | Path, prefix: str | None = None, n: int = 200, *, temperature: float = 1.0,
                 seed: int = 0) -> str:  # fmt: skip
    """`n` characters from a character model saved with its vocabulary (`model.save(path, transform=vocab)`),
    after `prefix` (default: the vocabulary's first character), which the returned text begins with."""
    from tinygrad_rnn import data
    from tinygrad_rnn.models import load_model

    model = load_model(path)
    vocab = model.transform
    if not isinstance(vocab, data.Vocabulary):
        raise ValueError(f"sample: {path} was saved without a vocabulary; it is not a character model")
    prefix = vocab.chars[0] if prefix is None else prefix
    return prefix + sample_text(
        model, vocab, prefix, whole_number(n, "n", "sample"), temperature=temperature, seed=seed
    )
