"""Section 3 reproduced: the `papers.run` contract, and each experiment's mathematics checked exactly."""

import re

import numpy as np
import pytest

from tinygrad_rnn import lecture, papers
from tinygrad_rnn.gradcheck import numerical_grad
from tinygrad_rnn.lstm import LSTM
from tinygrad_rnn.papers import adding, cliff, contributions, latch
from tinygrad_rnn.papers._common import pyplot
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.tensor import Tensor
from tinygrad_rnn.train import tbptt_backward

RESULT = re.compile(r"^result: ours=(\S+) paper=(\S+) \((.+)\)$")


# ---- the contract ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("papers")
    return {name: papers.run(name, quick=True, out_dir=out) for name in papers.NAMES}, out


@pytest.mark.parametrize("name", papers.NAMES)
def test_quick_run_ends_with_the_result_line_and_writes_its_figure(quick_results, name):
    results, out = quick_results
    r = results[name]
    m = RESULT.match(r.lines[-1])
    assert m, r.lines[-1]
    assert r.text().splitlines()[-1] == r.lines[-1] == r.result_line
    assert float(m.group(1)) == pytest.approx(r.ours, rel=1e-3, nan_ok=True)
    assert float(m.group(2)) == pytest.approx(r.paper, rel=1e-3, nan_ok=True)
    assert r.name == name and r.cpu_seconds < 30
    if pyplot() is not None:
        assert r.figure == out / f"{name}_quick.png" and r.figure.stat().st_size > 10_000
        assert f"figure: {r.figure}" in r.lines
    else:
        assert r.figure is None and "figure: skipped (matplotlib is not installed)" in r.lines


def test_quick_numbers_are_the_experiments_own(quick_results):
    results, _ = quick_results
    esn = results["esn"].data["nrmse84"]
    assert esn["esn"].mean() < 3 * 2.8e-4  # the target, here on 5 trials and 3 seeds
    assert esn["esn"].max() < min(esn["rnn"].min(), esn["lstm"].min())  # the ESN beats both BPTT forecasters
    assert results["contributions"].ours < 1e-12
    assert results["cliff"].ours < 0.05 < results["cliff"].data["plain"]["loss"][-1, 0]
    p = results["latch"].data["probability"]
    assert p[5] > p[20]  # the longer sequence is the harder one
    rates = results["adding"].data["rates"]
    assert all(0 <= v <= 1 for r in rates.values() for v in r)


def test_run_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"papers.run: unknown experiment 'nope'; expected one of esn, cliff"):
        papers.run("nope")
    with pytest.raises(TypeError, match="papers.run: name must be a string"):
        papers.run(3)
    with pytest.raises(TypeError, match="papers.run: quick must be True or False"):
        papers.run("cliff", quick="yes")
    with pytest.raises(TypeError, match="papers.run: out_dir must be a path"):
        papers.run("cliff", out_dir=5)


# ---- the cliff ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("w, b", [(2.0, -1.0), (6.0, -1.0), (5.0, -4.0), (1.0, 0.5)])
def test_cliff_gradient_matches_central_differences(w, b):
    E, g = cliff.loss_and_gradient([w], [b])
    for k, arg in enumerate(("w", "b")):

        def f(v, k=k):
            p = [w, b]
            p[k] = float(v[0])
            return cliff.cliff_loss(Tensor(np.array([p[0]])), Tensor(np.array([p[1]]))).sum()

        num = numerical_grad(f, np.array([[w, b][k]]))
        np.testing.assert_allclose(g[0, k], num[0], rtol=1e-5, atol=1e-10, err_msg=arg)


def test_cliff_linear_case_gradient_is_t_x0_w_to_the_t_minus_1():
    """σ = identity, b = 0: x_T = x_0 w^T, E = (x_T − 0.7)², so ∂E/∂w = 2 (x_T − 0.7) T x_0 w^(T−1) (section 2.3)."""
    w = np.array([0.9, 1.05, 1.2])
    E, g = cliff.loss_and_gradient(w, np.zeros(3), T=50, sigma="identity")
    x_T = 0.5 * w**50
    np.testing.assert_allclose(E, (x_T - 0.7) ** 2, rtol=1e-12)
    np.testing.assert_allclose(g[:, 0], 2 * (x_T - 0.7) * 50 * 0.5 * w**49, rtol=1e-10)


def test_clipped_steps_never_exceed_lr_times_threshold_while_plain_ones_jump_at_the_wall():
    plain = cliff.descend([cliff.STARTS[0]], 120, lr=0.2)
    clipped = cliff.descend([cliff.STARTS[0]], 120, lr=0.2, threshold=1.0)
    step = lambda r: np.linalg.norm(np.diff(r["path"], axis=0), axis=2)  # noqa: E731
    assert step(clipped).max() <= 0.2 * 1.0 + 1e-12
    assert step(plain).max() > 100  # the wall: ‖g‖ in the thousands
    k = int(np.argmax(plain["grad_norm"][:, 0]))
    np.testing.assert_array_equal(plain["path"][: k + 1], clipped["path"][: k + 1])  # identical until the wall
    with pytest.raises(ValueError, match="descend: threshold must be > 0"):
        cliff.descend([(1.0, 0.0)], 2, threshold=0.0)
    with pytest.raises(TypeError, match="cliff_loss: w and b must be Tensors"):
        cliff.cliff_loss(np.ones(2), Tensor(np.ones(2)))


# ---- eq. 4: the contribution matrix ---------------------------------------------------------------------------------


def _problem(rho=0.9, T=9, seed=1, scale=0.5):
    rng = np.random.default_rng(seed)
    rnn = RNN(3, 5, 4, seed=seed, spectral_radius=rho)
    rnn.b.data[...] = rng.normal(0, 0.3, 5)
    return rnn, scale * rng.normal(size=(T, 3)), rng.integers(0, 4, size=T), 0.3 * rng.normal(size=5)


@pytest.mark.parametrize("rho", [0.5, 1.5])
def test_contributions_sum_to_the_full_gradient_and_rows_to_each_loss_term(rho):
    rnn, xs, ys, h0 = _problem(rho)
    C = contributions.contribution_matrix(**rnn.arrays(), xs=xs, ys=ys, h0=h0)
    assert np.all(C[np.triu_indices(len(xs), 1)] == 0)  # k > t contributes nothing
    full = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, h0=h0)["U"]
    np.testing.assert_allclose(C.sum(axis=(0, 1)), full, rtol=1e-10, atol=1e-13)
    rnn.loss(xs, ys, h0).backward()
    np.testing.assert_allclose(C.sum(axis=(0, 1)), rnn.U.grad, rtol=1e-10, atol=1e-13)
    rows = contributions.engine_row_gradients(rnn, xs, ys, h0)
    np.testing.assert_allclose(C.sum(axis=1), rows, rtol=1e-10, atol=1e-13)


def test_every_entry_is_the_engines_gradient_for_a_per_step_copy_of_U():
    """An independent witness of each C[t, k]: unroll with a separate leaf U_k at every step; backward from L_t
    alone puts exactly the contribution of step k into U_k.grad."""
    rnn, xs, ys, h0 = _problem(1.2, T=6)
    a = {n: Tensor(v) for n, v in rnn.arrays().items()}
    C = contributions.contribution_matrix(**rnn.arrays(), xs=xs, ys=ys, h0=h0)
    for t in range(len(xs)):
        copies = [Tensor(rnn.U.data.copy(), requires_grad=True) for _ in xs]
        h = Tensor(h0)
        for k, x in enumerate(xs[: t + 1]):
            h = (a["b"] + a["W"] @ Tensor(x) + copies[k] @ h).tanh()
        o = a["c"] + a["V"] @ h
        m = o.max().detach()
        L_t = -(o[int(ys[t])] - m) + ((o - m).exp().sum()).log()
        L_t.backward()
        for k in range(t + 1):
            np.testing.assert_allclose(C[t, k], copies[k].grad, rtol=1e-10, atol=1e-14, err_msg=f"t={t + 1} k={k + 1}")


@pytest.mark.parametrize("k", [1, 2, 3, 4, 9, 20])
def test_truncated_bptt_keeps_exactly_the_band_of_the_matrix(k):
    rnn, xs, ys, h0 = _problem(1.1)
    C = contributions.contribution_matrix(**rnn.arrays(), xs=xs, ys=ys, h0=h0)
    band = contributions.truncation_band(len(xs), k)
    trunc = lecture.truncated_bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, k=k, h0=h0)["U"]
    np.testing.assert_allclose(C[band].sum(axis=0), trunc, rtol=1e-10, atol=1e-13)
    rnn.zero_grad()
    tbptt_backward(rnn, xs, ys, k, h0)  # the engine, chunk by chunk with the state detached
    np.testing.assert_allclose(C[band].sum(axis=0), rnn.U.grad, rtol=1e-10, atol=1e-13)
    if k < len(xs):
        assert np.linalg.norm(C[~band & np.tri(len(xs), dtype=bool)].sum(axis=0)) > 1e-8  # something is dropped


def test_truncation_band_shapes():
    np.testing.assert_array_equal(contributions.truncation_band(4, 1), np.eye(4, dtype=bool))
    np.testing.assert_array_equal(contributions.truncation_band(4, 4), np.tri(4, dtype=bool))
    b = contributions.truncation_band(5, 2)
    assert b[1, 0] and not b[2, 1] and b[3, 2] and not b[4, 3]
    with pytest.raises(ValueError, match="truncation_band: k must be a whole number ≥ 1"):
        contributions.truncation_band(5, 0)


def test_one_row_matches_central_differences():
    rnn, xs, ys, h0 = _problem(0.9, T=5)
    C = contributions.contribution_matrix(**rnn.arrays(), xs=xs, ys=ys, h0=h0)
    arrays = rnn.arrays()

    def L_3(U):  # L_3 alone
        hs, _, yhat = lecture.forward(arrays["W"], U, arrays["V"], arrays["b"], arrays["c"], xs, h0)
        return -np.log(yhat[2, int(ys[2])])

    np.testing.assert_allclose(C[2].sum(axis=0), numerical_grad(L_3, arrays["U"]), rtol=1e-5, atol=1e-9)


# ---- the adding problem ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("T", [6, 10, 50])
def test_adding_batch_follows_the_papers_definition(T):
    b = adding.adding_batch(T, 400, np.random.default_rng(T))
    x, lengths = b["x"], b["lengths"]
    assert lengths.min() >= T and lengths.max() <= T + T // 10
    for j in range(400):
        n = lengths[j]
        marks = np.flatnonzero(x[:n, j, 1] == 1)
        assert len(marks) == 2
        m0, m1, half = marks[0], marks[1], T // 2 - 1  # X_1 among the first 10, X_2 among the first T/2 − 1
        first = min(10, T - 1)
        assert (m0 < first and m1 < half) or (m1 < first and m0 < half)
        assert x[n - 1, j, 1] == -1 and x[0, j, 1] == (1 if m0 == 0 else -1)
        assert np.all(x[1 : n - 1, j, 1][~np.isin(np.arange(1, n - 1), marks)] == 0)
        assert np.all(np.abs(x[:n, j, 0]) <= 1)
        if m0 == 0:
            assert x[0, j, 0] == 0  # "in the rare case where the first pair gets marked, we set X_1 to zero"
        assert b["target"][j] == pytest.approx(0.5 + x[marks, j, 0].sum() / 4)
        assert b["mask"][:, j].sum() == 1 and b["mask"][n - 1, j] == 1 and b["y"][n - 1, j, 0] == b["target"][j]
    assert np.any(x[0, :, 1] == 1)  # the rare case does occur


MAKERS = [lambda s: RNN(2, 4, 1, seed=s, head="linear"), lambda s: LSTM(2, 4, 1, seed=s, head="linear")]


@pytest.mark.parametrize("make", MAKERS, ids=["rnn", "lstm"])
def test_stacked_seeds_get_exactly_their_own_gradients(make):
    models = [make(s) for s in range(3)]
    stacked = adding.stack_models(models)
    b = adding.adding_batch(12, 5, np.random.default_rng(0))
    stacked.loss(b["x"], np.repeat(b["y"], 3, axis=2), mask=b["mask"], reduction="mean").backward()
    H = 4
    for s, m in enumerate(models):
        m.loss(b["x"], b["y"], mask=b["mask"], reduction="mean").backward()
        for name, p in m.named_parameters().items():
            g = getattr(stacked, name).grad
            block = (slice(s, s + 1) if name in ("V", "c", "b_y") else slice(s * H, (s + 1) * H),)
            if name.startswith("U") or name == "V":
                block += (slice(s * H, (s + 1) * H),)
            np.testing.assert_allclose(g[block], p.grad, rtol=1e-10, atol=1e-14, err_msg=f"seed {s} {name}")
    for name, mask in stacked.masks.items():
        assert np.all(getattr(stacked, name).grad[mask == 0] == 0)
    rates = adding.success_rates(stacked, b)
    for s, m in enumerate(models):  # the stacked forward gives every seed its own outputs
        _, os = m.forward(b["x"])
        out = np.stack([o.data for o in os])[b["lengths"] - 1, np.arange(5), 0]
        assert rates[s] == np.mean(np.abs(out - b["target"]) < 0.04)


def test_each_copy_is_clipped_on_its_own():
    stacked = adding.stack_models([RNN(2, 3, 1, seed=s, head="linear") for s in range(2)])
    for p in stacked.parameters():
        p.grad = np.zeros(p.shape)
    stacked.W.grad[:3] = 10.0  # copy 0: a large gradient
    stacked.W.grad[3:] = 0.01  # copy 1: a small one
    norms = adding._clip_each(stacked, 1.0)
    assert norms[0] == pytest.approx(np.sqrt(6 * 100)) and norms[1] == pytest.approx(np.sqrt(6) * 0.01)
    assert np.linalg.norm(stacked.W.grad[:3]) == pytest.approx(1.0)
    np.testing.assert_array_equal(stacked.W.grad[3:], 0.01)
    with pytest.raises(TypeError, match="stack_models: give models of one kind"):
        adding.stack_models([RNN(2, 3, 1), LSTM(2, 3, 1)])


# ---- the latch ------------------------------------------------------------------------------------------------------


def test_latch_states_is_the_one_unit_recurrence():
    rng = np.random.default_rng(0)
    w, h = rng.uniform(1, 1.5, (2, 1)), rng.normal(size=(2, 2, 3))
    classes, noise = np.array([0, 1, 1]), 0.2 * rng.normal(size=(4, 2, 3))
    x = latch.latch_states(Tensor(w), Tensor(h), classes, noise).data
    for r in range(2):
        for p, c in enumerate(classes):
            v = 0.0
            for t in range(7):
                v = np.tanh(w[r, 0] * v + (h[r, c, t] if t < 3 else noise[t - 3, r, p]))
            assert x[r, p] == pytest.approx(v, rel=1e-14)


def test_latch_trials_are_independent_and_gradients_match_central_differences():
    rng = np.random.default_rng(1)
    classes, noise = np.array([0, 1, 0, 1]), 0.2 * rng.normal(size=(6, 3, 4))
    w0, h0 = rng.uniform(1, 1.5, (3, 1)), rng.uniform(-0.5, 0.5, (3, 2, 3))
    w, h = Tensor(w0.copy(), requires_grad=True), Tensor(h0.copy(), requires_grad=True)
    latch.latch_loss(latch.latch_states(w, h, classes, noise), classes).backward()
    for r in range(3):  # trial r alone gives the same gradient
        wr, hr = Tensor(w0[r : r + 1].copy(), requires_grad=True), Tensor(h0[r : r + 1].copy(), requires_grad=True)
        latch.latch_loss(latch.latch_states(wr, hr, classes, noise[:, r : r + 1]), classes).backward()
        np.testing.assert_allclose(w.grad[r], wr.grad[0], rtol=1e-12)
        np.testing.assert_allclose(h.grad[r], hr.grad[0], rtol=1e-12)

    def C(hv):
        return latch.latch_loss(latch.latch_states(Tensor(w0), Tensor(hv), classes, noise), classes)

    np.testing.assert_allclose(h.grad, numerical_grad(C, h0.copy()), rtol=1e-5, atol=1e-10)
    with pytest.raises(ValueError, match=r"latch_states: w must be \(R, 1\) and h \(R, 2, L\)"):
        latch.latch_states(Tensor(np.ones((3, 1))), Tensor(np.ones((3, 3, 2))), classes, noise)
