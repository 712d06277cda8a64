"""Checks of lesson 06 (vanishing and exploding gradients).

Every check reaches the student's code only through :func:`grader.checks.student`:

* ``layer_grad_norms(model, loss, X, y)`` receives a ``course_lib`` ``Sequential`` (possibly nested) of ``Linear`` and
  activation modules and a ``course_lib`` loss module, both built in the
  student's process with ``S.lib("course_lib.modules....").call(...)``, with
  the weights of an identical ``course_lib`` twin built here and stale
  gradients planted in every ``grad_W`` / ``grad_b``.  The reference norms are
  those recorded by ``course_lib.train.fit`` for the twin (one step with a
  learning rate too small to move anything).
  ``layer_grad_norms`` must return a dict (a dict subclass is read through its
  keys and items) mapping every dotted weight name to a number.
* ``residual_backward(X, W, b, grad_output)`` receives float64 arrays (copies) and
  must return ``(grad_X, grad_W, grad_b)`` of the block ``Y = X + tanh(X W + b)``,
  each within 1e-6 (norm-wise relative error) of central differences of
  ``sum(Y * grad_output)``.
* ``normal_init(d_in, d_out, variance, rng)``, ``lecun_init``, ``xavier_init``,
  ``he_init`` ``(d_in, d_out, rng)`` receive a numpy Generator created in the
  student's process by ``numpy.random.default_rng(seed)``, the seed drawn from
  :func:`grader.checks.rng` (unknown in advance when grading).  The returned
  matrix (anything numpy reads as numbers) is tested for its shape, mean 0,
  the target variance within 5 standard errors, normal entries (excess
  kurtosis), and reproducibility from an identically seeded Generator.
* ``saturated_fraction(model, X, threshold)`` receives a flat ``course_lib``
  ``Sequential`` built as above and must return one number equal to the
  fraction computed here from ``course_lib.mlp.mlp_forward``; for a model
  without Tanh or Sigmoid layers it must raise ``ValueError``.
"""
from __future__ import annotations

import numpy as np

from course_lib import losses as _losses
from course_lib import modules as _modules
from course_lib.data import WORKED_V, WORKED_W, WORKED_X, regression_data
from course_lib.functional import get_activation
from course_lib.init import init_weights
from course_lib.mlp import mlp_forward
from course_lib.train import fit
from grader.protocol import Handle, StudentError

from . import (
    LOW_PRECISION_EPS,
    Cases,
    assert_close,
    assert_gradient,
    assert_true,
    low_precision,
    numeric_vjp,
    read_mapping,
    rng,
    student,
    to_float64,
    to_names,
)

__all__ = ["initialisations", "layer_grad_norms", "residual_backward", "saturated_fraction"]

_ACT_CLASSES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "identity": "Identity"}
_LOSS_CLASSES = {"mse": "MSELoss", "softmax_ce": "SoftmaxCrossEntropy"}


# ------------------------------------------------------------------
# networks: a spec, its course_lib twin, its copy in the student's process
def _flat_spec(widths: list, act) -> list:
    """``[("linear", d_in, d_out), act, ...]``: acts[i] after layer i ('identity' = nothing).

    ``act`` is one name (every hidden layer, a linear output) or a list with one name per layer.
    """
    n = len(widths) - 1
    acts = list(act) if isinstance(act, (list, tuple)) else [act] * (n - 1) + ["identity"]
    spec: list = []
    for d_in, d_out, a in zip(widths[:-1], widths[1:], acts):
        spec.append(("linear", d_in, d_out))
        if a != "identity":
            spec.append(a)
    return spec


def _nested_spec(net: list) -> list:
    """A nested spec from literals: ``(d_in, d_out)`` is a Linear, a str an activation, a list a Sequential."""
    return [("linear", item[0], item[1]) if isinstance(item, tuple) else
            _nested_spec(item) if isinstance(item, list) else item for item in net]


def _with_weights(spec: list, init: str, gen: np.random.Generator, bias: bool, weights: list | None) -> list:
    """The spec with ``("linear", W, b or None)``.

    W drawn like ``course_lib.modules.Linear`` (or taken from ``weights``), b = 0.
    """
    pending = list(weights) if weights is not None else None

    def walk(items):
        out = []
        for item in items:
            if isinstance(item, list):
                out.append(walk(item))
            elif isinstance(item, tuple):
                _, d_in, d_out = item
                W = init_weights(d_in, d_out, init, gen)
                if pending is not None:
                    W = np.array(pending.pop(0), dtype=np.float64)
                out.append(("linear", W, np.zeros(d_out) if bias else None))
            else:
                out.append(item)
        return out

    return walk(spec)


def _twin(spec: list) -> _modules.Sequential:
    """A fresh course_lib Sequential with the spec's weights (the reference, on the check's side)."""
    layers = []
    for item in spec:
        if isinstance(item, list):
            layers.append(_twin(item))
        elif isinstance(item, tuple):
            _, W, b = item
            lin = _modules.Linear(W.shape[0], W.shape[1], bias=b is not None)
            lin.W = W.copy()
            if b is not None:
                lin.b = b.copy()
            layers.append(lin)
        else:
            layers.append(_modules.ACTIVATION_MODULES[item]())
    return _modules.Sequential(*layers)


def _remote(S, spec: list, prefix: str = "") -> tuple[Handle, list]:
    """The same network built in the student's process: ``(handle, [(dotted prefix, Linear handle, W's shape, has bias)])``."""
    layers, linears = [], []
    for i, item in enumerate(spec):
        if isinstance(item, list):
            layer, inner = _remote(S, item, f"{prefix}{i}.")
            linears.extend(inner)
        elif isinstance(item, tuple):
            _, W, b = item
            # W is set below; "uniform" needs no stubbed init_std
            layer = S.lib("course_lib.modules.Linear").call(W.shape[0], W.shape[1], init="uniform", bias=b is not None)
            layer.set("W", W)
            if b is not None:
                layer.set("b", b)
            linears.append((f"{prefix}{i}.", layer, W.shape, b is not None))
        else:
            layer = S.lib("course_lib.modules." + _ACT_CLASSES[item]).call()
        layers.append(layer)
    return S.lib("course_lib.modules.Sequential").call(*layers), linears


def _plant_gradients(linears: list, stale) -> dict:
    """Stale gradients in every grad_W / grad_b of the student's copy: ``stale(name, shape)`` -> array. Returns them by name."""
    planted = {}
    for prefix, layer, shape, has_bias in linears:
        for p, p_shape in (("W", shape), ("b", shape[1:])) if has_bias else (("W", shape),):
            planted[prefix + p] = np.asarray(stale(prefix + p, p_shape), dtype=np.float64)
            layer.set("grad_" + p, planted[prefix + p])
    return planted


def _network(label: str, widths: list | None, act, init: str, net: list | None, bias: bool = True,
             weights: list | None = None) -> tuple[np.random.Generator, list]:
    gen = rng(label)
    spec = _nested_spec(net) if net is not None else _flat_spec(widths, act)
    return gen, _with_weights(spec, init, gen, bias, weights)


def _data(gen: np.random.Generator, data: str, d_in: int, d_out: int, B: int | None, loss: str = "mse",
          rows: list | None = None, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): the regression data (all 201 points or some rows), the worked example's x, or random normals / labels."""
    if data == "regression":
        X, y = regression_data()
        return (X[list(rows)], y[list(rows)]) if rows is not None else (X, y)
    if data == "worked":
        return WORKED_X.copy(), np.zeros((1, d_out))
    X = scale * gen.normal(size=(B, d_in))
    y = gen.integers(0, d_out, size=B) if loss == "softmax_ce" else gen.normal(size=(B, d_out))
    return X, y


def _dims(spec: list) -> tuple[int, int]:
    """(d_in, d_out) of a spec with weights."""
    mats = []

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            elif isinstance(item, tuple):
                mats.append(item[1])

    walk(spec)
    return mats[0].shape[0], mats[-1].shape[1]


def _reference(spec: list, loss: str, X: np.ndarray, y: np.ndarray) -> tuple[dict, dict]:
    """Norms recorded by course_lib's fit during one step whose learning rate is too small to move anything."""
    ref = _twin(spec)
    hist = fit(ref, getattr(_losses, _LOSS_CLASSES[loss])(), X, y, lr=1e-300, num_epochs=1)
    return {k: v[0] for k, v in hist.grad_norms.items()}, {k: g.copy() for k, g in ref.named_gradients()}


def _read_mapping(S, got: object, what: str) -> dict:
    """The student's returned mapping as a dict (a dict subclass comes back as a handle and is read item by item)."""
    return read_mapping(S, got, what, "a dict {weight name: norm of grad_W}")


# ------------------------------------------------------------------ exercise 1
def layer_grad_norms(points: float) -> Cases:
    """``layer_grad_norms(model, loss, X, y)`` against the norms course_lib's fit records, with stale gradients planted.

    Case parameters: ``widths`` and ``act`` (a flat network; ``act`` one name or one per layer) or ``net`` (a
    nested spec: ``(d_in, d_out)`` Linear, str activation, list Sequential); ``init``; ``loss`` ("mse" or
    "softmax_ce"); ``data`` ("regression" with optional ``rows``, or "normal" with batch size ``B``).

    Accepts: a dict or dict subclass {dotted weight name: number} in any order, the numbers Python floats, numpy
    scalars (float32 judged at float32's precision) or 0-d arrays, however the norm is computed.
    """
    S = student()

    def check(label: str, widths: list | None = None, act="tanh", init: str = "lecun", net: list | None = None,
              loss: str = "mse", data: str = "normal", B: int | None = None, rows: list | None = None) -> None:
        gen, spec = _network(label, widths, act, init, net)
        d_in, d_out = _dims(spec)
        X, y = _data(gen, data, d_in, d_out, B, loss, rows)
        ref_norms, ref_grads = _reference(spec, loss, X, y)
        names = [k for k in ref_norms if k.split(".")[-1] == "W"]
        model, linears = _remote(S, spec)
        stale_gen = rng(label + " stale gradients")
        stale = _plant_gradients(linears, lambda name, shape: stale_gen.normal(size=shape))
        got = S.call("layer_grad_norms", model, S.lib("course_lib.losses." + _LOSS_CLASSES[loss]).call(), X, y)
        got = _read_mapping(S, got, "layer_grad_norms")
        keys = set(to_names(got, "layer_grad_norms keys")) if all(isinstance(k, str) for k in got) else None
        if keys != set(names):
            hint = ""
            if any(str(k).endswith("b") for k in got):
                hint = " Hint: names ending in 'b' are biases: report the norms of the weights' gradients grad_W only."
            assert_true(False, f"layer_grad_norms: expected the keys {names} (one per weight matrix, norms of grad_W), "
                               f"got {sorted(map(str, got))}.{hint}")

        def tail(k: str) -> str:
            return k[:-1] + "b"

        candidates = {
            "the squared norm: the square root is missing": [ref_norms[k] ** 2 for k in names],
            "the stale gradients were not cleared (model.zero_grad()) before the backward pass":
                [float(np.sqrt(np.sum((ref_grads[k] + stale[k]) ** 2))) for k in names],
        }
        if all(tail(k) in ref_grads for k in names):
            candidates["these are the norms of the bias gradients grad_b, not of grad_W"] = \
                [float(np.sqrt(np.sum(ref_grads[tail(k)] ** 2))) for k in names]
        assert_close("||grad_W|| of " + ", ".join(names), [got[k] for k in names], [ref_norms[k] for k in names],
                     rtol=1e-7, batch_size=X.shape[0], candidates=candidates)

    return Cases("layer_grad_norms", points, check)


# ------------------------------------------------------------------ exercise 2
def _residual_forward(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The residual block Y = X + tanh(X W + b)."""
    return X + np.tanh(X @ W + b)                        # (B, d) + tanh((B, d) @ (d, d) + (d,)) -> (B, d)


def _three_arrays(S, got: object, what: str) -> list:
    """The student's (grad_X, grad_W, grad_b) as a list of three values (a tuple or a list)."""
    if isinstance(got, (tuple, list)) and len(got) == 3:
        return list(got)
    type_name = got.type_name if isinstance(got, Handle) else type(got).__name__
    size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
    assert_true(False, f"{what}: expected a tuple (grad_X, grad_W, grad_b), got {type_name}{size}")
    return []


def residual_backward(points: float) -> Cases:
    """``residual_backward(X, W, b, grad_output)`` of the block Y = X + tanh(X W + b) against central differences.

    Case parameters: ``B`` (batch), ``d`` (width: W is (d, d)), ``w_scale`` (standard deviation of W's entries
    times sqrt(d); 1 is LeCun's, 4 saturates most tanh units), ``x_scale`` (of the inputs).

    Accepts: a tuple or list (grad_X, grad_W, grad_b) of array-likes of the shapes of X, W and b (any float dtype,
    judged at its precision), computed with any formula or loop; the arguments may be modified.
    """
    S = student()

    def check(label: str, B: int, d: int, w_scale: float = 1.0, x_scale: float = 1.0) -> None:
        gen = rng(label)
        X = x_scale * gen.normal(size=(B, d))
        W = w_scale / np.sqrt(d) * gen.normal(size=(d, d))
        b = 0.5 * gen.normal(size=d)
        G = gen.normal(size=(B, d))                        # dL/dY, a random (not all-ones) upstream gradient
        numeric = {
            "grad_X": numeric_vjp(lambda z: _residual_forward(z, W, b), X, G),
            "grad_W": numeric_vjp(lambda z: _residual_forward(X, z, b), W, G),
            "grad_b": numeric_vjp(lambda z: _residual_forward(X, W, z), b, G),
        }
        got = _three_arrays(S, S.call("residual_backward", X.copy(), W.copy(), b.copy(), G.copy()),
                            "residual_backward")
        A = np.tanh(X @ W + b)                             # the branch's output, (B, d)
        at_output = G * (1 - np.tanh(A) ** 2)              # tanh' taken at the output instead of at Z
        no_slope = G                                       # tanh' forgotten
        candidates = {
            "grad_X": {
                "the identity path of the skip connection is missing: Y = X + f(X), so dL/dX = grad_output "
                "+ (the branch's part); add grad_output": numeric["grad_X"] - G,
                "only the identity path: the branch f(X) = tanh(X W + b) also depends on X": G,
                "tanh' was taken at the output A = tanh(Z), not at Z: use 1 - tanh(Z)**2 = 1 - A**2": G + at_output @ W.T,
                "tanh' is missing: multiply grad_output by 1 - tanh(Z)**2 before going through W": G + no_slope @ W.T,
            },
            "grad_W": {"the result is transposed": numeric["grad_W"].T,
                       "tanh' was taken at the output A = tanh(Z), not at Z": X.T @ at_output,
                       "tanh' is missing: delta = grad_output * (1 - tanh(Z)**2)": X.T @ no_slope,
                       "the skip was counted in grad_W: the identity path has no weights": X.T @ G + numeric["grad_W"]},
            "grad_b": {"tanh' is missing: delta = grad_output * (1 - tanh(Z)**2)": no_slope.sum(axis=0),
                       "tanh' was taken at the output A = tanh(Z), not at Z": at_output.sum(axis=0)},
        }
        for (name, expected), value in zip(numeric.items(), got):
            assert_gradient(f"residual_backward {name}, X of shape {X.shape}", value, expected, threshold=1e-6,
                            batch_size=B, candidates=candidates[name])

    return Cases("residual_backward", points, check)


# ------------------------------------------------------------------ exercise 3
_SQUARE = ("the variance came out as the square of the target: multiply standard normals by the standard deviation"
           " sqrt(variance), not by the variance")
_ONE = "the entries have variance 1: scale the standard normals"


def _target(fn: str, d_in: int, d_out: int, variance: float | None) -> tuple[float, str, dict]:
    """(target variance, its formula, {hint: the variance of a classic wrong answer})."""
    if fn == "normal_init":
        v = float(variance)
        return v, "(the argument)", {
            "the variance came out as the square of the argument: multiply standard normals by sqrt(variance),"
            " not by the variance": v * v,
            "the variance came out as the square root of the argument: multiply by sqrt(variance) once": v ** 0.5,
            _ONE: 1.0}
    if fn == "lecun_init":
        t = 1.0 / d_in
        return t, "1/d_in", {
            "the variance is 1/d_out: use the fan-in d_in, the number of inputs of a unit": 1.0 / d_out,
            _SQUARE: t * t, _ONE: 1.0, "this is He's variance 2/d_in; LeCun's is 1/d_in": 2.0 / d_in}
    if fn == "xavier_init":
        t = 2.0 / (d_in + d_out)
        return t, "2/(d_in + d_out)", {
            "the variance is 1/(d_in + d_out): the factor 2 is missing": 1.0 / (d_in + d_out),
            _SQUARE: t * t, "this is LeCun's variance 1/d_in": 1.0 / d_in, _ONE: 1.0}
    if fn == "he_init":
        t = 2.0 / d_in
        return t, "2/d_in", {
            "the variance is 2/d_out: use the fan-in d_in, the number of inputs of a unit": 2.0 / d_out,
            _SQUARE: t * t, "this is LeCun's variance 1/d_in: ReLU zeroes half of the units, so He doubles it": 1.0 / d_in,
            _ONE: 1.0}
    raise ValueError(f"unknown initialisation {fn!r}")


def initialisations(points: float) -> Cases:
    """``normal_init`` / ``lecun_init`` / ``xavier_init`` / ``he_init``: a large draw from a Generator seeded here.

    Case parameters: ``fn`` (the function's name), ``d_in``, ``d_out`` and, for ``normal_init``, ``variance``.

    Accepts: any (d_in, d_out) array-like of numbers (any float dtype, nested lists) of independent normal entries
    with mean 0 and the target variance, drawn only from the rng argument (any of its methods, any order).
    """
    S = student()

    def draw(fn: str, d_in: int, d_out: int, variance: float | None, seed: int, name: str) -> np.ndarray:
        gen = S.lib("numpy.random.default_rng").call(seed)       # a Generator in the student's process
        args = (d_in, d_out, variance, gen) if fn == "normal_init" else (d_in, d_out, gen)
        return to_float64(S.call(fn, *args), name)

    def check(label: str, fn: str, d_in: int, d_out: int, variance: float | None = None) -> None:
        target, target_text, wrong = _target(fn, d_in, d_out, variance)
        seed = int(rng(label).integers(0, 2 ** 62))
        W = draw(fn, d_in, d_out, variance, seed, label)
        turned = " (it is transposed: rows are the d_in inputs)" if W.shape == (d_out, d_in) else ""
        assert_true(W.shape == (d_in, d_out), f"{label}: expected shape (d_in, d_out) = ({d_in}, {d_out}), got {W.shape}{turned}")
        assert_true(bool(np.all(np.isfinite(W))), f"{label}: the matrix contains nan or inf")
        n = W.size
        mean, var = float(np.mean(W)), float(np.var(W, ddof=1))
        se = (2.0 / (n - 1)) ** 0.5                          # relative standard error of a sample variance
        z_var = (var - target) / (target * se)
        if abs(z_var) > 5:
            hint = ""
            for text, value in wrong.items():
                if abs(var - value) <= 5 * value * se:
                    hint = f" Hint: {text}."
                    break
            assert_true(False, f"{label}: sample variance {var:.4e} of {n} entries is {z_var:+.1f} standard errors "
                               f"from the target variance {target_text} = {target:.4e} (allowed: 5).{hint}")
        z_mean = mean / (target / n) ** 0.5
        assert_true(abs(z_mean) <= 5, f"{label}: sample mean {mean:.3e} is {z_mean:+.1f} standard errors from 0 (allowed: 5); "
                                      "the entries must have mean 0")
        kurtosis = float(np.mean((W - mean) ** 4) / var ** 2 - 3.0)
        assert_true(abs(kurtosis) <= 5 * (24.0 / n) ** 0.5,
                    f"{label}: excess kurtosis {kurtosis:.3f}, expected 0 for normal entries (a uniform gives -1.2): "
                    "draw from a normal distribution")
        again = draw(fn, d_in, d_out, variance, seed, label)
        assert_true(again.shape == W.shape and bool(np.array_equal(again, W)),
                    f"{label}: two calls with identically seeded generators gave different matrices: draw every number "
                    "from the rng argument, not from np.random")
        small = draw(fn, 3, 7, None if variance is None else variance, int(rng(label + " small").integers(0, 2 ** 62)), label)
        assert_true(small.shape == (3, 7), f"{label} with d_in = 3, d_out = 7: expected shape (3, 7), got {small.shape}")

    return Cases("initialisations", points, check)


# ------------------------------------------------------------------ exercise 4
def _assert_fraction(name: str, got: object, expected: float, candidates: dict) -> None:
    """Compare the returned fraction with the reference; name the known bug its value matches."""
    low = low_precision(got)  # a float32 result is judged at float32's precision (far below one unit's share)
    tol = LOW_PRECISION_EPS * low if low is not None else 1e-12
    value = to_float64(got, name)
    assert_true(value.shape == (), f"{name}: expected one number (a float), got an array of shape {value.shape}")
    value = float(value)
    if not abs(value - expected) <= tol:
        hint = ""
        for text, candidate in candidates.items():
            if abs(value - candidate) <= tol:
                hint = f" Hint: {text}."
                break
        assert_true(False, f"{name}: got {value:.8g}, expected {expected:.8g}.{hint}")


def saturated_fraction(points: float) -> Cases:
    """``saturated_fraction(model, X, threshold)`` against a count from ``course_lib.mlp.mlp_forward``'s pre-activations.

    Case parameters: ``widths``, ``act`` (one name or one per layer), ``init``, ``threshold``, ``data``
    ("normal" with ``B`` and ``scale``, "regression", or "worked": lesson 01's worked example, sigmoid, no
    biases, its weights), and ``no_units=True`` to also require a ValueError for a ReLU-only model.

    Accepts: one number (Python float, numpy scalar, float32 judged at its precision, 0-d array) equal to the
    saturated entries over all entries, pooled over every Tanh and Sigmoid layer (0.0 when no unit is saturated),
    with phi' taken at each layer's input by any formula; a ValueError for a model without Tanh or Sigmoid layers.
    """
    S = student()

    def check_no_units(label: str) -> None:
        _, spec = _network(label + " no units", [3, 4, 2], ["relu", "identity"], "he", None)
        model, _ = _remote(S, spec)
        try:
            S.call("saturated_fraction", model, np.ones((2, 3)), 0.1)
        except StudentError as exc:
            if exc.type_name == "ValueError":
                return
            raise
        assert_true(False, "saturated_fraction: a model without Tanh or Sigmoid layers has no units to count:"
                           " expected a ValueError")

    def check(label: str, widths: list, act, threshold: float, init: str = "lecun", data: str = "normal",
              B: int | None = None, scale: float = 1.0, no_units: bool = False) -> None:
        if no_units:
            check_no_units(label)
        worked = data == "worked"
        acts = list(act) if isinstance(act, (list, tuple)) else [act] * (len(widths) - 2) + ["identity"]
        # Draw again (up to 10 times) until phi'(z) and phi'(a) give different counts: a draw where they agree
        # could not tell the classic bug from the right answer, and whether a bug loses points must not depend
        # on the run's seed.  (Fixed data and weights, the worked example, are drawn once.)
        for attempt in range(1 if worked else 10):
            gen, spec = _network(label if attempt == 0 else f"{label} #{attempt}", widths, act, init, None,
                                 bias=not worked, weights=[WORKED_W, WORKED_V] if worked else None)
            X, _ = _data(gen, data, widths[0], widths[-1], B, scale=scale)
            Ws = [item[1] for item in spec if isinstance(item, tuple)]
            bs = [item[2] if item[2] is not None else np.zeros(item[1].shape[1])
                  for item in spec if isinstance(item, tuple)]
            _, cache = mlp_forward(X, Ws, bs, activation=acts)
            count = {"in": 0, "out": 0, "total": 0}
            per_layer = []
            for Z, A, a in zip(cache["Z"], cache["A"][1:], acts):
                if a in ("tanh", "sigmoid"):
                    dphi = get_activation(a)[1]
                    count["in"] += int(np.sum(dphi(Z) < threshold))
                    count["out"] += int(np.sum(dphi(A) < threshold))
                    count["total"] += Z.size
                    per_layer.append(float(np.mean(dphi(Z) < threshold)))
            if count["in"] != count["out"]:
                break
        expected = count["in"] / count["total"]
        model, _ = _remote(S, spec)
        got = S.call("saturated_fraction", model, X, threshold)
        candidates = {"the derivative was taken at the output a = phi(z) instead of the input z": count["out"] / count["total"],
                      "the comparison is reversed: this is the fraction of units that are NOT saturated": 1.0 - expected,
                      "this is the mean of the per-layer fractions: pool the counts of all layers (layers of different"
                      " widths weigh differently)": float(np.mean(per_layer))}
        _assert_fraction(f"saturated_fraction (threshold {threshold}, B = {X.shape[0]})", got, expected, candidates)

    return Cases("saturated_fraction", points, check)
