"""JupyterLab's Validate button, routed to the course's validator (for a shared JupyterHub with nbgrader).

Where students share an environment with nbgrader installed, nbgrader's
notebook toolbar has a Validate button that POSTs the notebook's path to
``/assignments/validate`` and shows the reply in a dialog.  nbgrader's own
handler runs nbgrader's validator, whose report dumps the whole source of the
failing test cells and says nothing per case.  This Jupyter server extension
serves ``/assignments/validate`` itself: it runs ``backprop-course validate``
(the visible checks, in a fresh kernel of the server's Python) on the saved
notebook and replies in the shape nbgrader's dialog renders:

* all checks pass: ``{"success": true, "value": {}}`` (nbgrader's dialog:
  "Success! Your notebook passes all the tests.");
* some check fails: ``{"success": true, "value": {"failed": [{"source": REPORT,
  "error": ADVICE}]}}``: the dialog shows our report (the PASS/FAIL line of
  every check, the failing cases and their hints) where nbgrader would show a
  test cell's source;
* the notebook cannot be validated (not a lesson, unreadable):
  ``{"success": false, "value": MESSAGE}``.

It takes precedence over nbgrader's handler for the same URL because Jupyter
loads server extensions in alphabetical order of their module names
(``grader...`` before ``nbgrader...``) and tornado answers a URL with the first
rule added for it.  ``backprop-course hub-setup`` enables it and hides
nbgrader's instructor panels (see :mod:`grader.student_kit.__main__`).
"""
from __future__ import annotations

import asyncio
import html
import json
import os
import sys
import textwrap
from pathlib import Path

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

#: The module name Jupyter enables (``jpserver_extensions``).
EXTENSION = "grader.student_kit.server_extension"
#: nbgrader's URL for its Validate button (nbgrader/server_extensions/validate_assignment/handlers.py).
VALIDATE_URL = "/assignments/validate"
#: nbgrader's dialog shows the report in a <pre> that does not wrap: longer lines are wrapped here.
WIDTH = 100
#: Shown under the report in nbgrader's dialog when a check fails.
ADVICE = ("Fix the FAIL lines above, save (Ctrl+S) and validate again. Visible checks only: "
          "the graded run adds hidden cases.")


def wrap_report(report: str, width: int = WIDTH) -> str:
    """``report`` with every line longer than ``width`` wrapped, continuation lines indented 2 more."""
    lines = []
    for line in report.splitlines():
        if len(line) <= width:  # short lines as they are (textwrap would squeeze the aligned columns)
            lines.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()))
        lines += textwrap.wrap(line.strip(), width, initial_indent=indent, subsequent_indent=indent + "  ",
                               break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines)


def nbgrader_reply(returncode: int, stdout: str, stderr: str) -> dict:
    """The JSON nbgrader's Validate dialog expects, from a ``backprop-course validate`` run.

    Args:
        returncode: 0 (every check passes), 1 (some check fails), anything else (could not validate).
        stdout: the report the command printed.
        stderr: its error message.

    Returns:
        ``{"success": bool, "value": ...}`` as nbgrader's ``ValidateAssignmentHandler`` replies.
    """
    if returncode == 0:
        return {"success": True, "value": {}}
    if returncode == 1:
        # nbgrader's dialog puts "source" in a <pre> as text and "error" as HTML: escape it
        return {"success": True, "value": {"failed": [{"source": wrap_report(stdout.rstrip()), "error": html.escape(ADVICE)}]}}
    said = (stderr.strip() or stdout.strip() or f"backprop-course validate exited with {returncode}")
    return {"success": False, "value": said.removeprefix("error: ")}


class ValidateHandler(JupyterHandler):
    """``POST /assignments/validate?path=NOTEBOOK`` (or a JSON body ``{"path": ...}``): our report for nbgrader's dialog."""

    @web.authenticated
    async def post(self) -> None:
        path = self.get_argument("path", None)
        if path is None:
            path = (self.get_json_body() or {}).get("path")
        if not path:
            raise web.HTTPError(400, "expected the notebook's path: ?path=NOTEBOOK or a JSON body {\"path\": ...}")
        root = Path(self.settings["backprop_course_root_dir"]).resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):  # as nbgrader: nothing outside the server's folder
            raise web.HTTPError(403, "Access denied: path outside allowed directory")
        env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "grader.student_kit", "validate", str(target),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=str(target.parent))
        out, err = await proc.communicate()
        reply = nbgrader_reply(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
        self.log.info("backprop-course validate %s: exit %s", path, proc.returncode)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(reply))


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": EXTENSION}]


def _load_jupyter_server_extension(serverapp) -> None:
    """Serve ``/assignments/validate`` (before nbgrader's handler, which loads after us)."""
    webapp = serverapp.web_app
    webapp.settings["backprop_course_root_dir"] = serverapp.root_dir
    webapp.add_handlers(".*$", [(url_path_join(webapp.settings["base_url"], VALIDATE_URL), ValidateHandler)])
    serverapp.log.info("backprop-course: %s runs the course's visible checks", VALIDATE_URL)
