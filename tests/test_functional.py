"""course_lib.functional: derivatives, stable softmax / log_softmax / logsumexp, one_hot."""
import numpy as np
import pytest
from conftest import central_diff, rel_err

from course_lib import functional as F


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "identity"])
def test_derivative_matches_central_differences(name):
    phi, dphi = F.get_activation(name)
    z = np.array([-3.1, -0.7, 0.4, 2.2, 5.0])  # away from the ReLU kink
    num = np.array([(phi(np.array(v + 1e-6)) - phi(np.array(v - 1e-6))) / 2e-6 for v in z])
    np.testing.assert_allclose(dphi(z), num, rtol=1e-7, atol=1e-10)


def test_sigmoid_is_stable_and_exact_at_extremes():
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # any overflow would raise here
        s = F.sigmoid(np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0]))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5
    assert s[1] == pytest.approx(np.exp(-40.0), rel=1e-12)


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax, F.logsumexp])
def test_extreme_logits_give_no_nan_or_inf(fn):
    Z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, 999.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = fn(Z)
    assert np.all(np.isfinite(out))


def test_softmax_values():
    Z = np.array([[1000.0, -1000.0], [0.0, np.log(3.0)]])
    P = F.softmax(Z)
    np.testing.assert_allclose(P, [[1.0, 0.0], [0.25, 0.75]], atol=1e-15)
    np.testing.assert_allclose(F.log_softmax(Z)[0], [0.0, -2000.0])
    np.testing.assert_allclose(P.sum(axis=1), 1.0)


def test_softmax_is_shift_invariant_and_matches_naive_for_small_logits(rng):
    Z = rng.standard_normal((6, 4))
    naive = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(F.softmax(Z), naive, rtol=1e-14)
    np.testing.assert_allclose(F.softmax(Z + 123.0), naive, rtol=1e-12)
    np.testing.assert_allclose(F.logsumexp(Z), np.log(np.exp(Z).sum(axis=1)), rtol=1e-14)


def test_two_class_softmax_is_sigmoid_of_logit_difference(rng):
    Z = rng.standard_normal((10, 2)) * 5
    np.testing.assert_allclose(F.softmax(Z)[:, 0], F.sigmoid(Z[:, 0] - Z[:, 1]), rtol=1e-12)


def test_softmax_jacobian_is_diag_minus_outer(rng):
    z = rng.standard_normal(4)
    a = F.softmax(z)
    J = np.stack([central_diff(lambda v: F.softmax(v)[i], z) for i in range(4)])
    assert rel_err(J, np.diag(a) - np.outer(a, a)) < 1e-8


def test_one_hot_and_its_errors():
    np.testing.assert_array_equal(F.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"labels in \[0, 3\), got values in \[0, 3\]"):
        F.one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match=r"shape \(B,\), got shape \(2, 1\)"):
        F.one_hot(np.array([[0], [1]]), 3)
    with pytest.raises(TypeError, match="integer class labels"):
        F.one_hot(np.array([0.5]), 3)
