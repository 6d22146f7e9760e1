"""A gradient handed back in pieces: the engine's one representation of a gradient that is mostly zeros.

`ops.GetItem` of a whole-number index (a step x_t of a sequence) hands back the step's gradient as a piece at its
place, not as an array of the whole size that is zero elsewhere: T steps would otherwise cost O(T²). The walk adds
gradients with `+` as usual; pieces only collect there, and `np.asarray` puts them together once, when the node is
reached.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Pieces"]


class Pieces:
    """A gradient handed back in pieces, (i, g_i) at places i of zeros: adding collects them (no arithmetic),
    np.asarray(pieces) puts them together once."""

    __array_ufunc__ = None  # ndarray + Pieces defers to Pieces.__radd__

    def __init__(self, shape: tuple, dtype: Any, pieces: list) -> None:
        self.shape, self.dtype, self.pieces = shape, dtype, pieces  # (i, g_i) pairs, or Pieces added together

    def __add__(self, other: Any) -> Any:
        if isinstance(other, Pieces):
            return Pieces(self.shape, np.result_type(self.dtype, other.dtype), [self, other])
        return np.asarray(self) + other

    __radd__ = __add__

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out, todo = np.zeros(self.shape, dtype=dtype or self.dtype), [self]
        while todo:
            for piece in todo.pop().pieces:
                if isinstance(piece, Pieces):
                    todo.append(piece)
                else:
                    out[piece[0]] += piece[1]
        return out
