"""Forward mode tied to reverse mode: for every primitive and composite, jvp equals central differences and
⟨u, J v⟩ (forward) = ⟨Jᵀ u, v⟩ (reverse) to 1e-10, with drawn shapes and broadcasting; torch.func.jvp agrees
where PyTorch is installed; every primitive has a forward rule (a new one without fails here)."""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn
from tinygrad_rnn import Tensor, concatenate, no_grad, ops, stack, where
from tinygrad_rnn import functional as F
from tinygrad_rnn.forward import jvp, push_tangents, tangent_annotations
from tinygrad_rnn.strategies import arrays, broadcastable_pairs, make_problem, matmul_pairs, positive_arrays, seeds
from tinygrad_rnn.tensor import apply, topological_order

try:
    import torch
except ImportError:  # the torch cross-checks skip; everything else runs
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

PRIMITIVES = [
    cls
    for _, cls in inspect.getmembers(ops, inspect.isclass)
    if issubclass(cls, ops.Function) and cls.__module__ == ops.__name__ and "backward" in vars(cls)
]


class Case(NamedTuple):
    """An engine function of Tensors and a strategy for its input arrays (a tuple)."""

    name: str
    fn: object
    inputs: object


@st.composite
def with_axis(draw, base=arrays, **kw):
    """(array, axis, keepdims) for a reduction: axis None, an int or a tuple, keepdims either way."""
    a = draw(base(**kw))
    choices = [None] + list(range(-a.ndim, a.ndim)) + ([tuple(range(a.ndim))[::-1][:2]] if a.ndim > 1 else [])
    return a, draw(st.sampled_from(choices)), draw(st.booleans())


def _one(strategy):
    return strategy.map(lambda a: (a,))


def _away_from(strategy, at=0.0, gap=1e-2):
    """Values kept ≥ gap from a kink (relu, abs): central differences cannot straddle it."""
    return strategy.map(lambda a: np.where(np.abs(a - at) < gap, at + gap * np.sign(a - at + 1e-300), a))


def _distinct(strategy):
    """Values with no ties (max, min): the maximum moves smoothly under a small perturbation."""
    return strategy.map(lambda a: a + 1e-3 * np.arange(a.size).reshape(a.shape) / max(a.size, 1))


@st.composite
def _conditioned_pair(draw):
    a, b = draw(broadcastable_pairs())
    cond = np.random.default_rng(draw(seeds)).random(np.broadcast_shapes(a.shape, b.shape)) < 0.5
    return cond, a, b


@st.composite
def _stackable(draw):
    shape = draw(arrays(max_dims=2)).shape
    rng = np.random.default_rng(draw(seeds))
    n = draw(st.integers(1, 3))
    return tuple(rng.standard_normal(shape) for _ in range(n)), draw(st.integers(-len(shape) - 1, len(shape)))


@st.composite
def _joinable(draw):
    rest = draw(arrays(max_dims=2)).shape
    rng = np.random.default_rng(draw(seeds))
    return tuple(rng.standard_normal((draw(st.integers(1, 3)), *rest)) for _ in range(draw(st.integers(1, 3))))


@st.composite
def _classes(draw, kind="index"):
    logits = draw(arrays(min_dims=2, max_dims=2))
    rng = np.random.default_rng(draw(seeds))
    n, k = logits.shape
    if kind == "index":
        return logits, rng.integers(0, k, size=n)
    return logits, rng.dirichlet(np.ones(k), size=n)


@st.composite
def _rnn_case(draw):
    """Parameters of a small lecture RNN and its data: (W, U, V, b, c) arrays and the xs, ys it is run on."""
    T, B, D, H, K = (draw(st.integers(1, n)) for n in (4, 2, 3, 3, 3))
    rnn, xs, ys = make_problem(T, B if draw(st.booleans()) else 0, D, H, K, draw(seeds))
    rng = np.random.default_rng(draw(seeds))
    params = tuple(a + 0.1 * rng.standard_normal(a.shape) for a in rnn.arrays().values())
    return params, xs, ys


def _rnn_loss(tanh="primitive", fast=False):
    def loss(W, U, V, b, c, *, data):
        xs, ys = data
        rnn = tinygrad_rnn.rnn.RNN(W.shape[1], W.shape[0], V.shape[0], tanh=tanh, fast=fast)
        rnn.W, rnn.U, rnn.V, rnn.b, rnn.c = W, U, V, b, c
        return rnn.loss(xs, ys)

    return loss


SHAPES = [((2, 3, 4), (3, 8)), ((2, 3), (3, 2)), ((6,), (2, 3)), ((1, 4), (4,))]
UNARY = [
    Case("neg", lambda x: -x, _one(arrays())),
    Case("exp", lambda x: x.exp(), _one(arrays())),
    Case("expm1", lambda x: x.expm1(), _one(arrays())),
    Case("log", lambda x: x.log(), _one(positive_arrays())),
    Case("tanh", lambda x: x.tanh(), _one(arrays())),
    Case("sigmoid", lambda x: x.sigmoid(), _one(arrays())),
    Case("relu", lambda x: x.relu(), _one(_away_from(arrays()))),
    Case("abs", lambda x: x.abs(), _one(_away_from(arrays()))),
    Case("pow 2", lambda x: x**2, _one(arrays())),
    Case("pow −1.5", lambda x: x**-1.5, _one(positive_arrays())),
    Case("pow 0", lambda x: x**0, _one(arrays())),
    Case("transpose", lambda x: x.T, _one(arrays())),
    Case("permute", lambda x: x.transpose(-1, *range(x.ndim - 1)), _one(arrays(min_dims=1))),
    Case("reshape", lambda x: x.reshape(-1), _one(arrays())),
    Case("flatten, unsqueeze", lambda x: x.flatten().unsqueeze(0), _one(arrays())),
    Case("getitem slice", lambda x: x[1:], _one(arrays(min_dims=1))),
    Case("getitem ellipsis", lambda x: x[..., 0], _one(arrays(min_dims=1))),
    Case("getitem repeats", lambda x: x[[0, 0, -1]], _one(arrays(min_dims=1))),
    Case("getitem mask", lambda x: x[x.data > 0], _one(arrays(min_dims=1))),
]
REDUCTIONS = [
    Case(f"{name} axis", (lambda m: lambda x, axis, keep: getattr(x, m)(axis=axis, keepdims=keep))(name), strategy)
    for name, strategy in [
        ("sum", with_axis()),
        ("mean", with_axis()),
        ("prod", with_axis(min_dims=1)),
        ("max", with_axis(base=lambda **kw: _distinct(arrays(**kw)), min_dims=1)),
        ("min", with_axis(base=lambda **kw: _distinct(arrays(**kw)), min_dims=1)),
    ]
]
BINARY = [
    Case("add", lambda a, b: a + b, broadcastable_pairs()),
    Case("sub", lambda a, b: a - b, broadcastable_pairs()),
    Case("mul", lambda a, b: a * b, broadcastable_pairs()),
    Case("div", lambda a, b: a / b, broadcastable_pairs().map(lambda p: (p[0], np.sign(p[1]) * (np.abs(p[1]) + 0.5)))),
    Case("power", lambda a, b: a**b, broadcastable_pairs(low=0.3, high=2.0)),
    Case("matmul", lambda a, b: a @ b, matmul_pairs()),
]
MANY = [
    Case("where", lambda a, b, *, cond: where(cond, a, b), _conditioned_pair().map(lambda t: (t[1], t[2], t[0]))),
    Case("stack", lambda *xs, axis: stack(xs, axis=axis), _stackable().map(lambda t: (*t[0], t[1]))),
    Case("concatenate", lambda *xs: concatenate(xs), _joinable()),
]
COMPOSITES = [
    Case("softmax", F.softmax, _one(arrays(min_dims=1))),
    Case("log_softmax", F.log_softmax, _one(arrays(min_dims=1))),
    Case("composed tanh", F.tanh, _one(arrays())),
    Case("composed sigmoid", F.sigmoid, _one(arrays())),
    Case("cross_entropy", lambda x, *, y: F.cross_entropy(x, y), _classes().map(lambda t: (t[0], t[1]))),
    Case("cross_entropy rows", lambda x, *, y: F.cross_entropy(x, y), _classes("rows").map(lambda t: (t[0], t[1]))),
    Case(
        "cross_entropy_probs",
        lambda p, *, y: F.cross_entropy_probs(p, y),
        _classes().map(lambda t: (np.abs(t[0]) + 0.2, t[1])),
    ),
    Case("softmax_cross_entropy", lambda x, *, y: F.softmax_cross_entropy(x, y), _classes().map(lambda t: t)),
    Case("mse_loss", lambda a, b: F.mse_loss(a, b), broadcastable_pairs().map(lambda p: (p[0], p[0] * 0 + p[1].sum()))),
    Case(
        "diamond",  # an interior node (h) feeding two branches that meet again
        lambda x: (lambda h: (h * h.exp()).sum(axis=-1) + h.sum(axis=-1))(x.tanh() * 2.0),
        _one(arrays(min_dims=1)),
    ),
]
RNN_CASES = [
    Case("rnn primitive tanh", _rnn_loss(), _rnn_case()),
    Case("rnn composed tanh", _rnn_loss("composed"), _rnn_case()),
    Case("rnn fast graph", _rnn_loss(fast=True), _rnn_case()),
]
CASES = UNARY + REDUCTIONS + BINARY + MANY + COMPOSITES + RNN_CASES


def split(case: Case, drawn: tuple) -> tuple[list[np.ndarray], dict]:
    """The drawn tuple as (the differentiable arrays, the constant keyword arguments of the case's function)."""
    if case in REDUCTIONS:
        return [drawn[0]], {"axis": drawn[1], "keep": drawn[2]}
    if case.name == "where":
        return list(drawn[:2]), {"cond": drawn[2]}
    if case.name == "stack":
        return list(drawn[:-1]), {"axis": drawn[-1]}
    if case.name in ("cross_entropy", "cross_entropy rows", "cross_entropy_probs", "softmax_cross_entropy"):
        return [drawn[0]], {"y": drawn[1]}
    if case in RNN_CASES:
        return list(drawn[0]), {"data": drawn[1:]}
    return list(drawn), {}


def central_jvp(fn, xs, vs, kw, eps=1e-6):
    """(f(x + εv) − f(x − εv)) / 2ε, and what rounding alone explains of it."""
    with no_grad():
        plus = fn(*[Tensor(x + eps * v) for x, v in zip(xs, vs)], **kw).data
        minus = fn(*[Tensor(x - eps * v) for x, v in zip(xs, vs)], **kw).data
    return (plus - minus) / (2 * eps), 16 * np.finfo(float).eps * (np.abs(plus) + np.abs(minus)) / (2 * eps)


def reverse_vjp(fn, xs, u, kw):
    """Jᵀu by the engine's backward pass, one array per input."""
    leaves = [Tensor(x, requires_grad=True) for x in xs]
    out = fn(*leaves, **kw)
    out.backward(u)
    return [leaf.grad if leaf.grad is not None else np.zeros_like(leaf.data) for leaf in leaves]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_jvp_equals_central_differences_and_the_transpose_of_backward(case):
    @given(case.inputs, seeds)
    def check(drawn, seed):
        xs, kw = split(case, drawn)
        rng = np.random.default_rng(seed)
        vs = [rng.standard_normal(x.shape) for x in xs]
        out, jv = jvp(lambda *ts: case.fn(*ts, **kw), tuple(xs), tuple(vs))
        assert jv.shape == out.shape and jv.dtype == out.dtype
        numeric, rounding = central_jvp(case.fn, xs, vs, kw)
        assert np.all(np.abs(jv - numeric) <= 1e-8 + 1e-5 * np.abs(numeric) + rounding), (jv, numeric)
        if not out.requires_grad or out.size == 0:
            return
        u = rng.standard_normal(out.shape)
        forward = float(np.sum(u * jv))  # ⟨u, J v⟩
        back = reverse_vjp(case.fn, xs, u, kw)
        reverse = sum(float(np.sum(g * v)) for g, v in zip(back, vs))  # ⟨Jᵀu, v⟩
        scale = float(np.sum(np.abs(u * jv))) + sum(float(np.sum(np.abs(g * v))) for g, v in zip(back, vs))
        assert abs(forward - reverse) <= 1e-10 * scale + 1e-300, (forward, reverse)

    check()


@settings(max_examples=1)
@given(st.data())
def test_the_cases_cover_every_primitive(data):
    seen = set()
    for case in CASES:
        xs, kw = split(case, data.draw(case.inputs))
        out = case.fn(*[Tensor(x, requires_grad=True) for x in xs], **kw)
        seen |= {type(node._fn) for node in topological_order(out) if node._fn is not None}
    assert set(PRIMITIVES) <= seen, f"primitives without a jvp test: {set(PRIMITIVES) - seen}"


def test_every_primitive_has_a_forward_rule_beside_its_backward_rule():
    assert len(PRIMITIVES) >= 26
    for cls in PRIMITIVES:
        assert "jvp" in vars(cls), f"ops.{cls.__name__} has a backward rule but no forward rule (jvp)"
        doc = cls.__doc__ or ""
        assert "forward:" in doc and "dout" in doc, f"ops.{cls.__name__}'s docstring does not state its forward rule"


def test_a_primitive_without_a_forward_rule_is_named():
    class Cube(ops.Function):
        name = "cube"

        def forward(self, a):
            self.save(a)
            return a**3

        def backward(self, g):
            return (3 * g * self.saved[0] ** 2,)

    with pytest.raises(TypeError, match=r"jvp: the primitive cube has no forward rule \(ops.Cube.jvp\)"):
        jvp(lambda x: apply(Cube, x), (np.ones(2),), (np.ones(2),))


# ---- the API ------------------------------------------------------------------------------------------------------


def test_jvp_is_the_package_function_and_takes_arrays_or_tensors():
    assert tinygrad_rnn.jvp is jvp and callable(tinygrad_rnn.hvp)
    x = Tensor(np.array([0.5, -1.0]), name="x")
    out, t = tinygrad_rnn.jvp(lambda a, b: (a * b).tanh(), (x, np.array([2.0, 3.0])), (np.ones(2), Tensor([0.0, 1.0])))
    assert isinstance(out, Tensor) and isinstance(t, np.ndarray)
    y = np.tanh(x.data * [2.0, 3.0])
    np.testing.assert_allclose(out.data, y)
    np.testing.assert_allclose(t, (1 - y**2) * (np.array([2.0, 3.0]) + x.data * [0.0, 1.0]), rtol=1e-14)
    assert x.grad is None and not x.requires_grad  # the caller's tensor is read, not changed


def test_jvp_errors_name_the_function_and_the_shapes():
    with pytest.raises(ValueError, match=r"jvp: primal 0 has shape \(2,\) but its tangent has shape \(3,\)"):
        jvp(lambda x: x, (np.ones(2),), (np.ones(3),))
    with pytest.raises(ValueError, match="jvp: 2 primal"):
        jvp(lambda x, y: x, (np.ones(2), np.ones(2)), (np.ones(2),))
    with pytest.raises(TypeError, match="jvp: f must return a Tensor"):
        jvp(lambda x: 3.0, (np.ones(2),), (np.ones(2),))
    with pytest.raises(TypeError, match="jvp: f must be a function"):
        jvp(3, (np.ones(2),), (np.ones(2),))
    with pytest.raises(TypeError, match="jvp: primals must be a tuple"):
        jvp(lambda x: x, {"x": 1}, (np.ones(2),))


def test_jvp_keeps_float32_records_inside_no_grad_and_leaves_gradients_alone():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with no_grad():
        out, t = jvp(lambda x: (x * w).exp().sum(), (np.ones(2, dtype=np.float32),), (np.ones(2),))
    assert t.dtype == np.float64  # mixed with the float64 w
    out32, t32 = jvp(lambda x: x.exp(), (np.ones(2, dtype=np.float32),), (np.ones(2),))
    assert out32.dtype == t32.dtype == np.float32
    np.testing.assert_allclose(t, np.sum(np.exp([1.0, 2.0]) * [1.0, 2.0]), rtol=1e-12)
    assert w.grad is None


def test_jvp_of_a_constant_function_is_zero():
    out, t = jvp(lambda x: Tensor(np.ones(3)) * 2.0, (np.ones(2),), (np.ones(2),))
    np.testing.assert_array_equal(t, np.zeros(3))


def test_a_constant_exponent_on_a_negative_base_has_a_finite_tangent():
    _, t = jvp(lambda a: a ** np.array([2.0, 3.0]), (np.array([-2.0, -1.5]),), (np.ones(2),))
    np.testing.assert_allclose(t, [2 * -2.0, 3 * 1.5**2])


def test_detach_stops_the_tangent_and_the_softmax_shift_does_not_change_it():
    _, t = jvp(lambda x: x * x.detach(), (np.array([3.0]),), (np.array([1.0]),))
    assert t[0] == 3.0  # d(x · const) = const, where d(x²) = 6


def test_tangents_push_through_a_long_chain():
    _, t = jvp(lambda x: _chain(x, 20_000), (np.array([1.0]),), (np.array([1.0]),))
    assert t[0] == 1.0


def _chain(x, n):
    for _ in range(n):
        x = x + 0.0
    return x


# ---- against PyTorch ----------------------------------------------------------------------------------------------

TORCH = [  # (name, engine function, the same in torch)
    ("tanh·exp", lambda x, y: (x.tanh() * y.exp()).sum(axis=0), lambda x, y: (x.tanh() * y.exp()).sum(0)),
    ("div, power", lambda x, y: x / (y.abs() + 1.0) + (x.abs() + 0.5) ** y, None),
    ("matmul, softmax", lambda x, y: F.softmax(x @ y.T), lambda x, y: torch.softmax(x @ y.T, -1)),
    ("sigmoid, prod, max", lambda x, y: x.sigmoid().prod(axis=1) + y.max(axis=0).sum(), None),
    ("log_softmax, mean", lambda x, y: F.log_softmax(x * y).mean(axis=-1), None),
    ("stack, getitem", lambda x, y: stack([x[0], y[1]], axis=1).expm1(), None),
]
THEIRS = {  # the ones whose torch spelling differs from ours
    "div, power": lambda x, y: x / (y.abs() + 1) + (x.abs() + 0.5) ** y,
    "sigmoid, prod, max": lambda x, y: x.sigmoid().prod(1) + y.amax(0).sum(),
    "log_softmax, mean": lambda x, y: torch.log_softmax(x * y, -1).mean(-1),
    "stack, getitem": lambda x, y: torch.stack([x[0], y[1]], 1).expm1(),
}


@needs_torch
@pytest.mark.parametrize("name, mine, theirs", TORCH, ids=[t[0] for t in TORCH])
@given(seed=seeds)
def test_jvp_equals_torch_func_jvp(name, mine, theirs, seed):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((3, 4)) + 1e-3 * np.arange(12).reshape(3, 4) for _ in range(2)]
    vs = [rng.standard_normal((3, 4)) for _ in range(2)]
    out, t = jvp(mine, tuple(xs), tuple(vs))
    t_out, t_t = torch.func.jvp(theirs or THEIRS[name], tuple(map(torch.tensor, xs)), tuple(map(torch.tensor, vs)))
    np.testing.assert_allclose(out.data, t_out.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(t, t_t.numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
@given(problem=_rnn_case())
def test_jvp_of_the_rnn_loss_equals_torch(problem):
    params, xs, ys = problem
    rng = np.random.default_rng(0)
    vs = tuple(rng.standard_normal(p.shape) for p in params)
    _, t = jvp(lambda *ps: _rnn_loss()(*ps, data=(xs, ys)), params, vs)
    _, t_t = torch.func.jvp(
        lambda *ps: torch_rnn_loss(*ps, xs, ys), tuple(map(torch.tensor, params)), tuple(map(torch.tensor, vs))
    )
    np.testing.assert_allclose(t, t_t.numpy(), rtol=1e-10, atol=1e-12)


def torch_rnn_loss(W, U, V, b, c, xs, ys):
    """The lecture's L = Σ_t CE(y_t, softmax(c + V h_t)), h_t = tanh(b + W x_t + U h_{t−1}), in torch."""
    X = torch.tensor(xs if xs.ndim == 3 else xs[:, None])
    Y = torch.tensor(ys if ys.ndim == 2 else ys[:, None])
    h = torch.zeros(X.shape[1], W.shape[0], dtype=torch.float64)
    total = 0.0
    for t in range(X.shape[0]):
        h = torch.tanh(b + X[t] @ W.T + h @ U.T)
        total = total + torch.nn.functional.cross_entropy(c + h @ V.T, Y[t], reduction="sum")
    return total


# ---- on the picture -----------------------------------------------------------------------------------------------


def test_tangent_annotations_put_the_forward_sensitivities_on_the_nodes():
    rnn, xs, ys = make_problem(3, 0, 2, 2, 2, seed=1)
    L = rnn.loss(xs, ys)
    dU = np.ones((2, 2))
    dot = push_tangents(L, {rnn.U: dU})
    notes = tangent_annotations(L, dot, symbol="dU")
    moved = [node for node in topological_order(L) if node in dot]
    assert len(notes) == len(moved) and rnn.U in moved and rnn.W not in moved
    h = rnn.trace.h
    assert notes.of(h[0]) is not None and notes.of(h[0]).rows[0][0].startswith("dU [")  # h_1 depends on U·h_0 (= 0)
    for t in range(3):  # dh_t, as carried forward: dh_t = (1 − h_t²)(dU h_{t−1} + U dh_{t−1})
        prev, dprev = (np.zeros(2), np.zeros(2)) if t == 0 else (h[t - 1].data, dot[h[t - 1]])
        want = (1 - h[t].data ** 2) * (dU @ prev + rnn.U.data @ dprev)
        np.testing.assert_allclose(dot[h[t]], want, rtol=1e-13, atol=1e-15)
    assert notes.legend and notes.heading == "forward mode"


def test_the_drawing_shows_tangents_and_gradients_together():
    pytest.importorskip("graphviz")
    from tinygrad_rnn.draw import to_dot

    rnn, xs, ys = make_problem(2, 0, 2, 2, 2, seed=1)
    L = rnn.loss(xs, ys)
    L.backward()
    notes = tangent_annotations(L, push_tangents(L, {rnn.U: np.ones((2, 2))}), symbol="dU")
    text = to_dot(L, grads=True, annotations=notes)
    assert text.count("dU [") + text.count("dU ‖·‖") >= 4 and "∇" in text
    assert text == to_dot(L, grads=True, annotations=notes)  # deterministic
