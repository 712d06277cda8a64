"""The grade cells of lesson 07 (capstone) run by the trusted checker (grader.checks.lesson07) against local students."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from lesson_harness import Lesson, LessonTests

from grader.checks import lesson07

# the hint each planted bug's feedback must show, by the bug's replacement text
BUG_HINTS = {
    "mask = (U >= p) * 1.0": "not rescaled by 1/(1 - p)",
    "return A * (U >= p) / (1.0 - p), (U >= p) / (1.0 - p)": "the mask is applied in evaluation mode",
    "d_diff += 2.0 * cache[\"diff\"] * d_var / (B - 1)": "B - 1 (the unbiased variance)",
    "d_h_pre = d_diff": "the batch mean's gradient is forgotten",
    "d_shifted = d_logprobs": "the log-sum-exp's term is missing",
    "B * d_xhat - d_xhat.sum(axis=0)": "the variance's term is missing",
    "return P": "the 1/B of the mean over the batch is missing",
    "pass  # (the update of beta is missing)": "every parameter must be updated, beta included",
}
LESSON = Lesson("07_capstone", bug_seed=7, bug_key="replace", bug_hints=BUG_HINTS,
                grade_ids={"test_dropout", "test_batchnorm_atoms", "test_cross_entropy_atoms", "test_batchnorm_fused",
                           "test_cross_entropy_fused", "test_training"})
POINTS, SOLUTION_CELLS = LESSON.points, LESSON.solution_cells
solution_ns = LESSON.solution_fixture()
with_cells, grade = LESSON.with_cells, LESSON.grade


class TestLesson(LessonTests):
    """Full points for the solution, 0 for the blank notebook, each planted bug costs exactly its cells."""

    lesson = LESSON


WRONG = {  # wrong answers in styles not in bugs.json: (exercise, source, grade_id, fragment of the feedback)
    "istd without keepdims": ("batchnorm_atoms", SOLUTION_CELLS["batchnorm_atoms"].replace(
        'd_istd = (d_xhat * cache["diff"]).sum(axis=0, keepdims=True)', 'd_istd = (d_xhat * cache["diff"]).sum(axis=0)'),
        "test_batchnorm_atoms", "keepdims=True"),
    "power rule sign": ("batchnorm_atoms", SOLUTION_CELLS["batchnorm_atoms"].replace("* -0.5 *", "* 0.5 *"),
                        "test_batchnorm_atoms", "-0.5 (var + eps)**-1.5"),
    "fused: only the direct path": ("batchnorm_fused", (
        "def batchnorm_backward(grad_output, cache):\n    d = grad_output * cache['gamma']\n"
        "    return d * cache['istd'], (grad_output * cache['xhat']).sum(axis=0), grad_output.sum(axis=0)\n"),
        "test_batchnorm_fused", "only the direct path"),
    "softmax without the labels": ("cross_entropy_fused", (
        "def softmax_cross_entropy_backward(logits, y):\n    E = np.exp(logits - logits.max(axis=1, keepdims=True))\n"
        "    return E / E.sum(axis=1, keepdims=True) / len(y)\n"), "test_cross_entropy_fused", "not subtracted"),
    "running statistics never updated": ("training", SOLUTION_CELLS["training"].replace(
        'params["running_mean"] = (1 - MOMENTUM)', 'params["unused"] = (1 - MOMENTUM)'),
        "test_training", "the running mean was not updated"),
    "history not of the returned parameters": ("training", SOLUTION_CELLS["training"].replace(
        'history[split + "_acc"].append(float(np.mean(logits.argmax(axis=1) == ys)))',
        'history[split + "_acc"].append(0.5)'), "test_training", "fit history['train_acc'][-1]"),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_other_wrong_answers_lose_points_with_their_hint(solution_ns, name):
    exercise, source, grade_id, fragment = WRONG[name]
    assert source != SOLUTION_CELLS.get(exercise)
    score, text = grade(with_cells(solution_ns, {exercise: source}), seed=3, only={grade_id})[grade_id]
    assert score == 0.0, text
    assert fragment in text, text


def test_a_fit_that_does_not_train_fails_with_its_accuracy(solution_ns):
    lazy = SOLUTION_CELLS["training"].replace("H=128, p=0.1, lr=0.2, batch_size=32, num_epochs=30",
                                              "H=16, p=0.1, lr=0.2, batch_size=32, num_epochs=0")
    assert lazy != SOLUTION_CELLS["training"]
    score, text = grade(with_cells(solution_ns, {"training": lazy}), only={"test_training"})["test_training"]
    assert score == 0.0 and "test accuracy" in text and "< 0.97" in text, text
    assert "running_mean and running_var are still 0 and 1" in text, text


def test_the_intermediate_gradients_of_the_check_match_the_fused_closed_form():
    # the check's graph-with-overrides gives the same d_h_pre as the closed form (two independent derivations)
    gen = np.random.default_rng(0)
    cache, G = lesson07._bn_cache(gen, 6, 3)

    def graph(over):
        return lesson07.bn_graph(cache["h_pre"], cache["gamma"], cache["beta"], over)

    numeric = lesson07._node_vjp(graph, graph({}), "h_pre", "out", G)
    dxhat = G * cache["gamma"]
    xhat, B = cache["xhat"], 6
    closed = cache["istd"] / B * (B * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    assert np.linalg.norm(numeric - closed) / np.linalg.norm(closed) < 1e-7


def test_a_slow_fit_loses_its_points(solution_ns, monkeypatch):
    monkeypatch.setattr(lesson07, "TIME_LIMIT", 0.0)  # any real run takes longer than no time at all
    score, text = grade(solution_ns, only={"test_training"})["test_training"]
    assert score == 0.0 and "> 0 s" in text, text
