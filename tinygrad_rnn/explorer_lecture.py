"""The explorer on the lecture's problems: section 2.4's formulas beside every node they give a gradient for.

`lecture_annotations(report)` turns a `report.compare` into the explorer's annotations, one set per reading of
section 2.4 ("corrected", "printed"): on each node with a lecture formula (W, U, V, b, c, every h_t and o_t) the
formula itself — written out for that step, e.g. ∇_{h_2}L = Uᵀ diag(1 − h_3²) ∇_{h_3}L + Vᵀ ∇_{o_2}L — then the
rows and the fill of `Report.annotations` (autodiff's ‖·‖, the formula's ‖·‖, the relative error, the verdict).
`explore_problem` is `tinygrad-rnn explore`; `explore_demo` writes the demo's page. The explorer itself
(`explorer.py`) knows no model and no report: all of this reaches it as annotations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinygrad_rnn.annotations import Annotation, Annotations
from tinygrad_rnn.demo import CHECK_MAX_STEPS, DEMO_COLLAPSE, random_problem
from tinygrad_rnn.explorer import explore
from tinygrad_rnn.fmt import array_text
from tinygrad_rnn.report import Report, compare

__all__ = ["FORMULAS", "HEADINGS", "formula", "lecture_annotations", "explore_problem", "explore_demo"]

# Section 2.4 by quantity, corrected and as printed; {t} is the step, {u} = t + 1, {s} = t − 1; None: not given.
# (The printed equations swap W and U against the forward equation; ∇b and ∇c are not printed at all.)
FORMULAS: dict[str, dict[str, str | None]] = {
    "corrected": {
        "W": "∇_W L = Σ_t diag(1 − h_t²) ∇_{h_t}L x_tᵀ",
        "U": "∇_U L = Σ_t diag(1 − h_t²) ∇_{h_t}L h_{t−1}ᵀ",
        "V": "∇_V L = Σ_t ∇_{o_t}L h_tᵀ",
        "b": "∇_b L = Σ_t diag(1 − h_t²) ∇_{h_t}L   (not printed; added)",
        "c": "∇_c L = Σ_t ∇_{o_t}L   (not printed; added)",
        "h": "∇_{{h_{t}}}L = Uᵀ diag(1 − h_{u}²) ∇_{{h_{u}}}L + Vᵀ ∇_{{o_{t}}}L",
        "h_T": "∇_{{h_{t}}}L = Vᵀ ∇_{{o_{t}}}L   (the last step)",
        "o": "∇_{{o_{t}}}L = ŷ_{t} − y_{t}",
    },
    "printed": {
        "W": "“∇W” = Σ_t diag(1 − h_t²) ∇_{h_t}L h_{t−1}ᵀ",
        "U": "“∇U” = Σ_t diag(1 − h_t²) ∇_{h_t}L x_tᵀ",
        "V": "∇_V L = Σ_t ∇_{o_t}L h_tᵀ",
        "b": None,
        "c": None,
        "h": "∇_{{h_{t}}}L = Wᵀ (∇_{{h_{u}}}L) diag(1 − h_{u}²) + Vᵀ ∇_{{o_{t}}}L",
        "h_T": "∇_{{h_{t}}}L = Vᵀ ∇_{{o_{t}}}L   (the last step)",
        "o": "∇_{{o_{t}}}L = ŷ_{t} − y_{t}",
    },
}


HEADINGS = {"corrected": "section 2.4 corrected vs autodiff", "printed": "section 2.4 as printed vs autodiff"}


def formula(quantity: str, reading: str, steps: int) -> str | None:
    """Section 2.4's formula for one quantity ("W", …, "h_2", "o_3") in one reading ("corrected" or "printed"),
    written out for its step; None where the lecture gives none."""
    if reading not in FORMULAS:
        raise ValueError(f"formula: reading must be 'corrected' or 'printed', got {reading!r}")
    table = FORMULAS[reading]
    if quantity in table and quantity not in ("h", "h_T", "o"):
        return table[quantity]
    kind, _, step = quantity.partition("_")
    if kind not in ("h", "o") or not step.isdigit():
        raise ValueError(f"formula: no quantity {quantity!r} in section 2.4 (W, U, V, b, c, h_t, o_t)")
    t = int(step)
    text = table["h_T" if kind == "h" and t == steps else kind]
    return None if text is None else text.format(t=t, u=t + 1, s=t - 1)


def lecture_annotations(report: Report) -> dict[str, Annotations]:
    """The explorer's annotations of a comparison: by reading, each quantity's formula first, then the report's rows
    (‖·‖ by autodiff and by the formula, relative error and verdict), what the formula evaluates to, and its fill."""
    out = {}
    for reading in ("corrected", "printed"):
        base = report.annotations(reading)
        nodes = {}
        for r in report.rows:
            note = base.nodes[r.quantity]
            text = formula(r.quantity, reading, report.sizes["T"]) or "not in the lecture"
            value = r.corrected if reading == "corrected" else r.as_printed
            gives = () if value is None else ((f"the formula gives {array_text(value, 12)}", "#495057"),)
            rows = ((text, "#212529"), *note.rows, *gives)
            nodes[r.quantity] = Annotation(rows, note.fill, note.status)
        out[reading] = Annotations(nodes, base.legend, HEADINGS[reading])
    return out


def explore_problem(
    steps: int = 3,
    input_size: int = 3,
    hidden: int = 4,
    classes: int = 3,
    /,
    *,
    seed: int = 0,
    radius: float | None = None,
    tanh: str = "primitive",
    lecture: bool = True,
    out: str | Path = "tinygrad_rnn_explorer.html",
    **style: Any,
) -> Path:
    """`tinygrad-rnn explore`: the page of a random lecture-RNN problem after backward, written to `out`. With
    `lecture` (at most CHECK_MAX_STEPS steps: its finite differences grow as T²) every node with a lecture formula
    shows it and its error against autodiff. `style` goes to `explore` (collapse=, direction=, title=, check=…)."""
    rnn, xs, ys = random_problem(steps, input_size, hidden, classes, seed=seed, spectral_radius=radius, tanh=tanh)
    if lecture and steps > CHECK_MAX_STEPS:
        raise ValueError(
            f"explore_problem: the lecture check of {steps} steps would take too long (at most {CHECK_MAX_STEPS}); "
            "explore without it (lecture=False, or --no-check)"
        )
    if lecture:
        report = compare(rnn, xs, ys)
        return explore(report.loss, out, annotations=lecture_annotations(report), **style)
    loss = rnn.loss(xs, ys)
    loss.backward()
    return explore(loss, out, **style)


def explore_demo(report: Report, out: str | Path = "tinygrad_rnn_demo.html") -> Path:
    """`tinygrad-rnn demo`'s page: the demo's graph ('hel' → 'ell') with both readings of section 2.4, coloured
    by the printed one (where the printed equations go wrong), composites collapsed as in its picture."""
    title = "The lecture's RNN on 'hel' → 'ell': step through backward, compare with section 2.4"
    notes = lecture_annotations(report)
    return explore(report.loss, out, annotations=notes, check="printed", collapse=DEMO_COLLAPSE, title=title)
