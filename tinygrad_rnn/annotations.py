"""What a checker says about the nodes of a graph, as plain data a drawing can show without knowing the checker.

A checker (the lecture comparison in `report.py`, a student's BPTT checked in `exercise.py`, …) returns an
`Annotations`: for some nodes an `Annotation` — rows of text to print under the node's label and a fill colour —
and a legend that says what each fill colour means. `draw(root, annotations=…)` paints them; it reads nothing else
of the checker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Annotation", "Annotations"]


@dataclass(frozen=True)
class Annotation:
    """rows: (text, colour) pairs printed under the node's label; fill: the node's fill colour (None keeps the
    drawing's own); status: the legend entry the fill stands for (e.g. "wrong")."""

    rows: tuple[tuple[str, str], ...] = ()
    fill: str | None = None
    status: str | None = None


@dataclass
class Annotations:
    """Annotations by node — a key is a node's name (every node of that name) or the node itself — and a legend
    of (fill colour, meaning) pairs under a heading."""

    nodes: Mapping[Any, Annotation] = field(default_factory=dict)
    legend: tuple[tuple[str, str], ...] = ()
    heading: str = ""

    def __post_init__(self) -> None:
        self._by_name: dict[str, Annotation] = {}
        self._by_node: dict[int, Annotation] = {}
        for key, note in self.nodes.items():
            if not isinstance(note, Annotation):
                raise TypeError(f"Annotations: the value for {key!r} must be an Annotation, got {type(note).__name__}")
            if isinstance(key, str):
                self._by_name[key] = note
            elif hasattr(key, "parents") and hasattr(key, "data"):  # a graph node (Tensor), matched by identity
                self._by_node[id(key)] = note
            else:
                raise TypeError(f"Annotations: keys are node names or nodes, got {type(key).__name__}")

    def of(self, node: Any) -> Annotation | None:
        """The annotation of `node`: given for the node itself, else for its name, else None."""
        note = self._by_node.get(id(node))
        name = getattr(node, "name", None)
        if note is None and isinstance(name, str):
            note = self._by_name.get(name)
        return note

    def __len__(self) -> int:
        return len(self.nodes)
