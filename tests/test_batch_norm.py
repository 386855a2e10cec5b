"""Batch normalization: dnn_core._batchnorm and dnn.batch_norm against the NumPy
reference (benchmarks/numpy_reference.py) and finite differences.

float64 agrees with the reference to 1e-12 (relative to the largest entry);
float32 to 1e-5 on unit-scale data (FLOAT32 below), 1e-3 on hypothesis's
draws, whose rows may be nearly constant (float32 then loses digits in Z - mu).
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import dnn_core
from dnn_core import _batchnorm as K
from dnn import batch_norm as BN
from dnn import functional as F

from helpers import REFERENCE as R, assert_close

FLOAT32 = 1e-5
DTYPES = [np.float64, np.float32]


def layer(n=4, m=9, seed=0, weighted=False):
    """Z, gamma, beta, dZ_tilde, running mean and variance, sample weights."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, m)) * 2 + rng.standard_normal((n, 1))
    gamma = rng.uniform(0.5, 2, (n, 1))
    beta = rng.standard_normal((n, 1))
    dZ_tilde = rng.standard_normal((n, m))
    running_mean, running_var = rng.standard_normal((n, 1)), rng.uniform(0.5, 2, (n, 1))
    w = rng.uniform(0.1, 3, m) if weighted else None
    return Z, gamma, beta, dZ_tilde, running_mean, running_var, w


def tol(dtype):
    return 1e-12 if dtype == np.float64 else FLOAT32


# ---------------------------------------------------------------------------
# Kernels against the reference

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_train_forward_kernel_matches_reference(dtype, weighted):
    Z, gamma, beta, _, rm, rv, w = layer(weighted=weighted)
    Z_tilde, cache, (rm_new, rv_new) = R.batchnorm_forward(Z, gamma, beta, 1e-5, rm, rv, 0.1,
                                                            True, w)
    n, m = Z.shape
    c = lambda a: np.ascontiguousarray(a, dtype=dtype).reshape(a.shape[0], -1)
    flat = lambda a: np.ascontiguousarray(a.reshape(-1), dtype=dtype)
    Z_norm, out = np.empty((n, m), dtype), np.empty((n, m), dtype)
    invstd, mean, var = np.empty(n, dtype), np.empty(n, dtype), np.empty(n, dtype)
    running_mean, running_var = flat(rm), flat(rv)
    bad = K.train_forward(c(Z), flat(gamma), flat(beta), Z_norm, out, invstd, mean, var,
                          running_mean, running_var, None if w is None else flat(w), 1e-5, 0.1)
    assert bad is False
    assert_close(out, Z_tilde, dtype, tol(dtype))
    assert_close(Z_norm, cache[1], dtype, tol(dtype))
    assert_close(mean, cache[2].ravel(), dtype, tol(dtype))
    assert_close(var, cache[3].ravel(), dtype, tol(dtype))
    assert_close(invstd, 1 / np.sqrt(cache[3].ravel() + 1e-5), dtype, tol(dtype))
    assert_close(running_mean, rm_new.ravel(), dtype, tol(dtype))
    assert_close(running_var, rv_new.ravel(), dtype, tol(dtype))


def test_train_forward_kernel_in_place_and_optional_outputs():
    Z, gamma, beta, *_ = layer()
    expected, cache, _ = R.batchnorm_forward(Z, gamma, beta)
    n, m = Z.shape
    Z_norm, invstd = Z.copy(), np.empty(n)
    out = np.empty((n, m))
    K.train_forward(Z_norm, gamma.ravel(), beta.ravel(), Z_norm, out, invstd)  # Z_norm is Z
    assert_close(Z_norm, cache[1])
    assert_close(out, expected)
    Z_tilde = Z.copy()
    K.train_forward(Z_tilde, gamma.ravel(), beta.ravel(), np.empty((n, m)), Z_tilde, invstd)
    assert_close(Z_tilde, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_inference_forward_and_fold_match_reference(dtype):
    Z, gamma, beta, _, rm, rv, _ = layer()
    expected, _, _ = R.batchnorm_forward(Z, gamma, beta, 1e-5, rm, rv, training=False)
    args = [np.ascontiguousarray(a.reshape(-1), dtype=dtype) for a in (gamma, beta, rm, rv)]
    out = np.empty(Z.shape, dtype)
    K.inference_forward(Z.astype(dtype), *args, out)
    assert_close(out, expected, dtype, tol(dtype))
    scale, shift = np.empty(Z.shape[0], dtype), np.empty(Z.shape[0], dtype)
    K.fold(*args, scale, shift)
    assert_close(scale[:, None] * Z.astype(dtype) + shift[:, None], expected, dtype,
                 1e-12 * 10 if dtype == np.float64 else FLOAT32)
    in_place = Z.astype(dtype)
    K.inference_forward(in_place, *args, in_place)
    assert_close(in_place, expected, dtype, tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_backward_kernel_matches_reference(dtype, weighted, reduction):
    Z, gamma, beta, dZ_tilde, _, _, w = layer(weighted=weighted)
    if w is not None:
        dZ_tilde = dZ_tilde * w          # the engine's deltas carry their weights
    _, cache, _ = R.batchnorm_forward(Z, gamma, beta, sample_weight=w)
    dZ_ref, dgamma_ref, dbeta_ref = R.batchnorm_backward(dZ_tilde, cache, reduction)
    n, m = Z.shape
    total = m if w is None else w.sum()
    Z_norm, invstd = cache[1].astype(dtype), (1 / np.sqrt(cache[3].ravel() + 1e-5)).astype(dtype)
    dZ, dgamma, dbeta = np.empty((n, m), dtype), np.empty(n, dtype), np.empty(n, dtype)
    K.backward(dZ_tilde.astype(dtype), Z_norm, gamma.ravel().astype(dtype), invstd, dZ, dgamma,
               dbeta, None if w is None else w.astype(dtype), True,
               1 / total if reduction == "mean" else 1.0)
    assert_close(dZ, dZ_ref, dtype, tol(dtype))
    assert_close(dgamma, dgamma_ref.ravel(), dtype, tol(dtype))
    assert_close(dbeta, dbeta_ref.ravel(), dtype, tol(dtype))
    in_place = dZ_tilde.astype(dtype)
    K.backward(in_place, Z_norm, gamma.ravel().astype(dtype), invstd, in_place, None, None,
               None if w is None else w.astype(dtype))
    assert_close(in_place, dZ_ref, dtype, tol(dtype))


def test_backward_kernel_with_fixed_statistics_is_elementwise():
    Z, gamma, beta, dZ_tilde, rm, rv, _ = layer()
    invstd = 1 / np.sqrt(rv.ravel() + 1e-5)
    Z_norm = (Z - rm) * invstd[:, None]
    dZ, dgamma, dbeta = np.empty_like(Z), np.empty(4), np.empty(4)
    K.backward(dZ_tilde, Z_norm, gamma.ravel(), invstd, dZ, dgamma, dbeta, None, False, 1 / 9)
    assert_close(dZ, gamma * invstd[:, None] * dZ_tilde)
    assert_close(dgamma, np.sum(dZ_tilde * Z_norm, axis=1) / 9)
    assert_close(dbeta, np.sum(dZ_tilde, axis=1) / 9)


def test_reference_backward_is_the_compact_form():
    Z, gamma, beta, dZ_tilde, *_ = layer(m=13)
    _, cache, _ = R.batchnorm_forward(Z, gamma, beta)
    dZ, _, _ = R.batchnorm_backward(dZ_tilde, cache)
    m, Z_norm = 13, cache[1]
    invstd = 1 / np.sqrt(cache[3] + 1e-5)
    compact = (gamma * invstd / m) * (m * dZ_tilde - dZ_tilde.sum(1, keepdims=True)
                                      - Z_norm * (dZ_tilde * Z_norm).sum(1, keepdims=True))
    assert_close(dZ, compact)


def shard_bounds(m, n_shards):
    return [(s * m // n_shards, (s + 1) * m // n_shards) for s in range(n_shards)]


def sharded_train_forward(Z, gamma, beta, running_mean, running_var, weights, n_shards,
                          eps=1e-5, momentum=0.1):
    """K.train_forward through the shard pieces, the batch split into n_shards column
    blocks (each in its own buffer), as a data-parallel engine would run them
    (dnn_core/_batchnorm.pyx's "Pieces"); mean, var, invstd in double."""
    n, m = Z.shape
    bounds = shard_bounds(m, n_shards)
    w = np.ones(m, Z.dtype) if weights is None else weights
    shards = [(np.ascontiguousarray(Z[:, a:b]), None if weights is None else w[a:b])
              for a, b in bounds]
    total = float(np.sum(w, dtype=np.float64))
    center = Z[:, 0].astype(np.float64)
    mean = center + sum(K._partial_sums(z, ws, center, True) for z, ws in shards) / total
    var = sum(K._partial_sums(z, ws, mean, False) for z, ws in shards) / total
    invstd = 1 / np.sqrt(var + eps)
    K._update_running(mean, var, total, float(np.sum(w.astype(np.float64) ** 2)), momentum,
                      running_mean, running_var)
    Z_norm, Z_tilde = np.empty_like(Z), np.empty_like(Z)
    for (a, b), (z, _) in zip(bounds, shards):
        norm, tilde = np.empty_like(z), np.empty_like(z)
        K._normalize(z, mean, invstd, gamma, beta, norm, tilde)
        Z_norm[:, a:b], Z_tilde[:, a:b] = norm, tilde
    return Z_norm, Z_tilde, mean, var, invstd


def sharded_backward(dZ_tilde, Z_norm, gamma, invstd, weights, n_shards, scale):
    """K.backward through the shard pieces (see sharded_train_forward)."""
    n, m = dZ_tilde.shape
    bounds = shard_bounds(m, n_shards)
    total = m if weights is None else float(np.sum(weights, dtype=np.float64))
    pieces = [(np.ascontiguousarray(dZ_tilde[:, a:b]), np.ascontiguousarray(Z_norm[:, a:b]),
               None if weights is None else weights[a:b]) for a, b in bounds]
    sums = [K._gradient_sums(d, x) for d, x, _ in pieces]
    sum_d, sum_dx = sum(s[0] for s in sums), sum(s[1] for s in sums)
    dZ = np.empty_like(dZ_tilde)
    for (a, b), (d, x, ws) in zip(bounds, pieces):
        out = np.empty_like(d)
        K._input_gradient(d, x, ws, gamma, invstd, sum_d / total, sum_dx / total, out)
        dZ[:, a:b] = out
    return dZ, scale * sum_dx, scale * sum_d


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_shards", [1, 2, 4])
def test_shard_pieces_equal_the_whole_batch_kernels(dtype, weighted, n_shards):
    """The pieces a data-parallel engine reduces between give the whole batch's results."""
    Z, gamma, beta, dZ_tilde, rm, rv, w = layer(m=11, weighted=weighted, seed=7)
    f = lambda a: np.ascontiguousarray(a[:, 0] if a.shape[1:] == (1,) else a, dtype=dtype)
    args = [f(a) for a in (Z, gamma, beta)]
    wk = None if w is None else f(w)
    n, m = Z.shape
    Z_norm, Z_tilde, invstd = np.empty((n, m), dtype), np.empty((n, m), dtype), np.empty(n, dtype)
    mean, var = np.empty(n, dtype), np.empty(n, dtype)
    rm1, rv1, rm2, rv2 = f(rm), f(rv), f(rm), f(rv)
    K.train_forward(*args, Z_norm, Z_tilde, invstd, mean, var, rm1, rv1, wk)
    norm, tilde, mean_s, var_s, invstd_s = sharded_train_forward(*args, rm2, rv2, wk,
                                                                 n_shards)
    for actual, desired in [(norm, Z_norm), (tilde, Z_tilde), (mean_s, mean), (var_s, var),
                            (invstd_s, invstd), (rm2, rm1), (rv2, rv1)]:
        assert_close(actual, desired, dtype, tol(dtype))
    d = f(dZ_tilde * (1 if w is None else w))
    dZ, dgamma, dbeta = np.empty((n, m), dtype), np.empty(n, dtype), np.empty(n, dtype)
    K.backward(d, Z_norm, args[1], invstd, dZ, dgamma, dbeta, wk, True, 0.5)
    dZ_s, dgamma_s, dbeta_s = sharded_backward(d, Z_norm, args[1], invstd_s, wk, n_shards, 0.5)
    assert_close(dZ_s, dZ, dtype, tol(dtype))
    assert_close(dgamma_s, dgamma, dtype, tol(dtype))
    assert_close(dbeta_s, dbeta, dtype, tol(dtype))


# ---------------------------------------------------------------------------
# The functional API against the reference

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_functional_matches_reference(dtype, weighted):
    Z, gamma, beta, dZ_tilde, rm, rv, w = layer(weighted=weighted, seed=3)
    if w is not None:
        dZ_tilde = dZ_tilde * w
    expected, ref_cache, (rm_new, rv_new) = R.batchnorm_forward(Z, gamma, beta, 1e-5, rm, rv,
                                                                0.1, True, w)
    dZ_ref, dgamma_ref, dbeta_ref = R.batchnorm_backward(dZ_tilde, ref_cache)
    running_mean, running_var = rm.astype(dtype), rv.astype(dtype)
    Z_tilde, cache = BN.batchnorm_forward(Z.astype(dtype), gamma.astype(dtype),
                                          beta.astype(dtype), running_mean=running_mean,
                                          running_var=running_var, sample_weight=w)
    assert Z_tilde.dtype == dtype and Z_tilde.shape == Z.shape
    assert_close(Z_tilde, expected, dtype, tol(dtype))
    assert_close(running_mean, rm_new, dtype, tol(dtype))   # updated in place
    assert_close(running_var, rv_new, dtype, tol(dtype))
    assert_close(cache.mu, ref_cache[2], dtype, tol(dtype))
    assert_close(cache.var, ref_cache[3], dtype, tol(dtype))
    dZ, dgamma, dbeta = BN.batchnorm_backward(dZ_tilde.astype(dtype), cache)
    assert dgamma.shape == dbeta.shape == (4, 1) and dZ.dtype == dtype
    assert_close(dZ, dZ_ref, dtype, tol(dtype))
    assert_close(dgamma, dgamma_ref, dtype, tol(dtype))
    assert_close(dbeta, dbeta_ref, dtype, tol(dtype))
    _, dgamma_sum, dbeta_sum = BN.batchnorm_backward(dZ_tilde.astype(dtype), cache, "sum")
    total = 9 if w is None else w.sum()
    assert_close(dgamma_sum, dgamma_ref * total, dtype, tol(dtype))
    assert_close(dbeta_sum, dbeta_ref * total, dtype, tol(dtype))


def test_functional_accepts_1d_parameters_and_fortran_z():
    Z, gamma, beta, dZ_tilde, *_ = layer()
    expected, ref_cache, _ = R.batchnorm_forward(Z, gamma, beta)
    Z_tilde, cache = BN.batchnorm_forward(np.asfortranarray(Z), gamma.ravel(), beta.ravel())
    assert_close(Z_tilde, expected)
    dZ, dgamma, dbeta = BN.batchnorm_backward(np.asfortranarray(dZ_tilde), cache)
    assert dgamma.shape == (4,)
    assert_close(dZ, R.batchnorm_backward(dZ_tilde, ref_cache)[0])


def test_functional_inference_uses_running_statistics():
    Z, gamma, beta, dZ_tilde, rm, rv, _ = layer()
    expected, _, _ = R.batchnorm_forward(Z, gamma, beta, 1e-5, rm, rv, training=False)
    before = rm.copy(), rv.copy()
    Z_tilde, cache = BN.batchnorm_forward(Z, gamma, beta, running_mean=rm, running_var=rv,
                                          training=False)
    assert_close(Z_tilde, expected)
    np.testing.assert_array_equal(rm, before[0])            # not updated
    np.testing.assert_array_equal(rv, before[1])
    # each column alone gives the same output: no dependence on the batch
    for j in range(Z.shape[1]):
        alone, _ = BN.batchnorm_forward(Z[:, [j]], gamma, beta, running_mean=rm,
                                        running_var=rv, training=False)
        np.testing.assert_array_equal(alone[:, 0], Z_tilde[:, j])
    dZ, dgamma, dbeta = BN.batchnorm_backward(dZ_tilde, cache)
    invstd = 1 / np.sqrt(rv + 1e-5)
    assert_close(dZ, gamma * invstd * dZ_tilde)
    assert_close(dgamma, np.sum(dZ_tilde * (Z - rm) * invstd, axis=1, keepdims=True) / 9)
    assert_close(dbeta, np.sum(dZ_tilde, axis=1, keepdims=True) / 9)


def test_functional_fold():
    Z, gamma, beta, _, rm, rv, _ = layer()
    scale, shift = BN.batchnorm_fold(gamma, beta, rm, rv)
    expected, _, _ = R.batchnorm_forward(Z, gamma, beta, 1e-5, rm, rv, training=False)
    assert scale.shape == shift.shape == (4, 1)
    assert_close(scale * Z + shift, expected, rtol=1e-11)


def test_running_statistics_converge_to_the_batch_and_use_the_unbiased_variance():
    Z, gamma, beta, *_ = layer(m=5)
    rm, rv = np.zeros((4, 1)), np.ones((4, 1))
    for _ in range(300):
        BN.batchnorm_forward(Z, gamma, beta, running_mean=rm, running_var=rv, momentum=0.1)
    assert_close(rm, Z.mean(axis=1, keepdims=True), rtol=1e-10)
    assert_close(rv, Z.var(axis=1, ddof=1, keepdims=True), rtol=1e-10)
    rm2, rv2 = np.zeros((4, 1)), np.ones((4, 1))
    BN.batchnorm_forward(Z, gamma, beta, running_mean=rm2, running_var=rv2, momentum=0.0)
    np.testing.assert_array_equal(rm2, 0)
    np.testing.assert_array_equal(rv2, 1)


def test_other_epsilon_and_momentum_keras_like():
    Z, gamma, beta, dZ_tilde, rm, rv, _ = layer(seed=4)
    expected, ref_cache, (rm_new, rv_new) = R.batchnorm_forward(Z, gamma, beta, 1e-3, rm, rv,
                                                                0.01)
    Z_tilde, cache = BN.batchnorm_forward(Z, gamma, beta, epsilon=1e-3, running_mean=rm,
                                          running_var=rv, momentum=0.01)
    assert_close(Z_tilde, expected)
    assert_close(rm, rm_new)
    assert_close(rv, rv_new)
    assert_close(BN.batchnorm_backward(dZ_tilde, cache)[0],
                 R.batchnorm_backward(dZ_tilde, ref_cache)[0])


def test_defaults_are_pytorchs():
    assert BN.EPSILON == R.BN_EPSILON == 1e-5
    assert BN.MOMENTUM == R.BN_MOMENTUM == 0.1


# ---------------------------------------------------------------------------
# Edge cases: one example, constant rows

@pytest.mark.parametrize("dtype", DTYPES)
def test_one_example_gives_beta_and_zero_gradient(dtype):
    Z = np.array([[3.0], [-1.0]], dtype=dtype)
    gamma, beta = np.array([[2.0], [0.5]], dtype=dtype), np.array([[0.1], [-0.2]], dtype=dtype)
    rm, rv = np.zeros((2, 1), dtype), np.full((2, 1), 4.0, dtype)
    Z_tilde, cache = BN.batchnorm_forward(Z, gamma, beta, running_mean=rm, running_var=rv)
    np.testing.assert_array_equal(Z_tilde, beta)
    assert_close(rm, 0.1 * Z, dtype, tol(dtype))
    np.testing.assert_array_equal(rv, 4.0)               # no variance from one example
    dZ, dgamma, dbeta = BN.batchnorm_backward(np.array([[1.0], [2.0]], dtype=dtype), cache)
    np.testing.assert_array_equal(dZ, 0)
    np.testing.assert_array_equal(dgamma, 0)
    np.testing.assert_array_equal(dbeta, [[1.0], [2.0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_constant_rows_are_finite(dtype):
    Z = np.array([[1e3] * 7, [0.1] * 7, list(range(7))], dtype=dtype)
    gamma, beta = np.ones((3, 1), dtype), np.full((3, 1), 0.5, dtype)
    Z_tilde, cache = BN.batchnorm_forward(Z, gamma, beta)
    assert np.isfinite(Z_tilde).all()
    np.testing.assert_array_equal(Z_tilde[:2], 0.5)     # mu is exact for a constant row
    np.testing.assert_array_equal(cache.var[:2], 0)
    dZ_tilde = np.arange(21, dtype=dtype).reshape(3, 7)
    dZ, dgamma, dbeta = BN.batchnorm_backward(dZ_tilde, cache)
    assert np.isfinite(dZ).all() and np.isfinite(dgamma).all()
    # var = 0: dZ = gamma / sqrt(eps) * (dZ_tilde - mean(dZ_tilde))
    expected = (dZ_tilde[:2] - dZ_tilde[:2].mean(1, keepdims=True)) / np.sqrt(1e-5)
    assert_close(dZ[:2], expected, dtype, 1e-12 if dtype == np.float64 else 1e-5)


def test_single_nonzero_weight_is_like_one_example():
    Z, gamma, beta, *_ = layer(m=4)
    rv = np.ones((4, 1))
    Z_tilde, cache = BN.batchnorm_forward(Z, gamma, beta, running_mean=np.zeros((4, 1)),
                                          running_var=rv, sample_weight=[0, 0, 2, 0])
    assert_close(Z_tilde[:, [2]], beta)
    np.testing.assert_array_equal(rv, 1)
    assert np.isfinite(Z_tilde).all()


def test_integer_weights_equal_repeated_examples():
    Z, gamma, beta, dZ_tilde, *_ = layer(m=4)
    counts = np.array([1, 3, 2, 1])
    repeated = np.repeat(np.arange(4), counts)
    weighted, wcache = BN.batchnorm_forward(Z, gamma, beta, sample_weight=counts)
    plain, pcache = BN.batchnorm_forward(Z[:, repeated], gamma, beta)
    assert_close(weighted[:, repeated], plain)
    _, dgamma_w, dbeta_w = BN.batchnorm_backward(dZ_tilde * counts, wcache)
    _, dgamma_p, dbeta_p = BN.batchnorm_backward(dZ_tilde[:, repeated], pcache)
    assert_close(dgamma_w, dgamma_p)
    assert_close(dbeta_w, dbeta_p)


# ---------------------------------------------------------------------------
# Finite differences

def numeric_gradient(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        saved = x[index]
        x[index] = saved + h
        up = f()
        x[index] = saved - h
        down = f()
        x[index] = saved
        grad[index] = (up - down) / (2 * h)
    return grad


@pytest.mark.parametrize("weighted", [False, True])
def test_functional_backward_against_finite_differences(weighted):
    Z, gamma, beta, D, _, _, w = layer(n=3, m=6, seed=5, weighted=weighted)
    total = 6 if w is None else w.sum()
    # J = sum(w * D * Z_tilde) / total: its dZ_tilde (course convention) is w * D
    weights = np.ones(6) if w is None else w

    def cost():
        Z_tilde, _ = BN.batchnorm_forward(Z, gamma, beta, sample_weight=w)
        return np.sum(weights * D * Z_tilde) / total

    _, cache = BN.batchnorm_forward(Z, gamma, beta, sample_weight=w)
    dZ, dgamma, dbeta = BN.batchnorm_backward(weights * D, cache)
    assert_close(dZ / total, numeric_gradient(cost, Z), rtol=1e-7)
    assert_close(dgamma, numeric_gradient(cost, gamma), rtol=1e-7)
    assert_close(dbeta, numeric_gradient(cost, beta), rtol=1e-7)


NETWORKS = [("relu", "sigmoid", "binary_crossentropy", 1),
            ("tanh", "softmax", "categorical_crossentropy", 3),
            ("leaky_relu", "identity", "mse", 2),
            ("sigmoid", "sigmoid", "binary_crossentropy", 1)]


def network_problem(hidden, n_out, loss, seed=0, m=7, batch_norm=True):
    rng = np.random.default_rng(seed)
    params = R.initialize_parameters_batch_norm([4, 5, 3, n_out], seed=seed,
                                                batch_norm=batch_norm)
    for key in params:
        if key[0] in "gb":
            params[key] = params[key] + rng.standard_normal(params[key].shape) * 0.3
    X = rng.standard_normal((4, m))
    if loss == "categorical_crossentropy":
        Y = np.eye(n_out)[:, rng.integers(0, n_out, m)]
    elif loss == "binary_crossentropy":
        Y = (rng.random((n_out, m)) < 0.5).astype(float)
    else:
        Y = rng.standard_normal((n_out, m))
    return params, X, Y


@pytest.mark.parametrize("hidden, output, loss, n_out", NETWORKS)
@pytest.mark.parametrize("extras", ["plain", "weights_l2_dropout", "second_layer_dense"])
def test_reference_network_against_finite_differences(hidden, output, loss, n_out, extras):
    params, X, Y = network_problem(hidden, n_out, loss,
                                   batch_norm=[True, extras != "second_layer_dense"])
    rng = np.random.default_rng(1)
    kwargs, masks, l2 = {}, None, 0.0
    if extras == "weights_l2_dropout":
        kwargs["sample_weight"] = rng.uniform(0.2, 2, X.shape[1])
        masks = {1: (rng.random((5, X.shape[1])) < 0.8) / 0.8}
        l2 = 0.3

    def cost():
        AL, _, _ = R.forward_with_batch_norm(X, params, hidden, output, masks=masks, **kwargs)
        return R.cost_with_batch_norm(AL, Y, params, loss, l2, **kwargs)

    AL, caches, _ = R.forward_with_batch_norm(X, params, hidden, output, masks=masks, **kwargs)
    grads = R.backward_with_batch_norm(AL, Y, caches, hidden, masks, l2, **kwargs)
    assert sorted(grads) == sorted("d" + key for key in params)
    for key in params:
        assert_close(grads["d" + key], numeric_gradient(cost, params[key]), rtol=1e-6,
                     scale=max(1e-3, np.abs(grads["d" + key]).max()))


def test_reference_training_step_lowers_the_cost():
    params, X, Y = network_problem("relu", 1, "binary_crossentropy", m=32)
    stats = R.initialize_running_stats(params)
    costs = []
    for _ in range(30):
        params, stats, cost = R.train_step_with_batch_norm(X, Y, params, stats, 0.1)
        costs.append(cost)
    assert costs[-1] < costs[0]
    AL, _, _ = R.forward_with_batch_norm(X, params, training=False, running_stats=stats)
    assert np.isfinite(AL).all()


def test_reference_network_inference_is_independent_of_the_batch():
    params, X, Y = network_problem("relu", 3, "categorical_crossentropy", m=12)
    stats = R.initialize_running_stats(params)
    for _ in range(5):
        _, _, stats = R.forward_with_batch_norm(X, params, "relu", "softmax", True, stats)
    AL, _, _ = R.forward_with_batch_norm(X, params, "relu", "softmax", False, stats)
    for j in range(X.shape[1]):
        alone, _, _ = R.forward_with_batch_norm(X[:, [j]], params, "relu", "softmax", False,
                                                stats)
        assert_close(alone[:, 0], AL[:, j], rtol=1e-14)


@pytest.mark.parametrize("hidden, output, loss, n_out", NETWORKS)
def test_network_of_functional_pieces_matches_reference(hidden, output, loss, n_out):
    """The engine integration in miniature: dense (no bias) -> batch norm -> g per
    hidden layer, through dnn.functional, dnn.batch_norm and dnn_core."""
    params, X, Y = network_problem(hidden, n_out, loss, seed=2)
    stats = R.initialize_running_stats(params)
    AL_ref, caches_ref, stats_ref = R.forward_with_batch_norm(X, params, hidden, output, True,
                                                              stats)
    grads_ref = R.backward_with_batch_norm(AL_ref, Y, caches_ref, hidden)
    code = dnn_core.ACTIVATIONS[hidden]
    running = {key: value.copy() for key, value in stats.items()}
    A, caches = X, []
    for l in (1, 2):
        W = params[f"W{l}"]
        Z, linear_cache = F.linear_forward(A, W, np.zeros((W.shape[0], 1)))
        Z_tilde, bn_cache = BN.batchnorm_forward(Z, params[f"gamma{l}"], params[f"beta{l}"],
                                                 running_mean=running[f"running_mean{l}"],
                                                 running_var=running[f"running_var{l}"])
        A = np.empty_like(Z_tilde)
        dnn_core.activation_forward(Z_tilde, A, code)
        caches.append((linear_cache, bn_cache, Z_tilde, A))
    AL, out_cache = F.linear_activation_forward(A, params["W3"], params["b3"], output)
    assert_close(AL, AL_ref)
    for key in stats:
        assert_close(running[key], stats_ref[key])
    grads = {}
    dZ = AL - Y
    dA, grads["dW3"], grads["db3"] = F.linear_backward(dZ, out_cache[0])
    for l in (2, 1):
        linear_cache, bn_cache, Z_tilde, A = caches[l - 1]
        dZ_tilde = np.empty_like(dA)
        dnn_core.activation_backward(dA, Z_tilde, A, dZ_tilde, None, code)
        dZ, grads[f"dgamma{l}"], grads[f"dbeta{l}"] = BN.batchnorm_backward(dZ_tilde, bn_cache)
        dA, grads[f"dW{l}"], _ = F.linear_backward(dZ, linear_cache)
    for key, value in grads_ref.items():
        assert_close(grads[key], value)


# ---------------------------------------------------------------------------
# Properties

shapes = st.tuples(st.integers(1, 5), st.integers(1, 24))
values = st.floats(-50, 50, allow_nan=False, width=64)


@st.composite
def layers(draw):
    n, m = draw(shapes)
    Z = draw(hnp.arrays(np.float64, (n, m), elements=values))
    gamma = draw(hnp.arrays(np.float64, (n, 1), elements=st.floats(-3, 3)))
    beta = draw(hnp.arrays(np.float64, (n, 1), elements=st.floats(-3, 3)))
    D = draw(hnp.arrays(np.float64, (n, m), elements=st.floats(-5, 5)))
    weighted = draw(st.booleans())
    w = draw(hnp.arrays(np.float64, m, elements=st.floats(0.01, 10))) if weighted else None
    return Z, gamma, beta, D, w


@given(layers())
def test_property_matches_reference_and_gradient_is_shift_invariant(case):
    Z, gamma, beta, D, w = case
    expected, ref_cache, _ = R.batchnorm_forward(Z, gamma, beta, sample_weight=w)
    Z_tilde, cache = BN.batchnorm_forward(Z, gamma, beta, sample_weight=w)
    # Z - mu rounds at |Z|'s scale: the error of Z_norm is ~1e-16 |Z| invstd (large for
    # nearly constant rows, where invstd is up to 1 / sqrt(eps))
    conditioning = np.abs(ref_cache[1]).max() + 1 + np.abs(Z).max() * cache.invstd.max()
    scale = np.abs(gamma).max() * conditioning + np.abs(beta).max() + 1
    assert_close(Z_tilde, expected, rtol=1e-12, scale=scale)
    dZ, dgamma, dbeta = BN.batchnorm_backward(D, cache)
    dZ_ref, dgamma_ref, dbeta_ref = R.batchnorm_backward(D, ref_cache)
    gscale = (np.abs(gamma).max() * cache.invstd.max() * np.abs(D).max() * 4 * conditioning
              + 1)
    assert_close(dZ, dZ_ref, rtol=1e-11, scale=gscale)
    assert_close(dbeta, dbeta_ref, rtol=1e-12, scale=np.abs(D).max() + 1)
    assert_close(dgamma, dgamma_ref, rtol=1e-12, scale=(np.abs(D).max() + 1) * conditioning)
    # a shift of a row's Z changes nothing: its gradient sums to zero over the row
    np.testing.assert_allclose(dZ.sum(axis=1), 0, atol=1e-10 * gscale * Z.shape[1])
    # the batch's weighted mean of Z_tilde is beta
    weights = np.ones(Z.shape[1]) if w is None else w
    np.testing.assert_allclose((Z_tilde * weights).sum(1) / weights.sum(), beta.ravel(),
                               atol=1e-10 * scale)


@given(layers())
def test_property_float32_follows_float64(case):
    Z, gamma, beta, D, w = case
    Z64, cache64 = BN.batchnorm_forward(Z, gamma, beta, sample_weight=w)
    f = lambda a: a.astype(np.float32)
    Z32, cache32 = BN.batchnorm_forward(f(Z), f(gamma), f(beta), sample_weight=w)
    assert Z32.dtype == np.float32
    # nearly constant rows lose digits in float32's Z - mu: judge those on the scale of
    # |Z| * invstd
    spread = np.abs(Z).max() * cache64.invstd.max() * np.abs(gamma).max() + 1
    np.testing.assert_allclose(Z32, Z64, atol=1e-5 * spread + 1e-5)
    dZ32, dgamma32, dbeta32 = BN.batchnorm_backward(f(D), cache32)
    dZ64, _, dbeta64 = BN.batchnorm_backward(D, cache64)
    assert np.isfinite(dZ32).all()
    np.testing.assert_allclose(dbeta32, dbeta64, atol=1e-5 * (np.abs(D).max() + 1))


@given(layers(), st.integers(0, 10 ** 6))
def test_property_inference_of_a_column_is_independent_of_the_batch(case, seed):
    Z, gamma, beta, _, _ = case
    rng = np.random.default_rng(seed)
    rm, rv = rng.standard_normal(gamma.shape), rng.uniform(0, 3, gamma.shape)
    Z_tilde, _ = BN.batchnorm_forward(Z, gamma, beta, running_mean=rm, running_var=rv,
                                      training=False)
    column = rng.integers(Z.shape[1])
    others = rng.standard_normal((Z.shape[0], 3)) * 100
    batch = np.concatenate([others, Z[:, [column]]], axis=1)
    alone, _ = BN.batchnorm_forward(batch, gamma, beta, running_mean=rm, running_var=rv,
                                    training=False)
    np.testing.assert_array_equal(alone[:, -1], Z_tilde[:, column])


# ---------------------------------------------------------------------------
# Bad input

def good():
    Z, gamma, beta, _, rm, rv, _ = layer()
    return dict(Z=Z, gamma=gamma, beta=beta, running_mean=rm, running_var=rv)


@pytest.mark.parametrize("change, error, message", [
    (dict(Z=np.ones(5)), ValueError, "Z: expected a 2-D array"),
    (dict(Z=np.ones((4, 9), dtype=int)), TypeError, "Z: expected an array of float32"),
    (dict(Z=np.full((4, 9), np.nan)), ValueError, "Z: expected finite values"),
    (dict(Z=np.ones((4, 0))), ValueError, "Z: expected a non-empty array"),
    (dict(gamma=np.ones((3, 1))), ValueError, r"gamma: expected shape \(4, 1\)"),
    (dict(gamma=np.ones((4, 2))), ValueError, r"gamma: expected shape \(4, 1\)"),
    (dict(beta=np.ones((4, 1), dtype=np.float32)), TypeError, "beta: expected dtype float64"),
    (dict(beta=np.array([[np.inf]] * 4)), ValueError, "beta: expected finite values"),
    (dict(epsilon=0), ValueError, "epsilon: expected a number > 0"),
    (dict(epsilon="small"), TypeError, "epsilon: expected a real number"),
    (dict(momentum=1.5), ValueError, "momentum: expected a number <= 1"),
    (dict(momentum=-0.1), ValueError, "momentum: expected a number >= 0"),
    (dict(training="yes"), TypeError, "training: expected True or False"),
    (dict(running_var=None), ValueError, "expected both or neither, got only running_mean"),
    (dict(running_mean=[0.0] * 4), TypeError, "running_mean: expected a NumPy array"),
    (dict(running_var=-np.ones((4, 1))), ValueError, "running_var: expected values >= 0"),
    (dict(running_var=np.ones((4, 2))[:, :1]), ValueError, "running_var: expected a contiguous"),
    (dict(running_mean=np.zeros((4, 1), dtype=np.float32)), TypeError,
     "running_mean: expected dtype float64"),
    (dict(sample_weight=np.ones(8)), ValueError, r"sample_weight: expected shape \(9,\)"),
    (dict(sample_weight=-np.ones(9)), ValueError, "sample_weight: expected weights >= 0"),
    (dict(sample_weight=np.zeros(9)), ValueError, "sample_weight: expected a positive sum"),
    (dict(sample_weight=[np.nan] * 9), ValueError, "sample_weight: expected finite values"),
    (dict(sample_weight=["a"] * 9), TypeError, "sample_weight: expected numbers"),
])
def test_forward_bad_input(change, error, message):
    arguments = {**good(), **change}
    with pytest.raises(error, match=message):
        BN.batchnorm_forward(**arguments)


def test_forward_bad_running_statistics():
    arguments = good()
    read_only = arguments["running_mean"]
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean: expected a contiguous, writeable"):
        BN.batchnorm_forward(**arguments)
    with pytest.raises(ValueError, match="expected the running statistics with training=False"):
        BN.batchnorm_forward(good()["Z"], good()["gamma"], good()["beta"], training=False)


def test_backward_bad_input():
    arguments = good()
    _, cache = BN.batchnorm_forward(**arguments)
    D = np.ones((4, 9))
    with pytest.raises(ValueError, match=r"dZ_tilde: expected shape \(4, 9\)"):
        BN.batchnorm_backward(np.ones((4, 8)), cache)
    with pytest.raises(TypeError, match="dZ_tilde: expected dtype float64"):
        BN.batchnorm_backward(D.astype(np.float32), cache)
    with pytest.raises(ValueError, match="dZ_tilde: expected finite values"):
        BN.batchnorm_backward(D * np.nan, cache)
    with pytest.raises(TypeError, match="cache: expected the BatchNormCache"):
        BN.batchnorm_backward(D, {"Z_norm": 1})
    with pytest.raises(ValueError, match="reduction: expected one of"):
        BN.batchnorm_backward(D, cache, reduction="average")
    with pytest.raises(ValueError, match=r"cache.gamma: expected shape \(4, 1\)"):
        BN.batchnorm_backward(D, cache._replace(gamma=np.ones((3, 1))))
    # a plain tuple of the same fields is accepted
    BN.batchnorm_backward(D, tuple(cache))


def test_forward_overflow_is_reported():
    Z = np.array([[1e200, -1e200, 0.0]])
    with pytest.raises(ValueError, match="the variance overflowed"):
        BN.batchnorm_forward(Z, np.ones((1, 1)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="gamma: Z_tilde = gamma .* overflowed"):
        BN.batchnorm_forward(np.array([[1.0, 2.0]], np.float32), np.full((1, 1), 3e38, np.float32),
                             np.full((1, 1), 3e38, np.float32))


def test_kernels_refuse_bad_shapes_and_values():
    Z, gamma, beta, *_ = layer()
    g, b = gamma.ravel(), beta.ravel()
    out, norm, inv = np.empty((4, 9)), np.empty((4, 9)), np.empty(4)
    with pytest.raises(ValueError, match="Z_tilde"):
        K.train_forward(Z, g, b, norm, np.empty((4, 8)), inv)
    with pytest.raises(ValueError, match=r"gamma: expected shape \(4,\)"):
        K.train_forward(Z, g[:3], b, norm, out, inv)
    with pytest.raises(ValueError, match="Z_tilde: expected a buffer apart from Z_norm"):
        K.train_forward(Z, g, b, norm, norm, inv)
    with pytest.raises(ValueError, match="eps: expected a finite number > 0"):
        K.train_forward(Z, g, b, norm, out, inv, eps=0.0)
    with pytest.raises(ValueError, match="momentum"):
        K.train_forward(Z, g, b, norm, out, inv, momentum=2.0)
    with pytest.raises(ValueError, match="weights: expected finite values >= 0"):
        K.train_forward(Z, g, b, norm, out, inv, weights=-np.ones(9))
    with pytest.raises(ValueError, match="weights: expected a positive sum"):
        K.train_forward(Z, g, b, norm, out, inv, weights=np.zeros(9))
    with pytest.raises(TypeError):
        K.train_forward(Z, None, b, norm, out, inv)
    with pytest.raises(ValueError, match="running_var: expected values >= 0"):
        K.inference_forward(Z, g, b, g, -np.ones(4), out)
    with pytest.raises(ValueError, match="dZ"):
        K.backward(Z, norm, g, inv, np.empty((3, 9)))
