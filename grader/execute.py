"""nbgrader's ``Execute`` preprocessor, confined: a sandboxed kernel, a whole-notebook limit, survival of a dead kernel.

What it adds to ``nbgrader.preprocessors.Execute`` (configured in
``grader.worker``):

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

Everything that happened goes to ``grader.notes.current``.
"""
from __future__ import annotations

import os
import signal
import threading
import time

from nbclient.exceptions import DeadKernelError
from nbclient.client import NotebookClient
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Dict, Float, Integer, Unicode

from . import notes, sandbox

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shutdown_kernel = "immediate"  # the notebook is done: no graceful wait per kernel

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
        path = (resources or {}).get("metadata", {}).get("path") or os.getcwd()
        uid = self.sandbox_uid if sandbox.is_root() else None
        wd = None
        kwargs: dict = {}
        if self.workdir_base:
            wd = sandbox.make_workdir(self.workdir_base, path, uid, self.sandbox_gid if uid is not None else None)
            limits = sandbox.Limits.from_env(self.limits_env) if self.limits_env else sandbox.Limits()
            env = dict(os.environ)
            env.update(sandbox.KernelSandbox(limits, str(wd), uid, self.sandbox_gid).to_env())
            kwargs = {"env": env, "cwd": str(wd)}
        timer = None
        died_at = None
        try:
            with self.setup_kernel(**kwargs):
                assert self.kc
                info_msg = self.wait_for_reply(self.kc.kernel_info())
                if info_msg:
                    self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
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
            self._finish(uid, wd)
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

    def _finish(self, uid: int | None, wd) -> None:
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
        if wd is not None:
            sandbox.cleanup_workdir(wd)
