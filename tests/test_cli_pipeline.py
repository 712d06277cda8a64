"""The instructor pipeline on a small class: autograde, rerun, force, feedback, report.

The class is the sample class of ``grader.pipeline.sample_class`` built on the toy
lesson of ``grader.pipeline.toy`` (12 students: every kind of submission once), so
these tests do not depend on the real lessons; ``test_cli_demo.py`` runs the
real ones.
"""
from __future__ import annotations

import csv
import html
import io
import re
import subprocess
import sys
from types import SimpleNamespace

import nbformat
import pytest

from grader.pipeline.autograde import autograde
from grader.pipeline.course import find_lessons
from grader.pipeline.feedback import generate_feedback
from grader.pipeline.gradebook import read_grades, total
from grader.pipeline.merge import read_state, snapshot
from grader.pipeline.regions import MARKERS
from grader.pipeline.register import register
from grader.pipeline.report import make_report, table
from grader.pipeline.sample_class import expected_scores, load_lesson, plan_class, submission_bytes
from grader.pipeline.toy import TOY_HIDDEN_LINE, write_toy_lesson


def _grade(course, solutions, **kw):
    stream = io.StringIO()
    report = autograde(course, solutions, jobs=2, progress_stream=stream, progress_tty=False, **kw)
    return report, stream.getvalue()


@pytest.fixture(scope="module")
def toy_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    solutions = root / "solutions"
    write_toy_lesson(solutions)
    course = root / "course"
    register(course, solutions)
    lessons = {
        lesson.name: load_lesson(lesson, course / "lessons" / lesson.name / f"{lesson.name}.ipynb")
        for lesson in find_lessons(solutions)
    }
    plan = plan_class(list(lessons.values()), students=12, every_lesson=True)
    for item in plan:
        data = submission_bytes(item, lessons[item.lesson])
        if data is not None:
            path = course / "submitted" / item.student / item.lesson / f"{item.lesson}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    first, progress = _grade(course, solutions)
    after_first = snapshot(course)
    second, _ = _grade(course, solutions)
    return SimpleNamespace(
        root=root, course=course, solutions=solutions, plan=plan, lessons=lessons,
        expected=expected_scores(plan, lessons), first=first, progress=progress,
        after_first=after_first, second=second,
    )


def test_every_kind_of_submission_is_in_the_class(toy_class):
    kinds = {item.kind for item in toy_class.plan}
    assert kinds == {"complete", "blank", "partial", "bug", "exception", "invalid_json", "crash", "missing"}


def test_class_grades_to_its_expected_scores(toy_class):
    actual = {key: total(cells)[0] for key, cells in read_grades(toy_class.course / "gradebook.db").items()}
    assert actual == pytest.approx(toy_class.expected)
    assert len(actual) == 11  # one student submitted nothing


def test_broken_submissions_score_0_with_a_note_and_the_run_goes_on(toy_class):
    assert toy_class.first.failures == []
    assert len(toy_class.first.graded) == 11
    state = read_state(toy_class.course / "gradebook.db")
    assert {row.status for row in state.values()} == {"graded"}
    for p in toy_class.plan:
        if p.kind == "missing":
            continue
        notes = state[(p.student, p.lesson)].notes
        if p.kind == "invalid_json":
            assert any(n.startswith("unreadable:") and "not valid JSON" in n for n in notes), notes
        elif p.kind == "crash":
            assert any(n.startswith("kernel-died:") and "status 1" in n for n in notes), notes
            # the cell is named by where it is among the exercises (the crash cell comes before the first one)
            assert any("a code cell before the first exercise, cell 2" in n for n in notes), notes
        else:
            assert notes == (), (p, notes)


def test_progress_reports_done_total_failures_and_eta(toy_class):
    lines = toy_class.progress.strip().splitlines()
    assert lines[-1].startswith("grading [") and "11/11" in lines[-1] and "failures 0" in lines[-1]
    assert all("ETA" in line for line in lines)


def test_rerun_without_changes_regrades_nothing(toy_class):
    assert toy_class.second.graded == []
    assert toy_class.second.skipped == toy_class.first.submissions == 11
    assert snapshot(toy_class.course) == toy_class.after_first


def test_feedback_never_shows_hidden_test_source(toy_class):
    report = generate_feedback(toy_class.course)
    assert report.failed == []
    assert len(report.written) == 11  # every submission, the broken ones with their notes
    source = nbformat.read(str(toy_class.solutions / "00_toy" / "00_toy.ipynb"), as_version=4)
    hidden = [TOY_HIDDEN_LINE, "cases = cases + [7.5]"]
    assert all(any(h in c.source for c in source.cells) for h in hidden), "the toy lesson must have these hidden lines"
    kinds = {p.student: p.kind for p in toy_class.plan}
    saw_message = False
    for path in report.written:
        text = html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))
        for line in hidden:
            assert line not in text, f"{path} shows hidden test source {line!r}"
        assert not any(m in text for m in MARKERS), f"{path} shows a hidden-test delimiter"
        assert "square(2) == 4" in text, f"{path} lost the visible test"
        student = path.parent.parent.name
        if kinds[student] == "bug":
            # the checker reports the failing hidden check by its message; no source line travels with it
            saw_message = saw_message or "square: hidden case square(5) should be 25" in text
    assert saw_message, "a buggy square() should fail the hidden check and show its message, not its source"
    again = generate_feedback(toy_class.course)
    assert again.written == [] and again.unchanged == 11


def test_feedback_names_exercises_and_wraps_long_lines(toy_class):
    pages = sorted((toy_class.course / "feedback").rglob("*.html"))
    assert pages, "test_feedback_never_shows_hidden_test_source writes them"
    for path in pages:
        page = path.read_text()
        assert ">Test cell<" not in page and "Grade cell:" not in page
        # contents list and each grade cell's heading: the exercise, then the grade cell's id
        for exercise, gid in (("square", "test_square"), ("grad_square", "test_grad_square")):
            label = f"Exercise <b>{exercise}</b>: checks <code>{gid}</code>"
            assert page.count(label) == 2, (path, label)
        head = page.split("</head>")[0]
        assert "white-space: pre-wrap" in head and "overflow-wrap: anywhere" in head
        assert head.rindex("white-space: pre-wrap") > head.rindex("<style"), "the wrap rule must come last"


def test_lms_export_has_a_row_per_student_and_a_column_per_lesson(toy_class, tmp_path):
    grades = read_grades(toy_class.course / "gradebook.db")
    students = sorted({s for s, _ in grades})
    canvas = tmp_path / "canvas.csv"
    proc = subprocess.run([sys.executable, "-m", "grader", "export", "--course", str(toy_class.course),
                           "--to", str(canvas)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"wrote {canvas}: {len(students)} students x 1 lessons, canvas format" in proc.stdout
    # nbgrader's own exporter in the course folder uses the plugin (the course's nbgrader_config.py selects it)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--LmsExportPlugin.lms=moodle"],
                          cwd=toy_class.course, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Using exporter: LmsExportPlugin" in proc.stderr + proc.stdout
    moodle = toy_class.course / "reports" / "lms_grades.csv"
    for lms, path in (("canvas", canvas), ("moodle", moodle)):
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        head, body = rows[0], rows[1:]
        if lms == "canvas":
            assert head == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "00_toy", "Total"]
            assert body[0] == ["Points Possible", "", "", "", "", "5", "5"]
            body = body[1:]
            ids = [r[2] for r in body]
            assert [r[3] for r in body] == ids
        else:
            assert head == ["ID number", "Email address", "First name", "Last name", "00_toy", "Total"]
            ids = [r[0] for r in body]
        assert ids == students  # one row per student of the gradebook
        for sid, row in zip(ids, body):
            score = total(grades[(sid, "00_toy")])[0]
            assert float(row[-2]) == pytest.approx(score) and float(row[-1]) == pytest.approx(score)


def test_report_files_and_table(toy_class):
    report = make_report(toy_class.course)
    with open(report.csv_path) as f:
        rows = list(csv.DictReader(f))
    assert {r["student"] for r in rows} == {p.student for p in toy_class.plan if p.kind != "missing"}
    for r in rows:
        assert float(r["score"]) == pytest.approx(toy_class.expected[(r["student"], r["lesson"])])
        assert float(r["max"]) == 5.0
    assert report.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = table(report)
    assert "total" in text and "0*" in text  # broken submissions are marked
    with open(report.notes_path) as f:
        noted = {(r["student"], r["code"]) for r in csv.DictReader(f)}
    kinds = {p.student: p.kind for p in toy_class.plan}
    assert {(s, c) for s, c in noted if kinds[s] in ("invalid_json", "crash")} == {
        (p.student, {"invalid_json": "unreadable", "crash": "kernel-died"}[p.kind])
        for p in toy_class.plan if p.kind in ("invalid_json", "crash")}
    failing = {g: n for _, g, n in report.failing_cells}
    assert failing.get("test_square", 0) >= 1 and failing.get("test_grad_square", 0) >= 1


def test_changed_submission_is_regraded_then_force_regrades_all(toy_class):
    blank = next(p for p in toy_class.plan if p.kind == "blank")
    done = next(p for p in toy_class.plan if p.kind == "complete")
    src = toy_class.course / "submitted" / done.student / done.lesson / f"{done.lesson}.ipynb"
    dst = toy_class.course / "submitted" / blank.student / blank.lesson / f"{blank.lesson}.ipynb"
    dst.write_bytes(src.read_bytes())
    changed, _ = _grade(toy_class.course, toy_class.solutions)
    assert [(r["student"], r["lesson"]) for r in changed.graded] == [(blank.student, blank.lesson)]
    assert total(read_grades(toy_class.course / "gradebook.db")[(blank.student, blank.lesson)])[0] == 5.0
    before = snapshot(toy_class.course)
    forced, _ = _grade(toy_class.course, toy_class.solutions, force=True)
    assert len(forced.graded) == 11 and forced.skipped == 0, (forced.crashed, forced.failures)
    assert snapshot(toy_class.course) == before


def test_score_plot_counts_on_integer_ticks_and_skips_lessons_nobody_submitted():
    import matplotlib.pyplot as plt

    from grader.pipeline.report import Report, score_figure

    report = Report(
        lessons=["01_a", "02_b", "03_c"], students=["s1", "s2", "s3"],
        max_scores={"01_a": 10.0, "02_b": 10.0, "03_c": 5.0},
        scores={("s1", "01_a"): 10.0, ("s2", "01_a"): 7.0, ("s3", "01_a"): 7.0, ("s1", "03_c"): 5.0},
        status={},
    )
    fig = score_figure(report)
    try:
        titles = [ax.get_title() for ax in fig.axes]
        assert titles == ["01_a (n=3)", "03_c (n=1)"]  # 02_b had no submission: no empty panel
        assert "1 lessons without submissions not shown" in fig._suptitle.get_text()
        for ax in fig.axes:
            ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
            assert ax.get_xlabel().startswith("score") and ax.get_ylabel() == "submissions"
    finally:
        plt.close(fig)
