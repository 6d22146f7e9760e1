"""Regression guard for speed that times nothing: the nodes and primitive calls of one RNN step are counted.

A change that doubles the graph of a step, or brings back a per-step pass over a whole-sequence array, changes these
counts deterministically — on any machine, however loaded.
"""

from __future__ import annotations

import collections
import inspect

import numpy as np
import pytest

from tinygrad_rnn import ops
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
    """Counts every forward, backward and add_to call of every primitive, by (class name, method)."""
    counter = collections.Counter()

    def counting(cls, method):
        original = getattr(cls, method)

        def wrapper(self, *args):
            counter[type(self).__name__, method] += 1
            return original(self, *args)

        return wrapper

    for cls in PRIMITIVES:
        for method in ("forward", "backward", "add_to"):
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
    assert sum(1 for n in topological_order(loss) if n.scope is None) == 16  # inputs, parameters, the two
    # whole-sequence matmuls with their transposes and biases, concatenate, the fused loss and its sum


@pytest.mark.parametrize(
    "options, forward, backward",
    [
        ({"fast": True}, 4, 3),  # getitem, matmul, add, tanh; getitem's gradient is scattered in place (add_to)
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
        assert step[("GetItem", "add_to")] == 1 and ("GetItem", "backward") not in step


def test_slices_of_the_input_projection_scatter_in_place(calls):
    """Fast mode slices W x + b once per step; a full-size zero gradient per slice would make backward O(T²)."""
    _loss(50, fast=True).backward()
    assert calls["GetItem", "backward"] <= 2  # the first slices make the buffer, the rest add into it
    assert calls["GetItem", "add_to"] >= 48


def test_no_gradient_is_computed_for_the_inputs():
    loss = _loss(4, fast=True)
    loss.backward()
    x = next(n for n in topological_order(loss) if n.name == "x")
    assert not x.requires_grad and x.grad is None


def test_nodes_hash_by_identity():
    """topological_order keeps nodes in a set: that needs Tensor's identity hash (no elementwise __eq__)."""
    from tinygrad_rnn.tensor import Tensor

    assert Tensor.__eq__ is object.__eq__ and Tensor.__hash__ is object.__hash__
