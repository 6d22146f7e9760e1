"""Graphviz's SVG of a drawing, made ready for the explorer page: DOT → SVG (`svg_of`), then marked (`mark_svg`).

Graphviz names each SVG node group by its DOT node in a <title> (`<g class="node"><title>n12</title>…`) and each edge
by its ends (`<title>n3->n5</title>`), so a drawn node maps back to its layout box without changing the DOT writer.
Marking turns those titles into attributes the page (and tests) use — `data-node`, `data-name`, `data-kind` on
nodes, `data-edge="tail:head"` and `data-kind` on edges — gives the value and gradient rows of each label the
classes `v` and `g` (so the page can hide them), and drops what the page replaces or does not need: the XML
prologue and comments, the titles (a browser shows them as tooltips), the tooltip links (the panel shows more), and
attributes that repeat a default (the font, which the page's style sets; text-anchor="start"; ".00" on whole
numbers).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess

from tinygrad_rnn.draw import GraphvizNotFoundError
from tinygrad_rnn.fmt import array_text
from tinygrad_rnn.layout import Box, Edge, Layout, name_text

__all__ = ["svg_of", "mark_svg", "edge_key"]

_PROLOGUE = re.compile(r"<\?xml.*?\?>\s*|<!DOCTYPE[^>]*>\s*|<!--.*?-->\s*", re.S)
_TOOLTIP = re.compile(r'<g id="a_(?:node|edge)\d+"><a xlink:title="[^"]*">\n(.*?)</a>\n</g>\n', re.S)
_NODE = re.compile(r'<g id="node\d+" class="node">\n<title>([^<]*)</title>\n(.*?)</g>\n', re.S)
_EDGE = re.compile(r'<g id="edge\d+" class="edge">\n<title>([^<]*)</title>\n')
_TITLE = re.compile(r"<title>[^<]*</title>\n?")
_TEXT = re.compile(r"<text([^>]*)>([^<]*)</text>")
_FONT = ' font-family="Helvetica,sans-Serif"'
_START = ' text-anchor="start"'  # SVG's default anchor: saying it on every text only makes the page bigger
_WHOLE = re.compile(r'="(-?\d+)\.00"')  # font-size="9.00" → "9"

INSTALL = (
    "explore: Graphviz's `dot` program was not found on PATH; the page embeds the SVG that dot lays out. Install "
    "Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz; conda: conda install -c "
    "conda-forge graphviz) and run again"
)


def svg_of(source: str) -> str:
    """DOT text → SVG text, by Graphviz's `dot` (GraphvizNotFoundError with the install commands when missing)."""
    exe = shutil.which("dot", path=os.environ.get("PATH", ""))
    if exe is None:
        raise GraphvizNotFoundError(INSTALL)
    proc = subprocess.run([exe, "-Tsvg"], input=source.encode("utf-8"), capture_output=True)
    if proc.returncode != 0:
        error = proc.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"explore: dot failed to lay out the drawing (exit {proc.returncode}): {error}")
    return proc.stdout.decode("utf-8")


def edge_key(edge: Edge) -> str:
    """ "tail:head" as the DOT text writes the edge (an edge drawn backwards is written head → tail)."""
    return f"{edge.head}:{edge.tail}" if edge.backwards else f"{edge.tail}:{edge.head}"


def _texts(body: str, box: Box, max_numbers: int) -> str:
    """Class the label's rows: `g` for the gradient (the row with ∇), `v` for the value (the numbers of the node)."""
    if box.kind in ("const", "ghost"):
        return body
    value = array_text(box.tensors[0].data, max_numbers)
    seen_value = False

    def mark(m: re.Match) -> str:
        nonlocal seen_value
        attrs, text = m.group(1), html.unescape(m.group(2)).strip()
        if "∇" in text:
            return f'<text class="g"{attrs}>{m.group(2)}</text>'
        if text == value and not seen_value:
            seen_value = True
            return f'<text class="v"{attrs}>{m.group(2)}</text>'
        return m.group(0)

    return _TEXT.sub(mark, body)


def _data_name(box: Box) -> str:
    """The node's name on value boxes; empty on ops and collapsed boxes (their name, if any, is on a value box)."""
    return "" if box.kind in ("op", "group") else name_text(box.tensors[0].name)


def mark_svg(svg: str, lay: Layout, max_numbers: int) -> str:
    """Graphviz's SVG of `lay` with the page's attributes and classes (see the module's docstring)."""
    svg = _PROLOGUE.sub("", svg)
    svg = _TOOLTIP.sub(r"\1", svg).replace(_FONT, "").replace(_START, "")
    svg = _WHOLE.sub(r'="\1"', svg)
    kinds = {edge_key(e): e.kind for e in lay.edges}

    def node(m: re.Match) -> str:
        box_id = html.unescape(m.group(1))
        box = lay.boxes.get(box_id)
        if box is None:  # an invisible anchor (Graphviz leaves those out; kept out here too, whatever it does)
            return ""
        attrs = f'data-node="{html.escape(box_id)}" data-name="{html.escape(_data_name(box))}" data-kind="{box.kind}"'
        return f'<g class="node" {attrs}>\n{_texts(m.group(2), box, max_numbers)}</g>\n'

    def edge(m: re.Match) -> str:
        tail, _, head = html.unescape(m.group(1)).partition("->")
        key = f"{tail}:{head}"
        return f'<g class="edge" data-edge="{html.escape(key)}" data-kind="{kinds.get(key, "data")}">\n'

    svg = _NODE.sub(node, svg)
    svg = _EDGE.sub(edge, svg)
    return _TITLE.sub("", svg)
