"""Every primitive and composite: forward equals numpy, backward equals central differences (float64)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_rnn import Tensor, concatenate, stack
from tinygrad_rnn import functional as F
from tinygrad_rnn.gradcheck import gradcheck
from tinygrad_rnn.strategies import arrays, broadcastable_pairs, matmul_pairs, positive_arrays, seeds, shapes


def leaf(a):
    return Tensor(a, requires_grad=True)


# (name, engine function, numpy reference, strategy for the input)
UNARY = [
    ("neg", lambda x: -x, lambda a: -a, arrays()),
    ("exp", lambda x: x.exp(), np.exp, arrays()),
    ("expm1", lambda x: x.expm1(), np.expm1, arrays()),
    ("log", lambda x: x.log(), np.log, positive_arrays()),
    ("tanh", lambda x: x.tanh(), np.tanh, arrays()),
    ("sigmoid", lambda x: x.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), arrays()),
    ("relu", lambda x: x.relu(), lambda a: np.maximum(a, 0), arrays().filter(lambda a: np.all(np.abs(a) > 1e-3))),
    ("abs", lambda x: x.abs(), np.abs, arrays().filter(lambda a: np.all(np.abs(a) > 1e-3))),
    ("pow2", lambda x: x**2, lambda a: a**2, arrays()),
    ("pow-1.5", lambda x: x**-1.5, lambda a: a**-1.5, positive_arrays()),
    ("sum", lambda x: x.sum(), np.sum, arrays()),
    ("mean", lambda x: x.mean(), np.mean, arrays()),
    ("max", lambda x: x.max(), np.max, arrays()),
    ("T", lambda x: x.T, lambda a: a.T, arrays()),
    ("reshape", lambda x: x.reshape(-1), lambda a: a.reshape(-1), arrays()),
    ("composed tanh", F.tanh, np.tanh, arrays()),
    ("composed sigmoid", F.sigmoid, lambda a: 1 / (1 + np.exp(-a)), arrays(low=-30, high=30)),
    ("softmax", F.softmax, lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True), arrays(min_dims=1)),
    ("log_softmax", F.log_softmax, lambda a: a - np.log(np.exp(a).sum(-1, keepdims=True)), arrays(min_dims=1)),
]


@pytest.mark.parametrize("name, fn, ref, strategy", UNARY, ids=[u[0] for u in UNARY])
def test_unary_forward_and_gradient(name, fn, ref, strategy):
    @given(strategy)
    def check(a):
        x = leaf(a)
        np.testing.assert_allclose(fn(x).data, ref(a), rtol=1e-12, atol=1e-14)
        gradcheck(fn, x)

    check()


BINARY = [
    ("add", lambda a, b: a + b, np.add),
    ("sub", lambda a, b: a - b, np.subtract),
    ("mul", lambda a, b: a * b, np.multiply),
    ("div", lambda a, b: a / b, np.divide),
]


@pytest.mark.parametrize("name, fn, ref", BINARY, ids=[b[0] for b in BINARY])
@given(pair=broadcastable_pairs())
def test_binary_broadcasting(name, fn, ref, pair):
    a, b = pair
    if name == "div":
        b = np.sign(b) * (np.abs(b) + 0.5)  # keep away from 0
    x, y = leaf(a), leaf(b)
    np.testing.assert_allclose(fn(x, y).data, ref(a, b), rtol=1e-13)
    gradcheck(fn, x, y)
    assert x.grad.shape == a.shape and y.grad.shape == b.shape


@given(pair=matmul_pairs())
def test_matmul_vectors_matrices_and_stacks(pair):
    a, b = pair
    x, y = leaf(a), leaf(b)
    np.testing.assert_allclose((x @ y).data, a @ b, rtol=1e-13)
    gradcheck(lambda x, y: x @ y, x, y)
    assert x.grad.shape == a.shape and y.grad.shape == b.shape


@st.composite
def array_and_axis(draw):
    a = draw(arrays(min_dims=1))
    axis = draw(st.integers(-a.ndim, a.ndim - 1) | st.just(tuple(range(a.ndim))[: draw(st.integers(1, a.ndim))]))
    return a, axis, draw(st.booleans())


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@given(case=array_and_axis())
def test_reductions_over_axes(name, case):
    a, axis, keepdims = case
    x = leaf(a)
    got = getattr(x, name)(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(got.data, getattr(np, name)(a, axis=axis, keepdims=keepdims), rtol=1e-13)
    gradcheck(lambda x: getattr(x, name)(axis=axis, keepdims=keepdims), x)


def test_max_splits_gradient_between_ties():
    x = leaf([1.0, 3.0, 3.0, 2.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0, 0.5, 0.5, 0])


@given(a=arrays(min_dims=2, max_dims=3), seed=seeds)
def test_transpose_with_axes(a, seed):
    axes = tuple(np.random.default_rng(seed).permutation(a.ndim))
    x = leaf(a)
    np.testing.assert_array_equal(x.transpose(*axes).data, a.transpose(axes))
    gradcheck(lambda x: x.transpose(*axes), x)


@given(a=arrays(min_dims=1), seed=seeds)
def test_getitem_integer_arrays_with_repeats_accumulate(a, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.shape[0], size=6)  # 6 draws from ≤ 4 rows: repeats are certain
    x = leaf(a)
    np.testing.assert_array_equal(x[idx].data, a[idx])
    gradcheck(lambda x: x[idx], x)
    x.grad = None
    x[idx].sum().backward()
    counts = np.bincount(idx, minlength=a.shape[0]).reshape((-1,) + (1,) * (a.ndim - 1))
    np.testing.assert_array_equal(x.grad, np.broadcast_to(counts, a.shape))


@given(a=arrays(min_dims=2))
def test_getitem_basic_slices(a):
    x = leaf(a)
    np.testing.assert_array_equal(x[1:, ::2].data, a[1:, ::2])
    gradcheck(lambda x: x[1:, ::2], x)
    gradcheck(lambda x: x[..., -1], x)


@given(shape=shapes(max_dims=2), n=st.integers(1, 3), axis=st.integers(0, 2), seed=seeds)
def test_stack_and_concatenate(shape, n, axis, seed):
    rng = np.random.default_rng(seed)
    parts = [rng.standard_normal(shape) for _ in range(n)]
    axis_s = axis % (len(shape) + 1)
    xs = [leaf(p) for p in parts]
    np.testing.assert_array_equal(stack(xs, axis=axis_s).data, np.stack(parts, axis=axis_s))
    gradcheck(lambda *t: stack(t, axis=axis_s), *xs)
    if shape:
        axis_c = axis % len(shape)
        np.testing.assert_array_equal(concatenate(xs, axis=axis_c).data, np.concatenate(parts, axis=axis_c))
        gradcheck(lambda *t: concatenate(t, axis=axis_c), *xs)


# ---- losses ----


@given(a=arrays(shape=None, min_dims=1, max_dims=2), seed=seeds, reduction=st.sampled_from(["sum", "mean", "none"]))
def test_cross_entropy_indices_one_hot_and_probs(a, seed, reduction):
    rng = np.random.default_rng(seed)
    K = a.shape[-1]
    idx = rng.integers(0, K, size=a.shape[:-1])
    onehot = np.eye(K)[idx]
    logp = a - np.log(np.exp(a).sum(-1, keepdims=True))
    rows = -(onehot * logp).sum(-1)
    want = {"sum": rows.sum(), "mean": rows.mean(), "none": rows}[reduction]
    x = leaf(a)
    for target in (idx, onehot):
        np.testing.assert_allclose(F.cross_entropy(x, target, reduction).data, want, rtol=1e-12, atol=1e-15)
        gradcheck(lambda x, t=target: F.cross_entropy(x, t, reduction), x)
    probs = leaf(np.exp(logp))
    for target in (idx, onehot):
        np.testing.assert_allclose(F.cross_entropy_probs(probs, target, reduction).data, want, rtol=1e-12, atol=1e-15)
        gradcheck(lambda p, t=target: F.cross_entropy_probs(p, t, reduction), probs)


def test_cross_entropy_gradient_is_yhat_minus_y():
    """Lecture 2.4: ∇_o L = ŷ − y for L = CE(y, softmax(o))."""
    o = leaf([0.3, -1.2, 2.0, 0.5])
    F.cross_entropy(o, 2).backward()
    y = np.exp(o.data) / np.exp(o.data).sum()
    np.testing.assert_allclose(o.grad, y - np.eye(4)[2], rtol=1e-14, atol=1e-16)


@given(a=arrays(), seed=seeds, reduction=st.sampled_from(["sum", "mean", "none"]))
def test_mse_loss(a, seed, reduction):
    t = np.random.default_rng(seed).standard_normal(a.shape)
    x = leaf(a)
    sq = (a - t) ** 2
    want = {"sum": sq.sum(), "mean": sq.mean(), "none": sq}[reduction]
    np.testing.assert_allclose(F.mse_loss(x, t, reduction).data, want, rtol=1e-12)
    gradcheck(lambda x: F.mse_loss(x, t, reduction), x)


# ---- stability at large magnitude ----


@pytest.mark.parametrize("scale", [1e2, 1e4])
def test_softmax_family_exact_and_finite_for_huge_logits(scale):
    a = np.array([[1.0, -0.5, 0.25], [-1.0, 2.0, 0.0]]) * scale
    x = leaf(a)
    m = a.max(-1, keepdims=True)
    want = np.exp(a - m) / np.exp(a - m).sum(-1, keepdims=True)
    np.testing.assert_allclose(F.softmax(x).data, want, rtol=1e-15)
    np.testing.assert_allclose(F.log_softmax(x).data, (a - m) - np.log(np.exp(a - m).sum(-1, keepdims=True)))
    loss = F.cross_entropy(x, [2, 0])
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(x.grad))
    np.testing.assert_allclose(x.grad, want - np.eye(3)[[2, 0]], atol=1e-15)


@pytest.mark.parametrize(
    "fn, ref, dref",
    [
        (F.tanh, np.tanh, lambda a: 1 - np.tanh(a) ** 2),
        (
            F.sigmoid,
            lambda a: np.exp(-np.logaddexp(0, -a)),
            lambda a: np.exp(-np.logaddexp(0, -a) - np.logaddexp(0, a)),
        ),
    ],
)
def test_composed_tanh_sigmoid_finite_up_to_1e4(fn, ref, dref):
    a = np.array([-1e4, -700.0, -20.0, -1e-9, 0.0, 1e-9, 0.5, 20.0, 700.0, 1e4])
    x = leaf(a)
    y = fn(x)
    y.sum().backward()
    assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad))
    np.testing.assert_allclose(y.data, ref(a), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(x.grad, dref(a), rtol=1e-12, atol=1e-300)


def test_sigmoid_keeps_relative_accuracy_far_in_the_left_tail():
    a = np.array([-30.0, -100.0])
    want = np.exp(a) / (1 + np.exp(a))
    for y in (F.sigmoid(Tensor(a)), Tensor(a).sigmoid()):
        np.testing.assert_allclose(y.data, want, rtol=1e-14)


# ---- lecture appendix B and C as properties ----


@given(a=arrays(min_dims=1, max_dims=1))
def test_appendix_c_composed_tanh_gradient_is_one_minus_tanh_squared(a):
    x = leaf(a)
    F.tanh(x).sum().backward()
    np.testing.assert_allclose(x.grad, 1 - np.tanh(a) ** 2, rtol=1e-12, atol=1e-15)


@given(a=arrays(min_dims=1, max_dims=1))
def test_appendix_b_softmax_jacobian(a):
    from tinygrad_rnn.gradcheck import jacobian

    x = leaf(a)
    J = jacobian(F.softmax, x)
    y = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
    np.testing.assert_allclose(J, y[:, None] * (np.eye(a.size) - y[None, :]), rtol=1e-12, atol=1e-15)
