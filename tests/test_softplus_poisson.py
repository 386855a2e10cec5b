"""The softplus activation, added through the registry: kernel against the NumPy
reference, stability, gradients, Network, dnn.functional, the CLI."""
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
