"""``grader validate NOTEBOOK``: the autograder's verdict, with an exit code that means it."""
from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from grader.pipeline.course import find_lessons
from grader.pipeline.release import generate
from grader.pipeline.submissions import complete, with_bug
from grader.pipeline.toy import TOY_BUGS, TOY_HIDDEN_LINE, write_toy_lesson


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("validate")
    solutions = root / "solutions"
    write_toy_lesson(solutions)
    lesson = find_lessons(solutions)[0]
    released = nbformat.reads(generate([lesson])[lesson.name]["00_toy.ipynb"].decode(), as_version=4)
    solved = complete(nbformat.read(str(lesson.notebook), as_version=4), released)
    return root, solutions, solved


def _validate(path, solutions):
    return subprocess.run(
        [sys.executable, "-m", "grader", "validate", str(path), "--solutions", str(solutions)],
        capture_output=True, text=True,
    )


def test_solution_passes_with_exit_0(toy):
    root, solutions, solved = toy
    path = root / "mine" / "00_toy.ipynb"
    path.parent.mkdir()
    nbformat.write(solved, str(path))
    proc = _validate(path, solutions)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS  test_square" in proc.stdout and "PASS  test_grad_square" in proc.stdout
    assert "score 5/5" in proc.stdout


def test_failing_hidden_check_exits_1_without_showing_hidden_source(toy):
    root, solutions, solved = toy
    path = root / "buggy" / "00_toy.ipynb"
    path.parent.mkdir()
    nbformat.write(with_bug(solved, TOY_BUGS[0]), str(path))
    proc = _validate(path, solutions)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  test_square       0/2" in proc.stdout
    assert "PASS  test_grad_square  3/3" in proc.stdout
    assert "square: hidden case square(5) should be 25" in proc.stdout  # the check's message
    assert TOY_HIDDEN_LINE not in proc.stdout + proc.stderr  # never its source


def test_unknown_notebook_exits_2(toy):
    root, solutions, _ = toy
    path = root / "other.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(path))
    proc = _validate(path, solutions)
    assert proc.returncode == 2
    assert "expected a file named one of ['00_toy.ipynb']" in proc.stderr
