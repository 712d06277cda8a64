"""Correct answers of lesson 05 (gradient checking) written unlike the solutions (see grader/pipeline/styles/__init__.py)."""

ALTERNATIVES = {
    "numerical_gradient": [
        ("nditer with multi_index", '''
def numerical_gradient(f, x, eps=1e-6):
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2.0 * eps)
        it.iternext()
    return grad
'''),
        ("flat positions through unravel_index, a nested list returned", '''
from numpy import *


def numerical_gradient(f, x, eps=1e-6):
    out = zeros(x.size)
    for k in range(x.size):
        i = unravel_index(k, x.shape)
        keep = x[i].copy()
        x[i] = keep + eps
        hi = float(f(x))
        x[i] = keep - eps
        lo = float(f(x))
        x[i] = keep
        out[k] = 0.5 * (hi - lo) / eps
    return out.reshape(x.shape).tolist()
'''),
        ("recursion over the axes, a helper", '''
import itertools


def _indices(shape):
    if not shape:
        yield ()
        return
    for head in range(shape[0]):
        for tail in _indices(shape[1:]):
            yield (head,) + tail


def _difference(f, x, index, eps):
    value = x[index]
    x[index] = value + eps
    plus = f(x)
    x[index] = value - eps
    minus = f(x)
    x[index] = value
    return (plus - minus) / eps / 2


def numerical_gradient(f, x, eps=1e-6):
    print("central differences over", x.size, "entries")
    grad = np.empty(x.shape)
    for index in _indices(x.shape):
        grad[index] = _difference(f, x, index, eps)
    return grad
'''),
        ("itertools.product, perturbation through a view of the flat memory", '''
import itertools


def numerical_gradient(f, x, eps=1e-6):
    flat = x.reshape(-1)          # a view: writing to it moves x itself
    assert np.shares_memory(flat, x)
    values = []
    for k, _ in enumerate(itertools.product(*[range(n) for n in x.shape])):
        saved = flat[k]
        flat[k] = saved + eps
        a = f(x)
        flat[k] = saved - eps
        b = f(x)
        flat[k] = saved
        values.append((a - b) / (eps + eps))
    return np.array(values, dtype=np.float64).reshape(x.shape)
'''),
    ],
    "relative_error": [
        ("math.fsum over the entries", '''
import math


def relative_error(a, b, floor=1e-12):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if np.shape(a) != np.shape(b):
        raise ValueError("shapes differ: %s vs %s" % (np.shape(a), np.shape(b)))
    fa, fb = a.ravel().tolist(), b.ravel().tolist()
    num = math.sqrt(math.fsum((p - q) ** 2 for p, q in zip(fa, fb)))
    den = math.sqrt(math.fsum(p * p for p in fa)) + math.sqrt(math.fsum(q * q for q in fb))
    return num / max(den, floor)
'''),
        ("star import, sqrt of sum of squares, a numpy float64 returned", '''
from numpy import *


def relative_error(a, b, floor=1e-12):
    a, b = asarray(a, dtype=float64), asarray(b, dtype=float64)
    if a.shape != b.shape:
        raise ValueError(f"{a.shape} != {b.shape}")
    top = sqrt(sum((a - b) ** 2))
    bottom = sqrt(sum(a ** 2)) + sqrt(sum(b ** 2))
    return float64(top / maximum(bottom, floor))
'''),
        ("einsum norms, a helper, the floor as an if", '''
def _norm2(v):
    v = np.atleast_1d(v).ravel()
    return float(np.sqrt(np.einsum("i,i->", v, v)))


def relative_error(a, b, floor=1e-12):
    a = np.array(a, dtype=np.float64, ndmin=0)
    b = np.array(b, dtype=np.float64, ndmin=0)
    if a.shape != b.shape:
        raise ValueError("relative_error needs equal shapes")
    denominator = _norm2(a) + _norm2(b)
    if denominator < floor:
        denominator = floor
    return _norm2(a - b) / denominator
'''),
        ("math.hypot of the flattened entries", '''
import math


def relative_error(a, b, floor=1e-12):
    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64)
    if y.shape != np.shape(a):
        raise ValueError("mismatched shapes")
    y = y.reshape(-1)
    diff = math.hypot(*(x - y).tolist()) if x.size else 0.0
    size = (math.hypot(*x.tolist()) + math.hypot(*y.tolist())) if x.size else 0.0
    return float(diff / max(size, floor))
'''),
    ],
    "gradient_check": [
        ("zip of parameters and gradients, a named inner function", '''
def gradient_check(model, loss, X, y, eps=1e-6, rtol=1e-6,
                   numerical_gradient=numerical_gradient, relative_error=relative_error):
    model.zero_grad()
    L = float(loss.forward(model.forward(X), y))
    model.backward(loss.backward())

    def f(_ignored):
        return loss.forward(model.forward(X), y)

    pairs = [(name, p, g.copy()) for (name, p), (_, g) in zip(model.named_parameters(), model.named_gradients())]
    out = {}
    for name, p, g in pairs:
        if np.shape(g) != np.shape(p):
            out[name] = dict(rel_error=1.0, threshold=rtol, passed=False)
            continue
        num = numerical_gradient(f, p, eps)
        err = relative_error(g, num)
        scale = max(np.sqrt(np.sum(g ** 2)) + np.sqrt(np.sum(num ** 2)), 1e-12)
        limit = rtol + 16 * U * abs(L) * np.sqrt(p.size) / eps / scale
        out[name] = dict(rel_error=err, threshold=limit, passed=err <= limit)
    return out
'''),
        ("star import, a row helper, numpy scalars in the rows", '''
from numpy import *


def _row(g, num, L, n, eps, rtol, relative_error):
    err = relative_error(g, num)
    thr = rtol + 16 * U * abs(L) * sqrt(n) / (eps * maximum(linalg.norm(g) + linalg.norm(num), 1e-12))
    return {"rel_error": float64(err), "threshold": float64(thr), "passed": bool_(err <= thr)}


def gradient_check(model, loss, X, y, eps=1e-6, rtol=1e-6,
                   numerical_gradient=numerical_gradient, relative_error=relative_error):
    model.zero_grad()
    L = loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    grads = dict((k, array(v, dtype=float64)) for k, v in model.named_gradients())
    loss_fn = lambda _: loss.forward(model.forward(X), y)
    return {name: ({"rel_error": 1.0, "threshold": rtol, "passed": False} if grads[name].shape != p.shape else
                   _row(grads[name], numerical_gradient(loss_fn, p, eps), L, p.size, eps, rtol, relative_error))
            for name, p in model.named_parameters()}
'''),
        ("gradients read into a list, verdict before the row, extra keys", '''
def gradient_check(model, loss, X, y, eps=1e-6, rtol=1e-6,
                   numerical_gradient=numerical_gradient, relative_error=relative_error):
    for g in model.gradients():
        g.fill(0.0)
    prediction = model.forward(X)
    L = loss.forward(prediction, y)
    model.backward(loss.backward())
    names = [n for n, _ in model.named_parameters()]
    grads = [np.copy(g) for g in model.gradients()]
    params = model.parameters()
    report = {}
    for name, p, g in zip(names, params, grads):
        if g.shape != p.shape:
            report[name] = {"rel_error": 1.0, "threshold": rtol, "passed": False, "note": "shape mismatch"}
            continue
        numeric = numerical_gradient(lambda w: loss.forward(model.forward(X), y), p, eps=eps)
        r = relative_error(numeric, g)
        noise = 16.0 * U * abs(L) * p.size ** 0.5 / eps
        t = rtol + noise / max(np.linalg.norm(g.ravel()) + np.linalg.norm(numeric.ravel()), 1e-12)
        ok = r <= t
        report[name] = {"passed": ok, "rel_error": r, "threshold": t, "numeric_norm": float(np.linalg.norm(numeric))}
    print("checked", len(report), "parameters")
    return report
'''),
        ("the loss recomputed as the mean reference, einsum norms", '''
def _fro(a):
    a = np.asarray(a, dtype=np.float64).ravel()
    return float(np.sqrt(np.einsum("i,i", a, a)))


def gradient_check(model, loss, X, y, eps=1e-6, rtol=1e-6,
                   numerical_gradient=numerical_gradient, relative_error=relative_error):
    model.zero_grad()
    value = loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    analytic = {}
    for name, g in model.named_gradients():
        analytic[name] = np.array(g)
    results = {}
    for name, p in model.named_parameters():
        g = analytic[name]
        if g.shape == p.shape:
            n = numerical_gradient(lambda _p: loss.forward(model.forward(X), y), p, eps)
            e = float(relative_error(g, n))
            t = rtol + (16 * U * abs(value) * np.sqrt(p.size)) / (eps * max(_fro(g) + _fro(n), 1e-12))
            results[name] = {"rel_error": e, "threshold": t, "passed": e <= t}
        else:
            results[name] = {"rel_error": 1.0, "threshold": rtol, "passed": False}
    return results
'''),
    ],
    "directional_check": [
        ("all directions drawn at once", '''
def directional_check(loss_fn, params, grads, num_directions=3, eps=1e-6, rng=None, rtol=1e-6):
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    out = {}
    for name in params:
        p = params[name]
        g = np.asarray(grads[name], dtype=float)
        V = gen.standard_normal((num_directions,) + p.shape)
        V /= np.sqrt(np.sum(V.reshape(num_directions, -1) ** 2, axis=1)).reshape((-1,) + (1,) * p.ndim)
        original = p.copy()
        errors, ok = [], True
        for v in V:
            np.copyto(p, original + eps * v)
            lp = loss_fn()
            np.copyto(p, original - eps * v)
            lm = loss_fn()
            np.copyto(p, original)
            num = (lp - lm) / (2 * eps)
            ana = float(np.vdot(g, v))
            err = abs(ana - num)
            ok &= bool(err <= rtol * (abs(ana) + abs(num)) + 16 * U * max(abs(lp), abs(lm)) / eps)
            errors.append(err / max(abs(ana) + abs(num), 1e-12))
        out[name] = {"rel_error": max(errors) if errors else 0.0, "passed": ok}
    return out
'''),
        ("star import, a per-direction helper, numpy scalars", '''
from numpy import *


def _one_direction(loss_fn, p, g, v, eps, rtol):
    base = p.copy()
    p[...] = base + eps * v
    plus = float(loss_fn())
    p[...] = base - eps * v
    minus = float(loss_fn())
    p[...] = base
    numeric = (plus - minus) / 2 / eps
    analytic = sum(g * v)
    err = abs(analytic - numeric)
    allowed = rtol * (abs(analytic) + abs(numeric)) + 16 * U * maximum(abs(plus), abs(minus)) / eps
    return err / maximum(abs(analytic) + abs(numeric), 1e-12), err <= allowed


def directional_check(loss_fn, params, grads, num_directions=3, eps=1e-6, rng=None, rtol=1e-6):
    gen = random.default_rng(rng)
    report = {}
    for name, p in params.items():
        results = []
        for _ in range(num_directions):
            v = gen.normal(size=p.shape)
            results.append(_one_direction(loss_fn, p, asarray(grads[name], dtype=float64), v / linalg.norm(v), eps, rtol))
        rel = array([r for r, _ in results])
        report[name] = {"rel_error": float64(rel.max()), "passed": bool_(all([ok for _, ok in results]))}
    return report
'''),
        ("the loss noise from both evaluations, a list of booleans, extra key", '''
import math


def directional_check(loss_fn, params, grads, num_directions=3, eps=1e-6, rng=None, rtol=1e-6):
    gen = np.random.default_rng(rng)
    report = {}
    for name, p in params.items():
        saved = np.array(p, copy=True)
        g = np.array(grads[name], dtype=np.float64)
        verdicts, worst = [], 0.0
        for _ in range(num_directions):
            v = gen.standard_normal(p.shape)
            v = v / math.sqrt(float(np.sum(v * v)))
            p[...] = saved + eps * v
            f1 = loss_fn()
            p[...] = saved - eps * v
            f2 = loss_fn()
            p[...] = saved
            numeric = (f1 - f2) / (2 * eps)
            analytic = float(np.tensordot(g, v, axes=g.ndim))
            gap = abs(analytic - numeric)
            verdicts.append(gap <= rtol * (abs(analytic) + abs(numeric)) + 16 * U * max(abs(f1), abs(f2)) / eps)
            worst = max(worst, gap / max(abs(analytic) + abs(numeric), 1e-12))
        report[name] = {"rel_error": worst, "passed": all(verdicts), "directions": num_directions}
    return report
'''),
        ("ravelled parameter view, dot products, verdict collected by any()", '''
def directional_check(loss_fn, params, grads, num_directions=3, eps=1e-6, rng=None, rtol=1e-6):
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    table = {}
    for name, p in params.items():
        g = np.ravel(np.asarray(grads[name], dtype=np.float64))
        flat = p.reshape(-1)
        keep = flat.copy()
        fails, worst = [], 0.0
        for _ in range(num_directions):
            d = rng.standard_normal(flat.size)
            d /= np.linalg.norm(d)
            flat[:] = keep + eps * d
            up = float(loss_fn())
            flat[:] = keep - eps * d
            down = float(loss_fn())
            flat[:] = keep
            num, ana = (up - down) / (2 * eps), float(g @ d)
            fails.append(abs(ana - num) > rtol * (abs(ana) + abs(num)) + 16 * U * max(abs(up), abs(down)) / eps)
            worst = max(worst, abs(ana - num) / max(abs(ana) + abs(num), 1e-12))
        table[name] = {"rel_error": worst, "passed": not any(fails)}
    return table
'''),
    ],
    "find_bugs": [
        ("a sorted list, a named loss function", '''
def find_bugs(model, loss, X, y, directional_check=directional_check, num_directions=3, eps=1e-6, rng=0):
    model.zero_grad()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())

    def loss_fn():
        return loss.forward(model.forward(X), y)

    params, grads = {}, {}
    broken = []
    for (name, p), (_, g) in zip(model.named_parameters(), model.named_gradients()):
        if np.shape(g) != np.shape(p):
            broken.append(name)
        else:
            params[name], grads[name] = p, np.array(g)
    rows = directional_check(loss_fn, params, grads, num_directions=num_directions, eps=eps, rng=rng)
    broken += [name for name in rows if not rows[name]["passed"]]
    return sorted(broken)
'''),
        ("a tuple, gradients read by position", '''
def find_bugs(model, loss, X, y, directional_check=directional_check, num_directions=3, eps=1e-6, rng=0):
    for g in model.gradients():
        g[...] = 0
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    names = [name for name, _ in model.named_parameters()]
    ps, gs = model.parameters(), [g.copy() for g in model.gradients()]
    bad = tuple(n for n, p, g in zip(names, ps, gs) if g.shape != p.shape)
    keep = [i for i, n in enumerate(names) if n not in bad]
    report = directional_check(lambda: loss.forward(model.forward(X), y), {names[i]: ps[i] for i in keep},
                               {names[i]: gs[i] for i in keep}, num_directions=num_directions, eps=eps, rng=rng)
    return bad + tuple(n for n, row in report.items() if not bool(row["passed"]))
'''),
        ("star import, a frozenset, a print", '''
from numpy import *


def find_bugs(model, loss, X, y, directional_check=directional_check, num_directions=3, eps=1e-6, rng=0):
    model.zero_grad()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    p = dict(model.named_parameters())
    g = {k: array(v, dtype=float64) for k, v in model.named_gradients()}
    mismatched = {k for k in p if shape(g[k]) != shape(p[k])}
    checked = directional_check(lambda: loss.forward(model.forward(X), y),
                                {k: v for k, v in p.items() if k not in mismatched},
                                {k: v for k, v in g.items() if k not in mismatched},
                                num_directions=num_directions, eps=eps, rng=rng)
    found = frozenset(mismatched | {k for k, row in checked.items() if not row["passed"]})
    print("suspects:", sorted(found))
    return found
'''),
        ("one directional check per parameter, a list", '''
def find_bugs(model, loss, X, y, directional_check=directional_check, num_directions=3, eps=1e-6, rng=0):
    model.zero_grad()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    grads = dict((name, np.asarray(g, dtype=float).copy()) for name, g in model.named_gradients())
    found = []
    for name, p in model.named_parameters():
        if grads[name].shape != p.shape:
            found.append(name)
            continue
        row = directional_check(lambda: loss.forward(model.forward(X), y), {name: p}, {name: grads[name]},
                                num_directions=num_directions, eps=eps, rng=rng)[name]
        if not row["passed"]:
            found.append(name)
    return found
'''),
    ],
    "glu_backward": [
        ("scipy-free expit by tanh, an OrderedDict, einsum", '''
from collections import OrderedDict


def glu_backward(X, W, b, V, c, grad_output):
    gate = 0.5 * (1 + np.tanh(0.5 * (X @ V + c)))
    lin = X @ W + b
    d_lin = grad_output * gate
    d_pre = grad_output * lin * gate * (1 - gate)
    out = OrderedDict()
    out["X"] = np.einsum("bj,ij->bi", d_lin, W) + np.einsum("bj,ij->bi", d_pre, V)
    out["W"] = np.einsum("bi,bj->ij", X, d_lin)
    out["b"] = np.einsum("bj->j", d_lin)
    out["V"] = np.einsum("bi,bj->ij", X, d_pre)
    out["c"] = np.einsum("bj->j", d_pre)
    return out
'''),
        ("one example at a time, float32, extra keys", '''
def glu_backward(X, W, b, V, c, grad_output):
    grads = {"X": np.zeros_like(X), "W": np.zeros_like(W), "b": np.zeros_like(b), "V": np.zeros_like(V),
             "c": np.zeros_like(c)}
    for row, (x, g) in enumerate(zip(X, grad_output)):
        s = 1 / (1 + np.exp(-(x @ V + c)))
        a = x @ W + b
        grads["W"] += np.outer(x, g * s)
        grads["b"] += g * s
        grads["V"] += np.outer(x, g * a * s * (1 - s))
        grads["c"] += g * a * s * (1 - s)
        grads["X"][row] = W @ (g * s) + V @ (g * a * s * (1 - s))
    grads = {k: v.astype(np.float32) for k, v in grads.items()}
    grads["note"] = "hand-derived"
    return grads
'''),
        ("tanh form of the gate, a helper, dict built from pairs", '''
def _gate(Z):
    return 0.5 + 0.5 * np.tanh(Z / 2)


def glu_backward(X, W, b, V, c, grad_output):
    S = _gate(np.dot(X, V) + c)
    A = np.dot(X, W) + b
    dA, dG = grad_output * S, grad_output * A * S * (1.0 - S)
    names = ("X", "W", "b", "V", "c")
    values = (np.dot(dA, W.T) + np.dot(dG, V.T), np.dot(X.T, dA), dA.sum(0), np.dot(X.T, dG), dG.sum(0))
    return dict(zip(names, values))
'''),
        ("from numpy import *, exp(-z) written out, a print", '''
from numpy import *


def glu_backward(X, W, b, V, c, grad_output):
    pre = X @ V + c
    s = exp(-logaddexp(0.0, -pre))  # sigmoid without overflow
    a = X @ W + b
    d_a = multiply(grad_output, s)
    d_pre = multiply(multiply(grad_output, a), s - s * s)
    print("gate range", float(s.min()), float(s.max()))
    return {"W": X.T @ d_a, "V": X.T @ d_pre, "b": sum(d_a, axis=0), "c": sum(d_pre, axis=0),
            "X": d_a @ W.T + d_pre @ V.T}
'''),
    ],
    "answer_glu_bugs": [
        ("upper case", '''
answer_glu_bugs = "B"
'''),
        ("spaces around it", '''
answer_glu_bugs = "  b\t"
'''),
        ("a numpy string scalar", '''
answer_glu_bugs = np.str_("b")
'''),
        ("computed, a print", '''
options = ["a", "b", "c", "d"]
answer_glu_bugs = options[1]
print("my answer:", answer_glu_bugs)
'''),
    ],
}
