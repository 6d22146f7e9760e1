"""A student's own BPTT checked (exercise.py): every catalogue kind is produced by a deliberately wrong function and
reported at the right quantity and step; correct functions written differently pass on every problem; whatever the
function does, the check returns a report, never a traceback."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_rnn import lecture, mistakes
from tinygrad_rnn.exercise import (
    EXERCISE_COLOURS,
    KINDS,
    FunctionSpecError,
    assert_bptt_correct,
    check_bptt,
    default_problems,
    draw_check,
    load_function,
    make_problem,
    run_check_mine,
)
from tinygrad_rnn.localise import close
from tinygrad_rnn.mistakes import Truth
from tinygrad_rnn.tensor import topological_order

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class Student:
    """The corrected BPTT written with loops over t on (B, ·) rows, one method per equation; a keyword replaces one
    of them, which is how each deliberately wrong function below makes its one mistake."""

    def __init__(self, **hooks):
        self.__dict__.update(hooks)

    def out_grad(self, yhat, y):
        return yhat - y

    def h_step(self, t, T, go, g_next, h, W, U, V):
        return go @ V + (((1 - h[t + 1] ** 2) * g_next) @ U if t < T else 0.0)

    def terms(self, t, d, go, x, h):
        return {"W": d[t].T @ x[t], "U": d[t].T @ h[t - 1], "V": go[t].T @ h[t], "b": d[t].sum(0), "c": go[t].sum(0)}

    def total(self, name, terms):
        return sum(terms)

    def pack(self, out):
        return out

    def __call__(self, W, U, V, b, c, xs, ys, h0=None):
        batched = np.ndim(xs) == 3
        X = np.asarray(xs, float) if batched else np.asarray(xs, float)[:, None]
        T, B, _ = X.shape
        Y = np.eye(len(c))[np.asarray(ys) if batched else np.asarray(ys)[:, None]]
        x, h = [None, *X], [np.zeros((B, len(b)))]
        for t in range(1, T + 1):
            h.append(np.tanh(b + x[t] @ W.T + h[t - 1] @ U.T))
        go = [None] + [self.out_grad(softmax(c + h[t] @ V.T), Y[t - 1]) for t in range(1, T + 1)]
        g = [None] * (T + 1) + [np.zeros((B, len(b)))]
        for t in range(T, 0, -1):
            g[t] = self.h_step(t, T, go[t], g[t + 1], h, W, U, V)
        d = [None] + [(1 - h[t] ** 2) * g[t] for t in range(1, T + 1)]
        terms = [self.terms(t, d, go, x, h) for t in range(1, T + 1)]
        out = {k: self.total(k, [tm[k] for tm in terms]) for k in "WUVbc"}
        lay = (lambda a: a) if batched else (lambda a: a[:, 0])
        out.update(h=lay(np.stack(g[1 : T + 1])), o=lay(np.stack(go[1:])), h0=(d[1] @ U) if batched else (d[1] @ U)[0])
        return self.pack(out)


BASE = Student()


def einsum_bptt(W, U, V, b, c, xs, ys, h0=None):
    """The corrected formulas written differently: every sequence at once with einsum, δ kept instead of ∇h."""
    X = np.asarray(xs, float)
    X = X if X.ndim == 3 else X[:, None]
    T, B, _ = X.shape
    Y = np.asarray(ys).reshape(T, B)
    h = np.zeros((T + 1, B, len(b)))
    for t in range(T):
        h[t + 1] = np.tanh(np.einsum("hd,bd->bh", W, X[t]) + np.einsum("hk,bk->bh", U, h[t]) + b)
    go = softmax(np.einsum("kh,tbh->tbk", V, h[1:]) + c) - np.eye(len(c))[Y]
    gh, delta = np.zeros((T + 1, B, len(b))), np.zeros((T + 2, B, len(b)))
    for t in range(T, 0, -1):
        gh[t] = np.einsum("kh,bk->bh", V, go[t - 1]) + np.einsum("hk,bh->bk", U, delta[t + 1])
        delta[t] = (1 - h[t] ** 2) * gh[t]
    d, lay = delta[1 : T + 1], (lambda a: a if np.ndim(xs) == 3 else a[:, 0])
    return {
        "W": np.einsum("tbh,tbd->hd", d, X),
        "U": np.einsum("tbh,tbk->hk", d, h[:-1]),
        "V": np.einsum("tbk,tbh->kh", go, h[1:]),
        "b": d.sum((0, 1)),
        "c": go.sum((0, 1)),
        "h": lay(gh[1:]),
        "o": lay(go),
        "h0": lay(np.einsum("hk,bh->bk", U, delta[1])[None])[0],
    }


def with_term(name, fn):
    return Student(terms=lambda t, d, go, x, h: {**BASE.terms(t, d, go, x, h), name: fn(t, d, go, x, h)})


def step(fn):
    return Student(h_step=fn)


def printed(W, U, V, b, c, xs, ys, h0=None):
    return lecture.bptt_gradients(W, U, V, b, c, xs, ys, as_printed=True)


def literal_printed(t, T, go, gn, h, W, U, V):
    return go @ V + (((gn @ W) * (1 - h[t + 1] ** 2)) if t < T else 0.0)


def scale_one_step(t, T, go, gn, h, W, U, V):  # the recursion right everywhere but at t = 2
    return BASE.h_step(t, T, go, gn, h, W, U, V) + (0.3 * gn if t == 2 else 0.0)


def nan_at_2(o):
    o["h"] = o["h"].copy()
    if len(o["h"]) > 1:
        o["h"][1] = np.nan
    return o


# name -> (student, {(quantity, t, kind)} expected exactly, the problem the first finding is on)
WRONG = {
    "recursion with W": (
        step(lambda t, T, go, gn, h, W, U, V: go @ V + (((1 - h[t + 1] ** 2) * gn) @ W if t < T else 0)),
        {(None, None, "raised"), ("h", 2, "swapped_W_U")},
        "'D ≠ H'",
    ),
    "∇W with h_{t−1}": (
        with_term("W", lambda t, d, go, x, h: d[t].T @ h[t - 1]),
        {("W", None, "swapped_W_U")},
        "'D ≠ H'",
    ),
    "∇U with h_t": (with_term("U", lambda t, d, go, x, h: d[t].T @ h[t]), {("U", None, "off_by_one_state")}, "'D ≠ H'"),
    "∇V with h_{t−1}": (
        with_term("V", lambda t, d, go, x, h: go[t].T @ h[t - 1]),
        {("V", None, "off_by_one_state")},
        "'D ≠ H'",
    ),
    "recursion with 1 − h_t²": (
        step(lambda t, T, go, gn, h, W, U, V: go @ V + (((1 - h[t] ** 2) * gn) @ U if t < T else 0)),
        {("h", 3, "tanh_derivative_wrong_step")},
        "'D ≠ H'",
    ),
    "∇W with 1 − h_{t−1}²": (
        with_term("W", lambda t, d, go, x, h: (d[t] / (1 - h[t] ** 2) * (1 - h[t - 1] ** 2)).T @ x[t]),
        {("W", None, "tanh_derivative_wrong_step")},
        "'D ≠ H'",
    ),
    "δ_t returned as ∇h_t": (
        Student(pack=lambda o: {**o, "h": o["h"] * 0}, h_step=BASE.h_step),  # replaced below
        {("h", 4, "tanh_derivative_wrong_step")},
        "'D ≠ H'",
    ),
    "no recurrent term": (
        step(lambda t, T, go, gn, h, W, U, V: go @ V),
        {("h", 3, "missing_recurrent_term")},
        "'D ≠ H'",
    ),
    "∇h_0 = 0": (Student(pack=lambda o: {**o, "h0": 0 * o["h0"]}), {("h0", None, "missing_recurrent_term")}, "'D ≠ H'"),
    "no output term": (
        step(lambda t, T, go, gn, h, W, U, V: ((1 - h[t + 1] ** 2) * gn) @ U if t < T else 0 * (go @ V)),
        {("h", 4, "missing_output_term")},
        "'D ≠ H'",
    ),
    "∇V of the last step only": (
        Student(total=lambda k, terms: terms[-1] if k == "V" else sum(terms)),
        {("V", None, "missing_sum_over_t")},
        "'D ≠ H'",
    ),
    "∇W transposed": (Student(pack=lambda o: {**o, "W": o["W"].T}), {("W", None, "transposed")}, "'D ≠ H'"),
    "∇h batch-first": (
        Student(pack=lambda o: {**o, "h": np.swapaxes(o["h"], 0, 1)}),
        {("h", None, "transposed")},
        "'D ≠ H'",
    ),
    "∇o = y − ŷ": (Student(out_grad=lambda yhat, y: y - yhat), {("o", 4, "wrong_sign")}, "'D ≠ H'"),
    "∇c a mean over t": (
        Student(total=lambda k, terms: sum(terms) / len(terms) if k == "c" else sum(terms)),
        {("c", None, "scaled")},
        "'D ≠ H'",
    ),
    "the printed 2.4": (
        printed,
        {(None, None, "raised"), ("h", 2, "as_printed"), ("W", None, "as_printed"), ("U", None, "as_printed")},
        "'D ≠ H'",
    ),
    "the printed factor order": (
        Student(
            h_step=literal_printed,
            terms=lambda t, d, go, x, h: {**BASE.terms(t, d, go, x, h), "W": d[t].T @ h[t - 1], "U": d[t].T @ x[t]},
        ),
        {(None, None, "raised"), ("h", 2, "as_printed"), ("W", None, "as_printed"), ("U", None, "as_printed")},
        "'D ≠ H'",
    ),
    "∇b a column": (Student(pack=lambda o: {**o, "b": o["b"][:, None]}), {("b", None, "wrong_shape")}, "'D ≠ H'"),
    "a list, not a dict": (Student(pack=lambda o: list(o.values())), {(None, None, "wrong_shape")}, "'D ≠ H'"),
    "NaN in ∇b": (Student(pack=lambda o: {**o, "b": o["b"] * np.nan}), {("b", None, "not_finite")}, "'D ≠ H'"),
    "NaN in ∇h_2": (Student(pack=nan_at_2), {("h", 2, "not_finite")}, "'D ≠ H'"),
    "raises": (Student(pack=lambda o: 1 / 0), {(None, None, "raised")}, "'D ≠ H'"),
    "∇U off by noise": (Student(pack=lambda o: {**o, "U": o["U"] + 0.1}), {("U", None, "unknown")}, "'D ≠ H'"),
    "∇h_2 wrong only there": (step(scale_one_step), {("h", 2, "unknown")}, "'D ≠ H'"),
}


def _delta_form(W, U, V, b, c, xs, ys, h0=None):
    """Returns δ_t = diag(1 − h_t²) ∇h_t (the gradient at the tanh's input) under the key "h"."""
    out = einsum_bptt(W, U, V, b, c, xs, ys)
    h, _, _ = lecture.forward(W, U, V, b, c, xs)
    return {**out, "h": (1 - h**2) * out["h"]}


WRONG["δ_t returned as ∇h_t"] = (_delta_form, *WRONG["δ_t returned as ∇h_t"][1:])


def found(check):
    assert all(f.kind in KINDS for f in check.findings), [f.kind for f in check.findings]
    return {(f.quantity, f.t, f.kind) for f in check.findings}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_each_deliberate_mistake_is_named_at_its_quantity_and_step(name):
    fn, expected, problem = WRONG[name]
    check = check_bptt(fn)
    assert not check.ok
    assert found(check) == expected, str(check)
    assert check.findings[0].problem == problem
    text = str(check)
    for f in check.findings:
        assert f.message and " ".join(f.message.split()) in " ".join(text.split())
        if f.quantity is not None and f.kind not in ("raised", "wrong_shape", "not_finite", "transposed"):
            assert "lecture:" in f.message and "differs:" in f.message, f.message


def test_every_catalogue_kind_is_produced_by_some_wrong_function():
    produced = {kind for _, expected, _ in WRONG.values() for _, _, kind in expected}
    assert produced == set(KINDS)


@pytest.mark.parametrize("fn", [einsum_bptt, BASE, lecture.bptt_gradients], ids=["einsum", "loops", "lecture"])
def test_correct_functions_written_differently_pass_on_every_problem(fn):
    check = check_bptt(fn)
    assert check.ok, str(check)
    assert check.findings == [] and check.smallest is None and "CORRECT" in str(check)
    assert all(node.status in ("ok", "not given") for r in check.results for node in r.nodes.values())


@given(seed=st.integers(0, 2**31 - 1))
def test_a_correct_function_passes_for_any_seed(seed):
    assert check_bptt(einsum_bptt, seed=seed).ok


@given(T=st.integers(1, 6), B=st.integers(0, 3), D=st.integers(1, 4), H=st.integers(1, 4), K=st.integers(2, 4))
def test_a_correct_function_passes_on_any_given_problem_and_a_wrong_one_fails(T, B, D, H, K):
    p = make_problem(T, D, H, K, B or None, seed=T * 7 + H)
    tup = (p.W, p.U, p.V, p.b, p.c, p.xs, p.ys)
    assert check_bptt(einsum_bptt, problems=[tup]).ok
    bad = check_bptt(WRONG["no output term"][0], problems=[tup])
    assert found(bad) == {("h", T, "missing_output_term")}  # t is the step of the given problem
    assert bad.findings[0].problem == "1"


def test_one_hot_targets_in_a_given_problem():
    p = make_problem(3, 2, 3, 4, seed=1)
    onehot = np.eye(4)[p.ys]
    assert check_bptt(lecture.bptt_gradients, problems=[(p.W, p.U, p.V, p.b, p.c, p.xs, onehot)]).ok


def test_an_invalid_given_problem_is_the_caller_s_error():
    p = make_problem(2, 2, 3, 2)
    with pytest.raises(ValueError, match="problem 1 is not a problem of the lecture's RNN"):
        check_bptt(einsum_bptt, problems=[(p.W, p.U, p.V[:, :1], p.b, p.c, p.xs, p.ys)])
    with pytest.raises(TypeError, match="tuple"):
        check_bptt(einsum_bptt, problems=[(p.W, p.U)])


# ---- localisation --------------------------------------------------------------------------------------------------


def test_a_repeated_mistake_is_one_finding_and_later_steps_are_not_blamed():
    check = check_bptt(WRONG["no recurrent term"][0])
    (f,) = check.findings
    assert (f.t, f.steps) == (3, [3, 2, 1]) and "again at t = 2, 1" in f.message
    nodes = check.results[0].nodes
    assert nodes["h_4"].status == "ok" and all(nodes[f"h_{t}"].status == "wrong" for t in (1, 2, 3))
    assert [n for n in ("W", "U", "b", "h_0") if nodes[n].status == "follows"] == ["W", "U", "b", "h_0"]
    assert nodes["V"].status == nodes["c"].status == "ok"


def test_an_error_at_one_step_is_reported_there_and_the_steps_before_it_follow():
    check = check_bptt(WRONG["∇h_2 wrong only there"][0])
    (f,) = check.findings
    assert f.steps == [2] and "largest error" in f.message and "the terms that would have been right" in f.message
    nodes = check.results[0].nodes
    assert [nodes[f"h_{t}"].status for t in (4, 3, 2, 1)] == ["ok", "ok", "wrong", "follows"]


def test_the_sums_without_any_given_step_still_name_the_recursion_mistake():
    fn = Student(h_step=lambda t, T, go, gn, h, W, U, V: go @ V, pack=lambda o: {k: o[k] for k in "WUVbc"})
    check = check_bptt(fn)
    assert found(check) == {(q, None, "missing_recurrent_term") for q in "WUb"}
    assert "∇h_t is not returned" in check.findings[0].message


def test_the_unknown_message_gives_the_largest_error_and_the_right_per_step_terms():
    check = check_bptt(WRONG["∇U off by noise"][0])
    msg = check.findings[0].message
    assert "largest error at element" in msg and "t=1: 0," in msg and "t=4:" in msg  # h_0 = 0: the t = 1 term is 0


def test_a_scale_factor_is_named():
    check = check_bptt(WRONG["∇c a mean over t"][0])
    assert "off by the factor 0.25 = 1/T" in check.findings[0].message


def test_an_ambiguous_problem_does_not_add_a_second_finding():
    """On T = 1 with h_0 = 0, 1 − h_{t−1}² = 1: the missing tanh derivative in ∇b looks like a shifted one there."""
    fn = with_term("b", lambda t, d, go, x, h: (d[t] / (1 - h[t] ** 2)).sum(0))
    check = check_bptt(fn)
    assert found(check) == {("b", None, "unknown")} and "'T = 1'" in check.findings[0].also_on


@pytest.mark.parametrize("problem", range(4))
def test_the_catalogue_s_candidates_differ_from_each_other_on_the_default_problems(problem):
    for seed in range(3):
        p = Truth(default_problems(seed)[problem])
        scale = p.scale
        for t in range(1, p.T + 1):
            values = [m.value(p, p.true, t) for m in mistakes.H_STEP if m.needs(p)]
            values = [v for v in values if not close(v, p.g[t], scale)]
            assert not any(close(a, b, scale) for a, b in itertools.combinations(values, 2)), (problem, t)
        for q in ("W", "U", "V", "b", "c", "h0"):
            true = mistakes.sum_value(q, p, p.true)
            values = [(m.kind, m.value(p, p.true)) for m in mistakes.sum_mistakes(q, p) if m.needs(p)]
            values += [(c.kind, mistakes.sum_value(q, p, c)) for c in mistakes.variants(p)] + [("wrong_sign", -true)]
            values = [
                (k, v) for k, v in values if not close(v, true, scale) and (np.any(v) or k != "missing_sum_over_t")
            ]
            pairs = [(a, b) for (a, va), (b, vb) in itertools.combinations(values, 2) if close(va, vb, scale)]
            # at T = 1 with h_0 = 0, 1 − h_0² = 1 − h_2² = 1: the shifted tanh derivatives and none look alike
            allowed = {"tanh_derivative_wrong_step", "unknown"} if p.T == 1 else set()
            assert all({a, b} <= allowed for a, b in pairs), (problem, q, pairs)


# ---- never a traceback ---------------------------------------------------------------------------------------------

junk_value = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=5),
    st.lists(st.floats(allow_nan=True), max_size=4),
    st.lists(st.lists(st.integers(), max_size=3), max_size=3),
    st.tuples(st.integers(1, 6), st.integers(1, 6)).map(lambda s: np.ones(s)),
    st.sampled_from([np.array([np.inf]), np.zeros((0, 3)), np.array("x"), np.ones((2, 2), dtype=complex)]),
)
junk = st.one_of(
    junk_value,
    st.dictionaries(st.sampled_from([*mistakes.KEYS, "dW", 3, "loss"]), junk_value, max_size=6),
)


@given(out=junk)
def test_whatever_the_function_returns_the_check_reports_it(out):
    check = check_bptt(lambda *args, **kw: out)
    assert not check.ok
    found(check)
    assert str(check) and check.annotations() is not None


def test_raising_printing_exiting_and_input_writing_functions_get_findings(capsys):
    def noisy(W, U, V, b, c, xs, ys, h0=None):
        print("debugging", W.shape)
        out = einsum_bptt(W, U, V, b, c, xs, ys)
        W[...] = 0.0  # writes into its arguments after use: the checker's own arrays are copies
        xs[...] = np.nan
        return out

    check = check_bptt(noisy)
    assert check.ok and check.printed == 4 and "printed 4 lines" in str(check)  # one line on each problem
    assert capsys.readouterr().out == ""
    exits = check_bptt(lambda *a, **k: sys.exit(3))
    assert found(exits) == {(None, None, "raised")} and "SystemExit: 3" in exits.findings[0].message
    raised = check_bptt(WRONG["raises"][0])
    assert "ZeroDivisionError: division by zero (in test_exercise.py, line" in raised.findings[0].message


def test_extra_keys_and_empty_answers_are_findings():
    check = check_bptt(Student(pack=lambda o: {**o, "dW": o["W"]}))
    assert found(check) == {(None, None, "unknown")} and "'dW'" in check.findings[0].message
    assert "did you mean 'W'" in check.findings[0].message
    assert "nothing to check" in str(check_bptt(lambda *a, **k: {}))


def test_required_keys_must_be_given():
    partial = Student(pack=lambda o: {"o": o["o"]})
    assert check_bptt(partial).ok
    check = check_bptt(partial, require=("o", "W"))
    assert found(check) == {("W", None, "unknown")} and "required" in check.findings[0].message
    with pytest.raises(ValueError, match="the keys are"):
        check_bptt(partial, require=("dW",))


def test_assert_bptt_correct_raises_with_the_report():
    assert assert_bptt_correct(einsum_bptt).ok
    with pytest.raises(AssertionError) as e:
        assert_bptt_correct(WRONG["∇U with h_t"][0], seed=3)
    assert str(e.value) == str(check_bptt(WRONG["∇U with h_t"][0], seed=3))
    assert "off_by_one_state" in str(e.value)


# ---- shrinking -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, sizes",
    [
        ("no recurrent term", dict(T=2, B=1, D=1, H=1)),
        ("∇U with h_t", dict(T=1, B=1, D=1, H=1)),
        ("the printed 2.4", dict(T=1, B=1, D=1, H=1)),
        ("∇h batch-first", dict(T=1, B=1, D=1, H=2)),  # at T = H = 1 the axes cannot be told apart
    ],
)
def test_the_smallest_failing_problem_is_found_and_shown_side_by_side(name, sizes):
    check = check_bptt(WRONG[name][0])
    s = check.smallest
    assert {k: s.sizes[k] for k in sizes} == sizes
    text = str(s)
    assert "fails already at T = " + str(sizes["T"]) in text and text in str(check)
    if name == "no recurrent term":
        assert "h_1   [" in text and "WRONG (missing_recurrent_term)" in text and "FOLLOWS" in text


def test_a_function_wrong_only_for_long_sequences_shrinks_to_t_3():
    fn = Student(pack=lambda o: {**o, "c": o["c"] * (2.0 if len(o["o"]) >= 3 else 1.0)})
    assert check_bptt(fn).smallest.sizes["T"] == 3


# ---- the picture ---------------------------------------------------------------------------------------------------


def test_annotations_colour_each_node_by_the_student_s_error():
    check = check_bptt(WRONG["no recurrent term"][0])
    notes = check.annotations()
    T = 4
    names = {"W", "U", "V", "b", "c", "h_0", *(f"h_{t}" for t in range(1, T + 1)), *(f"o_{t}" for t in range(1, T + 1))}
    assert set(notes.nodes) == names
    fill = {n: a.fill for n, a in notes.nodes.items()}
    assert fill["h_3"] == fill["h_1"] == EXERCISE_COLOURS["wrong"][0]
    assert fill["h_4"] == fill["o_1"] == fill["V"] == EXERCISE_COLOURS["ok"][0]
    assert fill["W"] == fill["h_0"] == EXERCISE_COLOURS["follows"][0]
    assert "missing_recurrent_term" in notes.nodes["h_3"].rows[-1][0]
    assert {m for _, m in notes.legend} == {EXERCISE_COLOURS[s][1] for s in ("ok", "wrong", "follows")}
    graph_names = {n.name for n in topological_order(check.graph())}
    assert names <= graph_names  # every annotated name is a node of the drawn graph


def test_annotations_of_a_function_that_raised_and_of_one_with_keys_missing():
    raised = check_bptt(WRONG["recursion with W"][0]).annotations(0)
    assert {a.status for a in raised.nodes.values()} == {"raised"}
    partial = check_bptt(Student(pack=lambda o: {"o": o["o"]})).annotations()
    assert partial.nodes["W"].fill == EXERCISE_COLOURS["not given"][0]


def test_draw_check_renders_when_the_drawing_takes_annotations(tmp_path):
    import inspect

    from tinygrad_rnn import draw

    check = check_bptt(WRONG["no recurrent term"][0])
    if "annotations" not in inspect.signature(draw.draw).parameters:
        with pytest.raises(RuntimeError, match="annotations"):
            draw_check(check, tmp_path / "x.png")
        pytest.skip("draw() does not take annotations= yet on this branch")
    path = draw_check(check, tmp_path / "mine.png")
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- loading a student's file, the command line's library half ------------------------------------------------------


def _write(tmp_path, text, name="mine.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_function_finds_the_function_and_explains_every_bad_spec(tmp_path):
    good = _write(
        tmp_path,
        "from __future__ import annotations\nfrom dataclasses import dataclass\nimport helper\n\n"
        "def bptt(*a, **k):\n    return helper.VALUE\n\n@dataclass\nclass S:\n    x: int = 0\n"
        "    f = staticmethod(bptt)\n\nX = 3\n",
    )
    _write(tmp_path, "VALUE = {}\n", "helper.py")  # a sibling module: the file's folder is on sys.path
    assert load_function(f"{good}:bptt")() == {} and callable(load_function(f"{good}:S.f"))
    broken = _write(tmp_path, "def f(:\n", "broken.py")
    raising = _write(tmp_path, "raise RuntimeError('no data here')\n", "raising.py")
    cases = {
        f"{tmp_path}/nope.py:f": "no such file",
        str(good): "expected path/to/file.py:function",
        f"{good}:": "expected path/to/file.py:function",
        f"{good}:missing": "has no 'missing'; its functions: bptt",
        f"{good}:X": "is a int, not a function",
        f"{good}:1x": "is not a Python name",
        f"{broken}:f": "importing it failed: SyntaxError",
        f"{raising}:f": "importing it failed: RuntimeError: no data here",
    }
    for spec, message in cases.items():
        with pytest.raises(FunctionSpecError, match=message):
            load_function(spec)
    assert issubclass(FunctionSpecError, ValueError)


def test_run_check_mine_prints_the_report_and_returns_the_exit_code(tmp_path, capsys):
    path = _write(
        tmp_path,
        "from tinygrad_rnn.lecture import bptt_gradients\n\n"
        "def right(W, U, V, b, c, xs, ys, h0=None):\n    return bptt_gradients(W, U, V, b, c, xs, ys)\n\n"
        "def wrong(W, U, V, b, c, xs, ys, h0=None):\n    return {'c': -right(W, U, V, b, c, xs, ys)['c']}\n",
    )
    assert run_check_mine(f"{path}:right") == 0 and "CORRECT" in capsys.readouterr().out
    assert run_check_mine(f"{path}:wrong") == 1 and "wrong_sign" in capsys.readouterr().out
    assert run_check_mine(f"{path}:nothing") == 2
    assert "has no 'nothing'" in capsys.readouterr().err
    assert run_check_mine(f"{path}:right", draw=tmp_path / "no" / "such.png") == 2
    assert "no such folder" in capsys.readouterr().err


# ---- the examples ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("state_off_by_one", {("U", None, "off_by_one_state")}),
        ("forgot_recurrence", {("h", 3, "missing_recurrent_term")}),
        (
            "as_printed",
            {(None, None, "raised"), ("h", 2, "as_printed"), ("W", None, "as_printed"), ("U", None, "as_printed")},
        ),
    ],
)
def test_the_three_wrong_answers_for_teachers_get_the_findings_their_docstring_promises(name, expected):
    fn = load_function(f"{EXAMPLES / 'bptt_exercise_wrong.py'}:{name}")
    check = check_bptt(fn)
    assert found(check) == expected
    doc = load_function(f"{EXAMPLES / 'bptt_exercise_wrong.py'}:main").__globals__["__doc__"]
    for _, _, kind in expected:
        assert kind in doc


def test_the_skeleton_reports_nothing_given_and_passes_once_filled_in():
    skeleton = load_function(f"{EXAMPLES / 'bptt_exercise.py'}:my_bptt")
    assert "nothing to check" in str(check_bptt(skeleton))
    per_sequence = skeleton.__globals__["per_sequence"]

    def backward(W, U, V, b, c, xs, ys, h0):  # a filled-in answer, one sequence at a time
        g = lecture.bptt_gradients(W, U, V, b, c, xs, ys, h0=h0)
        return {k: g[k] for k in ("o", "h", "W", "U", "V", "b", "c", "h0")}

    assert check_bptt(lambda *a, **k: per_sequence(backward, *a, **k)).ok


@pytest.mark.parametrize(
    "script, text", [("bptt_exercise_wrong.py", "=== as_printed ==="), ("lstm_exercise.py", "∇c_t at t = 3")]
)
def test_the_example_scripts_run(script, text):
    proc = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert text in proc.stdout and "Traceback" not in proc.stdout


@st.composite
def corrupted(draw):
    """A correct answer with one key changed in one of the ways students get wrong (or left as it is)."""
    key = draw(st.sampled_from(mistakes.KEYS))
    how = draw(st.sampled_from(["keep", "drop", "nan", "scale", "transpose", "list", "flatten", "int", "add"]))
    return key, how


@given(case=corrupted(), seed=st.integers(0, 50))
def test_a_corrupted_correct_answer_is_caught_at_that_key(case, seed):
    key, how = case
    change = {
        "keep": lambda a: a,
        "drop": lambda a: None,
        "nan": lambda a: a * np.nan,
        "scale": lambda a: 3 * a,
        "transpose": lambda a: a.T,
        "list": lambda a: a.tolist(),
        "flatten": lambda a: a.ravel(),
        "int": lambda a: np.rint(1e6 * a).astype(int),
        "add": lambda a: a + 0.01,
    }[how]

    def fn(*args, **kw):
        out = einsum_bptt(*args, **kw)
        out[key] = change(out[key])
        return out

    check = check_bptt(fn, seed=seed)
    assert str(check) and all(f.kind in KINDS for f in check.findings)
    harmless = how in ("keep", "drop", "list") or (how in ("transpose", "flatten") and key in "bc")  # 1-D: no-ops
    if harmless:
        assert check.ok, str(check)
    else:
        assert not check.ok and {f.quantity for f in check.findings} <= {key, None}, str(check)
    if how == "scale":
        assert {f.kind for f in check.findings} == {"scaled"}


# ---- other models: check_gradients ----------------------------------------------------------------------------------


def test_the_lstm_homework_is_checked_node_by_node():
    from tinygrad_rnn.exercise import check_gradients
    from tinygrad_rnn.lstm import LSTM

    path = EXAMPLES / "lstm_exercise.py"
    assert check_gradients(load_function(f"{path}:lstm_bptt"), LSTM).ok
    check = check_gradients(load_function(f"{path}:lstm_bptt_no_forget"), LSTM)
    assert found(check) == {("c", 3, "unknown")}
    f = check.findings[0]
    assert f.steps == [3, 2, 1] and "not because of a later step" in f.message and f.also_on
    nodes = check.results[0].nodes
    assert nodes["c_4"].status == nodes["h_4"].status == nodes["o_1"].status == "ok"
    assert nodes["c_3"].status == "wrong" and nodes["f_3"].status == nodes["g_2"].status == "follows"
    assert nodes["W_f"].status == "follows"  # right given the student's own per-step gradients
    notes = check.annotations()
    assert notes.nodes["c_3"].fill == EXERCISE_COLOURS["wrong"][0] and "autodiff ‖·‖" in notes.nodes["c_3"].rows[1][0]


def _autodiff_answer(model_cls, corrupt=None):
    """A student whose gradients are the engine's own, with `corrupt(out)` applied to the dict."""

    def fn(params, xs, ys):
        model = model_cls.from_arrays(**params)
        model.loss(xs, ys).backward()
        out = {n: p.grad for n, p in model.named_parameters().items()}
        for key in model.trace.steps:
            if key not in ("x", "yhat", "L"):
                out[key] = np.stack(model.trace.step_grads(key))
        return corrupt(out) if corrupt else out

    return fn


def test_check_gradients_localises_one_wrong_step_of_a_gru_and_blames_nothing_else():
    from tinygrad_rnn.exercise import check_gradients
    from tinygrad_rnn.lstm import GRU

    assert check_gradients(_autodiff_answer(GRU), GRU).ok

    def corrupt(out):
        out["n"] = out["n"].copy()
        if len(out["n"]) > 1:
            out["n"][1] *= 2.0
        return out

    check = check_gradients(_autodiff_answer(GRU, corrupt), GRU)
    assert found(check) == {("n", 2, "unknown")} and check.findings[0].steps == [2]
    assert {n.status for name, n in check.results[0].nodes.items() if name != "n_2"} == {"ok"}


def test_check_gradients_on_the_lecture_rnn_and_on_bad_answers():
    from tinygrad_rnn.exercise import check_gradients
    from tinygrad_rnn.rnn import RNN

    def lecture_answer(params, xs, ys):
        return {k: v for k, v in lecture.bptt_gradients(**params, xs=xs, ys=ys).items() if k != "h0"}

    assert check_gradients(lecture_answer, RNN).ok
    raised = check_gradients(lambda *a: 1 / 0, RNN)
    assert found(raised) == {(None, None, "raised")} and "ZeroDivisionError" in str(raised)
    junk = check_gradients(lambda p, *a: {"W": np.ones(3), "h": [[1]], "zz": 1, "U": p["U"] * np.nan}, RNN)
    assert found(junk) == {
        ("W", None, "wrong_shape"),
        ("h", None, "wrong_shape"),
        (None, None, "unknown"),
        ("U", None, "not_finite"),
    }
    sign = check_gradients(lambda p, xs, ys: {"V": -lecture_answer(p, xs, ys)["V"]}, RNN)
    assert found(sign) == {("V", None, "wrong_sign")} and "per-step terms" in sign.findings[0].message


def test_backward_with_nothing_given_is_the_engine_s_backward():
    from tinygrad_rnn.lstm import LSTM
    from tinygrad_rnn.modelcheck import backward_with

    model = LSTM(2, 3, 2, seed=1)
    loss = model.loss(np.random.default_rng(0).normal(size=(3, 2, 2)), np.array([[0, 1], [1, 1], [0, 0]]))
    loss.backward()
    grads, reached = backward_with(loss, {})
    for node in topological_order(loss, grad_only=True):
        np.testing.assert_allclose(grads[id(node)], node.grad, rtol=1e-12, atol=1e-14)
    assert reached == {}


# ---- the README section stays true ---------------------------------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "check_your_bptt.md"


def test_the_readme_section_shows_real_output(capsys):
    import re

    from tinygrad_rnn.lstm import LSTM
    from tinygrad_rnn.modelcheck import check_gradients

    text = DOC.read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    claims = [line.split("# ", 1)[1].strip() for line in code.splitlines() if line.startswith("print(")]
    assert printed == claims  # each print's comment is what it prints (the README's test reads them the same way)
    blocks = re.findall(r"<!-- output of: (.*?) -->\n```text\n(.*?)\n```", text, flags=re.S)
    assert len(blocks) == 4
    for source, shown in blocks:
        if source == "the python block above":
            real = str(namespace["check"])
        elif source.startswith("lstm "):
            real = str(check_gradients(load_function(str(EXAMPLES.parent / source[5:])), LSTM))
        else:
            real = str(check_bptt(load_function(str(EXAMPLES.parent / source))))
        assert shown == real, f"docs/check_your_bptt.md: the output of {source} has changed:\n{real}"


def test_the_norm_shown_of_an_answer_near_the_float64_limit_is_its_norm():
    """A wrong answer may hold anything: ‖·‖ of entries near 1e300 is computed scaled (no overflow warning), and an
    answer with inf or NaN shows inf or NaN."""
    import warnings

    from tinygrad_rnn.fmt import norm

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert norm(np.full(4, 1e300)) == pytest.approx(2e300, rel=1e-15)
        assert norm([3.0, 4.0]) == 5.0 and norm([]) == 0.0 and norm(np.zeros((2, 2))) == 0.0
        assert norm([np.inf, 1.0]) == np.inf and np.isnan(norm([np.nan, np.inf]))
        assert norm(np.full(4, 1e308)) == np.inf  # the norm itself exceeds float64
        check = check_bptt(lambda *args, **kw: {k: np.full(np.shape(v), 1e300) for k, v in einsum_bptt(*args).items()})
        assert not check.ok and str(check)
