"""Forward mode on the same graph as reverse mode: Jacobian-vector products, Hessian-vector products, their check.

    jvp(f, primals, tangents) -> (out, J·v)          the shape of torch.func.jvp
    hvp(f, primals, v)        -> (value, H·v)        the shape of torch.autograd.functional.hvp

**How jvp works.** f runs once, as it is, on the ordinary engine, with the primals as leaves that require grad, so the
engine records the graph (and every op saves what its derivative needs). Then the tangents are pushed through the
recorded nodes in topological order, parents before children: each node's tangent is its op's forward rule
(`ops.<Op>.jvp`, beside `backward` in the derivative table) applied to its parents' tangents, using the values the op
saved. This was chosen over running the rules alongside the forward pass because f and `tensor.py` stay untouched
(no second implementation of every Tensor method), and because the tangents then live on the very nodes that hold
the gradients after `backward()`: `tangent_annotations` draws both on one picture. The price is the graph held in
memory, as in reverse mode; the forward mode that needs no graph at all — memory independent of the sequence
length — is real-time recurrent learning, written out for the lecture RNN in `rtrl.py`.

**How hvp works: forward-over-reverse** (Pearlmutter 1994). H·v is the directional derivative of the gradient,
d/dε ∇f(x + εv) at ε = 0, so the backward walk is run on pairs (g, dg): g = ∂f/∂node as usual and dg its tangent.
Each op's backward is linear in g, so d(backward(g)) = backward(dg) + (the op's second derivative)·g·da — for a linear
op (add, reshape, getitem, sum, …) the second term is 0; for the others it is the small second-order table below
(`SECOND_ORDER`: ∂²out contracted with g and the inputs' tangents). One forward pass, one tangent sweep and one
dual backward walk: the cost of about three gradients, whatever the number of parameters. Reverse-over-forward
would have to record the forward tangents as a differentiable graph — the jvp rules written on Tensors — which the
array-only derivative table does not do; forward-over-reverse needs only arrays.

Neither function touches any `.grad`: the dual backward walk keeps its gradients to itself. `hvpcheck` is the
second-order sibling of `gradcheck`: H·v against central differences of the gradient, and H symmetric.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tinygrad_rnn import ops
from tinygrad_rnn.annotations import Annotation, Annotations
from tinygrad_rnn.fmt import array_text
from tinygrad_rnn.inputs import function, real, whole_number
from tinygrad_rnn.tensor import Tensor, _setting, _unbroadcast, topological_order

__all__ = ["jvp", "hvp", "push_tangents", "gradient", "hvpcheck", "tangent_annotations", "LINEAR", "SECOND_ORDER"]

Tangents = dict[Tensor, np.ndarray]  # node -> its tangent (the nodes hash by identity)


# ---- pushing tangents through a recorded graph ----------------------------------------------------------------------


def push_tangents(root: Tensor, seeds: Mapping[Tensor, Any]) -> Tangents:
    """The tangent of every node of root's graph that depends on a seeded node, parents before children.

    seeds: {node: tangent} (usually leaves; a tangent has its node's shape). Each node's tangent is its op's forward
    rule applied to its parents' tangents (zeros for a parent that depends on no seed), broadcast to the node's shape.
    Nodes that depend on no seed are left out (their tangent is 0).
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"push_tangents: root must be a Tensor, got {type(root).__name__}")
    dot: Tangents = {}
    for node, t in seeds.items():
        arr = np.asarray(t, dtype=node.dtype)
        if arr.shape != node.shape:
            raise ValueError(f"push_tangents: the tangent of a node of shape {node.shape} has shape {arr.shape}")
        dot[node] = arr
    for node in topological_order(root):
        fn = node._fn
        if fn is None or node in dot or not any(p in dot for p in node.parents):
            continue
        rule = getattr(fn, "jvp", None)
        if rule is None:
            raise TypeError(f"jvp: the primitive {fn.name} has no forward rule (ops.{type(fn).__name__}.jvp)")
        t = np.asarray(rule(*[dot[p] if p in dot else np.zeros_like(p.data) for p in node.parents]), dtype=node.dtype)
        if t.shape != node.shape:  # a tangent of an input's shape: broadcast once, here (forward twin of unbroadcast)
            try:
                t = np.broadcast_to(t, node.shape)
            except ValueError:
                where = f" at {node.scope}" if node.scope else ""
                raise ValueError(
                    f"jvp of {fn.name}{where}: a tangent of shape {t.shape} for an output of shape {node.shape}"
                ) from None
        dot[node] = t
    return dot


def _leaves(primals: Any, fn: str) -> list[Tensor]:
    """Fresh leaves that require grad, one per primal (an array, or a Tensor whose values and name are taken)."""
    if isinstance(primals, (Tensor, np.ndarray)):
        primals = (primals,)
    if not isinstance(primals, (tuple, list)):
        raise TypeError(f"{fn}: primals must be a tuple of arrays or Tensors, got {type(primals).__name__}")
    if not primals:
        raise ValueError(f"{fn}: needs at least one primal, got none")
    leaves = []
    for i, p in enumerate(primals):
        try:
            leaf = Tensor(p.data if isinstance(p, Tensor) else p, requires_grad=True)
        except TypeError as e:
            raise TypeError(f"{fn}: primal {i}: {e}") from None
        leaf.name = p.name if isinstance(p, Tensor) else None
        leaves.append(leaf)
    return leaves


def _directions(v: Any, leaves: list[Tensor], fn: str, what: str) -> list[np.ndarray]:
    """One tangent per primal, each of its primal's shape, in its dtype."""
    if isinstance(v, (Tensor, np.ndarray)):
        v = (v,)
    if not isinstance(v, (tuple, list)) or len(v) != len(leaves):
        got = f"{len(v)}" if isinstance(v, (tuple, list)) else f"a {type(v).__name__}"
        raise ValueError(f"{fn}: {len(leaves)} primal(s) need as many {what}, one per primal; got {got}")
    out = []
    for i, (t, leaf) in enumerate(zip(v, leaves)):
        arr = np.asarray(t.data if isinstance(t, Tensor) else t)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{fn}: {what} {i} must hold real numbers, got dtype {arr.dtype}")
        if arr.shape != leaf.shape:
            raise ValueError(f"{fn}: primal {i} has shape {leaf.shape} but its {what[:-1]} has shape {arr.shape}")
        out.append(arr.astype(leaf.dtype))
    return out


def _run(f: Callable, leaves: list[Tensor], fn: str, scalar: bool = False) -> Tensor:
    """f(*leaves) with the graph recorded (also inside no_grad), checked to be a Tensor (a scalar for hvp)."""
    function(fn, "f", f)
    with _setting("grad", True):
        out = f(*leaves)
    if not isinstance(out, Tensor):
        raise TypeError(f"{fn}: f must return a Tensor, got {type(out).__name__}")
    if scalar and out.size != 1:
        raise ValueError(f"{fn}: f must return a scalar (one element), got shape {out.shape}")
    return out


def jvp(f: Callable[..., Tensor], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Tensor, np.ndarray]:
    """(f(x), J_f(x)·v): f's output (a Tensor, its graph recorded) and its directional derivative along v.

    primals x and tangents v: tuples of arrays or Tensors, v_i of x_i's shape (as `torch.func.jvp`); f maps Tensors
    to a Tensor. Forward mode: one evaluation of f, then one sweep of the forward rules through its graph.
    """
    leaves = _leaves(primals, "jvp")
    vs = _directions(tangents, leaves, "jvp", "tangents")
    out = _run(f, leaves, "jvp")
    dot = push_tangents(out, dict(zip(leaves, vs)))
    return out, np.array(dot[out]) if out in dot else np.zeros_like(out.data)


# ---- forward-over-reverse -------------------------------------------------------------------------------------------


def _dual_backward(root: Tensor, dot: Tangents) -> tuple[Tangents, Tangents]:
    """(g, dg) for every node: g = ∂root/∂node by the ops' backward rules, dg its tangent along the pushed `dot`.

    The backward walk on pairs: backward is linear in g, so d backward(g) = backward(dg) + second-order term.
    """
    g: Tangents = {root: np.ones_like(root.data)}
    dg: Tangents = {}
    for node in reversed(topological_order(root, grad_only=True)):
        fn = node._fn
        if fn is None or node not in g:
            continue
        back = fn.backward(g[node])
        dback = fn.backward(dg[node]) if node in dg else (None,) * len(node.parents)
        curv = _second_order(node, g[node], dot)
        for i, parent in enumerate(node.parents):
            if not parent.requires_grad or back[i] is None:
                continue
            _add(g, parent, back[i])
            for piece in (dback[i], curv[i]):
                if piece is not None:
                    _add(dg, parent, piece)
    return g, dg


def _add(acc: Tangents, node: Tensor, x: Any) -> None:
    x = _unbroadcast(np.asarray(x), node.shape)
    acc[node] = acc[node] + x if node in acc else x


def _second_order(node: Tensor, g: np.ndarray, dot: Tangents) -> tuple[Any, ...]:
    """Σ_j g·∂²out/∂a_i∂a_j·da_j for every input a_i (None where nothing moves): the op's second-order term."""
    fn, parents = _op(node), node.parents
    nothing = (None,) * len(parents)
    kind = type(fn)
    if kind in LINEAR or not any(p in dot for p in parents):
        return nothing
    rule = SECOND_ORDER.get(kind)
    if rule is None:
        raise TypeError(f"hvp: the primitive {fn.name} has no second-order rule (forward.SECOND_ORDER)")
    return rule(node, g, *[dot[p] if p in dot else np.zeros_like(p.data) for p in parents])


def gradient(f: Callable[..., Tensor], primals: Sequence[Any]) -> tuple[Tensor, tuple[np.ndarray, ...]]:
    """(f(x), ∇f(x)): reverse mode for a scalar f, one array per primal; no `.grad` anywhere is touched."""
    leaves = _leaves(primals, "gradient")
    out = _run(f, leaves, "gradient", scalar=True)
    g, _ = _dual_backward(out, {}) if out.requires_grad else ({}, {})
    return out, tuple(np.array(g[x]) if x in g else np.zeros_like(x.data) for x in leaves)


def hvp(f: Callable[..., Tensor], primals: Sequence[Any], v: Sequence[Any]) -> tuple[Tensor, tuple[np.ndarray, ...]]:
    """(f(x), H(x)·v), H the Hessian of the scalar f: one array per primal (as `torch.autograd.functional.hvp`).

    Exact, by forward-over-reverse: the tangent along v of the backward walk (see the module docstring).
    """
    leaves = _leaves(primals, "hvp")
    vs = _directions(v, leaves, "hvp", "directions")
    out = _run(f, leaves, "hvp", scalar=True)
    if not out.requires_grad:  # f does not depend on its arguments: H = 0
        return out, tuple(np.zeros_like(x.data) for x in leaves)
    _, dg = _dual_backward(out, push_tangents(out, dict(zip(leaves, vs))))
    return out, tuple(np.array(dg[x]) if x in dg else np.zeros_like(x.data) for x in leaves)


# ---- the second-order table: Σ_j g·∂²out/∂a_i∂a_j·da_j, in the output's (broadcast) shape -------------------------
# Read from the node's values (its inputs' and its own), not from what the op saved, so the table does not depend
# on the ops' internals. Linear ops have no second derivative; piecewise-linear ones (relu, abs, max) have 0 away
# from their kinks, which is the derivative their backward rules use too.

LINEAR = {ops.Add, ops.Sub, ops.Neg, ops.Where, ops.Sum, ops.Mean, ops.Reshape, ops.Transpose, ops.GetItem}
LINEAR |= {ops.Stack, ops.Concatenate, ops.Relu, ops.Abs, ops.Max}


def _op(node: Tensor) -> Any:
    """The op object that made an interior node (its parameters: p, axis, y …)."""
    return node._fn


def _values(node: Tensor) -> list[np.ndarray]:
    return [p.data for p in node.parents] + [node.data]


def _bilinear(node: Tensor, g: np.ndarray, da: np.ndarray, db: np.ndarray) -> tuple[Any, ...]:
    """a·b and a @ b are bilinear: their second-order term is their backward with (da, db) in place of (a, b)."""
    fn = type(_op(node))((True, True))
    fn.save(da, db)
    return fn.backward(g)


def _div(node: Tensor, g: np.ndarray, da: np.ndarray, db: np.ndarray) -> tuple[Any, ...]:
    """out = a/b: ∂²/∂a² = 0, ∂²/∂a∂b = −1/b², ∂²/∂b² = 2a/b³ = 2·out/b²."""
    _, b, out = _values(node)
    return -g * db / b**2, g * (2.0 * out * db - da) / b**2


def _times(d: np.ndarray, h: np.ndarray) -> np.ndarray:
    """d·h, and 0 wherever d = 0 (an input that does not move contributes nothing, even where h is inf or NaN)."""
    return np.where(d == 0, 0.0, d * h)


def _power(node: Tensor, g: np.ndarray, da: np.ndarray, db: np.ndarray) -> tuple[Any, ...]:
    """out = aᵇ: ∂²/∂a² = b(b−1)aᵇ⁻², ∂²/∂a∂b = aᵇ⁻¹(1 + b ln a), ∂²/∂b² = aᵇ ln²a (0 where backward has its 0s)."""
    a, b, out = _values(node)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a = np.log(a)
        haa = np.where(b == 0, 0.0, b * (b - 1) * a ** (b - 2))
        still = (a == 0) & (b >= 0)  # 0ᵇ = 0 does not move in b (backward's convention)
        hab = np.where(still, 0.0, a ** (b - 1) * (1 + b * log_a))
        hbb = np.where(still, 0.0, out * log_a * log_a)
        return g * (_times(da, haa) + _times(db, hab)), g * (_times(da, hab) + _times(db, hbb))


def _pow(node: Tensor, g: np.ndarray, da: np.ndarray) -> tuple[Any, ...]:
    """out = aᵖ: ∂²/∂a² = p(p−1)aᵖ⁻² (0 for p = 0 and p = 1)."""
    p, a = _op(node).p, node.parents[0].data
    return (np.zeros_like(g * da) if p in (0.0, 1.0) else g * da * (p * (p - 1) * a ** (p - 2)),)


def _unary(second: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., tuple[Any, ...]]:
    """The rule of an elementwise out = φ(a), given φ''(a) as a function of (a, out)."""
    return lambda node, g, da: (g * second(node.parents[0].data, node.data) * da,)


def _running(b: np.ndarray, db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exclusive running products c_i = b_0 ⋯ b_{i−1} along the last axis and their tangents (dc_{i+1} = dc_i·b_i +
    c_i·db_i): products of all but some elements, with no division, so exact at zeros."""
    c, dc = np.ones_like(b), np.zeros_like(b)
    for i in range(1, b.shape[-1]):
        c[..., i] = c[..., i - 1] * b[..., i - 1]
        dc[..., i] = dc[..., i - 1] * b[..., i - 1] + c[..., i - 1] * db[..., i - 1]
    return c, dc


def _prod(node: Tensor, g: np.ndarray, da: np.ndarray) -> tuple[Any, ...]:
    """out = Π a: ∂²/∂a_i∂a_j = Π_{k≠i,j} a_k, so the term is g·d(others_i), others_i = before_i·after_i."""
    fn, a = _op(node), node.parents[0].data
    if a.size == 0:
        return (np.zeros_like(a),)
    axes = tuple(range(a.ndim)) if fn.axis is None else tuple(int(i) % a.ndim for i in np.atleast_1d(fn.axis))
    order = tuple(i for i in range(a.ndim) if i not in axes) + axes  # the reduced axes last, as one axis
    lead = [a.shape[i] for i in order[: a.ndim - len(axes)]]
    b, db = (x.transpose(order).reshape(lead + [-1]) for x in (a, da))
    before, dbefore = _running(b, db)
    after, dafter = (x[..., ::-1] for x in _running(b[..., ::-1], db[..., ::-1]))
    dothers = (dbefore * after + before * dafter).reshape([a.shape[i] for i in order]).transpose(np.argsort(order))
    return (fn.expand(g, a.ndim) * dothers,)


def _softmax_cross_entropy(node: Tensor, g: np.ndarray, do: np.ndarray) -> tuple[Any, ...]:
    """out = −Σ y log softmax(o), backward (ŷ·Σy − y)·g: its tangent at fixed g is dŷ·Σy·g, dŷ = ŷ(do − ⟨ŷ, do⟩)."""
    o, y = node.parents[0].data, _op(node).y
    e = np.exp(o - o.max(axis=-1, keepdims=True))
    yhat = e / e.sum(axis=-1, keepdims=True)
    dyhat = yhat * (do - np.sum(yhat * do, axis=-1, keepdims=True))
    return (dyhat * y.sum(axis=-1, keepdims=True, dtype=yhat.dtype) * g[..., None],)


SECOND_ORDER: dict[type, Callable[..., tuple[Any, ...]]] = {
    ops.Mul: _bilinear,
    ops.MatMul: _bilinear,
    ops.Div: _div,
    ops.Power: _power,
    ops.Pow: _pow,
    ops.Exp: _unary(lambda a, out: out),  # (eᵃ)'' = eᵃ
    ops.Expm1: _unary(lambda a, out: out + 1.0),
    ops.Log: _unary(lambda a, out: -1.0 / (a * a)),  # (ln a)'' = −1/a²
    ops.Tanh: _unary(lambda a, out: -2.0 * out * (1.0 - out * out)),  # tanh'' = −2 tanh (1 − tanh²)
    ops.Sigmoid: _unary(lambda a, out: out * (1.0 - out) * (1.0 - 2.0 * out)),  # σ'' = σ(1 − σ)(1 − 2σ)
    ops.Prod: _prod,
    ops.SoftmaxCrossEntropy: _softmax_cross_entropy,
}


# ---- the second-order check ---------------------------------------------------------------------------------------

_ROUNDING = 16 * np.finfo(np.float64).eps  # gradcheck's bound on the relative rounding error of one evaluation


def _fd_of_gradient(f: Callable, xs: list[np.ndarray], v: list[np.ndarray], eps: float) -> tuple[list, list]:
    """(∇f(x + εv) − ∇f(x − εv)) / 2ε per input, and what rounding alone explains of it (as gradcheck's)."""
    _, plus = gradient(f, [x + eps * d for x, d in zip(xs, v)])
    _, minus = gradient(f, [x - eps * d for x, d in zip(xs, v)])
    diff = [(p - m) / (2 * eps) for p, m in zip(plus, minus)]
    return diff, [_ROUNDING * (np.abs(p) + np.abs(m)) / (2 * eps) for p, m in zip(plus, minus)]


def _column_check(labels: list[str], hv: tuple, fd: list, noise: list, rtol: float, atol: float, along: str) -> None:
    for label, exact, numeric, rounding in zip(labels, hv, fd, noise):
        excess = np.abs(exact - numeric) - (atol + rounding + rtol * np.abs(numeric))
        if np.all(excess <= 0):  # False at NaN
            continue
        k = np.unravel_index(int(np.argmax(np.where(np.isnan(excess), np.inf, excess))), excess.shape)
        e, n = float(exact[k]), float(numeric[k])
        raise AssertionError(
            f"hvpcheck: (H·v) of {label}, element {tuple(int(i) for i in k)}, v = {along}: forward-over-reverse gives "
            f"{e!r}, central differences of the gradient give {n!r} (relative error "
            f"{abs(e - n) / max(abs(n), 1e-300):.3g}, rtol {rtol}, atol {atol})"
        )


def hvpcheck(
    f: Callable[..., Tensor],
    *inputs: Tensor,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    projection: bool = False,
    seed: int = 0,
) -> bool:
    """Assert that hvp(f) equals central differences of the gradient, (∇f(x + εv) − ∇f(x − εv))/2ε, and that the
    Hessian is symmetric, ⟨u, H v⟩ = ⟨H u, v⟩ (to 1e-10: both sides exact), over the inputs that require grad.

    The second-order sibling of `gradcheck`: v runs over every element of every input (the whole Hessian, column
    by column: one hvp and two gradients each), or with projection=True over one random direction only (for large
    inputs). f(*inputs) is a scalar; the AssertionError names the input, the element and both values.
    """
    function("hvpcheck", "f", f)
    eps, seed = real("hvpcheck", "eps", eps, low=0), whole_number(seed, "seed", "hvpcheck", minimum=0)
    rtol, atol = (real("hvpcheck", k, x, low=0, strict=False) for k, x in (("rtol", rtol), ("atol", atol)))
    if not all(isinstance(x, Tensor) for x in inputs):
        raise TypeError(f"hvpcheck: inputs must be Tensors, got {[type(x).__name__ for x in inputs]}")
    wanted = [i for i, x in enumerate(inputs) if x.requires_grad]
    if not wanted:
        raise ValueError("hvpcheck: no input has requires_grad=True, so there is nothing to check")

    def fw(*moving: Tensor) -> Tensor:  # f with the wanted inputs as arguments, the others as they are
        args = list(inputs)
        for i, x in zip(wanted, moving):
            args[i] = x
        return f(*args)

    xs = [np.array(inputs[i].data, dtype=np.float64) for i in wanted]
    labels = [f"input {i}" + (f" ({inputs[i].name})" if inputs[i].name else "") for i in wanted]
    rng = np.random.default_rng(seed)
    if projection:
        directions = [[rng.standard_normal(x.shape) for x in xs]]
    else:
        directions = [[np.where(np.arange(x.size) == j, 1.0, 0.0).reshape(x.shape) if k == m else np.zeros_like(x)
                       for m, x in enumerate(xs)] for k, y in enumerate(xs) for j in range(y.size)]  # fmt: skip
    for k, v in enumerate(directions):
        _, hv = hvp(fw, xs, v)
        fd, noise = _fd_of_gradient(fw, xs, v, eps)
        _column_check(labels, hv, fd, noise, rtol, atol, "random" if projection else f"basis vector {k}")
    u, v = [rng.standard_normal(x.shape) for x in xs], [rng.standard_normal(x.shape) for x in xs]
    (_, hv), (_, hu) = hvp(fw, xs, v), hvp(fw, xs, u)
    left, right = (sum(float(np.sum(a * b)) for a, b in zip(p, q)) for p, q in ((u, hv), (hu, v)))
    scale = sum(float(np.sum(np.abs(a * b))) for a, b in zip(u, hv)) + 1e-300
    if not abs(left - right) <= 1e-10 * scale + atol * 1e-3:
        raise AssertionError(f"hvpcheck: the Hessian is not symmetric: ⟨u, H v⟩ = {left!r} but ⟨H u, v⟩ = {right!r}")
    return True


# ---- drawing tangents on the graph ----------------------------------------------------------------------------------

TANGENT_BLUE, TANGENT_FILL = "#1d4ed8", "#cff4fc"  # blue text; cyan, not the parameters' blue


def tangent_annotations(
    root: Tensor,
    tangents: Mapping[Tensor, Any],
    *,
    symbol: str = "d",
    max_numbers: int = 4,
    fill: bool = True,
    heading: str = "forward mode",
) -> Annotations:
    """Annotations for `draw(root, annotations=…)`: every node of root's graph that has a tangent shows it in blue
    (`symbol` + its numbers, or its norm and range when it has more than max_numbers); the ones it moves (a tangent
    not 0) are filled cyan.

    tangents: {node: tangent}, e.g. `push_tangents(root, {U: dU})`: the forward sensitivities dh_t = (∂h_t/∂U)·dU,
    flowing with time; `draw(root, grads=True, annotations=…)` adds the gradients, flowing against it, in red.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"tangent_annotations: root must be a Tensor, got {type(root).__name__}")
    whole_number(max_numbers, "max_numbers", "tangent_annotations")
    nodes: dict[Any, Annotation] = {}
    for node in topological_order(root):
        if node in tangents:
            t = np.asarray(tangents[node])
            moved = fill and bool(np.any(t != 0))
            nodes[node] = Annotation(((f"{symbol} {array_text(t, max_numbers)}", TANGENT_BLUE),),
                                     TANGENT_FILL if moved else None, "moved" if moved else None)  # fmt: skip
    used = any(note.fill for note in nodes.values())
    legend = ((TANGENT_FILL, f"moved by the tangent ({symbol}·, forward mode)"),) if used else ()
    return Annotations(nodes, legend, heading)
