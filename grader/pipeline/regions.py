"""Solution and hidden-test regions of a source notebook.

nbgrader marks them with delimiter lines (a line that *contains* the
delimiter, as nbgrader matches them)::

    ### BEGIN SOLUTION            ### BEGIN HIDDEN TESTS
    ...                           ...
    ### END SOLUTION              ### END HIDDEN TESTS

This module finds those regions, lists their lines (to prove that a released
or feedback document contains none of them) and strips them.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

BEGIN_SOLUTION = "BEGIN SOLUTION"
END_SOLUTION = "END SOLUTION"
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)

#: Lines this short (ignoring whitespace) or made only of these tokens occur
#: everywhere (``return x``, ``)``, ``else:``) and prove nothing when found.
_TRIVIAL = re.compile(r"^[\s\)\]\}\(\[\{,:;.#'\"]*(pass|else:|return|try:|finally:|continue|break)?[\s\)\]\}\(\[\{,:;.#'\"]*$")
MIN_SIGNIFICANT_CHARS = 6


class RegionError(ValueError):
    """Unbalanced or nested region delimiters."""


@dataclass(frozen=True)
class Region:
    """Lines strictly between a begin and an end delimiter of one cell."""

    kind: str  # "solution" or "hidden"
    cell_index: int
    lines: tuple[str, ...]


def _cell_source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def regions_in_source(source: str, begin: str, end: str) -> list[list[str]]:
    """The line lists between ``begin``/``end`` delimiter lines of ``source``.

    Raises ``RegionError`` for a begin without end, an end without begin, or a
    nested begin.
    """
    found: list[list[str]] = []
    current: list[str] | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        if begin in line:
            if current is not None:
                raise RegionError(f"line {number}: nested {begin!r} (expected {end!r} first)")
            current = []
        elif end in line:
            if current is None:
                raise RegionError(f"line {number}: {end!r} without {begin!r}")
            found.append(current)
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        raise RegionError(f"{begin!r} is never closed by {end!r}")
    return found


def notebook_regions(nb) -> list[Region]:
    """Every solution and hidden-test region of a notebook, in cell order."""
    out: list[Region] = []
    for index, cell in enumerate(nb.get("cells", [])):
        source = _cell_source(cell)
        try:
            for lines in regions_in_source(source, BEGIN_SOLUTION, END_SOLUTION):
                out.append(Region("solution", index, tuple(lines)))
            for lines in regions_in_source(source, BEGIN_HIDDEN, END_HIDDEN):
                out.append(Region("hidden", index, tuple(lines)))
        except RegionError as exc:
            raise RegionError(f"cell {index}: {exc}") from None
    return out


def is_significant(line: str) -> bool:
    """Whether finding this line elsewhere says something (not ``)`` or ``return``)."""
    text = line.strip()
    if len(text.replace(" ", "")) < MIN_SIGNIFICANT_CHARS:
        return False
    return not _TRIVIAL.match(text)


def public_lines(nb) -> set[str]:
    """Stripped lines of code the notebook shows outside every solution and hidden-test region.

    Only code cells count: a markdown cell that quotes a solution line is a leak.
    """
    out: set[str] = set()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = strip_regions(_cell_source(cell), BEGIN_SOLUTION, END_SOLUTION)
        source = strip_regions(source, BEGIN_HIDDEN, END_HIDDEN)
        out.update(line.strip() for line in source.splitlines())
    return out


def secret_lines(nb, kinds: Iterable[str] = ("solution", "hidden")) -> set[str]:
    """The stripped, significant lines of the notebook's regions of ``kinds``.

    A line of code that the notebook also shows outside every region
    (``L = len(Ws)`` in a given helper as well as in a solution) is public.
    """
    wanted = set(kinds)
    return {
        line.strip()
        for region in notebook_regions(nb)
        if region.kind in wanted
        for line in region.lines
        if is_significant(line)
    } - public_lines(nb)


def strip_regions(source: str, begin: str, end: str, replacement: str | None = None) -> str:
    """``source`` without the ``begin``..``end`` regions (delimiters included).

    With ``replacement`` each removed region is replaced by that one line,
    indented like the begin delimiter.
    """
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        if not inside and begin in line:
            inside = True
            if replacement is not None:
                indent = line[: len(line) - len(line.lstrip())]
                out.append(indent + replacement)
        elif inside and end in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def unmark_solution(source: str) -> str:
    """The solution source as a student would have typed it: delimiter lines dropped."""
    return "\n".join(
        line for line in source.splitlines() if BEGIN_SOLUTION not in line and END_SOLUTION not in line
    )


def find_leaks(text_lines: Iterable[str], secrets: set[str]) -> Iterator[str]:
    """Lines of ``text_lines`` that are a marker or equal (stripped) to a secret line."""
    for line in text_lines:
        stripped = line.strip()
        if any(marker in line for marker in MARKERS):
            yield stripped
        elif stripped in secrets:
            yield stripped
