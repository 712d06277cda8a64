"""Every differently written correct answer earns full marks, and no hint (issue: fair verdicts).

The corpus lives in ``grader/pipeline/styles/alt_<lesson>.py`` (the demo's honest students write in these
styles).  Each answer replaces its exercise's solution cell in the lesson's namespace and is graded by the
exercise's grade cells, hidden cases included, with two seeds, through the same protocol as grading.

The demo's students combine styles, so pairs are checked too: wherever an exercise's answer (in any style
the demo uses) or its grade cells use another exercise's answer, every alternative of that other exercise
is put in as well and the first exercise's grade cells must still give full marks, unless the pair is
listed in ``styles.INCOMPATIBLE`` (then it must fail: the list is exact, and the demo never combines it).
"""
from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import pytest

from grader.checks.student import local_student
from grader.pipeline.course import find_lessons
from grader.pipeline.sample_class import load_lesson
from grader.pipeline.styles import INCOMPATIBLE, alternatives
from grader.pipeline.submissions import structure
from grader.sandbox.checker import grade_sources, namespace_from_notebook, run_grade_source

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
LESSONS = sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").exists())
SEEDS = (None, 424242)


def _corpus(lesson: str) -> dict:
    return alternatives(lesson)


def _cases():
    for lesson in LESSONS:
        for exercise, answers in _corpus(lesson).items():
            for style, source in answers:
                yield pytest.param(lesson, exercise, source, id=f"{lesson}-{exercise}-{style}")


_NAMESPACES: dict[str, dict] = {}


def _namespace(lesson: str) -> dict:
    if lesson not in _NAMESPACES:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _NAMESPACES[lesson] = namespace_from_notebook(SOLUTIONS / lesson / f"{lesson}.ipynb")
    return _NAMESPACES[lesson]


def _grade_ids(lesson: str, exercise: str) -> list[str]:
    refs = json.loads((SOLUTIONS / lesson / "references.json").read_text())
    return next(e["grade_ids"] for e in refs if e["exercise"] == exercise)


def _points(nb: dict) -> dict[str, float]:
    return {c["metadata"]["nbgrader"]["grade_id"]: float(c["metadata"]["nbgrader"]["points"])
            for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")
            and not c["metadata"]["nbgrader"].get("solution")}


@pytest.mark.parametrize(("lesson", "exercise", "source"), list(_cases()))
def test_a_correct_answer_in_another_style_earns_full_marks_and_no_hint(lesson, exercise, source):
    nb = json.loads((SOLUTIONS / lesson / f"{lesson}.ipynb").read_text())
    sources, points = grade_sources(nb), _points(nb)
    ns = dict(_namespace(lesson))
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(source, f"<alternative {exercise}>", "exec"), ns)
    for gid in _grade_ids(lesson, exercise):
        for seed in SEEDS:
            outputs, value = run_grade_source(sources[gid], local_student(ns), seed)
            text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
            assert value == pytest.approx(points[gid]), f"{gid} (seed {seed}) gave {value}:\n{text}"
            assert "Hint:" not in text, f"{gid}: a correct answer got a hint:\n{text}"


def test_every_exercise_has_at_least_four_alternatives():
    missing = []
    for lesson in LESSONS:
        corpus = _corpus(lesson)
        exercises = [e["exercise"] for e in json.loads((SOLUTIONS / lesson / "references.json").read_text())]
        missing += [f"{lesson}/{e}: {len(corpus.get(e, []))}" for e in exercises if len(corpus.get(e, [])) < 4]
    assert not missing, f"exercises with fewer than 4 alternative correct answers: {missing}"


_LESSON_DATA: dict = {}


def _lesson_data(lesson: str):
    if lesson not in _LESSON_DATA:
        found = next(x for x in find_lessons(SOLUTIONS) if x.name == lesson)
        _LESSON_DATA[lesson] = load_lesson(found, REPO / "lessons" / lesson / f"{lesson}.ipynb")
    return _LESSON_DATA[lesson]


def _pairs():
    """(lesson, exercise, style, other, other style): ``exercise`` in ``style`` uses ``other``, in an alternative."""
    for lesson in LESSONS:
        data = _lesson_data(lesson)
        solutions = structure(data.source).solutions
        for exercise in solutions:
            for style in range(len(data.answers(exercise))):
                for other in solutions:
                    if not data.depends(exercise, style, other):
                        continue
                    for other_style in range(1, len(data.answers(other))):
                        key = (lesson, exercise, data.style_name(exercise, style), other,
                               data.style_name(other, other_style))
                        yield pytest.param(key, style, other_style, id="-".join(key))


@pytest.mark.parametrize(("key", "style", "other_style"), list(_pairs()))
def test_alternatives_that_use_each_other_earn_full_marks_unless_listed_incompatible(key, style, other_style):
    lesson, exercise, _, other, _ = key
    data = _lesson_data(lesson)
    solutions = structure(data.source).solutions
    nb = json.loads((SOLUTIONS / lesson / f"{lesson}.ipynb").read_text())
    sources, points = grade_sources(nb), _points(nb)
    ns = dict(_namespace(lesson))
    # in notebook order, as the student's notebook runs them
    cells = sorted([(exercise, style), (other, other_style)], key=lambda c: solutions.index(c[0]))
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, index in cells:
            exec(compile(data.answers(name)[index], f"<{name} {data.style_name(name, index)}>", "exec"), ns)
    failures = []
    for gid in sorted(data.grade_cells[exercise]):
        outputs, value = run_grade_source(sources[gid], local_student(ns), SEEDS[0])
        text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
        if value != pytest.approx(points[gid]) or "Hint:" in text:
            failures.append(f"{gid}: {value} of {points[gid]}\n{text[-800:]}")
    if key in INCOMPATIBLE:
        assert failures, f"{key} is listed in styles.INCOMPATIBLE but earns full marks: remove it from the list"
    else:
        assert not failures, (f"{key}: the pair loses marks; add it to styles.INCOMPATIBLE (the demo then never "
                              f"combines it):\n" + "\n".join(failures))


def test_every_incompatible_pair_is_a_pair_the_check_above_runs():
    keys = {p.values[0] for p in _pairs()}
    assert not INCOMPATIBLE - keys, sorted(INCOMPATIBLE - keys)
