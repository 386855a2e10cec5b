"""The 3-layer network of course 2's week-1 and week-2 assignments (private).

LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID, as their ``init_utils``,
``reg_utils``, ``gc_utils`` and ``opt_utils`` write it, on the compiled
kernels: each layer's GEMM is fused with its bias and activation
(``dnn_core.dense_forward``); each layer's ``dW = dZ A_prev^T / m``,
``db = sum(dZ) / m`` and ``dA_prev = W^T dZ`` are one backward kernel call
(``dnn_core.dense_backward``). The course's cache is the tuple
``(Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)`` (with ``D1`` after ``Z1``
and ``D2`` after ``Z2`` when dropout is on); the ReLU derivative is read from
the cached ``A > 0``, as the course does, so hand-built caches and dropout's
scaled activations give the course's numbers.
"""
import numpy as np

from dnn_core import registry

from dnn import _validation as check
from dnn import _steps as steps
from dnn import functional as F
from dnn.course import _common as c

_RELU = registry.ACTIVATIONS["relu"].code
_SIGMOID = registry.ACTIVATIONS["sigmoid"].code

CACHE_NAMES = ("Z1", "A1", "W1", "b1", "Z2", "A2", "W2", "b2", "Z3", "A3", "W3", "b3")
DROPOUT_CACHE_NAMES = ("Z1", "D1", "A1", "W1", "b1", "Z2", "D2", "A2", "W2", "b2", "Z3", "A3",
                       "W3", "b3")


def parameters(params, name="parameters"):
    """``[W1, W2, W3], [b1, b2, b3]`` (b as (n, 1)) of a checked 3-layer dict."""
    return c.parameters(params, 3, name)


def data(X, W1, name="X"):
    X = c.data(X, name, dtype=W1.dtype)
    if X.shape[0] != W1.shape[1]:
        raise ValueError(f"{name}: expected {W1.shape[1]} rows (the columns of W1), got shape "
                         f"{X.shape}")
    return X


def labels(Y, m, dtype, name="Y"):
    """Y of shape (1, m) (or (m,)): bools, integers or any finite reals, as floats."""
    return c.labels(Y, name, m, dtype, rows=1)


def keep_probability(value, name="keep_prob"):
    return check.real(value, name, low=0.0, low_inclusive=False, high=1.0)


def regularization(value, name="lambd"):
    return check.real(value, name, low=0.0)


def layer(A_prev, W, b, code, index):
    """``Z = W A_prev + b``, ``A = g(Z)`` on the fused kernel; b of shape (n, 1)."""
    return steps.dense_forward(A_prev, W, np.ascontiguousarray(b).reshape(-1), code, 0.0, index)


def forward(X, weights, biases, keep_prob=None):
    """The course's forward pass. ``keep_prob``: inverted dropout on A1 and A2 with
    masks ``np.random.rand(...) < keep_prob`` drawn in that order (the caller seeds).
    Returns ``A3, cache`` (the course's tuple)."""
    (W1, W2, W3), (b1, b2, b3) = weights, biases
    Z1, A1 = layer(X, W1, b1, _RELU, 1)
    if keep_prob is not None:
        D1 = (np.random.rand(A1.shape[0], A1.shape[1]) < keep_prob).astype(int)
        A1 = A1 * D1.astype(A1.dtype) / keep_prob    # A1 = A1 * D1; A1 = A1 / keep_prob
    Z2, A2 = layer(A1, W2, b2, _RELU, 2)
    if keep_prob is not None:
        D2 = (np.random.rand(A2.shape[0], A2.shape[1]) < keep_prob).astype(int)
        A2 = A2 * D2.astype(A2.dtype) / keep_prob
    Z3, A3 = layer(A2, W3, b3, _SIGMOID, 3)
    if keep_prob is not None:
        return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)
    return A3, (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)


def logprobs(A3, Y):
    """``-log(A3) * Y + -log(1 - A3) * (1 - Y)`` elementwise (the course's terms;
    0 * inf gives NaN, which the course's ``nansum`` skips)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.multiply(-np.log(A3), Y) + np.multiply(-np.log(1 - A3), 1 - Y)


def probabilities_and_labels(A3, Y, name="A3"):
    A3 = check.float_array(A3, name, ndim=2)
    check.finite_values(A3, name, "probabilities")
    if A3.shape[0] != 1:
        raise ValueError(f"{name}: expected shape (1, m), got {A3.shape}")
    return A3, labels(Y, A3.shape[1], A3.dtype)


def check_cache(cache, dropout=False, name="cache"):
    """The course's cache tuple, checked: returns its arrays by name (b as (n, 1))."""
    names = DROPOUT_CACHE_NAMES if dropout else CACHE_NAMES
    if not isinstance(cache, (tuple, list)) or len(cache) != len(names):
        made_by = "forward_propagation_with_dropout" if dropout else "forward_propagation"
        raise TypeError(f"{name}: expected the tuple of {len(names)} arrays {made_by} returns "
                        f"({', '.join(names)}), got "
                        + (f"{len(cache)} items" if isinstance(cache, (tuple, list))
                           else type(cache).__name__))
    W1 = check.float_array(cache[names.index("W1")], f"{name} W1", ndim=2)
    dtype = W1.dtype
    parts = {}
    for key, value in zip(names, cache):
        if key.startswith("D"):
            array = check.as_array(value, f"{name} {key}")
            if array.dtype.kind not in "biuf":
                raise TypeError(f"{name} {key}: expected a 0/1 mask, got dtype {array.dtype}")
            array = array.astype(dtype)
        else:
            array = check.float_array(value, f"{name} {key}", dtype=dtype)
        check.check_finite(array, f"{name} {key}")
        parts[key] = array
    for l in (1, 2, 3):
        W, b = parts[f"W{l}"], parts[f"b{l}"]
        if W.ndim != 2:
            raise ValueError(f"{name} W{l}: expected a 2-D array, got shape {W.shape}")
        if b.shape not in ((W.shape[0], 1), (W.shape[0],)):
            raise ValueError(f"{name} b{l}: expected shape ({W.shape[0]}, 1), got {b.shape}")
        parts[f"b{l}"] = b.reshape(-1, 1)
    m = parts["A3"].shape[1] if parts["A3"].ndim == 2 else None
    for l in (1, 2, 3):
        n = parts[f"W{l}"].shape[0]
        for key in (f"Z{l}", f"A{l}") + ((f"D{l}",) if dropout and l < 3 else ()):
            if parts[key].shape != (n, m):
                raise ValueError(f"{name} {key}: expected shape {(n, m)} (the rows of W{l}, "
                                 f"the columns of A3), got {parts[key].shape}")
    for l in (2, 3):
        if parts[f"W{l}"].shape[1] != parts[f"W{l - 1}"].shape[0]:
            raise ValueError(f"{name} W{l}: expected {parts[f'W{l - 1}'].shape[0]} columns (the "
                             f"rows of W{l - 1}), got shape {parts[f'W{l}'].shape}")
    return parts


def backward(X, Y, parts, lambd=0.0, keep_prob=None, lower=False, scaled=False):
    """The course's backward pass over a checked cache.

    ``dZ3 = A3 - Y``; ``dW = dZ A_prev^T / m (+ lambd / m * W)``, ``db = sum(dZ) / m``;
    ``dA = W^T dZ`` (``* D / keep_prob`` with dropout); ``dZ = dA * (A > 0)``.
    ``lower``: the keys ``dz3``, ``da2`` ... of init_utils and opt_utils;
    ``scaled``: opt_utils' ``dz3 = (A3 - Y) / m``, so that its ``dz`` and ``da``
    carry the 1/m (the weights' gradients are the same).
    Returns the course's dict (dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1).
    """
    m = X.shape[1]
    grads = {}
    dZ = np.ascontiguousarray(parts["A3"] - Y)
    A_names = {3: "A2", 2: "A1"}
    for l in (3, 2, 1):
        W = parts[f"W{l}"]
        A_prev = X if l == 1 else parts[A_names[l]]
        dA_prev, dW, db = steps.dense_backward(dZ, np.ascontiguousarray(A_prev), W, l > 1,
                                            "X, Y, cache")
        if lambd:
            dW = dW + (lambd / m) * W
        grads[f"dZ{l}"] = dZ
        grads[f"dW{l}"] = dW
        grads[f"db{l}"] = db
        if l > 1:
            A = parts[f"A{l - 1}"]
            if keep_prob is not None:
                mask = parts[f"D{l - 1}"].astype(dA_prev.dtype, copy=False)
                dA_prev = dA_prev * mask / keep_prob
            grads[f"dA{l - 1}"] = dA_prev
            dZ = np.ascontiguousarray(np.multiply(dA_prev, A > 0))   # dA * np.int64(A > 0)
    order = ("dZ3", "dW3", "db3", "dA2", "dZ2", "dW2", "db2", "dA1", "dZ1", "dW1", "db1")
    out = {}
    for key in order:
        value = grads[key]
        if scaled and key[1] in "ZA":
            value = value / m
        out[key.lower() if lower and key[1] in "ZA" else key] = value
    return out


def initialize(layers_dims, scale, seed, name="layers_dims"):
    """``np.random.seed(seed)``, then ``W[l] = scale(randn(n[l], n[l-1]), n[l-1])``, ``b = 0``
    (``seed=None``: no seeding; ``scale=None``: zeros, nothing drawn)."""
    dims = check.layer_dims(layers_dims, name)
    check.allocation(F.parameter_bytes(dims, np.float64), name, f"the parameters of {dims}")
    if seed is not None:
        np.random.seed(seed)
    params = {}
    for l in range(1, len(dims)):
        if scale is None:
            params[f"W{l}"] = np.zeros((dims[l], dims[l - 1]))
        else:
            params[f"W{l}"] = scale(np.random.randn(dims[l], dims[l - 1]), dims[l - 1])
        params[f"b{l}"] = np.zeros((dims[l], 1))
    return params


def predict(X, y, params, forward_propagation):
    """0/1 int predictions (1, m) of ``A3 > 0.5``; prints ``Accuracy: `` as the course."""
    a3, _ = forward_propagation(X, params)
    y = check.labels(y, "y", a3.dtype, a3.shape)
    p = (a3 > 0.5).astype(np.int64)
    print("Accuracy: " + str(np.mean(p[0, :] == y[0, :])))
    return p



def update_parameters(parameters, grads, learning_rate):
    """``W = W - learning_rate * dW`` (and b) for every layer; new arrays."""
    return F.update_parameters(parameters, grads, learning_rate)


def gradient_step(weights, biases, grads, learning_rate):
    """``W[l] -= learning_rate * dW[l]``, ``b[l] -= learning_rate * db[l]`` in place, l = 1..3."""
    for l in (1, 2, 3):
        steps.sgd_step(weights[l - 1], grads[f"dW{l}"], learning_rate)
        steps.sgd_step(biases[l - 1], grads[f"db{l}"], learning_rate)
