"""The instructor command line: ``python -m grader COMMAND`` (also ``course-grader``).

A term's work, in order:

    release               regenerate lessons/ from solutions/ (make lessons)
    collect PATH          bring a class's hand-ins (folders or LMS zips) into the course folder
    autograde             grade every new or changed submission in parallel, with progress
    feedback              HTML feedback per student and lesson, without hidden tests
    report                grades.csv, a summary table, score plots, the most failed checks
    validate NOTEBOOK     what a student runs before handing in: exit 1 if any check fails
    demo                  all of the above on a generated sample class (make demo)

The course folder defaults to ./course (or $GRADER_COURSE); it holds the
gradebook, submitted/, autograded/, feedback/ and reports/.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .course import DEFAULT_LESSONS, DEFAULT_SOLUTIONS, REPO_ROOT

DEFAULT_COURSE = Path(os.environ.get("GRADER_COURSE", REPO_ROOT / "course"))


def _cmd_release(args: argparse.Namespace) -> int:
    from .release import ReleaseError, release

    try:
        result = release(args.solutions, args.lessons)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for rel in result.written:
        print(f"wrote    {Path(args.lessons) / rel}")
    for rel in result.removed:
        print(f"removed  {Path(args.lessons) / rel}")
    print(f"{len(result.written)} written, {len(result.unchanged)} unchanged, {len(result.removed)} removed")
    return 0


def _cmd_autograde(args: argparse.Namespace) -> int:
    from ..sandbox import Limits
    from .autograde import autograde, format_autograde_report
    from .course import CourseError

    values = {}
    for item in args.limit or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise CourseError(f"--limit expects NAME=VALUE (e.g. memory=2G, notebook_timeout=10m), got {item!r}")
        values[key.strip()] = value.strip()
    try:
        limits = Limits.from_strings(values, Limits.from_env())
    except ValueError as exc:
        raise CourseError(f"--limit: {exc}") from None
    report = autograde(
        args.course, args.solutions, jobs=args.jobs, timeout=args.timeout,
        force=args.force, use_zygote=not args.no_zygote, limits=limits,
        scheduler=args.scheduler, allow_unconfined=args.allow_unconfined,
    )
    print(format_autograde_report(report))
    return 1 if report.failures else 0


def _cmd_mutants(args: argparse.Namespace) -> int:
    from ..checks import mutants
    from .course import CourseError, find_lessons

    lessons = {lesson.name: lesson for lesson in find_lessons(args.solutions)}
    names = args.lessons or sorted(lessons)
    unknown = [n for n in names if n not in lessons]
    if unknown:
        raise CourseError(f"unknown lesson {', '.join(unknown)} (lessons: {', '.join(sorted(lessons))})")
    rows, below = [], []
    for name in names:
        results = mutants.run_lesson(lessons[name].folder, seeds=args.seeds, limit=args.limit, jobs=args.jobs)
        rows += mutants.table(name, results)
        for r in results:
            if 100 * r.score < args.goal:
                below.append(f"{name}/{r.exercise}")
            for m in r.mutants:
                if args.show == "all" or m.status == args.show:
                    print(f"  {m.status.upper():10s} {name}/{m.exercise} {m.operator}: {m.description}"
                          + (f" ({m.detail})" if m.detail and m.status != "killed" else ""))
    headers = ["lesson", "exercise", "mutants", "equivalent", "invalid", "killed", "survived", "score"]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    for row in [headers, *rows]:
        print("  ".join(str(x).rjust(w) if i >= 2 else str(x).ljust(w) for i, (x, w) in enumerate(zip(row, widths))))
    if below:
        print(f"below the goal of {args.goal:g}%: {', '.join(below)}")
        return 1
    return 0


def _cmd_feedback(args: argparse.Namespace) -> int:
    from .feedback import generate_feedback

    report = generate_feedback(args.course, force=args.force, jobs=args.jobs)
    print(f"feedback: {len(report.written)} written, {report.unchanged} up to date, "
          f"{len(report.failed)} failed, in {Path(args.course) / 'feedback'}")
    for student, lesson, reason in report.failed:
        print(f"  FAILED {student}/{lesson}: {reason}")
    return 1 if report.failed else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import failing_summary, make_report, notes_summary, table

    report = make_report(args.course, args.out)
    print(table(report))
    print()
    print(failing_summary(report))
    print(notes_summary(report))
    print()
    print(f"grades:          {report.csv_path}")
    print(f"score plot:      {report.plot_path}")
    print(f"failed checks:   {report.checks_path}")
    print(f"grader notes:    {report.notes_path}")
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    from .collect import collect
    from .course import find_lessons

    lessons = [lesson.name for lesson in find_lessons(args.solutions)]
    report = collect(args.path, args.course, lessons)
    print(report.summary())
    print(f"submissions are in {Path(args.course) / 'submitted'}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .course import CourseError
    from .validate import validate

    try:
        verdict = validate(args.notebook, args.solutions, timeout=args.timeout)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(verdict.render())
    return 0 if verdict.ok else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    result = run_demo(args.dir, args.solutions, jobs=args.jobs, students=args.students,
                      every_lesson=args.every_lesson)
    return 1 if result.mismatches else 0


def _course_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--course", type=Path, default=DEFAULT_COURSE,
                   help="course directory (default: $GRADER_COURSE or %(default)s)")
    p.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS,
                   help="source notebooks (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grader", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("release", help="regenerate lessons/ from solutions/ (nbgrader generate_assignment)")
    p.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS, help="source notebooks (default: %(default)s)")
    p.add_argument("--lessons", type=Path, default=DEFAULT_LESSONS, help="released notebooks (default: %(default)s)")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("validate", help="grade one notebook as autograde would; exit 1 if any check fails")
    p.add_argument("notebook", type=Path)
    p.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS, help="source notebooks (default: %(default)s)")
    p.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: the course's)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("collect", help="copy a folder of submissions (student folders or zips) into the course")
    p.add_argument("path", type=Path, help="folder of <student_id>/<lesson>/<lesson>.ipynb and/or <student_id>.zip")
    _course_args(p)
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser("autograde", help="grade every new or changed submission, in parallel")
    _course_args(p)
    p.add_argument("--jobs", "-j", type=int, default=None, help="parallel workers (default: number of cores)")
    p.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: from nbgrader_config.py)")
    p.add_argument("--force", action="store_true", help="regrade every submission")
    p.add_argument("--no-zygote", action="store_true",
                   help="start a plain kernel per notebook (slower, and NOT sandboxed: for debugging only)")
    p.add_argument("--limit", action="append", metavar="NAME=VALUE",
                   help="a kernel limit, repeatable: memory=4G, cpu_seconds=10m, max_processes=128, "
                        "max_file_bytes=256M, open_files=1024, notebook_timeout=10m, cell_timeout=60 "
                        "(default: GRADER_LIMIT_* or the built-in defaults; 'unlimited' turns one off)")
    p.add_argument("--scheduler", default=os.environ.get("GRADER_SCHEDULER") or None, metavar="ADDRESS",
                   help="grade on a Dask cluster: the scheduler's address (tcp://host:8786), its scheduler "
                        "file (*.json), or 'auto' for Dask's scheduler-address setting "
                        "(default: $GRADER_SCHEDULER, else grade on this machine)")
    p.add_argument("--allow-unconfined", action="store_true",
                   help="with --scheduler: let Dask workers that are not root grade without the sandbox")
    p.set_defaults(func=_cmd_autograde)

    p = sub.add_parser("feedback", help="HTML feedback per student and lesson (hidden tests removed)")
    _course_args(p)
    p.add_argument("--force", action="store_true", help="rewrite every feedback file")
    p.add_argument("--jobs", "-j", type=int, default=None, help="parallel processes (default: number of cores)")
    p.set_defaults(func=_cmd_feedback)

    p = sub.add_parser("report", help="grades.csv, summary table, score plot, most failed checks")
    _course_args(p)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: COURSE/reports)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("mutants", help="mutation testing: do the checks fail every mutant of each solution?")
    p.add_argument("lessons", nargs="*", help="lesson folder names (default: every lesson)")
    p.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS, help="source notebooks (default: %(default)s)")
    p.add_argument("--seeds", type=int, default=2, help="grading seeds per mutant (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="at most this many mutants per exercise")
    p.add_argument("--show", choices=("survived", "equivalent", "all"), default="survived",
                   help="which mutants to list under the table (default: %(default)s)")
    p.add_argument("--jobs", "-j", type=int, default=None, help="mutants graded at once (default: number of cores)")
    p.add_argument("--goal", type=float, default=95.0, help="exit 1 when an exercise scores below this %% (default: 95)")
    p.set_defaults(func=_cmd_mutants)

    p = sub.add_parser("demo", help="build and grade the sample class (make demo)")
    p.add_argument("--dir", type=Path, default=None, help="work folder (default: a new temporary folder)")
    p.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS, help="source notebooks (default: %(default)s)")
    p.add_argument("--jobs", "-j", type=int, default=None, help="parallel workers (default: number of cores)")
    p.add_argument("--students", type=int, default=24, help="class size (default: %(default)s)")
    p.add_argument("--every-lesson", action="store_true",
                   help="every student hands in every lesson (default: the first all, the others two each)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m grader`` and the ``course-grader`` script."""
    # jsonschema builds an RFC 3987 grammar at import (~1.5 s per process) for a
    # format check nbformat never uses: skip it in the grader's own processes.
    sys.modules.setdefault("rfc3987_syntax", None)
    from .course import CourseError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
