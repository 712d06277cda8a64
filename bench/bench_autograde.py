"""Class autograding: plain serial ``nbgrader autograde`` against ``grader autograde``.

Builds the sample class of ``make demo`` (24 students x every lesson), copies
the course directory, and grades one copy with ``nbgrader autograde "*"``
(serial, a fresh kernel process per notebook) and the other with
``python -m grader autograde`` (parallel workers, pre-warmed forked kernels),
both as subprocesses, wall clock including start-up.  Asserts that every grade
cell got the same score from both, prints notebooks/minute and the ratio.

``--breakdown`` adds grader runs with one worker and/or without the zygote,
which splits the speed-up into its parts, and a kernel start-up
micro-benchmark.

    python bench/bench_autograde.py [--students N] [--breakdown]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _table import print_table  # noqa: E402

from grader.pipeline.course import DEFAULT_SOLUTIONS, find_lessons, notebook_env  # noqa: E402
from grader.pipeline.gradebook import read_grades  # noqa: E402
from grader.pipeline.sample_class import write_submitted  # noqa: E402


def timed(cmd: list[str], cwd: Path, extra_env: dict | None = None) -> tuple[float, float]:
    """Wall-clock seconds and CPU seconds of the whole process tree (kernels included)."""
    before, start = os.times(), time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env={**notebook_env(), **(extra_env or {})},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = os.times()
    cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    return time.perf_counter() - start, cpu


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def cell_scores(course: Path) -> dict:
    return {key: {g: c.auto_score for g, c in cells.items()} for key, cells in read_grades(course / "gradebook.db").items()}


def kernel_startup(n: int = 5) -> list[list[object]]:
    """Seconds from kernel start to the first cell's result, plain kernel against zygote fork."""
    import nbformat
    from nbclient import NotebookClient

    from grader.sandbox.zygote import KERNEL_NAME, Zygote

    code = "import numpy, matplotlib.pyplot, sklearn.datasets, course_lib, grader.checks\nprint('ready')"
    saved = dict(os.environ)

    def run(kernel: str) -> float:
        times = []
        for _ in range(n):
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
            start = time.perf_counter()
            NotebookClient(nb, kernel_name=kernel, timeout=60, resources={"metadata": {"path": tempfile.gettempdir()}}).execute()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    try:
        os.environ.update(notebook_env())
        os.environ.pop("MPLBACKEND", None)
        plain = run("python3")
        with Zygote() as zygote:
            os.environ.update(zygote.kernel_env())
            forked = run(KERNEL_NAME)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return [["python3 kernelspec (new process, imports)", plain, 1.0],
            ["grader-zygote (fork of a pre-warmed process)", forked, plain / forked]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_autograde.py")
    parser.add_argument("--students", type=int, default=24)
    parser.add_argument("--breakdown", action="store_true", help="also time 1 worker / no zygote variants")
    parser.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS)
    args = parser.parse_args(argv or [])

    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
        base = Path(tmp) / "base"
        count = write_submitted(base, args.solutions, args.students)
        lessons = len(find_lessons(args.solutions))
        print(f"\nsample class: {args.students} students x {lessons} lessons = {count} submitted notebooks, "
              f"{os.cpu_count()} cores")

        variants = [("nbgrader autograde (serial)", None)]
        # the same pipeline with grade cells run inside the kernel and no namespaces or cgroups: what the
        # trusted checker and the isolation add per notebook is the difference to the default run
        untrusted = ("grader, checks in the kernel, no isolation (previous design)",
                     ["--env", "GRADER_CHECKER=off", "--env", "GRADER_ISOLATION=off"])
        variants.append(untrusted)
        if args.breakdown:
            variants += [
                ("grader, 1 worker, plain kernels", ["--jobs", "1", "--no-zygote"]),
                ("grader, 1 worker, zygote kernels", ["--jobs", "1"]),
                ("grader, 2 workers, plain kernels", ["--jobs", "2", "--no-zygote"]),
            ]
        variants.append(("grader autograde (default: all cores, zygote)", []))

        rows, reference, results = [], None, {}
        for label, extra in variants:
            course = Path(tmp) / f"run{len(rows)}"
            shutil.copytree(base, course)
            load_before = load_average()
            if extra is None:
                seconds, cpu = timed([sys.executable, "-m", "nbgrader", "autograde", "*"], course)
            else:
                env = dict(extra[i + 1].split("=", 1) for i, flag in enumerate(extra) if flag == "--env")
                flags = [f for i, f in enumerate(extra) if f != "--env" and (i == 0 or extra[i - 1] != "--env")]
                seconds, cpu = timed([sys.executable, "-m", "grader", "autograde", "--course", str(course),
                                      "--solutions", str(args.solutions), *flags], course, env)
            scores = cell_scores(course)
            results[label] = scores
            if reference is None:
                reference = seconds
            rows.append([label, count, seconds, count / seconds * 60, reference / seconds,
                         cpu / count, f"{load_before:.1f}"])
        print_table("Autograding the sample class (wall clock, start-up included)",
                    ["method", "notebooks", "seconds", "notebooks/min", "speed-up", "CPU s/notebook",
                     "load before"], rows)
        by_label = {row[0]: row for row in rows}
        old, new = by_label[untrusted[0]], by_label[variants[-1][0]]
        print(f"  trusted checker + isolation add {(new[2] - old[2]) / count:+.3f} s wall and "
              f"{new[5] - old[5]:+.3f} CPU s per notebook against the previous design (goal: at most 0.3 s);\n"
              f"  class throughput {new[4]:.2f}x serial nbgrader (goal: at least 3x)")
        print("  (CPU s/notebook: all processes of the run, kernels included; 'load before' is the\n"
              "   1-minute load average when the run started: other work on the machine slows a\n"
              "   2-core run more than a serial one)")

        # nbgrader fails a whole notebook it cannot run (invalid JSON, a dead kernel): no scores (None);
        # the grader scores such a notebook 0 for what did not run, with a note.  Compare with None as 0.
        failed = sum(1 for cells in results[variants[0][0]].values() if all(v is None for v in cells.values()))
        results = {label: {key: {g: (0.0 if v is None else v) for g, v in cells.items()}
                           for key, cells in scores.items()}
                   for label, scores in results.items()}
        plain = results[variants[0][0]]
        for label, scores in results.items():
            if scores != plain:
                diff = sorted(k for k in set(plain) | set(scores) if plain.get(k) != scores.get(k))
                first = diff[0]
                raise AssertionError(
                    f"{label} gave different scores than nbgrader for {len(diff)} submissions, "
                    f"e.g. {first}: nbgrader {plain.get(first)}, {label} {scores.get(first)}"
                )
        print(f"  identical scores: every grade cell of all {len(plain)} submissions agrees "
              f"({failed} that nbgrader could not grade at all count as 0, as the grader scores them)")

        if args.breakdown:
            print_table("Kernel start-up to first result (median of 5)",
                        ["kernel", "seconds", "speed-up"], kernel_startup())


if __name__ == "__main__":
    main(sys.argv[1:])
