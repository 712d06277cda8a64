"""course_lib.mlp: the worked example of seed 003 number by number, and any depth against central differences."""
import numpy as np
import pytest
from conftest import central_diff, rel_err

from course_lib.data import WORKED_T, WORKED_V, WORKED_W, WORKED_X
from course_lib.mlp import mlp_backward, mlp_forward

# The numbers printed by seed 003 (its cells 2-7).
SEED003 = {
    "h_in": [16.0, -4.0],
    "h_out": [0.9999998874648379, 0.01798620996209156],
    "y_in": [1.0044964399553609, -1.9640273550054927],
    "y_out": [0.7319417133694889, 0.12303185591001443],
    "e": [-0.2680582866305111, 0.12303185591001443],
    "grad_y_out": [-0.5361165732610222, 0.24606371182002887],
    "grad_y_in": [-0.10518770232556676, 0.026549048699963138],
    "grad_h_out": [-0.15828579972549303, 0.026801171818534586],
    "grad_h_in": [-1.7812716122177433e-08, 0.0004733812240027136],
    # grad_v21 grad_v22 / grad_v11 grad_v12 (v_ij connects hidden i to output j)
    "grad_V": [[-0.10518769048825163, 0.02654904571226164], [-0.0018919280994576303, 0.0004775167642113309]],
    # grad_w11 grad_w12 / grad_w21 grad_w22 (w_ij connects input i to hidden j)
    "grad_W": [[-5.34381483665323e-08, 0.0014201436720081408], [-1.7812716122177433e-08, 0.0004733812240027136]],
    "grad_x": [-0.0014202505483048738, 0.0023669417454458123],
}


@pytest.fixture(scope="module")
def worked():
    y_hat, cache = mlp_forward(WORKED_X, [WORKED_W, WORKED_V], [np.zeros(2), np.zeros(2)], activation="sigmoid")
    grad_y_hat = 2 * (y_hat - WORKED_T)  # loss = sum of squared errors
    grad_Ws, grad_bs, grad_X = mlp_backward(cache, [WORKED_W, WORKED_V], grad_y_hat)
    return y_hat, cache, grad_y_hat, grad_Ws, grad_bs, grad_X


def close(got, expected):
    np.testing.assert_allclose(np.ravel(got), np.ravel(expected), rtol=1e-8, atol=0)


def test_forward_intermediates(worked):
    y_hat, cache, *_ = worked
    close(cache["Z"][0], SEED003["h_in"])
    close(cache["A"][1], SEED003["h_out"])
    close(cache["Z"][1], SEED003["y_in"])
    close(y_hat, SEED003["y_out"])
    close(y_hat - WORKED_T, SEED003["e"])


def test_backward_intermediates_and_all_eight_weight_gradients(worked):
    y_hat, cache, grad_y_hat, grad_Ws, grad_bs, grad_X = worked
    close(grad_y_hat, SEED003["grad_y_out"])
    close(grad_bs[1], SEED003["grad_y_in"])  # with no bias, delta summed over a batch of 1 = dL/dz
    close(grad_Ws[1], SEED003["grad_V"])
    close(grad_bs[0], SEED003["grad_h_in"])
    close(grad_Ws[0], SEED003["grad_W"])
    close(grad_X, SEED003["grad_x"])
    assert grad_Ws[0][0, 0] == pytest.approx(-5.34381483665323e-08, rel=1e-8)
    assert grad_Ws[0][0, 1] == pytest.approx(0.0014201436720081408, rel=1e-8)


def test_worked_example_matches_pytorch_float64():
    torch = pytest.importorskip("torch")
    X = torch.tensor(WORKED_X)
    W = torch.tensor(WORKED_W, requires_grad=True)
    V = torch.tensor(WORKED_V, requires_grad=True)
    loss = ((torch.sigmoid(torch.sigmoid(X @ W) @ V) - torch.tensor(WORKED_T)) ** 2).sum()
    loss.backward()
    close(W.grad.numpy(), SEED003["grad_W"])
    close(V.grad.numpy(), SEED003["grad_V"])


@pytest.mark.parametrize("widths,activation,B", [([3, 4], "tanh", 1), ([3, 5, 2], "sigmoid", 7),
                                                 ([2, 6, 5, 3, 1], "tanh", 7), ([4, 3, 3, 2], "relu", 5)])
def test_any_depth_matches_central_differences(widths, activation, B):
    rng = np.random.default_rng(len(widths) * 10 + B)
    Ws = [rng.standard_normal((a, b)) / np.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]
    bs = [rng.standard_normal(b) * 0.5 for b in widths[1:]]
    X = rng.standard_normal((B, widths[0]))
    G = rng.standard_normal((B, widths[-1]))  # random upstream gradient
    y_hat, cache = mlp_forward(X, Ws, bs, activation=activation, output_activation="identity")
    grad_Ws, grad_bs, grad_X = mlp_backward(cache, Ws, G)

    def L(Ws_, bs_, X_):
        return float(np.sum(mlp_forward(X_, Ws_, bs_, activation=activation, output_activation="identity")[0] * G))

    for l in range(len(Ws)):
        num_W = central_diff(lambda W: L(Ws[:l] + [W] + Ws[l + 1:], bs, X), Ws[l])
        num_b = central_diff(lambda b: L(Ws, bs[:l] + [b] + bs[l + 1:], X), bs[l])
        assert rel_err(grad_Ws[l], num_W) <= 1e-7, f"grad_W[{l}]"
        assert rel_err(grad_bs[l], num_b) <= 1e-7, f"grad_b[{l}]"
        assert grad_Ws[l].shape == Ws[l].shape and grad_bs[l].shape == bs[l].shape
    assert rel_err(grad_X, central_diff(lambda X_: L(Ws, bs, X_), X)) <= 1e-7


def test_bad_shapes_name_expected_and_actual():
    W = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"X: expected shape \(B, 3\), got \(2, 5\)"):
        mlp_forward(np.zeros((2, 5)), [W], [np.zeros(4)])
    with pytest.raises(ValueError, match=r"bs\[0\]: expected shape \(4,\), got \(3,\)"):
        mlp_forward(np.zeros((2, 3)), [W], [np.zeros(3)])
    with pytest.raises(ValueError, match=r"Ws\[1\]: expected 4 rows"):
        mlp_forward(np.zeros((2, 3)), [W, np.zeros((5, 2))], [np.zeros(4), np.zeros(2)])
    _, cache = mlp_forward(np.zeros((2, 3)), [W], [np.zeros(4)])
    with pytest.raises(ValueError, match=r"grad_y_hat: expected shape \(2, 4\), got \(4,"):
        mlp_backward(cache, [W], np.zeros((4, 2)))
    with pytest.raises(ValueError, match="activation"):
        mlp_forward(np.zeros((2, 3)), [W], [np.zeros(4)], activation="swish")
