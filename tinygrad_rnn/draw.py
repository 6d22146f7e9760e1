"""Graphviz drawings of computational graphs, grouped by time step: G = (tensors, parent → child edges).

`draw(root)` returns a `graphviz.Digraph` (it displays inline in Jupyter); `render(root, "g.png")` writes the picture
and, always, `g.dot` beside it; `to_dot(root)` is the DOT text; `render_frames(root, dir)` writes one picture per
step of the backward pass. The drawing knows no model: it reads only what the engine records on every node
(`name`, `op`, `parents`, `scope`, `composite`, `detached_from`, `data`, `grad`).

What the picture shows
    * One cluster per top-level scope ("t=1", "t=2", … — one time step), laid out along the time axis; nested
      scopes nest. Nodes of a composite function (softmax, tanh, …) sit in a small dashed sub-cluster, or, with
      `collapse=("softmax", …)`, are drawn as one box.
    * Value boxes for named tensors and leaves (label: name, then shape; optionally values and the gradient); small
      ellipses for ops (add "+", matmul "@", …). Parameters (leaves with requires_grad outside every scope) are
      drawn once, beside the first step, with a light edge to every step that uses them.
    * The state carried from one step into the next (h_{t−1} → step t) is drawn bold; an edge cut by `detach()`
      is dashed and marked ✂.

Colour legend (also drawn under the picture with `legend=True`)
    parameters        blue    #cfe2ff
    inputs / targets  grey    #e9ecef   (leaves that need no gradient)
    constants         light grey #f1f3f5 (unnamed leaves, labelled with their numbers)
    interior values   white   #ffffff
    ops               yellow  #fff3cd   (small ellipses)
    composite (box)   orange  #ffe5d0   (collapsed composite function or collapsed time step)
    loss              green   #d1e7dd   (the root and the terms summed into it)
    gradients         red text #b02a37
    edges             bold black: the state carried into the next step; light blue: a parameter's use;
                      dashed with ✂: cut by detach()
    heat-map          yellow → dark red = small → large log10 ‖∂L/∂node‖
    lecture check     green ≤ 1e-6 < amber ≤ 1e-3 < red (relative error of the lecture formula)

The DOT text is deterministic: node ids are sequential in topological order (never `id()`), composite instances
are renumbered by first appearance, numbers are printed with fixed significant digits.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinygrad_rnn.tensor import Tensor, topological_order

# ---- palette ------------------------------------------------------------------------------------------------------

FILL = {
    "param": "#cfe2ff",
    "input": "#e9ecef",
    "const": "#f1f3f5",
    "value": "#ffffff",
    "op": "#fff3cd",
    "group": "#ffe5d0",
    "loss": "#d1e7dd",
    "ghost": "#ffffff",
}
BORDER = {
    "param": "#0d6efd",
    "input": "#868e96",
    "const": "#ced4da",
    "value": "#868e96",
    "op": "#c9a227",
    "group": "#e8590c",
    "loss": "#198754",
    "ghost": "#adb5bd",
}
GRAD_RED = "#b02a37"
MUTED = "#6c757d"
ORDER_PURPLE = "#6f42c1"
PARAM_EDGE = "#0d6efd"  # blue, drawn translucent: present, but under the data flow
STATE_EDGE = "#212529"
# colorbrewer YlOrRd-9, light → dark: the heat-map scale (white text on the last four)
HEAT = ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026")
CHECK = {"ok": "#b7e4c7", "close": "#ffe69c", "wrong": "#f5b7b1", "n/a": "#dee2e6"}

OP_SYMBOL = {
    "add": "+",
    "sub": "−",
    "mul": "×",
    "div": "÷",
    "neg": "−x",
    "pow": "xᵖ",
    "matmul": "@",
    "exp": "exp",
    "log": "log",
    "tanh": "tanh",
    "sigmoid": "σ",
    "relu": "relu",
    "abs": "|x|",
    "sum": "Σ",
    "mean": "mean",
    "max": "max",
    "reshape": "reshape",
    "transpose": "ᵀ",
    "getitem": "[ ]",
    "stack": "stack",
    "concatenate": "concat",
    "detach": "detach",
}
# a named scalar reaching the root through these ops only is a term of the loss (L_t in L = Σ_t L_t)
_SUM_OPS = ("add", "sum", "mean", "stack", "concatenate")

FORMULAS = ("corrected", "printed")


# ---- text: escaping and numbers -----------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Replace control characters and lone surrogates (which no DOT or XML parser accepts) by U+FFFD."""
    return "".join("\ufffd" if (unicodedata.category(ch) in ("Cc", "Cs") and ch != "\n") else ch for ch in str(text))


def html(text: str) -> str:
    """Text made safe inside a Graphviz HTML-like label: & < > " ] escaped, newlines as <BR/>.

    (Graphviz reads a "]" right after a tag as the end of a CDATA-like section: "]" → &#93; always.)
    """
    text = _clean(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    text = text.replace("]", "&#93;")
    return text.replace("\n", "<BR/>")


def quoted(text: str) -> str:
    """Text made safe as a double-quoted DOT string (tooltips): backslash and quote escaped, newlines as \\n."""
    import graphviz

    text = _clean(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return graphviz.nohtml(text)


def num(x: float, digits: int = 3) -> str:
    """A number with `digits` significant digits, a true minus sign, and no negative zero."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    text = f"{x:.{digits}g}"
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{int(exp)}"
    return text.replace("-", "−")


def shape_text(shape: tuple) -> str:
    return "×".join(str(n) for n in shape) if shape else "scalar"


def array_text(a: np.ndarray, max_numbers: int) -> str:
    """The numbers themselves when there are few (rows separated by ';'), else ‖·‖ and the range."""
    a = np.asarray(a, dtype=np.float64)
    if a.size <= max_numbers:
        if a.ndim == 0:
            return num(a)
        if a.ndim == 1:
            return "[" + ", ".join(num(v) for v in a) + "]"
        rows = a.reshape(-1, a.shape[-1])
        return "[" + "; ".join(", ".join(num(v) for v in row) for row in rows) + "]"
    if a.size == 0:
        return "empty"
    return f"‖·‖ {num(np.linalg.norm(a))}  [{num(a.min())}, {num(a.max())}]"


def norm(a) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64)))


def _renamed_copy(t: Tensor) -> bool:
    """A detach() copy that got a name of its own (e.g. h_0 of the next chunk in truncated BPTT)."""
    if t.op != "detach" or t.name is None:
        return False
    source = t.detached_from
    return source is None or source.name != t.name


# ---- the drawn graph ----------------------------------------------------------------------------------------------


@dataclass
class _Box:
    """One drawn node: a value, an op, a collapsed composite or a collapsed time step."""

    id: str
    kind: str  # param | input | const | value | loss | op | group | ghost
    title: str  # the name or op symbol
    cluster: tuple[tuple, ...]  # path of clusters, outermost first: ("scope", label) or ("composite", name, k)
    tensors: list = field(default_factory=list)  # what it stands for; tensors[0] is the one its value/grad shows
    detail: str = ""  # e.g. "5 ops" for a collapsed box
    order: int | None = None  # backward visiting number (the first, for a collapsed box)
    order_last: int | None = None  # the last visiting number of a collapsed box
    members: list = field(default_factory=list)  # every tensor a collapsed box hides


@dataclass
class _Line:
    tail: str
    head: str
    kind: str  # data | param | state | detach | internal
    weight_from: Tensor | None = None  # the tensor whose gradient sets the heat-map width
    label: str = ""


class _Layout:
    """Decide which tensor becomes which box, which cluster holds it, and the edges between boxes."""

    def __init__(self, root: Tensor, collapse: tuple[str, ...], steps: str, fan_edges: str, wrap: int):
        self.root = root
        self.tensors = topological_order(root)
        self.index = {id(t): i for i, t in enumerate(self.tensors)}
        self.collapse_steps = steps == "collapse"
        self.boxes: dict[str, _Box] = {}
        self.lines: list[_Line] = []
        self.wrap = wrap
        consumers: dict[int, list[Tensor]] = {id(t): [] for t in self.tensors}
        for t in self.tensors:
            for p in t.parents:
                consumers[id(p)].append(t)
        self.consumers = consumers

        self.step_of = self._steps()
        self.steps = sorted(set(self.step_of.values()), key=self._time.get)
        self.step_rank = {s: k for k, s in enumerate(self.steps)}
        self.fan_edges = fan_edges
        if fan_edges == "auto":
            self.fan_edges = "each" if not self.collapse_steps or len(self.steps) <= 12 else "summary"
        self.loss_terms = self._loss_terms()
        self._composite_numbers: dict[tuple, int] = {}
        self.in_box: dict[int, str] = {}  # tensor -> box that receives its parents' edges
        self.out_box: dict[int, str] = {}  # tensor -> box its consumers' edges start from
        self._place_boxes(collapse)
        self._connect()

    # -- steps: top-level scopes, plus leaves used by one step only and, when steps collapse, loss partial sums --
    def _steps(self) -> dict[int, str]:
        step_of: dict[int, str] = {}
        self._time: dict[str, int] = {}
        for i, t in enumerate(self.tensors):
            if t.scope:
                top = t.scope.split("/")[0]
                step_of[id(t)] = top
                self._time[top] = i  # a step comes after every step it depends on: order by its last node
        members: dict[str, list[Tensor]] = {}
        for t in self.tensors:
            if id(t) in step_of:
                members.setdefault(step_of[id(t)], []).append(t)
        # A leaf outside every scope that one step alone uses is either an initial state (h_0: drawn beside the
        # first step) or, without gradient, an input made before the loop (drawn inside its step). Leaves with a
        # gradient used by several steps are the parameters.
        self.initial_states: set[int] = set()
        for t in self.tensors:
            if t.op is not None or id(t) in step_of or t is self.root:
                continue
            used_in = {step_of.get(id(c)) for c in self.consumers[id(t)]}
            if len(used_in) == 1 and None not in used_in:
                (s,) = used_in
                if self._is_state(t, s, members, step_of):
                    self.initial_states.add(id(t))
                elif not t.requires_grad:
                    step_of[id(t)] = s
        if self.collapse_steps:  # running sums outside the steps (L_1 + L_2 + …) travel with the latest step
            for t in self.tensors:
                if id(t) in step_of or t.op is None or t is self.root:
                    continue
                owners = [step_of[id(p)] for p in t.parents if id(p) in step_of]
                others = [p for p in t.parents if id(p) not in step_of and p.op is not None]
                if t.op == "add" and owners and not others:  # a running sum, not a sum over all steps
                    step_of[id(t)] = max(owners, key=self._time.get)
        return step_of

    def _is_state(self, leaf: Tensor, step: str, members: dict, step_of: dict) -> bool:
        """True when `leaf` plays, in `step`, the part that the previous step's output plays in the next step
        (an initial state such as h_0): found by comparing the consumer with its counterpart one step later."""
        order = sorted(members, key=self._time.get)
        k = order.index(step)
        if k + 1 >= len(order):
            return False
        here, there = members[step], members[order[k + 1]]
        if len(here) != len(there):
            return False
        position = {id(t): i for i, t in enumerate(here)}
        for c in self.consumers[id(leaf)]:
            twin = there[position[id(c)]]
            if twin.op != c.op or len(twin.parents) != len(c.parents):
                return False
            for p, q in zip(c.parents, twin.parents):
                if p is leaf and step_of.get(id(q)) not in (None, order[k + 1]):
                    return True
        return False

    def _loss_terms(self) -> set[int]:
        """The root and every named scalar that reaches it through sums only (L_t in L = Σ_t L_t)."""
        terms, frontier = {id(self.root)}, [self.root]
        while frontier:
            t = frontier.pop()
            if t.op in _SUM_OPS:
                for p in t.parents:
                    if id(p) not in terms and (p.size == 1 or p.op in _SUM_OPS):
                        terms.add(id(p))
                        frontier.append(p)
        named = {i for i in terms if self.tensors[self.index[i]].name and self.tensors[self.index[i]].size == 1}
        return named | {id(self.root)}

    # -- boxes --
    def kind_of(self, t: Tensor) -> str:
        if id(t) in self.loss_terms:
            return "loss"
        if t.op is None or _renamed_copy(t):
            return "param" if self.is_param(t) else "input"
        return "value"

    def is_param(self, t: Tensor) -> bool:
        """A leaf with a gradient, outside every scope, that is not an initial state."""
        return t.op is None and t.requires_grad and t.scope is None and id(t) not in self.initial_states

    def cluster_of(self, t: Tensor) -> tuple[tuple, ...]:
        """Scopes (nested; an adopted input takes its step's), then the composite calls that made the node."""
        step = self.step_of.get(id(t))
        path: tuple[tuple, ...] = ()
        if t.scope and step is not None:
            parts = t.scope.split("/")
            path = tuple(("scope", "/".join(parts[: k + 1])) for k in range(len(parts)))
        elif step is not None:
            path = (("scope", step),)
        for name, instance in t.composite:
            path += (("composite", name, self._composite_number(name, instance)),)
        return path

    def _composite_number(self, name: str, instance: int) -> int:
        key = (name, instance)
        if key not in self._composite_numbers:
            self._composite_numbers[key] = len(self._composite_numbers) + 1
        return self._composite_numbers[key]

    def _add(self, box: _Box) -> str:
        self.boxes[box.id] = box
        return box.id

    def _place_boxes(self, collapse: tuple[str, ...]) -> None:
        groups: dict[tuple, list[Tensor]] = {}
        group_key: dict[int, tuple] = {}
        for t in self.tensors:
            key = None
            if self.collapse_steps and id(t) in self.step_of:
                key = ("step", self.step_of[id(t)])
            else:
                for name, instance in t.composite:
                    if name in collapse:
                        key = ("composite", name, self._composite_number(name, instance))
                        break
            if key is not None and not (key[0] == "composite" and t.op is None and t.requires_grad):
                groups.setdefault(key, []).append(t)
                group_key[id(t)] = key
        self.group_key = group_key

        for i, t in enumerate(self.tensors):
            key = group_key.get(id(t))
            if key is not None:
                self._place_grouped(i, t, key, groups[key])
                continue
            kind = self.kind_of(t)
            if t.op is None or _renamed_copy(t):  # a detach() copy with a name of its own is a leaf like h_0
                if t.name is None and not t.requires_grad:
                    kind = "const"  # an unnamed constant: its numbers are its label
                box = _Box(f"n{i}", kind, t.name or "", self.cluster_of(t), [t])
                self.in_box[id(t)] = self.out_box[id(t)] = self._add(box)
                continue
            op = _Box(f"n{i}", "op", OP_SYMBOL.get(t.op, t.op), self.cluster_of(t), [t])
            self.in_box[id(t)] = self.out_box[id(t)] = self._add(op)
            if (t.name is not None and t.op != "detach") or t is self.root:  # a detach copy keeps its source's name
                value = _Box(f"n{i}v", kind, t.name or "", self.cluster_of(t), [t])
                self.out_box[id(t)] = self._add(value)
                self.lines.append(_Line(op.id, value.id, "internal", t))

    def _place_grouped(self, i: int, t: Tensor, key: tuple, members: list[Tensor]) -> None:
        member_ids = {id(m) for m in members}
        leader = members[0]
        gid = f"g{self.index[id(leader)]}"
        outputs = [m for m in members if m is self.root or any(id(c) not in member_ids for c in self.consumers[id(m)])]
        if gid not in self.boxes:
            if key[0] == "step":
                n_ops = sum(m.op is not None for m in members)
                outputs.sort(key=lambda m: m.name is None)  # named outputs (the state h_t) first
                box = _Box(gid, "group", key[1], (), outputs, f"{n_ops} ops", members=members)
            else:
                n_ops = sum(m.op is not None for m in members)
                cluster = self.cluster_of(outputs[-1])
                inside = (
                    cluster[: cluster.index(("composite", key[1], key[2]))]
                    if key[1:] in [c[1:] for c in cluster]
                    else cluster
                )
                box = _Box(gid, "group", key[1], inside, outputs[-1:], f"{n_ops} ops", members=members)
            self._add(box)
        self.in_box[id(t)] = gid
        self.out_box[id(t)] = gid
        if key[0] == "composite" and t in outputs and t.name is not None:
            box = self.boxes[gid]
            value = _Box(f"n{i}v", self.kind_of(t), t.name, box.cluster, [t])
            self.out_box[id(t)] = self._add(value)
            self.lines.append(_Line(gid, value.id, "internal", t))

    # -- edges --
    def _connect(self) -> None:
        """One edge per (parent, child) pair of boxes; edges into a collapsed box are merged. With
        fan_edges="summary", the edges between one box outside the steps and the collapsed steps (a parameter's
        uses, the sum over all L_t) are drawn once, labelled with how many steps they stand for."""
        seen: set[tuple[str, str]] = set()
        fans: dict[str, _Line] = {}
        fan_steps: dict[str, set[str]] = {}
        for t in self.tensors:
            head = self.in_box[id(t)]
            for p in t.parents:
                tail = self.out_box[id(p)]
                if tail == head and self.group_key.get(id(t)) is not None:
                    continue  # inside a collapsed box
                grouped = id(t) in self.group_key or id(p) in self.group_key
                if grouped and (tail, head) in seen:
                    continue
                seen.add((tail, head))
                line = _Line(tail, head, self._edge_kind(p, t), p)
                outside = self._fan_end(tail, head)
                if outside is not None:
                    fan_steps.setdefault(outside, set()).add(head if outside == tail else tail)
                    if outside in fans:
                        if outside == head:  # a sum over all steps is fed, in the picture, by the last one
                            fans[outside].tail, fans[outside].weight_from = tail, p
                        continue
                    fans[outside] = line
                self.lines.append(line)
        for outside, line in fans.items():
            if len(fan_steps[outside]) > 1:
                line.label = f"all {len(fan_steps[outside])} steps"
        for t in self.tensors:
            head = self.in_box[id(t)]
            if t.op == "detach" and id(t) not in self.group_key:
                source = t.detached_from
                if source is not None and id(source) in self.index:
                    self.lines.append(_Line(self.out_box[id(source)], head, "detach", None))
                elif source is not None:
                    ghost = _Box(f"n{self.index[id(t)]}x", "ghost", source.name or "", self.cluster_of(t), [source])
                    self._add(ghost)
                    self.lines.append(_Line(ghost.id, head, "detach", None))

    def _fan_end(self, tail: str, head: str) -> str | None:
        """In summary mode, the end outside the steps of an edge between it and a collapsed step (else None)."""
        if self.fan_edges != "summary":
            return None
        a, b = self.boxes[tail], self.boxes[head]
        a_step, b_step = (
            a.kind == "group" and a.title in self.step_rank,
            b.kind == "group" and b.title in self.step_rank,
        )
        if a_step != b_step:
            return head if a_step else tail
        return None

    def grid_rows(self) -> list[list[str]]:
        """The collapsed steps in rows of `wrap`."""
        return [self.steps[k : k + self.wrap] for k in range(0, len(self.steps), self.wrap)]

    def runs_backwards(self, line: _Line) -> bool:
        """True for an edge between two collapsed steps in a row drawn right to left (the snake's even rows)."""
        if not self.collapse_steps:
            return False
        a, b = self.boxes[line.tail], self.boxes[line.head]
        if a.kind != "group" or b.kind != "group" or a.title not in self.step_rank or b.title not in self.step_rank:
            return False
        row_a, row_b = self.step_rank[a.title] // self.wrap, self.step_rank[b.title] // self.wrap
        return row_a == row_b and row_a % 2 == 1

    def _edge_kind(self, parent: Tensor, child: Tensor) -> str:
        if self.is_param(parent) and self.steps:
            return "param"
        s_parent, s_child = self.step_of.get(id(parent)), self.step_of.get(id(child))
        if s_child is not None and s_parent != s_child:
            return "state"
        return "data"


# ---- drawing ------------------------------------------------------------------------------------------------------


def _heat_index(value: float, lo: float, hi: float) -> int:
    """Bin of log10(value) on the scale [lo, hi] (decades), 0 … len(HEAT) − 1; monotone in value."""
    if value <= 0:
        return 0
    if hi <= lo:
        return len(HEAT) - 1
    frac = (math.log10(value) - lo) / (hi - lo)
    return min(len(HEAT) - 1, max(0, int(frac * len(HEAT))))


def heat_scale(norms: list[float]) -> tuple[float, float]:
    """Whole decades [lo, hi] covering the positive norms (a scale that reads well in the legend)."""
    positive = [v for v in norms if v > 0 and math.isfinite(v)]
    if not positive:
        return 0.0, 0.0
    lo, hi = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    return float(lo), float(hi if hi > lo else lo + 1)


def _check_class(rel_err) -> str:
    if rel_err is None or not math.isfinite(float(rel_err)):
        return "n/a" if rel_err is None else "wrong"
    return "ok" if rel_err <= 1e-6 else "close" if rel_err <= 1e-3 else "wrong"


class _Painter:
    """Turn the layout into DOT: node labels, colours, clusters, rank hints, the legend."""

    def __init__(self, layout: _Layout, opts: dict):
        self.lay = layout
        self.o = opts
        self.heat_lo = self.heat_hi = 0.0
        if opts["heatmap"]:
            self.heat_lo, self.heat_hi = heat_scale([self._heat_value(t) for t in layout.tensors])
        self.rows = {}
        if opts["compare"] is not None:
            self.rows = {str(r.quantity): r for r in opts["compare"].rows}
        self.visit = {}
        if opts["order"] or opts["backward_step"] is not None:
            grad_nodes = [t for t in reversed(topological_order(layout.root, grad_only=True)) if t.op is not None]
            self.visit = {id(t): k for k, t in enumerate(grad_nodes, start=1)}

    # -- what a tensor shows --
    def _heat_value(self, t: Tensor) -> float:
        if self.o["heatmap"] == "grad":
            return norm(t.grad) if t.grad is not None else -1.0
        return norm(t.data)

    def _grad_visible(self, t: Tensor) -> bool:
        step = self.o["backward_step"]
        if t.grad is None:
            return False
        if step is None:
            return True
        if t.op is not None:
            return self.visit.get(id(t), math.inf) <= step
        users = [c for c in self.lay.consumers[id(t)] if c.requires_grad]
        return bool(users) and all(self.visit.get(id(c), math.inf) <= step for c in users)

    def tooltip(self, box: _Box) -> str:
        lines = []
        for t in box.tensors[:6]:
            head = t.name or OP_SYMBOL.get(t.op or "", t.op or "leaf")
            made = f" = {t.op}({', '.join(p.name or (p.op or 'leaf') for p in t.parents)})" if t.op else " (leaf)"
            lines.append(f"{head}{made}")
            lines.append(f"  shape {shape_text(t.shape)} {t.dtype}" + (f", scope {t.scope}" if t.scope else ""))
            lines.append(f"  value {array_text(t.data, 8)}")
            if t.grad is not None:
                lines.append(f"  grad  {array_text(t.grad, 8)}")
        if len(box.tensors) > 6:
            lines.append(f"… and {len(box.tensors) - 6} more")
        if box.detail:
            lines.append(box.detail)
        return "\n".join(lines)

    def label(self, box: _Box) -> str:
        """An HTML-like label: name and shape, then the optional rows (values, gradient, lecture check, order)."""
        o = self.o
        t = box.tensors[0] if box.tensors else None
        rows = []
        number = f"{box.order}–{box.order_last}" if box.order_last != box.order else str(box.order)
        badge = f'<FONT COLOR="{ORDER_PURPLE}" POINT-SIZE="9"><B>{number}</B></FONT> ' if box.order else ""
        if box.kind == "const":
            return f'<<FONT POINT-SIZE="10">{html(array_text(t.data, o["max_numbers"]))}</FONT>>'
        if box.kind == "op":
            if not o["op_values"] or t.name is not None:
                return f"<{badge}{html(box.title)}>"
            rows.append(f"<TR><TD>{badge}{html(box.title)}</TD></TR>")
            if o["values"]:
                rows.append(self._row(array_text(t.data, o["max_numbers"]), "#212529", 1))
            if o["grads"] and self._grad_visible(t):
                rows.append(self._row("∇ " + array_text(t.grad, o["max_numbers"]), self._grad_colour(box), 1))
            return self._table(rows)
        title = f"<B>{html(box.title)}</B>" if box.title else ""
        if box.kind == "group" and self.lay.collapse_steps:  # a time step: its label, then the state it passes on
            rows.append(f"<TR><TD><B>{badge}{html(box.title.replace('=', ' = '))}</B></TD></TR>")
            carried = box.tensors[0]
            if carried.name:
                text = carried.name
                if o["grads"] and self._grad_visible(carried):
                    text += f"  ∇ {num(norm(carried.grad), 2)}"
                rows.append(self._row(text, self._grad_colour(box), 1))
            return self._table(rows)
        if box.kind == "group":
            detail = f'<FONT COLOR="{MUTED}" POINT-SIZE="9">{html(box.detail)}</FONT>'
            rows.append(f"<TR><TD>{badge}{title}</TD><TD>{detail}</TD></TR>")
            return self._table(rows)
        shape = f'<FONT COLOR="{MUTED}" POINT-SIZE="9">{html(shape_text(t.shape))}</FONT>'
        if box.kind == "ghost":
            title = f"<I>{title or 'detached'}</I>"
        rows.append(f'<TR><TD ALIGN="LEFT">{badge}{title}</TD><TD ALIGN="RIGHT">{shape}</TD></TR>')
        if o["values"] and box.kind != "ghost":
            rows.append(self._row(array_text(t.data, o["max_numbers"]), "#212529"))
        if o["grads"] and self._grad_visible(t):
            rows.append(self._row("∇ " + array_text(t.grad, o["max_numbers"]), self._grad_colour(box)))
        row = self.rows.get(str(t.name)) if t.name is not None else None
        if row is not None:
            rows.extend(self._check_rows(row))
        return self._table(rows)

    def _grad_colour(self, box: _Box) -> str:
        return "#ffffff" if self._text_on_dark(box) else GRAD_RED

    def _text_on_dark(self, box: _Box) -> bool:
        return self.fill(box) in HEAT[5:]

    def _row(self, text: str, colour: str, span: int = 2) -> str:
        return f'<TR><TD COLSPAN="{span}"><FONT POINT-SIZE="9" COLOR="{colour}">{html(text)}</FONT></TD></TR>'

    def _check_rows(self, row) -> list[str]:
        printed = self.o["formula"] == "printed"
        lecture = row.as_printed if printed else row.corrected
        rel = row.printed_rel_err if printed else row.rel_err
        verdict = row.printed_verdict if printed else row.verdict
        which = "lecture (as printed)" if printed else "lecture"
        out = [self._row(f"autodiff ‖·‖ {num(norm(row.autodiff), 4)}", "#212529")]
        if lecture is None:
            out.append(self._row(f"{which}: n/a", MUTED))
        else:
            out.append(self._row(f"{which} ‖·‖ {num(norm(lecture), 4)}", "#212529"))
        rel_text = "rel. error n/a" if rel is None else f"rel. error {num(rel, 2)}"
        out.append(self._row(f"{rel_text}  {verdict}" if verdict is not None else rel_text, "#212529"))
        return out

    @staticmethod
    def _table(rows: list[str]) -> str:
        return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"

    def fill(self, box: _Box) -> str:
        t = box.tensors[0] if box.tensors else None
        if t is not None and box.kind != "ghost":
            row = self.rows.get(str(t.name)) if t.name is not None and box.kind != "op" else None
            if row is not None:
                printed = self.o["formula"] == "printed"
                return CHECK[_check_class(row.printed_rel_err if printed else row.rel_err)]
            if self.o["heatmap"]:
                value = self._heat_value(t)
                if value >= 0 and (self.o["heatmap"] != "grad" or self._grad_visible(t)):
                    return HEAT[_heat_index(value, self.heat_lo, self.heat_hi)]
        return FILL[box.kind]

    def node_attrs(self, box: _Box) -> dict[str, str]:
        attrs = {"label": self.label(box), "tooltip": quoted(self.tooltip(box)), "fillcolor": self.fill(box)}
        attrs["color"] = BORDER[box.kind]
        if box.kind == "op" and "<TABLE" in attrs["label"]:  # an op with its numbers: a compact box
            attrs.update(shape="box", style="rounded,filled", fontsize="10", margin="0.05,0.03")
        elif box.kind == "op":
            attrs.update(shape="ellipse", style="filled", fontsize="10", height="0.25", width="0.35", margin="0.03")
        elif box.kind == "const":
            attrs.update(shape="box", style="rounded,filled", height="0.25", margin="0.05,0.02")
        elif box.kind == "ghost":
            attrs.update(shape="box", style="rounded,dashed", margin="0.06,0.04")
        elif box.kind == "group":
            attrs.update(shape="box", style="rounded,filled,bold", margin="0.08,0.05")
            if self.lay.collapse_steps and box.title in self.lay.step_rank:
                attrs["width"] = "1.25"  # one width for every step, so the rows line up as a grid
        else:
            attrs.update(shape="box", style="rounded,filled", margin="0.06,0.04")
        if self._text_on_dark(box):
            attrs["fontcolor"] = "#ffffff"
        if box.order is not None and box.order == self.o["backward_step"]:
            attrs.update(color=ORDER_PURPLE, penwidth="3")
        return attrs

    def edge_attrs(self, line: _Line) -> dict[str, str]:
        attrs: dict[str, str] = {}
        if line.label:
            attrs.update(label=line.label, fontsize="10", fontcolor=MUTED)
        if line.kind == "param":
            # 40% opaque for a few steps, fainter for many (their edges overlap into one line)
            alpha = max(0x20, min(0x66, 0x66 * 4 // max(1, len(self.lay.steps))))
            attrs.update(color=f"{PARAM_EDGE}{alpha:02x}", constraint="false", arrowsize="0.5", penwidth="0.8")
        elif line.kind == "state":
            attrs.update(color=STATE_EDGE, penwidth="2.4")
        elif line.kind == "detach":
            attrs.update(style="dashed", color=MUTED, label="✂", fontsize="14", fontcolor=MUTED)
        heat_width = self.o["heatmap"] == "grad" and line.kind != "param"
        if heat_width and line.weight_from is not None and line.weight_from.grad is not None:
            frac = (_heat_index(norm(line.weight_from.grad), self.heat_lo, self.heat_hi) + 1) / len(HEAT)
            attrs["penwidth"] = num(0.5 + 3.5 * frac, 2)
        if self.visit and self.o["backward_step"] is not None:
            head = self.lay.boxes[line.head]
            done = head.order is not None and head.order <= self.o["backward_step"]
            if done and line.kind != "detach" and line.weight_from is not None and line.weight_from.requires_grad:
                attrs.update(color=GRAD_RED, penwidth="2")
        return attrs


def draw(
    root: Tensor,
    *,
    values: bool = False,
    grads: bool = False,
    heatmap: str | None = None,
    collapse: tuple[str, ...] | list[str] = (),
    steps: str = "expand",
    direction: str = "LR",
    legend: bool = True,
    compare=None,
    formula: str = "corrected",
    order: bool = False,
    backward_step: int | None = None,
    op_values: bool = False,
    title: str | None = None,
    max_numbers: int = 4,
    wrap: int = 20,
    fan_edges: str = "auto",
):
    """G ↦ a graphviz.Digraph of the graph that computed `root`, one cluster per time step.

    values / grads     print each value box's numbers (or ‖·‖ and range when more than `max_numbers`) / gradient
    op_values          print them on the ops of unnamed intermediate results too (for small decompositions)
    heatmap            "grad": fill by log10 ‖∂L/∂node‖ (after backward), edges as wide as their tail's gradient;
                       "value": by log10 ‖node‖
    collapse           composite names (e.g. ("softmax", "tanh")) drawn as one box each; their output stays a value
    steps              "expand" or "collapse" (each time step one box, rows of `wrap` steps — for long sequences)
    direction          "LR": time left → right, inputs at the bottom, loss on top; "TB": time top → bottom
    compare, formula   a `lecture.compare` report: the lecture's gradient beside the engine's, node coloured by the
                       relative error of the "corrected" or "printed" formula
    order              number the ops in the order backward visits them; backward_step=k draws the state after
                       k of them (gradients found so far in red)
    fan_edges          how edges between a box outside the steps and the steps are drawn: "each" (every
                       parameter to every step that uses it, every L_t into the sum), "summary" (one edge, labelled
                       with the number of steps), "auto" (summary only for more than 12 collapsed steps)
    wrap               collapsed steps per row (rows snake: left → right, then right → left)
    """
    import graphviz

    if not isinstance(root, Tensor):
        raise TypeError(f"draw: root must be a Tensor, got {type(root).__name__}")
    if steps not in ("expand", "collapse"):
        raise ValueError(f"draw: steps must be 'expand' or 'collapse', got {steps!r}")
    if direction not in ("LR", "TB"):
        raise ValueError(f"draw: direction must be 'LR' or 'TB', got {direction!r}")
    if heatmap not in (None, "grad", "value"):
        raise ValueError(f"draw: heatmap must be None, 'grad' or 'value', got {heatmap!r}")
    if formula not in FORMULAS:
        raise ValueError(f"draw: formula must be 'corrected' or 'printed', got {formula!r}")
    if fan_edges not in ("auto", "each", "summary"):
        raise ValueError(f"draw: fan_edges must be 'auto', 'each' or 'summary', got {fan_edges!r}")
    if isinstance(collapse, str):
        collapse = tuple(c.strip() for c in collapse.split(",") if c.strip())
    if heatmap == "grad" and root.requires_grad and root.grad is None:
        raise ValueError("draw(heatmap='grad'): call backward() on the root first — no gradients to colour by")
    if not isinstance(wrap, int) or wrap < 1:
        raise ValueError(f"draw: wrap must be a whole number ≥ 1, got {wrap!r}")

    lay = _Layout(root, tuple(collapse), steps, fan_edges, wrap)
    opts = dict(
        values=values,
        grads=grads,
        heatmap=heatmap,
        compare=compare,
        formula=formula,
        order=order,
        backward_step=backward_step,
        max_numbers=max_numbers,
        op_values=op_values,
    )
    painter = _Painter(lay, opts)
    for box in lay.boxes.values():
        if order or backward_step is not None:
            box.order, box.order_last = _visit_numbers(box, painter.visit)

    g = graphviz.Digraph("G")
    collapsed = steps == "collapse"
    if collapsed:
        rankdir = "TB" if direction == "LR" else "LR"
    else:
        rankdir = "BT" if direction == "LR" else "LR"
    g.attr("graph", rankdir=rankdir, newrank="true", nodesep="0.22", ranksep="0.28", fontname="Helvetica")
    g.attr("graph", compound="true", outputorder="edgesfirst")
    g.attr("node", fontname="Helvetica", fontsize="12")
    g.attr("edge", arrowsize="0.6", color="#495057")
    caption = _caption(title, legend, painter, lay)
    if caption:
        g.attr("graph", label=caption, labelloc="b" if legend else "t", fontsize="13")

    _emit(g, lay, painter)
    return g


def _visit_numbers(box: _Box, visit: dict) -> tuple[int | None, int | None]:
    """(first, last) number backward gives the ops of a box (both None for value boxes)."""
    numbers = [visit[id(t)] for t in (box.members or box.tensors) if id(t) in visit]
    if box.kind in ("op", "group") and numbers:
        return min(numbers), max(numbers)
    return None, None


def _emit(g, lay: _Layout, painter: _Painter) -> None:
    """Write clusters (nested by scope, then composite), nodes, edges (in the innermost cluster holding both
    ends, so cross-cluster edges are at the top level), then the rank hints that line steps up in time."""
    children: dict[tuple, list[tuple]] = {}
    for box in lay.boxes.values():
        for k in range(len(box.cluster)):
            parent, child = box.cluster[:k], box.cluster[: k + 1]
            children.setdefault(parent, [])
            if child not in children[parent]:
                children[parent].append(child)
    by_cluster: dict[tuple, list[_Box]] = {}
    for box in lay.boxes.values():
        by_cluster.setdefault(box.cluster, []).append(box)
    lines_in: dict[tuple, list[_Line]] = {}
    for line in lay.lines:
        a, b = lay.boxes[line.tail].cluster, lay.boxes[line.head].cluster
        k = 0
        while k < min(len(a), len(b)) and a[k] == b[k]:
            k += 1
        lines_in.setdefault(a[:k], []).append(line)
    numbering = {}

    def cluster_id(path: tuple) -> str:
        numbering.setdefault(path, len(numbering) + 1)
        return f"cluster_{numbering[path]}"

    def fill(sub, path: tuple) -> None:
        for child in children.get(path, []):
            with sub.subgraph(name=cluster_id(child)) as c:
                name = child[-1]
                if name[0] == "composite":
                    c.attr(label=_html_label(name[1], 9), style="rounded,dashed", color=BORDER["op"])
                    c.attr(fontcolor="#8a6d0b", margin="6")
                else:
                    c.attr(label=_html_label(name[1].split("/")[-1].replace("=", " = "), 12), labelloc="b")
                    c.attr(style="rounded,filled", color="#adb5bd", fillcolor="#f8f9fa", margin="8")
                fill(c, child)
        for box in by_cluster.get(path, []):
            sub.node(box.id, **painter.node_attrs(box))
        for line in lines_in.get(path, []):
            if lay.runs_backwards(line):  # written head → tail so Graphviz keeps the row's order; arrow unchanged
                sub.edge(line.head, line.tail, dir="back", **painter.edge_attrs(line))
            else:
                sub.edge(line.tail, line.head, **painter.edge_attrs(line))

    fill(g, ())
    if lay.collapse_steps:
        _grid_hints(g, lay)
    else:
        _rank_hints(g, lay)


def _html_label(text: str, size: int) -> str:
    return f'<<FONT POINT-SIZE="{size}">{html(text)}</FONT>>'


def _rank_hints(g, lay: _Layout) -> None:
    """Line the steps up along the time axis.

    Boxes at the same depth inside their step share a rank across steps; a parameter shares the rank of its first
    user and an initial state (h_0) that of the box it feeds. Graphviz does not keep clusters in order by itself, so
    an invisible row of anchors under the picture — one for the parameters and initial states, then one per step,
    joined left to right — fixes the order: parameters beside the first step, then t = 1, 2, …
    """
    preds: dict[str, list[str]] = {b: [] for b in lay.boxes}
    for ln in lay.lines:
        if ln.kind in ("data", "internal", "detach"):
            preds[ln.head].append(ln.tail)
    level = _levels(lay.boxes, preds)
    step_of = {b: box.cluster[0][1] for b, box in lay.boxes.items() if box.cluster and box.cluster[0][0] == "scope"}
    if not lay.steps:
        return
    by_level: dict[int, list[str]] = {}
    for b in lay.boxes:
        if b in step_of:
            by_level.setdefault(level[b], []).append(b)
    beside: list[str] = []  # parameters and initial states: the column left of the first step
    receives_state: set[str] = set()
    for ln in lay.lines:
        if ln.head not in step_of or ln.kind not in ("param", "state"):
            continue
        if ln.kind == "state":
            receives_state.add(ln.head)
        if ln.tail not in step_of and ln.tail not in beside:
            beside.append(ln.tail)
            by_level.setdefault(level[ln.head], []).append(ln.tail)
    for lv in sorted(by_level):
        members = by_level[lv]
        if len({step_of.get(b) for b in members}) > 1:
            g.body.append("\t{rank=same; " + " ".join(members) + "}\n")

    anchors = []

    def anchor(name: str, targets: list[str]) -> None:
        anchors.append(name)
        g.node(name, shape="point", style="invis", width="0", height="0", label="")
        for b in targets:
            g.edge(name, b, style="invis")

    if beside:
        anchor("k0", beside)
    for k, s in enumerate(lay.steps, start=1):
        bottom = [b for b in step_of if step_of[b] == s and level[b] == 0]
        bottom.sort(key=lambda b: b not in receives_state)  # what arrives from the previous step sits left
        for a, b in zip(bottom, bottom[1:]):
            g.edge(a, b, style="invis")
        anchor(f"k{k}", bottom[:1])
    g.body.append("\t{rank=min; " + " ".join(anchors) + "}\n")
    for a, b in zip(anchors, anchors[1:]):
        g.edge(a, b, style="invis")


def _levels(boxes, preds: dict[str, list[str]]) -> dict[str, int]:
    """Longest-path depth of each box from the sources (Kahn's order: deterministic, no recursion)."""
    waiting = {b: len(preds[b]) for b in boxes}
    children: dict[str, list[str]] = {b: [] for b in boxes}
    for b in boxes:
        for p in preds[b]:
            children[p].append(b)
    level = {b: 0 for b in boxes}
    ready = [b for b in boxes if waiting[b] == 0]
    while ready:
        b = ready.pop()
        for c in children[b]:
            level[c] = max(level[c], level[b] + 1)
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    return level


def _grid_hints(g, lay: _Layout) -> None:
    """Collapsed steps in rows of `wrap`, snaking (row 1 left → right, row 2 right → left, …) so that every edge
    from one step to the next is short; each row is one rank, kept in order by invisible edges."""
    boxes = {box.title: b for b, box in lay.boxes.items() if box.kind == "group"}
    rows = [[boxes[s] for s in row if s in boxes] for row in lay.grid_rows()]
    for k, row in enumerate(rows):
        g.body.append("\t{rank=same; " + " ".join(row) + "}\n")
        left_to_right = row if k % 2 == 0 else row[::-1]
        for a, b in zip(left_to_right, left_to_right[1:]):
            g.edge(a, b, style="invis")


def _caption(title: str | None, legend: bool, painter: _Painter, lay: _Layout) -> str:
    """The graph label: the title and, with legend=True, a colour key (plus heat-map and lecture-check scales)."""
    rows = []
    if title:
        rows.append(f'<TR><TD COLSPAN="20"><FONT POINT-SIZE="15">{html(title)}</FONT></TD></TR>')
    if legend:
        kinds = {box.kind for box in lay.boxes.values()}
        lines = {line.kind for line in lay.lines}
        cells = []
        for kind, text in (
            ("param", "parameter"),
            ("input", "input / target"),
            ("const", "constant"),
            ("value", "value"),
            ("op", "op"),
            ("group", "collapsed"),
            ("loss", "loss"),
        ):
            if kind == "param" and not lay.steps:
                text = "leaf with gradient"
            if kind in kinds or (kind == "value" and "ghost" in kinds):
                cells.append(f'<TD BGCOLOR="{FILL[kind]}" BORDER="1" COLOR="{BORDER[kind]}"> {text} </TD>')
        if "state" in lines:
            cells.append(f'<TD><FONT COLOR="{STATE_EDGE}"><B>━━</B></FONT> carried state</TD>')
        if "param" in lines:
            cells.append('<TD><FONT COLOR="#6ea8fe">──</FONT> parameter use</TD>')
        if "detach" in lines:
            cells.append(f'<TD><FONT COLOR="{MUTED}">╌ ✂ ╌</FONT> detach (no gradient)</TD>')
        if painter.o["grads"]:
            cells.append(f'<TD><FONT COLOR="{GRAD_RED}">∇ gradient ∂L/∂node</FONT></TD>')
        rows.append(
            '<TR><TD><TABLE BORDER="0" CELLSPACING="4" CELLPADDING="2"><TR>'
            + "".join(cells)
            + "</TR></TABLE></TD></TR>"
        )
        if painter.o["heatmap"]:
            what = "‖∂L/∂node‖" if painter.o["heatmap"] == "grad" else "‖node‖"
            lo, hi = painter.heat_lo, painter.heat_hi
            swatches = "".join(f'<TD BGCOLOR="{c}" WIDTH="22"> </TD>' for c in HEAT)
            scale = f"<TD>{html(what)}:  1e{int(lo)} </TD>{swatches}<TD> 1e{int(hi)}  (log scale)</TD>".replace(
                "-", "−"
            )
            rows.append(f'<TR><TD><TABLE BORDER="0" CELLSPACING="0" CELLPADDING="2"><TR>{scale}</TR></TABLE></TD></TR>')
        if painter.rows:
            which = "as printed" if painter.o["formula"] == "printed" else "corrected"
            key = "".join(
                f'<TD BGCOLOR="{CHECK[k]}" BORDER="1" COLOR="#adb5bd"> {text} </TD>'
                for k, text in (("ok", "≤ 1e−6"), ("close", "≤ 1e−3"), ("wrong", "larger"), ("n/a", "n/a"))
            )
            intro = f"<TD>relative error, lecture ({which}) vs autodiff:</TD>"
            rows.append(
                f'<TR><TD><TABLE BORDER="0" CELLSPACING="4" CELLPADDING="2"><TR>{intro}{key}</TR></TABLE></TD></TR>'
            )
    if not rows:
        return ""
    return '<<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="2">' + "".join(rows) + "</TABLE>>"


def to_dot(root: Tensor, **options) -> str:
    """The DOT text of draw(root, **options): the same graph gives byte-identical text."""
    return draw(root, **options).source


# ---- rendering ----------------------------------------------------------------------------------------------------

INSTALL_HELP = (
    "Graphviz's `dot` program was not found on PATH, so the picture could not be rendered "
    "(the DOT source was written to {dot_path}). Install Graphviz:\n"
    "  Debian/Ubuntu:  sudo apt-get install graphviz\n"
    "  macOS:          brew install graphviz\n"
    "  conda:          conda install -c conda-forge graphviz\n"
    "then run again, or render the .dot yourself: dot -T{fmt} {dot_path} -o {path}"
)


class GraphvizNotFoundError(RuntimeError):
    """The `dot` executable is missing: the .dot file was written, the picture was not."""


def render(root: Tensor, path: str | Path, format: str | None = None, **options) -> Path:
    """Write the drawing of `root` to `path` (png, svg or pdf, from `format` or the suffix) and its DOT source
    beside it (path with suffix .dot). Returns the picture's path. Options are those of `draw`."""
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"render: format must be png, svg or pdf (from format= or the file suffix), got {fmt!r}")
    if path.suffix.lower() != f".{fmt}":
        path = path.with_name(path.name + f".{fmt}")
    path.parent.mkdir(parents=True, exist_ok=True)
    dot_path = path.with_suffix(".dot")
    dot_path.write_text(to_dot(root, **options), encoding="utf-8")
    render_dot(dot_path, path, fmt)
    return path


def render_dot(dot_path: Path, path: Path, fmt: str) -> None:
    """Run Graphviz's `dot` on a .dot file; a clear error with install commands if it is missing."""
    exe = shutil.which("dot", path=os.environ.get("PATH", ""))
    if exe is None:
        raise GraphvizNotFoundError(INSTALL_HELP.format(dot_path=dot_path, fmt=fmt, path=path))
    proc = subprocess.run([exe, f"-T{fmt}", str(dot_path), "-o", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"render: dot failed on {dot_path} (exit {proc.returncode}): {proc.stderr.strip()}")


def backward_steps(root: Tensor) -> int:
    """The number of ops backward visits from `root` (the frames of `render_frames` are 0 … this number)."""
    return sum(t.op is not None for t in topological_order(root, grad_only=True))


def render_frames(root: Tensor, directory: str | Path, format: str = "png", **options) -> list[Path]:
    """Frame k (k = 0 … backward_steps(root)) shows the graph after backward has visited k ops: the gradients found
    so far in red, the op just visited outlined. Written as frame_000.<format>, … (each with its .dot); for slides."""
    if root.requires_grad and root.grad is None:
        raise ValueError("render_frames: call backward() on the root first — the frames show its gradients")
    directory = Path(directory)
    options = {**options, "grads": True, "order": True}
    n = backward_steps(root)
    width = max(3, len(str(n)))
    return [
        render(root, directory / f"frame_{k:0{width}d}.{format}", format, backward_step=k, **options)
        for k in range(n + 1)
    ]
