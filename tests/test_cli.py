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
