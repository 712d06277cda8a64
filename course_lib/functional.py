"""Activations, their derivatives, and numerically stable softmax / log-softmax.

Every derivative here takes the *pre-activation* ``z`` (not the output ``a``):
``a = phi(z)`` and ``dL/dz = dL/da * phi'(z)``. Taking the derivative at the
output instead of the input is one of the classic backprop bugs.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_lib._validate import as_float_array

Array = np.ndarray


def sigmoid(z: Array) -> Array:
    """Logistic sigmoid ``sigma(z) = 1 / (1 + exp(-z))``, stable for large ``|z|``.

    For ``z < 0`` it uses ``exp(z) / (1 + exp(z))`` so ``exp`` never overflows.
    """
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def sigmoid_prime(z: Array) -> Array:
    """``sigma'(z) = sigma(z) (1 - sigma(z))``, at most 1/4 (at ``z = 0``)."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z: Array) -> Array:
    """Hyperbolic tangent ``tanh(z) = (e^z - e^-z) / (e^z + e^-z)``."""
    return np.tanh(z)


def tanh_prime(z: Array) -> Array:
    """``tanh'(z) = 1 - tanh(z)^2``, at most 1 (at ``z = 0``)."""
    t = np.tanh(z)
    return 1.0 - t * t


def relu(z: Array) -> Array:
    """``relu(z) = max(z, 0)``."""
    return np.maximum(z, 0.0)


def relu_prime(z: Array) -> Array:
    """``relu'(z) = 1 if z > 0 else 0`` (we take 0 at the kink ``z = 0``)."""
    return (np.asarray(z) > 0).astype(float)


def identity(z: Array) -> Array:
    """``phi(z) = z``: the usual output activation of a regression network."""
    return np.asarray(z, dtype=float)


def identity_prime(z: Array) -> Array:
    """``phi'(z) = 1``."""
    return np.ones_like(np.asarray(z, dtype=float))


#: name -> (phi, phi'), both functions of the pre-activation z.
ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    "sigmoid": (sigmoid, sigmoid_prime),
    "tanh": (tanh, tanh_prime),
    "relu": (relu, relu_prime),
    "identity": (identity, identity_prime),
}


def get_activation(name: str) -> tuple[Callable[[Array], Array], Callable[[Array], Array]]:
    """Return ``(phi, phi_prime)`` for an activation name in :data:`ACTIVATIONS`."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {name!r}") from None


def logsumexp(Z: Array, axis: int = -1, keepdims: bool = False) -> Array:
    """``log sum_j exp(Z_j)`` computed as ``m + log sum_j exp(Z_j - m)`` with ``m = max_j Z_j``.

    Subtracting the maximum makes the largest exponent ``exp(0) = 1``: nothing
    overflows, and at least one term of the sum is 1, so the log never sees 0.
    """
    Z = as_float_array(Z, "Z")
    m = np.max(Z, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(Z - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax(Z: Array, axis: int = -1) -> Array:
    """Row-wise softmax ``p_j = exp(Z_j) / sum_k exp(Z_k)``, stable for logits like +-1000.

    Args:
        Z: logits, shape ``(B, C)`` (any shape; normalised along ``axis``).
    Returns:
        probabilities of the same shape, each row summing to 1.
    """
    Z = as_float_array(Z, "Z")
    E = np.exp(Z - np.max(Z, axis=axis, keepdims=True))
    return E / np.sum(E, axis=axis, keepdims=True)


def log_softmax(Z: Array, axis: int = -1) -> Array:
    """``log p_j = Z_j - logsumexp(Z)``: finite even where ``p_j`` underflows to 0."""
    Z = as_float_array(Z, "Z")
    return Z - logsumexp(Z, axis=axis, keepdims=True)


def one_hot(y: Array, num_classes: int) -> Array:
    """Integer labels ``(B,)`` -> one-hot rows ``(B, num_classes)`` of 0.0 / 1.0."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y: expected integer labels of shape (B,), got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise TypeError(f"y: expected integer class labels, got dtype {y.dtype}")
        y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"y: expected labels in [0, {num_classes}), got values in [{y.min()}, {y.max()}]")
    out = np.zeros((y.shape[0], num_classes))
    out[np.arange(y.shape[0]), y] = 1.0
    return out
