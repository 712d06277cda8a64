"""The single writer of the main gradebook, and the record of what was graded.

Besides nbgrader's tables, ``gradebook.db`` holds a table ``grader_state``:
one row per (student, lesson) with the hash of the submission that was
graded, the hash of the grading environment (lesson source, course_lib,
checks, config), whether grading succeeded, and the error if not.  The grades
of a submission and its row are committed in one transaction, so after a
crash (even ``kill -9``) a submission is either fully merged and recorded, or
not recorded and graded again by the next run.
"""
from __future__ import annotations

import datetime as _dt
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook
from sqlalchemy import text
from sqlalchemy.exc import SAWarning

from .gradebook import COURSE_ID, db_url, read_grades

STATE_TABLE = """
CREATE TABLE IF NOT EXISTS grader_state (
    student TEXT NOT NULL,
    lesson TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    env_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    seconds REAL,
    graded_at TEXT,
    notes TEXT,
    PRIMARY KEY (student, lesson)
)
"""


@dataclass(frozen=True)
class StateRow:
    """What was graded last for one (student, lesson)."""

    student: str
    lesson: str
    content_hash: str
    env_hash: str
    status: str  # "graded" or "error"
    error: str | None
    seconds: float | None
    notes: tuple = ()  # "code: message" lines of grader.pipeline.notes


class GradebookWriter:
    """Open the main gradebook for merging (use as a context manager)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.gb = Gradebook(db_url(self.path), COURSE_ID)
        self.gb.db.execute(text(STATE_TABLE))
        columns = {row[1] for row in self.gb.db.execute(text("PRAGMA table_info(grader_state)"))}
        if "notes" not in columns:  # a gradebook of an earlier version
            self.gb.db.execute(text("ALTER TABLE grader_state ADD COLUMN notes TEXT"))
        self.gb.db.commit()

    def __enter__(self) -> GradebookWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.gb.close()

    def state(self) -> dict[tuple[str, str], StateRow]:
        """Every recorded (student, lesson)."""
        rows = self.gb.db.execute(
            text("SELECT student, lesson, content_hash, env_hash, status, error, seconds, notes FROM grader_state")
        )
        return {(r[0], r[1]): StateRow(*r[:7], notes=_notes(r[7])) for r in rows}

    def forget(self, keys: Iterable[tuple[str, str]]) -> None:
        """Drop the records of ``keys`` (so an interrupted ``--force`` run is resumed)."""
        for student, lesson in keys:
            self.gb.db.execute(
                text("DELETE FROM grader_state WHERE student = :s AND lesson = :l"),
                {"s": student, "l": lesson},
            )
        self.gb.db.commit()

    def merge(self, result: dict, content_hash: str, env_hash: str) -> None:
        """Write one worker result (see ``grader.pipeline.worker.Worker.grade``) and its record, atomically."""
        with warnings.catch_warnings():
            # nbgrader's add_submission trips SQLAlchemy autoflush warnings; harmless
            warnings.simplefilter("ignore", SAWarning)
            self._merge(result, content_hash, env_hash)

    def _merge(self, result: dict, content_hash: str, env_hash: str) -> None:
        gb = self.gb
        student, lesson = result["student"], result["lesson"]
        payload = result.get("payload") or {}
        graded = result["status"] == "graded"
        gb.update_or_create_student(student)
        kwargs = {}
        if payload.get("timestamp"):
            kwargs["timestamp"] = payload["timestamp"]
        submission = gb.update_or_create_submission(lesson, student, **kwargs)
        notebooks = payload.get("notebooks", {})
        for nb in submission.notebooks:
            saved = notebooks.get(nb.name) if graded else None
            for grade in nb.grades:
                auto = saved["grades"].get(grade.name) if saved else None
                grade.auto_score = auto
                # as nbgrader's SaveAutoGrades decides it
                grade.needs_manual_grade = grade.manual_score is not None or auto is None
            for comment in nb.comments:
                comment.auto_comment = saved["comments"].get(comment.name) if saved else None
            nb.late_submission_penalty = saved.get("late_submission_penalty") if saved else None
        gb.db.execute(
            text(
                "INSERT OR REPLACE INTO grader_state "
                "(student, lesson, content_hash, env_hash, status, error, seconds, graded_at, notes) "
                "VALUES (:s, :l, :c, :e, :st, :err, :sec, :at, :notes)"
            ),
            {
                "s": student,
                "l": lesson,
                "c": content_hash,
                "e": env_hash,
                "st": result["status"],
                "err": result.get("error"),
                "sec": result.get("seconds"),
                "at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "notes": json.dumps([str(n) for n in result.get("notes") or []]),
            },
        )
        gb.db.commit()


def _notes(raw: str | None) -> tuple:
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        return (f"unreadable notes: {raw[:200]}",)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def read_state(path: Path | str) -> dict[tuple[str, str], StateRow]:
    """The ``grader_state`` records of a gradebook (empty when it has none)."""
    if not Path(path).exists():
        return {}
    with GradebookWriter(path) as writer:
        return writer.state()


def snapshot(course_root: Path | str) -> dict:
    """Everything a run decides, for comparing two runs.

    ``{"grades": {(student, lesson): {grade_id: (auto_score, needs_manual_grade)}},
    "state": {(student, lesson): (content_hash, env_hash, status)},
    "autograded": sorted (student, lesson) with an autograded notebook}``.
    Timestamps of when grading happened are left out.
    """
    root = Path(course_root)
    db = root / "gradebook.db"
    grades = {
        key: {g: (c.auto_score, c.needs_manual_grade) for g, c in cells.items()}
        for key, cells in read_grades(db).items()
    }
    state = {key: (r.content_hash, r.env_hash, r.status) for key, r in read_state(db).items()}
    autograded = sorted(
        (p.parent.parent.name, p.parent.name)
        for p in (root / "autograded").glob("*/*/*.ipynb")
    )
    return {"grades": grades, "state": state, "autograded": autograded}
