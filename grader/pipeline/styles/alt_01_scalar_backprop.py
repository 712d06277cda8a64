"""Correct answers to lesson 01 written differently from the solution (see grader/pipeline/styles/__init__.py)."""

_NODE_GIVEN = '''
    # given: built from the operations above
    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-other if isinstance(other, Node) else Node(-other))

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other
'''

ALTERNATIVES = {
    "chain": [
        ("recursive forward, product formula backward, numpy arrays", '''
import numpy as np

def chain_forward(x, ws, phi):
    if len(ws) == 0:
        return np.array([]), np.array([float(x)])
    zs, acts = chain_forward(x, ws[:-1], phi)
    z = ws[-1] * acts[-1]
    return np.append(zs, z), np.append(acts, float(phi(z)))

def chain_backward(ws, zs, acts, y, phi_prime):
    ws, zs, acts = np.asarray(ws, float), np.asarray(zs, float), np.asarray(acts, float)
    dphi = np.array([float(phi_prime(z)) for z in zs])
    L = len(ws)
    grads = np.empty(L)
    for l in range(L):
        # dL/dw_(l+1) = (a_L - y) * prod_(k > l) w_k phi'(z_k) * phi'(z_l) * a_(l-1)
        downstream = np.prod(ws[l + 1:] * dphi[l + 1:])
        grads[l] = (acts[-1] - y) * downstream * dphi[l] * acts[l]
    return grads
'''),
        ("from numpy import *, tuples, deltas list reversed", '''
from numpy import *

def chain_forward(x, ws, phi):
    zs, acts = (), (float64(x),)
    for w in ws:
        zs += (w * acts[-1],)
        acts += (float64(phi(zs[-1])),)
    return zs, acts

def chain_backward(ws, zs, acts, y, phi_prime):
    deltas = []
    upstream = acts[-1] - y
    for w, z in zip(ws[::-1], zs[::-1]):
        deltas.append(upstream * float64(phi_prime(z)))
        upstream = deltas[-1] * w
    deltas.reverse()
    return tuple(d * a for d, a in zip(deltas, acts[:-1]))
'''),
        ("list result as [zs, acts], index loops, prints", '''
def chain_forward(x, ws, phi):
    L = len(ws)
    acts = [0.0] * (L + 1)
    zs = [0.0] * L
    acts[0] = x
    for i in range(L):
        zs[i] = ws[i] * acts[i]
        acts[i + 1] = phi(zs[i]) + 0.0
    print("chain of depth", L, "output", acts[-1])
    return [zs, acts]

def chain_backward(ws, zs, acts, y, phi_prime):
    grads = []
    g = acts[len(ws)] - y
    i = len(ws) - 1
    while i >= 0:
        d = g * phi_prime(zs[i])
        grads.insert(0, float(d * acts[i]))
        g = d * ws[i]
        i -= 1
    return grads
'''),
        ("float32", '''
import numpy as np

def chain_forward(x, ws, phi):
    acts = [np.float32(x)]
    zs = []
    for w in ws:
        zs.append(np.float32(w) * acts[-1])
        acts.append(np.float32(phi(np.float64(zs[-1]))))
    return zs, acts

def chain_backward(ws, zs, acts, y, phi_prime):
    g = np.float32(acts[-1]) - np.float32(y)
    out = [np.float32(0)] * len(ws)
    for l in reversed(range(len(ws))):
        delta = g * np.float32(phi_prime(np.float64(zs[l])))
        out[l] = delta * np.float32(acts[l])
        g = delta * np.float32(ws[l])
    return out
'''),
        ("helper functions, dictionary of deltas", '''
def _layer(w, a, phi):
    z = w * a
    return z, float(phi(z))

def chain_forward(x, ws, phi):
    zs, acts = [], [x]
    for w in ws:
        z, a = _layer(w, acts[-1], phi)
        zs.append(z)
        acts.append(a)
    return zs, acts

def chain_backward(ws, zs, acts, y, phi_prime):
    L = len(ws)
    delta = {L: (acts[L] - y) * phi_prime(zs[L - 1])}
    for l in range(L - 1, 0, -1):
        delta[l] = delta[l + 1] * ws[l] * phi_prime(zs[l - 1])
    return [float(delta[l] * acts[l - 1]) for l in range(1, L + 1)]
'''),
    ],
    "worked_gradients": [
        ("per-example loops with scalar formulas", '''
import numpy as np

def worked_gradients(X, W, V, T):
    def s(v):
        return 1.0 / (1.0 + np.exp(-v))
    gW, gV = np.zeros((2, 2)), np.zeros((2, 2))
    for x, t in zip(X, T):
        h = [s(x[0] * W[0, j] + x[1] * W[1, j]) for j in range(2)]
        yv = [s(h[0] * V[0, k] + h[1] * V[1, k]) for k in range(2)]
        dy = [2 * (yv[k] - t[k]) * yv[k] * (1 - yv[k]) for k in range(2)]
        for i in range(2):
            for k in range(2):
                gV[i, k] += h[i] * dy[k]
        dh = [(V[j, 0] * dy[0] + V[j, 1] * dy[1]) * h[j] * (1 - h[j]) for j in range(2)]
        for i in range(2):
            for j in range(2):
                gW[i, j] += x[i] * dh[j]
    return gW, gV
'''),
        ("einsum, from numpy import *, sigmoid_prime at the pre-activations", '''
from numpy import *
from course_lib.functional import sigmoid, sigmoid_prime

def worked_gradients(X, W, V, T):
    Zh = einsum("bi,ij->bj", X, W)
    H = sigmoid(Zh)
    Zy = einsum("bj,jk->bk", H, V)
    Y = sigmoid(Zy)
    dZy = 2 * (Y - T) * sigmoid_prime(Zy)
    dZh = einsum("bk,jk->bj", dZy, V) * sigmoid_prime(Zh)
    return einsum("bi,bj->ij", X, dZh), einsum("bj,bk->jk", H, dZy)
'''),
        ("nested lists in a list, helper layer function", '''
import numpy as np
from course_lib.functional import sigmoid

def dense_backward(inp, out, grad_out, weights):
    delta = grad_out * out * (1 - out)
    return np.dot(inp.T, delta), np.dot(delta, weights.T)

def worked_gradients(X, W, V, T):
    H = sigmoid(np.dot(X, W))
    Y = sigmoid(np.dot(H, V))
    grad_V, grad_H = dense_backward(H, Y, 2 * (Y - T), V)
    grad_W, _ = dense_backward(X, H, grad_H, W)
    return [grad_W.tolist(), grad_V.tolist()]
'''),
        ("outer products summed, stable sigmoid, prints the loss", '''
import numpy as np

def _sig(z):
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))

def worked_gradients(X, W, V, T):
    H = _sig(X @ W)
    Y = _sig(H @ V)
    print("loss", float(((Y - T) ** 2).sum()))
    dY = (Y - T) + (Y - T)
    dZy = dY * (Y - Y ** 2)
    dZh = (dZy @ V.T) * (H - H ** 2)
    grad_V = sum(np.outer(h, d) for h, d in zip(H, dZy))
    grad_W = sum(np.outer(x, d) for x, d in zip(X, dZh))
    return (grad_W, grad_V)
'''),
    ],
    "node_ops": [
        ("local derivatives stored on the node, one generic _backward", '''
import math

class Node:
    def __init__(self, data, _children=(), _op="", label=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_children)
        self._op = _op
        self.label = label
        self._local = ()
        self._backward = lambda: None

    def __repr__(self):
        return f"Node(data={self.data:.6g}, grad={self.grad:.6g})"

    def _with_rule(self, local):
        self._local = tuple(local)

        def _backward():
            for child, d in zip(self._prev, self._local):
                child.grad += d * self.grad

        self._backward = _backward
        return self

    def __add__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        return Node(self.data + other.data, (self, other), "+")._with_rule((1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        return Node(self.data * other.data, (self, other), "*")._with_rule((other.data, self.data))

    def sigmoid(self):
        x = self.data
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return Node(s, (self,), "sigmoid")._with_rule((s * (1.0 - s),))

    def square(self):
        return Node(self.data ** 2, (self,), "square")._with_rule((2.0 * self.data,))
''' + _NODE_GIVEN),
        ("derivatives from out.data, explicit a = a + b", '''
import math

class Node:
    def __init__(self, data, _children=(), _op="", label=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_children)
        self._op = _op
        self.label = label
        self._backward = lambda: None
        self.created_by = _op or "leaf"

    def __add__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        out = Node(self.data + other.data, (self, other), "+")

        def _backward():
            g = out.grad
            self.grad = self.grad + g
            other.grad = other.grad + g

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        out = Node(self.data * other.data, (self, other), "*")

        def _backward():
            a, b = self.data, other.data
            self.grad = self.grad + b * out.grad
            other.grad = other.grad + a * out.grad

        out._backward = _backward
        return out

    def sigmoid(self):
        x = self.data
        out = Node(0.5 * (1.0 + math.tanh(0.5 * x)), (self,), "sigmoid")

        def _backward():
            self.grad = self.grad + out.data * (1.0 - out.data) * out.grad

        out._backward = _backward
        return out

    def square(self):
        out = Node(self.data * self.data, (self,), "square")

        def _backward():
            self.grad = self.grad + (self.data + self.data) * out.grad

        out._backward = _backward
        return out
''' + _NODE_GIVEN),
        ("a helper that adds into a node, lists of (node, derivative)", '''
import math

def _accumulate(pairs, upstream):
    for node, local in pairs:
        node.grad += local * upstream

class Node:
    def __init__(self, data, _children=(), _op="", label=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_children)
        self._op = _op
        self.label = label
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        out = Node(self.data + other.data, (self, other), "+")
        out._backward = lambda: _accumulate([(self, 1.0), (other, 1.0)], out.grad)
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        out = Node(self.data * other.data, (self, other), "*")
        out._backward = lambda: _accumulate([(self, other.data), (other, self.data)], out.grad)
        return out

    def sigmoid(self):
        s = 1.0 / (1.0 + math.exp(-self.data)) if self.data >= 0 else 1.0 - 1.0 / (1.0 + math.exp(self.data))
        out = Node(s, (self,), "sigmoid")
        out._backward = lambda: _accumulate([(self, s - s * s)], out.grad)
        return out

    def square(self):
        out = Node(self.data ** 2, (self,), "square")
        out._backward = lambda: _accumulate([(self, 2 * self.data)], out.grad)
        return out
''' + _NODE_GIVEN),
        ("math.exp sigmoid derivative, out.grad factored first, a print in __repr__", '''
import math

class Node:
    def __init__(self, data, _children=(), _op="", label=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_children)
        self._op = _op
        self.label = label
        self._backward = lambda: None

    def __repr__(self):
        return "Node(%g, grad=%g)" % (self.data, self.grad)

    def __add__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        out = Node(self.data + other.data, (self, other), "+")

        def _backward():
            for node in (self, other):
                node.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        out = Node(self.data * other.data, (self, other), "*")

        def _backward():
            g = out.grad
            self.grad += g * other.data
            other.grad += g * self.data

        out._backward = _backward
        return out

    def sigmoid(self):
        x = self.data
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        out = Node(s, (self,), "sigmoid")

        def _backward():
            e = math.exp(-abs(x))
            self.grad += out.grad * e / (1.0 + e) ** 2

        out._backward = _backward
        return out

    def square(self):
        out = Node(self.data ** 2, (self,), "square")

        def _backward():
            self.grad += out.grad * self.data * 2

        out._backward = _backward
        return out
''' + _NODE_GIVEN),
    ],
    "node_div": [
        ("derivatives from out.data, -= for the divisor", '''
def node_truediv(self, other):
    other = other if isinstance(other, Node) else Node(other)
    out = Node(self.data / other.data, (self, other), "/")

    def _backward():
        self.grad += out.grad / other.data
        other.grad -= out.data / other.data * out.grad      # x / y**2 = out / y

    out._backward = _backward
    return out


Node.__truediv__ = node_truediv
'''),
        ("x * y**-1 written out, a = a + b", '''
def node_truediv(self, other):
    if not isinstance(other, Node):
        other = Node(float(other))
    inv = 1.0 / other.data
    out = Node(self.data * inv, (self, other), "/")

    def _backward():
        self.grad = self.grad + inv * out.grad
        other.grad = other.grad + self.data * (-inv * inv) * out.grad

    out._backward = _backward
    return out


Node.__truediv__ = node_truediv
'''),
        ("local derivatives computed in the forward pass, a helper that adds", '''
def _add_grad(node, amount):
    node.grad += amount


def node_truediv(self, other):
    other = other if isinstance(other, Node) else Node(other)
    x, y = self.data, other.data
    d_x, d_y = 1.0 / y, -x / (y * y)
    out = Node(x / y, (self, other), "/")

    def _backward():
        for node, local in ((self, d_x), (other, d_y)):
            _add_grad(node, local * out.grad)

    out._backward = _backward
    return out


Node.__truediv__ = node_truediv
'''),
        ("math.pow, a print, numpy float64 gradients", '''
import math

import numpy as np


def node_truediv(self, other):
    other = other if isinstance(other, Node) else Node(other)
    out = Node(self.data / other.data, (self, other), "/")

    def _backward():
        g = np.float64(out.grad)
        self.grad += g * math.pow(other.data, -1)
        other.grad += -g * self.data * math.pow(other.data, -2)

    out._backward = _backward
    return out


Node.__truediv__ = node_truediv
print("division installed")
'''),
    ],
    "node_backward": [
        ("Kahn's algorithm: count consumers, release a node when all have run", '''
def topological_order(root):
    nodes, seen, todo = [], {id(root)}, [root]
    while todo:
        node = todo.pop()
        nodes.append(node)
        for child in node._prev:
            if id(child) not in seen:
                seen.add(id(child))
                todo.append(child)
    consumers = {id(n): 0 for n in nodes}
    for n in nodes:
        for child in n._prev:
            consumers[id(child)] += 1
    ready, reverse_order = [root], []
    while ready:
        node = ready.pop()
        reverse_order.append(node)
        for child in node._prev:
            consumers[id(child)] -= 1
            if consumers[id(child)] == 0:
                ready.append(child)
    return reverse_order[::-1]


def node_backward(root):
    root.grad = 1.0
    for node in topological_order(root)[::-1]:
        node._backward()


Node.backward = node_backward
Node.topological_order = topological_order
'''),
        ("iterative DFS with a stack of iterators, tuple result", '''
def topological_order(root):
    order, done = [], set()
    stack = [(root, iter(root._prev))]
    done.add(id(root))
    while stack:
        node, children = stack[-1]
        for child in children:
            if id(child) not in done:
                done.add(id(child))
                stack.append((child, iter(child._prev)))
                break
        else:
            stack.pop()
            order.append(node)
    return tuple(order)


def node_backward(root):
    order = topological_order(root)
    root.grad = 1
    for k in range(len(order) - 1, -1, -1):
        order[k]._backward()


Node.backward = node_backward
Node.topological_order = topological_order
'''),
        ("Kahn's algorithm from the leaves, level by level", '''
def _all_nodes(root):
    found, todo = {id(root): root}, [root]
    while todo:
        for child in todo.pop()._prev:
            if id(child) not in found:
                found[id(child)] = child
                todo.append(child)
    return list(found.values())


def topological_order(root):
    nodes = _all_nodes(root)
    parents = {id(n): [] for n in nodes}
    waiting = {}
    for node in nodes:
        inputs = {id(c): c for c in node._prev}
        waiting[id(node)] = len(inputs)
        for key in inputs:
            parents[key].append(node)
    level = [n for n in nodes if waiting[id(n)] == 0]
    order = []
    while level:
        order.extend(level)
        following = []
        for node in level:
            for parent in parents[id(node)]:
                waiting[id(parent)] -= 1
                if waiting[id(parent)] == 0:
                    following.append(parent)
        level = following
    return order


def node_backward(root):
    root.grad = 1.0
    for node in reversed(topological_order(root)):
        node._backward()
    print("backward done")


Node.backward = node_backward
Node.topological_order = topological_order
'''),
        ("node_backward with its own pending-consumer counts, reversed postorder from two stacks", '''
def topological_order(root):
    visited, postorder = set(), []
    stack = [root]
    expanded = set()
    while stack:
        node = stack[-1]
        if id(node) in expanded:
            stack.pop()
            if id(node) not in visited:
                visited.add(id(node))
                postorder.append(node)
            continue
        expanded.add(id(node))
        for child in reversed(node._prev):
            if id(child) not in expanded:
                stack.append(child)
    return postorder


def node_backward(root):
    pending = {}
    for node in topological_order(root):
        for child in node._prev:
            pending[id(child)] = pending.get(id(child), 0) + 1
    root.grad = 1.0
    ready = [root]
    while ready:
        node = ready.pop()
        node._backward()
        for child in node._prev:
            pending[id(child)] -= 1
            if pending[id(child)] == 0:
                ready.append(child)


Node.backward = node_backward
Node.topological_order = topological_order
'''),
    ],
}
