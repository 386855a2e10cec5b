"""Course 1 week 4: the course's own functions, names and signatures, on the compiled kernels.

A drop-in for the notebooks "Building your Deep Neural Network: Step by Step"
and "Deep Neural Network - Application" of the "Neural Networks and Deep
Learning" course::

    from dnn.course import *

gives ``initialize_parameters``, ``initialize_parameters_deep``,
``linear_forward``, ``linear_activation_forward``, ``L_model_forward``,
``compute_cost``, ``linear_backward``, ``linear_activation_backward``,
``L_model_backward``, ``update_parameters``, ``predict``,
``two_layer_model`` and ``L_layer_model``, computing what the course's NumPy
code computes (to rounding), including on caches built by hand. Random draws
use NumPy's legacy global stream (``np.random.seed``, ``np.random.randn``) in
the course's order, so the numbers are the course's.
"""
import numpy as np

import dnn_core
from dnn_core import registry

from dnn import _dual as dual
from dnn import _steps as steps
from dnn import _validation as check
from dnn import functional as F

__all__ = [
    "initialize_parameters", "initialize_parameters_deep",
    "initialize_parameters_deep_application", "linear_forward",
    "linear_activation_forward", "L_model_forward", "compute_cost", "linear_backward",
    "linear_activation_backward", "L_model_backward", "update_parameters", "predict",
    "two_layer_model", "L_layer_model",
]

_RELU = registry.ACTIVATIONS["relu"].code
_SIGMOID = registry.ACTIVATIONS["sigmoid"].code
_BCE = registry.OUTPUTS["sigmoid"].loss_code


def initialize_parameters(n_x, n_h, n_y):
    """Two-layer parameters: ``np.random.seed(1)``, ``W = randn * 0.01``, ``b = 0``.

    Returns
    -------
    dict
        W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1).
    """
    dims = check.layer_dims([n_x, n_h, n_y], "(n_x, n_h, n_y)")
    np.random.seed(1)
    return _draw(dims, lambda W, fan_in: W * 0.01, "(n_x, n_h, n_y)")


def initialize_parameters_deep(layer_dims):
    """L-layer parameters as in the step-by-step notebook: ``np.random.seed(3)``,
    ``W[l] = randn(n[l], n[l-1]) * 0.01``, ``b[l] = 0``."""
    dims = check.layer_dims(layer_dims)
    np.random.seed(3)
    return _draw(dims, lambda W, fan_in: W * 0.01)


def initialize_parameters_deep_application(layer_dims):
    """L-layer parameters as in the application notebook (its ``dnn_app_utils``):
    ``np.random.seed(1)``, ``W[l] = randn(n[l], n[l-1]) / sqrt(n[l-1])``, ``b[l] = 0``."""
    dims = check.layer_dims(layer_dims)
    np.random.seed(1)
    return _draw(dims, lambda W, fan_in: W / np.sqrt(fan_in))


def _draw(dims, scale, name="layer_dims"):
    """W[l] = scale(randn(n[l], n[l-1]), n[l-1]) in the course's order; b[l] = 0."""
    check.allocation(steps.parameter_bytes(dims, np.float64), name, f"the parameters of {dims}")
    parameters = {}
    for layer in range(1, len(dims)):
        W = np.random.randn(dims[layer], dims[layer - 1])
        parameters[f"W{layer}"] = scale(W, dims[layer - 1])
        parameters[f"b{layer}"] = np.zeros((dims[layer], 1))
    return parameters


def linear_forward(A, W, b):
    """Z = W A + b. Returns ``Z, (A, W, b)``."""
    return F.linear_forward(A, W, b)


def linear_activation_forward(A_prev, W, b, activation):
    """A = g(W A_prev + b). Returns ``A, ((A_prev, W, b), Z)``."""
    return F.linear_activation_forward(A_prev, W, b, activation)


def L_model_forward(X, parameters):
    """[LINEAR -> RELU] x (L-1) -> LINEAR -> SIGMOID. Returns ``AL, caches``."""
    return F.forward(X, parameters, "relu", "sigmoid")


def compute_cost(AL, Y):
    """Cross-entropy ``-1/m sum(Y log AL + (1 - Y) log(1 - AL))`` as a 0-d array.

    AL holds probabilities in [0, 1]; Y, of AL's shape, any finite values (the
    course's code takes real-valued labels too)."""
    AL = check.float_array(AL, "AL", ndim=2)
    check.finite_values(AL, "AL", "probabilities")
    Y = _labels(Y, AL)
    return np.asarray(AL.dtype.type(dnn_core.probs_cost(np.ascontiguousarray(AL), Y, _BCE)))


def _labels(Y, like, name="Y"):
    """Course mode: Y of ``like``'s shape (or (m,) for (1, m)), bools, integers or
    floats of any finite value, as a C-ordered array of ``like``'s dtype."""
    return check.labels(Y, name, like.dtype, like.shape)


def linear_backward(dZ, cache):
    """Returns ``dA_prev, dW, db`` from ``dZ`` and the cache ``(A_prev, W, b)``."""
    return F.linear_backward(dZ, cache)


def linear_activation_backward(dA, cache, activation):
    """Returns ``dA_prev, dW, db``; ``activation`` is "relu" or "sigmoid" (or any
    other name :mod:`dnn.functional` knows). ReLU's derivative is 0 where Z <= 0."""
    return F.linear_activation_backward(dA, cache, activation)


def L_model_backward(AL, Y, caches):
    """Gradients of [LINEAR -> RELU] x (L-1) -> LINEAR -> SIGMOID with cross-entropy.

    Follows the course: ``dAL = -(Y / AL - (1 - Y) / (1 - AL))``, then
    sigmoid's and ReLU's derivatives from the cached Z, so hand-built caches
    give the course's numbers.

    Returns
    -------
    dict
        ``"dA{l-1}"``, ``"dW{l}"``, ``"db{l}"`` for l = 1..L (``dA0`` is the
        gradient with respect to X).
    """
    if not isinstance(caches, (list, tuple)) or not caches:
        raise TypeError("caches: expected the non-empty list of caches L_model_forward "
                        f"returns, got {type(caches).__name__}")
    parts = [steps.cache_parts(cache, index) for index, cache in enumerate(caches)]
    AL = check.float_array(AL, "AL", ndim=2, dtype=parts[-1][1].dtype)
    if AL.shape != parts[-1][3].shape:
        raise ValueError(f"AL: expected shape {parts[-1][3].shape} like the last cache's Z, "
                         f"got {AL.shape}")
    check.check_finite(AL, "AL")
    Y = _labels(Y, AL)
    return _L_model_backward(np.ascontiguousarray(AL), Y, parts, input_gradient=True)


def _L_model_backward(AL, Y, parts, input_gradient):
    L = len(parts)
    grads = {}
    # dAL = -(Y / AL - (1 - Y) / (1 - AL))
    dA = np.empty_like(AL)
    dnn_core.probs_gradient(AL, Y, dA, _BCE)
    for layer in range(L, 0, -1):
        A_prev, W, _, Z = parts[layer - 1]
        dZ = steps.activation_gradient(dA, Z, _SIGMOID if layer == L else _RELU, 0.0)
        where = f"caches[{layer - 1}]"
        dA, dW, db = steps.dense_backward(dZ, A_prev, W, layer > 1 or input_gradient,
                                          "AL, caches", [(f"{where} A_prev", A_prev),
                                                         (f"{where} W", W),
                                                         (f"{where} Z", Z)])
        if dA is not None:
            grads[f"dA{layer - 1}"] = dA
        grads[f"dW{layer}"] = dW
        grads[f"db{layer}"] = db
    return grads


def update_parameters(params, grads, learning_rate):
    """``W[l] = W[l] - learning_rate * dW[l]``, same for b; returns a new dict and
    leaves the arrays passed in unchanged."""
    return F.update_parameters(params, grads, learning_rate)


def predict(X, y, parameters):
    """0/1 predictions (threshold 0.5) of shape (1, m); prints the accuracy against y."""
    AL, _ = L_model_forward(X, parameters)
    m = AL.shape[1]
    y = check.labels(y, "y", AL.dtype, AL.shape)
    p = (AL > 0.5).astype(np.float64)
    print("Accuracy: " + str(np.sum((p == y) / m)))
    return p


def _training_data(X, Y, layers_dims, learning_rate, num_iterations):
    dims = check.layer_dims(layers_dims, "layers_dims")
    check.allocation(steps.parameter_bytes(dims, np.float64), "layers_dims",
                     f"the parameters of {dims}")
    X = steps.as_input(X)
    if X.shape[0] != dims[0]:
        raise ValueError(f"X: expected {dims[0]} rows (layers_dims[0]), got shape {X.shape}")
    check.check_finite(X, "X")
    Y = _labels(Y, np.empty((dims[-1], X.shape[1]), dtype=X.dtype))
    check.real(learning_rate, "learning_rate", low=0.0)
    check.positive_int(num_iterations, "num_iterations")
    return X, Y, dims


def _dual_pays(X, Y, parameters, num_iterations):
    """Whether the loop runs faster with layer 1 in the dual form (issue 14,
    :mod:`dnn._dual`): wide data (the cat app's 12,288 pixels of 209 images), 0/1
    labels (the engine's targets), features that fit, and less work by the cost
    model of full-batch gradient descent."""
    n_x, m = X.shape
    n1 = parameters["W1"].shape[0]
    if m * (m + n1) * X.dtype.itemsize > dual.MAX_FEATURE_BYTES:
        return False
    if not np.all((Y == 0) | (Y == 1)):
        return False
    primal, work = dual.step_work((n_x, n1), m, m, num_iterations,
                                  -(-num_iterations // 100), 1, 0.0)
    return work < primal


def _train_dual(X, Y, parameters, learning_rate, num_iterations, print_cost):
    """The course's loop (full-batch gradient descent) in the compiled engine with
    layer 1 in the dual form: the same costs and parameters to rounding. Runs
    100 iterations a call (to print as the course prints); None if the cost
    stopped being finite (the caller then runs the course's own loop, which
    goes on with NaN as the course's does)."""
    L = len(parameters) // 2
    dims = [X.shape[0]] + [parameters[f"W{l}"].shape[0] for l in range(1, L + 1)]
    engine = dnn_core.Engine(dims, [_RELU] * (L - 1), _BCE, 0.01, X.dtype)
    for l in range(1, L + 1):
        engine.weight(l)[...] = parameters[f"W{l}"]
        engine.bias(l)[:, 0] = np.ravel(parameters[f"b{l}"])
    # X.T: the examples as rows, the engine's layout (a view, never copied; kept
    # alive here, as the trainer holds it weakly)
    rows = X.T
    trainer = dual.DualFirstLayer(engine, rows, [_RELU] * (L - 1), _BCE, 0.01)
    T = np.ascontiguousarray(Y.T, dtype=X.dtype)
    costs, seconds = np.zeros(num_iterations), np.zeros(num_iterations)
    for start in range(0, num_iterations, 100):
        stop = min(num_iterations, start + 100)
        finished = trainer.train(
            None, T, None, batch_size=X.shape[1], shuffle=0, epochs=stop - start,
            first_epoch=start, optimizer=registry.OPTIMIZERS["gd"].code,
            schedule=registry.SCHEDULES["constant"].code, learning_rate=learning_rate,
            costs=costs[start:stop], seconds=seconds[start:stop], new_fit=start == 0,
            defer=True)
        if not finished:
            return None
        for i in range(start, stop):
            # (the course's precedence: the last iteration's cost is printed
            # even when print_cost is False)
            if print_cost and i % 100 == 0 or i == num_iterations - 1:
                print(f"Cost after iteration {i}: {np.squeeze(X.dtype.type(costs[i]))}")
    # W1 formed once, at the end
    trainer.write_back()
    parameters = {}
    for l in range(1, L + 1):
        parameters[f"W{l}"] = engine.weight(l).copy()
        parameters[f"b{l}"] = engine.bias(l).copy()
    return parameters, [np.asarray(X.dtype.type(c)) for c in costs[::100]]


def _train(X, Y, parameters, learning_rate, num_iterations, print_cost):
    """The course's loop: forward, cost, backward, update; cost kept every 100 steps
    (in the engine with a dual-form layer 1 where that pays: :func:`_train_dual`)."""
    if _dual_pays(X, Y, parameters, num_iterations):
        trained = _train_dual(X, Y, parameters, learning_rate, num_iterations, print_cost)
        if trained is not None:
            return trained
    weights = [parameters[f"W{l}"] for l in range(1, len(parameters) // 2 + 1)]
    biases = [parameters[f"b{l}"] for l in range(1, len(parameters) // 2 + 1)]
    weights = [np.ascontiguousarray(W, dtype=X.dtype) for W in weights]
    biases = [np.ascontiguousarray(b, dtype=X.dtype).reshape(-1) for b in biases]
    costs = []
    for i in range(num_iterations):
        AL, caches = steps.forward_layers(X, weights, biases, _RELU, _SIGMOID, 0.0)
        cost = np.asarray(AL.dtype.type(dnn_core.probs_cost(AL, Y, _BCE)))
        parts = [(A_prev, W, b, Z) for (A_prev, W, b), Z in caches]
        grads = _L_model_backward(AL, Y, parts, input_gradient=False)
        for layer, (W, b) in enumerate(zip(weights, biases), start=1):
            dnn_core.sgd_update(W.reshape(-1), grads[f"dW{layer}"].reshape(-1), learning_rate)
            dnn_core.sgd_update(b, grads[f"db{layer}"].reshape(-1), learning_rate)
        # the course's condition, precedence and all: the last iteration's
        # cost is printed even when print_cost is False
        if print_cost and i % 100 == 0 or i == num_iterations - 1:
            print(f"Cost after iteration {i}: {np.squeeze(cost)}")
        if i % 100 == 0 or i == num_iterations:
            costs.append(cost)
    parameters = {}
    for layer, (W, b) in enumerate(zip(weights, biases), start=1):
        parameters[f"W{layer}"] = W
        parameters[f"b{layer}"] = b.reshape(-1, 1)
    return parameters, costs


def two_layer_model(X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000,
                    print_cost=False):
    """LINEAR -> RELU -> LINEAR -> SIGMOID trained by gradient descent.

    Parameters
    ----------
    X : ndarray, shape (n_x, m)
    Y : array_like, shape (1, m)
        Labels 0/1 (course mode: any finite real values are taken, as the
        course's code takes them)
    layers_dims : tuple (n_x, n_h, n_y)
    learning_rate : float
    num_iterations : int
    print_cost : bool
        Print the cost every 100 iterations. The last iteration's cost is
        printed whatever ``print_cost`` says, as the course's code does (its
        ``print_cost and i % 100 == 0 or i == num_iterations - 1``).

    Returns
    -------
    parameters : dict
    costs : list
        The cost before the update of every 100th iteration.
    """
    X, Y, dims = _training_data(X, Y, layers_dims, learning_rate, num_iterations)
    if len(dims) != 3:
        raise ValueError(f"layers_dims: expected (n_x, n_h, n_y), got {tuple(dims)}")
    np.random.seed(1)
    parameters = initialize_parameters(*dims)
    return _train(X, Y, parameters, learning_rate, num_iterations, print_cost)


def L_layer_model(X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000,
                  print_cost=False):
    """[LINEAR -> RELU] x (L-1) -> LINEAR -> SIGMOID trained by gradient descent,
    initialised as the application notebook does
    (:func:`initialize_parameters_deep_application`).

    Parameters and returns as :func:`two_layer_model`, with ``layers_dims``
    of any length >= 2.
    """
    X, Y, dims = _training_data(X, Y, layers_dims, learning_rate, num_iterations)
    np.random.seed(1)
    parameters = initialize_parameters_deep_application(dims)
    return _train(X, Y, parameters, learning_rate, num_iterations, print_cost)
