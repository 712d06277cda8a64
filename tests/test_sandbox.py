"""grader.sandbox: real processes, real rlimits, real uids (no mocks of the OS).

Root-only tests are skipped with a reason when not root.  They use their own
accounts ``bpgtest0..3`` (not the ``bpgrade*`` accounts of a real grading
run), so reaping here can never kill a grading kernel.  Waits are bounded and
generous; nothing asserts how fast something happened.
"""
from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import stat
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbgrader.utils import determine_grade

from grader import sandbox as sb

REPO = Path(__file__).resolve().parents[1]
ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not ROOT, reason="needs root: switching to a grading uid, chown, reap by uid")


# ----------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def users():
    if not ROOT:
        pytest.skip("needs root to create grading users")
    accounts = sb.ensure_grading_users(4, prefix="bpgtest")
    yield accounts
    for u in accounts:
        sb.reap(u.uid, u.gid)


@pytest.fixture(autouse=True)
def _no_leftovers():
    """Every test leaves no process of a test uid behind."""
    yield
    if ROOT:
        import pwd

        for i in range(4):
            try:
                entry = pwd.getpwnam(f"bpgtest{i}")
            except KeyError:
                continue
            assert sb.reap(entry.pw_uid, entry.pw_gid).ok


@pytest.fixture
def base():
    """A workdir base that other users can enter (pytest's tmp_path is under a 0700 folder)."""
    path = Path(tempfile.mkdtemp(prefix="bpsandbox-test-", dir="/tmp"))
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _who(users):
    """(uid, gid) of a grading user when root, else (None, None): the test then runs as us."""
    return (users[0].uid, users[0].gid) if users else (None, None)


@pytest.fixture
def maybe_users(request):
    return request.getfixturevalue("users") if ROOT else None


def grandchild_pid(out):
    assert wait_for(lambda: os.path.exists(out + ".pid") and os.path.getsize(out + ".pid") > 0, timeout=20)
    return int(Path(out + ".pid").read_text())


def wait_for(predicate, timeout=10.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# ----------------------------------------------------------------- limits parsing

def test_limits_parse_and_env_round_trip():
    lim = sb.Limits.from_strings({"memory": "1.5G", "cpu-seconds": "2m", "max_processes": "unlimited",
                                  "max_file_bytes": "512k", "cell_timeout": "90s", "core_dumps": "no"})
    assert lim.memory == 3 * sb.GiB // 2 and lim.cpu_seconds == 120 and lim.max_processes is None
    assert lim.max_file_bytes == 512 * 1024 and lim.cell_timeout == 90 and lim.core_dumps is False
    assert sb.Limits.from_env(lim.to_env()) == lim
    env = {"GRADER_LIMIT_MEMORY": "2GiB", "GRADER_LIMIT_NOTEBOOK_TIMEOUT": "10m", "UNRELATED": "x"}
    got = sb.Limits.from_env(env)
    assert got.memory == 2 * sb.GiB and got.notebook_timeout == 600 and got.cpu_seconds == sb.Limits().cpu_seconds
    assert sb.Limits().memory == 4 * sb.GiB
    with pytest.raises(ValueError, match="unknown limit"):
        sb.Limits.from_strings({"ram": "1G"})
    with pytest.raises(ValueError, match="memory"):
        sb.Limits.from_strings({"memory": "lots"})
    spec = sb.KernelSandbox(lim, "/tmp/x", 1234, 1234)
    assert sb.KernelSandbox.from_env({**os.environ, **spec.to_env()}) == spec
    assert sb.KernelSandbox.from_env({"PATH": "/bin"}) is None


# ----------------------------------------------------------------- prepare_child basics

def test_prepare_child_session_fds_umask_env_and_uid(base, maybe_users):
    uid, gid = _who(maybe_users)
    wd = sb.make_workdir(base, (), uid, gid)
    secret_fd = os.open(__file__, os.O_RDONLY)  # an fd the child must not keep
    try:
        def probe():
            out = {"sid": os.getsid(0), "pid": os.getpid(), "cwd": os.getcwd(),
                   "home": os.environ["HOME"], "tmpdir": os.environ["TMPDIR"],
                   "resuid": os.getresuid(), "groups": os.getgroups(),
                   "core": resource.getrlimit(resource.RLIMIT_CORE),
                   "xfsz": signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN}
            try:
                os.fstat(secret_fd)
                out["fd"] = "open"
            except OSError as exc:
                out["fd"] = exc.errno
            fd = os.open("made", os.O_CREAT | os.O_WRONLY, 0o666)
            out["mode"] = stat.S_IMODE(os.fstat(fd).st_mode)
            os.close(fd)
            with open("/proc/self/status") as f:
                out["nnp"] = [line.split()[1] for line in f if line.startswith("NoNewPrivs")][0]
            try:
                os.setuid(0)
                out["setuid0"] = "possible"
            except PermissionError:
                out["setuid0"] = "refused"
            return out

        res = sb.run_in_child(probe, limits=sb.Limits(), workdir=wd, uid=uid, gid=gid, timeout=30)
    finally:
        os.close(secret_fd)
        sb.cleanup_workdir(wd)
    assert res.ok, res
    v = res.value
    assert v["sid"] == v["pid"], "the child leads its own session"
    assert v["cwd"] == v["home"] == v["tmpdir"] == str(wd.path)
    assert v["fd"] == errno.EBADF, "inherited fds are closed"
    assert v["mode"] == 0o600, "umask 077"
    assert v["core"] == (0, 0) and v["xfsz"] and v["nnp"] == "1"
    if ROOT:
        assert res.record["dropped"] is True
        assert v["resuid"] == (uid, uid, uid) and v["groups"] == [] and v["setuid0"] == "refused"
    else:
        assert res.record["dropped"] is False and "not running as root" in res.record["reason"]


def test_refusals():
    with pytest.raises(ValueError):
        sb.reap(0)
    with pytest.raises(ValueError):
        sb.reap(os.getuid())
    with pytest.raises(ValueError):
        sb.reap_session(os.getsid(0))
    with pytest.raises(ValueError):
        sb.reap_session(1)
    res = sb.run_in_child(lambda: 1, workdir="/", uid=0, gid=0, timeout=30)
    assert res.error and "uid 0" in res.error[1]


@root_only
def test_not_root_fallback_runs_as_same_user_and_says_so(users, base):
    """The grader itself as an unprivileged user (simulated by a child that dropped to a test uid)."""
    outer, inner = users[0], users[1]
    wd = sb.make_workdir(base, (), outer.uid, outer.gid)

    def as_unprivileged_grader():
        assert sb.ensure_grading_users(2, prefix="bpgtest") is None
        res = sb.run_in_child(lambda: os.getuid(), workdir=os.getcwd(), uid=inner.uid, gid=inner.gid,
                              limits=sb.Limits(max_processes=40), timeout=20)
        return res.value, res.record

    try:
        res = sb.run_in_child(as_unprivileged_grader, workdir=wd, uid=outer.uid, gid=outer.gid, timeout=30)
    finally:
        sb.cleanup_workdir(wd)
    assert res.ok, res
    value, record = res.value
    assert value == outer.uid, "without root the kernel keeps the grader's uid"
    assert record["dropped"] is False and "not running as root" in record["reason"]
    soft, hard = record["limits"]["max_processes"]
    assert soft > 40, "RLIMIT_NPROC counts the grader's own processes too: cap = current count + max_processes"


# ----------------------------------------------------------------- rlimits

def test_memory_bomb_gets_memory_error_and_parent_survives(base, maybe_users):
    uid, gid = _who(maybe_users)
    wd = sb.make_workdir(base, (), uid, gid)

    def bomb():
        block = bytearray(8 * sb.GiB)  # 8 GiB under a 1 GiB address-space limit
        return len(block)

    try:
        res = sb.run_in_child(bomb, limits=sb.Limits(memory=1 * sb.GiB), workdir=wd, uid=uid, gid=gid, timeout=60)
    finally:
        sb.cleanup_workdir(wd)
    assert res.record["limits"]["memory"] == (sb.GiB, sb.GiB)
    assert (res.error and res.error[0] == "MemoryError") or res.signal is not None, res
    assert len(bytearray(64 * 1024 * 1024)) == 64 * 1024 * 1024  # the parent is fine


def test_cpu_limit_kills_busy_loop_even_when_sigxcpu_is_ignored(base, maybe_users):
    uid, gid = _who(maybe_users)
    wd = sb.make_workdir(base, (), uid, gid)

    def spin(ignore):
        if ignore:
            signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        x = 0
        while True:
            x += 1

    try:
        limits = sb.Limits(cpu_seconds=1, cpu_grace=1)
        plain = sb.run_in_child(spin, False, limits=limits, workdir=wd, uid=uid, gid=gid, timeout=60)
        stubborn = sb.run_in_child(spin, True, limits=limits, workdir=wd, uid=uid, gid=gid, timeout=60)
    finally:
        sb.cleanup_workdir(wd)
    assert not plain.timed_out and plain.signal == signal.SIGXCPU, plain
    assert not stubborn.timed_out and stubborn.signal == signal.SIGKILL, stubborn


def test_file_size_limit_stops_huge_write_with_oserror(base, maybe_users):
    uid, gid = _who(maybe_users)
    wd = sb.make_workdir(base, (), uid, gid)

    def write_big():
        chunk = b"x" * (1 << 20)
        written = 0
        try:
            with open("big.bin", "wb", buffering=0) as f:
                for _ in range(10):
                    written += f.write(chunk)
        except OSError as exc:
            return "OSError", exc.errno, os.path.getsize("big.bin")
        return "no error", None, written

    try:
        res = sb.run_in_child(write_big, limits=sb.Limits(max_file_bytes=sb.MiB), workdir=wd,
                              uid=uid, gid=gid, timeout=30)
    finally:
        sb.cleanup_workdir(wd)
    assert res.ok, res  # the kernel survives: SIGXFSZ is ignored, the write fails
    kind, err, size = res.value
    assert kind == "OSError" and err == errno.EFBIG and size <= sb.MiB


# ----------------------------------------------------------------- processes

def _sampler(uid):
    peak = 0

    def sample():
        nonlocal peak
        peak = max(peak, sb._count_tasks_of_uid(uid))
        return peak

    return sample


@root_only
def test_fork_bomb_is_capped_and_fully_reaped(users, base):
    u = users[2]
    wd = sb.make_workdir(base, (), u.uid, u.gid)

    def start_bomb():
        pid = os.fork()
        if pid:
            return pid
        try:
            while True:  # parent and every child keep forking
                try:
                    os.fork()
                except OSError:
                    time.sleep(0.002)
        finally:
            os._exit(0)

    try:
        res = sb.run_in_child(start_bomb, limits=sb.Limits(max_processes=50), workdir=wd,
                              uid=u.uid, gid=u.gid, timeout=30)
        assert res.ok, res
        sample = _sampler(u.uid)
        assert wait_for(lambda: sample() >= 45, timeout=20), "the bomb should reach its cap"
        for _ in range(20):  # keep watching: it never gets past the cap
            sample()
            time.sleep(0.02)
        peak = sample()
        result = sb.reap(u.uid, u.gid)
        assert result.ok, result
        assert len(result.killed) >= 45
        time.sleep(0.3)
        assert sb.pids_of_uid(u.uid) == [], "nothing respawned after the reap"
    finally:
        sb.reap(u.uid, u.gid)
        sb.cleanup_workdir(wd)
    assert peak <= 50


def _double_fork(go: str, out: str, new_session: bool):
    """Leave a grandchild behind that ignores SIGTERM and writes ``out`` once ``go`` exists.

    The grandchild writes its pid to ``out.pid`` as soon as it runs.
    """
    def start():
        pid = os.fork()
        if pid:
            os.waitpid(pid, 0)  # the middle process exits at once: the grandchild is orphaned
            return "started"
        if new_session:
            os.setsid()
        if os.fork():
            os._exit(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            with open(out + ".pid", "w") as f:
                f.write(str(os.getpid()))
            while not os.path.exists(go):
                time.sleep(0.01)
            with open(out, "w") as f:
                f.write("edited later\n")
        finally:
            os._exit(0)
    return start


@root_only
def test_reap_by_uid_kills_double_forked_setsid_background_process(users, base):
    u = users[1]
    wd = sb.make_workdir(base, (), u.uid, u.gid)
    go, out = str(wd.path / "go"), str(wd.path / "late-edit")
    try:
        # control: without a reap the background process does edit the file
        res = sb.run_in_child(_double_fork(go, out, True), workdir=wd, uid=u.uid, gid=u.gid, timeout=30)
        assert res.ok, res
        assert sb.pids_of_uid(u.uid) == [grandchild_pid(out)]
        Path(go).touch()
        assert wait_for(lambda: os.path.exists(out), timeout=20), "control: the background process should write"
        assert wait_for(lambda: not sb.pids_of_uid(u.uid), timeout=20)
        for name in (go, out, out + ".pid"):
            os.unlink(name)

        res = sb.run_in_child(_double_fork(go, out, True), workdir=wd, uid=u.uid, gid=u.gid, timeout=30)
        assert res.ok, res
        left = sb.pids_of_uid(u.uid)
        assert left == [grandchild_pid(out)] and sb._proc_stat(left[0])[3] != res.pid, "it left the kernel's session"
        result = sb.reap(u.uid, u.gid)
        assert result.ok and result.killed == left
        Path(go).touch()
        time.sleep(1.0)  # plenty for a live process polling every 10 ms
        assert not os.path.exists(out), "the reaped process wrote after all"
    finally:
        sb.reap(u.uid, u.gid)
        sb.cleanup_workdir(wd)


def test_reap_session_kills_a_background_process_that_stayed_in_the_session(base, maybe_users):
    uid, gid = _who(maybe_users)
    wd = sb.make_workdir(base, (), uid, gid)
    go, out = str(wd.path / "go"), str(wd.path / "late-edit")
    try:
        res = sb.run_in_child(_double_fork(go, out, False), workdir=wd, uid=uid, gid=gid, timeout=30)
        assert res.ok, res
        sid = res.pid  # the child was its session's leader
        left = sb.pids_of_session(sid)
        assert left == [grandchild_pid(out)]
        result = sb.reap_session(sid)
        assert result.ok and result.killed == left
        Path(go).touch()
        time.sleep(1.0)
        assert not os.path.exists(out)
    finally:
        sb.cleanup_workdir(wd)


def test_reap_descendants_under_a_subreaper_catches_a_setsid_escape(base, maybe_users):
    """The non-root fallback for processes that left the session: a subreaper keeps them in its tree."""
    uid, gid = _who(maybe_users)
    wd = sb.make_workdir(base, (), uid, gid)
    go, out = str(wd.path / "go"), str(wd.path / "late-edit")
    escape = _double_fork(go, out, True)

    def supervisor():
        pid = os.fork()
        if pid:
            return pid
        try:
            sb.set_child_subreaper()
            escape()
            while True:  # a subreaper reaps what is re-parented to it
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    time.sleep(0.01)
        finally:
            os._exit(0)

    try:
        res = sb.run_in_child(supervisor, workdir=wd, uid=uid, gid=gid, timeout=30)
        assert res.ok, res
        sup = res.value
        escaped = grandchild_pid(out)
        assert wait_for(lambda: sb.descendants(sup) == [escaped], timeout=10), "re-parented to the subreaper"
        assert escaped not in sb.pids_of_session(res.pid), "setsid left the session: reap_session cannot see it"
        result = sb.reap_descendants(sup, include_self=True)
        assert result.ok and set(result.killed) == {sup, escaped}
        Path(go).touch()
        time.sleep(1.0)
        assert not os.path.exists(out)
    finally:
        if "sup" in locals():
            sb.reap_descendants(sup, include_self=True)
        sb.cleanup_workdir(wd)


# ----------------------------------------------------------------- files and permissions

def test_connection_file_is_staged_into_the_workdir_for_the_kernel(base, maybe_users):
    uid, gid = _who(maybe_users)
    wd = sb.make_workdir(base, (), uid, gid)
    src = base / "kernel-123.json"  # root's runtime folder stands in
    src.write_text('{"key": "k", "shell_port": 1}')
    os.chmod(src, 0o600)
    try:
        for argv in (["-f", str(src), "--x"], [f"-f={src}"], [f"--IPKernelApp.connection_file={src}"]):
            new = sb.stage_connection_file(argv, wd, uid, gid)
            staged = str(wd.path / ".kernel-connection.json")
            assert staged in new[0] + " " + new[-1] or new[1] == staged
            st = os.stat(staged)
            assert stat.S_IMODE(st.st_mode) == 0o600 and (not ROOT or st.st_uid == uid)
        res = sb.run_in_child(lambda p: open(p).read(), staged, workdir=wd, uid=uid, gid=gid, timeout=30)
        assert res.value == src.read_text()
        with pytest.raises(sb.SandboxError):
            sb.stage_connection_file(["--no-file"], wd, uid, gid)
    finally:
        sb.cleanup_workdir(wd)


@root_only
def test_purge_tmp_removes_what_the_grading_uid_left_in_shared_temp_folders(users, base):
    u = users[0]
    wd = sb.make_workdir(base, (), u.uid, u.gid)
    tag = f"bpgtest-leftover-{os.getpid()}"
    mine = Path(tempfile.gettempdir()) / f"{tag}-root"
    mine.write_text("the grader's own file")

    def leave_files():
        os.mkdir(f"/tmp/{tag}-dir")
        with open(f"/tmp/{tag}-dir/note", "w") as f:
            f.write("for the next student")
        os.symlink("/etc/passwd", f"/tmp/{tag}-link")
        with open(f"/dev/shm/{tag}", "w") as f:
            f.write("x")
        return "ok"

    try:
        res = sb.run_in_child(leave_files, workdir=wd, uid=u.uid, gid=u.gid, timeout=30)
        assert res.ok, res
        removed = sb.purge_tmp(u.uid)
        assert sorted(removed) == sorted([f"/tmp/{tag}-dir", f"/tmp/{tag}-link", f"/dev/shm/{tag}"])
        assert mine.exists() and Path("/etc/passwd").exists()
    finally:
        mine.unlink()
        sb.cleanup_workdir(wd)
    with pytest.raises(ValueError):
        sb.purge_tmp(0)


@root_only
def test_workdir_base_must_not_be_writable_by_grading_users(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, 0o777)
    with pytest.raises(sb.SandboxError, match="root-owned and not writable"):
        sb.make_workdir(loose)
    good = sb.new_workdir_base()
    try:
        assert stat.S_IMODE(os.stat(good).st_mode) == 0o711
        sb.cleanup_workdir(sb.make_workdir(good))
    finally:
        os.rmdir(good)


@root_only
def test_users_are_idempotent_unprivileged_and_distinct(users):
    again = sb.ensure_grading_users(4, prefix="bpgtest")
    assert again == users
    import pwd

    for u in users:
        entry = pwd.getpwuid(u.uid)
        assert entry.pw_name == u.name and u.uid != 0 and u.gid != 0
        assert entry.pw_shell == "/usr/sbin/nologin"
    assert len({u.uid for u in users}) == len(users)


@root_only
def test_workdir_is_private_copies_only_regular_files_and_cleans_up(users, base, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden tests\n")
    sub = tmp_path / "submission"
    (sub / "data").mkdir(parents=True)
    (sub / "01_scalar_backprop.ipynb").write_text("{}")
    (sub / "data" / "x.csv").write_text("1,2\n")
    (sub / "link.txt").symlink_to(secret)
    a, b = users[0], users[1]
    wa = sb.make_workdir(base, sub, a.uid, a.gid)
    wb = sb.make_workdir(base, {"nb.ipynb": sub / "01_scalar_backprop.ipynb"}, b.uid, b.gid)
    try:
        assert sorted(wa.copied) == ["01_scalar_backprop.ipynb", "data/x.csv"] and wa.skipped == ["link.txt"]
        st = os.stat(wa.path)
        assert stat.S_IMODE(st.st_mode) == 0o700 and (st.st_uid, st.st_gid) == (a.uid, a.gid)
        f = os.stat(wa.path / "data" / "x.csv")
        assert stat.S_IMODE(f.st_mode) == 0o600 and f.st_uid == a.uid
        assert stat.S_IMODE(os.stat(base).st_mode) == 0o711

        def vandalise(other):
            out = {}
            try:
                os.listdir(other)
                out["other"] = "readable"
            except PermissionError:
                out["other"] = "denied"
            try:
                os.listdir(os.path.dirname(os.getcwd()))
                out["base"] = "listable"
            except PermissionError:
                out["base"] = "denied"
            os.mkdir("locked")
            with open("locked/f", "w") as fh:
                fh.write("x")
            os.chmod("locked", 0)
            os.symlink("/etc/passwd", "passwd-link")
            return out

        res = sb.run_in_child(vandalise, str(wb.path), workdir=wa, uid=a.uid, gid=a.gid, timeout=30)
        assert res.ok, res
        assert res.value == {"other": "denied", "base": "denied"}
    finally:
        sb.cleanup_workdir(wa)
        sb.cleanup_workdir(wb)
    assert not wa.path.exists() and not wb.path.exists()
    assert Path("/etc/passwd").exists()


@root_only
def test_grading_uid_cannot_touch_root_files_protected_paths_or_course_lib(users, base):
    u = users[3]
    wd = sb.make_workdir(base, (), u.uid, u.gid)
    shared = base / "course"  # stands for the course dir: gradebook, source notebooks
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    (shared / "gradebook.db").write_text("grades")
    os.chmod(shared / "gradebook.db", 0o644)
    root_file = base / "root-owned.txt"
    root_file.write_text("keep me")
    os.chmod(root_file, 0o644)
    course_lib = REPO / "course_lib"

    def probe(path):
        def attempt(fn):
            try:
                fn()
                return "allowed"
            except PermissionError:
                return "denied"
        return {
            "read gradebook": attempt(lambda: open(os.path.join(path, "gradebook.db")).read()),
            "list course": attempt(lambda: os.listdir(path)),
            "write root file": attempt(lambda: open(str(root_file), "a").write("x")),
            "create in course_lib": attempt(lambda: open(str(course_lib / f"evil-{os.getpid()}.py"), "x").close()),
            "append course_lib": attempt(lambda: open(str(course_lib / "__init__.py"), "a").close()),
            "read course_lib": attempt(lambda: open(str(course_lib / "__init__.py")).read()),
            "write workdir": attempt(lambda: open("mine.txt", "w").write("ok")),
        }

    try:
        before = sb.run_in_child(probe, str(shared), workdir=wd, uid=u.uid, gid=u.gid, timeout=30)
        assert before.ok, before
        assert before.value["read gradebook"] == "allowed", "control: readable until protected"
        report = sb.protect_paths([shared], readonly=[course_lib, REPO / "grader"])
        assert stat.S_IMODE(os.stat(shared).st_mode) == 0o750
        after = sb.run_in_child(probe, str(shared), workdir=wd, uid=u.uid, gid=u.gid, timeout=30)
        assert after.ok, after
        assert after.value == {
            "read gradebook": "denied", "list course": "denied", "write root file": "denied",
            "create in course_lib": "denied", "append course_lib": "denied",
            "read course_lib": "allowed", "write workdir": "allowed",
        }
        writable = [p for p in report.problems if "writable" in p]
        assert writable == [], writable
        report.restore()
        assert stat.S_IMODE(os.stat(shared).st_mode) == 0o755
    finally:
        sb.cleanup_workdir(wd)
    assert root_file.read_text() == "keep me" and not list(course_lib.glob("evil*"))


def test_check_readonly_reports_writable_and_unreadable_entries(tmp_path):
    tree = tmp_path / "lib"
    tree.mkdir()
    os.chmod(tree, 0o755)
    ok = tree / "ok.py"
    ok.write_text("")
    os.chmod(ok, 0o644)
    loose = tree / "loose.py"
    loose.write_text("")
    os.chmod(loose, 0o666)
    private = tree / "private.py"
    private.write_text("")
    os.chmod(private, 0o600)
    problems = sb.check_readonly([tree], owners=[os.getuid()])
    text = "\n".join(problems)
    assert "loose.py: world-writable" in text and "private.py: not readable by others" in text
    assert "ok.py" not in text
    assert "cannot enter" in text  # pytest's tmp folders are 0700: the check names the ancestor


# ----------------------------------------------------------------- outputs

def _graded(source, outputs, points=2):
    cell = new_code_cell(source, outputs=outputs)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True,
                                 "points": points, "grade_id": "c", "schema_version": 3}
    return cell


def test_output_flood_is_truncated_keeping_head_and_marker():
    # 10 million printed lines (numbered at the head, where it matters; built fast)
    flood = "".join(f"line {i}\n" for i in range(2000)) + "line\n" * (10_000_000 - 2000)
    nb = new_notebook(cells=[
        new_code_cell("for i in range(10**7): print('line', i)",
                      outputs=[nbformat.NotebookNode(output_type="stream", name="stdout", text=flood)]),
        new_code_cell("print('small')", outputs=[new_output("stream", name="stdout", text="small\n")]),
    ])
    new, report = sb.truncate_outputs(nb, max_bytes=50_000, max_lines=1_000)
    text = new.cells[0].outputs[0]["text"]
    lines = text.splitlines()
    assert lines[:1000] == [f"line {i}" for i in range(1000)], "the head is kept verbatim"
    assert lines[-1].startswith(sb.TRUNCATION_MARKER) and "9,999,000 more lines" in lines[-1]
    assert len(text) < 60_000
    kept_head = text.split(sb.TRUNCATION_MARKER)[0]
    assert report == [{"cell": 0, "dropped_lines": 9_999_000, "dropped_bytes": len(flood) - len(kept_head),
                       "dropped_outputs": 0}]
    assert new.cells[1] is nb.cells[1]
    assert nb.cells[0].outputs[0]["text"] is flood, "the input notebook is not modified"
    nbformat.validate(new)


def test_truncation_never_changes_the_grade_nbgrader_gives():
    many = [new_output("stream", name="stdout", text=f"{i}\n" * 100) for i in range(500)]
    png = new_output("display_data", data={"image/png": "A" * 200_000, "text/plain": "<Figure>"})
    cells = [
        _graded("flood then partial credit", many + [new_output("execute_result", data={"text/plain": "0.75"},
                                                                  execution_count=1)]),
        _graded("flood then stderr", many + [new_output("stream", name="stderr", text="warn\n" * 10_000)]),
        _graded("flood then error", many + [new_output("error", ename="AssertionError", evalue="x" * 100_000,
                                                       traceback=["tb line\n" * 10] * 5_000)]),
        _graded("big plots then result", [png, png, new_output("execute_result", data={"text/plain": "1.0",
                                                                                         "text/html": "h" * 10**6},
                                                                 execution_count=2)]),
        _graded("stderr flood first", [new_output("stream", name="stderr", text="w\n" * 10**6),
                                       new_output("stream", name="stdout", text="more\n")]),
        _graded("quiet", [new_output("stream", name="stdout", text="ok\n")]),
    ]
    nb = new_notebook(cells=cells)
    new, report = sb.truncate_outputs(nb, max_bytes=10_000, max_lines=200)
    assert [r["cell"] for r in report] == [0, 1, 2, 3, 4]
    for old_cell, new_cell in zip(nb.cells, new.cells):
        assert determine_grade(new_cell) == determine_grade(old_cell), old_cell.source
        size = sum(len(str(o)) for o in new_cell.outputs)
        assert size < 60_000, (old_cell.source, size)
    assert new.cells[0].outputs[-1]["data"]["text/plain"] == "0.75"
    assert any(sb.TRUNCATION_MARKER in str(o) for o in new.cells[3].outputs)
    nbformat.validate(new)


def test_output_budget_incremental_matches_function():
    outs = [new_output("stream", name="stdout", text="a\n" * 300) for _ in range(3)]
    budget = sb.OutputBudget(max_bytes=10**6, max_lines=500)
    kept = [budget.admit(o) for o in outs]
    assert kept[0] is outs[0] and kept[1]["text"].count("\n") == 201 and kept[2] is None
    assert kept[1]["text"].endswith("]\n") and budget.dropped_lines == 400


@pytest.mark.skipif(not sb.is_root(), reason="creating users needs root")
def test_grading_users_are_created_even_with_an_empty_path(monkeypatch):
    """``grader validate`` cleans the environment; useradd must still be found (it lives in /usr/sbin)."""
    import pwd
    import subprocess

    prefix = f"bpt{os.getpid() % 100000}x"
    monkeypatch.setenv("PATH", "")
    try:
        users = sb.ensure_grading_users(1, prefix=prefix)
        assert users and pwd.getpwnam(f"{prefix}0").pw_uid == users[0].uid
    finally:
        subprocess.run(["/usr/sbin/userdel", f"{prefix}0"], capture_output=True)
