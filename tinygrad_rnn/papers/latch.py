"""Bengio, Simard & Frasconi 1994, section II: one tanh unit that must latch a bit through noise.

    x_t = tanh(a_t),   a_t = w x_{t−1} + h_t,   x_0 = 0,   C = ½ Σ_p (x_T^p − d^p)²,   d^p = ±0.8 by class

The class of a sequence is fixed by its first L inputs h_1 … h_L, which are trainable (one set per class: the
"module that extracts the class information"); after step L, h_t is Gaussian noise. With w > 1 the unit has two
attractors ±x̄, and latching the class means steering x into the right basin during the first L steps and staying
there through T − L noisy steps. Gradient descent must bring ∂C/∂h_1…L back through those T − L steps, and in a
latching (robust) regime |∂x_T/∂x_L| shrinks exponentially with T: the longer the sequence, the rarer a successful
training. The paper states this (probability of convergence "decreased rapidly when increasing sequence length",
1993 version) with a figure; we measure the probability.

Our conditions (the paper's figure could not be checked number by number): L = 3, noise N(0, 0.2²), w_0 = 1.25,
h initialised U[−0.1, 0.1], 10 training sequences per class, full-batch gradient descent (lr 0.05, 500 updates) on
w and h; a training run succeeds when the trained unit classifies ≥ 95 % of 200 fresh noisy sequences by the sign
of x_T. All trials of one T run side by side as one engine graph of shape (trials, sequences): each trial has its
own w and h and its own loss term, so each receives exactly its own gradient.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinygrad_rnn.inputs import whole_number
from tinygrad_rnn.papers._common import PaperResult, Timer, figure_path, grad_of, save_figure
from tinygrad_rnn.tensor import Tensor, no_grad

__all__ = ["latch_states", "latch_loss", "train_latch", "run"]

L_INFO, NOISE, W0, TARGET, PER_CLASS, LR, STEPS, SUCCESS = 3, 0.2, 1.25, 0.8, 10, 0.05, 500, 0.95


def latch_states(w: Tensor, h: Tensor, classes: np.ndarray, noise: np.ndarray) -> Tensor:
    """x_T for every trial r and sequence p: (R, P). w (R, 1), h (R, 2, L) the class inputs, classes (P,) in {0, 1},
    noise (T − L, R, P) the inputs h_t after step L."""
    if w.ndim != 2 or h.ndim != 3 or h.shape[1] != 2 or w.shape[0] != h.shape[0]:
        raise ValueError(f"latch_states: w must be (R, 1) and h (R, 2, L); got {w.shape} and {h.shape}")
    R, _, L = h.shape
    classes = np.asarray(classes)
    if noise.ndim != 3 or noise.shape[1:] != (R, len(classes)):
        raise ValueError(f"latch_states: noise must be (T − L, {R}, {len(classes)}), got {noise.shape}")
    pick = Tensor(np.eye(2)[classes].T)  # (2, P): column p selects the inputs of p's class
    x = Tensor(np.zeros((R, len(classes))))
    for t in range(L + noise.shape[0]):
        h_t = h[:, :, t] @ pick if t < L else Tensor(noise[t - L])
        x = (w * x + h_t).tanh()  # x_t = tanh(w x_{t−1} + h_t)
    return x


def latch_loss(x_T: Tensor, classes: np.ndarray) -> Tensor:
    """C = ½ Σ_p (x_T^p − d^p)², d = +0.8 for class 1 and −0.8 for class 0, summed over the trials too."""
    d = np.where(np.asarray(classes) == 1, TARGET, -TARGET)
    return 0.5 * ((x_T - Tensor(d[None])) ** 2).sum()


def train_latch(T: int, trials: int, steps: int, seed: int) -> dict[str, np.ndarray]:
    """`trials` independent trainings at length T: test accuracy, final w, initial ‖∂C/∂h‖ and final C, per trial."""
    T = whole_number(T, "T", "train_latch", minimum=L_INFO + 1)
    R = whole_number(trials, "trials", "train_latch")
    rng = np.random.default_rng([seed, T])
    classes = np.repeat([0, 1], PER_CLASS)
    noise = NOISE * rng.standard_normal((T - L_INFO, R, len(classes)))
    w = Tensor(np.full((R, 1), W0), requires_grad=True, name="w")
    h = Tensor(rng.uniform(-0.1, 0.1, (R, 2, L_INFO)), requires_grad=True, name="h")
    first_grad = None
    for _ in range(steps):
        w.grad = h.grad = None
        C = latch_loss(latch_states(w, h, classes, noise), classes)
        C.backward()
        gw, gh = grad_of(w), grad_of(h)
        if first_grad is None:
            first_grad = np.linalg.norm(gh.reshape(R, -1), axis=1)
        w.data -= LR * gw
        h.data -= LR * gh
    with no_grad():
        final = latch_states(w, h, classes, noise).data
    test_classes = np.repeat([0, 1], 100)
    test_noise = NOISE * rng.standard_normal((T - L_INFO, R, len(test_classes)))
    with no_grad():
        x_T = latch_states(w, h, test_classes, test_noise).data
    correct = np.sign(x_T) == np.where(test_classes == 1, 1.0, -1.0)[None]
    d = np.where(classes == 1, TARGET, -TARGET)
    return dict(
        accuracy=correct.mean(axis=1),
        w=w.data[:, 0].copy(),
        first_grad=first_grad,
        train_loss=0.5 * ((final - d[None]) ** 2).sum(axis=1),
    )


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson interval of a success probability k/n."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def run(quick: bool = False, out_dir: str | Path | None = None) -> PaperResult:
    """P(successful training) for each length T; the figure."""
    timer = Timer()
    lengths = (5, 20) if quick else (5, 10, 20, 30, 40, 50, 60, 80, 100)
    trials, steps = (20, 100) if quick else (200, STEPS)
    runs = {T: train_latch(T, trials, steps, seed=0) for T in lengths}
    lines = [
        "Latching one bit in one tanh unit (Bengio, Simard & Frasconi 1994, section II)",
        f"  x_t = tanh(w x_(t−1) + h_t), h_1..h_{L_INFO} trainable per class, then noise N(0, {NOISE}²); "
        f"targets ±{TARGET}; w_0 = {W0}",
        f"  {trials} trials per T, each: {2 * PER_CLASS} training sequences, {steps} gradient-descent updates "
        f"(lr {LR}); "
        f"success = ≥ {SUCCESS:.0%} of 200 fresh sequences on the right side at T",
    ]
    probs = {}
    for T, r in runs.items():
        k = int(np.sum(r["accuracy"] >= SUCCESS))
        lo, hi = _wilson(k, trials)
        probs[T] = k / trials
        lines.append(
            f"  T = {T:3d}: P(success) = {k}/{trials} = {k / trials:.2f} (95 % interval {lo:.2f} … {hi:.2f}); median "
            f"test accuracy {np.median(r['accuracy']):.2f}; median ‖∂C/∂h‖ at the start "
            f"{np.median(r['first_grad']):.2g}"
        )
    lines.append("  paper: a figure only (no number we could check): the probability falls rapidly as T grows")
    longest = max(lengths)
    result = PaperResult(
        "latch", probs[longest], float("nan"), f"P(successful training) at T={longest}; paper: figure only, no number"
    )
    result.figure = _figure(figure_path(out_dir, "latch", quick), runs, trials, steps)
    result.data = dict(runs=runs, probability=probs)
    return result.finish(lines, timer)


def _figure(path: Path, runs: dict, trials: int, steps: int) -> Path | None:
    with save_figure(path, nrows=1, ncols=2, figsize=(13, 4.8)) as drawn:
        if drawn is None:
            return None
        fig, (ax, ax2) = drawn
        Ts = np.array(list(runs))
        ks = np.array([np.sum(runs[T]["accuracy"] >= SUCCESS) for T in Ts])
        ci = np.array([_wilson(int(k), trials) for k in ks])
        p = ks / trials
        ax.errorbar(
            Ts,
            p,
            yerr=[np.maximum(p - ci[:, 0], 0), np.maximum(ci[:, 1] - p, 0)],
            fmt="-o",
            color="tab:blue",
            capsize=3,
            label=f"our runs ({trials} trials per T, 95 % Wilson interval)",
        )
        ax.set(
            xlabel="sequence length T (class information in the first 3 steps)",
            ylabel="P(successful training)",
            ylim=(-0.03, 1.03),
            title="probability of successful training against T",
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        g = [np.median(runs[T]["first_grad"]) for T in Ts]
        ax2.semilogy(Ts, g, "-o", color="tab:red", label="median ‖∂C/∂h_1..3‖ at the first update")
        ax2.set(
            xlabel="sequence length T",
            ylabel="gradient norm reaching the class inputs",
            title="the error signal that reaches h_1..h_3",
        )
        ax2.grid(alpha=0.3, which="both")
        ax2.legend(fontsize=8)
        fig.suptitle(
            f"Bengio, Simard & Frasconi 1994 latch: one tanh unit, w_0 = {W0}, noise N(0, {NOISE}²) after step "
            f"{L_INFO}, {2 * PER_CLASS} training sequences, {steps} gradient-descent updates, lr {LR}"
        )
    return path
