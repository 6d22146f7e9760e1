"""The backward pass as an animation on one fixed canvas: PNG frames, an animated GIF and a multi-page PDF.

    render_frames(L, "frames/", by="op" | "node" | "step")

The graph is laid out once — the last frame, with every gradient, the largest labels — and every frame is drawn
with each node, edge and cluster pinned where that layout put it (Graphviz's `neato -n2` keeps given positions; the
nodes keep their size), so the frames have one size and nothing moves: only colours and numbers change. A frame
shows the graph after backward has visited k ops — the gradients found so far in red, the op just visited
outlined in purple — for the k chosen by `by`:

    op    every op backward visits (ops hidden in one box make one frame)
    node  every box that receives its gradient
    step  the loss, then each time step T, T − 1, …, 1 as backward finishes it, h_0, then the parameters

A frame that would look like the one before it is left out. Frames are frame_000.png, frame_001.png, …; with them
backward.gif (Pillow: an animated GIF, one frame per picture) and backward.pdf (Pillow: one page per picture, for
`\\includegraphics[page=k]` in beamer). Pillow, which matplotlib already depends on, writes both formats from the
PNG frames: well kept, no further dependency, no conversion program.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from tinygrad_rnn import gv
from tinygrad_rnn.canvas import Fit, fit, laid_out, pins_of, render_fitted
from tinygrad_rnn.dot import reveals, write
from tinygrad_rnn.plan import layout_of
from tinygrad_rnn.style import Style, make_style
from tinygrad_rnn.tensor import Tensor, topological_order

__all__ = ["FRAMES_BY", "backward_steps", "frame_steps", "render_frames", "write_gif", "write_pdf", "pdf_pages"]

FRAMES_BY = ("op", "node", "step")
SECONDS_PER_FRAME, LAST_FRAME_SECONDS = 0.7, 2.5


def backward_steps(root: Tensor) -> int:
    """The number of ops backward visits from `root` (the frames of `render_frames` are chosen from 0 … this)."""
    return sum(t.op is not None for t in topological_order(root, grad_only=True))


def frame_steps(root: Tensor, style: Style, by: str = "op", targets: Any = None) -> list[int]:
    """The backward steps k (ops visited) that get a frame: 0 (before backward), then as `by` says (FRAMES_BY)."""
    if by not in FRAMES_BY:
        raise ValueError(f"render_frames: by must be 'op', 'node' or 'step', got {by!r}")
    n = backward_steps(root)
    if by == "op":
        return list(range(n + 1))
    lay = layout_of(root, style, targets)
    shown = reveals(lay, style)
    if by == "node":
        return sorted({0, n} | set(shown.values()))
    groups: dict[str, list[int]] = {}
    for b, k in shown.items():
        box = lay.boxes[b]
        step = box.title if box.is_step else box.cluster[0][1] if box.cluster else ""
        outside = "parameters" if box.kind in ("param", "state") else "loss"
        groups.setdefault(step or outside, []).append(k)
    return sorted({0, n} | {max(ks) for ks in groups.values()})


def _frame_sources(root: Tensor, style: Style, steps: list[int], annotations: Any, targets: Any) -> list[str]:
    """The DOT text of each frame, pinned to one layout (the last frame's); a frame equal to the one before is
    left out."""
    lay = layout_of(root, style, targets)
    with tempfile.TemporaryDirectory() as tmp:
        last = Path(tmp) / "layout.dot"
        last.write_text(write(lay, _at(style, steps[-1]), annotations).source, encoding="utf-8")
        pins = pins_of(laid_out(last))
    sources: list[str] = []
    for k in steps:
        source = write(lay, _at(style, k), annotations, pins).source
        if not sources or _visible(source) != _visible(sources[-1]):
            sources.append(source)
    return sources


def _at(style: Style, k: int) -> Style:
    return make_style(style, {"backward_step": k}, "render_frames")


def _visible(source: str) -> str:
    """The DOT text without what a picture does not show (tooltips)."""
    return re.sub(r' tooltip="(?:[^"\\]|\\.)*"', "", source)


def render_frames(
    root: Tensor,
    directory: str | Path,
    style: Style | str | None = None,
    *,
    by: str = "op",
    format: str = "png",
    annotations: Any = None,
    targets: Any = None,
    gif: bool = True,
    pdf: bool = True,
    **options: Any,
) -> list[Path]:
    """Write the frames of the backward pass into `directory` (see the module's docstring): frame_000.png, …, and
    backward.gif and backward.pdf (unless gif/pdf is False). Returns the frames' paths. `style` and `options` are
    draw's (grads always on; order=True numbers the ops too); with a style's canvas (the slide) every frame is
    exactly that size."""
    if root.requires_grad and root.grad is None:
        raise ValueError("render_frames: call backward() on the root first — the frames show its gradients")
    if format != "png":
        raise ValueError(f"render_frames: the frames are PNG (the GIF and the PDF are made of them), got {format!r}")
    look = make_style(style, {**options, "grads": True}, "render_frames")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("frame_*.png"):  # frames of an earlier run would mix with these
        old.unlink()
    sources = _frame_sources(root, look, frame_steps(root, look, by, targets), annotations, targets)
    width = max(3, len(str(len(sources))))
    frames: list[Path] = []
    shape: Fit | None = None
    last: bytes | None = None  # the pixels of the last frame kept
    for source in sources:
        path = directory / f"frame_{len(frames):0{width}d}.png"
        dot_path = directory / "frame.dot"
        dot_path.write_text(source, encoding="utf-8")
        if look.canvas is not None:
            shape = shape or fit(laid_out(dot_path, "neato"), look.canvas)
            render_fitted(dot_path, path, "png", look.canvas, program="neato", shape=shape)
        else:
            gv.run("neato", ["-n2", "-Tpng"], dot_path, out=path)
        pixels = _pixels(path)
        if pixels == last:  # the same picture as the frame before it (a change nothing shows)
            path.unlink()
            continue
        frames.append(path)
        last = pixels
    (directory / "frame.dot").replace(directory / "backward.dot")  # the last frame's source, pinned
    if gif:
        write_gif(frames, directory / "backward.gif")
    if pdf:
        write_pdf(frames, directory / "backward.pdf")
    return frames


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - Pillow comes with matplotlib (the plot extra)
        raise ImportError("the GIF and PDF of the frames need Pillow: pip install pillow") from err
    return Image


def _pixels(path: Path) -> bytes:
    Image = _pillow()
    with Image.open(path) as img:
        return bytes(f"{img.size}", "ascii") + img.convert("RGB").tobytes()


def write_gif(frames: list[Path], path: Path, seconds: float = SECONDS_PER_FRAME) -> Path:
    """An animated GIF of the frames, `seconds` each (the last one longer), looping. One palette for all frames —
    made from the last, which holds every colour (the gradients' red) — so that no colour flickers between frames."""
    Image = _pillow()
    pictures = [Image.open(f).convert("RGB") for f in frames]
    durations = [round(1000 * seconds)] * (len(pictures) - 1) + [round(1000 * LAST_FRAME_SECONDS)]
    palette = pictures[-1].quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    indexed = [p.quantize(palette=palette, dither=Image.Dither.NONE) for p in pictures]
    indexed[0].save(path, save_all=True, append_images=indexed[1:], duration=durations, loop=0, disposal=1)
    return path


def write_pdf(frames: list[Path], path: Path, dpi: float = 192.0) -> Path:
    """A PDF with one page per frame (1920×1080 pixels at 192 dpi: a 10 × 5.625 inch page, 16:9)."""
    Image = _pillow()
    pages = [Image.open(f).convert("RGB") for f in frames]
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=dpi)
    return path


def pdf_pages(path: str | Path) -> int:
    """The number of pages of a PDF (its /Type /Page objects)."""
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", Path(path).read_bytes()))
