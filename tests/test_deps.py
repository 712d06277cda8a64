"""grader.pipeline.deps: which grade cells a partly done lesson fails, quizzes included."""
from __future__ import annotations

from pathlib import Path

import nbformat

from grader.pipeline.deps import check_names, failing_grade_cells

LESSON02 = Path(__file__).resolve().parents[1] / "solutions" / "02_general_case" / "02_general_case.ipynb"


def test_a_quiz_reads_the_answer_it_is_given_as_a_string():
    source = 'from grader.checks import quiz\ncases = quiz.choice("answer_init", points=1)\ncases.score()\n'
    assert "answer_init" in check_names(source)


def test_an_unanswered_quiz_fails_only_its_own_grade_cell():
    nb = nbformat.read(LESSON02, as_version=4)
    assert failing_grade_cells(nb, {"quiz_bias_sum"}) == {"test_quiz_bias_sum"}
    assert failing_grade_cells(nb, {"quiz_delta_shape", "quiz_grad_W2_size"}) == {
        "test_quiz_delta_shape", "test_quiz_grad_W2_size"}


def test_an_unanswered_derivation_exercise_fails_only_its_own_grade_cell():
    nb = nbformat.read(LESSON02, as_version=4)
    assert failing_grade_cells(nb, {"weight_decay"}) == {"test_weight_decay"}
