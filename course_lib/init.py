"""Weight initialisation schemes for a ``(d_in, d_out)`` weight matrix.

The variance of a pre-activation ``z_j = sum_i a_i W_ij`` is
``d_in * Var(W) * E[a^2]``. Keeping it near 1 layer after layer is the point:

=============  =======================  ==========================================
scheme         Var(W)                   designed for
=============  =======================  ==========================================
``normal``     1                        nothing (explodes with width)
``lecun``      1 / d_in                 tanh / linear (LeCun et al., 1998)
``xavier``     2 / (d_in + d_out)       tanh, forward and backward (Glorot, 2010)
``he``         2 / d_in                 ReLU, which zeroes half the units (He, 2015)
=============  =======================  ==========================================
"""
from __future__ import annotations

import numpy as np

SCHEMES = ("normal", "lecun", "xavier", "he", "uniform")


def make_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Return ``rng`` itself, or a new ``np.random.default_rng(rng)`` for a seed or ``None``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng: expected a numpy Generator, an int seed or None, got {type(rng).__name__}")


def init_std(scheme: str, d_in: int, d_out: int) -> float:
    """Standard deviation of the zero-mean normal of ``scheme`` for a ``(d_in, d_out)`` matrix."""
    if scheme == "normal":
        return 1.0
    if scheme == "lecun":
        return float(np.sqrt(1.0 / d_in))
    if scheme == "xavier":
        return float(np.sqrt(2.0 / (d_in + d_out)))
    if scheme == "he":
        return float(np.sqrt(2.0 / d_in))
    raise ValueError(f"init scheme: expected one of {SCHEMES}, got {scheme!r}")


def init_weights(d_in: int, d_out: int, scheme: str = "lecun", rng: np.random.Generator | int | None = None) -> np.ndarray:
    """A ``(d_in, d_out)`` float64 weight matrix drawn from ``scheme``.

    ``"uniform"`` draws from U[0, 1), the (deliberately poor) initialisation of
    the 200 -> 300 -> 1 ReLU network of Sida Wang's "Neural network basics",
    used in the gradient-checking lesson.
    """
    for name, v in (("d_in", d_in), ("d_out", d_out)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: expected a positive int, got {v!r}")
    gen = make_rng(rng)
    if scheme == "uniform":
        return gen.random((d_in, d_out))
    return gen.standard_normal((d_in, d_out)) * init_std(scheme, d_in, d_out)


def standard_normal(d_in: int, d_out: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``W ~ N(0, 1)``."""
    return init_weights(d_in, d_out, "normal", rng)


def lecun(d_in: int, d_out: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``W ~ N(0, 1 / d_in)``."""
    return init_weights(d_in, d_out, "lecun", rng)


def xavier(d_in: int, d_out: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``W ~ N(0, 2 / (d_in + d_out))`` (Glorot normal)."""
    return init_weights(d_in, d_out, "xavier", rng)


def he(d_in: int, d_out: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``W ~ N(0, 2 / d_in)`` (Kaiming normal)."""
    return init_weights(d_in, d_out, "he", rng)
