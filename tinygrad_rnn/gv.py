"""Running Graphviz's programs (`dot` lays out and renders, `neato -n2` renders a layout that is already fixed), with a
clear error naming the install commands when they are missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["GraphvizNotFoundError", "INSTALL_HELP", "run"]

INSTALL_HELP = (
    "Graphviz's `{program}` program was not found on PATH, so the picture could not be rendered "
    "(the DOT source was written to {dot_path}). Install Graphviz:\n"
    "  Debian/Ubuntu:  sudo apt-get install graphviz\n"
    "  macOS:          brew install graphviz\n"
    "  conda:          conda install -c conda-forge graphviz\n"
    "then run again, or render the .dot yourself: dot -T{fmt} {dot_path} -o {path}"
)


class GraphvizNotFoundError(RuntimeError):
    """The `dot` executable is missing: the .dot file was written, the picture was not."""


def run(program: str, args: list[str], dot_path: Path, *, fmt: str = "png", out: Path | None = None) -> str:
    """`program args… dot_path` (program "dot" or "neato"); its standard output as text. The errors name the file:
    GraphvizNotFoundError (with the install commands) when the program is missing, RuntimeError when it fails."""
    exe = shutil.which(program, path=os.environ.get("PATH", ""))
    if exe is None:
        raise GraphvizNotFoundError(INSTALL_HELP.format(program=program, dot_path=dot_path, fmt=fmt, path=out or "…"))
    command = [exe, *args, str(dot_path)] + (["-o", str(out)] if out is not None else [])
    proc = subprocess.run(command, capture_output=True, text=True, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"render: {program} failed on {dot_path} (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout
