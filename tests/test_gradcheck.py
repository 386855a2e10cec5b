"""Finite-difference gradient checks, 1 to 5 layers, every activation and loss."""
import numpy as np
import pytest

from dnn import _steps as steps
from dnn import functional as F
from dnn_core import registry

from helpers import REFERENCE as R

# every activation, also the output-only ones, except exp: stacked 4-5 deep (exp(exp(...)))
# it overflows; its gradient is checked as the Poisson output's (test_softplus_poisson)
HIDDEN = [name for name in registry.ACTIVATIONS if name != "exp"]
OUTPUT_LOSS = [("sigmoid", "binary_crossentropy"), ("softmax", "categorical_crossentropy"),
               ("identity", "mse"), ("tanh", "mse"), ("sigmoid", "mse"),
               ("sigmoid", "categorical_crossentropy")]


def problem(n_layers, n_out, loss, seed):
    rng = np.random.default_rng(seed)
    dims = [4] + [5] * (n_layers - 1) + [n_out]
    params = F.initialize_parameters(dims, init="xavier", seed=seed)
    for l in range(1, n_layers + 1):
        params[f"b{l}"] = rng.standard_normal(params[f"b{l}"].shape) * 0.1
    X = rng.standard_normal((4, 6))
    if loss == "categorical_crossentropy":
        Y = np.eye(n_out)[:, rng.integers(0, n_out, 6)]
    elif loss == "binary_crossentropy":
        Y = (rng.random((n_out, 6)) < 0.5).astype(float)
    else:
        Y = rng.standard_normal((n_out, 6))
    return params, X, Y


@pytest.mark.parametrize("n_layers", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradient_check_every_depth_and_hidden_activation(n_layers, hidden):
    params, X, Y = problem(n_layers, 1, "binary_crossentropy", seed=n_layers)
    difference = F.gradient_check(params, X, Y, hidden_activation=hidden)
    assert difference < 1e-7, difference


@pytest.mark.parametrize("output, loss", OUTPUT_LOSS)
def test_gradient_check_every_output_and_loss(output, loss):
    params, X, Y = problem(3, 3, loss, seed=11)
    difference = F.gradient_check(params, X, Y, hidden_activation="tanh",
                                  output_activation=output, loss=loss)
    assert difference < 1e-7, difference


def test_gradient_check_float32_parameters_run_in_float64():
    params, X, Y = problem(2, 1, "binary_crossentropy", seed=3)
    params32 = {key: value.astype(np.float32) for key, value in params.items()}
    assert F.gradient_check(params32, X.astype(np.float32), Y, hidden_activation="tanh") < 1e-7


def test_backward_agrees_with_reference_finite_differences():
    # independent of gradient_check: differences of the NumPy reference's cost
    params, X, Y = problem(3, 1, "binary_crossentropy", seed=5)
    AL, caches = F.forward(X, params, "tanh")
    grads = F.backward(AL, Y, caches, "tanh")
    epsilon = 1e-6
    for key in ("W1", "b2", "W3"):
        numeric = np.zeros_like(params[key])
        for index in np.ndindex(params[key].shape):
            for sign in (1, -1):
                shifted = {k: v.copy() for k, v in params.items()}
                shifted[key][index] += sign * epsilon
                cost = R.compute_cost(R.L_model_forward(X, shifted, "tanh")[0], Y)
                numeric[index] += sign * cost / (2 * epsilon)
        np.testing.assert_allclose(grads[f"d{key}"], numeric, rtol=1e-5, atol=1e-8)


def test_gradient_check_detects_a_wrong_gradient(monkeypatch):
    params, X, Y = problem(2, 1, "binary_crossentropy", seed=7)
    assert F.gradient_check(params, X, Y, hidden_activation="tanh") < 1e-7
    right_backward = steps.backward_layers

    def off_by_a_little(*args, **kwargs):
        grads = right_backward(*args, **kwargs)
        grads["dW1"] = grads["dW1"] * 1.01
        return grads

    monkeypatch.setattr(steps, "backward_layers", off_by_a_little)
    assert F.gradient_check(params, X, Y, hidden_activation="tanh") > 1e-4
