"""grader.sandbox.grade_outputs: the outputs nbgrader scores from, after GradeCellOutputs (scored with nbgrader's own rule)."""
from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbgrader.utils import determine_grade

from grader.pipeline import notes
from grader.sandbox import TRUNCATION_MARKER
from grader.sandbox.grade_outputs import GradeCellOutputs


def _grade_cell(outputs, gid="test_x", points=4):
    cell = new_code_cell("cases.score()", outputs=outputs)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": gid, "locked": True, "points": points,
                                 "solution": False, "schema_version": 3, "task": False}
    return cell


def _run(*cells, **config):
    notes.current.clear()
    nb = new_notebook(cells=list(cells))
    out, _ = GradeCellOutputs(**config)(nb, {})  # as nbconvert calls it (only when enabled)
    return out, notes.current.as_list()


def _score(cell) -> float:
    return determine_grade(cell)[0]


def _result(value):
    return new_output("execute_result", data={"text/plain": repr(value)}, execution_count=1)


def test_stderr_in_a_grade_cell_is_kept_as_text_and_does_not_zero_it():
    warned = _grade_cell([new_output("stream", name="stderr", text="RuntimeWarning: overflow in exp\n"),
                          new_output("stream", name="stdout", text="x: 3/3 checks passed\n"), _result(4.0)])
    assert _score(warned) == 0  # what nbgrader alone would give
    nb, lines = _run(warned)
    cell = nb.cells[0]
    assert _score(cell) == 4.0
    assert cell.outputs[0].name == "stdout" and "[stderr]" in cell.outputs[0].text
    assert "overflow in exp" in cell.outputs[0].text
    assert len(lines) == 1 and lines[0].startswith("stderr: grade cell test_x wrote to stderr")


def test_stderr_outside_grade_cells_is_left_alone():
    scratch = new_code_cell("import warnings", outputs=[new_output("stream", name="stderr", text="warn\n")])
    nb, lines = _run(scratch)
    assert nb.cells[0].outputs[0].name == "stderr" and lines == []


def test_an_error_still_zeroes_a_grade_cell():
    failed = _grade_cell([new_output("error", ename="AssertionError", evalue="no", traceback=[])])
    nb, lines = _run(failed)
    assert _score(nb.cells[0]) == 0 and lines == []


def test_a_second_result_in_a_grade_cell_is_a_forgery_and_scores_0():
    forged = _grade_cell([_result(4.0), _result(4.0)])
    assert _score(forged) == 4.0  # nbgrader takes the first
    nb, lines = _run(forged)
    assert _score(nb.cells[0]) == 0
    assert nb.cells[0].outputs[0].ename == "ForgedResult"
    assert lines and lines[0].startswith("tampering: grade cell test_x produced 2 results")


@pytest.mark.parametrize("grade", [False, True])
def test_floods_are_cut_with_a_marker_and_the_grade_is_kept(grade):
    flood = "\n".join(map(str, range(50_000))) + "\n"
    outputs = [new_output("stream", name="stdout", text=flood), _result(2.0)]
    cell = _grade_cell(outputs) if grade else new_code_cell("print(...)", outputs=outputs)
    nb, lines = _run(cell, max_lines=100, max_bytes=10_000)
    out = nb.cells[0]
    text = "".join(o.get("text", "") for o in out.outputs if o.output_type == "stream")
    assert TRUNCATION_MARKER in text and len(text) < 12_000
    assert [line.partition(":")[0] for line in lines] == ["output-truncated"]
    if grade:
        assert _score(out) == 2.0
