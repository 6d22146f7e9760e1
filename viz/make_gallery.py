"""Regenerate the gallery of graph drawings: `python viz/make_gallery.py` (what `make gallery` runs).

Each picture is written as viz/<name>.png with its DOT source viz/<name>.dot beside it. Everything is seeded, so
the .dot files come out byte for byte the same on every run (tests/test_draw.py checks the committed ones).
`python viz/make_gallery.py NAME ...` redraws only the named pictures.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinygrad_rnn import Tensor
from tinygrad_rnn import functional as F
from tinygrad_rnn.demo import demo_problem
from tinygrad_rnn.draw import render, render_frames, step_targets, to_dot
from tinygrad_rnn.rnn import RNN

HERE = Path(__file__).resolve().parent
EQUATIONS = "h_t = tanh(b + W x_t + U h_t−1)     o_t = c + V h_t     ŷ_t = softmax(o_t)     L = Σ_t L_t"


@dataclass
class Picture:
    """One gallery entry: the graph's root (after backward) and the options of `draw` (with its style: None for the
    default look, "slide" for viz/slides/)."""

    name: str  # viz/<name>.png and viz/<name>.dot; "slides/…" for a slide
    teaches: str  # one line for viz/README.md
    root: Tensor
    options: dict = field(default_factory=dict)
    keep: object = None  # nodes the picture needs alive (a detach() source is held only weakly)
    style: str | None = None


def _hel_problem(**rnn_options):
    """The demo's problem: the lecture RNN reading 'hel' (one-hot) and predicting 'ell', D = H = K = 3."""
    return demo_problem(**rnn_options)[:3]


def rnn_t3_values_grads() -> Picture:
    rnn, xs, ys = _hel_problem()
    L = rnn.loss(xs, ys)
    L.backward()
    return Picture(
        "rnn_T3_values_grads",
        "The lecture's RNN unrolled over 3 steps, every node with its value and (red) its gradient ∂L/∂node: "
        "W, U, V, b, c drawn once and used by every step, h_t carried into the next step (bold).",
        L,
        dict(values=True, grads=True, title=f"Unrolled Elman RNN, T = 3:   {EQUATIONS}"),
    )


def rnn_t3_collapsed() -> Picture:
    rnn, xs, ys = _hel_problem()
    L = rnn.loss(xs, ys)
    L.backward()
    return Picture(
        "rnn_T3_collapsed",
        "The same graph with softmax and cross-entropy collapsed into one box each: the lecture's equations, one "
        "node per symbol; the gradient of every h_t, o_t, ŷ_t and parameter in red.",
        L,
        dict(grads=True, collapse=("softmax", "cross_entropy"), title=f"T = 3, composites collapsed:   {EQUATIONS}"),
    )


def softmax_decomposition() -> Picture:
    o = Tensor([1.0, 2.0, 0.5], requires_grad=True, name="o")
    yhat = F.softmax(o)
    yhat.name = "ŷ"
    L = F.cross_entropy_probs(yhat, 1)
    L.name = "L"
    L.backward()
    return Picture(
        "softmax_decomposition",
        "softmax and cross-entropy opened into primitives with values and gradients: the row maximum is detached "
        "(✂, no gradient flows through it), and ∂L/∂o = ŷ − y comes out of exp, Σ and ÷.",
        L,
        dict(
            values=True, grads=True, op_values=True, title="ŷ = softmax(o) = exp(o − m) / Σ exp(o − m),   L = −log ŷ_y"
        ),
    )


def tanh_decomposition() -> Picture:
    a = Tensor([0.5, -1.0, 3.0], requires_grad=True, name="a")
    h = F.tanh(a)
    h.name = "h"
    L = h.sum()
    L.name = "L"
    L.backward()
    return Picture(
        "tanh_decomposition",
        "tanh composed from primitives in the overflow-free form −s·u/(2 + u), u = expm1(−2|a|), s = sign(a) a "
        "constant: the chain rule through every primitive gives ∂L/∂a = 1 − tanh²(a).",
        L,
        dict(values=True, grads=True, op_values=True, title="h = tanh(a) composed from primitives;   L = Σ h"),
    )


# One colour scale for the vanishing/exploding pair, so that equal colours mean equal gradients in both pictures:
# ‖∂L_30/∂node‖ runs from 6e−10 (ρ = 0.5, h_1) to 1.2e5 (ρ = 1.5, h_0).
HEAT_SCALE = (1e-10, 1e6)


def heat_problem(rho: float, T: int = 30):
    """The heat-maps' problem, as `tinygrad-rnn draw --steps 30 --hidden 8 --seed 3 --radius ρ --input-scale 1e-6
    --loss last` builds it: RNN(3, 8, 3, seed=3) with ρ(U) = ρ, tiny inputs (tanh in its linear range, as in the
    lecture's argument), the loss at the last step only. Returns (L_T after backward, its targets)."""
    rng = np.random.default_rng(3)
    rnn = RNN(3, 8, 3, seed=3, spectral_radius=rho)
    xs = 1e-6 * rng.standard_normal((T, 3))
    ys = rng.integers(0, 3, size=T)
    rnn.loss(xs, ys)
    last = rnn.trace.L[-1]  # L_T alone: what is carried back through time, without the other steps' losses
    last.backward()
    return last, step_targets(last, ys, 3)


def _heat(rho: float) -> Picture:
    last, targets = heat_problem(rho)
    what = "vanishes" if rho < 1 else "explodes"
    return Picture(
        f"heat_T30_rho{str(rho).replace('.', '_')}",
        f"Spectral radius ρ(U) = {rho}: the gradient of L_30 {what} on its way back through time — colour and "
        f"edge width follow log10 ‖∂L_30/∂node‖ on one scale for both pictures (1e−10 … 1e6).",
        last,
        dict(
            heatmap="grad",
            scale=HEAT_SCALE,
            collapse=("softmax", "cross_entropy"),
            targets=targets,
            title=f"T = 30, ρ(U) = {rho}: the gradient {what} (heat-map of ‖∂L_30/∂node‖)",
        ),
    )


def heat_rho_small() -> Picture:
    return _heat(0.5)


def heat_rho_large() -> Picture:
    return _heat(1.5)


def steps_collapsed_t200() -> Picture:
    T = 200
    rng = np.random.default_rng(4)
    rnn = RNN(3, 8, 3, seed=4)
    L = rnn.loss(rng.standard_normal((T, 3)), rng.integers(0, 3, size=T))
    L.backward()
    return Picture(
        "steps_collapsed_T200",
        "200 steps, each drawn as one box (rows snake left → right → left), coloured by ‖∂L/∂h_t‖: a long "
        "sequence stays readable; parameters and the sum over all L_t drawn with one labelled edge.",
        L,
        dict(steps="collapse", grads=True, heatmap="grad", title="T = 200, steps collapsed, heat-map of ‖∂L/∂h_t‖"),
    )


def lecture_check_printed() -> Picture:
    from tinygrad_rnn.report import compare

    rnn, xs, ys = _hel_problem()
    report = compare(rnn, xs, ys)
    return Picture(
        "lecture_check_printed",
        "The lecture's backward equations as printed, checked on the graph: each parameter and h_t / o_t shows the "
        "formula's gradient beside autodiff's, coloured by the relative error — red marks where the slide goes wrong.",
        report.loss,
        dict(
            annotations=report.annotations("printed"),
            collapse=("softmax", "cross_entropy"),
            title="Section 2.4 as printed vs autodiff (T = 3, D = H = K = 3)",
        ),
    )


def backward_order() -> Picture:
    rnn, xs, ys = _hel_problem()
    L = rnn.loss(xs[:2], ys[:2])
    L.backward()
    return Picture(
        "backward_order_T2",
        "The order in which backward visits the ops (purple numbers): from L down through step 2, then step 1 — the "
        "chain rule step by step (`tinygrad-rnn draw --frames DIR` makes one slide per number).",
        L,
        dict(order=True, collapse=("softmax", "cross_entropy"), title="Backward order, T = 2"),
    )


def truncated_bptt() -> Picture:
    rng = np.random.default_rng(6)
    rnn = RNN(3, 3, 3, seed=6)
    xs, ys = rng.standard_normal((4, 3)), rng.integers(0, 3, size=4)
    rnn.loss(xs[:2], ys[:2])
    first = rnn.trace  # the first chunk's nodes stay alive, so the drawing can name where the cut is
    carried = first.h[-1].detach()  # truncated BPTT: the next chunk starts from h_2 without its history
    L = rnn.loss(xs[2:], ys[2:], h0=carried)
    L.backward()
    return Picture(
        "truncated_bptt",
        "Truncated BPTT: the second chunk (2 steps) starts from the first chunk's last state h_2, detached — the cut "
        "edge is dashed (✂), no gradient crosses it, and h_0 of the chunk is a leaf.",
        L,
        dict(
            grads=True,
            collapse=("softmax", "cross_entropy"),
            title="Truncated BPTT: the second chunk, after h_0 = h_2.detach()",
        ),
        keep=first,
    )


def lstm_step() -> Picture | None:
    try:
        from tinygrad_rnn.lstm import LSTM
    except ImportError:
        return None
    rng = np.random.default_rng(5)
    lstm = LSTM(3, 2, 3, seed=0)
    H = lstm.hidden_size
    h0 = Tensor(0.5 * rng.standard_normal(H), name="h_0")  # a state from earlier steps, so every gate matters
    c0 = Tensor(0.5 * rng.standard_normal(H), name="c_0")
    xs, ys = rng.standard_normal((1, 3)), rng.integers(0, 3, size=1)
    L = lstm.loss(xs, ys, h0=h0, c0=c0)
    L.backward()
    return Picture(
        "lstm_step",
        "One LSTM step from primitives: forget, input and output gates (σ), candidate (tanh), the cell state c_1 "
        "and h_1, with the gradient of every node in red.",
        L,
        dict(
            grads=True,
            collapse=("softmax", "cross_entropy"),
            direction="LR",  # one cell reads best left to right: x_1, h_0, c_0 in, gates, c_1, h_1 out
            targets=step_targets(L, ys, 3),
            title="One LSTM step:   f, i, og = σ(W x + U h_0 + b),   g = tanh(…),   "
            "c_1 = f ⊙ c_0 + i ⊙ g,   h_1 = og ⊙ tanh(c_1)",
        ),
    )


GALLERY = (
    rnn_t3_values_grads,
    rnn_t3_collapsed,
    softmax_decomposition,
    tanh_decomposition,
    heat_rho_small,
    heat_rho_large,
    steps_collapsed_t200,
    lecture_check_printed,
    backward_order,
    truncated_bptt,
    lstm_step,
)


# ---- viz/slides/: 1920×1080 slides in the lecture's notation (style="slide") --------------------------------------

LECTURE = "h_t = tanh(b + W x_t + U h_{t−1})    o_t = c + V h_t    ŷ_t = softmax(o_t)    L = Σ_t L_t"


def slide_rnn_t3():
    rnn, xs, ys = _hel_problem()
    L = rnn.loss(xs, ys)
    L.backward()
    return Picture(
        "slides/rnn_T3_grads",
        "The lecture's RNN on 'hel' → 'ell', unrolled over T = 3 steps in the lecture's notation (W·x_t, U·h_{t−1}, "
        "+ b, tanh, V·h_t, + c, softmax, cross-entropy against y_t, Σ_t), every value and (red) gradient.",
        L,
        dict(values=True, grads=True, targets=step_targets(L, ys, 3), title=LECTURE),
        style="slide",
    )


def slide_lecture_check():
    from tinygrad_rnn.report import compare

    rnn, xs, ys = _hel_problem()
    report = compare(rnn, xs, ys)
    return Picture(
        "slides/lecture_check_printed",
        "Section 2.4 as printed, checked on the graph: red where the printed formula is wrong (∇W, ∇U and the "
        "recursion for ∇h_t), grey where it gives none (∇b, ∇c), green where it agrees with autodiff.",
        report.loss,
        dict(
            annotations=report.annotations("printed"),
            targets=step_targets(report.loss, ys, 3),
            param_columns=2,  # the checker's three rows make the parameters tall: two columns fit the slide
            title="Section 2.4 as printed vs autodiff:   " + LECTURE,
        ),
        style="slide",
    )


def slide_lstm_step():
    picture = lstm_step()
    if picture is None:
        return None
    return Picture(
        "slides/lstm_step",
        "One LSTM step as people draw it: the gates f, i, g, og side by side, each with its W, U, b beside its use, "
        "the cell state c_0 → ⊙ f_1 → + → c_1 straight through, then h_1 = og_1 ⊙ tanh(c_1).",
        picture.root,
        dict(
            targets=picture.options["targets"],
            title="One LSTM step:   c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t    h_t = og_t ⊙ tanh(c_t)    "
            "f_t, i_t, og_t = σ(W x_t + U h_{t−1} + b),  g_t = tanh(…)",
        ),
        style="slide",
    )


def _slide_heat(rho: float) -> Picture:
    last, targets = heat_problem(rho)
    what = "vanishing" if rho < 1 else "exploding"
    return Picture(
        f"slides/{what}_rho{str(rho).replace('.', '_')}",
        f"ρ(U) = {rho}, T = 30, the loss at the last step only: ‖∂L_30/∂h_t‖ on each step's box and as its colour, "
        f"on the one scale of both slides (1e−10 … 1e6) — the gradient {'vanishes' if rho < 1 else 'explodes'}.",
        last,
        dict(
            heatmap="grad",
            scale=HEAT_SCALE,
            grads=True,
            targets=targets,
            title=f"{what.capitalize()} gradients: ρ(U) = {rho}, T = 30, L = L_30 only,   "
            "h_t = tanh(b + W x_t + U h_{t−1})",
        ),
        style="slide",
    )


def slide_vanishing():
    return _slide_heat(0.5)


def slide_exploding():
    return _slide_heat(1.5)


SLIDES = (slide_rnn_t3, slide_lecture_check, slide_vanishing, slide_exploding, slide_lstm_step)
ANIMATION = "slides/backward_T3"  # .gif and .pdf: the backward pass of slides/rnn_T3_grads, one frame per node


def write_animation() -> list[Path]:
    """viz/slides/backward_T3.gif: the backward pass on the slide, one frame per node that gets its
    gradient (the frames themselves are made in a temporary folder)."""
    import shutil
    import tempfile

    picture = slide_rnn_t3()
    options = {k: v for k, v in picture.options.items() if k != "values"}
    with tempfile.TemporaryDirectory() as tmp:
        frames = render_frames(picture.root, tmp, "slide", by="node", **options)
        out = []
        for suffix in ("gif",):  # the PDF (4 MB of raster pages) is made by `tinygrad-rnn draw --frames`
            out.append(HERE / f"{ANIMATION}.{suffix}")
            shutil.copyfile(Path(tmp) / f"backward.{suffix}", out[-1])
    print(f"{out[0].relative_to(HERE.parent)}  — the backward pass, {len(frames)} frames of 1920×1080")
    return out


def pictures(names=None) -> list[Picture]:
    """The gallery's pictures and slides (those named, or all), built fresh."""
    out = []
    for make in GALLERY + SLIDES:
        picture = make()
        if picture is not None and (not names or picture.name in names):
            out.append(picture)
    return out


def dot_sources(names=None) -> dict[str, str]:
    """name -> DOT text, as written to viz/<name>.dot."""
    return {p.name: to_dot(p.root, p.style, **p.options) for p in pictures(names)}


def main(argv: list[str] | None = None) -> int:
    names = set(sys.argv[1:] if argv is None else argv)
    for picture in pictures(names):
        path = render(picture.root, HERE / f"{picture.name}.png", picture.style, **picture.options)
        print(f"{path.relative_to(HERE.parent)}  — {picture.teaches}")
    if not names or ANIMATION in names:
        write_animation()
    return 0


if __name__ == "__main__":
    sys.exit(main())
