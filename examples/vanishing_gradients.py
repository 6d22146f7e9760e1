# %% [markdown]
# # Vanishing and exploding gradients (lecture, section 3)
#
# The lecture RNN h_t = tanh(b + W x_t + U h_{t−1}) sends a gradient back one step by multiplying it with
# ∂h_t/∂h_{t−1} = diag(1 − h_t²) U. Over t − k steps that is a product of t − k such matrices, and since |tanh′| ≤ 1,
#
#     ‖∂h_t/∂h_k‖₂ ≤ (‖U‖₂ · max|tanh′|)^(t−k) ≤ ‖U‖₂^(t−k).
#
# We scale U to a chosen spectral radius ρ(U) and watch how much of the gradient survives the trip back.
#
# **Which loss?** We put the loss at the last step only, L = L_T. Then ∇_{h_k}L = (∂h_T/∂h_k)ᵀ ∇_{h_T}L is
# *nothing but* what travelled back through time. With the lecture's Σ_t L_t every h_k also gets its own local term
# Vᵀ(ŷ_k − y_k), and the norms look flat even when the long-range part has vanished (checked in
# tests/test_dynamics.py).
#
# Run: `python examples/vanishing_gradients.py` (about 15 s). `TINYGRAD_RNN_SMOKE=1` runs tiny settings (for tests);
# `TINYGRAD_RNN_VIZ_DIR` chooses where the pictures go (default `viz/`). The plots need the `plot` extra.

# %%
import os
import sys
import time
from pathlib import Path

import numpy as np

from tinygrad_rnn import dynamics
from tinygrad_rnn.lstm import LSTM
from tinygrad_rnn.rnn import RNN

SMOKE = os.environ.get("TINYGRAD_RNN_SMOKE") == "1"
STEPS = 10 if SMOKE else 50  # sequence length T of the sweep
HIDDEN = 8 if SMOKE else 32
RADII = (0.5, 3.0) if SMOKE else (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
BATCH, TRIALS = (2, 1) if SMOKE else (8, 3)
TRAIN_STEPS = 5 if SMOKE else 150  # SGD updates in the clipping experiment
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()  # a notebook runs in examples/
VIZ = Path(os.environ.get("TINYGRAD_RNN_VIZ_DIR", HERE.parent / "viz"))
IN_NOTEBOOK = "ipykernel" in sys.modules


def show(path):
    """In a notebook, the picture just written, inline (a script only writes it)."""
    if IN_NOTEBOOK:
        from IPython.display import Image, display

        display(Image(filename=str(path)))


t_start = time.perf_counter()


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("(matplotlib is not installed: no pictures; pip install 'tinygrad_rnn[plot]')")
        return False
    return True


PLOTS = have_matplotlib()

# %% [markdown]
# ## 1. The sweep over spectral radii
# For each ρ: 3 RNNs × 8 random one-hot sequences of length T = 50. The table gives the geometric mean of
# ‖∇_{h_1}L‖ / ‖∇_{h_T}L‖ (and its range), the mean factor per step back ("rate"), the exact Jacobian norm
# ‖∂h_T/∂h_1‖₂ computed in numpy from the forward values, the section-3 bound ‖U‖₂^(T−1) (‖U‖₂, the Jacobian and the
# bound are all geometric means over the trials and sequences, so the bound is the bound of the number beside it),
# whether the bound held at every distance for every sequence, and the regime — named by the measured rate, not by
# ρ: vanishing below 0.95 per step, exploding above 1.05, kept in between (`dynamics.REGIMES`; the plot's legend and
# title say the same).

# %%
sweep = dynamics.radius_sweep(RADII, steps=STEPS, hidden=HIDDEN, batch=BATCH, trials=TRIALS)
print(sweep)
if PLOTS:
    VIZ.mkdir(parents=True, exist_ok=True)
    print("wrote", dynamics.plot_sweep(sweep, VIZ / "vanishing_gradients.png"))
    show(VIZ / "vanishing_gradients.png")

# %% [markdown]
# What the table shows:
# - **ρ < 1: vanishing.** The gradient shrinks by a roughly constant factor per step; after 50 steps almost nothing
#   of ∇_{h_T}L reaches h_1, so the parameters get no signal about long-range dependencies.
# - **The bound is loose.** ‖U‖₂ is about 1.7 ρ for these random (non-normal) matrices, so the sufficient
#   condition ‖U‖₂ < 1 of section 3 fails already at ρ = 0.75 — and the gradient vanishes all the same. The long-run
#   rate is set by ρ, not by ‖U‖₂ (Gelfand's formula: ‖Uⁿ‖^(1/n) → ρ).
# - **ρ > 1 is necessary for explosion, not sufficient.** The larger ρ, the larger h_t, the more units saturate
#   (mean tanh′ falls), and the factors diag(1 − h_t²) pull the product back down. With one-hot inputs the
#   gradient only explodes clearly from ρ ≈ 2.
#
# With small inputs the units stay in tanh's linear part and the textbook picture returns: rate ≈ ρ.

# %%
linear = dynamics.radius_sweep(RADII, steps=STEPS, hidden=HIDDEN, batch=BATCH, trials=TRIALS, input_scale=0.1)
print(linear)

# %% [markdown]
# ## 2. The Jacobian product, by hand and by the engine
# dynamics.state_jacobian multiplies diag(1 − h_j²) U in numpy; dynamics.engine_state_jacobian runs the RNN from h_k
# and builds ∂h_t/∂h_k by one backward pass per output (gradcheck.jacobian). They agree to rounding.

# %%
rnn = RNN(4, 6, 4, seed=1, spectral_radius=1.5)
xs = np.eye(4)[np.random.default_rng(1).integers(0, 4, 12)]
hs, _ = rnn.forward(xs)
t, k = 12, 3
by_hand = dynamics.state_jacobian(rnn.U, [h.data for h in hs], t, k)
by_engine = dynamics.engine_state_jacobian(rnn, xs, t, k)
print(f"‖∂h_{t}/∂h_{k}‖₂ = {np.linalg.norm(by_hand, 2):.6g}")
print(f"max |numpy − engine| = {np.abs(by_hand - by_engine).max():.1e}")
print(f"section-3 bound ‖U‖₂^{t - k} = {dynamics.jacobian_bound(rnn.U, t, k):.6g}")

# %% [markdown]
# ## 3. The LSTM's cell: a path with no tanh′ and no U
# c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t, so ∂c_t/∂c_{t−1} contains diag(f_t): when the forget gate is open (f ≈ 1) the
# gradient travels along the cell unchanged. The forget-gate bias b_f sets f ≈ σ(b_f) at the start of training.

# %%
xs, ys = dynamics.sweep_problem(30, 8, 1, seed=0)
print("LSTM, T = 30, loss at the last step:  ‖∇_{c_1}L‖ / ‖∇_{c_T}L‖  and  ‖∇_{h_1}L‖ / ‖∇_{h_T}L‖")
for b_f in (0.0, 1.0, 3.0, 40.0):
    lstm = LSTM(8, 16, 8, seed=0, forget_bias=b_f)
    h_norms = dynamics.hidden_gradient_norms(lstm, xs[:, 0], ys[:, 0], loss="last")
    c_ratio = np.linalg.norm(lstm.trace.c[0].grad) / np.linalg.norm(lstm.trace.c[-1].grad)
    f_0 = 1 / (1 + np.exp(-b_f))
    print(f"  b_f = {b_f:4g} (σ(b_f) = {f_0:.3f}):  cell {c_ratio:9.2e}   hidden {h_norms[0] / h_norms[-1]:9.2e}")
rnn_norms = dynamics.hidden_gradient_norms(RNN(8, 16, 8, seed=0, spectral_radius=1.0), xs[:, 0], ys[:, 0])
print(f"  the lecture RNN with ρ = 1 for comparison:          hidden {rnn_norms[0] / rnn_norms[-1]:9.2e}")

# %% [markdown]
# ## 4. What clipping does to exploding gradients
# Gradient-norm clipping (Pascanu et al. 2013) rescales the whole gradient g to length c when ‖g‖ > c: the
# direction is kept, only the step is capped. First on one exploding gradient, then in training.

# %%
from tinygrad_rnn.optim import SGD, clip_grad_norm  # noqa: E402

rnn = RNN(8, HIDDEN, 8, seed=0, spectral_radius=3.0)
xs, ys = dynamics.sweep_problem(STEPS, 8, BATCH, seed=0)
dynamics.hidden_gradient_norms(rnn, xs, ys, loss="last")
before = np.concatenate([p.grad.ravel() for p in rnn.parameters()])
norm = clip_grad_norm(rnn.parameters(), 1.0)
after = np.concatenate([p.grad.ravel() for p in rnn.parameters()])
cosine = before @ after / (np.linalg.norm(before) * np.linalg.norm(after))
print(f"ρ = 3: ‖∇θL‖ = {norm:.3e} before clipping, {np.linalg.norm(after):.6f} after")
print(f"cos(gradient before, gradient after) = {cosine:.15f}  (the direction is unchanged)")

# %% [markdown]
# Training: next-symbol prediction on a repeating pattern 0 1 2 3 4 5 4 3 2 1 …, T = 30, 8 sequences per batch,
# mean cross-entropy per symbol, 150 steps of plain SGD with learning rate 1, with and without clipping at ‖g‖ = 1,
# from ρ(U) = 1 and ρ(U) = 3. We record the loss, the gradient norm before clipping, and ρ(U) as training moves U.

# %%
PATTERN = np.array([0, 1, 2, 3, 4, 5, 4, 3, 2, 1])
T_TRAIN, B_TRAIN, N_SYM = (8, 2, 6) if SMOKE else (30, 8, 6)


def pattern_batch(rng):
    starts = rng.integers(0, len(PATTERN), B_TRAIN)
    symbols = PATTERN[(starts[None, :] + np.arange(T_TRAIN + 1)[:, None]) % len(PATTERN)]
    return np.eye(N_SYM)[symbols[:-1]], symbols[1:]


def train(rho: float, clip: float | None, lr: float = 1.0) -> dict:
    model = RNN(N_SYM, HIDDEN, N_SYM, seed=0, spectral_radius=rho)
    opt = SGD(model.parameters(), lr=lr)
    rng = np.random.default_rng(1)
    log = {"loss": [], "grad_norm": [], "rho": []}
    for _ in range(TRAIN_STEPS):
        xs, ys = pattern_batch(rng)
        opt.zero_grad()
        loss = model.loss(xs, ys) * (1.0 / (T_TRAIN * B_TRAIN))
        loss.backward()
        if clip is None:
            g = float(np.sqrt(sum(np.sum(p.grad**2) for p in model.parameters())))
        else:
            g = clip_grad_norm(model.parameters(), clip)
        opt.step()
        log["loss"].append(loss.item())
        log["grad_norm"].append(g)
        log["rho"].append(dynamics.spectral_radius(model.U))
    return log


runs = {(rho, clip): train(rho, clip) for rho in (1.0, 3.0) for clip in (None, 1.0)}
print(f"{'start ρ':>7} {'clipping':>9} {'loss: first':>11} {'min':>7} {'last 10':>7} {'max ‖g‖':>9} {'final ρ(U)':>10}")
for (rho, clip), log in runs.items():
    print(
        f"{rho:7.1f} {'‖g‖ ≤ 1' if clip else 'none':>9} {log['loss'][0]:11.3f} {min(log['loss']):7.3f} "
        f"{np.mean(log['loss'][-10:]):7.3f} {max(log['grad_norm']):9.2e} {log['rho'][-1]:10.2f}"
    )

if PLOTS:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    colours = {1.0: "tab:blue", 3.0: "tab:red"}
    for (rho, clip), log in runs.items():
        style = dict(color=colours[rho], ls="-" if clip else ":", lw=2 if clip else 1.8, zorder=2 if clip else 3)
        label = f"start ρ(U) = {rho:g}, " + ("clipped at ‖g‖ = 1" if clip else "no clipping")
        ax1.semilogy(log["loss"], label=label, **style)
        ax2.semilogy(log["grad_norm"], label=label, **style)
    ax1.set_xlabel("SGD step")
    ax1.set_ylabel("mean cross-entropy per symbol")
    ax1.set_title("Training loss (SGD, lr = 1)")
    ax2.axhline(1.0, color="k", lw=0.8, ls="--")
    ax2.set_xlabel("SGD step")
    ax2.set_ylabel("‖∇θ L‖ before clipping")
    ax2.set_title("Gradient norm; the dashed line is the clipping threshold")
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(VIZ / "gradient_clipping.png", dpi=110)
    plt.close(fig)
    print("wrote", VIZ / "gradient_clipping.png")
    show(VIZ / "gradient_clipping.png")

# %% [markdown]
# From ρ = 1 the gradient norm stays near 1, clipping hardly ever acts and both runs learn the pattern alike. From
# ρ = 3 the gradients reach norms of 10–100; without clipping such steps throw the parameters far away, U grows
# further (see the final ρ(U)) and the loss ends above where it started. With the same learning rate and the gradient
# capped at norm 1, each step moves the parameters by at most lr · 1 and the run learns the pattern. Clipping does
# nothing for vanishing gradients: a tiny gradient stays tiny.

# %%
print(f"done in {time.perf_counter() - t_start:.1f} s")
