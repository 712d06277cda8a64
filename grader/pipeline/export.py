"""``grader export`` / ``nbgrader export``: the gradebook as a CSV an LMS imports (Canvas, Moodle).

:class:`LmsExportPlugin` is an nbgrader export plugin (``nbgrader.plugins.ExportPlugin``):
the course folder's ``nbgrader_config.py`` (written by ``grader.pipeline.course``)
selects it, so ``nbgrader export`` run in the course folder writes it, and
``python -m grader export`` runs exactly that.  One row per student, one column
per lesson, then the total:

* ``canvas`` (default): ``Student, ID, SIS User ID, SIS Login ID, Section,
  <lesson>..., Total``, then a ``Points Possible`` row, as Canvas's own
  gradebook export has them (Canvas matches students on SIS User ID / SIS
  Login ID, which hold the grader's student id; a lesson column it does not
  know becomes a new assignment);
* ``moodle``: ``ID number, Email address, First name, Last name, <lesson>...,
  Total`` and no points row (in Moodle's "Import grades from CSV", map
  "ID number" to the user field that holds the student id).

A lesson's score is the submission's score less its late penalty (never below
0, as nbgrader's own CSV); a lesson not handed in scores 0.
"""
from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Enum

#: Columns before the lessons' columns, per LMS.
HEADS = {
    "canvas": ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"],
    "moodle": ["ID number", "Email address", "First name", "Last name"],
}
DEFAULT_NAME = "lms_grades.csv"


def _fmt(x: float) -> str:
    return f"{round(float(x), 4):g}"


def lms_rows(gradebook: Gradebook, lms: str = "canvas", students: list[str] | None = None,
             lessons: list[str] | None = None) -> list[list[str]]:
    """The CSV's rows (header first): one per student, one column per lesson, then the total.

    Args:
        lms: ``canvas`` or ``moodle`` (see the module doc).
        students, lessons: only these (default: every one in the gradebook).

    Returns:
        rows of strings, ready for ``csv.writer``.
    """
    if lms not in HEADS:
        raise ValueError(f"lms must be one of {sorted(HEADS)}, got {lms!r}")
    assignments = sorted((a for a in gradebook.assignments if not lessons or a.name in lessons),
                         key=lambda a: a.name)
    people = sorted((s for s in gradebook.students if not students or s.id in students), key=lambda s: s.id)
    rows = [[*HEADS[lms], *(a.name for a in assignments), "Total"]]
    if lms == "canvas":
        maxes = [float(a.max_score) for a in assignments]
        rows.append(["Points Possible", "", "", "", "", *map(_fmt, maxes), _fmt(sum(maxes))])
    for student in people:
        scores = []
        for assignment in assignments:
            try:
                submission = gradebook.find_submission(assignment.name, student.id)
            except MissingEntry:
                scores.append(0.0)
                continue
            penalty = submission.late_submission_penalty or 0.0
            scores.append(max(0.0, float(submission.score) - float(penalty)))
        if lms == "canvas":
            name = ", ".join(x for x in (student.last_name, student.first_name) if x) or student.id
            head = [name, "", student.id, student.id, ""]
        else:
            head = [student.id, student.email or "", student.first_name or "", student.last_name or ""]
        rows.append([*head, *map(_fmt, scores), _fmt(sum(scores))])
    return rows


class LmsExportPlugin(ExportPlugin):
    """nbgrader export plugin: one row per student, one column per lesson plus the total (Canvas or Moodle CSV)."""

    lms = Enum(["canvas", "moodle"], default_value="canvas",
               help="Which LMS's import format to write.").tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        if self.to:
            dest = Path(self.to)
        else:
            root = getattr(getattr(self.parent, "coursedir", None), "root", None) or "."
            dest = Path(root) / "reports" / DEFAULT_NAME
        rows = lms_rows(gradebook, self.lms, [str(s) for s in self.student] or None,
                        [str(a) for a in self.assignment] or None)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
        self.log.info("Exported %d students for %s to %s", len(rows) - 1 - (self.lms == "canvas"), self.lms, dest)
