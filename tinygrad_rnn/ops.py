"""Primitive operations: the derivative table of the engine.

Each primitive is one class. `forward` maps numpy arrays to an array and saves what the derivative needs;
`backward` takes ∂L/∂out and returns ∂L/∂input for every input, in input order, in the output's (broadcast)
shape — `tensor.py` sums each back to its input's shape (unbroadcast), so every backward here is pure calculus.
`needs` tells which inputs want a gradient; a backward may return None for the others. `jvp`, the forward-mode rule,
maps the inputs' tangents da (zeros for an input no primal moves) to the output's tangent: a linear op is its own
forward rule (jvp = forward), an elementwise op's is its backward rule (`elementwise_jvp`), the others have their own.
This module sees arrays only and never imports tensor.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tinygrad_rnn import pieces

# fmt: off
__all__ = [
    "Function", "Grads", "Axis", "elementwise_jvp",
    "Add", "Sub", "Mul", "Div", "Power", "Where",  # elementwise, binary (where: two inputs, a constant condition)
    "Neg", "Pow", "Exp", "Expm1", "Log", "Tanh", "Sigmoid", "Relu", "Abs",  # elementwise, unary
    "MatMul", "Reduction", "Sum", "Mean", "Prod", "Max",  # linear algebra, reductions
    "Reshape", "Transpose", "GetItem", "Stack", "Concatenate", "SoftmaxCrossEntropy",  # shape, fused
]
# fmt: on
Grads = tuple[np.ndarray | None, ...]  # what a backward returns: one gradient (or None) per input, in input order
Axis = int | tuple[int, ...] | None


def elementwise_jvp(fn: Any, *das: np.ndarray) -> np.ndarray:
    """dout = Σ_i (∂out/∂a_i)·da_i for an elementwise op: its Jacobian is diagonal, hence its own transpose, so the
    forward rule is the backward rule applied to each input's tangent (skipping inputs that need no gradient)."""
    return sum(g for i, da in enumerate(das) if (g := fn.backward(da)[i]) is not None)


class Function:
    """Base class of primitives: `name` labels the op in errors and drawings."""

    __slots__ = ("saved", "needs")
    name = "function"

    def __init__(self, needs: tuple[bool, ...] = ()) -> None:
        self.needs = needs
        self.saved: tuple = ()

    def save(self, *values: np.ndarray) -> None:
        self.saved = values


# ---- elementwise, binary (broadcasting) -------------------------------------------------------------------------


class Add(Function):
    """out = a + b                     ∂out/∂a = 1,  ∂out/∂b = 1   forward: dout = da + db"""

    name = "add"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    def backward(self, g: np.ndarray) -> Grads:
        return g, g

    jvp = forward  # linear: applied to the tangents, the op is its own forward rule


class Sub(Function):
    """out = a − b                     ∂out/∂a = 1,  ∂out/∂b = −1   forward: dout = da − db"""

    name = "sub"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    def backward(self, g: np.ndarray) -> Grads:
        return g, (-g if self.needs[1] else None)

    jvp = forward  # linear: applied to the tangents, the op is its own forward rule


class Mul(Function):
    """out = a · b                     ∂out/∂a = b,  ∂out/∂b = a   forward: dout = da·b + a·db"""

    name = "mul"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.save(a, b)
        return a * b

    def backward(self, g: np.ndarray) -> Grads:
        a, b = self.saved
        return (g * b if self.needs[0] else None), (g * a if self.needs[1] else None)

    jvp = elementwise_jvp


class Div(Function):
    """out = a / b                     ∂out/∂a = 1/b,  ∂out/∂b = −a/b² = −out/b   forward: dout = (da − out·db)/b"""

    name = "div"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a / b
        self.save(b, out)
        return out

    def backward(self, g: np.ndarray) -> Grads:
        b, out = self.saved
        ga = g / b
        return (ga if self.needs[0] else None), (-ga * out if self.needs[1] else None)

    jvp = elementwise_jvp


class Power(Function):
    """out = aᵇ (b a tensor too)       ∂out/∂a = b·aᵇ⁻¹ (0 where b = 0),  ∂out/∂b = aᵇ·ln a (0 where a = 0 ≤ b)
    forward:                           dout = b·aᵇ⁻¹·da + aᵇ·ln a·db

    The zeros are PyTorch's: a⁰ = 1 for every a, and 0ᵇ = 0 for every b > 0, so neither moves there — the formulas
    would give 0·∞. For a < 0, ln a is NaN: aᵇ is not differentiable in b there.
    """

    name = "power"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a**b
        self.save(a, b, out)
        return out

    def backward(self, g: np.ndarray) -> Grads:
        a, b, out = self.saved
        with np.errstate(divide="ignore", invalid="ignore"):  # the places masked to 0 may hold inf or NaN
            ga = g * np.where(b == 0, 0.0, b * a ** (b - 1)) if self.needs[0] else None
            gb = g * np.where((a == 0) & (b >= 0), 0.0, out * np.log(a)) if self.needs[1] else None
        return ga, gb

    jvp = elementwise_jvp


class Where(Function):
    """out = a where cond, else b (cond a constant)   ∂out/∂a = 1 where cond, else 0;  ∂out/∂b = 0 where cond, else 1
    forward:                                          dout = da where cond, else db"""

    name = "where"

    def __init__(self, needs: tuple[bool, ...] = (), cond: Any = None) -> None:
        super().__init__(needs)
        self.cond = cond

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(self.cond, a, b)

    def backward(self, g: np.ndarray) -> Grads:
        c = self.cond
        return (np.where(c, g, 0.0) if self.needs[0] else None), (np.where(c, 0.0, g) if self.needs[1] else None)

    jvp = forward  # linear: applied to the tangents, the op is its own forward rule


# ---- elementwise, unary -------------------------------------------------------------------------------------------


class Neg(Function):
    """out = −a                        ∂out/∂a = −1   forward: dout = −da"""

    name = "neg"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return -a

    def backward(self, g: np.ndarray) -> Grads:
        return (-g,)

    jvp = forward  # linear: applied to the tangents, the op is its own forward rule


class Pow(Function):
    """out = aᵖ (p a constant)         ∂out/∂a = p·aᵖ⁻¹   (0 for p = 0, also at a = 0, as PyTorch and autograd)
    forward:                           dout = p·aᵖ⁻¹·da"""

    name = "pow"

    def __init__(self, needs: tuple[bool, ...] = (), p: float = 1.0) -> None:
        super().__init__(needs)
        self.p = p

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.save(a)
        return a**self.p

    def backward(self, g: np.ndarray) -> Grads:
        (a,) = self.saved
        return (g * (self.p * a ** (self.p - 1)) if self.p != 0 else np.zeros_like(g),)

    jvp = elementwise_jvp


class Exp(Function):
    """out = exp(a)                    ∂out/∂a = exp(a) = out   forward: dout = out·da"""

    name = "exp"

    def forward(self, a: np.ndarray) -> np.ndarray:
        out = np.exp(a)
        self.save(out)
        return out

    def backward(self, g: np.ndarray) -> Grads:
        return (g * self.saved[0],)

    jvp = elementwise_jvp


class Expm1(Function):
    """out = exp(a) − 1 (exact for tiny a)   ∂out/∂a = exp(a) = out + 1   forward: dout = (out + 1)·da"""

    name = "expm1"

    def forward(self, a: np.ndarray) -> np.ndarray:
        out = np.expm1(a)
        self.save(out)
        return out

    def backward(self, g: np.ndarray) -> Grads:
        return (g * (self.saved[0] + 1.0),)

    jvp = elementwise_jvp


class Log(Function):
    """out = ln a                      ∂out/∂a = 1/a   forward: dout = da/a"""

    name = "log"

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.save(a)
        return np.log(a)

    def backward(self, g: np.ndarray) -> Grads:
        return (g / self.saved[0],)

    jvp = elementwise_jvp


class Tanh(Function):
    """out = tanh(a)                   ∂out/∂a = 1 − tanh²(a) = 1 − out²   (lecture appendix C)
    forward:                           dout = (1 − out²)·da"""

    name = "tanh"

    def forward(self, a: np.ndarray) -> np.ndarray:
        out = np.tanh(a)
        self.save(out)
        return out

    def backward(self, g: np.ndarray) -> Grads:
        (out,) = self.saved
        return (g * (1.0 - out * out),)

    jvp = elementwise_jvp


class Sigmoid(Function):
    """out = σ(a) = 1/(1 + e⁻ᵃ)        ∂out/∂a = σ(a)(1 − σ(a)) = out(1 − out)   forward: dout = out(1 − out)·da"""

    name = "sigmoid"

    def forward(self, a: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(a))  # e ≤ 1: no overflow, and no cancellation for large negative a
        out = np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        self.save(out)
        return out

    def backward(self, g: np.ndarray) -> Grads:
        (out,) = self.saved
        return (g * out * (1.0 - out),)

    jvp = elementwise_jvp


class Relu(Function):
    """out = max(a, 0)                 ∂out/∂a = 1 where a > 0, else 0   forward: dout = da where a > 0"""

    name = "relu"

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.save(a > 0)
        return np.maximum(a, 0)

    def backward(self, g: np.ndarray) -> Grads:
        return (g * self.saved[0],)

    jvp = elementwise_jvp


class Abs(Function):
    """out = |a|                       ∂out/∂a = sign(a)   (0 at a = 0)   forward: dout = sign(a)·da"""

    name = "abs"

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.save(a)
        return np.abs(a)

    def backward(self, g: np.ndarray) -> Grads:
        return (g * np.sign(self.saved[0]),)

    jvp = elementwise_jvp


# ---- linear algebra -----------------------------------------------------------------------------------------------


class MatMul(Function):
    """out = a @ b                     ∂L/∂a = ∂L/∂out · bᵀ,  ∂L/∂b = aᵀ · ∂L/∂out   forward: dout = da @ b + a @ db

    1-D operands are promoted as numpy does (a vector on the left is a row, on the right a column) and the
    promoted axis is dropped again from the gradient; stacks of matrices broadcast over the leading axes.
    """

    name = "matmul"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.save(a, b)
        return a @ b

    def backward(self, g: np.ndarray) -> Grads:
        a, b = self.saved
        if a.ndim == 2 and b.ndim == 2:  # the common case, matrices: the two products above, nothing to promote
            return (g @ b.T if self.needs[0] else None), (a.T @ g if self.needs[1] else None)
        if a.ndim == 1 and b.ndim == 1:  # inner product: out is a scalar
            return (g * b if self.needs[0] else None), (g * a if self.needs[1] else None)
        a2 = a[None, :] if a.ndim == 1 else a  # (1, n)
        b2 = b[:, None] if b.ndim == 1 else b  # (n, 1)
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = gb = None
        if self.needs[0]:
            ga = g2 @ np.swapaxes(b2, -1, -2)
            if a.ndim == 1:
                ga = ga.reshape(ga.shape[:-2] + ga.shape[-1:])
        if self.needs[1]:
            gb = np.swapaxes(a2, -1, -2) @ g2
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb

    def jvp(self, da: np.ndarray, db: np.ndarray) -> np.ndarray:  # numpy promotes 1-D operands as in forward
        return da @ self.saved[1] + self.saved[0] @ db


# ---- reductions ---------------------------------------------------------------------------------------------------


class Reduction(Function):
    """Base of the reductions: `axis` (None for all, an int or a tuple of ints) and `keepdims`, as in numpy."""

    def __init__(self, needs: tuple[bool, ...] = (), axis: Axis = None, keepdims: bool = False) -> None:
        super().__init__(needs)
        self.axis, self.keepdims = axis, keepdims

    def expand(self, g: np.ndarray, ndim: int) -> np.ndarray:
        """∂L/∂out with the reduced axes put back as length 1, so that it broadcasts against the input."""
        if self.keepdims:
            return g
        return np.expand_dims(g, tuple(range(ndim)) if self.axis is None else self.axis)


class Sum(Reduction):
    """out = Σ_axis a                  ∂out/∂a = 1 (the gradient is copied back along the summed axes)
    forward:                           dout = Σ_axis da"""

    name = "sum"

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.shape = a.shape
        return a.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, g: np.ndarray) -> Grads:
        return (np.broadcast_to(self.expand(g, len(self.shape)), self.shape),)

    jvp = forward  # linear: applied to the tangents, the op is its own forward rule


class Mean(Reduction):
    """out = (1/n) Σ_axis a            ∂out/∂a = 1/n   forward: dout = (1/n) Σ_axis da"""

    name = "mean"

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.shape = a.shape
        out = np.mean(a, axis=self.axis, keepdims=self.keepdims)
        self.n = a.size // max(np.size(out), 1) if a.size else 1
        return out

    def backward(self, g: np.ndarray) -> Grads:
        return (np.broadcast_to(self.expand(g, len(self.shape)) / self.n, self.shape),)

    jvp = forward  # linear: applied to the tangents, the op is its own forward rule


class Prod(Reduction):
    """out = Π_axis a                  ∂out/∂a_i = Π_{j≠i} a_j   (the product of the others: exact at zeros: no ÷)
    forward:                           dout = Σ_axis (Π_{j≠i} a_j)·da_i"""

    name = "prod"

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.save(a)
        return np.prod(a, axis=self.axis, keepdims=self.keepdims)

    def backward(self, g: np.ndarray) -> Grads:
        (a,) = self.saved
        if a.size == 0:
            return (np.zeros(a.shape, dtype=np.result_type(a, g)),)
        axes = tuple(range(a.ndim)) if self.axis is None else tuple(int(i) % a.ndim for i in np.atleast_1d(self.axis))
        keep = tuple(i for i in range(a.ndim) if i not in axes)
        n = int(np.prod([a.shape[i] for i in axes]))
        b = a.transpose(keep + axes).reshape([a.shape[i] for i in keep] + [n])  # the reduced elements on one axis
        ones = np.ones_like(b[..., :1])  # before_i = b_0 ⋯ b_{i−1} and after_i = b_{i+1} ⋯ b_{n−1}, by running products
        before = np.cumprod(np.concatenate([ones, b[..., :-1]], axis=-1), axis=-1)
        after = np.cumprod(np.concatenate([ones, b[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        others = (before * after).reshape([a.shape[i] for i in keep + axes]).transpose(np.argsort(keep + axes))
        return (self.expand(g, a.ndim) * others,)

    def jvp(self, da: np.ndarray) -> np.ndarray:  # backward of ones gives the products of the others
        (others,) = self.backward(np.ones(np.prod(self.saved[0], axis=self.axis, keepdims=self.keepdims).shape))
        return np.sum(others * da, axis=self.axis, keepdims=self.keepdims)


class Max(Reduction):
    """out = max_axis a                ∂out/∂a = 1/m at the m positions that attain the max, else 0
    forward:                           dout = da averaged over the places that attain the max"""

    name = "max"

    def forward(self, a: np.ndarray) -> np.ndarray:
        out = np.max(a, axis=self.axis, keepdims=True)
        self.save(a, out)
        return out if self.keepdims else np.squeeze(out, axis=self.axis)

    def backward(self, g: np.ndarray) -> Grads:
        a, out = self.saved
        hit = a == out
        return (self.expand(g, a.ndim) * hit / np.sum(hit, axis=self.axis, keepdims=True),)

    def jvp(self, da: np.ndarray) -> np.ndarray:
        hit = self.saved[0] == self.saved[1]
        return np.sum(da * hit, axis=self.axis, keepdims=self.keepdims) / np.sum(hit, self.axis, keepdims=self.keepdims)


# ---- shape --------------------------------------------------------------------------------------------------------


class Reshape(Function):
    """out = a viewed with a new shape   ∂L/∂a = ∂L/∂out reshaped back   forward: dout = da reshaped"""

    name = "reshape"

    def __init__(self, needs: tuple[bool, ...] = (), shape: tuple = ()) -> None:
        super().__init__(needs)
        self.shape = shape

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.in_shape = a.shape
        return a.reshape(self.shape)

    def backward(self, g: np.ndarray) -> Grads:
        return (g.reshape(self.in_shape),)

    jvp = forward  # linear: applied to the tangents, the op is its own forward rule


class Transpose(Function):
    """out = a with its axes permuted    ∂L/∂a = ∂L/∂out with the inverse permutation   forward: dout = da permuted"""

    name = "transpose"

    def __init__(self, needs: tuple[bool, ...] = (), axes: tuple[int, ...] | None = None) -> None:
        super().__init__(needs)
        self.axes = axes

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a.transpose(self.axes)

    def backward(self, g: np.ndarray) -> Grads:  # the inverse of axes, counted from 0 (argsort of -1 would be wrong)
        return (g.transpose(None if self.axes is None else np.argsort([ax % g.ndim for ax in self.axes])),)

    jvp = forward  # linear: applied to the tangents, the op is its own forward rule


class GetItem(Function):
    """out = a[index]                  ∂L/∂a = ∂L/∂out scattered back to the indexed places (repeats add up)
    forward:                           dout = da[index]"""

    name = "getitem"

    def __init__(self, needs: tuple[bool, ...] = (), index: Any = None) -> None:
        super().__init__(needs)
        self.index = index

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.shape, self.dtype = a.shape, a.dtype
        return a[self.index]

    def backward(self, g: np.ndarray) -> tuple[Any, ...]:
        if isinstance(self.index, (int, np.integer)):  # a step x_t: a piece, stacked once (T steps: O(T), not O(T²))
            return (pieces.Pieces(self.shape, np.result_type(self.dtype, g.dtype), [(self.index, g)]),)
        out = np.zeros(self.shape, dtype=np.result_type(self.dtype, g.dtype))
        np.add.at(out, self.index, g)  # places indexed twice add up
        return (out,)

    jvp = forward  # linear: applied to the tangents, the op is its own forward rule


class Stack(Function):
    """out = stack(a₁ … aₙ, axis)      ∂L/∂aᵢ = the i-th slice of ∂L/∂out along axis
    forward:                           dout = stack(da₁ … daₙ)"""

    name = "stack"

    def __init__(self, needs: tuple[bool, ...] = (), axis: int = 0) -> None:
        super().__init__(needs)
        self.axis = axis

    def forward(self, *arrays: np.ndarray) -> np.ndarray:
        return np.stack(arrays, axis=self.axis)

    def backward(self, g: np.ndarray) -> Grads:
        return tuple(np.moveaxis(g, self.axis, 0))

    jvp = forward  # linear: applied to the tangents, the op is its own forward rule


class Concatenate(Function):
    """out = concatenate(a₁ … aₙ, axis)  ∂L/∂aᵢ = the i-th block of ∂L/∂out along axis
    forward:                             dout = concatenate(da₁ … daₙ)"""

    name = "concatenate"

    def __init__(self, needs: tuple[bool, ...] = (), axis: int = 0) -> None:
        super().__init__(needs)
        self.axis = axis

    def forward(self, *arrays: np.ndarray) -> np.ndarray:
        self.edges = [0, *itertools.accumulate(a.shape[self.axis] for a in arrays)]
        return np.concatenate(arrays, axis=self.axis)

    def backward(self, g: np.ndarray) -> Grads:
        before = (slice(None),) * (self.axis % g.ndim)  # whole along the axes before `axis`
        return tuple(g[before + (slice(i, j),)] for i, j in zip(self.edges, self.edges[1:]))

    jvp = forward  # linear: applied to the tangents, the op is its own forward rule


# ---- fused --------------------------------------------------------------------------------------------------------


class SoftmaxCrossEntropy(Function):
    """out = −Σ_i y_i log ŷ_i per row, ŷ = softmax(o)     ∂out/∂o = ŷ − y   (appendix A and B fused; Σ_i y_i = 1)
    forward:                                              dout = Σ_i (ŷ_i·Σy − y_i)·do_i per row

    The softmax Jacobian ŷ_j(δ_jk − ŷ_k) times −y_j/ŷ_j collapses to ŷ·Σy − y. The target rows y (one-hot, boolean
    or probabilities, o's shape) are a constant — or a second input that gets no gradient (class indices, as whole
    numbers, become one-hot rows), so that a recording can take new targets. o − max(o) is exact: shift-invariance.
    """

    name = "softmax_cross_entropy"

    def __init__(self, needs: tuple[bool, ...] = (), y: Any = None) -> None:
        super().__init__(needs)
        self.y = y

    def forward(self, o: np.ndarray, y: Any = None) -> np.ndarray:
        y = self.y if y is None else y if y.shape == o.shape else y.astype(np.intp)[..., None] == np.arange(o.shape[-1])
        z = o - o.max(axis=-1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=-1, keepdims=True)
        self.save(np.divide(e, s, out=e), y)  # ŷ (in place: the arrays are as large as the whole output layer)
        z -= np.log(s)  # log ŷ
        return -np.multiply(z, y, out=z).sum(axis=-1)

    def backward(self, g: np.ndarray) -> Grads:
        yhat, y = self.saved
        d = yhat * y.sum(axis=-1, keepdims=True, dtype=yhat.dtype)
        d -= y
        d *= g[..., None]
        return (d,) if len(self.needs) < 2 else (d, None)

    def jvp(self, do: np.ndarray, dy: Any = None) -> np.ndarray:  # targets given as an input carry no tangent
        return np.sum(self.backward(np.ones(do.shape[:-1], do.dtype))[0] * do, axis=-1)
