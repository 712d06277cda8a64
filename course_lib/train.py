"""A small training loop that records the loss and each parameter's gradient norm per step."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from course_lib.init import make_rng
from course_lib.modules import Module
from course_lib.optim import SGD

Array = np.ndarray


def iterate_minibatches(X: Array, y: Array, batch_size: int | None,
                        rng: np.random.Generator | int | None = None) -> Iterator[tuple[Array, Array]]:
    """Shuffled minibatches covering ``X`` once; ``batch_size=None`` yields the full batch."""
    if len(X) != len(y):
        raise ValueError(f"X and y: expected the same number of rows, got {len(X)} and {len(y)}")
    n = len(X)
    if batch_size is None or batch_size >= n:
        yield X, y
        return
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int or None, got {batch_size}")
    order = make_rng(rng).permutation(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]


@dataclass
class History:
    """What :func:`fit` records: ``losses[t]`` and ``grad_norms[name][t]`` for step ``t``."""

    losses: list[float] = field(default_factory=list)
    grad_norms: dict[str, list[float]] = field(default_factory=dict)

    def grad_norm_array(self) -> tuple[list[str], Array]:
        """Parameter names and a ``(num_steps, num_params)`` array of gradient norms."""
        names = list(self.grad_norms)
        return names, np.array([self.grad_norms[n] for n in names]).T


def train_step(model: Module, loss_fn, X: Array, y: Array, optimizer: SGD) -> float:
    """One step: forward, loss, backward, update. Returns the loss before the update."""
    optimizer.zero_grad()
    y_hat = model.forward(X)
    loss = loss_fn.forward(y_hat, y)
    model.backward(loss_fn.backward())
    optimizer.step()
    return loss


def fit(
    model: Module,
    loss_fn,
    X: Array,
    y: Array,
    lr: float,
    num_epochs: int,
    batch_size: int | None = None,
    rng: np.random.Generator | int | None = 0,
    record_grad_norms: bool = True,
) -> History:
    """Train ``model`` with SGD and return the per-step :class:`History`."""
    gen = make_rng(rng)
    optimizer = SGD(model, lr)
    history = History()
    for _ in range(num_epochs):
        for Xb, yb in iterate_minibatches(X, y, batch_size, gen):
            history.losses.append(train_step(model, loss_fn, Xb, yb, optimizer))
            if record_grad_norms:
                for name, g in model.named_gradients():
                    history.grad_norms.setdefault(name, []).append(float(np.linalg.norm(g)))
    return history


def accuracy(logits: Array, y: Array) -> float:
    """Share of rows whose largest logit is at the true label."""
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(y)))
