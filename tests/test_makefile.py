"""PyTorch and Chromium are installed for `make test` (PyTorch also for `make bench`) only: never for venv, demo,
lessons or students."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _recipe(target: str, *extra: str) -> str:
    """What `make TARGET` would run from scratch (-B: as if .venv were missing), without running it."""
    if shutil.which("make") is None:
        pytest.fail("make is not installed: the README's commands need it")
    run = subprocess.run(["make", "-n", "-B", "-C", str(REPO), target, *extra], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.mark.parametrize("target", ["venv", "demo", "lessons", "mutants"])
def test_targets_for_students_and_the_demo_do_not_install_torch(target):
    recipe = _recipe(target)
    assert "-r requirements.txt" in recipe, recipe
    assert "requirements-dev.txt" not in recipe and "torch" not in recipe, f"make {target} installs torch:\n{recipe}"
    assert "chromium" not in recipe.lower(), f"make {target} installs Chromium:\n{recipe}"


def test_make_test_installs_torch_and_can_take_the_cpu_wheel():
    assert "-r requirements-dev.txt" in _recipe("test")
    cpu = _recipe("test", "TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    assert "--index-url https://download.pytorch.org/whl/cpu -r requirements-dev.txt" in cpu, cpu


def test_torch_is_only_a_dev_requirement():
    runtime = (REPO / "requirements.txt").read_text().lower()
    assert "torch" not in runtime.replace("pytorch", ""), "requirements.txt (make venv, make demo) names torch"
    assert "torch==" in (REPO / "requirements-dev.txt").read_text()


def test_make_test_installs_chromium_as_root_when_missing_and_says_so_otherwise():
    recipe = _recipe("test")
    assert "test -x /usr/bin/chromium" in recipe, recipe
    assert "apt-get install -y -qq chromium" in recipe and '"$(id -u)" = 0' in recipe, recipe
    assert "tests/test_jupyterlab.py fails" in recipe, recipe  # the note when it cannot install
    elsewhere = _recipe("test", "CHROMIUM=/opt/chromium/chrome")
    assert "test -x /opt/chromium/chrome" in elsewhere, elsewhere


def test_playwright_is_a_dev_requirement_only():
    assert "playwright==" in (REPO / "requirements-dev.txt").read_text()
    assert "playwright" not in (REPO / "requirements.txt").read_text().lower()
