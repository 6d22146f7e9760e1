"""The example notebooks: the same cells as their `# %%` scripts, and they run top to bottom with a real kernel,
showing their pictures inline (the examples' tiny settings, as in the other example tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "notebooks.py"

pytest.importorskip("jupytext")


def test_every_notebook_has_the_cells_of_its_script():
    proc = subprocess.run([sys.executable, str(TOOL), "check"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(list((ROOT / "examples").glob("*.ipynb"))) == 6


def test_the_notebooks_run_with_a_kernel_and_show_their_pictures(tmp_path):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    env = dict(os.environ, TINYGRAD_RNN_SMOKE="1", TINYGRAD_RNN_VIZ_DIR=str(tmp_path / "viz"))
    proc = subprocess.run(
        [sys.executable, str(TOOL), "run", str(tmp_path)], capture_output=True, text=True, timeout=900, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("lecture_walkthrough", "forecast", "char_rnn", "vanishing_gradients", "to_pytorch", "rtrl_online"):
        assert f"{name}.ipynb: ran in" in proc.stdout
        assert (tmp_path / f"{name}.ipynb").exists()
