"""Graph mechanics of the engine and its errors on bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_rnn import Tensor, composite, detect_anomaly, no_grad, scope, topological_order
from tinygrad_rnn import functional as F
from tinygrad_rnn.gradcheck import gradcheck
from tinygrad_rnn.strategies import arrays


def leaf(a, name=None):
    return Tensor(a, requires_grad=True, name=name)


# ---- construction ----


def test_data_conversion_and_fields():
    t = Tensor([1, 2, 3])
    assert t.dtype == np.float64 and t.shape == (3,) and t.ndim == 1 and t.size == 3
    assert Tensor(np.float32([1.5])).dtype == np.float32
    assert Tensor(True).dtype == np.float64 and Tensor(7).item() == 7.0
    assert t.op is None and t.parents == () and t.grad is None and not t.requires_grad
    assert np.shares_memory(t.numpy(), t.data)
    u = leaf(np.ones((2, 3)), name="W")
    assert u.T.shape == (3, 2) and u.name == "W" and "W" in repr(u)


@pytest.mark.parametrize("bad", [np.array(["a"]), np.array([1 + 2j]), np.array([object()], dtype=object)])
def test_non_real_data_is_a_type_error_naming_the_dtype(bad):
    with pytest.raises(TypeError, match=str(bad.dtype)):
        Tensor(bad)


def test_ragged_data_is_a_type_error():
    with pytest.raises(TypeError, match="regular"):
        Tensor([[1.0, 2.0], [3.0]])


def test_float32_stays_float32_with_python_scalars():
    x = Tensor(np.float32([1.0, 2.0]), requires_grad=True)
    y = (x * 2 + 1).sum()
    y.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


# ---- graph ----


def test_parents_are_in_argument_order_and_op_named():
    a, b = leaf(1.0), leaf(2.0)
    c = b - a
    assert c.parents == (b, a) and c.op == "sub"
    assert (3.0 - a).parents[1] is a


def test_x_times_x():
    x = leaf(3.0)
    (x * x).backward()
    assert x.grad == 6.0


def test_interior_diamond():
    """h feeds two branches that meet again — like h_t feeding both o_t and h_{t+1}."""
    x = leaf(0.7)
    h = (x * 2.0).tanh()  # interior shared node
    out = h * 3.0 + (h * h).exp()
    out.backward()
    hv = np.tanh(1.4)
    assert h.grad == pytest.approx(3.0 + 2 * hv * np.exp(hv * hv), rel=1e-14)
    assert x.grad == pytest.approx(h.grad * (1 - hv**2) * 2.0, rel=1e-14)
    gradcheck(lambda x: (x * 2.0).tanh() * 3.0 + ((x * 2.0).tanh() ** 2).exp(), x)


def test_every_node_keeps_its_gradient():
    x = leaf([1.0, 2.0])
    y = x * 3.0
    z = y.sum()
    z.backward()
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])
    assert z.grad == 1.0


def test_long_chain_without_recursion_error():
    x = leaf(1.0)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.backward()
    assert x.grad == 1.0 and y.item() == 100_001.0


def test_topological_order_is_deterministic_and_parents_first():
    def build():
        a, b = leaf(1.0, "a"), leaf(2.0, "b")
        c = a * b
        d = (c + a).exp() * c
        return d

    orders = [[(n.op, n.name) for n in topological_order(build())] for _ in range(2)]
    assert orders[0] == orders[1]
    nodes = topological_order(build())
    pos = {id(n): i for i, n in enumerate(nodes)}
    assert all(pos[id(p)] < pos[id(n)] for n in nodes for p in n.parents)


def test_two_backward_calls_accumulate_into_leaves_only():
    x = leaf(2.0)
    h = x * x
    y = h * 3.0
    y.backward()
    y.backward()
    assert x.grad == 24.0  # 2 × 12: leaves accumulate
    assert h.grad == 3.0  # interior recomputed, not doubled
    x.zero_grad()
    y.backward()
    assert x.grad == 12.0


def test_leaf_gradient_is_owned_not_shared():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()  # add hands the same array to both parents
    a.grad *= 10
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_no_grad_builds_no_graph():
    x = leaf(2.0)
    with no_grad():
        y = x * 3.0
    assert y.parents == () and y.op is None and not y.requires_grad
    with pytest.raises(ValueError, match="does not require grad"):
        y.backward()


def test_detach_cuts_the_gradient_and_remembers_its_source():
    x = leaf(2.0)
    h = x * 3.0
    d = h.detach()
    assert d.detached_from is h and d.op == "detach" and not d.requires_grad
    y = h * d  # gradient flows only through the left factor
    y.backward()
    assert x.grad == 3.0 * 6.0


def test_scopes_nest_and_composites_are_recorded():
    x = leaf([1.0, 2.0])
    with scope("t=1"):
        a = x * 2.0
        with scope("gate"):
            b = a + 1.0
    assert a.scope == "t=1" and b.scope == "t=1/gate" and (x * 1.0).scope is None
    y = F.softmax(x)
    names = {c[0] for n in topological_order(y) for c in n.composite}
    assert names == {"softmax"} and y.composite[0][0] == "softmax" and x.composite == ()
    with composite("outer"):
        z = F.tanh(x)
    assert [c[0] for c in z.composite] == ["outer", "tanh"]


# ---- errors ----


def test_broadcast_error_names_op_shapes_and_scope():
    with scope("t=3"), pytest.raises(ValueError, match=r"add at t=3: shapes \(3,\) and \(4,\) do not broadcast"):
        Tensor(np.ones(3)) + Tensor(np.ones(4))


def test_matmul_error_names_inner_dimensions():
    W, x = Tensor(np.ones((4, 3))), Tensor(np.ones(4))
    with scope("t=3"), pytest.raises(ValueError, match=r"matmul at t=3: \(4, 3\) @ \(4,\) — inner dimensions 3 and 4"):
        W @ x
    with pytest.raises(ValueError, match="at least one dimension"):
        Tensor(2.0) @ x
    with pytest.raises(ValueError, match="stack dimensions"):
        Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((5, 4, 1)))


def test_backward_errors():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(ValueError, match=r"non-scalar of shape \(2,\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\)"):
        y.backward(np.ones(3))
    with pytest.raises(ValueError, match="does not require grad"):
        Tensor(1.0).backward()
    y.backward(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(x.grad, [2.0, -2.0])


def test_bad_axis_and_index_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"sum: axis 2 is out of range for shape \(2, 3\)"):
        x.sum(axis=2)
    with pytest.raises(IndexError, match=r"getitem: index .* shape \(2, 3\)"):
        x[5]
    with pytest.raises(ValueError, match="reshape"):
        x.reshape(4)
    with pytest.raises(TypeError, match="pow: the exponent must be a real number or a tensor"):
        x ** "2"


def test_stack_and_concatenate_errors():
    from tinygrad_rnn import concatenate, stack

    with pytest.raises(ValueError, match="equal shape"):
        stack([Tensor(np.ones(2)), Tensor(np.ones(3))])
    with pytest.raises(ValueError, match="concatenate"):
        concatenate([Tensor(np.ones((2, 2))), Tensor(np.ones((3, 3)))], axis=0)


def test_detect_anomaly_names_the_first_op_forward_and_backward():
    x = leaf([0.0, 1.0])
    with np.errstate(divide="ignore"), detect_anomaly(), scope("t=2"):
        with pytest.raises(FloatingPointError, match="forward of log at t=2"):
            x.log()
    y = x.abs() ** 0.5  # finite forward, infinite derivative at 0
    with np.errstate(divide="ignore"), detect_anomaly(), pytest.raises(FloatingPointError, match="backward of pow"):
        y.sum().backward()
    with np.errstate(divide="ignore"):
        z = x.log()  # outside the context nothing is checked
    assert np.isneginf(z.data[0])


@given(a=arrays(min_dims=1), data=st.data())
def test_ndarray_on_the_left_defers_to_tensor(a, data):
    x = leaf(a)
    y = np.ones_like(a) * x + a
    assert isinstance(y, Tensor)
    gradcheck(lambda x: np.full_like(a, 2.0) / (x * x + 1.0), x)


def test_retain_grads_false_frees_interior_gradients_only():
    x = leaf([1.0, -2.0])
    h = (x * 3.0).tanh()
    y = (h * h).sum()
    y.backward(retain_grads=False)
    assert h.grad is None and y.grad == 1.0  # interior freed, the root keeps its seed
    kept = leaf([1.0, -2.0])
    ((kept * 3.0).tanh() ** 2).sum().backward()
    np.testing.assert_array_equal(x.grad, kept.grad)  # the same leaf gradients either way
