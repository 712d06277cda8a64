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
