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
    loss_fn: Callable[[int], Tensor],
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
) -> History:
    """For i = 1..steps:  L_i = loss_fn(i) + λ₁Σ|θ| + λ₂Σθ²;  backward;  clip;  θ ← optimizer step.

    `clip` caps the global gradient norm (`clip_grad_norm`), `clip_value` each entry; both may be given. The
    penalties are graph nodes added to the loss, so a drawing of L shows them. `callback(i, history)` runs after each
    update (e.g. to sample text). A non-finite loss stops training with a ValueError naming the update. `progress`
    shows a tqdm bar (in a notebook, its widget) with the current loss.
    """
    steps = whole_number(steps, "steps", "fit")
    params = optimizer.params
    hist = History(clip=clip)
    bar = tqdm(total=steps, desc=desc, disable=not progress, unit="update", dynamic_ncols=True)
    try:
        for i in range(1, int(steps) + 1):
            optimizer.zero_grad()
            loss = loss_fn(i)
            if not isinstance(loss, Tensor) or loss.size != 1:
                raise TypeError(f"fit: loss_fn({i}) must return a scalar Tensor, got {loss!r}")
            value = loss.item()
            if not math.isfinite(value):
                raise ValueError(f"fit: the loss is {value} at update {i}; lower the learning rate or clip gradients")
            total, pen = loss, 0.0
            if l1:
                r = l1_penalty(params, l1)
                total, pen = total + r, pen + r.item()
            if l2:
                r = l2_penalty(params, l2)
                total, pen = total + r, pen + r.item()
            total.backward(retain_grads=False)  # training needs only the parameters' gradients
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
) -> History:
    """Truncated BPTT training on one long sequence (T, D) or a batch of them (T, B, D).

    Each epoch walks the chunks of `tbptt` steps in order, one update per chunk, carrying the hidden state across
    chunks detached; the state restarts from zeros at each epoch. `History.loss` holds the loss of each chunk
    divided by its number of steps (so chunks of different length compare).
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

    return fit(
        loss_fn,
        optimizer,
        epochs * n_chunks,
        clip=clip,
        clip_value=clip_value,
        l1=l1,
        l2=l2,
        progress=progress,
        desc="train",
        callback=callback,
    )


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
) -> CharResult:
    """A character model of `text` (softmax head) trained by truncated BPTT in chunks of `tbptt`, the gradient
    clipped to norm `clip` (else each entry to ±5, as min-char-rnn does), then `sample` characters drawn at τ = 0.8."""
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
        clip_value=None if clip else 5.0, progress=progress,
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
