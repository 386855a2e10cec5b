"""The engine's dual-form first layer (issue 14): Network(first_layer="dual")
trains to the parameters of first_layer="primal" (~1e-12 relative in float64),
W1 materialised for parameters, predict and save; "auto" picks it for wide data
with gd, momentum and Nesterov only; bad uses are refused by name."""
import numpy as np
import pytest
import scipy.sparse

import dnn


def wide(m=40, n_x=300, seed=0, classes=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n_x))
    if classes is None:
        y = (X[:, 0] + 0.5 * rng.standard_normal(m) > 0).astype(float)
    else:
        y = rng.integers(0, classes, m)
    return X, y


def pair(dims=(300, 6, 4, 1), **kwargs):
    return [dnn.Network(list(dims), seed=7, first_layer=mode, **kwargs)
            for mode in ("primal", "dual")]


def relative(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def assert_same_networks(dual, primal, rtol=1e-12):
    assert dual.first_layer_ == "dual" and primal.first_layer_ == "primal"
    for key, value in primal.parameters.items():
        assert relative(dual.parameters[key], value) < rtol, key
    # the optimizer's state (the velocity of W1 materialised too)
    moments = [net._engine.moments for net in (primal, dual)]
    assert np.max(np.abs(moments[1] - moments[0])) <= rtol * max(np.max(np.abs(moments[0])),
                                                                  1e-300)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "nesterov"])
@pytest.mark.parametrize("l2", [0.0, 0.5])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_dual_fit_equals_primal(optimizer, l2, batch_size):
    X, y = wide()
    primal, dual = pair()
    before = primal.copy_parameters()["W1"]
    runs = [net.fit(X, y, epochs=40, optimizer=optimizer, learning_rate=0.05, l2=l2,
                    batch_size=batch_size) for net in (primal, dual)]
    assert_same_networks(dual, primal)
    np.testing.assert_allclose(runs[1].cost, runs[0].cost, rtol=1e-12)
    assert relative(primal.parameters["W1"], before) > 1e-3      # it did train
    # the velocity (momentum, Nesterov) is written back materialised too
    if optimizer != "gd":
        velocity = [net._engine.moments[0][:6 * 300] for net in (primal, dual)]
        assert relative(velocity[1], velocity[0]) < 1e-12


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_a_second_fit_continues_with_the_velocity(optimizer):
    """The second fit starts from W1 and a velocity outside the data's row space:
    both are bases of the dual form (W1 = c1 W1_0 + c2 V1_0 + M X^T)."""
    X, y = wide(seed=1)
    X2, y2 = wide(seed=2)
    primal, dual = pair()
    for net in (primal, dual):
        net.fit(X, y, epochs=10, optimizer=optimizer, learning_rate=0.05, l2=0.2)
        net.fit(X2, y2, epochs=15, optimizer=optimizer, learning_rate=0.05, l2=0.2,
                batch_size=8)
    assert_same_networks(dual, primal)


def test_epoch_by_epoch_fits_validation_and_callbacks():
    X, y = wide(m=60)
    primal, dual = pair()
    seen = []
    runs = [net.fit(X, y, epochs=12, optimizer="momentum", learning_rate=0.05,
                    validation_split=0.25, batch_size=10,
                    callbacks=[lambda epoch, logs: seen.append(logs["val_cost"])])
            for net in (primal, dual)]
    assert_same_networks(dual, primal)
    np.testing.assert_allclose(runs[1].val_cost, runs[0].val_cost, rtol=1e-12)
    assert len(seen) == 24


def test_a_callback_that_changes_the_parameters_is_seen():
    X, y = wide()
    primal, dual = pair()

    def nudge(net):
        def callback(epoch, logs):
            if epoch == 3:
                net.parameters["W1"][...] *= 0.5
        return callback

    for net in (primal, dual):
        net.fit(X, y, epochs=8, optimizer="gd", learning_rate=0.05, callbacks=[nudge(net)])
    assert_same_networks(dual, primal)


@pytest.mark.parametrize("output, classes", [("softmax", 3), ("linear", None)])
def test_other_outputs_dropout_and_sample_weights(output, classes):
    X, y = wide(classes=classes)
    weights = np.random.default_rng(3).random(len(y))
    n_out = 3 if classes else 1
    primal, dual = pair((300, 6, 5, n_out), output=output, activation="tanh")
    for net in (primal, dual):
        net.fit(X, y, epochs=20, optimizer="nesterov", learning_rate=0.02, keep_prob=0.8,
                batch_size=13, sample_weight=weights, l2=0.1)
    assert_same_networks(dual, primal)


def test_float32_and_uint8_input():
    X, y = wide()
    X8 = np.clip(X * 40 + 128, 0, 255).astype(np.uint8)
    primal, dual = pair(dtype="float32")
    for net in (primal, dual):
        net.fit(X8, y, epochs=10, optimizer="gd", learning_rate=1e-5)
    assert_same_networks(dual, primal, rtol=2e-4)


def test_one_layer_network():
    X, y = wide()
    primal, dual = pair((300, 1))
    for net in (primal, dual):
        net.fit(X, y, epochs=20, optimizer="momentum", learning_rate=0.01, l2=0.3)
    assert_same_networks(dual, primal)


def test_predict_and_save_read_the_materialised_w1(tmp_path):
    X, y = wide()
    X_new, _ = wide(m=25, seed=9)
    primal, dual = pair()
    for net in (primal, dual):
        net.fit(X, y, epochs=30, optimizer="gd", learning_rate=0.1)
    assert relative(dual.predict_proba(X_new), primal.predict_proba(X_new)) < 1e-12
    dual.save(tmp_path / "dual.npz")
    loaded = dnn.load(tmp_path / "dual.npz")
    np.testing.assert_array_equal(loaded.parameters["W1"], dual.parameters["W1"])


def test_auto_picks_dual_for_wide_data_and_primal_otherwise():
    X, y = wide(m=40, n_x=2000)
    net = dnn.Network([2000, 8, 1], seed=0)
    assert net.first_layer == "auto"
    net.fit(X, y, epochs=50, optimizer="gd", learning_rate=0.01)
    assert net.first_layer_ == "dual"
    net.fit(X, y, epochs=50, optimizer="adam")           # never with Adam
    assert net.first_layer_ == "primal"
    narrow_X, narrow_y = wide(m=400, n_x=20)
    narrow = dnn.Network([20, 8, 1], seed=0)
    narrow.fit(narrow_X, narrow_y, epochs=5, optimizer="gd")
    assert narrow.first_layer_ == "primal"


def test_bad_first_layer_uses_are_refused():
    X, y = wide()
    with pytest.raises(ValueError, match="first_layer: expected one of"):
        dnn.Network([300, 4, 1], first_layer="gram")
    with pytest.raises(TypeError, match="first_layer"):
        dnn.Network([300, 4, 1], first_layer=1)
    net = dnn.Network([300, 4, 1], first_layer="dual")
    for optimizer in ("adam", "rmsprop"):
        with pytest.raises(ValueError, match=f"first_layer: 'dual'.*{optimizer}"):
            net.fit(X, y, epochs=1, optimizer=optimizer)
    with pytest.raises(ValueError, match="first_layer: 'dual'.*csr"):
        net.fit(scipy.sparse.csr_matrix(X), y, epochs=1, optimizer="gd")
    with pytest.raises(ValueError, match="first_layer: 'dual'.*batch norm"):
        dnn.Network([300, 4, 3, 1], first_layer="dual", batch_norm=True).fit(
            X, y, epochs=1, optimizer="gd")


def test_consecutive_fits_on_one_array_reuse_the_features():
    """scikit-learn's sgd calls fit once an epoch: the features are made once
    while X and the state are unchanged. "auto" stays primal for one-epoch
    fits: W1 and its velocity are materialised after each call, which costs
    what a primal epoch costs."""
    X, y = wide(m=40, n_x=3000)
    primal = dnn.Network([3000, 6, 1], seed=3, first_layer="primal")
    auto = dnn.Network([3000, 6, 1], seed=3, first_layer="dual")
    picks = []
    for epoch in range(6):
        for net in (primal, auto):
            net.fit(X, y, epochs=1, optimizer="momentum", learning_rate=0.01, l2=0.1)
        picks.append((auto.first_layer_, auto._first_layer.kept))
    assert {mode for mode, _ in picks} == {"dual"}
    duals = [kept for mode, kept in picks if mode == "dual"]
    assert all(kept is duals[0] for kept in duals)    # one dual engine, reused
    assert_same_networks(auto, primal)
    auto.first_layer = "auto"
    for net in (primal, auto):
        net.fit(X, y, epochs=1, optimizer="momentum", learning_rate=0.01, l2=0.1)
    assert auto.first_layer_ == "primal"
    auto.first_layer = "dual"
    # X changed in place: the features are made anew, and the result still agrees
    X[:, :5] *= 2
    for net in (primal, auto):
        net.fit(X, y, epochs=3, optimizer="momentum", learning_rate=0.01, l2=0.1)
    assert auto._first_layer.kept is not duals[0]
    assert_same_networks(auto, primal)


def test_sklearn_sgd_through_the_dual_form_agrees():
    pytest.importorskip("sklearn")
    from dnn.sklearn import DNNClassifier
    X, y = wide(m=40, n_x=3000)
    fits = []
    for first_layer in ("primal", "dual"):
        est = DNNClassifier(hidden_layer_sizes=(6,), solver="sgd", learning_rate_init=0.01,
                            momentum=0.9, nesterovs_momentum=True, alpha=0.01, max_iter=20,
                            tol=0, random_state=0, first_layer=first_layer)
        with pytest.warns(Warning):
            est.fit(X, y)                              # (20 iterations: not converged)
        fits.append(est)
    assert fits[1].network_.first_layer_ == "dual"
    assert fits[0].network_.first_layer_ == "primal"
    for got, want in zip(fits[1].coefs_ + fits[1].intercepts_,
                         fits[0].coefs_ + fits[0].intercepts_):
        assert relative(got, want) < 1e-12
    np.testing.assert_allclose(fits[1].loss_curve_, fits[0].loss_curve_, rtol=1e-12)
    # set_params between warm-started fits reaches the network
    est = fits[1]
    est.set_params(first_layer="primal", warm_start=True, max_iter=2)
    with pytest.warns(Warning):
        est.fit(X, y)
    assert est.network_.first_layer_ == "primal"


@pytest.mark.parametrize("params, message", [
    (dict(first_layer="dual", solver="adam"), "first_layer: 'dual' needs solver='sgd'"),
    (dict(first_layer="dual", solver="lbfgs"), "first_layer: 'dual' needs solver='sgd'"),
    (dict(first_layer="wide"), "first_layer: expected one of 'auto', 'primal', 'dual'"),
    (dict(first_layer=None), "first_layer: expected one of"),
])
def test_sklearn_first_layer_is_checked(params, message):
    pytest.importorskip("sklearn")
    from dnn.sklearn import DNNClassifier, DNNRegressor
    X, y = wide(m=20, n_x=50)
    for cls in (DNNClassifier, DNNRegressor):
        with pytest.raises(ValueError, match=message):
            cls(hidden_layer_sizes=(3,), max_iter=2, **params).fit(X, y)


def test_sklearn_dual_refuses_sparse_input():
    pytest.importorskip("sklearn")
    sp = pytest.importorskip("scipy.sparse")
    from dnn.sklearn import DNNClassifier
    X, y = wide(m=20, n_x=50)
    est = DNNClassifier(hidden_layer_sizes=(3,), solver="sgd", max_iter=2, first_layer="dual")
    with pytest.raises(ValueError, match="first_layer: 'dual' cannot be used here"):
        est.fit(sp.csr_matrix(X), y)


def test_cat_app_dual_equals_primal():
    """The issue's case: the course's cat / non-cat images, [12288, 20, 7, 5, 1]."""
    from helpers import catvnoncat
    train_x, train_y, _, _ = catvnoncat()
    X, y = np.ascontiguousarray(train_x.T), train_y.ravel()
    primal, dual = pair((12288, 20, 7, 5, 1))
    runs = [net.fit(X, y, epochs=60, optimizer="gd", learning_rate=0.0075)
            for net in (primal, dual)]
    assert_same_networks(dual, primal)
    np.testing.assert_allclose(runs[1].cost, runs[0].cost, rtol=1e-12)
    auto = dnn.Network([12288, 20, 7, 5, 1], seed=7)
    auto.fit(X, y, epochs=60, optimizer="gd", learning_rate=0.0075)
    assert auto.first_layer_ == "dual"
