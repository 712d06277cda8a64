"""Kernel launcher of the ``grader-zygote`` kernelspec (standard library only).

jupyter_client starts this script as "the kernel process"
(``python -I -S kernel_launcher.py -f CONNECTION_FILE ...``).  It asks the
zygote (``grader.sandbox.zygote``), over the unix socket named by
``GRADER_ZYGOTE_SOCKET``, to fork a fresh, pre-warmed IPython kernel with this
process's arguments, working directory and environment, then:

* forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to the forked kernel;
* exits with the kernel's exit status when the zygote reports it;
* when this launcher dies (even by SIGKILL), its socket closes and the zygote
  kills the kernel; when the process that started this launcher dies, the
  launcher is killed too (PR_SET_PDEATHSIG).

Kept free of third-party imports and started with ``-I -S`` so that it costs
a few milliseconds, not an interpreter's worth of imports.
"""
import json
import os
import signal
import socket
import sys

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # not Linux: the zygote still kills the kernel on disconnect
        pass


def main(argv: list) -> int:
    _die_with_parent()
    path = os.environ.get("GRADER_ZYGOTE_SOCKET")
    if not path:
        sys.stderr.write("grader kernel launcher: GRADER_ZYGOTE_SOCKET is not set\n")
        return 2
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sys.stderr.write(f"grader kernel launcher: cannot reach the zygote at {path}: {exc}\n")
        return 2
    request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
    sock.sendall(json.dumps(request).encode("utf-8") + b"\n")
    replies = sock.makefile("rb")

    first = replies.readline()
    if not first:
        sys.stderr.write("grader kernel launcher: the zygote closed the connection\n")
        return 2
    pid = json.loads(first)["pid"]

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, forward)

    line = replies.readline()
    if not line:  # the zygote died: the kernel died with it
        return 1
    code = int(json.loads(line)["exit"])
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
