"""Progress of a grading run on stderr: done/total, failures so far, elapsed time and ETA.

Drawn by tqdm (a well-kept library that redraws a terminal line cleanly at any
width, with a smoothed rate for the ETA) on a terminal; otherwise one plain
line every few items (and at the end, and on every failure), formatted by
tqdm's own ``format_meter``, so logs stay readable.  Items finish in any order
(one per worker), so the line names the last one finished.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

#: grading [#####.......] 3/11  failures 0  elapsed 00:04  ETA 00:09  alan/00_toy
BAR_FORMAT = "{desc} [{bar:28}] {n_fmt}/{total_fmt}  failures {failures}  elapsed {elapsed}  ETA {remaining}{item}"


class _Bar(tqdm):
    """tqdm with two more fields for :data:`BAR_FORMAT`: failures so far and the last item."""

    failures = 0
    item = ""

    @property
    def format_dict(self):
        return {**super().format_dict, "failures": self.failures, "item": self.item}


class Progress:
    """Track ``total`` items; call :meth:`advance` per finished item, :meth:`close` at the end."""

    def __init__(self, total: int, label: str = "grading", stream: TextIO | None = None,
                 tty: bool | None = None):
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.done = 0
        self.failures = 0
        self.last_item = ""
        self.start = time.monotonic()
        self._last_plain = -1
        self._plain_every = max(1, total // 20)
        self._bar: _Bar | None = None
        if self.tty:
            self._bar = _Bar(total=total, desc=label, file=self.stream, bar_format=BAR_FORMAT, ascii=" #",
                             dynamic_ncols=True, leave=True, mininterval=0.2)

    def restart(self) -> None:
        """Start the clock now (call when the first item really starts): the ETA counts grading only."""
        self.start = time.monotonic()
        if self._bar is not None and self._bar.n == 0:
            self._bar.reset(total=self.total)

    def line(self) -> str:
        """The current status line (as written to a log)."""
        return tqdm.format_meter(self.done, self.total, time.monotonic() - self.start, prefix=self.label,
                                 ascii=" #", bar_format=BAR_FORMAT, failures=self.failures, item=self._item())

    def _item(self) -> str:
        return f"  {self.last_item}" if self.last_item else ""

    def advance(self, item: str = "", failed: bool = False) -> None:
        """One more item finished (``failed`` when it could not be graded); items finish in any order."""
        self.done += 1
        self.failures += int(failed)
        self.last_item = item + (" FAILED" if failed else "")
        if self._bar is not None:
            self._bar.failures, self._bar.item = self.failures, self._item()
            self._bar.update(1)
        elif self.done == self.total or self.done - self._last_plain >= self._plain_every or failed:
            self._last_plain = self.done
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def tick(self) -> None:
        """Refresh the elapsed time and ETA on a terminal."""
        if self._bar is not None:
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.item = ""
            self._bar.close()
            self._bar = None
