"""Checked inputs: sequences, targets, whole and real numbers — for the models, training, data and the checkers.

`validate_sequences` is the one parser of a model's inputs and targets: xs (T, D) or (T, B, D); targets as class
indices, one-hot / probability rows, or regression values. Its errors name the function, the shapes and the step
(t=k, 1-based, and the batch index). `whole_number` and `check_sizes` are the checks of counts and sizes.
The lecture module does not use this parser: it reads its arguments itself, so that the independent witness shares
no code with the models it checks (a test holds the two readings equal).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Array",
    "Sequences",
    "validate_sequences",
    "real_array",
    "whole_number",
    "check_sizes",
    "check_dtype",
    "check_head",
]

HEADS = ("softmax", "linear")
# An ndarray, or anything np.asarray reads as an array of real numbers (lists, scalars, a Tensor's .data): the
# functions that take one check it themselves, so the hint says what is meant without narrowing it for mypy.
Array = Any


class Sequences(NamedTuple):
    """Checked inputs in batch layout: xs (T, B, D); targets (T, B, K) (one-hot / probability rows or regression
    targets) or None; `labels` the class indices (T, B) when ys was given as indices, else None; `batched` tells
    whether the caller's layout had the batch axis."""

    xs: np.ndarray
    ys: np.ndarray | None
    labels: np.ndarray | None
    batched: bool


def _at(t: int, b: int, batched: bool) -> str:
    return f"t={t + 1}, batch index {b}" if batched else f"t={t + 1}"


def real_array(name: str, a: Any, where: str) -> np.ndarray:
    if not isinstance(a, np.ndarray) and isinstance(getattr(a, "data", None), np.ndarray):
        a = a.data  # a Tensor: its values
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def validate_sequences(
    xs: Any,
    ys: Any = None,
    *,
    input_size: int,
    output_size: int | None = None,
    head: str = "softmax",
    where: str = "validate_sequences",
) -> Sequences:
    """Check xs (T, D) / (T, B, D) and ys against the model sizes; errors name the function, the shapes and t=k.

    ys for head="softmax": class indices (T,) / (T, B), or one-hot / probability rows (T, K) / (T, B, K).
    ys for head="linear": regression targets (T, K) / (T, B, K).
    """
    x3, batched = _inputs(xs, input_size, where)
    if ys is None:
        return Sequences(x3, None, None, batched)
    T, B = x3.shape[:2]
    y = real_array("ys", ys, where)
    if y.ndim == 0 or y.shape[0] != T:
        got = "no time axis" if y.ndim == 0 else f"{y.shape[0]} steps"
        shape = x3.shape if batched else x3.shape[::2]
        raise ValueError(f"{where}: xs has T={T} steps (xs shape {shape}) but ys has {got} (ys shape {y.shape})")
    K = int(output_size) if output_size is not None else -1
    lead = (T, B) if batched else (T,)
    if head == "linear":
        if y.shape != lead + (K,):
            raise ValueError(f"{where}: regression targets ys must have shape {lead + (K,)} for K={K}; got {y.shape}")
        y3 = np.asarray(y, dtype=np.float64).reshape(T, B, K)
        bad = ~np.isfinite(y3)
        if bad.any():
            t, b, _ = np.argwhere(bad)[0]
            raise ValueError(f"{where}: ys has a non-finite value at {_at(t, b, batched)}")
        return Sequences(x3, y3, None, batched)
    check_head(head, where)
    if y.shape == lead:
        idx = _class_indices(y.reshape(T, B), K, batched, where)
        return Sequences(x3, np.eye(K)[idx], idx, batched)
    if y.shape == lead + (K,):
        return Sequences(x3, _probability_rows(y.reshape(T, B, K), batched, where), None, batched)
    raise ValueError(
        f"{where}: ys of shape {y.shape} fits neither class indices {lead} nor one-hot rows {lead + (K,)} "
        f"for xs of shape {x3.shape if batched else x3.shape[::2]} and K={K} classes"
    )


def _inputs(xs: Any, input_size: int, where: str) -> tuple[np.ndarray, bool]:
    """xs as (T, B, D) float64, and whether it had the batch axis."""
    x = real_array("xs", xs, where)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"{where}: xs must have shape (T, D) for one sequence or (T, B, D) for a batch; got shape {x.shape}"
        )
    batched = x.ndim == 3
    if x.shape[0] == 0 or (batched and x.shape[1] == 0):
        raise ValueError(f"{where}: xs of shape {x.shape} is empty; a sequence needs T ≥ 1 steps (and B ≥ 1)")
    if x.shape[-1] != input_size:
        raise ValueError(
            f"{where}: xs has D={x.shape[-1]} features per step (xs shape {x.shape}) but the model expects "
            f"input size D={input_size}"
        )
    x3 = np.asarray(x, dtype=np.float64)
    x3 = x3 if batched else x3[:, None, :]
    if not np.isfinite(x3).all():
        bad = ~np.isfinite(x3)
        t, b, _ = np.argwhere(bad)[0]
        raise ValueError(f"{where}: xs has a non-finite value ({x3[t, b][bad[t, b]][0]}) at {_at(t, b, batched)}")
    return x3, batched


def _class_indices(idx: np.ndarray, K: int, batched: bool, where: str) -> np.ndarray:
    """Class indices (T, B): whole numbers in 0..K−1."""
    if idx.dtype.kind == "b":
        raise TypeError(f"{where}: class indices ys must be whole numbers, got booleans (ys shape {idx.shape})")
    if idx.dtype.kind == "f":
        frac = ~np.isfinite(idx) | (idx != np.round(np.nan_to_num(idx)))
        if frac.any():
            t, b = np.argwhere(frac)[0]
            raise ValueError(f"{where}: class index {idx[t, b]} at {_at(t, b, batched)} is not a whole number")
    if idx.min() < 0 or idx.max() >= K:
        t, b = np.argwhere((idx < 0) | (idx >= K))[0]
        raise ValueError(
            f"{where}: class index {idx[t, b]:g} at {_at(t, b, batched)} is outside 0..{K - 1} (K={K} classes)"
        )
    return idx.astype(np.intp)


def _probability_rows(y: np.ndarray, batched: bool, where: str) -> np.ndarray:
    """One-hot or probability rows (T, B, K): finite, ≥ 0, each summing to 1."""
    p = np.asarray(y, dtype=np.float64)
    bad = ~np.isfinite(p) | (p < 0)
    if bad.any():
        t, b, _ = np.argwhere(bad)[0]
        raise ValueError(f"{where}: ys row at {_at(t, b, batched)} has a negative or non-finite entry: {p[t, b]}")
    s = p.sum(axis=-1)
    off = np.abs(s - 1.0) > 1e-8
    if off.any():
        t, b = np.argwhere(off)[0]
        raise ValueError(
            f"{where}: ys row at {_at(t, b, batched)} sums to {s[t, b]:.6g}, not 1: the target of cross-entropy "
            "must be a one-hot or probability row (then ∇_o L = ŷ − y)"
        )
    return p


def whole_number(value: Any, name: str, where: str, *, minimum: int = 1) -> int:
    """`value` as an int, checked to be a whole number ≥ minimum (bools refused); errors name `where` and `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be a whole number ≥ {minimum}, got {value}")
    return int(value)


def check_sizes(owner: str, **named: Any) -> list[int]:
    """A model's sizes as ints, each a whole number ≥ 1 (errors name the model and the size)."""
    return [whole_number(value, name, owner) for name, value in named.items()]


def check_dtype(dtype: Any, owner: str) -> np.dtype:
    """float32 or float64, the two dtypes the models compute in."""
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{owner}: dtype must be float32 or float64, got {dt}")
    return dt


def check_head(head: Any, owner: str) -> str:
    """The output head: "softmax" (classification) or "linear" (regression)."""
    if head not in HEADS:
        raise ValueError(f"{owner}: unknown output head {head!r}: expected 'softmax' or 'linear'")
    return str(head)


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


def function(fn: str, name: str, value: Any) -> None:
    """A TypeError naming fn and name unless value can be called."""
    if not callable(value):
        raise TypeError(f"{fn}: {name} must be a function, got {type(value).__name__}")
