"""Gradient check of the seed-000 network (200 -> 300 ReLU -> 1, uniform [0, 1) init, one example, loss ~5e7).

Side by side in one process: the naive per-entry central-difference loop of the
seed (rewritten here: copy the parameter, perturb one entry, judge by the
largest per-entry |diff / sum| against 1e-5), torch.autograd.gradcheck in full
and fast mode (when torch is installed), and course_lib's directional and full
checks. Backprop is correct in every case, so the right verdict is PASS.
"""
from __future__ import annotations

import time

import numpy as np
from _table import print_table

from course_lib.data import seed000_problem
from course_lib.gradcheck import check_model
from course_lib.losses import SumSquaredError
from course_lib.modules import Linear, ReLU, Sequential


def seed000_net() -> Sequential:
    rng = np.random.default_rng(0)
    net = Sequential(Linear(200, 300, init="uniform", rng=rng), ReLU(), Linear(300, 1, init="uniform", rng=rng))
    for layer in (net[0], net[2]):
        layer.b[:] = rng.random(layer.b.shape)
    return net


def naive_check(net: Sequential, X: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> bool:
    """The anchor's algorithm: per entry, copy the parameter, perturb, two forward passes; max per-entry relative error < 1e-5."""
    loss = SumSquaredError()
    net.zero_grad()
    loss.forward(net.forward(X), y)
    net.backward(loss.backward())
    ok = True
    for (_name, p), (_, g) in zip(net.named_parameters(), net.named_gradients()):
        original = p.copy()
        num = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            plus = original.copy()
            plus[idx] += eps
            minus = original.copy()
            minus[idx] -= eps
            p[...] = plus
            f_plus = loss.forward(net.forward(X), y)
            p[...] = minus
            f_minus = loss.forward(net.forward(X), y)
            num[idx] = (f_plus - f_minus) / (2 * eps)
        p[...] = original
        worst = np.max(np.abs(g - num) / np.maximum(np.abs(g + num), 1e-300))
        ok &= bool(worst < 1e-5)
    return ok


def torch_check(fast: bool) -> bool:
    import torch

    net = seed000_net()
    X, y = seed000_problem()
    t = lambda a: torch.tensor(a, dtype=torch.float64)
    params = [t(net[0].W).requires_grad_(), t(net[0].b).requires_grad_(),
              t(net[2].W).requires_grad_(), t(net[2].b).requires_grad_()]
    Xt, yt = t(X), t(y)

    def loss(W1, b1, W2, b2):
        return ((torch.relu(Xt @ W1 + b1) @ W2 + b2 - yt) ** 2).sum()

    return bool(torch.autograd.gradcheck(loss, tuple(params), fast_mode=fast, raise_exception=False))


def timed(fn):
    start = time.perf_counter()
    verdict = fn()
    return time.perf_counter() - start, verdict


def main() -> None:
    X, y = seed000_problem()
    net = seed000_net()
    rows = []
    t_dir, rep = timed(lambda: check_model(net, SumSquaredError(), X, y))
    rows.append(["course_lib directional (3 dirs/param)", t_dir, "PASS" if rep.passed else "FAIL", rep.evaluations])
    t_full, rep_full = timed(lambda: check_model(seed000_net(), SumSquaredError(), X, y, mode="full"))
    rows.append(["course_lib full (per entry, norm-wise)", t_full, "PASS" if rep_full.passed else "FAIL", rep_full.evaluations])
    t_naive, ok = timed(lambda: naive_check(seed000_net(), X, y))
    rows.append(["naive per-entry loop (seed 000)", t_naive, "PASS" if ok else "FAIL (false)", 2 * 60601])
    try:
        import torch  # noqa: F401
        for fast in (True, False):
            t_t, ok = timed(lambda: torch_check(fast))
            rows.append([f"torch gradcheck {'fast_mode' if fast else 'full'}", t_t, "PASS" if ok else "FAIL (false)", "-"])
    except ImportError:
        rows.append(["torch gradcheck", "-", "torch not installed", "-"])
    for r in rows:
        r.insert(2, f"{r[1] / t_dir:.0f}x" if isinstance(r[1], float) else "-")
    print_table("Gradient check, seed-000 network (60,601 parameters, correct backprop: right verdict is PASS)",
                ["method", "seconds", "vs directional", "verdict", "loss evals"], rows)
    print(f"  goal: right verdict in <= 50 ms -> course_lib directional {t_dir * 1e3:.1f} ms, {'PASS' if rep.passed else 'FAIL'}")


if __name__ == "__main__":
    main()
