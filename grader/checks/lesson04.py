"""Checks of lesson 04 (modules): Linear, Tanh, Sequential, collect_named_parameters, SGD, LayerNorm.

Every check reaches the student's code through :func:`grader.checks.student`
only, and computes every reference on its own side with numpy and course_lib.
What the checks accept and how they drive the student's objects:

* ``Linear`` / ``Tanh``: created in the student's process (``S.call("Linear",
  d_in, d_out)``, ``S.call("Tanh")``), their state set by the check
  (``W``, ``b``, ``grad_W``, ``grad_b``), driven with ``forward`` / ``backward``.
  In the network cases the check itself runs the chain of layers: the
  modules under test are the student's, the others are course_lib modules on
  the check's side, and the whole network is compared with an all-course_lib
  twin (same weights): forward output, ``grad_input`` and every Linear's
  ``grad_W``, ``grad_b`` against central differences of the twin, for a
  random upstream gradient.
* ``Sequential``: the student's container (nested containers are built in
  the student's process by passing handles) holding *fixed* leaves that do
  not depend on the student's other exercises nor on this lesson's
  course_lib references: a Linear is two ``course_lib.modules.Module``
  objects whose ``forward`` / ``backward`` are ``operator.methodcaller``
  (``@ W`` then ``+ b``; ``@ W.T`` then the identity); an activation's
  ``forward`` is ``numpy.tanh`` / ``course_lib.functional.sigmoid`` and its
  ``backward`` multiplies by the derivative at the input the check knows it
  receives.  Forward output and ``grad_input`` are compared with the twin.
* ``collect_named_parameters``: leaves are ``Module`` objects with
  ``param_names`` and object arrays as parameters (these come back as
  handles, so "the module's own array, not a copy" is a handle identity);
  a "course_lib Sequential" is a ``Module`` whose ``children`` answers the
  numbered children (the bound ``copy`` of a list stored with ``S.keep``),
  so ``Module.named_parameters`` recurses as course_lib's ``Sequential`` does.
* ``SGD``: the model is a tree of such ``Module`` objects with float
  parameters (stored with ``S.keep``, so the check holds a handle to the very
  array a leaf holds) and random gradients; the parameters are read back
  after ``step()``, and the original array objects (``handle.read()``) must
  hold the new values too (an in-place update).
* ``LayerNorm``: created in the student's process (``S.call("LayerNorm", d, eps)``), ``gamma``, ``beta``
  and nonzero starting ``grad_gamma``, ``grad_beta`` set by the check (so only an accumulating backward
  is right); forward output against a numpy reference, ``grad_input`` and the added parameter gradients
  against central differences of that reference, for a random upstream gradient.
* Repeated calls: every single-module and network case runs a first forward
  pass on other inputs, so a module that caches only its first input fails.
* A float32 result of a student's module is judged at float32's precision,
  also where it flows on through course_lib layers.

None of these uses ``course_lib.modules.Linear``, ``Tanh``, ``Activation``,
``Sequential`` or ``course_lib.optim.SGD`` in the student's process (they
answer this lesson's exercises).  The leaves rely on
``course_lib.modules.Module`` (and ``Module.named_parameters`` /
``named_gradients`` for the named-parameters and SGD cases, as the
solution's own leaves do).
"""
from __future__ import annotations

from typing import Any

import numpy as np

import course_lib.modules as ref
from course_lib import functional as F
from grader.protocol import Handle, StudentError

from . import (
    DEFAULT_GRAD_THRESHOLD,
    DEFAULT_RTOL,
    LOW_PRECISION_EPS,
    Cases,
    Student,
    any_true,
    array_equal,
    assert_close,
    assert_gradient,
    assert_true,
    low_precision,  # a float32 result is judged at float32's precision
    numeric_vjp,
    param_vjp,
    random_array,
    rng,
    student,
    to_float64,
    to_names,
)

__all__ = ["layer_norm", "linear", "named_parameters", "sequential", "sgd", "tanh"]

ORDER_HINT = ("Hint: Sequential.backward must call the layers' backward from the last layer to the first, "
              "passing each returned grad_input on as the previous layer's grad_output.")


# ------------------------------------------------------------------ check-side helpers
def _draw_linear(gen: np.random.Generator, d_in: int, d_out: int) -> tuple[np.ndarray, np.ndarray]:
    W = gen.standard_normal((d_in, d_out)) / np.sqrt(d_in)
    b = gen.uniform(-1.0, 1.0, size=d_out)  # a nonzero bias, so a missing one shows
    return W, b


def _ref_linear(W: np.ndarray, b: np.ndarray) -> ref.Linear:
    layer = ref.Linear(*W.shape)
    layer.W, layer.b = W.copy(), b.copy()
    layer.grad_W, layer.grad_b = np.zeros(W.shape), np.zeros(b.shape)
    return layer


_REF_ACT = {"tanh": ref.Tanh, "sigmoid": ref.Sigmoid}
_ACT_PRIME = {"tanh": F.tanh_prime, "sigmoid": F.sigmoid_prime}
_ACT_LIB = {"tanh": "numpy.tanh", "sigmoid": "course_lib.functional.sigmoid"}
_STUDENT_CLASS = {"linear": "Linear", "tanh": "Tanh"}


class _Remote:
    """A student's module (a handle) in a chain that the check runs.

    ``eps``: the largest machine epsilon of a float16/float32 result it returned (None while all were float64):
    the chain's results are then judged at that precision.
    """

    def __init__(self, handle: Handle, name: str):
        self.handle, self.name = handle, name
        self.eps: float | None = None

    def _read(self, raw: Any, what: str) -> np.ndarray:
        eps = low_precision(raw)
        if eps is not None:
            self.eps = max(self.eps or 0.0, eps)
        return to_float64(raw, what)

    def forward(self, A: np.ndarray) -> np.ndarray:
        return self._read(self.handle.method("forward", A), f"{self.name}.forward output")

    def backward(self, G: np.ndarray) -> np.ndarray:
        return self._read(self.handle.method("backward", G), f"{self.name}.backward grad_input")

    def grad(self, p: str) -> Any:
        return self.handle.get("grad_" + p)

    def zero_grad(self, shapes: dict) -> None:
        for p, shape in shapes.items():
            self.handle.set("grad_" + p, np.zeros(shape))


class _Local:
    """A course_lib module on the check's side, in a chain that the check runs."""

    def __init__(self, module: ref.Module):
        self.module = module

    def forward(self, A: np.ndarray) -> np.ndarray:
        return self.module.forward(A)

    def backward(self, G: np.ndarray) -> np.ndarray:
        return self.module.backward(G)

    def grad(self, p: str) -> Any:
        return getattr(self.module, "grad_" + p)

    def zero_grad(self, shapes: dict) -> None:
        for p in shapes:
            getattr(self.module, "grad_" + p)[...] = 0.0


class _Chain:
    """A network of ``spec`` whose modules of kind ``under_test`` are the student's; the check runs the chain.

    ``twin`` is the all-course_lib network with the same weights (nested as the spec);
    ``linears`` lists ``(dotted position, chain module, twin Linear)`` in depth-first order.
    """

    def __init__(self, S: Student, spec: list, gen: np.random.Generator, under_test: str):
        self.layers: list = []
        self.linears: list = []
        self.twin = self._build(S, spec, gen, under_test, "")

    def _build(self, S, items, gen, under_test, path) -> ref.Sequential:
        twin_layers = []
        for i, item in enumerate(items):
            label = f"{path}{i}"
            if isinstance(item, list):
                twin_layers.append(self._build(S, item, gen, under_test, label + "."))
                continue
            kind = item[0] if isinstance(item, tuple) else item
            if kind == "linear":
                W, b = _draw_linear(gen, item[1], item[2])
                twin_layer = _ref_linear(W, b)
                if under_test == "linear":
                    handle = S.call("Linear", item[1], item[2])
                    for name, value in (("W", W), ("b", b), ("grad_W", np.zeros(W.shape)), ("grad_b", np.zeros(b.shape))):
                        handle.set(name, value.copy())
                    layer = _Remote(handle, "Linear")
                else:
                    layer = _Local(_ref_linear(W, b))
                self.linears.append((label, layer, twin_layer))
            else:
                twin_layer = _REF_ACT[kind]()
                layer = (_Remote(S.call(_STUDENT_CLASS[kind]), _STUDENT_CLASS[kind]) if kind == under_test
                         else _Local(_REF_ACT[kind]()))
            self.layers.append(layer)
            twin_layers.append(twin_layer)
        return ref.Sequential(*twin_layers)

    def tolerance(self, default: float) -> float:
        """``default``, or float32's precision when a module of the student's computed in float32."""
        eps = max((layer.eps for layer in self.layers if getattr(layer, "eps", None)), default=None)
        return default if eps is None else max(default, LOW_PRECISION_EPS * eps)

    def forward(self, X: np.ndarray) -> np.ndarray:
        A = X.copy()
        for layer in self.layers:
            A = layer.forward(A)
        return A

    def backward(self, G: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            G = layer.backward(G)
        return G


def _check_chain(chain: _Chain, X: np.ndarray, G: np.ndarray, what: str, stale: dict | None = None) -> None:
    """Forward output, grad_input and every Linear's grad_W, grad_b of the chain against its course_lib twin.

    ``stale``: ``{"W" | "b": {hint: value}}`` known-bug values of a one-layer chain's gradients.
    """
    B = X.shape[0]
    out = chain.forward(X)
    assert_close(f"{what}.forward output", out, chain.twin.forward(X), rtol=chain.tolerance(DEFAULT_RTOL), batch_size=B)
    for _, layer, twin_layer in chain.linears:
        layer.zero_grad({"W": twin_layer.W.shape, "b": twin_layer.b.shape})
    grad_input = chain.backward(G.copy())
    threshold = chain.tolerance(DEFAULT_GRAD_THRESHOLD)
    assert_gradient(f"{what}.backward grad_input", grad_input, numeric_vjp(chain.twin.forward, X, G),
                    threshold=threshold, batch_size=B)
    for label, layer, twin_layer in chain.linears:
        for p in ("W", "b"):
            numeric = param_vjp(getattr(twin_layer, p), lambda: chain.twin.forward(X), G)
            assert_gradient(f"{what}.backward grad_{p} of layer {label}", layer.grad(p), numeric, threshold=threshold,
                            batch_size=B, candidates=(stale or {}).get(p))


def _network_case(S: Student, label: str, spec: list, B: int, under_test: str, what: str) -> None:
    gen = rng(label)
    chain = _Chain(S, spec, gen, under_test)
    d_in = chain.linears[0][2].W.shape[0]
    d_out = chain.twin.forward(np.zeros((1, d_in))).shape[1]
    X0 = random_array(gen, (B, d_in), min_abs=0.1)  # an earlier batch: backward must use the latest one
    X = random_array(gen, (B, d_in), min_abs=0.1)
    G = random_array(gen, (B, d_out), min_abs=0.1)
    first = chain.forward(X0)
    assert_close(f"{what}.forward output (first call)", first, chain.twin.forward(X0), rtol=chain.tolerance(DEFAULT_RTOL),
                 batch_size=B)
    _check_chain(chain, X, G, what)


# ------------------------------------------------------------------ exercise 1: Linear
def linear(points: float) -> Cases:
    """Linear.forward = X @ W + b; Linear.backward accumulates grad_W, grad_b and returns grad_input.

    Accepts: any forward that returns ``X @ W + b`` for the latest input (array or nested list; float32 at
    float32's precision) and any backward that adds ``X^T G`` / ``sum_rows G`` to the existing ``grad_W`` /
    ``grad_b`` arrays (in place or by re-assigning the attributes) and returns ``G W^T``, whatever it caches.

    ``cases.add(label, batch=B, layer=(d_in, d_out))`` one layer; add ``accumulate=True`` for two backward
    calls in a row; ``cases.add(label, batch=B, network=spec)`` a network of the student's Linear and
    course_lib activations (spec: ``("linear", d_in, d_out)``, ``"tanh"``, ``"sigmoid"``, nested lists).
    """
    S = student()

    def check(label: str, batch: int, layer: tuple | None = None, accumulate: bool = False, network: list | None = None) -> None:
        if network is not None:
            _network_case(S, label, network, batch, "linear", "network")
            return
        B, (d_in, d_out) = batch, layer
        gen = rng(label)
        chain = _Chain(S, [("linear", d_in, d_out)], gen, "linear")
        student_layer, ref_layer = chain.linears[0][1], chain.linears[0][2]
        X0 = random_array(gen, (B, d_in))  # an earlier batch: backward must use the input of the latest forward
        X = random_array(gen, (B, d_in))
        no_bias = {"the bias b is missing from the forward pass": X @ ref_layer.W}
        stale_text = ("grad_W was computed with the input of an earlier forward call: forward must cache its "
                      "input on every call (self.X = X)")
        assert_close("Linear.forward output (first call)", student_layer.handle.method("forward", X0.copy()),
                     ref_layer.forward(X0), batch_size=B, candidates={"the bias b is missing from the forward pass":
                                                                      X0 @ ref_layer.W})
        if not accumulate:
            G = random_array(gen, (B, d_out))
            assert_close("Linear.forward output", student_layer.handle.method("forward", X.copy()), ref_layer.forward(X),
                         batch_size=B, candidates=no_bias)
            _check_chain(chain, X, G, "Linear", stale={"W": {stale_text: X0.T @ G}})
            return
        G1, G2 = random_array(gen, (B, d_out)), random_array(gen, (B, d_out))
        assert_close("Linear.forward output", student_layer.handle.method("forward", X.copy()), ref_layer.forward(X),
                     batch_size=B, candidates=no_bias)
        student_layer.handle.method("backward", G1.copy())
        student_layer.handle.method("backward", G2.copy())
        for p in ("W", "b"):
            both = param_vjp(getattr(ref_layer, p), lambda: ref_layer.forward(X), G1 + G2)
            last = param_vjp(getattr(ref_layer, p), lambda: ref_layer.forward(X), G2)
            candidates = {f"grad_{p} is overwritten (=) instead of accumulated (+=)": last}
            if p == "W":
                candidates[stale_text] = X0.T @ (G1 + G2)
            assert_gradient(f"Linear grad_{p} after two backward calls", student_layer.grad(p), both, batch_size=B,
                            candidates=candidates)

    return Cases("Linear", points, check)


# ------------------------------------------------------------------ exercise 2: Tanh
def tanh(points: float) -> Cases:
    """Tanh.forward = tanh(z); Tanh.backward = grad_output * (1 - tanh(z)^2).

    Accepts: any forward returning tanh of the latest input and any backward returning
    ``grad_output * tanh'(z)`` for that input, computed from z or from the cached output (1 - a^2),
    as an array or nested list (float32 at float32's precision).

    ``cases.add(label, shape=(B, d))`` one module; ``cases.add(label, batch=B, network=spec)`` a network
    of the student's Tanh and course_lib Linear / Sigmoid (spec as in :func:`linear`).
    """
    S = student()

    def check(label: str, shape: tuple | None = None, batch: int | None = None, network: list | None = None) -> None:
        if network is not None:
            _network_case(S, label, network, batch, "tanh", "network")
            return
        gen = rng(label)
        Z0 = random_array(gen, shape, low=-2.5, high=2.5)  # an earlier batch: backward must use the latest one
        # away from 0, where 1 - tanh(z)^2 and the classic 1 - tanh(tanh(z))^2 nearly coincide
        Z = random_array(gen, shape, low=-2.5, high=2.5, min_abs=0.5)
        G = random_array(gen, shape)
        module = S.call("Tanh")
        assert_close("Tanh.forward output (first call)", module.method("forward", Z0.copy()), np.tanh(Z0),
                     batch_size=shape[0])
        assert_close("Tanh.forward output", module.method("forward", Z.copy()), np.tanh(Z), batch_size=shape[0])
        grad_input = module.method("backward", G.copy())
        assert_gradient("Tanh.backward grad_input", grad_input, numeric_vjp(np.tanh, Z, G), batch_size=shape[0],
                        candidates={"derivative taken at the output a instead of the input z: use 1 - tanh(z)^2 = 1 - a^2":
                                    G * (1 - np.tanh(np.tanh(Z)) ** 2),
                                    "1 - z^2 is not the derivative of tanh: use 1 - tanh(z)^2": G * (1 - Z ** 2),
                                    "grad_output is not multiplied in (chain rule)": 1 - np.tanh(Z) ** 2,
                                    "the derivative is taken at the input of an earlier forward call: forward must "
                                    "cache its input on every call": G * (1 - np.tanh(Z0) ** 2)})

    return Cases("Tanh", points, check)


# ------------------------------------------------------------------ exercise 3: Sequential
class _FixedLeaves:
    """The student's Sequential tree for ``spec``, with fixed leaves (see the module docstring), and its twin."""

    def __init__(self, S: Student, spec: list, gen: np.random.Generator, X: np.ndarray):
        self.S = S
        self._module = S.lib("course_lib.modules.Module")
        self._caller = S.lib("operator.methodcaller")
        self.twin = self._twin(spec, gen)
        self._inputs: list = []
        self._record_inputs(self.twin, X, self._inputs)
        self._next = 0
        self.net = self._build(spec)

    def _twin(self, items, gen) -> ref.Sequential:
        layers = []
        for item in items:
            if isinstance(item, list):
                layers.append(self._twin(item, gen))
            elif isinstance(item, tuple):
                layers.append(_ref_linear(*_draw_linear(gen, item[1], item[2])))
            else:
                layers.append(_REF_ACT[item]())
        return ref.Sequential(*layers)

    def _record_inputs(self, module, A, out: list) -> np.ndarray:
        """The input each leaf of the twin sees for X, in depth-first order."""
        if isinstance(module, ref.Sequential):
            for layer in module.layers:
                A = self._record_inputs(layer, A, out)
            return A
        out.append(A.copy())
        return module.forward(A)

    def _leaf(self, forward: Handle, backward: Handle) -> Handle:
        leaf = self._module.call()
        leaf.set("forward", forward)
        leaf.set("backward", backward)
        return leaf

    def _build(self, items) -> Handle:
        children = []
        for item in items:
            if isinstance(item, list):
                children.append(self._build(item))
                continue
            twin_layer = self._twin_leaves[self._next]
            z = self._inputs[self._next]
            self._next += 1
            if isinstance(item, tuple):
                W, b = twin_layer.W, twin_layer.b
                children.append(self._leaf(self._caller.call("__matmul__", W), self._caller.call("__matmul__", W.T.copy())))
                children.append(self._leaf(self._caller.call("__add__", b), self.S.lib("operator.pos")))
            else:
                children.append(self._leaf(self.S.lib(_ACT_LIB[item]), self._caller.call("__mul__", _ACT_PRIME[item](z))))
        return self.S.call("Sequential", *children)

    @property
    def _twin_leaves(self) -> list:
        out: list = []

        def walk(module):
            if isinstance(module, ref.Sequential):
                for layer in module.layers:
                    walk(layer)
            else:
                out.append(module)
        walk(self.twin)
        return out


def sequential(points: float) -> Cases:
    """Sequential.forward chains the layers; Sequential.backward runs their backward in reverse order.

    Accepts: any way of running the layers (loops, recursion, functools.reduce, layers kept as a list or a
    tuple in ``self.layers``) whose forward output and grad_input equal the twin's.

    ``cases.add(label, batch=B, network=spec)``: the student's Sequential (nested as the spec) over fixed
    leaves; forward output and grad_input against the course_lib twin.
    """
    S = student()

    def check(label: str, batch: int, network: list) -> None:
        gen = rng(label)
        d_in = _first_width(network)
        X = random_array(gen, (batch, d_in), min_abs=0.1)
        tree = _FixedLeaves(S, network, gen, X)
        twin = tree.twin
        B = batch
        d_out = twin.forward(np.zeros((1, d_in))).shape[1]
        G = random_array(gen, (B, d_out), min_abs=0.1)
        assert_close("Sequential.forward output", _run(tree.net, "forward", X, "X"), twin.forward(X), batch_size=B)
        grad_input = _run(tree.net, "backward", G, "grad_output", ORDER_HINT)
        assert_gradient("Sequential.backward grad_input", grad_input, numeric_vjp(twin.forward, X, G), batch_size=B)

    return Cases("Sequential", points, check)


def _run(net: Handle, method: str, A: np.ndarray, arg: str, hint: str = "") -> Any:
    """``net.method(A)``; an error of the student's code (other than NotImplementedError) becomes a failure naming the call."""
    try:
        return net.method(method, A.copy())
    except StudentError as exc:
        if exc.type_name == "NotImplementedError":
            raise
        where = f" ({exc.where})" if exc.where else ""
        raise AssertionError(f"Sequential.{method}({arg} of shape {A.shape}) raised "
                             f"{exc.type_name}: {exc.message}{where}. {hint}".rstrip()) from None


def _first_width(spec: list) -> int:
    for item in spec:
        if isinstance(item, list):
            return _first_width(item)
        if isinstance(item, tuple):
            return item[1]
    raise ValueError("the network has no Linear")


# ------------------------------------------------------------------ exercise 4: collect_named_parameters
def _kind(value: Any) -> str:
    """A short description of a student's value for a message (never its contents)."""
    if isinstance(value, Handle):
        return f"a {value.type_name} object"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, dict):
        return f"a dict of {len(value)} items"
    return f"a {type(value).__name__}"


class _Tree:
    """Modules in the student's process for the named-parameters and SGD checks.

    A spec is a list (the student's ``Sequential``; ``ours=False``: a course_lib-like container, a
    ``Module`` whose ``children`` lists its numbered children), ``("course_lib", [...])`` (a course_lib-like
    container), ``("linear", d_in, d_out)`` or ``("linear", d_in, d_out, "no bias")`` (a leaf ``Module``
    with ``param_names``, ``W``, ``b``, ``grad_W``, ``grad_b``), or an activation name (a leaf without parameters).
    ``params`` maps each parameter's dotted name to ``(leaf handle, attribute)``; ``values`` to the value set.
    With ``keep=True`` the values are put in the student's process with ``S.keep`` first: ``kept`` maps each
    name to the handle of the very array object the leaf holds (read it back with ``.read()``).
    """

    def __init__(self, S: Student, spec: Any, make_param, ours: bool = True, keep: bool = False):
        self.S = S
        self._module = S.lib("course_lib.modules.Module")
        self._make_param = make_param
        self._keep = keep
        self.params: dict[str, tuple[Handle, str]] = {}
        self.values: dict[str, Any] = {}
        self.kept: dict[str, Handle] = {}
        self.leaves: list[Handle] = []
        self.root = self._build(spec, "", ours)

    def _container(self, children: list) -> Handle:
        """A course_lib-Sequential-like container: Module.named_parameters recurses into ``children()``."""
        named = self.S.keep([(str(i), child) for i, child in enumerate(children)])  # the children themselves
        container = self._module.call()
        container.set("children", named.get("copy"))  # children() -> [("0", child 0), ...]
        container.set("layers", list(children))
        return container

    def _build(self, item: Any, path: str, ours: bool) -> Handle:
        if isinstance(item, list) or (isinstance(item, tuple) and item[0] == "course_lib"):
            student_side = isinstance(item, list) and ours
            items = item if isinstance(item, list) else item[1]
            children = [self._build(child, f"{path}{i}.", ours) for i, child in enumerate(items)]
            return self.S.call("Sequential", *children) if student_side else self._container(children)
        leaf = self._module.call()
        self.leaves.append(leaf)
        if isinstance(item, tuple) and item[0] == "linear":
            d_in, d_out = item[1], item[2]
            names = ("W",) if len(item) > 3 and item[3] == "no bias" else ("W", "b")
            leaf.set("param_names", names)
            leaf.set("d_in", d_in)
            leaf.set("d_out", d_out)
            for p, shape in (("W", (d_in, d_out)), ("b", (d_out,))):
                value, grad = self._make_param(shape)
                held = self.S.keep(value) if self._keep else value
                leaf.set(p, held)
                leaf.set("grad_" + p, grad)
                if p in names:
                    self.params[path + p] = (leaf, p)
                    self.values[path + p] = (value, grad)
                    if self._keep:
                        self.kept[path + p] = held
        return leaf


def named_parameters(points: float) -> Cases:
    """collect_named_parameters gives dotted names ("2.1.b") and the modules' own arrays in nested containers.

    Accepts: a list or tuple of pairs (tuples or 2-item lists), a generator or any other iterable of such
    pairs, with exactly the expected names in depth-first order and each module's own array (not a copy).

    ``cases.add(label, net=spec, expected=[names], prefix="")`` with ``spec`` as in :class:`_Tree`
    (a top-level list is the student's Sequential: ``collect_named_parameters(net, prefix)`` is called;
    ``("course_lib", [...])`` on top: ``net.named_parameters(prefix)`` is called).
    """
    S = student()

    def make_param(shape):
        return S.lib("numpy.empty").call(shape, dtype="O"), S.lib("numpy.empty").call(shape, dtype="O")

    def check(label: str, net: Any, expected: list, prefix: str = "") -> None:
        tree = _Tree(S, net, make_param)
        if isinstance(net, list):
            got = S.call("collect_named_parameters", tree.root, prefix)
        else:
            got = tree.root.method("named_parameters", prefix)
        if isinstance(got, Handle):  # a generator or another iterable: read it as a list
            try:
                got = S.lib("operator.iconcat").call([], got)
            except StudentError as exc:
                if exc.type_name == "NotImplementedError":
                    raise
                raise AssertionError(f"named_parameters: expected a list of (name, array) pairs, got a "
                                     f"{got.type_name} object that is not iterable") from None
        assert_true(isinstance(got, (list, tuple)),
                    f"named_parameters: expected a list of (name, array) pairs, got {_kind(got)}.")
        for i, pair in enumerate(got):
            assert_true(isinstance(pair, (tuple, list)) and len(pair) == 2,
                        f"named_parameters: item {i} is {_kind(pair)}, expected a (name, array) pair.")
            assert_true(isinstance(pair[0], str),
                        f"named_parameters: the name of item {i} is {_kind(pair[0])}, expected a str such as '0.W'.")
        names = to_names([pair[0] for pair in got], "named_parameters names")
        want = [prefix + name for name in expected]
        hint = ""
        if len(names) == len(want) and names != want and all(w.endswith(n) for n, w in zip(names, want)):
            hint = " Hint: the prefix of the outer container(s) is lost: pass prefix + str(i) + '.' down to child i."
        assert_true(names == want, f"named_parameters names: expected {want}, got {names}.{hint}")
        for name, (_, array) in zip(names, got):
            own = tree.values[name[len(prefix):]][0]
            assert_true(isinstance(array, Handle) and array.id == own.id,
                        f"named_parameters[{name!r}]: expected the module's own array (not a copy),"
                        " so that SGD updates the model")

    return Cases("named_parameters", points, check)


# ------------------------------------------------------------------ exercise 5: SGD
def sgd(points: float) -> Cases:
    """SGD.step updates every parameter of a model in place: p <- p - lr * grad_p.

    Accepts: any in-place update of the model's own arrays (``p -= ...``, ``p[...] = ...``,
    ``np.subtract(p, ..., out=p)``), going through parameters()/gradients() or named_parameters() /
    named_gradients(), within 1e-7 of ``p - lr * grad``.

    ``cases.add(label, model=spec, lr=lr)``: the model is a course_lib-like tree (spec as in :class:`_Tree`,
    lists are containers) with random parameters and gradients.
    """
    S = student()

    def check(label: str, model: list, lr: float) -> None:
        gen = rng(label)

        def make_param(shape):
            return gen.standard_normal(shape) / np.sqrt(shape[0]), random_array(gen, shape)

        # the parameter arrays are kept in the student's process: kept[name].read() shows whether step()
        # changed the very array the model held (in place) or replaced it
        tree = _Tree(S, model, make_param, ours=False, keep=True)
        S.call("SGD", tree.root, lr).method("step")
        for name, (leaf, p) in tree.params.items():
            before, grad = tree.values[name]
            now = leaf.get(p)
            grad_now = to_float64(leaf.get("grad_" + p), f"grad_{p} of parameter {name} after SGD.step()")
            if grad_now.shape == grad.shape and not any_true(grad_now):
                unchanged = ("the gradients were set to zero before the update (zero_grad() inside step(), before "
                             "the loop?): step() must use the gradients that backward left")
            else:
                unchanged = ("the parameter did not change: update the model's array in place (p -= lr * g); "
                             "p = p - lr * g would only rebind the loop variable")
            assert_close(f"parameter {name} after SGD.step()", now, before - lr * grad,
                         candidates={unchanged: before, "the step went uphill: subtract lr * grad": before + lr * grad})
            original = to_float64(tree.kept[name].read(), f"parameter {name}")
            assert_true(array_equal(original, to_float64(now, name)),
                        f"parameter {name} after SGD.step(): the model's array was replaced by a new one; update it in place")

    return Cases("SGD", points, check)


# ------------------------------------------------------------------ exercise 6 (derivation): LayerNorm
def _ref_layer_norm(X: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """Y = gamma * (X - mean) / sqrt(var + eps) + beta, mean and (biased) var over the features of each row."""
    mu = X.mean(axis=1, keepdims=True)
    var = ((X - mu) ** 2).mean(axis=1, keepdims=True)
    return gamma * (X - mu) / np.sqrt(var + eps) + beta


def layer_norm(points: float) -> Cases:
    """LayerNorm.forward normalises each row over its features; LayerNorm.backward adds grad_gamma, grad_beta
    and returns grad_input, all against central differences of a numpy reference.

    Accepts: any forward returning ``gamma * (X - mean) / sqrt(var + eps) + beta`` (mean and biased variance
    over axis 1) for the latest input, array or nested list (float32 at float32's precision), and any backward
    that adds the parameter gradients to the existing ``grad_gamma`` / ``grad_beta`` (in place or by
    re-assigning them) and returns ``dL/dX``, whatever it caches.

    Case params: ``batch``, ``d`` (features, >= 3), ``eps`` (passed to the constructor), ``scale`` (the inputs'
    spread; their mean is drawn too, so a missing mean subtraction shows).
    """
    S = student()

    def check(label: str, batch: int, d: int, eps: float = 1e-5, scale: float = 1.0) -> None:
        gen = rng(label)
        B = batch
        gamma, beta = gen.uniform(0.5, 2.0, size=d) * gen.choice([-1.0, 1.0], size=d), gen.normal(0.0, 1.0, size=d)
        grad_gamma0, grad_beta0 = gen.normal(0.0, 1.0, size=d), gen.normal(0.0, 1.0, size=d)
        X0 = gen.normal(0.0, scale, size=(B, d))  # an earlier batch: backward must use the latest one
        X = gen.normal(0.0, scale, size=(B, d)) + gen.normal(0.0, 2.0 * scale, size=(B, 1))
        G = gen.normal(0.0, 1.0, size=(B, d))
        module = S.call("LayerNorm", d, eps)
        for name, value in (("gamma", gamma), ("beta", beta), ("grad_gamma", grad_gamma0), ("grad_beta", grad_beta0)):
            module.set(name, value.copy())

        def forward(V: np.ndarray) -> np.ndarray:
            return _ref_layer_norm(V, gamma, beta, eps)

        first = module.method("forward", X0.copy())
        eps32 = low_precision(first)
        rtol = DEFAULT_RTOL if eps32 is None else max(DEFAULT_RTOL, LOW_PRECISION_EPS * eps32)
        def forward_bugs(V: np.ndarray) -> dict:
            m = V.mean(axis=1, keepdims=True)
            v = ((V - m) ** 2).mean(axis=1, keepdims=True)
            return {
                "normalised over the batch axis (axis=0) instead of over the features of each row (axis=1)":
                    gamma * (V - V.mean(axis=0)) / np.sqrt(V.var(axis=0) + eps) + beta,
                "eps is missing from the square root: sqrt(var + eps)": gamma * (V - m) / np.sqrt(v) + beta,
                "eps was added to the standard deviation, not to the variance: sqrt(var + eps)":
                    gamma * (V - m) / (np.sqrt(v) + eps) + beta,
                "gamma and beta are missing: the output is only (X - mean) / sqrt(var + eps)": (V - m) / np.sqrt(v + eps),
            }

        assert_close("LayerNorm.forward output (first call)", first, forward(X0), rtol=rtol, batch_size=B,
                     candidates=forward_bugs(X0))
        mu = X.mean(axis=1, keepdims=True)
        sd = np.sqrt(((X - mu) ** 2).mean(axis=1, keepdims=True) + eps)
        X_hat = (X - mu) / sd
        assert_close("LayerNorm.forward output", module.method("forward", X.copy()), forward(X), rtol=rtol, batch_size=B,
                     candidates=forward_bugs(X))
        grad_input = module.method("backward", G.copy())
        threshold = DEFAULT_GRAD_THRESHOLD if eps32 is None else max(DEFAULT_GRAD_THRESHOLD, LOW_PRECISION_EPS * eps32)
        Gx = G * gamma  # dL/dX_hat
        mean_g = Gx.mean(axis=1, keepdims=True)
        mean_gx = (Gx * X_hat).mean(axis=1, keepdims=True)
        assert_gradient("LayerNorm.backward grad_input", grad_input, numeric_vjp(forward, X, G), threshold=threshold,
                        batch_size=B, candidates={
                            "the variance was treated as a constant: the term -X_hat * mean(dL/dX_hat * X_hat) of each "
                            "row is missing": (Gx - mean_g) / sd,
                            "the mean was treated as a constant: the term -mean(dL/dX_hat) of each row is missing":
                                (Gx - X_hat * mean_gx) / sd,
                            "only the direct path gamma * grad_output / std: the mean and the variance also depend on "
                            "every input of the row": Gx / sd,
                            "gamma is missing from grad_input: dL/dX_hat = grad_output * gamma":
                                (G - G.mean(axis=1, keepdims=True) - X_hat * (G * X_hat).mean(axis=1, keepdims=True)) / sd,
                            "multiplied by the standard deviation instead of divided by it":
                                (Gx - mean_g - X_hat * mean_gx) * sd,
                        })
        for p, start, value in (("gamma", grad_gamma0, gamma), ("beta", grad_beta0, beta)):
            numeric = param_vjp(value, lambda: forward(X), G)
            got = to_float64(module.get("grad_" + p), f"LayerNorm grad_{p}")
            assert_true(got.shape == (d,), f"LayerNorm grad_{p}: expected shape {(d,)}, got shape {got.shape}."
                        + (" Hint: one row per example: sum over the batch axis (axis=0)." if got.shape == (B, d) else ""))
            candidates = {f"grad_{p} is overwritten (=) instead of accumulated (+=)": numeric - start}
            if p == "gamma":
                candidates["grad_gamma sums grad_output * X; it must be grad_output * X_hat, the normalised input"] = \
                    (G * X).sum(axis=0)
            assert_gradient(f"LayerNorm grad_{p} (what backward added to it)", got - start, numeric, threshold=threshold,
                            batch_size=B, candidates=candidates)

    return Cases("LayerNorm", points, check)
