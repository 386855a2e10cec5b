"""Numerical edges: saturated logits (|z| up to 1e4), all-one and all-zero labels, a
single example, a single feature, float32 inputs of 1e-30 and 1e30.

Costs and gradients must be finite and equal the NumPy reference's
(benchmarks/numpy_reference.py, evaluated in float64) wherever that is finite,
through the functional API and through Network.compute_gradients. The
reference's cost from probabilities (the course's formula) overflows where an
output saturates on the wrong side (log(0)); there the cost from logits (the
reference's compute_cost_from_logits, finite) is the one compared, and ours
must be finite too.
"""
import contextlib
import itertools
import zlib
import warnings

import numpy as np
import pytest

import dnn
from dnn import functional as F
from dnn_core import registry

from helpers import REFERENCE as R

HIDDEN = [None, *registry.hidden_activations()]
#: output activation -> the loss it is matched with
#: (not the Poisson output: exp of saturated (1e4) logits is inf, there is no finite cost
#: to compare; its stability is test_softplus_poisson's)
OUTPUTS = {row.activation: row.loss for row in registry.OUTPUTS.values() if row.target != "count"}
#: (dtype, scale of X, logits of the output layer pushed to +-1e4?, rtol). Tolerances
#: are relative to the largest entry of what is compared (all of a gradient's
#: entries: sums that cancel are judged on the scale of their terms). float32
#: logits of 1e4 carry rounding of ulp(1e4) = 1e-3, and softmax takes the
#: difference of two such logits: hence 5e-3 there.
REGIMES = {"float64 saturated": (np.float64, 1.0, True, 1e-9),
           "float32 saturated": (np.float32, 1.0, True, 5e-3),
           "float32 tiny inputs": (np.float32, 1e-30, False, 2e-4),
           "float32 huge inputs": (np.float32, 1e30, False, 2e-4)}
SHAPES = [(1, 1), (1, 6), (4, 1), (4, 6)]     # (features, examples)
LABELS = ["mixed", "all one", "all zero"]
SATURATION = 1e4


def network(n_x, hidden, output, dtype, saturated, rng):
    dims = [n_x] + ([3] if hidden else []) + [3 if output == "softmax" else 2]
    params = {}
    for layer in range(1, len(dims)):
        params[f"W{layer}"] = rng.standard_normal((dims[layer], dims[layer - 1]))
        params[f"b{layer}"] = np.zeros((dims[layer], 1))
    if saturated:
        # the output logits sit at +-1e4 (plus a little): fully saturated
        L = len(dims) - 1
        signs = np.where(np.arange(dims[-1]) % 2 == 0, 1.0, -1.0)[:, None]
        params[f"b{L}"] = SATURATION * signs
    return dims, {key: value.astype(dtype) for key, value in params.items()}


def labels(kind, output, n_out, m, rng):
    """(Y in the course's layout (n_out, m), y for Network)."""
    if output == "softmax":
        classes = {"mixed": rng.integers(0, n_out, m), "all one": np.full(m, n_out - 1),
                   "all zero": np.zeros(m, dtype=int)}[kind]
        return np.eye(n_out)[:, classes], classes
    if output == "identity":
        Y = {"mixed": rng.standard_normal((n_out, m)), "all one": np.ones((n_out, m)),
             "all zero": np.zeros((n_out, m))}[kind]
        return Y, Y.T
    Y = {"mixed": (rng.random((n_out, m)) < 0.5) * 1.0, "all one": np.ones((n_out, m)),
         "all zero": np.zeros((n_out, m))}[kind]
    return Y, Y.T


def reference(X, Y, params, hidden, output):
    """Logits, cost from logits and gradients of the NumPy reference, in float64."""
    params = {key: value.astype(np.float64) for key, value in params.items()}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        AL, caches = R.L_model_forward(X.astype(np.float64), params, hidden or "relu", output)
        Z = caches[-1][1]
        cost = R.compute_cost_from_logits(Z, Y, OUTPUTS[output])
        grads = R.backward_with_regularization(AL, Y, caches, hidden or "relu")
        naive = R.compute_cost(AL, Y, OUTPUTS[output])
    # the size of the terms each gradient sums (a sum may cancel to ~0 in float64
    # while float32 keeps ~1e-7 of its terms): |dZ[L]| = |AL - Y|, times the
    # weights' row sums going down, times |A[l-1]| for dW[l]
    terms, delta = {}, float(np.max(np.abs(AL - Y)))
    for layer in range(len(caches), 0, -1):
        (A_prev, W, _), _ = caches[layer - 1]
        terms[f"db{layer}"] = delta
        terms[f"dW{layer}"] = delta * float(np.max(np.abs(A_prev)))
        delta *= max(1.0, float(np.max(np.sum(np.abs(W), axis=0))))
    return AL, Z, float(cost), grads, float(naive), terms


def assert_finite_and_close(actual, expected, rtol, what, scale=None):
    """Finite, and equal to ``expected`` to ``rtol`` of ``scale`` (default: its
    largest entry), where ``expected`` is finite. An absolute 1e-33 covers
    values below float32's smallest (the reference's 1e-62 is float32's 0)."""
    actual = np.asarray(actual, dtype=np.float64)
    assert np.isfinite(actual).all(), f"{what}: not finite: {actual}"
    if not np.isfinite(expected).all():
        return
    if scale is None:
        scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale + 1e-33,
                               err_msg=what)


@pytest.mark.parametrize("regime", sorted(REGIMES))
@pytest.mark.parametrize("output", sorted(OUTPUTS))
@pytest.mark.parametrize("hidden", HIDDEN, ids=lambda h: h or "no hidden layer")
def test_costs_and_gradients_are_finite_and_equal_the_reference(hidden, output, regime):
    dtype, x_scale, saturated, rtol = REGIMES[regime]
    rng = np.random.default_rng(zlib.crc32(f"{hidden} {output} {regime}".encode()))
    cases = outside = 0
    for (n_x, m), kind in itertools.product(SHAPES, LABELS):
        dims, params = network(n_x, hidden, output, dtype, saturated, rng)
        X = (rng.uniform(-1, 1, (n_x, m)) * x_scale).astype(dtype)
        Y, y = labels(kind, output, dims[-1], m, rng)
        AL_ref, Z_ref, cost_ref, grads_ref, naive_ref, terms = reference(X, Y, params, hidden,
                                                                         output)
        where = f"{n_x} features, {m} examples, {kind} labels"
        if saturated:
            assert np.max(np.abs(Z_ref)) >= SATURATION * 0.99, "the logits must saturate"
        hidden_name = hidden or "relu"
        Yd = Y.astype(dtype)

        # results beyond float32's range (mse of 1e30 outputs: 1e59) must be refused
        # clearly, never returned as inf
        biggest = max([abs(cost_ref)] + [np.max(np.abs(g)) for g in grads_ref.values()])
        representable = biggest < float(np.finfo(dtype).max)
        outside += not representable
        grad_scale = max(np.max(np.abs(g)) for g in grads_ref.values())

        # functional API
        AL, caches = F.forward(X, params, hidden_name, output)
        assert_finite_and_close(AL, AL_ref, rtol, f"AL ({where})")
        Z = caches[-1][1]
        with refused_unless(abs(cost_ref) < float(np.finfo(dtype).max), "AL"):
            cost = F.compute_cost(Z, Yd, OUTPUTS[output], from_logits=True)
            assert_finite_and_close(cost, cost_ref, rtol, f"cost from logits ({where})")
        with refused_unless(representable, "AL, caches"):
            grads = F.backward(AL, Yd, caches, hidden_name, output)
            for key, value in grads_ref.items():
                assert_finite_and_close(grads[key], value, rtol, f"{key} ({where})",
                                        max(grad_scale, terms[key]))
        if np.isfinite(naive_ref) and abs(naive_ref) < float(np.finfo(dtype).max):
            # the course's formula on probabilities, where the reference is finite
            probs_cost = F.compute_cost(AL, Yd, OUTPUTS[output])
            assert_finite_and_close(probs_cost, naive_ref, rtol, f"cost of AL ({where})")

        # Network (scikit-learn layout), the compiled engine
        net = dnn.Network(dims, hidden_name, "linear" if output == "identity" else output,
                          dtype=np.dtype(dtype).name, seed=0)
        net.parameters = params
        with refused_unless(representable, "X"):
            net_cost, net_grads = net.compute_gradients(X.T, y)
            assert_finite_and_close(net_cost, cost_ref, rtol, f"Network cost ({where})")
            for key, value in grads_ref.items():
                assert_finite_and_close(net_grads[key], value, rtol, f"Network {key} ({where})",
                                        max(grad_scale, terms[key]))
        cases += 1
    assert cases == len(SHAPES) * len(LABELS)
    if regime != "float32 huge inputs" or output != "identity":
        assert outside == 0  # only mse of 1e30 outputs leaves float32's range


@contextlib.contextmanager
def refused_unless(representable, name):
    """The block must pass; or, if the exact result is beyond the dtype's range,
    raise ValueError naming ``name``."""
    if representable:
        yield
        return
    with pytest.raises(ValueError, match=name):
        yield


def test_saturated_probabilities_where_the_reference_gives_nan():
    """AL exactly 0 or 1. The course's formula (the reference) gives NaN for an
    example certain and right (0 * log(0)); ours gives the limit: 0 for certain and
    right, +inf (never NaN) for certain and wrong. The finite cost of a saturated
    output is the one from the logits (compute_cost(Z, Y, from_logits=True), above)."""
    right, wrong = np.array([[1.0, 0.0, 0.7]]), np.array([[0.0, 1.0, 0.7]])
    Y = np.array([[1.0, 0.0, 1.0]])
    with np.errstate(all="ignore"):
        assert np.isnan(R.compute_cost(right, Y))
        assert not np.isfinite(R.compute_cost(wrong, Y))
    for dtype in (np.float64, np.float32):
        assert F.compute_cost(right.astype(dtype), Y) == pytest.approx(-np.log(0.7) / 3,
                                                                         rel=1e-6)
        assert F.compute_cost(wrong.astype(dtype), Y) == np.inf
