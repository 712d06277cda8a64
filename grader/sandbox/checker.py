"""The trusted checker: runs a grade cell's source in the grader's process against a student.

During ``grader autograde`` and ``grader validate`` a grade cell's source
(taken from the instructor's notebook, hidden cases included) is never sent to
the student's kernel.  :func:`run_grade_source` executes it here, with
:func:`grader.checks.student` bound to the sandboxed kernel (through
:mod:`grader.protocol`) and :func:`grader.checks.rng` mixed with the run's
secret seed, and turns what it printed and returned into the cell's outputs.
The gradebook's points come from these outputs, written by the grader.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import linecache
from pathlib import Path

from nbformat import NotebookNode

from .. import checks


def _outputs(text: str, value, error: BaseException | None) -> list[NotebookNode]:
    outs = []
    if text:
        outs.append(NotebookNode(output_type="stream", name="stdout", text=text))
    if error is not None:
        ename = type(error).__name__
        evalue = str(error)
        outs.append(NotebookNode(output_type="error", ename=ename, evalue=evalue,
                                 traceback=[f"{ename}: {evalue}"]))
    elif value is not None:
        outs.append(NotebookNode(output_type="execute_result", execution_count=None, metadata={},
                                 data={"text/plain": repr(value)}))
    return outs


def run_grade_source(source: str, who: checks.Student, seed: int | None = None) -> tuple[list[NotebookNode], object]:
    """Execute a grade cell's ``source`` here against ``who``; return ``(outputs, value of the last expression)``.

    An exception in the cell's own code (not in a case: cases catch their own)
    becomes an error output, which nbgrader scores 0.
    """
    tree = ast.parse(source, filename="<grade cell>")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    namespace: dict = {"__name__": "__grade_cell__"}
    sink = io.StringIO()
    value, error = None, None
    with checks.grading(who, seed), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(io.StringIO()):
        try:
            exec(compile(tree, "<grade cell>", "exec"), namespace)
            if last is not None:
                value = eval(compile(last, "<grade cell>", "eval"), namespace)
        except Exception as exc:  # the check's own code failed (or a case let an error through)
            error = exc
    return _outputs(sink.getvalue(), value, error), value


def grade_sources(notebook: dict | NotebookNode) -> dict[str, str]:
    """``{grade_id: source}`` of the autograded (test) cells of an instructor's notebook."""
    out = {}
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution"):
            source = cell["source"]
            out[meta["grade_id"]] = source if isinstance(source, str) else "".join(source)
    return out


def namespace_from_notebook(path: Path | str, skip_grade_cells: bool = True, stop_at: str | None = None) -> dict:
    """Execute a notebook's code cells in a fresh dict (for tests): the namespace a kernel would have.

    Lines starting with ``%`` or ``!`` are skipped; grade cells too (unless
    ``skip_grade_cells`` is False); execution stops before the cell whose
    grade_id is ``stop_at``.
    """
    nb = json.loads(Path(path).read_text())
    ns: dict = {"__name__": "__main__"}
    for number, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if stop_at and meta.get("grade_id") == stop_at:
            break
        if skip_grade_cells and meta.get("grade") and not meta.get("solution"):
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        # registered like IPython does, so inspect.getsource works on what the cell defines
        filename = f"<cell {number} {meta.get('grade_id', '')}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
        exec(compile(code, filename, "exec"), ns)
    return ns
