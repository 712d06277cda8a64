"""The student bundle: built from the released lessons, installed into a fresh venv without torch,
validating a completed lesson (full visible marks) and a blank one (0), holding nothing private.

One venv for the session (tests/conftest.py; its install is the cost: about a minute from pip's local wheels),
shared with tests/test_jupyterlab.py.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest
from jupyter_client import BlockingKernelClient

from grader.pipeline.bundle import BundleError, build_bundle, bundle_leaks
from grader.pipeline.course import DEFAULT_LESSONS, DEFAULT_SOLUTIONS, PRIVATE_FILES, find_lessons
from grader.pipeline.regions import MARKERS, public_lines, secret_lines, unmark_solution
from grader.pipeline.styles import alternatives
from grader.student_kit.check import cell_score, restore_grade_cells

LESSON = "02_general_case"  # ten points in four grade cells; its notebook runs in about 10 s


def _grade_points(nb) -> dict[str, float]:
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")}


@pytest.fixture(scope="module")
def wheel(student_wheel) -> Path:
    return student_wheel


@pytest.fixture(scope="module")
def venv(student_venv) -> Path:
    return student_venv


def _student_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "JPY_SESSION_NAME"}}
    env.update(extra)
    return env


# ------------------------------------------------------------------ contents (no venv needed)


def _member_lines(zf: zipfile.ZipFile, name: str) -> list[str]:
    text = zf.read(name).decode("utf-8", errors="replace")
    if name.endswith(".ipynb"):
        return [line for cell in json.loads(text)["cells"] for line in "".join(cell["source"]).splitlines()]
    return text.splitlines()


def test_bundle_holds_lessons_library_and_checks_but_nothing_private(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        hidden, solution, public = set(), set(), set()
        for lesson in find_lessons(DEFAULT_SOLUTIONS):
            source = nbformat.read(str(lesson.notebook), as_version=4)
            hidden |= secret_lines(source, ("hidden",))
            solution |= secret_lines(source, ("solution",))
            public |= public_lines(source)
            released = f"grader/student_kit/lessons/{lesson.name}/{lesson.name}.ipynb"
            assert released in names, f"{released} missing from the bundle; it holds {names}"
        for needed in ("course_lib/modules.py", "grader/protocol.py", "grader/checks/lesson02.py",
                       "grader/student_kit/check.py"):
            assert needed in names
        for name in names:
            parts = name.split("/")
            assert parts[-1] not in PRIVATE_FILES, f"instructor-only file {name} in the bundle"
            assert not {"solutions", "pipeline", "sandbox", "tests"} & set(parts[:-1]), f"{name} is instructor side"
            assert parts[-1] != "mutants.py", f"the mutation tool {name} is in the bundle"
            if name.endswith((".py", ".ipynb", ".md", ".txt", ".json")) or "dist-info" in name:
                lines = [line.strip() for line in _member_lines(zf, name)]
                assert not [l for l in lines if l in hidden], f"{name} holds hidden-test lines"
                if name.endswith(".ipynb"):
                    assert not [l for l in lines if any(m in l for m in MARKERS)], f"{name} holds region markers"
                if not name.startswith(("course_lib/", "grader/checks/")):  # reference code, see bundle.py
                    leaked = [l for l in lines if l in solution - public]
                    assert not leaked, f"{name} holds solution lines {leaked[:5]}"
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip().lower() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert not [r for r in requires if r.startswith("torch")], f"the bundle requires torch: {requires}"


def test_leak_scan_finds_a_planted_hidden_line_and_private_file(wheel, tmp_path):
    lesson = next(lesson for lesson in find_lessons(DEFAULT_SOLUTIONS) if lesson.name == LESSON)
    hidden_line = sorted(secret_lines(nbformat.read(str(lesson.notebook), as_version=4), ("hidden",)))[0]
    doctored = tmp_path / wheel.name
    shutil.copyfile(wheel, doctored)
    with zipfile.ZipFile(doctored, "a") as zf:
        zf.writestr("grader/student_kit/notes.py", f"if True:\n    {hidden_line}\n")
        zf.writestr(f"grader/student_kit/lessons/{LESSON}/bugs.json", "[]")
    problems = bundle_leaks(doctored, find_lessons(DEFAULT_SOLUTIONS))
    assert any("notes.py: hidden-test line" in p for p in problems), problems
    assert any("bugs.json: an instructor-only file" in p for p in problems), problems
    assert bundle_leaks(wheel, find_lessons(DEFAULT_SOLUTIONS)) == []


def test_leak_scan_finds_an_alternative_correct_answer(wheel, tmp_path):
    """The demo's answer styles (grader/pipeline/styles) are solutions: none is in the bundle, and the scan would
    find one that got in, by its path or by its lines."""
    with zipfile.ZipFile(wheel) as zf:
        assert not [n for n in zf.namelist() if "styles" in n.split("/") or n.split("/")[-1].startswith("alt_")]
    answer = alternatives(LESSON)["mlp_backward"][0][1]
    doctored = tmp_path / wheel.name
    shutil.copyfile(wheel, doctored)
    with zipfile.ZipFile(doctored, "a") as zf:
        zf.writestr("grader/student_kit/extra.py", answer)
        zf.writestr(f"grader/pipeline/styles/alt_{LESSON}.py", "ALTERNATIVES = {}\n")
    problems = bundle_leaks(doctored, find_lessons(DEFAULT_SOLUTIONS))
    assert any(p.startswith("grader/student_kit/extra.py: solution line") for p in problems), problems
    assert f"grader/pipeline/styles/alt_{LESSON}.py: not part of the student side" in problems, problems


def test_build_refuses_a_lesson_folder_with_a_private_file(tmp_path):
    lessons = tmp_path / "lessons"
    shutil.copytree(DEFAULT_LESSONS / LESSON, lessons / LESSON)
    (lessons / LESSON / "references.json").write_text("[]")
    with pytest.raises(BundleError, match="references.json: an instructor-only file"):
        build_bundle(lessons, find_lessons(DEFAULT_SOLUTIONS), tmp_path / "dist")
    assert not list((tmp_path / "dist").glob("*.whl")) if (tmp_path / "dist").exists() else True


# ------------------------------------------------------------------ scoring rules (in process)


def _cell(outputs):
    return nbformat.v4.new_code_cell("x", outputs=[nbformat.from_dict(o) for o in outputs])


@pytest.mark.parametrize("outputs, expected", [
    ([], 3.0),
    ([{"output_type": "execute_result", "data": {"text/plain": "1.5"}, "metadata": {}, "execution_count": 1}], 1.5),
    ([{"output_type": "execute_result", "data": {"text/plain": "'done'"}, "metadata": {}, "execution_count": 1}], 3.0),
    ([{"output_type": "execute_result", "data": {"text/plain": "4.0"}, "metadata": {}, "execution_count": 1}], None),
    ([{"output_type": "stream", "name": "stderr", "text": "warning"}], 0.0),
    ([{"output_type": "error", "ename": "AssertionError", "evalue": "", "traceback": []}], 0.0),
])
def test_cell_score_follows_nbgraders_rule(outputs, expected):
    assert cell_score(_cell(outputs), 3.0) == expected


def test_edited_and_deleted_grade_cells_are_restored_from_the_release():
    released = nbformat.read(str(DEFAULT_LESSONS / LESSON / f"{LESSON}.ipynb"), as_version=4)
    ids = list(_grade_points(released))
    nb = nbformat.read(str(DEFAULT_LESSONS / LESSON / f"{LESSON}.ipynb"), as_version=4)
    graded = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    graded[0].source = "print('PASS')\n3.0"
    nb.cells.remove(graded[1])
    to_run, points, notes = restore_grade_cells(nb, released)
    assert list(points) == ids
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in to_run.cells if c.metadata.get("nbgrader", {}).get("grade")}
    original = {c.metadata["nbgrader"]["grade_id"]: c.source for c in released.cells
                if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    assert {gid: c.source for gid, c in by_id.items()} == original
    assert to_run.cells[-1].metadata["nbgrader"]["grade_id"] == ids[1]
    assert notes == [f"check {ids[0]} was edited: the released check is run instead",
                     f"check {ids[1]} was missing: the released check is run at the end of the notebook"]


# ------------------------------------------------------------------ installed in a fresh venv


def test_student_venv_has_no_torch_and_no_instructor_side(venv):
    python = str(venv / "bin" / "python")
    probe = ("import importlib.util as u; "
             "print([m for m in ('torch', 'grader.pipeline', 'grader.sandbox', 'nbgrader') if u.find_spec(m)])")
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, env=_student_env(), cwd=venv)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"the student venv can import {out.stdout.strip()}"
    assert subprocess.run([python, "-m", "pip", "show", "--quiet", "torch"], capture_output=True).returncode != 0


def _completed(released_path: Path, out: Path) -> Path:
    """The released lesson with every solution cell filled in as a student would type it."""
    solution = nbformat.read(str(DEFAULT_SOLUTIONS / LESSON / f"{LESSON}.ipynb"), as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: unmark_solution(c.source) for c in solution.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    nb = nbformat.read(str(released_path), as_version=4)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in answers:
            cell.source = answers[gid]
    nbformat.write(nb, str(out))
    return out


def test_installed_bundle_validates_a_completed_lesson_with_full_visible_marks(venv, tmp_path):
    copied = subprocess.run([str(venv / "bin" / "backprop-course"), "lessons", str(tmp_path / "work")],
                            capture_output=True, text=True, env=_student_env(), cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    released = tmp_path / "work" / LESSON / f"{LESSON}.ipynb"
    # any file name: the notebook's metadata says which lesson it is
    homework = _completed(released, tmp_path / "work" / LESSON / "my homework.ipynb")
    run = subprocess.run([str(venv / "bin" / "backprop-course"), "validate", str(homework)],
                         capture_output=True, text=True, env=_student_env(), cwd=tmp_path)
    points = _grade_points(nbformat.read(str(released), as_version=4))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "visible checks only" in run.stdout and "hidden cases" in run.stdout.splitlines()[0]
    for gid, pts in points.items():
        assert any(line.split() == ["PASS", gid, f"{pts:g}/{pts:g}"] for line in run.stdout.splitlines()), run.stdout
    assert f"score {sum(points.values()):g}/{sum(points.values()):g}: all checks pass" in run.stdout
    assert run.stderr == "", f"validation wrote to stderr: {run.stderr}"


def test_installed_bundle_validates_a_blank_lesson_with_zero_from_a_notebook_cell(venv, tmp_path):
    """``validate()`` with no argument, as in a JupyterLab cell: the kernel's JPY_SESSION_NAME names the file."""
    blank = tmp_path / "blank.ipynb"
    nb = nbformat.read(str(DEFAULT_LESSONS / LESSON / f"{LESSON}.ipynb"), as_version=4)
    first_check = next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade"))
    first_check.source = "print('PASS')\n3.0"  # tampering with a check changes nothing
    # the student's own validate cell, left in: the run it starts must not start another one
    nb.cells.append(nbformat.v4.new_code_cell("from grader.student_kit import validate; validate()"))
    nbformat.write(nb, str(blank))
    run = subprocess.run([str(venv / "bin" / "python"), "-c", "from grader.student_kit import validate; validate()"],
                         capture_output=True, text=True, env=_student_env(JPY_SESSION_NAME=str(blank)), cwd=tmp_path)
    points = _grade_points(nb)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    for gid, pts in points.items():
        assert any(line.split() == ["FAIL", gid, f"0/{pts:g}"] for line in lines), run.stdout
    assert "not implemented yet" in run.stdout  # the checks' own per-case messages come through
    assert f"check {first_check.metadata['nbgrader']['grade_id']} was edited" in run.stdout
    assert f"score 0/{sum(points.values()):g}: some checks fail" in run.stdout
    assert run.stdout.count("validating the saved file") == 1, run.stdout


def test_student_jupyterlab_shows_no_nbgrader_panels(venv):
    """No nbgrader in the student's environment: no Validate button, no Create Assignment, no formgrader."""
    env = _student_env(JUPYTER_CONFIG_DIR=str(venv / "jupyter-config"), JUPYTER_DATA_DIR=str(venv / "jupyter-data"))
    lab = subprocess.run([str(venv / "bin" / "jupyter"), "labextension", "list"], capture_output=True, text=True, env=env)
    server = subprocess.run([str(venv / "bin" / "jupyter"), "server", "extension", "list"],
                            capture_output=True, text=True, env=env)
    assert lab.returncode == 0 and server.returncode == 0, lab.stderr + server.stderr
    listed = lab.stdout + lab.stderr + server.stdout + server.stderr
    assert "jupyterlab" in listed, listed  # the listing itself works
    assert "nbgrader" not in listed.lower(), listed


def test_installed_bundle_hub_setup_enables_its_server_extension(venv, tmp_path):
    """``backprop-course hub-setup`` from the bundle: the server extension is enabled and imports there."""
    env = _student_env(JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTER_DATA_DIR=str(tmp_path / "data"))
    setup = subprocess.run([str(venv / "bin" / "backprop-course"), "hub-setup", "--level", "user"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    listed = subprocess.run([str(venv / "bin" / "jupyter"), "server", "extension", "list"],
                            capture_output=True, text=True, env=env)
    said = listed.stdout + listed.stderr
    ours = [line for line in said.splitlines() if line.split()[:1] == ["grader.student_kit.server_extension"]]
    assert any("enabled" in line for line in ours), f"expected our server extension enabled:\n{said}"
    assert any("OK" in line for line in ours), f"expected our server extension to import in the bundle:\n{said}"


def test_installed_bundle_names_what_it_expected_for_a_notebook_of_no_lesson(venv, tmp_path):
    stray = tmp_path / "notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), str(stray))
    run = subprocess.run([str(venv / "bin" / "backprop-course"), "validate", str(stray)],
                         capture_output=True, text=True, env=_student_env(), cwd=tmp_path)
    assert run.returncode == 2
    assert "cannot tell which lesson notes.ipynb is" in run.stderr and LESSON in run.stderr
    assert "Traceback" not in run.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        text = reply.read().decode()
    return json.loads(text) if text else {}


def test_one_cell_validates_in_a_real_jupyter_server_kernel_with_the_checks_hints(venv, tmp_path):
    """A Jupyter server of the student venv opens a session for the notebook (as JupyterLab does); one cell,
    ``validate()``, in that kernel prints the report: the planted bug's check FAILs naming its quantity,
    with the check's hint, and every other check PASSes."""
    bug = next(b for b in json.loads((DEFAULT_SOLUTIONS / LESSON / "bugs.json").read_text()) if b["exercise"] == "mse_grad")
    homework = _completed(DEFAULT_LESSONS / LESSON / f"{LESSON}.ipynb", tmp_path / "homework.ipynb")
    nb = nbformat.read(str(homework), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == bug["exercise"])
    assert cell.source.count(bug["find"]) == 1
    cell.source = cell.source.replace(bug["find"], bug["replace"])
    nbformat.write(nb, str(homework))
    points = _grade_points(nb)

    port, token = _free_port(), "student-test"
    env = _student_env(JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
                       JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [str(venv / "bin" / "jupyter"), "server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}"]
        + (["--allow-root"] if os.geteuid() == 0 else []),
        stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=env, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}/api"
    try:
        for _ in range(240):  # the server's start-up (not a timing assertion: fail only if it never answers)
            try:
                _http(f"{base}/status?token={token}")
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                time.sleep(0.5)
        session = _http(f"{base}/sessions?token={token}", "POST", {
            "path": "homework.ipynb", "name": "homework.ipynb", "type": "notebook", "kernel": {"name": "python3"}})
        kernel_id = session["kernel"]["id"]
        client = BlockingKernelClient(connection_file=str(tmp_path / "runtime" / f"kernel-{kernel_id}.json"))
        client.load_connection_file()
        client.start_channels()
        try:
            for attempt in range(60):  # a kernel still starting has no heartbeat yet: ask again
                try:
                    client.wait_for_ready(timeout=120)
                    break
                except RuntimeError:
                    if attempt == 59:
                        raise
                    time.sleep(1)
            printed: list[str] = []

            def keep(msg):
                if msg["msg_type"] == "stream":
                    printed.append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    printed.append("\n".join(msg["content"]["traceback"]))

            reply = client.execute_interactive("from grader.student_kit import validate; validate()",
                                               output_hook=keep, timeout=600)
        finally:
            client.stop_channels()
            _http(f"{base}/sessions/{session['id']}?token={token}", "DELETE")
    finally:
        server.terminate()
        server.wait(timeout=60)
    report = "".join(printed)
    assert reply["content"]["status"] == "ok", report
    assert "visible checks only" in report
    lines = report.splitlines()
    for gid in points:
        verdict = "FAIL" if gid in bug["grade_ids"] else "PASS"
        assert any(line.split()[:2] == [verdict, gid] for line in lines), f"{gid} should {verdict}:\n{report}"
    failed = report.split(f"FAIL  {bug['grade_ids'][0]}")[1]
    assert bug["quantity"] in failed and "Hint:" in failed, report  # the check's per-case message and its hint
    assert "some checks fail" in report


def test_release_command_writes_the_lessons_and_the_bundle(tmp_path, capsys):
    """``python -m grader release`` (the CLI) builds the bundle from the lessons it just released."""
    from grader.pipeline.cli import main
    from grader.pipeline.toy import write_toy_lesson

    write_toy_lesson(tmp_path / "solutions", "00_toy")
    code = main(["release", "--solutions", str(tmp_path / "solutions"), "--lessons", str(tmp_path / "lessons"),
                 "--bundle-dir", str(tmp_path / "dist")])
    out = capsys.readouterr().out
    assert code == 0, out
    wheels = list((tmp_path / "dist").glob("backprop_course_student-*-py3-none-any.whl"))
    assert len(wheels) == 1 and f"student bundle: {wheels[0]}" in out, out
    with zipfile.ZipFile(wheels[0]) as zf:
        names = zf.namelist()
        toy = json.loads(zf.read("grader/student_kit/lessons/00_toy/00_toy.ipynb"))
    assert toy["metadata"]["backprop_course"] == {"lesson": "00_toy"}
    assert not [n for n in names if n.startswith("grader/student_kit/lessons/") and "00_toy" not in n], names
    assert not [n for n in names if n.endswith("bugs.json")], names
