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


def _config_dir(level: str) -> Path:
    """The Jupyter configuration folder of ``level``: ``user``, ``sys_prefix`` or ``system``."""
    from jupyter_core.paths import ENV_CONFIG_PATH, SYSTEM_CONFIG_PATH, jupyter_config_dir

    return Path({"user": jupyter_config_dir(), "sys_prefix": ENV_CONFIG_PATH[0], "system": SYSTEM_CONFIG_PATH[0]}[level])


def server_extension_config(level: str) -> Path:
    """Write which server extensions run into ``jupyter_server_config.json`` of ``level``; return that file.

    Ours on, nbgrader's instructor ones off.  The main config file, not a ``jupyter_server_config.d``
    file: Jupyter takes ``ServerApp.jpserver_extensions`` from the main files over every ``.d`` file, so
    nbgrader's own ``jupyter_server_config.d/nbgrader.json`` (which enables them all) cannot win.
    """
    import json

    from .server_extension import EXTENSION

    path = _config_dir(level) / "jupyter_server_config.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() and path.stat().st_size else {}
    extensions = config.setdefault("ServerApp", {}).setdefault("jpserver_extensions", {})
    extensions[EXTENSION] = True
    extensions.update({name: False for name in NBGRADER_INSTRUCTOR_SERVER})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def _cmd_hub_setup(args: argparse.Namespace) -> int:
    """Configure the JupyterLab of this Python for students (a shared JupyterHub environment).

    Enables :mod:`grader.student_kit.server_extension` (Validate runs the course's checks), and
    disables nbgrader's instructor server extensions and disables and locks its instructor plugins.
    Without nbgrader installed this is harmless (a plugin that is not there stays absent).
    """
    from jupyterlab.commands import disable_extension, lock_extension

    from .server_extension import EXTENSION

    written = server_extension_config(args.level)
    print(f"enabled  server extension {EXTENSION} (Validate runs the course's visible checks)")
    print(f"disabled server extensions {', '.join(NBGRADER_INSTRUCTOR_SERVER)}")
    print(f"         in {written}")
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
