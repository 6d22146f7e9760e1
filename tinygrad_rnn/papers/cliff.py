"""Pascanu, Mikolov & Bengio 2013, section 2.3 and Fig. 6: the cliff of a one-unit recurrent network, and clipping.

    x_t = w σ(x_{t−1}) + b,   x_0 = 0.5,   E_50 = (σ(x_50) − 0.7)²,   σ the logistic sigmoid      (their eq. 8)

Over the (w, b) plane E_50 has two plateaus (σ(x_50) → 0: E ≈ 0.49; σ(x_50) → 1: E ≈ 0.09) separated, for w ≳ 4,
by a wall along b ≈ −w/2 where the unit's two attractors swap basins: there ∂E/∂(w, b) explodes, and so does the
curvature (linear case, b = 0: ∂x_t/∂w = t x_0 w^{t−1}, ∂²x_t/∂w² = t(t−1) x_0 w^{t−2}). A plain gradient step
that reaches the wall is thrown far across the plane; a step rescaled to the threshold θ when ‖g‖ ≥ θ (their
Algorithm 1) stays next to the wall and goes on down into the valley E = 0.

Every gradient here comes from the engine: E_50 is built from Tensor ops for a whole batch of (w, b) points at
once (one graph, the losses summed, so each point receives its own gradient), and backward() gives ∂E/∂w, ∂E/∂b.
The paper shows this as a figure without a number; the `result:` line gives E_50 reached with clipping from the
main start, beside 0, the floor of the valley (σ(x_50) = 0.7).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_rnn.inputs import whole_number
from tinygrad_rnn.papers._common import PaperResult, Timer, figure_path, grad_of, save_figure
from tinygrad_rnn.tensor import Tensor, no_grad

__all__ = ["cliff_loss", "loss_and_gradient", "descend", "surface", "run"]

X0, TARGET, STEPS_T = 0.5, 0.7, 50
STARTS = ((5.5, -3.5), (5.0, -4.5), (4.5, -3.5))  # the main start first; all on the lower plateau, below the wall
LR, THRESHOLD = 0.2, 1.0


def cliff_loss(
    w: Tensor, b: Tensor, T: int = STEPS_T, *, x0: float = X0, target: float = TARGET, sigma: str = "sigmoid"
) -> Tensor:
    """E_T = (σ(x_T) − target)² elementwise, x_t = w σ(x_{t−1}) + b, as Tensor ops (w, b of one shape).

    sigma="identity" is the paper's linear case x_t = w x_{t−1} + b, with E_T = (x_T − target)².
    """
    if sigma not in ("sigmoid", "identity"):
        raise ValueError(f"cliff_loss: sigma must be 'sigmoid' or 'identity', got {sigma!r}")
    if not isinstance(w, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"cliff_loss: w and b must be Tensors, got {type(w).__name__} and {type(b).__name__}")
    if w.shape != b.shape:
        raise ValueError(f"cliff_loss: w {w.shape} and b {b.shape} must have the same shape")
    T = whole_number(T, "T", "cliff_loss")
    x = Tensor(np.full(w.shape, float(x0)))
    for _ in range(T):
        x = w * (x.sigmoid() if sigma == "sigmoid" else x) + b
    out = x.sigmoid() if sigma == "sigmoid" else x
    return (out - target) ** 2


def loss_and_gradient(w: Any, b: Any, T: int = STEPS_T, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    """(E, g) at every point: E of shape (n,), g = (∂E/∂w, ∂E/∂b) of shape (n, 2), by one backward pass."""
    W = Tensor(np.atleast_1d(np.asarray(w, dtype=np.float64)), requires_grad=True, name="w")
    B = Tensor(np.atleast_1d(np.asarray(b, dtype=np.float64)), requires_grad=True, name="b")
    E = cliff_loss(W, B, T, **kw)
    E.sum().backward()  # the points do not interact: each one's gradient is that of its own E
    return E.data.copy(), np.stack([grad_of(W), grad_of(B)], axis=1)


def descend(starts: Any, steps: int, lr: float = LR, threshold: float | None = None) -> dict[str, np.ndarray]:
    """Gradient descent from each start (n, 2) at once: θ ← θ − lr·ĝ, ĝ = g, or θ·g/‖g‖ when ‖g‖ ≥ threshold.

    Returns "path" (steps+1, n, 2), "loss" (steps+1, n) and "grad_norm" (steps, n) before clipping.
    """
    steps = whole_number(steps, "steps", "descend")
    if threshold is not None and not threshold > 0:
        raise ValueError(f"descend: threshold must be > 0 (or None for no clipping), got {threshold!r}")
    p = np.array(starts, dtype=np.float64).reshape(-1, 2)
    path, losses, norms = [p.copy()], [], []
    for _ in range(steps):
        E, g = loss_and_gradient(p[:, 0], p[:, 1])
        n = np.linalg.norm(g, axis=1)
        if threshold is not None:  # Algorithm 1: if ‖g‖ ≥ θ then g ← θ g / ‖g‖
            big = n >= threshold
            g[big] *= (threshold / n[big])[:, None]
        p = p - lr * g
        path.append(p.copy())
        losses.append(E)
        norms.append(n)
    losses.append(loss_and_gradient(p[:, 0], p[:, 1])[0])
    return {"path": np.array(path), "loss": np.array(losses), "grad_norm": np.array(norms)}


def surface(w_range: tuple[float, float], b_range: tuple[float, float], n: int) -> tuple[np.ndarray, ...]:
    """E_50 on an n × n grid (engine forward, no graph kept): (W, B, E), each (n, n)."""
    W, B = np.meshgrid(np.linspace(*w_range, n), np.linspace(*b_range, n))
    with no_grad():
        E = cliff_loss(Tensor(W), Tensor(B)).data
    return W, B, E


def run(quick: bool = False, out_dir: str | Path | None = None) -> PaperResult:
    """Plain and clipped descent from the three starts; the surface with the trajectories; E_50 reached."""
    timer = Timer()
    steps = 200 if quick else 400
    plain = descend(STARTS, steps, LR, None)
    clipped = descend(STARTS, steps, LR, THRESHOLD)
    jump = np.linalg.norm(np.diff(plain["path"], axis=0), axis=2).max(axis=0)
    lines = [
        "The cliff of a one-unit RNN (Pascanu, Mikolov & Bengio 2013, section 2.3, Fig. 6)",
        f"  x_t = w σ(x_(t−1)) + b, x_0 = {X0}, E_50 = (σ(x_50) − {TARGET})²; gradients by the engine's backward",
        f"  gradient descent, lr {LR:g}, {steps} updates; clipping: g ← θ g/‖g‖ when ‖g‖ ≥ θ = {THRESHOLD:g} (Alg. 1)",
    ]
    for i, (w0, b0) in enumerate(STARTS):
        k = int(np.argmax(plain["grad_norm"][:, i]))
        lines.append(
            f"  start (w, b) = ({w0:g}, {b0:g}): E {plain['loss'][0, i]:.3f}; the wall at update {k + 1}, ‖g‖ = "
            f"{plain['grad_norm'][k, i]:.3g}; plain: longest step {jump[i]:.3g}, ends at E {plain['loss'][-1, i]:.3g} "
            f"(w, b) = ({plain['path'][-1, i, 0]:.3g}, {plain['path'][-1, i, 1]:.3g}); clipped: ends at E "
            f"{clipped['loss'][-1, i]:.2g}"
        )
    lines.append("  paper: a figure (no number): plain steps at the wall leave the valley, clipped ones stay near it")
    ours = float(clipped["loss"][-1, 0])
    result = PaperResult(
        "cliff",
        ours,
        0.0,
        f"E_50 after {steps} clipped updates from (w,b)=(5.5,-3.5); paper: figure only, valley floor 0",
    )
    result.figure = _figure(figure_path(out_dir, "cliff", quick), plain, clipped, 90 if quick else 300)
    result.data = dict(plain=plain, clipped=clipped, longest_plain_step=jump)
    return result.finish(lines, timer)


def _figure(path: Path, plain: dict, clipped: dict, n: int) -> Path | None:
    with save_figure(path, nrows=1, ncols=3, figsize=(19, 6.2), gridspec_kw=dict(width_ratios=[1.25, 1, 1])) as drawn:
        if drawn is None:
            return None
        fig, (ax, zoom, curve) = drawn
        lims = ((1.0, 10.0), (-7.0, 1.0))
        W, B, E = surface(*lims, n)
        for a in (ax, zoom):
            cs = a.contourf(W, B, E, levels=np.linspace(0, 0.5, 26), cmap="viridis")
            a.contour(W, B, E, levels=[0.01, 0.05, 0.15, 0.3, 0.45], colors="w", linewidths=0.5, alpha=0.6)
        fig.colorbar(cs, ax=ax, label="E_50", shrink=0.9)
        colors = ("tab:red", "tab:orange", "magenta")
        thrown = []
        for i, c in enumerate(colors):
            landed = _trajectory(ax, plain["path"][:, i], c, "-", lims, f"plain, start {i + 1}")
            _trajectory(ax, clipped["path"][:, i], c, "--", lims, f"clipped, start {i + 1}")
            if landed:
                thrown.append(f"start {i + 1} → {landed}")
        if thrown:
            ax.text(
                0.98,
                0.98,
                "plain step at the wall lands at (w, b):\n" + "\n".join(thrown),
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
                bbox=dict(fc="white", alpha=0.85, lw=0),
            )
        ax.set(xlim=lims[0], ylim=lims[1], xlabel="w (recurrent weight)", ylabel="b (bias)")
        ax.set_title("E_50 over (w, b): the wall, plain (solid) vs clipped (dashed) descent")
        ax.legend(fontsize=7, loc="lower left", ncol=2, framealpha=0.85)
        _zoom(zoom, plain, clipped)
        for i, c in enumerate(colors):
            curve.plot(plain["loss"][:, i], color=c, lw=1.5, label=f"plain, start {i + 1}")
            curve.plot(clipped["loss"][:, i], color=c, lw=1.5, ls="--", label=f"clipped, start {i + 1}")
        curve.set_yscale("log")
        curve.set(xlabel="update", ylabel="E_50", title=f"E_50 along the descent (lr {LR:g}, θ = {THRESHOLD:g})")
        curve.grid(alpha=0.3, which="both")
        curve.legend(fontsize=7, ncol=2, loc="lower left")
        fig.suptitle(
            f"Pascanu, Mikolov & Bengio 2013, Fig. 6 setup: x_t = w σ(x_(t−1)) + b, x_0 = {X0}, "
            f"E_50 = (σ(x_50) − {TARGET})²; gradient descent lr {LR:g}, {len(plain['loss']) - 1} updates, "
            f"norm clipping at θ = {THRESHOLD:g}; gradients by the engine"
        )
    return path


def _trajectory(ax: Any, p: np.ndarray, color: str, ls: str, lims: tuple, label: str) -> str | None:
    """The path (steps+1, 2) up to its first step out of the axes, drawn as an arrow to the edge; returns where
    that step landed ("(w, b)") or None when the path stays inside."""
    inside = (p[:, 0] >= lims[0][0]) & (p[:, 0] <= lims[0][1]) & (p[:, 1] >= lims[1][0]) & (p[:, 1] <= lims[1][1])
    first_out = int(np.argmin(inside)) if not inside.all() else len(p)
    ax.plot(p[:first_out, 0], p[:first_out, 1], color=color, ls=ls, lw=1.6, label=label)
    ax.plot(*p[0], "o", color=color, ms=6)
    if first_out == len(p) or first_out == 0:
        return None
    a, b = p[first_out - 1], p[first_out]
    edge = a + _exit_fraction(a, b, lims) * (b - a)
    ax.annotate("", xy=edge, xytext=a, arrowprops=dict(arrowstyle="-|>", color=color, lw=2))
    return f"({b[0]:.3g}, {b[1]:.3g})"


def _exit_fraction(a: np.ndarray, b: np.ndarray, lims: tuple) -> float:
    """The fraction t of the step a → b at which it crosses the edge of the axes (0.98 of it, to stay inside)."""
    ts = []
    for k, (lo, hi) in enumerate(lims):
        d = b[k] - a[k]
        if d > 0 and b[k] > hi:
            ts.append((hi - a[k]) / d)
        elif d < 0 and b[k] < lo:
            ts.append((lo - a[k]) / d)
    return 0.98 * min(ts) if ts else 1.0


def _zoom(ax: Any, plain: dict, clipped: dict) -> None:
    """Around the main start's wall hit: the plain step (arrow, leaving the view) and the clipped steps after it."""
    k = int(np.argmax(plain["grad_norm"][:, 0]))
    a = plain["path"][k, 0]
    lims = ((a[0] - 0.6, a[0] + 0.6), (a[1] - 0.6, a[1] + 0.6))
    landed = _trajectory(ax, plain["path"][max(k - 3, 0) : k + 2, 0], "tab:red", "-", lims, "plain")
    ax.text(
        0.02,
        0.98,
        f"plain step: length {np.linalg.norm(plain['path'][k + 1, 0] - a):.3g}, lands at {landed}",
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=8,
        color="tab:red",
        bbox=dict(fc="white", alpha=0.85, lw=0),
    )
    q = clipped["path"][k : k + 25, 0]
    ax.plot(q[:, 0], q[:, 1], "w--", lw=1.4)
    for s, e in zip(q[:-1], q[1:]):
        ax.annotate("", xy=e, xytext=s, arrowprops=dict(arrowstyle="->", color="w", lw=1.2))
    ax.plot([], [], "w--", label=f"clipped (‖step‖ ≤ lr·θ = {LR * THRESHOLD:g})")
    ax.set(xlim=lims[0], ylim=lims[1], xlabel="w", ylabel="b")
    ax.set_title(f"zoom at the wall (update {k + 1}, ‖g‖ = {plain['grad_norm'][k, 0]:.3g}): start 1")
    ax.legend(fontsize=8, loc="lower right", facecolor="0.6")
