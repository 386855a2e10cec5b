"""Course 1 week 3, "Planar data classification with one hidden layer".

``from dnn.course.planar import *`` gives ``load_planar_dataset``,
``layer_sizes``, ``initialize_parameters``, ``forward_propagation``,
``compute_cost``, ``backward_propagation``, ``update_parameters``,
``nn_model`` and ``predict``: LINEAR -> TANH -> LINEAR -> SIGMOID with the
notebook's signatures, dict keys (the cache is ``{"Z1", "A1", "Z2", "A2"}``)
and printed lines. Both layers run on the compiled kernels (GEMM fused with
bias and activation forward; dW, db and W^T dZ backward).
"""
import numpy as np

from dnn import _validation as check
from dnn import datasets
from dnn import functional as F
from dnn.course import _common as c

__all__ = ["load_planar_dataset", "layer_sizes", "initialize_parameters",
           "forward_propagation", "compute_cost", "backward_propagation",
           "update_parameters", "nn_model", "predict"]


def load_planar_dataset():
    """The course's flower: ``X`` (2, 400) float64, ``Y`` (1, 400) uint8.

    As the course's ``planar_utils`` does, this seeds NumPy's global random
    state with 1 and draws the data from it, so the global state afterwards is
    the course's too (the points come from :func:`dnn.datasets.make_flower`).
    """
    X, Y = datasets.make_flower(400, seed=1)
    np.random.seed(1)
    np.random.randn(4 * 200)   # the four draws of 200 the course makes, in its order
    return X, Y


def layer_sizes(X, Y):
    """``(n_x, 4, n_y)``: the rows of X, a hidden layer of 4, the rows of Y."""
    X = check.as_array(X, "X")
    Y = check.as_array(Y, "Y")
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2-D array (n_x, m), got shape {X.shape}")
    if Y.ndim != 2:
        raise ValueError(f"Y: expected a 2-D array (n_y, m), got shape {Y.shape}")
    return (X.shape[0], 4, Y.shape[0])


def initialize_parameters(n_x, n_h, n_y):
    """``W1 = randn(n_h, n_x) * 0.01``, ``b1 = 0``, ``W2 = randn(n_y, n_h) * 0.01``,
    ``b2 = 0``, drawn from NumPy's global state in that order (the notebook seeds it
    before calling).

    Returns
    -------
    dict
        W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1).
    """
    dims = check.layer_dims([n_x, n_h, n_y], "(n_x, n_h, n_y)")
    check.allocation(F.parameter_bytes(dims, np.float64), "(n_x, n_h, n_y)",
                     f"the parameters of {dims}")
    W1 = np.random.randn(dims[1], dims[0]) * 0.01
    b1 = np.zeros((dims[1], 1))
    W2 = np.random.randn(dims[2], dims[1]) * 0.01
    b2 = np.zeros((dims[2], 1))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def _forward(X, W1, b1, W2, b2):
    Z1, A1 = c.dense(X, W1, b1, "tanh")
    Z2, A2 = c.dense(A1, W2, b2, "sigmoid")
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def forward_propagation(X, parameters):
    """``Z1 = W1 X + b1``, ``A1 = tanh(Z1)``, ``Z2 = W2 A1 + b2``, ``A2 = sigmoid(Z2)``.

    Parameters
    ----------
    X : ndarray, shape (n_x, m)
    parameters : dict with W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1)

    Returns
    -------
    A2 : ndarray, shape (n_y, m)
    cache : dict ``{"Z1", "A1", "Z2", "A2"}``
    """
    (W1, W2), (b1, b2) = c.parameters(parameters, 2)
    X = c.data(X, dtype=W1.dtype)
    if X.shape[0] != W1.shape[1]:
        raise ValueError(f"X: expected {W1.shape[1]} rows (the columns of W1), got shape "
                         f"{X.shape}")
    return _forward(X, W1, b1, W2, b2)


def _cost(A2, Y):
    with np.errstate(divide="ignore", invalid="ignore"):
        logprobs = Y * np.log(A2) + (1 - Y) * np.log(1 - A2)
    return float(np.squeeze(-np.sum(logprobs) / Y.shape[1]))


def compute_cost(A2, Y):
    """The cross-entropy ``-1/m sum(Y log A2 + (1 - Y) log(1 - A2))`` as a Python float.

    Y may hold bools, 0/1 or any real values (the course's code takes them).
    """
    A2 = c.data(A2, "A2")
    Y = c.labels(Y, "Y", A2.shape[1], A2.dtype, rows=A2.shape[0])
    return _cost(A2, Y)


def _backward(X, Y, W1, W2, A1, A2):
    # dZ2 = A2 - Y; dW2 = dZ2 A1.T / m; db2 = sum(dZ2) / m; dA1 = W2.T dZ2
    dA1, dW2, db2 = c.dense_grads(A2 - Y, A1, W2, name="cache")
    dZ1 = dA1 * (1 - A1 ** 2)                      # tanh'(Z1) = 1 - A1^2
    _, dW1, db1 = c.dense_grads(dZ1, X, W1, with_dA_prev=False, name="cache")
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def backward_propagation(parameters, cache, X, Y):
    """Gradients of the cost, from the cache (as the course: ``tanh'`` from A1).

    Parameters
    ----------
    parameters : dict (W2 is used)
    cache : dict with "A1" (n_h, m) and "A2" (n_y, m)
    X : ndarray, shape (n_x, m)
    Y : array_like, shape (n_y, m)

    Returns
    -------
    dict
        dW1 (n_h, n_x), db1 (n_h, 1), dW2 (n_y, n_h), db2 (n_y, 1).
    """
    (W1, W2), _ = c.parameters(parameters, 2)
    X = c.data(X, dtype=W1.dtype)
    if not isinstance(cache, dict):
        raise TypeError(f"cache: expected the dict forward_propagation returns, got "
                        f"{type(cache).__name__}")
    for key in ("A1", "A2"):
        if key not in cache:
            raise ValueError(f"cache: missing {key!r}")
    m = X.shape[1]
    A1 = c.data(cache["A1"], "cache['A1']", dtype=W1.dtype)
    A2 = c.data(cache["A2"], "cache['A2']", dtype=W1.dtype)
    if A1.shape != (W1.shape[0], m):
        raise ValueError(f"cache['A1']: expected shape {(W1.shape[0], m)}, got {A1.shape}")
    if A2.shape != (W2.shape[0], m):
        raise ValueError(f"cache['A2']: expected shape {(W2.shape[0], m)}, got {A2.shape}")
    if X.shape[0] != W1.shape[1]:
        raise ValueError(f"X: expected {W1.shape[1]} rows (the columns of W1), got shape "
                         f"{X.shape}")
    Y = c.labels(Y, "Y", m, W1.dtype, rows=W2.shape[0])
    return _backward(X, Y, W1, W2, A1, A2)


def update_parameters(parameters, grads, learning_rate=1.2):
    """``W = W - learning_rate * dW`` (and b); new arrays, inputs left alone."""
    return F.update_parameters(parameters, grads, learning_rate)


def nn_model(X, Y, n_h, num_iterations=10000, print_cost=False):
    """Train the one-hidden-layer network by gradient descent (learning rate 1.2).

    Seeds NumPy's global state with 3, then :func:`initialize_parameters`, as
    the notebook does; prints ``Cost after iteration %i: %f`` every 1000
    iterations when ``print_cost``.

    Parameters
    ----------
    X : ndarray, shape (n_x, m)
    Y : array_like, shape (n_y, m)
    n_h : int
    num_iterations : int
    print_cost : bool

    Returns
    -------
    dict
        The trained W1, b1, W2, b2.
    """
    X = c.data(X)
    Y = c.labels(Y, "Y", X.shape[1], X.dtype)
    n_h = check.positive_int(n_h, "n_h")
    num_iterations = c.iterations(num_iterations)
    np.random.seed(3)
    n_x, _, n_y = layer_sizes(X, Y)
    parameters = initialize_parameters(n_x, n_h, n_y)
    W1, b1, W2, b2 = (parameters[k].astype(X.dtype) for k in ("W1", "b1", "W2", "b2"))
    for i in range(num_iterations):
        A2, cache = _forward(X, W1, b1, W2, b2)
        cost = _cost(A2, Y)
        grads = _backward(X, Y, W1, W2, cache["A1"], A2)
        W1, b1 = W1 - 1.2 * grads["dW1"], b1 - 1.2 * grads["db1"]
        W2, b2 = W2 - 1.2 * grads["dW2"], b2 - 1.2 * grads["db2"]
        if print_cost and i % 1000 == 0:
            print("Cost after iteration %i: %f" % (i, cost))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def predict(parameters, X):
    """Boolean predictions ``A2 > 0.5`` of shape (n_y, m)."""
    A2, _ = forward_propagation(X, parameters)
    return A2 > 0.5
