"""Correct answers to lesson 07 (capstone) written unlike the solution."""

DROPOUT_LOOPS = '''
def dropout_forward(A, p, train, U):
    rows, cols = len(A), len(A[0])
    if not train:
        return [[float(A[i][j]) for j in range(cols)] for i in range(rows)], [[1.0] * cols for _ in range(rows)]
    mask = [[(1.0 / (1.0 - p)) if U[i][j] >= p else 0.0 for j in range(cols)] for i in range(rows)]
    out = [[A[i][j] * mask[i][j] for j in range(cols)] for i in range(rows)]
    return out, mask  # lists of lists


def dropout_backward(grad_output, mask):
    return [[g * m for g, m in zip(row_g, row_m)] for row_g, row_m in zip(grad_output, mask)]
'''

DROPOUT_WHERE_NONE = '''
def dropout_forward(A, p, train, U):
    if train:
        kept = U >= p
        return np.where(kept, A / (1 - p), 0.0), kept / (1 - p)
    return A.copy(), None  # no mask in evaluation


def dropout_backward(grad_output, mask):
    if mask is None:
        return grad_output
    return np.multiply(grad_output, mask)
'''

DROPOUT_STAR = '''
from numpy import *

def dropout_forward(A, p, train, U):
    keep = 1.0 - p
    mask = greater_equal(U, p).astype(float64) / keep if train else ones(shape(A))
    print("dropout mask, kept fraction", mean(mask > 0))
    return multiply(A, mask), mask


def dropout_backward(grad_output, mask):
    return asarray(grad_output) * asarray(mask)
'''

DROPOUT_FLOAT32 = '''
def dropout_forward(A, p, train, U):
    A = np.asarray(A, dtype=np.float32)
    if not train:
        return A, np.ones_like(A)
    mask = ((U >= p) / np.float32(1 - p)).astype(np.float32)
    return A * mask, mask


def dropout_backward(grad_output, mask):
    return np.asarray(grad_output, dtype=np.float32) * mask
'''

BN_ATOMS_KARPATHY = '''
def batchnorm_backward_atoms(grad_output, cache):
    B = grad_output.shape[0]
    diff, var, istd, xhat, gamma = cache["diff"], cache["var"], cache["istd"], cache["xhat"], cache["gamma"]
    d_gamma = np.sum(grad_output * xhat, axis=0)
    d_beta = np.sum(grad_output, axis=0)
    d_xhat = gamma * grad_output
    d_istd = np.sum(diff * d_xhat, axis=0, keepdims=True)
    d_var = -0.5 * istd ** 3 * d_istd  # (var + eps)**-1.5 = istd**3
    diff2 = diff ** 2
    d_diff2 = np.ones_like(diff2) * d_var / B
    d_diff = istd * d_xhat + 2 * diff * d_diff2
    d_mu = -np.sum(d_diff, axis=0, keepdims=True)
    d_h_pre = d_diff.copy()
    d_h_pre += np.ones_like(d_diff) * d_mu / B
    return {"gamma": d_gamma, "beta": d_beta, "xhat": d_xhat, "istd": d_istd, "var": d_var,
            "diff": d_diff, "mu": d_mu, "h_pre": d_h_pre}
'''

BN_ATOMS_EINSUM = '''
def batchnorm_backward_atoms(grad_output, cache):
    G = np.asarray(grad_output, dtype=float)
    B = G.shape[0]
    grads = {}
    grads["gamma"] = np.einsum("bh,bh->h", G, cache["xhat"])
    grads["beta"] = np.einsum("bh->h", G)
    grads["xhat"] = np.einsum("bh,h->bh", G, cache["gamma"])
    grads["istd"] = np.einsum("bh,bh->h", grads["xhat"], cache["diff"])[None, :]
    grads["var"] = grads["istd"] * (-0.5) / (cache["var"] + BN_EPS) / np.sqrt(cache["var"] + BN_EPS)
    through_xhat = grads["xhat"] * cache["istd"]
    through_var = cache["diff"] * (2.0 / B) * grads["var"]
    grads["diff"] = through_xhat + through_var
    grads["mu"] = -np.einsum("bh->h", grads["diff"])[None, :]
    grads["h_pre"] = grads["diff"] + grads["mu"] / B
    return grads
'''


BN_ATOMS_UNBROADCAST = '''
def _unbroadcast(g, shape):
    """Sum g over the axes that were broadcast to reach g's shape."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def batchnorm_backward_atoms(grad_output, cache):
    n = grad_output.shape[0]
    out = {"beta": _unbroadcast(grad_output, cache["beta"].shape),
           "gamma": _unbroadcast(grad_output * cache["xhat"], cache["gamma"].shape)}
    out["xhat"] = grad_output * cache["gamma"]
    out["istd"] = _unbroadcast(out["xhat"] * cache["diff"], cache["istd"].shape)
    out["var"] = out["istd"] * (-0.5) * cache["istd"] ** 3
    out["diff"] = out["xhat"] * cache["istd"] + out["var"] * 2 * cache["diff"] / n
    out["mu"] = _unbroadcast(-out["diff"], cache["mu"].shape)
    out["h_pre"] = out["diff"] + np.broadcast_to(out["mu"] / n, out["diff"].shape)
    return out
'''

BN_ATOMS_COLUMNS = '''
def batchnorm_backward_atoms(grad_output, cache):
    B, H = grad_output.shape
    names = ("gamma", "beta", "xhat", "istd", "var", "diff", "mu", "h_pre")
    shapes = {name: np.shape(cache[name]) for name in names}
    res = {name: np.zeros(shapes[name]) for name in names}
    for j in range(H):  # one feature at a time
        g = grad_output[:, j]
        res["gamma"][j] = g @ cache["xhat"][:, j]
        res["beta"][j] = g.sum()
        dx = g * cache["gamma"][j]
        res["xhat"][:, j] = dx
        di = dx @ cache["diff"][:, j]
        res["istd"][0, j] = di
        dv = di * -0.5 * (cache["var"][0, j] + BN_EPS) ** -1.5
        res["var"][0, j] = dv
        dd = dx * cache["istd"][0, j] + 2 * cache["diff"][:, j] * dv / B
        res["diff"][:, j] = dd
        res["mu"][0, j] = -dd.sum()
        res["h_pre"][:, j] = dd - dd.sum() / B
    return res
'''

CE_ATOMS_ONEHOT = '''
def cross_entropy_backward_atoms(cache):
    logprobs = cache["logprobs"]
    B, C = logprobs.shape
    Y = np.eye(C)[cache["y"]]
    d_logprobs = -Y / B
    d_lse = np.sum(Y, axis=1, keepdims=True) / B
    d_shifted = d_logprobs + np.exp(cache["shifted"] - cache["lse"]) * d_lse
    return {"logprobs": d_logprobs, "lse": d_lse, "shifted": d_shifted, "logits": d_shifted}
'''

CE_ATOMS_WITH_MAX = '''
def cross_entropy_backward_atoms(cache):
    logits, y = cache["logits"], cache["y"]
    B = len(y)
    d_logprobs = np.zeros(logits.shape)
    np.put_along_axis(d_logprobs, np.asarray(y)[:, None], -1.0 / B, axis=1)
    d_lse = -d_logprobs.sum(axis=1, keepdims=True)
    d_shifted = d_logprobs.copy()
    d_shifted += cache["probs"] * d_lse
    d_m = -d_shifted.sum(axis=1, keepdims=True)  # zero, but kept: the max is an atom too
    d_logits = d_shifted + (logits == logits.max(axis=1, keepdims=True)) * d_m
    return dict(logprobs=d_logprobs, lse=d_lse, shifted=d_shifted, logits=d_logits)
'''

CE_ATOMS_ROWS = '''
import math

def cross_entropy_backward_atoms(cache):
    shifted, y = cache["shifted"], cache["y"]
    B, C = shifted.shape
    d_logprobs = np.zeros((B, C))
    d_lse = np.zeros((B, 1))
    d_shifted = np.zeros((B, C))
    for n in range(B):
        d_logprobs[n, int(y[n])] = -1.0 / B
        d_lse[n, 0] = 1.0 / B
        total = sum(math.exp(s) for s in shifted[n])
        for j in range(C):
            d_shifted[n, j] = d_logprobs[n, j] + math.exp(shifted[n, j]) / total * d_lse[n, 0]
    return {"logprobs": d_logprobs, "lse": d_lse, "shifted": d_shifted, "logits": d_shifted.copy()}
'''

CE_ATOMS_SOFTMAX_AGAIN = '''
def cross_entropy_backward_atoms(cache):
    logits = np.asarray(cache["logits"], dtype=float)
    B = logits.shape[0]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(B)
    g = {"logprobs": np.zeros_like(logits)}
    g["logprobs"][rows, cache["y"]] = -1 / B
    g["lse"] = np.full((B, 1), 1 / B)
    g["shifted"] = g["logprobs"] + p * g["lse"]
    g["logits"] = g["shifted"]
    return g
'''

BN_FUSED_CS231N = '''
def batchnorm_backward(grad_output, cache):
    xhat, istd, gamma = cache["xhat"], cache["istd"], cache["gamma"]
    N = grad_output.shape[0]
    d_beta = grad_output.sum(axis=0)
    d_gamma = np.sum(xhat * grad_output, axis=0)
    dx = (gamma * istd / N) * (N * grad_output - d_beta - xhat * d_gamma)  # gamma taken out of the bracket
    return dx, d_gamma, d_beta
'''

BN_FUSED_MEANS = '''
def batchnorm_backward(grad_output, cache):
    g = grad_output * cache["gamma"]
    d_h_pre = cache["istd"] * (g - g.mean(axis=0) - cache["xhat"] * (g * cache["xhat"]).mean(axis=0))
    return [d_h_pre, (grad_output * cache["xhat"]).sum(0), grad_output.sum(0)]  # a list
'''

BN_FUSED_FROM_VAR = '''
def batchnorm_backward(grad_output, cache):
    diff, var = cache["h_pre"] - cache["h_pre"].mean(axis=0), cache["h_pre"].var(axis=0)
    inv = 1.0 / np.sqrt(var + BN_EPS)
    xh = diff * inv
    B = len(grad_output)
    dxh = grad_output * cache["gamma"]
    dvar = np.sum(dxh * diff, axis=0) * -0.5 * inv ** 3
    dmu = -np.sum(dxh * inv, axis=0) + dvar * np.mean(-2.0 * diff, axis=0)
    dx = dxh * inv + dvar * 2.0 * diff / B + dmu / B
    return dx, np.sum(grad_output * xh, axis=0), np.sum(grad_output, axis=0)
'''

BN_FUSED_EINSUM = '''
def batchnorm_backward(grad_output, cache):
    xhat, istd, gamma = cache["xhat"], cache["istd"][0], cache["gamma"]
    B = grad_output.shape[0]
    d_gamma = np.einsum("bh,bh->h", grad_output, xhat)
    d_beta = np.einsum("bh->h", grad_output)
    d_h_pre = np.einsum("h,bh->bh", gamma * istd / B, B * grad_output - d_beta - xhat * d_gamma)
    return d_h_pre, d_gamma, d_beta
'''

CE_FUSED_SCIPY = '''
from scipy.special import softmax as _softmax

def softmax_cross_entropy_backward(logits, y):
    P = _softmax(logits, axis=1)
    P[np.arange(len(y)), y] -= 1
    return P / len(y)
'''

CE_FUSED_EYE = '''
def softmax_cross_entropy_backward(logits, y):
    B, C = np.shape(logits)
    shifted = logits - np.max(logits, axis=1)[:, None]
    P = np.exp(shifted) / np.sum(np.exp(shifted), axis=1)[:, None]
    return (P - np.eye(C)[y]) * (1.0 / B)
'''

CE_FUSED_LOOPS = '''
import math

def softmax_cross_entropy_backward(logits, y):
    B = len(logits)
    out = []
    for row, label in zip(logits, y):
        m = max(row)
        e = [math.exp(v - m) for v in row]
        s = sum(e)
        out.append([(e_j / s - (1.0 if j == label else 0.0)) / B for j, e_j in enumerate(e)])
    return out
'''

CE_FUSED_LOGSOFTMAX = '''
def softmax_cross_entropy_backward(logits, y):
    logits = np.asarray(logits, dtype=np.float64)
    m = logits.max(axis=-1, keepdims=True)
    log_p = logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))
    grad = np.exp(log_p)
    np.subtract.at(grad, (np.arange(len(y)), y), 1.0)
    grad /= logits.shape[0]
    return grad
'''

TRAIN_ATOMS = '''
def train_step(params, X, y, lr, p, U):
    h_pre = X @ params["W1"]
    h, bn_cache = batchnorm_forward(h_pre, params["gamma"], params["beta"])
    a = np.maximum(h, 0)
    a_drop, mask = dropout_forward(a, p, True, U)
    logits = a_drop @ params["W2"] + params["b2"]
    loss, ce_cache = cross_entropy_forward(logits, y)
    d_logits = cross_entropy_backward_atoms(ce_cache)["logits"]  # the atoms, not the fused form
    grads = {"W2": a_drop.T @ d_logits, "b2": d_logits.sum(axis=0)}
    d_h = dropout_backward(d_logits @ params["W2"].T, mask) * (h > 0)
    bn = batchnorm_backward_atoms(d_h, bn_cache)
    grads.update(W1=X.T @ bn["h_pre"], gamma=bn["gamma"], beta=bn["beta"])
    for name, g in grads.items():
        params[name] -= lr * g
    B = len(X)
    params["running_mean"] = 0.9 * params["running_mean"] + 0.1 * h_pre.mean(axis=0)
    params["running_var"] = 0.9 * params["running_var"] + 0.1 * h_pre.var(axis=0, ddof=1)
    return loss


def _evaluate(params, X, y):
    Z = predict_logits(params, X)
    log_p = Z - Z.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean(), (Z.argmax(axis=1) == y).mean()


def fit(X, y, seed, X_val=None, y_val=None):
    gen = np.random.default_rng(seed)
    params = init_params(128, seed=seed)
    history = {key: [] for key in ("train_loss", "train_acc", "val_loss", "val_acc")}
    for epoch in range(30):
        lr = 0.1 * (1 + np.cos(np.pi * epoch / 30))
        batches = np.array_split(gen.permutation(len(X)), len(X) // 32)
        for idx in batches:
            train_step(params, X[idx], y[idx], lr, 0.1, gen.random((len(idx), 128)))
        loss, acc = _evaluate(params, X, y)
        history["train_loss"].append(loss)
        history["train_acc"].append(acc)
        if X_val is not None:
            loss, acc = _evaluate(params, X_val, y_val)
            history["val_loss"].append(loss)
            history["val_acc"].append(acc)
    return params, history
'''

TRAIN_REBIND = '''
def train_step(params, X, y, lr, p, U):
    B = X.shape[0]
    Z1 = X.dot(params["W1"])
    mu, var = Z1.mean(0), Z1.var(0)
    xhat = (Z1 - mu) / np.sqrt(var + BN_EPS)
    Hn = params["gamma"] * xhat + params["beta"]
    keep = (U >= p) / (1 - p)
    A = np.where(Hn > 0, Hn, 0) * keep
    Z2 = A.dot(params["W2"]) + params["b2"]
    logp = Z2 - Z2.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    loss = -np.mean(logp[np.arange(B), y])
    d2 = np.exp(logp)
    d2[np.arange(B), y] -= 1
    d2 /= B
    dA = d2.dot(params["W2"].T) * keep * (Hn > 0)
    dxh = dA * params["gamma"]
    dZ1 = (dxh - dxh.mean(0) - xhat * (dxh * xhat).mean(0)) / np.sqrt(var + BN_EPS)
    new = {"W2": params["W2"] - lr * A.T.dot(d2), "b2": params["b2"] - lr * d2.sum(0),
           "gamma": params["gamma"] - lr * (dA * xhat).sum(0), "beta": params["beta"] - lr * dA.sum(0),
           "W1": params["W1"] - lr * X.T.dot(dZ1),
           "running_mean": (1 - MOMENTUM) * params["running_mean"] + MOMENTUM * mu,
           "running_var": (1 - MOMENTUM) * params["running_var"] + MOMENTUM * var * B / (B - 1)}
    params.update(new)  # new arrays, re-assigned in the caller's dict
    return loss


def fit(X, y, seed, X_val=None, y_val=None):
    rs = np.random.RandomState(seed)
    params = init_params(128, seed=seed)
    train_loss, train_acc, val_loss, val_acc = [], [], [], []
    for epoch in range(30):
        perm = rs.permutation(len(X))
        for k in range(len(X) // 32):
            idx = perm[32 * k:32 * (k + 1)]
            lr = 0.2 * 0.5 * (1 + np.cos(np.pi * epoch / 30))
            train_step(params, X[idx], y[idx], lr, 0.1, rs.uniform(size=(32, 128)))
        for data, losses, accs in ((X, train_loss, train_acc), (X_val, val_loss, val_acc)):
            if data is None:
                continue
            labels = y if data is X else y_val
            Z = predict_logits(params, data)
            losses.append(cross_entropy_forward(Z, labels)[0])
            accs.append(np.count_nonzero(Z.argmax(1) == labels) / len(labels))
    return (params, dict(train_loss=train_loss, train_acc=train_acc, val_loss=val_loss, val_acc=val_acc))
'''

TRAIN_MODULE_LIKE = '''
class _Net:
    def __init__(self, params):
        self.params = params

    def loss_and_grads(self, X, y, p, U):
        P = self.params
        h_pre = X @ P["W1"]
        h, cache = batchnorm_forward(h_pre, P["gamma"], P["beta"])
        a, mask = dropout_forward(np.maximum(h, 0), p, True, U)
        logits = a @ P["W2"] + P["b2"]
        loss = cross_entropy_forward(logits, y)[0]
        d = softmax_cross_entropy_backward(logits, y)
        dh = dropout_backward(d @ P["W2"].T, mask) * (h > 0)
        d_h_pre, dg, db = batchnorm_backward(dh, cache)
        stats = (cache["mu"].ravel(), cache["var"].ravel() * len(X) / (len(X) - 1))
        return loss, {"W1": X.T @ d_h_pre, "gamma": dg, "beta": db, "W2": a.T @ d, "b2": d.sum(0)}, stats


def train_step(params, X, y, lr, p, U):
    loss, grads, (mu, var_unbiased) = _Net(params).loss_and_grads(X, y, p, U)
    for k in grads:
        np.subtract(params[k], lr * grads[k], out=params[k])
    params["running_mean"] *= 0.9
    params["running_mean"] += 0.1 * mu
    params["running_var"] *= 0.9
    params["running_var"] += 0.1 * var_unbiased
    return np.float64(loss)


def fit(X, y, seed, X_val=None, y_val=None):
    params = init_params(H=128, seed=seed)
    g = np.random.default_rng([seed, 7])
    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": [], "mean_step_loss": []}
    for epoch in range(32):
        lr = 0.1 * (1 + np.cos(np.pi * epoch / 32))
        order = g.permutation(len(X))
        losses = [train_step(params, X[order[i:i + 32]], y[order[i:i + 32]], lr, 0.1, g.random((32, 128)))
                  for i in range(0, len(X) - 31, 32)]
        history["mean_step_loss"].append(float(np.mean(losses)))  # an extra key is fine
        for prefix, data, labels in (("train_", X, y), ("val_", X_val, y_val)):
            if data is not None:
                logits = predict_logits(params, data)
                history[prefix + "loss"].append(float(cross_entropy_forward(logits, labels)[0]))
                history[prefix + "acc"].append(float((logits.argmax(-1) == labels).mean()))
    return [params, history]
'''

TRAIN_WIDE = '''
def train_step(params, X, y, lr, p, U):
    B = len(y)
    h_pre = X @ params["W1"]
    out, bn_cache = batchnorm_forward(h_pre, params["gamma"], params["beta"])
    relu_mask = out > 0
    a_drop, mask = dropout_forward(out * relu_mask, p, True, U)
    logits = a_drop @ params["W2"] + params["b2"]
    loss, _ = cross_entropy_forward(logits, y)
    delta = softmax_cross_entropy_backward(logits, y)
    grads = [("W2", a_drop.T @ delta), ("b2", delta.sum(axis=0))]
    delta = dropout_backward(delta @ params["W2"].T, mask) * relu_mask
    d_h_pre, d_gamma, d_beta = batchnorm_backward(delta, bn_cache)
    grads += [("gamma", d_gamma), ("beta", d_beta), ("W1", X.T @ d_h_pre)]
    for name, grad in grads:
        params[name][...] = params[name] - lr * grad
    mu = bn_cache["mu"].reshape(-1)
    var = bn_cache["var"].reshape(-1) * B / (B - 1)
    params["running_mean"][...] = params["running_mean"] + MOMENTUM * (mu - params["running_mean"])
    params["running_var"][...] = params["running_var"] + MOMENTUM * (var - params["running_var"])
    return loss


def fit(X, y, seed, X_val=None, y_val=None):
    H = 192
    gen = np.random.default_rng(seed)
    params = init_params(H, seed=seed)
    history = dict.fromkeys(["train_loss", "train_acc", "val_loss", "val_acc"])
    for key in history:
        history[key] = []
    for epoch in range(25):
        lr = 0.15 * (1 + np.cos(np.pi * epoch / 25))
        perm = gen.permutation(len(X))
        for i in range(0, len(X) - 31, 32):
            train_step(params, X[perm[i:i + 32]], y[perm[i:i + 32]], lr, 0.2, gen.random((32, H)))
        splits = [("train", X, y)] + ([("val", X_val, y_val)] if X_val is not None else [])
        for split, data, labels in splits:
            probs_log = predict_logits(params, data)
            history[split + "_acc"].append(np.mean(np.argmax(probs_log, axis=1) == labels))
            history[split + "_loss"].append(cross_entropy_forward(probs_log, labels)[0])
    return params, history
'''

ALTERNATIVES = {
    "dropout": [("loops", DROPOUT_LOOPS), ("where, no mask in eval", DROPOUT_WHERE_NONE), ("star import", DROPOUT_STAR),
                ("float32", DROPOUT_FLOAT32)],
    "batchnorm_atoms": [("karpathy", BN_ATOMS_KARPATHY), ("einsum", BN_ATOMS_EINSUM),
                        ("unbroadcast helper", BN_ATOMS_UNBROADCAST), ("column loops", BN_ATOMS_COLUMNS)],
    "cross_entropy_atoms": [("one-hot", CE_ATOMS_ONEHOT), ("with the max", CE_ATOMS_WITH_MAX), ("row loops", CE_ATOMS_ROWS),
                            ("softmax again", CE_ATOMS_SOFTMAX_AGAIN)],
    "batchnorm_fused": [("cs231n", BN_FUSED_CS231N), ("means", BN_FUSED_MEANS), ("from var", BN_FUSED_FROM_VAR),
                        ("einsum", BN_FUSED_EINSUM)],
    "cross_entropy_fused": [("scipy", CE_FUSED_SCIPY), ("eye", CE_FUSED_EYE), ("loops", CE_FUSED_LOOPS),
                            ("log-softmax", CE_FUSED_LOGSOFTMAX)],
    "training": [("atoms", TRAIN_ATOMS), ("rebinding", TRAIN_REBIND), ("module-like", TRAIN_MODULE_LIKE),
                 ("wider", TRAIN_WIDE)],
}
