"""Layers as modules: each ``forward`` caches what its ``backward`` needs.

The contract (the same one PyTorch's autograd automates):

* ``forward(X)`` returns the output and keeps whatever the backward pass needs;
* ``backward(grad_output)`` receives ``dL/d output``, stores ``dL/d parameter``
  in ``grad_<name>`` and returns ``dL/d input``.

Because every module only knows its own local derivative, an architecture is
changed by rearranging modules; no backward code is touched.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from course_lib import functional as F
from course_lib._validate import as_float_array, check_shape
from course_lib.init import init_weights

Array = np.ndarray


class Module:
    """Base class. Subclasses list their parameter attributes in ``param_names``.

    A parameter ``W`` lives in ``self.W`` and its gradient in ``self.grad_W``.
    """

    param_names: tuple[str, ...] = ()

    def forward(self, X: Array) -> Array:
        """Compute the output for input ``X`` and cache what ``backward`` needs."""
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, grad_output: Array) -> Array:
        """Given ``dL/d output``, store parameter gradients and return ``dL/d input``."""
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def __call__(self, X: Array) -> Array:
        return self.forward(X)

    def children(self) -> list[tuple[str, Module]]:
        """Direct sub-modules as ``(name, module)`` pairs (none for a leaf layer)."""
        return []

    def named_parameters(self, prefix: str = "") -> list[tuple[str, Array]]:
        """All parameters with dotted names, e.g. ``"0.W"``, ``"2.1.b"`` in nested containers."""
        out = [(prefix + name, getattr(self, name)) for name in self.param_names]
        for child_name, child in self.children():
            out.extend(child.named_parameters(prefix + child_name + "."))
        return out

    def named_gradients(self, prefix: str = "") -> list[tuple[str, Array]]:
        """``(name, gradient)`` pairs in the same order as :meth:`named_parameters`."""
        out = [(prefix + name, getattr(self, "grad_" + name)) for name in self.param_names]
        for child_name, child in self.children():
            out.extend(child.named_gradients(prefix + child_name + "."))
        return out

    def parameters(self) -> list[Array]:
        """The parameter arrays (updated in place by optimisers)."""
        return [p for _, p in self.named_parameters()]

    def gradients(self) -> list[Array]:
        """The gradient arrays, aligned with :meth:`parameters`."""
        return [g for _, g in self.named_gradients()]

    def zero_grad(self) -> None:
        """Set every parameter gradient to zero, in place."""
        for g in self.gradients():
            g[...] = 0.0

    def num_parameters(self) -> int:
        """Total number of scalar parameters."""
        return int(sum(p.size for p in self.parameters()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Linear(Module):
    """Affine layer ``Z = X @ W + b`` with ``W`` of shape ``(d_in, d_out)``, ``b`` of shape ``(d_out,)``.

    Backward, with ``delta = dL/dZ`` of shape ``(B, d_out)``:
    ``grad_W = X.T @ delta``, ``grad_b = delta.sum(axis=0)``, ``dL/dX = delta @ W.T``.

    Args:
        d_in: input features.
        d_out: output features.
        init: weight scheme of :mod:`course_lib.init` (``"lecun"``, ``"xavier"``, ``"he"``, ``"normal"``, ``"uniform"``).
        rng: a numpy Generator or an int seed.
        bias: whether the layer has a bias.
    """

    def __init__(self, d_in: int, d_out: int, init: str = "lecun", rng: np.random.Generator | int | None = None,
                 bias: bool = True):
        self.d_in, self.d_out = d_in, d_out
        self.W = init_weights(d_in, d_out, init, rng)
        self.param_names = ("W", "b") if bias else ("W",)
        self.b = np.zeros(d_out)
        self.grad_W = np.zeros_like(self.W)
        self.grad_b = np.zeros_like(self.b)
        self._X: Array | None = None

    def forward(self, X: Array) -> Array:
        X = as_float_array(X, "Linear.forward X", ndim=2)
        check_shape(X, (None, self.d_in), "Linear.forward X")
        self._X = X
        Z = X @ self.W  # (B, d_in) @ (d_in, d_out) -> (B, d_out)
        if "b" in self.param_names:
            Z += self.b  # (B, d_out) + (d_out,): in place, one pass less over a big array
        return Z

    def backward(self, grad_output: Array) -> Array:
        if self._X is None:
            raise RuntimeError("Linear.backward called before forward")
        delta = as_float_array(grad_output, "Linear.backward grad_output", ndim=2)
        check_shape(delta, (self._X.shape[0], self.d_out), "Linear.backward grad_output")
        # Accumulate (+=) so a layer used twice in one graph gets both contributions.
        self.grad_W += self._X.T @ delta  # (d_in, B) @ (B, d_out) -> (d_in, d_out)
        if "b" in self.param_names:
            self.grad_b += delta.sum(axis=0)  # (B, d_out) -> (d_out,)
        return delta @ self.W.T  # (B, d_out) @ (d_out, d_in) -> (B, d_in)

    def __repr__(self) -> str:
        return f"Linear({self.d_in}, {self.d_out})"


class Activation(Module):
    """Element-wise ``A = phi(Z)``; backward ``dL/dZ = dL/dA * phi'(Z)``, phi' taken at the input ``Z``."""

    name = "identity"

    def __init__(self) -> None:
        self._phi, self._phi_prime = F.get_activation(self.name)
        self._Z: Array | None = None

    def forward(self, X: Array) -> Array:
        self._Z = as_float_array(X, f"{type(self).__name__}.forward X")
        return self._phi(self._Z)

    def backward(self, grad_output: Array) -> Array:
        if self._Z is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        G = as_float_array(grad_output, f"{type(self).__name__}.backward grad_output")
        check_shape(G, self._Z.shape, f"{type(self).__name__}.backward grad_output")
        return G * self._phi_prime(self._Z)


class ReLU(Activation):
    """``max(Z, 0)``; derivative 1 where ``Z > 0``, else 0."""

    name = "relu"

    def backward(self, grad_output: Array) -> Array:
        if self._Z is None:
            raise RuntimeError("ReLU.backward called before forward")
        G = as_float_array(grad_output, "ReLU.backward grad_output")
        check_shape(G, self._Z.shape, "ReLU.backward grad_output")
        # Same as G * relu'(Z), without building the float array relu'(Z) first.
        return np.multiply(G, self._Z > 0, dtype=G.dtype)


class Tanh(Activation):
    """``tanh(Z)``; derivative ``1 - tanh(Z)^2``."""

    name = "tanh"


class Sigmoid(Activation):
    """``sigma(Z)``; derivative ``sigma(Z) (1 - sigma(Z))``."""

    name = "sigmoid"


class Identity(Activation):
    """``Z`` unchanged; derivative 1."""

    name = "identity"


class Sequential(Module):
    """Modules applied in order; backward applies their ``backward`` in reverse order.

    Children are named ``"0"``, ``"1"``, ...; a nested ``Sequential`` gives dotted
    names such as ``"2.1.b"`` (child 2, its child 1, parameter ``b``).
    """

    def __init__(self, *layers: Module):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential layer {i}: expected a Module, got {type(layer).__name__}")
        self.layers = list(layers)

    def children(self) -> list[tuple[str, Module]]:
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def forward(self, X: Array) -> Array:
        for layer in self.layers:
            X = layer.forward(X)
        return X

    def backward(self, grad_output: Array) -> Array:
        for layer in reversed(self.layers):
            grad_output = layer.backward(grad_output)
        return grad_output

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential({inner})"


ACTIVATION_MODULES: dict[str, type[Activation]] = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "identity": Identity}


def mlp(widths: list[int], activation: str = "tanh", init: str = "lecun",
        rng: np.random.Generator | int | None = None) -> Sequential:
    """``Sequential(Linear, act, Linear, act, ..., Linear)`` for ``widths = [d_in, h_1, ..., d_out]``.

    No activation after the last layer (the loss takes raw outputs or logits).
    """
    if len(widths) < 2:
        raise ValueError(f"widths: expected at least [d_in, d_out], got {widths}")
    if activation not in ACTIVATION_MODULES:
        raise ValueError(f"activation: expected one of {sorted(ACTIVATION_MODULES)}, got {activation!r}")
    from course_lib.init import make_rng

    gen = make_rng(rng)
    layers: list[Module] = []
    for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(Linear(d_in, d_out, init=init, rng=gen))
        if i < len(widths) - 2:
            layers.append(ACTIVATION_MODULES[activation]())
    return Sequential(*layers)
