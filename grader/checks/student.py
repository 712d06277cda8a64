"""The student's code as a check sees it: names to call, objects to hold, attributes to read.

Every check is written against :class:`Student` only, so the same check runs
in the student's kernel (feedback while they work) and in the grader's
checker process (grading), where the student's code is a sandboxed kernel
reached through :mod:`grader.protocol`.  Either way, what comes back is plain
data (numbers, strings, lists, tuples, dicts, float/int/bool arrays) or a
:class:`~grader.protocol.Handle` to an object that stays with the student.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grader.protocol import Agent, Handle, Peer


class Student:
    """The student's namespace, reached through a :class:`~grader.protocol.Peer`.

    Args:
        peer: the protocol's check-side end.
        where: ``"notebook"`` (in the student's own kernel) or ``"sandbox"`` (graded by the checker).
    """

    def __init__(self, peer: Peer, where: str = "notebook"):
        self.peer = peer
        self.where = where

    def call(self, name: str, *args, **kwargs) -> Any:
        """``name(*args, **kwargs)`` in the student's namespace (a function, or a class: returns a handle)."""
        return self.peer.request("call", {"name": name}, args=args, kwargs=kwargs)

    def fn(self, name: str) -> Callable[..., Any]:
        """A local callable that calls the student's ``name``: ``chain_forward = S.fn("chain_forward")``."""
        def call(*args, **kwargs):
            return self.call(name, *args, **kwargs)
        call.__name__ = name
        return call

    def has(self, name: str) -> bool:
        """Whether the student's namespace defines ``name``."""
        return self.peer.request("has", name=name) is True

    def value(self, name: str) -> Any:
        """The value of the student's global ``name`` (plain data, or a handle)."""
        return self.peer.request("value", {"name": name})

    def keep(self, value: Any) -> Handle:
        """Store plain ``value`` (a dict of arrays, a list...) in the student's process; return a handle to it.

        Pass the handle to a student function that changes its argument in place, then read it back with
        ``handle.read()``: ``params = S.keep({"W": W}); S.call("train_step", params, grads, lr); params.read()``.
        """
        return self.peer.request("keep", value=value)

    def lib(self, path: str) -> Handle:
        """A handle to ``path`` (``"course_lib.functional.sigmoid"``, ``"operator.add"``) in the student's process.

        Use it as an argument (an activation to pass, a model to build) or call it with ``.call(...)``.
        """
        return self.peer.request("lib", {"lib": path})


def local_student(namespace: dict | None = None) -> Student:
    """The student's own namespace in this process (default: the running notebook's), through the protocol."""
    agent = Agent(namespace)
    return Student(Peer(agent.respond), where="notebook")
