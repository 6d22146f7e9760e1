"""Optimizers (SGD with momentum, Adagrad, Adam), gradient clipping, and L1/L2 penalties as loss terms.

An optimizer holds a list of parameter Tensors and updates `p.data` in place from `p.grad` on `step()`;
`zero_grad()` clears the gradients (PyTorch's names). Parameters whose grad is None are skipped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinygrad_rnn.inputs import real
from tinygrad_rnn.tensor import Tensor, composite

__all__ = ["Optimizer", "SGD", "Adagrad", "Adam", "clip_grad_norm", "clip_grad_value", "l1_penalty", "l2_penalty"]


def _param_list(params: Any, fn: str) -> list[Tensor]:
    """The parameters as a list of distinct Tensors (from a list, any iterable, or a Module's .parameters())."""
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor):
        params = [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{fn}: params must be a list of Tensors or a Module, got {type(params).__name__}") from None
    if not params:
        raise ValueError(f"{fn}: got an empty list of parameters")
    first: dict[Tensor, int] = {}  # Tensors hash by identity: the same parameter object, not equal values
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn}: parameter {i} is a {type(p).__name__}, expected a Tensor")
        if p in first:
            raise ValueError(f"{fn}: parameter {_label(p, first[p])} is listed twice (#{first[p]} and #{i})")
        first[p] = i
    return params


def _label(p: Tensor, i: int) -> str:
    return f"{p.name!r}" if p.name else f"#{i}"


class Optimizer:
    """Base class: `params` (a list of Tensors, or a Module), `lr`; subclasses implement `_update(i, p, g)`."""

    def __init__(self, params: Any, lr: float) -> None:
        name = type(self).__name__
        self.params = _param_list(params, name)
        self.lr = real(name, "learning rate lr", lr, low=0)
        for i, p in enumerate(self.params):
            if not p.requires_grad:
                raise ValueError(f"{name}: parameter {_label(p, i)} has requires_grad=False")

    def zero_grad(self) -> None:
        """p.grad ← None for every parameter."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = np.asarray(p.grad)
            if g.shape != p.data.shape:
                raise ValueError(
                    f"{type(self).__name__}.step: gradient of parameter {_label(p, i)} has shape {g.shape}, "
                    f"parameter has {p.data.shape}"
                )
            p.data -= self._update(i, p, g).astype(p.data.dtype, copy=False)

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    """v ← μ v + g,  θ ← θ − η v   (plain gradient descent when μ = 0; PyTorch's form of momentum)."""

    def __init__(self, params: Any, lr: float, momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = real("SGD", "momentum", momentum, low=0, strict=False, high=1)
        self.velocity = [np.zeros_like(p.data) for p in self.params]

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> np.ndarray:
        if self.momentum == 0.0:
            return self.lr * g
        v = self.velocity[i]
        v *= self.momentum
        v += g
        return self.lr * v


class Adagrad(Optimizer):
    """G ← G + g²,  θ ← θ − η g / (√G + ε)   (Duchi, Hazan & Singer 2011), with ε outside the root as in PyTorch.

    Karpathy's min-char-rnn puts ε inside: θ ← θ − η g / √(G + ε) (there ε = 1e-8); `eps_inside=True` gives that form.
    The two differ only while G is about ε or smaller: for a parameter whose gradients are all below ~√ε = 1e-4.
    """

    def __init__(self, params: Any, lr: float = 0.1, eps: float = 1e-8, eps_inside: bool = False) -> None:
        super().__init__(params, lr)
        self.eps = real("Adagrad", "eps", eps, low=0)
        if not isinstance(eps_inside, bool):
            raise TypeError(f"Adagrad: eps_inside must be True or False, got {eps_inside!r}")
        self.eps_inside = eps_inside
        self.sum_sq = [np.zeros_like(p.data) for p in self.params]

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> np.ndarray:
        G = self.sum_sq[i]
        G += g * g
        return self.lr * g / (np.sqrt(G + self.eps) if self.eps_inside else np.sqrt(G) + self.eps)


class Adam(Optimizer):
    """m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  θ ← θ − α m̂ / (√v̂ + ε),  m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).

    Algorithm 1 of Kingma & Ba (2015), with their defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    """

    def __init__(
        self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        super().__init__(params, lr)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"Adam: betas must be a pair (β₁, β₂), got {betas!r}")
        b1, b2 = (real("Adam", f"betas[{k}]", b, low=0, strict=False, high=1) for k, b in enumerate(betas))
        self.betas = (b1, b2)
        self.eps = real("Adam", "eps", eps, low=0)
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.t = [0] * len(self.params)  # per parameter: a parameter without gradient does not advance

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> np.ndarray:
        b1, b2 = self.betas
        self.t[i] += 1
        t = self.t[i]
        m, v = self.m[i], self.v[i]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        return self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


# ----------------------------------------------------------------------------------------------------- clipping
def clip_grad_norm(params: Any, max_norm: float) -> float:
    """‖g‖ = √(Σ_p ‖g_p‖²);  if ‖g‖ > c:  g_p ← g_p · c / ‖g‖ for every p.  Returns ‖g‖ before clipping.

    The global norm over all parameters together (Pascanu, Mikolov & Bengio 2013): the direction of the whole
    gradient is kept, only its length is capped. Parameters without a gradient are ignored. A gradient with NaN or
    infinite entries raises ValueError naming the parameter (rescaling cannot repair it). The squares are summed
    after dividing by the largest |g| (m), ‖g‖ = m·√(Σ (g/m)²), so gradients of 1e200 or 1e-200 neither overflow
    nor underflow.
    """
    params = _param_list(params, "clip_grad_norm")
    max_norm = real("clip_grad_norm", "max_norm", max_norm, low=0)
    grads = []
    for i, p in enumerate(params):
        if p.grad is None:
            continue
        if not np.all(np.isfinite(p.grad)):
            raise ValueError(f"clip_grad_norm: gradient of parameter {_label(p, i)} has NaN or infinite entries")
        grads.append(p.grad)
    m = max((float(np.max(np.abs(g))) for g in grads if np.size(g)), default=0.0)
    if m == 0.0:
        return 0.0
    r = math.sqrt(sum(float(np.sum(np.square(np.divide(g, m, dtype=np.float64)))) for g in grads))  # 1 ≤ r ≤ √n
    norm = m * r
    if norm > max_norm:
        scale = max_norm / m / r  # not max_norm / norm: norm may overflow to inf where m and r do not
        for p in params:
            if p.grad is not None:
                p.grad = p.grad * scale
    return norm


def clip_grad_value(params: Any, clip_value: float) -> float:
    """g_p ← min(max(g_p, −c), c) elementwise.  Returns max |g| before clipping (0.0 when no gradients)."""
    params = _param_list(params, "clip_grad_value")
    clip_value = real("clip_grad_value", "clip_value", clip_value, low=0)
    biggest = 0.0
    for i, p in enumerate(params):
        if p.grad is None:
            continue
        if np.isnan(p.grad).any():
            raise ValueError(f"clip_grad_value: gradient of parameter {_label(p, i)} has NaN entries")
        if p.grad.size:
            biggest = max(biggest, float(np.max(np.abs(p.grad))))
        p.grad = np.clip(p.grad, -clip_value, clip_value)
    return biggest


# ----------------------------------------------------------------------------------------------------- penalties
def l2_penalty(params: Any, weight: float) -> Tensor:
    """R = λ Σ_p Σ_ij p_ij²  (a scalar Tensor: add it to the loss; its gradient is 2λp)."""
    params = _param_list(params, "l2_penalty")
    weight = real("l2_penalty", "weight", weight, low=0, strict=False)
    with composite("l2_penalty"):
        total = (params[0] * params[0]).sum()
        for p in params[1:]:
            total = total + (p * p).sum()
        out = total * float(weight)
    out.name = "R_L2"
    return out


def l1_penalty(params: Any, weight: float) -> Tensor:
    """R = λ Σ_p Σ_ij |p_ij|  (a scalar Tensor: add it to the loss; its gradient is λ sign(p))."""
    params = _param_list(params, "l1_penalty")
    weight = real("l1_penalty", "weight", weight, low=0, strict=False)
    with composite("l1_penalty"):
        total = params[0].abs().sum()
        for p in params[1:]:
            total = total + p.abs().sum()
        out = total * float(weight)
    out.name = "R_L1"
    return out
