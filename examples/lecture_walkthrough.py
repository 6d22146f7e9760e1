# %% [markdown]
# # Lecture 13, section by section: the printed equations next to the engine
#
# Each cell takes one equation of the lecture (sections 2.1–2.4 and the appendix), evaluates it in plain numpy
# (`tinygrad_rnn.lecture`) and prints it beside what the autodiff engine computes on the unrolled graph of the same
# RNN (`tinygrad_rnn.rnn.RNN`). Run it as a script (`python examples/lecture_walkthrough.py`) or cell by cell.

# %%
import numpy as np

from tinygrad_rnn import functional as F
from tinygrad_rnn import lecture, report
from tinygrad_rnn.gradcheck import jacobian
from tinygrad_rnn.rnn import RNN
from tinygrad_rnn.tensor import Tensor

np.set_printoptions(precision=5, suppress=True, linewidth=110)


def show(what: str, by_lecture, by_engine) -> None:
    """Print a lecture quantity next to the engine's and the largest difference."""
    a, b = np.asarray(by_lecture, dtype=float), np.asarray(by_engine, dtype=float)
    print(f"{what}\n  lecture: {a.round(5).tolist()}\n  engine:  {b.round(5).tolist()}")
    print(f"  max |difference| = {np.max(np.abs(a - b)):.1e}\n")


# A 3-step problem: the RNN reads "hel" (one-hot, D = 3) and should predict the next letters "ell" (K = 3).
vocab = "hel"
xs = np.eye(3)[[vocab.index(ch) for ch in "hel"]]
ys = np.array([vocab.index(ch) for ch in "ell"])
rnn = RNN(input_size=3, hidden_size=3, output_size=3, seed=0)
rng = np.random.default_rng(1)
rnn.b.data = 0.1 * rng.standard_normal(3)  # nonzero biases, so that ∇b and ∇c have something to show
rnn.c.data = 0.1 * rng.standard_normal(3)
P = rnn.arrays()  # W, U, V, b, c as numpy arrays
print({name: value.shape for name, value in P.items()})

# %% [markdown]
# ## 2.1 Forward propagation
# h_t = tanh(b + W x_t + U h_{t−1}),  o_t = c + V h_t,  ŷ_t = softmax(o_t), with h_0 = 0.

# %%
h, o, yhat = lecture.forward(**P, xs=xs)
L = rnn.loss(xs, ys)  # builds the unrolled graph; its nodes are kept in rnn.trace
for t in range(1, 4):
    show(f"h_{t}", h[t - 1], rnn.trace.h[t - 1].data)
show("o_3", o[2], rnn.trace.o[2].data)
show("ŷ_3", yhat[2], rnn.trace.yhat[2].data)

# %% [markdown]
# ## 2.2 The loss: L = Σ_t L(y_t, ŷ_t), L(y, ŷ) = −Σ_i y_i log ŷ_i

# %%
show("L", lecture.loss(**P, xs=xs, ys=ys), L.item())
show("L_1, L_2, L_3", [-np.log(yhat[t, ys[t]]) for t in range(3)], [l.item() for l in rnn.trace.L])

# %% [markdown]
# ## 2.4 Backpropagation
# The engine fills every node's gradient in one backward pass; the lecture's formulas are evaluated by
# `lecture.bptt_gradients` — once as corrected, once as printed.

# %%
L.backward()
right = lecture.bptt_gradients(**P, xs=xs, ys=ys)
printed = lecture.bptt_gradients(**P, xs=xs, ys=ys, as_printed=True)  # D = H, so the printed text can be evaluated

# ∇_{o_t}L = ŷ_t − y_t  (appendix A chained through B)
for t in range(1, 4):
    show(f"∇o_{t} = ŷ_{t} − y_{t}", right["o"][t - 1], rnn.trace.o[t - 1].grad)

# %%
# ∇_{h_T}L = V^T ∇_{o_T}L: the end of the sequence, nothing comes back from h_4
show("∇h_3 = V^T ∇o_3", P["V"].T @ right["o"][2], rnn.trace.h[2].grad)

# %%
# t < T. Printed: W^T (∇h_{t+1}) diag(1 − h_{t+1}²) + V^T ∇o_t. Corrected: U^T diag(1 − h_{t+1}²) ∇h_{t+1} + V^T ∇o_t
for t in (2, 1):
    show(f"∇h_{t} corrected (U^T)", right["h"][t - 1], rnn.trace.h[t - 1].grad)
    show(f"∇h_{t} as printed (W^T)", printed["h"][t - 1], rnn.trace.h[t - 1].grad)

# %%
# ∇_V L = Σ_t ∇o_t h_t^T — printed correctly
show("∇V", right["V"], rnn.V.grad)
# ∇_W L: the forward equation multiplies W by x_t, so the sum pairs δ_t = diag(1 − h_t²) ∇h_t with x_t^T ...
show("∇W corrected: Σ δ_t x_t^T", right["W"], rnn.W.grad)
show("∇W as printed: Σ δ_t h_{t−1}^T", printed["W"], rnn.W.grad)
# ... and U multiplies h_{t−1}, so ∇_U L pairs δ_t with h_{t−1}^T
show("∇U corrected: Σ δ_t h_{t−1}^T", right["U"], rnn.U.grad)
show("∇U as printed: Σ δ_t x_t^T", printed["U"], rnn.U.grad)

# %%
# Not in the lecture: ∇_b L = Σ_t δ_t and ∇_c L = Σ_t ∇o_t
show("∇b = Σ_t diag(1 − h_t²) ∇h_t", right["b"], rnn.b.grad)
show("∇c = Σ_t ∇o_t", right["c"], rnn.c.grad)

# %% [markdown]
# ## Appendix: the three derivatives, against the engine's Jacobians

# %%
z = np.array([0.5, -1.0, 2.0])
y = np.array([0.0, 1.0, 0.0])
p = Tensor(lecture.softmax(z), requires_grad=True)
F.cross_entropy_probs(p, y).backward()
show("A. ∂L/∂ŷ = −y/ŷ", lecture.cross_entropy_grad(y, p.data), p.grad)
show("B. ∂ŷ_j/∂z_k = ŷ_j(δ_jk − ŷ_k)", lecture.softmax_jacobian(z), jacobian(F.softmax, Tensor(z, requires_grad=True)))
show("C. d tanh/dx = 1 − tanh²", np.diag(lecture.tanh_grad(z)), jacobian(F.tanh, Tensor(z, requires_grad=True)))

# %% [markdown]
# ## All at once: the comparison report (what `tinygrad-rnn check` and `tinygrad-rnn demo` print)

# %%
check = report.compare(rnn, xs, ys)
print(check)

# %% [markdown]
# ## The unrolled graph with its gradients
# Each node is coloured by how far the lecture's *printed* formula is from autodiff (green: agrees; red: wrong;
# grey: not in the lecture). In a notebook the picture appears below the cell.

# %%
from tinygrad_rnn.draw import draw  # noqa: E402  (drawing needs graphviz, the rest of the walkthrough does not)

graph = draw(check.loss, grads=True, collapse=("softmax", "cross_entropy"), annotations=check.annotations("printed"))
graph  # noqa: B018  (a notebook shows the value of its last line)

# %% [markdown]
# ## Truncated BPTT
# Training in chunks of k steps carries h_t into the next chunk detached: the gradient stops there.

# %%
k = 2
cut = lecture.truncated_bptt_gradients(**P, xs=xs, ys=ys, k=k)
rnn.zero_grad()
for _, _, chunk_loss in rnn.chunks(xs, ys, k):  # the engine: one chunk at a time, the last state carried in detached
    chunk_loss.backward()
show(f"∇U truncated every {k} steps", cut["U"], rnn.U.grad)
print(f"full BPTT ∇U differs from it by {np.max(np.abs(right['U'] - cut['U'])):.1e}\n")

# %% [markdown]
# ## BPTT is reverse mode, RTRL is forward mode
# The same gradient, two ways through the same unrolled graph. BPTT (section 2.4) runs *against* time: one backward
# sweep gives ∇L for every parameter at once, but only when the whole sequence is there, and it keeps every h_t.
# Real-time recurrent learning (Williams & Zipser, on the reading list) runs *with* time: it carries the
# sensitivities P_t = ∂h_t/∂θ forward, P_t = diag(1 − h_t²)(∂a_t/∂θ + U P_{t−1}), and has ∇_θ L_t as soon as step t
# is done — at ~H⁴ work per step instead of ~H². Reverse-mode and forward-mode differentiation of one graph.

# %%
from tinygrad_rnn.forward import jvp, push_tangents, tangent_annotations  # noqa: E402
from tinygrad_rnn.rtrl import rtrl_gradients  # noqa: E402


def both(what: str, names: tuple[str, str], a, b) -> None:
    """Two computations of one quantity, side by side, and their largest difference."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    print(f"{what}\n  {names[0]}: {a.round(5).tolist()}\n  {names[1]}: {b.round(5).tolist()}")
    print(f"  max |difference| = {np.max(np.abs(a - b)):.1e}\n")


by_rtrl = rtrl_gradients(**P, xs=xs, ys=ys)
for name in "WUVbc":
    both(f"∇{name}", ("BPTT, reverse mode", "RTRL, forward mode"), right[name], by_rtrl[name])

# %%
# Forward mode follows one direction at a time. Nudge one recurrent weight, dU = e_1 e_2ᵀ: the tangents
# dh_t = (∂h_t/∂U)·dU flow with time, and at the end of the graph dL is the directional derivative — the number
# reverse mode gives as ⟨∇_U L, dU⟩.
dU = np.zeros((3, 3))
dU[0, 1] = 1.0


def loss_of_U(U):
    model = RNN.from_arrays(**P)
    model.U = U  # the loss as a function of U alone
    return model.loss(xs, ys)


_, dL = jvp(loss_of_U, (P["U"],), (dU,))
both("dL along dU", ("jvp on the graph (forward)", "⟨∇_U L, dU⟩ by BPTT (reverse)"), dL, np.sum(right["U"] * dU))
both("dL along dU", ("jvp on the graph (forward)", "⟨∇_U L, dU⟩ by RTRL (forward)"), dL, np.sum(by_rtrl["U"] * dU))

# %%
# Both on one graph: the tangents dh_t (forward, blue: they start at step 2, since U multiplies h_0 = 0 at step 1,
# and grow with t) and the gradients ∇h_t L (reverse, red: from L back to h_1), side by side at every step.
L = rnn.loss(xs, ys)
rnn.zero_grad()
L.backward()
tangents = push_tangents(L, {rnn.U: dU})
for t in range(1, 4):
    h_t = rnn.trace.h[t - 1]
    print(f"t={t}: dh_{t} = {np.round(tangents[h_t], 5).tolist()}   ∇h_{t} L = {np.round(h_t.grad, 5).tolist()}")
notes = tangent_annotations(L, tangents, symbol="d", heading="forward mode along dU (blue) · gradients (red)")
draw(L, grads=True, collapse=("softmax", "cross_entropy"), annotations=notes)

# %% [markdown]
# ## 3.1 Spectral radius: how far back does the gradient reach?
# ‖∂(Σ_i o_{T,i})/∂h_t‖ for a signal from the last step only, with U rescaled to spectral radius ρ. Below 1 the
# gradient shrinks geometrically; above 1 it can grow — until tanh saturates and diag(1 − h²) cuts it instead.

# %%
T = 30
long_xs = np.random.default_rng(2).standard_normal((T, 3)) * 0.1
for rho in (0.5, 0.9, 1.5):
    model = RNN(3, 3, 3, seed=0, spectral_radius=rho)
    hs, os = model.forward(long_xs)
    os[-1].sum().backward()
    norms = "  ".join(f"t={t}: {np.linalg.norm(hs[t - 1].grad):.2e}" for t in (30, 20, 10, 1))
    print(f"ρ = {rho}:  {norms}")
