"""``make demo``: the sample class grades to the scores its definition says.

Runs the whole demo (collect, autograde, feedback, report) on every lesson in
``solutions/`` (the toy lesson while there is none) and checks the gradebook
against expected scores recomputed here from the class definition.
"""
from __future__ import annotations

import io

import pytest

from grader.pipeline.course import DEFAULT_SOLUTIONS, find_lessons
from grader.pipeline.demo import run_demo
from grader.pipeline.gradebook import read_grades, total
from grader.pipeline.merge import read_state
from grader.pipeline.sample_class import NOTED, expected_scores, load_lesson, plan_class, planted_pairs
from grader.pipeline.toy import write_toy_lesson

STUDENTS = 12


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    solutions, every_lesson = DEFAULT_SOLUTIONS, False
    if not find_lessons(solutions):  # one toy lesson: every student hands it in
        solutions, every_lesson = root / "toy-solutions", True
        write_toy_lesson(solutions)
    out = io.StringIO()
    # half of make demo's 24 students (26 notebooks, still every kind of submission): the suite's time
    result = run_demo(root / "work", solutions, students=STUDENTS, every_lesson=every_lesson, out=out,
                      progress_tty=False)
    return result, solutions, every_lesson, out.getvalue()


def test_demo_gradebook_matches_the_class_definition(demo):
    result, solutions, every_lesson, _ = demo
    course = result.course
    lessons = {
        lesson.name: load_lesson(lesson, course / "lessons" / lesson.name / f"{lesson.name}.ipynb")
        for lesson in find_lessons(solutions)
    }
    plan = plan_class(list(lessons.values()), STUDENTS, every_lesson)
    expected = expected_scores(plan, lessons)
    actual = {key: total(cells)[0] for key, cells in read_grades(course / "gradebook.db").items()}
    kinds = {(p.student, p.lesson): f"{p.kind}/{p.detail}" for p in plan}
    wrong = {k: (kinds[k], expected.get(k), actual.get(k)) for k in set(expected) | set(actual)
             if expected.get(k) is None or actual.get(k) is None or abs(expected[k] - actual[k]) > 1e-9}
    assert not wrong, "(kind, expected, actual) of mismatching submissions:\n" + "\n".join(
        f"  {k}: {v}" for k, v in sorted(wrong.items()))
    assert len({p.student for p in plan}) == STUDENTS
    assert {p.kind for p in plan} >= {"complete", "blank", "partial", "bug", "invalid_json", "exception", "crash"}

    state = read_state(course / "gradebook.db")
    assert {key for key, row in state.items() if row.status == "error"} == set()
    for p in plan:
        if p.kind in NOTED:
            notes = state[(p.student, p.lesson)].notes
            assert any(n.startswith(NOTED[p.kind] + ":") for n in notes), (p, notes)


def test_demo_prints_gradebook_and_where_things_are(demo):
    result, _, _, text = demo
    assert "student" in text and "total" in text and "mean" in text
    assert "All " in text and "got exactly their expected score" in text
    assert str(result.report.plot_path) in text and result.report.plot_path.exists()
    graded = [k for k, r in read_state(result.course / "gradebook.db").items() if r.status == "graded"]
    assert len(result.feedback.written) == len(graded)
    assert result.collected.problems, "the inbox's malformed hand-ins must be reported"


def test_demo_names_its_folder_and_says_what_it_changes_before_it_starts(demo):
    import re

    from grader.pipeline.course import REPO_ROOT
    from grader.sandbox import is_root

    result, solutions, every_lesson, text = demo
    lines = text.splitlines()
    assert lines[0] == f"The demo writes everything to {result.root} (delete it when done, or run with --clean)"
    assert (result.root / ".grader-demo").is_file()
    before = text.split("1/5 collect")[0]
    if is_root():
        assert "Running as root, grading is sandboxed" in before
        assert re.search(r"grading users bpgrade0, bpgrade1\b", before)
        closing = next(line for line in lines if "chmod o-rwx" in line)
        for path in (REPO_ROOT / "solutions", REPO_ROOT / ".git", result.course):
            assert str(path.resolve()) in closing, (path, closing)
    else:
        assert "Not running as root: kernels run as you, without the sandbox" in before
    assert re.search(r"demo folder: .* \(\d+\.\d MB; delete it when done\)", text)


def test_demo_counts_add_up(demo):
    import re

    result, solutions, every_lesson, text = demo
    line = next(line for line in text.splitlines() if " students, " in line)
    m = re.fullmatch(r"\s*(\d+) students, (\d+) submissions of (\d+) lessons: (.*?)(?:; (\d+) not handed in)?", line)
    assert m, line
    students, submissions, lessons = int(m[1]), int(m[2]), int(m[3])
    kinds = dict((kind, int(n)) for n, kind in (part.split(" ") for part in m[4].split(", ")))
    assert students == STUDENTS and lessons == len(find_lessons(solutions))
    assert sum(kinds.values()) == submissions == len(result.expected)
    assert "missing" not in kinds
    assert submissions + int(m[5] or 0) == len(plan_class(
        [load_lesson(lesson, result.course / "lessons" / lesson.name / f"{lesson.name}.ipynb")
         for lesson in find_lessons(solutions)], STUDENTS, every_lesson))


def test_demo_similarity_flags_the_planted_copies_and_no_honest_pair(demo):
    """The demo's last step: ``grader similarity`` on the class; its summary names each flagged pair."""
    import re

    result, solutions, every_lesson, text = demo
    lessons = [load_lesson(lesson, result.course / "lessons" / lesson.name / f"{lesson.name}.ipynb")
               for lesson in find_lessons(solutions)]
    planted = planted_pairs(plan_class(lessons, STUDENTS, every_lesson))
    assert result.planted == planted
    if not every_lesson:
        assert all(len(planted.get(lesson.name, ())) == 2 for lesson in lessons), planted
    assert result.similarity_mismatches == [], result.similarity_mismatches
    flagged = {(m[1], frozenset((m[2], m[3])))
               for m in re.finditer(r"^  FLAGGED (\S+): (\S+) ~ (\S+)  score", text, flags=re.M) if m[3] != "course_lib"}
    assert flagged == {(lesson, pair) for lesson, pairs in planted.items() for pair in pairs}, text
    n = sum(len(pairs) for pairs in planted.values())
    assert f"All {n} planted copies flagged, and no honest pair" in text
    assert result.similarity.html_path == result.course / "reports" / "similarity.html"
    assert result.similarity.html_path.is_file() and str(result.similarity.html_path) in text
