"""The training loop: truncated BPTT equals the lecture's hand-truncated gradients, training learns, progress line."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_rnn import lecture
from tinygrad_rnn.data import Vocabulary
from tinygrad_rnn.lstm import GRU, LSTM
from tinygrad_rnn.optim import SGD, Adagrad, Adam
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.tensor import Tensor
from tinygrad_rnn.train import chunk_bounds, fit, sample_text, tbptt_backward, train_sequence


@given(
    T=st.integers(1, 12),
    k=st.integers(1, 14),
    D=st.integers(1, 3),
    H=st.integers(1, 4),
    K=st.integers(1, 3),
    B=st.sampled_from([None, 2]),
    head=st.sampled_from(["softmax", "linear"]),
    seed=st.integers(0, 2**16),
)
def test_chunked_training_gradient_equals_lecture_truncated_bptt(T, k, D, H, K, B, head, seed):
    rng = np.random.default_rng(seed)
    rnn = RNN(D, H, K, seed=seed, head=head)
    shape = (T, D) if B is None else (T, B, D)
    xs = rng.standard_normal(shape)
    if head == "softmax":
        ys = rng.integers(0, K, size=shape[:-1])
    else:
        ys = rng.standard_normal((*shape[:-1], K))
    total = tbptt_backward(rnn, xs, ys, k)
    by_hand = lecture.truncated_bptt_gradients(**rnn.arrays(), xs=xs, ys=ys, k=k, head=head)
    for name in "WUVbc":
        np.testing.assert_allclose(getattr(rnn, name).grad, by_hand[name], rtol=1e-10, atol=1e-12, err_msg=name)
    # detaching changes no value: the summed chunk losses are the loss of the whole sequence
    assert total == pytest.approx(rnn.loss(xs, ys).item(), rel=1e-12)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_gated_models_carry_their_state_across_chunks(cls):
    rng = np.random.default_rng(0)
    model = cls(2, 3, 2, seed=1, head="linear")
    xs, ys = rng.standard_normal((9, 2)), rng.standard_normal((9, 2))
    whole = model.loss(xs, ys).item()
    assert tbptt_backward(model, xs, ys, 4) == pytest.approx(whole, rel=1e-12)
    model.zero_grad()
    tbptt_backward(model, xs, ys, 9)  # one chunk: full BPTT
    full = {n: p.grad.copy() for n, p in model.named_parameters().items()}
    model.zero_grad()
    tbptt_backward(model, xs, ys, 2)
    assert any(not np.allclose(p.grad, full[n]) for n, p in model.named_parameters().items())


def test_chunk_bounds():
    assert chunk_bounds(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert chunk_bounds(7, None) == [(0, 7)]
    with pytest.raises(ValueError, match="chunk length k must be a whole number ≥ 1, got 0"):
        chunk_bounds(7, 0)


def test_training_learns_a_periodic_character_sequence():
    """abcd repeated: after training, the next character is predicted with ≥ 95 % probability everywhere."""
    vocab = Vocabulary.from_text("abcd")
    ids = vocab.encode("abcd" * 12)
    xs, ys = vocab.one_hot(ids[:-1]), ids[1:]
    rnn = RNN(4, 8, 4, seed=0)
    before = rnn.loss(xs, ys).item() / len(ys)
    hist = train_sequence(rnn, xs, ys, Adagrad(rnn.parameters(), lr=0.3), epochs=30, tbptt=8, clip=5.0)
    after = rnn.loss(xs, ys).item() / len(ys)
    assert before > 1.0 and after < 0.05 < before / 20
    assert hist.loss[-1] < hist.loss[0] / 10 and len(hist.loss) == 30 * 6
    assert sample_text(rnn, vocab, "a", 11, temperature=0.5, seed=1) == "bcdabcdabcd"


def test_training_reduces_regression_loss_with_adam_and_batches():
    t = np.arange(41)
    series = np.stack([np.sin(0.3 * t + p) for p in (0.0, 1.0, 2.0)], axis=1)[:, :, None]  # (T, B=3, 1)
    xs, ys = series[:-1], series[1:]
    rnn = RNN(1, 6, 1, seed=2, head="linear")
    before = rnn.loss(xs, ys).item()
    train_sequence(rnn, xs, ys, Adam(rnn.parameters(), lr=0.02), epochs=60, tbptt=20)
    assert rnn.loss(xs, ys).item() < before / 20


def test_fit_adds_penalties_to_the_graph_and_clips():
    w = Tensor(np.array([3.0, -4.0]), requires_grad=True, name="w")
    hist = fit(lambda i: (w * 0.0).sum(), SGD([w], lr=0.1), 3, l2=0.5)
    # only the penalty acts: w ← w − 0.1 · 2 · 0.5 · w = 0.9 w per update
    np.testing.assert_allclose(w.data, np.array([3.0, -4.0]) * 0.9**3)
    assert hist.penalty[0] == pytest.approx(0.5 * 25.0) and hist.loss == [0.0, 0.0, 0.0]
    w.data = np.array([3.0, -4.0])
    hist = fit(lambda i: (w * w).sum(), SGD([w], lr=0.1), 1, clip=1.0)
    assert hist.grad_norm == [pytest.approx(10.0)]  # pre-clip norm of 2w
    np.testing.assert_allclose(w.data, [3.0 - 0.1 * 0.6, -4.0 + 0.1 * 0.8])


def test_fit_stops_on_a_non_finite_loss():
    w = Tensor(np.array([1.0]), requires_grad=True, name="w")
    with pytest.raises(ValueError, match="fit: the loss is nan at update 1"):
        fit(lambda i: (w * np.nan).sum(), SGD([w], lr=0.1), 2)


def test_progress_is_a_tqdm_bar_with_the_loss(capsys):
    w = Tensor(np.array([3.0]), requires_grad=True, name="w")
    fit(lambda i: (w * w).sum(), SGD([w], lr=0.1), 5, progress=True, desc="epoch")
    err = capsys.readouterr().err
    assert "epoch" in err and "5/5" in err and "loss=" in err and "100%" in err
    fit(lambda i: (w * w).sum(), SGD([w], lr=0.1), 5)
    assert capsys.readouterr().err == ""


def test_history_plot_draws_loss_and_clipped_gradient_norms(tmp_path):
    pytest.importorskip("matplotlib")
    w = Tensor(np.array([30.0, -40.0]), requires_grad=True, name="w")
    hist = fit(lambda i: (w * w).sum(), SGD([w], lr=0.05), 20, clip=1.0)
    assert hist.clip == 1.0
    fig = hist.plot(tmp_path / "loss.png")
    top, bottom = fig.axes
    labels = [line.get_label() for line in bottom.get_lines()]
    assert labels[:2] == ["‖∇θ‖ before clipping", "after clipping to 1"] and len(labels) == 3  # and the threshold
    np.testing.assert_allclose(bottom.get_lines()[1].get_ydata(), np.minimum(hist.grad_norm, 1.0))
    np.testing.assert_allclose(top.get_lines()[0].get_ydata(), hist.loss)
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="no update was recorded"):
        type(hist)().plot()


# ---------------------------------------------------------------------------------------------------- the CLI
def test_cli_train_forecast_prints_the_rmse_table_and_saves(tmp_path, capsys):
    from tinygrad_rnn.cli import main

    path = tmp_path / "model.npz"
    assert main(["train", "forecast", "--series", "sine", "--updates", "30", "--hidden", "6", "--window", "20",
                 "--horizon", "5", "--quiet", "--save", str(path)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[-2:] for line in out.splitlines() if line.startswith("                 ")}
    assert set(rows) == {"persistence", "linear", "RNN,"}
    assert all(0 <= float(v) < 10 for vals in rows.values() for v in vals)
    loaded = RNN(1, 6, 1, head="linear").load(path)
    assert loaded.W.shape == (6, 1)


def test_cli_train_chars_with_lstm_and_the_errors(tmp_path, capsys):
    from tinygrad_rnn.cli import main

    text = tmp_path / "t.txt"
    text.write_text("abab abab abab abab\n", encoding="utf-8")
    assert main(["train", "chars", "--model", "gru", "--hidden", "4", "--epochs", "2", "--tbptt", "5", "--text",
                 str(text), "--sample", "10", "--quiet"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "20 characters, 4 distinct; 8 updates" in out and "sample:\na" in out
    text.write_text("", encoding="utf-8")
    assert main(["train", "chars", "--text", str(text), "--quiet"]) == 2
    assert "the text needs at least 2 characters" in capsys.readouterr().err
    argv = ["train", "forecast", "--model", "gru", "--teacher-forcing", "0.5", "--updates", "3", "--quiet"]
    assert main(argv) == 0  # every model steps, so every model trains free-running
    assert "GRU, H=16" in capsys.readouterr().out
    assert main([*argv, "--tbptt", "5"]) == 2
    assert "tbptt applies to teacher-forced training" in capsys.readouterr().err
    assert main(["train", "chars", "--save", str(tmp_path / "no" / "such" / "m.npz"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "forecast", "--teacher-forcing", "1.5"])
