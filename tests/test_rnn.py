"""The lecture's RNN on the engine: node names and scopes, sanity properties, options, edge cases, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinygrad_rnn import lecture
from tinygrad_rnn.module import Module
from tinygrad_rnn.rnn import RNN, spectral_radius_of
from tinygrad_rnn.tensor import Tensor, topological_order

EXACT = dict(rtol=1e-10, atol=1e-12)
seeds = st.integers(0, 2**32 - 1)
sizes = st.fixed_dictionaries(
    {
        "T": st.integers(1, 6),
        "B": st.integers(0, 3),
        "D": st.integers(1, 4),
        "H": st.integers(1, 4),
        "K": st.integers(1, 4),
        "seed": seeds,
    }
)


def problem(T=3, B=0, D=3, H=4, K=3, seed=0, **options):
    rng = np.random.default_rng(seed)
    rnn = RNN(D, H, K, seed=seed, **options)
    for p in rnn.parameters():
        p.data = (0.8 * rng.standard_normal(p.shape)).astype(rnn.dtype)
    batch = (B,) if B else ()
    return rnn, rng.standard_normal((T, *batch, D)), rng.integers(0, K, size=(T, *batch))


def grads(rnn, xs, ys, h0=None):
    rnn.zero_grad()
    L = rnn.loss(xs, ys, h0)
    L.backward()
    out = {n: p.grad.copy() for n, p in rnn.named_parameters().items()}
    out["h"] = np.stack([h.grad for h in rnn.trace.h])
    out["L"] = L.item()
    return out


# ---- the graph: names and scopes -------------------------------------------------------------------------------


def test_nodes_carry_the_lecture_names_and_step_scopes():
    rnn, xs, ys = problem(T=3)
    L = rnn.loss(xs, ys)
    assert isinstance(rnn, Module) and rnn.param_names == ("W", "U", "V", "b", "c")
    assert [p.name for p in rnn.parameters()] == ["W", "U", "V", "b", "c"]
    assert all(p.scope is None and p.requires_grad for p in rnn.parameters())
    tr = rnn.trace
    for t in (1, 2, 3):
        for node, name in [(tr.x[t - 1], "x"), (tr.h[t - 1], "h"), (tr.o[t - 1], "o"), (tr.yhat[t - 1], "ŷ")]:
            assert (node.name, node.scope) == (f"{name}_{t}", f"t={t}")
        assert (tr.L[t - 1].name, tr.L[t - 1].scope) == (f"L_{t}", f"t={t}")
        assert not tr.x[t - 1].requires_grad and tr.x[t - 1].op is None
    assert (tr.h0.name, tr.h0.scope, tr.h0.op) == ("h_0", "t=0", None)
    assert (L.name, L.scope) == ("L", None) and tr.loss is L and tr["h"] is tr.h
    nodes = topological_order(L)
    named = {n.name for n in nodes if n.name}
    assert {"W", "U", "V", "b", "c", "h_0", "L"} | {f"{s}_{t}" for s in "xhoL" for t in (1, 2, 3)} <= named
    # every node is in a step scope except the parameters and the sum giving L; h_0 is in the "t=0" scope
    outside = [n for n in nodes if n.scope is None]
    assert {n.name for n in outside if n.name} == {"W", "U", "V", "b", "c", "L"}
    assert all(n.scope in ("t=0", "t=1", "t=2", "t=3") for n in nodes if n.scope is not None)
    # the recurrent edge: h_2 depends on h_1, which feeds o_1 as well (the interior diamond)
    assert tr.h[0] in topological_order(tr.h[1]) and tr.h[0] in topological_order(tr.o[0])


def test_forward_returns_states_and_outputs_and_records_the_trace():
    rnn, xs, _ = problem(T=4, B=2, D=3, H=2, K=5)
    hs, os = rnn.forward(xs)
    assert len(hs) == len(os) == 4 and hs[0].shape == (2, 2) and os[0].shape == (2, 5)
    assert rnn.trace.h is hs and rnn.trace.o is os and rnn.trace.yhat == []
    h, o, _ = lecture.forward(**rnn.arrays(), xs=xs)
    np.testing.assert_allclose(np.stack([t.data for t in hs]), h, **EXACT)
    np.testing.assert_allclose(np.stack([t.data for t in os]), o, **EXACT)


def test_perturbation_is_the_value_of_the_named_node():
    rnn, xs, ys = problem(T=3, H=2, K=2)
    rnn.loss(xs, ys)
    base_h = [h.data.copy() for h in rnn.trace.h]
    base_o = [o.data.copy() for o in rnn.trace.o]
    dh, do = np.array([0.1, -0.2]), np.array([0.3, 0.0])
    rnn.loss(xs, ys, perturb={2: dh}, perturb_o={3: do})
    np.testing.assert_allclose(rnn.trace.h[1].data, base_h[1] + dh, **EXACT)
    assert rnn.trace.h[1].name == "h_2"
    np.testing.assert_allclose(rnn.trace.h[0].data, base_h[0], **EXACT)  # earlier steps unchanged
    assert not np.allclose(rnn.trace.h[2].data, base_h[2])  # the change propagates
    np.testing.assert_allclose(rnn.trace.o[2].data, rnn.c.data + rnn.V.data @ rnn.trace.h[2].data + do, **EXACT)
    assert rnn.trace.o[2].name == "o_3" and not np.allclose(rnn.trace.o[2].data, base_o[2])
    with pytest.raises(ValueError, match=r"perturb at t=2 has shape \(3,\), but h_2 has shape \(2,\)"):
        rnn.loss(xs, ys, perturb={2: np.ones(3)})
    with pytest.raises(ValueError, match=r"perturb keys must be steps t = 1..3, got 4"):
        rnn.loss(xs, ys, perturb={4: dh})


# ---- sanity properties -----------------------------------------------------------------------------------------


@given(sizes)
def test_loss_is_the_sum_of_the_step_losses(s):
    rnn, xs, ys = problem(**s)
    L = rnn.loss(xs, ys)
    np.testing.assert_allclose(L.item(), sum(l.item() for l in rnn.trace.L), rtol=1e-12)
    # each L_t is the cross-entropy of its step, summed over the batch
    yhat = np.stack([y.data for y in rnn.trace.yhat])
    picked = np.take_along_axis(yhat, np.asarray(ys)[..., None], axis=-1)[..., 0]
    per_step = -np.log(picked).reshape(s["T"], -1).sum(axis=1)
    np.testing.assert_allclose([l.item() for l in rnn.trace.L], per_step, rtol=1e-12)


@given(sizes)
def test_zero_parameters_give_ln_K_per_step(s):
    rnn, xs, ys = problem(**s)
    for p in rnn.parameters():
        p.data[...] = 0.0
    L = rnn.loss(xs, ys)
    per_sequence = max(s["B"], 1)
    for l in rnn.trace.L:
        np.testing.assert_allclose(l.item(), per_sequence * math.log(s["K"]), rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(L.item(), s["T"] * per_sequence * math.log(s["K"]), rtol=1e-14, atol=1e-15)


@given(st.integers(1, 4), st.integers(1, 4), st.integers(2, 4), seeds)
def test_one_step_is_a_one_layer_network(D, H, K, seed):
    """T = 1: h = tanh(b + W x + U h_0), o = c + V h; the gradients written out directly."""
    rnn, xs, ys = problem(T=1, D=D, H=H, K=K, seed=seed)
    h0 = np.random.default_rng(seed).standard_normal(H)
    g = grads(rnn, xs, ys, h0)
    W, U, V, b, c = rnn.arrays().values()
    x, y = xs[0], np.eye(K)[ys[0]]
    h = np.tanh(b + W @ x + U @ h0)
    o = c + V @ h
    yhat = np.exp(o) / np.exp(o).sum()
    np.testing.assert_allclose(g["L"], -np.log(yhat @ y), rtol=1e-12)
    go = yhat - y
    delta = (1 - h**2) * (V.T @ go)
    want = {"W": np.outer(delta, x), "U": np.outer(delta, h0), "V": np.outer(go, h), "b": delta, "c": go}
    for name, value in want.items():
        np.testing.assert_allclose(g[name], value, **EXACT, err_msg=name)
    np.testing.assert_allclose(g["h"][0], V.T @ go, **EXACT)
    np.testing.assert_allclose(rnn.trace.h0.grad, U.T @ delta, **EXACT)


def test_unused_recurrent_matrix_gets_a_zero_gradient_at_one_step():
    rnn, xs, ys = problem(T=1, H=3)
    g = grads(rnn, xs, ys)
    assert g["U"].shape == (3, 3) and not np.any(g["U"])  # h_0 = 0: U does not change L, but it has a gradient


@given(sizes)
@example({"T": 1, "B": 0, "D": 1, "H": 1, "K": 1, "seed": 0})
def test_composed_and_primitive_tanh_give_the_same_gradients(s):
    a = grads(*problem(**s, tanh="primitive"))
    b = grads(*problem(**s, tanh="composed"))
    for name in ["W", "U", "V", "b", "c", "h", "L"]:
        np.testing.assert_allclose(a[name], b[name], **EXACT, err_msg=name)


def test_composed_tanh_is_drawn_from_primitives():
    rnn, xs, ys = problem(T=2, tanh="composed")
    ops_ = {n.op for n in topological_order(rnn.loss(xs, ys))}
    assert "tanh" not in ops_ and ("exp" in ops_ or "expm1" in ops_)
    rnn2, _, _ = problem(T=2, tanh="primitive")
    assert "tanh" in {n.op for n in topological_order(rnn2.loss(xs, ys))}


@given(sizes)
def test_one_sequence_equals_a_batch_of_one(s):
    rnn, xs, ys = problem(**{**s, "B": 0})
    a = grads(rnn, xs, ys)
    b = grads(rnn, xs[:, None, :], ys[:, None])
    for name in ["W", "U", "V", "b", "c", "L"]:
        np.testing.assert_allclose(a[name], b[name], **EXACT, err_msg=name)
    np.testing.assert_allclose(a["h"], b["h"][:, 0], **EXACT)


@given(sizes)
def test_indices_and_one_hot_targets_agree(s):
    rnn, xs, ys = problem(**s)
    a = grads(rnn, xs, ys)
    b = grads(rnn, xs, np.eye(s["K"])[ys])
    for name in ["W", "U", "V", "b", "c", "h", "L"]:
        np.testing.assert_allclose(a[name], b[name], **EXACT, err_msg=name)


def test_probability_targets_follow_the_lecture_gradient():
    rnn, xs, _ = problem(T=3, B=2, K=3)
    ys = np.random.default_rng(0).dirichlet(np.ones(3), size=(3, 2))
    g = grads(rnn, xs, ys)
    by_hand = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys)
    for name in "WUVbc":
        np.testing.assert_allclose(g[name], by_hand[name], **EXACT, err_msg=name)


def test_initial_state_array_tensor_and_broadcast():
    rnn, xs, ys = problem(T=3, B=2, H=2)
    h0 = np.array([0.5, -0.25])
    a = grads(rnn, xs, ys, h0)  # (H,) shared by the batch
    assert rnn.trace.h0.shape == (2,) and rnn.trace.h0.name == "h_0"
    shared_grad = rnn.trace.h0.grad
    b = grads(rnn, xs, ys, np.tile(h0, (2, 1)))
    for name in "WUVbc":
        np.testing.assert_allclose(a[name], b[name], **EXACT)
    assert rnn.trace.h0.grad.shape == (2, 2)
    np.testing.assert_allclose(rnn.trace.h0.grad.sum(axis=0), shared_grad, **EXACT)
    state = Tensor(np.zeros((5, 2)))  # a detached state from elsewhere
    with pytest.raises(ValueError, match=r"h0 has shape \(5, 2\)"):
        rnn.loss(xs, ys, h0=state)
    carried = Tensor(np.tile(h0, (2, 1))).detach()
    c = grads(rnn, xs, ys, carried)
    assert rnn.trace.h0 is carried and carried.name == "h_0" and carried.grad is None  # no gradient into it
    np.testing.assert_allclose(c["W"], b["W"], **EXACT)
    with pytest.raises(ValueError, match=r"h0 has a non-finite value"):
        rnn.loss(xs, ys, h0=np.array([np.nan, 0.0]))


def test_long_sequence_backward_is_iterative():
    rnn, xs, ys = problem(T=2000, D=2, H=3, K=2)
    g = grads(rnn, xs, ys)
    by_hand = lecture.bptt_gradients(**rnn.arrays(), xs=xs, ys=ys)
    np.testing.assert_allclose(g["U"], by_hand["U"], rtol=1e-10, atol=1e-12)


# ---- construction ------------------------------------------------------------------------------------------------


def test_seeded_init_is_reproducible_and_shaped_as_in_the_lecture():
    a, b, c = RNN(3, 4, 5, seed=1), RNN(3, 4, 5, seed=1), RNN(3, 4, 5, seed=2)
    assert {n: x.shape for n, x in a.arrays().items()} == {"W": (4, 3), "U": (4, 4), "V": (5, 4), "b": (4,), "c": (5,)}
    for n in a.param_names:
        np.testing.assert_array_equal(a.arrays()[n], b.arrays()[n])
    assert not np.array_equal(a.W.data, c.W.data)
    arrays = a.arrays()
    arrays["W"][0, 0] = 99.0
    assert a.W.data[0, 0] != 99.0  # arrays() is a copy


@pytest.mark.parametrize("rho", [0.0, 0.5, 1.0, 3.0])
def test_spectral_radius_rescales_U(rho):
    rnn = RNN(2, 6, 2, seed=3, spectral_radius=rho)
    np.testing.assert_allclose(spectral_radius_of(rnn.U.data), rho, atol=1e-12)
    np.testing.assert_array_equal(rnn.W.data, RNN(2, 6, 2, seed=3).W.data)  # only U changes


def test_float32_is_kept():
    rnn, xs, ys = problem(T=4, B=2, dtype=np.float32)
    L = rnn.loss(xs, ys)
    L.backward()
    assert L.data.dtype == np.float32 and all(p.grad.dtype == np.float32 for p in rnn.parameters())
    assert rnn.trace.h[0].data.dtype == np.float32
    by_hand = lecture.bptt_gradients(**rnn.arrays(), xs=xs.astype(np.float32), ys=ys)
    for name in "WUVbc":
        np.testing.assert_allclose(getattr(rnn, name).grad, by_hand[name], rtol=1e-4, atol=1e-5)


def test_linear_head_is_squared_error():
    rnn, xs, _ = problem(T=3, B=2, K=2, head="linear")
    ys = np.random.default_rng(0).standard_normal((3, 2, 2))
    L = rnn.loss(xs, ys)
    o = np.stack([o.data for o in rnn.trace.o])
    np.testing.assert_allclose(L.item(), ((o - ys) ** 2).sum(), rtol=1e-12)
    assert rnn.trace.yhat[0] is rnn.trace.o[0] and rnn.trace.L[0].name == "L_1"
    with pytest.raises(ValueError, match=r"regression targets ys must have shape \(3, 2, 2\)"):
        rnn.loss(xs, np.zeros((3, 2)))


def test_save_and_load_round_trip(tmp_path):
    rnn = RNN(2, 3, 2, seed=0)
    path = rnn.save(tmp_path / "rnn")
    other = RNN(2, 3, 2, seed=5).load(path)
    for n in rnn.param_names:
        np.testing.assert_array_equal(rnn.arrays()[n], other.arrays()[n])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(input_size=0, hidden_size=2, output_size=2), ValueError, "input_size must be a whole number ≥ 1"),
        (dict(input_size=2, hidden_size=2.5, output_size=2), TypeError, "hidden_size must be a whole number"),
        (dict(input_size=2, hidden_size=2, output_size=2, tanh="fast"), ValueError, "tanh must be"),
        (dict(input_size=2, hidden_size=2, output_size=2, head="sigmoid"), ValueError, "unknown output head"),
        (dict(input_size=2, hidden_size=2, output_size=2, dtype=np.int64), TypeError, "dtype must be float32"),
        (dict(input_size=2, hidden_size=2, output_size=2, spectral_radius=-1), ValueError, "spectral_radius"),
    ],
)
def test_constructor_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        RNN(**kwargs)


def test_bad_inputs_name_the_step_and_both_sizes():
    rnn, xs, ys = problem(T=4, B=0, D=3, H=2, K=3)
    with pytest.raises(ValueError, match=r"RNN.loss: xs has T=4 steps \(xs shape \(4, 3\)\) but ys has 5 steps"):
        rnn.loss(xs, np.zeros(5, int))
    with pytest.raises(ValueError, match=r"RNN.forward: xs has D=2 features per step .* expects input size D=3"):
        rnn.forward(np.zeros((4, 2)))
    bad = ys.copy()
    bad[3] = 7
    with pytest.raises(ValueError, match=r"RNN.loss: class index 7 at t=4 is outside 0..2 \(K=3 classes\)"):
        rnn.loss(xs, bad)
    nan = xs.copy()
    nan[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"RNN.loss: xs has a non-finite value \(nan\) at t=1"):
        rnn.loss(nan, ys)
    with pytest.raises(ValueError, match=r"class index 1.5 at t=1 is not a whole number"):
        rnn.loss(xs, np.array([1.5, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"xs of shape \(0, 3\) is empty"):
        rnn.loss(np.zeros((0, 3)), np.zeros(0, int))


def test_tensor_inputs_are_read_by_value_and_boolean_indices_are_refused():
    rnn, xs, ys = problem(T=3, D=2, H=2, K=2)
    np.testing.assert_allclose(rnn.loss(Tensor(xs), ys).item(), rnn.loss(xs, ys).item(), rtol=1e-15)
    with pytest.raises(TypeError, match="class indices ys must be whole numbers, got booleans"):
        rnn.loss(xs, np.array([True, False, True]))
