"""One row per activation, output (with its loss), optimizer, schedule and initializer.

Everything above the kernels derives its names, choices, codes and messages
from these tables: ``dnn.functional``, ``dnn.Network``, ``dnn.sklearn``, the
ONNX export and the command line. The codes are the members of the ``cpdef
enum``s in the ``.pxd`` files (each enum ends with a ``*_COUNT`` member that
is no row's code); ``tests/test_registry.py`` checks that every member has
exactly one row. Adding a kind of thing = its kernel + one row + its tests
(CONTRIBUTING.md).
"""
import math
from dataclasses import dataclass, field

import numpy as np

from dnn_core import _activations, _losses, _optim


@dataclass(frozen=True)
class ActivationRow:
    """An activation g (hidden layers, or the output's, by name)."""

    name: str                #: the name users pass, e.g. "relu"
    code: int                #: the kernels' Activation code
    formula: str             #: g(z), one line
    reads: str               #: what g' is computed from: "Z" or "A"
    hidden: bool = True      #: may be a hidden layer's activation
    sklearn: str = None      #: scikit-learn's name (MLP ``activation``), None: none
    onnx: str = None         #: ONNX operator, None: no node (identity)


@dataclass(frozen=True)
class OutputRow:
    """An output layer: its activation and the loss it is trained with (canonical pairs:
    dZ = A - Y)."""

    name: str                #: ``Network(output=...)``, e.g. "sigmoid"
    activation: str          #: the ActivationRow applied to Z[L]
    loss: str                #: the loss's name, e.g. "binary_crossentropy"
    loss_code: int           #: the kernels' Loss code
    formula: str             #: the cost, one line
    target: str              #: "binary", "categorical", "continuous" or "count"
    #: cost(Z, Y, m) -> float: the mean cost of m examples from the logits Z (n_out, m),
    #: in NumPy's exp and log1p (within 1 ulp; ``dnn.gradient_check``'s cost)
    logits_cost: object = field(repr=False)
    aliases: tuple = ()      #: other names of the loss (functional ``loss=``)
    sklearn_out: str = None  #: scikit-learn's ``out_activation_``
    sklearn_loss: str = None  #: scikit-learn's ``loss``
    onnx_output: str = "probabilities"  #: the graph output's name


@dataclass(frozen=True)
class OptimizerRow:
    name: str
    code: int
    formula: str
    hyperparameters: tuple = ()  #: ((name, default), ...) in the kernels' order


@dataclass(frozen=True)
class ScheduleRow:
    name: str
    code: int
    formula: str
    arguments: tuple = ()        #: ((name, default), ...): the kernels' (a, b)


@dataclass(frozen=True)
class InitializerRow:
    """``W[l]`` drawn as ``distribution * scale(fan_in, fan_out)`` (normal), or
    uniform on ``+-scale`` (uniform)."""

    name: str
    distribution: str            #: "normal" or "uniform"
    formula: str
    scale: object = field(repr=False)  #: scale(fan_in, fan_out) -> float


#: each target kind: (what its values are, lowest, highest), or None: any finite value;
#: ``dnn``'s data checks refuse values out of these bounds, naming the argument
TARGETS = {
    "binary": ("binary labels", 0.0, 1.0),
    "categorical": ("class probabilities", 0.0, 1.0),
    "continuous": None,
    "count": ("counts", 0.0, math.inf),
}

def _binary_crossentropy_from_logits(Z, Y, m):
    return float(np.sum(np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))) / m)


def _categorical_crossentropy_from_logits(Z, Y, m):
    top = Z.max(axis=0)
    log_probs = Z - (top + np.log(np.sum(np.exp(Z - top), axis=0)))
    return float(-np.sum(Y * log_probs) / m)


def _squared_error_from_logits(Z, Y, m):
    return float(np.sum((Z - Y) ** 2) / (2 * m))


def _poisson_from_logits(Z, Y, m):
    # xlogy(Y, Y) - Y Z - Y + exp(Z), summed; xlogy(0, 0) = 0
    xlogx = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1)), 0)
    return float(np.sum(xlogx - Y * Z - Y + np.exp(Z)) / m)


_A = _activations.Activation
_L = _losses.Loss
_O = _optim.Optimizer
_S = _optim.Schedule

ACTIVATIONS = {row.name: row for row in (
    ActivationRow("identity", int(_A.IDENTITY), "z", "Z", sklearn="identity"),
    ActivationRow("sigmoid", int(_A.SIGMOID), "1 / (1 + exp(-z))", "A", sklearn="logistic",
                  onnx="Sigmoid"),
    ActivationRow("relu", int(_A.RELU), "max(0, z)", "Z", sklearn="relu", onnx="Relu"),
    ActivationRow("tanh", int(_A.TANH), "tanh(z)", "A", sklearn="tanh", onnx="Tanh"),
    ActivationRow("leaky_relu", int(_A.LEAKY_RELU), "max(slope z, z)", "Z",
                  sklearn="leaky_relu", onnx="LeakyRelu"),
    ActivationRow("softplus", int(_A.SOFTPLUS), "log(1 + exp(z))", "Z", onnx="Softplus"),
    ActivationRow("softmax", int(_A.SOFTMAX), "exp(z) / sum(exp(z), axis=0)", "A",
                  hidden=False, sklearn="softmax", onnx="Softmax"),
    ActivationRow("exp", int(_A.EXP), "exp(z)", "A", hidden=False, sklearn="exp", onnx="Exp"),
)}

OUTPUTS = {row.name: row for row in (
    OutputRow("sigmoid", "sigmoid", "binary_crossentropy", int(_L.BINARY_CROSSENTROPY),
              "-mean(y log a + (1 - y) log(1 - a))", "binary",
              logits_cost=_binary_crossentropy_from_logits,
              sklearn_out="logistic", sklearn_loss="log_loss"),
    OutputRow("softmax", "softmax", "categorical_crossentropy",
              int(_L.CATEGORICAL_CROSSENTROPY), "-sum(y log a) / m", "categorical",
              logits_cost=_categorical_crossentropy_from_logits,
              sklearn_out="softmax", sklearn_loss="log_loss"),
    OutputRow("linear", "identity", "mse", int(_L.MEAN_SQUARED_ERROR),
              "sum((a - y)^2) / (2 m)", "continuous",
              logits_cost=_squared_error_from_logits, aliases=("mean_squared_error",),
              sklearn_out="identity", sklearn_loss="squared_error",
              onnx_output="predictions"),
    OutputRow("poisson", "exp", "poisson", int(_L.POISSON),
              "sum(xlogy(y, y / a) - y + a) / m", "count", logits_cost=_poisson_from_logits,
              sklearn_out="exp", sklearn_loss="poisson", onnx_output="predictions"),
)}

OPTIMIZERS = {row.name: row for row in (
    OptimizerRow("gd", int(_O.GD), "w -= lr dw"),
    OptimizerRow("momentum", int(_O.MOMENTUM), "v = beta v + (1 - beta) dw; w -= lr v",
                 (("beta", 0.9),)),
    OptimizerRow("nesterov", int(_O.NESTEROV),
                 "v = beta v + (1 - beta) dw; w -= lr (beta v + (1 - beta) dw)",
                 (("beta", 0.9),)),
    OptimizerRow("rmsprop", int(_O.RMSPROP),
                 "s = beta s + (1 - beta) dw^2; w -= lr dw / (sqrt(s) + eps)",
                 (("beta", 0.9), ("epsilon", 1e-8))),
    OptimizerRow("adam", int(_O.ADAM),
                 "v, s as momentum and rmsprop; w -= lr v_hat / (sqrt(s_hat) + eps)",
                 (("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8))),
)}

SCHEDULES = {row.name: row for row in (
    ScheduleRow("constant", int(_S.CONSTANT), "lr0"),
    ScheduleRow("inverse_time", int(_S.INVERSE_TIME), "lr0 / (1 + decay floor(t / interval))",
                (("decay", 1.0), ("interval", 1))),
    ScheduleRow("step", int(_S.STEP), "lr0 factor^floor(t / step_size)",
                (("factor", 0.5), ("step_size", 10))),
    ScheduleRow("exponential", int(_S.EXPONENTIAL), "lr0 decay_rate^(t / decay_epochs)",
                (("decay_rate", 0.96), ("decay_epochs", 1))),
)}

INITIALIZERS = {row.name: row for row in (
    InitializerRow("he", "normal", "randn sqrt(2 / fan_in)",
                   lambda fan_in, fan_out: math.sqrt(2.0 / fan_in)),
    InitializerRow("xavier", "normal", "randn sqrt(1 / fan_in)",
                   lambda fan_in, fan_out: math.sqrt(1.0 / fan_in)),
    InitializerRow("course", "normal", "randn 0.01", lambda fan_in, fan_out: 0.01),
    InitializerRow("glorot_uniform", "uniform", "U(+-sqrt(6 / (fan_in + fan_out)))",
                   lambda fan_in, fan_out: math.sqrt(6.0 / (fan_in + fan_out))),
)}


def hidden_activations():
    """Names of the activations a hidden layer may have."""
    return tuple(name for name, row in ACTIVATIONS.items() if row.hidden)


def regression_outputs():
    """Names of the outputs trained on real values (not class labels): continuous
    targets and counts."""
    return tuple(name for name, row in OUTPUTS.items() if row.target in ("continuous", "count"))


def losses():
    """Every loss name (and alias) -> its OutputRow."""
    table = {}
    for row in OUTPUTS.values():
        for name in (row.loss, *row.aliases):
            table[name] = row
    return table


def output_for_loss(loss):
    """The OutputRow of a loss name or alias (KeyError if unknown)."""
    return losses()[loss]
