"""The DOT writer: `write(layout, style, annotations)` paints a `Layout` (layout.py) with a `Style` (style.py).

Groups become clusters (nested), boxes nodes with HTML-like labels, edges edges, the layout's hints rank rows and
invisible edges, and the caption (legend.py) a title and a legend. Annotations (`tinygrad_rnn.annotations`) add rows
of text under a node's label and a fill colour, and their legend entries to the legend; the writer knows nothing of
whoever made them. Text is made safe for Graphviz by markup.py. In the lecture notation (style.notation) an op box
says what it computes (box.label) and a value box made by an op shows the op in a cell of its own (box.op_label).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_rnn.annotations import Annotation, Annotations
from tinygrad_rnn.boxes import Box, Edge, Invisible, Layout, Point, SameRank, name_text
from tinygrad_rnn.canvas import Pins
from tinygrad_rnn.fmt import array_text, norm, num, shape_text
from tinygrad_rnn.legend import caption
from tinygrad_rnn.markup import NAME_CHARS, NOTE_ROWS, clip, font, html, html_label, quoted, subscripts
from tinygrad_rnn.style import (
    BORDER,
    FILL,
    GRAD_RED,
    HEAT,
    KINDS,
    MAX_BOXES,
    MUTED,
    OP_SYMBOL,
    ORDER_PURPLE,
    PARAM_EDGE,
    STATE_EDGE,
    STYLES,
    Style,
    check_fields,
    font_sizes,
    make_style,
)
from tinygrad_rnn.tensor import Tensor, topological_order

if TYPE_CHECKING:
    import graphviz

# fmt: off
__all__ = [
    "Style", "STYLES", "MAX_BOXES", "KINDS", "FILL", "BORDER", "HEAT",
    "OP_SYMBOL", "check_fields", "make_style", "write", "html", "quoted", "clip", "heat_scale", "rankdir", "reveals",
]
# fmt: on

# ---- heat-map -------------------------------------------------------------------------------------------------------


def _heat_index(value: float, lo: float, hi: float) -> int:
    """Bin of log10(value) on the scale [lo, hi] (decades), 0 … len(HEAT) − 1; monotone in value."""
    if value <= 0:
        return 0
    if hi <= lo:
        return len(HEAT) - 1
    frac = (math.log10(value) - lo) / (hi - lo)
    return min(len(HEAT) - 1, max(0, int(frac * len(HEAT))))


def heat_scale(norms: list[float]) -> tuple[float, float]:
    """Whole decades [lo, hi] covering the positive norms (a scale that reads well in the legend)."""
    positive = [v for v in norms if v > 0 and math.isfinite(v)]
    if not positive:
        return 0.0, 0.0
    lo, hi = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    return float(lo), float(hi if hi > lo else lo + 1)


def rankdir(style: Style, collapsed: bool) -> str:
    """Graphviz's rankdir: the style's direction; one box per step reads in rows (TB) or columns (LR) of steps."""
    if collapsed:
        return "TB" if style.direction in ("BT", "TB") else "LR"
    return style.direction


# ---- painting: what each box and edge looks like ------------------------------------------------------------------


@dataclass(frozen=True)
class _Paint:
    """A layout with its style and annotations, plus what painting needs to know of the whole graph: the heat-map's
    scale, the number backward gives each op (place → k) and the font sizes."""

    lay: Layout
    style: Style
    notes: Annotations | None
    heat: tuple[float, float]
    visit: dict[int, int]
    size: dict[str, int]
    pins: Pins | None = None
    written: dict[tuple[str, str], int] = field(default_factory=dict)  # edges written so far, by (tail, head)


def _paint(lay: Layout, style: Style, notes: Annotations | None, pins: Pins | None = None) -> _Paint:
    heat = (0.0, 0.0)
    if style.heatmap and style.scale:
        heat = (math.log10(style.scale[0]), math.log10(style.scale[1]))
    elif style.heatmap:
        heat = heat_scale([_heat_value(style, t) for t in lay.graph.tensors])
    visit: dict[int, int] = {}
    if style.order or style.backward_step is not None:
        ops = [t for t in reversed(topological_order(lay.graph.root, grad_only=True)) if t.op is not None]
        visit = {lay.graph.at(t): k for k, t in enumerate(ops, start=1)}
    return _Paint(lay, style, notes, heat, visit, font_sizes(style), pins)


def _heat_value(style: Style, t: Tensor) -> float:
    if style.heatmap == "grad":
        return norm(t.grad) if t.grad is not None else -1.0
    return norm(t.data)


def _reveal(p: _Paint, t: Tensor) -> float:
    """The backward step from which `t` has its gradient: an op's own number, a leaf's last user's (∞: never)."""
    if not p.lay.graph.has(t):  # the lost source of a detach(): not part of this backward pass
        return math.inf
    i = p.lay.graph.at(t)
    if t.op is not None:
        return p.visit.get(i, math.inf)
    users = [c for c in p.lay.graph.consumers[i] if p.lay.graph.tensors[c].requires_grad]
    return max((p.visit.get(c, math.inf) for c in users), default=math.inf)


def _grad_visible(p: _Paint, t: Tensor) -> bool:
    """Has backward reached `t` (by step `backward_step`, when frames are drawn)?"""
    step = p.style.backward_step
    if t.grad is None or step is None:
        return t.grad is not None
    return _reveal(p, t) <= step


def reveals(lay: Layout, style: Style) -> dict[str, int]:
    """Box id → the backward step (the number of ops backward has visited) from which the box shows its gradient,
    for every box with a gradient that is not an op — what an animation of the backward pass reveals when."""
    p = _paint(lay, replace(style, order=True), None)
    out: dict[str, int] = {}
    for b, box in lay.boxes.items():
        t = box.tensors[0]
        if box.kind in ("op", "const", "ghost") or (box.kind == "group" and not box.is_step) or t.grad is None:
            continue
        k = _reveal(p, t)
        if k < math.inf:
            out[b] = int(k)
    return out


def _numbers(p: _Paint, box: Box) -> tuple[int | None, int | None]:
    """(first, last) number backward gives the ops of a box (both None for value boxes without an op inside)."""
    if (box.kind not in ("op", "group") and not box.op_label) or not p.visit:
        return None, None
    graph = p.lay.graph
    found = [p.visit[graph.at(t)] for t in (box.members or box.tensors) if graph.has(t) and graph.at(t) in p.visit]
    return (min(found), max(found)) if found else (None, None)


def _note(p: _Paint, box: Box) -> Annotation | None:
    """The annotation a box shows: a value box's, or an op's whose result has no value box of its own."""
    if p.notes is None or box.kind in ("ghost", "group", "const"):
        return None
    if box.kind == "op" and box.id + "v" in p.lay.boxes:
        return None
    return p.notes.of(box.tensors[0])


def _tooltip(box: Box) -> str:
    lines = []
    for t in box.tensors[:6]:
        head = clip(name_text(t.name), NAME_CHARS) or OP_SYMBOL.get(t.op or "", t.op or "leaf")
        used = [clip(name_text(q.name), NAME_CHARS) or (q.op or "leaf") for q in t.parents[:8]]
        used += [f"… {len(t.parents)} in all"] if len(t.parents) > 8 else []
        lines.append(f"{head} = {t.op}({', '.join(used)})" if t.op else f"{head} (leaf)")
        where = f", scope {clip(t.scope, NAME_CHARS)}" if t.scope else ""
        lines.append(f"  shape {shape_text(t.shape)} {t.dtype}{where}")
        lines.append(f"  value {array_text(t.data, 8)}")
        if t.grad is not None:
            lines.append(f"  grad  {array_text(t.grad, 8)}")
    if len(box.tensors) > 6:
        lines.append(f"… and {len(box.tensors) - 6} more")
    if box.detail:
        lines.append(box.detail)
    return "\n".join(lines)


def _row(p: _Paint, text: str, colour: str, span: int = 2) -> str:
    inner = html(text)
    cell = f'<FONT POINT-SIZE="{p.size["small"]}" COLOR="{colour}">{inner}</FONT>' if inner else ""
    return f'<TR><TD COLSPAN="{span}">{cell}</TD></TR>'


def _table(rows: list[str]) -> str:
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def _name(p: _Paint, text: str) -> str:
    """A name as markup: in the lecture notation with its subscripts."""
    return subscripts(text, NAME_CHARS) if p.style.notation == "lecture" else html(text, NAME_CHARS)


def _badge(p: _Paint, box: Box) -> str:
    """The purple numbers backward gives the ops of a box (style.order)."""
    if not p.style.order:
        return ""
    first, last = _numbers(p, box)
    number = f"{first}–{last}" if last != first else str(first)
    return font(f"<B>{number}</B>", p.size["small"], ORDER_PURPLE) + " " if first else ""


def _label(p: _Paint, box: Box) -> str:
    """An HTML-like label: name and shape, then the optional rows (values, gradient, annotation), the order badge."""
    s, t = p.style, box.tensors[0]
    badge, note = _badge(p, box), _note(p, box)
    if box.kind == "const":
        return f"<{font(html(array_text(t.data, s.max_numbers)), p.size['op'])}>"
    if box.kind == "op":
        symbol = _name(p, box.label) if box.label else html(OP_SYMBOL.get(box.title, box.title), NAME_CHARS)
        if not (s.op_values or note) or t.name is not None:
            return f"<{badge}{symbol}>"
        rows = [f"<TR><TD>{badge}{symbol}</TD></TR>"] + _value_rows(p, box, t, 1)
        return _table(rows + _note_rows(p, note, 1))
    if s.notation == "lecture" and box.kind in ("param", "state", "input", "value", "loss"):
        return _lecture_label(p, box, badge, note)
    title = f"<B>{html(box.title, NAME_CHARS)}</B>" if box.title else ""
    if box.is_step and s.notation == "lecture" and name_text(t.name):  # the state it passes on names the step
        text = f"<B>{_name(p, name_text(t.name))}</B>"
        if s.grads and _grad_visible(p, t):
            text += "  " + font(html(f"∇ {num(norm(t.grad), 2)}"), p.size["small"], _grad_colour(p, box))
        return f"<{text}>"
    if box.is_step:  # a time step: its label, then the state it passes on
        step = html(box.title.replace("=", " = "), NAME_CHARS)
        rows = [f"<TR><TD><B>{badge}{step}</B></TD></TR>" if badge or step else "<TR><TD> </TD></TR>"]
        if name_text(t.name):
            text = clip(t.name, NAME_CHARS)
            if s.grads and _grad_visible(p, t):
                text += f"  ∇ {num(norm(t.grad), 2)}"
            rows.append(_row(p, text, _grad_colour(p, box), 1))
        return _table(rows)
    if box.kind == "group":
        detail = font(html(box.detail), p.size["small"], MUTED)
        return _table([f"<TR><TD>{badge}{title}</TD><TD>{detail}</TD></TR>"])
    shape = font(html(shape_text(t.shape)), p.size["small"], MUTED)
    if box.kind == "ghost":
        title = f"<I>{title or 'detached'}</I>"
    rows = [f'<TR><TD ALIGN="LEFT">{badge}{title}</TD><TD ALIGN="RIGHT">{shape}</TD></TR>']
    return _table(rows + _value_rows(p, box, t, 2) + _note_rows(p, note, 2))


def _lecture_label(p: _Paint, box: Box, badge: str, note: Annotation | None) -> str:
    """A value box in the lecture's notation: the op that made it in a cell of the op colour (if any), the name,
    and the numbers — on the name's row when they are short (a scalar's value and gradient, a leaf's value), else
    each on a row of its own."""
    t = box.tensors[0]
    cells = []
    if box.op_label:
        label = f"{badge}{_name(p, box.op_label)}"
        cells.append(f'<TD BGCOLOR="{FILL["op"]}" BORDER="1" COLOR="{BORDER["op"]}">{label}</TD>')
        badge = ""
    texts = _value_texts(p, box, t)
    inline = len(texts) if t.size == 1 else int(bool(texts and not box.op_label))
    head = f"{badge}<B>{_name(p, box.title)}</B>" if box.title else badge  # no shape: the lecture's symbols say it
    for text, colour in texts[:inline]:
        head += "  " + font(html(text), p.size["small"], colour)
    cells.append(f'<TD ALIGN="LEFT">{head.strip() or " "}</TD>')
    span = len(cells)
    rows = [f"<TR>{''.join(cells)}</TR>"] + [_row(p, text, colour, span) for text, colour in texts[inline:]]
    table = '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">'
    return table + "".join(rows + _note_rows(p, note, span)) + "</TABLE>>"


def _numbers_text(p: _Paint, a: Any) -> str:
    """An array as text: its numbers when few, else its norm and range — in the lecture's notation its norm only."""
    if p.style.notation == "lecture" and np.size(a) > p.style.max_numbers:
        return f"‖·‖ {num(norm(a))}"
    return array_text(a, p.style.max_numbers)


def _value_texts(p: _Paint, box: Box, t: Tensor) -> list[tuple[str, str]]:
    """(text, colour) of the numbers a box prints: its values, then its gradient (once backward has reached it)."""
    out = []
    if p.style.values and box.kind != "ghost":
        out.append((_numbers_text(p, t.data), "#212529"))
    if p.style.grads and t.grad is not None:
        text = "∇ " + _numbers_text(p, t.grad)
        if _grad_visible(p, t):
            out.append((text, _grad_colour(p, box)))
        elif p.pins is not None:  # a frame before backward gets here: the row kept, unseen, so nothing moves
            out.append((text, _fill(p, box)))
    return out


def _value_rows(p: _Paint, box: Box, t: Tensor, span: int) -> list[str]:
    return [_row(p, text, colour, span) for text, colour in _value_texts(p, box, t)]


def _note_rows(p: _Paint, note: Annotation | None, span: int) -> list[str]:
    if note is None:
        return []
    return [_row(p, text, colour, span) for text, colour in note.rows[:NOTE_ROWS]]


def _grad_colour(p: _Paint, box: Box) -> str:
    """Red, except on a heat-map's colours (where the fill already says the gradient): white on the dark ones,
    near-black on the light ones (red on orange is hard to read)."""
    fill = _fill(p, box)
    return "#ffffff" if fill in HEAT[5:] else "#212529" if fill in HEAT else GRAD_RED


def _fill(p: _Paint, box: Box) -> str:
    note = _note(p, box)
    if note is not None and note.fill is not None:
        return note.fill
    t = box.tensors[0]
    if p.style.heatmap and box.kind != "ghost":
        value = _heat_value(p.style, t)
        if value >= 0 and (p.style.heatmap != "grad" or _grad_visible(p, t)):
            return HEAT[_heat_index(value, *p.heat)]
    return FILL[box.kind]


_SHAPES = {
    "const": dict(shape="box", style="rounded,filled", height="0.25", margin="0.05,0.02"),
    "ghost": dict(shape="box", style="rounded,dashed", margin="0.06,0.04"),
    "group": dict(shape="box", style="rounded,filled,bold", margin="0.08,0.05"),
}
_VALUE_SHAPE = dict(shape="box", style="rounded,filled", margin="0.06,0.04")


def _node_attrs(p: _Paint, box: Box) -> dict[str, str]:
    fill = _fill(p, box)
    attrs = {"label": _label(p, box), "tooltip": quoted(_tooltip(box)), "fillcolor": fill, "color": BORDER[box.kind]}
    if box.kind == "op" and "<TABLE" in attrs["label"]:  # an op with its numbers: a compact box
        attrs.update(shape="box", style="rounded,filled", fontsize=str(p.size["op"]), margin="0.05,0.03")
    elif box.kind == "op":
        attrs.update(shape="ellipse", style="filled", fontsize=str(p.size["op"]), height="0.25", width="0.35")
        attrs["margin"] = "0.03"
    else:
        attrs.update(_SHAPES.get(box.kind, _VALUE_SHAPE))
    if box.op_label:
        attrs["margin"] = "0.03,0.02"
    if box.is_step:
        attrs["width"] = "1.25"  # one width for every step, so the rows line up as a grid
    if fill in HEAT[5:]:
        attrs["fontcolor"] = "#ffffff"
    first, _ = _numbers(p, box)
    if first is not None and first == p.style.backward_step:
        attrs.update(color=ORDER_PURPLE, penwidth="3")
    return attrs


def _edge_attrs(p: _Paint, edge: Edge) -> dict[str, str]:
    s = p.style
    attrs: dict[str, str] = {}
    if edge.label:
        attrs.update(label=edge.label, fontsize=str(p.size["op"]), fontcolor=MUTED)
    if edge.kind == "param":
        # 40% opaque for a few steps, fainter for many (their edges overlap into one line)
        alpha = max(0x20, min(0x66, 0x66 * 4 // max(1, len(p.lay.steps.order))))
        attrs.update(color=f"{PARAM_EDGE}{alpha:02x}", constraint="false", arrowsize="0.5", penwidth="0.8")
    elif edge.kind == "state":
        attrs.update(color=STATE_EDGE, penwidth="2.4")
    elif edge.kind == "detach":
        attrs.update(style="dashed", color=MUTED, label="✂", fontsize=str(p.size["cut"]), fontcolor=MUTED)
    tail = edge.weight_from
    if s.heatmap == "grad" and edge.kind != "param" and tail is not None and tail.grad is not None:
        frac = (_heat_index(norm(tail.grad), *p.heat) + 1) / len(HEAT)
        attrs["penwidth"] = num(0.5 + 3.5 * frac, 2)
    if p.visit and s.backward_step is not None:
        first, _ = _numbers(p, p.lay.boxes[edge.head])
        done = first is not None and first <= s.backward_step
        if done and edge.kind != "detach" and tail is not None and tail.requires_grad:
            attrs.update(color=GRAD_RED, penwidth="2")
    return attrs


# ---- writing DOT ----------------------------------------------------------------------------------------------------


def write(
    lay: Layout, style: Style, annotations: Annotations | None = None, pins: Pins | None = None
) -> graphviz.Digraph:
    """Layout, style, annotations ↦ a graphviz.Digraph (its `.source` is the DOT text; it displays in Jupyter).
    `pins`: the positions of an earlier layout of the same drawing, written into it for `neato -n2` (frames)."""
    import graphviz

    p = _paint(lay, style, annotations, pins)
    g = graphviz.Digraph("G")
    spacing = {"nodesep": f"{style.nodesep:g}", "ranksep": f"{style.ranksep:g}"}
    g.attr("graph", rankdir=rankdir(style, lay.collapsed), newrank="true", **spacing, fontname="Helvetica")
    g.attr("graph", compound="true", outputorder="edgesfirst")
    g.attr("node", fontname="Helvetica", fontsize=str(p.size["text"]))
    g.attr("edge", arrowsize="0.6", color="#495057", fontname="Helvetica")
    label = caption(lay, style, annotations, p.heat)
    if label:
        g.attr(
            "graph",
            label=label,
            labelloc="b" if style.legend and style.notation != "lecture" else "t",
            fontsize=str(p.size["caption"]),
        )
    if pins is not None:
        g.attr("graph", **pins.graph)
    _write_group(g, p, (), {})
    for hint in lay.hints:
        if isinstance(hint, SameRank):
            g.body.append(f"\t{{rank={hint.rank}; " + " ".join(hint.boxes) + "}\n")
        elif isinstance(hint, Point):
            point = dict(shape="point", style="invis", width="0", height="0", label="")
            g.node(hint.id, **(point | _pinned(p, hint.id)))
        elif isinstance(hint, Invisible):
            weight = {"weight": str(hint.weight)} if hint.weight != 1 else {}
            g.edge(hint.tail, hint.head, style="invis", **weight, **_edge_pin(p, hint.tail, hint.head))
    return g


def _pinned(p: _Paint, name: str) -> dict[str, str]:
    """A node's position and size from the pins (a fixed size: its label may be shorter in this frame)."""
    if p.pins is None or name not in p.pins.nodes:
        return {}
    return {**p.pins.node(name), "fixedsize": "true"}


def _edge_pin(p: _Paint, tail: str, head: str) -> dict[str, str]:
    """The spline of the next edge tail → head from the pins."""
    if p.pins is None:
        return {}
    k = p.written.get((tail, head), 0)
    p.written[(tail, head)] = k + 1
    return dict(p.pins.edges.get((tail, head, k), {}))


def _write_group(sub: Any, p: _Paint, path: tuple, numbering: dict[tuple, int]) -> None:
    """A group's sub-groups (clusters, numbered in the order written), then its boxes, then its edges."""
    group = p.lay.groups[path]
    lecture = p.style.notation == "lecture"
    for child in group.children:
        numbering[child] = len(numbering) + 1
        with sub.subgraph(name=f"cluster_{numbering[child]}") as c:
            inner = p.lay.groups[child]
            if inner.kind == "composite":
                label = html_label(inner.label, p.size["small"])
                c.attr(**({"label": label} if label else {}), style="rounded,dashed", color=BORDER["op"])
                c.attr(fontcolor="#8a6d0b", margin="6")
            else:
                label = html_label(inner.label, p.size["text"], lecture)
                c.attr(**({"label": label} if label else {}), labelloc="b")
                c.attr(style="rounded,filled", color="#adb5bd", fillcolor="#f8f9fa", margin="8")
            if p.pins is not None:
                c.attr(**p.pins.clusters.get(f"cluster_{numbering[child]}", {}))
            _write_group(c, p, child, numbering)
    for b in group.boxes:
        sub.node(b, **(_node_attrs(p, p.lay.boxes[b]) | _pinned(p, b)))
    for e in group.edges:
        if e.backwards:  # written head → tail so Graphviz keeps the row's order; the arrow still points at the head
            sub.edge(e.head, e.tail, dir="back", **_edge_attrs(p, e), **_edge_pin(p, e.head, e.tail))
        else:
            sub.edge(e.tail, e.head, **_edge_attrs(p, e), **_edge_pin(p, e.tail, e.head))
