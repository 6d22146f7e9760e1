"""tinygrad_rnn: a tiny reverse-mode autodiff engine for seeing and checking backpropagation through time."""

import importlib

from tinygrad_rnn import functional, gradcheck

# replay(fn) is bound here, after its module is imported: a function named like its module must be bound eagerly,
# since importing the module `tinygrad_rnn.replay` (as train.py does) would set the package attribute to the module.
from tinygrad_rnn.replay import replay  # noqa: E402
from tinygrad_rnn.tensor import (
    Tensor,
    composite,
    concatenate,
    detect_anomaly,
    no_grad,
    scope,
    stack,
    topological_order,
    where,
)

# Loaded on first use (`tinygrad_rnn.rnn`, ...): strategies needs hypothesis and draw needs graphviz, which a user
# of the engine alone may not have.
_LAZY = (
    "rnn", "lstm", "lecture", "draw", "strategies", "optim", "data", "train", "forecast", "dynamics", "module",
    "inputs", "report", "annotations", "models", "demo", "fmt", "torch_bridge", "exercise", "layout", "dot",
    "checkpoint", "explorer", "explorer_svg", "explorer_lecture", "forward", "rtrl",
)  # fmt: skip


# Functions at the package's top that live in a module loaded on first use.
_LAZY_FUNCTIONS = {"load_model": "models", "explore": "explorer", "jvp": "forward", "hvp": "forward"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return importlib.import_module(f"tinygrad_rnn.{name}")
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(f"tinygrad_rnn.{_LAZY_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module 'tinygrad_rnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY) + list(_LAZY_FUNCTIONS))


__all__ = [
    "Tensor",
    "composite",
    "concatenate",
    "detect_anomaly",
    "explore",
    "functional",
    "gradcheck",
    "hvp",
    "jvp",
    "load_model",
    "no_grad",
    "replay",
    "scope",
    "stack",
    "topological_order",
    "where",
]
__version__ = "0.1.0"
