"""dnn.Network(batch_norm=...) against the NumPy reference's batch-norm
network (benchmarks/numpy_reference.py: forward_with_batch_norm,
backward_with_batch_norm, cost_with_batch_norm), finite differences, and the
files and checks around it.

Training uses each batch's statistics and updates the running ones (eps 1e-5,
momentum 0.1, unbiased running variance); compute_gradients uses the batch's
and leaves the running ones; predict, predict_proba and evaluate use the
running ones.
"""
import pickle

import numpy as np
import pytest

import dnn
from dnn import optimizers
from dnn_core import registry

from helpers import REFERENCE as R, assert_close

OPTIMIZERS = list(registry.OPTIMIZERS)
HYPER = {"gd": {}, "momentum": dict(beta1=0.8), "nesterov": dict(beta1=0.7),
         "rmsprop": dict(beta2=0.95, epsilon=1e-7),
         "adam": dict(beta1=0.85, beta2=0.99, epsilon=1e-6)}
OBJECTS = {"gd": optimizers.GD(), "momentum": optimizers.Momentum(beta=0.8),
           "nesterov": optimizers.Nesterov(beta=0.7),
           "rmsprop": optimizers.RMSProp(beta=0.95, epsilon=1e-7),
           "adam": optimizers.Adam(beta1=0.85, beta2=0.99, epsilon=1e-6)}
DIMS = [5, 7, 6, 1]


def problem(m=40, dims=DIMS, dtype=np.float64, seed=0):
    """X (m, n0), y (m, 1) binary, Y = y.T, sample weights (m,)."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((m, dims[0])) * 1.5 + 0.5).astype(dtype)
    y = (rng.random((m, dims[-1])) < 0.5).astype(dtype)
    w = rng.uniform(0.2, 3, m).astype(dtype)
    return X, y, y.T.copy(), w


def network(batch_norm=True, dims=DIMS, seed=3, **kw):
    net = dnn.Network(dims, "relu", "sigmoid", seed=seed, batch_norm=batch_norm, **kw)
    # gamma and beta away from 1 and 0, so that their role is tested
    rng = np.random.default_rng(seed)
    params = net.copy_parameters()
    for key in params:
        if key.startswith(("gamma", "beta")):
            params[key] = params[key] + 0.3 * rng.standard_normal(params[key].shape)
    net.parameters = params
    return net


def copy64(mapping):
    return {key: np.array(value, dtype=np.float64) for key, value in mapping.items()}


def reference_fit(X, Y, params, stats, epochs, optimizer="gd", learning_rate=0.1,
                  batch_size=None, l2=0.0, sample_weight=None, masks=None):
    """The reference's batch-norm training loop over unshuffled mini-batches;
    returns (params, running stats, epoch costs)."""
    v, s = R.initialize_optimizer(params)
    t, costs, m = 0, [], X.shape[1]
    batch = batch_size or m
    w = np.ones(m) if sample_weight is None else sample_weight
    for _ in range(epochs):
        total = weight = 0.0
        for start in range(0, m, batch):
            Xb, Yb, wb = X[:, start:start + batch], Y[:, start:start + batch], w[start:start + batch]
            sw = None if sample_weight is None else wb
            AL, caches, stats = R.forward_with_batch_norm(Xb, params, "relu", "sigmoid", True,
                                                          stats, masks=masks, sample_weight=sw)
            cost = R.cost_with_batch_norm(AL, Yb, params, l2=l2, sample_weight=sw)
            total += cost * wb.sum()
            weight += wb.sum()
            grads = R.backward_with_batch_norm(AL, Yb, caches, "relu", masks, l2, sw)
            t += 1
            params, v, s = R.update_parameters_with_optimizer(params, grads, v, s, t,
                                                              learning_rate, optimizer,
                                                              **HYPER[optimizer])
        costs.append(total / weight)
    return params, stats, costs


def assert_dicts_close(actual, desired, dtype=np.float64, rtol=None):
    assert sorted(actual) == sorted(desired)
    for key in desired:
        assert_close(actual[key], desired[key], dtype, rtol)


# ---------------------------------------------------------------------------
# The layout of the parameters

def test_parameters_have_gamma_beta_and_no_b_on_batch_norm_layers():
    net = dnn.Network([4, 6, 5, 3, 2], batch_norm=[True, False, True], seed=0)
    params = net.parameters
    assert sorted(params) == sorted(["W1", "gamma1", "beta1", "W2", "b2", "W3", "gamma3",
                                     "beta3", "W4", "b4"])
    assert params["gamma1"].shape == params["beta1"].shape == (6, 1)
    assert (params["gamma1"] == 1).all() and (params["beta3"] == 0).all()
    assert net.n_parameters == 4 * 6 + 12 + 6 * 5 + 5 + 5 * 3 + 6 + 3 * 2 + 2
    stats = net.running_stats
    assert sorted(stats) == ["running_mean1", "running_mean3", "running_var1", "running_var3"]
    assert (stats["running_mean1"] == 0).all() and (stats["running_var3"] == 1).all()
    assert net.batch_norm == (True, False, True)
    assert dnn.Network([4, 6, 2]).running_stats == {}
    assert dnn.Network([4, 6, 2]).batch_norm == (False,)


# ---------------------------------------------------------------------------
# Against the reference

@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("batch_norm", [True, [True, False], [False, True]])
def test_compute_gradients_equal_reference_and_leave_running_stats(weighted, batch_norm):
    X, y, Y, w = problem()
    net = network(batch_norm)
    params, stats = copy64(net.parameters), net.running_stats
    cost, grads = net.compute_gradients(X, y, l2=0.4, sample_weight=w if weighted else None)
    sw = w if weighted else None
    AL, caches, _ = R.forward_with_batch_norm(X.T, params, "relu", "sigmoid", True, None,
                                              sample_weight=sw)
    assert cost == pytest.approx(R.cost_with_batch_norm(AL, Y, params, l2=0.4,
                                                        sample_weight=sw), rel=1e-12)
    assert_dicts_close(grads, R.backward_with_batch_norm(AL, Y, caches, "relu", None, 0.4, sw))
    assert_dicts_close(net.running_stats, stats)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_full_batch_training_with_each_optimizer_equals_reference(optimizer):
    X, y, Y, _ = problem()
    net = network()
    start, stats = copy64(net.parameters), net.running_stats
    history = net.fit(X, y, epochs=6, optimizer=OBJECTS[optimizer], learning_rate=0.05)
    expected, expected_stats, costs = reference_fit(X.T.copy(), Y, start, stats, 6, optimizer,
                                                    0.05)
    assert_dicts_close(net.parameters, expected)
    assert_dicts_close(net.running_stats, expected_stats)
    assert_close(history.cost, costs)


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_mini_batches_l2_and_sample_weights_equal_reference(optimizer):
    X, y, Y, w = problem(m=45)
    net = network([True, False])
    start, stats = copy64(net.parameters), net.running_stats
    history = net.fit(X, y, epochs=3, batch_size=16, shuffle=False, optimizer=OBJECTS[optimizer],
                      learning_rate=0.05, l2=0.3, sample_weight=w)
    expected, expected_stats, costs = reference_fit(X.T.copy(), Y, start, stats, 3, optimizer,
                                                    0.05, 16, 0.3, w.astype(np.float64))
    assert_dicts_close(net.parameters, expected)
    assert_dicts_close(net.running_stats, expected_stats)
    assert_close(history.cost, costs)


@pytest.mark.parametrize("optimizer", ["gd", "momentum"])
def test_dropout_step_with_the_engines_masks_equals_reference(optimizer):
    X, y, Y, _ = problem(m=21)
    net = network()
    start, stats = copy64(net.parameters), net.running_stats
    net.fit(X, y, epochs=1, optimizer=OBJECTS[optimizer], learning_rate=0.1,
            keep_prob=[0.6, 0.8])
    masks = {l: mask.reshape(DIMS[l], 21) for l, mask in net._engine.dropout_masks().items()}
    assert sorted(masks) == [1, 2]
    expected, expected_stats, _ = reference_fit(X.T.copy(), Y, start, stats, 1, optimizer,
                                                0.1, masks=masks)
    assert_dicts_close(net.parameters, expected)
    assert_dicts_close(net.running_stats, expected_stats)


def test_gradients_equal_finite_differences():
    X, y, _, w = problem(m=30)
    net = network([True, True])
    flat = net.flat_parameters
    _, grads = net.compute_gradients(X, y, l2=0.2, sample_weight=w)
    analytic = np.concatenate([grads["d" + key].ravel() for key in net.parameters])
    order = np.concatenate([net.parameters[key].ravel() for key in net.parameters])
    assert np.array_equal(order, flat)        # (parameters are in the flat order)
    h, numeric = 1e-6, np.empty_like(flat)
    for i in range(flat.size):
        costs = []
        for sign in (1, -1):
            shifted = flat.copy()
            shifted[i] += sign * h
            net.flat_parameters = shifted
            costs.append(net.compute_gradients(X, y, l2=0.2, sample_weight=w)[0])
        numeric[i] = (costs[0] - costs[1]) / (2 * h)
    net.flat_parameters = flat
    assert_close(analytic, numeric, rtol=1e-6)


def test_inference_uses_running_stats_and_is_independent_of_the_batch():
    X, y, Y, _ = problem(m=60)
    net = network()
    net.fit(X, y, epochs=5, batch_size=16, optimizer="adam", learning_rate=0.01)
    stats = net.running_stats
    assert not np.allclose(stats["running_var1"], 1)
    AL, _, _ = R.forward_with_batch_norm(X.T, copy64(net.parameters), "relu", "sigmoid",
                                         False, stats)
    proba = net.predict_proba(X)
    assert_close(proba, AL.T)
    # each row's prediction alone, in any company, is the same
    alone = np.concatenate([net.predict_proba(X[i:i + 1]) for i in range(5)])
    assert_close(alone, proba[:5])
    shuffled = np.random.default_rng(0).permutation(60)
    assert_close(net.predict_proba(X[shuffled]), proba[shuffled])
    assert net.evaluate(X, y)["cost"] == pytest.approx(
        R.cost_with_batch_norm(AL, Y, {}), rel=1e-12)
    assert_dicts_close(net.running_stats, stats)


def test_float32_training_matches_reference_to_float32_precision():
    X, y, Y, _ = problem(dtype=np.float32)
    net = network(dtype="float32")
    start, stats = copy64(net.parameters), copy64(net.running_stats)
    net.fit(X, y, epochs=5, optimizer=OBJECTS["adam"], learning_rate=0.01)
    expected, expected_stats, _ = reference_fit(X.T.astype(np.float64), Y.astype(np.float64),
                                                start, stats, 5, "adam", 0.01)
    assert net.parameters["gamma1"].dtype == np.float32
    assert net.running_stats["running_mean1"].dtype == np.float32
    assert_dicts_close(net.parameters, expected, np.float32, rtol=1e-4)
    assert_dicts_close(net.running_stats, expected_stats, np.float32, rtol=1e-4)


def test_running_stats_can_be_set_and_are_checked():
    net = network()
    stats = net.running_stats
    stats["running_mean1"] = np.arange(7.0)
    net.running_stats = stats
    assert_close(net.running_stats["running_mean1"], np.arange(7.0).reshape(7, 1))
    with pytest.raises(ValueError, match="running_stats"):
        net.running_stats = {"running_mean1": np.zeros((7, 1))}
    bad = dict(stats, running_var2=-np.ones((6, 1)))
    with pytest.raises(ValueError, match="running_var2"):
        net.running_stats = bad


# ---------------------------------------------------------------------------
# Files

def test_save_load_and_pickle_round_trip(tmp_path):
    X, y, _, _ = problem()
    net = network([False, True])
    net.fit(X, y, epochs=3, batch_size=8, optimizer="adam")
    path = tmp_path / "bn.npz"
    net.save(path)
    for copy in (dnn.load(path), pickle.loads(pickle.dumps(net))):
        assert copy.batch_norm == (False, True)
        assert_dicts_close(copy.parameters, net.parameters, rtol=0)
        assert_dicts_close(copy.running_stats, net.running_stats, rtol=0)
        assert np.array_equal(copy.predict_proba(X), net.predict_proba(X))


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_resume_through_a_file_is_bit_identical(optimizer, tmp_path):
    X, y, _, _ = problem(m=90)
    settings = dict(batch_size=16, optimizer=optimizer, keep_prob=0.8, learning_rate=0.02)
    whole = network(seed=5)
    whole.fit(X, y, epochs=7, **settings)
    part = network(seed=5)
    part.fit(X, y, epochs=3, **settings)
    part.save(tmp_path / "part.npz")
    resumed = pickle.loads(pickle.dumps(dnn.load(tmp_path / "part.npz")))
    resumed.fit(X, y, epochs=4, **settings)
    assert np.array_equal(resumed.flat_parameters, whole.flat_parameters)
    for key, value in whole.running_stats.items():
        assert np.array_equal(resumed.running_stats[key], value)


def test_files_without_batch_norm_have_no_new_fields_and_damaged_stats_are_refused(tmp_path):
    from dnn import _model_file as model_file
    plain = dnn.Network([3, 4, 1], seed=0)
    plain.save(tmp_path / "plain.npz")
    fields = model_file.read(tmp_path / "plain.npz")
    assert "batch_norm" not in fields and "running_stats" not in fields
    assert dnn.load(tmp_path / "plain.npz").batch_norm == (False,)
    net = network()
    net.save(tmp_path / "bn.npz")
    fields = model_file.read(tmp_path / "bn.npz")
    for key, value, message in (("running_stats", fields["running_stats"][:-1], "running_stats"),
                                ("running_stats", fields["running_stats"] * np.nan, "NaN"),
                                ("batch_norm", np.array([True]), "batch_norm")):
        damaged = dict(fields, **{key: value})
        np.savez(tmp_path / "damaged.npz", **damaged)
        with pytest.raises(ValueError, match=message):
            dnn.load(tmp_path / "damaged.npz")


# ---------------------------------------------------------------------------
# Checks

@pytest.mark.parametrize("value, error, message", [
    ("yes", TypeError, "batch_norm"),
    (1, TypeError, "batch_norm"),
    (None, TypeError, "batch_norm"),
    ([True], ValueError, "expected 2 bools"),
    ([True, 1], TypeError, r"batch_norm\[1\]"),
    ([True, False, True], ValueError, "expected 2 bools"),
])
def test_bad_batch_norm_values_are_refused(value, error, message):
    with pytest.raises(error, match=message):
        dnn.Network(DIMS, batch_norm=value)


def test_parameters_of_the_wrong_keys_are_refused():
    net = network()
    params = net.copy_parameters()
    params["b1"] = params.pop("gamma1")
    with pytest.raises(ValueError, match="gamma1"):
        net.parameters = params


def test_divergence_rolls_back_the_running_stats_with_the_parameters():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    y = 1e9 * (X @ rng.standard_normal(5))
    net = dnn.Network([5, 8, 1], output="linear", seed=0, batch_norm=True)
    with pytest.warns(RuntimeWarning):
        with pytest.raises(dnn.DivergenceError):
            net.fit(X, y, epochs=50, batch_size=20, optimizer="gd", learning_rate=0.5)
    stats = net.running_stats
    assert all(np.isfinite(value).all() for value in stats.values())
    assert np.isfinite(net.flat_parameters).all()
    assert np.isfinite(net.predict(X)).all()


# ---------------------------------------------------------------------------
# Surfaces

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_onnx_export_folds_batch_norm_into_the_gemms(dtype):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    X, y, _, _ = problem(m=50)
    net = network([True, False], dtype=dtype)
    net.fit(X.astype(dtype), y.astype(dtype), epochs=5, batch_size=16, optimizer="adam",
            learning_rate=0.02)
    model = net.to_onnx()
    assert [node.op_type for node in model.graph.node].count("Gemm") == 3
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    Xd = X.astype(dtype)
    (output,) = session.run(None, {"X": Xd})
    assert_close(output, net.predict_proba(Xd), dtype, 1e-12 if dtype == "float64" else 1e-5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_estimators_take_batch_norm():
    from sklearn.base import clone
    from dnn.sklearn import DNNClassifier, DNNRegressor

    X, y, _, _ = problem(m=80)
    classifier = DNNClassifier((8, 6), batch_norm=True, max_iter=20, random_state=0)
    classifier.fit(X, y.ravel())
    assert classifier.network_.batch_norm == (True, True)
    assert classifier.get_params()["batch_norm"] is True
    assert clone(classifier).batch_norm is True
    assert [b.shape for b in classifier.intercepts_] == [(8,), (6,), (1,)]
    assert classifier.score(X, y.ravel()) > 0.5
    regressor = DNNRegressor((5,), batch_norm=[True], max_iter=5, random_state=0,
                             early_stopping=True)
    regressor.fit(X, X[:, 0])
    assert np.isfinite(regressor.predict(X)).all()
    for bad in ("yes", [True, True]):
        with pytest.raises(ValueError, match="batch_norm"):
            DNNRegressor((5,), batch_norm=bad).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="lbfgs"):
        DNNRegressor((5,), batch_norm=True, solver="lbfgs").fit(X, X[:, 0])


def test_cli_train_batch_norm_saves_a_batch_norm_model(tmp_path, capsys):
    from dnn import cli

    model = tmp_path / "m.npz"
    status = cli.main(["train", "--layers", "6,4", "--epochs", "30", "--batch-norm",
                       "--out", str(model), "--quiet", "--no-plot"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "batch norm" in out
    net = dnn.load(model)
    assert net.batch_norm == (True, True)
    assert not np.allclose(net.running_stats["running_var1"], 1)
    assert cli.main(["info", "--model", str(model)]) == 0
    assert "batch norm: hidden layers [1, 2]" in capsys.readouterr().out
