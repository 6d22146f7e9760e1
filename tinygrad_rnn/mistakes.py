"""The catalogue of known BPTT mistakes: each one as the equation a student writes, evaluated in numpy.

`exercise.check_bptt` compares a student's numbers with the lecture's corrected section 2.4 and, where they differ,
with every mistake here. A mistake is evaluated on a *context*: the per-step quantities ∇o_t and ∇h_{t+1} it is
fed — the true ones, or the student's own (then an equation that is right but fed a wrong ∇h_{t+1} is recognised
as right). Everything is in batch layout, indexed by the lecture's t: `Truth.h[t]` is h_t for t = 0..T+1 (h_{T+1}
is a zero pad, so 1 − h_{T+1}² = 1), `Truth.g[t]` is ∇_{h_t}L (g[0] = ∇h_0, g[T+1] = 0), `Truth.go[t]` ∇_{o_t}L.
A row of a (B, n) array is one sequence's vector, so the lecture's U^T v is written v @ U.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygrad_rnn import lecture

__all__ = [
    "KINDS",
    "KEYS",
    "CORRECT",
    "Problem",
    "Truth",
    "Ctx",
    "Mistake",
    "H_STEP",
    "O_STEP",
    "h_step",
    "sum_value",
    "sum_terms",
    "sum_mistakes",
    "variants",
]

KINDS = (
    "swapped_W_U",
    "off_by_one_state",
    "tanh_derivative_wrong_step",
    "missing_recurrent_term",
    "missing_output_term",
    "missing_sum_over_t",
    "transposed",
    "wrong_sign",
    "scaled",
    "as_printed",
    "wrong_shape",
    "not_finite",
    "raised",
    "unknown",
)
KEYS = ("W", "U", "V", "b", "c", "h", "o", "h0")
SUMS = ("W", "U", "V", "b", "c")

# the lecture's corrected equations (section 2.4, with ∇b and ∇c added), as the report prints them
CORRECT = {
    "o": "∇o_t = ŷ_t − y_t",
    "h": "∇h_t = V^T ∇o_t + U^T diag(1 − h_{t+1}²) ∇h_{t+1}   (∇h_T = V^T ∇o_T)",
    "W": "∇W = Σ_t diag(1 − h_t²) ∇h_t x_t^T",
    "U": "∇U = Σ_t diag(1 − h_t²) ∇h_t h_{t−1}^T",
    "V": "∇V = Σ_t ∇o_t h_t^T",
    "b": "∇b = Σ_t diag(1 − h_t²) ∇h_t",
    "c": "∇c = Σ_t ∇o_t",
    "h0": "∇h_0 = U^T diag(1 − h_1²) ∇h_1",
}


@dataclass(frozen=True)
class Problem:
    """The arrays a student's function is called with, and the problem's name in the report."""

    W: np.ndarray
    U: np.ndarray
    V: np.ndarray
    b: np.ndarray
    c: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    name: str = "problem"

    @property
    def batched(self) -> bool:
        return np.ndim(self.xs) == 3

    @property
    def sizes(self) -> dict[str, int]:
        """T, B (1 for one sequence), D, H, K."""
        H, D = np.shape(self.W)
        B = np.shape(self.xs)[1] if self.batched else 1
        return {"T": len(self.xs), "B": B, "D": D, "H": H, "K": np.shape(self.V)[0]}

    def args(self) -> tuple[np.ndarray, ...]:
        """Fresh copies of (W, U, V, b, c, xs, ys): a function that writes into its arguments changes nothing here."""
        return tuple(np.array(a, copy=True) for a in (self.W, self.U, self.V, self.b, self.c, self.xs, self.ys))

    def describe(self) -> str:
        s = self.sizes
        batch = f", B = {s['B']}" if self.batched else ""
        return f"T = {s['T']}{batch}, D = {s['D']}, H = {s['H']}, K = {s['K']}"


def _pad(a: np.ndarray) -> np.ndarray:
    """(T, B, n) → (T+2, B, n) with zero rows at t = 0 and t = T+1, so a[t] is the lecture's step t."""
    z = np.zeros_like(a[:1])
    return np.concatenate([z, a, z])


class Truth:
    """The lecture's quantities on one problem (from `lecture.bptt_gradients`), in batch layout, padded by t."""

    def __init__(self, p: Problem) -> None:
        W, U, V, b, c, xs, ys = p.args()
        grads = lecture.bptt_gradients(W, U, V, b, c, xs, ys)
        h, _, yhat = lecture.forward(W, U, V, b, c, xs)
        lay = (lambda a: np.asarray(a, dtype=np.float64)) if p.batched else (lambda a: np.asarray(a, float)[:, None])
        self.problem, self.batched = p, p.batched
        self.W, self.U, self.V = (np.asarray(m, dtype=np.float64) for m in (W, U, V))
        self.T, self.B, self.D, self.H, self.K = (p.sizes[k] for k in "TBDHK")
        self.x = _pad(lay(xs))
        self.h = _pad(lay(h))  # h[0] = h_0 = 0 (the checker calls without h0), h[T+1] = 0: a pad
        self.d = 1.0 - self.h**2  # diag(1 − h_t²) as a vector, t = 0..T+1
        self.go = _pad(lay(grads["o"]))
        self.g = _pad(lay(grads["h"]))
        self.g[0] = np.asarray(grads["h0"]).reshape(self.B, self.H)  # ∇h_0 per sequence
        self.yhat = _pad(lay(yhat))
        self.y = self.yhat - self.go  # the one-hot target rows: ∇o_t = ŷ_t − y_t
        self.true = Ctx(self.go, self.g)
        self.scale = max(float(np.abs(self.g).max()), float(np.abs(self.go).max()), 1e-300)

    @property
    def square(self) -> bool:
        """D = H: W and U have the same shape, so a formula with one in place of the other type-checks."""
        return self.D == self.H


@dataclass(frozen=True)
class Ctx:
    """What a formula is fed: ∇o_t and ∇h_t (padded, (T+2, B, ·)); `kind`/`says` name a whole-sequence mistake in
    ∇h_t (a variant) and `own` marks the student's own numbers."""

    go: np.ndarray
    g: np.ndarray
    kind: str | None = None
    says: str = ""
    differs: str = ""
    own: bool = False


@dataclass(frozen=True)
class Mistake:
    """One way to get a quantity wrong: its kind, the equation as the student wrote it, what differs, its value.

    For a per-step quantity `says(t, T)` is the equation at step t and `value(p, ctx, t)` its (B, n) value; for a
    sum `says` is a string and `value(p, ctx)` the array. `needs(p)`: whether the formula type-checks on p."""

    kind: str
    says: Any
    differs: str
    value: Callable[..., np.ndarray]
    needs: Callable[[Truth], bool] = field(default=lambda p: True)


def _rec(p: Truth, g: np.ndarray, t: int, M: np.ndarray, d: np.ndarray | None = None) -> np.ndarray:
    """M^T diag(1 − h_{t+1}²) ∇h_{t+1} (or with the given derivative vector d)."""
    return ((p.d[t + 1] if d is None else d) * g[t + 1]) @ M


def h_step(p: Truth, c: Ctx, t: int) -> np.ndarray:
    """The corrected step: ∇h_t = V^T ∇o_t + U^T diag(1 − h_{t+1}²) ∇h_{t+1}."""
    return c.go[t] @ p.V + _rec(p, c.g, t, p.U)


def _eq(rest: str) -> Callable[[int, int], str]:
    """says(t, T) for a ∇h_t equation written with {t}, {n} (= t + 1) and {T}."""
    return lambda t, T: f"∇h_{t} = " + rest.format(t=t, n=t + 1, T=T)


_SWAP = (
    "in h_t = tanh(b + W x_t + U h_{t−1}) the previous state goes through U, so the gradient comes back to h_t "
    "through U^T (W takes the input x_t)"
)
_ORDER = (
    "the printed factor order (∇h_{t+1}) diag(1 − h_{t+1}²): numpy reads W.T @ dh @ np.diag(1 - h**2) as the tanh "
    "derivative applied after the matrix; it belongs to ∇h_{t+1} first, U^T (diag(1 − h_{t+1}²) ∇h_{t+1})"
)

# ∇h_t: the step equation as students get it wrong (each evaluated on a context, at step t)
H_STEP = (
    Mistake(
        "swapped_W_U",
        _eq("V^T ∇o_{t} + W^T diag(1 − h_{n}²) ∇h_{n}"),
        "W^T where U^T belongs: " + _SWAP,
        lambda p, c, t: c.go[t] @ p.V + _rec(p, c.g, t, p.W),
        lambda p: p.square,
    ),
    Mistake(
        "as_printed",
        _eq("V^T ∇o_{t} + W^T (∇h_{n}) diag(1 − h_{n}²)   (section 2.4 typed as printed)"),
        "W^T where U^T belongs (" + _SWAP + "), and " + _ORDER,
        lambda p, c, t: c.go[t] @ p.V + p.d[t + 1] * (c.g[t + 1] @ p.W),
        lambda p: p.square,
    ),
    Mistake(
        "as_printed",
        _eq("V^T ∇o_{t} + U^T (∇h_{n}) diag(1 − h_{n}²)   (the printed factor order)"),
        "U is right, but the tanh derivative is in " + _ORDER,
        lambda p, c, t: c.go[t] @ p.V + p.d[t + 1] * (c.g[t + 1] @ p.U),
    ),
    Mistake(
        "tanh_derivative_wrong_step",
        _eq("V^T ∇o_{t} + U^T diag(1 − h_{t}²) ∇h_{n}"),
        "1 − h_t² where 1 − h_{t+1}² belongs: ∇h_{t+1} comes back through the tanh of step t+1, so it takes "
        "that step's derivative",
        lambda p, c, t: c.go[t] @ p.V + _rec(p, c.g, t, p.U, p.d[t]),
    ),
    Mistake(
        "tanh_derivative_wrong_step",
        lambda t, T: f"∇h_{t} = diag(1 − h_{t}²) (V^T ∇o_{t}" + (")" if t == T else f" + U^T ∇h_{t + 1})"),
        "the tanh derivative of step t is applied one step early: that is δ_t = diag(1 − h_t²) ∇h_t, the gradient "
        "at the tanh's input, not ∇h_t (keep δ_t for the sums, return ∇h_t)",
        lambda p, c, t: p.d[t] * (c.go[t] @ p.V + c.g[t + 1] @ p.U),
    ),
    Mistake(
        "missing_recurrent_term",
        _eq("V^T ∇o_{t}"),
        "the term U^T diag(1 − h_{t+1}²) ∇h_{t+1} is missing: h_t feeds h_{t+1} as well as o_t, and the gradients "
        "of both paths add up",
        lambda p, c, t: c.go[t] @ p.V,
    ),
    Mistake(
        "missing_output_term",
        lambda t, T: f"∇h_{t} = " + ("0" if t == T else f"U^T diag(1 − h_{t + 1}²) ∇h_{t + 1}"),
        "the term V^T ∇o_t is missing: h_t also feeds o_t = c + V h_t (at t = T it is the only term)",
        lambda p, c, t: _rec(p, c.g, t, p.U),
    ),
    Mistake(
        "unknown",
        _eq("V^T ∇o_{t} + U^T ∇h_{n}   (no tanh derivative)"),
        "diag(1 − h_{t+1}²) is missing: ∇h_{t+1} comes back through the tanh of step t+1 (appendix C)",
        lambda p, c, t: c.go[t] @ p.V + c.g[t + 1] @ p.U,
    ),
)

# ∇o_t: each step on its own (no context needed)
O_STEP = (
    Mistake(
        "wrong_sign",
        lambda t, T: f"∇o_{t} = y_{t} − ŷ_{t}",
        "the sign: L = −Σ y log ŷ, so ∇o_t = ŷ_t − y_t (prediction minus target)",
        lambda p, c, t: p.y[t] - p.yhat[t],
    ),
    Mistake(
        "unknown",
        lambda t, T: f"∇o_{t} = ŷ_{t}",
        "− y_t is missing (appendix A chained through appendix B gives ŷ_t − y_t)",
        lambda p, c, t: p.yhat[t],
    ),
    Mistake(
        "unknown",
        lambda t, T: f"∇o_{t} = −y_{t} / ŷ_{t}",
        "that is ∂L/∂ŷ_t (appendix A); ∇o_t also needs the softmax derivative (appendix B), which gives ŷ_t − y_t",
        lambda p, c, t: np.where(p.y[t] != 0, -p.y[t] / p.yhat[t], 0.0),
    ),
)


# ---- the sums ---------------------------------------------------------------------------------------------------


def _delta(p: Truth, c: Ctx, shift: int = 0) -> np.ndarray:
    """δ_t = diag(1 − h_{t+shift}²) ∇h_t for t = 1..T, (T, B, H); shift 0 is right."""
    return p.d[1 + shift : p.T + 1 + shift] * c.g[1 : p.T + 1]


def _outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per step Σ_b a_{t,b} b_{t,b}^T: (T, B, m), (T, B, n) → (T, m, n)."""
    return np.einsum("tbi,tbj->tij", a, b)


def sum_terms(q: str, p: Truth, c: Ctx, shift: int = 0, state: int = 0) -> np.ndarray:
    """The per-step terms (T, *shape) of ∇q (q in W, U, V, b, c): tanh derivative of step t+shift; `state` moves
    the state vector paired with ∇U or ∇V by that many steps (0 is right)."""
    T = p.T
    if q == "W":
        return _outer(_delta(p, c, shift), p.x[1 : T + 1])
    if q == "U":
        return _outer(_delta(p, c, shift), p.h[state : T + state])  # h_{t−1}: rows 0..T−1
    if q == "V":
        return _outer(c.go[1 : T + 1], p.h[1 + state : T + 1 + state])
    if q == "b":
        return _delta(p, c, shift).sum(axis=1)
    if q == "c":
        return c.go[1 : T + 1].sum(axis=1)
    raise KeyError(q)


def sum_value(q: str, p: Truth, c: Ctx) -> np.ndarray:
    """The corrected value of ∇q on a context: the sum of its terms (∇h_0: U^T δ_1, per sequence (B, H))."""
    if q == "h0":
        return _delta(p, c)[0] @ p.U
    return sum_terms(q, p, c).sum(axis=0)


def _sum(q: str, **kw: int) -> Callable[[Truth, Ctx], np.ndarray]:
    return lambda p, c: sum_terms(q, p, c, **kw).sum(axis=0)


def _tanh_shifts(q: str, pairs: str) -> list[Mistake]:
    out = []
    for shift, sym in ((-1, "t−1"), (1, "t+1")):
        out.append(
            Mistake(
                "tanh_derivative_wrong_step",
                f"∇{q} = Σ_t diag(1 − h_{{{sym}}}²) ∇h_t{pairs}",
                f"1 − h_{{{sym}}}² where 1 − h_t² belongs: ∇h_t goes back through the tanh of step t itself",
                _sum(q, shift=shift),
            )
        )
    return out


def sum_mistakes(q: str, p: Truth) -> list[Mistake]:
    """The catalogue's mistakes for ∇q (W, U, V, b, c, h0) on this problem, in the order they are tried."""
    if q == "h0":
        return _h0_mistakes()
    pair = {"W": " x_t^T", "U": " h_{t−1}^T", "V": " h_t^T", "b": "", "c": ""}[q]
    out: list[Mistake] = []
    if q == "W":
        out.append(Mistake("swapped_W_U", "∇W = Σ_t diag(1 − h_t²) ∇h_t h_{t−1}^T", _PAIR_W, _sum("U")))
    if q == "U":
        out.append(Mistake("swapped_W_U", "∇U = Σ_t diag(1 − h_t²) ∇h_t x_t^T", _PAIR_U, _sum("W")))
        out.append(Mistake("off_by_one_state", "∇U = Σ_t diag(1 − h_t²) ∇h_t h_t^T", _OFF_U, _sum("U", state=1)))
    if q == "V":
        out.append(Mistake("off_by_one_state", "∇V = Σ_t ∇o_t h_{t−1}^T", _OFF_V, _sum("V", state=-1)))
    if q in ("W", "U", "b"):
        out += _tanh_shifts(q, pair)
    if q == "b":
        out.append(Mistake("unknown", "∇b = Σ_t ∇h_t   (no tanh derivative)", _NO_TANH, _b_without_tanh))
    head = "diag(1 − h_t²) ∇h_t" if q in ("W", "U", "b") else "∇o_t"
    for k in range(1, p.T + 1) if p.T > 1 else ():
        out.append(
            Mistake(
                "missing_sum_over_t",
                f"∇{q} = {head.replace('_t', f'_{k}')}{pair.replace('_t', f'_{k}').replace('_{t−1}', f'_{k - 1}')}"
                f"   (the term of t = {k} only)",
                f"the sum over t is missing: every step uses the same {q}, so ∇{q} adds up the terms of all "
                f"T = {p.T} steps (an `=` where `+=` belongs?)",
                lambda p, c, q=q, k=k: sum_terms(q, p, c)[k - 1],
            )
        )
    return out


def _b_without_tanh(p: Truth, c: Ctx) -> np.ndarray:
    return c.g[1 : p.T + 1].sum(axis=(0, 1))


def _h0_mistakes() -> list[Mistake]:
    return [
        Mistake(
            "swapped_W_U",
            "∇h_0 = W^T diag(1 − h_1²) ∇h_1",
            "W^T where U^T belongs: " + _SWAP.replace("h_t", "h_1").replace("h_{t−1}", "h_0"),
            lambda p, c: _delta(p, c)[0] @ p.W,
            lambda p: p.square,
        ),
        Mistake(
            "missing_recurrent_term",
            "∇h_0 = 0",
            "h_0 feeds h_1 = tanh(b + W x_1 + U h_0), so its gradient is the recurrent term U^T diag(1 − h_1²) ∇h_1",
            lambda p, c: np.zeros((p.B, p.H)),
        ),
        Mistake(
            "tanh_derivative_wrong_step",
            "∇h_0 = U^T diag(1 − h_0²) ∇h_1",
            "1 − h_0² where 1 − h_1² belongs: ∇h_1 comes back through the tanh of step 1",
            lambda p, c: _delta(p, c, -1)[0] @ p.U,
        ),
    ]


_PAIR_W = (
    "h_{t−1} where x_t belongs: W multiplies the input x_t in h_t = tanh(b + W x_t + U h_{t−1}); paired with "
    "h_{t−1} this is ∇U"
)
_PAIR_U = (
    "x_t where h_{t−1} belongs: U multiplies the previous state h_{t−1} in h_t = tanh(b + W x_t + U h_{t−1}); "
    "paired with x_t this is ∇W"
)
_OFF_U = "h_t where h_{t−1} belongs: U multiplies the previous state h_{t−1} in step t, not the new state h_t"
_OFF_V = "h_{t−1} where h_t belongs: o_t = c + V h_t reads the state of the same step"
_NO_TANH = "diag(1 − h_t²) is missing: b sits inside the tanh of every step (appendix C)"


def variants(p: Truth) -> list[Ctx]:
    """∇h_t for t = T..1 with one of H_STEP's mistakes made at every step, as contexts for the sums: a student who
    gives no ∇h_t but whose ∇W follows from such a recursion is told which mistake it is."""
    out = []
    for m in H_STEP:
        if m.kind == "unknown" or not m.needs(p):
            continue
        g = np.zeros_like(p.g)
        for t in range(p.T, 0, -1):
            g[t] = m.value(p, Ctx(p.go, g), t)
        # at T = 1 most of them change nothing; without the output term nothing starts the recursion (all zero)
        if np.max(np.abs(g - p.g)) > 1e-6 * p.scale and np.any(g):
            t = max(p.T - 1, 1)
            out.append(Ctx(p.go, g, m.kind, m.says(t, p.T), m.differs))
    return out
