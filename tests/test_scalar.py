"""course_lib.scalar.Value: accumulation, deep graphs, every op against central differences and PyTorch."""
import math

import pytest

from course_lib.scalar import Value

# Each op as (function on Values, the same maths on floats, input points away from kinks/poles).
OPS = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "radd": (lambda a, b: 2.5 + a, lambda a, b: 2.5 + a),
    "rsub": (lambda a, b: 2.5 - a, lambda a, b: 2.5 - a),
    "rmul": (lambda a, b: 2.5 * a, lambda a, b: 2.5 * a),
    "rdiv": (lambda a, b: 2.5 / a, lambda a, b: 2.5 / a),
    "neg": (lambda a, b: -a, lambda a, b: -a),
    "pow": (lambda a, b: a ** 3, lambda a, b: a ** 3),
    "pow_frac": (lambda a, b: (a * a) ** 0.5, lambda a, b: (a * a) ** 0.5),
    "exp": (lambda a, b: a.exp(), lambda a, b: math.exp(a)),
    "log": (lambda a, b: (a * a).log(), lambda a, b: math.log(a * a)),
    "tanh": (lambda a, b: a.tanh(), lambda a, b: math.tanh(a)),
    "sigmoid": (lambda a, b: a.sigmoid(), lambda a, b: 1 / (1 + math.exp(-a))),
    "relu": (lambda a, b: a.relu(), lambda a, b: max(a, 0.0)),
    "composite": (lambda a, b: (a * b + b.tanh()).sigmoid() * a - (b * b).exp() / 3,
                  lambda a, b: 1 / (1 + math.exp(-(a * b + math.tanh(b)))) * a - math.exp(b * b) / 3),
}


def test_reused_node_accumulates():
    a = Value(3.0)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0
    assert b.grad == 2.0


def test_shared_subexpression_in_product():
    x = Value(2.0)
    y = x * x * x  # x used three times
    y.backward()
    assert y.data == 8.0
    assert x.grad == pytest.approx(12.0)


def test_chain_of_ten_thousand_nodes_has_no_recursion_error():
    x = Value(0.3)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.backward()  # recursion would need 20,000 frames
    assert x.grad == pytest.approx(1.0001 ** 10_000, rel=1e-9)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("point", [(0.7, -1.3), (-1.9, 0.4), (2.3, 1.1)])
def test_op_gradient_matches_central_differences(name, point):
    fv, ff = OPS[name]
    a0, b0 = point
    a, b = Value(a0), Value(b0)
    out = fv(a, b)
    out.backward()
    assert out.data == pytest.approx(ff(a0, b0), rel=1e-12, abs=1e-12)
    eps = 1e-6
    num_a = (ff(a0 + eps, b0) - ff(a0 - eps, b0)) / (2 * eps)
    num_b = (ff(a0, b0 + eps) - ff(a0, b0 - eps)) / (2 * eps)
    assert a.grad == pytest.approx(num_a, rel=1e-6, abs=1e-8)
    assert b.grad == pytest.approx(num_b, rel=1e-6, abs=1e-8)


def test_backward_accumulates_across_calls_and_zero_grad_resets():
    a = Value(1.5)
    out = a * a
    out.backward()
    out.backward()
    assert a.grad == pytest.approx(6.0)  # 2 * (2a)
    out.zero_grad()
    assert a.grad == 0.0


def test_bad_operands_raise_clear_errors():
    with pytest.raises(TypeError, match="expected a Value, int or float, got str"):
        Value(1.0) + "2"
    with pytest.raises(TypeError, match="exponent"):
        Value(2.0) ** Value(2.0)
    with pytest.raises(ValueError, match="positive"):
        Value(-1.0).log()
    with pytest.raises(TypeError, match="real number"):
        Value("abc")


def test_sigmoid_stable_for_large_inputs():
    assert Value(-1000.0).sigmoid().data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_matches_pytorch_float64(name):
    torch = pytest.importorskip("torch")
    fv, _ = OPS[name]
    a0, b0 = 0.7, -1.3
    a, b = Value(a0), Value(b0)
    out = fv(a, b)
    out.backward()

    class T:  # adapt torch tensors to the Value method names used in OPS
        def __init__(self, t): self.t = t
        def __add__(self, o): return T(self.t + _t(o))
        def __radd__(self, o): return T(_t(o) + self.t)
        def __sub__(self, o): return T(self.t - _t(o))
        def __rsub__(self, o): return T(_t(o) - self.t)
        def __mul__(self, o): return T(self.t * _t(o))
        def __rmul__(self, o): return T(_t(o) * self.t)
        def __truediv__(self, o): return T(self.t / _t(o))
        def __rtruediv__(self, o): return T(_t(o) / self.t)
        def __neg__(self): return T(-self.t)
        def __pow__(self, k): return T(self.t ** k)
        def exp(self): return T(self.t.exp())
        def log(self): return T(self.t.log())
        def tanh(self): return T(self.t.tanh())
        def sigmoid(self): return T(self.t.sigmoid())
        def relu(self): return T(self.t.relu())

    def _t(o):
        return o.t if isinstance(o, T) else o

    ta = torch.tensor(a0, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
    tout = fv(T(ta), T(tb)).t
    tout.backward()
    assert out.data == pytest.approx(tout.item(), rel=1e-12)
    assert a.grad == pytest.approx(ta.grad.item() if ta.grad is not None else 0.0, rel=1e-10, abs=1e-14)
    assert b.grad == pytest.approx(tb.grad.item() if tb.grad is not None else 0.0, rel=1e-10, abs=1e-14)
