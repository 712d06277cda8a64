"""Building student submissions from a lesson's source and released notebooks.

Used by the end-to-end tests and by the sample class of ``grader demo``:

* ``complete``: the released notebook with every solution cell filled in as a
  student would type it (the solution source without the delimiter lines);
* ``with_bug``: a complete submission with one planted bug of ``bugs.json``;
* ``with_stubs``: a complete submission with some exercises left as released;
* ``disguise``: a cell's code as a copier hides it (local names and comments changed).

It also reads a source notebook's grading structure (grade cells, points,
solution cells) and validates ``bugs.json`` entries against it.
"""
from __future__ import annotations

import ast
import builtins
import copy
import io
import keyword
import re
import tokenize
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


def _renamable(tree: ast.Module) -> set[str]:
    """Names that only ever live inside functions, as their locals: renaming them changes nothing outside."""
    stored: dict[ast.AST, set[str]] = {}  # function -> names it binds
    loads: list[tuple[str, tuple]] = []  # (name, enclosing functions, innermost last)
    outside: set[str] = set()  # names seen outside every function (module or class level), or declared global
    params: set[str] = set()

    def visit(node, chain: tuple):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for deco in getattr(node, "decorator_list", []):
                visit(deco, chain)
            for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                visit(default, chain)
            if getattr(node, "returns", None) is not None:
                visit(node.returns, chain)
            args = node.args
            for arg in args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]:
                params.add(arg.arg)
                if arg.annotation is not None:
                    visit(arg.annotation, chain)
            inner = chain + (node,)
            stored.setdefault(node, set())
            for child in (node.body if isinstance(node.body, list) else [node.body]):
                visit(child, inner)
            return
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            outside.update(node.names)
        if isinstance(node, ast.Name):
            if not chain:
                outside.add(node.id)
            elif isinstance(node.ctx, ast.Load):
                loads.append((node.id, chain))
            else:
                stored[chain[-1]].add(node.id)
        if isinstance(node, ast.ClassDef):
            outside.add(node.name)
            for child in ast.iter_child_nodes(node):
                visit(child, ())  # a class body's names are its attributes
            return
        for child in ast.iter_child_nodes(node):
            visit(child, chain)

    for stmt in tree.body:
        visit(stmt, ())
    local = set().union(*stored.values()) if stored else set()
    # a name read in a function that does not bind it (nor does any enclosing one) is a global there
    globals_read = {name for name, chain in loads if not any(name in stored[f] for f in chain)}
    return {n for n in local - outside - params - globals_read
            if not keyword.iskeyword(n) and not hasattr(builtins, n) and n != "self"}


def disguise(code: str, keep: set[str] = frozenset()) -> str:
    """``code`` as a copier hides it: every local variable of its functions renamed, every comment rewritten.

    Names another cell or a grade cell can see keep theirs: what the cell defines at module level,
    function parameters (callers may pass them by keyword), attributes, keyword arguments, globals
    and builtins.  So the copy computes what the original computes and earns the same marks, while
    no local name or comment of the original is left (``grader similarity`` must still see the copy:
    its tokenizer ignores names and comments).

    Args:
        code: a cell's Python source.
        keep: names to leave as they are (those of the lesson's released cell, which a copier keeps).
    Returns:
        the disguised source (line structure kept).
    """
    tree = ast.parse(code)
    renamable = _renamable(tree) - set(keep)
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    # names inside an f-string are one STRING token before Python 3.12: leave those names alone
    for tok in tokens:
        if tok.type == tokenize.STRING and re.match(r"(?i)[rb]*f", tok.string):
            renamable -= set(re.findall(r"[A-Za-z_]\w*", tok.string))
    taken = {tok.string for tok in tokens if tok.type == tokenize.NAME}
    mapping: dict[str, str] = {}
    for name in sorted(renamable, key=lambda n: next(i for i, t in enumerate(tokens) if t.string == n)):
        k = len(mapping)
        while f"tmp{k}" in taken:
            k += 1
        mapping[name] = f"tmp{k}"
        taken.add(mapping[name])
    edits: list[tuple[int, int, int, str]] = []  # (row, start col, end col, new text)
    depth = 0
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        if tok.type == tokenize.COMMENT:
            edits.append((tok.start[0], tok.start[1], tok.end[1], "# (my note)"))
        elif tok.type == tokenize.NAME and tok.string in mapping:
            after_dot = i > 0 and tokens[i - 1].string == "."
            keyword_arg = depth > 0 and i + 1 < len(tokens) and tokens[i + 1].string == "="
            if not after_dot and not keyword_arg:
                edits.append((tok.start[0], tok.start[1], tok.end[1], mapping[tok.string]))
    lines = code.splitlines(keepends=True)
    for row, start, end, text in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:start] + text + line[end:]
    return "".join(lines)


def write(nb, path) -> None:
    """Write a notebook (parent folders created)."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
