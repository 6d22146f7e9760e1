"""Gradients that used to be silently wrong, and the new primitives and conveniences, against central differences."""

import inspect

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinygrad_rnn import Tensor, ops, topological_order
from tinygrad_rnn import functional as F
from tinygrad_rnn.gradcheck import gradcheck
from tinygrad_rnn.strategies import arrays, positive_arrays, seeds
from tinygrad_rnn.tensor import concatenate, stack, where


def leaf(a, name=None):
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=True, name=name)


# ---- transpose / permute with negative axes ----------------------------------------------------------------------


@st.composite
def array_and_permutation(draw):
    a = draw(arrays(min_dims=1, max_dims=4, max_side=3))
    perm = draw(st.permutations(range(a.ndim)))
    negative = draw(st.lists(st.booleans(), min_size=a.ndim, max_size=a.ndim))
    return a, tuple(ax - a.ndim if neg else ax for ax, neg in zip(perm, negative))


@given(case=array_and_permutation())
@example(case=(np.arange(8.0).reshape(2, 2, 2), (1, -1, 0)))  # square: a wrong inverse has the right shape
@example(case=(np.arange(24.0).reshape(2, 3, 4), (-2, -1, 0)))  # the inverse (2, 0, 1) ≠ argsort(axes) = (0, 1, 2)
def test_transpose_and_permute_with_negative_axes_match_numpy_and_central_differences(case):
    a, axes = case
    x = leaf(a)
    for f in (lambda t: t.transpose(*axes), lambda t: t.permute(axes)):
        np.testing.assert_array_equal(f(x).data, a.transpose(axes))
        gradcheck(f, x)
        assert x.grad.shape == a.shape


def test_transpose_op_inverts_negative_axes_itself():
    """The primitive is right for any axes numpy accepts, not only the normalised ones Tensor.transpose hands it."""
    from tinygrad_rnn.tensor import apply

    x = leaf(np.arange(24.0).reshape(2, 3, 4))
    gradcheck(lambda t: apply(ops.Transpose, t, axes=(-2, -1, 0)), x)


def test_transpose_refuses_axes_that_are_no_permutation():
    x = Tensor(np.ones((2, 3, 4)))
    for bad in [(0, 1), (0, 0, 1), (0, 1, 3), (0, 1, -4)]:
        with pytest.raises(ValueError, match=r"transpose.*\(2, 3, 4\)"):
            x.transpose(bad)
    with pytest.raises(TypeError, match="transpose: axis must be a whole number"):
        x.transpose(0, 1.0, 2)


# ---- x ** 0 and the tensor exponent -------------------------------------------------------------------------------


def test_pow_zero_has_gradient_zero_everywhere_including_zero():
    """d/dx x⁰ = 0, as PyTorch and HIPS autograd give (the formula p·x^(p−1) is 0·∞ = NaN at x = 0)."""
    x = leaf([0.0, 1.5, -2.0])
    with np.errstate(all="raise"):
        (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])
    y = leaf([0.0, 1.5, -2.0])
    (y ** Tensor(0.0)).sum().backward()
    np.testing.assert_array_equal(y.grad, [0.0, 0.0, 0.0])


@given(a=arrays(min_dims=1, low=-2, high=2))
def test_constant_base_to_a_tensor_power(a):
    """d/dx aˣ = aˣ ln a (2 ** x, and an array base broadcasting against x)."""
    x = leaf(a)
    np.testing.assert_allclose((2**x).data, 2.0**a, rtol=1e-14)
    gradcheck(lambda x: 2**x, x)
    base = np.full(a.shape[-1:], 3.0)
    gradcheck(lambda x: base**x, x)
    x.grad = None
    (2**x).sum().backward()
    np.testing.assert_allclose(x.grad, 2.0**a * np.log(2.0), rtol=1e-13)


@given(pair=st.tuples(positive_arrays(shape=(2, 3)), arrays(shape=(3,), low=-2, high=2)))
def test_tensor_to_a_tensor_power_both_gradients(pair):
    """∂/∂a aᵇ = b aᵇ⁻¹, ∂/∂b aᵇ = aᵇ ln a, with broadcasting."""
    a, b = leaf(pair[0]), leaf(pair[1])
    np.testing.assert_allclose((a**b).data, pair[0] ** pair[1], rtol=1e-14)
    gradcheck(lambda a, b: a**b, a, b)


def test_power_at_base_zero_and_negative_base():
    """0ᵇ = 0 for b > 0 is flat in b (0, not 0·(−∞)); a negative base with a constant exponent differentiates in a."""
    a, b = leaf([0.0, 0.0]), leaf([2.0, 0.5])
    with np.errstate(all="raise"):
        (a**b).sum().backward()
    np.testing.assert_array_equal(b.grad, [0.0, 0.0])
    np.testing.assert_array_equal(a.grad[:1], [0.0])  # 2·0¹ (the other, 0.5·0^−0.5, is a genuine +∞)
    x = leaf([-2.0, -3.0])
    (x ** Tensor([2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(x.grad, [2 * -2.0, 3 * 9.0])


# ---- every gradient is an ndarray, for every primitive on 0-d operands ----------------------------------------------

# each builds a scalar-valued graph from two 0-d interior nodes h and k, through the primitive named
ZERO_D = {
    "add": lambda h, k: h + k,
    "sub": lambda h, k: h - k,
    "mul": lambda h, k: h * k,
    "div": lambda h, k: h / k,
    "power": lambda h, k: h**k,
    "where": lambda h, k: where(True, h, k),
    "neg": lambda h, k: -h,
    "pow": lambda h, k: h**3,
    "exp": lambda h, k: h.exp(),
    "expm1": lambda h, k: h.expm1(),
    "log": lambda h, k: h.log(),
    "tanh": lambda h, k: h.tanh(),
    "sigmoid": lambda h, k: h.sigmoid(),
    "relu": lambda h, k: h.relu(),
    "abs": lambda h, k: h.abs(),
    "matmul": lambda h, k: stack([h, k]) @ stack([k, h]),
    "sum": lambda h, k: h.sum(),
    "mean": lambda h, k: h.mean(),
    "prod": lambda h, k: h.prod(),
    "max": lambda h, k: h.max(),
    "reshape": lambda h, k: h.reshape(1, 1).reshape(()),
    "transpose": lambda h, k: h.T,
    "getitem": lambda h, k: h[()],
    "stack": lambda h, k: stack([h, k]).sum(),
    "concatenate": lambda h, k: concatenate([h.reshape(1), k.reshape(1)]).sum(),
    "softmax_cross_entropy": lambda h, k: F.softmax_cross_entropy(stack([h, k]), 1),
}
PRIMITIVES = {
    c.name
    for _, c in inspect.getmembers(ops, inspect.isclass)
    if issubclass(c, ops.Function) and "forward" in vars(c) and c.__module__ == ops.__name__
}


def test_the_zero_d_table_covers_every_primitive():
    assert PRIMITIVES <= set(ZERO_D), f"add a 0-d case for {PRIMITIVES - set(ZERO_D)}"


@pytest.mark.parametrize("name", sorted(ZERO_D))
def test_every_gradient_is_an_ndarray_for_zero_d_operands(name):
    """numpy hands back scalars from 0-d arithmetic; every .grad must still be an ndarray (it is added in place)."""
    x, y = leaf(0.7), leaf(1.3)
    h, k = x * 1.5, y * 2.0  # 0-d interior nodes, each also feeding stack and getitem (the in-place scatter path)
    out = ZERO_D[name](h, k)
    loss = h[()] + k[...] + out[()] + stack([out, out, h, k]).sum()  # getitem first: its scatter runs last
    assert name in {n.op for n in topological_order(loss)}
    loss.backward()
    for node in topological_order(loss, grad_only=True):
        assert type(node.grad) is np.ndarray, (node.op, type(node.grad))
    gradcheck(lambda x, y: ZERO_D[name](x * 1.5, y * 2.0) * 2 + x * 1.5, x, y)


def test_indexing_a_zero_d_interior_node_that_feeds_stack():
    """The issue's example: it ended in a numpy TypeError (a numpy scalar handed out as a gradient)."""
    for build in (lambda h: h[()] + stack([h, h]).sum(), lambda h: stack([h, h]).sum() + h[...]):
        x = leaf(2.0)
        h = x * 2.0
        build(h).backward()
        assert x.grad == 6.0 and type(h.grad) is np.ndarray


# ---- min, prod, where, squeeze, unsqueeze, flatten ------------------------------------------------------------------


@st.composite
def array_axis_keepdims(draw, min_dims=1):
    a = draw(arrays(min_dims=min_dims))
    if a.ndim == 0:
        return a, None, draw(st.booleans())
    axis = draw(
        st.none() | st.integers(-a.ndim, a.ndim - 1) | st.just(tuple(range(a.ndim))[: draw(st.integers(1, a.ndim))])
    )
    return a, axis, draw(st.booleans())


@given(case=array_axis_keepdims())
def test_min_is_numpy_min_with_central_difference_gradient(case):
    a, axis, keepdims = case
    x = leaf(a)
    np.testing.assert_array_equal(x.min(axis=axis, keepdims=keepdims).data, np.min(a, axis=axis, keepdims=keepdims))
    gradcheck(lambda x: x.min(axis=axis, keepdims=keepdims), x)


def test_min_splits_the_gradient_between_ties_and_is_one_composite():
    x = leaf([1.0, 0.0, 0.0, 2.0])
    m = x.min()
    m.backward()
    np.testing.assert_array_equal(x.grad, [0, 0.5, 0.5, 0])
    assert m.composite[-1][0] == "min"


@given(case=array_axis_keepdims(min_dims=0), zeros=st.lists(st.integers(0, 63), max_size=3))
def test_prod_with_zeros_in_the_input(case, zeros):
    """∂/∂a_i Π a = Π_{j≠i} a_j, also where a_i or another a_j is 0 (no division by a)."""
    a, axis, keepdims = case
    a = a.copy()
    a.reshape(-1)[[z % max(a.size, 1) for z in zeros if a.size]] = 0.0
    x = leaf(a)
    np.testing.assert_allclose(x.prod(axis=axis, keepdims=keepdims).data, np.prod(a, axis=axis, keepdims=keepdims))
    gradcheck(lambda x: x.prod(axis=axis, keepdims=keepdims), x)
    x.grad = None
    x.prod().backward()
    flat = a.reshape(-1)
    others = [np.prod(np.delete(flat, i)) for i in range(flat.size)]  # the product of the others, by brute force
    np.testing.assert_allclose(x.grad.reshape(-1), others, rtol=1e-12, atol=1e-300)


def test_prod_of_two_zeros_and_of_an_empty_axis():
    x = leaf([0.0, 0.0, 3.0])
    x.prod().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])
    e = leaf(np.ones((0, 3)))
    p = e.prod(axis=0)
    np.testing.assert_array_equal(p.data, [1.0, 1.0, 1.0])
    p.sum().backward()
    assert e.grad.shape == (0, 3)


@given(pair=st.tuples(arrays(shape=(2, 3)), arrays(shape=(3,))), seed=seeds)
def test_where_routes_the_gradient_by_the_condition(pair, seed):
    a, b = pair
    cond = np.random.default_rng(seed).random((2, 1)) < 0.5
    x, y = leaf(a), leaf(b)
    np.testing.assert_array_equal(where(cond, x, y).data, np.where(cond, a, b))
    gradcheck(lambda x, y: where(cond, x, y), x, y)
    gradcheck(lambda x: where(x > 0, x, 0.0), x)  # relu, written with a comparison
    x.grad = y.grad = None
    where(cond, x, y).sum().backward()
    np.testing.assert_array_equal(x.grad, np.broadcast_to(cond, a.shape))
    np.testing.assert_array_equal(y.grad, (~cond).sum(axis=0).repeat(3) if cond.shape[0] else np.zeros(3))


def test_where_errors_name_where():
    with pytest.raises(ValueError, match=r"where: cond \(2,\), a \(3,\) and b \(\) do not broadcast"):
        where(np.ones(2, bool), np.ones(3), 0.0)
    with pytest.raises(TypeError, match="where: cond must be boolean"):
        where(np.array(["a"]), 1.0, 2.0)


@given(a=arrays(min_dims=0, max_dims=4, max_side=3), data=st.data())
def test_squeeze_unsqueeze_expand_dims_flatten_are_numpy_reshapes(a, data):
    x = leaf(a)
    ones = [i for i, n in enumerate(a.shape) if n == 1]
    axis = data.draw(st.none() | st.sampled_from(ones)) if ones else None
    new = data.draw(st.integers(-a.ndim - 1, a.ndim))
    cases = [
        (lambda t: t.squeeze(axis), a.squeeze(axis)),
        (lambda t: t.unsqueeze(new), np.expand_dims(a, new)),
        (lambda t: t.expand_dims(new), np.expand_dims(a, new)),
        (lambda t: t.flatten(), a.reshape(-1)),
    ]
    if a.ndim >= 2:
        cases.append((lambda t: t.flatten(1), a.reshape(a.shape[0], -1)))
        cases.append((lambda t: t.flatten(0, -2), a.reshape(-1, a.shape[-1])))
    for f, want in cases:
        got = f(x)
        assert got.op == "reshape"
        np.testing.assert_array_equal(got.data, want)
        gradcheck(f, x)


def test_shape_conveniences_name_themselves_in_errors():
    x = Tensor(np.ones((2, 1, 3)))
    with pytest.raises(ValueError, match=r"squeeze: .*\(shape \(2, 1, 3\)\)"):
        x.squeeze(0)
    with pytest.raises(ValueError, match="unsqueeze"):
        x.unsqueeze(5)
    with pytest.raises(ValueError, match="flatten: start_dim 2 comes after end_dim 0"):
        x.flatten(2, 0)
    with pytest.raises(TypeError, match="flatten: axis must be a whole number"):
        x.flatten(None)


# ---- comparisons, conversions, identity ----------------------------------------------------------------------------


@given(pair=st.tuples(arrays(shape=(2, 3)), arrays(shape=(3,))))
def test_comparisons_are_boolean_numpy_arrays_outside_the_graph(pair):
    a, b = pair
    x, y = leaf(a), leaf(b)
    for got, want in [
        (x < y, a < b),
        (x <= b, a <= b),
        (x > 0.5, a > 0.5),
        (x >= y, a >= b),
        (0.5 < x, a > 0.5),  # reflected: Python asks x.__gt__
        (b > x, b > a),  # an ndarray on the left defers to the Tensor
        (x.eq(y), a == b),
        (x.ne(b), a != b),
    ]:
        assert type(got) is np.ndarray and got.dtype == bool
        np.testing.assert_array_equal(got, want)


def test_equality_and_hashing_are_by_identity():
    """`==` stays identity so that `node in list_of_nodes`, sets and dicts of nodes mean "this node" (see Tensor)."""
    x = leaf([1.0, 2.0])
    twin = leaf([1.0, 2.0])
    assert x == x and x != twin and not (x == twin)
    assert twin not in [x] and x in [twin, x] and len({x, twin, x}) == 2
    assert Tensor.__hash__ is object.__hash__
    np.testing.assert_array_equal(x.eq(twin), [True, True])


def test_comparison_errors_name_the_comparison():
    with pytest.raises(ValueError, match=r"less: cannot compare shape \(2,\) with \(3,\)"):
        _ = Tensor(np.ones(2)) < np.ones(3)


# ---- @ with 0-d operands, float16 ---------------------------------------------------------------------------------


def test_matmul_refuses_zero_d_operands_on_either_side():
    v = Tensor(np.ones(3))
    for a, b in [(Tensor(2.0), v), (v, Tensor(2.0)), (2.0, v), (v, 2.0)]:
        with pytest.raises(ValueError, match="matmul: .* operands must have at least one dimension"):
            a @ b


def test_float16_is_refused_with_a_clear_type_error():
    with pytest.raises(TypeError, match="Tensor: float16 is not supported"):
        Tensor(np.ones(2, np.float16))
    x = Tensor(np.ones(2, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float16"):
        x + np.ones(2, np.float16)  # an ndarray operand is lifted to a Tensor too
