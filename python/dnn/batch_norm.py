"""Batch normalization of one layer, forward and backward, in the course's shape.

The second course (Improving Deep Neural Networks, week 3) normalizes a hidden
layer's linear output ``Z = W @ A_prev`` (its bias dropped: ``beta`` takes its
place) over the examples of the batch, one unit (row) at a time, before the
activation::

    mu = np.mean(Z, axis=1, keepdims=True)
    var = np.mean((Z - mu) ** 2, axis=1, keepdims=True)
    Z_norm = (Z - mu) / np.sqrt(var + epsilon)
    Z_tilde = gamma * Z_norm + beta           # then A = g(Z_tilde)

Layout (the course's): ``Z`` is ``(n, m)``, one column per example; ``gamma``,
``beta`` and the running statistics are ``(n, 1)`` (``(n,)`` is accepted too).
float32 in gives float32 out.

Training uses the batch's ``mu`` and ``var`` and moves the running statistics
towards them; inference (``training=False``) uses the running statistics
only, so an example's output does not depend on the other examples of its
batch. The conventions are PyTorch's (``torch.nn.BatchNorm1d``), not Keras's:

- ``epsilon = 1e-5`` (Keras: 1e-3);
- ``running = (1 - momentum) * running + momentum * batch`` with ``momentum =
  0.1`` (Keras writes the same update with its momentum 0.99 = 1 - 0.1 on the
  other term). 0.1 forgets the initial zeros and ones in tens of steps, which
  matters for the course's full-batch runs of a few thousand iterations at
  most, and a net trained here can be checked against PyTorch's layer
  number for number;
- the running variance is the unbiased one, ``var * m / (m - 1)`` (as PyTorch;
  Keras keeps the biased ``var``); for a batch of one example it is left as
  it was (PyTorch refuses such a batch in training).

A batch of one example, or a unit whose ``Z`` is constant over the batch, has
``var = 0``: ``Z_norm`` is then 0 and ``Z_tilde = beta``, never NaN.

With ``sample_weight`` (m,), ``mu`` and ``var`` are weighted means
(``np.sum(w * Z, 1) / np.sum(w)``), the unbiased factor is ``np.sum(w) ** 2 /
(np.sum(w) ** 2 - np.sum(w ** 2))`` and the gradients are those of the
weighted cost ``np.sum(w * loss) / np.sum(w)``.
"""
from collections import namedtuple

import numpy as np

import dnn_core

from dnn import _validation as check

#: PyTorch's BatchNorm1d defaults (see the module's docstring)
EPSILON = 1e-5
MOMENTUM = 0.1
REDUCTIONS = ("mean", "sum")


class BatchNormCache(namedtuple("BatchNormCache", ["Z_norm", "gamma", "invstd", "mu", "var",
                                                   "epsilon", "sample_weight", "training"])):
    """What :func:`batchnorm_backward` needs, as :func:`batchnorm_forward` left it.

    Z_norm : ndarray, shape (n, m)
    gamma : ndarray, shape (n, 1) or (n,), as given
    invstd : ndarray, shape (n,), ``1 / sqrt(var + epsilon)``
    mu, var : ndarray, shape (n, 1), the statistics used (the batch's, or the
        running ones when ``training`` is False)
    epsilon : float
    sample_weight : ndarray of shape (m,) or None
    training : bool, whether mu and var were the batch's own (they then
        depend on Z, and the gradient goes through them)
    """
    __slots__ = ()


def _column(value, name, n, dtype):
    """An (n, 1) or (n,) float array of ``dtype``, finite, as a 1-D C array."""
    array = check.float_array(value, name, dtype=dtype)
    if array.shape not in ((n, 1), (n,)):
        raise ValueError(f"{name}: expected shape ({n}, 1) (one value per row of Z), "
                         f"got {array.shape}")
    check.check_finite(array, name)
    return np.ascontiguousarray(array.reshape(-1))


def _running(value, name, n, dtype):
    """A running statistic: an (n, 1) or (n,) ndarray of ``dtype``, finite,
    contiguous and writeable (it is updated in place); its 1-D view."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name}: expected a NumPy array (it is updated in place), "
                        f"got {type(value).__name__}")
    array = _column(value, name, n, dtype)
    if not value.flags.writeable or not np.shares_memory(array, value):
        kind = "read-only" if not value.flags.writeable else "strided or byte-swapped"
        raise ValueError(f"{name}: expected a contiguous, writeable array (it is updated "
                         f"in place), got a {kind} one; pass a copy, np.array({name})")
    return array


def _sample_weight(value, m, dtype):
    if value is None:
        return None
    array = check.as_array(value, "sample_weight")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight: expected numbers, got dtype {array.dtype}")
    if array.shape not in ((m,), (1, m)):
        raise ValueError(f"sample_weight: expected shape ({m},) (one weight per column of "
                         f"Z), got {array.shape}")
    array = np.ascontiguousarray(array.reshape(-1), dtype=dtype)
    check.finite_values(array, "sample_weight")
    if array.min() < 0:
        raise ValueError(f"sample_weight: expected weights >= 0, got {array.min():g}")
    if not array.sum() > 0:
        raise ValueError("sample_weight: expected a positive sum, got all zeros")
    return array


def batchnorm_forward(Z, gamma, beta, epsilon=EPSILON, running_mean=None, running_var=None,
                      momentum=MOMENTUM, training=True, sample_weight=None):
    """Z_tilde = gamma * (Z - mu) / sqrt(var + epsilon) + beta, one layer.

    Parameters
    ----------
    Z : ndarray, shape (n, m)
        The layer's linear output ``W @ A_prev`` (no bias).
    gamma, beta : ndarray, shape (n, 1)
        The learned scale and shift (start: ones and zeros).
    epsilon : float > 0
    running_mean, running_var : ndarray, shape (n, 1), or None
        Training: moved towards the batch's statistics IN PLACE (as PyTorch's
        buffers), ``running = (1 - momentum) * running + momentum * batch``
        (the variance unbiased), when given. Inference: required, and used
        instead of the batch's statistics. Start them at zeros and ones.
    momentum : float in [0, 1]
        Weight of the batch in the running averages.
    training : bool
        Whether to normalize with the batch's statistics (True) or the
        running ones (False, for predictions).
    sample_weight : array_like, shape (m,), or None
        Non-negative weights of the examples (a positive sum): weighted
        statistics. Ignored when ``training`` is False.

    Returns
    -------
    Z_tilde : ndarray, shape (n, m)
    cache : BatchNormCache
        For :func:`batchnorm_backward`; ``cache.mu`` and ``cache.var`` hold
        the statistics used, shape (n, 1).
    """
    Z = check.float_array(Z, "Z", ndim=2)
    check.check_finite(Z, "Z")
    Z = np.ascontiguousarray(Z)
    n, m = Z.shape
    gamma_flat = _column(gamma, "gamma", n, Z.dtype)
    beta_flat = _column(beta, "beta", n, Z.dtype)
    epsilon = check.real(epsilon, "epsilon", low=0, low_inclusive=False)
    momentum = check.real(momentum, "momentum", low=0, high=1)
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"training: expected True or False, got {type(training).__name__}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean, running_var: expected both or neither, got "
                         f"only {'running_mean' if running_var is None else 'running_var'}")
    if running_mean is None and not training:
        raise ValueError("running_mean, running_var: expected the running statistics with "
                         "training=False (inference normalizes with them), got None")
    if running_mean is not None:
        rm = _running(running_mean, "running_mean", n, Z.dtype)
        rv = _running(running_var, "running_var", n, Z.dtype)
        if rv.min() < 0:
            raise ValueError(f"running_var: expected values >= 0, got {rv.min():g}")
    Z_tilde = np.empty_like(Z)
    Z_norm = np.empty_like(Z)
    if not training:
        dnn_core.batch_norm_inference_forward(Z, gamma_flat, beta_flat, rm, rv, Z_tilde,
                                              epsilon)
        ones, zeros = np.ones_like(gamma_flat), np.zeros_like(beta_flat)
        dnn_core.batch_norm_inference_forward(Z, ones, zeros, rm, rv, Z_norm, epsilon)
        invstd = (1 / np.sqrt(rv.astype(np.float64) + epsilon)).astype(Z.dtype)
        mu, var = rm.copy().reshape(n, 1), rv.copy().reshape(n, 1)
        weights = None
    else:
        weights = _sample_weight(sample_weight, m, Z.dtype)
        invstd = np.empty(n, dtype=Z.dtype)
        mu, var = np.empty((n, 1), dtype=Z.dtype), np.empty((n, 1), dtype=Z.dtype)
        running = (rm, rv) if running_mean is not None else (None, None)
        if dnn_core.batch_norm_train_forward(Z, gamma_flat, beta_flat, Z_norm, Z_tilde,
                                             invstd, mu.reshape(-1), var.reshape(-1),
                                             *running, weights, epsilon, momentum):
            raise ValueError(f"Z: the variance overflowed to inf although Z is finite; "
                             f"scale Z down (or compute in float64)")
    if dnn_core.has_nonfinite(Z_tilde.reshape(-1)):
        raise ValueError("gamma: Z_tilde = gamma * Z_norm + beta overflowed to inf although "
                         "its inputs are finite; use smaller gamma and beta")
    cache = BatchNormCache(Z_norm, gamma, invstd, mu, var, epsilon, weights, bool(training))
    return Z_tilde, cache


def _cache_parts(cache):
    if isinstance(cache, tuple) and not isinstance(cache, BatchNormCache) and len(cache) == 8:
        cache = BatchNormCache(*cache)
    if not isinstance(cache, BatchNormCache):
        raise TypeError("cache: expected the BatchNormCache batchnorm_forward returns, "
                        f"got {type(cache).__name__}")
    Z_norm = check.float_array(cache.Z_norm, "cache.Z_norm", ndim=2)
    n, m = Z_norm.shape
    gamma = _column(cache.gamma, "cache.gamma", n, Z_norm.dtype)
    invstd = _column(cache.invstd, "cache.invstd", n, Z_norm.dtype)
    weights = (None if cache.sample_weight is None or not cache.training
               else _sample_weight(cache.sample_weight, m, Z_norm.dtype))
    return cache, np.ascontiguousarray(Z_norm), gamma, invstd, weights


def batchnorm_backward(dZ_tilde, cache, reduction="mean"):
    """Gradients of one batch-norm step: dZ, dgamma, dbeta from dZ_tilde.

    With ``dZ_tilde`` in the course's convention (``m`` times the cost's
    gradient, like the ``dZ`` that ``linear_backward`` takes)::

        dbeta = np.sum(dZ_tilde, axis=1, keepdims=True) / m
        dgamma = np.sum(dZ_tilde * Z_norm, axis=1, keepdims=True) / m
        dZ = (gamma * invstd / m) * (m * dZ_tilde - np.sum(dZ_tilde, axis=1, keepdims=True)
                                     - Z_norm * np.sum(dZ_tilde * Z_norm, axis=1, keepdims=True))

    (``dZ`` in the same convention, ready for ``linear_backward``). After an
    inference forward the statistics are constants: ``dZ = gamma * invstd *
    dZ_tilde``.

    Parameters
    ----------
    dZ_tilde : ndarray, shape (n, m)
    cache : BatchNormCache
        From :func:`batchnorm_forward`.
    reduction : {"mean", "sum"}
        dgamma and dbeta as means over the m examples (``np.sum(w)`` with
        sample weights), as the course's ``db`` is, or as plain sums.

    Returns
    -------
    dZ : ndarray, shape (n, m)
    dgamma, dbeta : ndarray, shape of gamma (n, 1)
    """
    check.choice(reduction, "reduction", REDUCTIONS)
    cache, Z_norm, gamma, invstd, weights = _cache_parts(cache)
    dZ_tilde = check.float_array(dZ_tilde, "dZ_tilde", ndim=2, dtype=Z_norm.dtype)
    if dZ_tilde.shape != Z_norm.shape:
        raise ValueError(f"dZ_tilde: expected shape {Z_norm.shape} (that of the forward's Z), "
                         f"got {dZ_tilde.shape}")
    check.check_finite(dZ_tilde, "dZ_tilde")
    dZ_tilde = np.ascontiguousarray(dZ_tilde)
    n, m = Z_norm.shape
    total = m if weights is None else float(np.sum(weights, dtype=np.float64))
    scale = 1.0 / total if reduction == "mean" else 1.0
    shape = np.shape(cache.gamma)
    dZ = np.empty_like(dZ_tilde)
    dgamma, dbeta = np.empty(shape, dtype=dZ.dtype), np.empty(shape, dtype=dZ.dtype)
    dnn_core.batch_norm_backward(dZ_tilde, Z_norm, gamma, invstd, dZ, dgamma.reshape(-1),
                                 dbeta.reshape(-1), weights, bool(cache.training), scale)
    for array in (dZ, dgamma, dbeta):
        if dnn_core.has_nonfinite(array.reshape(-1)):
            raise ValueError("dZ_tilde: the gradients overflowed to inf although the inputs "
                             "are finite; scale dZ_tilde down (or compute in float64)")
    return dZ, dgamma, dbeta


def batchnorm_fold(gamma, beta, running_mean, running_var, epsilon=EPSILON):
    """Inference batch norm as a per-unit scale and shift.

    ``scale = gamma / sqrt(running_var + epsilon)``, ``shift = beta -
    running_mean * scale``, so that ``Z_tilde = scale * Z + shift``; a layer
    ``Z = W @ A_prev`` then folds into the dense layer ``scale * W``, ``shift``
    (what an ONNX export or a fast predictor uses).

    Parameters
    ----------
    gamma, beta, running_mean, running_var : ndarray, shape (n, 1)
    epsilon : float > 0

    Returns
    -------
    scale, shift : ndarray, shape of gamma
    """
    gamma_array = check.float_array(gamma, "gamma")
    if gamma_array.ndim not in (1, 2) or gamma_array.shape[1:] not in ((), (1,)):
        raise ValueError(f"gamma: expected shape (n, 1), got {gamma_array.shape}")
    n = gamma_array.shape[0]
    dtype = gamma_array.dtype
    gamma_flat = _column(gamma_array, "gamma", n, dtype)
    beta_flat = _column(beta, "beta", n, dtype)
    rm = _column(running_mean, "running_mean", n, dtype)
    rv = _column(running_var, "running_var", n, dtype)
    if rv.min() < 0:
        raise ValueError(f"running_var: expected values >= 0, got {rv.min():g}")
    epsilon = check.real(epsilon, "epsilon", low=0, low_inclusive=False)
    scale, shift = np.empty(gamma_array.shape, dtype), np.empty(gamma_array.shape, dtype)
    dnn_core.batch_norm_fold(gamma_flat, beta_flat, rm, rv, scale.reshape(-1),
                             shift.reshape(-1), epsilon)
    return scale, shift
