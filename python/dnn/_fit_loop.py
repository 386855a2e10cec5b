"""The parts of :meth:`dnn.Network.fit` around the engine's epochs: the
validation split, the targets' scale, and the loop that runs one epoch at a
time (validation scores, progress bar, callbacks, early stopping,
checkpoints). It uses the network's public surface only."""
import warnings

import numpy as np

from dnn import _validation as check
from dnn import optimizers as optim
from dnn._history import TARGET_SCALE_WARNING

__all__ = ["engine_settings", "split_validation", "target_scale", "run_per_epoch"]



def epoch_logs(history, values=None):
    """The last epoch's logs: its cost and seconds, and ``values`` (validation
    scores: cost, maybe accuracy) as val_cost / val_accuracy, also appended to
    ``history``."""
    logs = {"cost": history.cost[-1], "seconds": history.seconds[-1]}
    if values is not None:
        history.val_cost.append(values["cost"])
        logs["val_cost"] = values["cost"]
        if "accuracy" in values:
            history.val_accuracy.append(values["accuracy"])
            logs["val_accuracy"] = values["accuracy"]
    return logs


def show_progress(bar, logs):
    """One epoch more on the progress bar (None: none), its logs beside it."""
    if bar is not None:
        bar.set_postfix({key: f"{value:.4g}" for key, value in logs.items()
                         if key != "seconds"}, refresh=False)
        bar.update(1)

def engine_settings(layer_dims, dtype, m, batch_size, optimizer, learning_rate, l2,
                    keep_prob, shuffle):
    """fit's arguments, checked, as the engine's ``train`` takes them (plus
    "optimizer_object", the dnn.optimizers.Optimizer)."""
    opt = optim.get(optimizer)
    schedule = optim.schedule(opt.default_learning_rate if learning_rate is None
                              else learning_rate)
    batch = m if batch_size is None else min(m, check.positive_int(batch_size, "batch_size"))
    check.workspace(layer_dims, batch, dtype, "X, batch_size")
    keep = check.keep_prob(keep_prob, len(layer_dims) - 2)
    beta1, beta2, epsilon = opt.hyperparameters()
    a, b = schedule.arguments()
    return dict(batch_size=batch, shuffle=int(shuffle), optimizer=opt.code,
                beta1=beta1, beta2=beta2, epsilon=epsilon, schedule=schedule.code,
                learning_rate=schedule.learning_rate, schedule_a=a, schedule_b=b,
                l2=check.real(l2, "l2", low=0.0), keep=keep, optimizer_object=opt)


def split_validation(X, T, labels, weights, split):
    """Hold out the last ``split`` fraction of the rows for validation.

    Returns
    -------
    (X, T, labels, weights) of the training rows, and (X, T, labels) of the
    validation rows (T or labels None as given).
    """
    m = X.shape[0]
    n_val = int(round(m * split))
    if not 1 <= n_val < m:
        raise ValueError(f"validation_split: {split} of {m} samples leaves "
                         f"{n_val} for validation and {m - n_val} for training")
    cut = m - n_val

    def rows(array, part):
        return None if array is None else array[part]

    train, held = slice(None, cut), slice(cut, None)
    return ((X[train], rows(T, train), rows(labels, train), rows(weights, train)),
            (X[held], rows(T, held), rows(labels, held)))


def target_scale(T):
    """The largest standard deviation of a target column (float); warns
    (RuntimeWarning, at fit's caller) above :data:`TARGET_SCALE_WARNING`."""
    scale = float(np.max(np.std(T, axis=0, dtype=np.float64)))
    if scale > TARGET_SCALE_WARNING:
        warnings.warn(f"y: the targets' standard deviation is {scale:.3g}, far from unit "
                      f"scale: training a linear output on them is likely to diverge or to "
                      f"go slowly; scale y (e.g. scikit-learn's TransformedTargetRegressor)",
                      RuntimeWarning, stacklevel=3)
    return scale


def run_per_epoch(network, train_epoch, scores, epochs, history, validation=None,
                  stopping=None, callbacks=(), verbose=False, checkpoint=None):
    """Train ``epochs`` epochs one at a time, and what comes after each.

    Parameters
    ----------
    network : dnn.Network
        Read: ``flat_parameters``, ``stop_training``, ``epochs_``; ``save``.
    train_epoch : callable
        ``train_epoch()`` trains one epoch and records it in ``history``.
    scores : callable
        ``scores(*validation)``: {"cost", and "accuracy" for a classifier}.
    epochs : int
    history : dnn.History
    validation : (X, T, labels) or None
    stopping : dnn._early_stopping.EarlyStopping or None
        On the validation cost when there is one, else the training cost.
    callbacks : list of callables
    verbose : bool
        A tqdm progress bar.
    checkpoint : (path, every) or None

    Returns
    -------
    ndarray or None
        The flat parameters of the best epoch (early stopping), to restore
        (batch norm's running statistics of that epoch are restored here).
    """
    best_params = best_stats = None
    bar = None
    if verbose:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs, unit="epoch", desc="fit")
    try:
        for _ in range(epochs):
            train_epoch()
            logs = epoch_logs(history, None if validation is None else scores(*validation))
            show_progress(bar, logs)
            stop = False
            for callback in callbacks:
                stop |= callback(history.epoch[-1], dict(logs)) is True
            if stopping is not None:
                if stopping.update(logs.get("val_cost", logs["cost"])):
                    best_params = network.flat_parameters
                    if any(network.batch_norm):
                        # (with the running statistics of that epoch)
                        best_stats = network.running_stats
                elif stopping.stalled:
                    history.stopped_early = stop = True
            last = stop or network.stop_training or len(history) == epochs
            if checkpoint is not None and (last or network.epochs_ % checkpoint[1] == 0):
                network.save(checkpoint[0])
            if stop or network.stop_training:
                break
    finally:
        if bar is not None:
            bar.close()
    if best_params is not None and best_stats is not None:
        network.running_stats = best_stats
    return best_params
