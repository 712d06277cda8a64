"""The student side of the course: validate a lesson notebook before handing it in.

Installed with the student bundle (``pip install backprop_course_student-*.whl``,
built by ``python -m grader release``), together with the released lessons,
``course_lib`` and the checks the grade cells call.  From a terminal::

    backprop-course lessons ~/backprop            # copy the lessons into a folder of your own
    backprop-course validate ~/backprop/02_general_case/02_general_case.ipynb

or in the notebook itself, as its last cell (save the notebook first)::

    from grader.student_kit import validate; validate()

Both print one PASS/FAIL line per check, with the failing cases and hints.
They run the *visible* checks only, in your own Python: the graded run adds
hidden cases, so a pass here is necessary, not sufficient.
"""
from __future__ import annotations

import os
from pathlib import Path

from .check import SCOPE, ValidationError, lessons_dir, released_lessons, validate_notebook
from .verdict import CellResult, Validation

__all__ = ["validate", "validate_notebook", "Validation", "CellResult", "ValidationError", "released_lessons",
           "lessons_dir", "SCOPE"]


def current_notebook() -> Path:
    """The notebook this kernel was started for (JupyterLab sets ``JPY_SESSION_NAME``).

    Raises:
        ValidationError: the kernel was not started by a Jupyter server for a notebook.
    """
    path = os.environ.get("JPY_SESSION_NAME", "")
    if not path.endswith(".ipynb"):
        raise ValidationError(
            "cannot tell which notebook to validate: expected a kernel started by JupyterLab "
            f"(JPY_SESSION_NAME naming a .ipynb file), got {path!r}; pass the path: validate('NN_name.ipynb')"
        )
    return Path(path)


def validate(notebook: str | os.PathLike | None = None, timeout: int | None = None) -> None:
    """Print the visible-checks report of ``notebook`` (default: the notebook this cell runs in).

    The saved file is run top to bottom in a fresh kernel, as grading does:
    save the notebook first (Ctrl+S).  While that run (or grading) executes
    this very cell, it does nothing (``NBGRADER_EXECUTION`` is set), so the
    cell may stay in the notebook.

    Args:
        notebook: path of the notebook; ``None`` for the current one.
        timeout: seconds a cell may run (default: the grader's 60).
    """
    if os.environ.get("NBGRADER_EXECUTION"):  # this notebook is itself being validated or graded: no nested run
        print("validate(): skipped while the notebook is being validated or graded")
        return
    path = Path(notebook) if notebook is not None else current_notebook()
    print(f"validating the saved file {path.name} (save first: Ctrl+S) ...", flush=True)
    verdict = validate_notebook(path, timeout=timeout or 60)
    print(verdict.render())
