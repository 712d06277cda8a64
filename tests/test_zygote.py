"""The pre-warmed kernel factory: fresh kernels, exit status relayed, no orphans."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.connect import write_connection_file
from nbclient import NotebookClient

from grader.pipeline.course import notebook_env
from grader.sandbox.zygote import KERNEL_NAME, LAUNCHER, Zygote

pytestmark = pytest.mark.skipif(not Path("/proc/self").exists(), reason="Linux only")


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    with Zygote(tmp_path_factory.mktemp("zygote")) as z:
        yield z


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _launch(zygote, tmp_path):
    conn, _ = write_connection_file(str(tmp_path / "kernel.json"))
    env = dict(os.environ, GRADER_ZYGOTE_SOCKET=zygote.socket_path)
    before = set(_children(zygote.info["pid"]))
    launcher = subprocess.Popen([sys.executable, "-I", "-S", str(LAUNCHER), "-f", conn], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert _wait(lambda: set(_children(zygote.info["pid"])) - before), "the zygote forked no kernel"
    (kernel,) = set(_children(zygote.info["pid"])) - before
    return launcher, kernel


def test_killing_the_launcher_kills_its_kernel(zygote, tmp_path):
    launcher, kernel = _launch(zygote, tmp_path)
    assert _alive(kernel)
    launcher.kill()
    launcher.wait()
    assert _wait(lambda: not _alive(kernel)), f"kernel {kernel} outlived its launcher"


def test_launcher_relays_the_kernel_exit_status(zygote, tmp_path):
    launcher, kernel = _launch(zygote, tmp_path)
    os.kill(kernel, signal.SIGTERM)
    assert launcher.wait(timeout=30) == 128 + signal.SIGTERM


def test_a_bad_request_does_not_stop_the_zygote(zygote, tmp_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(zygote.socket_path)
        s.sendall(b"this is not json\n")
        assert s.recv(100) == b""  # closed
    launcher, kernel = _launch(zygote, tmp_path)
    launcher.kill()
    launcher.wait()


def test_every_notebook_gets_a_fresh_kernel(zygote, tmp_path, monkeypatch):
    for key, value in {**notebook_env(), **zygote.kernel_env()}.items():
        monkeypatch.setenv(key, value)
    tamper = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, numpy as np, course_lib\n"
        "np.allclose = lambda *a, **k: True\n"
        "course_lib.TAMPERED = True\n"
        "secret = 42\n"
        "print(os.getpid())"
    )])
    probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, numpy as np, course_lib\n"
        "print(os.getpid(), np.allclose([0.0], [1.0]), hasattr(course_lib, 'TAMPERED'), 'secret' in globals())"
    )])
    for nb in (tamper, probe):
        NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=60,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    first_pid = tamper.cells[0].outputs[0]["text"].split()[0]
    pid, allclose, tampered, secret = probe.cells[0].outputs[0]["text"].split()
    assert pid != first_pid
    assert (allclose, tampered, secret) == ("False", "False", "False")
