"""Gated recurrent models, LSTM and GRU, composed from the engine's primitives (sigmoid, tanh, +, ⊙, @).

Both are `module.Recurrent` models like the lecture's `RNN`: `forward(xs, h0=None) -> (hs, os)`, `loss(xs, ys,
h0=None)`, `step(x, state)`, `chunks`, `parameters()`, `save`/`load`, `from_arrays`, `state`, and `trace` with the
nodes of the last call (the gates too). Every node of step t is built inside
`scope(f"t={t}")` (1-based), so a drawing shows one cell per step.

Shapes follow the lecture: one sequence `xs` is (T, D), each x_t a column vector stored as a 1-D array, so W x_t is
`W @ x_t`; a batch `xs` is (T, B, D), each x_t a block of B rows, and W x_t is written `x_t @ Wᵀ`.

The output head is the RNN's: o_t = V h_t + b_y, then `module.output_loss` (softmax + cross-entropy, or linear +
squared error). The output bias is named `b_y`, not the lecture's `c`, because c_t is the LSTM's cell state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_rnn.module import Recurrent, matvec
from tinygrad_rnn.tensor import Tensor

__all__ = ["LSTM", "GRU"]


class _Gated(Recurrent):
    """What LSTM and GRU share: per gate W_g (H×D), U_g (H×H), b_g (H); the output layer V (K×H), b_y (K);
    uniform(−1/√H, 1/√H) initialisation."""

    _gates: tuple[str, ...] = ()
    V: Tensor
    b_y: Tensor

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        seed: int = 0,
        head: str = "softmax",
        dtype: Any = np.float64,
    ) -> None:
        super().__init__(input_size, hidden_size, output_size, head=head, dtype=dtype)
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(self.hidden_size)  # uniform(−1/√H, 1/√H), the usual initialisation of recurrent layers
        arrays = {}
        for name, shape in self._parameter_shapes().items():
            arrays[name] = rng.uniform(-bound, bound, size=shape).astype(self.dtype)
        self._make_parameters(arrays)

    @classmethod
    def shape_spec(cls, **options: Any) -> dict[str, str]:
        spec = {f"{p}_{g}": s for g in cls._gates for p, s in (("W", "HD"), ("U", "HH"), ("b", "H"))}
        return spec | {"V": "KH", "b_y": "K"}

    def _pre(self, gate: str, x: Tensor, h: Tensor) -> Tensor:
        """W_gate x_t + U_gate h_{t−1} + b_gate."""
        W, U, b = (getattr(self, f"{p}_{gate}") for p in "WUb")
        return matvec(W, x) + matvec(U, h) + b

    def output(self, h: Tensor) -> Tensor:
        """o_t = V h_t + b_y."""
        return matvec(self.V, h) + self.b_y


class LSTM(_Gated):
    """c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t,  h_t = og_t ⊙ tanh(c_t)  (Hochreiter & Schmidhuber 1997; forget gate: Gers
    et al. 2000).

        f_t  = σ(W_f x_t + U_f h_{t−1} + b_f)         forget gate       node "f_t"
        i_t  = σ(W_i x_t + U_i h_{t−1} + b_i)         input gate        node "i_t"
        g_t  = tanh(W_g x_t + U_g h_{t−1} + b_g)      candidate cell    node "g_t"
        og_t = σ(W_og x_t + U_og h_{t−1} + b_og)      output gate       node "og_t"
        c_t  = f_t ⊙ c_{t−1} + i_t ⊙ g_t              cell state        node "c_t"
        h_t  = og_t ⊙ tanh(c_t)                       hidden state      node "h_t"
        o_t  = V h_t + b_y                            output layer      node "o_t"

    The output gate is "og" because "o_t" is the output layer, as in the lecture's RNN; inputs are "x_t", the initial
    states "h_0" and "c_0". Parameters, in order: W_f U_f b_f W_i U_i b_i W_g U_g b_g W_og U_og b_og V b_y (W_* H×D,
    U_* H×H, b_* H, V K×H, b_y K), uniform(−1/√H, 1/√H) from `seed`, except b_f = `forget_bias` (1 by default: the
    cell starts out remembering, Jozefowicz et al. 2015).

    The cell state: `forward(xs, h0=None, c0=None)` / `loss(xs, ys, h0=None, c0=None)`; h0 may also be the pair
    (h, c). c_1..c_T are in `trace.c`; `state` is (h_T, c_T) of the last call, to carry into the next chunk of a
    long sequence (truncated BPTT: `lstm.forward(chunk, tuple(s.detach() for s in lstm.state))`).
    """

    _gates = ("f", "i", "g", "og")
    b_f: Tensor
    state_keys = ("h", "c")
    step_keys = ("f", "i", "g", "og", "c", "h")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        seed: int = 0,
        head: str = "softmax",
        dtype: Any = np.float64,
        forget_bias: float = 1.0,
    ) -> None:
        super().__init__(input_size, hidden_size, output_size, seed=seed, head=head, dtype=dtype)
        self.b_f.data[...] = forget_bias

    def forward(  # type: ignore[override]  # c0 is the third positional argument, as in LSTM(xs, h0, c0)
        self, xs: Any, h0: Any = None, c0: Any = None, perturb: Any = None, *, perturb_o: Any = None
    ) -> tuple[list[Tensor], list[Tensor]]:
        """h_1..h_T and o_1..o_T for xs (T, D) or (T, B, D); h0, c0 (H,) or (B, H), zeros when None."""
        return super().forward(xs, h0, perturb, perturb_o=perturb_o, c0=c0)

    def loss(  # type: ignore[override]  # c0 is the third positional argument
        self, xs: Any, ys: Any, h0: Any = None, c0: Any = None, perturb: Any = None, **kw: Any
    ) -> Tensor:
        """L = Σ_t L_t (summed over a batch too), as `RNN.loss`; h0, c0 as in `forward`."""
        return super().loss(xs, ys, h0, perturb, c0=c0, **kw)

    def cell(self, x: Tensor, state: tuple[Tensor, ...]) -> dict[str, Tensor]:
        h, c = state
        f = self._pre("f", x, h).sigmoid()
        i = self._pre("i", x, h).sigmoid()
        g = self._pre("g", x, h).tanh()
        og = self._pre("og", x, h).sigmoid()
        c = f * c + i * g
        return {"f": f, "i": i, "g": g, "og": og, "c": c, "h": og * c.tanh()}


class GRU(_Gated):
    """h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}  (Cho et al. 2014; z_t = 1 keeps the state, as in PyTorch).

        z_t = σ(W_z x_t + U_z h_{t−1} + b_z)              update gate       node "z_t"
        r_t = σ(W_r x_t + U_r h_{t−1} + b_r)              reset gate        node "r_t"
        n_t = tanh(W_n x_t + U_n (r_t ⊙ h_{t−1}) + b_n)   candidate state   node "n_t"
        h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}             hidden state      node "h_t"
        o_t = V h_t + b_y                                 output layer      node "o_t"

    With z_t = 0 and r_t = 1 the cell is the lecture's h_t = tanh(b + W x_t + U h_{t−1}). Parameters, in order:
    W_z U_z b_z W_r U_r b_r W_n U_n b_n V b_y, uniform(−1/√H, 1/√H) from `seed`. h_0 is zeros unless given;
    `state` is h_T of the last call.

    variant="torch" is PyTorch's form, the reset gate applied after the recurrent product and its bias:
        n_t = tanh(W_n x_t + b_n + r_t ⊙ (U_n h_{t−1} + bh_n))    (one more parameter, bh_n, after b_y)
    so that `to_torch()` / `GRU.from_torch` map it to `torch.nn.GRU` exactly. The default stays Cho et al.'s.
    """

    _gates = ("z", "r", "n")
    W_n: Tensor
    U_n: Tensor
    b_n: Tensor
    bh_n: Tensor
    step_keys = ("z", "r", "n", "h")
    spec_options = ("variant",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        seed: int = 0,
        head: str = "softmax",
        dtype: Any = np.float64,
        variant: str = "cho",
    ) -> None:
        if variant not in ("cho", "torch"):
            raise ValueError(f"GRU: variant must be 'cho' (Cho et al. 2014) or 'torch' (PyTorch's), got {variant!r}")
        self.variant = variant
        super().__init__(input_size, hidden_size, output_size, seed=seed, head=head, dtype=dtype)

    @classmethod
    def shape_spec(cls, **options: Any) -> dict[str, str]:
        spec = super().shape_spec()
        return spec | {"bh_n": "H"} if options.get("variant") == "torch" else spec

    def config(self) -> dict[str, Any]:
        return super().config() | {"variant": self.variant}

    def _repr_options(self) -> dict[str, Any]:
        return {"variant": self.variant} if self.variant != "cho" else {}

    def cell(self, x: Tensor, state: tuple[Tensor, ...]) -> dict[str, Tensor]:
        (h,) = state
        z = self._pre("z", x, h).sigmoid()
        r = self._pre("r", x, h).sigmoid()
        if self.variant == "torch":
            n = (matvec(self.W_n, x) + self.b_n + r * (matvec(self.U_n, h) + self.bh_n)).tanh()
        else:
            n = (matvec(self.W_n, x) + matvec(self.U_n, r * h) + self.b_n).tanh()
        return {"z": z, "r": r, "n": n, "h": (1.0 - z) * n + z * h}
