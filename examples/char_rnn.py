# %% [markdown]
# # A character-level RNN on the engine (min-char-rnn, without hand-written gradients)
#
# The classic exercise: read a text one character at a time and predict the next one. The model is the lecture's
# RNN with the softmax head — h_t = tanh(b + W x_t + U h_{t−1}), ŷ_t = softmax(c + V h_t), x_t one-hot — trained
# with Adagrad on chunks of 25 characters (truncated BPTT, the hidden state carried across chunks with `detach()`),
# gradients clipped to [−5, 5] as min-char-rnn does. Here the gradients come from the engine's backward pass.
# The text: the opening of Shakespeare's *Coriolanus* (public domain, 3.9 KB, shipped with the package).
#
# Run: `python examples/char_rnn.py` (about 30 s). `TINYGRAD_RNN_SMOKE=1` runs tiny settings (for tests);
# `TINYGRAD_RNN_VIZ_DIR` chooses where the plot goes (default `viz/`).

# %%
import os
import sys
import time
from pathlib import Path

import numpy as np

from tinygrad_rnn.data import Vocabulary, load_text
from tinygrad_rnn.optim import Adagrad
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.train import sample_text, train_sequence

SMOKE = os.environ.get("TINYGRAD_RNN_SMOKE") == "1"
HIDDEN = 8 if SMOKE else 64
SEQ = 25  # characters per truncated-BPTT chunk
EPOCHS = 1 if SMOKE else 20
SAMPLE_EVERY = 8 if SMOKE else 500  # updates between printed samples
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()  # a notebook runs in examples/
VIZ = Path(os.environ.get("TINYGRAD_RNN_VIZ_DIR", HERE.parent / "viz"))
IN_NOTEBOOK = "ipykernel" in sys.modules


def show(path):
    """In a notebook, the picture just written, inline (a script only writes it)."""
    if IN_NOTEBOOK:
        from IPython.display import Image, display

        display(Image(filename=str(path)))


text = load_text("coriolanus")
if SMOKE:
    text = text[:400]
vocab = Vocabulary.from_text(text)
ids = vocab.encode(text)
xs, ys = vocab.one_hot(ids[:-1]), ids[1:]  # input the character, predict the next one
print(f"{len(text)} characters, {vocab.size} distinct; {-(-len(ys) // SEQ)} chunks of {SEQ} per epoch")

# %% [markdown]
# ## Reference points for the loss (nats per character)
# A model that knows nothing pays log K; one that knows only how often each character occurs pays the entropy of
# the character frequencies. Learning shows as the loss going below that second line.

# %%
K = vocab.size
freq = np.bincount(ids, minlength=K) / len(ids)
uniform_loss = float(np.log(K))
unigram_loss = float(-(freq[freq > 0] * np.log(freq[freq > 0])).sum())
print(f"uniform guess: {uniform_loss:.3f} nats/char; character frequencies only: {unigram_loss:.3f} nats/char")

# %% [markdown]
# ## Train, sampling text as it learns

# %%
rnn = RNN(K, HIDDEN, K, seed=0)
opt = Adagrad(rnn.parameters(), lr=0.1, eps_inside=True)  # min-char-rnn's form: η g / √(G + 1e-8)
samples = []


def show_sample(i, hist):
    if i % SAMPLE_EVERY == 0:
        recent = float(np.mean(hist.loss[-SAMPLE_EVERY:]))
        s = sample_text(rnn, vocab, "F", 120 if not SMOKE else 20, seed=i)
        samples.append((i, recent, s))
        print(f"\n--- update {i}, mean loss of the last {SAMPLE_EVERY} chunks {recent:.3f} nats/char ---\nF{s}")


t0 = time.perf_counter()
hist = train_sequence(rnn, xs, ys, opt, epochs=EPOCHS, tbptt=SEQ, clip_value=5.0, callback=show_sample)
seconds = time.perf_counter() - t0
losses = np.array(hist.loss)
per_epoch = losses.reshape(EPOCHS, -1).mean(axis=1)
print(f"\n{len(losses)} updates in {seconds:.1f} s")
print("epoch  mean loss (nats/char)")
for e, v in enumerate(per_epoch, start=1):
    print(f"{e:5d}  {v:.3f}")

# %% [markdown]
# ## Samples at two temperatures from the trained model
# Lower temperature sharpens the distribution (p_k ∝ ŷ_k^{1/τ}): more regular, more repetitive text.

# %%
for tau in (1.0, 0.5):
    print(
        f"\n--- temperature {tau} ---\nF"
        + sample_text(rnn, vocab, "F", 200 if not SMOKE else 20, temperature=tau, seed=7)
    )

# %% [markdown]
# ## Plot: the loss per chunk, with the two reference lines

# %%
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    print("\nmatplotlib is not installed (pip install 'tinygrad_rnn[plot]'): plot skipped; the table holds the numbers")

if plt is not None:
    VIZ.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.plot(np.arange(1, len(losses) + 1), losses, color="tab:blue", alpha=0.25, lw=0.8, label="loss of each chunk")
    w = max(1, len(losses) // 60)
    smooth = np.convolve(losses, np.ones(w) / w, mode="valid")
    ax.plot(np.arange(w, len(losses) + 1), smooth, color="tab:blue", lw=2, label=f"running mean over {w} chunks")
    ax.axhline(uniform_loss, color="0.4", ls=":", label=f"uniform guess, log {K} = {uniform_loss:.2f}")
    ax.axhline(unigram_loss, color="tab:red", ls="--", label=f"character frequencies only, {unigram_loss:.2f}")
    ax.set_xlabel("update (one chunk of 25 characters each)")
    ax.set_ylabel("cross-entropy, nats per character")
    ax.set_title(f"Character RNN (H={HIDDEN}, Adagrad, chunks of {SEQ}) on Coriolanus I.1: {len(losses)} updates")
    ax.set_ylim(0, uniform_loss * 1.15)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper right")
    fig.tight_layout()
    out = VIZ / "char_rnn_loss.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"\nplot written to {out}")
    show(out)
