"""The look of a drawing: a `Style` (what to show, and how), and the DOT writer that paints a `Layout` with it.

`write(layout, style, annotations)` → a graphviz.Digraph: groups become clusters (nested), boxes nodes with
HTML-like labels, edges edges, the layout's hints rank rows and invisible edges, and the caption a title and a
legend. Annotations (`tinygrad_rnn.annotations`) add rows of text under a node's label and a fill colour, and
their legend entries to the legend; the writer knows nothing of whoever made them.

Text is made safe for Graphviz: control characters become U+FFFD; & < > " ] are escaped in HTML-like labels and
" in quoted strings; a backslash stays a backslash (Graphviz would read \\N, \\G, \\L … as the node's name, the
graph's name, the label); an empty text writes no <FONT> (an empty one is a syntax error); and every text is clipped
(with "…") so that no label or tooltip reaches Graphviz's limit of 16,384 bytes per string: names and group labels
at 80 characters, annotation rows and legend entries at 200 (8 rows a node, 12 legend entries), tooltips at 2,000.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_rnn.annotations import Annotation, Annotations
from tinygrad_rnn.fmt import array_text, norm, num, shape_text
from tinygrad_rnn.layout import Box, Edge, Invisible, Layout, Point, SameRank, name_text
from tinygrad_rnn.tensor import Tensor, topological_order

if TYPE_CHECKING:
    import graphviz

# fmt: off
__all__ = [
    "Style", "STYLES", "MAX_BOXES", "KINDS", "FILL", "BORDER", "HEAT",
    "OP_SYMBOL", "check_fields", "make_style", "write", "html", "quoted", "clip", "heat_scale",
]
# fmt: on

# ---- palette --------------------------------------------------------------------------------------------------------

# kind of box: (fill, border, its entry in the legend — "" for none: initial states and ghosts look like values)
KINDS = {
    "param": ("#cfe2ff", "#0d6efd", "parameter"),
    "state": ("#ffffff", "#868e96", ""),
    "input": ("#e9ecef", "#868e96", "input / target"),
    "const": ("#f1f3f5", "#ced4da", "constant"),
    "value": ("#ffffff", "#868e96", "value"),
    "op": ("#fff3cd", "#c9a227", "op"),
    "group": ("#ffe5d0", "#e8590c", "collapsed"),
    "loss": ("#d1e7dd", "#198754", "loss"),
    "ghost": ("#ffffff", "#adb5bd", ""),
}
FILL = {kind: fill for kind, (fill, _, _) in KINDS.items()}
BORDER = {kind: border for kind, (_, border, _) in KINDS.items()}
GRAD_RED = "#b02a37"
MUTED = "#6c757d"
ORDER_PURPLE = "#6f42c1"
PARAM_EDGE = "#0d6efd"  # blue, drawn translucent: present, but under the data flow
STATE_EDGE = "#212529"
# colorbrewer YlOrRd-9, light → dark: the heat-map scale (white text on the last four)
HEAT = ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026")

OP_SYMBOL = {
    "add": "+",
    "sub": "−",
    "mul": "×",
    "div": "÷",
    "neg": "−x",
    "pow": "xᵖ",
    "matmul": "@",
    "sigmoid": "σ",
    "abs": "|x|",
    "sum": "Σ",
    "transpose": "ᵀ",
    "getitem": "[ ]",
    "concatenate": "concat",
}  # any other op is drawn by its name (exp, log, tanh, relu, mean, max, reshape, stack, detach, …)

MAX_BOXES = 5000  # the most boxes draw() lays out: Graphviz needs ~13 s for 5,000 (minutes and gigabytes past 20,000)
NAME_CHARS, TEXT_CHARS, TOOLTIP_CHARS, NOTE_ROWS, LEGEND_ENTRIES = 80, 200, 2000, 8, 12


# ---- the style ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """What a drawing shows and how it is laid out; every field is checked (in `check_fields`).

    values / grads     print each value box's numbers (or ‖·‖ and range when more than `max_numbers`) / gradient
    op_values          print them on the ops of unnamed intermediate results too (for small decompositions)
    heatmap            "grad": fill by log10 ‖∂L/∂node‖ (after backward), edges as wide as their tail's gradient;
                       "value": by log10 ‖node‖; None: the kind colours
    collapse           composite names (e.g. ("softmax", "tanh")) drawn as one box each; their output stays a value
    steps              "expand" (one cluster per step), "collapse" (one box per step, rows of `wrap` — for long
                       sequences) or "auto": expand, unless that makes more than `max_boxes` boxes
    direction          "LR": time left → right, inputs at the bottom, loss on top; "TB": time top → bottom
    legend, title      the colour key under the picture; a title above it
    order              number the ops in the order backward visits them; backward_step=k draws the state after
                       k of them (gradients found so far in red, the op just visited outlined)
    fan_edges          edges between a box outside the steps and the collapsed steps: "each", "summary" (one
                       edge, labelled with the number of steps), "auto" (summary for more than 12 steps)
    max_boxes          the most boxes drawn (None: no limit); a larger graph collapses its steps (steps="auto")
                       or is refused with the way out named
    """

    values: bool = False
    grads: bool = False
    heatmap: str | None = None
    collapse: tuple[str, ...] = ()
    steps: str = "auto"
    direction: str = "LR"
    legend: bool = True
    order: bool = False
    backward_step: int | None = None
    op_values: bool = False
    title: str | None = None
    max_numbers: int = 4
    wrap: int = 20
    fan_edges: str = "auto"
    max_boxes: int | None = MAX_BOXES

    def __post_init__(self) -> None:
        for name, value in check_fields({f.name: getattr(self, f.name) for f in fields(self)}, "Style").items():
            object.__setattr__(self, name, value)


_FLAGS = ("values", "grads", "legend", "order", "op_values")
_CHOICES = {
    "heatmap": (None, "grad", "value"),
    "steps": ("auto", "expand", "collapse"),
    "direction": ("LR", "TB"),
    "fan_edges": ("auto", "each", "summary"),
}
_COUNTS = {"max_numbers": 0, "wrap": 1, "backward_step": 0, "max_boxes": 1}  # whole numbers ≥ this
_OPTIONAL = ("backward_step", "max_boxes", "title", "heatmap")


def check_fields(values: dict[str, Any], where: str) -> dict[str, Any]:
    """Every style field checked in one place (errors name `where` and the field); collapse given as
    "softmax,tanh" becomes a tuple. Returns the checked values."""
    out = dict(values)
    for name, value in values.items():
        if value is None and name in _OPTIONAL:
            continue
        if name in _FLAGS and not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{where}: {name} must be True or False, got {value!r}")
        if name in _CHOICES and value not in _CHOICES[name]:
            allowed = ", ".join(repr(c) for c in _CHOICES[name][:-1]) + f" or {_CHOICES[name][-1]!r}"
            raise ValueError(f"{where}: {name} must be {allowed}, got {value!r}")
        if name in _COUNTS:
            low = _COUNTS[name]
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                error = ValueError if isinstance(value, (int, np.integer)) else TypeError
                none = " or None" if name in _OPTIONAL else ""
                raise error(f"{where}: {name} must be a whole number ≥ {low}{none}, got {value!r}")
        if name == "title" and not isinstance(value, str):
            raise TypeError(f"{where}: title must be a str or None, got {type(value).__name__}")
        if name == "collapse":
            out[name] = _names(value, where)
    return out


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Iterable) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{where}: collapse must be composite names (a tuple of str, or 'a,b'), got {value!r}")
    return tuple(v.strip() for v in value if v.strip())


STYLES: dict[str, Style] = {"default": Style()}  # presets by name: draw(root, style="default")


def make_style(style: Style | str | None, shorthands: dict[str, Any], where: str) -> Style:
    """The style of a call: a Style, a preset's name or None (the default), with the keywords filling its fields."""
    if style is None:
        style = STYLES["default"]
    elif isinstance(style, str):
        if style not in STYLES:
            raise ValueError(f"{where}: style must be a Style or one of {', '.join(map(repr, STYLES))}, got {style!r}")
        style = STYLES[style]
    elif not isinstance(style, Style):
        raise TypeError(f"{where}: style must be a Style, a preset's name or None, got {type(style).__name__}")
    unknown = sorted(set(shorthands) - {f.name for f in fields(Style)})
    if unknown:
        hint = " (a checker's results come in as annotations=, e.g. report.annotations('printed'))"
        hint *= bool({"compare", "formula"} & set(unknown))
        known = ", ".join(f.name for f in fields(Style))
        raise TypeError(f"{where}: unknown keyword(s) {', '.join(unknown)}{hint}; the style's fields are {known}")
    return replace(style, **check_fields(shorthands, where)) if shorthands else style


# ---- text -----------------------------------------------------------------------------------------------------------


def clip(text: object, limit: int) -> str:
    """str(text), cut to `limit` characters with "…" at the end when longer."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean(text: str) -> str:
    """Replace control characters and lone surrogates (which no DOT or XML parser accepts) by U+FFFD."""
    return "".join("\ufffd" if (unicodedata.category(ch) in ("Cc", "Cs") and ch != "\n") else ch for ch in text)


def html(text: object, limit: int = TEXT_CHARS) -> str:
    """Text made safe inside a Graphviz HTML-like label: clipped; \\ & < > " ] escaped, newlines as <BR/>.

    (Graphviz reads "\\N" as the node's name — a backslash is written "\\\\" — and a "]" right after a tag as the
    end of a CDATA-like section: "]" → &#93; always.)
    """
    text = _clean(clip(text, limit)).replace("\\", "\\\\")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return text.replace("]", "&#93;").replace("\n", "<BR/>")


def quoted(text: object) -> str:
    """Text made safe as a double-quoted DOT string (tooltips): clipped; a backslash as four (Graphviz unescapes a
    tooltip twice), quotes escaped, newlines as \\n."""
    import graphviz

    text = _clean(clip(text, TOOLTIP_CHARS)).replace("\\", "\\\\\\\\").replace('"', '\\"').replace("\n", "\\n")
    return graphviz.nohtml(text)


def _font(inner: str, size: int | None = None, colour: str | None = None) -> str:
    """<FONT …>inner</FONT>, or "" when there is no text (an empty FONT element is a syntax error)."""
    if not inner:
        return ""
    attrs = (f' COLOR="{colour}"' if colour else "") + (f' POINT-SIZE="{size}"' if size else "")
    return f"<FONT{attrs}>{inner}</FONT>"


def _html_label(text: str, size: int) -> str | None:
    inner = _font(html(text, NAME_CHARS), size)
    return f"<{inner}>" if inner else None


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


# ---- painting: what each box and edge looks like ------------------------------------------------------------------


@dataclass(frozen=True)
class _Paint:
    """A layout with its style and annotations, plus what painting needs to know of the whole graph: the heat-map's
    scale and the number backward gives each op (place → k)."""

    lay: Layout
    style: Style
    notes: Annotations | None
    heat: tuple[float, float]
    visit: dict[int, int]


def _paint(lay: Layout, style: Style, notes: Annotations | None) -> _Paint:
    heat = (0.0, 0.0)
    if style.heatmap:
        heat = heat_scale([_heat_value(style, t) for t in lay.graph.tensors])
    visit: dict[int, int] = {}
    if style.order or style.backward_step is not None:
        ops = [t for t in reversed(topological_order(lay.graph.root, grad_only=True)) if t.op is not None]
        visit = {lay.graph.at(t): k for k, t in enumerate(ops, start=1)}
    return _Paint(lay, style, notes, heat, visit)


def _heat_value(style: Style, t: Tensor) -> float:
    if style.heatmap == "grad":
        return norm(t.grad) if t.grad is not None else -1.0
    return norm(t.data)


def _grad_visible(p: _Paint, t: Tensor) -> bool:
    """Has backward reached `t` (by step `backward_step`, when frames are drawn)?"""
    step = p.style.backward_step
    if t.grad is None or step is None:
        return t.grad is not None
    if not p.lay.graph.has(t):  # the lost source of a detach(): not part of this backward pass
        return False
    i = p.lay.graph.at(t)
    if t.op is not None:
        return p.visit.get(i, math.inf) <= step
    users = [c for c in p.lay.graph.consumers[i] if p.lay.graph.tensors[c].requires_grad]
    return bool(users) and all(p.visit.get(c, math.inf) <= step for c in users)


def _numbers(p: _Paint, box: Box) -> tuple[int | None, int | None]:
    """(first, last) number backward gives the ops of a box (both None for value boxes)."""
    if box.kind not in ("op", "group") or not p.visit:
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


def _row(text: str, colour: str, span: int = 2) -> str:
    inner = html(text)
    font = f'<FONT POINT-SIZE="9" COLOR="{colour}">{inner}</FONT>' if inner else ""
    return f'<TR><TD COLSPAN="{span}">{font}</TD></TR>'


def _table(rows: list[str]) -> str:
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def _label(p: _Paint, box: Box) -> str:
    """An HTML-like label: name and shape, then the optional rows (values, gradient, annotation), the order badge."""
    s, t = p.style, box.tensors[0]
    first, last = _numbers(p, box)
    number = f"{first}–{last}" if last != first else str(first)
    badge = _font(f"<B>{number}</B>", 9, ORDER_PURPLE) + " " if first else ""
    note = _note(p, box)
    if box.kind == "const":
        return f"<{_font(html(array_text(t.data, s.max_numbers)), 10)}>"
    if box.kind == "op":
        symbol = html(OP_SYMBOL.get(box.title, box.title), NAME_CHARS)
        if not (s.op_values or note) or t.name is not None:
            return f"<{badge}{symbol}>"
        rows = [f"<TR><TD>{badge}{symbol}</TD></TR>"] + _value_rows(p, box, t, 1)
        return _table(rows + _note_rows(note, 1))
    title = f"<B>{html(box.title, NAME_CHARS)}</B>" if box.title else ""
    if box.is_step:  # a time step: its label, then the state it passes on
        step = html(box.title.replace("=", " = "), NAME_CHARS)
        rows = [f"<TR><TD><B>{badge}{step}</B></TD></TR>" if badge or step else "<TR><TD> </TD></TR>"]
        if name_text(t.name):
            text = clip(t.name, NAME_CHARS)
            if s.grads and _grad_visible(p, t):
                text += f"  ∇ {num(norm(t.grad), 2)}"
            rows.append(_row(text, _grad_colour(p, box), 1))
        return _table(rows)
    if box.kind == "group":
        detail = _font(html(box.detail), 9, MUTED)
        return _table([f"<TR><TD>{badge}{title}</TD><TD>{detail}</TD></TR>"])
    shape = _font(html(shape_text(t.shape)), 9, MUTED)
    if box.kind == "ghost":
        title = f"<I>{title or 'detached'}</I>"
    rows = [f'<TR><TD ALIGN="LEFT">{badge}{title}</TD><TD ALIGN="RIGHT">{shape}</TD></TR>']
    return _table(rows + _value_rows(p, box, t, 2) + _note_rows(note, 2))


def _value_rows(p: _Paint, box: Box, t: Tensor, span: int) -> list[str]:
    rows = []
    if p.style.values and box.kind != "ghost":
        rows.append(_row(array_text(t.data, p.style.max_numbers), "#212529", span))
    if p.style.grads and t.grad is not None and _grad_visible(p, t):
        rows.append(_row("∇ " + array_text(t.grad, p.style.max_numbers), _grad_colour(p, box), span))
    return rows


def _note_rows(note: Annotation | None, span: int) -> list[str]:
    if note is None:
        return []
    return [_row(text, colour, span) for text, colour in note.rows[:NOTE_ROWS]]


def _grad_colour(p: _Paint, box: Box) -> str:
    return "#ffffff" if _fill(p, box) in HEAT[5:] else GRAD_RED


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
    "op": dict(shape="ellipse", style="filled", fontsize="10", height="0.25", width="0.35", margin="0.03"),
    "const": dict(shape="box", style="rounded,filled", height="0.25", margin="0.05,0.02"),
    "ghost": dict(shape="box", style="rounded,dashed", margin="0.06,0.04"),
    "group": dict(shape="box", style="rounded,filled,bold", margin="0.08,0.05"),
}
_VALUE_SHAPE = dict(shape="box", style="rounded,filled", margin="0.06,0.04")


def _node_attrs(p: _Paint, box: Box) -> dict[str, str]:
    fill = _fill(p, box)
    attrs = {"label": _label(p, box), "tooltip": quoted(_tooltip(box)), "fillcolor": fill, "color": BORDER[box.kind]}
    if box.kind == "op" and "<TABLE" in attrs["label"]:  # an op with its numbers: a compact box
        attrs.update(shape="box", style="rounded,filled", fontsize="10", margin="0.05,0.03")
    else:
        attrs.update(_SHAPES.get(box.kind, _VALUE_SHAPE))
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
        attrs.update(label=edge.label, fontsize="10", fontcolor=MUTED)
    if edge.kind == "param":
        # 40% opaque for a few steps, fainter for many (their edges overlap into one line)
        alpha = max(0x20, min(0x66, 0x66 * 4 // max(1, len(p.lay.steps.order))))
        attrs.update(color=f"{PARAM_EDGE}{alpha:02x}", constraint="false", arrowsize="0.5", penwidth="0.8")
    elif edge.kind == "state":
        attrs.update(color=STATE_EDGE, penwidth="2.4")
    elif edge.kind == "detach":
        attrs.update(style="dashed", color=MUTED, label="✂", fontsize="14", fontcolor=MUTED)
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


# ---- the caption: title and legend ----------------------------------------------------------------------------------


def _key_cells(p: _Paint) -> list[str]:
    """The legend's colour key: the kinds of box and edge that the picture holds."""
    kinds = {box.kind for box in p.lay.boxes.values()}
    lines = {edge.kind for edge in p.lay.edges}
    cells = []
    for kind, (_, _, text) in KINDS.items():
        if kind == "param" and not p.lay.steps.order:
            text = "leaf with gradient"
        if text and (kind in kinds or (kind == "value" and kinds & {"ghost", "state"})):
            cells.append(f'<TD BGCOLOR="{FILL[kind]}" BORDER="1" COLOR="{BORDER[kind]}"> {text} </TD>')
    if "state" in lines:
        cells.append(f'<TD><FONT COLOR="{STATE_EDGE}"><B>━━</B></FONT> carried state</TD>')
    if "param" in lines:
        cells.append('<TD><FONT COLOR="#6ea8fe">──</FONT> parameter use</TD>')
    if "detach" in lines:
        cells.append(f'<TD><FONT COLOR="{MUTED}">╌ ✂ ╌</FONT> detach (no gradient)</TD>')
    if p.style.grads:
        cells.append(f'<TD><FONT COLOR="{GRAD_RED}">∇ gradient ∂L/∂node</FONT></TD>')
    return cells


def _table_row(cells: list[str], spacing: int) -> str:
    inner = f'<TABLE BORDER="0" CELLSPACING="{spacing}" CELLPADDING="2"><TR>{"".join(cells)}</TR></TABLE>'
    return f"<TR><TD>{inner}</TD></TR>"


def _caption(p: _Paint) -> str:
    """The graph label: the title and, with legend=True, a colour key, the heat-map scale and the annotations'
    legend under their heading."""
    rows = []
    if p.style.title:
        rows.append(f'<TR><TD COLSPAN="20">{_font(html(p.style.title), 15)}</TD></TR>')
    if p.style.legend:
        rows.append(_table_row(_key_cells(p), 4))
        if p.style.heatmap:
            what = "‖∂L/∂node‖" if p.style.heatmap == "grad" else "‖node‖"
            lo, hi = p.heat
            swatches = "".join(f'<TD BGCOLOR="{c}" WIDTH="22"> </TD>' for c in HEAT)
            scale = f"<TD>{html(what)}:  1e{int(lo)} </TD>{swatches}<TD> 1e{int(hi)}  (log scale)</TD>"
            rows.append(_table_row([scale.replace("-", "−")], 0))
        if p.notes is not None and p.notes.legend:
            heading = html(p.notes.heading)
            cells = [f"<TD>{heading}:</TD>"] if heading else []
            for colour, meaning in p.notes.legend[:LEGEND_ENTRIES]:
                cells.append(f'<TD BGCOLOR="{html(colour)}" BORDER="1" COLOR="#adb5bd"> {html(meaning)} </TD>')
            rows.append(_table_row(cells, 4))
    if not rows:
        return ""
    return '<<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="2">' + "".join(rows) + "</TABLE>>"


# ---- writing DOT ----------------------------------------------------------------------------------------------------


def write(lay: Layout, style: Style, annotations: Annotations | None = None) -> graphviz.Digraph:
    """Layout, style, annotations ↦ a graphviz.Digraph (its `.source` is the DOT text; it displays in Jupyter)."""
    import graphviz

    p = _paint(lay, style, annotations)
    g = graphviz.Digraph("G")
    if lay.collapsed:
        rankdir = "TB" if style.direction == "LR" else "LR"
    else:
        rankdir = "BT" if style.direction == "LR" else "LR"
    g.attr("graph", rankdir=rankdir, newrank="true", nodesep="0.22", ranksep="0.28", fontname="Helvetica")
    g.attr("graph", compound="true", outputorder="edgesfirst")
    g.attr("node", fontname="Helvetica", fontsize="12")
    g.attr("edge", arrowsize="0.6", color="#495057")
    caption = _caption(p)
    if caption:
        g.attr("graph", label=caption, labelloc="b" if style.legend else "t", fontsize="13")
    _write_group(g, p, (), {})
    for hint in lay.hints:
        if isinstance(hint, SameRank):
            g.body.append(f"\t{{rank={hint.rank}; " + " ".join(hint.boxes) + "}\n")
        elif isinstance(hint, Point):
            g.node(hint.id, shape="point", style="invis", width="0", height="0", label="")
        elif isinstance(hint, Invisible):
            g.edge(hint.tail, hint.head, style="invis")
    return g


def _write_group(sub: Any, p: _Paint, path: tuple, numbering: dict[tuple, int]) -> None:
    """A group's sub-groups (clusters, numbered in the order written), then its boxes, then its edges."""
    group = p.lay.groups[path]
    for child in group.children:
        numbering[child] = len(numbering) + 1
        with sub.subgraph(name=f"cluster_{numbering[child]}") as c:
            inner = p.lay.groups[child]
            if inner.kind == "composite":
                label = _html_label(inner.label, 9)
                c.attr(**({"label": label} if label else {}), style="rounded,dashed", color=BORDER["op"])
                c.attr(fontcolor="#8a6d0b", margin="6")
            else:
                label = _html_label(inner.label, 12)
                c.attr(**({"label": label} if label else {}), labelloc="b")
                c.attr(style="rounded,filled", color="#adb5bd", fillcolor="#f8f9fa", margin="8")
            _write_group(c, p, child, numbering)
    for b in group.boxes:
        sub.node(b, **_node_attrs(p, p.lay.boxes[b]))
    for e in group.edges:
        if e.backwards:  # written head → tail so Graphviz keeps the row's order; the arrow still points at the head
            sub.edge(e.head, e.tail, dir="back", **_edge_attrs(p, e))
        else:
            sub.edge(e.tail, e.head, **_edge_attrs(p, e))
