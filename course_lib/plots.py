"""Figures used by the lessons. Every function titles its axes and returns the Axes."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

Array = np.ndarray


def _axes(ax=None):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    return ax


def plot_activations(names: Sequence[str] = ("sigmoid", "tanh", "relu"), ax=None):
    """Each activation and its derivative on [-5, 5]."""
    from course_lib.functional import get_activation

    ax = _axes(ax)
    z = np.linspace(-5, 5, 401)
    for name in names:
        phi, dphi = get_activation(name)
        line, = ax.plot(z, phi(z), label=name)
        ax.plot(z, dphi(z), "--", color=line.get_color(), label=f"{name}'")
    ax.set(xlabel="pre-activation z", ylabel="value", title="Activations (solid) and derivatives (dashed)")
    ax.legend()
    return ax


def plot_losses(losses: Sequence[float] | Mapping[str, Sequence[float]], ax=None, log: bool = True):
    """Loss per step (one curve, or one per label)."""
    ax = _axes(ax)
    series = losses if isinstance(losses, Mapping) else {"loss": losses}
    for label, values in series.items():
        ax.plot(np.arange(len(values)), values, label=label)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="training step", ylabel="loss", title="Training loss")
    if len(series) > 1:
        ax.legend()
    return ax


def plot_decision_boundary(predict: Callable[[Array], Array], X: Array, y: Array, ax=None, resolution: int = 200):
    """Class regions of ``predict`` (maps ``(n, 2)`` to labels) with the points of ``(X, y)``."""
    ax = _axes(ax)
    pad = 0.5
    x0 = np.linspace(X[:, 0].min() - pad, X[:, 0].max() + pad, resolution)
    x1 = np.linspace(X[:, 1].min() - pad, X[:, 1].max() + pad, resolution)
    G0, G1 = np.meshgrid(x0, x1)
    labels = np.asarray(predict(np.c_[G0.ravel(), G1.ravel()])).reshape(G0.shape)
    ax.contourf(G0, G1, labels, alpha=0.3, cmap="coolwarm")
    ax.scatter(X[:, 0], X[:, 1], c=y, s=6, cmap="coolwarm", edgecolors="none")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title="Decision boundary")
    return ax


def plot_grad_norms(grad_norms: Mapping[str, Sequence[float]], ax=None):
    """Gradient norm of each parameter against the training step, on a log scale."""
    ax = _axes(ax)
    for name, values in grad_norms.items():
        ax.plot(np.arange(len(values)), values, label=name)
    ax.set_yscale("log")
    ax.set(xlabel="training step", ylabel="gradient norm $\\|\\partial L / \\partial W\\|$", title="Per-layer gradient norms")
    ax.legend(fontsize="small", ncol=2)
    return ax


def plot_error_vs_eps(eps: Array, errors: Mapping[str, Array], ax=None):
    """Relative error of a finite-difference gradient against the step, log-log (the U shape)."""
    ax = _axes(ax)
    for label, err in errors.items():
        ax.loglog(eps, err, "o-", ms=3, label=label)
    ax.set(xlabel="step size eps", ylabel="relative error", title="Finite-difference error against step size")
    ax.legend()
    return ax


def draw_graph(root, ax=None):
    """Draw the computation graph of a :class:`course_lib.scalar.Value` (inputs left, output right).

    Each node shows its label, operation, ``data`` and ``grad``.
    """
    ax = _axes(ax)
    order = root.topological_order()
    depth: dict[int, int] = {}
    for node in order:  # inputs before outputs
        depth[id(node)] = 1 + max((depth[id(c)] for c in node._prev), default=-1)
    # Leaves sit one column left of their first consumer, so arrows stay short.
    for node in reversed(order):
        for child in node._prev:
            if not child._prev:
                depth[id(child)] = max(depth[id(child)], depth[id(node)] - 1) if id(child) in depth else depth[id(node)] - 1
    columns: dict[int, list] = {}
    for node in order:
        columns.setdefault(depth[id(node)], []).append(node)
    pos = {}
    for d, nodes in columns.items():
        for k, node in enumerate(nodes):
            pos[id(node)] = (d, k - (len(nodes) - 1) / 2)
    for node in order:
        for child in node._prev:
            (x0, y0), (x1, y1) = pos[id(child)], pos[id(node)]
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color="0.5", shrinkA=14, shrinkB=14))
    for node in order:
        x, yv = pos[id(node)]
        name = node.label or node._op or "input"
        ax.text(x, yv, f"{name}\n{node.data:.4g}\ngrad {node.grad:.3g}", ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="round", fc="lightyellow" if node._op else "lightblue", ec="0.4"))
    ax.set_xlim(min(columns) - 0.6, max(columns) + 0.6)
    ys = [p[1] for p in pos.values()]
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.set(xlabel="depth in the graph (inputs on the left)", ylabel="node", title="Computation graph: data and grad of each node")
    ax.set_xticks(range(min(columns), max(columns) + 1))
    ax.set_yticks([])
    return ax
