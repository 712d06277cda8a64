"""What lesson authors write checks with: comparisons, hints, partial credit, and the student.

A check is a function of a :class:`~grader.checks.student.Student` (the
student's code, reached through :mod:`grader.protocol`) that raises
``AssertionError`` with a message about the student's output when something
is wrong.  A grade cell gathers cases and scores the share that pass::

    \"\"\"Check that chain_forward ... \"\"\"
    from grader.checks import lesson01
    cases = lesson01.chain(points=3)
    cases.add("depth 1, sigmoid", depth=1, act="sigmoid")
    ### BEGIN HIDDEN TESTS
    cases.add("depth 9, tanh (hidden)", depth=9, act="tanh")
    ### END HIDDEN TESTS
    cases.score()

The same cell source runs in two places (``grader/AUTHORING.md``):

* in the student's kernel, while they work and under plain ``nbgrader``:
  :func:`student` is the notebook's own namespace;
* in the grader's checker process when the class is graded by ``grader
  autograde`` / ``grader validate``: :func:`student` is the sandboxed kernel,
  driven through the protocol; the cell's source, the hidden cases, the
  reference values, the seed and the verdict never enter that kernel.

A failing check names the quantity, the shapes, the relative error against
the threshold, the worst entry (analytic versus numeric) and, where the
numbers fit a known bug, a hint.
"""
from __future__ import annotations

import contextlib
import contextvars
import io
import re
import warnings
import zlib
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from grader.protocol import Handle, ProtocolError, StudentError

from .student import Student, local_student

__all__ = ["Cases", "Student", "Handle", "StudentError", "student", "rng", "random_array", "assert_close", "assert_shape",
           "param_vjp", "low_precision",
           "assert_gradient", "assert_true", "numeric_vjp", "numerical_gradient", "to_float64", "to_float",
           "to_bool", "to_str", "to_names", "diagnose", "norm", "read_mapping"]

_asarray = np.asarray
_array = np.array
_zeros = np.zeros
_nditer = np.nditer
_unravel = np.unravel_index
_errstate = np.errstate
_default_rng = np.random.default_rng
_ndarray = np.ndarray
_float64 = np.float64
_abs = np.absolute
_sqrt = np.sqrt
_multiply = np.multiply
_subtract = np.subtract
_equal = np.equal
_isfinite = np.isfinite
_add_reduce = np.add.reduce
_and_reduce = np.logical_and.reduce
_or_reduce = np.logical_or.reduce
_view = np.ndarray.view
_argmax = np.ndarray.argmax
_AssertionError = AssertionError
_NotImplementedError = NotImplementedError
_Exception = Exception
_TypeError = TypeError
_ValueError = ValueError
_isinstance = isinstance
_issubclass = issubclass
_type = type
_float = float
_int = int
_bool = bool
_str = str
_str_copy = str.__str__
_len = len
_round = round
_print = print
_sum = sum
_max = max
_all_builtin = all
_abs_builtin = abs
_list = list
_tuple = tuple
_enumerate = enumerate
_getattr = getattr
_crc32 = zlib.crc32

DEFAULT_GRAD_THRESHOLD = 1e-6
DEFAULT_RTOL = 1e-7

#: The student under test and the run's secret seed, set by the grader's checker (grader.sandbox.checker).
_CURRENT: contextvars.ContextVar = contextvars.ContextVar("grader_student", default=None)
_RUN_SEED: contextvars.ContextVar = contextvars.ContextVar("grader_run_seed", default=None)


def student() -> Student:
    """The student's code under test.

    In the grader's checker: the sandboxed kernel being graded.  Anywhere
    else (the student's notebook, plain ``nbgrader``): the calling notebook's
    own namespace, through the same protocol.
    """
    current = _CURRENT.get()
    return current if current is not None else local_student()


@contextlib.contextmanager
def grading(who: Student, seed: int | None):
    """Inside: :func:`student` is ``who`` and :func:`rng` mixes ``seed`` into every label."""
    t1, t2 = _CURRENT.set(who), _RUN_SEED.set(seed)
    try:
        yield
    finally:
        _CURRENT.reset(t1)
        _RUN_SEED.reset(t2)


# ------------------------------------------------------------------ reading student values
def _plain(value: object) -> object:
    """``value`` itself, or for an ndarray subclass a base-class view of the same memory."""
    if _issubclass(_type(value), _ndarray) and _type(value) is not _ndarray:
        return _view(value, _ndarray)  # unbound: the subclass's own view() is not called
    return value


_NUMBER_TYPES = (_bool, _int, _float, complex, np.generic)
_MAX_NESTING = 32


def _numbers_only(value: object, depth: int = 0) -> bool:
    """Whether ``value`` is made only of arrays, numbers and (nested) lists or tuples of them.

    Anything else (an object that merely looks like a sequence, say one whose
    items are itself) is refused before numpy tries to read it.
    """
    if _isinstance(value, _ndarray) or _isinstance(value, _NUMBER_TYPES):
        return True
    if _type(value) in (_list, _tuple):
        return depth < _MAX_NESTING and _all_builtin(_numbers_only(item, depth + 1) for item in value)
    return depth == 0 and _getattr(_type(value), "__array__", None) is not None and not _isinstance(value, (_str, bytes))


def to_float64(value: object, name: str) -> np.ndarray:
    """Read a student's result as a plain float64 ndarray.

    Only ndarrays, numbers, (nested) lists and tuples of them, and objects with
    an ``__array__`` method are read; ndarray subclasses are read through a
    base-class view of their memory, so their overridden operators, ``view``,
    ``__array__`` or ``__eq__`` never run.  Comparisons below only ever see
    real numbers.
    """
    if value is None:
        raise _AssertionError(f"{name}: expected an array, got None (did the function forget to return it?)")
    value = _plain(value)
    if not _numbers_only(value):
        raise _AssertionError(f"{name}: expected an array of numbers, got {_type(value).__name__}")
    try:
        arr = _array(value, dtype=_float64, copy=True)
    except (_TypeError, _ValueError) as exc:
        raise _AssertionError(f"{name}: expected an array of numbers, got {_type(value).__name__} ({exc})") from None
    if _type(arr) is not _ndarray:  # pragma: no cover - np.array with dtype never returns a subclass
        arr = _view(arr, _ndarray)
    return arr


def to_float(value: object, name: str) -> float:
    """A student's scalar result as a Python float (one number, not an array of several)."""
    arr = to_float64(value, name)
    if arr.size != 1:
        raise _AssertionError(f"{name}: expected one number, got an array of shape {arr.shape}")
    return _float(arr.reshape(()))


def to_bool(value: object, name: str) -> bool:
    """A student's truth value as a real ``bool`` (numpy bools included; arrays of several are refused)."""
    value = _plain(value)
    if _isinstance(value, _ndarray):
        if value.size != 1:
            raise _AssertionError(f"{name}: expected True or False, got an array of shape {value.shape}")
        value = value.reshape(())[()]
    try:
        return _bool(value)
    except _Exception as exc:
        raise _AssertionError(f"{name}: expected True or False, got {_type(value).__name__} ({exc})") from None


def to_str(value: object, name: str) -> str:
    """A student's name or label as a plain ``str`` (a str subclass's characters, without its methods)."""
    if not _isinstance(value, _str):
        raise _AssertionError(f"{name}: expected a string, got {_type(value).__name__}")
    return _str_copy(value)


def to_names(values: Iterable[object], name: str) -> list:
    """A student's collection of names as a list of plain ``str`` (order kept)."""
    try:
        items = _list(values)
    except _Exception as exc:
        raise _AssertionError(f"{name}: expected a collection of names, got {_type(values).__name__} ({exc})") from None
    return [to_str(item, f"{name}[{i}]") for i, item in _enumerate(items)]


# ------------------------------------------------------------------ numpy equivalents bound at import
def _as_plain_array(x: object) -> np.ndarray:
    x = _plain(x)
    arr = _asarray(x)
    return _view(arr, _ndarray) if _type(arr) is not _ndarray else arr


def all_true(x: object) -> bool:
    """``np.all(x)`` with references bound at import."""
    return _bool(_and_reduce(_as_plain_array(x), axis=None))


def any_true(x: object) -> bool:
    """``np.any(x)`` with references bound at import."""
    return _bool(_or_reduce(_as_plain_array(x), axis=None))


def all_finite(x: object) -> bool:
    """Whether every entry of ``x`` (read as float64) is finite."""
    return _bool(_and_reduce(_isfinite(_as_plain_array(x)), axis=None))


def array_equal(a: object, b: object) -> bool:
    """``np.array_equal(a, b)`` (same shape, equal entries) with references bound at import."""
    a, b = _as_plain_array(a), _as_plain_array(b)
    if a.shape != b.shape:
        return False
    return _bool(_and_reduce(_equal(a, b), axis=None))


def _norm(x: np.ndarray) -> float:
    return _float(_sqrt(_add_reduce(_multiply(x, x), axis=None)))


def norm(x: object) -> float:
    """Euclidean (Frobenius) norm of ``x`` read as float64; ``np.linalg.norm`` with references bound at import."""
    return _norm(_array(_plain(x), dtype=_float64))


def rng(seed: int | str) -> np.random.Generator:
    """A generator seeded from an int or a label.

    In the student's notebook the same label gives the same numbers every run.
    When the grader grades, the run's secret seed (random per run, never sent
    to the kernel) is mixed in, so the inputs of a graded case cannot be known
    in advance.
    """
    if _isinstance(seed, _str):
        seed = _crc32(seed.encode())
    run = _RUN_SEED.get()
    return _default_rng(seed if run is None else [run, seed])


def random_array(gen: np.random.Generator, shape: tuple, low: float = -2.0, high: float = 2.0,
                 min_abs: float = 0.0) -> np.ndarray:
    """Uniform float64 entries in ``[low, high)``, pushed away from 0 by at least ``min_abs``.

    ``min_abs > 0`` keeps inputs away from the ReLU kink, where a numerical
    derivative is 0.5 and no analytic answer can agree with it.
    """
    x = gen.uniform(low, high, size=shape)
    if min_abs > 0:
        small = _abs(x) < min_abs
        count = _int(_add_reduce(small, axis=None))
        x[small] = (min_abs + gen.uniform(0, 0.5, size=count)) * (1 - 2 * (gen.random(count) < 0.5))
    return x


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f`` at the float64 array ``x`` (perturbed in place, restored).

    The same numbers as ``course_lib.gradcheck.numerical_gradient``, computed
    with references bound at import.
    """
    if _type(x) is not _ndarray or x.dtype != _float64:
        raise _TypeError(f"x: expected a float64 ndarray, got {_type(x).__name__}")
    grad = _zeros(x.shape, dtype=_float64)
    it = _nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        f_plus = _float(f(x))
        x[i] = old - eps
        f_minus = _float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def numeric_vjp(forward: Callable[[np.ndarray], np.ndarray], x: np.ndarray, grad_output: np.ndarray,
                eps: float = 1e-6) -> np.ndarray:
    """``d/dx sum(forward(x) * grad_output)`` by central differences: what a backward pass must return.

    ``grad_output`` is the random upstream gradient; a random (not all-ones)
    one catches bugs that an all-ones one hides (transposes, wrong sums).
    """
    x = _array(x, dtype=_float64, copy=True)
    G = _asarray(grad_output, dtype=_float64)
    return numerical_gradient(lambda z: _float(_add_reduce(_multiply(_asarray(forward(z), dtype=_float64), G), axis=None)),
                              x, eps)


# ------------------------------------------------------------------ diagnosis
def _shape_hint(got: tuple, expected: tuple, batch_size: int | None) -> str:
    if _len(got) == _len(expected) + 1 and got[1:] == expected:
        return " Hint: one row per example: sum over the batch axis (axis=0)."
    if _len(got) == _len(expected) and got == expected[::-1]:
        return " Hint: the result is transposed."
    if batch_size and batch_size > 1 and got and got[0] == batch_size and expected and expected[0] != batch_size:
        return " Hint: the batch axis should have been summed away."
    return ""


def _close(a: np.ndarray, b: np.ndarray, rtol: float) -> bool:
    return _norm(_subtract(a, b)) <= rtol * (_norm(a) + _norm(b)) + 1e-300


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
    got, expected = to_float64(got, "got"), _asarray(expected, dtype=_float64)
    if not all_finite(got):
        return "Hint: the result contains nan or inf (overflow? a division by zero? use the stable formula)."
    for text, value in _list((candidates or {}).items()):  # bug-specific hints first: they are the most precise
        value = _asarray(value, dtype=_float64)
        if value.shape == got.shape and _close(got, value, rtol):
            return f"Hint: {text}."
    if _norm(got) == 0 and _norm(expected) > 0:
        return "Hint: the result is all zeros: is the value computed and returned (or stored)?"
    if got.ndim == 2 and got.shape[0] == got.shape[1] and _close(got, expected.T, rtol) and not _close(got, expected, rtol):
        return "Hint: the result is transposed."
    ee = _float(_add_reduce(_multiply(expected, expected), axis=None))
    if ee > 0:
        r = _float(_add_reduce(_multiply(got, expected), axis=None)) / ee
        if _close(got, _multiply(r, expected), rtol):
            known = []
            if batch_size and batch_size > 1:  # first: where B = 2 the batch's 1/B is the likelier cause
                known += [(_float(batch_size),
                           f"off by a factor B = {batch_size}: the 1/B of the mean over the batch is missing"),
                          (1.0 / batch_size,
                           f"off by a factor 1/B = 1/{batch_size}: divided by the batch size once too often")]
            known += [(-1.0, "the sign is flipped"),
                      (2.0, "off by a factor 2 (the 1/2 of the squared loss missing, or a term counted twice?)"),
                      (0.5, "off by a factor 1/2 (a factor 2 missing, e.g. from the derivative of a square, "
                            "or a division too many?)")]
            for factor, text in known:
                if _abs_builtin(r - factor) <= 1e-4 * _abs_builtin(factor):
                    return f"Hint: {text}."
            # a factor is a property of several numbers: one wrong number is "a factor" of any right one, and two
            # (a column x * delta_j of a batch-1 gradient) share one whenever delta_j alone is wrong
            nonzero = _int(_add_reduce(_abs(expected) > 1e-12 * _max(_norm(expected), 1e-300), axis=None))
            if nonzero >= 3 and _abs_builtin(r - 1) > 1e-3:
                return f"Hint: every entry is off by the same factor {r:.4g}."
    return ""


def _worst_entry(got: np.ndarray, expected: np.ndarray, got_label: str, expected_label: str) -> str:
    if got.size == 0:
        return ""
    err = _abs(_subtract(got, expected))
    idx = _unravel(_int(_argmax(err)), got.shape)
    where = _tuple(_int(i) for i in idx)
    return f"worst entry {where}: {got_label} {got[idx]:.8g}, {expected_label} {expected[idx]:.8g}"


def _distinct(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` with enough digits to tell them apart (8 when that is enough, up to 17)."""
    for digits in (8, 12, 17):
        x, y = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if x != y:
            return x, y
    return x, y


def low_precision(value: object) -> float | None:
    """Machine epsilon of a float16/float32 result (arrays, numbers, or nested lists of them), else None."""
    value = _plain(value)
    if _isinstance(value, (_ndarray, np.generic)) and value.dtype.kind == "f" and value.dtype.itemsize < 8:
        return _float(np.finfo(value.dtype).eps)
    if _type(value) in (_list, _tuple) and value:
        eps = [low_precision(v) for v in value]
        if _all_builtin(e is not None for e in eps):
            return _max(eps)
    return None


#: A float32 result is judged at this many float32 epsilons (about 6e-6): right maths in float32 passes,
#: a wrong formula (errors of order 1e-2 and more) does not.
LOW_PRECISION_EPS = 50


def _compare(name: str, got_raw: object, expected_raw: object, threshold: float, kind: str,
             batch_size: int | None, candidates: Mapping[str, np.ndarray] | None) -> float:
    eps = low_precision(got_raw)
    if eps is not None:  # tolerances follow from the dtype the student computed in
        threshold = _max(threshold, LOW_PRECISION_EPS * eps)
    got = to_float64(got_raw, name)
    expected = _asarray(_plain(expected_raw), dtype=_float64)
    if got.shape != expected.shape:
        raise _AssertionError(f"{name}: expected shape {expected.shape}, got shape {got.shape}."
                              + _shape_hint(got.shape, expected.shape, batch_size))
    with _errstate(all="ignore"):
        if not all_finite(got):
            raise _AssertionError(f"{name} (shape {got.shape}): contains nan or inf. "
                                  + diagnose(got, expected, batch_size, candidates))
        err = _norm(_subtract(got, expected)) / _max(_norm(got) + _norm(expected), 1e-12)
        if err <= threshold:
            return err
        hint = diagnose(got, expected, batch_size, candidates)
    labels = ("analytic", "numeric") if kind == "gradient" else ("got", "expected")
    if got.ndim == 0:  # a scalar: no shape or worst entry to speak of
        a, b = _distinct(_float(got), _float(expected))
        raise _AssertionError(f"{name}: {labels[0]} {a}, {labels[1]} {b}; "
                              f"relative error {err:.3e} > threshold {threshold:.1e}. {hint}".rstrip())
    worst = _worst_entry(got, expected, *labels)
    raise _AssertionError(
        f"{name} (shape {got.shape}): relative error {err:.3e} > threshold {threshold:.1e}; {worst}. {hint}".rstrip())


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
    """``assert`` that survives ``python -O`` and a replaced ``AssertionError``.

    Build ``condition`` from values read with :func:`to_float`, :func:`to_bool`,
    :func:`to_names`... so that an object of the student's cannot decide it.
    """
    if not condition:
        raise _AssertionError(message)


# ------------------------------------------------------------------ shapes and parameters
def assert_shape(name: str, value: object, shape: tuple, B: int) -> object:
    """``value`` unchanged if it reads as an array of ``shape``; else a plain message, with a hint only when the
    shape itself shows the cause (one row per example; the transpose of a non-square shape)."""
    got = to_float64(value, name).shape
    if got != shape:
        hint = ""
        if got == (B, *shape):
            hint = " Hint: one row per example: sum over the batch axis (axis=0)."
        elif _len(shape) == 2 and shape[0] != shape[1] and got == shape[::-1]:
            hint = " Hint: the result is transposed."
        raise _AssertionError(f"{name}: expected shape {shape}, got shape {got}.{hint}")
    return value


def param_vjp(param: np.ndarray, forward: Callable[[], np.ndarray], G: np.ndarray) -> np.ndarray:
    """Central differences of ``sum(forward() * G)`` with respect to the array ``param`` (perturbed in place, restored)."""
    def f(value):
        saved = param.copy()
        param[...] = value
        try:
            return forward()
        finally:
            param[...] = saved
    return numeric_vjp(f, param, G)


# ------------------------------------------------------------------ partial credit
#: The hints :func:`diagnose` gives when every entry is off by one factor, and the factor each one names
#: ("B" and "1/B" name the case's batch size, whatever its value).
_FACTOR_HINTS = (
    (re.compile(r"Hint: the sign is flipped\."), lambda m: -1.0),
    (re.compile(r"Hint: off by a factor 2 \(.*?\?\)\."), lambda m: 2.0),
    (re.compile(r"Hint: off by a factor 1/2 \(.*?\?\)\."), lambda m: 0.5),
    (re.compile(r"Hint: off by a factor B = (\d+): [^.]*\."), lambda m: ("B", _float(m.group(1)))),
    (re.compile(r"Hint: off by a factor 1/B = 1/(\d+): [^.]*\."), lambda m: ("1/B", 1.0 / _float(m.group(1)))),
    (re.compile(r"Hint: every entry is off by the same factor ([-+0-9.e]+|nan|inf)\."), lambda m: _float(m.group(1))),
)


def _factor_of(message: str) -> tuple[re.Match, object] | None:
    for pattern, factor in _FACTOR_HINTS:
        for match in pattern.finditer(message):
            return match, factor(match)
    return None


def _stable(factors: list) -> bool:
    """Every factor the same number, or every one the case's own B (or 1/B)."""
    numbers = [f[1] if _isinstance(f, _tuple) else f for f in factors]
    if _all_builtin(_abs_builtin(n - numbers[0]) <= 1e-3 * _max(_abs_builtin(n), _abs_builtin(numbers[0]))
                    for n in numbers):
        return True
    names = {f[0] if _isinstance(f, _tuple) else None for f in factors}
    return _len(names) == 1 and None not in names


def _stable_factor_hints(results: list[tuple[str, bool, str]]) -> list[tuple[str, bool, str]]:
    """Drop the constant-factor hints of a cell whose failing cases are off by different factors.

    One factor per case is a fact about that case, not a cause: a factor 2 where T = 1/2 and 1/3 where T = 3
    is a 1/T too many, not "the 1/2 of the squared loss missing".  A cause is named only when every failing
    case that is off by a constant factor is off by the same one (or each by its own batch size B);
    otherwise each such case says the factor it is off by, and that it changes from case to case.
    """
    found = [_factor_of(message) if not ok else None for _, ok, message in results]
    factors = [f[1] for f in found if f is not None]
    if not factors or _stable(factors):
        return results
    out = []
    for (label, ok, message), hit in zip(results, found):
        if hit is not None:
            match, factor = hit
            number = factor[1] if _isinstance(factor, _tuple) else factor
            text = (f"Hint: every entry is off by the same factor {number:.4g} here, but the factor changes from "
                    "case to case: it depends on the case's parameters.")
            message = message[:match.start()] + text + message[match.end():]
        out.append((label, ok, message))
    return out


def read_mapping(S: Student, got: object, what: str, expected: str, keys: Iterable[str] | None = None) -> dict:
    """The student's returned mapping as a plain dict.

    A plain ``dict`` arrives as data; a dict subclass (``OrderedDict``, ``defaultdict``, ``Counter``) arrives
    as a handle and is read item by item in the student's process: the given ``keys``, or all of its keys.

    Args:
        S: the student.
        got: what the student's function returned.
        what: the function, named in the message (``"glu_backward"``).
        expected: what was expected, for the message (``"a dict {'X': grad_X, ...}"``).
        keys: the keys to read from a handle (default: every key it has).
    Returns:
        The mapping as a dict; raises ``AssertionError`` naming what came instead of a mapping.
    """
    if _type(got) is dict:
        return got
    if _isinstance(got, Handle) and (got.type_name.lower().endswith("dict") or got.type_name == "Counter"):
        try:
            names = _list(keys) if keys is not None else S.lib("operator.iadd").call([], got)
            if _type(names) is _list:
                return {k: S.lib("operator.getitem").call(got, k) for k in names}
        except StudentError:
            pass
    type_name = got.type_name if _isinstance(got, Handle) else _type(got).__name__
    assert_true(False, f"{what}: expected {expected}, got {type_name}")
    return {}


def _describe_failure(exc: BaseException) -> str:
    """One line about what went wrong, never a traceback into the grader."""
    if _isinstance(exc, _AssertionError):
        return _str(exc)
    if _isinstance(exc, StudentError):
        if exc.type_name == "NotImplementedError":
            return "not implemented yet (the function still raises NotImplementedError)"
        where = f" ({exc.where})" if exc.where else ""
        return f"your code raised {exc.type_name}: {exc.message}{where}"
    if _isinstance(exc, _NotImplementedError):
        return "not implemented yet (the function still raises NotImplementedError)"
    if _isinstance(exc, ProtocolError):
        return f"the result could not be read as plain data: {exc}"
    return f"{_type(exc).__name__}: {exc}"


class Cases:
    """Run a grade cell's cases, print a verdict per case, and score the share that passed.

    Args:
        name: the exercise, shown in the summary line.
        points: the cell's points (as in its nbgrader metadata).
        check: optional ``check(label, **params)`` that :meth:`add` runs.
    """

    def __init__(self, name: str, points: float, check: Callable[..., object] | None = None):
        self.name = _str(name)
        self.points = _float(points)
        self._check = check
        self._results: list[tuple[str, bool, str]] = []

    @property
    def results(self) -> list[tuple[str, bool, str]]:
        """``(label, passed, message)`` per case run so far (a copy)."""
        return _list(self._results)

    def run(self, label: str, check: Callable[[], object]) -> bool:
        """Run one case; any exception fails it (and only it). Returns whether it passed."""
        sink = io.StringIO()
        try:
            with warnings.catch_warnings(), _errstate(all="ignore"), contextlib.redirect_stderr(sink):
                warnings.simplefilter("ignore")
                check()
            passed, message = True, ""
        except _Exception as exc:
            passed, message = False, _describe_failure(exc)
        self._results.append((_str(label), passed, message))
        return passed

    def add(self, label: str, **params) -> bool:
        """Run ``check(label, **params)`` (the check given to the constructor) as one case."""
        if self._check is None:
            raise _TypeError("Cases.add needs the check function given as Cases(name, points, check)")
        return self.run(label, lambda: self._check(label, **params))

    @property
    def passed(self) -> int:
        return _sum(1 for _, ok, _ in self._results if ok)

    def score(self) -> float:
        """Print the per-case report to stdout and return ``points * passed / total``."""
        total = _len(self._results)
        earned = _round(self.points * self.passed / total, 2) if total else 0.0
        _print(f"{self.name}: {self.passed}/{total} checks passed -> {earned:g} of {self.points:g} points")
        for label, ok, message in _stable_factor_hints(self._results):
            _print(f"  {'PASS' if ok else 'FAIL'}  {label}" + (f"\n        {message}" if message else ""))
        return _float(earned)
