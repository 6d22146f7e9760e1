"""Jaeger 2001 (GMD Report 148, section 6): an echo state network on the Mackey-Glass τ = 17 attractor, NRMSE84.

The report's protocol, followed here (the 2002 tutorial, Report 159, teaches the method with other settings, and
Jaeger & Haas 2004 report log10 NRMSE84 ≈ −4.2 with 1000 units and their own protocol; we follow the 2001 report):

- data (eq. 23): y(n+1) = y(n) + δ (0.2 y(n − τ/δ) / (1 + y(n − τ/δ)¹⁰) − 0.1 y(n)), Euler with δ = 1/10,
  subsampled by 10 (one step = one time unit), squashed by y ↦ tanh(y − 1). The report does not give the initial
  history: we take y = 1.2 for t ≤ 0 and drop the first 1000 time units. (`tinygrad_rnn.data.mackey_glass`
  integrates the same equation by 4th-order Runge–Kutta and starts differently, so it gives another trajectory
  of the attractor; the benchmark uses the report's Euler scheme so that the numbers compare.)
- network (6.2): 400 units, the report's sparse ±0.4 matrix rescaled to |λ_max| = 0.79, δ = 1, C = 0.44, a = 0.9,
  a constant input 0.2 with weights 0, ±0.14, feedback weights U[−0.56, 0.56], f_out = tanh; no noise (6.4).
- training (6.3.1): teacher-forced from the zero state on 3000 steps, the first 1000 dropped, a linear regression
  on the other 2000. Plain least squares overfits the nearly collinear states on some reservoirs (their free runs
  drift); a tiny ridge λ (1e-16 … 1e-12; numerically the least squares of [X; √λ I]) removes that. Section 6 does
  not restate f_out (the melody network of 4.1, "essentially the same" one, used tanh): the full run chooses f_out
  ∈ {tanh, identity} and λ on validation trials from a later stretch of the series, with other seeds, never on
  the test trials.
- test (6.3.1, 6.4): 20 trials, each 1000 teacher-forced steps from the zero state and an 84-step free run, on
  consecutive 1084-step blocks of a fresh run of the system; NRMSE84 = √(Σ_i (y_i(n+84) − ŷ_i(n+84))² / (20 σ²))
  in the original coordinates (arctanh(y) + 1), σ² the variance of the test signal (eq. 25).
- report: NRMSE84 ≈ 2.8e-4 (3000 training steps, one hand-tuned network, 20 trials); we average over seeds.

The BPTT-trained forecasters of examples/forecast.py (lecture RNN and LSTM, 16 units, 300 Adam updates, lr 0.01,
windows of 40 values, batch 16, clipping at 1, teacher forcing, standardised data) are trained on the same 3000
training values and scored by the same 20 trials (1000 values of context, then 84 steps closed loop).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_rnn.esn import ESN, nrmse
from tinygrad_rnn.inputs import whole_number
from tinygrad_rnn.papers._common import PaperResult, Timer, figure_path, save_figure, spread

__all__ = ["mackey_glass_report", "Benchmark", "benchmark_data", "esn_trials", "bptt_trials", "choose_readout", "run"]

TRAIN, WASHOUT, TEACHER, HORIZON, TRIALS, BIAS = 3000, 1000, 1000, 84, 20, 0.2
PAPER_NRMSE84 = 2.8e-4
READOUTS = tuple(
    (f, lam) for f in ("tanh", "identity") for lam in (0.0, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11, 1e-10)
)
DEFAULT_READOUT = ("tanh", 1e-13)  # a quick run's fixed readout (the full run selects it on validation trials)
FORECAST_SETTINGS: dict[str, Any] = dict(hidden=16, steps=300, window=40, batch=16, lr=0.01)  # as examples/forecast.py


def mackey_glass_report(
    n: int, *, tau: float = 17.0, step: float = 0.1, subsample: int = 10, history: float = 1.2, discard: float = 1000.0
) -> np.ndarray:
    """y(n+1) = y(n) + δ (0.2 y(n − τ/δ) / (1 + y(n − τ/δ)¹⁰) − 0.1 y(n)) (Report 148, eq. 23), every `subsample`-th
    value: n values, one per time unit for δ = 1/10, after `discard` time units; y = history for t ≤ 0."""
    where = "mackey_glass_report"
    n = whole_number(n, "n", where)
    subsample = whole_number(subsample, "subsample", where)
    lag = tau / step
    if not step > 0 or abs(lag - round(lag)) > 1e-9 or round(lag) < 1:
        raise ValueError(f"{where}: tau/step must be a whole number ≥ 1, got tau={tau}, step={step}")
    lag = int(round(lag))
    skip = int(round(discard / step))
    total = skip + n * subsample
    y = np.empty(lag + total + 1)
    y[: lag + 1] = history
    for i in range(lag, lag + total):
        d = y[i - lag]
        y[i + 1] = y[i] + step * (0.2 * d / (1.0 + d**10) - 0.1 * y[i])
    return y[lag + skip + subsample :: subsample][:n].copy()


class Benchmark:
    """The series cut as the protocol needs: `train` (3000 values), `test` and `validation` (trials × 1084 blocks),
    all in original coordinates; `squash` maps them into the network's range, `variance` is σ² of the test signal."""

    def __init__(self, series: np.ndarray, trials: int) -> None:
        block = TEACHER + HORIZON
        self.train = series[:TRAIN]
        self.test = series[TRAIN : TRAIN + trials * block].reshape(trials, block)
        self.validation = series[TRAIN + trials * block :].reshape(trials, block)
        self.variance = float(np.var(self.test))

    @staticmethod
    def squash(y: np.ndarray) -> np.ndarray:
        """y ↦ tanh(y − 1), into (−1, 1) (section 6.1)."""
        return np.tanh(np.asarray(y) - 1.0)

    @staticmethod
    def unsquash(z: np.ndarray) -> np.ndarray:
        """z ↦ arctanh(z) + 1, back to the original coordinates (a value outside (−1, 1) is clipped just inside)."""
        return np.arctanh(np.clip(z, -1 + 1e-15, 1 - 1e-15)) + 1.0


def benchmark_data(trials: int = TRIALS) -> Benchmark:
    """One run of the system: 3000 training values, then `trials` test blocks, then `trials` validation blocks."""
    trials = whole_number(trials, "trials", "benchmark_data")
    return Benchmark(mackey_glass_report(TRAIN + 2 * trials * (TEACHER + HORIZON)), trials)


def esn_trials(
    data: Benchmark, seed: int, *, readouts: Any = (("tanh", 1e-13),), blocks: str = "test", n_units: int = 400
) -> dict[tuple[str, float], np.ndarray]:
    """Train one ESN (seed), free-run it on every block: {(f_out, λ): predictions (84, trials)}, original coordinates.

    The reservoir runs once; each readout (f_out "tanh" or "identity", ridge λ) only refits W_out: the
    teacher-forced states depend on neither.
    """
    if blocks not in ("test", "validation"):
        raise ValueError(f"esn_trials: blocks must be 'test' or 'validation', got {blocks!r}")
    esn = ESN(n_units, seed=seed)
    y_train = data.squash(data.train)[:, None]
    states = esn.harvest(y_train, u=np.full((TRAIN, 1), BIAS))
    z = data.squash(getattr(data, blocks))  # (trials, 1084)
    B = len(z)
    tf = esn.harvest(z[:, :TEACHER].T[:, :, None], u=np.full((TEACHER, B, 1), BIAS))
    # the last state has been fed values 1 … 999 (it predicts value 1000); generate feeds value 1000 and runs free:
    # its predictions are values 1001 … 1084, the 84th is 84 steps after the last teacher value
    out = {}
    for f_out in dict.fromkeys(f for f, _ in readouts):  # one SVD per output function for all its λ
        esn.output = f_out
        lams = [float(lam) for f, lam in readouts if f == f_out]
        for lam, W_out in zip(lams, esn.readout_path(states, y_train, lams, washout=WASHOUT)):
            esn.W_out = W_out
            pred = esn.generate(HORIZON, tf[-1], z[:, TEACHER - 1 : TEACHER], u=np.full((HORIZON, 1, 1), BIAS))
            out[(f_out, lam)] = data.unsquash(pred[:, :, 0])
    return out


def _nrmse_by_lead(pred: np.ndarray, truth: np.ndarray, variance: float) -> np.ndarray:
    return np.array([nrmse(pred[k], truth[:, TEACHER + k], variance) for k in range(HORIZON)])


def choose_readout(data: Benchmark, seeds: Any, readouts: Any = READOUTS) -> tuple[tuple[str, float], dict]:
    """The readout (f_out, λ) with the smallest mean validation NRMSE84 over `seeds` (validation blocks only)."""
    truth = data.validation[:, -1]
    per_seed = [esn_trials(data, s, readouts=readouts, blocks="validation") for s in seeds]
    scores = {r: float(np.mean([nrmse(p[r][-1], truth, data.variance) for p in per_seed])) for r in per_seed[0]}
    return min(scores, key=lambda r: scores[r]), scores


def bptt_trials(data: Benchmark, kind: str, seed: int, steps: int) -> np.ndarray:
    """A forecaster of examples/forecast.py (kind 'rnn' or 'lstm') trained by BPTT on the same 3000 values, run
    closed loop for 84 steps after 1000 values of context on every test block: (84, trials), original coordinates."""
    from tinygrad_rnn.forecast import closed_loop, train_forecaster
    from tinygrad_rnn.lstm import LSTM
    from tinygrad_rnn.rnn import RNN

    if kind not in ("rnn", "lstm"):
        raise ValueError(f"bptt_trials: kind must be 'rnn' or 'lstm', got {kind!r}")
    s = FORECAST_SETTINGS
    mu, sd = float(data.train.mean()), float(data.train.std())
    model = (RNN if kind == "rnn" else LSTM)(1, s["hidden"], 1, seed=seed, head="linear")
    train_forecaster(
        model, (data.train - mu) / sd, steps=steps, window=s["window"], batch=s["batch"], lr=s["lr"], seed=seed
    )
    context = ((data.test[:, :TEACHER] - mu) / sd).T[:, :, None]  # (1000, trials, 1)
    return closed_loop(model, context, HORIZON)[:, :, 0] * sd + mu


def _settings(quick: bool) -> dict[str, Any]:
    if quick:
        return dict(trials=5, seeds=range(3), val_seeds=(), bptt_seeds=(0,), bptt_steps=20)
    return dict(trials=TRIALS, seeds=range(20), val_seeds=range(100, 110), bptt_seeds=(0, 1, 2), bptt_steps=300)


def _measure(data: Benchmark, cfg: dict) -> dict[str, Any]:
    """λ (validation), then the ESN seeds and the BPTT forecasters on the test trials: predictions and NRMSE by lead."""
    readout, scores = choose_readout(data, cfg["val_seeds"]) if cfg["val_seeds"] else (DEFAULT_READOUT, {})
    preds = {("esn", s): esn_trials(data, s, readouts=(readout,))[readout] for s in cfg["seeds"]}
    for kind in ("rnn", "lstm"):
        preds.update({(kind, s): bptt_trials(data, kind, s, cfg["bptt_steps"]) for s in cfg["bptt_seeds"]})
    by_lead = {key: _nrmse_by_lead(p, data.test, data.variance) for key, p in preds.items()}
    return dict(readout=readout, scores=scores, preds=preds, by_lead=by_lead)


def run(quick: bool = False, out_dir: str | Path | None = None) -> PaperResult:
    """The benchmark: λ on validation trials, ESN NRMSE84 over seeds, the two BPTT forecasters; the figure."""
    timer = Timer()
    cfg = _settings(quick)
    data = benchmark_data(cfg["trials"])
    m = _measure(data, cfg)
    at84 = {k: np.array([e[-1] for key, e in m["by_lead"].items() if key[0] == k]) for k in ("esn", "rnn", "lstm")}
    esn84, (f_out, ridge), scores = at84["esn"], m["readout"], m["scores"]
    chosen = (
        f"f_out = {f_out}, ridge λ = {ridge:g}, chosen on validation trials (seeds {min(cfg['val_seeds'])}–"
        f"{max(cfg['val_seeds'])}, a later stretch of the series); mean validation NRMSE84: "
        + ", ".join(f"{f} λ={k:g} → {v:.3g}" for (f, k), v in scores.items())
        if scores
        else f"f_out = {f_out}, ridge λ = {ridge:g}, fixed (a quick run does not select; the full run does, on "
        "validation trials)"
    )
    lines = [
        "Echo state network on Mackey-Glass τ = 17 (Jaeger 2001, GMD Report 148, sections 6.1–6.4)",
        f"  data: eq. 23, Euler δ = 1/10, subsampled by 10, squashed tanh(y − 1); σ² of the test signal "
        f"{data.variance:.4f}",
        f"  network: 400 leaky tanh units, |λ_max(W)| = 0.79, δ = 1, C = 0.44, a = 0.9, bias input 0.2, feedback "
        f"U[−0.56, 0.56]; teacher-forced on 3000 steps, first 1000 dropped; {cfg['trials']} trials of 1000 + 84 steps",
        f"  readout: least squares, {chosen}",
        f"  ESN NRMSE84 over {len(esn84)} reservoirs (seeds): {spread(esn84)}",
        f"  paper: NRMSE84 ≈ {PAPER_NRMSE84:g} (one hand-tuned network, 20 trials); 3 × paper = {3 * PAPER_NRMSE84:g};"
        f" ours / paper = {esn84.mean() / PAPER_NRMSE84:.2f}",
    ]
    for kind, label in (("rnn", "lecture RNN"), ("lstm", "LSTM")):
        v = at84[kind]
        lines.append(
            f"  BPTT {label} (examples/forecast.py settings, {cfg['bptt_steps']} Adam updates): NRMSE84 {spread(v)};"
            f" the ESN mean is {v.mean() / esn84.mean():.3g}× smaller"
        )
    what = f"NRMSE84, mean over {len(esn84)} ESN seeds, Mackey-Glass tau=17"
    result = PaperResult("esn", float(esn84.mean()), PAPER_NRMSE84, what)
    result.figure = _figure(figure_path(out_dir, "esn", quick), m, data)
    result.data = dict(m, nrmse84=at84, variance=data.variance)
    return result.finish(lines, timer)


_STYLE = {"esn": ("tab:blue", "ESN"), "rnn": ("tab:red", "lecture RNN (BPTT)"), "lstm": ("tab:orange", "LSTM (BPTT)")}


def _figure(path: Path, m: dict, data: Benchmark) -> Path | None:
    with save_figure(path, nrows=1, ncols=2, figsize=(14, 5.2)) as drawn:
        if drawn is None:
            return None
        fig, (ax, ax2) = drawn
        leads = np.arange(1, HORIZON + 1)
        for kind, (color, label) in _STYLE.items():
            E = np.array([e for key, e in m["by_lead"].items() if key[0] == kind])
            ax.fill_between(leads, E.min(0), E.max(0), color=color, alpha=0.18)
            ax.plot(leads, np.median(E, 0), color=color, lw=2, label=f"{label}: median, range of {len(E)} seeds")
        ax.plot([HORIZON], [PAPER_NRMSE84], "k*", ms=14, label="Jaeger 2001: NRMSE84 ≈ 2.8e-4", zorder=5)
        ax.set_yscale("log")
        ax.set_xlabel("steps of free run (closed loop) after 1000 teacher-forced steps")
        ax.set_ylabel("NRMSE at that lead (original coordinates)")
        ax.set_title(f"error by lead over {data.test.shape[0]} test trials (NRMSE84 = the value at 84)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="center right")
        t = np.arange(TEACHER - 60, TEACHER + HORIZON)
        ax2.plot(t, data.test[0, t], color="k", lw=2.4, label="Mackey-Glass, test trial 1")
        tf = np.arange(TEACHER, TEACHER + HORIZON)
        for kind, (color, label) in _STYLE.items():
            key = next(k for k in m["preds"] if k[0] == kind)
            p = m["preds"][key][:, 0]
            ax2.plot(
                tf,
                p,
                color=color,
                ls="--",
                lw=1.6,
                label=f"{label}, seed {key[1]}: |error| at 84 = {abs(p[-1] - data.test[0, -1]):.1e}",
            )
        ax2.axvline(TEACHER - 0.5, color="0.4", lw=0.8)
        ax2.text(TEACHER, 1.42, " free run starts", va="top", fontsize=9)
        ax2.set_ylim(0.3, 1.45)
        ax2.set_xlabel("time step of the trial (one time unit each)")
        ax2.set_ylabel("y (original coordinates)")
        ax2.set_title("the 84-step free runs of trial 1")
        ax2.legend(fontsize=8, loc="lower left")
        fig.suptitle(
            "ESN on Mackey-Glass τ = 17, Jaeger 2001 (GMD Report 148) protocol: 400 units, trained on 3000 steps "
            f"(1000 dropped), f_out = {m['readout'][0]}, λ = {m['readout'][1]:g}\n"
            "beside the BPTT-trained RNN and LSTM of examples/forecast.py on the same data"
        )
    return path
