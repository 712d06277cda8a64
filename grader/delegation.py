"""A graded function that merely delegates to course_lib's reference implementation earns no points.

Each lesson lists, in ``solutions/NN_name/references.json`` (instructor-only,
never released), the course_lib objects that implement each exercise::

    [{"exercise": "mlp_forward",            # grade_id of the solution cell
      "grade_ids": ["test_mlp_forward"],     # the grade cells that check it
      "references": ["course_lib.mlp.mlp_forward"]}]

:func:`find_delegation` reads the code the student wrote -- the solution cells
and every code cell the student added or changed -- without running it, and
reports each exercise whose code reaches one of that exercise's references:

* through any import or alias (``import course_lib.mlp as m; m.mlp_forward``,
  ``from course_lib import mlp``, ``from course_lib.mlp import mlp_forward as f``,
  ``from course_lib.mlp import *``, ``getattr(course_lib.mlp, "mlp_forward")``,
  ``importlib.import_module("course_lib.mlp")``, ``__import__``,
  ``sys.modules["course_lib.mlp"]``, ``vars(m)["..."]``, ``super()`` of a
  reference class, a reference as base class or default argument);
* through names that the notebook's own public cells bound to a reference
  (``from course_lib.modules import Linear as RefLinear`` in a given cell, then
  ``RefLinear`` in a solution), and through the notebook's public helper
  functions that call a reference (a demo fallback);
* through helpers the student wrote, in any cell, that the exercise's code
  calls (a helper that delegates is followed; another exercise's graded
  function is not, it is judged on its own);
* by rebinding or patching the graded name itself anywhere
  (``mlp_forward = m.mlp_forward``, ``Tanh.backward = RefTanh.backward``).

References are compared as objects (course_lib is imported here), so a
re-export (``course_lib.bugs.Linear`` is ``course_lib.modules.Linear``) is the
same reference.  A use of a reference that the exercise's code does not reach
(a demo cell comparing the student's function with course_lib's) is not a
finding.  Not seen: code that only exists at run time (``exec``, ``eval``,
magics, strings, attribute names computed at run time on objects that are
not modules).

:func:`apply_delegation` turns the findings into grades: the grade cells of a
delegating exercise score 0, with the finding as the reason.
"""
from __future__ import annotations

import ast
import builtins
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

__all__ = ["Finding", "find_delegation", "apply_delegation", "load_references", "student_cells", "references_path"]

REFERENCES_FILE = "references.json"
_ROOT_PACKAGE = "course_lib"
_DYNAMIC = "*"  # an attribute whose name is only known at run time
_BUILTIN_NAMES = frozenset(dir(builtins))


@dataclass(frozen=True)
class Finding:
    """One exercise whose code reaches a reference implementation of that exercise."""

    exercise: str            # grade_id of the solution cell
    grade_ids: tuple         # the grade cells that lose their points
    reference: str           # e.g. "course_lib.mlp.mlp_forward"
    cell_index: int          # the cell of the submitted notebook where the exercise's code starts the chain
    line: int                # line in that cell (1-based)
    message: str


# ------------------------------------------------------------------ references
def references_path(source_notebook: str | Path) -> Path:
    """``references.json`` next to a lesson's source notebook."""
    return Path(source_notebook).with_name(REFERENCES_FILE)


def load_references(path_or_data) -> list[dict]:
    """The entries of a references.json file (a path, or the already parsed list); [] when the file is missing."""
    if isinstance(path_or_data, (str, Path)):
        path = Path(path_or_data)
        if path.is_dir():
            path = path / REFERENCES_FILE
        if not path.exists():
            return []
        data = json.loads(path.read_text())
    else:
        data = path_or_data
    if not isinstance(data, list):
        raise ValueError(f"references: expected a list of entries, got {type(data).__name__}")
    out = []
    for i, entry in enumerate(data):
        if not isinstance(entry, Mapping) or not {"exercise", "grade_ids", "references"} <= set(entry):
            raise ValueError(f"references[{i}]: expected keys exercise, grade_ids, references; got {entry!r}")
        out.append({"exercise": str(entry["exercise"]), "grade_ids": [str(g) for g in entry["grade_ids"]],
                    "references": [str(r) for r in entry["references"]]})
    return out


def resolve_reference(name: str) -> object:
    """The object a dotted course_lib name denotes (``course_lib.modules.Linear``); raises ValueError if none."""
    parts = name.split(".")
    if parts[0] != _ROOT_PACKAGE:
        raise ValueError(f"{name}: references must be course_lib objects")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        return obj
    raise ValueError(f"{name}: no such course_lib object")


# ------------------------------------------------------------------ which cells the student wrote
def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _meta(cell) -> dict:
    return (cell.get("metadata", {}) or {}).get("nbgrader", {}) or {}


def _normal(src: str) -> str:
    return "\n".join(line.rstrip() for line in src.strip().splitlines())


def student_cells(submitted_nb, source_nb) -> list[tuple[int, str | None]]:
    """``(index in submitted_nb, exercise or None)`` of the code cells the student wrote.

    The solution cells (exercise = their grade_id), and every other code cell
    whose code is not a cell of the source notebook (added or edited by the
    student; exercise None).  Grade and locked cells of the source are
    skipped: the grader puts their source back before running them.
    """
    solutions, fixed, texts = set(), set(), set()
    for cell in source_nb.get("cells", []):
        meta = _meta(cell)
        gid = meta.get("grade_id")
        if cell.get("cell_type") != "code":
            continue
        if meta.get("solution") and gid:
            solutions.add(gid)
        elif gid and (meta.get("grade") or meta.get("locked")):
            fixed.add(gid)
        else:
            texts.add(_normal(_source(cell)))
    out = []
    for index, cell in enumerate(submitted_nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        gid = _meta(cell).get("grade_id")
        if gid in solutions:
            out.append((index, gid))
        elif gid in fixed:
            continue
        elif _normal(_source(cell)) not in texts:
            out.append((index, None))
    return out


# ------------------------------------------------------------------ static analysis
def _parse(src: str) -> ast.Module | None:
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        src = TransformerManager().transform_cell(src)
    except Exception:
        src = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in src.splitlines())
    try:
        return ast.parse(src)
    except SyntaxError:
        return None


class _Definition:
    """A top-level binding of a name by one statement of one cell."""

    def __init__(self, name: str, cell_index: int, line: int, public: bool):
        self.name, self.cell_index, self.line, self.public = name, cell_index, line, public
        self.refs: list[tuple] = []                      # (paths, cell, line, role) of reference-capable expressions
        self.stmt: ast.stmt | None = None
        self.collected = False
        self.uses: list[tuple[str, int, int]] = []       # (global name, cell, line) it mentions


def _string_prefix(node: ast.AST | None) -> tuple[str | None, bool]:
    """``(text, True)`` for a constant string, ``(known prefix, False)`` for "a" + x or f"a{x}", else (None, False)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        text, complete = _string_prefix(node.left)
        return (text, False) if text is not None else (None, False)
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value), False
    return None, False


def _stores(nodes: Iterable[ast.AST]) -> set[str]:
    """Names bound in these statements (not looking inside nested functions and classes)."""
    out: set[str] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    out.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            stack.extend(node.decorator_list)
            if not isinstance(node, ast.ClassDef):
                stack.extend(node.args.defaults + [d for d in node.args.kw_defaults if d is not None])
            else:
                stack.extend(node.bases + [k.value for k in node.keywords])
            continue
        elif isinstance(node, ast.Lambda):
            continue
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            continue
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _params(args: ast.arguments) -> set[str]:
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return set(names)


class _Analyzer:
    """Aliases, definitions and reference uses of a notebook's cells, flow-insensitively."""

    def __init__(self):
        self.env: dict[str, set[tuple]] = {}           # module-level name -> the dotted paths it may denote
        self.definitions: dict[str, list[_Definition]] = {}

    # ---------------- resolution of expressions to dotted paths
    def resolve(self, node: ast.AST, scope: "_Scope") -> set[tuple]:
        if isinstance(node, ast.Name):
            return scope.lookup(node.id)
        if isinstance(node, ast.Attribute):
            if node.attr == "__dict__":
                return self.resolve(node.value, scope)
            return {p + (node.attr,) for p in self.resolve(node.value, scope)}
        if isinstance(node, ast.Subscript):
            base = self.resolve(node.value, scope)
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                out = set()
                for p in base:
                    if p == ("sys", "modules"):
                        out.add(tuple(key.value.split(".")))
                    else:
                        out.add(p + (key.value,))
                return out
            return {p + (_DYNAMIC,) for p in base if p != ("sys", "modules")}
        if isinstance(node, ast.Call):
            funcs = self.resolve(node.func, scope)
            args = node.args
            first = args[0] if args else None
            const, complete = _string_prefix(first)
            out: set[tuple] = set()
            for f in funcs:
                if f in (("importlib", "import_module"), ("builtins", "__import__"), ("__import__",)):
                    if const and complete:
                        parts = tuple(const.split("."))
                        fromlist = len(args) >= 4 or any(k.arg == "fromlist" for k in node.keywords)
                        out.add(parts if f[-1] == "import_module" or fromlist else parts[:1])
                    elif const:  # "course_lib." + name: some module below the known prefix
                        out.add(tuple(const.split(".")[:-1]) + (_DYNAMIC,))
                elif f in (("builtins", "getattr"), ("getattr",)) and len(args) >= 2:
                    name = args[1].value if isinstance(args[1], ast.Constant) and isinstance(args[1].value, str) else _DYNAMIC
                    out |= {p + (name,) for p in self.resolve(args[0], scope)}
                elif f in (("builtins", "vars"), ("vars",)) and first is not None:
                    out |= self.resolve(first, scope)
                elif f in (("builtins", "super"), ("super",)):
                    out |= scope.super_paths()
            return out
        if isinstance(node, (ast.BoolOp,)):
            return set().union(*(self.resolve(v, scope) for v in node.values))
        if isinstance(node, ast.IfExp):
            return self.resolve(node.body, scope) | self.resolve(node.orelse, scope)
        if isinstance(node, ast.NamedExpr):
            return self.resolve(node.value, scope)
        return set()

    # ---------------- bindings
    def bind_import(self, node: ast.AST, bind) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = tuple(alias.name.split("."))
                if alias.asname:
                    bind(alias.asname, {parts})
                else:
                    bind(parts[0], {parts[:1]})
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            module = tuple(node.module.split("."))
            for alias in node.names:
                if alias.name == "*":
                    for name in _public_names(node.module):
                        bind(name, {module + (name,)})
                else:
                    bind(alias.asname or alias.name, {module + (alias.name,)})

    def bind_assign(self, node: ast.AST, scope: "_Scope", bind) -> None:
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            if value is None:
                return
            for target in targets:
                if isinstance(target, ast.Name):
                    paths = self.resolve(value, scope)
                    if paths:
                        bind(target.id, paths)
                elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
                        and len(target.elts) == len(value.elts):
                    for t, v in zip(target.elts, value.elts):
                        if isinstance(t, ast.Name):
                            paths = self.resolve(v, scope)
                            if paths:
                                bind(t.id, paths)

    def module_bind(self, name: str, paths: set[tuple]) -> None:
        self.env.setdefault(name, set()).update(paths)

    # ---------------- cells, in notebook order
    def add_cell(self, tree: ast.Module, cell_index: int, public: bool) -> None:
        """Bind the cell's module-level names: a later unconditional binding replaces an earlier one."""
        module_scope = _Scope(self, None, set())
        for stmt in tree.body:
            conditional = isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While, ast.AsyncFor, ast.AsyncWith))
            bound, patched = self._defined_by(stmt)
            new_paths: dict[str, set[tuple]] = {}

            def bind(name, paths, new_paths=new_paths):
                new_paths.setdefault(name, set()).update(paths)
            for node in _walk_module_level(stmt):
                self.bind_import(node, bind)
                self.bind_assign(node, module_scope, bind)
            for name in bound:
                if conditional:
                    self.env.setdefault(name, set()).update(new_paths.get(name, set()))
                else:
                    self.env[name] = set(new_paths.get(name, set()))
            imported: dict[str, set[tuple]] = {}
            self.bind_import(stmt, lambda name, paths: imported.setdefault(name, set()).update(paths))
            for name in bound + patched:
                definition = _Definition(name, cell_index, stmt.lineno, public)
                definition.stmt = stmt
                if name in imported:  # from course_lib.mlp import mlp_forward: the name *is* the reference
                    definition.refs.append((frozenset(imported[name]), cell_index, stmt.lineno, "is bound to"))
                if conditional or name in patched:
                    self.definitions.setdefault(name, []).append(definition)
                else:
                    self.definitions[name] = [definition]  # what the name meant before no longer runs

    def collected(self, definition: "_Definition") -> "_Definition":
        """The definition with what it uses recorded (with the bindings of every cell added so far)."""
        if not definition.collected:
            definition.collected = True
            self._collect(definition.stmt, definition, _Scope(self, None, set()))
        return definition

    def _defined_by(self, stmt: ast.stmt) -> tuple[list[str], list[str]]:
        """The module-level names a statement binds, and those it patches (``Tanh.backward = ...``)."""
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return [stmt.name], []
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names: list[str] = []
            for alias in stmt.names:
                if alias.name == "*":
                    names += _public_names(stmt.module) if isinstance(stmt, ast.ImportFrom) and stmt.module else []
                else:
                    names.append((alias.asname or alias.name).split(".")[0])
            return names, []
        if isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            return sorted(_stores([stmt])), []
        targets: list[ast.AST] = []
        if isinstance(stmt, ast.Assign):
            targets = stmt.targets
        elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
            targets = [stmt.target]
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Name) \
                and stmt.value.func.id == "setattr" and stmt.value.args:
            targets = [stmt.value.args[0]]
        bound, patched = [], []
        for target in targets:
            if isinstance(target, ast.Name):
                bound.append(target.id)
            elif isinstance(target, (ast.Tuple, ast.List)):
                bound.extend(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            else:  # an attribute or item of a name: patching what the name refers to
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        patched.append(node.id)
                        break
        return bound, patched

    def _collect(self, stmt: ast.stmt, definition: _Definition, module_scope: "_Scope") -> None:
        """Record the reference-capable expressions and the global names ``stmt`` mentions."""
        cell = definition.cell_index

        def visit(node: ast.AST, scope: _Scope, role: str = "uses") -> None:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                    visit(d, scope)
                if not isinstance(node, ast.Lambda):
                    for d in node.decorator_list:
                        visit(d, scope)
                    if node.returns is not None:
                        visit(node.returns, scope)
                body = node.body if isinstance(node.body, list) else [node.body]
                inner = _Scope(self, scope, _params(node.args) | _stores(body), scope.class_bases)
                for stmt_ in body:
                    inner.bind_local(stmt_)
                for stmt_ in body:
                    visit(stmt_, inner)
                return
            if isinstance(node, ast.ClassDef):
                for d in node.decorator_list + [k.value for k in node.keywords]:
                    visit(d, scope)
                for b in node.bases:
                    visit(b, scope, "subclasses")
                bases = set().union(*(self.resolve(b, scope) for b in node.bases)) if node.bases else set()
                inner = _Scope(self, scope, set(), bases, class_body=True)
                for stmt_ in node.body:
                    visit(stmt_, inner)
                return
            if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                inner = _Scope(self, scope, _stores([g.target for g in node.generators]), scope.class_bases)
                for child in ast.iter_child_nodes(node):
                    visit(child, inner)
                return
            if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)):
                paths = self.resolve(node, scope)
                if paths:
                    definition.refs.append((frozenset(paths), cell, getattr(node, "lineno", definition.line), role))
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and scope.is_global(node.id):
                    definition.uses.append((node.id, cell, node.lineno))
            if isinstance(node, ast.Call):
                visit(node.func, scope, "calls")
                for child in node.args + [k.value for k in node.keywords]:
                    visit(child, scope)
                return
            for child in ast.iter_child_nodes(node):
                visit(child, scope)

        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None and any(
                isinstance(t, ast.Name) and t.id == definition.name
                for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])):
            visit(stmt.value, module_scope, "is bound to")  # mlp_forward = m.mlp_forward
            return
        visit(stmt, module_scope)


class _Scope:
    def __init__(self, analyzer: _Analyzer, parent: "_Scope | None", local_names: set[str],
                 class_bases: set[tuple] | None = None, class_body: bool = False):
        self.analyzer, self.parent, self.local_names = analyzer, parent, local_names
        self.class_bases = class_bases or set()
        self.class_body = class_body
        self.local_env: dict[str, set[tuple]] = {}

    def bind_local(self, stmt: ast.stmt) -> None:
        def bind(name, paths):
            self.local_env.setdefault(name, set()).update(paths)
        for _ in range(2):
            for node in _walk_function_level(stmt):
                self.analyzer.bind_import(node, bind)
                self.analyzer.bind_assign(node, self, bind)

    def lookup(self, name: str) -> set[tuple]:
        scope = self
        while scope is not None:
            if scope.parent is None:
                if name in scope.analyzer.env:
                    return scope.analyzer.env[name]
                if name in _BUILTIN_NAMES:
                    return {(name,)} if name in ("getattr", "__import__", "vars", "super") else set()
                return set()
            if name in scope.local_env:
                return scope.local_env[name]
            if name in scope.local_names and not scope.class_body:
                return set()
            scope = scope.parent
        return set()

    def is_global(self, name: str) -> bool:
        scope = self
        while scope.parent is not None:
            if name in scope.local_names and not scope.class_body:
                return False
            scope = scope.parent
        return True

    def super_paths(self) -> set[tuple]:
        return set(self.class_bases)


def _walk_module_level(stmt: ast.stmt):
    """Nodes of a statement that bind module-level names (not inside functions or classes)."""
    stack = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _walk_function_level(stmt: ast.stmt):
    yield from _walk_module_level(stmt)


def _public_names(module: str) -> list[str]:
    try:
        mod = importlib.import_module(module)
    except Exception:
        return []
    names = getattr(mod, "__all__", None)
    return list(names) if names else [n for n in vars(mod) if not n.startswith("_")]


# ------------------------------------------------------------------ matching paths with reference objects
class _Matcher:
    def __init__(self, references: Sequence[str]):
        self.objects = [(name, resolve_reference(name)) for name in references]

    def match(self, path: tuple) -> str | None:
        """The reference that this dotted path passes through, or None."""
        if not path or path[0] != _ROOT_PACKAGE:
            return None
        obj = None
        for i in range(1, len(path) + 1):
            part = path[i - 1]
            if part == _DYNAMIC:  # a name computed at run time: any reference below this point
                prefix = ".".join(path[: i - 1])
                for name, _ in self.objects:
                    if name.startswith(prefix + "."):
                        return name
                return None
            if i == 1:
                obj = importlib.import_module(_ROOT_PACKAGE)
            else:
                try:
                    obj = getattr(obj, part)
                except AttributeError:
                    if isinstance(obj, Mapping) and part in obj:  # ACTIVATION_MODULES["tanh"]
                        obj = obj[part]
                    else:
                        try:
                            obj = importlib.import_module(".".join(path[:i]))
                        except ImportError:
                            return None
            for name, ref in self.objects:
                if obj is ref:
                    return name
        return None


# ------------------------------------------------------------------ the analysis
def find_delegation(submitted_nb, source_nb, references) -> list[Finding]:
    """Exercises of ``submitted_nb`` whose code reaches a reference implementation of the same exercise.

    Args:
        submitted_nb: the student's notebook (nbformat node or plain dict).
        source_nb: the lesson's source notebook (tells which cells are solution,
            grade, locked and public cells).
        references: the parsed references.json (a list of entries) or its path.
    Returns:
        one :class:`Finding` per (exercise, reference) found, in notebook order.
    """
    entries = load_references(references)
    if not entries:
        return []
    cells = submitted_nb.get("cells", [])
    owned = dict(student_cells(submitted_nb, source_nb))
    locked = {(_meta(c).get("grade_id")): _source(c) for c in source_nb.get("cells", [])
              if _meta(c).get("locked") and not _meta(c).get("grade") and not _meta(c).get("solution")}
    grade_ids = {_meta(c).get("grade_id") for c in source_nb.get("cells", []) if _meta(c).get("grade")}
    # every cell that runs before the grade cells, as it will run: the student's, the public ones, locked ones as in the source
    program: list[tuple[int, ast.Module, bool]] = []
    exercise_names: dict[str, set[str]] = {}
    position: dict[str, int] = {}
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        gid = _meta(cell).get("grade_id")
        if gid in grade_ids:
            position.setdefault(gid, index)
            continue
        public = index not in owned
        tree = _parse(locked[gid] if public and gid in locked else _source(cell))
        if tree is None:
            continue
        program.append((index, tree, public))
        exercise = owned.get(index)
        if exercise is not None:
            names = exercise_names.setdefault(exercise, set())
            for stmt in tree.body:
                names.update(_Analyzer()._defined_by(stmt)[0])
    graded = _graded_names(source_nb, exercise_names)
    findings: list[Finding] = []
    for entry in entries:
        exercise = entry["exercise"]
        roots = exercise_names.get(exercise, set())
        if not roots or not entry["references"]:
            continue
        # what runs before the exercise's first grade cell is what that cell sees
        cutoff = min([position[g] for g in entry["grade_ids"] if g in position] or [len(cells)])
        analyzer = _Analyzer()
        for index, tree, public in program:
            if index < cutoff:
                analyzer.add_cell(tree, index, public)
        matcher = _Matcher(entry["references"])
        others = set().union(*(names for ex, names in graded.items() if ex != exercise)) - roots
        for reference, chain, role, cell, line in _reach(analyzer, roots, others, matcher, graded.get(exercise, set())):
            what = f"{role} {reference}" if len(chain) == 1 else f"uses {reference} through {' -> '.join(chain[1:])}"
            message = (f"{chain[0]} {what} (the reference implementation of this exercise): "
                       f"no points for {', '.join(entry['grade_ids'])}")
            findings.append(Finding(exercise, tuple(entry["grade_ids"]), reference, cell, line, message))
    return findings


def _graded_names(source_nb, exercise_names: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """Per exercise, the names its grade cells call (another exercise's analysis does not follow them)."""
    used: set[str] = set()
    for cell in source_nb.get("cells", []):
        if _meta(cell).get("grade"):
            tree = _parse(_source(cell))
            if tree is not None:
                used |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return {ex: names & used for ex, names in exercise_names.items()}


def _reach(analyzer: _Analyzer, roots: set[str], others: set[str], matcher: _Matcher, first: set[str] = frozenset()):
    """``(reference, chain of names, role, cell, line)`` per reference reachable from ``roots`` (first chain found).

    ``cell`` and ``line`` locate the start of the chain in the student's code.
    """
    found: dict[str, tuple] = {}
    seen: set[str] = set()
    # the names the grade cells call first, so that a finding names the graded function
    queue: list[tuple[str, tuple, tuple | None]] = [(r, (r,), None) for r in sorted(roots & first)]
    later = [(r, (r,), None) for r in sorted(roots - first)]  # the cell's other names, once those are done
    while queue or later:
        if not queue:
            queue.append(later.pop(0))
        name, chain, start = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        for definition in analyzer.definitions.get(name, []):
            if definition.public and start is None:
                continue  # an exercise's name: only the student's own definitions of it count
            analyzer.collected(definition)
            for paths, cell, line, role in definition.refs:
                for path in sorted(paths):
                    reference = matcher.match(path)
                    if reference and reference not in found:
                        found[reference] = (reference, chain, role, *(start or (cell, line)))
            for used, cell, line in definition.uses:
                if used not in seen and used not in others and used != name:
                    queue.append((used, chain + (used,), start or (cell, line)))
    return sorted(found.values(), key=lambda item: (item[3], item[4], item[0]))


# ------------------------------------------------------------------ grades
def apply_delegation(findings: Sequence[Finding], grades: Mapping[str, float]) -> tuple[dict[str, float], list[str]]:
    """New grades with every grade cell of a delegating exercise at 0, and one message per finding.

    Pure: ``grades`` (grade_id -> score) is not modified; grade ids not in
    ``grades`` are ignored.
    """
    new = dict(grades)
    messages: list[str] = []
    for finding in findings:
        for gid in finding.grade_ids:
            if gid in new:
                new[gid] = 0.0
        if finding.message not in messages:
            messages.append(finding.message)
    return new, messages
