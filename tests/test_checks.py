"""grader.checks: verdicts, hints for each classic bug, partial credit, and robustness to tampering."""
import numpy as np
import pytest

from grader import checks


@pytest.fixture
def g():
    return np.random.default_rng(5).standard_normal((4, 3))


def fails_with(fn, *fragments):
    with pytest.raises(AssertionError) as info:
        fn()
    for f in fragments:
        assert f in str(info.value), str(info.value)
    return str(info.value)


def test_passes_within_threshold_and_returns_error(g):
    assert checks.assert_gradient("grad_W", g * (1 + 1e-9), g) < 1e-6
    assert checks.assert_close("y_hat", g, g) == 0.0


def test_message_names_quantity_shape_error_threshold_and_worst_entry(g):
    bad = g.copy()
    bad[2, 1] += 1.0
    msg = fails_with(lambda: checks.assert_gradient("grad_W[1]", bad, g),
                     "grad_W[1]", "(4, 3)", "threshold 1.0e-06", "worst entry (2, 1)")
    assert "analytic" in msg and "numeric" in msg


@pytest.mark.parametrize("transform,hint", [
    (lambda g: 8 * g, "off by a factor B = 8"),
    (lambda g: g / 8, "1/B = 1/8"),
    (lambda g: -g, "sign is flipped"),
    (lambda g: 2 * g, "factor 2"),
    (lambda g: 0.5 * g, "factor 1/2"),
    (lambda g: 3.7 * g, "the same factor 3.7"),
    (lambda g: np.zeros_like(g), "all zeros"),
    (lambda g: g + np.nan, "nan or inf"),
])
def test_hints_for_classic_bugs(g, transform, hint):
    fails_with(lambda: checks.assert_gradient("grad_W", transform(g), g, batch_size=8), hint)


def test_transposed_and_not_summed_hints():
    sq = np.random.default_rng(1).standard_normal((3, 3))
    fails_with(lambda: checks.assert_gradient("grad_W", sq.T, sq), "transposed")
    fails_with(lambda: checks.assert_gradient("grad_b", np.ones((8, 3)), np.ones(3), batch_size=8),
               "expected shape (3,), got shape (8, 3)", "sum over the batch axis")
    fails_with(lambda: checks.assert_gradient("grad_W", np.ones((3, 4)), np.ones((4, 3))), "transposed")


def test_candidate_hint_for_derivative_at_the_output(g):
    wrong = g * 0.3
    fails_with(lambda: checks.assert_gradient(
                   "delta", wrong, g, candidates={"derivative taken at the output a instead of the input z": wrong}),
               "derivative taken at the output")


def test_cases_give_partial_credit_and_isolate_failures(capsys):
    cases = checks.Cases("mlp_backward", points=3)
    cases.run("passes", lambda: None)
    cases.run("wrong", lambda: checks.assert_close("grad_b", [1.0], [2.0]))
    cases.run("crashes", lambda: [][1])
    cases.run("todo", lambda: (_ for _ in ()).throw(NotImplementedError()))
    assert cases.score() == 0.75
    out = capsys.readouterr()
    assert "1/4 checks passed -> 0.75 of 3 points" in out.out
    assert "IndexError" in out.out and "not implemented yet" in out.out and "grad_b" in out.out
    assert out.err == ""


def test_cases_keep_warnings_and_stderr_out_of_the_cell(capsys):
    import sys
    import warnings

    cases = checks.Cases("noisy", points=1)
    cases.run("warns", lambda: (warnings.warn("careful", stacklevel=2), np.log(np.zeros(1)), print("to stderr", file=sys.stderr)))
    assert cases.score() == 1.0
    assert capsys.readouterr().err == ""


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):
        raise TypeError("not an array")


class Liar(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)

    def __sub__(self, other):
        return np.zeros(np.shape(self))


def test_always_equal_objects_and_lying_subclasses_do_not_pass(g):
    fails_with(lambda: checks.assert_gradient("grad_W", AlwaysEqual(), g), "expected an array of numbers")
    liar = np.zeros_like(g).view(Liar)
    fails_with(lambda: checks.assert_gradient("grad_W", liar, g), "all zeros")
    fails_with(lambda: checks.assert_close("y_hat", None, g), "got None")


def test_replaced_numpy_functions_do_not_change_verdicts(g, monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np.linalg, "norm", lambda *a, **k: 0.0)
    monkeypatch.setattr(np, "abs", lambda x: x * 0)
    monkeypatch.setattr(np, "sum", lambda *a, **k: 0.0)
    fails_with(lambda: checks.assert_gradient("grad_W", 2 * g, g), "factor 2")


def test_numeric_vjp_and_random_array():
    gen = checks.rng("case-1")
    x = checks.random_array(gen, (5, 4), min_abs=0.1)
    assert np.all(np.abs(x) >= 0.1)
    G = gen.standard_normal((5, 4))
    np.testing.assert_allclose(checks.numeric_vjp(np.tanh, x, G), G * (1 - np.tanh(x) ** 2), rtol=1e-7)
    np.testing.assert_array_equal(checks.rng("same").random(3), checks.rng("same").random(3))


def test_specific_candidate_hint_wins_over_generic_all_zeros(g):
    zeros = np.zeros_like(g)
    fails_with(lambda: checks.assert_gradient(
                   "grad_W", zeros, g, candidates={"the bias norm was taken instead of the weight norm": zeros}),
               "bias norm was taken")


def test_scalar_messages_have_no_shape_noise():
    msg = fails_with(lambda: checks.assert_close("loss", 2.0, 1.0), "loss: got 2, expected 1", "factor 2")
    assert "shape" not in msg and "worst entry" not in msg


def test_a_single_wrong_number_gets_no_made_up_factor_hint():
    """One number is "a factor" of any other: no hint unless a known bug fits."""
    with pytest.raises(AssertionError) as info:
        checks.assert_close("loss", 0.7658 * 3.0, 3.0)
    assert "factor" not in str(info.value)


def test_scalar_messages_show_enough_digits_to_see_the_difference():
    with pytest.raises(AssertionError) as info:
        checks.assert_close("sum of probabilities", 1.0 + 1.5e-9, 1.0, rtol=1e-12)
    message = str(info.value)
    assert "got 1," not in message and "1.0000000015" in message


def test_float32_results_are_judged_at_float32_accuracy():
    x = np.linspace(-3, 3, 50)
    exact = np.tanh(x)
    checks.assert_close("tanh in float32", np.tanh(x.astype(np.float32)), exact)   # right maths, float32
    with pytest.raises(AssertionError):
        checks.assert_close("wrong in float32", (1.001 * np.tanh(x)).astype(np.float32), exact)
    with pytest.raises(AssertionError):  # float64 keeps the tight tolerance
        checks.assert_close("float64", exact * (1 + 1e-6), exact)


def _cell_report(capsys, factors, batch_size=None):
    """The printed report of a cell whose i-th case returns factors[i] times the right gradient."""
    expected = np.random.default_rng(3).standard_normal((4, 3))
    cases = checks.Cases("softmax_temperature_backward", points=2)
    for i, factor in enumerate(factors):
        cases.run(f"case {i}", lambda f=factor: checks.assert_close("dL/dZ", f * expected, expected,
                                                                      batch_size=batch_size))
    cases.score()
    return capsys.readouterr().out


def test_a_cause_is_named_only_when_every_failing_case_is_off_by_the_same_factor(capsys):
    """A 1/T too many is off by 2 where T = 1/2 and by 1/3 where T = 3: no "squared loss" cause for it."""
    out = _cell_report(capsys, [2.0, 1.0, 1 / 3, 4.0])
    assert "squared loss" not in out and "a factor 2 missing" not in out
    assert out.count("changes from case to case") == 3
    for shown in ("factor 2 here", "factor 0.3333 here", "factor 4 here"):
        assert shown in out, out
    out = _cell_report(capsys, [2.0, 1.0, 2.0])  # the same factor everywhere it fails: the cause stays
    assert out.count("the 1/2 of the squared loss missing") == 2 and "changes from case to case" not in out
    out = _cell_report(capsys, [-1.0, -1.0])
    assert out.count("the sign is flipped") == 2


def test_a_missing_mean_over_batches_of_different_sizes_keeps_its_hint(capsys):
    """Off by B = 4 in one case and B = 2 in another is one cause (the 1/B), not two factors."""
    expected = np.random.default_rng(3).standard_normal((4, 3))
    cases = checks.Cases("mse_grad", points=1)
    for b in (4, 2):
        cases.run(f"batch {b}", lambda b=b: checks.assert_close("grad", b * expected, expected, batch_size=b))
    cases.score()
    out = capsys.readouterr().out
    assert "off by a factor B = 4" in out and "off by a factor B = 2" in out and "changes from case" not in out
