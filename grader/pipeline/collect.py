"""``grader collect PATH``: put a class's submissions into the course directory.

``PATH`` is a folder holding, in any mix:

* student folders laid out ``<student_id>/<lesson>/<lesson>.ipynb`` (a
  ``timestamp.txt`` next to the notebook is kept, as nbgrader reads it);
* LMS-style zip files named by student: ``<student_id>.zip`` or Canvas style
  ``<student_id>_<number>_<number>_<anything>.zip``; inside, the notebook is
  found by its name ``<lesson>.ipynb`` at any depth.

Each notebook goes to ``<course>/submitted/<student_id>/<lesson>/<lesson>.ipynb``
(rewritten only when its bytes changed, so autograde regrades only what
changed).  Whatever cannot be placed is reported, with the reason (unknown
lesson, wrong file name, not a notebook, bad zip, bad student id), and
collecting goes on.
"""
from __future__ import annotations

import errno
import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
CANVAS_ZIP = re.compile(r"^(?P<sid>[^_]+)_(?:late_)?\d+_\d+(?:_.*)?$")
JUNK = {"__MACOSX", ".ipynb_checkpoints", ".DS_Store", "Thumbs.db", "__pycache__"}
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


@dataclass
class CollectReport:
    """What ``collect`` placed and what it could not."""

    placed: list[tuple[str, str]] = field(default_factory=list)  # (student, lesson), new or changed
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (what, why): not placed
    warnings: list[tuple[str, str]] = field(default_factory=list)  # placed, but suspicious

    def summary(self) -> str:
        lines = [
            f"collected {len(self.placed)} new or changed submissions, {len(self.unchanged)} unchanged, "
            f"{len(self.problems)} not placed"
        ]
        lines += [f"  NOT PLACED {what}: {why}" for what, why in self.problems]
        lines += [f"  warning    {what}: {why}" for what, why in self.warnings]
        return "\n".join(lines)


def student_from_zip(name: str) -> str | None:
    """The student id of an LMS zip file name (None if it does not look like one)."""
    stem = name[:-4] if name.lower().endswith(".zip") else name
    m = CANVAS_ZIP.match(stem)
    sid = m.group("sid") if m else stem
    return sid if STUDENT_ID.match(sid) else None


class _Collector:
    def __init__(self, course_root: Path, lessons: list[str]):
        self.root = course_root
        self.lessons = set(lessons)
        self.report = CollectReport()
        self.seen: dict[tuple[str, str], str] = {}

    def _unknown_lesson(self, name: str) -> str:
        return f"unknown lesson {name!r} (lessons: {', '.join(sorted(self.lessons))})"

    def place(self, student: str, lesson: str, data: bytes, origin: str,
              timestamp: bytes | None = None) -> None:
        key = (student, lesson)
        if key in self.seen:
            self.report.problems.append((origin, f"second submission of {student}/{lesson}; kept {self.seen[key]}"))
            return
        self.seen[key] = origin
        try:
            json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self.report.warnings.append((origin, "not valid notebook JSON; collected anyway, it will score 0"))
        folder = self.root / "submitted" / student / lesson
        target = folder / f"{lesson}.ipynb"
        changed = not target.exists() or target.read_bytes() != data
        if changed:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        if timestamp is not None:
            ts = folder / "timestamp.txt"
            if not ts.exists() or ts.read_bytes() != timestamp:
                ts.write_bytes(timestamp)
                changed = True
        (self.report.placed if changed else self.report.unchanged).append(key)

    def student_folder(self, folder: Path) -> None:
        student = folder.name
        if not STUDENT_ID.match(student):
            self.report.problems.append((str(folder), f"invalid student id {student!r}"))
            return
        for entry in sorted(folder.iterdir()):
            if entry.name in JUNK or entry.name.startswith("."):
                continue
            if entry.is_symlink() or not (entry.is_dir() or entry.is_file()):
                self.report.problems.append((str(entry), "a symbolic link or special file: not followed"))
                continue
            if entry.is_dir():
                if entry.name not in self.lessons:
                    self.report.problems.append((str(entry), self._unknown_lesson(entry.name)))
                    continue
                self.lesson_folder(student, entry)
            elif entry.suffix == ".ipynb" and entry.stem in self.lessons:
                try:
                    data = read_regular(entry, MAX_NOTEBOOK_BYTES)
                except OSError as exc:
                    self.report.problems.append((str(entry), str(exc)))
                    continue
                self.place(student, entry.stem, data, str(entry))
            elif entry.suffix == ".ipynb":
                self.report.problems.append((str(entry), self._unknown_lesson(entry.stem)))
            else:
                self.report.problems.append((str(entry), "not a notebook (expected <lesson>/<lesson>.ipynb)"))

    def lesson_folder(self, student: str, folder: Path) -> None:
        lesson = folder.name
        expected = folder / f"{lesson}.ipynb"
        try:
            timestamp = read_regular(folder / "timestamp.txt", 4096) if (folder / "timestamp.txt").exists() else None
        except OSError:
            timestamp = None
        for entry in sorted(folder.rglob("*")):
            if any(part in JUNK for part in entry.relative_to(folder).parts) or _is_real_dir(entry):
                continue
            if entry.is_symlink():
                self.report.problems.append((str(entry), "a symbolic link: not followed"))
                continue
            if entry == expected or entry.name == "timestamp.txt":
                continue
            if entry.suffix == ".ipynb":
                self.report.problems.append((str(entry), f"wrong file name (expected {lesson}.ipynb)"))
            else:
                self.report.problems.append((str(entry), "not a notebook"))
        if expected.is_file() and not expected.is_symlink():
            try:
                data = read_regular(expected, MAX_NOTEBOOK_BYTES)
            except OSError as exc:
                self.report.problems.append((str(expected), str(exc)))
            else:
                self.place(student, lesson, data, str(expected), timestamp)
        elif not any(p.suffix == ".ipynb" for p in folder.rglob("*")):
            self.report.problems.append((str(folder), f"no notebook (expected {lesson}.ipynb)"))

    def zip_file(self, path: Path) -> None:
        student = student_from_zip(path.name)
        if student is None:
            self.report.problems.append((str(path), "cannot tell the student id from the file name"))
            return
        try:
            if path.is_symlink() or not path.is_file():
                raise OSError("a symbolic link or special file: not followed")
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            self.report.problems.append((str(path), f"not a valid zip file ({exc})"))
            return
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            stamps = {}
            for m in members:
                p = PurePosixPath(m.filename)
                if p.name == "timestamp.txt" and len(p.parts) >= 2:
                    stamps[p.parts[-2]] = archive.read(m)
            for m in members:
                p = PurePosixPath(m.filename)
                where = f"{path}:{m.filename}"
                if any(part in JUNK or part.startswith("._") for part in p.parts) or p.name == "timestamp.txt":
                    continue
                if p.suffix != ".ipynb":
                    self.report.problems.append((where, "not a notebook"))
                    continue
                if p.stem in self.lessons:
                    lesson = p.stem
                else:
                    folders = [part for part in p.parts[:-1] if part in self.lessons]
                    if folders:
                        self.report.problems.append((where, f"wrong file name (expected {folders[-1]}.ipynb)"))
                    else:
                        self.report.problems.append((where, self._unknown_lesson(p.stem)))
                    continue
                if m.file_size > MAX_NOTEBOOK_BYTES:
                    self.report.problems.append((where, f"larger than {MAX_NOTEBOOK_BYTES >> 20} MiB"))
                    continue
                try:
                    data = archive.read(m)
                except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
                    self.report.problems.append((where, f"cannot be read from the zip ({exc})"))
                    continue
                self.place(student, lesson, data, where, stamps.get(lesson))


class NotRegularFile(OSError):
    """A submitted path that is a symlink, a device, a fifo or a socket: never read."""


def read_regular(path: Path, limit: int | None = None) -> bytes:
    """The bytes of ``path`` if it is a regular file (a symlink is not followed; nothing else is opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFile(f"{path} is a symbolic link: not followed") from None
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"{path} is not a regular file")
        if limit is not None and st.st_size > limit:
            raise NotRegularFile(f"{path} is larger than {limit >> 20} MiB")
        return f.read()


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def collect(source: Path | str, course_root: Path | str, lessons: list[str]) -> CollectReport:
    """Collect every submission under ``source`` into ``course_root`` (see the module doc)."""
    src = Path(source)
    collector = _Collector(Path(course_root), lessons)
    if src.is_file() and src.suffix.lower() == ".zip":
        collector.zip_file(src)
        return collector.report
    if not src.is_dir():
        collector.report.problems.append((str(src), "no such folder"))
        return collector.report
    for entry in sorted(src.iterdir()):
        if entry.name in JUNK or entry.name.startswith("."):
            continue
        if entry.is_symlink():
            collector.report.problems.append((str(entry), "a symbolic link: not followed"))
            continue
        if entry.is_dir():
            collector.student_folder(entry)
        elif entry.suffix.lower() == ".zip":
            collector.zip_file(entry)
        else:
            collector.report.problems.append(
                (str(entry), "not a submission (expected a <student_id> folder or a <student_id>.zip)")
            )
    return collector.report
