"""What a layout is made of: plain data, no Graphviz (`layout.py` makes it, `dot.py` paints it).

A `Layout` holds the graph it was made from, the time steps, the boxes (one drawn node each), the edges between
boxes (each of a kind), the group tree (clusters) and position hints (same-rank rows, anchors, invisible edges).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinygrad_rnn.tensor import Tensor

# fmt: off
__all__ = [
    "INITIAL", "Cluster", "Graph", "Steps", "Box", "Edge", "Group", "SameRank", "Point", "Invisible", "Hint",
    "Layout", "name_text",
]
# fmt: on

INITIAL = "t=0"  # the scope of the initial states (Recurrent.initial_state)

Cluster = tuple  # ("scope", "t=1/gate") or ("composite", name, k): one level of a box's group path


def name_text(name: object) -> str:
    """A node's name as text ("" for None); any object prints by str()."""
    return "" if name is None else str(name)


# ---- data -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Graph:
    """The nodes `root` depends on, parents first; consumers[i]: the places of the nodes that use node i; extra[i]:
    leaves drawn as parents of node i that the engine does not record as such (a loss's target y_t)."""

    root: Tensor
    tensors: tuple[Tensor, ...]
    consumers: tuple[tuple[int, ...], ...]
    place: dict[int, int]  # id(node) → its place in `tensors` (a lookup only)
    extra: dict[int, tuple[Tensor, ...]] = field(default_factory=dict)

    def parents(self, i: int) -> tuple[Tensor, ...]:
        """The parents of node i: the engine's, then the extra leaves drawn with it."""
        return self.tensors[i].parents + self.extra.get(i, ())

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
    label: str = ""  # lecture notation: what an op box computes ("W·x_1", "+ b", "Σ_t")
    op_label: str = ""  # lecture notation: the op drawn inside the box of the value it makes ("tanh" in h_1's box)


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
    """An invisible edge that keeps `tail` before `head` (a weight above 1 also pulls them into line)."""

    tail: str
    head: str
    weight: int = 1


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
