"""Every table of names above the kernels is derived from dnn_core.registry: the
functional API's, Network's, dnn.sklearn's, the ONNX export's, the CLI's choices,
the optimizers' classes and defaults, and the error messages listing choices."""
import inspect

import numpy as np
import pytest

import dnn
from dnn import _onnx, _steps, cli, functional, network, optimizers
from dnn_core import registry

from helpers import REFERENCE


def test_functional_tables():
    assert functional.INITS == tuple(registry.INITIALIZERS)
    assert functional.MATCHED_LOSS == {row.activation: row.loss
                                       for row in registry.OUTPUTS.values()}
    assert set(_steps.LOSS_NAMES) == set(registry.losses())
    for name, row in registry.OUTPUTS.items():
        assert _steps.LOSS_CODES[row.loss] == row.loss_code
        assert _steps.PRECISE_LOGITS_COSTS[row.loss] is row.logits_cost
    assert set(_steps.PRECISE_LOGITS_COSTS) == {r.loss for r in registry.OUTPUTS.values()}
    # (the tables as they were written by hand before, the same today)
    assert functional.DEFAULT_LOSS["sigmoid"] == "binary_crossentropy"
    assert functional.DEFAULT_LOSS["softmax"] == "categorical_crossentropy"
    assert _steps.FALLBACK_LOSS == "mse"


@pytest.mark.parametrize("name", list(registry.OUTPUTS))
def test_each_output_row_has_the_reference_cost_from_logits(name):
    row = registry.OUTPUTS[name]
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((3, 11)) * 4
    if row.target == "categorical":
        Y = np.eye(3)[:, rng.integers(0, 3, 11)]
    elif row.target == "binary":
        Y = (rng.random((3, 11)) < 0.5).astype(np.float64)
    elif row.target == "count":
        Y = rng.poisson(2.0, (3, 11)).astype(np.float64)
    else:
        Y = rng.standard_normal((3, 11))
    expected = REFERENCE.compute_cost_from_logits(Z, Y, row.loss)
    assert row.logits_cost(Z, Y, 11) == pytest.approx(expected, rel=1e-12, abs=0)


def test_network_tables():
    assert network.OUTPUTS == {name: row.loss for name, row in registry.OUTPUTS.items()}
    assert set(network.HIDDEN) == {"relu", "leaky_relu", "tanh", "sigmoid", "identity",
                                   "softplus"}
    assert network.HIDDEN == registry.hidden_activations()


def test_sklearn_tables():
    sklearn = pytest.importorskip("dnn.sklearn")
    assert sklearn.ACTIVATIONS == {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh",
                                   "relu": "relu", "leaky_relu": "leaky_relu"}
    assert sklearn.OUT_ACTIVATIONS == {"sigmoid": "logistic", "softmax": "softmax",
                                       "linear": "identity", "poisson": "exp"}
    assert sklearn.REGRESSION_LOSSES == {"squared_error": "linear", "poisson": "poisson"}


def test_onnx_tables():
    assert _onnx.OUTPUT_NAMES == {"sigmoid": "probabilities", "softmax": "probabilities",
                                  "linear": "predictions", "poisson": "predictions"}
    assert _onnx._HIDDEN_OPS == {"relu": "Relu", "leaky_relu": "LeakyRelu", "tanh": "Tanh",
                                 "sigmoid": "Sigmoid", "identity": None,
                                 "softplus": "Softplus"}
    assert _onnx._OUTPUT_OPS == {"sigmoid": "Sigmoid", "softmax": "Softmax", "linear": None,
                                 "poisson": "Exp"}


def test_cli_choices():
    parser = cli._parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    choices = {action.dest: action.choices for action in train._actions if action.choices}
    assert list(choices["activation"]) == list(registry.hidden_activations())
    assert list(choices["output"]) == ["auto", *registry.OUTPUTS]
    assert list(choices["optimizer"]) == list(registry.OPTIMIZERS)


@pytest.mark.parametrize("name", list(registry.OPTIMIZERS))
def test_each_optimizer_class_matches_its_row(name):
    row = registry.OPTIMIZERS[name]
    cls = optimizers.OPTIMIZERS[name]
    assert cls.name == name and cls.code == row.code
    defaults = {key: parameter.default
                for key, parameter in inspect.signature(cls).parameters.items()}
    assert defaults == dict(row.hyperparameters)
    optimizer = cls()
    assert optimizers.from_hyperparameters(name, *optimizer.hyperparameters()) == optimizer
    assert optimizers.get(name) == optimizer


@pytest.mark.parametrize("name", list(registry.SCHEDULES))
def test_each_schedule_class_matches_its_row(name):
    row = registry.SCHEDULES[name]
    cls = optimizers.SCHEDULES[name]
    assert cls.code == row.code
    defaults = {key: parameter.default
                for key, parameter in inspect.signature(cls).parameters.items()
                if key != "learning_rate"}
    assert defaults == dict(row.arguments)
    assert cls(0.1).arguments() == tuple(float(value) for _, value in row.arguments) or \
        not row.arguments


def test_error_messages_list_the_registry_choices():
    with pytest.raises(ValueError) as error:
        dnn.Network([2, 3, 1], activation="swish")
    for name in registry.hidden_activations():
        assert repr(name) in str(error.value)
    with pytest.raises(ValueError) as error:
        dnn.Network([2, 1], output="relu")
    for name in registry.OUTPUTS:
        assert repr(name) in str(error.value)
    with pytest.raises(ValueError) as error:
        dnn.initialize_parameters([2, 1], init="zeros")
    for name in registry.INITIALIZERS:
        assert repr(name) in str(error.value)
    with pytest.raises(ValueError) as error:
        optimizers.get("sgd")
    for name in registry.OPTIMIZERS:
        assert repr(name) in str(error.value)
    with pytest.raises(ValueError) as error:
        dnn.compute_cost([[0.5]], [[1.0]], loss="hinge")
    for name in registry.losses():
        assert repr(name) in str(error.value)
