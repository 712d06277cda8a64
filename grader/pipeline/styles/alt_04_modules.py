"""Correct answers to lesson 04 (modules) written unlike the solution."""

_LINEAR_INIT = '''
    def __init__(self, d_in, d_out, rng=None):
        gen = np.random.default_rng(rng)
        self.d_in, self.d_out = d_in, d_out
        self.param_names = ("W", "b")
        self.W = gen.standard_normal((d_in, d_out)) / np.sqrt(d_in)
        self.b = np.zeros(d_out)
        self.grad_W = np.zeros_like(self.W)
        self.grad_b = np.zeros_like(self.b)
        self.X = None

    def __repr__(self):
        return f"Linear({self.d_in}, {self.d_out})"
'''

LINEAR_EINSUM = '''
class Linear(Module):
''' + _LINEAR_INIT + '''
    def forward(self, X):
        self.cache = np.array(X, dtype=float, copy=True)  # a copy, under another name
        self.calls = getattr(self, "calls", 0) + 1  # an extra attribute
        return np.einsum("bi,io->bo", self.cache, self.W) + self.b

    def backward(self, grad_output):
        self.grad_W += np.einsum("bi,bo->io", self.cache, grad_output)
        self.grad_b += np.ones(len(grad_output)) @ grad_output
        return np.einsum("bo,io->bi", grad_output, self.W)
'''

LINEAR_LOOPS = '''
class Linear(Module):
''' + _LINEAR_INIT + '''
    def forward(self, X):
        self.X = X
        return np.array([np.dot(x, self.W) + self.b for x in X])

    def backward(self, grad_output):
        rows = []
        for x, g in zip(self.X, grad_output):  # one example at a time
            self.grad_W += np.outer(x, g)
            self.grad_b += g
            rows.append(self.W @ g)
        return np.stack(rows)
'''

LINEAR_STAR = '''
from numpy import *

class Linear(Module):
''' + _LINEAR_INIT + '''
    def forward(self, X):
        self.X = asarray(X)
        return dot(self.X, self.W) + self.b[newaxis, :]

    def backward(self, grad_output):
        self.grad_W = self.grad_W + transpose(self.X).dot(grad_output)  # new arrays, same values
        self.grad_b = self.grad_b + sum(grad_output, axis=0)
        return dot(grad_output, transpose(self.W))
'''

LINEAR_HISTORY = '''
class Linear(Module):
''' + _LINEAR_INIT + '''
    def _affine(self, X):
        return X @ self.W + self.b

    def forward(self, X):
        self.inputs = getattr(self, "inputs", [])[-1:] + [X]  # keeps the last two inputs
        return self._affine(X)

    def backward(self, grad_output):
        X = self.inputs[-1]
        dW, db = X.T @ grad_output, grad_output.sum(axis=0)
        np.add(self.grad_W, dW, out=self.grad_W)
        np.add(self.grad_b, db, out=self.grad_b)
        return (self.W @ grad_output.T).T
'''

LINEAR_FLOAT32 = '''
class Linear(Module):
''' + _LINEAR_INIT + '''
    def forward(self, X):
        self.X = np.asarray(X, dtype=np.float32)
        return self.X @ self.W.astype(np.float32) + self.b.astype(np.float32)

    def backward(self, grad_output):
        G = np.asarray(grad_output, dtype=np.float32)
        self.grad_W += self.X.T @ G
        self.grad_b += G.sum(axis=0)
        return G @ self.W.T.astype(np.float32)
'''

TANH_OUTPUT = '''
class Tanh(Module):
    def __init__(self):
        self.a = None

    def forward(self, X):
        self.a = np.tanh(X)  # caches the output
        return self.a

    def backward(self, grad_output):
        return grad_output * (1.0 - self.a * self.a)  # 1 - a^2 with a = tanh(z)

    def __repr__(self):
        return "Tanh()"
'''

TANH_COSH = '''
class Tanh(Module):
    def __init__(self):
        self.z = None

    def forward(self, X):
        self.z = np.array(X, copy=True)
        return np.sinh(self.z) / np.cosh(self.z)

    def backward(self, grad_output):
        return grad_output / np.cosh(self.z) ** 2  # sech^2

    def __repr__(self):
        return "Tanh()"
'''

TANH_STAR = '''
from numpy import *

def _sigmoid(x):
    return 1.0 / (1.0 + exp(-x))


class Tanh(Module):
    def __init__(self):
        self.z = None

    def forward(self, X):
        self.z = asarray(X, dtype=float64)
        return 2.0 * _sigmoid(2.0 * self.z) - 1.0  # tanh(z) = 2 sigmoid(2z) - 1

    def backward(self, grad_output):
        s = _sigmoid(2.0 * self.z)
        return multiply(grad_output, 4.0 * s * (1.0 - s))

    def __repr__(self):
        return "Tanh()"
'''

TANH_LISTS = '''
import math

class Tanh(Module):
    def __init__(self):
        self.z = None

    def forward(self, X):
        self.z = [[float(v) for v in row] for row in X]
        return [[math.tanh(v) for v in row] for row in self.z]  # nested lists

    def backward(self, grad_output):
        return [[g * (1.0 - math.tanh(v) ** 2) for g, v in zip(grow, zrow)]
                for grow, zrow in zip(grad_output, self.z)]

    def __repr__(self):
        return "Tanh()"
'''

TANH_FLOAT32 = '''
class Tanh(Module):
    def __init__(self):
        self.z = None

    def forward(self, X):
        self.z = np.asarray(X, dtype=np.float32)
        return np.tanh(self.z)

    def backward(self, grad_output):
        return np.asarray(grad_output, dtype=np.float32) * (1 - np.tanh(self.z) ** 2)

    def __repr__(self):
        return "Tanh()"
'''

_SEQ_REST = '''
    def named_parameters(self, prefix=""):
        return collect_named_parameters(self, prefix)

    def named_gradients(self, prefix=""):
        pairs = []
        for name, _ in self.named_parameters():
            *path, param = name.split(".")
            module = self
            for key in path:
                module = module.layers[int(key)]
            pairs.append((prefix + name, getattr(module, "grad_" + param)))
        return pairs

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        return "Sequential(" + ", ".join(repr(layer) for layer in self.layers) + ")"
'''

SEQ_REDUCE = '''
from functools import reduce

class Sequential(Module):
    def __init__(self, *layers):
        self.layers = tuple(layers)  # a tuple

    def forward(self, X):
        return reduce(lambda A, layer: layer.forward(A), self.layers, X)

    def backward(self, grad_output):
        return reduce(lambda G, layer: layer.backward(G), self.layers[::-1], grad_output)
''' + _SEQ_REST

SEQ_RECURSION = '''
class Sequential(Module):
    def __init__(self, *layers):
        self.layers = list(layers)

    def _forward_from(self, i, X):
        return X if i == len(self.layers) else self._forward_from(i + 1, self.layers[i].forward(X))

    def _backward_from(self, i, G):
        return G if i < 0 else self._backward_from(i - 1, self.layers[i].backward(G))

    def forward(self, X):
        return self._forward_from(0, X)

    def backward(self, grad_output):
        return self._backward_from(len(self.layers) - 1, grad_output)
''' + _SEQ_REST

SEQ_WHILE = '''
class Sequential(Module):
    def __init__(self, *layers):
        self.layers = list(layers)
        self.trace = []  # an extra attribute

    def forward(self, X):
        out = X
        i = 0
        while i < len(self.layers):
            out = self.layers[i].forward(out)
            i += 1
        self.trace.append("forward")
        return out

    def backward(self, grad_output):
        i = len(self.layers) - 1
        while i >= 0:
            grad_output = self.layers[i].backward(grad_output)
            i -= 1
        return grad_output
''' + _SEQ_REST

SEQ_PRINTS = '''
class Sequential(Module):
    def __init__(self, *layers):
        self.layers = [layer for layer in layers]

    def forward(self, X):
        outputs = [X]
        for layer in self.layers:
            outputs.append(layer.forward(outputs[-1]))
        print(f"forward through {len(self.layers)} layers")
        return outputs[-1]

    def backward(self, grad_output):
        grads = [grad_output]
        for k in range(len(self.layers) - 1, -1, -1):
            grads.append(self.layers[k].backward(grads[-1]))
        return grads[-1]
''' + _SEQ_REST

NAMED_RECURSIVE = '''
def collect_named_parameters(container, prefix=""):
    pairs = []
    for i, layer in enumerate(container.layers):
        child = f"{prefix}{i}."
        if isinstance(layer, Sequential):
            pairs += collect_named_parameters(layer, child)  # recurse here
        else:
            pairs += layer.named_parameters(child)  # a leaf or another kind of container
    return pairs
'''

NAMED_GENERATOR = '''
def collect_named_parameters(container, prefix=""):
    for i, layer in enumerate(container.layers):
        yield from layer.named_parameters(prefix + str(i) + ".")
'''

NAMED_LISTS = '''
def collect_named_parameters(container, prefix=""):
    out = []
    for i, layer in enumerate(container.layers):
        for name, array in layer.named_parameters("%s%d." % (prefix, i)):
            out.append([name, array])  # [name, array] lists
    return out
'''

NAMED_TUPLE = '''
def collect_named_parameters(container, prefix=""):
    print("collecting from", type(container).__name__)
    return tuple(pair for i, layer in enumerate(container.layers)
                 for pair in layer.named_parameters(prefix + str(i) + "."))
'''

NAMED_COMPREHENSION = '''
import itertools

def collect_named_parameters(container, prefix=""):
    per_child = [layer.named_parameters("{}{}.".format(prefix, i)) for i, layer in enumerate(container.layers)]
    return list(itertools.chain.from_iterable(per_child))
'''

_SGD_ZERO = '''
    def __init__(self, model, lr):
        self.model, self.lr = model, float(lr)

    def zero_grad(self):
        self.model.zero_grad()
'''

SGD_NAMED = '''
class SGD:
''' + _SGD_ZERO + '''
    def step(self):
        grads = dict(self.model.named_gradients())
        for name, p in self.model.named_parameters():
            p -= self.lr * grads[name]
'''

SGD_OUT = '''
class SGD:
''' + _SGD_ZERO + '''
    def step(self):
        for p, g in zip(self.model.parameters(), self.model.gradients()):
            np.subtract(p, self.lr * g, out=p)
'''

SGD_SLICE = '''
class SGD:
''' + _SGD_ZERO + '''
    def step(self):
        params, grads = self.model.parameters(), self.model.gradients()
        for k in range(len(params)):
            params[k][...] = params[k] - self.lr * grads[k]
        self.steps = getattr(self, "steps", 0) + 1
'''

SGD_STAR = '''
from numpy import *

class SGD:
''' + _SGD_ZERO + '''
    def step(self):
        for (name, p), (_, g) in zip(self.model.named_parameters(), self.model.named_gradients()):
            p -= multiply(self.lr, g)
'''

SGD_ZERO_AFTER = '''
class SGD:
''' + _SGD_ZERO + '''
    def step(self):
        pairs = list(zip(self.model.parameters(), self.model.gradients()))
        for p, g in pairs:
            p += -self.lr * g
        print(f"updated {len(pairs)} arrays")
'''

LN_HEAD = '''
class LayerNorm(Module):
    def __init__(self, d, eps=1e-5):
        self.d, self.eps = d, eps
        self.param_names = ("gamma", "beta")
        self.gamma, self.beta = np.ones(d), np.zeros(d)
        self.grad_gamma, self.grad_beta = np.zeros(d), np.zeros(d)
'''

LN_JACOBIAN = LN_HEAD + '''
    def forward(self, X):
        self.X = np.array(X, dtype=float)
        mu = self.X.mean(axis=1, keepdims=True)
        self.s = np.sqrt(self.X.var(axis=1, keepdims=True) + self.eps)
        self.X_hat = (self.X - mu) / self.s
        return self.gamma * self.X_hat + self.beta

    def backward(self, grad_output):
        # the long way: the full (d, d) Jacobian of X_hat for each row
        B, d = self.X.shape
        out = np.empty((B, d))
        for n in range(B):
            xh, s = self.X_hat[n], self.s[n, 0]
            J = (np.eye(d) - 1.0 / d - np.outer(xh, xh) / d) / s
            out[n] = J.T @ (grad_output[n] * self.gamma)
        self.grad_gamma = self.grad_gamma + (grad_output * self.X_hat).sum(axis=0)
        self.grad_beta = self.grad_beta + grad_output.sum(axis=0)
        return out
'''

LN_THREE_PATHS = LN_HEAD + '''
    def forward(self, X):
        # caches the centred input and the variance, the textbook's three-path derivation below
        X = np.asarray(X, dtype=np.float64)
        self.xc = X - X.mean(axis=1, keepdims=True)
        self.var = (self.xc ** 2).mean(axis=1, keepdims=True)
        self.inv = 1.0 / np.sqrt(self.var + self.eps)
        return self.gamma * self.xc * self.inv + self.beta

    def backward(self, grad_output):
        d = self.xc.shape[1]
        g = grad_output * self.gamma
        dvar = np.sum(g * self.xc, axis=1, keepdims=True) * -0.5 * self.inv ** 3
        dmu = -np.sum(g * self.inv, axis=1, keepdims=True) + dvar * np.mean(-2.0 * self.xc, axis=1, keepdims=True)
        np.add(self.grad_gamma, np.sum(grad_output * self.xc * self.inv, axis=0), out=self.grad_gamma)
        np.add(self.grad_beta, np.sum(grad_output, axis=0), out=self.grad_beta)
        return g * self.inv + dvar * 2.0 * self.xc / d + dmu / d
'''

LN_LOOPS = LN_HEAD + '''
    def forward(self, X):
        import math
        self.rows = []
        out = []
        for row in X:
            mu = sum(row) / len(row)
            s = math.sqrt(sum((v - mu) ** 2 for v in row) / len(row) + self.eps)
            xh = [(v - mu) / s for v in row]
            self.rows.append((xh, s))
            out.append([self.gamma[j] * xh[j] + self.beta[j] for j in range(len(row))])
        return out

    def backward(self, grad_output):
        grads = []
        for (xh, s), G in zip(self.rows, grad_output):
            d = len(xh)
            g = [G[j] * self.gamma[j] for j in range(d)]
            mg = sum(g) / d
            mgx = sum(g[j] * xh[j] for j in range(d)) / d
            grads.append([(g[j] - mg - xh[j] * mgx) / s for j in range(d)])
            for j in range(d):
                self.grad_gamma[j] += G[j] * xh[j]
                self.grad_beta[j] += G[j]
        print("LayerNorm backward over", len(grads), "rows")
        return grads
'''

LN_FLOAT32_EINSUM = LN_HEAD + '''
    def forward(self, X):
        X = np.asarray(X, dtype=np.float32)
        mu = np.einsum("bd->b", X)[:, None] / X.shape[1]
        self.s = np.sqrt(np.einsum("bd,bd->b", X - mu, X - mu)[:, None] / X.shape[1] + np.float32(self.eps))
        self.y = (X - mu) / self.s
        return self.gamma.astype(np.float32) * self.y + self.beta.astype(np.float32)

    def backward(self, grad_output):
        g = np.asarray(grad_output, dtype=np.float32) * self.gamma.astype(np.float32)
        d = g.shape[1]
        self.grad_gamma += np.einsum("bd,bd->d", grad_output, self.y)
        self.grad_beta += np.einsum("bd->d", grad_output)
        return (d * g - g.sum(axis=1, keepdims=True) - self.y * np.einsum("bd,bd->b", g, self.y)[:, None]) / (d * self.s)
'''

QUIZ_FLOAT = '''
answer_weight_matrices = 2.0
answer_init = "C"
answer_deep = " b "
'''

QUIZ_NUMPY = '''
answer_weight_matrices = np.int64(2)
answer_init = np.str_("c")
answer_deep = "B"
'''

QUIZ_ARRAY = '''
answer_weight_matrices = np.array([2])
answer_init, answer_deep = "c", "b"
print("answered")
'''

QUIZ_EXPR = '''
matrices = ["W1", "W2"]
answer_weight_matrices = len(matrices)
answer_init = "abc"[2]
answer_deep = chr(ord("a") + 1)
'''

ALTERNATIVES = {
    "linear": [("einsum, cached copy, extra attribute", LINEAR_EINSUM), ("per-example loops", LINEAR_LOOPS),
               ("from numpy import *, re-assigned gradients", LINEAR_STAR),
               ("input history, np.add(out=)", LINEAR_HISTORY), ("float32", LINEAR_FLOAT32)],
    "tanh": [("caches the output, 1 - a^2", TANH_OUTPUT), ("sinh/cosh, sech^2", TANH_COSH),
             ("from numpy import *, via sigmoid", TANH_STAR), ("math and nested lists", TANH_LISTS),
             ("float32", TANH_FLOAT32)],
    "sequential": [("functools.reduce, tuple of layers", SEQ_REDUCE), ("recursion", SEQ_RECURSION),
                   ("while loops, extra attribute", SEQ_WHILE), ("lists of outputs, print", SEQ_PRINTS)],
    "named_parameters": [("explicit recursion", NAMED_RECURSIVE), ("generator", NAMED_GENERATOR),
                         ("[name, array] lists", NAMED_LISTS), ("tuple, print", NAMED_TUPLE),
                         ("itertools.chain", NAMED_COMPREHENSION)],
    "sgd": [("named parameters and a dict of gradients", SGD_NAMED), ("np.subtract(out=)", SGD_OUT),
            ("index loop, p[...] =", SGD_SLICE), ("from numpy import *", SGD_STAR),
            ("p += -lr * g, print", SGD_ZERO_AFTER)],
    "layer_norm": [("per-row Jacobian, re-assigned gradients", LN_JACOBIAN), ("three paths, np.add(out=)", LN_THREE_PATHS),
                   ("python lists, print", LN_LOOPS), ("float32 and einsum", LN_FLOAT32_EINSUM)],
    "quiz": [("float and upper case", QUIZ_FLOAT), ("numpy scalars", QUIZ_NUMPY), ("one-entry array, print", QUIZ_ARRAY),
             ("computed", QUIZ_EXPR)],
}
