"""Graphviz drawings of computational graphs, grouped by time step: G = (tensors, parent → child edges).

`draw(root, style=None, *, annotations=None, **shorthands)` returns a `graphviz.Digraph` (it displays inline in
Jupyter); `render(root, "g.png", …)` writes the picture and, always, `g.dot` beside it; `to_dot(root, …)` is the
DOT text; `render_frames(root, dir, …)` writes one picture per step of the backward pass. A drawing is a layout
(`layout.py`: groups, boxes, edges, position hints — plain data) written as DOT with a `Style` (`dot.py`). The
drawing knows no model and no checker: it reads only what the engine records on every node (`name`, `op`,
`parents`, `scope`, `composite`, `detached_from`, `data`, `grad`), and what a checker wants to say about nodes comes
in as `annotations` (e.g. `draw(L, annotations=report.annotations("printed"))`).

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
    heat-map          yellow → dark red = small → large log10 ‖∂L/∂node‖
    annotations       the fill and rows each annotation gives (e.g. the lecture check: green agrees, amber close,
                      red wrong, lavender does not type-check, grey not in the lecture), keyed in the legend under
                      the annotations' heading

The DOT text is deterministic: node ids are sequential in topological order (never `id()`), composite instances
are renumbered by first appearance, numbers are printed with fixed significant digits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinygrad_rnn.annotations import Annotations
from tinygrad_rnn.dot import HEAT, MAX_BOXES, STYLES, Style, heat_scale, html, make_style, write
from tinygrad_rnn.layout import Layout, layout, layout_collapsed
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
]


def draw(
    root: Tensor, style: Style | str | None = None, *, annotations: Annotations | None = None, **shorthands: Any
) -> graphviz.Digraph:
    """G ↦ a graphviz.Digraph of the graph that computed `root`, one cluster per time step.

    style        a `Style`, a preset's name (`STYLES`: "default", …) or None (the default)
    annotations  rows of text and a fill per node, and their legend (`tinygrad_rnn.annotations.Annotations`)
    shorthands   any field of the style, e.g. values=True, grads=True, heatmap="grad", collapse=("softmax",),
                 steps="collapse", direction="TB", legend=False, title="…", order=True, backward_step=3
                 (see `Style` for every field); an unknown keyword is a TypeError naming it
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"draw: root must be a Tensor, got {type(root).__name__}")
    if annotations is not None and not isinstance(annotations, Annotations):
        raise TypeError(f"draw: annotations must be an Annotations or None, got {type(annotations).__name__}")
    style = make_style(style, shorthands, "draw")
    if style.heatmap == "grad" and root.requires_grad and root.grad is None:
        raise ValueError("draw(heatmap='grad'): call backward() on the root first — no gradients to colour by")
    return write(layout_of(root, style), style, annotations)


def layout_of(root: Tensor, style: Style) -> Layout:
    """The layout `draw` uses: expanded or one box per step (style.steps; "auto" collapses the steps when the
    expanded drawing would have more than style.max_boxes boxes); refused when it would still have more."""
    limit, nodes = style.max_boxes, topological_order(root)
    if limit is not None and len(nodes) > limit:
        if not any(t.scope for t in nodes):
            _refuse(len(nodes), "nodes", limit, collapsed=False, steps=0)  # nothing to collapse
        if style.steps == "expand" and not style.collapse:
            _refuse(len(nodes), "nodes", limit, collapsed=False, steps=1)  # every node is at least one box
    if style.steps != "collapse" and (limit is None or style.steps == "expand" or len(nodes) <= limit):
        lay = layout(root, style.collapse)
        if limit is None or len(lay.boxes) <= limit:
            return lay
        if style.steps == "expand":
            _refuse(len(lay.boxes), "boxes", limit, collapsed=False, steps=len(lay.steps.order))
    lay = layout_collapsed(root, style.collapse, style.wrap, style.fan_edges)
    if limit is not None and len(lay.boxes) > limit:
        _refuse(len(lay.boxes), "boxes", limit, collapsed=True, steps=len(lay.steps.order))
    return lay


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


def to_dot(root: Tensor, style: Style | str | None = None, **options: Any) -> str:
    """The DOT text of draw(root, style, **options): the same graph gives byte-identical text."""
    return draw(root, style, **options).source


# ---- rendering ------------------------------------------------------------------------------------------------------

INSTALL_HELP = (
    "Graphviz's `dot` program was not found on PATH, so the picture could not be rendered "
    "(the DOT source was written to {dot_path}). Install Graphviz:\n"
    "  Debian/Ubuntu:  sudo apt-get install graphviz\n"
    "  macOS:          brew install graphviz\n"
    "  conda:          conda install -c conda-forge graphviz\n"
    "then run again, or render the .dot yourself: dot -T{fmt} {dot_path} -o {path}"
)


class GraphvizNotFoundError(RuntimeError):
    """The `dot` executable is missing: the .dot file was written, the picture was not."""


def render(
    root: Tensor, path: str | Path, style: Style | str | None = None, *, format: str | None = None, **options: Any
) -> Path:
    """Write the drawing of `root` to `path` (png, svg or pdf, from `format` or the suffix) and its DOT source
    beside it (path with suffix .dot). Returns the picture's path. `style` and options are those of `draw`."""
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"render: format must be png, svg or pdf (from format= or the file suffix), got {fmt!r}")
    if path.suffix.lower() != f".{fmt}":
        path = path.with_name(path.name + f".{fmt}")
    source = to_dot(root, style, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    dot_path = path.with_suffix(".dot")
    dot_path.write_text(source, encoding="utf-8")
    render_dot(dot_path, path, fmt)
    return path


def render_dot(dot_path: Path, path: Path, fmt: str) -> None:
    """Run Graphviz's `dot` on a .dot file; a clear error with install commands if it is missing."""
    exe = shutil.which("dot", path=os.environ.get("PATH", ""))
    if exe is None:
        raise GraphvizNotFoundError(INSTALL_HELP.format(dot_path=dot_path, fmt=fmt, path=path))
    proc = subprocess.run([exe, f"-T{fmt}", str(dot_path), "-o", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"render: dot failed on {dot_path} (exit {proc.returncode}): {proc.stderr.strip()}")


def backward_steps(root: Tensor) -> int:
    """The number of ops backward visits from `root` (the frames of `render_frames` are 0 … this number)."""
    return sum(t.op is not None for t in topological_order(root, grad_only=True))


def render_frames(
    root: Tensor, directory: str | Path, style: Style | str | None = None, *, format: str = "png", **options: Any
) -> list[Path]:
    """Frame k (k = 0 … backward_steps(root)) shows the graph after backward has visited k ops: the gradients found
    so far in red, the op just visited outlined. Written as frame_000.<format>, … (each with its .dot); for slides.
    """
    if root.requires_grad and root.grad is None:
        raise ValueError("render_frames: call backward() on the root first — the frames show its gradients")
    directory = Path(directory)
    options = {**options, "grads": True, "order": True}
    n = backward_steps(root)
    width = max(3, len(str(n)))
    return [
        render(root, directory / f"frame_{k:0{width}d}.{format}", style, format=format, backward_step=k, **options)
        for k in range(n + 1)
    ]
