"""Regression guard for speed that times nothing: the nodes and primitive calls of one RNN step are counted.

A change that doubles the graph of a step, or brings back a per-step pass over a whole-sequence array, changes these
counts deterministically — on any machine, however loaded.
"""

from __future__ import annotations

import collections
import inspect

import numpy as np
import pytest

from tinygrad_rnn import ops, pieces
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.tensor import topological_order

PRIMITIVES = [
    c for _, c in inspect.getmembers(ops, inspect.isclass) if issubclass(c, ops.Function) and c is not ops.Function
]


def _loss(T: int, batched: bool = True, **options):
    rng = np.random.default_rng(0)
    rnn = RNN(3, 4, 2, seed=0, **options)
    xs = rng.standard_normal((T, 2, 3) if batched else (T, 3))
    ys = rng.integers(0, 2, (T, 2) if batched else T)
    return rnn.loss(xs, ys)


@pytest.fixture
def calls(monkeypatch):
    """Counts every forward and backward call of every primitive, by (class name, method)."""
    counter = collections.Counter()

    def counting(cls, method):
        original = getattr(cls, method)

        def wrapper(self, *args):
            counter[type(self).__name__, method] += 1
            return original(self, *args)

        return wrapper

    for cls in PRIMITIVES:
        for method in ("forward", "backward"):
            if method in vars(cls):
                monkeypatch.setattr(cls, method, counting(cls, method))
    return counter


def _per_step(counter_at, T: int = 3) -> dict:
    """What one more step adds: counts at T + 1 minus counts at T."""
    more, less = counter_at(T + 1), counter_at(T)
    return {k: more[k] - less[k] for k in more if more[k] != less[k]}


@pytest.mark.parametrize(
    "options, batched, nodes",
    [
        ({"fast": True}, True, 4),
        ({"fast": True}, False, 4),
        ({"tanh": "primitive"}, True, 21),
        ({"tanh": "primitive"}, False, 18),
        ({"tanh": "composed"}, True, 30),
        ({"tanh": "composed"}, False, 27),
    ],
)
def test_nodes_per_step(options, batched, nodes):
    def count(T):
        return len(topological_order(_loss(T, batched, **options)))

    assert count(4) - count(3) == nodes
    assert count(9) - count(3) == 6 * nodes  # the same for every step: nothing grows with t


def test_a_fast_step_is_four_primitives():
    loss = _loss(5, fast=True)
    step = collections.Counter(n.op for n in topological_order(loss) if n.scope == "t=3")
    assert step == {"getitem": 1, "matmul": 1, "add": 1, "tanh": 1}
    assert sum(1 for n in topological_order(loss) if n.scope == "t=0") == 1  # h_0
    assert sum(1 for n in topological_order(loss) if n.scope is None) == 18  # the inputs x and their reshape,
    # parameters, the two whole-sequence matmuls with their transposes and biases, the reshape whose steps are taken,
    # concatenate, the fused loss and its sum


@pytest.mark.parametrize(
    "options, forward, backward",
    [
        ({"fast": True}, 4, 4),  # getitem (a step of W x + b), matmul, add, tanh
        ({"tanh": "primitive"}, 19, 18),  # + the transposes in W x_t, U h_t, V h_t and the composed softmax-CE
        ({"tanh": "composed"}, 25, 22),
    ],
)
def test_primitive_calls_per_step(calls, options, forward, backward):
    def at(T):
        calls.clear()
        _loss(T, **options).backward()
        return collections.Counter(calls)

    step = _per_step(at)
    assert sum(v for (_, m), v in step.items() if m == "forward") == forward
    assert sum(v for (_, m), v in step.items() if m == "backward") == backward
    if options.get("fast"):
        assert step[("GetItem", "backward")] == 1  # the step's gradient, handed back as a piece (no full-size zeros)


def test_the_steps_of_the_input_projection_are_stacked_once(monkeypatch):
    """Fast mode takes the steps a_t = (W x + b)[t]; a full-size zero gradient per step would make backward O(T²):
    the steps hand back Pieces, put together once (one zero array of the whole size, not T of them)."""
    made = collections.Counter()
    original = pieces.Pieces.__array__

    def counting(self, *args, **kw):
        made[self.shape] += 1
        return original(self, *args, **kw)

    monkeypatch.setattr(pieces.Pieces, "__array__", counting)
    loss = _loss(50, fast=True)
    loss.backward()
    assert made == {(50, 2, 4): 1}
    steps = [n for n in topological_order(loss) if n.op == "getitem"]
    np.testing.assert_array_equal(steps[0].parents[0].grad, np.stack([n.grad for n in steps]))


def test_no_gradient_is_computed_for_the_inputs():
    loss = _loss(4, fast=True)
    loss.backward()
    x = next(n for n in topological_order(loss) if n.name == "x")
    assert not x.requires_grad and x.grad is None


def test_nodes_hash_by_identity():
    """topological_order keeps nodes in a set: that needs Tensor's identity hash (no elementwise __eq__)."""
    from tinygrad_rnn.tensor import Tensor

    assert Tensor.__eq__ is object.__eq__ and Tensor.__hash__ is object.__hash__


@pytest.mark.parametrize("options", [{"fast": True}, {"tanh": "primitive"}])
def test_a_replayed_step_is_the_hand_bptts_six_numpy_calls(options):
    """The recorded program of one more step: forward U h_{t−1}, + a_t, tanh; backward the share through U, its sum
    with ∇_{h_t}L from the output layer, times 1 − h_t² — as the hand BPTT (W x_t, the output layer, softmax, the
    losses and the weight gradients run once for all steps). Counted, not timed."""
    from tinygrad_rnn import replay

    def program(T: int):
        rng = np.random.default_rng(0)
        rnn = RNN(3, 4, 2, seed=0, **options)
        g = replay(rnn.loss, check="never")
        g(rng.standard_normal((T, 2, 3)), rng.integers(0, 2, (T, 2)))
        return next(iter(g.recordings.values())).program

    more, less = program(9), program(8)
    assert len(more.forward) - len(less.forward) == 3
    assert len(more.backward) - len(less.backward) == 3
