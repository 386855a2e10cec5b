"""The checked steps under :mod:`dnn.functional` and :mod:`dnn.course`: one
layer's forward and backward on the kernels, the whole passes on checked
inputs, the targets of a loss, the checks of caches and gradients.

Arrays are in the course's layout, ``(units, examples)``; every function here
takes inputs its caller has checked (shapes, dtypes) unless it says it checks
them.
"""
import numpy as np

import dnn_core
from dnn_core import registry

from dnn import _validation as check

#: activation code -> name
ACTIVATION_NAMES = {row.code: name for name, row in registry.ACTIVATIONS.items()}
#: output activation -> the loss whose gradient through it is dZ = A - Y (canonical pairs)
MATCHED_LOSS = {row.activation: row.loss for row in registry.OUTPUTS.values()}
#: the loss that pairs with an output activation when none is given
DEFAULT_LOSS = dict(MATCHED_LOSS)
#: the loss of an output activation that pairs with none (its squared error)
FALLBACK_LOSS = next(row.loss for row in registry.OUTPUTS.values()
                     if row.target == "continuous")
#: loss name or alias -> loss name
LOSS_NAMES = {name: row.loss for name, row in registry.losses().items()}
#: loss name -> the kernels' code
LOSS_CODES = {row.loss: row.loss_code for row in registry.OUTPUTS.values()}
#: codes of the activations whose derivative reads Z (not A)
READS_Z = frozenset(row.code for row in registry.ACTIVATIONS.values() if row.reads == "Z")
IDENTITY = registry.ACTIVATIONS["identity"].code
#: loss name -> its mean cost over the m examples from the logits, at NumPy's precision
PRECISE_LOGITS_COSTS = {row.loss: row.logits_cost for row in registry.OUTPUTS.values()}


def parameter_bytes(dims, dtype):
    """Bytes of the parameters of a network of layer sizes ``dims``, plus the
    float64 draw of its largest weight matrix."""
    sizes = [dims[l] * dims[l - 1] for l in range(1, len(dims))]
    return (sum(sizes) + sum(dims[1:])) * np.dtype(dtype).itemsize + 8 * max(sizes)


def as_input(X, dtype=None, name="X"):
    return check.float_array(X, name, ndim=2, dtype=dtype)


def layer_inputs(A_prev, W, b, name_a="A_prev", prefix=""):
    W = check.float_array(W, f"{prefix}W", ndim=2)
    A_prev = as_input(A_prev, W.dtype, prefix + name_a)
    b_checked = check.float_array(b, f"{prefix}b", dtype=W.dtype)
    if A_prev.shape[0] != W.shape[1]:
        raise ValueError(f"{prefix}{name_a}: expected {W.shape[1]} rows (the columns of W, "
                         f"shape {W.shape}), got shape {A_prev.shape}")
    if b_checked.shape not in ((W.shape[0], 1), (W.shape[0],)):
        raise ValueError(f"{prefix}b: expected shape ({W.shape[0]}, 1) to match W of shape "
                         f"{W.shape}, got {b_checked.shape}")
    return A_prev, W, np.ascontiguousarray(b_checked)


def dense_forward(A_prev, W, b, code, slope, layer, names=None):
    """Z = W @ A_prev + b and A = g(Z), fresh C-ordered arrays; b is 1-D.
    ``names``: of A_prev, W and b when they are a single layer's arguments."""
    n, m = W.shape[0], A_prev.shape[1]
    Z = np.empty((n, m), dtype=W.dtype)
    A = Z if code == IDENTITY else np.empty_like(Z)
    if dnn_core.dense_forward(W, A_prev, b, Z, A, code, slope):
        if names is not None:
            check.nonfinite_culprit(list(zip(names, (A_prev, W, b))), "Z", names[0])
        check.nonfinite_culprit(
            [("X" if layer == 1 else f"A{layer - 1}", A_prev), (f"W{layer}", W),
             (f"b{layer}", b)], f"Z{layer}", hidden=None if layer == 1 else f"A{layer - 1}")
    return Z, A


def forward_layers(X, weights, biases, hidden, output, slope, cached_biases=None):
    """forward() on checked inputs; caches hold ``cached_biases`` (default biases)."""
    cached_biases = biases if cached_biases is None else cached_biases
    caches, A = [], X
    last = len(weights)
    for layer, (W, b) in enumerate(zip(weights, biases), start=1):
        A_prev = A
        Z, A = dense_forward(A_prev, W, b, output if layer == last else hidden, slope, layer)
        caches.append(((A_prev, W, cached_biases[layer - 1]), Z))
    return A, caches


def loss_name(loss, output_activation="sigmoid"):
    if loss is None:
        return DEFAULT_LOSS.get(output_activation, FALLBACK_LOSS)
    return LOSS_NAMES[check.choice(loss, "loss", LOSS_NAMES)]


def targets(Y, AL, loss, name="Y"):
    """Y checked against AL (n, m) and converted to AL's dtype.

    For categorical cross-entropy, integer class labels of shape (m,) are
    one-hot encoded.
    """
    Y_array = check.as_array(Y, name)
    n, m = AL.shape
    target = registry.output_for_loss(loss).target
    if (target == "categorical" and n > 1 and Y_array.shape == (m,)
            and Y_array.dtype.kind in "iu"):
        if Y_array.min() < 0 or Y_array.max() >= n:
            raise ValueError(f"{name}: expected class labels in 0..{n - 1}, "
                             f"got values in [{Y_array.min()}, {Y_array.max()}]")
        Y_array = np.eye(n, dtype=AL.dtype)[:, Y_array]
    bounds = registry.TARGETS[target]
    return check.labels(Y_array, name, AL.dtype, AL.shape,
                        None if bounds is None else loss.replace("_", " "),
                        (0.0, 1.0) if bounds is None else bounds[1:])


def cache_parts(cache, index=None):
    where = "cache" if index is None else f"caches[{index}]"
    try:
        (A_prev, W, b), Z = cache
    except (TypeError, ValueError):
        raise TypeError(f"{where}: expected ((A_prev, W, b), Z), as linear_activation_forward "
                        "returns") from None
    W = check.float_array(W, f"{where} W", ndim=2)
    A_prev = as_input(A_prev, W.dtype, f"{where} A_prev")
    Z = check.float_array(Z, f"{where} Z", ndim=2, dtype=W.dtype)
    if A_prev.shape[0] != W.shape[1] or Z.shape != (W.shape[0], A_prev.shape[1]):
        raise ValueError(f"{where}: shapes do not fit: A_prev {A_prev.shape}, W {W.shape}, "
                         f"Z {Z.shape} (expected Z of shape {(W.shape[0], A_prev.shape[1])})")
    return A_prev, W, b, np.ascontiguousarray(Z)


def gradient_of(array, name, like):
    array = check.float_array(array, name, ndim=2, dtype=like.dtype)
    if array.shape != like.shape:
        raise ValueError(f"{name}: expected shape {like.shape}, got {array.shape}")
    check.check_finite(array, name)
    return np.ascontiguousarray(array)


def check_gradients(arrays, blame, inputs=()):
    """Refuse non-finite gradients: name the input (name, array) that holds NaN or
    inf, or else say that they overflowed."""
    for array in arrays:
        if array is not None and dnn_core.has_nonfinite(array.reshape(-1)):
            for name, value in inputs:
                check.check_finite(np.asarray(value), name)
            raise ValueError(f"{blame}: the gradients overflowed to inf although the inputs "
                             "are finite; scale the inputs down or use smaller weights")


def dense_backward(dZ, A_prev, W, with_dA_prev, gradient_name, inputs=()):
    """dW, db of shape (n, 1), and dA_prev (or None), fresh C-ordered arrays."""
    n, m = dZ.shape
    dW = np.empty(W.shape, dtype=dZ.dtype)
    db = np.empty((n, 1), dtype=dZ.dtype)
    dA_prev = np.empty((W.shape[1], m), dtype=dZ.dtype) if with_dA_prev else None
    dnn_core.dense_backward(dZ, A_prev, W, dW, db.reshape(-1), dA_prev)
    check_gradients((dW, db, dA_prev), gradient_name, inputs)
    return dA_prev, dW, db


def activation_gradient(dA, Z, code, slope, A=None):
    """dZ = dA * g'(Z); A = g(Z) is recomputed when not given and needed."""
    if A is None:
        if code in READS_Z:
            A = Z  # the derivative reads Z only
        else:
            A = np.empty_like(Z)
            dnn_core.activation_forward(Z, A, code, slope)
    dZ = np.empty_like(Z)
    dnn_core.activation_backward(dA, Z, A, dZ, None, code, slope)
    return dZ


def output_delta(AL, Y, Z, output, loss, slope):
    """dZ[L] and db[L] of the output layer."""
    n, m = AL.shape
    dZ = np.empty_like(AL)
    db = np.empty((n, 1), dtype=AL.dtype)
    if MATCHED_LOSS.get(ACTIVATION_NAMES[output]) == loss:
        # dZ = AL - Y
        dnn_core.output_delta(AL, Y, dZ, db.reshape(-1), 1.0 / m)
    else:
        # dAL from the loss, then dZ = dAL * g'(Z)
        dAL = np.empty_like(AL)
        dnn_core.probs_gradient(AL, Y, dAL, LOSS_CODES[loss])
        dnn_core.activation_backward(dAL, Z, AL, dZ, db.reshape(-1), output, slope, 1.0 / m)
    return dZ, db


def backward_layers(AL, Y, parts, hidden, output, loss, slope, input_gradient, blame):
    """backward() on checked inputs; parts are (A_prev, W, b, Z) per layer."""
    L = len(parts)
    grads = {}
    A_prev, W, _, Z = parts[-1]
    dZ, db = output_delta(AL, Y, Z, output, loss, slope)
    for layer in range(L, 0, -1):
        A_prev, W, _, Z = parts[layer - 1]
        if layer < L:
            # dZ = dA * g'(Z), db = sum(dZ, axis=1) / m; A[l] is the next layer's A_prev
            A = np.ascontiguousarray(parts[layer][0])
            dZ = np.empty_like(Z)
            db = np.empty((Z.shape[0], 1), dtype=Z.dtype)
            dnn_core.activation_backward(dA, Z, A, dZ, db.reshape(-1), hidden, slope,
                                         1.0 / Z.shape[1])
        with_dA_prev = layer > 1 or input_gradient
        dA = np.empty(A_prev.shape, dtype=Z.dtype) if with_dA_prev else None
        dW = np.empty(W.shape, dtype=Z.dtype)
        dnn_core.dense_backward(dZ, A_prev, W, dW, None, dA)
        if with_dA_prev:
            grads[f"dA{layer - 1}"] = dA
        grads[f"dW{layer}"] = dW
        grads[f"db{layer}"] = db
    check_gradients(grads.values(), blame,
                     [(f"caches[{index}] {name}", part[position])
                      for index, part in enumerate(parts)
                      for name, position in (("A_prev", 0), ("W", 1), ("Z", 3))])
    return grads


def sgd_step(param, grad, learning_rate):
    """param -= learning_rate * grad in place, through BLAS axpy when the layout allows
    (native byte order, C or Fortran contiguous)."""
    if param.dtype.isnative and param.flags.c_contiguous:
        dnn_core.sgd_update(param.reshape(-1), np.ascontiguousarray(grad).reshape(-1),
                            learning_rate)
    elif param.dtype.isnative and param.flags.f_contiguous:
        dnn_core.sgd_update(param.T.reshape(-1), np.ascontiguousarray(grad.T).reshape(-1),
                            learning_rate)
    else:
        np.subtract(param, learning_rate * grad, out=param)


def precise_logits_cost(Z, Y, loss):
    """The cost from logits with NumPy's exp and log1p (within 1 ulp): finite
    differences magnify the rounding noise of the cost by 1 / epsilon, and the
    kernels' vectorised polynomials carry a little more of it."""
    return PRECISE_LOGITS_COSTS[loss](Z, Y, Z.shape[1])
