"""Which grade cells fail when some exercises are left unanswered.

Used to compute the expected score of a "partly done" sample submission from
the notebook alone.  The rule (documented in ``grader/AUTHORING.md``): run
through the cells in order; names defined by an unanswered solution cell are
*broken*; an ordinary or answered cell that uses a broken name breaks the
names it defines; a grade cell that uses a broken name (hidden tests
included) scores 0, every other grade cell scores full.
"""
from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _parse(source: str) -> ast.Module | None:
    # IPython magics and shell escapes are not Python
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def defined_names(source: str) -> set[str]:
    """Names a cell binds at module level (assignments, defs, classes, imports, loops, with)."""
    tree = _parse(source)
    if tree is None:
        return set()
    names: set[str] = set()

    def visit(stmts):
        for node in stmts:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    names.add((alias.asname or alias.name).split(".")[0])
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                    break
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list):
                    visit([n for n in inner if isinstance(n, ast.stmt)] +
                          [s for h in inner if isinstance(h, ast.ExceptHandler) for s in h.body])

    visit(tree.body)
    return names


def used_names(source: str) -> set[str]:
    """Every plain name a cell mentions (attributes excluded)."""
    tree = _parse(source)
    if tree is None:
        return set(_IDENT.findall(source))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


_CHECKS_DIR = Path(__file__).resolve().parents[1] / "checks"


@functools.cache
def _module_functions(module: str) -> dict[str, ast.AST]:
    path = _CHECKS_DIR / f"{module}.py"
    if not path.is_file():
        return {}
    tree = ast.parse(path.read_text())
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _student_names_of(module: str, factory: str) -> set[str]:
    """Names the check ``module.factory`` may ask of the student (``S.call("name")``...): the identifier-like
    strings of the factory and of the module's own functions it calls."""
    functions = _module_functions(module)
    seen, todo, names = set(), [factory], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                todo.append(node.func.id)
            # a name may reach S.call through a variable: every identifier-like string of the check counts
            # (only names that unanswered solution cells define matter to the caller)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
                names.add(node.value)
    return names


def check_names(source: str) -> set[str]:
    """Student names a grade cell's checks use: those of each ``grader.checks.<module>.<factory>(...)`` it calls."""
    tree = _parse(source)
    if tree is None:
        return set()
    modules = {(a.asname or a.name): a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               and n.module == "grader.checks" for a in n.names}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in modules:
            names |= _student_names_of(modules[node.func.value.id], node.func.attr)
            # a name given to the factory as a string, e.g. quiz.choice("answer_skip", ...)
            names |= {a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
                      and a.value.isidentifier()}
    return names


def failing_grade_cells(source_nb, unanswered: set[str]) -> set[str]:
    """Grade ids that score 0 when the solution cells ``unanswered`` keep their stub."""
    broken: set[str] = set()
    failing: set[str] = set()
    for cell in source_nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        gid = meta.get("grade_id")
        source = cell.source
        if meta.get("solution") and gid in unanswered:
            broken |= defined_names(source)
            continue
        used = used_names(source) | (check_names(source) if meta.get("grade") else set())
        uses_broken = bool(used & broken)
        if meta.get("grade") and uses_broken:
            failing.add(gid)
        # a grade cell runs in the checker, each in a fresh namespace: the names it binds reach no other cell
        if uses_broken and not meta.get("grade"):
            broken |= defined_names(source)
    return failing
