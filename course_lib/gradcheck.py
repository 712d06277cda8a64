"""Gradient checking: compare backprop's gradients with finite differences.

Central difference, for a small step ``h``:

    dL/dx_i ~= (L(x + h e_i) - L(x - h e_i)) / (2h)        error O(h^2) + O(u |L| / h)

The first error term (truncation) shrinks with ``h``; the second (round-off,
``u ~ 1e-16`` in float64) grows as ``h`` shrinks. Neither is visible in a raw
per-entry relative error, which is why a naive check with ``h = 1e-6`` on a
network whose loss is ``5e7`` calls correct gradients wrong: the round-off
alone is ``1e-16 * 5e7 / 1e-6 = 5e-3`` per entry, larger than the smallest
true entries. The checks here therefore

* compare whole tensors with a norm-wise relative error that never divides
  0 by 0 (an absolute floor in the denominator),
* allow for the round-off they can estimate from ``|L|`` and ``h``,
* report entries whose one-sided differences disagree (a ReLU kink inside
  ``[x - h, x + h]``) as kinks instead of failures, and
* offer a *directional* check: for random unit directions ``v`` compare
  ``g . v`` with ``(L(p + h v) - L(p - h v)) / 2h``. Two forward passes per
  direction check a whole tensor, so a 60,601-parameter network is checked in
  a few milliseconds, with a verdict per parameter.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

Array = np.ndarray
U64 = float(np.finfo(np.float64).eps)  # machine epsilon of float64, 2.2e-16 (twice the unit round-off)


class PrecisionWarning(UserWarning):
    """A gradient check was asked to run in less than float64 precision."""


def _require_float64(x: Array, name: str) -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy ndarray (perturbed in place), got {type(x).__name__}")
    if x.dtype != np.float64:
        raise TypeError(f"{name}: gradient checks need float64, got dtype {x.dtype}; use x.astype(np.float64)")


def numerical_gradient(f: Callable[[Array], float], x: Array, eps: float = 1e-6) -> Array:
    """Central-difference gradient of the scalar function ``f`` at ``x``.

    ``grad[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``. ``x`` is perturbed
    *in place* one entry at a time (so ``f`` may ignore its argument and read a
    model's parameters) and restored exactly afterwards.

    Args:
        f: maps the array ``x`` to a float.
        x: the point, an ndarray (float64; float32 works but warns).
        eps: the step ``h``.
    Returns:
        an array of ``x``'s shape and dtype.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x: expected a numpy ndarray (it is perturbed in place), got {type(x).__name__}")
    if x.dtype == np.float32:
        warnings.warn("numerical_gradient on float32: round-off is 2^29 times larger than in float64",
                      PrecisionWarning, stacklevel=2)
    elif x.dtype != np.float64:
        raise TypeError(f"x: expected a float64 array, got dtype {x.dtype}")
    if not eps > 0:
        raise ValueError(f"eps: expected a positive step, got {eps!r}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        f_plus = float(f(x))
        x[i] = old - eps
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a: Array, b: Array, floor: float = 1e-12) -> float:
    """Norm-wise relative error ``||a - b|| / max(||a|| + ||b||, floor)``, in [0, 1].

    The floor makes ``a = b = 0`` give 0 instead of 0/0.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error: expected arrays of one shape, got {a.shape} and {b.shape}")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), floor))


def entrywise_relative_error(a: Array, b: Array, floor: float = 1e-12) -> Array:
    """``|a_i - b_i| / max(|a_i| + |b_i|, floor)`` for every entry (the naive per-entry metric)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"entrywise_relative_error: expected arrays of one shape, got {a.shape} and {b.shape}")
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


@dataclass
class ParamCheck:
    """The verdict for one parameter tensor."""

    name: str
    shape: tuple
    status: str  # "PASS", "FAIL" or "KINK"
    rel_error: float
    threshold: float
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status != "FAIL"


@dataclass
class GradCheckReport:
    """Per-parameter verdicts; ``passed`` when no parameter FAILs (KINK entries are not failures)."""

    rows: list[ParamCheck] = field(default_factory=list)
    mode: str = "directional"
    evaluations: int = 0

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def failing(self) -> list[str]:
        """Names of the parameters whose gradient is wrong."""
        return [r.name for r in self.rows if r.status == "FAIL"]

    def __getitem__(self, name: str) -> ParamCheck:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no parameter named {name!r}; have {[r.name for r in self.rows]}")

    def __str__(self) -> str:
        head = f"gradient check ({self.mode}, {self.evaluations} loss evaluations): {'PASS' if self.passed else 'FAIL'}"
        lines = [head, f"  {'parameter':<12} {'shape':<12} {'status':<6} {'rel. error':>11} {'threshold':>11}  detail"]
        for r in self.rows:
            lines.append(f"  {r.name:<12} {str(r.shape):<12} {r.status:<6} {r.rel_error:11.3e} {r.threshold:11.3e}  {r.detail}")
        return "\n".join(lines)

    __repr__ = __str__


def _validate_pairs(params: Mapping[str, Array], grads: Mapping[str, Array]) -> list[ParamCheck]:
    """Shape problems become FAIL rows straight away; returns them."""
    rows = []
    if set(params) != set(grads):
        raise ValueError(f"grads: expected gradients for exactly {sorted(params)}, got {sorted(grads)}")
    for name, p in params.items():
        _require_float64(p, f"params[{name!r}]")
        g = np.asarray(grads[name])
        if g.shape != p.shape:
            hint = ""
            if g.ndim == p.ndim + 1 and g.shape[1:] == p.shape:
                hint = " (one row per example: sum over the batch axis)"
            elif g.shape == p.shape[::-1]:
                hint = " (transposed)"
            rows.append(ParamCheck(name, p.shape, "FAIL", 1.0, 0.0, f"gradient has shape {g.shape}, expected {p.shape}{hint}"))
    return rows


def directional_check(
    loss_fn: Callable[[], float],
    params: Mapping[str, Array],
    grads: Mapping[str, Array],
    num_directions: int = 3,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    rng: np.random.Generator | int | None = 0,
) -> GradCheckReport:
    """Check each parameter's gradient along random unit directions.

    For a unit direction ``v`` in parameter ``p``'s space, with step
    ``h = eps * max(1, ||p||)``:

        numeric  = (L(p + h v) - L(p - h v)) / (2h)
        analytic = g . v

    The direction passes when ``|analytic - numeric| <= rtol * (|analytic| + |numeric|) + r``,
    where ``r = 8 u (|L(p+hv)| + |L(p-hv)|) / h`` bounds the round-off of the
    difference quotient. A failing direction is retried with ``h / 100``; if
    the one-sided slopes still disagree by the same amount, the loss has a kink
    at ``p`` along ``v`` (ReLU at exactly 0) and the row says KINK, not FAIL.

    Args:
        loss_fn: recomputes the loss from the *current* parameter arrays.
        params: name -> float64 parameter array (perturbed in place, restored).
        grads: name -> analytic gradient, same shapes.
        num_directions: random directions per parameter.
        eps: relative step size.
        rtol: relative tolerance.
        rng: seed or Generator for the directions.
    Returns:
        a :class:`GradCheckReport` with one row per parameter.
    """
    gen = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    rows = {r.name: r for r in _validate_pairs(params, grads)}
    L0 = float(loss_fn())
    evaluations = 1
    rank = {"PASS": 0, "KINK": 1, "FAIL": 2}
    for name, p in params.items():
        if name in rows:
            continue
        g = np.asarray(grads[name], dtype=np.float64)
        h = eps * max(1.0, float(np.linalg.norm(p)))
        worst = ParamCheck(name, p.shape, "PASS", 0.0, 0.0)
        for k in range(num_directions):
            v = gen.standard_normal(p.shape)
            v /= np.linalg.norm(v)
            row = _check_direction(loss_fn, L0, p, float(np.sum(g * v)), v, h, rtol)
            evaluations += 2 if row.status == "PASS" and row.detail == "" else 6
            row.name, row.shape = name, p.shape
            if row.status != "PASS":
                row.detail = f"direction {k}: {row.detail}"
            if (rank[row.status], row.rel_error) > (rank[worst.status], worst.rel_error):
                worst = row
        rows[name] = worst
    return GradCheckReport([rows[n] for n in params], "directional", evaluations)


def _difference(loss_fn: Callable[[], float], p: Array, v: Array, h: float) -> tuple[float, float]:
    """``(L(p + h v), L(p - h v))``, leaving ``p`` as it was."""
    p0 = p.copy()
    p += h * v
    Lp = float(loss_fn())
    p[...] = p0 - h * v
    Lm = float(loss_fn())
    p[...] = p0
    return Lp, Lm


def _check_direction(loss_fn, L0: float, p: Array, analytic: float, v: Array, h: float, rtol: float) -> ParamCheck:
    """Judge one direction.

    The round-off bound ``r = 8 u (|L+| + |L-| + |L0|) / step`` says how far the
    difference quotient can be from the truth through rounding alone. While
    ``r`` is more than a tenth of the values compared, the comparison proves
    nothing, so the step grows (x100, x10^4; a huge loss needs a large step).
    At the first conclusive step the direction passes or, if not, is retried
    at a step 100 times smaller: a pass there means truncation error, one-sided
    slopes that still jump mean a kink (KINK), anything else is a FAIL.
    """
    def attempt(step: float):
        Lp, Lm = _difference(loss_fn, p, v, step)
        numeric = (Lp - Lm) / (2 * step)
        r = 8 * U64 * (abs(Lp) + abs(Lm) + abs(L0)) / step
        scale = max(abs(analytic) + abs(numeric), 1e-300)
        err = abs(analytic - numeric)
        jump = abs((Lp - L0) - (L0 - Lm)) / step
        return numeric, err, rtol * scale + r, r, scale, jump

    for step in (h, 100 * h, 1e4 * h):
        numeric, err, tol, r, scale, jump = attempt(step)
        if r <= 0.1 * scale:
            break
    else:  # never conclusive (a tiny g.v under a huge loss): the best we can say is "within round-off"
        if err <= tol:
            return ParamCheck("", (), "PASS", err / scale, tol / scale, "agrees within round-off")
        return ParamCheck("", (), "FAIL", err / scale, tol / scale,
                          f"analytic g.v = {analytic:.6g}, numeric = {numeric:.6g} (round-off {r:.2g} at the largest step)")
    if err <= tol:
        return ParamCheck("", (), "PASS", err / scale, tol / scale, "" if step == h else f"needed step {step:.2g}")
    first = (err, tol, scale, numeric, jump)
    small = step / 100
    numeric_s, err_s, tol_s, r_s, scale_s, jump_s = attempt(small)
    if err_s <= tol_s and r_s <= 0.1 * scale_s:
        return ParamCheck("", (), "PASS", err_s / scale_s, tol_s / scale_s,
                          f"passed at step {small:.2g} after failing at {step:.2g}")
    err, tol, scale, numeric, jump = first
    if jump_s > 0.5 * jump and jump_s > 10 * tol_s:
        return ParamCheck("", (), "KINK", err / scale, tol / scale,
                          f"one-sided slopes differ by {jump_s:.3g} at every step: the loss has a kink here")
    return ParamCheck("", (), "FAIL", err / scale, tol / scale, f"analytic g.v = {analytic:.6g}, numeric = {numeric:.6g}")


def full_check(
    loss_fn: Callable[[], float],
    params: Mapping[str, Array],
    grads: Mapping[str, Array],
    eps: float = 1e-6,
    rtol: float = 1e-6,
) -> GradCheckReport:
    """Per-entry central differences for every parameter, judged norm-wise per tensor.

    Costs two loss evaluations per scalar parameter. Entries whose one-sided
    slopes disagree (a kink within ``eps``) are left out of the error and counted
    in the detail; the threshold adds the estimated round-off
    ``8 u |L| / eps * sqrt(n)`` to ``rtol``.
    """
    rows = {r.name: r for r in _validate_pairs(params, grads)}
    L0 = float(loss_fn())
    evaluations = 1
    for name, p in params.items():
        if name in rows:
            continue
        g = np.asarray(grads[name], dtype=np.float64)
        num = np.zeros_like(p)
        kink = np.zeros(p.shape, dtype=bool)
        it = np.nditer(p, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            old = p[i]
            p[i] = old + eps
            Lp = float(loss_fn())
            p[i] = old - eps
            Lm = float(loss_fn())
            p[i] = old
            num[i] = (Lp - Lm) / (2 * eps)
            fwd, bwd = (Lp - L0) / eps, (L0 - Lm) / eps
            noise = 8 * U64 * (abs(Lp) + abs(Lm) + abs(L0)) / eps
            jump = abs(fwd - bwd)
            kink[i] = jump > 1e-3 * (abs(fwd) + abs(bwd)) + noise and abs(g[i] - num[i]) > 1e-3 * (abs(g[i]) + abs(num[i]))
        evaluations += 2 * p.size
        keep = ~kink
        rel = relative_error(g[keep], num[keep])
        noise_abs = 8 * U64 * abs(L0) / eps * np.sqrt(keep.sum())
        scale = np.linalg.norm(g[keep]) + np.linalg.norm(num[keep])
        thr = rtol + noise_abs / max(scale, 1e-300)
        ent = entrywise_relative_error(g, num)
        ent[kink] = 0
        worst = np.unravel_index(int(np.argmax(ent)), p.shape) if p.size else ()
        detail = (f"worst entry {tuple(int(j) for j in worst)}: analytic {g[worst]:.6g}, numeric {num[worst]:.6g}"
                  if p.size else "")
        if kink.any():
            detail += f"; {int(kink.sum())} entries at a kink skipped"
        status = "PASS" if rel <= thr else "FAIL"
        if status == "PASS" and kink.all() and p.size:
            status = "KINK"
        rows[name] = ParamCheck(name, p.shape, status, rel, thr, detail)
    return GradCheckReport([rows[n] for n in params], "full", evaluations)


def gradient_check(
    loss_fn: Callable[[], float],
    params: Mapping[str, Array],
    grads: Mapping[str, Array],
    mode: str = "directional",
    **kwargs,
) -> GradCheckReport:
    """Run :func:`directional_check` (default, a few loss evaluations) or :func:`full_check`."""
    if mode == "directional":
        return directional_check(loss_fn, params, grads, **kwargs)
    if mode == "full":
        return full_check(loss_fn, params, grads, **kwargs)
    raise ValueError(f"mode: expected 'directional' or 'full', got {mode!r}")


def check_model(model, loss, X: Array, y: Array, mode: str = "directional", **kwargs) -> GradCheckReport:
    """Backprop through ``model`` + ``loss`` on ``(X, y)`` and check every named parameter.

    Args:
        model: a :class:`course_lib.modules.Module`.
        loss: a loss with ``forward(y_hat, y)`` and ``backward()``.
        X, y: one batch (float64).
    """
    model.zero_grad()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    grads = {name: g.copy() for name, g in model.named_gradients()}
    params = dict(model.named_parameters())
    return gradient_check(lambda: loss.forward(model.forward(X), y), params, grads, mode=mode, **kwargs)
