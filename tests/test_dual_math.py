"""The dual form of the first layer (issue 14), proved in NumPy: training
``W1 = sum_k c_k B_k + M X^T`` through the Gram matrix gives the primal
parameters to ~1e-12 (gd, momentum, Nesterov, l2, mini-batches, a starting
velocity). The engine's version is tested in test_dual.py against the same
primal loop."""
import numpy as np
import pytest


def relu(Z):
    return np.maximum(Z, 0)


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def upper_backward(A1, Y, W2, b2):
    """Layer 2 (sigmoid output, cross-entropy) of a batch: dZ2, and dA1."""
    A2 = sigmoid(W2 @ A1 + b2)
    dZ2 = A2 - Y
    return dZ2, W2.T @ dZ2


def optimizer_update(kind, beta, P, G, V, lr):
    """The course's element-wise update of P (and its velocity V) in place."""
    if kind == "gd":
        P -= lr * G
    elif kind == "momentum":
        V[...] = beta * V + (1 - beta) * G
        P -= lr * V
    else:  # nesterov
        V[...] = beta * V + (1 - beta) * G
        P -= lr * (beta * V + (1 - beta) * G)


def batches(m, batch, epoch, rng_seed=3):
    order = np.random.default_rng(rng_seed + epoch).permutation(m) if batch < m else np.arange(m)
    return [order[i:i + batch] for i in range(0, m, batch)]


def primal(X, Y, params, kind, beta, lr, l2, batch, epochs, V1=None):
    W1, b1, W2, b2 = (p.copy() for p in params)
    state = [np.zeros_like(p) for p in (W1, b1, W2, b2)]
    if V1 is not None:
        state[0] = V1.copy()
    for e in range(epochs):
        for B in batches(X.shape[1], batch, e):
            XB, YB, mb = X[:, B], Y[:, B], len(B)
            Z1 = W1 @ XB + b1
            A1 = relu(Z1)
            dZ2, dA1 = upper_backward(A1, YB, W2, b2)
            dZ1 = dA1 * (Z1 > 0)
            grads = [dZ1 @ XB.T / mb + l2 / mb * W1, dZ1.sum(1, keepdims=True) / mb,
                     dZ2 @ A1.T / mb + l2 / mb * W2, dZ2.sum(1, keepdims=True) / mb]
            for P, G, V in zip((W1, b1, W2, b2), grads, state):
                optimizer_update(kind, beta, P, G, V, lr)
    return W1, b1, W2, b2, state[0]


def dual(X, Y, params, kind, beta, lr, l2, batch, epochs, V1=None):
    """The same training with W1 = sum_k c_k B_k + M X^T, v1 = sum_k v_k B_k + V X^T."""
    W1_init, b1, W2, b2 = (p.copy() for p in params)
    bases = [W1_init] + ([V1] if V1 is not None else [])
    m = X.shape[1]
    Gram = X.T @ X                                     # (m, m), once
    BX = [B @ X for B in bases]                        # (n1, m) each, once
    M, c = np.zeros((W1_init.shape[0], m)), np.zeros(len(bases))
    VM, vc = np.zeros_like(M), np.zeros(len(bases))
    c[0] = 1.0
    if V1 is not None:
        vc[1] = 1.0
    state = [np.zeros_like(p) for p in (b1, W2, b2)]
    for e in range(epochs):
        for B in batches(m, batch, e):
            YB, mb = Y[:, B], len(B)
            # Z1 = W1 X_B + b1, without touching n_x
            Z1 = sum(ck * BXk[:, B] for ck, BXk in zip(c, BX)) + M @ Gram[:, B] + b1
            A1 = relu(Z1)
            dZ2, dA1 = upper_backward(A1, YB, W2, b2)
            dZ1 = dA1 * (Z1 > 0)
            # dW1 = dZ1 X_B^T / mb + l2 / mb * W1, in the coordinates (M, c)
            gM = l2 / mb * M
            gM[:, B] += dZ1 / mb
            gc = l2 / mb * c
            optimizer_update(kind, beta, M, gM, VM, lr)
            optimizer_update(kind, beta, c, gc, vc, lr)
            grads = [dZ1.sum(1, keepdims=True) / mb, dZ2 @ A1.T / mb + l2 / mb * W2,
                     dZ2.sum(1, keepdims=True) / mb]
            for P, G, V in zip((b1, W2, b2), grads, state):
                optimizer_update(kind, beta, P, G, V, lr)
    W1 = M @ X.T + sum(ck * Bk for ck, Bk in zip(c, bases))          # materialised
    v1 = VM @ X.T + sum(vk * Bk for vk, Bk in zip(vc, bases))
    return W1, b1, W2, b2, v1


def problem(n_x=300, m=40, n1=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m))
    Y = (rng.random((1, m)) < 0.5).astype(float)
    params = (rng.standard_normal((n1, n_x)) * np.sqrt(2 / n_x), np.zeros((n1, 1)),
              rng.standard_normal((1, n1)) * np.sqrt(2 / n1), np.zeros((1, 1)))
    return X, Y, params


def relative(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.mark.parametrize("kind", ["gd", "momentum", "nesterov"])
@pytest.mark.parametrize("l2", [0.0, 0.7])
@pytest.mark.parametrize("batch", [40, 16])
def test_dual_equals_primal(kind, l2, batch):
    X, Y, params = problem()
    args = (X, Y, params, kind, 0.9, 0.05, l2, batch, 30)
    for got, want in zip(dual(*args), primal(*args)):
        assert relative(got, want) < 1e-12
    # and the training moved W1 (the test is not of a standing network)
    assert relative(primal(*args)[0], params[0]) > 1e-3


@pytest.mark.parametrize("kind", ["momentum", "nesterov"])
def test_dual_with_a_starting_velocity(kind):
    X, Y, params = problem(seed=1)
    V1 = np.random.default_rng(5).standard_normal(params[0].shape) * 0.01
    args = (X, Y, params, kind, 0.9, 0.05, 0.3, 16, 20)
    for got, want in zip(dual(*args, V1=V1), primal(*args, V1=V1)):
        assert relative(got, want) < 1e-12


def test_adam_leaves_the_row_space():
    """Why Adam is never dual: its element-wise scaling of dW1 leaves the span of
    W1_init and the examples (the dual would not be exact)."""
    X, Y, params = problem(n_x=100, m=10)
    W1 = params[0]
    Z1 = W1 @ X
    dZ1 = (Z1 > 0) * np.random.default_rng(2).standard_normal(Z1.shape)
    dW1 = dZ1 @ X.T / 10
    adam_step = dW1 / (np.sqrt(dW1 ** 2) + 1e-8)       # Adam's first step: sign(dW1)
    basis = np.vstack([X.T, W1])                      # rows spanning W1's rows' space
    coef, *_ = np.linalg.lstsq(basis.T, adam_step.T, rcond=None)
    residual = adam_step.T - basis.T @ coef
    assert np.linalg.norm(residual) > 0.1 * np.linalg.norm(adam_step)
    coef, *_ = np.linalg.lstsq(basis.T, dW1.T, rcond=None)
    assert np.linalg.norm(dW1.T - basis.T @ coef) < 1e-10 * np.linalg.norm(dW1)
