"""Course 1 week 2, "Logistic Regression with a Neural Network mindset".

``from dnn.course.logistic_regression import *`` gives ``sigmoid``,
``initialize_with_zeros``, ``propagate``, ``optimize``, ``predict`` and
``model`` with the notebook's signatures, dict keys and printed lines. The
linear step and its gradient run on the compiled kernels (one GEMV each way).
"""
import numpy as np

from dnn import _validation as check
from dnn.course import _common as c

__all__ = ["sigmoid", "initialize_with_zeros", "propagate", "optimize", "predict", "model"]


def sigmoid(z):
    """``1 / (1 + exp(-z))`` of a scalar or an array of any shape."""
    return c.sigmoid(z)


def initialize_with_zeros(dim):
    """``w`` zeros of shape (dim, 1) and ``b = 0.0`` (a Python float)."""
    dim = check.positive_int(dim, "dim")
    check.allocation(8 * dim, "dim", f"w of shape ({dim}, 1)")
    return np.zeros((dim, 1)), 0.0


def _inputs(w, b, X, Y=None):
    X = c.data(X)
    w = check.float_array(w, "w")
    if w.shape not in ((X.shape[0], 1), (X.shape[0],)):
        raise ValueError(f"w: expected shape ({X.shape[0]}, 1) (the rows of X, shape "
                         f"{X.shape}), got {w.shape}")
    check.check_finite(w, "w")
    b = c.real(b, "b")
    dtype = np.result_type(w.dtype, X.dtype)
    X = X.astype(dtype, copy=False)
    w_row = np.ascontiguousarray(w.reshape(1, -1), dtype=dtype)    # w.T, (1, n)
    b_col = np.full((1, 1), b, dtype=dtype)
    if Y is None:
        return w_row, b_col, X, None
    return w_row, b_col, X, c.labels(Y, "Y", X.shape[1], dtype, rows=1)


def _cost(A, Y):
    """-1/m sum(Y log A + (1 - Y) log(1 - A)), as the course writes it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / A.shape[1]


def _propagate(w_row, b_col, X, Y):
    _, A = c.dense(X, w_row, b_col, "sigmoid")          # A = sigmoid(w.T X + b)
    cost = np.squeeze(np.array(_cost(A, Y)))
    # dw = X (A - Y).T / m, db = sum(A - Y) / m
    _, dW, db = c.dense_grads(A - Y, X, w_row, with_dA_prev=False, name="w, b, X")
    return {"dw": dW.reshape(-1, 1), "db": db.dtype.type(db[0, 0])}, cost


def propagate(w, b, X, Y):
    """Cost and gradients of logistic regression.

    Parameters
    ----------
    w : ndarray, shape (n_x, 1)
    b : float
    X : ndarray, shape (n_x, m)
    Y : array_like, shape (1, m)
        Labels (any real values are taken, as the course's code takes them).

    Returns
    -------
    grads : dict
        ``"dw"`` of shape (n_x, 1) and ``"db"`` (a NumPy float).
    cost : ndarray, shape ()
    """
    return _propagate(*_inputs(w, b, X, Y))


def optimize(w, b, X, Y, num_iterations=100, learning_rate=0.009, print_cost=False):
    """Gradient descent on (w, b) from copies of them.

    Returns
    -------
    params : dict
        ``"w"`` (n_x, 1), ``"b"``.
    grads : dict
        The last iteration's ``"dw"``, ``"db"``.
    costs : list
        The cost (0-d arrays) of every 100th iteration, printed as ``Cost after
        iteration %i: %f`` when ``print_cost``.
    """
    w_row, b_col, X, Y = _inputs(w, b, X, Y)
    num_iterations = c.iterations(num_iterations)
    learning_rate = c.learning_rate(learning_rate)
    b_value = b if not isinstance(b, np.ndarray) else b.reshape(()).item()
    grads = {"dw": None, "db": None}
    costs = []
    for i in range(num_iterations):
        grads, cost = _propagate(w_row, b_col, X, Y)
        w_row = w_row - learning_rate * grads["dw"].reshape(1, -1)
        b_value = b_value - learning_rate * grads["db"]
        b_col = np.full((1, 1), b_value, dtype=X.dtype)
        if i % 100 == 0:
            costs.append(cost)
            if print_cost:
                print("Cost after iteration %i: %f" % (i, cost))
    return {"w": w_row.reshape(-1, 1), "b": b_value}, grads, costs


def predict(w, b, X):
    """0./1. predictions of shape (1, m): 1 where sigmoid(w.T X + b) > 0.5."""
    w_row, b_col, X, _ = _inputs(w, b, X)
    _, A = c.dense(X, w_row, b_col, "sigmoid")
    return (A > 0.5).astype(np.float64)


def model(X_train, Y_train, X_test, Y_test, num_iterations=2000, learning_rate=0.5,
          print_cost=False):
    """Logistic regression from zeros, trained by :func:`optimize`.

    Parameters
    ----------
    X_train : ndarray, shape (n_x, m_train)
    Y_train : array_like, shape (1, m_train)
    X_test : ndarray, shape (n_x, m_test)
    Y_test : array_like, shape (1, m_test) (or (m_test,))
    num_iterations, learning_rate, print_cost
        As :func:`optimize`; with ``print_cost`` the train and test accuracies
        are printed as the course prints them.

    Returns
    -------
    dict
        ``"costs"``, ``"Y_prediction_test"``, ``"Y_prediction_train"``, ``"w"``,
        ``"b"``, ``"learning_rate"``, ``"num_iterations"``.
    """
    X_train = c.data(X_train, "X_train")
    X_test = c.data(X_test, "X_test")
    if X_test.shape[0] != X_train.shape[0]:
        raise ValueError(f"X_test: expected {X_train.shape[0]} rows like X_train, got shape "
                         f"{X_test.shape}")
    Y_train = c.labels(Y_train, "Y_train", X_train.shape[1], np.float64, rows=1)
    Y_test_checked = c.labels(Y_test, "Y_test", X_test.shape[1], np.float64, rows=1)
    w, b = initialize_with_zeros(X_train.shape[0])
    params, grads, costs = optimize(w, b, X_train, Y_train, num_iterations, learning_rate,
                                    print_cost)
    w, b = params["w"], params["b"]
    Y_prediction_test = predict(w, b, X_test)
    Y_prediction_train = predict(w, b, X_train)
    if print_cost:
        print("train accuracy: {} %".format(
            100 - np.mean(np.abs(Y_prediction_train - Y_train)) * 100))
        print("test accuracy: {} %".format(
            100 - np.mean(np.abs(Y_prediction_test - Y_test_checked)) * 100))
    return {"costs": costs, "Y_prediction_test": Y_prediction_test,
            "Y_prediction_train": Y_prediction_train, "w": w, "b": b,
            "learning_rate": learning_rate, "num_iterations": num_iterations}
