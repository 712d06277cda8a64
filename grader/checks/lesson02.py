"""Checks of lesson 02 (backpropagation in the general case), run through the Student protocol.

What the checks accept:

* ``mlp_forward(X, Ws, bs, activation)`` is called with plain float64 arrays, lists
  of them and an activation name (or a list of names); it must return
  ``(y_hat, cache)`` (a tuple or a list of two) with ``y_hat`` of shape
  ``(B, n_L)`` and ``cache`` a dict with at least the keys ``"A"`` (L + 1
  arrays), ``"Z"`` (L arrays) and ``"activations"`` (L names), all equal to
  course_lib's reference forward pass (relative error <= 1e-7).
* ``mse_loss(y_hat, y)`` must return one number (a float, a numpy scalar or a
  one-entry array or one-item list) equal to ``1/(2B) sum (y_hat - y)**2``.
* ``mse_grad(y_hat, y)`` must return an array of shape ``(B, d)`` equal to
  central differences of the reference loss (relative error <= 1e-6).
* ``mlp_backward(cache, Ws, grad_y_hat)`` gets a cache built by the reference
  forward pass (a plain dict of lists) and a random upstream gradient; it must
  return ``(grad_Ws, grad_bs)`` (a tuple or list whose first two items are
  lists of L arrays), each equal to central differences of the reference
  forward pass (relative error <= 1e-6), shaped like ``Ws[l]`` and ``bs[l]``.

* ``weight_decay(Ws, lam)`` (the derivation exercise) must return ``(penalty, grad_Ws)``:
  one number equal to ``lam / 2 * sum_l ||W_l||^2`` and a list of L arrays
  shaped like ``Ws``, each equal to central differences of that penalty.

Every reference value, numerical gradient and hint is computed here with numpy
and course_lib; the student's code is only ever called, never asked for a
reference.
"""
from __future__ import annotations

import itertools

import numpy as np

from course_lib.losses import MSELoss
from course_lib.mlp import mlp_backward as reference_backward
from course_lib.mlp import mlp_forward as reference_forward

from . import (
    Cases,
    Handle,
    assert_close,
    assert_gradient,
    assert_shape,
    assert_true,
    numeric_vjp,
    numerical_gradient,
    random_array,
    rng,
    student,
    to_float64,
    to_names,
)

__all__ = ["mlp_backward", "mlp_forward", "mse_grad", "mse_loss", "weight_decay"]


def _layers(widths: list) -> list:
    """``[(n_{l-1}, n_l)]`` for consecutive widths."""
    return list(itertools.pairwise(widths))


def _kind(value: object) -> str:
    """The type of a student's value as their process named it (a handle's type, not ``Handle``)."""
    return value.type_name if isinstance(value, Handle) else type(value).__name__


def _pair(result: object, what: str, names: str) -> tuple:
    """The first two items of a student's ``(a, b)`` result, with a clear message if it is not one."""
    assert_true(isinstance(result, (tuple, list)) and len(result) >= 2,
                f"{what}: expected to return {names}, got {_kind(result)}")
    return result[0], result[1]


def _array_list(value: object, name: str, count: int, meaning: str) -> list:
    """A student's list (or tuple) of ``count`` arrays."""
    assert_true(isinstance(value, (list, tuple)),
                f"{name}: expected a list of {count} arrays ({meaning}), got {_kind(value)}")
    assert_true(len(value) == count, f"{name}: expected {count} arrays ({meaning}), got {len(value)}")
    return list(value)


def mlp_forward(points: float) -> Cases:
    """Grade cell of ``mlp_forward``: y_hat and every cached A, Z and activation name against course_lib.

    Case params: ``widths`` (list of layer widths n_0..n_L), ``B`` (batch size),
    ``activation`` (one name or one name per layer).

    Accepts: ``(y_hat, cache)`` as a tuple or list; ``cache`` a dict with at least "A", "Z" (lists or tuples
    of arrays) and "activations" (list or tuple of names), extra keys ignored; any float dtype (float32 is
    judged at its own precision), any way of computing (loops, recursion, einsum, own activation functions).
    """
    S = student()

    def check(label: str, widths: list, B: int, activation: str | list) -> None:
        gen = rng(label)
        X = random_array(gen, (B, widths[0]))
        Ws = [random_array(gen, (m, n), -1.0, 1.0) for m, n in _layers(widths)]
        bs = [random_array(gen, (n,), -1.0, 1.0, min_abs=0.2) for n in widths[1:]]
        y_ref, ref = reference_forward(X, Ws, bs, activation)
        no_bias = reference_forward(X, Ws, [0.0 * b for b in bs], activation)[0]
        hints = {"the bias b is missing from Z = A_prev @ W + b": no_bias}
        y_hat, cache = _pair(S.call("mlp_forward", X, Ws, bs, activation), "mlp_forward", "(y_hat, cache)")
        assert_close("y_hat", y_hat, y_ref, batch_size=B, candidates=hints)
        assert_true(isinstance(cache, dict) and {"A", "Z", "activations"} <= set(cache),
                    f"cache: expected a dict with keys 'A', 'Z', 'activations', got {_kind(cache)} "
                    f"with keys {sorted(map(str, cache)) if isinstance(cache, dict) else '-'}")
        L = len(Ws)
        Z = _array_list(cache["Z"], "cache['Z']", L, "one per layer")
        A = _array_list(cache["A"], "cache['A']", L + 1, "the input X, then one per layer")
        names = to_names(cache["activations"], "cache['activations']")
        assert_true(names == ref["activations"], f"cache['activations']: expected {ref['activations']}, got {names}")
        for l in range(L + 1):
            assert_close(f"cache['A'][{l}]", A[l], ref["A"][l], batch_size=B)
        for l in range(L):
            assert_close(f"cache['Z'][{l}]", Z[l], ref["Z"][l], batch_size=B)

    return Cases("mlp_forward", points, check)


def _one_number(value: object, name: str, B: int, d: int) -> object:
    """A student's loss as one number: a one-entry array (or list) is read as its entry, dtype kept."""
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(())
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return _one_number(value[0], name, B, d)
    if isinstance(value, (list, tuple)):
        value = to_float64(value, name)
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        what = "" if B == d else {(B,): "one value per example", (d,): "one value per output column"}.get(value.shape, "")
        raise AssertionError(f"{name}: expected one number, got an array of shape {value.shape}"
                             + (f": {what}." if what else "."))
    return value


def mse_loss(points: float) -> Cases:
    """Grade cell of ``mse_loss``: the value against course_lib's ``MSELoss`` (1/(2B) sum of squares).

    Case params: ``B`` (batch size), ``d`` (output width).

    Accepts: one number: a float, a numpy scalar (float32 included), a one-entry array or a one-item list.
    """
    S = student()

    def check(label: str, B: int, d: int) -> None:
        gen = rng(label)
        y_hat, y = random_array(gen, (B, d)), random_array(gen, (B, d))
        expected = MSELoss().forward(y_hat, y)
        hints = {"the 1/2 is missing": 2 * expected}
        if d > 1:
            hints["divided by B * d (np.mean over every entry) instead of by the batch size B"] = expected / d
        got = _one_number(S.call("mse_loss", y_hat, y), "mse_loss", B, d)
        assert_close("mse_loss", got, expected, batch_size=B, candidates=hints)

    return Cases("mse_loss", points, check)


def mse_grad(points: float) -> Cases:
    """Grade cell of ``mse_grad``: against central differences of course_lib's ``MSELoss``.

    Case params: ``d`` (output width), ``batch_sizes`` (every case checks each batch size in turn).

    Accepts: a (B, d) array or nested list, any float dtype.
    """
    S = student()

    def check(label: str, d: int, batch_sizes: list) -> None:
        gen = rng(label)
        for B in batch_sizes:
            y_hat, y = random_array(gen, (B, d)), random_array(gen, (B, d))
            numeric = numerical_gradient(lambda P, y=y: MSELoss().forward(P, y), y_hat.copy())
            name = f"mse_grad (B = {B}, d = {d})"
            got = assert_shape(name, S.call("mse_grad", y_hat, y), (B, d), B)
            assert_gradient(name, got, numeric, batch_size=B)

    return Cases("mse_grad", points, check)


def mlp_backward(points: float) -> Cases:
    """Grade cell of ``mlp_backward``: every grad_W[l], grad_b[l] against central differences.

    The cache comes from course_lib's forward pass (so this exercise is graded
    on its own), the upstream gradient is random, and inputs are redrawn until
    no pre-activation is within 1e-3 of the ReLU kink.  Case params: ``widths``,
    ``B``, ``activation`` as for :func:`mlp_forward`.

    Accepts: a tuple or list whose first two items are lists or tuples of L arrays (further items, such as
    the input's gradient, ignored); phi' taken at Z or written in terms of the cached A; any float dtype.
    """
    S = student()

    def check(label: str, widths: list, B: int, activation: str | list) -> None:
        gen = rng(label)
        for _ in range(200):  # draw until no pre-activation sits near the ReLU kink
            X = random_array(gen, (B, widths[0]), min_abs=0.1)
            Ws = [random_array(gen, (m, n), -1.0, 1.0, min_abs=0.05) for m, n in _layers(widths)]
            bs = [random_array(gen, (n,), -1.0, 1.0, min_abs=0.1) for n in widths[1:]]
            y_ref, ref = reference_forward(X, Ws, bs, activation)
            if min(float(np.min(np.abs(z))) for z in ref["Z"]) > 1e-3:
                break
        G = random_array(gen, y_ref.shape, min_abs=0.1)  # random upstream gradient dL/dy_hat
        cache = {"A": list(ref["A"]), "Z": list(ref["Z"]), "activations": list(ref["activations"])}
        grad_Ws, grad_bs = _pair(S.call("mlp_backward", cache, Ws, G), "mlp_backward", "(grad_Ws, grad_bs)")
        L = len(Ws)
        assert_true(isinstance(grad_Ws, (list, tuple)) and isinstance(grad_bs, (list, tuple))
                    and len(grad_Ws) == L and len(grad_bs) == L,
                    f"grad_Ws, grad_bs: expected lists of {L} arrays (one per layer), got "
                    f"{len(grad_Ws) if isinstance(grad_Ws, (list, tuple)) else _kind(grad_Ws)} and "
                    f"{len(grad_bs) if isinstance(grad_bs, (list, tuple)) else _kind(grad_bs)}")
        # what phi' taken at the output A instead of the pre-activation Z would give
        at_output = reference_backward({"A": ref["A"], "Z": ref["A"][1:], "activations": ref["activations"]}, Ws, G)
        hint = "the derivative phi' was taken at the output A instead of the pre-activation Z"
        for l in range(L):
            def out_W(W: np.ndarray, l: int = l) -> np.ndarray:
                return reference_forward(X, Ws[:l] + [W] + Ws[l + 1:], bs, activation)[0]

            def out_b(b: np.ndarray, l: int = l) -> np.ndarray:
                return reference_forward(X, Ws, bs[:l] + [b] + bs[l + 1:], activation)[0]

            gW = assert_shape(f"grad_W[{l}]", grad_Ws[l], Ws[l].shape, B)
            gb = assert_shape(f"grad_b[{l}]", grad_bs[l], bs[l].shape, B)
            assert_gradient(f"grad_W[{l}]", gW, numeric_vjp(out_W, Ws[l], G),
                            batch_size=B, candidates={hint: at_output[0][l]})
            assert_gradient(f"grad_b[{l}]", gb, numeric_vjp(out_b, bs[l], G),
                            batch_size=B, candidates={hint: at_output[1][l]})

    return Cases("mlp_backward", points, check)


def _penalty(Ws: list, lam: float) -> float:
    return 0.5 * lam * sum(float(np.sum(W * W)) for W in Ws)


def weight_decay(points: float) -> Cases:
    """Grade cell of ``weight_decay``: the L2 penalty against its definition, its gradient against central differences.

    Case params: ``widths`` (the layer widths n_0..n_L of the weight matrices), ``lam`` (the decay strength).

    Accepts: ``(penalty, grad_Ws)`` as a tuple or list; the penalty as one number (float, numpy scalar,
    one-entry array); ``grad_Ws`` as a list or tuple of L arrays or nested lists, any float dtype; computed
    any way (loops over entries, ``np.sum(W ** 2)``, ``np.linalg.norm(W) ** 2``, ``W * W``).
    """
    S = student()

    def check(label: str, widths: list, lam: float) -> None:
        gen = rng(label)
        Ws = [random_array(gen, (m, n), -2.0, 2.0, min_abs=0.1) for m, n in _layers(widths)]
        expected = _penalty(Ws, lam)
        penalty, grad_Ws = _pair(S.call("weight_decay", [W.copy() for W in Ws], lam), "weight_decay",
                                 "(penalty, grad_Ws)")
        L = len(Ws)
        got = _one_number(penalty, "penalty", 1, 1)
        assert_close("penalty", got, expected, candidates={
            "the 1/2 of (lam / 2) sum ||W||^2 is missing": 2 * expected,
            "the penalty is lam / 2 times the sum of the squared weights, not of their absolute values":
                0.5 * lam * sum(float(np.sum(np.abs(W))) for W in Ws)})
        grads = _array_list(grad_Ws, "grad_Ws", L, "one per weight matrix")
        for l in range(L):
            def only(W: np.ndarray, l: int = l) -> float:
                return _penalty(Ws[:l] + [W] + Ws[l + 1:], lam)

            gW = assert_shape(f"grad_W[{l}] of the penalty", grads[l], Ws[l].shape, None)
            assert_gradient(f"grad_W[{l}] of the penalty", gW, numerical_gradient(only, Ws[l].copy()), candidates={
                "d/dW of (lam / 2) W**2 is lam W: the 2 of the square cancels the 1/2 (here lam W / 2)":
                    0.5 * lam * Ws[l],
                "d/dW of (lam / 2) W**2 is lam W, not 2 lam W (the 1/2 cancels the 2 of the square)":
                    2 * lam * Ws[l],
                "the gradient is lam W, entrywise, not lam W**2": lam * Ws[l] ** 2})

    return Cases("weight_decay", points, check)
