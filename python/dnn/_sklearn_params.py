"""The parameters of :mod:`dnn.sklearn`'s estimators, checked as scikit-learn's
``MLPClassifier`` checks them, and scikit-learn's own messages prefixed with
the names of the arguments they are about."""
import contextlib
import numbers

import numpy as np

from dnn_core import registry

from dnn._dual import FIRST_LAYERS
from dnn.functional import INITS

__all__ = ["ACTIVATIONS", "OUT_ACTIVATIONS", "OUTPUT_FOR_TARGET", "REGRESSION_LOSSES", "check_params", "named",
           "choice", "number"]

#: scikit-learn's activation names -> the engine's
ACTIVATIONS = {row.sklearn: name for name, row in registry.ACTIVATIONS.items()
               if row.hidden and row.sklearn is not None}
#: the engine's output activation -> scikit-learn's out_activation_
OUT_ACTIVATIONS = {name: row.sklearn_out for name, row in registry.OUTPUTS.items()}
#: the engine's output for each kind of target (registry's target kinds)
OUTPUT_FOR_TARGET = {row.target: name for name, row in registry.OUTPUTS.items()}
#: scikit-learn's MLPRegressor ``loss`` -> the engine's output (rows of real-valued targets)
REGRESSION_LOSSES = {row.sklearn_loss: name for name, row in registry.OUTPUTS.items()
                     if row.target in ("continuous", "count")}


def check_params(estimator):
    """Check the parameters of a DNNClassifier or DNNRegressor as scikit-learn's
    MLP does (the messages name the parameter); return the hidden layer sizes."""
    sizes = estimator.hidden_layer_sizes
    sizes = list(sizes) if np.iterable(sizes) else [sizes]
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1
               for n in sizes):
        raise ValueError(f"hidden_layer_sizes: expected integers >= 1, got "
                         f"{estimator.hidden_layer_sizes!r}")
    choice(estimator.activation, "activation", ACTIVATIONS)
    choice(estimator.solver, "solver", ("lbfgs", "sgd", "adam"))
    choice(estimator.learning_rate, "learning_rate", ("constant", "invscaling", "adaptive"))
    choice(estimator.init, "init", INITS)
    if not (isinstance(estimator.batch_size, str) and estimator.batch_size == "auto"):
        number(estimator.batch_size, "batch_size", 1, integer=True, also='"auto"')
    number(estimator.alpha, "alpha", 0)
    number(estimator.learning_rate_init, "learning_rate_init", 0, low_inclusive=False)
    number(estimator.power_t, "power_t", 0)
    number(estimator.max_iter, "max_iter", 1, integer=True)
    number(estimator.tol, "tol", 0)
    number(estimator.momentum, "momentum", 0, 1, high_inclusive=False)
    number(estimator.validation_fraction, "validation_fraction", 0, 1,
           low_inclusive=False, high_inclusive=False)
    number(estimator.beta_1, "beta_1", 0, 1, high_inclusive=False)
    number(estimator.beta_2, "beta_2", 0, 1, high_inclusive=False)
    number(estimator.epsilon, "epsilon", 0, low_inclusive=False)
    if estimator.n_iter_no_change != np.inf:   # (scikit-learn's: inf never stops)
        number(estimator.n_iter_no_change, "n_iter_no_change", 1, integer=True,
               also="np.inf")
    number(estimator.max_fun, "max_fun", 1, integer=True)
    number(estimator.dropout, "dropout", 0, 1, high_inclusive=False)
    if estimator.dtype is not None and estimator.dtype not in ("float32", "float64",
                                                               np.float32, np.float64):
        raise ValueError(f"dtype: expected None, 'float32' or 'float64', got "
                         f"{estimator.dtype!r}")
    if estimator.n_threads is not None:
        number(estimator.n_threads, "n_threads", 1, integer=True, also="None")
    choice(estimator.first_layer, "first_layer", FIRST_LAYERS)
    if estimator.first_layer == "dual" and estimator.solver != "sgd":
        raise ValueError(f"first_layer: 'dual' needs solver='sgd' (its updates stay in the "
                         f"row space of X), got solver={estimator.solver!r}")
    flags = estimator.batch_norm
    if isinstance(flags, (bool, np.bool_)):
        flags = [bool(flags)] * len(sizes)
    elif not (isinstance(flags, (list, tuple)) and len(flags) == len(sizes)
              and all(isinstance(flag, (bool, np.bool_)) for flag in flags)):
        raise ValueError(f"batch_norm: expected a bool or a list of {len(sizes)} bools (one "
                         f"per hidden layer), got {estimator.batch_norm!r}")
    if any(flags) and estimator.solver == "lbfgs":
        raise ValueError("batch_norm: not with solver='lbfgs' (its full-batch cost uses the "
                         "batch's statistics: the running ones would never be learned)")
    return sizes


@contextlib.contextmanager
def named(names):
    """Prefix the message of a ValueError or TypeError raised inside (by
    scikit-learn's validation) with the names of the arguments it is about."""
    try:
        yield
    except (ValueError, TypeError) as error:
        if error.args and isinstance(error.args[0], str):
            error.args = (f"{names}: {error.args[0]}",) + error.args[1:]
        raise


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter of the wrong type or value (both a ValueError,
    as scikit-learn's estimators raise, and a TypeError, as :class:`dnn.Network`
    raises for a wrong type; scikit-learn's own InvalidParameterError is both too)."""


def choice(value, name, options):
    if not isinstance(value, str) or value not in options:
        error = ValueError if isinstance(value, str) else InvalidParameterError
        raise error(f"{name}: expected one of {', '.join(map(repr, options))}, got {value!r}")


def number(value, name, low=None, high=None, *, integer=False, low_inclusive=True,
            high_inclusive=True, also=None):
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and value == value
    if ok and low is not None:
        ok = value >= low if low_inclusive else value > low
    if ok and high is not None:
        ok = value <= high if high_inclusive else value < high
    if not ok:
        bounds = [f"{'>=' if low_inclusive else '>'} {low}" if low is not None else "",
                  f"{'<=' if high_inclusive else '<'} {high}" if high is not None else ""]
        noun = "an integer" if integer else "a number"
        expected = f"{noun} {' and '.join(filter(None, bounds))}"
        raise ValueError(f"{name}: expected {expected}{f' or {also}' if also else ''}, "
                         f"got {value!r}")
