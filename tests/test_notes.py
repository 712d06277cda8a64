"""grader.pipeline.notes: a fixed vocabulary of what happened to a submission."""
from __future__ import annotations

import pytest

from grader.pipeline import notes


def test_notes_only_take_known_codes():
    with pytest.raises(ValueError, match="unknown note code 'oops'"):
        notes.Notes().add("oops", "x")
    n = notes.Notes()
    n.add("missing", "no   notebook\nat all")
    n.add("missing", "no notebook at all")
    assert n.as_list() == ["missing: no notebook at all"] and n.has("missing") and not n.has("renamed")
    assert notes.markdown(n).startswith(notes.HEADING)


def test_notes_name_cells_by_exercise_not_by_index():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    def meta(gid, solution, grade):
        return {"nbgrader": {"grade_id": gid, "solution": solution, "grade": grade, "locked": not solution,
                             "schema_version": 3, "task": False, **({"points": 1} if grade else {})}}

    nb = new_notebook(cells=[
        new_markdown_cell("# lesson"),
        new_code_cell("import numpy as np"),
        new_code_cell("def sigmoid(z): ...", metadata=meta("sigmoid", True, False)),
        new_code_cell("check()", metadata=meta("test_sigmoid", False, True)),
        new_code_cell("scratch = 1"),
    ])
    lines = ["kernel-died: the kernel died while running this cell (cell 3); the cells after it scored 0",
             "cell-timeout: cell 2 was interrupted after 60 s", "output-truncated: cell 4 printed too much",
             "stderr: cell 1 wrote to stderr", "repaired: cell 12 is not there"]
    assert notes.name_cells(lines, nb) == [
        "kernel-died: the kernel died while running this cell (the checks test_sigmoid of exercise sigmoid); "
        "the cells after it scored 0",
        "cell-timeout: exercise sigmoid was interrupted after 60 s",
        "output-truncated: a code cell after exercise sigmoid, cell 4 printed too much",
        "stderr: a code cell before the first exercise, cell 1 wrote to stderr",
        "repaired: cell 12 is not there",  # no such cell: left as it was
    ]
    assert notes.mentions_cell(lines[0]) and not notes.mentions_cell("missing: no notebook")
