"""The recurrent skeleton every model shares: one trace shape, state, step(), chunks, from_arrays, Tensor inputs,
loss reduction and mask, and compare() on both RNN graphs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_rnn import lecture, report
from tinygrad_rnn.gradcheck import numerical_grad
from tinygrad_rnn.lstm import GRU, LSTM
from tinygrad_rnn.module import Recurrent, chunk_bounds
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.tensor import Tensor

EXACT = dict(rtol=1e-10, atol=1e-12)
MODELS = {
    "rnn": lambda D, H, K, **kw: RNN(D, H, K, **kw),
    "fast": lambda D, H, K, **kw: RNN(D, H, K, fast=True, **kw),
    "lstm": lambda D, H, K, **kw: LSTM(D, H, K, **kw),
    "gru": lambda D, H, K, **kw: GRU(D, H, K, **kw),
}


def data(T=4, B=2, D=3, K=3, seed=0):
    rng = np.random.default_rng(seed)
    lead = (T, B) if B else (T,)
    return rng.standard_normal((*lead, D)), rng.integers(0, K, size=lead)


# ---- one skeleton --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MODELS)
def test_every_model_has_the_same_trace_state_and_initial_scope(kind):
    model = MODELS[kind](3, 4, 3, seed=1)
    xs, ys = data()
    L = model.loss(xs, ys)
    tr = model.trace
    assert isinstance(model, Recurrent) and tr.loss is L and L.name == "L"
    assert len(tr.h) == 4 and [h.name for h in tr.h] == ["h_1", "h_2", "h_3", "h_4"]
    assert tr.h0.name == "h_0" and tr.h0.scope == "t=0" and tr.h0.op is None
    state = model.state
    last = state[0] if isinstance(state, tuple) else state
    assert last is tr.h[-1]
    if kind == "lstm":
        assert tr.c0.scope == "t=0" and state[1] is tr.c[-1]
    L.backward()
    grads_h = tr.step_grads("h")
    grads_o = tr.step_grads("o")
    assert len(grads_h) == len(grads_o) == 4
    assert grads_h[0].shape == (2, 4) and grads_o[-1].shape == (2, 3)
    assert np.any(grads_o[-1] != 0)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_step_equals_one_step_of_the_unrolled_model(kind):
    model = MODELS[kind](3, 4, 2, seed=2)
    xs, _ = data(T=3, B=2, D=3, K=2)
    _, os = model.forward(xs)
    state = None
    for t in range(3):
        state, o = model.step(xs[t], state)
        np.testing.assert_allclose(o.data, os[t].data, **EXACT)
    last = model.state[0] if isinstance(model.state, tuple) else model.state
    mine = state[0] if isinstance(state, tuple) else state
    np.testing.assert_allclose(mine.data, last.data, **EXACT)
    with pytest.raises(ValueError, match=r"step: x must have shape \(D,\) or \(B, D\) with D=3"):
        model.step(np.zeros(5))


@pytest.mark.parametrize("kind", MODELS)
def test_chunks_carry_the_state_detached(kind):
    model = MODELS[kind](2, 3, 2, seed=3)
    xs, ys = data(T=7, B=2, D=2, K=2)
    whole = model.loss(xs, ys).item()
    parts = list(model.chunks(xs, ys, 3))
    assert [(a, b) for a, b, _ in parts] == chunk_bounds(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert sum(L.item() for _, _, L in parts) == pytest.approx(whole, rel=1e-12)
    last = model.trace  # the trace of the last chunk: it starts from a detached leaf
    assert last.h0.op == "detach" and not last.h0.requires_grad and last.h0.scope == "t=0"


def test_chunked_gradients_are_truncated_bptt():
    rnn = RNN(3, 4, 3, seed=4)
    xs, ys = data(T=7, B=2)
    rnn.zero_grad()
    for _, _, L in rnn.chunks(xs, ys, 3):
        L.backward()
    by_hand = lecture.truncated_bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, k=3)
    for n in "WUVbc":
        np.testing.assert_allclose(getattr(rnn, n).grad, by_hand[n], **EXACT, err_msg=n)


# ---- graph citizens --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MODELS)
def test_tensor_inputs_keep_their_graph(kind):
    """An embedding (any op) in front of the model gets its gradient; xs.grad is ∂L/∂xs by central differences."""
    model = MODELS[kind](3, 4, 3, seed=5)
    xs, ys = data(T=3, B=2)
    x = Tensor(xs, requires_grad=True)
    model.loss(x, ys).backward()
    assert x.grad is not None and x.grad.shape == xs.shape
    numeric = numerical_grad(lambda a: model.loss(a, ys), xs.copy())
    np.testing.assert_allclose(x.grad, numeric, rtol=1e-5, atol=1e-8)

    E = Tensor(np.random.default_rng(0).standard_normal((5, 3)), requires_grad=True, name="E")
    tokens = np.array([[0, 4], [2, 2], [1, 3]])
    model.loss(E[tokens], ys).backward()
    assert E.grad is not None and np.any(E.grad[[0, 1, 2, 3, 4]] != 0)
    assert np.all(E.grad.sum(axis=1) != 0)  # every used row got a gradient


def test_from_arrays_reads_the_sizes_and_names_the_bad_parameter():
    rng = np.random.default_rng(0)
    W, U, V, b, c = rng.normal(size=(4, 3)), rng.normal(size=(4, 4)), rng.normal(size=(2, 4)), np.zeros(4), np.ones(2)
    rnn = RNN.from_arrays(W=W, U=U, V=V, b=b, c=c, tanh="composed")
    assert (rnn.input_size, rnn.hidden_size, rnn.output_size, rnn.tanh) == (3, 4, 2, "composed")
    np.testing.assert_array_equal(rnn.U.data, U)
    assert rnn.U.data is not U and rnn.dtype == np.float64
    assert RNN.from_arrays(**{k: v.astype(np.float32) for k, v in rnn.arrays().items()}).dtype == np.float32
    with pytest.raises(ValueError, match=r"U has shape \(3, 4\), but W \(4, 3\) makes H=4, so U must be \(4, 4\)"):
        RNN.from_arrays(W=W, U=U[:3], V=V, b=b, c=c)
    with pytest.raises(ValueError, match=r"c has shape \(3,\), but V \(2, 4\) makes K=2"):
        RNN.from_arrays(W=W, U=U, V=V, b=b, c=np.ones(3))
    with pytest.raises(ValueError, match="missing c"):
        RNN.from_arrays(W=W, U=U, V=V, b=b)
    with pytest.raises(ValueError, match="b must have 1 axes"):
        RNN.from_arrays(W=W, U=U, V=V, b=np.zeros((4, 1)), c=c)
    with pytest.raises(ValueError, match="parameter W has a non-finite value"):
        RNN.from_arrays(W=W * np.nan, U=U, V=V, b=b, c=c)
    lstm = LSTM(2, 3, 2, seed=0)
    twin = LSTM.from_arrays(**lstm.arrays())
    xs, ys = data(T=3, B=0, D=2, K=2)
    assert twin.loss(xs, ys).item() == lstm.loss(xs, ys).item()


def test_a_parameter_reshaped_by_hand_is_named_at_forward():
    rnn = RNN(3, 4, 3)
    rnn.U.data = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"RNN.loss: parameter U has shape \(3, 3\); the model needs \(4, 4\)"):
        rnn.loss(*data())


def test_the_previous_graph_is_released_before_the_next_is_built():
    rnn = RNN(3, 4, 3)
    xs, ys = data()
    rnn.loss(xs, ys)
    seen = []
    original = rnn._unroll

    def spy(*args, **kw):
        seen.append(rnn.trace)
        return original(*args, **kw)

    rnn._unroll = spy
    rnn.loss(xs, ys)
    assert seen == [None]


# ---- reduction and mask ------------------------------------------------------------------------------------------


@given(T=st.integers(1, 5), B=st.integers(1, 3), seed=st.integers(0, 100), kind=st.sampled_from(list(MODELS)))
def test_mask_weights_each_step_and_sequence(T, B, seed, kind):
    model = MODELS[kind](2, 3, 2, seed=seed)
    xs, ys = data(T=T, B=B, D=2, K=2, seed=seed)
    mask = np.random.default_rng(seed).integers(0, 2, size=(T, B)).astype(float)
    masked = model.loss(xs, ys, mask=mask).item()
    by_pair = sum(
        model.loss(xs[: t + 1, b : b + 1], ys[: t + 1, b : b + 1], mask=np.eye(t + 1)[t][:, None]).item()
        for t in range(T)
        for b in range(B)
        if mask[t, b]
    )
    assert masked == pytest.approx(by_pair, rel=1e-10, abs=1e-12)
    if mask.sum():
        mean = model.loss(xs, ys, mask=mask, reduction="mean").item()
        assert mean == pytest.approx(masked / mask.sum(), rel=1e-12)
    total = model.loss(xs, ys).item()
    assert model.loss(xs, ys, reduction="mean").item() == pytest.approx(total / (T * B), rel=1e-12)


def test_mask_and_reduction_errors():
    rnn = RNN(3, 4, 3)
    xs, ys = data()
    with pytest.raises(ValueError, match=r"mask must be \(4, 2\) real weights"):
        rnn.loss(xs, ys, mask=np.ones(4))
    with pytest.raises(ValueError, match="mask weights must be finite and ≥ 0"):
        rnn.loss(xs, ys, mask=-np.ones((4, 2)))
    with pytest.raises(ValueError, match="reduction must be 'sum' or 'mean'"):
        rnn.loss(xs, ys, reduction="none")
    with pytest.raises(ValueError, match="reduction must be 'sum' or 'mean'"):
        RNN(3, 4, 3, fast=True).loss(xs, ys, reduction="max")


# ---- compare on both graphs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("B", [0, 2])
def test_compare_works_on_the_fast_graph_too(B):
    xs, ys = data(T=3, B=B, D=2, K=2)
    lecture_graph = report.compare(RNN(2, 3, 2, seed=6), xs, ys)
    fast = report.compare(RNN(2, 3, 2, seed=6, fast=True), xs, ys)
    assert lecture_graph.ok and fast.ok
    for a, b in zip(lecture_graph.rows, fast.rows):
        assert a.quantity == b.quantity
        np.testing.assert_allclose(a.autodiff, b.autodiff, **EXACT, err_msg=a.quantity)


def test_compare_refuses_other_models():
    with pytest.raises(TypeError, match="compare: the lecture's formulas are for its Elman RNN; got LSTM"):
        report.compare(LSTM(2, 3, 2), *data(D=2, K=2))


def test_report_annotations_colour_the_printed_formulas():
    xs, ys = data(T=3, B=0, D=3, K=3)
    rep = report.compare(RNN(3, 3, 3, seed=0), xs, ys)
    notes = rep.annotations("printed")
    assert notes.of(rep.loss) is None
    by_name = {name: note for name, note in notes.nodes.items()}
    assert by_name["W"].status == "wrong" and by_name["V"].status == "ok"
    assert by_name["b"].status == "not in the lecture" and by_name["h_3"].status == "ok"
    assert {status for status in report.CHECK_COLOURS} >= {n.status for n in by_name.values()}
    assert dict(notes.legend)[report.CHECK_COLOURS["wrong"][0]] == report.CHECK_COLOURS["wrong"][1]
    untyped = report.compare(RNN(3, 4, 3, seed=0), xs, ys).annotations("printed")
    assert untyped.nodes["h_1"].status == "does not type-check"
    assert untyped.nodes["h_1"].fill != untyped.nodes["b"].fill
    assert all(n.status == "ok" for n in rep.annotations("corrected").nodes.values())


def test_a_model_pickles_after_loss():
    rnn = RNN(2, 3, 2)
    rnn.loss(*data(D=2, K=2))
    twin = pickle.loads(pickle.dumps(rnn))
    np.testing.assert_array_equal(twin.U.data, rnn.U.data)
