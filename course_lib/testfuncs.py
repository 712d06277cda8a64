"""Small test functions and stand-ins that the gradient-checking lesson's checks hand to a student's code.

A check reaches a student's code only through plain data and handles, so the
callables that the student's ``numerical_gradient``, ``gradient_check``,
``directional_check`` and ``find_bugs`` receive are built here, in the
student's process, by these factories.

Smooth test functions (each holds the array ``x`` it is evaluated at, so
that ``f.apply(fn, eps)`` hands ``fn(f, f.x, eps)`` the very array it reads):

* :func:`make_sin_sum` -- ``f(z) = sum(C * sin(z))``, gradient ``C * cos(z)``;
  with ``closure=True`` ``f`` ignores its argument and reads its own ``x``
  (like a loss reading a weight matrix), gradient ``C * cos(x)``.
* :func:`make_cube_sum` -- ``f(z) = sum(z ** 3)``, gradient ``3 z ** 2``
  (its central difference with step ``h`` is exactly ``3 z ** 2 + h ** 2``).
* :func:`make_model_loss` -- ``L() = offset + loss.forward(model.forward(X), y)``
  for a course_lib model and loss, counting its evaluations; ``params`` is
  ``dict(model.named_parameters())`` (the model's own arrays).

Stand-ins for the helpers a gradient check takes as arguments.  They answer
from tables that the check computed on its own side; they do not compute
central differences or relative errors themselves:

* :func:`make_gradient_table` -- a ``numerical_gradient(f, x, eps)`` that
  returns the tabled gradient of the tabled point equal to ``x``, after making
  sure that ``f`` answers to ``x`` in place (``f(x)`` and ``f`` with one entry
  of ``x`` moved must give the tabled values; otherwise it returns zeros, as
  a central difference of an ``f`` that ignores ``x`` would).
* :func:`make_relative_error_table` -- a ``relative_error(a, b)`` that
  returns the tabled value for a tabled pair (either order) and ``nan`` for
  anything else.
* :func:`make_directional_table` -- a ``directional_check(loss_fn, params,
  grads, ...)`` whose verdict per parameter compares ``grads[name]`` with the
  tabled true gradient (max-norm, relative tolerance ``1e-5``), after making
  sure that ``loss_fn()`` recomputes the loss from the perturbed ``params``
  (otherwise every parameter fails, as a real check's would).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

Array = np.ndarray

__all__ = [
    "TestFunction",
    "make_cube_sum",
    "make_directional_table",
    "make_gradient_table",
    "make_model_loss",
    "make_relative_error_table",
    "make_sin_sum",
]


class TestFunction:
    """A callable holding the array ``x`` it is evaluated at; ``calls`` counts its evaluations."""

    __test__ = False  # not a pytest test class

    def __init__(self, x: Array):
        self.x = np.array(x, dtype=np.float64)
        self.calls = 0

    def apply(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """``fn(self, self.x, *args, **kwargs)``: hand ``fn`` this function and the very array it holds."""
        return fn(self, self.x, *args, **kwargs)


class SinSum(TestFunction):
    """``f(z) = sum(C * sin(z))`` (``closure=False``) or ``sum(C * sin(self.x))`` (``closure=True``)."""

    def __init__(self, C: Array, x: Array, closure: bool = False):
        super().__init__(x)
        self.C = np.array(C, dtype=np.float64)
        self.closure = bool(closure)

    def __call__(self, z: Array) -> float:
        self.calls += 1
        return float(np.sum(self.C * np.sin(self.x if self.closure else z)))


class CubeSum(TestFunction):
    """``f(z) = sum(z ** 3)``."""

    def __call__(self, z: Array) -> float:
        self.calls += 1
        return float(np.sum(np.asarray(z) ** 3))


def make_sin_sum(C: Array, x: Array, closure: bool = False) -> SinSum:
    """``f(z) = sum(C * sin(z))``, gradient ``C * cos(z)``; ``closure=True``: ``f`` reads its own ``x`` instead of ``z``."""
    return SinSum(C, x, closure)


def make_cube_sum(x: Array) -> CubeSum:
    """``f(z) = sum(z ** 3)``, gradient ``3 z ** 2``, holding the point ``x``."""
    return CubeSum(x)


class ModelLoss:
    """``L() = offset + loss.forward(model.forward(X), y)``, reading the model's current parameters.

    Also callable with one ignored argument (``f(x)`` for ``numerical_gradient``).
    ``params`` is ``dict(model.named_parameters())``: the model's own arrays.
    """

    def __init__(self, model, loss, X: Array, y: Array, offset: float = 0.0):
        self.model, self.loss = model, loss
        self.X, self.y = np.array(X, dtype=np.float64), np.array(y, dtype=np.float64)
        self.offset = float(offset)
        self.params = dict(model.named_parameters())
        self.calls = 0

    def __call__(self, *_ignored) -> float:
        self.calls += 1
        return self.offset + float(self.loss.forward(self.model.forward(self.X), self.y))

    def apply(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """``fn(self, self.params, *args, **kwargs)``: hand ``fn`` this loss and the model's own parameter arrays."""
        return fn(self, self.params, *args, **kwargs)


def make_model_loss(model, loss, X: Array, y: Array, offset: float = 0.0) -> ModelLoss:
    """``L() = offset + loss.forward(model.forward(X), y)`` (see :class:`ModelLoss`)."""
    return ModelLoss(model, loss, X, y, offset)


def _close(got: float, want: float) -> bool:
    return abs(got - want) <= 1e-9 * (abs(got) + abs(want)) + 1e-12


def _same(x: Array, point: Array) -> bool:
    return x.shape == point.shape and bool(np.all(np.abs(x - point) <= 1e-12 * (1.0 + np.abs(point))))


def _moved(array: Array, index: tuple, delta: float, fn: Callable[[], Any]) -> float:
    """``fn()`` with ``array[index]`` moved by ``delta`` (restored afterwards)."""
    saved = array[index]
    array[index] = saved + delta
    try:
        return float(fn())
    finally:
        array[index] = saved


class GradientTable:
    """A stand-in for ``numerical_gradient(f, x, eps)`` that answers from a table (see the module docstring).

    Each entry: ``{"point": x0, "gradient": g, "value": f(x0), "index": i, "delta": d, "moved": f(x0 + d e_i)}``.
    ``calls`` lists the names of the entries asked for.
    """

    def __init__(self, entries: Sequence[Mapping[str, Any]]):
        self.entries = [dict(e) for e in entries]
        self.calls: list = []

    def __call__(self, f: Callable[[Array], float], x: Array, eps: float = 1e-6) -> Array:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x: expected a numpy ndarray (it is perturbed in place), got {type(x).__name__}")
        for entry in self.entries:
            point = np.asarray(entry["point"], dtype=np.float64)
            if _same(x, point):
                break
        else:
            raise ValueError(f"numerical_gradient was called with an array of shape {x.shape} that is none of "
                             "the model's parameters (as they were when the check started)")
        self.calls.append(entry.get("name", ""))
        index = tuple(int(i) for i in entry["index"])
        responds = _close(float(f(x)), float(entry["value"])) and \
            _close(_moved(x, index, float(entry["delta"]), lambda: f(x)), float(entry["moved"]))
        if not responds:  # f does not re-evaluate at the perturbed x: every central difference would be 0
            return np.zeros(x.shape)
        return np.array(entry["gradient"], dtype=np.float64)


def make_gradient_table(entries: Sequence[Mapping[str, Any]]) -> GradientTable:
    """A ``numerical_gradient(f, x, eps)`` stand-in answering from ``entries`` (see :class:`GradientTable`)."""
    return GradientTable(entries)


class RelativeErrorTable:
    """A stand-in for ``relative_error(a, b)``: the tabled value of a tabled pair ``{"a", "b", "value"}``, else nan."""

    def __init__(self, entries: Sequence[Mapping[str, Any]]):
        self.entries = [dict(e) for e in entries]
        self.calls = 0

    def __call__(self, a: Array, b: Array, floor: float = 1e-12) -> float:
        self.calls += 1
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            raise ValueError(f"relative_error: expected arrays of one shape, got {a.shape} and {b.shape}")
        for entry in self.entries:
            ea, eb = np.asarray(entry["a"], dtype=np.float64), np.asarray(entry["b"], dtype=np.float64)
            if (_same(a, ea) and _same(b, eb)) or (_same(a, eb) and _same(b, ea)):
                return float(entry["value"])
        return float("nan")


def make_relative_error_table(entries: Sequence[Mapping[str, Any]]) -> RelativeErrorTable:
    """A ``relative_error(a, b)`` stand-in answering from ``entries`` (see :class:`RelativeErrorTable`)."""
    return RelativeErrorTable(entries)


class DirectionalTable:
    """A stand-in for ``directional_check(loss_fn, params, grads, ...)`` judging ``grads`` against tabled true gradients.

    Args:
        gradients: name -> the true gradient of the loss (the check's central differences).
        value: the loss at the current parameters.
        probes: ``[(name, index, delta, loss with params[name][index] moved by delta)]``.
    """

    def __init__(self, gradients: Mapping[str, Array], value: float, probes: Sequence[Sequence[Any]]):
        self.gradients = {k: np.asarray(v, dtype=np.float64) for k, v in gradients.items()}
        self.value = float(value)
        self.probes = [tuple(p) for p in probes]
        self.calls = 0

    def __call__(self, loss_fn: Callable[[], float], params: Mapping[str, Array], grads: Mapping[str, Array],
                 num_directions: int = 3, eps: float = 1e-6, rng: Any = None, **_) -> dict:
        self.calls += 1
        responds = _close(float(loss_fn()), self.value)
        for name, index, delta, moved in self.probes:
            if responds and name in params:
                index = tuple(int(i) for i in index)
                responds = _close(_moved(params[name], index, float(delta), loss_fn), float(moved))
        report = {}
        for name in params:
            g = np.asarray(grads[name], dtype=np.float64)
            true = self.gradients.get(name)
            if not responds or true is None or g.shape != true.shape:
                report[name] = {"rel_error": 1.0, "passed": False}
                continue
            scale = float(np.max(np.abs(g), initial=0.0) + np.max(np.abs(true), initial=0.0))
            err = float(np.max(np.abs(g - true), initial=0.0))
            report[name] = {"rel_error": err / max(scale, 1e-12), "passed": err <= 1e-5 * scale + 1e-10}
        return report


def make_directional_table(gradients: Mapping[str, Array], value: float, probes: Sequence[Sequence[Any]]) -> DirectionalTable:
    """A ``directional_check`` stand-in (see :class:`DirectionalTable`)."""
    return DirectionalTable(gradients, value, probes)
