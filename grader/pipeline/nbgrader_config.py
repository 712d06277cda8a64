"""nbgrader configuration of the backprop course.

nbgrader reads ``nbgrader_config.py`` from the current directory and from the
course root.  The instructor tools in ``grader`` never run nbgrader inside the
repository (so no ``gradebook.db`` lands in the working tree): they build a
course directory elsewhere and write a two-line ``nbgrader_config.py`` there
that executes this file and then points ``CourseDirectory.root`` at that
directory (see ``grader.pipeline.course.write_course_config``).

Run directly by traitlets, this file has ``c`` (the config object) and
``__file__`` in its namespace.
"""
import os

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

# The course root defaults to the repository root; grader's course directories
# override it right after executing this file.
c.CourseDirectory.root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
c.CourseDirectory.course_id = "backprop"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"
# bugs.json (the planted bugs of a lesson), references.json (the course_lib
# references of its exercises) and mutants.json (its known-equivalent mutants)
# are instructor-only: never released, never copied next to a submission.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "bugs.json",
    "references.json",
    "mutants.json",
]

# Solution regions and their stub.
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearSolutions.enforce_metadata = True

# Hidden tests.
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"
c.ClearHiddenTests.enforce_metadata = True

# Released notebooks carry no outputs (ClearOutput is part of
# generate_assignment; keep it on explicitly).
c.ClearOutput.enabled = True

# Per-cell execution limit in seconds (nbgrader has no whole-notebook limit).
# The longest solution cell of a lesson runs a few seconds; a student's
# endless loop is interrupted after this.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# A student who deletes a grade cell still gets it graded (otherwise the cell
# scores 0 and "needs manual grading" forever).
c.OverwriteCells.add_missing_cells = True
