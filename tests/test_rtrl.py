"""Real-time recurrent learning: the sensitivities carried forward give exactly BPTT's gradient (to 1e-10, over T,
B, D, H, K, h_0, both heads); they are the tangents forward mode pushes along the unrolled graph; the online learner
learns; the costs counted (H⁴ per step, memory independent of T) are what the code holds."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinygrad_rnn import lecture
from tinygrad_rnn.forward import jvp, push_tangents
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.rtrl import RTRL, bptt_cost, rtrl_cost, rtrl_gradients
from tinygrad_rnn.strategies import rnn_sizes


@st.composite
def problems(draw):
    """Parameters (b, c nonzero), inputs, targets in one of their forms, h_0 in one of its forms, the head."""
    s = draw(rnn_sizes(max_steps=7, max_batch=3, max_size=4))
    T, B, D, H, K = s["T"], s["B"], s["D"], s["H"], s["K"]
    rng = np.random.default_rng(s["seed"])
    P = RNN(D, H, K, seed=s["seed"], spectral_radius=draw(st.sampled_from([None, 0.5, 1.5]))).arrays()
    P["b"], P["c"] = 0.3 * rng.standard_normal(H), 0.3 * rng.standard_normal(K)
    lead = (T, B) if B else (T,)
    xs = rng.standard_normal((*lead, D))
    head = draw(st.sampled_from(["softmax", "linear"]))
    if head == "linear":
        ys = rng.standard_normal((*lead, K))
    elif draw(st.booleans()):
        ys = rng.integers(0, K, size=lead)
    else:
        ys = rng.dirichlet(np.ones(K), size=lead)
    h0 = draw(st.sampled_from(["none", "shared"] + (["per sequence"] if B else [])))
    h0 = {"none": None, "shared": rng.uniform(-0.9, 0.9, H), "per sequence": rng.uniform(-0.9, 0.9, (max(B, 1), H))}[h0]
    return P, xs, ys, h0, head


def fixed(T, B=0, D=2, H=3, K=2, head="softmax", h0=None):
    rng = np.random.default_rng(T)
    P = RNN(D, H, K, seed=T).arrays()
    lead = (T, B) if B else (T,)
    ys = rng.integers(0, K, size=lead) if head == "softmax" else rng.standard_normal((*lead, K))
    return P, rng.standard_normal((*lead, D)), ys, h0, head


@given(problems())
@example(fixed(T=1))  # no recurrence at all: P_1 = diag(1 − h_1²) ∂a_1/∂θ
@example(fixed(T=1, B=2, head="linear", h0=np.full(3, 0.5)))
@example(fixed(T=30, H=4))
def test_rtrl_equals_bptt(problem):
    P, xs, ys, h0, head = problem
    mine = rtrl_gradients(**P, xs=xs, ys=ys, h0=h0, head=head)
    theirs = lecture.bptt_gradients(**P, xs=xs, ys=ys, h0=h0, head=head)
    assert set(mine) == set("WUVbc")
    for name in "WUVbc":
        assert mine[name].shape == P[name].shape
        np.testing.assert_allclose(mine[name], theirs[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_the_contract_signature():
    params = list(inspect.signature(rtrl_gradients).parameters.values())
    assert [p.name for p in params] == ["W", "U", "V", "b", "c", "xs", "ys", "h0", "head"]
    assert params[7].default is None and params[8].kind is inspect.Parameter.KEYWORD_ONLY
    assert params[8].default == "softmax"
    P, xs, ys, _, _ = fixed(T=3)
    by_position = rtrl_gradients(P["W"], P["U"], P["V"], P["b"], P["c"], xs, ys, np.zeros(3))
    np.testing.assert_allclose(by_position["U"], rtrl_gradients(**P, xs=xs, ys=ys)["U"], rtol=1e-15)


@given(problems())
def test_stepping_one_step_at_a_time_gives_the_same_losses_and_gradients(problem):
    P, xs, ys, h0, head = problem
    run = RTRL(**P, head=head)
    run.reset(h0)
    losses = [run.step(x, y) for x, y in zip(xs, ys)]
    assert sum(losses) == pytest.approx(lecture.loss(**P, xs=xs, ys=ys, h0=h0, head=head), rel=1e-12)
    theirs = lecture.bptt_gradients(**P, xs=xs, ys=ys, h0=h0, head=head)
    for name in "WUVbc":
        np.testing.assert_allclose(run.grads[name], theirs[name], rtol=1e-10, atol=1e-12, err_msg=name)
    h, _, _ = lecture.forward(**P, xs=xs, h0=h0)
    np.testing.assert_allclose(run.h.reshape(h[-1].shape), h[-1], rtol=1e-13)


def test_the_sensitivities_are_the_tangents_forward_mode_pushes_along_the_graph():
    """P^U_t · dU (RTRL's carried sensitivity, contracted with a direction) = dh_t of jvp on the unrolled graph."""
    P, xs, ys, _, _ = fixed(T=5, D=2, H=3, K=2)
    rnn = RNN.from_arrays(**P)
    L = rnn.loss(xs, ys)
    dU = np.random.default_rng(0).standard_normal((3, 3))
    dot = push_tangents(L, {rnn.U: dU})
    run = RTRL(**P)
    for t, (x, y) in enumerate(zip(xs, ys)):
        run.step(x, y)
        np.testing.assert_allclose(np.tensordot(run.PU[0], dU, axes=2), dot[rnn.trace.h[t]], rtol=1e-12, atol=1e-14)
    # and the directional derivative of L: forward mode's number is ⟨∇_U L, dU⟩ from RTRL
    _, dL = jvp(lambda U: RNN.from_arrays(**(P | {"U": U.data})).loss(xs, ys), (P["U"],), (dU,))
    assert float(np.sum(run.grads["U"] * dU)) == pytest.approx(float(dot[L]), rel=1e-12)


def test_memory_is_independent_of_T_and_counted():
    P, xs, ys, _, _ = fixed(T=40, B=2, D=2, H=3, K=2)
    run = RTRL(**P)
    held = []
    for x, y in zip(xs, ys):
        run.step(x, y)
        held.append(run.numbers_held())
    assert len(set(held)) == 1 and held[0] == 2 * rtrl_cost(3, 2, 2).numbers_held  # per sequence × B
    assert bptt_cost(3, 2, 2, 80).numbers_held == 2 * bptt_cost(3, 2, 2, 40).numbers_held


def test_the_counted_costs_grow_as_the_papers_say():
    """RTRL ~H⁴ per step, BPTT ~H² (Williams & Zipser): doubling H multiplies them by → 16 and → 4."""
    r = [rtrl_cost(H, H, H).macs_per_step for H in (64, 128)]
    b = [bptt_cost(H, H, H, 100).macs_per_step for H in (64, 128)]
    assert 15 < r[1] / r[0] < 17 and 3.9 < b[1] / b[0] < 4.1
    assert rtrl_cost(32, 32, 32).numbers_held == rtrl_cost(32, 32, 32, T=10_000).numbers_held
    assert rtrl_cost(32, 1, 1).macs_per_step > 1_000_000 > 100_000 > bptt_cost(32, 1, 1, 1).macs_per_step  # PAPERS.md


def test_online_learning_updates_at_every_step_and_learns_a_delay():
    """Echo the symbol seen three steps ago: RTRL, updating after every step, learns it; with the sensitivities
    forgotten every step (the gradient truncated to one step) it stays near chance (ln 3 = 1.10)."""
    rng = np.random.default_rng(0)
    symbols = rng.integers(0, 3, size=2500)
    xs, ys = np.eye(3)[symbols], np.roll(symbols, 3)
    losses = {}
    for forget in (False, True):
        run = RTRL(**RNN(3, 12, 3, seed=1).arrays())
        trace = []
        for x, y in zip(xs, ys):
            trace.append(run.step(x, y))
            run.update(0.1, clip=5.0)
            if forget:
                run.forget()
        losses[forget] = float(np.mean(trace[-300:]))
    assert losses[False] < 0.05 and losses[True] > 0.8


def test_update_and_clip():
    P, xs, ys, _, _ = fixed(T=3)
    run = RTRL(**P)
    for x, y in zip(xs, ys):
        run.step(x, y)
    g = {k: v.copy() for k, v in run.grads.items()}
    norm = np.sqrt(sum(np.sum(v * v) for v in g.values()))
    assert run.update(0.5, clip=norm / 2) == pytest.approx(norm)
    np.testing.assert_allclose(run.params["U"], P["U"] - 0.5 * 0.5 * g["U"], rtol=1e-14)
    assert all(not v.any() for v in run.grads.values())
    assert not np.shares_memory(run.params["U"], P["U"])  # the caller's arrays are copies


def test_errors_name_the_function_and_the_shapes():
    P, xs, ys, _, _ = fixed(T=3)
    with pytest.raises(ValueError, match=r"RTRL: parameter shapes do not fit together: W \(3, 2\), U \(2, 2\)"):
        RTRL(**(P | {"U": np.zeros((2, 2))}))
    with pytest.raises(ValueError, match=r"rtrl_gradients: xs has D=3 features"):
        rtrl_gradients(**P, xs=np.zeros((3, 3)), ys=ys)
    with pytest.raises(ValueError, match=r"rtrl_gradients: h0 has shape \(2,\); expected \(3,\)"):
        rtrl_gradients(**P, xs=xs, ys=ys, h0=np.zeros(2))
    run = RTRL(**P)
    run.step(np.zeros((2, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"RTRL.step \(t=2\): x_t holds 3 sequence\(s\), but this run carries 2"):
        run.step(np.zeros((3, 2)), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"RTRL.step \(t=2\): class index 5"):
        run.step(np.zeros((2, 2)), np.array([0, 5]))
    with pytest.raises(ValueError, match="unknown output head"):
        RTRL(**P, head="tanh")


def test_the_benchmark_runs_and_checks_both_methods_agree():
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_rtrl.py"
    proc = subprocess.run([sys.executable, str(bench), "--quick", "--no-plot", "--repeat", "1"], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 8  # 3 + 2 sizes of H, 3 lengths T
    diffs = [float(r.split("|")[-2]) for r in rows if "—" not in r.split("|")[-2]]
    assert diffs and max(diffs) < 1e-10
