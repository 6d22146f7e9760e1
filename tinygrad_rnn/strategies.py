"""Hypothesis strategies for testing gradients — ours, and yours.

Sizes and a seed are drawn by hypothesis and the numbers come from ``np.random.default_rng(seed)``: generation is
fast, and a failure still shrinks to the smallest shape. Values are bounded instead of filtered (use
``positive_arrays`` for log, keep exp's arguments within a few units), so no example is thrown away.

Example::

    from hypothesis import given
    from tinygrad_rnn import Tensor
    from tinygrad_rnn.gradcheck import gradcheck
    from tinygrad_rnn.strategies import broadcastable_pairs

    @given(broadcastable_pairs())
    def test_mul(pair):
        a, b = (Tensor(x, requires_grad=True) for x in pair)
        gradcheck(lambda a, b: a * b, a, b)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

__all__ = [
    "seeds",
    "shapes",
    "arrays",
    "positive_arrays",
    "broadcastable_pairs",
    "matmul_pairs",
    "rnn_sizes",
    "make_problem",
    "rnn_problems",
]

seeds = st.integers(0, 2**32 - 1)


def _fill(rng: np.random.Generator, shape: tuple, low: float, high: float, dtype: Any) -> np.ndarray:
    return rng.uniform(low, high, size=shape).astype(dtype)


def shapes(*, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy:
    """Array shapes with min_dims..max_dims axes of min_side..max_side elements each."""
    return array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


@st.composite
def arrays(
    draw: Any,
    shape: tuple[int, ...] | None = None,
    *,
    min_dims: int = 0,
    max_dims: int = 3,
    max_side: int = 4,
    low: float = -3.0,
    high: float = 3.0,
    dtype: Any = np.float64,
) -> np.ndarray:
    """An array of the given shape (or of a drawn shape) with elements uniform in [low, high)."""
    shape = draw(shapes(min_dims=min_dims, max_dims=max_dims, max_side=max_side)) if shape is None else shape
    return _fill(np.random.default_rng(draw(seeds)), tuple(shape), low, high, dtype)


def positive_arrays(shape: tuple[int, ...] | None = None, **kwargs: Any) -> st.SearchStrategy:
    """Arrays with elements in [0.2, 3): safe for log, division and fractional powers."""
    return arrays(shape, low=kwargs.pop("low", 0.2), high=kwargs.pop("high", 3.0), **kwargs)


@st.composite
def broadcastable_pairs(
    draw: Any, *, max_dims: int = 3, max_side: int = 4, low: float = -3.0, high: float = 3.0, dtype: Any = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays whose shapes broadcast against each other (equal, with size-1 axes, or fewer axes)."""
    shp = draw(mutually_broadcastable_shapes(num_shapes=2, max_dims=max_dims, max_side=max_side))
    rng = np.random.default_rng(draw(seeds))
    a, b = shp.input_shapes
    return _fill(rng, a, low, high, dtype), _fill(rng, b, low, high, dtype)


@st.composite
def matmul_pairs(
    draw: Any, *, max_side: int = 4, stacked: bool = True, dtype: Any = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) that a @ b accepts: vector·vector, matrix·vector, vector·matrix, matrix·matrix, and (if stacked)
    stacks of matrices, with broadcasting over the stack axes."""
    m, n, p, s = (draw(st.integers(1, max_side)) for _ in range(4))
    kinds = [((n,), (n,)), ((m, n), (n,)), ((n,), (n, p)), ((m, n), (n, p))]
    if stacked:
        kinds += [((s, m, n), (s, n, p)), ((s, m, n), (n, p)), ((1, m, n), (s, n, p)), ((s, m, n), (n,))]
    a, b = draw(st.sampled_from(kinds))
    rng = np.random.default_rng(draw(seeds))
    return _fill(rng, a, -2.0, 2.0, dtype), _fill(rng, b, -2.0, 2.0, dtype)


@st.composite
def rnn_sizes(draw: Any, *, max_steps: int = 8, max_batch: int = 3, max_size: int = 5) -> dict:
    """Sizes of a recurrent problem: T steps, batch B (0 = unbatched), input D, hidden H, classes K, and a seed."""
    return {
        "T": draw(st.integers(1, max_steps)),
        "B": draw(st.integers(0, max_batch)),
        "D": draw(st.integers(1, max_size)),
        "H": draw(st.integers(1, max_size)),
        "K": draw(st.integers(1, max_size)),
        "seed": draw(seeds),
    }


def make_problem(T: int, B: int, D: int, H: int, K: int, seed: int, **rnn_options: Any) -> tuple:
    """(rnn, xs, ys): the lecture RNN with seeded parameters, inputs xs of shape (T, D) — or (T, B, D) when B ≥ 1 —
    and class targets ys of shape (T,) or (T, B)."""
    from tinygrad_rnn.rnn import RNN  # the model is only needed by this helper

    rng = np.random.default_rng(seed)
    batch = (B,) if B else ()
    xs = rng.standard_normal((T, *batch, D))
    ys = rng.integers(0, K, size=(T, *batch))
    return RNN(D, H, K, seed=seed, **rnn_options), xs, ys


@st.composite
def rnn_problems(draw: Any, *, max_steps: int = 8, max_batch: int = 3, max_size: int = 5, **rnn_options: Any) -> tuple:
    """(rnn, xs, ys) for the lecture RNN, sizes drawn by `rnn_sizes`."""
    return make_problem(**draw(rnn_sizes(max_steps=max_steps, max_batch=max_batch, max_size=max_size)), **rnn_options)
