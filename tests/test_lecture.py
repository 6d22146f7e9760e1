"""The lecture's BPTT in numpy (corrected and as printed) against the engine's autodiff and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinygrad_rnn import functional as F
from tinygrad_rnn import lecture
from tinygrad_rnn import report as report_mod
from tinygrad_rnn.gradcheck import jacobian
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.tensor import Tensor

EXACT = dict(rtol=1e-10, atol=1e-12)  # two exact methods
NUMERIC = dict(rtol=1e-5, atol=1e-7)  # against central differences

seeds = st.integers(0, 2**32 - 1)
sizes = st.fixed_dictionaries(
    {
        "T": st.integers(1, 8),
        "B": st.integers(0, 3),  # 0: one unbatched sequence (T, D)
        "D": st.integers(1, 5),
        "H": st.integers(1, 5),
        "K": st.integers(1, 5),
        "seed": seeds,
    }
)


def problem(T=3, B=0, D=3, H=4, K=3, seed=0, scale=0.8, **options):
    """(rnn, xs, ys): every parameter (biases too) drawn N(0, scale²), xs N(0, 1), class indices ys."""
    rng = np.random.default_rng(seed)
    rnn = RNN(D, H, K, seed=seed, **options)
    for p in rnn.parameters():
        p.data = scale * rng.standard_normal(p.shape)
    batch = (B,) if B else ()
    xs = rng.standard_normal((T, *batch, D))
    ys = rng.integers(0, K, size=(T, *batch))
    return rnn, xs, ys


def autodiff(rnn, xs, ys, h0=None):
    """The engine's gradients: parameters, and ∇h_t, ∇o_t read from the unrolled graph's interior nodes."""
    rnn.zero_grad()
    rnn.loss(xs, ys, h0).backward()
    g = {n: p.grad for n, p in rnn.named_parameters().items()}
    g["h"] = np.stack([h.grad for h in rnn.trace.h])
    g["o"] = np.stack([o.grad for o in rnn.trace.o])
    g["h0"] = rnn.trace.h0.grad
    return g


# ---- corrected formulas == autodiff == finite differences --------------------------------------------------------


@given(sizes)
@example({"T": 1, "B": 1, "D": 2, "H": 3, "K": 2, "seed": 0})
@example({"T": 1, "B": 0, "D": 1, "H": 1, "K": 1, "seed": 1})
def test_corrected_bptt_equals_autodiff(s):
    rnn, xs, ys = problem(**s)
    engine = autodiff(rnn, xs, ys)
    by_hand = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys)
    for name in ["W", "U", "V", "b", "c", "h", "o", "h0"]:
        assert by_hand[name].shape == engine[name].shape, name
        np.testing.assert_allclose(by_hand[name], engine[name], **EXACT, err_msg=name)


@given(sizes)
@example({"T": 1, "B": 1, "D": 2, "H": 2, "K": 3, "seed": 0})
def test_compare_rows_agree_with_finite_differences(s):
    rnn, xs, ys = problem(**s)
    report = report_mod.compare(rnn, xs, ys)
    T = s["T"]
    names = ["W", "U", "V", "b", "c"] + [f"h_{t}" for t in range(1, T + 1)] + [f"o_{t}" for t in range(1, T + 1)]
    assert [r.quantity for r in report.rows] == names
    for r in report.rows:
        np.testing.assert_allclose(r.corrected, r.autodiff, **EXACT, err_msg=r.quantity)
        np.testing.assert_allclose(r.numeric, r.autodiff, **NUMERIC, err_msg=r.quantity)
        assert r.verdict == "ok", (r.quantity, r.rel_err)
    assert report.ok
    # the report's autodiff column is the graph's: reading ∇h_t from rnn.trace gives the same numbers
    np.testing.assert_array_equal(report.row(f"h_{T}").autodiff, rnn.trace.h[T - 1].grad)


@given(sizes)
def test_lecture_loss_and_forward_equal_the_engine(s):
    rnn, xs, ys = problem(**s)
    L = rnn.loss(xs, ys)
    np.testing.assert_allclose(lecture.loss(**rnn.arrays(), xs=xs, ys=ys), L.item(), rtol=1e-12)
    h, o, yhat = lecture.forward(**rnn.arrays(), xs=xs)
    np.testing.assert_allclose(h, np.stack([t.data for t in rnn.trace.h]), **EXACT)
    np.testing.assert_allclose(o, np.stack([t.data for t in rnn.trace.o]), **EXACT)
    np.testing.assert_allclose(yhat, np.stack([t.data for t in rnn.trace.yhat]), **EXACT)


@given(sizes)
def test_hidden_state_gradient_is_the_derivative_of_the_numpy_loss(s):
    """∇_{h_t}L from the formulas equals central differences of lecture.loss with h_t perturbed (no engine)."""
    rnn, xs, ys = problem(**s)
    arrays = rnn.arrays()
    grads = lecture.bptt_gradients(**arrays, xs=xs, ys=ys)
    t = 1 + s["seed"] % s["T"]
    shape = grads["h"][t - 1].shape
    numeric = np.zeros(shape)
    for i in np.ndindex(*shape):
        e = np.zeros(shape)
        e[i] = 1e-6
        plus = lecture.loss(**arrays, xs=xs, ys=ys, perturb={t: e})
        minus = lecture.loss(**arrays, xs=xs, ys=ys, perturb={t: -e})
        numeric[i] = (plus - minus) / 2e-6
    np.testing.assert_allclose(grads["h"][t - 1], numeric, **NUMERIC)


def test_initial_state_given_and_shared_by_the_batch():
    rnn, xs, ys = problem(T=4, B=3, D=2, H=3, K=4, seed=5)
    rng = np.random.default_rng(0)
    for h0 in (rng.standard_normal(3), rng.standard_normal((3, 3))):
        engine = autodiff(rnn, xs, ys, h0)
        by_hand = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, h0=h0)
        for name in ["W", "U", "V", "b", "c", "h", "o", "h0"]:
            np.testing.assert_allclose(by_hand[name], engine[name], **EXACT, err_msg=name)
        assert by_hand["h0"].shape == h0.shape
        report = report_mod.compare(rnn, xs, ys, h0)
        assert report.ok


def test_linear_head_gradients_equal_autodiff_and_finite_differences():
    rnn, xs, _ = problem(T=5, B=2, D=3, H=4, K=2, seed=3, head="linear")
    ys = np.random.default_rng(1).standard_normal((5, 2, 2))
    engine = autodiff(rnn, xs, ys)
    by_hand = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, head="linear")
    for name in ["W", "U", "V", "b", "c", "h", "o"]:
        np.testing.assert_allclose(by_hand[name], engine[name], **EXACT, err_msg=name)
    report = report_mod.compare(rnn, xs, ys)
    assert report.ok
    assert all(r.as_printed is None for r in report.rows)
    assert any("linear head" in e for e in report.explanations)


# ---- as printed ----------------------------------------------------------------------------------------------


@st.composite
def unequal_sizes(draw):
    s = draw(sizes)
    if s["D"] == s["H"]:
        s["D"] = s["H"] % 5 + 1  # any other size in 1..5
    return s


@given(unequal_sizes())
@example({"T": 1, "B": 0, "D": 2, "H": 1, "K": 2, "seed": 0})
def test_as_printed_does_not_type_check_when_D_differs_from_H(s):
    rnn, xs, ys = problem(**s)
    with pytest.raises(lecture.PrintedFormulaError, match=rf"D={s['D']} inputs and H={s['H']} hidden units"):
        lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, as_printed=True)
    assert issubclass(lecture.PrintedFormulaError, ValueError)
    report = report_mod.compare(rnn, xs, ys)
    T = s["T"]
    untyped = {"W", "U"} | {f"h_{t}" for t in range(1, T)}
    for r in report.rows:
        if r.quantity in untyped:
            assert (r.as_printed, r.printed_rel_err, r.printed_verdict) == (None, None, "does not type-check")
        elif r.quantity in ("b", "c"):
            assert (r.as_printed, r.printed_verdict) == (None, "not in the lecture")
        else:  # ∇o_t, ∇V and ∇h_T are printed correctly and can be evaluated
            assert r.printed_verdict == "agrees", r.quantity
            np.testing.assert_allclose(r.as_printed, r.autodiff, **EXACT)
    assert report.ok  # the as-printed column never makes the report fail
    assert any("do not even type-check" in e for e in report.explanations)


@st.composite
def square_sizes(draw):
    """D = H and K ≥ 2 (K = 1 is degenerate: every gradient is zero, see below)."""
    s = draw(sizes)
    s["D"] = s["H"]
    s["K"] = max(s["K"], 2)
    return s


@given(square_sizes())
@example({"T": 1, "B": 0, "D": 1, "H": 1, "K": 2, "seed": 0})
@example({"T": 2, "B": 1, "D": 1, "H": 1, "K": 2, "seed": 0})
def test_as_printed_gives_wrong_numbers_when_D_equals_H(s):
    rnn, xs, ys = problem(**s)
    T = s["T"]
    printed = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, as_printed=True)
    right = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys)
    assert printed["b"] is None and printed["c"] is None

    def differs(a, b):
        return np.max(np.abs(a - b)) > 1e-6 * max(np.max(np.abs(b)), 1e-12)

    assert differs(printed["W"], right["W"]) and differs(printed["U"], right["U"])
    for t in range(1, T):  # the recursion uses W^T where U^T belongs
        assert differs(printed["h"][t - 1], right["h"][t - 1]), t
    np.testing.assert_allclose(printed["h"][T - 1], right["h"][T - 1], **EXACT)
    np.testing.assert_allclose(printed["o"], right["o"], **EXACT)
    np.testing.assert_allclose(printed["V"], right["V"], **EXACT)
    report = report_mod.compare(rnn, xs, ys)
    wrong = {r.quantity for r in report.rows if r.printed_verdict == "WRONG"}
    assert wrong == {"W", "U"} | {f"h_{t}" for t in range(1, T)}
    assert report.ok
    assert any("type-check but give wrong numbers" in e for e in report.explanations)


# Degenerate cases: D = H and the printed formulas happen to give the right numbers.


def test_degenerate_one_class_makes_every_gradient_zero():
    """K = 1: softmax of one logit is 1 = y, so ∇o = 0 and every gradient is 0 — printed and correct agree."""
    rnn, xs, ys = problem(T=4, B=2, D=3, H=3, K=1, seed=2)
    printed = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, as_printed=True)
    right = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys)
    for name in ["W", "U", "V", "h", "o"]:
        assert not np.any(right[name]) and not np.any(printed[name]), name
    report = report_mod.compare(rnn, xs, ys)
    assert not any(r.printed_verdict == "WRONG" for r in report.rows)
    assert any("Every gradient is zero" in e for e in report.explanations)


def test_degenerate_zero_output_matrix_stops_every_hidden_gradient():
    """V = 0: nothing flows from the outputs into h_t, so ∇h, ∇W, ∇U are all zero both ways."""
    rnn, xs, ys = problem(T=4, B=0, D=3, H=3, K=3, seed=4)
    rnn.V.data[...] = 0.0
    printed = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, as_printed=True)
    right = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys)
    for name in ["W", "U", "h"]:
        assert not np.any(right[name]) and not np.any(printed[name]), name


def test_degenerate_W_equal_to_U_hides_the_swap_in_the_recursion_but_swaps_the_names():
    """W = U: W^T in place of U^T changes nothing, so every ∇h_t agrees; printed "∇W" is the true ∇U and vice versa."""
    rnn, xs, ys = problem(T=5, B=2, D=3, H=3, K=3, seed=6)
    rnn.U.data = rnn.W.data.copy()
    printed = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, as_printed=True)
    right = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys)
    np.testing.assert_allclose(printed["h"], right["h"], **EXACT)
    np.testing.assert_allclose(printed["W"], right["U"], **EXACT)
    np.testing.assert_allclose(printed["U"], right["W"], **EXACT)
    assert np.max(np.abs(printed["W"] - right["W"])) > 1e-3  # still wrong under its own name
    report = report_mod.compare(rnn, xs, ys)
    assert {r.quantity for r in report.rows if r.printed_verdict == "WRONG"} == {"W", "U"}
    assert any("Here W = U" in e for e in report.explanations)


def test_degenerate_one_step_swaps_only_the_names():
    """T = 1: no recursion, so ∇h_1 agrees; printed "∇U" = δ_1 x_1^T is the true ∇W, printed "∇W" = δ_1 h_0^T the
    true ∇U (zero when h_0 = 0)."""
    rnn, xs, ys = problem(T=1, B=0, D=3, H=3, K=3, seed=7)
    printed = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, as_printed=True)
    right = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys)
    np.testing.assert_allclose(printed["h"], right["h"], **EXACT)
    np.testing.assert_allclose(printed["U"], right["W"], **EXACT)
    assert not np.any(printed["W"]) and not np.any(right["U"])


def test_degenerate_W_equal_to_U_with_the_state_fed_back_as_input_agrees_everywhere():
    """W = U and x_t = h_{t−1} for every t: the input and the recurrent term coincide, so every printed formula
    gives the right number under its own name (the only way D = H ≥ 1, K ≥ 2 makes all of them agree)."""
    rnn, _, ys = problem(T=4, B=0, D=3, H=3, K=3, seed=8)
    rnn.U.data = rnn.W.data.copy()
    W, b = rnn.W.data, rnn.b.data
    xs, h = [], np.zeros(3)
    for _ in range(4):  # x_t = h_{t−1}, then h_t = tanh(b + W x_t + U h_{t−1})
        xs.append(h)
        h = np.tanh(b + 2 * W @ h)
    xs = np.array(xs)
    printed = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, as_printed=True)
    right = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys)
    for name in ["W", "U", "V", "h", "o"]:
        np.testing.assert_allclose(printed[name], right[name], **EXACT, err_msg=name)


# ---- truncated BPTT ----------------------------------------------------------------------------------------------


@given(sizes, st.integers(1, 9))
@example({"T": 1, "B": 0, "D": 2, "H": 2, "K": 2, "seed": 0}, 1)
@example({"T": 6, "B": 2, "D": 2, "H": 3, "K": 3, "seed": 0}, 2)
def test_truncated_bptt_equals_the_engine_detaching_every_k_steps(s, k):
    """Chunks of k steps, each starting from the previous chunk's last state detached, == the formula."""
    rnn, xs, ys = problem(**s)
    rnn.zero_grad()
    total, h, traces = None, None, []
    for start in range(0, s["T"], k):
        L = rnn.loss(xs[start : start + k], ys[start : start + k], h0=h)
        traces.append(rnn.trace)
        h = rnn.trace.h[-1].detach()
        total = L if total is None else total + L
    total.backward()
    by_hand = lecture.truncated_bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, k=k)
    for name in "WUVbc":
        np.testing.assert_allclose(by_hand[name], getattr(rnn, name).grad, **EXACT, err_msg=name)
    np.testing.assert_allclose(by_hand["h"], np.stack([n.grad for tr in traces for n in tr.h]), **EXACT)
    np.testing.assert_allclose(by_hand["o"], np.stack([n.grad for tr in traces for n in tr.o]), **EXACT)
    np.testing.assert_allclose(by_hand["h0"], traces[0].h0.grad, **EXACT)
    if k >= s["T"]:  # nothing is cut: full BPTT
        full = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys)
        for name in "WUVbc":
            np.testing.assert_array_equal(by_hand[name], full[name])


def test_truncation_changes_the_gradient_and_rejects_bad_k():
    rnn, xs, ys = problem(T=6, D=2, H=3, K=3, seed=9)
    full = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys)
    cut = lecture.truncated_bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, k=2)
    assert np.max(np.abs(full["W"] - cut["W"])) > 1e-4
    np.testing.assert_allclose(cut["h"][1], cut["o"][1] @ rnn.V.data, **EXACT)  # at t = 2 only V^T ∇o_2 arrives
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="truncation length k"):
            lecture.truncated_bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, k=k)


# ---- appendix ----------------------------------------------------------------------------------------------------

vectors = st.tuples(st.integers(1, 6), seeds).map(lambda a: np.random.default_rng(a[1]).uniform(-3, 3, a[0]))


@given(vectors, seeds)
def test_appendix_A_cross_entropy_gradient(z, seed):
    rng = np.random.default_rng(seed)
    yhat = rng.uniform(0.05, 1.0, z.size)
    y = rng.dirichlet(np.ones(z.size))
    p = Tensor(yhat, requires_grad=True)
    F.cross_entropy_probs(p, y).backward()
    np.testing.assert_allclose(lecture.cross_entropy_grad(y, yhat), p.grad, **EXACT)


@given(vectors)
def test_appendix_B_softmax_jacobian(z):
    engine = jacobian(lambda x: F.softmax(x), Tensor(z, requires_grad=True))
    np.testing.assert_allclose(lecture.softmax_jacobian(z), engine, **EXACT)
    yhat = lecture.softmax(z)
    for j in range(z.size):  # the two cases of the derivation
        for k in range(z.size):
            want = yhat[j] * (1 - yhat[j]) if j == k else -yhat[j] * yhat[k]
            np.testing.assert_allclose(lecture.softmax_jacobian(z)[j, k], want, **EXACT)


@given(vectors)
def test_appendix_C_tanh_derivative_for_both_tanh(x):
    for f in (lambda t: t.tanh(), F.tanh):
        engine = jacobian(f, Tensor(x, requires_grad=True))
        np.testing.assert_allclose(np.diag(lecture.tanh_grad(x)), engine, **EXACT)


@given(vectors, seeds)
def test_output_gradient_is_yhat_minus_y(o, seed):
    y = np.random.default_rng(seed).dirichlet(np.ones(o.size))
    t = Tensor(o, requires_grad=True)
    F.cross_entropy_probs(F.softmax(t), y).backward()
    np.testing.assert_allclose(lecture.output_grad(y, lecture.softmax(o)), t.grad, **EXACT)
    # and the chain of A through B gives the same vector: J_softmax^T ∇_ŷ L
    chained = lecture.softmax_jacobian(o).T @ lecture.cross_entropy_grad(y, lecture.softmax(o))
    np.testing.assert_allclose(chained, t.grad, **EXACT)


# ---- bad input ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn", [lecture.bptt_gradients, lecture.loss, lambda *a, **k: lecture.truncated_bptt_gradients(*a, **k, k=2)]
)
def test_bad_input_errors_name_the_function_and_the_step(fn):
    rnn, xs, ys = problem(T=4, B=0, D=3, H=2, K=3, seed=0)
    p = rnn.arrays()
    with pytest.raises(ValueError, match=r"xs has T=4 steps .* ys has 3 steps"):
        fn(**p, xs=xs, ys=ys[:3])
    with pytest.raises(ValueError, match=r"D=5 features .* expects input size D=3"):
        fn(**p, xs=np.ones((4, 5)), ys=ys)
    bad = ys.copy()
    bad[2] = 3
    with pytest.raises(ValueError, match=r"class index 3 at t=3 is outside 0..2 \(K=3"):
        fn(**p, xs=xs, ys=bad)
    nan = xs.copy()
    nan[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"xs has a non-finite value \(nan\) at t=2"):
        fn(**p, xs=nan, ys=ys)
    with pytest.raises(ValueError, match=r"ys row at t=1 sums to 0.5"):
        fn(**p, xs=xs, ys=np.full((4, 3), 0.5 / 3))
    with pytest.raises(ValueError, match=r"xs must have shape \(T, D\)"):
        fn(**p, xs=np.ones(3), ys=ys)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2,\)"):
        fn(**p, xs=xs, ys=ys, h0=np.ones(3))
    with pytest.raises(ValueError, match="parameter shapes do not fit"):
        fn(**{**p, "U": np.ones((3, 3))}, xs=xs, ys=ys)
    with pytest.raises(TypeError, match="xs must hold real numbers"):
        fn(**p, xs=np.full((4, 3), "a"), ys=ys)


def test_batched_errors_name_the_batch_index():
    rnn, xs, ys = problem(T=3, B=2, D=2, H=2, K=2, seed=0)
    nan = xs.copy()
    nan[2, 1, 0] = np.inf
    with pytest.raises(ValueError, match=r"non-finite value \(inf\) at t=3, batch index 1"):
        lecture.bptt_gradients(**rnn.arrays(), xs=nan, ys=ys)
    bad = ys.copy()
    bad[0, 1] = -1
    with pytest.raises(ValueError, match=r"class index -1 at t=1, batch index 1"):
        lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=bad)
    with pytest.raises(ValueError, match=r"fits neither class indices \(3, 2\)"):
        lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys[:, :1])


# ---- the report ----------------------------------------------------------------------------------------------------


def test_report_table_is_readable_in_120_columns():
    rnn, xs, ys = problem(T=3, B=2, D=4, H=4, K=3, seed=1)
    report = report_mod.compare(rnn, xs, ys)
    text = str(report)
    assert all(len(line) <= 120 for line in text.splitlines())
    lines = text.splitlines()
    for q in ["W", "U", "V", "b", "c", "h_1", "h_2", "h_3", "o_1", "o_2", "o_3"]:
        assert sum(line.startswith(f"{q} ") for line in lines) == 1, q
    assert "WRONG" in text and "not in the lecture" in text and "OK:" in text
    for field in ["quantity", "autodiff", "corrected", "as_printed", "numeric", "abs_err", "rel_err"]:
        assert hasattr(report.rows[0], field)
    assert report.row("h_2").shape == (2, 4)
    with pytest.raises(KeyError):
        report.row("h_9")


def test_report_flags_a_corrupted_engine_gradient(monkeypatch):
    """If the engine's tanh derivative were wrong, autodiff would disagree with both other methods."""
    from tinygrad_rnn import ops

    monkeypatch.setattr(ops.Tanh, "backward", lambda self, g: (g * (1.0 - self.saved[0]),))
    rnn, xs, ys = problem(T=3, D=2, H=3, K=2, seed=0)
    report = report_mod.compare(rnn, xs, ys)
    assert not report.ok
    bad = {r.quantity for r in report.rows if r.verdict == "MISMATCH"}
    assert {"W", "U", "b", "h_1", "h_2"} <= bad  # everything behind a tanh
    assert {"V", "c", "h_3", "o_1", "o_2", "o_3"}.isdisjoint(bad)  # nothing ahead of the last tanh
    assert "NOT OK" in str(report)
    assert any("W: autodiff and the corrected lecture formula differ" in e for e in report.explanations)


def test_compare_keeps_the_autodiff_graph_as_the_trace():
    rnn, xs, ys = problem(T=3, D=2, H=2, K=2, seed=0)
    report = report_mod.compare(rnn, xs, ys)
    assert rnn.trace.loss is report.loss and report.loss.name == "L"
    assert rnn.trace.h[0].grad is not None


def test_float32_model_is_compared_with_float32_tolerances():
    rnn, xs, ys = problem(T=3, D=2, H=3, K=2, seed=0, dtype=np.float32)
    for p in rnn.parameters():
        p.data = p.data.astype(np.float32)
    report = report_mod.compare(rnn, xs, ys)
    assert report.ok
    assert report.rows[0].autodiff.dtype == np.float64 and rnn.W.grad.dtype == np.float32


def test_bptt_handles_a_long_sequence():
    rnn, xs, ys = problem(T=500, B=4, D=8, H=16, K=8, seed=0, scale=0.3)
    engine = autodiff(rnn, xs, ys)
    by_hand = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys)
    for name in "WUVbc":
        np.testing.assert_allclose(by_hand[name], engine[name], rtol=1e-10, atol=1e-12, err_msg=name)
