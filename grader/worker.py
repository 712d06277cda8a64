"""A grading worker: nbgrader's ``Autograde`` converter on a private gradebook shard.

One worker process grades one submission at a time with real nbgrader
(sanitize, OverwriteCells, Execute, SaveAutoGrades...), writing to its own
copy of the gradebook (a *shard*), so no two processes ever write one sqlite
file.  After each submission it reads the grades back from the shard and
hands them to the parent, which is the only writer of the main gradebook
(see ``grader.merge``).

Protocol (``python -m grader.worker``): one JSON job per stdin line,
``{"student": ..., "lesson": ...}``; one JSON result per stdout line (see
:meth:`Worker.grade`).  Everything else the worker or nbgrader prints goes to
stderr (the worker log).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .gradebook import COURSE_ID, db_url
from .kernelclient import fast_kernel_waits

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
    ):
        from nbgrader.converters import Autograde
        from nbgrader.coursedir import CourseDirectory

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
        cfg.AsyncKernelManager.client_factory = "grader.kernelclient.FastKernelClient"
        if timeout:
            cfg.Execute.timeout = int(timeout)
        # the parent decides what needs grading; nbgrader must not skip it
        cfg.Autograde.force = True
        self.config = cfg
        self.coursedir = CourseDirectory(config=cfg)
        self.converter = Autograde(coursedir=self.coursedir, config=cfg)
        self.capture = _Capture()
        self.converter.log.addHandler(self.capture)

    def grade(self, student: str, lesson: str) -> dict:
        """Autograde one submission; return its result.

        ``{"student", "lesson", "status": "graded" | "error", "error": str | None,
        "seconds": float, "payload": {...} | None}`` where the payload holds
        the submission's timestamp and, per notebook, the auto scores and
        auto comments that nbgrader saved in the shard.
        """
        from nbgrader.converters.base import NbGraderException

        start = time.monotonic()
        self.capture.records.clear()
        self.coursedir.student_id = student
        self.coursedir.assignment_id = lesson
        status, error = "graded", None
        try:
            self.converter.start()
        except NbGraderException:
            status = "error"
        except Exception as exc:  # a bug outside nbgrader's own handling: still one notebook
            status = "error"
            self.capture.records.append(f"{type(exc).__name__}: {exc}")
        if status == "error":
            error = summarize_errors(self.capture.records)
        payload = None
        try:
            payload = extract(self.shard, student, lesson)
        except Exception as exc:
            if status == "graded":
                status, error = "error", f"no grades saved: {type(exc).__name__}: {exc}"
        return {
            "student": student,
            "lesson": lesson,
            "status": status,
            "error": error,
            "seconds": round(time.monotonic() - start, 3),
            "payload": payload,
        }


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
    sys.modules.setdefault("rfc3987_syntax", None)  # see grader.cli.main
    parser = argparse.ArgumentParser(prog="python -m grader.worker")
    parser.add_argument("--course", required=True)
    parser.add_argument("--shard", required=True)
    parser.add_argument("--kernel-name", default=None)
    parser.add_argument("--timeout", type=int, default=None)
    args = parser.parse_args(argv)

    # Results go to the real stdout; anything else printed goes to stderr.
    results = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")

    worker = Worker(args.course, args.shard, args.kernel_name, args.timeout)
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
