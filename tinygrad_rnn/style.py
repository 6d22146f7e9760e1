"""The look of a drawing: the palette, the `Style` (what to show and how, every field checked in one place), and the
presets by name (`STYLES`: "default" for handouts and notebooks, "slide" for a 1920×1080 lecture slide)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

# fmt: off
__all__ = [
    "Style", "STYLES", "MAX_BOXES", "KINDS", "FILL", "BORDER", "HEAT", "OP_SYMBOL", "GRAD_RED", "MUTED",
    "ORDER_PURPLE", "PARAM_EDGE", "STATE_EDGE", "SLIDE", "check_fields", "make_style", "font_sizes",
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
SLIDE = (1920, 1080)  # the slide preset's canvas in pixels (16:9)


# ---- the style ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """What a drawing shows and how it is laid out; every field is checked (in `check_fields`).

    values / grads     print each value box's numbers (or, for more than `max_numbers`, the norm ‖·‖ and the
                       range [min, max] of its entries) / its gradient
    op_values          print them on the ops of unnamed intermediate results too (for small decompositions)
    heatmap            "grad": fill by log10 ‖∂L/∂node‖ (after backward), edges as wide as their tail's gradient;
                       "value": by log10 ‖node‖; None: the kind colours
    scale              the heat-map's colour scale (low, high), e.g. (1e-10, 1e1): norms at or below `low` get the
                       lightest colour, at or above `high` the darkest — one scale for pictures to be compared;
                       None: whole decades covering the picture's own norms. Stated in the legend either way.
    collapse           composite names (e.g. ("softmax", "tanh")) drawn as one box each; their output stays a value.
                       A name that is no composite of the graph is refused, naming the ones it has
    notation           "plain": ops by symbol (@, +, Σ), names as given; "lecture": ops say what they compute in
                       the lecture's notation (W·x_1, U·h_0, + b, tanh, softmax, cross-entropy, Σ_t), every
                       composite one op, an op drawn inside the box of the named value it makes, subscripts
    steps              "expand" (one cluster per step), "collapse" (one box per step, rows of `wrap` — for long
                       sequences) or "auto": expand, unless that makes more than `max_boxes` boxes or there are
                       more than `max_steps` steps
    direction          the flow of the computation as Graphviz's rankdir: "BT" (inputs at the bottom, the loss on
                       top; time runs left → right), "TB" (the same upside down), "LR" (inputs left, loss right;
                       time runs top → bottom), "RL"
    legend, title      the colour key under the picture; a title above it
    order              number the ops in the order backward visits them; backward_step=k draws the state after
                       k of them (gradients found so far in red, the op just visited outlined)
    fan_edges          edges between a box outside the steps and the collapsed steps: "each", "summary" (one
                       edge, labelled with the number of steps), "auto" (summary for more than 12 steps)
    max_boxes          the most boxes drawn (None: no limit); a larger graph collapses its steps (steps="auto")
                       or is refused with the way out named
    max_steps          steps="auto" collapses the steps when there are more than this many (None: no limit)
    font_size, small_font_size   points of the names (and legend) and of the rows under them (values, gradients)
    ranksep, nodesep   inches between rows and between neighbours (Graphviz's own names)
    param_columns      lecture notation: the parameters and initial states beside the steps stand in this many
                       columns (2 when their boxes are tall, e.g. with a checker's rows, so that they fit a slide)
    canvas             (width, height) in pixels: `render` fits the picture into exactly this size (PNG), or this
                       aspect (SVG, PDF) — the slide preset's 1920×1080; None: Graphviz's natural size
    """

    values: bool = False
    grads: bool = False
    heatmap: str | None = None
    scale: tuple[float, float] | None = None
    collapse: tuple[str, ...] = ()
    notation: str = "plain"
    steps: str = "auto"
    direction: str = "BT"
    legend: bool = True
    order: bool = False
    backward_step: int | None = None
    op_values: bool = False
    title: str | None = None
    max_numbers: int = 4
    wrap: int = 20
    fan_edges: str = "auto"
    max_boxes: int | None = MAX_BOXES
    max_steps: int | None = None
    font_size: int = 12
    small_font_size: int = 9
    ranksep: float = 0.28
    nodesep: float = 0.22
    param_columns: int = 1
    canvas: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        for name, value in check_fields({f.name: getattr(self, f.name) for f in fields(self)}, "Style").items():
            object.__setattr__(self, name, value)


_FLAGS = ("values", "grads", "legend", "order", "op_values")
_CHOICES = {
    "heatmap": (None, "grad", "value"),
    "steps": ("auto", "expand", "collapse"),
    "direction": ("BT", "TB", "LR", "RL"),
    "fan_edges": ("auto", "each", "summary"),
    "notation": ("plain", "lecture"),
}
# whole numbers ≥ this
_COUNTS = {"max_numbers": 0, "wrap": 1, "backward_step": 0, "max_boxes": 1, "max_steps": 1}
_COUNTS |= {"font_size": 4, "small_font_size": 4, "param_columns": 1}
_OPTIONAL = ("backward_step", "max_boxes", "max_steps", "title", "heatmap", "scale", "canvas")


def check_fields(values: dict[str, Any], where: str) -> dict[str, Any]:
    """Every style field checked in one place (errors name `where` and the field); collapse given as
    "softmax,tanh" becomes a tuple, scale and canvas tuples of numbers. Returns the checked values."""
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
            _whole(value, name, _COUNTS[name], where)
        if name == "title" and not isinstance(value, str):
            raise TypeError(f"{where}: title must be a str or None, got {type(value).__name__}")
        if name == "collapse":
            out[name] = _names(value, where)
        if name == "scale":
            out[name] = _scale(value, where)
        if name == "canvas":
            out[name] = _canvas(value, where)
        if name in ("ranksep", "nodesep"):
            ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
            if not ok or not 0.02 <= value <= 5:
                raise ValueError(f"{where}: {name} must be a number of inches, 0.02 … 5, got {value!r}")
    return out


def _whole(value: Any, name: str, low: int, where: str) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        error = ValueError if isinstance(value, (int, np.integer)) else TypeError
        none = " or None" if name in _OPTIONAL else ""
        raise error(f"{where}: {name} must be a whole number ≥ {low}{none}, got {value!r}")


def _pair(value: Any) -> tuple | None:
    if isinstance(value, str):
        value = value.split(",")
    try:
        pair = tuple(value)
    except TypeError:
        return None
    return pair if len(pair) == 2 else None


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Iterable) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{where}: collapse must be composite names (a tuple of str, or 'a,b'), got {value!r}")
    return tuple(v.strip() for v in value if v.strip())


def _scale(value: Any, where: str) -> tuple[float, float]:
    pair = _pair(value)
    message = f"{where}: scale must be (low, high) with 0 < low < high, finite, e.g. (1e-10, 1e1); got {value!r}"
    try:
        lo, hi = (float(v) for v in pair)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise ValueError(message)
    return lo, hi


def _canvas(value: Any, where: str) -> tuple[int, int]:
    pair = _pair(value)
    ok = pair is not None and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
    if not ok or not all(64 <= v <= 16384 for v in pair):  # type: ignore[union-attr]
        raise ValueError(f"{where}: canvas must be (width, height) in pixels, each 64 … 16384, got {value!r}")
    return int(pair[0]), int(pair[1])  # type: ignore[index]


def font_sizes(style: Style) -> dict[str, int]:
    """Points of each kind of text: names and step labels, the rows under them, ops, title, caption, ✂."""
    text, small = style.font_size, style.small_font_size
    return {"text": text, "small": small, "op": max(small, text - 2), "title": text + 3, "caption": text + 1,
            "cut": text + 2}  # fmt: skip


# presets by name: draw(root, style="slide"). The slide: lecture notation, a 1920×1080 canvas, text that stays at
# least 24 px tall there (tests/test_slides.py measures it), at most 3 steps expanded (more collapse).
STYLES: dict[str, Style] = {
    "default": Style(),
    "slide": Style(
        notation="lecture",
        canvas=SLIDE,
        font_size=26,
        small_font_size=24,
        ranksep=0.2,
        nodesep=0.18,
        max_steps=3,
        wrap=6,
    ),
}


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
