"""Every grading kernel alone: its own network and mount namespaces and a cgroup over its process tree.

Applied by the zygote in the forked kernel, as root, before the grading uid
is taken (``grader.sandbox.prepare_child``) and before any student code:

* **Network** (``CLONE_NEWNET``): the kernel has only a loopback interface,
  down: no connection anywhere, not even to another kernel's ports.  Its
  channels to the worker are unix sockets in its own 0700 workdir
  (jupyter's ``ipc`` transport), reachable by no other grading user.
* **Mounts** (``CLONE_NEWNS``, private propagation): every world-writable
  folder (``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/run/lock``, ... found once
  by :func:`world_writable_dirs`) is a fresh tmpfs of ``tmpfs_bytes``; the
  repository (solutions, tests, the grader's checks, ``.git``), the course
  folder and every other hidden path are covered by an empty read-only
  tmpfs; only the virtualenv, the workdir and a *stubbed* ``course_lib`` are
  mounted back.  Every other mount is read-only (``mount_setattr``,
  recursive), so the kernel writes only to its workdir and its private tmpfs
  folders.  Everything disappears with the kernel's last process.
* **Delegation by running**: the stubbed ``course_lib`` (:func:`write_stubs`)
  is course_lib with the lesson's own exercise answers (``references.json``)
  replaced by functions and methods that raise
  :class:`ReferenceUnavailable`.  Import, alias, subclass, ``exec`` of the
  file: every route reaches the stub, because the original file is not in the
  kernel's file system view and was never imported by the zygote.
* **cgroup** (v1 ``memory``, ``pids``, ``cpu`` controllers, or v2): memory,
  process count and CPU share over the kernel *and all its children*,
  in a group named after the workdir, removed by :func:`remove_cgroup`.

Uses ``ctypes`` for ``unshare(2)`` and ``mount(2)`` (Python 3.11 has no
``os.unshare``).  Tools such as bubblewrap do the same from a new process, but
a grading kernel is forked from a pre-warmed zygote (about 0.5 s instead of 3 s
per notebook), which a wrapper that execs a program cannot do.
"""
from __future__ import annotations

import ast
import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import signal
import stat
import time
from collections.abc import Iterable
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.syscall.restype = ctypes.c_long
# open_tree(2) / move_mount(2) (Linux >= 5.2; the same numbers on every architecture): a bind mount that
# survives covering its source, which the old mount(MS_BIND) from a path or fd cannot do
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
AT_FDCWD = -100
OPEN_TREE_CLONE = 1
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
# mount_setattr(2) (Linux >= 5.12): read-only over a whole tree of mounts in one call
SYS_MOUNT_SETATTR = 442
MOUNT_ATTR_RDONLY = 0x1


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NAME = "bpgrader"


class IsolationError(RuntimeError):
    """A namespace, mount or cgroup step failed: the kernel must not run."""


class ReferenceUnavailable(RuntimeError):
    """Raised by course_lib's answer to the exercise being graded (it is not available while grading)."""


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise IsolationError(f"{what}: {os.strerror(err)} (errno {err})")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None,
                       flags, data.encode() if data else None), f"mount {source or fstype} on {target}")


def available() -> str | None:
    """None when namespaces can be created here (root, kernel support), else the reason."""
    if os.geteuid() != 0:
        return "not root"
    pid = os.fork()
    if pid == 0:
        code = 0 if _libc.unshare(CLONE_NEWNS | CLONE_NEWNET) == 0 else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return None if os.waitstatus_to_exitcode(status) == 0 else "unshare(CLONE_NEWNS | CLONE_NEWNET) is not permitted"


# ------------------------------------------------------------------ world-writable places
_SKIP = ("/proc", "/sys", "/dev/pts")


def world_writable_dirs(roots: Iterable[str] = ("/",), depth: int = 3) -> list[str]:
    """Folders (to ``depth`` levels) that any user may write to: each becomes a private tmpfs."""
    found: list[str] = []

    def walk(path: str, level: int) -> None:
        try:
            entries = list(os.scandir(path))
        except OSError:
            return
        for entry in entries:
            full = entry.path
            if full.startswith(_SKIP):
                continue
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if mode & stat.S_IWOTH:
                found.append(full)
                continue  # a tmpfs covers everything below
            if level < depth:
                walk(full, level + 1)

    for root in roots:
        walk(root, 1)
    return sorted(set(found))


# ------------------------------------------------------------------ in the forked kernel
def enter(workdir: str, hide: Iterable[str], keep: Iterable[str], writable: Iterable[str],
          stubs: str | None, course_lib_dir: str | None, tmpfs_bytes: int = 64 * 1024 * 1024) -> None:
    """Unshare network and mounts, then lay out the kernel's view of the file system (see the module doc).

    Args:
        workdir: the kernel's folder (stays reachable even when under a covered place).
        hide: folders covered by an empty read-only tmpfs (the repository, the course).
        keep: folders inside hidden ones that are mounted back read-only (the virtualenv).
        writable: world-writable folders, each replaced by a private tmpfs.
        stubs: a folder holding the stubbed ``course_lib`` for this lesson (None: course_lib unchanged).
        course_lib_dir: where ``course_lib`` is imported from.
    """
    keep = [k for k in keep if os.path.isdir(k)]
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)

    def clone(path: str) -> int:
        fd = _libc.syscall(SYS_OPEN_TREE, ctypes.c_int(AT_FDCWD), path.encode(),
                           ctypes.c_uint(OPEN_TREE_CLONE | AT_RECURSIVE | os.O_CLOEXEC))
        if fd < 0:
            err = ctypes.get_errno()
            raise IsolationError(f"open_tree {path}: {os.strerror(err)} (errno {err})")
        return int(fd)

    fds = {path: clone(path) for path in {workdir, *keep}}
    stub_fd = clone(os.path.join(stubs, "course_lib")) if stubs else None
    # Everything read-only (the clones above keep their own flags); what is mounted from here on is the
    # kernel's only writable ground: the private tmpfs folders and its workdir.
    attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    ret = _libc.syscall(SYS_MOUNT_SETATTR, ctypes.c_int(AT_FDCWD), b"/", ctypes.c_uint(AT_RECURSIVE),
                        ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    if ret != 0:
        err = ctypes.get_errno()
        raise IsolationError(f"mount_setattr / read-only: {os.strerror(err)} (errno {err})")
    covered: list[str] = []
    for path in writable:
        if os.path.isdir(path) and not os.path.islink(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmpfs_bytes},mode=1777")
            covered.append(path)
    for path in hide:
        if os.path.isdir(path) and not os.path.islink(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=1048576,mode=0755")
            covered.append(path)

    def bind_back(path: str, fd: int, readonly: bool) -> None:
        os.makedirs(path, exist_ok=True)
        ret = _libc.syscall(SYS_MOVE_MOUNT, ctypes.c_int(fd), b"", ctypes.c_int(AT_FDCWD), path.encode(),
                            ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH))
        if ret != 0:
            err = ctypes.get_errno()
            raise IsolationError(f"move_mount onto {path}: {os.strerror(err)} (errno {err})")
        if readonly:
            _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)

    for path in keep:
        if any(path == c or path.startswith(c.rstrip("/") + "/") for c in covered):
            bind_back(path, fds[path], True)
    if stub_fd is not None and course_lib_dir:
        bind_back(course_lib_dir, stub_fd, True)
    bind_back(workdir, fds[workdir], False)  # under a cover, or on the now read-only rest: mounted back writable
    for path in hide:  # nothing may be added to the covers
        if path in covered:
            _mount(None, path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for fd in [*fds.values(), *( [stub_fd] if stub_fd is not None else [])]:
        os.close(fd)


# ------------------------------------------------------------------ stubs: delegation by running
def _stub_module_source(source: str, names: set[str], module: str) -> str:
    """``source`` with the functions/classes/methods in ``names`` (dotted within the module) made to raise."""
    tree = ast.parse(source)

    def message(qual: str) -> str:
        return (f"{module}.{qual} is the course's answer to an exercise of this lesson, so it is not available "
                f"while the lesson is graded: write your own")

    def stub(fn: ast.FunctionDef | ast.AsyncFunctionDef, qual: str) -> None:
        doc = ast.get_docstring(fn)
        fn.body = ([ast.Expr(ast.Constant(doc))] if doc else []) + \
            ast.parse(f"raise ReferenceUnavailable({message(qual)!r})").body
        fn.decorator_list = [d for d in fn.decorator_list
                             if isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod", "property")]

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            stub(node, node.name)
        elif isinstance(node, ast.ClassDef):
            whole = node.name in names
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    qual = f"{node.name}.{item.name}"
                    if whole or qual in names:
                        stub(item, qual)
            if whole:
                has_init = any(isinstance(i, ast.FunctionDef) and i.name == "__init__" for i in node.body)
                if not has_init:
                    init = ast.parse(f"def __init__(self, *args, **kwargs):\n"
                                     f"    raise ReferenceUnavailable({message(node.name)!r})").body[0]
                    node.body.append(init)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in names:
            node.value = ast.parse(f"_reference_unavailable({message(node.targets[0].id)!r})", mode="eval").body
    header = ast.parse(
        "class ReferenceUnavailable(RuntimeError):\n"
        "    \"\"\"This course_lib object answers an exercise of the lesson being graded.\"\"\"\n"
        "def _reference_unavailable(msg):\n"
        "    def stub(*args, **kwargs):\n"
        "        raise ReferenceUnavailable(msg)\n"
        "    return stub\n").body
    insert = 0
    for i, node in enumerate(tree.body):  # after the docstring and `from __future__` imports
        if (i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) or \
                (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            insert = i + 1
    tree.body[insert:insert] = header
    return ast.unparse(ast.fix_missing_locations(tree))


def write_stubs(course_lib_dir: str | os.PathLike, references: Iterable[str], dest: str | os.PathLike) -> Path:
    """Write ``dest/course_lib``: a copy of course_lib whose ``references`` (``course_lib.mod.name[.method]``) raise.

    Returns ``dest``.  Files are world-readable, owned by the caller.
    """
    src, dest = Path(course_lib_dir), Path(dest)
    target = dest / "course_lib"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    by_module: dict[str, set[str]] = {}
    for ref in references:
        parts = ref.split(".")
        if parts[0] != "course_lib" or len(parts) < 3:
            continue
        by_module.setdefault(parts[1], set()).add(".".join(parts[2:]))
    for path in src.glob("*.py"):
        text = path.read_text()
        names = by_module.get(path.stem)
        out = _stub_module_source(text, names, f"course_lib.{path.stem}") if names else text
        (target / path.name).write_text(out)
    for p in [dest, target, *target.iterdir()]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    return dest


def references_of(solutions_dir: str | os.PathLike, lesson: str) -> list[str]:
    """The course_lib names in ``solutions/<lesson>/references.json`` (every exercise)."""
    path = Path(solutions_dir) / lesson / "references.json"
    if not path.exists():
        return []
    return sorted({ref for entry in json.loads(path.read_text()) for ref in entry.get("references", [])})


# ------------------------------------------------------------------ cgroups
def _own_cgroup_v1(controller: str) -> str:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if controller in ctrls.split(","):
                return path
    except OSError:
        pass
    return "/"


def cgroup_version() -> int | None:
    """1 when the v1 memory and pids controllers are mounted, 2 for a unified hierarchy with both, else None."""
    if (CGROUP_ROOT / "memory" / "memory.limit_in_bytes").exists() and (CGROUP_ROOT / "pids").is_dir():
        return 1
    controllers = CGROUP_ROOT / "cgroup.controllers"
    if controllers.exists() and {"memory", "pids"} <= set(controllers.read_text().split()):
        return 2
    return None


def cgroup_dirs(name: str) -> list[Path]:
    """The folders of the kernel group ``name`` (one per v1 controller, or one v2 folder)."""
    version = cgroup_version()
    if version == 1:
        return [CGROUP_ROOT / ctrl / _own_cgroup_v1(ctrl).lstrip("/") / CGROUP_NAME / name
                for ctrl in ("memory", "pids", "cpu") if (CGROUP_ROOT / ctrl).is_dir()]
    if version == 2:
        return [CGROUP_ROOT / CGROUP_NAME / name]
    return []


def join_cgroup(name: str, memory: int | None, pids: int | None, cpus: float | None = 1.0) -> list[str]:
    """Create the group ``name``, set its limits and move this process into it (as root). Returns what was set."""
    done = []
    version = cgroup_version()
    for folder in cgroup_dirs(name):
        folder.mkdir(parents=True, exist_ok=True)
        if version == 2:
            parent = folder.parent
            try:
                (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            except OSError:
                pass
        settings = []
        ctrl = folder.parts[4] if version == 1 else None
        if memory and (version == 2 or ctrl == "memory"):
            settings.append(("memory.max" if version == 2 else "memory.limit_in_bytes", str(memory)))
            if version == 1:
                # Without swap accounting (no memsw file) a v1 limit only caps RAM and the rest goes to swap;
                # swappiness 0 on the group keeps its pages out of swap, so the limit holds either way.
                settings.append(("memory.swappiness", "0"))
                if (folder / "memory.memsw.limit_in_bytes").exists():
                    settings.append(("memory.memsw.limit_in_bytes", str(memory)))
            if version == 2:
                settings.append(("memory.swap.max", "0"))
        if pids and (version == 2 or ctrl == "pids"):
            settings.append(("pids.max", str(pids)))
        if cpus and (version == 2 or ctrl == "cpu"):
            if version == 2:
                settings.append(("cpu.max", f"{int(cpus * 100000)} 100000"))
            else:
                settings += [("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", str(int(cpus * 100000)))]
        for key, value in settings:
            f = folder / key
            if f.exists():
                try:
                    f.write_text(value)
                except OSError:
                    if key == "memory.swappiness":  # a hint; the limit itself must be set or we fail closed
                        continue
                    raise
                done.append(f"{key}={value}")
        (folder / "cgroup.procs").write_text(str(os.getpid()))
    return done


def cgroup_pids(name: str) -> list[int]:
    pids: set[int] = set()
    for folder in cgroup_dirs(name):
        try:
            pids |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
        except OSError:
            pass
    return sorted(pids)


def remove_cgroup(name: str, timeout: float = 5.0) -> list[int]:
    """Kill every process left in the group ``name`` and remove it. Returns the pids that had to be killed."""
    killed = cgroup_pids(name)
    deadline = time.monotonic() + timeout
    left = killed
    while left and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
        left = cgroup_pids(name)
    for folder in cgroup_dirs(name):
        for _ in range(100):
            try:
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    break
                time.sleep(0.02)
    return killed


def memory_peak(name: str) -> int | None:
    """Peak memory of the group (bytes), when the cgroup reports it."""
    for folder in cgroup_dirs(name):
        for key in ("memory.max_usage_in_bytes", "memory.peak"):
            try:
                return int((folder / key).read_text())
            except (OSError, ValueError):
                continue
    return None
