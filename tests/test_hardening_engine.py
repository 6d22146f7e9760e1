"""Engine state per thread, checks of custom primitives' backward, pickling and copying graphs of any depth."""

import copy
import pickle
import threading

import numpy as np
import pytest

from tinygrad_rnn import Tensor, composite, detect_anomaly, no_grad, ops, scope, topological_order
from tinygrad_rnn import functional as F
from tinygrad_rnn.tensor import apply


def leaf(a, name=None):
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=True, name=name)


# ---- grad mode, scope, composite, anomaly: settings of the calling thread -------------------------------------------


def run_threads(*targets):
    """Run each target in its own thread; re-raise the first exception of any of them here."""
    errors = []

    def guarded(target):
        try:
            target()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def records_graph() -> bool:
    return (leaf(1.0) * 2.0).requires_grad


def test_no_grad_in_one_thread_does_not_stop_another_from_recording():
    barrier, seen = threading.Barrier(2, timeout=10), {}

    def quiet():
        with no_grad():
            barrier.wait()  # 1: inside no_grad
            seen["quiet"] = records_graph()
            barrier.wait()  # 2: the other thread has built its node

    def busy():
        barrier.wait()  # 1
        seen["busy"] = records_graph()
        barrier.wait()  # 2

    run_threads(quiet, busy)
    assert seen == {"quiet": False, "busy": True}


def test_interleaved_no_grad_in_two_threads_leaves_grad_on():
    """A enters, B enters, A leaves, B leaves: with one global flag B would restore A's False for good."""
    barrier = threading.Barrier(2, timeout=10)

    def first():
        with no_grad():
            barrier.wait()  # 1: A inside
            barrier.wait()  # 2: B inside
        barrier.wait()  # 3: A left
        barrier.wait()  # 4: B left

    def second():
        barrier.wait()  # 1
        with no_grad():
            barrier.wait()  # 2
            barrier.wait()  # 3
        barrier.wait()  # 4

    run_threads(first, second)
    assert records_graph()
    seen = []
    run_threads(lambda: seen.append(records_graph()))
    assert seen == [True]


def test_a_new_thread_starts_with_grad_on_and_no_scope_or_composite():
    seen = {}

    def fresh():
        x = leaf([1.0, 2.0])
        y = x * 2.0
        seen["fresh"] = (y.requires_grad, y.scope, y.composite)
        with np.errstate(divide="ignore"):
            seen["log0"] = Tensor(0.0).log().data  # no anomaly check here

    with no_grad(), scope("t=1"), composite("outer"), detect_anomaly():
        run_threads(fresh)
        inside = Tensor([1.0]) * 2.0
    assert seen["fresh"] == (True, None, ())
    assert np.isneginf(seen["log0"])
    assert inside.scope == "t=1" and not inside.requires_grad


def test_scopes_of_two_threads_do_not_mix():
    barrier, scopes = threading.Barrier(2, timeout=10), {}

    def labelled(label):
        def run():
            with scope(label):
                barrier.wait()
                scopes[label] = (leaf(1.0) * 2.0).scope
                barrier.wait()

        return run

    run_threads(labelled("t=1"), labelled("t=2"))
    assert scopes == {"t=1": "t=1", "t=2": "t=2"}


# ---- the engine checks what a custom primitive's backward returns ---------------------------------------------------


class BareArray(ops.Function):
    """out = 2a, whose backward forgets the tuple: returns the gradient itself."""

    name = "bare_array"

    def forward(self, a):
        return 2 * a

    def backward(self, g):
        return 2 * g


class WrongShape(ops.Function):
    """out = 2a, whose backward returns a gradient that does not sum back to a's shape."""

    name = "wrong_shape"

    def forward(self, a):
        return 2 * a

    def backward(self, g):
        return (2 * g[:2],)


class TooMany(ops.Function):
    name = "too_many"

    def forward(self, a):
        return 2 * a

    def backward(self, g):
        return 2 * g, g


def test_backward_returning_a_bare_array_is_a_type_error_naming_op_shapes_scope():
    x = leaf([1.0, 2.0, 3.0])
    with scope("t=2"):
        y = apply(BareArray, x)
    with pytest.raises(
        TypeError,
        match=r"backward of bare_array at t=2 must return a tuple, one gradient per input \(\(3,\)\): ndarray \(3,\)",
    ):
        y.sum().backward()
    with pytest.raises(TypeError, match=r"backward of too_many must return a tuple, .*: a tuple of 2"):
        apply(TooMany, x).sum().backward()


def test_backward_returning_a_gradient_of_the_wrong_shape_is_a_value_error():
    x = leaf([1.0, 2.0, 3.0])
    with scope("t=4"):
        y = apply(WrongShape, x)
    with pytest.raises(
        ValueError, match=r"backward of wrong_shape at t=4: .*shape \(2,\) for an input of shape \(3,\)"
    ):
        y.sum().backward()


def test_a_broadcast_gradient_is_still_summed_back():
    """The check must not refuse what unbroadcast legitimately repairs (a gradient in the output's broadcast shape)."""
    a, b = leaf(np.ones((1, 3))), leaf(np.ones((2, 1)))
    (a * b).sum().backward()
    assert a.grad.shape == (1, 3) and b.grad.shape == (2, 1)
    np.testing.assert_array_equal(a.grad, [[2.0, 2.0, 2.0]])


# ---- pickling and copying -------------------------------------------------------------------------------------------


def chain(n=10_000):
    x = leaf([0.5, -1.0], name="x")
    y = x
    for i in range(n):
        with scope(f"t={i}"):
            y = y * 1.0001 + 0.25 if i % 2 else (y * 0.999).tanh()
    return x, y.sum()


@pytest.mark.parametrize("roundtrip", ["pickle", "deepcopy"])
def test_a_ten_thousand_node_chain_round_trips_and_backward_still_works(roundtrip):
    x, loss = chain()
    loss.backward()
    twin = {
        "pickle": lambda o: pickle.loads(pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL)),
        "deepcopy": copy.deepcopy,
    }[roundtrip](loss)
    nodes, copies = topological_order(loss), topological_order(twin)
    assert len(copies) == len(nodes) > 20_000
    fields = [[(n.op, n.name, n.scope, n.requires_grad, n.dtype, n.shape) for n in ns] for ns in (nodes, copies)]
    assert fields[0] == fields[1]
    for field in ("data", "grad"):  # gradients travel too (every node's data has the leaf's shape (2,) or is a leaf's)
        got = [np.broadcast_to(getattr(n, field), (2,)) for n in copies if getattr(n, field) is not None]
        want = [np.broadcast_to(getattr(n, field), (2,)) for n in nodes if getattr(n, field) is not None]
        np.testing.assert_array_equal(np.stack(got), np.stack(want))
    x_twin = copies[0]
    assert x_twin is not x and x_twin.name == "x"
    x_twin.grad = None
    twin.backward()  # the saved values of every op came along: backward works on the copy
    np.testing.assert_array_equal(x_twin.grad, x.grad)


def test_shared_leaves_keep_their_identity_within_one_dumps():
    W, b = leaf(np.ones((2, 3)), "W"), leaf(np.zeros(2), "b")
    x = Tensor(np.arange(3.0))
    with composite("model"):
        loss = F.softmax(W @ x + b).log().sum() + (W * W).sum()
    params, loss2 = pickle.loads(pickle.dumps(([W, b], loss)))
    leaves = [n for n in topological_order(loss2) if n.op is None]
    assert params[0] in leaves and params[1] in leaves  # identity: the model's parameters are the graph's leaves
    assert sum(n is params[0] for n in leaves) == 1
    loss2.backward()
    loss.backward()
    np.testing.assert_array_equal(params[0].grad, W.grad)
    assert {c[0] for n in topological_order(loss2) for c in n.composite} >= {"model", "softmax"}
    copied = copy.deepcopy({"W": W, "loss": loss})
    assert copied["W"] in topological_order(copied["loss"]) and copied["W"] is not W


def test_a_detached_tensor_pickles_and_loses_its_weak_source():
    h = leaf([1.0, 2.0]) * 3.0
    d = h.detach()
    assert d.detached_from is h
    for twin in (pickle.loads(pickle.dumps(d)), copy.deepcopy(d)):
        np.testing.assert_array_equal(twin.data, d.data)
        assert twin.op == "detach" and twin.detached_from is None and not twin.requires_grad


def test_leaves_and_no_grad_results_pickle_as_they_are():
    for t in (leaf([1.0, 2.0], "p"), Tensor(np.float32([3.0])), Tensor(2.0)):
        twin = pickle.loads(pickle.dumps(t))
        assert type(twin) is Tensor and twin.dtype == t.dtype and twin.name == t.name
        np.testing.assert_array_equal(twin.data, t.data)
    with no_grad():
        v = leaf([1.0]) * 2.0
    assert pickle.loads(pickle.dumps(v)).data == 2.0
