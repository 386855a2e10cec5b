"""Course 2 week 1, "Gradient Checking".

``from dnn.course.gradient_checking import *`` gives the 1-D check
(``forward_propagation``, ``backward_propagation``, ``gradient_check`` of
``J(theta) = theta x``), the N-D check of the 3-layer
LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID network
(``forward_propagation_n``, ``backward_propagation_n``, ``gradient_check_n``) and
the notebook's ``gc_utils`` (``sigmoid``, ``relu``, ``dictionary_to_vector``,
``vector_to_dictionary``, ``gradients_to_vector``), with the notebook's signatures
and printed lines. ``backward_propagation_n`` is the correct one (the notebook's
deliberately carries two bugs for the learner to find). The forward and backward
passes run on the compiled kernels.
"""
import numpy as np

from dnn import _validation as check
from dnn.course import _common as c
from dnn.course import _three_layer as net

__all__ = ["forward_propagation", "backward_propagation", "gradient_check",
           "forward_propagation_n", "backward_propagation_n", "gradient_check_n",
           "sigmoid", "relu", "dictionary_to_vector", "vector_to_dictionary",
           "gradients_to_vector"]

_PARAMETER_KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")
#: the shapes gc_utils' vector_to_dictionary unrolls (the notebook's [4, 5, 3, 1] net)
_COURSE_SHAPES = ((5, 4), (5, 1), (3, 5), (3, 1), (1, 3), (1, 1))

_MISTAKE = "\033[93m" + "There is a mistake in the backward propagation! difference = "
_FINE = "\033[92m" + "Your backward propagation works perfectly fine! difference = "


def sigmoid(x):
    """``1 / (1 + exp(-x))`` of a scalar or an array."""
    return c.sigmoid(x)


def relu(x):
    """``max(0, x)`` elementwise."""
    x = check.as_array(x, "x")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x: expected real numbers, got dtype {x.dtype}")
    return np.maximum(0, x)


def _number(value, name):
    """A real scalar or a real array (finite), as the course's np.dot takes."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    array = check.as_array(value, name)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}"
                        + (f" of dtype {array.dtype}" if isinstance(value, np.ndarray) else ""))
    if array.dtype.kind == "f":
        check.check_finite(np.ascontiguousarray(array).reshape(-1), name)
    return value


def forward_propagation(x, theta):
    """``J = theta x`` (``np.dot(theta, x)``)."""
    x, theta = _number(x, "x"), _number(theta, "theta")
    return np.dot(theta, x)


def backward_propagation(x, theta):
    """``dJ/dtheta = x``."""
    _number(theta, "theta")
    return _number(x, "x")


def _report(difference, print_msg):
    if print_msg:
        print((_MISTAKE if difference > 2e-7 else _FINE) + str(difference) + "\033[0m")


def _epsilon(value):
    return check.real(value, "epsilon", low=0.0, low_inclusive=False)


def gradient_check(x, theta, epsilon=1e-7, print_msg=False):
    """Compare :func:`backward_propagation` with the centred difference
    ``(J(theta + eps) - J(theta - eps)) / (2 eps)``.

    Returns ``difference = ||grad - gradapprox|| / (||grad|| + ||gradapprox||)``;
    with ``print_msg``, prints the notebook's verdict (mistake above 2e-7).
    """
    x, theta = _number(x, "x"), _number(theta, "theta")
    epsilon = _epsilon(epsilon)
    print_msg = c.flag(print_msg, "print_msg")
    J_plus = forward_propagation(x, theta + epsilon)
    J_minus = forward_propagation(x, theta - epsilon)
    gradapprox = (J_plus - J_minus) / (2 * epsilon)
    grad = backward_propagation(x, theta)
    difference = (np.linalg.norm(grad - gradapprox)
                  / (np.linalg.norm(grad) + np.linalg.norm(gradapprox)))
    _report(difference, print_msg)
    return difference


def _cost(A3, Y):
    return 1. / A3.shape[1] * np.sum(net.logprobs(A3, Y))


def forward_propagation_n(X, Y, parameters):
    """The 3-layer forward pass and its cost ``1/m * sum(-log(A3) Y - log(1 - A3) (1 - Y))``.

    Returns
    -------
    cost : numpy float
    cache : tuple ``(Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)``
    """
    weights, biases = net.parameters(parameters)
    X = net.data(X, weights[0])
    Y = net.labels(Y, X.shape[1], X.dtype)
    A3, cache = net.forward(X, weights, biases)
    return _cost(A3, Y), cache


def backward_propagation_n(X, Y, cache):
    """The gradients of :func:`forward_propagation_n`'s cost: ``{"dZ3", "dW3", "db3",
    "dA2", "dZ2", "dW2", "db2", "dA1", "dZ1", "dW1", "db1"}``."""
    parts = net.check_cache(cache)
    X = net.data(X, parts["W1"])
    if parts["A3"].shape[1] != X.shape[1]:
        raise ValueError(f"X: expected {parts['A3'].shape[1]} columns like the cache's A3, "
                         f"got shape {X.shape}")
    return net.backward(X, net.labels(Y, X.shape[1], X.dtype), parts)


def _stack(arrays, names, where):
    columns = []
    for key in names:
        if key not in arrays:
            raise ValueError(f"{where}: missing {key!r}")
        value = check.float_array(arrays[key], f"{where}['{key}']")
        columns.append(np.reshape(value, (-1, 1)))
    return np.concatenate(columns, axis=0)


def dictionary_to_vector(parameters):
    """W1, b1, W2, b2, W3, b3 unrolled into one column ``theta`` (n, 1); returns
    ``theta, keys`` with ``keys`` naming each entry's array."""
    if not isinstance(parameters, dict):
        raise TypeError(f"parameters: expected a dict, got {type(parameters).__name__}")
    theta = _stack(parameters, _PARAMETER_KEYS, "parameters")
    keys = [key for key in _PARAMETER_KEYS for _ in range(np.size(parameters[key]))]
    return theta, keys


def gradients_to_vector(gradients):
    """dW1, db1, dW2, db2, dW3, db3 unrolled into one column (n, 1)."""
    if not isinstance(gradients, dict):
        raise TypeError(f"gradients: expected a dict, got {type(gradients).__name__}")
    return _stack(gradients, ["d" + key for key in _PARAMETER_KEYS], "gradients")


def _unroll(theta, shapes, name="theta"):
    theta = check.float_array(theta, name)
    total = sum(int(np.prod(shape)) for shape in shapes)
    if theta.size != total or theta.ndim not in (1, 2) or (theta.ndim == 2
                                                         and theta.shape[1] != 1):
        raise ValueError(f"{name}: expected a column of {total} entries (shape ({total}, 1)), "
                         f"got shape {theta.shape}")
    flat, out, start = theta.reshape(-1), {}, 0
    for key, shape in zip(_PARAMETER_KEYS, shapes):
        size = int(np.prod(shape))
        out[key] = flat[start:start + size].reshape(shape)
        start += size
    return out


def vector_to_dictionary(theta):
    """The inverse of :func:`dictionary_to_vector` for the notebook's network
    (W1 (5, 4), b1 (5, 1), W2 (3, 5), b2 (3, 1), W3 (1, 3), b3 (1, 1))."""
    return _unroll(theta, _COURSE_SHAPES)


def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7, print_msg=False):
    """Compare ``gradients`` with the centred differences of
    :func:`forward_propagation_n`'s cost, one parameter at a time.

    Returns ``||grad - gradapprox|| / (||grad|| + ||gradapprox||)``; with
    ``print_msg``, prints the notebook's verdict (mistake above 2e-7). Works for
    any layer sizes of the 3-layer network (the parameters' own shapes are used).
    """
    weights, biases = net.parameters(parameters)
    X = net.data(X, weights[0])
    Y = net.labels(Y, X.shape[1], X.dtype)
    epsilon = _epsilon(epsilon)
    print_msg = c.flag(print_msg, "print_msg")
    theta, _ = dictionary_to_vector(parameters)
    shapes = [np.shape(parameters[key]) for key in _PARAMETER_KEYS]
    grad = gradients_to_vector(gradients)
    if grad.shape != theta.shape:
        raise ValueError(f"gradients: expected {theta.shape[0]} entries in all like the "
                         f"parameters, got {grad.shape[0]}")
    check.check_finite(grad, "gradients")

    def cost(vector):
        p = _unroll(vector, shapes)
        W = [np.ascontiguousarray(p[k]) for k in ("W1", "W2", "W3")]
        b = [p[k].reshape(-1, 1) for k in ("b1", "b2", "b3")]
        return _cost(net.forward(X, W, b)[0], Y)

    n = theta.shape[0]
    gradapprox = np.zeros((n, 1))
    for i in range(n):
        plus = np.copy(theta)
        plus[i][0] = plus[i][0] + epsilon
        minus = np.copy(theta)
        minus[i][0] = minus[i][0] - epsilon
        gradapprox[i] = (cost(plus) - cost(minus)) / (2 * epsilon)
    difference = (np.linalg.norm(grad - gradapprox)
                  / (np.linalg.norm(grad) + np.linalg.norm(gradapprox)))
    _report(difference, print_msg)
    return difference
