"""Benchmark: forward + gradients of the lecture RNN, every implementation against the hand-written numpy BPTT.

    python benchmarks/run.py            # the full run; writes benchmarks/RESULTS.md (a few minutes)
    python benchmarks/run.py --quick    # smoke run in seconds: tiny and small, checks every gradient, writes nothing

Method. Each implementation runs in its own worker process (so one framework's garbage collector and allocator do
not disturb another) and is checked against the hand BPTT (loss and all five gradients) before it is timed. The
parent then asks the workers for timing samples round after round, interleaved in a rotating order, with a pause
between samples (OpenBLAS threads spin for a while after a call). A sample is the mean of n calls (n chosen so a
sample lasts a few tens of milliseconds), timed in CPU time of the worker (time.process_time) when BLAS runs one
thread — the cores are shared, and CPU time leaves out the time other processes hold them — and in wall time
(time.perf_counter) with more threads. The ratio of a round is sample / the hand BPTT's sample of the same round;
the table shows the median of these paired ratios. Peak memory of building an implementation and one step is
measured with tracemalloc (numpy allocations are traced; PyTorch's own allocator is not, so it is left out). The BLAS
thread count is fixed for every worker (OPENBLAS_NUM_THREADS, torch.set_num_threads) and stated in the results.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# ---- worker process ---------------------------------------------------------------------------------------------


def _worker(conn, name: str, shape: tuple, dtype: str, threads: int) -> None:
    """Build one implementation on one problem, report its loss and gradients, then serve timing requests."""
    import impls
    import numpy as np

    if name.startswith("torch"):
        import torch

        torch.set_num_threads(threads)
    if name == "jax" and threads == 1:  # XLA's CPU thread pool, held to one thread as BLAS is
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    clock = time.process_time if threads == 1 else time.perf_counter  # CPU time: other processes' load excluded
    params, xs, ys = impls.make_problem(*shape, dtype=np.dtype(dtype))
    try:
        step = impls.build(name, params, xs, ys)
        loss, grads = step()
        conn.send(("ok", loss, {k: np.array(v, dtype=np.float64) for k, v in grads.items()}))
    except Exception as e:  # noqa: BLE001 — reported to the parent, which marks the implementation as failed
        conn.send(("error", f"{type(e).__name__}: {e}", None))
        return
    while True:
        msg = conn.recv()
        if msg[0] == "time":
            n = msg[1]
            t0 = clock()
            for _ in range(n):
                step()
            conn.send((clock() - t0) / n)
        elif msg[0] == "memory":  # steady state: the peak of one step after two, what the implementation holds counted
            import gc
            import tracemalloc

            del step
            gc.collect()
            tracemalloc.start()
            step_m = impls.build(name, params, xs, ys)
            step_m()
            step_m()
            gc.collect()
            tracemalloc.reset_peak()
            step_m()
            conn.send(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            step = step_m
        elif msg[0] == "scaling":  # per-step time for a sequence of length T (min over repeats), gc on and off
            import gc

            T, repeats = msg[1], msg[2]
            shape_T = (T,) + tuple(shape[1:])
            params, xs, ys = impls.make_problem(*shape_T, dtype=np.dtype(dtype))
            step_T = impls.build(name, params, xs, ys)
            best = {True: float("inf"), False: float("inf")}
            for _ in range(repeats):
                for gc_on in (True, False):
                    (gc.enable if gc_on else gc.disable)()
                    t0 = clock()
                    step_T()
                    best[gc_on] = min(best[gc_on], clock() - t0)
                    gc.enable()
            del step_T
            conn.send((best[True] / T, best[False] / T))
        else:
            return


class Worker:
    def __init__(self, name: str, shape: tuple, dtype: str, threads: int):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, name, shape, dtype, threads), daemon=True)
        self.proc.start()
        self.name = name
        self.status, self.loss, self.grads = self.conn.recv()

    def ask(self, *msg):
        self.conn.send(msg)
        return self.conn.recv()

    def close(self):
        try:
            self.conn.send(("quit",))
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()


# ---- checks -------------------------------------------------------------------------------------------------------


def check(worker: Worker, ref_loss: float, ref_grads: dict, dtype: str) -> str | None:
    """None when the loss and every gradient equal the hand BPTT's (to rounding), else what differs."""
    import numpy as np

    if worker.status != "ok":
        return worker.loss
    rtol = 1e-9 if dtype == "float64" else 2e-3
    if not abs(worker.loss - ref_loss) <= rtol * max(1.0, abs(ref_loss)):
        return f"loss {worker.loss!r} vs hand BPTT {ref_loss!r}"
    for k, ref in ref_grads.items():
        err = np.max(np.abs(worker.grads[k] - ref)) / max(1.0, np.max(np.abs(ref)))
        if not err <= rtol:
            return f"gradient of {k} off by {err:.2e} (relative to its largest entry)"
    return None


def check_hand_against_lecture(shape: tuple) -> str:
    """The hoisted hand BPTT against the package's lecture.bptt_gradients (the lecture's equations), when present."""
    import impls
    import numpy as np

    try:
        from tinygrad_rnn import lecture
    except ImportError:
        return "tinygrad_rnn.lecture not importable: hand BPTT not cross-checked"
    if not hasattr(lecture, "bptt_gradients"):
        return "lecture.bptt_gradients missing: hand BPTT not cross-checked"
    params, xs, ys = impls.make_problem(*shape)
    _, mine = impls.hand_hoisted(params, xs, ys)()
    theirs = lecture.bptt_gradients(*(params[k] for k in impls.PARAMS), xs, ys)
    for k in impls.PARAMS:
        np.testing.assert_allclose(mine[k], theirs[k], rtol=1e-10, atol=1e-12, err_msg=f"hand BPTT {k}")
    return "the hoisted hand BPTT equals lecture.bptt_gradients (rtol 1e-10) on every size"


# ---- timing -------------------------------------------------------------------------------------------------------


def time_size(names, shape, dtype, args, log) -> tuple[dict, dict, dict]:
    """{name: median paired ratio}, {name: median seconds}, {name: error} for one problem size."""
    workers, errors = {}, {}
    try:
        for name in names:
            workers[name] = Worker(name, shape, dtype, args.threads)
        hand = workers["hand"]
        if hand.status != "ok":
            raise RuntimeError(f"hand BPTT failed: {hand.loss}")
        for name, w in list(workers.items()):
            problem = check(w, hand.loss, hand.grads, dtype)
            if problem:
                errors[name] = problem
                log(f"  {name}: NOT TIMED — {problem}")
                w.close()
                del workers[name]
        reps = {}
        for name, w in workers.items():  # calibrate: n calls make a sample of about args.sample seconds
            w.ask("time", 1)
            once = w.ask("time", 1)
            reps[name] = max(1, min(10_000, int(args.sample / max(once, 1e-7))))
        samples = {name: [] for name in workers}
        order = list(workers)
        for r in range(args.rounds):
            for name in order[r % len(order) :] + order[: r % len(order)]:
                time.sleep(args.pause)
                samples[name].append(workers[name].ask("time", reps[name]))
        ratios = {name: statistics.median(s / h for s, h in zip(samples[name], samples["hand"])) for name in workers}
        seconds = {name: statistics.median(s) for name, s in samples.items()}
        return ratios, seconds, errors
    finally:
        for w in workers.values():
            w.close()


def memory(names, shape, threads) -> dict:
    out = {}
    for name in names:
        if name.startswith("torch") or name == "jax":  # their allocators are not traced
            continue
        w = Worker(name, shape, "float64", threads)
        try:
            if w.status == "ok":
                out[name] = w.ask("memory")
        finally:
            w.close()
    return out


def scaling(names, Ts, threads, repeats) -> dict:
    out = {}
    base = (10, 4, 16, 32, 16)
    for name in names:
        w = Worker(name, base, "float64", threads)
        try:
            out[name] = {T: w.ask("scaling", T, max(2, repeats // T)) for T in Ts}  # about `repeats` steps each
        finally:
            w.close()
    return out


# ---- report -------------------------------------------------------------------------------------------------------

TARGETS_FAST = {"tiny": 4.0, "small": 3.0, "medium": 1.3, "large": 1.15, "long": 6.0}

WHY = """\
## Reading the targets

- **Replay (`replay(rnn.loss)`) runs the hand BPTT's program.** After the recording call, a step of the fast graph
  is six numpy calls — U h_{t−1}, + a_t, tanh forward; the share through U, its sum with ∇_{h_t}L from the output
  layer, times 1 − h_t² backward (`tests/test_perf_guard.py` counts them) — with every view made once, outputs
  written with `out=` into buffers planned by liveness, and the ∇U products of all steps joined into one. The hand
  BPTT makes the same calls and, in Python, about ten views per step; that is where replay gains at small sizes
  and at long. Products of small matrices run as np.dot, which has less overhead per call (chosen by timing).
- **Lecture mode replayed** is the same program: `batching.py` finds the nodes that play the same part in every
  step and do not depend on one another (input and output layers, softmax, cross-entropy, the per-step losses) and
  runs each once over all steps; only the recurrence stays per step.
- **Medium and large are matrix products.** Replay and the hand BPTT spend nearly all their time in OpenBLAS; JAX's
  compiled products (XLA's own kernels) are about as fast as OpenBLAS's kernel for this CPU, and JAX loses its lead
  through the loop of its scan. The environment of this machine forces an older OpenBLAS kernel (Haswell), which
  makes numpy's products up to 2.3× slower; the benchmark unsets it for its workers (see the machine lines).
- **Eager fast mode** pays Python per node (a step is four nodes: the step a_t of W x + b, U h, +, tanh): building
  each in `apply`, the topological order, the walk. The walk is the textbook chain rule; a step x[t] hands its
  gradient back as a piece, stacked once (O(T), not O(T²)).
- **Memory, steady state** (tracemalloc: what an implementation holds plus the peak of one step after two). Replay
  holds its planned buffers (about the hand BPTT's) plus its instructions and views (more at long: thousands of
  per-step views). Eager fast mode holds the graph of the step, whose nodes keep their values; `loss()` releases the
  previous call's trace and state before building the next, so a training loop holds one graph at a time.
- **Linear in T.** The time per step grows by a small factor from T = 1,000 to 10,000, never by the 10× of a
  quadratic walk; what growth there is follows memory (the garbage collector scanning a larger graph, fresh pages).
- Ratios on a shared 2-core machine move by ±10 % from run to run (other work shares the cores); a target within
  that of its bound is neither safely held nor safely missed.
"""


# This kind of machine sets these for older OpenBLAS builds; with numpy's current OpenBLAS the forced Haswell kernel
# makes matrix products up to 2.3× slower than the kernel OpenBLAS picks for the CPU. Unset for the benchmark (its
# workers only): every implementation's gradients are checked against the hand BPTT before it is timed.
OPENBLAS_FORCING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def openblas_core() -> str:
    """The name of the kernel numpy's OpenBLAS runs (e.g. SkylakeX), or "?"."""
    import ctypes
    import glob

    import numpy as np

    try:
        lib = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "libscipy_openblas*.so"))
        f = ctypes.CDLL(lib[0]).scipy_openblas_get_corename64_
        f.restype = ctypes.c_char_p
        return f().decode()
    except (IndexError, OSError, AttributeError):
        return "?"


def machine_lines(threads: int, unset: dict) -> list[str]:
    import impls
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "?"
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{cfg.get('name', '?')} {cfg.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 — the BLAS name is informative only
        pass
    peers = [f"{m} {impls.version(m)}" for m in ("torch", "jax", "autograd", "mygrad") if m in _importable()]
    return [
        f"- machine: {cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, numpy {np.__version__} ({blas}), BLAS threads: {threads}"
        " (OPENBLAS_NUM_THREADS / torch.set_num_threads in every worker); clock: "
        + ("CPU time of each worker (time.process_time)" if threads == 1 else "wall time (time.perf_counter)"),
        f"- peers installed: {', '.join(peers) or 'none'}",
        f"- OpenBLAS kernel: {openblas_core()}"
        + (
            f" (the environment set {', '.join(f'{k}={v}' for k, v in unset.items())}, which forces an older "
            "kernel; unset for these runs)"
            if unset
            else ""
        ),
    ]


def _importable() -> set:
    import importlib.util

    return {m for m in ("torch", "jax", "autograd", "mygrad") if importlib.util.find_spec(m) is not None}


def table(names, sizes, ratios, seconds, errors) -> list[str]:
    import impls

    head = "| implementation | " + " | ".join(f"{s} {impls.SIZES[s]}" for s in sizes) + " |"
    lines = [head, "|---|" + "---:|" * len(sizes)]
    for name in names:
        cells = []
        for s in sizes:
            if name in errors.get(s, {}):
                cells.append("wrong")
            elif name not in ratios.get(s, {}):
                cells.append("—")
            elif name == "hand":
                cells.append(f"1.00 ({seconds[s]['hand'] * 1e3:.3g} ms)")
            else:
                cells.append(f"{ratios[s][name]:.2f}")
        lines.append(f"| {impls.label(name)} | " + " | ".join(cells) + " |")
    return lines


def verdicts(sizes, ratios, mem, scale) -> list[str]:
    out = []
    for s in sizes:
        r = ratios.get(s, {})
        if "replay" in r:
            ok = r["replay"] <= 1.1
            out.append(f"- replay, {s}: {r['replay']:.2f} ≤ 1.1 — {'holds' if ok else 'MISSED'}")
            if "jax" in r:
                bound, word = (1.1 * r["jax"], "within 10 % of") if s == "long" else (r["jax"], "below")
                ok = r["replay"] <= bound if s == "long" else r["replay"] < bound
                out.append(f"  {word} JAX jit ({r['jax']:.2f}): {'yes' if ok else 'NO'}")
        if "replay_lecture" in r:
            ok = r["replay_lecture"] <= 2.0
            out.append(f"- lecture mode replayed, {s}: {r['replay_lecture']:.2f} ≤ 2 — {'holds' if ok else 'MISSED'}")
        if "fast" in r:
            ok = r["fast"] <= TARGETS_FAST[s]
            out.append(f"- fast mode, {s}: {r['fast']:.2f} ≤ {TARGETS_FAST[s]} — {'holds' if ok else 'MISSED'}")
            if "torch" in r:
                ahead = r["fast"] <= r["torch"]
                out.append(f"  no slower than PyTorch eager ({r['torch']:.2f}): {'yes' if ahead else 'NO'}")
        if "lecture" in r and "mygrad" in r:
            ok = r["lecture"] <= r["mygrad"]
            out.append(
                f"- lecture mode, {s}: {r['lecture']:.2f} vs MyGrad {r['mygrad']:.2f} — "
                f"{'no slower' if ok else 'SLOWER'}"
            )
    for name, per_T in scale.items():
        Ts = sorted(per_T)
        a, b = Ts[-2], Ts[-1]
        on, off = per_T[b][0] / per_T[a][0], per_T[b][1] / per_T[a][1]
        out.append(
            f"- {name}: time per step at T={b:,} is {on:.2f}× that at T={a:,} ({off:.2f}× with the garbage collector "
            f"off) — {'linear' if min(on, off) <= 1.5 else 'NOT linear'}"
        )
    for s, m in mem.items():
        if "hand" in m:
            for name in ("replay", "replay_lecture", "fast", "lecture"):
                if name in m:
                    q, bound = m[name] / m["hand"], (1.5 if s == "long" or name != "replay" else 1.2)
                    verdict = f"≤ {bound}" if q <= bound else f"> {bound}"
                    out.append(f"- steady-state peak memory, {name}, {s}: {q:.2f}× the hand BPTT — {verdict}")
    return out


def profile(name: str, shape: tuple, calls: int, top: int = 14) -> str:
    """cProfile of `calls` steps in this process: the functions that take the time, by their own time."""
    import cProfile
    import io
    import pstats

    import impls

    step = impls.build(name, *impls.make_problem(*shape))
    step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        step()
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).strip_dirs().sort_stats("tottime").print_stats(top)
    body = text.getvalue().strip().splitlines()
    start = next(i for i, line in enumerate(body) if "function calls" in line)
    return "\n".join(line.rstrip() for line in body[start:] if line.strip() and "Ordered by" not in line)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: tiny and small, hand/fast/lecture, float64, few rounds, no file",
    )
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads per worker (default 1: the cores are shared)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds per size (default 15; quick 3)")
    ap.add_argument("--sizes", nargs="*", default=None, help="subset of tiny small medium large long")
    ap.add_argument("--only", nargs="*", default=None, help="subset of implementations (hand is always included)")
    ap.add_argument("--no-float32", action="store_true", help="skip the float32 table")
    ap.add_argument(
        "--also-threads", type=int, default=None, help="BLAS threads of a second float64 table, medium and large"
    )
    ap.add_argument("--out", default=None, help="where to write the Markdown results (full run: RESULTS.md)")
    args = ap.parse_args(argv)
    unset = {k: os.environ.pop(k) for k in OPENBLAS_FORCING if k in os.environ}  # the workers inherit this
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(args.threads)
    sys.path.insert(0, str(HERE))
    import impls

    args.rounds = args.rounds or (3 if args.quick else 21)
    also = args.also_threads if args.also_threads is not None else (0 if args.quick else 2)
    args.sample = 0.004 if args.quick else 0.03
    args.pause = 0.0 if args.quick else (0.02 if args.threads == 1 else 0.15)
    sizes = args.sizes or (["tiny", "small"] if args.quick else list(impls.SIZES))
    quick = ["fast", "lecture", "replay", "replay_lecture"]
    only = args.only if args.only is not None else (quick if args.quick else None)
    names = [n for n in impls.available() if only is None or n == "hand" or n in only]
    out = None if (args.quick and args.out is None) else Path(args.out or HERE / "RESULTS.md")
    log = print

    log(f"implementations: {', '.join(names)}; sizes: {', '.join(sizes)}; BLAS threads {args.threads}")
    lines = [
        "# Benchmark results",
        "",
        "Written by `python benchmarks/run.py` (`make bench`); method in its docstring.",
    ]
    lines.append("")
    lines += machine_lines(args.threads, unset)
    lines.append(f"- {check_hand_against_lecture(impls.SIZES['small'])}")
    failed = False
    for dtype in ["float64"] + ([] if args.quick or args.no_float32 else ["float32"]):
        ratios, seconds, errors = {}, {}, {}
        for s in sizes:
            log(f"{dtype} {s} {impls.SIZES[s]} ...")
            ratios[s], seconds[s], errors[s] = time_size(names, impls.SIZES[s], dtype, args, log)
            failed |= bool(errors[s])
            log("  " + ", ".join(f"{n} {r:.2f}" for n, r in ratios[s].items()))
        lines += ["", f"## Time relative to the hoisted hand BPTT, {dtype} (median of paired ratios, one run)", ""]
        lines += ["Sizes are (T, B, D, H, K). Forward + gradients of W, U, V, b, c; summed cross-entropy.", ""]
        lines += table(names, sizes, ratios, seconds, errors)
        if dtype == "float64":
            ratios64 = ratios
    big = [s for s in ("medium", "large") if s in sizes]
    if also and also != args.threads and big:
        one = argparse.Namespace(**{**vars(args), "threads": also, "pause": 0.15})
        os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(also)
        ratios, seconds, errors = {}, {}, {}
        for s in big:
            log(f"float64 {s}, {also} BLAS threads ...")
            ratios[s], seconds[s], errors[s] = time_size(names, impls.SIZES[s], "float64", one, log)
            failed |= bool(errors[s])
            log("  " + ", ".join(f"{n} {r:.2f}" for n, r in ratios[s].items()))
        os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(args.threads)
        lines += [
            "",
            f"## The same, float64, with {also} BLAS threads per worker (wall time; shared cores: noisier)",
            "",
        ]
        lines += table(names, big, ratios, seconds, errors)
    mem = {}
    mem_sizes = ["tiny"] if args.quick else ["medium", "large", "long"]
    for s in mem_sizes:
        log(f"memory {s} ...")
        mem[s] = memory([n for n in names if n != "hand_steps"], impls.SIZES[s], args.threads)
    lines += ["", "## Peak memory of one step (tracemalloc, float64)", ""]
    mem_names = [n for n in names if any(n in m for m in mem.values())]
    lines += ["| implementation | " + " | ".join(mem_sizes) + " |", "|---|" + "---:|" * len(mem_sizes)]
    for n in mem_names:
        cells = [
            f"{mem[s][n] / 2**20:.1f} MiB ({mem[s][n] / mem[s]['hand']:.2f}×)" if n in mem[s] else "—"
            for s in mem_sizes
        ]
        lines.append(f"| {impls.label(n)} | " + " | ".join(cells) + " |")
    Ts = [10, 100, 1000] if args.quick else [10, 100, 1000, 10_000]
    log("scaling in T ...")
    scaled = ("hand", "fast", "lecture", "replay")
    scale = scaling([n for n in scaled if n in names], Ts, args.threads, 1 if args.quick else 3000)
    lines += ["", "## Time per step as T grows (B=4, D=16, H=32, K=16; float64; best of repeats)", ""]
    lines += ["| implementation | " + " | ".join(f"T={T:,}" for T in Ts) + " |", "|---|" + "---:|" * len(Ts)]
    for n, per_T in scale.items():
        lines.append(f"| {impls.label(n)} | " + " | ".join(f"{per_T[T][0] * 1e6:.1f} µs" for T in Ts) + " |")
        lines.append("| … gc off | " + " | ".join(f"{per_T[T][1] * 1e6:.1f} µs" for T in Ts) + " |")
    lines += ["", "## Targets", ""] + verdicts(sizes, ratios64, mem, scale)
    if "fast" in names and not args.quick:
        lines += ["", WHY.rstrip()]
        lines += ["", "## Where the time of fast mode goes (cProfile, tiny, 2,000 calls; tottime order)", ""]
        lines += ["```", profile("fast", impls.SIZES["tiny"], 2000), "```"]
    draw = HERE / "bench_draw.py"
    if draw.exists() and not args.quick:
        log("drawing times ...")
        res = subprocess.run([sys.executable, str(draw)], capture_output=True, text=True, timeout=600)
        lines += ["", "## Drawing times (benchmarks/bench_draw.py)", ""]
        ok = res.returncode == 0
        lines += ["```", res.stdout.strip() if ok else f"bench_draw.py failed: {res.stderr.strip()[-500:]}", "```"]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if out is not None:
        out.write_text(text)
        log(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
