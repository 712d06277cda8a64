"""``backprop-course`` (or ``python -m grader.student_kit``): the student's command line.

    lessons [FOLDER]     copy the released lessons into FOLDER (default ./backprop-lessons)
    validate NOTEBOOK    run the visible checks of a lesson notebook; exit 1 if any fails
    hub-setup            for a shared JupyterHub with nbgrader: Validate runs these checks,
                         nbgrader's instructor panels are hidden
"""
from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from .check import DEFAULT_TIMEOUT, ValidationError, lessons_dir, released_lessons, validate_notebook


def _cmd_lessons(args: argparse.Namespace) -> int:
    lessons = released_lessons()
    if not lessons:
        print(f"error: no lessons in {lessons_dir()}: reinstall the bundle", file=sys.stderr)
        return 2
    target = Path(args.folder)
    clashes = [name for name in lessons if (target / name).exists()]
    if clashes and not args.force:
        print(f"error: {target} already holds {clashes}: expected a new folder, or pass --force to "
              "overwrite them (your work in them is lost)", file=sys.stderr)
        return 2
    for name, notebook in lessons.items():
        shutil.copytree(notebook.parent, target / name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        print(f"copied   {target / name / notebook.name}")
    print(f"start JupyterLab there: jupyter lab {target}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    try:
        verdict = validate_notebook(args.notebook, timeout=args.timeout)
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(verdict.render())
    return 0 if verdict.ok else 1


#: nbgrader's JupyterLab plugins students must not see: the instructor's panels and its menu.
#: Its Validate button (``@jupyter/nbgrader:validate-assignment``) stays: the server extension answers it.
NBGRADER_INSTRUCTOR_PLUGINS = ("@jupyter/nbgrader:menu", "@jupyter/nbgrader:create-assignment",
                               "@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list",
                               "@jupyter/nbgrader:assignment-list")
#: nbgrader's server extensions behind those panels.
NBGRADER_INSTRUCTOR_SERVER = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list",
                              "nbgrader.server_extensions.assignment_list")


def _cmd_hub_setup(args: argparse.Namespace) -> int:
    """Configure the JupyterLab of this Python for students (a shared JupyterHub environment).

    Enables :mod:`grader.student_kit.server_extension` (Validate runs the course's checks), and
    disables and locks nbgrader's instructor plugins and server extensions.  Without nbgrader
    installed the disabling is harmless (a plugin that is not there stays absent).
    """
    from jupyter_server.extension.serverextension import toggle_server_extension_python
    from jupyterlab.commands import disable_extension, lock_extension

    from .server_extension import EXTENSION

    user, sys_prefix = args.level == "user", args.level == "sys_prefix"
    toggle_server_extension_python(EXTENSION, enabled=True, user=user, sys_prefix=sys_prefix)
    print(f"enabled  server extension {EXTENSION} (Validate runs the course's visible checks)")
    for name in NBGRADER_INSTRUCTOR_SERVER:
        toggle_server_extension_python(name, enabled=False, user=user, sys_prefix=sys_prefix)
        print(f"disabled server extension {name}")
    for plugin in NBGRADER_INSTRUCTOR_PLUGINS:
        # locked too: since JupyterLab 4.1 a student could re-enable a merely disabled plugin
        disable_extension(plugin, level=args.level)
        lock_extension(plugin, level=args.level)
        print(f"disabled and locked JupyterLab plugin {plugin}")
    print(f"done ({args.level} level); restart the Jupyter servers")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backprop-course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("lessons", help="copy the released lessons into a folder of your own")
    p.add_argument("folder", nargs="?", default="backprop-lessons", help="where to put them (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="overwrite lesson folders that already exist")
    p.set_defaults(func=_cmd_lessons)
    p = sub.add_parser("validate", help="run a notebook's visible checks; exit 1 if any fails")
    p.add_argument("notebook", type=Path)
    p.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per cell (default: %(default)s)")
    p.set_defaults(func=_cmd_validate)
    p = sub.add_parser("hub-setup", help="for a shared JupyterHub with nbgrader: Validate runs these checks, "
                                         "nbgrader's instructor panels are hidden")
    p.add_argument("--level", choices=("sys_prefix", "user", "system"), default="sys_prefix",
                   help="which Jupyter configuration to write: this Python's environment (default), the user's "
                        "(JUPYTER_CONFIG_DIR) or the machine's")
    p.set_defaults(func=_cmd_hub_setup)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``backprop-course`` and ``python -m grader.student_kit``."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
