"""``grader demo`` (``make demo``): grade a sample class end to end.

Builds the sample class of ``grader.pipeline.sample_class`` from the solutions into a
temporary folder, then runs the instructor pipeline on it exactly as an
instructor would: collect, autograde (parallel, with progress), feedback,
report.  Prints the gradebook, where the feedback and the plot are, and
whether every student got the score the class definition says they must.
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .autograde import AutogradeReport, autograde, format_autograde_report
from .collect import CollectReport, collect
from .course import DEFAULT_SOLUTIONS, CourseError, find_lessons
from .feedback import FeedbackReport, generate_feedback
from .gradebook import read_grades, total
from .register import register
from .report import Report, failing_summary, make_report, table
from .sample_class import (
    NAMES,
    describe,
    expected_scores,
    load_lesson,
    plan_class,
    write_expected,
    write_inbox,
)


@dataclass
class DemoResult:
    """Everything the demo produced."""

    root: Path
    course: Path
    expected: dict[tuple[str, str], float]
    actual: dict[tuple[str, str], float] = field(default_factory=dict)
    collected: CollectReport | None = None
    graded: AutogradeReport | None = None
    feedback: FeedbackReport | None = None
    report: Report | None = None

    @property
    def mismatches(self) -> list[str]:
        out = []
        for key in sorted(set(self.expected) | set(self.actual)):
            want, got = self.expected.get(key), self.actual.get(key)
            if want is None or got is None or abs(want - got) > 1e-9:
                out.append(f"{key[0]}/{key[1]}: expected {want}, got {got}")
        return out


def run_demo(
    workdir: Path | str | None = None,
    solutions_dir: Path | str = DEFAULT_SOLUTIONS,
    jobs: int | None = None,
    students: int = len(NAMES),
    every_lesson: bool = False,
    out: TextIO | None = None,
    progress_tty: bool | None = None,
) -> DemoResult:
    """Build the sample class in ``workdir`` (a new temporary folder by default) and grade it.

    ``every_lesson``: every student hands in every lesson (default: two each).
    """
    out = out if out is not None else sys.stdout
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="backprop-demo-"))
    course = root / "course"
    say = lambda text="": print(text, file=out, flush=True)  # noqa: E731

    lessons = find_lessons(solutions_dir)
    if not lessons:
        raise CourseError(f"no lesson in {solutions_dir}: nothing to demo")
    say(f"Sample class in {root}")
    t0 = time.monotonic()
    register(course, solutions_dir)
    data = {
        lesson.name: load_lesson(lesson, course / "lessons" / lesson.name / f"{lesson.name}.ipynb")
        for lesson in lessons
    }
    plan = plan_class(list(data.values()), students, every_lesson)
    expected = expected_scores(plan, data)
    write_inbox(root / "inbox", plan, data)
    write_expected(root / "expected_scores.json", plan, data)
    result = DemoResult(root, course, expected)
    say(f"  {students} students x {len(lessons)} lessons: {describe(plan)}")
    say(f"  hand-ins (folders and LMS zips): {root / 'inbox'}   [{time.monotonic() - t0:.0f} s]")

    say("\n1/4 collect")
    result.collected = collect(root / "inbox", course, list(data))
    say(result.collected.summary())

    say("\n2/4 autograde")
    result.graded = autograde(course, solutions_dir, jobs=jobs, progress_stream=sys.stderr,
                              progress_tty=progress_tty)

    say(format_autograde_report(result.graded))

    say("\n3/4 feedback")
    result.feedback = generate_feedback(course)
    say(f"  {len(result.feedback.written)} feedback files written, {len(result.feedback.failed)} failed")

    say("\n4/4 report")
    result.report = make_report(course)
    say(table(result.report))
    say()
    say(failing_summary(result.report))

    result.actual = {key: total(cells)[0] for key, cells in read_grades(course / "gradebook.db").items()}
    say()
    if result.mismatches:
        say(f"MISMATCH: {len(result.mismatches)} submissions did not get their expected score:")
        for line in result.mismatches:
            say(f"  {line}")
    else:
        say(f"All {len(expected)} submissions got exactly their expected score "
            f"(see {root / 'expected_scores.json'}).")
    example = next((p for p in sorted((course / "feedback").rglob("*.html"))), None)
    say(f"gradebook:   {course / 'gradebook.db'}")
    say(f"grades:      {result.report.csv_path}")
    say(f"score plot:  {result.report.plot_path}")
    say(f"feedback:    {course / 'feedback'}" + (f"  (e.g. {example})" if example else ""))
    say(f"total time:  {time.monotonic() - t0:.0f} s")
    return result
