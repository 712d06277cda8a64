"""course_lib.losses: MSE, sum of squared errors and the fused softmax cross-entropy."""
import numpy as np
import pytest
from conftest import central_diff, rel_err

from course_lib.functional import softmax
from course_lib.losses import MSELoss, SoftmaxCrossEntropy, SumSquaredError


@pytest.mark.parametrize("B", [1, 7])
def test_mse_value_and_gradient(B, rng):
    y_hat, y = rng.standard_normal((B, 3)), rng.standard_normal((B, 3))
    loss = MSELoss()
    assert loss.forward(y_hat, y) == pytest.approx(np.sum((y_hat - y) ** 2) / (2 * B))
    g = loss.backward()
    assert rel_err(g, central_diff(lambda v: MSELoss().forward(v, y), y_hat)) < 1e-8
    np.testing.assert_allclose(g, (y_hat - y) / B)


def test_sum_squared_error_gradient(rng):
    y_hat, y = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    loss = SumSquaredError()
    loss.forward(y_hat, y)
    assert rel_err(loss.backward(), central_diff(lambda v: SumSquaredError().forward(v, y), y_hat)) < 1e-8


@pytest.mark.parametrize("B", [1, 7])
def test_cross_entropy_backward_is_softmax_minus_onehot_over_B(B, rng):
    Z = rng.standard_normal((B, 4)) * 3
    y = rng.integers(0, 4, size=B)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(Z, y)
    P = softmax(Z)
    assert value == pytest.approx(-np.mean(np.log(P[np.arange(B), y])), rel=1e-12)
    onehot = np.eye(4)[y]
    np.testing.assert_allclose(loss.backward(), (P - onehot) / B, rtol=1e-14)
    assert rel_err(loss.backward(), central_diff(lambda v: SoftmaxCrossEntropy().forward(v, y), Z)) < 1e-8


def test_cross_entropy_accepts_one_hot_and_is_finite_at_extreme_logits():
    Z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    loss = SoftmaxCrossEntropy()
    assert loss.forward(Z, np.array([0, 1])) == 0.0
    assert loss.forward(Z, np.array([[0.0, 1.0], [1.0, 0.0]])) == pytest.approx(2000.0)
    assert np.all(np.isfinite(loss.backward()))


def test_cross_entropy_matches_torch_float64(rng):
    torch = pytest.importorskip("torch")
    Z, y = rng.standard_normal((7, 3)), rng.integers(0, 3, size=7)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(Z, y)
    tZ = torch.tensor(Z, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tZ, torch.tensor(y))
    tl.backward()
    assert value == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), tZ.grad.numpy(), rtol=1e-10)


def test_loss_shape_errors():
    with pytest.raises(ValueError, match=r"MSELoss y: expected shape \(3, 2\), got \(3, 4\)"):
        MSELoss().forward(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"SoftmaxCrossEntropy y: expected shape \(3,\), got \(2,\)"):
        SoftmaxCrossEntropy().forward(np.zeros((3, 2)), np.zeros(2, dtype=int))
    with pytest.raises(RuntimeError, match="before forward"):
        SoftmaxCrossEntropy().backward()
