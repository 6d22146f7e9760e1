"""The primitives of `ops.py` as numpy calls with `out=` on the planned buffers of `program.py`.

Each forward kernel emits the op's forward arithmetic in the same order as its `forward` (so the values agree bit
for bit) and returns the output Buf; each backward kernel returns one share per input (None where none is needed),
in the output's broadcast shape — `_fit` sums it back to the input's shape, as the eager engine does. A primitive
without a kernel here runs its own Function (`fn.forward`, `fn.backward`) on the arrays and copies the result in:
every graph of primitives replays, the common ones without fresh arrays.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from tinygrad_rnn import ops
from tinygrad_rnn.program import Buf, Compiler
from tinygrad_rnn.tensor import Tensor

__all__ = ["leaves", "prepare", "forward", "backward_all", "FORWARD", "BACKWARD"]

VIEWS = (ops.Reshape, ops.Transpose, ops.GetItem)  # ops whose value is a view of their input


# ---- leaves, and what is decided before the first instruction ------------------------------------------------------


def leaves(c: Compiler, order: list[Tensor], slots: list[Tensor], index: dict) -> list[Buf]:
    """Inputs become bases copied in at each call; parameters and constants stay external arrays; a detach()
    of a node of the graph is that node's value. Returns the inputs' Bufs, in the order of `slots`."""
    slot_bufs = {s: Buf(s.data.shape, s.data.dtype) for s in slots}
    for node in order:
        if node._fn is not None:
            continue
        src = node.detached_from if node.op == "detach" else None
        if node in slot_bufs:
            c.value[node] = slot_bufs[node]
        elif src is None or src not in index:
            c.value[node] = Buf(node.data.shape, node.data.dtype, external=node.data)
    return [slot_bufs[s] for s in slots]


def prepare(c: Compiler, order: list[Tensor], loss: Tensor) -> None:
    """Before emitting: who consumes whom (in the gradient graph), the slots of each concatenate / stack that its
    inputs write straight into, the destinations of the steps of a split, and the bases of tanh outputs."""
    hinted: set[Tensor] = set()
    for node in order:
        for p in node.parents:
            if node.requires_grad and p.requires_grad:
                c.consumers[p] += 1
        fn = node._fn
        if isinstance(fn, (ops.Concatenate, ops.Stack)):
            out = c.new(node.data.shape, node.data.dtype)
            c.hint[node] = out  # the node's own buffer; its inputs' slots below
            c.slots[node] = _slots(c, out, fn, node)
            for p, slot in zip(node.parents, c.slots[node]):
                fits = p._fn is not None and not isinstance(p._fn, VIEWS) and p not in hinted and p is not loss
                if fits and node.parents.count(p) == 1 and p.data.dtype == node.data.dtype:
                    c.hint[p] = slot
                    hinted.add(p)
        if _is_step(fn) and node.parents[0].requires_grad:
            whole = c.dest_of_split(node.parents[0])
            c.dest[node] = c.rows(whole, fn.index, fn.index + 1, node.data.shape)
    for node in order:  # a split's step z_t = a_t + … : the sum's gradient is written where a_t's goes
        if isinstance(node._fn, ops.Add) and node.requires_grad and node not in c.dest:
            for p in node.parents:
                if p in c.dest and c.consumers[p] == 1 and p.data.shape == node.data.shape:
                    c.dest[node] = c.dest[p]
                    break
    _zero_missing_steps(c, order)
    _tanh_bases(c, order)


def _slots(c: Compiler, out: Buf, fn: Any, node: Tensor) -> list[Buf]:
    return _parts(c, out, fn, [p.data.shape for p in node.parents])


def _parts(c: Compiler, whole: Buf, fn: Any, shapes: list[tuple]) -> list[Buf]:
    """The views of `whole` that a concatenate's (or stack's) inputs of `shapes` are: blocks along axis 0."""
    axis = fn.axis % len(whole.shape)
    stack = isinstance(fn, ops.Stack)
    views: list[Buf] = []
    start = 0
    for shape in shapes:
        stop = start + (1 if stack else shape[axis])
        views.append(
            c.rows(whole, start, stop, shape) if axis == 0 else c.view(whole, _part(axis, start, stop, stack), shape)
        )
        start = stop
    return views


def _part(axis: int, start: int, stop: int, stack: bool) -> Callable[[np.ndarray], np.ndarray]:
    def view(a: np.ndarray) -> np.ndarray:
        return np.moveaxis(a, axis, 0)[start] if stack else a[(slice(None),) * axis + (slice(start, stop),)]

    return view


def _zero_missing_steps(c: Compiler, order: list[Tensor]) -> None:
    """A split whose steps do not all receive a gradient: its gradient buffer starts from zeros."""
    seen: dict[Tensor, set] = {}
    for node in order:
        if _is_step(node._fn) and node.parents[0].requires_grad:
            seen.setdefault(node.parents[0], set()).add(node._fn.index if node.requires_grad else -1)
    for parent, got in seen.items():
        if got != set(range(len(parent.data))):
            c.zero_first.append(c.dest_of_split(parent))


def _tanh_bases(c: Compiler, order: list[Tensor]) -> None:
    """A concatenate or stack of tanh outputs: 1 − out² for all of them in one pass, before the backward."""
    for node in order:
        if isinstance(node._fn, (ops.Concatenate, ops.Stack)) and node.requires_grad:
            if all(isinstance(p._fn, ops.Tanh) for p in node.parents) and len(set(node.parents)) == len(node.parents):
                c.tanh_factor[c.hint[node]] = c.new(node.data.shape, node.data.dtype)


# ---- forward ------------------------------------------------------------------------------------------------------


def forward(c: Compiler, node: Tensor) -> Buf:
    fn = node._fn
    ins = [c.value[p] for p in node.parents]
    kernel = FORWARD.get(type(fn))
    vectors = type(fn) is ops.MatMul and any(p.data.ndim != 2 for p in node.parents)  # kernels are for matrices
    if kernel is None or (node.requires_grad and (type(fn) not in BACKWARD or vectors)):
        return _fallback_forward(c, node, ins)
    return kernel(c, node, ins, fn)


def _elementwise(f: Any) -> Callable:
    def kernel(c: Compiler, node: Tensor, ins: list[Buf], fn: Any) -> Buf:
        out = c.out_for(node)
        c.emit(f, *ins, out, elementwise=True)
        return out

    return kernel


def _matmul(c: Compiler, node: Tensor, ins: list[Buf], fn: Any) -> Buf:
    out = c.out_for(node)
    c.emit(np.matmul, ins[0], ins[1], out)
    return out


def _reduce(f: Any) -> Callable:
    def kernel(c: Compiler, node: Tensor, ins: list[Buf], fn: Any) -> Buf:
        out = c.out_for(node)
        c.emit(f, ins[0], fn.axis, None, out, fn.keepdims)
        return out

    return kernel


def _mean(c: Compiler, node: Tensor, ins: list[Buf], fn: Any) -> Buf:
    out = c.out_for(node)
    axis, keepdims = fn.axis, fn.keepdims
    c.emit(lambda a, o: np.mean(a, axis=axis, keepdims=keepdims, out=o), ins[0], out)
    return out


def _reshape(c: Compiler, node: Tensor, ins: list[Buf], fn: Any) -> Buf:
    return _reshaped(c, ins[0], node.data.shape)


def _reshaped(c: Compiler, src: Buf, shape: tuple) -> Buf:
    """src with a new shape: a view of a contiguous block, else a copy made at each call."""
    if src.block is not None:
        return c.view(src, lambda a: a.reshape(shape), shape, src.block)
    out = c.new(shape, src.dtype)
    c.emit(np.copyto, c.view(out, lambda a: a.reshape(src.shape), src.shape), src)
    return out


def _transpose(c: Compiler, node: Tensor, ins: list[Buf], fn: Any) -> Buf:
    axes = fn.axes
    return c.view(ins[0], lambda a: a.transpose(axes), node.data.shape)


def _getitem(c: Compiler, node: Tensor, ins: list[Buf], fn: Any) -> Buf:
    index = fn.index
    basic = (int, slice, type(None), type(Ellipsis), np.integer)
    if (node.requires_grad and not _is_step(fn)) or not all(
        isinstance(i, basic) for i in (index if isinstance(index, tuple) else (index,))
    ):
        return _fallback_forward(c, node, ins)  # its backward is the op's own scatter
    src = ins[0]
    if isinstance(index, (int, np.integer)) and src.block is not None and src.shape:
        i = int(index) % src.shape[0]
        return c.rows(src, i, i + 1, node.data.shape)
    at = (*(index if isinstance(index, tuple) else (index,)), Ellipsis)  # `...`: a[0] of a vector stays a 0-d view
    if sum(i is Ellipsis for i in at) > 1:
        at = at[:-1]
    return c.view(src, lambda a: a[at], node.data.shape)


def _is_step(fn: Any) -> bool:
    """x[t] with a whole number t (on the first axis): a step of x, its gradient a slot of x's."""
    return isinstance(fn, ops.GetItem) and isinstance(fn.index, (int, np.integer)) and bool(fn.index >= 0)


def _joined(c: Compiler, node: Tensor, ins: list[Buf], fn: Any) -> Buf:
    """concatenate / stack: the inputs wrote into their slots already, unless they could not (then: copies)."""
    out = c.hint.pop(node)
    for b, slot in zip(ins, c.slots[node]):
        if b is not slot:
            c.emit(np.copyto, slot, b)
    return out


def _softmax_ce(c: Compiler, node: Tensor, ins: list[Buf], fn: Any) -> Buf:
    """ops.SoftmaxCrossEntropy's forward: z = o − max o, e = exp z, s = Σe, z −= log s, ŷ = e/s (kept); class-index
    targets pick −z[row, y_row] through flat positions (the one-hot rows' value, bit for bit)."""
    o, y = ins[0], (ins[1] if len(ins) > 1 else Buf(fn.y.shape, fn.y.dtype, external=fn.y))
    N, K = int(np.prod(o.shape[:-1])), o.shape[-1]
    dt = node.data.dtype
    m, s = c.new(o.shape[:-1] + (1,), dt), c.new(o.shape[:-1] + (1,), dt)
    z, e = c.new(o.shape, dt), c.new(o.shape, dt)
    c.emit(np.maximum.reduce, o, -1, None, m, True)
    c.emit(np.subtract, o, m, z, elementwise=True)
    c.emit(np.exp, z, e)
    c.emit(np.add.reduce, e, -1, None, s, True)
    c.emit(np.log, s, m)
    c.emit(np.subtract, z, m, z)
    c.emit(np.divide, e, s, e)  # ŷ
    out = c.out_for(node)
    if y.shape != o.shape:  # class indices: −(log ŷ)[row, y_row], picked through flat positions
        rows = Buf((N,), np.intp, external=np.arange(N, dtype=np.intp) * K)
        flat = c.new((N,), np.intp)
        c.emit(np.copyto, flat, c.view(y, lambda a: a.reshape(N), (N,)), "unsafe")
        c.emit(np.add, flat, rows, flat)
        c.emit(np.take, c.view(z, lambda a: a.reshape(-1), (N * K,), z.block), flat, None, c.view(out, _flat, (N,)))
        c.saved[node] = (e, flat, y)
    else:
        c.emit(np.multiply, z, y, z)
        c.emit(np.add.reduce, z, -1, None, out, False)
        c.saved[node] = (e, None, y)
    c.emit(np.negative, out, out)
    return out


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1)


def _fallback_forward(c: Compiler, node: Tensor, ins: list[Buf]) -> Buf:
    fn = copy.copy(node._fn)
    c.saved[node] = fn
    out = c.out_for(node)
    c.emit(_run_forward, fn, out, *ins)
    return out


def _run_forward(fn: Any, out: np.ndarray, *ins: np.ndarray) -> None:
    np.copyto(out, fn.forward(*ins))


FORWARD: dict[type, Callable] = {
    ops.Add: _elementwise(np.add), ops.Sub: _elementwise(np.subtract), ops.Mul: _elementwise(np.multiply),
    ops.Div: _elementwise(np.divide), ops.Neg: _elementwise(np.negative), ops.Exp: _elementwise(np.exp),
    ops.Expm1: _elementwise(np.expm1), ops.Log: _elementwise(np.log), ops.Tanh: _elementwise(np.tanh),
    ops.Abs: _elementwise(np.abs), ops.MatMul: _matmul, ops.Sum: _reduce(np.add.reduce),
    ops.Max: _reduce(np.maximum.reduce), ops.Mean: _mean, ops.Reshape: _reshape, ops.Transpose: _transpose,
    ops.GetItem: _getitem, ops.Concatenate: _joined, ops.Stack: _joined,
    ops.SoftmaxCrossEntropy: _softmax_ce,
}  # fmt: skip


# ---- backward -----------------------------------------------------------------------------------------------------


def backward_all(c: Compiler, order: list[Tensor], loss: Tensor) -> list[tuple[Tensor, Buf]]:
    """The eager walk, emitted once: seed, then for each node in reverse its gradient (the sum of its shares) and
    the shares it hands its parents. Returns each leaf that requires grad with its gradient's Buf."""
    c.shares[loss].append(Buf((), loss.data.dtype, external=np.ones_like(loss.data)))
    for base, factor in c.tanh_factor.items():  # 1 − h² for every tanh output of the base at once
        c.emit(np.multiply, base, base, factor)
        c.emit(np.subtract, 1.0, factor, factor)
    for buf in c.zero_first:
        c.emit(np.copyto, buf, 0.0)
    out: list[tuple[Tensor, Buf]] = []
    for node in reversed(order):
        if not node.requires_grad:
            continue
        G = c.total(node)
        if G is None:
            continue
        if node._fn is None:
            out.append((node, G))
            continue
        ins = [c.value[p] for p in node.parents]
        kernel = BACKWARD.get(type(node._fn))
        if kernel is None or isinstance(c.saved.get(node), ops.Function):
            kernel = _fallback_backward
        for parent, share in zip(node.parents, kernel(c, node, G, ins)):
            if share is not None and parent.requires_grad:
                c.shares[parent].append(_fit(c, share, parent))
    return out


def _fit(c: Compiler, g: Any, parent: Tensor) -> Any:
    """The share summed back to the parent's shape, as tensor._unbroadcast does (the same reductions)."""
    shape = parent.data.shape
    if not isinstance(g, Buf) or g.shape == shape:
        return g
    if len(g.shape) > len(shape):
        lead = tuple(range(len(g.shape) - len(shape)))
        s = c.new(g.shape[len(lead) :], g.dtype)
        c.emit(np.add.reduce, g, lead, None, s, False)
        g = s
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1) if len(g.shape) == len(shape) else ()
    if axes:
        s = c.new(shape, g.dtype)
        c.emit(np.add.reduce, g, axes, None, s, True)
        g = s
    return g


def _unary(rule: Callable) -> Callable:
    """A share G ∘ (something of the input a and output out), written where the parent's gradient goes."""

    def kernel(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
        share = c.share_out(node.parents[0], G.shape, G.dtype)
        rule(c, node, G, ins[0], c.value[node], share)
        return [share]

    return kernel


def _tanh_rule(c: Compiler, node: Tensor, G: Buf, a: Buf, out: Buf, share: Buf) -> None:
    """G · (1 − out²): the factor from the base's one pass when there is one, else computed here."""
    factor = c.tanh_factor.get(out.base) if out.src is not None else None
    if factor is not None:
        view = c.view(factor, _same_view(out), out.shape, out.block)
    else:
        view = c.new(out.shape, out.dtype)
        c.emit(np.multiply, out, out, view, elementwise=True)
        c.emit(np.subtract, 1.0, view, view, elementwise=True)
    c.emit(np.multiply, G, view, share, elementwise=True)


def _times(c: Compiler, G: Buf, f: Any, x: Buf, y: Any, share: Buf) -> None:
    """share = G · f(x[, y]) — the factor in a buffer of its own first, as the eager backward computes it."""
    factor = c.new(x.shape, x.dtype)
    c.emit(f, x, factor, elementwise=True) if y is None else c.emit(f, x, y, factor, elementwise=True)
    c.emit(np.multiply, G, factor, share, elementwise=True)


def _same_view(out: Buf) -> Callable:
    """The view that makes `out` from its base, applied to another array of the base's shape."""
    chain = []
    b = out
    while b.src is not None:
        chain.append(b.view)
        b = b.src
    return lambda a: _apply(reversed(chain), a)


def _apply(views: Any, a: np.ndarray) -> np.ndarray:
    for v in views:
        a = v(a)
    return a


def _add(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    return [G, G]


def _sub(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    if not node.parents[1].requires_grad:
        return [G, None]
    share = c.share_out(node.parents[1], G.shape, G.dtype)
    c.emit(np.negative, G, share, elementwise=True)
    return [G, share]


def _mul(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    shares: list = []
    for i, p in enumerate(node.parents):
        if p.requires_grad:
            share = c.share_out(p, G.shape, G.dtype)
            c.emit(np.multiply, G, ins[1 - i], share, elementwise=True)
            shares.append(share)
        else:
            shares.append(None)
    return shares


def _div(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    a, b = node.parents
    ga = c.share_out(a, G.shape, G.dtype) if a.requires_grad else c.new(G.shape, G.dtype)
    c.emit(np.divide, G, ins[1], ga, elementwise=True)
    if not b.requires_grad:
        return [ga, None]
    gb = c.share_out(b, G.shape, G.dtype)
    c.emit(np.negative, ga, gb, elementwise=True)
    c.emit(np.multiply, gb, c.value[node], gb, elementwise=True)
    return [ga if a.requires_grad else None, gb]


def _matmul_back(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    a, b = ins
    if len(a.shape) != 2 or len(b.shape) != 2:
        return _fallback_backward(c, node, G, ins)
    ga = None
    if node.parents[0].requires_grad:
        ga = c.share_out(node.parents[0], (G.shape[0], b.shape[0]), G.dtype)
        c.emit(np.matmul, G, c.view(b, lambda x: x.T, b.shape[::-1]), ga)
    return [ga, ("aTg", a, G) if node.parents[1].requires_grad else None]


def _expanded(fn: Any, G: Buf, ndim: int) -> Buf:
    axes = tuple(range(ndim)) if fn.axis is None else fn.axis
    shape = G.shape if fn.keepdims else np.expand_dims(np.empty(G.shape, dtype=np.bool_), axes).shape
    return Buf(shape, G.dtype, src=G, view=(lambda a: a) if fn.keepdims else (lambda a: np.expand_dims(a, axes)))


def _sum_back(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    shape = ins[0].shape
    e = _expanded(node._fn, G, len(shape))
    return [c.view(e, lambda a: np.broadcast_to(a, shape), shape)]


def _mean_back(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    shape, n = ins[0].shape, node._fn.n
    e = _expanded(node._fn, G, len(shape))
    d = c.new(e.shape, G.dtype)
    c.emit(np.divide, e, n, d, elementwise=True)
    return [c.view(d, lambda a: np.broadcast_to(a, shape), shape)]


def _reshape_back(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    return [_reshaped(c, G, ins[0].shape)]


def _transpose_back(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    axes = node._fn.axes
    inverse = None if axes is None else tuple(np.argsort([ax % len(G.shape) for ax in axes]))
    return [c.view(G, lambda a: a.transpose(inverse), ins[0].shape)]


def _getitem_back(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    if not _is_step(node._fn):
        return _fallback_backward(c, node, G, ins)
    whole = c.dest_of_split(node.parents[0])
    slot = c.dest.get(node) or c.rows(whole, node._fn.index, node._fn.index + 1, node.data.shape)
    return [("piece", node._fn.index, G, slot)]


def _joined_back(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    return _parts(c, G, node._fn, [b.shape for b in ins])


def _softmax_ce_back(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    """ŷ·Σy − y, times G per row, computed in ŷ's own buffer (nothing else reads ŷ)."""
    e, flat, y = c.saved[node]
    o = ins[0]
    N = int(np.prod(o.shape[:-1]))
    g = c.view(G, lambda a: a[..., None], G.shape + (1,))
    if flat is not None:
        picked = c.new((N,), e.dtype)
        ev = c.view(e, _flat, (e.block[1] - e.block[0],), e.block)
        c.emit(np.take, ev, flat, None, picked)
        c.emit(np.subtract, picked, 1.0, picked)
        c.emit(np.put, ev, flat, picked)
    else:
        total = c.new(o.shape[:-1] + (1,), e.dtype)
        c.emit(np.add.reduce, y, -1, e.dtype, total, True)
        c.emit(np.multiply, e, total, e)
        c.emit(np.subtract, e, y, e)
    c.emit(np.multiply, e, g, e)
    return [e, None][: len(ins)]


def _fallback_backward(c: Compiler, node: Tensor, G: Buf, ins: list[Buf]) -> list:
    """The primitive's own backward on the arrays; its shares copied into planned buffers (shapes from a probe)."""
    fn = c.saved[node]
    probe = fn.backward(np.zeros(G.shape, dtype=G.dtype))
    shares = [None if g is None or not p.requires_grad else c.new(np.shape(g), np.asarray(g).dtype)
              for g, p in zip(probe, node.parents)]  # fmt: skip
    c.emit(_run_backward, fn, len(shares), G, *shares, c.value[node], *ins)
    return shares


def _run_backward(fn: Any, n: int, G: np.ndarray, *outs_and_reads: Any) -> None:
    """The shares of fn.backward copied out (the reads after them keep fn's saved arrays alive in the plan)."""
    for out, g in zip(outs_and_reads[:n], fn.backward(G)):
        if out is not None:
            np.copyto(out, np.asarray(g))


BACKWARD: dict[type, Callable] = {
    ops.Add: _add, ops.Sub: _sub, ops.Mul: _mul, ops.Div: _div, ops.MatMul: _matmul_back,
    ops.Neg: _unary(lambda c, n, G, a, out, s: c.emit(np.negative, G, s, elementwise=True)),
    ops.Exp: _unary(lambda c, n, G, a, out, s: c.emit(np.multiply, G, out, s, elementwise=True)),
    ops.Log: _unary(lambda c, n, G, a, out, s: c.emit(np.divide, G, a, s, elementwise=True)),
    ops.Expm1: _unary(lambda c, n, G, a, out, s: _times(c, G, np.add, out, 1.0, s)),
    ops.Abs: _unary(lambda c, n, G, a, out, s: _times(c, G, np.sign, a, None, s)),
    ops.Tanh: _unary(_tanh_rule), ops.Sum: _sum_back, ops.Mean: _mean_back, ops.Reshape: _reshape_back,
    ops.Transpose: _transpose_back, ops.GetItem: _getitem_back, ops.Concatenate: _joined_back, ops.Stack: _joined_back,
    ops.SoftmaxCrossEntropy: _softmax_ce_back,
}  # fmt: skip
