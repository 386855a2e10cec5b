"""dnn.Network's public surface for the modules above it (dnn.sklearn, ONNX export, the
CLI): the flat parameter vector, loss and gradient at a vector, copies, the optimizer's
state, a training run of the caller's own."""
import threading

import numpy as np
import pytest

import dnn


def problem(output, dims=(3, 4, 2), m=7, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, dims[0]))
    if output == "softmax":
        y = rng.integers(0, dims[-1], m)
    elif output == "sigmoid":
        y = (rng.random((m, dims[-1])) < 0.5).astype(np.float64)
    else:
        y = rng.standard_normal((m, dims[-1]))
    return X, y


def flat_gradient(net, grads):
    return np.concatenate([np.concatenate([grads[f"dW{l}"].ravel(), grads[f"db{l}"].ravel()])
                           for l in range(1, len(net.layer_dims))])


def test_flat_parameters_are_a_copy_in_the_layout_of_the_layers():
    net = dnn.Network([3, 4, 2], seed=0)
    flat = net.flat_parameters
    params = net.parameters
    expected = np.concatenate([np.concatenate([params[f"W{l}"].ravel(), params[f"b{l}"].ravel()])
                               for l in (1, 2)])
    assert flat.shape == (net.n_parameters,) and flat.dtype == net.dtype
    np.testing.assert_array_equal(flat, expected)
    flat[0] = 123.0  # a copy: the network is unchanged
    assert net.parameters["W1"][0, 0] != 123.0


def test_flat_parameters_assignment_copies_in_and_is_checked():
    net = dnn.Network([3, 4, 2], dtype="float32", seed=0)
    values = np.arange(net.n_parameters, dtype=np.float64)
    net.flat_parameters = values
    assert net.parameters["W1"][0, 1] == 1.0 and net.parameters["b2"].dtype == np.float32
    np.testing.assert_array_equal(net.flat_parameters, values.astype(np.float32))
    with pytest.raises(ValueError, match=rf"flat_parameters: expected shape \({net.n_parameters},\)"):
        net.flat_parameters = values[:-1]
    with pytest.raises(ValueError, match="flat_parameters: expected finite values"):
        net.flat_parameters = np.full(net.n_parameters, np.nan)
    with pytest.raises(TypeError, match="flat_parameters: expected numeric values"):
        net.flat_parameters = np.array(["a"] * net.n_parameters)


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_loss_and_gradient_equals_compute_gradients_and_keeps_the_parameters(output):
    X, y = problem(output)
    net = dnn.Network([3, 4, 2], activation="tanh", output=output, seed=1)
    before = net.flat_parameters
    other = before + 0.1
    weights = np.linspace(0.5, 2.0, len(X))
    cost, gradient = net.loss_and_gradient(other, X, y, l2=0.3, sample_weight=weights)
    np.testing.assert_array_equal(net.flat_parameters, before)
    assert isinstance(cost, float) and gradient.dtype == np.float64
    net.flat_parameters = other
    expected_cost, grads = net.compute_gradients(X, y, l2=0.3, sample_weight=weights)
    assert cost == expected_cost
    np.testing.assert_array_equal(gradient, flat_gradient(net, grads))


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_loss_and_gradient_matches_finite_differences(output):
    X, y = problem(output)
    net = dnn.Network([3, 4, 2], activation="tanh", output=output, seed=2)
    flat = net.flat_parameters
    _, gradient = net.loss_and_gradient(flat, X, y, l2=0.1)
    epsilon = 1e-6
    numeric = np.empty_like(flat)
    for index in range(flat.size):
        step = np.zeros_like(flat)
        step[index] = epsilon
        plus, _ = net.loss_and_gradient(flat + step, X, y, l2=0.1)
        minus, _ = net.loss_and_gradient(flat - step, X, y, l2=0.1)
        numeric[index] = (plus - minus) / (2 * epsilon)
    difference = np.linalg.norm(gradient - numeric) / (np.linalg.norm(gradient)
                                                         + np.linalg.norm(numeric))
    assert difference < 1e-7


def test_loss_and_gradient_returns_an_overflowed_cost():
    X, y = problem("sigmoid")
    net = dnn.Network([3, 4, 2], seed=0)
    cost, _ = net.loss_and_gradient(np.full(net.n_parameters, 1e300), X, y)
    assert not np.isfinite(cost)
    with pytest.raises(ValueError, match=r"X: expected shape \(n_samples >= 1, 3\)"):
        net.loss_and_gradient(net.flat_parameters, X[:, :2], y)


def test_copy_parameters_are_copies():
    net = dnn.Network([3, 4, 1], seed=0)
    copies = net.copy_parameters()
    assert copies.keys() == net.parameters.keys()
    for key, value in copies.items():
        np.testing.assert_array_equal(value, net.parameters[key])
        value[...] = 7
        assert not np.all(net.parameters[key] == 7)


def test_optimizer_and_reset_optimizer():
    X, y = problem("sigmoid")
    net = dnn.Network([3, 4, 2], seed=0)
    assert net.optimizer is None
    net.fit(X, y, epochs=2, optimizer="rmsprop")
    assert net.optimizer == dnn.optimizers.RMSProp()
    state = net.__getstate__()["fields"]
    assert state["step_count"] == 2 and np.any(state["moments"])
    net.reset_optimizer()
    assert net.optimizer is None
    assert not net.__getstate__()["fields"].get("moments", np.zeros(1)).any()


def test_training_refuses_a_fit_inside_and_lets_it_after():
    X, y = problem("sigmoid")
    net = dnn.Network([3, 4, 2], seed=0)
    with net.training(len(X)) as held:
        assert held is net
        with pytest.raises(RuntimeError, match="already being trained"):
            net.fit(X, y, epochs=1)
        errors = []
        thread = threading.Thread(target=lambda: errors.append(
            pytest.raises(RuntimeError, net.fit, X, y, epochs=1)))
        thread.start()
        thread.join()
        assert errors
        net.loss_and_gradient(net.flat_parameters, X, y)  # evaluations are what it is for
    net.fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="batch_size: expected an integer >= 1"):
        with net.training(0):
            pass


def test_save_metadata_is_given_back_by_load(tmp_path):
    net = dnn.Network([3, 4, 2], seed=0)
    net.metadata = {"kept": 1}
    net.save(tmp_path / "a.npz", metadata={"classes": ["x", "y"]})
    assert dnn.load(tmp_path / "a.npz").metadata == {"classes": ["x", "y"]}
    assert net.metadata == {"kept": 1}
    net.save(tmp_path / "b.npz")
    assert dnn.load(tmp_path / "b.npz").metadata == {"kept": 1}


def test_modules_above_network_use_no_private_member_of_it():
    """dnn.sklearn, ONNX export and the CLI use Network's public surface only."""
    import inspect
    import re

    from dnn import _onnx, cli, sklearn

    private = re.compile(r"\b(?:network|network_|net|self\.network_)\._[a-z]\w*")
    for module in (_onnx, cli, sklearn):
        source = inspect.getsource(module)
        assert not private.findall(source), (module.__name__, private.findall(source))
    assert "dnn.network" not in inspect.getsource(_onnx)
