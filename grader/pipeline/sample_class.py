"""The sample class of ``grader demo``: 24 students, generated from the solutions.

By default the first student hands in every lesson and each other student
two of the six (about 50 notebooks: the demo takes a minute or two);
``every_lesson=True`` (``grader demo --every-lesson``, the benchmark) has
every student hand in every lesson (132 notebooks).

Every (student, lesson) gets one *kind* of submission, chosen by a fixed
formula so the class is the same on every machine:

==============  =====================================================  ==================
kind            submission                                             expected score
==============  =====================================================  ==================
complete        the released lesson with every exercise answered       full marks
blank           the released lesson, untouched                         0
partial         the first k exercises answered, the rest left as stub  the grade cells that
                                                                       do not depend on a
                                                                       stub (grader.pipeline.deps)
bug             complete, with one planted bug from bugs.json          full minus that bug's
                                                                       grade cells
exception       complete, plus an early cell that raises               full marks
invalid_json    a truncated, unparsable file                           0, note "unreadable"
crash           complete, plus an early cell that kills the kernel     0, note "kernel-died"
missing         nothing submitted for this lesson                      no submission
==============  =====================================================  ==================

Expected scores come from this table, the solution notebooks and bugs.json,
never from a grading run.  Even-numbered students hand in a folder, odd ones
an LMS zip; a few malformed extras exercise ``collect``'s report.
"""
from __future__ import annotations

import copy
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from .course import Lesson
from .deps import failing_grade_cells
from .submissions import SubmissionError, check_bug, complete, structure, with_bug, with_stubs

NAMES = (
    "ada", "alan", "barbara", "claude", "donald", "edsger", "frances", "grace",
    "hedy", "ivan", "jean", "john", "katherine", "ken", "leslie", "margaret",
    "niklaus", "radia", "richard", "shafi", "sophie", "tim", "vint", "yann",
)
KINDS = (
    "complete", "bug", "partial", "complete", "blank", "bug",
    "invalid_json", "exception", "missing", "bug", "partial", "crash",
)
#: Kinds that score 0 with a grader note (grader.pipeline.notes), by the note's code.
NOTED = {"invalid_json": "unreadable", "crash": "kernel-died"}

EXCEPTION_CELL = 'raise RuntimeError("a scratch cell the student left broken")'
CRASH_CELL = "import os\nos._exit(1)  # the kernel dies"


@dataclass(frozen=True)
class LessonData:
    """What the sample class needs of a lesson."""

    name: str
    source: nbformat.NotebookNode
    released: nbformat.NotebookNode
    bugs: tuple  # valid bugs.json entries

    @property
    def max_score(self) -> float:
        return structure(self.source).max_score


@dataclass(frozen=True)
class Planned:
    """One student's submission of one lesson."""

    student: str
    lesson: str
    kind: str
    detail: int = 0  # bug index, or number of answered exercises


def load_lesson(lesson: Lesson, released_path: Path) -> LessonData:
    """A lesson's source, released notebook and valid planted bugs."""
    source = nbformat.read(str(lesson.notebook), as_version=4)
    released = nbformat.read(str(released_path), as_version=4)
    bugs = []
    for bug in lesson.load_bugs():
        try:
            check_bug(bug, source)
        except SubmissionError:
            continue
        bugs.append(bug)
    return LessonData(lesson.name, source, released, tuple(bugs))


def plan_class(lessons: list[LessonData], students: int = len(NAMES),
               every_lesson: bool = False) -> list[Planned]:
    """The submissions of the sample class (student 0 does everything right)."""
    plan = []
    for i in range(students):
        student = f"{NAMES[i % len(NAMES)]}{'' if i < len(NAMES) else i // len(NAMES)}"
        for j, lesson in enumerate(lessons):
            if not every_lesson and i > 0 and (i + j) % 3 != 0:
                continue  # each student but the first hands in two of six lessons
            kind = "complete" if i == 0 else KINDS[(i * 5 + j) % len(KINDS)]
            n_ex = len(structure(lesson.source).solutions)
            detail = 0
            if kind == "bug":
                if lesson.bugs:
                    detail = (i // 4 + j) % len(lesson.bugs)
                else:
                    kind = "complete"
            elif kind == "partial":
                if n_ex >= 2:
                    detail = 1 + (i + j) % (n_ex - 1)  # 1 .. n_ex-1 exercises answered
                else:
                    kind = "blank"
            plan.append(Planned(student, lesson.name, kind, detail))
    return plan


def expected_score(item: Planned, lesson: LessonData) -> float | None:
    """The score this submission must get (None: no submission)."""
    info = structure(lesson.source)
    if item.kind == "missing":
        return None
    if item.kind in ("complete", "exception"):
        return info.max_score
    if item.kind in ("blank", "invalid_json", "crash"):
        return 0.0
    if item.kind == "bug":
        lost = set(lesson.bugs[item.detail]["grade_ids"])
    elif item.kind == "partial":
        lost = failing_grade_cells(lesson.source, set(info.solutions[item.detail:]))
    else:
        raise ValueError(f"unknown kind {item.kind!r}; expected one of {sorted(set(KINDS))}")
    return info.max_score - sum(p for g, p in info.points.items() if g in lost)


def _insert_after_first_code_cell(nb, source: str):
    nb = copy.deepcopy(nb)
    index = next((k for k, c in enumerate(nb.cells) if c.cell_type == "code"), -1)
    nb.cells.insert(index + 1, new_code_cell(source))
    return nb


def submission_bytes(item: Planned, lesson: LessonData) -> bytes | None:
    """The file a student of this kind hands in (None for ``missing``)."""
    done = complete(lesson.source, lesson.released)
    if item.kind == "missing":
        return None
    if item.kind == "complete":
        nb = done
    elif item.kind == "blank":
        nb = lesson.released
    elif item.kind == "partial":
        nb = with_stubs(done, lesson.released, structure(lesson.source).solutions[item.detail:])
    elif item.kind == "bug":
        nb = with_bug(done, lesson.bugs[item.detail])
    elif item.kind == "exception":
        nb = _insert_after_first_code_cell(done, EXCEPTION_CELL)
    elif item.kind == "crash":
        nb = _insert_after_first_code_cell(done, CRASH_CELL)
    elif item.kind == "invalid_json":
        text = nbformat.writes(done)
        return text[: len(text) // 2].encode("utf-8")
    else:
        raise ValueError(f"unknown kind {item.kind!r}")
    return (nbformat.writes(nb) + "\n").encode("utf-8")


def write_submitted(course: Path, solutions: Path, students: int, every_lesson: bool = True) -> int:
    """Register the lessons in ``course`` and write the class straight into ``submitted/`` (no collect step).

    Used by the benchmark and the kill test, which grade a class without an inbox.
    Returns the number of notebooks written.
    """
    from .course import find_lessons
    from .register import register

    register(course, solutions)
    lessons = {
        lesson.name: load_lesson(lesson, course / "lessons" / lesson.name / f"{lesson.name}.ipynb")
        for lesson in find_lessons(solutions)
    }
    count = 0
    for item in plan_class(list(lessons.values()), students, every_lesson=every_lesson):
        data = submission_bytes(item, lessons[item.lesson])
        if data is not None:
            path = course / "submitted" / item.student / item.lesson / f"{item.lesson}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            count += 1
    return count


def write_inbox(inbox: Path, plan: list[Planned], lessons: dict[str, LessonData]) -> None:
    """The class's hand-ins as an instructor downloads them: folders and LMS zips, plus junk."""
    inbox.mkdir(parents=True, exist_ok=True)
    students = sorted({p.student for p in plan}, key=[p.student for p in plan].index)
    for index, student in enumerate(students):
        items = [p for p in plan if p.student == student]
        files = {}
        for item in items:
            data = submission_bytes(item, lessons[item.lesson])
            if data is not None:
                files[f"{item.lesson}/{item.lesson}.ipynb"] = data
        if index % 2 == 0:
            for rel, data in files.items():
                path = inbox / student / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        else:
            name = f"{student}_{1000 + index}_{52000 + index}_submission.zip"
            with zipfile.ZipFile(inbox / name, "w", zipfile.ZIP_DEFLATED) as zf:
                for rel, data in sorted(files.items()):
                    info = zipfile.ZipInfo(f"{student}/{rel}", date_time=(2026, 1, 1, 0, 0, 0))
                    zf.writestr(info, data)
    # things collect must report, not place
    (inbox / "grading_notes.txt").write_text("not a submission\n")
    first = students[0]
    (inbox / first / "99_bonus").mkdir(parents=True, exist_ok=True)
    (inbox / first / "99_bonus" / "99_bonus.ipynb").write_text("{}")
    lesson0 = plan[0].lesson
    (inbox / first / lesson0 / "scratch copy.ipynb").write_text("{}")
    (inbox / first / lesson0 / "answers.py").write_text("x = 1\n")
    (inbox / "broken_1_2_submission.zip").write_bytes(b"this is not a zip file")


def expected_scores(plan: list[Planned], lessons: dict[str, LessonData]) -> dict[tuple[str, str], float]:
    """``{(student, lesson): score}`` for every submission of the plan."""
    out = {}
    for item in plan:
        score = expected_score(item, lessons[item.lesson])
        if score is not None:
            out[(item.student, item.lesson)] = score
    return out


def describe(plan: list[Planned]) -> str:
    """How many submissions of each kind the class has."""
    counts: dict[str, int] = {}
    for item in plan:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    return ", ".join(f"{counts[k]} {k}" for k in sorted(counts, key=list(dict.fromkeys(KINDS)).index))


def write_expected(path: Path, plan: list[Planned], lessons: dict[str, LessonData]) -> None:
    """The plan and its expected scores as JSON (for people; tests recompute them)."""
    rows = [
        {"student": p.student, "lesson": p.lesson, "kind": p.kind, "detail": p.detail,
         "expected": expected_score(p, lessons[p.lesson])}
        for p in plan
    ]
    path.write_text(json.dumps(rows, indent=1) + "\n")
