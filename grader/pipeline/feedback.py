"""``grader feedback``: HTML feedback per student and lesson, without hidden tests.

Built on nbgrader's ``GenerateFeedback`` converter (its HTML template, its
``GetGrades`` scores from the gradebook) with one more preprocessor in front,
:class:`StripHiddenTests`, because nbgrader shows hidden tests in feedback
(jupyter/nbgrader#917).  It removes, from every grade cell,

* the hidden-test regions of the source (replaced by a one-line notice), and
* every output line that quotes a hidden-test line: traceback context lines
  (``----> 4 assert ...``), stream text, plain and HTML data.

The messages of failed checks stay: they are meant for the student.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List

from .outputs import strip_ansi
from .regions import BEGIN_HIDDEN, END_HIDDEN, MARKERS, is_significant, regions_in_source, strip_regions

HIDDEN_NOTICE = "# (hidden tests: not shown in feedback)"
REDACTED = "(hidden test line not shown)"
#: An IPython traceback context line: optional arrow, line number, code.
_CONTEXT = re.compile(r"^(\s*(?:-+>)?\s*\d+\s)(.*)$")


@dataclass
class HiddenText:
    """The hidden-test lines of one lesson."""

    all_lines: set[str] = field(default_factory=set)  # every stripped hidden line
    significant: set[str] = field(default_factory=set)  # those worth a substring search

    @classmethod
    def of_notebook(cls, nb) -> HiddenText:
        found = cls()
        for cell in nb.cells:
            for region in regions_in_source(cell.source, BEGIN_HIDDEN, END_HIDDEN):
                for line in region:
                    if line.strip():
                        found.all_lines.add(line.strip())
                        if is_significant(line):
                            found.significant.add(line.strip())
        return found


def redact(text: str, hidden: HiddenText) -> str:
    """``text`` with every line that quotes hidden-test source replaced by a notice."""
    out = []
    for line in text.split("\n"):
        plain = strip_ansi(line)
        m = _CONTEXT.match(plain)
        if any(marker in plain for marker in MARKERS):
            out.append((m.group(1) if m else "") + REDACTED)
        elif m and m.group(2).strip() in hidden.all_lines:
            out.append(m.group(1) + REDACTED)
        elif any(secret in plain for secret in hidden.significant):
            out.append(REDACTED)
        else:
            out.append(line)
    return "\n".join(out)


def _redact_value(value, hidden: HiddenText):
    if isinstance(value, list):
        return [redact(v, hidden) if isinstance(v, str) else v for v in value]
    if isinstance(value, str):
        return redact(value, hidden)
    return value


def strip_hidden(cell, hidden: HiddenText) -> None:
    """Remove hidden-test source and quotes of it from one cell, in place."""
    if cell.cell_type != "code":
        return
    if any(m in cell.source for m in (BEGIN_HIDDEN, END_HIDDEN)):
        cell.source = strip_regions(cell.source, BEGIN_HIDDEN, END_HIDDEN, replacement=HIDDEN_NOTICE)
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream":
            output["text"] = _redact_value(output.get("text", ""), hidden)
        elif kind == "error":
            output["traceback"] = [redact(t, hidden) for t in output.get("traceback", [])]
            output["evalue"] = redact(str(output.get("evalue", "")), hidden)
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            for mime in ("text/plain", "text/html", "text/markdown", "text/latex"):
                if mime in data:
                    data[mime] = _redact_value(data[mime], hidden)


class StripHiddenTests(NbGraderPreprocessor):
    """nbgrader preprocessor: :func:`strip_hidden` on every cell, using the lesson's source."""

    # shared config of nbconvert's preprocessors; declared so traitlets does not warn
    display_data_priority = List([]).tag(config=True)

    def preprocess(self, nb, resources):
        lesson = resources["nbgrader"]["assignment"]
        notebook = resources["nbgrader"]["notebook"]
        owner = self.parent
        while owner is not None and getattr(owner, "coursedir", None) is None:
            owner = getattr(owner, "parent", None)
        if owner is None:
            raise RuntimeError("StripHiddenTests must run inside an nbgrader converter (no coursedir found)")
        coursedir = owner.coursedir
        path = Path(coursedir.root) / coursedir.source_directory / lesson / f"{notebook}.ipynb"
        source_nb = nbformat.read(str(path), as_version=4)
        hidden = HiddenText.of_notebook(source_nb)
        lesson_text = {c.source for c in source_nb.cells if c.cell_type in ("markdown", "raw")}
        for cell in nb.cells:
            strip_hidden(cell, hidden)
            if cell.cell_type in ("markdown", "raw") and cell.source not in lesson_text:
                cell.source = sanitize_markdown(cell.source)  # written by the student: data, not page code
            if cell.cell_type == "raw":
                cell.cell_type = "markdown"  # a raw cell is passed to HTML untouched: render it as (clean) text
            if cell.cell_type == "code":
                sanitize_outputs(cell)
        return nb, resources


#: Output types a page would run or that can carry code (dropped), and those kept as cleaned HTML.
_DROPPED_MIME = ("application/javascript", "text/javascript", "image/svg+xml", "application/vnd.jupyter.widget-view+json")


def sanitize_outputs(cell) -> None:
    """A student's rich outputs made inert: HTML and markdown cleaned, script-like types dropped."""
    for out in cell.get("outputs", []):
        data = out.get("data")
        if not data:
            continue
        for mime in list(data):
            if mime in _DROPPED_MIME:
                del data[mime]
                data.setdefault("text/plain", f"[{mime} output removed from the feedback page]")
            elif mime == "text/html":
                data[mime] = _clean(data[mime] if isinstance(data[mime], str) else "".join(data[mime]))
            elif mime == "text/markdown":
                data[mime] = sanitize_markdown(data[mime] if isinstance(data[mime], str) else "".join(data[mime]))


#: Tags and attributes a student's markdown may keep in the feedback page (no script, style, iframe, form,
#: no event handlers, links only to http(s) and mailto).
_SAFE_TAGS = ["a", "abbr", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
              "i", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
              "tr", "ul"]
_SAFE_ATTRIBUTES = {"a": ["href", "title"], "*": ["class"]}


def sanitize_markdown(text: str) -> str:
    """A student's markdown as safe HTML: rendered, then cleaned by bleach (what nbconvert uses for outputs)."""
    from nbconvert.filters.markdown import markdown2html

    return _clean(markdown2html(text))


def _clean(html_text: str) -> str:
    import bleach

    return bleach.clean(html_text, tags=_SAFE_TAGS, attributes=_SAFE_ATTRIBUTES,
                        protocols=["http", "https", "mailto"], strip=True)


#: Long output lines wrap inside the page (a hint at the end of a long line stays visible).
WRAP_CSS = """<style type="text/css">
/* grader.pipeline.feedback: wrap long lines instead of running past the right edge */
div.output_area pre, div.output_subarea pre, div.output_text pre, div.input_area pre, div.highlight pre {
  white-space: pre-wrap;
  overflow-wrap: anywhere;
  word-break: break-word;
}
div.output_area, div.output_subarea { overflow-x: visible; max-width: 100%; }
</style>
"""
_TOC_TEST = re.compile(r'<a href="#(?P<gid>[^"]+)">Test cell</a>')
_HEADING_TEST = re.compile(r'Grade cell: <code>(?P<gid>[^<]+)</code>')


def exercise_names(nb) -> dict[str, str]:
    """``{grade cell id: the exercise it checks}``: the solution cell before each grade cell."""
    out, exercise = {}, None
    for cell in nb.cells:
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        gid = meta.get("grade_id")
        if meta.get("solution") and gid:
            exercise = gid
        elif meta.get("grade") and gid:
            out[gid] = exercise or gid
    return out


def polish_html(page: str, nb) -> str:
    """nbgrader's feedback page with wrapping lines and each check named by its exercise.

    nbgrader's template lists every grade cell as "Test cell" and lets
    ``<pre>`` output run off the page; here the contents list and each grade
    cell's heading say "exercise <name>: checks <grade id>", and long lines wrap.
    """
    import html as html_mod

    names = exercise_names(nb)

    def label(gid: str) -> str:
        gid = html_mod.unescape(gid)
        exercise = names.get(gid, gid)
        return (f"Exercise <b>{html_mod.escape(exercise)}</b>: checks "
                f"<code>{html_mod.escape(gid)}</code>")

    page = _TOC_TEST.sub(lambda m: f'<a href="#{m.group("gid")}">{label(m.group("gid"))}</a>', page)
    page = _HEADING_TEST.sub(lambda m: label(m.group("gid")), page)
    return page.replace("</head>", WRAP_CSS + "</head>", 1)


@dataclass
class FeedbackReport:
    """What ``feedback`` wrote."""

    written: list[Path] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)


def _render(root: Path, items: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Run nbgrader's GenerateFeedback for ``items`` of one course; return (done, failed)."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import GetGrades

    from .worker import _Capture, load_course_config, share_engines, summarize_errors

    share_engines()
    cfg = load_course_config(root)
    cfg.CourseDirectory.root = str(root)
    cfg.GenerateFeedback.preprocessors = [StripHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
    cfg.GenerateFeedback.force = True
    # a student's outputs and markdown are data: no <script>, no on*= handlers, no javascript: links
    cfg.HTMLExporter.sanitize_html = True
    coursedir = CourseDirectory(config=cfg)
    converter = GenerateFeedback(coursedir=coursedir, config=cfg)
    capture = _Capture()
    converter.log.addHandler(capture)
    done, failed = [], []
    try:
        for student, lesson in items:
            coursedir.student_id, coursedir.assignment_id = student, lesson
            capture.records.clear()
            try:
                converter.start()
            except Exception:  # NbGraderException or a rendering bug: one file, not the run
                failed.append((student, lesson, summarize_errors(capture.records)))
                continue
            page = root / "feedback" / student / lesson / f"{lesson}.html"
            try:
                graded = nbformat.read(str(root / "autograded" / student / lesson / f"{lesson}.ipynb"), as_version=4)
                page.write_text(polish_html(page.read_text(encoding="utf-8"), graded), encoding="utf-8")
            except (OSError, ValueError) as exc:  # nbgrader's page stays as it is
                failed.append((student, lesson, f"written, but not polished: {type(exc).__name__}: {exc}"))
                continue
            done.append((student, lesson))
    finally:
        converter.log.removeHandler(capture)
    return done, failed


def generate_feedback(course_root: Path | str, force: bool = False, jobs: int | None = None) -> FeedbackReport:
    """Write ``feedback/<student>/<lesson>/<lesson>.html`` for every graded submission.

    A feedback file newer than its autograded notebook is left alone unless
    ``force``.  Rendering HTML costs about a second per notebook, so ``jobs``
    processes (default: the number of cores) share the work.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from .autograde import default_jobs
    from .merge import read_state
    from .register import gradebook_path

    root = Path(course_root).resolve()
    report = FeedbackReport()
    todo: list[tuple[str, str]] = []
    for (student, lesson), row in sorted(read_state(gradebook_path(root)).items()):
        graded = root / "autograded" / student / lesson / f"{lesson}.ipynb"
        target = root / "feedback" / student / lesson / f"{lesson}.html"
        if row.status != "graded":
            if target.exists():  # feedback of an earlier version that did grade
                target.unlink()
            continue
        if not graded.exists():
            continue
        if not force and target.exists() and target.stat().st_mtime >= graded.stat().st_mtime:
            report.unchanged += 1
            continue
        todo.append((student, lesson))
    n = max(1, min(jobs or default_jobs(), len(todo)))
    if n == 1:
        results = [_render(root, todo)] if todo else []
    else:
        chunks = [todo[k::n] for k in range(n)]
        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_render, [root] * n, chunks))
    for done, failed in results:
        report.written += [root / "feedback" / s / l / f"{l}.html" for s, l in done]
        report.failed += failed
    report.written.sort()
    return report
