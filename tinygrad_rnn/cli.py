"""The `tinygrad-rnn` command: one subcommand per job (check, demo, draw, train, gradients)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tinygrad_rnn.cli_args import (
    MAX_RADIUS,
    _fail,
    _list_of,
    _number,
    _positive_float,
    _seed,
    _size,
    _steps,
    _unit,
    _unwritable,
    positive_int,
)
from tinygrad_rnn.cli_draw import DRAW_COMMANDS

__all__ = ["main", "build_parser"]


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
    common.add_argument(
        "--replay", action=argparse.BooleanOptionalAction, default=True,
        help="run each update's recorded program (replay) instead of building its graph (default: replay; "
        "forecast with --teacher-forcing below 1 trains eagerly, its graph changes at every update)",
    )  # fmt: skip
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
        replay=args.replay and args.teacher_forcing == 1.0,
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


_SUBCOMMANDS.extend(DRAW_COMMANDS)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
