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
