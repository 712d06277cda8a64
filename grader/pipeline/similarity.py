"""``grader similarity``: exercise code that two students share, or that a student took from course_lib.

For every lesson the report compares, with copydetect's winnowing fingerprints
(Schleimer, Wilkerson and Aiken, SIGMOD 2003):

* every pair of submissions (``students``): the code each student typed into
  the lesson's solution cells, and nothing else of the notebook;
* every submission with the lesson's *reference* (``course_lib``): the source
  of the course_lib functions and classes that answer the exercises, as
  listed in ``solutions/<lesson>/references.json``.

copydetect tokenizes the code first (every name becomes ``V``, ``F`` or ``O``,
every string ``S``; comments and whitespace go), so renamed variables,
rewritten comments and re-indented lines do not hide a copy (``self`` and
builtins such as ``len`` stay as they are).  What every student starts with
does not count:

* in each solution cell, the lines of the released template (the ``def``
  line, the docstring, the stub) are diffed out (difflib), so no fingerprint
  straddles the docstring and the student's first line;
* every code cell of the released lesson (templates, given helpers, demos) is
  copydetect *boilerplate*: its fingerprints are removed from every document.

Two students are compared exercise by exercise (cell with cell); a student
with course_lib, each exercise with all of the reference code.  A pair's
``score`` is the larger of the two *shares*: the fraction of each side's
fingerprinted code inside a match (a student who copied one exercise of four
from a complete submission has a high share; the source of the copy a low
one).  A pair is flagged when the score reaches ``threshold`` and the matched
code is at least ``min_matched`` characters of tokenized code (a couple of
lines), so a one-line answer that happens to match is not a finding.  For
``course_lib`` only the student's share counts (the reference is much longer
than any answer).  Measured on the differently written correct answers of
grader/pipeline/styles (every lesson): honest pairs score at most 0.27, a copy with
every name and comment changed 0.80 to 1.00 (tests/test_similarity.py).

Output: ``similarity.html`` (flagged pairs with the matching code highlighted
side by side, and the closest unflagged pairs of each lesson) and
``similarity.csv`` (one row per compared pair) in ``<course>/reports/``.
A flag is a reason to read two submissions, not a verdict.
"""
from __future__ import annotations

import copy
import csv
import difflib
import html
import importlib
import inspect
import io
import itertools
import json
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import highlight_overlap

from . import intake
from .course import CourseError, Lesson, find_lessons
from .regions import BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION, strip_regions

#: nbgrader's stub for a cleared solution region (ClearSolutions.code_stub in nbgrader_config.py).
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
#: The name of the reference side of a ``course_lib`` comparison.
REFERENCE = "course_lib"
#: k of the k-grams: the shortest match that counts, in characters of tokenized code
#: (``Z.append(A[-1] @ W + b)`` is ``V.V(V[-1]@V+V)``, 14 characters). copydetect's default.
NOISE = 25
#: Flag a pair whose score (the larger share of matched code) reaches this.
THRESHOLD = 0.5
#: ...and whose matched code is at least this many characters of tokenized code.
MIN_MATCHED = 60
#: Characters of one exercise's code that are compared (the rest is ignored, and said so).
MAX_CODE_CHARS = 20_000
#: Unflagged pairs listed per lesson in the HTML report, closest first.
CLOSEST_SHOWN = 5


@dataclass(frozen=True)
class Part:
    """One exercise of a submission (or a lesson's reference code): its code and copydetect fingerprint."""

    exercise: str
    code: str
    fingerprint: CodeFingerprint


@dataclass(frozen=True)
class Document:
    """What one student wrote into a lesson's solution cells, one part per exercise (or the reference code)."""

    name: str  # student id, or REFERENCE
    lesson: str
    parts: tuple[Part, ...]
    reference: bool = False  # course_lib's code, not a student's

    @property
    def coverage(self) -> float:
        """Characters of tokenized code that take part in the comparison (boilerplate removed)."""
        return float(sum(p.fingerprint.token_coverage for p in self.parts))


@dataclass(frozen=True)
class Match:
    """One compared pair: two students, or a student and course_lib."""

    lesson: str
    first: str
    second: str  # a student id, or REFERENCE
    score: float  # what is flagged: max of the shares (students), the student's share (course_lib)
    first_share: float  # fraction of first's fingerprinted code found in second
    second_share: float
    matched: int  # characters of first's tokenized code inside a match
    flagged: bool
    kind: str  # "students", or REFERENCE when second is course_lib's code
    first_html: str = field(default="", repr=False)  # first's code, matches highlighted (flagged only)
    second_html: str = field(default="", repr=False)


@dataclass
class SimilarityReport:
    """Every comparison of the run, and where the files went."""

    lessons: list[str]
    submissions: dict[str, list[str]]  # lesson -> students compared
    matches: list[Match]
    notes: list[tuple[str, str, str]]  # (student, lesson, what of it was not compared, and why)
    threshold: float
    min_matched: int
    noise: int = NOISE
    html_path: Path | None = None
    csv_path: Path | None = None

    @property
    def flagged(self) -> list[Match]:
        return [m for m in self.matches if m.flagged]


# ----------------------------------------------------------------------------- reading code

def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _solution_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
    if meta.get("solution") and cell.get("cell_type") == "code" and isinstance(meta.get("grade_id"), str):
        return meta["grade_id"]
    return None


def released(source_nb) -> nbformat.NotebookNode:
    """The student version of a source notebook, as nbgrader's generate_assignment writes it.

    Solution regions become the code stub, hidden-test regions go; cell
    metadata (the grade ids) is kept.  Used as the boilerplate and to read
    submissions with :func:`grader.pipeline.intake.inspect`.
    """
    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        text = _source(cell)
        if BEGIN_SOLUTION in text:
            stubbed = []
            for line in strip_regions(text, BEGIN_SOLUTION, END_SOLUTION, replacement="\0").splitlines():
                if line.strip() == "\0":
                    indent = line[: len(line) - len(line.lstrip())]
                    stubbed += [indent + stub for stub in CODE_STUB]
                else:
                    stubbed.append(line)
            text = "\n".join(stubbed)
        cell.source = strip_regions(text, BEGIN_HIDDEN, END_HIDDEN)
    return nb


def boilerplate_code(released_nb) -> str:
    """Every code cell of the released lesson: what each student is given."""
    return "\n\n".join(_source(c) for c in released_nb.cells if c.get("cell_type") == "code")


def added_lines(template: str, answer: str) -> str:
    """The lines of ``answer`` that are not the ``template``'s (a line diff, difflib), dedented.

    Dropping the released ``def`` line, docstring and stub before fingerprinting
    keeps every fingerprint inside what the student wrote: a k-gram that
    straddles the docstring and a student's first line would otherwise match
    every student who starts the same way (``return (``).
    """
    t, a = template.splitlines(), answer.splitlines()
    matcher = difflib.SequenceMatcher(None, [x.strip() for x in t], [x.strip() for x in a], autojunk=False)
    kept = [line for tag, _, _, j1, j2 in matcher.get_opcodes() if tag in ("replace", "insert") for line in a[j1:j2]]
    return textwrap.dedent("\n".join(kept)).strip("\n")


def exercise_code(nb, templates: dict[str, str]) -> dict[str, str]:
    """``{exercise: code}``: what the student wrote into each solution cell of ``templates`` (grade id -> released text).

    The notebook's first cell with the exercise's grade id counts; a missing
    solution cell contributes nothing.
    """
    found: dict[str, str] = {}
    for cell in nb.cells:
        gid = _solution_id(cell)
        if gid in templates and gid not in found:
            found[gid] = added_lines(templates[gid], _source(cell))
    return {gid: found[gid] for gid in templates if gid in found}


def _resolve(dotted: str):
    """The object named ``dotted`` (``course_lib.mlp.mlp_forward``): the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"no module in {dotted!r}")


def reference_code(lesson: Lesson) -> str:
    """The source of the course_lib objects of the lesson's ``references.json`` (each once)."""
    path = lesson.folder / "references.json"
    if not path.exists():
        return ""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        names = list(dict.fromkeys(name for entry in entries for name in entry["references"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise CourseError(f"{path}: expected a JSON list of {{'exercise', 'grade_ids', 'references'}} "
                          f"objects ({exc})") from None
    parts = []
    for name in names:
        try:
            parts.append(f"# ---- {name}\n{inspect.getsource(_resolve(name))}")
        except (ImportError, AttributeError, TypeError, OSError) as exc:
            raise CourseError(f"{path}: cannot read the source of {name!r} ({exc})") from None
    return "\n\n".join(parts)


def fingerprint(name: str, code: str, noise: int = NOISE, boilerplate=None) -> CodeFingerprint:
    """copydetect's tokenized, winnowed fingerprint of Python ``code`` minus the ``boilerplate`` hashes."""
    return CodeFingerprint(f"{name}.py", noise, 1, boilerplate=boilerplate, language="python",
                           fp=io.StringIO(code))


def document(name: str, lesson: str, codes: dict[str, str], noise: int = NOISE, boilerplate=None,
             reference: bool = False) -> Document:
    """A :class:`Document` of ``{exercise: code}``; a student's parts start with a comment naming the exercise."""
    parts = []
    for exercise, code in codes.items():
        text = code if reference else f"# ---- {exercise}\n{code}\n"
        parts.append(Part(exercise, text, fingerprint(f"{name}_{exercise}", text, noise, boilerplate)))
    return Document(name, lesson, tuple(parts), reference)


# ----------------------------------------------------------------------------- comparing

def _merge(slices: list[np.ndarray]) -> np.ndarray:
    """Overlapping or touching ``(2, n)`` start/end slices merged into one sorted ``(2, m)`` array."""
    spans = sorted((int(s), int(e)) for sl in slices if sl.size for s, e in zip(sl[0], sl[1]))
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return np.array(merged, dtype=np.int64).T if merged else np.zeros((2, 0), dtype=np.int64)


def _highlight(code: str, slices: np.ndarray, truncate: int = -1) -> str:
    if slices.size == 0:  # copydetect warns and returns the text unescaped
        return html.escape(code)
    marked, _ = highlight_overlap(code, slices, "<mark>", "</mark>", truncate=truncate, escape_html=True)
    return marked


def compare(first: Document, second: Document, threshold: float = THRESHOLD,
            min_matched: int = MIN_MATCHED) -> Match:
    """Compare two documents of one lesson, exercise by exercise (a student with all of the reference).

    Returns the :class:`Match`, with both sides' code highlighted when it is flagged.
    """
    to_reference = second.reference
    theirs = {p.exercise: p for p in second.parts}
    matched1 = matched2 = 0.0
    first_slices: dict[str, np.ndarray] = {}
    second_slices: dict[str, list[np.ndarray]] = {}
    for part in first.parts:
        other = second.parts[0] if to_reference else theirs.get(part.exercise)
        if other is None:
            continue
        overlap, (sim1, sim2), (slices1, slices2) = compare_files(part.fingerprint, other.fingerprint)
        if overlap == 0:
            continue
        matched1 += float(overlap)
        matched2 += float(sim2) * other.fingerprint.token_coverage
        first_slices[part.exercise] = slices1
        second_slices.setdefault(other.exercise, []).append(slices2)
    share1 = matched1 / first.coverage if first.coverage else 0.0
    share2 = matched2 / second.coverage if second.coverage else 0.0
    score = share1 if to_reference else max(share1, share2)
    flagged = bool(score >= threshold and matched1 >= min_matched)
    first_html = second_html = ""
    if flagged:
        empty = np.zeros((2, 0), dtype=np.int64)
        first_html = "\n".join(_highlight(p.code, first_slices.get(p.exercise, empty)) for p in first.parts)
        # the reference is long: only the lines around its matches
        second_html = "\n".join(_highlight(p.code, _merge(second_slices.get(p.exercise, [])), 4 if to_reference else -1)
                                for p in second.parts)
    return Match(first.lesson, first.name, second.name, float(score), float(share1), float(share2), int(matched1), flagged,
                 REFERENCE if to_reference else "students", first_html, second_html)


def _submissions(course: Path, lesson: Lesson, released_nb, templates: dict[str, str], boilerplate,
                 noise: int) -> tuple[list[Document], list[tuple[str, str, str]]]:
    docs, notes = [], []
    for folder in sorted((course / "submitted").iterdir()):
        if folder.name.startswith(".") or folder.is_symlink() or not folder.is_dir():
            continue
        sub = folder / lesson.name
        if sub.is_symlink() or not sub.is_dir():
            continue
        seen = intake.inspect(sub, lesson.name, released_nb)
        if seen.notebook is None:
            # intake's notes speak of grading ("...: 0 points"); here only what happened counts
            why = "; ".join(re.sub(r"[:;,]?\s*0 points\.?$", "", note) for note in seen.notes)
            notes.append((folder.name, lesson.name, why or "no readable notebook"))
            continue
        codes = exercise_code(seen.notebook, templates)
        for exercise, code in codes.items():
            if len(code) > MAX_CODE_CHARS:
                codes[exercise] = code[:MAX_CODE_CHARS]
                notes.append((folder.name, lesson.name, f"exercise {exercise}: only the first {MAX_CODE_CHARS} "
                                                          f"of {len(code)} characters were compared"))
        docs.append(document(folder.name, lesson.name, codes, noise, boilerplate))
    return docs, notes


def compare_lesson(course: Path, lesson: Lesson, threshold: float = THRESHOLD, min_matched: int = MIN_MATCHED,
                   noise: int = NOISE) -> tuple[list[str], list[Match], list[tuple[str, str, str]]]:
    """Every pair of ``lesson``'s submissions in ``course``, and each with course_lib's reference code.

    Returns ``(students, matches, notes)``; matches are sorted by score, highest first.
    """
    released_nb = released(nbformat.read(str(lesson.notebook), as_version=4))
    templates = {gid: _source(c) for c in released_nb.cells if (gid := _solution_id(c))}
    boilerplate = np.array(sorted(fingerprint("template", boilerplate_code(released_nb), noise).hashes))
    docs, notes = _submissions(course, lesson, released_nb, templates, boilerplate, noise)
    matches = [compare(a, b, threshold, min_matched) for a, b in itertools.combinations(docs, 2)]
    ref_code = reference_code(lesson)
    if ref_code:
        ref = document(REFERENCE, lesson.name, {REFERENCE: ref_code}, noise, boilerplate, reference=True)
        matches += [compare(doc, ref, threshold, min_matched) for doc in docs]
    matches.sort(key=lambda m: (-m.score, m.first, m.second))
    return [d.name for d in docs], matches, notes


def similarity(course: Path | str, solutions: Path | str, lesson: str | None = None, out: Path | str | None = None,
               threshold: float = THRESHOLD, min_matched: int = MIN_MATCHED, noise: int = NOISE) -> SimilarityReport:
    """Compare the submissions of every lesson (or of ``lesson``) and write the HTML and CSV reports.

    Args:
        course: the course folder (``submitted/<student>/<lesson>/<lesson>.ipynb``).
        solutions: the source notebooks (``<lesson>/<lesson>.ipynb`` and ``references.json``).
        lesson: one lesson's folder name; None: every lesson with submissions.
        out: the HTML report (default ``<course>/reports/similarity.html``); the CSV goes next to it.
        threshold: flag a pair whose score reaches this, in (0, 1].
        min_matched: ...and whose matched tokenized code is at least this many characters.
        noise: the shortest match that counts (copydetect's noise threshold), in tokenized characters.
    Returns:
        the report, with the paths of the files written.
    """
    course = Path(course)
    if not 0 < threshold <= 1:
        raise CourseError(f"--threshold: expected a share in (0, 1], got {threshold}")
    if min_matched < 0 or noise < 5:
        raise CourseError(f"expected min_matched >= 0 and noise >= 5, got {min_matched} and {noise}")
    if not course.is_dir():
        raise CourseError(f"no course folder {course} (expected the folder that `grader collect` fills, "
                          f"with submitted/<student>/<lesson>/<lesson>.ipynb; pass --course or set GRADER_COURSE)")
    if not (course / "submitted").is_dir():
        raise CourseError(f"{course} has no submitted/ folder, so there is nothing to compare "
                          f"(run `python -m grader collect PATH --course {course}` first)")
    lessons = find_lessons(solutions)
    if not lessons:
        raise CourseError(f"no lesson (NN_name/NN_name.ipynb) in {solutions}")
    if lesson is not None:
        by_name = {x.name: x for x in lessons}
        if lesson not in by_name:
            raise CourseError(f"unknown lesson {lesson!r} (lessons: {', '.join(by_name)})")
        lessons = [by_name[lesson]]
    report = SimilarityReport([], {}, [], [], threshold, min_matched, noise)
    for item in lessons:
        students, matches, notes = compare_lesson(course, item, threshold, min_matched, noise)
        report.notes += notes
        if not students:
            continue
        report.lessons.append(item.name)
        report.submissions[item.name] = students
        report.matches += matches
    html_path = Path(out) if out is not None else course / "reports" / "similarity.html"
    html_path.parent.mkdir(parents=True, exist_ok=True)
    report.html_path = write_html(report, html_path)
    report.csv_path = write_csv(report, html_path.with_suffix(".csv"))
    return report


# ----------------------------------------------------------------------------- writing

CSV_COLUMNS = ("lesson", "pair", "first", "second", "kind", "score", "first_share", "second_share",
               "matched_chars", "flagged")


def write_csv(report: SimilarityReport, path: Path) -> Path:
    """One row per compared pair: lesson, pair, score, flagged (yes/no) and the details."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for m in report.matches:
            writer.writerow([m.lesson, f"{m.first} ~ {m.second}", m.first, m.second, m.kind, f"{m.score:.3f}",
                             f"{m.first_share:.3f}", f"{m.second_share:.3f}", m.matched,
                             "yes" if m.flagged else "no"])
    return path


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1500px; padding: 0 1em; }
table.pairs { border-collapse: collapse; margin-bottom: 1em; }
table.pairs td, table.pairs th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
tr.flagged td { background: #fde2e2; }
table.side { width: 100%; table-layout: fixed; border-collapse: collapse; }
table.side td { vertical-align: top; width: 50%; border: 1px solid #ccc; padding: 0.3em; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.85em; margin: 0; }
mark { background: #ffd27f; }
.note { color: #555; }
"""


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _row(m: Match) -> str:
    cls = ' class="flagged"' if m.flagged else ""
    cells = [m.first, m.second, _pct(m.score), _pct(m.first_share), _pct(m.second_share), str(m.matched),
             "yes" if m.flagged else "no"]
    return f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def _side_by_side(m: Match, number: int) -> str:
    esc = html.escape
    if m.kind == REFERENCE:
        title = (f"{esc(m.first)} and course_lib's reference code: {_pct(m.first_share)} of {esc(m.first)}'s "
                 f"exercise code is in course_lib")
    else:
        title = (f"{esc(m.first)} and {esc(m.second)}: {_pct(m.first_share)} of {esc(m.first)}'s exercise code "
                 f"is in {esc(m.second)}'s, {_pct(m.second_share)} the other way")
    return (f'<h4 id="{esc(m.lesson)}-{number}">{title}</h4>\n'
            f'<p class="note">{m.matched} characters of tokenized code in matching passages (highlighted)</p>\n'
            f'<table class="side"><tr><th>{esc(m.first)}</th><th>{esc(m.second)}</th></tr>\n'
            f'<tr><td><pre class="first">{m.first_html}</pre></td>'
            f'<td><pre class="second">{m.second_html}</pre></td></tr></table>\n')


def render_html(report: SimilarityReport) -> str:
    """The HTML report: per lesson, the flagged pairs side by side and a table of the closest pairs."""
    esc = html.escape
    flagged = report.flagged
    parts = [
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Similarity report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Similarity of exercise code</h1>",
        f"<p>{len(flagged)} flagged of {len(report.matches)} compared pairs in {len(report.lessons)} "
        f"lesson(s). Only the code of the solution cells is compared, after removing what the released lesson "
        f"gives every student; names, comments and whitespace do not count. A pair is flagged when one side has "
        f"at least {_pct(report.threshold)} of its code in matching passages of at least "
        f"{report.noise} characters of tokenized code each (names become V, F or O, strings S), and the passages "
        f"add up to at least {report.min_matched} such characters. "
        f"A flag is a reason to read both submissions, not a verdict.</p>",
    ]
    if report.notes:
        parts.append("<p>Not compared, or not in full:</p><ul>" + "".join(
            f"<li>{esc(s)}/{esc(lesson)}: {esc(why)}</li>" for s, lesson, why in report.notes) + "</ul>")
    head = ("<tr><th>first</th><th>second</th><th>score</th><th>first's share</th><th>second's share</th>"
            "<th>matched</th><th>flagged</th></tr>")
    for lesson in report.lessons:
        mine = [m for m in report.matches if m.lesson == lesson]
        hits = [m for m in mine if m.flagged]
        closest = [m for m in mine if not m.flagged][:CLOSEST_SHOWN]
        parts.append(f"<h2>{esc(lesson)}</h2>")
        parts.append(f"<p>{len(report.submissions[lesson])} submissions, {len(hits)} flagged pair(s).</p>")
        parts.append(f'<table class="pairs">{head}' + "".join(_row(m) for m in hits + closest) + "</table>")
        if closest:
            parts.append(f'<p class="note">The last {len(closest)} row(s): the closest pairs that are not flagged.</p>')
        for number, m in enumerate(hits, start=1):
            parts.append(_side_by_side(m, number))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_html(report: SimilarityReport, path: Path) -> Path:
    """Write :func:`render_html` to ``path``."""
    path.write_text(render_html(report), encoding="utf-8")
    return path


def summary(report: SimilarityReport) -> str:
    """What the command prints: the flagged pairs, then where the files are."""
    lines = [f"similarity: {len(report.flagged)} flagged of {len(report.matches)} compared pairs "
             f"({', '.join(report.lessons) or 'no submissions'})"]
    for m in report.flagged:
        lines.append(f"  FLAGGED {m.lesson}: {m.first} ~ {m.second}  score {_pct(m.score)} "
                     f"({m.matched} matched characters)")
    for student, lesson, why in report.notes:
        lines.append(f"  note {student}/{lesson}: {why}")
    lines.append(f"report: {report.html_path}")
    lines.append(f"table:  {report.csv_path}")
    return "\n".join(lines)
