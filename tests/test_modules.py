"""course_lib.modules: every module's gradients against central differences and torch.nn; dotted names."""
import numpy as np
import pytest
from conftest import central_diff, rel_err

from course_lib.modules import Identity, Linear, Module, ReLU, Sequential, Sigmoid, Tanh, mlp

LEAVES = {
    "linear": lambda rng: Linear(4, 3, init="xavier", rng=rng),
    "relu": lambda rng: ReLU(),
    "tanh": lambda rng: Tanh(),
    "sigmoid": lambda rng: Sigmoid(),
    "identity": lambda rng: Identity(),
    "sequential": lambda rng: Sequential(Linear(4, 5, rng=rng), Tanh(), Sequential(Linear(5, 5, rng=rng), ReLU()),
                                         Linear(5, 3, rng=rng)),
}


def _input(rng, B, d):
    X = rng.uniform(-2, 2, size=(B, d))
    X[np.abs(X) < 0.05] = 0.3  # keep away from the ReLU kink
    return X


@pytest.mark.parametrize("B", [1, 7])
@pytest.mark.parametrize("kind", sorted(LEAVES))
def test_input_and_parameter_gradients_match_central_differences(kind, B):
    rng = np.random.default_rng(B)
    module = LEAVES[kind](rng)
    for p in module.parameters():  # non-zero biases so a dropped bias shows
        if p.ndim == 1:
            p[:] = rng.standard_normal(p.shape)
    X = _input(rng, B, 4)
    out = module.forward(X)
    G = rng.standard_normal(out.shape)  # random upstream gradient
    module.zero_grad()
    grad_input = module.backward(G)

    def L(_=None):
        return float(np.sum(module.forward(X) * G))

    assert grad_input.shape == X.shape
    num_X = central_diff(lambda X_: float(np.sum(module.forward(X_) * G)), X)
    assert rel_err(grad_input, num_X) <= 1e-7
    for (name, p), (gname, g) in zip(module.named_parameters(), module.named_gradients()):
        assert name == gname
        snapshot = p.copy()

        def Lp(v, p=p):
            p[...] = v
            return L()

        num = central_diff(Lp, snapshot)
        p[...] = snapshot
        assert g.shape == p.shape
        assert rel_err(g, num) <= 1e-7, name


def test_nested_sequential_dotted_names():
    net = Sequential(Linear(2, 3), ReLU(), Sequential(Tanh(), Linear(3, 1)))
    names = [n for n, _ in net.named_parameters()]
    assert names == ["0.W", "0.b", "2.1.W", "2.1.b"]
    assert [n for n, _ in net.named_gradients()] == names
    assert net.num_parameters() == 2 * 3 + 3 + 3 * 1 + 1
    assert net.parameters()[2] is net[2][1].W  # the same arrays, so updates in place reach the layers


def test_gradients_accumulate_until_zero_grad(rng):
    lin = Linear(3, 2, rng=rng)
    X, G = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    lin.forward(X)
    lin.backward(G)
    once = lin.grad_W.copy()
    lin.forward(X)
    lin.backward(G)
    np.testing.assert_allclose(lin.grad_W, 2 * once)
    lin.zero_grad()
    assert not lin.grad_W.any() and not lin.grad_b.any()


def test_linear_holds_the_documented_shapes_and_init_scale():
    lin = Linear(400, 300, init="he", rng=0)
    assert lin.W.shape == (400, 300) and lin.b.shape == (300,)
    assert lin.grad_W.shape == (400, 300) and lin.grad_b.shape == (300,)
    assert lin.W.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)


def test_bad_input_shapes_name_expected_and_actual():
    lin = Linear(3, 2, rng=0)
    with pytest.raises(ValueError, match=r"Linear.forward X: expected shape \(B, 3\), got \(4, 5\)"):
        lin.forward(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"2-d array, got shape \(3,\)"):
        lin.forward(np.zeros(3))
    lin.forward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"grad_output: expected shape \(4, 2\), got \(4, 3\)"):
        lin.backward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"Tanh.backward grad_output: expected shape"):
        t = Tanh()
        t.forward(np.zeros((2, 2)))
        t.backward(np.zeros((3, 2)))
    with pytest.raises(TypeError, match="Sequential layer 1: expected a Module, got int"):
        Sequential(Linear(1, 1), 3)
    with pytest.raises(RuntimeError, match="before forward"):
        Linear(2, 2).backward(np.zeros((1, 2)))
    with pytest.raises(NotImplementedError):
        Module().forward(np.zeros(1))


def test_mlp_builder_layout():
    net = mlp([1, 10, 10, 1], activation="tanh", rng=0)
    assert [type(m).__name__ for m in net] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    with pytest.raises(ValueError, match="activation"):
        mlp([1, 2], activation="gelu")


@pytest.mark.parametrize("B", [1, 7])
def test_sequential_matches_torch_nn_float64(B):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(B)
    net = Sequential(Linear(4, 6, rng=rng), Tanh(), Linear(6, 5, rng=rng), Sigmoid(), Sequential(Linear(5, 3, rng=rng), ReLU()))
    for p in net.parameters():
        if p.ndim == 1:
            p[:] = rng.standard_normal(p.shape) * 0.3
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 5), torch.nn.Sigmoid(),
                               torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.ReLU())).double()
    tlin = [m for m in tnet.modules() if isinstance(m, torch.nn.Linear)]
    ours = [m for m in (net[0], net[2], net[4][0])]
    with torch.no_grad():
        for t, o in zip(tlin, ours):
            t.weight.copy_(torch.tensor(o.W.T))  # torch stores (d_out, d_in)
            t.bias.copy_(torch.tensor(o.b))
    X = rng.standard_normal((B, 4))
    G = rng.standard_normal((B, 3))
    out = net.forward(X)
    net.zero_grad()
    gX = net.backward(G)
    tX = torch.tensor(X, requires_grad=True)
    tout = tnet(tX)
    tout.backward(torch.tensor(G))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gX, tX.grad.numpy(), rtol=1e-10, atol=1e-14)
    for t, o in zip(tlin, ours):
        np.testing.assert_allclose(o.grad_W, t.weight.grad.numpy().T, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(o.grad_b, t.bias.grad.numpy(), rtol=1e-10, atol=1e-14)
