"""The general case written out: an L-layer network as plain lists of weights.

Batch-first convention, layer ``l = 1..L``, ``A_0 = X``:

    Z_l = A_{l-1} @ W_l + b_l            # (B, n_{l-1}) @ (n_{l-1}, n_l) + (n_l,) -> (B, n_l)
    A_l = phi_l(Z_l)

Backward, with ``G = dL/dA_L`` (already holding the 1/B of a mean loss):

    delta_L = G * phi_L'(Z_L)
    grad_W_l = A_{l-1}.T @ delta_l       # (n_{l-1}, B) @ (B, n_l) -> (n_{l-1}, n_l)
    grad_b_l = delta_l.sum(axis=0)       # summed over the batch -> (n_l,)
    delta_{l-1} = (delta_l @ W_l.T) * phi_{l-1}'(Z_{l-1})

In the single-example column form of the lecture notes, ``W_l`` is the
transpose of ours and ``grad_W_l = delta_l a_{l-1}^T`` is an outer product;
the batch form sums those outer products over the rows of the batch.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_lib._validate import as_float_array, check_shape
from course_lib.functional import get_activation

Array = np.ndarray


def _activations(activation: str | Sequence[str], output_activation: str | None, L: int) -> list[str]:
    if isinstance(activation, str):
        names = [activation] * L
        if output_activation is not None:
            names[-1] = output_activation
        return names
    names = list(activation)
    if len(names) != L:
        raise ValueError(f"activation: expected {L} names (one per layer), got {len(names)}")
    return names


def check_layers(Ws: Sequence[Array], bs: Sequence[Array]) -> tuple[list[Array], list[Array]]:
    """Validate a list of weights and biases: ``W_l`` is ``(n_{l-1}, n_l)``, ``b_l`` is ``(n_l,)``."""
    if len(Ws) != len(bs) or len(Ws) == 0:
        raise ValueError(f"Ws, bs: expected equally long non-empty lists, got {len(Ws)} weights and {len(bs)} biases")
    Ws = [as_float_array(W, f"Ws[{l}]", ndim=2) for l, W in enumerate(Ws)]
    bs = [as_float_array(b, f"bs[{l}]") for l, b in enumerate(bs)]
    for l, (W, b) in enumerate(zip(Ws, bs)):
        check_shape(b, (W.shape[1],), f"bs[{l}]")
        if l > 0 and Ws[l - 1].shape[1] != W.shape[0]:
            raise ValueError(f"Ws[{l}]: expected {Ws[l - 1].shape[1]} rows (the width of layer {l}), got shape {W.shape}")
    return Ws, bs


def mlp_forward(
    X: Array,
    Ws: Sequence[Array],
    bs: Sequence[Array],
    activation: str | Sequence[str] = "sigmoid",
    output_activation: str | None = None,
) -> tuple[Array, dict]:
    """Forward pass keeping every ``Z_l`` and ``A_l`` for the backward pass.

    Args:
        X: inputs, shape ``(B, n_0)``.
        Ws: weights, ``Ws[l]`` of shape ``(n_l, n_{l+1})`` (zero-based list).
        bs: biases, ``bs[l]`` of shape ``(n_{l+1},)``.
        activation: one name for every layer, or a list with one name per layer.
        output_activation: overrides the last layer's activation (e.g. ``"identity"``).
    Returns:
        ``(y_hat, cache)`` where ``y_hat = A_L`` has shape ``(B, n_L)`` and ``cache``
        holds ``"A"`` (``[X, A_1, ..., A_L]``), ``"Z"`` (``[Z_1, ..., Z_L]``) and ``"activations"``.
    """
    Ws, bs = check_layers(Ws, bs)
    X = as_float_array(X, "X", ndim=2)
    check_shape(X, (None, Ws[0].shape[0]), "X")
    names = _activations(activation, output_activation, len(Ws))
    A, Z = [X], []
    for W, b, name in zip(Ws, bs, names):
        phi, _ = get_activation(name)
        Z.append(A[-1] @ W + b)  # (B, n_{l-1}) @ (n_{l-1}, n_l) + (n_l,) -> (B, n_l)
        A.append(phi(Z[-1]))
    return A[-1], {"A": A, "Z": Z, "activations": names}


def mlp_backward(cache: dict, Ws: Sequence[Array], grad_y_hat: Array) -> tuple[list[Array], list[Array], Array]:
    """The delta recursion: gradients of every weight and bias from ``dL/dy_hat``.

    Args:
        cache: what :func:`mlp_forward` returned.
        Ws: the same weights as in the forward pass.
        grad_y_hat: ``dL/dA_L``, shape ``(B, n_L)``, including the 1/B of a mean loss.
    Returns:
        ``(grad_Ws, grad_bs, grad_X)`` with the shapes of ``Ws``, the biases and ``X``.
    """
    A, Z, names = cache["A"], cache["Z"], cache["activations"]
    G = as_float_array(grad_y_hat, "grad_y_hat", ndim=2)
    check_shape(G, A[-1].shape, "grad_y_hat")
    L = len(Z)
    grad_Ws: list[Array] = [None] * L  # type: ignore[list-item]
    grad_bs: list[Array] = [None] * L  # type: ignore[list-item]
    for l in reversed(range(L)):
        _, phi_prime = get_activation(names[l])
        delta = G * phi_prime(Z[l])          # (B, n_l): dL/dZ_l, phi' taken at the input Z_l
        grad_Ws[l] = A[l].T @ delta          # (n_{l-1}, B) @ (B, n_l) -> (n_{l-1}, n_l)
        grad_bs[l] = delta.sum(axis=0)       # (B, n_l) -> (n_l,): every example's share
        G = delta @ np.asarray(Ws[l]).T      # (B, n_l) @ (n_l, n_{l-1}) -> (B, n_{l-1}) = dL/dA_{l-1}
    return grad_Ws, grad_bs, G
