"""Correct answers to lesson 03 (softmax and cross-entropy) written unlike the solution."""

SOFTMAX_LOOPS = '''
import math

def softmax(Z):
    out = []
    for row in Z:
        m = max(row)
        e = [math.exp(v - m) for v in row]
        total = sum(e)
        out.append([v / total for v in e])
    return out  # a list of lists


def log_softmax(Z):
    out = []
    for row in Z:
        m = max(row)
        lse = m + math.log(sum(math.exp(v - m) for v in row))
        out.append([v - lse for v in row])
    return out
'''

SOFTMAX_STAR = '''
from numpy import *

def softmax(Z):
    Z = asarray(Z, dtype=float64)
    shifted = Z - amax(Z, axis=-1)[:, newaxis]
    E = exp(shifted)
    return E / sum(E, axis=-1)[:, newaxis]


def log_softmax(Z):
    Z = asarray(Z, dtype=float64)
    shifted = Z - amax(Z, axis=-1)[:, newaxis]
    return shifted - log(sum(exp(shifted), axis=-1))[:, newaxis]
'''

SOFTMAX_SCIPY = '''
from scipy.special import logsumexp as _lse
from scipy.special import softmax as _sp_softmax

def softmax(Z):
    print("using scipy")
    return _sp_softmax(np.asarray(Z), axis=1)


def log_softmax(Z):
    return Z - _lse(Z, axis=1, keepdims=True)
'''

SOFTMAX_FLOAT32 = '''
def softmax(Z):
    Z = np.asarray(Z, dtype=np.float32)
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def log_softmax(Z):
    Z = np.asarray(Z, dtype=np.float32)
    m = Z.max(axis=1, keepdims=True)
    return (Z - m) - np.log(np.exp(Z - m).sum(axis=1, keepdims=True))
'''

SOFTMAX_VIA_LOG = '''
def _row_max(Z):
    return np.max(Z, axis=1, keepdims=True)


def log_softmax(Z):
    Z = np.array(Z, dtype=float)
    Z -= _row_max(Z)
    Z -= np.log(np.exp(Z).sum(axis=1))[:, None]
    return Z


def softmax(Z):
    return np.exp(log_softmax(Z))  # exp of a finite log: no 0/0
'''

SOFTMAX_APPLY = '''
def _one_row(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def softmax(Z):
    return np.apply_along_axis(_one_row, 1, np.asarray(Z, dtype=float))


def log_softmax(Z):
    return np.stack([z - np.max(z) - np.log(np.sum(np.exp(z - np.max(z)))) for z in np.asarray(Z, dtype=float)])
'''

JACOBIAN_LOOPS = '''
import math

def softmax_jacobian(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    a = [v / sum(e) for v in e]
    C = len(a)
    return [[a[i] * ((1.0 if i == j else 0.0) - a[j]) for j in range(C)] for i in range(C)]
'''

JACOBIAN_EINSUM = '''
def softmax_jacobian(z):
    z = np.asarray(z, dtype=float)
    a = np.exp(z - z.max())
    a /= a.sum()
    eye = np.eye(len(a))
    return np.einsum("i,ij->ij", a, eye - a[None, :])
'''

JACOBIAN_STAR = '''
from numpy import *

def softmax_jacobian(z):
    a = softmax(asarray(z, dtype=float64)[newaxis, :])[0]  # the softmax of exercise 1, one row
    return a[:, newaxis] * identity(a.size) - outer(a, a)
'''

JACOBIAN_FLOAT32 = '''
def softmax_jacobian(z):
    z = np.asarray(z, dtype=np.float32)
    e = np.exp(z - z.max())
    a = e / e.sum()
    J = -a[:, None] * a[None, :]
    J[np.diag_indices_from(J)] += a
    return J
'''

JACOBIAN_SYMMETRIC = '''
def softmax_jacobian(z):
    z = np.array(z, dtype=float)
    a = np.exp(z - np.max(z)) / np.sum(np.exp(z - np.max(z)))
    J = np.zeros((a.size, a.size))
    for i in range(a.size):
        for j in range(i, a.size):
            J[i, j] = J[j, i] = (a[i] if i == j else 0.0) - a[i] * a[j]
    return J
'''

CE_LOOPS = '''
import math

def cross_entropy(Z, y):
    total = 0.0
    for row, label in zip(Z, y):
        m = max(row)
        total += m + math.log(sum(math.exp(v - m) for v in row)) - row[label]
    return total / len(y)


def cross_entropy_grad(Z, y):
    B = len(y)
    out = []
    for row, label in zip(Z, y):
        m = max(row)
        e = [math.exp(v - m) for v in row]
        s = sum(e)
        out.append([(e[k] / s - (1.0 if k == label else 0.0)) / B for k in range(len(row))])
    return out
'''

CE_FROM_EXERCISE_1 = '''
def cross_entropy(Z, y):
    logP = log_softmax(Z)  # exercise 1
    return -np.mean(logP[np.arange(len(y)), y])  # a numpy float


def cross_entropy_grad(Z, y):
    Y = np.eye(np.shape(Z)[1])[y]  # one-hot rows
    return (softmax(Z) - Y) / len(y)
'''

CE_SCIPY = '''
from scipy.special import logsumexp

def cross_entropy(Z, y):
    Z = np.asarray(Z)
    picked = np.take_along_axis(Z, np.asarray(y)[:, None], axis=1)[:, 0]
    return np.array([np.sum(logsumexp(Z, axis=1) - picked) / Z.shape[0]])  # an array of one number


def cross_entropy_grad(Z, y):
    Z = np.asarray(Z)
    G = np.exp(Z - logsumexp(Z, axis=1, keepdims=True))
    np.subtract.at(G, (np.arange(len(y)), y), 1.0)
    return G / len(y)
'''

CE_FLOAT32 = '''
def cross_entropy(Z, y):
    # float64 for the loss: with logits of +-1000, float32 keeps only ~1e-4 of a loss of order 1
    Z = np.asarray(Z, dtype=np.float64)
    m = Z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(Z - m).sum(axis=1))
    return (lse - Z[np.arange(len(y)), y]).mean()


def cross_entropy_grad(Z, y):
    Z = np.asarray(Z, dtype=np.float32)  # the gradient is a difference of probabilities: float32 is enough
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    P[np.arange(len(y)), y] -= 1
    return P / np.float32(len(y))
'''

CE_STAR = '''
from numpy import *

def _lse(Z):
    m = Z.max(axis=1)
    return m + log(exp(Z - m[:, newaxis]).sum(axis=1))


def cross_entropy(Z, y):
    Z, y = asarray(Z, dtype=float64), asarray(y)
    onehot = (arange(Z.shape[1])[newaxis, :] == y[:, newaxis])
    return float(mean(_lse(Z) - (Z * onehot).sum(axis=1)))


def cross_entropy_grad(Z, y):
    Z, y = asarray(Z, dtype=float64), asarray(y)
    onehot = (arange(Z.shape[1])[newaxis, :] == y[:, newaxis]).astype(float64)
    return (exp(Z - _lse(Z)[:, newaxis]) - onehot) / len(y)
'''

STEP_PER_EXAMPLE = '''
def train_step(params, X, y, lr):
    B = len(X)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    loss = 0.0
    for x, label in zip(X, y):
        z1 = x @ params["W1"] + params["b1"]
        a1 = np.maximum(z1, 0.0)
        z2 = a1 @ params["W2"] + params["b2"]
        e = np.exp(z2 - z2.max())
        p = e / e.sum()
        loss += -np.log(p[label]) / B
        d2 = p.copy()
        d2[label] -= 1.0
        d2 /= B
        d1 = (params["W2"] @ d2) * (z1 > 0)
        grads["W2"] += np.outer(a1, d2)
        grads["b2"] += d2
        grads["W1"] += np.outer(x, d1)
        grads["b1"] += d1
    for k in params:
        params[k] -= lr * grads[k]
    return loss
'''

STEP_REASSIGN = '''
def _forward(params, X):
    z1 = X @ params["W1"] + params["b1"]
    a1 = np.where(z1 > 0, z1, 0.0)
    return z1, a1, a1 @ params["W2"] + params["b2"]


def train_step(params, X, y, lr):
    X = np.asarray(X, dtype=float)
    z1, a1, z2 = _forward(params, X)
    P = np.exp(z2 - z2.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    B = len(y)
    loss = -np.log(P[range(B), y]).mean()
    Y = np.eye(P.shape[1])[y]
    d2 = (P - Y) / B
    d1 = d2 @ params["W2"].T * (z1 > 0)
    new = {"W1": params["W1"] - lr * X.T @ d1, "b1": params["b1"] - lr * d1.sum(0),
           "W2": params["W2"] - lr * a1.T @ d2, "b2": params["b2"] - lr * d2.sum(0)}
    params.update(new)  # new arrays, assigned into the caller's dict
    print(f"loss {loss:.4f}")
    return loss
'''

STEP_EINSUM = '''
def train_step(params, X, y, lr):
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    z1 = np.einsum("bi,ih->bh", X, W1) + b1
    a1 = relu(z1)
    z2 = np.einsum("bh,hc->bc", a1, W2) + b2
    logp = z2 - z2.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    B = X.shape[0]
    loss = -logp[np.arange(B), y].sum() / B
    d2 = np.exp(logp)
    d2[np.arange(B), y] -= 1
    d2 /= B
    d1 = np.einsum("bc,hc->bh", d2, W2) * relu_prime(z1)
    grads = [np.einsum("bi,bh->ih", X, d1), d1.sum(axis=0), np.einsum("bh,bc->hc", a1, d2), d2.sum(axis=0)]
    for p, g in zip((W1, b1, W2, b2), grads):
        p[...] = p - lr * g  # writes into the same arrays
    return np.float64(loss)
'''

STEP_STAR = '''
from numpy import *

def train_step(params, X, y, lr):
    X, y = asarray(X, dtype=float64), asarray(y)
    B = X.shape[0]
    h = X.dot(params["W1"]) + params["b1"]
    mask = h > 0
    a = h * mask
    s = a.dot(params["W2"]) + params["b2"]
    s = s - s.max(axis=1)[:, newaxis]
    lse = log(exp(s).sum(axis=1))
    loss = mean(lse - s[arange(B), y])
    g = exp(s - lse[:, newaxis])
    g[arange(B), y] -= 1
    g = g / B
    gW2, gb2 = a.T.dot(g), g.sum(axis=0)
    gh = g.dot(params["W2"].T) * mask
    gW1, gb1 = X.T.dot(gh), gh.sum(axis=0)
    params["W2"] -= lr * gW2
    params["b2"] -= lr * gb2
    params["W1"] -= lr * gW1
    params["b1"] -= lr * gb1
    return [loss]  # a list of one number
'''

STEP_LISTS = '''
def train_step(params, X, y, lr):
    """Updates params by assigning nested lists (still the new values)."""
    X = np.asarray(X, dtype=float)
    B = len(X)
    z1 = X @ params["W1"] + params["b1"]
    a1 = relu(z1)
    z2 = a1 @ params["W2"] + params["b2"]
    m = z2.max(axis=1, keepdims=True)
    P = np.exp(z2 - m) / np.exp(z2 - m).sum(axis=1, keepdims=True)
    loss = float(np.mean(-np.log(P[np.arange(B), y])))
    P[np.arange(B), y] -= 1
    d2 = P / B
    d1 = (d2 @ params["W2"].T) * relu_prime(z1)
    for name, g in (("W1", X.T @ d1), ("b1", d1.sum(0)), ("W2", a1.T @ d2), ("b2", d2.sum(0))):
        params[name] = (params[name] - lr * g).tolist()
    return loss
'''

TEMPERATURE_JACOBIAN = '''
def softmax_temperature_backward(Z, T, grad_output):
    # the long way: build each row's Jacobian diag(a) - a a^T, then J^T g / T
    out = []
    for z, g in zip(np.asarray(Z, dtype=float), np.asarray(grad_output, dtype=float)):
        u = z / T
        a = np.exp(u - u.max())
        a /= a.sum()
        J = np.diag(a) - np.outer(a, a)
        out.append(J.T @ g / T)
    return np.array(out)
'''

TEMPERATURE_EINSUM = '''
def softmax_temperature_backward(Z, T, grad_output):
    Z = np.asarray(Z, dtype=np.float64)
    P = softmax(Z / T)  # reuses exercise 1
    return (np.einsum("bc,bc->bc", P, grad_output) - P * np.einsum("bc,bc->b", P, grad_output)[:, None]) / T
'''

TEMPERATURE_LOOPS = '''
import math

def softmax_temperature_backward(Z, T, grad_output):
    result = []
    for row, g in zip(Z, grad_output):
        u = [v / T for v in row]
        m = max(u)
        e = [math.exp(v - m) for v in u]
        total = sum(e)
        a = [v / total for v in e]
        dot = sum(ai * gi for ai, gi in zip(a, g))
        result.append([ai * (gi - dot) / T for ai, gi in zip(a, g)])
    return result
'''

TEMPERATURE_FLOAT32 = '''
def softmax_temperature_backward(Z, T, grad_output):
    Z = np.asarray(Z, dtype=np.float32) / np.float32(T)
    G = np.asarray(grad_output, dtype=np.float32)
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    print("float32 temperature backward")
    return (P * G - P * (P * G).sum(axis=1, keepdims=True)) / np.float32(T)
'''

ALTERNATIVES = {
    "softmax": [("python loops and lists", SOFTMAX_LOOPS), ("from numpy import *, newaxis", SOFTMAX_STAR),
                ("scipy.special, print", SOFTMAX_SCIPY), ("float32", SOFTMAX_FLOAT32),
                ("softmax as exp(log_softmax), in-place on a copy", SOFTMAX_VIA_LOG),
                ("apply_along_axis and a helper", SOFTMAX_APPLY)],
    "softmax_jacobian": [("python loops, list of lists", JACOBIAN_LOOPS), ("einsum", JACOBIAN_EINSUM),
                         ("from numpy import *, reuses softmax", JACOBIAN_STAR), ("float32", JACOBIAN_FLOAT32),
                         ("symmetric fill loop", JACOBIAN_SYMMETRIC)],
    "cross_entropy": [("python loops, lists", CE_LOOPS), ("reuses exercise 1, numpy scalar", CE_FROM_EXERCISE_1),
                      ("scipy logsumexp, array of one number", CE_SCIPY), ("float32 gradient", CE_FLOAT32),
                      ("from numpy import *, one-hot mask", CE_STAR)],
    "softmax_temperature_backward": [("explicit Jacobian per row", TEMPERATURE_JACOBIAN),
                                     ("einsum, reuses softmax", TEMPERATURE_EINSUM),
                                     ("python lists and math", TEMPERATURE_LOOPS), ("float32, print", TEMPERATURE_FLOAT32)],
    "train_step": [("per-example loop", STEP_PER_EXAMPLE), ("new arrays via dict.update, print", STEP_REASSIGN),
                   ("einsum, p[...] =", STEP_EINSUM), ("from numpy import *, list of one loss", STEP_STAR),
                   ("nested lists assigned into the dict", STEP_LISTS)],
}
