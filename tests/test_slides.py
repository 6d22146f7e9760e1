"""Pictures for the classroom (issue 11): the 1920×1080 slide in the lecture's notation, its smallest text measured,
the backward pass as frames on one fixed canvas (GIF, PDF), comparable heat-maps, and the drawing's small surprises.

Everything is asserted on structure: exact pixel sizes, font sizes times the scale Graphviz applies, frame counts,
equal frame sizes, no frame equal to the one before, node positions equal in every frame, pages and GIF frames."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.canvas import laid_out, png_size
from tinygrad_rnn.demo import demo_problem, draw_problem
from tinygrad_rnn.draw import (
    SLIDE,
    dot_path_of,
    draw,
    fit_of,
    html,
    layout_of,
    render,
    render_frames,
    step_targets,
    to_dot,
)
from tinygrad_rnn.frames import _frame_sources, backward_steps, frame_steps, pdf_pages
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.style import STYLES, make_style

ROOT = Path(__file__).resolve().parents[1]
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed")
Image = pytest.importorskip("PIL.Image", reason="Pillow (it comes with matplotlib) writes the GIF and the PDF")
LECTURE = "h_t = tanh(b + W x_t + U h_{t−1})    o_t = c + V h_t    ŷ_t = softmax(o_t)    L = Σ_t L_t"


def hel():
    """The demo's problem after backward: (L, its targets)."""
    rnn, xs, ys, _ = demo_problem()
    L = rnn.loss(xs, ys)
    L.backward()
    return L, step_targets(L, ys, 3)


def random_loss(T: int, D: int = 3, H: int = 4, K: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    rnn = RNN(D, H, K, seed=seed)
    ys = rng.integers(0, K, size=T)
    L = rnn.loss(rng.standard_normal((T, D)), ys)
    L.backward()
    return L, step_targets(L, ys, K)


def labels(source: str) -> str:
    """The text of every label of a DOT source, tags removed."""
    return re.sub(r"<[^>]+>", "", " ".join(re.findall(r"label=<(.*?)>\s*(?:\w+=|\])", source)))


# ---- the slide: exactly 1920×1080, text ≥ 24 px ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hel_slide(tmp_path_factory):
    L, targets = hel()
    path = render(L, tmp_path_factory.mktemp("slide") / "rnn.png", "slide", values=True, grads=True,
                  targets=targets, title=LECTURE)  # fmt: skip
    return path


@needs_dot
def test_slide_png_is_exactly_1920_by_1080(hel_slide):
    assert png_size(hel_slide) == SLIDE == (1920, 1080)
    with Image.open(hel_slide) as img:  # what is on it is the picture, not a blank canvas
        assert img.convert("L").getextrema()[0] < 64


@needs_dot
def test_smallest_text_on_the_slide_is_at_least_24_px(hel_slide):
    """Graphviz draws every text in a font size (points); the slide shows a point as `scale` pixels. Both come from
    Graphviz's own layout of the .dot: the F(ont) operations of its drawing, and its bounding box."""
    fit = fit_of(dot_path_of(hel_slide))
    source = dot_path_of(hel_slide).read_text(encoding="utf-8")
    written = [float(v) for v in re.findall(r'(?:fontsize=|POINT-SIZE=")"?(\d+(?:\.\d+)?)', source)]
    assert fit.min_font == min(written) == 24  # the smallest font Graphviz draws is the smallest the DOT asks for
    # the scale is what fills the canvas: the drawing plus its padding, times the scale, is 1920 × 1080 pixels
    w, h = fit.bb
    assert (
        abs((w + 2 * 72 * fit.pad[0]) * fit.scale - 1920) < 0.5
        and abs((h + 2 * 72 * fit.pad[1]) * fit.scale - 1080) < 0.5
    )
    assert min(fit.pad) >= 6 / 72 - 1e-9  # a margin on every side
    assert fit.min_text_px >= 24, fit


@needs_dot
def test_the_cli_slide_of_the_contract(tmp_path, capsys):
    from tinygrad_rnn.cli import main

    out = tmp_path / "x.png"
    assert main(["draw", "--slide", "--steps", "3", "--values", "--grads", "--out", str(out)]) == 0
    assert png_size(out) == (1920, 1080)
    assert fit_of(tmp_path / "x.dot").min_text_px >= 24  # random data, H = 4: longer numbers than the demo's
    assert "x.dot" in capsys.readouterr().out


@needs_dot
@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_slide_svg_and_pdf_have_the_16_by_9_aspect(tmp_path, fmt):
    L, targets = hel()
    path = render(L, tmp_path / f"rnn.{fmt}", "slide", grads=True, targets=targets)
    data = path.read_bytes()
    if fmt == "svg":
        w, h = (float(v) for v in re.search(rb'<svg width="([\d.]+)pt" height="([\d.]+)pt"', data).groups())
    else:
        w, h = (float(v) for v in re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)", data).groups())
    assert abs(w / h - 16 / 9) < 0.002, (w, h)


@needs_dot
def test_three_steps_are_the_most_that_fit_then_steps_collapse(tmp_path):
    """T = 3 with values and gradients fits at ≥ 24 px; T = 4 drawn expanded would not, so the slide collapses the
    steps beyond STYLES['slide'].max_steps = 3 by itself."""
    assert STYLES["slide"].max_steps == 3
    for T, fits in ((3, True), (4, False)):
        L, targets = random_loss(T)
        path = render(L, tmp_path / f"T{T}.png", "slide", values=True, grads=True, targets=targets, title=LECTURE,
                      steps="expand")  # fmt: skip
        assert (fit_of(dot_path_of(path)).min_text_px >= 24) == fits, T
    L, targets = random_loss(4)
    lay = layout_of(L, STYLES["slide"], targets)
    assert lay.collapsed and sum(b.is_step for b in lay.boxes.values()) == 4
    shown = [b.tensors[0].name for b in lay.boxes.values() if b.is_step]
    assert shown == ["h_1", "h_2", "h_3", "h_4"]  # the last step shows its state too, not its loss
    assert not layout_of(random_loss(3)[0], STYLES["slide"]).collapsed


# ---- the lecture's notation ------------------------------------------------------------------------------------------


def test_slide_ops_say_what_they_compute_and_targets_feed_the_losses():
    L, targets = hel()
    lay = layout_of(L, make_style("slide", {}, "test"), targets)
    ops = sorted(b.label for b in lay.boxes.values() if b.kind == "op")
    merged = sorted(b.op_label for b in lay.boxes.values() if b.op_label)
    assert ops == sorted(["+", "+ b", "U·h_0", "V·h_1", "W·x_1", "+", "+ b", "U·h_1", "V·h_2", "W·x_2",
                          "+", "+ b", "U·h_2", "V·h_3", "W·x_3"])  # fmt: skip
    assert merged == sorted(["tanh", "+ c", "softmax", "cross-entropy"] * 3 + ["Σ_t"])
    assert not [b for b in lay.boxes.values() if b.title == "stack"]  # no engine-only node
    assert all(b.label for b in lay.boxes.values() if b.kind == "op")
    titles = {b.title: b for b in lay.boxes.values()}
    for t in (1, 2, 3):  # y_t is drawn in step t and feeds the box of L_t (cross-entropy)
        y, loss = titles[f"y_{t}"], titles[f"L_{t}"]
        assert y.kind == "input" and y.cluster[0] == ("scope", f"t={t}")
        assert any(e.tail == y.id and e.head == loss.id for e in lay.edges)
        assert np.array_equal(y.tensors[0].data, np.eye(3)[[1, 2, 2][t - 1]])  # 'e', 'l', 'l' one-hot
    source = to_dot(L, "slide", targets=targets, title=LECTURE)
    assert "h<SUB>t−1</SUB>" in source and "Σ<SUB>t</SUB>" in source  # the equations in the title, subscripted
    assert "W·x<SUB>1</SUB>" in source and "stack" not in labels(source)


def test_the_parameters_stand_in_one_column_and_h0_on_the_row_of_h1():
    L, targets = hel()
    lay = layout_of(L, STYLES["slide"], targets)
    chain = [h for h in lay.hints if type(h).__name__ == "Invisible" and h.weight == 10]
    assert len(chain) == 5  # W, U, b, h_0, V, c: one chain of six, bottom to top
    same = [h.boxes for h in lay.hints if type(h).__name__ == "SameRank"]
    by_title = {b.title: b.id for b in lay.boxes.values()}
    assert any({by_title["h_0"], by_title["h_1"]} <= set(row) for row in same)


# ---- frames on one fixed canvas -------------------------------------------------------------------------------------


def frame_pictures(frames):
    return [np.asarray(Image.open(f).convert("RGB")) for f in frames]


@needs_dot
@pytest.mark.parametrize("by", ["op", "node", "step"])
def test_frames_one_size_none_repeats_with_gif_and_pdf(tmp_path, by):
    L, targets = random_loss(1 if by == "op" else 2, D=1, H=1, K=2)
    frames = render_frames(L, tmp_path, by=by, targets=targets, collapse=("softmax", "cross_entropy"))
    pictures = frame_pictures(frames)
    assert len({p.shape for p in pictures}) == 1  # one canvas
    assert all(not np.array_equal(a, b) for a, b in zip(pictures, pictures[1:]))  # each frame shows something new
    assert [f.name for f in frames] == [f"frame_{k:03d}.png" for k in range(len(frames))]
    with Image.open(tmp_path / "backward.gif") as gif:
        assert gif.n_frames == len(frames) and gif.size == pictures[0].shape[1::-1]
    assert pdf_pages(tmp_path / "backward.pdf") == len(frames)
    steps = frame_steps(
        L, make_style(None, {"grads": True, "collapse": ("softmax", "cross_entropy")}, "t"), by, targets
    )
    assert steps[0] == 0 and len(frames) <= len(steps)
    if by == "op":  # one frame per op, but ops hidden in one box (softmax, cross-entropy) make one frame
        assert len(frames) < backward_steps(L) + 1
    if by == "step":  # before backward, the loss, t = 2, t = 1, h_0 (t = 0), the parameters
        assert len(frames) == 6


@needs_dot
def test_every_node_stays_where_it_is_in_every_frame(tmp_path):
    L, targets = random_loss(2, D=2, H=2, K=2)
    style = make_style(None, {"grads": True}, "test")
    sources = _frame_sources(L, style, frame_steps(L, style, "node", targets), None, targets)
    positions = []
    for k, source in enumerate(sources):
        path = tmp_path / f"f{k}.dot"
        path.write_text(source, encoding="utf-8")
        out = laid_out(path, "neato")
        positions.append({o["name"]: (o["pos"], o["width"], o["height"]) for o in out["objects"] if "pos" in o})
        positions[-1]["bb"] = out["bb"]
    assert len(sources) > 3 and all(p == positions[0] for p in positions)


@needs_dot
def test_slide_frames_are_exactly_1920_by_1080(tmp_path):
    L, targets = hel()
    frames = render_frames(L, tmp_path, "slide", by="step", targets=targets, title=LECTURE)
    assert len(frames) == 7 and {png_size(f) for f in frames} == {(1920, 1080)}
    with Image.open(tmp_path / "backward.gif") as gif:
        assert gif.n_frames == 7


@needs_dot
@pytest.mark.parametrize("by", ["op", "node", "step"])
def test_the_cli_frames_of_the_contract(tmp_path, by):
    from tinygrad_rnn.cli import main

    # the contract's T = 3 per step; per op and per node (30-odd frames at T = 3) the same code on a smaller graph
    small = {"op": "1", "node": "2"}.get(by)
    sizes = ["--steps", "3"] if small is None else ["--steps", small, "--input", "2", "--hidden", "2", "--classes", "2"]
    out = tmp_path / "frames"
    assert main(["draw", *sizes, "--grads", "--frames", str(out), "--frames-by", by]) == 0
    frames = sorted(out.glob("frame_*.png"))
    assert len(frames) > 3 and len({png_size(f) for f in frames}) == 1
    with Image.open(out / "backward.gif") as gif:
        assert gif.n_frames == len(frames)
    assert pdf_pages(out / "backward.pdf") == len(frames)


# ---- comparable heat-maps --------------------------------------------------------------------------------------------


def heat_root(rho: float):
    """The gallery's heat-map problem: RNN(3, 8, 3, seed=3) with ρ(U) = rho, tiny inputs, L = L_30 only."""
    rng = np.random.default_rng(3)
    rnn = RNN(3, 8, 3, seed=3, spectral_radius=rho)
    rnn.loss(1e-6 * rng.standard_normal((30, 3)), rng.integers(0, 3, size=30))
    last = rnn.trace.L[-1]
    last.backward()
    return rnn, last


def h30_fill(source: str) -> str:
    """The fill of h_30's box in a DOT source."""
    line = next(ln for ln in source.splitlines() if "<B>h_30</B>" in ln)
    return re.search(r'fillcolor="(#\w+)"', line).group(1)


def test_one_explicit_scale_colours_equal_norms_alike_and_is_stated_in_the_legend():
    (_, small), (_, big) = heat_root(0.5), heat_root(1.5)
    source = to_dot(small, heatmap="grad", scale=(1e-10, 1e6))
    assert "≤ 1e−10" in source and "≥ 1e6" in source and "shared by the pictures compared" in source
    # ∇h_30 ≈ 0.9 in both pictures: one scale gives it one colour; each picture's own scale does not
    assert h30_fill(source) == h30_fill(to_dot(big, heatmap="grad", scale=(1e-10, 1e6)))
    assert h30_fill(to_dot(small, heatmap="grad")) != h30_fill(to_dot(big, heatmap="grad"))
    with pytest.raises(ValueError, match=r"draw: scale must be \(low, high\) with 0 < low < high"):
        draw(small, heatmap="grad", scale=(1e1, 1e-10))


def test_the_cli_reproduces_the_gallery_heat_maps(tmp_path):
    for rho, what in ((0.5, "vanishes"), (1.5, "explodes")):
        name = f"heat_T30_rho{str(rho).replace('.', '_')}"
        title = f"T = 30, ρ(U) = {rho}: the gradient {what} (heat-map of ‖∂L_30/∂node‖)"
        out = tmp_path / f"{name}.png"
        args = dict(seed=3, radius=rho, input_scale=1e-6, loss="last", heatmap="grad", scale=(1e-10, 1e6))
        draw_problem(30, 3, 8, 3, out=out, collapse=("softmax", "cross_entropy"), title=title, **args)
        committed = (ROOT / "viz" / f"{name}.dot").read_text(encoding="utf-8")
        assert (tmp_path / f"{name}.dot").read_text(encoding="utf-8") == committed, name


# ---- less surprise --------------------------------------------------------------------------------------------------


def test_a_collapse_name_not_in_the_graph_is_refused_naming_the_ones_there():
    L, _ = hel()
    with pytest.raises(ValueError, match=r"collapse='softmx' is no composite of this graph; its composites are "
                                         r"softmax, cross_entropy"):  # fmt: skip
        draw(L, collapse=("softmx",))
    leaf = Tensor([1.0], requires_grad=True, name="a")
    with pytest.raises(ValueError, match="it has no composites"):
        draw((leaf * 2.0).sum(), collapse="tanh")


@needs_dot
def test_the_hel_problem_draws_with_values_and_collapse(tmp_path):
    from tinygrad_rnn.cli import main

    out = tmp_path / "hel.png"
    assert main(["draw", "--problem", "hel", "--values", "--collapse", "softmax,cross_entropy", "--out", str(out)]) == 0
    source = (tmp_path / "hel.dot").read_text(encoding="utf-8")
    assert "<B>softmax</B>" in source and "[1, 0, 0]" in source and "<B>y_3</B>" in source
    assert main(["draw", "--problem", "hel", "--steps", "5", "--out", str(out)]) == 2  # hel has its own sizes


@needs_dot
def test_an_svg_after_a_png_keeps_the_png_source(tmp_path):
    L, _ = hel()
    render(L, tmp_path / "x.png", grads=True)
    png_source = (tmp_path / "x.dot").read_text(encoding="utf-8")
    render(L, tmp_path / "x.svg", values=True)
    assert (tmp_path / "x.dot").read_text(encoding="utf-8") == png_source
    assert (tmp_path / "x.svg.dot").read_text(encoding="utf-8") == to_dot(L, values=True)


def test_the_legend_explains_a_matrix_norm_and_range_when_one_is_printed():
    L, _ = hel()
    says = html("‖·‖ n [a, b]: norm n, entries in [a, b]")
    assert says in to_dot(L, values=True)  # W is 3×3: its values print as their norm and range
    assert says not in to_dot(L)  # nothing printed, nothing to explain
    assert "‖·‖ n: norm n" in to_dot(L, "slide", values=True)


def test_does_not_type_check_has_its_own_colour():
    """The printed recursion W^T (∇h) diag(1 − h²) does not type-check when H ≠ D: lavender, not grey."""
    from tinygrad_rnn.report import CHECK_COLOURS, compare

    rng = np.random.default_rng(0)
    report = compare(RNN(3, 4, 3, seed=0), rng.standard_normal((3, 3)), rng.integers(0, 3, size=3))
    notes = report.annotations("printed")
    source = to_dot(report.loss, annotations=notes)
    lavender, grey = CHECK_COLOURS["does not type-check"][0], CHECK_COLOURS["not in the lecture"][0]
    assert lavender != grey
    assert f'fillcolor="{lavender}"' in source and f'fillcolor="{grey}"' in source
    assert f'BGCOLOR="{lavender}"' in source and "does not type-check" in source  # and keyed in the legend


def test_direction_is_graphviz_rankdir():
    L, _ = hel()
    for direction in ("BT", "TB", "LR", "RL"):
        assert f"rankdir={direction}" in to_dot(L, direction=direction)
    assert "rankdir=BT" in to_dot(L)  # the default: inputs at the bottom, the loss on top, time left to right


# ---- the vanishing/exploding story, one way everywhere ---------------------------------------------------------------


def test_vanishing_and_exploding_are_named_one_way_in_the_table_legend_and_title(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from tinygrad_rnn import dynamics

    T = 20
    result = dynamics.radius_sweep((0.5, 1.5, 3.0), steps=T, hidden=8, batch=2, trials=2)
    for row in result.rows:  # the regime is the measured rate's, and the bound is of the number printed beside it
        assert row.regime == ("vanishing" if row.rate < 0.95 else "exploding" if row.rate > 1.05 else "kept")
        assert row.bound == pytest.approx(row.norm_U ** (T - 1)) and row.jac_norms[1] <= row.bound
    lines = dynamics.format_sweep(result).splitlines()
    assert "regime by that rate — vanishing: rate < 0.95" in lines[1]
    for line, row in zip(lines[4:], result.rows):
        cols = line.split()
        assert cols[-1] == row.regime
        assert float(cols[1]) ** (T - 1) == pytest.approx(float(cols[9]), rel=0.1)  # ‖U‖₂ and ‖U‖₂^(T−1) agree
    seen = {}
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: seen.setdefault("fig", fig))
    dynamics.plot_sweep(result, tmp_path / "sweep.png")
    fig = seen["fig"]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [f"ρ = {row.rho:g}  ({row.regime})" for row in result.rows]
    title = fig._suptitle.get_text()
    assert "vanishing: rate < 0.95" in title and "exploding: rate > 1.05" in title and "ρ < 1" not in title


# ---- the LSTM cell as people draw it --------------------------------------------------------------------------------


def lstm_step():
    from tinygrad_rnn.lstm import LSTM

    rng = np.random.default_rng(5)
    lstm = LSTM(3, 2, 3, seed=0)
    h0, c0 = Tensor(0.5 * rng.standard_normal(2), name="h_0"), Tensor(0.5 * rng.standard_normal(2), name="c_0")
    xs, ys = rng.standard_normal((1, 3)), rng.integers(0, 3, size=1)
    L = lstm.loss(xs, ys, h0=h0, c0=c0)
    L.backward()
    return L, step_targets(L, ys, 3)


def test_the_lstm_cell_as_people_draw_it():
    """Gates side by side in the order f, i, g, og; each gate's W, U, b in the step beside its use; the cell state
    c_0 → ⊙ f_1 → + → c_1 on one row."""
    from tinygrad_rnn.boxes import Invisible, SameRank

    L, targets = lstm_step()
    lay = layout_of(L, STYLES["slide"], targets)
    by_title = {b.title: b.id for b in lay.boxes.values() if b.title}
    rows = [set(h.boxes) for h in lay.hints if isinstance(h, SameRank)]
    params = [b for b in lay.boxes.values() if b.kind == "param"]
    assert len(params) == 14
    for p in params:
        assert p.cluster == (("scope", "t=1"),), p.title
        (use,) = [e.head for e in lay.edges if e.tail == p.id]
        assert {p.id, use} in rows, p.title
    line = next(r for r in rows if {by_title["c_0"], by_title["c_1"]} <= r)
    assert len(line) == 3 and lay.boxes[by_title["c_1"]].op_label == "+"  # c_0, ⊙ f_1, and + in c_1's box
    order = [(h.tail, h.head) for h in lay.hints if isinstance(h, Invisible) and h.tail in by_title.values()]
    gates = [by_title[g] for g in ("f_1", "i_1", "g_1", "og_1")]
    assert list(zip(gates, gates[1:])) == [o for o in order if o[0] in gates and o[1] in gates]


@needs_dot
def test_the_lstm_slide_is_readable_at_1920_px(tmp_path):
    L, targets = lstm_step()
    path = render(L, tmp_path / "lstm.png", "slide", targets=targets)
    assert png_size(path) == (1920, 1080) and fit_of(dot_path_of(path)).min_text_px >= 24
