"""The instructor command line: ``python -m grader COMMAND`` (also ``course-grader``).

A term's work, in order:

    release               regenerate lessons/ from solutions/ and build the student bundle (make lessons)
    collect PATH          bring a class's hand-ins (folders or LMS zips) into the course folder
    autograde             grade every new or changed submission in parallel, with progress
    feedback              HTML feedback per student and lesson, without hidden tests
    report                grades.csv, a summary table, score plots, the most failed checks
    similarity            pairs of submissions with alike exercise code, and copies of course_lib
    export                the grades as a Canvas or Moodle CSV (nbgrader export with the LMS plugin)
    validate NOTEBOOK     what a student runs before handing in: exit 1 if any check fails
    demo                  all of the above on a generated sample class (make demo)

The course folder defaults to course/ in this checkout (git-ignored), or
$GRADER_COURSE; it holds the gradebook, submitted/, autograded/, feedback/ and
reports/, and an nbgrader_config.py, so nbgrader's own tools work there too
(formgrader: `cd course && jupyter lab`, then Nbgrader > Formgrader).

Bad input gets one line saying what was expected and what came, and exit
status 2; Ctrl-C stops a run within a second or two (exit status 130), keeping
what was graded.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from .course import DEFAULT_LESSONS, DEFAULT_SOLUTIONS, REPO_ROOT

DEFAULT_COURSE = Path(os.environ.get("GRADER_COURSE", REPO_ROOT / "course"))
#: Exit status after Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (what was wrong, where to read more) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def _count(what: str):
    """An argparse type: a whole number >= 1, else one line saying what came."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < 1:
            raise argparse.ArgumentTypeError(f"expected a whole number of {what} (1 or more), got {text!r}")
        return value
    return parse


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
    if args.no_bundle:
        return 0
    from .bundle import BundleError, build_bundle
    from .course import find_lessons

    try:
        wheel = build_bundle(args.lessons, find_lessons(args.solutions), args.bundle_dir)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"student bundle: {wheel} (hand it out; students run: pip install {wheel.name})")
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
        force=args.force, use_zygote=not args.no_zygote, limits=limits, lessons=args.lessons or None,
        scheduler=args.scheduler, allow_unconfined=args.allow_unconfined,
    )
    if report.interrupted:
        graded = len(report.graded) + len(report.crashed)
        again = f"python -m grader autograde --course {args.course}"
        if Path(args.solutions).resolve() != DEFAULT_SOLUTIONS.resolve():
            again += f" --solutions {args.solutions}"
        again += "".join(f" {name}" for name in args.lessons or [])
        print(f"interrupted: graded {graded} of {report.todo} submissions of this run and kept them "
              f"({report.skipped} were already up to date); run `{again}` to grade the other "
              f"{report.todo - graded}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(format_autograde_report(report))
    if report.unknown:
        print(f"error: {len(report.unknown)} submitted folders are not lessons of this course (listed above): "
              f"rename them to a lesson folder of {args.solutions} or remove them", file=sys.stderr)
    return 1 if report.failures or report.unknown else 0


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
    from .course import CourseError
    from .feedback import generate_feedback
    from .merge import read_state
    from .register import gradebook_path

    course = Path(args.course)
    if not course.is_dir():
        raise CourseError(f"no course folder at {course.resolve()}: check --course "
                          f"(default: $GRADER_COURSE, else course/ in the checkout)")
    if not read_state(gradebook_path(course)):
        raise CourseError(f"nothing graded yet in {course}: run `python -m grader autograde --course {course}` first")
    report = generate_feedback(args.course, force=args.force, jobs=args.jobs)
    print(f"feedback: {len(report.written)} written, {report.unchanged} up to date, "
          f"{len(report.failed)} failed, in {Path(args.course) / 'feedback'}")
    for student, lesson, reason in report.failed:
        print(f"  FAILED {student}/{lesson}: {reason}")
    return 1 if report.failed else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import failing_summary, incomplete_warning, make_report, notes_summary, table

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
    warning = incomplete_warning(report, args.course)
    if warning:
        print(warning, file=sys.stderr)
        return 1
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .course import CourseError, run_nbgrader, write_course_config
    from .export import DEFAULT_NAME
    from .report import build_report, incomplete_warning

    report = build_report(args.course)  # CourseError when there is no course or nothing graded
    dest = (args.to or Path(args.course) / "reports" / DEFAULT_NAME).resolve()
    write_course_config(args.course)  # a course folder of an earlier version selects the plugin too
    proc = run_nbgrader(["export", f"--to={dest}", f"--LmsExportPlugin.lms={args.lms}"], args.course, check=False)
    if proc.returncode != 0 or not dest.is_file():
        tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
        raise CourseError(f"nbgrader export failed (exit {proc.returncode}) in {args.course}: {tail}")
    print(f"wrote {dest}: {len(report.students)} students x {len(report.lessons)} lessons, "
          f"{args.lms} format")
    warning = incomplete_warning(report, args.course)
    if warning:
        print(warning.replace("marked ? above, status in grades.csv", "see `python -m grader report`"),
              file=sys.stderr)
        return 1
    return 0


def _cmd_similarity(args: argparse.Namespace) -> int:
    from .course import CourseError

    try:
        from .similarity import similarity, summary
    except ModuleNotFoundError as exc:
        if exc.name != "copydetect":
            raise
        raise CourseError("grader similarity needs copydetect, which is not installed "
                          "(run `make venv`, or pip install -r requirements.txt)") from None

    report = similarity(args.course, args.solutions, lesson=args.lesson, out=args.out, threshold=args.threshold)
    print(summary(report))
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    from .collect import collect
    from .course import CourseError, find_lessons

    source = Path(args.path)
    if not source.is_dir() and not (source.is_file() and source.suffix.lower() == ".zip"):
        what = "a file that is not a .zip" if source.exists() else "nothing there"
        raise CourseError(f"collect: expected a folder of hand-ins (<student>/<lesson>/<lesson>.ipynb or "
                          f"<student>.zip files) or one .zip at {source}, found {what}; check the path")
    lessons = [lesson.name for lesson in find_lessons(args.solutions)]
    if not lessons:
        raise CourseError(f"collect: no lesson (NN_name/NN_name.ipynb) in {args.solutions}; check --solutions")
    report = collect(source, args.course, lessons)
    print(report.summary())
    print(f"submissions are in {Path(args.course) / 'submitted'}")
    if report.problems:
        print(f"error: {len(report.problems)} hand-ins were not placed (NOT PLACED above): fix or remove them "
              f"and run collect again (placed ones are kept)", file=sys.stderr)
        return 1
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
                      every_lesson=args.every_lesson, clean=args.clean)
    return 1 if result.mismatches or result.similarity_mismatches else 0


def _course_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--course", type=Path, default=DEFAULT_COURSE,
                   help="course directory (default: $GRADER_COURSE or %(default)s)")
    p.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS,
                   help="source notebooks (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m grader", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("release", help="regenerate lessons/ (nbgrader generate_assignment) and the student bundle")
    p.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS, help="source notebooks (default: %(default)s)")
    p.add_argument("--lessons", type=Path, default=DEFAULT_LESSONS, help="released notebooks (default: %(default)s)")
    p.add_argument("--bundle-dir", type=Path, default=REPO_ROOT / "dist",
                   help="where the student bundle (a wheel) goes (default: %(default)s)")
    p.add_argument("--no-bundle", action="store_true", help="only regenerate lessons/, no student bundle")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("validate", help="grade one notebook as autograde would; exit 1 if any check fails")
    p.add_argument("notebook", type=Path)
    p.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS, help="source notebooks (default: %(default)s)")
    p.add_argument("--timeout", type=_count("seconds"), default=None, help="seconds per cell (default: the course's)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("collect", help="copy a folder of submissions (student folders or zips) into the course")
    p.add_argument("path", type=Path, help="folder of <student_id>/<lesson>/<lesson>.ipynb and/or <student_id>.zip")
    _course_args(p)
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser("autograde", help="grade every new or changed submission, in parallel")
    p.add_argument("lessons", nargs="*", metavar="LESSON",
                   help="grade only these lessons (folder names such as 01_scalar_backprop; default: all)")
    _course_args(p)
    p.add_argument("--jobs", "-j", type=_count("workers"), default=None,
                   help="parallel workers (default: number of cores)")
    p.add_argument("--timeout", type=_count("seconds"), default=None,
                   help="seconds per cell (default: from nbgrader_config.py)")
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
    p.add_argument("--jobs", "-j", type=_count("processes"), default=None,
                   help="parallel processes (default: number of cores)")
    p.set_defaults(func=_cmd_feedback)

    p = sub.add_parser("report", help="grades.csv, summary table, score plot, most failed checks")
    _course_args(p)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: COURSE/reports)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("similarity", help="HTML and CSV report of alike exercise code (pairs, and course_lib)")
    _course_args(p)
    p.add_argument("--lesson", default=None, help="one lesson folder name (default: every lesson)")
    p.add_argument("--out", type=Path, default=None, help="HTML report (default: COURSE/reports/similarity.html)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="flag a pair when one side has this share of its code in matches (default: %(default)s)")
    p.set_defaults(func=_cmd_similarity)
    p = sub.add_parser("export", help="the grades as a Canvas or Moodle CSV: one row per student, one column "
                                      "per lesson plus the total")
    _course_args(p)
    p.add_argument("--to", type=Path, default=None, help="output file (default: COURSE/reports/lms_grades.csv)")
    p.add_argument("--lms", choices=("canvas", "moodle"), default="canvas",
                   help="import format (default: %(default)s)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("mutants", help="mutation testing: do the checks fail every mutant of each solution?")
    p.add_argument("lessons", nargs="*", help="lesson folder names (default: every lesson)")
    p.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS, help="source notebooks (default: %(default)s)")
    p.add_argument("--seeds", type=int, default=2, help="grading seeds per mutant (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="at most this many mutants per exercise")
    p.add_argument("--show", choices=("survived", "equivalent", "all"), default="survived",
                   help="which mutants to list under the table (default: %(default)s)")
    p.add_argument("--jobs", "-j", type=_count("processes"), default=None,
                   help="mutants graded at once (default: number of cores)")
    p.add_argument("--goal", type=float, default=95.0, help="exit 1 when an exercise scores below this %% (default: 95)")
    p.set_defaults(func=_cmd_mutants)

    p = sub.add_parser("demo", help="build and grade the sample class (make demo)")
    p.add_argument("--dir", type=Path, default=None,
                   help="the demo's folder (default: ./grader-demo; an earlier demo there is replaced)")
    p.add_argument("--clean", action="store_true", help="remove the demo's folder at the end")
    p.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS, help="source notebooks (default: %(default)s)")
    p.add_argument("--jobs", "-j", type=_count("workers"), default=None,
                   help="parallel workers (default: number of cores)")
    p.add_argument("--students", type=_count("students"), default=24, help="class size (default: %(default)s)")
    p.add_argument("--every-lesson", action="store_true",
                   help="every student hands in every lesson, no planted copies (default: the first all, the others "
                        "two or three each, plus two planted copies per lesson)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m grader`` and the ``course-grader`` script."""
    # jsonschema builds an RFC 3987 grammar at import (~1.5 s per process) for a
    # format check nbformat never uses: skip it in the grader's own processes.
    sys.modules.setdefault("rfc3987_syntax", None)
    from .course import CourseError

    quiet_library_warnings()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PermissionError as exc:
        import getpass

        where = exc.filename or "a file"
        print(f"error: permission denied on {where} (running as {getpass.getuser()}): expected to read and write "
              f"the course and the checkout; run as root or as their owner (a root grading run closes solutions/ "
              f"and .git to other users with chmod o-rwx: see grader/SANDBOX.md)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {args.command} stopped before it finished; run it again to finish "
              f"(what it completed is kept)", file=sys.stderr)
        return EXIT_INTERRUPTED


#: Libraries whose warnings are about their own internals, never something an instructor or student can act on.
_LIBRARIES = ("nbgrader", "sqlalchemy", "traitlets", "nbconvert", "nbformat", "nbclient", "jupyter_client",
              "jupyter_core", "zmq", "ipykernel", "alembic", "bleach", "matplotlib", "jsonschema")


def quiet_library_warnings() -> None:
    """Keep the libraries' warnings (SQLAlchemy's autoflush notes from nbgrader, deprecations...) off the terminal.

    ``PYTHONWARNINGS`` (e.g. ``PYTHONWARNINGS=default``) still shows them, for debugging.
    """
    if os.environ.get("PYTHONWARNINGS"):
        return
    pattern = "(" + "|".join(_LIBRARIES) + r")(\.|$)"
    warnings.filterwarnings("ignore", module=pattern)
