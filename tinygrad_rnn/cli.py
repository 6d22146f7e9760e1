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

    from tinygrad_rnn.report import compare
    from tinygrad_rnn.rnn import RNN

    rng = np.random.default_rng(args.seed)
    batch = (args.batch,) if args.batch else ()
    xs = rng.standard_normal((args.steps, *batch, args.input))
    ys = rng.integers(0, args.classes, size=(args.steps, *batch))
    report = compare(RNN(args.input, args.hidden, args.classes, seed=args.seed), xs, ys)
    print(report)
    return 0 if report.ok else 1


def demo_problem(**rnn_options):
    """(rnn, xs, ys, text): the lecture RNN reading "hel" one-hot, predicting the next letters "ell" (D = H = K = 3).

    The demo's problem, and the gallery's (viz/make_gallery.py); `rnn_options` go to RNN."""
    import numpy as np

    from tinygrad_rnn.rnn import RNN

    vocab = "hel"
    xs = np.eye(3)[[vocab.index(ch) for ch in "hel"]]
    ys = np.array([vocab.index(ch) for ch in "ell"])
    text = "inputs x_1..x_3 = 'h', 'e', 'l' (one-hot); targets y_1..y_3 = 'e', 'l', 'l'"
    return RNN(3, 3, 3, seed=0, **rnn_options), xs, ys, text


def _draw_demo(loss, path: str, report=None):
    """Render the unrolled graph of `loss` (after backward) with its gradients; returns the PNG's path.

    With the comparison `report`, every node with a lecture formula is coloured by how far the formula as printed
    is from autodiff, so the picture shows where the printed equations go wrong."""
    from tinygrad_rnn.draw import render

    # softmax and cross-entropy as one box each keep the picture to one node per lecture symbol;
    # viz/softmax_decomposition.png opens them up.
    collapse = ("softmax", "cross_entropy")
    if report is None:
        return render(loss, path, grads=True, collapse=collapse)
    return render(loss, path, grads=True, collapse=collapse, annotations=report.annotations("printed"))


def _run_demo(args) -> int:
    from tinygrad_rnn.report import compare

    rnn, xs, ys, text = demo_problem()
    print(f"The lecture's RNN, T=3 steps: {text}\n")
    report = compare(rnn, xs, ys)
    print(report)
    try:
        path = _draw_demo(report.loss, args.out, report)
    except (ImportError, RuntimeError, OSError) as e:
        print(f"\ntinygrad-rnn demo: could not draw the graph: {e}", file=sys.stderr)
        return 1
    from pathlib import Path

    print(f"\nwrote the unrolled graph with its gradients to {Path(path).resolve()}")
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


# ---- train: forecasting a series, or a character model ------------------------------------------------------------


def _unit(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value}")
    return value


def _positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {value}")
    return value


def _add_train_command(sub) -> None:
    train = sub.add_parser(
        "train",
        help="train a recurrent model: 'forecast' a time series or model 'chars' of a text, with a progress bar",
        description="Train the lecture RNN, an LSTM or a GRU. 'forecast': next-value prediction on Mackey–Glass, "
        "the shipped sunspot series or a sine, then the test RMSE against persistence and a linear AR. 'chars': "
        "a character model of the shipped public-domain text (or --text FILE), then a sample.",
    )
    tasks = train.add_subparsers(dest="task", metavar="TASK", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", choices=("rnn", "lstm", "gru"), default="rnn", help="model (default rnn)")
    common.add_argument("--hidden", type=positive_int, default=None, metavar="H", help="hidden size H")
    common.add_argument("--lr", type=_positive_float, default=None, metavar="LR", help="learning rate")
    common.add_argument("--optimizer", choices=("adam", "adagrad", "sgd"), default=None, help="optimizer")
    common.add_argument("--clip", type=_positive_float, default=None, metavar="C", help="clip ‖∇θ‖ to C")
    common.add_argument("--tbptt", type=positive_int, default=None, metavar="K", help="truncated BPTT: chunks of K")
    common.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed (default 0)")
    common.add_argument("--save", default=None, metavar="PATH.npz", help="write the trained parameters")
    common.add_argument("--quiet", action="store_true", help="no progress bar")
    fc = tasks.add_parser("forecast", parents=[common], help="forecast a time series (linear head, squared error)")
    fc.add_argument("--series", choices=("mackey-glass", "sunspots", "sine"), default="mackey-glass")
    fc.add_argument("--steps", type=positive_int, default=300, metavar="N", help="updates (default 300)")
    fc.add_argument("--window", type=positive_int, default=40, metavar="L", help="steps per window (default 40)")
    fc.add_argument("--batch", type=positive_int, default=16, metavar="B", help="windows per update (default 16)")
    fc.add_argument(
        "--teacher-forcing", type=_unit, default=1.0, metavar="P",
        help="probability of feeding the observed y_{t−1} instead of ŷ_{t−1} (1 = teacher forcing, 0 = "
        "free-running; < 1 needs --model rnn; default 1)",
    )  # fmt: skip
    fc.add_argument("--horizon", type=positive_int, default=30, metavar="N", help="closed-loop steps (default 30)")
    fc.set_defaults(func=_run_train_forecast)
    ch = tasks.add_parser("chars", parents=[common], help="a character model of a text (softmax head)")
    ch.add_argument("--epochs", type=positive_int, default=5, metavar="E", help="passes over the text (default 5)")
    ch.add_argument("--text", default=None, metavar="FILE", help="a UTF-8 text (default: the shipped passage)")
    ch.add_argument("--sample", type=positive_int, default=200, metavar="N", help="characters to sample (default 200)")
    ch.set_defaults(func=_run_train_chars)


def _make_model(kind: str, d: int, h: int, k: int, seed: int, head: str):
    from tinygrad_rnn.lstm import GRU, LSTM
    from tinygrad_rnn.rnn import RNN

    return {"rnn": RNN, "lstm": LSTM, "gru": GRU}[kind](d, h, k, seed=seed, head=head)


def _run_train_forecast(args) -> int:
    import numpy as np

    from tinygrad_rnn import data
    from tinygrad_rnn import forecast as fc

    if args.teacher_forcing < 1.0 and args.model != "rnn":
        msg = "--teacher-forcing < 1 feeds ŷ back step by step; it needs --model rnn"
        print(f"tinygrad-rnn train forecast: {msg}", file=sys.stderr)
        return 2
    if args.teacher_forcing < 1.0 and args.tbptt:
        print("tinygrad-rnn train forecast: --tbptt applies to --teacher-forcing 1 only", file=sys.stderr)
        return 2
    y = {
        "mackey-glass": lambda: data.mackey_glass(1500, sample_every=3.0),
        "sunspots": lambda: data.load_sunspots()[1],
        "sine": lambda: data.sine(600, period=25.0, noise=0.05, seed=args.seed),
    }[args.series]()
    train, val, _ = data.split_series(y, (0.6, 0.2, 0.2))
    z = data.Standardizer(train).transform(y)
    a, b = len(train), len(train) + len(val)
    if args.window + 1 > a:
        msg = f"--window {args.window} does not fit the {a} training values"
        print(f"tinygrad-rnn train forecast: {msg}", file=sys.stderr)
        return 2
    model = _make_model(args.model, 1, args.hidden or 16, 1, args.seed, "linear")
    hist = fc.train_forecaster(
        model, z[:a], steps=args.steps, window=args.window, batch=args.batch, lr=args.lr or 0.01,
        optimizer=args.optimizer or "adam", teacher_forcing=args.teacher_forcing, washout=min(10, args.window - 1),
        tbptt=args.tbptt, clip=args.clip, seed=args.seed, progress=not args.quiet,
    )  # fmt: skip
    p = min(10, a - 2)
    ar = fc.LinearAR(p).fit(z[:a])
    horizon = min(args.horizon, len(z) - b)
    context = min(40, b)
    origins = np.arange(b, len(z) - horizon + 1)

    def ar_loop(c, h):
        return np.stack([ar.forecast(c[:, i], h) for i in range(c.shape[1])], axis=1)

    forecasters = {
        "persistence": (fc.persistence(z), lambda c, h: np.repeat(c[-1:], h, axis=0)),
        f"linear AR({p})": (ar.predict(z), ar_loop),
        f"{args.model.upper()}, H={model.hidden_size}": (
            fc.one_step_predictions(model, z),
            lambda c, h: fc.closed_loop(model, c, h),
        ),
    }
    print(
        f"\n{args.series}: {len(z)} values (train {a}, validation {b - a}, test {len(z) - b}), standardised; "
        f"{args.steps} updates, last training loss {hist.loss[-1]:.4g}"
    )
    print(f"test RMSE        {'method':22s} {'one-step':>9s} {'lead ' + str(horizon):>9s}")
    for name, (pred, f) in forecasters.items():
        lead = fc.multi_step_rmse(f, z, origins, horizon, context)[-1]
        print(f"                 {name:22s} {fc.rmse(pred[b:], z[b:]):9.4f} {lead:9.4f}")
    if args.save:
        print(f"saved the parameters to {model.save(args.save)}")
    return 0


def _run_train_chars(args) -> int:
    from pathlib import Path

    from tinygrad_rnn import data
    from tinygrad_rnn.optim import SGD, Adagrad, Adam
    from tinygrad_rnn.train import sample_text, train_sequence

    try:
        text = data.load_text() if args.text is None else Path(args.text).read_text(encoding="utf-8")
        vocab = data.Vocabulary.from_text(text)
    except (OSError, ValueError) as e:
        print(f"tinygrad-rnn train chars: {e}", file=sys.stderr)
        return 2
    if len(text) < 2:
        print("tinygrad-rnn train chars: the text needs at least 2 characters", file=sys.stderr)
        return 2
    ids = vocab.encode(text)
    K = vocab.size
    model = _make_model(args.model, K, args.hidden or 64, K, args.seed, "softmax")
    opt = {"adam": Adam, "adagrad": Adagrad, "sgd": SGD}[args.optimizer or "adagrad"](
        model.parameters(), lr=args.lr or 0.1
    )
    hist = train_sequence(
        model, vocab.one_hot(ids[:-1]), ids[1:], opt, epochs=args.epochs, tbptt=args.tbptt or 25,
        clip=args.clip, clip_value=None if args.clip else 5.0, progress=not args.quiet,
    )  # fmt: skip
    per_epoch = [sum(c) / len(c) for c in _split(hist.loss, args.epochs)]
    print(f"\n{len(text)} characters, {K} distinct; {len(hist.loss)} updates")
    print("epoch  mean loss (nats/char)")
    for e, v in enumerate(per_epoch, start=1):
        print(f"{e:5d}  {v:.3f}")
    first = text[0]
    print(f"\nsample:\n{first}{sample_text(model, vocab, first, args.sample, temperature=0.8, seed=args.seed)}")
    if args.save:
        print(f"saved the parameters to {model.save(args.save)}")
    return 0


def _split(values: list, parts: int) -> list:
    n = len(values) // parts
    return [values[i * n : (i + 1) * n] for i in range(parts)]


_SUBCOMMANDS.append(_add_train_command)


# ---- draw: the unrolled graph of the lecture RNN as a picture --------------------------------------------------------


def _add_draw_command(sub) -> None:
    p = sub.add_parser(
        "draw",
        help="draw the unrolled graph of the lecture RNN (PNG, SVG or PDF, with its .dot beside it)",
        description="Build the lecture RNN on random data, run backward, and draw its unrolled graph: one cluster per "
        "time step, parameters once, the carried state in bold. The .dot source is written beside the picture.",
    )
    p.add_argument("--steps", type=positive_int, default=3, metavar="T", help="time steps T (default 3)")
    p.add_argument("--input", type=positive_int, default=3, metavar="D", help="input size D (default 3)")
    p.add_argument("--hidden", type=positive_int, default=4, metavar="H", help="hidden size H (default 4)")
    p.add_argument("--classes", type=positive_int, default=3, metavar="K", help="classes K (default 3)")
    p.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed of parameters and data (default 0)")
    p.add_argument("--radius", type=float, default=None, metavar="R", help="rescale U to spectral radius R")
    p.add_argument("--tanh", choices=("primitive", "composed"), default="primitive", help="tanh as one op or composed")
    p.add_argument("--values", action="store_true", help="print each value's numbers")
    p.add_argument("--grads", action="store_true", help="print each gradient (in red)")
    p.add_argument("--heatmap", action="store_true", help="colour nodes by log10 of the gradient norm")
    p.add_argument("--collapse", default="", metavar="NAMES", help="composites drawn as one box, e.g. softmax,tanh")
    p.add_argument("--steps-collapsed", action="store_true", help="each time step as one box (for long sequences)")
    p.add_argument("--order", action="store_true", help="number the ops in the order backward visits them")
    p.add_argument(
        "--compare",
        choices=("corrected", "printed"),
        default=None,
        help="write the lecture's gradient beside each node",
    )
    p.add_argument("--direction", choices=("LR", "TB"), default="LR", help="time left→right (LR) or top→bottom (TB)")
    p.add_argument("--title", default=None, help="a title above the legend")
    p.add_argument("--frames", default=None, metavar="DIR", help="write one picture per backward step into DIR")
    p.add_argument("--out", default=None, metavar="FILE", help="the picture: FILE.png, FILE.svg or FILE.pdf")
    p.set_defaults(func=_run_draw)


def _run_draw(args) -> int:
    import numpy as np

    from tinygrad_rnn import draw
    from tinygrad_rnn.rnn import RNN

    if args.out is None and args.frames is None:
        print("tinygrad-rnn draw: give --out FILE.png|.svg|.pdf, or --frames DIR", file=sys.stderr)
        return 2
    if args.out is not None and args.out.rsplit(".", 1)[-1].lower() not in ("png", "svg", "pdf"):
        print(f"tinygrad-rnn draw: --out must end in .png, .svg or .pdf, got {args.out!r}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    xs = rng.standard_normal((args.steps, args.input))
    ys = rng.integers(0, args.classes, size=args.steps)
    rnn = RNN(args.input, args.hidden, args.classes, seed=args.seed, spectral_radius=args.radius, tanh=args.tanh)
    report = None
    if args.compare:
        from tinygrad_rnn.report import compare

        report = compare(rnn, xs, ys)
        loss = report.loss
    else:
        loss = rnn.loss(xs, ys)
        loss.backward()
    options = dict(
        values=args.values,
        grads=args.grads,
        heatmap="grad" if args.heatmap else None,
        collapse=tuple(c.strip() for c in args.collapse.split(",") if c.strip()),
        steps="collapse" if args.steps_collapsed else "auto",
        order=args.order,
        annotations=report.annotations(args.compare) if report is not None else None,
        direction=args.direction,
        title=args.title,
    )
    try:
        if args.out is not None:
            print(f"wrote {draw.render(loss, args.out, **options)} (and its .dot)")
        if args.frames is not None:
            frames = draw.render_frames(loss, args.frames, **options)
            print(
                f"wrote {len(frames)} frames of the backward pass to {args.frames}/",
                f"({frames[0].name} … {frames[-1].name})",
            )
    except draw.GraphvizNotFoundError as e:
        print(f"tinygrad-rnn draw: {e}", file=sys.stderr)
        return 1
    return 0


_SUBCOMMANDS.append(_add_draw_command)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
