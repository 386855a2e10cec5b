"""The course's equations for courses 1 (weeks 2-3) and 2 (weeks 1-2), written plainly
in NumPy: the oracle of tests/test_course_*.py (the week-4 equations are in
numpy_reference.py). Ours, written from the notebooks' equations, not their code."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def relu(z):
    return np.maximum(0, z)


# -- course 1 week 2: logistic regression ------------------------------------------

def lr_propagate(w, b, X, Y):
    m = X.shape[1]
    A = sigmoid(w.T @ X + b)
    cost = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m
    return {"dw": X @ (A - Y).T / m, "db": np.sum(A - Y) / m}, np.squeeze(np.array(cost))


def lr_optimize(w, b, X, Y, num_iterations, learning_rate):
    costs = []
    for i in range(num_iterations):
        grads, cost = lr_propagate(w, b, X, Y)
        w = w - learning_rate * grads["dw"]
        b = b - learning_rate * grads["db"]
        if i % 100 == 0:
            costs.append(cost)
    return {"w": w, "b": b}, grads, costs


# -- course 1 week 3: one hidden tanh layer ------------------------------------------

def planar_forward(X, p):
    Z1 = p["W1"] @ X + p["b1"]
    A1 = np.tanh(Z1)
    Z2 = p["W2"] @ A1 + p["b2"]
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def planar_backward(p, cache, X, Y):
    m = X.shape[1]
    dZ2 = cache["A2"] - Y
    dZ1 = (p["W2"].T @ dZ2) * (1 - cache["A1"] ** 2)
    return {"dW1": dZ1 @ X.T / m, "db1": np.sum(dZ1, axis=1, keepdims=True) / m,
            "dW2": dZ2 @ cache["A1"].T / m, "db2": np.sum(dZ2, axis=1, keepdims=True) / m}


def planar_nn_model(X, Y, n_h, num_iterations, learning_rate=1.2):
    np.random.seed(3)
    p = {"W1": np.random.randn(n_h, X.shape[0]) * 0.01, "b1": np.zeros((n_h, 1))}
    p["W2"] = np.random.randn(Y.shape[0], n_h) * 0.01
    p["b2"] = np.zeros((Y.shape[0], 1))
    costs = []
    for i in range(num_iterations):
        A2, cache = planar_forward(X, p)
        costs.append(float(-np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / X.shape[1]))
        grads = planar_backward(p, cache, X, Y)
        p = {key: p[key] - learning_rate * grads["d" + key] for key in p}
    return p, costs


# -- course 2 weeks 1-2: the 3-layer LINEAR-RELU-LINEAR-RELU-LINEAR-SIGMOID network ----

def c2_forward(X, p, keep_prob=None):
    """Returns A3 and the tuple (Z1, [D1,] A1, W1, b1, Z2, [D2,] A2, W2, b2, Z3, A3, W3, b3);
    with keep_prob, inverted dropout masks rand(...) < keep_prob drawn for A1 then A2."""
    Z1 = p["W1"] @ X + p["b1"]
    A1 = relu(Z1)
    if keep_prob is not None:
        D1 = (np.random.rand(*A1.shape) < keep_prob).astype(int)
        A1 = A1 * D1 / keep_prob
    Z2 = p["W2"] @ A1 + p["b2"]
    A2 = relu(Z2)
    if keep_prob is not None:
        D2 = (np.random.rand(*A2.shape) < keep_prob).astype(int)
        A2 = A2 * D2 / keep_prob
    Z3 = p["W3"] @ A2 + p["b3"]
    A3 = sigmoid(Z3)
    if keep_prob is not None:
        return A3, (Z1, D1, A1, p["W1"], p["b1"], Z2, D2, A2, p["W2"], p["b2"], Z3, A3,
                    p["W3"], p["b3"])
    return A3, (Z1, A1, p["W1"], p["b1"], Z2, A2, p["W2"], p["b2"], Z3, A3, p["W3"], p["b3"])


def c2_logprobs(A3, Y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.log(A3) * Y - np.log(1 - A3) * (1 - Y)


def c2_backward(X, Y, cache, lambd=0.0, keep_prob=None):
    """The gradients dict (dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1)."""
    if keep_prob is None:
        Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3 = cache
    else:
        Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3 = cache
    m = X.shape[1]
    g = {"dZ3": A3 - Y}
    g["dW3"] = g["dZ3"] @ A2.T / m + lambd / m * W3
    g["db3"] = np.sum(g["dZ3"], axis=1, keepdims=True) / m
    g["dA2"] = W3.T @ g["dZ3"]
    if keep_prob is not None:
        g["dA2"] = g["dA2"] * D2 / keep_prob
    g["dZ2"] = g["dA2"] * (A2 > 0)
    g["dW2"] = g["dZ2"] @ A1.T / m + lambd / m * W2
    g["db2"] = np.sum(g["dZ2"], axis=1, keepdims=True) / m
    g["dA1"] = W2.T @ g["dZ2"]
    if keep_prob is not None:
        g["dA1"] = g["dA1"] * D1 / keep_prob
    g["dZ1"] = g["dA1"] * (A1 > 0)
    g["dW1"] = g["dZ1"] @ X.T / m + lambd / m * W1
    g["db1"] = np.sum(g["dZ1"], axis=1, keepdims=True) / m
    return g


def c2_init(dims, scale, seed):
    np.random.seed(seed)
    p = {}
    for l in range(1, len(dims)):
        p[f"W{l}"] = np.random.randn(dims[l], dims[l - 1]) * scale(dims[l - 1])
        p[f"b{l}"] = np.zeros((dims[l], 1))
    return p


def c2_init_model(X, Y, learning_rate, num_iterations, scale):
    """The initialization notebook's model ([n_x, 10, 5, 1], seed 3); returns the
    parameters and the loss of every 1000th iteration."""
    p = c2_init([X.shape[0], 10, 5, 1], scale, 3)
    costs = []
    for i in range(num_iterations):
        A3, cache = c2_forward(X, p)
        if i % 1000 == 0:
            costs.append(np.nansum(c2_logprobs(A3, Y)) / X.shape[1])
        g = c2_backward(X, Y, cache)
        p = {key: p[key] - learning_rate * g["d" + key] for key in p}
    return p, costs


def c2_l2_cost(A3, Y, p, lambd):
    m = Y.shape[1]
    l2 = sum(np.sum(np.square(p[f"W{l}"])) for l in (1, 2, 3))
    return np.nansum(c2_logprobs(A3, Y)) / m + lambd / (2 * m) * l2


def c2_reg_model(X, Y, learning_rate, num_iterations, lambd=0.0, keep_prob=1.0):
    """The regularization notebook's model ([n_x, 20, 3, 1], W / sqrt(n[l-1]), seed 3;
    dropout reseeds with 1 every iteration); returns parameters, cost every 1000."""
    p = c2_init([X.shape[0], 20, 3, 1], lambda n: 1 / np.sqrt(n), 3)
    costs = []
    for i in range(num_iterations):
        if keep_prob < 1:
            np.random.seed(1)
            A3, cache = c2_forward(X, p, keep_prob)
        else:
            A3, cache = c2_forward(X, p)
        if i % 1000 == 0:
            costs.append(c2_l2_cost(A3, Y, p, lambd))
        g = c2_backward(X, Y, cache, lambd, keep_prob if keep_prob < 1 else None)
        p = {key: p[key] - learning_rate * g["d" + key] for key in p}
    return p, costs


def c2_gc_cost(X, Y, p):
    A3, cache = c2_forward(X, p)
    return np.sum(c2_logprobs(A3, Y)) / X.shape[1], cache


def c2_gradient_check_n(p, grads, X, Y, epsilon=1e-7):
    keys = [f"{kind}{l}" for l in (1, 2, 3) for kind in ("W", "b")]
    theta = np.concatenate([p[k].reshape(-1, 1) for k in keys])
    grad = np.concatenate([grads["d" + k].reshape(-1, 1) for k in keys])
    shapes = [p[k].shape for k in keys]

    def unflatten(vector):
        out, start = {}, 0
        for key, shape in zip(keys, shapes):
            size = int(np.prod(shape))
            out[key] = vector[start:start + size].reshape(shape)
            start += size
        return out

    approx = np.zeros_like(theta)
    for i in range(theta.shape[0]):
        plus, minus = theta.copy(), theta.copy()
        plus[i, 0] += epsilon
        minus[i, 0] -= epsilon
        approx[i, 0] = (c2_gc_cost(X, Y, unflatten(plus))[0]
                        - c2_gc_cost(X, Y, unflatten(minus))[0]) / (2 * epsilon)
    return np.linalg.norm(grad - approx) / (np.linalg.norm(grad) + np.linalg.norm(approx))


def c2_mini_batches(X, Y, size, seed):
    np.random.seed(seed)
    m = X.shape[1]
    order = np.random.permutation(m)
    X, Y = X[:, order], Y[:, order].reshape((1, m))
    return [(X[:, k:k + size], Y[:, k:k + size]) for k in range(0, m, size)]


def c2_momentum(p, grads, v, beta, learning_rate):
    v = {k: beta * v[k] + (1 - beta) * grads[k] for k in v}
    return {k: p[k] - learning_rate * v["d" + k] for k in p}, v


def c2_adam(p, grads, v, s, t, learning_rate, beta1, beta2, epsilon):
    v = {k: beta1 * v[k] + (1 - beta1) * grads[k] for k in v}
    s = {k: beta2 * s[k] + (1 - beta2) * grads[k] ** 2 for k in s}
    vc = {k: v[k] / (1 - beta1 ** t) for k in v}
    sc = {k: s[k] / (1 - beta2 ** t) for k in s}
    p = {k: p[k] - learning_rate * vc["d" + k] / (np.sqrt(sc["d" + k]) + epsilon) for k in p}
    return p, v, s, vc, sc


def c2_opt_model(X, Y, dims, optimizer, learning_rate=0.0007, mini_batch_size=64, beta=0.9,
                 beta1=0.9, beta2=0.999, epsilon=1e-8, num_epochs=5000, decay=None,
                 decay_rate=1):
    """The optimization notebook's model (He init seed 3; mini-batch seeds 11, 12, ...);
    returns the parameters and the mean cost of every 100th epoch."""
    p = c2_init(dims, lambda n: np.sqrt(2 / n), 3)
    v = {"d" + k: np.zeros_like(value) for k, value in p.items()}
    s = {"d" + k: np.zeros_like(value) for k, value in p.items()}
    rate0, t, costs = learning_rate, 0, []
    for i in range(num_epochs):
        total = 0
        for bx, by in c2_mini_batches(X, Y, mini_batch_size, 11 + i):
            A3, cache = c2_forward(bx, p)
            total += np.sum(c2_logprobs(A3, by))
            g = c2_backward(bx, by, cache)
            if optimizer == "gd":
                p = {k: p[k] - learning_rate * g["d" + k] for k in p}
            elif optimizer == "momentum":
                p, v = c2_momentum(p, {k: g[k] for k in v}, v, beta, learning_rate)
            else:
                t += 1
                p, v, s, _, _ = c2_adam(p, {k: g[k] for k in v}, v, s, t, learning_rate,
                                        beta1, beta2, epsilon)
        if decay:
            learning_rate = decay(rate0, i, decay_rate)
        if i % 100 == 0:
            costs.append(total / X.shape[1])
    return p, costs
