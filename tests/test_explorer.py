"""The explorer page without a browser: one self-contained file, the contract's attributes on every drawn node, the
engine's visiting order and the `reached` steps (held against the frames of `render_frames`), the numbers of the
panel, the derivative table, the lecture's formulas, determinism, escaping, errors and the CLI. The page in a real
browser: test_explorer_browser.py."""

from __future__ import annotations

import html as xml
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn import Tensor, ops, scope
from tinygrad_rnn import functional as F
from tinygrad_rnn.annotations import Annotation, Annotations
from tinygrad_rnn.demo import DEMO_COLLAPSE, demo_report, random_problem
from tinygrad_rnn.dot import make_style
from tinygrad_rnn.draw import backward_steps, layout_of, to_dot
from tinygrad_rnn.explorer import MAX_STORED, derivative_rule, explore
from tinygrad_rnn.explorer_lecture import explore_demo, explore_problem, formula, lecture_annotations
from tinygrad_rnn.report import compare
from tinygrad_rnn.tensor import topological_order

ROOT = Path(__file__).resolve().parents[1]
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed (CI installs it)")
pytestmark = needs_dot
SVG_NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


# ---- reading a page back --------------------------------------------------------------------------------------------


class Page:
    """The page's data (the JSON), its drawings (SVG text by variant) and, per drawing, the drawn nodes and edges."""

    def __init__(self, text: str):
        self.text = text
        m = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', text, re.S)
        assert m, "no data"
        self.data = json.loads(m.group(1))
        self.svgs = dict(re.findall(r'<template id="variant-(\w+)">(.*?)</template>', text, re.S))
        self.nodes = {v: re.findall(r'<g class="node" ([^>]*)>', svg) for v, svg in self.svgs.items()}
        self.edges = {v: re.findall(r'<g class="edge" data-edge="([^"]*)"', svg) for v, svg in self.svgs.items()}

    def attrs(self, variant: str) -> list[dict[str, str]]:
        return [{k: xml.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', a)} for a in self.nodes[variant]]


def lecture_page(tmp_path: Path, T: int = 3, **options) -> tuple[Page, Tensor]:
    rnn, xs, ys = random_problem(T, 3, 4, 3, seed=1)
    report = compare(rnn, xs, ys)
    path = explore(report.loss, tmp_path / "page.html", annotations=lecture_annotations(report), **options)
    return Page(path.read_text(encoding="utf-8")), report.loss


@pytest.fixture(scope="module")
def t3(tmp_path_factory):
    return lecture_page(tmp_path_factory.mktemp("t3"), collapse=DEMO_COLLAPSE)


# ---- one self-contained file ----------------------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_the_page_is_one_file_that_fetches_nothing(t3):
    page, _ = t3
    tags = _Tags()
    tags.feed(page.text)
    for tag, attrs in tags.tags:
        for key in ("src", "href", "xlink:href", "action", "poster", "data"):
            value = attrs.get(key)
            assert value is None or value.startswith(("data:", "#")), (tag, key, value)
        assert not (tag == "link" and attrs.get("rel") == "stylesheet"), "a stylesheet link"
    scripts = [attrs for tag, attrs in tags.tags if tag == "script"]
    assert len(scripts) == 2 and not any("src" in s for s in scripts)  # the data and the code, both inline
    urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[\w/.-]*", page.text))
    assert urls <= SVG_NAMESPACES, urls - SVG_NAMESPACES
    assert "@import" not in page.text and "url(" not in page.text
    assert "<?xml" not in page.text and "<!DOCTYPE svg" not in page.text
    assert not re.findall(r"\{\{[A-Z]+\}\}", page.text)  # every part of the template was filled in
    template = (ROOT / "tinygrad_rnn" / "static" / "explorer.html").read_text()
    assert sorted(re.findall(r"\{\{([A-Z]+)\}\}", template)) == ["CSS", "DATA", "DRAWINGS", "JS", "TITLE", "TITLE"]


def test_every_drawn_node_carries_the_contract_attributes(t3):
    page, loss = t3
    assert set(page.svgs) == {"collapsed", "expanded"} and page.data["variant"] == "collapsed"
    for variant, st in (("collapsed", dict(collapse=DEMO_COLLAPSE)), ("expanded", {})):
        lay = layout_of(loss, make_style(None, st, "test"))
        drawn = page.attrs(variant)
        assert [a["data-node"] for a in drawn] == [a["data-node"] for a in drawn if a["data-node"] in lay.boxes]
        assert {a["data-node"] for a in drawn} == set(lay.boxes)  # every box is drawn once, nothing else is
        assert len(drawn) == len(lay.boxes)
        for a in drawn:
            box = lay.boxes[a["data-node"]]
            expected = "" if box.kind in ("op", "group") else (box.tensors[0].name or "")
            assert a["data-name"] == expected, a
        assert set(page.data["variants"][variant]["boxes"]) == set(lay.boxes)
    names = {a["data-name"] for a in page.attrs("expanded")}
    assert {"W", "U", "V", "b", "c", "h_0", "h_1", "h_3", "o_2", "L_3", "L"} <= names
    # the page's own elements of the contract
    for element in ('id="info"', 'id="step-prev"', 'id="step-next"', 'id="step-slider"', 'id="step-index"'):
        assert page.text.count(element) == 1, element


def test_titles_and_tooltips_are_gone_and_rows_are_classed(t3):
    page, _ = t3
    for svg in page.svgs.values():
        assert "<title>" not in svg and "xlink:title" not in svg and 'font-family="Helvetica' not in svg
        assert svg.count('<text class="g"') > 10 and svg.count('<text class="v"') > 10
        for row in re.findall(r'<text class="g"[^>]*>([^<]*)</text>', svg):
            assert "∇" in xml.unescape(row)


# ---- the engine's order and what is reached when ------------------------------------------------------------------


def test_the_steps_are_the_engines_visiting_order(t3):
    page, loss = t3
    tensors = topological_order(loss)
    place = {id(t): i for i, t in enumerate(tensors)}
    visited = [place[id(t)] for t in reversed(topological_order(loss, grad_only=True)) if t.op is not None]
    assert page.data["steps"] == backward_steps(loss) == len(visited)
    assert page.data["order"] == visited
    for k, i in enumerate(visited, start=1):
        assert page.data["tensors"][i]["visit"] == k


def _dot_rows(source: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*(\w+) \[(.*)\]$", source, re.M))


@pytest.mark.parametrize("variant", ["collapsed", "expanded"])
def test_a_node_is_reached_exactly_when_its_frame_shows_its_gradient(t3, variant):
    """The independent witness: `to_dot(…, backward_step=k)` prints a value box's gradient once backward reached it."""
    page, loss = t3
    collapse = DEMO_COLLAPSE if variant == "collapsed" else ()
    boxes = page.data["variants"][variant]["boxes"]
    tensors = page.data["tensors"]
    for k in range(page.data["steps"] + 1):
        rows = _dot_rows(to_dot(loss, grads=True, collapse=collapse, backward_step=k, legend=False))
        for box_id, box in boxes.items():
            if box["kind"] in ("op", "group", "const", "ghost"):
                continue
            reach = tensors[box["t"]]["reach"]
            assert (reach is not None and reach <= k) == ("∇" in rows[box_id]), (k, box_id)


def test_each_step_outlines_the_op_and_lights_the_edges_into_it(t3):
    page, loss = t3
    for name, variant in page.data["variants"].items():
        drawn_edges = set(page.edges[name])
        assert len(variant["current"]) == len(variant["carry"]) == page.data["steps"]
        for k, (current, carry) in enumerate(zip(variant["current"], variant["carry"]), start=1):
            op = page.data["tensors"][page.data["order"][k - 1]]
            box = variant["boxes"][current[0]]
            assert box["kind"] in ("op", "group")
            assert box["t"] == page.data["order"][k - 1] or page.data["order"][k - 1] in box.get("members", [])
            assert set(carry) <= drawn_edges
            assert all(key.split(":")[1] == current[0] for key in carry), (k, carry)
            needs = [p for p in op.get("parents", []) if page.data["tensors"][p].get("needs")]
            if needs and box["kind"] == "op":
                assert carry, f"step {k}: nothing carries the gradient of {op} back"


def test_leaves_are_reached_once_their_last_use_was_visited(t3):
    page, loss = t3
    tensors = page.data["tensors"]
    by_name = {t["name"]: t for t in tensors if t.get("name") and "op" not in t}
    assert by_name["W"]["reach"] == page.data["steps"]  # W x_1 is the last op backward visits (or near it)
    assert by_name["x_1"]["reach"] is None and by_name["x_1"]["grad"] is None  # an input needs no gradient
    for t in tensors:
        if t.get("op"):
            assert t["reach"] == t["visit"]


# ---- the numbers of the panel ---------------------------------------------------------------------------------------


def test_values_and_gradients_are_the_engines(t3):
    page, loss = t3
    for t, entry in zip(topological_order(loss), page.data["tensors"]):
        assert entry.get("shape", []) == list(t.shape)
        np.testing.assert_allclose(entry["value"]["x"], t.data.reshape(-1)[:MAX_STORED], rtol=5e-6, atol=1e-12)
        if t.requires_grad:
            np.testing.assert_allclose(entry["grad"]["x"], t.grad.reshape(-1)[:MAX_STORED], rtol=5e-6, atol=1e-12)
            assert entry["grad"]["norm"] == pytest.approx(np.linalg.norm(t.grad), rel=1e-5)
        else:
            assert entry["grad"] is None


def test_a_large_array_is_cut_and_keeps_its_range(tmp_path):
    x = Tensor(np.linspace(-1, 1, 40 * 40).reshape(40, 40), requires_grad=True, name="x")
    y = (x * x).sum()
    y.backward()
    data = Page(explore(y, tmp_path / "big.html").read_text()).data
    entry = next(t for t in data["tensors"] if t.get("name") == "x")
    assert len(entry["value"]["x"]) == MAX_STORED and entry["value"]["min"] == -1 and entry["value"]["max"] == 1


def test_every_primitive_has_its_entry_of_the_derivative_table():
    for cls in vars(ops).values():
        if isinstance(cls, type) and issubclass(cls, ops.Function) and cls.name != ops.Function.name:  # not a base
            rule = derivative_rule(cls.name)
            assert rule and rule[0].startswith("out ="), cls.name
            assert "∂" in " ".join(rule), cls.name
    assert derivative_rule("tanh")[1] == "∂out/∂a = 1 − tanh²(a) = 1 − out²"
    assert derivative_rule(None) == () and derivative_rule("no-such-op") == ()


def test_the_page_gives_each_op_its_rule_and_each_collapsed_box_its_composite(t3):
    page, _ = t3
    for op, rule in page.data["rules"].items():
        assert list(derivative_rule(op)) == rule
    groups = [b for b in page.data["variants"]["collapsed"]["boxes"].values() if b["kind"] == "group"]
    assert {b["title"] for b in groups} == {"softmax", "cross_entropy"}
    for b in groups:
        assert b["rule"] == getattr(F, b["title"]).__doc__.strip().splitlines()[0]


# ---- the lecture's formulas -----------------------------------------------------------------------------------------


def test_formulas_are_written_out_for_their_step():
    assert formula("h_2", "corrected", 3) == "∇_{h_2}L = Uᵀ diag(1 − h_3²) ∇_{h_3}L + Vᵀ ∇_{o_2}L"
    assert formula("h_2", "printed", 3) == "∇_{h_2}L = Wᵀ (∇_{h_3}L) diag(1 − h_3²) + Vᵀ ∇_{o_2}L"
    assert formula("h_3", "corrected", 3).startswith("∇_{h_3}L = Vᵀ ∇_{o_3}L")
    assert formula("o_1", "printed", 3) == "∇_{o_1}L = ŷ_1 − y_1"
    assert formula("W", "corrected", 3).endswith("x_tᵀ") and formula("W", "printed", 3).endswith("h_{t−1}ᵀ")
    assert formula("b", "printed", 3) is None
    with pytest.raises(ValueError, match="formula: reading"):
        formula("W", "wrong", 3)
    with pytest.raises(ValueError, match="no quantity 'z_1'"):
        formula("z_1", "corrected", 3)


def test_each_lecture_node_shows_its_formula_and_its_error(t3):
    page, _ = t3
    tensors = {t["name"]: t for t in page.data["tensors"] if t.get("name") and "checks" in t}
    assert {"W", "U", "V", "b", "c", "h_1", "h_2", "h_3", "o_1", "o_3"} <= set(tensors)
    assert set(page.data["checks"]) == {"corrected", "printed"}
    w = tensors["W"]["checks"]
    assert w["corrected"]["rows"][0][0].startswith("∇_W L = Σ_t diag(1 − h_t²) ∇_{h_t}L x_tᵀ")
    assert any("rel. error" in text for text, _ in w["corrected"]["rows"]) and w["corrected"]["status"] == "ok"
    assert w["printed"]["status"] == "does not type-check"  # D = 3, H = 4
    assert tensors["b"]["checks"]["printed"]["rows"][0][0].startswith("not in the lecture")


# ---- determinism, variants, escaping, errors ------------------------------------------------------------------------


def test_the_same_graph_gives_the_same_bytes(tmp_path):
    rnn, xs, ys = random_problem(2, 2, 3, 2, seed=4)
    loss = rnn.loss(xs, ys)
    loss.backward()
    a = explore(loss, tmp_path / "a.html").read_bytes()
    b = explore(loss, tmp_path / "b.html").read_bytes()
    assert a == b


def test_a_graph_without_composites_has_one_drawing_and_a_leaf_root_none_to_step(tmp_path):
    a, b = Tensor([1.0, 2.0], requires_grad=True, name="a"), Tensor([3.0, 4.0], requires_grad=True, name="b")
    y = (a * b).sum()
    y.name = "y"
    y.backward()
    page = Page(explore(y, tmp_path / "plain.html").read_text())
    assert list(page.svgs) == ["expanded"] and page.data["steps"] == 2
    c = Tensor([1.0], name="c")  # nothing needs a gradient: values only, no steps
    page = Page(explore(c * 2.0, tmp_path / "const.html").read_text())
    assert page.data["steps"] == 0 and page.data["order"] == []


def test_collapsed_steps_and_detach_are_explorable(tmp_path):
    rnn, xs, ys = random_problem(6, 2, 3, 2, seed=2)
    loss = rnn.loss(xs, ys)
    loss.backward()
    page = Page(explore(loss, tmp_path / "steps.html", steps="collapse").read_text())
    boxes = page.data["variants"]["expanded"]["boxes"]
    assert sum(b.get("step", False) for b in boxes.values()) == 6
    assert all(carry for carry in page.data["variants"]["expanded"]["carry"][:1])
    h = Tensor([0.5, -0.5], requires_grad=True, name="h")
    with scope("t=1"):
        z = (h * 2.0).detach() * h
    z = z.sum()
    z.backward()
    page = Page(explore(z, tmp_path / "detach.html").read_text())
    assert page.data["steps"] == backward_steps(z)


def test_names_cannot_break_out_of_the_page(tmp_path):
    nasty = '</script></template><b onclick="x">&amp; {{DATA}} ]]> \' "'
    x = Tensor([1.0, 2.0], requires_grad=True, name=nasty)
    y = (x * x).sum()
    y.backward()
    notes = Annotations({nasty: Annotation(((nasty, "#000"),), "#ffffff", "ok")}, (("#ffffff", nasty),), nasty)
    text = explore(y, tmp_path / "nasty.html", annotations=notes, title=nasty).read_text()
    page = Page(text)
    outside = re.sub(r'<script type="application/json" id="explorer-data">.*?</script>', "", text, flags=re.S)
    assert outside.count("</script>") == 1 and outside.count("</template>") == 1 and "<b onclick" not in outside
    assert "<\\/script>" in text  # inside the data, "</" is written "<\/"
    assert page.data["tensors"][0]["name"] == nasty and page.data["title"] == nasty
    assert page.attrs("expanded")[0]["data-name"] == nasty


def test_errors_name_the_function_and_the_argument(tmp_path):
    x = Tensor([1.0], requires_grad=True)
    y = x * 2.0
    with pytest.raises(TypeError, match="explore: root must be a Tensor"):
        explore(np.ones(2), tmp_path / "a.html")
    with pytest.raises(TypeError, match="explore: path must be"):
        explore(y, 3)
    with pytest.raises(ValueError, match=r"explore: call backward\(\)"):
        explore(y, tmp_path / "a.html")
    y.backward(np.ones(1))
    with pytest.raises(TypeError, match="explore: annotations must be"):
        explore(y, tmp_path / "a.html", annotations={"a": 1})
    with pytest.raises(ValueError, match="explore: check must name one of the annotations"):
        explore(y, tmp_path / "a.html", check="printed")
    with pytest.raises(TypeError, match="explore: unknown keyword"):
        explore(y, tmp_path / "a.html", colour=True)
    with pytest.raises(TypeError, match="explore: values must be True or False"):
        explore(y, tmp_path / "a.html", values="yes")


def test_the_toggles_start_as_told(tmp_path):
    page, _ = lecture_page(tmp_path, T=2, values=False, heatmap="grad", check="printed")
    assert page.data["start"] == {"values": False, "grads": True, "heatmap": True, "check": "printed"}


def test_the_page_stays_small_at_30_steps(tmp_path):
    """The size bound of the issue (< 2 MB at T = 30); benchmarks/bench_explorer.py measures it and the load time."""
    path = explore_problem(30, out=tmp_path / "t30.html", collapse=DEMO_COLLAPSE)
    assert path.stat().st_size < 2_000_000


# ---- the demo, the command line, the package -------------------------------------------------------------------------


def test_the_demo_writes_its_page(tmp_path):
    path = explore_demo(demo_report(), tmp_path / "demo.html")
    page = Page(path.read_text())
    assert page.data["start"]["check"] == "printed" and page.data["variant"] == "collapsed"
    assert "hel" in page.data["title"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinygrad_rnn", *args], capture_output=True, text=True, cwd=cwd)


def test_the_explore_command(tmp_path):
    done = _cli("explore", "--steps", "2", "--hidden", "3", "--colour", "corrected", "--out", "g.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and (tmp_path / "g.html").exists()
    page = Page((tmp_path / "g.html").read_text())
    assert page.data["start"]["check"] == "corrected" and page.data["steps"] > 0
    bad = [
        (["--out", "g.png"], "--out must end in .html"),
        (["--out", "no/such/folder/g.html"], "does not exist"),
        (["--colour", "printed", "--no-check", "--out", "g.html"], "--no-check leaves out"),
        (["--steps", "201", "--out", "g.html"], "--no-check"),
    ]
    for args, message in bad:
        done = _cli("explore", *args, cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    done = _cli("explore", "--steps", "2", "--no-check", "--collapse", "", "--out", "plain.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = Page((tmp_path / "plain.html").read_text())
    assert page.data["checks"] == {} and page.data["variant"] == "expanded"


def test_the_page_ships_with_the_package_and_knows_no_model():
    from importlib import resources

    static = resources.files("tinygrad_rnn").joinpath("static")
    for name in ("explorer.html", "explorer.css", "explorer.js"):
        assert static.joinpath(name).is_file(), name
    source = "".join((ROOT / "tinygrad_rnn" / f).read_text() for f in ("explorer.py", "explorer_svg.py"))
    for module in ("rnn", "lstm", "module", "report", "lecture", "demo"):
        assert not re.search(rf"^from tinygrad_rnn(\.| import ){module}\b", source, re.M), module
