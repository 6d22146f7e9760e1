"""Fast mode: `RNN(..., fast=True)` and the fused softmax-cross-entropy give the lecture graph's loss and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinygrad_rnn import functional as F
from tinygrad_rnn import lecture
from tinygrad_rnn.gradcheck import gradcheck
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.tensor import Tensor

EXACT = dict(rtol=1e-10, atol=1e-12)

sizes = st.fixed_dictionaries(
    {
        "T": st.integers(1, 7),
        "B": st.integers(0, 4),  # 0: one unbatched sequence, xs (T, D)
        "D": st.integers(1, 5),
        "H": st.integers(1, 5),
        "K": st.integers(1, 5),
        "seed": st.integers(0, 2**32 - 1),
    }
)


def _problem(T, B, D, H, K, seed, head="softmax", targets="index"):
    rng = np.random.default_rng(seed)
    batch = (B,) if B else ()
    xs = rng.standard_normal((T, *batch, D))
    params = {
        n: 0.8 * rng.standard_normal(s) for n, s in [("W", (H, D)), ("U", (H, H)), ("V", (K, H)), ("b", H), ("c", K)]
    }
    index = rng.integers(0, K, size=(T, *batch))
    if head == "linear":
        ys = rng.standard_normal((T, *batch, K))
    elif targets == "onehot":
        ys = np.eye(K)[index]
    else:
        ys = index
    h0 = rng.standard_normal((*batch, H)) if rng.random() < 0.5 else None
    return params, xs, ys, h0


def _run(params, xs, ys, h0, **options):
    D, H, K = params["W"].shape[1], params["U"].shape[0], params["V"].shape[0]
    rnn = RNN(D, H, K, **options)
    for name, value in params.items():
        getattr(rnn, name).data = value.copy()
    h0 = None if h0 is None else Tensor(h0.copy(), requires_grad=True)
    loss = rnn.loss(xs, ys, h0=h0)
    loss.backward()
    grads = {n: p.grad for n, p in rnn.named_parameters().items()}
    return loss.item(), grads, rnn.trace.h0.grad, rnn


@given(size=sizes, head=st.sampled_from(["softmax", "linear"]), targets=st.sampled_from(["index", "onehot"]))
@example(size=dict(T=1, B=0, D=1, H=1, K=1, seed=0), head="softmax", targets="index")  # one step, one class
@example(size=dict(T=1, B=1, D=2, H=3, K=2, seed=1), head="softmax", targets="onehot")
def test_fast_mode_equals_lecture_graph(size, head, targets):
    params, xs, ys, h0 = _problem(**size, head=head, targets=targets)
    slow_loss, slow, slow_h0, _ = _run(params, xs, ys, h0, head=head, tanh="composed")
    fast_loss, fast, fast_h0, rnn = _run(params, xs, ys, h0, head=head, fast=True)
    if head == "softmax":  # one fused node for the loss of all steps
        assert rnn.trace.loss.parents[0].op == "softmax_cross_entropy"
    np.testing.assert_allclose(fast_loss, slow_loss, **EXACT)
    for name in "WUVbc":
        np.testing.assert_allclose(fast[name], slow[name], **EXACT, err_msg=name)
    np.testing.assert_allclose(fast_h0, slow_h0, **EXACT, err_msg="h_0")


@given(size=sizes)
def test_fast_mode_equals_lecture_bptt(size):
    """The independent witness: the lecture's equations in numpy (corrected BPTT)."""
    params, xs, ys, _ = _problem(**size)
    loss, grads, _, _ = _run(params, xs, ys, None, fast=True)
    by_hand = lecture.bptt_gradients(*(params[n] for n in "WUVbc"), xs, ys)
    np.testing.assert_allclose(loss, lecture.loss(*(params[n] for n in "WUVbc"), xs, ys), **EXACT)
    for name in "WUVbc":
        np.testing.assert_allclose(grads[name], by_hand[name], **EXACT, err_msg=name)


def test_fast_mode_is_a_lean_graph_with_the_same_hidden_states():
    params, xs, ys, _ = _problem(T=4, B=2, D=3, H=5, K=3, seed=7)
    _, _, _, slow = _run(params, xs, ys, None)
    _, _, _, fast = _run(params, xs, ys, None, fast=True)
    assert [h.name for h in fast.trace.h] == [f"h_{t}" for t in range(1, 5)]
    assert [h.scope for h in fast.trace.h] == [f"t={t}" for t in range(1, 5)]
    for h_fast, h_slow in zip(fast.trace.h, slow.trace.h):
        np.testing.assert_allclose(h_fast.data, h_slow.data, **EXACT)
        np.testing.assert_allclose(h_fast.grad, h_slow.grad, **EXACT)  # ∇_{h_t}L: the same in both graphs
        assert h_fast.op == "tanh"
    assert fast.trace.loss.parents[0].op == "softmax_cross_entropy"


def test_fast_mode_float32_agrees_with_float64():
    params, xs, ys, _ = _problem(T=6, B=3, D=4, H=5, K=3, seed=3)
    loss64, g64, _, _ = _run(params, xs, ys, None, fast=True)
    loss32, g32, _, rnn = _run({k: v.astype(np.float32) for k, v in params.items()}, xs, ys, None, fast=True,
                               dtype=np.float32)  # fmt: skip
    assert rnn.trace.loss.dtype == np.float32
    np.testing.assert_allclose(loss32, loss64, rtol=1e-5)
    for name in "WUVbc":
        assert g32[name].dtype == np.float32
        np.testing.assert_allclose(g32[name], g64[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_fast_mode_with_perturbations_builds_the_lecture_graph():
    params, xs, ys, _ = _problem(T=3, B=0, D=2, H=3, K=2, seed=5)
    rnn = RNN(2, 3, 2, fast=True)
    for name, value in params.items():
        getattr(rnn, name).data = value.copy()
    dh = {2: np.full(3, 1e-3)}
    lecture_rnn = RNN(2, 3, 2)
    for name, value in params.items():
        getattr(lecture_rnn, name).data = value.copy()
    assert rnn.loss(xs, ys, perturb=dh).item() == pytest.approx(lecture_rnn.loss(xs, ys, perturb=dh).item(), rel=1e-12)
    assert len(rnn.trace.o) == 3  # the step-by-step graph, whose o_t can be perturbed


def test_fast_mode_rejects_the_composed_tanh():
    with pytest.raises(ValueError, match="fast=True.*primitive tanh"):
        RNN(2, 3, 2, fast=True, tanh="composed")


def test_fast_mode_reports_bad_input_like_the_lecture_graph():
    rnn = RNN(2, 3, 2, fast=True)
    with pytest.raises(ValueError, match="RNN.loss"):
        rnn.loss(np.zeros((4, 3)), np.zeros(4, dtype=int))  # D = 3, the model expects 2
    with pytest.raises(ValueError, match="RNN.loss"):
        rnn.loss(np.zeros((4, 2)), np.array([0, 1, 2, 0]))  # class 2 of K = 2


# ---- the fused primitive -----------------------------------------------------------------------------------------

rows = st.fixed_dictionaries({"N": st.integers(1, 6), "K": st.integers(1, 6), "seed": st.integers(0, 2**32 - 1)})


@given(r=rows, kind=st.sampled_from(["index", "onehot", "probs"]), reduction=st.sampled_from(["sum", "mean", "none"]))
def test_softmax_cross_entropy_equals_the_composite(r, kind, reduction):
    rng = np.random.default_rng(r["seed"])
    logits = 3 * rng.standard_normal((r["N"], r["K"]))
    index = rng.integers(0, r["K"], r["N"])
    target = {"index": index, "onehot": np.eye(r["K"])[index], "probs": rng.dirichlet(np.ones(r["K"]), r["N"])}[kind]
    a, b = Tensor(logits, requires_grad=True), Tensor(logits, requires_grad=True)
    fused, composed = F.softmax_cross_entropy(a, target, reduction), F.cross_entropy(b, target, reduction)
    upstream = rng.standard_normal(fused.shape) if reduction == "none" else None
    fused.backward(upstream)
    composed.backward(upstream)
    np.testing.assert_allclose(fused.data, composed.data, **EXACT)
    np.testing.assert_allclose(a.grad, b.grad, **EXACT)


def test_softmax_cross_entropy_backward_is_yhat_minus_y():
    rng = np.random.default_rng(0)
    logits, y = rng.standard_normal((2, 3, 4)), rng.integers(0, 4, (2, 3))
    o = Tensor(logits, requires_grad=True)
    F.softmax_cross_entropy(o, y).backward()
    yhat = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(o.grad, yhat - np.eye(4)[y], **EXACT)
    assert o.grad.shape == logits.shape


def test_softmax_cross_entropy_gradcheck_and_extreme_logits():
    rng = np.random.default_rng(1)
    target = rng.dirichlet(np.ones(5), 3)
    gradcheck(lambda o: F.softmax_cross_entropy(o, target), Tensor(rng.standard_normal((3, 5)), requires_grad=True))
    o = Tensor(np.array([[1e4, 0.0, -1e4]]), requires_grad=True)
    loss = F.softmax_cross_entropy(o, [2])
    loss.backward()
    assert loss.item() == pytest.approx(2e4)
    np.testing.assert_allclose(o.grad, [[1.0, 0.0, -1.0]], atol=1e-12)


def test_softmax_cross_entropy_bad_target():
    o = Tensor(np.zeros((3, 4)), requires_grad=True)
    with pytest.raises(ValueError, match="softmax_cross_entropy.*class index 4"):
        F.softmax_cross_entropy(o, [0, 1, 4])
    with pytest.raises(ValueError, match="softmax_cross_entropy.*shape"):
        F.softmax_cross_entropy(o, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="softmax_cross_entropy.*reduction"):
        F.softmax_cross_entropy(o, [0, 1, 2], reduction="max")
