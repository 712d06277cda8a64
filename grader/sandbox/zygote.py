"""A pre-warmed kernel factory: the one place where grading kernels are launched.

Starting an IPython kernel and importing numpy, matplotlib, scikit-learn and
``course_lib`` costs seconds per notebook; the grading itself often costs
less.  The zygote pays that once: it is a process that has already imported
all of it (with one BLAS thread, no threads of its own) and that *forks* a
fresh kernel for each notebook, so every student still gets a new process
with no state shared with anyone else.

How a kernel is started:

1. The grader registers the kernelspec ``grader-zygote`` (in a private
   ``JUPYTER_PATH`` folder, see :meth:`Zygote.kernel_env`) whose argv runs
   ``grader/sandbox/kernel_launcher.py`` with the connection file.
2. nbclient/jupyter_client start the launcher as if it were the kernel.  The
   launcher connects to the zygote's unix socket and sends its argv, working
   directory and environment.
3. The zygote forks.  The child becomes a session leader, dies with the
   zygote (PR_SET_PDEATHSIG), takes the launcher's environment and directory,
   reseeds its random generators and runs ``IPKernelApp`` on the connection
   file.
4. The zygote tells the launcher the kernel's pid, later its exit status; it
   kills the kernel's process group when the launcher disconnects (e.g. it was
   SIGKILLed by jupyter_client) and kills every kernel when it is stopped or
   its parent dies (its stdin closes).

Containment: in :func:`_become_kernel` the child applies what the worker put
in the launch environment before any student code: its cgroup and its own
network and mount namespaces (``grader.sandbox.isolation``), then the grading uid,
rlimits and workdir (``grader.sandbox``).  The zygote never imports
``course_lib`` or the checks, so no kernel inherits them.
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import IO

KERNEL_NAME = "grader-zygote"
LAUNCHER = Path(__file__).resolve().with_name("kernel_launcher.py")
PR_SET_PDEATHSIG = 1

#: Imported once by the zygote, inherited by every kernel.
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.comm",
    "ipykernel.debugger",  # imports debugpy: ~0.4 s per kernel otherwise
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "tornado.gen",
    "tornado.locks",
    "tornado.queues",
    "tornado.platform.asyncio",
    "sqlite3",
    "pdb",
    "code",
    "http.server",
    "xmlrpc.client",
    "xmlrpc.server",
    "mimetypes",
    "encodings.idna",
    "encodings.latin_1",
    "IPython.core.interactiveshell",
    "IPython.core.completer",
    "jupyter_client.session",
    "zmq.eventloop.zmqstream",
    "tornado.ioloop",
    "numpy",
    "numpy.linalg",
    "numpy.random",
    "scipy",
    "matplotlib",
    "matplotlib.pyplot",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "matplotlib.patches",
    "matplotlib.ticker",
    "threadpoolctl",
    "matplotlib_inline.backend_inline",
    "sklearn",
    "sklearn.datasets",
    "sklearn.model_selection",
    "grader.sandbox",
    "grader.sandbox.isolation",
    "grader.protocol",  # the agent that answers the checker's requests in every kernel
)


_PRELOADED: set[str] = set()
_FORK_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


class ZygoteError(RuntimeError):
    """The zygote could not be started or reached."""


# ---------------------------------------------------------------- zygote side


def _prctl_pdeathsig(sig: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except Exception:
        pass


def _set_process_name(name: bytes) -> None:
    """What ``ps -o comm`` and ``top`` show (forked kernels otherwise look like the zygote)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(15, ctypes.c_char_p(name[:15]), 0, 0, 0)  # PR_SET_NAME
    except Exception:
        pass


def _preload(log: IO[str]) -> list[str]:
    """Import :data:`PRELOAD`; return what failed.

    Never ``course_lib``, ``grader.checks`` nor ``grader.pipeline``: a kernel
    imports course_lib itself, from the stubbed copy its mount namespace shows
    for the lesson (grader.sandbox.isolation), and neither the checks' code nor
    the instructor pipeline's may be in its memory.
    """
    import importlib

    failed = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional module only costs speed
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    leaked = [m for m in sys.modules
              if m in ("course_lib", "grader.checks", "grader.pipeline")
              or m.startswith(("course_lib.", "grader.checks.", "grader.pipeline."))]
    if leaked:
        raise ZygoteError(f"the zygote must not import {leaked}: kernels would inherit them")
    try:
        _warm_up()
    except Exception as exc:
        failed.append(f"warm-up: {type(exc).__name__}: {exc}")
    for line in failed:
        log.write(f"zygote: could not preload {line}\n")
    _PRELOADED.update(sys.modules)
    return failed


def _warm_up() -> None:
    """Fill the caches every kernel would fill on its first figure and first matrix.

    Font files, text layout and mathtext parsing of matplotlib, numpy's
    linear-algebra dispatch: pure caches, no state a notebook can see (the
    figure is closed, pyplot has no figures left).
    """
    import numpy as np

    a = np.arange(12.0).reshape(3, 4)
    np.linalg.norm(a @ a.T)
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1], label="a")
        ax.set_title(r"warm-up $\alpha^2$")
        ax.set_xlabel("x")
        ax.legend()
        fig.tight_layout()
        fig.canvas.draw()
        plt.close("all")


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _become_kernel(request: dict, inherited_fds: list[int]) -> None:
    """In the forked child: turn into a fresh IPython kernel for ``request``. Never returns."""
    code = 1
    try:
        for fd in inherited_fds:
            if fd > 2:
                try:
                    os.close(fd)
                except OSError:
                    pass
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)  # the zygote's stdin is the grader's pipe: not ours
        os.close(devnull)
        os.setsid()
        _prctl_pdeathsig(signal.SIGKILL)
        _set_process_name(b"grader-kernel")
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a new Python process
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORK_SIGNALS)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        # The sandbox the worker asked for (grader.sandbox.execute): fail closed, before any student code.
        from grader.sandbox import KernelSandbox

        spec = KernelSandbox.from_env(request["env"])
        if spec is not None:
            request["argv"] = spec.stage(request["argv"])  # still root: the uid must be able to read it
            box = request["env"].get("GRADER_KERNEL_ISOLATION")
            if box:  # its own cgroup, network and mount namespaces (fail closed: an error ends the child)
                import json

                from grader.sandbox import isolation

                box = json.loads(box)
                isolation.join_cgroup(box["cgroup"], box.get("memory"), box.get("pids"))
                isolation.enter(box["workdir"], box.get("hide", []), box.get("keep", []), box.get("writable", []),
                                box.get("stubs"), box.get("course_lib"), int(box.get("tmpfs_bytes") or 64 << 20))
                os.environ.pop("GRADER_KERNEL_ISOLATION", None)
            spec.apply()  # uid, rlimits, fds, umask, workdir

        import random

        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        sys.argv = ["ipykernel_launcher", *request["argv"]]

        from ipykernel.kernelapp import IPKernelApp

        t_fork = time.monotonic()
        app = IPKernelApp.instance()
        if os.environ.get("GRADER_ZYGOTE_PROFILE"):
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.runcall(app.initialize, request["argv"])
            pstats.Stats(prof, stream=sys.__stderr__).sort_stats("cumulative").print_stats(40)
        else:
            app.initialize(request["argv"])
        if os.environ.get("GRADER_ZYGOTE_TIMING"):
            sys.__stderr__.write(f"zygote-timing: pid {os.getpid()} initialize {time.monotonic() - t_fork:.3f} s\n")
            sys.__stderr__.write(f"zygote-imported: {sorted(set(sys.modules) - _PRELOADED)}\n")
            sys.__stderr__.flush()
        # ipykernel chose the matplotlib backend through MPLBACKEND after
        # matplotlib was imported: apply it as a fresh import would have.
        backend = os.environ.get("MPLBACKEND")
        if backend and "matplotlib" in sys.modules:
            sys.modules["matplotlib"].rcParams["backend"] = backend
        app.start()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        os._exit(code)


class _Kernel:
    def __init__(self, conn: socket.socket, pid: int, pidfd: int):
        self.conn, self.pid, self.pidfd = conn, pid, pidfd
        self.launcher_gone = False


def serve(socket_path: str, log: IO[str]) -> None:
    """Run the zygote: preload, then fork a kernel per launcher request until stdin closes."""
    _prctl_pdeathsig(signal.SIGTERM)
    failed = _preload(log)
    # Everything imported so far lives as long as every kernel: keep it out of
    # the garbage collector's scans (and its copy-on-write page touching).
    import gc

    gc.collect()
    gc.freeze()
    threads = _thread_count()
    if threads != 1:
        log.write(f"zygote: warning: {threads} threads after preloading; forking may be unsafe\n")

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, ("accept", None))
    sel.register(sys.stdin, selectors.EVENT_READ, ("parent", None))
    kernels: dict[int, _Kernel] = {}
    pending: dict[int, bytearray] = {}

    def stop(_signum=None, _frame=None):
        raise SystemExit(0)

    # Orphans of kernels (a fork bomb's children, a double fork) become ours,
    # so that we reap them the moment they are killed: a zombie still counts
    # against its grading user's process limit, i.e. against the next notebook.
    try:
        from grader.sandbox import set_child_subreaper

        set_child_subreaper()
    except Exception as exc:
        log.write(f"zygote: cannot become a subreaper ({exc}); orphaned zombies are left to init\n")

    def reap_orphans() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            kernel = kernels.get(pid)
            if kernel is not None:  # a kernel's exit, found before its pidfd event
                finish(kernel, os.waitstatus_to_exitcode(status))

    signal.signal(signal.SIGTERM, stop)
    sys.stdout.write(json.dumps({"ready": True, "pid": os.getpid(), "preload_failed": failed}) + "\n")
    sys.stdout.flush()
    # From now on nobody reads our stdout pipe: send fd 1 (inherited by every
    # kernel) to the log, so that nothing can block on a full pipe.
    os.dup2(sys.stderr.fileno(), 1)

    def finish(kernel: _Kernel, status: int | None) -> None:
        for obj in (kernel.conn, kernel.pidfd):
            try:
                sel.unregister(obj)
            except (KeyError, ValueError):
                pass
        if status is not None and not kernel.launcher_gone:
            try:
                kernel.conn.sendall(json.dumps({"exit": status}).encode() + b"\n")
            except OSError:
                pass
        kernel.conn.close()
        os.close(kernel.pidfd)
        kernels.pop(kernel.pid, None)

    try:
        while True:
            events = sel.select(timeout=0.1)
            reap_orphans()
            for key, _ in events:
                tag, obj = key.data
                if tag == "accept":
                    conn, _ = listener.accept()
                    pending[conn.fileno()] = bytearray()
                    sel.register(conn, selectors.EVENT_READ, ("request", conn))
                elif tag == "parent":
                    if not os.read(sys.stdin.fileno(), 4096):
                        return  # the grader is gone: stop (kills every kernel below)
                elif tag == "request":
                    conn = obj
                    try:
                        data = conn.recv(1 << 20)
                    except OSError:
                        data = b""
                    buf = pending[conn.fileno()]
                    if not data:
                        sel.unregister(conn)
                        pending.pop(conn.fileno(), None)
                        conn.close()
                        continue
                    buf += data
                    if b"\n" not in buf:
                        continue
                    sel.unregister(conn)
                    pending.pop(conn.fileno(), None)
                    try:
                        request = json.loads(bytes(buf).split(b"\n", 1)[0])
                        if not isinstance(request.get("argv"), list) or not isinstance(request.get("env"), dict):
                            raise ValueError("expected argv (list), cwd and env (dict)")
                    except (ValueError, AttributeError) as exc:
                        log.write(f"zygote: bad request ({exc}); connection closed\n")
                        conn.close()
                        continue
                    inherited = [k.fd for k in sel.get_map().values()] + [conn.fileno()]
                    inherited += [k.pidfd for k in kernels.values()]
                    # A signal must not run the zygote's handlers in the child
                    # (they would clean up the zygote's kernels from there):
                    # blocked across fork, the child unblocks it once its own
                    # handlers are in place.
                    signal.pthread_sigmask(signal.SIG_BLOCK, _FORK_SIGNALS)
                    pid = os.fork()
                    if pid == 0:
                        sel_fd = sel.fileno() if hasattr(sel, "fileno") else None
                        _become_kernel(request, inherited + ([sel_fd] if sel_fd is not None else []))
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORK_SIGNALS)
                    pidfd = os.pidfd_open(pid)
                    kernel = _Kernel(conn, pid, pidfd)
                    kernels[pid] = kernel
                    sel.register(pidfd, selectors.EVENT_READ, ("exit", kernel))
                    sel.register(conn, selectors.EVENT_READ, ("launcher", kernel))
                    try:
                        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                    except OSError:
                        kernel.launcher_gone = True
                        _kill_group(pid)
                elif tag == "launcher":
                    kernel = obj
                    if kernel.pid not in kernels:
                        continue  # finished (and its connection closed) by reap_orphans
                    try:
                        data = kernel.conn.recv(4096)
                    except OSError:
                        data = b""
                    if not data:  # launcher gone (killed): the kernel goes too
                        kernel.launcher_gone = True
                        sel.unregister(kernel.conn)
                        _kill_group(kernel.pid)
                elif tag == "exit":
                    kernel = obj
                    if kernel.pid not in kernels:
                        continue  # already reaped by reap_orphans
                    try:
                        _, status = os.waitpid(kernel.pid, 0)
                    except ChildProcessError:
                        continue
                    finish(kernel, os.waitstatus_to_exitcode(status))
    finally:
        for kernel in list(kernels.values()):
            _kill_group(kernel.pid)
            try:
                os.waitpid(kernel.pid, 0)
            except ChildProcessError:
                pass
        try:
            os.unlink(socket_path)
        except OSError:
            pass


def _kill_group(pid: int) -> None:
    """SIGKILL a kernel and everything it started (it leads its own session)."""
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass


# ---------------------------------------------------------------- grader side


class Zygote:
    """Start and stop a zygote process, and describe its kernelspec.

    Use as a context manager::

        with Zygote(workdir) as z:
            env = z.kernel_env()          # for processes that run nbclient
            ... Execute(kernel_name=KERNEL_NAME) ...
    """

    def __init__(self, workdir: Path | str | None = None, env: dict | None = None):
        self._own_tmp = None
        if workdir is None:
            self._own_tmp = tempfile.TemporaryDirectory(prefix="grader-zygote-")
            workdir = self._own_tmp.name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        # unix socket paths are limited to ~107 bytes: keep it in a short temp dir
        self._sock_dir = tempfile.mkdtemp(prefix="gz-")
        self.socket_path = os.path.join(self._sock_dir, "zygote.sock")
        self.jupyter_path = self.workdir / "jupyter"
        self.log_path = self.workdir / "zygote.log"
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}

    def write_kernelspec(self) -> Path:
        """Write ``<workdir>/jupyter/kernels/grader-zygote/kernel.json``."""
        folder = self.jupyter_path / "kernels" / KERNEL_NAME
        folder.mkdir(parents=True, exist_ok=True)
        spec = {
            "argv": [
                sys.executable, "-I", "-S", str(LAUNCHER),
                "-f", "{connection_file}", "--HistoryManager.hist_file=:memory:",
            ],
            "display_name": "Python 3 (grader, pre-warmed)",
            "language": "python",
            "env": {"GRADER_ZYGOTE_SOCKET": self.socket_path},
            "metadata": {"debugger": False},
        }
        (folder / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
        return folder

    def start(self, timeout: float = 120.0) -> Zygote:
        """Start the zygote and wait until it has preloaded and listens."""
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> Zygote:
        """Start the zygote process without waiting for it (see :meth:`wait_ready`)."""
        from ..pipeline.course import notebook_env

        self.write_kernelspec()
        env = dict(self.env) if self.env is not None else notebook_env()
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            # as the standard python3 kernelspec runs ipykernel
            [sys.executable, "-Xfrozen_modules=off", "-m", "grader.sandbox.zygote", self.socket_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=str(self.workdir),
        )
        log.close()
        return self

    def wait_ready(self, timeout: float = 120.0) -> Zygote:
        """Wait until the launched zygote has preloaded and listens."""
        if self.info:
            return self
        if self.proc is None:
            raise ZygoteError("the zygote was not launched")
        deadline = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                self.stop()
                raise ZygoteError(f"the zygote did not start within {timeout:.0f} s; see {self.log_path}")
            line = self.proc.stdout.readline()
            if not line:
                code = self.proc.wait()
                raise ZygoteError(f"the zygote exited with {code} while starting; see {self.log_path}")
            try:
                self.info = json.loads(line)
                break
            except ValueError:
                continue
        return self

    def kernel_env(self) -> dict[str, str]:
        """Environment entries that make :data:`KERNEL_NAME` resolvable."""
        paths = [str(self.jupyter_path), os.environ.get("JUPYTER_PATH", "")]
        return {"JUPYTER_PATH": os.pathsep.join(p for p in paths if p)}

    def stop(self) -> None:
        """Stop the zygote; every kernel it forked dies with it."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        try:
            os.unlink(self.socket_path)
        except OSError:
            pass
        try:
            os.rmdir(self._sock_dir)
        except OSError:
            pass
        if self._own_tmp is not None:
            self._own_tmp.cleanup()
            self._own_tmp = None

    def __enter__(self) -> Zygote:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m grader.sandbox.zygote SOCKET``: run a zygote (started by :class:`Zygote`)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m grader.sandbox.zygote SOCKET_PATH\n")
        return 2
    serve(args[0], sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
