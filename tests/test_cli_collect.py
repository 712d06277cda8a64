"""``grader collect``: folders and LMS zips in, a clear report of what could not be placed."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.pipeline.collect import collect, student_from_zip

LESSONS = ["01_alpha", "02_beta"]
NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'


def _write(path: Path, data: bytes = NB) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def inbox(tmp_path):
    box = tmp_path / "inbox"
    _write(box / "ada" / "01_alpha" / "01_alpha.ipynb")
    _write(box / "ada" / "01_alpha" / "timestamp.txt", b"2026-01-05 10:00:00\n")
    _write(box / "ada" / "02_beta" / "02_beta.ipynb", b'{"cells": [1]}')
    _write(box / "ada" / "02_beta" / "notes.txt", b"my notes")  # not a notebook
    _write(box / "ada" / "07_gamma" / "07_gamma.ipynb")  # unknown lesson
    _write(box / "alan" / "01_alpha" / "01_alpha (1).ipynb")  # wrong file name
    _zip(box / "grace_1234_5678_hw.zip", {  # Canvas style name
        "grace/01_alpha/01_alpha.ipynb": NB,
        "grace/02_beta/02_beta-copy.ipynb": NB,  # wrong file name
        "__MACOSX/grace/._01_alpha.ipynb": b"junk",
    })
    _zip(box / "hedy.zip", {"02_beta.ipynb": b"{not json", "readme.md": b"hi"})
    (box / "broken.zip").write_bytes(b"not a zip")
    _write(box / "syllabus.pdf", b"%PDF")
    _write(box / "bad id!" / "01_alpha" / "01_alpha.ipynb")
    return box


def test_student_ids_from_zip_names():
    assert student_from_zip("hedy.zip") == "hedy"
    assert student_from_zip("grace_1234_5678_hw.zip") == "grace"
    assert student_from_zip("grace_late_1234_5678_hw.zip") == "grace"
    assert student_from_zip("../evil.zip") is None


def test_collect_places_what_it_can_and_reports_the_rest(inbox, tmp_path):
    course = tmp_path / "course"
    report = collect(inbox, course, LESSONS)

    assert sorted(report.placed) == [("ada", "01_alpha"), ("ada", "02_beta"), ("grace", "01_alpha"), ("hedy", "02_beta")]
    sub = course / "submitted"
    assert (sub / "ada" / "01_alpha" / "01_alpha.ipynb").read_bytes() == NB
    assert (sub / "ada" / "01_alpha" / "timestamp.txt").read_text().startswith("2026-01-05")
    assert (sub / "hedy" / "02_beta" / "02_beta.ipynb").read_bytes() == b"{not json"
    assert not (sub / "alan").exists() and not (sub / "ada" / "07_gamma").exists()

    reasons = {Path(what.split(":")[0]).name + ("" if ":" not in what else ":" + what.split(":", 1)[1]): why
               for what, why in report.problems}
    text = "\n".join(f"{what}: {why}" for what, why in report.problems)
    assert "notes.txt: not a notebook" in text
    assert "07_gamma: unknown lesson '07_gamma'" in text
    assert "01_alpha (1).ipynb: wrong file name (expected 01_alpha.ipynb)" in text
    assert "02_beta-copy.ipynb: wrong file name (expected 02_beta.ipynb)" in text
    assert "readme.md: not a notebook" in text
    assert "broken.zip: not a valid zip file" in text
    assert "syllabus.pdf: not a submission" in text
    assert "invalid student id 'bad id!'" in text
    assert "__MACOSX" not in text
    assert len(reasons) == len(report.problems) == 8
    assert [w for w, _ in report.warnings] == [f"{inbox / 'hedy.zip'}:02_beta.ipynb"]


def test_collect_again_changes_nothing_and_notices_changes(inbox, tmp_path):
    course = tmp_path / "course"
    collect(inbox, course, LESSONS)
    again = collect(inbox, course, LESSONS)
    assert again.placed == [] and len(again.unchanged) == 4
    _write(inbox / "ada" / "02_beta" / "02_beta.ipynb", NB)
    third = collect(inbox, course, LESSONS)
    assert third.placed == [("ada", "02_beta")]


def test_duplicate_submission_is_reported(tmp_path):
    box = tmp_path / "inbox"
    _write(box / "ada" / "01_alpha" / "01_alpha.ipynb")
    _zip(box / "ada.zip", {"01_alpha.ipynb": NB})
    report = collect(box, tmp_path / "course", LESSONS)
    assert report.placed == [("ada", "01_alpha")]
    assert any("second submission of ada/01_alpha" in why for _, why in report.problems)


def test_cli_collect_without_lessons_says_so_in_one_line(inbox, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "collect", str(inbox), "--course", str(tmp_path / "c"),
         "--solutions", str(tmp_path / "no-solutions")],
        capture_output=True, text=True,
    )
    # no lessons known: nothing could be placed, so nothing is written and the instructor is told why
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: collect: no lesson (NN_name/NN_name.ipynb) in {tmp_path / 'no-solutions'}; check --solutions"]
    assert not (tmp_path / "c").exists()


def test_symlinked_inbox_files_are_not_followed(tmp_path):
    """A symlink handed in (file, lesson folder or student folder) pointing at the instructor's solution
    notebook is reported, never read: no byte of the solution reaches submitted/."""
    from grader.pipeline.course import DEFAULT_SOLUTIONS

    solution = DEFAULT_SOLUTIONS / "02_general_case" / "02_general_case.ipynb"
    secret = solution.read_bytes()
    assert b"BEGIN HIDDEN TESTS" in secret
    box = tmp_path / "inbox"
    (box / "ada" / "01_alpha").mkdir(parents=True)
    (box / "ada" / "01_alpha" / "01_alpha.ipynb").symlink_to(solution)
    (box / "alan").mkdir()
    (box / "alan" / "02_beta").symlink_to(solution.parent)
    (box / "grace").symlink_to(solution.parent.parent)
    course = tmp_path / "course"
    report = collect(box, course, LESSONS)
    assert report.placed == []
    assert len(report.problems) >= 3, report.problems
    for path in (course / "submitted").rglob("*") if (course / "submitted").exists() else []:
        assert not path.is_symlink(), f"{path} is a symlink"
        if path.is_file():
            assert b"BEGIN HIDDEN TESTS" not in path.read_bytes(), f"{path} holds the solution"
