"""``grader autograde --scheduler ADDRESS``: grade a class on a Dask cluster.

The instructor's machine (the process that calls :func:`run_on_cluster`)
plans the run exactly as a local run does (``grader.pipeline.autograde.plan``)
and stays the single writer of ``gradebook.db``.  Everything else travels as
data:

* **The course, once per worker.**  A :class:`CourseBundle` (the course
  folder's lesson sources with their grade cells and hidden tests,
  ``references.json`` for the stubs, the released lessons, the run's secret
  seed and limits) is registered as a Dask worker plugin, so every worker that
  joins, now or later (a restarted one too), receives it.  Code is not shipped:
  the worker's installed ``grader`` and ``course_lib`` must be the
  instructor's, which each worker checks by recomputing the lessons'
  environment hashes (``grader.pipeline.register.environment_hash``); a worker
  that differs refuses to grade (scores would not be the instructor's).
* **A submission per task.**  Its files go with the task; the task returns the
  worker result of ``grader.pipeline.worker.Worker.grade`` (per-cell scores,
  comments, notes) and the bytes of the graded folder
  (``autograded/<student>/<lesson>/``), which this process writes and merges.

On each Dask worker process a :class:`Station` runs what a local run runs:
a zygote, a :class:`grader.pipeline.autograde.RunSandbox` (grading users,
namespaces, cgroups, hidden paths), and one ``python -m grader.pipeline.worker``
subprocess per worker thread, on a private course folder built from the
bundle.  Grade cells run in that worker's checker, never in a kernel, on every
node as on one machine.

Resumable as a local run: a submission is merged and recorded in one
transaction when its result arrives; a Dask worker that dies takes its
submissions in flight with it and the scheduler runs them again elsewhere
(``distributed.scheduler.allowed-failures`` times); the instructor process
killed at any moment leaves a gradebook the next run completes.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TextIO

from .. import sandbox
from .course import CourseError

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # dask is needed only with --scheduler (connect says so)
    WorkerPlugin = object  # type: ignore[misc,assignment]

#: How long a grading worker may take to start on a node (imports, nbgrader, first shard copy).
WORKER_START_TIMEOUT = 300.0
#: Folder name prefix of a station's private course folder (in the node's temporary folder).
STATION_PREFIX = "bpgrader-dask-"
#: A station with nothing to grade for this long stops (zygote, grading workers and users released).
STATION_IDLE_SECONDS = 15 * 60
#: ``--scheduler auto``: use Dask's own ``scheduler-address`` setting (``DASK_SCHEDULER_ADDRESS``, dask yaml).
AUTO = "auto"


class StationError(RuntimeError):
    """A Dask worker cannot grade (not root, a different grader version, a worker that does not start)."""


@dataclass(frozen=True)
class CourseBundle:
    """What a Dask worker needs to grade this run's submissions, besides the submissions."""

    key: str  # identifies the run's course and settings; one station per key on each worker
    course_tar: bytes  # solutions/<lesson>/ (sources, hidden tests, references.json) and lessons/<lesson>/
    env_hashes: dict[str, str]  # lesson -> environment hash on the instructor's machine
    seed: int  # the run's secret seed of the checks' random inputs (never sent to a kernel)
    limits: sandbox.Limits
    timeout: int | None  # seconds per cell
    trusted: bool = True  # grade cells in the checker (False only for GRADER_CHECKER=off benchmarks)
    allow_unconfined: bool = False  # let workers that are not root grade without the sandbox


def _add_tree(tar: tarfile.TarFile, folder: Path, arcname: str) -> None:
    """Regular files and folders only (nothing of a course folder is a link), sorted: same bytes every time."""
    tar.add(str(folder), arcname=arcname, recursive=False)
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            continue
        if any(part in ("__pycache__", ".ipynb_checkpoints") for part in path.parts):
            continue
        rel = path.relative_to(folder).as_posix()
        info = tar.gettarinfo(str(path), arcname=f"{arcname}/{rel}")
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        if path.is_file():
            with open(path, "rb") as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)


def make_bundle(course_root: Path, env_hashes: dict[str, str], seed: int, limits: sandbox.Limits,
                timeout: int | None, trusted: bool = True, allow_unconfined: bool = False) -> CourseBundle:
    """The bundle of the course folder ``course_root`` (registered: its ``solutions/`` and ``lessons/``)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for lesson in sorted(env_hashes):
            for top in ("solutions", "lessons"):
                folder = course_root / top / lesson
                if not folder.is_dir():
                    raise CourseError(f"{folder} is missing: register the course before grading it on a cluster")
                _add_tree(tar, folder, f"{top}/{lesson}")
    data = buf.getvalue()
    h = hashlib.sha256(data)
    h.update(json.dumps([env_hashes, seed, repr(limits), timeout, trusted, allow_unconfined, os.getpid(),
                         time.time()], sort_keys=True).encode())
    return CourseBundle(h.hexdigest()[:16], data, dict(env_hashes), seed, limits, timeout, trusted,
                        allow_unconfined)


def _unpack(data: bytes, dest: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")


def read_tree(folder: Path) -> dict[str, bytes]:
    """``{relative posix path: bytes}`` of the regular files under ``folder`` (links are skipped)."""
    out: dict[str, bytes] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


def write_tree(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (see :func:`read_tree`) under ``folder``, refusing paths that leave it."""
    for rel, data in files.items():
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise CourseError(f"a result file path must stay inside its folder, got {rel!r}")
        path = folder.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# ------------------------------------------------------------------ worker side


class Station:
    """The grading machinery of one Dask worker process for one bundle (see the module docstring).

    A dedicated thread starts it (and stays alive while it runs: the zygote and
    the grading workers die with the thread that started them, PR_SET_PDEATHSIG);
    one more thread per grading worker feeds its worker from a shared queue.
    """

    def __init__(self, bundle: CourseBundle, nprocs: int = 1):
        self.bundle = bundle
        self.nprocs = max(1, int(nprocs))
        self.host = socket.gethostname()
        self.jobs: queue.Queue = queue.Queue()
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.error: str | None = None
        self.describe = ""
        self.problems: list[str] = []
        self.base: Path | None = None
        self.course: Path | None = None
        self._threads: list[threading.Thread] = []
        self.busy = 0  # submissions queued or being graded
        self.last_used = time.monotonic()
        self._main = threading.Thread(target=self._run, name=f"grader-station-{bundle.key}", daemon=True)
        self._main.start()

    # -- life cycle (all in self._main)
    def _run(self) -> None:
        self._zygote = self._box = None
        self._started: list[threading.Event] = []
        self._start_errors: list[str] = []
        try:
            self._start()
            # the grading workers start while the zygote preloads (as a local run)
            for i in range(self.nprocs):
                started = threading.Event()
                self._started.append(started)
                t = threading.Thread(target=self._serve, args=(i, started), daemon=True,
                                     name=f"grader-station-{self.bundle.key}-{i}")
                self._threads.append(t)
                t.start()
            self._zygote.wait_ready()
            for started in self._started:
                started.wait(WORKER_START_TIMEOUT)
            if self._start_errors:
                raise StationError(self._start_errors[0])
        except Exception as exc:
            self.error = str(exc) if isinstance(exc, (StationError, CourseError)) else f"{type(exc).__name__}: {exc}"
        finally:
            self.ready.set()
        if self.error is None:
            # an instructor process killed mid-run leaves its plugin registered: an idle station stops itself
            while not self.stopping.wait(10.0):
                with _LOCK:
                    if self.busy == 0 and time.monotonic() - self.last_used > STATION_IDLE_SECONDS:
                        self.stopping.set()
        with _LOCK:
            if _STATIONS.get(self.bundle.key) is self:
                del _STATIONS[self.bundle.key]
        for _ in self._threads:
            self.jobs.put(None)
        for t in self._threads:
            t.join(timeout=60)
        try:
            if self._zygote is not None:
                self._zygote.stop()
            if self._box is not None:
                self._box.close()
        finally:
            if self.base is not None:
                shutil.rmtree(self.base, ignore_errors=True)

    def _start(self) -> None:
        from ..sandbox.zygote import Zygote
        from .autograde import RunSandbox
        from .register import environment_hash, register

        bundle = self.bundle
        if not sandbox.is_root() and not bundle.allow_unconfined:
            raise StationError(
                f"the Dask worker on {self.host} runs as uid {os.geteuid()}, not root: it cannot confine "
                "student kernels (grading users, namespaces, cgroups). Start the Dask workers as root, or pass "
                "--allow-unconfined to grade without the sandbox (see grader/SANDBOX.md)")
        remove_stale_stations()
        self.base = Path(tempfile.mkdtemp(prefix=STATION_PREFIX))
        (self.base / "pid").write_text(str(os.getpid()))
        self._zygote = Zygote(self.base / "zygote").launch()  # preloads while the course is set up
        shipped, course = self.base / "shipped", self.base / "course"
        _unpack(bundle.course_tar, shipped)
        lessons = register(course, shipped / "solutions")
        for lesson in lessons:  # the released lessons are the instructor's (intake repairs from them)
            shutil.copytree(shipped / "lessons" / lesson.name, course / "lessons" / lesson.name, dirs_exist_ok=True)
        shutil.rmtree(shipped)  # the hidden tests now live only in the course folder the sandbox hides
        mine = {lesson.name: environment_hash(lesson) for lesson in lessons}
        differ = sorted(name for name, h in bundle.env_hashes.items() if mine.get(name) != h)
        if differ:
            raise StationError(
                f"the Dask worker on {self.host} has a different grader, course_lib, checks or nbgrader "
                f"configuration than the instructor (environment hash of {', '.join(differ)}): install the "
                "instructor's version of the course package on every worker")
        self.course = course
        self._box = RunSandbox(course, (course / "solutions").resolve(), self.nprocs, bundle.limits)
        self._box.seed = bundle.seed  # the instructor's seed: same checks' inputs on every node
        self.describe, self.problems = self._box.describe(), list(self._box.problems)

    def close(self, wait: float = 60.0) -> None:
        """Stop the grading workers and the zygote, give back the grading users, remove the folder."""
        with _LOCK:
            self.stopping.set()
        self._main.join(timeout=wait)

    # -- grading (threads of self._threads)
    def _serve(self, index: int, started: threading.Event) -> None:
        from ..sandbox.zygote import KERNEL_NAME
        from .autograde import STATE_DIR, Job, _copy_db, _WorkerProc
        from .course import notebook_env
        from .register import gradebook_path

        course, zygote, box = self.course, self._zygote, self._box
        env = notebook_env(zygote.kernel_env())
        state = course / STATE_DIR
        (state / "shards").mkdir(parents=True, exist_ok=True)
        (state / "logs").mkdir(parents=True, exist_ok=True)
        spawned = 0
        w: _WorkerProc | None = None

        def start() -> _WorkerProc:
            nonlocal spawned
            name = f"{index}-{spawned}"
            spawned += 1
            shard = state / "shards" / f"worker-{name}.db"
            _copy_db(gradebook_path(course), shard)
            settings = box.take(zygote)
            settings["trusted"] = self.bundle.trusted
            proc = _WorkerProc(index, course, shard, state / "logs" / f"worker-{name}.log", env, KERNEL_NAME,
                               self.bundle.timeout, settings)
            line = _readline(proc, WORKER_START_TIMEOUT)
            if not line or not json.loads(line).get("ready"):
                stop(proc)
                raise StationError(f"a grading worker on {self.host} failed to start; see {self.host}:{proc.log}"
                                   f"{_tail(proc.log)}")
            return proc

        def stop(proc: _WorkerProc) -> None:
            proc.finish()
            try:
                proc.proc.wait(timeout=30)
            except Exception:
                proc.kill()
            if proc.box:
                box.give_back(proc.box)
                proc.box = None

        try:
            try:
                w = start()
            except Exception as exc:
                self._start_errors.append(str(exc) if isinstance(exc, StationError) else f"{type(exc).__name__}: {exc}")
            finally:
                started.set()
            while True:
                item = self.jobs.get()
                if item is None:
                    return
                (student, lesson, files), reply = item
                try:
                    if w is None:
                        w = start()
                    result = self._grade(w, Job(student, lesson, "", ""), files)
                    if result.get("crashed"):
                        stop(w)
                        w = None
                    reply.put((True, result))
                except BaseException as exc:  # handed to the task, which raises it on the worker
                    reply.put((False, exc))
        finally:
            if w is not None:
                stop(w)

    def _grade(self, w, job, files: dict[str, bytes]) -> dict:
        submitted = self.course / "submitted" / job.student / job.lesson
        graded = self.course / "autograded" / job.student / job.lesson
        for folder in (submitted, graded):
            shutil.rmtree(folder, ignore_errors=True)
        submitted.mkdir(parents=True)
        write_tree(submitted, files)
        try:
            w.send(job)
            line = _readline(w, None)
            if not line:
                w.proc.wait()
                return {"student": job.student, "lesson": job.lesson, "node": self.host,
                        "crashed": f"grading worker died (exit {w.proc.returncode}) on {self.host}; "
                                   f"see {self.host}:{w.log}"}
            result = json.loads(line)
            result["files"] = read_tree(graded)
            result["node"] = self.host
            return result
        finally:
            w.job = None
            for folder in (submitted, graded):
                shutil.rmtree(folder, ignore_errors=True)

    def grade(self, student: str, lesson: str, files: dict[str, bytes]) -> dict:
        """Grade one submission (its files) and return the worker result with ``files`` of the graded folder."""
        if not self.ready.wait(WORKER_START_TIMEOUT):
            raise StationError(f"the grader on {self.host} did not start within {WORKER_START_TIMEOUT:.0f} s")
        if self.error:
            raise StationError(self.error)
        reply: queue.Queue = queue.Queue()
        with _LOCK:
            if self.stopping.is_set():
                raise StationError(f"the grader on {self.host} was stopped (idle or unregistered)")
            self.busy += 1
        try:
            self.jobs.put(((student, lesson, files), reply))
            ok, value = reply.get()
        finally:
            with _LOCK:
                self.busy -= 1
                self.last_used = time.monotonic()
        if not ok:
            raise value
        return value


def remove_stale_stations(parent: str | None = None) -> list[Path]:
    """Remove the station folders of Dask worker processes that died (say, ``kill -9``) on this node."""
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{STATION_PREFIX}*"):
        try:
            pid = int((folder / "pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
            continue  # alive (or a reused pid: then the folder stays, harmlessly)
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _readline(w, timeout: float | None) -> str:
    """The grading worker's next stdout line ('' when it exited or did not answer in ``timeout`` seconds)."""
    import selectors

    if timeout is not None:
        sel = selectors.DefaultSelector()
        sel.register(w.proc.stdout, selectors.EVENT_READ)
        try:
            if not sel.select(timeout):
                w.kill()
                return ""
        finally:
            sel.close()
    return w.proc.stdout.readline()


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = [ln for ln in Path(log).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return (": " + " | ".join(text[-lines:])) if text else ""


_BUNDLES: dict[str, CourseBundle] = {}
_STATIONS: dict[str, Station] = {}
_LOCK = threading.Lock()


def _station(key: str) -> Station:
    """This worker process's station for bundle ``key`` (started on first use)."""
    with _LOCK:
        station = _STATIONS.get(key)
        if station is not None and station.stopping.is_set():  # stopped when idle: start afresh
            station = None
        if station is None:
            bundle = _BUNDLES.get(key)
            if bundle is None:
                raise StationError(f"the course of this run (bundle {key}) never reached the Dask worker on "
                                   f"{socket.gethostname()} (plugin not registered?)")
            from distributed import get_worker

            station = _STATIONS[key] = Station(bundle, get_worker().state.nthreads)
    return station


def warm_up(key: str) -> dict:
    """Task: start this worker's station and say how it grades."""
    station = _station(key)
    station.ready.wait(WORKER_START_TIMEOUT)
    if station.error:
        raise StationError(station.error)
    return {"host": station.host, "procs": station.nprocs, "sandbox": station.describe,
            "problems": station.problems}


def grade_task(key: str, student: str, lesson: str, files: dict[str, bytes]) -> dict:
    """Task: grade one submission on this worker (see :meth:`Station.grade`)."""
    return _station(key).grade(student, lesson, files)


class CoursePlugin(WorkerPlugin):
    """Carries a :class:`CourseBundle` to every worker, now and later; stops its station when unregistered."""

    def __init__(self, bundle: CourseBundle):
        self.bundle = bundle
        self.name = f"grader-course-{bundle.key}"

    def setup(self, worker) -> None:
        _BUNDLES[self.bundle.key] = self.bundle

    def teardown(self, worker) -> None:
        _BUNDLES.pop(self.bundle.key, None)
        with _LOCK:
            station = _STATIONS.pop(self.bundle.key, None)
        if station is not None:
            station.close()


# ------------------------------------------------------------------ instructor side


def connect(address: str, wait_for_workers: float = 600.0):
    """A ``distributed.Client`` of the scheduler at ``address`` (a URL, a scheduler file, or ``auto``).

    Raises ``CourseError`` with one line when dask is missing or the scheduler cannot be reached.
    """
    try:
        import dask
        from distributed import Client
    except ImportError:
        raise CourseError("--scheduler needs dask[distributed] (pip install -r requirements.txt)") from None
    kwargs: dict = {}
    if address == AUTO:
        configured = dask.config.get("scheduler-address", None)
        if not configured:
            raise CourseError("--scheduler auto: Dask's configuration has no scheduler-address "
                              "(set DASK_SCHEDULER_ADDRESS or scheduler-address in ~/.config/dask/)")
        address = configured
    if address.endswith(".json") and Path(address).is_file():
        kwargs["scheduler_file"] = address
    else:
        kwargs["address"] = address
    timeout = dask.config.get("distributed.comm.timeouts.connect", "30s")
    try:
        client = Client(timeout=timeout, set_as_default=False, **kwargs)
    except (OSError, TimeoutError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CourseError(f"cannot reach the Dask scheduler at {address}: {first}") from None
    try:
        client.wait_for_workers(1, timeout=wait_for_workers)
    except (OSError, TimeoutError):
        client.close()
        raise CourseError(f"the Dask scheduler at {address} has no worker (waited {wait_for_workers:.0f} s)") from None
    return client


def run_on_cluster(root: Path, writer, todo: list, client, bundle: CourseBundle, report,
                   stream: TextIO | None, tty: bool | None) -> None:
    """Grade ``todo`` (``autograde.Job``) on the cluster of ``client``; merge each result as it arrives."""
    from distributed import as_completed
    from distributed.core import CommClosedError

    from .progress import Progress

    plugin = CoursePlugin(bundle)
    client.register_plugin(plugin, name=plugin.name)
    progress = Progress(len(todo), stream=stream, tty=tty)
    futures: dict = {}
    try:
        # every current worker starts its station (and says so when it cannot grade) before the clock runs
        workers = list(client.scheduler_info(n_workers=-1)["workers"])
        warm = [client.submit(warm_up, bundle.key, workers=[addr], allow_other_workers=True, pure=False,
                              key=f"grader-warm-{bundle.key}-{i}") for i, addr in enumerate(workers)]
        problems, sandboxes, procs = [], set(), 0
        for fut, addr in zip(warm, workers):
            try:
                info = fut.result()
            except StationError as exc:
                raise CourseError(f"Dask worker {addr}: {exc}") from None
            except Exception as exc:
                raise CourseError(f"Dask worker {addr} could not start grading: {_why(exc)}") from None
            procs += info["procs"]
            sandboxes.add(f"Dask worker {addr} on {info['host']}: {info['sandbox']}")
            problems += [f"{info['host']}: {p}" for p in info["problems"]]
        report.workers = procs
        report.sandbox = "\n".join(sorted(sandboxes))  # one line per worker
        report.problems = sorted(set(problems))
        progress.restart()  # the ETA counts grading, not start-up
        report.startup = time.monotonic()

        jobs = {}
        retried: set[tuple[str, str]] = set()

        def submit(job, attempt: int = 0) -> None:
            files = read_tree(root / "submitted" / job.student / job.lesson)
            fut = client.submit(grade_task, bundle.key, job.student, job.lesson, files, pure=False,
                                key=f"grade-{bundle.key}-{job.student}-{job.lesson}-{attempt}")
            jobs[fut.key] = job
            futures[fut.key] = fut
            pending.add(fut)

        pending = as_completed(loop=client.loop)
        for job in todo:
            submit(job)
        while not pending.is_empty():
            batch = pending.next_batch(block=False)
            if not batch:
                time.sleep(0.2)
                progress.tick()
                continue
            for fut in batch:
                job = jobs.pop(fut.key)
                futures.pop(fut.key, None)
                item = f"{job.student}/{job.lesson}"
                if fut.status != "finished":
                    try:
                        exc = fut.exception()
                    except Exception as cancelled:  # a cancelled future has no exception to give
                        exc = cancelled
                    reason = _why(exc)
                    report.crashed.append((job.student, job.lesson, reason))
                    progress.advance(item, failed=True)
                    continue
                result = fut.result()
                fut.release()
                if result.get("crashed"):
                    report.crashed.append((job.student, job.lesson, result["crashed"]))
                    progress.advance(item, failed=True)
                    continue
                if result["status"] != "graded" and (job.student, job.lesson) not in retried:
                    retried.add((job.student, job.lesson))  # as a local run: once more in this run
                    submit(job, attempt=1)
                    continue
                files = result.pop("files", {})
                result.pop("node", None)
                _install_graded(root, job.student, job.lesson, files)
                writer.merge(result, job.content_hash, job.env_hash)
                report.graded.append(result)
                progress.advance(item, failed=result["status"] != "graded")
    except CommClosedError as exc:
        raise CourseError(f"lost the connection to the Dask scheduler: {exc}") from None
    finally:
        progress.close()
        for fut in futures.values():
            fut.cancel()
        try:
            client.unregister_worker_plugin(plugin.name)
        except Exception:
            pass


def _why(exc: BaseException | None) -> str:
    """One line for a task that failed on the cluster."""
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:  # pragma: no cover
        KilledWorker = ()  # noqa: N806
    if isinstance(exc, KilledWorker):
        return "every Dask worker that took it died (distributed.scheduler.allowed-failures); retried next run"
    text = " ".join(str(exc).split())[:400] if exc is not None else "cancelled"
    return f"{type(exc).__name__}: {text}" if exc is not None else text


def _install_graded(root: Path, student: str, lesson: str, files: dict[str, bytes]) -> None:
    """Put a result's graded folder at ``autograded/<student>/<lesson>/`` (replacing an older one)."""
    dest = root / "autograded" / student / lesson
    incoming = dest.parent / f".{lesson}.incoming"
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir(parents=True)
    write_tree(incoming, files)
    if dest.exists():
        shutil.rmtree(dest)
    incoming.rename(dest)


def cluster_bundle(root: Path, env_hashes: dict[str, str], limits: sandbox.Limits, timeout: int | None,
                   allow_unconfined: bool) -> CourseBundle:
    """The bundle of a run: the course folder, a secret seed (``GRADER_SEED`` to reproduce) and the limits."""
    seed = int(os.environ.get("GRADER_SEED") or int.from_bytes(os.urandom(8), "little") >> 1)
    if timeout is not None:
        limits = replace(limits, cell_timeout=float(timeout))
    return make_bundle(root, env_hashes, seed, limits, timeout,
                       trusted=os.environ.get("GRADER_CHECKER") != "off", allow_unconfined=allow_unconfined)
