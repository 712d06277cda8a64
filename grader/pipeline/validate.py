"""``grader validate NOTEBOOK``: grade one notebook exactly as autograde would.

Unlike ``nbgrader validate`` (which exits 0 when tests fail, nbgrader#1908),
this runs the autograder's own path on a throwaway course directory: the
lesson registered from ``solutions/``, nbgrader's Autograde converter (grade
cells restored, hidden tests included), the pre-warmed kernel, the course
timeouts and environment.  It prints one line per grade cell and exits 1
when any cell lost points or the notebook could not be graded.  Hidden-test
source is never printed (only the checks' messages).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nbformat

from ..sandbox import Limits
from ..sandbox.zygote import KERNEL_NAME, Zygote
from ..student_kit.verdict import CellResult, Validation
from .autograde import RunSandbox
from .course import DEFAULT_SOLUTIONS, CourseError, find_lessons, notebook_env
from .feedback import HiddenText, redact
from .outputs import error_summary
from .register import register
from .submissions import grade_id, structure
from .worker import Worker

STUDENT = "validate"


def which_lesson(nb_path: Path, lessons: dict) -> str:
    """The lesson a notebook belongs to: by file name, else by its grade cell ids."""
    if nb_path.stem in lessons:
        return nb_path.stem
    try:
        ids = set(structure(nbformat.read(str(nb_path), as_version=4)).points)
    except Exception:
        ids = set()
    if ids:
        for name, lesson in lessons.items():
            if ids <= set(structure(nbformat.read(str(lesson.notebook), as_version=4)).points):
                return name
    raise CourseError(
        f"cannot tell which lesson {nb_path.name} is: expected a file named one of "
        f"{[f'{n}.ipynb' for n in lessons]}"
    )


def _messages(cell, hidden: HiddenText, limit: int = 15) -> list[str]:
    """What a failing grade cell said: its printed lines (PASS lines dropped) and its error."""
    lines = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            text = output.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            lines += [l.rstrip() for l in text.splitlines() if l.strip() and not l.strip().startswith("PASS")]
    summary = error_summary(cell)
    if summary:
        lines.append(summary)
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more lines)"]
    return [redact(m, hidden) for m in lines]


def validate(notebook: Path | str, solutions_dir: Path | str = DEFAULT_SOLUTIONS,
             timeout: int | None = None, keep: Path | str | None = None) -> Validation:
    """Grade ``notebook`` in a temporary course directory and return the verdict."""
    nb_path = Path(notebook).resolve()
    if not nb_path.is_file():
        raise CourseError(f"no such notebook: {nb_path}")
    lessons = {lesson.name: lesson for lesson in find_lessons(solutions_dir)}
    lesson = which_lesson(nb_path, lessons)
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="grader-validate-"))
    saved_env = dict(os.environ)
    try:
        only = tmp / "only-solutions"
        if only.exists():
            shutil.rmtree(only)
        only.mkdir(parents=True)
        shutil.copytree(lessons[lesson].folder, only / lesson)
        course_lessons = {lesson_.name: lesson_ for lesson_ in register(tmp / "course", only)}
        target = tmp / "course" / "submitted" / STUDENT / lesson / f"{lesson}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(nb_path, target)
        shard = tmp / "course" / "gradebook.db"
        box = None
        try:
            with Zygote(tmp / "zygote") as zygote:
                os.environ.clear()
                os.environ.update(notebook_env(zygote.kernel_env()))
                # the same containment as autograde (a grading user when root)
                box = RunSandbox(tmp / "course", only, 1, Limits.from_env())
                worker = Worker(tmp / "course", shard, KERNEL_NAME, timeout, sandbox=box.take(zygote))
                result = worker.grade(STUDENT, lesson)
        finally:
            if box is not None:
                box.close()
        source = nbformat.read(str(course_lessons[lesson].notebook), as_version=4)
        hidden = HiddenText.of_notebook(source)
        points = structure(source).points
        graded_path = tmp / "course" / "autograded" / STUDENT / lesson / f"{lesson}.ipynb"
        graded = nbformat.read(str(graded_path), as_version=4) if graded_path.exists() else None
        cells_by_id = {grade_id(c): c for c in graded.cells} if graded else {}
        saved = (result["payload"] or {}).get("notebooks", {}).get(lesson, {}).get("grades", {})
        cells = []
        for gid, pts in points.items():
            score = saved.get(gid) if result["status"] == "graded" else None
            cell = cells_by_id.get(gid)
            cells.append(CellResult(gid, score, pts, _messages(cell, hidden) if cell is not None else []))
        error = None if result["status"] == "graded" else redact(result["error"] or "", hidden)
        return Validation(lesson, cells, error, [redact(n, hidden) for n in result.get("notes") or []])
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
