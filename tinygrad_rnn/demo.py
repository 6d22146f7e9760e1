"""The lecture's problems, ready to run: the demo's 'hel' → 'ell', random problems of given sizes, and the jobs of
`tinygrad-rnn check` and `tinygrad-rnn demo` as functions (the command line only parses and calls these)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_rnn.inputs import whole_number
from tinygrad_rnn.report import Report, compare
from tinygrad_rnn.rnn import RNN

__all__ = [
    "demo_problem",
    "random_problem",
    "check",
    "demo_report",
    "draw_demo",
    "draw_problem",
    "DEMO_COLLAPSE",
    "CHECK_MAX_STEPS",
]

# softmax and cross-entropy as one box each keep the demo's picture to one node per lecture symbol;
# viz/softmax_decomposition.png opens them up.
DEMO_COLLAPSE = ("softmax", "cross_entropy")
# `check` takes central differences of every ∇h_t and ∇o_t: 2·(H + K)·T losses of T steps each, so its cost grows
# as T². 200 steps take about a minute; beyond that the check is refused rather than left to run for hours.
CHECK_MAX_STEPS = 200


def demo_problem(**rnn_options: Any) -> tuple[RNN, np.ndarray, np.ndarray, str]:
    """(rnn, xs, ys, text): the lecture RNN reading "hel" one-hot, predicting the next letters "ell" (D = H = K = 3).

    The demo's problem, and the gallery's (viz/make_gallery.py); `rnn_options` go to RNN."""
    vocab = "hel"
    xs = np.eye(3)[[vocab.index(ch) for ch in "hel"]]
    ys = np.array([vocab.index(ch) for ch in "ell"])
    text = "inputs x_1..x_3 = 'h', 'e', 'l' (one-hot); targets y_1..y_3 = 'e', 'l', 'l'"
    return RNN(3, 3, 3, seed=0, **rnn_options), xs, ys, text


def random_problem(
    steps: int, input_size: int, hidden: int, classes: int, *, seed: int = 0, batch: int | None = None, **rnn: Any
) -> tuple[RNN, np.ndarray, np.ndarray]:
    """(rnn, xs, ys): the lecture RNN with seeded parameters, standard-normal inputs (T, D) — (T, B, D) with a
    batch — and random class targets; `rnn` options go to RNN (e.g. spectral_radius, tanh)."""
    T = whole_number(steps, "steps", "random_problem")
    lead = (T,) if batch is None else (T, whole_number(batch, "batch", "random_problem"))
    rng = np.random.default_rng(whole_number(seed, "seed", "random_problem", minimum=0))
    xs = rng.standard_normal((*lead, whole_number(input_size, "input_size", "random_problem")))
    ys = rng.integers(0, whole_number(classes, "classes", "random_problem"), size=lead)
    return RNN(input_size, hidden, classes, seed=seed, **rnn), xs, ys


def check(steps: int = 4, input_size: int = 3, hidden: int = 4, classes: int = 3, *, seed: int = 0,
          batch: int | None = None) -> Report:  # fmt: skip
    """`tinygrad-rnn check`: the comparison report of a random problem of these sizes (at most CHECK_MAX_STEPS)."""
    if whole_number(steps, "steps", "check") > CHECK_MAX_STEPS:
        raise ValueError(
            f"check: {steps} steps would take hours (the finite differences cost grows as T²); at most "
            f"{CHECK_MAX_STEPS} steps"
        )
    return compare(*random_problem(steps, input_size, hidden, classes, seed=seed, batch=batch))


def demo_report() -> Report:
    """`tinygrad-rnn demo`, first half: the comparison report of the lecture RNN on 'hel' → 'ell'."""
    rnn, xs, ys, _ = demo_problem()
    return compare(rnn, xs, ys)


def draw_demo(report: Report, out: str | Path = "tinygrad_rnn_demo.png") -> Path:
    """`tinygrad-rnn demo`, second half: the unrolled graph with its gradients, every node coloured by how far the
    formula as printed is from autodiff (the picture shows where the printed equations go wrong)."""
    from tinygrad_rnn.draw import render  # drawing needs graphviz, which checking alone does not

    return render(report.loss, out, grads=True, collapse=DEMO_COLLAPSE, annotations=report.annotations("printed"))


def draw_problem(
    steps: int = 3,
    input_size: int = 3,
    hidden: int = 4,
    classes: int = 3,
    /,
    *,
    seed: int = 0,
    radius: float | None = None,
    tanh: str = "primitive",
    check: str | None = None,
    problem: str = "random",
    loss: str = "all",
    input_scale: float = 1.0,
    out: str | Path | None = None,
    frames: str | Path | None = None,
    frames_by: str = "op",
    **style: Any,
) -> list[Path]:
    """`tinygrad-rnn draw`: the unrolled graph of a lecture-RNN problem after backward, to `out` (and its .dot) and/or
    as frames of the backward pass into `frames` (PNGs, backward.gif, backward.pdf; per op, node or step: `frames_by`).

    problem "random" (seeded, of the given sizes) or "hel" (the demo's; its own sizes T = 3, D = H = K = 3); loss
    "all" (L = Σ_t L_t) or "last" (L_T only, the gallery's heat-maps); input_scale multiplies the inputs; radius
    rescales U to ρ(U); check ("corrected" | "printed", loss "all" only) colours nodes by the lecture's error;
    `style` goes to the drawing (style="slide", values=True, heatmap="grad", scale=(1e-10, 1e1), …). The targets
    y_t feed L_t; a slide gets the lecture's equations as its title. Returns the files written."""
    from tinygrad_rnn.draw import render, render_frames, step_targets
    from tinygrad_rnn.style import make_style

    if problem == "hel":
        if (steps, input_size, hidden, classes) != (3, 3, 4, 3):
            raise ValueError("draw: the 'hel' problem has its own sizes (T = 3, D = H = K = 3); give no sizes with it")
        rnn, xs, ys, _ = demo_problem(spectral_radius=radius, tanh=tanh)
    elif problem == "random":
        rnn, xs, ys = random_problem(steps, input_size, hidden, classes, seed=seed, spectral_radius=radius, tanh=tanh)
    else:
        raise ValueError(f"draw: problem must be 'random' or 'hel', got {problem!r}")
    if loss not in ("all", "last"):
        raise ValueError(f"draw: loss must be 'all' (L = Σ_t L_t) or 'last' (L_T only), got {loss!r}")
    xs = xs * float(input_scale)
    if check is not None:
        if loss != "all":
            raise ValueError("draw: the lecture check compares the gradients of L = Σ_t L_t; it needs loss='all'")
        report = compare(rnn, xs, ys)
        root, style["annotations"] = report.loss, report.annotations(check)
    else:
        total = rnn.loss(xs, ys)
        root = total if loss == "all" else rnn.trace.L[-1]  # type: ignore[union-attr]
        root.backward()
    style.setdefault("targets", step_targets(root, ys, rnn.output_size))
    fields = {k: v for k, v in style.items() if k not in ("style", "annotations", "targets")}
    if make_style(style.get("style"), fields, "draw").notation == "lecture" and style.get("title") is None:
        total_loss = "L = Σ_t L_t" if loss == "all" else f"L = L_{len(xs)} only"
        style["title"] = f"h_t = tanh(b + W x_t + U h_{{t−1}})    o_t = c + V h_t    ŷ_t = softmax(o_t)    {total_loss}"
    written = [render(root, out, **style)] if out is not None else []
    if frames is not None:
        written += render_frames(root, frames, by=frames_by, **style)
    return written
