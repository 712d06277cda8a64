"""Shared fixtures: seeded generators and a float64 central-difference helper."""
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def central_diff(f, x, eps=1e-6):
    """Independent central differences (written here, not course_lib's, so tests do not check code with itself)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp = x.copy()
        xp[i] += eps
        xm = x.copy()
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


def rel_err(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


@pytest.fixture(scope="session")
def student_wheel(tmp_path_factory) -> Path:
    """The student bundle built from this checkout's lessons (tests/test_bundle.py, tests/test_jupyterlab.py)."""
    from grader.pipeline.bundle import build_bundle
    from grader.pipeline.course import DEFAULT_LESSONS, DEFAULT_SOLUTIONS, find_lessons

    return build_bundle(DEFAULT_LESSONS, find_lessons(DEFAULT_SOLUTIONS), tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def student_venv(tmp_path_factory, student_wheel) -> Path:
    """A fresh venv with only the bundle installed (dependencies from pip's configured index); no torch, no nbgrader."""
    root = tmp_path_factory.mktemp("student") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(root)], check=True)
    run = subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "--quiet", str(student_wheel)],
                         capture_output=True, text=True)
    assert run.returncode == 0, f"pip install of the bundle failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return root
