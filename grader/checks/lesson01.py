"""Checks of lesson 01 (backpropagation on scalars), one factory per grade cell.

What the checks accept:

* ``chain_forward(x, ws, phi)`` returns ``(zs, acts)``: two sequences of numbers
  (lists, tuples or 1-d arrays) of lengths ``L`` and ``L + 1``; ``phi`` is
  course_lib's sigmoid or tanh (passed as a handle).  ``chain_backward(ws, zs,
  acts, y, phi_prime)`` returns ``L`` numbers; it gets the reference ``zs`` and
  ``acts``, so the two functions are graded separately.
* ``worked_gradients(X, W, V, T)`` returns a pair ``(grad_W, grad_V)`` of
  ``(2, 2)`` arrays (or nested lists).
* ``Node``: ``Node(value)`` makes a leaf; ``x + y``, ``x * y``, ``x.sigmoid()``,
  ``x.square()`` build nodes whose ``_backward()`` adds (local derivative) *
  ``out.grad`` into the inputs' ``grad`` (numbers).
* ``node_truediv`` (the derivation exercise): ``x / y`` on two ``Node`` (or a ``Node`` and a number) builds
  a node whose ``_backward`` adds ``out.grad / y`` to ``x.grad`` and ``-x / y**2 * out.grad`` to ``y.grad``.
* ``topological_order(root)`` returns a list (or tuple) of every node root depends on, once each;
  ``node_backward(root)`` sets ``root.grad = 1`` and calls every node's
  ``_backward()`` once, in reverse topological order.

``node_backward`` is graded independently of the student's local rules: the
graphs are built with the student's ``Node`` constructor (and, for the long
chain, its given forward ``*``), then every node's ``_backward`` is replaced by
a *recorder* that only notes when it was called (a ``course_lib.optim.SGD``
step over a ``course_lib.modules.Module`` whose "parameters" are a shared clock
and the node's own time stamp, all Python ints in object arrays).  The check
replays the recorded calls with correct local rules on its own side, which
gives exactly the gradients the student's traversal would produce with
correct rules.
"""
from __future__ import annotations

import math

import numpy as np

from course_lib.data import WORKED_T, WORKED_V, WORKED_W, WORKED_X
from course_lib.functional import sigmoid as _sigmoid
from course_lib.functional import sigmoid_prime as _sigmoid_prime
from course_lib.functional import tanh as _tanh
from course_lib.functional import tanh_prime as _tanh_prime
from grader.protocol import Handle, StudentError

from . import (
    Cases,
    Student,
    assert_close,
    assert_gradient,
    assert_shape,
    assert_true,
    numeric_vjp,
    random_array,
    rng,
    student,
    to_float,
    to_float64,
)

__all__ = ["chain", "node_backward", "node_div", "node_ops", "worked_gradients"]

_ACTS = {"sigmoid": (_sigmoid, _sigmoid_prime), "tanh": (_tanh, _tanh_prime)}
_ACT_PATHS = {"sigmoid": ("course_lib.functional.sigmoid", "course_lib.functional.sigmoid_prime"),
              "tanh": ("course_lib.functional.tanh", "course_lib.functional.tanh_prime")}


def _pair(result: object, what: str) -> tuple:
    """A student's result that must be a pair ``(a, b)``."""
    if isinstance(result, Handle) or not isinstance(result, (tuple, list)) or len(result) != 2:
        kind = result.type_name if isinstance(result, Handle) else type(result).__name__
        raise AssertionError(f"{what}: expected a pair (tuple of 2), got {kind}"
                             + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""))
    return result[0], result[1]


# ------------------------------------------------------------------ Exercise 1: the chain
def _chain_ref(x: float, ws, phi) -> tuple[list, list]:
    z_ref, a_ref = [], [float(x)]
    for weight in ws:
        z_ref.append(float(weight) * a_ref[-1])
        a_ref.append(float(phi(z_ref[-1])))
    return z_ref, a_ref


def _chain_grads_ref(ws, zs, acts, y: float, dphi, at_output: bool = False) -> list:
    """The delta recursion; ``at_output=True`` reproduces the bug phi'(a_l) instead of phi'(z_l)."""
    L, out, g = len(ws), [0.0] * len(ws), acts[-1] - y
    for layer in range(L, 0, -1):
        d = g * float(dphi(acts[layer] if at_output else zs[layer - 1]))
        out[layer - 1], g = d * acts[layer - 1], d * float(ws[layer - 1])
    return out


def chain(points: float) -> Cases:
    """chain_forward / chain_backward: forward values to 1e-10, weight gradients against central differences.

    Params of a case: ``depth`` (L >= 1) and ``act`` ("sigmoid" or "tanh").

    Accepts: ``(zs, acts)`` as a tuple or list of two sequences (lists, tuples, 1-d arrays) of numbers in any
    float dtype (float32 judged at its own precision); ``grad_ws`` as any sequence of L numbers.
    """
    S = student()

    def check(label: str, depth: int, act: str) -> None:
        gen = rng(label)
        phi, dphi = _ACTS[act]
        ws = random_array(gen, (depth,), -2.0, 2.0, min_abs=0.2)
        x = float(random_array(gen, (1,), -2.0, 2.0, min_abs=0.2)[0])
        y = float(gen.uniform(-0.9, 0.9))
        zs_ref, acts_ref = _chain_ref(x, ws, phi)
        phi_h, dphi_h = (S.lib(path) for path in _ACT_PATHS[act])
        zs, acts = _pair(S.call("chain_forward", x, [float(w) for w in ws], phi_h), "chain_forward")
        assert_close(f"zs (depth {depth}, {act})", zs, zs_ref, rtol=1e-10)
        assert_close(f"acts (depth {depth}, {act})", acts, acts_ref, rtol=1e-10)
        grad_ws = S.call("chain_backward", [float(w) for w in ws], list(zs_ref), list(acts_ref), y, dphi_h)
        numeric = numeric_vjp(lambda w: np.array(0.5 * (_chain_ref(x, w, phi)[1][-1] - y) ** 2),
                              ws.copy(), np.array(1.0))
        hints = {"derivative taken at the output a_l instead of the input z_l":
                 _chain_grads_ref(ws, zs_ref, acts_ref, y, dphi, at_output=True)}
        assert_gradient(f"grad_ws (depth {depth}, {act})", grad_ws, numeric, candidates=hints)

    return Cases("chain_forward / chain_backward", points, check)


# ------------------------------------------------------------------ Exercise 2: the worked 2-2-2 network
#: The gradients Schiendorfer's write-up printed for its example.
_SEED_GRAD_W = np.array([[-5.34381483665323e-08, 0.0014201436720081408],
                         [-1.7812716122177433e-08, 0.0004733812240027136]])
_SEED_GRAD_V = np.array([[-0.10518769048825163, 0.02654904571226164],
                         [-0.0018919280994576303, 0.0004775167642113309]])


def _sse(X: np.ndarray, W: np.ndarray, V: np.ndarray, T: np.ndarray) -> np.ndarray:
    return np.array(np.sum((_sigmoid(_sigmoid(X @ W) @ V) - T) ** 2))


def worked_gradients(points: float) -> Cases:
    """worked_gradients: Schiendorfer's printed gradients (1e-8, column by column) and central differences.

    Params of a case: ``kind="printed"`` (the worked example against its printout), or ``B`` (batch size)
    with ``worked=True`` for the worked example's own inputs instead of a random draw.

    Accepts: ``(grad_W, grad_V)`` as a tuple or list of two (2, 2) arrays or nested lists, computed any way
    (loops, einsum, sigmoid' from the pre-activation or from the output) to 1e-8 on the printed example.
    """
    S = student()

    def check_printed() -> None:
        grad_W, grad_V = _pair(S.call("worked_gradients", WORKED_X.copy(), WORKED_W.copy(), WORKED_V.copy(),
                                      WORKED_T.copy()), "worked_gradients")
        # column by column, so the 1e-8 entries of hidden unit 1 are not hidden by the 1e-3 ones
        gW = to_float64(grad_W, "grad_W (worked example)")
        gV = to_float64(grad_V, "grad_V (worked example)")
        for name, got, seed in (("grad_W", gW, _SEED_GRAD_W), ("grad_V", gV, _SEED_GRAD_V)):
            assert_true(got.shape == seed.shape, f"{name} (worked example): expected shape {seed.shape}, got shape {got.shape}.")
            for j in range(2):
                assert_close(f"{name}[:, {j}] (worked example)", got[:, j], seed[:, j], rtol=1e-8)

    def check(label: str, kind: str = "random", B: int = 1, worked: bool = False) -> None:
        if kind == "printed":
            return check_printed()
        gen = rng(label)
        if worked:
            X, W, V, T = WORKED_X.copy(), WORKED_W.copy(), WORKED_V.copy(), WORKED_T.copy()
        else:
            X = random_array(gen, (B, 2), -3.0, 3.0)
            W = random_array(gen, (2, 2), -2.0, 2.0, min_abs=0.1)
            V = random_array(gen, (2, 2), -2.0, 2.0, min_abs=0.1)
            T = gen.uniform(0.0, 1.0, size=(B, 2))
        B = X.shape[0]
        grad_W, grad_V = _pair(S.call("worked_gradients", X.copy(), W.copy(), V.copy(), T.copy()), "worked_gradients")
        num_W = numeric_vjp(lambda w: _sse(X, w, V, T), W.copy(), np.array(1.0))
        num_V = numeric_vjp(lambda v: _sse(X, W, v, T), V.copy(), np.array(1.0))
        grad_W = assert_shape(f"grad_W (B = {B})", grad_W, (2, 2), B)
        grad_V = assert_shape(f"grad_V (B = {B})", grad_V, (2, 2), B)
        assert_gradient(f"grad_W (B = {B})", grad_W, num_W, batch_size=B)
        assert_gradient(f"grad_V (B = {B})", grad_V, num_V, batch_size=B)

    return Cases("worked_gradients", points, check)


# ------------------------------------------------------------------ Exercise 3: local rules of Node
def _s(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _ops(S: Student) -> list:
    """name, build(x, y) in the student's process, the same on floats, {hint: what a classic bug adds to [x.grad, y.grad]}."""
    add, mul = S.lib("operator.add"), S.lib("operator.mul")
    return [
        ("add (x + y)", lambda x, y: add.call(x, y), lambda x, y: x + y, lambda x, y, g: {}),
        ("mul (x * y)", lambda x, y: mul.call(x, y), lambda x, y: x * y, lambda x, y, g: {
            "the local derivatives of x * y are swapped: d(xy)/dx = y, d(xy)/dy = x": [x * g, y * g]}),
        ("sigmoid (x.sigmoid())", lambda x, y: x.method("sigmoid"), lambda x, y: _s(x), lambda x, y, g: {
            "s (1 - s) must use the output s = sigmoid(x), not the input x": [x * (1 - x) * g, 0.0],
            "the derivative of the sigmoid is s (1 - s), not s": [_s(x) * g, 0.0]}),
        ("square (x.square())", lambda x, y: x.method("square"), lambda x, y: x * x, lambda x, y, g: {}),
        ("reuse (x + x)", lambda x, y: add.call(x, x), lambda x, y: x + x, lambda x, y, g: {
            "x + x: x is both self and other, so x.grad must receive out.grad twice (+=, not =)": [g, 0.0]}),
        ("reuse (x * x)", lambda x, y: mul.call(x, x), lambda x, y: x * x, lambda x, y, g: {
            "x * x: x is both self and other, so x.grad must receive x * out.grad twice (+=, not =)": [x * g, 0.0]}),
    ]


def _node(result: object, what: str) -> Handle:
    if not isinstance(result, Handle):
        raise AssertionError(f"{what}: expected a Node, got {type(result).__name__}")  # noqa: TRY004 - a failed case
    return result


def node_ops(points: float) -> Cases:
    """Node's local backward rules (+, *, sigmoid, square, x + x, x * x) against central differences.

    Each case draws new values for every operation; the inputs already hold a gradient, so
    ``_backward`` must add to it. No params.

    Accepts: any ``Node`` class whose constructor returns a node with numeric ``data`` and ``grad`` and whose
    operations' ``_backward`` add (local derivative) * ``out.grad`` to the inputs' ``grad``, however written
    (``+=`` or ``a = a + b``, derivatives from the input or from the output, shared helpers, extra attributes).
    """
    S = student()

    def check(label: str) -> None:
        gen = rng(label)
        for name, build, f, bug_values in _ops(S):
            xv, yv = (float(v) for v in random_array(gen, (2,), -2.0, 2.0, min_abs=0.2))
            gx, gy, g_out = (float(v) for v in random_array(gen, (3,), -2.0, 2.0, min_abs=0.2))  # earlier grads, upstream grad
            X, Y = _node(S.call("Node", xv), "Node(x)"), _node(S.call("Node", yv), "Node(y)")
            X.set("grad", gx)
            Y.set("grad", gy)
            out = _node(build(X, Y), f"{name}: out")
            assert_close(f"{name}: out.data", out.get("data"), f(xv, yv), rtol=1e-12)
            out.set("grad", g_out)
            out.method("_backward")
            numeric = numeric_vjp(lambda p, f=f: np.array(f(p[0], p[1])), np.array([xv, yv]), np.array(g_out))
            got = np.array([to_float(X.get("grad"), f"{name}: x.grad") - gx,    # what _backward added to each input
                            to_float(Y.get("grad"), f"{name}: y.grad") - gy])
            hints = {"the gradient was overwritten (=) instead of accumulated (+=)": numeric - np.array([gx, gy]),
                     "the local derivative is missing the factor out.grad": numeric / g_out}
            hints.update(bug_values(xv, yv, g_out))
            assert_gradient(f"{name}: what _backward added to [x.grad, y.grad]", got, numeric, candidates=hints)

    return Cases("Node local backward rules", points, check)


# ------------------------------------------------------------------ Exercise 4: division, derived
_DIV_CASES = ("x / y", "x / x", "x / number")


def node_div(points: float) -> Cases:
    """node_truediv: the backward rule of ``x / y`` derived by the student, against central differences.

    Each case draws new values (``|y|`` between 0.5 and 2, so the quotient stays moderate) for ``x / y`` on
    two nodes, ``x / x`` (one node on both sides: the two contributions must add up to 0) and ``x / c`` with a
    plain number ``c``; the inputs already hold a gradient, so ``_backward`` must add to it. No params.

    Accepts: any ``node_truediv`` installed as ``Node.__truediv__`` whose node has ``data = x / y`` and whose
    ``_backward`` adds ``out.grad / y`` and ``-x / y**2 * out.grad`` into the inputs' ``grad``, written in any
    form (``-out.data / y``, ``x * (-1 / y**2)``, ``+=`` or ``a = a - b``, a wrapped number as a ``Node``).
    """
    S = student()

    def check(label: str) -> None:
        assert_true(S.has("node_truediv"), "node_truediv is not defined: run its cell")
        gen = rng(label)
        div = S.lib("operator.truediv")
        for name in _DIV_CASES:
            xv = float(random_array(gen, (1,), -2.0, 2.0, min_abs=0.3)[0])
            yv = float(random_array(gen, (1,), -2.0, 2.0, min_abs=0.5)[0])
            gx, gy, g = (float(v) for v in random_array(gen, (3,), -2.0, 2.0, min_abs=0.2))
            X = _node(S.call("Node", xv), "Node(x)")
            X.set("grad", gx)
            if name == "x / y":
                Y = _node(S.call("Node", yv), "Node(y)")
                Y.set("grad", gy)
                out = _node(div.call(X, Y), f"{name}: out")
                value = xv / yv
                numeric = numeric_vjp(lambda p: np.array(p[0] / p[1]), np.array([xv, yv]), np.array(g))
            elif name == "x / x":
                out = _node(div.call(X, X), f"{name}: out")
                value = 1.0
            else:
                out = _node(div.call(X, yv), f"{name}: out")
                value = xv / yv
                numeric = numeric_vjp(lambda p, c=yv: np.array(p[0] / c), np.array([xv]), np.array(g))
            assert_close(f"{name}: out.data", out.get("data"), value, rtol=1e-12)
            out.set("grad", g)
            out.method("_backward")
            added_x = to_float(X.get("grad"), f"{name}: x.grad") - gx
            if name == "x / y":
                got = np.array([added_x, to_float(Y.get("grad"), f"{name}: y.grad") - gy])
                hints = {"d(x/y)/dy = -x / y**2: the minus sign is missing": numeric * [1, -1],
                         "d(x/y)/dy = -x / y**2, not -x / y (the square of y is missing)": [g / yv, -xv / yv * g],
                         "the gradient was overwritten (=) instead of accumulated (+=)": numeric - [gx, gy],
                         "x.grad was overwritten (=) instead of accumulated (+=)": numeric - [gx, 0.0],
                         "y.grad was overwritten (=) instead of accumulated (+=)": numeric - [0.0, gy],
                         "the local derivative is missing the factor out.grad": numeric / g}
                what = f"{name}: what _backward added to [x.grad, y.grad]"
            elif name == "x / x":
                one = g / xv                                  # each of the two contributions, up to sign
                if abs(added_x) > 1e-6 * (abs(one) + abs(gx)):
                    overwrite = "x is both self and other, so both lines must add to x.grad (+=, not =)"
                    lost = [(one, "the second contribution (-x / x**2 * out.grad) is missing"),
                            (-one, "the first contribution (out.grad / x) is missing"),
                            (-one - gx, f"the second line overwrote x.grad: {overwrite}"),
                            (-gx, f"the first line overwrote the gradient x already held: {overwrite}")]
                    fits = [text for v, text in lost if abs(added_x - v) <= 1e-6 * (abs(one) + abs(gx))]
                    hint = f" Hint: {fits[0]}; the two contributions cancel." if fits else ""
                    raise AssertionError(f"{name}: _backward added {added_x:.6g} to x.grad, expected 0 "
                                         f"(x / x = 1 does not depend on x).{hint}")
                continue
            else:
                got = np.array([added_x])
                hints = {"the gradient was overwritten (=) instead of accumulated (+=)": numeric - gx,
                         "the local derivative is missing the factor out.grad": numeric / g}
                what = f"{name}: what _backward added to x.grad"
            assert_gradient(what, got, numeric, candidates=hints)

    return Cases("node_truediv (x / y)", points, check)


# ------------------------------------------------------------------ Exercise 5: the backward pass
_ORDER_HINT = ("a node passed its gradient on before it was complete (its consumers had not all run yet): "
               "call _backward in reverse topological order, the root first")
_PATHS_HINT = ("d root/d a counts every path through a node again: each node must pass its gradient on exactly once, "
               "after all its consumers (reverse topological order, not a recursion per edge)")
#: Time stamps of the recorders: the clock starts here and counts calls, so a stamp sum gives count and times.
_BIG = 2 ** 40


def _sigmoid_float(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


_FLOAT = {"+": lambda a, b: a + b, "*": lambda a, b: a * b,
          "sigmoid": lambda a, b: _sigmoid_float(a), "square": lambda a, b: a * a}


def _local(op: str, a: float, b: float) -> tuple:
    """Local derivatives of ``op`` with respect to its inputs (a, b) or (a,)."""
    if op == "+":
        return (1.0, 1.0)
    if op == "*":
        return (b, a)
    if op == "sigmoid":
        s = _sigmoid_float(a)
        return (s * (1 - s),)
    return (2 * a,)  # square


class _Graph:
    """A graph on the check's side: per node its inputs and local derivatives (index lists)."""

    def __init__(self):
        self.children: list[list[int]] = []
        self.local: list[list[float]] = []

    def add(self, children=(), local=()) -> int:
        self.children.append(list(children))
        self.local.append(list(local))
        return len(self.children) - 1

    def ref_order(self, root: int) -> list[int]:
        """The check's own iterative topological sort (used for hints)."""
        result, seen, todo = [], set(), [(root, False)]
        while todo:
            item, finished = todo.pop()
            if finished:
                result.append(item)
            elif item not in seen:
                seen.add(item)
                todo.append((item, True))
                todo.extend((c, False) for c in self.children[item] if c not in seen)
        return result

    def replay(self, root: int, root_grad: float, calls: list[int]) -> list[float]:
        """Gradients after ``root.grad = root_grad`` and correct ``_backward`` calls of ``calls``, in that order."""
        grads = [0.0] * len(self.children)
        grads[root] = root_grad
        for k in calls:
            for c, d in zip(self.children[k], self.local[k]):
                grads[c] += d * grads[k]
        return grads


class _Recorders:
    """Replace the ``_backward`` of many student nodes by call recorders, in a few requests.

    Node k's recorder is ``SGD(M_k, lr=1).step`` where ``M_k`` is a bare course_lib ``Module``
    with ``param_names = ("c", "t")``: ``c`` is a clock shared by all recorders (gradient -1,
    so each call adds 1 to it first) and ``t`` the node's own stamp (gradient: the clock, so each
    call subtracts the clock's new value).  All are Python ints in object arrays, exact.
    """

    def __init__(self, S: Student, nodes: Handle, n: int):
        self.n = n
        ufunc = S.lib("numpy.frompyfunc")
        module = S.lib("course_lib.modules.Module")
        setattr3 = ufunc.call(module.get("__setattr__"), 3, 1)      # object.__setattr__(obj, name, value)
        make = S.lib("numpy.array")
        clock, minus_one = make.call([_BIG], "O"), make.call([-1], "O")
        mods = ufunc.call(module.get("__new__"), 1, 1).call(S.lib("numpy.full").call(n, module, "O"))
        for name, value in (("param_names", ("c", "t")), ("c", clock), ("grad_c", minus_one), ("grad_t", clock)):
            ufunc.call(S.lib("operator.methodcaller").call("__setattr__", name, value), 1, 1).call(mods)
        self.stamps = ufunc.call(S.lib("numpy.zeros"), 2, 1).call(np.ones(n, dtype=np.int64), "O")
        setattr3.call(mods, "t", self.stamps)
        sgds = ufunc.call(S.lib("course_lib.optim.SGD"), 2, 1).call(mods, 1.0)
        steps = ufunc.call(S.lib("operator.attrgetter").call("step"), 1, 1).call(sgds)
        setattr3.call(nodes, "_backward", steps)
        self._first = ufunc.call(S.lib("operator.itemgetter").call(0), 1, 1)

    def calls(self) -> tuple[list[int], list[int]]:
        """``(order, counts)``: the nodes called exactly once, by time; how often each node was called."""
        stamps = self._first.call(self.stamps).method("astype", "i8")
        stamps = -np.asarray(stamps, dtype=np.int64).reshape(-1)
        counts = [int(v) // _BIG for v in stamps]
        times = [int(v) % _BIG for v in stamps]
        once = sorted((t, k) for k, (t, c) in enumerate(zip(times, counts)) if c == 1)
        return [k for _, k in once], counts


def _node_array(S: Student, handles: list) -> Handle:
    arr = S.lib("numpy.empty").call(len(handles), "O")
    S.lib("numpy.copyto").call(arr, S.lib("numpy.array").call(handles, "O"))
    return arr


#: The smallest gradient norm a random graph case may have: central differences (h ~ 1e-5 on inputs of order 1)
#: measure it to about 1e-10, well inside the 1e-6 threshold.
_MEASURABLE = 1e-3


def node_backward(points: float) -> Cases:
    """topological_order / node_backward on graphs whose nodes get correct local rules (recorded, replayed here).

    Params of a case: ``reuse=k`` (a doubled k times by x + x: d root/d a = 2^k),
    ``inputs=m, ops=n`` (a random DAG with reuse, against central differences, and the order
    topological_order lists), or ``chain=n`` (n multiplications in a row: no RecursionError).

    Accepts: ``topological_order`` returning a list or tuple of every node the root depends on, once each,
    inputs before the nodes that use them (any valid order: DFS postorder, Kahn's algorithm, ...);
    ``node_backward`` setting ``root.grad = 1`` and calling each node's ``_backward`` once, each node after
    every node that uses it, with or without ``topological_order`` (leaves may be skipped).
    """
    S = student()

    def run_backward(root: Handle, what: str) -> float:
        try:
            S.call("node_backward", root)
        except StudentError as exc:
            if exc.type_name == "RecursionError":
                raise AssertionError(f"{what}: RecursionError. Hint: a recursive topological sort goes deeper than "
                                     "Python's recursion limit; use an explicit stack (a list).") from None
            raise
        root_grad = to_float(root.get("grad"), "root.grad")
        assert_true(root_grad == 1.0, f"{what}: root.grad is {root_grad!r} after node_backward, expected 1 "
                    "(d root/d root; set it before calling the _backward functions)")
        return root_grad

    def recorded(graph: _Graph, rec: _Recorders, what: str) -> tuple[list[int], str]:
        """The nodes called once, in call order, and a message if some node with inputs was never called."""
        order, counts = rec.calls()
        again = [k for k, c in enumerate(counts) if c > 1 and graph.children[k]]
        if again:
            raise AssertionError(f"{what}: node_backward called the _backward of {len(again)} node(s) more than once "
                                 f"(up to {max(counts[k] for k in again)} times). Hint: {_PATHS_HINT}.")
        inner = [k for k in sorted(graph.ref_order(len(graph.children) - 1)) if graph.children[k]]  # the root is last
        never = [k for k in inner if counts[k] == 0]
        missed = (f"node_backward never called the _backward of {len(never)} of the {len(inner)} nodes that have "
                  "inputs, so their gradient never reached their inputs." if never else "")
        return order, missed

    def explained(missed: str, compare) -> None:
        """Run a comparison; when it fails and nodes were never called, say so instead of guessing a cause."""
        try:
            compare()
        except AssertionError as exc:
            if not missed:
                raise
            raise AssertionError(f"{str(exc).split(' Hint: ')[0].rstrip()} {missed}") from None

    def check_listing(listed: object, handles: list, graph: _Graph, datas: list, ops: list) -> None:
        """``topological_order(root)``: a list or tuple of every node of the graph, once, inputs first."""
        assert_true(isinstance(listed, (list, tuple)), f"topological_order: expected a list of nodes, got "
                    f"{listed.type_name if isinstance(listed, Handle) else type(listed).__name__}")
        index = {h.id: k for k, h in enumerate(handles)}
        assert_true(all(isinstance(item, Handle) and item.id in index for item in listed),
                    "topological_order: lists something that is not a node of the graph")
        position = {index[item.id]: k for k, item in enumerate(listed)}
        assert_true(len(position) == len(listed), f"topological_order lists a node more than once "
                    f"({len(listed)} entries, {len(position)} different nodes)")
        needed = set(graph.ref_order(len(handles) - 1))   # every node the root depends on (the last is the root)
        assert_true(set(position) <= needed, "topological_order lists a node the root does not depend on")
        missing = sorted(needed - set(position))
        if missing:
            shown = ", ".join(f"{'a leaf' if not ops[k] else repr(ops[k]) + ' node'} with data {datas[k]:.6g}"
                              for k in missing[:4])
            count = f"{len(listed)} node{'s' * (len(listed) != 1)}"
            raise AssertionError(f"topological_order returned {count}, the graph has {len(needed)}: "
                                 f"{len(missing)} missing ({shown}{', ...' if len(missing) > 4 else ''})")
        assert_true(all(position[c] < position[n] for n in position for c in graph.children[n]),
                    "topological_order: a node comes before one of its inputs")

    def build(graph: _Graph, datas: list, op: list, children: list) -> list:
        handles = []
        for data, o, ch in zip(datas, op, children):
            handles.append(S.call("Node", data, tuple(handles[c] for c in ch), o) if ch else S.call("Node", data))
        return handles

    def check_reuse(levels: int) -> None:
        graph, datas, ops, children = _Graph(), [1.5], [""], [[]]
        graph.add()
        for k in range(levels):               # b = a + a; c = b + b; ...
            graph.add((k, k), (1.0, 1.0))
            datas.append(datas[-1] * 2)
            ops.append("+")
            children.append([k, k])
        handles = build(graph, datas, ops, children)
        rec = _Recorders(S, _node_array(S, handles), len(handles))
        what = f"d root/d a (root = a doubled {levels} times by x + x)"
        root_grad = run_backward(handles[-1], what)
        order, missed = recorded(graph, rec, what)
        grads = graph.replay(levels, root_grad, order)

        def compare() -> None:
            assert_true(grads[0] != 0, f"{what}: got 0, expected {2 ** levels:g}. Hint: {_ORDER_HINT}.")
            assert_close(what, grads[0], 2.0 ** levels, rtol=1e-12,
                         candidates={_PATHS_HINT: 2.0 ** (2 * levels - 1)})
        explained(missed, compare)

    def random_program(gen: np.random.Generator, n_inputs: int, n_ops: int) -> tuple:
        # a random expression DAG in which some node feeds several later nodes
        while True:
            values = [float(v) for v in random_array(gen, (n_inputs,), -1.5, 1.5, min_abs=0.2)]
            program, uses = [], [0] * n_inputs
            for _ in range(n_ops):
                op = ["+", "*", "sigmoid", "square"][gen.integers(4)]
                i = int(len(values) - 1 - min(gen.geometric(0.4) - 1, len(values) - 1))   # mostly recent nodes
                j = int(gen.integers(len(values)))
                if abs(_FLOAT[op](values[i], values[j])) > 20:
                    op = "sigmoid"
                program.append((op, i, j))
                values.append(_FLOAT[op](values[i], values[j]))
                uses[i] += 1
                uses[j] += op in ("+", "*")
                uses.append(0)
            if max(uses) >= 2:
                return values, program

    def run_program(inputs, program) -> float:
        values = list(inputs)
        for op, i, j in program:
            values.append(_FLOAT[op](values[i], values[j]))
        return values[-1]

    def graph_of(values: list, program: list, n_inputs: int) -> tuple:
        graph, ops, children = _Graph(), [""] * n_inputs, [[] for _ in range(n_inputs)]
        for _ in range(n_inputs):
            graph.add()
        for op, i, j in program:
            ch = [i, j] if op in ("+", "*") else [i]
            graph.add(ch, _local(op, values[i], values[j]))
            ops.append(op)
            children.append(ch)
        return graph, ops, children

    def check_random_graph(label: str, n_inputs: int, n_ops: int) -> None:
        gen = rng(label)
        # saturated sigmoids can leave a gradient of 1e-7, which central differences cannot measure to the
        # threshold's 1e-6: draw again until the exact gradient (the graph replayed in order) is measurable
        for _ in range(100):
            values, program = random_program(gen, n_inputs, n_ops)
            graph, ops, children = graph_of(values, program, n_inputs)
            root = len(children) - 1
            exact = graph.replay(root, 1.0, graph.ref_order(root)[::-1])[:n_inputs]
            if math.sqrt(sum(g * g for g in exact)) >= _MEASURABLE:
                break
        handles = build(graph, values, ops, children)
        rec = _Recorders(S, _node_array(S, handles), len(handles))
        what = f"d root/d inputs ({n_inputs} inputs, {n_ops} operations)"
        root = len(handles) - 1
        # the listing first: an incomplete or misordered topological_order is the cause to name
        check_listing(S.call("topological_order", handles[root]), handles, graph, values, ops)
        root_grad = run_backward(handles[root], what)
        order, missed = recorded(graph, rec, what)
        grads = graph.replay(root, root_grad, order)
        numeric = numeric_vjp(lambda p: np.array(run_program(list(p), program)),
                              np.array(values[:n_inputs], dtype=float), np.array(1.0))
        wrong = graph.replay(root, 1.0, graph.ref_order(root))      # the same graph, run in the wrong order
        explained(missed, lambda: assert_gradient(what, grads[:n_inputs], numeric,
                                                  candidates={_ORDER_HINT: wrong[:n_inputs]}))

    def check_long_chain(label: str, n: int) -> None:
        # x, then out = in * f, n times (built in the student's process by the given forward of Node.__mul__):
        # d root/d x = product of the f
        gen = rng(label)
        factors = [float(f) for f in np.exp(gen.uniform(-0.01, 0.01, size=n))]
        x = S.call("Node", 0.7)
        arr = S.lib("numpy.empty").call(n + 1, "O")
        S.lib("numpy.copyto").call(arr, S.lib("numpy.array").call([x] + factors, "O"))
        nodes = S.lib("numpy.frompyfunc").call(S.lib("operator.mul"), 2, 1).method("accumulate", arr)
        graph = _Graph()
        graph.add()
        for k, f in enumerate(factors):
            graph.add((k,), (f,))
        rec = _Recorders(S, nodes, n + 1)
        what = f"d root/d x (chain of {n} operations)"
        root_grad = run_backward(S.lib("operator.getitem").call(nodes, -1), what)
        order, missed = recorded(graph, rec, what)
        grads = graph.replay(n, root_grad, order)

        def compare() -> None:
            assert_true(grads[0] != 0, f"{what}: got 0. Hint: {_ORDER_HINT}.")
            assert_close(what, grads[0], math.prod(factors), rtol=1e-9)
        explained(missed, compare)

    def check(label: str, reuse: int = 0, inputs: int = 0, ops: int = 0, chain: int = 0) -> None:
        if reuse:
            check_reuse(reuse)
        elif chain:
            check_long_chain(label, chain)
        else:
            check_random_graph(label, inputs, ops)

    return Cases("topological_order / node_backward", points, check)
