"""Sample weights in the engine: an integer weight acts as that many copies."""
import numpy as np
import pytest

import dnn

from helpers import assert_close
from test_network import copy_params, problem

DIMS = {"sigmoid": [3, 5, 2], "softmax": [3, 5, 4], "linear": [3, 5, 2]}


def trained(output, X, y, sample_weight=None, **fit):
    net = dnn.Network(DIMS[output], activation="tanh", output=output, seed=3)
    net.fit(X, y, sample_weight=sample_weight, **fit)
    return net


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_integer_weights_equal_repeated_examples(output, optimizer):
    X, y, _ = problem(DIMS[output], 12, output)
    counts = np.array([0, 1, 2, 3, 1, 1, 0, 2, 5, 1, 1, 2])
    weighted = trained(output, X, y, counts, epochs=15, optimizer=optimizer,
                       learning_rate=0.05, l2=0.3)
    repeated = trained(output, np.repeat(X, counts, axis=0), np.repeat(y, counts, axis=0),
                       epochs=15, optimizer=optimizer, learning_rate=0.05, l2=0.3)
    for key, value in copy_params(repeated).items():
        assert_close(weighted.parameters[key], value, rtol=1e-11)
    assert_close(weighted.history_.cost, repeated.history_.cost, rtol=1e-11)


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_weighted_gradients_equal_repeated_examples(output):
    X, y, _ = problem(DIMS[output], 9, output, seed=1)
    counts = np.array([2, 1, 0, 3, 1, 1, 4, 1, 2])
    net = dnn.Network(DIMS[output], activation="relu", output=output, seed=0)
    cost, grads = net.compute_gradients(X, y, l2=0.7, sample_weight=counts.astype(float))
    cost_rep, grads_rep = net.compute_gradients(np.repeat(X, counts, axis=0),
                                                np.repeat(y, counts, axis=0), l2=0.7)
    assert cost == pytest.approx(cost_rep, rel=1e-12)
    for key, value in grads_rep.items():
        assert_close(grads[key], value)


def test_fractional_weights_scale_free_and_unit_weights_change_nothing():
    X, y, _ = problem(DIMS["sigmoid"], 20, "sigmoid", seed=2)
    weights = np.random.default_rng(0).random(20)
    a = trained("sigmoid", X, y, weights, epochs=5, batch_size=6, shuffle=True)
    b = trained("sigmoid", X, y, 7.5 * weights, epochs=5, batch_size=6, shuffle=True)
    for key, value in copy_params(a).items():
        assert_close(b.parameters[key], value, rtol=1e-11)
    plain = trained("sigmoid", X, y, epochs=5, batch_size=6, shuffle=True)
    ones = trained("sigmoid", X, y, np.ones(20), epochs=5, batch_size=6, shuffle=True)
    for key, value in copy_params(plain).items():
        assert_close(ones.parameters[key], value, rtol=1e-14)


def test_zero_weights_are_removed_examples_and_empty_batches_skipped():
    X, y, _ = problem(DIMS["softmax"], 8, "softmax", seed=4)
    weights = np.array([0, 0, 0, 0, 1, 2, 1, 1.0])
    # batches of 4 in order: the first weighs 0 and is skipped in every epoch
    skipping = trained("softmax", X, y, weights, epochs=6, batch_size=4, shuffle=False,
                       optimizer="adam", learning_rate=0.1)
    alone = trained("softmax", X[4:], y[4:], weights[4:], epochs=6, optimizer="adam",
                    learning_rate=0.1)
    for key, value in copy_params(alone).items():
        assert_close(skipping.parameters[key], value)
    assert skipping._engine.step_count == alone._engine.step_count == 6
    assert_close(skipping.history_.cost, alone.history_.cost)
    nothing = dnn.Network(DIMS["softmax"], output="softmax", seed=3)
    before = copy_params(nothing)
    nothing.fit(X, y, sample_weight=np.zeros(8), epochs=3)
    for key, value in before.items():
        np.testing.assert_array_equal(nothing.parameters[key], value)
    cost, _ = nothing.compute_gradients(X, y, sample_weight=np.zeros(8))
    assert np.isnan(cost)


def test_validation_split_splits_the_weights():
    X, y, _ = problem(DIMS["linear"], 10, "linear", seed=5)
    weights = np.arange(1.0, 11.0)
    split = trained("linear", X, y, weights, epochs=4, validation_split=0.3)
    head = trained("linear", X[:7], y[:7], weights[:7], epochs=4)
    for key, value in copy_params(head).items():
        assert_close(split.parameters[key], value)


@pytest.mark.parametrize("weights, error, message", [
    (np.ones(5), ValueError, r"sample_weight: expected shape \(6,\), got \(5,\)"),
    (np.ones((6, 1)), ValueError, r"sample_weight: expected shape \(6,\)"),
    ([1, 1, -1, 1, 1, 1], ValueError, "sample_weight: expected finite weights >= 0, got a "
                                      "minimum of -1"),
    ([1, 1, np.nan, 1, 1, 1], ValueError, "sample_weight: expected finite weights >= 0, got "
                                          "NaN or inf"),
    (["a"] * 6, TypeError, "sample_weight: expected numeric weights"),
])
def test_bad_weights_are_refused(weights, error, message):
    X, y, _ = problem(DIMS["sigmoid"], 6, "sigmoid")
    net = dnn.Network(DIMS["sigmoid"], seed=0)
    before = copy_params(net)
    with pytest.raises(error, match=message):
        net.fit(X, y, sample_weight=weights, epochs=1)
    with pytest.raises(error, match=message):
        net.compute_gradients(X, y, sample_weight=weights)
    for key, value in before.items():
        np.testing.assert_array_equal(net.parameters[key], value)


def test_engine_refuses_bad_weight_arrays():
    net = dnn.Network([2, 3, 1], seed=0)
    X = np.zeros((4, 2))
    T = np.zeros((4, 1))
    engine = net._engine
    for weights, message in [(np.ones(4, dtype=np.float32), "sample_weight: expected a "
                              "C-contiguous 1-D float64"),
                             (np.ones(3), r"sample_weight: expected shape \(4,\)"),
                             (np.array([1, -1, 1, 1.0]), "finite weights >= 0")]:
        with pytest.raises(ValueError, match=message):
            engine.compute_gradients(X, T, None, 0.0, sample_weight=weights)
