"""The implementations that are timed: forward + gradients of W, U, V, b, c of the lecture RNN, summed cross-entropy.

    h_t = tanh(b + W x_t + U h_{t−1}),  o_t = c + V h_t,  ŷ_t = softmax(o_t),  L = Σ_t Σ_batch −log ŷ_t[y_t]

Batch layout as in the package: xs (T, B, D), ys class indices (T, B), rows are samples (so W x_t is x_t Wᵀ).
Every implementation is built by `build(name, params, xs, ys)` and returns a `step()` giving (loss, {name: grad}).
Peers (torch, JAX, HIPS autograd, MyGrad) are imported only when asked for; `available()` lists the importable ones.
"""

from __future__ import annotations

import importlib.util

import numpy as np

PARAMS = ("W", "U", "V", "b", "c")

# name: (T, B, D, H, K) — the sizes of the reference table
SIZES = {
    "tiny": (5, 1, 4, 8, 4),
    "small": (20, 8, 16, 32, 16),
    "medium": (50, 32, 64, 128, 64),
    "large": (100, 64, 128, 256, 128),
    "long": (500, 4, 16, 32, 16),
}


def make_problem(T: int, B: int, D: int, H: int, K: int, seed: int = 0, dtype=np.float64):
    """Parameters (variance 1/fan-in, small random biases), inputs and class targets, from one seed."""
    rng = np.random.default_rng(seed)
    params = {
        "W": rng.normal(0, 1 / np.sqrt(D), (H, D)),
        "U": rng.normal(0, 1 / np.sqrt(H), (H, H)),
        "V": rng.normal(0, 1 / np.sqrt(H), (K, H)),
        "b": rng.normal(0, 0.1, H),
        "c": rng.normal(0, 0.1, K),
    }
    params = {k: v.astype(dtype) for k, v in params.items()}
    xs = rng.normal(0, 1, (T, B, D)).astype(dtype)
    ys = rng.integers(0, K, (T, B))
    return params, xs, ys


# ---- hand-written BPTT in numpy ---------------------------------------------------------------------------------


def hand_hoisted(params, xs, ys):
    """The lecture's BPTT written by hand: the floor. Everything that does not depend on the recurrence is done for
    all steps at once (W x_t + b, V h_t + c, softmax, cross-entropy, 1 − h_t², the gradients of W, U, V, b, c) and
    every buffer is allocated once, outside the timed call (fresh arrays cost page faults at medium size and up).
    The returned gradients are those buffers: copy them before the next call."""
    W, U, V, b, c = (params[k] for k in PARAMS)
    T, B, D = xs.shape
    H, K, N, dt = U.shape[0], V.shape[0], T * B, xs.dtype
    X, rows, cols = xs.reshape(N, D), np.arange(N), ys.reshape(-1)
    hs = np.zeros((T + 1, B, H), dt)  # hs[0] = h_0 = 0, hs[t] = h_t
    h_all, h_prev = hs[1:].reshape(N, H), hs[:-1].reshape(N, H)
    a, o, dh, da, d_tanh = (np.empty((N, n), dt) for n in (H, K, H, H, H))
    a3, dh3, da3, d_tanh3 = (m.reshape(T, B, H) for m in (a, dh, da, d_tanh))
    m, s, tmp, carry = np.empty((N, 1), dt), np.empty((N, 1), dt), np.empty((B, H), dt), np.empty((B, H), dt)
    g = {k: np.empty_like(v) for k, v in params.items()}

    def step():
        np.matmul(X, W.T, out=a)
        np.add(a, b, out=a)
        for t in range(T):  # h_t = tanh(a_t + U h_{t−1})
            np.matmul(hs[t], U.T, out=tmp)
            np.add(tmp, a3[t], out=tmp)
            np.tanh(tmp, out=hs[t + 1])
        np.matmul(h_all, V.T, out=o)
        np.add(o, c, out=o)
        np.max(o, axis=1, keepdims=True, out=m)
        np.subtract(o, m, out=o)
        picked = o[rows, cols].sum()
        np.exp(o, out=o)
        np.sum(o, axis=1, keepdims=True, out=s)
        loss = float(np.log(s).sum() - picked)
        np.divide(o, s, out=o)  # ŷ
        o[rows, cols] -= 1.0  # ∇_o L = ŷ − y
        np.matmul(o, V, out=dh)
        np.multiply(h_all, h_all, out=d_tanh)
        np.subtract(1.0, d_tanh, out=d_tanh)  # 1 − h_t² for every t
        carry[:] = 0.0
        for t in range(T - 1, -1, -1):  # ∇_{a_t}L = diag(1 − h_t²)(∇_{h_t}L from o_t + Uᵀ ∇_{a_{t+1}}L)
            np.add(dh3[t], carry, out=da3[t])
            da3[t] *= d_tanh3[t]
            np.matmul(da3[t], U, out=carry)
        np.matmul(da.T, X, out=g["W"])
        np.matmul(da.T, h_prev, out=g["U"])
        np.matmul(o.T, h_all, out=g["V"])
        np.sum(da, axis=0, out=g["b"])
        np.sum(o, axis=0, out=g["c"])
        return loss, g

    return step


def hand_steps(params, xs, ys):
    """The same BPTT one time step at a time, as the lecture's equations read (every product inside the loop)."""
    W, U, V, b, c = (params[k] for k in PARAMS)
    T, B, _ = xs.shape
    H = U.shape[0]
    rows = np.arange(B)

    def step():
        h = [np.zeros((B, H), dtype=xs.dtype)]
        yhat = []
        loss = 0.0
        for t in range(T):
            h.append(np.tanh(b + xs[t] @ W.T + h[-1] @ U.T))
            o = c + h[-1] @ V.T
            e = np.exp(o - o.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            loss -= float(np.log(p[rows, ys[t]]).sum())
            yhat.append(p)
        g = {k: np.zeros_like(v) for k, v in params.items()}
        carry = np.zeros((B, H), dtype=xs.dtype)
        for t in range(T - 1, -1, -1):
            do = yhat[t].copy()
            do[rows, ys[t]] -= 1.0
            g["V"] += do.T @ h[t + 1]
            g["c"] += do.sum(axis=0)
            da = (do @ V + carry) * (1.0 - h[t + 1] ** 2)
            g["W"] += da.T @ xs[t]
            g["U"] += da.T @ h[t]
            g["b"] += da.sum(axis=0)
            carry = da @ U
        return loss, g

    return step


# ---- the engine ---------------------------------------------------------------------------------------------------


def _engine_step(tensors, make_loss, retain_grads=True):
    def step():
        for p in tensors.values():
            p.grad = None
        loss = make_loss()
        loss.backward(retain_grads=retain_grads)
        return float(loss.item()), {k: p.grad for k, p in tensors.items()}

    return step


def _rnn(params, xs, **options):
    from tinygrad_rnn.rnn import RNN

    D, H, K = xs.shape[-1], params["U"].shape[0], params["V"].shape[0]
    rnn = RNN(D, H, K, dtype=xs.dtype, **options)
    for k in PARAMS:
        getattr(rnn, k).data = params[k].copy()
    return rnn


def engine_lecture(params, xs, ys):
    """tinygrad_rnn, teaching mode: the lecture RNN unrolled step by step, composed tanh, softmax and cross-entropy."""
    rnn = _rnn(params, xs, tanh="composed")
    return _engine_step(rnn.named_parameters(), lambda: rnn.loss(xs, ys))


def engine_fast(params, xs, ys):
    """tinygrad_rnn, fast mode: W x_t and V h_t for all steps in one matmul each, primitive tanh, fused softmax-CE;
    backward(retain_grads=False), as a training loop runs it (interior gradients freed once passed on)."""
    rnn = _rnn(params, xs, fast=True)
    return _engine_step(rnn.named_parameters(), lambda: rnn.loss(xs, ys), retain_grads=False)


def _replayed(rnn, xs, ys, **options):
    from tinygrad_rnn import replay

    g = replay(rnn.loss, **options)
    tensors = rnn.named_parameters()

    def step():
        for p in tensors.values():
            p.grad = None
        loss = g(xs, ys)
        return loss, {k: p.grad for k, p in tensors.items()}

    step()  # the recording call, and the check of the second call: the steps timed are replays
    step()
    rnn.trace = rnn.state = None  # the graph of the last eager call, kept by the model for drawing: not needed here
    return step


def engine_replay(params, xs, ys):
    """tinygrad_rnn fast mode replayed: `g = replay(rnn.loss)`, then `g(xs, ys)` runs the recorded program."""
    return _replayed(_rnn(params, xs, fast=True), xs, ys)


def engine_replay_lecture(params, xs, ys):
    """tinygrad_rnn lecture mode (primitive tanh, composed softmax and cross-entropy) replayed."""
    return _replayed(_rnn(params, xs), xs, ys)


# ---- peers --------------------------------------------------------------------------------------------------------


def torch_eager(params, xs, ys):
    """PyTorch eager on CPU, the same unrolled equations (F.cross_entropy fuses softmax and cross-entropy)."""
    import torch

    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    X, Y = torch.from_numpy(xs), torch.from_numpy(ys)

    def step():
        for p in P.values():
            p.grad = None
        h = torch.zeros(xs.shape[1], P["U"].shape[0], dtype=X.dtype)
        loss = 0.0
        for t in range(xs.shape[0]):
            h = torch.tanh(P["b"] + X[t] @ P["W"].T + h @ P["U"].T)
            o = P["c"] + h @ P["V"].T
            loss = loss + torch.nn.functional.cross_entropy(o, Y[t], reduction="sum")
        loss.backward()
        return float(loss.item()), {k: p.grad.numpy() for k, p in P.items()}

    return step


def torch_rnn(params, xs, ys):
    """PyTorch nn.RNN (one fused kernel for the recurrence), then one linear layer and cross-entropy for all steps."""
    import torch

    T, B, D = xs.shape
    H = params["U"].shape[0]
    rnn = torch.nn.RNN(D, H, nonlinearity="tanh", bias=True).to(torch.from_numpy(xs).dtype)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(params["W"]))
        rnn.weight_hh_l0.copy_(torch.from_numpy(params["U"]))
        rnn.bias_ih_l0.copy_(torch.from_numpy(params["b"]))
        rnn.bias_hh_l0.zero_()
    V, c = (torch.tensor(params[k], requires_grad=True) for k in "Vc")
    X, Y = torch.from_numpy(xs), torch.from_numpy(ys.reshape(-1))
    named = {"W": rnn.weight_ih_l0, "U": rnn.weight_hh_l0, "V": V, "b": rnn.bias_ih_l0, "c": c}

    def step():
        for p in [*rnn.parameters(), V, c]:
            p.grad = None
        hs, _ = rnn(X)
        o = hs.reshape(T * B, H) @ V.T + c
        loss = torch.nn.functional.cross_entropy(o, Y, reduction="sum")
        loss.backward()
        return float(loss.item()), {k: p.grad.numpy() for k, p in named.items()}

    return step


def jax_jit(params, xs, ys):
    """JAX: value_and_grad of the same loss, W x_t + b for all steps at once, the recurrence a lax.scan, jit-compiled
    ahead of the timed calls (float64: jax_enable_x64)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    P = {k: jnp.asarray(v) for k, v in params.items()}
    X, Y = jnp.asarray(xs), jnp.asarray(ys)

    def loss_fn(P, X, Y):
        A = X @ P["W"].T + P["b"]

        def cell(h, a):
            h = jnp.tanh(a + h @ P["U"].T)
            return h, h

        _, hs = jax.lax.scan(cell, jnp.zeros((X.shape[1], P["U"].shape[0]), X.dtype), A)
        logp = jax.nn.log_softmax(hs @ P["V"].T + P["c"], axis=-1)
        return -jnp.take_along_axis(logp, Y[..., None], axis=-1).sum()

    vg = jax.jit(jax.value_and_grad(loss_fn))

    def step():
        loss, g = jax.block_until_ready(vg(P, X, Y))
        return float(loss), {k: np.asarray(v) for k, v in g.items()}

    step()  # compiled here, before any timing
    return step


def _loss_fn(np_, P, xs, ys, rows):
    h = np_.zeros((xs.shape[1], P["U"].shape[0]))
    loss = 0.0
    for t in range(xs.shape[0]):
        h = np_.tanh(P["b"] + np_.dot(xs[t], P["W"].T) + np_.dot(h, P["U"].T))
        o = P["c"] + np_.dot(h, P["V"].T)
        m = np_.max(o, axis=1, keepdims=True)
        logp = o - m - np_.log(np_.sum(np_.exp(o - m), axis=1, keepdims=True))
        loss = loss - np_.sum(logp[rows, ys[t]])
    return loss


def hips_autograd(params, xs, ys):
    """HIPS autograd: the same equations in autograd.numpy, differentiated by autograd.value_and_grad."""
    import autograd
    import autograd.numpy as anp

    rows = np.arange(xs.shape[1])
    vg = autograd.value_and_grad(lambda P: _loss_fn(anp, P, xs, ys, rows))

    def step():
        loss, g = vg(params)
        return float(loss), dict(g)

    return step


def mygrad(params, xs, ys):
    """MyGrad: the same equations on mygrad tensors, loss.backward()."""
    import mygrad as mg

    rows = np.arange(xs.shape[1])

    class _NP:  # the few numpy names the loss uses, taken from mygrad
        zeros, tanh, dot, max, log, sum, exp = np.zeros, mg.tanh, mg.matmul, mg.max, mg.log, mg.sum, mg.exp

    def step():
        P = {k: mg.tensor(v) for k, v in params.items()}
        loss = _loss_fn(_NP, P, xs, ys, rows)
        loss.backward()
        return float(loss.item()), {k: np.asarray(p.grad) for k, p in P.items()}

    return step


IMPLS = {
    "hand": ("hand BPTT, numpy, projections hoisted out of the time loop", hand_hoisted, None),
    "hand_steps": ("hand BPTT, numpy, one step at a time", hand_steps, None),
    "fast": ("tinygrad_rnn fast mode (`RNN(..., fast=True)`)", engine_fast, None),
    "lecture": ("tinygrad_rnn lecture mode (composed tanh, softmax, cross-entropy)", engine_lecture, None),
    "replay": ("tinygrad_rnn fast mode replayed (`replay(rnn.loss)`)", engine_replay, None),
    "replay_lecture": ("tinygrad_rnn lecture mode replayed (primitive tanh)", engine_replay_lecture, None),
    "torch": ("PyTorch {version} eager (CPU)", torch_eager, "torch"),
    "torch_rnn": ("PyTorch {version} nn.RNN (fused kernel)", torch_rnn, "torch"),
    "jax": ("JAX {version} jit (value_and_grad over lax.scan)", jax_jit, "jax"),
    "autograd": ("HIPS autograd {version}", hips_autograd, "autograd"),
    "mygrad": ("MyGrad {version}", mygrad, "mygrad"),
}


def available() -> list[str]:
    """The implementations whose package can be imported here (peers are optional)."""
    return [k for k, (_, _, mod) in IMPLS.items() if mod is None or importlib.util.find_spec(mod) is not None]


def version(module: str | None) -> str:
    if module is None:
        return ""
    from importlib.metadata import version as v

    return v(module)


def label(name: str) -> str:
    text, _, mod = IMPLS[name]
    return text.format(version=version(mod))


def build(name: str, params, xs, ys):
    return IMPLS[name][1](params, xs, ys)
