"""course_lib.data: the regression target of seed 002 and the deterministic splits."""
import numpy as np

from course_lib.data import REGRESSION_COEFFS, moons, regression_data, regression_target, seed000_problem


def test_regression_target_formula_at_known_points():
    a, b, c, d, e = REGRESSION_COEFFS
    assert regression_target(np.array(0.0)) == a  # cos 0 = 1, the other terms vanish
    x = 2.0
    assert np.isclose(regression_target(x), a * np.cos(b * x) + x * np.sin(c * x) - d * np.tanh(e * x))


def test_regression_grid():
    X, y = regression_data()
    assert X.shape == (201, 1) and y.shape == (201, 1)
    assert X[0, 0] == -5.0 and X[-1, 0] == 5.0
    np.testing.assert_allclose(np.diff(X[:, 0]), 0.05)


def test_splits_are_deterministic():
    a, b = moons(n_samples=200), moons(n_samples=200)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert a[0].dtype == np.float64 and a[2].dtype == np.int64
    X, y = seed000_problem(B=3)
    assert X.shape == (3, 200) and 0 <= X.min() and X.max() < 1 and 0 <= y.min() and y.max() < 10


def test_digits_split_is_fixed_disjoint_stratified_and_scaled():
    from course_lib.data import digits

    X_train, y_train, X_val, y_val, X_test, y_test = digits()
    assert (X_train.shape, X_val.shape, X_test.shape) == ((1097, 64), (300, 64), (400, 64))
    assert X_train.dtype == np.float64 and y_train.dtype == np.int64
    X_all = np.concatenate([X_train, X_val, X_test])
    assert X_all.min() == 0.0 and X_all.max() == 1.0  # 0..16 grey levels scaled to [0, 1]
    assert len(X_all) == 1797  # every image in exactly one split (the sizes add up to the data set)
    for y in (y_train, y_val, y_test):  # stratified: every digit about a tenth of every split
        assert np.bincount(y, minlength=10).min() >= 0.09 * len(y)
    again = digits()
    np.testing.assert_array_equal(again[0], X_train)
    np.testing.assert_array_equal(again[5], y_test)
