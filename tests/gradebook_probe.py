"""Reading a gradebook while a grading run writes it (shared by tests/test_cli_kill.py and tests/test_dask.py)."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def merged_count(db: Path) -> int:
    """How many submissions the run has merged into ``db`` so far (0 while the gradebook is missing or locked).

    Args:
        db: the course's ``gradebook.db``

    Returns:
        the number of rows of its ``grader_state`` table, read-only, so a run being watched is never blocked
    """
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2) as con:
            return con.execute("SELECT COUNT(*) FROM grader_state").fetchone()[0]
    except sqlite3.Error:
        return 0
