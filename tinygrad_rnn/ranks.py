"""Where things go: the position hints of a layout (same-rank rows, invisible anchors and edges), as plain data.

rank_hints(boxes, edges, steps)   expanded: the steps lined up along the time axis, parameters and initial
                                  states beside the boxes they feed
grid_hints(boxes, steps, wrap)    collapsed: one box per step, in rows of `wrap` that snake
"""

from __future__ import annotations

from tinygrad_rnn.boxes import INITIAL, Box, Edge, Hint, Invisible, Point, SameRank, Steps

__all__ = ["levels", "rank_hints", "grid_hints"]


def levels(boxes: dict[str, Box], preds: dict[str, list[str]]) -> dict[str, int]:
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


def rank_hints(
    boxes: dict[str, Box],
    edges: list[Edge],
    steps: Steps,
    lecture: bool = False,
    columns: int = 1,
    lift: frozenset[str] = frozenset(),
) -> list[Hint]:
    """Line the steps up along the time axis.

    Boxes at the same depth inside their step share a rank across steps; a parameter shares the rank of its first
    user, an initial state (h_0) the rank of the box it feeds. Graphviz does not keep clusters in order by itself,
    so an invisible row of anchors under the picture — one for the parameters, then one for t = 0 and one per step,
    joined left to right — fixes the order: parameters beside the first step, the initial states, then t = 1, 2, …

    The boxes in `lift` (the targets y_t) sit on the row just below the one box they feed.

    lecture=True (the lecture's notation, for slides): so does every input that feeds one box; the parameters and
    initial states stand in one column (or `columns`), each on a row of its own near its first use, an initial
    state h_0 on the row of h_1 when h_1 is carried on; a parameter used once stands beside its use, in its step;
    a state carried through elementwise ops only (the LSTM's c) runs straight along one row, and three or more
    values of a step on one row (the gates) stand in the order they join it.
    """
    if not steps.order:
        return []
    preds: dict[str, list[str]] = {b: [] for b in boxes}
    for e in edges:
        if e.kind in ("data", "internal", "detach"):
            preds[e.head].append(e.tail)
    level = levels(boxes, preds)
    hints: list[Hint] = []
    state_lines: list[list[str]] = []
    _lift_sources(edges, preds, level, None if lecture else lift)
    if lecture:
        hints, state_lines = _lecture_rows(boxes, edges, level)
    lines = {b for line in state_lines for b in line}
    step_of = {b: box.cluster[0][1] for b, box in boxes.items() if box.cluster and box.cluster[0][0] == "scope"}
    by_level: dict[int, list[str]] = {}
    for b, s in step_of.items():
        if s != INITIAL and b not in lines:
            by_level.setdefault(level[b], []).append(b)
    beside, starts, receives_state = _feeding_the_steps(edges, step_of, level)
    stacks: list[list[str]] = []
    if lecture:
        beside, stacks = _one_column(boxes, level, beside, starts, columns)
        starts = {}
    for b, lv in (beside | starts).items():
        if b not in lines:
            by_level.setdefault(lv, []).append(b)
    for lv in sorted(by_level):
        if len({step_of.get(b) for b in by_level[lv]}) > 1 or (lecture and len(by_level[lv]) > 1):
            hints.append(SameRank(tuple(by_level[lv])))
    if lecture:
        hints += _side_by_side(boxes, edges, by_level, step_of, state_lines)
    return hints + _anchor_row(step_of, level, receives_state, list(beside), list(starts), steps, stacks)


def _feeding_the_steps(
    edges: list[Edge], step_of: dict[str, str], level: dict[str, int]
) -> tuple[dict[str, int], dict[str, int], set[str]]:
    """The parameters and the initial states that feed a step, each with the level of the first box it feeds, and
    the boxes that receive a state from the step before."""
    beside: dict[str, int] = {}
    starts: dict[str, int] = {}
    receives_state: set[str] = set()
    for e in edges:
        if step_of.get(e.head, INITIAL) == INITIAL or e.kind not in ("param", "state"):
            continue
        if e.kind == "state":
            receives_state.add(e.head)
        ends = starts if step_of.get(e.tail) == INITIAL else beside if e.tail not in step_of else None
        if ends is not None and e.tail not in ends:
            ends[e.tail] = level[e.head]
    return beside, starts, receives_state


def _lecture_rows(
    boxes: dict[str, Box], edges: list[Edge], level: dict[str, int]
) -> tuple[list[Hint], list[list[str]]]:
    """A parameter used once (drawn in its step) on the row of its use, beside it; and each state carried along
    a path of elementwise ops only (the LSTM's cell state c_{t−1} → ⊙ f_t → + → c_t) on one row, straight through.
    Returns those rows, and the straight lines (whose boxes keep out of the other rows)."""
    hints: list[Hint] = []
    for e in edges:
        if e.kind == "param" and boxes[e.tail].cluster:
            level[e.tail] = level[e.head]
            hints.append(SameRank((e.tail, e.head)))
    lines = _state_lines(boxes, edges)
    hints.extend(SameRank(tuple(line)) for line in lines)
    return hints, lines


def _side_by_side(
    boxes: dict[str, Box], edges: list[Edge], by_level: dict[int, list[str]], step_of: dict[str, str], lines: list
) -> list[Hint]:
    """Three or more values of one step on one row (the LSTM's gates f, i, g, og) stand in the order in which they
    join the straight state line (f at c_{t−1}, i and g at the sum, og after c_t), left to right."""
    after: dict[str, list[str]] = {}
    for e in edges:
        after.setdefault(e.tail, []).append(e.head)
    along = {b: k for line in lines for k, b in enumerate(line)}

    def joins(b: str) -> float:
        """Where the value joins a straight line (the place along it, a little later the further away), if at all."""
        seen, frontier, depth = {b}, [b], 0
        while frontier and depth < 8:
            hit = [along[x] for x in frontier if x in along]
            if hit:
                return min(hit) + depth / 100
            frontier = list(dict.fromkeys(y for x in frontier for y in after.get(x, []) if y not in seen))
            seen.update(frontier)
            depth += 1
        return float(len(boxes))

    hints: list[Hint] = []
    for row in by_level.values():
        per_step: dict[str, list[str]] = {}
        for b in row:
            if boxes[b].kind in ("value", "loss") and b in step_of:
                per_step.setdefault(step_of[b], []).append(b)
        for values in per_step.values():
            if len(values) >= 3:
                values.sort(key=lambda b: (joins(b), row.index(b)))
                hints.extend(Invisible(a, b) for a, b in zip(values, values[1:]))
    return hints


def _state_lines(boxes: dict[str, Box], edges: list[Edge]) -> list[list[str]]:
    """Paths s_{t−1} → … → s_t (boxes named so) through elementwise products and sums only: a state that runs
    straight through the step (the LSTM's c, the GRU's h), not through a matrix product (the RNN's h)."""
    after: dict[str, list[str]] = {}
    for e in edges:
        if e.kind in ("data", "state", "internal"):
            after.setdefault(e.tail, []).append(e.head)
    named = {box.title: b for b, box in boxes.items() if box.title}
    lines = []
    for title, b in named.items():
        stem, _, step = title.rpartition("_")
        start = named.get(f"{stem}_{int(step) - 1}") if stem and step.isdigit() and int(step) > 0 else None
        if start is None:
            continue
        came: dict[str, str] = {start: start}
        frontier = [start]
        while frontier and b not in came:
            nxt = []
            for x in frontier:
                for y in after.get(x, []):
                    if y not in came and boxes[y].tensors[0].op in ("mul", "add", "sub"):
                        came[y] = x
                        nxt.append(y)
            frontier = nxt
        if b in came:
            path = [b]
            while path[-1] != start:
                path.append(came[path[-1]])
            lines.append(path[::-1])
    return lines


def _lift_sources(
    edges: list[Edge], preds: dict[str, list[str]], level: dict[str, int], only: frozenset[str] | None = None
) -> None:
    """A box without inputs that feeds one box (of those in `only`, when given) goes on the row just below that box
    (y_t beside ŷ_t)."""
    users: dict[str, list[str]] = {}
    for e in edges:
        if e.kind == "data":
            users.setdefault(e.tail, []).append(e.head)
    for b in level if only is None else only & level.keys():
        if not preds[b] and len(users.get(b, ())) == 1:
            level[b] = max(0, level[users[b][0]] - 1)


def _one_column(
    boxes: dict[str, Box], level: dict[str, int], beside: dict, starts: dict, columns: int = 1
) -> tuple[dict[str, int], list[list[str]]]:
    """Parameters and initial states in `columns` columns: an initial state on the row of the state it stands for
    (h_0 on h_1's), then each parameter on the free row nearest to its first use (in order of that row) — with
    more than one column, for tall boxes, the nearest row that holds a value box of the steps (a row of ops only
    would grow by the parameter's height). Returns each one's row and the columns, bottom to top."""
    named = {box.title: b for b, box in boxes.items() if box.cluster and box.title}
    out: dict[str, int] = {}
    for b, lv in starts.items():  # h_0 on h_1's row when h_1 is carried on into step 2, else by its first use
        title = boxes[b].title
        carried = title.endswith("_0") and title[:-2] + "_2" in named
        first = named.get(title[:-2] + "_1") if carried else None
        out[b] = level[first] if first is not None else lv
    used: dict[int, int] = {}
    for lv in out.values():
        used[lv] = used.get(lv, 0) + 1
    values = {level[b] for b, box in boxes.items() if box.cluster and box.kind != "op" and b in level}
    for b, lv in sorted(beside.items(), key=lambda item: item[1]):
        tries = [k for d in range(len(level) + len(beside) + 1) for k in (lv + d, lv - d) if k >= 0]
        fits = [k for k in tries if used.get(k, 0) < columns and (columns == 1 or k in values)]
        out[b] = (fits or [k for k in tries if used.get(k, 0) < columns])[0]
        used[out[b]] = used.get(out[b], 0) + 1
    stacks: list[list[str]] = [[] for _ in range(columns)]
    on_row: dict[int, int] = {}
    for b in sorted(out, key=lambda b: (out[b], b in starts)):  # an initial state in the column next to the steps
        stacks[on_row.get(out[b], 0)].append(b)
        on_row[out[b]] = on_row.get(out[b], 0) + 1
    return out, [c for c in stacks if c]


def _anchor_row(
    step_of: dict[str, str],
    level: dict[str, int],
    receives_state: set[str],
    beside: list,
    starts: list,
    steps: Steps,
    stacks: list[list[str]] | None = None,
) -> list[Hint]:
    """The invisible anchors k0 (parameters), k1, k2, … (t = 0 if drawn, then each step), on the first rank; with
    `stacks`, the boxes beside the steps are held in those columns by chains of weighted invisible edges."""
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
        anchor("k0", [c[0] for c in stacks] if stacks else beside)
    for column in stacks or []:
        hints.extend(Invisible(a, b, weight=10) for a, b in zip(column, column[1:]))
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
