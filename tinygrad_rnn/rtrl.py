"""Real-time recurrent learning (Williams & Zipser 1989): the lecture RNN's gradient carried forward in time.

For h_t = tanh(a_t), a_t = b + W x_t + U h_{t−1}, the sensitivities P_t = ∂h_t/∂θ of the state to the parameters
θ ∈ {W, U, b} obey the forward recursion

    P_t = diag(1 − h_t²) (∂a_t/∂θ + U P_{t−1}),     P_0 = 0 (h_0 is given),

with ∂a_{t,i}/∂W_jk = δ_ij x_{t,k}, ∂a_{t,i}/∂U_jk = δ_ij h_{t−1,k}, ∂a_{t,i}/∂b_j = δ_ij, and each step's loss
gives its gradient at once: ∇_θ L_t = (∇_{h_t}L_t)ᵀ P_t with ∇_{h_t}L_t = Vᵀ∇_{o_t}L_t; V and c are read off
∇_{o_t}L_t directly. Summed over t this is exactly the gradient BPTT computes (tests/test_rtrl.py: equal to
`lecture.bptt_gradients` to 1e-10). RTRL is forward-mode differentiation of the unrolled graph (`forward.jvp`, one
tangent per parameter carried along at once), BPTT reverse mode.

What it costs, per step and sequence, for H hidden units (`rtrl_cost`, `bptt_cost`; benchmarks/bench_rtrl.py
measures them): U P_{t−1} is an H×H matrix times H·(H² + HD + H) numbers, ~H⁴ multiply-adds (BPTT: ~H²), and the
sensitivities hold H·(H² + HD + H) numbers however long the sequence (BPTT keeps every h_t: ~T·H). In exchange the
gradient of every L_t exists the moment the step is done, so the parameters can be updated at every step of an
endless stream — `RTRL.step` then `RTRL.update` — which BPTT cannot do without truncating the past.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tinygrad_rnn.inputs import Array, check_head, real, real_array, validate_sequences

__all__ = ["RTRL", "rtrl_gradients", "Cost", "rtrl_cost", "bptt_cost", "PARAMS"]

PARAMS = ("W", "U", "V", "b", "c")


def _parameters(W: Array, U: Array, V: Array, b: Array, c: Array, where: str) -> dict[str, np.ndarray]:
    """The parameters as float64 copies, their shapes checked against each other: W (H, D), U (H, H), V (K, H)."""
    p = {n: np.array(real_array(n, a, where), dtype=np.float64) for n, a in zip(PARAMS, (W, U, V, b, c))}
    H = p["W"].shape[0] if p["W"].ndim == 2 else -1
    K = p["V"].shape[0] if p["V"].ndim == 2 else -1
    want = {"W": (H, p["W"].shape[-1]), "U": (H, H), "V": (K, H), "b": (H,), "c": (K,)}
    if H < 1 or K < 1 or any(p[n].shape != want[n] for n in PARAMS):
        shapes = ", ".join(f"{n} {p[n].shape}" for n in PARAMS)
        raise ValueError(f"{where}: parameter shapes do not fit together: {shapes}; expected W (H, D), U (H, H), "
                         "V (K, H), b (H,), c (K,)")  # fmt: skip
    if not all(np.all(np.isfinite(a)) for a in p.values()):
        raise ValueError(f"{where}: a parameter has a non-finite value")
    return p


class RTRL:
    """The lecture RNN run forward one step at a time, carrying h_t and the sensitivities P_t = ∂h_t/∂(W, U, b).

    `step(x_t, y_t)` advances one step, adds ∇_θ L_t to `grads` and returns L_t; `update(lr)` takes a gradient step
    with what was added since the last update (every step: online learning) and zeroes it. `params` are the
    arrays W, U, V, b, c (copies: the caller's arrays are not changed). A batch of B sequences runs side by side:
    x_t (B, D), y_t (B,) or (B, K); one sequence: x_t (D,), y_t a class index or (K,). head: "softmax" (y_t class
    indices or probability rows, L_t = cross-entropy) or "linear" (regression, L_t = Σ (o_t − y_t)²).
    """

    PW: np.ndarray  # ∂h_t/∂W (B, H, H, D), ∂h_t/∂U (B, H, H, H), ∂h_t/∂b (B, H, H): made at the first step
    PU: np.ndarray
    Pb: np.ndarray

    def __init__(self, W: Array, U: Array, V: Array, b: Array, c: Array, *, head: str = "softmax") -> None:
        check_head(head, "RTRL")
        self.params = _parameters(W, U, V, b, c, "RTRL")
        self.head = head
        self.H, self.D = self.params["W"].shape
        self.K = self.params["V"].shape[0]
        self.reset()

    def reset(self, h0: Array | None = None) -> None:
        """Start a new sequence: h_0 (zeros, or (H,) / (B, H)), P_0 = 0, no gradient gathered, t = 0."""
        self.h0 = h0
        self.h: np.ndarray | None = None  # made at the first step, when the batch size is known
        self.grads = {n: np.zeros_like(a) for n, a in self.params.items()}
        self.t = 0

    def _start(self, B: int, where: str) -> None:
        H, D = self.H, self.D
        h0 = np.zeros(H) if self.h0 is None else np.asarray(real_array("h0", self.h0, where), dtype=np.float64)
        if h0.shape not in ((H,), (B, H)):
            raise ValueError(f"{where}: h0 has shape {h0.shape}; expected ({H},) or ({B}, {H}) for H={H}")
        self.h = np.array(np.broadcast_to(h0, (B, H)))
        self.PW, self.PU, self.Pb = np.zeros((B, H, H, D)), np.zeros((B, H, H, H)), np.zeros((B, H, H))

    def step(self, x: Array, y: Array) -> float:
        """One step: h_t, o_t, L_t; P_t from P_{t−1}; ∇_θ L_t added to `grads`. Returns L_t (summed over a batch)."""
        where = f"RTRL.step (t={self.t + 1})"
        x, y = real_array("x", x, where), real_array("y", y, where)
        seq = validate_sequences(x[None], y[None], input_size=self.D, output_size=self.K, head=self.head, where=where)
        B = seq.xs.shape[1]
        if self.h is None:
            self._start(B, where)
        elif B != len(self.h):
            raise ValueError(f"{where}: x_t holds {B} sequence(s), but this run carries {len(self.h)}")
        assert seq.ys is not None
        return self._advance(seq.xs[0], seq.ys[0])

    def _advance(self, x: np.ndarray, y: np.ndarray) -> float:
        """The recursion for x_t (B, D) and target rows y_t (B, K): the lecture's equations, one line each."""
        W, U, V, b, c = (self.params[n] for n in PARAMS)
        assert self.h is not None
        h_prev, r = self.h, np.arange(self.H)
        h = np.tanh(b + x @ W.T + h_prev @ U.T)  # h_t = tanh(b + W x_t + U h_{t−1})              (2.1)
        d = 1.0 - h * h  # diag(1 − h_t²)                                                       (appendix C)
        PW, PU, Pb = (_times_U(U, P) for P in (self.PW, self.PU, self.Pb))  # U P_{t−1}: ~H⁴ for P^U
        PW[:, r, r, :] += x[:, None, :]  # + ∂a_t/∂W: ∂a_{t,i}/∂W_jk = δ_ij x_{t,k}
        PU[:, r, r, :] += h_prev[:, None, :]  # + ∂a_t/∂U: ∂a_{t,i}/∂U_jk = δ_ij h_{t−1,k}
        Pb[:, r, r] += 1.0  # + ∂a_t/∂b = I
        self.PW, self.PU = PW * d[:, :, None, None], PU * d[:, :, None, None]  # P_t = diag(1 − h_t²)(…)
        self.Pb = Pb * d[:, :, None]
        o = c + h @ V.T  # o_t = c + V h_t                                                        (2.1)
        if self.head == "softmax":
            z = o - o.max(axis=-1, keepdims=True)
            log_yhat = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
            loss = float(-(y * log_yhat).sum(where=y != 0))  # L_t = −Σ y log ŷ                     (2.2)
            go = np.exp(log_yhat) * y.sum(axis=-1, keepdims=True) - y  # ∇_{o_t}L_t = ŷ_t − y_t    (2.4)
        else:
            loss, go = float(((o - y) ** 2).sum()), 2.0 * (o - y)
        gh = go @ V  # ∇_{h_t}L_t = Vᵀ ∇_{o_t}L_t: this step's loss only, the future is not needed
        g = self.grads
        for name, P in (("W", self.PW), ("U", self.PU), ("b", self.Pb)):
            g[name] += np.tensordot(gh, P, axes=([0, 1], [0, 1]))  # ∇_θ L_t = (∇_{h_t}L_t)ᵀ P_t, summed over B
        g["V"] += go.T @ h  # ∇_V L_t = ∇_{o_t}L_t h_tᵀ
        g["c"] += go.sum(axis=0)  # ∇_c L_t = ∇_{o_t}L_t
        self.h, self.t = h, self.t + 1
        return loss

    def update(self, lr: float, clip: float | None = None) -> float:
        """θ ← θ − lr·g with the gradient gathered since the last update (rescaled to norm `clip` when it is longer,
        Pascanu et al.'s clipping); the gathered gradient is zeroed. Returns ‖g‖ before clipping.

        The sensitivities are kept: they were computed for the parameters before the update, which is RTRL's
        approximation in online learning (exact for lr → 0; Williams & Zipser 1989)."""
        lr = real("RTRL.update", "lr", lr, low=0, strict=False)
        norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in self.grads.values())))
        scale = min(1.0, real("RTRL.update", "clip", clip, low=0) / norm) if clip is not None and norm > 0 else 1.0
        for n, g in self.grads.items():
            self.params[n] -= lr * scale * g
            g[...] = 0.0
        return norm

    def forget(self) -> None:
        """Zero the sensitivities (keep h_t): the gradient then sees one step back only — truncated BPTT with k = 1."""
        if self.h is not None:
            for P in (self.PW, self.PU, self.Pb):
                P[...] = 0.0

    def numbers_held(self) -> int:
        """How many numbers the run carries from step to step besides the parameters and their gradient: h_t, P_t."""
        return 0 if self.h is None else self.h.size + self.PW.size + self.PU.size + self.Pb.size


def _times_U(U: np.ndarray, P: np.ndarray) -> np.ndarray:
    """U P for sensitivities P (B, H, …): the state's index i of ∂h_i/∂θ mixed by U, one matrix product."""
    return (U @ P.reshape(P.shape[0], P.shape[1], -1)).reshape(P.shape)


def rtrl_gradients(
    W: Array, U: Array, V: Array, b: Array, c: Array, xs: Array, ys: Array, h0: Array | None = None, *,
    head: str = "softmax",
) -> dict[str, np.ndarray]:  # fmt: skip
    """∇L for W, U, V, b, c by real-time recurrent learning: the keys and shapes of `lecture.bptt_gradients`.

    xs (T, D) or (T, B, D); ys class indices (T,) / (T, B) or one-hot / probability rows, or regression targets for
    head="linear"; h0 zeros, (H,) or (B, H). L = Σ_t L_t summed over the batch, as in the lecture.
    """
    run = RTRL(W, U, V, b, c, head=head)
    seq = validate_sequences(xs, ys, input_size=run.D, output_size=run.K, head=head, where="rtrl_gradients")
    assert seq.ys is not None
    run.reset(h0)
    run._start(seq.xs.shape[1], "rtrl_gradients")
    for x, y in zip(seq.xs, seq.ys):
        run._advance(x, y)
    return {n: run.grads[n] for n in PARAMS}


# ---- what each method costs, counted ------------------------------------------------------------------------------


class Cost(NamedTuple):
    """Multiply-adds per time step and numbers held (besides the parameters and the inputs), per sequence."""

    macs_per_step: int
    numbers_held: int


def rtrl_cost(H: int, D: int, K: int, T: int = 1) -> Cost:
    """RTRL, counted from `RTRL._advance`, for one sequence: per step the forward pass (H·D + H² + K·H), U P_{t−1}
    for P^W, P^U, P^b (H·S with S = H²D + H³ + H² the sensitivities' numbers: the H⁴ term), + ∂a_t/∂θ
    (HD + H² + H), × diag(1 − h_t²) (S), ∇_θ L_t = (∇_{h_t}L_t)ᵀ P_t (S) and ∇_V (K·H); held: h_t and P_t,
    H + S, whatever T is."""
    S = H * H * D + H * H * H + H * H
    return Cost(H * D + H * H + K * H + H * S + (H * D + H * H + H) + 2 * S + K * H, H + S)


def bptt_cost(H: int, D: int, K: int, T: int) -> Cost:
    """BPTT, counted from `lecture._forward` and `lecture._backward`, for one sequence: per step the forward pass
    (H·D + H² + K·H), Vᵀ∇_{o_t}L (K·H), Uᵀδ_{t+1} (H²), the outer products of ∇W, ∇U, ∇V (H·D + H² + K·H) and the
    tanh′ products (2H); held for the backward pass: every h_t, δ_t, ∇_{h_t}L, o_t and ∇_{o_t}L, T·(3H + 2K) — and
    the inputs of all T steps, which RTRL does not need to keep."""
    return Cost(2 * (H * D + H * H + K * H) + K * H + H * H + 2 * H, T * (3 * H + 2 * K))
