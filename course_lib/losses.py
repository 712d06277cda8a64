"""Losses as modules: ``forward(y_hat, y)`` returns a float, ``backward()`` returns ``dL/dy_hat``.

Both losses are means over the batch, so their gradients carry the ``1/B``.
"""
from __future__ import annotations

import numpy as np

from course_lib._validate import as_float_array, check_shape
from course_lib.functional import log_softmax, one_hot

Array = np.ndarray


class MSELoss:
    """``L = 1/(2B) * sum_i ||y_hat_i - y_i||^2``; ``dL/dy_hat = (y_hat - y) / B``.

    The 1/2 cancels the 2 of the square, so the gradient is just the mean residual.
    """

    def __init__(self) -> None:
        self._diff: Array | None = None

    def forward(self, y_hat: Array, y: Array) -> float:
        y_hat = as_float_array(y_hat, "MSELoss y_hat", ndim=2)
        y = as_float_array(y, "MSELoss y")
        if y.ndim == 1 and y_hat.shape[1] == 1:
            y = y[:, None]
        check_shape(y, y_hat.shape, "MSELoss y")
        self._diff = y_hat - y  # (B, d)
        return float(0.5 * np.sum(self._diff ** 2) / y_hat.shape[0])

    __call__ = forward

    def backward(self) -> Array:
        if self._diff is None:
            raise RuntimeError("MSELoss.backward called before forward")
        return self._diff / self._diff.shape[0]  # (B, d)


class SumSquaredError:
    """``L = sum_i ||y_hat_i - y_i||^2`` (no mean, no 1/2); ``dL/dy_hat = 2 (y_hat - y)``.

    The loss of Alexander Schiendorfer's worked example (lesson 01) and of Sida
    Wang's 200 -> 300 -> 1 ReLU network (lesson 05).
    """

    def __init__(self) -> None:
        self._diff: Array | None = None

    def forward(self, y_hat: Array, y: Array) -> float:
        y_hat = as_float_array(y_hat, "SumSquaredError y_hat", ndim=2)
        y = as_float_array(y, "SumSquaredError y")
        if y.ndim == 1 and y_hat.shape[1] == 1:
            y = y[:, None]
        check_shape(y, y_hat.shape, "SumSquaredError y")
        self._diff = y_hat - y
        return float(np.sum(self._diff ** 2))

    __call__ = forward

    def backward(self) -> Array:
        if self._diff is None:
            raise RuntimeError("SumSquaredError.backward called before forward")
        return 2.0 * self._diff


class SoftmaxCrossEntropy:
    """Softmax followed by cross-entropy, fused: ``L = -1/B sum_i log softmax(Z_i)[y_i]``.

    The fused gradient is ``dL/dZ = (softmax(Z) - onehot(y)) / B``: the softmax
    Jacobian ``diag(p) - p p^T`` times ``-onehot/p`` collapses to ``p - onehot``.

    Args of ``forward``:
        logits: ``(B, C)`` raw scores.
        y: integer labels ``(B,)`` or one-hot / probability rows ``(B, C)``.
    """

    def __init__(self) -> None:
        self._P: Array | None = None
        self._Y: Array | None = None

    def forward(self, logits: Array, y: Array) -> float:
        Z = as_float_array(logits, "SoftmaxCrossEntropy logits", ndim=2)
        y = np.asarray(y)
        if y.ndim == 1:
            check_shape(y, (Z.shape[0],), "SoftmaxCrossEntropy y")
            Y = one_hot(y, Z.shape[1])
        else:
            Y = as_float_array(y, "SoftmaxCrossEntropy y")
            check_shape(Y, Z.shape, "SoftmaxCrossEntropy y")
        log_P = log_softmax(Z)  # (B, C), finite even where P underflows
        self._P, self._Y = np.exp(log_P), Y
        return float(-np.sum(Y * log_P) / Z.shape[0])

    __call__ = forward

    def backward(self) -> Array:
        if self._P is None or self._Y is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward called before forward")
        return (self._P - self._Y) / self._P.shape[0]  # (B, C)
