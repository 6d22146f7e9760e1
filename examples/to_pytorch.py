# %% [markdown]
# # Train here, continue in PyTorch
#
# A forecaster (the lecture's RNN with a linear head) learns a noisy sine on the engine, is saved with its
# standardisation, loaded back, and handed to PyTorch: `model.to_torch()` gives a `torch.nn.RNN` and a
# `torch.nn.Linear` holding exactly its weights, so training goes on there — and `RNN.from_torch` brings it back.
# Run: `python examples/to_pytorch.py` (a few seconds; the PyTorch half is skipped when torch is not installed).

# %%
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from tinygrad_rnn import data, load_model
from tinygrad_rnn.forecast import random_windows, teacher_forced_loss
from tinygrad_rnn.optim import Adam
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.train import fit

SMOKE = os.environ.get("TINYGRAD_RNN_SMOKE") == "1"
UPDATES = 10 if SMOKE else 150
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()  # a notebook runs in examples/
VIZ = Path(os.environ.get("TINYGRAD_RNN_VIZ_DIR", HERE.parent / "viz"))
IN_NOTEBOOK = "ipykernel" in sys.modules


def show(path):
    """In a notebook, the picture just written, inline (a script only writes it)."""
    if IN_NOTEBOOK:
        from IPython.display import Image, display

        display(Image(filename=str(path)))


# %% [markdown]
# ## Training on the engine, with the loss curve

# %%
series = data.sine(600, period=25.0, noise=0.05, seed=0)
scale = data.Standardizer(series[:400])
z = scale.transform(series)
rng = np.random.default_rng(0)
model = RNN(1, 16, 1, head="linear", seed=0)
history = fit(lambda i: teacher_forced_loss(model, random_windows(z[:400], 41, 16, rng), washout=5),
              Adam(model.parameters(), lr=0.01), UPDATES, clip=1.0)  # fmt: skip
print(f"{UPDATES} updates on the engine: loss {history.loss[0]:.4f} → {history.loss[-1]:.4f}")
try:
    VIZ.mkdir(parents=True, exist_ok=True)
    import matplotlib.pyplot as plt

    plt.close(history.plot(VIZ / "to_pytorch_engine_loss.png", title="training on the engine"))
    show(VIZ / "to_pytorch_engine_loss.png")  # the written picture, inline in a notebook
except ImportError:
    print("matplotlib is not installed (pip install 'tinygrad_rnn[plot]'): plot skipped")

# %% [markdown]
# ## Saved with its standardisation, loaded back

# %%
path = Path(tempfile.mkdtemp()) / "forecaster.npz"
model.save(path, transform=scale)
again = load_model(path)
print(again, "— transform:", type(again.transform).__name__, f"mean {float(again.transform.mean):.4f}")
windows = random_windows(z[400:], 41, 8, np.random.default_rng(1))
assert teacher_forced_loss(again, windows).item() == teacher_forced_loss(model, windows).item()

# %% [markdown]
# ## The same weights in PyTorch, and training goes on there

# %%
try:
    import torch
except ImportError:
    torch = None
    print("torch is not installed (pip install 'tinygrad_rnn[torch]'): the PyTorch half is skipped")

if torch is not None:
    recurrent, readout = again.to_torch()
    x = torch.from_numpy(windows[:-1])
    ours = np.stack([o.data for o in again.forward(windows[:-1])[1]])
    theirs = readout(recurrent(x)[0]).detach().numpy()
    print(f"PyTorch computes the same outputs: max difference {np.abs(ours - theirs).max():.1e}")
    opt = torch.optim.Adam([*recurrent.parameters(), *readout.parameters()], lr=0.01)
    for _ in range(UPDATES):
        w = torch.from_numpy(random_windows(z[:400], 41, 16, rng))
        loss = ((readout(recurrent(w[:-1])[0])[5:] - w[1:][5:]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"{UPDATES} more updates in PyTorch: loss {loss.item():.4f}")
    back = RNN.from_torch(recurrent, readout, head="linear")
    print(f"and back: {back}, test loss {teacher_forced_loss(back, windows).item():.4f}")
