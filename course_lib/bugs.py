"""Modules with one planted bug each, for the bug hunt of the gradient-checking lesson.

Each class differs from its correct parent in exactly one line, marked ``# BUG``.
A good gradient check must name the parameter each one breaks.
"""
from __future__ import annotations

import numpy as np

from course_lib.losses import MSELoss
from course_lib.modules import Linear, ReLU, Sigmoid

Array = np.ndarray


class LinearBiasMissing(Linear):
    """Forgets ``+ b`` in the forward pass: ``L`` does not depend on ``b``, yet ``grad_b`` is non-zero."""

    def forward(self, X: Array) -> Array:
        super().forward(X)
        return self._X @ self.W  # BUG: no + self.b


class LinearBiasNotSummed(Linear):
    """Stores one bias gradient per example, ``(B, d_out)``, instead of summing over the batch."""

    def backward(self, grad_output: Array) -> Array:
        delta = np.asarray(grad_output, dtype=float)
        self.grad_W += self._X.T @ delta
        self.grad_b = self.grad_b + delta  # BUG: should be delta.sum(axis=0)
        return delta @ self.W.T


class LinearTransposedGrad(Linear):
    """Returns ``(X^T delta)^T``: the right numbers in the wrong places (only fits a square layer)."""

    def backward(self, grad_output: Array) -> Array:
        delta = np.asarray(grad_output, dtype=float)
        self.grad_W += (self._X.T @ delta).T  # BUG: transposed
        self.grad_b += delta.sum(axis=0)
        return delta @ self.W.T


class ReLUWrongDerivative(ReLU):
    """Multiplies by ``relu(Z)`` instead of the step ``1[Z > 0]``."""

    def backward(self, grad_output: Array) -> Array:
        return grad_output * np.maximum(self._Z, 0.0)  # BUG: relu(Z) is not relu'(Z)


class SigmoidDerivativeAtOutput(Sigmoid):
    """Evaluates ``sigma'`` at the output ``a = sigma(z)`` instead of at the input ``z``."""

    def backward(self, grad_output: Array) -> Array:
        a = self._phi(self._Z)
        return grad_output * self._phi_prime(a)  # BUG: sigma'(a) instead of sigma'(z)


class MSELossMissingMean(MSELoss):
    """Forward is the batch mean, backward forgets the ``1/B``: every gradient is ``B`` times too big."""

    def backward(self) -> Array:
        return self._diff  # BUG: missing / B
