"""course_lib.optim and course_lib.train: SGD updates in place; moons trains to >= 0.97 test accuracy."""
import numpy as np
import pytest

from course_lib.data import moons
from course_lib.losses import MSELoss, SoftmaxCrossEntropy
from course_lib.modules import Linear, ReLU, Sequential, Tanh
from course_lib.optim import SGD
from course_lib.train import accuracy, fit, iterate_minibatches, train_step


def test_sgd_step_moves_each_parameter_against_its_gradient(rng):
    net = Sequential(Linear(3, 2, rng=0), Tanh(), Linear(2, 1, rng=1))
    before = [p.copy() for p in net.parameters()]
    for g in net.gradients():
        g[...] = rng.standard_normal(g.shape)
    SGD(net, lr=0.1).step()
    for p0, p, g in zip(before, net.parameters(), net.gradients()):
        np.testing.assert_allclose(p, p0 - 0.1 * g)


def test_sgd_rejects_bad_arguments():
    with pytest.raises(ValueError, match="positive learning rate, got -1"):
        SGD(Sequential(Linear(1, 1)), lr=-1)
    with pytest.raises(TypeError, match="Module, got list"):
        SGD([np.zeros(2)], lr=0.1)


def test_train_step_lowers_the_loss(rng):
    net = Sequential(Linear(2, 8, rng=0), Tanh(), Linear(8, 1, rng=1))
    X, y = rng.standard_normal((32, 2)), rng.standard_normal((32, 1))
    opt, loss = SGD(net, lr=0.1), MSELoss()
    first = train_step(net, loss, X, y, opt)
    for _ in range(20):
        last = train_step(net, loss, X, y, opt)
    assert last < first


def test_minibatches_cover_every_row_once(rng):
    X, y = np.arange(10)[:, None], np.arange(10)
    seen = np.concatenate([yb for _, yb in iterate_minibatches(X, y, 3, rng)])
    assert sorted(seen) == list(range(10))
    assert [len(b) for _, b in iterate_minibatches(X, y, 3, rng)] == [3, 3, 3, 1]
    with pytest.raises(ValueError, match="same number of rows, got 10 and 9"):
        next(iterate_minibatches(X, y[:9], 3))


def test_moons_reaches_097_test_accuracy_and_records_grad_norms():
    X_train, X_test, y_train, y_test = moons()
    assert X_train.shape == (3500, 2) and X_test.shape == (1500, 2)
    net = Sequential(Linear(2, 64, init="he", rng=0), ReLU(), Linear(64, 2, init="he", rng=1))
    history = fit(net, SoftmaxCrossEntropy(), X_train, y_train, lr=0.5, num_epochs=25, batch_size=64, rng=0)
    assert accuracy(net.forward(X_test), y_test) >= 0.97
    assert history.losses[-1] < history.losses[0] / 5
    names, norms = history.grad_norm_array()
    assert names == ["0.W", "0.b", "2.W", "2.b"]
    assert norms.shape == (len(history.losses), 4) and np.all(norms > 0)
