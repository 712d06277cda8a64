"""``lessons/`` is exactly what ``grader release`` generates from ``solutions/``.

The first group of tests checks the repository; the second builds throwaway
lessons in a temporary folder to check the release command itself
(determinism, private files, refusing to leak, stale lessons).
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from grader.pipeline.course import DEFAULT_LESSONS, DEFAULT_SOLUTIONS, LESSON_RE, PRIVATE_FILES, find_lessons
from grader.pipeline.regions import MARKERS, secret_lines
from grader.pipeline.release import ReleaseError, generate, leaks, release
from grader.pipeline.toy import TOY_HIDDEN_LINE, write_toy_lesson


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts
    }


def _lesson_folders(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and LESSON_RE.match(p.name))


# --------------------------------------------------------------- the repository


def test_every_solution_has_a_lesson_and_vice_versa():
    solutions = [lesson.name for lesson in find_lessons(DEFAULT_SOLUTIONS)]
    lessons = _lesson_folders(DEFAULT_LESSONS)
    assert lessons == solutions, (
        f"lessons/ must mirror solutions/ (run `make lessons`): "
        f"solutions without a lesson {sorted(set(solutions) - set(lessons))}, "
        f"lessons without a solution {sorted(set(lessons) - set(solutions))}"
    )
    for name in lessons:
        assert (DEFAULT_LESSONS / name / f"{name}.ipynb").is_file(), f"lessons/{name}/{name}.ipynb is missing"


def test_lessons_are_exactly_what_generation_produces():
    lessons = find_lessons(DEFAULT_SOLUTIONS)
    if not lessons:
        pytest.skip("no lesson in solutions/ yet")
    generated = generate(lessons)
    for lesson in lessons:
        committed = _tree(DEFAULT_LESSONS / lesson.name)
        expected = generated[lesson.name]
        assert sorted(committed) == sorted(expected), (
            f"{lesson.name}: files differ from generation (run `make lessons`): "
            f"expected {sorted(expected)}, found {sorted(committed)}"
        )
        drift = [rel for rel in expected if committed[rel] != expected[rel]]
        assert not drift, f"{lesson.name}: {drift} differ from what generation produces (run `make lessons`)"


def test_lessons_hold_no_solution_hidden_text_or_outputs():
    problems = []
    for lesson in find_lessons(DEFAULT_SOLUTIONS):
        folder = DEFAULT_LESSONS / lesson.name
        if folder.is_dir():
            problems += leaks(lesson, _tree(folder))
    for path in sorted(DEFAULT_LESSONS.rglob("*")) if DEFAULT_LESSONS.is_dir() else []:
        if path.is_file() and path.suffix in {".ipynb", ".py", ".md", ".txt", ".json"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            problems += [f"{path}: contains {m!r}" for m in MARKERS if m in text]
        if path.name in PRIVATE_FILES:
            problems.append(f"{path}: an instructor-only file was released")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------- the release command


@pytest.fixture
def toy_course(tmp_path):
    solutions = tmp_path / "solutions"
    write_toy_lesson(solutions, "00_toy")
    (solutions / "00_toy" / "data.txt").write_text("released with the lesson\n")
    (solutions / "00_toy" / "references.json").write_text("[]\n")  # instructor-only
    write_toy_lesson(solutions, "01_toy")
    return solutions, tmp_path / "lessons"


def test_release_is_deterministic_keeps_private_files_and_drops_stale_lessons(toy_course):
    solutions, lessons = toy_course
    first = release(solutions, lessons)
    assert sorted(first.written) == ["00_toy/00_toy.ipynb", "00_toy/data.txt", "01_toy/01_toy.ipynb"]
    snapshot = _tree(lessons)
    (lessons / "07_gone").mkdir()  # a lesson whose solution was deleted
    (lessons / "07_gone" / "07_gone.ipynb").write_text("{}")
    second = release(solutions, lessons)
    assert second.written == [] and second.removed == ["07_gone"]
    assert _tree(lessons) == snapshot
    assert _lesson_folders(lessons) == ["00_toy", "01_toy"]
    assert not list(lessons.rglob("bugs.json")), "bugs.json must never be released"
    assert not list(lessons.rglob("references.json")), "references.json must never be released"

    nb = nbformat.read(str(lessons / "00_toy" / "00_toy.ipynb"), as_version=4)
    text = json.dumps(nb)
    assert "raise NotImplementedError()" in text
    assert TOY_HIDDEN_LINE not in text and "x * x" not in text
    source = nbformat.read(str(solutions / "00_toy" / "00_toy.ipynb"), as_version=4)
    assert secret_lines(source), "the toy lesson must have solution lines for this test to mean anything"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_release_refuses_to_leak_a_solution_line(toy_course):
    solutions, lessons = toy_course
    path = solutions / "01_toy" / "01_toy.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    # a markdown cell that quotes a line of the solution region
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("Hint:\n\n    slope = 2 * x\n"))
    nbformat.write(nb, str(path))
    with pytest.raises(ReleaseError, match=r"01_toy.*slope = 2 \* x"):
        release(solutions, lessons)
    assert not lessons.exists() or _lesson_folders(lessons) == [], "nothing may be written on a refusal"
