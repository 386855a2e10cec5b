"""The softplus activation and the Poisson loss (exp output, the log link), added
through the registry: kernels against the NumPy reference, stability, gradients,
Network, dnn.functional, dnn.sklearn against scikit-learn's MLPRegressor, ONNX."""
import numpy as np
import pytest

import dnn
import dnn_core
from dnn import functional as F
from dnn_core import registry

from helpers import REFERENCE as R, assert_close

DTYPES = [np.float32, np.float64]


# --- softplus ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_kernel_matches_reference(dtype):
    rng = np.random.default_rng(0)
    Z = (rng.standard_normal((7, 33)) * 4).astype(dtype)
    dA = rng.standard_normal(Z.shape).astype(dtype)
    code = dnn_core.ACTIVATIONS["softplus"]
    A = np.empty_like(Z)
    assert not dnn_core.activation_forward(Z, A, code)
    assert_close(A, R.softplus(Z.astype(np.float64)), dtype)
    dZ, db = np.empty_like(Z), np.empty(Z.shape[0], dtype=dtype)
    dnn_core.activation_backward(dA, Z, A, dZ, db, code, 0.01, 1 / Z.shape[1])
    expected = R.softplus_backward(dA.astype(np.float64), Z.astype(np.float64))
    assert_close(dZ, expected, dtype)
    assert_close(db, expected.sum(axis=1) / Z.shape[1], dtype, scale=np.abs(dA).max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_is_stable_for_large_inputs(dtype):
    big = np.finfo(dtype).max / 4
    Z = np.array([[-big, -1e4, -100.0, -40.0, 0.0, 40.0, 100.0, 1e4, big]], dtype=dtype)
    code = dnn_core.ACTIVATIONS["softplus"]
    A = np.empty_like(Z)
    assert not dnn_core.activation_forward(Z, A, code)
    assert np.isfinite(A).all() and (A >= 0).all()
    np.testing.assert_array_equal(A[0, -4:], Z[0, -4:])  # log(1 + e^z) = z for large z
    assert A[0, 0] == 0 and A[0, 4] == np.asarray(np.log(2), dtype)
    dZ = np.empty_like(Z)
    dnn_core.activation_backward(np.ones_like(Z), Z, A, dZ, None, code)
    assert np.isfinite(dZ).all()
    assert dZ[0, 0] == 0 and dZ[0, -1] == 1 and dZ[0, 4] == 0.5


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_softplus_gradient_check(n_layers):
    rng = np.random.default_rng(n_layers)
    dims = [4] + [5] * (n_layers - 1) + [2]
    params = F.initialize_parameters(dims, init="xavier", seed=n_layers)
    X = rng.standard_normal((4, 6))
    Y = (rng.random((2, 6)) < 0.5).astype(float)
    assert F.gradient_check(params, X, Y, hidden_activation="softplus") < 1e-7


def test_softplus_is_derived_everywhere():
    from dnn import cli, network
    assert "softplus" in network.HIDDEN
    assert "softplus" in F.ACTIVATIONS if hasattr(F, "ACTIVATIONS") else True
    train = cli._parser()._subparsers._group_actions[0].choices["train"]
    choices = {a.dest: a.choices for a in train._actions if a.choices}
    assert "softplus" in choices["activation"]
    with pytest.raises(ValueError, match="softplus"):
        dnn.Network([2, 3, 1], activation="no_such_activation")


def test_network_trains_with_softplus():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(float)
    net = dnn.Network([2, 16, 1], activation="softplus", seed=0)
    history = net.fit(X, y, epochs=300, learning_rate=0.05, optimizer="adam", batch_size=50)
    assert history.cost[-1] < 0.5 * history.cost[0]
    # the functional API's forward agrees with the network's
    AL, _ = F.forward(X.T, net.parameters, "softplus", "sigmoid")
    assert_close(AL.T, net.predict_proba(X), rtol=1e-10)


# --- Poisson ----------------------------------------------------------------

def _counts(rng, shape):
    return rng.poisson(2.0, shape).astype(np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_kernels_match_reference(dtype):
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((3, 41)).astype(dtype)
    Y = _counts(rng, Z.shape).astype(dtype)
    code = dnn_core.LOSSES["poisson"]
    A = np.empty_like(Z)
    cost = dnn_core.logits_cost(Z, Y, code, A)
    Z64, Y64 = Z.astype(np.float64), Y.astype(np.float64)
    assert_close(A, R.exp(Z64), dtype)
    assert_close(cost, R.compute_cost_from_logits(Z64, Y64, "poisson"), dtype)
    assert_close(dnn_core.probs_cost(A, Y, code), R.compute_cost(A.astype(np.float64), Y64,
                                                                 "poisson"), dtype)
    dA = np.empty_like(A)
    dnn_core.probs_gradient(A, Y, dA, code)
    assert_close(dA, R.loss_gradient(A, Y, "poisson"), dtype)
    # through exp's backward, dA * A = A - Y: the fused output delta
    dZ = np.empty_like(A)
    dnn_core.activation_backward(dA, Z, A, dZ, None, dnn_core.ACTIVATIONS["exp"])
    assert_close(dZ, A - Y, dtype, rtol=1e-11 if dtype == np.float64 else 1e-4)


def test_poisson_cost_matches_scikit_learns_half_deviance():
    _base = pytest.importorskip("sklearn.neural_network._base")
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((2, 30))
    Y = _counts(rng, Z.shape)
    # scikit-learn: samples on axis 0, mean over samples, sum over outputs
    expected = _base.poisson_loss(Y.T, np.exp(Z).T)
    assert_close(F.compute_cost(np.exp(Z), Y, loss="poisson"), expected)
    assert_close(F.compute_cost(Z, Y, loss="poisson", from_logits=True), expected)


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_poisson_gradient_check(n_layers):
    rng = np.random.default_rng(n_layers)
    dims = [4] + [5] * (n_layers - 1) + [2]
    params = F.initialize_parameters(dims, init="xavier", seed=n_layers)
    X = rng.standard_normal((4, 6))
    Y = _counts(rng, (2, 6))
    assert F.gradient_check(params, X, Y, hidden_activation="tanh",
                            output_activation="exp", loss="poisson") < 1e-7


def test_poisson_network_fits_counts_and_refuses_negative_targets():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 3))
    y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1])).astype(float)
    net = dnn.Network([3, 8, 1], activation="tanh", output="poisson", seed=0)
    history = net.fit(X, y, epochs=200, learning_rate=0.01, optimizer="adam", batch_size=50)
    assert history.cost[-1] < history.cost[0]
    assert (net.predict_proba(X) > 0).all()
    with pytest.raises(ValueError, match=r"^y: .*>= 0.*counts"):
        net.fit(X, y - 1, epochs=1)
    with pytest.raises(ValueError, match=r"Y: .*>= 0"):
        F.compute_cost(np.ones((1, 3)), -np.ones((1, 3)), loss="poisson")


def _sklearn_poisson_pair(seed=5):
    sk_nn = pytest.importorskip("sklearn.neural_network")
    from dnn.sklearn import DNNRegressor
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((120, 4))
    y = rng.poisson(np.exp(0.4 * X[:, 0])).astype(float)
    kwargs = dict(hidden_layer_sizes=(6,), activation="tanh", solver="lbfgs", max_iter=30,
                  alpha=0.0, random_state=0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sk_nn.MLPRegressor(loss="poisson", **kwargs).fit(X, y)
        ours = DNNRegressor(loss="poisson", **kwargs).fit(X, y)
    return X, y, theirs, ours


def test_dnn_regressor_poisson_matches_mlp_regressor_at_equal_weights():
    _base = pytest.importorskip("sklearn.neural_network._base")
    X, y, theirs, ours = _sklearn_poisson_pair()
    assert ours.out_activation_ == theirs.out_activation_ == "exp"
    # their weights into our network: the same predictions, the same loss
    ours.network_.parameters = {**{f"W{l + 1}": W.T for l, W in enumerate(theirs.coefs_)},
                                **{f"b{l + 1}": b for l, b in enumerate(theirs.intercepts_)}}
    assert_close(ours.predict(X), theirs.predict(X), rtol=1e-12)
    their_loss = _base.poisson_loss(y, theirs.predict(X))
    assert_close(ours.network_.evaluate(X, y)["cost"], their_loss)
    # and the fitted loss_ is the half deviance of our own fit's predictions
    assert ours.loss_ > 0 and np.isfinite(ours.loss_)


def test_dnn_regressor_poisson_refuses_negative_y_and_unknown_loss():
    pytest.importorskip("sklearn")
    from dnn.sklearn import DNNRegressor
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match=r"^y: .*poisson"):
        DNNRegressor(loss="poisson", max_iter=2).fit(X, [0.0, 1.0, -1.0, 2.0])
    with pytest.raises(ValueError, match=r"loss: expected one of 'squared_error', 'poisson'"):
        DNNRegressor(loss="huber", max_iter=2).fit(X, [0.0, 1.0, 1.0, 2.0])
    assert DNNRegressor().get_params()["loss"] == "squared_error"


def test_poisson_onnx_export_has_an_exp_node():
    onnxruntime = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(6)
    X = rng.standard_normal((20, 3))
    net = dnn.Network([3, 4, 2], activation="softplus", output="poisson", seed=0)
    model = net.to_onnx()
    ops = [node.op_type for node in model.graph.node]
    assert "Exp" in ops and "Softplus" in ops
    session = onnxruntime.InferenceSession(model.SerializeToString())
    (result,) = session.run(None, {session.get_inputs()[0].name: X})
    assert_close(result, net.predict_proba(X), rtol=1e-10)


def test_registry_rows():
    assert registry.ACTIVATIONS["softplus"].reads == "Z"
    assert registry.ACTIVATIONS["softplus"].sklearn is None
    assert not registry.ACTIVATIONS["exp"].hidden
    row = registry.OUTPUTS["poisson"]
    assert (row.activation, row.loss, row.target, row.sklearn_out, row.sklearn_loss) == (
        "exp", "poisson", "count", "exp", "poisson")


def test_cli_trains_a_poisson_output_on_counts(tmp_path, capsys):
    # the CLI's regression outputs come from the registry (continuous and count targets)
    from dnn import cli
    rng = np.random.default_rng(7)
    X = rng.uniform(-1, 1, (150, 2))
    y = rng.poisson(np.exp(0.8 * X[:, 0]))
    path = tmp_path / "counts.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,y", comments="")
    status = cli.main(["train", "--data", str(path), "--output", "poisson", "--layers", "4",
                       "--activation", "softplus", "--epochs", "20", "--quiet", "--no-plot",
                       "--out", str(tmp_path / "m.npz")])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "mse" in out
    negative = tmp_path / "negative.csv"
    np.savetxt(negative, np.column_stack([X, y - 5]), delimiter=",", header="a,b,y",
               comments="")
    status = cli.main(["train", "--data", str(negative), "--output", "poisson", "--quiet",
                       "--no-plot", "--out", str(tmp_path / "n.npz")])
    out, err = capsys.readouterr()
    assert status == 2 and ">= 0" in err and "counts" in err
