"""``grader report``: grades.csv, a summary table, score histograms, most failed checks, grader notes.

Everything is read from the gradebook (nbgrader's scores, and the grader's
record of which submissions could not be graded) and from the autograded
notebooks (which checks failed).  Files go to ``<course>/reports/``.
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import CourseError, find_lessons, sha256_tree
from .gradebook import read_grades
from .merge import read_state
from .outputs import cell_text
from .register import environment_hash, gradebook_path
from .submissions import grade_id

#: A failed case line printed by ``grader.checks.Cases.score``.
_FAILED_CASE = re.compile(r"^\s*FAIL\s+(.+?)\s*$")


@dataclass
class Report:
    """The class's grades and where the report files are."""

    lessons: list[str]
    students: list[str]
    max_scores: dict[str, float]
    scores: dict[tuple[str, str], float]  # (student, lesson) -> score, submitted only
    status: dict[tuple[str, str], str]  # graded / error
    failing_cells: list[tuple[str, str, int]] = field(default_factory=list)  # lesson, grade id, count
    failing_cases: list[tuple[str, str, int]] = field(default_factory=list)  # lesson, case label, count
    notes: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # what happened while grading
    #: submissions whose grade is not their current one: "ungraded" (never graded, or a regrade was
    #: interrupted) or "stale" (the submission, the lesson or the grader changed since it was graded)
    pending: dict[tuple[str, str], str] = field(default_factory=dict)
    csv_path: Path | None = None
    notes_path: Path | None = None
    plot_path: Path | None = None
    checks_path: Path | None = None

    def total(self, student: str) -> tuple[float, float]:
        return (
            sum(self.scores.get((student, lesson), 0.0) for lesson in self.lessons),
            sum(self.max_scores[lesson] for lesson in self.lessons),
        )


def _lesson_max(grades: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for (_, lesson), cells in grades.items():
        out[lesson] = sum(c.max_score for c in cells.values())
    return out


def build_report(course_root: Path | str) -> Report:
    """Collect the class's grades from the course directory."""
    root = Path(course_root).resolve()
    if not root.is_dir():
        raise CourseError(f"no course folder at {root}: check --course (default: $GRADER_COURSE, else course/ in the checkout)")
    db = gradebook_path(root)
    grades = read_grades(db) if db.is_file() else {}
    if not grades:
        raise CourseError(f"nothing graded yet in {root}: run `python -m grader autograde --course {course_root}` "
                          f"first (after `python -m grader collect PATH --course {course_root}`)")
    state = read_state(db)
    from nbgrader.api import Gradebook

    from .gradebook import COURSE_ID, db_url

    with Gradebook(db_url(db), COURSE_ID) as gb:
        lessons = sorted(a.name for a in gb.assignments)
        max_scores = {a.name: float(a.max_score) for a in gb.assignments}
        students = sorted(s.id for s in gb.students)
    scores = {key: sum(c.score for c in cells.values()) for key, cells in grades.items()}
    status = {key: (state[key].status if key in state else "graded") for key in grades}

    cell_fails: Counter = Counter()
    case_fails: Counter = Counter()
    for key, cells in grades.items():
        if status[key] != "graded":
            continue
        student, lesson = key
        lost = {g for g, c in cells.items() if c.score < c.max_score}
        for g in lost:
            cell_fails[(lesson, g)] += 1
        path = root / "autograded" / student / lesson / f"{lesson}.ipynb"
        if lost and path.exists():
            try:
                nb = nbformat.read(str(path), as_version=4)
            except Exception:
                continue
            for cell in nb.cells:
                if grade_id(cell) in lost:
                    for line in cell_text(cell).splitlines():
                        m = _FAILED_CASE.match(line)
                        if m:
                            case_fails[(lesson, f"{grade_id(cell)}: {m.group(1)}")] += 1
    pending = _pending(root, state)
    students = sorted(set(students) | {student for student, _ in pending})
    return Report(
        pending=pending,
        lessons=lessons,
        students=students,
        max_scores=max_scores,
        scores=scores,
        status=status,
        failing_cells=[(l, g, n) for (l, g), n in cell_fails.most_common()],
        failing_cases=[(l, g, n) for (l, g), n in case_fails.most_common()],
        notes={key: list(row.notes) for key, row in state.items() if row.notes and key in grades},
    )


def _pending(root: Path, state: dict) -> dict[tuple[str, str], str]:
    """Submissions of ``submitted/`` whose recorded grading is missing or out of date (see ``Report.pending``)."""
    from .autograde import find_submissions

    lessons = {lesson.name: lesson for lesson in find_lessons(root / "solutions")}
    env = {name: environment_hash(lesson) for name, lesson in lessons.items()}
    found, _ = find_submissions(root, set(lessons))
    out = {}
    for student, lesson in found:
        row = state.get((student, lesson))
        if row is None:
            out[(student, lesson)] = "ungraded"
        elif (row.env_hash != env[lesson]
              or row.content_hash != sha256_tree(root / "submitted" / student / lesson)):
            out[(student, lesson)] = "stale"
    return out


def incomplete_warning(report: Report, course: Path | str) -> str | None:
    """One line when some grades are missing or out of date (None when grading is complete)."""
    if not report.pending:
        return None
    ungraded = sum(1 for v in report.pending.values() if v == "ungraded")
    stale = len(report.pending) - ungraded
    parts = ([f"{ungraded} submissions are not graded"] if ungraded else []) + (
        [f"{stale} changed (or their lesson or the grader changed) since they were graded"] if stale else [])
    return (f"WARNING: grading is incomplete: {' and '.join(parts)} (marked ? above, status in grades.csv); "
            f"their scores are missing or old: run `python -m grader autograde --course {course}` to finish")


def _fmt(x: float) -> str:
    return f"{x:g}"


def table(report: Report) -> str:
    """The gradebook as a text table: one row per student, one column per lesson."""
    head = ["student", *report.lessons, "total"]
    rows = []
    for student in report.students:
        row = [student]
        for lesson in report.lessons:
            key = (student, lesson)
            if key in report.pending:
                row.append(f"{_fmt(report.scores[key])}?" if key in report.scores else "?")
            elif key not in report.scores:
                row.append("-")
            elif report.status.get(key) == "error":
                row.append(f"{_fmt(report.scores[key])}!")
            elif report.notes.get(key):
                row.append(f"{_fmt(report.scores[key])}*")
            else:
                row.append(_fmt(report.scores[key]))
        got, top = report.total(student)
        row.append(f"{_fmt(got)}/{_fmt(top)}")
        rows.append(row)
    means = ["mean"]
    for lesson in report.lessons:
        vals = [report.scores[(s, lesson)] for s in report.students if (s, lesson) in report.scores]
        means.append(f"{sum(vals) / len(vals):.1f}" if vals else "-")
    means.append("")
    maxes = ["max", *[_fmt(report.max_scores[lesson]) for lesson in report.lessons], ""]
    widths = [max(len(str(r[i])) for r in [head, *rows, means, maxes]) for i in range(len(head))]

    def line(cells):
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "  ".join("-" * w for w in widths)
    out = [line(head), rule, *(line(r) for r in rows), rule, line(means), line(maxes)]
    out.append("(- = not submitted, ! = could not be graded, * = see notes.csv, ? = not graded or graded before "
               "the last change)")
    return "\n".join(out)


def write_csv(report: Report, path: Path) -> Path:
    """``student, lesson, score, max, status`` for every student and lesson.

    ``status``: graded, error (could not be graded), missing (not submitted),
    ungraded or stale (see ``Report.pending``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "lesson", "score", "max", "status"])
        for student in report.students:
            for lesson in report.lessons:
                key = (student, lesson)
                score = report.scores.get(key)
                w.writerow([
                    student, lesson,
                    _fmt(score) if score is not None else "0",
                    _fmt(report.max_scores[lesson]),
                    report.pending.get(key) or report.status.get(key, "missing"),
                ])
    return path


def score_figure(report: Report):
    """One score histogram per lesson that has submissions, counts on integer ticks (a matplotlib Figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    shown = [lesson for lesson in report.lessons
             if any((s, lesson) in report.scores for s in report.students)]
    n = max(1, len(shown))
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, lesson in zip(axes.flat, shown):
        top = report.max_scores[lesson]
        vals = [report.scores[(s, lesson)] for s in report.students if (s, lesson) in report.scores]
        bins = [x - 0.5 for x in range(int(top) + 2)] if top <= 20 else 10
        ax.hist(vals, bins=bins, color="#4c72b0", edgecolor="white")
        ax.set_title(f"{lesson} (n={len(vals)})")
        ax.set_xlabel(f"score (points of {_fmt(top)})")
        ax.set_ylabel("submissions")
        ax.set_xlim(-0.5, top + 0.5)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in list(axes.flat)[len(shown):]:
        ax.remove()
    skipped = len(report.lessons) - len(shown)
    fig.suptitle("Score distribution per lesson"
                 + (f" ({skipped} lessons without submissions not shown)" if skipped else ""))
    fig.tight_layout()
    return fig


def plot(report: Report, path: Path) -> Path:
    """:func:`score_figure` as a PNG."""
    import matplotlib.pyplot as plt

    fig = score_figure(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_failing_checks(report: Report, path: Path) -> Path:
    """``lesson, check, failed`` (grade cells, then individual cases), most failed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lesson", "check", "failed"])
        for lesson, check, count in report.failing_cells + report.failing_cases:
            w.writerow([lesson, check, count])
    return path


def write_notes(report: Report, path: Path) -> Path:
    """``student, lesson, code, note``: everything the grader noted while grading (repairs, kills, limits...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "lesson", "code", "note"])
        for (student, lesson), lines in sorted(report.notes.items()):
            for line in lines:
                code, _, message = line.partition(": ")
                w.writerow([student, lesson, code, message])
    return path


def notes_summary(report: Report) -> str:
    """How many submissions got each kind of note, as text."""
    counts = Counter(line.partition(": ")[0] for lines in report.notes.values() for line in set(lines))
    if not counts:
        return "Grader notes: none"
    parts = ", ".join(f"{code} {n}" for code, n in counts.most_common())
    return f"Grader notes (submissions): {parts}; see notes.csv"


def failing_summary(report: Report, top: int = 8) -> str:
    """The checks that failed most often, as text."""
    lines = ["Most often failed grade cells (submissions that lost points):"]
    lines += [f"  {n:3d}  {lesson} / {g}" for lesson, g, n in report.failing_cells[:top]] or ["  none"]
    if report.failing_cases:
        lines.append("Most often failed checks inside them:")
        lines += [f"  {n:3d}  {lesson} / {g}" for lesson, g, n in report.failing_cases[:top]]
    return "\n".join(lines)


def make_report(course_root: Path | str, out_dir: Path | str | None = None) -> Report:
    """Build the report and write grades.csv, scores.png and failing_checks.csv."""
    root = Path(course_root).resolve()
    out = Path(out_dir) if out_dir else root / "reports"
    report = build_report(root)
    report.csv_path = write_csv(report, out / "grades.csv")
    report.plot_path = plot(report, out / "scores.png")
    report.checks_path = write_failing_checks(report, out / "failing_checks.csv")
    report.notes_path = write_notes(report, out / "notes.csv")
    return report
