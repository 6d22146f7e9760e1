"""Smoke tests: every example runs to the end with tiny settings and writes its tables and plots.

Each runs in its own process with TINYGRAD_RNN_SMOKE=1 (tiny sizes) and TINYGRAD_RNN_VIZ_DIR pointing at a
temporary folder, so the committed pictures in viz/ are never touched.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

try:
    import matplotlib  # noqa: F401

    HAVE_MPL = True
except ImportError:
    HAVE_MPL = False


def run_example(name: str, viz: Path, block_matplotlib: bool = False) -> str:
    env = dict(os.environ, TINYGRAD_RNN_SMOKE="1", TINYGRAD_RNN_VIZ_DIR=str(viz), MPLBACKEND="Agg")
    if block_matplotlib:  # a package named matplotlib that fails to import, first on the path
        fake = viz / "no_mpl" / "matplotlib"
        fake.mkdir(parents=True)
        (fake / "__init__.py").write_text("raise ImportError('matplotlib blocked for this test')\n")
        env["PYTHONPATH"] = os.pathsep.join([str(fake.parent), str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")], env=env, cwd=viz, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"examples/{name}.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


# name -> (lines the output must contain, plots it writes)
EXPECTED = {
    "forecast": (
        ["Test RMSE", "Mackey-Glass  persistence", "linear AR(", "RNN, teacher forcing", "RNN, free-running",
         "LSTM, teacher forcing", "sunspots      persistence"],
        ["forecast_closed_loop.png", "forecast_sunspots_one_step.png"],
    ),
    "char_rnn": (
        ["characters, 42 distinct", "--- update 8,", "epoch  mean loss", "--- temperature 0.5 ---"],
        ["char_rnn_loss.png"],
    ),
    "vanishing_gradients": (
        ["Spectral-radius sweep", "vanishing"],
        ["vanishing_gradients.png", "gradient_clipping.png"],
    ),
    "to_pytorch": (
        ["updates on the engine: loss", "transform: Standardizer"],
        ["to_pytorch_engine_loss.png"],
    ),
    "rtrl_online": (
        ["∇U: RTRL ‖·‖", "max |difference|", "RTRL (sensitivities carried)", "forgotten every step",
         "multiply-adds per step"],
        ["rtrl_online.png"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_writes_its_outputs(name, tmp_path):
    out = run_example(name, tmp_path)
    lines, plots = EXPECTED[name]
    for text in lines:
        assert text in out, f"examples/{name}.py output lacks {text!r}"
    for png in plots:
        path = tmp_path / png
        if HAVE_MPL:
            assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        else:
            assert not path.exists()


def test_forecast_table_has_one_finite_row_per_method(tmp_path):
    out = run_example("forecast", tmp_path)
    rows = [line for line in out.splitlines() if line.startswith(("Mackey-Glass  ", "sunspots      ")) and "." in line]
    rows = [r for r in rows if "trained in" not in r]
    assert len(rows) == 10  # 6 methods on Mackey–Glass, 4 on sunspots
    for r in rows:
        numbers = [float(v) for v in r.split()[-3:]]
        assert all(0 <= v < 100 for v in numbers), r


@pytest.mark.parametrize("name", ["char_rnn", "forecast"])
def test_examples_without_matplotlib_print_tables_and_say_the_plot_was_skipped(name, tmp_path):
    out = run_example(name, tmp_path, block_matplotlib=True)
    assert "matplotlib is not installed" in out and "skipped" in out
    assert not list(tmp_path.glob("*.png"))
