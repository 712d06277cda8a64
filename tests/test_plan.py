"""Which submissions a run grades (grader/pipeline/autograde.py plan): errored rows are never up to date."""
from __future__ import annotations

import types
from pathlib import Path

from grader.pipeline import autograde
from grader.pipeline.merge import StateRow


def _course(tmp_path: Path) -> Path:
    folder = tmp_path / "submitted" / "ann" / "01_x"
    folder.mkdir(parents=True)
    (folder / "01_x.ipynb").write_text("{}")
    (tmp_path / "autograded" / "ann" / "01_x").mkdir(parents=True)
    (tmp_path / "autograded" / "ann" / "01_x" / "01_x.ipynb").write_text("{}")
    return tmp_path


def _writer(row):
    return types.SimpleNamespace(state=lambda: {("ann", "01_x"): row} if row else {})


def test_an_errored_row_is_graded_again_but_a_graded_one_is_not(tmp_path):
    root = _course(tmp_path)
    content = autograde.sha256_tree(root / "submitted" / "ann" / "01_x")
    graded = StateRow("ann", "01_x", content, "env", "graded", None, 1.0)
    errored = StateRow("ann", "01_x", content, "env", "error", "kernel did not start", 1.0)
    jobs, skipped, _ = autograde.plan(root, _writer(graded), {"01_x": "env"})
    assert (len(jobs), skipped) == (0, 1)
    jobs, skipped, _ = autograde.plan(root, _writer(errored), {"01_x": "env"})
    assert (len(jobs), skipped) == (1, 0)
