"""Forecasting with recurrent models: output feedback, teacher forcing, closed-loop forecasts, baselines.

An output-feedback RNN predicts the next value of a series from the value before it:

    h_t = tanh(b + W x_t + U h_{t−1}),   ŷ_t = c + V h_t,   x_t = y_{t−1} (teacher forcing)  or  ŷ_{t−1} (free-running)

Teacher forcing trains on the observed previous value; free-running feeds the model's own previous prediction back
as its input (the gradient flows through that feedback too), which is what the model faces when it forecasts
several steps ahead closed-loop. A ratio 0 < p < 1 mixes the two step by step (scheduled sampling, Bengio et al.
2015). The baselines every forecast is measured against: persistence (ŷ_t = y_{t−1}) and a linear autoregression
fitted by least squares.

Conventions: a series is (T,) or (T, D); a one-step prediction array `pred` has the series' shape and pred[t]
predicts y[t] from y[:t] (NaN where a method has no prediction yet). Windows for training are (L+1, B, D).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_rnn import data
from tinygrad_rnn.data import check_series
from tinygrad_rnn.inputs import Array, whole_number
from tinygrad_rnn.models import make_model
from tinygrad_rnn.module import Recurrent
from tinygrad_rnn.tensor import Tensor, no_grad, scope, stack
from tinygrad_rnn.train import OPTIMIZERS, History, fit

__all__ = [
    "rmse",
    "persistence",
    "LinearAR",
    "one_step_predictions",
    "closed_loop",
    "multi_step_rmse",
    "random_windows",
    "feedback_loss",
    "teacher_forced_loss",
    "train_forecaster",
    "SERIES",
    "load_series",
    "ForecastResult",
    "forecast_experiment",
    "forecast_saved",
]


# ----------------------------------------------------------------------------------------------------- metrics
def rmse(pred: Array, target: Array) -> float:
    """√(mean (ŷ − y)²) over all entries; both arrays must have the same shape and be finite."""
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"rmse: predictions have shape {pred.shape}, targets {target.shape}")
    if pred.size == 0:
        raise ValueError("rmse: nothing to score (empty arrays)")
    if not np.all(np.isfinite(pred)):
        raise ValueError("rmse: the predictions contain NaN or inf (a step without a prediction?)")
    return float(np.sqrt(np.mean((pred - target) ** 2)))


def _as_2d(series: Array, fn: str) -> np.ndarray:
    y = check_series(series, fn)
    return y[:, None] if y.ndim == 1 else y


# ----------------------------------------------------------------------------------------------------- baselines
def persistence(series: Array) -> np.ndarray:
    """ŷ_t = y_{t−1}: tomorrow is like today (pred[0] = NaN)."""
    y = check_series(series, "persistence")
    pred = np.full_like(y, np.nan)
    pred[1:] = y[:-1]
    return pred


class LinearAR:
    """ŷ_t = a₀ + Σ_{i=1}^{p} A_i y_{t−i}, fitted by least squares (ridge λ‖A‖² when `ridge` > 0)."""

    def __init__(self, order: int, ridge: float = 0.0):
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise ValueError(f"LinearAR: order must be a whole number ≥ 1, got {order!r}")
        if ridge < 0:
            raise ValueError(f"LinearAR: ridge must be ≥ 0, got {ridge}")
        self.order, self.ridge = int(order), float(ridge)
        self.coef: np.ndarray | None = None  # (1 + p·D, D): intercept, then lags 1..p

    def _design(self, y: np.ndarray) -> np.ndarray:
        p, T = self.order, len(y)
        lags = [y[p - i : T - i] for i in range(1, p + 1)]  # row j holds y_{t-1..t-p} for t = p + j
        return np.concatenate([np.ones((T - p, 1)), *lags], axis=1)

    def fit(self, train: Array) -> LinearAR:
        y = _as_2d(train, "LinearAR.fit")
        if len(y) <= self.order + 1:
            raise ValueError(f"LinearAR.fit: order {self.order} needs more than {self.order + 1} values, got {len(y)}")
        X, Y = self._design(y), y[self.order :]
        reg = self.ridge * np.eye(X.shape[1])
        reg[0, 0] = 0.0  # no penalty on the intercept
        self.coef = np.linalg.solve(X.T @ X + reg, X.T @ Y)
        self._dim = y.shape[1]
        return self

    def _check(self, y: np.ndarray, fn: str) -> None:
        if self.coef is None:
            raise ValueError(f"LinearAR.{fn}: call fit(train) first")
        if y.shape[1] != self._dim:
            raise ValueError(f"LinearAR.{fn}: fitted on {self._dim}-dimensional values, got shape {y.shape}")

    def predict(self, series: Array) -> np.ndarray:
        """One-step predictions: pred[t] from y[t−p..t−1] (NaN for t < p)."""
        raw = check_series(series, "LinearAR.predict")
        y = raw[:, None] if raw.ndim == 1 else raw
        self._check(y, "predict")
        pred = np.full_like(y, np.nan)
        if len(y) > self.order:
            pred[self.order :] = self._design(y) @ self.coef
        return pred[:, 0] if raw.ndim == 1 else pred

    def forecast(self, context: Array, horizon: int) -> np.ndarray:
        """Closed loop: each prediction becomes the newest lag of the next; shape (horizon,) or (horizon, D)."""
        raw = check_series(context, "LinearAR.forecast")
        y = raw[:, None] if raw.ndim == 1 else raw
        self._check(y, "forecast")
        if len(y) < self.order:
            raise ValueError(f"LinearAR.forecast: the context has {len(y)} values, order {self.order} needs more")
        hist = list(y[-self.order :])
        out = []
        for _ in range(horizon):
            x = np.concatenate([[1.0], *hist[::-1][: self.order]])
            nxt = x @ self.coef
            out.append(nxt)
            hist.append(nxt)
        values = np.array(out)
        return values[:, 0] if raw.ndim == 1 else values


# ----------------------------------------------------------------------------------------------------- recurrent models
def one_step_predictions(model: Recurrent, series: Array) -> np.ndarray:
    """pred[t] = o_t of the model run teacher-forced on y_0..y_{t−1} (the state carried from the start)."""
    raw = check_series(series, "one_step_predictions")
    y = raw[:, None] if raw.ndim == 1 else raw
    pred = np.full(y.shape, np.nan)
    if len(y) > 1:
        with no_grad():
            _, os = model.forward(y[:-1])
        pred[1:] = np.stack([o.data for o in os])
    return pred[:, 0] if raw.ndim == 1 else pred


def closed_loop(model: Recurrent, context: Array, horizon: int) -> np.ndarray:
    """Warm the state up on the observed context, then feed each prediction back as the next input.

    context: (C,), (C, D), or a batch (C, B, D) of contexts forecast side by side. Returns the next `horizon` values:
    (horizon,), (horizon, D) or (horizon, B, D). The first forecast is ŷ from the last observed value.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"closed_loop: horizon must be a whole number ≥ 1, got {horizon!r}")
    c = np.asarray(context, dtype=np.float64)
    squeeze = c.ndim == 1
    if squeeze:
        c = c[:, None]
    if c.ndim not in (2, 3) or len(c) == 0:
        raise ValueError(f"closed_loop: context must be (C,), (C, D) or (C, B, D) with C ≥ 1, got {c.shape}")
    check_series(c.reshape(len(c), -1), "closed_loop")
    out = []
    with no_grad():
        state = None
        if len(c) > 1:
            model.forward(c[:-1])
            state = model.state
        x = c[-1]
        for _ in range(horizon):
            _, os = model.forward(x[None], state)
            state = model.state
            x = os[-1].data
            out.append(x)
    values = np.stack(out)
    return values[:, 0] if squeeze else values


def multi_step_rmse(
    forecaster: Callable[[np.ndarray, int], np.ndarray],
    series: Array,
    origins: Array,
    horizon: int,
    context: int,
) -> np.ndarray:
    """RMSE at each lead 1..horizon of closed-loop forecasts made at every origin s (forecasting y[s : s+horizon]).

    `forecaster(contexts, horizon)` gets the `context` values before each origin as one batch (C, B, D) and returns
    (horizon, B, D) — e.g. `lambda c, h: closed_loop(model, c, h)`.
    """
    y = _as_2d(series, "multi_step_rmse")
    origins = np.asarray(origins, dtype=int)
    if origins.size == 0:
        raise ValueError("multi_step_rmse: no forecast origins")
    if origins.min() < context or origins.max() + horizon > len(y):
        raise ValueError(
            f"multi_step_rmse: origins must lie in [{context}, {len(y) - horizon}] so that {context} context values "
            f"precede and {horizon} targets follow each (series of length {len(y)})"
        )
    ctx = np.stack([y[s - context : s] for s in origins], axis=1)  # (C, B, D)
    truth = np.stack([y[s : s + horizon] for s in origins], axis=1)  # (h, B, D)
    pred = np.asarray(forecaster(ctx, horizon))
    if pred.shape != truth.shape:
        raise ValueError(f"multi_step_rmse: the forecaster returned shape {pred.shape}, expected {truth.shape}")
    return np.sqrt(np.mean((pred - truth) ** 2, axis=(1, 2)))


# ----------------------------------------------------------------------------------------------------- training
def random_windows(series: Array, length: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """`batch` windows of `length` consecutive values at uniformly drawn starts: shape (length, batch, D)."""
    y = _as_2d(series, "random_windows")
    if length > len(y):
        raise ValueError(f"random_windows: window of {length} values is longer than the series (T={len(y)})")
    starts = rng.integers(0, len(y) - length + 1, size=batch)
    return np.stack([y[s : s + length] for s in starts], axis=1)


def _check_windows(fn: str, windows: Array, washout: int) -> np.ndarray:
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim == 2:
        w = w[:, :, None]
    if w.ndim != 3:
        raise ValueError(f"{fn}: windows must have shape (L+1, B, D), got {w.shape}")
    if not 0 <= washout < len(w) - 1:
        raise ValueError(f"{fn}: washout {washout} must leave at least one scored step of the {len(w) - 1}")
    return w


def _mean_sq(preds: list[Tensor], targets: np.ndarray | Tensor, washout: int) -> Tensor:
    """(1/N) Σ_{t > washout} Σ (ŷ_t − y_t)², N the number of scored values (targets an array, or a Tensor input of a
    replayed recording)."""
    scored = stack(preds[washout:])
    diff = scored - (targets[washout:] if isinstance(targets, Tensor) else Tensor(targets[washout:]))
    loss = (diff * diff).sum() * (1.0 / diff.size)
    loss.name = "L"
    return loss


def feedback_loss(
    model: Recurrent,
    windows: Array,
    teacher_forcing: float = 1.0,
    *,
    washout: int = 0,
    rng: np.random.Generator | None = None,
    feedback_grad: bool = True,
) -> Tensor:
    """Mean squared one-step error of the output-feedback RNN over windows y_0..y_L, (L+1, B, D).

    Step t = 1..L: x_t = y_{t−1} when t = 1, t ≤ washout, or with probability p = `teacher_forcing` (one draw per
    step, shared by the batch); otherwise x_t = ŷ_{t−1}, the model's own output (free-running). The first
    `washout` steps only set the state and are not scored. Any recurrent model (RNN, LSTM, GRU) runs it by `step`.
    With `feedback_grad=False` the fed-back ŷ_{t−1} is detached (no gradient through the feedback).
    """
    w = _check_windows("feedback_loss", windows, washout)
    if not 0.0 <= teacher_forcing <= 1.0:
        raise ValueError(f"feedback_loss: teacher_forcing must lie in [0, 1], got {teacher_forcing}")
    if rng is None and 0.0 < teacher_forcing < 1.0:
        raise ValueError("feedback_loss: a teacher_forcing ratio strictly between 0 and 1 needs rng=")
    L, B, _ = w.shape[0] - 1, w.shape[1], w.shape[2]
    state = model.zero_state(B)
    preds: list[Tensor] = []
    prev: Tensor | None = None
    for t in range(1, L + 1):
        forced = t == 1 or t <= washout or teacher_forcing == 1.0
        if not forced and teacher_forcing > 0.0:
            forced = bool(rng is not None and rng.random() < teacher_forcing)
        with scope(f"t={t}"):
            if forced or prev is None:
                x = Tensor(w[t - 1], name=f"y_{t - 1}")
            else:
                x = prev if feedback_grad else prev.detach()
            state, o = model.step(x, state)
            h = state[0] if isinstance(state, tuple) else state
            h.name, o.name = f"h_{t}", f"ŷ_{t}"
        preds.append(o)
        prev = o
    return _mean_sq(preds, w[1:], washout)


def teacher_forced_loss(model: Recurrent, windows: Array, *, washout: int = 0) -> Tensor:
    """Mean squared one-step error with x_t = y_{t−1} at every step, for any model with `forward(xs, h0)`."""
    w = _check_windows("teacher_forced_loss", windows, washout)
    _, os = model.forward(w[:-1])
    return _mean_sq(os, w[1:], washout)


def train_forecaster(
    model: Recurrent,
    train: Array,
    *,
    steps: int = 300,
    window: int = 40,
    batch: int = 16,
    lr: float = 0.01,
    optimizer: str = "adam",
    teacher_forcing: float = 1.0,
    washout: int = 10,
    tbptt: int | None = None,
    clip: float | None = 1.0,
    l2: float = 0.0,
    seed: int = 0,
    progress: bool = False,
    replay: bool = False,
) -> History:
    """Fit a forecasting model (linear head) on random windows of the training series, one update per batch.

    teacher_forcing = 1: x_t = y_{t−1} (any model); < 1: scheduled sampling / free-running through `feedback_loss`
    (models with `step`, the lecture RNN). `tbptt=k` (teacher forcing only) cuts each window into chunks of k steps
    with the state carried detached. `window` counts scored steps plus the `washout`. replay=True (teacher forcing
    only) runs each update through `replay`, the windows and their targets fed as inputs of one recording: the same
    updates as eager training, to rounding. Scheduled sampling cannot be replayed: which steps feed back ŷ is drawn
    in Python at every update, so each update has a graph of its own.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"train_forecaster: optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    if getattr(model, "head", "linear") != "linear":
        raise ValueError(f"train_forecaster: the model needs head='linear' for regression, got {model.head!r}")
    y = _as_2d(train, "train_forecaster")
    rng = np.random.default_rng(seed)
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=lr)
    if tbptt is not None and teacher_forcing != 1.0:
        raise ValueError("train_forecaster: tbptt applies to teacher-forced training (teacher_forcing=1) only")
    if replay and teacher_forcing != 1.0:
        raise ValueError(
            f"train_forecaster: replay=True needs teacher_forcing=1 (got {teacher_forcing}): scheduled sampling draws "
            "its feedback steps in Python, a new graph at every update; train it with replay=False"
        )
    if replay:
        fn = _replayable_loss(model, washout, tbptt)

        def replayed(i: int) -> tuple:
            w = random_windows(y, window + 1, batch, rng)
            return fn, (w[:-1], w[1:])

        return fit(replayed, opt, steps, clip=clip, l2=l2, progress=progress, desc="forecast", replay=True)

    def loss_fn(i: int) -> Tensor:
        w = random_windows(y, window + 1, batch, rng)
        if teacher_forcing != 1.0:
            return feedback_loss(model, w, teacher_forcing, washout=washout, rng=rng)
        if tbptt is None:
            return teacher_forced_loss(model, w, washout=washout)
        return _tbptt_windows_loss(model, w, washout, tbptt)

    return fit(loss_fn, opt, steps, clip=clip, l2=l2, progress=progress, desc="forecast")


def _replayable_loss(model: Recurrent, washout: int, k: int | None) -> Any:
    """fn(inputs, targets) → the teacher-forced loss, both arguments (L, B, D): what `replay` records once."""

    def teacher_forced(xs: Tensor, targets: Tensor) -> Tensor:
        outs = model.forward(xs)[1] if k is None else [o for _, _, os in model.chunks(xs, k=k) for o in os]
        return _mean_sq(outs, targets, washout)

    return teacher_forced


def _tbptt_windows_loss(model: Recurrent, w: np.ndarray, washout: int, k: int) -> Tensor:
    """The teacher-forced loss with the state detached after steps k, 2k, … (one graph; same value)."""
    outs = [o for _, _, os in model.chunks(w[:-1], k=k) for o in os]
    return _mean_sq(outs, w[1:], washout)


# ----------------------------------------------------------------------------------------------------- the experiment
SERIES = {
    "mackey-glass": lambda seed: data.mackey_glass(1500, sample_every=3.0),
    "sunspots": lambda seed: data.load_sunspots()[1],
    "sine": lambda seed: data.sine(600, period=25.0, noise=0.05, seed=seed),
}


def load_series(name: str, seed: int = 0) -> np.ndarray:
    """One of the series of `forecast_experiment`: "mackey-glass" (τ = 17, every 3 time units, 1500 values), the
    shipped yearly "sunspots", or a noisy "sine" of period 25 (600 values, noise from `seed`)."""
    if name not in SERIES:
        raise ValueError(f"load_series: series must be one of {', '.join(SERIES)}, got {name!r}")
    return SERIES[name](seed)


@dataclass
class ForecastResult:
    """What `forecast_experiment` measured: test RMSE one step ahead and at the last lead, per method."""

    series: str
    sizes: dict[str, int]
    updates: int
    last_loss: float
    horizon: int
    rmse: dict[str, tuple[float, float]] = field(default_factory=dict)  # method: (one-step, at lead `horizon`)
    model: Any = None
    history: History | None = None
    scale: data.Standardizer | None = None

    def __str__(self) -> str:
        s = self.sizes
        lines = [
            f"{self.series}: {s['total']} values (train {s['train']}, validation {s['validation']}, test {s['test']}), "
            f"standardised; {self.updates} updates, last training loss {self.last_loss:.4g}",
            f"test RMSE        {'method':22s} {'one-step':>9s} {'lead ' + str(self.horizon):>9s}",
        ]
        lines += [f"                 {name:22s} {one:9.4f} {lead:9.4f}" for name, (one, lead) in self.rmse.items()]
        return "\n".join(lines)


def forecast_experiment(
    series: str = "mackey-glass",
    model: str = "rnn",
    *,
    hidden: int = 16,
    horizon: int = 30,
    seed: int = 0,
    **training: Any,
) -> ForecastResult:
    """Train a forecaster (`train_forecaster` with `training` options: steps, window, batch, lr, optimizer,
    teacher_forcing, tbptt, clip, progress, replay) on the first 60% of a standardised series, then measure test
    RMSE one step ahead and closed-loop at lead `horizon` against persistence and a linear AR fitted on the same
    values."""
    z_raw = load_series(series, seed)
    train, val, _ = data.split_series(z_raw, (0.6, 0.2, 0.2))
    scale = data.Standardizer(train)
    z = scale.transform(z_raw)
    a, b = len(train), len(train) + len(val)
    window = training.get("window", 40)
    if window + 1 > a:
        raise ValueError(f"forecast_experiment: a window of {window} does not fit the {a} training values")
    training.setdefault("washout", min(10, window - 1))
    net = make_model(model, 1, hidden, 1, seed=seed, head="linear")
    hist = train_forecaster(net, z[:a], seed=seed, **training)
    p = min(10, a - 2)
    ar = LinearAR(p).fit(z[:a])
    lead = min(horizon, len(z) - b)
    origins = np.arange(b, len(z) - lead + 1)

    def ar_loop(c: np.ndarray, h: int) -> np.ndarray:
        return np.stack([ar.forecast(c[:, i], h) for i in range(c.shape[1])], axis=1)

    methods = {
        "persistence": (persistence(z), lambda c, h: np.repeat(c[-1:], h, axis=0)),
        f"linear AR({p})": (ar.predict(z), ar_loop),
        f"{model.upper()}, H={net.hidden_size}": (one_step_predictions(net, z), lambda c, h: closed_loop(net, c, h)),
    }
    sizes = {"total": len(z), "train": a, "validation": b - a, "test": len(z) - b}
    result = ForecastResult(series, sizes, len(hist.loss), hist.loss[-1], lead, model=net, history=hist, scale=scale)
    for name, (pred, f) in methods.items():
        result.rmse[name] = (rmse(pred[b:], z[b:]), float(multi_step_rmse(f, z, origins, lead, min(40, b))[-1]))
    return result


def forecast_saved(
    path: str | Path, series: str = "mackey-glass", *, horizon: int = 10, context: int = 40
) -> np.ndarray:
    """The next `horizon` values of a series, in its own units, from a forecaster saved with its standardisation
    (`model.save(path, transform=scale)`): warmed up on the last `context` values, then closed-loop."""
    from tinygrad_rnn.models import load_model

    model = load_model(path)
    scale = model.transform
    if not isinstance(scale, data.Standardizer) or model.head != "linear":
        raise ValueError(f"forecast: {path} is not a forecaster saved with its standardisation (train forecast --save)")
    y = load_series(series)
    z = scale.transform(y[-min(whole_number(context, "context", "forecast"), len(y)) :])
    return scale.inverse(closed_loop(model, z, whole_number(horizon, "horizon", "forecast")))
