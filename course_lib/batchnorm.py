"""Batch normalisation as a module (batch-first), with its fused backward pass.

Forward, for a batch ``X`` of shape ``(B, d)`` in training mode (statistics of the batch, per feature)::

    mu    = (1/B) sum_n X_n                      (d,)
    var   = (1/B) sum_n (X_n - mu)^2             (d,)   the biased variance: it is what normalises
    xhat  = (X - mu) / sqrt(var + eps)           (B, d)
    Y     = gamma * xhat + beta                  (B, d)

and the running statistics used in evaluation mode are updated as PyTorch's ``BatchNorm1d`` does::

    running_mean <- (1 - momentum) running_mean + momentum mu
    running_var  <- (1 - momentum) running_var  + momentum var * B / (B - 1)   (unbiased)

In evaluation mode ``xhat = (X - running_mean) / sqrt(running_var + eps)``.

Backward (training mode), with ``G = dL/dY``::

    grad_gamma = sum_n G_n * xhat_n,   grad_beta = sum_n G_n,   dxhat = G * gamma
    dL/dX = (1 / (B sqrt(var + eps))) * (B dxhat - sum_n dxhat_n - xhat * sum_n (dxhat_n * xhat_n))

The three terms are the direct path through ``xhat``, the path through the mean and the path through
the variance.  In evaluation mode the statistics are constants: ``dL/dX = dxhat / sqrt(running_var + eps)``.
"""
from __future__ import annotations

import numpy as np

from course_lib._validate import as_float_array, check_shape
from course_lib.modules import Module

Array = np.ndarray


class BatchNorm(Module):
    """Batch normalisation over the batch axis of ``(B, d)`` inputs, with a learned scale and shift.

    Args:
        d: number of features.
        eps: added to the variance before the square root.
        momentum: weight of the newest batch in the running statistics (PyTorch's convention).

    Attributes ``gamma`` (ones) and ``beta`` (zeros) are the parameters; ``running_mean`` (zeros) and
    ``running_var`` (ones) are the evaluation-mode statistics; ``training`` (True) picks the mode.
    """

    param_names = ("gamma", "beta")

    def __init__(self, d: int, eps: float = 1e-5, momentum: float = 0.1):
        if not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"BatchNorm d: expected a positive int, got {d!r}")
        self.d, self.eps, self.momentum = int(d), float(eps), float(momentum)
        self.gamma = np.ones(self.d)
        self.beta = np.zeros(self.d)
        self.grad_gamma = np.zeros(self.d)
        self.grad_beta = np.zeros(self.d)
        self.running_mean = np.zeros(self.d)
        self.running_var = np.ones(self.d)
        self.training = True
        self._cache: tuple[Array, Array, bool] | None = None

    def train(self, mode: bool = True) -> BatchNorm:
        """Switch to training mode (``mode=True``) or evaluation mode; returns the module."""
        self.training = bool(mode)
        return self

    def eval(self) -> BatchNorm:
        """Switch to evaluation mode (running statistics); returns the module."""
        return self.train(False)

    def forward(self, X: Array) -> Array:
        X = as_float_array(X, "BatchNorm.forward X", ndim=2)
        check_shape(X, (None, self.d), "BatchNorm.forward X")
        B = X.shape[0]
        if self.training:
            if B < 2:
                raise ValueError(f"BatchNorm.forward X: training mode needs a batch of at least 2 rows, got shape {X.shape}")
            mu = X.mean(axis=0)  # (B, d) -> (d,)
            var = X.var(axis=0)  # (d,), biased: 1/B
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mu
            self.running_var = (1 - m) * self.running_var + m * var * B / (B - 1)
        else:
            mu, var = self.running_mean, self.running_var
        istd = 1.0 / np.sqrt(var + self.eps)  # (d,)
        xhat = (X - mu) * istd  # (B, d)
        self._cache = (xhat, istd, self.training)
        return self.gamma * xhat + self.beta  # (B, d)

    def backward(self, grad_output: Array) -> Array:
        if self._cache is None:
            raise RuntimeError("BatchNorm.backward called before forward")
        xhat, istd, training = self._cache
        G = as_float_array(grad_output, "BatchNorm.backward grad_output", ndim=2)
        check_shape(G, xhat.shape, "BatchNorm.backward grad_output")
        self.grad_gamma += (G * xhat).sum(axis=0)  # (B, d) -> (d,)
        self.grad_beta += G.sum(axis=0)  # (B, d) -> (d,)
        dxhat = G * self.gamma  # (B, d)
        if not training:
            return dxhat * istd
        B = G.shape[0]
        return (istd / B) * (B * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))  # (B, d)

    def __repr__(self) -> str:
        return f"BatchNorm({self.d})"
