"""Validate a lesson notebook on a student's machine: the visible checks, in the student's own kernel.

The student bundle (``grader/pipeline/bundle.py``) ships the released lessons
next to this module.  A notebook names its lesson in its metadata
(``metadata.backprop_course.lesson``, written by ``grader release``), so no
``solutions/`` folder is needed.  Validation:

1. puts the released grade cells back (an edited or deleted check is restored,
   a missing one is appended at the end, and the report says so);
2. runs the notebook top to bottom in a fresh kernel of the student's own
   Python (``nbclient``), as grading does, with ``NBGRADER_EXECUTION=validate``;
3. scores each grade cell by nbgrader's rule (an error or any stderr: 0; a
   number as the cell's result: partial credit; otherwise full points) and
   prints one PASS/FAIL line per grade cell, with the failing cases' messages.

Only the visible cases run: the graded run adds hidden ones, in a sandbox.
"""
from __future__ import annotations

import contextlib
import copy
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .verdict import CellResult, Validation

#: Notebook metadata key that names the lesson: ``{"backprop_course": {"lesson": "02_general_case"}}``.
METADATA_KEY = "backprop_course"
#: What the bundle's validation runs (the first line of its report).
SCOPE = "visible checks only, run in your own Python kernel (the graded run adds hidden cases)"
#: Seconds a cell may run (the grader's own limit per cell).
DEFAULT_TIMEOUT = 60
#: Lines of a failing grade cell's output shown in the report.
MESSAGE_LIMIT = 15


class ValidationError(RuntimeError):
    """The notebook cannot be validated (not found, not a lesson, unreadable)."""


def lessons_dir() -> Path:
    """The released lessons: shipped with the bundle (``<package>/lessons``), else a checkout's ``lessons/``."""
    here = Path(__file__).resolve()
    shipped = here.with_name("lessons")
    checkout = here.parents[2] / "lessons"
    return shipped if shipped.is_dir() or not checkout.is_dir() else checkout


def released_lessons(root: Path | None = None) -> dict[str, Path]:
    """``{lesson name: released notebook}`` for every ``NN_name/NN_name.ipynb`` under ``root``."""
    root = lessons_dir() if root is None else Path(root)
    if not root.is_dir():
        return {}
    return {p.name: p / f"{p.name}.ipynb" for p in sorted(root.iterdir()) if (p / f"{p.name}.ipynb").is_file()}


def lesson_of(nb, path: Path, lessons: dict[str, Path]) -> str:
    """The lesson a notebook belongs to: its metadata, else its file name.

    Raises:
        ValidationError: neither names a lesson of the bundle.
    """
    named = (nb.metadata.get(METADATA_KEY) or {}).get("lesson")
    if named in lessons:
        return named
    if path.stem in lessons:
        return path.stem
    said = f"its metadata names {named!r}" if named else f"it has no metadata.{METADATA_KEY}.lesson"
    raise ValidationError(
        f"cannot tell which lesson {path.name} is: {said} and its file name is not a lesson; "
        f"expected one of {sorted(lessons)} (start from a notebook given by `backprop-course lessons`)"
    )


def _grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if meta.get("grade") else None


def restore_grade_cells(nb, released) -> tuple[object, dict[str, float], list[str]]:
    """``nb`` with every grade cell's source, outputs and metadata taken from ``released``.

    Returns:
        (the notebook to run, {grade_id: points} in the released order, notes on what was restored)
    """
    nb = copy.deepcopy(nb)
    points: dict[str, float] = {}
    originals = {}
    for cell in released.cells:
        gid = _grade_id(cell)
        if gid is not None:
            points[gid] = float(cell.metadata["nbgrader"].get("points", 0))
            originals[gid] = cell
    notes, seen = [], set()
    for index, cell in enumerate(nb.cells):
        gid = _grade_id(cell)
        if gid in originals and gid not in seen:
            seen.add(gid)
            if cell.source != originals[gid].source:
                notes.append(f"check {gid} was edited: the released check is run instead")
            nb.cells[index] = copy.deepcopy(originals[gid])
    for gid, cell in originals.items():
        if gid not in seen:
            notes.append(f"check {gid} was missing: the released check is run at the end of the notebook")
            nb.cells.append(copy.deepcopy(cell))
    return nb, points, notes


def cell_score(cell, max_points: float) -> float | None:
    """A grade cell's score by nbgrader's rule; ``None`` when it reports more than ``max_points``."""
    outputs = cell.get("outputs", [])
    if any(o.get("output_type") == "error" or (o.get("output_type") == "stream" and o.get("name") == "stderr")
           for o in outputs):
        return 0.0
    for output in outputs:
        if output.get("output_type") == "execute_result":
            text = output.get("data", {}).get("text/plain", "")
            try:
                score = float("".join(text) if isinstance(text, list) else text)
            except ValueError:
                return max_points
            return score if 0 <= score <= max_points else None
    return max_points


def failure_lines(cell, limit: int = MESSAGE_LIMIT) -> list[str]:
    """What a failing grade cell said: printed lines (PASS lines dropped), then its error or stderr."""
    lines: list[str] = []
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream" and output.get("name") == "stdout":
            text = output.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            lines += [line.rstrip() for line in text.splitlines() if line.strip() and not line.strip().startswith("PASS")]
        elif kind == "stream":
            text = output.get("text", "")
            lines.append("stderr: " + " ".join(("".join(text) if isinstance(text, list) else text).split()))
        elif kind == "error":
            lines.append(f"{output.get('ename', '')}: {output.get('evalue', '')}".strip())
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more lines)"]
    return lines


@contextlib.contextmanager
def _kernel_env() -> Iterator[None]:
    """The environment grading gives a kernel: no figure windows, one BLAS thread, NBGRADER_EXECUTION set."""
    wanted = {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NBGRADER_EXECUTION": "validate", "PYTHONDONTWRITEBYTECODE": "1"}
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute(nb, folder: Path, timeout: int = DEFAULT_TIMEOUT):
    """Run ``nb`` top to bottom in a fresh kernel started in ``folder``; errors are kept as outputs."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="backprop-validate-") as sockets, _kernel_env():
        km = AsyncKernelManager(kernel_name="python3")
        if os.name == "posix":  # unix sockets in a private folder: no open port (and no TCP warning)
            km.transport, km.ip = "ipc", os.path.join(sockets, "kernel")
        client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=True, kernel_name="python3",
                                resources={"metadata": {"path": str(folder)}})
        client.execute(cleanup_kc=True)  # shut the kernel down before returning (it is ours)
    return nb


def validate_notebook(notebook: Path | str, lessons_root: Path | None = None,
                      timeout: int = DEFAULT_TIMEOUT) -> Validation:
    """Run the visible checks of ``notebook``'s lesson on it and return the verdict.

    Raises:
        ValidationError: the file is missing, is not a notebook, or is not a lesson of the bundle.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # nbformat never uses it; it costs 1.5 s at import
    import nbformat

    path = Path(notebook).expanduser().resolve()
    if not path.is_file():
        raise ValidationError(f"no such notebook: {path}")
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:
        raise ValidationError(f"{path.name} is not a readable notebook ({type(exc).__name__}: {exc})") from None
    lessons = released_lessons(lessons_root)
    if not lessons:
        raise ValidationError(f"no lessons found in {lessons_root or lessons_dir()}: the bundle is incomplete")
    lesson = lesson_of(nb, path, lessons)
    released = nbformat.read(str(lessons[lesson]), as_version=4)
    to_run, points, notes = restore_grade_cells(nb, released)
    try:
        execute(to_run, path.parent, timeout)
        error = None
    except Exception as exc:  # the kernel died or a cell timed out: cells not run score 0
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    graded = {gid: cell for cell in to_run.cells if (gid := _grade_id(cell)) in points}
    cells = []
    for gid, pts in points.items():
        cell = graded.get(gid)
        ran = cell is not None and (cell.get("outputs") or cell.get("execution_count") is not None)
        score = cell_score(cell, pts) if ran else 0.0
        messages = failure_lines(cell) if ran else ["not run (the notebook stopped before this check)"]
        if score is None:
            messages.append(f"the cell reported a score outside 0..{pts:g}")
        cells.append(CellResult(gid, score, pts, messages))
    return Validation(lesson, cells, error, notes, scope=SCOPE)
