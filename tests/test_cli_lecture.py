"""`tinygrad-rnn check` and `tinygrad-rnn demo`: output, exit codes 0/1/2, the PNG."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tinygrad_rnn import cli, demo, ops

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_prints_the_table_and_exits_0(capsys):
    code, out, _ = run(capsys, "check", "--steps", "3", "--input", "3", "--hidden", "4", "--classes", "3")
    assert code == 0
    lines = out.splitlines()
    for q in ["W", "U", "V", "b", "c", "h_1", "h_2", "h_3", "o_1", "o_2", "o_3"]:
        assert sum(line.startswith(f"{q} ") for line in lines) == 1, q
    assert "h_4 " not in out
    assert "OK: autodiff, the corrected formulas and finite differences agree." in out
    assert "does not type-check" in out  # D ≠ H
    assert all(len(line) <= 120 for line in lines)


def test_check_with_a_batch_and_D_equal_to_H_shows_wrong_printed_numbers(capsys):
    code, out, _ = run(capsys, "check", "--steps", "2", "--batch", "3", "--input", "2", "--hidden", "2", "--seed", "7")
    assert code == 0
    assert "B=3" in out and "WRONG" in out


def test_check_exits_1_when_the_engine_gradient_is_wrong(capsys, monkeypatch):
    monkeypatch.setattr(ops.Tanh, "backward", lambda self, g: (g * (1.0 - self.saved[0]),))  # 1 − y, not 1 − y²
    code, out, _ = run(capsys, "check", "--steps", "3")
    assert code == 1
    assert "MISMATCH" in out and "NOT OK" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "--steps", "0"], "argument --steps: expected a whole number ≥ 1, got 0"),
        (["check", "--hidden", "four"], "argument --hidden: expected a whole number ≥ 1 and ≤ 4096, got 'four'"),
        (["check", "--seed", "-1"], "argument --seed: expected a whole number ≥ 0, got -1"),
        (["check", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["demo", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_usage_errors_exit_2_with_a_short_message(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "usage: tinygrad-rnn" in err
    assert len(err.splitlines()) <= 6 and "Traceback" not in err


@needs_dot
def test_demo_prints_the_table_and_writes_the_png(capsys, tmp_path):
    out_path = tmp_path / "pictures" / "demo.png"
    code, out, _ = run(capsys, "demo", "--out", str(out_path))
    assert code == 0
    assert "'h', 'e', 'l'" in out and "T=3, D=3, H=3, K=3" in out
    assert "WRONG" in out and "OK:" in out
    assert f"wrote the unrolled graph with its gradients to {out_path}" in out
    assert out_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = out_path.with_suffix(".dot").read_text(encoding="utf-8")
    for name in ["h_1", "h_2", "h_3", "t = 1", "t = 3", "WRONG", "not in the lecture"]:
        assert name in dot, name


@needs_dot
def test_demo_writes_to_the_current_directory_by_default(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert (tmp_path / "tinygrad_rnn_demo.png").read_bytes()[:4] == b"\x89PNG"
    assert "tinygrad_rnn_demo.png" in out


def test_demo_reports_a_drawing_failure_and_exits_1(capsys, monkeypatch, tmp_path):
    def fail(report, path):
        raise RuntimeError("dot is not installed")

    monkeypatch.setattr(demo, "draw_demo", fail)
    code, out, err = run(capsys, "demo", "--out", str(tmp_path / "x.png"))
    assert code == 1
    assert "quantity" in out  # the table was still printed
    assert "could not draw the graph: dot is not installed" in err


def test_demo_draws_the_graph_that_was_differentiated(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)  # the demo's explorer page goes beside the default picture path
    seen = {}

    def record(report, path):
        seen["loss"], seen["path"], seen["report"] = report.loss, path, report
        return Path(path)

    monkeypatch.setattr(demo, "draw_demo", record)
    code, _, _ = run(capsys, "demo")
    assert code == 0 and seen["path"] == "tinygrad_rnn_demo.png"
    assert seen["loss"].name == "L" and seen["loss"].grad is not None
    assert seen["report"].loss is seen["loss"] and seen["report"].ok


def test_python_dash_m_runs_check():
    proc = subprocess.run(
        [sys.executable, "-m", "tinygrad_rnn", "check", "--steps", "2"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "OK: autodiff" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "tinygrad_rnn", "check", "--steps", "x"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "expected a whole number" in proc.stderr


def test_lecture_walkthrough_runs_and_every_corrected_formula_matches_the_engine():
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "lecture_walkthrough.py"
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    diffs = {lines[i - 3]: float(line.split("=")[-1]) for i, line in enumerate(lines) if "max |difference|" in line}
    printed = {label: d for label, d in diffs.items() if "as printed" in label}
    assert len(printed) == 4 and all(d > 1e-3 for d in printed.values()), printed
    others = {label: d for label, d in diffs.items() if label not in printed}
    assert len(others) >= 20 and all(d < 1e-12 for d in others.values()), others
