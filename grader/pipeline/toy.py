"""A tiny throwaway nbgrader lesson, for testing the grading pipeline.

``write_toy_lesson(folder)`` writes ``<folder>/00_toy/00_toy.ipynb`` and its
``bugs.json``: two exercises (``square`` and ``grad_square``), a grade cell
with a hidden test that only the hidden part catches, a partial-credit grade
cell, and one planted bug per exercise.  It exists so that the grader's tests
do not depend on the real lessons; it is never written into the repository's
``solutions/``.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

TOY_MAX_SCORE = 5.0  # 2 (test_square) + 3 (test_grad_square)

#: A line of the hidden tests that must never reach a student.
TOY_HIDDEN_LINE = 'assert square(5) == 25, "square: hidden case square(5) should be 25"'


def _meta(grade_id: str, *, grade: bool, solution: bool, points: float = 0) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def toy_notebook(prefix: str = "") -> nbformat.NotebookNode:
    """The source notebook of the toy lesson (``prefix`` makes variants distinguishable)."""
    cells = [
        new_markdown_cell(f"# Toy lesson {prefix}\n\nSquare a number, then differentiate it."),
        new_code_cell("import math\nimport numpy as np\nnp.random.seed(0)"),
        new_code_cell(
            'def square(x):\n'
            '    """Return x squared."""\n'
            "    ### BEGIN SOLUTION\n"
            "    result = x * x\n"
            "    return result\n"
            "    ### END SOLUTION",
            metadata=_meta("square", grade=False, solution=True),
        ),
        new_code_cell(
            '"""Check square (2 points)."""\n'
            "from grader.checks import student\n"
            'square = student().fn("square")  # the student\'s square, in their kernel or through the checker\n'
            'assert square(2) == 4, "square: square(2) should be 4"\n'
            "### BEGIN HIDDEN TESTS\n"
            f"{TOY_HIDDEN_LINE}\n"
            "### END HIDDEN TESTS",
            metadata=_meta("test_square", grade=True, solution=False, points=2),
        ),
        new_markdown_cell("The derivative of $x^2$ is $2x$."),
        new_code_cell(
            'def grad_square(x):\n'
            '    """Return d(x^2)/dx."""\n'
            "    ### BEGIN SOLUTION\n"
            "    slope = 2 * x\n"
            "    return slope\n"
            "    ### END SOLUTION",
            metadata=_meta("grad_square", grade=False, solution=True),
        ),
        new_code_cell(
            '"""Check grad_square (3 points, partial credit per case)."""\n'
            "from grader.checks import student\n"
            'grad_square = student().fn("grad_square")\n'
            "cases = [1.5, -2.0, 3.25]\n"
            "### BEGIN HIDDEN TESTS\n"
            "cases = cases + [7.5]\n"
            "### END HIDDEN TESTS\n"
            "passed = 0\n"
            "for x in cases:\n"
            "    got, want = grad_square(x), 2 * x\n"
            "    if abs(got - want) < 1e-9:\n"
            "        passed += 1\n"
            "    else:\n"
            '        print(f"grad_x is wrong at x={x}: got {got}, expected {want}")\n'
            "float(3 * passed / len(cases))",
            metadata=_meta("test_grad_square", grade=True, solution=False, points=3),
        ),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


TOY_BUGS = [
    {
        "exercise": "square",
        "grade_ids": ["test_square"],
        "find": "result = x * x",
        "replace": "result = x + x",
        "quantity": "square",
    },
    {
        "exercise": "grad_square",
        "grade_ids": ["test_grad_square"],
        "find": "slope = 2 * x",
        "replace": "slope = x",
        "quantity": "grad_x",
    },
]


def write_toy_lesson(solutions_dir: Path | str, name: str = "00_toy") -> Path:
    """Write the toy lesson ``<solutions_dir>/<name>/`` and return its folder."""
    folder = Path(solutions_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(toy_notebook(name), str(folder / f"{name}.ipynb"))
    (folder / "bugs.json").write_text(json.dumps(TOY_BUGS, indent=2) + "\n", encoding="utf-8")
    return folder
