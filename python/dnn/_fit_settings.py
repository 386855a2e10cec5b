"""The checked arguments of :meth:`dnn.Network.fit`: the data, the validation
data or split, the engine's training settings, early stopping, callbacks and
checkpoints, all in :func:`fit_plan` (the one place where a fit's settings are
assembled). It uses the network's public attributes only."""
from collections import namedtuple

from dnn_core import registry

from dnn import _fit_loop as fit_loop
from dnn import _streaming as streaming
from dnn import _threads as threads
from dnn import _validation as check
from dnn._early_stopping import EarlyStopping
from dnn._files import writable_path
from dnn._sparse_input import is_sparse, workspace_dims

__all__ = ["FitPlan", "checked_data", "fit_plan"]

#: what fit() runs on: ``epochs``; ``data``: (X, T, labels, weights) of the training
#: rows; ``validation``: (X, T, labels) or None; ``settings``: the engine's ``train``
#: arguments (see :func:`dnn._fit_loop.engine_settings`, plus "target_scale" for real
#: targets); ``early_stopping``: an EarlyStopping or None; ``callbacks``: a list;
#: ``checkpoint``: (path, every) or None
FitPlan = namedtuple("FitPlan", "epochs data validation settings early_stopping callbacks "
                                "checkpoint")


def checked_data(network, X, y, name_x="X", name_y="y"):
    """(X, T, labels) checked as the engine of ``network`` takes them (see
    :func:`dnn._validation.features` and :func:`dnn._validation.targets`)."""
    X = check.features(X, network.layer_dims[0], network.dtype, name_x)
    T, labels = check.targets(y, X.shape[0], registry.OUTPUTS[network.output],
                              network.layer_dims[-1], network.dtype, name_y)
    return X, T, labels


def fit_plan(network, X, y, epochs, batch_size, optimizer, learning_rate, l2, keep_prob,
             shuffle, validation_data, validation_split, early_stopping, patience, min_delta,
             callbacks, sample_weight, checkpoint, checkpoint_every):
    """:meth:`dnn.Network.fit`'s arguments (same names and meanings), checked.

    Parameters
    ----------
    network : dnn.Network
        Read for its ``layer_dims``, ``dtype`` and ``output``.

    Returns
    -------
    FitPlan

    Raises
    ------
    ValueError, TypeError
        Naming the argument that is wrong, what was expected and what came.
    """
    epochs = check.integer(epochs, "epochs")
    check.allocation(16 * epochs, "epochs", f"the record of {epochs} epochs' costs and times")
    shuffle = streaming.shuffle_code(shuffle, X)
    X, T, labels = checked_data(network, X, y)
    m = X.shape[0]
    weights = check.sample_weight(sample_weight, m, network.dtype)
    validation = None
    split = check.real(validation_split, "validation_split", low=0.0, high=1.0)
    if validation_data is not None:
        if split:
            raise ValueError("validation_split: give it or validation_data, not both")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data: expected a pair (X_val, y_val)")
        validation = checked_data(network, *validation_data, name_x="validation_data[0]",
                                  name_y="validation_data[1]")
    elif split:
        (X, T, labels, weights), validation = fit_loop.split_validation(
            X, T, labels, weights, split)
        m = X.shape[0]
    settings = fit_loop.engine_settings(workspace_dims(network.layer_dims, X), network.dtype,
                                        m, batch_size, optimizer, learning_rate, l2,
                                        keep_prob, shuffle)
    settings.update(streaming.shuffle_settings(X))
    if registry.OUTPUTS[network.output].target == "continuous":
        settings["target_scale"] = fit_loop.target_scale(T)
    # row shards of each step on the engine's threads (batch norm: in phases, from
    # a larger step, by its number of batch-norm layers; a sparse X only when n_threads is asked for)
    settings["n_threads"] = threads.shard_count(
        network.layer_dims, settings["batch_size"], network.n_threads,
        sparse=is_sparse(X), batch_norm=sum(network.batch_norm))
    if checkpoint is not None:
        checkpoint = (writable_path(checkpoint, "checkpoint"),
                      check.positive_int(checkpoint_every, "checkpoint_every"))
    patience = check.positive_int(patience, "patience")
    min_delta = check.real(min_delta, "min_delta", low=0.0)
    callbacks = check.callbacks(callbacks)
    return FitPlan(epochs, (X, T, labels, weights), validation, settings,
                   EarlyStopping(patience, min_delta) if early_stopping else None,
                   callbacks, checkpoint)
