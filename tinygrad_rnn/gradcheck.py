"""Numerical gradients (central differences, float64) and checks of the engine's gradients against them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinygrad_rnn.inputs import function, real, whole_number
from tinygrad_rnn.tensor import Tensor, no_grad

__all__ = ["numerical_grad", "numerical_jacobian", "gradcheck", "jacobian"]


def _values(out: Any, fn: str, scalar: bool) -> np.ndarray:
    arr = np.asarray(out.data if isinstance(out, Tensor) else out)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: the function must return numbers or a Tensor, got {type(out).__name__}")
    if scalar and arr.size != 1:
        raise ValueError(f"{fn}: the function must return a scalar, got shape {arr.shape}")
    return arr.astype(np.float64).reshape(()) if scalar else arr.astype(np.float64)


_ROUNDING = 16 * np.finfo(np.float64).eps  # a generous bound on the relative rounding error of one evaluation of f


def _differences(f: Callable, x: Any, eps: float, fn: str, scalar: bool) -> tuple[np.ndarray, np.ndarray]:
    """(f(x + ε e_j) − f(x − ε e_j)) / 2ε for every element j of x (shape f(x).shape + x.shape), and the part of it
    that rounding alone can explain: 16 ε_mach (|f(x + ε e_j)| + |f(x − ε e_j)|) / 2ε, however exact the gradient."""
    function(fn, "f", f)
    eps = real(fn, "eps", eps, low=0)
    arg: Any
    if isinstance(x, Tensor):
        target, arg = x.data, x
    else:
        try:
            target = np.array(x, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{fn}: x must be a Tensor or an array of numbers: {e}") from None
        arg = target
    if not isinstance(target, np.ndarray) or target.dtype != np.float64:
        raise TypeError(f"{fn} needs float64 data for accurate differences, got {np.asarray(target).dtype}")
    if not target.flags.writeable:
        raise ValueError(f"{fn}: x's data is read-only, so it cannot be perturbed")
    with no_grad():
        out_shape = _values(f(arg), fn, scalar).shape
        jac, noise = np.zeros(out_shape + target.shape), np.zeros(out_shape + target.shape)
        for j in np.ndindex(*target.shape):  # element by element, in place (a view of any layout), restored exactly
            orig = target[j]
            target[j] = orig + eps
            plus = _values(f(arg), fn, scalar)
            target[j] = orig - eps
            minus = _values(f(arg), fn, scalar)
            target[j] = orig
            jac[(Ellipsis,) + j] = (plus - minus) / (2 * eps)
            noise[(Ellipsis,) + j] = _ROUNDING * (np.abs(plus) + np.abs(minus)) / (2 * eps)
    return jac, noise


def numerical_grad(f: Callable, x: Any, eps: float = 1e-6) -> np.ndarray:
    """∂f/∂x_i ≈ (f(x + ε e_i) − f(x − ε e_i)) / 2ε for every element i of x, in float64.

    `x` is a Tensor (perturbed in place, then restored exactly) or an array (a float64 copy is perturbed);
    `f(x)` returns a scalar (Tensor or number) and is evaluated without recording a graph.
    """
    return _differences(f, x, eps, "numerical_grad", scalar=True)[0]


def numerical_jacobian(f: Callable, x: Any, eps: float = 1e-6) -> np.ndarray:
    """J[i…, j…] ≈ (f(x + ε e_j) − f(x − ε e_j))_i / 2ε: numerical_grad for an f of any shape (f(x).shape + x.shape)."""
    return _differences(f, x, eps, "numerical_jacobian", scalar=False)[0]


def _jacobians(out: Tensor, xs: list[Tensor]) -> list[np.ndarray]:
    """∂out/∂x for every x, one backward pass per element of out (shape out.shape + x.shape)."""
    jacs = [np.zeros(out.shape + x.shape) for x in xs]
    for i in np.ndindex(*out.shape) if out.requires_grad else ():
        seed = np.zeros(out.shape, dtype=out.dtype)
        seed[i] = 1.0
        for x in xs:
            x.grad = None
        out.backward(seed)
        for jac, x in zip(jacs, xs):
            if x.grad is not None:
                jac[i] = x.grad
    return jacs


def _weights(shape: tuple, seed: int) -> np.ndarray:
    """Fixed uneven weights of alternating sign (1 for a scalar), so transposed or swapped entries cannot cancel."""
    if int(np.prod(shape)) == 1:
        return np.ones(shape)
    signs = np.where(np.arange(np.prod(shape)) % 2, 1, -1).reshape(shape)
    return np.random.default_rng(seed).uniform(0.5, 1.5, shape) * signs


def gradcheck(
    f: Callable,
    *inputs: Tensor,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    projection: bool = False,
    seed: int = 0,
) -> bool:
    """Assert that backward() of f(*inputs) equals central differences for every input that requires grad.

    Element by element of the Jacobian, as torch.autograd.gradcheck does: |engine − numeric| ≤ atol + rtol·|numeric|
    + rounding for every (output element, input element), where rounding = 16 ε_mach (|f(x+εe_j)| + |f(x−εe_j)|)/2ε
    is what the differences of a large f cannot resolve; NaN fails. The AssertionError names the input, the worst
    element (and output element), both values and the relative error. Cost: one backward pass per output element
    and two evaluations of f per input element. Afterwards each input's .grad holds ∂(Σ f)/∂input.
    projection=True checks ⟨u, J v⟩ instead (u fixed uneven weights on the output, v one random direction per input):
    one backward pass and two evaluations of f in all, for large inputs; the tolerance scales with Σ_i |u_i (Jv)_i|
    (plus the rounding term), so a sum whose terms cancel cannot fail a correct gradient.
    """
    function("gradcheck", "f", f)
    eps, seed = real("gradcheck", "eps", eps, low=0), whole_number(seed, "seed", "gradcheck", minimum=0)
    rtol, atol = (real("gradcheck", k, v, low=0, strict=False) for k, v in (("rtol", rtol), ("atol", atol)))
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"gradcheck: input {i} is a {type(x).__name__}, expected a Tensor")
    wanted = [(i, x) for i, x in enumerate(inputs) if x.requires_grad]
    if not wanted:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    for x in inputs:
        x.grad = None
    out = f(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: f must return a Tensor, got {type(out).__name__}")
    if projection:
        return _check_projection(f, inputs, wanted, out, eps, rtol, atol, seed)
    engine = _jacobians(out, [x for _, x in wanted])
    for (i, x), jac in zip(wanted, engine):
        numeric, rounding = _differences(lambda _: f(*inputs), x, eps, "gradcheck", scalar=False)
        label = f"input {i}" + (f" ({x.name})" if x.name else "")
        _compare(label, x.shape, out.shape, jac, numeric, rtol, atol, rounding)
    for (_, x), jac in zip(wanted, engine):
        x.grad = jac.sum(axis=tuple(range(out.ndim)))
    return True


def _compare(
    label: str, shape: tuple, out_shape: tuple, engine: Any, numeric: Any, rtol: float, atol: float, rounding: Any
) -> None:
    excess = np.abs(engine - numeric) - (atol + rounding + rtol * np.abs(numeric))
    if np.all(excess <= 0):  # False at NaN
        return
    k = np.unravel_index(int(np.argmax(np.where(np.isnan(excess), np.inf, excess))), excess.shape)
    o, j = tuple(int(i) for i in k[: len(out_shape)]), tuple(int(i) for i in k[len(out_shape) :])
    e, n = float(engine[k]), float(numeric[k])
    of = f" of output element {o} (output shape {out_shape})" if out_shape else ""
    raise AssertionError(
        f"gradcheck: {label} of shape {shape}, element {j}{of}: backward gives {e!r}, central differences "
        f"give {n!r} (relative error {abs(e - n) / max(abs(n), 1e-300):.3g}, rtol {rtol}, atol {atol}, "
        f"rounding allowance {rounding[k]:.2g})"
    )


def _check_projection(
    f: Callable, inputs: tuple, wanted: list, out: Tensor, eps: float, rtol: float, atol: float, seed: int
) -> bool:
    u = _weights(out.shape, seed)
    if out.requires_grad:
        out.backward(u.astype(out.dtype))
    rng = np.random.default_rng(seed + 1)
    vs = {i: rng.standard_normal(x.shape) for i, x in wanted}
    analytic = sum(float(np.sum(x.grad * vs[i])) for i, x in wanted if x.grad is not None)
    originals = {i: x.data.copy() for i, x in wanted}

    def along(t: float) -> np.ndarray:
        for i, x in wanted:
            x.data[...] = originals[i] + t * vs[i]
        return _values(f(*inputs), "gradcheck", scalar=False)

    with no_grad():
        plus, minus = along(eps), along(-eps)
    for i, x in wanted:
        x.data[...] = originals[i]
    jv = (plus - minus) / (2 * eps)  # J v, every output element at once
    numeric, scale = float(np.sum(u * jv)), float(np.sum(np.abs(u * jv)))
    rounding = _ROUNDING * float(np.sum(np.abs(u) * (np.abs(plus) + np.abs(minus)))) / (2 * eps)
    if not abs(analytic - numeric) <= atol + rtol * scale + rounding:
        raise AssertionError(
            f"gradcheck (projection): ⟨u, J v⟩ = {analytic!r} from backward but {numeric!r} numerically "
            f"(relative error {abs(analytic - numeric) / max(scale, 1e-300):.3g}, rtol {rtol}, atol {atol})"
        )
    return True


def jacobian(f: Callable, x: Tensor) -> np.ndarray:
    """J[i…, j…] = ∂f(x)_i / ∂x_j, one backward pass per output element (shape f(x).shape + x.shape)."""
    function("jacobian", "f", f)
    if not isinstance(x, Tensor) or not x.requires_grad:
        raise ValueError("jacobian: x must be a Tensor with requires_grad=True")
    out = f(x)
    if not isinstance(out, Tensor):
        raise TypeError(f"jacobian: f must return a Tensor, got {type(out).__name__}")
    (jac,) = _jacobians(out, [x])
    x.grad = None
    return jac
