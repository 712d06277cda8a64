"""Checks of lesson 03 (softmax and cross-entropy), one factory per grade cell.

What the checks accept:

* ``softmax(Z)`` / ``log_softmax(Z)``: for logits ``Z`` of shape ``(B, C)`` (always with entries of
  about +-1000), arrays (or nested lists) of shape ``(B, C)`` equal to course_lib's row-wise softmax /
  log-softmax (relative error <= 1e-10, or the float32 tolerance for a float32 result), finite, softmax
  rows summing to 1.  Each case checks the two functions separately: one function's mistakes never cost
  the other's points.
* ``softmax_jacobian(z)``: for one row ``z`` of shape ``(C,)``, a ``(C, C)`` array matching central
  differences of a reference softmax (<= 1e-6) and ``diag(a) - a a^T`` (<= 1e-10).
* ``cross_entropy(Z, y)``: one finite number (any array of size 1), the batch mean of
  ``-log softmax(Z_n)[y_n]`` (<= 1e-10); ``cross_entropy_grad(Z, y)``: a ``(B, C)`` array matching
  central differences of the reference loss (<= 1e-6).
* ``softmax_temperature_backward(Z, T, grad_output)``: for logits ``Z (B, C)``, a temperature ``T > 0`` and
  ``grad_output = dL/dP (B, C)`` with ``P = softmax(Z / T)``, a ``(B, C)`` array ``dL/dZ`` matching central
  differences of ``sum(softmax(Z / T) * grad_output)`` (<= 1e-6; float32: the float32 tolerance).
* ``train_step(params, X, y, lr)``: called with a real ``dict`` of four float64 arrays
  ``W1 (d_in, H)``, ``b1 (H,)``, ``W2 (H, C)``, ``b2 (C,)``; afterwards the dict's entries
  (updated in place, or re-assigned in the dict) must equal one gradient-descent step of
  Linear -> ReLU -> Linear -> softmax cross-entropy (the implied gradient ``(old - new) / lr`` within
  1e-6 of course_lib's); the return value must be one number, the loss before the step (<= 1e-10).

Every reference is computed here with numpy and course_lib; the student's code is reached only
through :func:`grader.checks.student`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_lib.functional import log_softmax as _ref_log_softmax
from course_lib.functional import softmax as _ref_softmax
from course_lib.losses import SoftmaxCrossEntropy as _RefSoftmaxCrossEntropy
from course_lib.modules import Linear as _RefLinear
from course_lib.modules import ReLU as _RefReLU
from course_lib.modules import Sequential as _RefSequential

from . import (
    Cases,
    all_finite,
    any_true,
    array_equal,
    assert_close,
    assert_gradient,
    assert_true,
    numeric_vjp,
    numerical_gradient,
    random_array,
    rng,
    student,
    to_float64,
)

__all__ = ["cross_entropy", "log_softmax", "softmax", "softmax_jacobian", "softmax_temperature_backward", "train_step"]

_AXIS_HINT = "normalised over the batch axis (axis=0) instead of over the classes of each row (axis=1)"


def _logits(gen: np.random.Generator, Z: Sequence | None = None, B: int = 1, C: int = 2, std: float = 1.0,
            uniform: Sequence[float] | None = None, rows: Sequence = (), shift_rows: Sequence = (),
            columns: Sequence = ()) -> np.ndarray:
    """A (B, C) float64 array of logits: ``Z`` as given, or drawn from ``gen``.

    Drawn: normal(0, std), or uniform(low, high) when ``uniform=(low, high)``; then
    ``rows=[(i, [values])]`` replaces row i, ``shift_rows=[(i, offset)]`` sets row i to
    ``offset + normal(0, 1)`` (fresh draws), ``columns=[(j, value)]`` sets column j.
    """
    if Z is not None:
        return np.array(Z, dtype=np.float64)
    out = gen.uniform(*uniform, size=(B, C)) if uniform is not None else gen.normal(0.0, std, size=(B, C))
    for i, values in rows:
        out[i] = values
    for i, offset in shift_rows:
        out[i] = offset + gen.normal(0.0, 1.0, size=C)
    for j, value in columns:
        out[:, j] = value
    return out


# ------------------------------------------------------------------ helpers
def _float_dtype(raw: object) -> np.dtype | None:
    """The dtype of a student's float16/float32/float64 array result (None for lists, numbers...)."""
    if isinstance(raw, (np.ndarray, np.generic)) and raw.dtype.kind == "f":
        return raw.dtype
    return None


def _as_dtype_of(raw: object, values: np.ndarray) -> np.ndarray:
    """``values`` in the float dtype of the student's result ``raw`` (so the tolerance follows that dtype)."""
    dtype = _float_dtype(raw)
    return np.asarray(values, dtype=dtype) if dtype is not None else values


def _fits(got: np.ndarray, candidate: np.ndarray) -> bool:
    """Whether ``got`` is exactly what a known bug gives: same shape, nan/inf at the same places, the rest close."""
    with np.errstate(all="ignore"):
        candidate = np.asarray(candidate, dtype=np.float64)
        return (got.shape == candidate.shape
                and bool(np.array_equal(np.isnan(got), np.isnan(candidate)))
                and bool(np.allclose(got, candidate, rtol=1e-6, atol=1e-12, equal_nan=True)))


def _nonfinite_hint(got: np.ndarray, candidates: dict) -> str:
    """`` Hint: ...`` for the one bug (text -> value it gives) whose non-finite output ``got`` is exactly, else ``""``."""
    matches = []
    for text, make in candidates.items():
        with np.errstate(all="ignore"):
            value = make()
        if not all_finite(value) and _fits(got, value):
            matches.append(text)
    return f" Hint: {matches[0]}." if len(matches) == 1 else ""  # several bugs fit: name none


def _exp_rows(Z: np.ndarray, shift: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """``exp(Z - shift)`` and its row sums (computed as a student would, overflow and underflow included)."""
    with np.errstate(all="ignore"):
        E = np.exp(Z - shift)
        return E, E.sum(axis=1, keepdims=True)


_NO_MAX = "the max-subtraction is missing: compute np.exp(Z - Z.max(axis=1, keepdims=True))"
_GLOBAL_MAX = ("the maximum of the whole array was subtracted (Z.max()): a row far below it underflows to 0/0; "
               "subtract each row's own maximum, Z.max(axis=1, keepdims=True)")


def _softmax_bugs(Z: np.ndarray) -> dict:
    """Non-finite softmax outputs of known bugs, as ``{hint: () -> value}``."""
    def ratio(shift):
        E, total = _exp_rows(Z, shift)
        return E / total
    return {_NO_MAX: lambda: ratio(0.0), _GLOBAL_MAX: lambda: ratio(Z.max())}


def _log_softmax_bugs(Z: np.ndarray) -> dict:
    """Non-finite log_softmax outputs of known bugs, as ``{hint: () -> value}``."""
    def log_ratio(shift):
        E, total = _exp_rows(Z, shift)
        return np.log(E / total)

    def lse(shift):
        _, total = _exp_rows(Z, shift)
        return Z - shift - np.log(total)
    return {
        "np.log(softmax(Z)) gives -inf where a probability underflows to 0; "
        "compute Z - m - log(sum(exp(Z - m))) with m the row maximum": lambda: np.log(_ref_softmax(Z)),
        "np.log of a softmax without the max-subtraction: compute Z - m - log(sum(exp(Z - m))) with m the row maximum":
            lambda: log_ratio(0.0),
        "logsumexp without the max-subtraction overflows: compute Z - m - log(sum(exp(Z - m))) with m the row maximum":
            lambda: lse(0.0),
        "the maximum of the whole array was subtracted (Z.max()): for a row far below it the sum of exponentials "
        "underflows to 0 and its log is -inf; subtract each row's own maximum, Z.max(axis=1, keepdims=True)":
            lambda: lse(Z.max()),
        "np.log of a softmax that subtracts the maximum of the whole array (Z.max()): subtract each row's own "
        "maximum, Z.max(axis=1, keepdims=True)": lambda: log_ratio(Z.max()),
    }


# ------------------------------------------------------------------ Exercise 1
def softmax(points: float) -> Cases:
    """softmax against course_lib's, finite at logits of +-1000, rows summing to 1.

    Accepts: any ``(B, C)`` array or nested list of numbers equal to the reference (float64: relative
    error <= 1e-10; float32: the float32 tolerance), finite, rows summing to 1.

    Case params: those of the logits (``Z=[[...]]`` given, or ``B, C, std, uniform, rows, columns``).
    """
    S = student()

    def check_softmax(label: str, **params) -> None:
        Z = _logits(rng(label), **params)
        B = Z.shape[0]
        raw = S.call("softmax", Z.copy())
        P = to_float64(raw, "softmax(Z)")
        assert_true(P.shape == Z.shape, f"softmax(Z): expected shape {Z.shape}, got shape {P.shape}.")
        assert_true(all_finite(P),
                    f"softmax(Z) (shape {Z.shape}) contains nan or inf for logits up to +-{np.abs(Z).max():g}."
                    + _nonfinite_hint(P, _softmax_bugs(Z)))
        assert_close("softmax(Z)", raw, _ref_softmax(Z), rtol=1e-10, batch_size=B,
                     candidates={_AXIS_HINT: _ref_softmax(Z, axis=0)})
        assert_close("row sums of softmax(Z)", _as_dtype_of(raw, P.sum(axis=1)), np.ones(B), rtol=1e-12)

    return Cases("softmax", points, check_softmax)


def log_softmax(points: float) -> Cases:
    """log_softmax against course_lib's, finite at logits of +-1000 (where softmax underflows to 0).

    Accepts: any ``(B, C)`` array or nested list of numbers equal to the reference (float64: relative error
    <= 1e-10; float32: the float32 tolerance), finite.

    Case params: those of the logits (``Z=[[...]]`` given, or ``B, C, std, uniform, rows, columns``).
    """
    S = student()

    def check_log_softmax(label: str, **params) -> None:
        Z = _logits(rng(label), **params)
        B = Z.shape[0]
        raw = S.call("log_softmax", Z.copy())
        logP = to_float64(raw, "log_softmax(Z)")
        assert_true(logP.shape == Z.shape, f"log_softmax(Z): expected shape {Z.shape}, got shape {logP.shape}.")
        assert_true(all_finite(logP),
                    f"log_softmax(Z) (shape {Z.shape}) contains nan or inf for logits up to +-{np.abs(Z).max():g}."
                    + _nonfinite_hint(logP, _log_softmax_bugs(Z)))
        assert_close("log_softmax(Z)", raw, _ref_log_softmax(Z), rtol=1e-10, batch_size=B, candidates={
            _AXIS_HINT: _ref_log_softmax(Z, axis=0),
            "these are the probabilities, not their logarithm": _ref_softmax(Z)})

    return Cases("log_softmax", points, check_log_softmax)


# ------------------------------------------------------------------ Exercise 2
def softmax_jacobian(points: float) -> Cases:
    """softmax_jacobian(z) against central differences of course_lib's softmax and diag(a) - a a^T.

    Accepts: any ``(C, C)`` array or nested list of numbers with ``J[i, j] = d a_i / d z_j`` (float64:
    within 1e-10 of ``diag(a) - a a^T``; float32: the float32 tolerance).

    Case params: ``z=[...]`` given, or ``C`` and ``std`` (z drawn from normal(0, std)).
    """
    S = student()

    def check(label: str, z: Sequence[float] | None = None, C: int = 2, std: float = 1.0) -> None:
        z = np.array(z, dtype=np.float64) if z is not None else rng(label).normal(0.0, std, size=C)
        C = z.shape[0]
        raw = S.call("softmax_jacobian", z.copy())
        J = to_float64(raw, "softmax_jacobian J")
        assert_true(J.shape == (C, C), f"softmax_jacobian J: expected shape {(C, C)} for z of shape {(C,)}, "
                    f"got shape {J.shape}.")
        # row i of the numeric Jacobian: the gradient of a_i with respect to z, by central differences
        numeric = np.stack([numerical_gradient(lambda v, i=i: float(_ref_softmax(v)[i]), z.copy()) for i in range(C)])
        if not all_finite(J):
            def naive_jacobian():
                E, total = _exp_rows(z[None, :], 0.0)
                a_naive = (E / total)[0]
                return np.diag(a_naive) - np.outer(a_naive, a_naive)
            assert_true(False, f"softmax_jacobian J (shape {J.shape}) contains nan or inf for logits up to "
                               f"+-{np.abs(z).max():g}." + _nonfinite_hint(J, {
                                   "the softmax inside has no max-subtraction: compute np.exp(z - z.max())":
                                       naive_jacobian}))
        a = _ref_softmax(z)
        candidates = {
            "the off-diagonal terms -a_i a_j are missing: softmax is not element-wise, every a_i depends on every z_j":
                np.diag(a * (1.0 - a)),
            "only diag(a): the -a a^T term is missing": np.diag(a),
            "only -a a^T: the diag(a) term is missing": -np.outer(a, a),
        }
        assert_gradient("softmax_jacobian J", raw, numeric, threshold=1e-6, candidates=candidates)
        assert_close("softmax_jacobian J against diag(a) - a a^T", raw, np.diag(a) - np.outer(a, a), rtol=1e-10,
                     candidates=candidates)

    return Cases("softmax_jacobian", points, check)


# ------------------------------------------------------------------ Exercise 3
def cross_entropy(points: float) -> Cases:
    """cross_entropy against a reference loss, cross_entropy_grad against its central differences.

    Accepts: ``cross_entropy``: one finite number (a float, a numpy scalar, any array or list of size 1),
    float64 within 1e-10 of the batch-mean loss (float32: the float32 tolerance); ``cross_entropy_grad``:
    any ``(B, C)`` array or nested list within 1e-6 of central differences of that loss.

    Case params: the logits' (see :func:`softmax`) and ``y=[...]`` (labels given) or none (drawn after the logits).
    """
    S = student()

    def check(label: str, y: Sequence[int] | None = None, **params) -> None:
        gen = rng(label)
        Z = _logits(gen, **params)
        B, C = Z.shape
        y = np.array(y, dtype=np.int64) if y is not None else gen.integers(0, C, size=B)
        idx = np.arange(B)

        def ref_loss(Zv: np.ndarray) -> float:
            return float(-np.mean(_ref_log_softmax(Zv)[idx, y]))

        expected = ref_loss(Z)
        raw = S.call("cross_entropy", Z.copy(), y.copy())
        got = to_float64(raw, "cross_entropy(Z, y)")
        with np.errstate(all="ignore"):
            per_example = -_ref_log_softmax(Z)[idx, y]
        assert_true(got.size == 1, f"cross_entropy(Z, y): expected one number (the mean over the batch), got shape {got.shape}."
                    + (" Hint: one loss per example: take the mean over the batch."
                       if got.size == B and _fits(got.reshape(B), per_example) else ""))

        def naive(shift):
            E, total = _exp_rows(Z, shift)
            return np.array([-np.mean(np.log(E / total)[idx, y])])

        def unshifted_lse():
            _, total = _exp_rows(Z, 0.0)
            return np.array([np.mean(np.log(total[:, 0]) - Z[idx, y])])

        assert_true(all_finite(got),
                    f"cross_entropy(Z, y) (Z of shape {Z.shape}) is {float(got.reshape(())):g} for logits up to "
                    f"+-{np.abs(Z).max():g}." + _nonfinite_hint(got.reshape(1), {
                        "-log of a softmax without the max-subtraction overflows: use -log a_y = logsumexp(Z_n) - Z_n,y "
                        "with the row maximum subtracted inside the exp": lambda: naive(0.0),
                        "-np.log(softmax(Z)[n, y_n]) is inf where the label's probability underflows to 0: use "
                        "-log a_y = logsumexp(Z_n) - Z_n,y with the row maximum subtracted inside the exp":
                            lambda: np.array([-np.mean(np.log(_ref_softmax(Z))[idx, y])]),
                        "logsumexp without the max-subtraction overflows: subtract the row maximum inside the exp "
                        "and add it back outside the log": unshifted_lse,
                    }))
        assert_close("cross_entropy(Z, y)", _as_dtype_of(raw, got.reshape(1)), [expected], rtol=1e-10, batch_size=B)

        P = _ref_softmax(Z)
        Y = np.zeros((B, C))
        Y[idx, y] = 1.0
        grad = S.call("cross_entropy_grad", Z.copy(), y.copy())
        g = to_float64(grad, "cross_entropy_grad")
        if g.shape == Z.shape and not all_finite(g):
            def naive_grad():
                E, total = _exp_rows(Z, 0.0)
                return (E / total - Y) / B
            assert_true(False, f"cross_entropy_grad (shape {g.shape}) contains nan or inf for logits up to "
                               f"+-{np.abs(Z).max():g}." + _nonfinite_hint(g, {
                                   "the softmax inside has no max-subtraction: compute np.exp(Z - Z.max(axis=1, "
                                   "keepdims=True))": naive_grad}))
        numeric = numerical_gradient(ref_loss, Z.copy(), eps=1e-5)
        assert_gradient("cross_entropy_grad", grad, numeric, threshold=1e-6, batch_size=B, candidates={
            "this is softmax(Z) / B: the one-hot labels were not subtracted": P / B,
            "the gradient of the loss with respect to the probabilities (-y/a) is not the gradient with respect to the logits":
                -Y / np.maximum(P, 1e-300) / B,
        })

    return Cases("cross_entropy and cross_entropy_grad", points, check)


# ------------------------------------------------------------------ Exercise 4 (derivation)
def softmax_temperature_backward(points: float) -> Cases:
    """softmax_temperature_backward(Z, T, grad_output) against central differences of sum(softmax(Z / T) * G).

    Accepts: any ``(B, C)`` array or nested list of numbers within 1e-6 (relative error) of the central
    differences, computed with the student's own softmax or any other stable one, loops or einsum.

    Case params: the logits' (see :func:`softmax`), ``T`` (the temperature); ``grad_output`` is drawn
    from normal(0, 1) after the logits (a random upstream gradient, not all ones).
    """
    S = student()

    def check(label: str, T: float, **params) -> None:
        gen = rng(label)
        Z = _logits(gen, **params)
        B, C = Z.shape
        G = gen.normal(0.0, 1.0, size=(B, C))
        raw = S.call("softmax_temperature_backward", Z.copy(), float(T), G.copy())
        got = to_float64(raw, "softmax_temperature_backward dL/dZ")
        assert_true(got.shape == Z.shape, f"softmax_temperature_backward dL/dZ: expected shape {Z.shape} "
                    f"(the shape of Z), got shape {got.shape}.")
        assert_true(all_finite(got), f"softmax_temperature_backward dL/dZ (shape {Z.shape}) contains nan or inf "
                    f"for logits up to +-{np.abs(Z).max():g} and T = {T:g}: compute softmax(Z / T) stably.")
        numeric = numeric_vjp(lambda V: _ref_softmax(V / T), Z, G)
        P = _ref_softmax(Z / T)
        inner = (G * P).sum(axis=1, keepdims=True)
        right = P * (G - inner) / T
        candidates = {
            "the factor 1/T of the chain rule through Z / T is missing": right * T,
            "multiplied by T instead of divided by T: d(Z / T)/dZ = 1/T": right * T * T,
            "only the diagonal of the softmax Jacobian (P * grad_output / T): the -P (P . grad_output) term "
            "of every row is missing": P * G / T,
            "the probabilities were taken at temperature 1, softmax(Z), instead of softmax(Z / T)":
                _ref_softmax(Z) * (G - (G * _ref_softmax(Z)).sum(axis=1, keepdims=True)) / T,
            "the row sum P . grad_output was taken over the batch (axis=0) instead of over the classes of each row":
                P * (G - (G * P).sum(axis=0, keepdims=True)) / T,
        }
        assert_gradient("softmax_temperature_backward dL/dZ", raw, numeric, threshold=1e-6, batch_size=B,
                        candidates=candidates)

    return Cases("softmax_temperature_backward", points, check)


# ------------------------------------------------------------------ Exercise 4
def train_step(points: float) -> Cases:
    """train_step(params, X, y, lr): the in-place update of W1, b1, W2, b2 and the returned loss against a reference step.

    Accepts: any way of changing the caller's dict (``-=`` on its arrays, ``params[k] = new array``,
    ``params.update(...)``, arrays or lists of numbers) whose new values equal one gradient-descent step
    (implied gradient within 1e-6), and a returned loss that is one number (float, numpy scalar, array
    of size 1) within 1e-10 of the loss before the step.

    Case params: ``B, d_in, H, C`` (weights, inputs, labels and lr drawn from ``rng(label)``).
    """
    S = student()

    def check(label: str, B: int, d_in: int, H: int, C: int) -> None:
        # Draw again (up to 10 times) until every parameter has a nonzero gradient: with all hidden ReLUs off
        # (likely at B = 1) a missing W1 or b1 update could not be seen, whatever the run's seed.
        for attempt in range(10):
            gen = rng(label if attempt == 0 else f"{label} #{attempt}")
            params = {"W1": gen.normal(0.0, 1.0, size=(d_in, H)), "b1": gen.normal(0.0, 0.5, size=H),
                      "W2": gen.normal(0.0, 1.0, size=(H, C)), "b2": gen.normal(0.0, 0.5, size=C)}
            X = random_array(gen, (B, d_in), min_abs=0.1)
            y = gen.integers(0, C, size=B)
            lr = float(gen.uniform(0.05, 0.5))
            # reference gradients from course_lib's modules (here, in the checker)
            net = _RefSequential(_RefLinear(d_in, H), _RefReLU(), _RefLinear(H, C))
            net[0].W, net[0].b = params["W1"].copy(), params["b1"].copy()
            net[2].W, net[2].b = params["W2"].copy(), params["b2"].copy()
            loss_fn = _RefSoftmaxCrossEntropy()
            ref_loss = loss_fn.forward(net.forward(X), y)
            net.backward(loss_fn.backward())
            ref_grads = {"W1": net[0].grad_W, "b1": net[0].grad_b, "W2": net[2].grad_W, "b2": net[2].grad_b}
            if all(np.linalg.norm(g) > 1e-8 for g in ref_grads.values()):
                break

        # a real dict of the arrays, kept in the student's process: train_step changes it, read() brings it back
        kept = S.keep({name: value.copy() for name, value in params.items()})
        out = S.call("train_step", kept, X.copy(), y.copy(), lr)
        assert_true(not isinstance(out, dict), "train_step returned a dict: in this lesson it updates params IN PLACE "
                    "(params['W1'] -= lr * grad_W1) and returns the loss.")
        after = kept.read()
        assert_true(isinstance(after, dict) and all(isinstance(k, str) for k in after),
                    "params after train_step: the dict could not be read back (are its keys still the names?).")
        new_values = {}
        for name in ("W1", "b1", "W2", "b2"):
            assert_true(name in after, f"params['{name}'] after the step: the key '{name}' is missing from params.")
            new_values[name] = to_float64(after[name], f"params['{name}'] after the step")
            assert_true(new_values[name].shape == params[name].shape,
                        f"params['{name}'] after the step: expected shape {params[name].shape}, "
                        f"got shape {new_values[name].shape}.")
        unchanged = [name for name in new_values if array_equal(new_values[name], params[name])]
        for name, new in new_values.items():
            if name in unchanged and any_true(ref_grads[name]):
                if len(unchanged) == 4:
                    hint = (" None of W1, b1, W2, b2 changed. Hint: the caller's params must change: update the arrays "
                            "in place (params[name] -= lr * grad) or assign params[name] = ...; rebinding a local name "
                            "or updating a copy of the dict leaves them as they were.")
                elif name.startswith("b") and name.replace("b", "W") not in unchanged:
                    hint = " Hint: forgetting the bias: b must be updated too, with grad_b = delta.sum(axis=0)."
                else:
                    hint = ""
                assert_true(False, f"grad_{name}: params['{name}'] (shape {new.shape}) was not changed by train_step.{hint}")
            implied = (params[name] - new) / lr  # the gradient this update used
            # "got" is the gradient implied by the student's update, "expected" the reference step's gradient
            assert_close(f"grad_{name} (implied by the update (old - new) / lr of params['{name}'])", implied,
                         ref_grads[name], rtol=1e-6, batch_size=B, candidates={
                             "the update has the wrong sign (gradient ascent): use params[name] -= lr * grad": -ref_grads[name],
                         })
        loss = to_float64(out, "loss returned by train_step")
        assert_true(loss.size == 1, f"loss returned by train_step: expected one float, got shape {loss.shape}.")
        assert_close("loss returned by train_step (before the update)", loss.reshape(1), [ref_loss], rtol=1e-10, batch_size=B)

    return Cases("train_step", points, check)
