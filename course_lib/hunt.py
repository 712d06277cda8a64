"""A gated layer and a backward pass for it written in a hurry: lesson 05's hunt for bugs the course has not shown.

The gated linear unit (Dauphin et al., 2017), batch-first, with a sigmoid gate::

    A = X W + b,    S = sigmoid(X V + c),    Y = A * S      (all (B, d_out); W, V of shape (d_in, d_out))

:func:`glu_backward_buggy` returns the five gradients, and some of them are wrong. Which ones is for a
gradient check to find out: do not trust the code below, trust central differences.
"""
from __future__ import annotations

import numpy as np

from course_lib.functional import sigmoid

Array = np.ndarray

__all__ = ["glu_forward", "glu_backward_buggy", "glu_problem"]


def glu_forward(X: Array, W: Array, b: Array, V: Array, c: Array) -> Array:
    """Y = (X W + b) * sigmoid(X V + c).

    Args:
        X: inputs, shape (B, d_in).
        W, V: weights of the linear and the gate path, shape (d_in, d_out).
        b, c: their biases, shape (d_out,).
    Returns:
        Y, shape (B, d_out).
    """
    return (X @ W + b) * sigmoid(X @ V + c)          # (B, d_in) @ (d_in, d_out) -> (B, d_out), twice


def glu_backward_buggy(X: Array, W: Array, b: Array, V: Array, c: Array, grad_output: Array) -> dict:
    """The gradients of sum(Y * grad_output) with respect to X, W, b, V and c: some of them are wrong.

    Args:
        X, W, b, V, c: as in :func:`glu_forward`.
        grad_output: dL/dY, shape (B, d_out).
    Returns:
        dict with the keys "X", "W", "b", "V", "c", each an array of that argument's shape.
    """
    lin = X @ W + b                                   # (B, d_out)
    gate = sigmoid(X @ V + c)                         # (B, d_out)
    through_gate = grad_output * gate                 # dL/d(lin)
    into_gate = grad_output * lin * gate * (1 - gate)  # dL/d(X V + c)
    return {
        "X": through_gate @ W.T,                      # (B, d_out) @ (d_out, d_in) -> (B, d_in)
        "W": X.T @ through_gate,                      # (d_in, B) @ (B, d_out) -> (d_in, d_out)
        "b": np.sum(grad_output, axis=0),             # (d_out,)
        "V": X.T @ into_gate,                         # (d_in, d_out)
        "c": np.sum(into_gate, axis=0),               # (d_out,)
    }


def glu_problem(B: int = 4, d_in: int = 3, d_out: int = 2, seed: int = 0) -> tuple[Array, ...]:
    """A random problem (X, W, b, V, c, grad_output) for the hunt, all float64, biases not zero."""
    gen = np.random.default_rng(seed)
    X = gen.normal(size=(B, d_in))
    W, V = gen.normal(size=(d_in, d_out)) / np.sqrt(d_in), gen.normal(size=(d_in, d_out)) / np.sqrt(d_in)
    b, c = 0.5 * gen.normal(size=d_out), 0.5 * gen.normal(size=d_out)
    return X, W, b, V, c, gen.normal(size=(B, d_out))
