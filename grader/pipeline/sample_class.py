"""The sample class of ``grader demo``: 24 students, generated from the solutions.

By default the first student hands in every lesson and each other student
two or three of the seven, plus two planted copies per lesson (70
notebooks: the demo takes two minutes or so); ``every_lesson=True`` (``grader demo
--every-lesson``, the benchmark) has every student hand in every lesson,
without planted copies.

Every (student, lesson) gets one *kind* of submission, chosen by a fixed
formula so the class is the same on every machine:

===============  =====================================================  ===========================
kind             submission                                             expected score
===============  =====================================================  ===========================
complete         the released lesson with every exercise answered       full marks
blank            the released lesson, untouched                         0
partial          the first k exercises answered, the rest left as stub  the grade cells that
                                                                        do not depend on a
                                                                        stub (grader.pipeline.deps)
bug              complete, with one planted bug from bugs.json          full minus that bug's
                                                                        grade cells
exception        complete, plus an early cell that raises               full marks
invalid_json     a truncated, unparsable file                           0, note "unreadable"
crash            complete, plus an early cell that kills the kernel     0, note "kernel-died"
missing          nothing submitted for this lesson                      no submission
copied           another student's whole submission, local names and    what the original earns
                 comments changed (``submissions.disguise``)
copied_exercise  one answer of another student's, disguised; the rest   that exercise's own grade
                 left as stub (an exercise whose grade cells use no     cells
                 other exercise)
===============  =====================================================  ===========================

Honest students write in their own styles: each answer to an exercise is
either the solution or one of the differently written correct answers of
``grader.pipeline.styles`` (each tested to earn full marks and no hint,
tests/test_alt_correct.py), chosen so that no two honest submissions of a
lesson share an answer where it would make them look copied
(:func:`assign_styles`).  Answers that use each other were graded together
(tests/test_alt_correct.py) and the pairs that fail are never combined
(``styles.INCOMPATIBLE``).  A planted bug (bugs.json) is written into the
solution's text of its exercise, every exercise that uses the bugged one is
answered as the solution does (so the bug costs exactly its grade cells), and
no two bug students of a lesson have bugs in the same exercise.  Each lesson has two planted copies, handed in by
students who otherwise skip the lesson: ``copied`` (of the lesson's first
bug student, else of the first student) and ``copied_exercise`` (the
longest answer of an honest student that no one else shares); ``grader
similarity`` must flag exactly these pairs (tests/test_sample_class.py).

Expected scores come from this table, the solution notebooks and bugs.json,
never from a grading run.  Even-numbered students hand in a folder, odd ones
an LMS zip; a few malformed extras exercise ``collect``'s report.
"""
from __future__ import annotations

import ast
import copy
import io
import json
import re
import tokenize
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from .course import Lesson
from .deps import check_names, defined_names, failing_grade_cells, used_names
from .regions import unmark_solution
from .styles import INCOMPATIBLE, alternatives
from .submissions import SubmissionError, check_bug, disguise, structure, with_bug, with_stubs

NAMES = (
    "ada", "alan", "barbara", "claude", "donald", "edsger", "frances", "grace",
    "hedy", "ivan", "jean", "john", "katherine", "ken", "leslie", "margaret",
    "niklaus", "radia", "richard", "shafi", "sophie", "tim", "vint", "yann",
)
KINDS = (
    "complete", "bug", "partial", "complete", "blank", "bug",
    "invalid_json", "exception", "missing", "bug", "partial", "crash",
)
#: Planted copies (two per lesson, by students who do not otherwise hand the lesson in).
COPY_KINDS = ("copied", "copied_exercise")
#: Kinds whose notebook holds the student's answers (styles matter); the rest hold none or are unreadable.
ANSWERING = ("complete", "bug", "partial", "exception", "crash")
#: Kinds that score 0 with a grader note (grader.pipeline.notes), by the note's code.
NOTED = {"invalid_json": "unreadable", "crash": "kernel-died"}

EXCEPTION_CELL = 'raise RuntimeError("a scratch cell the student left broken")'
CRASH_CELL = "import os\nos._exit(1)  # the kernel dies"


@dataclass(frozen=True)
class LessonData:
    """What the sample class needs of a lesson."""

    name: str
    source: nbformat.NotebookNode
    released: nbformat.NotebookNode
    bugs: tuple  # valid bugs.json entries
    styles: dict = None  # exercise -> ((name, cell source) of the solution, then of each usable alternative)
    grade_cells: dict = None  # exercise -> its grade ids
    breaks: dict = None  # exercise -> grade ids that fail when it is left as stub (deps.failing_grade_cells)

    @property
    def max_score(self) -> float:
        return structure(self.source).max_score

    def answers(self, exercise: str) -> tuple[str, ...]:
        """The ways of answering ``exercise`` a student of the class may use (index 0: the solution)."""
        return tuple(code for _, code in self._styles(exercise))

    def style_name(self, exercise: str, style: int) -> str:
        """The name of a style (``solution``, or the alternative's name in ``grader.pipeline.styles``)."""
        return self._styles(exercise)[style][0]

    def _styles(self, exercise: str) -> tuple:
        return (self.styles or {}).get(exercise) or (("solution", _solution_source(self.source, exercise)),)

    def depends(self, exercise: str, style: int, other: str) -> bool:
        """Whether ``exercise`` answered in ``style`` uses ``other``'s answer: its grade cells do (deps), or its code
        calls a name ``other``'s solution cell defines."""
        if other == exercise:
            return False
        if (self.grade_cells or {}).get(exercise, set()) & (self.breaks or {}).get(other, set()):
            return True
        return bool(used_names(self.answers(exercise)[style]) & defined_names(_solution_source(self.source, other)))

    def clash(self, exercise: str, style: int, other: str, other_style: int) -> bool:
        """Whether the two answers may not be in one notebook (``styles.INCOMPATIBLE``, either way round)."""
        a = (self.name, exercise, self.style_name(exercise, style), other, self.style_name(other, other_style))
        return a in INCOMPATIBLE or (a[0], *a[3:], *a[1:3]) in INCOMPATIBLE


@dataclass(frozen=True)
class Planned:
    """One student's submission of one lesson."""

    student: str
    lesson: str
    kind: str
    detail: int = 0  # bug index, or number of answered exercises
    styles: tuple = ()  # per solution cell (notebook order): index into LessonData.answers (0: the solution)
    original: Planned | None = None  # copied kinds: whose submission was copied
    exercise: str = ""  # copied_exercise: the exercise copied

    @property
    def copied_from(self) -> str | None:
        """The student this submission copies (None for an honest one)."""
        return self.original.student if self.original is not None else None


def _solution_source(source_nb, exercise: str) -> str:
    cell = next(c for c in source_nb.cells if (c.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id") == exercise)
    return unmark_solution(cell.source)


def _imports(code: str) -> dict[str, str]:
    """``{name: what it is bound to}`` of a cell's module-level imports (``np``: ``numpy``)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {}
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            out.update({(a.asname or a.name.split(".")[0]): (a.name if a.asname else a.name.split(".")[0])
                        for a in node.names})
        elif isinstance(node, ast.ImportFrom):
            out.update({(a.asname or a.name): f"{node.module}.{a.name}" for a in node.names})
    return out


def usable_styles(source_nb, exercise: str, candidates: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The ``candidates`` ((name, cell source) answering ``exercise``) that fit into the notebook as its cell.

    An alternative is tested alone, in the solution's namespace (tests/test_alt_correct.py); in a
    student's notebook it is run in order with the other cells.  So it must define every name of the
    solution's cell that another cell (or a grade cell's checks) uses, must not rebind a name other
    cells define or use (its own helpers aside; importing what the notebook imports under the same
    name is no rebinding), and must not star-import (``from numpy import *`` would rebind ``sum``,
    ``max``... for later cells).
    """
    solution = _solution_source(source_nb, exercise)
    needed = defined_names(solution)
    others: set[str] = set()
    imported: dict[str, str] = {}
    for cell in source_nb.cells:
        if cell.cell_type == "code":
            imported.update(_imports(cell.source))
            meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
            if meta.get("grade_id") != exercise:
                others |= defined_names(cell.source) | used_names(cell.source)
                if meta.get("grade"):
                    others |= check_names(cell.source)
    usable = []
    for style, code in candidates:
        names = defined_names(code)
        same = {name for name, target in _imports(code).items() if imported.get(name) == target}
        # what the solution's cell defines and another cell uses must be there (a demo line's ``a, b`` need not)
        if "import *" in code or not needed & others <= names or (names - needed - same) & others:
            continue
        usable.append((style, code))
    return usable


def load_lesson(lesson: Lesson, released_path: Path) -> LessonData:
    """A lesson's source, released notebook, valid planted bugs and the styles its students answer in."""
    source = nbformat.read(str(lesson.notebook), as_version=4)
    released = nbformat.read(str(released_path), as_version=4)
    bugs = []
    for bug in lesson.load_bugs():
        try:
            check_bug(bug, source)
        except SubmissionError:
            continue
        bugs.append(bug)
    styles = {}
    for exercise, answers in alternatives(lesson.name).items():
        if exercise in structure(source).solutions:
            styles[exercise] = (("solution", _solution_source(source, exercise)),
                                *usable_styles(source, exercise, [(name, code.strip("\n") + "\n") for name, code in answers]))
    breaks = {e: failing_grade_cells(source, {e}) for e in structure(source).solutions}
    return LessonData(lesson.name, source, released, tuple(bugs), styles, own_grade_cells(lesson, source), breaks)


def own_grade_cells(lesson: Lesson, source_nb) -> dict[str, set[str]]:
    """``{exercise: its grade ids}`` (``references.json``; else each exercise's cells that fail when it alone is stubbed)."""
    path = lesson.folder / "references.json"
    if path.exists():
        return {entry["exercise"]: set(entry["grade_ids"]) for entry in json.loads(path.read_text(encoding="utf-8"))}
    return {e: failing_grade_cells(source_nb, {e}) for e in structure(source_nb).solutions}


def users(lesson: Lesson, source_nb) -> dict[str, set[str]]:
    """``{exercise: grade ids of other exercises that use its answer}`` (grader.pipeline.deps).

    tests/test_alt_correct.py runs these too with each alternative of the exercise in place, so that an
    alternative is known to fit under the solution of every exercise that calls it.
    """
    own = own_grade_cells(lesson, source_nb)
    return {e: failing_grade_cells(source_nb, {e}) - own.get(e, set()) for e in structure(source_nb).solutions}


def plan_class(lessons: list[LessonData], students: int = len(NAMES),
               every_lesson: bool = False) -> list[Planned]:
    """The submissions of the sample class (student 0 does everything right), then two planted copies per lesson.

    Every honest submission gets its styles (:func:`assign_styles`); the copies are planted by
    :func:`plant_copies` (none with ``every_lesson``: no student is left to hand them in).
    """
    plan = []
    for i in range(students):
        student = f"{NAMES[i % len(NAMES)]}{'' if i < len(NAMES) else i // len(NAMES)}"
        for j, lesson in enumerate(lessons):
            if not every_lesson and i > 0 and (i + j) % 3 != 0:
                continue  # each student but the first hands in two or three of seven lessons
            kind = "complete" if i == 0 else KINDS[(i * 5 + j) % len(KINDS)]
            n_ex = len(structure(lesson.source).solutions)
            detail = 0
            if kind == "bug":
                # no two bug students of a lesson have their bug in the same exercise: the bugged exercise is
                # written as the solution is, and two such answers would look copied
                taken = {lesson.bugs[p.detail]["exercise"] for p in plan if p.lesson == lesson.name and p.kind == "bug"}
                free = [k for k in range(len(lesson.bugs)) if lesson.bugs[k]["exercise"] not in taken]
                if free:
                    start = (i // 4 + j) % len(lesson.bugs)
                    detail = min(free, key=lambda k: (k - start) % len(lesson.bugs))
                else:
                    kind = "complete"
            elif kind == "partial":
                if n_ex >= 2:
                    detail = 1 + (i + j) % (n_ex - 1)  # 1 .. n_ex-1 exercises answered
                else:
                    kind = "blank"
            plan.append(Planned(student, lesson.name, kind, detail))
    by_name = {lesson.name: lesson for lesson in lessons}
    plan = assign_styles(plan, by_name)
    if not every_lesson:
        plan = plant_copies(plan, by_name)
    return plan


def answered(item: Planned, lesson: LessonData) -> list[str]:
    """The exercises a submission answers (its own answers or copied ones), in notebook order."""
    solutions = structure(lesson.source).solutions
    if item.kind in ("complete", "bug", "exception", "crash"):
        return list(solutions)
    if item.kind == "partial":
        return list(solutions[: item.detail])
    if item.kind == "copied":
        return answered(item.original, lesson)
    if item.kind == "copied_exercise":
        return [item.exercise]
    return []


def _uses_stubbed(code: str, lesson: LessonData, stubbed: list[str]) -> bool:
    """Whether ``code`` mentions a name that one of the ``stubbed`` exercises' cells defines."""
    broken = set().union(*(defined_names(_solution_source(lesson.source, e)) for e in stubbed)) if stubbed else set()
    return bool(used_names(code) & broken)


def assign_styles(plan: list[Planned], lessons: dict[str, LessonData]) -> list[Planned]:
    """Each honest submission's style for each exercise, so that honest pairs do not look copied.

    Per lesson and exercise, a style (an index into :meth:`LessonData.answers`) is used by as few of
    the lesson's answering submissions as there are styles to go round, and two submissions share as
    few exercises as can be: bug students first (their bugged exercise is the solution's text, style
    0, which no one else of the lesson then uses while there are others), then partial ones (fewest
    answers first: one shared answer is all of their code), then the rest.  A partial submission never
    uses a style that mentions a name of an exercise it leaves as stub (its expected score assumes the
    solution's dependencies).  Deterministic: the same class on every machine.
    """
    out = list(plan)
    for name, lesson in lessons.items():
        solutions = structure(lesson.source).solutions
        items = [k for k, p in enumerate(out) if p.lesson == name and p.kind in ANSWERING]
        order = sorted(items, key=lambda k: (out[k].kind != "bug", out[k].kind != "partial",
                                             len(answered(out[k], lesson)), k))
        users: dict[tuple[str, int], list[int]] = {}  # (exercise, style) -> submissions using it
        shared: dict[frozenset, int] = {}  # pair -> characters of code they write alike
        totals: dict[int, float] = {}  # submission -> characters of its answers

        def size(e: str, s: int) -> int:
            return len(lesson.answers(e)[s])

        for rank, k in enumerate(order):
            item = out[k]
            mine = answered(item, lesson)
            bugged = lesson.bugs[item.detail]["exercise"] if item.kind == "bug" else None
            stubbed = [e for e in solutions if e not in mine]
            # the submission's size before its styles are chosen: each answer at its styles' mean length
            totals[k] = sum(sum(size(e, s) for s in range(len(lesson.answers(e)))) / len(lesson.answers(e))
                            for e in mine) or 1.0
            styles = [0] * len(solutions)
            chosen: dict[str, int] = {}
            for e in sorted(mine, key=lambda x: x != bugged):  # the bugged exercise's style is fixed: first
                n = len(lesson.answers(e))
                allowed = [s for s in range(n) if _fits(lesson, item, e, s, chosen, stubbed)] or [0]
                if len(allowed) > 1 and e != bugged and any(lesson.bugs[out[q].detail]["exercise"] == e
                                                            for q in items if out[q].kind == "bug"):
                    allowed = [s for s in allowed if s != 0]  # the solution's text is the bug student's

                def cost(s, e=e, n=n):
                    # the largest share of either side's code that this choice makes alike, then the fewest users
                    others = users.get((e, s), [])
                    worst = max((max(shared.get(frozenset((k, q)), 0) + size(e, s), 0) / min(totals[k], totals[q])
                                 for q in others), default=0.0)
                    return (round(worst, 3), len(others), (s - rank) % n)

                style = min(allowed, key=cost)
                for q in users.get((e, style), []):
                    shared[frozenset((k, q))] = shared.get(frozenset((k, q)), 0) + size(e, style)
                users.setdefault((e, style), []).append(k)
                styles[solutions.index(e)] = style
                chosen[e] = style
            totals[k] = sum(size(e, styles[solutions.index(e)]) for e in mine) or 1.0
            out[k] = replace(item, styles=tuple(styles))
        if len(items) <= MAX_SEARCHED:
            _improve(out, items, lesson)
    return out


#: Lessons with more answering submissions than this keep the greedy styles (``every_lesson``: the
#: benchmark's class, whose similarity report is not checked).
MAX_SEARCHED = 12


def _fits(lesson: LessonData, item: Planned, exercise: str, style: int, chosen: dict[str, int], stubbed: list[str]) -> bool:
    """Whether ``item`` may answer ``exercise`` in ``style`` next to its other answers ``chosen``.

    Its expected score must stay what the class definition says:

    * no answer may clash with another (``styles.INCOMPATIBLE``, found by tests/test_alt_correct.py);
    * a partial submission's answers may not use an exercise it leaves as stub;
    * a bug student writes the bugged exercise as the solution does (the bug is a text replacement in
      it), and every exercise that uses the bugged one as the solution does too (bugs.json lists the
      grade cells the bug costs with the solutions around it).
    """
    if _uses_stubbed(lesson.answers(exercise)[style], lesson, stubbed):
        return False
    if any(lesson.clash(exercise, style, other, s) for other, s in chosen.items() if other != exercise):
        return False
    if item.kind == "bug":
        bugged = lesson.bugs[item.detail]["exercise"]
        if exercise == bugged or lesson.depends(exercise, 0, bugged):
            return style == 0
        if lesson.depends(exercise, style, bugged):
            return False
    return True


def style_overlaps(lesson: LessonData) -> tuple[dict, dict]:
    """What ``grader similarity`` sees of each way of answering each exercise, measured with its own code.

    Returns ``(coverage, overlap)``: ``coverage[(e, s)]``, the fingerprinted characters of style ``s`` of
    exercise ``e`` (released template and given code removed); ``overlap[(e, s, t)]``, how many of them
    lie in passages that style ``t`` shares (copydetect's winnowing, as in ``similarity.compare``).
    """
    import numpy as np
    from copydetect import compare_files

    from . import similarity as sim

    templates = {gid: sim._source(c) for c in lesson.released.cells if (gid := sim._solution_id(c))}
    boilerplate = np.array(sorted(sim.fingerprint("template", sim.boilerplate_code(lesson.released)).hashes))
    prints = {}
    for e in structure(lesson.source).solutions:
        for s, code in enumerate(lesson.answers(e)):
            text = f"# ---- {e}\n{sim.added_lines(templates.get(e, ''), code)}\n"
            prints[(e, s)] = sim.fingerprint(f"{e}_{s}", text, boilerplate=boilerplate)
    coverage = {key: float(fp.token_coverage) for key, fp in prints.items()}
    overlap = {}
    for (e, s), fp in prints.items():
        for t in range(len(lesson.answers(e))):
            overlap[(e, s, t)] = coverage[(e, s)] if s == t else float(compare_files(fp, prints[(e, t)])[0])
    return coverage, overlap


def _improve(out: list[Planned], items: list[int], lesson: LessonData) -> None:
    """Change styles one answer at a time while that lowers the highest predicted score of an honest pair.

    The score of a pair is predicted as ``grader similarity`` computes it (:func:`style_overlaps`): the
    larger of the two shares of fingerprinted code that the other side has too.
    """
    coverage, overlap = style_overlaps(lesson)
    solutions = structure(lesson.source).solutions
    mine = {k: answered(out[k], lesson) for k in items}
    styles = {k: list(out[k].styles) for k in items}
    bugged = {lesson.bugs[out[k].detail]["exercise"] for k in items if out[k].kind == "bug"}

    def pair(k, q):
        common = [e for e in mine[k] if e in mine[q]]
        a = sum(overlap[(e, styles[k][solutions.index(e)], styles[q][solutions.index(e)])] for e in common)
        b = sum(overlap[(e, styles[q][solutions.index(e)], styles[k][solutions.index(e)])] for e in common)
        ca = sum(coverage[(e, styles[k][solutions.index(e)])] for e in mine[k]) or 1.0
        cb = sum(coverage[(e, styles[q][solutions.index(e)])] for e in mine[q]) or 1.0
        return max(a / ca, b / cb)

    pairs = {frozenset((k, q)): pair(k, q) for i, k in enumerate(items) for q in items[i + 1:]}

    def objective(scores):
        values = sorted(scores.values(), reverse=True)
        return (round(values[0], 4) if values else 0.0, round(sum(v * v for v in values), 4))

    best = objective(pairs)
    for _ in range(200):
        move = None
        for k in items:
            stubbed = [e for e in solutions if e not in mine[k]]
            for e in mine[k]:
                index, old = solutions.index(e), styles[k][solutions.index(e)]
                chosen = {x: styles[k][solutions.index(x)] for x in mine[k] if x != e}
                for s in range(len(lesson.answers(e))):
                    if s == old or (s == 0 and e in bugged) or not _fits(lesson, out[k], e, s, chosen, stubbed):
                        continue
                    styles[k][index] = s
                    trial = dict(pairs)
                    trial.update({frozenset((k, q)): pair(k, q) for q in items if q != k})
                    score = objective(trial)
                    if score < best:
                        best, move = score, (k, index, s, trial)
                    styles[k][index] = old
        if move is None:
            break
        k, index, s, pairs = move
        styles[k][index] = s
    for k in items:
        out[k] = replace(out[k], styles=tuple(styles[k]))


def plant_copies(plan: list[Planned], lessons: dict[str, LessonData]) -> list[Planned]:
    """Add two copies per lesson, each by a student who does not otherwise hand the lesson in.

    * ``copied``: the whole submission of the lesson's first bug student (else of the first student),
      disguised: it must earn what the original earns, bug included;
    * ``copied_exercise``: one answer of another honest student, disguised, the rest left as stub.  The
      answer is one that no other submission of the lesson shares (so only the planted pair is alike),
      whose grade cells use no other exercise (it is graded alone: it earns exactly its own grade
      cells), and is the longest such one.

    A lesson without a free student, or without such an answer, gets fewer copies.
    """
    out = list(plan)
    students = list(dict.fromkeys(p.student for p in plan))
    for j, (name, lesson) in enumerate(lessons.items()):
        mine = [p for p in plan if p.lesson == name]
        free = [s for s in students if s not in {p.student for p in mine}]
        free = free[j % len(free):] + free[: j % len(free)] if free else []
        honest = [p for p in mine if p.kind in ANSWERING]
        if not free or not honest:
            continue
        first = next((p for p in honest if p.kind == "bug"), honest[0])
        out.append(Planned(free.pop(0), name, "copied", first.detail, first.styles, first))
        solutions = structure(lesson.source).solutions
        count: dict[tuple[str, int], int] = {}
        for p in honest:
            for e in answered(p, lesson):
                key = (e, p.styles[solutions.index(e)])
                count[key] = count.get(key, 0) + 1
        candidates = []
        for p in honest:
            if p is first or p.kind not in ("complete", "exception"):
                continue
            for e in answered(p, lesson):
                style = p.styles[solutions.index(e)]
                code = lesson.answers(e)[style]
                own = (lesson.grade_cells or {}).get(e, set())
                # graded alone, its own grade cells must not use another exercise: deps.failing_grade_cells errs
                # on the side of failing, which is right for a partial submission's suffix but not here
                alone = bool(own) and not own & failing_grade_cells(lesson.source, set(solutions) - {e})
                if count[(e, style)] == 1 and len(lesson.answers(e)) > 1 and alone \
                        and not _uses_stubbed(code, lesson, [x for x in solutions if x != e]):
                    renamed = disguise(code, keep=_given_names(lesson, e)) != code  # a copy with something changed
                    candidates.append((renamed, len(code), p, e))
        if free and candidates:
            *_, source, exercise = max(candidates, key=lambda c: (c[0], c[1], -honest.index(c[2])))
            out.append(Planned(free.pop(0), name, "copied_exercise", 0, source.styles, source, exercise))
    return out


def expected_score(item: Planned, lesson: LessonData) -> float | None:
    """The score this submission must get (None: no submission)."""
    info = structure(lesson.source)
    if item.kind == "missing":
        return None
    if item.kind in ("complete", "exception"):
        return info.max_score
    if item.kind in ("blank", "invalid_json", "crash"):
        return 0.0
    if item.kind == "copied":
        return expected_score(item.original, lesson)
    if item.kind == "bug":
        lost = set(lesson.bugs[item.detail]["grade_ids"])
    elif item.kind == "partial":
        lost = failing_grade_cells(lesson.source, set(info.solutions[item.detail:]))
    elif item.kind == "copied_exercise":
        lost = failing_grade_cells(lesson.source, set(info.solutions) - {item.exercise})
    else:
        raise ValueError(f"unknown kind {item.kind!r}; expected one of {sorted(set(KINDS) | set(COPY_KINDS))}")
    return info.max_score - sum(p for g, p in info.points.items() if g in lost)


def _insert_after_first_code_cell(nb, source: str):
    nb = copy.deepcopy(nb)
    index = next((k for k, c in enumerate(nb.cells) if c.cell_type == "code"), -1)
    nb.cells.insert(index + 1, new_code_cell(source))
    return nb


def styled(item: Planned, lesson: LessonData):
    """The released notebook with every solution cell answered in ``item``'s styles."""
    nb = copy.deepcopy(lesson.released)
    solutions = structure(lesson.source).solutions
    styles = item.styles or (0,) * len(solutions)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        if meta.get("solution") and meta.get("grade_id") in solutions:
            cell.source = lesson.answers(meta["grade_id"])[styles[solutions.index(meta["grade_id"])]]
    return nb


def _code_names(source: str) -> set[str]:
    """The names in ``source``'s code (not in its strings or comments)."""
    try:
        return {tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.NAME}
    except (tokenize.TokenError, SyntaxError):
        return set(re.findall(r"[A-Za-z_]\w*", source))


def _given_names(lesson: LessonData, exercise: str) -> set[str]:
    """The names in the code of ``exercise``'s released cell (a copier keeps them)."""
    cell = next(c for c in lesson.released.cells
                if (c.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id") == exercise)
    return _code_names(cell.source)


def _disguised(nb, exercises: list[str], released_nb):
    """``nb`` with the answers to ``exercises`` disguised; names of the released cell stay (a copier keeps what
    the lesson gave, and the similarity report sets those lines aside)."""
    given = {grade_id: _code_names(c.source) for c in released_nb.cells
             if (grade_id := (c.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id"))}
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        if meta.get("solution") and meta.get("grade_id") in exercises:
            cell.source = disguise(cell.source, keep=given.get(meta["grade_id"], set()))
    return nb


def notebook(item: Planned, lesson: LessonData):
    """The notebook a student of this kind hands in (None for ``missing`` and ``invalid_json``)."""
    solutions = structure(lesson.source).solutions
    if item.kind in ("missing", "invalid_json"):
        return None
    if item.kind == "copied":
        return _disguised(notebook(item.original, lesson), solutions, lesson.released)
    if item.kind == "copied_exercise":
        done = _disguised(notebook(item.original, lesson), [item.exercise], lesson.released)
        return with_stubs(done, lesson.released, [e for e in solutions if e != item.exercise])
    done = styled(item, lesson)
    if item.kind == "complete":
        return done
    if item.kind == "blank":
        return lesson.released
    if item.kind == "partial":
        return with_stubs(done, lesson.released, solutions[item.detail:])
    if item.kind == "bug":
        return with_bug(done, lesson.bugs[item.detail])
    if item.kind == "exception":
        return _insert_after_first_code_cell(done, EXCEPTION_CELL)
    if item.kind == "crash":
        return _insert_after_first_code_cell(done, CRASH_CELL)
    raise ValueError(f"unknown kind {item.kind!r}")


def submission_bytes(item: Planned, lesson: LessonData) -> bytes | None:
    """The file a student of this kind hands in (None for ``missing``)."""
    if item.kind == "missing":
        return None
    if item.kind == "invalid_json":
        text = nbformat.writes(styled(item, lesson))
        return text[: len(text) // 2].encode("utf-8")
    return (nbformat.writes(notebook(item, lesson)) + "\n").encode("utf-8")


def planted_pairs(plan: list[Planned]) -> dict[str, set[frozenset[str]]]:
    """``{lesson: {frozenset((copier, original)), ...}}``: the pairs ``grader similarity`` must flag."""
    out: dict[str, set[frozenset[str]]] = {}
    for item in plan:
        if item.kind in COPY_KINDS:
            out.setdefault(item.lesson, set()).add(frozenset((item.student, item.copied_from)))
    return out


def write_submitted(course: Path, solutions: Path, students: int, every_lesson: bool = True) -> int:
    """Register the lessons in ``course`` and write the class straight into ``submitted/`` (no collect step).

    Used by the benchmark and the kill test, which grade a class without an inbox.
    Returns the number of notebooks written.
    """
    from .course import find_lessons
    from .register import register

    register(course, solutions)
    lessons = {
        lesson.name: load_lesson(lesson, course / "lessons" / lesson.name / f"{lesson.name}.ipynb")
        for lesson in find_lessons(solutions)
    }
    count = 0
    for item in plan_class(list(lessons.values()), students, every_lesson=every_lesson):
        data = submission_bytes(item, lessons[item.lesson])
        if data is not None:
            path = course / "submitted" / item.student / item.lesson / f"{item.lesson}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            count += 1
    return count


def write_inbox(inbox: Path, plan: list[Planned], lessons: dict[str, LessonData]) -> None:
    """The class's hand-ins as an instructor downloads them: folders and LMS zips, plus junk."""
    inbox.mkdir(parents=True, exist_ok=True)
    students = sorted({p.student for p in plan}, key=[p.student for p in plan].index)
    for index, student in enumerate(students):
        items = [p for p in plan if p.student == student]
        files = {}
        for item in items:
            data = submission_bytes(item, lessons[item.lesson])
            if data is not None:
                files[f"{item.lesson}/{item.lesson}.ipynb"] = data
        if index % 2 == 0:
            for rel, data in files.items():
                path = inbox / student / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        else:
            name = f"{student}_{1000 + index}_{52000 + index}_submission.zip"
            with zipfile.ZipFile(inbox / name, "w", zipfile.ZIP_DEFLATED) as zf:
                for rel, data in sorted(files.items()):
                    info = zipfile.ZipInfo(f"{student}/{rel}", date_time=(2026, 1, 1, 0, 0, 0))
                    zf.writestr(info, data)
    # things collect must report, not place
    (inbox / "grading_notes.txt").write_text("not a submission\n")
    first = students[0]
    (inbox / first / "99_bonus").mkdir(parents=True, exist_ok=True)
    (inbox / first / "99_bonus" / "99_bonus.ipynb").write_text("{}")
    lesson0 = plan[0].lesson
    (inbox / first / lesson0 / "scratch copy.ipynb").write_text("{}")
    (inbox / first / lesson0 / "answers.py").write_text("x = 1\n")
    (inbox / "broken_1_2_submission.zip").write_bytes(b"this is not a zip file")


def expected_scores(plan: list[Planned], lessons: dict[str, LessonData]) -> dict[tuple[str, str], float]:
    """``{(student, lesson): score}`` for every submission of the plan."""
    out = {}
    for item in plan:
        score = expected_score(item, lessons[item.lesson])
        if score is not None:
            out[(item.student, item.lesson)] = score
    return out


def describe(plan: list[Planned]) -> str:
    """How many submissions of each kind the class has."""
    counts: dict[str, int] = {}
    for item in plan:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    return ", ".join(f"{counts[k]} {k}" for k in sorted(counts, key=list(dict.fromkeys(KINDS + COPY_KINDS)).index))


def write_expected(path: Path, plan: list[Planned], lessons: dict[str, LessonData]) -> None:
    """The plan and its expected scores as JSON (for people; tests recompute them)."""
    rows = [
        {"student": p.student, "lesson": p.lesson, "kind": p.kind, "detail": p.detail, "styles": list(p.styles),
         **({"copied_from": p.copied_from} if p.original is not None else {}),
         **({"exercise": p.exercise} if p.exercise else {}),
         "expected": expected_score(p, lessons[p.lesson])}
        for p in plan
    ]
    path.write_text(json.dumps(rows, indent=1) + "\n")
