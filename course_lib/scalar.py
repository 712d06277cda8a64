"""A scalar computation graph with reverse-mode automatic differentiation.

Each operation builds an output node ``out`` and attaches a ``_backward``
closure that adds the local derivative times ``out.grad`` to each input:

    out = a * b         ->   a.grad += b.data * out.grad,  b.grad += a.data * out.grad

``backward()`` visits the nodes in reverse topological order, so a node's
``grad`` is complete (every path through it summed) before it is passed on.
Gradients *accumulate* (``+=``): for ``b = a + a; c = b + b`` the two edges
from ``a`` each contribute 2, giving ``dc/da = 4``. The topological sort is
iterative, so a chain of 10,000 nodes does not hit Python's recursion limit.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

Number = int | float


class Value:
    """A scalar node: ``data`` (forward value) and ``grad`` (dL/d this node, filled by ``backward``).

    Args:
        data: the value.
        _children: the nodes this one was computed from (set by the operations).
        _op: a label for the operation, shown in graph drawings.
        label: an optional name for drawings (``"w11"``, ``"h1"``).
    """

    __slots__ = ("data", "grad", "_backward", "_prev", "_op", "label")

    def __init__(self, data: Number, _children: Iterable[Value] = (), _op: str = "", label: str = ""):
        if isinstance(data, Value):
            raise TypeError("Value(data): expected a number, got a Value (use the Value itself)")
        try:
            self.data = float(data)
        except (TypeError, ValueError):
            raise TypeError(f"Value(data): expected a real number, got {type(data).__name__}") from None
        self.grad = 0.0
        self._backward: Callable[[], None] = lambda: None
        self._prev = tuple(_children)
        self._op = _op
        self.label = label

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: Value | Number) -> Value:
        other = _lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            # d(a + b)/da = 1, d(a + b)/db = 1
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | Number) -> Value:
        other = _lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            # d(a b)/da = b, d(a b)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, exponent: Number) -> Value:
        if isinstance(exponent, Value) or not isinstance(exponent, (int, float)):
            raise TypeError(f"Value ** exponent: expected an int or float exponent, got {type(exponent).__name__}")
        out = Value(self.data ** exponent, (self,), f"**{exponent:g}")

        def _backward() -> None:
            # d(a^n)/da = n a^(n-1)
            self.grad += exponent * self.data ** (exponent - 1) * out.grad

        out._backward = _backward
        return out

    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Value | Number) -> Value:
        return self + (-_lift(other))

    def __truediv__(self, other: Value | Number) -> Value:
        return self * _lift(other) ** -1

    def __radd__(self, other: Number) -> Value:
        return self + other

    def __rmul__(self, other: Number) -> Value:
        return self * other

    def __rsub__(self, other: Number) -> Value:
        return _lift(other) - self

    def __rtruediv__(self, other: Number) -> Value:
        return _lift(other) / self

    # ------------------------------------------------------------------ functions
    def exp(self) -> Value:
        """``e^a``; its derivative is itself."""
        e = math.exp(self.data)
        out = Value(e, (self,), "exp")

        def _backward() -> None:
            self.grad += e * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        """Natural log ``ln a`` (``a > 0``); derivative ``1 / a``."""
        if self.data <= 0:
            raise ValueError(f"Value.log: expected a positive value, got {self.data}")
        out = Value(math.log(self.data), (self,), "log")

        def _backward() -> None:
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        """``tanh a``; derivative ``1 - tanh(a)^2``."""
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward() -> None:
            self.grad += (1.0 - t * t) * out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        """``sigma(a) = 1 / (1 + e^-a)``; derivative ``sigma(a) (1 - sigma(a))``."""
        x = self.data
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        out = Value(s, (self,), "sigmoid")

        def _backward() -> None:
            self.grad += s * (1.0 - s) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> Value:
        """``max(a, 0)``; derivative 1 for ``a > 0``, else 0."""
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward() -> None:
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad

        out._backward = _backward
        return out

    # ------------------------------------------------------------------ backprop
    def topological_order(self) -> list[Value]:
        """Every node this one depends on, each after all of its inputs (iterative DFS)."""
        order: list[Value] = []
        visited: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for child in node._prev:
                if id(child) not in visited:
                    stack.append((child, False))
        return order

    def backward(self) -> None:
        """Fill ``grad`` of every node in the graph with ``d self / d node``.

        Seeds ``self.grad = 1`` and calls each node's ``_backward`` in reverse
        topological order. Gradients accumulate across calls (as in PyTorch):
        call :meth:`zero_grad` before a second backward through the same graph.
        """
        order = self.topological_order()
        self.grad = 1.0
        for node in reversed(order):
            node._backward()

    def zero_grad(self) -> None:
        """Set ``grad = 0`` on this node and every node it depends on."""
        for node in self.topological_order():
            node.grad = 0.0

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"


def _lift(x: Value | Number) -> Value:
    if isinstance(x, Value):
        return x
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"Value operand: expected a Value, int or float, got {type(x).__name__}")
    return Value(x)
