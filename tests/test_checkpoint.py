"""Checkpoints that describe themselves (class, sizes, options, data transform as JSON inside the .npz, no pickle)
and the bridge to PyTorch (weights mapped exactly, both ways)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import tinygrad_rnn
from tinygrad_rnn import data
from tinygrad_rnn.checkpoint import META_KEY
from tinygrad_rnn.lstm import GRU, LSTM
from tinygrad_rnn.models import load_model
from tinygrad_rnn.rnn import RNN

MODELS = [
    lambda: RNN(3, 4, 2, seed=1),
    lambda: RNN(3, 4, 2, seed=1, fast=True, head="linear"),
    lambda: RNN(3, 4, 2, seed=1, tanh="composed", dtype=np.float32),
    lambda: LSTM(3, 4, 2, seed=1, head="linear"),
    lambda: GRU(3, 4, 2, seed=1),
    lambda: GRU(3, 4, 2, seed=1, variant="torch", dtype=np.float32),
]


@pytest.mark.parametrize("make", MODELS)
def test_load_model_rebuilds_the_same_model(make, tmp_path):
    model = make()
    path = model.save(tmp_path / "m")
    assert path.name == "m.npz"
    again = tinygrad_rnn.load_model(tmp_path / "m")
    assert type(again) is type(model) and repr(again) == repr(model) and again.config() == model.config()
    for name, arr in model.arrays().items():
        np.testing.assert_array_equal(getattr(again, name).data, arr)
        assert getattr(again, name).dtype == arr.dtype
    xs = np.random.default_rng(0).standard_normal((4, 2, 3))
    np.testing.assert_array_equal(again.forward(xs)[1][-1].data, model.forward(xs)[1][-1].data)
    with zipfile.ZipFile(path) as archive:  # the description is plain JSON text, readable without pickle
        with archive.open(f"{META_KEY}.npy") as f:
            text = np.lib.format.read_array(f, allow_pickle=False)
    assert json.loads(str(text))["class"] == type(model).__name__


def test_the_data_transform_travels_with_the_model(tmp_path):
    vocab = data.Vocabulary.from_text("hello world")
    RNN(vocab.size, 5, vocab.size).save(tmp_path / "chars.npz", transform=vocab)
    model = load_model(tmp_path / "chars.npz")
    assert model.transform.chars == vocab.chars
    series = np.sin(np.arange(50.0))[:, None] * 3 + 1
    scale = data.Standardizer(series)
    RNN(1, 3, 1, head="linear").save(tmp_path / "fc.npz", transform=scale)
    back = load_model(tmp_path / "fc.npz").transform
    np.testing.assert_allclose(back.transform(series), scale.transform(series), rtol=1e-15)
    assert load_model(tmp_path / "fc.npz").transform is not None
    with pytest.raises(TypeError, match="has no to_config"):
        RNN(1, 3, 1).save(tmp_path / "x.npz", transform=object())


def test_a_file_of_parameters_only_still_loads_with_a_warning(tmp_path):
    lstm = LSTM(2, 3, 2, seed=4)
    np.savez(tmp_path / "old.npz", **lstm.arrays())
    with pytest.warns(UserWarning, match="holds LSTM parameters only, not the model's options"):
        again = load_model(tmp_path / "old.npz")
    assert isinstance(again, LSTM) and again.transform is None
    np.testing.assert_array_equal(again.V.data, lstm.V.data)
    np.savez(tmp_path / "odd.npz", W=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="fit no model"):
        load_model(tmp_path / "odd.npz")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a readable .npz"),
        (b"PK\x03\x04garbage", "not a readable .npz"),
        (None, "no such file"),
    ],
)
def test_bad_files_get_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_model(path)
    with pytest.raises(ValueError, match=message):
        RNN(3, 4, 2).load(path)


def test_loading_is_atomic_and_strict(tmp_path):
    rnn = RNN(3, 4, 2, seed=0)
    before = rnn.arrays()
    bad = {**RNN(3, 4, 2, seed=9).arrays(), "c": np.array([1 + 2j, 0j])}
    np.savez(tmp_path / "complex.npz", **bad)
    with pytest.raises(ValueError, match="c holds complex128 values, not real numbers"):
        rnn.load(tmp_path / "complex.npz")
    nan = {**RNN(3, 4, 2, seed=9).arrays(), "c": np.array([np.nan, 0.0])}
    np.savez(tmp_path / "nan.npz", **nan)
    with pytest.raises(ValueError, match="parameter c has a non-finite value"):
        rnn.load(tmp_path / "nan.npz")
    for name, arr in before.items():  # W, U, V, b came before c in the file: none was replaced
        np.testing.assert_array_equal(getattr(rnn, name).data, arr)
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not a readable .npz"):
        rnn.load(tmp_path / "single.npy")


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_header_claiming_a_huge_array_is_refused_before_allocation(tmp_path):
    path = tmp_path / "huge.npz"
    np.savez(path, **RNN(3, 4, 2).arrays())
    with zipfile.ZipFile(path, "a") as archive:
        header = {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
        with archive.open("W.npy", "w") as f:  # a second W.npy: the archive's last entry of a name is read
            np.lib.format.write_array_header_1_0(f, header)
            f.write(b"\0" * 64)
    with pytest.raises(ValueError, match="W claims 8000000000000 bytes but the file holds fewer"):
        RNN(3, 4, 2).load(path)


# ---- PyTorch ------------------------------------------------------------------------------------------------------

TORCH_MODELS = [
    lambda dt: RNN(3, 4, 2, seed=2, dtype=dt),
    lambda dt: RNN(3, 4, 2, seed=2, fast=True, dtype=dt),
    lambda dt: LSTM(3, 4, 2, seed=2, dtype=dt),
    lambda dt: GRU(3, 4, 2, seed=2, variant="torch", dtype=dt),
]


@pytest.mark.parametrize("make", TORCH_MODELS)
def test_to_torch_computes_the_same_outputs_and_gradients(make):
    torch = pytest.importorskip("torch")
    model = make(np.float64)
    recurrent, readout = model.to_torch()
    assert recurrent.weight_ih_l0.dtype == torch.float64 and readout.weight.dtype == torch.float64
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((5, 2, 3)), rng.integers(0, 2, size=(5, 2))
    x = torch.from_numpy(xs)
    o = readout(recurrent(x)[0])
    loss = torch.nn.functional.cross_entropy(o.reshape(-1, 2), torch.from_numpy(ys).reshape(-1), reduction="sum")
    loss.backward()
    L = model.loss(xs, ys)
    L.backward()
    assert L.item() == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(readout.weight.grad.numpy(), model.V.grad, rtol=1e-12, atol=1e-14)
    W_ih = recurrent.weight_ih_l0.grad.numpy()
    first = "W" if isinstance(model, RNN) else {"LSTM": "W_i", "GRU": "W_r"}[type(model).__name__]
    np.testing.assert_allclose(W_ih[:4], getattr(model, first).grad, rtol=1e-12, atol=1e-14)
    back = type(model).from_torch(recurrent, readout)
    for name, arr in model.arrays().items():
        np.testing.assert_allclose(getattr(back, name).data, arr, rtol=0, atol=1e-15, err_msg=name)


def test_to_torch_keeps_float32_and_refuses_what_has_no_counterpart():
    torch = pytest.importorskip("torch")
    recurrent, _ = LSTM(2, 3, 2, dtype=np.float32).to_torch()
    assert recurrent.weight_hh_l0.dtype == torch.float32
    with pytest.raises(ValueError, match="variant='torch'"):
        GRU(2, 3, 2).to_torch()
    with pytest.raises(ValueError, match="num_layers=2"):
        LSTM.from_torch(torch.nn.LSTM(2, 3, num_layers=2), torch.nn.Linear(3, 2))
    with pytest.raises(ValueError, match="nonlinearity='relu'"):
        RNN.from_torch(torch.nn.RNN(2, 3, nonlinearity="relu"), torch.nn.Linear(3, 2))
    with pytest.raises(TypeError, match="expected a torch.nn.GRU"):
        GRU.from_torch(torch.nn.LSTM(2, 3), torch.nn.Linear(3, 2))
