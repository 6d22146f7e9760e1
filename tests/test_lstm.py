"""LSTM and GRU: gradients against central differences, the equations against a numpy witness, known gate facts."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinygrad_rnn import lecture
from tinygrad_rnn.gradcheck import gradcheck
from tinygrad_rnn.lstm import GRU, LSTM
from tinygrad_rnn.tensor import Tensor, topological_order

MODELS = {"LSTM": LSTM, "GRU": GRU}


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def numpy_forward(model, xs, h0=None, c0=None):
    """The docstring equations of LSTM / GRU in plain numpy, rows as vectors: the independent witness."""
    p = model.arrays()
    xs = np.asarray(xs, dtype=np.float64)
    H = model.hidden_size
    h = np.zeros(xs.shape[1:-1] + (H,)) if h0 is None else np.asarray(h0, dtype=np.float64)
    c = np.zeros_like(h) if c0 is None else np.asarray(c0, dtype=np.float64)
    hs, cs, os = [], [], []
    for x in xs:

        def pre(g, hh, x=x):
            return x @ p[f"W_{g}"].T + hh @ p[f"U_{g}"].T + p[f"b_{g}"]

        if isinstance(model, LSTM):
            f, i, g, og = sigmoid(pre("f", h)), sigmoid(pre("i", h)), np.tanh(pre("g", h)), sigmoid(pre("og", h))
            c = f * c + i * g
            h = og * np.tanh(c)
        else:
            z, r = sigmoid(pre("z", h)), sigmoid(pre("r", h))
            n = np.tanh(x @ p["W_n"].T + (r * h) @ p["U_n"].T + p["b_n"])
            h = (1 - z) * n + z * h
        hs.append(h)
        cs.append(c)
        os.append(h @ p["V"].T + p["b_y"])
    return np.array(hs), np.array(cs), np.array(os)


def make_problem(kind, T, B, D, H, K, seed, head):
    """A model and data drawn from `seed`; B = 0 means one unbatched sequence (T, D)."""
    rng = np.random.default_rng(seed)
    model = MODELS[kind](D, H, K, seed=seed, head=head)
    for p in model.parameters():  # spread the parameters beyond the small initial range, so every gate matters
        p.data[...] = rng.normal(0.0, 0.8, p.shape)
    lead = (T,) if B == 0 else (T, B)
    xs = rng.normal(size=lead + (D,))
    ys = rng.integers(0, K, size=lead) if head == "softmax" else rng.normal(size=lead + (K,))
    return model, xs, ys


problems = st.tuples(
    st.sampled_from(sorted(MODELS)),
    st.integers(1, 4),  # T
    st.integers(0, 2),  # B (0: unbatched)
    st.integers(1, 3),  # D
    st.integers(1, 3),  # H
    st.integers(1, 3),  # K
    st.integers(0, 2**31 - 1),
    st.sampled_from(["softmax", "linear"]),
)


@given(problem=problems)
@example(problem=("LSTM", 1, 0, 2, 2, 2, 0, "softmax"))
@example(problem=("GRU", 1, 0, 2, 2, 2, 0, "softmax"))
@example(problem=("LSTM", 3, 2, 1, 3, 2, 7, "linear"))
def test_gradients_equal_central_differences(problem):
    kind, T, B, D, H, K, seed, head = problem
    model, xs, ys = make_problem(kind, T, B, D, H, K, seed, head)
    rng = np.random.default_rng(seed + 1)
    shape = (H,) if B == 0 else (B, H)
    h0 = Tensor(rng.normal(0, 0.5, shape), requires_grad=True, name="h_0")
    if kind == "LSTM":
        c0 = Tensor(rng.normal(0, 0.5, shape), requires_grad=True, name="c_0")
        gradcheck(lambda *_: model.loss(xs, ys, h0, c0), *model.parameters(), h0, c0, rtol=1e-5, atol=1e-8)
    else:
        gradcheck(lambda *_: model.loss(xs, ys, h0), *model.parameters(), h0, rtol=1e-5, atol=1e-8)


@given(problem=problems)
def test_forward_equals_numpy_equations(problem):
    kind, T, B, D, H, K, seed, head = problem
    model, xs, ys = make_problem(kind, T, B, D, H, K, seed, head)
    hs, os = model.forward(xs)
    h_np, c_np, o_np = numpy_forward(model, xs)
    np.testing.assert_allclose(np.array([h.data for h in hs]), h_np, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.array([o.data for o in os]), o_np, rtol=1e-12, atol=1e-14)
    if kind == "LSTM":
        np.testing.assert_allclose(np.array([c.data for c in model.trace.c]), c_np, rtol=1e-12, atol=1e-14)


@given(kind=st.sampled_from(sorted(MODELS)), T=st.integers(1, 4), B=st.integers(1, 3), seed=st.integers(0, 10**6))
def test_batch_is_the_sum_of_its_sequences(kind, T, B, seed):
    model, xs, ys = make_problem(kind, T, B, 2, 3, 3, seed, "softmax")
    total = model.loss(xs, ys).item()
    hs = np.array([h.data for h in model.trace.h])
    singles = []
    for b in range(B):
        singles.append(model.loss(xs[:, b], ys[:, b]).item())
        np.testing.assert_allclose(np.array([h.data for h in model.trace.h]), hs[:, b], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(total, sum(singles), rtol=1e-12)


# ---- known facts about the gates ---------------------------------------------------------------------------------


def test_lstm_with_forget_gate_open_and_input_gate_shut_carries_the_cell_unchanged():
    """The constant error carousel: f = 1, i = 0 give c_t = c_{t−1}, so ∂c_T/∂c_0 = I over any distance."""
    T, H = 60, 4
    rng = np.random.default_rng(3)
    lstm = LSTM(3, H, 2, seed=3)
    lstm.b_f.data[...] = 40.0  # σ(40) = 1 in float64
    lstm.b_i.data[...] = -40.0  # σ(−40) ≈ 4e-18
    xs = rng.normal(size=(T, 3))
    c0 = Tensor(rng.normal(size=H), requires_grad=True)
    lstm.forward(xs, c0=c0)
    np.testing.assert_allclose(lstm.trace.c[-1].data, c0.data, rtol=0, atol=1e-15)
    w = rng.normal(size=H)
    (lstm.trace.c[-1] * Tensor(w)).sum().backward()
    np.testing.assert_allclose(c0.grad, w, rtol=1e-14)  # ∂(w·c_T)/∂c_0 = w: nothing vanished over 60 steps

    # the same cell with a half-open forget gate forgets: the gradient shrinks at least like max(f)^T
    lstm.b_f.data[...] = 0.0
    lstm.U_f.data[...] = 0.0
    lstm.W_f.data[...] = 0.0  # f_t = σ(0) = 1/2 exactly
    c0.grad = None
    lstm.forward(xs, c0=c0)
    (lstm.trace.c[-1] * Tensor(w)).sum().backward()
    np.testing.assert_allclose(c0.grad, w * 0.5**T, rtol=1e-12)


def test_gru_with_update_gate_shut_keeps_the_state():
    """z_t = 1: h_t = h_{t−1}, whatever the input; ∂h_T/∂h_0 = I."""
    rng = np.random.default_rng(5)
    gru = GRU(2, 3, 2, seed=5)
    gru.b_z.data[...] = 40.0
    h0 = Tensor(rng.normal(size=3), requires_grad=True)
    hs, _ = gru.forward(rng.normal(size=(25, 2)) * 3, h0)
    for h in hs:
        np.testing.assert_allclose(h.data, h0.data, rtol=1e-14, atol=1e-15)
    w = rng.normal(size=3)
    (hs[-1] * Tensor(w)).sum().backward()
    np.testing.assert_allclose(h0.grad, w, rtol=1e-14)


@given(T=st.integers(1, 6), B=st.integers(0, 2), seed=st.integers(0, 10**6))
def test_gru_with_update_gate_open_and_reset_gate_open_is_the_lecture_rnn(T, B, seed):
    """z_t = 0, r_t = 1: h_t = tanh(b_n + W_n x_t + U_n h_{t−1}), the lecture's equation 2.1 (numpy witness)."""
    gru, xs, _ = make_problem("GRU", T, B, 3, 4, 2, seed, "softmax")
    gru.b_z.data[...] = -40.0
    gru.b_r.data[...] = 40.0
    hs, os = gru.forward(xs)
    p = gru.arrays()
    h, o, _ = lecture.forward(p["W_n"], p["U_n"], p["V"], p["b_n"], p["b_y"], xs)
    np.testing.assert_allclose(np.array([x.data for x in hs]), h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.array([x.data for x in os]), o, rtol=1e-12, atol=1e-14)


# ---- structure: names, scopes, parameters ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_step_is_one_scope_with_named_nodes(kind):
    T = 3
    model, xs, ys = make_problem(kind, T, 0, 2, 3, 2, 0, "softmax")
    L = model.loss(xs, ys)
    gates = ("f", "i", "g", "og", "c") if kind == "LSTM" else ("z", "r", "n")
    for t in range(1, T + 1):
        for key in ("x", "h", "o", *gates):
            node = model.trace[key][t - 1]
            assert node.name == f"{key}_{t}" and node.scope == f"t={t}", (key, t, node.name, node.scope)
        assert model.trace.L[t - 1].name == f"L_{t}"
    nodes = topological_order(L)
    outside = [n for n in nodes if n.op is not None and n.scope is None]
    assert [n.op for n in outside] == ["stack", "sum"]  # only L = Σ_t L_t sits outside the steps
    assert {n.scope for n in nodes if n.op is not None} == {None} | {f"t={t}" for t in range(1, T + 1)}
    leaves = {n.name for n in nodes if n.op is None and n.requires_grad}
    assert leaves == set(model.param_names) | ({"h_0", "c_0"} if kind == "LSTM" else {"h_0"})
    assert L.name == "L"


def test_parameter_names_and_shapes():
    lstm, gru = LSTM(2, 3, 4), GRU(2, 3, 4)
    assert lstm.param_names == tuple(f"{p}_{g}" for g in ("f", "i", "g", "og") for p in "WUb") + ("V", "b_y")
    assert gru.param_names == tuple(f"{p}_{g}" for g in "zrn" for p in "WUb") + ("V", "b_y")
    for m in (lstm, gru):
        shapes = {n: p.shape for n, p in m.named_parameters().items()}
        assert all(shapes[n] == (3, 2) for n in shapes if n.startswith("W_"))
        assert all(shapes[n] == (3, 3) for n in shapes if n.startswith("U_"))
        assert shapes["V"] == (4, 3) and shapes["b_y"] == (4,)
    np.testing.assert_array_equal(lstm.b_f.data, 1.0)
    assert not np.array_equal(LSTM(2, 3, 4, seed=1).U_f.data, lstm.U_f.data)
    np.testing.assert_array_equal(LSTM(2, 3, 4).U_f.data, lstm.U_f.data)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_carrying_the_state_across_chunks_equals_one_pass(kind):
    model, xs, _ = make_problem(kind, 7, 2, 2, 3, 2, 11, "softmax")
    whole = np.array([h.data for h in model.forward(xs)[0]])
    first = [h.data for h in model.forward(xs[:4])[0]]
    state = tuple(s.detach() for s in model.state) if kind == "LSTM" else model.state.detach()
    second = [h.data for h in model.forward(xs[4:], state)[0]]
    np.testing.assert_allclose(np.array(first + second), whole, rtol=1e-14, atol=1e-15)
    assert model.trace.h0.name == "h_0" and model.trace.h0.op == "detach"


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_save_and_load(kind, tmp_path):
    a, xs, ys = make_problem(kind, 3, 0, 2, 3, 2, 1, "softmax")
    path = a.save(tmp_path / "model")
    b = MODELS[kind](2, 3, 2, seed=99)
    assert b.loss(xs, ys).item() != a.loss(xs, ys).item()
    b.load(path)
    assert b.loss(xs, ys).item() == a.loss(xs, ys).item()
    with pytest.raises(ValueError, match=r"parameter V has shape \(2, 3\) in the file but \(5, 3\)"):
        MODELS[kind](2, 3, 5).load(path)


def test_float32_is_kept():
    lstm = LSTM(2, 3, 2, dtype=np.float32)
    L = lstm.loss(np.ones((2, 2), dtype=np.float32), [0, 1])
    L.backward()
    assert L.dtype == np.float32 and lstm.U_f.grad.dtype == np.float32


# ---- bad input ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_bad_input_is_named(kind):
    model = MODELS[kind](2, 3, 4)
    with pytest.raises(ValueError, match=rf"{kind}.forward: xs has D=3 .* input size D=2"):
        model.forward(np.zeros((5, 3)))
    xs = np.zeros((5, 2))
    xs[2, 1] = np.nan
    with pytest.raises(ValueError, match=rf"{kind}.forward: .*non-finite.*t=3"):
        model.forward(xs)
    with pytest.raises(ValueError, match=rf"{kind}.loss: xs has T=5 steps .* ys has 4 steps"):
        model.loss(np.zeros((5, 2)), [0, 1, 2, 3])
    with pytest.raises(ValueError, match=rf"{kind}.loss: class index 4 at t=2 .* outside 0..3"):
        model.loss(np.zeros((3, 2)), [0, 4, 1])
    with pytest.raises(ValueError, match=rf"{kind}.forward: h0 has shape \(2,\)"):
        model.forward(np.zeros((5, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=rf"{kind}: hidden_size must be a whole number ≥ 1, got 0"):
        MODELS[kind](2, 0, 4)
    with pytest.raises(ValueError, match=rf"{kind}: unknown output head 'tanh'"):
        MODELS[kind](2, 3, 4, head="tanh")


def test_lstm_state_given_twice_is_an_error():
    lstm = LSTM(2, 3, 4)
    with pytest.raises(ValueError, match=r"LSTM.forward: .*either as h0=\(h, c\) or as h0=h, c0=c"):
        lstm.forward(np.zeros((2, 2)), (np.zeros(3), np.zeros(3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"LSTM.forward: c0 has shape \(4,\)"):
        lstm.forward(np.zeros((2, 2)), c0=np.zeros(4))
