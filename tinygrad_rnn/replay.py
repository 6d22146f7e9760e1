"""replay(fn): record the graph of `loss = fn(*args); loss.backward()` once, then re-run it as a flat numpy program.

    g = replay(rnn.loss)          # or replay(lambda xs, ys: rnn.loss(xs, ys) + penalty, ...)
    g(xs, ys)                     # = loss = rnn.loss(xs, ys); loss.backward(); returns loss.item()
    g.eager(xs, ys)               # the same, always eager (for comparison)

The first call for each combination of argument shapes and dtypes records: it wraps every array argument in a
Tensor leaf that requires no gradient (an *input* of the recording), calls fn eagerly — the ordinary graph is built,
so it can still be drawn — runs backward, and compiles the graph: the steps of an unrolled model batched where they
do not depend on one another (`batching.py`), then each primitive as numpy calls with `out=` into buffers planned by
liveness, views made once (`program.py`, `kernels.py`). Later calls copy the new arguments into the inputs' buffers
and run the program: no Tensor is made and nothing is sorted. exact=True keeps the eager walk's order of every sum
(no batching, no joined products): the gradients are then the eager ones bit for bit; by default they agree to
rounding (1e-12 is tested). Leaf gradients accumulate into
`.grad` exactly as `loss.backward()` does (interior nodes get none: a replayed graph has no nodes). fn may return
(loss, *extras): the extras' values of the last call are then `g.outputs` (e.g. the state to carry into the next
chunk of truncated BPTT).

What a recording is, and what it cannot be. The program is the graph of the recording call: the same primitives on
the same shapes, with parameters (leaves that require grad) read where they live and inputs fed anew. Anything else
fn decided in Python is frozen into it: a branch or a loop count that depends on values, a constant made from data
(`np.where(x.data > 0, …)`, a target picked out in numpy), state carried between calls in Python (`model.state`).
Replay detects what it can:
  * check="once" (the default): the second call of each recording runs fn eagerly again and compares the new graph
    with the recorded one — every op, shape, parameter and constant; a difference raises ReplayError naming the
    first node that differs. check="always" does so at every call (slow: for tests); check="never" trusts fn.
  * an array argument that is not a leaf of the graph (its values were read in Python, e.g. targets turned into
    constants) is compared with the recorded one at every call; when it differs the call records afresh.
  * parameters whose array was replaced (`p.data = …`) are copied into the array the program reads; a change of
    shape records afresh. Per call only shapes and dtypes of the arguments are checked (full validation ran in the
    recording): values out of range are the caller's to avoid, as for any compiled function.
Side effects of fn (`model.trace`, `model.state`) happen in recording and checking calls only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from tinygrad_rnn import kernels
from tinygrad_rnn.batching import batch_steps
from tinygrad_rnn.program import Compiler, Program, bind, plan
from tinygrad_rnn.tensor import Tensor, topological_order

__all__ = ["replay", "Replay", "ReplayError", "signature", "compile_graph"]


class ReplayError(ValueError):
    """fn's graph changed between calls of the same argument shapes: it depends on data through Python."""


class _Recording:
    """One program and what guards it: the signature of its graph, the arguments that are not leaves of it."""

    def __init__(self, program: Program, sig: list, slots: list[int], frozen: dict[int, np.ndarray]) -> None:
        self.program, self.signature, self.slots, self.frozen, self.calls = program, sig, slots, frozen, 1


class Replay:
    """The replayed fn: `g(*args)` → float (the loss), gradients accumulated into the leaves; see the module doc."""

    def __init__(self, fn: Callable[..., Any], check: str = "once", exact: bool = False) -> None:
        if not callable(fn):
            raise TypeError(f"replay: fn must be callable, got {type(fn).__name__}")
        if check not in ("once", "always", "never"):
            raise ValueError(f"replay: check must be 'once', 'always' or 'never', got {check!r}")
        self.fn, self.check, self.exact = fn, check, bool(exact)
        self.recordings: dict[tuple, _Recording] = {}
        self.outputs: list[np.ndarray] = []
        self.stats = {"recorded": 0, "checked": 0, "replayed": 0}
        self.unbatched = 0  # recordings whose batched program disagreed with eager: compiled step by step instead

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", type(self.fn).__name__)
        return f"replay({name}, check={self.check!r}): {len(self.recordings)} recording(s), {self.stats}"

    def __call__(self, *args: Any) -> float:
        key = _key(args)
        rec = self.recordings.get(key)
        if rec is not None and not _frozen_match(rec, args):
            rec = None  # an argument read in Python changed: the recording does not hold for it
        if rec is None:
            return self._record(key, args)
        if self.check == "always" or (self.check == "once" and rec.calls == 1):
            return self._checked(rec, args)
        program = rec.program
        if not _params_in_place(program):
            return self._record(key, args)
        loss = program.run([_data(args[i]) for i in rec.slots])
        self.outputs = [o.copy() for o in program.outputs]
        rec.calls += 1
        self.stats["replayed"] += 1
        return loss

    def eager(self, *args: Any) -> float:
        """loss = fn(*args); loss.backward(); the loss as a float — no recording used or made."""
        loss, extras, _ = self._run(args)
        self.outputs = [np.array(e.data) for e in extras]
        return loss.item()

    # -- recording and checking --
    def _run(self, args: tuple, own: dict | None = None) -> tuple[Tensor, list[Tensor], list[Tensor | None]]:
        """loss = fn(*args); loss.backward(). With `own`, this call's own gradient of each leaf is put there too
        (the leaves' .grad accumulate as always: the earlier gradient += this one)."""
        inputs = [a if isinstance(a, Tensor) else Tensor(a) if _is_array(a) else None for a in args]
        called = [t if t is not None else a for t, a in zip(inputs, args)]
        result = self.fn(*called)
        loss, extras = (result[0], list(result[1:])) if isinstance(result, tuple) else (result, [])
        if not isinstance(loss, Tensor) or loss.size != 1:
            raise TypeError(f"replay: fn must return a scalar Tensor (or a tuple that starts with one), got {loss!r}")
        if not all(isinstance(e, Tensor) for e in extras):
            raise TypeError("replay: the extras fn returns after the loss must be Tensors")
        if own is None:
            loss.backward()
            return loss, extras, inputs
        leaves = [n for n in topological_order(loss) if n._fn is None and n.requires_grad]
        before = {leaf: leaf.grad for leaf in leaves}
        for leaf in leaves:
            leaf.grad = None
        loss.backward()
        for leaf in leaves:
            g, earlier = leaf.grad, before[leaf]
            own[leaf] = g
            if earlier is not None and g is not None:
                earlier += g  # as the eager walk adds into a gradient that exists
            leaf.grad = earlier if earlier is not None else (None if g is None else g.copy())
        return loss, extras, inputs

    def _record(self, key: tuple, args: tuple) -> float:
        own: dict[Tensor, Any] = {}
        loss, extras, inputs = self._run(args, own)
        order = topological_order(loss)
        positions = _slot_positions(order, inputs)
        slots = [inputs[i] for i in positions]
        frozen = {i: np.array(_data(args[i])) for i, t in enumerate(inputs) if t is not None and i not in positions}
        arrays = [_data(args[i]) for i in positions]
        # The program is run once on the recording's own arguments and must give its values and gradients (to
        # rounding): if the batched steps disagree, the steps are compiled one by one instead, and a program that
        # still disagrees is not used. (The checking call compares again, on new arguments.)
        program = compile_graph(loss, slots, extras, exact=self.exact)  # type: ignore[arg-type]
        if not _agrees(program, arrays, loss, extras, own) and not self.exact:
            program = compile_graph(loss, slots, extras, exact=True)  # type: ignore[arg-type]
            self.unbatched += 1
        if not _agrees(program, arrays, loss, extras, own):
            name = getattr(self.fn, "__qualname__", "fn")
            raise ReplayError(f"replay({name}): the compiled program disagrees with the eager graph on the recording "
                              "call's own arguments; run it with g.eager(...) and report the graph")  # fmt: skip
        self.recordings[key] = _Recording(program, signature(order, slots), positions, frozen)  # type: ignore[arg-type]
        self.outputs = [np.array(e.data) for e in extras]
        self.stats["recorded"] += 1
        return loss.item()

    def _checked(self, rec: _Recording, args: tuple) -> float:
        own: dict[Tensor, Any] = {}
        loss, extras, inputs = self._run(args, own)
        order = topological_order(loss)
        slots = [inputs[i] for i in _slot_positions(order, inputs)]
        new = signature(order, slots)  # type: ignore[arg-type]
        name = getattr(self.fn, "__qualname__", "fn")
        if not _same_graph(rec.signature, new):
            raise ReplayError(f"replay({name}): {_difference(rec.signature, new)}")
        # the same graph; the program must also give this call's values (a value frozen into it would not)
        arrays = [_data(args[i]) for i in rec.slots]
        if _params_in_place(rec.program) and not _agrees(rec.program, arrays, loss, extras, own):
            raise ReplayError(f"replay({name}): the recorded program does not give this call's values — fn reads a "
                              "value of its arguments in Python, or the steps were batched wrongly (then "
                              "replay(fn, exact=True) avoids it; please report the graph); g.eager(...) runs fn as it "
                              "is")  # fmt: skip
        if self.check == "once":
            rec.signature = []  # checked: its memory is not kept
        rec.calls += 1
        self.outputs = [np.array(e.data) for e in extras]
        self.stats["checked"] += 1
        return loss.item()


def _params_in_place(program: Program) -> bool:
    """Parameters given a new array (`p.data = …`) are copied into the array the program reads; False when one
    changed shape (then the call records afresh)."""
    for leaf, arr in program.params:
        if leaf.data is not arr:
            if leaf.data.shape != arr.shape:
                return False
            np.copyto(arr, leaf.data)  # the program reads the parameter where it was: put the new values there
            leaf.data = arr
    return True


def _close(got: Any, want: Any, tol: float) -> bool:
    """Equal to rounding: |got − want| ≤ tol·(|want| + max|want|) (NaN and ±inf where the eager ones are)."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return False
    finite = np.isfinite(want)
    if not np.array_equal(np.isfinite(got), finite) or not np.array_equal(got[~finite], want[~finite], equal_nan=True):
        return False
    g, w = got[finite].astype(np.float64), want[finite].astype(np.float64)
    return w.size == 0 or bool(np.all(np.abs(g - w) <= tol * (np.abs(w) + np.abs(w).max()) + np.finfo(float).tiny))


def _agrees(program: Program, arrays: list, loss: Tensor, extras: list[Tensor], own: dict) -> bool:
    """The program on the recording's arguments: the eager loss, extras and this call's leaf gradients?"""
    with np.errstate(all="ignore"):
        value = program.compute(arrays)
    grads = {leaf: g for leaf, g in program.leaves}
    reached = {leaf for leaf, g in own.items() if g is not None}
    if len(reached) != len(grads):
        return False
    # leaves made anew in each call (an initial state h_0 that requires grad) are the recording's in the program:
    # the leaves both hold are compared
    pairs = [(value, loss.data), *((o, e.data) for o, e in zip(program.outputs, extras))]
    pairs += [(g, own[leaf]) for leaf, g in grads.items() if leaf in reached]
    # √ε of the least precise floating dtype met (a float32 model's loss may be summed in float64)
    dtypes = [a.dtype for _, a in program.params] + [np.asarray(b).dtype for _, b in pairs]
    tol = max(float(np.sqrt(np.finfo(d).eps)) for d in [np.dtype(np.float64), *dtypes] if d.kind == "f")
    return all(_close(a, b, tol) for a, b in pairs)


def replay(fn: Callable[..., Any], *, check: str = "once", exact: bool = False) -> Replay:
    """g = replay(fn): g(*args) does what `loss = fn(*args); loss.backward()` does and returns loss.item(); the
    first call per argument shapes and dtypes records, later calls run the recording (see the module doc).
    exact=True keeps every sum in the eager walk's order (bit-for-bit equal gradients, a little slower)."""
    return Replay(fn, check=check, exact=exact)


# ---- helpers ----------------------------------------------------------------------------------------------------


def _is_array(a: Any) -> bool:
    return isinstance(a, np.ndarray)


def _data(a: Any) -> np.ndarray:
    return a.data if isinstance(a, Tensor) else a


def _slot_positions(order: list[Tensor], inputs: list[Tensor | None]) -> list[int]:
    """The arguments that are leaves of the graph requiring no gradient: the recording's inputs."""
    inside = set(order)
    return [i for i, t in enumerate(inputs) if t is not None and t in inside and t._fn is None and not t.requires_grad]


def _key(args: tuple) -> tuple:
    """What selects a recording: each array's shape and dtype; any other argument by value (hashable) or identity."""
    key: list[tuple] = []
    for a in args:
        if isinstance(a, Tensor):
            key.append(("tensor", a.data.shape, a.data.dtype.str, a.requires_grad, id(a) if a.requires_grad else 0))
        elif _is_array(a):
            arr = np.asarray(a)
            key.append(("array", arr.shape, arr.dtype.str))
        else:
            try:
                hash(a)
                key.append(("value", type(a).__name__, a))
            except TypeError:
                key.append(("object", id(a)))
    return tuple(key)


def _frozen_match(rec: _Recording, args: tuple) -> bool:
    return all(np.array_equal(_data(args[i]), v) for i, v in rec.frozen.items())


def signature(order: list[Tensor], slots: list[Tensor]) -> list:
    """The graph as comparable data: per node its op, parents (positions), shape, dtype, the op's settings and,
    for a constant leaf, its values; inputs by their argument position, parameters by identity."""
    at = {node: i for i, node in enumerate(order)}
    inputs = {s: i for i, s in enumerate(slots)}
    out = []
    for node in order:
        if node._fn is None:
            kind: Any = ("input", inputs[node]) if node in inputs else ("leaf", id(node), _digest(node.data))
            if node not in inputs and not node.requires_grad:
                src = node.detached_from
                kind = ("detach", at[src]) if node.op == "detach" and src in at else ("constant", _digest(node.data))
        else:
            settings = {k: _digest(v) for k, v in vars(node._fn).items() if k not in ("saved", "needs")}
            kind = (node.op, tuple(at[p] for p in node.parents), tuple(sorted(settings.items())))
        out.append((kind, node.data.shape, node.data.dtype.str, node.requires_grad, node.scope))
    return out


def _digest(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return ("array", v.shape, v.dtype.str, hash(v.tobytes()))
    if isinstance(v, (list, tuple)):
        return tuple(_digest(x) for x in v)
    if isinstance(v, slice):
        return ("slice", v.start, v.stop, v.step)
    return v if isinstance(v, (int, float, bool, str, type(None), np.generic)) else repr(v)


def _same(a: tuple, b: tuple) -> bool:
    """Equal entries; a leaf that requires grad is the same one, or one made afresh with the same values (h_0)."""
    if a[0][0] == b[0][0] == "leaf" and a[1:] == b[1:]:
        return a[0][1] == b[0][1] or a[0][2] == b[0][2]
    return a == b


def _same_graph(old: list, new: list) -> bool:
    return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new))


def _difference(old: list, new: list) -> str:
    if len(old) != len(new):
        return (f"the graph has {len(new)} nodes now, {len(old)} when recorded: fn depends on data through Python "
                "(a branch, a loop count or a constant made from values), so it cannot be replayed")  # fmt: skip
    for i, (a, b) in enumerate(zip(old, new)):
        if not _same(a, b):
            what = "a constant's values" if a[0][0] == "constant" else f"node {i} ({a[0][0]})"
            where = f" at {b[4]}" if b[4] else ""
            return (
                f"{what}{where} differs from the recording: fn depends on data through Python (a branch or a "
                "constant made from values), so it cannot be replayed; use g.eager or make it a graph op"
            )
    return "the graph differs from the recording"


# ---- compiling a graph -------------------------------------------------------------------------------------------


def _order(loss: Tensor) -> list[Tensor]:
    """topological_order, with each detach() of a node of the graph placed after that node (it reads its value)."""
    order = topological_order(loss)
    inside = set(order)
    after: dict[Tensor, list[Tensor]] = defaultdict(list)
    for node in order:
        src = node.detached_from if node.op == "detach" else None
        if src is not None and src in inside:
            after[src].append(node)
    if not after:
        return order
    out: list[Tensor] = []
    placed: set[Tensor] = set()
    stack = [(node, False) for node in reversed(order)]
    while stack:  # depth-first again, a detach() depending on its source
        node, ready = stack.pop()
        if node in placed:
            continue
        src = node.detached_from if node.op == "detach" else None
        deps = [p for p in (*node.parents, *([src] if src in inside else [])) if p not in placed]
        if ready or not deps:
            placed.add(node)
            out.append(node)
        else:
            stack.append((node, True))
            stack.extend((p, False) for p in reversed(deps))
    return out


def _fastest_products(code: list) -> list:
    """Each matrix product as np.dot or np.matmul, whichever is faster for its shapes and layouts on this machine
    (timed once per kind: for small matrices np.dot has less overhead per call; results agree to rounding)."""
    choice: dict[tuple, Any] = {}
    out = []
    for f, args in code:
        if f is np.matmul and all(a.ndim == 2 for a in args) and args[2].flags.c_contiguous and _apart(args):
            kind = tuple((a.shape, a.strides) for a in args)
            if kind not in choice:
                choice[kind] = min((np.matmul, np.dot), key=lambda g: _time(g, args))
            f = choice[kind]
        out.append((f, args))
    return out


def _apart(args: tuple) -> bool:
    """The product's output shares no memory with its inputs (np.dot needs that; np.matmul copies when it must)."""
    return not any(np.may_share_memory(args[2], a) for a in args[:2])


def _time(f: Any, args: tuple) -> float:
    import time

    scratch = np.empty_like(args[2])
    best = float("inf")
    with np.errstate(all="ignore"):  # the buffers hold whatever they held: only the time counts
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(3):
                f(args[0], args[1], scratch)
            best = min(best, time.perf_counter() - t0)
    return best


def compile_graph(loss: Tensor, slots: list[Tensor], outputs: list[Tensor], exact: bool = False) -> Program:
    """The program of the graph below `loss` (the values of `slots` are given at each call; `outputs` kept)."""
    c = Compiler(exact)
    order = _order(loss)
    batched = None if exact else batch_steps(order, [loss, *outputs])
    if batched is not None:  # a copy of the graph with the steps batched: compiled instead
        loss, outputs = batched[0], batched[1:]
        order = _order(loss)
    index = {node: i for i, node in enumerate(order)}
    slot_bufs = kernels.leaves(c, order, slots, index)
    kernels.prepare(c, order, loss)
    for node in order:
        if node._fn is not None:
            c.value[node] = kernels.forward(c, node)
        elif node not in c.value:  # a detach() of a node of the graph: that node's value
            c.value[node] = c.value[node.detached_from]  # type: ignore[index]
    n_forward = len(c.code)
    leaf_grads = kernels.backward_all(c, order, loss)
    keep = {c.value[loss]} | {c.value[o] for o in outputs}
    nbytes = plan(c, slot_bufs, keep | set(g for _, g in leaf_grads))
    params = [(leaf, c.value[leaf]) for leaf in order if leaf._fn is None and leaf.requires_grad]
    code = [(f, bind(a)) for f, a, _ in c.code]
    if not exact:
        code = _fastest_products(code)
    fw, bw = code[:n_forward], code[n_forward:]
    program = Program(fw, bw, [b.resolve() for b in slot_bufs], c.value[loss].resolve(),
                      [(leaf, g.resolve()) for leaf, g in leaf_grads], [(p, b.external) for p, b in params],
                      [c.value[o].resolve() for o in outputs], nbytes)  # fmt: skip
    program.lifetimes = [(b.resolve(), first, last) for b, first, last in c.lifetimes]
    program.handoffs = [(a.resolve(), b.resolve()) for a, b in c.handoffs]
    return program
