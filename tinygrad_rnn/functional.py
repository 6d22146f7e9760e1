"""Composite functions, built only from Tensor operations, so their inner nodes exist in the graph.

Each call runs inside `composite(name)`, which records on every node it makes which composite made it: a drawing
can then show the function as one box or open it up into its primitives.
"""

from __future__ import annotations

import numpy as np

from tinygrad_rnn import ops
from tinygrad_rnn.tensor import Tensor, _lift, apply, composite


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """ŷ = exp(x − m) / Σ exp(x − m), m = max(x) taken as a constant.

    Softmax is shift-invariant, so subtracting the detached row maximum changes neither the value nor any
    gradient; it keeps exp from overflowing (logits of 1e4 are fine).
    """
    with composite("softmax"):
        m = x.detach().max(axis=axis, keepdims=True)
        e = (x - m).exp()
        return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log ŷ = (x − m) − log Σ exp(x − m), m = max(x) as a constant (exact: log-softmax is shift-invariant)."""
    with composite("log_softmax"):
        z = x - x.detach().max(axis=axis, keepdims=True)
        return z - z.exp().sum(axis=axis, keepdims=True).log()


def tanh(x: Tensor) -> Tensor:
    """tanh x = −s·u/(2 + u), u = expm1(−2|x|) = e^(−2|x|) − 1, |x| = s·x, s = sign(x) a constant (1 at x = 0).

    The appendix form (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ) multiplied through by e^(−|x|): the exponent is never positive, so
    value and gradient stay finite for any |x| (1e4 included), and expm1 keeps full precision for tiny x, where
    1 − e^(−2|x|) would cancel. s is piecewise constant, so treating it as a constant changes no derivative.
    """
    with composite("tanh"):
        s = Tensor(np.where(x.data >= 0, 1.0, -1.0).astype(x.dtype))
        u = (x * (-2.0 * s)).expm1()
        return -s * u / (2.0 + u)


def sigmoid(x: Tensor) -> Tensor:
    """σ(x) = exp(min(x, 0)) / (1 + exp(−|x|)), written with constants c₁ = (1 − s)/2, c₂ = −s, s = sign(x).

    Equal to 1/(1 + e⁻ˣ) for every x, but neither exp can overflow and nothing cancels for large negative x.
    """
    with composite("sigmoid"):
        s = np.where(x.data >= 0, 1.0, -1.0).astype(x.dtype)
        return (x * Tensor((1.0 - s) / 2.0)).exp() / (1.0 + (x * Tensor(-s)).exp())


def _target(target, shape: tuple, fn: str) -> tuple[np.ndarray, bool]:
    """(array, is_index): class indices of shape shape[:-1], or probability rows of shape `shape`."""
    y = np.asarray(target.data if isinstance(target, Tensor) else target)
    if y.shape == shape and y.dtype.kind == "f":
        return y, False
    if y.shape == shape[:-1] and y.dtype.kind in "iuf":
        if y.dtype.kind == "f" and not np.all(y == np.round(y)):
            raise ValueError(f"{fn}: class indices must be whole numbers, got {y!r}")
        bad = y[(y < 0) | (y >= shape[-1])]
        if bad.size:
            raise ValueError(f"{fn}: class index {bad.flat[0]:g} is outside 0..{shape[-1] - 1}")
        return y.astype(np.intp), True
    raise ValueError(
        f"{fn}: target of shape {y.shape} fits neither class indices of shape {shape[:-1]} nor rows of shape {shape}"
    )


def _reduce(losses: Tensor, reduction: str, fn: str) -> Tensor:
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.mean()
    if reduction == "none":
        return losses
    raise ValueError(f"{fn}: reduction must be 'sum', 'mean' or 'none', got {reduction!r}")


def cross_entropy(logits: Tensor, target, reduction: str = "sum") -> Tensor:
    """L = −Σ_i y_i log softmax(logits)_i per row; target: class indices or one-hot/probability rows.

    "mean" averages over rows (as PyTorch does), "sum" adds them, "none" returns one loss per row.
    """
    with composite("cross_entropy"):
        y, is_index = _target(target, logits.shape, "cross_entropy")
        if is_index:
            y = np.eye(logits.shape[-1], dtype=logits.dtype)[y]
        return _reduce(-(log_softmax(logits) * Tensor(y)).sum(axis=-1), reduction, "cross_entropy")


def cross_entropy_probs(probs: Tensor, target, reduction: str = "sum") -> Tensor:
    """L = −Σ_i y_i log ŷ_i from probabilities ŷ (lecture appendix A); with class indices, L = −log ŷ_target."""
    with composite("cross_entropy"):
        y, is_index = _target(target, probs.shape, "cross_entropy_probs")
        if is_index:  # pick the target's probability: no 0·log 0 for classes whose ŷ underflowed
            picked = probs[tuple(np.indices(y.shape)) + (y,)]
            return _reduce(-picked.log(), reduction, "cross_entropy_probs")
        return _reduce(-(probs.log() * Tensor(y)).sum(axis=-1), reduction, "cross_entropy_probs")


def softmax_cross_entropy(logits: Tensor, target, reduction: str = "sum") -> Tensor:
    """L = −Σ_i y_i log softmax(logits)_i per row, as ONE primitive whose backward is ŷ − y (the fast path).

    Same value and gradient as cross_entropy(logits, target), in one node instead of the composite's eight.
    """
    logits = _lift(logits)
    y, is_index = _target(target, logits.shape, "softmax_cross_entropy")
    y = y[..., None] == np.arange(logits.shape[-1]) if is_index else y.astype(logits.dtype, copy=False)  # rows
    return _reduce(apply(ops.SoftmaxCrossEntropy, logits, y=y), reduction, "softmax_cross_entropy")


def mse_loss(pred: Tensor, target, reduction: str = "mean") -> Tensor:
    """L = mean (or sum) of (pred − target)² over all elements."""
    target = _lift(target, pred)
    if target.shape != pred.shape:
        raise ValueError(f"mse_loss: prediction has shape {pred.shape}, target has shape {target.shape}")
    with composite("mse_loss"):
        d = pred - target
        return _reduce(d * d, reduction, "mse_loss")
