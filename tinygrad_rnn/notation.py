"""The lecture's notation on a layout: every op says what it computes, as on the lecture's slides.

`lecture(layout)` → a new Layout (plain data, no Graphviz), made from an expanded or collapsed layout whose
composites were collapsed:

    op labels        W·x_1 and U·h_0 (a product names both factors), + b (an add names the parameter or input it
                     adds), tanh, σ, ⊙ (elementwise product), softmax, cross-entropy, Σ_t (the sum over time)
    the sum over time   stack(L_1, …, L_T) then sum is one op, Σ_t: the stack is how the engine adds, not the lecture
    an op in its value  an op that makes a named value (tanh → h_1, + c → o_1, softmax → ŷ_1, cross-entropy → L_1,
                     Σ_t → L) is drawn inside that value's box, in a cell of its own: one box per lecture symbol,
                     and half the rows of the picture
    sources          an input or target that feeds one box sits on the row just below it (y_t beside ŷ_t)

Labels are text with underscores for subscripts ("U·h_0"); the DOT writer sets them as subscripts.
"""

from __future__ import annotations

from dataclasses import replace

from tinygrad_rnn.boxes import Box, Edge, Hint, Invisible, Layout, SameRank, name_text
from tinygrad_rnn.layout import nest
from tinygrad_rnn.ranks import rank_hints
from tinygrad_rnn.tensor import Tensor

__all__ = ["lecture", "op_label", "COMPOSITE_LABEL", "OP_LABEL"]

# a collapsed composite, as the lecture names it
COMPOSITE_LABEL = {
    "softmax": "softmax",
    "cross_entropy": "cross-entropy",
    "log_softmax": "log-softmax",
    "mse_loss": "squared error",
    "sigmoid": "σ",
    "tanh": "tanh",
}
# a primitive, when its label does not name its operands
OP_LABEL = {
    "add": "+",
    "sub": "−",
    "mul": "⊙",
    "div": "÷",
    "neg": "−",
    "matmul": "·",
    "sigmoid": "σ",
    "sum": "Σ",
    "transpose": "ᵀ",
    "getitem": "[ ]",
    "concatenate": "concat",
    "softmax_cross_entropy": "softmax + cross-entropy",
}
_STACKS = ("stack", "concatenate")


def _term(t: Tensor) -> str:
    """How an operand reads in a label: its name, Wᵀ for the transpose of a named W, else "" (unnamed)."""
    if t.name is not None:
        return name_text(t.name)
    if t.op == "transpose" and t.parents and t.parents[0].name is not None:
        return name_text(t.parents[0].name) + "ᵀ"
    return ""


def _named_leaf(t: Tensor) -> bool:
    return (t.op is None or t.op == "detach") and t.name is not None


def op_label(box: Box, over_time: bool = False) -> str:
    """What an op box (or a collapsed composite) computes, in the lecture's notation; `over_time`: a sum of the
    stacked per-step terms (Σ_t)."""
    if box.kind == "group":
        return COMPOSITE_LABEL.get(box.title, box.title)
    t = box.tensors[0]
    op, parents = str(t.op), t.parents
    if op == "matmul" and len(parents) == 2 and all(_term(p) for p in parents):
        return f"{_term(parents[0])}·{_term(parents[1])}"
    if op in ("add", "sub") and len(parents) == 2:
        sign = "+" if op == "add" else "−"
        added = [_term(p) for p in parents[1:] + parents[:1] if _named_leaf(p) or p.op == "transpose"]
        if op == "sub":
            added = [_term(parents[1])] if _named_leaf(parents[1]) else []
        return f"{sign} {added[0]}" if added else sign
    if op == "mul" and len(parents) == 2 and any(p.size == 1 for p in parents):
        return "×"
    if op == "sum" and over_time:
        return "Σ_t"
    return OP_LABEL.get(op, op)


def _fold_stacks(boxes: dict[str, Box], edges: list[Edge]) -> list[Edge]:
    """An unnamed stack (or concatenate) whose one use is a sum becomes part of that sum: the edges into it go to
    the sum, and the sum is labelled Σ_t when what it adds comes from the time steps."""
    out_of: dict[str, list[Edge]] = {}
    for e in edges:
        out_of.setdefault(e.tail, []).append(e)
    for b, box in list(boxes.items()):
        uses = out_of.get(b, [])
        if box.kind != "op" or box.title not in _STACKS or len(uses) != 1:
            continue
        target = boxes[uses[0].head]
        if target.kind != "op" or target.title != "sum":
            continue
        feeds = [e for e in edges if e.head == b]
        over_time = any(boxes[e.tail].is_step or boxes[e.tail].cluster[:1] for e in feeds)
        for e in feeds:
            e.head = target.id
        edges = [e for e in edges if e is not uses[0]]
        boxes[target.id] = replace(target, members=box.tensors + target.tensors, label=op_label(target, over_time))
        del boxes[b]
    return edges


def _merge_ops(boxes: dict[str, Box], edges: list[Edge]) -> list[Edge]:
    """Each op (or collapsed composite) whose one use is the box of the named value it makes is drawn inside it."""
    out_of: dict[str, list[Edge]] = {}
    for e in edges:
        out_of.setdefault(e.tail, []).append(e)
    merged: dict[str, str] = {}
    for e in edges:
        op, value = boxes.get(e.tail), boxes.get(e.head)
        if e.kind != "internal" or op is None or value is None or len(out_of[e.tail]) != 1 or op.is_step:
            continue
        label = op.label or op_label(op)
        boxes[value.id] = replace(value, op_label=label, members=op.members or op.tensors)
        merged[op.id] = value.id
        del boxes[op.id]
    kept = [e for e in edges if e.tail not in merged]
    for e in kept:
        e.head = merged.get(e.head, e.head)
    return kept


def _beside_their_use(boxes: dict[str, Box], edges: list[Edge]) -> None:
    """A parameter with one use (one step, one op: each of the LSTM's W_f, U_f, b_f in one step) is drawn in that
    step, beside its use — not in the column of parameters shared by every step."""
    uses: dict[str, list[Edge]] = {}
    for e in edges:
        if boxes[e.tail].kind == "param":
            uses.setdefault(e.tail, []).append(e)
    for b, out in uses.items():
        if len(out) == 1 and out[0].kind == "param" and boxes[out[0].head].cluster[:1]:
            boxes[b] = replace(boxes[b], cluster=boxes[out[0].head].cluster[:1])


def _same_state_on_every_step(boxes: dict[str, Box]) -> None:
    """One box per step shows the state it passes on (h_t); the last step passes none on — it shows its h_T too,
    found among the nodes it hides, rather than its loss."""
    stems = [name_text(b.tensors[0].name).rpartition("_")[0] for b in boxes.values() if b.is_step]
    stem = max(set(stems), key=stems.count) if stems else ""
    for b, box in boxes.items():
        if box.is_step and stem and name_text(box.tensors[0].name).rpartition("_")[0] != stem:
            step = box.title.split("=")[-1]
            state = [t for t in box.members if name_text(t.name) == f"{stem}_{step}"]
            if state:
                boxes[b] = replace(box, tensors=(state[0], *box.tensors))


def _over_the_grid(boxes: dict[str, Box], lay: Layout) -> list[Hint]:
    """One box per step: the parameters and initial states in a row over the first row of steps, spread along it
    (an invisible edge from each to a step below it), not in a row of their own beside the grid."""
    rows = [h.boxes for h in lay.hints if isinstance(h, SameRank)]
    first = [b for b in rows[0] if b in boxes] if rows else []
    outside = [b for b, box in boxes.items() if box.kind in ("param", "state")]
    if not first or not outside:
        return list(lay.hints)
    below = [first[round(i * (len(first) - 1) / max(1, len(outside) - 1))] for i in range(len(outside))]
    return [*lay.hints, SameRank(tuple(outside)), *(Invisible(b, step) for b, step in zip(outside, below))]


def lecture(lay: Layout, columns: int = 1) -> Layout:
    """The layout in the lecture's notation (see the module's docstring), the parameters beside the steps in
    `columns` columns; `lay` itself is left as it was."""
    boxes = {b: replace(box) for b, box in lay.boxes.items()}
    edges = [replace(e) for e in lay.edges]
    edges = _merge_ops(boxes, _fold_stacks(boxes, edges))
    for b, box in boxes.items():
        if box.kind == "op" and not box.label:
            boxes[b] = replace(box, label=op_label(box))
        elif box.kind == "group" and not box.is_step:  # a collapsed composite whose value has no name: an op
            boxes[b] = replace(box, kind="op", label=op_label(box))
    for e in edges:  # h_{t−1} → U·h_{t−1} runs down into the next step: written upwards, the arrow turned back
        if e.kind == "state" and not lay.collapsed:
            e.backwards = True
    _beside_their_use(boxes, edges)
    if lay.collapsed:
        _same_state_on_every_step(boxes)
    hints = (
        _over_the_grid(boxes, lay)
        if lay.collapsed
        else rank_hints(boxes, edges, lay.steps, lecture=True, columns=columns)
    )
    return Layout(lay.graph, lay.steps, boxes, edges, nest(boxes, edges), hints, lay.collapsed)
