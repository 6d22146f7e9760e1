"""Drawings of unrolled graphs: structure of the DOT text (clusters, counts by formula, edges), collapse, heat-map,
determinism, label escaping, rendering, the missing-`dot` error, the gallery and the CLI."""

from __future__ import annotations

import html as xml
import importlib.util
import math
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_rnn import Tensor, composite, scope
from tinygrad_rnn import functional as F
from tinygrad_rnn.annotations import Annotation, Annotations
from tinygrad_rnn.dot import _heat_index
from tinygrad_rnn.draw import (
    HEAT,
    GraphvizNotFoundError,
    backward_steps,
    draw,
    heat_scale,
    html,
    render,
    to_dot,
)
from tinygrad_rnn.rnn import RNN

ROOT = Path(__file__).resolve().parents[1]
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` is not installed (CI installs it)")
PARAMS = ("W", "U", "V", "b", "c")


# ---- a tiny DOT reader: nodes, edges and the clusters that hold them ------------------------------------------------


class Dot:
    """Nodes (id -> attribute text, cluster path), visible edges (tail, head, attribute text) of our DOT output."""

    def __init__(self, source: str):
        self.nodes: dict[str, str] = {}
        self.cluster_of: dict[str, tuple[str, ...]] = {}
        self.edges: list[tuple[str, str, str]] = []
        self.cluster_labels: dict[str, str] = {}
        self.top_clusters: list[str] = []
        path: list[str] = []
        for line in source.splitlines():
            text = line.strip()
            if m := re.match(r"subgraph (cluster_\d+) \{", text):
                if not path:
                    self.top_clusters.append(m.group(1))
                path.append(m.group(1))
            elif text == "}" and path:
                path.pop()
            elif (
                path
                and re.match(r"[a-z]+=", text)
                and (m := re.search(r'label=<<FONT POINT-SIZE="\d+">(.*?)</FONT>>', text))
            ):
                self.cluster_labels[path[-1]] = m.group(1)
            elif m := re.match(r"(\w+) -> (\w+)(?: \[(.*)\])?$", text):
                if "style=invis" not in (m.group(3) or ""):
                    self.edges.append((m.group(1), m.group(2), m.group(3) or ""))
            elif (m := re.match(r"(\w+) \[(.*)\]$", text)) and m.group(1) not in ("graph", "node", "edge"):
                if "style=invis" not in m.group(2):
                    self.nodes[m.group(1)] = m.group(2)
                    self.cluster_of[m.group(1)] = tuple(path)

    def named(self, name: str) -> list[str]:
        """Ids of the value boxes whose label begins with `name` (in bold)."""
        return [n for n, attrs in self.nodes.items() if f"<B>{html(name)}</B></TD>" in attrs]

    def fill(self, node: str) -> str:
        return re.search(r'fillcolor="([^"]+)"', self.nodes[node]).group(1)

    def step_of(self, node: str) -> str | None:
        path = self.cluster_of[node]
        return self.cluster_labels[path[0]] if path else None


def rnn_loss(T: int, seed: int = 0, backward: bool = True, **rnn_options):
    rng = np.random.default_rng(seed)
    rnn = RNN(3, 4, 3, seed=seed, **rnn_options)
    L = rnn.loss(rng.standard_normal((T, 3)), rng.integers(0, 3, size=T))
    if backward:
        L.backward()
    return rnn, L


# ---- structure ------------------------------------------------------------------------------------------------------


# Per step of the lecture RNN: x_t; W x_t, b + ·, U h_{t−1}, + ·; tanh → h_t; V h_t, c + · → o_t (4 + 2 + 3 boxes);
# softmax: detach, max, −, exp, Σ, ÷ → ŷ_t (7); cross-entropy: [ ], log, −x, Σ → L_t (5): 22 boxes. Outside the
# steps: W U V b c, h_0, stack, Σ → L: 9. Edges per step: 2+2+2+2 (the affine maps) + 2 (tanh → h_t) + 3 (o_t)
# + 9 (softmax, with the dashed detach edge) + 5 (cross-entropy) = 29, plus L_t → stack; then stack → Σ → L.
def expanded_counts(T: int) -> tuple[int, int]:
    return 22 * T + 9, 30 * T + 2


@pytest.mark.parametrize("T", [1, 2, 3, 5])
def test_one_cluster_per_step_in_time_order_and_counts_follow_the_formula(T):
    _, L = rnn_loss(T)
    dot = Dot(to_dot(L))
    # the initial state h_0 (made by the model in the scope "t=0") has a small cluster of its own, before t = 1
    assert [dot.cluster_labels[c] for c in dot.top_clusters] == [f"t = {t}" for t in range(0, T + 1)]
    assert (len(dot.nodes), len(dot.edges)) == expanded_counts(T)
    for t in range(1, T + 1):  # every named node of step t sits in the cluster of step t
        for name in (f"x_{t}", f"h_{t}", f"o_{t}", f"ŷ_{t}", f"L_{t}"):
            (node,) = dot.named(name)
            assert dot.step_of(node) == f"t = {t}", name
    (h0,) = dot.named("h_0")
    assert dot.step_of(h0) == "t = 0"
    (loss,) = dot.named("L")
    assert dot.step_of(loss) is None


@pytest.mark.parametrize("T", [1, 3, 4])
def test_each_parameter_drawn_once_outside_the_steps_with_an_edge_to_every_step(T):
    _, L = rnn_loss(T)
    dot = Dot(to_dot(L))
    for p in PARAMS:
        (node,) = dot.named(p)
        assert dot.cluster_of[node] == ()
        steps = sorted(dot.step_of(head) for tail, head, _ in dot.edges if tail == node)
        assert steps == [f"t = {t}" for t in range(1, T + 1)], p


def test_carried_state_is_bold_and_enters_the_next_step():
    _, L = rnn_loss(4)
    dot = Dot(to_dot(L))
    for t in range(0, 4):
        (h,) = dot.named(f"h_{t}")
        bold = [(head, attrs) for tail, head, attrs in dot.edges if tail == h and "penwidth=2.4" in attrs]
        assert len(bold) == 1, f"h_{t}"
        assert dot.step_of(bold[0][0]) == f"t = {t + 1}"


@pytest.mark.parametrize("T", [1, 3])
def test_collapsed_composites_change_the_counts_as_stated(T):
    _, L = rnn_loss(T)
    dot = Dot(to_dot(L, collapse=("softmax", "cross_entropy")))
    # softmax: 7 boxes → box + ŷ_t, 9 edges → o_t → box → ŷ_t; cross-entropy: 5 → box + L_t, 5 → ŷ_t → box → L_t
    assert (len(dot.nodes), len(dot.edges)) == (14 * T + 9, 20 * T + 2)
    boxes = [n for n, a in dot.nodes.items() if "<B>softmax</B>" in a]
    assert len(boxes) == T
    for t in range(1, T + 1):  # the composite's output stays a value node, fed by the box
        (yhat,) = dot.named(f"ŷ_{t}")
        assert any(head == yhat and tail in boxes for tail, head, _ in dot.edges)


def test_collapsed_composed_tanh_has_the_shape_of_the_primitive():
    _, primitive = rnn_loss(3, tanh="primitive")
    _, composed = rnn_loss(3, tanh="composed")
    expanded = Dot(to_dot(composed))
    collapsed = Dot(to_dot(composed, collapse=("tanh",)))
    reference = Dot(to_dot(primitive))
    assert (len(collapsed.nodes), len(collapsed.edges)) == (len(reference.nodes), len(reference.edges))
    assert len(expanded.nodes) > len(reference.nodes)
    # expanded, each call sits in its own sub-cluster labelled "tanh", nested in its step
    inner = [c for c, label in expanded.cluster_labels.items() if label == "tanh"]
    assert len(inner) == 3 and not set(inner) & set(expanded.top_clusters)


@pytest.mark.parametrize("T, fan", [(1, "each"), (3, "each"), (12, "each"), (13, "summary"), (40, "summary")])
def test_collapsed_steps_one_box_per_step(T, fan):
    _, L = rnn_loss(T)
    dot = Dot(to_dot(L, steps="collapse"))
    steps = [n for n, a in dot.nodes.items() if re.search(r"<B>t = \d+</B>", a)]
    assert len(steps) == T and dot.top_clusters == []
    # boxes: T steps + W U V b c + h_0 + stack, Σ, L
    assert len(dot.nodes) == T + 9
    if fan == "each":  # 5 parameters × T, h_0 → step 1, T − 1 step → step, T into the stack, stack → Σ → L
        assert len(dot.edges) == 7 * T + 2
    else:  # one labelled edge per parameter and one into the stack
        assert len(dot.edges) == T + 8
        assert sum(f'label="all {T} steps"' in a for _, _, a in dot.edges) == 6


def test_running_sum_of_losses_travels_with_the_steps_when_collapsed():
    """A loss summed as L_1 + L_2 + … (outside the steps) folds into the steps: a chain, not T edges into one."""
    rng = np.random.default_rng(0)
    W = Tensor(rng.standard_normal((2, 2)), requires_grad=True, name="W")
    with scope("t=0"):  # where the models make their initial states
        h, total = Tensor(np.zeros(2), name="h_0"), None
    for t in range(1, 6):
        with scope(f"t={t}"):
            h = (W @ h + Tensor(rng.standard_normal(2), name=f"x_{t}")).tanh()
            h.name = f"h_{t}"
            L_t = (h * h).sum()
            L_t.name = f"L_{t}"
        total = L_t if total is None else total + L_t
    total.name = "L"
    dot = Dot(to_dot(total, steps="collapse"))
    assert len(dot.nodes) == 5 + 4  # 5 steps, W, h_0, the last + and L
    # W → each step (5), h_0 → step 1, step → step (4), steps 4 and 5 → the last +, + → L: the sum rides along
    assert len(dot.edges) == 5 + 1 + 4 + 2 + 1


# ---- heat-map -------------------------------------------------------------------------------------------------------


@given(lo=st.integers(-20, 5), span=st.integers(1, 20), a=st.floats(1e-30, 1e30), b=st.floats(1e-30, 1e30))
def test_heat_colour_is_monotone_in_the_gradient_norm(lo, span, a, b):
    small, large = sorted((a, b))
    assert _heat_index(small, lo, lo + span) <= _heat_index(large, lo, lo + span)
    assert 0 <= _heat_index(small, lo, lo + span) < len(HEAT)


def test_heat_map_of_a_vanishing_chain_is_ordered_like_the_norms():
    rng = np.random.default_rng(1)
    rnn = RNN(3, 6, 3, seed=1, spectral_radius=0.5)
    rnn.loss(1e-6 * rng.standard_normal((12, 3)), rng.integers(0, 3, size=12))
    last = rnn.trace.L[-1]
    last.backward()
    dot = Dot(to_dot(last, heatmap="grad"))
    norms = [np.linalg.norm(h.grad) for h in rnn.trace.h]
    shades = [HEAT.index(dot.fill(dot.named(f"h_{t}")[0])) for t in range(1, 13)]
    assert all(n1 < n2 for n1, n2 in zip(norms, norms[1:]))  # the premise: ‖∂L_12/∂h_t‖ grows with t
    assert shades == sorted(shades) and shades[0] < shades[-1]
    lo, hi = heat_scale(norms)
    assert lo <= math.log10(min(norms)) and math.log10(max(norms)) <= hi


def test_heat_map_needs_gradients():
    _, L = rnn_loss(2, backward=False)
    with pytest.raises(ValueError, match=r"draw\(heatmap='grad'\).*backward"):
        draw(L, heatmap="grad")


# ---- determinism and safe labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        dict(values=True, grads=True),
        dict(collapse=("softmax", "cross_entropy"), heatmap="grad"),
        dict(steps="collapse", grads=True),
        dict(order=True),
    ],
)
def test_same_graph_built_twice_gives_byte_identical_dot(options):
    _, first = rnn_loss(3, seed=7)
    _, second = rnn_loss(3, seed=7)  # new nodes, new composite instance numbers inside the engine
    a, b = to_dot(first, **options), to_dot(second, **options)
    assert a == b
    assert "0x" not in a  # no memory addresses
    ids = re.findall(r"^\s*(n\d+)v? \[", a, flags=re.M)
    assert ids and all(int(i[1:]) < 200 for i in ids)  # sequential ids, not id()


# names mixing any characters with the ones DOT and HTML-like labels treat specially (and DOT's \N escape)
awkward = st.lists(
    st.characters(blacklist_categories=("Cs",)) | st.sampled_from(list('"\\<>{}|&\n[];=]') + ["\\N", "]]>", "é∇"]),
    max_size=10,
).map("".join)


@needs_dot
@given(names=st.lists(awkward, min_size=3, max_size=3), scope_label=awkward)
def test_any_name_makes_valid_dot(names, scope_label, tmp_path_factory):
    a = Tensor([1.0, -2.0], requires_grad=True, name=names[0])
    with scope(scope_label or "s"):
        h = (a * a).tanh()
        h.name = names[1]
    L = h.sum()
    L.name = names[2]
    L.backward()
    source = to_dot(L, values=True, grads=True, title=names[0])
    proc = subprocess.run(["dot", "-Tsvg"], input=source.encode("utf-8"), capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert b"syntax error" not in proc.stderr.lower()
    assert proc.stdout.count(b'class="node"') == len(Dot(source).nodes)


def test_html_escapes_what_graphviz_would_read_as_markup():
    assert html('<b>&"x"</b>\nnext]') == "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;<BR/>next&#93;"
    assert html("a\x00b") == "a\ufffdb"  # control characters would stop the parser


# ---- rendering ------------------------------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@needs_dot
def test_png_has_the_signature_and_grows_with_the_number_of_steps(tmp_path):
    _, short = rnn_loss(1)
    _, long = rnn_loss(4)
    small = render(short, tmp_path / "short.png", legend=False)
    large = render(long, tmp_path / "long.png", legend=False)
    (w1, h1), (w4, h4) = png_size(small), png_size(large)
    assert w4 > 1.5 * w1 and 0.9 * h1 <= h4 <= 1.2 * h1  # time runs left to right: T widens, not heightens
    assert w1 > 200 and h1 > 400  # a readable picture, not a thumbnail
    assert (tmp_path / "short.dot").read_text(encoding="utf-8") == to_dot(short, legend=False)


@needs_dot
@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_svg_and_pdf_from_the_suffix_or_format(tmp_path, fmt, magic):
    _, L = rnn_loss(2)
    by_suffix = render(L, tmp_path / f"g.{fmt}", grads=True)
    by_format = render(L, tmp_path / "h", format=fmt)
    for path in (by_suffix, by_format):
        assert path.suffix == f".{fmt}" and path.read_bytes()[:5].startswith(magic[:4])
        assert path.with_name(path.name + ".dot").exists()  # g.svg.dot: not g.dot, the source of g.png
    if fmt == "svg":  # tooltips for hovering in a browser
        assert "<title>" in by_suffix.read_text(encoding="utf-8")
        assert 'xlink:title="h_1 = tanh' in by_suffix.read_text(encoding="utf-8")


def test_every_node_has_a_tooltip():
    _, L = rnn_loss(2)
    dot = Dot(to_dot(L, grads=True))
    assert all("tooltip=" in attrs for attrs in dot.nodes.values())
    (h1,) = dot.named("h_1")
    assert "h_1 = tanh" in dot.nodes[h1] and "grad" in dot.nodes[h1]


def test_missing_dot_writes_the_dot_file_then_says_how_to_install(tmp_path, monkeypatch):
    _, L = rnn_loss(2)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(GraphvizNotFoundError) as err:
        render(L, tmp_path / "g.png", grads=True)
    text = str(err.value)
    for command in ("apt-get install graphviz", "brew install graphviz", "conda install -c conda-forge graphviz"):
        assert command in text
    assert str(tmp_path / "g.dot") in text
    assert (tmp_path / "g.dot").read_text(encoding="utf-8") == to_dot(L, grads=True)
    assert not (tmp_path / "g.png").exists()


def test_render_refuses_unknown_formats(tmp_path):
    _, L = rnn_loss(1)
    with pytest.raises(ValueError, match="render: format must be png, svg or pdf"):
        render(L, tmp_path / "g.gif")


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(steps="fold"), "steps must be 'auto', 'expand' or 'collapse'"),
        (dict(direction="up"), "direction must be 'BT', 'TB', 'LR' or 'RL'"),
        (dict(heatmap="hot"), "heatmap must be None, 'grad' or 'value'"),
        (dict(fan_edges="some"), "fan_edges must be"),
        (dict(wrap=0), "wrap must be a whole number"),
    ],
)
def test_bad_options_name_draw_and_the_value(options, message):
    _, L = rnn_loss(1)
    with pytest.raises(ValueError, match=f"draw: {message}"):
        draw(L, **options)
    with pytest.raises(TypeError, match="draw: root must be a Tensor"):
        draw(np.zeros(3))


# ---- backward order, lecture check, detach --------------------------------------------------------------------------


def test_backward_order_numbers_every_op_once_consumers_first():
    _, L = rnn_loss(2)
    source = to_dot(L, order=True)
    dot = Dot(source)
    number = {}
    for node, attrs in dot.nodes.items():
        if m := re.search(r'COLOR="#6f42c1" POINT-SIZE="9"><B>(\d+)</B>', attrs):
            number[node] = int(m.group(1))
    assert sorted(number.values()) == list(range(1, backward_steps(L) + 1))
    for tail, head, _ in dot.edges:  # gradient flows head → tail: the head is visited first
        if tail in number and head in number:
            assert number[head] < number[tail]


def test_lecture_annotations_colour_nodes_by_the_formula_error():
    from tinygrad_rnn.report import CHECK_COLOURS, compare

    vocab = "hel"
    xs = np.eye(3)[[vocab.index(c) for c in "hel"]]
    ys = np.array([vocab.index(c) for c in "ell"])
    report = compare(RNN(3, 3, 3, seed=0), xs, ys)
    corrected = Dot(to_dot(report.loss, annotations=report.annotations()))
    printed_source = to_dot(report.loss, annotations=report.annotations("printed"))
    printed = Dot(printed_source)
    ok, wrong, absent = (CHECK_COLOURS[k][0] for k in ("ok", "wrong", "not in the lecture"))
    for q in ("W", "U", "V", "b", "c", "h_1", "h_3", "o_2"):
        (node,) = corrected.named(q)
        assert corrected.fill(node) == ok, q
        assert "lecture ‖·‖" in corrected.nodes[node]
    colours = {q: printed.fill(printed.named(q)[0]) for q in ("W", "U", "h_1", "b", "V")}
    assert colours["W"] == colours["U"] == colours["h_1"] == wrong  # the printed recursion is wrong
    assert colours["b"] == absent and colours["V"] == ok  # no printed ∇b; ∇V is right
    assert "lecture (as printed) vs autodiff:" in printed_source  # the annotations' legend, under its heading
    assert html(CHECK_COLOURS["wrong"][1]) in printed_source


def test_annotations_are_generic_rows_and_fill_keyed_by_name_or_node():
    _, L = rnn_loss(2)
    rows = (("checked", "#123456"), ("twice", "#654321"))
    notes = Annotations(
        {"h_1": Annotation(rows, "#abcdef", "fine"), L: Annotation(fill="#0f0f0f")},
        legend=(("#abcdef", "fine"),),
        heading="my checker",
    )
    dot = Dot(to_dot(L, annotations=notes))
    (h1,) = dot.named("h_1")
    assert dot.fill(h1) == "#abcdef"
    assert 'COLOR="#123456">checked</FONT>' in dot.nodes[h1] and 'COLOR="#654321">twice</FONT>' in dot.nodes[h1]
    (loss,) = dot.named("L")
    assert dot.fill(loss) == "#0f0f0f"
    assert "my checker:" in to_dot(L, annotations=notes)
    assert "my checker" not in to_dot(L, annotations=notes, legend=False)
    with pytest.raises(TypeError, match="draw: annotations must be an Annotations"):
        draw(L, annotations={"h_1": "red"})


def test_detach_is_dashed_with_scissors_and_a_lost_source_is_a_ghost():
    rng = np.random.default_rng(2)
    rnn = RNN(3, 3, 3, seed=2)
    xs, ys = rng.standard_normal((4, 3)), rng.integers(0, 3, size=4)
    rnn.loss(xs[:2], ys[:2])
    first = rnn.trace
    L = rnn.loss(xs[2:], ys[2:], h0=first.h[-1].detach())
    L.backward()
    dot = Dot(to_dot(L))
    cuts = [(t, h) for t, h, a in dot.edges if "style=dashed" in a and 'label="✂"' in a]
    assert len(cuts) == 2 + 1  # softmax's detached maximum in each step, and the cut before h_0
    (h0,) = dot.named("h_0")
    ghost = [n for n, a in dot.nodes.items() if "<I><B>h_2</B></I>" in a]
    assert len(ghost) == 1 and (ghost[0], h0) in cuts


# ---- gallery, CLI, boundaries ---------------------------------------------------------------------------------------


def load_gallery():
    spec = importlib.util.spec_from_file_location("make_gallery", ROOT / "viz" / "make_gallery.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_gallery_dot_files_are_reproduced_byte_for_byte():
    sources = load_gallery().dot_sources()
    assert len(sources) >= 9
    for name, source in sources.items():
        committed = ROOT / "viz" / f"{name}.dot"
        assert committed.exists(), f"viz/{name}.dot is not committed: run `make gallery`"
        assert committed.read_text(encoding="utf-8") == source, f"viz/{name}.dot differs: run `make gallery`"
        assert (ROOT / "viz" / f"{name}.png").exists()


@needs_dot
def test_cli_draw_writes_picture_and_dot(tmp_path, capsys):
    from tinygrad_rnn.cli import main

    out = tmp_path / "g.svg"
    code = main(["draw", "--steps", "2", "--grads", "--collapse", "softmax,cross_entropy", "--out", str(out)])
    source = out.with_name("g.svg.dot")
    assert code == 0 and out.exists() and source.exists()
    assert str(out) in capsys.readouterr().out
    dot = Dot(source.read_text(encoding="utf-8"))
    assert [dot.cluster_labels[c] for c in dot.top_clusters] == ["t = 0", "t = 1", "t = 2"]
    assert len([n for n, a in dot.nodes.items() if "<B>softmax</B>" in a]) == 2


def test_cli_draw_needs_an_output(capsys):
    from tinygrad_rnn.cli import main

    assert main(["draw"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["draw", "--out", "g.gif"]) == 2


def test_engine_does_not_import_the_drawing():
    code = (
        "import sys, tinygrad_rnn.tensor, tinygrad_rnn.ops; "
        "print('graphviz' in sys.modules, 'tinygrad_rnn.draw' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    for name in ("tensor.py", "ops.py"):
        assert "draw" not in re.findall(r"^(?:from|import) .*", (ROOT / "tinygrad_rnn" / name).read_text(), re.M)


def test_graph_without_steps_draws_plainly():
    x = Tensor([0.5, -1.0], requires_grad=True, name="x")
    y = F.softmax(x)
    y.name = "y"
    dot = Dot(to_dot(y.sum()))
    assert dot.top_clusters and all(dot.cluster_labels[c] == "softmax" for c in dot.top_clusters)
    (xn,) = dot.named("x")
    assert all("constraint=false" not in a for t, _, a in dot.edges if t == xn)  # no parameter styling without steps


def layout(source: str) -> dict[str, tuple[float, float]]:
    """Node centres (x, y; y grows upwards) as laid out by Graphviz."""
    out = subprocess.run(["dot", "-Tplain"], input=source.encode("utf-8"), capture_output=True, check=True).stdout
    return {
        f[1]: (float(f[2]), float(f[3])) for f in (ln.split() for ln in out.decode().splitlines()) if f[0] == "node"
    }


@needs_dot
@pytest.mark.parametrize("T", [3, 8])
def test_layout_time_left_to_right_inputs_at_the_bottom_loss_on_top(T):
    _, L = rnn_loss(T)
    source = to_dot(L, collapse=("softmax", "cross_entropy"))
    dot, pos = Dot(source), layout(source)
    at = {
        name: pos[dot.named(name)[0]] for name in ["L", "W", "U"] + [f"{s}_{t}" for s in "xhL" for t in range(1, T + 1)]
    }
    xs_h = [at[f"h_{t}"][0] for t in range(1, T + 1)]
    assert xs_h == sorted(xs_h)  # time runs left to right
    for t in range(1, T + 1):
        assert at[f"x_{t}"][1] < at[f"h_{t}"][1] < at[f"L_{t}"][1] < at["L"][1]  # inputs low, losses high
    assert at["W"][0] < xs_h[0] and at["U"][0] < xs_h[0]  # parameters beside the first step


@needs_dot
def test_layout_flowing_left_to_right_runs_time_downwards():
    _, L = rnn_loss(3)
    source = to_dot(L, direction="LR", collapse=("softmax", "cross_entropy"))  # as Graphviz's rankdir=LR
    dot, pos = Dot(source), layout(source)
    ys_h = [pos[dot.named(f"h_{t}")[0]][1] for t in (1, 2, 3)]
    assert ys_h == sorted(ys_h, reverse=True)  # time runs downwards
    assert pos[dot.named("x_1")[0]][0] < pos[dot.named("h_1")[0]][0] < pos[dot.named("L")[0]][0]


@needs_dot
def test_digraph_shows_itself_in_jupyter():
    _, L = rnn_loss(1)
    bundle = draw(L, grads=True)._repr_mimebundle_()  # what Jupyter calls to display the returned Digraph
    svg = bundle["image/svg+xml"]
    assert svg.lstrip().startswith("<?xml") and svg.count('class="cluster"') == 4  # t = 0, t = 1, softmax, c.-e.


def test_nested_scopes_nest_and_a_lone_leaf_draws():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    outs = []
    for t in (1, 2):
        with scope(f"t={t}"):
            with scope("gate"):
                g = x.sigmoid()
                g.name = f"g_{t}"
            outs.append((g * x).sum())
    L = outs[0] + outs[1]
    L.name = "L"
    dot = Dot(to_dot(L))
    assert [dot.cluster_labels[c] for c in dot.top_clusters] == ["t = 1", "t = 2"]
    for t in (1, 2):
        (g,) = dot.named(f"g_{t}")
        path = dot.cluster_of[g]
        assert [dot.cluster_labels[c] for c in path] == [f"t = {t}", "gate"]
    lone = Dot(to_dot(Tensor(3.0, name="c")))
    assert len(lone.nodes) == 1 and lone.named("c") and not lone.edges


# ---- hardening: text Graphviz would misread, odd names (issue 16, class 6) ------------------------------------------


def rendered(source: str) -> str:
    """The SVG that `dot` makes of `source` (the test fails when dot rejects it)."""
    proc = subprocess.run(["dot", "-Tsvg"], input=source.encode("utf-8"), capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode("utf-8")


def svg_texts(svg: str) -> list[str]:
    return [xml.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def svg_tooltips(svg: str) -> list[str]:
    return [xml.unescape(t) for t in re.findall(r'xlink:title="([^"]*)"', svg)]


def small_graph(name: object = "a", label: str = "t=1"):
    a = Tensor([1.0, 2.0], requires_grad=True, name=name)
    with scope(label):
        h = (a * a).tanh()
        h.name = name
    L = h.sum()
    L.name = "L"
    L.backward()
    return L


@needs_dot
@pytest.mark.parametrize("steps", ["expand", "collapse"])
def test_empty_scope_and_composite_labels_write_no_empty_font(steps):
    a = Tensor([1.0, 2.0], requires_grad=True, name="a")
    with scope("t=1/"):  # a scope nested in t=1 with an empty label
        h = a.tanh()
        h.name = "h"
    with scope("/x"):  # an empty top-level label
        with composite(""):
            k = h * 2.0
    L = k.sum()
    L.name = "L"
    L.backward()
    source = to_dot(L, steps=steps, grads=True)
    assert not re.search(r"<FONT[^>]*></FONT>|<B></B>", source)  # an empty element is a syntax error for dot
    rendered(source)


@needs_dot
@pytest.mark.parametrize("name", ["a\\Nb", "\\G", "\\L\\T\\H\\E", "x\\", '\\"q', "\\\\N"])
def test_graphviz_escapes_in_names_stay_literal(name):
    L = small_graph(name)
    svg = rendered(to_dot(L, title=name))
    assert svg_texts(svg).count(name) >= 3  # the leaf's box, h's box and the title: not the node's or graph's name
    assert sum(t.startswith(f"{name} (leaf)") for t in svg_tooltips(svg)) == 1


@needs_dot
def test_names_beyond_graphviz_string_limit_are_clipped():
    long = "x" * 20_000  # Graphviz refuses any string longer than 16,384 bytes
    a = Tensor(np.arange(3000.0), requires_grad=True, name=long)
    with scope("s" * 20_000):
        h = a.tanh()
        h.name = long
    L = h.sum()
    L.name = "L"
    L.backward()
    rows = (("r" * 20_000, "#000000"),) * 50
    notes = Annotations({"L": Annotation(rows, "#ffffff")}, legend=(("#ffffff", "m" * 20_000),) * 40, heading="q" * 999)
    source = to_dot(L, values=True, grads=True, title=long, annotations=notes, max_numbers=10**6)
    svg = rendered(source)
    assert "x" * 79 + "…" in svg_texts(svg) and max(map(len, svg_texts(svg))) < 205
    assert max(map(len, source.splitlines())) < 16_384


@pytest.mark.parametrize("name", [5, 2.5, ("h", 1), b"raw"])
@pytest.mark.parametrize("steps", ["expand", "collapse"])
def test_any_name_draws_as_its_text(name, steps):
    L = small_graph(name)
    source = to_dot(L, steps=steps, grads=True)
    if steps == "expand":
        assert len(Dot(source).named(str(name))) == 2  # the leaf and h
    else:
        assert html(str(name)) in source  # the step box names the state it passes on
