"""One problem, one student answer: which quantity is wrong, at which step, and which known mistake it is.

`judge(truth, out)` reads what a student's BPTT returned on one problem and checks ∇o_t, then ∇h_t from t = T down
to 1, then the sums. A step is *wrong* only when the student's number is neither the lecture's nor what the
corrected equation gives when fed the student's own ∇o_t and ∇h_{t+1} (then it merely *follows* from an error
found earlier in the backward pass). A wrong number is matched against `mistakes`' catalogue, evaluated on the
true per-step quantities and on the student's own; the same mistake made again at later steps joins its finding.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import textwrap
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_rnn.annotations import Annotation, Annotations
from tinygrad_rnn.fmt import norm, num, shape_text
from tinygrad_rnn.mistakes import (
    CORRECT,
    H_STEP,
    KEYS,
    O_STEP,
    SUMS,
    Ctx,
    Truth,
    h_step,
    sum_mistakes,
    sum_terms,
    sum_value,
    variants,
)
from tinygrad_rnn.report import CHECK_COLOURS

__all__ = [
    "TOL",
    "Finding",
    "Node",
    "Result",
    "judge",
    "raised",
    "close",
    "read",
    "run_quietly",
    "where",
    "raised_finding",
    "EXERCISE_COLOURS",
    "node_annotation",
    "annotate",
]

TOL = 1e-8  # relative: two exact computations of the same formula agree to ~1e-14; a different formula does not


@dataclass
class Finding:
    """One thing wrong: the quantity ("W", …, "h", "o", "h0"; None for the return value as a whole), the 1-based
    step t it was found at (None for a sum), the catalogue kind, and the message in plain words."""

    quantity: str | None
    t: int | None
    kind: str
    message: str
    problem: str = ""
    steps: list[int] = field(default_factory=list)  # every step with the same mistake (t first)
    also_on: list[str] = field(default_factory=list)  # other problems where it was found too
    alternatives: list[str] = field(default_factory=list)  # other kinds that give the same numbers on its problem

    def where(self) -> str:
        what = "the return value" if self.quantity is None else f"∇{self.quantity}"
        if self.quantity in ("h", "o") or (self.quantity is not None and self.t is not None):
            what = f"∇{self.quantity}_t" + (f" at t = {self.t}" if self.t is not None else "")
        return what

    def __str__(self) -> str:
        also = f"; also on {', '.join(self.also_on)}" if self.also_on else ""
        head = f"{self.where()} — {self.kind}   (problem {self.problem}{also})"
        body = [
            textwrap.fill(line, 116, initial_indent="    ", subsequent_indent="             ")
            for line in self.message.splitlines()
        ]
        return "\n".join([head, *body])


@dataclass
class Node:
    """One node of the unrolled graph: status "ok", "wrong", "follows" (right given the student's own inputs),
    "not given", "unreadable" or "raised"; the student's value and the lecture's."""

    status: str
    yours: np.ndarray | None
    lecture: np.ndarray
    rel_err: float | None = None
    kind: str | None = None


@dataclass
class Result:
    """The judgement of one problem: findings, the nodes by graph name (h_1, o_1, W, …, h_0), the keys given."""

    truth: Truth
    findings: list[Finding]
    nodes: dict[str, Node]
    given: tuple[str, ...] = ()


def close(a: np.ndarray, b: np.ndarray, scale: float) -> bool:
    """Same shape and max|a − b| ≤ TOL · scale."""
    return a.shape == b.shape and (a.size == 0 or float(np.max(np.abs(a - b))) <= TOL * scale)


def _rel(a: np.ndarray | None, b: np.ndarray, scale: float) -> float | None:
    if a is None or a.shape != b.shape:
        return None
    return float(np.max(np.abs(a - b))) / scale if a.size else 0.0


def _msg(yours: str, lecture: str, differs: str) -> str:
    return f"yours:   {yours}\nlecture: {lecture}\ndiffers: {differs}"


def _scale_hint(k: float, p: Truth) -> str:
    named = [(1 / p.T, "1/T"), (2.0, "2"), (0.5, "1/2"), (float(p.T), "T")]
    named += [(1 / p.B, "1/B"), (1 / (p.T * p.B), "1/(T·B)")] if p.B > 1 else []
    for value, name in named:
        if abs(k - value) <= 1e-6 * abs(value):
            mean = " — a mean where the lecture's L = Σ_t L_t sums?" if name.startswith("1/") else ""
            return f" = {name}{mean}"
    return ""


def _generic(
    p: Truth, s: np.ndarray, values: list[np.ndarray], scale: float, transposed: bool
) -> tuple[str, str, str, float | None] | None:
    """transposed / wrong_sign / scaled of a corrected value (one per context): (kind, says, differs, k)."""
    for v in values:
        if transposed and v.ndim == 2 and v.shape[0] != 1 and close(s, v.T, scale):
            return (
                "transposed",
                "(the lecture's)^T",
                f"transposed: the gradient has the shape of the parameter, {shape_text(v.shape)}",
                None,
            )
        if close(s, -v, scale) and np.any(v):
            return "wrong_sign", "−(the lecture's)", "the sign is flipped: a gradient points to where L grows", None
        vv = float(np.sum(v * v))
        if s.shape == v.shape and vv > 0:
            k = float(np.sum(s * v)) / vv
            if abs(k - 1) > 1e-6 and abs(k) > 1e-6 and close(s, k * v, scale):
                return (
                    "scaled",
                    f"{num(k, 6)} × (the lecture's)",
                    f"off by the factor {num(k, 6)}{_scale_hint(k, p)}",
                    k,
                )
    return None


# ---- reading what the function returned ------------------------------------------------------------------------


def run_quietly(fn: Callable, *args: Any) -> tuple[Any, BaseException | None, int]:
    """fn(*args) with its printing and warnings held back: (value, the exception it raised or None, lines printed).
    SystemExit counts as raising: a student's sys.exit() must not end the checker."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return fn(*args), None, out.getvalue().count("\n")
        except (Exception, SystemExit) as e:
            return None, e, out.getvalue().count("\n")


def where(e: BaseException) -> str:
    """(in file.py, line 12: `dh = W.T @ dh`) — the deepest frame of the traceback outside numpy and this package."""
    here = Path(__file__).resolve().parent
    frames = [
        f
        for f in traceback.extract_tb(e.__traceback__)
        if "numpy" not in Path(f.filename).parts and Path(f.filename).resolve().parent != here
    ]
    if not frames:
        return ""
    f = frames[-1]
    code = f" `{f.line.strip()}`" if f.line else ""
    return f" (in {Path(f.filename).name}, line {f.lineno}:{code})"


def _expected(q: str, p: Truth) -> tuple[int, ...]:
    lead = (p.T, p.B) if p.batched else (p.T,)
    return {
        "W": (p.H, p.D), "U": (p.H, p.H), "V": (p.K, p.H), "b": (p.H,), "c": (p.K,),
        "h": lead + (p.H,), "o": lead + (p.K,), "h0": (p.B, p.H) if p.batched else (p.H,),
    }[q]  # fmt: skip


def _array(value: Any) -> np.ndarray:
    """A returned value as float64 numbers; ValueError saying why not."""
    value = value.data if isinstance(getattr(value, "data", None), np.ndarray) else value
    try:
        arr = np.asarray(value)
        if arr.dtype == object:
            arr = arr.astype(np.float64)
    except (ValueError, TypeError) as e:
        raise ValueError(f"it cannot be read as an array of numbers ({type(value).__name__}: {e})") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"it holds {arr.dtype} values, not real numbers ({type(value).__name__})")
    return arr.astype(np.float64)


def read(out: Any, keys: Sequence[str] = KEYS) -> tuple[dict[str, np.ndarray], list[Finding]]:
    """The returned dict's arrays by key (None values: not given) and findings for what cannot be read."""
    if not isinstance(out, Mapping):
        text = f"it returned {type(out).__name__} {_short(out)}, not a dict"
        want = f"a dict with any of the keys {', '.join(keys)}"
        return {}, [Finding(None, None, "wrong_shape", _msg(text, want, "the return type"))]
    arrays, findings = {}, []
    try:
        items = list(out.items())
    except Exception as e:  # a Mapping whose items() fails: the student's own class
        return {}, [Finding(None, None, "wrong_shape", f"its items could not be read: {type(e).__name__}: {e}")]
    for key, value in items:
        if key not in keys:
            guess = next((k for k in keys if str(key).strip("d_∇").replace("grad", "").strip("_") == k), None)
            hint = f" (did you mean {guess!r}?)" if guess else ""
            text = f"returned the key {key!r}, which is not one of {', '.join(keys)}{hint}; it was not checked"
            findings.append(Finding(None, None, "unknown", text + ". Return only these keys."))
            continue
        if value is None:
            continue
        try:
            arrays[key] = _array(value)
        except ValueError as e:
            findings.append(Finding(key, None, "wrong_shape", f"∇{key} is returned, but {e}"))
    if not arrays and not findings:
        findings.append(
            Finding(None, None, "unknown", f"it returned none of the keys {', '.join(keys)}: nothing to check")
        )
    return arrays, findings


def _short(x: Any) -> str:
    text = " ".join(repr(x).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _layout(q: str, a: np.ndarray, p: Truth) -> tuple[np.ndarray | None, Finding | None]:
    """∇h or ∇o in xs's layout → padded batch layout (T+2, B, n); or a finding for the wrong shape or layout."""
    want = _expected(q, p)
    true = (p.g if q == "h" else p.go)[1 : p.T + 1]
    true = true if p.batched else true[:, 0]
    if a.shape == want:
        s = a if p.batched else a[:, None]
        z = np.zeros_like(s[:1])
        return np.concatenate([z, s, z]), None
    for perm in itertools.permutations(range(len(want))):
        v = true.transpose(perm)
        if perm != tuple(range(len(want))) and close(a, v, max(p.scale, 1e-300)):
            axes = "×".join("TBn"[i] if p.batched else "Tn"[i] for i in perm).replace("n", "H" if q == "h" else "K")
            msg = _msg(
                f"∇{q}_t laid out as {axes}, shape {shape_text(a.shape)}",
                f"time first, shape {shape_text(want)}",
                "the axes are transposed (the numbers are right)",
            )
            return None, Finding(q, None, "transposed", msg)
    hint = ""
    if a.ndim == len(want) and a.shape[1:] == want[1:] and a.shape[0] == p.T + 1:
        hint = f" — T+1 = {p.T + 1} steps: ∇h_0 belongs under 'h0', 'h' holds t = 1..T"
    elif a.size == int(np.prod(want)):
        hint = " — the right number of entries, arranged differently"
    return None, Finding(
        q, None, "wrong_shape", _msg(f"shape {shape_text(a.shape)}", f"shape {shape_text(want)}{hint}", "the shape")
    )


# ---- judging -----------------------------------------------------------------------------------------------------


def judge(p: Truth, out: Any) -> Result:
    """Every quantity of one problem: findings and the status of every node."""
    arrays, findings = read(out)
    nodes: dict[str, Node] = {}
    steps: dict[str, np.ndarray | None] = {"o": None, "h": None}
    for q in ("o", "h"):
        if q in arrays:
            if not np.all(np.isfinite(arrays[q])):
                findings.append(_not_finite(q, arrays[q], p))
            else:
                steps[q], f = _layout(q, arrays[q], p)
                findings += [f] if f else []
    own_go = steps["o"] if steps["o"] is not None else p.go
    own_g = steps["h"] if steps["h"] is not None else p.g
    findings += _per_step("o", p, steps["o"], [p.true], nodes)
    ctxs = [Ctx(own_go, own_g, own=True), Ctx(p.go, own_g, own=True), p.true]
    findings += _per_step("h", p, steps["h"], ctxs, nodes)
    given_steps = steps["o"] is not None or steps["h"] is not None
    own = Ctx(own_go, np.concatenate([p.g[:1], own_g[1:]]), own=True) if given_steps else None
    extra = variants(p) if steps["h"] is None else []
    for q in (*SUMS, "h0"):
        findings += _judge_sum(q, p, arrays.get(q), own, extra, nodes)
    for q in ("o", "h"):
        if q in arrays and steps[q] is None:
            _mark(q, p, nodes, "unreadable", arrays[q])
        elif q not in arrays:
            _mark(q, p, nodes, "not given")
    return Result(p, findings, nodes, tuple(q for q in KEYS if q in arrays))


def _mark(q: str, p: Truth, nodes: dict, status: str, given: np.ndarray | None = None) -> None:
    for t in range(1, p.T + 1):
        true = (p.g if q == "h" else p.go)[t]
        nodes[f"{q}_{t}"] = Node(status, None, true if p.batched else true[0])


def _not_finite(q: str, a: np.ndarray, p: Truth) -> Finding:
    if q in ("h", "o") and a.ndim >= 1 and len(a) == p.T:
        bad = [t for t in range(p.T, 0, -1) if not np.all(np.isfinite(a[t - 1]))]
        return Finding(q, bad[0], "not_finite", f"∇{q}_t holds NaN or inf at t = {', '.join(map(str, bad))}", steps=bad)
    return Finding(q, None, "not_finite", f"∇{q} holds NaN or inf ({int(np.sum(~np.isfinite(a)))} of {a.size} entries)")


def raised_finding(error: BaseException) -> Finding:
    """The finding for a function that raised: the exception's first line and where in the student's code."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    first = first if len(first) <= 240 else first[:237] + "..."
    text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return Finding(None, None, "raised", f"your function raised {text}{where(error)}")


def raised(p: Truth, error: BaseException) -> Result:
    """The result of a problem on which the function raised: one finding, every node marked."""
    nodes: dict[str, Node] = {}
    for q in ("o", "h"):
        _mark(q, p, nodes, "raised")
    for q in (*SUMS, "h0"):
        nodes["h_0" if q == "h0" else q] = Node("raised", None, sum_value(q, p, p.true))
    return Result(p, [raised_finding(error)], nodes)


# the fill of a node by what a check found there: the colours of the lecture comparison's picture
EXERCISE_COLOURS = {
    "ok": (CHECK_COLOURS["ok"][0], "yours = the right gradient"),
    "wrong": (CHECK_COLOURS["wrong"][0], "wrong: the error is made here"),
    "follows": (CHECK_COLOURS["close"][0], "wrong only because its inputs are (its own equation is right)"),
    "unreadable": (CHECK_COLOURS["does not type-check"][0], "wrong shape or not finite"),
    "raised": (CHECK_COLOURS["does not type-check"][0], "your function raised"),
    "not given": (CHECK_COLOURS["not in the lecture"][0], "not given"),
}


def node_annotation(node: Node, reference: str = "lecture") -> Annotation:
    """A node's rows for the drawing — yours ‖·‖, the reference's ‖·‖, relative error and kind — and its fill."""
    yours = "yours: —" if node.yours is None else f"yours ‖·‖ {num(norm(node.yours), 4)}"
    rel = "" if node.rel_err is None else f"rel. error {num(node.rel_err, 2)}  "
    rows = (
        (yours, "#212529"),
        (f"{reference} ‖·‖ {num(norm(node.lecture), 4)}", "#212529"),
        (f"{rel}{node.kind or node.status}", "#212529"),
    )
    return Annotation(rows, EXERCISE_COLOURS[node.status][0], node.status)


def annotate(nodes: dict[str, Node], heading: str, reference: str = "lecture") -> Annotations:
    """Annotations of every node, and the legend of the statuses used."""
    used = {node.status for node in nodes.values()}
    legend = tuple(EXERCISE_COLOURS[s] for s in EXERCISE_COLOURS if s in used)
    return Annotations({n: node_annotation(node, reference) for n, node in nodes.items()}, legend, heading)


def _step_eq(q: str, t: int, T: int) -> str:
    """The corrected equation of ∇h_t or ∇o_t at step t, with the step numbers filled in."""
    if q == "o":
        return f"∇o_{t} = ŷ_{t} − y_{t}"
    return f"∇h_{t} = V^T ∇o_{t}" + (f" + U^T diag(1 − h_{t + 1}²) ∇h_{t + 1}" if t < T else "   (t = T: no ∇h_{T+1})")


def _step_matches(q: str, p: Truth, st: np.ndarray, t: int, ctxs: list[Ctx], scale: float) -> Iterator[tuple]:
    """Every mistake that gives the student's ∇q_t: (kind, says, differs, value function), catalogue order."""
    true = (p.g if q == "h" else p.go)[t]
    for m in H_STEP if q == "h" else O_STEP:
        if not m.needs(p):
            continue
        for c in ctxs:
            v = m.value(p, c, t)
            if close(st, v, scale) and not close(v, true, scale):
                yield m.kind, m.says(t, p.T), m.differs, (lambda c, t, m=m: m.value(p, c, t))
                break
    correct = (lambda c, t: h_step(p, c, t)) if q == "h" else (lambda c, t: p.go[t])
    found = _generic(p, st, [correct(c, t) for c in ctxs], scale, transposed=False)
    if found is not None:
        kind, says, differs, k = found
        fn = (lambda c, t: -correct(c, t)) if k is None else (lambda c, t: k * correct(c, t))
        yield kind, f"∇{q}_{t} = {says}", differs, fn


def _first(matches: Iterable[tuple]) -> tuple[Any, list[str]]:
    """The first match and the other kinds that give the same numbers on this problem."""
    found = list(matches)
    if not found:
        return None, []
    return found[0], [m[0] for m in found[1:] if m[0] != found[0][0]]


def _near(err: float, scale: float) -> str:
    """A note when a wrong number is close: float32 arithmetic (or numbers rounded) rather than a wrong formula."""
    rel = err / scale
    return (
        f" — close though (relative error {num(rel, 2)}): float32 arithmetic, or rounded numbers?" if rel < 1e-4 else ""
    )


def _unknown_step(q: str, p: Truth, st: np.ndarray, t: int, scale: float) -> str:
    """The message of a wrong step that matches no mistake: the largest error and the terms that are right."""
    true = (p.g if q == "h" else p.go)[t]
    b, i = np.unravel_index(int(np.argmax(np.abs(st - true))), st.shape)
    at = f"component {i}" + (f" of sequence {b}" if p.batched else "")
    if q == "h":
        parts = f"V^T ∇o_{t} = {num((p.go[t] @ p.V)[b, i], 6)}"
        if t < p.T:
            parts += f", U^T diag(1 − h_{t + 1}²) ∇h_{t + 1} = {num(((p.d[t + 1] * p.g[t + 1]) @ p.U)[b, i], 6)}"
    else:
        parts = f"ŷ_{t} = {num(p.yhat[t][b, i], 6)}, y_{t} = {num(p.y[t][b, i], 6)}"
    return _msg(
        f"∇{q}_{t} matches none of the catalogue's mistakes",
        _step_eq(q, t, p.T),
        f"largest error at {at}: yours {num(st[b, i], 6)}, lecture {num(true[b, i], 6)}; the terms that would "
        f"have been right there (given the true later steps): {parts}{_near(float(np.abs(st - true).max()), scale)}",
    )


def _per_step(q: str, p: Truth, s: np.ndarray | None, ctxs: list[Ctx], nodes: dict) -> list[Finding]:
    """∇o_t or ∇h_t from t = T down to 1; a mistake repeated at later steps joins the finding where it started."""
    if s is None:
        return []
    true = p.g if q == "h" else p.go
    lay = (lambda a: a) if p.batched else (lambda a: a[0])
    scale = max(float(np.abs(true[1 : p.T + 1]).max()), 1e-3 * p.scale)
    if p.T > 1 and close(s[1 : p.T + 1], true[p.T : 0 : -1], scale):
        for t in range(1, p.T + 1):
            nodes[f"{q}_{t}"] = Node("wrong", lay(s[t]), lay(true[t]), _rel(s[t], true[t], scale), "unknown")
        what = f"your ∇{q}_1 is the lecture's ∇{q}_{p.T}: the steps are in reverse order (a list built backwards?)"
        return [Finding(q, p.T, "unknown", _msg(what, f"row t − 1 holds ∇{q}_t, t = 1..T", "the order of the steps"))]
    findings: list[Finding] = []
    current = None  # (finding, value function; None for "unknown")
    for t in range(p.T, 0, -1):
        st, rel = s[t], _rel(s[t], true[t], scale)
        if close(st, true[t], scale):
            nodes[f"{q}_{t}"] = Node("ok", lay(st), lay(true[t]), rel)
            continue
        if q == "h" and any(close(st, h_step(p, c, t), scale) for c in ctxs if c.own):
            nodes[f"{q}_{t}"] = Node("follows", lay(st), lay(true[t]), rel)
            continue
        if current and current[1] and any(close(st, current[1](c, t), scale) for c in ctxs):
            current[0].steps.append(t)
        else:
            match, others = _first(_step_matches(q, p, st, t, ctxs, scale))
            if match is None and current and current[1] is None:
                current[0].steps.append(t)
            else:
                kind, says, differs, fn = match or ("unknown", None, None, None)
                text = (
                    _unknown_step(q, p, st, t, scale) if says is None else _msg(says, _step_eq(q, t, p.T), str(differs))
                )
                current = (Finding(q, t, kind, text, steps=[t], alternatives=others), fn)
                findings.append(current[0])
        nodes[f"{q}_{t}"] = Node("wrong", lay(st), lay(true[t]), rel, current[0].kind)
    for f in findings:
        if len(f.steps) > 1:
            fed = f" (each step given your own ∇{q}_{{t+1}})" if q == "h" else ""
            f.message += f"\nagain at t = {', '.join(map(str, f.steps[1:]))}{fed}"
    return findings


def _sum_unknown(q: str, p: Truth, s: np.ndarray, correct: np.ndarray, scale: float) -> str:
    idx = np.unravel_index(int(np.argmax(np.abs(s - correct))), s.shape)
    at = f"element {tuple(int(i) for i in idx)}" if s.ndim > 1 else f"entry {int(idx[0])}"
    if q == "h0":
        terms = "there is one term, U^T diag(1 − h_1²) ∇h_1"
    else:
        per = sum_terms(q, p, p.true)[(slice(None),) + tuple(idx)]
        terms = ", ".join(f"t={t}: {num(v, 6)}" for t, v in enumerate(per, start=1))
        terms = f"the per-step terms there that would have been right: {terms} (sum {num(per.sum(), 6)})"
    return _msg(
        f"∇{q} matches none of the catalogue's mistakes",
        CORRECT[q],
        f"largest error at {at}: yours {num(s[idx], 6)}, lecture {num(correct[idx], 6)}; {terms}"
        + _near(float(np.abs(s - correct).max()), scale),
    )


def _sum_matches(
    q: str, p: Truth, s: np.ndarray, own: Ctx | None, extra: list[Ctx], adapt: Callable, scale: float
) -> Iterator[tuple[str, str, str]]:
    """Every mistake whose value is the student's ∇q: (kind, says, differs), catalogue order."""
    correct = adapt(sum_value(q, p, p.true))
    ctxs = [p.true] + ([own] if own is not None else [])
    for m in sum_mistakes(q, p):
        if m.needs(p):
            for c in ctxs:
                v = adapt(m.value(p, c))
                if not np.any(v) and m.kind == "missing_sum_over_t":
                    continue  # the term of t = 1 of ∇U is zero (h_0 = 0): "only that term" explains nothing
                if close(s, v, scale) and not close(v, correct, scale):
                    yield m.kind, m.says + ("   (computed from your own ∇h_t and ∇o_t)" if c.own else ""), m.differs
                    break
    for c in extra:
        if close(s, adapt(sum_value(q, p, c)), scale):
            says = f"{CORRECT[q]}, with ∇h_t from the recursion {c.says} (∇h_t is not returned: your ∇{q} implies it)"
            yield str(c.kind), says, c.differs
    found = _generic(p, s, [adapt(sum_value(q, p, c)) for c in ctxs], scale, transposed=True)
    if found is not None:
        yield found[0], f"∇{q} = {found[1]}", found[2]


def _judge_sum(q: str, p: Truth, s: np.ndarray | None, own: Ctx | None, extra: list[Ctx], nodes: dict) -> list[Finding]:
    """∇W, ∇U, ∇V, ∇b, ∇c or ∇h_0: right, right given the student's own ∇h_t (follows), or which mistake."""
    name = "h_0" if q == "h0" else q
    true = sum_value(q, p, p.true)
    shown = true if q != "h0" or p.batched else true[0]
    if s is None:
        nodes[name] = Node("not given", None, shown)
        return []
    if not np.all(np.isfinite(s)):
        nodes[name] = Node("unreadable", s, shown, None, "not_finite")
        return [_not_finite(q, s, p)]
    adapt = (lambda v: v.sum(axis=0) if s.shape == v.shape[1:] else v) if q == "h0" else (lambda v: v)
    correct = adapt(true)
    scale = max(float(np.abs(true).max()), 1e-3 * p.scale)
    rel = _rel(s, correct, scale)
    if close(s, correct, scale):
        nodes[name] = Node("ok", s, shown, rel)
        return []
    if own is not None and close(s, adapt(sum_value(q, p, own)), scale):
        nodes[name] = Node("follows", s, shown, rel)
        return []
    match, others = _first(_sum_matches(q, p, s, own, extra, adapt, scale))
    if match is not None:
        kind, says, differs = match
        message = _msg(says, CORRECT[q], differs)
    elif s.shape != correct.shape:
        kind, message = (
            "wrong_shape",
            _msg(
                f"∇{q} of shape {shape_text(s.shape)}",
                f"{CORRECT[q]}, shape {shape_text(_expected(q, p))}",
                _shape_hint(q, s, p),
            ),
        )
    else:
        kind, message = "unknown", _sum_unknown(q, p, s, correct, scale)
    nodes[name] = Node("wrong" if s.shape == correct.shape else "unreadable", s, shown, rel, kind)
    return [Finding(q, None, kind, message, alternatives=others)]


def _shape_hint(q: str, s: np.ndarray, p: Truth) -> str:
    want = _expected(q, p)
    if len(want) == 1 and s.shape in ((want[0], 1), (1, want[0])):
        kind = "column" if s.shape[1] == 1 else "row"
        return f"a {kind} {shape_text(s.shape)} where the vector {shape_text(want)} belongs"
    others = {"W": (p.H, p.D), "U": (p.H, p.H), "V": (p.K, p.H)}
    for name, shape in others.items():
        if name != q and s.shape == shape:
            return f"the shape of ∇{name}: a gradient has the shape of its parameter, {q} is {shape_text(want)}"
    return f"the shape: a gradient has the shape of its parameter, {shape_text(want)}"
