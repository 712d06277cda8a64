"""Mutation testing of a lesson's checks: do they fail every plausible wrong answer?

For each exercise (a solution cell of ``solutions/NN/NN.ipynb``), every
statement inside its ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region is
mutated, one change at a time, by AST operators that produce the mistakes
students make:

=================  ================================================================
operator           what it does
=================  ================================================================
swap-operands      ``a - b`` -> ``b - a``, ``A @ B`` -> ``B @ A``, ``a / b`` -> ``b / a``
flip-operator      ``+`` <-> ``-``, ``*`` <-> ``/``, ``<`` <-> ``<=``, ``>`` <-> ``>=``
negate             ``x`` -> ``-x`` for a returned or assigned value
drop-term          ``a + b`` -> ``a`` and ``b``; ``a * b`` -> ``a`` and ``b``
transpose          ``X.T`` -> ``X``; a matmul operand ``X`` -> ``X.T``
axis               ``axis=0`` <-> ``axis=1``, ``axis=k`` -> ``axis=None``, ``keepdims`` dropped
sum-mean           ``.sum(`` <-> ``.mean(``, ``np.sum`` <-> ``np.mean``
off-by-one         ``range(a, b)`` -> ``range(a, b - 1)`` / ``range(a + 1, b)``; ``range(n)`` -> ``range(n - 1)``
constant           a number ``c`` -> ``0``, ``2 c``, ``c / 2``, ``c + 1``
swap-name          a name read -> another local name of the same function (``z`` -> ``a``: derivative at
                   the output instead of the input)
in-place           ``a += b`` -> ``a = a + b`` (a new array: the caller's stays unchanged) and back
drop-statement     a statement removed (``pass`` where one is needed)
early-return       a statement replaced by ``return None`` (the function stops there)
=================  ================================================================

Each mutant is graded by the exercise's real grade cells (the instructor's
source, hidden cases included) through the same protocol as grading, with
several seeds.  A mutant is *killed* when a grade cell loses points.  A
surviving mutant whose every reply to the checks equals the original's on
every seed (arrays within 1e-9) is *equivalent*: the checks cannot tell it
apart because, on their inputs, it computes the same thing; it is listed with
that reason and left out of the score.  The mutation score of an exercise is
killed / (mutants - equivalent).

    python -m grader mutants [LESSON ...] [--seeds N] [--limit N] [--show-survivors]
"""
from __future__ import annotations

import ast
import contextlib
import copy
import io
import json
import os
import resource
import select
import signal
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..protocol import Agent, Peer, unpack
from . import Student

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
#: Seconds a mutant may run in one grade cell before it counts as killed (a hang is a failure too).
MUTANT_TIMEOUT = 20


@dataclass
class Mutant:
    exercise: str
    operator: str
    line: int  # in the solution cell
    description: str
    source: str  # the whole mutated cell
    status: str = "?"  # killed | survived | equivalent | invalid
    detail: str = ""


@dataclass
class ExerciseResult:
    exercise: str
    grade_ids: list[str]
    mutants: list[Mutant] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for m in self.mutants if m.status == status)

    @property
    def score(self) -> float:
        relevant = self.count("killed") + self.count("survived")
        return 1.0 if relevant == 0 else self.count("killed") / relevant


# ------------------------------------------------------------------ operators
_FLIP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
         ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}


def _region_lines(source: str) -> set[int]:
    lines, inside = set(), False
    for number, line in enumerate(source.splitlines(), start=1):
        if line.strip().startswith(BEGIN):
            inside = True
        elif line.strip().startswith(END):
            inside = False
        elif inside:
            lines.add(number)
    return lines


def _describe(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every node the parser makes
        return type(node).__name__


class _Site:
    """One place in the tree where an operator can apply: ``replace(tree) -> description``."""

    def __init__(self, operator: str, line: int, apply: Callable[[ast.AST], str | None]):
        self.operator, self.line, self.apply = operator, line, apply


def _path_to(tree: ast.AST, target: ast.AST) -> list[tuple[ast.AST, str, int | None]]:
    """(parent, field, index) steps from ``tree`` to ``target``."""
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                return [(parent, name, None)]
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is target:
                        return [(parent, name, i)]
    return []


def _sites(tree: ast.Module, region: set[int]) -> Iterator[tuple[str, int, ast.AST, Callable[[ast.AST], list]]]:
    """``(operator, line, node, make)``: ``make(node_copy)`` returns [(replacement or None, description), ...]."""
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]

    def local_names(node: ast.AST) -> list[str]:
        for fn in functions:
            if fn.lineno <= node.lineno <= (fn.end_lineno or fn.lineno):
                names = {a.arg for a in fn.args.args} | {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)
                                                         and isinstance(n.ctx, ast.Store)}
                return sorted(names)
        return []

    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if line is None or line not in region:
            continue
        if isinstance(node, ast.BinOp):
            yield "swap-operands", line, node, lambda n: [(ast.BinOp(n.right, n.op, n.left), "operands swapped")]
            if type(node.op) in _FLIP:
                yield "flip-operator", line, node, lambda n: [
                    (ast.BinOp(n.left, _FLIP[type(n.op)](), n.right), f"{type(n.op).__name__} -> "
                                                                      f"{_FLIP[type(n.op)].__name__}")]
            if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
                yield "drop-term", line, node, lambda n: [(n.left, "right term dropped"), (n.right, "left term dropped")]
            if isinstance(node.op, ast.MatMult):
                def transpose(n):
                    out = []
                    for side in ("left", "right"):
                        operand = getattr(n, side)
                        if isinstance(operand, ast.Attribute) and operand.attr == "T":
                            repl = copy.copy(n)
                            setattr(repl, side, operand.value)
                            out.append((repl, f"{side} operand not transposed"))
                        else:
                            repl = copy.copy(n)
                            setattr(repl, side, ast.Attribute(operand, "T", ast.Load()))
                            out.append((repl, f"{side} operand transposed"))
                    return out
                yield "transpose", line, node, transpose
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _FLIP:
            yield "flip-operator", line, node, lambda n: [
                (ast.Compare(n.left, [_FLIP[type(n.ops[0])]()], n.comparators), "comparison flipped")]
        elif isinstance(node, ast.Attribute) and node.attr == "T" and isinstance(node.ctx, ast.Load):
            yield "transpose", line, node, lambda n: [(n.value, "transpose dropped")]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("sum", "mean"):
                other = "mean" if name == "sum" else "sum"

                def sum_mean(n, other=other):
                    repl = copy.copy(n)
                    repl.func = copy.copy(n.func)
                    if isinstance(repl.func, ast.Attribute):
                        repl.func.attr = other
                    else:
                        repl.func.id = other
                    return [(repl, f"{name} -> {other}")]
                yield "sum-mean", line, node, sum_mean
            for k, kw in enumerate(node.keywords):
                if kw.arg == "axis":
                    def axis(n, k=k):
                        out = []
                        value = n.keywords[k].value
                        options = [ast.Constant(None)]
                        if isinstance(value, ast.Constant) and value.value in (0, 1):
                            options.append(ast.Constant(1 - value.value))
                        for opt in options:
                            repl = copy.copy(n)
                            repl.keywords = list(n.keywords)
                            repl.keywords[k] = ast.keyword("axis", opt)
                            out.append((repl, f"axis -> {opt.value}"))
                        return out
                    yield "axis", line, node, axis
                if kw.arg == "keepdims":
                    def keepdims(n, k=k):
                        repl = copy.copy(n)
                        repl.keywords = [w for i, w in enumerate(n.keywords) if i != k]
                        return [(repl, "keepdims dropped")]
                    yield "axis", line, node, keepdims
            if name == "range" and node.args:
                def off_by_one(n):
                    out = []
                    args = list(n.args)
                    stop = 1 if len(args) >= 2 else 0
                    minus = ast.BinOp(args[stop], ast.Sub(), ast.Constant(1))
                    out.append((ast.Call(n.func, args[:stop] + [minus] + args[stop + 1:], n.keywords),
                                "range stops one early"))
                    if len(args) >= 2:
                        plus = ast.BinOp(args[0], ast.Add(), ast.Constant(1))
                        out.append((ast.Call(n.func, [plus] + args[1:], n.keywords), "range starts one late"))
                    return out
                yield "off-by-one", line, node, off_by_one
        elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            def constant(n):
                c = n.value
                values = {0, 2 * c, c / 2 if c else 1, c + 1} - {c}
                return [(ast.Constant(v), f"{c!r} -> {v!r}") for v in sorted(values, key=repr)]
            yield "constant", line, node, constant
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            others = [v for v in local_names(node) if v != node.id]
            if others and node.id in local_names(node):
                yield "swap-name", line, node, lambda n, others=others: [
                    (ast.Name(v, ast.Load()), f"{n.id} -> {v}") for v in others[:6]]
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, (ast.Name, ast.Subscript, ast.Attribute)):
            def rebind(n):
                target_load = copy.deepcopy(n.target)
                target_load.ctx = ast.Load()
                return [(ast.Assign([n.target], ast.BinOp(target_load, n.op, n.value)), "in place -> new object")]
            yield "in-place", line, node, rebind
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            yield "negate", line, node, lambda n: [(n.operand, "minus dropped")]
        if isinstance(node, ast.Return) and node.value is not None:
            yield "negate", line, node, lambda n: [(ast.Return(ast.UnaryOp(ast.USub(), n.value)), "returned value "
                                                                                                  "negated")]
        if isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            yield "drop-statement", line, node, lambda n: [(ast.Pass(), "statement removed")]
            if not isinstance(node, ast.Return) and any(f.lineno <= line <= (f.end_lineno or f.lineno)
                                                        for f in functions):
                yield "early-return", line, node, lambda n: [(ast.Return(None), "return None instead of this "
                                                                                "statement and the rest")]


def generate(exercise: str, source: str, limit: int | None = None) -> list[Mutant]:
    """Mutants of a solution cell's ``source``, each differing from it in one place of the solution region."""
    region = _region_lines(source)
    if not region:
        return []
    tree = ast.parse(source)
    original = ast.unparse(tree)
    seen, out = {original}, []
    nodes = list(_sites(tree, region))
    for operator, line, node, make in nodes:
        for replacement, text in make(node):
            work = ast.parse(source)
            # find the node at the same walk position in the fresh tree
            target = [n for n in ast.walk(work)][[n for n in ast.walk(tree)].index(node)]
            steps = _path_to(work, target)
            if not steps:
                continue
            parent, name, i = steps[0]
            repl = _rebuild(replacement, tree, work)
            if i is None:
                setattr(parent, name, repl)
            else:
                getattr(parent, name)[i] = repl
            try:
                code = ast.unparse(ast.fix_missing_locations(work))
                compile(code, "<mutant>", "exec")
            except (SyntaxError, ValueError, TypeError):
                continue
            if code in seen:
                continue
            seen.add(code)
            out.append(Mutant(exercise, operator, line, f"line {line}: {text} in `{_describe(node)[:60]}`", code))
        if limit is not None and len(out) >= limit:
            break
    return out[:limit] if limit else out


def _rebuild(node: ast.AST, old_tree: ast.AST, new_tree: ast.AST) -> ast.AST:
    """A deep copy of ``node`` (it may hold nodes of the old tree: copies keep the trees apart)."""
    return copy.deepcopy(node)


# ------------------------------------------------------------------ grading a mutant
class _Recorder:
    """A transport that answers from a local agent and records every reply (for the equivalence test)."""

    def __init__(self, namespace: dict):
        self.agent = Agent(namespace)
        self.replies: list[str] = []

    def __call__(self, packed: str) -> str:
        reply = self.agent.respond(packed)
        self.replies.append(reply)
        return reply


class _Timeout(Exception):
    pass


def _alarm(_signum, _frame):
    raise _Timeout(f"the mutant ran longer than {MUTANT_TIMEOUT} s")


def grade(namespace: dict, grade_sources: dict[str, str], grade_ids: list[str], points: dict[str, float],
          seed: int) -> tuple[bool, list[str], str]:
    """Run the grade cells ``grade_ids`` against ``namespace``: (all full marks, replies, first failure)."""
    from ..sandbox.checker import run_grade_source

    replies: list[str] = []
    failure = ""
    full = True
    for gid in grade_ids:
        recorder = _Recorder(namespace)
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(MUTANT_TIMEOUT)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                outputs, value = run_grade_source(grade_sources[gid], Student(Peer(recorder)), seed)
        except _Timeout as exc:
            outputs, value = [], None
            failure = failure or str(exc)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        replies += recorder.replies
        # nbgrader's rule: an error scores 0, a numeric result is the score, neither is full points
        errored = not outputs and value is None and failure.startswith("the mutant ran") or any(
            o.get("output_type") == "error" for o in outputs)
        ok = not errored and (value is None or (isinstance(value, (int, float)) and value >= points[gid] - 1e-9))
        if not ok:
            full = False
            if not failure:
                text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
                lines = text.splitlines()
                at = next((i for i, line in enumerate(lines) if line.strip().startswith("FAIL")), None)
                # the failing case and its message (what a student would read, hint included)
                failure = "" if at is None else " ".join(line.strip() for line in lines[at:at + 2])
    return full, replies, failure


def _same_replies(a: list[str], b: list[str]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        try:
            vx, vy = unpack(x), unpack(y)
        except ValueError:
            return False
        for v in (vx, vy):  # where an error was raised moves with the mutant's lines: compare what, not where
            if isinstance(v, dict) and isinstance(v.get("error"), dict):
                v["error"].pop("where", None)
        if not _close(vx, vy):
            return False
    return True


def _close(x, y) -> bool:
    from ..protocol import decode

    def plain(v):
        try:
            return decode(v, lambda marker: ("handle", marker.get("__handle__")))
        except ValueError:
            return v

    px, py = plain(x), plain(y)
    return _close_values(px, py)


def _close_values(x, y) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        try:
            ax, ay = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        except (TypeError, ValueError):
            return False
        return ax.shape == ay.shape and bool(np.allclose(ax, ay, rtol=1e-9, atol=1e-12, equal_nan=True))
    if isinstance(x, float) and isinstance(y, (int, float)):
        return bool(np.isclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True))
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)) and type(x) is type(y):
        return len(x) == len(y) and all(_close_values(a, b) for a, b in zip(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_close_values(x[k], y[k]) for k in x)
    return x == y


# ------------------------------------------------------------------ a lesson
def _exercises(lesson_dir: Path) -> dict[str, list[str]]:
    """exercise (solution cell grade_id) -> its grade cells, from references.json (or test_<exercise>)."""
    path = lesson_dir / "references.json"
    if path.exists():
        return {e["exercise"]: list(e["grade_ids"]) for e in json.loads(path.read_text())}
    return {}


def run_lesson(lesson_dir: Path | str, seeds: int = 3, limit: int | None = None,
               exercises: list[str] | None = None, progress: Callable[[str], None] | None = None,
               jobs: int | None = None) -> list[ExerciseResult]:
    """Generate and grade the mutants of every exercise of one lesson."""
    from ..sandbox.checker import grade_sources as read_grade_sources
    from ..sandbox.checker import namespace_from_notebook

    lesson_dir = Path(lesson_dir)
    nb_path = lesson_dir / f"{lesson_dir.name}.ipynb"
    nb = json.loads(nb_path.read_text())
    sources = read_grade_sources(nb)
    points = {c["metadata"]["nbgrader"]["grade_id"]: float(c["metadata"]["nbgrader"]["points"])
              for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")
              and not c["metadata"]["nbgrader"].get("solution")}
    cells = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) if isinstance(c["source"], list)
             else c["source"] for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")}
    mapping = _exercises(lesson_dir)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = namespace_from_notebook(nb_path)
    results = []
    seed_list = [1000 + 7919 * i for i in range(seeds)]
    for exercise, cell in cells.items():
        if exercises and exercise not in exercises:
            continue
        grade_ids = [g for g in mapping.get(exercise, [f"test_{exercise}"]) if g in sources]
        result = ExerciseResult(exercise, grade_ids)
        results.append(result)
        originals = {}
        for seed in seed_list:
            full, replies, failure = grade(dict(base), sources, grade_ids, points, seed)
            if not full:
                raise RuntimeError(f"{lesson_dir.name}/{exercise}: the solution itself loses points ({failure})")
            originals[seed] = replies
        known = _known_equivalents(lesson_dir, exercise)
        todo = []
        for mutant in generate(exercise, cell, limit):
            result.mutants.append(mutant)
            reason = next((r for match, r in known if match in mutant.description), None)
            if reason:
                mutant.status, mutant.detail = "equivalent", f"listed in mutants.json: {reason}"
            else:
                todo.append(mutant)
        tasks = [lambda m=m: _judge(m, base, sources, grade_ids, points, seed_list, originals) for m in todo]
        for mutant, outcome in zip(todo, _in_children(tasks, timeout=MUTANT_TIMEOUT * (len(seed_list) + 1),
                                                      jobs=jobs)):
            mutant.status, mutant.detail = outcome["status"], outcome.get("detail", "")
            if progress:
                progress(f"{lesson_dir.name}/{exercise}: {mutant.status} {mutant.description}")
    return results


def _judge(mutant: Mutant, base: dict, sources: dict, grade_ids: list[str], points: dict, seed_list: list[int],
           originals: dict) -> dict:
    """In the mutant's own process: run its cell on the lesson's namespace and grade it on every seed."""
    ns = base  # this process's copy: nothing leaks into the next mutant
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            exec(compile(mutant.source, f"<mutant {mutant.exercise}>", "exec"), ns)
    except Exception as exc:
        return {"status": "invalid", "detail": f"does not run: {type(exc).__name__}: {exc}"}
    status = "equivalent"
    for seed in seed_list:
        full, replies, failure = grade(ns, sources, grade_ids, points, seed)
        if not full:
            return {"status": "killed", "detail": failure}
        if not _same_replies(replies, originals[seed]):
            status = "survived"
    detail = f"every reply to the checks equals the solution's on {len(seed_list)} seeds" if status == "equivalent" else ""
    return {"status": status, "detail": detail}


def _known_equivalents(lesson_dir: Path, exercise: str) -> list[tuple[str, str]]:
    """``(text in the mutant's description, reason)`` from ``solutions/<lesson>/mutants.json``.

    The file lists mutants that are equivalent for a reason the automatic test cannot see, e.g. a negated
    standard normal draw is still a standard normal draw: ``[{"exercise", "match", "reason"}]``.
    """
    path = lesson_dir / "mutants.json"
    if not path.exists():
        return []
    return [(e["match"], e["reason"]) for e in json.loads(path.read_text()) if e.get("exercise") == exercise]


def _in_children(tasks: list[Callable[[], dict]], timeout: float, jobs: int | None = None) -> list[dict]:
    """Each task in its own forked process (see :func:`_in_child`), ``jobs`` at a time (default: the cores)."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = max(1, jobs or os.cpu_count() or 1)
    if jobs == 1 or len(tasks) < 2:
        return [_in_child(t, timeout) for t in tasks]
    with ThreadPoolExecutor(jobs) as pool:  # threads only wait on their child's pipe
        return list(pool.map(lambda t: _in_child(t, timeout), tasks))


def _in_child(fn: Callable[[], dict], timeout: float, memory: int = 4 << 30) -> dict:
    """``fn()`` in a forked process with a memory limit and a time limit (a mutant may loop or explode)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            out = fn()
        except BaseException as exc:  # MemoryError, RecursionError...: the mutant failed
            out = {"status": "killed", "detail": f"{type(exc).__name__}: {str(exc)[:200]}"}
        data = json.dumps(out).encode()
        while data:
            data = data[os.write(write, data):]
        os._exit(0)
    os.close(write)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                return {"status": "killed", "detail": f"ran longer than {timeout:g} s"}
            chunk = os.read(read, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        return {"status": "killed", "detail": "the mutant's process died"}


def table(lesson: str, results: list[ExerciseResult]) -> list[list[object]]:
    rows = []
    for r in results:
        rows.append([lesson, r.exercise, len(r.mutants), r.count("equivalent"), r.count("invalid"),
                     r.count("killed"), r.count("survived"), f"{100 * r.score:.1f}%"])
    return rows
