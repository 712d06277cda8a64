"""The checks fail the mutants of every solution (issue: fair verdicts), measured by grader.checks.mutants.

Goal: at least 95% of the non-equivalent mutants of every exercise lose points.  ``python -m grader
mutants`` prints the same table; equivalent mutants are found automatically (same replies to every check
on every seed) or listed with a reason in ``solutions/<lesson>/mutants.json``.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from grader.checks import mutants

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
LESSONS = sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").exists())
GOAL = 0.95


def _wrong_hints(results) -> list[str]:
    """Killed mutants whose message names a cause that does not fit the mutant's class.

    A negated result may be told "the sign is flipped" or nothing; a transposed (or un-transposed) operand
    may be told about a transpose or a shape, or nothing; no other hint fits those two classes.
    """
    wrong = []
    for r in results:
        for m in r.mutants:
            if m.status != "killed" or "Hint:" not in m.detail:
                continue
            hint = m.detail.split("Hint:", 1)[1].lower()
            if m.operator == "negate" and "returned value negated" in m.description and "sign" not in hint:
                wrong.append(f"{m.exercise}: {m.description}: Hint:{hint[:120]}")
            if m.operator == "transpose" and "transpos" not in hint and "shape" not in hint:
                wrong.append(f"{m.exercise}: {m.description}: Hint:{hint[:120]}")
    return wrong


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_exercise_kills_at_least_95_percent_of_its_mutants(lesson):
    results = mutants.run_lesson(SOLUTIONS / lesson, seeds=2)
    assert results, f"{lesson}: no exercise found"
    low = {r.exercise: f"{100 * r.score:.1f}%" for r in results if r.score < GOAL}
    survivors = [f"{m.exercise}: {m.description}" for r in results for m in r.mutants if m.status == "survived"]
    assert not low, f"{lesson}: below {GOAL:.0%}: {low}; survivors: {survivors[:20]}"
    quizzes = _quiz_grade_ids(lesson)
    few = [f"{r.exercise}: {len(r.mutants)}" for r in results
           if len(r.mutants) < 10 and not set(r.grade_ids) <= quizzes]
    assert not few, f"too few mutants to mean anything (a quiz's one-line answer excepted): {few}"
    # hints only when the numbers fit: a sign-flip or transpose mutant gets the right hint or none
    wrong = _wrong_hints(results)
    assert not wrong, f"{lesson}: mutants told a cause that is not theirs: {wrong[:10]}"


def _quiz_grade_ids(lesson: str) -> set[str]:
    """Grade cells that check a quiz answer (one assignment: a handful of mutants, all killed or equivalent)."""
    nb = json.loads((SOLUTIONS / lesson / f"{lesson}.ipynb").read_text())
    out = set()
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if meta.get("grade") and "from grader.checks import quiz" in source:
            out.add(meta["grade_id"])
    return out


def test_the_operators_make_the_classic_mistakes():
    source = (
        "def f(X, W, b, ys):\n"
        "    ### BEGIN SOLUTION\n"
        "    Z = X @ W + b\n"
        "    s = Z.sum(axis=0)\n"
        "    for i in range(1, len(ys)):\n"
        "        s += ys[i]\n"
        "    return (Z - s) / 2\n"
        "    ### END SOLUTION\n"
    )
    made = {m.operator for m in mutants.generate("f", source)}
    assert {"swap-operands", "flip-operator", "drop-term", "transpose", "axis", "sum-mean", "off-by-one",
            "constant", "swap-name", "in-place", "negate", "drop-statement", "early-return"} <= made
    for m in mutants.generate("f", source):
        ast.parse(m.source)  # every mutant is valid Python
        assert m.source.count("def f(") == 1


def test_a_weak_check_is_caught_and_an_equivalent_mutant_is_recognised(tmp_path):
    """A check that only tests the sign lets mutants survive; identical behaviour is called equivalent."""
    import json

    lesson = tmp_path / "00_demo"
    lesson.mkdir()
    cells = [
        {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "double", "solution": True, "grade": False}},
         "source": "def double(x):\n    ### BEGIN SOLUTION\n    unused = 1.0\n    y = x + x\n    return y\n"
                   "    ### END SOLUTION\n",
         "outputs": [], "execution_count": None},
        {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "test_double", "grade": True, "solution": False,
                                                        "points": 1}},
         "source": "from grader.checks import rng, student\nx = float(rng('x').uniform(1, 3))\n"
                   "assert student().fn('double')(x) > 0\n",
         "outputs": [], "execution_count": None},
    ]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (lesson / "00_demo.ipynb").write_text(json.dumps(nb))
    (lesson / "references.json").write_text(json.dumps([{"exercise": "double", "grade_ids": ["test_double"],
                                                         "references": []}]))
    (result,) = mutants.run_lesson(lesson, seeds=2, jobs=1)
    statuses = {m.description: m.status for m in result.mutants}
    assert statuses["line 4: right term dropped in `x + x`"] == "survived"  # d(x) > 0 cannot tell x from 2x
    assert statuses["line 5: returned value negated in `return y`"] == "killed"
    assert statuses["line 3: 1.0 -> 0 in `1.0`"] == "equivalent"  # an unused value: same replies on every seed
    assert result.score < GOAL
