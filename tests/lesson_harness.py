"""What every ``tests/test_checks_lessonNN.py`` needs: a lesson's notebook, its grade cells run by the trusted checker.

``Lesson("03_softmax_cross_entropy")`` reads ``solutions/<folder>/<folder>.ipynb`` and its ``bugs.json``;
``Lesson.grade`` runs grade cells against a local student, ``Lesson.with_cells`` / ``Lesson.patched`` give
a namespace with changed answers, ``Lesson.blank_namespace`` the unanswered (released) notebook.

``LessonTests`` holds the tests every lesson passes (the solution scores full points with two seeds, the
blank notebook scores 0, each planted bug of bugs.json costs exactly its grade cells, with its hint); a
test module runs them with ``class TestLesson(LessonTests): lesson = LESSON`` next to its own tests.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import linecache
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from grader.checks.student import local_student
from grader.pipeline.regions import strip_regions
from grader.sandbox.checker import grade_sources, namespace_from_notebook, run_grade_source

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"
#: More grading seeds for the solution (one per student in a real class).
GRADING_SEEDS = range(2000, 2012)
SEEDS = [None, 12345]  # a fresh random seed and a fixed one
_DEFAULT = object()  # "no seed given": the lesson's own default seed (None is a seed: a random one)


class Lesson:
    """One lesson of ``solutions/``: its notebook, grade cells, points, solution cells and planted bugs.

    Args:
        folder: the lesson's folder under ``solutions/`` (the notebook is ``<folder>/<folder>.ipynb``)
        seed: the seed ``grade`` uses when a test names none (None: a random one each time)
        bug_seed: the seed the planted-bug test grades with
        bug_key: the field of a bugs.json entry that keys ``bug_hints`` and names the test case
        bug_hints: the hint the report must show for each planted bug, by ``bug[bug_key]``
        blank_text: what the report of each grade cell must say for the blank notebook, by grade_id
            (``"not implemented yet"`` where not given)
        grade_ids: the grade cells the notebook must have
        quizzes: those of them checked by ``grader.checks.quiz`` (the others by ``grader.checks.lessonNN``)
    """

    def __init__(self, folder: str, *, seed: int | None = None, bug_seed: int | None = None, bug_key: str = "exercise",
                 bug_hints: dict[str, str] | None = None, blank_text: dict[str, str] | None = None,
                 grade_ids: Iterable[str] = (), quizzes: Iterable[str] = ()) -> None:
        self.folder = SOLUTIONS / folder
        self.notebook_path = self.folder / f"{folder}.ipynb"
        self.nb: dict = json.loads(self.notebook_path.read_text(encoding="utf-8"))
        self.sources: dict[str, str] = grade_sources(self.nb)
        graded = [c["metadata"]["nbgrader"] for c in self._code_cells() if c["metadata"]["nbgrader"].get("grade")]
        self.points: dict[str, float] = {meta["grade_id"]: float(meta["points"]) for meta in graded}
        self.solution_cells: dict[str, str] = {
            c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
            for c in self._code_cells() if c["metadata"]["nbgrader"].get("solution")}
        bugs = self.folder / "bugs.json"
        self.bugs: list[dict] = json.loads(bugs.read_text()) if bugs.exists() else []
        self.seed, self.bug_seed, self.bug_key = seed, bug_seed, bug_key
        self.bug_hints = bug_hints or {}
        self.blank_text = blank_text or {}
        self.grade_ids, self.quizzes = set(grade_ids), set(quizzes)
        self.check_module = f"lesson{folder[:2]}"

    def _code_cells(self) -> list[dict]:
        return [c for c in self.nb["cells"] if c["cell_type"] == "code" and "nbgrader" in c.get("metadata", {})]

    # ------------------------------------------------------------------ namespaces
    def namespace(self) -> dict:
        """The namespace of the solution notebook run top to bottom (grade cells skipped)."""
        return namespace_from_notebook(self.notebook_path)

    def solution_fixture(self) -> Callable:
        """A module-scoped pytest fixture ``solution_ns``: the solution namespace, built once per test module."""
        @pytest.fixture(scope="module", name="solution_ns")
        def solution_ns() -> dict:
            return self.namespace()
        return solution_ns

    def with_cells(self, ns: dict, cells: dict[str, str], every_cell: bool = True) -> dict:
        """A copy of ``ns`` in which every solution cell runs again, those in ``cells`` with the given sources.

        Running them all again binds every answer's functions (and classes) to the copy: an answer that calls
        another exercise's function sees the changed one, as in a real notebook, and a class a cell patches
        (lesson 01's Node) is a fresh one, so the shared solution namespace is never changed. With
        ``every_cell=False`` only the cells in ``cells`` run (the other answers keep the solution's globals).
        """
        unknown = set(cells) - set(self.solution_cells)
        assert not unknown, f"no solution cell {sorted(unknown)}; expected one of {sorted(self.solution_cells)}"
        ns = dict(ns)
        with contextlib.redirect_stdout(io.StringIO()):  # what the cells print is not under test
            for grade_id, source in self.solution_cells.items():
                if every_cell or grade_id in cells:
                    exec(compile(cells.get(grade_id, source), f"<cell {grade_id}>", "exec"), ns)  # noqa: S102 - the notebook's cells
        return ns

    def patched(self, ns: dict, exercise: str, find: str, replace: str) -> dict:
        """``with_cells`` with the solution cell ``exercise`` changed: its one ``find`` replaced by ``replace``."""
        source = self.solution_cells[exercise]
        assert source.count(find) == 1, f"expected {find!r} once in solution cell {exercise}, found it {source.count(find)} times"
        return self.with_cells(ns, {exercise: source.replace(find, replace)})

    def blank_namespace(self, stop_at: str | None = None) -> dict:
        """The namespace of the released notebook run top to bottom: every solution region ``raise NotImplementedError()``.

        A solution cell may raise NotImplementedError (an answer cell raises before it sets its answer: its
        names stay undefined, as in the student's kernel); any other cell must run. Grade cells are skipped;
        the run stops before the cell whose grade_id is ``stop_at``.
        """
        ns: dict = {"__name__": "__main__"}
        for number, cell in enumerate(self.nb["cells"]):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] != "code" or (meta.get("grade") and not meta.get("solution")):
                continue
            if stop_at and meta.get("grade_id") == stop_at:
                break
            code = "".join(cell["source"])
            if meta.get("solution"):
                code = strip_regions(code, "### BEGIN SOLUTION", "### END SOLUTION", "raise NotImplementedError()")
            code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
            name = f"<blank cell {number} {meta.get('grade_id', '')}>"
            linecache.cache[name] = (len(code), None, code.splitlines(keepends=True), name)  # for inspect.getsource
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(code, name, "exec"), ns)  # noqa: S102 - the notebook's own cells
            except NotImplementedError:
                assert meta.get("solution"), f"cell {number} (not a solution cell) raised NotImplementedError"
        return ns

    # ------------------------------------------------------------------ grading
    def grade(self, ns: dict, seed: int | None | object = _DEFAULT, only: Iterable[str] | None = None
              ) -> dict[str, tuple[float, str]]:
        """``{grade_id: (score, report text)}`` for every grade cell (or those in ``only``), run against ``ns``.

        Asserts that no cell raised (a check that crashes scores 0 for the wrong reason) and that the
        score is a float.
        """
        seed = self.seed if seed is _DEFAULT else seed
        out = {}
        for grade_id, source in self.sources.items():
            if only is not None and grade_id not in only:
                continue
            outputs, value = run_grade_source(source, local_student(ns), seed=seed)
            errors = [o for o in outputs if o.get("output_type") == "error"]
            assert not errors, f"{grade_id}: expected the grade cell to run, it raised {errors}"
            assert type(value) is float, f"{grade_id}: expected a float score, got {value!r}"
            out[grade_id] = (value, "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream"))
        return out

    def score(self, ns: dict, grade_id: str, seed: int | None | object = _DEFAULT) -> tuple[float, str]:
        """``(score, report text)`` of the one grade cell ``grade_id``."""
        assert grade_id in self.sources, f"no grade cell {grade_id}; expected one of {sorted(self.sources)}"
        return self.grade(ns, seed, only={grade_id})[grade_id]

    def bug_id(self, bug: dict) -> str:
        return str(bug[self.bug_key])[:30]


class LessonTests:
    """The tests every lesson's grade cells pass; a test module subclasses this with ``lesson = Lesson(...)``.

    The module's ``solution_ns`` fixture (``solution_ns = LESSON.solution_fixture()``) is the solution's namespace.
    """

    lesson: Lesson

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "bug" in metafunc.fixturenames:
            metafunc.parametrize("bug", self.lesson.bugs, ids=[self.lesson.bug_id(b) for b in self.lesson.bugs])

    def test_grade_cells_use_the_checker_form(self) -> None:
        lesson = self.lesson
        assert set(lesson.sources) == lesson.grade_ids, f"expected grade cells {sorted(lesson.grade_ids)}"
        assert sum(lesson.points.values()) == 10, f"expected 10 points in all, got {lesson.points}"
        assert all(points >= 1 for gid, points in lesson.points.items() if gid not in lesson.quizzes), lesson.points
        for gid, source in lesson.sources.items():
            module = "quiz" if gid in lesson.quizzes else lesson.check_module
            lines = source.strip().splitlines()
            assert (ast.get_docstring(ast.parse(source)) or "").startswith("Check"), f"{gid}: expected a docstring 'Check ...'"
            assert f"from grader.checks import {module}" in lines, f"{gid}: expected 'from grader.checks import {module}'"
            assert lines[-1] == "cases.score()", f"{gid}: expected 'cases.score()' last, got {lines[-1]!r}"
            assert "### BEGIN HIDDEN TESTS" in source and "### END HIDDEN TESTS" in source, f"{gid}: no hidden tests"
        for cell in lesson.nb["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if cell["cell_type"] == "code" and not (meta.get("grade") and not meta.get("solution")):
                source = "".join(cell["source"])
                assert "import grader" not in source and "from grader" not in source, f"a cell imports the grader:\n{source}"

    @pytest.mark.parametrize("seed", SEEDS)
    def test_solution_scores_full_points(self, solution_ns: dict, seed: int | None) -> None:
        wrong = [f"{gid}: {score} of {self.lesson.points[gid]} points\n{text}"
                 for gid, (score, text) in self.lesson.grade(solution_ns, seed).items()
                 if score != self.lesson.points[gid] or "FAIL" in text or "Hint:" in text]
        assert not wrong, "expected full points, no FAIL and no hint in every grade cell:\n" + "\n".join(wrong)

    def test_solution_scores_full_points_on_many_grading_seeds(self, solution_ns: dict) -> None:
        """Every grading seed draws other cases: a case a correct answer cannot pass (a gradient too small to
        measure, a wrong gradient below a check's noise floor) shows up as a lost point on some seed."""
        lost = {}
        for seed in GRADING_SEEDS:
            for gid, (score, text) in self.lesson.grade(solution_ns, seed).items():
                if score != self.lesson.points[gid] or "FAIL" in text:
                    lost[(seed, gid)] = [line for line in text.splitlines() if "FAIL" in line]
        assert not lost, f"the solution lost points: {lost}"

    def test_blank_notebook_scores_zero(self) -> None:
        for gid, (score, text) in self.lesson.grade(self.lesson.blank_namespace()).items():
            expected = self.lesson.blank_text.get(gid, "not implemented yet")
            assert score == 0.0 and expected in text, f"{gid}: expected 0 points and {expected!r}, got {score}:\n{text}"

    def test_planted_bug_loses_exactly_its_cells(self, solution_ns: dict, bug: dict) -> None:
        ns = self.lesson.patched(solution_ns, bug["exercise"], bug["find"], bug["replace"])
        hint = self.lesson.bug_hints[bug[self.lesson.bug_key]]
        for gid, (score, text) in self.lesson.grade(ns, self.lesson.bug_seed).items():
            if gid in bug["grade_ids"]:
                assert score == 0.0, f"{gid}: expected 0 points with bug {self.lesson.bug_id(bug)!r}, got {score}\n{text}"
                assert bug["quantity"] in text and hint in text, f"{gid}: expected {bug['quantity']!r} and {hint!r}:\n{text}"
            else:
                assert score == self.lesson.points[gid], f"{gid} lost points with a bug of {bug['grade_ids']}:\n{text}"
