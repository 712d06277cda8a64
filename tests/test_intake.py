"""grader.pipeline.intake: which file is graded, what cannot be, and what is repaired (no kernel involved)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from grader.pipeline import intake
from grader.pipeline.toy import toy_notebook

LESSON = "00_toy"


@pytest.fixture
def released():
    """The toy lesson as a student gets it (grade, solution and locked cells with nbgrader metadata)."""
    nb = toy_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _ids(nb) -> list:
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def _write(folder: Path, name: str, nb_or_bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(nb_or_bytes, bytes):
        path.write_bytes(nb_or_bytes)
    else:
        nbformat.write(nb_or_bytes, str(path))
    return path


def _codes(result) -> set:
    return {line.partition(":")[0] for line in result.notes}


def test_the_lessons_notebook_is_taken_as_is(tmp_path, released):
    _write(tmp_path, f"{LESSON}.ipynb", released)
    _write(tmp_path, "scratch.ipynb", released)
    result = intake.inspect(tmp_path, LESSON, released)
    assert result.gradable and result.source_file.name == f"{LESSON}.ipynb"
    assert list(result.notes) == []


def test_the_only_notebook_is_graded_under_the_lessons_name(tmp_path, released):
    _write(tmp_path, f"{LESSON}-Copy1.ipynb", released)
    result = intake.inspect(tmp_path, LESSON, released)
    assert result.gradable and _codes(result) == {"renamed"}
    assert f"{LESSON}-Copy1.ipynb" in result.notes.as_list()[0]
    dest = intake.stage(tmp_path, tmp_path.parent / "staged", result)
    assert sorted(p.name for p in dest.iterdir()) == [f"{LESSON}.ipynb"]


def test_among_several_notebooks_the_one_with_the_lessons_cells_is_graded(tmp_path, released):
    _write(tmp_path, "mine.ipynb", released)
    _write(tmp_path, "notes.ipynb", nbformat.v4.new_notebook(cells=[new_code_cell("1 + 1")]))
    result = intake.inspect(tmp_path, LESSON, released)
    assert result.gradable and result.source_file.name == "mine.ipynb" and _codes(result) == {"renamed"}


def test_two_candidate_notebooks_are_ambiguous(tmp_path, released):
    _write(tmp_path, "a.ipynb", released)
    _write(tmp_path, "b.ipynb", released)
    result = intake.inspect(tmp_path, LESSON, released)
    assert not result.gradable and _codes(result) == {"missing"}
    assert "a.ipynb" in result.notes.as_list()[0] and "b.ipynb" in result.notes.as_list()[0]


def test_a_folder_without_a_notebook_is_missing_and_says_what_it_holds(tmp_path, released):
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4")
    result = intake.inspect(tmp_path, LESSON, released)
    assert not result.gradable and _codes(result) == {"missing"}
    assert "report.pdf" in result.notes.as_list()[0]


@pytest.mark.parametrize("content, words", [
    (b"", "empty file"),
    (b'{"cells": [', "not valid JSON (line 1"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[1, 2, 3]", "not a Jupyter notebook"),
    (b'{"cells": [{"cell_type": "code"}], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
     "not a valid version-4 notebook"),
])
def test_unreadable_files_score_0_with_the_reason(tmp_path, released, content, words):
    _write(tmp_path, f"{LESSON}.ipynb", content)
    result = intake.inspect(tmp_path, LESSON, released)
    assert not result.gradable
    assert _codes(result) == {"unreadable"} and words in result.notes.as_list()[0]


def test_a_file_over_the_limit_is_not_opened(tmp_path, released):
    path = _write(tmp_path, f"{LESSON}.ipynb", released)
    limit = path.stat().st_size - 1
    result = intake.inspect(tmp_path, LESSON, released, max_bytes=limit)
    assert not result.gradable and _codes(result) == {"too-large"}
    assert intake.max_notebook_bytes({"GRADER_MAX_NOTEBOOK_BYTES": "1M"}) == 1024 * 1024
    with pytest.raises(ValueError, match="GRADER_MAX_NOTEBOOK_BYTES"):
        intake.max_notebook_bytes({"GRADER_MAX_NOTEBOOK_BYTES": "lots"})


def test_a_deleted_grade_cell_is_put_back_where_it_was(released):
    nb = copy.deepcopy(released)
    k = _ids(nb).index("test_square")
    del nb.cells[k]
    notes = intake.Notes()
    fixed = intake.repair(nb, released, notes)
    assert _ids(fixed) == _ids(released)
    assert fixed.cells[k].source == released.cells[k].source
    assert any("test_square was deleted" in n for n in notes)


def test_edited_points_type_and_test_source_are_listed(released):
    nb = copy.deepcopy(released)
    k = _ids(nb).index("test_square")
    nb.cells[k].metadata.nbgrader["points"] = 100
    nb.cells[k].source = "print('all good')"
    j = _ids(nb).index("test_grad_square")
    nb.cells[j] = nbformat.v4.new_markdown_cell(nb.cells[j].source, metadata=nb.cells[j].metadata)
    nb.metadata["kernelspec"] = {"name": "evil", "display_name": "x", "language": "python"}
    notes = intake.Notes()
    intake.repair(nb, released, notes)
    text = " | ".join(notes)
    assert "points of test_square were changed from 2 to 100" in text
    assert "read-only cell test_square was edited" in text
    assert "test_grad_square was changed from code to markdown" in text
    assert "kernel was changed to 'evil'" in text
    assert {n.partition(":")[0] for n in notes} == {"repaired"}


def test_an_unknown_grade_id_becomes_an_ordinary_cell_and_the_original_is_restored(released):
    nb = copy.deepcopy(released)
    k = _ids(nb).index("test_square")
    nb.cells[k].metadata.nbgrader["grade_id"] = "my_own_test"
    notes = intake.Notes()
    fixed = intake.repair(nb, released, notes)
    assert "my_own_test" not in _ids(fixed) and _ids(fixed).count("test_square") == 1
    assert fixed.cells[k].metadata.nbgrader["grade_id"] == "test_square"  # restored in its place
    assert "nbgrader" not in fixed.cells[k + 1].metadata  # the student's cell still runs, as a plain cell
    assert fixed.cells[k + 1].source == nb.cells[k].source
    text = " | ".join(notes)
    assert "'my_own_test'" in text and "test_square was deleted" in text


def test_staging_copies_regular_files_only(tmp_path, released):
    sub = tmp_path / "sub"
    _write(sub, f"{LESSON}.ipynb", released)
    (sub / "data.csv").write_text("1,2\n")
    (sub / "nested").mkdir()
    (sub / "nested" / "x.txt").write_text("x")
    secret = tmp_path / "secret.txt"
    secret.write_text("instructor only")
    (sub / "link.txt").symlink_to(secret)
    (sub / "linkdir").symlink_to(tmp_path)
    result = intake.inspect(sub, LESSON, released)
    dest = intake.stage(sub, tmp_path / "staged", result)
    names = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
    assert names == [f"{LESSON}.ipynb", "data.csv", "nested", "nested/x.txt"]
    assert json.loads((dest / f"{LESSON}.ipynb").read_text())["cells"]
