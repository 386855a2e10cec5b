"""Course 2 week 1, "Initialization".

``from dnn.course.initialization import *`` gives ``initialize_parameters_zeros``,
``initialize_parameters_random``, ``initialize_parameters_he`` and ``model``, with
the helpers of the notebook's ``init_utils`` (``load_dataset``,
``forward_propagation``, ``backward_propagation``, ``compute_loss``,
``update_parameters``, ``predict``, ``predict_dec``): the 3-layer
LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID network, its gradient
dict keys (``dz3``, ``dW3``, ``db3``, ``da2``, ...) and printed lines. The layers
run on the compiled kernels; random draws follow the notebook (``np.random.seed(3)``,
then ``np.random.randn`` layer by layer), so the numbers are the course's.
"""
import numpy as np

from dnn import _validation as check
from dnn.course import _common as c
from dnn.course import _three_layer as net

__all__ = ["initialize_parameters_zeros", "initialize_parameters_random",
           "initialize_parameters_he", "model", "load_dataset", "forward_propagation",
           "backward_propagation", "compute_loss", "update_parameters", "predict",
           "predict_dec"]


def initialize_parameters_zeros(layers_dims):
    """``W[l]`` and ``b[l]`` all zeros (nothing is drawn from the random state)."""
    return net.initialize(layers_dims, None, None, "layers_dims")


def initialize_parameters_random(layers_dims):
    """``np.random.seed(3)``; ``W[l] = randn(n[l], n[l-1]) * 10``; ``b[l] = 0``."""
    return net.initialize(layers_dims, lambda W, fan_in: W * 10, 3, "layers_dims")


def initialize_parameters_he(layers_dims):
    """``np.random.seed(3)``; ``W[l] = randn(n[l], n[l-1]) * sqrt(2 / n[l-1])``; ``b[l] = 0``."""
    return net.initialize(layers_dims, lambda W, fan_in: W * np.sqrt(2. / fan_in), 3,
                          "layers_dims")


def load_dataset():
    """The notebook's circles: ``train_X`` (2, 300), ``train_Y`` (1, 300), ``test_X``
    (2, 100), ``test_Y`` (1, 100), drawn by scikit-learn's ``make_circles`` (noise
    0.05) from NumPy's global state seeded with 1, then 2, as ``init_utils`` does
    (no plot)."""
    try:
        from sklearn.datasets import make_circles
    except ImportError:
        raise ImportError("load_dataset needs scikit-learn (pip install scikit-learn), as the "
                          "course's init_utils does") from None
    np.random.seed(1)
    train_X, train_Y = make_circles(n_samples=300, noise=.05)
    np.random.seed(2)
    test_X, test_Y = make_circles(n_samples=100, noise=.05)
    return (train_X.T, train_Y.reshape((1, train_Y.shape[0])),
            test_X.T, test_Y.reshape((1, test_Y.shape[0])))


def forward_propagation(X, parameters):
    """LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID.

    Returns ``a3`` (1, m) and the cache ``(z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3)``.
    """
    weights, biases = net.parameters(parameters)
    X = net.data(X, weights[0])
    return net.forward(X, weights, biases)


def backward_propagation(X, Y, cache):
    """Gradients from the cache, as init_utils gives them: ``dz3 = (a3 - Y) / m``, then
    ``dW = dz a^T``, ``db = sum(dz)``, ``da = W^T dz`` (so ``dz`` and ``da`` carry the
    1/m); ReLU's derivative from ``a > 0``. Keys ``dz3, dW3, db3, da2, dz2, dW2, db2,
    da1, dz1, dW1, db1``."""
    parts = net.check_cache(cache)
    X = net.data(X, parts["W1"])
    Y = net.labels(Y, X.shape[1], X.dtype)
    if parts["A3"].shape[1] != X.shape[1]:
        raise ValueError(f"X: expected {parts['A3'].shape[1]} columns like the cache's a3, "
                         f"got shape {X.shape}")
    return net.backward(X, Y, parts, lower=True, scaled=True)


def compute_loss(a3, Y):
    """``1/m * nansum(-log(a3) Y - log(1 - a3) (1 - Y))`` (NumPy float64)."""
    a3, Y = net.probabilities_and_labels(a3, Y, "a3")
    return 1. / a3.shape[1] * np.nansum(net.logprobs(a3, Y))


update_parameters = net.update_parameters


def predict(X, y, parameters):
    """0/1 predictions (1, m) of ``a3 > 0.5``; prints ``Accuracy: <mean>``."""
    return net.predict(X, y, parameters, forward_propagation)


def predict_dec(parameters, X):
    """Boolean predictions ``a3 > 0.5`` (1, m), for the decision boundary plot."""
    a3, _ = forward_propagation(X, parameters)
    return a3 > 0.5


_INITIALIZERS = {"zeros": initialize_parameters_zeros, "random": initialize_parameters_random,
                 "he": initialize_parameters_he}


def model(X, Y, learning_rate=0.01, num_iterations=15000, print_cost=True, initialization="he"):
    """Train the 3-layer network ``[n_x, 10, 5, 1]`` by gradient descent.

    Parameters
    ----------
    X : ndarray, shape (2, m)
    Y : array_like, shape (1, m)
    learning_rate : float
    num_iterations : int
    print_cost : bool
        Print ``Cost after iteration i: <loss>`` every 1000 iterations.
    initialization : {"zeros", "random", "he"}

    Returns
    -------
    dict
        The trained W1, b1, W2, b2, W3, b3. (The notebook also plots the costs;
        this does not.)
    """
    X = c.data(X)
    Y = net.labels(Y, X.shape[1], X.dtype)
    learning_rate = c.learning_rate(learning_rate)
    num_iterations = c.iterations(num_iterations)
    print_cost = c.flag(print_cost, "print_cost")
    initialization = check.choice(initialization, "initialization", tuple(_INITIALIZERS))
    params = _INITIALIZERS[initialization]([X.shape[0], 10, 5, 1])
    weights = [np.ascontiguousarray(params[f"W{l}"], dtype=X.dtype) for l in (1, 2, 3)]
    biases = [np.ascontiguousarray(params[f"b{l}"], dtype=X.dtype) for l in (1, 2, 3)]
    costs = []
    for i in range(num_iterations):
        a3, cache = net.forward(X, weights, biases)
        cost = 1. / X.shape[1] * np.nansum(net.logprobs(a3, Y))
        grads = net.backward(X, Y, dict(zip(net.CACHE_NAMES, cache)), lower=True)
        net.gradient_step(weights, biases, grads, learning_rate)
        if print_cost and i % 1000 == 0:
            print("Cost after iteration {}: {}".format(i, cost))
            costs.append(cost)
    return {key: value for l in (1, 2, 3)
            for key, value in ((f"W{l}", weights[l - 1]), (f"b{l}", biases[l - 1]))}
