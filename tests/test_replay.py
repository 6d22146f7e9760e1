"""replay(fn): the recorded program gives the eager values and gradients, for every graph and any new arguments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import tinygrad_rnn
from tinygrad_rnn import Tensor, concatenate, replay, stack, where
from tinygrad_rnn import functional as F
from tinygrad_rnn.lstm import GRU, LSTM
from tinygrad_rnn.optim import SGD, l1_penalty, l2_penalty
from tinygrad_rnn.replay import ReplayError
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.tensor import split

CLOSE = dict(rtol=1e-12, atol=1e-12)

sizes = st.fixed_dictionaries(
    {
        "T": st.integers(1, 6),
        "B": st.integers(0, 3),  # 0: one sequence, xs (T, D)
        "D": st.integers(1, 4),
        "H": st.integers(1, 5),
        "K": st.integers(1, 4),
        "seed": st.integers(0, 2**32 - 1),
    }
)


def _data(T, B, D, K, rng, head="softmax", targets="index"):
    lead = (T, B) if B else (T,)
    xs = rng.standard_normal((*lead, D))
    index = rng.integers(0, K, size=lead)
    if head == "linear":
        return xs, rng.standard_normal((*lead, K))
    return xs, (np.eye(K)[index] if targets == "onehot" else index)


def _twins(cls, D, H, K, **options):
    """Two models with the same parameters: one replayed, one run eagerly."""
    return cls(D, H, K, seed=3, **options), cls(D, H, K, seed=3, **options)


def _close(a, b, **kw):
    np.testing.assert_allclose(a, b, **CLOSE, **kw)


def _compare(replayed, eager, args, *, exact=False, calls=3, rng=None, new_args=None):
    """Call the replay and the eager model `calls` times (new arguments each time when given): the same losses and
    leaf gradients, bit for bit when exact."""
    g = replay(replayed.loss, exact=exact)
    for i in range(calls):
        if new_args is not None and i:
            args = new_args(rng)
        for m in (replayed, eager):
            m.zero_grad()
        value = g(*args)
        loss = eager.loss(*args)
        loss.backward()
        check = np.testing.assert_array_equal if exact else _close
        check(value, loss.item())
        for name, p in replayed.named_parameters().items():
            check(p.grad, eager.named_parameters()[name].grad, err_msg=f"{name}, call {i + 1}")
    assert g.unbatched == 0, "the batched program agreed with eager (no silent fallback to the per-step one)"
    return g


@given(size=sizes, head=st.sampled_from(["softmax", "linear"]), targets=st.sampled_from(["index", "onehot"]))
@example(size=dict(T=1, B=0, D=1, H=1, K=1, seed=0), head="softmax", targets="index")
def test_fast_mode_replayed_equals_eager_with_new_data_each_call(size, head, targets):
    T, B, D, H, K, seed = (size[k] for k in ("T", "B", "D", "H", "K", "seed"))
    rng = np.random.default_rng(seed)
    a, b = _twins(RNN, D, H, K, fast=True, head=head)
    g = _compare(a, b, _data(T, B, D, K, rng, head, targets), rng=rng,
                 new_args=lambda r: _data(T, B, D, K, r, head, targets), calls=4)  # fmt: skip
    assert g.stats == {"recorded": 1, "checked": 1, "replayed": 2}  # new inputs and targets: the same recording


@given(size=sizes)
def test_exact_replay_is_bit_for_bit(size):
    rng = np.random.default_rng(size["seed"])
    a, b = _twins(RNN, size["D"], size["H"], size["K"], fast=True)
    _compare(a, b, _data(size["T"], size["B"], size["D"], size["K"], rng), exact=True)


EVERY_MODEL = [
    (RNN, {}),
    (RNN, {"tanh": "composed"}),
    (LSTM, {}),
    (GRU, {}),
    (GRU, {"variant": "torch"}),
    (RNN, {"head": "linear"}),
    (LSTM, {"head": "linear"}),
]


@pytest.mark.parametrize("cls, options", EVERY_MODEL)
@given(size=sizes, exact=st.booleans())
def test_every_model_replays_its_graph(cls, options, size, exact):
    """exact=True: the eager sums, bit for bit; by default the steps are batched (batching.py), to rounding."""
    rng = np.random.default_rng(size["seed"])
    a, b = _twins(cls, size["D"], size["H"], size["K"], **options)
    T, B, D, K, head = size["T"], size["B"], size["D"], size["K"], options.get("head", "softmax")
    same_signs = options.get("tanh") == "composed"  # its sign(x) is a constant made from data: fixed inputs
    new = None if same_signs else (lambda r: _data(T, B, D, K, r, head))
    _compare(a, b, _data(T, B, D, K, rng, head), exact=exact, rng=rng, new_args=new)


def _live_buffers_sharing_memory(program):
    """Pairs of planned buffers alive at one instruction that share memory (an op written in place, whose input
    dies where its output is born, excepted)."""
    handed = {(id(a), id(b)) for a, b in program.handoffs} | {(id(b), id(a)) for a, b in program.handoffs}
    bad = []
    spans = program.lifetimes
    for i, (a, a0, a1) in enumerate(spans):
        for b, b0, b1 in spans[i + 1 :]:
            if a0 <= b1 and b0 <= a1 and np.shares_memory(a, b):
                handoff = (id(a), id(b)) in handed and (a1 == b0 or b1 == a0)
                if not handoff:
                    bad.append((a.shape, (a0, a1), b.shape, (b0, b1)))
    return bad


@pytest.mark.parametrize("cls, options", EVERY_MODEL)
@given(size=sizes, exact=st.booleans())
def test_no_two_live_buffers_share_memory(cls, options, size, exact):
    """The memory plan reuses a buffer only after its last read: live buffers never overlap."""
    rng = np.random.default_rng(size["seed"])
    model = cls(size["D"], size["H"], size["K"], seed=3, **options)
    g = replay(model.loss, exact=exact)
    g(*_data(size["T"], size["B"], size["D"], size["K"], rng, options.get("head", "softmax")))
    (rec,) = g.recordings.values()
    assert rec.program.lifetimes, "the plan records the buffers it made"
    assert _live_buffers_sharing_memory(rec.program) == []


def test_the_steps_of_the_lecture_graph_are_batched():
    """Only the recurrence stays per step: the output layer, softmax and losses run once for all steps."""
    from tinygrad_rnn.batching import batch_steps
    from tinygrad_rnn.replay import _order

    rnn = RNN(3, 4, 2)
    xs, ys = Tensor(np.ones((6, 2, 3))), Tensor(np.zeros((6, 2)))
    loss = rnn.loss(xs, ys)
    (new,) = batch_steps(_order(loss), [loss])
    ops_per_step = {}
    for n in _order(new):
        ops_per_step.setdefault(n.scope, []).append(n.op)
    assert sorted(ops_per_step["t=3"]) == ["add", "matmul", "tanh"]
    np.testing.assert_allclose(new.data, loss.data, rtol=1e-14)


def test_new_targets_replay_and_an_argument_read_in_python_records_afresh():
    """The models take their targets as leaves: new targets replay. An array fn reads in numpy (its values frozen
    into the recording) is compared at each call: when it changes, the call records afresh."""
    rng = np.random.default_rng(0)
    a, b = _twins(RNN, 3, 4, 2)
    xs, ys = _data(5, 2, 3, 2, rng)
    g = _compare(a, b, (xs, ys), calls=4, rng=rng, new_args=lambda r: (xs, r.integers(0, 2, (5, 2))))
    assert g.stats == {"recorded": 1, "checked": 1, "replayed": 2}
    w = Tensor(np.ones(3), requires_grad=True)
    h = replay(lambda x, scale: (w * x).sum() * float(scale.sum()))
    assert [h(np.ones(3), np.array([s])) for s in (1.0, 1.0, 1.0, 2.0)] == [3.0, 3.0, 3.0, 6.0]
    assert h.stats == {"recorded": 2, "checked": 1, "replayed": 1}


def test_data_dependent_control_flow_is_detected():
    w = Tensor(np.ones(3), requires_grad=True)

    def fn(x):
        return (w * x).sum() if x.data.sum() > 0 else (w * x).exp().sum()

    g = replay(fn)
    g(np.ones(3))
    with pytest.raises(ReplayError, match="depends on data"):
        g(-np.ones(3))


def test_a_constant_made_from_data_is_detected():
    """The composed tanh makes sign(x) a constant in numpy: a sign that flips shows in the check call."""
    rnn = RNN(2, 3, 2, tanh="composed")
    xs, ys = np.ones((4, 2)), np.zeros(4, dtype=int)
    g = replay(rnn.loss)
    g(xs, ys)
    with pytest.raises(ReplayError, match="constant"):
        g(-xs, ys)


def test_gradients_accumulate_across_calls_as_in_eager_mode():
    rng = np.random.default_rng(1)
    a, b = _twins(RNN, 3, 4, 2, fast=True)
    xs, ys = _data(6, 2, 3, 2, rng)
    g = replay(a.loss)
    for _ in range(4):
        g(xs, ys)
        b.loss(xs, ys).backward()
    for name, p in a.named_parameters().items():
        np.testing.assert_allclose(p.grad, b.named_parameters()[name].grad, **CLOSE, err_msg=name)


def test_penalties_and_extra_outputs():
    rng = np.random.default_rng(2)
    a, b = _twins(LSTM, 3, 4, 2)
    xs, ys = _data(5, 2, 3, 2, rng)

    def objective(model):
        return lambda xs, ys: (model.loss(xs, ys) + l2_penalty(model.parameters(), 0.1)
                               + l1_penalty(model.parameters(), 0.01), model.state[0])  # fmt: skip

    g = replay(objective(a))
    for _ in range(3):
        a.zero_grad()
        b.zero_grad()
        value = g(xs, ys)
        loss, h = objective(b)(xs, ys)
        loss.backward()
        np.testing.assert_allclose(value, loss.item(), **CLOSE)
        np.testing.assert_allclose(g.outputs[0], h.data, **CLOSE)
        for name, p in a.named_parameters().items():
            np.testing.assert_allclose(p.grad, b.named_parameters()[name].grad, **CLOSE, err_msg=name)


def test_truncated_bptt_carries_the_state_through_the_outputs():
    """Chunks of k steps, the state of one chunk the (non-differentiable) input of the next: the lecture's
    truncated BPTT, as train_sequence(replay=True) runs it."""
    from tinygrad_rnn import lecture

    rng = np.random.default_rng(4)
    rnn = RNN(3, 4, 2, fast=True)
    xs, ys = rng.standard_normal((10, 3)), rng.integers(0, 2, 10)
    g = replay(lambda x, y, h0: (rnn.loss(x, y, h0), rnn.state))
    h = np.zeros(4)
    for a in range(0, 10, 3):
        g(xs[a : a + 3], ys[a : a + 3], h)
        h = g.outputs[0].reshape(4)
    want = lecture.truncated_bptt_gradients(*(p.data for p in rnn.parameters()), xs, ys, k=3)
    for name, p in rnn.named_parameters().items():
        np.testing.assert_allclose(p.grad, want[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_many_primitives_replay_with_broadcasting():
    """Primitives without a kernel of their own run their Function: every graph replays."""
    rng = np.random.default_rng(5)
    w = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    v = Tensor(rng.uniform(0.5, 2.0, 4), requires_grad=True)

    def fn(x):
        a = (x @ w).sigmoid() * v - (x @ w).relu() / v + (x @ w).abs() ** 1.5
        parts = split(a.reshape(2, 3, 4))
        b = stack([parts[1], parts[0]]).max(axis=0) + concatenate(parts, axis=1).mean(axis=1, keepdims=True)
        c = where(b.data > 0, b, -b).expm1() + (b * b).log() - b.prod(axis=-1, keepdims=True) * 0.1
        return F.softmax_cross_entropy(c, np.array([0, 1, 3])) + c[np.array([0, 2])].sum() + (-c).min()

    g = replay(fn, check="never")
    for _ in range(3):
        x = Tensor(rng.standard_normal((6, 3)))
        for p in (w, v):
            p.grad = None
        value = g(x.data)
        wg, vg = w.grad, v.grad
        w.grad = v.grad = None
        loss = fn(x)
        loss.backward()
        np.testing.assert_allclose(value, loss.item(), **CLOSE)
        np.testing.assert_allclose(wg, w.grad, **CLOSE)
        np.testing.assert_allclose(vg, v.grad, **CLOSE)


def test_a_parameter_given_a_new_array_is_read_there():
    a, b = _twins(RNN, 2, 3, 2, fast=True)
    xs, ys = np.ones((4, 2)), np.zeros(4, dtype=int)
    g = replay(a.loss)
    for _ in range(3):
        g(xs, ys)
    for m in (a, b):
        m.U.data = m.U.data * 0.5  # a new array
        m.zero_grad()
    value = g(xs, ys)
    loss = b.loss(xs, ys)
    loss.backward()
    np.testing.assert_allclose(value, loss.item(), **CLOSE)
    np.testing.assert_allclose(a.U.grad, b.U.grad, **CLOSE)


def test_training_with_replay_follows_eager_training():
    rng = np.random.default_rng(6)
    a, b = _twins(GRU, 3, 4, 2)
    xs, ys = _data(5, 2, 3, 2, rng)
    g = replay(a.loss)
    opt_a, opt_b = SGD(a.parameters(), lr=0.1), SGD(b.parameters(), lr=0.1)
    for _ in range(5):
        opt_a.zero_grad()
        opt_b.zero_grad()
        g(xs, ys)
        b.loss(xs, ys).backward()
        opt_a.step()
        opt_b.step()
    np.testing.assert_allclose(a.U_z.data, b.U_z.data, rtol=1e-11)


def test_the_first_call_builds_the_ordinary_graph_and_eager_is_there_to_compare():
    rnn = RNN(2, 3, 2, fast=True)
    xs, ys = np.ones((4, 2)), np.zeros(4, dtype=int)
    g = replay(rnn.loss)
    value = g(xs, ys)
    assert rnn.trace.loss.grad is not None and rnn.trace.h[0].grad is not None  # drawable, gradients on the nodes
    rnn.zero_grad()
    assert g.eager(xs, ys) == pytest.approx(value, rel=1e-14) and g.stats["recorded"] == 1
    assert "1 recording" in repr(g)


def test_the_contract():
    import importlib

    module = importlib.import_module("tinygrad_rnn.replay")  # importing the module leaves the attribute alone
    assert tinygrad_rnn.replay is replay is module.replay and callable(replay)
    rnn = RNN(2, 3, 2, fast=True)
    g = replay(rnn.loss)
    assert isinstance(g(np.ones((3, 2)), np.array([0, 1, 0])), float)
    g(np.ones((5, 2)), np.array([0, 1, 0, 1, 1]))  # another length: a recording of its own
    assert len(g.recordings) == 2


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="callable"):
        replay(3)
    with pytest.raises(ValueError, match="check"):
        replay(lambda: None, check="sometimes")
    w = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match="scalar Tensor"):
        replay(lambda x: w * x)(np.ones(3))


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_training_with_replay_gives_eager_trainings_losses(model):
    """train_chars (truncated BPTT, clipping, Adagrad) with replay=True: the same updates as eager training."""
    from tinygrad_rnn.train import train_chars

    text = "the cat sat on the mat, the dog sat on the log. " * 3
    eager, replayed = (train_chars(text, model, hidden=8, epochs=2, tbptt=7, sample=5, replay=r) for r in (False, True))
    np.testing.assert_allclose(replayed.history.loss, eager.history.loss, rtol=1e-10)
    assert replayed.sample == eager.sample


def test_fit_replays_the_fn_it_is_given_and_adds_the_penalties():
    from tinygrad_rnn.train import fit

    rng = np.random.default_rng(7)
    xs, ys = _data(6, 3, 3, 2, rng)
    a, b = _twins(RNN, 3, 4, 2, fast=True)
    h_replay = fit(lambda i: (a.loss, (xs, ys)), SGD(a.parameters(), lr=0.05), 4, l2=0.01, clip=1.0, replay=True)
    h_eager = fit(lambda i: b.loss(xs, ys), SGD(b.parameters(), lr=0.05), 4, l2=0.01, clip=1.0)
    np.testing.assert_allclose(h_replay.loss, h_eager.loss, rtol=1e-11)
    np.testing.assert_allclose(h_replay.penalty, h_eager.penalty, rtol=1e-11)
    np.testing.assert_allclose(a.U.data, b.U.data, rtol=1e-11)
    with pytest.raises(TypeError, match=r"\(fn, args\)"):
        fit(lambda i: a.loss(xs, ys), SGD(a.parameters(), lr=0.05), 1, replay=True)


def test_the_cli_trains_with_replay_unless_told_not_to(tmp_path, capsys):
    from tinygrad_rnn import cli

    text = tmp_path / "t.txt"
    text.write_text("abcabcabcabd " * 4, encoding="utf-8")
    out = []
    for flag in ("--replay", "--no-replay"):
        argv = ["train", "chars", "--text", str(text), "--hidden", "4", "--epochs", "1", "--sample", "5", "--quiet"]
        assert cli.main([*argv, flag]) == 0
        out.append(capsys.readouterr().out)
    assert out[0] == out[1]  # the same training, either way


@pytest.mark.parametrize("model, tbptt", [("rnn", None), ("lstm", None), ("gru", 7)])
def test_forecast_training_with_replay_follows_eager_training(model, tbptt, monkeypatch):
    """train_forecaster(replay=True): windows and targets are inputs of ONE recording; updates as eager."""
    from tinygrad_rnn.forecast import train_forecaster
    from tinygrad_rnn.models import make_model
    from tinygrad_rnn.replay import Replay

    records = []
    record = Replay._record
    monkeypatch.setattr(Replay, "_record", lambda self, *a: records.append(a) or record(self, *a))
    series = np.sin(np.linspace(0, 20, 200))
    nets = [make_model(model, 1, 5, 1, seed=2, head="linear") for _ in range(2)]
    options = dict(steps=6, window=15, batch=4, washout=3, tbptt=tbptt, seed=1)
    eager, replayed = (train_forecaster(n, series, replay=r, **options) for n, r in zip(nets, (False, True)))
    np.testing.assert_allclose(replayed.loss, eager.loss, rtol=1e-10)
    np.testing.assert_allclose(replayed.grad_norm, eager.grad_norm, rtol=1e-10)
    for name, p in nets[1].named_parameters().items():
        np.testing.assert_allclose(p.data, nets[0].named_parameters()[name].data, rtol=1e-10, atol=1e-13)
    assert len(records) == 1, "new windows each update, one recording"
    with pytest.raises(ValueError, match="teacher_forcing=1"):
        train_forecaster(nets[0], series, replay=True, teacher_forcing=0.5, steps=1, window=15)


def test_the_cli_trains_forecasts_with_replay_unless_told_not_to(capsys):
    from tinygrad_rnn import cli

    out = []
    for flag in ("--replay", "--no-replay"):
        argv = ["train", "forecast", "--series", "sine", "--hidden", "4", "--updates", "3", "--window", "12", "--quiet"]
        assert cli.main([*argv, flag]) == 0
        out.append(capsys.readouterr().out)
    assert out[0] == out[1] and "RMSE" in out[0]


def _chunked(model, k):
    """fn(xs, ys): truncated BPTT over chunks of k steps inside ONE recording (the state carried detached)."""

    def fn(xs, ys):
        losses = [loss for _, _, loss in model.chunks(xs, ys, k=k)]
        return losses[0] if len(losses) == 1 else stack(losses).sum()

    return fn


@pytest.mark.parametrize("cls, options", EVERY_MODEL[:5])
@given(size=sizes, k=st.integers(1, 3))
def test_chunks_inside_one_recording_carry_the_state_with_new_data(cls, options, size, k):
    """The detached state between chunks is read from this call's values, not frozen at the recording's."""
    rng = np.random.default_rng(size["seed"])
    a, b = _twins(cls, size["D"], size["H"], size["K"], **options)
    T, B, D, K = size["T"], size["B"], size["D"], size["K"]
    same_signs = options.get("tanh") == "composed"
    g, f = replay(_chunked(a, k)), _chunked(b, k)
    for i in range(4):
        args = _data(T, B, D, K, rng if not same_signs or i == 0 else np.random.default_rng(size["seed"]))
        for m in (a, b):
            m.zero_grad()
        value = g(*args)
        loss = f(*args)
        loss.backward()
        _close(value, loss.item())
        for name, p in a.named_parameters().items():
            _close(p.grad, b.named_parameters()[name].grad, err_msg=f"{name}, call {i + 1}")


def test_a_program_that_disagrees_with_eager_on_new_data_is_caught(monkeypatch):
    """Were a value frozen into the program (here: the carried state, as a defect would), the checking call raises
    instead of returning wrong gradients later."""
    from tinygrad_rnn import batching

    monkeypatch.setattr(batching._Rewrite, "_detached_inside", lambda self, node: False)
    rng = np.random.default_rng(0)
    model = RNN(2, 3, 2, seed=1)
    g = replay(_chunked(model, 2))
    g(*_data(6, 2, 2, 2, rng))
    with pytest.raises(ReplayError, match="does not give this call's values"):
        g(*_data(6, 2, 2, 2, rng))


def _poisoned(size, dtype):
    """Storage full of values no computation makes: NaN, or the most negative integer."""
    dtype = np.dtype(dtype)
    return np.full(size, np.nan if dtype.kind in "fc" else np.iinfo(dtype).min if dtype.kind in "iu" else 1, dtype)


@pytest.mark.parametrize("cls, options", EVERY_MODEL)
@given(size=sizes, exact=st.booleans(), k=st.sampled_from([None, 1, 2]))
def test_no_buffer_is_read_before_it_is_written(cls, options, size, exact, k):
    """With every planned buffer poisoned when it is made, the replayed values and gradients are still the eager
    ones: nothing is read before it is written, and no value is frozen at the recording (a scalar copied where a
    view was meant, say). k: the sequence cut into chunks of k steps inside one recording."""
    from tinygrad_rnn import program

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(program, "allocate", _poisoned)
        _replays_as_eager(cls, options, size, exact, k)


def _replays_as_eager(cls, options, size, exact, k):
    rng = np.random.default_rng(size["seed"])
    a, b = _twins(cls, size["D"], size["H"], size["K"], **options)
    T, B, D, K, head = size["T"], size["B"], size["D"], size["K"], options.get("head", "softmax")
    fixed = options.get("tanh") == "composed"  # its sign(x) is a constant made from data: the same inputs
    g = replay(a.loss if k is None else _chunked(a, k), exact=exact)
    f = b.loss if k is None else _chunked(b, k)
    first = _data(T, B, D, K, rng, head)
    for i in range(3):
        args = first if fixed or i == 0 else _data(T, B, D, K, rng, head)
        for m in (a, b):
            m.zero_grad()
        value = g(*args)
        loss = f(*args) if k is not None else b.loss(*args)
        loss.backward()
        _close(value, loss.item())
        for name, p in a.named_parameters().items():
            _close(p.grad, b.named_parameters()[name].grad, err_msg=f"{name}, call {i + 1}")


@pytest.mark.parametrize("cls, options", EVERY_MODEL)
def test_float32_models_replay_batched(cls, options):
    """float32 (the loss summed in float64): the batched program agrees with eager to float32 rounding, so it is
    the one used."""
    rng = np.random.default_rng(4)
    a, b = _twins(cls, 3, 4, 3, dtype=np.float32, **options)
    head = options.get("head", "softmax")
    g = replay(a.loss)
    for _ in range(3):
        args = _data(6, 2, 3, 3, rng, head)
        if options.get("tanh") == "composed":
            args = _data(6, 2, 3, 3, np.random.default_rng(4), head)
        for m in (a, b):
            m.zero_grad()
        value = g(*args)
        loss = b.loss(*args)
        loss.backward()
        assert value == pytest.approx(loss.item(), rel=1e-5)
        for name, p in a.named_parameters().items():
            assert p.grad.dtype == np.float32
            np.testing.assert_allclose(p.grad, b.named_parameters()[name].grad, rtol=1e-4, atol=1e-6, err_msg=name)
    assert g.unbatched == 0 and g.stats["replayed"] == 1
