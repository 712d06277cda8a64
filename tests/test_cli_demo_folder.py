"""The demo's folder: named up front, never someone else's, removed with --clean; a clear line without permission.

Uses the toy lesson and one student (one notebook graded), so it is quick;
``test_cli_demo.py`` runs the real lessons.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.pipeline.course import CourseError
from grader.pipeline.demo import DEFAULT_DIR, MARKER, prepare_folder, run_demo
from grader.pipeline.toy import write_toy_lesson

REPO = Path(__file__).resolve().parents[1]


def test_default_folder_is_under_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = prepare_folder(None)
    assert root == (tmp_path / DEFAULT_DIR).resolve() and (root / MARKER).is_file()


def test_an_earlier_demo_is_replaced_but_nothing_else_is_touched(tmp_path):
    root = prepare_folder(tmp_path / "demo")
    (root / "old.txt").write_text("from an earlier demo")
    again = prepare_folder(tmp_path / "demo")
    assert again == root and not (root / "old.txt").exists()

    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("precious")
    with pytest.raises(CourseError, match="exists, is not empty and was not made by the demo: choose another --dir"):
        prepare_folder(mine)
    assert (mine / "chapter1.tex").read_text() == "precious"


def test_clean_removes_the_folder_and_the_counts_add_up(tmp_path):
    solutions = tmp_path / "solutions"
    write_toy_lesson(solutions)
    out = io.StringIO()
    result = run_demo(tmp_path / "demo", solutions, jobs=1, students=1, every_lesson=True, out=out,
                      progress_tty=False, clean=True)
    text = out.getvalue()
    assert result.mismatches == []
    assert "1 students, 1 submissions of 1 lessons: 1 complete" in text
    assert text.splitlines()[0].endswith("and removes it at the end (--clean)")
    assert f"removed {result.root} (--clean)" in text
    assert not result.root.exists()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to act as another user")
def test_a_user_who_cannot_read_the_solutions_gets_one_line():
    base = Path(tempfile.mkdtemp(prefix="demo-perm-", dir="/tmp"))
    try:
        os.chmod(base, 0o777)
        solutions = base / "solutions"
        write_toy_lesson(solutions)
        os.chmod(solutions, 0o750)  # as a root grading run leaves it
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(base), "MPLBACKEND": "Agg",
               "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
        proc = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "grader", "demo",
             "--solutions", str(solutions), "--students", "1"],
            cwd=base, env=env, capture_output=True, text=True)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert lines[0].startswith(f"error: permission denied on {solutions} (running as nobody)")
        assert "run as root or as their owner" in lines[0]
        assert not (base / DEFAULT_DIR).exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)
