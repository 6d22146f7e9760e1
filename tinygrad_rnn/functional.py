"""Composite functions, built only from Tensor operations, so their inner nodes exist in the graph.

Each call runs inside `composite(name)`, which records on every node it makes which composite made it: a drawing
can then show the function as one box or open it up into its primitives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_rnn import ops
from tinygrad_rnn.tensor import Tensor, _axis, _lift, apply, composite, where

__all__ = ["softmax", "log_softmax", "tanh", "sigmoid", "cross_entropy", "cross_entropy_probs"]
__all__ += ["softmax_cross_entropy", "mse_loss"]


def softmax(x: Any, axis: int = -1) -> Tensor:
    """ŷ = exp(x − m) / Σ exp(x − m), m = max(x) taken as a constant.

    Softmax is shift-invariant, so subtracting the detached row maximum changes neither the value nor any
    gradient; it keeps exp from overflowing (logits of 1e4 are fine). Like every function here it takes an array
    as well as a Tensor (an array is a constant).
    """
    x = _lift(x, fn="softmax")
    axis = _axis(x, axis, "softmax", nonempty=True)
    with composite("softmax"):
        m = x.detach().max(axis=axis, keepdims=True)
        e = (x - m).exp()
        return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """log ŷ = (x − m) − log Σ exp(x − m), m = max(x) as a constant (exact: log-softmax is shift-invariant)."""
    x = _lift(x, fn="log_softmax")
    axis = _axis(x, axis, "log_softmax", nonempty=True)
    with composite("log_softmax"):
        z = x - x.detach().max(axis=axis, keepdims=True)
        return z - z.exp().sum(axis=axis, keepdims=True).log()


def tanh(x: Any) -> Tensor:
    """tanh x = −s·u/(2 + u), u = expm1(−2|x|) = e^(−2|x|) − 1, |x| = s·x, s = sign(x) a constant (1 at x = 0).

    The appendix form (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ) multiplied through by e^(−|x|): the exponent is never positive, so
    value and gradient stay finite for any |x| (1e4 included), and expm1 keeps full precision for tiny x, where
    1 − e^(−2|x|) would cancel. s is piecewise constant, so treating it as a constant changes no derivative.
    """
    x = _lift(x, fn="tanh")
    with composite("tanh"):
        s = Tensor(np.where(x.data >= 0, 1.0, -1.0).astype(x.dtype))
        u = (x * (-2.0 * s)).expm1()
        return -s * u / (2.0 + u)


def sigmoid(x: Any) -> Tensor:
    """σ(x) = exp(min(x, 0)) / (1 + exp(−|x|)), min(x, 0) = where(x < 0, x, 0), −|x| = −s·x, s = sign(x) a constant.

    Equal to 1/(1 + e⁻ˣ) for every x, but neither exp can overflow, nothing cancels for large negative x, and x = ±∞
    gives 1 and 0 (a constant factor 0 for min(x, 0) would make ∞·0 = NaN).
    """
    x = _lift(x, fn="sigmoid")
    with composite("sigmoid"):
        negative = x.data < 0
        return where(negative, x, 0.0).exp() / (1.0 + (x * Tensor(np.where(negative, 1.0, -1.0).astype(x.dtype))).exp())


def _target(target: Any, shape: tuple, fn: str) -> tuple[np.ndarray, bool]:
    """(array, is_index): class indices of shape shape[:-1], or one-hot/probability rows of shape `shape`.

    The rules the models apply to their targets ys: indices are whole numbers in 0..K−1 (integers, or floats without a
    fraction); rows (boolean, integer or float) are ≥ 0 and sum to 1 (to √ε of their dtype), or ∇_o L = ŷ − y fails.
    """
    if not shape or shape[-1] == 0:
        raise ValueError(f"{fn}: the scores need a last axis of K ≥ 1 classes, got shape {shape}")
    y = np.asarray(target.data if isinstance(target, Tensor) else target)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: the target must be class indices or probability rows, got dtype {y.dtype}")
    if y.shape == shape:  # rows
        p = y.astype(np.float64)
        _refuse(
            fn,
            y,
            ~np.isfinite(p).all(axis=-1) | (p < 0).any(axis=-1),
            "row{at} {v} has a negative or non-finite entry",
        )
        tol = np.sqrt(np.finfo(y.dtype if y.dtype.kind == "f" else np.float64).eps)
        _refuse(fn, y, np.abs(p.sum(axis=-1) - 1) > tol, "row{at} {v} does not sum to 1 (one-hot or probabilities)")
        return (y if y.dtype.kind == "f" else p), False
    if y.shape == shape[:-1]:  # class indices
        if y.dtype.kind == "b":
            raise TypeError(f"{fn}: class indices must be whole numbers, got booleans (target shape {y.shape})")
        if y.dtype.kind == "f":
            _refuse(fn, y, ~np.isfinite(y) | (y != np.round(y)), "class index {v}{at_} is not a whole number")
        _refuse(fn, y, (y < 0) | (y >= shape[-1]), f"class index {{v:g}}{{at_}} is outside 0..{shape[-1] - 1}")
        return y.astype(np.intp), True
    raise ValueError(
        f"{fn}: target of shape {y.shape} fits neither class indices of shape {shape[:-1]} nor rows of shape {shape}"
    )


def _refuse(fn: str, y: np.ndarray, bad: Any, what: str) -> None:
    """ValueError at the first place where `bad` holds; `what` shows it as {at} or {at_} (" at …"), the value as {v}."""
    if np.any(bad):
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" {at[0] if len(at) == 1 else at}" if at else ""
        raise ValueError(f"{fn}: target {what.format(at=where, at_=f' at{where}' if at else '', v=y[at])}")


def _reduce(losses: Tensor, reduction: str, fn: str) -> Tensor:
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.mean()
    if reduction == "none":
        return losses
    raise ValueError(f"{fn}: reduction must be 'sum', 'mean' or 'none', got {reduction!r}")


def cross_entropy(logits: Any, target: Any, reduction: str = "sum") -> Tensor:
    """L = −Σ_i y_i log softmax(logits)_i per row; target: class indices or one-hot/probability rows.

    "mean" averages over rows (as PyTorch does), "sum" adds them, "none" returns one loss per row.
    """
    logits = _lift(logits, fn="cross_entropy")
    y, is_index = _target(target, logits.shape, "cross_entropy")
    with composite("cross_entropy"):
        if is_index:
            y = np.eye(logits.shape[-1], dtype=logits.dtype)[y]
        return _reduce(-(log_softmax(logits) * Tensor(y)).sum(axis=-1), reduction, "cross_entropy")


def cross_entropy_probs(probs: Any, target: Any, reduction: str = "sum") -> Tensor:
    """L = −Σ_i y_i log ŷ_i from probabilities ŷ (lecture appendix A); with class indices, L = −log ŷ_target."""
    probs = _lift(probs, fn="cross_entropy_probs")
    y, is_index = _target(target, probs.shape, "cross_entropy_probs")
    with composite("cross_entropy"):
        if is_index:  # pick the target's probability: no 0·log 0 for classes whose ŷ underflowed
            picked = probs[tuple(np.indices(y.shape)) + (y,)]
            return _reduce(-picked.log(), reduction, "cross_entropy_probs")
        return _reduce(-(probs.log() * Tensor(y)).sum(axis=-1), reduction, "cross_entropy_probs")


def softmax_cross_entropy(logits: Any, target: Any, reduction: str = "sum") -> Tensor:
    """L = −Σ_i y_i log softmax(logits)_i per row, as ONE primitive whose backward is ŷ − y (the fast path).

    Same value and gradient as cross_entropy(logits, target), in one node instead of the composite's eight.
    """
    logits = _lift(logits, fn="softmax_cross_entropy")
    y, is_index = _target(target, logits.shape, "softmax_cross_entropy")
    y = y[..., None] == np.arange(logits.shape[-1]) if is_index else y.astype(logits.dtype, copy=False)  # rows
    return _reduce(apply(ops.SoftmaxCrossEntropy, logits, y=y), reduction, "softmax_cross_entropy")


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """L = mean (or sum) of (pred − target)² over all elements."""
    pred = _lift(pred, fn="mse_loss")
    target = _lift(target, pred, fn="mse_loss")
    if target.shape != pred.shape:
        raise ValueError(f"mse_loss: prediction has shape {pred.shape}, target has shape {target.shape}")
    with composite("mse_loss"):
        d = pred - target
        return _reduce(d * d, reduction, "mse_loss")
