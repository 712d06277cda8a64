"""course_lib.batchnorm.BatchNorm and course_lib.dropout.Dropout: central differences and PyTorch float64."""
import numpy as np
import pytest
from conftest import central_diff, rel_err

from course_lib.batchnorm import BatchNorm
from course_lib.dropout import Dropout
from course_lib.modules import Linear, ReLU, Sequential


def _bn(rng, d=4):
    bn = BatchNorm(d)
    bn.gamma[:] = rng.uniform(0.5, 2.0, d)  # not the ones/zeros of the init: a dropped gamma or beta shows
    bn.beta[:] = rng.standard_normal(d)
    return bn


@pytest.mark.parametrize("B", [2, 7])
def test_batchnorm_training_gradients_match_central_differences(B):
    rng = np.random.default_rng(B)
    bn = _bn(rng)
    X = rng.normal(1.0, 2.0, size=(B, 4))
    G = rng.standard_normal((B, 4))
    bn.forward(X)
    bn.zero_grad()
    grad_input = bn.backward(G)

    def L(_=None):
        return float(np.sum(bn.forward(X) * G))

    def with_param(name):
        def f(value):
            saved = getattr(bn, name).copy()
            getattr(bn, name)[...] = value
            try:
                return L()
            finally:
                getattr(bn, name)[...] = saved
        return f

    # 1e-6: with B = 2 the input gradient is tiny (each output is +-1 up to eps) and round-off shows
    assert rel_err(grad_input, central_diff(lambda Xv: float(np.sum(bn.forward(Xv) * G)), X)) < 1e-6
    assert rel_err(bn.grad_gamma, central_diff(with_param("gamma"), bn.gamma)) < 1e-7
    assert rel_err(bn.grad_beta, central_diff(with_param("beta"), bn.beta)) < 1e-7
    # the input gradient of a batch-normalised feature sums to zero over the batch (the mean path)
    assert np.abs(grad_input.sum(axis=0)).max() < 1e-10


def test_batchnorm_output_is_normalised_with_the_biased_variance():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 5.0, size=(6, 3))
    Y = BatchNorm(3, eps=0.0).forward(X)
    np.testing.assert_allclose(Y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Y.var(axis=0), 1.0, rtol=1e-12)  # 1/B variance of the output is exactly 1


def test_batchnorm_eval_uses_running_statistics_and_its_gradient():
    rng = np.random.default_rng(1)
    bn = _bn(rng, 3)
    for _ in range(3):
        bn.forward(rng.normal(2.0, 3.0, size=(5, 3)))
    bn.eval()
    X = rng.standard_normal((4, 3))
    expected = bn.gamma * (X - bn.running_mean) / np.sqrt(bn.running_var + bn.eps) + bn.beta
    np.testing.assert_allclose(bn.forward(X), expected, rtol=1e-12)
    G = rng.standard_normal((4, 3))
    grad_input = bn.backward(G)
    assert rel_err(grad_input, central_diff(lambda Xv: float(np.sum(bn.forward(Xv) * G)), X)) < 1e-7
    # one example alone is fine in evaluation mode, and does not move the running statistics
    before = bn.running_mean.copy()
    bn.forward(X[:1])
    np.testing.assert_array_equal(bn.running_mean, before)


def test_batchnorm_bad_input_names_the_shapes():
    bn = BatchNorm(3)
    with pytest.raises(ValueError, match=r"expected shape \(B, 3\), got \(4, 2\)"):
        bn.forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        bn.forward(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="positive int"):
        BatchNorm(0)
    with pytest.raises(RuntimeError, match="before forward"):
        BatchNorm(2).backward(np.zeros((3, 2)))


@pytest.mark.parametrize("p", [0.0, 0.3, 0.75])
def test_dropout_gradient_matches_central_differences_and_the_mask(p):
    rng = np.random.default_rng(5)
    drop = Dropout(p, rng=rng)
    X = rng.standard_normal((6, 5))
    U = rng.random((6, 5))
    mask = (U >= p) / (1 - p)
    out = drop.forward(X, mask=mask)
    np.testing.assert_array_equal(out, X * mask)
    G = rng.standard_normal((6, 5))
    grad = drop.backward(G)
    assert rel_err(grad, central_diff(lambda Xv: float(np.sum(drop.forward(Xv, mask=mask) * G)), X)) < 1e-8
    np.testing.assert_array_equal(grad, G * mask)


def test_dropout_keeps_the_expected_value_and_is_the_identity_in_eval():
    drop = Dropout(0.4, rng=0)
    X = np.ones((2000, 50))
    out = drop.forward(X)
    assert set(np.unique(out)) == {0.0, 1.0 / 0.6}
    assert abs(out.mean() - 1.0) < 0.01  # inverted dropout: E[Y] = X
    assert abs((out == 0).mean() - 0.4) < 0.01
    drop.eval()
    X = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(drop.forward(X), X)
    np.testing.assert_array_equal(drop.backward(X + 1), X + 1)


def test_dropout_bad_input():
    with pytest.raises(ValueError, match=r"probability in \[0, 1\), got 1.0"):
        Dropout(1.0)
    with pytest.raises(ValueError, match=r"expected shape \(2, 3\), got \(3, 2\)"):
        Dropout(0.5).forward(np.zeros((2, 3)), mask=np.zeros((3, 2)))


def test_batchnorm_and_dropout_in_a_network_match_central_differences():
    rng = np.random.default_rng(7)
    bn, drop = _bn(rng, 5), Dropout(0.3, rng=rng)
    net = Sequential(Linear(4, 5, rng=rng, bias=False), bn, ReLU(), drop, Linear(5, 3, rng=rng))
    X = rng.standard_normal((8, 4))
    mask = (rng.random((8, 5)) >= 0.3) / 0.7
    G = rng.standard_normal((8, 3))

    def forward(Xv):
        A = X if Xv is None else Xv
        for layer in net:
            A = layer.forward(A, mask=mask) if layer is drop else layer.forward(A)
        return A

    forward(None)
    net.zero_grad()
    grad_input = net.backward(G)
    assert rel_err(grad_input, central_diff(lambda Xv: float(np.sum(forward(Xv) * G)), X)) < 1e-6
    assert [name for name, _ in net.named_parameters()] == ["0.W", "1.gamma", "1.beta", "4.W", "4.b"]


# ------------------------------------------------------------------ PyTorch float64
torch = pytest.importorskip("torch")


@pytest.mark.parametrize("B", [2, 9])
def test_batchnorm_matches_torch_batchnorm1d(B):
    rng = np.random.default_rng(11 + B)
    bn = _bn(rng, 4)
    ref = torch.nn.BatchNorm1d(4, eps=bn.eps, momentum=bn.momentum).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(bn.gamma))
        ref.bias.copy_(torch.from_numpy(bn.beta))
    for step in range(3):  # three batches: the running statistics follow torch's
        X = rng.normal(step, 2.0, size=(B, 4))
        G = rng.standard_normal((B, 4))
        Xt = torch.tensor(X, requires_grad=True)
        out_t = ref(Xt)
        out_t.backward(torch.from_numpy(G))
        bn.zero_grad()
        out = bn.forward(X)
        grad_input = bn.backward(G)
        np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grad_input, Xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(bn.grad_gamma, ref.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(bn.grad_beta, ref.bias.grad.numpy(), rtol=1e-10, atol=1e-12)
        ref.weight.grad = ref.bias.grad = None
        np.testing.assert_allclose(bn.running_mean, ref.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(bn.running_var, ref.running_var.numpy(), rtol=1e-12)
    bn.eval()
    ref.eval()
    X = rng.standard_normal((3, 4))
    G = rng.standard_normal((3, 4))
    Xt = torch.tensor(X, requires_grad=True)
    ref(Xt).backward(torch.from_numpy(G))
    np.testing.assert_allclose(bn.forward(X), ref(torch.from_numpy(X)).detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bn.backward(G), Xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_dropout_matches_torch_dropout_with_its_mask():
    torch.manual_seed(0)
    p = 0.35
    X = np.random.default_rng(3).uniform(0.5, 2.0, size=(7, 6))  # no zero input: the kept entries are nonzero
    G = np.random.default_rng(4).standard_normal((7, 6))
    ref = torch.nn.Dropout(p).double().train()
    Xt = torch.tensor(X, requires_grad=True)
    out_t = ref(Xt)
    out_t.backward(torch.from_numpy(G))
    torch_mask = (out_t.detach().numpy() != 0) / (1 - p)  # torch's kept entries, with our scaling
    drop = Dropout(p)
    np.testing.assert_allclose(drop.forward(X, mask=torch_mask), out_t.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(drop.backward(G), Xt.grad.numpy(), rtol=1e-15)
    ref.eval()
    drop.eval()
    np.testing.assert_array_equal(drop.forward(X), ref(torch.from_numpy(X)).numpy())
