"""RTRL against BPTT on the lecture RNN: time per step and memory as H and T grow, counted and measured in one run.

    python benchmarks/bench_rtrl.py            # H = 4 … 128 (BPTT to 1024) at T = 50, T = 50 … 3200 at H = 32;
                                               # about a minute; writes viz/rtrl_cost.png, prints Markdown
    python benchmarks/bench_rtrl.py --quick    # small sizes only (seconds)

RTRL is `rtrl.rtrl_gradients` (timing) and `rtrl.RTRL.step` fed one step at a time (memory: nothing of length T
exists anywhere); BPTT is the lecture's hand-derived `lecture.bptt_gradients`. Both compute the same gradient —
each row checks it. "counted" is `rtrl_cost` / `bptt_cost` (multiply-adds per step and numbers held per sequence);
"measured" is the fastest of 5 runs' wall time per step (BLAS on one thread, so that a shared machine disturbs the
times less and they follow the counts) and the peak of numpy's allocations (tracemalloc) during the call.
Inputs: one sequence (B = 1) of one-hot symbols, D = K = 8. Past H = 128 only BPTT runs (RTRL's sensitivities
would not fit: counted only), so that BPTT's own H² shows once numpy's per-call overhead no longer dominates.
"""

# ruff: noqa: E402  (the BLAS thread count must be set before numpy is imported)
from __future__ import annotations

import argparse
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy is imported
    os.environ.setdefault(_var, "1")

import time
import tracemalloc
from pathlib import Path

import numpy as np

from tinygrad_rnn import lecture
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.rtrl import RTRL, bptt_cost, rtrl_cost, rtrl_gradients

VOCAB = 8
ROOT = Path(__file__).resolve().parent.parent


def problem(H: int, T: int, seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, VOCAB, size=T + 1)
    return RNN(VOCAB, H, VOCAB, seed=seed).arrays(), np.eye(VOCAB)[symbols[:-1]], symbols[1:]


def seconds(f, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)  # the least disturbed run: the machine may be shared


def peak_bytes(f) -> int:
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def rtrl_streaming(P: dict, H: int, T: int, seed: int = 0) -> None:
    """RTRL over a stream made one step at a time: the inputs of past steps are gone when the next one comes."""
    run, rng = RTRL(**P), np.random.default_rng(seed)
    for _ in range(T):
        run.step(np.eye(VOCAB)[rng.integers(VOCAB)], rng.integers(VOCAB))


def row(H: int, T: int, repeat: int, rtrl: bool = True) -> dict:
    """One size: both methods timed and traced side by side (BPTT alone when rtrl=False: RTRL is counted only)."""
    P, xs, ys = problem(H, T)
    r, b = rtrl_cost(H, VOCAB, VOCAB, T), bptt_cost(H, VOCAB, VOCAB, T)
    out = {"H": H, "T": T, "rtrl_macs": r.macs_per_step, "bptt_macs": b.macs_per_step}
    out |= {"rtrl_held": r.numbers_held, "bptt_held": b.numbers_held, "rtrl_s": None, "rtrl_peak": None}
    out["bptt_s"] = seconds(lambda: lecture.bptt_gradients(**P, xs=xs, ys=ys), repeat) / T
    out["bptt_peak"] = peak_bytes(lambda: lecture.bptt_gradients(**P, xs=xs, ys=ys))
    out["rel_err"] = None
    if rtrl:
        mine, theirs = rtrl_gradients(**P, xs=xs, ys=ys), lecture.bptt_gradients(**P, xs=xs, ys=ys)
        out["rel_err"] = max(float(np.max(np.abs(mine[k] - theirs[k])) / np.max(np.abs(theirs[k]))) for k in "WUVbc")
        out["rtrl_s"] = seconds(lambda: rtrl_gradients(**P, xs=xs, ys=ys), repeat) / T
        out["rtrl_peak"] = peak_bytes(lambda: rtrl_streaming(P, H, T))
    return out


def _f(value: float | None, spec: str, scale: float = 1.0) -> str:
    return "—" if value is None else spec.format(value * scale)


def table(rows: list[dict], title: str) -> str:
    head = (
        "| H | T | RTRL µs/step | BPTT µs/step | time ratio | RTRL MACs/step | BPTT MACs/step | MAC ratio "
        "| RTRL held | BPTT held | RTRL peak KB | BPTT peak KB | max rel. diff |"
    )
    lines = [f"**{title}**", "", head, "|" + "---:|" * 13]
    for r in rows:
        ratio = None if r["rtrl_s"] is None else r["rtrl_s"] / r["bptt_s"]
        cells = [r["H"], r["T"], _f(r["rtrl_s"], "{:,.0f}", 1e6), _f(r["bptt_s"], "{:,.1f}", 1e6), _f(ratio, "{:,.0f}")]
        cells += [f"{r['rtrl_macs']:,}", f"{r['bptt_macs']:,}", f"{r['rtrl_macs'] / r['bptt_macs']:,.0f}"]
        cells += [f"{r['rtrl_held']:,}", f"{r['bptt_held']:,}", _f(r["rtrl_peak"], "{:,.0f}", 1 / 1024)]
        cells += [_f(r["bptt_peak"], "{:,.0f}", 1 / 1024), _f(r["rel_err"], "{:.0e}")]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def slope(xs: list[float], ys: list[float]) -> float:
    """The exponent of a power law through the last three points (log-log least squares)."""
    return float(np.polyfit(np.log(xs[-3:]), np.log(ys[-3:]), 1)[0])


def plot(by_H: list[dict], by_T: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    for key, colour, name in (("rtrl", "#b02a37", "RTRL"), ("bptt", "#1d4ed8", "BPTT")):
        ran = [r for r in by_H if r[f"{key}_s"] is not None]
        Hs, measured = [r["H"] for r in ran], [r[f"{key}_s"] * 1e6 for r in ran]
        counted = np.array([r[f"{key}_macs"] for r in ran], dtype=float)
        ax1.loglog(Hs, measured, "o-", color=colour, lw=2, label=f"{name} measured (slope {slope(Hs, measured):.1f})")
        scale = measured[-1] / counted[-1]
        ax1.loglog(Hs, counted * scale, "--", color=colour, lw=1, label=f"{name} counted MACs (scaled to the last)")
    ax1.set_xlabel("hidden units H")
    ax1.set_ylabel("µs per time step")
    ax1.set_title(f"Time per step (T = {by_H[0]['T']}): RTRL ~H⁴, BPTT ~H²")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    Ts = [r["T"] for r in by_T]
    for key, colour, name in (("rtrl", "#b02a37", "RTRL"), ("bptt", "#1d4ed8", "BPTT")):
        ax2.loglog(Ts, [r[f"{key}_peak"] / 1024 for r in by_T], "o-", color=colour, lw=2, label=f"{name} measured peak")
        held = [r[f"{key}_held"] * 8 / 1024 for r in by_T]
        ax2.loglog(Ts, held, "--", color=colour, lw=1, label=f"{name} counted state (8 bytes a number)")
    ax2.set_xlabel("sequence length T")
    ax2.set_ylabel("KB")
    ax2.set_title(f"Memory (H = {by_T[0]['H']}): RTRL independent of T, BPTT ~T·H")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.suptitle("Real-time recurrent learning (forward mode) against BPTT (reverse mode), lecture RNN, D = K = 8")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per size; the fastest is shown")
    parser.add_argument("--plot", type=Path, default=ROOT / "viz" / "rtrl_cost.png", help="where the plot goes")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()
    if args.quick:
        Hs, bptt_only, T, Ts, H = (4, 8, 16), (32, 64), 20, (20, 80, 320), 8
    else:
        Hs, bptt_only, T, Ts, H = (4, 8, 16, 32, 64, 128), (256, 512, 1024), 50, (50, 200, 800, 3200), 32
    start = time.perf_counter()
    by_H = [row(h, T, args.repeat) for h in Hs] + [row(h, T, args.repeat, rtrl=False) for h in bptt_only]
    by_T = [row(H, t, args.repeat) for t in Ts]
    print(table(by_H, f"As H grows (T = {T}, one sequence, D = K = {VOCAB})"))
    print()
    print(table(by_T, f"As T grows (H = {H})"))
    print()
    rtrl_s, bptt_s = [r["rtrl_s"] for r in by_H[: len(Hs)]], [r["bptt_s"] for r in by_H]
    exponents = slope(list(Hs), rtrl_s), slope([r["H"] for r in by_H], bptt_s)
    print("measured exponents of time per step in H (last three sizes): RTRL {:.2f}, BPTT {:.2f}".format(*exponents))
    print(
        f"(H = {', '.join(map(str, bptt_only))}: BPTT only — RTRL would hold {by_H[-1]['rtrl_held']:,} numbers at "
        f"H = {bptt_only[-1]}; its counts are shown)"
    )
    exponents = (slope(Ts, [r[k] for r in by_T]) for k in ("rtrl_peak", "bptt_peak"))
    print("measured exponents of peak memory in T (last three sizes): RTRL {:.2f}, BPTT {:.2f}".format(*exponents))
    if not args.no_plot:
        try:
            plot(by_H, by_T, args.plot)
            print(f"wrote {args.plot}")
        except ImportError:
            print("(matplotlib is not installed: no plot)")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
