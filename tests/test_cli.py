"""The command line refuses what cannot work with an argparse-style message and exit code 2, before any work."""

from __future__ import annotations

import pytest

from tinygrad_rnn import cli
from tinygrad_rnn.rnn import RNN


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "--steps", "100000"], "at most 200 steps"),
        (["check", "--hidden", "100000"], "argument --hidden: expected a whole number ≥ 1 and ≤ 4096"),
        (["gradients", "--radii", "1e308"], "argument --radii: expected a finite number > 0 and ≤ 100"),
        (["gradients", "--radii", "nan"], "argument --radii: expected a finite number > 0"),
        (["gradients", "--radii", "0.5,-1"], "argument --radii: expected a finite number > 0"),
        (["gradients", "--input-scale", "inf"], "argument --input-scale: expected a finite number ≥ 0"),
        (["gradients", "--steps", "1000000"], "argument --steps: expected a whole number ≥ 1 and ≤ 100000"),
        (["gradients", "--plot", "/no/such/folder/x.png"], "--plot /no/such/folder/x.png: the folder"),
        (["train", "chars", "--save", "/no/such/folder/m.npz"], "the folder /no/such/folder does not exist"),
        (["train", "forecast", "--save", "/no/such/folder/m.npz"], "the folder /no/such/folder does not exist"),
        (["train", "forecast", "--window", "100000"], "does not fit the 900 training values"),
        (["train", "chars", "--hidden", "0"], "argument --hidden: expected a whole number ≥ 1"),
    ],
)
def test_bad_arguments_exit_2_before_any_work(capsys, argv, message):
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_model_too_large_for_memory_is_refused_before_allocation():
    with pytest.raises(ValueError, match=r"RNN: 10,000,700,003 parameters need 74.5 GiB; at most 4 GiB"):
        RNN(3, 100_000, 3)


def test_train_save_then_sample_and_forecast_from_the_saved_model(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    chars = tmp_path / "chars.npz"
    argv = ["train", "chars", "--epochs", "1", "--hidden", "8", "--sample", "5", "--quiet", "--save", str(chars)]
    assert cli.main([*argv, "--plot", str(tmp_path / "loss.png")]) == 0
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert cli.main(["sample", "--model", str(chars), "--prefix", "Th", "--length", "12"]) == 0
    text = capsys.readouterr().out[:-1]  # print adds one newline; a sampled character may be one too
    assert text.startswith("Th") and len(text) == 14
    fc = tmp_path / "fc.npz"
    assert cli.main(["train", "forecast", "--updates", "5", "--quiet", "--save", str(fc)]) == 0
    capsys.readouterr()
    assert cli.main(["forecast", "--model", str(fc), "--horizon", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["t+1", "t+2", "t+3", "t+4"]
    assert all(0.0 < float(line.split()[1]) < 2.0 for line in lines)  # Mackey–Glass values lie in (0.2, 1.4)
    assert cli.main(["sample", "--model", str(fc)]) == 2
    assert "saved without a vocabulary" in capsys.readouterr().err
    assert cli.main(["forecast", "--model", str(tmp_path / "none.npz")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_training_options_show_their_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "chars", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "hidden size H (default 64)" in out and "learning rate (default 0.1)" in out
    with pytest.raises(SystemExit):
        cli.main(["train", "forecast", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "hidden size H (default 16)" in out and "updates (default 300)" in out


def test_paper_prints_ours_beside_the_papers_number_last(capsys, tmp_path):
    assert cli.main(["paper", "contributions", "--quick", "--out", str(tmp_path)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("result: ours=") and " paper=0 (" in last
    assert float(last.split("ours=")[1].split()[0]) < 1e-10  # eq. 4's row sums equal the engine's gradient
    assert list(tmp_path.glob("*.png"))
    with pytest.raises(SystemExit):
        cli.main(["paper", "nope"])
