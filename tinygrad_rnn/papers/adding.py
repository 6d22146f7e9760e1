"""Hochreiter & Schmidhuber 1997, Experiment 4: the adding problem, the lecture RNN against the LSTM as T grows.

Task (section 5.4, as printed): a sequence of pairs (value, marker), length drawn from [T, T + T/10]; values
U[−1, 1]; one of the first 10 pairs is marked (its value X_1) and one of the first T/2 − 1 still unmarked pairs
(X_2); the first and the last pair carry marker −1, all others 0 (a marked first pair keeps marker 1 and its value
is set to 0, "we set X_1 to zero"; for T ≤ 10, X_1 is one of the first T − 1 pairs, so that the last pair keeps
its end marker). Only the last step has a target, 0.5 + (X_1 + X_2)/4; a sequence is processed
correctly when the absolute error there is below 0.04. Always answering 0.5 is correct for ≈ 15 % of sequences.

The paper's LSTM (2 cell blocks of size 2, 93 weights, no forget gate, online updates, lr 0.5) reached 1 wrong of
2560 test sequences at T = 100 after 74,000 training sequences (mean of 10 trials), and its Table 2 says "BPTT and
RTRL already fail in case of 10-step minimal time lags". Here: the lecture RNN and the LSTM of `tinygrad_rnn.lstm`
(8 units each, forget gate with bias 5 so that f_t ≈ 0.993 starts out close to the 1997 cell's constant error
carousel), Adam lr 0.01, batches of 32 sequences, the gradient norm of each run clipped at 1, MSE at each
sequence's last step (`loss(..., mask=…)`), a budget of updates per T (far fewer sequences than the paper's), and
the success rate = the fraction of 2560 fresh test sequences processed correctly, per seed.

To stay within the CPU budget the seeds run side by side as one model: S independent copies stacked into one
model of S·H units whose recurrent and output matrices are block-diagonal (a fixed 0/1 mask multiplies them in the
graph, so the off-diagonal blocks get zero gradient and stay zero). Each copy sees the same batches; their losses
add, so each copy receives exactly the gradient of its own loss (`tests/test_papers.py` checks it against separate
models to 1e-10), and Adam and the per-run clipping act on each copy's entries alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_rnn.inputs import whole_number
from tinygrad_rnn.lstm import LSTM
from tinygrad_rnn.module import Recurrent, matvec
from tinygrad_rnn.optim import Adam
from tinygrad_rnn.papers._common import PaperResult, Timer, figure_path, save_figure, spread
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.tensor import Tensor, no_grad, stack

__all__ = ["adding_batch", "StackedRNN", "StackedLSTM", "stack_models", "train_stack", "success_rates", "run"]

TOLERANCE, PAPER_T100 = 0.04, 1 - 1 / 2560  # "1 out of 2560" wrong at T = 100
HIDDEN, LR, BATCH, CLIP, FORGET_BIAS = 8, 0.01, 32, 1.0, 5.0


def adding_batch(T: int, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """`batch` sequences of the adding problem, padded after their end to the longest: x (L, B, 2), target (B,),
    lengths (B,), and y (L, B, 1) / mask (L, B) holding the target at each sequence's own last step."""
    T = whole_number(T, "T", "adding_batch", minimum=6)
    B = whole_number(batch, "batch", "adding_batch")
    lengths = rng.integers(T, T + T // 10 + 1, size=B)
    L, cols = int(lengths.max()), np.arange(B)
    x = np.zeros((L, B, 2))
    x[:, :, 0] = rng.uniform(-1.0, 1.0, (L, B))
    x[0, :, 1] = -1.0
    x[lengths - 1, cols, 1] = -1.0
    i1 = rng.integers(0, min(10, T - 1), size=B)  # one of the first 10 pairs (for T ≤ 10: never the last one)
    i2 = _other(i1, T // 2 - 1, rng)  # one of the first T/2 − 1 pairs, not i1
    for i in (i1, i2):
        x[i, cols, 1] = 1.0
    x[0, (i1 == 0) | (i2 == 0), 0] = 0.0  # a marked first pair counts as 0
    target = 0.5 + (x[i1, cols, 0] + x[i2, cols, 0]) / 4.0
    y = np.zeros((L, B, 1))
    y[lengths - 1, cols, 0] = target
    mask = np.zeros((L, B))
    mask[lengths - 1, cols] = 1.0
    return dict(x=x, y=y, mask=mask, lengths=lengths, target=target)


def _other(i1: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """For each i1, one of 0..n−1 other than i1, uniformly (n ≥ 2)."""
    inside = i1 < n
    r = rng.integers(0, np.where(inside, n - 1, n))  # n − 1 choices when i1 is among them, else n
    return np.where(inside & (r >= i1), r + 1, r)


# ---- S runs side by side -------------------------------------------------------------------------------------------


class _Stacked(Recurrent):
    """Block-diagonal masks on the recurrent matrices (U…) and the output matrix V: S independent copies."""

    copies: int = 1
    masks: dict[str, np.ndarray]

    def _masked(self, name: str) -> Tensor:
        return getattr(self, name) * Tensor(self.masks[name])


class StackedRNN(_Stacked, RNN):
    """S lecture RNNs as one: h = [h¹ … hˢ], U and V block-diagonal (masked in the graph), W, b, c stacked."""

    def cell(self, x: Tensor, state: tuple[Tensor, ...]) -> dict[str, Tensor]:
        (h_prev,) = state
        return {"h": (self.b + matvec(self.W, x) + matvec(self._masked("U"), h_prev)).tanh()}

    def output(self, h: Tensor) -> Tensor:
        return self.c + matvec(self._masked("V"), h)


class StackedLSTM(_Stacked, LSTM):
    """S LSTMs as one: every U_g and V block-diagonal (masked in the graph), W_g, b_g, b_y stacked."""

    def _pre(self, gate: str, x: Tensor, h: Tensor) -> Tensor:
        return matvec(getattr(self, f"W_{gate}"), x) + matvec(self._masked(f"U_{gate}"), h) + getattr(self, f"b_{gate}")

    def output(self, h: Tensor) -> Tensor:
        return matvec(self._masked("V"), h) + self.b_y


def _block_diag(blocks: list[np.ndarray]) -> np.ndarray:
    r, c = blocks[0].shape
    out = np.zeros((r * len(blocks), c * len(blocks)))
    for s, blk in enumerate(blocks):
        out[s * r : (s + 1) * r, s * c : (s + 1) * c] = blk
    return out


def stack_models(models: list[Any]) -> _Stacked:
    """One StackedRNN / StackedLSTM holding copies of the given models (all RNN or all LSTM, same sizes)."""
    kinds = {type(m) for m in models}
    if len(kinds) != 1 or not kinds <= {RNN, LSTM}:
        raise TypeError(f"stack_models: give models of one kind, RNN or LSTM; got {sorted(k.__name__ for k in kinds)}")
    cls = StackedRNN if RNN in kinds else StackedLSTM
    arrays = {}
    masks = {}
    for name in models[0].param_names:
        parts = [m.arrays()[name] for m in models]
        square = name.startswith("U") or name == "V"  # block-diagonal; W…, b…, c, b_y are stacked (shared input)
        arrays[name] = _block_diag(parts) if square else np.concatenate(parts, axis=0)
        if square:
            masks[name] = _block_diag([np.ones_like(p) for p in parts])
    stacked = cls.from_arrays(**arrays, head="linear")
    assert isinstance(stacked, _Stacked)
    stacked.masks, stacked.copies = masks, len(models)
    return stacked


def _copy_rows(stacked: _Stacked, name: str, s: int) -> tuple[slice, ...]:
    """The entries of parameter `name` that belong to copy s (rows of its hidden block, or its output row)."""
    H, K = stacked.hidden_size // stacked.copies, stacked.output_size // stacked.copies
    n = K if name in ("V", "c", "b_y") else H
    return (slice(s * n, (s + 1) * n),)


def _clip_each(stacked: _Stacked, max_norm: float) -> np.ndarray:
    """Clip the gradient norm of each copy to max_norm separately (Pascanu's Alg. 1 per run); the norms before."""
    norms = np.zeros(stacked.copies)
    params = stacked.named_parameters()
    for s in range(stacked.copies):
        rows = {n: _copy_rows(stacked, n, s) for n in params}
        norms[s] = np.sqrt(sum(float(np.sum(p.grad[rows[n]] ** 2)) for n, p in params.items() if p.grad is not None))
        if norms[s] > max_norm:
            for n, p in params.items():
                if p.grad is not None:
                    p.grad[rows[n]] *= max_norm / norms[s]
    return norms


def _last_outputs(stacked: _Stacked, data: dict[str, np.ndarray]) -> np.ndarray:
    """Each copy's output at each sequence's last step: (S, B)."""
    with no_grad():
        _, os = stacked.forward(data["x"])
    O = stack(os).data  # (L, B, S)
    return O[data["lengths"] - 1, np.arange(len(data["lengths"]))].T


def success_rates(stacked: _Stacked, data: dict[str, np.ndarray]) -> np.ndarray:
    """Per copy: the fraction of sequences with |output − target| < 0.04 at the last step (the paper's criterion)."""
    return np.mean(np.abs(_last_outputs(stacked, data) - data["target"][None]) < TOLERANCE, axis=1)


def train_stack(stacked: _Stacked, T: int, updates: int, rng: np.random.Generator, monitor: dict) -> dict[str, Any]:
    """Adam on the summed per-copy MSE of the last step, each copy clipped at 1; stops early when every copy
    processes ≥ 99 % of the `monitor` sequences correctly (checked every 100 updates). Returns the history."""
    opt = Adam(stacked.parameters(), lr=LR)
    K = stacked.copies
    history: dict[str, Any] = dict(update=[], rate=[], updates=updates)
    for i in range(1, updates + 1):
        b = adding_batch(T, BATCH, rng)
        opt.zero_grad()
        stacked.loss(b["x"], np.repeat(b["y"], K, axis=2), mask=b["mask"], reduction="mean").backward()
        _clip_each(stacked, CLIP)
        opt.step()
        if i % 100 == 0 or i == updates:
            rate = success_rates(stacked, monitor)
            history["update"].append(i)
            history["rate"].append(rate)
            if rate.min() >= 0.99:
                history["updates"] = i
                break
    return history


def _settings(quick: bool) -> dict[str, Any]:
    if quick:
        return dict(lengths=(10, 20), seeds=range(2), updates={10: 200, 20: 200}, test=512)
    return dict(lengths=(10, 20, 50, 100), seeds=range(4), updates={10: 600, 20: 800, 50: 1000, 100: 1500}, test=2560)


def run(quick: bool = False, out_dir: str | Path | None = None) -> PaperResult:
    """Both models at every T, S seeds side by side; success rate on fresh test sequences; the figure."""
    timer = Timer()
    cfg = _settings(quick)
    rates: dict[tuple[str, int], np.ndarray] = {}
    histories: dict[tuple[str, int], dict] = {}
    for T in cfg["lengths"]:
        monitor = adding_batch(T, 256, np.random.default_rng([T, 1]))
        test = adding_batch(T, cfg["test"], np.random.default_rng([T, 2]))
        for kind in ("rnn", "lstm"):
            models: list[Any]
            if kind == "rnn":
                models = [RNN(2, HIDDEN, 1, seed=s, head="linear") for s in cfg["seeds"]]
            else:
                models = [LSTM(2, HIDDEN, 1, seed=s, head="linear", forget_bias=FORGET_BIAS) for s in cfg["seeds"]]
            stacked = stack_models(models)
            rng = np.random.default_rng([T, 3])
            histories[kind, T] = train_stack(stacked, T, cfg["updates"][T], rng, monitor)
            rates[kind, T] = success_rates(stacked, test)
    return _report(cfg, rates, histories, timer, out_dir, quick)


def _report(cfg: dict, rates: dict, histories: dict, timer: Timer, out_dir: Any, quick: bool) -> PaperResult:
    S, longest = len(cfg["seeds"]), max(cfg["lengths"])
    lines = [
        "The adding problem (Hochreiter & Schmidhuber 1997, Experiment 4): correct when |error| < 0.04 at the end",
        f"  {S} seeds per model and T, {HIDDEN} units, Adam lr {LR:g}, batch {BATCH}, per-run clipping at {CLIP:g}, "
        f"LSTM forget bias {FORGET_BIAS:g}; success = fraction of {cfg['test']} fresh test sequences correct",
        "  chance level (always 0.5): ≈ 0.15",
    ]
    for T in cfg["lengths"]:
        for kind, label in (("rnn", "lecture RNN"), ("lstm", "LSTM")):
            h = histories[kind, T]
            used = h["updates"]
            lines.append(
                f"  T = {T:3d} {label:11s}: {spread(rates[kind, T])}; {used} updates = {used * BATCH} training "
                f"sequences; runs ≥ 99 %: {int(np.sum(rates[kind, T] >= 0.99))}/{S}; per seed "
                + " ".join(f"{v:.3f}" for v in rates[kind, T])
            )
    lines.append(
        "  paper: LSTM at T = 100: 1 wrong of 2560 after 74,000 training sequences (10 trials); BPTT/RTRL fail "
        "already at 10-step minimal lags (Table 2)"
    )
    ours = float(np.mean(rates["lstm", longest]))
    what = f"LSTM success rate at T={longest}, mean of {S} seeds; paper: T=100, 1 wrong of 2560"
    result = PaperResult("adding", ours, PAPER_T100, what)
    result.figure = _figure(figure_path(out_dir, "adding", quick), cfg, rates, histories)
    result.data = dict(rates=rates, histories=histories)
    return result.finish(lines, timer)


def _colormap(name: str) -> Any:
    """A matplotlib colormap by name (matplotlib is imported by the time a figure is drawn)."""
    import matplotlib

    return matplotlib.colormaps[name]


def _figure(path: Path, cfg: dict, rates: dict, histories: dict) -> Path | None:
    with save_figure(path, nrows=1, ncols=2, figsize=(13, 5)) as drawn:
        if drawn is None:
            return None
        fig, (ax, ax2) = drawn
        Ts = np.array(cfg["lengths"])
        for kind, color, label in (("rnn", "tab:red", "lecture RNN"), ("lstm", "tab:blue", "LSTM")):
            R = np.array([rates[kind, T] for T in Ts])  # (len(Ts), S)
            for j in range(R.shape[1]):
                ax.plot(Ts, R[:, j], "o", color=color, alpha=0.35, ms=5)
            ax.plot(Ts, R.mean(axis=1), "-o", color=color, lw=2, label=f"{label}: mean of {R.shape[1]} seeds (dots)")
        ax.axhline(0.15, color="0.5", ls=":", label="chance (always answer 0.5) ≈ 0.15")
        ax.plot([100], [PAPER_T100], "k*", ms=14, label="paper, LSTM T = 100: 1 wrong of 2560")
        ax.set_xscale("log")
        ax.set_xticks(Ts, [str(t) for t in Ts])
        ax.set(
            xlabel="minimal sequence length T",
            ylabel="fraction of test sequences with |error| < 0.04",
            ylim=(0, 1.05),
            title="success rate against T",
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="center right")
        shades = {"lstm": _colormap("Blues"), "rnn": _colormap("Reds")}
        for (kind, T), h in histories.items():
            shade = shades[kind](0.45 + 0.55 * cfg["lengths"].index(T) / max(len(cfg["lengths"]) - 1, 1))
            ax2.plot(
                h["update"],
                np.array(h["rate"]).mean(axis=1),
                color=shade,
                ls="-" if kind == "lstm" else "--",
                lw=1.8,
                label=f"{'LSTM' if kind == 'lstm' else 'RNN'}, T = {T}",
            )
        ax2.set(
            xlabel="update (batch of 32 sequences)",
            ylabel="mean success rate on 256 monitor sequences",
            ylim=(0, 1.05),
            title="during training (stops when every seed ≥ 99 %)",
        )
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=7, ncol=2)
        fig.suptitle(
            f"Adding problem (Hochreiter & Schmidhuber 1997, Exp. 4): {HIDDEN} units, Adam lr {LR:g}, batch {BATCH}, "
            f"{len(cfg['seeds'])} seeds; values U[−1, 1], target 0.5 + (X1 + X2)/4"
        )
    return path
