"""The caption under (or over) a drawing: its title and the legend — the colour key of the kinds of box and edge the
picture holds, what a matrix's "‖·‖ n [a, b]" means, the heat-map's colour scale, and an annotations' legend.

`caption(layout, style, annotations, heat)` → the graph label as an HTML-like table ("" when there is nothing to say).
"""

from __future__ import annotations

from tinygrad_rnn.annotations import Annotations
from tinygrad_rnn.boxes import Layout
from tinygrad_rnn.fmt import num
from tinygrad_rnn.markup import LEGEND_ENTRIES, font, html, subscripts
from tinygrad_rnn.style import BORDER, FILL, GRAD_RED, HEAT, KINDS, MUTED, STATE_EDGE, Style, font_sizes

__all__ = ["caption", "key_cells", "summarised"]


def summarised(lay: Layout, style: Style) -> bool:
    """Does some box print a value or gradient as a norm and range (more entries than style.max_numbers)?"""
    if not (style.values or style.grads):
        return False
    kinds = ("param", "state", "input", "value", "loss")
    return any(b.kind in kinds and b.tensors[0].size > style.max_numbers for b in lay.boxes.values())


def key_cells(lay: Layout, style: Style) -> list[str]:
    """The legend's colour key: the kinds of box and edge that the picture holds."""
    kinds = {box.kind for box in lay.boxes.values()} | (
        {"op"} if any(b.op_label for b in lay.boxes.values()) else set()
    )
    lines = {edge.kind for edge in lay.edges}
    cells = []
    for kind, (_, _, text) in KINDS.items():
        if kind == "param" and not lay.steps.order:
            text = "leaf with gradient"
        if text and (kind in kinds or (kind == "value" and kinds & {"ghost", "state"})):
            cells.append(f'<TD BGCOLOR="{FILL[kind]}" BORDER="1" COLOR="{BORDER[kind]}"> {text} </TD>')
    if "state" in lines:
        cells.append(f'<TD><FONT COLOR="{STATE_EDGE}"><B>━━</B></FONT> carried state</TD>')
    if "param" in lines:
        cells.append('<TD><FONT COLOR="#6ea8fe">──</FONT> parameter use</TD>')
    if "detach" in lines:
        cells.append(f'<TD><FONT COLOR="{MUTED}">╌ ✂ ╌</FONT> detach (no gradient)</TD>')
    if style.grads:
        grad = "∇ = ∂L/∂node" if style.notation == "lecture" else "∇ gradient ∂L/∂node"
        cells.append(f'<TD><FONT COLOR="{GRAD_RED}">{grad}</FONT></TD>')
    return cells


def _table_row(cells: list[str], spacing: int) -> str:
    inner = f'<TABLE BORDER="0" CELLSPACING="{spacing}" CELLPADDING="2"><TR>{"".join(cells)}</TR></TABLE>'
    return f"<TR><TD>{inner}</TD></TR>"


def _heat_row(style: Style, heat: tuple[float, float]) -> str:
    """The heat-map's scale: its two ends as numbers, the colours between, and whether it is shared."""
    what = "‖∂L/∂node‖" if style.heatmap == "grad" else "‖node‖"
    lo, hi = (f"1e{int(v)}".replace("-", "−") if v == int(v) else num(10.0**v, 2) for v in heat)
    swatches = "".join(f'<TD BGCOLOR="{c}" WIDTH="{round(22 * style.font_size / 12)}"> </TD>' for c in HEAT)
    how = "one log scale, shared by the pictures compared" if style.scale else "log scale"
    ends = ("≤ ", "≥ ") if style.scale else ("", "")
    cells = f"<TD>{html(what)}:  {ends[0]}{html(lo)} </TD>{swatches}<TD> {ends[1]}{html(hi)}  ({how})</TD>"
    return _table_row([cells], 0)


def caption(lay: Layout, style: Style, notes: Annotations | None, heat: tuple[float, float]) -> str:
    """The graph label: the title and, with legend=True, a colour key, what "‖·‖ n [a, b]" means (when a box
    prints one), the heat-map scale and the annotations' legend under their heading."""
    sizes, rows = font_sizes(style), []
    if style.title:
        title = subscripts(style.title) if style.notation == "lecture" else html(style.title)
        rows.append(f'<TR><TD COLSPAN="20">{font(title, sizes["title"])}</TD></TR>')
    if style.legend:
        cells = key_cells(lay, style)
        if summarised(lay, style):  # a matrix's values and gradient print as its norm (and range)
            says = "‖·‖ n: norm n" if style.notation == "lecture" else "‖·‖ n [a, b]: norm n, entries in [a, b]"
            cells.append(f"<TD>{html(says)}</TD>")
        rows.append(_table_row(cells, 4))
        if style.heatmap:
            rows.append(_heat_row(style, heat))
        if notes is not None and notes.legend:
            heading = html(notes.heading)
            cells = [f"<TD>{heading}:</TD>"] if heading else []
            for colour, meaning in notes.legend[:LEGEND_ENTRIES]:
                cells.append(f'<TD BGCOLOR="{html(colour)}" BORDER="1" COLOR="#adb5bd"> {html(meaning)} </TD>')
            rows.append(_table_row(cells, 4))
    if not rows:
        return ""
    return '<<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="2">' + "".join(rows) + "</TABLE>>"
