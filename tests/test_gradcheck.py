"""The checker itself must catch wrong gradients, name the culprit, and agree with exact Jacobians."""

import numpy as np
import pytest
from hypothesis import given

from tinygrad_rnn import Tensor, ops
from tinygrad_rnn.gradcheck import gradcheck, jacobian, numerical_grad
from tinygrad_rnn.strategies import arrays, broadcastable_pairs, matmul_pairs
from tinygrad_rnn.tensor import apply


class WrongTanh(ops.Tanh):
    """tanh with the classic slip: derivative 1 − out instead of 1 − out²."""

    def backward(self, g):
        return (g * (1.0 - self.saved[0]),)


class TransposedMatMul(ops.MatMul):
    """matmul whose left gradient uses the rows of b in the wrong order."""

    def backward(self, g):
        a, b = self.saved
        return g @ b[::-1].T if self.needs[0] else None, a.T @ g if self.needs[1] else None


def test_numerical_grad_of_a_known_function():
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(numerical_grad(lambda v: np.sum(np.sin(v)), x), np.cos(x), rtol=1e-9)
    t = Tensor(x.copy(), requires_grad=True)
    g = numerical_grad(lambda v: (v * v).sum(), t)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-9)
    np.testing.assert_array_equal(t.data, x)  # restored exactly


def test_gradcheck_catches_a_wrong_derivative_and_names_it():
    x = Tensor(np.array([0.5, -0.3]), requires_grad=True, name="h_2")
    with pytest.raises(AssertionError, match=r"input 0 \(h_2\) of shape \(2,\), element \(1,\): backward gives 1.29"):
        gradcheck(lambda x: apply(WrongTanh, x).sum(), x)


def test_gradcheck_catches_a_swapped_index_with_an_uneven_upstream():
    rng = np.random.default_rng(1)
    a = Tensor(rng.standard_normal((3, 3)), requires_grad=True)
    b = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    with pytest.raises(AssertionError, match="input 0"):
        gradcheck(lambda a, b: apply(TransposedMatMul, a, b), a, b)


def test_projection_mode_agrees_and_catches():
    rng = np.random.default_rng(2)
    x = Tensor(rng.standard_normal((40, 30)), requires_grad=True)
    assert gradcheck(lambda x: x.tanh().sum(), x, projection=True)
    with pytest.raises(AssertionError, match="projection"):
        gradcheck(lambda x: apply(WrongTanh, x).sum(), x, projection=True)


def test_non_grad_inputs_are_skipped():
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    assert gradcheck(lambda x, c: (x * c).sum(), x, c)
    assert c.grad is None


@given(pair=matmul_pairs(stacked=False))
def test_jacobian_of_matmul_is_the_other_operand(pair):
    a, b = pair
    x = Tensor(a, requires_grad=True)
    J = jacobian(lambda x: x @ Tensor(b), x)
    num = np.stack([numerical_grad(lambda v, i=i: (v @ b).reshape(-1)[i], a) for i in range(np.size(a @ b))])
    np.testing.assert_allclose(J.reshape(num.shape), num, rtol=1e-6, atol=1e-9)


def test_jacobian_rejects_non_grad_input():
    with pytest.raises(ValueError, match="requires_grad"):
        jacobian(lambda x: x, Tensor([1.0]))


@given(pair=broadcastable_pairs())
def test_broadcastable_pairs_broadcast(pair):
    a, b = pair
    np.broadcast_shapes(a.shape, b.shape)
    assert a.dtype == b.dtype == np.float64


@given(a=arrays(low=-1, high=1))
def test_arrays_respect_bounds(a):
    assert np.all((a >= -1) & (a < 1))
