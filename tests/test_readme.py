"""The README's Python examples run in order, and print what their comments say they print."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def claimed_output(line: str) -> str | None:
    """The value a `print(...)  # ...` line promises, when its comment states one (a number or an array)."""
    if not line.lstrip().startswith("print(") or "# " not in line:
        return None
    claim = line.split("# ", 1)[1].split("   ")[0].split(": ")[-1].strip()
    return claim if claim and (claim[0].isdigit() or claim[0] in "[-") else None


def test_readme_examples_run_and_print_their_claims(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the drawing example writes a picture
    namespace = {"__name__": "readme"}
    checked = 0
    for code in BLOCKS:  # later blocks use names from earlier ones, as a reader would run them
        exec(compile(code, str(README), "exec"), namespace)
        printed = capsys.readouterr().out.splitlines()
        prints = [line for line in code.splitlines() if line.lstrip().startswith("print(")]
        assert len(printed) == len(prints)
        for got, line in zip(printed, prints):
            claim = claimed_output(line)
            if claim is not None:
                assert " ".join(got.split()) == " ".join(claim.split()), (got, line)
                checked += 1
    assert checked >= 5
    assert (tmp_path / "rnn.png").stat().st_size > 0 and (tmp_path / "rnn.dot").exists()
