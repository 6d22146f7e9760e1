"""Time to draw the lecture RNN's unrolled graph: build (forward + backward), DOT text (`to_dot`), render (PNG).

    python benchmarks/bench_draw.py            # T = 10, 100, 1000 with steps collapsed; T = 10, 100 expanded;
                                               # T = 1000 with steps="auto" (22,000 nodes: collapses by itself)
    python benchmarks/bench_draw.py --repeat 3 # median of 3 runs each

Rendering is Graphviz's `dot` running as a separate process; its time is most of the total. Then the classroom
pictures: the 1920×1080 slide of the demo's T = 3 (with its measured smallest text), and the backward pass as frames
on one canvas (default look and slide; per step, per node and per op), with the GIF and the PDF.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tinygrad_rnn.canvas import png_size
from tinygrad_rnn.demo import demo_problem
from tinygrad_rnn.draw import Style, dot_path_of, fit_of, render, render_dot, render_frames, step_targets, to_dot
from tinygrad_rnn.rnn import RNN

CASES = (
    (10, "collapse"),
    (100, "collapse"),
    (1000, "collapse"),
    (10, "expand"),
    (100, "expand"),
    (1000, "auto"),
)


def one_run(T: int, steps: str, directory: Path) -> tuple[float, float, float, int]:
    """(seconds to build, to write the DOT text, to render the PNG; PNG size in bytes)."""
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    rnn = RNN(3, 8, 3, seed=0)
    L = rnn.loss(rng.standard_normal((T, 3)), rng.integers(0, 3, size=T))
    L.backward()
    t1 = time.perf_counter()
    source = to_dot(L, Style(steps=steps, grads=True, heatmap="grad"))
    t2 = time.perf_counter()
    dot_path = directory / f"T{T}_{steps}.dot"
    dot_path.write_text(source, encoding="utf-8")
    png = dot_path.with_suffix(".png")
    render_dot(dot_path, png, "png")
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, png.stat().st_size


def classroom(directory: Path) -> None:
    """The slide and the frames of the demo's problem: seconds, pixels, frames, smallest text."""
    rnn, xs, ys, _ = demo_problem()
    L = rnn.loss(xs, ys)
    L.backward()
    targets = step_targets(L, ys, 3)
    print(f"\n{'picture':>26} {'seconds':>8} {'frames':>7} {'pixels':>10} {'smallest text':>14}")
    t0 = time.perf_counter()
    path = render(L, directory / "slide.png", "slide", values=True, grads=True, targets=targets)
    seconds, size = time.perf_counter() - t0, png_size(path)
    text = f"{fit_of(dot_path_of(path)).min_text_px:.1f} px"
    print(f"{'slide, values + gradients':>26} {seconds:>8.2f} {1:>7} {size[0]:>5}×{size[1]:<4} {text:>14}")
    for style, by in ((None, "step"), (None, "node"), (None, "op"), ("slide", "step"), ("slide", "node")):
        t0 = time.perf_counter()
        frames = render_frames(L, directory / f"{style}_{by}", style, by=by, targets=targets)
        seconds, size = time.perf_counter() - t0, png_size(frames[0])
        name = f"frames by {by}, {style or 'default'}"
        print(f"{name:>26} {seconds:>8.2f} {len(frames):>7} {size[0]:>5}×{size[1]:<4} {'':>14}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the median is shown")
    args = parser.parse_args()
    print(f"{'T':>6} {'steps':>9} {'build s':>9} {'DOT s':>8} {'render s':>9} {'total s':>8} {'PNG KB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for T, steps in CASES:
            runs = [one_run(T, steps, Path(tmp)) for _ in range(args.repeat)]
            build, text, draw_time = (statistics.median(r[i] for r in runs) for i in range(3))
            size = runs[-1][3] / 1024
            total = build + text + draw_time
            print(f"{T:>6} {steps:>9} {build:>9.3f} {text:>8.3f} {draw_time:>9.3f} {total:>8.3f} {size:>8.0f}")
        classroom(Path(tmp))


if __name__ == "__main__":
    main()
