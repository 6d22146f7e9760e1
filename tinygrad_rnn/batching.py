"""Batching across time: the nodes that play the same part in every step of an unrolled graph, computed at once.

A recurrent model builds step t in scope "t=<t>"; its steps are copies of one subgraph. `batch_steps(loss)` finds,
for every position of that subgraph, the T nodes that hold it (a *group*) and rewrites a copy of the graph:
  * a group whose members do not depend on one another (the input and output layers, softmax, the losses: all but
    the recurrence) becomes ONE node over a new leading axis of length T — stacked inputs, shared parameters — and
    each member is a step of it (x[t]: a view; the steps' gradients land in the slots of one buffer);
  * a group of equal computations of shared inputs (the transpose W.T made in every step) becomes one node;
  * the per-step slices x_t = xs[t − 1] of one tensor are that tensor;
  * the recurrence stays one node per step, its values written into one stacked buffer (`stack`), which the batched
    layers read.
The graph of the recording is not changed (the copy is compiled). The values are those of the per-step graph
(elementwise and along the same axes; matrix products to rounding), so replay uses this unless exact=True.
"""

from __future__ import annotations

import inspect
import re
from collections import defaultdict
from typing import Any

import numpy as np

from tinygrad_rnn import ops
from tinygrad_rnn.tensor import Tensor, apply, split, stack

__all__ = ["batch_steps"]

_STEP = re.compile(r"(.*?)t=(\d+)(.*)")
ELEMENTWISE = (ops.Add, ops.Sub, ops.Mul, ops.Div, ops.Neg, ops.Pow, ops.Exp, ops.Expm1, ops.Log, ops.Tanh,
               ops.Sigmoid, ops.Relu, ops.Abs)  # fmt: skip
REDUCTIONS = (ops.Sum, ops.Mean, ops.Prod, ops.Max)


def batch_steps(order: list[Tensor], roots: list[Tensor]) -> list[Tensor] | None:
    """The roots of a rewritten copy of the graph with its steps batched, or None when nothing is to batch."""
    at = {n: i for i, n in enumerate(order)}
    groups = sorted(_groups(order), key=lambda members: at[members[0]])  # parents' groups first
    if not groups:
        return None
    member = {n: (g, t) for g, members in enumerate(groups) for t, n in enumerate(members)}
    kinds: list[str] = []
    for members in groups:
        kinds.append(_kind(members, member, kinds))
    if "batch" not in kinds:
        return None
    return _Rewrite(groups, member, kinds).roots(order, roots)


def _groups(order: list[Tensor]) -> list[list[Tensor]]:
    """Per scope pattern, the i-th node of every step (in topological order), when all steps look alike."""
    steps: dict[tuple, dict[int, list[Tensor]]] = defaultdict(lambda: defaultdict(list))
    for node in order:
        m = _STEP.fullmatch(node.scope or "")
        if m:
            steps[(m.group(1), m.group(3))][int(m.group(2))].append(node)
    out = []
    for per_step in steps.values():
        shape = {t: tuple((n.op, n.data.shape) for n in nodes) for t, nodes in per_step.items()}
        common = max(set(shape.values()), key=list(shape.values()).count)
        ts = sorted(t for t in per_step if shape[t] == common)  # the steps alike (t=0, the initial state, is not)
        if len(ts) >= 2 and ts == list(range(ts[0], ts[0] + len(ts))):
            out += [list(members) for members in zip(*(per_step[t] for t in ts))]
    return out


def _settings(fn: Any) -> dict[str, Any]:
    """The arguments the op was made with (axis, shape, index, …), read back from the Function."""
    names = [p for p in inspect.signature(type(fn).__init__).parameters if p not in ("self", "needs")]
    return {p: getattr(fn, p) for p in names}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    return bool(a == b)


def _kind(members: list[Tensor], member: dict, kinds: list[str]) -> str:
    """same: equal computations of shared inputs; unstack: x[t], t consecutive; batch: one node for all; step."""
    first = members[0]
    if first._fn is None:
        if first.op == "detach":
            srcs = [m.detached_from for m in members]
            return "batch" if _aligned(srcs, member) is not None else "step"
        equal = all(m.data.shape == first.data.shape and np.array_equal(m.data, first.data) for m in members)
        return "same" if equal and not first.requires_grad else "step"
    fns = [m._fn for m in members]
    if any(type(f) is not type(fns[0]) for f in fns):
        return "step"
    if isinstance(fns[0], ops.GetItem) and isinstance(fns[0].index, (int, np.integer)):
        parents = {m.parents[0] for m in members}
        steps = [int(f.index) for f in fns]
        if len(parents) == 1 and steps == list(range(steps[0], steps[0] + len(steps))) and steps[0] >= 0:
            return "unstack"
    settings = [_settings(f) for f in fns]
    if any(not all(_same(s[k], settings[0][k]) for k in s) for s in settings):
        return "step"
    positions = []
    for j in range(len(first.parents)):
        column = [m.parents[j] for m in members]
        if all(p is column[0] for p in column) and column[0] not in member:
            positions.append("shared")
        elif (g := _aligned(column, member)) is not None and g < len(kinds):
            positions.append("same" if kinds[g] == "same" else "stacked")
        else:
            return "step"
    if all(p in ("shared", "same") for p in positions):
        return "same"
    return "batch" if _batchable(first, positions) and not _recurrent(members) else "step"


def _aligned(nodes: list, member: dict) -> int | None:
    """The group whose t-th member is nodes[t], if there is one."""
    found = [member.get(n) for n in nodes]
    if any(f is None for f in found):
        return None
    g = found[0][0]  # type: ignore[index]
    return g if all(f == (g, t) for t, f in enumerate(found)) else None


def _batchable(node: Tensor, positions: list[str]) -> bool:
    fn, nd = node._fn, node.data.ndim
    stacked_ok = all(p.data.ndim == nd for p, k in zip(node.parents, positions) if k == "stacked")
    if isinstance(fn, ELEMENTWISE):
        return stacked_ok and all(p.data.ndim <= nd for p in node.parents)
    if isinstance(fn, ops.MatMul):  # x_t @ M: the steps' rows, one product
        return positions[0] == "stacked" and positions[1] != "stacked" and node.parents[1].data.ndim == 2
    return isinstance(fn, (*REDUCTIONS, ops.Reshape, ops.Transpose, ops.SoftmaxCrossEntropy))  # no broadcasting


def _recurrent(members: list[Tensor]) -> bool:
    """Does a member depend on an earlier one (the recurrence)? Looked for from the third (or last) member back."""
    last = members[min(2, len(members) - 1)]
    earlier = set(members[: members.index(last)])
    seen, todo = set(), [last]
    while todo:
        n = todo.pop()
        for p in n.parents:
            if p in earlier:
                return True
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return False


class _Rewrite:
    """The copy of the graph: each node made anew (same op, mapped parents), groups as their kind says. Built in an
    order of its own (a batched layer after every step of the recurrence it reads), depth first, iteratively."""

    def __init__(self, groups: list, member: dict, kinds: list[str]) -> None:
        self.groups, self.member, self.kinds = groups, member, kinds
        self.made: dict[tuple, Any] = {}
        self.inside: set[Tensor] = set()

    def roots(self, order: list[Tensor], roots: list[Tensor]) -> list[Tensor]:
        self.inside = set(order)
        for r in roots:
            self._build(("node", r))
        return [self.made[("node", r)] for r in roots]

    def _build(self, key: tuple) -> None:
        todo = [(key, False)]
        while todo:
            k, ready = todo.pop()
            if k in self.made:
                continue
            deps = [d for d in self._deps(k) if d not in self.made]
            if ready or not deps:
                self.made[k] = self._make(k)
            else:
                todo.append((k, True))
                todo.extend((d, False) for d in deps)

    def _group_of(self, node: Tensor) -> int | None:
        found = self.member.get(node)
        return None if found is None or self.kinds[found[0]] == "step" else found[0]

    def _deps(self, key: tuple) -> list[tuple]:
        kind, x = key
        if kind == "node":
            g = self._group_of(x)
            if g is not None and self.kinds[g] != "same":
                return [("group", g)]
            if g is not None and x is not self.groups[g][0]:
                return [("node", self.groups[g][0])]  # one node for equal computations
            if self._detached_inside(x):
                return [("node", x.detached_from)]
            stacked = self._stacked_group(x)
            return [("group", stacked)] if stacked is not None else [("node", p) for p in x.parents]
        members, what = self.groups[x], self.kinds[x]
        if what == "step":
            return [("node", m) for m in members]
        if what == "unstack":
            return [("node", members[0].parents[0])]
        if members[0]._fn is None:  # detach() of a group
            return [("group", _aligned([m.detached_from for m in members], self.member))]
        out = []
        for p in members[0].parents:
            found = self.member.get(p)
            same = found is None or self.kinds[found[0]] == "same"
            out.append(("node", p) if same else ("group", found[0]))  # type: ignore[index]
        return out

    def _detached_inside(self, node: Tensor) -> bool:
        """A detach() of a node of this graph (not a group's): it must read the copy of that node, not the
        recording's value of it."""
        return node._fn is None and node.op == "detach" and node.detached_from in self.inside

    def _stacked_group(self, node: Tensor) -> int | None:
        """L = Σ_t L_t: a stack (axis 0) of one group's members, in order, is that group's whole."""
        if not isinstance(node._fn, ops.Stack) or node._fn.axis != 0 or node in self.member:
            return None
        g = _aligned(list(node.parents), self.member)
        return g if g is not None and self.kinds[g] != "same" else None

    def _make(self, key: tuple) -> Any:
        kind, x = key
        if kind == "group":
            return self._whole(x)
        g = self._group_of(x)
        if g is not None and self.kinds[g] != "same":
            parts = self.made.setdefault(("parts", g), split(self.made[("group", g)]))
            return parts[self.member[x][1]]
        if g is not None and x is not self.groups[g][0]:
            return self.made[("node", self.groups[g][0])]
        stacked = self._stacked_group(x)
        if stacked is not None:
            return self.made[("group", stacked)]
        if self._detached_inside(x):  # the state carried into the next chunk: a detach() of the copy's node
            return self.made[("node", x.detached_from)].detach()
        if x._fn is None:
            return x  # parameters, inputs, constants: themselves
        out = apply(type(x._fn), *(self.made[("node", p)] for p in x.parents), **_settings(x._fn))
        out.name, out.scope = x.name, x.scope
        return out

    def _whole(self, g: int) -> Tensor:
        """The group's values over all steps, stacked on a new first axis."""
        members, kind = self.groups[g], self.kinds[g]
        first = members[0]
        if kind == "unstack":
            parent = self.made[("node", first.parents[0])]
            lo = int(first._fn.index)
            return parent if (lo, len(members)) == (0, len(parent)) else parent[lo : lo + len(members)]
        if kind == "step":
            return stack([self.made[("node", m)] for m in members])
        if first._fn is None:  # detach() of a batched group
            return self.made[("group", _aligned([m.detached_from for m in members], self.member))].detach()
        parents = [self.made[d] for d in self._deps(("group", g))]
        fn, T = first._fn, len(members)
        if isinstance(fn, ops.MatMul) and parents[0].ndim == 3:  # (T, B, n) @ (n, k): one matrix product of T·B rows
            a = parents[0]
            out = apply(ops.MatMul, a.reshape(a.shape[0] * a.shape[1], a.shape[2]), parents[1])
            return out.reshape(T, *first.data.shape)
        return apply(type(fn), *parents, **_over_steps(fn, _settings(fn), first.parents[0].data.ndim, T))


def _over_steps(fn: Any, settings: dict[str, Any], nd: int, T: int) -> dict[str, Any]:
    """The op's arguments for the same op on a new leading axis of T steps (nd: the rank of a step's input)."""
    if isinstance(fn, REDUCTIONS):
        axis = settings["axis"]
        if axis is None:
            axis = tuple(range(1, nd + 1))
        elif isinstance(axis, tuple):
            axis = tuple(a + 1 if a >= 0 else a for a in axis)
        else:
            axis = axis + 1 if axis >= 0 else axis
        return settings | {"axis": axis}
    if isinstance(fn, ops.Reshape):
        return {"shape": (T, *settings["shape"])}
    if isinstance(fn, ops.Transpose):
        axes = settings["axes"]
        return {"axes": (0, *(a + 1 for a in (axes if axes is not None else reversed(range(nd)))))}
    return settings
