"""Any recurrent model's hand-written gradients (an LSTM homework, say) checked against autodiff, step by step.

    check = check_gradients(my_lstm_bptt, LSTM)   # my_lstm_bptt(params, xs, ys) -> {"W_f": …, "c": …, "h": …}
    print(check)

The function gets the model's parameters by name (`named_parameters()`), xs and ys, and returns gradients: a
parameter's by its name, and the per-step gradients of a trace key ("h", "o", and e.g. "c", "f", "i", "g", "og"
for the LSTM, "z", "r", "n" for the GRU) as one array, (T, H) or (T, B, H). There is no catalogue of mistakes here:
each finding says which node is wrong at which step. Localisation walks the real unrolled graph backwards with the
student's numbers put in at every node they give; what reaches a node then is its correct local equation applied to
the student's own downstream gradients. A node that equals it is right (its error comes from later steps); one that
differs is where an equation is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygrad_rnn.annotations import Annotations
from tinygrad_rnn.fmt import num, shape_text
from tinygrad_rnn.localise import TOL, Finding, Node, annotate, close, raised_finding, read, run_quietly
from tinygrad_rnn.tensor import Tensor, _unbroadcast, topological_order

__all__ = ["GradientCheck", "ModelResult", "check_gradients", "backward_with"]


def backward_with(root: Tensor, given: dict[int, np.ndarray]) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """The backward walk of `root` (∂root/∂node for every node, keyed by id) where a node in `given` passes on
    given[id] instead of the gradient that reached it; also returns what reached each given node.

    The engine's own walk (`Tensor.backward`) with one change; it fills no `.grad`, so the graph stays as it was."""
    grads: dict[int, np.ndarray] = {id(root): np.ones_like(root.data)}
    reached: dict[int, np.ndarray] = {}
    for node in reversed(topological_order(root, grad_only=True)):
        g = grads.get(id(node))
        if id(node) in given:
            reached[id(node)] = g if g is not None else np.zeros_like(node.data)
            g = grads[id(node)] = given[id(node)]
        if g is None or node._fn is None:
            continue
        for parent, pg in zip(node.parents, node._fn.backward(g)):
            if pg is None or not parent.requires_grad:
                continue
            pg = _unbroadcast(pg, parent.data.shape) if pg.shape != parent.data.shape else pg
            grads[id(parent)] = pg if id(parent) not in grads else grads[id(parent)] + pg
    return grads, reached


def _step_terms(root: Tensor, params: dict[str, Tensor]) -> dict[str, dict[int, np.ndarray]]:
    """For each parameter, its gradient's share from each step t (the scope "t=k" of the node that uses it)."""
    grads, _ = backward_with(root, {})
    ids = {id(p): n for n, p in params.items()}
    out: dict[str, dict[int, np.ndarray]] = {n: {} for n in params}
    for node in topological_order(root, grad_only=True):
        if node._fn is None or id(node) not in grads:
            continue
        m = re.match(r"t=(\d+)", node.scope or "")
        t = int(m.group(1)) if m else 0
        for parent, pg in zip(node.parents, node._fn.backward(grads[id(node)])):
            if id(parent) in ids and pg is not None:
                pg = _unbroadcast(pg, parent.data.shape) if pg.shape != parent.data.shape else pg
                share = out[ids[id(parent)]]
                share[t] = share.get(t, 0) + pg
    return out


@dataclass
class ModelResult:
    """One problem: the model, its loss after backward (the graph), findings, nodes by graph name, keys given."""

    name: str
    model: Any
    loss: Tensor
    findings: list[Finding]
    nodes: dict[str, Node]
    given: tuple[str, ...] = ()


@dataclass
class GradientCheck:
    """What `check_gradients` found: `ok`, `findings`, every problem's `results`; `str(check)` is the report."""

    findings: list[Finding]
    results: list[ModelResult]
    printed: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def __str__(self) -> str:
        model = type(self.results[0].model).__name__
        lines = [f"Your gradients of the {model} against autodiff (to {TOL:g}), on {len(self.results)} problems:"]
        lines += [f"  {r.name}" for r in self.results]
        given = sorted({k for r in self.results for k in r.given})
        lines.append(f"given: {', '.join(given) or 'nothing'}")
        if self.ok:
            return "\n".join([*lines, "CORRECT: every gradient you returned equals autodiff's, on every problem."])
        lines.append(f"NOT CORRECT: {len(self.findings)} finding{'s' * (len(self.findings) > 1)}.")
        for i, f in enumerate(self.findings, start=1):
            lines += ["", f"{i}. {f}"]
        return "\n".join(lines)

    def annotations(self, problem: int = 0) -> Annotations:
        """For `draw(results[problem].loss, annotations=…)`: each checked node coloured by its status."""
        r = self.results[problem]
        return annotate(r.nodes, f"your gradients vs autodiff, problem {r.name}", reference="autodiff")


def _default_problems(model_factory: Callable, seed: int) -> list[tuple[Any, np.ndarray, np.ndarray]]:
    out = []
    for T, D, H, K, B in ((4, 3, 5, 2, None), (1, 2, 3, 4, None), (3, 2, 4, 5, 2)):
        try:
            model = model_factory(D, H, K, seed=seed)
        except TypeError:
            model = model_factory(D, H, K)
        rng = np.random.default_rng([seed, T, B or 0, D, H, K])
        lead = (T,) if B is None else (T, B)
        xs = rng.normal(0.0, 1.0, (*lead, D))
        ys = rng.normal(0.0, 1.0, (*lead, K)) if model.head == "linear" else rng.integers(0, K, lead)
        out.append((model, xs, ys))
    return out


def check_gradients(
    fn: Callable, model_factory: Callable, *, seed: int = 0, problems: Iterable[Any] | None = None
) -> GradientCheck:
    """Check fn(params, xs, ys) -> {parameter name or trace key: gradient} against autodiff on model_factory's model.

    model_factory(D, H, K, seed=…) builds a `module.Recurrent` model (the class LSTM itself will do); problems:
    (model, xs, ys) triples instead of the default three (T = 4, T = 1, a batch of 2)."""
    if not callable(fn):
        raise TypeError(f"check_gradients: fn must be a function, got {type(fn).__name__}")
    triples = list(problems) if problems is not None else _default_problems(model_factory, seed)
    results, printed = [], 0
    for i, (model, xs, ys) in enumerate(triples, start=1):
        params = model.named_parameters()
        model.zero_grad()
        loss = model.loss(xs, ys)
        loss.backward()
        trace = model.trace
        T = len(trace.h)
        name = f"{i}: T = {T}" + (f", B = {np.shape(xs)[1]}" if trace.batched else "")
        name += f", D = {model.input_size}, H = {model.hidden_size}, K = {model.output_size}"
        args = ({n: p.data.copy() for n, p in params.items()}, np.array(xs, copy=True), np.array(ys, copy=True))
        value, error, lines = run_quietly(fn, *args)
        printed += lines
        if error is not None:
            results.append(ModelResult(name, model, loss, [raised_finding(error)], {}))
        else:
            results.append(_judge(name, model, loss, value))
        for f in results[-1].findings:
            f.problem = name
    return GradientCheck(_merge(results), results, printed)


def _merge(results: list[ModelResult]) -> list[Finding]:
    out: dict[tuple, Finding] = {}
    for r in results:
        for f in r.findings:
            key = (f.quantity, f.kind, f.message if f.quantity is None else "")
            if key in out:
                out[key].also_on.append(f.problem)
            else:
                out[key] = f
    return list(out.values())


def _steps(q: str, a: np.ndarray, nodes: list[Tensor]) -> tuple[list[np.ndarray] | None, Finding | None]:
    """A per-step gradient array → one array per step node, or a finding for the wrong shape / NaN."""
    want = (len(nodes), *nodes[0].shape)
    if a.shape != want:
        return None, Finding(q, None, "wrong_shape", f"∇{q}_t has shape {shape_text(a.shape)}; want {shape_text(want)}")
    if not np.all(np.isfinite(a)):
        bad = [t for t in range(len(nodes), 0, -1) if not np.all(np.isfinite(a[t - 1]))]
        return None, Finding(q, bad[0], "not_finite", f"∇{q}_t holds NaN or inf at t = {', '.join(map(str, bad))}")
    return list(a), None


def _judge(name: str, model: Any, loss: Tensor, value: Any) -> ModelResult:
    """Every parameter and every step node the student gives, in the order the backward pass reaches them."""
    params = model.named_parameters()
    trace = model.trace
    keys = [k for k in trace.steps if k not in ("x", "yhat", "L")]
    arrays, findings = read(value, (*params, *keys))
    given: dict[int, np.ndarray] = {}
    checked: list[tuple[str, int, Tensor, np.ndarray]] = []  # (quantity, t, node, student's value)
    for q in keys:
        if q in arrays:
            per, f = _steps(q, arrays[q], trace.steps[q])
            findings += [f] if f else []
            for t, (node, s) in enumerate(zip(trace.steps[q], per or []), start=1):
                given[id(node)] = s
                checked.append((q, t, node, s))
    true, _ = backward_with(loss, {})
    grads_given, reached = backward_with(loss, given)
    rank = {id(n): i for i, n in enumerate(reversed(topological_order(loss, grad_only=True)))}
    checked.sort(key=lambda c: rank.get(id(c[2]), 0))
    nodes: dict[str, Node] = {}
    current: dict[str, Finding] = {}
    for q, t, node, s in checked:
        f = _judge_node(q, t, s, true.get(id(node), np.zeros_like(node.data)), reached[id(node)], nodes)
        if f is not None and q in current:
            current[q].steps.append(t)
        elif f is not None:
            current[q] = f
            findings.append(f)
    for f in current.values():
        if len(f.steps) > 1:
            f.message += f"\nwrong again at t = {', '.join(map(str, f.steps[1:]))} (given your own later steps)"
    terms = _step_terms(loss, params) if any(q in arrays for q in params) else {}
    for q, p in params.items():
        if q in arrays:
            right = true.get(id(p), np.zeros_like(p.data))
            status, f = _judge_param(q, arrays[q], right, grads_given.get(id(p)), terms[q])
            nodes[q] = Node(status, arrays[q], right, kind=f.kind if f else None)
            findings += [f] if f else []
    return ModelResult(name, model, loss, findings, nodes, tuple(arrays))


def _scale(true: np.ndarray) -> float:
    return max(float(np.abs(true).max()) if true.size else 0.0, 1e-6)


def _judge_node(q: str, t: int, s: np.ndarray, true: np.ndarray, reached: np.ndarray, nodes: dict) -> Finding | None:
    scale = _scale(true)
    rel = float(np.abs(s - true).max()) / scale
    if close(s, true, scale):
        nodes[f"{q}_{t}"] = Node("ok", s, true, rel)
        return None
    if close(s, reached, scale):
        nodes[f"{q}_{t}"] = Node("follows", s, true, rel)
        return None
    nodes[f"{q}_{t}"] = Node("wrong", s, true, rel, "unknown")
    i = np.unravel_index(int(np.argmax(np.abs(s - true))), s.shape)
    idx = tuple(int(k) for k in i)
    return Finding(
        q,
        t,
        "unknown",
        f"∇{q}_{t} is wrong, and not because of a later step: given your own gradients at the later nodes, the "
        f"chain rule at {q}_{t} gives {num(reached[i], 6)} at entry {idx}; yours is {num(s[i], 6)} (autodiff: "
        f"{num(true[i], 6)}). The equation for ∇{q}_t is wrong at t = {t}.",
        steps=[t],
    )


def _judge_param(
    q: str, s: np.ndarray, true: np.ndarray, reached: Any, terms: dict[int, np.ndarray]
) -> tuple[str, Finding | None]:
    """(status, finding or None) of one parameter's gradient; "follows": right given the student's own steps."""
    scale = _scale(true)
    if s.shape != true.shape:
        shapes = f"∇{q} has shape {shape_text(s.shape)}; {q} is {shape_text(true.shape)}"
        return "unreadable", Finding(q, None, "wrong_shape", shapes)
    if not np.all(np.isfinite(s)):
        return "unreadable", Finding(q, None, "not_finite", f"∇{q} holds NaN or inf")
    if close(s, true, scale):
        return "ok", None
    if reached is not None and close(s, reached, scale):
        return "follows", None  # the finding of the step it sums says why
    i = np.unravel_index(int(np.argmax(np.abs(s - true))), s.shape)
    per = ", ".join(f"t={t}: {num(v[i], 6)}" for t, v in sorted(terms.items()))
    kind = "wrong_sign" if close(s, -true, scale) else "unknown"
    return "wrong", Finding(
        q,
        None,
        kind,
        f"∇{q} differs from autodiff: largest error at entry {tuple(int(k) for k in i)}: yours {num(s[i], 6)}, "
        f"autodiff {num(true[i], 6)}; the per-step terms there that would have been right: {per}",
    )
