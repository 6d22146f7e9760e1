"""Which layout a drawing gets: expanded (one cluster per step) or one box per step, refused when even that is too
large for Graphviz (naming the way out), and in the lecture's notation when the style says so."""

from __future__ import annotations

from collections.abc import Mapping

from tinygrad_rnn.layout import INITIAL, Layout, layout, layout_collapsed
from tinygrad_rnn.notation import lecture
from tinygrad_rnn.style import Style
from tinygrad_rnn.tensor import Tensor, topological_order

__all__ = ["layout_of"]


def _collapse(nodes: list[Tensor], style: Style) -> tuple[str, ...]:
    """The composites drawn as one box: style.collapse (each must be a composite of the graph), or every one in the
    lecture's notation."""
    present = tuple(dict.fromkeys(str(name) for t in nodes for name, _ in t.composite))
    missing = [c for c in style.collapse if c not in present]
    if missing:
        has = f"its composites are {', '.join(present)}" if present else "it has no composites"
        raise ValueError(f"draw: collapse={missing[0]!r} is no composite of this graph; {has}")
    return present if style.notation == "lecture" else style.collapse


def layout_of(root: Tensor, style: Style, targets: Mapping[Tensor, Tensor] | None = None) -> Layout:
    """The layout `draw` uses: expanded or one box per step (style.steps; "auto" collapses the steps when there are
    more than style.max_steps, or when the expanded drawing would have more than style.max_boxes boxes); refused
    when it would still have more; in the lecture's notation when the style says so."""
    limit, nodes = style.max_boxes, topological_order(root)
    collapse, mode = _collapse(nodes, style), style.steps
    n_steps = len({str(t.scope).split("/")[0] for t in nodes if t.scope} - {INITIAL})
    if mode == "auto" and style.max_steps is not None and n_steps > style.max_steps:
        mode = "collapse"
    if limit is not None and len(nodes) > limit:
        if not any(t.scope for t in nodes):
            _refuse(len(nodes), "nodes", limit, collapsed=False, steps=0)  # nothing to collapse
        if mode == "expand" and not collapse:
            _refuse(len(nodes), "nodes", limit, collapsed=False, steps=1)  # every node is at least one box
    lay = None
    if mode != "collapse" and (limit is None or mode == "expand" or len(nodes) <= limit):
        lay = layout(root, collapse, targets)
        if limit is not None and len(lay.boxes) > limit:
            if mode == "expand":
                _refuse(len(lay.boxes), "boxes", limit, collapsed=False, steps=len(lay.steps.order))
            lay = None
    if lay is None:
        lay = layout_collapsed(root, collapse, style.wrap, style.fan_edges, targets)
        if limit is not None and len(lay.boxes) > limit:
            _refuse(len(lay.boxes), "boxes", limit, collapsed=True, steps=len(lay.steps.order))
    return lecture(lay, style.param_columns) if style.notation == "lecture" else lay


def _refuse(n: int, what: str, limit: int, collapsed: bool, steps: int) -> None:
    """Refuse a drawing too large for Graphviz, naming the way out."""
    way_out = "or pass max_boxes=None to draw it anyway (Graphviz may then take minutes and run out of memory)"
    has = "the graph has" if what == "nodes" else "the drawing has"
    if not steps:
        raise ValueError(
            f"draw: {has} {n} {what}, more than max_boxes={limit}, and no time steps to collapse: build it "
            f"with scope('t=1'), scope('t=2'), … around each step and draw with steps='collapse', draw a part of "
            f"it (the drawing of a node nearer the inputs), {way_out}"
        )
    if collapsed:
        raise ValueError(
            f"draw: {n} boxes even with one box per time step ({steps} steps), more than max_boxes={limit}: draw a "
            f"shorter stretch of the sequence (e.g. one chunk of truncated BPTT), {way_out}"
        )
    raise ValueError(
        f"draw: {has} {n} {what}, more than max_boxes={limit}: draw with steps='collapse' (one box per "
        f"time step; steps='auto', the default, does so by itself), {way_out}"
    )
