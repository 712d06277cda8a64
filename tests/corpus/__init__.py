"""Correct answers written differently from the solutions: every one must earn full marks, with no hint.

One module per lesson, ``alt_<lesson>.py``, holding ``ALTERNATIVES = {exercise: [(style, cell source), ...]}``:
each source replaces the exercise's whole solution cell (the function or class definitions, docstrings
optional) and is graded by the lesson's real grade cells (``tests/test_alt_correct.py``).
"""
