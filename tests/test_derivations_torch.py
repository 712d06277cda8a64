"""The derivation exercises of lessons 05 and 06 (solutions) against PyTorch float64 autograd, and the checks'
central differences against the same autograd: both sides of the grading agree with an independent witness."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest

from grader.checks import numeric_vjp
from grader.sandbox.checker import namespace_from_notebook

torch = pytest.importorskip("torch")

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"


@pytest.fixture(scope="module")
def ns05() -> dict:
    with contextlib.redirect_stdout(io.StringIO()):
        return namespace_from_notebook(SOLUTIONS / "05_gradient_check" / "05_gradient_check.ipynb")


@pytest.fixture(scope="module")
def ns06() -> dict:
    with contextlib.redirect_stdout(io.StringIO()):
        return namespace_from_notebook(SOLUTIONS / "06_vanishing_gradients" / "06_vanishing_gradients.ipynb")


def _autograd(forward, arrays: dict, G: np.ndarray) -> dict:
    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}
    (forward(**leaves) * torch.tensor(G)).sum().backward()
    return {k: t.grad.numpy() for k, t in leaves.items()}


@pytest.mark.parametrize("B, d_in, d_out, gate_scale", [(4, 3, 2, 1.0), (1, 5, 3, 1.0), (6, 2, 4, 5.0)])
def test_glu_backward_matches_torch(ns05, B, d_in, d_out, gate_scale):
    gen = np.random.default_rng(B * 100 + d_in)
    args = {"X": gen.normal(size=(B, d_in)), "W": gen.normal(size=(d_in, d_out)), "b": gen.normal(size=d_out),
            "V": gate_scale * gen.normal(size=(d_in, d_out)), "c": gen.normal(size=d_out)}
    G = gen.normal(size=(B, d_out))
    expected = _autograd(lambda X, W, b, V, c: (X @ W + b) * torch.sigmoid(X @ V + c), args, G)
    got = ns05["glu_backward"](*(a.copy() for a in args.values()), G.copy())
    for k in args:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-12, atol=1e-14)
    numeric = numeric_vjp(lambda z: ns05["hunt"].glu_forward(**dict(args, X=z)), args["X"], G)
    assert np.linalg.norm(numeric - expected["X"]) <= 1e-8 * np.linalg.norm(expected["X"])


@pytest.mark.parametrize("B, d, w_scale", [(4, 3, 1.0), (1, 5, 1.0), (6, 4, 4.0)])
def test_residual_backward_matches_torch(ns06, B, d, w_scale):
    gen = np.random.default_rng(B * 10 + d)
    args = {"X": gen.normal(size=(B, d)), "W": w_scale / np.sqrt(d) * gen.normal(size=(d, d)), "b": gen.normal(size=d)}
    G = gen.normal(size=(B, d))
    expected = _autograd(lambda X, W, b: X + torch.tanh(X @ W + b), args, G)
    got = ns06["residual_backward"](*(a.copy() for a in args.values()), G.copy())
    for value, k in zip(got, ("X", "W", "b")):
        np.testing.assert_allclose(value, expected[k], rtol=1e-12, atol=1e-14)
