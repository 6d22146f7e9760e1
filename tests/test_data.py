"""Characters, generated and shipped series, windows and splits in time order, and the errors for bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_rnn import data


# ---------------------------------------------------------------------------------------------------- characters
@given(text=st.text(min_size=1, max_size=60))
def test_encode_decode_round_trip_and_one_hot(text):
    vocab = data.Vocabulary.from_text(text)
    ids = vocab.encode(text)
    assert vocab.decode(ids) == text
    assert vocab.size == len(set(text))
    X = vocab.one_hot(ids)
    assert X.shape == (len(text), vocab.size)
    np.testing.assert_array_equal(X.sum(axis=1), 1.0)
    np.testing.assert_array_equal(X.argmax(axis=1), ids)


def test_vocabulary_is_sorted_and_deterministic():
    v = data.Vocabulary.from_text("hello")
    assert v.chars == ["e", "h", "l", "o"]
    np.testing.assert_array_equal(v.encode("hello"), [1, 0, 2, 2, 3])


def test_text_errors_are_clear():
    with pytest.raises(ValueError, match="Vocabulary.from_text: the text is empty"):
        data.Vocabulary.from_text("")
    v = data.Vocabulary.from_text("abc")
    with pytest.raises(ValueError, match=r"character 'z' at position 3 is not in the vocabulary"):
        v.encode("abz")
    with pytest.raises(ValueError, match="Vocabulary.encode: the text is empty"):
        v.encode("")
    with pytest.raises(ValueError, match=r"index 7 at position 2 is outside 0..2"):
        v.decode([0, 7])
    with pytest.raises(TypeError, match="expected str"):
        data.Vocabulary.from_text(b"abc")


def test_shipped_text_is_the_documented_passage():
    text = data.load_text()
    assert len(text) == 3926 and text.startswith("First Citizen:\nBefore we proceed")
    assert text.rstrip().endswith("To stale 't a little more.")
    assert data.Vocabulary.from_text(text).size == 52
    with pytest.raises(ValueError, match="no shipped text named 'nope'"):
        data.load_text("nope")


# ---------------------------------------------------------------------------------------------------- series
def test_sunspots_csv_is_the_yearly_series_1700_2008():
    years, y = data.load_sunspots()
    assert len(years) == len(y) == 309
    np.testing.assert_array_equal(years, np.arange(1700, 2009))
    assert y[:4].tolist() == [5.0, 11.0, 16.0, 23.0] and y[-1] == 2.9
    assert np.all(y >= 0) and y.max() == pytest.approx(190.2)
    data.check_series(y)


def test_sine_formula():
    y = data.sine(50, period=10, amplitude=2.0, phase=0.3)
    np.testing.assert_allclose(y, 2.0 * np.sin(2 * np.pi * np.arange(50) / 10 + 0.3), rtol=0, atol=1e-15)
    noisy = data.sine(50, noise=0.1, seed=3)
    assert np.std(noisy - data.sine(50)) == pytest.approx(0.1, rel=0.3)
    np.testing.assert_array_equal(noisy, data.sine(50, noise=0.1, seed=3))


def test_mackey_glass_is_the_chaotic_attractor_and_converges_in_dt():
    y = data.mackey_glass(600)
    assert y.shape == (600,)
    # the τ = 17 attractor stays in (0.2, 1.4) and is aperiodic: known range and a non-trivial spread
    assert 0.2 < y.min() < 0.5 and 1.2 < y.max() < 1.4
    assert 0.2 < y.std() < 0.3
    # the integration converges as dt shrinks: against dt = 0.025, halving dt from 0.1 cuts the error > 4×
    # (the kinks of the constant start history limit the order to ~2 from RK4's 4)
    ref = data.mackey_glass(100, dt=0.025)
    e1, e2 = (np.max(np.abs(data.mackey_glass(100, dt=dt) - ref)) for dt in (0.1, 0.05))
    assert e1 < 2e-3 and e2 < e1 / 4
    # sampled values satisfy the delay equation: central difference of a dt-sampled run ≈ right-hand side
    z = data.mackey_glass(400, sample_every=0.1, discard=100)
    lag = 170
    dz = (z[lag + 2 :] - z[lag:-2]) / 0.2
    zt, zd = z[lag + 1 : -1], z[1 : -lag - 1]
    rhs = 0.2 * zd / (1 + zd**10) - 0.1 * zt
    np.testing.assert_allclose(dz, rhs, atol=1e-4)


def test_mackey_glass_rejects_bad_steps():
    with pytest.raises(ValueError, match="tau/dt must be a whole number"):
        data.mackey_glass(10, dt=0.3)
    with pytest.raises(ValueError, match="mackey_glass: n must be a whole number ≥ 1"):
        data.mackey_glass(0)


# ---------------------------------------------------------------------------------------------------- windows, splits
@given(
    T=st.integers(2, 40), w=st.integers(1, 10), h=st.integers(1, 4), stride=st.integers(1, 3), D=st.sampled_from([0, 2])
)
def test_sliding_windows_shapes_and_time_order(T, w, h, stride, D):
    y = np.arange(T, dtype=float) if D == 0 else np.arange(T * D, dtype=float).reshape(T, D)
    if w + h > T:
        with pytest.raises(
            ValueError, match=f"window {w} \\+ horizon {h} = {w + h} is longer than the series \\(T={T}"
        ):
            data.sliding_windows(y, w, h, stride)
        return
    X, Y = data.sliding_windows(y, w, h, stride)
    N = (T - w - h) // stride + 1
    assert X.shape == (N, w, *y.shape[1:]) and Y.shape == (N, h, *y.shape[1:])
    for i in range(N):
        s = i * stride
        np.testing.assert_array_equal(X[i], y[s : s + w])
        np.testing.assert_array_equal(Y[i], y[s + w : s + w + h])


def test_nan_and_empty_series_get_clear_errors():
    y = np.arange(10.0)
    y[6] = np.nan
    with pytest.raises(ValueError, match=r"sliding_windows: the series has NaN at t=7 \(1-based\) of 10"):
        data.sliding_windows(y, 3)
    y[6] = np.inf
    with pytest.raises(ValueError, match=r"split_series: the series has an infinite value at t=7"):
        data.split_series(y)
    with pytest.raises(ValueError, match="the series is empty"):
        data.check_series([])
    with pytest.raises(ValueError, match=r"expected a series of shape \(T,\) or \(T, D\), got shape \(2, 2, 2\)"):
        data.check_series(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="window must be a whole number ≥ 1"):
        data.sliding_windows(np.arange(5.0), 0)


@given(T=st.integers(3, 200), a=st.floats(0.1, 0.8))
def test_split_series_is_consecutive_and_in_time_order(T, a):
    fr = (a, (1 - a) / 2, (1 - a) / 2)
    y = np.arange(T, dtype=float)
    try:
        parts = data.split_series(y, fr)
    except ValueError as e:
        assert "too short" in str(e)
        assert min(int(np.floor(f * T)) for f in fr[:2]) < 1 or T - int(np.floor(a * T)) - int(np.floor(fr[1] * T)) < 1
        return
    np.testing.assert_array_equal(np.concatenate(parts), y)  # nothing lost, nothing reordered
    assert all(p[-1] < q[0] for p, q in zip(parts[:-1], parts[1:]))  # every later part is later in time
    assert len(parts[0]) == int(np.floor(a * T + 1e-9))


def test_split_series_rejects_bad_fractions():
    with pytest.raises(ValueError, match="fractions must be positive and sum to 1"):
        data.split_series(np.arange(10.0), (0.5, 0.6))


def test_next_step_pairs_and_standardizer():
    y = np.array([1.0, 2.0, 4.0, 7.0])
    xs, ys = data.next_step_pairs(y)
    np.testing.assert_array_equal(xs[:, 0], [1, 2, 4]) and np.testing.assert_array_equal(ys[:, 0], [2, 4, 7])
    with pytest.raises(ValueError, match="need at least 2 values"):
        data.next_step_pairs([1.0])
    s = data.Standardizer(y[:3])
    z = s.transform(y)
    assert z[:3].mean() == pytest.approx(0) and z[:3].std() == pytest.approx(1)
    np.testing.assert_allclose(s.inverse(z), y)
    with pytest.raises(ValueError, match="constant"):
        data.Standardizer(np.ones(4))
