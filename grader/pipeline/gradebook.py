"""Reading the nbgrader gradebook (through nbgrader's own ``Gradebook`` API)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook

COURSE_ID = "backprop"


@dataclass(frozen=True)
class CellGrade:
    """The grade of one grade cell of one submission."""

    grade_id: str
    auto_score: float | None  # None: the autograder gave no score (e.g. the notebook failed)
    score: float  # what nbgrader counts (manual score wins; no score counts 0)
    max_score: float
    needs_manual_grade: bool

    @property
    def full(self) -> bool:
        return self.score >= self.max_score


def db_url(path: Path | str) -> str:
    """The SQLAlchemy URL of a gradebook file."""
    return f"sqlite:///{Path(path).resolve()}"


def read_grades(db_path: Path | str) -> dict[tuple[str, str], dict[str, CellGrade]]:
    """``{(student, lesson): {grade_id: CellGrade}}`` of every submission in a gradebook."""
    if not Path(db_path).is_file():
        raise FileNotFoundError(f"no gradebook at {db_path}")
    out: dict[tuple[str, str], dict[str, CellGrade]] = {}
    with Gradebook(db_url(db_path), COURSE_ID) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                cells: dict[str, CellGrade] = {}
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        cells[grade.name] = CellGrade(
                            grade_id=grade.name,
                            auto_score=grade.auto_score,
                            score=float(grade.score),
                            max_score=float(grade.max_score),
                            needs_manual_grade=bool(grade.needs_manual_grade),
                        )
                out[(submission.student_id, assignment.name)] = cells
    return out


def total(cells: dict[str, CellGrade]) -> tuple[float, float]:
    """(score, max score) of one submission."""
    return (sum(c.score for c in cells.values()), sum(c.max_score for c in cells.values()))
