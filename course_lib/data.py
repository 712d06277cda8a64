"""Data sets and constants used by the lessons (all deterministic given a seed)."""
from __future__ import annotations

import numpy as np

Array = np.ndarray

# ---------------------------------------------------------------- lesson 01
#: The worked 2-2-2 sigmoid network of Alexander Schiendorfer's notebook "Backpropagation,
#: by example", in batch-first form:
#: ``H = sigmoid(X @ W)``, ``Y_hat = sigmoid(H @ V)``, no biases, and the loss is
#: the plain sum of squared errors against ``T``. ``W[i, j]`` connects input i to hidden j.
WORKED_X = np.array([[3.0, 1.0]])
WORKED_W = np.array([[6.0, -3.0], [-2.0, 5.0]])
WORKED_V = np.array([[1.0, -2.0], [0.25, 2.0]])
WORKED_T = np.array([[1.0, 0.0]])

# ---------------------------------------------------------------- lessons 04 and 06
#: The frozen constants a..e of the regression target of the (unsigned) backpropagation
#: blog post cited in lessons 04 and 06.
REGRESSION_COEFFS = (0.19677237, 0.75164323, 1.1048082, 1.61985818, -0.37817787)


def regression_target(x: Array) -> Array:
    """``y = a cos(b x) + x sin(c x) - d tanh(e x)`` with the constants of that blog post."""
    a, b, c, d, e = REGRESSION_COEFFS
    x = np.asarray(x, dtype=np.float64)
    return a * np.cos(b * x) + x * np.sin(c * x) - d * np.tanh(e * x)


def regression_data() -> tuple[Array, Array]:
    """``X`` of shape ``(201, 1)``: x from -5 to 5 in steps of 0.05, and ``y = regression_target(X)``."""
    X = np.linspace(-5.0, 5.0, 201)[:, None]
    return X, regression_target(X)


# ---------------------------------------------------------------- lesson 03
def moons(n_samples: int = 5000, noise: float = 0.1, test_size: float = 0.3, seed: int = 42) -> tuple[Array, Array, Array, Array]:
    """Two interleaving half moons, split into train and test.

    Returns:
        ``(X_train, X_test, y_train, y_test)``; ``X`` float64 ``(n, 2)``, ``y`` int ``(n,)``.
    """
    from sklearn.datasets import make_moons  # imported here: only lesson 03 needs scikit-learn
    from sklearn.model_selection import train_test_split

    X, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed)
    return X_train.astype(np.float64), X_test.astype(np.float64), y_train.astype(np.int64), y_test.astype(np.int64)


# ---------------------------------------------------------------- lesson 05
def seed000_problem(B: int = 1, seed: int = 0) -> tuple[Array, Array]:
    """One batch for the 200 -> 300 -> 1 ReLU network of Sida Wang's "Neural network basics".

    ``X`` uniform on [0, 1) ``(B, 200)``, ``y`` uniform on [0, 10) ``(B, 1)``.
    """
    rng = np.random.default_rng(seed)
    return rng.random((B, 200)), rng.random((B, 1)) * 10.0


# ---------------------------------------------------------------- lesson 07
def digits(n_val: int = 300, n_test: int = 400, seed: int = 2) -> tuple[Array, Array, Array, Array, Array, Array]:
    """scikit-learn's handwritten digits (1,797 images of 8x8 pixels, shipped with scikit-learn), split three ways.

    Pixels are scaled from 0..16 to [0, 1]; the split is stratified and fixed by ``seed``.

    Returns:
        ``(X_train, y_train, X_val, y_val, X_test, y_test)``; ``X`` float64 ``(n, 64)``, ``y`` int ``(n,)``
        (1,097 / 300 / 400 rows by default).
    """
    from sklearn.datasets import load_digits  # imported here: only lesson 07 needs it
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float64) / 16.0
    y = y.astype(np.int64)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=n_test, stratify=y, random_state=seed)
    X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=n_val, stratify=y_rest,
                                                      random_state=seed)
    return X_train, y_train, X_val, y_val, X_test, y_test
