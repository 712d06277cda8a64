"""Validation in JupyterLab, in a real browser: headless Chromium (Debian's ``chromium``) driven by playwright.

Two JupyterLab servers, one per environment (module fixtures, started once):

* the student's: the bundle installed in a fresh venv (tests/conftest.py ``student_venv``; no nbgrader),
  lessons copied by ``backprop-course lessons``.  The student adds the cell
  ``from grader.student_kit import validate; validate()`` at the end of the notebook, saves (Ctrl+S) and
  runs it (Shift+Enter); the report appears under the cell.
* a shared hub's: this course's venv, which has nbgrader, configured by ``backprop-course hub-setup``.
  nbgrader's Validate button shows our report (grader.student_kit.server_extension), not nbgrader's;
  nbgrader's instructor panels are gone.

Each test asserts on the text JupyterLab rendered, and on a screenshot (a PNG of the window's size, not
blank, with the report's area inside the window and not blank either).  Screenshots are written under
pytest's tmp folder; set ``BROWSER_SCREENSHOTS=DIR`` to keep copies (for the docs).

Chromium must be installed (``make test`` installs it as root: ``apt-get install chromium``); the test
fails, naming what to install, when it is not.  playwright drives it with its own bundled driver and
never downloads a browser.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest
from test_bundle import LESSON, _completed, _free_port, _grade_points, _student_env

from grader.pipeline.course import DEFAULT_LESSONS, DEFAULT_SOLUTIONS, REPO_ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: No GPU, no network beyond localhost, no first-run or update chatter, no sandbox (we run as root).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
VALIDATE_CELL = "from grader.student_kit import validate; validate()"
#: nbgrader's commands behind its instructor panels and student lists (its labextension's plugin ids differ).
NBGRADER_COMMANDS = ("nbgrader:open-formgrader", "nbgrader:open-formgrader-local", "nbgrader:open-create-assignment",
                     "nbgrader:open-assignment-list", "nbgrader:open-course-list")
NBGRADER_LABELS = ("Formgrader", "Create Assignment", "Assignment List", "Course List", "Nbgrader")
#: JupyterLab's "get notified about Jupyter news?" toast would sit over the screenshots.
QUIET_PLUGINS = ("@jupyterlab/apputils-extension:announcements",)
#: Seconds to wait for a report: lesson 02 runs in about 10 s; a loaded machine is slower (not an assertion).
REPORT_WAIT = int(os.environ.get("BROWSER_REPORT_WAIT", "300"))

BUG = next(b for b in json.loads((DEFAULT_SOLUTIONS / LESSON / "bugs.json").read_text()) if b["exercise"] == "mse_grad")


# ------------------------------------------------------------------ fixtures


def _lesson_notebooks(folder: Path) -> None:
    """``wrong.ipynb`` (every answer right but mse_grad's planted bug) and ``done.ipynb`` (all right) in ``folder``."""
    released = folder / f"{LESSON}.ipynb"
    _completed(released, folder / "done.ipynb")
    wrong = _completed(released, folder / "wrong.ipynb")
    nb = nbformat.read(str(wrong), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == BUG["exercise"])
    assert cell.source.count(BUG["find"]) == 1, f"the planted bug {BUG['find']!r} is not in {BUG['exercise']}"
    cell.source = cell.source.replace(BUG["find"], BUG["replace"])
    nbformat.write(nb, str(wrong))


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:  # not listening yet
        return 0


class Lab:
    """A ``jupyter lab`` server on a free localhost port, with token auth, serving ``root``."""

    def __init__(self, jupyter: Path, root: Path, home: Path, env: dict):
        self.root, self.token, self.port = root, "browser-test", _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "server.log"
        for plugin in QUIET_PLUGINS:  # user level: added to what hub-setup wrote there, if anything
            page_config = Path(env["JUPYTER_CONFIG_DIR"]) / "labconfig" / "page_config.json"
            config = json.loads(page_config.read_text()) if page_config.is_file() else {}
            config.setdefault("disabledExtensions", {})[plugin] = True
            page_config.parent.mkdir(parents=True, exist_ok=True)
            page_config.write_text(json.dumps(config))
        self.process = subprocess.Popen(
            [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: which commands exist
             "--ServerApp.open_browser=False"] + (["--allow-root"] if os.geteuid() == 0 else []),
            stdout=subprocess.DEVNULL, stderr=self.log.open("wb"), env=env, cwd=home)
        for _ in range(600):  # start-up (not a timing assertion: fail only if it never answers)
            if _http_status(f"{self.url}/api/status?token={self.token}") == 200:
                return
            if self.process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.5)
        self.stop()  # the fixture never yields it: stop it here
        pytest.fail(f"jupyter lab never answered on {self.url}:\n{self.log.read_text()[-3000:]}")

    def notebook_url(self, name: str) -> str:
        # reset: a fresh workspace, so the notebook a previous test opened is not restored next to it
        return f"{self.url}/lab/tree/{LESSON}/{name}?reset&token={self.token}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _lab_env(home: Path, base: dict) -> dict:
    env = dict(base, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), HOME=str(home), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    env.pop("JPY_SESSION_NAME", None)
    return env


@pytest.fixture(scope="module")
def student_lab(student_venv, tmp_path_factory):
    """JupyterLab of the student bundle's venv, on the lessons ``backprop-course lessons`` copied."""
    home = tmp_path_factory.mktemp("student-home")
    env = _lab_env(home, _student_env())
    copied = subprocess.run([str(student_venv / "bin" / "backprop-course"), "lessons", str(home / "backprop")],
                            capture_output=True, text=True, env=env, cwd=home)
    assert copied.returncode == 0, copied.stdout + copied.stderr
    _lesson_notebooks(home / "backprop" / LESSON)
    lab = Lab(student_venv / "bin" / "jupyter", home / "backprop", home, env)
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def hub_lab(tmp_path_factory):
    """JupyterLab of the course venv (nbgrader installed), set up by ``backprop-course hub-setup --level user``."""
    home = tmp_path_factory.mktemp("hub-home")
    # this checkout's grader, for the server extension, the kernel and the validate it starts
    env = _lab_env(home, dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])))
    setup = subprocess.run([sys.executable, "-m", "grader.student_kit", "hub-setup", "--level", "user"],
                           capture_output=True, text=True, env=env, cwd=home)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "disabled and locked JupyterLab plugin @jupyter/nbgrader:create-assignment" in setup.stdout, setup.stdout
    root = home / "work"
    shutil.copytree(DEFAULT_LESSONS / LESSON, root / LESSON)  # the released lesson
    _lesson_notebooks(root / LESSON)
    lab = Lab(Path(sys.executable).with_name("jupyter"), root, home, env)
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium (Debian's) under playwright, with a fresh profile."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"Chromium not found: expected an executable at {CHROMIUM} (set CHROMIUM=PATH), found none. "
                    "Install it: apt-get install -y chromium (`make test` does so when run as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright is not installed ({exc}): pip install -r requirements-dev.txt")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport=VIEWPORT)
        yield context
        context.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    yield page
    page.close()


# ------------------------------------------------------------------ helpers


def _open(page, url: str) -> None:
    page.goto(url)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=REPORT_WAIT * 1000)
    # the kernel is up when the status bar says Idle
    page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for(timeout=REPORT_WAIT * 1000)


def _add_and_run_validate_cell(page, saved: Path, tmp_path: Path):
    """As a student: a new cell at the end of the notebook, the validate line typed in, Ctrl+S, Shift+Enter.

    Returns:
        the locator of the cell's output once the report's score line is there.
    """
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.keyboard.press("Escape")  # command mode
    page.keyboard.press("Shift+End")  # the last cell becomes the active one
    page.keyboard.press("b")  # a new cell below it, active
    cell = page.locator(".jp-Notebook .jp-Cell.jp-mod-active")
    editor = cell.locator(".cm-content")
    editor.click()  # edit it (the click also brings it into view)
    page.keyboard.type(VALIDATE_CELL)
    cell.filter(has_text=VALIDATE_CELL).wait_for(timeout=30_000)
    page.keyboard.press("Control+s")
    page.keyboard.press("Shift+Enter")
    output = (page.locator(".jp-Notebook .jp-CodeCell").filter(has_text=VALIDATE_CELL)
              .locator(".jp-OutputArea-output").filter(has_text="score "))
    _wait(page, output, tmp_path)
    last = nbformat.read(str(saved), as_version=4).cells[-1]
    assert last.source == VALIDATE_CELL, f"expected the saved notebook to end with the validate cell, got {last.source!r}"
    return output


def _wait(page, locator, tmp_path: Path) -> None:
    """Wait for ``locator`` to show; if it never does, fail with a screenshot and what the page shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        locator.wait_for(timeout=REPORT_WAIT * 1000)
    except PlaywrightTimeout:
        shot = tmp_path / "timeout.png"
        page.screenshot(path=str(shot))
        active = page.locator(".jp-Notebook .jp-Cell.jp-mod-active")
        said = active.first.inner_text()[-2000:] if active.count() else page.locator("body").inner_text()[-2000:]
        pytest.fail(f"expected {locator} within {REPORT_WAIT} s; the page ({shot}) shows:\n{said}")


def _screenshot(page, region, name: str, tmp_path: Path) -> Path:
    """A screenshot of the window, checked: a PNG of the window's size, not blank, the report's region
    inside the window and not blank."""
    from PIL import Image

    region.scroll_into_view_if_needed()
    box = region.bounding_box()
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    with Image.open(path) as img:
        assert img.format == "PNG", f"{path}: expected a PNG, got {img.format}"
        assert img.size == (VIEWPORT["width"], VIEWPORT["height"]), f"{path}: expected {VIEWPORT}, got {img.size}"
        pixels = np.asarray(img.convert("L"), dtype=float)
    assert pixels.std() > 10, f"{path}: the screenshot is blank (pixel std {pixels.std():.1f})"
    assert box is not None and box["width"] > 200 and box["height"] > 100, f"the report's region is not shown: {box}"
    x0, y0 = max(int(box["x"]), 0), max(int(box["y"]), 0)
    x1, y1 = min(int(box["x"] + box["width"]), img.size[0]), min(int(box["y"] + box["height"]), img.size[1])
    assert x1 - x0 > 200 and y1 - y0 > 100, f"the report's region {box} is outside the {img.size} window"
    report = pixels[y0:y1, x0:x1]
    dark = (report < 128).mean()  # text: dark glyphs on a light background
    assert 0.005 < dark < 0.5, f"{path}: the report's region {box} holds no text (dark fraction {dark:.3f})"
    keep = os.environ.get("BROWSER_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(keep) / path.name)
    return path


def _verdicts(text: str) -> dict[str, str]:
    """``{grade_id: "PASS" | "FAIL"}`` from a report's check lines."""
    found = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] in ("PASS", "FAIL") and "/" in words[2]:
            found[words[1]] = words[0]
    return found


def _expected_wrong() -> dict[str, str]:
    points = _grade_points(nbformat.read(str(DEFAULT_LESSONS / LESSON / f"{LESSON}.ipynb"), as_version=4))
    return {gid: "FAIL" if gid in BUG["grade_ids"] else "PASS" for gid in points}


def _no_nbgrader_panels(page) -> None:
    """No nbgrader instructor panel, menu or command in this JupyterLab."""
    registered = page.evaluate("ids => ids.filter(id => window.jupyterapp.commands.hasCommand(id))",
                               list(NBGRADER_COMMANDS))
    assert registered == [], f"expected no nbgrader panel commands, found {registered}"
    menubar = page.locator(".lm-MenuBar-content").first.inner_text()
    assert "File" in menubar and "Nbgrader" not in menubar, f"menu bar: {menubar!r}"
    shown = page.locator("body").inner_text()
    titled = [label for label in NBGRADER_LABELS if page.locator(f'[title*="{label}"]').count()]
    assert not [label for label in NBGRADER_LABELS if label in shown] and not titled, \
        f"nbgrader panels shown: {[label for label in NBGRADER_LABELS if label in shown] + titled}"


# ------------------------------------------------------------------ the student's JupyterLab (the bundle)


def test_validate_cell_shows_fail_lines_and_hints_in_the_students_jupyterlab_without_nbgrader(
        student_lab, page, tmp_path):
    _open(page, student_lab.notebook_url("wrong.ipynb"))
    assert page.locator(".jp-NotebookPanel-toolbar").first.is_visible()
    assert page.locator(".validate-button").count() == 0, "nbgrader's Validate button in the student's JupyterLab"
    _no_nbgrader_panels(page)
    output = _add_and_run_validate_cell(page, student_lab.root / LESSON / "wrong.ipynb", tmp_path)
    text = output.inner_text()
    assert "validating the saved file wrong.ipynb" in text and "visible checks only" in text, text
    assert _verdicts(text) == _expected_wrong(), f"expected {_expected_wrong()}:\n{text}"
    failed = " ".join(text.split(f"FAIL  {BUG['grade_ids'][0]}")[1].split())
    assert BUG["quantity"] in failed and "Hint:" in failed, f"expected the failing cases and their hint:\n{text}"
    assert "score 9/10: some checks fail" in text, text
    _screenshot(page, output, "student-validate-cell-fail", tmp_path)


def test_validate_cell_gives_full_visible_marks_for_a_completed_lesson(student_lab, page, tmp_path):
    _open(page, student_lab.notebook_url("done.ipynb"))
    output = _add_and_run_validate_cell(page, student_lab.root / LESSON / "done.ipynb", tmp_path)
    text = output.inner_text()
    assert _verdicts(text) == {gid: "PASS" for gid in _expected_wrong()}, text
    assert "score 10/10: all checks pass" in text, text
    _screenshot(page, output, "student-validate-cell-pass", tmp_path)


# ------------------------------------------------------------------ a shared hub with nbgrader (hub-setup)


def _click_validate(page, tmp_path: Path):
    """nbgrader's Validate button on the notebook toolbar, then its "Validation Results" dialog."""
    button = page.locator(".jp-NotebookPanel-toolbar .validate-button")
    assert button.count() == 1, "expected nbgrader's Validate button on the notebook's toolbar"
    button.click()
    dialog = page.locator(".jp-Dialog-content")
    _wait(page, dialog.filter(has_text="Validation Results"), tmp_path)
    return dialog


def _grade_cell_lines() -> set[str]:
    """The test cells' source lines: what nbgrader's stock report would dump."""
    nb = nbformat.read(str(DEFAULT_LESSONS / LESSON / f"{LESSON}.ipynb"), as_version=4)
    return {line.strip() for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")
            for line in c.source.splitlines() if len(line.strip()) > 12}


def test_nbgraders_validate_button_shows_the_courses_report_and_no_instructor_panel(hub_lab, page, tmp_path):
    _open(page, hub_lab.notebook_url("wrong.ipynb"))
    _no_nbgrader_panels(page)
    dialog = _click_validate(page, tmp_path)
    text = dialog.inner_text()
    assert "visible checks only" in text, f"expected the course's report, got nbgrader's:\n{text}"
    assert _verdicts(text) == _expected_wrong(), text
    failed = " ".join(text.split(f"FAIL  {BUG['grade_ids'][0]}")[1].split())
    assert BUG["quantity"] in failed and "Hint:" in failed, f"expected the failing cases and their hint:\n{text}"
    assert "score 9/10: some checks fail" in text, text
    source = _grade_cell_lines()
    assert len(source) >= 4, source  # what nbgrader's stock dialog shows for a failed test cell
    dumped = sorted(line for line in source if line in text)
    assert not dumped, f"the dialog shows test-cell source (nbgrader's stock output): {dumped[:5]}"
    report = dialog.locator("pre").first
    width = report.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert width[0] <= width[1] + 1, f"the report's lines run past the dialog's edge: {width}"
    _screenshot(page, report, "hub-validate-button-fail", tmp_path)
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    page.locator(".jp-Dialog").wait_for(state="detached")


def test_hub_serves_no_nbgrader_instructor_urls(hub_lab):
    for url in ("/formgrader", "/assignments", "/courses"):  # their server extensions are off too
        status = _http_status(f"{hub_lab.url}{url}?token={hub_lab.token}")
        assert status == 404, f"expected 404 for {url} (nbgrader's instructor server extension disabled), got {status}"


def _post_validate(lab: Lab, path: str, token: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(f"{lab.url}/assignments/validate?path={urllib.parse.quote(path)}", data=b"",
                                     method="POST", headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=300) as reply:
            return reply.status, json.loads(reply.read().decode() or "{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def test_validate_url_needs_the_token_stays_in_the_root_and_names_a_notebook_of_no_lesson(hub_lab):
    stray = hub_lab.root / "notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), str(stray))
    status, _ = _post_validate(hub_lab, "notes.ipynb", None)
    assert status == 403, f"expected 403 without the token, got {status}"
    status, _ = _post_validate(hub_lab, "../../etc/passwd", hub_lab.token)
    assert status == 403, f"expected 403 for a path outside the server's folder, got {status}"
    status, reply = _post_validate(hub_lab, "notes.ipynb", hub_lab.token)
    assert status == 200 and reply["success"] is False, reply
    assert "cannot tell which lesson notes.ipynb is" in reply["value"] and LESSON in reply["value"], reply
