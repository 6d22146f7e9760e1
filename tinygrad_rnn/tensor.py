"""The Tensor node and reverse-mode differentiation over the graph of nodes.

A Tensor wraps a numpy array. Applying a primitive from `ops.py` makes a new node that remembers its op and its
parents (in argument order), so after a forward pass the whole computation exists as a graph: `backward()` walks it
in reverse topological order (iteratively, so a 100,000-node chain is fine) and every node keeps its gradient.
"""

from __future__ import annotations

import itertools
import weakref

import numpy as np

from tinygrad_rnn import ops

_state = {"grad": True, "scope": None, "composite": (), "anomaly": False}
_composite_ids = itertools.count(1)


def _where() -> str:
    return f" at {_state['scope']}" if _state["scope"] else ""


def _as_array(data, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    try:
        arr = np.asarray(data, dtype=dtype)
    except (ValueError, TypeError) as e:
        raise TypeError(f"Tensor data must be a real number or a (regular) array of them: {e}") from None
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    if arr.dtype.kind != "f":
        raise TypeError(f"Tensor data must be real numbers; got dtype {arr.dtype}")
    return arr


def _unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient of the broadcast shape back to an input's shape: the one place broadcasting is undone."""
    if g.ndim > len(shape):
        g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _binop(cls):
    """The operator method a ∘ b and its reflected form b ∘ a (called for `2 * x`) for a binary primitive."""
    return (lambda self, other: _binary(cls, self, other)), (lambda self, other: _binary(cls, other, self))


def _unop(cls):
    """The method x.f() for a unary primitive."""
    return lambda self: apply(cls, self)


class Tensor:
    """A node of the graph: `data` (ndarray), `grad`, and how it was made (`op`, `parents`, `scope`, `composite`)."""

    __slots__ = ("data", "grad", "requires_grad", "name", "op", "parents", "scope", "composite", "_fn", "_src")
    __slots__ += ("__weakref__",)
    __array_ufunc__ = None  # ndarray ∘ Tensor defers to Tensor's reflected operators

    def __init__(self, data, requires_grad: bool = False, name: str | None = None):
        self.data = _as_array(data)
        self.grad, self.requires_grad, self.name = None, bool(requires_grad), name
        self.op, self.parents, self._fn, self._src = None, (), None, None
        self.scope, self.composite = _state["scope"], _state["composite"]

    @classmethod
    def _node(cls, data, fn, parents, requires_grad, op=None) -> Tensor:
        t = cls.__new__(cls)
        t.data, t.grad, t.requires_grad, t.name, t._src = data, None, requires_grad, None, None
        t.op, t.parents, t._fn = (fn.name if fn is not None else op), parents, fn
        t.scope, t.composite = _state["scope"], _state["composite"]
        return t

    # ---- plain properties ----
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)
    T = property(lambda self: self.transpose())

    @property
    def detached_from(self) -> Tensor | None:
        """The node this one is a detach() copy of (held weakly, so a detached state does not keep a graph alive)."""
        return self._src() if self._src is not None else None

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return self.data.item()

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        made = f", op={self.op}" if self.op else ""
        name = f"{self.name!r}, " if self.name else ""
        return f"Tensor({name}shape={self.shape}{made}, requires_grad={self.requires_grad})"

    # ---- graph ----
    def detach(self) -> Tensor:
        """The same values as a new leaf: no gradient flows back through it (truncated BPTT cuts here)."""
        t = Tensor._node(self.data, None, (), False, op="detach")
        t.name, t._src = self.name, weakref.ref(self)
        return t

    def zero_grad(self) -> None:
        self.grad = None

    def backward(self, grad=None, retain_grads: bool = True) -> None:
        """Fill `.grad` of every node that requires it with ∂self/∂node (∂L/∂node for a loss L).

        retain_grads=False drops each interior gradient once it has been passed on (leaves and `self` keep
        theirs), as PyTorch does by default: less memory, but the graph can no longer be drawn with gradients.
        """
        if not self.requires_grad:
            raise ValueError(
                f"backward() on a tensor that does not require grad (shape {self.shape}): nothing it depends on "
                "has requires_grad=True, so there is no graph to differentiate"
            )
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward() on a non-scalar of shape {self.shape} needs grad= of that shape")
            grad = np.ones_like(self.data)
        else:
            grad = _as_array(grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward(grad): grad has shape {grad.shape}, the tensor has shape {self.shape}")
        order = topological_order(self, grad_only=True)
        for node in order:
            if node._fn is not None:
                node.grad = None  # interior gradients are recomputed; leaves accumulate across calls
        owned: set[int] = set()  # interior nodes whose .grad is a sum made here: further gradients add in place
        _accumulate(self, grad, owned)
        check, GetItem = _state["anomaly"], ops.GetItem
        for node in reversed(order):
            fn = node._fn
            if fn is None or node.grad is None:
                continue
            if type(fn) is GetItem and node.parents[0].requires_grad:  # scatter: O(slice), not O(whole parent)
                parent = node.parents[0]
                if parent.grad is None and parent._fn is not None:  # a fresh zero-filled array: the parent's own
                    (parent.grad,) = fn.backward(node.grad)
                    owned.add(id(parent))
                elif _owns(parent, node.grad, owned):
                    fn.add_to(parent.grad, node.grad)
                else:
                    _propagate(node, fn, check, owned)
            else:
                _propagate(node, fn, check, owned)
            if not retain_grads and node is not self:
                node.grad = None

    # ---- operators: (method, reflected method) pairs, and unary ops, each one primitive ----
    __add__, __radd__ = _binop(ops.Add)
    __sub__, __rsub__ = _binop(ops.Sub)
    __mul__, __rmul__ = _binop(ops.Mul)
    __truediv__, __rtruediv__ = _binop(ops.Div)
    __matmul__, __rmatmul__ = _binop(ops.MatMul)
    __neg__ = _unop(ops.Neg)
    exp, expm1, log = _unop(ops.Exp), _unop(ops.Expm1), _unop(ops.Log)
    tanh, sigmoid, relu, abs = _unop(ops.Tanh), _unop(ops.Sigmoid), _unop(ops.Relu), _unop(ops.Abs)

    def __pow__(self, p):
        if isinstance(p, Tensor) or np.ndim(p) != 0:
            raise TypeError("pow takes a constant scalar exponent; for a tensor exponent write exp(b * log(a))")
        return apply(ops.Pow, self, p=float(p))

    def __getitem__(self, index):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index) if isinstance(index, tuple) else index
        index = index.data if isinstance(index, Tensor) else index
        if isinstance(index, np.ndarray) and index.dtype.kind == "f":
            raise IndexError(f"getitem{_where()}: indices must be integers or booleans, got dtype {index.dtype}")
        try:
            self.data[index]
        except IndexError as e:
            raise IndexError(f"getitem{_where()}: index {index!r} does not fit shape {self.shape}: {e}") from None
        return apply(ops.GetItem, self, index=index)

    # ---- methods named as in numpy ----
    def sum(self, axis=None, keepdims=False):
        return apply(ops.Sum, self, axis=_axis(self, axis, "sum"), keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return apply(ops.Mean, self, axis=_axis(self, axis, "mean"), keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        if self.data.size == 0:
            raise ValueError(f"max{_where()}: the maximum of an empty tensor (shape {self.shape}) is undefined")
        return apply(ops.Max, self, axis=_axis(self, axis, "max"), keepdims=keepdims)

    def reshape(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return apply(ops.Reshape, self, shape=shape)

    def transpose(self, *axes):
        axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return apply(ops.Transpose, self, axes=axes or None)


def _propagate(node: Tensor, fn, check: bool, owned: set) -> None:
    """The chain rule at one node: hand ∂L/∂node · ∂node/∂parent to every parent that requires grad."""
    for parent, g in zip(node.parents, fn.backward(node.grad)):
        if g is None or not parent.requires_grad:
            continue
        if check and not np.all(np.isfinite(g)):
            raise FloatingPointError(f"backward of {fn.name}{_at(node)} produced NaN/inf")
        if g.shape != parent.data.shape:
            g = _unbroadcast(g, parent.data.shape)
        if parent.grad is None and parent._fn is not None:
            parent.grad = g  # the common case, inline: an interior node's first gradient, taken as it is
        else:
            _accumulate(parent, g, owned)


def _at(node: Tensor) -> str:
    return f" at {node.scope}" if node.scope else ""


def _owns(node: Tensor, g: np.ndarray, owned: set) -> bool:
    """May g be added into node.grad in place? Yes for a leaf's own copy and for a sum this backward made."""
    mine = node._fn is None or id(node) in owned
    return mine and node.requires_grad and node.grad is not None and node.grad.dtype == g.dtype


def _accumulate(node: Tensor, g: np.ndarray, owned: set) -> None:
    if node._fn is None:  # a leaf: own a writable copy in the leaf's dtype, then add in place
        if node.grad is None:
            node.grad = np.array(g, dtype=node.data.dtype)
        else:
            node.grad += g
    elif node.grad is None:  # interior: take the first gradient as it is (it may be shared with a sibling)
        node.grad = g
    elif _owns(node, g, owned):
        node.grad += g
    else:  # the second gradient: add out of place, once; the sum is this node's own buffer from now on
        node.grad = node.grad + g
        owned.add(id(node))


def _lift(x, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float)):  # a Python scalar takes the other operand's dtype
        return Tensor(np.asarray(x, dtype=like.dtype))
    return Tensor(x)


def _binary(cls, a, b) -> Tensor:
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        a, b = _lift(a, b if isinstance(b, Tensor) else None), _lift(b, a if isinstance(a, Tensor) else None)
    if cls is ops.MatMul:
        return _matmul(a, b)
    if a.data.shape != b.data.shape:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"{cls.name}{_where()}: shapes {a.shape} and {b.shape} do not broadcast") from None
    return apply(cls, a, b)


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    sa, sb = a.data.shape, b.data.shape
    if not sa or not sb:
        raise ValueError(f"matmul{_where()}: {sa} @ {sb} — operands must have at least one dimension")
    inner_a, inner_b = sa[-1], sb[-2] if len(sb) > 1 else sb[0]
    if inner_a != inner_b:
        raise ValueError(f"matmul{_where()}: {sa} @ {sb} — inner dimensions {inner_a} and {inner_b} differ")
    if len(sa) > 2 or len(sb) > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ValueError(f"matmul{_where()}: {sa} @ {sb} — stack dimensions do not broadcast") from None
    return apply(ops.MatMul, a, b)


def _axis(t: Tensor, axis, op: str):
    if axis is None:
        return None
    axes = axis if isinstance(axis, tuple) else (axis,)
    for ax in axes:
        if not -t.ndim <= ax < t.ndim:
            raise ValueError(f"{op}{_where()}: axis {ax} is out of range for shape {t.shape}")
    return axis


def apply(cls, *parents: Tensor, **params) -> Tensor:
    """Run primitive `cls` forward on the parents' arrays and, unless in no_grad(), record the new node."""
    needs = tuple([p.requires_grad for p in parents])
    fn = cls(needs, **params) if params else cls(needs)
    try:
        out = fn.forward(*[p.data for p in parents])
    except (ValueError, TypeError, IndexError) as e:
        shapes = ", ".join(str(p.shape) for p in parents)
        raise ValueError(f"{fn.name}{_where()}: cannot apply to shapes {shapes}: {e}") from None
    if _state["anomaly"] and not np.all(np.isfinite(out)):
        bad_in = any(not np.all(np.isfinite(p.data)) for p in parents)
        why = "its input already held NaN/inf" if bad_in else "from finite inputs"
        raise FloatingPointError(f"forward of {fn.name}{_where()} produced NaN/inf ({why})")
    if not _state["grad"]:
        return Tensor._node(out, None, (), False, op=None)
    requires = True in needs
    if not requires:
        fn.saved = ()  # a constant computation: keep the graph for drawing, drop what backward would need
    return Tensor._node(out, fn, parents, requires)


def stack(tensors, axis: int = 0) -> Tensor:
    """out = stack(t₁ … tₙ) along a new axis."""
    tensors = [_lift(t) for t in tensors]
    if not tensors or any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"stack{_where()}: needs one or more tensors of equal shape, got {[t.shape for t in tensors]}")
    return apply(ops.Stack, *tensors, axis=axis)


def concatenate(tensors, axis: int = 0) -> Tensor:
    """out = the tensors joined along an existing axis (shapes that do not join: apply's ValueError names them)."""
    tensors = [_lift(t) for t in tensors]
    return apply(ops.Concatenate, *tensors, axis=_axis(tensors[0], axis, "concatenate") if tensors else axis)


def topological_order(root: Tensor, grad_only: bool = False) -> list[Tensor]:
    """Every node `root` depends on, parents before children; iterative DFS in argument order (deterministic)."""
    order, seen, stack_ = [], set(), [(root, False)]  # nodes hash by identity: Tensor defines no __eq__
    push, pop, mark = stack_.append, stack_.pop, seen.add
    while stack_:
        node, expanded = pop()
        if expanded:
            order.append(node)
        elif node not in seen:
            mark(node)
            push((node, True))
            for p in reversed(node.parents):
                if (p.requires_grad or not grad_only) and p not in seen:
                    push((p, False))
    return order


class _setting:
    """`with _setting(key, value):` sets _state[key] inside and restores the old value after (a class: cheap)."""

    def __init__(self, key: str, value):
        self.key, self.value = key, value

    def __enter__(self):
        self.old, _state[self.key] = _state[self.key], self.value

    def __exit__(self, *exc):
        _state[self.key] = self.old


def no_grad():
    """Inside, ops compute values only: no graph is recorded and nothing requires grad."""
    return _setting("grad", False)


def scope(label: str):
    """Label the nodes built inside (e.g. scope("t=3")); scopes nest, their labels joined with "/"."""
    outer = _state["scope"]
    return _setting("scope", f"{outer}/{label}" if outer else str(label))


def composite(name: str):
    """Record that the nodes built inside belong to one call of the composite function `name` (e.g. softmax)."""
    return _setting("composite", _state["composite"] + ((name, next(_composite_ids)),))


def detect_anomaly():
    """Inside, the first op whose forward or backward yields NaN/inf raises FloatingPointError naming it."""
    return _setting("anomaly", True)
