"""The command line's argument types and checks, written once: every bad argument gets an argparse-style message and
exit code 2, and sizes that could not finish are refused up front with the limit named."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["positive_int", "MAX_SIZE", "MAX_STEPS", "MAX_RADIUS", "MAX_DRAW_STEPS"]


def _number(kind: type, *, low: float | None = None, high: float | None = None, open_low: bool = False) -> Any:
    """An argparse type: a finite int or float within [low, high] (low excluded when open_low); the message says
    what was expected."""
    word = "whole number" if kind is int else "finite number"
    bounds = (f" > {low:g}" if open_low else f" ≥ {low:g}") if low is not None else ""
    bounds += f" and ≤ {high:g}" if high is not None else ""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {word}{bounds}, got {text!r}") from None
        bad_low = low is not None and (value <= low if open_low else value < low)
        if not math.isfinite(value) or bad_low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected a {word}{bounds}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


positive_int = _number(int, low=1)
# Sizes beyond these would not fit in memory or would run for hours: refused up front, the limit named.
MAX_SIZE, MAX_STEPS, MAX_RADIUS = 4096, 100_000, 100.0
_size = _number(int, low=1, high=MAX_SIZE)
_steps = _number(int, low=1, high=MAX_STEPS)
# A drawing of more steps than this collapses them into one box each; building the graph itself stays quick.
MAX_DRAW_STEPS = 5000
_draw_steps = _number(int, low=1, high=MAX_DRAW_STEPS)
_seed = _number(int, low=0)
_unit = _number(float, low=0, high=1)
_positive_float = _number(float, low=0, open_low=True)


def _list_of(item: Any) -> Any:
    """An argparse type: comma-separated values of `item`, e.g. 0.5,1,1.5."""

    def parse(text: str) -> tuple:
        return tuple(item(v) for v in text.split(","))

    return parse


def _unwritable(path: str | None) -> str:
    """Why a file cannot be written at `path` ("" when it can, or when no path is given): checked before a job."""
    if path is None:
        return ""
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable"
    if Path(path).is_dir():
        return "is a folder"
    return ""


def _fail(command: str, message: str) -> int:
    """An argparse-style message on stderr; exit code 2 (bad usage)."""
    print(f"tinygrad-rnn {command}: error: {message}", file=sys.stderr)
    return 2
