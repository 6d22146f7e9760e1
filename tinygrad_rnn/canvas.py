"""Pictures of a fixed size: a drawing fitted into a canvas of exactly W×H pixels (a 1920×1080 slide), and the
size of its smallest text there, computed from what Graphviz lays out.

Graphviz lays the graph out in points (1/72 inch); its bounding box is `bb`. To fill a W×H canvas the picture is
scaled by s = min(W / (w + 2m), H / (h + 2m)) pixels per point (m: a margin in points) — rendered at dpi = 72·s —
and padded to W×H on the other axis (Graphviz's `pad`, given per axis), so PNG, SVG and PDF all get the canvas's
aspect; a PNG comes out at exactly W×H pixels (off-by-one rounding, if any, is cropped or padded with Pillow). The
text: every font size Graphviz draws (the "F" operations of its xdot output) times s is that text's height in
pixels on the canvas — its em size, which is what a font size means; the smallest is `Fit.min_text_px`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinygrad_rnn import gv

__all__ = [
    "Fit",
    "Pins",
    "laid_out",
    "pins_of",
    "fit",
    "drawn_font_sizes",
    "render_fitted",
    "png_size",
    "exact_png",
    "MARGIN",
]

MARGIN = 6.0  # points of white around the picture, at least, on every side


@dataclass(frozen=True)
class Fit:
    """How a drawing of bb = (width, height) points fills a canvas of (W, H) pixels."""

    canvas: tuple[int, int]
    bb: tuple[float, float]
    scale: float  # pixels per point
    pad: tuple[float, float]  # inches added left and right, top and bottom
    min_font: float  # the smallest font size Graphviz draws, in points

    @property
    def dpi(self) -> float:
        return 72.0 * self.scale

    @property
    def min_text_px(self) -> float:
        """The height (em size) in pixels of the smallest text on the canvas."""
        return self.min_font * self.scale

    def args(self) -> list[str]:
        """Graphviz's command-line settings that render this fit (the .dot itself stays as drawn); margin 0, since
        PDF would otherwise add half an inch of its own."""
        return [f"-Gdpi={self.dpi:.6f}", f"-Gpad={self.pad[0]:.6f},{self.pad[1]:.6f}", "-Gmargin=0"]


@dataclass(frozen=True)
class Pins:
    """A layout made once, to draw again with every node where it was (`neato -n2` keeps given positions): the
    graph's bounding box and label position, each node's position and size, each edge's spline ((tail, head, k):
    the k-th edge between the two), each cluster's box and label position."""

    graph: dict[str, str]
    nodes: dict[str, dict[str, str]]
    edges: dict[tuple[str, str, int], dict[str, str]]
    clusters: dict[str, dict[str, str]]

    def node(self, name: str) -> dict[str, str]:
        return self.nodes.get(name, {})


def pins_of(layout: dict[str, Any]) -> Pins:
    """The positions of a layout (Graphviz's JSON, see `laid_out`), to pin in every frame of an animation."""
    keep = ("bb", "lp", "lwidth", "lheight")
    objects, count = layout.get("objects", []), int(layout.get("_subgraph_cnt", 0))
    subgraphs, node_objects = objects[:count], objects[count:]  # Graphviz lists the subgraphs first
    names = {o["_gvid"]: o["name"] for o in node_objects}
    nodes = {o["name"]: {"pos": o["pos"], "width": o["width"], "height": o["height"]} for o in node_objects}
    clusters = {o["name"]: {k: o[k] for k in keep if k in o} for o in subgraphs if str(o["name"]).startswith("cluster")}
    edges: dict[tuple[str, str, int], dict[str, str]] = {}
    seen: dict[tuple[str, str], int] = {}
    for e in layout.get("edges", []):
        tail, head = names[e["tail"]], names[e["head"]]
        k = seen.get((tail, head), 0)
        seen[(tail, head)] = k + 1
        edges[(tail, head, k)] = {key: e[key] for key in ("pos", "lp") if key in e}
    return Pins({k: str(layout[k]) for k in keep if k in layout}, nodes, edges, clusters)


def laid_out(dot_path: Path, program: str = "dot") -> dict[str, Any]:
    """Graphviz's layout of a .dot file as its JSON (positions, sizes, the xdot drawing operations)."""
    args = ["-Tjson"] + (["-n2"] if program == "neato" else [])
    return json.loads(gv.run(program, args, dot_path, fmt="json"))


def drawn_font_sizes(layout: dict[str, Any]) -> list[float]:
    """The size of every font Graphviz draws text in (graph label, nodes, edges, clusters), in points."""
    sizes: set[float] = set()

    def walk(ops: list[dict[str, Any]]) -> None:
        size = None
        for op in ops:
            if op.get("op") == "F":
                size = float(op["size"])
            elif op.get("op") == "T" and size is not None and op.get("text", "").strip():
                sizes.add(size)

    for obj in [layout, *layout.get("objects", []), *layout.get("edges", [])]:
        for key, value in obj.items():
            if key.startswith("_") and key.endswith("draw_") and isinstance(value, list):
                walk(value)
    return sorted(sizes)


def fit(layout: dict[str, Any], canvas: tuple[int, int], margin: float = MARGIN) -> Fit:
    """The scale and padding that fit a laid-out drawing into `canvas` pixels, centred."""
    x0, y0, x1, y1 = (float(v) for v in str(layout["bb"]).split(","))
    w, h = x1 - x0, y1 - y0
    W, H = canvas
    scale = min(W / (w + 2 * margin), H / (h + 2 * margin))
    pad = ((W / scale - w) / 2 / 72.0, (H / scale - h) / 2 / 72.0)
    sizes = drawn_font_sizes(layout)
    return Fit((W, H), (w, h), scale, pad, sizes[0] if sizes else 0.0)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file, read from its header."""
    data = Path(path).read_bytes()[:24]
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def exact_png(path: Path, canvas: tuple[int, int]) -> None:
    """Make the PNG at `path` exactly `canvas` pixels: centred, cropped or padded with white (Pillow)."""
    if png_size(path) == tuple(canvas):
        return
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - Pillow comes with matplotlib (the plot extra)
        raise ImportError("an exact canvas needs Pillow: pip install pillow (it comes with matplotlib)") from err
    with Image.open(path) as img:
        picture = img.convert("RGBA")
    out = Image.new("RGBA", canvas, (255, 255, 255, 255))
    out.paste(picture, ((canvas[0] - picture.width) // 2, (canvas[1] - picture.height) // 2), picture)
    out.convert("RGB").save(path)


def render_fitted(
    dot_path: Path, path: Path, fmt: str, canvas: tuple[int, int], program: str = "dot", shape: Fit | None = None
) -> Fit:
    """Render `dot_path` to `path` fitted into `canvas` (see the module's docstring); the fit it used (`shape`, when
    given: the fit of a layout that is pinned, the same for every frame)."""
    shape = shape or fit(laid_out(dot_path, program), canvas)
    args = [f"-T{fmt}", *shape.args()] + (["-n2"] if program == "neato" else [])
    gv.run(program, args, dot_path, fmt=fmt, out=path)
    if fmt == "png":
        exact_png(path, canvas)
    return shape
