"""The instructor pipeline (trusted, never imported by a grading kernel).

release, collect, register, autograde (with its worker processes), merge,
feedback, report, validate, demo and the ``python -m grader`` command line.
Execution of student code is in :mod:`grader.sandbox`; checks are in
:mod:`grader.checks`.
"""
