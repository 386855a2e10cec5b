"""dnn: deep L-layer networks in the course's shape, on compiled kernels.

The functional API (:mod:`dnn.functional`, re-exported here) follows the
algorithm step by step: initialize, forward, cost, backward, update.
:mod:`dnn.course` offers the same under the course's own names.
:class:`dnn.Network` trains a whole network in the compiled engine, with
mini-batches, optimizers (:mod:`dnn.optimizers`) and regularisation.
"""
from dnn import course, datasets, functional, optimizers, plot
from dnn.functional import (
    backward,
    compute_cost,
    forward,
    gradient_check,
    initialize_parameters,
    linear_activation_backward,
    linear_activation_forward,
    linear_backward,
    linear_forward,
    predict,
    update_parameters,
)
from dnn.network import DivergenceError, History, Network, load
from dnn.batch_norm import batchnorm_backward, batchnorm_forward

__version__ = "0.1.0"

__all__ = [
    "DivergenceError", "History", "Network", "load", "optimizers", "backward", "compute_cost", "course", "datasets", "forward", "functional", "plot",
    "gradient_check", "initialize_parameters", "linear_activation_backward",
    "linear_activation_forward", "linear_backward", "linear_forward", "predict",
    "update_parameters", "batchnorm_forward", "batchnorm_backward",
]
