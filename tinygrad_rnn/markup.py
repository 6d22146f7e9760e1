"""Text made safe for Graphviz, and the lecture's subscripts as HTML-like markup.

Control characters become U+FFFD; & < > " ] are escaped in HTML-like labels and " in quoted strings; a backslash
stays a backslash (Graphviz would read \\N, \\G, \\L … as the node's name, the graph's name, the label); an empty text
writes no <FONT> (an empty one is a syntax error); and every text is clipped (with "…") so that no label or tooltip
reaches Graphviz's limit of 16,384 bytes per string: names and group labels at 80 characters, annotation rows and
legend entries at 200 (8 rows a node, 12 legend entries), tooltips at 2,000.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clip", "html", "quoted", "font", "html_label", "subscripts"]

NAME_CHARS, TEXT_CHARS, TOOLTIP_CHARS, NOTE_ROWS, LEGEND_ENTRIES = 80, 200, 2000, 8, 12

# x_1, h_{t−1}, W_og: an underscore and a braced or alphanumeric subscript
_SUBSCRIPT = re.compile(r"_(\{[^{}]*\}|[0-9A-Za-z]+)")


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


def subscripts(text: object, limit: int = TEXT_CHARS) -> str:
    """html(text) with the lecture's subscripts set as subscripts: "h_{t−1}" → h<SUB>t−1</SUB>, "x_1" → x<SUB>1</SUB>.

    Graphviz draws a <SUB> at the size of the text around it, only lower: a subscript is as readable as the rest.
    """
    text = clip(text, limit)
    out, at = [], 0
    for m in _SUBSCRIPT.finditer(text):
        out.append(html(text[at : m.start()]))
        out.append(f"<SUB>{html(m.group(1).strip('{}'))}</SUB>" if m.group(1).strip("{}") else "")
        at = m.end()
    out.append(html(text[at:]))
    return "".join(out)


def quoted(text: object) -> str:
    """Text made safe as a double-quoted DOT string (tooltips): clipped; a backslash as four (Graphviz unescapes a
    tooltip twice), quotes escaped, newlines as \\n."""
    import graphviz

    text = _clean(clip(text, TOOLTIP_CHARS)).replace("\\", "\\\\\\\\").replace('"', '\\"').replace("\n", "\\n")
    return graphviz.nohtml(text)


def font(inner: str, size: int | None = None, colour: str | None = None) -> str:
    """<FONT …>inner</FONT>, or "" when there is no text (an empty FONT element is a syntax error)."""
    if not inner:
        return ""
    attrs = (f' COLOR="{colour}"' if colour else "") + (f' POINT-SIZE="{size}"' if size else "")
    return f"<FONT{attrs}>{inner}</FONT>"


def html_label(text: str, size: int, lecture: bool = False) -> str | None:
    """A whole HTML-like label of one text at one size (None for no text)."""
    inner = font(subscripts(text, NAME_CHARS) if lecture else html(text, NAME_CHARS), size)
    return f"<{inner}>" if inner else None
