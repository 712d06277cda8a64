"""A progress bar on stderr: done/total, failures so far, elapsed time and ETA.

On a terminal it redraws one line; otherwise it writes a plain line every few
items (and at the end), so logs stay readable.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Track ``total`` items; call :meth:`advance` per finished item, :meth:`close` at the end."""

    def __init__(self, total: int, label: str = "grading", stream: TextIO | None = None,
                 width: int = 28, tty: bool | None = None):
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.tty = self.stream.isatty() if tty is None else tty
        self.done = 0
        self.failures = 0
        self.start = time.monotonic()
        self.last_item = ""
        self._last_plain = -1
        self._plain_every = max(1, total // 20)
        if self.tty:
            self._draw()

    def restart(self) -> None:
        """Start the clock now (call when the first item really starts)."""
        self.start = time.monotonic()

    def eta(self) -> float | None:
        """Seconds left, from the average rate so far (None before the first item)."""
        if self.done == 0:
            return None
        elapsed = time.monotonic() - self.start
        return elapsed / self.done * (self.total - self.done)

    def line(self) -> str:
        """The current status line."""
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        eta = self.eta()
        return (
            f"{self.label} [{bar}] {self.done}/{self.total}"
            f"  failures {self.failures}"
            f"  elapsed {_clock(time.monotonic() - self.start)}"
            f"  ETA {_clock(eta) if eta is not None else '?:??'}"
            + (f"  {self.last_item}" if self.last_item else "")
        )

    def _draw(self) -> None:
        text = self.line()
        self.stream.write("\r" + text[:160].ljust(100))
        self.stream.flush()

    def advance(self, item: str = "", failed: bool = False) -> None:
        """One more item finished (``failed`` when it could not be graded)."""
        self.done += 1
        self.failures += int(failed)
        self.last_item = item + (" FAILED" if failed else "")
        if self.tty:
            self._draw()
        elif self.done == self.total or self.done - self._last_plain >= self._plain_every or failed:
            self._last_plain = self.done
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def tick(self) -> None:
        """Refresh the elapsed time and ETA on a terminal."""
        if self.tty:
            self._draw()

    def close(self) -> None:
        if self.tty:
            self.last_item = ""
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
