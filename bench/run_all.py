"""Run every bench/bench_*.py in one process (`make bench`); each prints its own side-by-side table.

Benchmarks are not tests: they report ratios against the anchors and never
fail the suite. BLAS is pinned to one thread by the Makefile.
"""
from __future__ import annotations

import importlib
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    for name in wanted:
        start = time.perf_counter()
        importlib.import_module(name).main()
        print(f"  ({name} took {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
