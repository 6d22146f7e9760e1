"""Sequence data: characters, synthetic and real time series, sliding windows, splits in time order.

Everything returns plain numpy arrays (float64 for series); nothing is downloaded — the real data ship in
`tinygrad_rnn/datasets/` (see its README for source and licence).
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import numpy as np

from tinygrad_rnn.inputs import real, whole_number

__all__ = [
    "Vocabulary",
    "load_text",
    "load_sunspots",
    "sine",
    "mackey_glass",
    "check_series",
    "sliding_windows",
    "next_step_pairs",
    "split_series",
    "Standardizer",
]


# ----------------------------------------------------------------------------------------------------- characters
class Vocabulary:
    """Characters ↔ indices 0..K−1 (sorted, so the same text always gives the same indices)."""

    def __init__(self, chars: str | list[str]) -> None:
        if not isinstance(chars, (str, list, tuple)) or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise TypeError(f"Vocabulary: chars must be a str or a list of single characters, got {chars!r:.60}")
        chars = list(chars)
        if not chars:
            raise ValueError("Vocabulary: no characters given (empty text?)")
        if len(set(chars)) != len(chars):
            raise ValueError("Vocabulary: characters must be distinct")
        self.chars: list[str] = chars
        self.index: dict[str, int] = {c: i for i, c in enumerate(chars)}

    def to_config(self) -> dict[str, Any]:
        """What rebuilds this vocabulary (saved as JSON beside a model's parameters)."""
        return {"chars": "".join(self.chars)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Vocabulary:
        return cls(config["chars"])

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """The sorted set of characters of `text`."""
        if not isinstance(text, str):
            raise TypeError(f"Vocabulary.from_text: expected str, got {type(text).__name__}")
        if not text:
            raise ValueError("Vocabulary.from_text: the text is empty")
        return cls(sorted(set(text)))

    @property
    def size(self) -> int:
        """K, the number of distinct characters."""
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """text → int64 indices, one per character."""
        if not isinstance(text, str):
            raise TypeError(f"Vocabulary.encode: expected str, got {type(text).__name__}")
        if not text:
            raise ValueError("Vocabulary.encode: the text is empty")
        try:
            return np.array([self.index[c] for c in text], dtype=np.int64)
        except KeyError:
            pos = next(i for i, c in enumerate(text) if c not in self.index)
            raise ValueError(
                f"Vocabulary.encode: character {text[pos]!r} at position {pos + 1} is not in the vocabulary "
                f"of {self.size} characters"
            ) from None

    def decode(self, ids: Any) -> str:
        """int indices → text."""
        ids = self._indices(ids, "Vocabulary.decode")
        if ids.ndim != 1:
            raise ValueError(f"Vocabulary.decode: expected a 1-D sequence of indices, got shape {ids.shape}")
        bad = (ids < 0) | (ids >= self.size)
        if ids.size and bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"Vocabulary.decode: index {int(ids[i])} at position {i + 1} is outside 0..{self.size - 1}"
            )
        return "".join(self.chars[int(i)] for i in ids)

    def one_hot(self, ids: Any, dtype: Any = np.float64) -> np.ndarray:
        """x[t, k] = 1 if ids[t] == k else 0; shape ids.shape + (K,)."""
        ids = self._indices(ids, "Vocabulary.one_hot")
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"Vocabulary.one_hot: dtype {dtype!r} is not a numpy data type") from None
        if ids.size and (ids.min() < 0 or ids.max() >= self.size):
            raise ValueError(
                f"Vocabulary.one_hot: indices must lie in 0..{self.size - 1}, got {ids.min()}..{ids.max()}"
            )
        return np.eye(self.size, dtype=dtype)[ids]

    @staticmethod
    def _indices(ids: Any, fn: str) -> np.ndarray:
        """ids as an integer array: integers, or floats that are whole numbers (an empty list is fine)."""
        try:
            arr = np.asarray(ids)
        except ValueError as e:
            raise ValueError(f"{fn}: ids must be a (regular) array of indices: {e}") from None
        if arr.size == 0:
            return arr.astype(np.int64)
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{fn}: ids must be whole numbers, got {arr.dtype} values {ids!r:.60}")
        return arr


def load_text(name: str = "coriolanus") -> str:
    """The public-domain text shipped in tinygrad_rnn/datasets/<name>.txt (default: Coriolanus I.1, 3.9 KB)."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"load_text: name must be the name of a shipped text such as 'coriolanus', got {name!r}")
    try:
        return resources.files("tinygrad_rnn").joinpath("datasets").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"load_text: no shipped text named {name!r} (have: 'coriolanus')") from None


# ----------------------------------------------------------------------------------------------------- series
def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """(years, yearly mean sunspot number), 1700–2008, 309 values (NOAA NGDC via statsmodels; public domain)."""
    raw = resources.files("tinygrad_rnn").joinpath("datasets").joinpath("sunspots.csv").read_text(encoding="utf-8")
    rows = [line.split(",") for line in raw.strip().splitlines()[1:]]
    years = np.array([int(float(r[0])) for r in rows], dtype=np.int64)
    values = np.array([float(r[1]) for r in rows], dtype=np.float64)
    return years, values


def sine(
    n: int,
    period: float = 20.0,
    *,
    amplitude: float = 1.0,
    phase: float = 0.0,
    noise: float = 0.0,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """y_t = A sin(2π t / period + φ) + σ ε_t,  t = 0..n−1,  ε_t ~ N(0, 1) drawn from default_rng(seed)."""
    n = whole_number(n, "n", "sine")
    period, phase = real("sine", "period", period, low=0), real("sine", "phase", phase)
    amplitude, noise = real("sine", "amplitude", amplitude), real("sine", "noise", noise, low=0, strict=False)
    if not (seed is None or isinstance(seed, np.random.Generator)):
        whole_number(seed, "seed", "sine", minimum=0)
    t = _allocate("sine", n, lambda: np.arange(n, dtype=np.float64))
    y = amplitude * np.sin(2 * np.pi * t / period + phase)
    if noise:
        y = y + noise * np.random.default_rng(seed).standard_normal(n)
    return y


def _allocate(fn: str, count: int, make: Any) -> np.ndarray:
    """make(), or a ValueError naming fn when its `count` values do not fit in memory."""
    try:
        return make()
    except (MemoryError, ValueError):
        raise ValueError(f"{fn}: {count} values do not fit in memory (n too large?)") from None


def mackey_glass(
    n: int,
    *,
    tau: float = 17.0,
    beta: float = 0.2,
    gamma: float = 0.1,
    power: float = 10.0,
    x0: float = 1.2,
    dt: float = 0.1,
    sample_every: float = 1.0,
    discard: float = 500.0,
) -> np.ndarray:
    """dx/dt = β x(t−τ) / (1 + x(t−τ)^p) − γ x(t), sampled every `sample_every` time units.

    Defaults are the classic chaotic setting: τ = 17, β = 0.2, γ = 0.1, p = 10, constant history x(t) = x0 = 1.2 for
    t ≤ 0. Integration: classical 4th-order Runge–Kutta with step dt = 0.1 (τ/dt must be a whole number); the delayed
    value needed at the half step, x(t + dt/2 − τ), is the mean of the two neighbouring stored values (linear
    interpolation). The first `discard` = 500 time units (the transient) are dropped. Deterministic: no randomness.
    """
    n = whole_number(n, "n", "mackey_glass")
    tau, dt, sample_every = (
        real("mackey_glass", k, v, low=0) for k, v in (("tau", tau), ("dt", dt), ("sample_every", sample_every))
    )
    beta, gamma, power, x0 = (
        real("mackey_glass", k, v) for k, v in (("beta", beta), ("gamma", gamma), ("power", power), ("x0", x0))
    )
    discard = real("mackey_glass", "discard", discard, low=0, strict=False)
    lag = tau / dt
    if not 0.5 < lag < 2**53 or abs(lag - round(lag)) > 1e-9:
        raise ValueError(f"mackey_glass: tau/dt must be a whole number ≥ 1, got tau={tau}, dt={dt}")
    per = sample_every / dt
    if not 0.5 < per < 2**53 or abs(per - round(per)) > 1e-9:
        raise ValueError(f"mackey_glass: sample_every/dt must be a whole number ≥ 1, got {sample_every}/{dt}")
    lag, per = int(round(lag)), int(round(per))
    skip = int(round(discard / dt))
    steps = skip + (n - 1) * per
    x = _allocate("mackey_glass", lag + steps + 1, lambda: np.empty(lag + steps + 1))
    x[: lag + 1] = x0  # history for t in [−τ, 0]

    def f(xt, xd):
        return beta * xd / (1.0 + xd**power) - gamma * xt

    for i in range(lag, lag + steps):
        xd0, xd1 = x[i - lag], x[i - lag + 1]
        xdh = 0.5 * (xd0 + xd1)
        xi = x[i]
        k1 = f(xi, xd0)
        k2 = f(xi + 0.5 * dt * k1, xdh)
        k3 = f(xi + 0.5 * dt * k2, xdh)
        k4 = f(xi + dt * k3, xd1)
        x[i + 1] = xi + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x[lag + skip :: per][:n].copy()


def check_series(series: Any, fn: str = "check_series") -> np.ndarray:
    """The series as a float64 array of shape (T,) or (T, D), T ≥ 1, every value finite — or a clear ValueError."""
    try:
        y = np.asarray(series, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{fn}: the series must be numeric, got {type(series).__name__} ({e})") from None
    if y.ndim not in (1, 2):
        raise ValueError(f"{fn}: expected a series of shape (T,) or (T, D), got shape {y.shape}")
    if y.shape[0] == 0:
        raise ValueError(f"{fn}: the series is empty (shape {y.shape})")
    bad = ~np.isfinite(y)
    if bad.any():
        t = int(np.argmax(bad.reshape(len(y), -1).any(axis=1)))
        what = "NaN" if np.isnan(y[t]).any() else "an infinite value"
        raise ValueError(f"{fn}: the series has {what} at t={t + 1} (1-based) of {len(y)}, shape {y.shape}")
    return y


def sliding_windows(series: Any, window: int, horizon: int = 1, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """X[i] = y[s_i : s_i+w],  Y[i] = y[s_i+w : s_i+w+h],  s_i = i·stride: inputs and the `horizon` values after them.

    Shapes: X (N, w) and Y (N, h) for a 1-D series, (N, w, D) and (N, h, D) for a (T, D) series, with
    N = ⌊(T − w − h) / stride⌋ + 1. Windows never look past their own end: Y[i] is strictly later than X[i].
    """
    y = check_series(series, "sliding_windows")
    window, horizon, stride = (
        whole_number(v, k, "sliding_windows") for k, v in (("window", window), ("horizon", horizon), ("stride", stride))
    )
    T = len(y)
    if window + horizon > T:
        raise ValueError(
            f"sliding_windows: window {window} + horizon {horizon} = {window + horizon} is longer than the series "
            f"(T={T}, shape {y.shape})"
        )
    starts = np.arange(0, T - window - horizon + 1, stride)
    X = np.stack([y[s : s + window] for s in starts])
    Y = np.stack([y[s + window : s + window + horizon] for s in starts])
    return X, Y


def next_step_pairs(series: Any) -> tuple[np.ndarray, np.ndarray]:
    """(xs, ys) with x_t = y_{t−1}, target y_t: inputs y_1..y_{T−1} and targets y_2..y_T, each of shape (T−1, D)."""
    y = check_series(series, "next_step_pairs")
    if len(y) < 2:
        raise ValueError(f"next_step_pairs: need at least 2 values, got shape {y.shape}")
    if y.ndim == 1:
        y = y[:, None]
    return y[:-1].copy(), y[1:].copy()


def split_series(series: Any, fractions: Any = (0.7, 0.15, 0.15)) -> tuple[np.ndarray, ...]:
    """Cut the series in time order into consecutive parts of the given fractions (train, validation, test).

    No shuffling: every value of a later part is later in time than every value of an earlier part.
    The last part takes the rounding remainder; each part must get at least one value.
    """
    y = check_series(series, "split_series")
    try:
        fr = np.asarray(fractions, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"split_series: fractions must be a sequence of numbers, got {fractions!r}") from None
    if fr.ndim != 1 or len(fr) < 1 or not np.all(np.isfinite(fr)) or (fr <= 0).any() or abs(fr.sum() - 1.0) > 1e-9:
        raise ValueError(f"split_series: fractions must be positive and sum to 1, got {fractions!r}")
    T = len(y)
    cuts = np.floor(np.cumsum(fr)[:-1] * T + 1e-9).astype(int)
    bounds = [0, *cuts.tolist(), T]
    sizes = np.diff(bounds)
    if (sizes < 1).any():
        raise ValueError(f"split_series: a series of length {T} is too short for fractions {tuple(fractions)}")
    return tuple(y[a:b].copy() for a, b in zip(bounds[:-1], bounds[1:]))


class Standardizer:
    """z = (y − μ) / σ with μ, σ taken from the training part only (so nothing leaks from the future)."""

    def __init__(self, train: Any) -> None:
        y = check_series(train, "Standardizer")
        self.mean = y.mean(axis=0)
        self.std = y.std(axis=0)
        if np.any(self.std == 0):
            raise ValueError("Standardizer: the training series is constant (σ = 0); cannot standardise")

    def to_config(self) -> dict[str, Any]:
        """What rebuilds this standardisation (saved as JSON beside a model's parameters)."""
        return {
            "mean": np.atleast_1d(self.mean).tolist(),
            "std": np.atleast_1d(self.std).tolist(),
            "ndim": self.mean.ndim,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Standardizer:
        out = cls.__new__(cls)
        shape = () if config["ndim"] == 0 else (-1,)
        out.mean = np.asarray(config["mean"], dtype=np.float64).reshape(shape)
        out.std = np.asarray(config["std"], dtype=np.float64).reshape(shape)
        return out

    def transform(self, y: Any) -> np.ndarray:
        """z = (y − μ) / σ, for values of any shape whose last axis is D (or any shape for a 1-D series)."""
        return (self._values(y, "Standardizer.transform") - self.mean) / self.std

    def inverse(self, z: Any) -> np.ndarray:
        """y = z σ + μ."""
        return self._values(z, "Standardizer.inverse") * self.std + self.mean

    def _values(self, y: Any, fn: str) -> np.ndarray:
        try:
            arr = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{fn}: the values must be numbers: {e}") from None
        if self.mean.ndim and (arr.ndim == 0 or arr.shape[-1] != self.mean.shape[0]):
            raise ValueError(
                f"{fn}: values of shape {arr.shape} do not end in the D={self.mean.shape[0]} of the series"
            )
        return arr
