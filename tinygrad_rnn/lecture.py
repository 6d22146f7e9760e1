"""The lecture's RNN equations in plain numpy: forward (2.1), backpropagation through time (2.4), appendix A–C.

Every line cites the equation it implements. Section 2.4 is available twice:

* **corrected** — follows the forward equation h_t = tanh(b + W x_t + U h_{t−1}): W multiplies the input x_t, U the
  previous state h_{t−1}, so
      ∇_{h_t}L = U^T diag(1 − h_{t+1}²) ∇_{h_{t+1}}L + V^T ∇_{o_t}L,
      ∇_W L = Σ_t diag(1 − h_t²) ∇_{h_t}L x_t^T,   ∇_U L = Σ_t diag(1 − h_t²) ∇_{h_t}L h_{t−1}^T,
  and adds the two gradients the lecture leaves out: ∇_b L = Σ_t diag(1 − h_t²) ∇_{h_t}L, ∇_c L = Σ_t ∇_{o_t}L.
* **as printed** — the text taken literally: W^T in the ∇h recursion, "∇W" summed against h_{t−1}, "∇U" against
  x_t, no ∇b or ∇c. The printed factor order W^T (∇h) diag(1 − h²) multiplies a column by a matrix and does not
  type-check; the only order that does is W^T diag(1 − h²) ∇h (the tanh derivative applied to the gradient), which
  is what is evaluated. When D ≠ H even that cannot be evaluated and `PrintedFormulaError` says why.

The lecture writes column vectors. Here a sequence is an array whose rows are the steps: xs (T, D), or (T, B, D) for
a batch of B sequences (then every vector of the lecture is a row of a (B, ·) array and W x_t is written x_t W^T).
These formulas use numpy only and this module imports nothing from the package: it is the independent witness the
autodiff engine is checked against (`report.compare` runs the engine and sets the two side by side).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "PARAMS",
    "PrintedFormulaError",
    "check_parameters",
    "softmax",
    "forward",
    "loss",
    "cross_entropy_grad",
    "softmax_jacobian",
    "tanh_grad",
    "output_grad",
    "bptt_gradients",
    "truncated_bptt_gradients",
    "printed_gradients",
    "SWAP",
]

PARAMS = ("W", "U", "V", "b", "c")
Array = Any  # an ndarray, or anything np.asarray reads as an array of real numbers (checked where it is read)


class PrintedFormulaError(ValueError):
    """A backward equation of section 2.4, as printed, cannot be evaluated for these shapes."""


# ---- reading the arguments ---------------------------------------------------------------------------------------
# The witness reads its arguments itself, in the lecture's notation: importing the models' input parser would make
# a bug in it invisible to the comparison. The rules are those of `inputs.validate_sequences` (a test holds the two
# readings equal on random valid and invalid inputs).


def _real(name: str, a: Array, where: str) -> np.ndarray:
    a = a.data if isinstance(getattr(a, "data", None), np.ndarray) else a  # a Tensor: its values
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {name} must hold real numbers, got dtype {arr.dtype}")
    return arr


class Sequences(NamedTuple):
    """xs (T, B, D) and y_t rows (T, B, K) (or None) in float64; `batched`: whether xs had the batch axis."""

    xs: np.ndarray
    ys: np.ndarray | None
    batched: bool


def _targets(seq: Sequences) -> np.ndarray:
    assert seq.ys is not None, "read with targets"
    return seq.ys


def _require(ok: Any, where: str, message: str, error: type = ValueError) -> None:
    if not ok:
        raise error(f"{where}: {message}")


def _none_bad(bad: np.ndarray, values: np.ndarray, batched: bool, where: str, message: str) -> None:
    """Raise `message` (with {v}: the first bad value, {at}: its step t=k and batch index) where `bad` holds."""
    if bad.any():
        t, b = np.argwhere(bad.reshape(bad.shape[0], bad.shape[1], -1).any(axis=-1))[0]
        at = f"t={t + 1}, batch index {b}" if batched else f"t={t + 1}"
        raise ValueError(f"{where}: " + message.format(v=values[bad][0], at=at, row=values[t, b]))


def _read(xs: Array, ys: Array, D: int, K: int, head: str, where: str) -> Sequences:
    """x_t as rows of (T, B, D) float64, y_t as rows of (T, B, K) (a class index k read as the one-hot e_k), and
    whether xs had the batch axis. ValueError/TypeError naming `where`, the shapes and the step for anything else."""
    x = _real("xs", xs, where)
    shape = f"xs shape {x.shape}"
    _require(
        x.ndim in (2, 3), where, f"xs must have shape (T, D) for one sequence or (T, B, D) for a batch; got {shape}"
    )
    batched = x.ndim == 3
    x3 = (x if batched else x[:, None]).astype(np.float64)
    T, B, width = x3.shape
    _require(T and B, where, f"xs of shape {x.shape} is empty; a sequence needs T ≥ 1 steps (and B ≥ 1)")
    _require(width == D, where, f"xs has D={width} features per step ({shape}) but the model expects input size D={D}")
    _none_bad(~np.isfinite(x3), x3, batched, where, "xs has a non-finite value ({v}) at {at}")
    if ys is None:
        return Sequences(x3, None, batched)
    y = _real("ys", ys, where)
    steps = "no time axis" if y.ndim == 0 else f"{len(y)} steps"
    _require(y.ndim and len(y) == T, where, f"xs has T={T} steps ({shape}) but ys has {steps} (ys shape {y.shape})")
    return Sequences(x3, _read_targets(y, T, B, K, batched, head, where, shape), batched)


def _read_targets(
    y: np.ndarray, T: int, B: int, K: int, batched: bool, head: str, where: str, xs_shape: str
) -> np.ndarray:
    """y_t for t = 1..T as rows (T, B, K): regression values, one-hot / probability rows, or class indices."""
    lead = (T, B) if batched else (T,)
    if head == "linear":
        _require(
            y.shape == lead + (K,),
            where,
            f"regression targets ys must have shape {lead + (K,)} for K={K}; got {y.shape}",
        )
        rows = y.astype(np.float64).reshape(T, B, K)
        _none_bad(~np.isfinite(rows), rows, batched, where, "ys has a non-finite value at {at}")
        return rows
    _require(head == "softmax", where, f"unknown output head {head!r}: expected 'softmax' or 'linear'")
    if y.shape == lead:  # y_t given as the index k of its one-hot vector e_k
        k = y.reshape(T, B)
        _require(
            k.dtype.kind != "b",
            where,
            f"class indices ys must be whole numbers, got booleans (ys shape {y.shape})",
            TypeError,
        )
        frac = ~np.isfinite(k) | (k != np.round(np.nan_to_num(k)))
        _none_bad(frac, k, batched, where, "class index {v} at {at} is not a whole number")
        _none_bad(
            (k < 0) | (k >= K),
            k,
            batched,
            where,
            f"class index {{v:g}} at {{at}} is outside 0..{K - 1} (K={K} classes)",
        )
        return np.eye(K)[k.astype(np.intp)]
    _require(
        y.shape == lead + (K,),
        where,
        f"ys of shape {y.shape} fits neither class indices {lead} nor one-hot rows {lead + (K,)} for "
        f"{xs_shape.replace(' shape', 's of shape')} and K={K} classes",
    )
    rows = y.astype(np.float64).reshape(T, B, K)  # y_t a one-hot or probability row
    _none_bad(
        ~np.isfinite(rows) | (rows < 0),
        rows,
        batched,
        where,
        "ys row at {at} has a negative or non-finite entry: {row}",
    )
    sums = rows.sum(axis=-1)
    _none_bad(
        np.abs(sums - 1.0) > 1e-8,
        sums,
        batched,
        where,
        "ys row at {at} sums to {v:.6g}, not 1: the target of cross-entropy must be a one-hot or probability row "
        "(then ∇_o L = ŷ − y)",
    )
    return rows


def check_parameters(W: Array, U: Array, V: Array, b: Array, c: Array, where: str = "lecture") -> tuple[int, int, int]:
    """(H, D, K) from W (H×D), U (H×H), V (K×H), b (H), c (K); ValueError naming any that does not fit."""
    W, U, V, b, c = (_real(n, a, where) for n, a in zip(PARAMS, (W, U, V, b, c)))
    if W.ndim != 2:
        raise ValueError(f"{where}: W must be a matrix H×D, got shape {W.shape}")
    H, D = W.shape
    K = V.shape[0] if V.ndim == 2 else -1
    want = {"U": (H, H), "V": (K, H), "b": (H,), "c": (K,)}
    for name, arr in zip("UVbc", (U, V, b, c)):
        if arr.shape != want[name] or K < 0:
            raise ValueError(
                f"{where}: parameter shapes do not fit together: W {W.shape}, U {U.shape}, V {V.shape}, b {b.shape}, "
                f"c {c.shape}; expected W (H, D), U (H, H), V (K, H), b (H,), c (K,)"
            )
    return H, D, K


def _initial_state(h0: Array, H: int, B: int, batched: bool, where: str) -> np.ndarray:
    if h0 is None:
        return np.zeros((B, H))
    h = np.asarray(_real("h0", h0, where), dtype=np.float64)
    if h.shape == (H,):
        return np.broadcast_to(h, (B, H))
    if batched and h.shape == (B, H):
        return h
    want = f"({H},) or ({B}, {H})" if batched else f"({H},)"
    raise ValueError(f"{where}: h0 must have shape {want} for H={H}; got {h.shape}")


def _layout(a: np.ndarray, batched: bool) -> np.ndarray:
    return a if batched else a[:, 0]


# ---- section 2.1: forward --------------------------------------------------------------------------------------


def softmax(z: np.ndarray) -> np.ndarray:
    """ŷ_j = exp(z_j) / Σ_i exp(z_i) along the last axis (appendix B); the row max is subtracted first (exact)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _forward(
    W: np.ndarray, U: np.ndarray, V: np.ndarray, b: np.ndarray, c: np.ndarray, x3: np.ndarray, h0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """h (T+1, B, H) with h[0] = h_0, o (T, B, K): the recurrence loops, the projections are done for all steps."""
    T, B, _ = x3.shape
    H = W.shape[0]
    a = x3 @ W.T  # W x_t for every t at once                           (2.1, input part of h_t)
    a += b  #                                                              b + W x_t
    h = np.empty((T + 1, B, H))
    h[0] = h0
    buf = np.empty((B, H))
    for t in range(T):
        np.matmul(h[t], U.T, out=buf)  # U h_{t−1}
        buf += a[t]  #                                                     b + W x_t + U h_{t−1}
        np.tanh(buf, out=h[t + 1])  # h_t = tanh(b + W x_t + U h_{t−1})    (2.1)
    o = h[1:] @ V.T  # V h_t for every t at once
    o += c  # o_t = c + V h_t                                              (2.1)
    return h, o


def forward(
    W: Array, U: Array, V: Array, b: Array, c: Array, xs: Array, h0: Array | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """h_t = tanh(b + W x_t + U h_{t−1}), o_t = c + V h_t, ŷ_t = softmax(o_t) for t = 1..T (section 2.1).

    Returns (h, o, ŷ) for t = 1..T in the layout of xs: (T, H), (T, K), (T, K), or (T, B, ·) for a batch.
    """
    H, D, K = check_parameters(W, U, V, b, c, "lecture.forward")
    seq = _read(xs, None, D, K, "softmax", "lecture.forward")
    W, U, V, b, c = _f64(W, U, V, b, c)
    h, o = _forward(W, U, V, b, c, seq.xs, _initial_state(h0, H, seq.xs.shape[1], seq.batched, "forward"))
    return _layout(h[1:], seq.batched), _layout(o, seq.batched), _layout(softmax(o), seq.batched)


def _f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def _step_losses(o: np.ndarray, y: np.ndarray, head: str) -> np.ndarray:
    """L_t per step (summed over the batch): −Σ y log softmax(o) (2.2, appendix A) or Σ (o − y)² (linear head)."""
    if head == "linear":
        return ((o - y) ** 2).sum(axis=(1, 2))
    z = o - o.max(axis=-1, keepdims=True)
    log_yhat = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -(y * log_yhat).sum(axis=(1, 2), where=y != 0)  # 0 · log ŷ counts as 0, as in the definition


def loss(
    W: Array,
    U: Array,
    V: Array,
    b: Array,
    c: Array,
    xs: Array,
    ys: Array,
    *,
    h0: Array | None = None,
    head: str = "softmax",
    perturb: Any = None,
) -> float:
    """L = Σ_t L(y_t, ŷ_t) (section 2.2), with ŷ_t from `forward`; summed over the batch as well.

    `perturb` ({t: array}, optional) adds the array to h_t after its tanh, for finite differences of ∇_{h_t}L.
    """
    H, D, K = check_parameters(W, U, V, b, c, "lecture.loss")
    seq = _read(xs, ys, D, K, head, "lecture.loss")
    W, U, V, b, c = _f64(W, U, V, b, c)
    T, B, _ = seq.xs.shape
    h = _initial_state(h0, H, B, seq.batched, "lecture.loss")
    losses = 0.0
    for t in range(1, T + 1):
        h = np.tanh(b + seq.xs[t - 1] @ W.T + h @ U.T)  # (2.1)
        if perturb and t in perturb:
            h = h + np.asarray(perturb[t]).reshape(h.shape)
        o = c + h @ V.T  # (2.1)
        losses += _step_losses(o[None], _targets(seq)[t - 1][None], head)[0]  # (2.2)
    return float(losses)


# ---- appendix ----------------------------------------------------------------------------------------------------


def cross_entropy_grad(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """∂L/∂ŷ_i = −y_i / ŷ_i for L(y, ŷ) = −Σ_k y_k log ŷ_k (appendix A)."""
    return -np.asarray(y, dtype=np.float64) / np.asarray(yhat, dtype=np.float64)


def softmax_jacobian(z: np.ndarray) -> np.ndarray:
    """∂ŷ_j/∂z_k = ŷ_j (δ_jk − ŷ_k), i.e. diag(ŷ) − ŷ ŷ^T, for ŷ = softmax(z) of a vector z (appendix B)."""
    yhat = softmax(np.asarray(z, dtype=np.float64))
    return np.diag(yhat) - np.outer(yhat, yhat)


def tanh_grad(x: np.ndarray) -> np.ndarray:
    """d tanh(x)/dx = 1 − tanh²(x), elementwise (appendix C)."""
    return 1.0 - np.tanh(np.asarray(x, dtype=np.float64)) ** 2


def output_grad(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """∇_o L = ŷ − y (section 2.4): appendix A chained through appendix B, using Σ_k y_k = 1."""
    return np.asarray(yhat, dtype=np.float64) - np.asarray(y, dtype=np.float64)


# ---- section 2.4: backpropagation through time -------------------------------------------------------------------


def _backward(
    W: Array,
    U: Array,
    V: Array,
    h: Array,
    o: Array,
    x3: Array,
    y: Array,
    head: str,
    cut: Callable[[int], bool] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Corrected BPTT on batch-layout arrays; `cut(t)` (1-based) True stops the gradient from h_{t+1} into h_t."""
    T, B, H = x3.shape[0], x3.shape[1], W.shape[0]
    go = softmax(o) - y if head == "softmax" else 2.0 * (o - y)  # ∇_{o_t}L = ŷ_t − y_t  (2.4; linear: 2(o − y))
    gh = go @ V  # V^T ∇_{o_t}L for every t at once                     (2.4, the output part of ∇_{h_t}L)
    d = 1.0 - h[1:] ** 2  # diag(1 − h_t²) as a vector                (appendix C)
    delta = np.empty((T, B, H))  # δ_t = diag(1 − h_t²) ∇_{h_t}L: the gradient at the tanh's input
    np.multiply(d[T - 1], gh[T - 1], out=delta[T - 1])  # t = T: ∇_{h_T}L = V^T ∇_{o_T}L   (2.4, t = ℓ)
    buf = np.empty((B, H))
    for t in range(T - 2, -1, -1):  # t < T: ∇_{h_t}L = U^T δ_{t+1} + V^T ∇_{o_t}L       (2.4, corrected)
        if cut is None or not cut(t + 1):
            np.matmul(delta[t + 1], U, out=buf)  # U^T δ_{t+1}
            gh[t] += buf
        np.multiply(d[t], gh[t], out=delta[t])
    flat = delta.reshape(T * B, H)
    grads = {
        "W": flat.T @ x3.reshape(T * B, -1),  # ∇_W L = Σ_t δ_t x_t^T                 (2.4 corrected: x_t)
        "U": flat.T @ h[:-1].reshape(T * B, H),  # ∇_U L = Σ_t δ_t h_{t−1}^T           (2.4 corrected: h_{t−1})
        "V": go.reshape(T * B, -1).T @ h[1:].reshape(T * B, H),  # ∇_V L = Σ_t ∇_{o_t}L h_t^T    (2.4)
        "b": flat.sum(axis=0),  # ∇_b L = Σ_t δ_t                                  (not in the lecture)
        "c": go.sum(axis=(0, 1)),  # ∇_c L = Σ_t ∇_{o_t}L                           (not in the lecture)
    }
    return grads, gh, go, delta[0] @ U  # ∇_{h_0}L = U^T δ_1


def _problem(
    W: Array,
    U: Array,
    V: Array,
    b: Array,
    c: Array,
    xs: Array,
    ys: Array,
    h0: Array,
    head: str,
    where: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Sequences, np.ndarray, np.ndarray, np.ndarray]:
    H, D, K = check_parameters(W, U, V, b, c, where)
    seq = _read(xs, ys, D, K, head, where)
    W, U, V, b, c = _f64(W, U, V, b, c)
    h0a = _initial_state(h0, H, seq.xs.shape[1], seq.batched, where)
    h, o = _forward(W, U, V, b, c, seq.xs, h0a)
    return W, U, V, seq, h0a, h, o


def _finish(grads: Array, gh: Array, go: Array, gh0: Array, seq: Sequences, h0: Array) -> dict:
    grads["h"] = _layout(gh, seq.batched)
    grads["o"] = _layout(go, seq.batched)
    # ∇_{h_0}L has the shape h_0 had: (H,) for one sequence or one state shared by the batch, else (B, H)
    grads["h0"] = gh0.sum(axis=0) if not seq.batched or (h0 is not None and np.ndim(h0) == 1) else gh0
    return grads


def bptt_gradients(
    W: Array,
    U: Array,
    V: Array,
    b: Array,
    c: Array,
    xs: Array,
    ys: Array,
    *,
    h0: Array | None = None,
    as_printed: bool = False,
    head: str = "softmax",
) -> dict:
    """∇L for the parameters W, U, V, b, c and every h_t, o_t by backpropagation through time (section 2.4).

    Returns a dict: "W", "U", "V", "b", "c" (shapes of the parameters), "h" (∇_{h_t}L for t = 1..T) and "o"
    (∇_{o_t}L) in the layout of xs — (T, H) / (T, K), or (T, B, H) / (T, B, K) for a batch — and "h0" (∇_{h_0}L).
    xs, ys: as `RNN.loss` (class indices or one-hot rows; regression targets for head="linear").

    as_printed=True evaluates section 2.4 literally: ∇_{h_t}L = W^T diag(1 − h_{t+1}²) ∇_{h_{t+1}}L + V^T ∇_{o_t}L,
    "∇W" = Σ_t diag(1 − h_t²) ∇_{h_t}L h_{t−1}^T, "∇U" = Σ_t diag(1 − h_t²) ∇_{h_t}L x_t^T; "b" and "c" are None (the
    lecture gives no formula) and there is no "h0". It raises `PrintedFormulaError` when D ≠ H, where those
    expressions do not type-check; when D = H it returns the (wrong) numbers.

    When D = H the printed numbers are right only in degenerate cases (tests/test_lecture.py checks each):
    ∇_{o_t}L, ∇_V L and ∇_{h_T}L always (they do not go through the recurrence); every ∇_{h_t}L when T = 1 or
    W = U; with W = U the printed "∇W" is the true ∇U and "∇U" the true ∇W (at T = 1 and h_0 = 0 likewise, the
    true ∇U being 0); everything when all gradients vanish (K = 1, where ŷ = y = 1, or V = 0); and everything when
    W = U and x_t = h_{t−1} for every t (the state fed back as the input).
    """
    where = "lecture.bptt_gradients"
    W, U, V, seq, h0a, h, o = _problem(W, U, V, b, c, xs, ys, h0, head, where)
    if as_printed:
        printed = _printed(W, U, V, h, o, seq, head)
        printed.pop("h_T")
        errors = [v for v in printed.values() if isinstance(v, PrintedFormulaError)]
        if errors:
            raise PrintedFormulaError(
                f"{where}(as_printed=True): section 2.4 as printed cannot be evaluated with D={seq.xs.shape[2]} "
                f"inputs and H={W.shape[0]} hidden units:\n  " + "\n  ".join(str(e) for e in errors)
            )
        return printed
    grads, gh, go, gh0 = _backward(W, U, V, h, o, seq.xs, seq.ys, head)
    return _finish(grads, gh, go, gh0, seq, h0)


def truncated_bptt_gradients(
    W: Array,
    U: Array,
    V: Array,
    b: Array,
    c: Array,
    xs: Array,
    ys: Array,
    k: int,
    h0: Array | None = None,
    *,
    head: str = "softmax",
) -> dict:
    """BPTT where ∇_{h_{t+1}}L does not flow back into h_t when t is a multiple of k (t = k, 2k, … < T).

    This is what training in chunks of k steps does when the hidden state h_t is carried into the next chunk
    detached (`h.detach()` after steps k, 2k, …): the forward pass is unchanged, every loss term still counts, but the
    recursion ∇_{h_t}L = U^T δ_{t+1} + V^T ∇_{o_t}L loses its first term at those t. The value of the detached h_t
    still multiplies U in step t+1, so ∇_U L keeps δ_{t+1} h_t^T. h_0 is never cut. Returns the keys of
    `bptt_gradients`; "h" holds the gradient reaching each h_t node (at a cut: V^T ∇_{o_t}L only). k ≥ T gives
    the full BPTT.
    """
    where = "lecture.truncated_bptt_gradients"
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{where}: the truncation length k must be a whole number ≥ 1, got {k!r}")
    W, U, V, seq, h0a, h, o = _problem(W, U, V, b, c, xs, ys, h0, head, where)
    grads, gh, go, gh0 = _backward(W, U, V, h, o, seq.xs, seq.ys, head, cut=lambda t: t % k == 0)
    return _finish(grads, gh, go, gh0, seq, h0)


# ---- section 2.4 as printed --------------------------------------------------------------------------------------

SWAP = (
    "The forward equation h_t = tanh(b + W x_t + U h_{t−1}) puts W on the input x_t and U on the previous state "
    "h_{t−1}, but the printed backward equations use W in the recursion and pair ∇W with h_{t−1}, ∇U with x_t"
)


def _printed(W: Array, U: Array, V: Array, h: Array, o: Array, seq: Sequences, head: str) -> dict:
    """Section 2.4 as printed; a quantity whose printed expression does not type-check maps to PrintedFormulaError."""
    x3, y = seq.xs, seq.ys
    T, B, D = x3.shape
    H = W.shape[0]
    go = softmax(o) - y if head == "softmax" else 2.0 * (o - y)  # ∇_{o_t}L = ŷ_t − y_t (printed correctly)
    out: dict[str, Any] = {"o": _layout(go, seq.batched), "b": None, "c": None}
    out["h_T"] = _layout((go @ V)[T - 1 :], seq.batched)[-1]  # ∇_{h_T}L: the printed t = ℓ case type-checks
    out["V"] = go.reshape(T * B, -1).T @ h[1:].reshape(T * B, H)  # ∇_V L = Σ_t ∇_{o_t}L h_t^T (printed correctly)
    gh = go @ V  # V^T ∇_{o_t}L
    d = 1.0 - h[1:] ** 2
    delta = np.empty((T, B, H))
    delta[T - 1] = d[T - 1] * gh[T - 1]  # ∇_{h_ℓ}L = V^T ∇_{o_ℓ}L (printed correctly)
    if D != H:
        if T > 1:
            out["h"] = PrintedFormulaError(
                f"printed ∇_{{h_t}}L = W^T (∇_{{h_{{t+1}}}}L) diag(1 − h_{{t+1}}²) + V^T ∇_{{o_t}}L cannot be "
                f"evaluated for t < T: W is H×D = {H}×{D}, so W^T(…) is a D={D}-vector, added to the H={H}-vector "
                f"V^T ∇_{{o_t}}L. {SWAP}; with U^T (H×H) in place of W^T the sum type-checks."
            )
        else:  # T = 1: no recursion, ∇_{h_1}L = V^T ∇_{o_1}L
            out["h"] = _layout(gh, seq.batched)
        out["W"] = PrintedFormulaError(
            f"printed ∇_W L = Σ_t diag(1 − h_t²) ∇_{{h_t}}L (h_{{t−1}})^T is H×H = {H}×{H}, but W is H×D = {H}×{D}: "
            f"{SWAP[0].lower()}{SWAP[1:]}. The correct ∇_W L pairs with x_t^T."
        )
        out["U"] = PrintedFormulaError(
            f"printed ∇_U L = Σ_t diag(1 − h_t²) ∇_{{h_t}}L (x_t)^T is H×D = {H}×{D}, but U is H×H = {H}×{H}: "
            f"{SWAP[0].lower()}{SWAP[1:]}. The correct ∇_U L pairs with h_{{t−1}}^T."
        )
        return out
    for t in range(T - 2, -1, -1):
        gh[t] += delta[t + 1] @ W  # printed: W^T diag(1 − h_{t+1}²) ∇_{h_{t+1}}L + V^T ∇_{o_t}L (W where U belongs)
        delta[t] = d[t] * gh[t]
    flat = delta.reshape(T * B, H)
    out["h"] = _layout(gh, seq.batched)
    out["W"] = flat.T @ h[:-1].reshape(T * B, H)  # printed "∇W" = Σ_t diag(1 − h_t²) ∇_{h_t}L h_{t−1}^T
    out["U"] = flat.T @ x3.reshape(T * B, D)  # printed "∇U" = Σ_t diag(1 − h_t²) ∇_{h_t}L x_t^T
    return out


def printed_gradients(
    W: Array,
    U: Array,
    V: Array,
    b: Array,
    c: Array,
    xs: Array,
    ys: Array,
    h0: Array | None = None,
) -> dict[str, Any]:
    """Section 2.4 as printed, quantity by quantity: "W", "U", "V", "h", "o" as in `bptt_gradients(as_printed=True)`,
    "b" and "c" None (not in the lecture), "h_T" (∇_{h_T}L, which type-checks even when the recursion does not);
    a quantity whose printed expression does not type-check for these shapes holds the `PrintedFormulaError`."""
    W, U, V, seq, _, h, o = _problem(W, U, V, b, c, xs, ys, h0, "softmax", "lecture.printed_gradients")
    return _printed(W, U, V, h, o, seq, "softmax")
