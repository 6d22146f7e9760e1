"""Homework: BPTT for the LSTM by hand, checked node by node against autodiff with `check_gradients`.

The model is `tinygrad_rnn.lstm.LSTM` (see its docstring for the equations and node names). Your function gets the
parameters by name, xs and ys, and returns the gradients you derived: parameters by name (W_f, U_f, b_f, …, V, b_y)
and the per-step gradients of the trace nodes ("h", "c", "f", "i", "g", "og", "o") as (T, H) arrays, or (T, B, H)
for a batch. Return only what you have so far: a missing key is not checked.

    python examples/lstm_exercise.py

checks `lstm_bptt` (a worked solution) and `lstm_bptt_no_forget` (one classic slip: the cell state's gradient
passed back to c_{t−1} without the forget gate), and prints what the checker says about each.
"""

from __future__ import annotations

import numpy as np

from tinygrad_rnn.exercise import check_gradients
from tinygrad_rnn.lstm import LSTM

GATES = ("f", "i", "g", "og")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _forward(P, X):
    """Every step's gates and states, each (B, H); X is (T, B, D)."""
    T, B, _ = X.shape
    H = P["U_f"].shape[0]
    h, c = [np.zeros((B, H))], [np.zeros((B, H))]
    s = {k: [None] for k in GATES}
    for t in range(1, T + 1):
        pre = {k: X[t - 1] @ P[f"W_{k}"].T + h[t - 1] @ P[f"U_{k}"].T + P[f"b_{k}"] for k in GATES}
        for k in GATES:
            s[k].append(np.tanh(pre[k]) if k == "g" else sigmoid(pre[k]))
        c.append(s["f"][t] * c[t - 1] + s["i"][t] * s["g"][t])
        h.append(s["og"][t] * np.tanh(c[t]))
    return h, c, s


def lstm_bptt(params, xs, ys, *, forget_in_recursion=True):
    """∇L of the LSTM with softmax and cross-entropy, L = Σ_t L_t, by backpropagation through time."""
    X = np.asarray(xs, float)
    batched = X.ndim == 3
    X = X if batched else X[:, None]
    T, B, _ = X.shape
    P = params
    K = P["V"].shape[0]
    Y = np.eye(K)[np.asarray(ys) if batched else np.asarray(ys)[:, None]]
    h, c, s = _forward(P, X)
    grads = {name: np.zeros_like(value) for name, value in P.items()}
    steps = {k: [None] * (T + 1) for k in ("h", "c", "o", *GATES)}
    dh_next = np.zeros_like(h[0])  # what h_t receives from step t+1: Σ_k U_k^T ∇pre_k(t+1)
    dc_next = np.zeros_like(c[0])  # ∇c_{t+1}
    f_next = np.zeros_like(c[0])  # f_{t+1}
    for t in range(T, 0, -1):
        o = h[t] @ P["V"].T + P["b_y"]
        e = np.exp(o - o.max(axis=-1, keepdims=True))
        do = e / e.sum(axis=-1, keepdims=True) - Y[t - 1]  # ∇o_t = ŷ_t − y_t
        dh = do @ P["V"] + dh_next  # ∇h_t = V^T ∇o_t + (from step t+1)
        tc = np.tanh(c[t])
        dc = dh * s["og"][t] * (1 - tc**2) + dc_next * (f_next if forget_in_recursion else 1.0)
        d = {"og": dh * tc, "f": dc * c[t - 1], "i": dc * s["g"][t], "g": dc * s["i"][t]}
        dpre = {k: d[k] * (1 - s[k][t] ** 2) if k == "g" else d[k] * s[k][t] * (1 - s[k][t]) for k in GATES}
        for k in GATES:
            grads[f"W_{k}"] += dpre[k].T @ X[t - 1]
            grads[f"U_{k}"] += dpre[k].T @ h[t - 1]
            grads[f"b_{k}"] += dpre[k].sum(axis=0)
            steps[k][t] = d[k]
        grads["V"] += do.T @ h[t]
        grads["b_y"] += do.sum(axis=0)
        steps["h"][t], steps["c"][t], steps["o"][t] = dh, dc, do
        dh_next = sum(dpre[k] @ P[f"U_{k}"] for k in GATES)
        dc_next, f_next = dc, s["f"][t]
    for k, per in steps.items():
        stacked = np.stack(per[1:])
        grads[k] = stacked if batched else stacked[:, 0]
    return grads


def lstm_bptt_no_forget(params, xs, ys):
    """The same, with ∇c_{t−1} += ∇c_t (the forget gate f_t left out of the cell state's recursion)."""
    return lstm_bptt(params, xs, ys, forget_in_recursion=False)


def main() -> None:
    for fn in (lstm_bptt, lstm_bptt_no_forget):
        print(f"=== {fn.__name__} ===")
        print(check_gradients(fn, LSTM))
        print()


if __name__ == "__main__":
    main()
