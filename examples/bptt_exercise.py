"""Exercise: backpropagation through time for the lecture's RNN by hand (section 2.4), checked equation by equation.

    h_t = tanh(b + W x_t + U h_{t−1}),   o_t = c + V h_t,   ŷ_t = softmax(o_t),   L = Σ_t −log ŷ_t[y_t]

W (H×D) takes the input x_t, U (H×H) the previous state h_{t−1}: the forward equation above is right, and section
2.4 as printed swaps the two. Fill in the TODOs of `backward` — one sequence, the lecture's column vectors as 1-D
numpy arrays — then run

    python examples/bptt_exercise.py
    tinygrad-rnn check --mine examples/bptt_exercise.py:my_bptt        (the same, from the command line)

The checker calls `my_bptt` on a few problems and says which equation is off, at which step, and which known mistake
it looks like. Return what you have done so far: a key you leave out is "not given", not an error.
"""

from __future__ import annotations

import numpy as np


def forward(W, U, V, b, c, xs, h0):
    """h_0..h_T as the rows of a (T+1, H) array and ŷ_1..ŷ_T as a (T, K) array, for one sequence xs (T, D)."""
    T = len(xs)
    h = np.zeros((T + 1, len(b)))
    h[0] = h0
    yhat = np.zeros((T, len(c)))
    for t in range(1, T + 1):
        h[t] = np.tanh(b + W @ xs[t - 1] + U @ h[t - 1])
        o = c + V @ h[t]
        e = np.exp(o - o.max())
        yhat[t - 1] = e / e.sum()
    return h, yhat


def backward(W, U, V, b, c, xs, ys, h0):
    """Your BPTT for one sequence: a dict with any of "o", "h", "W", "U", "V", "b", "c", "h0"."""
    T = len(xs)
    h, yhat = forward(W, U, V, b, c, xs, h0)  # h[t] is h_t (h[0] = h_0), yhat[t - 1] is ŷ_t
    y = np.eye(len(c))[ys]  # y[t - 1] is the one-hot target y_t
    grads = {}
    # TODO 1. ∇o_t for t = 1..T as a (T, K) array (row t − 1 is ∇o_t):              grads["o"] = ...
    # TODO 2. ∇h_t for t = T down to 1 as a (T, H) array (row t − 1 is ∇h_t):       grads["h"] = ...
    #         t = T: only o_T depends on h_T.  t < T: h_t feeds both o_t and h_{t+1}.
    # TODO 3. ∇V and ∇c: sums over t of terms made of ∇o_t (and h_t).               grads["V"], grads["c"] = ...
    # TODO 4. ∇W, ∇U, ∇b: sums over t; each goes back through the tanh of step t,
    #         diag(1 − h_t²) ∇h_t.                                                 grads["W"], ["U"], ["b"] = ...
    # TODO 5. (optional) ∇h_0:                                                     grads["h0"] = ...
    del T, y  # remove this line when you use them
    return grads


def my_bptt(W, U, V, b, c, xs, ys, h0=None):
    """What the checker calls: one sequence xs (T, D), or a batch (T, B, D) done one sequence at a time."""
    return per_sequence(backward, W, U, V, b, c, xs, ys, h0)


def per_sequence(backward, W, U, V, b, c, xs, ys, h0=None):
    """`backward` on every sequence of a batch, combined: parameter gradients add up, per-step ones stack on axis 1.
    (Given code: you need not change it.)"""
    xs, ys, H = np.asarray(xs, dtype=float), np.asarray(ys), len(b)
    h0 = np.zeros(H) if h0 is None else np.asarray(h0, dtype=float)
    if xs.ndim == 2:
        return backward(W, U, V, b, c, xs, ys, h0)
    parts = [backward(W, U, V, b, c, xs[:, k], ys[:, k], h0[k] if h0.ndim == 2 else h0) for k in range(xs.shape[1])]
    out = {}
    for key in parts[0]:
        values = [part[key] for part in parts]
        out[key] = np.stack(values, axis=1 if key in ("h", "o") else 0) if key in ("h", "o", "h0") else sum(values)
    return out


def main() -> None:
    from tinygrad_rnn.exercise import check_bptt

    print(check_bptt(my_bptt))


if __name__ == "__main__":
    main()
