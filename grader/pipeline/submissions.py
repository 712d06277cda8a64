"""Building student submissions from a lesson's source and released notebooks.

Used by the end-to-end tests and by the sample class of ``grader demo``:

* ``complete``: the released notebook with every solution cell filled in as a
  student would type it (the solution source without the delimiter lines);
* ``with_bug``: a complete submission with one planted bug of ``bugs.json``;
* ``with_stubs``: a complete submission with some exercises left as released.

It also reads a source notebook's grading structure (grade cells, points,
solution cells) and validates ``bugs.json`` entries against it.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import nbformat

from .regions import unmark_solution

BUG_KEYS = {"exercise": str, "grade_ids": list, "find": str, "replace": str, "quantity": str}


class SubmissionError(ValueError):
    """A bug or exercise does not fit the notebook it is applied to."""


@dataclass(frozen=True)
class Structure:
    """The grading structure of a source notebook."""

    points: dict[str, float]  # grade cell id -> points, in notebook order
    solutions: list[str]  # solution cell ids, in notebook order

    @property
    def max_score(self) -> float:
        return float(sum(self.points.values()))


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def grade_id(cell) -> str | None:
    """The cell's nbgrader ``grade_id`` (None for ordinary cells)."""
    return _nbgrader(cell).get("grade_id")


def structure(nb) -> Structure:
    """Grade cells (with points) and solution cells of a notebook."""
    points: dict[str, float] = {}
    solutions: list[str] = []
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if meta.get("grade"):
            points[meta["grade_id"]] = float(meta.get("points", 0))
        if meta.get("solution"):
            solutions.append(meta["grade_id"])
    return Structure(points, solutions)


def _cell_by_id(nb, cell_id: str):
    for cell in nb.cells:
        if grade_id(cell) == cell_id:
            return cell
    raise SubmissionError(
        f"no cell with grade_id {cell_id!r}; the notebook has {[grade_id(c) for c in nb.cells if grade_id(c)]}"
    )


def complete(source_nb, released_nb):
    """The released notebook with every solution cell answered from the source notebook."""
    nb = copy.deepcopy(released_nb)
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if meta.get("solution"):
            src = _cell_by_id(source_nb, meta["grade_id"])
            cell.source = unmark_solution(src.source)
    return nb


def with_stubs(complete_nb, released_nb, exercises: Iterable[str]):
    """``complete_nb`` with the solution cells ``exercises`` reset to their released stub."""
    nb = copy.deepcopy(complete_nb)
    for exercise in exercises:
        _cell_by_id(nb, exercise).source = _cell_by_id(released_nb, exercise).source
    return nb


def check_bug(bug: Mapping, source_nb, where: str = "bugs.json") -> None:
    """Raise ``SubmissionError`` unless ``bug`` is a valid entry for ``source_nb``."""
    for key, kind in BUG_KEYS.items():
        if key not in bug:
            raise SubmissionError(f"{where}: missing key {key!r}; expected keys {sorted(BUG_KEYS)}, got {sorted(bug)}")
        if not isinstance(bug[key], kind):
            raise SubmissionError(
                f"{where}: {key!r} must be a {kind.__name__}, got {type(bug[key]).__name__}"
            )
    info = structure(source_nb)
    if bug["exercise"] not in info.solutions:
        raise SubmissionError(
            f"{where}: exercise {bug['exercise']!r} is not a solution cell; solution cells: {info.solutions}"
        )
    unknown = [g for g in bug["grade_ids"] if g not in info.points]
    if unknown or not bug["grade_ids"]:
        raise SubmissionError(
            f"{where}: grade_ids {bug['grade_ids']} must be non-empty grade cell ids; "
            f"unknown: {unknown}; grade cells: {list(info.points)}"
        )
    source = unmark_solution(_cell_by_id(source_nb, bug["exercise"]).source)
    count = source.count(bug["find"])
    if count != 1:
        raise SubmissionError(
            f"{where}: 'find' must occur exactly once in solution cell {bug['exercise']!r}, "
            f"found {count} times: {bug['find']!r}"
        )
    if not bug["quantity"].strip():
        raise SubmissionError(f"{where}: 'quantity' must name what is wrong, got {bug['quantity']!r}")


def with_bug(complete_nb, bug: Mapping):
    """``complete_nb`` with ``bug['find']`` replaced by ``bug['replace']`` in the exercise cell."""
    nb = copy.deepcopy(complete_nb)
    cell = _cell_by_id(nb, bug["exercise"])
    count = cell.source.count(bug["find"])
    if count != 1:
        raise SubmissionError(
            f"bug for {bug['exercise']!r}: expected 'find' exactly once in the cell, found {count}: {bug['find']!r}"
        )
    cell.source = cell.source.replace(bug["find"], bug["replace"])
    return nb


def write(nb, path) -> None:
    """Write a notebook (parent folders created)."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
