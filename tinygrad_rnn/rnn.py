"""The lecture's Elman RNN (section 2.1), unrolled through time on the autodiff engine.

    h_t = tanh(b + W x_t + U h_{t−1}),   o_t = c + V h_t,   ŷ_t = softmax(o_t),   L = Σ_t L_t(y_t, ŷ_t)

Every node of step t is built inside `scope("t=<t>")` (1-based, as in the lecture) and carries the lecture's name:
x_t, h_t, o_t, ŷ_t, L_t; h_0 and the total loss L sit outside the steps; the parameters are W, U, V, b, c. After
`loss(...).backward()` every one of these nodes holds its gradient — ∇_{h_t}L is `rnn.trace.h[t-1].grad`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinygrad_rnn import functional as F
from tinygrad_rnn.lecture import Sequences, validate_sequences
from tinygrad_rnn.module import Module, output_loss
from tinygrad_rnn.tensor import Tensor, concatenate, scope, stack


@dataclass
class Trace:
    """The nodes of the last `forward`/`loss` call by lecture symbol; each list is indexed by t − 1."""

    x: list[Tensor] = field(default_factory=list)
    h0: Tensor | None = None
    h: list[Tensor] = field(default_factory=list)
    o: list[Tensor] = field(default_factory=list)
    yhat: list[Tensor] = field(default_factory=list)
    L: list[Tensor] = field(default_factory=list)
    loss: Tensor | None = None

    def __getitem__(self, key: str):
        return getattr(self, key)


def _mv(M: Tensor, v: Tensor) -> Tensor:
    """M v for a column vector v (1-D); for a batch of row vectors v (B, n) the same product is v M^T."""
    return M @ v if v.ndim == 1 else v @ M.T


def sizes(owner: str, **named) -> list[int]:
    """The model's sizes as ints, each checked to be a whole number ≥ 1 (errors name the model and the size)."""
    out = []
    for name, value in named.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{owner}: {name} must be a whole number, got {value!r}")
        if value < 1:
            raise ValueError(f"{owner}: {name} must be ≥ 1, got {value}")
        out.append(int(value))
    return out


def spectral_radius_of(M: np.ndarray) -> float:
    """ρ(M) = max |λ_i(M)|, the largest modulus of an eigenvalue (section 3.1)."""
    return float(np.max(np.abs(np.linalg.eigvals(M))))


class RNN(Module):
    """h_t = tanh(b + W x_t + U h_{t−1}), o_t = c + V h_t, ŷ_t = softmax(o_t) (lecture, section 2.1).

    W (H×D) maps the input to the hidden state, U (H×H) the previous hidden state, V (K×H) the hidden state to the
    output; b (H) and c (K) are biases. Initial values: W, U, V normal with variance 1/fan-in, b = c = 0, from
    `np.random.default_rng(seed)`; `spectral_radius=ρ` rescales U so that max|λ(U)| = ρ (section 3.1).
    `tanh="composed"` builds tanh from exp and arithmetic so a drawing shows its inside; "primitive" is one node.
    `head="linear"` replaces softmax/cross-entropy by ŷ_t = o_t and L_t = Σ (o_t − y_t)² (regression).
    `fast=True` makes `loss` build a lean graph of the same L (see `_fast_loss`): for speed, not for the slide.
    """

    param_names = ("W", "U", "V", "b", "c")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        seed: int = 0,
        spectral_radius: float | None = None,
        dtype=np.float64,
        tanh: str = "primitive",
        softmax: str = "composed",
        head: str = "softmax",
        fast: bool = False,
    ):
        D, H, K = sizes("RNN", input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"RNN: dtype must be float32 or float64, got {self.dtype}")
        if tanh not in ("primitive", "composed"):
            raise ValueError(f"RNN: tanh must be 'primitive' or 'composed', got {tanh!r}")
        if softmax != "composed":
            raise ValueError(f"RNN: softmax must be 'composed' (built from exp, sum and divide), got {softmax!r}")
        if head not in ("softmax", "linear"):
            raise ValueError(f"RNN: unknown output head {head!r}: expected 'softmax' or 'linear'")
        self.input_size, self.hidden_size, self.output_size = D, H, K
        if fast and tanh != "primitive":
            raise ValueError(f"RNN: fast=True uses the primitive tanh; tanh={tanh!r} is for the lecture graph")
        self.tanh, self.softmax, self.head, self.fast = tanh, softmax, head, bool(fast)
        rng = np.random.default_rng(seed)
        W = rng.normal(0.0, 1.0 / np.sqrt(D), (H, D))
        U = rng.normal(0.0, 1.0 / np.sqrt(H), (H, H))
        V = rng.normal(0.0, 1.0 / np.sqrt(H), (K, H))
        if spectral_radius is not None:
            rho = float(spectral_radius)
            if not np.isfinite(rho) or rho < 0:
                raise ValueError(f"RNN: spectral_radius must be a finite number ≥ 0, got {spectral_radius!r}")
            U *= rho / spectral_radius_of(U)
        for name, value in zip(self.param_names, (W, U, V, np.zeros(H), np.zeros(K))):
            setattr(self, name, Tensor(value.astype(self.dtype), requires_grad=True, name=name))
        self.trace: Trace | None = None

    def __repr__(self) -> str:
        return (
            f"RNN(input_size={self.input_size}, hidden_size={self.hidden_size}, output_size={self.output_size}, "
            f"tanh={self.tanh!r}, head={self.head!r}, dtype={self.dtype.name})"
        )

    # ---- one step: the three equations of section 2.1 ------------------------------------------------------------

    def step(self, x: Tensor, h_prev: Tensor, dh=None) -> tuple[Tensor, Tensor]:
        """h_t = tanh(b + W x_t + U h_{t−1}), o_t = c + V h_t (ŷ_t = softmax(o_t) is the output head, in `loss`).

        `dh`, when given, is added to h_t before o_t is computed (a perturbation for finite differences).
        """
        a = self.b + _mv(self.W, x) + _mv(self.U, h_prev)
        h = a.tanh() if self.tanh == "primitive" else F.tanh(a)
        if dh is not None:
            h = h + Tensor(dh)
        o = self.c + _mv(self.V, h)
        return h, o

    # ---- unrolling -------------------------------------------------------------------------------------------------

    def forward(self, xs, h0=None, perturb=None, *, perturb_o=None) -> tuple[list[Tensor], list[Tensor]]:
        """h_1..h_T and o_1..o_T for xs of shape (T, D) or (T, B, D) (section 2.1, unrolled).

        h0: the initial state, (H,) or (B, H), an array or a Tensor (zeros when None). perturb / perturb_o:
        {t: array} added to h_t / o_t (t 1-based), for finite differences of ∇_{h_t}L and ∇_{o_t}L.
        """
        seq = validate_sequences(xs, input_size=self.input_size, where="RNN.forward")
        self.trace = self._unroll(seq, h0, perturb, perturb_o, "RNN.forward")
        return self.trace.h, self.trace.o

    def loss(self, xs, ys, h0=None, perturb=None, *, perturb_o=None) -> Tensor:
        """L = Σ_t L_t, L_t = −Σ_i y_{t,i} log ŷ_{t,i} (section 2.2, appendix A), summed over a batch too.

        ys: class indices (T,) / (T, B) or one-hot rows (T, K) / (T, B, K); for head="linear" the regression
        targets (T, K) / (T, B, K) and L_t = Σ (o_t − y_t)². The nodes of this call stay reachable as `self.trace`.
        """
        seq = validate_sequences(
            xs, ys, input_size=self.input_size, output_size=self.output_size, head=self.head, where="RNN.loss"
        )
        if self.fast and not perturb and not perturb_o:
            return self._fast_loss(seq, h0)
        trace = self._unroll(seq, h0, perturb, perturb_o, "RNN.loss")
        targets = seq.index if seq.index is not None else seq.ys.astype(self.dtype)
        for t, o in enumerate(trace.o, start=1):
            y = targets[t - 1] if seq.batched else targets[t - 1, 0]
            with scope(f"t={t}"):
                yhat, L_t = output_loss(o, y, t, self.head)
            trace.yhat.append(yhat)
            trace.L.append(L_t)
        trace.loss = stack(trace.L).sum()  # L = Σ_t L_t   (2.2)
        trace.loss.name = "L"
        self.trace = trace
        return trace.loss

    def _fast_loss(self, seq: Sequences, h0) -> Tensor:
        """The same L as a lean graph, as fused RNN kernels compute it: W x_t + b for all t in one matmul, then only
        h_t = tanh(a_t + U h_{t−1}) (primitive tanh) in the loop, then c + V h_t for all t in one matmul and one fused
        softmax-cross-entropy node (backward ŷ − y). `trace` keeps h_0, h_1..h_T (as rows) and L."""
        T, B, D = seq.xs.shape
        trace = Trace(
            h0=self.initial_state(h0, (B, self.hidden_size) if seq.batched else (self.hidden_size,), "h_0", "RNN.loss")
        )
        x = Tensor(seq.xs.reshape(T * B, D).astype(self.dtype, copy=False), name="x")
        a = x @ self.W.T + self.b  # W x_t + b for every t: rows (t − 1)·B … t·B − 1 are a_t
        UT, h = self.U.T, trace.h0
        for t in range(1, T + 1):
            with scope(f"t={t}"):
                h = (a[(t - 1) * B : t * B] + h @ UT).tanh()
                h.name = f"h_{t}"
            trace.h.append(h)
        o = concatenate(trace.h) @ self.V.T + self.c  # o_t for every t, rows t·B … t·B + B − 1
        if self.head == "softmax":
            y = seq.index.reshape(T * B) if seq.index is not None else seq.ys.reshape(T * B, -1).astype(self.dtype)
            trace.loss = F.softmax_cross_entropy(o, y)
        else:
            trace.loss = F.mse_loss(o, seq.ys.reshape(T * B, -1).astype(self.dtype), reduction="sum")
        trace.loss.name = "L"
        self.trace = trace
        return trace.loss

    def _unroll(self, seq: Sequences, h0, perturb, perturb_o, where: str) -> Trace:
        T, B, _ = seq.xs.shape
        h_shape = (B, self.hidden_size) if seq.batched else (self.hidden_size,)
        o_shape = (B, self.output_size) if seq.batched else (self.output_size,)
        dh = self._perturbation(perturb, "perturb", "h", T, h_shape, where)
        do = self._perturbation(perturb_o, "perturb_o", "o", T, o_shape, where)
        xs = seq.xs.astype(self.dtype) if seq.batched else seq.xs[:, 0].astype(self.dtype)
        trace = Trace(h0=self.initial_state(h0, h_shape, "h_0", where))
        h = trace.h0
        for t in range(1, T + 1):
            with scope(f"t={t}"):
                x = Tensor(xs[t - 1], name=f"x_{t}")
                h, o = self.step(x, h, dh.get(t))
                if t in do:
                    o = o + Tensor(do[t])
                h.name, o.name = f"h_{t}", f"o_{t}"
            trace.x.append(x)
            trace.h.append(h)
            trace.o.append(o)
        return trace

    def _perturbation(self, perturb, arg: str, sym: str, T: int, shape: tuple, where: str) -> dict:
        if not perturb:
            return {}
        out = {}
        for t, value in perturb.items():
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 1 <= t <= T:
                raise ValueError(f"{where}: {arg} keys must be steps t = 1..{T}, got {t!r}")
            arr = np.asarray(value, dtype=self.dtype)
            if arr.shape != shape:
                raise ValueError(f"{where}: {arg} at t={t} has shape {arr.shape}, but {sym}_{t} has shape {shape}")
            out[int(t)] = arr
        return out
