"""The Tensor node and reverse-mode differentiation over the graph of nodes.

A Tensor wraps a numpy array. Applying a primitive from `ops.py` makes a new node that remembers its op and its
parents (in argument order), so after a forward pass the whole computation exists as a graph: `backward()` walks it
in reverse topological order (iteratively, so a 100,000-node chain is fine) and every node keeps its gradient.
Grad mode, scope, composite and anomaly checking are settings of the calling thread, as in PyTorch.
"""

from __future__ import annotations

import itertools
import operator
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from tinygrad_rnn import ops

__all__ = ["Tensor", "apply", "stack", "concatenate", "split", "where", "topological_order", "no_grad", "scope"]
__all__ += ["composite", "detect_anomaly"]


class _State(threading.local):
    """The settings of one thread: every thread starts with grad on, no scope, no composite, no anomaly checks."""

    grad, anomaly = True, False
    scope: str | None = None
    composite: tuple[tuple[str, int], ...] = ()


_state = _State()
_composite_ids = itertools.count(1)


def _where() -> str:
    return f" at {_state.scope}" if _state.scope else ""


def _as_array(data: Any, dtype: Any = None, fn: str = "Tensor") -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    try:
        arr = np.asarray(data, dtype=dtype)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{fn}: data must be a real number or a (regular) array of them: {e}") from None
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    if arr.dtype == np.float16:  # 3 significant digits: no gradient check can pass; numpy computes in float32 anyway
        raise TypeError(f"{fn}: float16 is not supported (too coarse for gradients); use float32 or float64")
    if arr.dtype.kind != "f":
        raise TypeError(f"{fn}: data must be real numbers; got dtype {arr.dtype}")
    return arr


def _unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient of the broadcast shape back to an input's shape: the one place broadcasting is undone."""
    if g.ndim > len(shape):
        g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1) if g.ndim == len(shape) else ()
    return g.sum(axis=axes, keepdims=True) if axes else g


def _binop(cls: type) -> tuple[Callable[[Tensor, Any], Tensor], Callable[[Tensor, Any], Tensor]]:
    """The operator method a ∘ b and its reflected form b ∘ a (called for `2 * x`) for a binary primitive."""
    return (lambda self, other: _binary(cls, self, other)), (lambda self, other: _binary(cls, other, self))


def _unop(cls: type) -> Callable[[Tensor], Tensor]:
    """The method x.f() for a unary primitive."""
    return lambda self: apply(cls, self)


def _conversion(fn: str, kind: type) -> Callable[[Tensor], Any]:
    """The method t.item(), float(t), int(t) or bool(t): the value of a tensor of one element (numpy's rule)."""

    def convert(self: Tensor) -> Any:
        if self.data.size != 1:
            raise ValueError(f"{fn}{_where()}: needs a tensor of one element, got shape {self.shape} (reduce it first)")
        return kind(self.data.item())

    return convert


def _reduction(cls: type, name: str) -> Callable[..., Tensor]:
    """The method x.sum(axis=None, keepdims=False) (and mean, prod, max) for a reduction primitive."""
    return lambda self, axis=None, keepdims=False: _reduce(self, cls, name, axis, keepdims)


def _comparison(name: str, op: Callable) -> Callable[[Tensor, Any], np.ndarray]:
    """The method for an elementwise comparison: a boolean numpy array of the values, outside the graph."""

    def compare(self: Tensor, other: Any) -> np.ndarray:
        b = other.data if isinstance(other, Tensor) else other
        try:
            return np.asarray(op(self.data, b))
        except (TypeError, ValueError) as e:
            err = TypeError if isinstance(e, TypeError) else ValueError
            raise err(f"{name}{_where()}: cannot compare shape {self.shape} with {np.shape(b)}: {e}") from None

    return compare


class Tensor:
    """A node of the graph: `data` (ndarray), `grad`, and how it was made (`op`, `parents`, `scope`, `composite`).

    `==`, `!=` and hashing are by identity (the package keeps nodes in sets, dicts and lists, where `node in nodes`
    must mean "this node"); `<`, `<=`, `>`, `>=`, `eq()`, `ne()` compare values elementwise into boolean arrays (no
    gradient). `np.asarray(t)`, `float(t)`, `int(t)`, `bool(t)` convert values as numpy does, without gradients.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "op", "parents", "scope", "composite", "_fn", "_src",
                 "__weakref__")  # fmt: skip
    __array_ufunc__ = None  # ndarray ∘ Tensor defers to Tensor's reflected operators
    grad: np.ndarray | None
    op: str | None
    parents: tuple[Tensor, ...]
    scope: str | None
    composite: tuple[tuple[str, int], ...]
    _fn: Any  # the ops.Function that made the node (None for a leaf)
    _src: weakref.ref[Tensor] | None

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None):
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"Tensor: requires_grad must be True or False, got {requires_grad!r}")
        self.data = _as_array(data)
        self.grad, self.requires_grad, self.name = None, bool(requires_grad), name
        self.op, self.parents, self._fn, self._src = None, (), None, None
        self.scope, self.composite = _state.scope, _state.composite

    @classmethod
    def _node(cls, data: Any, fn: Any, parents: tuple, requires_grad: bool, op: str | None = None) -> Tensor:
        t = cls.__new__(cls)
        t.data, t.grad, t.requires_grad, t.name, t._src = data, None, requires_grad, None, None
        t.op, t.parents, t._fn = (fn.name if fn is not None else op), parents, fn
        t.scope, t.composite = _state.scope, _state.composite
        return t

    # ---- plain properties and conversions (values only: no gradient is tracked) ----
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

    item, __float__ = _conversion("item", float), _conversion("float", float)
    __int__, __bool__ = _conversion("int", int), _conversion("bool", bool)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """np.asarray(t): the values (copied only if asked or converted). Outside the graph: no gradient flows."""
        return np.array(self.data, dtype=dtype, copy=copy)

    def __len__(self) -> int:
        if not self.ndim:
            raise TypeError(f"len{_where()}: a 0-d tensor has no length")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    def __contains__(self, value: Any) -> bool:  # `v in t` as numpy: some element equals v
        return bool(np.any(self.data == (value.data if isinstance(value, Tensor) else value)))

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

    def backward(self, grad: Any = None, retain_grads: bool = True) -> None:
        """Fill `.grad` of every node that requires it with ∂self/∂node (∂L/∂node for a loss L): the chain rule.

        In reverse topological order each node hands every parent its share, ∂L/∂node · ∂node/∂parent; a node's
        gradient is the sum of the shares its children handed it. Leaves accumulate across calls (as in PyTorch),
        interior gradients are recomputed. retain_grads=False drops each interior gradient once passed on (leaves
        and `self` keep theirs): less memory, but the graph can no longer be drawn with gradients.
        """
        order = topological_order(self, grad_only=True)
        for node in order:
            if node._fn is not None:
                node.grad = None
        _accumulate(self, _seed(self, grad))
        check = _state.anomaly
        for node in reversed(order):
            if node._fn is None or node.grad is None:
                continue
            node.grad = np.asarray(node.grad)  # a gradient handed back in pieces (ops.Pieces) is put together once
            for parent, g in zip(node.parents, _shares(node, check)):
                if g is not None and parent.requires_grad:
                    _accumulate(parent, _fit(g, parent, node))
            if not retain_grads and node is not self:
                node.grad = None

    # ---- pickling and copying ----
    def __reduce_ex__(self, protocol: Any) -> tuple:
        """pickle and copy: a leaf as itself; an interior node as the flat list of its graph, parents first.

        A flat list needs no recursion: any depth works. Leaves stay objects of their own, so in one dumps (or
        deepcopy) call a shared leaf comes back as one object (a model and its loss stay linked); interior nodes are
        rebuilt per pickled node, and a detach() copy loses its weak link to its source.
        """
        if self._fn is None:
            return _rebuild, (type(self), _fields(self))
        order = topological_order(self)
        at = {node: i for i, node in enumerate(order)}
        flat = [n if n._fn is None else (type(n), _fields(n), n._fn, tuple(at[p] for p in n.parents)) for n in order]
        return _rebuild_graph, (flat,)

    # ---- operators: (method, reflected method) pairs, and unary ops, each one primitive ----
    __add__, __radd__ = _binop(ops.Add)
    __sub__, __rsub__ = _binop(ops.Sub)
    __mul__, __rmul__ = _binop(ops.Mul)
    __truediv__, __rtruediv__ = _binop(ops.Div)
    __matmul__, __rmatmul__ = _binop(ops.MatMul)
    __neg__ = _unop(ops.Neg)
    exp, expm1, log = _unop(ops.Exp), _unop(ops.Expm1), _unop(ops.Log)
    tanh, sigmoid, relu, abs = _unop(ops.Tanh), _unop(ops.Sigmoid), _unop(ops.Relu), _unop(ops.Abs)
    __lt__, __le__ = _comparison("less", np.less), _comparison("less_equal", np.less_equal)
    __gt__, __ge__ = _comparison("greater", np.greater), _comparison("greater_equal", np.greater_equal)
    eq, ne = _comparison("eq", np.equal), _comparison("ne", np.not_equal)  # `==`, `!=`: identity (class docstring)

    def __pow__(self, p: Any) -> Tensor:
        """x ** p: a constant scalar p is the primitive pow; a tensor or array exponent the primitive power."""
        if isinstance(p, Tensor) or np.ndim(p) != 0:
            return _binary(ops.Power, self, p)
        if np.asarray(p).dtype.kind not in "biuf":
            raise TypeError(f"pow{_where()}: the exponent must be a real number or a tensor, got {type(p).__name__}")
        return apply(ops.Pow, self, p=float(p))

    def __rpow__(self, base: Any) -> Tensor:
        return _binary(ops.Power, base, self)

    def __getitem__(self, index: Any) -> Tensor:
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index) if isinstance(index, tuple) else index
        index = index.data if isinstance(index, Tensor) else index
        if isinstance(index, np.ndarray) and index.dtype.kind == "f":
            raise IndexError(f"getitem{_where()}: indices must be integers or booleans, got dtype {index.dtype}")
        try:
            self.data[index]
        except IndexError as e:
            raise IndexError(f"getitem{_where()}: index {index!r} does not fit shape {self.shape}: {e}") from None
        return apply(ops.GetItem, self, index=index)

    # ---- methods named as in numpy (and PyTorch) ----
    sum, mean = _reduction(ops.Sum, "sum"), _reduction(ops.Mean, "mean")
    prod, max = _reduction(ops.Prod, "prod"), _reduction(ops.Max, "max")

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """min = −max(−x): ties split the gradient as max does."""
        _reduce(self, None, "min", axis, keepdims)  # the checks, named min
        with composite("min"):
            return -(-self).max(axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return apply(ops.Reshape, self, shape=shape)

    def transpose(self, *axes: Any) -> Tensor:
        """The axes permuted as numpy does (reversed when none are given); negative axes count from the end."""
        axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        if axes and len(axes) != self.ndim:
            raise ValueError(f"transpose{_where()}: axes {axes} do not permute the {self.ndim} axes of {self.shape}")
        perm = tuple(ax % self.ndim for ax in _axis(self, axes, "transpose")) if axes else None
        return apply(ops.Transpose, self, axes=perm)

    permute = transpose  # PyTorch's name

    def squeeze(self, axis: Any = None) -> Tensor:
        """The axes of length 1 dropped (all, or the ones named): a reshape."""
        return self.reshape(_shape_after(self, "squeeze", lambda a: a.squeeze(axis)))

    def unsqueeze(self, axis: Any) -> Tensor:
        """A new axis of length 1 at `axis` (numpy's expand_dims): a reshape."""
        return self.reshape(_shape_after(self, "unsqueeze", lambda a: np.expand_dims(a, axis)))

    expand_dims = unsqueeze  # numpy's name

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """The axes start_dim..end_dim merged into one (by default all: 1-D), as PyTorch's flatten: a reshape."""
        if self.ndim == 0:
            return self.reshape(1)
        s, e = (_axis(self, (d,), "flatten")[0] % self.ndim for d in (start_dim, end_dim))
        if s > e:
            raise ValueError(f"flatten{_where()}: start_dim {start_dim} comes after end_dim {end_dim} in {self.shape}")
        return self.reshape(self.shape[:s] + (int(np.prod(self.shape[s : e + 1])),) + self.shape[e + 1 :])


_FIELDS = ("data", "grad", "requires_grad", "name", "op", "scope", "composite")
_fields = operator.attrgetter(*_FIELDS)  # a node's fields as a tuple


def _rebuild(cls: type[Tensor], fields: tuple, fn: Any = None, parents: tuple = ()) -> Tensor:
    t = cls.__new__(cls)
    for f, value in zip(_FIELDS, fields):
        setattr(t, f, value)
    t._fn, t.parents, t._src = fn, parents, None
    return t


def _rebuild_graph(flat: list) -> Tensor:
    """The graph from its flat list (parents first, each node's parents as positions in the list); its last node."""
    nodes: list[Tensor] = []
    for r in flat:
        nodes.append(r if isinstance(r, Tensor) else _rebuild(r[0], r[1], r[2], tuple(nodes[i] for i in r[3])))
    return nodes[-1]


def _seed(root: Tensor, grad: Any) -> np.ndarray:
    """∂root/∂root: ones for a scalar, else the given grad (checked against the root's shape)."""
    if not root.requires_grad:
        raise ValueError(
            f"backward() on a tensor that does not require grad (shape {root.shape}): nothing it depends on "
            "has requires_grad=True, so there is no graph to differentiate"
        )
    if grad is None:
        if root.data.size != 1:
            raise ValueError(f"backward() on a non-scalar of shape {root.shape} needs grad= of that shape")
        return np.ones_like(root.data)
    grad = _as_array(grad, dtype=root.dtype, fn="backward(grad)")
    if grad.shape != root.shape:
        raise ValueError(f"backward(grad): grad has shape {grad.shape}, the tensor has shape {root.shape}")
    return grad


def _shares(node: Tensor, check: bool) -> tuple:
    """∂L/∂node · ∂node/∂parent for every parent: the op's backward, checked to give one per input."""
    fn = node._fn
    grads = fn.backward(node.grad)
    if type(grads) is not tuple or len(grads) != len(node.parents):
        got = f"a tuple of {len(grads)}" if type(grads) is tuple else f"{type(grads).__name__} {np.shape(grads)}"
        shapes = ", ".join(str(p.shape) for p in node.parents)
        raise TypeError(
            f"backward of {fn.name}{_at(node)} must return a tuple, one gradient per input ({shapes}): {got}"
        )
    if check and not all(g is None or np.all(np.isfinite(np.asarray(g))) for g in grads):
        raise FloatingPointError(f"backward of {fn.name}{_at(node)} produced NaN/inf")
    return grads


def _fit(g: Any, parent: Tensor, node: Tensor) -> Any:
    """g summed back to the parent's shape (unbroadcast), or a ValueError when it cannot be."""
    if getattr(g, "shape", None) == parent.data.shape:
        return g
    g = _unbroadcast(np.asarray(g), parent.data.shape)  # numpy gives scalars for 0-d results: arrays too
    if g.shape != parent.data.shape:
        raise ValueError(
            f"backward of {node.op}{_at(node)}: a gradient of shape {g.shape} for an input of shape {parent.shape} "
            f"(output shape {node.shape}) does not sum back to the input's shape"
        )
    return g


def _at(node: Tensor) -> str:
    return f" at {node.scope}" if node.scope else ""


def _accumulate(node: Tensor, g: Any) -> None:
    """node.grad += g. A leaf keeps a copy of its own in its dtype (shares may be one array handed to two parents)."""
    if node._fn is not None:
        node.grad = g if node.grad is None else node.grad + g
    elif node.grad is None:
        node.grad = np.array(g, dtype=node.data.dtype)
    else:
        node.grad += np.asarray(g)


def _lift(x: Any, like: Tensor | None = None, fn: str = "Tensor") -> Tensor:
    """x as a Tensor (a constant unless it is one already); a Python scalar takes the dtype of `like`."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float)):
        return Tensor(np.asarray(x, dtype=like.dtype))
    try:
        return Tensor(x)
    except TypeError as e:
        raise TypeError(f"{fn}{_where()}: {e}") from None


def _pair(a: Any, b: Any, fn: str) -> tuple[Tensor, Tensor]:
    return _lift(a, b if isinstance(b, Tensor) else None, fn), _lift(b, a if isinstance(a, Tensor) else None, fn)


def _binary(cls: Any, a: Any, b: Any) -> Tensor:
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        a, b = _pair(a, b, cls.name)
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


def _axis(t: Tensor, axis: Any, op: str, nonempty: bool = False, ndim: int | None = None) -> Any:
    """axis checked for `op`: None, an int, or a tuple (or list) of distinct ints, each in range for t (or ndim)."""
    if axis is None:
        if nonempty and t.data.size == 0:
            raise ValueError(f"{op}{_where()}: the {op} of an empty tensor (shape {t.shape}) is undefined")
        return None
    axes, n = (tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)), t.ndim if ndim is None else ndim
    if any(isinstance(ax, (bool, np.bool_)) or not isinstance(ax, (int, np.integer)) for ax in axes):
        raise TypeError(f"{op}{_where()}: axis must be a whole number or a tuple of whole numbers, got {axis!r}")
    if not all(-n <= ax < n for ax in axes):
        raise ValueError(f"{op}{_where()}: axis {axis!r} is out of range for shape {t.shape}")
    if len(axes) > 1 and len({int(ax) % n for ax in axes}) < len(axes):
        raise ValueError(f"{op}{_where()}: axis {axis!r} names an axis twice (shape {t.shape})")
    if nonempty and any(t.shape[ax] == 0 for ax in axes):
        raise ValueError(f"{op}{_where()}: the {op} over an empty axis is undefined (shape {t.shape}, axis {axis!r})")
    return tuple(int(ax) for ax in axes) if isinstance(axis, (tuple, list)) else int(axis)


def _reduce(t: Tensor, cls: Any, op: str, axis: Any, keepdims: Any) -> Tensor:
    """The reduction `cls` of t over axis (checked; max and min refuse empty axes, as numpy does)."""
    if not isinstance(keepdims, (bool, np.bool_)):
        raise TypeError(f"{op}{_where()}: keepdims must be True or False, got {keepdims!r}")
    axis = _axis(t, axis, op, nonempty=op in ("max", "min"))
    return apply(cls, t, axis=axis, keepdims=bool(keepdims)) if cls is not None else t


def _shape_after(t: Tensor, fn: str, f: Callable[[np.ndarray], np.ndarray]) -> tuple:
    """The shape of f(t.data), a numpy view (nothing is copied); numpy's complaint named as `fn`'s."""
    try:
        return f(t.data).shape
    except (TypeError, ValueError, IndexError, OverflowError) as e:
        err = TypeError if isinstance(e, TypeError) else ValueError
        raise err(f"{fn}{_where()}: {e} (shape {t.shape})") from None


def apply(cls: Any, *parents: Tensor, **params: Any) -> Tensor:
    """Run primitive `cls` forward on the parents' arrays and, unless in no_grad(), record the new node."""
    try:
        needs = tuple([p.requires_grad for p in parents])
    except AttributeError:
        raise TypeError(
            f"{cls.name}{_where()}: inputs must be Tensors, got {[type(p).__name__ for p in parents]}"
        ) from None
    fn = cls(needs, **params) if params else cls(needs)
    try:
        out = fn.forward(*[p.data for p in parents])
    except (ValueError, TypeError, IndexError) as e:
        shapes = ", ".join(str(p.shape) for p in parents)
        err = TypeError if isinstance(e, TypeError) else ValueError
        raise err(f"{fn.name}{_where()}: cannot apply to shapes {shapes}: {e}") from None
    if _state.anomaly and not np.all(np.isfinite(out)):
        bad_in = any(not np.all(np.isfinite(p.data)) for p in parents)
        why = "its input already held NaN/inf" if bad_in else "from finite inputs"
        raise FloatingPointError(f"forward of {fn.name}{_where()} produced NaN/inf ({why})")
    if not _state.grad:
        return Tensor._node(out, None, (), False, op=None)
    requires = True in needs
    if not requires:
        fn.saved = ()  # a constant computation: keep the graph for drawing, drop what backward would need
    return Tensor._node(out, fn, parents, requires)


def _tensors(tensors: Any, fn: str) -> list[Tensor]:
    if not isinstance(tensors, Iterable) or isinstance(tensors, str):
        raise TypeError(f"{fn}{_where()}: expected a sequence of tensors, got {type(tensors).__name__}")
    tensors = [_lift(t, fn=fn) for t in tensors]
    if not tensors:
        raise ValueError(f"{fn}{_where()}: needs one or more tensors, got none")
    return tensors


def stack(tensors: Iterable[Any], axis: int = 0) -> Tensor:
    """out = stack(t₁ … tₙ) along a new axis."""
    tensors = _tensors(tensors, "stack")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"stack{_where()}: needs tensors of equal shape, got {[t.shape for t in tensors]}")
    return apply(ops.Stack, *tensors, axis=_axis(tensors[0], axis, "stack", ndim=tensors[0].ndim + 1))


def concatenate(tensors: Iterable[Any], axis: int = 0) -> Tensor:
    """out = the tensors joined along an existing axis (shapes that do not join: apply's ValueError names them)."""
    tensors = _tensors(tensors, "concatenate")
    return apply(ops.Concatenate, *tensors, axis=_axis(tensors[0], axis, "concatenate"))


def split(x: Tensor) -> list[Tensor]:
    """x₁ … xₙ = x[0] … x[n − 1], the steps of x along its first axis (gradients: pieces.Pieces)."""
    if not isinstance(x, Tensor) or x.ndim == 0:
        raise TypeError(f"split{_where()}: needs a Tensor of at least one axis, got {x!r}")
    return [apply(ops.GetItem, x, index=i) for i in range(len(x))]


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """out = a where cond holds, else b; cond (boolean, or nonzero = true) is a constant; all three broadcast."""
    c = np.asarray(cond.data if isinstance(cond, Tensor) else cond)
    if c.dtype.kind not in "biuf":
        raise TypeError(f"where{_where()}: cond must be boolean (or numbers), got dtype {c.dtype}")
    a, b = _pair(a, b, "where")
    try:
        np.broadcast_shapes(c.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(f"where{_where()}: cond {c.shape}, a {a.shape} and b {b.shape} do not broadcast") from None
    return apply(ops.Where, a, b, cond=c.astype(bool, copy=False))


def topological_order(root: Tensor, grad_only: bool = False) -> list[Tensor]:
    """Every node `root` depends on, parents before children; iterative DFS in argument order (deterministic)."""
    if not isinstance(root, Tensor):
        raise TypeError(f"topological_order: root must be a Tensor, got {type(root).__name__}")
    order: list[Tensor] = []
    seen: set[Tensor] = set()  # nodes hash (and compare) by identity
    stack_ = [(root, False)]
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
    """`with _setting(key, value):` sets this thread's setting `key` inside and restores it after (cheap: a class)."""

    def __init__(self, key: str, value: Any):
        self.key, self.value = key, value

    def __enter__(self) -> None:
        self.old = getattr(_state, self.key)
        setattr(_state, self.key, self.value)

    def __exit__(self, *exc: Any) -> None:
        setattr(_state, self.key, self.old)


def no_grad() -> _setting:
    """Inside, ops compute values only: no graph is recorded and nothing requires grad (in this thread)."""
    return _setting("grad", False)


def scope(label: str) -> _setting:
    """Label the nodes built inside (e.g. scope("t=3")); scopes nest, their labels joined with "/"."""
    outer = _state.scope
    return _setting("scope", f"{outer}/{label}" if outer else str(label))


def composite(name: str) -> _setting:
    """Record that the nodes built inside belong to one call of the composite function `name` (e.g. softmax)."""
    return _setting("composite", _state.composite + ((name, next(_composite_ids)),))


def detect_anomaly() -> _setting:
    """Inside, the first op whose forward or backward yields NaN/inf raises FloatingPointError naming it."""
    return _setting("anomaly", True)
