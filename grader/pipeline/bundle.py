"""The student bundle: one wheel a student installs with pip, built by ``grader release``.

``backprop_course_student-<version>-py3-none-any.whl`` holds

* the released lessons (``lessons/``, as package data of ``grader.student_kit``),
* ``course_lib`` (the notebooks import it),
* the student side of the grader: ``grader/protocol.py``, ``grader/checks``
  (without the instructor's mutation tool) and ``grader/student_kit`` (the
  ``backprop-course lessons`` / ``validate`` command and ``validate()``),

and nothing else: no ``solutions/``, no hidden tests, no ``bugs.json`` /
``references.json`` / ``mutants.json``, no ``grader/pipeline`` (so none of
the alternative correct answers of ``grader/pipeline/styles``) or
``grader/sandbox``.  Its dependencies are the course's pinned numpy,
matplotlib and scikit-learn, and JupyterLab; never PyTorch.  setuptools (the
project's own build backend, through ``pip wheel``) builds it; the wheel is
then scanned, and refused, if any solution line, hidden-test line, region
marker or private file got in.
"""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat

from .course import JUNK, PRIVATE_FILES, REPO_ROOT, Lesson
from .regions import MARKERS, public_lines, secret_lines
from .styles import alternatives

DIST_NAME = "backprop-course-student"
WHEEL_PREFIX = "backprop_course_student-"
SCRIPT = "backprop-course"
DEFAULT_DIST = REPO_ROOT / "dist"
#: The course's pinned requirements the bundle keeps (requirements.txt), and what a student needs on top.
PINNED_FROM_REQUIREMENTS = ("numpy", "matplotlib", "scikit-learn")
STUDENT_EXTRAS = ("jupyterlab>=4", "nbclient>=0.10", "ipykernel>=6.5", "nbformat>=5.9")
#: What of the repository goes in (paths relative to the repository root).
SHIPPED_TREES = ("course_lib", "grader/checks", "grader/student_kit")
SHIPPED_FILES = ("grader/__init__.py", "grader/protocol.py")
#: Instructor-only modules inside a shipped tree.
LEFT_OUT = ("grader/checks/mutants.py",)
#: Top-level folders of the wheel that may exist; anything else is a mistake.
ALLOWED_TOP = ("course_lib/", "grader/", f"{WHEEL_PREFIX.rstrip('-')}")
FORBIDDEN_PARTS = ("solutions", "pipeline", "sandbox", "tests")
#: Reference code students are given on purpose: course_lib (the notebooks import it; the grading
#: kernel stubs the objects that answer exercises) and the checks (they compute the expected values
#: with reference code, so idioms such as ``B = Z.shape[0]`` occur there as in solutions).  They
#: are scanned for hidden-test lines, not for solution lines.
REFERENCE_CODE = ("course_lib/", "grader/checks/")


#: Lines of grader/pipeline/styles at least this long count as solution lines in the leak scan.
MIN_STYLE_LINE = 24


class BundleError(RuntimeError):
    """The student bundle could not be built, or would hold something private."""


def _requirements(path: Path) -> list[str]:
    """``name==version`` of the course's pinned packages the bundle needs, from ``requirements.txt``."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s#;]+)", line)
        if match:
            pins[match.group(1).lower()] = f"{match.group(1)}=={match.group(2)}"
    missing = [name for name in PINNED_FROM_REQUIREMENTS if name not in pins]
    if missing:
        raise BundleError(f"{path}: expected pinned versions (name==x.y.z) of {missing}, found {sorted(pins)}")
    return [pins[name] for name in PINNED_FROM_REQUIREMENTS] + list(STUDENT_EXTRAS)


def _version(pyproject: Path) -> str:
    match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(encoding="utf-8"), re.M)
    if not match:
        raise BundleError(f"{pyproject}: expected a line version = \"x.y.z\" in [project]")
    return match.group(1)


def _pyproject(version: str, dependencies: list[str]) -> str:
    deps = ",\n    ".join(f'"{d}"' for d in dependencies)
    return f'''[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{DIST_NAME}"
version = "{version}"
description = "Backpropagation course, student bundle: the lessons, course_lib and the visible checks"
readme = "README.md"
requires-python = ">=3.10"
dependencies = [
    {deps},
]

[project.scripts]
{SCRIPT} = "grader.student_kit.__main__:main"

[tool.setuptools.packages.find]
include = ["course_lib*", "grader*"]

[tool.setuptools.package-data]
"grader.student_kit" = ["lessons/**/*"]
'''


STUDENT_README = """# Backpropagation course: student bundle

    backprop-course lessons ~/backprop        # copy the lessons into a folder of your own
    jupyter lab ~/backprop                    # work through them in order
    backprop-course validate ~/backprop/01_scalar_backprop/01_scalar_backprop.ipynb

or, as the last cell of a lesson notebook (save it first):

    from grader.student_kit import validate; validate()

Validation runs the visible checks only, in your own Python kernel: the graded
run adds hidden cases.

On a shared JupyterHub where nbgrader is installed, the instructor runs
`backprop-course hub-setup` once in its environment: nbgrader's Validate button
then shows this report, and nbgrader's instructor panels are hidden.
"""


def stage(lessons_dir: Path, into: Path, repo: Path = REPO_ROOT) -> None:
    """Lay out the bundle's project folder (sources, lessons, pyproject.toml) in ``into``."""
    for tree in SHIPPED_TREES:
        shutil.copytree(repo / tree, into / tree, ignore=JUNK)
    for rel in SHIPPED_FILES:
        (into / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repo / rel, into / rel)
    for rel in LEFT_OUT:
        (into / rel).unlink(missing_ok=True)
    target = into / "grader" / "student_kit" / "lessons"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(lessons_dir, target, ignore=JUNK)
    (into / "README.md").write_text(STUDENT_README, encoding="utf-8")
    (into / "pyproject.toml").write_text(
        _pyproject(_version(repo / "pyproject.toml"), _requirements(repo / "requirements.txt")), encoding="utf-8")


def wheel_text(wheel: Path) -> dict[str, str]:
    """``{member: text}`` of every text member of a wheel (notebooks as their cells' sources)."""
    out = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if name.endswith(".ipynb"):
                text = "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
            out[name] = text
    return out


def secrets_of(lessons: list[Lesson], repo: Path = REPO_ROOT) -> tuple[set[str], set[str]]:
    """(hidden-test lines, solution lines) of ``lessons`` that a student cannot already see.

    Solution lines include the lines of the lessons' alternative correct answers (``grader.pipeline.styles``).

    Lines that some lesson shows outside its regions (``B = X.shape[0]`` in a given helper of
    another lesson) are public; so are the lines of ``course_lib``, the reference library students
    are given (the grading kernel stubs the objects that answer exercises, see ``references.json``).
    """
    hidden: set[str] = set()
    solution: set[str] = set()
    public: set[str] = set()
    for lesson in lessons:
        source = nbformat.read(str(lesson.notebook), as_version=4)
        hidden |= secret_lines(source, ("hidden",))
        solution |= secret_lines(source, ("solution",))
        public |= public_lines(source)
        # the differently written correct answers (grader/pipeline/styles) are solutions too; their short
        # lines (``else:``, ``return out``) are anyone's
        solution |= {line.strip() for answers in alternatives(lesson.name).values() for _, code in answers
                     for line in code.splitlines() if len(line.strip()) >= MIN_STYLE_LINE}
    library = {line.strip() for path in sorted((repo / "course_lib").rglob("*.py"))
               for line in path.read_text(encoding="utf-8").splitlines()}
    return hidden - public, solution - public - library


def bundle_leaks(wheel: Path, lessons: list[Lesson], repo: Path = REPO_ROOT) -> list[str]:
    """What in ``wheel`` must not reach a student: private files and instructor folders, region
    markers in a notebook, hidden-test lines anywhere, and solution lines a student cannot already
    see (:func:`secrets_of`) anywhere but the reference code (``REFERENCE_CODE``)."""
    hidden, solution = secrets_of(lessons, repo)
    problems = []
    texts = wheel_text(wheel)
    for name in sorted(texts):
        parts = name.split("/")
        if parts[-1] in PRIVATE_FILES:
            problems.append(f"{name}: an instructor-only file")
        if not name.startswith(ALLOWED_TOP) or any(p in FORBIDDEN_PARTS for p in parts[:-1]) or name in LEFT_OUT:
            problems.append(f"{name}: not part of the student side")
        lines = texts[name].splitlines()
        if name.endswith(".ipynb"):
            problems += [f"{name}: region marker {line!r}" for line in lines if any(m in line for m in MARKERS)]
        problems += [f"{name}: hidden-test line {line.strip()!r}" for line in lines if line.strip() in hidden]
        if not name.startswith(REFERENCE_CODE):
            problems += [f"{name}: solution line {line.strip()!r}" for line in lines if line.strip() in solution]
    return sorted(set(problems))


def build_bundle(lessons_dir: Path | str, lessons: list[Lesson], out_dir: Path | str = DEFAULT_DIST) -> Path:
    """Build the student wheel from released ``lessons_dir`` into ``out_dir``; return its path.

    Older bundles in ``out_dir`` are replaced.  Nothing is written when the wheel would leak.

    Raises:
        BundleError: the build failed, or the wheel holds private text (listed).
    """
    lessons_dir, out_dir = Path(lessons_dir), Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="grader-bundle-") as tmp:
        project, built = Path(tmp) / "project", Path(tmp) / "wheel"
        stage(lessons_dir, project)
        # the course venv's own setuptools when it has one (no index needed), else pip's isolated build
        offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
        run = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *offline, "--wheel-dir", str(built), str(project)],
            capture_output=True, text=True,
        )
        wheels = sorted(built.glob(f"{WHEEL_PREFIX}*.whl")) if built.is_dir() else []
        if run.returncode != 0 or len(wheels) != 1:
            raise BundleError(f"building the student wheel failed (pip wheel exit {run.returncode}):\n"
                              f"{run.stdout[-2000:]}{run.stderr[-2000:]}")
        problems = bundle_leaks(wheels[0], lessons)
        if problems:
            raise BundleError("refusing to write the student bundle: it would contain\n  " + "\n  ".join(problems))
        out_dir.mkdir(parents=True, exist_ok=True)
        for old in out_dir.glob(f"{WHEEL_PREFIX}*.whl"):
            old.unlink()
        target = out_dir / wheels[0].name
        shutil.copyfile(wheels[0], target)
    return target
