"""Where the gradient comes from (Pascanu, Mikolov & Bengio 2013, eq. 4): the contribution of step k to ∂L_t/∂U.

For the lecture's RNN, h_t = tanh(b + W x_t + U h_{t−1}), o_t = c + V h_t, L = Σ_t L_t:

    ∂L/∂U = Σ_t ∂L_t/∂U,      ∂L_t/∂U = Σ_{k ≤ t} C[t, k],      C[t, k] = (∂L_t/∂h_t)(∂h_t/∂h_k)(∂⁺h_k/∂U)

where ∂⁺h_k/∂U is the "immediate" derivative (h_{k−1} held fixed): C[t, k] = δ_k^(t) h_{k−1}ᵀ with
δ_k^(t) = diag(1 − h_k²) ∂L_t/∂h_k, the part of L_t's error that reaches step k. The T × T (lower-triangular)
matrix of ‖C[t, k]‖ shows where the gradient comes from: for ρ(U) < 1 the long-term entries (k ≪ t) fade
exponentially, for ρ(U) > 1 (tanh in its linear range) they grow.

Two exact identities, tested to 1e-10: the entries sum to the full BPTT gradient (`lecture.bptt_gradients`, the
engine), each row t to ∂L_t/∂U; and truncated BPTT in chunks of k steps (the state detached after steps k, 2k, …,
`lecture.truncated_bptt_gradients`) keeps exactly the entries whose t and k lie in the same chunk — the
block-diagonal band of width k — and drops the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_rnn import lecture
from tinygrad_rnn.inputs import whole_number
from tinygrad_rnn.papers._common import PaperResult, Timer, figure_path, grad_of, save_figure
from tinygrad_rnn.rnn import RNN

__all__ = ["contribution_matrix", "truncation_band", "engine_row_gradients", "heat_problem", "run"]

T_HEAT, RADII, CHUNKS = 30, (0.5, 1.5), (5, 10)


def contribution_matrix(W: Any, U: Any, V: Any, b: Any, c: Any, xs: Any, ys: Any, h0: Any = None) -> np.ndarray:
    """C (T, T, H, H) with C[t−1, k−1] = δ_k^(t) h_{k−1}ᵀ, the contribution of step k to ∂L_t/∂U (zero for k > t).

    One sequence: xs (T, D), ys class indices (T,) or one-hot rows (T, K) (softmax head, as `lecture.loss`).
    All targets t are carried back together: G[t] = ∂L_t/∂h_k for the current k, one numpy call per step.
    """
    where = "contribution_matrix"
    W, U, V, b, c = (np.asarray(a, dtype=np.float64) for a in (W, U, V, b, c))
    xs = np.asarray(xs, dtype=np.float64)
    if xs.ndim != 2:
        raise ValueError(f"{where}: xs must be one sequence of shape (T, D), got {xs.shape}")
    h, o, yhat = lecture.forward(W, U, V, b, c, xs, h0)  # h_1..h_T (T, H), ŷ_t (T, K)
    T, H = h.shape
    y = np.asarray(ys)
    if y.ndim == 1:
        y = np.eye(V.shape[0])[y.astype(int)]
    if y.shape != yhat.shape:
        raise ValueError(f"{where}: ys must be class indices (T,) or one-hot rows {yhat.shape}, got {y.shape}")
    h_prev = np.vstack([np.zeros(H) if h0 is None else np.asarray(h0, dtype=np.float64), h[:-1]])  # h_{k−1}
    go = (yhat - y) @ V  # Vᵀ ∇_{o_t}L_t for every t: ∂L_t/∂h_t, before the recursion
    C = np.zeros((T, T, H, H))
    G = np.zeros((T, H))  # row t: ∂L_t/∂h_k at the current k (rows t < k stay 0)
    for k in range(T, 0, -1):
        G[k - 1] = go[k - 1]  # L_k enters at its own step
        delta = G * (1.0 - h[k - 1] ** 2)  # δ_k^(t) = diag(1 − h_k²) ∂L_t/∂h_k, for every t
        C[:, k - 1] = delta[:, :, None] * h_prev[k - 1][None, None, :]  # δ_k^(t) h_{k−1}ᵀ
        G = delta @ U  # ∂L_t/∂h_{k−1} = Uᵀ δ_k^(t)
    return C


def truncation_band(T: int, k: int) -> np.ndarray:
    """keep[t−1, j−1] = True when steps j ≤ t lie in the same chunk of k steps (⌈t/k⌉ = ⌈j/k⌉): what truncated
    BPTT with the state detached after steps k, 2k, … keeps of the contribution matrix."""
    T = whole_number(T, "T", "truncation_band")
    k = whole_number(k, "k", "truncation_band")
    chunk = np.arange(T) // k
    return (chunk[:, None] == chunk[None, :]) & np.tri(T, dtype=bool)


def engine_row_gradients(rnn: RNN, xs: Any, ys: Any, h0: Any = None) -> np.ndarray:
    """∂L_t/∂U for t = 1..T (T, H, H) from the engine: the loss masked to step t, one backward pass each."""
    T = len(xs)
    rows = []
    for t in range(T):
        mask = np.zeros(T)
        mask[t] = 1.0
        rnn.zero_grad()
        rnn.loss(xs, ys, h0, mask=mask).backward()
        rows.append(grad_of(rnn.U).copy())
    return np.array(rows)


def heat_problem(
    rho: float, T: int = T_HEAT, seed: int = 3, input_scale: float = 1e-6
) -> tuple[RNN, np.ndarray, np.ndarray, np.ndarray]:
    """(rnn, xs, ys, h0): the lecture RNN (D = K = 3, H = 8) with ρ(U) = rho, tiny random inputs and initial state
    (tanh in its linear range, as in the lecture's argument; h0 ≠ 0 so that step 1 contributes: C[t, 1] = δ_1 h_0ᵀ).
    """
    rng = np.random.default_rng(seed)
    rnn = RNN(3, 8, 3, seed=seed, spectral_radius=rho)
    xs = input_scale * rng.standard_normal((T, 3))
    return rnn, xs, rng.integers(0, 3, size=T), input_scale * rng.standard_normal(8)


def _check(rho: float, T: int) -> dict[str, Any]:
    """The matrix for one ρ and every identity measured: row sums vs the engine, total vs lecture and engine, bands."""
    rnn, xs, ys, h0 = heat_problem(rho, T)
    arrays = rnn.arrays()
    C = contribution_matrix(**arrays, xs=xs, ys=ys, h0=h0)
    rows = engine_row_gradients(rnn, xs, ys, h0)
    row_err = max(np.linalg.norm(C[t].sum(0) - rows[t]) / np.linalg.norm(rows[t]) for t in range(T))
    rnn.zero_grad()
    rnn.loss(xs, ys, h0).backward()
    W, U, V, b, c = (arrays[n] for n in "WUVbc")
    full = lecture.bptt_gradients(W, U, V, b, c, xs, ys, h0=h0)["U"]
    total = C.sum(axis=(0, 1))
    out = dict(
        C=C,
        norms=np.linalg.norm(C, axis=(2, 3)),
        row_err=float(row_err),
        total_err_lecture=float(np.linalg.norm(total - full) / np.linalg.norm(full)),
        total_err_engine=float(np.linalg.norm(total - grad_of(rnn.U)) / np.linalg.norm(grad_of(rnn.U))),
        bands={},
    )
    for k in CHUNKS:
        trunc = lecture.truncated_bptt_gradients(W, U, V, b, c, xs, ys, k, h0)["U"]
        kept = C[truncation_band(T, k)].sum(axis=0)
        out["bands"][k] = (float(np.linalg.norm(kept - trunc) / np.linalg.norm(trunc)), float(np.linalg.norm(trunc)))
    out["full_norm"] = float(np.linalg.norm(full))
    return out


def run(quick: bool = False, out_dir: str | Path | None = None) -> PaperResult:
    """The contribution matrices for ρ(U) = 0.5 and 1.5, every identity checked, the heat-maps."""
    timer = Timer()
    T = 12 if quick else T_HEAT
    checks = {rho: _check(rho, T) for rho in RADII}
    lines = [
        "Where the gradient comes from (Pascanu, Mikolov & Bengio 2013, eq. 4): C[t, k] = contribution of step k to "
        "∂L_t/∂U",
        f"  lecture RNN D = K = 3, H = 8, T = {T}, inputs and h_0 1e-6·N(0, 1) (tanh linear), random targets; "
        f"ρ(U) ∈ {RADII}",
    ]
    for rho, ch in checks.items():
        n = ch["norms"]
        lines.append(
            f"  ρ(U) = {rho}: step 1's contribution to L_T vs to L_1, ‖C[T, 1]‖ / ‖C[1, 1]‖ = "
            f"{n[T - 1, 0] / n[0, 0]:.3g}; ‖C[T, 1]‖ / ‖C[T, T]‖ = {n[T - 1, 0] / n[T - 1, T - 1]:.3g}; "
            "rows vs engine ∂L_t/∂U: "
            f"max rel. error {ch['row_err']:.2g}; Σ C vs lecture.bptt_gradients {ch['total_err_lecture']:.2g}, vs "
            f"the engine {ch['total_err_engine']:.2g}"
        )
        for k, (err, norm) in ch["bands"].items():
            lines.append(
                f"    truncated BPTT, chunks of {k}: band of C vs lecture.truncated_bptt_gradients: rel. error "
                f"{err:.2g}; it keeps ‖∇U‖ {norm:.3g} of the full {ch['full_norm']:.3g}"
            )
    lines.append(
        "  paper: eq. 4 is an identity (error 0); ρ < 1 suffices for long-term components to vanish, ρ > 1 is "
        "needed for them to explode (linear case)"
    )
    worst = max(ch["row_err"] for ch in checks.values())
    result = PaperResult("contributions", worst, 0.0, "largest relative error of the row sums of C vs engine dL_t/dU")
    result.figure = _figure(figure_path(out_dir, "contributions", quick), checks, T)
    result.data = dict(checks=checks)
    return result.finish(lines, timer)


def _figure(path: Path, checks: dict, T: int) -> Path | None:
    with save_figure(path, nrows=1, ncols=len(checks), figsize=(6.4 * len(checks), 5.6)) as drawn:
        if drawn is None:
            return None
        fig, axes = drawn
        for ax, (rho, ch) in zip(np.atleast_1d(axes), checks.items()):
            n = ch["norms"]
            with np.errstate(divide="ignore"):
                L = np.where(np.tri(T, dtype=bool), np.log10(n), np.nan)
            im = ax.imshow(L, origin="upper", cmap="magma", extent=(0.5, T + 0.5, T + 0.5, 0.5))
            fig.colorbar(im, ax=ax, label="log10 ‖C[t, k]‖ (Frobenius)", shrink=0.85)
            k = CHUNKS[0]
            for a in range(0, T, k):  # the blocks truncated BPTT with chunks of k keeps
                e = min(a + k, T)
                ax.plot(
                    [a + 0.5, e + 0.5, e + 0.5, a + 0.5, a + 0.5],
                    [a + 0.5, a + 0.5, e + 0.5, e + 0.5, a + 0.5],
                    color="cyan",
                    lw=1.0,
                )
            ax.set_xlabel("k: the step whose U·h_(k−1) is differentiated")
            ax.set_ylabel("t: the loss term L_t")
            kind = "fade as t − k grows" if rho < 1 else "do not fade: each column grows with t"
            ax.set_title(f"ρ(U) = {rho}: contributions {kind}")
        fig.suptitle(
            f"Pascanu et al. 2013 eq. 4 on the lecture RNN (T = {T}, H = 8): ∂L/∂U = Σ_t Σ_(k≤t) C[t, k]\n"
            f"inputs and h_0 1e-6·N(0, 1) (tanh linear); cyan: the blocks truncated BPTT in chunks of {CHUNKS[0]} keeps"
        )
    return path
