"""What every experiment of section 3 shares: the result object, the timer, the figure file and matplotlib."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PaperResult", "Timer", "figure_path", "pyplot", "save_figure", "fmt_number", "spread", "grad_of"]


def grad_of(t: Any) -> Any:
    """t.grad after a backward pass (an array); a missing one is an error, not a silent None."""
    if t.grad is None:
        raise ValueError(f"no gradient reached {t.name or 'the tensor'}: was backward() called on a loss that uses it?")
    return t.grad


def fmt_number(x: float) -> str:
    """A number as the `result:` line writes it: 4 significant digits, plain ASCII, readable by float()."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    return f"{x:.4g}"


def spread(values: Any) -> str:
    """ "mean m (median, min … max, sd s, n values)" of a list of numbers, for the printed lines."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return (
        f"mean {v.mean():.3g} (median {np.median(v):.3g}, range {v.min():.3g} … {v.max():.3g}, sd {sd:.2g}, n={v.size})"
    )


@dataclass
class PaperResult:
    """One experiment's outcome: the printable lines (the last is the `result:` line), our number beside the
    paper's, what the number is, the figure written (None when matplotlib is missing), the seconds it took."""

    name: str
    ours: float
    paper: float
    what: str
    lines: list[str] = field(default_factory=list)
    figure: Path | None = None
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def result_line(self) -> str:
        """`result: ours=<number> paper=<number> (<what the number is>)` — the contract's last line."""
        return f"result: ours={fmt_number(self.ours)} paper={fmt_number(self.paper)} ({self.what})"

    def finish(self, body: list[str], timer: Timer) -> PaperResult:
        """Set the lines: the body, the time taken, the figure, and the `result:` line last."""
        self.cpu_seconds, self.wall_seconds = timer.cpu, timer.wall
        figure = f"figure: {self.figure}" if self.figure else "figure: skipped (matplotlib is not installed)"
        self.lines = [*body, f"time: {self.cpu_seconds:.1f} s CPU, {self.wall_seconds:.1f} s wall", figure]
        self.lines.append(self.result_line)
        return self

    def text(self) -> str:
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return self.text()


class Timer:
    """CPU time (this process, all threads) and wall time since construction."""

    def __init__(self) -> None:
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    @property
    def cpu(self) -> float:
        return time.process_time() - self._cpu

    @property
    def wall(self) -> float:
        return time.perf_counter() - self._wall


def figure_path(out_dir: str | Path | None, name: str, quick: bool) -> Path:
    """<out_dir>/<name>.png (<name>_quick.png for a quick run); out_dir None means ./viz/papers."""
    base = Path("viz/papers") if out_dir is None else Path(out_dir)
    return base / (f"{name}_quick.png" if quick else f"{name}.png")


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


@contextmanager
def save_figure(path: Path, **subplots: Any) -> Iterator[Any]:
    """`with save_figure(path, nrows=1, ncols=2, figsize=…) as (fig, axes):` draw, then it is written (dpi 110).

    Yields None when matplotlib is missing: the caller skips drawing and reports no figure.
    """
    plt = pyplot()
    if plt is None:
        yield None
        return
    fig, axes = plt.subplots(layout="constrained", **subplots)
    try:
        yield fig, axes
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
