"""The grade cells of lesson 06 run by the trusted checker (grader.checks.lesson06) against local students.

The solution scores full points with two seeds; the blank lesson scores 0; each
planted bug of bugs.json loses exactly its grade cells' points (with its hint);
one more wrong answer per exercise loses points.
"""
from __future__ import annotations

import os

import pytest
from lesson_harness import Lesson, LessonTests

os.environ.setdefault("MPLBACKEND", "Agg")

#: The hint each planted bug must produce (the old grade cells had one for every bug).
BUG_HINTS = {
    "layer_grad_norms": "names ending in 'b' are biases",
    "residual_backward": "the identity path of the skip connection is missing",
    "answer_skip": "the answer is 'b'. dY/dX = I + J",
    "initialisations": "the variance came out as the square of the",
    "saturated_fraction": "the derivative was taken at the output",
}

#: Wrong answers that bugs.json does not plant: (exercise, find, replace, expected hint or "").
OTHER_WRONG = [
    ("layer_grad_norms", "    model.zero_grad()                                  # forget", "    pass  # forget",
     "the stale gradients were not cleared"),
    ("residual_backward", "delta = grad_output * (1 - np.tanh(Z) ** 2)", "delta = grad_output * (1 - np.tanh(np.tanh(Z)) ** 2)",
     "tanh' was taken at the output"),
    ("residual_backward", "grad_W = X.T @ delta", "grad_W = (X.T @ delta).T", ""),
    ("initialisations", "return normal_init(d_in, d_out, 2.0 / (d_in + d_out), rng)",
     "return normal_init(d_in, d_out, 1.0 / (d_in + d_out), rng)", "the factor 2 is missing"),
    ("initialisations", "return rng.standard_normal((d_in, d_out)) * np.sqrt(variance)",
     "return np.random.standard_normal((d_in, d_out)) * np.sqrt(variance)",
     "different matrices"),
    ("saturated_fraction", "slopes < threshold", "slopes >= threshold", "NOT saturated"),
    ("saturated_fraction", 'raise ValueError("saturated_fraction: the model has no Tanh or Sigmoid layer")',
     "return 0.0", "expected a ValueError"),
]
LESSON = Lesson("06_vanishing_gradients", seed=12345, bug_seed=12345, bug_hints=BUG_HINTS,
                blank_text={"test_answer_skip": "answer_skip is not defined"},
                grade_ids={"test_layer_grad_norms", "test_residual_backward", "test_answer_skip", "test_initialisations",
                           "test_saturated_fraction"}, quizzes={"test_answer_skip"})
NB, POINTS, SOLUTIONS = LESSON.nb, LESSON.points, LESSON.solution_cells
solution_ns = LESSON.solution_fixture()


class TestLesson(LessonTests):
    """Full points for the solution, 0 for the blank notebook, each planted bug costs exactly its cells."""

    lesson = LESSON


def test_no_import_line_outside_grade_cells_names_the_grader():
    for cell in NB["cells"]:
        if cell["cell_type"] == "code" and not cell["metadata"].get("nbgrader", {}).get("grade"):
            assert "grader" not in "".join(line for line in cell["source"] if "import" in line)


@pytest.mark.parametrize("exercise, find, replace, hint", OTHER_WRONG, ids=[w[0] + "-" + w[2][:20] for w in OTHER_WRONG])
def test_other_wrong_answer_loses_points(solution_ns, exercise, find, replace, hint):
    ns = LESSON.patched(solution_ns, exercise, find, replace)
    score, text = LESSON.score(ns, "test_" + exercise)
    assert score < POINTS["test_" + exercise], text
    assert hint in text, text


def test_dict_subclass_is_read(solution_ns):
    ns = LESSON.patched(solution_ns, "layer_grad_norms", "    return result\n",
                  "    import collections\n    return collections.OrderedDict(result)\n")
    score, text = LESSON.score(ns, "test_layer_grad_norms")
    assert score == POINTS["test_layer_grad_norms"], text


def test_list_instead_of_dict_is_refused(solution_ns):
    ns = LESSON.patched(solution_ns, "layer_grad_norms", "    return result\n", "    return list(result.values())\n")
    score, text = LESSON.score(ns, "test_layer_grad_norms")
    assert score == 0.0 and "expected a dict" in text, text


def test_saturated_fraction_averaged_per_layer_loses_points(solution_ns):
    """Layers of unequal widths: the mean of the per-layer fractions is not the pooled fraction."""
    source = SOLUTIONS["saturated_fraction"]
    for find, replace in (("saturated += int(np.count_nonzero(slopes < threshold))",
                           "saturated += float(np.mean(slopes < threshold))"),
                          ("total += slopes.size", "total += 1")):
        assert source.count(find) == 1, find
        source = source.replace(find, replace)
    score, text = LESSON.score(LESSON.with_cells(solution_ns, {"saturated_fraction": source}), "test_saturated_fraction")
    assert score < POINTS["test_saturated_fraction"], text
    assert "pool the counts of all layers" in text, text


def test_saturated_fraction_zero_is_a_fraction_not_an_error(solution_ns):
    ns = LESSON.patched(solution_ns, "saturated_fraction", "    if total == 0:\n", "    if saturated == 0:\n")
    score, text = LESSON.score(ns, "test_saturated_fraction")
    assert score < POINTS["test_saturated_fraction"], text
    assert "no unit saturated" in text, text


def test_float32_results_are_judged_at_float32_precision(solution_ns):
    ns = LESSON.patched(solution_ns, "residual_backward", "return grad_X, grad_W, grad_b",
                  "return grad_X.astype(np.float32), grad_W.astype(np.float32), grad_b.astype(np.float32)")
    score, text = LESSON.score(ns, "test_residual_backward")
    assert score == POINTS["test_residual_backward"], text
    ns = LESSON.patched(solution_ns, "saturated_fraction", "return saturated / total", "return np.float32(saturated / total)")
    score, text = LESSON.score(ns, "test_saturated_fraction")
    assert score == POINTS["test_saturated_fraction"], text


@pytest.mark.parametrize("form, message", [
    (lambda grads: list(grads), None),                       # a list is as good as a tuple
    (lambda grads: grads[:2], "expected a tuple (grad_X, grad_W, grad_b), got tuple of length 2"),
    (lambda grads: {"X": grads[0]}, "expected a tuple (grad_X, grad_W, grad_b), got dict"),
    (lambda grads: (grads[0] - 0 * grads[0], grads[1].T, grads[2]), "the result is transposed"),
], ids=["a list", "two arrays", "a dict", "grad_W transposed"])
def test_residual_backward_forms(solution_ns, form, message):
    original = solution_ns["residual_backward"]
    ns = dict(solution_ns, residual_backward=lambda *args: form(original(*args)))
    score, text = LESSON.score(ns, "test_residual_backward")
    if message is None:
        assert score == POINTS["test_residual_backward"], text
    else:
        assert score < POINTS["test_residual_backward"] and message in text, text


def test_residual_backward_without_the_branch_is_told_so(solution_ns):
    ns = LESSON.patched(solution_ns, "residual_backward", "grad_X = grad_output + delta @ W.T",
                        "grad_X = grad_output + 0 * delta")
    score, text = LESSON.score(ns, "test_residual_backward")
    assert score == 0.0 and "only the identity path" in text, text


@pytest.mark.parametrize("answer", ["a", "c", "d"])
def test_a_wrong_answer_on_the_skip_explains_the_identity_term(solution_ns, answer):
    score, text = LESSON.score(dict(solution_ns, answer_skip=answer), "test_answer_skip")
    assert score == 0.0 and "the I term passes grad_output to X unchanged" in text, text
