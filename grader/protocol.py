"""The narrow protocol between a check and the student's code: plain data in, plain data out.

A check never touches a student's objects directly.  It sends *requests* to an
:class:`Agent` that lives next to the student's code, and gets back *plain
data*: ``None``, ``bool``, ``int``, ``float``, ``str``, lists, tuples, dicts,
numpy arrays (as dtype, shape and bytes) and *handles* to anything else.

Requests (JSON objects)::

    {"op": "call", "target": T, "method": name | null, "args": [...], "kwargs": {...}}
    {"op": "get",  "target": T, "attr": name}
    {"op": "set",  "target": T, "attr": name, "value": V}
    {"op": "has",  "name": name}
    {"op": "keep", "value": V}              store V in the student's process, reply with a handle to it
    {"op": "read", "target": T}             the object itself as plain data (e.g. a dict it changed in place)
    T = {"name": "chain_forward"}      a name in the student's namespace
      | {"handle": 3}                  an object the agent keeps for the check
      | {"lib": "course_lib.x.f"}      an object of an allowed library module

Replies: ``{"ok": V}`` or ``{"error": {"type", "message", "where"}}``.

Where the agent runs decides what the check can trust:

* **Student at work** (``grader.checks.student()`` in a notebook): the agent
  runs in the student's own kernel, in the same process as the check.  The
  request and the reply still go through JSON text, so a check sees exactly
  what it sees when grading.
* **Grading**: the check runs in the grader's own process; the agent is this
  module, preloaded in the sandboxed kernel; for each grade cell the kernel
  runs :func:`serve`, and a request travels as a length-prefixed frame on a
  unix socket in the notebook's private folder (or, as a fallback, as one
  ``execute_request`` whose ``user_expressions`` call :func:`respond`).  Only
  plain data comes back, decoded here by :func:`decode` with a size limit, a
  depth limit and a dtype allow-list: no pickle, no student object ever runs
  in the grader.  A student who tampers with the agent can only change the
  values their own code returns.

This module imports nothing of the course or of the grader, so it can be
preloaded into grading kernels while ``grader.checks`` (which holds the
checks' reference code) stays out of their reach.
"""
from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import linecache
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

#: Modules whose attributes a check may pass to, or create in, the student's process.
LIB_PREFIXES = ("course_lib.", "operator.", "math.", "numpy.")
#: Largest reply (bytes of JSON text) the grader accepts.
MAX_REPLY_BYTES = 64 * 1024 * 1024
#: Deepest nesting of lists, tuples and dicts accepted.
MAX_DEPTH = 24
#: dtype kinds an array may have: bool, signed and unsigned int, float, complex.
ARRAY_KINDS = "biufc"


class ProtocolError(ValueError):
    """A request or reply that is not plain data of the protocol."""


class StudentError(Exception):
    """The student's code raised while a check called it.

    Attributes:
        type_name: the exception's class name (``"ValueError"``), as the student's process named it.
        message: its message.
        where: ``"line 12: z = W @ x"`` in the student's code, or ``""``.
    """

    def __init__(self, type_name: str, message: str, where: str = ""):
        super().__init__(f"{type_name}: {message}")
        self.type_name = str(type_name)
        self.message = str(message)
        self.where = str(where)


class Handle:
    """A reference to an object that stays in the student's process.

    Created only by :class:`Peer`; use :meth:`call`, :meth:`method`,
    :meth:`get` and :meth:`set`.  ``type_name`` is the object's class name as
    the student's process reported it (information, not proof).
    """

    __slots__ = ("_peer", "id", "type_name", "callable")

    def __init__(self, peer: Peer, ident: int, type_name: str, is_callable: bool):
        self._peer = peer
        self.id = ident
        self.type_name = type_name
        self.callable = is_callable

    def call(self, *args, **kwargs):
        """``obj(*args, **kwargs)``."""
        return self._peer.request("call", {"handle": self.id}, args=args, kwargs=kwargs)

    def method(self, name: str, *args, **kwargs):
        """``obj.name(*args, **kwargs)``."""
        return self._peer.request("call", {"handle": self.id}, method=name, args=args, kwargs=kwargs)

    def read(self):
        """The object itself as plain data (a dict or list it holds, after the student changed it in place)."""
        return self._peer.request("read", {"handle": self.id})

    def get(self, attr: str):
        """``obj.attr`` (as plain data or a handle)."""
        return self._peer.request("get", {"handle": self.id}, attr=attr)

    def set(self, attr: str, value) -> None:
        """``obj.attr = value``."""
        self._peer.request("set", {"handle": self.id}, attr=attr, value=value)

    def __repr__(self) -> str:
        return f"<handle {self.id}: a {self.type_name} in the student's process>"


# ------------------------------------------------------------------ encoding
def _encode_array(arr: np.ndarray) -> dict:
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # (np.ascontiguousarray would turn a 0-d array into 1-d)
    return {"__nd__": [arr.dtype.str, list(arr.shape), base64.b64encode(arr.tobytes()).decode("ascii")]}


def encode(value: Any, keep: Callable[[Any], dict] | None = None, depth: int = 0) -> Any:
    """``value`` as JSON-ready plain data; objects that are not plain data go to ``keep`` (-> a handle)."""
    if depth > MAX_DEPTH:
        raise ProtocolError(f"the value is nested deeper than {MAX_DEPTH} levels")
    t = type(value)
    if value is None or t in (bool, str):
        return value
    if t is int:
        return value if abs(value) < 2 ** 63 else float(value)
    if t is float:
        return value
    if t is np.str_:  # numpy's string scalar ("c" from an array of letters): its characters
        return str.__str__(value)
    if isinstance(value, Handle):
        return {"__handle__": value.id}
    if isinstance(value, np.ndarray) and value.dtype.kind in ARRAY_KINDS:
        return _encode_array(np.asarray(value).view(np.ndarray) if type(value) is not np.ndarray else value)
    if isinstance(value, np.generic) and np.dtype(type(value)).kind in ARRAY_KINDS:
        return {"__scalar__": _encode_array(np.asarray(value))["__nd__"]}
    if t is list:
        return [encode(v, keep, depth + 1) for v in value]
    if t is tuple:
        return {"__tuple__": [encode(v, keep, depth + 1) for v in value]}
    if t is dict:
        if all(type(k) is str for k in value) and not any(k.startswith("__") and k.endswith("__") for k in value):
            return {k: encode(v, keep, depth + 1) for k, v in value.items()}
        return {"__dict__": [[encode(k, keep, depth + 1), encode(v, keep, depth + 1)] for k, v in value.items()]}
    if keep is None:
        raise ProtocolError(f"a {t.__name__} is not plain data")
    return keep(value)


def _decode_array(spec: Any) -> np.ndarray:
    if not (isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str) and isinstance(spec[1], list)
            and isinstance(spec[2], str)):
        raise ProtocolError("an array must be [dtype, shape, base64 bytes]")
    try:
        dtype = np.dtype(spec[0])
    except TypeError:
        raise ProtocolError(f"unknown dtype {spec[0]!r}") from None
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ProtocolError(f"dtype {spec[0]!r} is not a number type")
    shape = spec[1]
    if len(shape) > 32 or not all(type(n) is int and 0 <= n for n in shape):
        raise ProtocolError(f"bad shape {shape!r}")
    raw = base64.b64decode(spec[2].encode("ascii"), validate=True)
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(raw):
        raise ProtocolError(f"shape {tuple(shape)} of {dtype} needs {count * dtype.itemsize} bytes, got {len(raw)}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def decode(value: Any, handle: Callable[[dict], Any] | None = None, depth: int = 0) -> Any:
    """Plain data from JSON-decoded ``value``; ``{"__handle__": ...}`` goes to ``handle``."""
    if depth > MAX_DEPTH:
        raise ProtocolError(f"the value is nested deeper than {MAX_DEPTH} levels")
    t = type(value)
    if value is None or t in (bool, int, float, str):
        return value
    if t is list:
        return [decode(v, handle, depth + 1) for v in value]
    if t is not dict:
        raise ProtocolError(f"unexpected {t.__name__} in plain data")
    if "__handle__" in value or "__lib__" in value:
        if handle is None:
            raise ProtocolError("a handle is not plain data here")
        return handle(value)
    if len(value) == 1:
        (key, inner), = value.items()
        if key == "__nd__":
            return _decode_array(inner)
        if key == "__scalar__":
            return _decode_array(inner)[()]
        if key == "__tuple__" and type(inner) is list:
            return tuple(decode(v, handle, depth + 1) for v in inner)
        if key == "__dict__" and type(inner) is list:
            out = {}
            for pair in inner:
                if type(pair) is not list or len(pair) != 2:
                    raise ProtocolError("a dict item must be [key, value]")
                k = decode(pair[0], handle, depth + 1)
                try:
                    out[k] = decode(pair[1], handle, depth + 1)
                except TypeError:
                    raise ProtocolError(f"unhashable dict key {type(k).__name__}") from None
            return out
    if any(k.startswith("__") and k.endswith("__") for k in value):
        raise ProtocolError(f"unknown marker in {sorted(value)[:3]}")
    return {k: decode(v, handle, depth + 1) for k, v in value.items()}


def pack(obj: Any) -> str:
    """JSON text -> the ASCII form that travels (base64, so it needs no quoting anywhere)."""
    return base64.b64encode(json.dumps(obj, allow_nan=True).encode()).decode("ascii")


def unpack(text: str, limit: int = MAX_REPLY_BYTES) -> Any:
    if not isinstance(text, str):
        raise ProtocolError(f"expected text, got {type(text).__name__}")
    if len(text) > limit * 4 // 3 + 4:
        raise ProtocolError(f"the reply is larger than {limit // (1024 * 1024)} MiB")
    try:
        return json.loads(base64.b64decode(text.encode("ascii"), validate=True))
    except (ValueError, UnicodeError) as exc:
        raise ProtocolError(f"not a protocol message: {exc}") from None


# ------------------------------------------------------------------ the student's side
def _where(exc: BaseException) -> str:
    """``line N: source`` of the innermost frame of the student's own code (notebook cells)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        name = frame.filename
        if name.startswith("<ipython-input") or "/ipykernel_" in name or name.startswith("<cell") or name == "<string>":
            line = frame.line or linecache.getline(name, frame.lineno).strip()
            return f"line {frame.lineno}: {line}" if line else f"line {frame.lineno}"
    return ""


class _Kept:
    """A value that ``keep`` stores as an object (reply: a handle, even for plain data)."""

    def __init__(self, value):
        self.value = value


class _Plain(_Kept):
    """A value that ``read`` returns as plain data only (no handles)."""


def _refuse(obj: Any) -> dict:
    raise ProtocolError(f"a {type(obj).__name__} is not plain data")


class Agent:
    """Answers requests against one namespace (the notebook's globals), keeping handles to objects."""

    def __init__(self, namespace: dict | None = None):
        self._namespace = namespace
        self._objects: dict[int, Any] = {}
        self._next = 1

    def namespace(self) -> dict:
        if self._namespace is not None:
            return self._namespace
        try:  # the IPython kernel's user namespace
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None:
                return shell.user_ns
        except Exception:
            pass
        import __main__

        return vars(__main__)

    def _keep(self, obj: Any) -> dict:
        for ident, kept in self._objects.items():  # noqa: B007 (ident is used after the loop, via break)
            if kept is obj:
                break
        else:
            ident = self._next
            self._next += 1
            self._objects[ident] = obj
        return {"__handle__": ident, "type": type(obj).__name__, "callable": callable(obj)}

    def _resolve(self, ref: dict) -> Any:
        if "__handle__" in ref or "handle" in ref:
            ident = ref.get("__handle__", ref.get("handle"))
            if ident not in self._objects:
                raise ProtocolError(f"no object with handle {ident!r}")
            return self._objects[ident]
        if "lib" in ref or "__lib__" in ref:
            path = str(ref.get("lib", ref.get("__lib__")))
            if not path.startswith(LIB_PREFIXES):
                raise ProtocolError(f"{path!r} is not in an allowed module ({', '.join(LIB_PREFIXES)})")
            module, _, attr = path.rpartition(".")
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            return obj
        if "name" in ref:
            name = str(ref["name"])
            ns = self.namespace()
            if name not in ns:
                raise NameError(f"name {name!r} is not defined (run the cell that defines it)")
            return ns[name]
        raise ProtocolError(f"bad target {ref!r}")

    def _dispatch(self, req: dict) -> Any:
        op = req.get("op")
        if op == "has":
            return str(req.get("name")) in self.namespace()
        if op == "keep":
            return _Kept(decode(req.get("value"), self._resolve))
        target = self._resolve(req.get("target") or {})
        if op == "call":
            args = decode(req.get("args") or [], self._resolve)
            kwargs = decode(req.get("kwargs") or {}, self._resolve)
            fn = getattr(target, req["method"]) if req.get("method") else target
            return fn(*args, **kwargs)
        if op == "get":
            return getattr(target, str(req["attr"]))
        if op == "set":
            setattr(target, str(req["attr"]), decode(req.get("value"), self._resolve))
            return None
        if op in ("lib", "value"):
            return target
        if op == "read":
            return _Plain(target)
        raise ProtocolError(f"unknown op {op!r}")

    def handle(self, req: dict) -> dict:
        """One request -> one reply (never raises)."""
        try:
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                result = self._dispatch(req)
            if isinstance(result, _Plain):
                return {"ok": encode(result.value, _refuse)}
            if isinstance(result, _Kept):
                return {"ok": self._keep(result.value)}
            return {"ok": encode(result, self._keep)}
        except KeyboardInterrupt:
            return {"error": TIMED_OUT}
        except RecursionError:
            return {"error": {"type": "RecursionError", "message": "maximum recursion depth exceeded", "where": ""}}
        except Exception as exc:
            try:
                message = str(exc)[:2000]
            except Exception:
                message = "(the exception's message could not be shown)"
            return {"error": {"type": type(exc).__name__, "message": message, "where": _where(exc)}}

    def respond(self, packed: str) -> str:
        """The text form of :meth:`handle`: what a grading kernel evaluates for each request."""
        try:
            req = unpack(packed)
        except ProtocolError as exc:
            return pack({"error": {"type": "ProtocolError", "message": str(exc), "where": ""}})
        try:
            return pack(self.handle(req))
        except Exception as exc:  # e.g. a reply that is not JSON-able
            return pack({"error": {"type": type(exc).__name__, "message": str(exc)[:2000], "where": ""}})


#: The reply to a request whose time ran out (the checker interrupted the kernel).
TIMED_OUT = {"type": "TimeoutError", "message": "interrupted: the call took longer than the time limit", "where": ""}

#: The grading kernel's agent (the notebook's own namespace); see :func:`respond`.
AGENT = Agent()


def respond(packed: str) -> str:
    """Entry point of the grading kernel: ``grader.protocol.respond('<base64 request>')``."""
    return AGENT.respond(packed)


#: Bytes of a frame's length prefix on the checker's socket (big-endian unsigned).
FRAME_HEADER = 4


def read_frame(sock, limit: int = MAX_REPLY_BYTES) -> bytes | None:
    """One length-prefixed frame from ``sock``; ``None`` at end of stream or for an empty (closing) frame."""
    header = _read_exact(sock, FRAME_HEADER)
    if header is None:
        return None
    size = int.from_bytes(header, "big")
    if size == 0:
        return None
    if size > limit:
        raise ProtocolError(f"a frame of {size} bytes is over the limit of {limit}")
    data = _read_exact(sock, size)
    if data is None:
        raise ProtocolError("the stream ended inside a frame")
    return data


def _read_exact(sock, size: int) -> bytes | None:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(size - got, 1 << 20))
        if not chunk:
            if got:
                raise ProtocolError("the stream ended inside a frame")
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def write_frame(sock, data: bytes) -> None:
    """Send ``data`` as one length-prefixed frame (an empty ``data`` closes the session)."""
    sock.sendall(len(data).to_bytes(FRAME_HEADER, "big") + data)


def serve(path: str, token: str = "") -> None:
    """Answer the checker's requests on the unix socket ``path`` until it closes the session.

    A grading kernel runs this, on its main thread, for the length of one grade
    cell: the checker sends one ``execute_request`` that calls it, then its
    requests as frames on the socket (about 0.1 ms each, against about 2.5 ms
    for an ``execute_request`` per request).  An interrupt (the checker's time
    limit) inside the student's code becomes that request's ``TimeoutError``
    reply.  One that arrives while a request waits unread on the socket (a
    loaded machine had not read it when its time was up) is that request's
    timeout too: the request is answered ``TimeoutError`` without being run.
    Any other interrupt between requests is ignored.
    """
    import select
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    try:
        write_frame(sock, token.encode())  # tells this session from any other connection to the socket
        timed_out = False
        while True:
            try:
                data = read_frame(sock)
            except KeyboardInterrupt:
                # the checker interrupts only while it waits for an answer: a request already on the socket is
                # the one whose time ran out (with nothing waiting, the interrupt came late, after our answer)
                timed_out = timed_out or bool(select.select([sock], [], [], 0)[0])
                continue
            if data is None:
                return
            if timed_out:
                timed_out = False
                reply = pack({"error": TIMED_OUT})
            else:
                try:
                    reply = AGENT.respond(data.decode("utf-8", "replace"))
                except KeyboardInterrupt:  # between reading the request and running it
                    reply = pack({"error": TIMED_OUT})
            write_frame(sock, reply.encode())
    finally:
        sock.close()


# ------------------------------------------------------------------ the check's side
class Peer:
    """The check's end of the protocol over a transport ``send(packed request) -> packed reply``."""

    def __init__(self, send: Callable[[str], str]):
        self._send = send

    def _handle(self, marker: dict) -> Handle:
        ident = marker.get("__handle__")
        if type(ident) is not int:
            raise ProtocolError("a handle id must be an int")
        type_name = marker.get("type")
        return Handle(self, ident, str(type_name) if isinstance(type_name, str) else "object",
                      bool(marker.get("callable")))

    def request(self, op: str, target: dict | None = None, *, method: str | None = None, args=(), kwargs=None,
                attr: str | None = None, value: Any = None, name: str | None = None) -> Any:
        req: dict = {"op": op}
        if target is not None:
            req["target"] = target
        if op == "call":
            req["method"] = method
            req["args"] = encode(list(args))
            req["kwargs"] = encode(dict(kwargs or {}))
        if attr is not None:
            req["attr"] = attr
        if op in ("set", "keep"):
            req["value"] = encode(value)
        if name is not None:
            req["name"] = name
        reply = unpack(self._send(pack(req)))
        if type(reply) is not dict:
            raise ProtocolError("a reply must be an object")
        if "error" in reply:
            err = reply["error"] if type(reply["error"]) is dict else {}
            raise StudentError(str(err.get("type", "Error"))[:100], str(err.get("message", ""))[:2000],
                               str(err.get("where", ""))[:500])
        if "ok" not in reply:
            raise ProtocolError("a reply needs 'ok' or 'error'")
        return decode(reply["ok"], self._handle)
