"""course_lib.init: each scheme's variance, checked statistically with a fixed seed."""
import numpy as np
import pytest

from course_lib.init import init_std, init_weights, make_rng

TARGET_VAR = {"normal": lambda i, o: 1.0, "lecun": lambda i, o: 1 / i,
              "xavier": lambda i, o: 2 / (i + o), "he": lambda i, o: 2 / i}


@pytest.mark.parametrize("scheme", sorted(TARGET_VAR))
def test_sample_variance_within_four_standard_errors(scheme):
    d_in, d_out = 300, 200
    W = init_weights(d_in, d_out, scheme, rng=7)
    target = TARGET_VAR[scheme](d_in, d_out)
    n = W.size
    se = target * np.sqrt(2 / (n - 1))  # standard error of a normal sample variance
    assert abs(W.var() - target) < 4 * se
    assert abs(W.mean()) < 4 * np.sqrt(target / n)
    assert init_std(scheme, d_in, d_out) ** 2 == pytest.approx(target)


def test_schemes_are_distinguishable():
    variances = {s: init_weights(300, 200, s, rng=7).var() for s in TARGET_VAR}
    assert variances["he"] > variances["lecun"] * 1.9
    assert variances["normal"] > 100 * variances["xavier"]


def test_uniform_is_in_unit_interval_and_seeds_reproduce():
    W = init_weights(10, 20, "uniform", rng=3)
    assert W.min() >= 0 and W.max() < 1
    np.testing.assert_array_equal(init_weights(4, 5, "he", rng=1), init_weights(4, 5, "he", rng=1))
    g = np.random.default_rng(0)
    assert make_rng(g) is g


def test_bad_arguments():
    with pytest.raises(ValueError, match="init scheme: expected one of"):
        init_weights(2, 2, "glorot")
    with pytest.raises(ValueError, match="d_in: expected a positive int, got 0"):
        init_weights(0, 2)
    with pytest.raises(TypeError, match="rng: expected a numpy Generator"):
        make_rng("seed")
