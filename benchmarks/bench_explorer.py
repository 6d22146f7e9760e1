"""Size of the explorer page and how fast headless Chromium makes it interactive, for the lecture RNN (D = 3, H = 4,
K = 3, both readings of section 2.4, composites collapsed as the page opens — what `tinygrad-rnn explore` writes).

    python benchmarks/bench_explorer.py                  # T = 3 and T = 30
    python benchmarks/bench_explorer.py --steps 3,30,60 --repeat 5

Columns: the seconds to build the problem and its lecture check (compare), to write the page (explore: layout, two
Graphviz runs, the data), the file's size; then, in the browser (the machinery of tests/test_explorer_browser.py:
Selenium, Debian's chromium-driver), from navigation start to the page's "explorer-ready" mark (parsed, drawing
mounted, stepper wired: interactive) and to the first frame painted with the drawing, and the time one click on
"step to the end" takes to repaint every node.
The issue's bounds: interactive within 2 s and under 2 MB at T = 30.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the browser machinery of the tests

from test_explorer_browser import Browser, find_browser  # noqa: E402

from tinygrad_rnn.demo import DEMO_COLLAPSE, random_problem  # noqa: E402
from tinygrad_rnn.explorer import explore  # noqa: E402
from tinygrad_rnn.explorer_lecture import lecture_annotations  # noqa: E402
from tinygrad_rnn.report import compare  # noqa: E402


def write_page(T: int, path: Path) -> tuple[float, float, int]:
    """(seconds to build and check, seconds to write the page, bytes)."""
    t0 = time.perf_counter()
    report = compare(*random_problem(T, 3, 4, 3, seed=0))
    t1 = time.perf_counter()
    explore(report.loss, path, annotations=lecture_annotations(report), collapse=DEMO_COLLAPSE)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, path.stat().st_size


def in_browser(browser: Browser, path: Path) -> tuple[float, float, float]:
    """(ms from navigation start to interactive, to the first frame painted with the drawing, ms for one click on
    'step to the end')."""
    browser.open(path)
    ready = browser.js("return performance.getEntriesByName('explorer-ready')[0].startTime")
    for _ in range(100):
        painted = browser.js("const m = performance.getEntriesByName('explorer-painted')[0]; return m && m.startTime")
        if painted:
            break
        time.sleep(0.02)
    step = browser.js(
        "const t = performance.now(); document.getElementById('step-last').click();"
        "document.body.getBoundingClientRect(); return performance.now() - t"
    )
    browser.assert_clean()
    return float(ready), float(painted), float(step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="3,30", help="comma-separated T (default 3,30)")
    parser.add_argument("--repeat", type=int, default=3, help="page loads per T; the median is shown")
    args = parser.parse_args()
    found = find_browser()
    if isinstance(found, str):
        raise SystemExit(f"bench_explorer: no browser: {found}")
    browser = Browser(*found)
    head = f"{'T':>4} {'check s':>8} {'page s':>7} {'size MB':>8} {'interactive ms':>15} {'painted ms':>11}"
    print(f"{head} {'step to end ms':>15}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for T in (int(v) for v in args.steps.split(",")):
                path = Path(tmp) / f"T{T}.html"
                check, write, size = write_page(T, path)
                runs = [in_browser(browser, path) for _ in range(args.repeat)]
                ready, painted, step = (statistics.median(r[i] for r in runs) for i in range(3))
                row = f"{T:>4} {check:>8.2f} {write:>7.2f} {size / 1e6:>8.2f} {ready:>15.0f} {painted:>11.0f}"
                print(f"{row} {step:>15.1f}")
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
