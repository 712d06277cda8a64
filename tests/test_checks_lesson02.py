"""The grade cells of lesson 02 run in the trusted checker: full marks, zero, planted bugs, other wrong answers."""
from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
from lesson_harness import Lesson, LessonTests

from grader.checks.student import local_student
from grader.sandbox.checker import run_grade_source

EXERCISES = ["mlp_forward", "mse_loss", "mse_grad", "mlp_backward", "weight_decay"]
QUIZZES = {"quiz_delta_shape": "answer_delta_shape", "quiz_grad_W2_size": "answer_grad_W2_size",
           "quiz_bias_sum": "answer_bias_sum"}
BUG_HINTS = {  # what the old grade cells' hints (or diagnose) say about each planted bug
    "mlp_forward": "the bias b is missing",
    "mse_loss": "the 1/2 is missing",
    "mse_grad": "the 1/B of the mean over the batch is missing",
    "mlp_backward": "sum over the batch axis",
    "weight_decay": "the 2 of the square cancels the 1/2",
    "quiz_delta_shape": "the answer is 'a'. delta of layer 1 holds one row per example",
    "quiz_grad_W2_size": "the answer is 12. the gradient of W_2 has the shape of W_2",
    "quiz_bias_sum": "the answer is 'b'. a parameter shared by all B examples gets the sum",
}
LESSON = Lesson("02_general_case", bug_seed=777, bug_hints=BUG_HINTS,
                blank_text={f"test_{quiz}": "is not defined: run the answer cell" for quiz in QUIZZES},
                grade_ids={f"test_{e}" for e in [*EXERCISES, *QUIZZES]}, quizzes={f"test_{quiz}" for quiz in QUIZZES})
SOURCES, POINTS = LESSON.sources, LESSON.points
solution_ns = LESSON.solution_fixture()


class TestLesson(LessonTests):
    """Full points for the solution, 0 for the blank notebook, each planted bug costs exactly its cells."""

    lesson = LESSON


OTHER_WRONG = [  # (exercise, find, replace, text expected in the report): wrong answers not in bugs.json
    ("mlp_forward", '{"A": A, "Z": Z', '{"A": A[1:], "Z": Z', "cache['A']: expected"),
    ("mse_loss", "0.5 * np.sum(residual ** 2) / y_hat.shape[0]", "0.5 * np.mean(residual ** 2)",
     "np.mean over every entry"),
    ("mse_grad", "return residual / y_hat.shape[0]", "return -residual / y_hat.shape[0]", "the sign is flipped"),
    ("mlp_backward", "phi_prime(Z[l])", "phi_prime(A[l + 1])", "taken at the output A"),
    ("weight_decay", "0.5 * lam * sum(", "lam * sum(", "the 1/2 of (lam / 2) sum ||W||^2 is missing"),
    ("weight_decay", "grad_Ws = [lam * np.asarray(W, dtype=float) for W in Ws]",
     "grad_Ws = [2 * lam * np.asarray(W, dtype=float) for W in Ws]", "not 2 lam W"),
    ("weight_decay", "grad_Ws = [lam * np.asarray(W, dtype=float) for W in Ws]",
     "grad_Ws = [lam * np.asarray(W, dtype=float) ** 2 for W in Ws]", "not lam W**2"),
]


@pytest.mark.parametrize("exercise, find, replace, expected", OTHER_WRONG, ids=[w[0] for w in OTHER_WRONG])
def test_other_wrong_answer_loses_points(solution_ns, exercise, find, replace, expected):
    ns = LESSON.patched(solution_ns, exercise, find, replace)
    score, text = LESSON.score(ns, f"test_{exercise}")
    assert score < POINTS[f"test_{exercise}"], text
    assert expected in text, text


def test_wrong_return_type_is_reported(solution_ns):
    """A result that is not plain data (here a generator) fails with a message, not a crash."""
    ns = dict(solution_ns)
    exec("def mlp_backward(cache, Ws, grad_y_hat):\n    return (g for g in Ws)\n", ns)  # noqa: S102
    score, text = LESSON.score(ns, "test_mlp_backward")
    assert score == 0.0
    assert "mlp_backward: expected to return (grad_Ws, grad_bs), got generator" in text


# ------------------------------------------------------------------ fair verdicts (misgradings fixed)
@pytest.mark.parametrize("body", ["return np.array([0.5 * np.sum((y_hat - y) ** 2) / len(y_hat)])",
                                  "return np.float32(0.5 * np.sum((y_hat - y) ** 2) / len(y_hat))",
                                  "return [0.5 * float(np.sum((y_hat - y) ** 2)) / len(y_hat)]"],
                         ids=["one-entry array", "float32", "one-item list"])
def test_mse_loss_accepts_one_number_in_any_container(solution_ns, body):
    """The docstring accepts a one-entry array; the check used to refuse it (shape (1,) vs ())."""
    ns = dict(solution_ns)
    exec(f"def mse_loss(y_hat, y):\n    {body}\n", ns)  # noqa: S102
    score, text = LESSON.score(ns, "test_mse_loss")
    assert score == POINTS["test_mse_loss"], text
    assert "Hint" not in text, text


def test_mse_loss_per_column_gets_no_wrong_hint(solution_ns):
    """A loss summed over the batch only (shape (d,)) used to be told "one row per example: sum over axis 0"."""
    ns = dict(solution_ns)
    exec("def mse_loss(y_hat, y):\n    return 0.5 * np.sum((y_hat - y) ** 2, axis=0) / len(y_hat)\n", ns)  # noqa: S102
    score, text = LESSON.score(ns, "test_mse_loss")
    assert score < POINTS["test_mse_loss"], text
    assert "expected one number, got an array of shape (3,): one value per output column" in text, text
    assert "Hint" not in text, text


def test_mlp_backward_wrong_shape_gets_no_batch_hint_it_does_not_fit(solution_ns):
    """grad_W of shape (B, n_L) at B = 1 used to be told "the batch axis should have been summed away"."""
    ns = dict(solution_ns)
    exec("def mlp_backward(cache, Ws, grad_y_hat):\n    return [grad_y_hat] * len(Ws), [grad_y_hat] * len(Ws)\n",  # noqa: S102
         ns)
    score, text = LESSON.score(ns, "test_mlp_backward")
    assert score == 0.0, text
    assert "grad_W[0]: expected shape (3, 2), got shape (1, 2)." in text, text
    assert "Hint" not in text, text


@pytest.mark.parametrize("quiz_id, name", list(QUIZZES.items()))
def test_a_quiz_answer_is_checked_only_when_graded(solution_ns, quiz_id, name):
    """While the student works (hidden cases left out) an answer is recorded, scored provisionally, and not revealed."""
    source = SOURCES[f"test_{quiz_id}"]
    head, _, rest = source.partition("### BEGIN HIDDEN TESTS\n")
    visible = head + rest.partition("### END HIDDEN TESTS\n")[2]
    outputs, value = run_grade_source(visible, local_student(dict(solution_ns)), seed=1)
    text = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert value == POINTS[f"test_{quiz_id}"] and "provisional" in text and "checked when the lesson is graded" in text, text
    assert "the answer is" not in text, text


@pytest.mark.parametrize("answer", ['"A"', '" a "', "np.str_('a')"])
def test_the_delta_shape_quiz_accepts_any_case(solution_ns, answer):
    ns = dict(solution_ns)
    exec(f"answer_delta_shape = {answer}", ns)  # noqa: S102
    assert LESSON.score(ns, "test_quiz_delta_shape")[0] == POINTS["test_quiz_delta_shape"]


def test_weight_decay_accepts_another_formula(solution_ns):
    ns = dict(solution_ns)
    exec("def weight_decay(Ws, lam):\n"  # noqa: S102
         "    return [lam / 2 * sum(np.linalg.norm(W) ** 2 for W in Ws)], tuple(lam * W for W in Ws)\n", ns)
    score, text = LESSON.score(ns, "test_weight_decay")
    assert score == POINTS["test_weight_decay"], text
    assert "Hint" not in text, text
