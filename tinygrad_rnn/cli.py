"""The `tinygrad-rnn` command: one subcommand per job (check, demo, draw, train, gradients)."""

from __future__ import annotations

import argparse
import sys


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {value}")
    return value


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
_SUBCOMMANDS: list = []


# ---- check, demo: the lecture's BPTT formulas against autodiff and finite differences ----------------------------


def _seed(text: str) -> int:
    """argparse type: an integer ≥ 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {value}")
    return value


def _add_lecture_commands(sub) -> None:
    check = sub.add_parser(
        "check",
        help="compare autodiff, the lecture's BPTT (corrected and as printed) and finite differences",
        description="Build a random lecture RNN problem and print, for W, U, V, b, c and every ∇h_t, ∇o_t, the "
        "gradient by autodiff, by the lecture's formulas (corrected and as printed) and by finite differences. "
        "Exit code 0 when autodiff, the corrected formulas and finite differences agree, 1 otherwise.",
    )
    check.add_argument("--steps", type=positive_int, default=4, metavar="T", help="time steps T (default 4)")
    check.add_argument("--batch", type=positive_int, default=None, metavar="B", help="batch size (default: unbatched)")
    check.add_argument("--input", type=positive_int, default=3, metavar="D", help="input size D (default 3)")
    check.add_argument("--hidden", type=positive_int, default=4, metavar="H", help="hidden size H (default 4)")
    check.add_argument("--classes", type=positive_int, default=3, metavar="K", help="classes K (default 3)")
    check.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed of parameters and data (default 0)")
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


def _run_check(args) -> int:
    import numpy as np

    from tinygrad_rnn.lecture import compare
    from tinygrad_rnn.rnn import RNN

    rng = np.random.default_rng(args.seed)
    batch = (args.batch,) if args.batch else ()
    xs = rng.standard_normal((args.steps, *batch, args.input))
    ys = rng.integers(0, args.classes, size=(args.steps, *batch))
    report = compare(RNN(args.input, args.hidden, args.classes, seed=args.seed), xs, ys)
    print(report)
    return 0 if report.ok else 1


def demo_problem():
    """(rnn, xs, ys, text): the lecture RNN reading "hel" one-hot, predicting the next letters "ell" (D = H = K = 3)."""
    import numpy as np

    from tinygrad_rnn.rnn import RNN

    vocab = "hel"
    xs = np.eye(3)[[vocab.index(ch) for ch in "hel"]]
    ys = np.array([vocab.index(ch) for ch in "ell"])
    return RNN(3, 3, 3, seed=0), xs, ys, "inputs x_1..x_3 = 'h', 'e', 'l' (one-hot); targets y_1..y_3 = 'e', 'l', 'l'"


def _draw_demo(loss, path: str):
    """Render the unrolled graph of `loss` (after backward) with its gradients; returns the PNG's path."""
    from tinygrad_rnn.draw import render

    return render(loss, path, grads=True)


def _run_demo(args) -> int:
    from tinygrad_rnn.lecture import compare

    rnn, xs, ys, text = demo_problem()
    print(f"The lecture's RNN, T=3 steps: {text}\n")
    report = compare(rnn, xs, ys)
    print(report)
    try:
        path = _draw_demo(report.loss, args.out)
    except (ImportError, RuntimeError, OSError) as e:
        print(f"\ntinygrad-rnn demo: could not draw the graph: {e}", file=sys.stderr)
        return 1
    print(f"\nwrote the unrolled graph with its gradients to {path}")
    return 0 if report.ok else 1


_SUBCOMMANDS.append(_add_lecture_commands)


# ---- gradients: the spectral-radius sweep (vanishing / exploding gradients, lecture section 3) --------------------


def _radii(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated positive numbers, e.g. 0.5,1,1.5."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.5,1,1.5, got {text!r}") from None
    if not all(v > 0 and v != float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"spectral radii must be finite numbers > 0, got {text!r}")
    return values


def _add_gradients_command(sub) -> None:
    grads = sub.add_parser(
        "gradients",
        help="spectral-radius sweep: gradients vanish for ρ(U) < 1 and explode for ρ(U) well above 1",
        description="For each spectral radius ρ, scale the lecture RNN's U to ρ(U) = ρ, put the loss at the last "
        "step only, and print how much of ∇_{h_T}L reaches h_1 (read from the graph), the Jacobian product "
        "‖∂h_T/∂h_1‖₂ and the section-3 bound ‖U‖₂^(T−1).",
    )
    grads.add_argument("--steps", type=positive_int, default=50, metavar="T", help="time steps T (default 50)")
    grads.add_argument("--hidden", type=positive_int, default=32, metavar="H", help="hidden size H (default 32)")
    grads.add_argument(
        "--radii", type=_radii, default=(0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0), metavar="R1,R2,...",
        help="spectral radii to sweep (default 0.5,0.75,1,1.25,1.5,2,3)",
    )  # fmt: skip
    grads.add_argument("--batch", type=positive_int, default=8, metavar="B", help="sequences per RNN (default 8)")
    grads.add_argument("--trials", type=positive_int, default=3, metavar="N", help="RNNs per radius (default 3)")
    grads.add_argument(
        "--input-scale", type=float, default=1.0, metavar="S",
        help="multiply the one-hot inputs by S; small S keeps tanh near its linear regime (default 1)",
    )  # fmt: skip
    grads.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed of parameters and data (default 0)")
    grads.add_argument("--plot", default=None, metavar="FILE.png", help="also write the plot (needs matplotlib)")
    grads.set_defaults(func=_run_gradients)


def _run_gradients(args) -> int:
    from tinygrad_rnn.dynamics import plot_sweep, radius_sweep

    if not (args.input_scale >= 0 and args.input_scale != float("inf")):
        print(
            f"tinygrad-rnn gradients: --input-scale must be a finite number ≥ 0, got {args.input_scale}",
            file=sys.stderr,
        )
        return 2
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
