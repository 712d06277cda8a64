"""Every grading kernel alone (grader/sandbox/isolation.py): namespaces, private tmpfs, hidden repository, stubs, cgroups."""
from __future__ import annotations

import errno
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
        Path(tmp_path, "written.txt").write_text("the workdir stays writable")
        for place in ("/var", "/etc", "/opt"):  # root-writable, not world-writable: read-only in the kernel
            try:
                Path(place, marker).write_text("should not be here")
                out[place] = "written"
            except OSError as exc:
                out[place] = exc.errno
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
    assert Path(tmp_path, "written.txt").read_text() == "the workdir stays writable"
    for place in ("/var", "/etc", "/opt"):
        if os.path.isdir(place):
            assert result[place] == errno.EROFS, (place, result[place])
            assert not Path(place, marker).exists()
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
    # The children hold their memory until every one of them is ready or one has died, so the three
    # allocations overlap whatever the scheduler does (they did not always, and a fast machine passed them).
    code = """
import os, select
from grader.sandbox import isolation
isolation.join_cgroup(NAME, 300 << 20, 64)
ready_r, ready_w = os.pipe()
hold_r, hold_w = os.pipe()
kids = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        os.close(hold_w)
        x = bytearray(150 << 20)
        for i in range(0, len(x), 4096):
            x[i] = 1
        os.write(ready_w, b"x")
        os.read(hold_r, 1)
        os._exit(0)
    kids.append(pid)
os.close(ready_w)
ready, codes = 0, {}
while ready < 3 and not codes:
    if select.select([ready_r], [], [], 0.2)[0]:
        got = os.read(ready_r, 3)
        if not got:
            break
        ready += len(got)
    for k in kids:
        pid, status = os.waitpid(k, os.WNOHANG)
        if pid:
            codes[k] = os.waitstatus_to_exitcode(status)
os.close(hold_w)
for k in kids:
    if k not in codes:
        codes[k] = os.waitstatus_to_exitcode(os.waitpid(k, 0)[1])
print([codes[k] for k in kids])
""".replace("NAME", repr(name))
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
        codes = json.loads(out.stdout.strip() or "[]")
        memory = [d for d in isolation.cgroup_dirs(name) if "memory" in d.parts or isolation.cgroup_version() == 2]
        seen = {f.name: f.read_text().strip() for d in memory for f in d.glob("memory.*")
                if f.name.split(".", 1)[1] in ("limit_in_bytes", "max_usage_in_bytes", "failcnt", "swappiness",
                                               "memsw.limit_in_bytes", "max", "swap.max", "peak")}
        swaps = Path("/proc/swaps").read_text() if Path("/proc/swaps").exists() else ""
        assert len(codes) == 3 and any(c != 0 for c in codes), (
            f"3 x 150 MiB under a 300 MiB group limit all succeeded: {out}; group files {seen}; swaps {swaps!r}")
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
