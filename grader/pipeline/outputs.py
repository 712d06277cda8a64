"""Plain text of executed notebook cells (what a student would read)."""
from __future__ import annotations

import re

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes."""
    return ANSI.sub("", text)


def output_text(output) -> str:
    """The readable text of one output: stream text, error name/value/traceback, plain data."""
    kind = output.get("output_type")
    if kind == "stream":
        text = output.get("text", "")
        return "".join(text) if isinstance(text, list) else text
    if kind == "error":
        lines = [f"{output.get('ename', '')}: {output.get('evalue', '')}"]
        lines += [strip_ansi(line) for line in output.get("traceback", [])]
        return "\n".join(lines)
    data = output.get("data", {})
    text = data.get("text/plain", "")
    return "".join(text) if isinstance(text, list) else text


def cell_text(cell) -> str:
    """All output text of a cell, joined by newlines."""
    return "\n".join(output_text(o) for o in cell.get("outputs", []))


def error_summary(cell, limit: int = 300) -> str:
    """A one-line reason why a cell failed: the error's ``Name: message``, else stderr, else ''."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            text = f"{output.get('ename', '')}: {strip_ansi(str(output.get('evalue', '')))}".strip()
            return _one_line(text, limit)
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return _one_line("stderr: " + output_text(output), limit)
    return ""


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
