"""The sample class's expected scores: a quiz grade cell depends on its answer cell (the name is a string argument)."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grader.pipeline.deps import check_names, failing_grade_cells

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"


def test_a_quiz_cell_uses_the_name_it_is_given():
    source = 'from grader.checks import quiz\ncases = quiz.choice("answer_skip", points=0.5)\ncases.score()\n'
    assert "answer_skip" in check_names(source)
    assert "answer_other" not in check_names(source)


@pytest.mark.parametrize("lesson, unanswered, failing", [
    ("06_vanishing_gradients", {"answer_skip"}, {"test_answer_skip"}),
    ("06_vanishing_gradients", {"residual_backward"}, {"test_residual_backward"}),
    ("05_gradient_check", {"answer_glu_bugs"}, {"test_answer_glu_bugs"}),
    ("05_gradient_check", {"glu_backward"}, {"test_glu_backward"}),
])
def test_an_unanswered_question_fails_its_own_cell_only(lesson, unanswered, failing):
    nb = nbformat.read(SOLUTIONS / lesson / f"{lesson}.ipynb", as_version=4)
    assert failing_grade_cells(nb, unanswered) == failing
