"""tinygrad_rnn: a tiny reverse-mode autodiff engine for seeing and checking backpropagation through time."""

from tinygrad_rnn import functional, gradcheck  # noqa: E402, I001  (modules, re-exported)
from tinygrad_rnn.tensor import (
    Tensor,
    composite,
    concatenate,
    detect_anomaly,
    no_grad,
    scope,
    stack,
    topological_order,
)

__all__ = [
    "Tensor",
    "composite",
    "concatenate",
    "detect_anomaly",
    "functional",
    "gradcheck",
    "no_grad",
    "scope",
    "stack",
    "topological_order",
]
__version__ = "0.1.0"
