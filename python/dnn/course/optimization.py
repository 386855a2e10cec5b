"""Course 2 week 2, "Optimization Methods".

``from dnn.course.optimization import *`` gives ``update_parameters_with_gd``,
``random_mini_batches``, ``initialize_velocity``, ``update_parameters_with_momentum``,
``initialize_adam``, ``update_parameters_with_adam``, ``update_lr``,
``schedule_lr_decay`` and ``model``, with the helpers of the notebook's
``opt_utils`` (``load_dataset``, ``initialize_parameters``, ``forward_propagation``,
``backward_propagation``, ``compute_cost``, ``predict``, ``predict_dec``), under the
notebook's signatures, dict keys and printed lines.

The updates run on the compiled optimizer kernel (``dnn_core.optimizer_step``: the
same rules the estimator's engine uses, in the course's order of operations, so the
numbers are the course's); the 3-layer network's passes on the dense kernels.
Mini-batches are shuffled by ``np.random.permutation`` after ``np.random.seed(seed)``
as the notebook does. As in the notebook, the update functions put new arrays
into the dicts they are given (``parameters``, ``v``, ``s``) and return them; the
arrays passed in are left unchanged.
"""
import numpy as np

import dnn_core
from dnn_core import registry

from dnn import _validation as check
from dnn.course import _common as c
from dnn.course import _three_layer as net

__all__ = ["update_parameters_with_gd", "random_mini_batches", "initialize_velocity",
           "update_parameters_with_momentum", "initialize_adam", "update_parameters_with_adam",
           "update_lr", "schedule_lr_decay", "model", "load_dataset", "initialize_parameters",
           "forward_propagation", "backward_propagation", "compute_cost", "predict",
           "predict_dec"]

_GD = registry.OPTIMIZERS["gd"].code
_MOMENTUM = registry.OPTIMIZERS["momentum"].code
_ADAM = registry.OPTIMIZERS["adam"].code


# ---------------------------------------------------------------------------
# Checks

def _layers(parameters):
    """The number of layers L of a checked course dict."""
    weights, _, _ = check.parameters(parameters)
    for l, W in enumerate(weights, start=1):
        check.check_finite(W, f"parameters['W{l}']")
        check.check_finite(check.float_array(parameters[f"b{l}"], f"parameters['b{l}']"),
                           f"parameters['b{l}']")
    return len(weights)


def _state(state, name, parameters, L):
    """``grads``, ``v`` or ``s``: a dict with "dW{l}", "db{l}" of the parameters' shapes."""
    if not isinstance(state, dict):
        raise TypeError(f"{name}: expected a dict like {{'dW1': ..., 'db1': ...}}, "
                        f"got {type(state).__name__}")
    dtype = np.asarray(parameters["W1"]).dtype
    out = {}
    for l in range(1, L + 1):
        for kind in ("W", "b"):
            key = f"d{kind}{l}"
            if key not in state:
                raise ValueError(f"{name}: missing {key!r} for parameters['{kind}{l}']")
            value = check.float_array(state[key], f"{name}['{key}']", dtype=dtype)
            shape = np.shape(parameters[f"{kind}{l}"])
            if value.shape != shape:
                raise ValueError(f"{name}['{key}']: expected shape {shape} like "
                                 f"parameters['{kind}{l}'], got {value.shape}")
            check.check_finite(value, f"{name}['{key}']")
            out[key] = value
    return out


def _step(code, parameters, grads, v, s, L, rate, beta1=0.9, beta2=0.999, epsilon=1e-8, t=1):
    """One kernel update of every parameter, on fresh copies put back into the dicts."""
    for l in range(1, L + 1):
        for kind in ("W", "b"):
            key = f"d{kind}{l}"
            P = np.array(parameters[f"{kind}{l}"], order="C", copy=True)
            G = np.ascontiguousarray(grads[key]).reshape(-1)
            V = np.array(v[key], order="C", copy=True) if v is not None else None
            S = np.array(s[key], order="C", copy=True) if s is not None else None
            flat_v = V.reshape(-1) if V is not None else np.empty_like(G)
            flat_s = S.reshape(-1) if S is not None else flat_v
            dnn_core.optimizer_step(code, P.reshape(-1), G, flat_v, flat_s, rate, beta1, beta2,
                                    epsilon, t)
            parameters[f"{kind}{l}"] = P
            if v is not None:
                v[key] = V
            if s is not None:
                s[key] = S


# ---------------------------------------------------------------------------
# The graded functions

def update_parameters_with_gd(parameters, grads, learning_rate):
    """``W[l] = W[l] - learning_rate * dW[l]`` (and b); returns ``parameters``."""
    L = _layers(parameters)
    grads = _state(grads, "grads", parameters, L)
    learning_rate = c.learning_rate(learning_rate)
    _step(_GD, parameters, grads, None, None, L, learning_rate)
    return parameters


def random_mini_batches(X, Y, mini_batch_size=64, seed=0):
    """Shuffle the columns of (X, Y) by ``np.random.permutation(m)`` after
    ``np.random.seed(seed)``, then cut them into mini-batches of ``mini_batch_size``
    (the last one smaller when m is not a multiple).

    Returns
    -------
    list of (mini_batch_X, mini_batch_Y)
        ``mini_batch_Y`` of shape (1, size), Y's dtype kept.
    """
    X = check.as_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2-D array (n_x, m), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X: expected numbers, got dtype {X.dtype}")
    m = X.shape[1]
    Y = check.as_array(Y, "Y")
    if Y.ndim == 1 and Y.shape[0] == m:
        Y = Y.reshape(1, m)
    if Y.shape != (1, m):
        raise ValueError(f"Y: expected shape (1, {m}) (the columns of X), got {Y.shape}")
    if Y.dtype.kind not in "biuf":
        raise TypeError(f"Y: expected numeric labels, got dtype {Y.dtype}")
    mini_batch_size = check.positive_int(mini_batch_size, "mini_batch_size")
    seed = check.integer(seed, "seed", low=0)
    if seed > 2 ** 32 - 1:
        raise ValueError(f"seed: expected an integer below 2**32 (np.random.seed), got {seed}")
    np.random.seed(seed)
    permutation = list(np.random.permutation(m))
    shuffled_X = X[:, permutation]
    shuffled_Y = Y[:, permutation].reshape((1, m))
    return [(shuffled_X[:, k:k + mini_batch_size], shuffled_Y[:, k:k + mini_batch_size])
            for k in range(0, m, mini_batch_size)]


def _zeros_like_parameters(parameters):
    L = _layers(parameters)
    return {f"d{kind}{l}": np.zeros(np.shape(parameters[f"{kind}{l}"]),
                                    dtype=np.asarray(parameters["W1"]).dtype)
            for l in range(1, L + 1) for kind in ("W", "b")}


def initialize_velocity(parameters):
    """``v["dW{l}"]``, ``v["db{l}"]``: zeros of the parameters' shapes."""
    return _zeros_like_parameters(parameters)


def update_parameters_with_momentum(parameters, grads, v, beta, learning_rate):
    """``v = beta v + (1 - beta) dW``; ``W = W - learning_rate v`` (and b).
    Returns ``parameters, v``."""
    L = _layers(parameters)
    grads = _state(grads, "grads", parameters, L)
    _state(v, "v", parameters, L)
    beta = check.real(beta, "beta", low=0.0, high=1.0)
    learning_rate = c.learning_rate(learning_rate)
    _step(_MOMENTUM, parameters, grads, v, None, L, learning_rate, beta1=beta)
    return parameters, v


def initialize_adam(parameters):
    """``v`` and ``s``: zeros of the parameters' shapes (keys "dW{l}", "db{l}")."""
    return _zeros_like_parameters(parameters), _zeros_like_parameters(parameters)


def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate=0.01, beta1=0.9,
                                beta2=0.999, epsilon=1e-8):
    """One Adam step:
    ``v = beta1 v + (1 - beta1) dW``, ``s = beta2 s + (1 - beta2) dW**2``,
    ``v_corrected = v / (1 - beta1**t)``, ``s_corrected = s / (1 - beta2**t)``,
    ``W = W - learning_rate * v_corrected / (sqrt(s_corrected) + epsilon)`` (and b).

    Returns
    -------
    parameters, v, s, v_corrected, s_corrected
    """
    L = _layers(parameters)
    grads = _state(grads, "grads", parameters, L)
    _state(v, "v", parameters, L)
    _state(s, "s", parameters, L)
    t = check.positive_int(t, "t")
    learning_rate = c.learning_rate(learning_rate)
    beta1 = check.real(beta1, "beta1", low=0.0, high=1.0)
    beta2 = check.real(beta2, "beta2", low=0.0, high=1.0)
    if beta1 == 1 or beta2 == 1:
        raise ValueError(f"beta1, beta2: expected numbers < 1 (the bias corrections divide by "
                         f"1 - beta**t), got {beta1} and {beta2}")
    epsilon = check.real(epsilon, "epsilon", low=0.0)
    _step(_ADAM, parameters, grads, v, s, L, learning_rate, beta1, beta2, epsilon, t)
    v_corrected = {key: value / (1 - beta1 ** t) for key, value in v.items()}
    s_corrected = {key: value / (1 - beta2 ** t) for key, value in s.items()}
    return parameters, v, s, v_corrected, s_corrected


def update_lr(learning_rate0, epoch_num, decay_rate):
    """``learning_rate0 / (1 + decay_rate * epoch_num)``, written as the course:
    ``1 / (1 + decay_rate * epoch_num) * learning_rate0``."""
    learning_rate0 = c.learning_rate(learning_rate0, "learning_rate0")
    epoch_num = check.integer(epoch_num, "epoch_num")
    decay_rate = check.real(decay_rate, "decay_rate", low=0.0)
    return 1 / (1 + decay_rate * epoch_num) * learning_rate0


def schedule_lr_decay(learning_rate0, epoch_num, decay_rate, time_interval=1000):
    """``1 / (1 + decay_rate * floor(epoch_num / time_interval)) * learning_rate0``
    (NumPy float64, as the course's ``np.floor`` gives)."""
    learning_rate0 = c.learning_rate(learning_rate0, "learning_rate0")
    epoch_num = check.integer(epoch_num, "epoch_num")
    decay_rate = check.real(decay_rate, "decay_rate", low=0.0)
    time_interval = check.positive_int(time_interval, "time_interval")
    return 1 / (1 + decay_rate * np.floor(epoch_num / time_interval)) * learning_rate0


# ---------------------------------------------------------------------------
# opt_utils

def load_dataset():
    """The notebook's moons: ``train_X`` (2, 300), ``train_Y`` (1, 300), from
    scikit-learn's ``make_moons`` (noise 0.2) after ``np.random.seed(3)`` (no plot)."""
    try:
        from sklearn.datasets import make_moons
    except ImportError:
        raise ImportError("load_dataset needs scikit-learn (pip install scikit-learn), as the "
                          "course's opt_utils does") from None
    np.random.seed(3)
    train_X, train_Y = make_moons(n_samples=300, noise=.2)
    return train_X.T, train_Y.reshape((1, train_Y.shape[0]))


def initialize_parameters(layer_dims):
    """``np.random.seed(3)``; ``W[l] = randn(n[l], n[l-1]) * sqrt(2 / n[l-1])``; ``b[l] = 0``."""
    return net.initialize(layer_dims, lambda W, fan_in: W * np.sqrt(2 / fan_in), 3)


def forward_propagation(X, parameters):
    """LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID. Returns ``a3`` and the
    cache ``(z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3)``."""
    weights, biases = net.parameters(parameters)
    X = net.data(X, weights[0])
    return net.forward(X, weights, biases)


def backward_propagation(X, Y, cache):
    """Gradients as opt_utils gives them: ``dz3 = (a3 - Y) / m``, then ``dW = dz a^T``,
    ``db = sum(dz)``, ``da = W^T dz`` (so ``dz`` and ``da`` carry the 1/m); keys
    ``dz3, dW3, db3, da2, dz2, dW2, db2, da1, dz1, dW1, db1``."""
    parts = net.check_cache(cache)
    X = net.data(X, parts["W1"])
    if parts["A3"].shape[1] != X.shape[1]:
        raise ValueError(f"X: expected {parts['A3'].shape[1]} columns like the cache's a3, "
                         f"got shape {X.shape}")
    return net.backward(X, net.labels(Y, X.shape[1], X.dtype), parts, lower=True, scaled=True)


def compute_cost(a3, Y):
    """The summed cross-entropy ``sum(-log(a3) Y - log(1 - a3) (1 - Y))`` (not divided
    by m: the model adds the mini-batches' costs, then divides by m)."""
    a3, Y = net.probabilities_and_labels(a3, Y, "a3")
    return np.sum(net.logprobs(a3, Y))


def predict(X, y, parameters):
    """0/1 predictions (1, m) of ``a3 > 0.5``; prints ``Accuracy: <mean>``."""
    return net.predict(X, y, parameters, forward_propagation)


def predict_dec(parameters, X):
    """Boolean predictions ``a3 > 0.5`` (1, m), for the decision boundary plot."""
    a3, _ = forward_propagation(X, parameters)
    return a3 > 0.5


# ---------------------------------------------------------------------------
# The model

_OPTIMIZERS = ("gd", "momentum", "adam")


def model(X, Y, layers_dims, optimizer, learning_rate=0.0007, mini_batch_size=64, beta=0.9,
          beta1=0.9, beta2=0.999, epsilon=1e-8, num_epochs=5000, print_cost=True, decay=None,
          decay_rate=1):
    """Train the 3-layer network by mini-batch gradient descent, momentum or Adam.

    As the notebook: He initialisation (:func:`initialize_parameters`); epoch i
    shuffles with ``random_mini_batches(X, Y, mini_batch_size, seed=11 + i)``;
    Adam's ``t`` counts mini-batches; the cost is the epoch's summed cross-entropy
    over m; ``decay(learning_rate0, i, decay_rate)`` (e.g. :func:`update_lr`,
    :func:`schedule_lr_decay`) sets the rate after epoch i. Prints
    ``Cost after epoch i: ...`` (and ``learning rate after epoch i: ...`` with a
    decay) every 1000 epochs.

    Parameters
    ----------
    X : ndarray, shape (n_x, m)
    Y : array_like, shape (1, m)
    layers_dims : list of 4 sizes, ``layers_dims[0] == n_x``
    optimizer : {"gd", "momentum", "adam"}

    Returns
    -------
    dict
        The trained parameters. (The notebook also plots the costs; this does not.)
    """
    X = c.data(X)
    Y = net.labels(Y, X.shape[1], X.dtype)
    dims = check.layer_dims(layers_dims, "layers_dims")
    if len(dims) != 4:
        raise ValueError(f"layers_dims: expected 4 sizes (the notebook's 3-layer network), "
                         f"got {dims}")
    if dims[0] != X.shape[0]:
        raise ValueError(f"X: expected {dims[0]} rows (layers_dims[0]), got shape {X.shape}")
    optimizer = check.choice(optimizer, "optimizer", _OPTIMIZERS)
    learning_rate = c.learning_rate(learning_rate)
    mini_batch_size = check.positive_int(mini_batch_size, "mini_batch_size")
    beta = check.real(beta, "beta", low=0.0, high=1.0)
    beta1 = check.real(beta1, "beta1", low=0.0, high=1.0)
    beta2 = check.real(beta2, "beta2", low=0.0, high=1.0)
    if optimizer == "adam" and (beta1 == 1 or beta2 == 1):
        raise ValueError(f"beta1, beta2: expected numbers < 1, got {beta1} and {beta2}")
    epsilon = check.real(epsilon, "epsilon", low=0.0)
    num_epochs = c.iterations(num_epochs, "num_epochs")
    print_cost = c.flag(print_cost, "print_cost")
    if decay is not None and not callable(decay):
        raise TypeError(f"decay: expected None or a function (learning_rate0, epoch_num, "
                        f"decay_rate) -> learning rate, got {type(decay).__name__}")
    decay_rate = check.real(decay_rate, "decay_rate", low=0.0)

    params = initialize_parameters(dims)
    weights = [np.ascontiguousarray(params[f"W{l}"], dtype=X.dtype) for l in (1, 2, 3)]
    biases = [np.ascontiguousarray(params[f"b{l}"], dtype=X.dtype) for l in (1, 2, 3)]
    flat = [a.reshape(-1) for l in range(3) for a in (weights[l], biases[l])]
    v = [np.zeros_like(a) for a in flat]
    s = [np.zeros_like(a) for a in flat]
    code = {"gd": _GD, "momentum": _MOMENTUM, "adam": _ADAM}[optimizer]
    beta1 = beta if optimizer == "momentum" else beta1
    t, seed, m, learning_rate0 = 0, 10, X.shape[1], learning_rate
    costs = []
    for i in range(num_epochs):
        seed = seed + 1
        cost_total = 0
        for batch_X, batch_Y in random_mini_batches(X, Y, mini_batch_size, seed):
            a3, cache = net.forward(batch_X, weights, biases)
            cost_total += np.sum(net.logprobs(a3, batch_Y))
            grads = net.backward(batch_X, batch_Y, dict(zip(net.CACHE_NAMES, cache)))
            if optimizer == "adam":
                t = t + 1
            for index, key in enumerate(("dW1", "db1", "dW2", "db2", "dW3", "db3")):
                dnn_core.optimizer_step(code, flat[index],
                                        np.ascontiguousarray(grads[key]).reshape(-1),
                                        v[index], s[index], learning_rate, beta1, beta2,
                                        epsilon, max(t, 1))
        cost_avg = cost_total / m
        if decay:
            learning_rate = c.learning_rate(decay(learning_rate0, i, decay_rate),
                                            "decay(learning_rate0, epoch_num, decay_rate)")
        if print_cost and i % 1000 == 0:
            print("Cost after epoch %i: %f" % (i, cost_avg))
            if decay:
                print("learning rate after epoch %i: %f" % (i, learning_rate))
        if print_cost and i % 100 == 0:
            costs.append(cost_avg)
    return {key: value for l in (1, 2, 3)
            for key, value in ((f"W{l}", weights[l - 1]), (f"b{l}", biases[l - 1]))}
