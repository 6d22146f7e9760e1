"""The recurrent models by name — "rnn" (the lecture's Elman RNN), "lstm", "gru" — and rebuilding a saved one."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from tinygrad_rnn import data
from tinygrad_rnn.checkpoint import find_npz, read_meta, read_npz
from tinygrad_rnn.lstm import GRU, LSTM
from tinygrad_rnn.module import Recurrent
from tinygrad_rnn.rnn import RNN

__all__ = ["MODELS", "make_model", "load_model"]

MODELS: dict[str, type[Recurrent]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
_BY_CLASS = {cls.__name__: cls for cls in MODELS.values()}
_TRANSFORMS: dict[str, Any] = {"Vocabulary": data.Vocabulary, "Standardizer": data.Standardizer}


def make_model(kind: str, input_size: int, hidden_size: int, output_size: int, **options: Any) -> Recurrent:
    """A new model of the named kind with these sizes; `options` go to its constructor (seed, head, dtype, …)."""
    if kind not in MODELS:
        raise ValueError(f"make_model: kind must be one of {', '.join(MODELS)}, got {kind!r}")
    return MODELS[kind](input_size, hidden_size, output_size, **options)


def load_model(path: str | Path) -> Recurrent:
    """The model `model.save(path)` wrote — same class, sizes, options and arrays — with the data transform saved
    beside it (a Vocabulary or Standardizer) as `model.transform` (None when none was saved).

    A file of parameters only (written before models described themselves) still loads: the class is told by the
    parameter names and the sizes by their shapes, but its options (head, tanh, …) and transform are not in the
    file — a warning says so and the defaults are used."""
    path = find_npz(path)
    if not path.is_file():
        raise ValueError(f"load_model {path}: no such file")
    meta = read_meta(path)
    if meta is None:
        model = _load_parameters_only(path)
        model.transform = None
        return model
    cls = _BY_CLASS.get(meta.get("class", ""))
    if cls is None:
        raise ValueError(f"load_model {path}: unknown model class {meta.get('class')!r}; known: {', '.join(_BY_CLASS)}")
    model = cls(**meta["sizes"], **meta["options"])
    model.load(path)
    model.transform = _transform(meta.get("transform"), path)
    return model


def _transform(saved: dict[str, Any] | None, path: Path) -> Any:
    if saved is None:
        return None
    kind = _TRANSFORMS.get(saved.get("class", ""))
    if kind is None:
        raise ValueError(f"load_model {path}: unknown data transform {saved.get('class')!r}")
    return kind.from_config(saved["config"])


def _load_parameters_only(path: Path) -> Recurrent:
    """An old file: the class from the parameter names, the sizes from the shapes."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = {n[:-4] for n in archive.namelist() if n.endswith(".npy")}
    except (OSError, zipfile.BadZipFile) as e:
        raise ValueError(f"load_model {path}: not a readable .npz file of parameters ({e})") from None
    for cls in (RNN, LSTM, GRU):
        for options in ({}, {"variant": "torch"}) if cls is GRU else ({},):
            if names == set(cls.shape_spec(**options)):
                warnings.warn(
                    f"load_model {path}: the file holds {cls.__name__} parameters only, not the model's options or "
                    "data transform (it was saved before models described themselves); the defaults are used — save "
                    "it again to keep them",
                    stacklevel=3,
                )
                arrays = read_npz(path, tuple(sorted(names)))
                return cls.from_arrays(**arrays, **options)
    raise ValueError(f"load_model {path}: parameters {sorted(names)} fit no model (RNN, LSTM, GRU)")
