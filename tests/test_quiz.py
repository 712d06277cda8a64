"""Quiz questions (grader.checks.quiz): all or nothing, explained when wrong, only the form checked while working."""
from __future__ import annotations

import numpy as np
import pytest

from grader.checks import quiz
from grader.checks.student import local_student
from grader.sandbox.checker import run_grade_source

CHOICE = '''from grader.checks import quiz
cases = quiz.choice("answer_init", points=2)
cases.add("an answer is given")
### BEGIN HIDDEN TESTS
cases.add("the answer", expected="c", why="zero weights make every hidden unit the same function")
### END HIDDEN TESTS
cases.score()
'''

NUMBER = '''from grader.checks import quiz
cases = quiz.number("answer_matrices", points=1)
cases.add("an answer is given")
### BEGIN HIDDEN TESTS
cases.add("the answer", expected=3, why="one matrix per layer of weights")
### END HIDDEN TESTS
cases.score()
'''


def visible(source: str) -> str:
    """The cell as the student's lesson has it (the hidden region removed)."""
    head, _, rest = source.partition("### BEGIN HIDDEN TESTS\n")
    return head + rest.partition("### END HIDDEN TESTS\n")[2]


def grade(source: str, **namespace) -> tuple[float, str]:
    outputs, value = run_grade_source(source, local_student(dict(namespace)), seed=1)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return value, text


@pytest.mark.parametrize("answer", ["c", "C", " c ", np.str_("c")])
def test_a_right_letter_in_any_case_earns_all_points(answer):
    score, text = grade(CHOICE, answer_init=answer)
    assert score == 2, text


@pytest.mark.parametrize("answer, message", [("b", "the answer is 'c'. zero weights"), ("e", "one letter of"),
                                            ("cc", "one letter of"), (3, "expected a string"),
                                            (None, "not answered yet")])
def test_a_wrong_or_malformed_answer_earns_nothing_and_says_why(answer, message):
    score, text = grade(CHOICE, answer_init=answer)
    assert score == 0
    assert message in text, text


def test_a_missing_answer_names_the_variable():
    score, text = grade(CHOICE)
    assert score == 0 and "answer_init is not defined" in text


def test_while_the_student_works_the_form_is_checked_and_the_points_are_provisional():
    score, text = grade(visible(CHOICE), answer_init="b")  # wrong, but nothing here knows it
    assert score == 2
    assert quiz.RECORDED in text and "the answer is" not in text and "provisional" in text
    score, text = grade(visible(CHOICE), answer_init="z")
    assert score == 0 and "one letter of" in text


@pytest.mark.parametrize("answer, points", [(3, 1), (3.0000001, 1), (np.float32(3), 1), (np.array([3]), 1),
                                           (4, 0), (float("nan"), 0), ("3", 0)])
def test_numbers_are_compared_within_tolerance(answer, points):
    score, text = grade(NUMBER, answer_matrices=answer)
    assert score == points, text
    if points == 0 and answer == 4:
        assert "the answer is 3. one matrix per layer" in text
