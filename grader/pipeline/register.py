"""Register the lessons of a course directory in its gradebook.

Grading needs each lesson's source notebook registered in ``gradebook.db``
(grade cells, points, the full source of the checks).  ``register`` copies the
solutions into the course directory and runs ``nbgrader generate_assignment``
there, but only when a lesson is new or its solution folder changed.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from nbgrader.api import Gradebook

from .course import (
    DEFAULT_SOLUTIONS,
    GRADER_CONFIG,
    GRADER_DIR,
    REPO_ROOT,
    CourseError,
    Lesson,
    copy_lesson_sources,
    find_lessons,
    run_nbgrader,
    sha256_file,
    sha256_tree,
    write_course_config,
)
from .gradebook import COURSE_ID, db_url

#: Not part of what grading depends on: editor litter, and the planted bugs
#: (used only to build test submissions).
_IGNORE = (".ipynb_checkpoints", "__pycache__", ".DS_Store", "bugs.json")


def gradebook_path(course_root: Path | str) -> Path:
    """The course's main gradebook file."""
    return Path(course_root) / "gradebook.db"


def registered_assignments(course_root: Path | str) -> set[str]:
    """Names of the assignments in the course gradebook (empty when there is none)."""
    path = gradebook_path(course_root)
    if not path.exists():
        return set()
    with Gradebook(db_url(path), COURSE_ID) as gb:
        return {a.name for a in gb.assignments}


def register(course_root: Path | str, solutions_dir: Path | str = DEFAULT_SOLUTIONS) -> list[Lesson]:
    """Bring the course directory's lessons up to date with ``solutions_dir``.

    Returns the lessons as they live in the course directory
    (``<course_root>/solutions/NN_name``).
    """
    root = Path(course_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    write_course_config(root)
    lessons = find_lessons(solutions_dir)
    if not lessons:
        raise CourseError(f"no lesson (NN_name/NN_name.ipynb) in {solutions_dir}")
    known = registered_assignments(root)
    stale = [
        lesson
        for lesson in lessons
        if lesson.name not in known
        or not (root / "solutions" / lesson.name).is_dir()
        or sha256_tree(lesson.folder, _IGNORE) != sha256_tree(root / "solutions" / lesson.name, _IGNORE)
    ]
    if stale:
        copy_lesson_sources(stale, root)
        run_nbgrader(["generate_assignment", "*", "--force"], root)
    return find_lessons(root / "solutions")


def environment_hash(lesson: Lesson) -> str:
    """A hash of everything besides the submission that decides its grade.

    The lesson's source folder, ``course_lib``, the checks, the grader
    modules that decide scores (protocol, checker, isolation, intake,
    execution, output rules) and the nbgrader configuration: when any of them
    changes, submissions are regraded.
    """
    h = hashlib.sha256()
    h.update(sha256_tree(lesson.folder, _IGNORE).encode())
    for path in sorted((REPO_ROOT / "course_lib").glob("*.py")):
        h.update(path.name.encode() + sha256_file(path).encode())
    grading = ("protocol.py", "sandbox/checker.py", "sandbox/isolation.py", "pipeline/intake.py",
               "sandbox/execute.py", "sandbox/grade_outputs.py")
    checks = sorted(p for p in (GRADER_DIR / "checks").glob("*.py") if p.name != "mutants.py")
    for path in (*(GRADER_DIR / name for name in grading), *checks, GRADER_CONFIG):
        if path.exists():
            h.update(path.name.encode() + sha256_file(path).encode())
    return h.hexdigest()
