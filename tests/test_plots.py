"""course_lib.plots: every figure has a title and labelled axes and draws something."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib import plots
from course_lib.scalar import Value


def _graph():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = (a * b + a).tanh()
    c.backward()
    return c


CASES = {
    "activations": lambda: plots.plot_activations(),
    "losses": lambda: plots.plot_losses([3.0, 2.0, 1.0]),
    "decision_boundary": lambda: plots.plot_decision_boundary(lambda P: (P[:, 0] > 0).astype(int),
                                                              np.random.default_rng(0).standard_normal((20, 2)),
                                                              np.arange(20) % 2, resolution=20),
    "grad_norms": lambda: plots.plot_grad_norms({"0.W": [1.0, 0.5], "2.W": [2.0, 1.0]}),
    "error_vs_eps": lambda: plots.plot_error_vs_eps(np.logspace(-8, -1, 5), {"float64": np.logspace(-6, -2, 5)}),
    "graph": lambda: plots.draw_graph(_graph()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_figure_has_title_labels_and_content(name):
    ax = CASES[name]()
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert ax.lines or ax.collections or ax.texts
    plt.close("all")


def test_graph_shows_every_node_with_its_grad():
    ax = plots.draw_graph(_graph())
    texts = [t.get_text() for t in ax.texts if t.get_text()]
    assert len(texts) == 5  # a, b, a*b, +, tanh
    assert any(t.startswith("a\n2\ngrad") for t in texts)
    plt.close("all")


def test_graph_crossings_counts_crossing_edges_only():
    pos = {"a": (0, 0), "b": (0, 1), "c": (1, 0), "d": (1, 1)}
    assert plots.graph_crossings([("a", "d"), ("b", "c")], pos) == 1        # an X
    assert plots.graph_crossings([("a", "c"), ("b", "d")], pos) == 0        # parallel
    assert plots.graph_crossings([("a", "c"), ("a", "d")], pos) == 0        # a shared end point is no crossing


def test_graph_layout_untangles_a_graph_that_can_be_drawn_without_crossings():
    # leaves in the order the sort meets them (a, b, c) make a -> c*a cross b -> a*b; b, a, c does not
    a, b, c = (Value(v, label=k) for v, k in ((1.0, "a"), (2.0, "b"), (3.0, "c")))
    out = (a * b) + (c * a)
    nodes = out.topological_order()
    edges = [(id(child), id(node)) for node in nodes for child in node._prev]
    naive = {id(n): (0 if not n._prev else 1 + (n is out), k) for k, n in enumerate(nodes)}
    assert plots.graph_crossings(edges, naive) > 0
    pos = plots.graph_layout(out)
    assert plots.graph_crossings(edges, pos) == 0
    assert set(pos) == {id(n) for n in nodes}


def test_graph_shows_a_saturated_sigmoid_with_enough_digits():
    h = Value(16.0, label="h_in").sigmoid()
    h.label = "h"
    texts = [t.get_text() for t in plots.draw_graph(h, pos={"h": (3, 0)}).texts]
    assert any(t.startswith("h (sigmoid)\n0.9999998875\n") for t in texts), texts
    assert not any("\n1\n" in t for t in texts), texts
    plt.close("all")
