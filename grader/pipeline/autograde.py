"""``grader autograde``: grade a whole class in parallel, resumably, with progress.

* Lessons are (re)registered in the course gradebook when their source changed
  (``grader.pipeline.register``).
* Every submission ``submitted/<student>/<lesson>/`` is hashed; together with
  the grading environment's hash it is compared with the record of the last
  grading (``grader.pipeline.merge``).  Only new or changed submissions are graded;
  ``force`` regrades everything.
* N worker processes (``grader.pipeline.worker``) each grade on a private copy of the
  gradebook; this process is the only writer of ``gradebook.db`` and merges
  each finished submission in one transaction together with its record.
* Kernels come from a pre-warmed zygote (``grader.sandbox.zygote``), one fresh forked
  process per notebook.
* A run holds an exclusive lock on the course directory.  Killing it at any
  point loses at most the submissions in flight; the next run grades them.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import selectors
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from .. import sandbox
from ..sandbox.zygote import KERNEL_NAME, Zygote
from .course import DEFAULT_SOLUTIONS, REPO_ROOT, CourseError, notebook_env, sha256_tree
from .merge import GradebookWriter
from .progress import Progress
from .register import environment_hash, gradebook_path, register

STATE_DIR = ".grader"


@dataclass(frozen=True)
class Job:
    """One submission to grade."""

    student: str
    lesson: str
    content_hash: str
    env_hash: str


@dataclass
class AutogradeReport:
    """What a run did."""

    submissions: int = 0  # all submissions found
    skipped: int = 0  # up to date, not regraded
    graded: list[dict] = field(default_factory=list)  # worker results, merged
    crashed: list[tuple[str, str, str]] = field(default_factory=list)  # not merged, retried next run
    unknown: list[str] = field(default_factory=list)  # submitted folders of no known lesson
    seconds: float = 0.0
    workers: int = 0
    sandbox: str = ""  # how kernels were confined (one line)
    problems: list[str] = field(default_factory=list)  # what the sandbox could not protect
    interrupted: bool = False  # stopped by Ctrl-C (SIGINT) before every submission was graded
    todo: int = 0  # submissions this run set out to grade
    startup: float = 0.0  # seconds from the start of the run until the workers were ready to grade

    @property
    def failures(self) -> list[tuple[str, str, str]]:
        """(student, lesson, reason) of every submission that could not be graded."""
        out = [(r["student"], r["lesson"], r["error"] or "") for r in self.graded if r["status"] != "graded"]
        return out + self.crashed


class CourseLocked(CourseError):
    """Another grader run holds the course directory."""


def check_course(course_root: Path | str) -> Path:
    """The resolved course folder, or ``CourseError`` when it is missing or holds no submission.

    Run before anything is written, so that a mistyped ``--course`` never
    creates an empty course.
    """
    root = Path(course_root).resolve()
    collect_cmd = f"python -m grader collect PATH --course {course_root}"
    if not root.is_dir():
        raise CourseError(
            f"no course folder at {root}: expected a folder made by `{collect_cmd}`; "
            f"check --course (default: $GRADER_COURSE, else course/ in the checkout)")
    submitted = root / "submitted"
    if not submitted.is_dir() or not any(p.is_dir() for p in submitted.iterdir()):
        raise CourseError(
            f"nothing to grade: {submitted} holds no submission; run `{collect_cmd}` first")
    return root


class _Lock:
    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> _Lock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip()
            os.close(self.fd)
            raise CourseLocked(
                f"another grader run holds {self.path} (pid {holder or '?'}); wait for it to finish"
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def default_jobs() -> int:
    """Number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def find_submissions(course_root: Path, lessons: set[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """``(student, lesson)`` of ``submitted/`` and the folders that match no lesson."""
    found, unknown = [], []
    submitted = course_root / "submitted"
    if not submitted.is_dir():
        return found, unknown
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for lesson_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
            if lesson_dir.name in lessons:
                found.append((student_dir.name, lesson_dir.name))
            else:
                unknown.append(f"{student_dir.name}/{lesson_dir.name}")
    return found, unknown


def plan(course_root: Path, writer: GradebookWriter, env_hashes: dict[str, str],
         force: bool = False, only: set[str] | None = None) -> tuple[list[Job], int, list[str]]:
    """The jobs of a run, the number of up-to-date submissions, and unknown folders.

    ``only``: grade just these lessons (the others are neither graded nor counted).
    """
    found, unknown = find_submissions(course_root, set(env_hashes))
    if only is not None:
        found = [(student, lesson) for student, lesson in found if lesson in only]
    state = writer.state()
    jobs, skipped = [], 0
    for student, lesson in found:
        content = sha256_tree(course_root / "submitted" / student / lesson)
        job = Job(student, lesson, content, env_hashes[lesson])
        row = state.get((student, lesson))
        up_to_date = (
            row is not None
            and row.content_hash == job.content_hash
            and row.env_hash == job.env_hash
            # an errored row (say a kernel that could not start) is graded again on every run
            and row.status == "graded"
            and (course_root / "autograded" / student / lesson / f"{lesson}.ipynb").exists()
        )
        if up_to_date and not force:
            skipped += 1
        else:
            jobs.append(job)
    return jobs, skipped, unknown


def _copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of an sqlite file (sqlite's backup API)."""
    if dst.exists():
        dst.unlink()
    a, b = sqlite3.connect(str(src)), sqlite3.connect(str(dst))
    try:
        a.backup(b)
    finally:
        b.close()
        a.close()


class RunSandbox:
    """The containment of one run: grading users, the workdir base, protected paths (see grader/SANDBOX.md)."""

    def __init__(self, course_root: Path, solutions_dir: Path, jobs: int, limits: sandbox.Limits):
        self.limits = limits
        # users no concurrent grader run on this machine holds (it would reap our kernels)
        self.claim = sandbox.claim_grading_users(jobs)
        self.users = self.claim.users if self.claim else None
        self.free = list(self.users or [])
        self.base = sandbox.new_workdir_base()
        # the checks' inputs are drawn from this run's secret seed (grader.checks.rng); never sent to a kernel
        self.seed = int(os.environ.get("GRADER_SEED") or int.from_bytes(os.urandom(8), "little") >> 1)
        self.isolation: dict = {}
        self.problems: list[str] = []
        self.opened: list[str] = []
        self.closed: list[str] = []
        if self.users:
            hidden = [*sandbox.default_hidden_paths(REPO_ROOT, course_root), solutions_dir]
            # Left closed after the run: restoring would reopen them under a
            # concurrent run, and root (the instructor) does not need "others" bits.
            protection = sandbox.protect_paths(hidden, sandbox.default_readonly_paths(REPO_ROOT),
                                               [u.gid for u in self.users])
            self.closed = [path for path, _old, _new in protection.changed]
            self.problems += protection.problems
            # Kernels must be able to import the interpreter's own modules.  Left in
            # place after the run (only "enter", never "list"): restoring it would
            # break a concurrent run's kernels.
            opened = sandbox.grant_search([*sandbox.interpreter_paths(), REPO_ROOT, self.base])
            self.opened = [path for path, _old, _new in opened.changed]
            for user in self.users:  # nothing of an earlier, killed run may linger
                sandbox.reap(user.uid, user.gid)
            self.isolation = self._isolation(course_root, solutions_dir)
        else:
            self.problems.append(
                "not running as root: kernels run as this user, so the gradebook, the course folder, the "
                "solutions and other students' files are NOT protected from student code (see grader/SANDBOX.md)")

    def _isolation(self, course_root: Path, solutions_dir: Path) -> dict:
        """Settings of grader.sandbox.isolation for every kernel of the run ({} when namespaces are not available)."""
        import course_lib

        from ..sandbox import isolation

        why = "GRADER_ISOLATION=off" if os.environ.get("GRADER_ISOLATION") == "off" else isolation.available()
        if why:
            self.problems.append(f"kernels share the network and the file system view: {why}")
            return {}
        stub_base = self.base / "course-lib-stubs"
        stub_base.mkdir(mode=0o755)
        os.chmod(stub_base, 0o755)
        hidden = {str(REPO_ROOT), str(Path(course_root).resolve()), str(Path(solutions_dir).resolve())}
        return {
            "hide": sorted(hidden),
            "keep": [str(Path(sys.prefix).resolve())],
            "writable": isolation.world_writable_dirs(),
            "course_lib": str(Path(course_lib.__file__).resolve().parent),
            "stub_base": str(stub_base),
            "tmpfs_bytes": 64 << 20,
        }

    def describe(self) -> str:
        who = (f"as users {', '.join(u.name for u in self.users)}" if self.users
               else "as the grader's own user (not root)")
        opened = f"; made enterable by other users (o+x): {', '.join(self.opened)}" if self.opened else ""
        closed = f"; closed to other users (o-rwx): {', '.join(self.closed)}" if self.closed else ""
        return f"kernels run {who} in throwaway folders; limits: {self.limits.describe()}{closed}{opened}"

    def take(self, zygote: Zygote | None = None) -> dict:
        """The worker settings for a new worker (its own uid, when root)."""
        user = self.free.pop(0) if self.users else None
        if self.users and user is None:
            raise CourseError("no free grading user for a new worker")
        return {
            "workdir_base": str(self.base),
            "uid": user.uid if user else None,
            "gid": user.gid if user else None,
            "user": user.name if user else None,
            "notebook_timeout": self.limits.notebook_timeout,
            "zygote_pid": zygote.proc.pid if zygote is not None and zygote.proc is not None else 0,
            "limits_env": self.limits.to_env(),
            "seed": self.seed,
            "isolation": self.isolation,
            # GRADER_CHECKER=off runs grade cells in the kernel, as plain nbgrader does (benchmarks only)
            "trusted": os.environ.get("GRADER_CHECKER") != "off",
        }

    def give_back(self, box: dict) -> None:
        """A worker is gone: kill whatever its uid left, then the uid may serve another worker."""
        if box.get("uid") is None:
            return
        sandbox.reap(box["uid"], box["gid"])
        sandbox.purge_tmp(box["uid"])
        self.free.append(next(u for u in self.users if u.uid == box["uid"]))

    def close(self) -> None:
        for user in self.users or ():
            sandbox.reap(user.uid, user.gid)
            sandbox.purge_tmp(user.uid)
        sandbox.cleanup_workdir(self.base)
        if self.claim:
            self.claim.release()


def planned_machine_changes(course_root: Path | str, solutions_dir: Path | str, jobs: int) -> list[str]:
    """What a root run of autograde will change on this machine, in words, before it changes anything.

    (The same steps as :class:`RunSandbox`; empty when not root, where nothing outside the course changes.)
    """
    import pwd
    import stat

    if not sandbox.is_root():
        return []
    out = []
    names = [f"{sandbox.USER_PREFIX}{i}" for i in range(max(1, jobs))]
    missing = []
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            missing.append(name)
    out.append(f"grading users {', '.join(names)}: "
               + (f"creates {', '.join(missing)} (system accounts, no home, no login shell)" if missing
                  else "already there") + "; they stay after the run")
    hidden = [*sandbox.default_hidden_paths(REPO_ROOT, course_root), Path(solutions_dir)]
    closing = []
    for path in dict.fromkeys(Path(os.path.realpath(p)) for p in hidden):
        try:
            closed = not os.stat(path).st_mode & 0o007
        except OSError:
            closing.append(f"{path} (once created)")
            continue
        closing.append(f"{path}" + (" (already closed)" if closed else ""))
    out.append("closes to other users (chmod o-rwx), and leaves closed: " + ", ".join(closing))
    opening = []
    for raw in [*sandbox.interpreter_paths(), REPO_ROOT]:
        for folder in [Path(os.path.realpath(raw)), *Path(os.path.realpath(raw)).parents]:
            try:
                mode = os.stat(folder).st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH and str(folder) not in opening:
                opening.append(str(folder))
    out.append("lets other users enter (chmod o+x, never list), and leaves so: "
               + (", ".join(sorted(opening)) if opening else "nothing (already enterable)"))
    out.append(f"uses throwaway folders under {tempfile.gettempdir()} (removed at the end) and lock files in "
               f"{sandbox.USER_LOCK_DIR}")
    return out


class _WorkerProc:
    def __init__(self, index: int, course_root: Path, shard: Path, log: Path,
                 env: dict, kernel_name: str | None, timeout: int | None, box: dict | None = None):
        cmd = [sys.executable, "-m", "grader.pipeline.worker", "--course", str(course_root), "--shard", str(shard)]
        if kernel_name:
            cmd += ["--kernel-name", kernel_name]
        if timeout:
            cmd += ["--timeout", str(int(timeout))]
        if box is not None:
            cmd += ["--sandbox", json.dumps({k: v for k, v in box.items() if k != "user"})]
        self.box = box
        self.index = index
        self.log = log
        with open(log, "w") as err:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                env=env, cwd=str(course_root), text=True, bufsize=1,
            )
        self.job: Job | None = None
        self.ready = False

    def send(self, job: Job) -> None:
        self.job = job
        self.proc.stdin.write(json.dumps({"student": job.student, "lesson": job.lesson}) + "\n")
        self.proc.stdin.flush()

    def finish(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def autograde(
    course_root: Path | str,
    solutions_dir: Path | str = DEFAULT_SOLUTIONS,
    jobs: int | None = None,
    timeout: int | None = None,
    force: bool = False,
    use_zygote: bool = True,
    progress_stream: TextIO | None = None,
    progress_tty: bool | None = None,
    limits: sandbox.Limits | None = None,
    lessons: list[str] | None = None,
    scheduler: str | None = None,
    allow_unconfined: bool = False,
) -> AutogradeReport:
    """Grade every new or changed submission of ``course_root`` (all with ``force``).

    Ctrl-C (SIGINT) stops the run within a second or two: the submissions in
    flight are dropped (the next run grades them), every process of the run is
    stopped, and the report comes back with ``interrupted`` set.

    Args:
        lessons: grade only these lessons (default: every lesson); an unknown
            name raises ``CourseError``.
        timeout: seconds per cell (default: ``limits.cell_timeout``).
        limits: the kernels' resource and time limits (default:
            ``grader.sandbox.Limits.from_env()``, i.e. ``GRADER_LIMIT_*``).
            Kernels are confined only with the zygote (``use_zygote``).
        scheduler: grade on the Dask cluster of this scheduler (``tcp://host:8786``, a
            scheduler file, or ``auto`` for Dask's ``scheduler-address`` setting) instead of
            ``jobs`` local workers; see ``grader.pipeline.cluster``.
        allow_unconfined: with ``scheduler``, let Dask workers that are not root grade
            without the sandbox (refused by default).
    """
    if scheduler is not None and not use_zygote:
        raise CourseError("--no-zygote is for debugging one machine; it cannot be combined with --scheduler")
    if scheduler is not None and jobs is not None:
        raise CourseError("--jobs and --scheduler exclude each other: on a cluster the Dask workers' threads "
                          "decide how many submissions are graded at once")
    root = check_course(course_root)
    limits = limits if limits is not None else sandbox.Limits.from_env()
    if timeout is None and limits.cell_timeout:
        timeout = int(limits.cell_timeout)
    elif timeout is not None:
        limits = replace(limits, cell_timeout=float(timeout))
    start = time.monotonic()
    report = AutogradeReport()
    state_dir = root / STATE_DIR
    with _Lock(state_dir / "lock"):
        zygote = None
        box: RunSandbox | None = None
        try:
            course_lessons = register(root, solutions_dir)
            env_hashes = {lesson.name: environment_hash(lesson) for lesson in course_lessons}
            if lessons is not None:
                unknown = [name for name in lessons if name not in env_hashes]
                if unknown:
                    raise CourseError(
                        f"unknown lesson {', '.join(map(repr, unknown))}: expected one of "
                        f"{', '.join(sorted(env_hashes))} (the folders of {solutions_dir}); check the spelling")
            with GradebookWriter(gradebook_path(root)) as writer:
                only = set(lessons) if lessons is not None else None
                todo, report.skipped, report.unknown = plan(root, writer, env_hashes, force, only)
                report.submissions = len(todo) + report.skipped
                report.todo = len(todo)
                if todo and scheduler is not None:
                    _grade_on_cluster(root, writer, todo, env_hashes, limits, timeout, scheduler,
                                      allow_unconfined, report, progress_stream, progress_tty)
                elif todo:
                    if use_zygote:  # preloads while the workers start
                        zygote = Zygote(state_dir / "zygote").launch()
                    # an interrupted run must not leave "done" records for work it undid
                    writer.forget((j.student, j.lesson) for j in todo)
                    n = max(1, min(jobs or default_jobs(), len(todo)))
                    report.workers = n
                    if use_zygote:
                        box = RunSandbox(root, Path(solutions_dir).resolve(), n, limits)
                        report.sandbox, report.problems = box.describe(), list(box.problems)
                    _run(root, writer, todo, n, timeout, zygote, report, progress_stream, progress_tty, box)
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            # a second Ctrl-C must not cut the clean-up short (users reaped, folders removed, zygote gone)
            previous = _ignore_sigint()
            try:
                if zygote:
                    zygote.stop()
                if box is not None:
                    box.close()
            finally:
                _restore_sigint(previous)
    report.seconds = time.monotonic() - start
    report.startup = max(0.0, report.startup - start) if report.startup else 0.0
    return report


class _Interrupts:
    """Ctrl-C raises ``KeyboardInterrupt`` at once, except inside :meth:`deferred` (then right after it)."""

    def __init__(self) -> None:
        self.critical = False
        self.pending = False
        self.previous = None

    def install(self) -> None:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)

    def uninstall(self) -> None:
        _restore_sigint(self.previous)
        self.previous = None

    def _handler(self, _signum, _frame) -> None:
        if self.critical:
            self.pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self):
        self.critical = True
        try:
            yield
        finally:
            self.critical = False
        if self.pending:
            raise KeyboardInterrupt


def _ignore_sigint():
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, signal.SIG_IGN)


def _restore_sigint(previous) -> None:
    import signal

    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def _grade_on_cluster(root: Path, writer: GradebookWriter, todo: list[Job], env_hashes: dict[str, str],
                      limits: sandbox.Limits, timeout: int | None, scheduler: str, allow_unconfined: bool,
                      report: AutogradeReport, stream: TextIO | None, tty: bool | None) -> None:
    """``todo`` graded by the Dask workers of ``scheduler``; this process merges (grader.pipeline.cluster)."""
    from . import cluster

    client = cluster.connect(scheduler)  # before anything changes: an unreachable cluster leaves all as it was
    try:
        bundle = cluster.cluster_bundle(root, env_hashes, limits, timeout, allow_unconfined)
        writer.forget((j.student, j.lesson) for j in todo)
        cluster.run_on_cluster(root, writer, todo, client, bundle, report, stream, tty)
    finally:
        client.close()


def _run(root: Path, writer: GradebookWriter, todo: list[Job], n: int, timeout: int | None,
         zygote: Zygote | None, report: AutogradeReport, stream: TextIO | None, tty: bool | None,
         box: RunSandbox | None = None) -> None:
    state_dir = root / STATE_DIR
    shard_dir, log_dir = state_dir / "shards", state_dir / "logs"
    shard_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in shard_dir.glob("*"):  # shards and staged submissions of an earlier (maybe killed) run
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        else:
            old.unlink()
    main_db = gradebook_path(root)

    env = notebook_env(zygote.kernel_env() if zygote else None)
    pending = deque(todo)
    workers: list[_WorkerProc] = []
    respawns = 0
    retried: set[tuple[str, str]] = set()
    sel = selectors.DefaultSelector()
    progress = Progress(len(todo), stream=stream, tty=tty)
    interrupts = _Interrupts()

    def spawn(index: int) -> _WorkerProc:
        shard = shard_dir / f"worker-{index}.db"
        _copy_db(main_db, shard)
        w = _WorkerProc(index, root, shard, log_dir / f"worker-{index}.log", env,
                        KERNEL_NAME if zygote else None, timeout, box.take(zygote) if box else None)
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        workers.append(w)
        return w

    def feed(w: _WorkerProc) -> None:
        if pending:
            w.send(pending.popleft())
        else:
            w.job = None
            w.finish()

    try:
        interrupts.install()
        for i in range(n):
            spawn(i)
        if zygote:
            zygote.wait_ready()
        busy = n
        while busy:
            for key, _ in sel.select(timeout=0.5):
                w: _WorkerProc = key.data
                line = w.proc.stdout.readline()
                if not line:  # the worker exited
                    sel.unregister(w.proc.stdout)
                    w.proc.wait()
                    busy -= 1
                    if box and w.box:
                        box.give_back(w.box)
                        w.box = None
                    if w.job is not None:
                        reason = f"worker died (exit {w.proc.returncode}); see {w.log}"
                        report.crashed.append((w.job.student, w.job.lesson, reason))
                        progress.advance(f"{w.job.student}/{w.job.lesson}", failed=True)
                        w.job = None
                    elif not w.ready:
                        raise CourseError(f"grading worker {w.index} failed to start; see {w.log}")
                    if pending and respawns < 2 * n:
                        respawns += 1
                        spawn(len(workers))
                        busy += 1
                    continue
                msg = json.loads(line)
                if msg.get("ready"):
                    if not any(x.ready for x in workers):
                        progress.restart()  # the ETA counts grading, not start-up
                        report.startup = time.monotonic()
                    w.ready = True
                    feed(w)
                    continue
                job = w.job
                if msg["status"] != "graded" and (job.student, job.lesson) not in retried:
                    # e.g. a kernel that could not start: once more in this run (and on every later run)
                    retried.add((job.student, job.lesson))
                    pending.append(job)
                    feed(w)
                    continue
                with interrupts.deferred():  # a submission is merged whole, or not at all
                    writer.merge(msg, job.content_hash, job.env_hash)
                    report.graded.append(msg)
                progress.advance(f"{job.student}/{job.lesson}", failed=msg["status"] != "graded")
                feed(w)
            progress.tick()
    except KeyboardInterrupt:
        # Ctrl-C: the notebooks in flight are dropped (never merged, so the next run grades them)
        previous = _ignore_sigint()
        try:
            for w in workers:
                w.kill()
        finally:
            _restore_sigint(previous)
        raise
    finally:
        interrupts.uninstall()
        progress.close()
        for w in workers:
            w.finish()
        for w in workers:
            try:
                w.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.kill()


def format_autograde_report(report) -> str:
    """The end-of-run summary of ``autograde``."""
    graded = len(report.graded)
    lines = [
        f"{report.submissions} submissions: {graded} graded, {report.skipped} up to date, "
        f"{len(report.failures)} could not be graded"
        + (f", {report.todo - graded - len(report.crashed)} not graded (interrupted)" if report.interrupted else "")
    ]
    if graded:
        rate = graded / report.seconds * 60 if report.seconds else 0.0
        lines.append(f"{report.workers} workers, {report.seconds:.1f} s, {rate:.1f} notebooks/min")
    for student, lesson, reason in report.failures:
        lines.append(f"  FAILED {student}/{lesson}: {reason}")
    for folder in report.unknown:
        lines.append(f"  ignored submitted/{folder}: not a lesson of this course")
    noted = [r for r in report.graded if r.get("notes")]
    if noted:
        lines.append(f"{len(noted)} submissions have grader notes (repairs, kernels killed, limits): "
                     f"see `python -m grader report` and notes.csv")
    if report.sandbox:
        lines.append(report.sandbox)
    for problem in report.problems:
        lines.append(f"  WARNING {problem}")
    return "\n".join(lines)
