"""``kill -9`` in the middle of ``grader autograde``, then a rerun: same gradebook as one clean run."""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gradebook_probe import merged_count

from grader.pipeline.autograde import autograde
from grader.pipeline.merge import snapshot
from grader.pipeline.sample_class import write_submitted
from grader.pipeline.toy import write_toy_lesson

STUDENTS = 10


def _processes_in(folder: Path) -> list[int]:
    """Pids whose working directory or command line is inside ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(folder)) or str(folder) in cmd:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """The toy class graded without interruption (and an ungraded copy of it)."""
    root = tmp_path_factory.mktemp("kill")
    solutions = root / "solutions"
    write_toy_lesson(solutions)
    ungraded, clean = root / "ungraded", root / "clean"
    total = write_submitted(ungraded, solutions, STUDENTS)
    shutil.copytree(ungraded, clean)
    autograde(clean, solutions, jobs=2, progress_stream=io.StringIO(), progress_tty=False)
    return solutions, ungraded, clean, total


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs /proc")
@pytest.mark.parametrize("kill_after", [0, 3], ids=["while-starting", "after-3-merged"])
def test_kill_9_mid_run_then_rerun_equals_uninterrupted_run(tmp_path, clean_run, kill_after):
    solutions, ungraded, clean, total = clean_run
    killed = tmp_path / "killed"
    shutil.copytree(ungraded, killed)  # same registration, same submissions

    proc = subprocess.Popen(
        [sys.executable, "-m", "grader", "autograde", "--course", str(killed),
         "--solutions", str(solutions), "--jobs", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    shards = killed / ".grader" / "shards"
    while proc.poll() is None and time.monotonic() < deadline:
        if kill_after == 0 and shards.is_dir() and any(shards.iterdir()):
            break  # workers are being started
        if kill_after and merged_count(killed / "gradebook.db") >= kill_after:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed; grade more notebooks"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before_rerun = merged_count(killed / "gradebook.db")
    assert done_before_rerun < total
    if kill_after:
        assert done_before_rerun >= kill_after

    # workers, the zygote and kernels die with the grader (no orphan keeps writing)
    deadline = time.monotonic() + 60
    while _processes_in(killed) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_in(killed) == [], "processes of the killed run survived it"

    rerun = autograde(killed, solutions, jobs=2, progress_stream=io.StringIO(), progress_tty=False)
    assert rerun.skipped == done_before_rerun and len(rerun.graded) == total - done_before_rerun
    assert snapshot(killed) == snapshot(clean)
    # equal records (hashes, statuses) also mean a further run regrades nothing
