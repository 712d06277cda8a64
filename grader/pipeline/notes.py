"""What happened to one submission while it was graded, in words an instructor and a student can read.

A *note* is one line ``"<code>: <message>"``.  The codes are a fixed
vocabulary so that reports can count them and tests can match them:

=================  ==========================================================
code               meaning
=================  ==========================================================
kernel-died        the kernel died in a cell; the cells after it did not run
notebook-timeout   the whole-notebook time limit was reached; the kernel was stopped
cell-timeout       a cell was interrupted at the per-cell time limit
repaired           a grade cell, its points or id, or the kernelspec were
                   changed or deleted and restored from the lesson's source
renamed            the notebook had another name and was graded as the lesson's
unreadable         not a notebook (invalid JSON, empty, not UTF-8...): 0 points
too-large          the file is over the size limit: 0 points, not opened
missing            no notebook in the submitted folder: 0 points
output-truncated   a cell printed more than the output limit; the rest was cut
stderr             a grade cell wrote to stderr; kept as text, not counted as an error
tampering          a grade cell run in the kernel (plain nbgrader mode) forged a result
processes-killed   processes the kernel left behind were killed after the notebook
sandbox            the sandbox could not be set up (the notebook was not run)
checker-channel    the kernel did not open the checker's socket; its checks used one
                   execute request per call (slower, same verdicts)
=================  ==========================================================

The grading worker collects the notes of the submission it is grading in
:data:`current` (one submission at a time per worker process); nbgrader
preprocessors and the worker add to it.
"""
from __future__ import annotations

import re

CODES = (
    "kernel-died", "notebook-timeout", "cell-timeout", "repaired", "renamed",
    "unreadable", "too-large", "missing", "output-truncated", "stderr", "tampering",
    "processes-killed", "sandbox", "checker-channel",
)

#: Markdown cell the worker puts first in an autograded notebook that has notes.
HEADING = "### Notes from the grader"


class Notes:
    """An ordered, duplicate-free list of notes."""

    def __init__(self) -> None:
        self._items: list[str] = []

    def add(self, code: str, message: str) -> None:
        """Record ``"code: message"``; ``code`` must be one of :data:`CODES`."""
        if code not in CODES:
            raise ValueError(f"unknown note code {code!r}; expected one of {', '.join(CODES)}")
        line = f"{code}: {' '.join(str(message).split())}"
        if line not in self._items:
            self._items.append(line)

    def extend(self, lines) -> None:
        """Add already formatted ``"code: message"`` lines."""
        for line in lines:
            code, _, message = str(line).partition(": ")
            self.add(code, message)

    def clear(self) -> None:
        self._items.clear()

    def has(self, code: str) -> bool:
        return any(line.startswith(code + ":") for line in self._items)

    def __iter__(self):
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def as_list(self) -> list[str]:
        return list(self._items)


#: The notes of the submission this process is grading.
current = Notes()


def markdown(lines) -> str:
    """The notes as the markdown cell shown at the top of a graded notebook."""
    body = "\n".join(f"- {line}" for line in lines)
    return f"{HEADING}\n\n{body}\n"


#: "cell 43" in a note: the index of a cell of the graded notebook.
_CELL_INDEX = re.compile(r"\bcell (\d+)\b")


def describe_cell(nb, index: int) -> str:
    """Cell ``index`` of ``nb`` named as a student knows it: by exercise, not by position.

    A solution cell is ``exercise <grade_id>``; a grade cell is ``the checks
    <grade_id> of exercise <the solution cell before it>``; any other cell is
    named by the exercise before it.
    """
    cells = nb.cells if hasattr(nb, "cells") else nb["cells"]
    if not 0 <= index < len(cells):
        return f"cell {index}"

    def meta(cell) -> dict:
        return (cell.get("metadata") or {}).get("nbgrader") or {}

    def exercise_before(k: int) -> str | None:
        for cell in reversed(cells[:k]):
            m = meta(cell)
            if m.get("solution") and m.get("grade_id"):
                return m["grade_id"]
        return None

    m = meta(cells[index])
    gid = m.get("grade_id")
    if gid and m.get("solution"):
        return f"exercise {gid}"
    if gid and m.get("grade"):
        exercise = exercise_before(index)
        return f"the checks {gid}" + (f" of exercise {exercise}" if exercise else "")
    exercise = exercise_before(index)
    where = f"after exercise {exercise}" if exercise else "before the first exercise"
    return f"a code cell {where}, cell {index}"


def name_cells(lines, nb) -> list[str]:
    """``lines`` (notes) with every ``cell N`` replaced by :func:`describe_cell` of the graded notebook."""
    out = []
    for line in lines:
        out.append(_CELL_INDEX.sub(lambda m: describe_cell(nb, int(m.group(1))), str(line)))
    return out


def mentions_cell(line: str) -> bool:
    """Whether a note names a cell by its index."""
    return bool(_CELL_INDEX.search(str(line)))
