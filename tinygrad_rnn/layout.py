"""Layout of a computational graph for drawing: G = (tensors, parent → child edges) ↦ groups, boxes, edges, hints.

Plain data, no Graphviz: the DOT writer (`dot.py`) turns a `Layout` into DOT text. Two layouts:

    layout(root, collapse=())         expanded: one group (cluster) per time step, each node a box
    layout_collapsed(root, wrap=20)   one box per time step, in rows of `wrap` (for T = 1000)

Both are pipelines of small stages that take and return data:

    graph_of(root)          the nodes in topological order (parents first) and each node's consumers
    assign_steps(graph)     the time step of each node (its top-level scope, "t=3"), the steps in time order
    loss_terms(graph)       the root and the named scalars summed into it (L_t in L = Σ_t L_t)
    place_boxes(…)          which node becomes which box (a value, an op, a collapsed composite or step), where
    connect(…)              the edges between boxes, each of a kind: data | param | state | detach | internal
    rank_hints / grid_hints where things go: same-rank rows and invisible edges that keep the time order
    nest(boxes, edges)      the group tree: each group's sub-groups, boxes and the edges inside it

The initial states h_0, c_0 are the nodes in the scope "t=0" (the models make them there): expanded, they sit in a
small "t = 0" group left of the first step (collapsed, beside it), the state edge out of them bold like every
h_{t−1} → step t; a leaf outside that scope is never taken for an initial state. Parameters —
leaves with a gradient outside every scope — are drawn once, beside the first step. A leaf without gradient made
outside the steps and used by one step only (an input made before the loop) is drawn inside that step.

Nodes are referred to by their place in the topological order, so every id is sequential and the same graph gives
the same layout; `id()` serves only to find a node's place and never reaches the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinygrad_rnn.tensor import Tensor, topological_order

# fmt: off
__all__ = [
    "INITIAL", "Graph", "Steps", "Box", "Edge", "Group", "SameRank",
    "Point", "Invisible", "Hint", "Layout", "graph_of", "assign_steps", "loss_terms",
    "place_boxes", "connect", "rank_hints", "grid_hints", "nest", "layout", "layout_collapsed",
    "name_text",
]
# fmt: on

INITIAL = "t=0"  # the scope of the initial states (Recurrent.initial_state)

# a named scalar reaching the root through these ops only is a term of the loss (L_t in L = Σ_t L_t)
_SUM_OPS = ("add", "sum", "mean", "stack", "concatenate")

Cluster = tuple  # ("scope", "t=1/gate") or ("composite", name, k): one level of a box's group path


# ---- data -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Graph:
    """The nodes `root` depends on, parents first; consumers[i]: the places of the nodes that use node i."""

    root: Tensor
    tensors: tuple[Tensor, ...]
    consumers: tuple[tuple[int, ...], ...]
    place: dict[int, int]  # id(node) → its place in `tensors` (a lookup only)

    def at(self, t: Tensor) -> int:
        """The place of node `t` in the topological order."""
        return self.place[id(t)]

    def has(self, t: Tensor) -> bool:
        """True when `t` is a node of this graph."""
        return id(t) in self.place


@dataclass(frozen=True)
class Steps:
    """of: place → step label ("t=3"; INITIAL for the initial states); order: the steps in time order (not t=0)."""

    of: dict[int, str]
    order: tuple[str, ...]


@dataclass
class Box:
    """One drawn node: a value, an op, a collapsed composite or a collapsed time step."""

    id: str
    kind: str  # param | state | input | const | value | loss | op | group | ghost
    title: str  # the name, the op (e.g. "matmul"), the composite or the step
    cluster: tuple[Cluster, ...]  # the groups holding it, outermost first
    tensors: tuple[Tensor, ...]  # what it stands for; tensors[0] is the one whose value and gradient show
    detail: str = ""  # e.g. "5 ops" for a collapsed box
    members: tuple[Tensor, ...] = ()  # every node a collapsed box hides
    is_step: bool = False  # a collapsed time step


@dataclass
class Edge:
    """An edge between two boxes; `weight_from`: the node whose gradient sets its width in a heat-map; `backwards`:
    written head → tail (with the arrow turned back) so that Graphviz keeps a right-to-left row in order."""

    tail: str
    head: str
    kind: str  # data | param | state | detach | internal
    weight_from: Tensor | None = None
    label: str = ""
    backwards: bool = False


@dataclass
class Group:
    """A cluster: kind step | initial | scope | composite, its label, sub-groups, boxes and the edges inside it."""

    path: tuple[Cluster, ...]
    kind: str
    label: str
    children: list[tuple[Cluster, ...]] = field(default_factory=list)
    boxes: list[str] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


@dataclass(frozen=True)
class SameRank:
    """These boxes share a rank ("same"), or sit on the first rank ("min")."""

    boxes: tuple[str, ...]
    rank: str = "same"


@dataclass(frozen=True)
class Point:
    """An invisible anchor point (its id names no box)."""

    id: str


@dataclass(frozen=True)
class Invisible:
    """An invisible edge that keeps `tail` before `head`."""

    tail: str
    head: str


Hint = SameRank | Point | Invisible


@dataclass
class Layout:
    """What to draw and where: boxes, edges, the group tree (groups[()] is the top), position hints, the steps."""

    graph: Graph
    steps: Steps
    boxes: dict[str, Box]
    edges: list[Edge]
    groups: dict[tuple, Group]
    hints: list[Hint]
    collapsed: bool = False  # one box per step


@dataclass
class _Placement:
    boxes: dict[str, Box]
    edges: list[Edge]  # the internal edges op → value
    in_box: dict[int, str]  # place → the box that receives its parents' edges
    out_box: dict[int, str]  # place → the box its consumers' edges start from
    grouped: set[int]  # places hidden in a collapsed box


# ---- stages ---------------------------------------------------------------------------------------------------------


def name_text(name: object) -> str:
    """A node's name as text ("" for None); any object prints by str()."""
    return "" if name is None else str(name)


def graph_of(root: Tensor) -> Graph:
    """The graph that computed `root`: its nodes in topological order and each node's consumers."""
    tensors = tuple(topological_order(root))
    place = {id(t): i for i, t in enumerate(tensors)}
    consumers: list[list[int]] = [[] for _ in tensors]
    for i, t in enumerate(tensors):
        for p in t.parents:
            consumers[place[id(p)]].append(i)
    return Graph(root, tensors, tuple(map(tuple, consumers)), place)


def _top_scope(t: Tensor) -> str | None:
    return str(t.scope).split("/")[0] if t.scope else None


def assign_steps(graph: Graph) -> Steps:
    """Each node's step: its top-level scope, or, for a leaf without gradient outside every scope that one step
    alone uses, that step. Steps in time order: a step comes after every step it depends on (its last node)."""
    of: dict[int, str] = {}
    last: dict[str, int] = {}
    for i, t in enumerate(graph.tensors):
        top = _top_scope(t)
        if top is not None:
            of[i] = top
            last[top] = i
    for i, t in enumerate(graph.tensors):
        if t.op is not None or i in of or t is graph.root or t.requires_grad:
            continue
        used_in = {of.get(c) for c in graph.consumers[i]}
        if len(used_in) == 1 and None not in used_in and INITIAL not in used_in:
            of[i] = str(used_in.pop())
    order = tuple(sorted((s for s in last if s != INITIAL), key=last.__getitem__))
    return Steps(of, order)


def loss_terms(graph: Graph) -> frozenset[int]:
    """The root and every named scalar that reaches it through sums only (L_t in L = Σ_t L_t)."""
    root = graph.at(graph.root)
    terms, frontier = {root}, [graph.root]
    while frontier:
        t = frontier.pop()
        if t.op in _SUM_OPS:
            for p in t.parents:
                k = graph.at(p)
                if k not in terms and (p.size == 1 or p.op in _SUM_OPS):
                    terms.add(k)
                    frontier.append(p)
    named = {k for k in terms if graph.tensors[k].name is not None and graph.tensors[k].size == 1}
    return frozenset(named | {root})


def _is_param(t: Tensor) -> bool:
    """A leaf with a gradient outside every scope."""
    return t.op is None and t.requires_grad and not t.scope


def _renamed_copy(t: Tensor) -> bool:
    """A detach() copy that got a name of its own (e.g. h_0 of the next chunk in truncated BPTT): drawn as a leaf."""
    if t.op != "detach" or t.name is None:
        return False
    source = t.detached_from
    return source is None or source.name != t.name


def _kind(graph: Graph, steps: Steps, terms: frozenset[int], i: int) -> str:
    t = graph.tensors[i]
    if t.op is None or _renamed_copy(t):
        if t.name is None and not t.requires_grad:
            return "const"  # an unnamed constant: its numbers are its label
        if i in terms:
            return "loss"
        if steps.of.get(i) == INITIAL:
            return "state"
        return "param" if _is_param(t) else "input"
    return "loss" if i in terms else "value"


def _composite_numbers(graph: Graph) -> dict[tuple, int]:
    """Composite calls renumbered 1, 2, … by first appearance (the engine's numbers depend on what ran before)."""
    numbers: dict[tuple, int] = {}
    for t in graph.tensors:
        for key in t.composite:
            numbers.setdefault(key, len(numbers) + 1)
    return numbers


def _cluster_of(t: Tensor, step: str | None, numbers: dict[tuple, int]) -> tuple[Cluster, ...]:
    """Scopes (nested; an adopted input takes its step's), then the composite calls that made the node."""
    path: tuple[Cluster, ...] = ()
    if t.scope and step is not None:
        parts = str(t.scope).split("/")
        path = tuple(("scope", "/".join(parts[: k + 1])) for k in range(len(parts)))
    elif step is not None:
        path = (("scope", step),)
    for name, instance in t.composite:
        path += (("composite", name_text(name), numbers[(name, instance)]),)
    return path


def _composite_groups(graph: Graph, collapse: tuple[str, ...], numbers: dict[tuple, int]) -> dict[int, tuple]:
    """place → ("composite", name, k) for the nodes of a collapsed composite call (not the parameters it uses)."""
    group_of: dict[int, tuple] = {}
    for i, t in enumerate(graph.tensors):
        if t.op is None and t.requires_grad:
            continue
        for name, instance in t.composite:
            if name_text(name) in collapse:
                group_of[i] = ("composite", name_text(name), numbers[(name, instance)])
                break
    return group_of


def place_boxes(graph: Graph, steps: Steps, terms: frozenset[int], group_of: dict[int, tuple]) -> _Placement:
    """Boxes in topological order: a leaf is one box, an op an ellipse (plus a value box when named, or the root);
    the nodes of each key of `group_of` (("composite", name, k) or ("step", label)) share one collapsed box; a
    detach() whose source is gone gets a ghost box for its source (last, outside every group: it is no part of
    this graph)."""
    numbers = _composite_numbers(graph)
    clusters = [_cluster_of(t, steps.of.get(i), numbers) for i, t in enumerate(graph.tensors)]
    members: dict[tuple, list[int]] = {}
    for i, key in sorted(group_of.items()):
        members.setdefault(key, []).append(i)
    out = _Placement({}, [], {}, {}, set(group_of))
    for i, t in enumerate(graph.tensors):
        if i in group_of:
            _place_grouped(graph, steps, terms, out, i, group_of[i], members[group_of[i]], clusters)
            continue
        kind, box_id = _kind(graph, steps, terms, i), f"n{i}"
        out.in_box[i] = out.out_box[i] = box_id
        if t.op is None or _renamed_copy(t):
            out.boxes[box_id] = Box(box_id, kind, name_text(t.name), clusters[i], (t,))
            continue
        out.boxes[box_id] = Box(box_id, "op", str(t.op), clusters[i], (t,))
        if (t.name is not None and t.op != "detach") or t is graph.root:  # a detach copy keeps its source's name
            out.boxes[box_id + "v"] = Box(box_id + "v", kind, name_text(t.name), clusters[i], (t,))
            out.out_box[i] = box_id + "v"
            out.edges.append(Edge(box_id, box_id + "v", "internal", t))
    for i, t in enumerate(graph.tensors):
        source = t.detached_from if t.op == "detach" and i not in group_of else None
        if source is not None and not graph.has(source):
            out.boxes[f"n{i}x"] = Box(f"n{i}x", "ghost", name_text(source.name), (), (source,))
    return out


def _place_grouped(
    graph: Graph,
    steps: Steps,
    terms: frozenset[int],
    out: _Placement,
    i: int,
    key: tuple,
    members: list[int],
    clusters: list,
) -> None:
    """Node i is hidden in the collapsed box of `key` (made with its first member). A collapsed step shows the
    states it passes on (named first); a collapsed composite sits in its output's groups, and its named output
    keeps a value box of its own."""
    inside, t, gid = set(members), graph.tensors[i], f"g{members[0]}"
    outputs = [m for m in members if graph.tensors[m] is graph.root or any(c not in inside for c in graph.consumers[m])]
    if gid not in out.boxes:
        n_ops = f"{sum(graph.tensors[m].op is not None for m in members)} ops"
        hidden = tuple(graph.tensors[m] for m in members)
        if key[0] == "step":
            outputs.sort(key=lambda m: graph.tensors[m].name is None)  # named outputs (the state h_t) first
            shown = tuple(graph.tensors[m] for m in outputs)
            out.boxes[gid] = Box(gid, "group", key[1], (), shown, n_ops, hidden, is_step=True)
        else:
            path = clusters[outputs[-1]]
            path = path[: path.index(key)] if key in path else path
            out.boxes[gid] = Box(gid, "group", key[1], path, (graph.tensors[outputs[-1]],), n_ops, hidden)
    out.in_box[i] = out.out_box[i] = gid
    if key[0] == "composite" and i in outputs and t.name is not None:
        cluster = out.boxes[gid].cluster
        out.boxes[f"n{i}v"] = Box(f"n{i}v", _kind(graph, steps, terms, i), name_text(t.name), cluster, (t,))
        out.out_box[i] = f"n{i}v"
        out.edges.append(Edge(gid, f"n{i}v", "internal", t))


def _edge_kind(graph: Graph, steps: Steps, parent: int, child: int) -> str:
    if _is_param(graph.tensors[parent]) and steps.order:
        return "param"
    s_parent, s_child = steps.of.get(parent), steps.of.get(child)
    return "state" if s_child is not None and s_parent != s_child else "data"


def connect(graph: Graph, steps: Steps, placed: _Placement, summary: bool = False) -> list[Edge]:
    """The internal edges, then one edge per (parent, child) pair of boxes (edges into a collapsed box merged),
    then the dashed edges of detach(). With `summary`, the edges between one box outside the steps and the
    collapsed steps (a parameter's uses, the sum over all L_t) are one edge, labelled with how many steps it
    stands for (a sum over all steps drawn from the last one)."""
    edges, seen = list(placed.edges), set()
    fans: dict[str, Edge] = {}
    fan_steps: dict[str, set[str]] = {}
    for i, t in enumerate(graph.tensors):
        head = placed.in_box[i]
        for p in t.parents:
            k = graph.at(p)
            tail = placed.out_box[k]
            if tail == head and i in placed.grouped:
                continue  # inside a collapsed box
            if (i in placed.grouped or k in placed.grouped) and (tail, head) in seen:
                continue
            seen.add((tail, head))
            edge = Edge(tail, head, _edge_kind(graph, steps, k, i), p)
            outside = _fan_end(placed.boxes[tail], placed.boxes[head]) if summary else None
            if outside is not None:
                fan_steps.setdefault(outside, set()).add(head if outside == tail else tail)
                if outside in fans:
                    if outside == head:
                        fans[outside].tail, fans[outside].weight_from = tail, p
                    continue
                fans[outside] = edge
            edges.append(edge)
    for outside, edge in fans.items():
        if len(fan_steps[outside]) > 1:
            edge.label = f"all {len(fan_steps[outside])} steps"
    return edges + _detach_edges(graph, placed)


def _fan_end(a: Box, b: Box) -> str | None:
    """The end outside the steps of an edge between it and a collapsed step (else None)."""
    if a.is_step != b.is_step:
        return b.id if a.is_step else a.id
    return None


def _detach_edges(graph: Graph, placed: _Placement) -> list[Edge]:
    """A dashed edge from the source of each detach() (or its ghost, when the source is gone) to the copy."""
    edges = []
    for i, t in enumerate(graph.tensors):
        source = t.detached_from if t.op == "detach" and i not in placed.grouped else None
        if source is not None and graph.has(source):
            edges.append(Edge(placed.out_box[graph.at(source)], placed.in_box[i], "detach"))
        elif source is not None:
            edges.append(Edge(f"n{i}x", placed.in_box[i], "detach"))
    return edges


# ---- position hints -------------------------------------------------------------------------------------------------


def _levels(boxes: dict[str, Box], preds: dict[str, list[str]]) -> dict[str, int]:
    """Longest-path depth of each box from the sources (Kahn's order: deterministic, no recursion)."""
    waiting = {b: len(preds[b]) for b in boxes}
    children: dict[str, list[str]] = {b: [] for b in boxes}
    for b in boxes:
        for p in preds[b]:
            children[p].append(b)
    level = dict.fromkeys(boxes, 0)
    ready = [b for b in boxes if waiting[b] == 0]
    while ready:
        b = ready.pop()
        for c in children[b]:
            level[c] = max(level[c], level[b] + 1)
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    return level


def rank_hints(boxes: dict[str, Box], edges: list[Edge], steps: Steps) -> list[Hint]:
    """Line the steps up along the time axis.

    Boxes at the same depth inside their step share a rank across steps; a parameter shares the rank of its first
    user, an initial state (h_0) the rank of the box it feeds. Graphviz does not keep clusters in order by itself,
    so an invisible row of anchors under the picture — one for the parameters, then one for t = 0 and one per step,
    joined left to right — fixes the order: parameters beside the first step, the initial states, then t = 1, 2, …
    """
    if not steps.order:
        return []
    preds: dict[str, list[str]] = {b: [] for b in boxes}
    for e in edges:
        if e.kind in ("data", "internal", "detach"):
            preds[e.head].append(e.tail)
    level = _levels(boxes, preds)
    step_of = {b: box.cluster[0][1] for b, box in boxes.items() if box.cluster and box.cluster[0][0] == "scope"}
    by_level: dict[int, list[str]] = {}
    for b, s in step_of.items():
        if s != INITIAL:
            by_level.setdefault(level[b], []).append(b)
    beside: dict[str, None] = {}  # parameters and initial states that feed a step (ordered sets)
    starts: dict[str, None] = {}
    receives_state: set[str] = set()
    for e in edges:
        if step_of.get(e.head, INITIAL) == INITIAL or e.kind not in ("param", "state"):
            continue
        if e.kind == "state":
            receives_state.add(e.head)
        ends = starts if step_of.get(e.tail) == INITIAL else beside if e.tail not in step_of else None
        if ends is not None and e.tail not in ends:
            ends[e.tail] = None
            by_level.setdefault(level[e.head], []).append(e.tail)
    hints: list[Hint] = []
    for lv in sorted(by_level):
        if len({step_of.get(b) for b in by_level[lv]}) > 1:
            hints.append(SameRank(tuple(by_level[lv])))
    return hints + _anchor_row(step_of, level, receives_state, list(beside), list(starts), steps)


def _anchor_row(
    step_of: dict[str, str], level: dict[str, int], receives_state: set[str], beside: list, starts: list, steps: Steps
) -> list[Hint]:
    """The invisible anchors k0 (parameters), k1, k2, … (t = 0 if drawn, then each step), on the first rank."""
    bottom: dict[str, list[str]] = {s: [] for s in steps.order}
    for b, s in step_of.items():
        if level[b] == 0 and s in bottom:
            bottom[s].append(b)
    rows = ([starts] if starts else []) + [bottom[s] for s in steps.order]
    hints: list[Hint] = []
    anchors: list[str] = []

    def anchor(name: str, targets: list[str]) -> None:
        anchors.append(name)
        hints.append(Point(name))
        hints.extend(Invisible(name, b) for b in targets)

    if beside:
        anchor("k0", beside)
    for k, row in enumerate(rows, start=1):
        row = sorted(row, key=lambda b: b not in receives_state)  # what arrives from the step before: left
        hints.extend(Invisible(a, b) for a, b in zip(row, row[1:]))
        anchor(f"k{k}", row[:1])
    hints.append(SameRank(tuple(anchors), "min"))
    hints.extend(Invisible(a, b) for a, b in zip(anchors, anchors[1:]))
    return hints


def grid_hints(boxes: dict[str, Box], steps: Steps, wrap: int) -> list[Hint]:
    """Collapsed steps in rows of `wrap`, snaking (row 1 left → right, row 2 right → left, …) so that every edge
    from one step to the next is short; each row is one rank, kept in order by invisible edges."""
    ids = {box.title: b for b, box in boxes.items() if box.is_step}
    hints: list[Hint] = []
    for k in range(0, len(steps.order), wrap):
        row = [ids[s] for s in steps.order[k : k + wrap] if s in ids]
        hints.append(SameRank(tuple(row)))
        left_to_right = row if (k // wrap) % 2 == 0 else row[::-1]
        hints.extend(Invisible(a, b) for a, b in zip(left_to_right, left_to_right[1:]))
    return hints


# ---- the group tree -------------------------------------------------------------------------------------------------


def _group(path: tuple[Cluster, ...]) -> Group:
    last = path[-1]
    if last[0] == "composite":
        return Group(path, "composite", last[1])
    label = last[1].split("/")[-1].replace("=", " = ")
    kind = "scope" if len(path) > 1 else "initial" if last[1] == INITIAL else "step"
    return Group(path, kind, label)


def nest(boxes: dict[str, Box], edges: list[Edge]) -> dict[tuple, Group]:
    """The group tree: groups[()] is the top; each group's sub-groups (t = 0 first) and boxes in order of first
    appearance, and each edge in the innermost group holding both its ends (so edges between steps are at the top)."""
    groups: dict[tuple, Group] = {(): Group((), "top", "")}
    for box in boxes.values():
        for k in range(len(box.cluster)):
            child = box.cluster[: k + 1]
            if child not in groups:
                groups[child] = _group(child)
                groups[box.cluster[:k]].children.append(child)
        groups[box.cluster].boxes.append(box.id)
    groups[()].children.sort(key=lambda path: path != (("scope", INITIAL),))  # t = 0 first, as time goes
    for e in edges:
        a, b = boxes[e.tail].cluster, boxes[e.head].cluster
        k = 0
        while k < min(len(a), len(b)) and a[k] == b[k]:
            k += 1
        groups[a[:k]].edges.append(e)
    return groups


# ---- the two layouts ------------------------------------------------------------------------------------------------


def layout(root: Tensor, collapse: tuple[str, ...] = ()) -> Layout:
    """G ↦ the expanded layout: one group per time step (and "t = 0" for the initial states), every node a box;
    the composites named in `collapse` (e.g. ("softmax",)) one box each."""
    graph = graph_of(root)
    steps = assign_steps(graph)
    placed = place_boxes(graph, steps, loss_terms(graph), _composite_groups(graph, collapse, _composite_numbers(graph)))
    edges = connect(graph, steps, placed)
    return Layout(graph, steps, placed.boxes, edges, nest(placed.boxes, edges), rank_hints(placed.boxes, edges, steps))


def _fold_running_sums(graph: Graph, steps: Steps) -> Steps:
    """Running sums outside the steps (L_1 + L_2 + …) travel with the latest step they add, so that collapsed
    steps form a chain instead of T edges into one node."""
    of, rank = dict(steps.of), {s: k for k, s in enumerate(steps.order)}
    for i, t in enumerate(graph.tensors):
        if i in of or t.op != "add" or t is graph.root:
            continue
        owners = [of[graph.at(p)] for p in t.parents if of.get(graph.at(p)) in rank]
        others = [p for p in t.parents if graph.at(p) not in of and p.op is not None]
        if owners and not others:  # a running sum, not a sum over all steps
            of[i] = max(owners, key=rank.__getitem__)
    return Steps(of, steps.order)


def layout_collapsed(root: Tensor, collapse: tuple[str, ...] = (), wrap: int = 20, fan_edges: str = "auto") -> Layout:
    """G ↦ one box per time step, in rows of `wrap` that snake; the boxes outside the steps (parameters, initial
    states, the sum over all L_t) drawn plainly. fan_edges: "each" (every edge), "summary" (one labelled edge
    between a box outside the steps and all the steps), "auto" (summary for more than 12 steps)."""
    graph = graph_of(root)
    steps = _fold_running_sums(graph, assign_steps(graph))
    group_of = _composite_groups(graph, collapse, _composite_numbers(graph))
    group_of.update({i: ("step", s) for i, s in steps.of.items() if s != INITIAL})
    placed = place_boxes(graph, steps, loss_terms(graph), group_of)
    for box in placed.boxes.values():  # no clusters: the initial states stand beside the first step
        if box.cluster[:1] == (("scope", INITIAL),):
            box.cluster = box.cluster[1:]
    summary = fan_edges == "summary" or (fan_edges == "auto" and len(steps.order) > 12)
    edges = connect(graph, steps, placed, summary)
    row = {s: k // wrap for k, s in enumerate(steps.order)}
    for e in edges:  # between two steps in a row drawn right to left
        a, b = placed.boxes[e.tail], placed.boxes[e.head]
        if a.is_step and b.is_step and row[a.title] == row[b.title] and row[a.title] % 2 == 1:
            e.backwards = True
    groups = nest(placed.boxes, edges)
    return Layout(graph, steps, placed.boxes, edges, groups, grid_hints(placed.boxes, steps, wrap), collapsed=True)
