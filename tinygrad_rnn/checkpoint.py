"""Saved models on disk: an .npz of named arrays plus, as JSON text, what rebuilds the model — read strictly (one
clear error naming the file for anything that is not such a file) and without pickle."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CHECKPOINT_FORMAT", "META_KEY", "find_npz", "npz_path", "read_meta", "read_npz"]

CHECKPOINT_FORMAT = 1
META_KEY = "__tinygrad_rnn__"  # the JSON description of the model inside a saved .npz


def find_npz(path: str | Path) -> Path:
    """The file `save(path)` wrote: `path` itself, or `path.npz` when the suffix was left out."""
    path = Path(path)
    return npz_path(path) if not path.exists() and npz_path(path).exists() else path


def read_meta(path: Path) -> dict[str, Any] | None:
    """The JSON description `save` writes beside the arrays, or None for a file of parameters only."""
    try:
        with zipfile.ZipFile(path) as archive:
            if f"{META_KEY}.npy" not in archive.namelist():
                return None
        text = read_npz(path, (META_KEY,))[META_KEY]
        meta = json.loads(str(text))
    except json.JSONDecodeError as e:
        raise ValueError(f"load {path}: its model description is not valid JSON ({e})") from None
    except zipfile.BadZipFile as e:
        raise ValueError(f"load {path}: not a readable .npz file of parameters ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"load {path}: an unknown model description (format {meta.get('format')!r})")
    return meta


def npz_path(path: str | Path) -> Path:
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def read_npz(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named arrays of an .npz file; ValueError naming the file for anything that is not a readable one. Each
    array's header is read first: one claiming more bytes than the archive holds is refused before allocation."""
    if not path.is_file():
        raise ValueError(f"load {path}: no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            files = {n[:-4]: n for n in archive.namelist() if n.endswith(".npy")}
            missing = [n for n in names if n not in files]
            if missing:
                raise ValueError(f"load {path}: parameter(s) {', '.join(missing)} missing; file has {sorted(files)}")
            out = {}
            for n in names:
                with archive.open(files[n]) as f:
                    major, _ = np.lib.format.read_magic(f)
                    read_header = (
                        np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(f)
                    if dtype.hasobject or (dtype.kind not in "biufU"):
                        raise ValueError(f"load {path}: {n} holds {dtype} values, not real numbers; refused")
                    claimed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                    if claimed > archive.getinfo(files[n]).file_size:
                        raise ValueError(f"load {path}: parameter {n} claims {claimed} bytes but the file holds fewer")
                with archive.open(files[n]) as f:
                    out[n] = np.lib.format.read_array(f, allow_pickle=False)
            return out
    except ValueError as e:
        if str(e).startswith(f"load {path}"):
            raise
        raise ValueError(f"load {path}: not a readable .npz file of parameters ({e})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, TypeError) as e:
        raise ValueError(f"load {path}: not a readable .npz file of parameters ({type(e).__name__}: {e})") from None
