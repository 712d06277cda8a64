"""Class autograding on this machine against a Dask cluster (``grader autograde --scheduler``).

Builds a small sample class (``--students`` x the lessons of ``--lessons``) and grades one copy
of it four ways, in one run: local ``-j 1``, local ``-j 2``, and a ``LocalCluster`` of 1 and of
2 worker processes (one thread each).  The clusters are started before the clock runs (on a real
cluster they are already there); everything a grading run does is timed, start-up of the
zygote and grading workers included, on both sides.  Asserts that the four runs give the same
score on every grade cell (``GRADER_SEED`` fixed), and prints notebooks per minute and the
overhead per notebook of going through Dask:

* *start-up*: seconds until every worker is ready (Dask: the course unpacked and registered on
  each worker, zygote, sandbox and grading workers started), paid once per run;
* *wall*: (Dask wall - local wall) / notebooks, start-up included;
* *after start-up*: the same without the start-up (what a large class pays per notebook);
* *outside grading*: the same again, after subtracting the time the grading workers spent on the
  notebooks themselves (the ``seconds`` of each result), which takes out most of the noise of a
  shared machine.

    python bench/bench_dask.py [--students N] [--lessons 01_scalar_backprop,03_softmax_cross_entropy]
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _table import print_table  # noqa: E402

from grader.pipeline.autograde import autograde  # noqa: E402
from grader.pipeline.course import DEFAULT_SOLUTIONS  # noqa: E402
from grader.pipeline.gradebook import read_grades  # noqa: E402
from grader.pipeline.sample_class import write_submitted  # noqa: E402


def cell_scores(course: Path) -> dict:
    return {key: {g: c.auto_score for g, c in cells.items()} for key, cells in read_grades(course / "gradebook.db").items()}


def timed_run(base: Path, name: str, ungraded: Path, solutions: Path, **kwargs) -> dict:
    course = base / name
    shutil.copytree(ungraded, course)
    start = time.perf_counter()
    report = autograde(course, solutions, progress_stream=io.StringIO(), progress_tty=False, **kwargs)
    wall = time.perf_counter() - start
    if report.failures:
        raise SystemExit(f"{name}: could not grade {report.failures}")
    return {"wall": wall, "n": len(report.graded), "grading": sum(r["seconds"] for r in report.graded),
            "startup": report.startup, "workers": report.workers, "scores": cell_scores(course)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=3)
    parser.add_argument("--lessons", default="01_scalar_backprop,03_softmax_cross_entropy",
                        help="comma-separated lesson folders of solutions/ (default: %(default)s)")
    args = parser.parse_args(argv or [])
    os.environ.setdefault("GRADER_SEED", "1234")
    from distributed import LocalCluster

    base = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    try:
        solutions = base / "solutions"
        for name in args.lessons.split(","):
            shutil.copytree(DEFAULT_SOLUTIONS / name.strip(), solutions / name.strip())
        ungraded = base / "ungraded"
        notebooks = write_submitted(ungraded, solutions, args.students)
        runs = {
            "local -j 1": timed_run(base, "local1", ungraded, solutions, jobs=1),
            "local -j 2": timed_run(base, "local2", ungraded, solutions, jobs=2),
        }
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=":0") as cluster:
                runs[f"dask, {workers} worker{'s' if workers > 1 else ''}"] = timed_run(
                    base, f"dask{workers}", ungraded, solutions, scheduler=cluster.scheduler_address)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    first = next(iter(runs.values()))["scores"]
    same = all(r["scores"] == first for r in runs.values())
    rows = [[name, r["workers"], r["n"], r["wall"], r["startup"], r["n"] / r["wall"] * 60,
             r["n"] / (r["wall"] - r["startup"]) * 60, r["grading"] / r["n"]]
            for name, r in runs.items()]
    print_table(f"Grading {notebooks} notebooks ({args.students} students x {args.lessons}), "
                f"load average {os.getloadavg()[0]:.1f}",
                ["run", "workers", "notebooks", "wall s", "start-up s", "notebooks/min",
                 "after start-up /min", "grading s/notebook"], rows)
    over = []
    for j in (1, 2):
        loc, dsk = runs[f"local -j {j}"], runs[f"dask, {j} worker{'s' if j > 1 else ''}"]
        wall = (dsk["wall"] - loc["wall"]) / notebooks
        steady = ((dsk["wall"] - dsk["startup"]) - (loc["wall"] - loc["startup"])) / notebooks
        outside = ((dsk["wall"] - dsk["startup"] - dsk["grading"] / j)
                   - (loc["wall"] - loc["startup"] - loc["grading"] / j)) / notebooks
        over.append([f"{j} worker{'s' if j > 1 else ''}", dsk["startup"] - loc["startup"], wall, steady, outside])
    print_table("Overhead of Dask (Dask minus local, same number of workers)",
                ["workers", "start-up s", "wall s/notebook", "after start-up s/notebook",
                 "outside grading s/notebook"], over)
    print(f"\nsame score on every grade cell in all four runs: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
