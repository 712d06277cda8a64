"""Checks of lesson 07 (capstone: backprop by hand through batchnorm, dropout and softmax cross-entropy).

One factory per grade cell.  Every reference is computed here, with numpy, from the lesson's forward
graphs written out below (the same atoms as the notebook's forward cells); every gradient is compared
with central differences of that graph.  The gradient of an *intermediate* ``v`` is the central
difference of the loss when ``v`` is replaced by ``v +- h`` and everything computed from ``v`` is
recomputed (its inputs held fixed): the total derivative a backward pass must store for ``v``.

What the checks accept:

* ``dropout_forward(A, p, train, U)`` -> ``(out, mask)`` and ``dropout_backward(grad_output, mask)``:
  in training ``out = A * mask`` with ``mask = (U >= p) / (1 - p)``; in evaluation ``out = A``; the
  backward called with the student's own returned mask (array, list, or ``None`` in evaluation if the
  backward accepts it) must give the vector-Jacobian product of that forward.  Every case runs both modes.
* ``batchnorm_backward_atoms(grad_output, cache)`` -> dict with the gradient of every intermediate
  (``gamma, beta, xhat, istd, var, diff, mu, h_pre``), each of the shape of its intermediate.
* ``cross_entropy_backward_atoms(cache)`` -> dict with ``logprobs, lse, shifted, logits``.
* ``batchnorm_backward(grad_output, cache)`` -> ``(d_h_pre, d_gamma, d_beta)`` (tuple or list).
* ``softmax_cross_entropy_backward(logits, y)`` -> ``(softmax(logits) - onehot(y)) / B``.
* ``train_step(params, X, y, lr, p, U)``: changes the caller's dict in place (``-=`` or re-assignment of its
  entries) to one SGD step of Linear (no bias) -> BatchNorm -> ReLU -> Dropout -> Linear -> softmax
  cross-entropy, updates ``running_mean`` / ``running_var`` (momentum 0.1, unbiased batch variance in the
  running one), returns the loss before the step; ``fit(X, y, seed, X_val, y_val)`` -> ``(params, history)``
  whose parameters, run by the check's own evaluation-mode forward, classify the held-out test digits with
  at least 97 % accuracy, within 10 s, and whose ``history`` holds four per-epoch lists (``train_loss``,
  ``train_acc``, ``val_loss``, ``val_acc``) ending with the evaluation-mode loss and accuracy of the returned
  parameters on the training and validation splits.

All tolerances are float64's (1e-6 against central differences, 1e-10 for forward values), or float32's
for a float32 result.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from . import (
    Cases,
    Handle,
    assert_close,
    assert_gradient,
    assert_true,
    numeric_vjp,
    random_array,
    rng,
    student,
    to_float64,
)

__all__ = ["batchnorm_atoms", "batchnorm_fused", "cross_entropy_atoms", "cross_entropy_fused", "dropout", "training",
           "BN_EPS", "MOMENTUM", "TARGET_ACCURACY", "TIME_LIMIT"]

BN_EPS = 1e-5
MOMENTUM = 0.1
TARGET_ACCURACY = 0.97
TIME_LIMIT = 10.0

BN_ORDER = ("gamma", "beta", "xhat", "istd", "var", "diff", "mu", "h_pre")
CE_ORDER = ("logprobs", "lse", "shifted", "logits")


# ------------------------------------------------------------------ the forward graphs, with overrides
def bn_graph(h_pre: np.ndarray, gamma: np.ndarray, beta: np.ndarray, over: dict | None = None) -> dict:
    """Every node of the batchnorm forward; a node in ``over`` takes that value and its descendants follow."""
    over = over or {}
    n = {"h_pre": over.get("h_pre", h_pre), "gamma": over.get("gamma", gamma), "beta": over.get("beta", beta)}
    steps: list[tuple[str, Callable[[], np.ndarray]]] = [
        ("mu", lambda: n["h_pre"].mean(axis=0, keepdims=True)),  # (1, H)
        ("diff", lambda: n["h_pre"] - n["mu"]),  # (B, H)
        ("var", lambda: (n["diff"] ** 2).mean(axis=0, keepdims=True)),  # (1, H), 1/B
        ("istd", lambda: (n["var"] + BN_EPS) ** -0.5),  # (1, H)
        ("xhat", lambda: n["diff"] * n["istd"]),  # (B, H)
        ("out", lambda: n["gamma"] * n["xhat"] + n["beta"]),  # (B, H)
    ]
    for name, make in steps:
        n[name] = over[name] if name in over else make()
    return n


def ce_graph(logits: np.ndarray, y: np.ndarray, over: dict | None = None) -> dict:
    """Every node of the cross-entropy forward (loss = batch mean), with overrides as :func:`bn_graph`."""
    over = over or {}
    B = logits.shape[0]
    n = {"logits": over.get("logits", logits)}
    steps: list[tuple[str, Callable[[], object]]] = [
        ("m", lambda: n["logits"].max(axis=1, keepdims=True)),  # (B, 1)
        ("shifted", lambda: n["logits"] - n["m"]),  # (B, C)
        ("lse", lambda: np.log(np.exp(n["shifted"]).sum(axis=1, keepdims=True))),  # (B, 1)
        ("logprobs", lambda: n["shifted"] - n["lse"]),  # (B, C)
        ("loss", lambda: -n["logprobs"][np.arange(B), y].mean()),
    ]
    for name, make in steps:
        n[name] = over[name] if name in over else make()
    n["probs"] = np.exp(n["logprobs"])
    return n


def _node_vjp(graph: Callable[[dict], dict], nodes: dict, name: str, output: str, G: np.ndarray | float) -> np.ndarray:
    """Central differences of ``sum(graph(over={name: v})[output] * G)`` at ``v = nodes[name]``."""
    value = np.array(nodes[name], dtype=np.float64)
    return numeric_vjp(lambda v: np.asarray(graph({name: v})[output], dtype=np.float64) * np.ones(1), value,
                       np.asarray(G, dtype=np.float64) * np.ones(1))


def _bn_cache(gen: np.random.Generator, B: int, H: int) -> tuple[dict, np.ndarray]:
    h_pre = gen.normal(gen.uniform(-2, 2, size=H), gen.uniform(0.5, 3.0, size=H), size=(B, H))
    gamma, beta = gen.uniform(0.5, 2.0, size=H), gen.normal(0.0, 1.0, size=H)
    nodes = bn_graph(h_pre, gamma, beta)
    cache = {k: nodes[k].copy() for k in ("h_pre", "mu", "diff", "var", "istd", "xhat", "gamma", "beta")}
    return cache, random_array(gen, (B, H))


def _ce_cache(gen: np.random.Generator, B: int, C: int, std: float) -> dict:
    logits = gen.normal(0.0, std, size=(B, C))
    y = gen.integers(0, C, size=B)
    nodes = ce_graph(logits, y)
    cache = {k: np.array(nodes[k], copy=True) for k in ("logits", "shifted", "lse", "logprobs", "probs")}
    cache["y"] = y.copy()
    return cache


def _grads(raw: object, what: str, keys: tuple[str, ...]) -> dict:
    assert_true(isinstance(raw, dict), f"{what}: expected a dict of gradients such as {{'{keys[0]}': ...}}, got "
                f"{raw.type_name if isinstance(raw, Handle) else type(raw).__name__}.")
    missing = [k for k in keys if k not in raw]
    assert_true(not missing, f"{what}: the dict has no gradient for {missing} (it has {sorted(map(str, raw))}).")
    return raw


def _check_shape(name: str, got: object, shape: tuple) -> None:
    arr = to_float64(got, name)
    assert_true(arr.shape == shape, f"{name}: expected shape {shape} (the shape of the intermediate), "
                f"got shape {arr.shape}." + (" Hint: keep the dimension with keepdims=True."
                                             if arr.size == int(np.prod(shape)) else ""))


# ------------------------------------------------------------------ exercise 1a: dropout
def dropout(points: float) -> Cases:
    """dropout_forward in training and evaluation mode, and dropout_backward with the returned mask.

    Accepts: ``(out, mask)`` as a tuple or list; ``out`` within 1e-10 of the reference in both modes; the
    backward's result within 1e-6 of central differences of the reference forward with the same ``U``.

    ``cases.add(label, shape=(B, H), p=p)``: ``A``, ``U`` and the upstream gradient drawn from ``rng(label)``.
    """
    S = student()

    def check(label: str, shape: tuple, p: float) -> None:
        gen = rng(label)
        A, U, G = random_array(gen, shape), gen.random(shape), random_array(gen, shape)
        keep = (U >= p).astype(np.float64)
        mask = keep / (1.0 - p)
        for train in (True, False):
            mode = "training" if train else "evaluation"
            raw = S.call("dropout_forward", A.copy(), p, train, U.copy())
            assert_true(isinstance(raw, (tuple, list)) and len(raw) == 2,
                        f"dropout_forward ({mode}): expected a pair (out, mask), got "
                        f"{raw.type_name if isinstance(raw, Handle) else type(raw).__name__}.")
            out, student_mask = raw
            expected = A * mask if train else A
            candidates = ({"the kept units are not rescaled by 1/(1 - p): inverted dropout divides the mask by 1 - p, "
                           "so the expected output equals the input": A * keep} if train else
                          {"the mask is applied in evaluation mode: at test time dropout is the identity": A * mask,
                           "a mask (not rescaled) is applied in evaluation mode: at test time dropout is the identity":
                               A * keep})
            assert_close(f"dropout_forward out ({mode}, p={p:g})", out, expected, rtol=1e-10, batch_size=shape[0],
                         candidates=candidates)
            grad = S.call("dropout_backward", G.copy(), student_mask)
            numeric = numeric_vjp(lambda a: a * mask if train else a, A, G)
            assert_gradient(f"dropout_backward d_A ({mode}, p={p:g})", grad, numeric, batch_size=shape[0],
                            candidates={"the kept units are not rescaled by 1/(1 - p)": G * keep} if train else
                            {"the mask is applied in evaluation mode: at test time the gradient passes unchanged":
                             G * mask})

    return Cases("dropout_forward and dropout_backward", points, check)


# ------------------------------------------------------------------ exercise 1b: batchnorm atoms
def batchnorm_atoms(points: float) -> Cases:
    """batchnorm_backward_atoms: the gradient of every intermediate of the batchnorm forward.

    Accepts: a dict with (at least) the keys gamma, beta, xhat, istd, var, diff, mu, h_pre; each value an
    array (or nested list) of its intermediate's shape within 1e-6 of central differences of the loss
    ``sum(out * G)`` with that intermediate perturbed and everything after it recomputed.

    ``cases.add(label, B=B, H=H)``.
    """
    S = student()

    def check(label: str, B: int, H: int) -> None:
        cache, G = _bn_cache(rng(label), B, H)
        raw = _grads(S.call("batchnorm_backward_atoms", G.copy(), {k: v.copy() for k, v in cache.items()}),
                     "batchnorm_backward_atoms", BN_ORDER)

        def graph(over):
            return bn_graph(cache["h_pre"], cache["gamma"], cache["beta"], over)

        nodes = graph({})
        d_out = G
        # the values of two classic bugs, for the hints
        d_xhat = d_out * cache["gamma"]
        d_istd = (d_xhat * cache["diff"]).sum(axis=0, keepdims=True)
        d_var = d_istd * -0.5 * (cache["var"] + BN_EPS) ** -1.5
        d_diff = d_xhat * cache["istd"] + 2.0 * cache["diff"] * d_var / B
        candidates = {
            "diff": {"the variance's gradient divides by B - 1 (the unbiased variance), but the forward's variance is "
                     "the biased one, mean(diff**2) = sum / B": d_xhat * cache["istd"] + 2.0 * cache["diff"] * d_var / (B - 1),
                     "the path through the variance is missing: diff reaches the loss through xhat and through var":
                         d_xhat * cache["istd"]},
            "h_pre": {"the batch mean's gradient is forgotten: h_pre reaches the loss through diff and through mu "
                      "(mu = mean of h_pre), so d_h_pre = d_diff + d_mu / B": d_diff},
            "var": {"the derivative of (var + eps)**-0.5 is -0.5 (var + eps)**-1.5":
                    d_istd * 0.5 * (cache["var"] + BN_EPS) ** -1.5},
        }
        for name in BN_ORDER:
            _check_shape(f"batchnorm_backward_atoms d_{name}", raw[name], np.shape(nodes[name]))
            numeric = _node_vjp(graph, nodes, name, "out", G)
            assert_gradient(f"batchnorm_backward_atoms d_{name}", raw[name], numeric, batch_size=B,
                            candidates=candidates.get(name))

    return Cases("batchnorm_backward_atoms", points, check)


# ------------------------------------------------------------------ exercise 1c: cross-entropy atoms
def cross_entropy_atoms(points: float) -> Cases:
    """cross_entropy_backward_atoms: the gradient of the loss with respect to every intermediate of the loss.

    Accepts: a dict with (at least) the keys logprobs, lse, shifted, logits, each of its intermediate's shape
    and within 1e-6 of central differences (the row maximum m may be treated as a constant or not: its
    gradient is zero).

    ``cases.add(label, B=B, C=C, std=std)``.
    """
    S = student()

    def check(label: str, B: int, C: int, std: float = 2.0) -> None:
        cache = _ce_cache(rng(label), B, C, std)
        raw = _grads(S.call("cross_entropy_backward_atoms", {k: v.copy() for k, v in cache.items()}),
                     "cross_entropy_backward_atoms", CE_ORDER)

        def graph(over):
            return ce_graph(cache["logits"], cache["y"], over)

        nodes = graph({})
        Y = np.zeros((B, C))
        Y[np.arange(B), cache["y"]] = 1.0
        d_logprobs = -Y / B
        candidates = {
            "shifted": {"the log-sum-exp's term is missing: shifted reaches the loss through logprobs directly and "
                        "through lse, whose gradient is the probabilities times d_lse": d_logprobs,
                        "the sign of the log-sum-exp's term is flipped: d_lse = -sum(d_logprobs) over each row":
                            d_logprobs - cache["probs"] * d_logprobs.sum(axis=1, keepdims=True)},
            "lse": {"the sign is flipped: logprobs = shifted - lse": d_logprobs.sum(axis=1, keepdims=True)},
        }
        for name in CE_ORDER:
            _check_shape(f"cross_entropy_backward_atoms d_{name}", raw[name], np.shape(nodes[name]))
            numeric = _node_vjp(graph, nodes, name, "loss", 1.0)
            assert_gradient(f"cross_entropy_backward_atoms d_{name}", raw[name], numeric, batch_size=B,
                            candidates=candidates.get(name))

    return Cases("cross_entropy_backward_atoms", points, check)


# ------------------------------------------------------------------ exercise 2: fused batchnorm backward
def batchnorm_fused(points: float) -> Cases:
    """batchnorm_backward: the closed form of d_h_pre, d_gamma, d_beta against central differences.

    Accepts: a pair or triple (tuple or list) ``(d_h_pre, d_gamma, d_beta)`` of arrays of shapes (B, H),
    (H,), (H,) within 1e-6 of central differences.

    ``cases.add(label, B=B, H=H)``.
    """
    S = student()

    def check(label: str, B: int, H: int) -> None:
        cache, G = _bn_cache(rng(label), B, H)
        raw = S.call("batchnorm_backward", G.copy(), {k: v.copy() for k, v in cache.items()})
        assert_true(isinstance(raw, (tuple, list)) and len(raw) == 3,
                    "batchnorm_backward: expected (d_h_pre, d_gamma, d_beta), got "
                    f"{raw.type_name if isinstance(raw, Handle) else type(raw).__name__}"
                    + (f" of {len(raw)} items" if isinstance(raw, (tuple, list)) else "") + ".")

        def graph(over):
            return bn_graph(cache["h_pre"], cache["gamma"], cache["beta"], over)

        nodes = graph({})
        xhat, istd = cache["xhat"], cache["istd"]
        dxhat = G * cache["gamma"]
        candidates = {
            "h_pre": {"the variance's term is missing: subtract xhat * sum(dxhat * xhat) over the batch too":
                          (istd / B) * (B * dxhat - dxhat.sum(axis=0)),
                      "the mean's term is missing: subtract sum(dxhat) over the batch too":
                          (istd / B) * (B * dxhat - xhat * (dxhat * xhat).sum(axis=0)),
                      "only the direct path dxhat / sqrt(var + eps): the batch statistics depend on h_pre too":
                          dxhat * istd},
        }
        for name, got in zip(("h_pre", "gamma", "beta"), raw):
            _check_shape(f"batchnorm_backward d_{name}", got, np.shape(nodes[name]))
            assert_gradient(f"batchnorm_backward d_{name}", got, _node_vjp(graph, nodes, name, "out", G), batch_size=B,
                            candidates=candidates.get(name))

    return Cases("batchnorm_backward", points, check)


# ------------------------------------------------------------------ exercise 3: fused softmax cross-entropy
def cross_entropy_fused(points: float) -> Cases:
    """softmax_cross_entropy_backward(logits, y) = (softmax(logits) - onehot(y)) / B against central differences.

    Accepts: any (B, C) array or nested list within 1e-6 of central differences of the batch-mean loss.

    ``cases.add(label, B=B, C=C, std=std)``.
    """
    S = student()

    def check(label: str, B: int, C: int, std: float = 2.0) -> None:
        cache = _ce_cache(rng(label), B, C, std)
        got = S.call("softmax_cross_entropy_backward", cache["logits"].copy(), cache["y"].copy())
        Y = np.zeros((B, C))
        Y[np.arange(B), cache["y"]] = 1.0
        numeric = _node_vjp(lambda over: ce_graph(cache["logits"], cache["y"], over), cache, "logits", "loss", 1.0)
        assert_gradient("softmax_cross_entropy_backward d_logits", got, numeric, batch_size=B, candidates={
            "this is softmax / B: the one-hot labels were not subtracted": cache["probs"] / B})

    return Cases("softmax_cross_entropy_backward", points, check)


# ------------------------------------------------------------------ exercise 4: training
PARAMS = ("W1", "gamma", "beta", "W2", "b2")


def ref_forward_backward(params: dict, X: np.ndarray, y: np.ndarray, p: float, U: np.ndarray) -> tuple[float, dict, dict]:
    """Loss, gradients and batch statistics of Linear (no bias) -> BN -> ReLU -> Dropout -> Linear -> CE."""
    B = X.shape[0]
    h_pre = X @ params["W1"]  # (B, D) @ (D, H) -> (B, H)
    bn = bn_graph(h_pre, params["gamma"], params["beta"])
    h = bn["out"]
    a = np.maximum(h, 0.0)
    mask = (U >= p) / (1.0 - p)
    a_drop = a * mask
    logits = a_drop @ params["W2"] + params["b2"]  # (B, H) @ (H, C) -> (B, C)
    ce = ce_graph(logits, y)
    d_logits = ce["probs"].copy()
    d_logits[np.arange(B), y] -= 1.0
    d_logits /= B
    grads = {"W2": a_drop.T @ d_logits, "b2": d_logits.sum(axis=0)}
    d_h = (d_logits @ params["W2"].T) * mask * (h > 0)
    dxhat = d_h * params["gamma"]
    grads["gamma"] = (d_h * bn["xhat"]).sum(axis=0)
    grads["beta"] = d_h.sum(axis=0)
    d_h_pre = (bn["istd"] / B) * (B * dxhat - dxhat.sum(axis=0) - bn["xhat"] * (dxhat * bn["xhat"]).sum(axis=0))
    grads["W1"] = X.T @ d_h_pre
    stats = {"mean": bn["mu"][0], "var_unbiased": bn["var"][0] * B / (B - 1)}
    return float(ce["loss"]), grads, stats


def eval_logits(params: dict, X: np.ndarray) -> np.ndarray:
    """The network in evaluation mode: running statistics, no dropout."""
    h_pre = X @ params["W1"]
    xhat = (h_pre - params["running_mean"]) / np.sqrt(params["running_var"] + BN_EPS)
    a = np.maximum(params["gamma"] * xhat + params["beta"], 0.0)
    return a @ params["W2"] + params["b2"]


def _read_params(raw: object, what: str, shapes: dict) -> dict:
    assert_true(isinstance(raw, dict), f"{what}: expected a dict of arrays, got "
                f"{raw.type_name if isinstance(raw, Handle) else type(raw).__name__}.")
    out = {}
    for name, shape in shapes.items():
        assert_true(name in raw, f"{what}: the key '{name}' is missing.")
        out[name] = to_float64(raw[name], f"{what}['{name}']")
        assert_true(out[name].shape == shape, f"{what}['{name}']: expected shape {shape}, got shape {out[name].shape}.")
    return out


def _step_case(S, label: str, B: int, D: int, H: int, C: int) -> None:
    gen = rng(label)
    params = {"W1": gen.normal(0.0, 1.0, size=(D, H)) / np.sqrt(D), "gamma": gen.uniform(0.5, 1.5, size=H),
              "beta": gen.normal(0.0, 0.5, size=H), "W2": gen.normal(0.0, 1.0, size=(H, C)) / np.sqrt(H),
              "b2": gen.normal(0.0, 0.5, size=C), "running_mean": gen.normal(0.0, 0.5, size=H),
              "running_var": gen.uniform(0.5, 2.0, size=H)}
    X = random_array(gen, (B, D))
    y = gen.integers(0, C, size=B)
    p = float(gen.uniform(0.1, 0.4))
    U = gen.random((B, H))
    lr = float(gen.uniform(0.05, 0.5))
    ref_loss, grads, stats = ref_forward_backward(params, X, y, p, U)
    kept = S.keep({k: v.copy() for k, v in params.items()})
    out = S.call("train_step", kept, X.copy(), y.copy(), lr, p, U.copy())
    after = _read_params(kept.read(), "params after train_step", {k: v.shape for k, v in params.items()})
    for name in PARAMS:
        assert_true(not np.array_equal(after[name], params[name]),
                    f"grad_{name}: params['{name}'] was not changed by train_step. Hint: every parameter must be "
                    f"updated, {name} included (params['{name}'] -= lr * grad).")
        implied = (params[name] - after[name]) / lr
        assert_close(f"grad_{name} (implied by the update (old - new) / lr of params['{name}'])", implied, grads[name],
                     rtol=1e-6, batch_size=B, candidates={
                         "the update has the wrong sign (gradient ascent): use params[name] -= lr * grad": -grads[name]})
    m = MOMENTUM
    assert_close("params['running_mean'] after train_step", after["running_mean"],
                 (1 - m) * params["running_mean"] + m * stats["mean"], rtol=1e-10, candidates={
                     "the running mean was not updated": params["running_mean"]})
    assert_close("params['running_var'] after train_step", after["running_var"],
                 (1 - m) * params["running_var"] + m * stats["var_unbiased"], rtol=1e-10, candidates={
                     "the running variance was not updated": params["running_var"],
                     "the running variance uses the unbiased batch variance, var * B / (B - 1), as PyTorch does":
                         (1 - m) * params["running_var"] + m * stats["var_unbiased"] * (B - 1) / B})
    loss = to_float64(out, "loss returned by train_step")
    assert_true(loss.size == 1, f"loss returned by train_step: expected one number, got shape {loss.shape}.")
    assert_close("loss returned by train_step (before the update)", loss.reshape(1), [ref_loss], rtol=1e-10)


HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")


def _check_history(raw: object, params: dict, splits: dict) -> None:
    """history: per-epoch lists whose last entries describe the returned parameters (evaluation mode)."""
    assert_true(isinstance(raw, dict), "fit history: expected a dict of per-epoch lists, got "
                f"{raw.type_name if isinstance(raw, Handle) else type(raw).__name__}.")
    missing = [k for k in HISTORY_KEYS if k not in raw]
    assert_true(not missing, f"fit history: the keys {missing} are missing (it has {sorted(map(str, raw))}).")
    lengths = {k: len(raw[k]) if isinstance(raw[k], (list, tuple)) else -1 for k in HISTORY_KEYS}
    assert_true(len(set(lengths.values())) == 1 and lengths["train_loss"] > 0,
                f"fit history: expected four non-empty lists of the same length (one entry per epoch), got lengths {lengths}.")
    for split, (X, y) in splits.items():
        logits = eval_logits(params, X)
        with np.errstate(all="ignore"):
            loss = float(ce_graph(logits, y)["loss"])
            accuracy = float(np.mean(logits.argmax(axis=1) == y))
        assert_close(f"fit history['{split}_loss'][-1] (the evaluation-mode loss of the returned parameters on the "
                     f"{split} split)", to_float64(raw[f"{split}_loss"][-1], f"history['{split}_loss'][-1]").reshape(1),
                     [loss], rtol=1e-8)
        assert_close(f"fit history['{split}_acc'][-1] (the accuracy of the returned parameters on the {split} split)",
                     to_float64(raw[f"{split}_acc"][-1], f"history['{split}_acc'][-1]").reshape(1), [accuracy], rtol=1e-12)


_DIGITS: dict = {}


def _digits() -> tuple:
    if not _DIGITS:
        from course_lib.data import digits
        _DIGITS["data"] = digits()
    return _DIGITS["data"]


def training(points: float) -> Cases:
    """train_step against a reference step, then fit trained on the digits reaching >= 97 % test accuracy.

    Accepts: see the module docstring; each case checks one ``train_step`` on a small random network (exact)
    and one ``fit(X_train, y_train, seed, X_val, y_val)`` whose returned parameters (``W1, gamma, beta, W2, b2,
    running_mean, running_var``) are evaluated by this check's own evaluation-mode forward on the test digits.

    ``cases.add(label, B=B, D=D, H=H, C=C)``: the train_step network's sizes; the fit's seed is drawn from
    ``rng(label)``.
    """
    S = student()

    def check(label: str, B: int, D: int, H: int, C: int) -> None:
        _step_case(S, label, B, D, H, C)
        X_train, y_train, X_val, y_val, X_test, y_test = _digits()
        seed = int(rng(label + " fit").integers(0, 2 ** 31))
        start = time.perf_counter()
        result = S.call("fit", X_train.copy(), y_train.copy(), seed, X_val.copy(), y_val.copy())
        elapsed = time.perf_counter() - start
        assert_true(isinstance(result, (tuple, list)) and len(result) == 2,
                    "fit: expected (params, history), got "
                    f"{result.type_name if isinstance(result, Handle) else type(result).__name__}.")
        raw = result[0]
        assert_true(isinstance(raw, dict), "fit: params must be a dict of arrays.")
        assert_true("W1" in raw and "W2" in raw, "fit: params must hold 'W1' and 'W2'.")
        W1 = to_float64(raw["W1"], "fit params['W1']")
        H_fit = W1.shape[1] if W1.ndim == 2 else 0
        shapes = {"W1": (64, H_fit), "gamma": (H_fit,), "beta": (H_fit,), "W2": (H_fit, 10), "b2": (10,),
                  "running_mean": (H_fit,), "running_var": (H_fit,)}
        params = _read_params(raw, "fit params", shapes)
        with np.errstate(all="ignore"):
            accuracy = float(np.mean(eval_logits(params, X_test).argmax(axis=1) == y_test))
        hint = ""
        if np.array_equal(params["running_mean"], np.zeros(H_fit)) and np.array_equal(params["running_var"], np.ones(H_fit)):
            hint = (" Hint: running_mean and running_var are still 0 and 1: train_step must update them, evaluation "
                    "normalises with them.")
        assert_true(accuracy >= TARGET_ACCURACY, f"fit (seed {seed}): test accuracy {accuracy:.4f} < "
                    f"{TARGET_ACCURACY} of the trained network (evaluation mode: running statistics, no dropout).{hint}")
        _check_history(result[1], params, {"train": (X_train, y_train), "val": (X_val, y_val)})
        assert_true(elapsed <= TIME_LIMIT, f"fit (seed {seed}): reached {accuracy:.4f} but took {elapsed:.1f} s "
                    f"> {TIME_LIMIT:g} s.")

    return Cases("train_step and fit", points, check)
