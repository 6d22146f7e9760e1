"""The package's shape in figures: lines per file, the longest functions, `__all__` coverage, public names, and how
many public parameters carry a type hint. `python tools/shape.py [PACKAGE_DIR]` (default tinygrad_rnn/)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def measure(root: Path) -> None:
    files = sorted(root.glob("*.py"))
    longest: list[tuple[int, str]] = []
    with_all, public, params, typed = 0, 0, 0, 0
    for path in files:
        tree = ast.parse(path.read_text())
        with_all += any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
                        for n in tree.body)  # fmt: skip
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                longest.append((node.end_lineno - node.lineno + 1, f"{path.name}:{node.name}"))
                if not node.name.startswith("_"):
                    args = [a for a in node.args.args + node.args.kwonlyargs if a.arg not in ("self", "cls")]
                    params += len(args)
                    typed += sum(a.annotation is not None for a in args)
        public += sum(
            1 for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")
        )
    sizes = sorted(((len(p.read_text().splitlines()), p.name) for p in files), reverse=True)
    print(f"{len(files)} modules; largest: " + ", ".join(f"{name} {n}" for n, name in sizes[:4]))
    print("longest functions: " + ", ".join(f"{name} {n}" for n, name in sorted(longest, reverse=True)[:4]))
    print(f"__all__ in {with_all} of {len(files)} modules; {public} public top-level names")
    print(f"public parameters typed: {typed} of {params} ({100 * typed / max(1, params):.0f}%)")
    core = sum(
        sum(1 for line in (root / f).read_text().splitlines() if line.strip())
        for f in ("tensor.py", "ops.py", "functional.py")
        if (root / f).exists()
    )
    print(f"core (tensor.py, ops.py, functional.py): {core} non-blank lines")


if __name__ == "__main__":
    measure(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tinygrad_rnn")
