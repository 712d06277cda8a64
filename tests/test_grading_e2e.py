"""End to end with plain nbgrader: every lesson grades as its author intends.

For every lesson in ``solutions/`` (or, while there is none, the toy lesson of
``grader.pipeline.toy``), real ``nbgrader generate_assignment`` and ``nbgrader
autograde`` run in temporary course directories:

* the solution, submitted as a student would type it, scores full marks;
* the released lesson, submitted untouched, scores 0 without crashing;
* each planted bug of ``bugs.json`` makes exactly its ``grade_ids`` lose all
  their points (every other grade cell keeps full points), and those cells'
  output names the ``quantity`` that is wrong.

All submissions are graded by two ``nbgrader autograde`` calls (one per core,
each over its own course directory), not one call per notebook.
"""
from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat
import pytest

from grader.pipeline.course import (
    DEFAULT_SOLUTIONS,
    copy_lesson_sources,
    find_lessons,
    notebook_env,
    run_nbgrader,
    write_course_config,
)
from grader.pipeline.gradebook import read_grades
from grader.pipeline.outputs import cell_text
from grader.pipeline.submissions import check_bug, complete, grade_id, structure, with_bug, write
from grader.pipeline.toy import write_toy_lesson

REAL_LESSONS = find_lessons(DEFAULT_SOLUTIONS)
LESSON_NAMES = [lesson.name for lesson in REAL_LESSONS] or ["00_toy"]


@pytest.fixture(scope="module")
def lessons(tmp_path_factory):
    """The lessons under test: the real ones, or the toy lesson while there is none."""
    if REAL_LESSONS:
        return {lesson.name: lesson for lesson in REAL_LESSONS}
    folder = tmp_path_factory.mktemp("toy-solutions")
    write_toy_lesson(folder)
    return {lesson.name: lesson for lesson in find_lessons(folder)}


class Graded:
    """Submissions of every scenario, graded; looked up by (student, lesson)."""

    def __init__(self):
        self.grades = {}  # (student, lesson) -> {grade_id: CellGrade}
        self.autograded = {}  # (student, lesson) -> Path of the autograded notebook
        self.logs = []
        self.bug_students = {}  # lesson -> [(student, bug)]


@pytest.fixture(scope="module")
def graded(lessons, tmp_path_factory) -> Graded:
    result = Graded()
    courses = [tmp_path_factory.mktemp(f"course{i}") for i in range(2)]
    write_course_config(courses[0])
    copy_lesson_sources(lessons.values(), courses[0])
    run_nbgrader(["generate_assignment", "*", "--force"], courses[0])
    # the second course directory starts from the same registered assignments
    write_course_config(courses[1])
    for part in ("solutions", "lessons"):
        shutil.copytree(courses[0] / part, courses[1] / part)
    shutil.copy2(courses[0] / "gradebook.db", courses[1] / "gradebook.db")

    # (course index, student, lesson, notebook)
    jobs = []
    for name, lesson in lessons.items():
        source = nbformat.read(str(lesson.notebook), as_version=4)
        released = nbformat.read(str(courses[0] / "lessons" / name / f"{name}.ipynb"), as_version=4)
        solved = complete(source, released)
        jobs.append(("full", name, solved))
        jobs.append(("blank", name, released))
        result.bug_students[name] = []
        for index, bug in enumerate(lesson.load_bugs()):
            student = f"bug-{name}-{index}"
            result.bug_students[name].append((student, bug))
            try:
                jobs.append((student, name, with_bug(solved, bug)))
            except ValueError:
                pass  # reported by test_bugs_json_is_valid
    for index, (student, name, nb) in enumerate(jobs):
        root = courses[index % 2]
        write(nb, root / "submitted" / student / name / f"{name}.ipynb")

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "nbgrader", "autograde", "*"],
            cwd=root,
            env=notebook_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for root in courses
    ]
    for proc in procs:
        out, _ = proc.communicate()
        result.logs.append(out)
    for root in courses:
        if (root / "gradebook.db").exists():
            for key, cells in read_grades(root / "gradebook.db").items():
                student, name = key
                path = root / "autograded" / student / name / f"{name}.ipynb"
                if path.exists():
                    result.grades[key] = cells
                    result.autograded[key] = path
    return result


def _log_tail(graded: Graded) -> str:
    return "\n".join("\n".join(log.splitlines()[-30:]) for log in graded.logs)


def _grades_of(graded: Graded, student: str, lesson: str):
    key = (student, lesson)
    if key not in graded.grades:
        pytest.fail(f"{student}'s {lesson} was not autograded; nbgrader said:\n{_log_tail(graded)}")
    return graded.grades[key]


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_solution_scores_full_marks(name, lessons, graded):
    source = nbformat.read(str(lessons[name].notebook), as_version=4)
    points = structure(source).points
    cells = _grades_of(graded, "full", name)
    assert set(cells) == set(points), f"grade cells: expected {sorted(points)}, got {sorted(cells)}"
    lost = {g: (c.auto_score, c.max_score) for g, c in cells.items() if c.auto_score != c.max_score}
    assert not lost, f"{name}: the solution lost points in (auto_score, max): {lost}"
    assert sum(c.score for c in cells.values()) == pytest.approx(sum(points.values()))


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_released_lesson_scores_zero(name, graded):
    cells = _grades_of(graded, "blank", name)
    scored = {g: c.auto_score for g, c in cells.items() if c.auto_score != 0}
    assert not scored, f"{name}: the untouched lesson scored (None = not graded) {scored}"


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_bugs_json_is_valid(name, lessons):
    lesson = lessons[name]
    assert lesson.bugs_file.exists(), f"{name}: expected planted bugs in {lesson.bugs_file}"
    source = nbformat.read(str(lesson.notebook), as_version=4)
    bugs = lesson.load_bugs()
    for index, bug in enumerate(bugs):
        check_bug(bug, source, where=f"{lesson.bugs_file} entry {index}")
    covered = {bug["exercise"] for bug in bugs}
    missing = [s for s in structure(source).solutions if s not in covered]
    assert not missing, f"{name}: exercises without a planted bug in bugs.json: {missing}"


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_planted_bugs_lose_exactly_their_points(name, graded):
    problems = []
    for student, bug in graded.bug_students[name]:
        cells = _grades_of(graded, student, name)
        expect_zero = set(bug["grade_ids"])
        wrong = {
            g: c.auto_score
            for g, c in cells.items()
            if (g in expect_zero and c.auto_score != 0)
            or (g not in expect_zero and c.auto_score != c.max_score)
        }
        if wrong:
            problems.append(
                f"bug {bug['find']!r} -> {bug['replace']!r} in {bug['exercise']}: expected exactly "
                f"{sorted(expect_zero)} at 0 and the rest full, but these scored otherwise: {wrong}"
            )
            continue
        nb = nbformat.read(str(graded.autograded[(student, name)]), as_version=4)
        text = "\n".join(cell_text(c) for c in nb.cells if grade_id(c) in expect_zero)
        if bug["quantity"] not in text:
            problems.append(
                f"bug in {bug['exercise']}: the output of {sorted(expect_zero)} does not name "
                f"{bug['quantity']!r}; it reads:\n{text[:1500]}"
            )
    assert not problems, f"{name}:\n" + "\n".join(problems)
