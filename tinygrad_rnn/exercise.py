"""A student's own BPTT checked: which equation of section 2.4 is wrong, at which step, and which known mistake it is.

    check = check_bptt(my_bptt)      # my_bptt(W, U, V, b, c, xs, ys, h0=None) -> {"W": …, "h": …, …}
    print(check)                     # the report; check.ok, check.findings, check.smallest, check.annotations()
    assert_bptt_correct(my_bptt)     # for an autograder: AssertionError whose message is the report

The function is called on several problems (D ≠ H, D = H, T = 1, a batch) and every quantity it returns is compared
with the lecture's corrected formulas (`lecture.bptt_gradients`): ∇o_t first, then ∇h_t from t = T down to 1 — a
step is blamed only when its own equation is wrong, given the student's ∇o_t and ∇h_{t+1} — then ∇W, ∇U, ∇V, ∇b, ∇c
and ∇h_0 (`localise`). A wrong number is named by the catalogue of known mistakes (`mistakes.KINDS`). The smallest
problem that still fails is found and shown with its numbers. Whatever the function does — raise, print, return a
list, NaN, wrong shapes, extra keys — ends up as a finding, never as a traceback.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_rnn.annotations import Annotations
from tinygrad_rnn.fmt import array_text
from tinygrad_rnn.localise import (
    EXERCISE_COLOURS,
    TOL,
    Finding,
    Result,
    annotate,
    judge,
    raised,
    run_quietly,
    where,
)
from tinygrad_rnn.mistakes import KEYS, KINDS, Problem, Truth
from tinygrad_rnn.modelcheck import GradientCheck, check_gradients

__all__ = [
    "KINDS",
    "KEYS",
    "EXERCISE_COLOURS",
    "Finding",
    "Problem",
    "Smallest",
    "BPTTCheck",
    "check_bptt",
    "assert_bptt_correct",
    "default_problems",
    "make_problem",
    "check_gradients",
    "GradientCheck",
    "FunctionSpecError",
    "load_function",
    "run_check_mine",
    "draw_check",
]


def make_problem(T: int, D: int, H: int, K: int, B: int | None = None, *, seed: int = 0, name: str = "") -> Problem:
    """A random lecture problem: W, U, V with variance ~1/fan-in, nonzero biases, xs ~ N(0, 1), class indices ys."""
    rng = np.random.default_rng([seed, T, B or 0, D, H, K])
    lead = (T,) if B is None else (T, B)
    return Problem(
        W=rng.normal(0.0, 1.0 / np.sqrt(D), (H, D)),
        U=rng.normal(0.0, 0.9 / np.sqrt(H), (H, H)),
        V=rng.normal(0.0, 1.0 / np.sqrt(H), (K, H)),
        b=rng.normal(0.0, 0.5, H),
        c=rng.normal(0.0, 0.5, K),
        xs=rng.normal(0.0, 1.0, (*lead, D)),
        ys=rng.integers(0, K, lead),
        name=name or f"T={T}, D={D}, H={H}, K={K}" + ("" if B is None else f", B={B}"),
    )


def default_problems(seed: int = 0) -> list[Problem]:
    """The problems a function is checked on. D ≠ H makes a W/U swap a shape error and T ≠ H, K tells a transposed
    ∇h or ∇o; D = H lets a swap type-check, so its numbers show which mistake it is; T = 1 has no recursion at all;
    a batch checks the (T, B, ·) layout. Every size differs from the others where it can, so the catalogue's
    candidates differ from each other (tests/test_exercise.py checks that they do)."""
    return [
        make_problem(4, 3, 5, 2, seed=seed, name="'D ≠ H'"),
        make_problem(3, 4, 4, 5, seed=seed, name="'D = H'"),
        make_problem(1, 2, 3, 4, seed=seed, name="'T = 1'"),
        make_problem(3, 2, 4, 5, B=2, seed=seed, name="'batched'"),
    ]


# the sizes tried when shrinking, smallest first: unbatched (T, D, H), then small batches; K = 2 throughout
_SHRINK = sorted(((T, D, H) for T in (1, 2, 3) for D in (1, 2, 3) for H in (1, 2, 3)), key=lambda s: (sum(s), s))
_SHRINK_BATCHED = ((1, 1, 1), (2, 1, 2), (3, 2, 3))


# ---- running the student's function -------------------------------------------------------------------------------


@dataclass
class _Run:
    result: Result
    printed: int = 0


def _call(fn: Callable, p: Problem, truth: Truth) -> _Run:
    """fn on fresh copies of p's arrays, quietly; what it raised becomes a finding."""
    value, error, printed = run_quietly(fn, *p.args())
    if error:
        return _Run(raised(truth, error), printed)
    with np.errstate(all="ignore"):  # a wrong answer may hold anything (1e300, say): the diagnosis meets inf quietly
        return _Run(judge(truth, value), printed)


def _run_all(fn: Callable, problems: Sequence[Problem]) -> tuple[list[Result], int]:
    results, printed = [], 0
    for p in problems:
        run = _call(fn, p, Truth(p))
        for f in run.result.findings:
            f.problem = p.name
        results.append(run.result)
        printed += run.printed
    return results, printed


_PRINTED_NOTE = (
    "With the other findings marked as_printed this is section 2.4 as printed: it names the recurrent matrix W and "
    "the input matrix U, the reverse of the forward equation h_t = tanh(b + W x_t + U h_{t−1}) (see lecture.SWAP)."
)


def _as_printed(results: list[Result], also: Sequence[Result] = ()) -> None:
    """A swap made in the ∇h recursion, in ∇W and in ∇U on one problem is the printed section 2.4: relabel it
    there, on every other problem and in `also` (the smallest problem)."""

    def printed(r: Result) -> bool:
        kinds = {(f.quantity, f.kind) for f in r.findings}
        rec = ("h", "swapped_W_U") in kinds or ("h", "as_printed") in kinds
        return rec and ("W", "swapped_W_U") in kinds and ("U", "swapped_W_U") in kinds

    if not any(printed(r) for r in results):
        return
    for r in [*results, *also]:
        for f in r.findings:
            if f.kind == "swapped_W_U" and f.quantity in ("h", "W", "U", "h0"):
                f.kind, f.message = "as_printed", f.message + "\n" + _PRINTED_NOTE
        for node in r.nodes.values():
            node.kind = "as_printed" if node.kind == "swapped_W_U" else node.kind


def _merge(results: list[Result]) -> list[Finding]:
    """One finding per (quantity, kind), kept from the first problem it was found on, the others in `also_on`."""
    findings: list[Finding] = []
    for r in results:
        for f in r.findings:
            same = next((g for g in findings if _same(g, f)), None)
            if same is None:
                findings.append(f)
            elif same.alternatives and not f.alternatives and f.kind in same.alternatives:
                f.also_on = [*same.also_on, same.problem]  # an unambiguous problem names the mistake
                findings[findings.index(same)] = f
            else:
                same.also_on.append(f.problem)
    ran_square = any(r.truth.square and not _raised(r) for r in results)
    for f in findings:
        r = next(r for r in results if r.truth.problem.name == f.problem)
        shapes = any(w in f.message for w in ("shape", "dimension", "broadcast", "align"))
        if f.kind == "raised" and "raised ValueError" in f.message and shapes and not r.truth.square and ran_square:
            f.message += (
                "\nIt raised only where D ≠ H, and ran where D = H: a shape error there usually means W (H×D) and "
                "U (H×H) are exchanged somewhere — see the findings on the D = H problem."
            )
    return findings


def _same(a: Finding, b: Finding) -> bool:
    """The same finding on two problems: same quantity and kind (or a kind that gives the same numbers there)."""
    if a.quantity != b.quantity:
        return False
    if a.quantity is None and "unknown" in (a.kind, b.kind):
        return a.message == b.message
    return a.kind == b.kind or a.kind in b.alternatives or b.kind in a.alternatives


def _raised(r: Result) -> bool:
    return any(f.kind == "raised" for f in r.findings)


# ---- the check ---------------------------------------------------------------------------------------------------


@dataclass
class Smallest:
    """The smallest problem on which the function still fails, and what it got there, side by side."""

    problem: Problem
    result: Result

    @property
    def sizes(self) -> dict[str, int]:
        return self.problem.sizes

    def __str__(self) -> str:
        p = self.problem
        lines = [f"Smallest failing problem: fails already at {p.describe()}"]
        arrays = "   ".join(f"{n} = {array_text(getattr(p, n), 8)}" for n in ("W", "U", "V", "b", "c"))
        lines += [f"  {arrays}", f"  xs = {array_text(p.xs, 12)}   ys = {array_text(p.ys, 12)}"]
        if _raised(self.result) or all(n.status == "not given" for n in self.result.nodes.values()):
            return "\n".join([*lines, f"  {self.result.findings[0].message}"])
        lines.append(f"  {'node':<6}{'yours':<30}lecture (corrected)")
        for name, node in self.result.nodes.items():
            if node.status == "not given":
                continue
            yours = "—" if node.yours is None else _numbers(node.yours)
            mark = "" if node.status == "ok" else node.status.upper() + (f" ({node.kind})" if node.kind else "")
            lines.append(f"  {name:<6}{yours:<30}{_numbers(node.lecture):<30}{mark}".rstrip())
        return "\n".join(lines)


def _numbers(a: np.ndarray) -> str:
    """The numbers of a small array (`fmt.array_text`), or its shape when it has none."""
    return array_text(a, 8) if a.size else f"empty, shape {a.shape}"


@dataclass
class BPTTCheck:
    """What `check_bptt` found: `ok`, the `findings` (empty when ok), the `smallest` failing problem, every problem's
    `results` (nodes by graph name), and `str(check)`, the report."""

    findings: list[Finding]
    results: list[Result]
    smallest: Smallest | None = None
    printed: int = 0
    required: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def problems(self) -> list[Problem]:
        return [r.truth.problem for r in self.results]

    def __str__(self) -> str:
        return _format(self)

    def result(self, problem: int | str | None = None) -> Result:
        """One problem's result: by index, "smallest", or None — the problem of the first finding on a quantity."""
        if problem == "smallest":
            return self.smallest.result if self.smallest else self.result(None)
        if isinstance(problem, int):
            return self.results[problem]
        for f in sorted(self.findings, key=lambda f: f.quantity is None):
            return next(r for r in self.results if r.truth.problem.name == f.problem)
        return self.results[0]

    def annotations(self, problem: int | str | None = None) -> Annotations:
        """For the drawing of that problem's unrolled graph (`graph`): every node with a lecture quantity (W, …, c,
        h_0, h_t, o_t) gets your ‖·‖, the lecture's ‖·‖, the relative error and the kind; filled by its status."""
        r = self.result(problem)
        return annotate(r.nodes, f"your BPTT vs the lecture, problem {r.truth.problem.name}")

    def graph(self, problem: int | str | None = None) -> Any:
        """The loss node of that problem's unrolled lecture RNN after backward — the graph `annotations` colours."""
        from tinygrad_rnn.rnn import RNN

        p = self.result(problem).truth.problem
        rnn = RNN.from_arrays(W=p.W, U=p.U, V=p.V, b=p.b, c=p.c)
        loss = rnn.loss(p.xs, p.ys)
        loss.backward()
        return loss


def _problems(problems: Iterable[Any] | None, seed: int) -> list[Problem]:
    if problems is None:
        return default_problems(seed)
    out = []
    for i, item in enumerate(problems, start=1):
        if isinstance(item, Problem):
            out.append(item)
            continue
        if not isinstance(item, (tuple, list)) or len(item) != 7:
            raise TypeError(f"check_bptt: problem {i} must be a tuple (W, U, V, b, c, xs, ys), got {type(item)}")
        W, U, V, b, c, xs, ys = (np.asarray(a) for a in item)
        out.append(Problem(W, U, V, b, c, xs, ys, name=f"{i}"))
    for p in out:
        try:
            Truth(p)
        except ValueError as e:
            raise ValueError(f"check_bptt: problem {p.name} is not a problem of the lecture's RNN: {e}") from None
    return out


def check_bptt(
    fn: Callable, *, seed: int = 0, problems: Iterable[Any] | None = None, require: Iterable[str] = ()
) -> BPTTCheck:
    """Check fn(W, U, V, b, c, xs, ys, h0=None) -> dict of gradients against the lecture's corrected BPTT.

    problems: (W, U, V, b, c, xs, ys) tuples (default: `default_problems(seed)`); require: keys that must be given
    (a missing key is otherwise only "not given"). Returns a `BPTTCheck`; never raises for what fn does."""
    if not callable(fn):
        raise TypeError(f"check_bptt: fn must be a function, got {type(fn).__name__}")
    required = tuple(require)
    unknown = [k for k in required if k not in KEYS]
    if unknown:
        raise ValueError(f"check_bptt: require names {unknown}; the keys are {', '.join(KEYS)}")
    results, printed = _run_all(fn, _problems(problems, seed))
    findings = _merge(results)
    for key in required:
        if not any(key in r.given for r in results) and not any(f.quantity == key for f in findings):
            findings.append(
                Finding(key, None, "unknown", f"∇{key} is required but not given", results[0].truth.problem.name)
            )
    smallest = _shrink(fn, seed, results) if any(r.findings for r in results) else None
    _as_printed(results, [smallest.result] if smallest else [])
    return BPTTCheck(findings, results, smallest, printed, required)


def _shrink(fn: Callable, seed: int, results: list[Result]) -> Smallest:
    """The first of the small problems (fewest numbers first) on which fn fails; else the first failing problem."""
    sizes = [(T, D, H, None) for T, D, H in _SHRINK] + [(T, D, H, 2) for T, D, H in _SHRINK_BATCHED]
    for T, D, H, B in sizes:
        p = make_problem(T, D, H, 2, B, seed=seed, name="'smallest'")
        run = _call(fn, p, Truth(p))
        if run.result.findings:
            for f in run.result.findings:
                f.problem = p.name
            return Smallest(p, run.result)
    first = next(r for r in results if r.findings)
    return Smallest(first.truth.problem, first)


def assert_bptt_correct(fn: Callable, **kw: Any) -> BPTTCheck:
    """check_bptt(fn, **kw), raising AssertionError with the report as its message unless fn is correct."""
    check = check_bptt(fn, **kw)
    if not check.ok:
        raise AssertionError(str(check))
    return check


# ---- the report --------------------------------------------------------------------------------------------------


def _format(check: BPTTCheck) -> str:
    n = len(check.results)
    lines = [f"Your BPTT against the lecture's corrected section 2.4 (to {TOL:g}), on {n} problem{'s' * (n > 1)}:"]
    lines += [f"  {r.truth.problem.name:<11}{r.truth.problem.describe()}" for r in check.results]
    given = [k for k in KEYS if any(k in r.given for r in check.results)]
    missing = [k for k in KEYS if k not in given]
    lines.append(f"given: {', '.join(given) or 'nothing'}" + (f"   not given: {', '.join(missing)}" if missing else ""))
    if check.ok:
        lines.append("CORRECT: every quantity you returned equals the lecture's, on every problem.")
    else:
        k = len(check.findings)
        lines.append(f"NOT CORRECT: {k} finding{'s' * (k > 1)}.")
        for i, f in enumerate(check.findings, start=1):
            lines += ["", f"{i}. {f}"]
        follows = _follows(check)
        lines += ["", follows] if follows else []
        lines += ["", str(check.smallest)] if check.smallest else []
    if check.printed:
        lines += ["", f"(your function printed {check.printed} lines while it was checked; they are not shown)"]
    return "\n".join(lines)


def _follows(check: BPTTCheck) -> str:
    r = check.result()
    names = [name for name, node in r.nodes.items() if node.status == "follows"]
    if not names:
        return ""
    return (
        f"Right given your own inputs (wrong only because of a finding above), problem {r.truth.problem.name}: "
        + ", ".join(names)
    )


# ---- the command line: tinygrad-rnn check --mine path/to/file.py:function ---------------------------------------


class FunctionSpecError(ValueError):
    """A `path/to/file.py:function` that does not name a function: no such file, it fails to import, or the name is
    missing or not callable."""


def load_function(spec: str) -> Callable:
    """The function named by "path/to/file.py:function" (a dotted name such as "Solution.bptt" works too).

    The file is imported as a module of its own (its `if __name__ == "__main__":` block does not run), with its
    folder on sys.path while it is imported. FunctionSpecError says what is wrong."""
    path_text, sep, name = str(spec).rpartition(":")
    if not sep or not path_text or not name:
        raise FunctionSpecError(f"{spec!r}: expected path/to/file.py:function, e.g. my_bptt.py:bptt")
    path = Path(path_text)
    if not path.is_file():
        raise FunctionSpecError(f"{path}: no such file")
    if not all(part.isidentifier() for part in name.split(".")):
        raise FunctionSpecError(f"{spec!r}: {name!r} is not a Python name")
    loader = importlib.util.spec_from_file_location(f"_tinygrad_rnn_mine_{abs(hash(path.resolve()))}", path)
    if loader is None or loader.loader is None:
        raise FunctionSpecError(f"{path}: cannot be imported as Python (is it a .py file?)")
    module = importlib.util.module_from_spec(loader)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[loader.name] = module  # registered, as an import would: dataclasses and pickle look it up
    try:
        loader.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        del sys.modules[loader.name]
        raise FunctionSpecError(f"{path}: importing it failed: {type(e).__name__}: {e}{where(e)}") from None
    finally:
        sys.path.remove(folder)
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            found = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_"))
            raise FunctionSpecError(f"{path} has no {name!r}; its functions: {', '.join(found) or 'none'}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise FunctionSpecError(f"{path}:{name} is a {type(obj).__name__}, not a function")
    return obj


def draw_check(check: BPTTCheck, path: str | Path, problem: int | str | None = None) -> Path:
    """Render the problem's unrolled graph coloured by `check.annotations()`; returns the file written."""
    from tinygrad_rnn import draw

    if "annotations" not in inspect.signature(draw.draw).parameters:
        raise RuntimeError("this version of tinygrad_rnn.draw does not take annotations= yet")
    collapse = ("softmax", "cross_entropy")
    root = check.graph(problem)
    return draw.render(root, path, grads=True, collapse=collapse, annotations=check.annotations(problem))


def run_check_mine(spec: str, draw: str | Path | None = None, *, seed: int = 0) -> int:
    """`tinygrad-rnn check --mine spec [--draw out.png]`: print the report; 0 when correct, 1 when not, 2 when spec
    (or the folder of the drawing) does not exist. A drawing that cannot be rendered is said on stderr."""
    try:
        fn = load_function(spec)
    except FunctionSpecError as e:
        print(f"tinygrad-rnn check --mine: {e}", file=sys.stderr)
        return 2
    if draw is not None and not Path(draw).resolve().parent.is_dir():
        print(f"tinygrad-rnn check --mine: --draw {draw}: no such folder {Path(draw).parent}", file=sys.stderr)
        return 2
    check = check_bptt(fn, seed=seed)
    print(check)
    if draw is not None:
        try:
            written = draw_check(check, draw)
            print(f"\nwrote the unrolled graph coloured by your errors to {Path(written).resolve()}")
        except (ImportError, RuntimeError, OSError, ValueError) as e:
            print(f"tinygrad-rnn check --mine: could not draw the graph: {e}", file=sys.stderr)
    return 0 if check.ok else 1
