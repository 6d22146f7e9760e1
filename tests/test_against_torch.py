"""An independent witness: PyTorch's autograd on the same equations gives the same loss and gradients (float64).

Runs where PyTorch is installed (`make bench-peers` installs the CPU build); skipped elsewhere — the lecture's own
numpy BPTT (`tests/test_lecture.py`) is the witness that always runs.
"""

import numpy as np
import pytest
from hypothesis import given, settings

from tinygrad_rnn.lstm import GRU, LSTM
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.strategies import rnn_sizes

torch = pytest.importorskip("torch")


def problem(T, B, D, H, K, seed):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((T, B, D)) if B else rng.standard_normal((T, D))
    ys = rng.integers(0, K, size=(T, B) if B else (T,))
    return xs, ys


def torch_loss(step, params, xs, ys, hidden):
    """Σ_t CE(y_t, softmax(o_t)) in torch for a step function (h, x) -> (h, o), batched as (T, B, D)."""
    X = torch.tensor(xs if xs.ndim == 3 else xs[:, None, :])
    Y = torch.tensor(ys if ys.ndim == 2 else ys[:, None])
    h = tuple(torch.zeros(X.shape[1], hidden, dtype=torch.float64) for _ in range(2))
    total = 0.0
    for t in range(X.shape[0]):
        h, o = step(h, X[t], params)
        total = total + torch.nn.functional.cross_entropy(o, Y[t], reduction="sum")
    return total


def compare(model, step, xs, ys):
    P = {k: torch.tensor(v, requires_grad=True) for k, v in model.arrays().items()}
    expected = torch_loss(step, P, xs, ys, model.hidden_size)
    expected.backward()
    L = model.loss(xs, ys)
    L.backward()
    np.testing.assert_allclose(L.item(), expected.item(), rtol=1e-12)
    for name, p in model.named_parameters().items():
        np.testing.assert_allclose(p.grad, P[name].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def rnn_step(h, x, P):
    h = torch.tanh(P["b"] + x @ P["W"].T + h[0] @ P["U"].T)
    return (h, h), P["c"] + h @ P["V"].T


def lstm_step(state, x, P):
    h, c = state
    gate = lambda g, act: act(x @ P[f"W_{g}"].T + h @ P[f"U_{g}"].T + P[f"b_{g}"])  # noqa: E731
    f, i, g, og = gate("f", torch.sigmoid), gate("i", torch.sigmoid), gate("g", torch.tanh), gate("og", torch.sigmoid)
    c = f * c + i * g
    h = og * torch.tanh(c)
    return (h, c), h @ P["V"].T + P["b_y"]


def gru_step(state, x, P):
    h = state[0]
    z = torch.sigmoid(x @ P["W_z"].T + h @ P["U_z"].T + P["b_z"])
    r = torch.sigmoid(x @ P["W_r"].T + h @ P["U_r"].T + P["b_r"])
    n = torch.tanh(x @ P["W_n"].T + (r * h) @ P["U_n"].T + P["b_n"])
    h = (1 - z) * n + z * h
    return (h, h), h @ P["V"].T + P["b_y"]


@settings(max_examples=15)
@given(sizes=rnn_sizes())
def test_lecture_rnn_both_graphs_match_torch(sizes):
    xs, ys = problem(**sizes)
    T, B, D, H, K, seed = (sizes[k] for k in ("T", "B", "D", "H", "K", "seed"))
    for options in ({"tanh": "composed"}, {"tanh": "primitive"}, {"fast": True}):
        compare(RNN(D, H, K, seed=seed % 1000, **options), rnn_step, xs, ys)


@settings(max_examples=10)
@given(sizes=rnn_sizes(max_steps=5))
def test_lstm_and_gru_match_torch(sizes):
    xs, ys = problem(**sizes)
    D, H, K, seed = (sizes[k] for k in ("D", "H", "K", "seed"))
    compare(LSTM(D, H, K, seed=seed % 1000), lstm_step, xs, ys)
    compare(GRU(D, H, K, seed=seed % 1000), gru_step, xs, ys)


def test_lstm_equals_torch_nn_lstm_with_mapped_weights():
    """torch.nn.LSTM stacks the gates as (i, f, g, o) and has two biases; with ours copied in, h_t agree."""
    D, H, K, T = 3, 4, 2, 6
    model = LSTM(D, H, K, seed=3)
    xs = np.random.default_rng(3).standard_normal((T, D))
    hs, _ = model.forward(xs)
    a = model.arrays()
    net = torch.nn.LSTM(D, H).double()
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.tensor(np.concatenate([a["W_i"], a["W_f"], a["W_g"], a["W_og"]])))
        net.weight_hh_l0.copy_(torch.tensor(np.concatenate([a["U_i"], a["U_f"], a["U_g"], a["U_og"]])))
        net.bias_ih_l0.copy_(torch.tensor(np.concatenate([a["b_i"], a["b_f"], a["b_g"], a["b_og"]])))
        net.bias_hh_l0.zero_()
    out, _ = net(torch.tensor(xs[:, None, :]))
    np.testing.assert_allclose(np.stack([h.data for h in hs]), out[:, 0].detach().numpy(), rtol=1e-12, atol=1e-14)
