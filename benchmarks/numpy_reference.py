"""The course's vectorised equations, written plainly in NumPy.

This is the oracle of the tests (float64 results of ``dnn`` must equal these
to about 1e-12) and the baseline of the benchmarks. It follows "Building your
Deep Neural Network: Step by Step" and "Deep Neural Network - Application"
line by line, extended to the other activations and losses ``dnn`` offers.
Layout: X (n_x, m), W[l] (n[l], n[l-1]), b[l] (n[l], 1).
"""
import numpy as np


# --- activations and their derivatives (the course's *_backward take Z) ------

def sigmoid(Z, slope=None):
    return 1 / (1 + np.exp(-Z))


def relu(Z, slope=None):
    return np.maximum(0, Z)


def tanh(Z, slope=None):
    return np.tanh(Z)


def leaky_relu(Z, slope=0.01):
    return np.where(Z > 0, Z, slope * Z)


def identity(Z, slope=None):
    return Z


def softmax(Z, slope=None):
    E = np.exp(Z - np.max(Z, axis=0, keepdims=True))
    return E / np.sum(E, axis=0, keepdims=True)


def softplus(Z, slope=None):
    return np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z)))


def exp(Z, slope=None):
    return np.exp(Z)


ACTIVATIONS = {"sigmoid": sigmoid, "relu": relu, "tanh": tanh, "leaky_relu": leaky_relu,
               "identity": identity, "softmax": softmax, "softplus": softplus, "exp": exp}


def sigmoid_backward(dA, Z, slope=None):
    s = 1 / (1 + np.exp(-Z))
    return dA * s * (1 - s)


def relu_backward(dA, Z, slope=None):
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def tanh_backward(dA, Z, slope=None):
    return dA * (1 - np.tanh(Z) ** 2)


def leaky_relu_backward(dA, Z, slope=0.01):
    return np.where(Z > 0, dA, slope * dA)


def identity_backward(dA, Z, slope=None):
    return dA


def softmax_backward(dA, Z, slope=None):
    S = softmax(Z)
    return S * (dA - np.sum(dA * S, axis=0, keepdims=True))


def softplus_backward(dA, Z, slope=None):
    E = np.exp(-np.abs(Z))
    return dA * np.where(Z >= 0, 1 / (1 + E), E / (1 + E))


def exp_backward(dA, Z, slope=None):
    return dA * np.exp(Z)


BACKWARDS = {"sigmoid": sigmoid_backward, "relu": relu_backward, "tanh": tanh_backward,
             "leaky_relu": leaky_relu_backward, "identity": identity_backward,
             "softmax": softmax_backward, "softplus": softplus_backward, "exp": exp_backward}


def _xlogy(x, y):
    """scipy.special.xlogy: x log y, 0 where x == 0."""
    return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


# --- initialization (the course's legacy global random stream) ---------------

def initialize_parameters(n_x, n_h, n_y):
    np.random.seed(1)
    W1 = np.random.randn(n_h, n_x) * 0.01
    b1 = np.zeros((n_h, 1))
    W2 = np.random.randn(n_y, n_h) * 0.01
    b2 = np.zeros((n_y, 1))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def initialize_parameters_deep(layer_dims):
    np.random.seed(3)
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters["W" + str(l)] = np.random.randn(layer_dims[l], layer_dims[l - 1]) * 0.01
        parameters["b" + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters


def initialize_parameters_deep_application(layer_dims):
    np.random.seed(1)
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters["W" + str(l)] = (np.random.randn(layer_dims[l], layer_dims[l - 1])
                                    / np.sqrt(layer_dims[l - 1]))
        parameters["b" + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters


# --- forward ------------------------------------------------------------------

def linear_forward(A, W, b):
    Z = np.dot(W, A) + b
    return Z, (A, W, b)


def linear_activation_forward(A_prev, W, b, activation, slope=0.01):
    Z, linear_cache = linear_forward(A_prev, W, b)
    A = ACTIVATIONS[activation](Z, slope)
    return A, (linear_cache, Z)


def L_model_forward(X, parameters, hidden="relu", output="sigmoid", slope=0.01):
    return forward_with_dropout(X, parameters, hidden, output, None, slope)


# --- cost ---------------------------------------------------------------------

def compute_cost(AL, Y, loss="binary_crossentropy"):
    m = Y.shape[1]
    if loss == "binary_crossentropy":
        cost = (-1 / m) * np.sum(np.multiply(Y, np.log(AL)) + np.multiply(1 - Y, np.log(1 - AL)))
    elif loss == "categorical_crossentropy":
        cost = (-1 / m) * np.sum(np.multiply(Y, np.log(AL)))
    elif loss == "poisson":
        cost = np.sum(_xlogy(Y, Y / AL) - Y + AL) / m
    else:
        cost = np.sum((AL - Y) ** 2) / (2 * m)
    return np.squeeze(cost)


def compute_cost_from_logits(Z, Y, loss="binary_crossentropy"):
    m = Y.shape[1]
    if loss == "binary_crossentropy":
        return np.sum(np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))) / m
    if loss == "categorical_crossentropy":
        top = np.max(Z, axis=0, keepdims=True)
        lse = top + np.log(np.sum(np.exp(Z - top), axis=0, keepdims=True))
        return -np.sum(Y * (Z - lse)) / m
    if loss == "poisson":
        return np.sum(_xlogy(Y, Y) - Y * Z - Y + np.exp(Z)) / m
    return np.sum((Z - Y) ** 2) / (2 * m)


def loss_gradient(AL, Y, loss="binary_crossentropy"):
    """The course's dAL (the 1/m is applied in linear_backward)."""
    if loss == "binary_crossentropy":
        return -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    if loss == "categorical_crossentropy":
        return -np.divide(Y, AL)
    if loss == "poisson":
        return 1 - np.divide(Y, AL)
    return AL - Y


# --- backward -----------------------------------------------------------------

def linear_backward(dZ, cache, input_gradient=True):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ) if input_gradient else None
    return dA_prev, dW, db


def linear_activation_backward(dA, cache, activation, slope=0.01, input_gradient=True):
    linear_cache, activation_cache = cache
    dZ = BACKWARDS[activation](dA, activation_cache, slope)
    return linear_backward(dZ, linear_cache, input_gradient)


def L_model_backward(AL, Y, caches, hidden="relu", output="sigmoid",
                     loss="binary_crossentropy", slope=0.01, input_gradient=True):
    """The course's L_model_backward; ``input_gradient=False`` skips dA0, which
    training never uses."""
    grads = {}
    L = len(caches)
    Y = Y.reshape(AL.shape)
    dAL = loss_gradient(AL, Y, loss)
    current_cache = caches[L - 1]
    dA_prev, dW, db = linear_activation_backward(dAL, current_cache, output, slope,
                                                 input_gradient or L > 1)
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = dA_prev, dW, db
    for l in reversed(range(L - 1)):
        current_cache = caches[l]
        dA_prev, dW, db = linear_activation_backward(grads["dA" + str(l + 1)], current_cache,
                                                     hidden, slope, input_gradient or l > 0)
        grads["dA" + str(l)], grads["dW" + str(l + 1)], grads["db" + str(l + 1)] = dA_prev, dW, db
    if not input_gradient:
        grads.pop("dA0", None)
    return grads


def update_parameters(params, grads, learning_rate):
    parameters = dict(params)  # new arrays below; the caller's stay as they were
    L = len(parameters) // 2
    for l in range(L):
        parameters["W" + str(l + 1)] = (parameters["W" + str(l + 1)]
                                        - learning_rate * grads["dW" + str(l + 1)])
        parameters["b" + str(l + 1)] = (parameters["b" + str(l + 1)]
                                        - learning_rate * grads["db" + str(l + 1)])
    return parameters


def predict(X, y, parameters):
    m = X.shape[1]
    probas, caches = L_model_forward(X, parameters)
    p = (probas > 0.5).astype(np.float64)
    return p, np.sum((p == y) / m)


# --- the application's models -------------------------------------------------

def two_layer_model(X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000):
    np.random.seed(1)
    costs = []
    (n_x, n_h, n_y) = layers_dims
    parameters = initialize_parameters(n_x, n_h, n_y)
    for i in range(0, num_iterations):
        A1, cache1 = linear_activation_forward(X, parameters["W1"], parameters["b1"], "relu")
        A2, cache2 = linear_activation_forward(A1, parameters["W2"], parameters["b2"], "sigmoid")
        cost = compute_cost(A2, Y)
        dA2 = -(np.divide(Y, A2) - np.divide(1 - Y, 1 - A2))
        dA1, dW2, db2 = linear_activation_backward(dA2, cache2, "sigmoid")
        dA0, dW1, db1 = linear_activation_backward(dA1, cache1, "relu")
        grads = {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}
        parameters = update_parameters(parameters, grads, learning_rate)
        if i % 100 == 0 or i == num_iterations:
            costs.append(cost)
    return parameters, costs


def L_layer_model(X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000):
    np.random.seed(1)
    costs = []
    parameters = initialize_parameters_deep_application(layers_dims)
    for i in range(0, num_iterations):
        AL, caches = L_model_forward(X, parameters)
        cost = compute_cost(AL, Y)
        grads = L_model_backward(AL, Y, caches)
        parameters = update_parameters(parameters, grads, learning_rate)
        if i % 100 == 0 or i == num_iterations:
            costs.append(cost)
    return parameters, costs


# --- the course's planar data ---------------------------------------------------

def load_planar_dataset():
    np.random.seed(1)
    m = 400
    N = int(m / 2)
    D = 2
    X = np.zeros((m, D))
    Y = np.zeros((m, 1), dtype="uint8")
    a = 4
    for j in range(2):
        ix = range(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + np.random.randn(N) * 0.2
        r = a * np.sin(4 * t) + np.random.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


# --- one training step, as the benchmarks time it -------------------------------

def train_step(X, Y, parameters, learning_rate, hidden="relu", output="sigmoid",
               loss="binary_crossentropy"):
    """forward, cost, backward (without dA0), update; returns (parameters, cost)."""
    AL, caches = L_model_forward(X, parameters, hidden, output)
    cost = compute_cost(AL, Y, loss)
    grads = L_model_backward(AL, Y, caches, hidden, output, loss, input_gradient=False)
    return update_parameters(parameters, grads, learning_rate), cost


# ---------------------------------------------------------------------------
# Beyond the first course: regularisation, dropout, mini-batches, optimizers
# and learning-rate decay (Improving Deep Neural Networks, weeks 1-2), in the
# course's equations. The oracle of dnn.Network.

def forward_with_dropout(X, parameters, hidden="relu", output="sigmoid", masks=None,
                         slope=0.01):
    """The course's L_model_forward, with inverted dropout: A[l] = A[l] * masks[l]
    for the hidden layers in ``masks`` (a mask holds D[l] / keep_prob)."""
    masks = masks or {}
    caches = []
    A = X
    L = len(parameters) // 2
    for l in range(1, L):
        A, cache = linear_activation_forward(A, parameters["W" + str(l)],
                                             parameters["b" + str(l)], hidden, slope)
        if l in masks:
            A = A * masks[l]
        caches.append(cache)
    AL, cache = linear_activation_forward(A, parameters["W" + str(L)],
                                          parameters["b" + str(L)], output, slope)
    caches.append(cache)
    return AL, caches


def cost_with_regularization(AL, Y, parameters, l2, loss="binary_crossentropy"):
    """compute_cost + l2 / (2 m) * sum of ||W[l]||^2 (Frobenius)."""
    m = Y.shape[1]
    L = len(parameters) // 2
    penalty = sum(np.sum(np.square(parameters["W" + str(l)])) for l in range(1, L + 1))
    return compute_cost(AL, Y, loss) + l2 / (2 * m) * penalty


def backward_with_regularization(AL, Y, caches, hidden="relu", masks=None, l2=0.0,
                                 slope=0.01):
    """Gradients for an output whose loss matches it (dZ[L] = AL - Y), with the
    l2 term (dW += l2 / m * W) and dropout (dA[l] = dA[l] * masks[l])."""
    masks = masks or {}
    grads = {}
    L = len(caches)
    m = AL.shape[1]
    dZ = AL - Y
    for l in range(L, 0, -1):
        (A_prev, W, b), Z = caches[l - 1]
        grads["dW" + str(l)] = 1. / m * np.dot(dZ, A_prev.T) + l2 / m * W
        grads["db" + str(l)] = 1. / m * np.sum(dZ, axis=1, keepdims=True)
        if l > 1:
            dA_prev = np.dot(W.T, dZ)
            if l - 1 in masks:
                dA_prev = dA_prev * masks[l - 1]
            dZ = BACKWARDS[hidden](dA_prev, caches[l - 2][1], slope)
    return grads


def initialize_optimizer(parameters):
    """v and s: zeros like every parameter, keyed "dW1", "db1", ..."""
    return ({"d" + key: np.zeros_like(value) for key, value in parameters.items()},
            {"d" + key: np.zeros_like(value) for key, value in parameters.items()})


def update_parameters_with_optimizer(parameters, grads, v, s, t, learning_rate,
                                     optimizer="gd", beta1=0.9, beta2=0.999, epsilon=1e-8):
    """The course's update rules (gd, momentum, adam), with nesterov and rmsprop
    written the same way. ``t`` counts updates from 1. Returns new dicts."""
    parameters, v, s = dict(parameters), dict(v), dict(s)
    for key in parameters:
        g = grads["d" + key]
        d = "d" + key
        if optimizer == "gd":
            parameters[key] = parameters[key] - learning_rate * g
        elif optimizer in ("momentum", "nesterov"):
            v[d] = beta1 * v[d] + (1 - beta1) * g
            step = v[d] if optimizer == "momentum" else beta1 * v[d] + (1 - beta1) * g
            parameters[key] = parameters[key] - learning_rate * step
        elif optimizer == "rmsprop":
            s[d] = beta2 * s[d] + (1 - beta2) * np.square(g)
            parameters[key] = parameters[key] - learning_rate * g / (np.sqrt(s[d]) + epsilon)
        elif optimizer == "adam":
            v[d] = beta1 * v[d] + (1 - beta1) * g
            s[d] = beta2 * s[d] + (1 - beta2) * np.square(g)
            v_corrected = v[d] / (1 - beta1 ** t)
            s_corrected = s[d] / (1 - beta2 ** t)
            parameters[key] = (parameters[key]
                               - learning_rate * v_corrected / (np.sqrt(s_corrected) + epsilon))
        else:
            raise ValueError(optimizer)
    return parameters, v, s


def random_mini_batches(X, Y, mini_batch_size, permutation=None):
    """The course's random_mini_batches, with the permutation given (None: in order)."""
    m = X.shape[1]
    if permutation is None:
        permutation = np.arange(m)
    X, Y = X[:, permutation], Y[:, permutation]
    return [(X[:, k:k + mini_batch_size], Y[:, k:k + mini_batch_size])
            for k in range(0, m, mini_batch_size)]


def learning_rate_of(epoch, learning_rate0, schedule="constant", a=0.0, b=1.0):
    """Learning rate of an epoch: constant; inverse time (the course's
    schedule_lr_decay, a = decay_rate, b = time_interval); step (a = factor,
    b = step size); exponential (a = rate, b = epochs per decay)."""
    if schedule == "inverse_time":
        return learning_rate0 / (1 + a * np.floor(epoch / b))
    if schedule == "step":
        return learning_rate0 * a ** np.floor(epoch / b)
    if schedule == "exponential":
        return learning_rate0 * a ** (epoch / b)
    return learning_rate0


# ---------------------------------------------------------------------------
# Batch normalization (Improving Deep Neural Networks, week 3), in the course's
# equations: per hidden layer, between the linear part and the activation, the
# bias dropped. The oracle of dnn.batch_norm, dnn_core._batchnorm and the
# engine's batch_norm=True. Conventions: PyTorch's BatchNorm1d (eps 1e-5,
# running = (1 - momentum) running + momentum batch with momentum 0.1, the
# running variance unbiased, kept as it was for a batch of one). With sample
# weights w (m,), the statistics are weighted means and the unbiased factor
# is sum(w)^2 / (sum(w)^2 - sum(w^2)).

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.1


def batchnorm_forward(Z, gamma, beta, epsilon=BN_EPSILON, running_mean=None,
                      running_var=None, momentum=BN_MOMENTUM, training=True,
                      sample_weight=None):
    """Z_tilde = gamma * (Z - mu) / sqrt(var + epsilon) + beta.

    Z (n, m); gamma, beta, running_mean, running_var (n, 1). Training: batch
    statistics; returns (Z_tilde, cache, (running_mean, running_var)) with new
    running arrays (the old ones if None was given). Inference: the running
    statistics, cache None.
    """
    if not training:
        Z_tilde = gamma * (Z - running_mean) / np.sqrt(running_var + epsilon) + beta
        return Z_tilde, None, (running_mean, running_var)
    m = Z.shape[1]
    w = np.ones(m) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = np.sum(w)
    mu = np.sum(w * Z, axis=1, keepdims=True) / total
    var = np.sum(w * (Z - mu) ** 2, axis=1, keepdims=True) / total
    Z_norm = (Z - mu) / np.sqrt(var + epsilon)
    Z_tilde = gamma * Z_norm + beta
    if running_mean is not None:
        running_mean = (1 - momentum) * running_mean + momentum * mu
    if running_var is not None and total ** 2 > np.sum(w ** 2) * (1 + 1e-12):
        unbias = total ** 2 / (total ** 2 - np.sum(w ** 2))
        running_var = (1 - momentum) * running_var + momentum * unbias * var
    cache = (Z, Z_norm, mu, var, gamma, beta, epsilon, w)
    return Z_tilde, cache, (running_mean, running_var)


def batchnorm_backward(dZ_tilde, cache, reduction="mean"):
    """dZ, dgamma, dbeta by the chain rule through mu and var, step by step.

    dZ_tilde (n, m) in the course's convention (m times the cost's gradient,
    each column carrying its sample weight); dgamma, dbeta (n, 1) are
    sum(dZ_tilde * Z_norm, 1), sum(dZ_tilde, 1), divided by sum(w) (m) for
    reduction="mean" (the course's db) or not for "sum".
    """
    Z, Z_norm, mu, var, gamma, beta, epsilon, w = cache
    total = np.sum(w)
    dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)
    dgamma = np.sum(dZ_tilde * Z_norm, axis=1, keepdims=True)
    # g = dJ/dZ_tilde = dZ_tilde / total; back through Z_norm, var, mu
    g = dZ_tilde / total
    dZ_norm = g * gamma
    std_inv = 1 / np.sqrt(var + epsilon)
    dvar = np.sum(dZ_norm * (Z - mu), axis=1, keepdims=True) * -0.5 * std_inv ** 3
    dmu = (np.sum(-dZ_norm * std_inv, axis=1, keepdims=True)
           + dvar * np.sum(-2 * w * (Z - mu), axis=1, keepdims=True) / total)
    dJ_dZ = dZ_norm * std_inv + dvar * 2 * w * (Z - mu) / total + dmu * w / total
    dZ = dJ_dZ * total
    if reduction == "mean":
        dgamma, dbeta = dgamma / total, dbeta / total
    return dZ, dgamma, dbeta


def initialize_parameters_batch_norm(layer_dims, seed=1, batch_norm=True):
    """He-scaled W[l], gamma[l] = 1 and beta[l] = 0 for the hidden layers with
    batch norm (no b[l]; ``batch_norm``: True for all, or one bool per hidden
    layer), b[l] = 0 for the others and the output layer."""
    rng = np.random.default_rng(seed)
    L = len(layer_dims) - 1
    normalized = [batch_norm] * (L - 1) if isinstance(batch_norm, bool) else list(batch_norm)
    parameters = {}
    for l in range(1, L + 1):
        parameters["W" + str(l)] = (rng.standard_normal((layer_dims[l], layer_dims[l - 1]))
                                    * np.sqrt(2 / layer_dims[l - 1]))
        if l < L and normalized[l - 1]:
            parameters["gamma" + str(l)] = np.ones((layer_dims[l], 1))
            parameters["beta" + str(l)] = np.zeros((layer_dims[l], 1))
        else:
            parameters["b" + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters


def initialize_running_stats(parameters):
    """{"running_mean1": zeros, "running_var1": ones, ...} for each batch-norm layer."""
    stats = {}
    for key, value in parameters.items():
        if key.startswith("gamma"):
            stats["running_mean" + key[5:]] = np.zeros_like(value)
            stats["running_var" + key[5:]] = np.ones_like(value)
    return stats


def forward_with_batch_norm(X, parameters, hidden="relu", output="sigmoid", training=True,
                            running_stats=None, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                            masks=None, sample_weight=None, slope=0.01):
    """L-layer forward with batch norm on the hidden layers that have gamma[l]:
    Z[l] = W[l] A[l-1], A[l] = g(gamma[l] Z_norm[l] + beta[l]); the other
    layers (the output layer always) dense with b[l].

    Training uses the batch's statistics and returns updated running
    statistics (a new dict); inference (training=False) uses running_stats.
    ``masks``: inverted-dropout masks of hidden layers, as forward_with_dropout.
    Returns (AL, caches, running_stats); caches[l-1] = (A_prev, W, Z_tilde,
    bn_cache) for batch-norm layers, (A_prev, W, Z) for dense ones.
    """
    masks = masks or {}
    stats = dict(running_stats or {})
    L = sum(1 for key in parameters if key.startswith("W"))
    caches = []
    A = X
    for l in range(1, L):
        W = parameters["W" + str(l)]
        Z = np.dot(W, A)
        if "gamma" + str(l) not in parameters:
            Z = Z + parameters["b" + str(l)]
            caches.append((A, W, Z))
            A = ACTIVATIONS[hidden](Z, slope)
            if l in masks:
                A = A * masks[l]
            continue
        Z_tilde, bn_cache, (rm, rv) = batchnorm_forward(
            Z, parameters["gamma" + str(l)], parameters["beta" + str(l)], epsilon,
            stats.get("running_mean" + str(l)), stats.get("running_var" + str(l)),
            momentum, training, sample_weight)
        if training and running_stats is not None:
            stats["running_mean" + str(l)], stats["running_var" + str(l)] = rm, rv
        caches.append((A, W, Z_tilde, bn_cache))
        A = ACTIVATIONS[hidden](Z_tilde, slope)
        if l in masks:
            A = A * masks[l]
    W, b = parameters["W" + str(L)], parameters["b" + str(L)]
    Z = np.dot(W, A) + b
    caches.append((A, W, Z))
    return ACTIVATIONS[output](Z, slope), caches, stats


def per_example_loss(AL, Y, loss="binary_crossentropy"):
    """The loss of each example, (m,): the terms compute_cost averages."""
    if loss == "binary_crossentropy":
        return -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL), axis=0)
    if loss == "categorical_crossentropy":
        return -np.sum(Y * np.log(AL), axis=0)
    if loss == "poisson":
        return np.sum(_xlogy(Y, Y / AL) - Y + AL, axis=0)
    return np.sum((AL - Y) ** 2, axis=0) / 2


def cost_with_batch_norm(AL, Y, parameters, loss="binary_crossentropy", l2=0.0,
                         sample_weight=None):
    """sum(w * loss) / sum(w) + l2 / (2 sum(w)) * sum of ||W[l]||^2 (w = 1: the
    course's compute_cost plus its L2 term; gamma and beta are not penalised)."""
    m = Y.shape[1]
    w = np.ones(m) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = np.sum(w)
    penalty = sum(np.sum(np.square(value)) for key, value in parameters.items()
                  if key.startswith("W"))
    return np.sum(w * per_example_loss(AL, Y, loss)) / total + l2 / (2 * total) * penalty


def backward_with_batch_norm(AL, Y, caches, hidden="relu", masks=None, l2=0.0,
                             sample_weight=None, slope=0.01):
    """Gradients of cost_with_batch_norm for an output matched to its loss
    (dZ[L] = w * (AL - Y)): dW[l], dgamma[l], dbeta[l] of the batch-norm
    layers, dW[l], db[l] of the dense ones, each averaged over sum(w) (m) as
    the course's db."""
    masks = masks or {}
    grads = {}
    L = len(caches)
    m = AL.shape[1]
    w = np.ones(m) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = np.sum(w)
    A_prev, W, Z = caches[L - 1]
    dZ = w * (AL - Y)
    grads["dW" + str(L)] = np.dot(dZ, A_prev.T) / total + l2 / total * W
    grads["db" + str(L)] = np.sum(dZ, axis=1, keepdims=True) / total
    dA = np.dot(W.T, dZ)
    for l in range(L - 1, 0, -1):
        if l in masks:
            dA = dA * masks[l]
        if len(caches[l - 1]) == 3:
            A_prev, W, Z = caches[l - 1]
            dZ = BACKWARDS[hidden](dA, Z, slope)
            grads["db" + str(l)] = np.sum(dZ, axis=1, keepdims=True) / total
        else:
            A_prev, W, Z_tilde, bn_cache = caches[l - 1]
            dZ_tilde = BACKWARDS[hidden](dA, Z_tilde, slope)
            dZ, grads["dgamma" + str(l)], grads["dbeta" + str(l)] = batchnorm_backward(
                dZ_tilde, bn_cache)
        grads["dW" + str(l)] = np.dot(dZ, A_prev.T) / total + l2 / total * W
        if l > 1:
            dA = np.dot(W.T, dZ)
    return grads


def train_step_with_batch_norm(X, Y, parameters, running_stats, learning_rate,
                               hidden="relu", output="sigmoid", loss="binary_crossentropy",
                               l2=0.0, momentum=BN_MOMENTUM, epsilon=BN_EPSILON):
    """forward (training), cost, backward, gradient-descent update of W, b, gamma,
    beta; returns (parameters, running_stats, cost)."""
    AL, caches, stats = forward_with_batch_norm(X, parameters, hidden, output, True,
                                                running_stats, momentum, epsilon)
    cost = cost_with_batch_norm(AL, Y, parameters, loss, l2)
    grads = backward_with_batch_norm(AL, Y, caches, hidden, l2=l2)
    parameters = {key: value - learning_rate * grads["d" + key]
                  for key, value in parameters.items()}
    return parameters, stats, cost
