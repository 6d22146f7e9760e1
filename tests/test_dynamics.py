"""Vanishing and exploding gradients: exact Jacobian products, the section-3 bound, and the spectral-radius sweep."""

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_rnn import dynamics
from tinygrad_rnn.cli import main
from tinygrad_rnn.lstm import LSTM
from tinygrad_rnn.rnn import RNN


def rnn_run(T, B, H, rho, seed, input_scale=1.0, D=3, K=3):
    """The lecture RNN with ρ(U) = rho, its inputs and targets, and the hidden states of one forward pass."""
    rng = np.random.default_rng(seed)
    rnn = RNN(D, H, K, seed=seed, spectral_radius=rho)
    rnn.b.data[...] = rng.normal(0, 0.3, H)  # a bias moves the units off tanh's symmetric point
    lead = (T,) if B == 0 else (T, B)
    xs = rng.normal(size=lead + (D,)) * input_scale
    ys = rng.integers(0, K, size=lead)
    hs, _ = rnn.forward(xs)
    return rnn, xs, ys, np.array([h.data for h in hs])


def test_spectral_radius_and_norm_of_known_matrices():
    c, s = np.cos(0.3), np.sin(0.3)
    rotation = 0.7 * np.array([[c, -s], [s, c]])
    assert dynamics.spectral_radius(rotation) == pytest.approx(0.7, rel=1e-14)
    assert dynamics.spectral_norm(rotation) == pytest.approx(0.7, rel=1e-14)  # normal: ‖U‖₂ = ρ
    shear = np.array([[0.5, 10.0], [0.0, 0.5]])  # non-normal: ρ = 0.5 but one step can grow 10×
    assert dynamics.spectral_radius(shear) == pytest.approx(0.5, rel=1e-14)
    assert dynamics.spectral_norm(shear) > 10
    rnn = RNN(2, 5, 2, spectral_radius=1.3)
    assert dynamics.spectral_radius(rnn) == pytest.approx(1.3, rel=1e-12)  # a model, its U Tensor, or an array
    assert dynamics.spectral_radius(rnn.U) == dynamics.spectral_radius(rnn.U.data)
    with pytest.raises(ValueError, match=r"spectral_radius: U must be a square matrix \(H, H\), got shape \(2, 3\)"):
        dynamics.spectral_radius(np.zeros((2, 3)))


@given(T=st.integers(1, 5), H=st.integers(1, 4), rho=st.floats(0.2, 2.5), seed=st.integers(0, 10**6))
def test_jacobian_product_equals_the_engine(T, H, rho, seed):
    """diag(1 − h_t²) U ⋯ diag(1 − h_{k+1}²) U from forward values == ∂h_t/∂h_k by backward passes, to 1e-10."""
    rnn, xs, _, hs = rnn_run(T, 0, H, rho, seed)
    rng = np.random.default_rng(seed)
    t = int(rng.integers(1, T + 1))
    k = int(rng.integers(0, t))
    by_engine = dynamics.engine_state_jacobian(rnn, xs, t, k)
    by_numpy = dynamics.state_jacobian(rnn.U, hs, t, k)
    np.testing.assert_allclose(by_numpy, by_engine, rtol=1e-10, atol=1e-13)
    np.testing.assert_array_equal(dynamics.state_jacobian(rnn.U, hs, t, t), np.eye(H))


@given(
    T=st.integers(1, 12), B=st.integers(0, 3), H=st.integers(1, 6), rho=st.floats(0.1, 3.0), seed=st.integers(0, 10**6)
)
def test_jacobian_norms_obey_the_section_3_bound(T, B, H, rho, seed):
    """‖∂h_T/∂h_k‖₂ ≤ Π_j max(1 − h_j²) ‖U‖₂ ≤ (‖U‖₂ · 1)^(T−k) for every k, with the sweep's norms = the matrices'."""
    rnn, _, _, hs = rnn_run(T, B, H, rho, seed)
    norms = dynamics.jacobian_norms(rnn.U, hs)
    assert norms.shape == ((T + 1,) if B == 0 else (T + 1, B))
    for k in range(T + 1):
        J = dynamics.state_jacobian(rnn.U, hs, T, k)
        np.testing.assert_allclose(norms[k], np.linalg.norm(J, 2, axis=(-2, -1)), rtol=1e-10, atol=1e-300)
        path = dynamics.path_bound(rnn.U, hs, T, k)
        assert np.all(norms[k] <= path * (1 + 1e-12))
        assert np.all(path <= dynamics.jacobian_bound(rnn.U, T, k) * (1 + 1e-12))


@given(
    T=st.integers(1, 8), B=st.integers(0, 2), H=st.integers(1, 5), rho=st.floats(0.2, 3.0), seed=st.integers(0, 10**6)
)
def test_gradient_read_from_the_graph_is_the_jacobian_transpose_times_the_last_gradient(T, B, H, rho, seed):
    """Loss at the last step only: ∇_{h_k}L = (∂h_T/∂h_k)ᵀ ∇_{h_T}L for every k (graph vs numpy, to 1e-10)."""
    rnn, xs, ys, _ = rnn_run(T, B, H, rho, seed)
    norms = dynamics.hidden_gradient_norms(rnn, xs, ys, loss="last")
    hs = np.array([h.data for h in rnn.trace["h"]])
    g_T = rnn.trace["h"][-1].grad
    for k in range(1, T + 1):
        J = dynamics.state_jacobian(rnn.U, hs, T, k)
        expected = np.einsum("...ij,...i->...j", J, g_T)
        np.testing.assert_allclose(rnn.trace["h"][k - 1].grad, expected, rtol=1e-10, atol=1e-14)
        assert norms[k - 1] == pytest.approx(np.linalg.norm(expected), rel=1e-10, abs=1e-300)


def test_small_spectral_norm_makes_the_gradient_shrink_at_every_step_back():
    """‖U‖₂ < 1 (here with ρ = 0.5): ‖∇_{h_k}L‖ < ‖∇_{h_{k+1}}L‖ at every step, and ‖∇_{h_1}L‖/‖∇_{h_T}L‖ is tiny."""
    T = 30
    rnn = RNN(8, 16, 8, seed=0, spectral_radius=0.5)
    assert dynamics.spectral_norm(rnn.U) < 1  # the sufficient condition of section 3 (measured for this seed: 0.86)
    xs, ys = dynamics.sweep_problem(T, 8, 1, seed=0)
    norms = dynamics.hidden_gradient_norms(rnn, xs[:, 0], ys[:, 0], loss="last")
    assert np.all(np.diff(norms) > 0)
    assert norms[0] / norms[-1] < 1e-8


def test_a_loss_at_every_step_hides_the_vanishing():
    """With L = Σ_t L_t each ∇_{h_k}L gets its own local term Vᵀ(ŷ_k − y_k): no decay; with L = L_T, decay."""
    rnn = RNN(8, 16, 8, seed=0, spectral_radius=0.5)
    xs, ys = dynamics.sweep_problem(30, 8, 1, seed=0)
    last = dynamics.hidden_gradient_norms(rnn, xs[:, 0], ys[:, 0], loss="last")
    every = dynamics.hidden_gradient_norms(rnn, xs[:, 0], ys[:, 0], loss="all")
    assert last[0] / last[-1] < 1e-8
    assert 0.1 < every[0] / every[-1] < 10


def test_in_the_linear_regime_the_rate_per_step_is_the_spectral_radius():
    """Tiny inputs keep tanh′ ≈ 1, so ∇_{h_k}L ≈ (Uᵀ)^(T−k) ∇_{h_T}L shrinks like ρ^(T−k) (Gelfand), not ‖U‖₂."""
    result = dynamics.radius_sweep((0.5, 0.75, 0.9), steps=30, hidden=16, batch=2, trials=2, input_scale=0.01)
    for row in result.rows:
        assert row.mean_tanh_grad > 0.999
        assert abs(row.rate - row.rho) < 0.05, (row.rho, row.rate)
        assert row.norm_U > row.rho * 1.4  # the bound's ‖U‖₂ is far above ρ for these non-normal U
        assert row.bound_holds and row.regime == "vanishing"


def test_sweep_vanishes_below_one_and_explodes_well_above():
    """The ratio ‖∇_{h_1}L‖/‖∇_{h_T}L‖ grows with ρ: ≪ 1 at ρ = 0.5, ≫ 1 at ρ = 3 (saturation delays the explosion)."""
    result = dynamics.radius_sweep((0.5, 1.0, 2.0, 3.0), steps=40, hidden=24, batch=4, trials=2)
    ratios = [row.ratio for row in result.rows]
    assert all(a < b for a, b in zip(ratios, ratios[1:])), ratios
    assert ratios[0] < 1e-10 and ratios[-1] > 1e2
    assert [row.regime for row in result.rows][0] == "vanishing" and result.rows[-1].regime == "exploding"
    assert all(row.bound_holds for row in result.rows)
    tanh_grads = [row.mean_tanh_grad for row in result.rows]
    assert all(a > b for a, b in zip(tanh_grads, tanh_grads[1:]))  # larger ρ drives the units into saturation
    table = dynamics.format_sweep(result).splitlines()
    assert len(table) == 4 + len(result.rows)
    assert table[4].split()[0] == "0.50" and table[-1].split()[-1] == "exploding"


def test_lstm_forget_gate_carries_the_gradient_where_the_rnn_loses_it():
    """f_t ≈ 1: ∂c_T/∂c_1 contains the identity path, so ∇_{c_1}L ≈ ∇_{c_T}L after 30 steps; the RNN's ∇_{h_1}L is
    ~1e-11 of ∇_{h_T}L at ρ = 0.5, and a half-open forget gate (b_f = 0) loses the LSTM's cell gradient too."""
    xs, ys = dynamics.sweep_problem(30, 8, 1, seed=0)
    xs, ys = xs[:, 0], ys[:, 0]
    cell_ratio = {}
    for b_f in (40.0, 0.0):
        lstm = LSTM(8, 16, 8, seed=0, forget_bias=b_f)
        dynamics.hidden_gradient_norms(lstm, xs, ys, loss="last")
        cell_ratio[b_f] = np.linalg.norm(lstm.trace.c[0].grad) / np.linalg.norm(lstm.trace.c[-1].grad)
    assert 0.5 < cell_ratio[40.0] < 2
    assert cell_ratio[0.0] < 1e-4
    rnn = RNN(8, 16, 8, seed=0, spectral_radius=0.5)
    rnn_norms = dynamics.hidden_gradient_norms(rnn, xs, ys, loss="last")
    assert rnn_norms[0] / rnn_norms[-1] < 1e-8


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    result = dynamics.radius_sweep((0.5, 2.0), steps=8, hidden=4, batch=1, trials=1)
    path = dynamics.plot_sweep(result, tmp_path / "sweep.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_plot_without_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    result = dynamics.radius_sweep((0.5,), steps=3, hidden=2, batch=1, trials=1)
    with pytest.raises(ImportError, match=r"plot extra: pip install 'tinygrad_rnn\[plot\]'"):
        dynamics.plot_sweep(result, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_bad_arguments_are_named():
    hs = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"state_jacobian: need 0 ≤ k ≤ t ≤ T=4, got t=5, k=1"):
        dynamics.state_jacobian(np.eye(3), hs, 5, 1)
    with pytest.raises(ValueError, match=r"state_jacobian: U is \(2, 2\) but the hidden states have size 3"):
        dynamics.state_jacobian(np.eye(2), hs, 2, 1)
    with pytest.raises(ValueError, match=r"radius_sweep: radii must be positive numbers"):
        dynamics.radius_sweep((0.5, -1.0))
    with pytest.raises(ValueError, match=r"radius_sweep: steps must be a whole number ≥ 1, got 0"):
        dynamics.radius_sweep(steps=0)
    with pytest.raises(ValueError, match=r"hidden_gradient_norms: loss must be 'last' or 'all'"):
        dynamics.hidden_gradient_norms(RNN(2, 2, 2), np.zeros((3, 2)), [0, 1, 0], loss="first")
    with pytest.raises(ValueError, match=r"hidden_gradient_norms: class index 5 at t=2 is outside 0..1"):
        dynamics.hidden_gradient_norms(RNN(2, 2, 2), np.zeros((3, 2)), [0, 5, 0])


def test_cli_prints_the_sweep_table(capsys, tmp_path):
    code = main(["gradients", "--steps", "12", "--hidden", "6", "--radii", "0.5,3", "--batch", "2", "--trials", "1"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line[:6].strip() in ("0.50", "3.00")]
    assert [r[0] for r in rows] == ["0.50", "3.00"]
    assert "T=12, H=6" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["gradients", "--radii", "0.5,abc"])
    assert exit_info.value.code == 2
    assert "--radii" in capsys.readouterr().err
