"""Look at a submitted folder before nbgrader does: find the notebook, refuse what cannot be graded, repair the rest.

nbgrader grades ``submitted/<student>/<lesson>/<lesson>.ipynb`` and fails the
whole submission on many things a student can do to a notebook by accident
or on purpose.  :func:`inspect` decides, without running anything:

* **which file is the notebook**: ``<lesson>.ipynb``; otherwise the only
  ``*.ipynb`` in the folder, or the only one holding this lesson's grade
  cells (note ``renamed``); none: note ``missing``;
* **whether it can be graded at all**: over the size limit (``too-large``,
  the file is not opened), empty, not UTF-8, invalid JSON, or JSON that is not
  a version-4 notebook (``unreadable``).  Such a submission scores 0 and is
  not run;
* **what must be repaired** (note ``repaired``): grade, solution and locked
  cells that were deleted are put back from the released lesson where they
  were; cells whose ``grade_id`` the lesson does not know lose their nbgrader
  metadata (they still run, as ordinary cells); edited or re-typed cells,
  changed points, duplicated ids and a changed kernelspec are listed here and
  restored by nbgrader's own sanitizing (``OverwriteCells``,
  ``DeduplicateIds``, ``OverwriteKernelspec``) from the gradebook.

:func:`stage` writes the folder nbgrader will grade: regular files only (a
submitted symlink would make the grader, running as root, copy whatever it
points at), the notebook under the lesson's name, repaired.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .notes import Notes

#: Largest notebook the grader opens (bytes); override with GRADER_MAX_NOTEBOOK_BYTES.
DEFAULT_MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


def max_notebook_bytes(env=None) -> int:
    """The size limit of a submitted notebook (``GRADER_MAX_NOTEBOOK_BYTES``, default 20 MiB)."""
    env = os.environ if env is None else env
    text = env.get("GRADER_MAX_NOTEBOOK_BYTES")
    if not text:
        return DEFAULT_MAX_NOTEBOOK_BYTES
    from ..sandbox import parse_size

    try:
        value = parse_size(text)
    except ValueError as exc:
        raise ValueError(f"GRADER_MAX_NOTEBOOK_BYTES: {exc}") from None
    if value is None or value <= 0:
        raise ValueError(f"GRADER_MAX_NOTEBOOK_BYTES: expected a size such as 20M, got {text!r}")
    return value


@dataclass
class Intake:
    """What :func:`inspect` decided about one submitted folder."""

    lesson: str
    source_file: Path | None = None  # the file that is the notebook
    notebook: nbformat.NotebookNode | None = None  # parsed and repaired; None: nothing to grade
    notes: Notes = field(default_factory=Notes)

    @property
    def gradable(self) -> bool:
        return self.notebook is not None


def _human(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell, dict) else None
    return meta if isinstance(meta, dict) else {}


def _cell_id(cell) -> str | None:
    meta = _nbgrader(cell)
    if meta.get("grade") or meta.get("solution") or meta.get("locked") or meta.get("task"):
        gid = meta.get("grade_id")
        return gid if isinstance(gid, str) else None
    return None


def _grade_ids(nb_json) -> set[str]:
    out = set()
    for cell in nb_json.get("cells", []) if isinstance(nb_json, dict) else []:
        gid = _cell_id(cell)
        if gid:
            out.add(gid)
    return out


def _candidates(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir()
        if p.suffix.lower() == ".ipynb" and not p.name.startswith(".") and p.is_file() and not p.is_symlink()
    )


def _pick(folder: Path, lesson: str, released_ids: set[str], max_bytes: int, notes: Notes) -> Path | None:
    expected = folder / f"{lesson}.ipynb"
    if expected.is_file() and not expected.is_symlink():
        return expected
    found = _candidates(folder)
    if len(found) == 1:
        notes.add("renamed", f"graded {found[0].name} as {expected.name} (the only notebook in the submission)")
        return found[0]
    if len(found) > 1:
        # several notebooks: the one that holds this lesson's cells, if only one does
        holding = []
        for path in found:
            if path.stat().st_size > max_bytes:
                continue
            try:
                data = json.loads(path.read_bytes())
            except (ValueError, UnicodeDecodeError, OSError):
                continue
            if _grade_ids(data) & released_ids:
                holding.append(path)
        if len(holding) == 1:
            notes.add("renamed", f"graded {holding[0].name} as {expected.name} (the only notebook with this "
                                 f"lesson's cells among {', '.join(p.name for p in found)})")
            return holding[0]
        notes.add("missing", f"no {expected.name}, and it is ambiguous which of {', '.join(p.name for p in found)} "
                             f"is this lesson: 0 points")
        return None
    others = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    listing = f" (the folder holds: {', '.join(others[:8])}{', ...' if len(others) > 8 else ''})" if others else \
        " (the folder is empty)"
    notes.add("missing", f"no notebook named {expected.name} or any other .ipynb file was submitted{listing}: 0 points")
    return None


def _read(path: Path, max_bytes: int, notes: Notes):
    size = path.stat().st_size
    if size > max_bytes:
        notes.add("too-large", f"{path.name} is {_human(size)}, over the {_human(max_bytes)} limit for a notebook; "
                               f"it was not opened: 0 points (clear the outputs and hand it in again)")
        return None
    if size == 0:
        notes.add("unreadable", f"{path.name} is an empty file, not a notebook: 0 points")
        return None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        notes.add("unreadable", f"{path.name} is not a notebook (not UTF-8 text: byte {exc.start}): 0 points")
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        line, col = getattr(exc, "lineno", "?"), getattr(exc, "colno", "?")
        notes.add("unreadable", f"{path.name} is not valid JSON (line {line}, column {col}: "
                                f"{getattr(exc, 'msg', exc)}); was it saved completely? 0 points")
        return None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "nbformat" not in data:
        notes.add("unreadable", f"{path.name} is JSON but not a Jupyter notebook (expected an object with "
                                f"'cells' and 'nbformat', got {type(data).__name__}): 0 points")
        return None
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        notes.add("unreadable", f"{path.name} is not a valid version-4 notebook ({first[:200]}): 0 points")
        return None
    return nb


def repair(nb: nbformat.NotebookNode, released: nbformat.NotebookNode, notes: Notes) -> nbformat.NotebookNode:
    """Put deleted lesson cells back, drop unknown grade ids, and list what nbgrader will restore."""
    nb = copy.deepcopy(nb)
    order = [(_cell_id(c), c) for c in released.cells if _cell_id(c)]
    known = {gid: cell for gid, cell in order}

    seen: dict[str, int] = {}
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if not meta:
            continue
        gid = meta.get("grade_id")
        if not isinstance(gid, str) or gid not in known:
            cell.metadata.pop("nbgrader", None)
            shown = repr(gid) if isinstance(gid, str) else "none"
            notes.add("repaired", f"a cell carried grade id {shown}, which this lesson does not have "
                                  f"(a changed or invented grade_id): it runs as an ordinary cell")
            continue
        seen[gid] = seen.get(gid, 0) + 1
        ref = known[gid]
        rmeta = _nbgrader(ref)
        if seen[gid] == 2:
            notes.add("repaired", f"cell {gid} appears more than once: only one copy is graded")
        if cell.cell_type != ref.cell_type:
            notes.add("repaired", f"cell {gid} was changed from {ref.cell_type} to {cell.cell_type}: "
                                  f"restored as {ref.cell_type}")
        if rmeta.get("grade") and meta.get("points") != rmeta.get("points"):
            notes.add("repaired", f"the points of {gid} were changed from {rmeta.get('points')} to "
                                  f"{meta.get('points')}: restored")
        for flag in ("grade", "solution", "locked"):
            if bool(meta.get(flag)) != bool(rmeta.get(flag)):
                notes.add("repaired", f"the nbgrader settings of {gid} were changed ({flag}): restored")
                break
        if rmeta.get("locked") and not rmeta.get("solution") and cell.source != ref.source:
            notes.add("repaired", f"read-only cell {gid} was edited: restored from the lesson")

    present = set(seen)
    missing = [gid for gid, _ in order if gid not in present]
    if missing:
        # insert each after the nearest lesson cell before it that is present
        index_of = {}
        for i, cell in enumerate(nb.cells):
            gid = _nbgrader(cell).get("grade_id")
            if gid in known and gid not in index_of:
                index_of[gid] = i
        for pos, (gid, ref) in enumerate(order):
            if gid in present:
                continue
            anchor = next((order[k][0] for k in range(pos - 1, -1, -1) if order[k][0] in index_of), None)
            at = index_of[anchor] + 1 if anchor is not None else 0
            restored = copy.deepcopy(ref)
            if restored.cell_type == "code":
                restored.outputs, restored.execution_count = [], None
            nb.cells.insert(at, restored)
            index_of = {k: (v + 1 if v >= at else v) for k, v in index_of.items()}
            index_of[gid] = at
            kind = "grade cell" if _nbgrader(ref).get("grade") else "lesson cell"
            notes.add("repaired", f"{kind} {gid} was deleted: restored from the lesson")

    want = released.metadata.get("kernelspec", {}).get("name")
    got = nb.metadata.get("kernelspec", {}).get("name") if isinstance(nb.metadata.get("kernelspec"), dict) else None
    if want and got != want:
        notes.add("repaired", f"the notebook's kernel was changed to {got!r}: restored to {want!r}")
    return nb


def inspect(folder: Path | str, lesson: str, released: nbformat.NotebookNode,
            max_bytes: int | None = None) -> Intake:
    """Decide what of ``folder`` (one student's submission of ``lesson``) is graded, and how."""
    folder = Path(folder)
    limit = max_notebook_bytes() if max_bytes is None else max_bytes
    intake = Intake(lesson)
    path = _pick(folder, lesson, _grade_ids(released), limit, intake.notes)
    if path is None:
        return intake
    intake.source_file = path
    nb = _read(path, limit, intake.notes)
    if nb is None:
        return intake
    intake.notebook = repair(nb, released, intake.notes)
    return intake


def stage(folder: Path | str, dest: Path | str, intake: Intake, max_bytes: int | None = None) -> Path:
    """Write the submission nbgrader grades into ``dest`` (emptied first); return ``dest``.

    Regular files and folders only, none over the notebook size limit (a
    submitted symlink or device is never followed); the graded notebook as
    ``<lesson>.ipynb``; no other ``.ipynb`` at the top (nbgrader would skip
    them anyway); ``timestamp.txt`` kept.
    """
    folder, dest = Path(folder), Path(dest)
    limit = max_notebook_bytes() if max_bytes is None else max_bytes
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for root, dirs, files in os.walk(folder, followlinks=False):
        rel = Path(root).relative_to(folder)
        for name in list(dirs):
            if name.startswith(".ipynb_checkpoints") or os.path.islink(os.path.join(root, name)):
                dirs.remove(name)
            else:
                (dest / rel / name).mkdir(exist_ok=True)
        for name in files:
            src = Path(root) / name
            st = os.lstat(src)
            if not stat.S_ISREG(st.st_mode):
                continue
            if rel == Path(".") and name.lower().endswith(".ipynb"):
                continue
            if st.st_size > limit:
                intake.notes.add("too-large", f"{rel / name} is {_human(st.st_size)}, over the "
                                              f"{_human(limit)} limit: not copied")
                continue
            shutil.copyfile(src, dest / rel / name, follow_symlinks=False)
    if intake.notebook is not None:
        nbformat.write(intake.notebook, str(dest / f"{intake.lesson}.ipynb"))
    return dest
