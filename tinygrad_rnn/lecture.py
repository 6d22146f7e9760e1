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
These formulas use numpy only — they are the independent witness the autodiff engine is checked against; only
`compare()` runs the engine (through the model it is given).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

PARAMS = ("W", "U", "V", "b", "c")


class PrintedFormulaError(ValueError):
    """A backward equation of section 2.4, as printed, cannot be evaluated for these shapes."""


# ---- input checking (shared with the engine's models) ------------------------------------------------------------


class Sequences(NamedTuple):
    """Checked inputs in batch layout: xs (T, B, D); targets (T, B, K) (one-hot / probability rows or regression
    targets) or None; `index` the class indices (T, B) when ys was given as indices, else None; `batched` tells
    whether the caller's layout had the batch axis."""

    xs: np.ndarray
    ys: np.ndarray | None
    index: np.ndarray | None
    batched: bool


def _at(t: int, b: int, batched: bool) -> str:
    return f"t={t + 1}, batch index {b}" if batched else f"t={t + 1}"


def _numeric(name: str, a, where: str) -> np.ndarray:
    if not isinstance(a, np.ndarray) and isinstance(getattr(a, "data", None), np.ndarray):
        a = a.data  # a Tensor: its values
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def validate_sequences(
    xs, ys=None, *, input_size: int, output_size: int | None = None, head: str = "softmax", where: str = "lecture"
) -> Sequences:
    """Check xs (T, D) / (T, B, D) and ys against the model sizes; errors name the function, the shapes and t=k.

    ys for head="softmax": class indices (T,) / (T, B), or one-hot / probability rows (T, K) / (T, B, K).
    ys for head="linear": regression targets (T, K) / (T, B, K).
    """
    x = _numeric("xs", xs, where)
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
    T, B = x3.shape[:2]
    if ys is None:
        return Sequences(x3, None, None, batched)

    y = _numeric("ys", ys, where)
    if y.ndim == 0 or y.shape[0] != T:
        got = "no time axis" if y.ndim == 0 else f"{y.shape[0]} steps"
        raise ValueError(f"{where}: xs has T={T} steps (xs shape {x.shape}) but ys has {got} (ys shape {y.shape})")
    K = output_size
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
    if head != "softmax":
        raise ValueError(f"{where}: unknown output head {head!r}: expected 'softmax' or 'linear'")

    if y.shape == lead:  # class indices
        idx = np.asarray(y).reshape(T, B)
        if idx.dtype.kind == "b":
            raise TypeError(f"{where}: class indices ys must be whole numbers, got booleans (ys shape {y.shape})")
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
        idx = idx.astype(np.intp)
        return Sequences(x3, np.eye(K)[idx], idx, batched)
    if y.shape == lead + (K,):  # one-hot or probability rows
        p = np.asarray(y, dtype=np.float64).reshape(T, B, K)
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
        return Sequences(x3, p, None, batched)
    raise ValueError(
        f"{where}: ys of shape {y.shape} fits neither class indices {lead} nor one-hot rows {lead + (K,)} "
        f"for xs of shape {x.shape} and K={K} classes"
    )


def check_parameters(W, U, V, b, c, where: str = "lecture") -> tuple[int, int, int]:
    """(H, D, K) from W (H×D), U (H×H), V (K×H), b (H), c (K); ValueError naming any that does not fit."""
    W, U, V, b, c = (_numeric(n, a, where) for n, a in zip(PARAMS, (W, U, V, b, c)))
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


def _initial_state(h0, H: int, B: int, batched: bool, where: str) -> np.ndarray:
    if h0 is None:
        return np.zeros((B, H))
    h = np.asarray(_numeric("h0", h0, where), dtype=np.float64)
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


def _forward(W, U, V, b, c, x3, h0):
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


def forward(W, U, V, b, c, xs, h0=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """h_t = tanh(b + W x_t + U h_{t−1}), o_t = c + V h_t, ŷ_t = softmax(o_t) for t = 1..T (section 2.1).

    Returns (h, o, ŷ) for t = 1..T in the layout of xs: (T, H), (T, K), (T, K), or (T, B, ·) for a batch.
    """
    H, D, K = check_parameters(W, U, V, b, c, "lecture.forward")
    seq = validate_sequences(xs, input_size=D, where="lecture.forward")
    h, o = _forward(*_f64(W, U, V, b, c), seq.xs, _initial_state(h0, H, seq.xs.shape[1], seq.batched, "forward"))
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


def loss(W, U, V, b, c, xs, ys, *, h0=None, head: str = "softmax", perturb=None) -> float:
    """L = Σ_t L(y_t, ŷ_t) (section 2.2), with ŷ_t from `forward`; summed over the batch as well.

    `perturb` ({t: array}, optional) adds the array to h_t after its tanh, for finite differences of ∇_{h_t}L.
    """
    H, D, K = check_parameters(W, U, V, b, c, "lecture.loss")
    seq = validate_sequences(xs, ys, input_size=D, output_size=K, head=head, where="lecture.loss")
    W, U, V, b, c = _f64(W, U, V, b, c)
    T, B, _ = seq.xs.shape
    h = _initial_state(h0, H, B, seq.batched, "lecture.loss")
    losses = 0.0
    for t in range(1, T + 1):
        h = np.tanh(b + seq.xs[t - 1] @ W.T + h @ U.T)  # (2.1)
        if perturb and t in perturb:
            h = h + np.asarray(perturb[t]).reshape(h.shape)
        o = c + h @ V.T  # (2.1)
        losses += _step_losses(o[None], seq.ys[t - 1][None], head)[0]  # (2.2)
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


def _backward(W, U, V, h, o, x3, y, head: str, cut=None):
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


def _problem(W, U, V, b, c, xs, ys, h0, head, where):
    H, D, K = check_parameters(W, U, V, b, c, where)
    seq = validate_sequences(xs, ys, input_size=D, output_size=K, head=head, where=where)
    W, U, V, b, c = _f64(W, U, V, b, c)
    h0a = _initial_state(h0, H, seq.xs.shape[1], seq.batched, where)
    h, o = _forward(W, U, V, b, c, seq.xs, h0a)
    return W, U, V, seq, h0a, h, o


def _finish(grads, gh, go, gh0, seq: Sequences, h0) -> dict:
    grads["h"] = _layout(gh, seq.batched)
    grads["o"] = _layout(go, seq.batched)
    # ∇_{h_0}L has the shape h_0 had: (H,) for one sequence or one state shared by the batch, else (B, H)
    grads["h0"] = gh0.sum(axis=0) if not seq.batched or (h0 is not None and np.ndim(h0) == 1) else gh0
    return grads


def bptt_gradients(W, U, V, b, c, xs, ys, *, h0=None, as_printed: bool = False, head: str = "softmax") -> dict:
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
        printed.pop("_h_last")
        errors = [v for v in printed.values() if isinstance(v, PrintedFormulaError)]
        if errors:
            raise PrintedFormulaError(
                f"{where}(as_printed=True): section 2.4 as printed cannot be evaluated with D={seq.xs.shape[2]} "
                f"inputs and H={W.shape[0]} hidden units:\n  " + "\n  ".join(str(e) for e in errors)
            )
        return printed
    grads, gh, go, gh0 = _backward(W, U, V, h, o, seq.xs, seq.ys, head)
    return _finish(grads, gh, go, gh0, seq, h0)


def truncated_bptt_gradients(W, U, V, b, c, xs, ys, k: int, h0=None, *, head: str = "softmax") -> dict:
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


def _printed(W, U, V, h, o, seq: Sequences, head: str) -> dict:
    """Section 2.4 as printed; a quantity whose printed expression does not type-check maps to PrintedFormulaError."""
    x3, y = seq.xs, seq.ys
    T, B, D = x3.shape
    H = W.shape[0]
    go = softmax(o) - y if head == "softmax" else 2.0 * (o - y)  # ∇_{o_t}L = ŷ_t − y_t (printed correctly)
    out: dict[str, Any] = {"o": _layout(go, seq.batched), "b": None, "c": None}
    out["_h_last"] = _layout((go @ V)[T - 1 :], seq.batched)[-1]  # ∇_{h_T}L: the printed t = ℓ case type-checks
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


# ---- compare(): autodiff vs corrected vs as printed vs finite differences ----------------------------------------

# tolerances on the relative error (see Row): exact methods against each other, and finite differences
_TOL = {np.dtype(np.float64): (1e-8, 1e-5), np.dtype(np.float32): (1e-4, 1e-3)}
_EPS = 1e-6  # step of the central differences (always taken in float64)


@dataclass
class Row:
    """One quantity of the comparison: its gradient by four methods and how far each is from autodiff.

    rel_err = max|x − autodiff| / max(max|autodiff|, floor) for x = corrected and numeric (the worse of the two);
    floor = 1e-3·max(1, |L|) keeps the noise of finite differences (≈ 1e-16·|L|/ε) from looking like an error
    when a gradient is tiny. printed_rel_err is the same for the as-printed formula (None when it does not
    type-check or the lecture gives none).
    """

    quantity: str
    shape: tuple
    autodiff: np.ndarray
    corrected: np.ndarray
    as_printed: np.ndarray | None
    numeric: np.ndarray
    abs_err: float
    rel_err: float
    printed_rel_err: float | None
    verdict: str
    printed_verdict: str
    corrected_rel_err: float = 0.0
    numeric_rel_err: float = 0.0
    printed_note: str = ""


@dataclass
class Report:
    """The rows of `compare`, whether they all agree (`ok`), and what the disagreements mean (`explanations`)."""

    rows: list[Row]
    ok: bool
    explanations: list[str]
    sizes: dict = field(default_factory=dict)
    loss_value: float = 0.0
    loss: Any = None  # the engine's loss node, after backward (the graph with its gradients)

    def row(self, quantity: str) -> Row:
        """The row of a quantity by its node name ("W", "h_2", "o_3", ...)."""
        for r in self.rows:
            if r.quantity == quantity:
                return r
        raise KeyError(f"no row {quantity!r}; rows are {[r.quantity for r in self.rows]}")

    def __str__(self) -> str:
        return format_report(self)


def _rel(x: np.ndarray, ref: np.ndarray, floor: float) -> tuple[float, float]:
    err = float(np.max(np.abs(x - ref))) if ref.size else 0.0
    return err, err / max(float(np.max(np.abs(ref))) if ref.size else 0.0, floor)


def compare(rnn, xs, ys, h0=None) -> Report:
    """For W, U, V, b, c and every ∇_{h_t}L, ∇_{o_t}L: autodiff vs lecture corrected vs as printed vs numeric.

    Autodiff is `rnn.loss(xs, ys).backward()` (the parameters' gradients are reset first and hold this loss's
    gradients afterwards; `rnn.trace` is this call's graph). The corrected and as-printed columns are
    `bptt_gradients` on the same arrays; the numeric column is central differences of the engine's loss in
    float64 (h_t and o_t are perturbed through `perturb` / `perturb_o`). The verdict of a row is "ok" when the
    corrected formula and the finite differences agree with autodiff; `report.ok` when every row is ok.
    """
    from tinygrad_rnn.gradcheck import numerical_grad  # only compare() runs the engine
    from tinygrad_rnn.rnn import RNN

    D, H, K = rnn.input_size, rnn.hidden_size, rnn.output_size
    arrays = rnn.arrays()
    exact_tol, numeric_tol = _TOL[np.dtype(rnn.dtype)]
    # 1. autodiff
    rnn.zero_grad()
    L = rnn.loss(xs, ys, h0)
    L.backward()
    trace = rnn.trace
    batched = np.ndim(xs) == 3
    T = len(trace.h)
    ad = {n: (p.grad if p.grad is not None else np.zeros(p.shape)) for n, p in rnn.named_parameters().items()}
    for t in range(1, T + 1):
        ad[f"h_{t}"] = trace.h[t - 1].grad
        ad[f"o_{t}"] = trace.o[t - 1].grad
    # 2. lecture, corrected
    corrected = bptt_gradients(**arrays, xs=xs, ys=ys, h0=h0, head=rnn.head)
    # 3. lecture, as printed (only the softmax/cross-entropy setting is in the lecture)
    printed: dict[str, Any] = {}
    if rnn.head == "softmax":
        W, U, V, seq, _, h, o = _problem(*arrays.values(), xs, ys, h0, rnn.head, "lecture.compare")
        printed = _printed(W, U, V, h, o, seq, rnn.head)
    # 4. finite differences of the loss, in float64
    twin = rnn
    if np.dtype(rnn.dtype) != np.float64:
        twin = RNN(D, H, K, tanh=rnn.tanh, head=rnn.head)
        for n, p in twin.named_parameters().items():
            p.data = arrays[n].astype(np.float64)
    numeric = {n: numerical_grad(lambda _: twin.loss(xs, ys, h0), p, _EPS) for n, p in twin.named_parameters().items()}
    h_shape, o_shape = ad["h_1"].shape, ad["o_1"].shape
    for t in range(1, T + 1):
        numeric[f"h_{t}"] = numerical_grad(
            lambda dh, t=t: twin.loss(xs, ys, h0, perturb={t: dh}), np.zeros(h_shape), _EPS
        )
        numeric[f"o_{t}"] = numerical_grad(
            lambda do, t=t: twin.loss(xs, ys, h0, perturb_o={t: do}), np.zeros(o_shape), _EPS
        )
    rnn.trace = trace  # the finite differences ran the model again: keep the autodiff graph as the trace

    floor = 1e-3 * max(1.0, abs(L.item()))
    rows = []
    for q in [*PARAMS, *(f"h_{t}" for t in range(1, T + 1)), *(f"o_{t}" for t in range(1, T + 1))]:
        kind, t = (q, None) if q in PARAMS else (q[0], int(q[2:]))
        a = np.asarray(ad[q], dtype=np.float64)
        c = corrected[q] if t is None else corrected[kind][t - 1]
        n = numeric[q]
        p, note = _printed_entry(printed, kind, t, T, rnn.head)
        c_abs, c_rel = _rel(c, a, floor)
        n_abs, n_rel = _rel(n, a, floor)
        p_rel = None if p is None or p.shape != a.shape else _rel(p, a, floor)[1]
        ok = c_rel <= exact_tol and n_rel <= numeric_tol
        if p is None:
            p_verdict = note
        else:
            p_verdict = "agrees" if p_rel is not None and p_rel <= exact_tol else "WRONG"
        rows.append(
            Row(
                q,
                a.shape,
                a,
                c,
                p,
                n,
                max(c_abs, n_abs),
                max(c_rel, n_rel),
                p_rel,
                "ok" if ok else "MISMATCH",
                p_verdict,
                c_rel,
                n_rel,
                note,
            )  # fmt: skip
        )
    sizes = {"T": T, "B": np.shape(xs)[1] if batched else None, "D": D, "H": H, "K": K}
    report = Report(rows, all(r.verdict == "ok" for r in rows), [], sizes, float(L.item()), L)
    report.explanations = _explain(report, arrays, printed, exact_tol, numeric_tol)
    return report


def _printed_entry(printed: dict, kind: str, t: int | None, T: int, head: str) -> tuple[np.ndarray | None, str]:
    """(as-printed value or None, short reason when None) for one quantity."""
    if head != "softmax":
        return None, "n/a (linear head)"
    if kind in ("b", "c"):
        return None, "not in the lecture"
    value = printed[kind]
    if isinstance(value, PrintedFormulaError):
        if kind == "h" and t == T:
            return printed["_h_last"], ""
        return None, "does not type-check"
    return (value if t is None else value[t - 1]), ""


def _explain(report: Report, arrays: dict, printed: dict, exact_tol: float, numeric_tol: float) -> list[str]:
    """Plain-words explanation of every disagreement in the report."""
    out = []
    s = report.sizes
    T, D, H = s["T"], s["D"], s["H"]
    for r in report.rows:
        if r.verdict == "ok":
            continue
        if r.corrected_rel_err > exact_tol:
            out.append(
                f"{r.quantity}: autodiff and the corrected lecture formula differ (relative error "
                f"{r.corrected_rel_err:.2g}). Both are exact methods, so one of them has a bug; the finite differences "
                f"({r.numeric_rel_err:.2g} from autodiff) tell which."
            )
        if r.numeric_rel_err > numeric_tol:
            out.append(
                f"{r.quantity}: finite differences of the loss differ from autodiff (relative error "
                f"{r.numeric_rel_err:.2g}): the engine's gradient of {r.quantity} is not the derivative of its loss."
            )
    if not printed:
        out.append("The lecture's formulas are for a softmax output with cross-entropy; this model has a linear head.")
        return out
    wrong = [r for r in report.rows if r.printed_verdict == "WRONG"]
    untyped = [r for r in report.rows if r.printed_verdict == "does not type-check"]
    if wrong or untyped:
        out.append(SWAP + ". Corrected: ∇_{h_t}L = U^T diag(1−h_{t+1}²) ∇_{h_{t+1}}L + V^T ∇_{o_t}L, ∇_W L = Σ_t "
                   "diag(1−h_t²) ∇_{h_t}L x_t^T, ∇_U L = Σ_t diag(1−h_t²) ∇_{h_t}L h_{t−1}^T.")  # fmt: skip
    if untyped:
        names = ", ".join(r.quantity for r in untyped)
        out.append(
            f"With D={D} inputs and H={H} hidden units the printed formulas for {names} do not even type-check: "
            f"W^T is D×H, so W^T(…) is a {D}-vector added to the {H}-vector V^T ∇_o L; the printed ∇W is H×H = "
            f"{H}×{H} but W is H×D = {H}×{D}; the printed ∇U is H×D but U is H×H."
        )
    if wrong:
        worst = ", ".join(f"{r.quantity} ({r.printed_rel_err:.2g})" for r in wrong)
        out.append(
            f"With D = H = {H} the printed formulas type-check but give wrong numbers — relative error from "
            f"autodiff: {worst}. "
            + (
                "The error in ∇_{h_t}L for t < T comes from W^T in the recursion; it then spreads into ∇W and ∇U, "
                "which are also paired with the wrong vectors."
                if any(r.quantity.startswith("h_") for r in wrong)
                else "∇W and ∇U are paired with the wrong vectors (x_t and h_{t−1} swapped)."
            )
        )
    if D == H and np.array_equal(arrays["W"], arrays["U"]) and T > 1:
        out.append(
            "Here W = U, so using W^T in place of U^T in the recursion changes nothing and every ∇_{h_t}L agrees; the "
            'printed "∇W" is then exactly the true ∇U and the printed "∇U" the true ∇W (the names are swapped).'
        )
    all_zero = all(not np.any(r.autodiff) for r in report.rows)
    if all_zero:
        out.append(
            "Every gradient is zero here (with K = 1 class, softmax always gives ŷ = 1 = y; or V = 0), so the "
            "printed formulas cannot be told apart from the correct ones on this example."
        )
    out.append(
        "The printed recursion W^T (∇_{h_{t+1}}L) diag(1−h_{t+1}²) multiplies an H×1 column by an H×H matrix, "
        "which does not type-check for H > 1: the tanh derivative must act on the gradient first, diag(1−h_{t+1}²) "
        "∇_{h_{t+1}}L = (1−h_{t+1}²) ⊙ ∇_{h_{t+1}}L, and the as-printed column evaluates that order."
    )
    out.append(
        "The lecture gives no ∇b and ∇c. They are ∇_b L = Σ_t diag(1−h_t²) ∇_{h_t}L and ∇_c L = Σ_t ∇_{o_t}L "
        "(the corrected column)."
    )
    out.append(
        "∇_{o_t}L = ŷ_t − y_t, ∇_V L = Σ_t ∇_{o_t}L h_t^T and ∇_{h_T}L = V^T ∇_{o_T}L are printed correctly: they "
        "do not go through the recurrence, so the swapped W and U cannot touch them."
    )
    return out


def _fmt(v: float | None, width: int) -> str:
    return f"{'—':>{width}}" if v is None else f"{v:>{width}.1e}"


def format_report(report: Report, width: int = 118) -> str:
    """The report as a table plus the explanations, wrapped to `width` columns."""
    import textwrap

    s = report.sizes
    batch = f", B={s['B']}" if s.get("B") else ""
    lines = [
        f"Lecture 13 RNN, T={s['T']}{batch}, D={s['D']}, H={s['H']}, K={s['K']}: L = {report.loss_value:.6g}",
        "rel err = max|x − autodiff| / max|autodiff|;  verdict: corrected formula and finite differences vs autodiff",
        "",
        f"{'quantity':<9}{'shape':<8}{'max|autodiff|':>14}{'corrected':>11}{'numeric':>10}  {'verdict':<9}│"
        f"{'as printed':>11}  {'lecture as printed'}",
        f"{'':<9}{'':<8}{'':>14}{'rel err':>11}{'rel err':>10}  {'':<9}│{'rel err':>11}",
        "─" * 63 + "┼" + "─" * 40,
    ]
    for r in report.rows:
        shape = "×".join(map(str, r.shape)) or "scalar"
        big = float(np.max(np.abs(r.autodiff))) if r.autodiff.size else 0.0
        lines.append(
            f"{r.quantity:<9}{shape:<8}{big:>14.4e}{_fmt(r.corrected_rel_err, 11)}{_fmt(r.numeric_rel_err, 10)}  "
            f"{r.verdict:<9}│{_fmt(r.printed_rel_err, 11)}  {r.printed_verdict}"
        )
    lines.append("")
    lines.append(
        "OK: autodiff, the corrected formulas and finite differences agree."
        if report.ok
        else "NOT OK: some rows disagree (see below)."
    )
    lines.append("")
    for e in report.explanations:
        lines.extend(textwrap.wrap(e, width, initial_indent="• ", subsequent_indent="  ", break_on_hyphens=False))
    return "\n".join(lines)
