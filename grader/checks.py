"""Check helpers that the lessons' grade cells call.

A grade cell gathers several *cases* and scores the share that pass, so a
student who gets batch size 1 right but not batch size 7 earns part of the
points and sees which case broke::

    cases = checks.Cases("mlp_backward", points=3)
    cases.run("batch 1, one layer", lambda: checks.assert_gradient("grad_W[0]", grad_W, numeric, batch_size=1))
    ...
    cases.score()          # last expression of the cell: nbgrader reads it as the partial grade

A failing check raises ``AssertionError`` whose message names the quantity,
the shapes, the relative error against the threshold, the worst entry
(analytic versus numeric) and, where the numbers fit a known bug, a hint:
off by B, off by 2, sign, transposed, not summed over the batch, derivative
taken at the output instead of the input.

The references these helpers use (numpy functions, ``AssertionError``) are
bound when this module is imported, before any student code runs, so a
student cell that replaces ``np.allclose`` or ``np.linalg.norm`` does not
change a verdict.
"""
from __future__ import annotations

import contextlib
import io
import traceback
import warnings
import zlib
from typing import Callable, Mapping

import numpy as np

from course_lib.gradcheck import numerical_gradient as _numerical_gradient

# Private references, bound before student code can replace the public ones.
_asarray = np.asarray
_array = np.array
_abs = np.abs
_sqrt = np.sqrt
_sum = np.sum
_argmax = np.argmax
_unravel = np.unravel_index
_isfinite = np.isfinite
_all = np.all
_zeros = np.zeros
_float64 = np.float64
_ndarray = np.ndarray
_default_rng = np.random.default_rng
_errstate = np.errstate
_AssertionError = AssertionError
_isinstance = isinstance
_float = float
_len = len

DEFAULT_GRAD_THRESHOLD = 1e-6
DEFAULT_RTOL = 1e-7


def _norm(x: np.ndarray) -> float:
    # Written out rather than np.linalg.norm so a replaced norm cannot fake a pass.
    return _float(_sqrt(_sum(x * x)))


def to_float64(value: object, name: str) -> np.ndarray:
    """Read a student's result as a plain float64 ndarray.

    Subclasses and objects with a custom ``__eq__`` or ``__array__`` are turned
    into an ordinary array of numbers first, so comparisons below only ever see
    real numbers.
    """
    if value is None:
        raise _AssertionError(f"{name}: expected an array, got None (did the function forget to return it?)")
    if _isinstance(value, _ndarray) and type(value) is not _ndarray:
        value = value.view(_ndarray)  # drop a subclass and its overridden operators
    try:
        arr = _array(value, dtype=_float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise _AssertionError(f"{name}: expected an array of numbers, got {type(value).__name__} ({exc})") from None
    if type(arr) is not _ndarray:  # pragma: no cover - np.array with dtype never returns a subclass
        arr = arr.view(_ndarray)
    return arr


def rng(seed: int | str) -> np.random.Generator:
    """A generator seeded from an int or a label (same label, same numbers, every run)."""
    if _isinstance(seed, str):
        seed = zlib.crc32(seed.encode())
    return _default_rng(seed)


def random_array(gen: np.random.Generator, shape: tuple, low: float = -2.0, high: float = 2.0, min_abs: float = 0.0) -> np.ndarray:
    """Uniform float64 entries in ``[low, high)``, pushed away from 0 by at least ``min_abs``.

    ``min_abs > 0`` keeps inputs away from the ReLU kink, where a numerical
    derivative is 0.5 and no analytic answer can agree with it.
    """
    x = gen.uniform(low, high, size=shape)
    if min_abs > 0:
        small = _abs(x) < min_abs
        x[small] = (min_abs + gen.uniform(0, 0.5, size=int(small.sum()))) * (1 - 2 * (gen.random(int(small.sum())) < 0.5))
    return x


def numeric_vjp(forward: Callable[[np.ndarray], np.ndarray], x: np.ndarray, grad_output: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``d/dx sum(forward(x) * grad_output)`` by central differences: what a backward pass must return.

    ``grad_output`` is the random upstream gradient; a random (not all-ones)
    one catches bugs that an all-ones one hides (transposes, wrong sums).
    """
    x = _array(x, dtype=_float64, copy=True)
    G = _asarray(grad_output, dtype=_float64)
    return _numerical_gradient(lambda z: _float(_sum(_asarray(forward(z), dtype=_float64) * G)), x, eps)


# ------------------------------------------------------------------ diagnosis
def _shape_hint(got: tuple, expected: tuple, batch_size: int | None) -> str:
    if _len(got) == _len(expected) + 1 and got[1:] == expected:
        return " Hint: one row per example: sum over the batch axis (axis=0)."
    if _len(got) == _len(expected) and got == expected[::-1]:
        return " Hint: the result is transposed."
    if batch_size and got and got[0] == batch_size and expected and expected[0] != batch_size:
        return " Hint: the batch axis should have been summed away."
    return ""


def _close(a: np.ndarray, b: np.ndarray, rtol: float) -> bool:
    return _norm(a - b) <= rtol * (_norm(a) + _norm(b)) + 1e-300


def diagnose(got: np.ndarray, expected: np.ndarray, batch_size: int | None = None,
             candidates: Mapping[str, np.ndarray] | None = None, rtol: float = 1e-5) -> str:
    """A hint naming the known bug that ``got`` matches, or ``""``.

    Args:
        got: the student's array (same shape as ``expected``).
        expected: the correct array.
        batch_size: B, to recognise a missing or doubled ``1/B``.
        candidates: hint text -> the value a specific bug would produce
            (e.g. ``{"derivative taken at the output a instead of the input z": ...}``).
    """
    if not _all(_isfinite(got)):
        return "Hint: the result contains nan or inf (overflow? a division by zero? use the stable formula)."
    for text, value in (candidates or {}).items():  # bug-specific hints first: they are the most precise
        value = _asarray(value, dtype=_float64)
        if value.shape == got.shape and _close(got, value, rtol):
            return f"Hint: {text}."
    if _norm(got) == 0 and _norm(expected) > 0:
        return "Hint: the result is all zeros: is the value computed and returned (or stored)?"
    if got.ndim == 2 and got.shape[0] == got.shape[1] and _close(got, expected.T, rtol) and not _close(got, expected, rtol):
        return "Hint: the result is transposed."
    ee = _float(_sum(expected * expected))
    if ee > 0:
        r = _float(_sum(got * expected)) / ee
        if _close(got, r * expected, rtol):
            known = [(-1.0, "the sign is flipped"), (2.0, "off by a factor 2 (the 1/2 of the squared loss, or a doubled term)"),
                     (0.5, "off by a factor 1/2 (a 2 from the derivative of the square is missing)")]
            if batch_size and batch_size > 1:
                known += [(float(batch_size), f"off by a factor B = {batch_size}: the 1/B of the mean over the batch is missing"),
                          (1.0 / batch_size, f"off by a factor 1/B = 1/{batch_size}: divided by the batch size once too often")]
            for factor, text in known:
                if abs(r - factor) <= 1e-4 * abs(factor):
                    return f"Hint: {text}."
            if abs(r - 1) > 1e-3:
                return f"Hint: off by a constant factor of {r:.4g}."
    return ""


def _worst_entry(got: np.ndarray, expected: np.ndarray, got_label: str, expected_label: str) -> str:
    if got.size == 0:
        return ""
    err = _abs(got - expected)
    idx = _unravel(int(_argmax(err)), got.shape)
    where = tuple(int(i) for i in idx)
    return f"worst entry {where}: {got_label} {got[idx]:.8g}, {expected_label} {expected[idx]:.8g}"


def _compare(name: str, got_raw: object, expected_raw: object, threshold: float, kind: str,
             batch_size: int | None, candidates: Mapping[str, np.ndarray] | None) -> float:
    got = to_float64(got_raw, name)
    expected = _asarray(expected_raw, dtype=_float64)
    if got.shape != expected.shape:
        raise _AssertionError(f"{name}: expected shape {expected.shape}, got shape {got.shape}."
                              + _shape_hint(got.shape, expected.shape, batch_size))
    with _errstate(all="ignore"):
        if not _all(_isfinite(got)):
            raise _AssertionError(f"{name} (shape {got.shape}): contains nan or inf. " + diagnose(got, expected, batch_size, candidates))
        err = _norm(got - expected) / max(_norm(got) + _norm(expected), 1e-12)
        if err <= threshold:
            return err
        hint = diagnose(got, expected, batch_size, candidates)
    labels = ("analytic", "numeric") if kind == "gradient" else ("got", "expected")
    if got.ndim == 0:  # a scalar: no shape or worst entry to speak of
        raise _AssertionError(f"{name}: {labels[0]} {float(got):.8g}, {labels[1]} {float(expected):.8g}; "
                              f"relative error {err:.3e} > threshold {threshold:.1e}. {hint}".rstrip())
    worst = _worst_entry(got, expected, *labels)
    raise _AssertionError(f"{name} (shape {got.shape}): relative error {err:.3e} > threshold {threshold:.1e}; {worst}. {hint}".rstrip())


def assert_close(name: str, got: object, expected: object, rtol: float = DEFAULT_RTOL, batch_size: int | None = None,
                 candidates: Mapping[str, np.ndarray] | None = None) -> float:
    """Check a forward value against a reference: norm-wise relative error ``<= rtol``.

    Returns the relative error; raises ``AssertionError`` naming ``name``, the
    shapes, the error and the worst entry, with a hint when a known bug fits.
    """
    return _compare(name, got, expected, rtol, "value", batch_size, candidates)


def assert_gradient(name: str, analytic: object, numeric: object, threshold: float = DEFAULT_GRAD_THRESHOLD,
                    batch_size: int | None = None, candidates: Mapping[str, np.ndarray] | None = None) -> float:
    """Check an analytic gradient against a central-difference one (float64).

    Returns the relative error ``||a - n|| / max(||a|| + ||n||, 1e-12)``;
    raises ``AssertionError`` when it exceeds ``threshold``.
    """
    return _compare(name, analytic, numeric, threshold, "gradient", batch_size, candidates)


def assert_true(condition: bool, message: str) -> None:
    """``assert`` that survives ``python -O`` and a replaced ``AssertionError``."""
    if not condition:
        raise _AssertionError(message)


# ------------------------------------------------------------------ partial credit
class Cases:
    """Run a grade cell's cases, print a verdict per case, and score the share that passed.

    Args:
        name: the exercise, shown in the summary line.
        points: the cell's points (as in its nbgrader metadata).
    """

    def __init__(self, name: str, points: float):
        self.name = name
        self.points = _float(points)
        self.results: list[tuple[str, bool, str]] = []

    def run(self, label: str, check: Callable[[], object]) -> bool:
        """Run one case; any exception fails it (and only it). Returns whether it passed."""
        sink = io.StringIO()
        try:
            with warnings.catch_warnings(), _errstate(all="ignore"), contextlib.redirect_stderr(sink):
                warnings.simplefilter("ignore")
                check()
            passed, message = True, ""
        except _AssertionError as exc:
            passed, message = False, str(exc)
        except NotImplementedError:
            passed, message = False, "not implemented yet (the function still raises NotImplementedError)"
        except Exception as exc:  # the student's code crashed: say where
            frames = traceback.extract_tb(exc.__traceback__)
            where = ""
            for frame in reversed(frames):
                if frame.filename.startswith("<ipython-input") or frame.filename.startswith("/tmp/ipykernel") or "ipykernel" in frame.filename:
                    where = f" (line {frame.lineno}: {frame.line})"
                    break
            passed, message = False, f"{type(exc).__name__}: {exc}{where}"
        self.results.append((label, passed, message))
        return passed

    @property
    def passed(self) -> int:
        return sum(1 for _, ok, _ in self.results if ok)

    def score(self) -> float:
        """Print the per-case report to stdout and return ``points * passed / total``."""
        total = _len(self.results)
        earned = round(self.points * self.passed / total, 2) if total else 0.0
        print(f"{self.name}: {self.passed}/{total} checks passed -> {earned:g} of {self.points:g} points")
        for label, ok, message in self.results:
            print(f"  {'PASS' if ok else 'FAIL'}  {label}" + (f"\n        {message}" if message else ""))
        return earned
