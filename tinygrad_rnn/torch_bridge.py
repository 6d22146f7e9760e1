"""Weights to and from PyTorch: RNN ↔ torch.nn.RNN (tanh), LSTM ↔ torch.nn.LSTM, GRU(variant="torch") ↔
torch.nn.GRU, each with the output layer o_t = V h_t + c as a torch.nn.Linear.

PyTorch stacks the gates' matrices in one weight (LSTM: i, f, g, o; GRU: r, z, n) and has two biases, b_ih and
b_hh, where these models have one per gate: going to PyTorch the bias goes into b_ih and b_hh is 0; coming back
the two are added. The GRU's candidate keeps its recurrent bias apart (bh_n), because PyTorch's reset gate
multiplies it. torch is imported only when a function here is called; this module imports nothing of the package.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["to_torch", "from_torch_arrays"]

# model class → (torch.nn class, gates in PyTorch's order, name of the output bias)
_LAYOUT = {
    "RNN": ("RNN", ("",), "c"),
    "LSTM": ("LSTM", ("i", "f", "g", "og"), "b_y"),
    "GRU": ("GRU", ("r", "z", "n"), "b_y"),
}


def _name(p: str, gate: str) -> str:
    return f"{p}_{gate}" if gate else p


def to_torch(model: Any) -> tuple[Any, Any]:
    """(recurrent, readout) holding the model's weights, in its dtype, for input laid out (T, B, D) as ours."""
    import torch

    kind = type(model).__name__
    if kind not in _LAYOUT:
        raise TypeError(f"to_torch: {kind} has no PyTorch counterpart; RNN, LSTM and GRU have")
    if kind == "GRU" and model.variant != "torch":
        raise ValueError(
            "GRU.to_torch: the Cho et al. GRU (variant='cho') applies the reset gate before U_n, PyTorch after it; "
            "build GRU(..., variant='torch') for a model PyTorch computes exactly"
        )
    torch_class, gates, out_bias = _LAYOUT[kind]
    D, H, K = model.input_size, model.hidden_size, model.output_size
    dtype = torch.float64 if model.dtype == np.float64 else torch.float32
    extra = {"nonlinearity": "tanh"} if kind == "RNN" else {}
    recurrent = getattr(torch.nn, torch_class)(D, H, dtype=dtype, **extra)
    readout = torch.nn.Linear(H, K, dtype=dtype)
    p = model.arrays()
    b_hh = np.zeros(len(gates) * H, dtype=model.dtype)
    if kind == "GRU":
        b_hh[2 * H :] = p["bh_n"]
    values = {
        "weight_ih_l0": np.concatenate([p[_name("W", g)] for g in gates]),
        "weight_hh_l0": np.concatenate([p[_name("U", g)] for g in gates]),
        "bias_ih_l0": np.concatenate([p[_name("b", g)] for g in gates]),
        "bias_hh_l0": b_hh,
    }
    with torch.no_grad():
        for name, value in values.items():
            getattr(recurrent, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
        readout.weight.copy_(torch.from_numpy(p["V"]))
        readout.bias.copy_(torch.from_numpy(p[out_bias]))
    return recurrent, readout


def from_torch_arrays(kind: str, recurrent: Any, readout: Any) -> dict[str, np.ndarray]:
    """The parameter arrays of our `kind` ("RNN", "LSTM", "GRU") read from a one-layer PyTorch module and a Linear
    readout; ValueError for what has no counterpart (layers, directions, projections, no bias, relu)."""
    import torch

    where = f"{kind}.from_torch"
    torch_class, gates, out_bias = _LAYOUT[kind]
    if not isinstance(recurrent, getattr(torch.nn, torch_class)):
        raise TypeError(f"{where}: expected a torch.nn.{torch_class}, got {type(recurrent).__name__}")
    if not isinstance(readout, torch.nn.Linear) or readout.bias is None:
        raise TypeError(f"{where}: the readout must be a torch.nn.Linear with a bias, got {type(readout).__name__}")
    problems = [
        f"num_layers={recurrent.num_layers} (one layer only)" if recurrent.num_layers != 1 else "",
        "bidirectional=True" if recurrent.bidirectional else "",
        "bias=False" if not recurrent.bias else "",
        f"proj_size={recurrent.proj_size}" if getattr(recurrent, "proj_size", 0) else "",
        f"nonlinearity={recurrent.nonlinearity!r}" if getattr(recurrent, "nonlinearity", "tanh") != "tanh" else "",
        f"readout in_features={readout.in_features}" if readout.in_features != recurrent.hidden_size else "",
    ]
    problems = [p for p in problems if p]
    if problems:
        raise ValueError(f"{where}: no counterpart for {', '.join(problems)}")
    H = recurrent.hidden_size
    t = {name: getattr(recurrent, name).detach().cpu().numpy() for name in ("weight_ih_l0", "weight_hh_l0")}
    b_ih, b_hh = (getattr(recurrent, n).detach().cpu().numpy() for n in ("bias_ih_l0", "bias_hh_l0"))
    out: dict[str, np.ndarray] = {}
    for k, g in enumerate(gates):
        rows = slice(k * H, (k + 1) * H)
        out[_name("W", g)] = t["weight_ih_l0"][rows].copy()
        out[_name("U", g)] = t["weight_hh_l0"][rows].copy()
        out[_name("b", g)] = b_ih[rows] + (0 if (kind == "GRU" and g == "n") else b_hh[rows])
    if kind == "GRU":
        out["bh_n"] = b_hh[2 * H :].copy()
    out["V"] = readout.weight.detach().cpu().numpy().copy()
    out[out_bias] = readout.bias.detach().cpu().numpy().copy()
    return out
