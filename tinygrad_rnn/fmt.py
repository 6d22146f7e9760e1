"""Numbers and shapes as short text, the same way in tables, drawings and reports."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["num", "shape_text", "array_text", "norm"]


def num(x: float, digits: int = 3) -> str:
    """A number with `digits` significant digits, a true minus sign, and no negative zero."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    text = f"{x:.{digits}g}"
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{int(exp)}"
    return text.replace("-", "−")


def shape_text(shape: tuple) -> str:
    """2×3, or "scalar" for ()."""
    return "×".join(str(n) for n in shape) if shape else "scalar"


def array_text(a: np.ndarray, max_numbers: int) -> str:
    """The numbers themselves when there are few (rows separated by ';'), else ‖·‖ and the range."""
    a = np.asarray(a, dtype=np.float64)
    if a.size <= max_numbers:
        if a.ndim == 0:
            return num(float(a))
        if a.ndim == 1:
            return "[" + ", ".join(num(v) for v in a) + "]"
        rows = a.reshape(-1, a.shape[-1])
        return "[" + "; ".join(", ".join(num(v) for v in row) for row in rows) + "]"
    if a.size == 0:
        return "empty"
    return f"‖·‖ {num(norm(a))}  [{num(float(a.min()))}, {num(float(a.max()))}]"


def norm(a: Any) -> float:
    """‖a‖, the Euclidean (Frobenius) norm, in float64; scaled by max|a| first, so entries near the float64 limit
    (a wrong answer can hold anything) give their norm, not an overflow (inf only if the norm itself exceeds it)."""
    x = np.asarray(a, dtype=np.float64)
    if x.size == 0:
        return 0.0
    m = float(np.max(np.abs(x)))
    if m == 0.0 or not np.isfinite(m):
        return m if not np.isnan(x).any() else float("nan")
    with np.errstate(over="ignore"):
        return m * float(np.linalg.norm(x / m))
