"""The interactive explorer: one self-contained HTML page to inspect a graph and step through its backward pass.

`explore(root, "graph.html")` writes a page with everything inline — script, style, the Graphviz SVG of the
drawing (`draw.layout_of` + `dot.write`, laid out once per variant), and the numbers as JSON — so that it opens
offline in any current browser and fetches nothing. On the page:

    inspect      hover or click a node: the panel (#info) shows its name, op, shape, value and gradient (numbers and a
                 colour strip), the local derivative from the op's entry in the derivative table (`ops.py`), and
                 what the annotations say of it (e.g. the lecture's formula and its error against autodiff)
    step         buttons, the slider and the arrow keys walk the backward pass in the engine's visiting order (the
                 numbering of `draw.backward_steps` and `render_frames`): the op visited is outlined, the edges that
                 carry its gradient to its inputs glow, and a node shows its gradient only once backward reached it
    toggles      values, gradients, the gradient heat-map, the annotations' colouring, composites expanded or
                 collapsed (two precomputed drawings)

Contract for automated tests: every drawn node is an SVG group `g.node` with `data-node="<box id>"` (the layout's
id, e.g. "n12", "n12v") and `data-name="<the node's name, or empty>"` (empty on op ellipses and collapsed boxes);
the panel is `#info`; the stepper is `#step-prev`, `#step-next`, `#step-slider`, and `#step-index` holds the step
(0 = before backward, N = `draw.backward_steps(root)` = done); the nodes reached so far carry the class `reached` —
an op's boxes from the step that visits it, a leaf's once every op using it was visited (its gradient complete),
as in `render_frames`. The page sets `document.body.dataset.ready = "1"` once it is interactive. In the panel, the
value and the gradient are tables (`#info table[data-what=value]`, `[data-what=grad]`) whose cells show each number
as Python's format(x, ".4g") does and hold it to 6 significant digits in `data-x`.

The page's parts live in `tinygrad_rnn/static/` (explorer.html, explorer.css, explorer.js) and are inlined here;
this module builds the data and the SVG (`explorer_svg.py` marks Graphviz's SVG for the page).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, cast

import numpy as np

from tinygrad_rnn import functional, ops
from tinygrad_rnn.annotations import Annotations
from tinygrad_rnn.dot import HEAT, Style, heat_scale, make_style, write
from tinygrad_rnn.draw import layout_of
from tinygrad_rnn.explorer_svg import edge_key, mark_svg, svg_of
from tinygrad_rnn.fmt import norm
from tinygrad_rnn.layout import Box, Graph, Layout, name_text
from tinygrad_rnn.tensor import Tensor, topological_order

__all__ = ["explore", "page", "page_data", "derivative_rule", "MAX_STORED"]

MAX_STORED = 1024  # numbers kept per array on the page (a 32×32 matrix); larger ones keep norm, min and max too
_STATIC = ("explorer.html", "explorer.css", "explorer.js")
_TOGGLES = ("values", "grads", "heatmap")
# the derivative of an op that is not a primitive of ops.py
_EXTRA_RULES = {"detach": ("out = a, cut from the graph", "no gradient flows back through it")}


# ---- the derivative table -------------------------------------------------------------------------------------------


def _rules() -> dict[str, tuple[str, ...]]:
    """op name → the parts of its docstring's first line (the forward, then the derivative), from ops.py."""
    table: dict[str, tuple[str, ...]] = dict(_EXTRA_RULES)
    for cls in vars(ops).values():
        if isinstance(cls, type) and issubclass(cls, ops.Function) and cls.name != ops.Function.name and cls.__doc__:
            first = cls.__doc__.strip().splitlines()[0]
            table[cls.name] = tuple(" ".join(p.split()) for p in re.split(r"\s{3,}", first) if p.strip())
    return table


_RULES = _rules()


def derivative_rule(op: str | None) -> tuple[str, ...]:
    """The entry of `op` in the derivative table: ("out = tanh(a)", "∂out/∂a = 1 − tanh²(a) = 1 − out²", …);
    () for a leaf or an op the table does not know."""
    return _RULES.get(op, ()) if op else ()


def _composite_rule(name: str) -> str:
    """The first line of a composite function's docstring (functional.py), or ""."""
    fn = getattr(functional, name, None)
    doc = getattr(fn, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


# ---- numbers --------------------------------------------------------------------------------------------------------


def _number(x: float) -> float | None:
    """6 significant digits (enough for the panel; JSON stays small); None for nan and ±inf."""
    return float(f"{x:.6g}") if math.isfinite(x) else None


def _array(a: np.ndarray | None) -> dict[str, Any] | None:
    """An array for the page: its first MAX_STORED numbers (row-major) and its norm; min and max too when cut."""
    if a is None:
        return None
    flat = np.asarray(a, dtype=np.float64).reshape(-1)
    out: dict[str, Any] = {"x": [_number(v) for v in flat[:MAX_STORED].tolist()], "norm": _number(norm(flat))}
    finite = flat[np.isfinite(flat)]
    if flat.size > MAX_STORED and finite.size:
        out.update(min=_number(float(finite.min())), max=_number(float(finite.max())))
    return out


def _lean(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry without its empty fields ("", [], False): the page reads a missing field as empty."""
    return {k: v for k, v in entry.items() if v is not None and v != "" and v != [] and v is not False}


def _calls(t: Tensor) -> tuple[tuple[Any, int], ...]:
    """The composite calls that made `t`, outermost first: (name, the engine's number of the call)."""
    return cast("tuple[tuple[Any, int], ...]", t.composite)


def _parents(t: Tensor) -> tuple[Tensor, ...]:
    return t.parents


# ---- the engine's order ---------------------------------------------------------------------------------------------


def _visits(root: Tensor, place: Mapping[int, int]) -> list[int]:
    """The places of the ops in the order backward visits them (step k visits visits[k − 1]); none when nothing
    needs a gradient (backward would refuse to run)."""
    if not root.requires_grad:
        return []
    return [place[id(t)] for t in reversed(topological_order(root, grad_only=True)) if t.op is not None]


def _reach(graph: Graph, visit: Mapping[int, int]) -> list[int | None]:
    """The step at which each node's gradient is complete: an op's own visit; a leaf's, the last visit of an op
    using it; None for a node backward never reaches (no gradient)."""
    out = cast("list[int | None]", [])
    for i, t in enumerate(graph.tensors):
        if not t.requires_grad or t.grad is None:
            out.append(None)
        elif t.op is not None:
            out.append(visit.get(i))
        else:
            users = [visit.get(c) for c in graph.consumers[i] if graph.tensors[c].requires_grad]
            known = [k for k in users if k is not None]
            out.append(max(known) if known and len(known) == len(users) else None)
    return out


def _tensor(graph: Graph, i: int, reach: int | None, visit: int | None, numbers: dict) -> dict[str, Any]:
    """One node for the panel; `numbers` renumbers composite calls 1, 2, … by first appearance, as the drawing does."""
    t = graph.tensors[i]
    entry = {
        "name": name_text(t.name),
        "op": t.op or "",
        "shape": list(t.shape),
        "dtype": str(t.dtype),
        "scope": name_text(t.scope),
        "parents": [graph.at(p) for p in _parents(t)],
        "value": _array(t.data),
        "grad": _array(t.grad) if t.requires_grad else None,
        "needs": bool(t.requires_grad),
        "within": [[name_text(n), numbers[(n, k)]] for n, k in _calls(t)],
    }
    return _lean(entry) | {"value": entry["value"], "grad": entry["grad"], "visit": visit, "reach": reach}


# ---- one drawing (variant) ------------------------------------------------------------------------------------------


def _box_places(lay: Layout) -> dict[int, str]:
    """place of an op → the box it is drawn in: its ellipse, or the collapsed box that hides it."""
    out: dict[int, str] = {}
    for box in lay.boxes.values():
        if box.kind in ("op", "group"):
            for t in box.members or box.tensors:
                if lay.graph.has(t) and t.op is not None:
                    out.setdefault(lay.graph.at(t), box.id)
    return out


def _box(lay: Layout, box: Box) -> dict[str, Any]:
    t = box.tensors[0]
    place = lay.graph.at(t) if lay.graph.has(t) else None
    noted = box.kind not in ("ghost", "group", "const") and not (box.kind == "op" and box.id + "v" in lay.boxes)
    rule = _composite_rule(box.title) if box.kind == "group" and not box.is_step else ""
    named = box.kind not in ("op", "group")
    return _lean(
        {
            "kind": box.kind,
            "title": box.title,
            "name": name_text(t.name) if named else "",
            "members": [lay.graph.at(m) for m in box.members if lay.graph.has(m) and m.op is not None],
            "detail": box.detail,
            "step": box.is_step,
            "noted": noted,
            "rule": rule,
        }
    ) | {"t": place}  # None for the lost source of a detach(), which is no node of this graph


def _steps(lay: Layout, order: list[int]) -> tuple[list[list[str]], list[list[str]]]:
    """For each step k = 1 … N: the boxes to outline (the op's box and its value box) and the keys of the edges that
    carry its gradient back to its inputs (parent → op edges whose parent needs a gradient)."""
    where = _box_places(lay)
    into: dict[str, list] = {}
    for e in lay.edges:
        if e.weight_from is not None and e.weight_from.requires_grad and e.kind != "internal":
            into.setdefault(e.head, []).append(e)
    current, carry = [], []
    for i in order:
        t, box = lay.graph.tensors[i], where.get(i)
        boxes = [b for b in (box, f"n{i}v") if b is not None and b in lay.boxes]
        parents = {id(p) for p in _parents(t)}
        keys = [edge_key(e) for e in into.get(box or "", []) if id(e.weight_from) in parents]
        current.append(boxes)
        carry.append(list(dict.fromkeys(keys)))
    return current, carry


def _variant(lay: Layout, style: Style, order: list[int], label: str) -> tuple[dict[str, Any], str]:
    """The data of one drawing and its SVG, marked for the page."""
    boxes = {b: _box(lay, box) for b, box in lay.boxes.items()}
    current, carry = _steps(lay, order)
    svg = mark_svg(svg_of(write(lay, style, None).source), lay, style.max_numbers)
    return {"label": label, "boxes": boxes, "current": current, "carry": carry}, svg


# ---- the page's data ------------------------------------------------------------------------------------------------


def _named_annotations(annotations: Any) -> dict[str, Annotations]:
    if annotations is None:
        return {}
    if isinstance(annotations, Annotations):
        return {annotations.heading or "check": annotations}
    if isinstance(annotations, Mapping) and all(
        isinstance(k, str) and isinstance(v, Annotations) for k, v in annotations.items()
    ):
        return dict(annotations)
    raise TypeError(
        "explore: annotations must be an Annotations, a mapping of names to Annotations, or None; got "
        f"{type(annotations).__name__}"
    )


def _variants(root: Tensor, style: Style) -> list[tuple[str, str, Style]]:
    """(name, label, style) of each drawing: composites expanded, and collapsed (the style's own choice, else every
    composite in the graph); the first is the one the page opens on."""
    names = tuple(dict.fromkeys(name_text(n) for t in topological_order(root) for n, _ in _calls(t)))
    expanded = ("expanded", "composites expanded", replace(style, collapse=()))
    if not names:
        return [expanded]
    collapsed = ("collapsed", "composites collapsed", replace(style, collapse=style.collapse or names))
    return [collapsed, expanded] if style.collapse else [expanded, collapsed]


def _tensors(graph: Graph, order: list[int], notes: Mapping[str, Annotations]) -> list[dict[str, Any]]:
    """Every node for the panel, in topological order, with its visit, its reach and what each annotation set says."""
    visit = {i: k for k, i in enumerate(order, start=1)}
    reach = _reach(graph, visit)
    calls = dict.fromkeys(c for t in graph.tensors for c in _calls(t))
    numbers = {key: k for k, key in enumerate(calls, start=1)}
    tensors = [_tensor(graph, i, reach[i], visit.get(i), numbers) for i in range(len(graph.tensors))]
    for name, a in notes.items():
        for i, t in enumerate(graph.tensors):
            note = a.of(t)
            if note is not None:
                entry = {"rows": [list(r) for r in note.rows], "fill": note.fill, "status": note.status}
                tensors[i].setdefault("checks", {})[name] = entry
    return tensors


def page_data(
    root: Tensor, style: Style, annotations: Mapping[str, Annotations], start: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The page's JSON data and the SVG of each drawing (by variant name). `style` is the drawing's; `start` the
    toggles' starting state (values, grads, heatmap, check)."""
    # the drawing shows every number (the toggles hide them), no colouring (the page paints it) and no title (the
    # page's header has it)
    drawing = replace(style, values=True, grads=True, order=True, heatmap=None, backward_step=None, title=None)
    layouts = [(name, label, layout_of(root, st), st) for name, label, st in _variants(root, drawing)]
    graph = layouts[0][2].graph  # every layout numbers the nodes alike: by their place in the topological order
    order = _visits(root, graph.place)
    variants, svgs = {}, {}
    for name, label, lay, st in layouts:
        variants[name], svgs[name] = _variant(lay, st, order, label)
    lo, hi = heat_scale([norm(t.grad) for t in graph.tensors if t.grad is not None and t.requires_grad])
    data = {
        "title": style.title or "",
        "steps": len(order),
        "order": order,
        "tensors": _tensors(graph, order, annotations),
        "variants": variants,
        "variant": layouts[0][0],
        "checks": {
            name: {"heading": a.heading, "legend": [list(e) for e in a.legend]} for name, a in annotations.items()
        },
        "heat": {"colours": list(HEAT), "lo": lo, "hi": hi},
        "rules": {op: list(derivative_rule(op)) for op in dict.fromkeys(t.op for t in graph.tensors) if op},
        "start": dict(start),
    }
    return data, svgs


# ---- the page -------------------------------------------------------------------------------------------------------


def _static(name: str) -> str:
    """A part of the page from tinygrad_rnn/static/ (shipped as package data)."""
    part = resources.files("tinygrad_rnn").joinpath("static").joinpath(name)
    if not part.is_file():
        raise FileNotFoundError(
            f"explore: the page's part tinygrad_rnn/static/{name} is missing from the installed package (its "
            "package-data must list static/*); reinstall tinygrad_rnn"
        )
    return part.read_text(encoding="utf-8")


def _script_json(data: Any) -> str:
    """JSON safe inside <script>: no "</" (which could close the element) and no "<!--"."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def page(data: Mapping[str, Any], svgs: Mapping[str, str]) -> str:
    """The HTML page: the template of static/explorer.html with the style, the script, the data and one <template>
    per drawing inlined."""
    template, css, js = (_static(n) for n in _STATIC)
    title = str(data["title"]) or "Backward pass explorer"
    drawings = "\n".join(f'<template id="variant-{name}">{svg}</template>' for name, svg in svgs.items())
    parts = {
        "TITLE": html.escape(title),
        "CSS": css,
        "JS": js.replace("</script", "<\\/script"),
        "DATA": _script_json(data),
        "DRAWINGS": drawings,
    }
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: parts[m.group(1)], template)


def _start(shorthands: dict[str, Any], check: str | None, notes: Mapping[str, Annotations]) -> dict[str, Any]:
    """The toggles' starting state, taken out of the shorthands (values and gradients shown unless told)."""
    start = {k: shorthands.pop(k) for k in _TOGGLES if k in shorthands}
    make_style(None, start, "explore")  # the same checks as any style field
    if check is not None and check not in notes:
        names = ", ".join(map(repr, notes)) or "none were given"
        raise ValueError(f"explore: check must name one of the annotations ({names}), got {check!r}")
    return {
        "values": bool(start.get("values", True)),
        "grads": bool(start.get("grads", True)),
        "heatmap": start.get("heatmap") == "grad",
        "check": check or "",
    }


def explore(
    root: Tensor,
    path: str | Path,
    style: Style | str | None = None,
    *,
    annotations: Annotations | Mapping[str, Annotations] | None = None,
    check: str | None = None,
    **shorthands: Any,
) -> Path:
    """G ↦ one self-contained HTML page (written to `path`) to inspect the graph of `root` and step through its
    backward pass. Returns the path.

    style        the drawing's Style, a preset's name or None; shorthands set its fields as in `draw` (collapse=,
                 steps=, direction=, title=, legend=, max_numbers=, …)
    values, grads, heatmap="grad"   the toggles' starting state (default: values and gradients shown, no heat-map)
    annotations  what a checker says of the nodes: an Annotations, or several by name ({"corrected": …,
                 "printed": …}); the panel shows each node's rows, and the check toggle fills the nodes by one set
    check        the name of the annotation set the page opens coloured by (None: no colouring)

    Call `root.backward()` first: the page steps through the gradients the nodes hold.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"explore: root must be a Tensor, got {type(root).__name__}")
    if not isinstance(path, (str, Path)):
        raise TypeError(f"explore: path must be a str or a Path, got {type(path).__name__}")
    if root.requires_grad and root.grad is None:
        raise ValueError("explore: call backward() on the root first — the page steps through its gradients")
    notes = _named_annotations(annotations)
    start = _start(shorthands, check, notes)
    data, svgs = page_data(root, make_style(style, shorthands, "explore"), notes, start)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(data, svgs), encoding="utf-8")
    return path
