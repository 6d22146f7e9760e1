"""The lecture's Elman RNN (section 2.1), unrolled through time on the autodiff engine.

    h_t = tanh(b + W x_t + U h_{t−1}),   o_t = c + V h_t,   ŷ_t = softmax(o_t),   L = Σ_t L_t(y_t, ŷ_t)

Every node of step t is built inside `scope("t=<t>")` (1-based, as in the lecture) and carries the lecture's name:
x_t, h_t, o_t, ŷ_t, L_t; h_0 and the total loss L sit outside the steps; the parameters are W, U, V, b, c. After
`loss(...).backward()` every one of these nodes holds its gradient — ∇_{h_t}L is `rnn.trace.h[t-1].grad`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_rnn import functional as F
from tinygrad_rnn import ops
from tinygrad_rnn.module import Recurrent, Trace, matvec
from tinygrad_rnn.tensor import Tensor, apply, concatenate, scope, split

__all__ = ["RNN", "spectral_radius_of"]


def spectral_radius_of(M: np.ndarray) -> float:
    """ρ(M) = max |λ_i(M)|, the largest modulus of an eigenvalue (section 3.1)."""
    return float(np.max(np.abs(np.linalg.eigvals(M))))


class RNN(Recurrent):
    """h_t = tanh(b + W x_t + U h_{t−1}), o_t = c + V h_t, ŷ_t = softmax(o_t) (lecture, section 2.1).

    W (H×D) maps the input to the hidden state, U (H×H) the previous hidden state, V (K×H) the hidden state to the
    output; b (H) and c (K) are biases. Initial values: W, U, V normal with variance 1/fan-in, b = c = 0, from
    `np.random.default_rng(seed)`; `spectral_radius=ρ` rescales U so that max|λ(U)| = ρ (section 3.1).
    `tanh="composed"` builds tanh from exp and arithmetic so a drawing shows its inside; "primitive" is one node.
    `head="linear"` replaces softmax/cross-entropy by ŷ_t = o_t and L_t = Σ (o_t − y_t)² (regression).
    `fast=True` makes `loss` build a lean graph of the same L (see `_fast_loss`): for speed, not for the slide.
    `RNN.from_arrays(W=…, U=…, V=…, b=…, c=…)` builds one from given weights (sizes read off, shapes checked).
    """

    W: Tensor
    U: Tensor
    V: Tensor
    b: Tensor
    c: Tensor

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        seed: int = 0,
        spectral_radius: float | None = None,
        dtype: Any = np.float64,
        tanh: str = "primitive",
        head: str = "softmax",
        fast: bool = False,
    ) -> None:
        super().__init__(input_size, hidden_size, output_size, head=head, dtype=dtype)
        if tanh not in ("primitive", "composed"):
            raise ValueError(f"RNN: tanh must be 'primitive' or 'composed', got {tanh!r}")
        if fast and tanh != "primitive":
            raise ValueError(f"RNN: fast=True uses the primitive tanh; tanh={tanh!r} is for the lecture graph")
        self.tanh, self.fast = tanh, bool(fast)
        D, H, K = self.input_size, self.hidden_size, self.output_size
        rng = np.random.default_rng(seed)
        W = rng.normal(0.0, 1.0 / np.sqrt(D), (H, D))
        U = rng.normal(0.0, 1.0 / np.sqrt(H), (H, H))
        V = rng.normal(0.0, 1.0 / np.sqrt(H), (K, H))
        if spectral_radius is not None:
            rho = float(spectral_radius)
            if not np.isfinite(rho) or rho < 0:
                raise ValueError(f"RNN: spectral_radius must be a finite number ≥ 0, got {spectral_radius!r}")
            U *= rho / spectral_radius_of(U)
            if not np.all(np.isfinite(U)):
                raise ValueError(f"RNN: spectral_radius={rho:g} makes U overflow; give a radius of a sensible size")
        self._make_parameters({"W": W, "U": U, "V": V, "b": np.zeros(H), "c": np.zeros(K)})

    @classmethod
    def shape_spec(cls, **options: Any) -> dict[str, str]:
        return {"W": "HD", "U": "HH", "V": "KH", "b": "H", "c": "K"}

    def config(self) -> dict[str, Any]:
        return super().config() | {"tanh": self.tanh, "fast": self.fast}

    def _repr_options(self) -> dict[str, Any]:
        return {"tanh": self.tanh} | ({"fast": True} if self.fast else {})

    # ---- one step: the equations of section 2.1 ------------------------------------------------------------------

    def cell(self, x: Tensor, state: tuple[Tensor, ...]) -> dict[str, Tensor]:
        """h_t = tanh(b + W x_t + U h_{t−1})."""
        (h_prev,) = state
        a = self.b + matvec(self.W, x) + matvec(self.U, h_prev)
        return {"h": a.tanh() if self.tanh == "primitive" else F.tanh(a)}

    def output(self, h: Tensor) -> Tensor:
        """o_t = c + V h_t (ŷ_t = softmax(o_t) is the output head, in `loss`)."""
        return self.c + matvec(self.V, h)

    # ---- the fast graph ------------------------------------------------------------------------------------------

    def loss(self, xs: Any, ys: Any, h0: Any = None, perturb: Any = None, **kw: Any) -> Tensor:
        """L = Σ_t L_t as `Recurrent.loss`; with fast=True (and no perturbation) built as the lean graph."""
        if self.fast and not perturb and not kw.get("perturb_o") and kw.get("mask") is None:
            reduction = kw.pop("reduction", "sum")
            if kw:
                raise TypeError(f"RNN.loss (fast): unexpected keyword(s) {', '.join(kw)}")
            return self._fast_loss(xs, ys, h0, reduction)
        return super().loss(xs, ys, h0, perturb, **kw)

    def _fast_loss(self, xs: Any, ys: Any, h0: Any, reduction: str) -> Tensor:
        """The same L as a lean graph, as fused RNN kernels compute it: W x_t + b for all t in one matmul, split into
        its steps, then only h_t = tanh(a_t + U h_{t−1}) (primitive tanh) in the loop, then c + V h_t for all t in
        one matmul and one fused softmax-cross-entropy node (backward ŷ − y). The inputs and the targets are leaves of
        the graph (Tensors given stay themselves, so `replay` can feed new ones). `trace` keeps h_0, h_1..h_T (as
        rows), the logits of every step as the rows of `trace.fused["o"]`, and L."""
        where = "RNN.loss"
        seq = self._sequences(xs, ys, where)
        if reduction not in ("sum", "mean"):
            raise ValueError(f"{where}: reduction must be 'sum' or 'mean', got {reduction!r}")
        self.check_parameters(where)
        T, B, D = seq.xs.shape
        trace = Trace(self.step_keys, seq.batched)
        (h,) = self._initial(h0, None, self._state_shape(B if seq.batched else None), where)
        trace.initial = {"h": h}
        x = xs if isinstance(xs, Tensor) else Tensor(seq.xs.astype(self.dtype, copy=False), name="x")
        a = x.reshape(T * B, D) @ self.W.T + self.b  # W x_t + b for every t: rows (t − 1)·B … t·B − 1 are a_t
        UT = self.U.T
        for t, a_t in enumerate(split(a.reshape(T, B, self.hidden_size)), start=1):
            with scope(f"t={t}"):
                h = (a_t + h @ UT).tanh()
                h.name, a_t.scope = f"h_{t}", h.scope  # a_t, split off before the loop, belongs to step t
            trace.steps["h"].append(h)
        o = concatenate(trace.h) @ self.V.T + self.c  # o_t for every t, rows (t − 1)·B … t·B − 1
        trace.fused["o"] = o
        K, y = self.output_size, ys if isinstance(ys, Tensor) else self._targets(seq)
        if self.head == "softmax" and isinstance(y, Tensor):  # the targets a leaf: the fused loss takes them as input
            loss = apply(
                ops.SoftmaxCrossEntropy, o, y.reshape(T * B) if seq.labels is not None else y.reshape(T * B, K)
            )
            loss = loss.sum()
        elif self.head == "softmax":
            loss = F.softmax_cross_entropy(o, y.reshape(T * B) if seq.labels is not None else y.reshape(T * B, K))
        else:
            loss = F.mse_loss(o, y.reshape(T * B, K), reduction="sum")
        if reduction == "mean":
            loss = loss * (1.0 / (T * B))
        loss.name = "L"
        trace.loss = loss
        self.trace = trace
        self.state = h
        return loss
