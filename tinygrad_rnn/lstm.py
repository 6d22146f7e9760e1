"""Gated recurrent models, LSTM and GRU, composed from the engine's primitives (sigmoid, tanh, +, ⊙, @).

Both have the interface of the lecture's `RNN`: `forward(xs, h0=None) -> (hs, os)`, `loss(xs, ys, h0=None)`,
`parameters()`, `save`/`load`, and `trace` with the nodes of the last call. Every node of step t is built inside
`scope(f"t={t}")` (1-based), so a drawing shows one cell per step.

Shapes follow the lecture: one sequence `xs` is (T, D), each x_t a column vector stored as a 1-D array, so W x_t is
`W @ x_t`; a batch `xs` is (T, B, D), each x_t a block of B rows, and W x_t is written `x_t @ Wᵀ`.

The output head is the RNN's: o_t = V h_t + b_y, then `module.output_loss` (softmax + cross-entropy, or linear +
squared error). The output bias is named `b_y`, not the lecture's `c`, because c_t is the LSTM's cell state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinygrad_rnn.lecture import validate_sequences
from tinygrad_rnn.module import Module, output_loss
from tinygrad_rnn.rnn import Trace, _mv, sizes
from tinygrad_rnn.tensor import Tensor, scope, stack


@dataclass
class GatedTrace(Trace):
    """The RNN's trace (x, h0, h, o, yhat, L per step, loss) plus the gates: LSTM adds c0, c, f, i, g, og;
    GRU adds z, r, n. Each list is indexed by t − 1; `trace["h"]` and `trace.h` are the same list."""

    c0: Tensor | None = None
    c: list[Tensor] = field(default_factory=list)
    f: list[Tensor] = field(default_factory=list)
    i: list[Tensor] = field(default_factory=list)
    g: list[Tensor] = field(default_factory=list)
    og: list[Tensor] = field(default_factory=list)
    z: list[Tensor] = field(default_factory=list)
    r: list[Tensor] = field(default_factory=list)
    n: list[Tensor] = field(default_factory=list)


class _Gated(Module):
    """What LSTM and GRU share: sizes, initialisation, the affine maps, the output head and the loss."""

    _gates: tuple[str, ...] = ()

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        seed: int = 0,
        head: str = "softmax",
        dtype=np.float64,
    ) -> None:
        cls = type(self).__name__
        D, H, K = sizes(cls, input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        if head not in ("softmax", "linear"):
            raise ValueError(f"{cls}: unknown output head {head!r}: expected 'softmax' or 'linear'")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"{cls}: dtype must be float32 or float64, got {self.dtype}")
        self.input_size, self.hidden_size, self.output_size = D, H, K
        self.head = head
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(H)  # uniform(−1/√H, 1/√H), the usual initialisation of recurrent layers
        shapes = [(f"{p}_{g}", s) for g in self._gates for p, s in (("W", (H, D)), ("U", (H, H)), ("b", (H,)))]
        shapes += [("V", (K, H)), ("b_y", (K,))]
        for name, shape in shapes:
            value = rng.uniform(-bound, bound, size=shape).astype(self.dtype)
            setattr(self, name, Tensor(value, requires_grad=True, name=name))
        self.param_names = tuple(name for name, _ in shapes)
        self.trace: GatedTrace | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"output_size={self.output_size}, head={self.head!r}, dtype={self.dtype.name})"
        )

    def _pre(self, gate: str, x: Tensor, h: Tensor) -> Tensor:
        """W_gate x_t + U_gate h_{t−1} + b_gate."""
        W, U, b = (getattr(self, f"{p}_{gate}") for p in "WUb")
        return _mv(W, x) + _mv(U, h) + b

    def _output(self, h: Tensor) -> Tensor:
        """o_t = V h_t + b_y."""
        return _mv(self.V, h) + self.b_y

    def _unroll(self, seq, h0, c0, where: str) -> GatedTrace:
        raise NotImplementedError

    def _inputs(self, seq) -> tuple[np.ndarray, tuple[int, ...]]:
        xs = seq.xs.astype(self.dtype) if seq.batched else seq.xs[:, 0].astype(self.dtype)
        B = seq.xs.shape[1]
        return xs, ((B, self.hidden_size) if seq.batched else (self.hidden_size,))

    def forward(self, xs, h0=None) -> tuple[list[Tensor], list[Tensor]]:
        """h_1..h_T and o_1..o_T for xs of shape (T, D) or (T, B, D); h0 (H,) or (B, H), zeros when None."""
        where = f"{type(self).__name__}.forward"
        seq = validate_sequences(xs, input_size=self.input_size, where=where)
        self.trace = self._unroll(seq, h0, where)
        return self.trace.h, self.trace.o

    def loss(self, xs, ys, h0=None) -> Tensor:
        """L = Σ_t L_t (summed over a batch too); L_t = −Σ_i y_{t,i} log ŷ_{t,i} (softmax head) or Σ (o_t − y_t)²
        (linear head). ys as for the RNN: class indices (T,) / (T, B) or one-hot rows; regression targets (T, K) /
        (T, B, K). The nodes of this call stay reachable as `self.trace`."""
        where = f"{type(self).__name__}.loss"
        seq = validate_sequences(
            xs, ys, input_size=self.input_size, output_size=self.output_size, head=self.head, where=where
        )
        trace = self._unroll(seq, h0, where)
        targets = seq.index if seq.index is not None else seq.ys.astype(self.dtype)
        for t, o in enumerate(trace.o, start=1):
            y = targets[t - 1] if seq.batched else targets[t - 1, 0]
            with scope(f"t={t}"):
                yhat, L_t = output_loss(o, y, t, self.head)
            trace.yhat.append(yhat)
            trace.L.append(L_t)
        trace.loss = stack(trace.L).sum()  # L = Σ_t L_t
        trace.loss.name = "L"
        self.trace = trace
        return trace.loss


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

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        seed: int = 0,
        head: str = "softmax",
        dtype=np.float64,
        forget_bias: float = 1.0,
    ) -> None:
        super().__init__(input_size, hidden_size, output_size, seed=seed, head=head, dtype=dtype)
        self.b_f.data[...] = forget_bias
        self.state: tuple[Tensor, Tensor] | None = None

    def forward(self, xs, h0=None, c0=None) -> tuple[list[Tensor], list[Tensor]]:
        """h_1..h_T and o_1..o_T for xs (T, D) or (T, B, D); h0, c0 (H,) or (B, H), zeros when None."""
        return super().forward(xs, (h0, c0))

    def loss(self, xs, ys, h0=None, c0=None) -> Tensor:
        """L = Σ_t L_t (summed over a batch too), as `RNN.loss`; h0, c0 as in `forward`."""
        return super().loss(xs, ys, (h0, c0))

    def _unroll(self, seq, state, where: str) -> GatedTrace:
        h0, c0 = state
        if isinstance(h0, tuple):  # the `state` of a previous call
            if c0 is not None or len(h0) != 2:
                raise ValueError(f"{where}: give the initial state either as h0=(h, c) or as h0=h, c0=c")
            h0, c0 = h0
        xs, shape = self._inputs(seq)
        tr = GatedTrace(h0=self.initial_state(h0, shape, "h_0", where), c0=self.initial_state(c0, shape, "c_0", where))
        h, c = tr.h0, tr.c0
        for t in range(1, len(xs) + 1):
            with scope(f"t={t}"):
                x = Tensor(xs[t - 1], name=f"x_{t}")
                f = self._pre("f", x, h).sigmoid()
                i = self._pre("i", x, h).sigmoid()
                g = self._pre("g", x, h).tanh()
                og = self._pre("og", x, h).sigmoid()
                c = f * c + i * g
                h = og * c.tanh()
                o = self._output(h)
            for key, node in (("x", x), ("f", f), ("i", i), ("g", g), ("og", og), ("c", c), ("h", h), ("o", o)):
                node.name = f"{key}_{t}"
                tr[key].append(node)
        self.state = (h, c)
        return tr


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
    """

    _gates = ("z", "r", "n")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.state: Tensor | None = None

    def _unroll(self, seq, h0, where: str) -> GatedTrace:
        xs, shape = self._inputs(seq)
        tr = GatedTrace(h0=self.initial_state(h0, shape, "h_0", where))
        h = tr.h0
        for t in range(1, len(xs) + 1):
            with scope(f"t={t}"):
                x = Tensor(xs[t - 1], name=f"x_{t}")
                z = self._pre("z", x, h).sigmoid()
                r = self._pre("r", x, h).sigmoid()
                n = (_mv(self.W_n, x) + _mv(self.U_n, r * h) + self.b_n).tanh()
                h = (1.0 - z) * n + z * h
                o = self._output(h)
            for key, node in (("x", x), ("z", z), ("r", r), ("n", n), ("h", h), ("o", o)):
                node.name = f"{key}_{t}"
                tr[key].append(node)
        self.state = h
        return tr
