"""Stochastic gradient descent: ``p <- p - lr * grad_p`` for every parameter, in place."""
from __future__ import annotations

from course_lib.modules import Module


class SGD:
    """Plain SGD over a module's parameters.

    Args:
        model: the module whose ``parameters()`` / ``gradients()`` are updated.
        lr: learning rate, a positive float.
    """

    def __init__(self, model: Module, lr: float):
        if not isinstance(model, Module):
            raise TypeError(f"SGD model: expected a course_lib Module, got {type(model).__name__}")
        if not lr > 0:
            raise ValueError(f"SGD lr: expected a positive learning rate, got {lr!r}")
        self.model, self.lr = model, float(lr)

    def step(self) -> None:
        """Move every parameter against its gradient (in place, so the module sees it)."""
        for p, g in zip(self.model.parameters(), self.model.gradients()):
            p -= self.lr * g

    def zero_grad(self) -> None:
        """Reset the model's gradients (they accumulate across backward calls)."""
        self.model.zero_grad()
