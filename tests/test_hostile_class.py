"""Issue 6: a class of hostile and broken submissions, graded in ONE run with honest students.

The corpus is ``tests/hostile/cases.py``: one case per behaviour (syntax
error, endless loop, notebook over its time limit, memory and fork bombs, a
process that outlives its kernel, writes to the gradebook, another student's
file and course_lib, reads of the hidden tests, monkeypatched numpy, grader
helpers and builtins, always-equal results, lying ndarray subclasses,
reseeding, delegation to course_lib, edited/deleted/re-typed grade cells,
changed points, grade ids and kernelspec, broken, empty, huge, renamed and
missing notebooks, output floods, stderr, a segfault...), plus honest
students.  Each case says what score and which grader notes it must get,
computed from its definition (see the module docstring there).

One ``autograde`` run grades everything (two workers, 15 s per cell, 60 s
per notebook, 3 GiB per kernel).  Then, per case: its score, its note codes,
status "graded", no attack step that got through, and case-specific
evidence (the gradebook is intact, the victim's file and course_lib are
byte-for-byte unchanged, the background process wrote nothing, hidden tests
never reached an output, floods were cut).  Across the class: the run
finished with a row for every submission, no process of a grading user is
alive afterwards, and the lesson sources are unchanged.

The guarantees only hold when the grader runs as root (kernels then run as
unprivileged ``bpgrade*`` users with rlimits), so the module is skipped for
other users.  There is no wall-clock assertion; the run takes about three
minutes on two cores.
"""
from __future__ import annotations

import csv
import html
import io
import os
import pwd
import re
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from hostile.cases import (
    BACKGROUND_DELAY,
    CASES,
    FORGED_SCORE,
    INTERLOCK,
    L02,
    SUCCESS_MARKER,
    TRAP_TEXT,
    VICTIM,
    XSS_MARKER,
    Built,
    Case,
    Context,
    by_name,
    leftover_paths,
    write_class,
)

from grader.pipeline.course import DEFAULT_SOLUTIONS, REPO_ROOT, sha256_file, sha256_tree
from grader.pipeline.outputs import cell_text, error_summary
from grader.pipeline.regions import MARKERS, find_leaks, secret_lines
from grader.pipeline.submissions import grade_id

ROOT_ONLY = "the grader confines kernels (unprivileged bpgrade* users, protected course files) only when it runs as root"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason=ROOT_ONLY)

JOBS = 2
CELL_TIMEOUT = 15
LIMITS = {"notebook_timeout": "60", "memory": "3G"}
#: Cases whose feedback HTML is rendered and searched (hidden tests, scripts), and an honest one to compare.
FEEDBACK_CASES = ("h16_read_hidden_tests", "h48_caller_frames", "h54_snoop_sources", "h55_html_script",
                  "ok02_complete")
#: A flood's autograded notebook must stay below this many bytes.
FLOOD_NOTEBOOK_BYTES = 1_000_000
TRUNCATION_MARKER = "[output truncated by the grader:"
USER_PREFIX = "bpgrade"


# ------------------------------------------------------------------ helpers
def tree_hashes(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder`` (bytecode caches excluded)."""
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def grading_uids() -> dict[int, str]:
    return {p.pw_uid: p.pw_name for p in pwd.getpwall() if p.pw_name.startswith(USER_PREFIX)}


def processes_of(uids: dict[int, str]) -> list[str]:
    """Live (non-zombie) processes whose real, effective, saved or fs uid is one of ``uids``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        ids = {int(x) for x in fields.get("Uid", "").split()}
        state = fields.get("State", "").strip()
        if ids & set(uids) and not state.startswith("Z"):
            users = ",".join(sorted({uids[i] for i in ids & set(uids)}))
            found.append(f"pid {entry} ({fields.get('Name', '?').strip()}, {users}, {state})")
    return found


def gradebook_facts(db: Path) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {
            "integrity": con.execute("PRAGMA integrity_check").fetchone()[0],
            "tables": {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")},
            "manual_scores": con.execute("SELECT count(*) FROM grade WHERE manual_score IS NOT NULL").fetchone()[0]
            if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'grade'").fetchone() else 0,
        }
    finally:
        con.close()


@dataclass
class Run:
    """The graded class and what was recorded around the run."""

    course: Path
    solutions: Path
    trap: Path
    ctx: Context
    built: dict[str, Built]
    result: object  # AutogradeReport
    results: dict  # (student, lesson) -> worker result dict
    report: object  # grader.pipeline.report.Report
    notes_csv: list[dict]
    grades: dict  # (student, lesson) -> {grade_id: CellGrade}
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    feedback: dict = field(default_factory=dict)  # case name -> feedback HTML (FEEDBACK_CASES)

    def key(self, case: Case) -> tuple[str, str]:
        return (case.name, case.lesson)

    def notes(self, case: Case) -> list[str]:
        return list(getattr(self.report, "notes", {}).get(self.key(case), []))

    def autograded(self, case: Case) -> Path:
        return self.course / "autograded" / case.name / case.lesson / f"{case.lesson}.ipynb"

    def notebook(self, case: Case):
        path = self.autograded(case)
        if not path.exists():
            return None
        return nbformat.read(str(path), as_version=4)

    def outputs(self, case: Case) -> list[tuple[int, str | None, str]]:
        """``(cell index, grade id, output text)`` of every code cell of the autograded notebook."""
        nb = self.notebook(case)
        if nb is None:
            return []
        return [(i, grade_id(c), cell_text(c)) for i, c in enumerate(nb.cells) if c.cell_type == "code"]

    def describe(self, case: Case) -> str:
        """What happened to a case, for assertion messages."""
        key = self.key(case)
        result = self.results.get(key, {})
        lines = [
            f"case {case.name} ({case.lesson}), expected {self.built[case.name].expected:g}: {case.why}",
            f"status: report {self.report.status.get(key)!r}, worker {result.get('status')!r}, "
            f"error {result.get('error')!r}",
            f"notes: {self.notes(case)}",
        ]
        cells = self.grades.get(key, {})
        if cells:
            lines.append("grade cells: " + ", ".join(f"{g} {c.score:g}/{c.max_score:g}" for g, c in cells.items()))
        nb = self.notebook(case)
        if nb is None:
            lines.append(f"no autograded notebook at {self.autograded(case)}")
        else:
            for i, cell in enumerate(nb.cells):
                if cell.cell_type == "code" and (summary := error_summary(cell, 200)):
                    lines.append(f"  cell {i} [{grade_id(cell) or '-'}]: {summary}")
        logs = sorted((self.course / ".grader" / "logs").glob("*.log"))
        hits = [line for log in logs for line in log.read_text(errors="replace").splitlines() if case.name in line]
        lines += [f"  log: {line[:300]}" for line in hits[-6:]]
        return "\n".join(lines)


# ------------------------------------------------------------------ the run
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip(ROOT_ONLY)
    from grader.pipeline.autograde import autograde
    from grader.pipeline.gradebook import read_grades
    from grader.pipeline.register import register
    from grader.pipeline.report import build_report, make_report
    from grader.sandbox import Limits

    root = tmp_path_factory.mktemp("hostile")
    # a private copy of the lessons: the same sources before, during and after the run
    solutions = root / "solutions"
    shutil.copytree(DEFAULT_SOLUTIONS, solutions, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    course = root / "course"
    register(course, solutions)
    # a folder any grading user may write to, holding a file only a live background process would change
    trap = Path(tempfile.mkdtemp(prefix="bp-hostile-trap-", dir="/tmp"))
    try:
        os.chmod(trap, 0o1777)
        (trap / "existing.txt").write_text(TRAP_TEXT)
        os.chmod(trap / "existing.txt", 0o666)

        ctx = Context(course, solutions, trap, REPO_ROOT)
        built = write_class(ctx)
        import course_lib

        course_lib_dir = Path(course_lib.__file__).resolve().parent
        before = {
            "victim": sha256_file(ctx.submitted(VICTIM, L02)),
            "background_submission": sha256_file(ctx.submitted("h07_background_process", L02)),
            "course_lib": tree_hashes(course_lib_dir),
            "sources": sha256_tree(course / "solutions"),
            "solutions": sha256_tree(solutions),
            "gradebook_tables": gradebook_facts(course / "gradebook.db")["tables"],
        }
        result = autograde(
            course, solutions, jobs=JOBS, timeout=CELL_TIMEOUT, limits=Limits.from_strings(LIMITS),
            progress_stream=io.StringIO(), progress_tty=False,
        )
        after = {"alive_at_end": processes_of(grading_uids())}
        # a process that outlived its kernel would write BACKGROUND_DELAY s after that kernel ended,
        # which was before the run ended: wait that long and a little more
        time.sleep(BACKGROUND_DELAY + 5)
        after.update({
            "alive_after_wait": processes_of(grading_uids()),
            "uids": grading_uids(),
            "victim": sha256_file(ctx.submitted(VICTIM, L02)),
            "background_submission": sha256_file(ctx.submitted("h07_background_process", L02)),
            "course_lib": tree_hashes(course_lib_dir),
            "sources": sha256_tree(course / "solutions"),
            "solutions": sha256_tree(solutions),
            "trap_text": (trap / "existing.txt").read_text(),
            "trap_files": sorted(p.name for p in trap.iterdir()),
            "leftovers": [p for p in leftover_paths(ctx) if os.path.lexists(p)],
        })
        report = build_report(course)
        make_report(course)
        notes_path = course / "reports" / "notes.csv"
        notes_csv = []
        if notes_path.exists():
            with open(notes_path, newline="") as f:
                notes_csv = list(csv.DictReader(f))
        from grader.pipeline.feedback import _render

        items = [(name, by_name()[name].lesson) for name in FEEDBACK_CASES]
        _render(course.resolve(), items)
        feedback = {}
        for name, lesson in items:
            html_path = course / "feedback" / name / lesson / f"{lesson}.html"
            if html_path.exists():
                feedback[name] = html_path.read_text(errors="replace")
        yield Run(
            course=course, solutions=solutions, trap=trap, ctx=ctx, built=built, result=result,
            results={(r["student"], r["lesson"]): r for r in result.graded}, report=report,
            notes_csv=notes_csv, grades=read_grades(course / "gradebook.db"), before=before, after=after,
            feedback=feedback,
        )
    finally:
        shutil.rmtree(trap, ignore_errors=True)


# ------------------------------------------------------------------ per case
def _codes(notes: list[str]) -> set[str]:
    return {n.split(":", 1)[0] for n in notes}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, run: Run):
    key = run.key(case)
    assert key in run.report.scores, f"no gradebook row for {key}: the run lost this submission\n{run.describe(case)}"
    assert hasattr(run.report, "notes"), "grader.pipeline.report.Report has no `notes` (the notes of each submission)"
    expected = run.built[case.name].expected
    assert run.report.scores[key] == pytest.approx(expected), (
        f"score {run.report.scores[key]:g}, expected {expected:g}\n{run.describe(case)}")
    assert run.report.status.get(key) == "graded", f"status {run.report.status.get(key)!r}\n{run.describe(case)}"

    notes = run.notes(case)
    for code in sorted(case.notes):
        assert any(n.startswith(code + ":") for n in notes), f"missing note {code!r}\n{run.describe(case)}"
    unexpected = _codes(notes) - case.notes - case.allowed
    assert not unexpected, f"unexpected notes {sorted(unexpected)}\n{run.describe(case)}"
    if case.honest:
        assert notes == [], f"an honest submission got notes\n{run.describe(case)}"

    for index, _gid, text in run.outputs(case):
        assert INTERLOCK not in text, (
            f"cell {index}: the payload found its kernel unconfined (root or no limits) and did not attack:\n"
            f"{text[:500]}\n{run.describe(case)}")
        assert SUCCESS_MARKER not in text, (
            f"cell {index}: an attack step got through:\n"
            f"{[line for line in text.splitlines() if SUCCESS_MARKER in line][:5]}\n{run.describe(case)}")

    check = EVIDENCE.get(case.name)
    if check:
        check(run, case)


# ------------------------------------------------------------------ evidence of single cases
def _no_hidden_text_in_outputs(run: Run, case: Case) -> None:
    source = nbformat.read(str(run.solutions / case.lesson / f"{case.lesson}.ipynb"), as_version=4)
    secrets = secret_lines(source, kinds=("hidden",))
    assert secrets, "the lesson must have hidden tests for this check to mean anything"
    for index, gid, text in run.outputs(case):
        leaks = list(find_leaks(text.splitlines(), secrets))
        assert not leaks, f"cell {index} [{gid}] shows hidden-test text: {leaks[:3]}\n{run.describe(case)}"


def evidence_background_process(run: Run, case: Case) -> None:
    evidence_background_started(run, case)
    assert run.after["trap_text"] == TRAP_TEXT, f"the trap file was written to: {run.after['trap_text']!r}"
    assert run.after["trap_files"] == ["existing.txt"], f"files appeared in the trap folder: {run.after['trap_files']}"
    assert run.after["background_submission"] == run.before["background_submission"]
    assert run.after["victim"] == run.before["victim"]
    assert not run.after["alive_after_wait"], f"grading users' processes alive: {run.after['alive_after_wait']}"


def evidence_background_started(run: Run, case: Case) -> None:
    texts = [text for _, gid, text in run.outputs(case) if gid is None]
    assert any("a background process is waiting for this kernel to end" in t for t in texts), (
        f"the background process was never started, so this case proves nothing\n{run.describe(case)}")


def evidence_threads_and_shell(run: Run, case: Case) -> None:
    texts = [text for _, gid, text in run.outputs(case) if gid is None and "sweep done" in text]
    assert texts and "shell ok" in texts[0], (
        f"an honest cell with a thread pool and a shell command did not run: a notebook graded earlier under "
        f"the same grading user must have left processes behind (the process limit counts them)\n"
        f"{run.describe(case)}")


def evidence_gradebook_write(run: Run, case: Case) -> None:
    facts = gradebook_facts(run.course / "gradebook.db")
    assert facts["integrity"] == "ok", f"PRAGMA integrity_check: {facts['integrity']}"
    assert "pwned" not in facts["tables"], "the submission created a table in the gradebook"
    assert run.before["gradebook_tables"] <= facts["tables"], "tables of the gradebook disappeared"
    assert facts["manual_scores"] == 0, "manual scores were set in the gradebook"
    honest = [c for c in CASES if c.honest]
    wrong = {c.name: run.report.scores.get(run.key(c)) for c in honest
             if run.report.scores.get(run.key(c)) != pytest.approx(run.built[c.name].expected)}
    assert not wrong, f"honest scores changed: {wrong}"


def evidence_edit_other_student(run: Run, case: Case) -> None:
    assert run.after["victim"] == run.before["victim"], "the victim's submitted notebook changed"
    victim = by_name()[VICTIM]
    nb = run.notebook(victim)
    assert nb is not None, "the victim's autograded notebook is gone"
    assert run.report.scores.get(run.key(victim)) == pytest.approx(run.built[VICTIM].expected)


def evidence_edit_course_lib(run: Run, case: Case) -> None:
    before, after = run.before["course_lib"], run.after["course_lib"]
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not changed, f"course_lib files changed, appeared or disappeared: {changed}"


def evidence_read_hidden_tests(run: Run, case: Case) -> None:
    outputs = run.outputs(case)
    # the repository and the course are behind an empty tmpfs in the kernel's mount namespace
    refused = ("FileNotFoundError", "PermissionError", "NotADirectoryError")
    assert any(e in text for _, gid, text in outputs if gid is None for e in refused), (
        f"no cell of the autograded notebook shows the failed read\n{run.describe(case)}")
    for index, _gid, text in outputs:
        assert not any(marker in text for marker in MARKERS), f"cell {index} shows a region delimiter"
    _no_hidden_text_in_outputs(run, case)
    _no_hidden_text_in_feedback(run, case)


def evidence_symlinks(run: Run, case: Case) -> None:
    _no_hidden_text_in_outputs(run, case)
    folder = run.autograded(case).parent
    for path in folder.rglob("*") if folder.exists() else []:
        if path.is_symlink():
            raise AssertionError(f"the autograded folder holds a symlink: {path} -> {os.readlink(path)}")
        if path.is_file() and path != run.autograded(case):
            data = path.read_bytes()
            assert b"BEGIN HIDDEN TESTS" not in data and b"SQLite format" not in data, (
                f"{path} is a copy of what a submitted symlink pointed at")


def evidence_output_flood(run: Run, case: Case) -> None:
    path = run.autograded(case)
    assert path.exists(), run.describe(case)
    size = path.stat().st_size
    assert size < FLOOD_NOTEBOOK_BYTES, f"the autograded notebook is {size} bytes\n{run.describe(case)}"
    # a message over the worker's 32 MiB limit is dropped whole; a smaller flood is cut with a marker
    if any(n.startswith("output-truncated:") for n in run.notes(case)):
        assert TRUNCATION_MARKER in path.read_text(), f"no truncation marker in {path}"


def evidence_stderr(run: Run, case: Case) -> None:
    texts = {gid: text for _, gid, text in run.outputs(case) if gid}
    assert "test_mse_loss" in texts, run.describe(case)
    assert "debug: mse_loss called" not in texts["test_mse_loss"], (
        f"the grade cell's outputs are the checker's: the kernel's stderr must not reach them\n{run.describe(case)}")


def evidence_fork_bomb(run: Run, case: Case) -> None:
    texts = [text for _, gid, text in run.outputs(case) if gid is None]
    assert any("BlockingIOError" in t for t in texts), f"the fork bomb never reached the process limit\n{run.describe(case)}"
    assert not run.after["alive_at_end"], f"grading users' processes alive after the run: {run.after['alive_at_end']}"


def _no_hidden_text_in_feedback(run: Run, case: Case) -> None:
    assert case.name in run.feedback, f"no feedback HTML was rendered for {case.name}\n{run.describe(case)}"
    source = nbformat.read(str(run.solutions / case.lesson / f"{case.lesson}.ipynb"), as_version=4)
    secrets = secret_lines(source, kinds=("hidden",))
    text = html.unescape(re.sub(r"<[^>]+>", "\n", run.feedback[case.name]))
    leaks = list(find_leaks(text.splitlines(), secrets))
    assert not leaks, f"the feedback of {case.name} shows hidden-test text: {leaks[:3]}"


def _texts(run: Run, case: Case, grade_cells: bool) -> list[str]:
    """Output texts of the notebook's grade cells (the checker writes them), or of every other code cell."""
    nb = run.notebook(case)
    if nb is None:
        return []
    is_grade = [bool(c.get("metadata", {}).get("nbgrader", {}).get("grade")) and
                not c.get("metadata", {}).get("nbgrader", {}).get("solution") for c in nb.cells if c.cell_type == "code"]
    return [text for (_, _, text), grade in zip(run.outputs(case), is_grade) if grade == grade_cells]


def evidence_snooping(run: Run, case: Case) -> None:
    """Frames, trace hooks, caches: the payload ran, found nothing hidden (SUCCESS_MARKER is checked per case)."""
    assert any(("distinct" in t) or ("snooped during the check: True" in t) for t in _texts(run, case, False)), (
        f"the snooping cell never reported: this case proves nothing\n{run.describe(case)}")
    _no_hidden_text_in_outputs(run, case)
    if case.name in run.feedback:
        _no_hidden_text_in_feedback(run, case)


def evidence_forged_events(run: Run, case: Case) -> None:
    for text in _texts(run, case, True):
        assert FORGED_SCORE not in text, f"a hook's forged result reached a grade cell\n{run.describe(case)}"
    assert any(FORGED_SCORE in t for t in _texts(run, case, False)), (
        f"the hooks never printed: this case proves nothing\n{run.describe(case)}")


def evidence_sockets(run: Run, case: Case) -> None:
    texts = _texts(run, case, False)
    assert any("TCP scan done: 0 ports" in t for t in texts), f"the TCP scan did not finish empty\n{run.describe(case)}"
    assert any("file scan done" in t for t in texts), f"the file scan did not finish\n{run.describe(case)}"


def evidence_ports(run: Run, case: Case) -> None:
    assert any("children holding ports: 4" in t for t in _texts(run, case, False)), run.describe(case)
    assert not run.after["alive_after_wait"], f"grading users' processes alive: {run.after['alive_after_wait']}"


def evidence_html(run: Run, case: Case) -> None:
    assert case.name in run.feedback and "ok02_complete" in run.feedback, "feedback HTML was not rendered"
    page = run.feedback[case.name]
    lower = page.lower()
    for handler in ("onerror=", "onload="):
        assert handler not in lower, f"the feedback HTML holds an event handler {handler!r}"
    assert "javascript:alert" not in lower, "the feedback HTML holds a javascript: link"
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S | re.I)
    assert not [s for s in scripts if XSS_MARKER in s], "a script of the student's is in the feedback HTML"
    assert lower.count("<script") <= run.feedback["ok02_complete"].lower().count("<script"), (
        "the feedback HTML holds more <script> tags than an honest student's")


def evidence_memory_tree(run: Run, case: Case) -> None:
    timed_out = any(n.startswith("cell-timeout:") for n in run.notes(case))
    assert timed_out or any("memory tree: limit" in t for t in _texts(run, case, False)), (
        f"the memory tree never reported: this case proves nothing\n{run.describe(case)}")
    assert not run.after["alive_at_end"], f"grading users' processes alive after the run: {run.after['alive_at_end']}"


def evidence_world_writable(run: Run, case: Case) -> None:
    assert any("wrote /tmp/" in t for t in _texts(run, case, False)), (
        f"the kernel could not even write its own /tmp: this case proves nothing\n{run.describe(case)}")
    assert not run.after["leftovers"], f"files written by a kernel exist on the host: {run.after['leftovers']}"


def evidence_huge_display(run: Run, case: Case) -> None:
    path = run.autograded(case)
    assert path.stat().st_size < FLOOD_NOTEBOOK_BYTES, f"the autograded notebook is {path.stat().st_size} bytes"
    honest = [c for c in CASES if c.honest]
    wrong = {c.name: run.report.scores.get(run.key(c)) for c in honest
             if run.report.scores.get(run.key(c)) != pytest.approx(run.built[c.name].expected)}
    assert not wrong, f"honest scores changed: {wrong}"


EVIDENCE = {
    "h06_fork_bomb": evidence_fork_bomb,
    "h06_fork_bomb_new_sessions": evidence_fork_bomb,
    "h07_background_process": evidence_background_process,
    "h13_gradebook_write": evidence_gradebook_write,
    "h14_edit_other_student": evidence_edit_other_student,
    "h15_edit_course_lib": evidence_edit_course_lib,
    "h16_read_hidden_tests": evidence_read_hidden_tests,
    "h17_symlinks": evidence_symlinks,
    "h44_output_flood_lines": evidence_output_flood,
    "h45_output_flood_bytes": evidence_output_flood,
    "h46_stderr_in_grade_cell": evidence_stderr,
    "h48_caller_frames": evidence_snooping,
    "h49_trace_hooks": evidence_snooping,
    "h51_ipython_events": evidence_forged_events,
    "h52_cross_kernel_sockets": evidence_sockets,
    "h53_port_exhaustion": evidence_ports,
    "h54_snoop_sources": evidence_snooping,
    "h55_html_script": evidence_html,
    "h56_memory_tree": evidence_memory_tree,
    "h57_world_writable": evidence_world_writable,
    "h58_huge_display": evidence_huge_display,
    "ok01_threads_shell": evidence_threads_and_shell,
    "ok02_threads_shell": evidence_threads_and_shell,
    "ok04_threads_shell": evidence_threads_and_shell,
}


def test_evidence_names_real_cases():
    unknown = set(EVIDENCE) - set(by_name())
    assert not unknown, f"EVIDENCE names cases that do not exist: {unknown}"


def test_corpus_is_large_enough():
    hostile = [c for c in CASES if not c.honest]
    assert len(hostile) >= 25 and len({c.name for c in CASES}) == len(CASES)
    assert len([c for c in CASES if c.honest]) >= 6


# ------------------------------------------------------------------ across the class
def test_run_finished_with_a_row_for_every_submission(run: Run):
    missing = [c.name for c in CASES if run.key(c) not in run.report.scores]
    assert not missing, f"no gradebook row for: {missing}"
    assert run.result.crashed == [], f"submissions whose worker died: {run.result.crashed}"
    assert sorted(run.results) == sorted(run.key(c) for c in CASES)


def test_no_process_of_a_grading_user_survives(run: Run):
    assert run.after["uids"], f"no {USER_PREFIX}* users exist: the kernels did not run as unprivileged users"
    assert not run.after["alive_at_end"], f"alive when the run returned: {run.after['alive_at_end']}"
    assert not run.after["alive_after_wait"], f"alive {BACKGROUND_DELAY + 5} s later: {run.after['alive_after_wait']}"


def test_lesson_sources_unchanged(run: Run):
    assert run.after["sources"] == run.before["sources"], "the course's source notebooks (hidden tests) changed"
    assert run.after["solutions"] == run.before["solutions"], "the solutions folder graded against changed"


def test_gradebook_is_consistent(run: Run):
    facts = gradebook_facts(run.course / "gradebook.db")
    assert facts["integrity"] == "ok"
    assert "pwned" not in facts["tables"]
    for key, cells in run.grades.items():
        assert run.report.scores[key] == pytest.approx(sum(c.score for c in cells.values()))
        lesson_max = sum(c.max_score for c in cells.values())
        assert lesson_max == pytest.approx(run.ctx.full(key[1])), f"{key}: max score {lesson_max}"


def test_notes_csv_matches_the_report(run: Run):
    assert (run.course / "reports" / "notes.csv").exists(), "make_report wrote no reports/notes.csv"
    rows = set()
    for r in run.notes_csv:  # the note column holds "code: message", or the message next to a code column
        note = r["note"]
        if r.get("code") and not note.startswith(r["code"] + ":"):
            note = f"{r['code']}: {note}"
        rows.add((r["student"], r["lesson"], note))
    expected = {(s, l, n) for (s, l), notes in getattr(run.report, "notes", {}).items() for n in notes}
    assert rows == expected
