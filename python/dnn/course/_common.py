"""Checks and kernels shared by the course's submodules (course mode).

Course mode takes what the course's code takes: float data of the right
shapes, labels of any finite real value (0/1, bools, or real-valued targets,
as the course's graded tests pass), and it refuses with a clear error only what
the course's NumPy code could not compute (wrong shapes or kinds, NaN, inf).
"""
import numbers

import numpy as np

from dnn import _steps as steps
from dnn import _validation as check
from dnn import functional as F


def data(X, name="X", dtype=None):
    """X as a finite float32/float64 2-D array (no copy of a good one)."""
    X = check.float_array(X, name, ndim=2, dtype=dtype)
    check.check_finite(X, name)
    return X


def labels(Y, name, m, dtype, rows=None):
    """Y (bools, integers or floats, any finite value) as a C-ordered float array
    of shape (rows, m); a 1-D array of m is taken for (1, m). ``rows=None``: any
    number of rows."""
    array = check.as_array(Y, name)
    if array.ndim == 1 and rows in (None, 1) and array.shape[0] == m:
        array = array.reshape(1, m)
    if rows is None and array.ndim == 2:
        rows = array.shape[0]
    return check.labels(array, name, dtype, (rows, m))


def real(value, name, low=None, low_inclusive=True, high=None):
    """A finite real number; a 0-d or one-element float array counts as one (the
    course's b after a few updates is such a NumPy scalar)."""
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind == "f":
        value = value.reshape(()).item()
    return check.real(value, name, low=low, low_inclusive=low_inclusive, high=high)


def sigmoid(z):
    """1 / (1 + exp(-z)) elementwise, on an array or a scalar (warning-free)."""
    z_array = np.asarray(z)
    if z_array.dtype.kind not in "biuf":
        raise TypeError(f"z: expected a real number or an array of them, got dtype "
                        f"{z_array.dtype}")
    out = np.empty(z_array.shape, dtype=np.result_type(z_array.dtype, np.float32)
                   if z_array.dtype.kind == "f" else np.float64)
    negative = z_array < 0
    with np.errstate(over="ignore"):
        e = np.exp(np.where(negative, z_array, -z_array))
    np.divide(1.0, 1.0 + e, out=out, where=~negative)
    np.divide(e, 1.0 + e, out=out, where=negative)
    return out if out.ndim or isinstance(z, np.ndarray) else out[()]


def dense(A_prev, W, b, activation, prefix=""):
    """A = g(W A_prev + b) on the compiled kernel; returns ``Z, A``."""
    A, ((_, _, _), Z) = F.linear_activation_forward(A_prev, W, b, activation)
    return Z, A


def dense_grads(dZ, A_prev, W, with_dA_prev=True, name="gradients"):
    """``dA_prev, dW, db`` with ``dW = dZ A_prev^T / m``, ``db = sum(dZ) / m``
    (the kernel divides by m) and ``dA_prev = W^T dZ`` (or None)."""
    return steps.dense_backward(np.ascontiguousarray(dZ), A_prev, W, with_dA_prev, name)


def parameters(params, n_layers=None, name="parameters"):
    """A course dict {"W1", "b1", ...} checked (shapes chained, one dtype, b (n, 1));
    returns ``[W...], [b (n, 1)...]``."""
    weights, biases, _ = check.parameters(params, name)
    if n_layers is not None and len(weights) != n_layers:
        raise ValueError(f"{name}: expected {n_layers} layers (W1 .. W{n_layers}), got "
                         f"{len(weights)}")
    for l, (W, b) in enumerate(zip(weights, biases), start=1):
        check.check_finite(W, f"{name}['W{l}']")
        check.check_finite(b, f"{name}['b{l}']")
    return weights, [b.reshape(-1, 1) for b in biases]


def learning_rate(value, name="learning_rate"):
    return check.real(value, name, low=0.0)


def iterations(value, name="num_iterations"):
    return check.integer(value, name, low=0)


def flag(value, name):
    if not isinstance(value, (bool, np.bool_, numbers.Integral)):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__}")
    return bool(value)
