"""The instructor command line: ``python -m grader SUBCOMMAND`` (also ``course-grader``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .course import DEFAULT_LESSONS, DEFAULT_SOLUTIONS


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("release", help="regenerate lessons/ from solutions/ (nbgrader generate_assignment)")
    p.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS, help="source notebooks (default: %(default)s)")
    p.add_argument("--lessons", type=Path, default=DEFAULT_LESSONS, help="released notebooks (default: %(default)s)")
    p.set_defaults(func=_cmd_release)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m grader`` and the ``course-grader`` script."""
    args = build_parser().parse_args(argv)
    return args.func(args)
