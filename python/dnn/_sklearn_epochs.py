"""The epochs of :mod:`dnn.sklearn`'s sgd and adam solvers, the loss they
report as scikit-learn's MLPs report it, and the lists ``coefs_`` and
``intercepts_`` return.

An epoch runs in the engine in one call (:func:`engine_epoch`) wherever the
engine's epoch cost is scikit-learn's ``loss_``: the batches' costs averaged by
their total weights, which is scikit-learn's average by their numbers of
samples when every sample weighs the same. Otherwise (unequal sample weights;
a multi-output squared error, whose loss scikit-learn averages over the
outputs) :func:`batchwise_epoch` takes the same steps one engine call per
batch and averages scikit-learn's batch losses.
"""
import numpy as np

__all__ = ["Solver", "LayerList", "check_layer_shape", "engine_epoch", "batchwise_epoch",
           "distributed_batchwise_epoch", "l2_term", "output_mean_loss"]


class Solver:
    """The state of an sgd or adam fit across its epochs (and partial_fit calls).

    Attributes
    ----------
    rule : dnn.optimizers optimizer
        The engine's update rule.
    rate_factor : float
        What the engine's learning rate is this rate times (``1 / (1 -
        momentum)`` for the engine's averaged momentum, else 1).
    learning_rate : float
        The current learning rate, as scikit-learn's
        ``_optimizer.learning_rate`` has it (invscaling and adaptive change it).
    """

    def __init__(self, rule, rate_factor, learning_rate):
        self.rule = rule
        self.rate_factor = rate_factor
        self.learning_rate = learning_rate

    @property
    def engine_rate(self):
        """The learning rate handed to the engine."""
        return self.learning_rate * self.rate_factor


def check_layer_shape(name, layer, array, view):
    """ValueError naming ``name[layer]`` unless ``array`` has ``view``'s shape."""
    if array.shape != view.shape:
        raise ValueError(f"{name}[{layer}]: expected shape {view.shape}, got {array.shape}")


class LayerList(list):
    """The list ``coefs_`` or ``intercepts_`` returns: views of the network's
    parameters, one per layer; ``coefs_[i] = array`` copies ``array`` into the
    network, as it replaces the layer's array in scikit-learn."""

    def __init__(self, name, views):
        super().__init__(views)
        self.name = name

    def __setitem__(self, index, value):
        if isinstance(index, slice):
            raise TypeError(f"{self.name}: assign one layer (an integer index) or the "
                            f"whole list, not a slice")
        view = self[index]
        array = np.asarray(value)
        check_layer_shape(self.name, index, array, view)
        view[...] = array


def engine_epoch(network, solver, X, targets, sample_weight, batch_size, *, alpha,
                 keep_prob, shuffle, comm=None):
    """One epoch in the engine; its loss (the batches' costs averaged by weight).
    With ``comm``, one distributed epoch (:meth:`dnn.Network.fit`'s ``comm``:
    ``batch_size`` per rank, the union batches' costs averaged by weight)."""
    history = network.fit(X, targets, epochs=1, batch_size=batch_size, optimizer=solver.rule,
                          learning_rate=solver.engine_rate, l2=alpha, keep_prob=keep_prob,
                          shuffle=shuffle, sample_weight=sample_weight, comm=comm)
    return history.cost[-1]


def batchwise_epoch(network, solver, X, targets, sample_weight, batch_size, *, alpha,
                    keep_prob, shuffle, order_rng, n_outputs_averaged=1):
    """One epoch, one engine step a batch, and its loss as scikit-learn reports it.

    Each step is the engine's (the batch's weighted mean cost and gradient, its
    total weight in the L2 term, as scikit-learn's). The loss is scikit-learn's:
    each batch's loss (with its data term averaged over ``n_outputs_averaged``
    outputs, see :func:`output_mean_loss`), averaged by the batches' numbers of
    samples. The batches follow a permutation drawn from ``order_rng`` when
    ``shuffle`` is set.
    """
    n_samples = X.shape[0]
    order = order_rng.permutation(n_samples) if shuffle else None
    total = 0.0
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        rows = slice(start, stop) if order is None else order[start:stop]
        weights = None if sample_weight is None else sample_weight[rows]
        if n_outputs_averaged > 1:
            # (the L2 term at the parameters the batch's cost is computed at)
            penalty = l2_term(network, alpha, stop - start if weights is None
                              else float(np.sum(weights)))
        history = network.fit(X[rows], targets[rows], epochs=1, batch_size=None,
                              optimizer=solver.rule, learning_rate=solver.engine_rate,
                              l2=alpha, keep_prob=keep_prob, shuffle=False,
                              sample_weight=weights)
        cost = history.cost[-1]
        if n_outputs_averaged > 1:
            cost = output_mean_loss(cost, penalty, n_outputs_averaged)
        total += cost * (stop - start)
    return total / n_samples


def distributed_batchwise_epoch(network, solver, X, targets, sample_weight, batch_size, *,
                                alpha, keep_prob, shuffle, order_rng, n_outputs_averaged,
                                comm, sizes):
    """:func:`batchwise_epoch` over the ranks of ``comm``: step k is one
    distributed engine step (:meth:`dnn.Network.fit` with ``comm``) on the union
    of every rank's k-th batch of ``batch_size`` rows (of its own order,
    ``order_rng``'s permutation when ``shuffle``), and the loss is
    scikit-learn's over those union batches: each one's loss averaged by their
    numbers of rows.

    ``sizes`` are every rank's numbers of rows. A rank whose rows have run out
    takes part in the remaining steps with one row weighing 0; sample weights
    (ones where there are none) are always passed, so that every rank's fit
    has the same settings.
    """
    n_samples = X.shape[0]
    n_steps = max(-(-m // batch_size) for m in sizes)
    order = order_rng.permutation(n_samples) if shuffle else np.arange(n_samples)
    weights = (np.ones(n_samples, dtype=network.dtype) if sample_weight is None
               else sample_weight)
    counts = [sum(min(batch_size, max(0, m - k * batch_size)) for m in sizes)
              for k in range(n_steps)]
    union_weights = None
    if n_outputs_averaged > 1:
        local = np.zeros(n_steps)
        for k in range(n_steps):
            local[k] = np.sum(weights[order[k * batch_size:(k + 1) * batch_size]],
                              dtype=np.float64)
        union_weights = np.empty_like(local)
        comm.Allreduce(local, union_weights)
    total = 0.0
    for k in range(n_steps):
        rows = order[k * batch_size:(k + 1) * batch_size]
        w = weights[rows]
        if not len(rows):
            rows, w = order[:1], np.zeros(1, dtype=weights.dtype)
        if n_outputs_averaged > 1:
            # (the L2 term at the parameters the batch's cost is computed at)
            penalty = l2_term(network, alpha, union_weights[k])
        history = network.fit(X[rows], targets[rows], epochs=1, batch_size=None,
                              optimizer=solver.rule, learning_rate=solver.engine_rate,
                              l2=alpha, keep_prob=keep_prob, shuffle=False, sample_weight=w,
                              comm=comm)
        cost = history.cost[-1]
        if n_outputs_averaged > 1:
            cost = output_mean_loss(cost, penalty, n_outputs_averaged)
        total += cost * counts[k]
    return total / sum(counts)


def l2_term(network, alpha, total_weight):
    """The cost's L2 term, ``alpha / 2 * sum ||W[l]||^2 / total_weight``."""
    parameters = network.parameters
    squares = 0.0
    for layer in range(1, len(network.layer_dims)):
        weights = parameters[f"W{layer}"].ravel()
        squares += float(np.dot(weights, weights))
    return 0.5 * alpha * squares / total_weight


def output_mean_loss(cost, penalty, n_outputs):
    """scikit-learn's squared-error loss from the engine's: the data term (the
    cost without its L2 term ``penalty``) summed over ``n_outputs`` outputs
    becomes their mean."""
    return (cost - penalty) / n_outputs + penalty
