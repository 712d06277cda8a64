"""The checker's socket (grader.sandbox.channel) against a real serving process standing in for a kernel."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from grader.checks.student import Student
from grader.protocol import Peer, StudentError
from grader.sandbox.channel import Channel, ChannelBroken, ChannelUnavailable

REPO = Path(__file__).resolve().parents[1]

#: The "notebook" the stand-in kernel serves: functions a check calls.
STUDENT = textwrap.dedent('''
    import time
    import numpy as np

    def double(x):
        return 2 * x

    def slow(seconds):
        time.sleep(seconds)
        return "woke up"

    def stubborn():
        while True:  # swallows every interrupt
            try:
                time.sleep(100)
            except KeyboardInterrupt:
                pass

    def die():
        import os
        os._exit(3)
''')


class FakeKernel:
    """Each ``execute(code)`` runs ``code`` in a new Python process whose agent serves STUDENT's namespace."""

    def __init__(self, serve_body: str | None = None):
        self.proc: subprocess.Popen | None = None
        self.serve_body = serve_body
        self.interrupts = 0

    def execute(self, code: str) -> str:
        # A kernel takes SIGINT as KeyboardInterrupt while it executes (ipykernel and the zygote install that
        # handler); a plain `python -c` would inherit an ignored SIGINT from a test run started in the background.
        prelude = ("import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
                   "import grader.protocol as _p\n"
                   f"_ns = {{}}\nexec({STUDENT!r}, _ns)\n_p.AGENT = _p.Agent(_ns)\n")
        if self.serve_body is not None:
            prelude += self.serve_body + "\n"
        self.proc = subprocess.Popen([sys.executable, "-c", prelude + code], cwd=REPO,
                                     env=dict(os.environ, PYTHONPATH=str(REPO)))
        return f"msg-{self.proc.pid}"

    def reply_for(self, msg_id: str, timeout: float) -> bool:
        try:
            self.proc.wait(timeout=timeout) if timeout else None
        except subprocess.TimeoutExpired:
            return False
        return self.proc.poll() is not None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def interrupt(self) -> None:
        self.interrupts += 1
        self.proc.send_signal(signal.SIGINT)

    def channel(self, folder) -> Channel:
        return Channel(folder, None, None, execute=self.execute, reply_for=self.reply_for,
                       alive=self.alive, interrupt=self.interrupt)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def kernel():
    k = FakeKernel()
    yield k
    k.stop()


def student(channel: Channel, seconds: float = 10.0) -> Student:
    return Student(Peer(lambda packed: channel.send(packed, time.monotonic() + seconds, f"{seconds} s")),
                   where="sandbox")


def test_a_session_answers_many_requests_and_ends_when_the_cell_ends(kernel, tmp_path):
    channel = kernel.channel(tmp_path)
    S = student(channel)
    x = np.arange(6.0).reshape(2, 3)
    for _ in range(50):
        np.testing.assert_array_equal(S.call("double", x), 2 * x)
    assert (channel.sessions, channel.requests) == (1, 50)
    channel.close_session()
    assert kernel.proc.wait(timeout=10) == 0  # the serve call returned: the kernel is idle again
    assert S.call("double", 4) == 8  # the next grade cell opens a new session
    assert channel.sessions == 2
    channel.close()
    assert not Path(channel.path).exists()


def test_a_connection_without_the_sessions_token_is_dropped(kernel, tmp_path):
    channel = kernel.channel(tmp_path)
    stranger = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stranger.connect(channel.path)  # waits in the backlog before the kernel's serve call connects
    stranger.sendall((4).to_bytes(4, "big") + b"fake")
    assert student(channel).call("double", 21) == 42
    assert channel.sessions == 1
    stranger.settimeout(2)
    assert stranger.recv(100) == b""  # closed by the checker, never sent a request
    channel.close()


def test_a_serve_call_that_returns_at_once_means_fall_back(tmp_path):
    kernel = FakeKernel(serve_body="_p.serve = lambda path, token='': None")
    channel = kernel.channel(tmp_path)
    with pytest.raises(ChannelUnavailable, match="could not open"):
        student(channel).call("double", 1)
    channel.close()
    kernel.stop()


def test_a_slow_call_is_interrupted_and_the_session_goes_on(kernel, tmp_path):
    channel = kernel.channel(tmp_path)
    S = student(channel, seconds=1.0)
    assert S.call("slow", 0.01) == "woke up"
    with pytest.raises(StudentError, match="longer than 1.0 s") as err:
        S.call("slow", 60)
    assert err.value.type_name == "TimeoutError"
    assert kernel.interrupts == 1
    assert S.call("double", 5) == 10  # same session, still answering
    assert channel.sessions == 1
    channel.close()


def test_a_request_whose_time_ran_out_before_the_kernel_read_it_is_answered_as_timed_out(tmp_path):
    """On a loaded machine the interrupt can come before the kernel has read the request: that request is the
    timed-out one (answered without being run), and the session goes on."""
    slow_reader = textwrap.dedent("""
        import time as _time
        _reads = [0]
        _read = _p.read_frame
        def _late_read(sock, *args):
            _reads[0] += 1
            if _reads[0] == 2:  # request 1 answered; request 2 waits 3 s unread
                _time.sleep(3)
            return _read(sock, *args)
        _p.read_frame = _late_read
    """)
    kernel = FakeKernel(serve_body=slow_reader)
    channel = kernel.channel(tmp_path)
    S = student(channel, seconds=1.0)
    try:
        assert S.call("double", 1) == 2
        with pytest.raises(StudentError, match="longer than 1.0 s") as err:
            S.call("slow", 60)  # never run: else it would sleep 60 s and the channel would give up on the kernel
        assert err.value.type_name == "TimeoutError"
        assert S.call("double", 5) == 10 and channel.sessions == 1
    finally:
        channel.close()
        kernel.stop()


def test_a_kernel_that_ignores_interrupts_or_dies_is_given_up_on(kernel, tmp_path):
    channel = kernel.channel(tmp_path)
    S = student(channel, seconds=0.5)
    started = time.monotonic()
    with pytest.raises(ChannelBroken, match="did not answer after it was interrupted"):
        S.call("stubborn")
    assert time.monotonic() - started < 30
    kernel.stop()
    channel.close()

    other = FakeKernel()
    channel = other.channel(tmp_path)
    with pytest.raises(ChannelBroken, match="died"):
        student(channel).call("die")
    channel.close()
    other.stop()


def test_forged_replies_are_refused_by_the_decoder_not_trusted(tmp_path):
    """A 'kernel' that answers with frames of its own: every one is an error for the check, none crashes it."""
    forged = [b"not json", b'{"ok": {"__handle__": "x"}}', b"[" * 5000 + b"]" * 5000, b'{"neither": 1}']
    token_box = {}

    def fake_execute(code: str) -> str:
        token_box["token"] = code.rsplit("'", 2)[-2]

        def run():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(channel.path)
            tok = token_box["token"].encode()
            s.sendall(len(tok).to_bytes(4, "big") + tok)
            for body in forged:
                size = int.from_bytes(s.recv(4), "big")
                s.recv(size)
                s.sendall(len(body).to_bytes(4, "big") + body)
            s.recv(4)
            s.sendall((4_000_000_000).to_bytes(4, "big"))  # announces 4 GB
            s.close()

        threading.Thread(target=run, daemon=True).start()
        return "msg"

    channel = Channel(tmp_path, None, None, execute=fake_execute, reply_for=lambda m, t: False,
                      alive=lambda: True, interrupt=lambda: None)
    S = student(channel)
    errors = []
    for _ in range(len(forged) + 1):
        try:
            S.call("double", 1)
        except (StudentError, ValueError) as exc:
            errors.append(type(exc).__name__)
    assert len(errors) == len(forged) + 1, errors
    assert errors[-1] == "ChannelBroken"  # the 4 GB frame is refused before it is read
    channel.close()
