"""Numerical gradients (central differences, float64) and checks of the engine's gradients against them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinygrad_rnn.tensor import Tensor, no_grad


def _value(out) -> float:
    arr = np.asarray(out.data if isinstance(out, Tensor) else out)
    if arr.size != 1:
        raise ValueError(f"the function must return a scalar, got shape {arr.shape}")
    return float(arr.reshape(()))


def numerical_grad(f: Callable, x, eps: float = 1e-6) -> np.ndarray:
    """∂f/∂x_i ≈ (f(x + ε e_i) − f(x − ε e_i)) / 2ε for every element i of x, in float64.

    `x` is a Tensor (perturbed in place, then restored exactly) or an array (a float64 copy is perturbed);
    `f(x)` returns a scalar (Tensor or number) and is evaluated without recording a graph.
    """
    target = x.data if isinstance(x, Tensor) else np.array(x, dtype=np.float64)
    if target.dtype != np.float64:
        raise TypeError(f"numerical_grad needs float64 data for accurate differences, got {target.dtype}")
    arg = x if isinstance(x, Tensor) else target
    grad = np.zeros(target.shape)
    flat, gflat = target.reshape(-1), grad.reshape(-1)
    with no_grad():
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            plus = _value(f(arg))
            flat[i] = orig - eps
            minus = _value(f(arg))
            flat[i] = orig
            gflat[i] = (plus - minus) / (2 * eps)
    return grad


def _scalarize(f: Callable, out_shape: tuple, seed: int):
    """A non-scalar f becomes Σ u ⊙ f with a fixed uneven u, so transposed or swapped entries cannot cancel out."""
    if out_shape == () or int(np.prod(out_shape)) == 1:
        return f
    u = Tensor(
        np.random.default_rng(seed).uniform(0.5, 1.5, out_shape)
        * np.where(np.arange(np.prod(out_shape)) % 2, 1, -1).reshape(out_shape)
    )
    return lambda *xs: (f(*xs) * u).sum()


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

    |engine − numeric| ≤ atol + rtol·|numeric| element by element; the AssertionError names the input, the worst
    element, both values and the relative error. A non-scalar f is contracted with a fixed uneven weight first.
    projection=True checks ⟨∇f, v⟩ against (f(x + εv) − f(x − εv)) / 2ε for one random direction v per input:
    two evaluations of f instead of two per element, for large inputs.
    """
    with no_grad():
        out_shape = f(*inputs).shape
    g = _scalarize(f, out_shape, seed)
    for x in inputs:
        x.grad = None
    g(*inputs).backward()
    wanted = [(i, x) for i, x in enumerate(inputs) if x.requires_grad]
    engine = {i: (x.grad if x.grad is not None else np.zeros(x.shape)) for i, x in wanted}
    if projection:
        rng = np.random.default_rng(seed + 1)
        vs = {i: rng.standard_normal(x.shape) for i, x in wanted}
        originals = {i: x.data.copy() for i, x in wanted}

        def along(t: float) -> float:
            for i, x in wanted:
                x.data[...] = originals[i] + t * vs[i]
            return _value(g(*inputs))

        with no_grad():
            numeric = (along(eps) - along(-eps)) / (2 * eps)
        for i, x in wanted:
            x.data[...] = originals[i]
        analytic = sum(float(np.sum(engine[i] * vs[i])) for i, _ in wanted)
        if not abs(analytic - numeric) <= atol + rtol * abs(numeric):
            raise AssertionError(
                f"gradcheck (projection): ⟨∇f, v⟩ = {analytic!r} from backward but {numeric!r} numerically "
                f"(relative error {abs(analytic - numeric) / max(abs(numeric), 1e-300):.3g})"
            )
        return True
    for i, x in wanted:
        numeric = numerical_grad(lambda _: g(*inputs), x, eps)
        err = np.abs(engine[i] - numeric) - (atol + rtol * np.abs(numeric))
        if np.any(err > 0):
            k = tuple(int(j) for j in np.unravel_index(int(np.argmax(err)), err.shape))
            e, n = float(engine[i][k]), float(numeric[k])
            label = f"input {i}" + (f" ({x.name})" if x.name else "")
            raise AssertionError(
                f"gradcheck: {label} of shape {x.shape}, element {k}: backward gives {e!r}, central differences "
                f"give {n!r} (relative error {abs(e - n) / max(abs(n), 1e-300):.3g}, rtol {rtol}, atol {atol})"
            )
    return True


def jacobian(f: Callable, x: Tensor) -> np.ndarray:
    """J[i…, j…] = ∂f(x)_i / ∂x_j, one backward pass per output element (shape f(x).shape + x.shape)."""
    if not x.requires_grad:
        raise ValueError("jacobian: x must have requires_grad=True")
    out = f(x)
    jac = np.zeros(out.shape + x.shape)
    for i in np.ndindex(*out.shape):
        seed = np.zeros(out.shape, dtype=out.dtype)
        seed[i] = 1.0
        x.grad = None
        out.backward(seed)
        if x.grad is not None:
            jac[i] = x.grad
    x.grad = None
    return jac
