"""The deep L-layer network as the course writes it, one function per step.

Layout (the course's): ``X`` is ``(n_x, m)``, one column per example;
``W[l]`` is ``(n[l], n[l-1])``; ``b[l]`` is ``(n[l], 1)``; parameters are a
dict ``{"W1": ..., "b1": ..., ...}``. Caches are the course's tuples:
``((A_prev, W, b), Z)`` per layer. float32 in gives float32 out.

The arithmetic runs in the compiled kernels of :mod:`dnn_core`: each layer's
forward is one GEMM fused with the bias add and the activation, each layer's
backward one fused activation-gradient pass plus the GEMMs. Inputs reach BLAS
in the layout they come (C or Fortran order, or slices): nothing is copied on
the way.
"""
import numpy as np

import dnn_core
from dnn_core import registry

from dnn import _doc as doc
from dnn import _steps as steps
from dnn import _validation as check
# (re-exported: their old home)
from dnn._steps import DEFAULT_LOSS, MATCHED_LOSS, parameter_bytes  # noqa: F401

INITS = tuple(registry.INITIALIZERS)
_LOSS_NAMES = steps.LOSS_NAMES


# ---------------------------------------------------------------------------
# Initialization

def initialize_parameters(layer_dims, init="he", seed=None, dtype=np.float64):
    """Random weights and zero biases for a network of ``len(layer_dims) - 1`` layers.

    Parameters
    ----------
    layer_dims : sequence of int
        ``[n_x, n_1, ..., n_L]``, every size >= 1.
    init : {INITS}
        ``W[l]`` drawn as (``dnn_core.registry.INITIALIZERS``; ``fan_in`` is
        ``n[l-1]``, ``fan_out`` is ``n[l]``; biases zero):

        {INIT_FORMULAS}
    seed : int, numpy.random.Generator or None
        Seed of ``numpy.random.default_rng``.
    dtype : float32 or float64

    Returns
    -------
    dict
        ``"W{l}"``: (n[l], n[l-1]) and ``"b{l}"``: (n[l], 1), C-ordered.
    """
    dims = check.layer_dims(layer_dims)
    check.choice(init, "init", INITS)
    dtype = check.float_dtype(dtype)
    rng = np.random.default_rng(check.seed(seed, generator=True))
    check.allocation(parameter_bytes(dims, dtype), "layer_dims", f"the parameters of {dims}")
    parameters = {}
    for layer in range(1, len(dims)):
        fan_in, fan_out = dims[layer - 1], dims[layer]
        row = registry.INITIALIZERS[init]
        scale = row.scale(fan_in, fan_out)
        if row.distribution == "uniform":
            W = rng.uniform(-scale, scale, size=(fan_out, fan_in))
        elif row.distribution == "normal":
            W = rng.standard_normal((fan_out, fan_in)) * scale
        else:
            raise ValueError(f"init: {init!r} has an unknown distribution {row.distribution!r}")
        parameters[f"W{layer}"] = W.astype(dtype)
        parameters[f"b{layer}"] = np.zeros((fan_out, 1), dtype=dtype)
    return parameters


initialize_parameters.__doc__ = doc.fill(initialize_parameters.__doc__)


# ---------------------------------------------------------------------------
# Forward


def linear_forward(A_prev, W, b):
    """Z = W @ A_prev + b.

    Parameters
    ----------
    A_prev : ndarray, shape (n_prev, m)
    W : ndarray, shape (n, n_prev)
    b : ndarray, shape (n, 1)

    Returns
    -------
    Z : ndarray, shape (n, m)
    cache : tuple ``(A_prev, W, b)``
    """
    A_prev, W, b_checked = steps.layer_inputs(A_prev, W, b)
    Z, _ = steps.dense_forward(A_prev, W, b_checked.reshape(-1), steps.IDENTITY,
                          0.0, 1, ("A_prev", "W", "b"))
    return Z, (A_prev, W, b)


def linear_activation_forward(A_prev, W, b, activation="relu", slope=0.01):
    """A = g(W @ A_prev + b), one GEMM and one fused pass.

    Parameters
    ----------
    A_prev : ndarray, shape (n_prev, m)
    W : ndarray, shape (n, n_prev)
    b : ndarray, shape (n, 1)
    activation : {"relu", "sigmoid", "tanh", "leaky_relu", "identity", "softmax"}
    slope : float
        Slope of leaky_relu for negative inputs.

    Returns
    -------
    A : ndarray, shape (n, m)
    cache : tuple ``((A_prev, W, b), Z)`` with Z of shape (n, m)
    """
    code = check.activation_code(activation)
    slope = check.real(slope, "slope")
    A_prev, W, b_checked = steps.layer_inputs(A_prev, W, b)
    Z, A = steps.dense_forward(A_prev, W, b_checked.reshape(-1), code, slope, 1,
                          ("A_prev", "W", "b"))
    return A, ((A_prev, W, b), Z)


def forward(X, parameters, hidden_activation="relu", output_activation="sigmoid",
            slope=0.01):
    """The whole forward pass (the course's ``L_model_forward``).

    Parameters
    ----------
    X : ndarray, shape (n_x, m)
    parameters : dict
        ``"W{l}"``: (n[l], n[l-1]), ``"b{l}"``: (n[l], 1), l = 1..L.
    hidden_activation, output_activation : str
        One of "relu", "sigmoid", "tanh", "leaky_relu", "identity", "softmax".
    slope : float
        Slope of leaky_relu for negative inputs.

    Returns
    -------
    AL : ndarray, shape (n[L], m)
    caches : list of L tuples ``((A_prev, W, b), Z)``
    """
    hidden = check.activation_code(hidden_activation, "hidden_activation")
    output = check.activation_code(output_activation, "output_activation")
    slope = check.real(slope, "slope")
    weights, biases, dtype = check.parameters(parameters)
    X = steps.as_input(X, dtype)
    if X.shape[0] != weights[0].shape[1]:
        raise ValueError(f"X: expected {weights[0].shape[1]} rows (the columns of W1), "
                         f"got shape {X.shape}")
    return steps.forward_layers(X, weights, biases, hidden, output, slope,
                    [parameters[f"b{layer}"] for layer in range(1, len(weights) + 1)])


# ---------------------------------------------------------------------------
# Cost


def compute_cost(AL, Y, loss="binary_crossentropy", from_logits=False):
    """The cost, averaged over the m examples.

    Parameters
    ----------
    AL : ndarray, shape (n, m)
        Output activations; with ``from_logits=True``, the output layer's Z
        instead, which keeps saturated outputs finite.
    Y : array_like, shape (n, m)
        Targets (for binary cross-entropy (1, m) or (m,) labels in [0, 1]; for
        categorical cross-entropy one-hot columns or (m,) integer classes).
    loss : {"binary_crossentropy", "categorical_crossentropy", "mse"}
        ``-sum(Y log AL + (1 - Y) log(1 - AL)) / m``, ``-sum(Y log AL) / m``,
        or ``sum((AL - Y) ** 2) / (2 m)``.
    from_logits : bool
        Apply the loss's own output activation (sigmoid, softmax, identity)
        to ``AL`` first, computing the cost stably.

    Returns
    -------
    numpy scalar of AL's dtype
    """
    loss = steps.loss_name(loss)
    AL = check.float_array(AL, "AL", ndim=2)
    # AL predicts the mean of the target: it lies within the target kind's bounds
    bounds = registry.TARGETS[registry.output_for_loss(loss).target]
    check.finite_values(AL, "AL", None if from_logits or bounds is None
                        else ("probabilities" if bounds[1:] == (0.0, 1.0) else bounds[0])
                        + " (or pass from_logits=True)",
                        (0.0, 1.0) if bounds is None else bounds[1:])
    Y = steps.targets(Y, AL, loss)
    AL = np.ascontiguousarray(AL)
    code = steps.LOSS_CODES[loss]
    cost = dnn_core.logits_cost(AL, Y, code) if from_logits else dnn_core.probs_cost(AL, Y, code)
    if np.isfinite(cost) and abs(cost) > float(np.finfo(AL.dtype).max):
        raise ValueError(f"AL: the cost, {cost:.3g}, is beyond {AL.dtype}'s range; compute it "
                         f"from AL.astype(np.float64)")
    return AL.dtype.type(cost)


# ---------------------------------------------------------------------------
# Backward


def linear_backward(dZ, cache):
    """dW = dZ @ A_prev.T / m, db = sum(dZ, axis=1) / m, dA_prev = W.T @ dZ.

    Parameters
    ----------
    dZ : ndarray, shape (n, m)
    cache : tuple ``(A_prev, W, b)`` from :func:`linear_forward`

    Returns
    -------
    dA_prev : ndarray, shape (n_prev, m)
    dW : ndarray, shape (n, n_prev)
    db : ndarray, shape (n, 1)
    """
    try:
        A_prev, W, b = cache
    except (TypeError, ValueError):
        raise TypeError("cache: expected (A_prev, W, b), as linear_forward returns") from None
    A_prev, W, _ = steps.layer_inputs(A_prev, W, b, prefix="cache ")
    dZ = steps.gradient_of(dZ, "dZ", np.empty((W.shape[0], A_prev.shape[1]), dtype=W.dtype))
    return steps.dense_backward(dZ, A_prev, W, True, "dZ",
                           [("cache A_prev", A_prev), ("cache W", W)])


def linear_activation_backward(dA, cache, activation="relu", slope=0.01):
    """Backward through g then the linear step: dZ = dA * g'(Z), then :func:`linear_backward`.

    Parameters
    ----------
    dA : ndarray, shape (n, m)
    cache : tuple ``((A_prev, W, b), Z)`` from :func:`linear_activation_forward`
    activation : str
        The activation the forward pass used.
    slope : float
        Slope of leaky_relu for negative inputs.

    Returns
    -------
    dA_prev : ndarray, shape (n_prev, m)
    dW : ndarray, shape (n, n_prev)
    db : ndarray, shape (n, 1)
    """
    code = check.activation_code(activation)
    slope = check.real(slope, "slope")
    A_prev, W, _, Z = steps.cache_parts(cache)
    dA = steps.gradient_of(dA, "dA", Z)
    dZ = steps.activation_gradient(dA, Z, code, slope)
    return steps.dense_backward(dZ, A_prev, W, True, "dA",
                           [("cache A_prev", A_prev), ("cache W", W), ("cache Z", Z)])


def backward(AL, Y, caches, hidden_activation="relu", output_activation="sigmoid",
             loss=None, slope=0.01, input_gradient=False):
    """The whole backward pass (the course's ``L_model_backward``).

    At the output, a loss matched to its activation (sigmoid with binary
    cross-entropy, softmax with categorical cross-entropy, identity with mse)
    gives ``dZ[L] = AL - Y`` directly; any other pairing goes through
    ``dAL`` and ``g'``. Hidden layers read ``A[l]`` from the next cache, so
    ``caches`` must be the ones :func:`forward` returned with ``AL``.

    Parameters
    ----------
    AL : ndarray, shape (n[L], m)
    Y : array_like, shape (n[L], m)
    caches : list of ``((A_prev, W, b), Z)``
    hidden_activation, output_activation : str
        As given to :func:`forward`.
    loss : str or None
        Default: the one matched to ``output_activation`` ("mse" for others).
    slope : float
    input_gradient : bool
        Also compute ``dA0``, the gradient with respect to X (not needed for
        training, and as costly as the first layer's dW).

    Returns
    -------
    dict
        ``"dW{l}"``: (n[l], n[l-1]), ``"db{l}"``: (n[l], 1) for l = 1..L, and
        ``"dA{l}"``: (n[l], m) for l = 1..L-1 (and l = 0 if ``input_gradient``).
    """
    hidden = check.activation_code(hidden_activation, "hidden_activation")
    output = check.activation_code(output_activation, "output_activation")
    slope = check.real(slope, "slope")
    loss = steps.loss_name(loss, output_activation)
    if not isinstance(caches, (list, tuple)) or not caches:
        raise TypeError("caches: expected the non-empty list of caches forward() returns, "
                        f"got {type(caches).__name__}")
    parts = [steps.cache_parts(cache, index) for index, cache in enumerate(caches)]
    AL = check.float_array(AL, "AL", ndim=2, dtype=parts[-1][1].dtype)
    if AL.shape != parts[-1][3].shape:
        raise ValueError(f"AL: expected shape {parts[-1][3].shape} like the last cache's Z, "
                         f"got {AL.shape}")
    check.check_finite(AL, "AL")
    for index in range(1, len(parts)):
        if parts[index][0].shape != parts[index - 1][3].shape:
            raise ValueError(f"caches[{index}]: A_prev of shape {parts[index][0].shape} does "
                             f"not match caches[{index - 1}]'s Z of shape "
                             f"{parts[index - 1][3].shape}")
    Y = steps.targets(Y, AL, loss)
    AL = np.ascontiguousarray(AL)
    return steps.backward_layers(AL, Y, parts, hidden, output, loss, slope, input_gradient,
                     "AL, caches")


# ---------------------------------------------------------------------------
# Update

def update_parameters(parameters, grads, learning_rate, inplace=False):
    """One step of gradient descent: ``W[l] -= learning_rate * dW[l]``, same for b.

    Parameters
    ----------
    parameters : dict
        ``"W{l}"``, ``"b{l}"``.
    grads : dict
        ``"dW{l}"``, ``"db{l}"`` of the same shapes (other keys are ignored).
    learning_rate : float
        Finite, >= 0.
    inplace : bool
        Update the caller's arrays themselves (no allocation); by default a
        new dict of new arrays is returned and the caller's are left alone.

    Returns
    -------
    dict
        The updated parameters (``parameters`` itself when ``inplace``).
    """
    learning_rate = check.real(learning_rate, "learning_rate", low=0.0)
    weights, biases, dtype = check.parameters(parameters)
    if not isinstance(grads, dict):
        raise TypeError(f"grads: expected a dict like {{'dW1': ..., 'db1': ...}}, "
                        f"got {type(grads).__name__}")
    pairs = []
    for layer in range(1, len(weights) + 1):
        for key in (f"W{layer}", f"b{layer}"):
            param = np.asarray(parameters[key])
            check.check_finite(np.asarray(param, dtype=dtype), f"parameters['{key}']")
            if f"d{key}" not in grads:
                raise ValueError(f"grads: missing 'd{key}' for parameters['{key}']")
            grad = check.float_array(grads[f"d{key}"], f"grads['d{key}']", dtype=dtype)
            if grad.shape != param.shape:
                raise ValueError(f"grads['d{key}']: expected shape {param.shape} like "
                                 f"parameters['{key}'], got {grad.shape}")
            check.check_finite(grad, f"grads['d{key}']")
            pairs.append((key, param, grad))
    if inplace:
        for key, param, grad in pairs:
            if not param.flags.writeable:
                raise ValueError(f"parameters['{key}']: inplace=True needs writeable arrays")
    updated = parameters if inplace else dict(parameters)
    for key, param, grad in pairs:
        target = param if inplace else np.array(param, order="C", dtype=dtype)
        steps.sgd_step(target, grad, learning_rate)
        updated[key] = target
    return updated


# ---------------------------------------------------------------------------
# Prediction and checking

def predict(X, parameters, hidden_activation="relu", output_activation="sigmoid",
            slope=0.01, threshold=0.5):
    """Predictions of the network.

    Parameters
    ----------
    X : ndarray, shape (n_x, m)
    parameters : dict
    hidden_activation, output_activation : str
    slope : float
    threshold : float
        For a sigmoid output: the probability above which the label is 1.

    Returns
    -------
    ndarray
        sigmoid: 0/1 labels of shape (n[L], m) (int64); softmax: class
        indices of shape (m,); other outputs: AL itself, (n[L], m).
    """
    threshold = check.real(threshold, "threshold", low=0.0, high=1.0)
    AL, _ = forward(X, parameters, hidden_activation, output_activation, slope)
    if output_activation == "sigmoid":
        return (AL > threshold).astype(np.int64)
    if output_activation == "softmax":
        return np.argmax(AL, axis=0)
    return AL


def gradient_check(parameters, X, Y, epsilon=1e-7, hidden_activation="relu",
                   output_activation="sigmoid", loss=None, slope=0.01):
    """Compare backward()'s gradient with two-sided finite differences of the cost.

    Runs in float64 whatever the parameters' dtype (finite differences in
    float32 mean little). Costs are computed from the logits, with NumPy's exp and
    log1p (finite differences magnify rounding noise by 1 / epsilon).

    Parameters
    ----------
    parameters : dict
    X : ndarray, shape (n_x, m)
    Y : array_like, shape (n[L], m)
    epsilon : float
        The step, > 0.
    hidden_activation, output_activation, loss, slope
        As for :func:`forward` and :func:`backward`.

    Returns
    -------
    float
        ``||g - g_approx|| / (||g|| + ||g_approx||)``: about 1e-7 or less
        when the gradient is right.
    """
    epsilon = check.real(epsilon, "epsilon", low=0.0, low_inclusive=False)
    hidden = check.activation_code(hidden_activation, "hidden_activation")
    output = check.activation_code(output_activation, "output_activation")
    slope = check.real(slope, "slope")
    loss = steps.loss_name(loss, output_activation)
    weights, biases, _ = check.parameters(parameters)
    weights = [W.astype(np.float64) for W in weights]
    biases = [b.astype(np.float64) for b in biases]
    X = np.asarray(steps.as_input(X), dtype=np.float64)
    if X.shape[0] != weights[0].shape[1]:
        raise ValueError(f"X: expected {weights[0].shape[1]} rows (the columns of W1), "
                         f"got shape {X.shape}")
    AL, caches = steps.forward_layers(X, weights, biases, hidden, output, slope)
    Y = steps.targets(Y, AL, loss)
    parts = [(A_prev, W, b, Z) for (A_prev, W, b), Z in caches]
    grads = steps.backward_layers(AL, Y, parts, hidden, output, loss, slope, False,
                                  "X, parameters")
    analytic = np.concatenate([np.concatenate([grads[f"dW{l}"].ravel(), grads[f"db{l}"].ravel()])
                               for l in range(1, len(weights) + 1)])

    matched = MATCHED_LOSS.get(steps.ACTIVATION_NAMES[output]) == loss
    code = steps.LOSS_CODES[loss]

    def cost():
        AL, caches = steps.forward_layers(X, weights, biases, hidden, output, slope)
        if matched:  # from the logits, stably
            return steps.precise_logits_cost(caches[-1][1], Y, loss)
        return dnn_core.probs_cost(AL, Y, code)

    numeric = []
    for W, b in zip(weights, biases):
        for array in (W.reshape(-1), b):
            for index in range(array.size):
                saved = array[index]
                array[index] = saved + epsilon
                plus = cost()
                array[index] = saved - epsilon
                minus = cost()
                array[index] = saved
                numeric.append((plus - minus) / (2 * epsilon))
    numeric = np.array(numeric)
    denominator = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(analytic - numeric) / denominator)


