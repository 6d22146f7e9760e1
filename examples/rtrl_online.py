# %% [markdown]
# # Learning online with real-time recurrent learning (Williams & Zipser 1989)
#
# BPTT needs the whole sequence before it can go backwards through it. RTRL carries the sensitivities
# P_t = ∂h_t/∂θ forward in time instead,
#
#     P_t = diag(1 − h_t²) (∂a_t/∂θ + U P_{t−1}),      ∇_θ L_t = (∇_{h_t} L_t)ᵀ P_t,
#
# so the gradient of every step's loss exists the moment the step is done: the network can learn from an endless
# stream, updating its parameters after every single step. The price is ~H⁴ work per step (BPTT: ~H²) — worth it
# for small networks and for streams that never end.
#
# The task: read a stream of random symbols and output, at every step, the symbol seen **three steps ago**. No
# sequence boundaries, no unrolling, no truncation — one update per step.
#
# Run: `python examples/rtrl_online.py` (a few seconds). `TINYGRAD_RNN_SMOKE=1` runs tiny settings (for tests);
# `TINYGRAD_RNN_VIZ_DIR` chooses where the picture goes (default `viz/`). The plot needs the `plot` extra.

# %%
import os
import sys
from pathlib import Path

import numpy as np

from tinygrad_rnn import lecture
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.rtrl import RTRL, bptt_cost, rtrl_cost, rtrl_gradients

SMOKE = os.environ.get("TINYGRAD_RNN_SMOKE") == "1"
STEPS = 300 if SMOKE else 4000  # length of the stream: one update per step
VOCAB, HIDDEN, DELAY, LR, CLIP = 4, 16, 3, 0.05, 5.0  # CLIP: Pascanu et al.'s gradient clipping
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()  # a notebook runs in examples/
VIZ = Path(os.environ.get("TINYGRAD_RNN_VIZ_DIR", HERE.parent / "viz"))
IN_NOTEBOOK = "ipykernel" in sys.modules

# %% [markdown]
# ## First: RTRL's gradient is BPTT's gradient
# Over a finished sequence, the sensitivities carried forward give exactly what the lecture's BPTT gives going
# backwards (forward and reverse mode of the same unrolled graph).

# %%
rng = np.random.default_rng(0)
P = RNN(VOCAB, HIDDEN, VOCAB, seed=1).arrays()
symbols = rng.integers(0, VOCAB, size=20)
xs, ys = np.eye(VOCAB)[symbols], np.roll(symbols, DELAY)
forward_mode = rtrl_gradients(**P, xs=xs, ys=ys)
reverse_mode = lecture.bptt_gradients(**P, xs=xs, ys=ys)
for name in "WUVbc":
    diff = np.max(np.abs(forward_mode[name] - reverse_mode[name]))
    norms = np.linalg.norm(forward_mode[name]), np.linalg.norm(reverse_mode[name])
    print(f"∇{name}: RTRL ‖·‖ {norms[0]:.6f}   BPTT ‖·‖ {norms[1]:.6f}   max |difference| {diff:.1e}")

# %% [markdown]
# ## Learning from a stream, one update per step
# `run.step(x_t, y_t)` advances the network and its sensitivities by one step and adds ∇_θ L_t; `run.update(lr)`
# applies it at once (clipped to norm 5, as Pascanu et al. advise: without it a few large steps early on can throw
# the learner off for hundreds of steps). For comparison the same learner forgets its sensitivities after every step
# (`run.forget()`): its gradient then reaches one step back only — truncated BPTT with k = 1. It can still fit the
# readout to whatever its recurrence happens to remember (as an echo-state network does), but it cannot shape the
# recurrence to keep a symbol for three steps.

# %%
stream = rng.integers(0, VOCAB, size=STEPS)
targets = np.roll(stream, DELAY)  # the symbol seen DELAY steps ago (the first DELAY targets are noise)
curves = {}
for label, forget in (("RTRL (sensitivities carried)", False), ("forgotten every step (k = 1)", True)):
    run = RTRL(**RNN(VOCAB, HIDDEN, VOCAB, seed=1).arrays())
    losses = np.empty(STEPS)
    for t in range(STEPS):
        losses[t] = run.step(np.eye(VOCAB)[stream[t]], targets[t])
        run.update(LR, clip=CLIP)
        if forget:
            run.forget()
    curves[label] = losses
    tail = losses[-STEPS // 5 :]
    print(f"{label:30s} mean loss over the last {len(tail)} steps: {tail.mean():.3f}  (chance: ln {VOCAB} = "
          f"{np.log(VOCAB):.3f})")  # fmt: skip

# %% [markdown]
# ## What each step cost
# RTRL's sensitivities hold H·(H² + HD + H) numbers whatever the length of the stream; BPTT over the same stream
# would have to keep every step (`benchmarks/bench_rtrl.py` measures both).

# %%
r, b = rtrl_cost(HIDDEN, VOCAB, VOCAB), bptt_cost(HIDDEN, VOCAB, VOCAB, STEPS)
print(f"RTRL: {r.macs_per_step:,} multiply-adds per step, {r.numbers_held:,} numbers held (any length)")
print(f"BPTT: {b.macs_per_step:,} multiply-adds per step, {b.numbers_held:,} numbers held for T = {STEPS:,}")

# %%
try:
    import matplotlib

    if not IN_NOTEBOOK:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    print("(matplotlib is not installed: no picture, skipped; pip install 'tinygrad_rnn[plot]')")
if plt is not None:
    VIZ.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.2), constrained_layout=True)
    window = max(STEPS // 40, 5)
    for (label, losses), colour in zip(curves.items(), ("#b02a37", "#6c757d")):
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(len(smooth)) + window, smooth, color=colour, lw=2, label=label)
    ax.axhline(np.log(VOCAB), color="black", lw=1, ls=":", label=f"chance (ln {VOCAB})")
    ax.set_xlabel("step of the stream (one update per step)")
    ax.set_ylabel(f"loss L_t, running mean over {window} steps")
    ax.set_title(f"Online RTRL learns to echo the symbol from {DELAY} steps back (H = {HIDDEN})")
    ax.legend()
    path = VIZ / "rtrl_online.png"
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")
    if IN_NOTEBOOK:
        plt.show()
    plt.close(fig)
