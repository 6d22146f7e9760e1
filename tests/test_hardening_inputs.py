"""Bad values refused with errors that name the function and the argument; conversions as numpy does them; the
gradient checker's own blind spots (NaN, large inputs)."""

import math

import numpy as np
import pytest

from tinygrad_rnn import Tensor, data, ops, optim
from tinygrad_rnn import functional as F
from tinygrad_rnn import gradcheck as gc
from tinygrad_rnn.tensor import apply, concatenate, stack, topological_order, where


def leaf(a, name=None):
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=True, name=name)


# ---- gradcheck ------------------------------------------------------------------------------------------------------


class NaNGrad(ops.Function):
    """out = a, whose backward says NaN."""

    name = "nan_grad"

    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return (g * np.nan,)


@pytest.mark.parametrize("projection", [False, True])
def test_gradcheck_fails_a_nan_gradient(projection):
    x = leaf([0.5, -1.0])
    with pytest.raises(AssertionError, match="nan"):
        gc.gradcheck(lambda x: apply(NaNGrad, x).sum(), x, projection=projection)
    with pytest.raises(AssertionError, match=r"element \(0,\) of output element \(0,\).*backward gives nan"):
        gc.gradcheck(lambda x: apply(NaNGrad, x), x)


@pytest.mark.parametrize(
    "f, scale",
    [
        (lambda x: (x * x).sum(), 30.0),  # a scalar loss of 100 terms: its rounding dwarfs small derivatives
        (lambda x: x.exp(), 10.0),  # e^10 = 22026: the weighted sum of the outputs cancels
        (lambda x: x**3, 10.0),
        (lambda x: x * x.sum(), 30.0),
    ],
    ids=["sum-of-squares", "exp", "cube", "x-times-sum"],
)
def test_gradcheck_accepts_correct_gradients_of_size_100_with_default_tolerances(f, scale):
    x = leaf(np.random.default_rng(0).uniform(-scale, scale, 100))
    assert gc.gradcheck(f, x)
    assert gc.gradcheck(f, x, projection=True)


def test_gradcheck_still_catches_a_small_error_on_a_large_input():
    class Almost(ops.Exp):
        def backward(self, g):
            return (g * self.saved[0] * (1 + 1e-4),)  # off by 1e-4 relative: 10× rtol

    x = leaf(np.random.default_rng(1).uniform(-10, 10, 100))
    with pytest.raises(AssertionError, match="input 0 of shape \\(100,\\), element"):
        gc.gradcheck(lambda x: apply(Almost, x), x)
    with pytest.raises(AssertionError, match="input 0"):
        gc.gradcheck(lambda x: apply(Almost, x).sum(), x)


def test_gradcheck_leaves_the_gradient_of_the_sum_in_grad():
    x = leaf([1.0, 2.0, 3.0])
    gc.gradcheck(lambda x: x * x, x)
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_numerical_jacobian_and_its_errors():
    x = np.array([0.3, -1.2])
    J = gc.numerical_jacobian(lambda v: np.sin(v) * v[0], x)
    want = np.diag(np.cos(x) * x[0])
    want[:, 0] += np.sin(x)
    np.testing.assert_allclose(J, want, rtol=1e-8)
    with pytest.raises(ValueError, match="numerical_grad: the function must return a scalar"):
        gc.numerical_grad(lambda v: v, x)
    with pytest.raises(TypeError, match="numerical_grad: f must be a function"):
        gc.numerical_grad("sin", x)
    with pytest.raises(ValueError, match="numerical_jacobian: eps must be a finite number > 0"):
        gc.numerical_jacobian(lambda v: v, x, eps=0)


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda x: gc.gradcheck(lambda x: x, x, eps=-1e-6), ValueError, "gradcheck: eps must be a finite number > 0"),
        (lambda x: gc.gradcheck(lambda x: x, x, rtol=float("nan")), ValueError, "gradcheck: rtol must be"),
        (lambda x: gc.gradcheck(lambda x: x, x, atol="1"), TypeError, "gradcheck: atol must be a real number"),
        (lambda x: gc.gradcheck(lambda x: x, x, seed=-1), ValueError, "gradcheck: seed must be a whole number ≥ 0"),
        (lambda x: gc.gradcheck(lambda x: x, x.data), TypeError, "gradcheck: input 0 is a ndarray"),
        (lambda x: gc.gradcheck(lambda x: x, Tensor([1.0])), ValueError, "gradcheck: no input has requires_grad"),
        (lambda x: gc.gradcheck(lambda x: 3.0, x), TypeError, "gradcheck: f must return a Tensor"),
        (lambda x: gc.jacobian(lambda x: x, x.data), ValueError, "jacobian: x must be a Tensor"),
    ],
)
def test_gradcheck_argument_errors(call, err, match):
    with pytest.raises(err, match=match):
        call(leaf([1.0, 2.0]))


# ---- conversions as numpy does them -------------------------------------------------------------------------------


def test_bool_float_int_follow_numpy():
    assert bool(Tensor([0.0])) is False and bool(Tensor(0.0)) is False and bool(Tensor([[2.0]])) is True
    assert float(Tensor([2.5])) == 2.5 and int(Tensor(2.7)) == 2 and Tensor([[4.0]]).item() == 4.0
    for conv in (bool, float, int, Tensor.item):
        with pytest.raises(ValueError, match=r"needs a tensor of one element, got shape \(2,\)"):
            conv(Tensor([1.0, 2.0]))
        with pytest.raises(ValueError, match=r"got shape \(0, 3\)"):
            conv(Tensor(np.ones((0, 3))))


def test_numpy_conversion_gives_the_values_and_tracks_no_gradient():
    x = leaf([[1.0, 2.0]])
    a = np.asarray(x)
    assert type(a) is np.ndarray and np.shares_memory(a, x.data)
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
    assert not np.shares_memory(np.array(x, copy=True), x.data)
    np.testing.assert_array_equal(np.sin(np.asarray(x)), np.sin(x.data))
    assert topological_order(x * 2.0)[0] is x  # the graph is untouched by the conversion


def test_membership_is_elementwise_as_in_numpy():
    t = Tensor([1.0, 2.0])
    assert 2.0 in t and 3.0 not in t and Tensor(1.0) in t


def test_composed_sigmoid_and_tanh_at_infinity():
    x = leaf([np.inf, -np.inf, 0.0])
    for f, want in ((F.sigmoid, [1.0, 0.0, 0.5]), (F.tanh, [1.0, -1.0, 0.0])):
        x.grad = None
        y = f(x)
        y.sum().backward()
        np.testing.assert_array_equal(y.data, want)  # was NaN for sigmoid(∞): a constant factor 0 times ∞
        np.testing.assert_array_equal(x.grad[:2], [0.0, 0.0])


def test_len_and_iteration_of_a_zero_d_tensor_are_type_errors():
    with pytest.raises(TypeError, match="len: a 0-d tensor has no length"):
        len(Tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        list(Tensor(1.0))
    rows = list(leaf(np.ones((3, 2))))
    assert len(rows) == 3 and rows[0].op == "getitem"


# ---- optimizers and clipping ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e300])
def test_clip_grad_norm_neither_overflows_nor_underflows(scale):
    a, b = leaf([0.0, 0.0], "a"), leaf([0.0], "b")
    a.grad, b.grad = np.array([3.0, 0.0]) * scale, np.array([4.0]) * scale
    norm = optim.clip_grad_norm([a, b], scale)  # was: inf (squares overflow) → zeros, or 0 (squares underflow)
    assert norm == pytest.approx(5.0 * scale, rel=1e-14)
    np.testing.assert_allclose(a.grad, [0.6 * scale, 0.0], rtol=1e-14)
    np.testing.assert_allclose(b.grad, [0.8 * scale], rtol=1e-14)


def test_clip_grad_norm_of_a_huge_total_norm_that_overflows_float64():
    ps = [leaf([0.0]) for _ in range(4)]
    for p in ps:
        p.grad = np.array([1.5e308])
    assert optim.clip_grad_norm(ps, 2.0) == math.inf  # the honest answer: the norm is not representable
    np.testing.assert_allclose([p.grad[0] for p in ps], [1.0] * 4, rtol=1e-14)  # but the direction is kept


@pytest.mark.parametrize("opt", [optim.Adagrad, optim.Adam])
@pytest.mark.parametrize("eps", [0.0, -1e-8, float("nan"), float("inf")])
def test_optimizer_eps_must_be_a_positive_finite_number(opt, eps):
    with pytest.raises(ValueError, match=f"{opt.__name__}: eps must be a finite number > 0"):
        opt([leaf([1.0])], lr=0.1, eps=eps)


@pytest.mark.parametrize("opt", [optim.SGD, optim.Adagrad, optim.Adam])
def test_a_parameter_listed_twice_is_refused_naming_it(opt):
    W, b = leaf([1.0], "W"), leaf([2.0])
    with pytest.raises(ValueError, match=f"{opt.__name__}: parameter 'W' is listed twice \\(#0 and #2\\)"):
        opt([W, b, W], lr=0.1)
    with pytest.raises(ValueError, match="parameter #1 is listed twice"):
        opt([W, b, b], lr=0.1)
    twin = leaf([1.0], "W")  # equal values, another tensor: fine
    assert len(opt([W, twin], lr=0.1).params) == 2


@pytest.mark.parametrize("lr", [np.float32(0.1), np.float64(0.1), np.int64(1), 1, 0.5])
def test_any_real_learning_rate_is_accepted(lr):
    p = leaf([1.0])
    opt = optim.SGD([p], lr=lr)
    p.grad = np.array([1.0])
    opt.step()
    assert p.data[0] == pytest.approx(1.0 - float(lr), rel=1e-6) and type(opt.lr) is float


@pytest.mark.parametrize(
    "lr, err, match",
    [
        (True, TypeError, "SGD: learning rate lr must be a real number, got bool"),
        ("0.1", TypeError, "must be a real number, got str"),
        (float("nan"), ValueError, "SGD: learning rate lr must be a finite number > 0, got nan"),
        (float("inf"), ValueError, "finite number > 0, got inf"),
        (-0.1, ValueError, "finite number > 0, got -0.1"),
        (0, ValueError, "finite number > 0, got 0"),
    ],
)
def test_bad_learning_rates_are_refused_clearly(lr, err, match):
    with pytest.raises(err, match=match):
        optim.SGD([leaf([1.0])], lr=lr)


def test_adagrad_eps_inside_the_root_is_min_char_rnns_form():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(3) * 1e-5 for _ in range(3)]  # small gradients, where the two forms differ
    p = leaf(np.zeros(3))
    opt = optim.Adagrad([p], lr=0.1, eps=1e-8, eps_inside=True)
    theta, mem = np.zeros(3), np.zeros(3)
    for g in grads:
        p.grad = g.copy()
        opt.step()
        mem += g * g  # min-char-rnn: mem += dparam * dparam; param += -learning_rate * dparam / np.sqrt(mem + 1e-8)
        theta += -0.1 * g / np.sqrt(mem + 1e-8)
        np.testing.assert_allclose(p.data, theta, rtol=1e-14)
    outside = leaf(np.zeros(3))
    opt = optim.Adagrad([outside], lr=0.1)
    outside.grad = grads[0].copy()
    opt.step()
    assert not np.allclose(outside.data, -0.1 * grads[0] / np.sqrt(grads[0] ** 2 + 1e-8))  # PyTorch's form differs
    with pytest.raises(TypeError, match="Adagrad: eps_inside must be True or False"):
        optim.Adagrad([leaf([1.0])], eps_inside="yes")


# ---- cross-entropy targets: one set of rules ------------------------------------------------------------------------

LOSSES = [F.cross_entropy, F.softmax_cross_entropy, lambda o, y: F.cross_entropy_probs(F.softmax(o), y)]
IDS = ["cross_entropy", "softmax_cross_entropy", "cross_entropy_probs"]


@pytest.mark.parametrize("loss", LOSSES, ids=IDS)
def test_integer_boolean_and_float_one_hot_rows_give_the_same_loss(loss):
    o = leaf(np.random.default_rng(0).standard_normal((3, 4)))
    idx = np.array([0, 3, 1])
    want = loss(o, idx).item()
    for rows in (
        np.eye(4)[idx],
        np.eye(4, dtype=int)[idx],
        np.eye(4, dtype=bool)[idx],
        np.eye(4, dtype=np.float32)[idx],
    ):
        assert loss(o, rows).item() == pytest.approx(want, rel=1e-6)
    soft = np.full((3, 4), 0.25)
    assert np.isfinite(loss(o, soft).item())


@pytest.mark.parametrize("loss, name", list(zip(LOSSES, IDS)), ids=IDS)
def test_negative_or_unnormalised_rows_are_refused_naming_the_row(loss, name):
    o = leaf(np.zeros((3, 4)))
    rows = np.eye(4)[[0, 1, 2]]
    bad = rows.copy()
    bad[1] = [0.5, 0.6, 0.0, 0.0]
    with pytest.raises(ValueError, match=rf"{name}: target row 1 \[.*\] does not sum to 1"):
        loss(o, bad)
    bad[1] = [1.5, -0.5, 0.0, 0.0]
    with pytest.raises(ValueError, match=rf"{name}: target row 1 .* has a negative or non-finite entry"):
        loss(o, bad)
    bad[1] = [np.nan, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="target row 1"):
        loss(o, bad)
    with pytest.raises(ValueError, match=rf"{name}: target class index 4 at 2 is outside 0..3"):
        loss(o, [0, 1, 4])
    with pytest.raises(ValueError, match="class index 1.5 at 1 is not a whole number"):
        loss(o, [0, 1.5, 2])
    with pytest.raises(TypeError, match="class indices must be whole numbers, got booleans"):
        loss(o, [True, False, True])
    with pytest.raises(ValueError, match=r"target of shape \(2, 4\) fits neither class indices of shape \(3,\)"):
        loss(o, np.zeros((2, 4)))


def test_batched_rows_name_their_place():
    with pytest.raises(ValueError, match=r"cross_entropy: target row \(1, 0\)"):
        rows = np.full((2, 2, 3), 1 / 3)
        rows[1, 0] = [0.5, 0.5, 0.5]
        F.cross_entropy(np.zeros((2, 2, 3)), rows)


# ---- empty batches --------------------------------------------------------------------------------------------------


def test_an_empty_batch_goes_through_softmax_and_the_losses():
    o = leaf(np.ones((0, 3)))
    assert o.max(axis=1).shape == (0,) and o.min(axis=-1, keepdims=True).shape == (0, 1)
    assert F.softmax(o).shape == (0, 3) and F.log_softmax(o).shape == (0, 3)
    for loss in (F.cross_entropy, F.softmax_cross_entropy):
        L = loss(o, np.zeros(0, dtype=int))
        assert L.item() == 0.0
        o.grad = None
        L.backward()
        assert o.grad.shape == (0, 3)


def test_max_and_min_over_an_empty_axis_stay_errors_as_in_numpy():
    e = Tensor(np.ones((0, 3)))
    for op in ("max", "min"):
        with pytest.raises(ValueError, match=rf"{op}: the {op} over an empty axis is undefined \(shape \(0, 3\)"):
            getattr(e, op)(axis=0)
        with pytest.raises(ValueError, match=rf"{op}: the {op} of an empty tensor"):
            getattr(e, op)()
    with pytest.raises(ValueError, match="softmax: the softmax over an empty axis"):
        F.softmax(np.ones((3, 0)))


# ---- composites take arrays ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f",
    [
        lambda a: F.softmax(a),
        lambda a: F.log_softmax(a, axis=0),
        lambda a: F.tanh(a),
        lambda a: F.sigmoid(a),
        lambda a: F.cross_entropy(a, [0, 1]),
        lambda a: F.cross_entropy_probs(np.full((2, 3), 1 / 3), [0, 1]),
        lambda a: F.softmax_cross_entropy(a, [0, 1]),
        lambda a: F.mse_loss(a, np.zeros((2, 3))),
    ],
)
def test_composites_lift_arrays_and_lists(f):
    a = np.arange(6.0).reshape(2, 3) / 6
    got = f(a)
    assert isinstance(got, Tensor) and not got.requires_grad
    np.testing.assert_allclose(f(a.tolist()).data, got.data)
    np.testing.assert_allclose(f(Tensor(a)).data, got.data)


# ---- the systematic probe: every public function, bad arguments, an error that names both ---------------------------

v = data.Vocabulary("abc")
std = data.Standardizer(np.arange(6.0).reshape(3, 2))
P = leaf(np.ones((2, 3)), "W")
X = Tensor(np.ones((2, 3)))

REFUSED = [
    # data
    (lambda: data.mackey_glass(10, dt=0), ValueError, "mackey_glass: dt must be a finite number > 0"),
    (lambda: data.mackey_glass(10, tau=float("nan")), ValueError, "mackey_glass: tau must be a finite number"),
    (lambda: data.mackey_glass(10, tau=float("inf")), ValueError, "mackey_glass: tau must be a finite"),
    (lambda: data.mackey_glass(10, dt=1e-300), ValueError, "mackey_glass: tau/dt must be a whole number"),
    (lambda: data.mackey_glass(10, discard=-1), ValueError, "mackey_glass: discard must be a finite number ≥ 0"),
    (lambda: data.mackey_glass(10, beta="0.2"), TypeError, "mackey_glass: beta must be a real number"),
    (lambda: data.mackey_glass(10, x0=None), TypeError, "mackey_glass: x0 must be a real number"),
    (lambda: data.mackey_glass(10, sample_every=0.15), ValueError, "mackey_glass: sample_every/dt"),
    (lambda: data.mackey_glass(10**13), ValueError, "mackey_glass: .* values do not fit in memory"),
    (lambda: data.mackey_glass(2.5), TypeError, "mackey_glass: n must be a whole number"),
    (lambda: data.sine(10, period=float("nan")), ValueError, "sine: period must be a finite number > 0"),
    (lambda: data.sine(10, period="20"), TypeError, "sine: period must be a real number"),
    (lambda: data.sine(10, amplitude=[1, 2]), TypeError, "sine: amplitude must be a real number"),
    (lambda: data.sine(10, noise=-0.1), ValueError, "sine: noise must be a finite number ≥ 0"),
    (lambda: data.sine(10, noise=0.1, seed="x"), TypeError, "sine: seed must be a whole number"),
    (lambda: data.sine(10**14), ValueError, "sine: .* values do not fit in memory"),
    (lambda: data.sine(True), TypeError, "sine: n must be a whole number"),
    (lambda: data.sliding_windows(np.arange(9.0), 2.0), TypeError, "sliding_windows: window must be a whole number"),
    (
        lambda: data.sliding_windows(np.arange(9.0), 2, stride=0),
        ValueError,
        "sliding_windows: stride must be a whole number ≥ 1",
    ),
    (lambda: data.split_series(np.arange(9.0), 0.5), ValueError, "split_series: fractions must be positive"),
    (lambda: data.split_series(np.arange(9.0), (0.5, float("nan"))), ValueError, "split_series: fractions must"),
    (lambda: data.split_series(np.arange(9.0), ("a", "b")), TypeError, "split_series: fractions must be a sequence"),
    (lambda: data.check_series("abc"), TypeError, "check_series: the series must be numeric"),
    (lambda: data.Vocabulary(5), TypeError, "Vocabulary: chars must be a str or a list of single characters"),
    (lambda: data.Vocabulary(["ab", "c"]), TypeError, "Vocabulary: chars must be"),
    (lambda: v.decode([0, 1.5]), TypeError, "Vocabulary.decode: ids must be whole numbers"),
    (lambda: v.decode(["a"]), TypeError, "Vocabulary.decode: ids must be whole numbers"),
    (lambda: v.one_hot([0.5]), TypeError, "Vocabulary.one_hot: ids must be whole numbers"),
    (lambda: v.one_hot([0], dtype="nope"), TypeError, "Vocabulary.one_hot: dtype 'nope' is not a numpy data type"),
    (lambda: data.load_text("../README"), ValueError, "load_text: name must be the name of a shipped text"),
    (lambda: data.load_text(3), ValueError, "load_text: name must be"),
    (lambda: std.transform(np.ones((4, 3))), ValueError, "Standardizer.transform: values of shape \\(4, 3\\)"),
    (lambda: std.inverse("abc"), TypeError, "Standardizer.inverse: the values must be numbers"),
    # optim
    (lambda: optim.SGD(5, lr=0.1), TypeError, "SGD: params must be a list of Tensors or a Module"),
    (lambda: optim.SGD([P], lr=0.1, momentum=1.0), ValueError, "SGD: momentum must be a finite number ≥ 0 and < 1"),
    (lambda: optim.SGD([P], lr=0.1, momentum="0.9"), TypeError, "SGD: momentum must be a real number"),
    (lambda: optim.Adam([P], betas=0.9), TypeError, "Adam: betas must be a pair"),
    (lambda: optim.Adam([P], betas=(0.9, float("nan"))), ValueError, "Adam: betas\\[1\\] must be a finite number"),
    (lambda: optim.clip_grad_norm([P], float("nan")), ValueError, "clip_grad_norm: max_norm must be a finite number"),
    (lambda: optim.clip_grad_norm([P], np.float32(0) == 0), TypeError, "clip_grad_norm: max_norm must be a real"),
    (lambda: optim.clip_grad_value([P], -1), ValueError, "clip_grad_value: clip_value must be a finite number > 0"),
    (lambda: optim.l1_penalty([P], float("inf")), ValueError, "l1_penalty: weight must be a finite number ≥ 0"),
    (lambda: optim.l2_penalty([P], "1"), TypeError, "l2_penalty: weight must be a real number"),
    # functional
    (lambda: F.softmax("abc"), TypeError, "softmax: Tensor: data must be real numbers"),
    (lambda: F.softmax(X, axis=2), ValueError, "softmax: axis 2 is out of range"),
    (lambda: F.log_softmax(X, axis=0.5), TypeError, "log_softmax: axis must be a whole number"),
    (lambda: F.tanh(None), TypeError, "tanh: Tensor: data must be"),
    (lambda: F.cross_entropy(Tensor(1.0), 0), ValueError, "cross_entropy: the scores need a last axis of K ≥ 1"),
    (lambda: F.cross_entropy(X, ["a", "b"]), TypeError, "cross_entropy: the target must be class indices"),
    (lambda: F.cross_entropy(X, [0, 1], reduction="max"), ValueError, "cross_entropy: reduction must be"),
    (lambda: F.mse_loss(X, np.zeros(2)), ValueError, "mse_loss: prediction has shape \\(2, 3\\)"),
    (lambda: F.mse_loss([["a"]], 0.0), TypeError, "mse_loss: Tensor: data must be"),
    # tensor
    (lambda: X.sum(axis=1.5), TypeError, "sum: axis must be a whole number or a tuple of whole numbers, got 1.5"),
    (lambda: X.sum(axis=True), TypeError, "sum: axis must be a whole number"),
    (lambda: X.sum(axis=(0, 0)), ValueError, "sum: axis \\(0, 0\\) names an axis twice"),
    (lambda: X.sum(axis=(0, -2)), ValueError, "sum: axis \\(0, -2\\) names an axis twice"),
    (lambda: X.mean(axis="0"), TypeError, "mean: axis must be a whole number"),
    (lambda: X.prod(axis=2), ValueError, "prod: axis 2 is out of range for shape \\(2, 3\\)"),
    (lambda: X.sum(keepdims="yes"), TypeError, "sum: keepdims must be True or False"),
    (lambda: X.max(axis=[5]), ValueError, "max: axis \\[5\\] is out of range"),
    (lambda: X.reshape("a"), TypeError, "reshape: cannot apply to shapes \\(2, 3\\)"),
    (lambda: X.reshape(4), ValueError, "reshape: cannot apply to shapes \\(2, 3\\)"),
    (lambda: X.unsqueeze(10**12), ValueError, "unsqueeze"),
    (lambda: X ** "2", TypeError, "pow: the exponent must be a real number or a tensor, got str"),
    (lambda: X + "a", TypeError, "add: Tensor: data must be real numbers"),
    (lambda: X * None, TypeError, "mul: Tensor: data must be"),
    (lambda: X @ np.ones(2), ValueError, "matmul: \\(2, 3\\) @ \\(2,\\) — inner dimensions 3 and 2 differ"),
    (lambda: X < "a", TypeError, "less: cannot compare shape \\(2, 3\\)"),
    (lambda: Tensor([1.0], requires_grad="yes"), TypeError, "Tensor: requires_grad must be True or False"),
    (lambda: Tensor(["a"]), TypeError, "Tensor: data must be real numbers; got dtype <U1"),
    (lambda: (P * 2).backward(np.ones(3)), ValueError, "backward\\(grad\\): grad has shape \\(3,\\)"),
    (lambda: (P * 2).backward("x"), TypeError, "backward\\(grad\\): data must be"),
    (lambda: stack(5), TypeError, "stack: expected a sequence of tensors, got int"),
    (lambda: stack([]), ValueError, "stack: needs one or more tensors, got none"),
    (lambda: stack([X, "a"]), TypeError, "stack: Tensor: data must be"),
    (lambda: stack([X, X], axis=3), ValueError, "stack: axis 3 is out of range"),
    (lambda: concatenate([]), ValueError, "concatenate: needs one or more tensors"),
    (lambda: concatenate([X, X], axis=1.0), TypeError, "concatenate: axis must be a whole number"),
    (lambda: topological_order([X]), TypeError, "topological_order: root must be a Tensor, got list"),
    (lambda: apply(ops.Exp, np.ones(2)), TypeError, "exp: inputs must be Tensors, got \\['ndarray'\\]"),
    (lambda: where([True], X, ["a"]), TypeError, "where: Tensor: data must be"),
]


@pytest.mark.parametrize("call, err, match", REFUSED, ids=[f"{i}:{r[2][:40]}" for i, r in enumerate(REFUSED)])
def test_bad_arguments_get_an_error_naming_the_function_and_the_argument(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_lists_of_axes_are_accepted_as_tuples():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = leaf(a)
    np.testing.assert_array_equal(x.sum(axis=[0, 2]).data, a.sum(axis=(0, 2)))
    np.testing.assert_array_equal(x.max(axis=[-1]).data, a.max(axis=-1))
    gc.gradcheck(lambda x: x.prod(axis=[0, 1]), leaf(a / 24 + 0.5))
    assert x.sum(axis=np.int64(1)).shape == (2, 4)
