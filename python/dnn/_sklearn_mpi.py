"""The collective pieces of :mod:`dnn.sklearn`'s ``fit(X, y, *, comm=comm)`` and
``partial_fit(..., comm=comm)``: every rank of an mpi4py communicator passes
its own rows; what one process would decide from all the rows is decided
from every rank's share.

- :func:`checked`: the communicator, once every rank has called ``fit``
  (a stall warning and a start timeout rather than a wait for ever).
- :func:`gather`: each rank's local checks end in one agreement (every rank
  raises if any failed: that rank its own error, the others
  :class:`dnn.distributed.DistributedError`), so that no rank waits for ever;
  with ``comm=None`` it is the single process's own view.
- :func:`compare`: the estimator's parameters, features, dtype and the like,
  which must be the same on every rank.
- :func:`union_labels`: the classes are the union of the ranks' labels.
- :func:`union_accuracy`, :func:`union_r2`: the validation scores over the
  union of the ranks' validation rows (sums reduced with ``Allreduce``).
- :func:`union_mean`: a mean over the union of the ranks' rows.
- :func:`LbfgsObjective`: the full-batch cost and gradient of the union.

The arithmetic is done from reduced sums, identical on every rank, so every
rank takes the same decisions.
"""
import zlib

import numpy as np
from sklearn.utils.multiclass import unique_labels

from dnn.distributed import DistributedError, agree, checked_comm, wait_for_ranks

__all__ = ["checked", "gather", "compare", "union_labels", "union_accuracy", "union_r2",
           "union_mean", "reduce_sum", "LbfgsObjective", "check_same_parameters", "rank"]


def checked(comm):
    """None, or ``comm`` once every rank has arrived, if it is an mpi4py
    intra-communicator (TypeError naming ``comm`` otherwise).

    The start of every ``fit`` and ``partial_fit`` with ``comm``: the ranks
    meet through :func:`dnn.distributed.wait_for_ranks` (a non-blocking
    barrier: a warning after ``DNN_MPI_STALL_WARNING_SECONDS``, the job
    aborted after ``DNN_MPI_START_TIMEOUT_SECONDS``), which returns the
    communicator wrapped so that the fit's epochs (each a
    ``Network.fit(..., comm=)``) do not wait again.
    """
    if comm is None:
        return None
    return wait_for_ranks(checked_comm(comm), "fit(..., comm=) or partial_fit(..., comm=)")


def rank(comm):
    """This process's rank (0 without a communicator)."""
    return 0 if comm is None else comm.Get_rank()


def gather(comm, failure, when, payload):
    """Every rank's ``payload`` (rank order) once the ranks agree that none
    failed; else raise on every rank. Without ``comm``: ``[payload]``, or
    ``failure`` raised."""
    if comm is None:
        if failure is not None:
            raise failure
        return [payload]
    return agree(comm, failure, when, payload)


def compare(values, name, what=None, shown=repr):
    """ValueError naming ``name`` unless every rank's value equals rank 0's
    (the values quoted by ``shown``: str for values that are reprs already)."""
    for r, value in enumerate(values[1:], start=1):
        if value != values[0]:
            raise ValueError(f"{name}: every rank must fit with the same {what or name}; "
                             f"rank {r} has {shown(value)}, rank 0 {shown(values[0])}")


def union_labels(summaries):
    """The labels of the union of the ranks' classification targets.

    Parameters
    ----------
    summaries : list of (str, ndarray)
        Each rank's ``(type_of_target, classes)``, as its own
        ``LabelBinarizer`` fitted on its ``y`` has them.

    Returns
    -------
    (bool, ndarray)
        Whether the targets are multilabel indicator matrices, and the
        classes: the union of the ranks' labels (multilabel: the columns,
        which must agree).
    """
    kinds = [kind for kind, _ in summaries]
    multilabel = [kind.startswith("multilabel") for kind in kinds]
    if any(multilabel):
        if not all(multilabel):
            r = multilabel.index(not multilabel[0])
            raise ValueError(f"y: every rank must pass the same kind of targets; rank {r} "
                             f"has {kinds[r]} targets, rank 0 {kinds[0]}")
        compare([len(classes) for _, classes in summaries], "y", "number of labels (columns)")
        return True, summaries[0][1]
    try:
        return False, unique_labels(*[classes for _, classes in summaries])
    except ValueError as error:
        raise ValueError(f"y: the ranks' labels cannot be joined: {error}") from None


def reduce_sum(comm, values):
    """The sum over the ranks of a float64 array (a copy without ``comm``)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if comm is None:
        return values.copy()
    total = np.empty_like(values)
    comm.Allreduce(values, total)
    return total


def union_mean(comm, value, count):
    """``sum(value_r * count_r) / sum(count_r)`` over the ranks: the mean over
    the union of the ranks' rows of a per-rank mean ``value`` of ``count``
    rows."""
    total = reduce_sum(comm, [value * count, count])
    return float(total[0] / total[1])


def _weights(n, sample_weight):
    return np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)


def union_accuracy(comm, y, predictions, sample_weight, finite):
    """scikit-learn's ``accuracy_score`` over the union of the ranks' rows
    (subset accuracy for multilabel): the weight of the rows predicted right
    over the total weight; NaN if the predictions of any rank are not finite.
    """
    w = _weights(len(y), sample_weight)
    if finite:
        right = np.asarray(y) == np.asarray(predictions)
        if right.ndim > 1:
            right = right.all(axis=1)
        local = [float(np.dot(right.astype(np.float64), w)), float(np.sum(w))]
    else:
        local = [np.nan, float(np.sum(w))]
    total = reduce_sum(comm, local)
    return float(total[0] / total[1])


def union_r2(comm, y, predictions, sample_weight, finite):
    """scikit-learn's ``r2_score`` (``multioutput="uniform_average"``,
    ``force_finite=True``) over the union of the ranks' rows: the weighted
    mean of each output first, then the residual and total sums of squares,
    each reduced over the ranks; NaN if any rank's predictions are not
    finite."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    w = _weights(len(y), sample_weight)
    p = np.asarray(predictions, dtype=np.float64).reshape(y.shape) if finite else None
    first = reduce_sum(comm, np.concatenate([[np.sum(w)], w @ y]) if finite
                       else np.full(1 + y.shape[1], np.nan))
    mean = first[1:] / first[0]
    if not np.all(np.isfinite(first)):
        return np.nan
    sums = reduce_sum(comm, np.concatenate([w @ (y - p) ** 2, w @ (y - mean) ** 2]))
    numerator, denominator = sums[:y.shape[1]], sums[y.shape[1]:]
    scores = np.ones(y.shape[1])
    valid = (numerator != 0) & (denominator != 0)
    scores[valid] = 1 - numerator[valid] / denominator[valid]
    scores[(numerator != 0) & (denominator == 0)] = 0.0
    return float(np.mean(scores))


def check_same_parameters(comm, flat):
    """DistributedError on every rank unless every rank holds the same
    parameter vector ``flat`` (a checksum compared)."""
    if comm is None:
        return
    checks = comm.allgather(zlib.crc32(np.ascontiguousarray(flat).view(np.uint8)))
    if len(set(checks)) > 1:
        raise DistributedError("fit: the ranks' parameters differ after lbfgs (the MPI "
                               "library's Allreduce gave the ranks different sums)")


class LbfgsObjective:
    """The full-batch cost and gradient of the union of the ranks' rows at a
    flat parameter vector, for ``scipy.optimize.minimize(jac=True)``.

    Each rank computes its rows' weighted mean cost and gradient with the
    network (:meth:`dnn.Network.loss_and_gradient`) with its share
    ``alpha * w_r / w`` of the L2 term (``w_r``: its total weight, ``w``: the
    union's), weighs them by ``w_r``; one ``Allreduce`` sums them (and a
    failure flag) and every rank divides by ``w``: the union's cost
    ``sum_i w_i loss_i / w + alpha / (2 w) sum ||W||^2`` and its gradient, the
    same bits on every rank, so that every rank's L-BFGS-B takes the same
    path.

    Parameters
    ----------
    comm : mpi4py intra-communicator or None
    network : dnn.Network
    X, targets, sample_weight
        This rank's rows, as :meth:`dnn.Network.loss_and_gradient` takes them.
    alpha : float
    total_weight : float
        The union's total weight (or number of rows).
    interrupted : list of one bool
        Set by a SIGINT (:func:`dnn.distributed.sigint_flag`): every rank then
        raises KeyboardInterrupt at the same evaluation.
    """

    def __init__(self, comm, network, X, targets, sample_weight, alpha, total_weight,
                 interrupted):
        self.comm, self.network = comm, network
        self.X, self.targets, self.sample_weight = X, targets, sample_weight
        self.alpha, self.total_weight = alpha, float(total_weight)
        self.weight = float(X.shape[0] if sample_weight is None else np.sum(sample_weight,
                                                                              dtype=np.float64))
        self.interrupted = interrupted
        n = network.n_parameters
        self.send = np.zeros(n + 3)
        self.total = np.zeros(n + 3)

    def __call__(self, flat):
        n = self.network.n_parameters
        failure = None
        send = self.send
        send[:] = 0.0
        try:
            if self.weight > 0:
                cost, gradient = self.network.loss_and_gradient(
                    flat, self.X, self.targets, self.alpha * self.weight / self.total_weight,
                    self.sample_weight)
                send[:n] = gradient
                send[:n] *= self.weight
                send[n] = cost * self.weight
        except Exception as error:
            failure = error
            send[:] = 0.0
            send[n + 1] = 1.0
        send[n + 2] = 1.0 if self.interrupted[0] else 0.0
        self.comm.Allreduce(send, self.total)
        if self.total[n + 1] > 0:
            agree(self.comm, failure, "computing the lbfgs cost")
        if self.total[n + 2] > 0:
            raise KeyboardInterrupt()
        cost = float(self.total[n]) / self.total_weight
        if not np.isfinite(cost):
            # a step too far: L-BFGS-B's line search backs off from an infinite cost
            return np.inf, np.zeros(n)
        return cost, self.total[:n] / self.total_weight
