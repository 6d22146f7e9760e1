"""Argument checks shared by optim, data and gradcheck: each error names the function and the argument."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["real", "whole", "function"]


def real(
    fn: str, name: str, value: Any, *, low: float = -math.inf, high: float = math.inf, strict: bool = True
) -> float:
    """value as a float if it is a finite real number (numpy's too, not a bool) with low < value < high — low ≤ value
    when strict=False; otherwise a TypeError (not a number) or a ValueError (out of range) naming fn and name."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fn}: {name} must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not (math.isfinite(v) and (v > low if strict else v >= low) and v < high):
        bound = f" {'>' if strict else '≥'} {low:g}" if low > -math.inf else ""
        bound += f"{' and' if bound else ''} < {high:g}" if high < math.inf else ""
        raise ValueError(f"{fn}: {name} must be a finite number{bound}, got {value!r}")
    return v


def whole(fn: str, name: str, value: Any, low: int = 1) -> int:
    """value if it is an int (numpy's too, not a bool) ≥ low; otherwise a TypeError or ValueError naming fn and name."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an int ≥ {low}, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{fn}: {name} must be an int ≥ {low}, got {value}")
    return int(value)


def function(fn: str, name: str, value: Any) -> None:
    """A TypeError naming fn and name unless value can be called."""
    if not callable(value):
        raise TypeError(f"{fn}: {name} must be a function, got {type(value).__name__}")
