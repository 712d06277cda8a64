"""nbgrader's ``Execute`` preprocessor, confined: a sandboxed kernel, a whole-notebook limit, survival of a dead kernel.

What it adds to ``nbgrader.preprocessors.Execute`` (configured in
``grader.pipeline.worker``):

* **A throwaway working directory** (``workdir_base`` set): the files of the
  autograded folder are copied into ``<base>/nb-XXXXXXXX`` (0700, owned by the
  grading user), the kernel starts there, and the folder is deleted afterwards.
  The kernel's environment carries the sandbox settings
  (``grader.sandbox.KernelSandbox.to_env``); the zygote applies them in the
  forked kernel before any student code runs (uid, rlimits, fds, umask).
* **A whole-notebook time limit** (``notebook_timeout`` seconds, counted from
  the first cell): when it passes, the kernel and everything it started are
  killed.
* **A dead kernel costs only the cells that did not run.**  nbclient raises
  ``DeadKernelError`` and nbgrader then fails the whole notebook; here the
  cell that was running gets an error output saying why (exit status, signal,
  time limit) and every later code cell an error output "not run", so grade
  cells before it keep their points and those after it score 0.
* **Output flood control**: each cell's outputs are admitted through
  ``grader.sandbox.OutputBudget`` as they arrive, so ten million printed
  lines never sit in the worker's memory or the graded notebook.
* **Nothing survives the notebook**: after the kernel is shut down, every
  process of the grading uid is killed (``sandbox.reap``) and its files in
  ``/tmp`` are removed, before the notebook's results are used.

* **Grade cells never run in the kernel** (``grade_sources`` set): the
  instructor's source of each grade cell runs in this (trusted) process
  through :func:`grader.sandbox.checker.run_grade_source`, reaching the student's code
  only through :mod:`grader.protocol` requests, sent as frames on the
  notebook's unix socket (:mod:`grader.sandbox.channel`: one
  ``execute_request`` per grade cell starts the preloaded agent's serve loop),
  or, when the kernel does not open it, each as an ``execute_request`` whose
  ``user_expressions`` call the agent; the cell's outputs, and so its points,
  are written here.
* **Every kernel alone** (``isolation`` set): jupyter's ``ipc`` transport
  (unix sockets in the 0700 workdir, no TCP port), and the zygote puts the
  kernel in its own network and mount namespaces and cgroup
  (:mod:`grader.sandbox.isolation`), removed with everything in it afterwards.

Everything that happened goes to ``grader.pipeline.notes.current``.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from queue import Empty

from jupyter_core.utils import run_sync
from nbclient.client import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Dict, Float, Integer, Unicode

from .. import sandbox
from ..checks.student import Student
from ..pipeline import notes
from ..protocol import Peer, StudentError
from . import isolation
from .channel import Channel, ChannelBroken, ChannelUnavailable
from .checker import run_grade_source

#: The expression a grading kernel evaluates for one protocol request (the agent is preloaded by the zygote).
_AGENT_CALL = "__import__('grader.protocol', fromlist=['respond']).respond({!r})"


class KernelGone(StudentError):
    """The kernel died, or stopped answering, while a check was talking to it."""

    def __init__(self, message: str):
        super().__init__("KernelDied", message)

#: ``ename`` of the error output of the cell in which the kernel died.
KERNEL_DIED = "KernelDied"
#: ``ename`` of the error output of a cell after it.
NOT_RUN = "NotRun"


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "it stopped"
    if code >= 128 and code - 128 < 65:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        hint = {"SIGKILL": " (killed: out of memory, a limit, or os.kill)", "SIGSEGV": " (segmentation fault)",
                "SIGXCPU": " (CPU time limit)", "SIGABRT": " (aborted)"}.get(name, "")
        return f"it was killed by {name}{hint}"
    if code < 0:
        return _describe_exit(128 - code)
    return f"it exited with status {code} (os._exit or a crash)"


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


class _IOPubWatch(logging.Filter):
    """Notices nbclient's "Timeout waiting for IOPub output" (the IOPub connection was dropped)."""

    def __init__(self):
        super().__init__()
        self.lost = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "Timeout waiting for IOPub output" in str(record.msg):
            self.lost = True
        return True


class GuardedExecute(Execute):
    """``Execute`` with a sandboxed kernel, a notebook time limit and dead-kernel recovery."""

    notebook_timeout = Float(None, allow_none=True, help="Seconds for the whole notebook (None: no limit).").tag(
        config=True)
    workdir_base = Unicode("", help="Folder for per-notebook working directories ('' : run in place).").tag(
        config=True)
    sandbox_uid = Integer(None, allow_none=True, help="Grading uid the kernel runs as (root grader only).").tag(
        config=True)
    sandbox_gid = Integer(None, allow_none=True).tag(config=True)
    limits_env = Dict({}, help="GRADER_LIMIT_* settings for the kernel (grader.sandbox.Limits.to_env).").tag(
        config=True)
    max_output_bytes = Integer(100_000, help="Output bytes kept per cell.").tag(config=True)
    max_output_lines = Integer(2_000, help="Output lines kept per cell.").tag(config=True)
    zygote_pid = Integer(0, help="pid of the zygote that forks kernels (tells the kernel from what it started)").tag(
        config=True)
    grade_sources = Dict({}, help="grade_id -> the instructor's source of that grade cell: run by the checker, "
                                  "never sent to the kernel ({}: grade cells run in the kernel, plain nbgrader)").tag(
        config=True)
    grading_seed = Integer(None, allow_none=True, help="the run's secret seed for the checks' inputs").tag(config=True)
    isolation = Dict({}, help="grader.sandbox.isolation settings for the kernel ({}: none)").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shutdown_kernel = "immediate"  # the notebook is done: no graceful wait per kernel

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        prefix = getattr(self, "_ipc_prefix", None)
        if prefix:
            km.transport = "ipc"  # unix sockets in the kernel's 0700 workdir: no port another kernel can reach
            km.ip = prefix
        return km

    # ------------------------------------------------------------------ the checker
    async def _async_roundtrip(self, packed: str, deadline: float) -> str:
        kc = self.kc
        msg_id = kc.execute("", silent=True, store_history=False, allow_stdin=False,
                            user_expressions={"r": _AGENT_CALL.format(packed)})
        interrupted = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if interrupted:
                    self._checker_broken = "the kernel did not answer after it was interrupted"
                    raise KernelGone(self._checker_broken)
                interrupted = True
                deadline = time.monotonic() + 5.0
                await self.km.interrupt_kernel()
                continue
            try:
                msg = await kc.shell_channel.get_msg(timeout=min(left, 1.0))
            except Empty:
                if not await self.km.is_alive():
                    self._checker_broken = "the kernel died while a check was running"
                    raise KernelGone(self._checker_broken) from None
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            break
        content = msg.get("content", {})
        if interrupted:
            raise StudentError("TimeoutError", f"the call took longer than the cell's time limit of {self.timeout} s "
                                               f"and was interrupted")
        if content.get("status") != "ok":
            raise StudentError(str(content.get("ename", "Error")), str(content.get("evalue", "")))
        result = (content.get("user_expressions") or {}).get("r") or {}
        if result.get("status") != "ok":
            raise StudentError(str(result.get("ename", "Error")), str(result.get("evalue", ""))[:2000])
        text = (result.get("data") or {}).get("text/plain", "")
        if not (isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""):
            raise StudentError("ProtocolError", "the kernel's agent did not answer with protocol text")
        return text[1:-1]

    def _send(self, packed: str) -> str:
        if self._checker_broken:
            raise KernelGone(self._checker_broken)
        if self._channel is not None:
            try:
                return self._channel.send(packed, self._cell_deadline, f"the cell's time limit of {self.timeout} s")
            except ChannelUnavailable as exc:
                notes.current.add("checker-channel", f"{exc}; the checks used one execute request per call instead")
                self._channel.close()
                self._channel = None
            except ChannelBroken as exc:
                self._checker_broken = exc.message
                raise KernelGone(exc.message) from None
        return run_sync(self._async_roundtrip)(packed, self._cell_deadline)

    async def _async_reply_for(self, msg_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=max(deadline - time.monotonic(), 0.0))
            except Empty:
                return False
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return True

    def _open_channel(self, folder, uid: int | None, gid: int | None) -> Channel | None:
        """The socket the checks talk over (None: one execute request per call, e.g. without a workdir)."""
        if folder is None or not self.grade_sources:
            return None
        return Channel(folder, uid, gid,
                       execute=lambda code: self.kc.execute(code, silent=True, store_history=False, allow_stdin=False),
                       reply_for=lambda msg_id, timeout: run_sync(self._async_reply_for)(msg_id, timeout),
                       alive=lambda: run_sync(self.km.is_alive)(),
                       interrupt=lambda: run_sync(self.km.interrupt_kernel)())

    def _run_checker(self, cell, index: int) -> None:
        meta = cell.metadata.get("nbgrader", {})
        source = self.grade_sources.get(meta.get("grade_id"))
        self._cell_deadline = time.monotonic() + (self.timeout or 60)
        if source is None:
            cell.outputs = [_error("UnknownGradeCell", f"grade cell {meta.get('grade_id')!r} is not in the lesson")]
            return
        who = Student(Peer(self._send), where="sandbox")
        try:
            outputs, _ = run_grade_source(source, who, self.grading_seed)
        finally:
            if self._channel is not None:
                self._channel.close_session()
        cell.outputs = outputs
        cell.execution_count = None
        if self._checker_broken:
            raise DeadKernelError(self._checker_broken)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {}) if cell.cell_type == "code" else {}
        if self.grade_sources and meta.get("grade") and not meta.get("solution"):
            self._check_assign_resources(resources)
            self._run_checker(cell, index)
            return cell, self.resources
        result = super().preprocess_cell(cell, resources, index)
        if self._iopub_watch.lost and self.grade_sources:
            self._iopub_watch.lost = False
            run_sync(self._async_reconnect_iopub)()
        return result

    async def _async_reconnect_iopub(self) -> None:
        """A new IOPub connection after the old one was dropped (a message over the size limit drops it for good).

        Without it every later cell would wait out ``iopub_timeout`` for an idle status that never comes, and a
        notebook whose student once displayed 100 MB would run into its time limit.  The new subscription is
        confirmed by a kernel_info request's status messages before the next cell runs.
        """
        old = self.kc._iopub_channel
        self.kc._iopub_channel = None
        if old is not None:
            old.stop()
        self.kc.iopub_channel.start()
        for _ in range(20):
            msg_id = self.kc.kernel_info()
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                try:
                    msg = await self.kc.iopub_channel.get_msg(timeout=max(deadline - time.monotonic(), 0.01))
                except Empty:
                    break
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    await self._async_reply_for(msg_id, 2.0)
                    return
            await self._async_reply_for(msg_id, 0.5)
        notes.current.add("output-truncated", "the kernel's output channel could not be reconnected after an "
                                              "oversized message: later cells' outputs may be missing")

    # ------------------------------------------------------------------ outputs
    def output(self, outs, msg, display_id, cell_index):
        before = len(outs)
        out = super().output(outs, msg, display_id, cell_index)
        if out is None or len(outs) != before + 1 or outs[-1] is not out:
            return out
        budget = self._budgets.get(cell_index)
        if budget is None:
            budget = self._budgets[cell_index] = sandbox.OutputBudget(self.max_output_bytes, self.max_output_lines)
        kept = budget.admit(out)
        if kept is None:
            outs.pop()
        elif kept is not out:
            outs[-1] = kept
        return kept

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        reply = kwargs.get("execute_reply") or {}
        content = reply.get("content", {})
        if content.get("status") == "error" and content.get("ename") == "CellTimeoutError":
            notes.current.add("cell-timeout", f"cell {kwargs.get('cell_index', '?')} was interrupted after "
                                              f"{self.timeout} s (the per-cell limit); the next cells still ran")

    # ------------------------------------------------------------------ running
    def _kill_now(self) -> None:
        """Kill the kernel (and, as root, everything of its uid) from any thread."""
        proc = getattr(getattr(getattr(self, "km", None), "provisioner", None), "process", None)
        if proc is not None:
            try:
                os.kill(proc.pid, signal.SIGKILL)  # the launcher; the zygote then kills the kernel's group
            except (ProcessLookupError, PermissionError):
                pass
        if self.sandbox_uid is not None and sandbox.is_root():
            sandbox.reap(self.sandbox_uid, self.sandbox_gid, timeout=5.0)

    def _expire(self) -> None:
        self._expired = True
        self._kill_now()

    def _exit_code(self) -> int | None:
        proc = getattr(getattr(getattr(self, "km", None), "provisioner", None), "process", None)
        if proc is None:
            return None
        for _ in range(50):
            code = proc.poll()
            if code is not None:
                return code
            time.sleep(0.02)
        return None

    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._budgets: dict[int, sandbox.OutputBudget] = {}
        self._expired = False
        self._started: set[int] = set()
        self._checker_broken = None
        self._iopub_watch = _IOPubWatch()
        self.log.addFilter(self._iopub_watch)
        self._channel: Channel | None = None
        self._cell_deadline = 0.0
        # a message over the worker's size limit (grader.sandbox.kernelclient) is dropped with its IOPub connection, so
        # the cell's idle status never arrives: with grade cells in the checker that costs only a scratch cell's
        # outputs, not the notebook (in plain nbgrader mode a lost grade-cell error must still fail it)
        self.raise_on_iopub_timeout = not self.grade_sources
        self._ipc_prefix = None
        cgroup = None
        path = (resources or {}).get("metadata", {}).get("path") or os.getcwd()
        uid = self.sandbox_uid if sandbox.is_root() else None
        wd = None
        kwargs: dict = {}
        if self.workdir_base:
            wd = sandbox.make_workdir(self.workdir_base, path, uid, self.sandbox_gid if uid is not None else None)
            limits = sandbox.Limits.from_env(self.limits_env) if self.limits_env else sandbox.Limits()
            env = dict(os.environ)
            env.pop("GRADER_SEED", None)  # the run's seed never reaches a kernel
            env.update(sandbox.KernelSandbox(limits, str(wd), uid, self.sandbox_gid).to_env())
            if self.isolation and uid is not None:
                cgroup = os.path.basename(str(wd))
                settings = dict(self.isolation, workdir=str(wd), cgroup=cgroup,
                                memory=limits.memory, pids=limits.max_processes)
                env["GRADER_KERNEL_ISOLATION"] = json.dumps(settings)  # (GRADER_ISOLATION is the user's switch)
                self._ipc_prefix = os.path.join(str(wd), ".kernel-ipc")
            kwargs = {"env": env, "cwd": str(wd)}
        timer = None
        died_at = None
        try:
            with self.setup_kernel(**kwargs):
                assert self.kc
                info_msg = self.wait_for_reply(self.kc.kernel_info())
                if info_msg:
                    self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
                self._channel = self._open_channel(wd, uid, self.sandbox_gid if uid is not None else None)
                if self.notebook_timeout:
                    timer = threading.Timer(self.notebook_timeout, self._expire)
                    timer.daemon = True
                    timer.start()
                for index, cell in enumerate(self.nb.cells):
                    if died_at is not None:
                        if cell.cell_type == "code":
                            cell.outputs = [_error(NOT_RUN, f"not run: the kernel stopped in cell {died_at}")]
                            cell.execution_count = None
                        continue
                    try:
                        self.preprocess_cell(cell, resources, index)
                    except DeadKernelError:
                        died_at = index
                        if self._expired:
                            why = (f"the whole-notebook time limit of {self.notebook_timeout:g} s was reached "
                                   f"while this cell ran")
                            notes.current.add("notebook-timeout", f"{why} (cell {index}); the kernel was stopped "
                                                                  f"and the cells after it scored 0")
                        else:
                            why = f"the kernel died while running this cell: {_describe_exit(self._exit_code())}"
                            notes.current.add("kernel-died", f"{why} (cell {index}); the cells after it did not run "
                                                             f"and scored 0")
                        cell.outputs = list(cell.get("outputs", [])) + [_error(KERNEL_DIED, why)]
                    if self._expired and died_at is None:
                        died_at = index  # the limit passed between cells
                        notes.current.add("notebook-timeout", f"the whole-notebook time limit of "
                                                              f"{self.notebook_timeout:g} s was reached after cell "
                                                              f"{index}; the cells after it scored 0")
                self.set_widgets_metadata()
                self._started = self._started_processes(uid)
        finally:
            if timer is not None:
                timer.cancel()
            self.log.removeFilter(self._iopub_watch)
            if self._channel is not None:
                self._channel.close()
                self._channel = None
            self._finish(uid, wd, cgroup)
        for index, budget in sorted(self._budgets.items()):
            if budget.truncated:
                notes.current.add("output-truncated", f"cell {index} printed more than {self.max_output_lines} "
                                                      f"lines or {self.max_output_bytes // 1000} kB: "
                                                      f"{budget.dropped_lines} more lines were not kept")
        return self.nb, self.resources

    def _started_processes(self, uid: int | None) -> set[int]:
        """Processes of the grading uid, other than the kernel, alive when the last cell has run."""
        if uid is None or not self.zygote_pid:
            return set()
        return {p.pid for p in sandbox.processes() if uid in p.uids[:3] and p.ppid != self.zygote_pid
                and p.state not in ("Z", "X")}

    def _finish(self, uid: int | None, wd, cgroup: str | None = None) -> None:
        """After the kernel: kill what it left behind, clean its temp files and workdir."""
        if uid is not None:
            # the kernel (and its process group) die a moment after its launcher was killed: wait for that
            deadline = time.monotonic() + 1.5
            left = sandbox.pids_of_uid(uid)
            while left and time.monotonic() < deadline:
                time.sleep(0.02)
                left = sandbox.pids_of_uid(uid)
            started = self._started | set(left)
            if left:
                result = sandbox.reap(uid, self.sandbox_gid)
                if result.survivors:
                    notes.current.add("processes-killed", f"{len(result.survivors)} processes of the notebook "
                                                          f"could not be killed: {result.survivors}")
            if started:
                escaped = f" ({len(left)} had left the kernel's process group)" if left else ""
                notes.current.add("processes-killed", f"{len(started)} processes the notebook started were still "
                                                      f"running when it ended{escaped}: all killed")
            # zombies count against the uid's process limit: the next notebook needs them reaped
            # (the zygote, a subreaper, does that), so wait until not even a zombie is left
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline and any(uid in p.uids[:3] for p in sandbox.processes()):
                time.sleep(0.02)
            sandbox.purge_tmp(uid)
        if cgroup:
            isolation.remove_cgroup(cgroup)  # whatever is left in the kernel's group, then the group itself
        if wd is not None:
            sandbox.cleanup_workdir(wd)
