"""The lecture's BPTT checked on a model: autodiff vs the corrected and the printed formulas vs finite differences.

`compare(rnn, xs, ys)` runs the engine (lecture or fast graph) and sets every gradient of section 2.4 — ∇W, ∇U, ∇V,
∇b, ∇c, every ∇_{h_t}L and ∇_{o_t}L — beside `lecture.bptt_gradients` (corrected and as printed) and central
differences of the engine's loss; `Report` holds the rows, says in plain words what each disagreement means, and
gives the drawing its `annotations()` (each node coloured by the lecture formula's error).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygrad_rnn import lecture
from tinygrad_rnn.annotations import Annotation, Annotations
from tinygrad_rnn.fmt import norm, num
from tinygrad_rnn.gradcheck import numerical_grad
from tinygrad_rnn.inputs import Array
from tinygrad_rnn.lecture import PARAMS, PrintedFormulaError
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.tensor import Tensor

__all__ = ["Row", "Report", "compare", "format_report", "CHECK_COLOURS"]

# tolerances on the relative error (see Row): exact methods against each other, and finite differences
_TOL = {np.dtype(np.float64): (1e-8, 1e-5), np.dtype(np.float32): (1e-4, 1e-3)}
_EPS = 1e-6  # step of the central differences (always taken in float64)

# fill of a node by how far a formula is from autodiff (relative error), and for quantities it does not give
CHECK_COLOURS = {
    "ok": ("#b7e4c7", "formula = autodiff (rel. error ≤ 1e-6)"),
    "close": ("#ffe69c", "close (≤ 1e-3)"),
    "wrong": ("#f5b7b1", "wrong (> 1e-3)"),
    "does not type-check": ("#d0bfff", "does not type-check"),
    "not in the lecture": ("#dee2e6", "not in the lecture"),
}


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

    def annotations(self, formula: str = "corrected") -> Annotations:
        """For the drawing: on each node with a lecture formula (W, …, h_t, o_t) autodiff's ‖·‖, the formula's ‖·‖
        and its relative error; the node filled by that error (`CHECK_COLOURS`). formula: "corrected" or "printed"."""
        if formula not in ("corrected", "printed"):
            raise ValueError(f"annotations: formula must be 'corrected' or 'printed', got {formula!r}")
        printed = formula == "printed"
        which = "printed" if printed else "lecture"  # short: the rows must stay readable on a slide
        nodes, used = {}, set()
        for r in self.rows:
            value, rel = (r.as_printed, r.printed_rel_err) if printed else (r.corrected, r.rel_err)
            verdict = r.printed_verdict if printed else r.verdict
            status = _status(rel, r.printed_note if printed else "")
            used.add(status)
            lecture_row = f"{which}: n/a" if value is None else f"{which} ‖·‖ {num(norm(value), 4)}"
            rel_text = "rel. error n/a" if rel is None else f"rel. error {num(rel, 2)}"
            rows = (
                (f"autodiff ‖·‖ {num(norm(r.autodiff), 4)}", "#212529"),
                (lecture_row, "#212529"),
                (f"{rel_text}  {verdict}", "#212529"),
            )
            nodes[r.quantity] = Annotation(rows, CHECK_COLOURS[status][0], status)
        legend = tuple(CHECK_COLOURS[s] for s in CHECK_COLOURS if s in used)
        return Annotations(nodes, legend, "lecture (as printed) vs autodiff" if printed else "lecture vs autodiff")


def _status(rel_err: float | None, note: str) -> str:
    """The legend entry of a relative error (None: the formula does not type-check or is not in the lecture)."""
    if rel_err is None:
        return "does not type-check" if note == "does not type-check" else "not in the lecture"
    if not np.isfinite(rel_err):
        return "wrong"
    return "ok" if rel_err <= 1e-6 else "close" if rel_err <= 1e-3 else "wrong"


def _rel(x: np.ndarray, ref: np.ndarray, floor: float) -> tuple[float, float]:
    err = float(np.max(np.abs(x - ref))) if ref.size else 0.0
    return err, err / max(float(np.max(np.abs(ref))) if ref.size else 0.0, floor)


def compare(rnn: RNN, xs: Any, ys: Any, h0: Any = None) -> Report:
    """For W, U, V, b, c and every ∇_{h_t}L, ∇_{o_t}L: autodiff vs lecture corrected vs as printed vs numeric.

    Autodiff is `rnn.loss(xs, ys).backward()` on the model's own graph (lecture or fast; the parameters' gradients
    are reset first and hold this loss's gradients afterwards; `rnn.trace` is this call's graph). The corrected and
    as-printed columns are `lecture.bptt_gradients` on the same arrays; the numeric column is central differences of
    the engine's loss in float64 (h_t and o_t are perturbed through `perturb` / `perturb_o`). The verdict of a row
    is "ok" when the corrected formula and the finite differences agree with autodiff; `report.ok` when all are.
    """
    if not isinstance(rnn, RNN):
        raise TypeError(f"compare: the lecture's formulas are for its Elman RNN; got {type(rnn).__name__}")
    arrays = rnn.arrays()
    exact_tol, numeric_tol = _TOL[np.dtype(rnn.dtype)]
    L, ad = _autodiff(rnn, xs, ys, h0)
    trace = rnn.last_trace()
    T = len(trace.h)
    W, U, V, b, c = (arrays[n] for n in PARAMS)
    corrected = lecture.bptt_gradients(W, U, V, b, c, xs, ys, h0=h0, head=rnn.head)
    printed = lecture.printed_gradients(W, U, V, b, c, xs, ys, h0=h0) if rnn.head == "softmax" else {}
    numeric = _finite_differences(rnn, xs, ys, h0, T, ad["h_1"].shape, ad["o_1"].shape)
    rnn.trace = trace  # the finite differences ran the model again: keep the autodiff graph as the trace
    floor = 1e-3 * max(1.0, abs(L.item()))
    rows = []
    for q in [*PARAMS, *(f"h_{t}" for t in range(1, T + 1)), *(f"o_{t}" for t in range(1, T + 1))]:
        kind, t = (q, None) if q in PARAMS else (q[0], int(q[2:]))
        c = corrected[q] if t is None else corrected[kind][t - 1]
        p, note = _printed_entry(printed, kind, t, T, rnn.head)
        rows.append(_row(q, np.asarray(ad[q], dtype=np.float64), c, p, note, numeric[q], floor, exact_tol, numeric_tol))
    batched = np.ndim(getattr(xs, "data", xs)) == 3
    sizes = {"T": T, "B": np.shape(getattr(xs, "data", xs))[1] if batched else None}
    sizes.update(D=rnn.input_size, H=rnn.hidden_size, K=rnn.output_size)
    report = Report(rows, all(r.verdict == "ok" for r in rows), [], sizes, float(L.item()), L)
    report.explanations = _explain(report, arrays, printed, exact_tol, numeric_tol)
    return report


def _autodiff(rnn: RNN, xs: Any, ys: Any, h0: Any) -> tuple[Tensor, dict[str, np.ndarray]]:
    """L and its gradients by the engine: every parameter, and ∇_{h_t}L, ∇_{o_t}L read off the trace."""
    rnn.zero_grad()
    L = rnn.loss(xs, ys, h0)
    L.backward()
    ad = {n: (p.grad if p.grad is not None else np.zeros(p.shape)) for n, p in rnn.named_parameters().items()}
    for key in ("h", "o"):
        for t, g in enumerate(rnn.last_trace().step_grads(key), start=1):
            ad[f"{key}_{t}"] = g
    return L, ad


def _finite_differences(
    rnn: RNN, xs: Array, ys: Array, h0: Array, T: int, h_shape: tuple, o_shape: tuple
) -> dict[str, np.ndarray]:
    """Central differences of the engine's loss, in float64, for every parameter and every h_t, o_t."""
    twin = (
        rnn
        if np.dtype(rnn.dtype) == np.float64
        else RNN.from_arrays(**rnn.arrays(), tanh=rnn.tanh, head=rnn.head, dtype=np.float64)
    )
    loss = twin.loss
    numeric = {n: numerical_grad(lambda _: loss(xs, ys, h0), p, _EPS) for n, p in twin.named_parameters().items()}
    for t in range(1, T + 1):
        numeric[f"h_{t}"] = numerical_grad(lambda d, t=t: loss(xs, ys, h0, perturb={t: d}), np.zeros(h_shape), _EPS)
        numeric[f"o_{t}"] = numerical_grad(lambda d, t=t: loss(xs, ys, h0, perturb_o={t: d}), np.zeros(o_shape), _EPS)
    return numeric


def _row(q: Any, a: Array, c: Array, p: Any, note: Any, n: Any, floor: Any, exact_tol: Any, numeric_tol: Any) -> Row:
    """One row: each method's error relative to autodiff and the verdicts."""
    c_abs, c_rel = _rel(c, a, floor)
    n_abs, n_rel = _rel(n, a, floor)
    p_rel = None if p is None or p.shape != a.shape else _rel(p, a, floor)[1]
    ok = c_rel <= exact_tol and n_rel <= numeric_tol
    p_verdict = note if p is None else "agrees" if p_rel is not None and p_rel <= exact_tol else "WRONG"
    verdict = "ok" if ok else "MISMATCH"
    return Row(
        q, a.shape, a, c, p, n, max(c_abs, n_abs), max(c_rel, n_rel), p_rel, verdict, p_verdict, c_rel, n_rel, note
    )


def _printed_entry(printed: dict, kind: str, t: int | None, T: int, head: str) -> tuple[np.ndarray | None, str]:
    """(as-printed value or None, short reason when None) for one quantity."""
    if head != "softmax":
        return None, "n/a (linear head)"
    if kind in ("b", "c"):
        return None, "not in the lecture"
    value = printed[kind]
    if isinstance(value, PrintedFormulaError):
        if kind == "h" and t == T:
            return printed["h_T"], ""
        return None, "does not type-check"
    return (value if t is None else value[t - 1]), ""


def _explain(report: Report, arrays: dict, printed: dict, exact_tol: float, numeric_tol: float) -> list[str]:
    """Plain-words explanation of every disagreement in the report."""
    out = []
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
    return out + _printed_story(report, arrays)


def _printed_story(report: Report, arrays: dict) -> list[str]:
    """What the printed section 2.4 gets wrong on this problem, and why, in plain words."""
    out = []
    s = report.sizes
    T, D, H = s["T"], s["D"], s["H"]
    wrong = [r for r in report.rows if r.printed_verdict == "WRONG"]
    untyped = [r for r in report.rows if r.printed_verdict == "does not type-check"]
    if wrong or untyped:
        out.append(
            lecture.SWAP + ". Corrected: ∇_{h_t}L = U^T diag(1−h_{t+1}²) ∇_{h_{t+1}}L + V^T ∇_{o_t}L, ∇_W L = Σ_t "
            "diag(1−h_t²) ∇_{h_t}L x_t^T, ∇_U L = Σ_t diag(1−h_t²) ∇_{h_t}L h_{t−1}^T."
        )
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
