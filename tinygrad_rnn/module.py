"""Model base class: named parameters, save/load to .npz, and the two output heads shared by the models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinygrad_rnn import functional as F
from tinygrad_rnn.tensor import Tensor


class Module:
    """A model whose parameters are the Tensor attributes named in `param_names` (in that order)."""

    param_names: tuple[str, ...] = ()

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

    def save(self, path: str | Path) -> Path:
        """Write the parameters by name to an .npz file (the suffix is added when missing)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        np.savez(path, **self.arrays())
        return path

    def load(self, path: str | Path) -> Module:
        """Read parameters saved by `save`; the file must name every parameter with the same shape."""
        with np.load(Path(path), allow_pickle=False) as stored:
            missing = [n for n in self.param_names if n not in stored.files]
            if missing:
                raise ValueError(f"load {path}: parameter(s) {', '.join(missing)} missing; file has {stored.files}")
            new = {}
            for name, p in self.named_parameters().items():
                arr = stored[name]
                if arr.shape != p.data.shape:
                    raise ValueError(
                        f"load {path}: parameter {name} has shape {arr.shape} in the file but {p.data.shape} "
                        "in the model"
                    )
                new[name] = arr
        for name, arr in new.items():  # only after every check passed: nothing is half-loaded
            p = getattr(self, name)
            p.data = arr.astype(p.data.dtype, copy=True)
            p.grad = None
        return self

    def initial_state(self, value, shape: tuple, name: str, where: str) -> Tensor:
        """An initial state h_0 / c_0: zeros when None, else an array or Tensor of shape (H,) or (B, H)."""
        H = self.hidden_size
        allowed = {(H,), shape}
        expected = " or ".join(map(str, sorted(allowed)))
        if value is None:
            return Tensor(np.zeros(shape, dtype=self.dtype), requires_grad=True, name=name)
        if isinstance(value, Tensor):
            if value.shape not in allowed:
                raise ValueError(f"{where}: {name[0]}0 has shape {value.shape}; expected {expected}")
            if value.op in (None, "detach"):  # a leaf, e.g. the detached last state of the previous chunk
                value.name = name
            return value
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{where}: {name[0]}0 must hold real numbers, got dtype {arr.dtype}")
        if arr.shape not in allowed:
            raise ValueError(f"{where}: {name[0]}0 has shape {arr.shape}; expected {expected}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{where}: {name[0]}0 has a non-finite value")
        return Tensor(arr.astype(self.dtype), requires_grad=True, name=name)


def output_loss(o: Tensor, y, t: int, head: str = "softmax") -> tuple[Tensor, Tensor]:
    """The output head of step t: (ŷ_t, L_t).

    softmax: ŷ_t = softmax(o_t), L_t = −Σ_i y_i log ŷ_i (lecture 2.1 and appendix A);
    linear:  ŷ_t = o_t,          L_t = Σ_i (ŷ_i − y_i)² (regression, for forecasting).
    Batched o_t (B, K) sums the loss over the batch as well.
    """
    if head == "softmax":
        yhat = F.softmax(o)
        loss = F.cross_entropy_probs(yhat, y, reduction="sum")
    elif head == "linear":
        yhat = o
        loss = F.mse_loss(o, y, reduction="sum")
    else:
        raise ValueError(f"unknown output head {head!r}: expected 'softmax' or 'linear'")
    if head == "softmax":
        yhat.name = f"ŷ_{t}"
    loss.name = f"L_{t}"
    return yhat, loss
