"""The example notebooks: generated from the `# %%` scripts (the scripts are the source of truth) and executed.

    python tools/notebooks.py sync       write examples/*.ipynb from examples/*.py (jupytext), outputs empty
    python tools/notebooks.py check      fail when a notebook differs from its script
    python tools/notebooks.py run [DIR]  execute every notebook with a real kernel (nbclient) into DIR
                                         (default build/notebooks); fail on an error or a missing picture

`make notebooks` runs sync then run. TINYGRAD_RNN_SMOKE=1 runs the examples' tiny settings (as CI does).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# the pictures each notebook must show inline (image outputs), at least
PICTURES = {
    "lecture_walkthrough": 2,
    "forecast": 2,
    "char_rnn": 1,
    "vanishing_gradients": 2,
    "to_pytorch": 1,
    "rtrl_online": 1,
}


def scripts() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*.py") if p.stem in PICTURES)


def notebook_of(script: Path) -> nbformat.NotebookNode:
    nb = jupytext.read(script)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.pop("jupytext", None)
    for k, cell in enumerate(nb.cells):  # ids numbered, not random: a notebook regenerated unchanged is unchanged
        cell["id"] = f"cell-{k}"
    return nb


def sync() -> None:
    for script in scripts():
        nbformat.write(notebook_of(script), script.with_suffix(".ipynb"))
        print(f"wrote {script.with_suffix('.ipynb').relative_to(ROOT)}")


def check() -> int:
    stale = []
    for script in scripts():
        path = script.with_suffix(".ipynb")
        want = [(c.cell_type, c.source) for c in notebook_of(script).cells]
        have = [(c.cell_type, c.source) for c in nbformat.read(path, as_version=4).cells] if path.exists() else None
        if want != have:
            stale.append(path.name)
    if stale:
        print(f"notebooks out of date with their scripts: {', '.join(stale)}; run: python tools/notebooks.py sync")
        return 1
    return 0


def images(nb: nbformat.NotebookNode) -> int:
    return sum(
        1
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") in ("display_data", "execute_result")
        and ({"image/png", "image/svg+xml"} & set(out.get("data", {})))
    )


def run(out_dir: Path) -> int:
    from nbclient import NotebookClient

    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TINYGRAD_RNN_VIZ_DIR", str(out_dir / "viz"))  # the committed pictures stay as they are
    failed = []
    for script in scripts():
        nb = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
        start = time.perf_counter()
        try:
            NotebookClient(
                nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
            ).execute()
        except Exception as e:  # noqa: BLE001 — any failure of a cell fails the notebook; the message says which
            failed.append(
                f"{script.stem}: {type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
            )
            continue
        finally:
            nbformat.write(nb, out_dir / f"{script.stem}.ipynb")
        shown = images(nb)
        print(f"{script.stem}.ipynb: ran in {time.perf_counter() - start:.1f} s, {shown} picture(s) inline")
        if shown < PICTURES[script.stem]:
            failed.append(f"{script.stem}: {shown} picture(s) inline, expected at least {PICTURES[script.stem]}")
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["sync"]:
        sync()
        return 0
    if argv[:1] == ["check"]:
        return check()
    if argv[:1] == ["run"]:
        return run(Path(argv[1]) if len(argv) > 1 else ROOT / "build" / "notebooks")
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
