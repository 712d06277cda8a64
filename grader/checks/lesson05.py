"""Checks of lesson 05 (gradient checking), run through the Student protocol.

The exercises take callables, arrays perturbed in place and models, none of
which a check can send as plain data.  So the check builds them in the
student's process from course_lib (``course_lib.testfuncs``, the modules,
losses and planted bugs of earlier lessons) and hands the student's function
to them; this lesson's own references (``course_lib.gradcheck``) are never
created there: the helpers the graded function takes as arguments are
table-driven stand-ins of ``course_lib.testfuncs`` that answer with numbers
this module computed.

What the checks accept:

* ``numerical_gradient(f, x, eps)`` is called as ``f.apply(numerical_gradient, eps)``
  (``numerical_gradient(f, f.x, eps)``) with a ``course_lib.testfuncs`` function
  holding a float64 array ``x``; it must return an array of ``x``'s shape equal
  to the central differences (relative error <= 1e-6; <= 1e-8 for ``sum(x**3)``,
  whose central difference is exactly ``3 x**2 + eps**2``) and leave ``x``
  bit-for-bit as it was.  ``f`` may read its argument or ignore it and read ``x``.
* ``relative_error(a, b)`` is called with float64 arrays (or 0-d arrays); it must
  return a float (a Python float or a numpy float scalar) equal to
  ``||a - b|| / max(||a|| + ||b||, 1e-12)`` (relative error <= 1e-9), symmetric, 0.0
  for two zero arrays, 1.0 against zeros, and raise ``ValueError`` (by that name)
  for arrays of different shapes.
* ``gradient_check(model, loss, X, y, eps=, rtol=, numerical_gradient=, relative_error=)``
  gets a course_lib ``Sequential`` that holds stale gradients, a course_lib loss and
  stand-ins for the two helpers; it must return a dict keyed by the model's dotted
  parameter names in ``named_parameters()`` order, each row a dict with ``rel_error``
  (within 1e-6 relative), ``threshold`` (the noise-aware formula, within 1e-6 relative
  plus 1 % of its noise term) and ``passed``, and leave the parameters unchanged.
* ``directional_check(loss_fn, params, grads, num_directions=, eps=, rng=)`` is called as
  ``loss_fn.apply(directional_check, grads, ...)`` with a ``course_lib.testfuncs``
  model loss whose ``params`` are the model's own arrays; ``rng`` is an int or a
  numpy Generator.  It must return one row per parameter (``rel_error``,
  ``passed``), pass correct gradients (even under a loss offset by 1e7), fail
  corrupted ones, restore the parameters exactly and use at most
  ``2 k`` loss evaluations per parameter (+1).
* ``find_bugs(model, loss, X, y, directional_check=)`` gets a course_lib network (a
  correct one holding stale gradients, then one with a planted bug of
  ``course_lib.bugs``) and a stand-in ``directional_check`` that judges the gradients
  it is given against this module's central differences, provided ``loss_fn()``
  re-runs the forward pass on the perturbed parameters; it must return a
  collection of names equal to the set of broken parameters.
* ``glu_backward(X, W, b, V, c, grad_output)`` gets float64 arrays (copies) and must return a
  dict with the keys "X", "W", "b", "V", "c": the gradients of ``sum(Y * grad_output)`` for
  ``Y = (X W + b) * sigmoid(X V + c)``, each within 1e-6 of central differences.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import course_lib.bugs as _bugs
import course_lib.losses as _losses
import course_lib.modules as _modules
from course_lib.gradcheck import relative_error as reference_relative_error

from . import (
    Cases,
    Handle,
    StudentError,
    array_equal,
    assert_close,
    assert_gradient,
    assert_true,
    norm,
    random_array,
    read_mapping,
    rng,
    student,
    to_bool,
    to_float,
    to_float64,
    to_names,
)
from . import numeric_vjp as _numeric_vjp
from . import numerical_gradient as _central_differences

__all__ = ["directional_check", "find_bugs", "glu_backward", "gradient_check", "numerical_gradient", "relative_error"]

U = 2.0 ** -53  # unit round-off of float64


def _kind(value: object) -> str:
    """The type of a student's value as their process named it (a handle's type, not ``Handle``)."""
    return value.type_name if isinstance(value, Handle) else type(value).__name__


def _keys(value: object) -> str:
    """What a student's row is, for a message: a dict's keys, or the type of anything else (never its contents)."""
    return f"a dict with keys {sorted(map(str, value))}" if isinstance(value, dict) else _kind(value)


# ------------------------------------------------------------------ networks on both sides
def _class(name: str) -> type:
    """A module or loss class of course_lib by name: modules, losses, or a planted bug."""
    for module in (_modules, _losses, _bugs):
        if hasattr(module, name):
            return getattr(module, name)
    raise KeyError(name)


def _path(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _local_network(spec: list, gen: np.random.Generator) -> _modules.Sequential:
    """``spec``: ``("Linear", d_in, d_out[, init])``, ``("LinearBiasMissing", d_in, d_out)``, ``("Tanh",)``..."""
    layers = []
    for name, *args in spec:
        cls = _class(name)
        if args:
            d_in, d_out, *init = args
            layers.append(cls(d_in, d_out, init=init[0], rng=gen) if init else cls(d_in, d_out, rng=gen))
        else:
            layers.append(cls())
    return _modules.Sequential(*layers)


def _remote_network(S, net: _modules.Sequential) -> Handle:
    """The same network (same classes, same weights) built in the student's process."""
    handles = []
    for layer in net.layers:
        if isinstance(layer, _modules.Linear):
            h = S.lib(_path(layer)).call(layer.d_in, layer.d_out)
            h.set("W", layer.W.copy())
            h.set("b", layer.b.copy())
        else:
            h = S.lib(_path(layer)).call()
        handles.append(h)
    return S.lib("course_lib.modules.Sequential").call(*handles)


def _remote_parameters(net: Handle) -> dict:
    return {name: np.asarray(p, dtype=np.float64) for name, p in net.method("named_parameters")}


def _moved_loss(net, loss, X: np.ndarray, y: np.ndarray, p: np.ndarray, index: tuple, delta: float) -> float:
    saved = p[index]
    p[index] = saved + delta
    try:
        return float(loss.forward(net.forward(X), y))
    finally:
        p[index] = saved


def _true_gradients(net, loss, X: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> dict:
    """Central differences of the loss of ``net`` with respect to every parameter (in place, restored)."""
    return {name: _central_differences(lambda _: loss.forward(net.forward(X), y), p, eps)
            for name, p in net.named_parameters()}


def _collection(value: object, name: str, limit: int = 1000) -> object:
    """A student's set (or other non-plain collection, reached as a handle) as a list of its items.

    Plain lists and tuples come back as they are; a handle is read through
    ``len()`` and its iterator, at most ``limit`` items.
    """
    if not isinstance(value, Handle):
        return value
    try:
        count = value.method("__len__")
        assert_true(type(count) is int and 0 <= count <= limit, f"{name}: len() gave {count!r}")
        items = value.method("__iter__")
        return [items.method("__next__") for _ in range(count)]
    except StudentError as exc:
        raise AssertionError(f"{name}: expected a collection of names, got {value.type_name} ({exc.message})") from None


def _all_zeros(value: object, shape: tuple) -> bool:
    """Whether the student's array ``value`` is all zeros of the given shape (False for anything unreadable)."""
    try:
        arr = to_float64(value, "numerical_gradient")
    except AssertionError:
        return False
    return arr.shape == shape and not bool(np.any(arr))


def _close_enough(value: object, expected: np.ndarray, rtol: float) -> bool:
    try:
        assert_close("numerical_gradient", value, expected, rtol=rtol)
    except AssertionError:
        return False
    return True


def _probe(gen: np.random.Generator, shape: tuple) -> tuple:
    return tuple(int(i) for i in np.unravel_index(int(gen.integers(int(np.prod(shape)))), shape))


# ------------------------------------------------------------------ exercise 1
def numerical_gradient(points: float) -> Cases:
    """Cases for ``numerical_gradient``: central differences, in place, restored exactly.

    ``cases.add(label, shape=(3, 4), eps=1e-6, kind="argument" | "closure" | "cubic")``.

    Accepts: any array-like of numbers of x's shape (an ndarray of any float dtype, nested lists), computed by any
    loop over the entries, as long as x is perturbed in place and every entry is put back bit for bit.
    """
    S = student()

    def check(label: str, shape: tuple, eps: float = 1e-6, kind: str = "argument") -> None:
        shape = tuple(shape)
        gen = rng(label)
        x = random_array(gen, shape, min_abs=0.1)
        x_saved = x.copy()
        if kind == "cubic":
            # (x+h)^3 - (x-h)^3 = 6 x^2 h + 2 h^3: the central difference is exactly 3 x^2 + h^2
            f = S.lib("course_lib.testfuncs.make_cube_sum").call(x)
            expected, what, rtol = 3 * x_saved ** 2 + eps ** 2, "numerical_gradient of sum(x**3)", 1e-8
        else:
            C = random_array(gen, shape)
            # closure: f ignores its argument and reads x itself, like a loss reading a weight matrix
            f = S.lib("course_lib.testfuncs.make_sin_sum").call(C, x, closure=(kind == "closure"))
            expected, what, rtol = C * np.cos(x_saved), f"numerical_gradient of sum(C * sin(x)) [{kind}]", 1e-6
        got = f.method("apply", S.value("numerical_gradient"), eps)
        if kind == "closure" and _all_zeros(got, shape):
            # f reads x itself: all zeros is what perturbing a copy of x gives, or never storing the differences
            g = S.lib("course_lib.testfuncs.make_sin_sum").call(C, x_saved, closure=False)
            own = g.method("apply", S.value("numerical_gradient"), eps)
            if not _all_zeros(own, shape) and _close_enough(own, C * np.cos(x_saved), rtol):
                assert_true(False, f"{what}, x of shape {shape}: got all zeros, although the same function gives "
                                   "the right central differences when f reads its argument. Hint: f reads the array x "
                                   "itself, so perturb x in place (x[i] = saved + eps), not a copy of it.")
        assert_close(f"{what}, x of shape {shape}, eps={eps:g}", got, expected, rtol=rtol,
                     candidates={"divided by eps instead of 2 eps (the central difference spans 2 eps)": 2 * expected})
        x_after = np.asarray(f.get("x"), dtype=np.float64)
        assert_true(array_equal(x_after, x_saved),
                    f"numerical_gradient: x (shape {shape}) was not restored; max change "
                    f"{float(np.max(np.abs(x_after - x_saved))):.3g}. Save each entry and put the saved value back.")

    return Cases("numerical_gradient", points, check)


# ------------------------------------------------------------------ exercise 2
def relative_error(points: float) -> Cases:
    """Cases for ``relative_error``: the norm-wise formula, symmetric, 0 for two zeros, ValueError on shapes.

    ``cases.add(label, shape=(3, 4), scale=1.0, mismatch=None | (4, 3))``.

    Accepts: a Python float or a numpy float64 scalar from any way of computing the norms (numpy, math, einsum);
    the floor applied with max() or an if; a ValueError (or a subclass named ValueError) with any message.
    """
    S = student()
    student_relative_error = S.fn("relative_error")

    def check(label: str, shape: tuple, scale: float = 1.0, mismatch: Any = None) -> None:
        shape = tuple(shape)
        gen = rng(label)
        a = scale * gen.standard_normal(shape)
        b = a + scale * 1e-3 * gen.standard_normal(shape)
        want = norm(a - b) / max(norm(a) + norm(b), 1e-12)
        got = student_relative_error(a, b)
        assert_true(isinstance(got, float), f"relative_error: expected a Python float, got {_kind(got)}")
        assert_close(f"relative_error(a, b), shape {np.shape(a)}", got, want, rtol=1e-9)
        assert_close(f"relative_error(b, a), shape {np.shape(a)} (must be symmetric)", student_relative_error(b, a),
                     want, rtol=1e-9)
        zeros = np.zeros(np.shape(a))
        both_zero = student_relative_error(zeros, zeros)
        assert_true(to_float(both_zero, "relative_error(zeros, zeros)") == 0.0,
                    f"relative_error(zeros, zeros), shape {zeros.shape}: expected 0.0, got {both_zero!r}. "
                    "Hint: 0/0 gives nan: put the floor under the denominator with max(..., floor).")
        if scale >= 1e-6:
            assert_close(f"relative_error(a, zeros), shape {zeros.shape}", student_relative_error(a, zeros), 1.0, rtol=1e-12)
        if mismatch is not None:
            mismatch = tuple(mismatch)
            try:
                student_relative_error(a, np.zeros(mismatch))
            except Exception as exc:  # a StudentError names the student's exception type
                if getattr(exc, "type_name", None) != "ValueError":
                    raise
            else:
                assert_true(False, f"relative_error: arrays of shapes {np.shape(a)} and {mismatch} should raise ValueError")

    return Cases("relative_error", points, check)


# ------------------------------------------------------------------ exercise 3
def gradient_check(points: float) -> Cases:
    """Cases for ``gradient_check``: per-parameter rel_error, noise-aware threshold and verdict.

    ``cases.add(label, layers=[("Linear", 3, 4), ("Tanh",), ("Linear", 4, 2)], batch=1, loss="MSELoss",
    eps=1e-6, rtol=1e-6, target_scale=1.0)``; a layer may be a planted bug (``"LinearBiasMissing"``) and a
    Linear may name its init (``("Linear", 20, 30, "uniform")``); ``loss`` may be ``"MSELossMissingMean"``.

    Accepts: a dict in named_parameters() order whose rows are dicts holding at least rel_error, threshold and
    passed (extra keys allowed; Python or numpy numbers and bools); the helpers passed as arguments called in
    either argument order; any f that re-runs the forward pass on the parameter arrays perturbed in place.
    """
    S = student()

    def check(label: str, layers: list, batch: int, loss: str = "MSELoss", eps: float = 1e-6, rtol: float = 1e-6,
              target_scale: float = 1.0) -> None:
        gen = rng(label)
        net = _local_network(layers, gen)
        for name, p in net.named_parameters():
            if name.endswith(".b"):
                p[...] = random_array(gen, p.shape, -0.5, 0.5)
        local_loss = _class(loss)()
        d_in, d_out = net.layers[0].d_in, net.layers[-1].d_out
        X = random_array(gen, (batch, d_in))
        y = target_scale * random_array(gen, (batch, d_out))
        X_other = random_array(gen, (batch, d_in))

        # the student's copy, holding a training step's gradients (as in the middle of training)
        net_h, loss_h = _remote_network(S, net), S.lib(_path(local_loss)).call()
        loss_h.method("forward", net_h.method("forward", X_other), y)
        net_h.method("backward", loss_h.method("backward"))
        saved = {name: p.copy() for name, p in net.named_parameters()}

        # the same stale gradients here, then what course_lib's helpers give
        local_loss.forward(net.forward(X_other), y)
        net.backward(local_loss.backward())
        g_stale = {name: np.array(g) for name, g in net.named_gradients()}
        net.zero_grad()
        L0 = local_loss.forward(net.forward(X), y)
        net.backward(local_loss.backward())
        g_ref = {name: np.array(g) for name, g in net.named_gradients()}
        n_ref = _true_gradients(net, local_loss, X, y, eps)
        probe_gen = rng(label + "/probe")
        table, pairs, want, rel_stale = [], [], {}, {}
        for name, p in net.named_parameters():
            index = _probe(probe_gen, p.shape)
            table.append({"name": name, "point": p.copy(), "gradient": n_ref[name], "value": L0, "index": index,
                          "delta": 1e-3, "moved": _moved_loss(net, local_loss, X, y, p, index, 1e-3)})
            if g_ref[name].shape != p.shape:
                want[name] = (p.shape, 1.0, None, False)
                continue
            rel = reference_relative_error(g_ref[name], n_ref[name])
            pairs.append({"a": g_ref[name], "b": n_ref[name], "value": rel})
            stale = g_ref[name] + g_stale[name] if g_stale[name].shape == p.shape else None
            if stale is not None:  # what forgetting zero_grad() gives: the stale gradients added to backprop's
                rel_stale[name] = reference_relative_error(stale, n_ref[name])
                pairs.append({"a": stale, "b": n_ref[name], "value": rel_stale[name]})
            noise = 16 * U * abs(L0) * np.sqrt(p.size) / eps
            thr = rtol + noise / max(norm(g_ref[name]) + norm(n_ref[name]), 1e-12)
            want[name] = (p.shape, rel, thr, rel <= thr)
        ng_h = S.lib("course_lib.testfuncs.make_gradient_table").call(table)
        re_h = S.lib("course_lib.testfuncs.make_relative_error_table").call(pairs)

        got = S.call("gradient_check", net_h, loss_h, X, y, eps=eps, rtol=rtol, numerical_gradient=ng_h,
                     relative_error=re_h)
        after = _remote_parameters(net_h)
        for name, p in saved.items():
            assert_true(name in after and array_equal(after[name], p), f"gradient_check changed parameter {name!r}")
        assert_true(isinstance(got, dict) and to_names(got, "gradient_check keys") == list(want),
                    f"gradient_check: expected a dict with keys {list(want)} (named_parameters order), got "
                    f"{list(got) if isinstance(got, dict) else _kind(got)}")
        for name, (shape, rel, thr, ok) in want.items():
            mine = got[name]
            assert_true(isinstance(mine, dict) and set(mine) >= {"rel_error", "threshold", "passed"},
                        f"gradient_check[{name!r}]: expected a dict with keys rel_error, threshold, passed; got {_keys(mine)}")
            rel_got = to_float(mine["rel_error"], f"gradient_check[{name!r}]['rel_error']")
            asked = ("" if not np.isnan(rel_got) else " (the relative_error argument was asked about arrays other than "
                     "backprop's gradient on (X, y) and numerical_gradient's answer)")
            stale = rel_stale.get(name)
            hint = (" Hint: zero the gradients first: the model holds stale ones from an earlier batch, and backward "
                    "adds to them." if stale is not None and abs(rel_got - stale) <= 1e-6 * stale + 1e-13 else "")
            assert_true(abs(rel_got - rel) <= 1e-6 * rel + 1e-13,
                        f"gradient_check[{name!r}] (shape {shape}): rel_error {rel_got:.8e}, expected "
                        f"{rel:.8e}{asked}.{hint}")
            thr_got = to_float(mine["threshold"], f"gradient_check[{name!r}]['threshold']")
            if thr is None:
                assert_true(abs(thr_got - rtol) <= 1e-9 * rtol,
                            f"gradient_check[{name!r}] (gradient of shape {np.shape(g_ref[name])} for a parameter of "
                            f"shape {shape}): threshold {thr_got:.6e}, expected rtol = {rtol:.6e} for a wrong shape")
            else:
                assert_true(abs(thr_got - thr) <= 1e-6 * thr + 1e-2 * (thr - rtol),
                            f"gradient_check[{name!r}] (shape {shape}): threshold {thr_got:.6e}, "
                            f"expected {thr:.6e} = rtol + 16 u |L| sqrt(n) / (eps (||g|| + ||numeric||))")
            assert_true(to_bool(mine["passed"], f"gradient_check[{name!r}]['passed']") == ok,
                        f"gradient_check[{name!r}] (shape {shape}): passed={not ok}, expected {ok} "
                        f"(rel_error {rel:.3e}" + (f", threshold {thr:.3e})" if thr is not None else ", wrong shape)"))

    return Cases("gradient_check", points, check)


# ------------------------------------------------------------------ exercise 4
def _corrupted(g: np.ndarray, how: str, gen: np.random.Generator) -> np.ndarray:
    if how == "doubled":
        return 2 * g
    if how == "sign flipped":
        return -g
    if how == "transposed":
        return g.T.copy()
    return g + 0.1 * norm(g) / np.sqrt(g.size) * gen.standard_normal(g.shape)  # "10% noise"


#: A corrupted gradient in an offset case is at least this many times the check's noise floor: three random
#: directions then all see less than the floor with probability about (1 / (2 * margin)) ** 3, about 1e-5 in 3-d.
_NOISE_MARGIN = 20
_MAX_DRAWS = 200


def directional_check(points: float) -> Cases:
    """Cases for ``directional_check``: correct gradients pass, corrupted fail, noise-aware, restored, 2k evaluations.

    ``cases.add(label, widths=[3, 4, 2], activation="tanh", batch=1, corrupt=[("2.W", "doubled")], offset=0.0,
    k=3, rng_arg=None | 5, bias=True, target_scale=1.0)``; ``rng_arg=None`` passes a numpy Generator made in the
    student's process; ``bias=False`` with two widths: one bias-free Linear layer (its step length is read back from the loss).

    Accepts: a dict with one row per parameter (any order, extra keys allowed), ``rel_error`` any real number
    and ``passed`` any truth value; any way of drawing unit directions from ``rng``; exactly 2 loss evaluations
    per direction (one more allowed); the last evaluation at the parameters or moved by eps along a unit direction.
    Checked: the verdicts, ``rel_error`` (small for a passed correct gradient, 1/3 for a doubled one, 1 for a
    flipped sign), the restored parameters and the number of evaluations.
    """
    S = student()

    def network(widths: list, activation: str, bias: bool, gen: np.random.Generator) -> _modules.Sequential:
        if bias:
            return _modules.mlp(list(widths), activation=activation, rng=gen)
        assert len(widths) == 2, "a bias-free case is one Linear layer"
        return _modules.Sequential(_modules.Linear(widths[0], widths[1], bias=False, rng=gen))

    def remote(net: _modules.Sequential, bias: bool) -> Handle:
        if bias:
            return _remote_network(S, net)
        layer = net.layers[0]
        h = S.lib("course_lib.modules.Linear").call(layer.d_in, layer.d_out, bias=False)
        h.set("W", layer.W.copy())
        return S.lib("course_lib.modules.Sequential").call(h)

    def check(label: str, widths: list, activation: str, batch: int, corrupt: Any = (), offset: float = 0.0,
              k: int = 3, rng_arg: Any = None, bias: bool = True, target_scale: float = 1.0) -> None:
        gen = rng(label)
        corrupt = [tuple(c) for c in corrupt]
        # Under a loss offset the check cannot see an error below its noise floor 16 u |L| / eps: a wrong
        # gradient smaller than that passes a correct directional_check.  Draw again (a fixed number of times,
        # so every seed gives a case) until each corrupted gradient is well above the floor.
        floor = 16 * np.finfo(np.float64).eps / 2 * abs(offset) / 1e-6
        for _ in range(_MAX_DRAWS):
            net = network(widths, activation, bias, gen)
            for name, p in net.named_parameters():
                if name.endswith(".b"):
                    p[...] = random_array(gen, p.shape, -0.5, 0.5)
            local_loss = _losses.MSELoss()
            X = random_array(gen, (batch, widths[0]), min_abs=0.1)
            y = target_scale * random_array(gen, (batch, widths[-1]))
            net.zero_grad()
            y_hat = net.forward(X)
            local_loss.forward(y_hat, y)
            net.backward(local_loss.backward())
            params = dict(net.named_parameters())
            grads = {name: g.copy() for name, g in net.named_gradients()}
            if all(norm(grads[name]) >= _NOISE_MARGIN * floor for name, _ in corrupt):
                break
        else:
            raise AssertionError(f"grader: case {label!r} found no network whose corrupted gradients stand above "
                                 f"the noise floor {floor:.3g} in {_MAX_DRAWS} draws (make the offset smaller)")
        for name, how in corrupt:
            grads[name] = _corrupted(grads[name], how, gen)
        saved = {name: p.copy() for name, p in params.items()}

        net_h, loss_h = remote(net, bias), S.lib("course_lib.losses.MSELoss").call()
        loss_fn = S.lib("course_lib.testfuncs.make_model_loss").call(net_h, loss_h, X, y, offset=offset)
        if rng_arg is None:
            seed = int(rng(label + "/directions").integers(2 ** 32))
            rng_arg = S.lib("numpy.random.default_rng").call(seed)
        report = loss_fn.method("apply", S.value("directional_check"), grads, num_directions=k, eps=1e-6, rng=rng_arg)

        assert_true(isinstance(report, dict) and set(to_names(report, "directional_check keys")) == set(params),
                    f"directional_check: expected one entry per parameter {sorted(params)}, got "
                    f"{sorted(map(str, report)) if isinstance(report, dict) else _kind(report)}")
        after = {name: np.asarray(p, dtype=np.float64) for name, p in loss_fn.get("params").items()}
        for name in params:
            assert_true(array_equal(after[name], saved[name]),
                        f"directional_check: parameter {name!r} was not restored exactly (keep a copy and put it back)")
        calls = int(to_float(loss_fn.get("calls"), "loss evaluations"))
        least, limit = 2 * k * len(params), 2 * k * len(params) + 1
        assert_true(least <= calls <= limit,
                    f"directional_check: {calls} loss evaluations for {len(params)} parameters and {k} directions; "
                    f"a directional check needs 2 per direction per parameter ({least}, one more allowed)")
        if not bias:
            # one bias-free linear layer: the last evaluation's output tells how far W was moved
            last = np.asarray(to_float64(loss_h.get("_diff"), "the loss's last residual"), dtype=np.float64) + y
            step = norm(np.linalg.lstsq(X, last - y_hat, rcond=None)[0])
            assert_true(step <= 1e-9 or abs(step / 1e-6 - 1) <= 1e-3,
                        f"directional_check: the last loss evaluation had W moved by a step of length {step:.6e}; "
                        "with eps = 1e-06 a step is eps v, v of unit length (or 0 at the parameters themselves)")
        wrong = dict(corrupt)
        for name, p in params.items():
            row = report[name]
            assert_true(isinstance(row, dict) and set(row) >= {"rel_error", "passed"},
                        f"directional_check[{name!r}]: expected a dict with keys rel_error, passed; got {_keys(row)}")
            passed = to_bool(row["passed"], f"directional_check[{name!r}]['passed']")
            rel_error = to_float(row["rel_error"], f"directional_check[{name!r}]['rel_error']")
            if name in wrong:
                assert_true(not passed, f"directional_check[{name!r}] (shape {p.shape}): passed a "
                            f"wrong gradient ({wrong[name]}); rel_error {rel_error:.3e}")
                exact = {"doubled": (1 / 3, "|2a - a| / (|2a| + |a|) = 1/3"),
                         "sign flipped": (1.0, "|-a - a| / (|-a| + |a|) = 1")}.get(wrong[name])
                if exact is not None:
                    tol = 0.05 if offset else 1e-3
                    assert_true(abs(rel_error - exact[0]) <= tol,
                                f"directional_check[{name!r}] (shape {p.shape}): rel_error {rel_error:.6g} for a "
                                f"{wrong[name]} gradient; expected {exact[1]} (the largest |analytic - numeric| / "
                                "(|analytic| + |numeric|) over the directions)")
            else:
                hint = (f" Hint: with |L| ~ {offset:g} the round-off 16 u |L| / eps belongs in the tolerance." if offset else
                        " Expected numeric = (L(p + eps v) - L(p - eps v)) / (2 eps), analytic = sum(g * v), v of unit norm.")
                if abs(rel_error - 1 / 3) < 1e-3:
                    hint = " Hint: a relative error of 1/3 means one side is twice the other: divide the difference by 2 eps."
                assert_true(passed, f"directional_check[{name!r}] (shape {p.shape}): failed a correct "
                            f"gradient, rel_error {rel_error:.3e}.{hint}")
                if not offset:
                    assert_true(0 <= rel_error <= 1e-4,
                                f"directional_check[{name!r}] (shape {p.shape}): passed a correct gradient with "
                                f"rel_error {rel_error:.6g}; expected the largest |analytic - numeric| / (|analytic| + "
                                "|numeric|) over the directions, about 1e-8 here")

    return Cases("directional_check", points, check)


# ------------------------------------------------------------------ exercise 5
def find_bugs(points: float) -> Cases:
    """Cases for ``find_bugs``: exactly the broken parameters of a planted bug, none on the correct twin.

    ``cases.add(label, layers=[("Linear", 3, 4), ("Tanh",), ("Linear", 4, 2)], batch=1, expected=["0.b"],
    swap=(0, "LinearBiasMissing") | None, loss="MSELoss" | "MSELossMissingMean")``.

    Accepts: a set, frozenset, list or tuple of the names (any order); the directional_check argument called once
    or once per parameter.  A gradient of the wrong shape that a directional check cannot see (it broadcasts
    and sums to the right directional derivatives) must be found by find_bugs' own shape test.
    """
    S = student()

    def network(layers: list, label: str, swap: Any = None) -> _modules.Sequential:
        gen = rng(label)
        spec = [tuple(layer) for layer in layers]
        if swap is not None:
            index, bug = swap
            spec[index] = (bug, *spec[index][1:])
        net = _local_network(spec, gen)
        for name, p in net.named_parameters():
            if name.endswith(".b"):
                p[...] = random_array(gen, p.shape, -0.5, 0.5)
        return net

    def stand_in(net, loss, X: np.ndarray, y: np.ndarray, label: str) -> Handle:
        """A directional_check that judges gradients against central differences of ``net``'s own loss.

        Like a real directional check, which computes ``sum(g * v)``, it cannot see a gradient of the wrong
        shape that broadcasts against the parameter and sums to the right directional derivatives
        (``LinearBiasNotSummed``'s ``(B, d_out)`` bias gradient): such a gradient is tabled as it is, so only
        find_bugs' own shape test finds it.
        """
        gen = rng(label)
        true = _true_gradients(net, loss, X, y)
        net.zero_grad()
        value = float(loss.forward(net.forward(X), y))
        net.backward(loss.backward())
        for name, g in net.named_gradients():
            shape = true[name].shape
            if g.shape != shape and g.ndim > len(shape) and g.shape[g.ndim - len(shape):] == shape:
                summed = g.sum(axis=tuple(range(g.ndim - len(shape))))
                if np.allclose(summed, true[name], rtol=1e-5, atol=1e-9):
                    true[name] = np.array(g)
        probes = []
        for name, p in net.named_parameters():
            index = _probe(gen, p.shape)
            probes.append((name, index, 1e-3, _moved_loss(net, loss, X, y, p, index, 1e-3)))
        return S.lib("course_lib.testfuncs.make_directional_table").call(true, value, probes)

    def hunt(net, loss_name: str, X, y, stale: Any, label: str) -> set:
        local_loss = _class(loss_name)()
        net_h, loss_h = _remote_network(S, net), S.lib(_path(local_loss)).call()
        if stale is not None:  # leave a training step's gradients behind
            X_other, G = stale
            net_h.method("forward", X_other)
            net_h.method("backward", G)
        dc = stand_in(net, local_loss, X, y, label)
        found = S.call("find_bugs", net_h, loss_h, X, y, directional_check=dc)
        return set(to_names(_collection(found, "find_bugs"), "find_bugs"))

    def check(label: str, layers: list, batch: int, expected: Any, swap: Any = None, loss: str = "MSELoss") -> None:
        gen = rng(label + "/data")
        X = random_array(gen, (batch, layers[0][1]), min_abs=0.1)
        y = random_array(gen, (batch, layers[-1][2]))
        X_other = random_array(gen, X.shape)
        twin = network(layers, label)
        found = hunt(twin, "MSELoss", X, y, (X_other, np.full((batch, layers[-1][2]), 0.3)), label + "/twin")
        assert_true(found == set(), f"find_bugs on a correct network (batch {batch}): expected set(), got {sorted(found)}. "
                    "Hint: zero the stale gradients first, and let loss_fn re-run the forward pass.")
        buggy = network(layers, label, swap)
        found = hunt(buggy, loss, X, y, None, label + "/buggy")
        bug = f"{swap[1]} at layer {swap[0]}" if swap is not None else loss
        assert_true(found == set(expected), f"find_bugs with {bug} (batch {batch}): expected exactly "
                    f"{sorted(expected)}, got {sorted(found)}")

    return Cases("find_bugs", points, check)


# ------------------------------------------------------------------ exercise 7 (the derivation)
_GLU_NAMES = ("X", "W", "b", "V", "c")


def _glu_forward(X: np.ndarray, W: np.ndarray, b: np.ndarray, V: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Y = (X W + b) * sigmoid(X V + c), as in course_lib.hunt (written here: the check trusts no student-side code)."""
    return (X @ W + b) / (1 + np.exp(-(X @ V + c)))   # (B, d_in) @ (d_in, d_out) -> (B, d_out)


def glu_backward(points: float) -> Cases:
    """``glu_backward(X, W, b, V, c, grad_output)`` of the gated layer Y = (X W + b) * sigmoid(X V + c).

    Each of the five gradients is compared (norm-wise relative error <= 1e-6) with float64 central differences
    of ``sum(Y * grad_output)``. ``cases.add(label, B=4, d_in=3, d_out=2, gate_scale=1.0)``; ``gate_scale``
    multiplies V (large: a saturated gate).

    Accepts: a dict (a dict subclass is read key by key) with the keys "X", "W", "b", "V", "c" (others ignored),
    each an array-like of that argument's shape, any float dtype (judged at its precision), computed any way;
    the arguments may be modified.
    """
    S = student()

    def check(label: str, B: int = 4, d_in: int = 3, d_out: int = 2, gate_scale: float = 1.0) -> None:
        gen = rng(label)
        X = gen.normal(size=(B, d_in))
        W = gen.normal(size=(d_in, d_out)) / np.sqrt(d_in)
        V = gate_scale * gen.normal(size=(d_in, d_out)) / np.sqrt(d_in)
        b, c = 0.5 * gen.normal(size=d_out), 0.5 * gen.normal(size=d_out)
        G = gen.normal(size=(B, d_out))                   # dL/dY, random: an all-ones one hides transposes
        args = {"X": X, "W": W, "b": b, "V": V, "c": c}

        def moved(name: str):
            return lambda z: _glu_forward(**dict(args, **{name: z}))

        numeric = {name: _numeric_vjp(moved(name), args[name], G) for name in _GLU_NAMES}
        got = S.call("glu_backward", X.copy(), W.copy(), b.copy(), V.copy(), c.copy(), G.copy())
        got = _glu_mapping(S, got)
        lin = X @ W + b
        gate = 1 / (1 + np.exp(-(X @ V + c)))
        into_gate = G * lin * gate * (1 - gate)
        candidates = {
            "X": {"the gate's path is missing: X feeds both X W + b and the gate X V + c, so dL/dX is the SUM of "
                  "the two paths' contributions": (G * gate) @ W.T,
                  "the linear path is missing: X feeds both X W + b and the gate X V + c; add both paths":
                      into_gate @ V.T},
            "b": {"the gate is missing from grad_b: b enters Y through (X W + b) * gate, so each term is "
                  "grad_output * gate (product rule)": G.sum(axis=0)},
            "W": {"the gate is missing from grad_W: multiply grad_output by the gate first (product rule)": X.T @ G},
            "V": {"sigmoid' is missing from grad_V: d gate / d(X V + c) = gate * (1 - gate)": X.T @ (G * lin)},
            "c": {"sigmoid' is missing from grad_c: d gate / d(X V + c) = gate * (1 - gate)": (G * lin).sum(axis=0)},
        }
        for name in ("W", "b", "V", "c", "X"):            # the parameters first: grad_X reuses their deltas
            assert_true(name in got, f"glu_backward: the dict has no key {name!r} (expected the keys "
                                     f"{', '.join(repr(k) for k in _GLU_NAMES)})")
            assert_gradient(f"glu_backward grad {name}, X of shape {X.shape}", got[name], numeric[name],
                            threshold=1e-6, batch_size=B, candidates=candidates[name])

    return Cases("glu_backward", points, check)


def _glu_mapping(S, got: object) -> dict:
    """The student's dict of gradients (a dict subclass comes back as a handle and is read key by key)."""
    return read_mapping(S, got, "glu_backward", "a dict {'X': grad_X, 'W': grad_W, ...}", keys=_GLU_NAMES)
