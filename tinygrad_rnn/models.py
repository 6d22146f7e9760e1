"""The recurrent models by name — "rnn" (the lecture's Elman RNN), "lstm", "gru" — for the command line and files."""

from __future__ import annotations

from typing import Any

from tinygrad_rnn.lstm import GRU, LSTM
from tinygrad_rnn.module import Recurrent
from tinygrad_rnn.rnn import RNN

__all__ = ["MODELS", "make_model"]

MODELS: dict[str, type[Recurrent]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def make_model(kind: str, input_size: int, hidden_size: int, output_size: int, **options: Any) -> Recurrent:
    """A new model of the named kind with these sizes; `options` go to its constructor (seed, head, dtype, …)."""
    if kind not in MODELS:
        raise ValueError(f"make_model: kind must be one of {', '.join(MODELS)}, got {kind!r}")
    return MODELS[kind](input_size, hidden_size, output_size, **options)
