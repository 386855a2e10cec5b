"""The compiled kernels of dnn_core against the NumPy reference."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import dnn_core
from dnn_core import registry

from helpers import REFERENCE as R, assert_close

DTYPES = [np.float32, np.float64]
ACTIVATIONS = sorted(dnn_core.ACTIVATIONS)
SLOPE = 0.07

shapes = st.tuples(st.integers(1, 12), st.integers(1, 40))


def random(rng, shape, dtype, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


@given(shape=shapes, activation=st.sampled_from(ACTIVATIONS), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16))
def test_activation_forward_and_backward(shape, activation, dtype, seed):
    rng = np.random.default_rng(seed)
    code = dnn_core.ACTIVATIONS[activation]
    Z, dA = random(rng, shape, dtype), random(rng, shape, dtype, 1.0)
    A = np.empty_like(Z)
    assert not dnn_core.activation_forward(Z, A, code, SLOPE)
    assert_close(A, R.ACTIVATIONS[activation](Z, SLOPE), dtype)

    dZ, db = np.empty_like(Z), np.empty(shape[0], dtype=dtype)
    dnn_core.activation_backward(dA, Z, A, dZ, db, code, SLOPE, 1 / shape[1])
    expected = R.BACKWARDS[activation](dA, Z, SLOPE)
    # g'(Z) <= 1, computed from a rounded A (1 - A**2 cancels near |A| = 1): judged on |dA|;
    # exp' = exp is unbounded: judged on |dA| exp(Z)
    scale = np.max(np.abs(dA) * (np.exp(Z.astype(np.float64)) if activation == "exp" else 1))
    assert_close(dZ, expected, dtype, scale=scale)
    assert_close(db, expected.sum(axis=1) / shape[1], dtype, scale=scale)


@given(n=st.integers(1, 10), n_prev=st.integers(1, 10), m=st.integers(1, 30),
       activation=st.sampled_from(ACTIVATIONS), dtype=st.sampled_from(DTYPES),
       fortran=st.booleans(), seed=st.integers(0, 2**16))
def test_dense_forward_and_backward(n, n_prev, m, activation, dtype, fortran, seed):
    rng = np.random.default_rng(seed)
    W, A_prev = random(rng, (n, n_prev), dtype, 1.0), random(rng, (n_prev, m), dtype, 1.0)
    b, dZ = random(rng, (n, 1), dtype, 1.0), random(rng, (n, m), dtype, 1.0)
    if fortran:
        W, A_prev = np.asfortranarray(W), np.asfortranarray(A_prev)
    Z, A = np.empty((n, m), dtype=dtype), np.empty((n, m), dtype=dtype)
    code = dnn_core.ACTIVATIONS[activation]
    assert not dnn_core.dense_forward(W, A_prev, b.reshape(-1), Z, A, code, SLOPE)
    expected_A, ((_, _, _), expected_Z) = R.linear_activation_forward(A_prev, W, b, activation,
                                                                      SLOPE)
    # each product is judged on the scale of its terms, |W| @ |A_prev| and so on
    assert_close(Z, expected_Z, dtype, scale=np.max(np.abs(W) @ np.abs(A_prev) + np.abs(b)))
    assert_close(A, expected_A, dtype, scale=np.max(np.abs(W) @ np.abs(A_prev) + np.abs(b)))

    dW, db, dA_prev = (np.empty((n, n_prev), dtype=dtype), np.empty(n, dtype=dtype),
                       np.empty((n_prev, m), dtype=dtype))
    dnn_core.dense_backward(dZ, A_prev, W, dW, db, dA_prev)
    expected_dA_prev, expected_dW, expected_db = R.linear_backward(dZ, (A_prev, W, b))
    assert_close(dW, expected_dW, dtype, scale=np.max(np.abs(dZ) @ np.abs(A_prev).T) / m)
    assert_close(db, expected_db.reshape(-1), dtype, scale=np.max(np.abs(dZ)))
    assert_close(dA_prev, expected_dA_prev, dtype, scale=np.max(np.abs(W).T @ np.abs(dZ)))
    # skipping dA_prev and db leaves them alone and gives the same dW
    dW_again = np.empty_like(dW)
    dnn_core.dense_backward(dZ, A_prev, W, dW_again, None, None)
    np.testing.assert_array_equal(dW_again, dW)


OUTPUTS = {row.loss: row.activation for row in registry.OUTPUTS.values()}


def targets(rng, loss, shape, dtype):
    if loss == "binary_crossentropy":
        return (rng.random(shape) < 0.5).astype(dtype)
    if loss == "categorical_crossentropy":
        return np.ascontiguousarray(np.eye(shape[0], dtype=dtype)[:, rng.integers(0, shape[0], shape[1])])
    if registry.output_for_loss(loss).target == "count":
        return rng.poisson(2.0, shape).astype(dtype)
    return random(rng, shape, dtype)


@given(shape=shapes, loss=st.sampled_from(sorted(OUTPUTS)), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16))
def test_losses_match_reference(shape, loss, dtype, seed):
    rng = np.random.default_rng(seed)
    code = dnn_core.LOSSES[loss]
    Z = random(rng, shape, dtype)
    Y = targets(rng, loss, shape, dtype)
    A = np.empty_like(Z)
    cost = dnn_core.logits_cost(Z, Y, code, A)
    expected_A = R.ACTIVATIONS[OUTPUTS[loss]](Z)
    assert_close(A, expected_A, dtype)
    assert_close(cost, R.compute_cost_from_logits(Z.astype(np.float64), Y.astype(np.float64),
                                                  loss), dtype)
    assert_close(dnn_core.probs_cost(A, Y, code), R.compute_cost(A, Y, loss), dtype,
                 rtol=1e-4 if dtype == np.float32 else None)

    dA = np.empty_like(A)
    dnn_core.probs_gradient(A, Y, dA, code)
    assert_close(dA, R.loss_gradient(A, Y, loss), dtype)

    dZ, db = np.empty_like(A), np.empty(shape[0], dtype=dtype)
    dnn_core.output_delta(A, Y, dZ, db, 1 / shape[1])
    assert_close(dZ, A - Y, dtype)
    assert_close(db, (A - Y).sum(axis=1) / shape[1], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_costs_from_logits_stay_finite_when_saturated(dtype):
    Z = np.array([[-1e4, -800.0, 40.0, 1e4]], dtype=dtype)
    Y = np.array([[1.0, 0.0, 0.0, 1.0]], dtype=dtype)
    cost = dnn_core.logits_cost(Z, Y, dnn_core.LOSSES["binary_crossentropy"])
    # losses: 1e4, ~0, 40 + log1p(e^-40), ~0
    assert_close(cost, (1e4 + 40.0) / 4, dtype)
    Z3 = np.array([[1e4, 0.0], [-1e4, 0.0], [0.0, 0.0]], dtype=dtype)
    Y3 = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]], dtype=dtype)
    cost = dnn_core.logits_cost(Z3, Y3, dnn_core.LOSSES["categorical_crossentropy"])
    assert_close(cost, (2e4 + np.log(3)) / 2, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nonfinite_values_are_reported(dtype):
    W, X = np.ones((2, 3), dtype=dtype), np.ones((3, 4), dtype=dtype)
    X[1, 2] = np.nan
    Z, A = np.empty((2, 4), dtype=dtype), np.empty((2, 4), dtype=dtype)
    relu = dnn_core.ACTIVATIONS["relu"]
    assert dnn_core.dense_forward(W, X, None, Z, A, relu)  # relu would hide the NaN
    b = np.array([np.inf, 0.0], dtype=dtype)
    assert dnn_core.dense_forward(W, np.ones((3, 4), dtype=dtype), b, Z, A, relu)
    assert not dnn_core.dense_forward(W, np.ones((3, 4), dtype=dtype), None, Z, A, relu)
    assert dnn_core.activation_forward(np.full((2, 3), -np.inf, dtype=dtype), A[:, :3].copy(),
                                       relu)
    x = np.ones(37, dtype=dtype)
    assert not dnn_core.has_nonfinite(x)
    x[36] = -np.inf
    assert dnn_core.has_nonfinite(x)
    assert dnn_core.value_summary(np.array([0.5, np.nan, -2.0, 3.0], dtype=dtype)) == (1, -2.0, 3.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_update(dtype):
    rng = np.random.default_rng(2)
    W, dW = random(rng, 50, dtype), random(rng, 50, dtype)
    expected = W - dtype(0.3) * dW
    dnn_core.sgd_update(W, dW, 0.3)
    assert_close(W, expected, dtype)


def test_kernels_check_shapes_before_touching_memory():
    relu = dnn_core.ACTIVATIONS["relu"]
    with pytest.raises(ValueError, match="A_prev: expected 3 rows"):
        dnn_core.dense_forward(np.ones((2, 3)), np.ones((4, 5)), None, np.empty((2, 5)),
                               np.empty((2, 5)), relu)
    with pytest.raises(ValueError, match="Z: expected shape"):
        dnn_core.dense_forward(np.ones((2, 3)), np.ones((3, 5)), None, np.empty((2, 4)),
                               np.empty((2, 5)), relu)
    with pytest.raises(ValueError, match="b: expected shape"):
        dnn_core.dense_forward(np.ones((2, 3)), np.ones((3, 5)), np.ones(3), np.empty((2, 5)),
                               np.empty((2, 5)), relu)
    with pytest.raises(ValueError, match="activation: expected a code"):
        dnn_core.activation_forward(np.ones((2, 2)), np.empty((2, 2)), 99)
    with pytest.raises(ValueError, match="dW: expected shape"):
        dnn_core.dense_backward(np.ones((2, 5)), np.ones((3, 5)), np.ones((2, 3)),
                                np.empty((3, 2)))
    with pytest.raises(ValueError, match="Y: expected shape"):
        dnn_core.logits_cost(np.ones((2, 5)), np.ones((1, 5)), 0)
    with pytest.raises(ValueError, match="dW: expected 3 entries like W, got 4"):
        dnn_core.sgd_update(np.ones(3), np.ones(4), 0.1)
    with pytest.raises(ValueError, match="non-empty"):
        dnn_core.dense_forward(np.ones((2, 0)), np.ones((0, 5)), None, np.empty((2, 5)),
                               np.empty((2, 5)), relu)
    with pytest.raises(ValueError, match="softmax needs an output buffer"):
        Z = np.ones((2, 5))
        dnn_core.dense_forward(np.ones((2, 3)), np.ones((3, 5)), None, Z, Z,
                               dnn_core.ACTIVATIONS["softmax"])
    with pytest.raises((TypeError, ValueError), match="dtype"):  # no mixed signature
        dnn_core.dense_forward(np.ones((2, 3), np.float32), np.ones((3, 5)), None,
                               np.empty((2, 5)), np.empty((2, 5)), relu)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vectorised_exp_based_kernels_over_extreme_ranges(dtype):
    """sigmoid, tanh and the cross-entropy from logits (polynomial exp, expm1 and
    log1p in dnn_core/_vecmath.h) against NumPy's, from 1e-300 to 1e4 in size.
    Results below 1e-300 may differ (exp(x) is held at ~2.2e-308 below x = -708)."""
    magnitudes = np.concatenate([np.logspace(-300, 4, 2000), [0.0, 7.1e2, 7.5e2, 1e4]])
    Z = np.concatenate([magnitudes, -magnitudes]).astype(dtype).reshape(1, -1)
    Z64 = Z.astype(np.float64)
    A = np.empty_like(Z)
    tolerance = 1e-15 if dtype == np.float64 else 1e-7
    dnn_core.activation_forward(Z, A, dnn_core.ACTIVATIONS["sigmoid"])
    with np.errstate(over="ignore"):
        sigmoid = (1 / (1 + np.exp(-Z64))).astype(dtype)    # rounded as the result is
    np.testing.assert_allclose(A, sigmoid, rtol=4 * tolerance, atol=1e-300)
    dnn_core.activation_forward(Z, A, dnn_core.ACTIVATIONS["tanh"])
    np.testing.assert_allclose(A, np.tanh(Z64).astype(dtype), rtol=4 * tolerance, atol=1e-300)
    for label in (0.0, 1.0):
        Y = np.full_like(Z, label)
        cost = dnn_core.logits_cost(Z, Y, dnn_core.LOSSES["binary_crossentropy"], A)
        terms = np.maximum(Z64, 0) - Z64 * label + np.log1p(np.exp(-np.abs(Z64)))
        assert cost == pytest.approx(terms.sum() / Z.shape[1], rel=1e-13)
        np.testing.assert_allclose(A, sigmoid, rtol=4 * tolerance, atol=1e-300)


@pytest.mark.parametrize("code", [-1, "count", 99])
def test_an_unknown_code_is_a_value_error_naming_the_argument(code):
    """Every entry point that takes a code refuses one that is no member (the
    enums' *_COUNT included), whatever its place relative to the members."""
    from dnn_core import _activations, _engine, _losses, _optim
    def pick(enum):
        return int(getattr(enum, [m.name for m in enum if m.name.endswith("COUNT")][0])
                   ) if code == "count" else code
    a, l = pick(_activations.Activation), pick(_losses.Loss)
    o, s = pick(_optim.Optimizer), pick(_optim.Schedule)
    Z = np.ones((2, 3))
    with pytest.raises(ValueError, match="^activation: expected a code"):
        dnn_core.activation_forward(Z, np.empty((2, 3)), a)
    with pytest.raises(ValueError, match="^activation: expected a code"):
        dnn_core.activation_backward(Z, Z, Z, np.empty((2, 3)), None, a)
    with pytest.raises(ValueError, match="^activation: expected a code"):
        dnn_core.dense_forward(np.ones((2, 2)), np.ones((2, 3)), None, np.empty((2, 3)),
                               np.empty((2, 3)), a)
    for function in (dnn_core.logits_cost, dnn_core.probs_cost):
        with pytest.raises(ValueError, match="^loss: expected a code"):
            function(Z, Z, l)
    with pytest.raises(ValueError, match="^loss: expected a code"):
        dnn_core.probs_gradient(Z, Z, np.empty((2, 3)), l)
    with pytest.raises(ValueError, match="^optimizer: expected a code"):
        _optim.step(o, np.ones(3), np.ones(3), np.ones(3), np.ones(3), 0.1)
    with pytest.raises(ValueError, match="^schedule: expected a code"):
        _optim.rate(s, 0.1, 1, 1, 0)
    with pytest.raises(ValueError, match="^activations: expected a code"):
        _engine.Engine([2, 3, 1], [a], 0, 0.01, np.float64)
    with pytest.raises(ValueError, match="^loss: expected a code"):
        _engine.Engine([2, 3, 1], [2], l, 0.01, np.float64)
    engine = _engine.Engine([2, 3, 1], [2], 0, 0.01, np.float64)
    X, T = np.ones((4, 2)), np.ones((4, 1))
    for name, kwargs in (("optimizer", {"optimizer": o}), ("schedule", {"schedule": s})):
        with pytest.raises(ValueError, match=f"^{name}: expected a code"):
            engine.train(X, T, None, batch_size=4, shuffle=0, epochs=1,
                         costs=np.zeros(1), seconds=np.zeros(1), **kwargs)
