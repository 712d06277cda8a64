"""The verdict on one notebook: one PASS/FAIL line per grade cell, with the failing checks' messages.

Shared by the instructor's ``python -m grader validate`` (hidden cases, the
sandboxed kernel) and the student bundle's ``backprop-course validate``
(visible cases only, the student's own kernel), so both print the same report.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: What the instructor's validate runs (the header of its report).
GRADER_SCOPE = "the autograder's checks, kernel and timeouts"


@dataclass
class CellResult:
    """One grade cell's verdict."""

    grade_id: str
    score: float | None
    max_score: float
    messages: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.score is not None and self.score >= self.max_score


@dataclass
class Validation:
    """The verdict on one notebook."""

    lesson: str
    cells: list[CellResult]
    error: str | None = None  # the notebook could not be graded at all
    notes: list[str] = field(default_factory=list)  # what the grader noted (grader.pipeline.notes)
    scope: str = GRADER_SCOPE  # what ran, said in the report's first line

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.passed for c in self.cells)

    @property
    def score(self) -> float:
        return sum(c.score or 0.0 for c in self.cells)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.cells)

    def render(self) -> str:
        width = max([len(c.grade_id) for c in self.cells] + [8])
        lines = [f"lesson {self.lesson}: {self.scope}"]
        if self.error:
            lines.append(f"  ERROR  the notebook could not be graded: {self.error}")
        lines += [f"  NOTE   {note}" for note in self.notes]
        for c in self.cells:
            got = "-" if c.score is None else f"{c.score:g}"
            lines.append(f"  {'PASS' if c.passed else 'FAIL'}  {c.grade_id.ljust(width)}  {got}/{c.max_score:g}")
            if not c.passed:
                lines += [f"          {m}" for m in c.messages]
        lines.append(f"score {self.score:g}/{self.max_score:g}: {'all checks pass' if self.ok else 'some checks fail'}")
        return "\n".join(lines)
