"""Containment for grading kernels (issue 6): limits, a dedicated uid, reaping, workdirs.

Student code runs in the same kernel as the checks.  This module does not try
to make that kernel trustworthy; it bounds what the kernel *process* can do to
the machine and to everything outside its own throwaway directory:

* :class:`Limits`: rlimits (address space, CPU seconds, processes, file size,
  open files, no core dumps) plus the per-cell and whole-notebook wall-clock
  limits that the *caller* enforces.  Loadable from ``GRADER_LIMIT_*``
  environment variables and CLI strings such as ``"4G"`` or ``"10m"``.
* :func:`prepare_child`: called in the forked child before it becomes a
  kernel: new session, rlimits, closed inherited fds, umask 077, no
  supplementary groups, setgid/setuid to an unprivileged grading uid (when
  running as root), ``PR_SET_NO_NEW_PRIVS``, ``HOME``/``TMPDIR`` in the workdir.
* :func:`ensure_grading_users`: ``bpgrade0 .. bpgrade{n-1}``, one uid per
  worker, so ``RLIMIT_NPROC`` and "kill everything this uid owns" are per
  worker.
* :func:`reap` (by uid), :func:`reap_session`, :func:`reap_descendants`: kill
  every process a kernel left behind, including double-forked, ``setsid``'d
  and SIGTERM-ignoring ones, before the next notebook's results are read.
* :func:`make_workdir` / :func:`cleanup_workdir`: a 0700 per-notebook folder
  owned by the grading uid, holding copies of that student's files only.
* :func:`protect_paths` / :func:`check_readonly`: hide the gradebook, the
  source notebooks and ``solutions/`` from grading users; check that
  ``course_lib``, ``grader`` and the virtualenv are readable but not writable.
* :func:`truncate_outputs` / :class:`OutputBudget`: cap the output a cell
  keeps, without changing the grade nbgrader derives from the outputs.

Guarantees and limits are written down in ``grader/SANDBOX.md``.  Linux only.
"""
from __future__ import annotations

import copy
import os
import pickle
import pwd
import re
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

#: Default prefix of the grading accounts (``bpgrade0``, ``bpgrade1``, ...).
USER_PREFIX = "bpgrade"
#: Prefix of the environment variables read by :meth:`Limits.from_env`.
LIMIT_ENV_PREFIX = "GRADER_LIMIT_"
#: Environment variables of :class:`KernelSandbox` (worker -> zygote child).
SANDBOX_ENV = ("GRADER_SANDBOX_WORKDIR", "GRADER_SANDBOX_UID", "GRADER_SANDBOX_GID")
#: Start of the line that replaces output a cell was not allowed to keep.
TRUNCATION_MARKER = "[output truncated by the grader:"

# prctl(2) options (linux/prctl.h)
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

# Resolved once at import, never after fork: dlopen/dlsym take loader locks
# that another thread of the parent may have held when it forked.
try:
    import ctypes

    _libc = ctypes.CDLL(None, use_errno=True)
    _prctl_fn = _libc.prctl
    _prctl_fn.restype = ctypes.c_int
    _prctl_fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    _get_errno = ctypes.get_errno
except Exception:  # pragma: no cover - no ctypes / not glibc
    _prctl_fn = None
    _get_errno = None


class SandboxError(RuntimeError):
    """The sandbox could not be set up as asked.  Callers must fail closed."""


def _prctl(option: int, arg: int = 0) -> None:
    if _prctl_fn is None:
        raise SandboxError(f"prctl({option}) is not available (no ctypes/libc)")
    if _prctl_fn(option, arg, 0, 0, 0) != 0:
        err = _get_errno() if _get_errno else 0
        raise SandboxError(f"prctl({option}, {arg}) failed: {os.strerror(err)}")


def is_root() -> bool:
    """True when this process may switch users (effective uid 0)."""
    return os.geteuid() == 0


# ------------------------------------------------------------------ limits

_UNLIMITED = {"", "none", "unlimited", "inf", "infinity", "off", "no"}
_SIZE_RE = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.I)
_TIME_RE = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*(s|sec|m|min|h)?\s*$", re.I)


def parse_size(text: str | int | None) -> int | None:
    """``"4G"``, ``"512M"``, ``"1.5GiB"``, ``"1048576"`` -> bytes (binary units); ``"unlimited"`` -> None."""
    if text is None or isinstance(text, int):
        return text
    if str(text).strip().lower() in _UNLIMITED:
        return None
    m = _SIZE_RE.match(str(text))
    if not m:
        raise ValueError(f"not a size: {text!r} (expected e.g. 4G, 512M, 100k, 1048576 or 'unlimited')")
    unit = {"": 1, "k": KiB, "m": MiB, "g": GiB, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1).replace("_", "")) * unit)


def parse_seconds(text: str | float | int | None) -> float | None:
    """``"90"``, ``"90s"``, ``"1.5m"``, ``"2h"`` -> seconds; ``"unlimited"`` -> None."""
    if text is None or isinstance(text, (int, float)):
        return text
    if str(text).strip().lower() in _UNLIMITED:
        return None
    m = _TIME_RE.match(str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30, 30s, 5m, 1h or 'unlimited')")
    unit = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[(m.group(2) or "").lower() or None]
    return float(m.group(1).replace("_", "")) * unit


def parse_count(text: str | int | None) -> int | None:
    """``"128"`` -> 128; ``"unlimited"`` -> None."""
    if text is None or isinstance(text, int):
        return text
    if str(text).strip().lower() in _UNLIMITED:
        return None
    return int(str(text).strip().replace("_", ""))


def _parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one grading kernel.  ``None`` means "leave as inherited".

    The rlimits are applied by :func:`prepare_child`; ``cell_timeout`` and
    ``notebook_timeout`` are wall-clock limits that only the caller can
    enforce (nbclient's ``Execute.timeout`` per cell; a deadline on the whole
    notebook), carried here so that one object describes a kernel's budget.
    """

    #: RLIMIT_AS: bytes of address space.  Allocations beyond it fail
    #: (Python raises MemoryError; a C extension may abort the kernel).
    memory: int | None = 4 * GiB
    #: RLIMIT_CPU: CPU seconds of the kernel process (all its threads).  At the
    #: soft limit the kernel gets SIGXCPU (fatal unless caught); at soft +
    #: ``cpu_grace`` SIGKILL.  Each forked child process has its own budget.
    cpu_seconds: int | None = 600
    cpu_grace: int = 5
    #: RLIMIT_NPROC: processes *and threads* the grading uid may have in all.
    #: An idle IPython kernel uses about 10.  Only meaningful per dedicated uid.
    max_processes: int | None = 128
    #: RLIMIT_FSIZE: largest file the kernel may write (bytes).  A larger
    #: write fails with OSError(EFBIG) ("File too large").
    max_file_bytes: int | None = 256 * MiB
    #: RLIMIT_NOFILE: open file descriptors.
    open_files: int | None = 1024
    #: RLIMIT_CORE: False -> 0 (no core files in the workdir).
    core_dumps: bool = False
    #: Wall-clock seconds per cell (for the caller, e.g. ``Execute.timeout``).
    cell_timeout: float | None = 60
    #: Wall-clock seconds for the whole notebook (for the caller).
    notebook_timeout: float | None = 600

    _PARSERS = {
        "memory": parse_size,
        "cpu_seconds": lambda v: None if (s := parse_seconds(v)) is None else int(s),
        "cpu_grace": lambda v: int(parse_seconds(v) or 0),
        "max_processes": parse_count,
        "max_file_bytes": parse_size,
        "open_files": parse_count,
        "core_dumps": _parse_bool,
        "cell_timeout": parse_seconds,
        "notebook_timeout": parse_seconds,
    }

    @classmethod
    def from_strings(cls, values: Mapping[str, Any], base: Limits | None = None) -> Limits:
        """Limits from CLI-style strings, e.g. ``{"memory": "2G", "cpu_seconds": "5m"}``.

        Keys are the field names (``-`` is accepted for ``_``); a value of
        ``"unlimited"`` / ``"none"`` means None.  Unknown keys are an error.
        """
        base = base or cls()
        changes = {}
        for key, value in values.items():
            name = key.replace("-", "_").lower()
            if name not in cls._PARSERS:
                raise ValueError(f"unknown limit {key!r}; known: {', '.join(cls._PARSERS)}")
            try:
                changes[name] = cls._PARSERS[name](value)
            except ValueError as exc:
                raise ValueError(f"limit {key}: {exc}") from None
        return replace(base, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str = LIMIT_ENV_PREFIX,
                 base: Limits | None = None) -> Limits:
        """Limits from ``GRADER_LIMIT_MEMORY=2G``, ``GRADER_LIMIT_CPU_SECONDS=300``, ...; others default."""
        env = os.environ if env is None else env
        values = {name: env[prefix + name.upper()] for name in cls._PARSERS if prefix + name.upper() in env}
        return cls.from_strings(values, base)

    def to_env(self, prefix: str = LIMIT_ENV_PREFIX) -> dict[str, str]:
        """The inverse of :meth:`from_env` (exact: integers and ``unlimited``)."""
        out = {}
        for name in self._PARSERS:
            value = getattr(self, name)
            if value is None:
                text = "unlimited"
            elif isinstance(value, bool):
                text = "1" if value else "0"
            elif isinstance(value, float) and value.is_integer():
                text = str(int(value))
            else:
                text = str(value)
            out[prefix + name.upper()] = text
        return out

    def describe(self) -> str:
        """One line for logs and reports."""
        def size(v):
            return "unlimited" if v is None else (f"{v / GiB:g}G" if v >= GiB else f"{v / MiB:g}M")

        def num(v, unit=""):
            return "unlimited" if v is None else f"{v:g}{unit}"

        return (f"memory {size(self.memory)}, cpu {num(self.cpu_seconds, 's')}, "
                f"processes {num(self.max_processes)}, file size {size(self.max_file_bytes)}, "
                f"open files {num(self.open_files)}, core dumps {'on' if self.core_dumps else 'off'}, "
                f"cell {num(self.cell_timeout, 's')}, notebook {num(self.notebook_timeout, 's')}")


@dataclass(frozen=True)
class KernelSandbox:
    """What a forked kernel needs to confine itself: limits, workdir, uid/gid.

    The worker sets :meth:`to_env` in the environment it starts kernels with;
    the zygote receives that environment with the launch request and calls
    :meth:`from_env` then :meth:`apply` in the forked child.
    """

    limits: Limits
    workdir: str
    uid: int | None = None
    gid: int | None = None

    def to_env(self) -> dict[str, str]:
        env = self.limits.to_env()
        env["GRADER_SANDBOX_WORKDIR"] = str(self.workdir)
        env["GRADER_SANDBOX_UID"] = "" if self.uid is None else str(self.uid)
        env["GRADER_SANDBOX_GID"] = "" if self.gid is None else str(self.gid)
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KernelSandbox | None:
        """None when ``env`` asks for no sandbox (no ``GRADER_SANDBOX_WORKDIR``)."""
        workdir = env.get("GRADER_SANDBOX_WORKDIR")
        if not workdir:
            return None
        uid, gid = env.get("GRADER_SANDBOX_UID") or None, env.get("GRADER_SANDBOX_GID") or None
        return cls(Limits.from_env(env), workdir,
                   None if uid is None else int(uid), None if gid is None else int(gid))

    def stage(self, argv: list[str]) -> list[str]:
        """:func:`stage_connection_file` into this workdir for this uid (call before :meth:`apply`)."""
        return stage_connection_file(argv, self.workdir, self.uid, self.gid)

    def apply(self, keep_fds: Iterable[int] = (), **kwargs) -> dict:
        """:func:`prepare_child` with these settings."""
        return prepare_child(self.limits, self.workdir, self.uid, self.gid, keep_fds=keep_fds, **kwargs)


# ------------------------------------------------------------------ /proc

@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgrp: int
    session: int
    state: str
    uids: tuple[int, int, int, int]  # real, effective, saved, filesystem


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgrp, session) from ``/proc/<pid>/stat`` (comm may contain spaces and ')')."""
    text = _read(f"/proc/{pid}/stat")
    if not text:
        return None
    rest = text[text.rfind(")") + 2:].split()
    try:
        return rest[0], int(rest[1]), int(rest[2]), int(rest[3])
    except (IndexError, ValueError):
        return None


def _proc_uids(pid: int) -> tuple[int, int, int, int] | None:
    # /proc/<pid> itself is owned by root once a process changed its uid
    # (it is no longer "dumpable"): read the Uid line instead of stat().
    text = _read(f"/proc/{pid}/status")
    if not text:
        return None
    for line in text.splitlines():
        if line.startswith("Uid:"):
            try:
                return tuple(int(x) for x in line.split()[1:5])  # type: ignore[return-value]
            except ValueError:
                return None
    return None


def processes(need_uids: bool = True) -> list[ProcInfo]:
    """Every process in ``/proc`` (a snapshot; entries may vanish while reading)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        st = _proc_stat(pid)
        if st is None:
            continue
        uids = _proc_uids(pid) if need_uids else (-1, -1, -1, -1)
        if uids is None:
            continue
        out.append(ProcInfo(pid, st[1], st[2], st[3], st[0], uids))
    return out


def _alive(p: ProcInfo) -> bool:
    # Z (zombie) and X (dead) have exited; they only wait for their parent to reap them.
    return p.state not in ("Z", "X")


def pids_of_uid(uid: int) -> list[int]:
    """Live processes whose real, effective or saved uid is ``uid``."""
    return [p.pid for p in processes() if _alive(p) and uid in p.uids[:3]]


def pids_of_session(sid: int) -> list[int]:
    """Live processes in session ``sid``."""
    return [p.pid for p in processes(need_uids=False) if _alive(p) and p.session == sid]


def descendants(pid: int) -> list[int]:
    """Live processes below ``pid`` in the process tree (not ``pid`` itself)."""
    children: dict[int, list[int]] = {}
    procs = processes(need_uids=False)
    alive = {p.pid for p in procs if _alive(p)}
    for p in procs:
        children.setdefault(p.ppid, []).append(p.pid)
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        if child in alive:
            out.append(child)
        todo.extend(children.get(child, []))
    return out


def _count_tasks_of_uid(uid: int) -> int:
    """Tasks (threads) whose real uid is ``uid``: what RLIMIT_NPROC counts."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        text = _read(f"/proc/{name}/status")
        if not text:
            continue
        real, threads = None, 1
        for line in text.splitlines():
            if line.startswith("Uid:"):
                real = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
        if real == uid:
            total += threads
    return total


# ------------------------------------------------------------------ the child

_RLIMITS = (
    ("core", resource.RLIMIT_CORE),
    ("memory", resource.RLIMIT_AS),
    ("cpu_seconds", resource.RLIMIT_CPU),
    ("max_file_bytes", resource.RLIMIT_FSIZE),
    ("open_files", resource.RLIMIT_NOFILE),
    ("max_processes", resource.RLIMIT_NPROC),
)


def _set_rlimit(res: int, soft: int, hard: int, privileged: bool) -> tuple[int, int]:
    """Set a limit, never raising a hard limit we may not raise; return what was set."""
    inf = resource.RLIM_INFINITY
    cur_soft, cur_hard = resource.getrlimit(res)
    if not privileged and cur_hard != inf and (hard == inf or hard > cur_hard):
        hard = cur_hard
    if hard != inf and (soft == inf or soft > hard):
        soft = hard
    resource.setrlimit(res, (soft, hard))
    return soft, hard


def apply_limits(limits: Limits, target_uid: int | None = None) -> dict[str, tuple[int, int] | str]:
    """Apply the rlimits of ``limits`` to this process; return what is in force.

    Call it *before* dropping root (as root the hard limits can be set to
    anything; afterwards the unprivileged kernel can lower but never raise
    them).  ``target_uid`` is the uid the process will run as: when that is
    the current non-root user, RLIMIT_NPROC (which counts all of that user's
    processes and threads) is set to the user's current count plus
    ``max_processes``.
    """
    privileged = is_root()
    inf = resource.RLIM_INFINITY
    applied: dict[str, tuple[int, int] | str] = {}
    for name, res in _RLIMITS:
        if name == "core":
            if limits.core_dumps:
                continue
            applied[name] = _set_rlimit(res, 0, 0, privileged)
            continue
        value = getattr(limits, name)
        if value is None:
            continue
        value = int(value)
        hard = value
        if name == "cpu_seconds":
            value = max(1, value)
            hard = value + max(0, int(limits.cpu_grace))
        if name == "max_processes":
            uid = os.getuid() if target_uid is None else target_uid
            if uid == 0:
                applied[name] = "not enforced: the kernel runs as root"
                continue
            if uid == os.getuid():
                # not a dedicated uid: the count includes the grader itself
                value = hard = _count_tasks_of_uid(uid) + value
        applied[name] = _set_rlimit(res, value, hard if hard is not None else inf, privileged)
    return applied


def close_fds(keep: Iterable[int] = ()) -> None:
    """Close every file descriptor except 0, 1, 2 and ``keep``.

    Python objects that still own a closed fd must never be closed or
    garbage-collected afterwards (the number may by then belong to a new
    file); in a forked child that never returns from its frame that holds.
    """
    keep_set = sorted({0, 1, 2, *(int(fd) for fd in keep if fd is not None and fd >= 0)})
    low = 0
    for fd in keep_set:
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)


def prepare_child(
    limits: Limits,
    workdir: str | os.PathLike,
    uid: int | None = None,
    gid: int | None = None,
    *,
    keep_fds: Iterable[int] = (),
    env: Mapping[str, str] | None = None,
    pdeathsig: int | None = signal.SIGKILL,
    no_new_privs: bool = True,
) -> dict:
    """Confine the calling process.  Call it in a child right after ``fork()``.

    In order: become a session leader (``setsid``; already being one is
    fine), ignore SIGXFSZ (an oversized write raises ``OSError(EFBIG)``
    instead of killing the kernel), close inherited fds except 0-2 and
    ``keep_fds``, ``umask(0o077)``, apply the rlimits of ``limits``, then,
    when running as root and ``uid`` is given: drop all supplementary groups,
    ``setgid(gid)``, ``setuid(uid)`` and verify that root cannot be regained;
    set ``PR_SET_NO_NEW_PRIVS`` (setuid binaries such as ``su`` gain nothing);
    re-arm the parent-death signal (a uid change clears it); ``chdir(workdir)``
    (as the new uid, so an unreachable workdir fails here); set ``HOME``,
    ``TMPDIR``, ``TEMP``, ``TMP`` to the workdir plus ``env``; reset Python's
    cached ``tempfile.tempdir``.

    Not root, or ``uid`` None: the uid is not changed and the record says
    so (``"dropped": False`` with the reason); everything else still applies.

    Uses only ``os``, ``resource``, ``signal`` and a prctl function resolved at
    import time: no imports, no locks of the parent's other threads.

    Returns a record (also put in ``$GRADER_SANDBOX`` as one line).  Raises
    :class:`SandboxError`/``OSError`` when a step fails: the caller must then
    ``os._exit`` instead of running student code.
    """
    record: dict[str, Any] = {"pid": os.getpid(), "workdir": os.fspath(workdir)}
    parent = os.getppid()
    try:
        os.setsid()
    except PermissionError:
        if os.getsid(0) != os.getpid():  # a process group leader that is not a session leader
            raise SandboxError("setsid failed: the process leads a process group but not a session") from None
    record["sid"] = os.getsid(0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    close_fds(keep_fds)
    os.umask(0o077)

    drop = uid is not None and is_root() and uid != 0
    if uid == 0:
        raise SandboxError("refusing to run a grading kernel as uid 0")
    if drop and gid is None:
        raise SandboxError("a grading uid needs its gid")
    record["limits"] = apply_limits(limits, uid if drop else None)

    if drop:
        os.setgroups([])
        os.setgid(gid)  # as root: real, effective and saved gid
        os.setuid(uid)  # as root: real, effective and saved uid; capabilities are dropped
        if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid) or os.getgroups():
            raise SandboxError(f"uid/gid switch incomplete: {os.getresuid()} {os.getresgid()} {os.getgroups()}")
        try:
            os.setuid(0)
        except PermissionError:
            pass
        else:
            raise SandboxError("still able to become root after dropping privileges")
        record.update(dropped=True, uid=uid, gid=gid)
    else:
        reason = ("no grading uid given" if uid is None
                  else "not running as root: cannot switch to the grading uid")
        record.update(dropped=False, uid=os.getuid(), gid=os.getgid(), reason=reason)

    if no_new_privs and _prctl_fn is not None:
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        record["no_new_privs"] = True
    if pdeathsig and _prctl_fn is not None:
        _prctl(PR_SET_PDEATHSIG, int(pdeathsig))
        if os.getppid() != parent:  # the parent died before the signal was armed
            raise SandboxError("the parent process exited during sandbox setup")

    os.chdir(workdir)
    path = os.getcwd()
    for name in ("HOME", "TMPDIR", "TEMP", "TMP"):
        os.environ[name] = path
    for name, value in (env or {}).items():
        os.environ[name] = value
    tmp = sys.modules.get("tempfile")
    if tmp is not None:
        tmp.tempdir = None  # computed again from TMPDIR on next use
    os.environ["GRADER_SANDBOX"] = (
        f"uid={record['uid']} dropped={int(record['dropped'])} sid={record['sid']} workdir={path}"
    )
    return record


_CONNECTION_FLAGS = ("-f", "--f", "--IPKernelApp.connection_file", "--ConnectionFileMixin.connection_file")


def stage_connection_file(argv: list[str], workdir: str | os.PathLike, uid: int | None = None,
                          gid: int | None = None, name: str = ".kernel-connection.json") -> list[str]:
    """Copy the kernel's connection file into ``workdir`` (0600, owned by ``uid``); return argv pointing at it.

    Call it in the forked child *before* :func:`prepare_child`, while still
    root.  jupyter_client writes the connection file in its runtime folder
    (``~/.local/share/jupyter/runtime``, under a 0700 home for root) or in
    a folder of the grader; a kernel running as a grading uid cannot read
    it there, and ipykernel then silently writes a *new* file with new ports
    and key, so the client never connects.  ipykernel also rewrites the file
    it was given, so it must be writable by the kernel.  Understands
    ``-f X``, ``-f=X``, ``--f=X`` and ``--IPKernelApp.connection_file=X``.
    Uses only ``os`` calls (safe after fork).
    """
    argv = list(argv)
    index, src = None, None
    for i, arg in enumerate(argv):
        for flag in _CONNECTION_FLAGS:
            if arg == flag and i + 1 < len(argv):
                index, src = (i + 1, None), argv[i + 1]
            elif arg.startswith(flag + "="):
                index, src = (i, flag + "="), arg[len(flag) + 1:]
    if src is None:
        raise SandboxError(f"no connection file in kernel arguments {argv}")
    dest = os.path.join(os.fspath(workdir), name)
    fd_in = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = b""
        while True:
            chunk = os.read(fd_in, 1 << 16)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd_in)
    try:
        os.unlink(dest)
    except FileNotFoundError:
        pass
    fd_out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd_out, view):]
        if uid is not None and is_root():
            os.fchown(fd_out, uid, -1 if gid is None else gid)
    finally:
        os.close(fd_out)
    pos, prefix = index
    argv[pos] = dest if prefix is None else prefix + dest
    return argv


# ------------------------------------------------------------------ users

@dataclass(frozen=True)
class GradingUser:
    name: str
    uid: int
    gid: int


_NOLOGIN = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false")


def ensure_grading_users(n: int, prefix: str = USER_PREFIX) -> list[GradingUser] | None:
    """Create (idempotently) ``<prefix>0 .. <prefix>{n-1}``; return them.  None when not root.

    Accounts are system users with their own group, no home directory and
    the ``nologin`` shell.  An existing account of that name is reused only
    if it cannot log in and is not uid 0.
    """
    if n < 1:
        raise ValueError(f"need at least one grading user, got n={n}")
    if not is_root():
        return None
    users = []
    for i in range(n):
        name = f"{prefix}{i}"
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            entry = None
        if entry is None:
            # the system folders too: validate runs with a cleaned environment whose PATH may lack them
            search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
            cmd = [shutil.which("useradd", path=search) or "useradd", "--system", "--no-create-home",
                   "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--user-group",
                   "--comment", "backprop course grading sandbox", name]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            except FileNotFoundError:
                raise SandboxError("useradd not found: install the 'passwd' package or create the users") from None
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                raise SandboxError(f"useradd {name} failed ({proc.returncode}): {proc.stderr.strip()}") from None
        if entry.pw_uid == 0 or entry.pw_gid == 0:
            raise SandboxError(f"refusing to use account {name}: uid/gid 0")
        if entry.pw_shell not in _NOLOGIN:
            raise SandboxError(f"refusing to use existing account {name}: its shell {entry.pw_shell} allows logins")
        users.append(GradingUser(name, entry.pw_uid, entry.pw_gid))
    if len({u.uid for u in users}) != len(users):
        raise SandboxError(f"grading users share a uid: {users}")
    return users


# ------------------------------------------------------------------ reaping

@dataclass
class ReapResult:
    """What a reap did: pids signalled, rounds used, live processes left (empty = success)."""

    killed: list[int] = field(default_factory=list)
    rounds: int = 0
    survivors: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.survivors


def _kill(pid: int, sig: int = signal.SIGKILL) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _kill_all_as(uid: int, gid: int) -> None:
    """kill(-1, SIGKILL) from a short-lived child that runs as ``uid``.

    kill(-1) signals every process the caller may signal, in one pass of the
    kernel under the task-list lock, so a fork bomb cannot outrun it (a fork
    racing with it fails because its parent has a fatal signal pending).
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        except BaseException:
            code = 1
        os._exit(code)
    while True:
        try:
            os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            break


def _reap_loop(find: Callable[[], list[int]], kill_round: Callable[[list[int]], None],
               rounds: int, deadline: float) -> ReapResult:
    result = ReapResult()
    seen: set[int] = set()
    pause = 0.002
    for result.rounds in range(1, rounds + 1):
        pids = find()
        if not pids:
            result.killed = sorted(seen)
            return result
        kill_round(pids)
        seen.update(pids)
        time.sleep(pause)  # SIGKILL is asynchronous: give the kernel a moment
        pause = min(pause * 2, 0.1)
        if time.monotonic() > deadline:
            break
    result.survivors = find()
    result.killed = sorted(seen)
    return result


def reap(uid: int, gid: int | None = None, rounds: int = 50, timeout: float = 10.0) -> ReapResult:
    """SIGKILL every process whose real, effective or saved uid is ``uid``; repeat until none is left.

    As root, each round is one ``kill(-1, SIGKILL)`` issued *as* ``uid`` (see
    :func:`_kill_all_as`) plus an individual SIGKILL of every pid found in
    ``/proc``.  Zombies count as gone.  Stops after ``rounds`` rounds or
    ``timeout`` seconds and returns the survivors (e.g. processes stuck in
    uninterruptible I/O).  Refuses uid 0 and the grader's own uid.
    """
    if uid == 0 or uid in (os.getuid(), os.geteuid()):
        raise ValueError(f"refusing to reap uid {uid}: that would kill the grader itself")
    if gid is None:
        try:
            gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            gid = uid
    root = is_root()

    def kill_round(pids: list[int]) -> None:
        if root:
            _kill_all_as(uid, gid)
        for pid in pids:
            _kill(pid)

    return _reap_loop(lambda: pids_of_uid(uid), kill_round, rounds, time.monotonic() + timeout)


def reap_session(sid: int, rounds: int = 50, timeout: float = 10.0) -> ReapResult:
    """SIGKILL every live process of session ``sid`` (``/proc/<pid>/stat``); repeat until none is left.

    The fallback when kernels run as the grader's own user.  A process that
    called ``setsid()`` has left the session and is *not* found: combine with
    :func:`reap_descendants` under a subreaper (see ``SANDBOX.md``).
    """
    if sid <= 1 or sid == os.getsid(0):
        raise ValueError(f"refusing to reap session {sid}: that is the grader's own (or init's) session")

    def kill_round(pids: list[int]) -> None:
        try:
            os.killpg(sid, signal.SIGKILL)  # the leader's process group, atomically
        except (ProcessLookupError, PermissionError):
            pass
        for pid in pids:
            _kill(pid)

    return _reap_loop(lambda: pids_of_session(sid), kill_round, rounds, time.monotonic() + timeout)


def reap_descendants(pid: int, include_self: bool = False, rounds: int = 50,
                     timeout: float = 10.0) -> ReapResult:
    """SIGKILL every live descendant of ``pid`` (and ``pid`` when ``include_self``).

    Orphans are re-parented to the nearest *subreaper* ancestor, else to
    init: a process that double-forked is only found here when ``pid`` (or a
    process between it and the orphan) called :func:`set_child_subreaper`.
    """
    if pid <= 1 or (include_self and pid == os.getpid()):
        raise ValueError(f"refusing to reap pid {pid} itself")

    def find() -> list[int]:
        found = descendants(pid)
        if include_self:
            st = _proc_stat(pid)
            if st is not None and st[0] not in ("Z", "X"):
                found.append(pid)
        return found

    return _reap_loop(find, lambda pids: [_kill(p) for p in pids], rounds, time.monotonic() + timeout)


def set_child_subreaper() -> None:
    """Make orphaned descendants of this process re-parent to it (PR_SET_CHILD_SUBREAPER).

    The process must then reap them (``waitpid(-1, WNOHANG)``) or they stay
    zombies, which count against their uid's RLIMIT_NPROC.
    """
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


# ------------------------------------------------------------------ workdirs

@dataclass
class Workdir:
    """A per-notebook working directory.  ``os.fspath(wd)`` is its path."""

    path: Path
    uid: int | None
    gid: int | None
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # symlinks, devices, fifos: never copied

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)


def _searchable_by_others(path: Path) -> list[str]:
    """Ancestors of ``path`` (inclusive) that a user who is neither owner nor group member cannot enter."""
    bad = []
    for p in [path, *path.parents]:
        try:
            mode = os.stat(p).st_mode
        except OSError as exc:
            bad.append(f"{p}: {exc.strerror}")
            continue
        if not mode & stat.S_IXOTH:
            bad.append(f"{p} (mode {stat.filemode(mode)})")
    return bad


def _safe_rel(name: str) -> str:
    rel = os.path.normpath(str(name))
    if os.path.isabs(rel) or rel == "." or rel.startswith(".." + os.sep) or rel == "..":
        raise SandboxError(f"file name {name!r} would leave the workdir")
    return rel


def make_workdir(
    base: str | os.PathLike,
    files: Mapping[str, str | os.PathLike] | Iterable[str | os.PathLike] | str | os.PathLike = (),
    uid: int | None = None,
    gid: int | None = None,
    prefix: str = "nb-",
) -> Workdir:
    """A fresh ``<base>/<prefix>XXXXXXXX`` (mode 0700, owned by ``uid:gid`` when root) with copies of ``files``.

    ``files`` is a mapping ``{name in workdir: source}``, an iterable of
    sources (each copied under its base name; directories recursively), or a
    single directory whose *contents* are copied.  Only regular files and
    directories are copied; symlinks, fifos and devices are skipped and
    listed in ``Workdir.skipped`` (a submitted symlink must never make the
    grader copy a file the student may not read).  Files are 0600, folders
    0700, owned by the grading uid.

    ``base`` is created 0711 when missing (root-owned: grading users can
    enter their own workdir, not list the others).  With a ``uid``, every
    ancestor of ``base`` must be enterable by other users; else SandboxError.
    """
    base = Path(base)
    if not base.exists():
        base.mkdir(parents=True, mode=0o711)
        os.chmod(base, 0o711)
    st = os.stat(base)
    if is_root() and (st.st_uid != 0 or (st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX)):
        raise SandboxError(f"workdir base {base} must be root-owned and not writable by others "
                           f"(is uid {st.st_uid}, {stat.filemode(st.st_mode)}): use new_workdir_base()")
    if uid is not None:
        blocked = _searchable_by_others(base.resolve())
        if blocked:
            raise SandboxError(
                f"grading users could not enter a workdir under {base}: not searchable by others: "
                + "; ".join(blocked)
            )
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    os.chmod(path, 0o700)
    owner = (uid, gid if gid is not None else -1) if (uid is not None and is_root()) else None
    wd = Workdir(path, uid, gid)
    try:
        if owner:
            os.chown(path, *owner)
        if isinstance(files, (str, os.PathLike)):
            src_dir = Path(files)
            if not src_dir.is_dir():
                raise SandboxError(f"{src_dir} is not a directory")
            items = [(entry.name, Path(entry.path)) for entry in os.scandir(src_dir)]
        elif isinstance(files, Mapping):
            items = [(_safe_rel(k), Path(v)) for k, v in files.items()]
        else:
            items = [(Path(v).name, Path(v)) for v in files]
        for rel, src in items:
            _copy_in(src, path, rel, owner, wd)
    except BaseException:
        cleanup_workdir(path)
        raise
    return wd


def new_workdir_base(prefix: str = "bpgrader-work-", parent: str | os.PathLike | None = None) -> Path:
    """A fresh, unpredictably named base folder for workdirs: 0711, owned by us.

    Grading users can enter their own workdir below it but not list or
    rename the others.  Its parent (default: the system temp folder) must be
    enterable by others; it must not be inside a protected path.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(path, 0o711)
    return path


def purge_tmp(uid: int, roots: Iterable[str | os.PathLike] = ("/tmp", "/var/tmp", "/dev/shm")) -> list[str]:
    """Remove what ``uid`` left at the top of the shared, world-writable temp folders; return the paths.

    Without this a kernel could leave a file in ``/tmp`` for the next
    notebook graded under the same uid (another student).  Call it after
    :func:`reap`.  Only entries *owned by* ``uid`` directly in ``roots`` are
    removed (``rmtree`` never follows symlinks).  Refuses uid 0 and our own uid.
    """
    if uid == 0 or uid in (os.getuid(), os.geteuid()):
        raise ValueError(f"refusing to purge files of uid {uid}")
    removed = []
    for root in roots:
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_uid != uid:
                continue
            try:
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(entry.path)
            except FileNotFoundError:
                pass
    return removed


def _copy_in(src: Path, root: Path, rel: str, owner: tuple[int, int] | None, wd: Workdir) -> None:
    dest = root / rel
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        raise SandboxError(f"no such file to copy into the workdir: {src}") from None
    if stat.S_ISLNK(st.st_mode) or not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        wd.skipped.append(rel)
        return
    for parent in reversed([p for p in Path(rel).parents if str(p) != "."]):
        d = root / parent
        if not d.exists():
            os.mkdir(d, 0o700)
            if owner:
                os.chown(d, *owner)
    if stat.S_ISDIR(st.st_mode):
        os.mkdir(dest, 0o700)
        if owner:
            os.chown(dest, *owner)
        for entry in sorted(os.scandir(src), key=lambda e: e.name):
            _copy_in(Path(entry.path), root, os.path.join(rel, entry.name), owner, wd)
        return
    fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd_in).st_mode):  # swapped between lstat and open
            wd.skipped.append(rel)
            return
        fd_out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            while True:
                chunk = os.read(fd_in, 1 << 20)
                if not chunk:
                    break
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd_out, view):]
            if owner:
                os.fchown(fd_out, *owner)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)
    wd.copied.append(rel)


def cleanup_workdir(path: str | os.PathLike) -> None:
    """Remove a workdir and everything a kernel left in it.  Reap its processes first.

    ``shutil.rmtree`` works on directory fds and never follows symlinks the
    student planted.  When not root, folders the student made unreadable
    are made writable again by their owner (us) and retried.
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise SandboxError(f"not a workdir: {path}")

    def fix(func, p, exc_info):
        exc = exc_info[1]
        if isinstance(exc, FileNotFoundError):
            return
        if isinstance(exc, PermissionError):
            parent = os.path.dirname(p)
            for q in (parent, p):
                try:
                    if not os.path.islink(q):
                        os.chmod(q, 0o700)
                except OSError:
                    pass
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p, onerror=fix_once)
                else:
                    os.unlink(p)
                return
            except FileNotFoundError:
                return
        raise exc

    def fix_once(func, p, exc_info):
        if not isinstance(exc_info[1], FileNotFoundError):
            raise exc_info[1]

    shutil.rmtree(path, onerror=fix)


# ------------------------------------------------------------------ paths

@dataclass
class ProtectionReport:
    """What :func:`protect_paths` changed and what it found wrong."""

    changed: list[tuple[str, int, int]] = field(default_factory=list)  # (path, old mode, new mode)
    protected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def restore(self) -> None:
        """Put back the modes :func:`protect_paths` changed."""
        for path, old, _new in reversed(self.changed):
            try:
                os.chmod(path, stat.S_IMODE(old))
            except FileNotFoundError:
                pass
        self.changed.clear()


def protect_paths(hidden: Iterable[str | os.PathLike], readonly: Iterable[str | os.PathLike] = (),
                  grading_gids: Iterable[int] = ()) -> ProtectionReport:
    """Make ``hidden`` paths unreachable for grading users; check ``readonly`` paths.

    Each hidden path loses its permission bits for "others" (``o-rwx``); on
    a directory that alone stops every other user from reaching anything
    below it.  A symlink is resolved and its target protected.  A hidden
    path whose group is one of ``grading_gids`` is a problem.  Missing paths
    are listed, not an error.

    The ``readonly`` trees are checked with :func:`check_readonly`; their
    findings go to ``problems`` (nothing is changed there).

    Only meaningful when kernels run as other users (root grader): for a
    kernel running as the grader's own user, permissions protect nothing.
    """
    report = ProtectionReport()
    gids = set(grading_gids)
    for raw in hidden:
        path = os.path.realpath(raw)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            report.missing.append(str(raw))
            continue
        old = st.st_mode
        new = old & ~0o007
        if new != old:
            os.chmod(path, stat.S_IMODE(new))
            report.changed.append((path, old, new))
        if st.st_gid in gids and old & 0o070:
            report.problems.append(f"{path}: group-owned by grading gid {st.st_gid}")
        report.protected.append(path)
    report.problems.extend(check_readonly(readonly))
    return report


def check_readonly(paths: Iterable[str | os.PathLike], owners: Iterable[int] = (0,)) -> list[str]:
    """Problems that would let a grading user change, or stop it from reading, ``paths``.

    Walks each tree (symlinks are not followed): anything group- or
    world-writable, anything not owned by one of ``owners`` (root by
    default), directories other users cannot list/enter, files they cannot
    read.  Also checks every ancestor: not writable by others (unless
    sticky), enterable by others.  Returns one line per problem (capped at
    50 per tree).
    """
    problems: list[str] = []
    owner_set = set(owners)
    for raw in paths:
        top = Path(raw)
        if not top.exists():
            problems.append(f"{top}: missing")
            continue
        top = top.resolve()
        for anc in top.parents:
            st = os.stat(anc)
            if st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
                problems.append(f"{anc}: world-writable ancestor of {top} (anyone may rename it)")
            if not st.st_mode & stat.S_IXOTH:
                problems.append(f"{anc}: other users cannot enter it, so cannot read {top}")
        found: list[str] = []

        def check(p: str, st: os.stat_result) -> None:
            mode = st.st_mode
            if stat.S_ISLNK(mode):
                return
            what = []
            if mode & 0o002:
                what.append("world-writable")
            if mode & 0o020:
                what.append(f"group-writable (gid {st.st_gid})")
            if st.st_uid not in owner_set:
                what.append(f"owned by uid {st.st_uid}")
            if stat.S_ISDIR(mode) and (mode & 0o005) != 0o005:
                what.append("directory not listable/enterable by others")
            elif stat.S_ISREG(mode) and not mode & 0o004:
                what.append("not readable by others")
            if what:
                found.append(f"{p}: {', '.join(what)} ({stat.filemode(mode)})")

        check(str(top), os.lstat(top))
        if top.is_dir():
            for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
                for name in dirnames + filenames:
                    p = os.path.join(dirpath, name)
                    try:
                        check(p, os.lstat(p))
                    except FileNotFoundError:
                        pass
        if len(found) > 50:
            found = found[:50] + [f"{top}: ... and {len(found) - 50} more"]
        problems.extend(found)
    return problems


def interpreter_paths() -> list[Path]:
    """Folders a kernel imports from: the standard library, its extension modules, site-packages."""
    import sysconfig

    out = []
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p and Path(p).exists() and Path(p).resolve() not in out:
            out.append(Path(p).resolve())
    return out


def default_hidden_paths(repo_root: str | os.PathLike, course_root: str | os.PathLike | None = None) -> list[Path]:
    """What grading kernels must not read: ``solutions/`` (hidden tests), ``.git`` (their history), the course dir."""
    repo = Path(repo_root)
    out = [repo / "solutions", repo / ".git"]
    if course_root is not None:
        out.append(Path(course_root))
    return out


def default_readonly_paths(repo_root: str | os.PathLike) -> list[Path]:
    """What grading kernels must read but not write: ``course_lib/``, ``grader/``, the virtualenv."""
    repo = Path(repo_root)
    out = [repo / "course_lib", repo / "grader"]
    venv = Path(sys.prefix)
    out.append(venv if venv.exists() else repo / ".venv")
    return out


# ------------------------------------------------------------------ running a function confined

@dataclass
class ChildResult:
    """Outcome of :func:`run_in_child`."""

    pid: int
    value: Any = None
    error: tuple[str, str, int | None] | None = None  # (exception type, message, errno)
    exitcode: int | None = None  # when it exited
    signal: int | None = None  # when a signal killed it
    timed_out: bool = False
    record: dict | None = None  # prepare_child's record

    @property
    def ok(self) -> bool:
        return self.error is None and self.exitcode == 0 and not self.timed_out


def run_in_child(func: Callable[..., Any], *args: Any, limits: Limits | None = None,
                 workdir: str | os.PathLike | None = None, uid: int | None = None,
                 gid: int | None = None, timeout: float = 60.0) -> ChildResult:
    """Fork, :func:`prepare_child`, run ``func(*args)``, return its picklable value or exception.

    For self-checks and tests.  The child never imports anything after the
    uid switch (grading users may not be able to read the interpreter's
    library); ``func`` must only use modules already imported.  On timeout
    the child's session is killed.  The caller reaps what the child left.
    """
    limits = limits or Limits()
    workdir = os.fspath(workdir) if workdir is not None else os.getcwd()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(r)
        payload: tuple = ("sandbox", None, None)
        code = 70
        try:
            record = prepare_child(limits, workdir, uid, gid, keep_fds=[w], pdeathsig=signal.SIGKILL)
            try:
                value = func(*args)
                payload, code = ("ok", record, value), 0
            except BaseException as exc:  # report MemoryError, OSError, SystemExit alike
                payload, code = ("error", record, (type(exc).__name__, str(exc), getattr(exc, "errno", None))), 1
        except BaseException as exc:
            payload = ("sandbox", None, (type(exc).__name__, str(exc), getattr(exc, "errno", None)))
        try:
            data = pickle.dumps(payload)
        except Exception as exc:
            data = pickle.dumps(("error", payload[1], ("PicklingError", str(exc), None)))
            code = 1
        try:  # length-prefixed: processes func left behind may hold the pipe open
            view = memoryview(len(data).to_bytes(8, "big") + data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:
            pass
        os._exit(code)
    os.close(w)
    buf, deadline, timed_out = bytearray(), time.monotonic() + timeout, False
    try:
        while len(buf) < 8 or len(buf) < 8 + int.from_bytes(buf[:8], "big"):
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([r], [], [], left)
            if not ready:
                continue
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            buf += chunk
    finally:
        os.close(r)
    chunks = [bytes(buf[8:8 + int.from_bytes(buf[:8], "big")])] if len(buf) >= 8 else []
    if timed_out:
        for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass
    _, status = os.waitpid(pid, 0)
    result = ChildResult(pid=pid, timed_out=timed_out)
    if os.WIFSIGNALED(status):
        result.signal = os.WTERMSIG(status)
    else:
        result.exitcode = os.WEXITSTATUS(status)
    if chunks:
        try:
            kind, record, value = pickle.loads(b"".join(chunks))
        except Exception:
            kind, record, value = "error", None, ("UnpicklingError", "truncated result", None)
        result.record = record
        if kind == "ok":
            result.value = value
        else:
            result.error = value if value else ("SandboxError", "child died during setup", None)
            if kind == "sandbox":
                result.error = ("SandboxError: " + result.error[0], result.error[1], result.error[2])
    elif not timed_out and result.signal is None and result.exitcode != 0:
        result.error = ("SandboxError", f"child exited with {result.exitcode} before reporting", None)
    return result


# ------------------------------------------------------------------ output limits

def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def _human(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _marker(lines: int | None = None, nbytes: int | None = None, outputs: int = 0) -> str:
    if lines is None:
        what = "further output of this cell not shown"
    else:
        parts = [f"{lines:,} more line{'s' if lines != 1 else ''} ({_human(nbytes or 0)})"]
        if outputs:
            parts.append(f"{outputs:,} more output{'s' if outputs != 1 else ''}")
        what = " and ".join(parts) + " not shown"
    return f"{TRUNCATION_MARKER} {what}]\n"


def _is_number(text: str) -> bool:
    s = text.strip()
    if len(s) > 64:
        return False
    try:
        float(s)
        return True
    except ValueError:
        return False


def _cut(text: str, max_bytes: int, max_lines: int) -> tuple[str, bool]:
    """The longest head of ``text`` within the budgets, cut at a line end when there is one."""
    if max_bytes <= 0 or max_lines <= 0:
        return "", bool(text)
    head = text[:max_bytes]  # >= max_bytes bytes when long: trimmed below
    pos, n = -1, 0
    while n < max_lines:
        pos = head.find("\n", pos + 1)
        if pos < 0:
            break
        n += 1
    if n >= max_lines:
        head = head[: pos + 1]
    raw = head.encode("utf-8", "surrogatepass")
    if len(raw) > max_bytes:
        head = raw[:max_bytes].decode("utf-8", "ignore")
    if len(head) == len(text):
        return text, False
    nl = head.rfind("\n")
    if nl >= 0 and nl + 1 >= len(head) // 2:
        head = head[: nl + 1]
    return head, True


def _bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _lines(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def _data_size(data: Mapping[str, Any]) -> int:
    total = 0
    for value in data.values():
        if isinstance(value, (str, list)):
            total += _bytes(_text(value))
        else:
            total += len(repr(value))
    return total


class OutputBudget:
    """Byte and line budget of one cell's outputs, applied output by output.

    :meth:`admit` returns the output to keep (the same object, or a trimmed
    copy), or None to drop it.  The first output that does not fit in full is
    trimmed and carries the marker line; later stream and display outputs
    are dropped.  So that nbgrader's grade for the cell cannot change
    (``nbgrader.utils.determine_grade`` looks at the first error, stderr
    stream or execute_result), these are never dropped: error outputs
    (traceback trimmed), execute_results (``text/plain`` kept verbatim when
    it is a number or short; other mime types dropped when over budget) and
    the first stderr stream.  Usable incrementally (e.g. from nbclient's
    ``output``) or through :func:`truncate_outputs`.
    """

    def __init__(self, max_bytes: int = 100_000, max_lines: int = 2_000):
        self.max_bytes, self.max_lines = int(max_bytes), int(max_lines)
        self.used_bytes = self.used_lines = 0
        self.truncated = False
        self.dropped_bytes = self.dropped_lines = self.dropped_outputs = 0
        self._stderr_kept = False

    @property
    def left_bytes(self) -> int:
        return max(0, self.max_bytes - self.used_bytes)

    @property
    def left_lines(self) -> int:
        return max(0, self.max_lines - self.used_lines)

    def _charge(self, text: str) -> None:
        self.used_bytes += _bytes(text)
        self.used_lines += _lines(text)

    def admit(self, output: Mapping[str, Any]) -> Any:
        kind = output.get("output_type")
        if kind == "stream":
            return self._stream(output)
        if kind == "error":
            return self._error(output)
        if kind in ("execute_result", "display_data", "update_display_data"):
            return self._data(output)
        return output

    def _stream(self, output):
        text = _text(output.get("text"))
        is_stderr = output.get("name") == "stderr"
        if not self.truncated:
            head, cut = _cut(text, self.left_bytes, self.left_lines)
            if not cut:
                self._charge(text)
                self._stderr_kept |= is_stderr
                return output
            self.truncated = True
            self._charge(head)
            self.dropped_bytes += _bytes(text) - _bytes(head)
            self.dropped_lines += _lines(text[len(head):])
            out = copy.copy(output)
            out["text"] = head + ("" if not head or head.endswith("\n") else "\n") + _marker()
            self._stderr_kept |= is_stderr
            return out
        self.dropped_bytes += _bytes(text)
        self.dropped_lines += _lines(text)
        if is_stderr and not self._stderr_kept:  # keep the cell's "wrote to stderr" verdict
            self._stderr_kept = True
            out = copy.copy(output)
            out["text"] = _marker()
            return out
        self.dropped_outputs += 1
        return None

    def _error(self, output):
        limit = max(2_000, min(self.max_bytes, 20_000))
        out = copy.copy(output)
        evalue = _text(output.get("evalue"))
        if len(evalue) > limit:
            out["evalue"] = evalue[:limit] + " " + _marker().strip()
        tb = [_text(t) for t in output.get("traceback", [])]
        if sum(len(t) for t in tb) > limit and len(tb) > 1:
            # the first entry says where in the cell, the last ones where it failed
            keep_tail, size = [], len(tb[0])
            for entry in reversed(tb[1:]):
                if size + len(entry) > limit and keep_tail:
                    break
                keep_tail.insert(0, entry[:limit])
                size += len(entry)
            skipped = len(tb) - 1 - len(keep_tail)
            out["traceback"] = [tb[0][:limit]] + ([f"{TRUNCATION_MARKER} {skipped} traceback entries not shown]"]
                                                   if skipped else []) + keep_tail
        elif tb and len(tb[0]) > limit:
            out["traceback"] = [tb[0][:limit] + "\n" + _marker()]
        self.used_bytes += sum(len(_text(t)) for t in out.get("traceback", []))
        return out

    def _data(self, output):
        data = output.get("data", {}) or {}
        size = _data_size(data)
        if not self.truncated and size <= self.left_bytes:
            plain = _text(data.get("text/plain"))
            if _lines(plain) <= self.left_lines:
                self.used_bytes += size
                self.used_lines += _lines(plain)
                return output
        if output.get("output_type") != "execute_result":
            self.truncated = True
            self.dropped_outputs += 1
            self.dropped_bytes += size
            return None
        # execute_result: nbgrader reads a partial grade from text/plain; keep it
        self.truncated = True
        plain = _text(data.get("text/plain"))
        out = copy.copy(output)
        out["data"] = {}
        if plain:
            if _is_number(plain) or _bytes(plain) <= 1_000:
                out["data"]["text/plain"] = plain
            else:
                head, _ = _cut(plain, max(self.left_bytes, 1_000), max(self.left_lines, 20))
                out["data"]["text/plain"] = head + ("" if head.endswith("\n") else "\n") + _marker().rstrip("\n")
        self.dropped_bytes += size - _data_size(out["data"])
        self.used_bytes += _data_size(out["data"])
        return out


def truncate_outputs(nb: Any, max_bytes: int = 100_000, max_lines: int = 2_000) -> tuple[Any, list[dict]]:
    """A copy of notebook ``nb`` whose code cells keep at most ``max_bytes``/``max_lines`` of output each.

    Pure: ``nb`` is not modified.  Where a cell's output was cut, one marker
    line starting with :data:`TRUNCATION_MARKER` says how many lines and
    bytes (and outputs) are not shown.  The grade nbgrader derives from a
    cell's outputs is unchanged (see :class:`OutputBudget`).  Returns the new
    notebook and one entry per truncated cell:
    ``{"cell": index, "dropped_lines", "dropped_bytes", "dropped_outputs"}``.
    """
    new = copy.copy(nb)
    new["cells"] = list(nb.get("cells", []))
    report = []
    for index, cell in enumerate(new["cells"]):
        if cell.get("cell_type") != "code" or not cell.get("outputs"):
            continue
        budget = OutputBudget(max_bytes, max_lines)
        outs = []
        marker_at = None
        for output in cell["outputs"]:
            before = budget.truncated
            kept = budget.admit(output)
            if kept is not None:
                outs.append(kept)
            if budget.truncated and not before:
                in_stream = kept is not None and kept.get("output_type") == "stream"
                if in_stream and _text(kept.get("text")).endswith(_marker()):
                    marker_at = ("in", len(outs) - 1)
                else:
                    marker_at = ("before", len(outs) - (1 if kept is not None else 0))
        if not budget.truncated:
            continue
        final = _marker(budget.dropped_lines, budget.dropped_bytes, budget.dropped_outputs)
        if marker_at and marker_at[0] == "in":
            out = outs[marker_at[1]]
            out["text"] = _text(out["text"])[: -len(_marker())] + final
        elif marker_at:
            outs.insert(marker_at[1], _new_stream("stdout", final, cell))
        new_cell = copy.copy(cell)
        new_cell["outputs"] = outs
        new["cells"][index] = new_cell
        report.append({"cell": index, "dropped_lines": budget.dropped_lines,
                       "dropped_bytes": budget.dropped_bytes, "dropped_outputs": budget.dropped_outputs})
    return new, report


def _new_stream(name: str, text: str, like: Any) -> Any:
    out = {"output_type": "stream", "name": name, "text": text}
    try:  # an nbformat NotebookNode when the notebook is one
        from nbformat import NotebookNode

        if isinstance(like, NotebookNode):
            return NotebookNode(out)
    except Exception:
        pass
    return out


# ------------------------------------------------------------------ self-check

def _probe(hidden: list[str], readonly: list[str], interp: list[str]) -> list[str]:
    """Run as a grading user: what it can see/do that it should not, or cannot that it must."""
    bad = []
    for p in hidden:
        try:
            if os.path.isdir(p):
                os.listdir(p)
            else:
                os.close(os.open(p, os.O_RDONLY))
            bad.append(f"grading user can read hidden path {p}")
        except PermissionError:
            pass
        except FileNotFoundError:
            pass
    for p in readonly + interp:
        try:
            if os.path.isdir(p):
                os.listdir(p)
            else:
                os.close(os.open(p, os.O_RDONLY))
        except OSError as exc:
            hint = ""
            if p in interp:
                hint = (" (the kernel cannot import standard-library modules the zygote did not preload;"
                        " make the interpreter's folders and their ancestors o+rx, e.g. chmod o+x on a"
                        " 0700 home directory, or install Python outside it)")
            bad.append(f"grading user cannot read {p}: {exc.strerror}{hint}")
            continue
        if p in readonly:
            target = os.path.join(p, ".sandbox-write-probe") if os.path.isdir(p) else p
            flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL) if os.path.isdir(p) else os.O_WRONLY | os.O_APPEND
            try:
                os.close(os.open(target, flags, 0o600))
                bad.append(f"grading user can write {target}")
                try:
                    os.unlink(target)
                except OSError:
                    pass
            except OSError:
                pass
    return bad


def self_check(repo_root: str | os.PathLike, course_root: str | os.PathLike | None = None,
               users: int = 1, apply: bool = False, base: str | os.PathLike | None = None) -> list[str]:
    """Check (and with ``apply`` set up) the sandbox for ``repo_root``; return the problems found.

    As root: creates the grading users, protects the hidden paths when
    ``apply``, checks permissions of the read-only trees, then probes from a
    child running as ``<prefix>0`` that the hidden paths are unreadable,
    the read-only ones and the interpreter's library readable but not
    writable.  Not root: one line saying that kernels run as the grader's
    own user and what that leaves unprotected.
    """
    problems: list[str] = []
    hidden = default_hidden_paths(repo_root, course_root)
    readonly = default_readonly_paths(repo_root)
    accounts = ensure_grading_users(users)
    if accounts is None:
        return ["not root: kernels would run as the grader's own user; files, gradebook and other"
                " processes of that user are not protected (see grader/SANDBOX.md)"]
    if apply:
        report = protect_paths(hidden, readonly, [u.gid for u in accounts])
        problems += report.problems
    else:
        problems += check_readonly(readonly)
    base_dir = Path(base) if base else Path(tempfile.mkdtemp(prefix="bpsandbox-check-"))
    if not base:
        os.chmod(base_dir, 0o711)
    wd = make_workdir(base_dir, (), accounts[0].uid, accounts[0].gid)
    try:
        res = run_in_child(_probe, [str(p) for p in hidden if p.exists()],
                           [str(p) for p in readonly if p.exists()],
                           [str(p) for p in interpreter_paths()],
                           workdir=wd, uid=accounts[0].uid, gid=accounts[0].gid,
                           limits=Limits(cpu_seconds=60), timeout=60)
        if res.error:
            problems.append(f"probe failed: {res.error}")
        else:
            problems += res.value or []
        reap(accounts[0].uid, accounts[0].gid)
    finally:
        cleanup_workdir(wd)
        if not base:
            shutil.rmtree(base_dir, ignore_errors=True)
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m grader.sandbox check [--apply] [--course DIR] [--users N]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m grader.sandbox",
                                     description="Check the grading sandbox of this repository.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    check = sub.add_parser("check", help="report what grading kernels could read or change")
    check.add_argument("--repo", default=str(Path(__file__).resolve().parents[2]))
    check.add_argument("--course", default=None, help="course directory (gradebook, submissions) to hide")
    check.add_argument("--users", type=int, default=1)
    check.add_argument("--apply", action="store_true", help="chmod o-rwx the hidden paths")
    args = parser.parse_args(argv)
    print(f"limits: {Limits.from_env().describe()}")
    problems = self_check(args.repo, args.course, args.users, args.apply)
    for line in problems:
        print(f"problem: {line}")
    print("sandbox check: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0



def grant_search(paths: Iterable[str | os.PathLike]) -> ProtectionReport:
    """Let other users *enter* (``o+x``, never list) every ancestor folder of ``paths`` that they cannot.

    The interpreter a grading kernel runs may live under a private home
    (``/root/.pyenv`` with ``/root`` 0700): the kernel, running as a grading
    user, then cannot import what the zygote did not preload.  Only the
    search bit is added, only on folders, and ``restore()`` of the returned
    report takes it away again.
    """
    report = ProtectionReport()
    done: set[str] = set()
    for raw in paths:
        path = Path(os.path.realpath(raw))
        for p in [*reversed(path.parents), path]:
            key = str(p)
            if key in done:
                continue
            done.add(key)
            try:
                st = os.stat(p)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_IXOTH:
                new = st.st_mode | stat.S_IXOTH
                os.chmod(p, stat.S_IMODE(new))
                report.changed.append((key, st.st_mode, new))
    return report


#: Where concurrent grader runs on one machine claim their grading users (root-only).
USER_LOCK_DIR = "/run/bpgrader-users"
#: The most grading users a machine hands out (to concurrent runs and workers in all).
MAX_GRADING_USERS = 64


class ClaimedUsers:
    """Grading users held by this process: no other grader run on the machine may use (or reap) them.

    Each user ``bpgrade<i>`` is claimed by an exclusive ``flock`` on
    ``/run/bpgrader-users/<i>.lock`` (a root-only folder); the lock dies with
    the process, so a killed run frees its users.  :meth:`release` frees them.
    """

    def __init__(self, users: list[GradingUser], fds: list[int]):
        self.users, self._fds = users, fds

    def release(self) -> None:
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []


def claim_grading_users(n: int, prefix: str = USER_PREFIX, lock_dir: str = USER_LOCK_DIR,
                        limit: int = MAX_GRADING_USERS) -> ClaimedUsers | None:
    """Claim ``n`` grading users no other grader process holds (creating them when needed); None when not root."""
    import fcntl

    if not is_root():
        return None
    os.makedirs(lock_dir, mode=0o700, exist_ok=True)
    os.chmod(lock_dir, 0o700)
    taken: list[int] = []
    fds: list[int] = []
    for i in range(limit):
        fd = os.open(os.path.join(lock_dir, f"{i}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        taken.append(i)
        fds.append(fd)
        if len(taken) == n:
            break
    if len(taken) < n:
        for fd in fds:
            os.close(fd)
        raise SandboxError(f"need {n} grading users, but only {len(taken)} of {prefix}0..{prefix}{limit - 1} "
                           f"are free (other grader runs hold the rest)")
    everyone = ensure_grading_users(max(taken) + 1, prefix) or []
    return ClaimedUsers([everyone[i] for i in taken], fds)
