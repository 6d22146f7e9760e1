"""A recorded graph as a flat numpy program: values in planned buffers, each call `f(*arrays)` with `out=`.

`replay.compile_graph(loss, slots)` turns the graph of one eager call into two lists of instructions, forward and
backward, each an (ufunc or function, argument tuple) pair whose arrays are fixed: buffers allocated once, views
made once.
The steps:
  1. symbols — every value is a `Buf`: a base (storage to plan) or a view of one (reshape, transpose, slice, the
     steps of a split, the slots of a concatenate). Parameters and constants are external arrays, inputs are bases
     copied in at each call. A concatenate's (or stack's) inputs are written straight into its slots.
  2. kernels — `kernels.py` emits each primitive's forward and backward as numpy calls on Bufs (the same
     arithmetic in the same order as `ops.py`, so values agree bit for bit); primitives without a kernel run their
     own Function on arrays and copy the result in.
  3. gradients — each node's gradient is the sum of its shares, in the order the eager walk adds them; a split's
     steps write their gradients into the slots of one buffer (no stack), and the matmul shares Aᵀ·G of a weight
     whose operands tile one buffer become one product (unless exact=True: then the sums are the eager ones).
  4. plan — liveness over the whole program: a buffer is taken from a pool of free ones at its first write and
     returned after its last read; an elementwise op may write into an input that dies there.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from tinygrad_rnn.tensor import Tensor

__all__ = ["Buf", "Compiler", "Program", "plan", "bind"]


class Buf:
    """A value of the program: a base (planned storage, or an external array) or a view of another Buf.

    block: (start, stop) element offsets of a C-contiguous view inside its base (None when strided), used to tell
    that views are neighbours in one buffer."""

    __slots__ = ("shape", "dtype", "src", "view", "block", "external", "array")

    def __init__(self, shape: tuple, dtype: Any, src: Buf | None = None, view: Any = None, block: Any = None,
                 external: Any = None) -> None:  # fmt: skip
        self.shape, self.dtype, self.src, self.view, self.external = tuple(shape), np.dtype(dtype), src, view, external
        self.block = (0, int(np.prod(shape))) if src is None and block is None else block
        self.array: np.ndarray | None = external

    @property
    def base(self) -> Buf:
        b = self
        while b.src is not None:
            b = b.src
        return b

    def resolve(self) -> np.ndarray:
        """The array, once storage is planned: views are made from their source's array, once."""
        if self.array is None:
            assert self.src is not None, "a base is bound by the plan"
            self.array = self.view(self.src.resolve())
            assert isinstance(self.array, np.ndarray), "a view is an array (a numpy scalar would be a frozen copy)"
        return self.array


class Compiler:
    """Builds the symbolic program of one graph; `kernels.py` calls `new`, `view`, `emit`, `out_for`, `share_out`."""

    def __init__(self, exact: bool) -> None:
        self.exact = exact
        self.code: list[tuple[Any, tuple, bool]] = []  # (f, args, elementwise)
        self.value: dict[Tensor, Buf] = {}
        self.hint: dict[Tensor, Buf] = {}  # where a node's value should be written (a slot of a concatenate)
        self.dest: dict[Tensor, Buf] = {}  # where a node's gradient should be written (a step of a split)
        self.shares: dict[Tensor, list] = defaultdict(list)
        self.consumers: dict[Tensor, int] = defaultdict(int)
        self.tanh_factor: dict[Buf, Buf] = {}  # base of tanh outputs → 1 − out², computed once for the whole base
        self.zero_first: list[Buf] = []
        self.slots: dict[Tensor, list[Buf]] = {}  # the slots of each concatenate / stack
        self.saved: dict[Tensor, Any] = {}  # what a kernel's backward needs of its forward
        self.lifetimes: list[tuple[Buf, int, int]] = []  # the plan's: (base, first, last instruction)
        self.handoffs: list[tuple[Buf, Buf]] = []  # (input, output) of an elementwise op written in place

    # -- symbols --
    def new(self, shape: tuple, dtype: Any) -> Buf:
        return Buf(shape, dtype)

    def view(self, src: Buf, fn: Any, shape: tuple, block: Any = None) -> Buf:
        return Buf(shape, src.dtype, src=src, view=fn, block=block)

    def rows(self, src: Buf, start: int, stop: int, shape: tuple) -> Buf:
        """src[start:stop] along the first axis, reshaped to `shape` (a block when src is one)."""
        per = int(np.prod(src.shape[1:]))
        block = None if src.block is None else (src.block[0] + start * per, src.block[0] + stop * per)
        return self.view(src, lambda a: a[start:stop].reshape(shape), shape, block)

    def emit(self, f: Any, *args: Any, elementwise: bool = False) -> None:
        self.code.append((f, args, elementwise))

    def out_for(self, node: Tensor) -> Buf:
        """The buffer a kernel writes node's value into: its slot in a concatenate when it has one, else new."""
        buf = self.hint.pop(node, None)
        return buf if buf is not None else self.new(node.data.shape, node.data.dtype)

    def share_out(self, parent: Tensor, shape: tuple, dtype: Any) -> Buf:
        """Where a kernel writes a fresh share for `parent`: straight into the parent's gradient destination when
        this share is all of the parent's gradient (its one consumer, same shape), else a new buffer."""
        dest = self.dest.get(parent)
        if dest is not None and self.consumers[parent] == 1 and dest.shape == tuple(shape):
            return dest
        return self.new(shape, dtype)

    # -- gradients --
    def total(self, node: Tensor) -> Buf | None:
        """∂L/∂node: the sum of its shares in the order they came (the eager walk's order), into its destination."""
        terms = self.shares.pop(node, [])
        if not terms:
            return None
        pieces = [t for t in terms if type(t) is tuple and t[0] == "piece"]
        if pieces:
            return self._stacked(node, pieces, [t for t in terms if not (type(t) is tuple and t[0] == "piece")])
        dense = [t if isinstance(t, Buf) else self._products(t) for t in self._merged(terms)]
        dest = self.dest.get(node)
        if len(dense) == 1 and (dest is None or dense[0] is dest):
            return dense[0]
        out = dest if dest is not None else self.new(node.data.shape, dense[0].dtype)
        if len(dense) == 1:
            self.emit(np.copyto, out, dense[0])
            return out
        self.emit(np.add, dense[0], dense[1], out, elementwise=True)
        for t in dense[2:]:
            self.emit(np.add, out, t, out, elementwise=True)
        return out

    def _stacked(self, node: Tensor, pieces: list, dense: list) -> Buf:
        """The gradient of a split tensor: its steps' gradients already sit in the slots of one buffer."""
        out = self.dest_of_split(node)
        for _, _i, g, slot in pieces:
            if g is not slot:
                self.emit(np.copyto, slot, g)
        for t in dense:
            g = t if isinstance(t, Buf) else self._products(t)
            self.emit(np.add, out, g, out, elementwise=True)
        return out

    def dest_of_split(self, node: Tensor) -> Buf:
        if node not in self.dest:
            self.dest[node] = self.new(node.data.shape, node.data.dtype)
        return self.dest[node]

    def _merged(self, terms: list) -> list:
        """Runs of matmul shares Aᵢᵀ·Gᵢ whose Aᵢ and Gᵢ are neighbouring blocks of one buffer each: one product."""
        out: list = []
        for t in terms:
            prev = out[-1] if out else None
            if self.exact or not (type(t) is tuple and type(prev) is tuple and prev[0] == t[0] == "aTg"):
                out.append(t if isinstance(t, Buf) else ("aTg", [t[1]], [t[2]]))
                continue
            if _next_to(prev[1][-1], t[1]) and _next_to(prev[2][-1], t[2]):
                prev[1].append(t[1])
                prev[2].append(t[2])
            else:
                out.append(("aTg", [t[1]], [t[2]]))
        return out

    def _products(self, term: tuple) -> Buf:
        """Σᵢ Aᵢᵀ·Gᵢ as one product over the blocks joined."""
        _, As, Gs = term
        A, G = (bs[0] if len(bs) == 1 else _joined(self, bs) for bs in (As, Gs))
        out = self.new((A.shape[-1], G.shape[-1]), np.result_type(A.dtype, G.dtype))
        self.emit(np.matmul, self.view(A, lambda a: a.T, A.shape[::-1]), G, out)
        return out


def _next_to(a: Buf, b: Buf) -> bool:
    """b's block follows or precedes a's in the same base, rows of the same width."""
    if a.block is None or b.block is None or a.base is not b.base or a.shape[1:] != b.shape[1:] or len(a.shape) != 2:
        return False
    return a.block[1] == b.block[0] or b.block[1] == a.block[0]


def _joined(c: Compiler, bufs: list[Buf]) -> Buf:
    lo, hi = min(b.block[0] for b in bufs), max(b.block[1] for b in bufs)
    width = bufs[0].shape[1]
    shape = ((hi - lo) // width, width)
    return c.view(bufs[0].base, lambda a: a.reshape(-1)[lo:hi].reshape(shape), shape, (lo, hi))


# ---- the plan and the program ------------------------------------------------------------------------------------


class Program:
    """The bound program: forward and backward as lists of (f, args) on fixed arrays; the inputs' and the leaves'
    arrays."""

    def __init__(self, forward: list, backward: list, slots: list, loss: np.ndarray, leaves: list,
                 params: list, outputs: list, nbytes: int) -> None:  # fmt: skip
        self.forward, self.backward, self.slots, self.loss = forward, backward, slots, loss
        self.leaves, self.params, self.outputs, self.nbytes = leaves, params, outputs, nbytes
        # the plan, for tests and the curious: (array, first, last instruction) of each planned buffer, and the
        # (input, output) arrays of the elementwise ops written in place
        self.lifetimes: list[tuple[np.ndarray, int, int]] = []
        self.handoffs: list[tuple[np.ndarray, np.ndarray]] = []

    def compute(self, arrays: list[np.ndarray]) -> float:
        """Forward and backward on new inputs: the loss; the leaves' gradients are then in `leaves`' arrays."""
        for buf, a in zip(self.slots, arrays):
            np.copyto(buf, a, casting="unsafe")
        for f, args in self.forward:
            f(*args)
        loss = float(self.loss)
        for f, args in self.backward:
            f(*args)
        return loss

    def run(self, arrays: list[np.ndarray]) -> float:
        loss = self.compute(arrays)
        for leaf, g in self.leaves:  # as the eager walk: a leaf's own copy at first, then added in place
            if leaf.grad is None:
                leaf.grad = np.array(g, dtype=leaf.data.dtype)
            else:
                leaf.grad += g
        return loss


def allocate(size: int, dtype: Any) -> np.ndarray:
    """A planned buffer's storage, uninitialised (every instruction writes before it reads; tests poison it)."""
    return np.empty(size, dtype=dtype)


def plan(c: Compiler, inputs: list[Buf], keep: set) -> int:
    """Storage for every planned base Buf by liveness; returns the bytes allocated. Inputs are written before the
    first instruction, so they live from the start; `keep` (the loss, outputs, leaf gradients) to the end."""
    first: dict[Buf, int] = {b: 0 for b in inputs}
    last: dict[Buf, int] = {}
    for i, (_, args, _) in enumerate(c.code):
        for a in args:
            if isinstance(a, Buf):
                b = a.base
                if b.external is None:
                    first.setdefault(b, i)
                    last[b] = i
    for b in keep:
        if b.base in first:
            last[b.base] = len(c.code)
    for b in inputs:
        last.setdefault(b, 0)
    born: dict[int, list[Buf]] = defaultdict(list)
    dies: dict[int, list[Buf]] = defaultdict(list)
    for b, i in first.items():
        born[i].append(b)
    for b, i in last.items():
        dies[i].append(b)
    # Storage is a flat array that lives as long as the plan: `flat_of` names each base's storage, so the pool and
    # the cache of shaped views are keyed by arrays that own memory (an id() of a throwaway view could be reused by
    # another storage's view, and two live buffers would then share memory).
    free: dict[tuple, list] = defaultdict(list)
    flat_of: dict[Buf, np.ndarray] = {}
    shaped: dict[tuple, np.ndarray] = {}  # one array object per storage and shape, however many Bufs reuse it
    total = 0
    c.handoffs = []
    for i, (_, args, elementwise) in enumerate(c.code):
        if elementwise:  # an input that dies here may hold the output: x = f(x) in place
            for b in [a.base for a in args[:-1] if isinstance(a, Buf)]:
                if b in dies[i] and b.array is not None and b.src is None and b.external is None:
                    out = args[-1]
                    if isinstance(out, Buf) and out.src is None and out.array is None and out.shape == b.shape:
                        free[(b.array.size, b.dtype)].append(flat_of[b])
                        dies[i].remove(b)
                        c.handoffs.append((b, out))
                        break
        for b in born[i]:
            pool = free[(int(np.prod(b.shape)), b.dtype)]
            if pool:
                flat = pool.pop()
            else:
                flat = allocate(int(np.prod(b.shape)), b.dtype)
                total += flat.nbytes
            flat_of[b] = flat
            b.array = shaped.setdefault((id(flat), b.shape), flat.reshape(b.shape))
        for b in dies[i]:
            if b in flat_of:
                free[(flat_of[b].size, b.dtype)].append(flat_of[b])
    c.lifetimes = [(b, first[b], last[b]) for b in first]
    return total


def bind(args: tuple) -> tuple:
    return tuple(a.resolve() if isinstance(a, Buf) else a for a in args)
