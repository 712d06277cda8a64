"""``grader demo`` (``make demo``): grade a sample class end to end.

Builds the sample class of ``grader.pipeline.sample_class`` from the solutions into a
folder it names first (``./grader-demo`` by default; ``--dir`` to choose, and
``--clean`` to remove it at the end), then runs the instructor pipeline on it
exactly as an instructor would: collect, autograde (parallel, with progress),
feedback, report, similarity.  Prints the gradebook, where the feedback and the
plot are, whether every student got the score the class definition says they
must, and which pairs ``grader similarity`` flagged: the class's planted copies
must be, and no honest pair (its students answer in different styles).

Run as root, grading is sandboxed, and that changes the machine (grading
users, permissions on ``solutions/`` and ``.git``): the demo says what, before
it starts (:func:`grader.pipeline.autograde.planned_machine_changes`).
"""
from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .autograde import AutogradeReport, autograde, default_jobs, format_autograde_report, planned_machine_changes
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
    planted_pairs,
    write_expected,
    write_inbox,
)
from .similarity import SimilarityReport, similarity
from .similarity import summary as similarity_summary


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
    similarity: SimilarityReport | None = None
    planted: dict[str, set[frozenset[str]]] = field(default_factory=dict)  # lesson -> copied pairs

    @property
    def similarity_mismatches(self) -> list[str]:
        """Planted copies not flagged, and honest pairs flagged (student pairs; course_lib pastes aside).

        Empty for a class without planted copies (``every_lesson``), whose honest pairs may share styles.
        """
        if self.similarity is None or not self.planted:
            return []
        flagged = {(m.lesson, frozenset((m.first, m.second))) for m in self.similarity.flagged if m.kind == "students"}
        planted = {(lesson, pair) for lesson, pairs in self.planted.items() for pair in pairs}
        return ([f"{lesson}: planted copy {' ~ '.join(sorted(pair))} not flagged" for lesson, pair in sorted(
                    planted - flagged, key=str)]
                + [f"{lesson}: honest pair {' ~ '.join(sorted(pair))} flagged" for lesson, pair in sorted(
                    flagged - planted, key=str)])

    @property
    def mismatches(self) -> list[str]:
        out = []
        for key in sorted(set(self.expected) | set(self.actual)):
            want, got = self.expected.get(key), self.actual.get(key)
            if want is None or got is None or abs(want - got) > 1e-9:
                out.append(f"{key[0]}/{key[1]}: expected {want}, got {got}")
        return out


DEFAULT_DIR = "grader-demo"
#: A file in a demo folder: a later demo may replace the folder, nothing else may be removed.
MARKER = ".grader-demo"


def prepare_folder(workdir: Path | str | None) -> Path:
    """The demo's folder (``./grader-demo`` by default), empty; an earlier demo there is replaced.

    A folder that exists, is not empty and is not an earlier demo raises ``CourseError``: the demo never
    deletes what it did not write.
    """
    root = Path(workdir) if workdir else Path.cwd() / DEFAULT_DIR
    root = root.resolve()
    if root.exists():
        if not root.is_dir():
            raise CourseError(f"demo folder {root} is a file: choose another --dir")
        if any(root.iterdir()):
            if not (root / MARKER).is_file():
                raise CourseError(f"demo folder {root} exists, is not empty and was not made by the demo: "
                                  f"choose another --dir (or remove it)")
            shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("made by `python -m grader demo`; the next demo run replaces this folder\n")
    return root


def run_demo(
    workdir: Path | str | None = None,
    solutions_dir: Path | str = DEFAULT_SOLUTIONS,
    jobs: int | None = None,
    students: int = len(NAMES),
    every_lesson: bool = False,
    out: TextIO | None = None,
    progress_tty: bool | None = None,
    clean: bool = False,
) -> DemoResult:
    """Build the sample class in ``workdir`` (``./grader-demo`` by default) and grade it.

    ``every_lesson``: every student hands in every lesson (default: two each).
    ``clean``: remove the folder at the end (the result's paths are then gone).
    """
    out = out if out is not None else sys.stdout
    say = lambda text="": print(text, file=out, flush=True)  # noqa: E731

    lessons = find_lessons(solutions_dir)
    if not lessons:
        raise CourseError(f"no lesson in {solutions_dir}: nothing to demo")
    root = prepare_folder(workdir)
    course = root / "course"
    say(f"The demo writes everything to {root} "
        + ("and removes it at the end (--clean)" if clean else "(delete it when done, or run with --clean)"))
    changes = planned_machine_changes(course, solutions_dir, jobs or default_jobs())
    if changes:
        say("Running as root, grading is sandboxed (grader/SANDBOX.md), which changes this machine:")
        for line in changes:
            say(f"  - {line}")
    else:
        say("Not running as root: kernels run as you, without the sandbox; nothing outside the demo folder "
            "changes (grade a real class as root, see grader/SANDBOX.md)")
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
    result = DemoResult(root, course, expected, planted=planted_pairs(plan))
    say(f"  {class_summary(plan, students, len(lessons))}")
    say(f"  hand-ins (folders and LMS zips): {root / 'inbox'}   [{time.monotonic() - t0:.0f} s]")

    say("\n1/5 collect")
    result.collected = collect(root / "inbox", course, list(data))
    say(result.collected.summary())

    say("\n2/5 autograde")
    result.graded = autograde(course, solutions_dir, jobs=jobs, progress_stream=sys.stderr,
                              progress_tty=progress_tty)

    say(format_autograde_report(result.graded))

    say("\n3/5 feedback")
    result.feedback = generate_feedback(course)
    say(f"  {len(result.feedback.written)} feedback files written, {len(result.feedback.failed)} failed")

    say("\n4/5 report")
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

    say("\n5/5 similarity (grader similarity)")
    result.similarity = similarity(course, solutions_dir)
    say(similarity_summary(result.similarity))
    n_planted = sum(len(pairs) for pairs in result.planted.values())
    if not result.planted:
        say("(this class has no planted copies, and more students per lesson than answer styles: honest pairs "
            "may look alike)")
    elif result.similarity_mismatches:
        say(f"SIMILARITY MISMATCH: {len(result.similarity_mismatches)}:")
        for line in result.similarity_mismatches:
            say(f"  {line}")
    else:
        say(f"All {n_planted} planted copies flagged, and no honest pair (see the plan in "
            f"{root / 'expected_scores.json'}: kinds copied and copied_exercise).")
    say()
    example = next((p for p in sorted((course / "feedback").rglob("*.html"))), None)
    say(f"gradebook:   {course / 'gradebook.db'}")
    say(f"grades:      {result.report.csv_path}")
    say(f"score plot:  {result.report.plot_path}")
    say(f"similarity:  {result.similarity.html_path}")
    say(f"feedback:    {course / 'feedback'}" + (f"  (e.g. {example})" if example else ""))
    say(f"total time:  {time.monotonic() - t0:.0f} s")
    if clean:
        shutil.rmtree(root, ignore_errors=True)
        say(f"removed {root} (--clean)")
    else:
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        say(f"demo folder: {root} ({size / 1e6:.1f} MB; delete it when done)")
    return result


def class_summary(plan: list, students: int, lessons: int) -> str:
    """``24 students, 70 submissions of 7 lessons: 17 complete, ..., 7 copied, 7 copied_exercise; 4 not handed in``."""
    handed_in = [p for p in plan if p.kind != "missing"]
    missing = len(plan) - len(handed_in)
    return (f"{students} students, {len(handed_in)} submissions of {lessons} lessons: {describe(handed_in)}"
            + (f"; {missing} not handed in" if missing else ""))
