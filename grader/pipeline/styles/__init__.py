"""Correct answers written differently from the solutions: every one must earn full marks, with no hint.

One module per lesson, ``alt_<lesson>.py``, holding ``ALTERNATIVES = {exercise: [(style, cell source), ...]}``:
each source replaces the exercise's whole solution cell (the function or class definitions, docstrings
optional) and is graded by the lesson's real grade cells (``tests/test_alt_correct.py``).

They are solutions: they live on the instructor side (``grader/pipeline``), which the student bundle
never holds (``grader.pipeline.bundle``).  The sample class of ``grader demo`` writes its honest
students' answers in these styles (``grader.pipeline.sample_class``), so that honest pairs of the
demo look as unlike as real students' work does to ``grader similarity``.
"""
from __future__ import annotations

import importlib


def alternatives(lesson: str) -> dict[str, list[tuple[str, str]]]:
    """``{exercise: [(style, cell source), ...]}`` of ``lesson`` (``{}`` when it has no module here).

    Args:
        lesson: the lesson's folder name, e.g. ``02_general_case``.
    Returns:
        the module's ``ALTERNATIVES``, or an empty dict.
    """
    try:
        module = importlib.import_module(f"{__name__}.alt_{lesson}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.alt_{lesson}":
            raise  # a module that is there but imports something missing is a bug, not "no corpus"
        return {}
    return module.ALTERNATIVES
