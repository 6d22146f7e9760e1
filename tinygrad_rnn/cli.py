"""The `tinygrad-rnn` command: one subcommand per job (check, demo, draw, train, gradients)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]


def _number(kind: type, *, low: float | None = None, high: float | None = None, open_low: bool = False) -> Any:
    """An argparse type: a finite int or float within [low, high] (low excluded when open_low); the message says
    what was expected."""
    word = "whole number" if kind is int else "finite number"
    bounds = (f" > {low:g}" if open_low else f" ≥ {low:g}") if low is not None else ""
    bounds += f" and ≤ {high:g}" if high is not None else ""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {word}{bounds}, got {text!r}") from None
        bad_low = low is not None and (value <= low if open_low else value < low)
        if not math.isfinite(value) or bad_low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected a {word}{bounds}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


positive_int = _number(int, low=1)
# Sizes beyond these would not fit in memory or would run for hours: refused up front, the limit named.
MAX_SIZE, MAX_STEPS, MAX_RADIUS = 4096, 100_000, 100.0
_size = _number(int, low=1, high=MAX_SIZE)
_steps = _number(int, low=1, high=MAX_STEPS)
# A drawing of more steps than this collapses them into one box each; building the graph itself stays quick.
MAX_DRAW_STEPS = 5000
_draw_steps = _number(int, low=1, high=MAX_DRAW_STEPS)
_seed = _number(int, low=0)
_unit = _number(float, low=0, high=1)
_positive_float = _number(float, low=0, open_low=True)


def _list_of(item: Any) -> Any:
    """An argparse type: comma-separated values of `item`, e.g. 0.5,1,1.5."""

    def parse(text: str) -> tuple:
        return tuple(item(v) for v in text.split(","))

    return parse


def _unwritable(path: str | None) -> str:
    """Why a file cannot be written at `path` ("" when it can, or when no path is given): checked before a job."""
    if path is None:
        return ""
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable"
    if Path(path).is_dir():
        return "is a folder"
    return ""


def _fail(command: str, message: str) -> int:
    """An argparse-style message on stderr; exit code 2 (bad usage)."""
    print(f"tinygrad-rnn {command}: error: {message}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-rnn",
        description="See and check backpropagation through time on the lecture's Elman RNN.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


# Each entry adds one subparser and sets `func` (args -> exit code) as its default.
_SUBCOMMANDS: list[Any] = []


# ---- check, demo: the lecture's BPTT formulas against autodiff and finite differences ----------------------------


def _add_lecture_commands(sub: Any) -> None:
    check = sub.add_parser(
        "check",
        help="compare autodiff, the lecture's BPTT (corrected and as printed) and finite differences",
        description="Build a random lecture RNN problem and print, for W, U, V, b, c and every ∇h_t, ∇o_t, the "
        "gradient by autodiff, by the lecture's formulas (corrected and as printed) and by finite differences. "
        "Exit code 0 when autodiff, the corrected formulas and finite differences agree, 1 otherwise.",
    )
    check.add_argument("--steps", type=positive_int, default=4, metavar="T", help="time steps T (default 4)")
    check.add_argument("--batch", type=_size, default=None, metavar="B", help="batch size (default: unbatched)")
    check.add_argument("--input", type=_size, default=3, metavar="D", help="input size D (default 3)")
    check.add_argument("--hidden", type=_size, default=4, metavar="H", help="hidden size H (default 4)")
    check.add_argument("--classes", type=_size, default=3, metavar="K", help="classes K (default 3)")
    check.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed of parameters and data (default 0)")
    check.add_argument(
        "--mine", default=None, metavar="FILE.py:FUNCTION",
        help="check your own BPTT: a function with the signature of lecture.bptt_gradients (exit 0 correct, 1 not)",
    )  # fmt: skip
    check.add_argument("--draw", default=None, metavar="OUT.png", help="with --mine: the graph coloured by your error")
    check.set_defaults(func=_run_check)
    demo = sub.add_parser(
        "demo",
        help="the lecture's 3-step RNN: the comparison table and the unrolled graph with gradients as PNG",
        description="Run the lecture's RNN on 'hel' → 'ell' (3 steps), print the comparison of autodiff with the "
        "lecture's formulas, and draw the unrolled graph with its gradients.",
    )
    demo.add_argument(
        "--out", default="tinygrad_rnn_demo.png", metavar="PATH", help="the PNG to write (default %(default)s)"
    )
    demo.set_defaults(func=_run_demo)


def _run_check(args: argparse.Namespace) -> int:
    from tinygrad_rnn.demo import check

    if args.draw is not None and args.mine is None:
        return _fail("check", "--draw goes with --mine (the graph coloured by your own BPTT's error)")
    if args.mine is not None:
        from tinygrad_rnn.exercise import run_check_mine

        return run_check_mine(args.mine, draw=args.draw, seed=args.seed)

    try:
        report = check(args.steps, args.input, args.hidden, args.classes, seed=args.seed, batch=args.batch)
    except ValueError as e:
        return _fail("check", str(e))
    print(report)
    return 0 if report.ok else 1


def _run_demo(args: argparse.Namespace) -> int:
    from tinygrad_rnn.demo import demo_problem, demo_report, draw_demo

    if Path(args.out).is_dir():
        return _fail("demo", f"--out {args.out} is a folder; give the PNG's path")
    print(f"The lecture's RNN, T=3 steps: {demo_problem()[3]}\n")
    report = demo_report()
    print(report)
    try:
        path = draw_demo(report, args.out)
        from tinygrad_rnn.explorer_lecture import explore_demo

        page = explore_demo(report, Path(args.out).with_suffix(".html"))
    except (ImportError, RuntimeError, OSError) as e:
        print(f"\ntinygrad-rnn demo: could not draw the graph: {e}", file=sys.stderr)
        return 1
    print(f"\nwrote the unrolled graph with its gradients to {path.resolve()}")
    print(f"wrote the explorer page to {page.resolve()} (open it in a browser)")
    return 0 if report.ok else 1


_SUBCOMMANDS.append(_add_lecture_commands)


# ---- gradients: the spectral-radius sweep (vanishing / exploding gradients, lecture section 3) --------------------


_radii = _list_of(_number(float, low=0, open_low=True, high=MAX_RADIUS))


def _add_gradients_command(sub: Any) -> None:
    grads = sub.add_parser(
        "gradients",
        help="spectral-radius sweep: gradients vanish for ρ(U) < 1 and explode for ρ(U) well above 1",
        description="For each spectral radius ρ, scale the lecture RNN's U to ρ(U) = ρ, put the loss at the last "
        "step only, and print how much of ∇_{h_T}L reaches h_1 (read from the graph), the Jacobian product "
        "‖∂h_T/∂h_1‖₂ and the section-3 bound ‖U‖₂^(T−1).",
    )
    grads.add_argument("--steps", type=_steps, default=50, metavar="T", help="time steps T (default 50)")
    grads.add_argument("--hidden", type=_size, default=32, metavar="H", help="hidden size H (default 32)")
    grads.add_argument(
        "--radii", type=_radii, default=(0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0), metavar="R1,R2,...",
        help="spectral radii to sweep (default 0.5,0.75,1,1.25,1.5,2,3)",
    )  # fmt: skip
    grads.add_argument("--batch", type=_size, default=8, metavar="B", help="sequences per RNN (default 8)")
    grads.add_argument("--trials", type=positive_int, default=3, metavar="N", help="RNNs per radius (default 3)")
    grads.add_argument(
        "--input-scale", type=_number(float, low=0), default=1.0, metavar="S",
        help="multiply the one-hot inputs by S; small S keeps tanh near its linear regime (default 1)",
    )  # fmt: skip
    grads.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed of parameters and data (default 0)")
    grads.add_argument("--plot", default=None, metavar="FILE.png", help="also write the plot (needs matplotlib)")
    grads.set_defaults(func=_run_gradients)


def _run_gradients(args: argparse.Namespace) -> int:
    from tinygrad_rnn.dynamics import plot_sweep, radius_sweep

    if _unwritable(args.plot):
        return _fail("gradients", f"--plot {args.plot}: {_unwritable(args.plot)}")
    result = radius_sweep(
        args.radii, steps=args.steps, hidden=args.hidden, batch=args.batch, trials=args.trials,
        input_scale=args.input_scale, seed=args.seed,
    )  # fmt: skip
    print(result)
    if args.plot:
        try:
            path = plot_sweep(result, args.plot)
        except ImportError as e:
            print(f"tinygrad-rnn gradients: {e}", file=sys.stderr)
            return 1
        print(f"\nwrote the plot to {path}")
    return 0


_SUBCOMMANDS.append(_add_gradients_command)


# ---- train, sample, forecast: a model trained, and a saved one used -----------------------------------------------


def _add_train_command(sub: Any) -> None:
    train = sub.add_parser(
        "train",
        help="train a recurrent model: 'forecast' a time series or model 'chars' of a text, with a progress bar",
        description="Train the lecture RNN, an LSTM or a GRU. 'forecast': next-value prediction on Mackey–Glass, "
        "the shipped sunspot series or a sine, then the test RMSE against persistence and a linear AR. 'chars': "
        "a character model of the shipped public-domain text (or --text FILE), then a sample.",
    )
    tasks = train.add_subparsers(dest="task", metavar="TASK", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", choices=("rnn", "lstm", "gru"), default="rnn", help="model (default %(default)s)")
    common.add_argument("--clip", type=_positive_float, default=None, metavar="C", help="clip ‖∇θ‖ to C")
    common.add_argument("--tbptt", type=positive_int, default=None, metavar="K", help="truncated BPTT: chunks of K")
    common.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed (default %(default)s)")
    common.add_argument(
        "--save", default=None, metavar="PATH.npz", help="write the trained model (and its data transform)"
    )
    common.add_argument("--plot", default=None, metavar="FILE.png", help="write the loss and gradient-norm curves")
    common.add_argument("--quiet", action="store_true", help="no progress bar")
    fc = tasks.add_parser("forecast", parents=[common], help="forecast a time series (linear head, squared error)")
    fc.add_argument("--series", choices=("mackey-glass", "sunspots", "sine"), default="mackey-glass")
    _training_options(fc, hidden=16, lr=0.01, optimizer="adam")
    fc.add_argument("--updates", type=positive_int, default=300, metavar="N", help="updates (default %(default)s)")
    fc.add_argument(
        "--window", type=positive_int, default=40, metavar="L", help="steps per window (default %(default)s)"
    )
    fc.add_argument("--batch", type=_size, default=16, metavar="B", help="windows per update (default %(default)s)")
    fc.add_argument(
        "--teacher-forcing", type=_unit, default=1.0, metavar="P",
        help="probability of feeding the observed y_{t−1} instead of ŷ_{t−1} (1 = teacher forcing, 0 = "
        "free-running; default 1)",
    )  # fmt: skip
    fc.add_argument("--horizon", type=positive_int, default=30, metavar="N", help="closed-loop steps (default 30)")
    fc.set_defaults(func=_run_train_forecast)
    ch = tasks.add_parser("chars", parents=[common], help="a character model of a text (softmax head)")
    _training_options(ch, hidden=64, lr=0.1, optimizer="adagrad")
    ch.add_argument("--epochs", type=positive_int, default=5, metavar="E", help="passes over the text (default 5)")
    ch.add_argument("--text", default=None, metavar="FILE", help="a UTF-8 text (default: the shipped passage)")
    ch.add_argument("--sample", type=positive_int, default=200, metavar="N", help="characters to sample (default 200)")
    ch.add_argument(
        "--replay", action=argparse.BooleanOptionalAction, default=True,
        help="run each chunk's recorded program (replay) instead of building its graph (default: replay)",
    )  # fmt: skip
    ch.set_defaults(func=_run_train_chars)


def _training_options(p: Any, *, hidden: int, lr: float, optimizer: str) -> None:
    p.add_argument("--hidden", type=_size, default=hidden, metavar="H", help="hidden size H (default %(default)s)")
    p.add_argument("--lr", type=_positive_float, default=lr, metavar="LR", help="learning rate (default %(default)s)")
    p.add_argument("--optimizer", choices=("adam", "adagrad", "sgd"), default=optimizer, help="(default %(default)s)")


def _before_training(command: str, args: argparse.Namespace) -> int:
    """Exit code 2 with the reason when --save or --plot could not be written: checked before the training."""
    for flag in ("save", "plot"):
        why = _unwritable(getattr(args, flag))
        if why:
            return _fail(command, f"--{flag} {getattr(args, flag)}: {why}")
    return 0


def _after_training(args: argparse.Namespace, model: Any, history: Any, transform: Any) -> None:
    if args.save:
        print(f"saved the model to {model.save(args.save, transform=transform)}")
    if args.plot:
        try:
            history.plot(args.plot)
            print(f"wrote the training curves to {args.plot}")
        except ImportError:
            print("tinygrad-rnn train: --plot needs matplotlib (pip install matplotlib)", file=sys.stderr)


def _run_train_forecast(args: argparse.Namespace) -> int:
    from tinygrad_rnn.forecast import forecast_experiment

    if _before_training("train forecast", args):
        return 2
    options = dict(
        steps=args.updates, window=args.window, batch=args.batch, lr=args.lr, optimizer=args.optimizer,
        teacher_forcing=args.teacher_forcing, tbptt=args.tbptt, clip=args.clip, progress=not args.quiet,
    )  # fmt: skip
    try:
        result = forecast_experiment(
            args.series, args.model, hidden=args.hidden, horizon=args.horizon, seed=args.seed, **options
        )
    except ValueError as e:
        return _fail("train forecast", str(e))
    print(f"\n{result}")
    _after_training(args, result.model, result.history, result.scale)
    return 0


def _run_train_chars(args: argparse.Namespace) -> int:
    from tinygrad_rnn import data
    from tinygrad_rnn.train import train_chars

    if _before_training("train chars", args):
        return 2
    try:
        text = data.load_text() if args.text is None else Path(args.text).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return _fail("train chars", f"--text: {e}")
    options = dict(
        hidden=args.hidden, optimizer=args.optimizer, lr=args.lr, epochs=args.epochs, tbptt=args.tbptt or 25,
        clip=args.clip, sample=args.sample, seed=args.seed, progress=not args.quiet, replay=args.replay,
    )  # fmt: skip
    try:
        result = train_chars(text, args.model, **options)
    except ValueError as e:
        return _fail("train chars", str(e))
    print(f"\n{result}")
    _after_training(args, result.model, result.history, result.vocab)
    return 0


def _add_saved_model_commands(sub: Any) -> None:
    sample = sub.add_parser(
        "sample", help="sample text from a character model saved by 'train chars --save'",
        description="Load a saved character model (with its vocabulary) and draw characters from it.",
    )  # fmt: skip
    sample.add_argument("--model", required=True, metavar="PATH.npz", help="the saved model")
    sample.add_argument("--prefix", default=None, help="text fed first (default: the vocabulary's first character)")
    sample.add_argument(
        "--length", type=positive_int, default=200, metavar="N", help="characters (default %(default)s)"
    )
    sample.add_argument("--temperature", type=_positive_float, default=0.8, metavar="τ", help="(default %(default)s)")
    sample.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed (default %(default)s)")
    sample.set_defaults(func=_run_sample)
    fc = sub.add_parser(
        "forecast", help="forecast a series with a model saved by 'train forecast --save'",
        description="Load a saved forecaster (with its standardisation), warm it up on the last values of the series "
        "and print the next values, closed-loop, in the series' own units.",
    )  # fmt: skip
    fc.add_argument("--model", required=True, metavar="PATH.npz", help="the saved model")
    fc.add_argument("--series", choices=("mackey-glass", "sunspots", "sine"), default="mackey-glass")
    fc.add_argument("--horizon", type=positive_int, default=10, metavar="N", help="values ahead (default %(default)s)")
    fc.add_argument("--context", type=positive_int, default=40, metavar="C", help="values to warm up on (default 40)")
    fc.set_defaults(func=_run_forecast)


def _run_sample(args: argparse.Namespace) -> int:
    from tinygrad_rnn.train import sample_saved

    try:
        text = sample_saved(args.model, args.prefix, args.length, temperature=args.temperature, seed=args.seed)
    except (ValueError, TypeError) as e:
        return _fail("sample", str(e))
    print(text)
    return 0


def _run_forecast(args: argparse.Namespace) -> int:
    from tinygrad_rnn.forecast import forecast_saved

    try:
        values = forecast_saved(args.model, args.series, horizon=args.horizon, context=args.context)
    except (ValueError, TypeError) as e:
        return _fail("forecast", str(e))
    for k, v in enumerate(values.reshape(len(values), -1), start=1):
        print(f"t+{k:<4d} " + "  ".join(f"{x:.6g}" for x in v))
    return 0


_SUBCOMMANDS.append(_add_train_command)


# ---- paper: the lecture's section 3 and reading list, reproduced ---------------------------------------------------

_PAPERS = ("esn", "cliff", "adding", "latch", "contributions")


def _add_paper_command(sub: Any) -> None:
    p = sub.add_parser(
        "paper",
        help="reproduce a result of section 3's reading list beside the paper's number (esn, cliff, adding, ...)",
        description="esn: Jaeger's echo state network on Mackey-Glass (NRMSE84); cliff: Pascanu et al.'s one-unit "
        "cliff with and without clipping; adding: Hochreiter & Schmidhuber's adding problem, RNN vs LSTM; latch: "
        "Bengio et al.'s latching unit; contributions: Pascanu et al.'s eq. 4, step by step. Each prints ours beside "
        "the paper's number, its last line 'result: ours=… paper=… (…)', and writes its figure.",
    )
    p.add_argument("name", choices=_PAPERS, help="the experiment")
    p.add_argument("--quick", action="store_true", help="a reduced version (seconds, for tests)")
    p.add_argument("--out", default=None, metavar="DIR", help="where the figure goes (default viz/papers)")
    p.set_defaults(func=_run_paper)


def _run_paper(args: argparse.Namespace) -> int:
    from tinygrad_rnn import papers

    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        return _fail("paper", f"--out {args.out} is a file; give a folder")
    try:
        papers.run(args.name, quick=args.quick, out_dir=args.out, echo=True)
    except ValueError as e:
        return _fail("paper", str(e))
    return 0


_SUBCOMMANDS.append(_add_paper_command)
_SUBCOMMANDS.append(_add_saved_model_commands)


# ---- draw: the unrolled graph of the lecture RNN as a picture --------------------------------------------------------


def _add_draw_command(sub: Any) -> None:
    p = sub.add_parser(
        "draw",
        help="draw the unrolled graph of the lecture RNN (PNG, SVG or PDF, with its .dot beside it), or animate it",
        description="Build the lecture RNN on random data (or the demo's 'hel'), run backward, and draw its unrolled "
        "graph: one cluster per time step, parameters once, the carried state in bold. The .dot source is written "
        "beside the picture (x.dot for x.png, x.svg.dot for x.svg). --slide: a 1920×1080 slide in the lecture's "
        "notation; --frames DIR: the backward pass as numbered PNG frames of one size, backward.gif and backward.pdf.",
    )
    p.add_argument("--problem", choices=("random", "hel"), default="random", help="random data, or the demo's 'hel'")
    p.add_argument("--steps", type=_draw_steps, default=None, metavar="T", help="time steps T (default 3)")
    p.add_argument("--input", type=_size, default=None, metavar="D", help="input size D (default 3)")
    p.add_argument("--hidden", type=_size, default=None, metavar="H", help="hidden size H (default 4)")
    p.add_argument("--classes", type=_size, default=None, metavar="K", help="classes K (default 3)")
    p.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed of parameters and data (default 0)")
    p.add_argument(
        "--radius", type=_number(float, low=0, high=MAX_RADIUS), default=None, metavar="R",
        help="rescale U to spectral radius R",
    )  # fmt: skip
    p.add_argument(
        "--input-scale", type=_number(float, low=0), default=1.0, metavar="S",
        help="multiply the inputs by S (small S keeps tanh near its linear range; default 1)",
    )  # fmt: skip
    p.add_argument("--loss", choices=("all", "last"), default="all", help="L = Σ_t L_t (all) or L_T only (last)")
    p.add_argument("--tanh", choices=("primitive", "composed"), default="primitive", help="tanh as one op or composed")
    p.add_argument("--slide", action="store_true", help="a 1920×1080 slide: lecture notation, text ≥ 24 px")
    p.add_argument("--values", action="store_true", help="print each value's numbers")
    p.add_argument("--grads", action="store_true", help="print each gradient (in red)")
    p.add_argument("--heatmap", action="store_true", help="colour nodes by log10 of the gradient norm")
    p.add_argument(
        "--scale", type=_list_of(_number(float, low=0, open_low=True)), default=None, metavar="LOW,HIGH",
        help="the heat-map's colour scale, e.g. 1e-10,1e1 (one scale for pictures to compare)",
    )  # fmt: skip
    p.add_argument("--collapse", default="", metavar="NAMES", help="composites drawn as one box, e.g. softmax,tanh")
    p.add_argument("--steps-collapsed", action="store_true", help="each time step as one box (for long sequences)")
    p.add_argument("--order", action="store_true", help="number the ops in the order backward visits them")
    p.add_argument(
        "--compare",
        choices=("corrected", "printed"),
        default=None,
        help="write the lecture's gradient beside each node",
    )
    p.add_argument(
        "--direction", choices=("BT", "TB", "LR", "RL"), default=None,
        help="the flow, as Graphviz's rankdir: BT (inputs at the bottom; time left → right, the default), LR, …",
    )  # fmt: skip
    p.add_argument("--title", default=None, help="a title above the picture")
    p.add_argument("--frames", default=None, metavar="DIR", help="write the backward pass as frames into DIR")
    p.add_argument(
        "--frames-by", choices=("op", "node", "step"), default="op",
        help="one frame per backward op (default), per node that receives its gradient, or per time step",
    )  # fmt: skip
    p.add_argument("--out", default=None, metavar="FILE", help="the picture: FILE.png, FILE.svg or FILE.pdf")
    p.set_defaults(func=_run_draw)


def _draw_args(args: argparse.Namespace) -> tuple[tuple[int, ...], dict[str, Any]] | str:
    """(sizes, keywords of draw_problem) from the arguments, or what is wrong with them."""
    given = (args.steps, args.input, args.hidden, args.classes)
    if args.problem == "hel" and any(v is not None for v in given):
        return "--problem hel has its own sizes (T = 3, D = H = K = 3): leave out --steps/--input/--hidden/--classes"
    sizes = tuple(v if v is not None else d for v, d in zip(given, (3, 3, 4, 3)))
    if args.scale is not None and (len(args.scale) != 2 or not args.scale[0] < args.scale[1]):
        return f"--scale must be LOW,HIGH with 0 < LOW < HIGH, e.g. 1e-10,1e1; got {','.join(map(str, args.scale))}"
    style: dict[str, Any] = dict(
        values=args.values, grads=args.grads, heatmap="grad" if args.heatmap else None, order=args.order,
        collapse=tuple(c.strip() for c in args.collapse.split(",") if c.strip()), title=args.title,
        steps="collapse" if args.steps_collapsed else "auto",
    )  # fmt: skip
    style |= {"style": "slide"} if args.slide else {}
    style |= {"direction": args.direction} if args.direction else {}
    style |= {"scale": args.scale} if args.scale else {}
    problem = dict(seed=args.seed, radius=args.radius, tanh=args.tanh, check=args.compare, problem=args.problem)
    problem |= dict(loss=args.loss, input_scale=args.input_scale, frames_by=args.frames_by)
    return sizes, problem | style


def _run_draw(args: argparse.Namespace) -> int:
    from tinygrad_rnn.demo import draw_problem
    from tinygrad_rnn.draw import GraphvizNotFoundError

    if args.out is None and args.frames is None:
        return _fail("draw", "give --out FILE.png|.svg|.pdf, or --frames DIR")
    if args.out is not None and args.out.rsplit(".", 1)[-1].lower() not in ("png", "svg", "pdf"):
        return _fail("draw", f"--out must end in .png, .svg or .pdf, got {args.out!r}")
    if _unwritable(args.out):
        return _fail("draw", f"--out {args.out}: {_unwritable(args.out)}")
    if args.frames is not None and Path(args.frames).exists() and not Path(args.frames).is_dir():
        return _fail("draw", f"--frames {args.frames}: is a file, not a folder")
    parsed = _draw_args(args)
    if isinstance(parsed, str):
        return _fail("draw", parsed)
    sizes, options = parsed
    try:
        written = draw_problem(*sizes, out=args.out, frames=args.frames, **options)
    except GraphvizNotFoundError as e:
        print(f"tinygrad-rnn draw: {e}", file=sys.stderr)
        return 1
    except ImportError as e:
        print(f"tinygrad-rnn draw: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        return _fail("draw", str(e))
    if args.out is not None:
        dot = written[0].with_suffix(".dot") if written[0].suffix == ".png" else f"{written[0]}.dot"
        print(f"wrote {written[0]} (and its source {dot})")
    if args.frames is not None:
        frames = written[1:] if args.out is not None else written
        print(
            f"wrote {len(frames)} frames of the backward pass to {args.frames}/ ({frames[0].name} … "
            f"{frames[-1].name}), backward.gif and backward.pdf"
        )
    return 0


_SUBCOMMANDS.append(_add_draw_command)


# ---- explore: the interactive page of the graph and its backward pass ----------------------------------------------


def _add_explore_command(sub: Any) -> None:
    p = sub.add_parser(
        "explore",
        help="write one self-contained HTML page to inspect the unrolled graph and step through its backward pass",
        description="Build the lecture RNN on random data, run backward, and write one HTML page (everything inline, "
        "works offline): hover or click a node for its value, gradient, local derivative and the lecture's formula "
        "with its error; step through the backward pass with the buttons, the slider or the arrow keys.",
    )
    p.add_argument("--steps", type=_draw_steps, default=3, metavar="T", help="time steps T (default 3)")
    p.add_argument("--input", type=_size, default=3, metavar="D", help="input size D (default 3)")
    p.add_argument("--hidden", type=_size, default=4, metavar="H", help="hidden size H (default 4)")
    p.add_argument("--classes", type=_size, default=3, metavar="K", help="classes K (default 3)")
    p.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed of parameters and data (default 0)")
    p.add_argument(
        "--radius", type=_number(float, low=0, high=MAX_RADIUS), default=None, metavar="R",
        help="rescale U to spectral radius R",
    )  # fmt: skip
    p.add_argument("--tanh", choices=("primitive", "composed"), default="primitive", help="tanh as one op or composed")
    p.add_argument(
        "--collapse", default="softmax,cross_entropy", metavar="NAMES",
        help="composites the page opens collapsed (default %(default)s; '' opens them expanded)",
    )  # fmt: skip
    p.add_argument("--no-check", action="store_true", help="leave out the lecture's formulas (needed past 200 steps)")
    p.add_argument(
        "--colour", choices=("corrected", "printed"), default=None,
        help="open with the nodes coloured by the lecture formula's error (corrected or as printed)",
    )  # fmt: skip
    p.add_argument("--heatmap", action="store_true", help="open with the gradient heat-map on")
    p.add_argument(
        "--direction", choices=("BT", "TB", "LR", "RL"), default="BT",
        help="the flow of the graph, as Graphviz's rankdir (default BT: inputs at the bottom, time left to right)",
    )  # fmt: skip
    p.add_argument("--title", default=None, help="the page's title")
    p.add_argument("--out", required=True, metavar="FILE.html", help="the page to write")
    p.set_defaults(func=_run_explore)


def _run_explore(args: argparse.Namespace) -> int:
    from tinygrad_rnn.draw import GraphvizNotFoundError
    from tinygrad_rnn.explorer_lecture import explore_problem

    if not args.out.lower().endswith((".html", ".htm")):
        return _fail("explore", f"--out must end in .html, got {args.out!r}")
    if _unwritable(args.out):
        return _fail("explore", f"--out {args.out}: {_unwritable(args.out)}")
    if args.colour and args.no_check:
        return _fail("explore", "--colour shows the lecture check, which --no-check leaves out")
    style = dict(
        collapse=tuple(c.strip() for c in args.collapse.split(",") if c.strip()), direction=args.direction,
        title=args.title, heatmap="grad" if args.heatmap else None, check=args.colour,
    )  # fmt: skip
    problem = dict(seed=args.seed, radius=args.radius, tanh=args.tanh, lecture=not args.no_check, out=args.out)
    try:
        path = explore_problem(args.steps, args.input, args.hidden, args.classes, **problem, **style)
    except GraphvizNotFoundError as e:
        print(f"tinygrad-rnn explore: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        return _fail("explore", str(e))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, self-contained): open it in a browser")
    return 0


_SUBCOMMANDS.append(_add_explore_command)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
