"""Hessian-vector products, exact by forward-over-reverse: against central differences of the gradient (hvpcheck),
symmetric, against torch.autograd.functional.hvp to 1e-9 where PyTorch is installed; every primitive has a
second-order rule or is linear."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from test_forward import CASES, PRIMITIVES, RNN_CASES, THEIRS, TORCH, _rnn_case, _rnn_loss, split, torch_rnn_loss

import tinygrad_rnn
from tinygrad_rnn import Tensor, ops
from tinygrad_rnn import functional as F
from tinygrad_rnn.forward import LINEAR, SECOND_ORDER, gradient, hvp, hvpcheck
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.strategies import seeds
from tinygrad_rnn.tensor import apply

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def scalar(case, kw, weights):
    """Σ w ⊙ f(x): a scalar whose Hessian sees every output element of the case's function."""
    return lambda *ts: (case.fn(*ts, **kw) * Tensor(weights)).sum()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hvp_equals_central_differences_of_the_gradient_and_is_symmetric(case):
    @given(case.inputs, seeds)
    def check(drawn, seed):
        xs, kw = split(case, drawn)
        out = case.fn(*[Tensor(x) for x in xs], **kw)
        f = scalar(case, kw, np.random.default_rng(seed).uniform(0.5, 1.5, out.shape))
        leaves = [Tensor(x, requires_grad=True) for x in xs]
        small = sum(x.size for x in xs) <= 12 and case not in RNN_CASES
        hvpcheck(f, *leaves, projection=not small, seed=seed % 1000)  # small inputs: the whole Hessian

    check()


def test_every_primitive_has_a_second_order_rule_or_is_linear():
    missing = [cls.__name__ for cls in PRIMITIVES if cls not in LINEAR and cls not in SECOND_ORDER]
    assert not missing, f"primitives with neither a second-order rule (forward.SECOND_ORDER) nor LINEAR: {missing}"
    assert not LINEAR & set(SECOND_ORDER)


def test_a_primitive_without_a_second_order_rule_is_named():
    class Cube(ops.Function):
        name = "cube"

        def forward(self, a):
            self.save(a)
            return a**3

        def backward(self, g):
            return (3 * g * self.saved[0] ** 2,)

        def jvp(self, da):
            return 3 * self.saved[0] ** 2 * da

    with pytest.raises(TypeError, match=r"hvp: the primitive cube has no second-order rule"):
        hvp(lambda x: apply(Cube, x).sum(), (np.ones(2),), (np.ones(2),))


def test_hvpcheck_catches_a_wrong_second_order_rule(monkeypatch):
    monkeypatch.setitem(SECOND_ORDER, ops.Tanh, lambda node, g, da: (np.zeros_like(g),))
    with pytest.raises(AssertionError, match=r"hvpcheck: \(H·v\) of input 0 \(x\), element \(1,\)"):
        hvpcheck(lambda x: x.tanh().sum(), Tensor(np.array([0.0, 0.7]), requires_grad=True, name="x"))


def test_hvpcheck_catches_a_wrong_forward_rule(monkeypatch):
    monkeypatch.setattr(ops.Exp, "jvp", lambda self, da: 2 * da * self.saved[0])
    with pytest.raises(AssertionError, match="hvpcheck"):
        hvpcheck(lambda x: x.exp().tanh().sum(), Tensor(np.array([0.3]), requires_grad=True))


def test_hvp_of_a_quadratic_form_is_exact():
    rng = np.random.default_rng(3)
    A, x, v = rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal(4)
    value, (hv,) = tinygrad_rnn.hvp(lambda x: 0.5 * (x @ (Tensor(A) @ x)), (x,), (v,))
    assert value.item() == pytest.approx(0.5 * x @ A @ x, rel=1e-14)
    np.testing.assert_allclose(hv, 0.5 * (A + A.T) @ v, rtol=1e-14, atol=1e-15)


def test_hvp_api_shapes_values_and_no_side_effects():
    assert tinygrad_rnn.hvp is hvp
    W = Tensor(np.array([[1.0, -2.0], [0.5, 0.3]]), requires_grad=True, name="W")
    x, v = (np.array([0.2, -0.4]), np.array([1.0, 2.0])), (np.ones(2), np.zeros(2))
    value, hv = hvp(lambda a, b: ((W @ a).tanh() * b).sum(), x, v)
    assert isinstance(value, Tensor) and value.shape == () and len(hv) == 2
    assert all(isinstance(h, np.ndarray) and h.shape == (2,) for h in hv)
    assert W.grad is None  # the dual backward walk keeps its gradients to itself
    _, g = gradient(lambda a, b: ((W @ a).tanh() * b).sum(), x)
    y = np.tanh(W.data @ x[0])
    np.testing.assert_allclose(g[1], y, rtol=1e-14)
    np.testing.assert_allclose(hv[1], (1 - y**2) * (W.data @ v[0]), rtol=1e-14)  # ∂²f/∂b∂a · v_a


def test_hvp_errors_name_the_function():
    with pytest.raises(ValueError, match=r"hvp: f must return a scalar \(one element\), got shape \(2,\)"):
        hvp(lambda x: x * 2.0, (np.ones(2),), (np.ones(2),))
    with pytest.raises(ValueError, match=r"hvp: primal 0 has shape \(2,\) but its direction has shape \(3,\)"):
        hvp(lambda x: x.sum(), (np.ones(2),), (np.ones(3),))
    with pytest.raises(ValueError, match="hvpcheck: no input has requires_grad=True"):
        hvpcheck(lambda x: x.sum(), Tensor(np.ones(2)))


def test_hvp_of_a_function_that_ignores_its_argument_is_zero():
    _, (hv,) = hvp(lambda x: Tensor(np.array(2.0)), (np.ones(3),), (np.ones(3),))
    np.testing.assert_array_equal(hv, np.zeros(3))


def test_the_softmax_cross_entropy_hessian_is_the_softmax_jacobian():
    o, v = np.array([[0.5, -1.0, 2.0]]), np.array([[1.0, 0.0, -1.0]])
    _, (hv,) = hvp(lambda o: F.softmax_cross_entropy(o, np.array([1])), (o,), (v,))
    p = np.exp(o[0]) / np.exp(o[0]).sum()
    np.testing.assert_allclose(hv[0], (np.diag(p) - np.outer(p, p)) @ v[0], rtol=1e-13)  # appendix B


def test_prod_with_zeros_has_its_exact_hessian():
    a, v = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0]]), np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])
    _, (hv,) = hvp(lambda a: a.prod(axis=1).sum(), (a,), (v,))
    # ∂²Π/∂a_i∂a_j = Π_{k≠i,j} a_k: row 1 (0, 2, 3), row 2 (0, 0, 5)
    np.testing.assert_allclose(hv, [[2 + 3, 3 * 1, 2 * 1], [5 * 2, 5 * 1, 0.0]])


# ---- against PyTorch ----------------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("name, mine, theirs", TORCH, ids=[t[0] for t in TORCH])
@given(seed=seeds)
def test_hvp_equals_torch_autograd_functional_hvp(name, mine, theirs, seed):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((3, 4)) + 1e-3 * np.arange(12).reshape(3, 4) for _ in range(2)]
    vs = [rng.standard_normal((3, 4)) for _ in range(2)]
    w = rng.uniform(0.5, 1.5, mine(*map(Tensor, xs)).shape)
    value, hv = hvp(lambda a, b: (mine(a, b) * Tensor(w)).sum(), tuple(xs), tuple(vs))
    theirs = theirs or THEIRS[name]
    t_value, t_hv = torch.autograd.functional.hvp(
        lambda a, b: (theirs(a, b) * torch.tensor(w)).sum(), tuple(map(torch.tensor, xs)), tuple(map(torch.tensor, vs))
    )
    assert value.item() == pytest.approx(t_value.item(), rel=1e-12)
    for mine_i, theirs_i in zip(hv, t_hv):
        np.testing.assert_allclose(mine_i, theirs_i.numpy(), rtol=1e-9, atol=1e-11)


@needs_torch
@pytest.mark.parametrize("tanh, fast", [("primitive", False), ("composed", False), ("primitive", True)])
@given(problem=_rnn_case())
def test_hvp_of_the_rnn_loss_equals_torch(tanh, fast, problem):
    params, xs, ys = problem
    vs = tuple(np.random.default_rng(1).standard_normal(p.shape) for p in params)
    value, hv = hvp(lambda *ps: _rnn_loss(tanh, fast)(*ps, data=(xs, ys)), params, vs)
    t_value, t_hv = torch.autograd.functional.hvp(
        lambda *ps: torch_rnn_loss(*ps, xs, ys), tuple(map(torch.tensor, params)), tuple(map(torch.tensor, vs))
    )
    assert value.item() == pytest.approx(t_value.item(), rel=1e-12)
    for name, mine_i, theirs_i in zip("WUVbc", hv, t_hv):
        np.testing.assert_allclose(mine_i, theirs_i.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)


# ---- the curvature experiment (dynamics) --------------------------------------------------------------------------


def _last_step_gradient(rnn, xs, ys, step):
    """∇L_T at the model's parameters + step (by name), on a copy of the model: the engine's backward pass."""
    model = RNN.from_arrays(**rnn.arrays())
    for n, d in step.items():
        getattr(model, n).data = getattr(model, n).data + d
    mask = np.zeros(xs.shape[:2])
    mask[-1] = 1.0
    model.loss(xs, ys, mask=mask).backward()
    return {n: getattr(model, n).grad for n in step}


def test_curvature_along_the_gradient_equals_differences_of_gradients():
    from tinygrad_rnn import dynamics
    from tinygrad_rnn.strategies import make_problem

    rnn, xs, ys = make_problem(6, 2, 3, 4, 3, seed=5, spectral_radius=1.5)
    before = {n: p for n, p in rnn.named_parameters().items()}
    for params in (None, ("U",), ("W", "b")):
        curvature, norm = dynamics.curvature_along_gradient(rnn, xs, ys, params=params)
        names = params or rnn.param_names
        g = _last_step_gradient(rnn, xs, ys, {n: 0.0 for n in names})
        eps = 1e-6
        plus = _last_step_gradient(rnn, xs, ys, {n: eps * g[n] for n in names})
        minus = _last_step_gradient(rnn, xs, ys, {n: -eps * g[n] for n in names})
        gg = sum(np.sum(g[n] ** 2) for n in names)
        numeric = sum(np.sum(g[n] * (plus[n] - minus[n])) for n in names) / (2 * eps) / gg
        assert norm == pytest.approx(np.sqrt(gg), rel=1e-12)
        assert curvature == pytest.approx(numeric, rel=1e-5, abs=1e-7)
    assert rnn.named_parameters() == before and all(p.grad is None for p in rnn.parameters())  # the model untouched


def test_curvature_stays_bounded_below_one_and_explodes_with_the_gradient_above(tmp_path):
    from tinygrad_rnn import dynamics

    result = dynamics.curvature_sweep((0.5, 3.0), (5, 20), trials=2)
    small, large = result.rows
    assert small.curvature.shape == (2, 2) and small.steps.tolist() == [5, 20]
    assert np.all(small.typical_curvature < 20) and small.typical_grad_norm[1] < 2 * small.typical_grad_norm[0]
    assert large.typical_grad_norm[1] > 10 * large.typical_grad_norm[0]
    assert large.typical_curvature[1] > 100 * large.typical_curvature[0]
    text = str(result)
    assert "Curvature along the gradient" in text and len(text.splitlines()) == 3 + 4
    pytest.importorskip("matplotlib")
    png = dynamics.plot_curvature(result, tmp_path / "c.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_curvature_arguments_are_checked():
    from tinygrad_rnn import dynamics
    from tinygrad_rnn.strategies import make_problem

    rnn, xs, ys = make_problem(3, 0, 2, 2, 2, seed=0)
    with pytest.raises(ValueError, match="curvature_along_gradient: params must name parameters"):
        dynamics.curvature_along_gradient(rnn, xs, ys, params=("Q",))
    with pytest.raises(ValueError, match="curvature_along_gradient: loss must be 'last' or 'all'"):
        dynamics.curvature_along_gradient(rnn, xs, ys, loss="first")
    with pytest.raises(ValueError, match="curvature_sweep: radii must be positive"):
        dynamics.curvature_sweep((-1.0,), (3,))
