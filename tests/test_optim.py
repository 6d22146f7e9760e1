"""Optimizers on convex quadratics, Adam against its published update, clipping properties, penalties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_rnn.optim import SGD, Adagrad, Adam, clip_grad_norm, clip_grad_value, l1_penalty, l2_penalty
from tinygrad_rnn.tensor import Tensor


def quadratic(n, seed):
    """f(θ) = ½ (θ − θ*)ᵀ A (θ − θ*), A symmetric positive definite with eigenvalues in [0.5, 2]."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = Q @ np.diag(rng.uniform(0.5, 2.0, n)) @ Q.T
    target = rng.uniform(-2, 2, n)
    return A, target


def minimise(make_opt, A, target, steps, seed=1):
    theta = Tensor(np.random.default_rng(seed).uniform(-3, 3, len(target)), requires_grad=True, name="θ")
    opt = make_opt([theta])
    A_t, c = Tensor(A), Tensor(target)
    for _ in range(steps):
        opt.zero_grad()
        d = theta - c
        loss = (d @ (A_t @ d)) * 0.5
        loss.backward()
        opt.step()
    return theta.data


@pytest.mark.parametrize(
    "make_opt, steps, tol",
    [
        (lambda p: SGD(p, lr=0.4), 150, 1e-8),
        (lambda p: SGD(p, lr=0.3, momentum=0.5), 150, 1e-8),
        (lambda p: Adagrad(p, lr=1.0), 300, 1e-8),
        (lambda p: Adam(p, lr=0.05), 600, 1e-6),
    ],
    ids=["sgd", "sgd-momentum", "adagrad", "adam"],
)
@settings(max_examples=8)  # each example runs hundreds of steps
@given(n=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_optimizer_reaches_the_minimum_of_a_convex_quadratic(make_opt, steps, tol, n, seed):
    A, target = quadratic(n, seed)
    theta = minimise(make_opt, A, target, steps, seed=seed + 1)
    np.testing.assert_allclose(theta, target, atol=tol)


def run_with_gradients(opt_cls, grads, theta0, **kw):
    """Apply the optimizer to given gradients (not from a loss): its update rule in isolation."""
    p = Tensor(theta0.copy(), requires_grad=True, name="p")
    opt = opt_cls([p], **kw)
    out = []
    for g in grads:
        p.grad = g.copy()
        opt.step()
        out.append(p.data.copy())
    return out


@given(seed=st.integers(0, 2**16), n=st.integers(1, 6))
def test_adam_first_steps_match_kingma_and_ba_algorithm_1(seed, n):
    rng = np.random.default_rng(seed)
    theta0, grads = rng.standard_normal(n), [rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3) for _ in range(4)]
    alpha, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    got = run_with_gradients(Adam, grads, theta0, lr=alpha, betas=(b1, b2), eps=eps)
    # Algorithm 1, written out independently of the implementation
    theta, m, v = theta0.copy(), np.zeros(n), np.zeros(n)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        theta = theta - alpha * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(got[t - 1], theta, rtol=1e-12, atol=1e-15, err_msg=f"step {t}")
    # the first step is α·g/(|g| + ε): a step of size α per coordinate, whatever the gradient's scale
    np.testing.assert_allclose(np.abs(got[0] - theta0), alpha * np.abs(grads[0]) / (np.abs(grads[0]) + eps))


def test_sgd_momentum_and_adagrad_match_their_formulas():
    rng = np.random.default_rng(0)
    theta0, grads = rng.standard_normal(3), [rng.standard_normal(3) for _ in range(3)]
    got = run_with_gradients(SGD, grads, theta0, lr=0.1, momentum=0.5)
    theta, v = theta0.copy(), np.zeros(3)
    for t, g in enumerate(grads):
        v = 0.5 * v + g
        theta = theta - 0.1 * v
        np.testing.assert_allclose(got[t], theta, rtol=1e-14)
    got = run_with_gradients(Adagrad, grads, theta0, lr=0.1, eps=1e-8)
    theta, G = theta0.copy(), np.zeros(3)
    for t, g in enumerate(grads):
        G = G + g * g
        theta = theta - 0.1 * g / (np.sqrt(G) + 1e-8)
        np.testing.assert_allclose(got[t], theta, rtol=1e-14)


def test_step_skips_parameters_without_gradient_and_zero_grad_clears():
    a, b = Tensor([1.0, 2.0], requires_grad=True, name="a"), Tensor([3.0], requires_grad=True, name="b")
    opt = Adam([a, b], lr=0.1)
    a.grad = np.array([1.0, -1.0])
    opt.step()
    np.testing.assert_allclose(b.data, [3.0])
    assert opt.t == [1, 0]
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_optimizer_errors_are_clear():
    p = Tensor([1.0], requires_grad=True, name="W")
    with pytest.raises(ValueError, match="SGD: learning rate"):
        SGD([p], lr=0)
    with pytest.raises(ValueError, match="Adam: got an empty list"):
        Adam([], lr=0.1)
    with pytest.raises(ValueError, match="requires_grad=False"):
        SGD([Tensor([1.0])], lr=0.1)
    with pytest.raises(TypeError, match="parameter 0 is a ndarray"):
        SGD([np.ones(2)], lr=0.1)
    p.grad = np.ones(3)
    with pytest.raises(ValueError, match=r"gradient of parameter 'W' has shape \(3,\), parameter has \(1,\)"):
        SGD([p], lr=0.1).step()


# ---------------------------------------------------------------------------------------------------- clipping
def grads_problem(seed, n_params):
    rng = np.random.default_rng(seed)
    params = []
    for i in range(n_params):
        p = Tensor(rng.standard_normal(rng.integers(1, 4, size=rng.integers(1, 3))), requires_grad=True, name=f"p{i}")
        p.grad = rng.standard_normal(p.shape) * 10.0 ** rng.uniform(-2, 3)
        params.append(p)
    return params


@given(seed=st.integers(0, 2**16), n_params=st.integers(1, 4), max_norm=st.floats(1e-3, 1e3))
def test_clip_grad_norm_caps_the_global_norm_keeps_direction_returns_old_norm(seed, n_params, max_norm):
    params = grads_problem(seed, n_params)
    before = np.concatenate([p.grad.ravel() for p in params])
    returned = clip_grad_norm(params, max_norm)
    after = np.concatenate([p.grad.ravel() for p in params])
    assert returned == pytest.approx(np.sqrt(np.sum(before**2)), rel=1e-12)
    assert np.linalg.norm(after) <= max_norm * (1 + 1e-12)
    if returned <= max_norm:
        np.testing.assert_array_equal(after, before)  # untouched below the threshold
    else:
        assert np.linalg.norm(after) == pytest.approx(max_norm, rel=1e-12)
    # direction unchanged: after = s · before with one s > 0 for all parameters together
    s = np.dot(after, before) / np.dot(before, before)
    assert s > 0
    np.testing.assert_allclose(after, s * before, rtol=1e-12, atol=1e-300)


def test_clip_grad_norm_ignores_missing_grads_and_rejects_nan():
    a, b = Tensor([3.0], requires_grad=True, name="a"), Tensor([0.0], requires_grad=True, name="b")
    a.grad = np.array([4.0])
    assert clip_grad_norm([a, b], 2.0) == 4.0
    np.testing.assert_allclose(a.grad, [2.0])
    assert b.grad is None
    b.grad = np.array([np.nan])
    with pytest.raises(ValueError, match="clip_grad_norm: gradient of parameter 'b' has NaN"):
        clip_grad_norm([a, b], 1.0)
    with pytest.raises(ValueError, match="max_norm must be"):
        clip_grad_norm([a], 0.0)


@given(seed=st.integers(0, 2**16), n_params=st.integers(1, 4), c=st.floats(1e-2, 1e2))
def test_clip_grad_value_bounds_each_entry_and_leaves_small_ones(seed, n_params, c):
    params = grads_problem(seed, n_params)
    before = [p.grad.copy() for p in params]
    biggest = clip_grad_value(params, c)
    assert biggest == max(np.abs(g).max() for g in before)
    for p, g in zip(params, before):
        assert np.all(np.abs(p.grad) <= c)
        inside = np.abs(g) <= c
        np.testing.assert_array_equal(p.grad[inside], g[inside])
        np.testing.assert_array_equal(p.grad[~inside], c * np.sign(g[~inside]))


# ---------------------------------------------------------------------------------------------------- penalties
@given(seed=st.integers(0, 2**16), lam=st.one_of(st.just(0.0), st.floats(1e-6, 10.0)))
def test_penalties_value_and_gradient(seed, lam):
    rng = np.random.default_rng(seed)
    W = Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="W")
    b = Tensor(rng.standard_normal(2) + 0.1, requires_grad=True, name="b")
    r2 = l2_penalty([W, b], lam)
    assert r2.item() == pytest.approx(lam * (np.sum(W.data**2) + np.sum(b.data**2)), rel=1e-12, abs=1e-300)
    r2.backward()
    np.testing.assert_allclose(W.grad, 2 * lam * W.data, rtol=1e-12)
    W.grad = b.grad = None
    r1 = l1_penalty([W, b], lam)
    assert r1.item() == pytest.approx(lam * (np.abs(W.data).sum() + np.abs(b.data).sum()), rel=1e-12, abs=1e-300)
    r1.backward()
    np.testing.assert_allclose(b.grad, lam * np.sign(b.data), rtol=1e-12)


def test_penalties_are_graph_nodes_marked_as_composites():
    W = Tensor(np.ones((2, 2)), requires_grad=True, name="W")
    r = l2_penalty([W], 0.5)
    assert r.name == "R_L2" and r.op is not None and r.composite[-1][0] == "l2_penalty"
    assert l1_penalty([W], 0.5).composite[-1][0] == "l1_penalty"
    with pytest.raises(ValueError, match="l2_penalty: weight"):
        l2_penalty([W], -1.0)
