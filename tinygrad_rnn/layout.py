"""Layout of a computational graph for drawing: G = (tensors, parent → child edges) ↦ groups, boxes, edges, hints.

Plain data, no Graphviz: the DOT writer (`dot.py`) turns a `Layout` into DOT text. Two layouts:

    layout(root, collapse=())         expanded: one group (cluster) per time step, each node a box
    layout_collapsed(root, wrap=20)   one box per time step, in rows of `wrap` (for T = 1000)

Both are pipelines of small stages that take and return data:

    graph_of(root, targets) the nodes in topological order (parents first) and each node's consumers; targets: leaves
                            drawn as parents of nodes the engine made without them (y_t of L_t)
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

from collections.abc import Mapping
from dataclasses import dataclass

from tinygrad_rnn.boxes import (
    INITIAL,
    Box,
    Cluster,
    Edge,
    Graph,
    Group,
    Hint,
    Invisible,
    Layout,
    Point,
    SameRank,
    Steps,
    name_text,
)
from tinygrad_rnn.ranks import grid_hints, rank_hints
from tinygrad_rnn.tensor import Tensor, topological_order

# fmt: off
__all__ = [
    "INITIAL", "Graph", "Steps", "Box", "Edge", "Group", "SameRank",
    "Point", "Invisible", "Hint", "Layout", "graph_of", "assign_steps", "loss_terms",
    "place_boxes", "connect", "rank_hints", "grid_hints", "nest", "layout", "layout_collapsed",
    "name_text", "composite_names",
]
# fmt: on

# a named scalar reaching the root through these ops only is a term of the loss (L_t in L = Σ_t L_t)
_SUM_OPS = ("add", "sum", "mean", "stack", "concatenate")


@dataclass
class _Placement:
    boxes: dict[str, Box]
    edges: list[Edge]  # the internal edges op → value
    in_box: dict[int, str]  # place → the box that receives its parents' edges
    out_box: dict[int, str]  # place → the box its consumers' edges start from
    grouped: set[int]  # places hidden in a collapsed box


# ---- stages ---------------------------------------------------------------------------------------------------------


def graph_of(root: Tensor, targets: Mapping[Tensor, Tensor] | None = None) -> Graph:
    """The graph that computed `root`: its nodes in topological order and each node's consumers. `targets` maps a
    node (e.g. L_t) to a leaf drawn as one more parent of it (its target y_t, placed just before it)."""
    order = topological_order(root)
    extra: dict[int, tuple[Tensor, ...]] = {}
    if targets:
        if not isinstance(targets, Mapping) or not all(isinstance(t, Tensor) for kv in targets.items() for t in kv):
            raise TypeError("draw: targets must map nodes to Tensor leaves, e.g. {L_1: Tensor(y_1, name='y_1')}")
        wanted, seen, merged = {id(k): v for k, v in targets.items()}, {id(t) for t in order}, []
        for t in order:
            y = wanted.get(id(t))
            if y is not None and id(y) not in seen:  # the target just before the node it feeds
                merged.append(y)
                seen.add(id(y))
            merged.append(t)
        order = merged
    tensors = tuple(order)
    place = {id(t): i for i, t in enumerate(tensors)}
    if targets:
        extra = {place[id(k)]: (v,) for k, v in targets.items() if id(k) in place}
    consumers: list[list[int]] = [[] for _ in tensors]
    for i, t in enumerate(tensors):
        for p in t.parents + extra.get(i, ()):
            consumers[place[id(p)]].append(i)
    return Graph(root, tensors, tuple(map(tuple, consumers)), place, extra)


def composite_names(graph: Graph) -> tuple[str, ...]:
    """The names of the composite functions (softmax, tanh, …) whose nodes are in the graph, in order of appearance."""
    return tuple(dict.fromkeys(name_text(name) for t in graph.tensors for name, _ in t.composite))


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
    for i in range(len(graph.tensors)):
        head = placed.in_box[i]
        for p in graph.parents(i):
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


def layout(root: Tensor, collapse: tuple[str, ...] = (), targets: Mapping[Tensor, Tensor] | None = None) -> Layout:
    """G ↦ the expanded layout: one group per time step (and "t = 0" for the initial states), every node a box;
    the composites named in `collapse` (e.g. ("softmax",)) one box each; `targets` (see graph_of) drawn too."""
    graph = graph_of(root, targets)
    steps = assign_steps(graph)
    placed = place_boxes(graph, steps, loss_terms(graph), _composite_groups(graph, collapse, _composite_numbers(graph)))
    edges = connect(graph, steps, placed)
    lift = frozenset(placed.out_box[graph.at(y)] for ys in graph.extra.values() for y in ys)  # the targets
    hints = rank_hints(placed.boxes, edges, steps, lift=lift)
    return Layout(graph, steps, placed.boxes, edges, nest(placed.boxes, edges), hints)


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


def layout_collapsed(
    root: Tensor,
    collapse: tuple[str, ...] = (),
    wrap: int = 20,
    fan_edges: str = "auto",
    targets: Mapping[Tensor, Tensor] | None = None,
) -> Layout:
    """G ↦ one box per time step, in rows of `wrap` that snake; the boxes outside the steps (parameters, initial
    states, the sum over all L_t) drawn plainly. fan_edges: "each" (every edge), "summary" (one labelled edge
    between a box outside the steps and all the steps), "auto" (summary for more than 12 steps)."""
    graph = graph_of(root, targets)
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
