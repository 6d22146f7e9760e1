"""Vanishing and exploding gradients (lecture section 3), measured on the graph and computed exactly.

For the lecture's RNN, h_t = tanh(b + W x_t + U h_{t−1}), so one step back multiplies by the Jacobian

    ∂h_t/∂h_{t−1} = diag(1 − h_t²) U,        and    ∂h_t/∂h_k = Π_{j=t..k+1} diag(1 − h_j²) U.

Since |tanh′| ≤ γ = 1 and ‖diag(1 − h_j²)‖₂ = max_i (1 − h_{j,i}²),

    ‖∂h_t/∂h_k‖₂ ≤ (‖U‖₂ · γ)^(t−k)                                   (section 3, Pascanu et al. 2013)

so ‖U‖₂ < 1 is enough for gradients to vanish exponentially in t − k. The long-run rate is set by the spectral
radius ρ(U) = max |λ_i(U)| instead (Gelfand: ‖U^n‖^(1/n) → ρ ≤ ‖U‖₂): in tanh's linear regime (small h) the
gradient shrinks or grows by about ρ per step. Growth needs ρ > 1, but that is not sufficient: large ρ drives the units
into saturation, where tanh′ = 1 − h² is small, and with one-hot inputs the lecture RNN's gradients clearly explode only
from ρ ≈ 2 (`radius_sweep` measures it; `input_scale` < 1 moves the units back towards the linear regime).

The clean experiment puts the loss at the last step only, L = L_T: then ∇_{h_k}L = (∂h_T/∂h_k)ᵀ ∇_{h_T}L holds
nothing but the signal carried back through time, and ‖∇_{h_k}L‖ against k shows the exponential decay or growth.
With the lecture's total loss Σ_t L_t, every ∇_{h_k}L also receives its own local term Vᵀ(ŷ_k − y_k), which
keeps the norms of the same order at every step and hides the vanishing (`loss="all"` shows that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_rnn.forward import gradient, hvp
from tinygrad_rnn.inputs import Array, validate_sequences, whole_number
from tinygrad_rnn.module import Recurrent
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.tensor import Tensor

__all__ = [
    "spectral_radius",
    "spectral_norm",
    "hidden_gradient_norms",
    "state_jacobian",
    "jacobian_norms",
    "jacobian_bound",
    "engine_state_jacobian",
    "path_bound",
    "sweep_problem",
    "SweepRow",
    "VANISHING_RATE",
    "EXPLODING_RATE",
    "REGIMES",
    "SweepResult",
    "radius_sweep",
    "format_sweep",
    "plot_sweep",
    "curvature_along_gradient",
    "CurvatureRow",
    "CurvatureResult",
    "curvature_sweep",
    "format_curvature",
    "plot_curvature",
]


def _matrix(U: Array, what: str) -> np.ndarray:
    if hasattr(U, "U") and not isinstance(U, (np.ndarray, Tensor)):
        U = U.U
    if isinstance(U, Tensor):
        U = U.data
    U = np.asarray(U, dtype=np.float64)
    if U.ndim != 2 or U.shape[0] != U.shape[1]:
        raise ValueError(f"{what}: U must be a square matrix (H, H), got shape {U.shape}")
    return U


def spectral_radius(U: Array) -> float:
    """ρ(U) = max_i |λ_i(U)|. U: array, Tensor, or a model with a recurrent matrix `U`."""
    return float(np.max(np.abs(np.linalg.eigvals(_matrix(U, "spectral_radius")))))


def spectral_norm(U: Array) -> float:
    """‖U‖₂ = σ_max(U), the largest singular value (≥ ρ(U), equal for normal U)."""
    return float(np.linalg.norm(_matrix(U, "spectral_norm"), 2))


def hidden_gradient_norms(
    model: Recurrent, xs: Array, ys: Array, *, loss: str = "last", h0: Array | None = None
) -> np.ndarray:
    """‖∇_{h_t}L‖ for t = 1..T, read from the graph after one backward pass (Frobenius norm over the batch).

    loss="last": L = L_T (the clean view of what is carried back through time); loss="all": L = Σ_t L_t.
    The model's parameter gradients are reset first, so after the call they hold ∇L of this loss only.
    """
    mask = _loss_mask(model, xs, ys, loss, "hidden_gradient_norms")
    model.zero_grad()
    L = model.loss(xs, ys, h0, mask=mask)
    L.backward()
    return np.array([np.linalg.norm(h.grad) if h.grad is not None else 0.0 for h in model.last_trace().h])


def _hidden_values(hs: Array) -> np.ndarray:
    if isinstance(hs, (list, tuple)):
        hs = np.stack([h.data if isinstance(h, Tensor) else np.asarray(h) for h in hs])
    hs = np.asarray(hs, dtype=np.float64)
    if hs.ndim not in (2, 3):
        raise ValueError(f"hidden states must have shape (T, H) or (T, B, H), got {hs.shape}")
    return hs


def state_jacobian(U: Array, hs: Array, t: int, k: int) -> np.ndarray:
    """∂h_t/∂h_k = diag(1 − h_t²) U · diag(1 − h_{t−1}²) U ⋯ diag(1 − h_{k+1}²) U, in numpy from forward values.

    hs holds h_1..h_T as (T, H) (or (T, B, H), giving one (H, H) Jacobian per sequence: (B, H, H));
    t, k are 1-based steps with 0 ≤ k ≤ t ≤ T (k = 0 is the initial state h_0; k = t gives the identity).
    """
    U = _matrix(U, "state_jacobian")
    hs = _hidden_values(hs)
    T, H = hs.shape[0], hs.shape[-1]
    if U.shape[0] != H:
        raise ValueError(f"state_jacobian: U is {U.shape} but the hidden states have size {H}")
    if not (0 <= k <= t <= T):
        raise ValueError(f"state_jacobian: need 0 ≤ k ≤ t ≤ T={T}, got t={t}, k={k}")
    J = np.broadcast_to(np.eye(H), hs.shape[1:-1] + (H, H)).copy()
    for j in range(k + 1, t + 1):
        J = (1.0 - hs[j - 1] ** 2)[..., :, None] * (U @ J)  # diag(1 − h_j²) U J
    return J


def jacobian_norms(U: Array, hs: Array, t: int | None = None) -> np.ndarray:
    """‖∂h_t/∂h_k‖₂ for k = 0..t (index k), t = T by default; one backward sweep J_{t,k} = J_{t,k+1} diag(1−h_{k+1}²) U.

    For a batch (T, B, H) the result is (t + 1, B).
    """
    U = _matrix(U, "jacobian_norms")
    hs = _hidden_values(hs)
    T, H = hs.shape[0], hs.shape[-1]
    t = T if t is None else t
    if not (0 <= t <= T):
        raise ValueError(f"jacobian_norms: need 0 ≤ t ≤ T={T}, got t={t}")
    J = np.broadcast_to(np.eye(H), hs.shape[1:-1] + (H, H)).copy()
    norms = [np.linalg.norm(J, 2, axis=(-2, -1))]
    for k in range(t - 1, -1, -1):
        J = (J * (1.0 - hs[k] ** 2)[..., None, :]) @ U  # J_{t,k} = J_{t,k+1} diag(1 − h_{k+1}²) U
        norms.append(np.linalg.norm(J, 2, axis=(-2, -1)))
    return np.array(norms[::-1])


def jacobian_bound(U: Array, t: int, k: int, gamma: float = 1.0) -> float:
    """(‖U‖₂ · γ)^(t−k): the section-3 bound on ‖∂h_t/∂h_k‖₂, with γ ≥ max |tanh′| on the path (1 for tanh)."""
    if t < k:
        raise ValueError(f"jacobian_bound: need k ≤ t, got t={t}, k={k}")
    return float((spectral_norm(U) * gamma) ** (t - k))


def engine_state_jacobian(model: Recurrent, xs: Array, t: int, k: int, h0: Array | None = None) -> np.ndarray:
    """∂h_t/∂h_k by the engine: one backward pass per row (gradcheck.jacobian) through steps k+1..t of the model."""
    from tinygrad_rnn.gradcheck import jacobian

    xs = np.asarray(xs.data if isinstance(xs, Tensor) else xs)
    if xs.ndim != 2:
        raise ValueError(f"engine_state_jacobian: one sequence (T, D) expected, got xs of shape {xs.shape}")
    if not (0 <= k < t <= len(xs)):
        raise ValueError(f"engine_state_jacobian: need 0 ≤ k < t ≤ T={len(xs)}, got t={t}, k={k}")
    if k == 0:
        h_k = np.zeros(model.hidden_size) if h0 is None else np.asarray(h0, dtype=np.float64)
    else:
        hs, _ = model.forward(xs[:k], h0)
        h_k = hs[-1].data.copy()
    return jacobian(lambda h: model.forward(xs[k:t], h)[0][-1], Tensor(h_k, requires_grad=True))


def path_bound(U: Array, hs: Array, t: int, k: int) -> np.ndarray:
    """Π_{j=k+1..t} ‖diag(1 − h_j²)‖₂ ‖U‖₂ = ‖U‖₂^(t−k) Π_j max_i (1 − h_{j,i}²): the bound along the actual path.

    Tighter than `jacobian_bound` (γ = 1) because saturated steps count with their own max tanh′. One number per
    sequence: shape () for hs (T, H), (B,) for (T, B, H).
    """
    U = _matrix(U, "path_bound")
    hs = _hidden_values(hs)
    if not (0 <= k <= t <= hs.shape[0]):
        raise ValueError(f"path_bound: need 0 ≤ k ≤ t ≤ T={hs.shape[0]}, got t={t}, k={k}")
    gammas = (1.0 - hs[k:t] ** 2).max(axis=-1)  # max_i tanh′ at steps k+1..t
    return np.prod(gammas, axis=0) * spectral_norm(U) ** (t - k)


# ---- curvature along the gradient (Pascanu et al. 2013: curvature explodes with the gradient) ---------------------


def _loss_mask(model: Recurrent, xs: Array, ys: Array, loss: str, where: str) -> np.ndarray | None:
    """The step weights of L: None for L = Σ_t L_t (loss="all"), the last step only for L = L_T (loss="last")."""
    if loss not in ("last", "all"):
        raise ValueError(f"{where}: loss must be 'last' or 'all', got {loss!r}")
    out = model.output_size
    seq = validate_sequences(xs, ys, input_size=model.input_size, output_size=out, head=model.head, where=where)
    if loss == "all":
        return None
    mask = np.zeros(seq.xs.shape[:2] if seq.batched else seq.xs.shape[:1])  # every other step's loss weighted 0
    mask[-1] = 1.0
    return mask


def curvature_along_gradient(
    model: Recurrent,
    xs: Array,
    ys: Array,
    *,
    loss: str = "last",
    params: tuple[str, ...] | None = None,
    h0: Array | None = None,
) -> tuple[float, float]:
    """(gᵀHg / ‖g‖², ‖g‖): the curvature of L along its own gradient g = ∇_θ L, H the Hessian over θ = `params`.

    H·g is exact (`forward.hvp`, forward-over-reverse: one extra sweep, no Hessian formed). A gradient step of size
    lr changes L by −lr‖g‖² + ½ lr² gᵀHg, so this number is what decides how large lr may be along g. θ: the named
    parameters (all of the model's by default); loss: "last" (L = L_T) or "all" (Σ_t L_t). The model is unchanged.
    """
    mask = _loss_mask(model, xs, ys, loss, "curvature_along_gradient")
    names = tuple(model.param_names if params is None else params)
    unknown = [n for n in names if n not in model.param_names]
    if unknown or not names:
        raise ValueError(f"curvature_along_gradient: params must name parameters of {model.param_names}, got {names}")

    def f(*theta: Tensor) -> Tensor:  # L as a function of the parameters θ, the model's own put back after
        own = {n: getattr(model, n) for n in names}
        try:
            for n, t in zip(names, theta):
                setattr(model, n, t)
            return model.loss(xs, ys, h0, mask=mask)
        finally:
            for n, t in own.items():
                setattr(model, n, t)

    theta = tuple(getattr(model, n).data for n in names)
    _, g = gradient(f, theta)
    _, hg = hvp(f, theta, g)
    gg = sum(float(np.sum(a * a)) for a in g)
    return sum(float(np.sum(a * b)) for a, b in zip(g, hg)) / max(gg, 1e-300), float(np.sqrt(gg))


@dataclass
class CurvatureRow:
    """One spectral radius: for every sequence length T and trial, gᵀHg/‖g‖² and ‖g‖."""

    rho: float
    steps: np.ndarray  # the sequence lengths T
    curvature: np.ndarray  # (len(steps), trials): gᵀHg / ‖g‖², of either sign
    grad_norm: np.ndarray  # (len(steps), trials): ‖∇_θ L‖

    @property
    def typical_curvature(self) -> np.ndarray:
        """|gᵀHg|/‖g‖² per T, geometric mean over the trials (the values spread over orders of magnitude)."""
        return _geomean(np.abs(self.curvature), axis=1)

    @property
    def typical_grad_norm(self) -> np.ndarray:
        return _geomean(self.grad_norm, axis=1)


@dataclass
class CurvatureResult:
    """The curvature experiment's settings and one `CurvatureRow` per spectral radius; str() is the table."""

    hidden: int
    vocab: int
    batch: int
    trials: int
    loss: str
    seed: int
    rows: list[CurvatureRow] = field(default_factory=list)

    def __str__(self) -> str:
        return format_curvature(self)


def curvature_sweep(
    radii: Any = (0.5, 0.9, 1.5, 3.0),
    steps: Any = (5, 10, 20, 30, 40, 60, 80),
    *,
    hidden: int = 16,
    vocab: int = 8,
    batch: int = 4,
    trials: int = 5,
    loss: str = "last",
    seed: int = 0,
) -> CurvatureResult:
    """ρ, T ↦ gᵀHg/‖g‖² and ‖g‖ over all of the lecture RNN's parameters, U scaled to ρ(U) = ρ.

    For each ρ and T, `trials` RNNs (seeds seed, seed+1, …) each read a batch of random one-hot sequences of length
    T (`sweep_problem`) with the loss at the last step only (loss="last", as in `radius_sweep`) or at every step.
    """
    radii, lengths = [float(r) for r in radii], [whole_number(T, "steps", "curvature_sweep") for T in steps]
    if not radii or any(not np.isfinite(r) or r <= 0 for r in radii) or not lengths:
        raise ValueError(f"curvature_sweep: radii must be positive numbers and steps not empty, got {radii}, {steps}")
    for what, n in (("hidden", hidden), ("vocab", vocab), ("batch", batch), ("trials", trials)):
        whole_number(n, what, "curvature_sweep")
    result = CurvatureResult(hidden, vocab, batch, trials, loss, seed)
    for rho in radii:
        found = np.zeros((2, len(lengths), trials))
        for i, T in enumerate(lengths):
            for trial in range(trials):
                xs, ys = sweep_problem(T, vocab, batch, seed + trial)
                rnn = RNN(vocab, hidden, vocab, seed=seed + trial, spectral_radius=rho)
                found[:, i, trial] = curvature_along_gradient(rnn, xs, ys, loss=loss)
        result.rows.append(CurvatureRow(rho, np.array(lengths), found[0], found[1]))
    return result


def format_curvature(result: CurvatureResult) -> str:
    """The curvature experiment as a text table: one line per (ρ, T)."""
    lines = [
        f"Curvature along the gradient, gᵀHg/‖g‖² (H·g exact, forward-over-reverse), lecture RNN: H={result.hidden}, "
        f"{result.trials} trial(s) × {result.batch} sequence(s), loss {'L_T' if result.loss == 'last' else 'Σ_t L_t'}",
        f"{'ρ(U)':>5} {'T':>4} {'‖∇θL‖':>9} {'|gᵀHg|/‖g‖²':>12} {'[min, max] of gᵀHg/‖g‖² over trials':>38}",
    ]
    lines.append("-" * len(lines[-1]))
    for r in result.rows:
        for i, T in enumerate(r.steps):
            lo, hi = float(r.curvature[i].min()), float(r.curvature[i].max())
            lines.append(
                f"{r.rho:5.2f} {T:4d} {r.typical_grad_norm[i]:9.2e} {r.typical_curvature[i]:12.2e} "
                f"{f'[{lo:+.2e}, {hi:+.2e}]':>38}"
            )
    return "\n".join(lines)


def _colours(plt: Any, radii: list[float]) -> list[Any]:
    """Blues for ρ < 1 (darker further below), reds for ρ ≥ 1 (darker further above)."""
    below, above = sorted(r for r in radii if r < 1), sorted(r for r in radii if r >= 1)
    blues = plt.get_cmap("Blues")(np.linspace(0.95, 0.55, max(len(below), 1)))
    reds = plt.get_cmap("Reds")(np.linspace(0.5, 0.95, max(len(above), 1)))
    return [blues[below.index(r)] if r < 1 else reds[above.index(r)] for r in radii]


def plot_curvature(result: CurvatureResult, path: str | Path) -> Path:
    """Three panels: ‖g‖ and |gᵀHg|/‖g‖² against T (log scale; hollow markers: negative curvature), and the
    curvature against the gradient norm with its fitted power. Needs the `plot` extra (matplotlib)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("plot_curvature needs matplotlib: pip install 'tinygrad_rnn[plot]'") from err
    path = Path(path)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), constrained_layout=True)
    for r, colour in zip(result.rows, _colours(plt, [r.rho for r in result.rows])):
        label = f"ρ(U) = {r.rho:g}"
        axes[0].semilogy(r.steps, r.typical_grad_norm, "o-", color=colour, lw=2, label=label)
        axes[1].semilogy(r.steps, r.typical_curvature, "-", color=colour, lw=2, label=label)
        for i, T in enumerate(r.steps):
            k = r.curvature[i]
            axes[1].scatter([T] * int((k > 0).sum()), k[k > 0], color=colour, s=14)
            axes[1].scatter([T] * int((k <= 0).sum()), -k[k <= 0], facecolors="none", edgecolors=colour, s=14)
        axes[2].loglog(r.grad_norm.ravel(), np.abs(r.curvature).ravel(), "o", color=colour, ms=4, label=label)
    g = np.concatenate([r.grad_norm.ravel() for r in result.rows])
    k = np.abs(np.concatenate([r.curvature.ravel() for r in result.rows]))
    power, offset = np.polyfit(np.log(g), np.log(np.maximum(k, 1e-300)), 1)
    line = np.geomspace(g.min(), g.max(), 50)
    axes[2].loglog(
        line, np.exp(offset) * line**power, "--", color="#6c757d", lw=1, label=f"fit: ∝ $\\|g\\|^{{{power:.1f}}}$"
    )
    loss = "L = L_T" if result.loss == "last" else "L = Σ_t L_t"
    titles = (
        f"Gradient norm ‖∇θ L‖ ({loss})",
        "Curvature along the gradient |gᵀHg| / ‖g‖² (hollow: negative)",
        "… which grows with the gradient",
    )
    labels = (("sequence length T", "‖g‖"), ("sequence length T", "|gᵀHg| / ‖g‖²"), ("‖g‖", "|gᵀHg| / ‖g‖²"))
    for ax, title, (x, y) in zip(axes, titles, labels):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Lecture RNN, H = {result.hidden}, one-hot inputs, θ = all parameters, H·g exact: for ρ(U) < 1 the curvature "
        f"stays O(1) at every T; for ρ(U) > 1 it explodes with the gradient (Pascanu et al. 2013). "
        f"Lines: geometric mean over {result.trials} trials",
        fontsize=10,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# One definition of the regimes, by the measured ratio ‖∇_{h_1}L‖ / ‖∇_{h_T}L‖ taken per step back in time
# (rate = ratio^(1/(T−1))): the table, the plot's legend and its title all say it this way.
VANISHING_RATE, EXPLODING_RATE = 0.95, 1.05
REGIMES = (
    f"vanishing: rate < {VANISHING_RATE:g}, kept: {VANISHING_RATE:g} … {EXPLODING_RATE:g}, "
    f"exploding: rate > {EXPLODING_RATE:g}  (rate = (‖∇_{{h_1}}L‖ / ‖∇_{{h_T}}L‖)^(1/(T−1)), measured)"
)


@dataclass
class SweepRow:
    """One spectral radius: typical (geometric-mean) profiles over every trial RNN and sequence of the batch."""

    rho: float
    norm_U: float  # ‖U‖₂, geometric mean over the trials (the statistic of every other column)
    mean_tanh_grad: float  # mean of 1 − h_t² over units, steps, sequences, trials
    grad_norms: np.ndarray  # ‖∇_{h_t}L‖, t = 1..T, loss L = L_T only; geometric mean over sequences
    ratios: np.ndarray  # ‖∇_{h_1}L‖ / ‖∇_{h_T}L‖ for every sequence of every trial
    jac_norms: np.ndarray  # ‖∂h_T/∂h_k‖₂, k = 0..T, geometric mean over sequences
    bound: float  # norm_U^(T−1): the section-3 bound ‖U‖₂^(T−1), as the same geometric mean as jac_norms[1]
    bound_holds: bool  # ‖∂h_T/∂h_k‖₂ ≤ (‖U‖₂)^(T−k) and ≤ the path bound, for every k, sequence and trial
    param_grad_norm: float  # global ‖∇_θ L‖ over W, U, V, b, c (what clipping looks at), geometric mean over trials

    @property
    def ratio(self) -> float:
        """Geometric mean of ‖∇_{h_1}L‖ / ‖∇_{h_T}L‖: how much of the last step's gradient reaches step 1."""
        return float(np.exp(np.mean(np.log(self.ratios))))

    @property
    def rate(self) -> float:
        """The mean factor per step back in time: ratio^(1/(T−1))."""
        T = len(self.grad_norms)
        return float(self.ratio ** (1.0 / (T - 1))) if T > 1 else 1.0

    @property
    def regime(self) -> str:
        """By the measured ratio, per step back (`rate`): 'vanishing' (rate < VANISHING_RATE = 0.95), 'exploding'
        (rate > EXPLODING_RATE = 1.05) or 'kept' in between — not by ρ (ρ > 1 does not make it explode)."""
        if self.rate < VANISHING_RATE:
            return "vanishing"
        return "exploding" if self.rate > EXPLODING_RATE else "kept"


@dataclass
class SweepResult:
    """The sweep's settings and one `SweepRow` per spectral radius; str() is the table."""

    steps: int
    hidden: int
    batch: int
    trials: int
    input_scale: float
    seed: int
    rows: list[SweepRow] = field(default_factory=list)

    def __str__(self) -> str:
        return format_sweep(self)


def sweep_problem(steps: int, vocab: int, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random symbol sequences: one-hot inputs x_t (T, B, vocab) and next-symbol targets y_t (T, B)."""
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, vocab, size=(steps + 1, batch))
    return np.eye(vocab)[symbols[:-1]], symbols[1:]


def _geomean(a: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(a), axis=axis))


def radius_sweep(
    radii: Any = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0),
    *,
    steps: int = 50,
    hidden: int = 32,
    vocab: int = 8,
    batch: int = 8,
    trials: int = 3,
    input_scale: float = 1.0,
    seed: int = 0,
) -> SweepResult:
    """ρ ↦ ‖∇_{h_t}L‖ (from the graph) and ‖∂h_T/∂h_k‖₂ (numpy) for the lecture RNN with U scaled to ρ(U) = ρ.

    For each ρ, `trials` RNNs (seeds seed, seed+1, ...) run a batch of `batch` random one-hot sequences of length
    `steps` (inputs multiplied by `input_scale`) with the loss at the last step only, L = L_T. Profiles are
    geometric means over every sequence of every trial, because the norms spread over orders of magnitude.
    """
    radii = [float(r) for r in radii]
    if not radii or any(not np.isfinite(r) or r <= 0 for r in radii):
        raise ValueError(f"radius_sweep: radii must be positive numbers, got {radii}")
    for what, n in (("steps", steps), ("hidden", hidden), ("vocab", vocab), ("batch", batch), ("trials", trials)):
        whole_number(n, what, "radius_sweep")
    if not (np.isfinite(input_scale) and input_scale >= 0):
        raise ValueError(f"radius_sweep: input_scale must be a finite number ≥ 0, got {input_scale!r}")
    T = steps
    result = SweepResult(steps, hidden, batch, trials, float(input_scale), seed)
    for rho in radii:
        grads, jacs, ratios, norms_U, tanh_grads, pgrads, holds = [], [], [], [], [], [], True
        for trial in range(trials):
            xs, ys = sweep_problem(T, vocab, batch, seed + trial)
            rnn = RNN(vocab, hidden, vocab, seed=seed + trial, spectral_radius=rho)
            hidden_gradient_norms(rnn, xs * input_scale, ys, loss="last")
            g = np.stack([np.linalg.norm(h.grad, axis=-1) for h in rnn.last_trace().h])  # (T, B): per sequence
            hs, U = _hidden_values(rnn.last_trace().h), rnn.U.data
            J = jacobian_norms(U, hs)  # (T + 1, B)
            nU = spectral_norm(U)
            dist = np.arange(T, -1, -1.0)[:, None]  # T − k for k = 0..T
            paths = np.stack([path_bound(U, hs, T, k) for k in range(T + 1)])
            holds &= bool(np.all(J <= nU**dist * (1 + 1e-12)) and np.all(J <= paths * (1 + 1e-12) + 1e-300))
            grads.append(g)
            jacs.append(J)
            ratios.append(g[0] / g[-1])
            norms_U.append(nU)
            tanh_grads.append(float(np.mean(1.0 - hs**2)))
            pgrads.append(np.sqrt(sum(float(np.sum(p.grad**2)) for p in rnn.parameters() if p.grad is not None)))
        norm_U = float(_geomean(np.array(norms_U), axis=0))  # as jac_norms: a geometric mean (over trials)
        result.rows.append(
            SweepRow(
                rho=rho,
                norm_U=norm_U,
                mean_tanh_grad=float(np.mean(tanh_grads)),
                grad_norms=_geomean(np.concatenate(grads, axis=1), axis=1),
                ratios=np.concatenate(ratios),
                jac_norms=_geomean(np.concatenate(jacs, axis=1), axis=1),
                bound=norm_U ** (T - 1),  # ≥ jac_norms[1]: each sequence's ‖∂h_T/∂h_1‖₂ ≤ its own ‖U‖₂^(T−1)
                bound_holds=holds,
                param_grad_norm=float(_geomean(np.array(pgrads), axis=0)),
            )
        )
    return result


def format_sweep(result: SweepResult) -> str:
    """The sweep as a text table, one row per spectral radius, with a header stating the setting."""
    T = result.steps
    lines = [
        f"Spectral-radius sweep of the lecture RNN: T={T}, H={result.hidden}, {result.trials} trial(s) × "
        f"{result.batch} sequence(s), inputs × {result.input_scale:g}, seed={result.seed}; loss L = L_T only",
        "ratio = ‖∇_{h_1}L‖ / ‖∇_{h_T}L‖ (geometric mean, [min, max] over sequences); rate = ratio^(1/(T−1)), "
        f"the mean factor per step back; regime by that rate — {REGIMES.split('  (')[0]}; ‖U‖₂, ‖∂h_T/∂h_1‖₂ and "
        "the bound ‖U‖₂^(T−1): geometric means too",
    ]
    head = (
        f"{'ρ(U)':>5} {'‖U‖₂':>6} {'mean tanh′':>10} {'ratio':>9} {'[min, max]':>21} {'rate':>6} "
        f"{'‖∂h_T/∂h_1‖₂':>12} {'‖U‖₂^(T−1)':>10} {'≤?':>3} {'‖∇θL‖':>8}  regime"
    )
    lines += [head, "-" * len(head)]
    for r in result.rows:
        lines.append(
            f"{r.rho:5.2f} {r.norm_U:6.3f} {r.mean_tanh_grad:10.3f} {r.ratio:9.1e} "
            f"[{r.ratios.min():8.1e}, {r.ratios.max():8.1e}] {r.rate:6.3f} {r.jac_norms[1]:12.1e} {r.bound:10.1e} "
            f"{'yes' if r.bound_holds else 'NO':>3} {r.param_grad_norm:8.2e}  {r.regime}"
        )
    return "\n".join(lines)


def plot_sweep(result: SweepResult, path: str | Path) -> Path:
    """Two log-scale panels: ‖∇_{h_t}L‖ against t for each ρ, and ‖∂h_T/∂h_k‖₂ against T − k with its bound.

    Needs the `plot` extra (matplotlib, imported here only). The format follows the suffix (PNG, SVG, PDF).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            "plot_sweep needs matplotlib, which comes with the plot extra: pip install 'tinygrad_rnn[plot]'"
        ) from err
    path = Path(path)
    T = result.steps
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5.4), constrained_layout=True)
    cmap = plt.get_cmap("coolwarm")
    rhos = np.log([r.rho for r in result.rows])
    lo, hi = rhos.min(), rhos.max()
    floor = 1e-30
    for r, lr in zip(result.rows, rhos):
        colour = cmap(0.5 if hi == lo else (lr - lo) / (hi - lo))
        label = f"ρ = {r.rho:g}  ({r.regime})"
        ax1.semilogy(np.arange(1, T + 1), np.maximum(r.grad_norms, floor), color=colour, lw=2, label=label)
        dist = np.arange(T, -1, -1)
        ax2.semilogy(dist, np.maximum(r.jac_norms, floor), color=colour, lw=2, label=f"ρ = {r.rho:g}")
        ax2.semilogy(dist, r.norm_U ** dist.astype(float), color=colour, lw=1, ls="--")
    ax1.set_xlabel("time step t")
    ax1.set_ylabel(r"$\|\nabla_{h_t} L\|$  (loss $L = L_T$ only)")
    ax1.set_title(f"Gradient that reaches $h_t$ from the last step (T = {T}, H = {result.hidden})")
    ax1.grid(True, which="major", alpha=0.3)
    ax1.legend(fontsize=8, loc="lower right", title="regime by the measured rate", title_fontsize=8)
    ax2.set_xlabel("distance back in time  T − k")
    ax2.set_ylabel(r"$\|\partial h_T / \partial h_k\|_2$")
    ax2.set_title(r"Jacobian product (solid) and the bound $\|U\|_2^{\,T-k}$ (dashed), geometric means")
    ax2.grid(True, which="major", alpha=0.3)
    low = min(float(np.min(np.maximum(r.jac_norms, floor))) for r in result.rows)
    high = max(float(np.max(r.jac_norms)) for r in result.rows)
    ax2.set_ylim(max(floor, low / 10), high * 1e3)
    ax2.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        f"Vanishing and exploding gradients in the lecture RNN — geometric mean over "
        f"{result.trials * result.batch} sequences, inputs × {result.input_scale:g}\n"
        f"{REGIMES.split('  (')[0]},  rate = "
        r"$(\|\nabla_{h_1}L\| \,/\, \|\nabla_{h_T}L\|)^{1/(T-1)}$ (measured)",
        fontsize=10,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
