"""Correct answers of lesson 06 (vanishing gradients) written unlike the solutions (see grader/pipeline/styles/__init__.py)."""

ALTERNATIVES = {
    "layer_grad_norms": [
        ("np.linalg.norm, names from named_parameters", '''
def layer_grad_norms(model, loss, X, y):
    model.zero_grad()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    names = [name for name, _ in model.named_parameters()]
    grads = model.gradients()
    return {name: float(np.linalg.norm(g)) for name, g in zip(names, grads) if name.endswith(".W")}
'''),
        ("star import, an OrderedDict of numpy scalars", '''
from collections import OrderedDict
from numpy import *


def layer_grad_norms(model, loss, X, y):
    for g in model.gradients():
        g[...] = 0.0
    out = model.forward(X)
    loss.forward(out, y)
    model.backward(loss.backward())
    norms = OrderedDict()
    for name, g in model.named_gradients():
        if name.split(".")[-1] == "W":
            norms[name] = sqrt(sum(g ** 2))
    return norms
'''),
        ("einsum, math.sqrt, a helper, a print", '''
import math


def _frobenius(a):
    return math.sqrt(float(np.einsum("ij,ij->", a, a)))


def layer_grad_norms(model, loss, X, y):
    model.zero_grad()
    L = loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    result = dict()
    for name, grad in model.named_gradients():
        if not name.endswith("b"):
            result[name] = _frobenius(grad)
    print(f"loss {L:.4f}, {len(result)} weight matrices")
    return result
'''),
        ("float32 norms", '''
def layer_grad_norms(model, loss, X, y):
    model.zero_grad()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    return {n: np.linalg.norm(g.astype(np.float32)) for n, g in model.named_gradients() if n[-1] == "W"}
'''),
    ],
    "residual_backward": [
        ("einsum, a list, the derivative from cosh", '''
def residual_backward(X, W, b, grad_output):
    slope = 1.0 / np.cosh(np.einsum("bi,ij->bj", X, W) + b) ** 2
    d_z = grad_output * slope
    return [grad_output + np.einsum("bj,ij->bi", d_z, W), np.einsum("bi,bj->ij", X, d_z), np.einsum("bj->j", d_z)]
'''),
        ("a loop over the examples, float32 results, arguments changed in place", '''
def residual_backward(X, W, b, grad_output):
    grad_W = np.zeros_like(W)
    grad_b = np.zeros_like(b)
    grad_X = grad_output.copy()
    for row in range(X.shape[0]):
        a = np.tanh(X[row] @ W + b)
        d = grad_output[row] * (1 - a * a)
        grad_W += np.outer(X[row], d)
        grad_b += d
        grad_X[row] += W @ d
    X[...] = 0.0
    return grad_X.astype(np.float32), grad_W.astype(np.float32), grad_b.astype(np.float32)
'''),
        ("sech^2 via exp, a dict-free list, from numpy import *", '''
from numpy import *


def residual_backward(X, W, b, grad_output):
    Z = dot(X, W) + b
    e = exp(-2 * abs(Z))
    slope = 4 * e / (1 + e) ** 2  # 1 - tanh(Z)^2, written without overflow
    d = grad_output * slope
    return [grad_output + dot(d, W.T), dot(X.T, d), sum(d, axis=0)]
'''),
        ("the forward output reused, a helper, a print", '''
def _branch(X, W, b):
    return np.tanh(X @ W + b)


def residual_backward(X, W, b, grad_output):
    Y = X + _branch(X, W, b)
    H = Y - X  # the branch's output, recovered
    d = grad_output * (1.0 - H * H)
    print("residual block", X.shape)
    return (grad_output + d @ W.T, X.T @ d, d.sum(axis=0))
'''),
    ],
    "initialisations": [
        ("rng.normal with a scale", '''
def normal_init(d_in, d_out, variance, rng):
    return rng.normal(loc=0.0, scale=np.sqrt(variance), size=(d_in, d_out))


def lecun_init(d_in, d_out, rng):
    return rng.normal(0.0, (1.0 / d_in) ** 0.5, (d_in, d_out))


def xavier_init(d_in, d_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / (d_in + d_out)), size=(d_in, d_out))


def he_init(d_in, d_out, rng):
    return rng.normal(scale=np.sqrt(2 / d_in), size=(d_in, d_out))
'''),
        ("star import, drawn transposed, He as a scaled LeCun", '''
from numpy import *


def normal_init(d_in, d_out, variance, rng):
    return (rng.standard_normal((d_out, d_in)) * sqrt(variance)).T


def lecun_init(d_in, d_out, rng):
    return normal_init(d_in, d_out, 1 / d_in, rng)


def xavier_init(d_in, d_out, rng):
    std = sqrt(2.0 / (d_in + d_out))
    return std * rng.standard_normal(size=(d_in, d_out))


def he_init(d_in, d_out, rng):
    return sqrt(2.0) * lecun_init(d_in, d_out, rng)
'''),
        ("float32 draws", '''
def normal_init(d_in, d_out, variance, rng):
    return rng.standard_normal((d_in, d_out), dtype=np.float32) * np.float32(np.sqrt(variance))


def lecun_init(d_in, d_out, rng):
    return normal_init(d_in, d_out, 1.0 / d_in, rng)


def xavier_init(d_in, d_out, rng):
    return normal_init(d_in, d_out, 2.0 / (d_in + d_out), rng)


def he_init(d_in, d_out, rng):
    return normal_init(d_in, d_out, 2.0 / d_in, rng)
'''),
        ("a flat draw reshaped, nested lists returned, a shared helper", '''
import math


def _gaussian(shape, std, rng):
    return (std * rng.standard_normal(shape[0] * shape[1])).reshape(shape)


def normal_init(d_in, d_out, variance, rng):
    return _gaussian((d_in, d_out), math.sqrt(variance), rng).tolist()


def lecun_init(d_in, d_out, rng):
    return _gaussian((d_in, d_out), math.sqrt(1 / d_in), rng)


def xavier_init(d_in, d_out, rng):
    return _gaussian((d_in, d_out), math.sqrt(2 / (d_in + d_out)), rng)


def he_init(d_in, d_out, rng):
    return _gaussian((d_in, d_out), math.sqrt(2 / d_in), rng)
'''),
    ],
    "saturated_fraction": [
        ("derivatives by formula, layers by class name", '''
def saturated_fraction(model, X, threshold):
    count, size = 0, 0
    h = np.array(X, dtype=float)
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Tanh":
            d = 1.0 - np.tanh(h) ** 2
        elif kind == "Sigmoid":
            s = 1.0 / (1.0 + np.exp(-h))
            d = s * (1.0 - s)
        else:
            d = None
        if d is not None:
            count += int((d < threshold).sum())
            size += d.size
        h = layer.forward(h)
    if size == 0:
        raise ValueError("no Tanh or Sigmoid layer")
    return count / size
'''),
        ("masks concatenated, mean of all", '''
def saturated_fraction(model, X, threshold):
    masks = []
    Z = X
    for layer in model:
        if isinstance(layer, Tanh):
            masks.append(np.ravel(tanh_prime(Z) < threshold))
        elif isinstance(layer, Sigmoid):
            masks.append(np.ravel(sigmoid_prime(Z) < threshold))
        Z = layer(Z)
    if not masks:
        raise ValueError("saturated_fraction: nothing to count")
    return float(np.concatenate(masks).mean())
'''),
        ("star import, a helper per layer, a Fraction", '''
from fractions import Fraction
from numpy import *


def _counts(layer, Z, threshold):
    if isinstance(layer, Tanh):
        return int(count_nonzero(tanh_prime(Z) < threshold)), Z.size
    if isinstance(layer, Sigmoid):
        return int(count_nonzero(sigmoid_prime(Z) < threshold)), Z.size
    return 0, 0


def saturated_fraction(model, X, threshold):
    tally = []
    A = asarray(X, dtype=float64)
    for layer in model:
        tally.append(_counts(layer, A, threshold))
        A = layer.forward(A)
    total = int(sum([t for _, t in tally]))
    if not total:
        raise ValueError("the model has no saturating layer")
    return float(Fraction(int(sum([c for c, _ in tally])), total))
'''),
        ("pre-activations collected first, a weighted mean of the layer fractions", '''
def saturated_fraction(model, X, threshold):
    inputs = []
    A = X
    for layer in model:
        if isinstance(layer, (Tanh, Sigmoid)):
            inputs.append((layer, A))
        A = layer.forward(A)
    if len(inputs) == 0:
        raise ValueError("no Tanh/Sigmoid layer in the model")
    fractions, weights = [], []
    for layer, Z in inputs:
        slope = tanh_prime(Z) if isinstance(layer, Tanh) else sigmoid_prime(Z)
        fractions.append(np.mean(slope < threshold))
        weights.append(Z.size)
    return float(np.average(fractions, weights=weights))
'''),
    ],
    "answer_skip": [
        ("upper case", '''
answer_skip = "B"
'''),
        ("spaces around it", '''
answer_skip = " b "
'''),
        ("a numpy string scalar", '''
answer_skip = np.str_("b")
'''),
        ("computed", '''
answer_skip = chr(ord("a") + 1)
'''),
    ],
}
