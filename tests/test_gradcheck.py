"""course_lib.gradcheck: no 0/0, the seed-000 network judged right, planted bugs named."""
import numpy as np
import pytest

from course_lib import bugs
from course_lib.data import seed000_problem
from course_lib.gradcheck import (
    GradCheckReport,
    PrecisionWarning,
    check_model,
    directional_check,
    entrywise_relative_error,
    gradient_check,
    numerical_gradient,
    relative_error,
)
from course_lib.losses import MSELoss, SumSquaredError
from course_lib.modules import Linear, ReLU, Sequential, Tanh


def seed000_net(linear=Linear, relu=ReLU, square=False, seed=0):
    """200 -> 300 ReLU -> 1 with every weight and bias uniform on [0, 1) (optionally a square 300x300 layer inside)."""
    rng = np.random.default_rng(seed)
    layers = [linear(200, 300, init="uniform", rng=rng) if not square else Linear(200, 300, init="uniform", rng=rng), relu()]
    if square:
        layers += [linear(300, 300, init="uniform", rng=rng), ReLU()]
    layers.append(Linear(300, 1, init="uniform", rng=rng))
    net = Sequential(*layers)
    for layer in net:
        if isinstance(layer, Linear):
            layer.b[:] = rng.random(layer.b.shape)
    return net


def test_relative_error_never_divides_zero_by_zero():
    with np.errstate(all="raise"):
        assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
        assert np.all(entrywise_relative_error(np.zeros(3), np.zeros(3)) == 0.0)
    assert relative_error(np.array([1.0, 0.0]), np.array([-1.0, 0.0])) == 1.0
    assert relative_error(np.array([1.0]), np.array([1.0 + 1e-9])) == pytest.approx(5e-10, rel=1e-6)
    with pytest.raises(ValueError, match=r"one shape, got \(2,\) and \(3,\)"):
        relative_error(np.zeros(2), np.zeros(3))


def test_numerical_gradient_is_exact_for_quadratics_and_restores_x(rng):
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal(4)
    before = x.copy()
    g = numerical_gradient(lambda v: float(v @ A @ v), x)
    np.testing.assert_allclose(g, (A + A.T) @ x, rtol=1e-8)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_rejects_ints_and_warns_on_float32():
    with pytest.raises(TypeError, match="float64 array, got dtype int64"):
        numerical_gradient(lambda v: 0.0, np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="ndarray"):
        numerical_gradient(lambda v: 0.0, [1.0, 2.0])
    with pytest.warns(PrecisionWarning):
        numerical_gradient(lambda v: float(v.sum()), np.zeros(2, dtype=np.float32), eps=1e-2)


def test_gradient_check_refuses_float32_parameters():
    p = np.zeros(3, dtype=np.float32)
    with pytest.raises(TypeError, match=r"params\['W'\]: gradient checks need float64, got dtype float32"):
        gradient_check(lambda: 0.0, {"W": p}, {"W": p})


def test_seed000_naive_per_entry_check_reports_a_false_failure():
    """The anchor's failure, reproduced: correct backprop, yet per-entry relative errors far above 1e-7 in W1."""
    net = seed000_net()
    X, y = seed000_problem()
    loss = SumSquaredError()
    assert 3e7 < loss.forward(net.forward(X), y) < 1e8  # "loss near 5e7"
    net.zero_grad()
    loss.forward(net.forward(X), y)
    net.backward(loss.backward())
    W1 = net[0].W
    rows = np.random.default_rng(0).choice(200, size=4, replace=False)  # 1,200 entries are enough to see it
    sub = W1[rows]
    num = np.zeros_like(sub)
    for i, r in enumerate(rows):
        row = W1[r]  # a view: perturbing it perturbs the network
        num[i] = numerical_gradient(lambda _: loss.forward(net.forward(X), y), row)
    worst = entrywise_relative_error(net[0].grad_W[rows], num).max()
    assert worst > 1e-5, worst


@pytest.mark.parametrize("mode", ["directional", "full"])
def test_seed000_correct_gradients_pass(mode):
    net = (seed000_net() if mode == "directional"
           else Sequential(Linear(20, 30, init="uniform", rng=0), ReLU(), Linear(30, 1, init="uniform", rng=1)))
    for layer in net:
        if isinstance(layer, Linear):
            layer.b[:] = np.random.default_rng(3).random(layer.b.shape)
    X, y = seed000_problem()
    X = X[:, :net[0].d_in]
    report = check_model(net, SumSquaredError(), X, y, mode=mode)
    assert isinstance(report, GradCheckReport)
    assert report.passed, str(report)
    assert [r.name for r in report.rows] == ["0.W", "0.b", "2.W", "2.b"]
    assert report.evaluations < 100 if mode == "directional" else report.evaluations > 600


PLANTED = [
    ("bias missing from the forward pass", dict(linear=bugs.LinearBiasMissing), SumSquaredError, 1, ["0.b"]),
    ("wrong activation derivative", dict(relu=bugs.ReLUWrongDerivative), SumSquaredError, 1, ["0.W", "0.b"]),
    ("bias gradient not summed over the batch", dict(linear=bugs.LinearBiasNotSummed), MSELoss, 8, ["0.b"]),
    ("weight gradient transposed (square layer)", dict(linear=bugs.LinearTransposedGrad, square=True), SumSquaredError, 1,
     ["2.W"]),
    ("missing 1/B", dict(), bugs.MSELossMissingMean, 8, ["0.W", "0.b", "2.W", "2.b"]),
]


@pytest.mark.parametrize("label,kw,loss_cls,B,expected", PLANTED, ids=[p[0] for p in PLANTED])
def test_planted_bug_fails_naming_the_right_parameters(label, kw, loss_cls, B, expected):
    net = seed000_net(**kw)
    X, y = seed000_problem(B=B)
    report = check_model(net, loss_cls(), X, y)
    assert not report.passed
    assert report.failing() == expected, str(report)


def test_square_network_without_bugs_passes():
    X, y = seed000_problem(B=8)
    assert check_model(seed000_net(square=True), MSELoss(), X, y).passed


def test_shape_problem_reported_with_hint():
    p = np.zeros(3)
    report = directional_check(lambda: 0.0, {"b": p}, {"b": np.zeros((8, 3))})
    assert report.failing() == ["b"]
    assert "sum over the batch axis" in report["b"].detail


def test_relu_exactly_at_its_kink_is_reported_as_kink_not_failure():
    """A ReLU with a pre-activation exactly 0: numerically the slope is 1/2, analytically 0 or 1."""
    w = np.array([1.0, -2.0])
    x = np.array([2.0, 1.0])  # w . x = 0: the kink
    loss_fn = lambda: float(max(w @ x, 0.0))
    grads = {"w": np.zeros(2)}  # relu'(0) = 0 convention
    report = directional_check(loss_fn, {"w": w}, grads, num_directions=2)
    assert report["w"].status == "KINK", str(report)
    assert report.passed


def test_report_lists_every_parameter_with_verdict_and_threshold():
    net = Sequential(Linear(3, 4, rng=0), Tanh(), Linear(4, 2, rng=1))
    X = np.random.default_rng(0).standard_normal((5, 3))
    y = np.random.default_rng(1).standard_normal((5, 2))
    report = check_model(net, MSELoss(), X, y)
    text = str(report)
    for name in ("0.W", "0.b", "2.W", "2.b"):
        assert name in text
    assert "PASS" in text and report.passed
    assert all(0 <= r.rel_error < r.threshold for r in report.rows)
    with pytest.raises(KeyError, match="no parameter named 'x'"):
        report["x"]
    with pytest.raises(ValueError, match="mode"):
        gradient_check(lambda: 0.0, {}, {}, mode="fast")


def test_round_off_of_a_huge_loss_is_not_mistaken_for_a_bug():
    """L = 1e12 + ||w||^2: gradients of order 1 under a loss of 1e12, the seed-000 situation pushed further.

    Round-off in L is ~1e-4, far above what a pure relative tolerance allows; the check must
    allow for it, yet still catch a gradient that is off by a factor 2.
    """
    w = np.random.default_rng(0).standard_normal(50)
    loss_fn = lambda: 1e12 + float(w @ w)
    assert directional_check(loss_fn, {"w": w}, {"w": 2 * w}).passed
    assert directional_check(loss_fn, {"w": w}, {"w": 4 * w}).failing() == ["w"]
