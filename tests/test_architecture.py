"""The shape of the package: who imports whom (no circle; the lecture imports nothing of the package), the size
budgets (files ≤ 600 lines, functions ≤ 60), `__all__` everywhere, and the lecture's own reading of its arguments
held equal to the models' parser."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn
from tinygrad_rnn import inputs, lecture

ROOT = Path(tinygrad_rnn.__file__).parent
MODULES = sorted(p for p in ROOT.rglob("*.py"))
MAX_FILE_LINES, MAX_FUNCTION_LINES = 600, 60


def _package_imports(path: Path) -> set[str]:
    """Every tinygrad_rnn module this file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text())
    out = set()
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("tinygrad_rnn")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.startswith("tinygrad_rnn"):
                out.add(base)
                if base == "tinygrad_rnn":  # from tinygrad_rnn import lecture: a module too
                    out |= {f"tinygrad_rnn.{a.name}" for a in node.names if (ROOT / f"{a.name}.py").exists()}
    return out


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_lecture_imports_nothing_of_the_package():
    assert _package_imports(ROOT / "lecture.py") == set()


def test_no_import_circle_anywhere_function_level_imports_included():
    graph = {_name(p): {m for m in _package_imports(p) if m != "tinygrad_rnn"} - {_name(p)} for p in MODULES}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " → ".join(path[path.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_the_engine_and_the_drawing_know_no_model_and_no_report():
    for f in ("tensor.py", "ops.py", "functional.py", "annotations.py", "fmt.py", "inputs.py", "layout.py", "dot.py",
              "draw.py", "explorer.py", "explorer_svg.py"):  # fmt: skip
        assert not {m for m in _package_imports(ROOT / f)} & {
            "tinygrad_rnn.rnn",
            "tinygrad_rnn.lstm",
            "tinygrad_rnn.module",
            "tinygrad_rnn.report",
            "tinygrad_rnn.lecture",
        }, f


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES:
                out.append(f"{path.name}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_every_file_and_function_fits_its_budget():
    too_long = [f"{p.name} ({n} lines)" for p in MODULES if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES]
    assert not too_long, too_long
    long_functions = [f for p in MODULES for f in _long_functions(p)]
    assert not long_functions, long_functions


def test_every_module_declares_its_public_names():
    for p in MODULES:
        if p.name == "__main__.py":
            continue
        tree = ast.parse(p.read_text())
        names = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if hasattr(t, "id")}
        assert "__all__" in names, p.name


def test_the_package_is_typed():
    assert (ROOT / "py.typed").exists()


# ---- the lecture reads its arguments as the models do --------------------------------------------------------------


@st.composite
def argument_cases(draw):
    """Inputs and targets, mostly valid, sometimes broken in one of the ways the parsers must catch."""
    T, B, D, K = draw(st.integers(1, 4)), draw(st.integers(0, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    lead = (T, B) if B else (T,)
    xs = rng.standard_normal((*lead, D))
    kind = draw(st.sampled_from(["index", "onehot", "probs", "linear"]))
    if kind == "index":
        ys = rng.integers(0, K, size=lead).astype(draw(st.sampled_from([np.int64, np.float64])))
    elif kind == "onehot":
        ys = np.eye(K)[rng.integers(0, K, size=lead)]
    else:
        ys = rng.dirichlet(np.ones(K), size=lead) if kind == "probs" else rng.standard_normal((*lead, K))
    breakage = draw(st.sampled_from(["none"] * 6 + ["nan_x", "short_y", "bad_index", "bad_row", "wide_x", "bool_y"]))
    if breakage == "nan_x":
        xs[tuple(rng.integers(0, n) for n in xs.shape)] = np.nan
    elif breakage == "short_y":
        ys = ys[: T - 1]
    elif breakage == "bad_index" and kind == "index":
        ys[tuple(rng.integers(0, n) for n in ys.shape)] = K + 1
    elif breakage == "bad_row" and kind in ("onehot", "probs"):
        ys = ys * 0.5
    elif breakage == "wide_x":
        xs = np.concatenate([xs, xs[..., :1]], axis=-1)
    elif breakage == "bool_y" and kind == "index":
        ys = ys > 0
    head = "linear" if kind == "linear" else "softmax"
    return xs, ys, D, K, head


@given(argument_cases())
def test_the_lecture_reads_its_arguments_as_the_models_parser(case):
    xs, ys, D, K, head = case
    outcome = []
    for read in (
        lambda: lecture._read(xs, ys, D, K, head, "f"),
        lambda: inputs.validate_sequences(xs, ys, input_size=D, output_size=K, head=head, where="f"),
    ):
        try:
            outcome.append(read())
        except (ValueError, TypeError) as e:
            outcome.append(type(e))
    mine, theirs = outcome
    if isinstance(mine, type) or isinstance(theirs, type):
        assert mine == theirs
        return
    np.testing.assert_array_equal(mine.xs, theirs.xs)
    np.testing.assert_array_equal(mine.ys, theirs.ys)
    assert mine.batched == theirs.batched


def test_both_readings_word_their_errors_alike():
    xs = np.zeros((3, 2))
    for ys, message in [([0, 1, 5], "class index 5 at t=3 is outside 0..2"), ([0, 1], "xs has T=3 steps")]:
        with pytest.raises(ValueError, match=message):
            lecture._read(xs, np.array(ys), 2, 3, "softmax", "f")
        with pytest.raises(ValueError, match=message):
            inputs.validate_sequences(xs, np.array(ys), input_size=2, output_size=3, where="f")
