"""The demo's sample class (``make demo``, 24 students): honest students write in their own styles, planted
copies are flagged by ``grader similarity`` and no honest pair is.

The class is built from the plan and compared without grading (similarity reads only the submissions);
tests/test_cli_demo.py grades the demo's class (12 students) and checks every expected score, copies
included, against the gradebook.
"""
from __future__ import annotations

import ast
import builtins
import itertools
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader.pipeline import similarity as sim
from grader.pipeline.course import DEFAULT_SOLUTIONS, find_lessons
from grader.pipeline.deps import defined_names, failing_grade_cells, used_names
from grader.pipeline.register import register
from grader.pipeline.sample_class import (
    ANSWERING,
    COPY_KINDS,
    NAMES,
    answered,
    expected_score,
    load_lesson,
    notebook,
    plan_class,
    planted_pairs,
    submission_bytes,
)
from grader.pipeline.styles import alternatives
from grader.pipeline.submissions import disguise, structure

LESSONS = [lesson.name for lesson in find_lessons(DEFAULT_SOLUTIONS)]


@pytest.fixture(scope="module")
def demo_class(tmp_path_factory):
    """``make demo``'s class (every student, the default two or three lessons each) in ``submitted/``, compared."""
    course = tmp_path_factory.mktemp("sample") / "course"
    register(course, DEFAULT_SOLUTIONS)
    lessons = {lesson.name: load_lesson(lesson, course / "lessons" / lesson.name / f"{lesson.name}.ipynb")
               for lesson in find_lessons(DEFAULT_SOLUTIONS)}
    plan = plan_class(list(lessons.values()), len(NAMES))
    for item in plan:
        data = submission_bytes(item, lessons[item.lesson])
        if data is not None:
            path = course / "submitted" / item.student / item.lesson / f"{item.lesson}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    report = sim.similarity(course, DEFAULT_SOLUTIONS)
    return lessons, plan, report


def _student_pairs(report, lesson):
    return {frozenset((m.first, m.second)): m for m in report.matches if m.lesson == lesson and m.kind == "students"}


@pytest.mark.parametrize("lesson", LESSONS)
def test_planted_copies_are_flagged_and_honest_pairs_are_not(demo_class, lesson):
    lessons, plan, report = demo_class
    planted = planted_pairs(plan).get(lesson, set())
    assert len(planted) == 2, f"{lesson}: expected 2 planted copies, got {sorted(map(sorted, planted))}"
    pairs = _student_pairs(report, lesson)
    for pair in planted:
        match = pairs[pair]
        assert match.flagged and match.score >= 0.8, f"{lesson}: planted copy {sorted(pair)} not flagged: {match}"
    honest = {pair: m for pair, m in pairs.items() if pair not in planted}
    flagged = sorted((sorted(pair), round(m.score, 2)) for pair, m in honest.items() if m.flagged)
    assert not flagged, f"{lesson}: honest pairs flagged: {flagged}"
    worst = max(honest.values(), key=lambda m: m.score)
    assert worst.score < sim.THRESHOLD, worst
    # every answering submission of the lesson takes part in the comparison, in some pair
    compared = set(report.submissions[lesson])
    assert {p.student for p in plan if p.lesson == lesson and p.kind in ANSWERING + COPY_KINDS} <= compared


def test_plan_has_two_copies_of_different_kinds_per_lesson_by_students_who_skip_the_lesson(demo_class):
    lessons, plan, _ = demo_class
    for lesson in LESSONS:
        copies = [p for p in plan if p.lesson == lesson and p.kind in COPY_KINDS]
        assert sorted(p.kind for p in copies) == ["copied", "copied_exercise"], (lesson, copies)
        for copy in copies:
            # one submission per student and lesson: the copier hands in nothing else of it
            assert [p.kind for p in plan if p.lesson == lesson and p.student == copy.student] == [copy.kind]
            assert copy.original.kind in ANSWERING and copy.original.lesson == lesson
            assert copy.original in plan
    by_student = {}
    for p in plan:
        by_student.setdefault(p.student, []).append(p.lesson)
    assert all(len(set(v)) == len(v) for v in by_student.values())


def test_a_copy_earns_what_its_original_earns(demo_class):
    lessons, plan, _ = demo_class
    for item in plan:
        lesson = lessons[item.lesson]
        info = structure(lesson.source)
        if item.kind == "copied":
            assert expected_score(item, lesson) == expected_score(item.original, lesson)
        elif item.kind == "copied_exercise":
            lost = failing_grade_cells(lesson.source, set(info.solutions) - {item.exercise})
            assert expected_score(item, lesson) == info.max_score - sum(info.points[g] for g in lost)


def _solution_cells(nb) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def test_copies_hold_the_originals_code_under_other_names(demo_class):
    lessons, plan, _ = demo_class
    for item in (p for p in plan if p.kind in COPY_KINDS):
        lesson = lessons[item.lesson]
        mine, theirs = _solution_cells(notebook(item, lesson)), _solution_cells(notebook(item.original, lesson))
        released = _solution_cells(lesson.released)
        # something of each copy is disguised (a cell whose locals are all the template's own stays as it was)
        assert any(mine[e] != theirs[e] for e in answered(item, lesson)), (item.student, item.lesson)
        for exercise in answered(item, lesson):
            assert mine[exercise] == disguise(theirs[exercise], keep=_names(released[exercise]))
            assert defined_names(mine[exercise]) == defined_names(theirs[exercise])
        for exercise in set(mine) - set(answered(item, lesson)):
            assert mine[exercise] == released[exercise]  # left as released


def _names(code: str) -> set[str]:
    import io
    import tokenize

    return {tok.string for tok in tokenize.generate_tokens(io.StringIO(code).readline) if tok.type == tokenize.NAME}


def test_honest_students_write_in_different_styles(demo_class):
    """No two honest submissions of a lesson answer alike; a bug student's bugged exercise is theirs alone."""
    lessons, plan, _ = demo_class
    for lesson_name in LESSONS:
        lesson = lessons[lesson_name]
        solutions = structure(lesson.source).solutions
        honest = [p for p in plan if p.lesson == lesson_name and p.kind in ANSWERING]
        for a, b in itertools.combinations(honest, 2):
            common = [e for e in answered(a, lesson) if e in answered(b, lesson) and len(lesson.answers(e)) > 1]
            same = [e for e in common if a.styles[solutions.index(e)] == b.styles[solutions.index(e)]]
            assert len(same) < len(common) or not common, (lesson_name, a.student, b.student, same)
        bugged = [lesson.bugs[p.detail]["exercise"] for p in honest if p.kind == "bug"]
        assert len(bugged) == len(set(bugged)), (lesson_name, bugged)
        for p in honest:
            if p.kind == "bug":
                exercise = lesson.bugs[p.detail]["exercise"]
                assert p.styles[solutions.index(exercise)] == 0  # the bug is written into the solution's text
                # nobody else writes it as the solution does, but another bug student whose bug it uses
                others = [q for q in honest if q is not p and exercise in answered(q, lesson) and not (
                    q.kind == "bug" and lesson.depends(exercise, 0, lesson.bugs[q.detail]["exercise"]))]
                if len(lesson.answers(exercise)) > 1:
                    assert all(q.styles[solutions.index(exercise)] != 0 for q in others), (lesson_name, exercise)
        used = {p.styles[solutions.index(e)] for p in honest for e in answered(p, lesson) if len(lesson.answers(e)) > 1}
        assert len(used) >= 3, (lesson_name, used)


def test_no_submission_combines_answers_that_fail_together_or_reach_a_bug(demo_class):
    """The expected scores hold: the class never puts an incompatible pair (styles.INCOMPATIBLE) in one notebook,
    a bug student answers every exercise that uses the bugged one as the solution does, and a partial answer
    never uses an exercise left as stub."""
    lessons, plan, _ = demo_class
    for item in (p for p in plan if p.kind in ANSWERING):
        lesson = lessons[item.lesson]
        solutions = structure(lesson.source).solutions
        mine = {e: item.styles[solutions.index(e)] for e in answered(item, lesson)}
        for (e, s), (f, t) in itertools.permutations(mine.items(), 2):
            assert not lesson.clash(e, s, f, t), (item, e, f)
        if item.kind == "bug":
            bugged = lesson.bugs[item.detail]["exercise"]
            for e, s in mine.items():
                if e == bugged or lesson.depends(e, 0, bugged):
                    assert s == 0, (item.student, item.lesson, e)
                else:
                    assert not lesson.depends(e, s, bugged), (item.student, item.lesson, e)
        for e, s in mine.items():
            for stub in set(solutions) - set(mine):
                assert not used_names(lesson.answers(e)[s]) & defined_names(lesson.answers(stub)[0]), (item, e, stub)


#: Exercises whose every alternative leaves out a name a later cell uses (``a, b = Node(3.0), Node(-1.5)``).
SOLUTION_ONLY = {("01_scalar_backprop", "node_div")}


def test_styles_are_the_tested_alternatives_minus_those_that_would_not_fit_a_notebook():
    for lesson_name in LESSONS:
        source = nbformat.read(str(DEFAULT_SOLUTIONS / lesson_name / f"{lesson_name}.ipynb"), as_version=4)
        lesson = load_lesson(next(x for x in find_lessons(DEFAULT_SOLUTIONS) if x.name == lesson_name),
                             Path(DEFAULT_SOLUTIONS).parent / "lessons" / lesson_name / f"{lesson_name}.ipynb")
        corpus = alternatives(lesson_name)
        assert set(lesson.styles) == set(corpus) & set(structure(source).solutions)
        for exercise in lesson.styles:
            answers = lesson.answers(exercise)
            tested = {name: code.strip("\n") for name, code in corpus[exercise]}
            assert lesson.style_name(exercise, 0) == "solution"
            assert all(code.strip("\n") == tested[lesson.style_name(exercise, s)]
                       for s, code in enumerate(answers) if s), (lesson_name, exercise)
            assert not any("import *" in code for code in answers[1:])
            if (lesson_name, exercise) not in SOLUTION_ONLY:
                assert len(answers) >= 2, f"{lesson_name}/{exercise}: no alternative fits the notebook"
            else:
                assert len(answers) == 1, f"{lesson_name}/{exercise} has styles now: drop it from SOLUTION_ONLY"


# ----------------------------------------------------------------------------- disguise

CODE = '''import numpy as np

RATE = 0.5  # a module-level name other cells may use


def step(params, grads, lr=RATE):
    """Docstring stays."""
    total = 0.0  # running sum
    for p, g in zip(params, grads):
        update = lr * g
        p -= update
        total += float(np.sum(update * update))
    scale = np.sqrt(total)
    return dict(scale=scale, count=len(params))
'''


def test_disguise_renames_locals_and_comments_and_nothing_another_cell_can_see():
    out = disguise(CODE)
    tree = ast.parse(out)
    assert defined_names(out) == defined_names(CODE) == {"np", "RATE", "step"}
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    assert [a.arg for a in fn.args.args] == ["params", "grads", "lr"]  # callers may pass these by keyword
    names = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
    assert not names & {"total", "p", "g", "update", "scale"}, out
    assert "dict(scale=" in out and "count=len(params)" in out  # keyword arguments keep their names
    assert "running sum" not in out and "other cells may use" not in out and '"""Docstring stays."""' in out
    assert disguise(CODE, keep={"total"}).count("total") == CODE.count("total")
    ns1, ns2 = {}, {}
    exec(CODE, ns1)
    exec(out, ns2)
    a1, a2 = [np.ones(3), np.arange(2.0)], [np.ones(3), np.arange(2.0)]
    grads = [np.full(3, 2.0), np.array([1.0, -1.0])]
    assert ns1["step"](a1, grads) == ns2["step"](a2, grads)
    np.testing.assert_array_equal(a1[1], a2[1])


def test_disguise_keeps_every_corpus_answer_valid_with_the_same_names():
    for lesson in LESSONS:
        for exercise, answers in alternatives(lesson).items():
            for style, code in answers:
                out = disguise(code)
                assert defined_names(out) == defined_names(code), (lesson, exercise, style)
                compile(out, f"<{lesson} {exercise} {style}>", "exec")
                # every name the original reads from elsewhere (other cells, builtins) is read by the copy too
                free = {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}
                kept = {n.id for n in ast.walk(ast.parse(out)) if isinstance(n, ast.Name)}
                assert {n for n in free if hasattr(builtins, n) or n in defined_names(code)} <= kept
