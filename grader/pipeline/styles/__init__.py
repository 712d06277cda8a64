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

#: Answers that fail together: ``(lesson, exercise, style, other exercise, other style)`` where ``exercise``,
#: answered in ``style`` and graded by its own grade cells, loses marks when ``other exercise`` (whose answer
#: it uses) is answered in ``other style`` (``dropout_forward`` returning lists to a ``train_step`` that
#: calls it).  Every other such pair earns full marks: tests/test_alt_correct.py checks both, so this list
#: is exactly the pairs that fail.  ``style`` is ``"solution"`` or an alternative's name.
INCOMPATIBLE: frozenset[tuple[str, str, str, str, str]] = frozenset({
    # cross_entropy indexes softmax's result as an array; this softmax returns lists
    ("03_softmax_cross_entropy", "cross_entropy", "reuses exercise 1, numpy scalar", "softmax", "python loops and lists"),
    # train_step calls dropout_forward/backward: lists have no .T; float32 masks miss the 1e-10 tolerance
    ("07_capstone", "training", "atoms", "dropout", "loops"),
    ("07_capstone", "training", "atoms", "dropout", "float32"),
    ("07_capstone", "training", "module-like", "dropout", "loops"),
    ("07_capstone", "training", "module-like", "dropout", "float32"),
    ("07_capstone", "training", "wider", "dropout", "loops"),
    ("07_capstone", "training", "wider", "dropout", "float32"),
    # ...and softmax_cross_entropy_backward: a list of rows has no .sum(axis=...)
    ("07_capstone", "training", "module-like", "cross_entropy_fused", "loops"),
    ("07_capstone", "training", "wider", "cross_entropy_fused", "loops"),
})


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
