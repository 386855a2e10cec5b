"""dnn.Network and its engine against the NumPy reference (benchmarks/numpy_reference.py)."""
import _thread
import signal
import threading
import time

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import dnn
from dnn import optimizers
from dnn_core import _optim, registry

from helpers import REFERENCE as R, assert_close

OUTPUT_LOSS = {name: row.loss for name, row in registry.OUTPUTS.items()}
REFERENCE_OUTPUT = {name: row.activation for name, row in registry.OUTPUTS.items()}


def problem(dims, m, output, dtype=np.float64, seed=0):
    """X (m, n0), y as Network takes it, Y (n_out, m) as the reference takes it."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, dims[0])).astype(dtype)
    if output == "softmax":
        y = rng.integers(0, dims[-1], m)
        Y = np.eye(dims[-1], dtype=dtype)[:, y]
    elif output == "sigmoid":
        y = (rng.random((m, dims[-1])) < 0.5).astype(dtype)
        Y = y.T.copy()
    elif registry.OUTPUTS[output].target == "count":
        y = rng.poisson(1.0, (m, dims[-1])).astype(dtype)
        Y = y.T.copy()
    else:
        y = rng.standard_normal((m, dims[-1])).astype(dtype)
        Y = y.T.copy()
    return X, y, Y


def copy_params(net):
    return {key: value.copy() for key, value in net.parameters.items()}


def assert_params_close(actual, desired, dtype=np.float64, rtol=None, scale=None):
    assert actual.keys() == desired.keys()
    for key in desired:
        assert_close(actual[key], desired[key], dtype, rtol, scale)


def reference_fit(X, Y, params, epochs, hidden, output, optimizer="gd", learning_rate=0.1,
                  batch_size=None, permutations=None, l2=0.0, schedule=("constant", 0, 1),
                  slope=0.01, **hyper):
    """The course's training loop over mini-batches; returns (params, epoch costs)."""
    v, s = R.initialize_optimizer(params)
    t, costs, m = 0, [], X.shape[1]
    loss = OUTPUT_LOSS[output]
    for epoch in range(epochs):
        rate = R.learning_rate_of(epoch, learning_rate, *schedule)
        perm = None if permutations is None else permutations[epoch]
        total = 0.0
        for Xb, Yb in R.random_mini_batches(X, Y, batch_size or m, perm):
            AL, caches = R.forward_with_dropout(Xb, params, hidden, REFERENCE_OUTPUT[output],
                                                slope=slope)
            total += R.cost_with_regularization(AL, Yb, params, l2, loss) * Xb.shape[1]
            grads = R.backward_with_regularization(AL, Yb, caches, hidden, l2=l2, slope=slope)
            t += 1
            params, v, s = R.update_parameters_with_optimizer(params, grads, v, s, t, rate,
                                                              optimizer, **hyper)
        costs.append(total / m)
    return params, costs


# ---------------------------------------------------------------------------
# Exactness: the engine, the functional API and the reference agree

@pytest.mark.parametrize("output", list(registry.OUTPUTS))
@pytest.mark.parametrize("hidden", registry.hidden_activations())
def test_full_batch_gd_equals_functional_api_and_reference(output, hidden):
    dims = [5, 7, 6, 3 if output == "softmax" else 2]
    X, y, Y = problem(dims, 37, output)
    net = dnn.Network(dims, hidden, output, seed=3)
    start = copy_params(net)
    # (exp's gradient grows with its output: a he-initialised identity stack diverges at 0.01)
    lr = 0.001 if registry.OUTPUTS[output].target == "count" else 0.05
    history = net.fit(X, y, epochs=12, optimizer="gd", learning_rate=lr)
    expected, costs = reference_fit(X.T.copy(), Y, start, 12, hidden, output, "gd", lr)
    assert_params_close(net.parameters, expected)
    assert_close(history.cost, costs)
    # the functional API, step by step, lands on the same parameters
    params = start
    for _ in range(12):
        AL, caches = dnn.forward(X.T, params, hidden, REFERENCE_OUTPUT[output])
        grads = dnn.backward(AL, Y, caches, hidden, REFERENCE_OUTPUT[output],
                             loss=OUTPUT_LOSS[output])
        params = dnn.update_parameters(params, grads, lr)
    assert_params_close(net.parameters, params)


def test_float32_full_batch_matches_reference_to_float32_precision():
    dims = [6, 8, 1]
    X, y, Y = problem(dims, 50, "sigmoid", np.float32)
    net = dnn.Network(dims, "relu", "sigmoid", dtype="float32", seed=0)
    start = {key: value.astype(np.float64) for key, value in copy_params(net).items()}
    net.fit(X, y, epochs=5, optimizer="adam", learning_rate=0.01)
    expected, _ = reference_fit(X.T.astype(np.float64), Y.astype(np.float64), start, 5,
                                "relu", "sigmoid", "adam", 0.01)
    assert net.parameters["W1"].dtype == np.float32
    assert_params_close(net.parameters, expected, np.float32, rtol=1e-4)


@pytest.mark.parametrize("optimizer", list(registry.OPTIMIZERS))
def test_each_optimizer_equals_its_numpy_rule(optimizer):
    dims = [4, 6, 5, 3]
    X, y, Y = problem(dims, 40, "softmax", seed=1)
    hyper = {"momentum": dict(beta1=0.8), "nesterov": dict(beta1=0.7),
             "rmsprop": dict(beta2=0.95, epsilon=1e-7),
             "adam": dict(beta1=0.85, beta2=0.99, epsilon=1e-6)}.get(optimizer, {})
    objects = {"gd": optimizers.GD(), "momentum": optimizers.Momentum(beta=0.8),
               "nesterov": optimizers.Nesterov(beta=0.7),
               "rmsprop": optimizers.RMSProp(beta=0.95, epsilon=1e-7),
               "adam": optimizers.Adam(beta1=0.85, beta2=0.99, epsilon=1e-6)}
    net = dnn.Network(dims, "tanh", "softmax", seed=2)
    start = copy_params(net)
    net.fit(X, y, epochs=15, optimizer=objects[optimizer], learning_rate=0.02)
    expected, _ = reference_fit(X.T.copy(), Y, start, 15, "tanh", "softmax", optimizer,
                                0.02, **hyper)
    assert_params_close(net.parameters, expected)


@pytest.mark.parametrize("optimizer", range(len(registry.OPTIMIZERS)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_optimizer_kernel_over_many_steps(optimizer, dtype):
    name = list(registry.OPTIMIZERS)[optimizer]
    rng = np.random.default_rng(optimizer)
    P = rng.standard_normal(101).astype(dtype)
    V, S = np.zeros_like(P), np.zeros_like(P)
    params, v, s = {"W": P.astype(np.float64)}, {"dW": np.zeros(101)}, {"dW": np.zeros(101)}
    for t in range(1, 8):
        G = rng.standard_normal(101).astype(dtype)
        _optim.step(optimizer, P, G, V, S, 0.03, 0.9, 0.98, 1e-7, t)
        params, v, s = R.update_parameters_with_optimizer(
            params, {"dW": G.astype(np.float64)}, v, s, t, 0.03, name, 0.9, 0.98, 1e-7)
    assert_close(P, params["W"], dtype)


@pytest.mark.parametrize("schedule,expected", [
    (optimizers.Constant(0.5), lambda e: 0.5),
    (optimizers.InverseTimeDecay(0.5, decay=0.3), lambda e: 0.5 / (1 + 0.3 * e)),
    (optimizers.InverseTimeDecay(0.5, decay=0.3, interval=4),
     lambda e: 0.5 / (1 + 0.3 * np.floor(e / 4))),
    (optimizers.StepDecay(0.5, factor=0.5, step_size=3), lambda e: 0.5 * 0.5 ** (e // 3)),
    (optimizers.ExponentialDecay(0.5, decay_rate=0.9), lambda e: 0.5 * 0.9 ** e),
])
def test_schedules_follow_their_formulas_in_the_engine(schedule, expected):
    for epoch in range(12):
        assert schedule(epoch) == pytest.approx(expected(epoch), rel=1e-15)
    dims = [3, 4, 1]
    X, y, Y = problem(dims, 30, "sigmoid")
    net = dnn.Network(dims, "relu", "sigmoid", seed=0)
    start = copy_params(net)
    net.fit(X, y, epochs=9, optimizer="gd", learning_rate=schedule)
    params = start
    for epoch in range(9):
        params, _ = R.train_step(X.T, Y, params, expected(epoch), "relu", "sigmoid")
    assert_params_close(net.parameters, params)


@pytest.mark.parametrize("optimizer", ["gd", "momentum"])
def test_l2_cost_and_gradient_equal_reference(optimizer):
    dims = [5, 6, 4, 1]
    X, y, Y = problem(dims, 33, "sigmoid", seed=4)
    net = dnn.Network(dims, "relu", "sigmoid", seed=5)
    start = copy_params(net)
    history = net.fit(X, y, epochs=6, optimizer=optimizer, learning_rate=0.1, l2=0.7)
    expected, costs = reference_fit(X.T.copy(), Y, start, 6, "relu", "sigmoid", optimizer,
                                    0.1, l2=0.7)
    assert_params_close(net.parameters, expected)
    assert_close(history.cost, costs)
    cost, grads = net.compute_gradients(X, y, l2=0.7)
    AL, caches = R.forward_with_dropout(X.T, expected, "relu", "sigmoid")
    assert cost == pytest.approx(R.cost_with_regularization(AL, Y, expected, 0.7), rel=1e-12)
    ref = R.backward_with_regularization(AL, Y, caches, "relu", l2=0.7)
    assert_params_close(grads, ref)


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_dropout_step_with_the_engines_masks_equals_reference(optimizer):
    dims = [4, 9, 7, 2]
    X, y, Y = problem(dims, 21, "sigmoid", seed=6)
    net = dnn.Network(dims, "relu", "sigmoid", seed=7)
    start = copy_params(net)
    net.fit(X, y, epochs=1, optimizer=optimizer, learning_rate=0.1, keep_prob=[0.6, 0.8])
    masks = {l: mask.reshape(dims[l], 21)
             for l, mask in net._engine.dropout_masks().items()}
    assert sorted(masks) == [1, 2]
    for l, keep in ((1, 0.6), (2, 0.8)):
        assert set(np.unique(masks[l])) <= {0.0, 1 / keep}
    AL, caches = R.forward_with_dropout(X.T, start, "relu", "sigmoid", masks)
    grads = R.backward_with_regularization(AL, Y, caches, "relu", masks)
    v, s = R.initialize_optimizer(start)
    expected, _, _ = R.update_parameters_with_optimizer(start, grads, v, s, 1, 0.1, optimizer)
    assert_params_close(net.parameters, expected)
    # dropout is off at prediction
    assert_close(net.predict_proba(X), R.L_model_forward(X.T, net.parameters)[0].T)


def test_dropout_keeps_about_keep_prob_of_units():
    dims = [3, 400, 1]
    X, y, _ = problem(dims, 50, "sigmoid")
    net = dnn.Network(dims, seed=1)
    net.fit(X, y, epochs=1, optimizer="gd", keep_prob=0.7)
    kept = np.mean(net._engine.dropout_masks()[1] > 0)
    assert abs(kept - 0.7) < 0.02


def test_shuffled_mini_batches_equal_reference_with_the_same_permutation():
    dims = [4, 5, 3]
    X, y, Y = problem(dims, 23, "softmax", seed=8)
    net = dnn.Network(dims, "relu", "softmax", seed=9)
    params, permutations = copy_params(net), []
    costs = []
    for epoch in range(3):
        history = net.fit(X, y, epochs=1, batch_size=5, optimizer="momentum",
                          learning_rate=0.1)
        permutations.append(net._engine.permutation())
        costs += history.cost
    for perm in permutations:
        assert sorted(perm) == list(range(23))
    assert not all(np.array_equal(permutations[0], p) for p in permutations[1:])
    expected, ref_costs = reference_fit(X.T.copy(), Y, params, 3, "relu", "softmax",
                                        "momentum", 0.1, batch_size=5,
                                        permutations=permutations)
    assert_params_close(net.parameters, expected)
    assert_close(costs, ref_costs)


def test_mini_batches_in_order_without_shuffle():
    dims = [3, 4, 1]
    X, y, Y = problem(dims, 17, "sigmoid")
    net = dnn.Network(dims, seed=0)
    start = copy_params(net)
    net.fit(X, y, epochs=2, batch_size=4, shuffle=False, optimizer="adam")
    expected, _ = reference_fit(X.T.copy(), Y, start, 2, "relu", "sigmoid", "adam", 0.001,
                                batch_size=4)
    assert_params_close(net.parameters, expected)


def test_same_seed_same_training_and_another_seed_differs():
    X, y, _ = problem([6, 8, 1], 64, "sigmoid")
    runs = []
    for seed in (1, 1, 2):
        net = dnn.Network([6, 8, 1], seed=seed)
        net.fit(X, y, epochs=3, batch_size=10, keep_prob=0.8)
        runs.append(net.parameters["W1"].copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("output", list(registry.OUTPUTS))
def test_gradient_check_through_the_engine(output):
    dims = [3, 5, 4, 3 if output == "softmax" else 2]
    X, y, _ = problem(dims, 11, output, seed=10)
    net = dnn.Network(dims, "tanh", output, seed=11)
    cost, grads = net.compute_gradients(X, y, l2=0.3)
    flat = net._engine.parameters
    analytic = np.concatenate([np.concatenate([grads[f"dW{l}"].ravel(), grads[f"db{l}"].ravel()])
                               for l in range(1, len(dims))])
    numeric = np.empty_like(flat)
    for index in range(flat.size):
        saved = flat[index]
        flat[index] = saved + 1e-6
        plus = net.compute_gradients(X, y, l2=0.3)[0]
        flat[index] = saved - 1e-6
        minus = net.compute_gradients(X, y, l2=0.3)[0]
        flat[index] = saved
        numeric[index] = (plus - minus) / 2e-6
    difference = np.linalg.norm(analytic - numeric) / (np.linalg.norm(analytic)
                                                       + np.linalg.norm(numeric))
    assert difference < 1e-7
    # a wrong gradient would be caught
    wrong = analytic.copy()
    wrong[0] *= 1.01
    assert np.linalg.norm(wrong - numeric) / np.linalg.norm(numeric) > 1e-6


@given(st.data())
def test_engine_gradients_equal_reference_over_random_networks(data):
    n_layers = data.draw(st.integers(1, 4), "layers")
    dims = data.draw(st.lists(st.integers(1, 9), min_size=n_layers + 1,
                              max_size=n_layers + 1), "dims")
    output = data.draw(st.sampled_from(list(registry.OUTPUTS)), "output")
    hidden = data.draw(st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu", "identity"]))
    dtype = data.draw(st.sampled_from([np.float64, np.float32]), "dtype")
    m = data.draw(st.integers(1, 30), "m")
    l2 = data.draw(st.sampled_from([0.0, 0.5]), "l2")
    if output == "softmax" and dims[-1] < 2:
        dims[-1] = 2
    X, y, Y = problem(dims, m, output, dtype, seed=m)
    net = dnn.Network(dims, hidden, output, dtype=dtype, seed=m)
    params = {key: value.astype(np.float64) for key, value in copy_params(net).items()}
    cost, grads = net.compute_gradients(X, y, l2=l2)
    AL, caches = R.forward_with_dropout(X.T.astype(np.float64), params, hidden,
                                        REFERENCE_OUTPUT[output])
    ref = R.backward_with_regularization(AL, Y.astype(np.float64), caches, hidden, l2=l2)
    rtol = 1e-12 if dtype == np.float64 else 2e-4
    # float32: judged on the scale of the whole gradient (entries may cancel)
    scale = None if dtype == np.float64 else max(np.max(np.abs(g)) for g in ref.values())
    assert_params_close(grads, ref, np.float64, rtol, scale)
    # the reference's cost takes log(1 - AL): an output within 1e-9 of 0 or 1 loses
    # its digits there (the engine's cost, from the logits, keeps them)
    assume(output == "linear" or not np.any((AL < 1e-9) | (AL > 1 - 1e-9)))
    expected_cost = R.cost_with_regularization(AL, Y.astype(np.float64), params, l2,
                                               OUTPUT_LOSS[output])
    assert cost == pytest.approx(expected_cost, rel=rtol, abs=rtol)


# ---------------------------------------------------------------------------
# The fit loop's features

def test_history_and_validation_metrics():
    X, y, _ = problem([4, 6, 3], 60, "softmax")
    net = dnn.Network([4, 6, 3], "relu", "softmax", seed=0)
    history = net.fit(X[:40], y[:40], epochs=4, validation_data=(X[40:], y[40:]),
                      batch_size=16)
    assert history.epoch == [0, 1, 2, 3]
    assert len(history.cost) == len(history.val_cost) == len(history.val_accuracy) == 4
    assert all(s > 0 for s in history.seconds)
    scores = net.evaluate(X[40:], y[40:])
    assert history.val_cost[-1] == pytest.approx(scores["cost"], rel=1e-12)
    assert history.val_accuracy[-1] == scores["accuracy"]
    assert set(history.history) == {"cost", "val_cost", "val_accuracy", "seconds"}
    # validation_split holds out the last fraction
    history = net.fit(X, y, epochs=2, validation_split=0.25)
    assert net.evaluate(X[45:], y[45:])["cost"] == pytest.approx(history.val_cost[-1])


def test_evaluate_matches_reference_cost_and_accuracy():
    X, y, Y = problem([3, 5, 1], 40, "sigmoid")
    net = dnn.Network([3, 5, 1], "relu", "sigmoid", seed=0)
    scores = net.evaluate(X, y)
    AL, _ = R.L_model_forward(X.T, copy_params(net))
    assert scores["cost"] == pytest.approx(R.compute_cost(AL, Y), rel=1e-12)
    assert scores["accuracy"] == np.mean((AL > 0.5) == Y)
    linear = dnn.Network([3, 2], output="linear", seed=0)
    Xl, yl, _ = problem([3, 2], 20, "linear")
    mse = np.mean((Xl @ linear.parameters["W1"].T + linear.parameters["b1"].T - yl) ** 2)
    assert linear.evaluate(Xl, yl)["mse"] == pytest.approx(mse, rel=1e-12)


def test_early_stopping_restores_the_best_parameters():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 10))
    y = rng.integers(0, 2, 40)          # noise: validation cost soon rises
    Xv, yv = rng.standard_normal((40, 10)), rng.integers(0, 2, 40)
    net = dnn.Network([10, 64, 1], seed=0)
    history = net.fit(X, y, epochs=500, optimizer="adam", learning_rate=0.01,
                      validation_data=(Xv, yv), early_stopping=True, patience=5)
    assert history.stopped_early and len(history) < 500
    assert net.evaluate(Xv, yv)["cost"] == pytest.approx(min(history.val_cost), rel=1e-12)


def test_callbacks_see_each_epoch_and_can_stop_training():
    X, y, _ = problem([3, 4, 1], 20, "sigmoid")
    seen = []
    net = dnn.Network([3, 4, 1], seed=0)

    def callback(epoch, logs):
        seen.append((epoch, sorted(logs)))
        return epoch == 2

    history = net.fit(X, y, epochs=10, callbacks=[callback])
    assert [epoch for epoch, _ in seen] == [0, 1, 2] and len(history) == 3
    assert seen[0][1] == ["cost", "seconds"]

    def keras_style(epoch, logs):       # epochs count over the network's life
        net.stop_training = epoch >= 4

    assert len(net.fit(X, y, epochs=10, callbacks=[keras_style])) == 2


def test_verbose_shows_a_progress_bar(capsys):
    X, y, _ = problem([3, 4, 1], 20, "sigmoid")
    dnn.Network([3, 4, 1], seed=0).fit(X, y, epochs=3, verbose=True,
                                       validation_data=(X, y))
    err = capsys.readouterr().err
    assert "3/3" in err and "val_cost" in err


def test_divergence_raises_and_keeps_finite_parameters():
    X, y, _ = problem([5, 16, 16, 1], 64, "linear")
    y = y * 1e3
    net = dnn.Network([5, 16, 16, 1], "relu", "linear", seed=0)
    with pytest.raises(dnn.DivergenceError, match="epoch .* smaller learning rate"):
        net.fit(X, y, epochs=1000, optimizer="gd", learning_rate=10.0)
    assert all(np.isfinite(value).all() for value in net.parameters.values())
    assert len(net.history_) >= net.epochs_       # (the epochs run; epochs_: the state's)
    assert np.isfinite(net.history_.cost).all()
    assert net.predict_proba(X).shape == (64, 1)                   # still usable
    net.fit(X, y, epochs=2, optimizer="adam", learning_rate=1e-4, reinitialize=True)
    assert all(np.isfinite(value).all() for value in net.parameters.values())


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_divergence_restores_exactly_the_last_finite_parameters(optimizer):
    X, y, _ = problem([5, 16, 16, 1], 64, "linear", np.float32)
    y = y * 1e3
    # the lowest-cost state seen is restored (here: a full-batch step's start), the
    # state after net.epochs_ epochs, whatever overflowed (parameters or logits)
    rate = 1.0 if optimizer == "gd" else 1e30

    def network():
        return dnn.Network([5, 16, 16, 1], "relu", "linear", dtype="float32", seed=0)

    net = network()
    with pytest.raises(dnn.DivergenceError):
        net.fit(X, y, epochs=10000, optimizer=optimizer, learning_rate=rate)
    steps = net.epochs_            # full batch: one step per epoch
    assert steps <= len(net.history_)
    replay = network()
    replay.fit(X, y, epochs=steps, optimizer=optimizer, learning_rate=rate)
    assert_params_close(net.parameters, copy_params(replay), rtol=0)
    assert all(np.isfinite(value).all() for value in net.parameters.values())


@pytest.mark.parametrize("dims,m,optimizer", [
    ([50, 200, 200, 1], 2000, "gd"),       # gd folded into the GEMMs: stops between steps
    ([500, 1000, 1000, 1], 200, "gd"),     # long steps: stops between layers
    ([500, 1000, 1000, 1], 200, "adam"),
])
def test_ctrl_c_stops_promptly_at_a_completed_step(dims, m, optimizer):
    X, y, _ = problem(dims, m, "sigmoid", np.float32)

    def network():
        return dnn.Network(dims, dtype="float32", seed=0, n_threads=1)

    net = network()
    sent = []
    timer = threading.Timer(0.3, lambda: (sent.append(time.perf_counter()),
                                          _thread.interrupt_main()))
    # (interrupt_main does nothing while SIGINT is ignored, as it is in a
    # shell's background jobs)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            net.fit(X, y, epochs=100000, optimizer=optimizer, learning_rate=1e-3)
    finally:
        signal.signal(signal.SIGINT, handler)
    latency = time.perf_counter() - sent[0]
    assert latency < 0.5, latency
    # full batch: the parameters are those after the completed steps, exactly
    steps = net.epochs_
    assert steps == len(net.history_) == net._engine.step_count > 0
    replay = network()
    replay.fit(X, y, epochs=steps, optimizer=optimizer, learning_rate=1e-3)
    assert_params_close(net.parameters, copy_params(replay), rtol=0)
    net.fit(X, y, epochs=1, optimizer=optimizer, learning_rate=1e-3)   # and it trains on
    assert net.epochs_ == steps + 1


def test_warm_start_continues_and_reinitialize_restarts():
    X, y, _ = problem([3, 5, 1], 30, "sigmoid")
    one = dnn.Network([3, 5, 1], seed=4)
    two = dnn.Network([3, 5, 1], seed=4)
    start = copy_params(one)
    one.fit(X, y, epochs=7, optimizer="adam")
    two.fit(X, y, epochs=3, optimizer="adam")
    two.fit(X, y, epochs=4, optimizer="adam")
    assert_params_close(two.parameters, copy_params(one))
    assert two.epochs_ == 7
    two.fit(X, y, epochs=1, reinitialize=True)
    assert two.epochs_ == 1
    assert not np.allclose(two.parameters["W1"], start["W1"])


def test_partial_fit_is_one_epoch_continuing_the_optimizer():
    X, y, _ = problem([3, 5, 3], 30, "softmax")
    one = dnn.Network([3, 5, 3], output="softmax", seed=4)
    two = dnn.Network([3, 5, 3], output="softmax", seed=4)
    one.fit(X, y, epochs=3, optimizer="rmsprop")
    for _ in range(3):
        two.partial_fit(X, y, optimizer="rmsprop")
    assert_params_close(two.parameters, copy_params(one))


def test_parameters_are_views_and_can_be_assigned():
    net = dnn.Network([3, 4, 2], output="linear", seed=0)
    params = net.parameters
    assert params["W1"].shape == (4, 3) and params["b2"].shape == (2, 1)
    params["b1"][:] = 1.0
    assert np.all(net.parameters["b1"] == 1.0)
    new = dnn.initialize_parameters([3, 4, 2], seed=5)
    net.parameters = new
    assert_params_close(net.parameters, new)
    with pytest.raises(ValueError, match=r"parameters\['W1'\]: expected shape \(4, 3\)"):
        net.parameters = dnn.initialize_parameters([2, 4, 2])
    bad = dict(new, W2=np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match=r"W2.*finite"):
        net.parameters = bad


def test_predict_and_predict_proba_shapes():
    X, y, _ = problem([3, 4, 3], 10, "softmax")
    net = dnn.Network([3, 4, 3], output="softmax", seed=0)
    proba = net.predict_proba(X)
    assert proba.shape == (10, 3) and np.allclose(proba.sum(1), 1)
    assert_close(proba, R.L_model_forward(X.T, copy_params(net), output="softmax")[0].T)
    assert np.array_equal(net.predict(X), proba.argmax(1))
    binary = dnn.Network([3, 4, 1], seed=0)
    assert binary.predict(X).shape == (10,) and set(binary.predict(X)) <= {0, 1}
    multi = dnn.Network([3, 4, 2], seed=0)
    assert multi.predict(X).shape == (10, 2)
    big = np.random.default_rng(0).standard_normal((2500, 3))   # several chunks
    assert_close(net.predict_proba(big),
                 R.L_model_forward(big.T, copy_params(net), output="softmax")[0].T)


def test_float32_stays_float32():
    X, y, _ = problem([3, 4, 1], 10, "sigmoid")
    net = dnn.Network([3, 4, 1], dtype="float32", seed=0)
    net.fit(X, y, epochs=2)
    assert net.predict_proba(X).dtype == np.float32
    assert net.parameters["W1"].dtype == np.float32


# ---------------------------------------------------------------------------
# Files

def test_save_and_load_round_trip_and_continue(tmp_path):
    X, y, _ = problem([3, 5, 3], 30, "softmax")
    one = dnn.Network([3, 5, 3], ["tanh"], "softmax", dtype="float32", seed=1)
    two = dnn.Network([3, 5, 3], ["tanh"], "softmax", dtype="float32", seed=1)
    one.fit(X, y, epochs=4, optimizer=optimizers.Adam(beta1=0.8))
    two.fit(X, y, epochs=2, optimizer=optimizers.Adam(beta1=0.8))
    two.save(tmp_path / "model.npz")
    loaded = dnn.load(tmp_path / "model.npz")
    assert loaded.layer_dims == [3, 5, 3] and loaded.dtype == np.float32
    assert loaded.activations == ["tanh"] and loaded.output == "softmax"
    assert_params_close(loaded.parameters, copy_params(two), np.float32, rtol=0)
    loaded.fit(X, y, epochs=2, optimizer=optimizers.Adam(beta1=0.8))
    assert_params_close(loaded.parameters, copy_params(one), np.float32)
    assert loaded.epochs_ == 4


def test_save_and_load_a_network_without_hidden_layers(tmp_path):
    net = dnn.Network([3, 2], output="linear", seed=0)
    net.save(tmp_path / "linear.npz", optimizer_state=False)
    loaded = dnn.load(str(tmp_path / "linear.npz"))
    assert loaded.activations == [] and loaded.output == "linear"
    assert_params_close(loaded.parameters, copy_params(net), rtol=0)


def test_load_rejects_damaged_and_foreign_files(tmp_path):
    net = dnn.Network([3, 4, 1], seed=0)
    net.fit(*problem([3, 4, 1], 10, "sigmoid")[:2], epochs=1)
    good = tmp_path / "good.npz"
    net.save(good)
    data = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.npz").write_text("hello")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    np.savez(tmp_path / "pickled.npz", format=np.array([{"a": 1}], dtype=object))
    fields = dict(np.load(good))
    np.savez(tmp_path / "version.npz", **dict(fields, format_version=np.array(99)))
    np.savez(tmp_path / "shape.npz", **dict(fields, parameters=np.zeros(7)))
    np.savez(tmp_path / "nan.npz", **dict(fields, parameters=fields["parameters"] * np.nan))
    np.savez(tmp_path / "dims.npz", **dict(fields, layer_dims=np.array([3, -4, 1])))
    np.savez(tmp_path / "huge.npz", **dict(fields, layer_dims=np.array([10**6, 10**6, 1])))
    for name, message in [("truncated", "not a dnn model file|damaged"),
                          ("text", "not a dnn model file"), ("foreign", "format"),
                          ("pickled", "not a dnn model file|damaged|format"),
                          ("version", "version 99"), ("shape", "parameters"),
                          ("nan", "NaN"), ("dims", "layer_dims"), ("huge", "layer_dims")]:
        with pytest.raises(ValueError, match=message):
            dnn.load(tmp_path / f"{name}.npz")


# ---------------------------------------------------------------------------
# Threads

def test_networks_train_concurrently_in_threads_as_they_do_alone():
    X, y, _ = problem([8, 32, 32, 1], 256, "sigmoid")

    def train(seed, out):
        net = dnn.Network([8, 32, 32, 1], seed=seed, n_threads=1)
        net.fit(X, y, epochs=5, batch_size=32)
        out[seed] = copy_params(net)

    alone, together = {}, {}
    for seed in range(4):
        train(seed, alone)
    threads = [threading.Thread(target=train, args=(seed, together)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for seed in range(4):
        assert_params_close(together[seed], alone[seed], rtol=0)


def test_one_network_from_two_threads_raises_clearly():
    X, y, _ = problem([8, 64, 1], 2000, "sigmoid")
    net = dnn.Network([8, 64, 1], seed=0)
    errors = []

    def train():
        try:
            net.fit(X, y, epochs=30, batch_size=16)
        except RuntimeError as error:
            errors.append(error)

    threads = [threading.Thread(target=train) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 1 and "another thread" in str(errors[0])
    assert all(np.isfinite(value).all() for value in net.parameters.values())


def test_predict_from_another_thread_during_fit_waits_and_nested_fit_is_refused():
    X, y, _ = problem([8, 64, 1], 500, "sigmoid")
    net = dnn.Network([8, 64, 1], seed=0)
    predictions, stop = [], threading.Event()

    def predict_loop():
        while not stop.is_set():
            predictions.append(net.predict_proba(X[:5]))

    thread = threading.Thread(target=predict_loop)
    thread.start()
    try:
        for _ in range(20):
            net.fit(X, y, epochs=2, batch_size=50)
    finally:
        stop.set()
        thread.join()
    assert predictions and all(np.isfinite(p).all() for p in predictions)

    def nested(epoch, logs):
        net.fit(X, y, epochs=1)

    with pytest.raises(RuntimeError, match="already being trained"):
        net.fit(X, y, epochs=1, callbacks=[nested])
    net.fit(X, y, epochs=1)     # the flag was cleared


def test_engine_buffers_cannot_be_swapped_resized_or_reinitialized():
    net = dnn.Network([3, 4, 1], seed=0)
    engine = net._engine
    with pytest.raises(ValueError):
        engine.parameters.resize(1)
    with pytest.raises(AttributeError):
        engine.parameters = np.zeros(3)
    with pytest.raises(RuntimeError, match="initialized once"):
        engine.__init__([3, 4, 1], [2], 0, 0.01, np.float64)
    X, y, _ = problem([3, 4, 1], 10, "sigmoid")
    costs = np.zeros(1)
    costs.flags.writeable = False
    with pytest.raises(ValueError, match="costs: expected a writeable array"):
        engine.train(X, y.reshape(10, 1), None, batch_size=10, shuffle=False, epochs=1,
                     costs=costs, seconds=np.zeros(1))
    with pytest.raises(ValueError, match="32-bit"):
        dnn.Network([2 ** 16, 2 ** 16, 1])


def test_an_overflowing_last_update_is_undone():
    X, y, _ = problem([3, 4, 1], 20, "sigmoid")
    net = dnn.Network([3, 4, 1], seed=0)
    start = copy_params(net)
    with pytest.raises(dnn.DivergenceError, match="epoch 1 of this fit"):
        # gradients of ~100 times 1e308 overflow; the cost of the step was finite
        net.fit(X * 100, y, epochs=1, optimizer="gd", learning_rate=1e308)
    assert_params_close(net.parameters, start, rtol=0)
    assert net.epochs_ == 0 and len(net.history_) == 0


def test_divergence_message_counts_epochs_of_the_fit_with_validation():
    X, y, _ = problem([5, 16, 16, 1], 64, "linear", np.float32)
    net = dnn.Network([5, 16, 16, 1], "relu", "linear", dtype="float32", seed=0)
    with pytest.raises(dnn.DivergenceError) as raised:
        net.fit(X, y * 1e3, epochs=100, optimizer="gd", learning_rate=1.0,
                validation_data=(X, y))
    # found after the update that overflowed (the restored state is before it) or
    # at the next forward pass
    completed = len(net.history_)
    assert completed > 1
    assert (f"epoch {completed + 1} of this fit" in str(raised.value)
            or f"epoch {completed + 2} of this fit" in str(raised.value))
    # the state restored is the fit's lowest-cost one, after net.epochs_ epochs
    assert net.epochs_ <= completed
    assert f"after {net.epochs_} completed epochs" in str(raised.value)


def test_threadpoolctl_limits_are_honoured():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    X, y, _ = problem([3, 4, 1], 10, "sigmoid")
    seen = []
    net = dnn.Network([3, 4, 1], seed=0, n_threads=8)

    def callback(epoch, logs):
        seen.extend(info["num_threads"] for info in threadpoolctl.threadpool_info()
                    if info["user_api"] == "blas")

    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        net.fit(X, y, epochs=1, callbacks=[callback])
    assert seen and set(seen) == {1}


# ---------------------------------------------------------------------------
# Bad input

def linear_of_ones():
    net = dnn.Network([3, 1], output="linear")
    net.parameters = {"W1": np.ones((1, 3)), "b1": np.zeros((1, 1))}
    return net


@pytest.mark.parametrize("call,error,message", [
    (lambda: dnn.Network([3]), ValueError, "layer_dims"),
    (lambda: dnn.Network([3, 0, 1]), ValueError, r"layer_dims\[1\]"),
    (lambda: dnn.Network([3, 4, 1], activation="softmax"), ValueError, "activation"),
    (lambda: dnn.Network([3, 4, 1], activation=["relu", "tanh"]), ValueError, "activation"),
    (lambda: dnn.Network([3, 4, 1], output="tanh"), ValueError, "output"),
    (lambda: dnn.Network([3, 4, 1], dtype="float16"), TypeError, "dtype"),
    (lambda: dnn.Network([3, 4, 1], seed=1.5), TypeError, "seed"),
    (lambda: dnn.Network([3, 4, 1], n_threads=0), ValueError, "n_threads"),
    # gaps found by tests/test_hostile_input.py
    (lambda: dnn.Network([3, 4, 1], seed=-1), ValueError, "seed: expected an integer >= 0"),
    (lambda: dnn.Network([3, 4, 1], seed=True), TypeError, "seed: expected an integer, got bool"),
    (lambda: dnn.Network([3, 4, 1], activation=None), TypeError, "activation: expected a name"),
    # sizes beyond any machine's memory (~2 TB), each layer within BLAS's 32-bit ints
    (lambda: dnn.Network([46000] * 30), MemoryError,
     r"layer_dims: a network of layer sizes \[46000, .* would need"),
    (lambda: dnn.Network([3, 4, 1]).save(7), TypeError, "path: expected a file name"),
    (lambda: dnn.load(None), TypeError, "path: expected a file name"),
    (lambda: dnn.Network([3, 4, 1]).predict([[1.0, 2.0, 3.0], [1.0]]), ValueError,
     "X: expected an array"),
    # 30 layers of 46000 units for 46000 examples: ~1 TB of activations
    (lambda: dnn.Network([1] + [46000, 1] * 30).fit(np.zeros((46000, 1)), np.zeros(46000),
                                                     epochs=1),
     MemoryError, "X, batch_size: a batch of 46000 examples through layers of up to 46000"),
    (lambda: dnn.Network([1] + [46000, 1] * 30).compute_gradients(np.zeros((46000, 1)),
                                                                   np.zeros(46000)),
     MemoryError, "X: a batch of 46000 examples"),
    (lambda: linear_of_ones().predict(np.full((2, 3), 1e308)), ValueError,
     "X: the output activations overflowed"),
    (lambda: linear_of_ones().compute_gradients(np.full((2, 3), 1e308), np.zeros(2)),
     ValueError, "X: the cost overflowed"),
])
def test_bad_construction(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(epochs=-1), ValueError, "epochs"),
    (dict(epochs=2.5), TypeError, "epochs"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(optimizer="sgdd"), ValueError, "optimizer"),
    (dict(learning_rate=-1.0), ValueError, "learning_rate"),
    (dict(learning_rate="fast"), TypeError, "learning_rate"),
    (dict(l2=-0.1), ValueError, "l2"),
    (dict(keep_prob=0.0), ValueError, "keep_prob"),
    (dict(keep_prob=[0.5, 0.5]), ValueError, "keep_prob"),
    (dict(validation_split=1.0), ValueError, "validation_split"),
    (dict(validation_data=([1, 2, 3],)), TypeError, "validation_data"),
    (dict(callbacks=[3]), TypeError, r"callbacks\[0\]"),
    (dict(patience=0), ValueError, "patience"),
    # gaps found by tests/test_hostile_input.py
    (dict(callbacks=5), TypeError, "callbacks: expected a sequence"),
    (dict(keep_prob=object()), TypeError, "keep_prob: expected a probability"),
    (dict(learning_rate=10 ** 400), ValueError, "learning_rate: expected a finite number"),
    (dict(epochs=10 ** 30), MemoryError, "epochs: the record of"),
])
def test_bad_fit_arguments(kwargs, error, message):
    X, y, _ = problem([3, 4, 1], 10, "sigmoid")
    net = dnn.Network([3, 4, 1], seed=0)
    before = copy_params(net)
    with pytest.raises(error, match=message):
        net.fit(X, y, **kwargs)
    assert_params_close(net.parameters, before, rtol=0)


def test_huge_batch_size_means_full_batch():
    X, y, _ = problem([3, 4, 1], 10, "sigmoid")
    a, b = dnn.Network([3, 4, 1], seed=0), dnn.Network([3, 4, 1], seed=0)
    a.fit(X, y, epochs=2, batch_size=10 ** 30)
    b.fit(X, y, epochs=2, batch_size=None)
    assert_params_close(a.parameters, b.parameters, rtol=0)


def test_keep_prob_is_checked_without_hidden_layers():
    X, y, _ = problem([3, 1], 10, "sigmoid")
    with pytest.raises(ValueError, match="keep_prob"):
        dnn.Network([3, 1], seed=0).fit(X, y, epochs=1, keep_prob=1.5)


def test_load_refuses_a_partial_optimizer_state(tmp_path):
    X, y, _ = problem([3, 4, 1], 10, "sigmoid")
    net = dnn.Network([3, 4, 1], seed=0)
    net.fit(X, y, epochs=1)
    net.save(tmp_path / "net.npz")
    with np.load(tmp_path / "net.npz") as archive:
        fields = {key: archive[key] for key in archive.files if key != "optimizer"}
    np.savez(tmp_path / "partial.npz", **fields)
    with pytest.raises(ValueError, match=r"optimizer state without \['optimizer'\]"):
        dnn.load(tmp_path / "partial.npz")


@pytest.mark.parametrize("output,X,y,error,message", [
    ("sigmoid", np.zeros((5, 2)), np.zeros(5), ValueError, r"X: expected shape \(n_samples"),
    ("sigmoid", np.zeros((5, 3)), np.zeros(4), ValueError, "y: expected shape"),
    ("sigmoid", np.zeros((5, 3)), np.full(5, 2.0), ValueError, r"y: expected values in \[0, 1\]"),
    ("sigmoid", np.full((5, 3), np.nan), np.zeros(5), ValueError, "X: expected finite"),
    ("sigmoid", np.zeros((5, 3), dtype=complex), np.zeros(5), TypeError, "X: expected numeric"),
    ("softmax", np.zeros((5, 3)), np.array([0, 1, 2, 3, 0]), ValueError, r"classes in 0..2"),
    ("softmax", np.zeros((5, 3)), np.full(5, 0.5), ValueError, "integer class labels"),
    ("softmax", np.zeros((5, 3)), np.zeros((5, 3)), ValueError, "integer class labels"),
    ("linear", np.zeros((5, 3)), np.array(["a"] * 5), TypeError, "y: expected numeric"),
])
def test_bad_data(output, X, y, error, message):
    net = dnn.Network([3, 4, 3 if output == "softmax" else 1], output=output, seed=0)
    with pytest.raises(error, match=message):
        net.fit(X, y, epochs=1)
