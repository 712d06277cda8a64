"""A grading worker: nbgrader's ``Autograde`` converter on a private gradebook shard.

One worker process grades one submission at a time with real nbgrader
(sanitize, OverwriteCells, Execute, SaveAutoGrades...), writing to its own
copy of the gradebook (a *shard*), so no two processes ever write one sqlite
file.  After each submission it reads the grades back from the shard and
hands them to the parent, which is the only writer of the main gradebook
(see ``grader.pipeline.merge``).

Protocol (``python -m grader.pipeline.worker``): one JSON job per stdin line,
``{"student": ..., "lesson": ...}``; one JSON result per stdout line (see
:meth:`Worker.grade`).  Everything else the worker or nbgrader prints goes to
stderr (the worker log).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from ..sandbox.kernelclient import fast_kernel_waits
from . import notes
from .gradebook import COURSE_ID, db_url

PR_SET_PDEATHSIG = 1


class _Capture(logging.Handler):
    """Keeps the ERROR records of the current submission."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append(record.getMessage())
        except Exception:
            pass


def summarize_errors(messages: list[str]) -> str:
    """The most telling line of nbgrader's error log: the last ``SomeError: message`` line."""
    import re

    pattern = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*)$")
    for message in reversed(messages):
        for line in reversed(message.splitlines()):
            m = pattern.match(line)
            if m:
                return " ".join(m.group(1).split())[:400]
    skip = ("There was an error processing", "Please see the", "Removing failed")
    for message in messages:
        if not message.startswith(skip):
            return " ".join(message.split())[:400]
    return "nbgrader could not grade this notebook"


def share_engines() -> None:
    """Make nbgrader's ``Gradebook`` reuse one SQLAlchemy engine per database URL.

    nbgrader opens a new ``Gradebook`` (a new engine, a schema check, an empty
    statement cache) about ten times per notebook; in a worker that grades
    many notebooks into one shard, sharing the engine removes most of that
    cost.  Behaviour is unchanged: ``Gradebook.close`` still returns the
    connections (``engine.dispose``), and every session commits as before.
    """
    import nbgrader.api as api

    if getattr(api, "_grader_shared_engines", False):
        return
    original = api.create_engine
    engines: dict = {}

    def create_engine(url, *args, **kwargs):
        key = str(url)
        if key not in engines:
            engines[key] = original(url, *args, **kwargs)
        return engines[key]

    # With a shared engine the schema is checked once per database, not per open.
    original_inspect = api.inspect
    original_create_all = api.Base.metadata.create_all
    table_names: dict = {}
    created: set = set()

    class _CachedInspector:
        def __init__(self, names):
            self._names = names

        def get_table_names(self):
            return list(self._names)

    def inspect(engine):
        if engine not in table_names:
            table_names[engine] = original_inspect(engine).get_table_names()
            return _CachedInspector(table_names[engine])
        return _CachedInspector(table_names[engine])

    def create_all(bind=None, **kwargs):
        if bind is None or bind not in created:
            original_create_all(bind=bind, **kwargs)
            if bind is not None:
                created.add(bind)
                table_names.pop(bind, None)

    api.create_engine = create_engine
    api.inspect = inspect
    api.Base.metadata.create_all = create_all
    api._grader_shared_engines = True


def cache_schema_validators() -> None:
    """Let nbgrader's cell-metadata check build its JSON-schema validator once.

    ``jsonschema.validate`` re-checks the schema itself on every call; nbgrader
    calls it for every graded cell, twice per notebook.  Same validation, same
    errors (``best_match`` of the validator's errors), without the re-check.
    """
    import jsonschema
    from jsonschema.exceptions import best_match
    from nbgrader.nbgraderformat import common

    if getattr(common, "_grader_cached_validators", False):
        return

    class _CachedJsonschema:
        def __init__(self):
            self._validators: dict = {}

        def validate(self, instance, schema, *args, **kwargs):
            if args or kwargs:
                return jsonschema.validate(instance, schema, *args, **kwargs)
            entry = self._validators.get(id(schema))
            if entry is None or entry[0] is not schema:
                cls = jsonschema.validators.validator_for(schema)
                cls.check_schema(schema)
                entry = (schema, cls(schema))
                self._validators[id(schema)] = entry
            error = best_match(entry[1].iter_errors(instance))
            if error is not None:
                raise error

        def __getattr__(self, name):
            return getattr(jsonschema, name)

    common.jsonschema = _CachedJsonschema()
    common._grader_cached_validators = True


def load_course_config(course_root: Path | str) -> Config:
    """The configuration nbgrader would load in ``course_root``."""
    return PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()


class Worker:
    """Grades submissions of one course directory into one gradebook file."""

    def __init__(
        self,
        course_root: Path | str,
        shard: Path | str,
        kernel_name: str | None = None,
        timeout: int | None = None,
        sandbox: dict | None = None,
        stage: Path | str | None = None,
    ):
        """``sandbox``: ``{"workdir_base", "uid", "gid", "notebook_timeout", "limits_env"}`` for
        :class:`grader.sandbox.execute.GuardedExecute` (None: kernels run in the autograded folder, unconfined).
        ``stage``: where submissions are staged for nbgrader (default: next to the shard)."""
        from nbconvert.preprocessors import ClearMetadataPreprocessor
        from nbgrader.converters import Autograde
        from nbgrader.coursedir import CourseDirectory
        from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, SaveAutoGrades

        from ..sandbox.execute import GuardedExecute
        from ..sandbox.grade_outputs import GradeCellOutputs

        share_engines()
        cache_schema_validators()
        fast_kernel_waits()
        self.course_root = Path(course_root).resolve()
        self.shard = Path(shard).resolve()
        cfg = load_course_config(self.course_root)
        cfg.CourseDirectory.root = str(self.course_root)
        cfg.CourseDirectory.db_url = db_url(self.shard)
        if kernel_name:
            cfg.Execute.kernel_name = kernel_name
        cfg.AsyncKernelManager.client_factory = "grader.sandbox.kernelclient.FastKernelClient"
        if timeout:
            cfg.Execute.timeout = int(timeout)
        # the parent decides what needs grading; nbgrader must not skip it
        cfg.Autograde.force = True
        # nbgrader's pipeline with a confined Execute, and GradeCellOutputs
        # instead of LimitOutput (see grader.sandbox.execute, grader.sandbox.grade_outputs)
        cfg.Autograde.autograde_preprocessors = [
            GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, GradeCellOutputs,
            SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
        ]
        box = sandbox or {}
        if box.get("workdir_base"):
            cfg.GuardedExecute.workdir_base = str(box["workdir_base"])
            cfg.GuardedExecute.sandbox_uid = box.get("uid")
            cfg.GuardedExecute.sandbox_gid = box.get("gid")
            cfg.GuardedExecute.limits_env = dict(box.get("limits_env") or {})
        if box.get("zygote_pid"):
            cfg.GuardedExecute.zygote_pid = int(box["zygote_pid"])
        if box.get("notebook_timeout"):
            cfg.GuardedExecute.notebook_timeout = float(box["notebook_timeout"])
        # grade cells run in this process (grader.sandbox.checker), never in the kernel
        self.trusted = bool(box.get("trusted", True))
        if box.get("seed") is not None:
            cfg.GuardedExecute.grading_seed = int(box["seed"])
        self.isolation = dict(box.get("isolation") or {})
        # submissions are staged (grader.pipeline.intake) and graded from there
        self.stage_root = Path(stage) if stage else self.shard.with_suffix(".stage")
        self.stage_root.mkdir(parents=True, exist_ok=True)
        cfg.CourseDirectory.submitted_directory = os.path.relpath(self.stage_root, self.course_root)
        self.config = cfg
        self.coursedir = CourseDirectory(config=cfg)
        self.converter = Autograde(coursedir=self.coursedir, config=cfg)
        self.capture = _Capture()
        self.converter.log.addHandler(self.capture)
        self._lessons: dict[str, tuple] = {}

    def _lesson(self, lesson: str) -> tuple:
        """(released notebook, source notebook, grade-cell sources, stub folder) of a lesson of the course."""
        if lesson not in self._lessons:
            import nbformat

            from ..sandbox import isolation
            from ..sandbox.checker import grade_sources

            released = nbformat.read(str(self.course_root / "lessons" / lesson / f"{lesson}.ipynb"), as_version=4)
            source_path = self.course_root / "solutions" / lesson / f"{lesson}.ipynb"
            source = nbformat.read(str(source_path), as_version=4)
            stubs = None
            if self.isolation.get("stub_base") and self.isolation.get("course_lib"):
                # course_lib as the lesson's kernels see it: this lesson's answers raise (delegation by running);
                # one folder per worker process, as the workers of a run write their copies at the same time
                stubs = str(isolation.write_stubs(self.isolation["course_lib"],
                                                  isolation.references_of(source_path.parent.parent, lesson),
                                                  Path(self.isolation["stub_base"]) / f"{lesson}-{os.getpid()}"))
            self._lessons[lesson] = (released, source, grade_sources(source), stubs)
        return self._lessons[lesson]

    def grade(self, student: str, lesson: str) -> dict:
        """Autograde one submission; return its result.

        ``{"student", "lesson", "status": "graded" | "error", "error": str | None,
        "seconds": float, "payload": {...} | None}`` where the payload holds
        the submission's timestamp and, per notebook, the auto scores and
        auto comments that nbgrader saved in the shard.
        """
        from nbgrader.converters.base import NbGraderException

        from . import intake as intake_mod

        start = time.monotonic()
        self.capture.records.clear()
        notes.current.clear()
        self.coursedir.student_id = student
        self.coursedir.assignment_id = lesson
        status, error, payload = "graded", None, None
        released, source, sources, stubs = self._lesson(lesson)
        execute = self.converter.config.GuardedExecute  # (the converter holds its own copy of the config)
        execute.grade_sources = dict(sources) if self.trusted else {}
        if self.isolation:
            execute.isolation = {k: v for k, v in self.isolation.items() if k != "stub_base"} | {"stubs": stubs}
        submitted = self.course_root / "submitted" / student / lesson
        intake = intake_mod.inspect(submitted, lesson, released)
        notes.current.extend(intake.notes)
        intake_mod.stage(submitted, self.stage_root / student / lesson, intake)
        if not intake.gradable:
            try:
                payload = self._zero(student, lesson, released)
            except Exception as exc:
                status, error = "error", f"could not record 0 points: {type(exc).__name__}: {exc}"
        else:
            try:
                self.converter.start()
            except NbGraderException:
                status = "error"
            except Exception as exc:  # a bug outside nbgrader's own handling: still one notebook
                status = "error"
                self.capture.records.append(f"{type(exc).__name__}: {exc}")
            if status == "error":
                error = summarize_errors(self.capture.records)
            try:
                payload = extract(self.shard, student, lesson)
            except Exception as exc:
                if status == "graded":
                    status, error = "error", f"no grades saved: {type(exc).__name__}: {exc}"
        lines = self._named(student, lesson, notes.current.as_list())
        if lines and status == "graded":
            self._show_notes(student, lesson, lines)
        shutil.rmtree(self.stage_root / student, ignore_errors=True)
        return {
            "student": student,
            "lesson": lesson,
            "status": status,
            "error": error,
            "notes": lines,
            "seconds": round(time.monotonic() - start, 3),
            "payload": payload,
        }

    def _autograded(self, student: str, lesson: str) -> Path:
        return self.course_root / "autograded" / student / lesson / f"{lesson}.ipynb"

    def _zero(self, student: str, lesson: str, released) -> dict:
        """0 for every grade cell of a submission that cannot be run; its graded notebook is the blank lesson."""
        import nbformat
        from nbgrader.api import Gradebook

        folder = self._autograded(student, lesson).parent
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        nbformat.write(released, str(folder / f"{lesson}.ipynb"))
        stamp = self.coursedir.get_existing_timestamp(str(self.course_root / "submitted" / student / lesson))
        with Gradebook(db_url(self.shard), COURSE_ID) as gb:
            gb.update_or_create_student(student)
            kwargs = {"timestamp": stamp} if stamp else {}
            gb.update_or_create_submission(lesson, student, **kwargs)
            assignment = gb.find_assignment(lesson)
            notebooks = {
                nb.name: {"grades": {g.name: 0.0 for g in nb.grade_cells},
                          "comments": {}, "late_submission_penalty": None}
                for nb in assignment.notebooks
            }
        return {"timestamp": stamp.isoformat() if stamp else None, "notebooks": notebooks}

    def _named(self, student: str, lesson: str, lines: list[str]) -> list[str]:
        """Notes that say "cell 43" name the exercise instead (read from the graded notebook)."""
        import nbformat

        path = self._autograded(student, lesson)
        if not any(notes.mentions_cell(line) for line in lines) or not path.exists():
            return lines
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception:
            return lines
        return notes.name_cells(lines, nb)

    def _show_notes(self, student: str, lesson: str, lines: list[str]) -> None:
        """Put the notes first in the graded notebook, where the feedback shows them."""
        import nbformat
        from nbformat.v4 import new_markdown_cell

        path = self._autograded(student, lesson)
        if not path.exists():
            return
        nb = nbformat.read(str(path), as_version=4)
        nb.cells.insert(0, new_markdown_cell(notes.markdown(lines)))
        nbformat.write(nb, str(path))


def extract(db_path: Path | str, student: str, lesson: str) -> dict:
    """Auto scores, auto comments and late penalties of one submission in a gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url(db_path), COURSE_ID) as gb:
        sub = gb.find_submission(lesson, student)
        return {
            "timestamp": sub.timestamp.isoformat() if sub.timestamp else None,
            "notebooks": {
                nb.name: {
                    "grades": {g.name: g.auto_score for g in nb.grades},
                    "comments": {c.name: c.auto_comment for c in nb.comments},
                    "late_submission_penalty": nb.late_submission_penalty,
                }
                for nb in sub.notebooks
            },
        }


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except Exception:
        pass


def main(argv: list[str] | None = None) -> int:
    """Run a worker: jobs on stdin, results on stdout."""
    _die_with_parent()
    # Ctrl-C at the terminal reaches the whole process group: the parent decides (it kills us). A Python
    # handler, not SIG_IGN, so that nothing this worker starts inherits an ignored SIGINT.
    signal.signal(signal.SIGINT, lambda _signum, _frame: None)
    sys.modules.setdefault("rfc3987_syntax", None)  # see grader.pipeline.cli.main
    parser = argparse.ArgumentParser(prog="python -m grader.pipeline.worker")
    parser.add_argument("--course", required=True)
    parser.add_argument("--shard", required=True)
    parser.add_argument("--kernel-name", default=None)
    parser.add_argument("--timeout", type=int, default=None)
    parser.add_argument("--sandbox", default=None, help="JSON: workdir_base, uid, gid, notebook_timeout, limits_env")
    args = parser.parse_args(argv)

    # Results go to the real stdout; anything else printed goes to stderr.
    results = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")

    box = json.loads(args.sandbox) if args.sandbox else None
    worker = Worker(args.course, args.shard, args.kernel_name, args.timeout, sandbox=box)
    results.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        job = json.loads(line)
        result = worker.grade(job["student"], job["lesson"])
        results.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
