"""Correct answers to lesson 02 written differently from the solution (see grader/pipeline/styles/__init__.py)."""

ALTERNATIVES = {
    "mlp_forward": [
        ("recursive, own activations, list result, extra cache keys", '''
import numpy as np

def _phi(name, z):
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    return z.copy()

def mlp_forward(X, Ws, bs, activation="sigmoid"):
    names = [activation] * len(Ws) if isinstance(activation, str) else list(activation)

    def layer(l, a_prev, A, Z):
        if l == len(Ws):
            return A, Z
        z = np.dot(a_prev, Ws[l]) + bs[l][np.newaxis, :]
        a = _phi(names[l], z)
        return layer(l + 1, a, A + [a], Z + [z])

    A, Z = layer(0, np.array(X, dtype=np.float64), [np.array(X, dtype=np.float64)], [])
    return [A[-1], {"A": A, "Z": Z, "activations": names, "depth": len(Ws), "note": "cached"}]
'''),
        ("from numpy import *, einsum, tuples in the cache, prints", '''
from numpy import *
from course_lib.functional import get_activation

def mlp_forward(X, Ws, bs, activation="sigmoid"):
    L = len(Ws)
    names = tuple([activation] * L) if isinstance(activation, str) else tuple(activation)
    print("forward through", L, "layers:", names)
    A, Z = [asarray(X, dtype=float64)], []
    for l in range(L):
        Z.append(einsum("bi,ij->bj", A[l], Ws[l]) + bs[l])
        A.append(get_activation(names[l])[0](Z[l]))
    return A[L], {"Z": tuple(Z), "A": tuple(A), "activations": names}
'''),
        ("while loop, matmul, preallocated lists, helper", '''
import numpy as np

def affine(a, W, b):
    return np.matmul(a, W) + b.reshape(1, -1)

def mlp_forward(X, Ws, bs, activation="sigmoid"):
    L = len(Ws)
    names = list(activation) if not isinstance(activation, str) else [activation for _ in range(L)]
    funcs = {"sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)), "tanh": np.tanh,
             "relu": lambda z: z * (z > 0), "identity": lambda z: z}
    A, Z = [None] * (L + 1), [None] * L
    A[0] = np.asarray(X, dtype=float)
    l = 0
    while l < L:
        Z[l] = affine(A[l], Ws[l], bs[l])
        A[l + 1] = funcs[names[l]](Z[l])
        l += 1
    cache = dict(A=A, Z=Z, activations=names)
    return (A[L], cache)
'''),
        ("float32 throughout", '''
import numpy as np

def mlp_forward(X, Ws, bs, activation="sigmoid"):
    names = [activation] * len(Ws) if isinstance(activation, str) else list(activation)
    f = {"sigmoid": lambda z: np.float32(1) / (np.float32(1) + np.exp(-z)), "tanh": np.tanh,
         "relu": lambda z: np.where(z > 0, z, np.float32(0)), "identity": lambda z: z}
    a = np.asarray(X, dtype=np.float32)
    A, Z = [a], []
    for W, b, name in zip(Ws, bs, names):
        z = a @ W.astype(np.float32) + b.astype(np.float32)
        a = f[name](z).astype(np.float32)
        Z.append(z)
        A.append(a)
    return a, {"A": A, "Z": Z, "activations": names}
'''),
        ("per-example loop over the batch", '''
import numpy as np
from course_lib.functional import get_activation

def mlp_forward(X, Ws, bs, activation="sigmoid"):
    names = [activation] * len(Ws) if isinstance(activation, str) else list(activation)
    X = np.asarray(X, dtype=float)
    A, Z = [X], []
    for W, b, name in zip(Ws, bs, names):
        phi = get_activation(name)[0]
        z = np.stack([row @ W + b for row in A[-1]])
        Z.append(z)
        A.append(phi(z))
    return A[-1], {"A": A, "Z": Z, "activations": names}
'''),
    ],
    "mse_loss": [
        ("pure Python loops", '''
def mse_loss(y_hat, y):
    total = 0.0
    for row_p, row_t in zip(y_hat.tolist(), y.tolist()):
        for p, t in zip(row_p, row_t):
            total += (p - t) ** 2
    return total / (2 * len(y_hat))
'''),
        ("mean over entries times width, numpy scalar", '''
import numpy as np

def mse_loss(y_hat, y):
    d = y_hat.shape[1]
    return 0.5 * d * np.mean(np.square(np.subtract(y_hat, y)))
'''),
        ("einsum, one-entry array", '''
from numpy import *

def mse_loss(y_hat, y):
    r = asarray(y_hat, dtype=float64) - asarray(y, dtype=float64)
    return array([einsum("bi,bi->", r, r) / (2.0 * r.shape[0])])
'''),
        ("row sums then mean over the batch, with a print", '''
import numpy as np

def mse_loss(y_hat, y):
    per_example = ((y - y_hat) ** 2).sum(axis=1) / 2
    loss = per_example.mean()
    print(f"batch of {len(per_example)}: loss {loss:.4f}")
    return loss
'''),
        ("squared norm in float32", '''
import numpy as np

def mse_loss(y_hat, y):
    r = (np.asarray(y_hat) - np.asarray(y)).astype(np.float32)
    return np.float32(np.linalg.norm(r) ** 2) / np.float32(2 * r.shape[0])
'''),
    ],
    "mse_grad": [
        ("len of the batch, subtract", '''
import numpy as np

def mse_grad(y_hat, y):
    return np.subtract(y_hat, y) / len(y_hat)
'''),
        ("nested lists from loops", '''
def mse_grad(y_hat, y):
    B = len(y_hat)
    return [[(p - t) / B for p, t in zip(row_p, row_t)] for row_p, row_t in zip(y_hat.tolist(), y.tolist())]
'''),
        ("multiply by 1/B, from numpy import *", '''
from numpy import *

def mse_grad(y_hat, y):
    inv_B = 1.0 / shape(y_hat)[0]
    return multiply(inv_B, asarray(y_hat, dtype=float64) - y)
'''),
        ("float32", '''
import numpy as np

def mse_grad(y_hat, y):
    g = (np.asarray(y_hat, dtype=np.float32) - np.asarray(y, dtype=np.float32))
    return g / np.float32(g.shape[0])
'''),
        ("derivative of 1/2 r^2 written out, helper", '''
import numpy as np

def _half_square_prime(r):
    return 2 * 0.5 * r

def mse_grad(y_hat, y):
    grad = np.empty_like(y_hat, dtype=float)
    for i in range(y_hat.shape[0]):
        grad[i] = _half_square_prime(y_hat[i] - y[i]) / y_hat.shape[0]
    return grad
'''),
    ],
    "mlp_backward": [
        ("derivatives from the cached outputs A, list result, grad of the input too", '''
import numpy as np

def mlp_backward(cache, Ws, grad_y_hat):
    A, names = cache["A"], cache["activations"]
    from_output = {"sigmoid": lambda a: a * (1 - a), "tanh": lambda a: 1 - a ** 2,
                   "relu": lambda a: (a > 0).astype(float), "identity": np.ones_like}
    grad_Ws, grad_bs = [], []
    g = np.asarray(grad_y_hat, dtype=float)
    for l in range(len(Ws) - 1, -1, -1):
        delta = g * from_output[names[l]](A[l + 1])
        grad_Ws.insert(0, A[l].T @ delta)
        grad_bs.insert(0, delta.sum(axis=0))
        g = delta @ Ws[l].T
    return [grad_Ws, grad_bs, g]
'''),
        ("recursive, einsum, tuples", '''
from numpy import *
from course_lib.functional import get_activation

def mlp_backward(cache, Ws, grad_y_hat):
    A, Z, names = cache["A"], cache["Z"], cache["activations"]

    def back(l, g):
        if l < 0:
            return (), ()
        delta = g * get_activation(names[l])[1](Z[l])
        gW = einsum("bi,bj->ij", A[l], delta)
        gb = einsum("bj->j", delta)
        earlier_W, earlier_b = back(l - 1, einsum("bj,ij->bi", delta, Ws[l]))
        return earlier_W + (gW,), earlier_b + (gb,)

    return back(len(Ws) - 1, asarray(grad_y_hat, dtype=float64))
'''),
        ("sum of per-example outer products, ones-vector bias", '''
import numpy as np
from course_lib.functional import get_activation

def mlp_backward(cache, Ws, grad_y_hat):
    A, Z, names = cache["A"], cache["Z"], cache["activations"]
    L = len(Ws)
    grad_Ws, grad_bs = [None] * L, [None] * L
    g = np.array(grad_y_hat, dtype=float)
    for l in reversed(range(L)):
        delta = g * get_activation(names[l])[1](Z[l])
        grad_Ws[l] = sum(np.outer(a, d) for a, d in zip(A[l], delta))
        grad_bs[l] = np.ones(delta.shape[0]) @ delta
        g = (Ws[l] @ delta.T).T
    return grad_Ws, grad_bs
'''),
        ("float32", '''
import numpy as np
from course_lib.functional import get_activation

def mlp_backward(cache, Ws, grad_y_hat):
    A = [np.asarray(a, dtype=np.float32) for a in cache["A"]]
    Z = [np.asarray(z, dtype=np.float32) for z in cache["Z"]]
    g = np.asarray(grad_y_hat, dtype=np.float32)
    grad_Ws, grad_bs = [], []
    for l in range(len(Ws) - 1, -1, -1):
        delta = (g * get_activation(cache["activations"][l])[1](Z[l])).astype(np.float32)
        grad_Ws.append(A[l].T @ delta)
        grad_bs.append(delta.sum(axis=0, dtype=np.float32))
        g = delta @ Ws[l].T.astype(np.float32)
    return grad_Ws[::-1], grad_bs[::-1]
'''),
        ("dict of gradients turned into lists at the end, prints shapes", '''
import numpy as np

def _dphi(name, z):
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        return s - s * s
    if name == "tanh":
        return 1 / np.cosh(z) ** 2
    if name == "relu":
        return np.heaviside(z, 0.0)
    return np.ones(z.shape)

def mlp_backward(cache, Ws, grad_y_hat):
    grads = {}
    g = grad_y_hat
    for l in sorted(range(len(Ws)), reverse=True):
        delta = g * _dphi(cache["activations"][l], cache["Z"][l])
        grads["W", l] = np.dot(cache["A"][l].T, delta)
        grads["b", l] = np.add.reduce(delta, axis=0)
        g = np.dot(delta, Ws[l].T)
        print("layer", l, "grad_W", grads["W", l].shape)
    return [grads["W", l] for l in range(len(Ws))], [grads["b", l] for l in range(len(Ws))]
'''),
    ],
    "weight_decay": [
        ("loops over entries, tuple result", '''
def weight_decay(Ws, lam):
    total, grads = 0.0, []
    for W in Ws:
        g = [[0.0] * len(W[0]) for _ in range(len(W))]
        for i in range(len(W)):
            for j in range(len(W[0])):
                total += W[i][j] * W[i][j]
                g[i][j] = lam * W[i][j]
        grads.append(g)
    return (lam / 2) * total, grads
'''),
        ("Frobenius norm, one-entry array, tuple of gradients", '''
import numpy as np

def weight_decay(Ws, lam):
    penalty = np.array([0.5 * lam * sum(np.linalg.norm(W, "fro") ** 2 for W in Ws)])
    return penalty, tuple(np.multiply(lam, W) for W in Ws)
'''),
        ("the reversed deltas idiom's style: zip, einsum, float32 gradients", '''
import numpy as np

def weight_decay(Ws, lam):
    squares = [np.einsum("ij,ij->", W, W) for W in Ws]
    grads = [np.float32(lam) * np.asarray(W, dtype=np.float32) for W in Ws]
    return float(lam * sum(squares) / 2), grads
'''),
        ("from numpy import *, a helper per layer, prints", '''
from numpy import *

def _layer_decay(W, lam):
    W = array(W, dtype=float64)
    return 0.5 * lam * (W ** 2).sum(), lam * W

def weight_decay(Ws, lam):
    parts = [_layer_decay(W, lam) for W in Ws]
    print("penalty per layer:", [round(float(p), 4) for p, _ in parts])
    total = 0.0                 # numpy's sum (star-imported) refuses a generator: add up by hand
    for p, _ in parts:
        total += p
    return total, [g for _, g in parts]
'''),
    ],
}
