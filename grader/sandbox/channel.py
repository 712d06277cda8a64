"""The checker's fast line to a grading kernel: one unix socket per notebook, one session per grade cell.

A protocol request sent as its own ``execute_request`` costs about 2.5 ms of
kernel bookkeeping (status messages, the reply, the shell's hooks); the heavy
lessons send about a thousand of them per notebook.  Here the checker sends one
``execute_request`` per grade cell, which runs :func:`grader.protocol.serve` on
the kernel's main thread, and then its requests as length-prefixed frames on a
unix socket: a round trip is about a tenth of a millisecond plus the student's
own code.

Trust does not change.  The socket is created by the worker (root) in the
notebook's 0700 working directory, which no other kernel's mount namespace
shows, and is ``chown``-ed to the grading uid so that kernel can connect.  Only
that kernel can reach it; anything it sends is decoded by
:func:`grader.protocol.unpack` with its limits, like every other reply.
A student who answers on the socket with their own code can only change what
their own functions return.

Student code still runs on the kernel's main thread, so the checker's time
limit works as before: an interrupt inside the student's code becomes that
request's ``TimeoutError``; a kernel that then stays silent is given up on.
"""
from __future__ import annotations

import os
import secrets
import select
import socket
import time
from collections.abc import Callable
from pathlib import Path

from ..protocol import MAX_REPLY_BYTES, ProtocolError, StudentError, read_frame, write_frame

#: The code of the ``execute_request`` that opens a session (``{path!r}`` is the socket).
SERVE_CALL = "__import__('grader.protocol', fromlist=['serve']).serve({path!r}, {token!r})"
#: Seconds the kernel gets to connect, and to close a session.
CONNECT_TIMEOUT = 10.0


class ChannelUnavailable(RuntimeError):
    """The kernel did not open a session (its agent failed to start): the caller falls back to execute requests."""


class ChannelBroken(StudentError):
    """The kernel stopped answering on the socket (died, or hung after an interrupt)."""

    def __init__(self, message: str):
        super().__init__("KernelDied", message)


class Channel:
    """The worker's end: a listening socket in ``folder`` and the session of the current grade cell.

    Args:
        folder: the notebook's private working directory (the kernel sees it at the same path).
        uid, gid: the grading user the socket is handed to (``None`` when not root).
        execute: ``execute(code) -> msg_id`` sends a silent ``execute_request`` to the kernel.
        reply_for: ``reply_for(msg_id, timeout) -> bool`` whether that request's reply arrived (consumes it).
        alive: ``alive() -> bool`` whether the kernel still runs.
        interrupt: ``interrupt()`` sends the kernel an interrupt.
    """

    def __init__(self, folder: str | os.PathLike, uid: int | None, gid: int | None, *,
                 execute: Callable[[str], str], reply_for: Callable[[str, float], bool],
                 alive: Callable[[], bool], interrupt: Callable[[], None]):
        self.path = str(Path(folder) / f".checker-{secrets.token_hex(4)}.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        os.chmod(self.path, 0o600)
        if uid is not None:
            os.chown(self.path, uid, gid if gid is not None else -1)
        self._listener.listen(8)
        self._execute, self._reply_for, self._alive, self._interrupt = execute, reply_for, alive, interrupt
        self._conn: socket.socket | None = None
        self._msg_id: str | None = None
        self.sessions = 0
        self.requests = 0

    # ------------------------------------------------------------------ sessions
    def _open(self) -> socket.socket:
        if self._conn is not None:
            return self._conn
        token = secrets.token_hex(16)
        self._msg_id = self._execute(SERVE_CALL.format(path=self.path, token=token))
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._listener], [], [], 0.05)
            if ready:
                conn, _ = self._listener.accept()
                if self._greeted(conn, token):
                    self._conn = conn
                    self.sessions += 1
                    return conn
                conn.close()  # not this session's serve call: some other connection to the socket
                continue
            if self._reply_for(self._msg_id, 0.0):  # the serve call ended (failed) without connecting
                self._msg_id = None
                raise ChannelUnavailable("the kernel's agent could not open the checker's socket")
            if not self._alive():
                raise ChannelBroken("the kernel died while a check was starting")
        raise ChannelUnavailable(f"the kernel did not connect to the checker's socket within {CONNECT_TIMEOUT:g} s")

    @staticmethod
    def _greeted(conn: socket.socket, token: str) -> bool:
        conn.settimeout(1.0)
        try:
            hello = read_frame(conn, 256)
        except (OSError, ProtocolError):
            return False
        finally:
            conn.settimeout(None)
        return hello is not None and secrets.compare_digest(hello, token.encode())

    def close_session(self) -> None:
        """End the grade cell's session: the kernel's serve call returns and the kernel is idle again."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                write_frame(conn, b"")
            except OSError:
                pass
            conn.close()
        if self._msg_id is not None and self._alive():
            self._reply_for(self._msg_id, CONNECT_TIMEOUT)
        self._msg_id = None

    def close(self) -> None:
        """End any session and remove the socket."""
        self.close_session()
        self._listener.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass

    # ------------------------------------------------------------------ requests
    def send(self, packed: str, deadline: float, limit_text: str) -> str:
        """One request -> its reply text, within ``deadline`` (``time.monotonic()``); the transport of a Peer."""
        conn = self._open()
        self.requests += 1
        try:
            write_frame(conn, packed.encode())
        except OSError as exc:
            self._drop()
            raise ChannelBroken(f"the kernel closed the checker's socket ({exc.strerror})") from None
        interrupted = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if not interrupted and select.select([conn], [], [], 0)[0]:
                    break  # answered just in time: no interrupt to arrive after the answer
                if interrupted:
                    self._drop()
                    raise ChannelBroken("the kernel did not answer after it was interrupted")
                interrupted = True
                deadline = time.monotonic() + 5.0
                self._interrupt()
                continue
            ready, _, _ = select.select([conn], [], [], min(left, 1.0))
            if ready:
                break
            if not self._alive():
                self._drop()
                raise ChannelBroken("the kernel died while a check was running")
        try:
            conn.settimeout(max(deadline - time.monotonic(), 1.0))
            data = read_frame(conn, MAX_REPLY_BYTES)
        except (OSError, ProtocolError) as exc:
            self._drop()
            raise ChannelBroken(f"the kernel's answer was cut off ({exc})") from None
        finally:
            if self._conn is not None:
                conn.settimeout(None)
        if data is None:  # the serve call ended: the kernel died, or the student's code ended it
            self._drop()
            if not self._alive():
                raise ChannelBroken("the kernel died while a check was running")
            raise StudentError("ProtocolError", "the kernel's agent stopped answering")
        if interrupted:
            raise StudentError("TimeoutError", f"the call took longer than {limit_text} and was interrupted")
        return data.decode("utf-8", "replace")

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        if self._msg_id is not None and self._alive():
            self._reply_for(self._msg_id, 1.0)
        self._msg_id = None
