"""Course directories: where the lessons are, and how nbgrader is run on them.

The repository's ``solutions/NN_name/NN_name.ipynb`` are the nbgrader source
notebooks.  Every nbgrader run of the instructor tools happens in a *course
directory* outside the repository's tracked files: a folder with its own
``nbgrader_config.py`` (which executes ``grader/pipeline/nbgrader_config.py`` and sets
``CourseDirectory.root`` to the folder), a copy of the solutions, and the
gradebook.  That keeps ``gradebook.db`` out of the working tree.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
GRADER_DIR = REPO_ROOT / "grader"
GRADER_CONFIG = Path(__file__).resolve().with_name("nbgrader_config.py")
DEFAULT_SOLUTIONS = REPO_ROOT / "solutions"
DEFAULT_LESSONS = REPO_ROOT / "lessons"

#: A lesson folder is ``NN_name``: two digits, an underscore, a lower-case name.
LESSON_RE = re.compile(r"^\d\d_[a-z0-9][a-z0-9_]*$")
#: Files of a lesson folder that never leave the instructor's side (nbgrader's
#: CourseDirectory.ignore lists them too, so they are never released or copied
#: next to a submission).
PRIVATE_FILES = ("bugs.json", "references.json", "mutants.json")
#: Folders and files that are never copied anywhere.
JUNK = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc", ".DS_Store")

#: Environment for everything that executes notebooks: one BLAS/OpenMP thread
#: per process (the grader runs one kernel per core), a non-interactive
#: matplotlib backend, no bytecode litter in the course folders.
QUIET_THREADS = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "PYTHONDONTWRITEBYTECODE": "1",
}


class CourseError(RuntimeError):
    """A course folder or lesson is not laid out as expected."""


@dataclass(frozen=True)
class Lesson:
    """One nbgrader assignment: ``<solutions>/<name>/<name>.ipynb``."""

    name: str
    folder: Path

    @property
    def notebook(self) -> Path:
        """The source (solution) notebook."""
        return self.folder / f"{self.name}.ipynb"

    @property
    def bugs_file(self) -> Path:
        """The planted-bug list (may not exist)."""
        return self.folder / "bugs.json"

    def load_bugs(self) -> list[dict]:
        """The entries of ``bugs.json`` (an empty list when there is none)."""
        if not self.bugs_file.exists():
            return []
        data = json.loads(self.bugs_file.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise CourseError(
                f"{self.bugs_file}: expected a JSON list of bug objects, got {type(data).__name__}"
            )
        return data


def find_lessons(solutions_dir: Path | str = DEFAULT_SOLUTIONS) -> list[Lesson]:
    """All lessons in ``solutions_dir``, sorted by name.

    A lesson is a folder named ``NN_name`` holding ``NN_name.ipynb``.  Folders
    that look like lessons but lack that notebook raise ``CourseError``;
    anything else (README files, hidden folders) is ignored.
    """
    root = Path(solutions_dir)
    if not root.is_dir():
        return []
    lessons = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if not LESSON_RE.match(folder.name):
            continue
        lesson = Lesson(folder.name, folder)
        if not lesson.notebook.is_file():
            found = sorted(p.name for p in folder.glob("*.ipynb"))
            raise CourseError(
                f"lesson folder {folder} must hold {lesson.notebook.name}; found {found or 'no notebook'}"
            )
        lessons.append(lesson)
    return lessons


def write_course_config(course_root: Path | str) -> Path:
    """Write ``nbgrader_config.py`` into ``course_root``: the course config, rooted there."""
    root = Path(course_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    path = root / "nbgrader_config.py"
    path.write_text(
        "# Written by grader.pipeline.course: the course configuration, rooted in this folder\n"
        "# (wherever the folder is copied or moved).\n"
        "import os\n"
        f"_course_config = {str(GRADER_CONFIG)!r}\n"
        "with open(_course_config) as _f:\n"
        "    exec(compile(_f.read(), _course_config, 'exec'),"
        " {'c': c, 'get_config': get_config, '__file__': _course_config})\n"
        "c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))\n"
        "# `nbgrader export` here writes the LMS CSV (grader.pipeline.export; --LmsExportPlugin.lms=moodle)\n"
        "import sys\n"
        f"if {str(REPO_ROOT)!r} not in sys.path:\n"
        f"    sys.path.append({str(REPO_ROOT)!r})\n"
        "c.ExportApp.plugin_class = 'grader.pipeline.export.LmsExportPlugin'\n",
        encoding="utf-8",
    )
    return path


def copy_lesson_sources(lessons: Iterable[Lesson], course_root: Path | str) -> None:
    """Copy each lesson's folder to ``<course_root>/solutions/<name>``.

    An existing copy is replaced, so the course folder always grades against
    the current solutions.  The instructor-only files come along (the course
    folder is the instructor's); nbgrader's ignore list keeps them from
    students.
    """
    dest_root = Path(course_root) / "solutions"
    dest_root.mkdir(parents=True, exist_ok=True)
    ignore = JUNK
    for lesson in lessons:
        dest = dest_root / lesson.name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(lesson.folder, dest, ignore=ignore)


def notebook_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` plus the single-thread settings of :data:`QUIET_THREADS`."""
    env = dict(os.environ)
    env.update(QUIET_THREADS)
    # The repository must be importable by kernels (course_lib, grader.checks)
    # even where the package is not installed.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
    )
    # nbgrader shells out to ``alembic`` (and kernels to ``jupyter``): the
    # tools of this interpreter's environment come first on PATH even when the
    # virtualenv is not activated.
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in (bindir, env.get("PATH", "")) if p)
    if extra:
        env.update(extra)
    return env


def run_nbgrader(
    args: Sequence[str],
    course_root: Path | str,
    *,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``python -m nbgrader ARGS`` in ``course_root`` and capture its output.

    With ``check`` a non-zero exit raises ``CourseError`` carrying the log tail.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=str(course_root),
        env=notebook_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if check and proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise CourseError(
            f"nbgrader {' '.join(args)} exited with {proc.returncode} in {course_root}:\n{tail}"
        )
    return proc


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_tree(folder: Path | str, ignore: Sequence[str] = ()) -> str:
    """Hex SHA-256 over the relative paths and bytes of every file under ``folder``."""
    root = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if any(part in ignore for part in path.relative_to(root).parts):
            continue
        h.update(rel.encode() + b"\0")
        h.update(sha256_file(path).encode() + b"\n")
    return h.hexdigest()
