"""Every differently written correct answer earns full marks, and no hint (issue: fair verdicts).

The corpus lives in ``grader/pipeline/styles/alt_<lesson>.py`` (the demo's honest students write in these
styles).  Each answer replaces its exercise's solution cell in the lesson's namespace and is graded by the exercise's grade cells, hidden cases included, with
two seeds, through the same protocol as grading.
"""
from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import pytest

from grader.checks.student import local_student
from grader.pipeline.styles import alternatives
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
