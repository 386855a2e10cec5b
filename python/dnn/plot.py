"""Plots of training (matplotlib, an optional extra: ``pip install "dnn-core[plot]"``).

matplotlib is imported when a function is called, not with :mod:`dnn`. Each
function draws into ``ax`` (a new figure's Axes when None) and returns it.
"""
from collections.abc import Mapping

import numpy as np

__all__ = ["cost_curve", "decision_boundary"]


def _axes(ax):
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('dnn.plot needs matplotlib: pip install "dnn-core[plot]"') from None
    return plt.subplots()[1]


def _costs(values, name):
    array = np.asarray(values, dtype=np.float64) if len(values) else np.empty(0)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a sequence of costs, got shape {array.shape}")
    return array


def cost_curve(history, ax=None):
    """The training cost per epoch, and the validation cost when recorded.

    Parameters
    ----------
    history : dnn.History, mapping or sequence of float
        A History (``fit``'s result, or ``network.history_``), a mapping with
        "cost" and optionally "val_cost" (like ``History.history``), or the
        costs themselves (e.g. the course's ``costs`` list).
    ax : matplotlib.axes.Axes or None

    Returns
    -------
    matplotlib.axes.Axes
    """
    if isinstance(history, Mapping):
        cost, val_cost, epoch = history.get("cost", ()), history.get("val_cost", ()), None
    elif hasattr(history, "cost"):
        cost, val_cost = history.cost, getattr(history, "val_cost", ())
        epoch = getattr(history, "epoch", None)
    else:
        try:
            cost, val_cost, epoch = list(history), (), None
        except TypeError:
            raise TypeError(f"history: expected a dnn.History, a mapping or a sequence of "
                            f"costs, got {type(history).__name__}") from None
    cost = _costs(cost, "history")
    val_cost = _costs(val_cost, "history (val_cost)")
    if cost.size == 0:
        raise ValueError("history: expected at least one cost, got none (was anything "
                         "trained?)")
    x = np.asarray(epoch) if epoch is not None and len(epoch) == cost.size \
        else np.arange(cost.size)
    ax = _axes(ax)
    ax.plot(x, cost, label="training cost")
    if val_cost.size:
        ax.plot(x[:val_cost.size], val_cost, label="validation cost")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost")
    ax.set_title("Cost")
    ax.legend()
    return ax


def decision_boundary(model, X, y, ax=None, resolution=200, margin=0.5):
    """The regions a classifier assigns to each class, over the samples.

    Parameters
    ----------
    model : object with ``predict``
        Takes an array (n, 2) in scikit-learn's layout and returns n labels
        (a :class:`dnn.Network`, a scikit-learn classifier, ...).
    X : array_like, shape (n_samples, 2)
    y : array_like, shape (n_samples,)
        The samples' labels (drawn as the points' colours).
    ax : matplotlib.axes.Axes or None
    resolution : int >= 2
        Grid points along each axis.
    margin : float >= 0
        Added around the samples' range, in the data's units.

    Returns
    -------
    matplotlib.axes.Axes
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] < 1:
        raise ValueError(f"X: expected shape (n_samples, 2) (a decision boundary is drawn "
                         f"for two features), got {X.shape}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X: expected numbers, got dtype {X.dtype}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y: expected shape ({X.shape[0]},), got {y.shape}")
    if not hasattr(model, "predict"):
        raise TypeError(f"model: expected an object with predict(X), got "
                        f"{type(model).__name__}")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) \
            or resolution < 2:
        raise ValueError(f"resolution: expected an integer >= 2, got {resolution!r}")
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(low[0], high[0], resolution),
                         np.linspace(low[1], high[1], resolution))
    grid = np.c_[xx.ravel(), yy.ravel()].astype(X.dtype if X.dtype.kind == "f" else float)
    predicted = np.asarray(model.predict(grid))
    if predicted.shape != (grid.shape[0],):
        raise ValueError(f"model: predict on {grid.shape[0]} points returned shape "
                         f"{predicted.shape}, expected one label per point")
    # labels of any kind (strings too) as indices into the classes seen
    numeric = y.dtype.kind in "biuf" and predicted.dtype.kind in "biuf"
    y_keys, predicted_keys = ((y.astype(np.float64), predicted.astype(np.float64)) if numeric
                              else (y.astype(str), predicted.astype(str)))
    classes = np.unique(np.concatenate([y_keys, predicted_keys]))
    region = np.searchsorted(classes, predicted_keys).reshape(xx.shape)
    colour = np.searchsorted(classes, y_keys)
    ax = _axes(ax)
    cmap = "Spectral" if len(classes) > 2 else "coolwarm"
    ax.contourf(xx, yy, region, levels=np.arange(len(classes) + 1) - 0.5, cmap=cmap,
                alpha=0.4)
    ax.scatter(X[:, 0], X[:, 1], c=colour, cmap=cmap, vmin=0, vmax=max(len(classes) - 1, 1),
               s=12, edgecolors="k", linewidths=0.3)
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title("Decision boundary")
    return ax
