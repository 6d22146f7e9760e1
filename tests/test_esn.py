"""Echo state networks: the reservoir, the leaky update, teacher forcing, the readout, free runs, and the
Mackey-Glass data and NRMSE84 of Jaeger's GMD Report 148."""

import numpy as np
import pytest

from tinygrad_rnn import data
from tinygrad_rnn.esn import ESN, nrmse, ridge_readouts, sparse_reservoir
from tinygrad_rnn.papers import esn as bench


def test_sparse_reservoir_has_the_requested_spectral_radius_values_and_density():
    rng = np.random.default_rng(0)
    W = sparse_reservoir(400, 0.0125, 0.79, rng)
    assert np.max(np.abs(np.linalg.eigvals(W))) == pytest.approx(0.79, rel=1e-10)
    nonzero = W[W != 0]
    assert np.unique(np.abs(nonzero)).size == 1  # one magnitude, both signs: ±v rescaled
    assert (nonzero > 0).mean() == pytest.approx(0.5, abs=0.05)
    assert (W != 0).mean() == pytest.approx(0.0125, rel=0.1)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_units=0, connectivity=0.1, spectral_radius=0.9), ValueError, "sparse_reservoir: n_units"),
        (dict(n_units=10, connectivity=1.5, spectral_radius=0.9), ValueError, "sparse_reservoir: connectivity"),
        (dict(n_units=10, connectivity=0.1, spectral_radius=-1), ValueError, "sparse_reservoir: spectral_radius"),
        (dict(n_units=10, connectivity="a", spectral_radius=0.9), TypeError, "sparse_reservoir: connectivity"),
    ],
)
def test_sparse_reservoir_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        sparse_reservoir(rng=np.random.default_rng(0), **kwargs)


def test_esn_defaults_are_the_reports_mackey_glass_network():
    esn = ESN(seed=3)
    assert esn.W.shape == (400, 400) and esn.W_in.shape == (400, 1) and esn.W_back.shape == (400, 1)
    assert np.max(np.abs(np.linalg.eigvals(esn.W))) == pytest.approx(0.79, rel=1e-10)
    assert set(np.unique(esn.W_in)) <= {0.0, 0.14, -0.14}
    assert np.abs(esn.W_back).max() <= 0.56
    # W̃ = δC W + (1 − δCa) I: its eigenvalues are δC λ_i + 1 − δCa; the report quotes |λ_max(W̃)| ≈ 0.95
    lam = np.linalg.eigvals(esn.W)
    assert esn.effective_spectral_radius == pytest.approx(np.max(np.abs(0.44 * lam + 1 - 0.44 * 0.9)), rel=1e-10)
    assert 0.9 < esn.effective_spectral_radius < 0.96


def test_update_is_the_leaky_equation_of_the_report():
    esn = ESN(20, connectivity=0.3, seed=1, noise=0.0)
    rng = np.random.default_rng(2)
    x, u, y = rng.uniform(-0.5, 0.5, (3, 20)), rng.normal(size=(3, 1)), rng.normal(size=(3, 1))
    by_hand = (1 - 0.44 * 0.9) * x + 0.44 * np.tanh(x @ esn.W.T + u @ esn.W_in.T + y @ esn.W_back.T)
    np.testing.assert_allclose(esn.update(x, u, y), by_hand, rtol=1e-14, atol=0)
    plain = ESN(20, connectivity=0.3, seed=1, time_constant=1.0, decay=1.0)  # δ = C = a = 1: eq. 1, no leak
    np.testing.assert_allclose(plain.update(x, u, y), np.tanh(x @ plain.W.T + u @ plain.W_in.T + y @ plain.W_back.T))


def test_harvest_feeds_the_previous_teacher_value():
    esn = ESN(30, connectivity=0.2, seed=0)
    y = np.random.default_rng(1).uniform(-0.5, 0.5, (12, 1))
    base = esn.harvest(y)
    bumped = y.copy()
    bumped[5] += 0.1
    moved = esn.harvest(bumped)
    np.testing.assert_array_equal(base[:6], moved[:6])  # x(n) for n ≤ 6 has not seen y[5] (row 5 predicts y[5])
    assert np.abs(base[6] - moved[6]).max() > 1e-3
    batched = esn.harvest(np.stack([y, bumped], axis=1))  # a batch (T, B, L) runs the sequences side by side
    np.testing.assert_allclose(batched[:, 0], base[:, 0], rtol=1e-13)
    np.testing.assert_allclose(batched[:, 1], moved[:, 0], rtol=1e-13)


@pytest.mark.parametrize("output", ["tanh", "identity"])
def test_fit_recovers_an_exactly_linear_readout(output):
    """Without feedback the states do not depend on y: targets made by a known W_out must be found again."""
    esn = ESN(40, connectivity=0.2, feedback_scale=0.0, input_scale=0.5, input_density=1.0, output=output, seed=4)
    u = np.random.default_rng(5).uniform(-1, 1, (300, 1))
    states = esn.harvest(np.zeros((300, 1)), u=u)[:, 0]
    w_true = np.random.default_rng(6).normal(0, 0.3, (1, 40))
    z = states @ w_true.T
    y = np.tanh(z) if output == "tanh" else z
    esn.fit(y, u=u, washout=50)
    np.testing.assert_allclose(esn.W_out, w_true, rtol=1e-6, atol=1e-8)


def test_ridge_readout_equals_the_normal_equations_at_moderate_lambda():
    esn = ESN(30, connectivity=0.2, ridge=1e-2, output="identity", seed=7)
    y = np.sin(np.arange(200) / 5.0)[:, None] * 0.5
    states = esn.fit(y, washout=20)
    X, Y = states[20:, 0], y[20:]
    expected = np.linalg.solve(X.T @ X + 1e-2 * np.eye(30), X.T @ Y).T
    np.testing.assert_allclose(esn.W_out, expected, rtol=1e-9, atol=1e-12)


def test_generate_feeds_each_prediction_back():
    esn = ESN(25, connectivity=0.2, seed=8, output="identity")
    esn.W_out = np.random.default_rng(9).normal(0, 0.1, (1, 25))
    x0 = np.random.default_rng(10).uniform(-0.3, 0.3, 25)
    out = esn.generate(6, x0, [0.2], u=np.full((6, 1), 0.2))
    x, y, by_hand = x0[None], np.array([[0.2]]), []
    for _ in range(6):
        x = esn.update(x, np.array([[0.2]]), y)
        y = x @ esn.W_out.T
        by_hand.append(y[0])
    np.testing.assert_allclose(out[:, 0], np.array(by_hand), rtol=1e-13)


def test_esn_errors_name_the_function_and_the_argument():
    with pytest.raises(ValueError, match="ESN: output must be one of"):
        ESN(10, output="relu")
    with pytest.raises(ValueError, match="ESN.readout: the readout is not trained yet"):
        ESN(10, connectivity=0.3).readout(np.zeros(10))
    with pytest.raises(ValueError, match=r"ESN.harvest: y must have shape \(T, 1\) or \(T, B, 1\)"):
        ESN(10, connectivity=0.3).harvest(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="ESN.solve_readout: washout 9 leaves fewer than 2"):
        ESN(10, connectivity=0.3, output="identity").fit(np.zeros((10, 1)), washout=9)
    with pytest.raises(ValueError, match="f_out = tanh needs teacher outputs in"):
        ESN(10, connectivity=0.3).fit(np.full((10, 1), 1.5), washout=2)
    with pytest.raises(TypeError, match="ESN: n_units must be a whole number"):
        ESN(2.5)


def test_nrmse_divides_by_the_variance_under_the_root():
    assert nrmse([1.0, 2.0], [1.5, 2.5], variance=0.25) == pytest.approx(1.0)
    assert nrmse([0.0, 0.0, 0.0, 0.0], [0.1, -0.1, 0.1, -0.1], variance=0.01) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="nrmse: predictions"):
        nrmse([1.0], [1.0, 2.0], variance=1.0)


def test_mackey_glass_report_is_eq_23_euler_subsampled_by_10():
    y = bench.mackey_glass_report(30, discard=0.0)
    lag, step = 170, 0.1
    z = np.full(lag + 300 + 1, 1.2)
    for i in range(lag, lag + 300):  # y(n+1) = y(n) + δ (0.2 y(n − τ/δ)/(1 + y(n − τ/δ)^10) − 0.1 y(n))
        z[i + 1] = z[i] + step * (0.2 * z[i - lag] / (1 + z[i - lag] ** 10) - 0.1 * z[i])
    np.testing.assert_allclose(y, z[lag + 10 :: 10][:30], rtol=1e-15)
    with pytest.raises(ValueError, match="mackey_glass_report: tau/step must be a whole number"):
        bench.mackey_glass_report(10, tau=17.05)


def test_report_series_is_the_same_attractor_as_data_mackey_glass_but_another_trajectory():
    ours = bench.mackey_glass_report(4000)
    rk4 = data.mackey_glass(4000)  # RK4, another start: the same attractor, not the same values
    assert ours.mean() == pytest.approx(rk4.mean(), rel=0.03)
    assert ours.std() == pytest.approx(rk4.std(), rel=0.05)
    assert np.abs(ours - rk4).max() > 0.1
    assert 0.3 < ours.min() and ours.max() < 1.4  # tanh(y − 1) then lies well inside (−1, 1)


def test_esn_forecasts_mackey_glass_84_steps_within_the_target():
    """One reservoir, 5 test trials of the report's protocol: NRMSE84 in the report's range (≤ 3 × 2.8e-4 ×
    a margin for one seed and 5 trials), two orders of magnitude below a persistence-like error."""
    d = bench.benchmark_data(5)
    pred = bench.esn_trials(d, 0, readouts=[("identity", 1e-14), ("tanh", 1e-13)])
    for p in pred.values():
        assert p.shape == (84, 5)
        assert nrmse(p[-1], d.test[:, -1], d.variance) < 2e-3
        assert nrmse(p[0], d.test[:, 1000], d.variance) < 1e-3  # one step ahead
    assert nrmse(d.test[:, 999], d.test[:, -1], d.variance) > 0.5  # repeating the last value: no skill
    with pytest.raises(ValueError, match="esn_trials: blocks must be 'test' or 'validation'"):
        bench.esn_trials(d, 0, blocks="train")


def test_sparse_product_equals_the_dense_one():
    esn = ESN(60, connectivity=0.05, seed=11)  # below 20 % nonzeros: the update uses the row-sparse product
    assert esn._W_sparse is not None
    x = np.random.default_rng(12).normal(size=(4, 60))
    np.testing.assert_allclose(esn._W_sparse.rmatmul(x), x @ esn.W.T, rtol=1e-13, atol=1e-15)
    u, y = np.ones((4, 1)), np.full((4, 1), 0.3)
    dense = (1 - 0.44 * 0.9) * x + 0.44 * np.tanh(x @ esn.W.T + u @ esn.W_in.T + y @ esn.W_back.T)
    np.testing.assert_allclose(esn.update(x, u, y), dense, rtol=1e-13, atol=1e-15)
    esn.W = np.zeros((60, 60))  # assigning W rebuilds the sparse copy (here: no entries at all)
    np.testing.assert_array_equal(esn._W_sparse.rmatmul(x), np.zeros((4, 60)))
    with pytest.raises(ValueError, match=r"ESN: W must have shape \(60, 60\)"):
        esn.W = np.zeros((3, 3))


def test_ridge_readouts_equal_the_augmented_least_squares_and_lstsq():
    rng = np.random.default_rng(13)
    X = rng.normal(size=(80, 12)) @ np.diag(np.logspace(0, -9, 12))  # badly conditioned, like reservoir states
    Y = rng.normal(size=(80, 1))
    lams = [0.0, 1e-16, 1e-10, 1e-4]
    for lam, W in zip(lams, ridge_readouts(X, Y, lams)):
        A, B = np.vstack([X, np.sqrt(lam) * np.eye(12)]), np.vstack([Y, np.zeros((12, 1))])
        np.testing.assert_allclose(W.T, np.linalg.lstsq(A, B, rcond=None)[0], rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="ridge_readouts: ridge must be a finite number ≥ 0"):
        ridge_readouts(X, Y, [-1.0])
