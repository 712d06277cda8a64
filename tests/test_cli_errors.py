"""Every bad input of ``python -m grader`` gets one clear line and a non-zero exit; Ctrl-C stops cleanly.

Run as subprocesses, the way an instructor meets them.  The class is the toy
lesson (``grader.pipeline.toy``) with a few students, graded once for the
module; the Ctrl-C tests interrupt real ``autograde`` runs on copies of it.
"""
from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader.pipeline.sample_class import write_submitted
from grader.pipeline.toy import write_toy_lesson

STUDENTS = 6  # 5 notebooks of the toy lesson: enough that a run is still going after the first one
REPO = Path(__file__).resolve().parents[1]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONWARNINGS", None)
    env.pop("GRADER_COURSE", None)
    return env


def grader(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], capture_output=True, text=True,
                          env=_env(), cwd=cwd)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy lesson and a course with its class submitted (``ungraded``) and graded once (``graded``)."""
    root = tmp_path_factory.mktemp("errors")
    solutions = root / "solutions"
    write_toy_lesson(solutions)
    ungraded = root / "ungraded"
    total = write_submitted(ungraded, solutions, STUDENTS)
    graded = root / "graded"
    shutil.copytree(ungraded, graded)
    proc = grader("autograde", "--course", graded, "--solutions", solutions, "-j", 2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, solutions, ungraded, graded, total


def test_collect_on_a_missing_folder(toy, tmp_path):
    root, solutions, *_ = toy
    proc = grader("collect", tmp_path / "no-such-inbox", "--course", tmp_path / "course", "--solutions", solutions)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert "expected a folder of hand-ins" in line and "no-such-inbox" in line and "found nothing there" in line
    assert not (tmp_path / "course").exists()


def test_collect_with_an_unknown_lesson_exits_1_and_keeps_the_rest(toy, tmp_path):
    root, solutions, *_ = toy
    inbox = tmp_path / "inbox"
    (inbox / "ada" / "00_toy").mkdir(parents=True)
    (inbox / "ada" / "00_toy" / "00_toy.ipynb").write_text("{}")
    (inbox / "ada" / "99_bonus").mkdir()
    (inbox / "ada" / "99_bonus" / "99_bonus.ipynb").write_text("{}")
    proc = grader("collect", inbox, "--course", tmp_path / "course", "--solutions", solutions)
    assert proc.returncode == 1
    assert "NOT PLACED" in proc.stdout and "unknown lesson '99_bonus' (lessons: 00_toy)" in proc.stdout
    line = _one_error_line(proc)
    assert "1 hand-ins were not placed" in line and "run collect again" in line
    assert (tmp_path / "course" / "submitted" / "ada" / "00_toy" / "00_toy.ipynb").is_file()


def test_autograde_with_a_mistyped_course_creates_nothing(toy, tmp_path):
    root, solutions, *_ = toy
    typo = tmp_path / "cuorse"
    proc = grader("autograde", "--course", typo, "--solutions", solutions)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert f"no course folder at {typo}" in line and "check --course" in line
    assert not typo.exists()


def test_autograde_before_collect(toy, tmp_path):
    root, solutions, *_ = toy
    (tmp_path / "course").mkdir()
    proc = grader("autograde", "--course", tmp_path / "course", "--solutions", solutions)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert "nothing to grade" in line and "submitted holds no submission" in line and "grader collect" in line
    assert list((tmp_path / "course").iterdir()) == []


def test_autograde_of_an_unknown_lesson(toy):
    root, solutions, ungraded, graded, total = toy
    proc = grader("autograde", "00_tyo", "--course", graded, "--solutions", solutions)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert "unknown lesson '00_tyo'" in line and "expected one of 00_toy" in line


@pytest.mark.parametrize("jobs", ["-3", "0", "two"])
def test_autograde_with_a_bad_number_of_workers(toy, jobs):
    root, solutions, ungraded, graded, total = toy
    proc = grader("autograde", "--course", graded, "--solutions", solutions, "-j", jobs)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert f"argument --jobs/-j: expected a whole number of workers (1 or more), got '{jobs}'" in line
    assert "--help" in line
    assert proc.stdout == ""


def test_autograde_reports_a_submitted_folder_of_no_lesson(toy, tmp_path):
    root, solutions, ungraded, graded, total = toy
    course = tmp_path / "course"
    shutil.copytree(graded, course)
    (course / "submitted" / "ada" / "99_bonus").mkdir()
    proc = grader("autograde", "--course", course, "--solutions", solutions)
    assert proc.returncode == 1
    assert f"{total} submissions: 0 graded, {total} up to date" in proc.stdout
    assert "ignored submitted/ada/99_bonus: not a lesson of this course" in proc.stdout
    line = _one_error_line(proc)
    assert "1 submitted folders are not lessons of this course" in line and "remove them" in line


def test_report_before_any_autograde(toy, tmp_path):
    root, solutions, ungraded, graded, total = toy
    course = tmp_path / "course"
    shutil.copytree(ungraded, course)
    (course / "gradebook.db").unlink()
    proc = grader("report", "--course", course)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert "nothing graded yet" in line and "grader autograde" in line
    proc = grader("report", "--course", tmp_path / "nope")
    assert proc.returncode == 2
    assert f"no course folder at {tmp_path / 'nope'}" in _one_error_line(proc)


def test_feedback_before_any_autograde(toy, tmp_path):
    root, solutions, ungraded, graded, total = toy
    proc = grader("feedback", "--course", ungraded)
    assert proc.returncode == 2
    assert "nothing graded yet" in _one_error_line(proc) and "grader autograde" in proc.stderr
    proc = grader("feedback", "--course", tmp_path / "nope")
    assert proc.returncode == 2
    assert f"no course folder at {tmp_path / 'nope'}" in _one_error_line(proc)
    assert not (tmp_path / "nope").exists()


def test_validate_shows_no_library_warnings(toy):
    root, solutions, ungraded, graded, total = toy
    notebook = graded / "submitted" / "ada" / "00_toy" / "00_toy.ipynb"  # ada hands in a complete lesson
    proc = grader("validate", notebook, "--solutions", solutions)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "score 5/5: all checks pass" in proc.stdout
    assert proc.stderr == "", proc.stderr


# ------------------------------------------------------------------ Ctrl-C

def _interrupt_after_first(course: Path, solutions: Path, *extra) -> tuple[int, str, str, float]:
    """Start autograde in its own process group, Ctrl-C the group (as a terminal does) after one notebook."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader", "autograde", "--course", str(course), "--solutions", str(solutions),
         "-j", "2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True)
    err: list[str] = []
    first = threading.Event()

    def read_stderr():
        for line in proc.stderr:
            err.append(line)
            if line.startswith("grading [") and " 1/" in line:
                first.set()
        first.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    first.wait()
    assert proc.poll() is None, "the run finished before it could be interrupted:\n" + "".join(err)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out = proc.stdout.read()
    code = proc.wait()
    seconds = time.monotonic() - sent
    reader.join()
    return code, out, "".join(err), seconds


def _grader_processes(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmd:
            found.append(int(entry.name))
    return found


def _check_interrupted(code: int, out: str, err: str, course: Path, total: int) -> int:
    assert code == 130, (out, err)
    assert "Traceback" not in err + out and "KeyboardInterrupt" not in err + out
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("grading [")]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("interrupted: graded ") and f"python -m grader autograde --course {course}" in line
    graded = int(line.split("graded ")[1].split(" of ")[0])
    assert 1 <= graded < total
    assert f"of {total} submissions" in line and f"the other {total - graded}" in line
    assert _grader_processes(course) == [], "processes of the interrupted run survived it"
    assert not (course / ".grader" / "lock").exists() or _lock_is_free(course / ".grader" / "lock")
    return graded


def _lock_is_free(path: Path) -> bool:
    import fcntl

    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
    return True


def test_ctrl_c_stops_autograde_with_one_line_then_a_rerun_finishes(toy, tmp_path):
    root, solutions, ungraded, graded, total = toy
    course = tmp_path / "course"
    shutil.copytree(ungraded, course)
    code, out, err, seconds = _interrupt_after_first(course, solutions)
    print(f"Ctrl-C to exit: {seconds:.2f} s")
    done = _check_interrupted(code, out, err, course, total)

    rerun = grader("autograde", "--course", course, "--solutions", solutions, "-j", 2)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{total} submissions: {total - done} graded, {done} up to date, 0 could not be graded" in rerun.stdout
    report = grader("report", "--course", course)
    assert report.returncode == 0 and "WARNING" not in report.stderr
    with open(course / "reports" / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    with _report(graded) as f:  # the class graded in one uninterrupted run
        clean = list(csv.DictReader(f))
    assert [(r["student"], r["score"], r["status"]) for r in rows] == \
        [(r["student"], r["score"], r["status"]) for r in clean]


def _report(course: Path):
    proc = grader("report", "--course", course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return open(course / "reports" / "grades.csv")


def test_report_warns_after_an_interrupted_force_regrade(toy, tmp_path):
    root, solutions, ungraded, graded, total = toy
    course = tmp_path / "course"
    shutil.copytree(graded, course)
    code, out, err, _ = _interrupt_after_first(course, solutions, "--force")
    done = _check_interrupted(code, out, err, course, total)

    report = grader("report", "--course", course)
    assert report.returncode == 1
    warning = [line for line in report.stderr.splitlines() if line.strip()]
    assert len(warning) == 1 and warning[0].startswith("WARNING: grading is incomplete: ")
    assert f"{total - done} submissions are not graded" in warning[0]
    assert f"python -m grader autograde --course {course}" in warning[0]
    assert "?" in report.stdout
    with open(course / "reports" / "grades.csv") as f:
        statuses = [r["status"] for r in csv.DictReader(f)]
    assert statuses.count("ungraded") == total - done and statuses.count("graded") == done

    # a changed submission is stale until it is graded again
    rerun = grader("autograde", "--course", course, "--solutions", solutions, "-j", 2)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    notebook = course / "submitted" / "ada" / "00_toy" / "00_toy.ipynb"
    notebook.write_text(notebook.read_text() + "\n")
    report = grader("report", "--course", course)
    assert report.returncode == 1 and "1 changed (or their lesson or the grader changed)" in report.stderr
    with open(course / "reports" / "grades.csv") as f:
        assert {r["student"]: r["status"] for r in csv.DictReader(f)}["ada"] == "stale"
