"""Inverted dropout as a module (batch-first).

Training mode: every entry is kept with probability ``1 - p`` and the kept ones are scaled by
``1 / (1 - p)``, so the expected output equals the input::

    mask = (U >= p) / (1 - p),  U ~ uniform[0, 1) of the input's shape
    Y = X * mask,               dL/dX = dL/dY * mask

Evaluation mode: ``Y = X`` and ``dL/dX = dL/dY`` (no mask, no scaling: the scaling already happened in
training).
"""
from __future__ import annotations

import numpy as np

from course_lib._validate import as_float_array, check_shape
from course_lib.init import make_rng
from course_lib.modules import Module

Array = np.ndarray


class Dropout(Module):
    """Inverted dropout with drop probability ``p``.

    Args:
        p: probability of dropping an entry, in ``[0, 1)``.
        rng: a numpy Generator or an int seed for the masks.

    ``training`` (True) picks the mode; ``forward(X, mask=M)`` uses the given mask ``M`` (already scaled,
    e.g. ``(U >= p) / (1 - p)``) instead of drawing one, so a run can be reproduced or compared.
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | int | None = None):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout p: expected a probability in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = make_rng(rng)
        self.training = True
        self.mask: Array | None = None

    def train(self, mode: bool = True) -> Dropout:
        """Switch to training mode (``mode=True``) or evaluation mode; returns the module."""
        self.training = bool(mode)
        return self

    def eval(self) -> Dropout:
        """Switch to evaluation mode (identity); returns the module."""
        return self.train(False)

    def forward(self, X: Array, mask: Array | None = None) -> Array:
        X = as_float_array(X, "Dropout.forward X")
        if not self.training:
            self.mask = None
            return X
        if mask is None:
            mask = (self.rng.random(X.shape) >= self.p) / (1.0 - self.p)
        else:
            mask = as_float_array(mask, "Dropout.forward mask")
            check_shape(mask, X.shape, "Dropout.forward mask")
        self.mask = mask
        return X * mask

    def backward(self, grad_output: Array) -> Array:
        G = as_float_array(grad_output, "Dropout.backward grad_output")
        if self.mask is None:
            return G
        check_shape(G, self.mask.shape, "Dropout.backward grad_output")
        return G * self.mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p:g})"
