"""The grade cells of lesson 05 (gradient checking), run by the trusted checker against a local student.

For every grade cell: the solution scores full points (two seeds), a blank
notebook scores 0, each bug of ``bugs.json`` costs exactly its own grade cells
points (with its hint in the report), and a wrong answer of another kind loses
points.  The lesson's own references (``course_lib.gradcheck``) are never
created in the student's process.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from lesson_harness import Lesson, LessonTests

os.environ.setdefault("MPLBACKEND", "Agg")

EXERCISES = ["numerical_gradient", "relative_error", "gradient_check", "directional_check", "find_bugs", "glu_backward"]
QUIZZES = ["answer_glu_bugs"]

#: a hint the report must show for each bug of bugs.json (the old grade cells gave these)
BUG_HINTS = {
    "numerical_gradient": "divided by eps instead of 2 eps",
    "relative_error": "put the floor under the denominator",
    "gradient_check": "zero the gradients first",
    "directional_check": "a relative error of 1/3 means one side is twice the other",
    "find_bugs": "let loss_fn re-run the forward pass",
    "glu_backward": "the gate's path is missing",
    "answer_glu_bugs": "the answer is 'b'. X feeds both paths",
}

#: wrong answers not in bugs.json: exercise -> (find, replace)
OTHER_BUGS = {
    "numerical_gradient": ("        x[index] = saved\n        grad[index]", "        grad[index]"),  # x not restored
    "relative_error": ("return float(np.linalg.norm(a - b) / denominator)",
                       "return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b) + floor)))"),  # per entry
    "gradient_check": ("16 * U * abs(loss_value)", "0 * U * abs(loss_value)"),  # no noise term
    "directional_check": ("            p[...] = saved\n            numeric", "            numeric"),  # not restored
    "find_bugs": ("    model.zero_grad()\n    loss_value", "    loss_value"),  # stale gradients kept
    "glu_backward": ('"b": grad_A.sum(axis=0)', '"b": grad_output.sum(axis=0)'),  # the gate left out of grad_b
}


LESSON = Lesson("05_gradient_check", bug_hints=BUG_HINTS, blank_text={"test_answer_glu_bugs": "is not defined"},
                grade_ids={f"test_{e}" for e in EXERCISES + QUIZZES}, quizzes={f"test_{q}" for q in QUIZZES})
SOURCES, POINTS = LESSON.sources, LESSON.points
solution_ns = LESSON.solution_fixture()


class TestLesson(LessonTests):
    """Full points for the solution, 0 for the blank notebook, each planted bug costs exactly its cells."""

    lesson = LESSON


def _one(ns: dict, exercise: str) -> tuple:
    return LESSON.score(ns, f"test_{exercise}")


def test_grade_cells_open_with_a_docstring():
    for source in SOURCES.values():
        assert source.strip().splitlines()[0].startswith('"""Check th')


def test_no_reference_of_this_lesson_enters_the_student_process(solution_ns, monkeypatch):
    """Every lib object a check asks for is outside course_lib.gradcheck (stubbed when grading)."""
    from grader import protocol

    asked = []
    resolve = protocol.Agent._resolve

    def spy(self, ref):
        if isinstance(ref, dict) and ("lib" in ref or "__lib__" in ref):
            asked.append(str(ref.get("lib", ref.get("__lib__"))))
        return resolve(self, ref)

    monkeypatch.setattr(protocol.Agent, "_resolve", spy)
    LESSON.grade(solution_ns)
    assert asked
    references = {r for entry in json.loads((LESSON.folder / "references.json").read_text()) for r in entry["references"]}
    assert not [path for path in asked if path.startswith("course_lib.gradcheck") or path in references]


def test_testfuncs_leaks_no_answer():
    from course_lib import testfuncs

    text = Path(testfuncs.__file__).read_text()
    assert "gradcheck" not in text
    assert "2 * eps" not in text and "np.linalg.norm" not in text


@pytest.mark.parametrize("exercise", EXERCISES)
def test_another_wrong_answer_loses_points(exercise, solution_ns):
    ns = LESSON.patched(solution_ns, exercise, *OTHER_BUGS[exercise])
    gid = f"test_{exercise}"
    value, text = LESSON.score(ns, gid)
    assert value < POINTS[gid], text


def test_glu_backward_names_the_forgotten_gate_in_grad_b(solution_ns):
    ns = LESSON.patched(solution_ns, "glu_backward", *OTHER_BUGS["glu_backward"])
    value, text = _one(ns, "glu_backward")
    assert value == 0, text
    assert "glu_backward grad b" in text and "the gate is missing from grad_b" in text, text


@pytest.mark.parametrize("form, message", [
    (lambda grads: tuple(grads.values()), "expected a dict"),
    (lambda grads: {"X": grads["X"]}, "has no key 'W'"),
], ids=["a tuple", "a missing key"])
def test_glu_backward_wrong_forms_lose_all_points_and_say_why(solution_ns, form, message):
    original = solution_ns["glu_backward"]
    ns = dict(solution_ns, glu_backward=lambda *args: form(original(*args)))
    value, text = _one(ns, "glu_backward")
    assert value == 0, text
    assert message in text, text


def test_glu_backward_without_the_sigmoid_slope_is_told_so(solution_ns):
    ns = LESSON.patched(solution_ns, "glu_backward", "grad_gate = grad_output * A * S * (1 - S)",
                 "grad_gate = grad_output * A")
    value, text = _one(ns, "glu_backward")
    assert value == 0, text
    assert "sigmoid' is missing from grad_V" in text, text


def test_glu_backward_accepts_a_dict_subclass_and_float32(solution_ns):
    import collections

    import numpy as np

    original = solution_ns["glu_backward"]
    for wrap in (collections.OrderedDict, lambda d: {k: np.float32(v) for k, v in d.items()}):
        ns = dict(solution_ns)
        ns["glu_backward"] = lambda *args, _w=wrap: _w(original(*args))
        value, text = _one(ns, "glu_backward")
        assert value == POINTS["test_glu_backward"], text


def test_the_hunt_answer_is_what_central_differences_say():
    """The quiz's right answer (b: X and b) is exactly the set of gradients of glu_backward_buggy that fail a check."""
    import numpy as np

    from course_lib import hunt
    from course_lib.gradcheck import numerical_gradient, relative_error

    for seed in range(5):
        X, W, b, V, c, G = hunt.glu_problem(B=5, d_in=3, d_out=4, seed=seed)
        args = {"X": X, "W": W, "b": b, "V": V, "c": c}
        from grader.checks.lesson05 import _glu_forward

        assert np.allclose(hunt.glu_forward(X, W, b, V, c), _glu_forward(X, W, b, V, c), rtol=1e-14, atol=0)
        buggy = hunt.glu_backward_buggy(X, W, b, V, c, G)
        wrong = set()
        for key in args:
            f = lambda z, key=key: float(np.sum(hunt.glu_forward(**dict(args, **{key: z})) * G))
            if relative_error(buggy[key], numerical_gradient(f, args[key].copy(), 1e-6)) > 1e-6:
                wrong.add(key)
        assert wrong == {"X", "b"}, (seed, wrong)


def test_a_set_a_list_or_a_tuple_of_names_is_accepted(solution_ns):
    original = solution_ns["find_bugs"]
    for wrap in (sorted, tuple, frozenset):
        ns = dict(solution_ns)
        ns["find_bugs"] = lambda *args, _w=wrap, **kwargs: _w(original(*args, **kwargs))
        value, text = LESSON.score(ns, "test_find_bugs")
        assert value == POINTS["test_find_bugs"], text


def test_a_gradient_computed_on_a_copy_is_told_so(solution_ns):
    """f reads x itself: perturbing a copy gives zeros; the cause is the copy, not a missing return."""
    ns = LESSON.patched(solution_ns, "numerical_gradient", "    grad = np.zeros(x.shape, dtype=np.float64)\n",
                 "    grad = np.zeros(x.shape, dtype=np.float64)\n    x = x.copy()\n")
    value, text = _one(ns, "numerical_gradient")
    assert value < POINTS["test_numerical_gradient"], text
    assert "not a copy of it" in text, text
    assert "is the value computed and returned" not in text, text


def test_find_bugs_without_the_shape_test_loses_points(solution_ns):
    """A (B, d_out) bias gradient broadcasts in sum(g * v): a real directional check passes it.

    Only find_bugs' own shape test finds it.
    """
    ns = LESSON.patched(solution_ns, "find_bugs",
                 "wrong = {name for name, p in params.items() if grads[name].shape != p.shape}", "wrong = set()")
    value, text = _one(ns, "find_bugs")
    assert value < POINTS["test_find_bugs"], text
    assert "LinearBiasNotSummed" in text, text


def test_gradient_check_names_stale_gradients_only_when_they_fit(solution_ns):
    ns = LESSON.patched(solution_ns, "gradient_check", "rel = relative_error(g, numeric)",
                 "rel = relative_error(numeric, numeric)")
    value, text = _one(ns, "gradient_check")
    assert value < POINTS["test_gradient_check"], text
    assert "Hint:" not in text, text


@pytest.mark.parametrize("find, replace", [
    ("worst = max(worst, error / max(abs(analytic) + abs(numeric), 1e-12))", "worst = max(worst, error)"),  # absolute
    ("worst = max(worst, error / max(abs(analytic) + abs(numeric), 1e-12))", "pass"),  # rel_error always 0
    ("            v /= np.linalg.norm(v)\n", ""),  # directions not of unit length
    ("for _ in range(num_directions):", "for _ in range(num_directions - 1):"),  # one direction short
], ids=["absolute error", "rel_error never set", "no unit direction", "one direction short"])
def test_directional_check_rel_error_steps_and_evaluations_are_checked(solution_ns, find, replace):
    ns = LESSON.patched(solution_ns, "directional_check", find, replace)
    value, text = _one(ns, "directional_check")
    assert value < POINTS["test_directional_check"], text


def test_the_solution_earns_directional_check_s_points_on_every_grading_seed(solution_ns):
    """Under a loss offset of 1e7 a gradient below the noise floor 16 u |L| / eps is invisible to a correct check.

    The sign-flipped case used to draw such a gradient on about 1 grading seed in 20 (seeds 2 and 21 among
    1..40), so correct work lost points; its networks are now drawn with the flipped gradient well above the floor.
    """
    lost = {}
    for seed in range(1, 41):
        value, text = LESSON.score(solution_ns, "test_directional_check", seed=seed)
        if value != POINTS["test_directional_check"]:
            lost[seed] = [line for line in text.splitlines() if "FAIL" in line]
    assert not lost, f"the solution lost points on grading seeds {lost}"
