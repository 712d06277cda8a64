"""Input validation shared by course_lib: clear errors that name what was expected and what came."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def as_float_array(x: object, name: str, ndim: int | None = None) -> np.ndarray:
    """Convert ``x`` to a float ndarray (float32 stays float32, everything else float64).

    Raises:
        TypeError: when ``x`` cannot be read as numbers.
        ValueError: when ``ndim`` is given and the array has another number of dimensions.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - numpy accepts nearly anything
        raise TypeError(f"{name}: expected an array of numbers, got {type(x).__name__}") from exc
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise TypeError(f"{name}: expected an array of numbers, got dtype {arr.dtype} ({type(x).__name__})")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64, copy=False)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {arr.shape} ({arr.ndim}-d)")
    return arr


def check_shape(arr: np.ndarray, expected: Sequence[int | None], name: str) -> None:
    """Raise ``ValueError`` unless ``arr.shape`` matches ``expected`` (``None`` matches any size)."""
    shape = tuple(arr.shape)
    ok = len(shape) == len(expected) and all(e is None or e == s for e, s in zip(expected, shape))
    if not ok:
        shown = "(" + ", ".join("B" if e is None else str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
        raise ValueError(f"{name}: expected shape {shown}, got {shape}")
