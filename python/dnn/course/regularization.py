"""Course 2 week 1, "Regularization".

``from dnn.course.regularization import *`` gives
``compute_cost_with_regularization``, ``backward_propagation_with_regularization``,
``forward_propagation_with_dropout``, ``backward_propagation_with_dropout`` and
``model``, with the helpers of the notebook's ``reg_utils``
(``load_2D_dataset``, ``initialize_parameters``, ``forward_propagation``,
``backward_propagation``, ``compute_cost``, ``update_parameters``, ``predict``,
``predict_dec``): the 3-layer LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID
network with the notebook's cache tuples, gradient dict keys (``dZ3``, ``dW3``,
``db3``, ``dA2``, ...) and printed lines. Each layer's GEMM runs on the compiled
kernels; dropout draws its masks with ``np.random.rand`` after
``np.random.seed(1)`` as the notebook does, so the numbers are the course's.
"""
import numpy as np

from dnn.course import _common as c
from dnn.course import _three_layer as net

__all__ = ["compute_cost_with_regularization", "backward_propagation_with_regularization",
           "forward_propagation_with_dropout", "backward_propagation_with_dropout", "model",
           "load_2D_dataset", "initialize_parameters", "forward_propagation",
           "backward_propagation", "compute_cost", "update_parameters", "predict",
           "predict_dec"]


def load_2D_dataset(path="datasets/data.mat"):
    """The notebook's 2-D data (``reg_utils``): ``train_X`` (2, 211), ``train_Y``
    (1, 211), ``test_X`` (2, 200), ``test_Y`` (1, 200) from the MATLAB file the
    course ships as ``datasets/data.mat`` (no plot)."""
    try:
        from scipy.io import loadmat
    except ImportError:                                    # pragma: no cover
        raise ImportError("load_2D_dataset needs SciPy's scipy.io") from None
    data = loadmat(path)
    return data["X"].T, data["y"].T, data["Xval"].T, data["yval"].T


def initialize_parameters(layer_dims):
    """``np.random.seed(3)``; ``W[l] = randn(n[l], n[l-1]) / sqrt(n[l-1])``; ``b[l] = 0``."""
    return net.initialize(layer_dims, lambda W, fan_in: W / np.sqrt(fan_in), 3)


def forward_propagation(X, parameters):
    """LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID.

    Returns ``A3`` (1, m) and the cache ``(Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)``.
    """
    weights, biases = net.parameters(parameters)
    X = net.data(X, weights[0])
    return net.forward(X, weights, biases)


def forward_propagation_with_dropout(X, parameters, keep_prob=0.5):
    """The forward pass with inverted dropout on A1 and A2.

    Seeds NumPy's global state with 1 (as the notebook), then
    ``D1 = np.random.rand(*A1.shape) < keep_prob``, ``A1 = A1 * D1 / keep_prob``,
    and the same for A2 (D1 is drawn before D2).

    Returns
    -------
    A3 : ndarray (1, m)
    cache : tuple ``(Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)``;
        the masks hold 0 and 1 (integers).
    """
    weights, biases = net.parameters(parameters)
    X = net.data(X, weights[0])
    keep_prob = net.keep_probability(keep_prob)
    np.random.seed(1)
    return net.forward(X, weights, biases, keep_prob=keep_prob)


def _backward_inputs(X, Y, cache, dropout=False):
    parts = net.check_cache(cache, dropout=dropout)
    X = net.data(X, parts["W1"])
    if parts["A3"].shape[1] != X.shape[1]:
        raise ValueError(f"X: expected {parts['A3'].shape[1]} columns like the cache's A3, "
                         f"got shape {X.shape}")
    return X, net.labels(Y, X.shape[1], X.dtype), parts


def backward_propagation(X, Y, cache):
    """Gradients from the cache: ``{"dZ3", "dW3", "db3", "dA2", "dZ2", "dW2", "db2",
    "dA1", "dZ1", "dW1", "db1"}``; ReLU's derivative from ``A > 0``."""
    X, Y, parts = _backward_inputs(X, Y, cache)
    return net.backward(X, Y, parts)


def backward_propagation_with_regularization(X, Y, cache, lambd):
    """As :func:`backward_propagation`, with ``dW[l] += lambd / m * W[l]`` (L2)."""
    X, Y, parts = _backward_inputs(X, Y, cache)
    return net.backward(X, Y, parts, lambd=net.regularization(lambd))


def backward_propagation_with_dropout(X, Y, cache, keep_prob):
    """As :func:`backward_propagation` through the dropout masks of the cache of
    :func:`forward_propagation_with_dropout`: ``dA[l] = dA[l] * D[l] / keep_prob``."""
    X, Y, parts = _backward_inputs(X, Y, cache, dropout=True)
    return net.backward(X, Y, parts, keep_prob=net.keep_probability(keep_prob))


def _cost(A3, Y):
    return 1. / A3.shape[1] * np.nansum(net.logprobs(A3, Y))


def compute_cost(a3, Y):
    """``1/m * nansum(-log(a3) Y - log(1 - a3) (1 - Y))`` (NumPy float64)."""
    a3, Y = net.probabilities_and_labels(a3, Y, "a3")
    return _cost(a3, Y)


def _l2(A3, weights, lambd):
    squares = sum(np.sum(np.square(W)) for W in weights)
    return squares / A3.shape[1] * (lambd / 2)


def compute_cost_with_regularization(A3, Y, parameters, lambd):
    """The cross-entropy plus ``lambd / (2 m) * (||W1||^2 + ||W2||^2 + ||W3||^2)``
    (squared Frobenius norms)."""
    A3, Y = net.probabilities_and_labels(A3, Y)
    weights, _ = net.parameters(parameters)
    lambd = net.regularization(lambd)
    return _cost(A3, Y) + _l2(A3, weights, lambd)


update_parameters = net.update_parameters


def predict(X, y, parameters):
    """0/1 predictions (1, m) of ``a3 > 0.5``; prints ``Accuracy: <mean>``."""
    return net.predict(X, y, parameters, forward_propagation)


def predict_dec(parameters, X):
    """Boolean predictions ``a3 > 0.5`` (1, m), for the decision boundary plot."""
    a3, _ = forward_propagation(X, parameters)
    return a3 > 0.5


def model(X, Y, learning_rate=0.3, num_iterations=30000, print_cost=True, lambd=0, keep_prob=1):
    """Train the 3-layer network ``[n_x, 20, 3, 1]`` by gradient descent, with L2
    regularization (``lambd > 0``) or dropout (``keep_prob < 1``), one at a time as
    the notebook asserts.

    Parameters
    ----------
    X : ndarray, shape (n_x, m)
    Y : array_like, shape (1, m)
    learning_rate : float
    num_iterations : int
    print_cost : bool
        Print ``Cost after iteration i: <cost>`` every 10000 iterations.
    lambd : float
    keep_prob : float in (0, 1]

    Returns
    -------
    dict
        The trained parameters. (The notebook also plots the costs; this does not.)
    """
    X = c.data(X)
    Y = net.labels(Y, X.shape[1], X.dtype)
    learning_rate = c.learning_rate(learning_rate)
    num_iterations = c.iterations(num_iterations)
    print_cost = c.flag(print_cost, "print_cost")
    lambd = net.regularization(lambd)
    keep_prob = net.keep_probability(keep_prob)
    if lambd != 0 and keep_prob < 1:
        raise ValueError(f"lambd, keep_prob: the notebook's model uses L2 regularization or "
                         f"dropout, one at a time; got lambd={lambd} and keep_prob={keep_prob}")
    params = initialize_parameters([X.shape[0], 20, 3, 1])
    weights = [np.ascontiguousarray(params[f"W{l}"], dtype=X.dtype) for l in (1, 2, 3)]
    biases = [np.ascontiguousarray(params[f"b{l}"], dtype=X.dtype) for l in (1, 2, 3)]
    dropout = keep_prob < 1
    names = net.DROPOUT_CACHE_NAMES if dropout else net.CACHE_NAMES
    costs = []
    for i in range(num_iterations):
        if dropout:
            np.random.seed(1)
        a3, cache = net.forward(X, weights, biases, keep_prob=keep_prob if dropout else None)
        cost = _cost(a3, Y)
        if lambd != 0:
            cost = cost + _l2(a3, weights, lambd)
        grads = net.backward(X, Y, dict(zip(names, cache)), lambd=lambd,
                             keep_prob=keep_prob if dropout else None)
        net.gradient_step(weights, biases, grads, learning_rate)
        if print_cost and i % 10000 == 0:
            print("Cost after iteration {}: {}".format(i, cost))
        if print_cost and i % 1000 == 0:
            costs.append(cost)
    return {key: value for l in (1, 2, 3)
            for key, value in ((f"W{l}", weights[l - 1]), (f"b{l}", biases[l - 1]))}
