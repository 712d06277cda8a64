"""One full-batch SGD step on moons (3,500 x 2, 2-100-2 ReLU, softmax cross-entropy, float64).

Side by side in one process: course_lib's Sequential + SoftmaxCrossEntropy + SGD,
a per-example Python loop in the style of seed 001 (rewritten here), and PyTorch
on the CPU in float64 (when installed). Reported: median milliseconds per step.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
from _table import print_table

from course_lib.data import moons
from course_lib.losses import SoftmaxCrossEntropy
from course_lib.modules import Linear, ReLU, Sequential
from course_lib.optim import SGD
from course_lib.train import train_step

LR = 0.5


def interleaved_median_ms(steps: dict, repeats: dict) -> dict:
    """Time the steps in alternation (round robin), so machine load hits each alike; median ms per step."""
    times = {name: [] for name in steps}
    for step in steps.values():
        step()  # warm-up
    for k in range(max(repeats.values())):
        for name, step in steps.items():
            if k < repeats[name]:
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def course_lib_step(X, y):
    net = Sequential(Linear(2, 100, init="he", rng=0), ReLU(), Linear(100, 2, init="he", rng=1))
    loss, opt = SoftmaxCrossEntropy(), SGD(net, LR)
    return lambda: train_step(net, loss, X, y, opt)


def per_example_step(X, y):
    """Seed-001 style: forward and error one example at a time, then one update."""
    rng = np.random.default_rng(0)
    W1, b1 = rng.standard_normal((2, 100)) * np.sqrt(2 / 2), np.zeros(100)
    W2, b2 = rng.standard_normal((100, 2)) * np.sqrt(2 / 100), np.zeros(2)

    def step():
        nonlocal W1, b1, W2, b2
        gW1, gb1, gW2, gb2 = np.zeros_like(W1), np.zeros_like(b1), np.zeros_like(W2), np.zeros_like(b2)
        for x_i, y_i in zip(X, y):
            z1 = x_i @ W1 + b1
            a1 = np.maximum(z1, 0)
            z2 = a1 @ W2 + b2
            p = np.exp(z2 - z2.max())
            p /= p.sum()
            t = np.zeros(2)
            t[y_i] = 1
            d2 = p - t
            gW2 += np.outer(a1, d2)
            gb2 += d2
            d1 = (W2 @ d2) * (z1 > 0)
            gW1 += np.outer(x_i, d1)
            gb1 += d1
        B = len(X)
        W1 -= LR * gW1 / B
        b1 -= LR * gb1 / B
        W2 -= LR * gW2 / B
        b2 -= LR * gb2 / B

    return step


def torch_step(X, y):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 100), torch.nn.ReLU(), torch.nn.Linear(100, 2)).double()
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    lossf = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        lossf(net(Xt), yt).backward()
        opt.step()

    return step


def main() -> None:
    X, _, y, _ = moons()
    steps = {"ours": course_lib_step(X, y), "loop": per_example_step(X, y)}
    repeats = {"ours": 300, "loop": 7}
    threads = "-"
    try:
        import torch

        torch.set_num_threads(1)
        threads = torch.get_num_threads()
        steps["torch"], repeats["torch"] = torch_step(X, y), 300
    except ImportError:
        pass
    ms = interleaved_median_ms(steps, repeats)
    ours, loop = ms["ours"], ms["loop"]
    rows = [["course_lib Sequential", ours, "1.0"], ["per-example loop (seed 001 style)", loop, f"{loop / ours:.1f}"]]
    if "torch" in ms:
        t = ms["torch"]
        rows.append([f"PyTorch CPU float64 ({threads} thread)", t, f"{t / ours:.2f}"])
    else:
        rows.append(["PyTorch", "-", "not installed"])
    print_table("One full-batch SGD step, moons 3,500 x 2, 2-100-2 ReLU, float64 (median of repeats, one BLAS thread)",
                ["implementation", "ms / step", "its time / course_lib's"], rows)
    print(f"  goals: >= 15x faster than the loop -> {loop / ours:.1f}x; no slower than PyTorch (ratio <= 1.0) -> "
          + (f"{ours / t:.2f}" if threads != "-" else "n/a"))


if __name__ == "__main__":
    main()
