"""Echo state networks (Jaeger 2001, GMD Report 148): a fixed random reservoir, only the readout is trained.

    x(n+1) = (1 − δCa) x(n) + δC tanh(W_in u(n+1) + W x(n) + W_back y(n) + ν(n))     (report, eqs. 21 and 24)
    y(n)   = f_out(W_out x(n))                                                    (eq. 2, readout from the states)

x holds the N reservoir units (leaky integrators: time constant C, decay a, step δ; δ = C = a = 1 is the plain
tanh network of eq. 1), u the input, y the output fed back through W_back, ν optional state noise drawn from
[−ν, ν]. W is sparse and random, rescaled to a chosen spectral radius |λ_max|; W_in, W_back are fixed at random too.
Training is a linear regression (section 3.2, eq. 14): run the network teacher-forced (the desired output written
into y), drop the first `washout` states, and solve  W_out = argmin Σ_n (f_out⁻¹(y_teach(n)) − W_out x(n))²  (+ ridge
λ‖W_out‖² when asked; the report uses plain least squares). Free-running generation then feeds y back.

No gradient is involved anywhere, which is the point the lecture makes with it: the recurrent weights are never
trained, so nothing vanishes or explodes. The arrays are plain numpy, batched over independent runs (B, N).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinygrad_rnn.inputs import whole_number

__all__ = ["sparse_reservoir", "ridge_readouts", "ESN", "nrmse"]

OUTPUTS = ("tanh", "identity")


def _positive(value: Any, name: str, where: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: {name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{where}: {name} must be a finite number {'≥' if allow_zero else '>'} 0, got {value!r}")
    return v


def sparse_reservoir(
    n_units: int, connectivity: float, spectral_radius: float, rng: np.random.Generator, value: float = 0.4
) -> np.ndarray:
    """W with entries 0, +v, −v (probabilities 1 − p, p/2, p/2), rescaled so that max |λ(W)| = spectral_radius.

    Report 148, section 4.1.2: 400 units, v = 0.4, p = 1.25 %; one nonzero entry per row at least is not enforced.
    """
    where = "sparse_reservoir"
    n = whole_number(n_units, "n_units", where)
    p = _positive(connectivity, "connectivity", where)
    if p > 1:
        raise ValueError(f"{where}: connectivity is a probability in (0, 1], got {connectivity!r}")
    rho = _positive(spectral_radius, "spectral_radius", where, allow_zero=True)
    r = rng.random((n, n))
    W = np.where(r < p / 2, value, np.where(r < p, -value, 0.0))
    current = float(np.max(np.abs(np.linalg.eigvals(W)))) if n else 0.0
    if current == 0.0:
        raise ValueError(f"{where}: the random matrix has spectral radius 0 (too sparse: {n} units, p={p}); raise p")
    return W * (rho / current)


class _RowSparse:
    """A fixed matrix W kept as its nonzero entries row by row, for x Wᵀ at the cost of the nonzeros (the
    reservoir has 1.25 % of them: 80× fewer multiply-adds than the dense product)."""

    def __init__(self, W: np.ndarray) -> None:
        rows, self.cols = np.nonzero(W)  # row-major: rows sorted
        self.vals = W[rows, self.cols]
        self.shape = W.shape
        self.filled = np.bincount(rows, minlength=W.shape[0]) > 0
        self.starts = np.searchsorted(rows, np.flatnonzero(self.filled))  # first entry of each nonempty row

    def rmatmul(self, x: np.ndarray) -> np.ndarray:
        """x Wᵀ for x (B, n): row i of W dotted with each x_b."""
        out = np.zeros((x.shape[0], self.shape[0]))
        if self.vals.size:
            out[:, self.filled] = np.add.reduceat(x[:, self.cols] * self.vals, self.starts, axis=1)
        return out


def ridge_readouts(X: np.ndarray, Y: np.ndarray, ridges: Any) -> list[np.ndarray]:
    """W_out = argmin ‖X W_outᵀ − Y‖² + λ‖W_out‖² for each λ, from one SVD X = U S Vᵀ: W_outᵀ = V S/(S² + λ) Uᵀ Y.

    Never through XᵀX, whose condition number is the square of X's (at λ ~ 1e-16 the normal equations lose every
    digit). λ = 0 is the least-squares solution of minimal norm, singular values below ε·max(n, N)·s_max cut off
    as `numpy.linalg.lstsq` does.
    """
    U, S, Vt = np.linalg.svd(X, full_matrices=False)
    UtY = U.T @ Y
    out = []
    for lam in ridges:
        lam = _positive(lam, "ridge", "ridge_readouts", allow_zero=True)
        if lam == 0:
            keep = S > np.finfo(np.float64).eps * max(X.shape) * S[0]
            f = np.where(keep, 1.0 / np.where(keep, S, 1.0), 0.0)
        else:
            f = S / (S * S + lam)
        out.append((Vt.T @ (f[:, None] * UtY)).T)
    return out


class ESN:
    """A leaky-integrator echo state network with output feedback (Report 148, sections 3 and 5).

    Defaults are the report's Mackey-Glass network (section 6.2): N = 400, W sparse (1.25 %, ±0.4) rescaled to
    |λ_max| = 0.79; δ = 1, C = 0.44, a = 0.9; one input (the constant bias 0.2 of the task) with weights 0, ±0.14
    (probabilities 0.5, 0.25, 0.25); output feedback weights uniform on [−0.56, 0.56]; f_out = tanh; no noise.
    """

    def __init__(
        self,
        n_units: int = 400,
        *,
        input_size: int = 1,
        output_size: int = 1,
        spectral_radius: float = 0.79,
        connectivity: float = 0.0125,
        input_scale: float = 0.14,
        input_density: float = 0.5,
        feedback_scale: float = 0.56,
        step: float = 1.0,
        time_constant: float = 0.44,
        decay: float = 0.9,
        output: str = "tanh",
        ridge: float = 0.0,
        noise: float = 0.0,
        seed: int = 0,
    ) -> None:
        where = "ESN"
        self.n_units = whole_number(n_units, "n_units", where)
        self.input_size = whole_number(input_size, "input_size", where, minimum=0)
        self.output_size = whole_number(output_size, "output_size", where)
        if output not in OUTPUTS:
            raise ValueError(f"{where}: output must be one of {OUTPUTS}, got {output!r}")
        self.output = output
        density = _positive(input_density, "input_density", where, allow_zero=True)
        if density > 1:
            raise ValueError(f"{where}: input_density is a probability in [0, 1], got {input_density!r}")
        self.delta = _positive(step, "step", where)
        self.C = _positive(time_constant, "time_constant", where)
        self.a = _positive(decay, "decay", where, allow_zero=True)
        self.ridge = _positive(ridge, "ridge", where, allow_zero=True)
        self.noise = _positive(noise, "noise", where, allow_zero=True)
        self.seed = seed
        rng = np.random.default_rng(seed)
        N, K, L = self.n_units, self.input_size, self.output_size
        self.W = sparse_reservoir(N, connectivity, spectral_radius, rng)  # the property keeps a sparse copy too
        scale = _positive(input_scale, "input_scale", where, allow_zero=True)
        r = rng.random((N, K))
        self.W_in = np.where(r < density / 2, scale, np.where(r < density, -scale, 0.0))
        fb = _positive(feedback_scale, "feedback_scale", where, allow_zero=True)
        self.W_back = rng.uniform(-fb, fb, (N, L))
        self.W_out: np.ndarray | None = None  # (L, N) after fit
        self._noise_rng = np.random.default_rng([seed, 1])

    # ---- the reservoir ------------------------------------------------------------------------------------------

    @property
    def W(self) -> np.ndarray:
        """The recurrent matrix (N, N); assigning a new one is allowed (its sparse form is rebuilt)."""
        return self._W

    @W.setter
    def W(self, value: np.ndarray) -> None:
        W = np.array(value, dtype=np.float64)
        if W.shape != (self.n_units, self.n_units):
            raise ValueError(f"ESN: W must have shape ({self.n_units}, {self.n_units}), got {W.shape}")
        self._W = W
        self._W_sparse = _RowSparse(W) if np.count_nonzero(W) < 0.2 * W.size else None

    @property
    def effective_spectral_radius(self) -> float:
        """|λ_max| of W̃ = δC W + (1 − δCa) I, the matrix of the linearised leaky update (Prop. 4(b))."""
        Wt = self.delta * self.C * self.W + (1.0 - self.delta * self.C * self.a) * np.eye(self.n_units)
        return float(np.max(np.abs(np.linalg.eigvals(Wt))))

    def update(self, x: np.ndarray, u: np.ndarray, y: np.ndarray) -> np.ndarray:
        """x(n+1) = (1 − δCa) x(n) + δC tanh(W_in u(n+1) + W x(n) + W_back y(n) + ν(n)); x (B, N), u (B, K), y (B, L)"""
        Wx = self._W_sparse.rmatmul(x) if self._W_sparse is not None else x @ self._W.T
        pre = Wx + u @ self.W_in.T + y @ self.W_back.T
        if self.noise:
            pre += self._noise_rng.uniform(-self.noise, self.noise, pre.shape)
        dc = self.delta * self.C
        return (1.0 - dc * self.a) * x + dc * np.tanh(pre)

    def _batch(self, u: Any, y: Any, steps: int | None, where: str) -> tuple[np.ndarray, np.ndarray | None, int]:
        """u as (T, B, K) and y as (T, B, L) (a missing batch axis is added; u zeros when None, y may be None);
        T and B from whichever is given, else `steps` and 1."""
        uu = None if u is None else self._sequence("u", u, self.input_size, where)
        yy = None if y is None else self._sequence("y", y, self.output_size, where)
        if uu is not None and yy is not None and uu.shape[:2] != yy.shape[:2]:
            raise ValueError(f"{where}: u has {uu.shape[:2]} (steps, batch) but y has {yy.shape[:2]}")
        given = uu if uu is not None else yy
        if given is None:
            if steps is None:
                raise ValueError(f"{where}: give the inputs u or the outputs y")
            T, B = steps, 1
        else:
            T, B = given.shape[0], given.shape[1]
        return (np.zeros((T, B, self.input_size)) if uu is None else uu), yy, T

    @staticmethod
    def _sequence(name: str, a: Any, size: int, where: str) -> np.ndarray:
        arr = np.asarray(a, dtype=np.float64)
        if arr.ndim == 2:
            arr = arr[:, None, :]
        if arr.ndim != 3 or arr.shape[2] != size:
            raise ValueError(f"{where}: {name} must have shape (T, {size}) or (T, B, {size}), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{where}: {name} has a non-finite value")
        return arr

    def _state(self, x0: Any, B: int, where: str) -> np.ndarray:
        if x0 is None:
            return np.zeros((B, self.n_units))
        x = np.asarray(x0, dtype=np.float64)
        x = x[None] if x.ndim == 1 else x
        if x.shape != (B, self.n_units):
            raise ValueError(f"{where}: x0 must have shape ({self.n_units},) or ({B}, {self.n_units}), got {x.shape}")
        return x.copy()

    def harvest(self, y_teacher: Any, u: Any = None, x0: Any = None) -> np.ndarray:
        """Teacher-forced states x(1..T) (T, B, N): x(n) from x(n−1), u(n) and the teacher output y(n−1), y(0) = 0.

        y_teacher (T, L) or (T, B, L); u likewise (T, K) / (T, B, K), zeros when None. Row n − 1 of the result
        is the state that predicts y_teacher[n − 1]: ŷ(n) = f_out(W_out x(n)).
        """
        u3, y3, T = self._batch(u, y_teacher, None, "ESN.harvest")
        if y3 is None:
            raise ValueError("ESN.harvest: y_teacher is required (the outputs written into y during teacher forcing)")
        x = self._state(x0, u3.shape[1], "ESN.harvest")
        prev = np.zeros((u3.shape[1], self.output_size))
        states = np.empty((T, u3.shape[1], self.n_units))
        for n in range(T):
            x = self.update(x, u3[n], prev)
            states[n] = x
            prev = y3[n]
        return states

    # ---- the readout --------------------------------------------------------------------------------------------

    def _inverse_output(self, y: np.ndarray, where: str) -> np.ndarray:
        if self.output == "identity":
            return y
        if np.any(np.abs(y) >= 1):
            raise ValueError(f"{where}: f_out = tanh needs teacher outputs in (−1, 1); squash them first")
        return np.arctanh(y)

    def fit(self, y_teacher: Any, u: Any = None, *, washout: int = 0) -> np.ndarray:
        """W_out from a teacher-forced run (eq. 14): least squares of f_out⁻¹(y(n)) on x(n) for n > washout.

        Returns the harvested states (T, B, N), washout included (`solve_readout` refits from them, e.g. for
        another ridge λ, without running the reservoir again).
        """
        states = self.harvest(y_teacher, u)
        self.solve_readout(states, y_teacher, washout=washout)
        return states

    def solve_readout(self, states: np.ndarray, y_teacher: Any, *, washout: int = 0) -> np.ndarray:
        """W_out (L, N) from harvested states (T, B, N) and the teacher outputs they predict, the first `washout`
        steps left out: argmin ‖X W_outᵀ − f_out⁻¹(Y)‖² + λ‖W_out‖² with λ = `ridge` (`ridge_readouts`)."""
        X, Y = self._regression(states, y_teacher, washout, "ESN.solve_readout")
        self.W_out = ridge_readouts(X, Y, [self.ridge])[0]
        return self.W_out

    def readout_path(self, states: np.ndarray, y_teacher: Any, ridges: Any, *, washout: int = 0) -> list[np.ndarray]:
        """W_out for each λ in `ridges` from one SVD of the states (for choosing λ); self.W_out is not changed."""
        X, Y = self._regression(states, y_teacher, washout, "ESN.readout_path")
        return ridge_readouts(X, Y, ridges)

    def _regression(self, states: Any, y_teacher: Any, washout: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
        """The regression's X (n, N) and f_out⁻¹(Y) (n, L) from the states after the washout."""
        states = np.asarray(states, dtype=np.float64)
        if states.ndim != 3 or states.shape[2] != self.n_units:
            raise ValueError(f"{where}: states must have shape (T, B, {self.n_units}), got {states.shape}")
        T = states.shape[0]
        washout = whole_number(washout, "washout", where, minimum=0)
        if washout >= T - 1:
            raise ValueError(f"{where}: washout {washout} leaves fewer than 2 of the {T} states for the regression")
        y3 = self._batch(None, y_teacher, None, where)[1]
        if y3 is None:
            raise ValueError(f"{where}: y_teacher is required")
        if y3.shape[:2] != states.shape[:2]:
            raise ValueError(f"{where}: y_teacher has {y3.shape[:2]} (steps, batch) but the states {states.shape[:2]}")
        X = states[washout:].reshape(-1, self.n_units)
        return X, self._inverse_output(y3[washout:].reshape(-1, self.output_size), where)

    def readout(self, x: np.ndarray) -> np.ndarray:
        """ŷ = f_out(W_out x) for states (…, N)."""
        if self.W_out is None:
            raise ValueError("ESN.readout: the readout is not trained yet; call fit first")
        o = np.asarray(x) @ self.W_out.T
        return np.tanh(o) if self.output == "tanh" else o

    def generate(self, n_steps: int, x: Any, y_last: Any, u: Any = None) -> np.ndarray:
        """Free run: x(n+1) from x(n), u(n+1) and the output y(n), then ŷ(n+1) = f_out(W_out x(n+1)), fed back next.

        x (N,) or (B, N) is the state reached by teacher forcing (e.g. the last row of `harvest`), y_last (L,) or
        (B, L) the last observed output, which that state has not yet seen. Returns ŷ for the next n_steps steps,
        (n_steps, B, L): row 0 is the one-step prediction, row k the (k+1)-step one.
        """
        steps = whole_number(n_steps, "n_steps", "ESN.generate")
        x0 = np.asarray(x, dtype=np.float64)
        B = 1 if x0.ndim == 1 else x0.shape[0]
        state = self._state(x0, B, "ESN.generate")
        y = np.asarray(y_last, dtype=np.float64).reshape(-1, self.output_size)
        if y.shape[0] not in (1, B):
            raise ValueError(f"ESN.generate: y_last must have shape ({self.output_size},) or ({B}, {self.output_size})")
        y = np.broadcast_to(y, (B, self.output_size))
        u3 = self._batch(u, None, steps, "ESN.generate")[0]
        u3 = np.broadcast_to(u3, (steps, B, self.input_size)) if u3.shape[1] == 1 else u3
        if u3.shape[:2] != (steps, B):
            raise ValueError(f"ESN.generate: u must cover {steps} steps and batch {B}, got {u3.shape}")
        out = np.empty((steps, B, self.output_size))
        for n in range(steps):
            state = self.update(state, u3[n], y)
            y = out[n] = self.readout(state)
        return out

    def __repr__(self) -> str:
        return (
            f"ESN(n_units={self.n_units}, input_size={self.input_size}, output_size={self.output_size}, "
            f"|λ_max(W)|={float(np.max(np.abs(np.linalg.eigvals(self.W)))):.3g}, δ={self.delta:g}, C={self.C:g}, "
            f"a={self.a:g}, output={self.output!r}, seed={self.seed!r})"
        )


def nrmse(pred: Any, target: Any, variance: float) -> float:
    """NRMSE = √(Σ_i (y_i − ŷ_i)² / (N σ²)) over the N values (Report 148, eq. 25; σ² the signal's variance).

    This divides by the variance under the root, i.e. by the standard deviation outside it — not by the range.
    """
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if p.shape != t.shape or p.size == 0:
        raise ValueError(f"nrmse: predictions {p.shape} and targets {t.shape} must have the same, non-empty shape")
    var = _positive(variance, "variance", "nrmse")
    return float(np.sqrt(np.mean((t - p) ** 2) / var))
