"""The outputs nbgrader scores from: bounded in size, and read the way the lesson's checks mean them.

nbgrader scores a code grade cell from its outputs
(``nbgrader.utils.determine_grade``): the first error output *or stderr
stream* scores 0; the first ``execute_result`` that is a number is the
score; otherwise full points.  :class:`GradeCellOutputs` runs after the
notebook was executed and before ``SaveAutoGrades`` (it replaces nbgrader's
``LimitOutput``, which drops every stream past a line count, stderr
included, and so can change a grade):

* every code cell keeps at most ``max_bytes`` / ``max_lines`` of output, with
  a marker line saying how much was cut (``grader.sandbox.truncate_outputs``,
  which never drops an error, the first stderr stream or a result);
* in a grade cell, text on **stderr** (a ``RuntimeWarning`` from the student's
  function, a ``print(..., file=sys.stderr)``) is kept as ordinary output
  headed ``[stderr]`` instead of zeroing the cell: this course's checks fail
  a case by its own verdict, never by writing to stderr;
* a grade cell with **more than one** ``execute_result`` did not come from the
  lesson's single ``cases.score()``: something in the kernel forged a result,
  so the cell scores 0 (this matters where grade cells run in the kernel,
  i.e. plain nbgrader; ``grader autograde`` writes grade cells' outputs in the
  checker, see ``grader.sandbox.execute``).

Everything noteworthy goes to ``grader.pipeline.notes.current``.
"""
from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool, Integer

from ..pipeline import notes
from . import truncate_outputs

STDERR_HEADING = "[stderr]\n"


def _is_grade_code_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


class GradeCellOutputs(Preprocessor):
    """Bound every cell's output; in grade cells turn stderr into text and refuse forged results."""

    enabled = Bool(True, help="nbconvert runs a preprocessor only when enabled.").tag(config=True)
    max_bytes = Integer(100_000, help="Output bytes kept per cell.").tag(config=True)
    max_lines = Integer(2_000, help="Output lines kept per cell.").tag(config=True)

    def preprocess(self, nb, resources):
        nb, cut = truncate_outputs(nb, self.max_bytes, self.max_lines)
        for entry in cut:
            notes.current.add("output-truncated", f"cell {entry['cell']} printed more than the output limit "
                                                  f"({self.max_lines} lines, {self.max_bytes // 1000} kB): "
                                                  f"{entry['dropped_lines']} more lines were not kept")
        for index, cell in enumerate(nb.cells):
            if cell.get("cell_type") != "code":
                continue
            if _is_grade_code_cell(cell):
                self._grade_cell(index, cell)
        return nb, resources

    def _grade_cell(self, index: int, cell) -> None:
        gid = cell.metadata.nbgrader.get("grade_id", f"cell {index}")
        outputs = []
        results = 0
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream" and out.get("name") == "stderr":
                text = _text(out.get("text"))
                first = next((line for line in text.splitlines() if line.strip()), "")
                notes.current.add("stderr", f"grade cell {gid} wrote to stderr ({first.strip()[:160]!r}); "
                                            f"kept as text, not counted as an error")
                out = NotebookNode(output_type="stream", name="stdout", text=STDERR_HEADING + text)
            elif kind == "execute_result":
                results += 1
            outputs.append(out)
        if results > 1:
            notes.current.add("tampering", f"grade cell {gid} produced {results} results where the lesson's check "
                                           f"produces one: a result was forged, 0 points for this cell")
            outputs.insert(0, NotebookNode(
                output_type="error", ename="ForgedResult",
                evalue=f"{results} results in one grade cell; the check produces exactly one",
                traceback=[f"ForgedResult: {results} results in one grade cell; the check produces exactly one"]))
        cell.outputs = outputs
