"""``grader release``: regenerate ``lessons/`` from ``solutions/`` with nbgrader.

Real ``nbgrader generate_assignment`` runs in a temporary course directory
(so no gradebook lands in the repository); the released notebooks are then
normalised (no outputs, no execution counts, one canonical JSON form, so the
same solutions always give the same bytes), checked for leaked solution or
hidden-test text, and only then written to ``lessons/``.  If any lesson leaks,
nothing is written.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..student_kit.check import METADATA_KEY
from .course import (
    DEFAULT_LESSONS,
    DEFAULT_SOLUTIONS,
    LESSON_RE,
    PRIVATE_FILES,
    Lesson,
    copy_lesson_sources,
    find_lessons,
    run_nbgrader,
    write_course_config,
)
from .regions import find_leaks, secret_lines


class ReleaseError(RuntimeError):
    """A released lesson would contain solution or hidden-test text."""


@dataclass
class ReleaseResult:
    """What ``release`` did."""

    written: list[str] = field(default_factory=list)  # files whose bytes changed
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # stale lesson folders


def canonical_notebook(text: str, lesson: str | None = None) -> bytes:
    """The released form of a notebook: no outputs or execution counts, canonical JSON.

    With ``lesson``, the notebook's metadata names it (``metadata.backprop_course.lesson``), so a
    student's copy knows its lesson under any file name (``grader.student_kit`` validates by it).
    """
    nb = nbformat.reads(text, as_version=4)
    if lesson is not None:
        nb.metadata[METADATA_KEY] = {"lesson": lesson}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return (nbformat.writes(nb, version=4) + "\n").encode("utf-8")


def generate(lessons: list[Lesson]) -> dict[str, dict[str, bytes]]:
    """Run ``nbgrader generate_assignment`` on ``lessons`` in a temporary course directory.

    Returns ``{lesson name: {relative path: bytes}}`` of the released files,
    notebooks already in canonical form.
    """
    if not lessons:
        return {}
    released: dict[str, dict[str, bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="grader-release-") as tmp:
        root = Path(tmp)
        write_course_config(root)
        copy_lesson_sources(lessons, root)
        run_nbgrader(["generate_assignment", "*", "--force"], root)
        for lesson in lessons:
            out = root / "lessons" / lesson.name
            if not (out / f"{lesson.name}.ipynb").is_file():
                raise ReleaseError(
                    f"nbgrader produced no {lesson.name}.ipynb for lesson {lesson.name} in {out}"
                )
            files: dict[str, bytes] = {}
            for path in sorted(p for p in out.rglob("*") if p.is_file()):
                rel = path.relative_to(out).as_posix()
                if path.name in PRIVATE_FILES:
                    raise ReleaseError(f"{lesson.name}: private file {rel} was released")
                data = path.read_bytes()
                if path.suffix == ".ipynb":
                    data = canonical_notebook(data.decode("utf-8"), lesson.name if rel == f"{lesson.name}.ipynb" else None)
                files[rel] = data
            released[lesson.name] = files
    return released


def leaks(lesson: Lesson, released_files: dict[str, bytes]) -> list[str]:
    """Descriptions of solution/hidden-test text or outputs found in a released lesson."""
    source = nbformat.read(str(lesson.notebook), as_version=4)
    secrets = secret_lines(source)
    problems: list[str] = []
    for rel, data in released_files.items():
        if Path(rel).name in PRIVATE_FILES:
            problems.append(f"{lesson.name}/{rel}: private file released")
        if not rel.endswith(".ipynb"):
            continue
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        for index, cell in enumerate(nb.cells):
            for line in find_leaks(cell.source.splitlines(), secrets):
                problems.append(f"{lesson.name}/{rel} cell {index}: leaked line {line!r}")
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
                problems.append(f"{lesson.name}/{rel} cell {index}: has outputs or an execution count")
    return problems


def release(
    solutions_dir: Path | str = DEFAULT_SOLUTIONS,
    lessons_dir: Path | str = DEFAULT_LESSONS,
) -> ReleaseResult:
    """Regenerate ``lessons_dir`` from ``solutions_dir``; raise ``ReleaseError`` on any leak.

    Files are only rewritten when their bytes change; lesson folders of
    ``lessons_dir`` without a solution are removed.
    """
    lessons = find_lessons(solutions_dir)
    released = generate(lessons)
    problems = [p for lesson in lessons for p in leaks(lesson, released[lesson.name])]
    if problems:
        raise ReleaseError(
            "refusing to release: the student version would contain solution or hidden-test "
            "text:\n  " + "\n  ".join(problems)
        )
    result = ReleaseResult()
    out_root = Path(lessons_dir)
    out_root.mkdir(parents=True, exist_ok=True)
    for name, files in released.items():
        folder = out_root / name
        for rel, data in files.items():
            target = folder / rel
            if target.is_file() and target.read_bytes() == data:
                result.unchanged.append(f"{name}/{rel}")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
            result.written.append(f"{name}/{rel}")
        # files of an earlier release that generation no longer produces
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.relative_to(folder).as_posix() not in files:
                path.unlink()
                result.removed.append(f"{name}/{path.relative_to(folder).as_posix()}")
    for folder in sorted(p for p in out_root.iterdir() if p.is_dir()):
        if LESSON_RE.match(folder.name) and folder.name not in released:
            shutil.rmtree(folder)
            result.removed.append(folder.name)
    return result
