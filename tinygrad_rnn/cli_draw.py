"""The `tinygrad-rnn draw` and `tinygrad-rnn explore` subcommands: a picture, or the interactive page, of the lecture
RNN's unrolled graph (each parses its arguments and calls one library function)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tinygrad_rnn.cli_args import (
    MAX_RADIUS,
    _draw_steps,
    _fail,
    _list_of,
    _number,
    _seed,
    _size,
    _unwritable,
)

__all__ = ["DRAW_COMMANDS"]


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


DRAW_COMMANDS = (_add_draw_command, _add_explore_command)
