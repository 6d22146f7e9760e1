"""Models: named parameters (save, load, from_arrays) and the recurrent skeleton every RNN, LSTM and GRU shares.

`Recurrent` owns what does not depend on the cell: the time loop with one `scope("t=k")` per step (the initial
states h_0, c_0 in "t=0"), the output heads and the loss, one `Trace` of the nodes by symbol, the carried `state`,
`step()`, and truncated-BPTT chunking (`chunks`). A model defines its parameters (`shape_spec`), its cell and its
output layer — little else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_rnn import functional as F
from tinygrad_rnn import torch_bridge
from tinygrad_rnn.checkpoint import CHECKPOINT_FORMAT, META_KEY, find_npz, npz_path, read_npz
from tinygrad_rnn.inputs import Sequences, check_dtype, check_head, check_sizes, validate_sequences, whole_number
from tinygrad_rnn.tensor import Tensor, scope, stack

__all__ = ["Module", "Recurrent", "Trace", "output_loss", "chunk_bounds", "detach_state", "matvec"]

# A model whose parameters alone take more than this is refused at construction (before any allocation).
MAX_PARAMETER_BYTES = 4 * 2**30
State = Any  # a Tensor (h) or a tuple of Tensors ((h, c) for the LSTM)


def matvec(M: Tensor, v: Tensor) -> Tensor:
    """M v for a column vector v (1-D); for a batch of row vectors v (B, n) the same product is v Mᵀ."""
    return M @ v if v.ndim == 1 else v @ M.T


class Module:
    """A model whose parameters are the Tensor attributes named in `param_names` (in that order)."""

    param_names: tuple[str, ...] = ()
    transform: Any = None  # the data transform `load_model` read beside the arrays (a Vocabulary, a Standardizer)

    def parameters(self) -> list[Tensor]:
        return [getattr(self, n) for n in self.param_names]

    def named_parameters(self) -> dict[str, Tensor]:
        return {n: getattr(self, n) for n in self.param_names}

    def arrays(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's values, by name."""
        return {n: getattr(self, n).data.copy() for n in self.param_names}

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def config(self) -> dict[str, Any]:
        """The constructor's options that define this model beyond its sizes and arrays (saved with it)."""
        return {}

    def sizes(self) -> dict[str, int]:
        """The constructor's size arguments."""
        return {}

    def save(self, path: str | Path, transform: Any = None) -> Path:
        """Write the parameters by name to an .npz file (the suffix is added when missing), and beside them, as JSON
        (no pickle), what rebuilds the model: its class, sizes and options, and the data `transform` if given (a
        `data.Vocabulary` or `data.Standardizer`, anything with `to_config()`). `load_model(path)` reads it back."""
        meta = {"format": CHECKPOINT_FORMAT, "class": type(self).__name__, "sizes": self.sizes()}
        meta |= {"options": self.config(), "parameters": list(self.param_names), "transform": None}
        if transform is not None:
            if not hasattr(transform, "to_config"):
                raise TypeError(f"save: transform {type(transform).__name__} has no to_config()")
            meta["transform"] = {"class": type(transform).__name__, "config": transform.to_config()}
        path = npz_path(path)
        arrays: dict[str, Any] = {**self.arrays(), META_KEY: np.array(json.dumps(meta))}
        tmp = path.with_name(path.name + ".part.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)  # written whole, then moved: an interrupted save leaves the old file as it was
        return path

    def load(self, path: str | Path) -> Module:
        """Read parameters saved by `save` ("m" finds "m.npz"); every parameter must be there with its shape, as
        finite real numbers. Nothing changes unless all of them pass (ValueError naming the file)."""
        path = find_npz(path)
        self.assign(read_npz(path, self.param_names), where=f"load {path}")
        return self

    def assign(self, arrays: dict[str, Any], where: str = "assign") -> None:
        """Set every parameter from `arrays` (by name), checked all first: same shape, finite real numbers."""
        checked = {}
        for name, p in self.named_parameters().items():
            if name not in arrays:
                raise ValueError(f"{where}: parameter {name} is missing; given: {', '.join(sorted(arrays))}")
            arr = np.asarray(getattr(arrays[name], "data", arrays[name]))
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"{where}: parameter {name} must hold real numbers, got dtype {arr.dtype}")
            if arr.shape != p.data.shape:
                raise ValueError(
                    f"{where}: parameter {name} has shape {arr.shape} in the file but {p.data.shape} in the model"
                    if where.startswith("load")
                    else f"{where}: parameter {name} has shape {arr.shape}; the model needs {p.data.shape}"
                )
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{where}: parameter {name} has a non-finite value")
            checked[name] = arr
        for name, arr in checked.items():  # only after every check passed: nothing is half-assigned
            p = getattr(self, name)
            p.data = arr.astype(p.data.dtype, copy=True)
            p.grad = None


# ---- the trace -----------------------------------------------------------------------------------------------------


class Trace:
    """The nodes of the last `forward`/`loss` call by lecture symbol: `trace.h[t − 1]` is h_t (also `trace["h"]`),
    likewise x, o, yhat, L and a gated cell's gates; `h0` (and `c0`) the initial states; `loss` the total.

    The fast RNN graph has no per-step o_t node: its logits are the rows of one node, `fused["o"]`, and
    `step_grads("o")` reads ∇_{o_t}L off its rows, so every graph answers the same questions."""

    def __init__(self, step_keys: tuple[str, ...], batched: bool) -> None:
        self.steps: dict[str, list[Tensor]] = {k: [] for k in ("x", *step_keys, "o", "yhat", "L")}
        self.initial: dict[str, Tensor] = {}
        self.fused: dict[str, Tensor] = {}
        self.loss: Tensor | None = None
        self.batched = batched

    def __getattr__(self, key: str) -> Any:
        steps = self.__dict__.get("steps", {})
        if key in steps:
            return steps[key]
        if key in ("h0", "c0"):
            return self.__dict__.get("initial", {}).get(key[0])
        raise AttributeError(f"Trace has no {key!r}; per-step keys: {', '.join(steps)}")

    def __getitem__(self, key: str) -> list[Tensor]:
        return self.steps[key]

    def step_grads(self, key: str) -> list[np.ndarray]:
        """∇ of every step's node `key` (t = 1..T), zeros where backward gave none; from fused rows if need be."""
        if key in self.fused:
            node, T = self.fused[key], len(self.steps["h"])
            g = node.grad if node.grad is not None else np.zeros(node.shape)
            g = g.reshape(T, -1, node.shape[-1])
            return [g[t] if self.batched else g[t, 0] for t in range(T)]
        grads = [n.grad if n.grad is not None else np.zeros(n.shape) for n in self.steps[key]]
        if not self.batched:  # one sequence: vectors, also where the fast graph keeps a step as a (1, n) row
            grads = [g.reshape(g.shape[-1]) for g in grads]
        return grads


# ---- the output heads ------------------------------------------------------------------------------------------------


def output_loss(o: Tensor, y: Any, t: int, head: str = "softmax", weight: Any = None) -> tuple[Tensor, Tensor]:
    """The output head of step t: (ŷ_t, L_t).

    softmax: ŷ_t = softmax(o_t), L_t = −Σ_i y_i log ŷ_i (lecture 2.1 and appendix A);
    linear:  ŷ_t = o_t,          L_t = Σ_i (ŷ_i − y_i)² (regression, for forecasting).
    Batched o_t (B, K) sums the loss over the batch as well, each sequence b weighted by weight[b] when given.
    """
    check_head(head, "output_loss")
    reduction = "sum" if weight is None else "none"
    if head == "softmax":
        yhat = F.softmax(o)
        yhat.name = f"ŷ_{t}"
        if isinstance(y, Tensor):  # targets as a leaf of the graph (replay feeds new ones)
            loss = _leaf_targets_loss(yhat, y, o.shape[-1])
            loss = loss.sum() if weight is None else loss
        else:
            loss = F.cross_entropy_probs(yhat, y, reduction=reduction)
    else:
        yhat = o
        loss = F.mse_loss(o, y, reduction=reduction)
        if weight is not None and loss.ndim > 1:
            loss = loss.sum(axis=-1)
    if weight is not None:
        loss = (loss * Tensor(np.asarray(weight, dtype=o.dtype))).sum()
    loss.name = f"L_{t}"
    return yhat, loss


def _leaf_targets_loss(yhat: Tensor, y: Tensor, K: int) -> Tensor:
    """−log Σ_k ŷ_k y_k per row for class indices y, made one-hot in the graph as y_k = relu(1 − |y − k|) (exact for
    whole numbers y); −Σ_k y_k log ŷ_k for rows. The values of cross_entropy_probs, with y a node, not a constant."""
    if y.shape == yhat.shape:
        return -(yhat.log() * y).sum(axis=-1)
    onehot = (1.0 - (y.reshape(y.shape + (1,)) - Tensor(np.arange(K, dtype=yhat.dtype))).abs()).relu()
    return -(yhat * onehot).sum(axis=-1).log()


# ---- truncated BPTT -----------------------------------------------------------------------------------------------


def chunk_bounds(T: int, k: int | None) -> list[tuple[int, int]]:
    """[(0, k), (k, 2k), …, (·, T)]: 0-based half-open slices of the steps; k = None means one chunk."""
    T = whole_number(T, "T", "chunk_bounds")
    if k is None:
        return [(0, T)]
    k = whole_number(k, "the chunk length k", "truncated BPTT")
    return [(a, min(a + k, T)) for a in range(0, T, k)]


def detach_state(state: State) -> State:
    """h.detach(), or each part of an (h, c) pair: the value carries on, the gradient stops here."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


# ---- the recurrent skeleton -----------------------------------------------------------------------------------------


class Recurrent(Module):
    """The time loop shared by every recurrent model; subclasses give `shape_spec`, `init_arrays`, `cell`, `output`.

    state_keys: the parts of the state carried from step to step ("h"; "h", "c" for the LSTM);
    step_keys: the nodes of a step the trace keeps, in the order the cell makes them (gates, then the state).
    """

    state_keys: tuple[str, ...] = ("h",)
    step_keys: tuple[str, ...] = ("h",)
    spec_options: tuple[str, ...] = ()  # constructor options that change the parameters (see shape_spec)

    def __init__(self, input_size: int, hidden_size: int, output_size: int, *, head: str, dtype: Any) -> None:
        cls = type(self).__name__
        D, H, K = check_sizes(cls, input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        self.input_size, self.hidden_size, self.output_size = D, H, K
        self.head = check_head(head, cls)
        self.dtype = check_dtype(dtype, cls)
        self.trace: Trace | None = None
        self.state: State | None = None
        self._check_size(cls)

    def _check_size(self, owner: str) -> None:
        count = sum(int(np.prod(shape)) for shape in self._parameter_shapes().values())
        if count * self.dtype.itemsize > MAX_PARAMETER_BYTES:
            raise ValueError(
                f"{owner}: {count:,} parameters need {count * self.dtype.itemsize / 2**30:.1f} GiB; at most "
                f"{MAX_PARAMETER_BYTES / 2**30:.0f} GiB (module.MAX_PARAMETER_BYTES) are made"
            )

    # -- parameters --
    @classmethod
    def shape_spec(cls, **options: Any) -> dict[str, str]:
        """Each parameter's shape in the letters D (input), H (hidden), K (output), e.g. {"W": "HD", "b": "H"};
        `options` are the constructor's options that change the parameters (the GRU's variant)."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        return {"head": self.head, "dtype": self.dtype.name}

    def sizes(self) -> dict[str, int]:
        return {"input_size": self.input_size, "hidden_size": self.hidden_size, "output_size": self.output_size}

    def _make_parameters(self, arrays: dict[str, np.ndarray]) -> None:
        for name, value in arrays.items():
            setattr(self, name, Tensor(np.asarray(value, dtype=self.dtype), requires_grad=True, name=name))
        self.param_names = tuple(arrays)

    def _parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        size = {"D": self.input_size, "H": self.hidden_size, "K": self.output_size}
        spec = self.shape_spec(**{k: getattr(self, k) for k in self.spec_options})
        return {n: tuple(size[c] for c in letters) for n, letters in spec.items()}

    @classmethod
    def from_arrays(cls, **given: Any) -> Recurrent:
        """A model holding the given parameter arrays (copied), e.g. `RNN.from_arrays(W=…, U=…, V=…, b=…, c=…)`;
        other keywords are the constructor's options. The sizes D, H, K are read off the arrays and every shape is
        checked against the others; an error names the parameter. dtype: the given one, else float32 when every
        array is float32, else float64."""
        where = f"{cls.__name__}.from_arrays"
        options = {k: v for k, v in given.items() if not isinstance(v, (np.ndarray, Tensor, list))}
        spec = cls.shape_spec(**{k: v for k, v in options.items() if k in cls.spec_options})
        arrays = {k: np.asarray(getattr(v, "data", v)) for k, v in given.items() if k not in options}
        unknown, missing = set(arrays) - set(spec), [n for n in spec if n not in arrays]
        if unknown or missing:
            raise ValueError(
                f"{where}: parameters are {', '.join(spec)}; "
                + (f"missing {', '.join(missing)}" if missing else "")
                + ("; " if unknown and missing else "")
                + (f"unknown {', '.join(sorted(unknown))}" if unknown else "")
            )
        size: dict[str, tuple[int, str]] = {}
        for name, letters in spec.items():
            a = arrays[name]
            if a.ndim != len(letters):
                raise ValueError(f"{where}: {name} must have {len(letters)} axes ({_letters(letters)}), got {a.shape}")
            for n, c in zip(a.shape, letters):
                if c not in size:
                    size[c] = (n, name)
                elif size[c][0] != n:
                    want = tuple(size[x][0] if x in size else "?" for x in letters)
                    raise ValueError(
                        f"{where}: {name} has shape {a.shape}, but {size[c][1]} {arrays[size[c][1]].shape} makes "
                        f"{c}={size[c][0]}, so {name} must be {want} ({_letters(letters)})"
                    )
        if "dtype" not in options:
            float32 = all(a.dtype == np.float32 for a in arrays.values())
            options["dtype"] = np.float32 if float32 else np.float64
        model = cls(size["D"][0], size["H"][0], size["K"][0], **options)
        model.assign(arrays, where=where)
        return model

    def check_parameters(self, where: str) -> None:
        """Each parameter still has its shape (e.g. after `param.data = …`); the error names the parameter."""
        for name, shape in self._parameter_shapes().items():
            got = getattr(self, name).data.shape
            if got != shape:
                raise ValueError(f"{where}: parameter {name} has shape {got}; the model needs {shape}")

    def last_trace(self) -> Trace:
        """The trace of the last `forward`/`loss` call (ValueError when there was none)."""
        if self.trace is None:
            raise ValueError(f"{type(self).__name__}: no forward pass has run yet, so there is no trace")
        return self.trace

    # -- the cell, given by each model --
    def cell(self, x: Tensor, state: tuple[Tensor, ...]) -> dict[str, Tensor]:
        """One step: the new nodes by step key (every `state_keys` entry among them)."""
        raise NotImplementedError

    def output(self, h: Tensor) -> Tensor:
        """o_t from h_t."""
        raise NotImplementedError

    # -- states --
    def _state_shape(self, batch: int | None) -> tuple[int, ...]:
        return (self.hidden_size,) if batch is None else (batch, self.hidden_size)

    def initial_state(self, value: Any, shape: tuple[int, ...], name: str, where: str) -> Tensor:
        """An initial state h_0 / c_0 in the "t=0" scope: zeros when None, else an array or Tensor of shape (H,) or
        `shape` ((B, H) for a batch)."""
        allowed = {(self.hidden_size,), shape}
        expected = " or ".join(map(str, sorted(allowed)))
        if isinstance(value, Tensor):
            if value.shape not in allowed:
                raise ValueError(f"{where}: {name[0]}0 has shape {value.shape}; expected {expected}")
            if value.op in (None, "detach"):  # a leaf, e.g. the detached last state of the previous chunk
                value.name, value.scope = name, "t=0"
            return value
        if value is None:
            arr = np.zeros(shape, dtype=self.dtype)
        else:
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"{where}: {name[0]}0 must hold real numbers, got dtype {arr.dtype}")
            if arr.shape not in allowed:
                raise ValueError(f"{where}: {name[0]}0 has shape {arr.shape}; expected {expected}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{where}: {name[0]}0 has a non-finite value")
        state = Tensor(arr.astype(self.dtype), requires_grad=True, name=name)
        state.scope = "t=0"  # the initial states' own step, wherever they are made
        return state

    def zero_state(self, batch: int | None = None) -> State:
        """The initial state of zeros, h_0 (and c_0) of shape (H,), or (B, H) for a batch of B."""
        shape = self._state_shape(None if batch is None else whole_number(batch, "batch", "zero_state"))
        parts = self._initial(None, None, shape, f"{type(self).__name__}.zero_state")
        return parts if len(parts) > 1 else parts[0]

    def _initial(self, h0: Any, c0: Any, shape: tuple[int, ...], where: str) -> tuple[Tensor, ...]:
        """The initial state tuple: h0 alone, or for an (h, c) state h0 and c0, or h0 = (h, c)."""
        if len(self.state_keys) == 1:
            return (self.initial_state(h0, shape, "h_0", where),)
        if isinstance(h0, tuple):  # the `state` of a previous call
            if c0 is not None or len(h0) != 2:
                raise ValueError(f"{where}: give the initial state either as h0=(h, c) or as h0=h, c0=c")
            h0, c0 = h0
        return self.initial_state(h0, shape, "h_0", where), self.initial_state(c0, shape, "c_0", where)

    # -- inputs --
    def _inputs(self, xs: Any, seq: Sequences) -> list[Tensor]:
        """x_1..x_T as nodes: slices of `xs` when it is a Tensor (its graph kept: xs.grad is filled), else leaves."""
        T = seq.xs.shape[0]
        if isinstance(xs, Tensor):
            out = []
            for t in range(1, T + 1):
                with scope(f"t={t}"):
                    out.append(xs[t - 1])
            return out
        values = seq.xs.astype(self.dtype) if seq.batched else seq.xs[:, 0].astype(self.dtype)
        out = []
        for t in range(1, T + 1):
            with scope(f"t={t}"):
                out.append(Tensor(values[t - 1]))
        return out

    def _perturbation(self, perturb: Any, arg: str, sym: str, T: int, shape: tuple, where: str) -> dict:
        if not perturb:
            return {}
        out = {}
        for t, value in perturb.items():
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 1 <= t <= T:
                raise ValueError(f"{where}: {arg} keys must be steps t = 1..{T}, got {t!r}")
            arr = np.asarray(value, dtype=self.dtype)
            if arr.shape != shape:
                raise ValueError(f"{where}: {arg} at t={t} has shape {arr.shape}, but {sym}_{t} has shape {shape}")
            out[int(t)] = arr
        return out

    # -- the time loop --
    def _unroll(self, xs: Any, seq: Sequences, h0: Any, c0: Any, perturb: Any, perturb_o: Any, where: str) -> Trace:
        """h_t, o_t for t = 1..T, each step in scope "t=<t>"; `perturb` / `perturb_o` ({t: array}) are added to h_t
        (before o_t and the next step use it) and to o_t, for finite differences of ∇_{h_t}L and ∇_{o_t}L."""
        self.check_parameters(where)
        T, B, _ = seq.xs.shape
        shape = self._state_shape(B if seq.batched else None)
        dh = self._perturbation(perturb, "perturb", "h", T, shape, where)
        do = self._perturbation(perturb_o, "perturb_o", "o", T, shape[:-1] + (self.output_size,), where)
        trace = Trace(self.step_keys, seq.batched)
        state = self._initial(h0, c0, shape, where)
        trace.initial = dict(zip(self.state_keys, state))
        for t, x in enumerate(self._inputs(xs, seq), start=1):
            with scope(f"t={t}"):
                nodes = self.cell(x, state)
                if t in dh:
                    nodes["h"] = nodes["h"] + Tensor(dh[t])
                state = tuple(nodes[k] for k in self.state_keys)
                nodes["o"] = self.output(nodes["h"])
                if t in do:
                    nodes["o"] = nodes["o"] + Tensor(do[t])
            x.name = f"x_{t}"
            trace.steps["x"].append(x)
            for key, node in nodes.items():
                node.name = f"{key}_{t}"
                trace.steps[key].append(node)
        self.state = state if len(state) > 1 else state[0]
        return trace

    def _sequences(self, xs: Any, ys: Any, where: str) -> Sequences:
        self.trace = self.state = None  # the previous call's graph (reachable from both) is released before the
        # next one is built: a training loop holds one graph at a time
        out = None if ys is None else self.output_size
        return validate_sequences(xs, ys, input_size=self.input_size, output_size=out, head=self.head, where=where)

    def forward(
        self, xs: Any, h0: Any = None, perturb: Any = None, *, perturb_o: Any = None, c0: Any = None
    ) -> tuple[list[Tensor], list[Tensor]]:
        """h_1..h_T and o_1..o_T for xs of shape (T, D) or (T, B, D) — an array, or a Tensor whose graph is kept.

        h0: the initial state, (H,) or (B, H), an array or a Tensor (zeros when None); for an LSTM also c0, or
        h0 = (h, c). perturb / perturb_o: {t: array} added to h_t / o_t (t 1-based), for finite differences.
        """
        where = f"{type(self).__name__}.forward"
        seq = self._sequences(xs, None, where)
        self.trace = self._unroll(xs, seq, h0, c0, perturb, perturb_o, where)
        return self.trace.h, self.trace.o

    def loss(
        self,
        xs: Any,
        ys: Any,
        h0: Any = None,
        perturb: Any = None,
        *,
        perturb_o: Any = None,
        c0: Any = None,
        reduction: str = "sum",
        mask: Any = None,
    ) -> Tensor:
        """L = Σ_t L_t, L_t = −Σ_i y_{t,i} log ŷ_{t,i} (softmax head; lecture 2.2, appendix A) or Σ_i (o_{t,i} −
        y_{t,i})² (linear head), summed over a batch too. The nodes of this call stay reachable as `self.trace`.

        ys: class indices (T,) / (T, B) or one-hot rows (T, K) / (T, B, K); regression targets (T, K) / (T, B, K).
        mask: weights (T,) or (T, B) (1 = counted, 0 = left out) of each step and sequence; reduction "sum" or
        "mean" (divided by the number of counted (t, b) pairs, or the sum of the weights).
        """
        where = f"{type(self).__name__}.loss"
        seq = self._sequences(xs, ys, where)
        weights = _weights(mask, seq, reduction, where)
        trace = self._unroll(xs, seq, h0, c0, perturb, perturb_o, where)
        return self._heads(trace, seq, weights, reduction, ys if isinstance(ys, Tensor) else None)

    def _targets(self, seq: Sequences) -> np.ndarray:
        """Class indices when given so, else the target rows in the model's dtype."""
        if seq.labels is not None:
            return seq.labels
        assert seq.ys is not None, "a loss needs targets"
        return seq.ys.astype(self.dtype)

    def _heads(self, trace: Trace, seq: Sequences, weights: np.ndarray | None, reduction: str,
               leaf: Tensor | None = None) -> Tensor:  # fmt: skip
        """ŷ_t and L_t on every o_t, each in its step's scope; L = Σ_t L_t (or their mean). Targets given as a Tensor
        (`leaf`) stay nodes of the graph: y_t = leaf[t − 1]."""
        targets = self._targets(seq)
        for t, o in enumerate(trace.o, start=1):
            y = targets[t - 1] if seq.batched else targets[t - 1, 0]
            if leaf is not None:
                with scope(f"t={t}"):
                    y = leaf[t - 1]
            w = None if weights is None else (weights[t - 1] if seq.batched else weights[t - 1, 0])
            with scope(f"t={t}"):
                yhat, L_t = output_loss(o, y, t, self.head, w)
            trace.steps["yhat"].append(yhat)
            trace.steps["L"].append(L_t)
        total = stack(trace.L).sum()  # L = Σ_t L_t   (2.2)
        if reduction == "mean":
            count = float(weights.sum()) if weights is not None else float(seq.xs.shape[0] * seq.xs.shape[1])
            total = total * (1.0 / count)
        total.name = "L"
        trace.loss = total
        self.trace = trace
        return total

    def step(self, x: Any, state: State = None) -> tuple[State, Tensor]:
        """One step outside the time loop: (the new state, o_t) from x_t (D,) or (B, D) and the state (zeros when
        None; h, or (h, c) for the LSTM)."""
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.dtype))
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}.step: x must have shape (D,) or (B, D) with D={self.input_size}; got {x.shape}"
            )
        shape = self._state_shape(x.shape[0] if x.ndim == 2 else None)
        parts = self._initial(state, None, shape, f"{type(self).__name__}.step")
        nodes = self.cell(x, parts)
        new = tuple(nodes[k] for k in self.state_keys)
        return (new if len(new) > 1 else new[0]), self.output(nodes["h"])

    def chunks(self, xs: Any, ys: Any = None, k: int | None = None, h0: Any = None) -> Iterator[tuple[int, int, Any]]:
        """Truncated BPTT over one long sequence: for each chunk [a, b) of k steps (k = None: one chunk) yield
        (a, b, result) — result the chunk's loss when ys is given, else its outputs o_a+1..o_b — with the state of
        the previous chunk carried in detached (the gradient stops at the chunk boundary, the value carries on)."""
        xs_len = len(xs)
        if ys is not None and len(ys) != xs_len:
            raise ValueError(f"{type(self).__name__}.chunks: xs has {xs_len} steps but ys has {len(ys)}")
        state = h0
        for a, b in chunk_bounds(xs_len, k):
            result = self.forward(xs[a:b], state)[1] if ys is None else self.loss(xs[a:b], ys[a:b], state)
            state = detach_state(self.state)
            yield a, b, result

    # -- PyTorch --
    def to_torch(self) -> tuple[Any, Any]:
        """(recurrent, readout): a torch.nn.RNN / LSTM / GRU (the GRU for variant="torch" only) and a torch.nn.Linear
        with V and the output bias, holding these weights exactly, in this model's dtype; input laid out (T, B, D)."""
        return torch_bridge.to_torch(self)

    @classmethod
    def from_torch(cls, recurrent: Any, readout: Any, **options: Any) -> Recurrent:
        """This kind of model holding the weights of a one-layer torch.nn.RNN / LSTM / GRU and a Linear readout
        (PyTorch's two biases added); `options` go to the constructor (e.g. head="linear")."""
        arrays = torch_bridge.from_torch_arrays(cls.__name__, recurrent, readout)
        if cls.__name__ == "GRU":
            options.setdefault("variant", "torch")
        return cls.from_arrays(**arrays, **options)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self._repr_options().items())
        return (
            f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"output_size={self.output_size}{extra}, head={self.head!r}, dtype={self.dtype.name})"
        )

    def _repr_options(self) -> dict[str, Any]:
        return {}


def _letters(spec: str) -> str:
    return "(" + ", ".join(spec) + ")"


def _weights(mask: Any, seq: Sequences, reduction: str, where: str) -> np.ndarray | None:
    """The mask as (T, B) weights (None when not given), checked; reduction must be "sum" or "mean"."""
    if reduction not in ("sum", "mean"):
        raise ValueError(f"{where}: reduction must be 'sum' or 'mean', got {reduction!r}")
    if mask is None:
        return None
    T, B = seq.xs.shape[:2]
    m = np.asarray(mask)
    want = (T, B) if seq.batched else (T,)
    if m.dtype.kind not in "biuf" or m.shape != want:
        raise ValueError(f"{where}: mask must be {want} real weights (one per step and sequence); got {m.shape}")
    m = m.astype(np.float64).reshape(T, B)
    if not np.all(np.isfinite(m)) or (m < 0).any():
        raise ValueError(f"{where}: mask weights must be finite and ≥ 0")
    if reduction == "mean" and m.sum() == 0:
        raise ValueError(f"{where}: reduction='mean' with a mask that counts nothing")
    return m
