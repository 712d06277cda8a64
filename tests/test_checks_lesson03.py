"""The grade cells of lesson 03 run by the trusted checker (grader.checks.lesson03) against local students."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from lesson_harness import Lesson, LessonTests

# the hint each planted bug's feedback must show (the old grade cells had one for each)
BUG_HINTS = {
    "softmax": "the max-subtraction is missing",
    "softmax_jacobian": "the off-diagonal terms -a_i a_j are missing",
    "cross_entropy": "the sign is flipped",
    "softmax_temperature_backward": "only the diagonal of the softmax Jacobian",
    "train_step": "forgetting the bias",
}
LESSON = Lesson("03_softmax_cross_entropy", bug_seed=7, bug_hints=BUG_HINTS,
                grade_ids={"test_softmax", "test_log_softmax", "test_softmax_jacobian", "test_cross_entropy",
                           "test_softmax_temperature_backward", "test_train_step"})
POINTS, SOLUTION_CELLS = LESSON.points, LESSON.solution_cells
solution_ns = LESSON.solution_fixture()
with_cells, grade = LESSON.with_cells, LESSON.grade


class TestLesson(LessonTests):
    """Full points for the solution, 0 for the blank notebook, each planted bug costs exactly its cells."""

    lesson = LESSON


WRONG = {  # one wrong answer per exercise, in a style not in bugs.json
    "test_log_softmax": ("softmax", "def log_softmax(Z):\n    return np.log(softmax(Z))\n", "-inf"),
    "test_softmax_jacobian": ("softmax_jacobian", (
        "def softmax_jacobian(z):\n    e = np.exp(np.asarray(z))\n    a = e / e.sum()\n"
        "    return np.diag(a) - np.outer(a, a)\n"), "nan"),
    "test_cross_entropy": ("cross_entropy", (
        "def cross_entropy_grad(Z, y):\n    B = len(Z)\n    P = softmax(Z)\n"
        "    P[np.arange(B), y] -= 1\n    return P\n"), "1/B"),
    "test_train_step": ("train_step", (
        "_right = train_step\n"
        "def train_step(params, X, y, lr):\n    params = {k: v.copy() for k, v in params.items()}\n"
        "    return _right(params, X, y, lr)\n"), "was not changed"),
}


@pytest.mark.parametrize("grade_id", sorted(WRONG))
def test_other_wrong_answers_lose_points(solution_ns, grade_id):
    exercise, source, fragment = WRONG[grade_id]
    results = grade(with_cells(solution_ns, {exercise: source}), seed=3)
    score, text = results[grade_id]
    assert score < POINTS[grade_id], text
    if fragment:
        assert fragment in text, text


def test_train_step_sees_rebinding_in_the_dict_and_a_returned_dict(solution_ns):
    # re-assigning the dict's entries (not in place on the arrays) is still an update of the caller's params
    rebinding = ("_right = train_step\n"
                 "def train_step(params, X, y, lr):\n    copies = {k: v.copy() for k, v in params.items()}\n"
                 "    loss = _right(copies, X, y, lr)\n    params.update(copies)\n    return loss\n")
    score, text = grade(with_cells(solution_ns, {"train_step": rebinding}))["test_train_step"]
    assert score == POINTS["test_train_step"], text
    returns_dict = ("_right = train_step\n"
                    "def train_step(params, X, y, lr):\n    _right(params, X, y, lr)\n    return params\n")
    score, text = grade(with_cells(solution_ns, {"train_step": returns_dict}))["test_train_step"]
    assert score == 0.0 and "returned a dict" in text, text


# ------------------------------------------------------------------ fair verdicts (misgradings fixed)
def _score(ns: dict, exercise: str, source: str, grade_id: str, seed=None) -> tuple:
    return grade(with_cells(ns, {exercise: source}), seed)[grade_id]


GLOBAL_MAX_SOFTMAX = (
    "def softmax(Z):\n    Z = np.asarray(Z, dtype=float)\n    E = np.exp(Z - Z.max())\n"
    "    return E / E.sum(axis=1, keepdims=True)\n"
    "def log_softmax(Z):\n    Z = np.asarray(Z, dtype=float)\n    m = Z.max()\n"
    "    return Z - m - np.log(np.exp(Z - m).sum(axis=1, keepdims=True))\n")


def test_a_global_max_is_not_told_that_the_max_subtraction_is_missing(solution_ns):
    score, text = _score(solution_ns, "softmax", GLOBAL_MAX_SOFTMAX, "test_softmax")
    assert 0 < score < POINTS["test_softmax"], text  # right on one-row inputs, wrong where rows differ by ~2000
    assert "the max-subtraction is missing" not in text, text
    assert "the maximum of the whole array was subtracted" in text, text


def test_a_missing_log_softmax_keeps_the_softmax_points(solution_ns):
    only_softmax = SOLUTION_CELLS["softmax"].split("def log_softmax")[0] + (
        "def log_softmax(Z):\n    raise NotImplementedError()\n")
    score, text = _score(solution_ns, "softmax", only_softmax, "test_softmax")
    assert score == POINTS["test_softmax"], text
    assert "FAIL" not in text and "Hint:" not in text, text
    score, text = _score(solution_ns, "softmax", only_softmax, "test_log_softmax")
    assert score == 0 and "not implemented yet" in text, text


def test_a_float32_softmax_and_jacobian_earn_full_points(solution_ns):
    f32 = ("def softmax(Z):\n    Z = np.asarray(Z, dtype=np.float32)\n    E = np.exp(Z - Z.max(axis=1, keepdims=True))\n"
           "    return E / E.sum(axis=1, keepdims=True)\n"
           "def log_softmax(Z):\n    Z = np.asarray(Z, dtype=np.float32)\n    m = Z.max(axis=1, keepdims=True)\n"
           "    return Z - m - np.log(np.exp(Z - m).sum(axis=1, keepdims=True))\n")
    score, text = _score(solution_ns, "softmax", f32, "test_softmax")
    assert score == POINTS["test_softmax"], text
    jac = ("def softmax_jacobian(z):\n    z = np.asarray(z, dtype=np.float32)\n    a = np.exp(z - z.max())\n"
           "    a = a / a.sum()\n    return np.diag(a) - np.outer(a, a)\n")
    score, text = _score(solution_ns, "softmax_jacobian", jac, "test_softmax_jacobian")
    assert score == POINTS["test_softmax_jacobian"], text


def test_a_forgotten_weight_update_is_not_told_about_rebinding(solution_ns):
    no_w1 = ("_right = train_step\n"
             "def train_step(params, X, y, lr):\n    W1 = params['W1'].copy()\n    loss = _right(params, X, y, lr)\n"
             "    params['W1'][...] = W1\n    return loss\n")
    score, text = _score(solution_ns, "train_step", no_w1, "test_train_step")
    assert score == 0.0 and "params['W1']" in text and "was not changed" in text, text
    assert "Hint:" not in text, text


def test_a_copied_dict_is_told_that_nothing_changed(solution_ns):
    _, source, _ = WRONG["test_train_step"]
    score, text = _score(solution_ns, "train_step", source, "test_train_step")
    assert score == 0.0 and "None of W1, b1, W2, b2 changed" in text, text


def test_per_example_hint_only_for_per_example_losses(solution_ns):
    repeated = ("_right = cross_entropy\n"
                "def cross_entropy(Z, y):\n    return np.full(len(y), _right(Z, y))\n")
    score, text = _score(solution_ns, "cross_entropy", repeated, "test_cross_entropy")
    assert score < POINTS["test_cross_entropy"] and "expected one number" in text, text
    assert "one loss per example" not in text, text
    per_example = ("def cross_entropy(Z, y):\n    Z = np.asarray(Z, dtype=float)\n"
                   "    return -log_softmax(Z)[np.arange(len(y)), y]\n")
    score, text = _score(solution_ns, "cross_entropy", per_example, "test_cross_entropy")
    assert "one loss per example" in text, text


def test_a_non_finite_gradient_gets_no_guessed_cause(solution_ns):
    # nan from a division by the probabilities (not from a missing max-subtraction): no cause is named
    odd = ("def cross_entropy_grad(Z, y):\n    P = softmax(Z)\n    B = len(y)\n    Y = np.eye(P.shape[1])[y]\n"
           "    return (P - Y) / B * (P / P)\n")
    score, text = _score(solution_ns, "cross_entropy", odd, "test_cross_entropy")
    assert score < POINTS["test_cross_entropy"] and "contains nan or inf" in text, text
    assert "Hint:" not in text, text


# ------------------------------------------------------------------ the derivation exercise (softmax with a temperature)
TEMPERATURE_SLIPS = {  # a wrong derivation -> the hint its feedback must name
    "no 1/T": ("    return P * (G - inner) / T", "    return P * (G - inner)", "the factor 1/T of the chain rule"),
    "times T": ("    return P * (G - inner) / T", "    return P * (G - inner) * T", "multiplied by T instead of divided"),
    "P at T = 1": ("    U = Z / T  # (B, C)", "    U = Z  # (B, C)", "the probabilities were taken at temperature 1"),
    "sum over the batch": ("inner = np.sum(G * P, axis=1, keepdims=True)", "inner = np.sum(G * P, axis=0, keepdims=True)",
                           "taken over the batch (axis=0)"),
}


@pytest.mark.parametrize("slip", sorted(TEMPERATURE_SLIPS))
def test_a_wrong_temperature_derivation_loses_points_and_is_named(solution_ns, slip):
    find, replace, hint = TEMPERATURE_SLIPS[slip]
    source = SOLUTION_CELLS["softmax_temperature_backward"]
    assert source.count(find) == 1
    score, text = _score(solution_ns, "softmax_temperature_backward", source.replace(find, replace),
                         "test_softmax_temperature_backward", seed=11)
    assert score < POINTS["test_softmax_temperature_backward"], text
    assert hint in text, text


def test_a_naive_temperature_softmax_fails_only_at_extreme_logits(solution_ns):
    naive = ("def softmax_temperature_backward(Z, T, grad_output):\n    E = np.exp(np.asarray(Z) / T)\n"
             "    P = E / E.sum(axis=1, keepdims=True)\n    G = np.asarray(grad_output)\n"
             "    return P * (G - (G * P).sum(axis=1, keepdims=True)) / T\n")
    score, text = _score(solution_ns, "softmax_temperature_backward", naive, "test_softmax_temperature_backward")
    total = POINTS["test_softmax_temperature_backward"]
    assert score == pytest.approx(total * 5 / 6, abs=0.01), text  # the one case with logits near +-1000 overflows
    assert "contains nan or inf" in text, text


# ------------------------------------------------------------------ demos check the student's function first
def test_demo_version_uses_a_right_function_and_falls_back_from_a_wrong_one(solution_ns, capsys):
    ns = solution_ns
    probe = ns["probe_logits"]
    chosen = ns["demo_version"](ns["softmax"], ns["course_lib_reference"]("softmax"), "course_lib's softmax", probe)
    assert chosen is ns["softmax"]
    assert "use your function" in capsys.readouterr().out

    def softmax(Z):  # a global maximum: right on paper, nan on the probe's rows of different scales
        E = np.exp(Z - Z.max())
        return E / E.sum(axis=1, keepdims=True)
    fallback = ns["course_lib_reference"]("softmax")
    with np.errstate(all="ignore"):
        chosen = ns["demo_version"](softmax, fallback, "course_lib's softmax", probe)
    assert chosen is fallback
    assert "softmax: this lesson's demos use course_lib's softmax, because on a small test input" in capsys.readouterr().out

    def train_step(params, X, y, lr):  # right loss, no update: only the arguments afterwards show it
        return ns["train_step"]({k: v.copy() for k, v in params.items()}, X, y, lr)
    chosen = ns["demo_version"](train_step, ns["modules_train_step"], "course_lib's modules", ns["probe_step"])
    assert chosen is ns["modules_train_step"]

    def broken(Z):
        raise ValueError("shapes do not match")
    chosen = ns["demo_version"](broken, fallback, "course_lib's softmax", probe)
    assert chosen is fallback and "it raised ValueError: shapes do not match" in capsys.readouterr().out
