"""The server extension's reply to nbgrader's Validate dialog, and what ``backprop-course hub-setup`` writes.

The extension in a running JupyterLab, clicked in a browser: tests/test_jupyterlab.py.
"""
from __future__ import annotations

import json

from grader.student_kit.__main__ import NBGRADER_INSTRUCTOR_SERVER, server_extension_config
from grader.student_kit.server_extension import ADVICE, EXTENSION, WIDTH, nbgrader_reply, wrap_report

HINT = ("mse_grad (B = 6, d = 1) (shape (6, 1)): relative error 7.143e-01 > threshold 1.0e-06; worst entry (1, 0): "
        "analytic -2.948237, numeric -0.49137283. Hint: off by a factor B = 6: the 1/B <of the mean> over the batch "
        "is missing.")
REPORT = f"""lesson 02_general_case: visible checks only, run in your own Python kernel (the graded run adds hidden cases)
  PASS  test_mlp_forward        2/2
  FAIL  test_mse_grad           0/1
                  {HINT}
score 2/3: some checks fail
"""


def test_a_passing_notebook_gets_nbgraders_success_shape():
    assert nbgrader_reply(0, REPORT, "") == {"success": True, "value": {}}


def test_a_failing_notebook_gets_the_report_where_nbgrader_puts_a_failed_cell():
    reply = nbgrader_reply(1, REPORT, "")
    assert reply["success"] is True and list(reply["value"]) == ["failed"], reply
    (failed,) = reply["value"]["failed"]
    assert failed["source"] == wrap_report(REPORT.rstrip())
    assert "  PASS  test_mlp_forward        2/2" in failed["source"].splitlines()  # aligned columns kept
    assert "Hint: off by a factor B = 6" in " ".join(failed["source"].split())
    # nbgrader sets "error" as HTML: it must hold no markup of ours
    assert failed["error"] == ADVICE.replace("&", "&amp;") and "<" not in failed["error"]


def test_a_notebook_that_cannot_be_validated_gets_the_message_as_an_error():
    message = "error: cannot tell which lesson notes.ipynb is: expected one of ['02_general_case']"
    assert nbgrader_reply(2, "", message + "\n") == {"success": False, "value": message.removeprefix("error: ")}
    assert nbgrader_reply(-9, "", "") == {"success": False, "value": "backprop-course validate exited with -9"}


def test_long_lines_wrap_under_their_indent_and_keep_every_word():
    wrapped = wrap_report(REPORT)
    assert max(len(line) for line in wrapped.splitlines()) <= WIDTH, wrapped
    assert wrapped.split() == REPORT.split()
    hint = [line for line in wrapped.splitlines() if "mse_grad (B = 6" in line or line.startswith(" " * 20)]
    assert len(hint) >= 2 and all(line.startswith(" " * 18) for line in hint), wrapped


def test_hub_setup_config_enables_ours_disables_nbgraders_and_keeps_other_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    existing = {"ServerApp": {"jpserver_extensions": {"jupyterlab": True}, "port": 9999}, "LabApp": {"x": 1}}
    (tmp_path / "jupyter_server_config.json").write_text(json.dumps(existing))
    path = server_extension_config("user")
    assert path == tmp_path / "jupyter_server_config.json"
    config = json.loads(path.read_text())
    expected = {"jupyterlab": True, EXTENSION: True, **{name: False for name in NBGRADER_INSTRUCTOR_SERVER}}
    assert config == {"ServerApp": {"jpserver_extensions": expected, "port": 9999}, "LabApp": {"x": 1}}
    assert "nbgrader.server_extensions.validate_assignment" not in expected  # its /nbgrader_version stays
