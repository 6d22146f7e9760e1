"""Section 3 of the lecture, reproduced: each experiment beside the paper's own number and conditions.

    run(name, quick=False, out_dir=None) -> PaperResult        name in NAMES

| name          | paper                                        | the number of the `result:` line               |
|---------------|----------------------------------------------|------------------------------------------------|
| esn           | Jaeger 2001, GMD Report 148, section 6.4     | NRMSE84 on Mackey-Glass τ = 17, mean over seeds |
| cliff         | Pascanu, Mikolov & Bengio 2013, Fig. 6       | E_50 reached by gradient descent with clipping  |
| adding        | Hochreiter & Schmidhuber 1997, Exp. 4        | LSTM: test sequences within 0.04, longest T      |
| latch         | Bengio, Simard & Frasconi 1994, section II   | P(successful training) at the longest T          |
| contributions | Pascanu et al. 2013, eq. 4                   | largest relative error of the row sums (∂L_t/∂U) |

Each run returns the printable lines (ours beside the paper's number, with the conditions), whose last line is
`result: ours=<number> paper=<number> (<what the number is>)`, and writes its figure (matplotlib, Agg backend)
into `out_dir` (default ./viz/papers; <name>.png, or <name>_quick.png for quick=True). A full run takes under 5
minutes on 2 cores, a quick one (reduced sizes, for the tests) under 30 s.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from tinygrad_rnn.papers._common import PaperResult

__all__ = ["NAMES", "PaperResult", "run"]

NAMES: tuple[str, ...] = ("esn", "cliff", "adding", "latch", "contributions")


def run(name: str, quick: bool = False, out_dir: str | Path | None = None, *, echo: bool = False) -> PaperResult:
    """Run the experiment `name` (one of NAMES); `quick` for the reduced version; `echo` prints the lines too."""
    if not isinstance(name, str):
        raise TypeError(f"papers.run: name must be a string, one of {', '.join(NAMES)}; got {name!r}")
    if name not in NAMES:
        raise ValueError(f"papers.run: unknown experiment {name!r}; expected one of {', '.join(NAMES)}")
    if not isinstance(quick, bool):
        raise TypeError(f"papers.run: quick must be True or False, got {quick!r}")
    if out_dir is not None and not isinstance(out_dir, (str, Path)):
        raise TypeError(f"papers.run: out_dir must be a path (str or Path) or None, got {type(out_dir).__name__}")
    module = importlib.import_module(f"tinygrad_rnn.papers.{name}")
    result = module.run(quick=quick, out_dir=out_dir)
    if echo:
        print(result.text(), flush=True)
    return result
