"""The layout as plain data (groups, boxes, edges of each kind, hints), the initial state from the "t=0" scope,
collapsed steps as their own layout, the Style (presets, shorthands, one place of validation), and the size
limit: a long graph collapses its steps by itself, one too large even then is refused with the way out."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

import numpy as np
import pytest

from tinygrad_rnn import Tensor, scope
from tinygrad_rnn.dot import MAX_BOXES, STYLES, Style
from tinygrad_rnn.draw import draw, to_dot
from tinygrad_rnn.layout import INITIAL, Invisible, Layout, SameRank, layout, layout_collapsed
from tinygrad_rnn.rnn import RNN


def rnn_loss(T: int, seed: int = 0, H: int = 4):
    rng = np.random.default_rng(seed)
    rnn = RNN(3, H, 3, seed=seed)
    L = rnn.loss(rng.standard_normal((T, 3)), rng.integers(0, 3, size=T))
    L.backward()
    return L


def box_named(lay: Layout, name: str):
    (box,) = [b for b in lay.boxes.values() if b.title == name and b.kind != "op"]
    return box


# ---- the layout is data -------------------------------------------------------------------------------------------


def test_layout_imports_no_graphviz():
    code = "import sys, tinygrad_rnn.layout; print('graphviz' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_initial_state_is_the_t0_scope_in_its_own_group_before_the_steps():
    lay = layout(rnn_loss(3))
    assert lay.steps.order == ("t=1", "t=2", "t=3")  # t = 0 holds the initial state; it is not a time step
    top = lay.groups[()]
    assert [lay.groups[c].label for c in top.children] == ["t = 0", "t = 1", "t = 2", "t = 3"]
    assert lay.groups[top.children[0]].kind == "initial" and lay.groups[top.children[1]].kind == "step"
    h0 = box_named(lay, "h_0")
    assert h0.kind == "state" and h0.cluster == (("scope", INITIAL),)
    out = [e for e in lay.edges if e.tail == h0.id]
    assert [e.kind for e in out] == ["state"] and lay.boxes[out[0].head].cluster[0] == ("scope", "t=1")
    for p in "WUVbc":
        assert box_named(lay, p).kind == "param" and box_named(lay, p).cluster == ()


def test_no_guessing_a_leaf_outside_the_t0_scope_is_what_it_looks_like():
    """Without the "t=0" scope nothing is taken for an initial state: a leaf with a gradient outside every scope is
    a parameter, one without gradient that one step alone uses is drawn inside that step."""
    W = Tensor(np.eye(2), requires_grad=True, name="W")
    trained = Tensor(np.ones(2), requires_grad=True, name="h_0")  # would have been guessed to be the state
    given = Tensor(np.ones(2), name="x_1")
    with scope("t=1"):
        h = (W @ trained + given).tanh()
        h.name = "h_1"
    with scope("t=2"):
        h2 = (W @ h).tanh()
        h2.name = "h_2"
    lay = layout(h2.sum())
    assert box_named(lay, "h_0").kind == "param" and box_named(lay, "h_0").cluster == ()
    assert box_named(lay, "x_1").kind == "input" and box_named(lay, "x_1").cluster == (("scope", "t=1"),)


def test_every_edge_sits_in_the_innermost_group_holding_both_ends():
    lay = layout(rnn_loss(2), collapse=("cross_entropy",))
    assert {e.kind for e in lay.edges} == {"data", "param", "state", "detach", "internal"}
    placed = 0
    for path, group in lay.groups.items():
        for e in group.edges:
            a, b = lay.boxes[e.tail].cluster, lay.boxes[e.head].cluster
            assert a[: len(path)] == b[: len(path)] == path
            assert len(path) == len(a) or len(path) == len(b) or a[len(path)] != b[len(path)]
            placed += 1
    assert placed == len(lay.edges)
    assert sum(len(g.boxes) for g in lay.groups.values()) == len(lay.boxes)


def test_same_graph_gives_the_same_layout():
    a, b = layout(rnn_loss(3, seed=4)), layout(rnn_loss(3, seed=4))
    assert list(a.boxes) == list(b.boxes) and a.hints == b.hints
    assert [(e.tail, e.head, e.kind) for e in a.edges] == [(e.tail, e.head, e.kind) for e in b.edges]
    assert all(dataclasses.is_dataclass(h) for h in a.hints)


def test_hints_keep_time_order_parameters_then_t0_then_the_steps():
    lay = layout(rnn_loss(2))
    (anchors,) = [h for h in lay.hints if isinstance(h, SameRank) and h.rank == "min"]
    assert anchors.boxes == ("k0", "k1", "k2", "k3")  # parameters, t = 0, t = 1, t = 2
    chain = [(h.tail, h.head) for h in lay.hints if isinstance(h, Invisible) and h.tail in anchors.boxes]
    assert ("k0", "k1") in chain and ("k1", box_named(lay, "h_0").id) in chain


def test_collapsed_steps_are_a_layout_of_their_own():
    lay = layout_collapsed(rnn_loss(7), wrap=3)
    steps = [b for b in lay.boxes.values() if b.is_step]
    assert [b.title for b in steps] == [f"t={t}" for t in range(1, 8)] and lay.collapsed
    assert lay.groups[()].children == []  # no clusters at all, h_0 stands beside the first step
    assert box_named(lay, "h_0").cluster == ()
    back = {(lay.boxes[e.tail].title, lay.boxes[e.head].title) for e in lay.edges if e.backwards}
    assert back == {("t=4", "t=5"), ("t=5", "t=6")}  # the second row runs right to left
    rows = [h.boxes for h in lay.hints if isinstance(h, SameRank)]
    assert [len(r) for r in rows] == [3, 3, 1]


# ---- the style ----------------------------------------------------------------------------------------------------


def test_style_presets_shorthands_and_objects_agree():
    L = rnn_loss(1)
    assert "default" in STYLES and STYLES["default"] == Style()
    plain = to_dot(L, grads=True)
    assert to_dot(L, "default", grads=True) == plain == to_dot(L, Style(grads=True))
    assert to_dot(L, Style(grads=False), grads=True) == plain  # keywords fill the given style
    assert Style(collapse="softmax, tanh").collapse == ("softmax", "tanh")
    with pytest.raises(dataclasses.FrozenInstanceError):
        Style().grads = True


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda L: draw(L, compare=None), TypeError, r"draw: unknown keyword\(s\) compare .*annotations="),
        (lambda L: draw(L, colour="red", formula="printed"), TypeError, "draw: unknown keyword.*colour, formula"),
        (lambda L: draw(L, style="slides"), ValueError, "draw: style must be a Style or one of 'default'"),
        (lambda L: draw(L, style=3), TypeError, "draw: style must be a Style"),
        (lambda L: draw(L, grads="yes"), TypeError, "draw: grads must be True or False"),
        (lambda L: draw(L, backward_step=-1), ValueError, "draw: backward_step must be a whole number ≥ 0"),
        (lambda L: draw(L, max_boxes=0), ValueError, "draw: max_boxes must be a whole number ≥ 1 or None"),
        (lambda L: draw(L, title=5), TypeError, "draw: title must be a str"),
        (lambda L: draw(L, collapse=(1,)), TypeError, "draw: collapse must be composite names"),
        (lambda L: Style(wrap=0), ValueError, "Style: wrap must be a whole number ≥ 1, got 0"),
        (lambda L: Style(direction="up"), ValueError, "Style: direction must be 'BT', 'TB', 'LR' or 'RL'"),
    ],
)
def test_every_field_is_checked_and_the_error_names_it(call, error, message):
    with pytest.raises(error, match=message):
        call(rnn_loss(1))


# ---- size: collapse by itself, or refuse with the way out (issue 16, class 6) -------------------------------------


def test_a_long_sequence_collapses_its_steps_by_itself():
    L = rnn_loss(300, H=2)  # 6,600 nodes: more boxes expanded than MAX_BOXES
    assert MAX_BOXES == 5000
    source = to_dot(L)
    assert source.count("<B>t = ") == 300 and "subgraph cluster" not in source
    with pytest.raises(ValueError, match=r"more than max_boxes=5000: draw with steps='collapse'.*max_boxes=None"):
        to_dot(L, steps="expand")
    assert "subgraph cluster" in to_dot(L, steps="expand", max_boxes=None, legend=False)


def test_a_100000_node_graph_is_collapsed_or_refused_at_once():
    x = Tensor(1.0, requires_grad=True, name="x")
    chain = x
    for _ in range(100_000):
        chain = chain.tanh()  # no scopes: no time steps to collapse
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"100001 nodes, more than max_boxes=5000, and no time steps.*scope\('t=1'\)"):
        to_dot(chain)
    h, steps = x, 50_000
    for t in range(1, steps + 1):
        with scope(f"t={t}"):
            h = h.tanh()
    with pytest.raises(ValueError, match=r"even with one box per time step \(50000 steps\).*shorter stretch"):
        to_dot(h)
    assert time.perf_counter() - start < 10  # the old drawing spent minutes writing DOT that dot could not lay out
