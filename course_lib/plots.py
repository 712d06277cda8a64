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


def _segments_cross(p, q, r, s) -> bool:
    """Whether the open segments pq and rs cross (segments that share an end point do not)."""
    if len({p, q, r, s}) < 4:
        return False

    def side(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    return side(p, q, r) * side(p, q, s) < 0 and side(r, s, p) * side(r, s, q) < 0


def graph_crossings(edges, pos) -> int:
    """How many pairs of straight edges cross, for ``edges`` as (from, to) keys of ``pos`` ({key: (x, y)})."""
    segments = [(pos[a], pos[b]) for a, b in edges]
    return sum(_segments_cross(*segments[i], *segments[j])
               for i in range(len(segments)) for j in range(i + 1, len(segments)))


def graph_layout(root, sweeps: int = 12) -> dict:
    """Positions ``{id(node): (column, row)}`` of a graph of nodes with ``_prev``: inputs left, output right.

    A node's column is its depth (a leaf sits one column left of its first consumer); the order inside each
    column comes from barycentre sweeps (each node moved to the mean row of its neighbours, left to right and
    back), keeping the arrangement with the fewest edge crossings, then swaps of neighbours in a column
    while a swap removes crossings.
    """
    order = root.topological_order()
    depth: dict[int, int] = {}
    for node in order:  # inputs before outputs
        depth[id(node)] = 1 + max((depth[id(c)] for c in node._prev), default=-1)
    for node in reversed(order):  # leaves one column left of their latest consumer: short arrows
        for child in node._prev:
            if not child._prev:
                depth[id(child)] = depth[id(node)] - 1 if id(child) not in depth or child is node else \
                    max(depth[id(child)], depth[id(node)] - 1)
    columns: dict[int, list[int]] = {}
    for node in order:
        columns.setdefault(depth[id(node)], []).append(id(node))
    edges = list(dict.fromkeys((id(c), id(n)) for n in order for c in n._prev))
    left = {k: [a for a, b in edges if b == k] for k in depth}
    right = {k: [b for a, b in edges if a == k] for k in depth}

    def positions(cols):
        return {k: (d, i - (len(ks) - 1) / 2) for d, ks in cols.items() for i, k in enumerate(ks)}

    best = (graph_crossings(edges, positions(columns)), {d: list(ks) for d, ks in columns.items()})
    for sweep in range(sweeps):
        pos = positions(columns)
        ds = sorted(columns) if sweep % 2 == 0 else sorted(columns, reverse=True)
        for d in ds:
            near = left if sweep % 2 == 0 else right
            pos = positions(columns)

            def centre(k, near=near, pos=pos):
                rows = [pos[m][1] for m in near[k]] or [pos[k][1]]
                return sum(rows) / len(rows)

            columns[d] = sorted(columns[d], key=lambda k, centre=centre, pos=pos: (centre(k), pos[k][1]))
        count = graph_crossings(edges, positions(columns))
        if count < best[0]:
            best = (count, {d: list(ks) for d, ks in columns.items()})
    # then swap neighbours inside a column while that removes crossings (the barycentres can tie or mislead)
    count, columns = best
    improved = True
    while improved and count:
        improved = False
        for ks in columns.values():
            for i in range(len(ks) - 1):
                ks[i], ks[i + 1] = ks[i + 1], ks[i]
                trial = graph_crossings(edges, positions(columns))
                if trial < count:
                    count, improved = trial, True
                else:
                    ks[i], ks[i + 1] = ks[i + 1], ks[i]
    return positions(columns)


def draw_graph(root, ax=None, pos: Mapping | None = None, digits: int = 10, fontsize: float = 9):
    """Draw the computation graph of a :class:`course_lib.scalar.Value` (inputs left, output right).

    Each node shows its label, operation, ``data`` (to ``digits`` significant digits, so that a saturated
    sigmoid shows as 0.9999998875 and not as 1) and ``grad``.

    Args:
        root: the output node; every node it depends on is drawn.
        ax: the Axes to draw on (a new figure if None).
        pos: optional positions ``{node label: (x, y)}`` that override :func:`graph_layout`'s.
        digits: significant digits of ``data``.
        fontsize: text size of the node boxes.
    Returns:
        the Axes.
    """
    ax = _axes(ax)
    order = root.topological_order()
    where = graph_layout(root)
    for node in order:
        if pos and node.label in pos:
            where[id(node)] = tuple(pos[node.label])
    for node in order:
        for child in node._prev:
            ax.annotate("", xy=where[id(node)], xytext=where[id(child)],
                        arrowprops=dict(arrowstyle="->", color="0.45", lw=1.0, shrinkA=22, shrinkB=22))
    for node in order:
        x, y = where[id(node)]
        name = node.label or node._op or "input"
        op = f" ({node._op})" if node._op and node.label and node.label != node._op else ""
        ax.text(x, y, f"{name}{op}\n{node.data:.{digits}g}\ngrad {node.grad:.4g}", ha="center", va="center",
                fontsize=fontsize, bbox=dict(boxstyle="round", fc="lightyellow" if node._op else "lightblue", ec="0.4"))
    xs, ys = [p[0] for p in where.values()], [p[1] for p in where.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.set(xlabel="depth in the graph (inputs on the left)", ylabel="node", title="Computation graph: data and grad of each node")
    ax.set_xticks(range(int(np.floor(min(xs))), int(np.ceil(max(xs))) + 1))
    ax.set_yticks([])
    return ax
