"""Auto-graded quiz questions: a multiple-choice letter or a number, checked with an explanation.

A question is a global the student sets in an answer cell (``answer_depth = 3``,
``answer_init = "b"``).  The grade cell's visible case only checks that an
answer of the right form is there; the right answer and its explanation are a
hidden case, so they never reach the released lesson or the grading kernel::

    \"\"\"Check the answer to question 1 (how many weight matrices).\"\"\"
    from grader.checks import quiz
    cases = quiz.number("answer_weight_matrices", points=1)
    cases.add("an answer is given")
    ### BEGIN HIDDEN TESTS
    cases.add("the answer", expected=3, why="a 2-100-2 network has two layers of weights: W1 (2, 100), W2 (100, 2)")
    ### END HIDDEN TESTS
    cases.score()

A question scores all or nothing.  While the student works (hidden cases
absent) an answer of the right form scores provisionally and the report says
that whether it is right is checked when graded (as every visible check, it is
necessary, not sufficient).  When graded, a wrong answer scores 0 and its
message gives the right one and why.

Accepts: for :func:`choice`, one letter of the options as a string, any case,
surrounding spaces ignored (``"B"``, ``" b"``); for :func:`number`, a Python or
numpy number or a one-entry array, within ``rtol`` (default 1e-6) or ``atol``.
"""
from __future__ import annotations

from . import Cases, StudentError, student, to_float, to_str

__all__ = ["Quiz", "choice", "number"]

#: Label of the visible case when no hidden case ran (the student's own notebook).
RECORDED = "answer recorded; the points are provisional: whether it is right is checked when the lesson is graded"


class Quiz(Cases):
    """Cases that score all or nothing (graded: the form and the right answer; working: the form, provisionally)."""

    def score(self) -> float:
        total = len(self._results)
        hidden_ran = any(params for params in self._graded)
        # without the hidden case (the student's notebook, the student bundle's validate) a well-formed answer
        # counts provisionally, so that "all checks pass" means what it means for every other exercise
        earned = self.points if total and self.passed == total else 0.0
        print(f"{self.name}: {self.passed}/{total} checks passed -> {earned:g} of {self.points:g} points")
        for label, ok, message in self._results:
            print(f"  {'PASS' if ok else 'FAIL'}  {label}" + (f"\n        {message}" if message else ""))
        if not hidden_ran and total and self.passed == total:
            print(f"  ({RECORDED})")
        return float(earned)

    def add(self, label: str, **params) -> bool:
        self._graded.append(bool(params))
        return super().add(label, **params)

    def __init__(self, name: str, points: float, check):
        super().__init__(name, points, check)
        self._graded: list[bool] = []


def _answer(name: str):
    S = student()
    if not S.has(name):
        raise AssertionError(f"{name} is not defined: run the answer cell after setting it")
    try:
        return S.value(name)
    except StudentError as exc:
        raise AssertionError(f"{name} could not be read: {exc.type_name}: {exc.message}") from None


def choice(name: str, points: float, options: str = "abcd") -> Quiz:
    """A multiple-choice question answered by setting ``name`` to one letter of ``options``.

    Hidden case parameters: ``expected`` (the letter) and ``why`` (shown when the answer is wrong).
    """
    letters = options.lower()

    def check(label: str, expected: str | None = None, why: str = "") -> None:
        value = _answer(name)
        if value is NotImplemented or value is None or value is Ellipsis:
            raise AssertionError(f"{name} is not answered yet: set it to one of {', '.join(repr(c) for c in letters)}")
        got = to_str(value, name).strip().lower()
        if len(got) != 1 or got not in letters:
            raise AssertionError(f"{name} = {value!r}: expected one letter of {', '.join(repr(c) for c in letters)}")
        if expected is not None and got != expected.lower():
            raise AssertionError(f"{name} = {got!r} is not right: the answer is {expected.lower()!r}. {why}".rstrip())

    return Quiz(name, points, check)


def number(name: str, points: float) -> Quiz:
    """A question answered by setting ``name`` to a number.

    Hidden case parameters: ``expected``, ``why``, and optionally ``rtol`` (1e-6) and ``atol`` (0).
    """

    def check(label: str, expected: float | None = None, why: str = "", rtol: float = 1e-6, atol: float = 0.0) -> None:
        value = _answer(name)
        if value is None or value is Ellipsis or value is NotImplemented:
            raise AssertionError(f"{name} is not answered yet: set it to a number")
        got = to_float(value, name)
        if got != got:
            raise AssertionError(f"{name} is NaN: expected a number")
        if expected is not None and abs(got - expected) > atol + rtol * abs(expected):
            raise AssertionError(f"{name} = {got:.6g} is not right: the answer is {expected:.6g}. {why}".rstrip())

    return Quiz(name, points, check)
