"""Checks of lesson 03 (softmax and cross-entropy), one factory per grade cell.

What the checks accept:

* ``softmax(Z)`` / ``log_softmax(Z)``: for logits ``Z`` of shape ``(B, C)`` (always with entries of
  about +-1000), arrays of shape ``(B, C)`` equal to course_lib's row-wise softmax / log-softmax
  (relative error <= 1e-10), finite, softmax rows summing to 1 (<= 1e-12).
* ``softmax_jacobian(z)``: for one row ``z`` of shape ``(C,)``, a ``(C, C)`` array matching central
  differences of a reference softmax (<= 1e-6) and ``diag(a) - a a^T`` (<= 1e-10).
* ``cross_entropy(Z, y)``: one finite number (any array of size 1), the batch mean of
  ``-log softmax(Z_n)[y_n]`` (<= 1e-10); ``cross_entropy_grad(Z, y)``: a ``(B, C)`` array matching
  central differences of the reference loss (<= 1e-6).
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
    Handle,
    all_finite,
    any_true,
    assert_close,
    assert_gradient,
    assert_true,
    numerical_gradient,
    random_array,
    rng,
    student,
    to_float64,
)

__all__ = ["cross_entropy", "softmax", "softmax_jacobian", "train_step"]

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


# ------------------------------------------------------------------ Exercise 1
def softmax(points: float) -> Cases:
    """softmax / log_softmax against course_lib's, finite at logits of +-1000, softmax rows summing to 1.

    Case params: those of the logits (``Z=[[...]]`` given, or ``B, C, std, uniform, rows, columns``).
    """
    S = student()

    def check(label: str, **params) -> None:
        Z = _logits(rng(label), **params)
        B = Z.shape[0]
        biggest = float(np.abs(Z).max())
        P = to_float64(S.call("softmax", Z.copy()), "softmax(Z)")
        assert_true(P.shape == Z.shape, f"softmax(Z): expected shape {Z.shape}, got shape {P.shape}.")
        assert_true(all_finite(P),
                    f"softmax(Z) (shape {Z.shape}) contains nan or inf for logits up to +-{biggest:g}. "
                    "Hint: the max-subtraction is missing: compute np.exp(Z - Z.max(axis=1, keepdims=True)).")
        assert_close("softmax(Z)", P, _ref_softmax(Z), rtol=1e-10, batch_size=B,
                     candidates={_AXIS_HINT: _ref_softmax(Z, axis=0)})
        assert_close("row sums of softmax(Z)", P.sum(axis=1), np.ones(B), rtol=1e-12)
        logP = to_float64(S.call("log_softmax", Z.copy()), "log_softmax(Z)")
        assert_true(logP.shape == Z.shape, f"log_softmax(Z): expected shape {Z.shape}, got shape {logP.shape}.")
        assert_true(all_finite(logP),
                    f"log_softmax(Z) (shape {Z.shape}) contains nan or inf for logits up to +-{biggest:g}. "
                    "Hint: np.log(softmax(Z)) gives -inf where a probability underflows to 0; "
                    "compute Z - m - log(sum(exp(Z - m))) with m the row maximum.")
        assert_close("log_softmax(Z)", logP, _ref_log_softmax(Z), rtol=1e-10, batch_size=B, candidates={
            _AXIS_HINT: _ref_log_softmax(Z, axis=0),
            "these are the probabilities, not their logarithm": _ref_softmax(Z)})

    return Cases("softmax and log_softmax", points, check)


# ------------------------------------------------------------------ Exercise 2
def softmax_jacobian(points: float) -> Cases:
    """softmax_jacobian(z) against central differences of course_lib's softmax and diag(a) - a a^T.

    Case params: ``z=[...]`` given, or ``C`` and ``std`` (z drawn from normal(0, std)).
    """
    S = student()

    def check(label: str, z: Sequence[float] | None = None, C: int = 2, std: float = 1.0) -> None:
        z = np.array(z, dtype=np.float64) if z is not None else rng(label).normal(0.0, std, size=C)
        C = z.shape[0]
        J = to_float64(S.call("softmax_jacobian", z.copy()), "softmax_jacobian J")
        # row i of the numeric Jacobian: the gradient of a_i with respect to z, by central differences
        numeric = np.stack([numerical_gradient(lambda v, i=i: float(_ref_softmax(v)[i]), z.copy()) for i in range(C)])
        a = _ref_softmax(z)
        candidates = {
            "the off-diagonal terms -a_i a_j are missing: softmax is not element-wise, every a_i depends on every z_j":
                np.diag(a * (1.0 - a)),
            "only diag(a): the -a a^T term is missing": np.diag(a),
            "only -a a^T: the diag(a) term is missing": -np.outer(a, a),
        }
        assert_gradient("softmax_jacobian J", J, numeric, threshold=1e-6, candidates=candidates)
        assert_close("softmax_jacobian J against diag(a) - a a^T", J, np.diag(a) - np.outer(a, a), rtol=1e-10,
                     candidates=candidates)

    return Cases("softmax_jacobian", points, check)


# ------------------------------------------------------------------ Exercise 3
def cross_entropy(points: float) -> Cases:
    """cross_entropy against a reference loss, cross_entropy_grad against its central differences.

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
        got = to_float64(S.call("cross_entropy", Z.copy(), y.copy()), "cross_entropy(Z, y)")
        assert_true(got.size == 1, f"cross_entropy(Z, y): expected one number (the mean over the batch), got shape {got.shape}."
                    + (" Hint: one loss per example: take the mean over the batch." if got.size == B else ""))
        assert_true(all_finite(got),
                    f"cross_entropy(Z, y) (Z of shape {Z.shape}) is nan or inf for logits up to +-{np.abs(Z).max():g}. "
                    "Hint: use -log a_y = logsumexp(Z_n) - Z_n,y with the row maximum subtracted inside the exp, "
                    "not np.log of a naive softmax.")
        assert_close("cross_entropy(Z, y)", got.reshape(1), [expected], rtol=1e-10, batch_size=B)

        P = _ref_softmax(Z)
        Y = np.zeros((B, C))
        Y[idx, y] = 1.0
        grad = S.call("cross_entropy_grad", Z.copy(), y.copy())
        numeric = numerical_gradient(ref_loss, Z.copy(), eps=1e-5)
        assert_gradient("cross_entropy_grad", grad, numeric, threshold=1e-6, batch_size=B, candidates={
            "this is softmax(Z) / B: the one-hot labels were not subtracted": P / B,
            "the gradient of the loss with respect to the probabilities (-y/a) is not the gradient with respect to the logits":
                -Y / np.maximum(P, 1e-300) / B,
        })

    return Cases("cross_entropy and cross_entropy_grad", points, check)


# ------------------------------------------------------------------ Exercise 4
def _call_with_dict(S, name: str, params: dict, *args) -> tuple[object, object]:
    """``name(params, *args)`` in the student's process with ``params`` a real dict there; returns ``(result, params after)``.

    Arguments travel as copies, so a plain call could not show what the function did to the
    dict. Each argument is put into a one-element object array (a handle), and numpy's
    ``frompyfunc`` of the student's function unpacks them there: the function receives a
    genuine dict of float64 arrays, and the same dict is read back afterwards.
    """
    setitem, getitem = S.lib("operator.setitem"), S.lib("operator.getitem")

    def boxed(value: object) -> Handle:
        box = S.lib("numpy.empty").call(1, dtype="object")
        setitem.call(box, 0, value)
        return box

    boxes = [boxed(params)] + [boxed(a) for a in args]
    ufunc = S.lib("numpy.frompyfunc").call(S.value(name), len(boxes), 1)
    out = ufunc.call(*boxes)
    result = getitem.call(out, 0) if isinstance(out, Handle) else out
    return result, getitem.call(boxes[0], 0)


def train_step(points: float) -> Cases:
    """train_step(params, X, y, lr): the in-place update of W1, b1, W2, b2 and the returned loss against a reference step.

    Case params: ``B, d_in, H, C`` (weights, inputs, labels and lr drawn from ``rng(label)``).
    """
    S = student()

    def check(label: str, B: int, d_in: int, H: int, C: int) -> None:
        gen = rng(label)
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

        out, after = _call_with_dict(S, "train_step", {name: value.copy() for name, value in params.items()},
                                     X.copy(), y.copy(), lr)
        assert_true(not isinstance(out, dict), "train_step returned a dict: in this lesson it updates params IN PLACE "
                    "(params['W1'] -= lr * grad_W1) and returns the loss.")
        assert_true(isinstance(after, dict) and all(isinstance(k, str) for k in after),
                    "params after train_step: the dict could not be read back (was it replaced by another object?).")
        for name in ("W1", "b1", "W2", "b2"):
            assert_true(name in after, f"params['{name}'] after the step: the key '{name}' is missing from params.")
            new = to_float64(after[name], f"params['{name}'] after the step")
            assert_true(new.shape == params[name].shape,
                        f"params['{name}'] after the step: expected shape {params[name].shape}, got shape {new.shape}.")
            implied = (params[name] - new) / lr  # the gradient this update used
            if not any_true(implied) and any_true(ref_grads[name]):
                hint = (" Hint: forgetting the bias: b must be updated too, with grad_b = delta.sum(axis=0)."
                        if name.startswith("b")
                        else " Hint: update the arrays of params in place (params[name] -= lr * grad),"
                             " do not rebind a local name.")
                assert_true(False, f"grad_{name}: params['{name}'] (shape {new.shape}) was not changed by train_step.{hint}")
            # "got" is the gradient implied by the student's update, "expected" the reference step's gradient
            assert_close(f"grad_{name} (implied by the update (old - new) / lr of params['{name}'])", implied,
                         ref_grads[name], rtol=1e-6, batch_size=B, candidates={
                             "the update has the wrong sign (gradient ascent): use params[name] -= lr * grad": -ref_grads[name],
                         })
        loss = to_float64(out, "loss returned by train_step")
        assert_true(loss.size == 1, f"loss returned by train_step: expected one float, got shape {loss.shape}.")
        assert_close("loss returned by train_step (before the update)", loss.reshape(1), [ref_loss], rtol=1e-10, batch_size=B)

    return Cases("train_step", points, check)
