"""``grader autograde --scheduler``: grading a class on a Dask cluster (grader.pipeline.cluster).

One small class (3 students x 2 lessons) is graded locally with ``-j 2`` once per session;
each test grades a copy of the same ungraded class on a ``LocalCluster`` of 2 worker processes
and compares everything a run decides (``grader.pipeline.merge.snapshot``) with the local run.
The checks' random inputs come from ``GRADER_SEED`` so that partial credit is reproducible.
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="dask[distributed] (requirements.txt) is not installed")

from gradebook_probe import merged_count  # noqa: E402

from grader.pipeline.autograde import autograde  # noqa: E402
from grader.pipeline.cluster import (  # noqa: E402
    STATION_PREFIX,
    Station,
    StationError,
    make_bundle,
    remove_stale_stations,
    write_tree,
)
from grader.pipeline.course import DEFAULT_SOLUTIONS, CourseError, notebook_env  # noqa: E402
from grader.pipeline.merge import read_state, snapshot  # noqa: E402
from grader.pipeline.register import environment_hash, register  # noqa: E402
from grader.pipeline.sample_class import write_submitted  # noqa: E402
from grader.sandbox import Limits  # noqa: E402

STUDENTS = 3
LESSONS = ("01_scalar_backprop", "03_softmax_cross_entropy")
SEED = "20261202"


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory):
    """(solutions, ungraded course, the course graded by ``autograde -j 2``, number of notebooks)."""
    root = tmp_path_factory.mktemp("dask")
    solutions = root / "solutions"
    for name in LESSONS:
        shutil.copytree(DEFAULT_SOLUTIONS / name, solutions / name)
    ungraded, local = root / "ungraded", root / "local"
    total = write_submitted(ungraded, solutions, STUDENTS)
    shutil.copytree(ungraded, local)
    with pytest.MonkeyPatch.context() as mp:  # the seed only for this run: other tests keep a random one
        mp.setenv("GRADER_SEED", SEED)
        report = autograde(local, solutions, jobs=2, progress_stream=io.StringIO(), progress_tty=False)
    assert len(report.graded) == total and not report.failures
    return solutions, ungraded, local, total


@pytest.fixture(scope="session")
def cluster(graded_class):
    """A LocalCluster of 2 worker processes (one thread each), as a cluster of 2 single-core nodes."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc:
        with Client(lc, set_as_default=False) as client:
            yield lc, client


def test_cluster_grades_exactly_as_local_j2(tmp_path, graded_class, cluster, monkeypatch):
    monkeypatch.setenv("GRADER_SEED", SEED)  # the local run's seed travels to the workers in the bundle
    solutions, ungraded, local, total = graded_class
    lc, _client = cluster
    course = tmp_path / "course"
    shutil.copytree(ungraded, course)
    progress = io.StringIO()
    report = autograde(course, solutions, scheduler=lc.scheduler_address, progress_stream=progress,
                       progress_tty=False)
    assert not report.failures
    assert len(report.graded) == total and report.workers == 2
    assert snapshot(course) == snapshot(local)  # every grade cell's score, every record, every graded notebook
    assert ({k: r.notes for k, r in read_state(course / "gradebook.db").items()}
            == {k: r.notes for k, r in read_state(local / "gradebook.db").items()})
    # the progress bar counted the cluster's results
    assert f"{total}/{total}" in progress.getvalue().splitlines()[-1]
    # the kernels were confined on the workers as on this machine
    assert "bpgrade" in report.sandbox
    # nothing left to do: a second run regrades nothing
    again = autograde(course, solutions, scheduler=lc.scheduler_address, progress_stream=io.StringIO(),
                      progress_tty=False)
    assert again.skipped == total and again.graded == []


def test_killing_a_dask_worker_mid_run_loses_nothing(tmp_path, graded_class, cluster, monkeypatch):
    monkeypatch.setenv("GRADER_SEED", SEED)
    solutions, ungraded, local, total = graded_class
    lc, client = cluster
    course = tmp_path / "course"
    shutil.copytree(ungraded, course)
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["report"] = autograde(course, solutions, scheduler=lc.scheduler_address,
                                          progress_stream=io.StringIO(), progress_tty=False)
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    killed = None
    deadline = time.monotonic() + 600
    while thread.is_alive() and time.monotonic() < deadline and killed is None:
        if merged_count(course / "gradebook.db") >= 1:
            busy = [addr for addr, keys in client.processing().items()
                    if any(str(k).startswith("grade-") for k in keys)]
            if busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                merged_at_kill = merged_count(course / "gradebook.db")
                os.kill(pid, signal.SIGKILL)
                killed = pid
                continue
        time.sleep(0.05)
    thread.join(timeout=900)
    assert killed is not None, "the run finished before a worker could be killed; grade more notebooks"
    assert merged_at_kill < total
    assert "error" not in outcome, outcome.get("error")
    report = outcome["report"]
    # the notebooks the dead worker held were graded elsewhere (or on its restarted process): nothing lost
    assert not report.failures and len(report.graded) == total
    assert sorted((r["student"], r["lesson"]) for r in report.graded) == sorted(snapshot(local)["state"])
    assert snapshot(course) == snapshot(local)
    client.wait_for_workers(2, timeout=120)  # the nanny restarted the killed worker for the next tests


def test_unreachable_scheduler_is_one_line_and_nonzero(tmp_path, graded_class):
    solutions, ungraded, _local, _total = graded_class
    course = tmp_path / "course"
    shutil.copytree(ungraded, course)
    env = {**notebook_env(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "autograde", "--course", str(course), "--solutions",
         str(solutions), "--scheduler", "tcp://127.0.0.1:9"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert merged_count(course / "gradebook.db") == 0 and not (course / "autograded").exists()


def test_jobs_and_scheduler_exclude_each_other(tmp_path, graded_class):
    solutions, ungraded, _local, _total = graded_class
    with pytest.raises(CourseError, match="--jobs and --scheduler"):
        autograde(ungraded, solutions, jobs=2, scheduler="tcp://127.0.0.1:9")


def test_worker_that_is_not_root_refuses_with_a_clear_error(tmp_path, graded_class):
    solutions, ungraded, _local, _total = graded_class
    if os.geteuid() != 0:
        pytest.skip("needs root to start a worker as another user")
    from distributed import LocalCluster

    course = tmp_path / "course"
    shutil.copytree(ungraded, course)
    scratch = Path(tempfile.mkdtemp(prefix="grader-test-nobody-"))  # the unprivileged worker's own folder
    os.chmod(scratch, 0o777)
    with LocalCluster(n_workers=0, processes=True, dashboard_address=":0") as lc:
        env = {**notebook_env(), "HOME": str(scratch)}
        worker = subprocess.Popen(
            ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
             sys.executable, "-m", "distributed.cli.dask_worker", lc.scheduler_address,
             "--nthreads", "1", "--no-nanny", "--local-directory", str(scratch), "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "grader", "autograde", "--course", str(course), "--solutions",
                 str(solutions), "--scheduler", lc.scheduler_address],
                env=notebook_env(), capture_output=True, text=True, timeout=600,
            )
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            shutil.rmtree(scratch, ignore_errors=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert "runs as uid 65534, not root" in errors[0] and "--allow-unconfined" in errors[0]
    assert merged_count(course / "gradebook.db") == 0


def test_result_files_cannot_leave_their_folder(tmp_path):
    with pytest.raises(CourseError, match="must stay inside"):
        write_tree(tmp_path, {"../escape.txt": b"x"})
    write_tree(tmp_path / "ok", {"a/b.ipynb": b"{}"})
    assert (tmp_path / "ok" / "a" / "b.ipynb").read_bytes() == b"{}"


def test_a_worker_with_another_grader_version_refuses(graded_class):
    """The course travels, the code does not: a worker whose grader differs (environment hash) does not grade."""
    solutions, ungraded, _local, _total = graded_class
    lessons = register(ungraded, solutions)
    hashes = {lesson.name: environment_hash(lesson) for lesson in lessons}
    good = make_bundle(ungraded, hashes, seed=1, limits=Limits.from_env(), timeout=None)
    assert good.env_hashes == hashes and good.course_tar  # what a worker receives
    other = {**hashes, LESSONS[0]: "0" * 64}  # as if the instructor ran another version of the checks
    station = Station(make_bundle(ungraded, other, seed=1, limits=Limits.from_env(), timeout=None), 1)
    try:
        with pytest.raises(StationError, match=f"different grader.*environment hash of {LESSONS[0]}"):
            station.grade("ada", LESSONS[0], {})
    finally:
        station.close()
    assert station.base is not None and not station.base.exists()  # nothing left on the node


def test_stale_station_folders_of_dead_workers_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone, alive, foreign = (tmp_path / f"{STATION_PREFIX}{n}" for n in ("gone", "alive", "foreign"))
    for folder, pid in ((gone, dead.pid), (alive, os.getpid())):
        folder.mkdir()
        (folder / "pid").write_text(str(pid))
    foreign.mkdir()  # no pid file: not ours to judge
    assert remove_stale_stations(str(tmp_path)) == [gone]
    assert not gone.exists() and alive.exists() and foreign.exists()
