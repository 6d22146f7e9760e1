"""For teachers: three deliberately wrong answers to the exercise in bptt_exercise.py, and what the checker says.

Each is a whole `backward` for one sequence as a student writes it, with one mistake (marked MISTAKE); `per_sequence`
from the exercise runs it on batches. Run

    python examples/bptt_exercise_wrong.py

to print the three reports (docs/check_your_bptt.md shows them); tests/test_exercise.py checks the findings below.

* `state_off_by_one`  — ∇U paired with h_t instead of h_{t−1}:
      ∇U — off_by_one_state (every problem); smallest failing problem T = 1, D = 1, H = 1.
* `forgot_recurrence` — ∇h_t = V^T ∇o_t only:
      ∇h_t at t = T − 1 — missing_recurrent_term, again at every earlier step; ∇W, ∇U, ∇b, ∇h_0 merely follow
      from it; smallest failing problem T = 2.
* `as_printed`        — section 2.4 typed literally (W^T in the recursion, the printed factor order, ∇W paired
      with h_{t−1}, ∇U with x_t):
      raised where D ≠ H (W^T ∇h is a D-vector); ∇h_t at t = T − 1, ∇W and ∇U — as_printed where D = H.
"""

from __future__ import annotations

import numpy as np
from bptt_exercise import forward, per_sequence


def _do(c, ys, yhat):
    return yhat - np.eye(len(c))[ys]  # ∇o_t = ŷ_t − y_t, row t − 1


def backward_state_off_by_one(W, U, V, b, c, xs, ys, h0):
    T = len(xs)
    h, yhat = forward(W, U, V, b, c, xs, h0)
    do = _do(c, ys, yhat)
    dh = np.zeros((T + 2, len(b)))  # dh[t] = ∇h_t; dh[T + 1] = 0
    g = {k: np.zeros_like(v) for k, v in (("W", W), ("U", U), ("V", V), ("b", b), ("c", c))}
    for t in range(T, 0, -1):
        nxt = U.T @ ((1 - h[t + 1] ** 2) * dh[t + 1]) if t < T else 0.0
        dh[t] = V.T @ do[t - 1] + nxt
        delta = (1 - h[t] ** 2) * dh[t]
        g["W"] += np.outer(delta, xs[t - 1])
        g["U"] += np.outer(delta, h[t])  # MISTAKE: h_t where h_{t−1} belongs
        g["V"] += np.outer(do[t - 1], h[t])
        g["b"] += delta
        g["c"] += do[t - 1]
    return {**g, "o": do, "h": dh[1 : T + 1]}


def backward_forgot_recurrence(W, U, V, b, c, xs, ys, h0):
    T = len(xs)
    h, yhat = forward(W, U, V, b, c, xs, h0)
    do = _do(c, ys, yhat)
    dh = np.zeros((T + 1, len(b)))
    g = {k: np.zeros_like(v) for k, v in (("W", W), ("U", U), ("V", V), ("b", b), ("c", c))}
    for t in range(T, 0, -1):
        dh[t] = V.T @ do[t - 1]  # MISTAKE: h_t also feeds h_{t+1}; that term is missing
        delta = (1 - h[t] ** 2) * dh[t]
        g["W"] += np.outer(delta, xs[t - 1])
        g["U"] += np.outer(delta, h[t - 1])
        g["V"] += np.outer(do[t - 1], h[t])
        g["b"] += delta
        g["c"] += do[t - 1]
    h0_grad = U.T @ ((1 - h[1] ** 2) * dh[1])
    return {**g, "o": do, "h": dh[1:], "h0": h0_grad}


def backward_as_printed(W, U, V, b, c, xs, ys, h0):
    T = len(xs)
    h, yhat = forward(W, U, V, b, c, xs, h0)
    do = _do(c, ys, yhat)
    dh = np.zeros((T + 2, len(b)))
    gW, gU, gV = np.zeros((len(b), len(b))), np.zeros((len(b), xs.shape[1])), np.zeros_like(V)
    for t in range(T, 0, -1):
        # MISTAKE (the printed section 2.4): W^T (∇h_{t+1}) diag(1 − h_{t+1}²) + V^T ∇o_t
        nxt = W.T @ dh[t + 1] @ np.diag(1 - h[t + 1] ** 2) if t < T else 0.0
        dh[t] = nxt + V.T @ do[t - 1]
        gW += np.diag(1 - h[t] ** 2) @ np.outer(dh[t], h[t - 1])  # printed: ∇W with h_{t−1}
        gU += np.diag(1 - h[t] ** 2) @ np.outer(dh[t], xs[t - 1])  # printed: ∇U with x_t
        gV += np.outer(do[t - 1], h[t])
    return {"W": gW, "U": gU, "V": gV, "o": do, "h": dh[1 : T + 1]}


def state_off_by_one(W, U, V, b, c, xs, ys, h0=None):
    return per_sequence(backward_state_off_by_one, W, U, V, b, c, xs, ys, h0)


def forgot_recurrence(W, U, V, b, c, xs, ys, h0=None):
    return per_sequence(backward_forgot_recurrence, W, U, V, b, c, xs, ys, h0)


def as_printed(W, U, V, b, c, xs, ys, h0=None):
    return per_sequence(backward_as_printed, W, U, V, b, c, xs, ys, h0)


WRONG = (state_off_by_one, forgot_recurrence, as_printed)


def main() -> None:
    from tinygrad_rnn.exercise import check_bptt

    for fn in WRONG:
        print(f"=== {fn.__name__} ===")
        print(check_bptt(fn))
        print()


if __name__ == "__main__":
    main()
