"""Every grading kernel alone (grader/sandbox/isolation.py): namespaces, private tmpfs, hidden repository, stubs, cgroups."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.sandbox import isolation

REPO = Path(__file__).resolve().parent.parent
needs_root = pytest.mark.skipif(isolation.available() is not None, reason=f"namespaces: {isolation.available()}")


def _in_isolated_child(workdir: Path, probe, stubs: str | None = None) -> dict:
    """Fork, enter the kernel's isolation as root, run ``probe() -> dict`` and return its result."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            isolation.enter(str(workdir), hide=[str(REPO)], keep=[str(Path(sys.prefix).resolve())],
                            writable=isolation.world_writable_dirs(), stubs=stubs,
                            course_lib_dir=str(REPO / "course_lib"))
            result = probe()
        except BaseException as exc:  # report, never run on
            result = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(write, json.dumps(result).encode())
        os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    return json.loads(data)


@needs_root
def test_a_kernel_has_no_network_private_world_writable_places_and_sees_no_repository(tmp_path):
    marker = f"bp-isolation-{os.getpid()}"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def probe():
        out = {}
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2)
            out["net"] = "connected"
        except OSError as exc:
            out["net"] = str(exc)
        for place in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
            if os.path.isdir(place):
                Path(place, marker).write_text("left behind?")
        out["tmp"] = os.listdir("/tmp")
        out["repo"] = sorted(os.listdir(REPO))
        out["workdir"] = os.path.isdir(str(tmp_path))
        out["solutions"] = os.path.exists(REPO / "solutions")
        return out

    try:
        result = _in_isolated_child(tmp_path, probe)
    finally:
        listener.close()
    assert "error" not in result, result
    assert result["net"] != "connected"
    assert result["workdir"] and not result["solutions"]
    assert set(result["repo"]) <= {"course_lib", ".venv"}
    assert marker in result["tmp"]
    for place in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
        assert not Path(place, marker).exists(), f"a file written in {place} by a kernel survived it"


@needs_root
def test_delegation_by_running_the_lessons_answers_raise_and_earlier_lessons_work(tmp_path):
    stubs = isolation.write_stubs(REPO / "course_lib", ["course_lib.mlp.mlp_forward", "course_lib.modules.Linear"],
                                  tmp_path / "stubs")

    def probe():
        import importlib

        for name in [m for m in sys.modules if m == "course_lib" or m.startswith("course_lib.")]:
            del sys.modules[name]  # this test process imported the real one before forking; a kernel never has
        out = {}
        mlp = importlib.import_module("course_lib.mlp")
        modules = importlib.import_module("course_lib.modules")
        for name, call in [("mlp_forward", lambda: mlp.mlp_forward(None, [], [])),
                           ("Linear", lambda: modules.Linear(2, 3)),
                           ("subclass", lambda: type("Mine", (modules.Linear,), {})(2, 3)),
                           ("exec", lambda: exec(Path(mlp.__file__).read_text(), {"__name__": "x"}) or
                            "mlp_forward" in Path(mlp.__file__).read_text() and "raise" in Path(mlp.__file__).read_text()),
                           ("Tanh", lambda: type(modules.Tanh()).__name__)]:
            try:
                out[name] = repr(call())
            except Exception as exc:
                out[name] = f"{type(exc).__name__}: {exc}"
        return out

    result = _in_isolated_child(tmp_path, probe, stubs=str(stubs))
    assert "error" not in result, result
    for name in ("mlp_forward", "Linear", "subclass"):
        assert result[name].startswith("ReferenceUnavailable"), (name, result[name])
    assert result["Tanh"] == "'Tanh'"  # not an answer of this lesson: still there


@needs_root
def test_a_cgroup_limits_memory_over_the_whole_process_tree():
    if isolation.cgroup_version() is None:
        pytest.skip("no memory and pids cgroup controllers here")
    name = f"test-{os.getpid()}"
    code = ("import os, sys\n"
            "from grader.sandbox import isolation\n"
            f"isolation.join_cgroup({name!r}, 300 << 20, 64)\n"
            "kids = []\n"
            "for _ in range(3):\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        x = bytearray(150 << 20)\n"
            "        for i in range(0, len(x), 4096): x[i] = 1\n"
            "        os._exit(0)\n"
            "    kids.append(pid)\n"
            "codes = [os.waitstatus_to_exitcode(os.waitpid(k, 0)[1]) for k in kids]\n"
            "print(codes)\n")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
        codes = json.loads(out.stdout.strip() or "[]")
        assert any(c != 0 for c in codes), f"3 x 150 MiB under a 300 MiB group limit all succeeded: {out}"
    finally:
        isolation.remove_cgroup(name)
    assert isolation.cgroup_pids(name) == []


def test_stub_sources_keep_docstrings_and_names_so_type_tests_still_work(tmp_path):
    stubs = isolation.write_stubs(REPO / "course_lib", ["course_lib.modules.Sequential"], tmp_path)
    text = (stubs / "course_lib" / "modules.py").read_text()
    assert "class Sequential" in text and "ReferenceUnavailable" in text
    env = dict(os.environ, PYTHONPATH=str(stubs))
    probe = ("import course_lib.modules as m\n"
             "print(isinstance(object(), m.Sequential), m.Linear(2, 3).W.shape)\n"
             "try:\n    m.Sequential()\nexcept m.ReferenceUnavailable as e:\n    print('raised', e)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                         cwd=tempfile.gettempdir(), timeout=60)
    assert "False (2, 3)" in out.stdout and "raised course_lib.modules.Sequential" in out.stdout, out
