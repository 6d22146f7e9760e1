"""Graphviz drawings of computational graphs, grouped by time step: G = (tensors, parent → child edges).

`draw(root, style=None, *, annotations=None, targets=None, **shorthands)` returns a `graphviz.Digraph` (it displays
inline in Jupyter); `render(root, "g.png", …)` writes the picture and, always, its DOT source beside it (`g.dot`; for
g.svg `g.svg.dot`); `to_dot(root, …)` is the DOT text; `render_frames(root, dir, …)` the backward pass as frames on
one fixed canvas, with a GIF and a PDF (frames.py). A drawing is a layout (`layout.py`: groups, boxes, edges,
position hints — plain data; `notation.py` for the lecture's notation) written as DOT with a `Style` (`style.py`,
`dot.py`); a style with a canvas (the preset "slide": 1920×1080) is fitted into it (`canvas.py`). The drawing knows
no model and no checker: it reads only what the engine records on every node (`name`, `op`, `parents`, `scope`,
`composite`, `detached_from`, `data`, `grad`); what a checker wants to say about nodes comes in as `annotations`
(e.g. `draw(L, annotations=report.annotations("printed"))`), and leaves the engine does not keep as nodes come in
as `targets` (the targets y_t of the losses L_t: `step_targets(L, ys, K)`).

What the picture shows
    * One cluster per top-level scope ("t=1", "t=2", … — one time step), laid out along the time axis; nested
      scopes nest. The initial states (h_0, c_0: the models make them in the scope "t=0") sit in a small "t = 0"
      cluster left of the first step. Nodes of a composite function (softmax, tanh, …) sit in a small dashed
      sub-cluster, or, with `collapse=("softmax", …)`, are drawn as one box.
    * Value boxes for named tensors and leaves (label: name, then shape; optionally values and the gradient); small
      ellipses for ops (add "+", matmul "@", …). Parameters (leaves with requires_grad outside every scope) are
      drawn once, beside the first step, with a light edge to every step that uses them.
    * The state carried from one step into the next (h_{t−1} → step t, h_0 → step 1) is drawn bold; an edge cut by
      `detach()` is dashed and marked ✂.
    * `steps="collapse"` draws each step as one box, in rows that snake (for T = 1000); `steps="auto"` (the
      default) does so when the expanded drawing would have more than `max_boxes` (5,000) boxes, and a drawing
      that would still have more is refused, naming the way out.

Colour legend (also drawn under the picture with `legend=True`)
    parameters        blue    #cfe2ff
    inputs / targets  grey    #e9ecef   (leaves that need no gradient)
    constants         light grey #f1f3f5 (unnamed leaves, labelled with their numbers)
    interior values   white   #ffffff   (and the initial states h_0, c_0)
    ops               yellow  #fff3cd   (small ellipses)
    composite (box)   orange  #ffe5d0   (collapsed composite function or collapsed time step)
    loss              green   #d1e7dd   (the root and the terms summed into it)
    gradients         red text #b02a37
    edges             bold black: the state carried into the next step; light blue: a parameter's use;
                      dashed with ✂: cut by detach()
    heat-map          yellow → dark red = small → large log10 ‖∂L/∂node‖ (scale=(low, high): one scale for several
                      pictures; stated in the legend either way)
    annotations       the fill and rows each annotation gives (e.g. the lecture check: green agrees, amber close,
                      red wrong, lavender does not type-check, grey not in the lecture), keyed in the legend under
                      the annotations' heading

The DOT text is deterministic: node ids are sequential in topological order (never `id()`), composite instances
are renumbered by first appearance, numbers are printed with fixed significant digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_rnn import gv
from tinygrad_rnn.annotations import Annotations
from tinygrad_rnn.canvas import Fit, fit, laid_out, render_fitted
from tinygrad_rnn.dot import heat_scale, write
from tinygrad_rnn.frames import backward_steps, render_frames
from tinygrad_rnn.gv import GraphvizNotFoundError
from tinygrad_rnn.inputs import whole_number
from tinygrad_rnn.markup import html
from tinygrad_rnn.plan import layout_of
from tinygrad_rnn.style import HEAT, MAX_BOXES, SLIDE, STYLES, Style, make_style
from tinygrad_rnn.tensor import Tensor, topological_order

if TYPE_CHECKING:
    import graphviz

__all__ = [
    "Style",
    "STYLES",
    "MAX_BOXES",
    "HEAT",
    "GraphvizNotFoundError",
    "draw",
    "to_dot",
    "layout_of",
    "render",
    "render_dot",
    "render_frames",
    "backward_steps",
    "heat_scale",
    "html",
    "step_targets",
    "dot_path_of",
    "fit_of",
    "Fit",
    "SLIDE",
]


def draw(
    root: Tensor,
    style: Style | str | None = None,
    *,
    annotations: Annotations | None = None,
    targets: Mapping[Tensor, Tensor] | None = None,
    **shorthands: Any,
) -> graphviz.Digraph:
    """G ↦ a graphviz.Digraph of the graph that computed `root`, one cluster per time step.

    style        a `Style`, a preset's name (`STYLES`: "default", "slide") or None (the default)
    annotations  rows of text and a fill per node, and their legend (`tinygrad_rnn.annotations.Annotations`)
    targets      leaves to draw as parents of nodes the engine made without them: {L_t: y_t} draws each
                 target y_t feeding its loss L_t (`step_targets` builds it from the losses and the targets)
    shorthands   any field of the style, e.g. values=True, grads=True, heatmap="grad", collapse=("softmax",),
                 steps="collapse", direction="LR", legend=False, title="…", order=True, backward_step=3
                 (see `Style` for every field); an unknown keyword is a TypeError naming it
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"draw: root must be a Tensor, got {type(root).__name__}")
    if annotations is not None and not isinstance(annotations, Annotations):
        raise TypeError(f"draw: annotations must be an Annotations or None, got {type(annotations).__name__}")
    style = make_style(style, shorthands, "draw")
    if style.heatmap == "grad" and root.requires_grad and root.grad is None:
        raise ValueError("draw(heatmap='grad'): call backward() on the root first — no gradients to colour by")
    return write(layout_of(root, style, targets), style, annotations)


def step_targets(root: Tensor, ys: Any, classes: int | None = None, loss: str = "L", name: str = "y") -> dict:
    """{L_t: y_t} for `draw(…, targets=…)`: each node of root's graph named L_1, L_2, … (`loss`_t) with the target
    of its step as a leaf named y_t (`name`_t) — class indices as one-hot rows of `classes` entries, the way the
    lecture writes y_t; rows as given. Steps whose loss is not in the graph get no target."""
    if not isinstance(root, Tensor):
        raise TypeError(
            f"step_targets: root must be the loss (a Tensor whose graph holds L_1, L_2, …), got {type(root).__name__}"
        )
    rows = np.asarray(ys)
    if classes is not None and rows.dtype.kind in "iu":
        rows = np.eye(whole_number(classes, "classes", "step_targets"))[rows]
    by_name = {str(t.name): t for t in topological_order(root) if t.name is not None}
    out = {}
    for step, y in enumerate(rows, start=1):
        node = by_name.get(f"{loss}_{step}")
        if node is not None:
            out[node] = Tensor(np.asarray(y, dtype=np.float64), name=f"{name}_{step}")
    return out


def to_dot(root: Tensor, style: Style | str | None = None, **options: Any) -> str:
    """The DOT text of draw(root, style, **options): the same graph gives byte-identical text."""
    return draw(root, style, **options).source


# ---- rendering ------------------------------------------------------------------------------------------------------


def dot_path_of(path: Path) -> Path:
    """Where `render` writes the DOT source of a picture: x.dot for x.png, x.svg.dot and x.pdf.dot for the other
    formats, so that pictures of one name in several formats never overwrite each other's source."""
    return path.with_suffix(".dot") if path.suffix.lower() == ".png" else path.with_name(path.name + ".dot")


def render(
    root: Tensor, path: str | Path, style: Style | str | None = None, *, format: str | None = None, **options: Any
) -> Path:
    """Write the drawing of `root` to `path` (png, svg or pdf, from `format` or the suffix) and its DOT source
    beside it (`dot_path_of`: x.dot for x.png, x.svg.dot for x.svg). With a style's `canvas` (the slide: 1920×1080)
    the picture is fitted into exactly that many pixels (PNG) or that aspect (SVG, PDF) — see `canvas.py`, and
    `fit_of` for the scale and the smallest text. Returns the picture's path. `style` and options are draw's."""
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"render: format must be png, svg or pdf (from format= or the file suffix), got {fmt!r}")
    if path.suffix.lower() != f".{fmt}":
        path = path.with_name(path.name + f".{fmt}")
    look = make_style(style, {k: v for k, v in options.items() if k not in ("annotations", "targets")}, "render")
    source = to_dot(root, look, **{k: v for k, v in options.items() if k in ("annotations", "targets")})
    path.parent.mkdir(parents=True, exist_ok=True)
    dot_path = dot_path_of(path)
    dot_path.write_text(source, encoding="utf-8")
    if look.canvas is not None:
        render_fitted(dot_path, path, fmt, look.canvas)
    else:
        render_dot(dot_path, path, fmt)
    return path


def render_dot(dot_path: Path, path: Path, fmt: str) -> None:
    """Run Graphviz's `dot` on a .dot file; a clear error with install commands if it is missing."""
    gv.run("dot", [f"-T{fmt}"], dot_path, fmt=fmt, out=path)


def fit_of(dot_path: str | Path, canvas: tuple[int, int] = SLIDE) -> Fit:
    """How the drawing in a .dot file fits `canvas` pixels: the scale, and `min_text_px`, the height of its smallest
    text there (Graphviz's layout of it, measured — see canvas.py)."""
    return fit(laid_out(Path(dot_path)), canvas)
