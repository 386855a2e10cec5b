"""Data-parallel training over MPI: ``Network.fit(X_local, y_local, ..., comm=comm)``.

Every rank of the communicator passes its own rows. Step ``k`` of an epoch
takes, on every rank ``r``, the ``k``-th batch of ``batch_size`` rows of that
rank's own rows (in their order with ``shuffle=False``, else in the order
:func:`epoch_order` gives for that rank and epoch); the union of those
batches is the step's batch. Each rank computes the mean gradient of its
batch with the engine (:meth:`dnn_core.Engine.compute_gradients`), weighs it
by the batch's size (or total sample weight); one ``Allreduce`` sums the
weighted gradients, the weighted costs and the weights (plus two flags: a
Ctrl-C, a failure), and every rank divides by the total weight, adds the l2
term of the union batch and applies the same optimizer step
(:func:`dnn_core.optimizer_step`, the engine's own kernel). N ranks thus
reach the parameters of one process trained on the union batches (to
rounding), and every rank holds the same parameters (rank 0's initial
parameters and optimizer state are broadcast first).

An epoch has as many steps as the rank with the most batches; a rank whose
rows have run out contributes nothing to the last steps. Decisions are
collective: the arguments are checked on every rank and compared across
ranks before the first step (a rank that fails makes every rank raise);
validation scores, early stopping, callbacks' requests to stop, divergence
and Ctrl-C (a SIGINT to any rank's process) are agreed upon, so that every
rank leaves ``fit`` the same way. A failure that cannot be agreed upon (an
exception inside the loop outside those points) aborts the MPI job with a
message rather than leave the other ranks waiting for ever.

The ranks meet first (:func:`wait_for_ranks`: a non-blocking barrier polled
with sleeps): a rank that never calls ``fit`` (it raised before, is stuck
loading its data, or took another code path) makes the waiting ranks print
a warning after ``DNN_MPI_STALL_WARNING_SECONDS`` (default 60; rank 0 names
the ranks it has not heard from) and abort the MPI job after
``DNN_MPI_START_TIMEOUT_SECONDS`` (default 1800; ``0`` or ``none``: never).
In the loop, a watchdog thread (:class:`dnn._mpi_waits.StallWatch`) does the
same for a rank waiting in one of its collectives (a step's Allreduce, the
validation scores, the epoch's end, the checkpoint) for another rank that
stopped or hangs: the warning after ``DNN_MPI_STALL_WARNING_SECONDS``, the
abort after ``DNN_MPI_STALL_TIMEOUT_SECONDS`` (default 1800).

Divergence (a union cost, or parameters or moments at the end of an epoch,
that are not finite) puts every rank back to the state at the end of the
fit's lowest-cost epoch (or at its start) and raises DivergenceError. Not
with dropout or batch norm. Ctrl-C at ``mpirun`` itself makes Open MPI kill
the job; a SIGINT delivered to the ranks (``kill -INT``, or a launcher that
forwards it) gives the collective stop.
"""
import contextlib
import math
import random
import signal
import sys
import threading
import time
import zlib

import numpy as np

import dnn_core

from dnn import _fit_loop as fit_loop
from dnn import _fit_settings as fit_settings
from dnn._history import DivergenceError, History, divergence_message
from dnn._mpi_waits import (START_TIMEOUT_VARIABLE, STALL_TIMEOUT_VARIABLE,
                            STALL_WARNING_VARIABLE, StallWatch, stall_limits, start_limits,
                            wait_for_ranks)
from dnn._sparse_input import is_sparse

__all__ = ["DistributedError", "DistributedTraining", "START_TIMEOUT_VARIABLE",
           "STALL_TIMEOUT_VARIABLE", "STALL_WARNING_VARIABLE", "agree", "checked_comm",
           "epoch_order", "sigint_flag", "stall_limits", "start_limits", "steps_per_epoch",
           "union_rows", "wait_for_ranks"]

#: the methods a communicator must have (mpi4py's Intracomm)
COMM_METHODS = ("Get_rank", "Get_size", "Allreduce", "allgather", "bcast", "Bcast", "Abort")


class DistributedError(RuntimeError):
    """Another rank failed, or the ranks' arguments disagree: raised on the
    ranks that did not fail themselves (the failing rank raises its own
    error)."""


def epoch_order(seed, rank, epoch, m):
    """The order in which rank ``rank`` takes its ``m`` rows in ``epoch`` (the
    network's epoch count, ``epochs_``) when a distributed fit shuffles.

    Parameters
    ----------
    seed : int
        The fit's shuffle seed: rank 0's network ``seed``, or a number rank 0
        drew when its seed is None (broadcast to all ranks).
    rank, epoch, m : int

    Returns
    -------
    ndarray of intp, shape (m,)
        ``np.random.default_rng([seed, rank, epoch]).permutation(m)``.
    """
    return np.random.default_rng([int(seed), int(rank), int(epoch)]).permutation(int(m))


def union_rows(sizes, batch_size, orders=None):
    """The rows of each step's union batch, as indices into the ranks' rows
    concatenated in rank order (the single-process reference).

    Parameters
    ----------
    sizes : sequence of int
        Each rank's number of training rows.
    batch_size : int or None
        Per rank (None: each rank's whole set, one step).
    orders : sequence of arrays or None
        Each rank's order of its rows in this epoch (:func:`epoch_order`), or
        None for their own order (``shuffle=False``).

    Returns
    -------
    list of ndarray
        Step k's rows: rank 0's k-th batch, then rank 1's, ...
    """
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
    batches = [m if batch_size is None else min(m, batch_size) for m in sizes]
    steps = []
    for k in range(steps_per_epoch(sizes, batch_size)):
        parts = []
        for r, (m, b) in enumerate(zip(sizes, batches)):
            order = np.arange(m) if orders is None else np.asarray(orders[r])
            parts.append(offsets[r] + order[k * b:(k + 1) * b])
        steps.append(np.concatenate(parts).astype(np.intp))
    return steps


def steps_per_epoch(sizes, batch_size):
    """Steps of an epoch: the most batches any rank has (``sizes``: each
    rank's rows; ``batch_size`` per rank, None for full batch)."""
    return max((1 if batch_size is None else -(-m // batch_size)) if m else 0
               for m in sizes)


def checked_comm(comm):
    """``comm`` if it is an intra-communicator (mpi4py's), else TypeError."""
    missing = [name for name in COMM_METHODS if not hasattr(comm, name)]
    if missing or getattr(comm, "is_inter", False):
        raise TypeError(f"comm: expected an mpi4py intra-communicator such as "
                        f"MPI.COMM_WORLD, got {type(comm).__name__}"
                        + (f" (without {', '.join(missing)})" if missing else
                           " (an inter-communicator)"))
    return comm


def _describe(error):
    return None if error is None else f"{type(error).__name__}: {error}"


def agree(comm, failure, when, payload=None):
    """Every rank's ``payload``, gathered (a list in rank order), once every
    rank has done its part: if any rank failed, every rank raises.

    Parameters
    ----------
    comm : mpi4py intra-communicator
    failure : Exception or None
        This rank's failure (an exception it caught), or None.
    when : str
        What the ranks were doing, for the message ("checking its input").
    payload : picklable object

    Returns
    -------
    list
        Every rank's payload, in rank order.

    Raises
    ------
    Exception
        The failing rank raises its own ``failure``; the others
        :class:`DistributedError` quoting the first failing rank's error.
    """
    try:
        return _agree(comm, failure, when, payload)
    except _Agreed as agreed:
        raise agreed.error from None


def _agree(comm, failure, when, payload=None):
    """Every rank's (failure, payload), gathered; if any rank failed, raise on
    every rank: the failing rank its own error, the others DistributedError."""
    gathered = comm.allgather((_describe(failure), payload))
    failed = [(rank, text) for rank, (text, _) in enumerate(gathered) if text is not None]
    if failed:
        if failure is not None:
            raise _Agreed(failure)
        rank, text = failed[0]
        raise _Agreed(DistributedError(f"fit: rank {rank} of {len(gathered)} failed {when}: "
                                       f"{text}"))
    return [item for _, item in gathered]


def _signature(network, plan, arguments):
    """What every rank must share: the network's architecture and the fit's
    settings (each rank's own data and its sizes aside)."""
    settings = {key: value for key, value in plan.settings.items()
                if key not in ("batch_size", "target_scale", "n_threads",
                               "shuffle_block", "shuffle_window", "optimizer_object")}
    settings["keep"] = None if settings["keep"] is None else tuple(settings["keep"])
    # ("blocks", the default for a memmap, is the same row permutation here)
    settings["shuffle"] = settings["shuffle"] != 0
    stopping = plan.early_stopping
    return {"network": (tuple(network.layer_dims), tuple(network.activations),
                        network.output, network.dtype.name, network.slope,
                        network.n_parameters),
            "epochs": plan.epochs, "batch_size": arguments[3],
            "settings": tuple(sorted(settings.items())),
            "sample_weight": plan.data[3] is not None,
            "validation": plan.validation is not None,
            "early_stopping": None if stopping is None else (stopping.patience,
                                                             stopping.min_delta),
            "checkpoint": plan.checkpoint is not None}


def _compare(signatures):
    for rank, signature in enumerate(signatures[1:], start=1):
        for key, value in signature.items():
            if value != signatures[0][key]:
                name = {"network": "the network (layer_dims, activation, output, dtype, "
                                   "slope)", "settings": "optimizer, learning_rate, l2, "
                                   "keep_prob or shuffle"}.get(key, key)
                raise ValueError(f"comm: every rank must call fit with the same network "
                                 f"and settings; rank {rank} differs from rank 0 in {name}: "
                                 f"{value!r} against {signatures[0][key]!r}")


@contextlib.contextmanager
def sigint_flag():
    """Within, SIGINT sets ``flag[0]`` instead of raising (main thread only;
    elsewhere Python delivers no SIGINT anyway), so that the ranks can agree
    to stop together (a context manager yielding the one-element list)."""
    flag = [False]
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        flag[0] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


class _Agreed(Exception):
    """Wraps an exception that every rank raises together."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


class DistributedTraining:
    """:meth:`dnn.Network.fit` with ``comm``: a base of :class:`dnn.Network`,
    whose attributes it reads (its engine, engine lock, optimizer state, and
    the public training surface)."""

    def _fit_distributed(self, comm, arguments, verbose, reinitialize):
        """fit(*arguments, comm=comm); ``arguments`` in fit_plan's order."""
        comm = checked_comm(comm)
        rank, size = comm.Get_rank(), comm.Get_size()
        with contextlib.ExitStack() as stack:
            interrupted = stack.enter_context(sigint_flag())
            failure = signature = m = limits = None
            try:
                limits = stall_limits()
                plan = fit_settings.fit_plan(self, *arguments)
                X = plan.data[0]
                if plan.settings["keep"] is not None and min(plan.settings["keep"]) < 1:
                    raise ValueError("keep_prob: dropout is not supported with comm "
                                     "(each rank would draw its own masks); got "
                                     f"{arguments[7]!r}")
                if any(self.batch_norm):
                    raise ValueError("comm: batch normalization is not supported with comm "
                                     "(its statistics would be each rank's batch's)")
                if self.first_layer == "dual":
                    raise ValueError("first_layer: 'dual' is not supported with comm (each "
                                     "rank's dual features are its own rows'); use 'auto' "
                                     "or 'primal'")
                signature, m = _signature(self, plan, arguments), X.shape[0]
                stack.enter_context(self.training(plan.settings["batch_size"],
                                                  sparse_input=is_sparse(X)))
            except Exception as error:
                failure = error
            # (the first collective: through a barrier with a stall warning and a timeout)
            comm = wait_for_ranks(comm, "fit(..., comm=)", interrupted=interrupted)
            try:
                gathered = _agree(comm, failure, "its checks before training", (signature, m))
            except _Agreed as agreed:
                raise agreed.error from None
            _compare([item[0] for item in gathered])
            sizes = [item[1] for item in gathered]
            return self._distributed_epochs(comm, plan, sizes, arguments[3], verbose,
                                            reinitialize, interrupted, limits)

    def _distributed_epochs(self, comm, plan, sizes, batch_size, verbose, reinitialize,
                            interrupted, limits):
        rank, size = comm.Get_rank(), comm.Get_size()
        engine = self._engine
        settings = plan.settings
        self.first_layer_ = "primal"
        try:
            if reinitialize:
                self.initialize()
            changed = settings["optimizer_object"] != self._optimizer
            if any(comm.allgather(changed)):
                self._reset_optimizer(settings["optimizer_object"])
            with self._engine_lock:
                comm.Bcast(engine.parameters, root=0)
                comm.Bcast(engine.moments, root=0)
                engine.step_count = comm.bcast(engine.step_count, root=0)
            seed = comm.bcast(self.seed if self.seed is not None
                              else random.randrange(2 ** 63), root=0)
            history = self.history_ = History()
            self.stop_training = False
            with StallWatch(comm, limits) as watch:
                loop = _Loop(self, engine, self._engine_lock, self._scores, comm, plan, sizes,
                             batch_size, seed, interrupted, watch)
                best = loop.run(history, verbose and rank == 0)
        except _Agreed as agreed:
            raise agreed.error from None
        except BaseException as error:
            # (a failure the other ranks cannot know of: they would wait for ever)
            sys.stderr.write(f"dnn: rank {rank} of {size}: fit failed with "
                             f"{_describe(error)}; aborting the MPI job, whose other ranks "
                             f"would otherwise wait for this one for ever\n")
            sys.stderr.flush()
            comm.Abort(1)
            raise
        if best is not None:
            with self._engine_lock:
                engine.parameters[...] = best
        return history


class _Loop:
    """The epochs of one distributed fit (see the module's docstring)."""

    def __init__(self, network, engine, lock, scores, comm, plan, sizes, batch_size, seed,
                 interrupted, watch):
        self.network, self.engine, self.lock, self.comm = network, engine, lock, comm
        self.watch = watch
        self.epoch = None
        self.scores = scores
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.plan, self.sizes, self.seed = plan, sizes, seed
        self.interrupted = interrupted
        settings = plan.settings
        self.X, self.T, self.labels, self.weights = plan.data
        self.m = self.X.shape[0]
        self.batch = settings["batch_size"]
        self.n_steps = steps_per_epoch(sizes, batch_size)
        # without sample weights, each step's total weight is known beforehand: the
        # ranks send gradients already divided by it (one pass less a step)
        self.union_weights = None
        if self.weights is None:
            batches = [m if batch_size is None else min(m, batch_size) for m in sizes]
            self.union_weights = [sum(min(b, max(0, m - k * b)) for m, b in zip(sizes, batches))
                                  for k in range(self.n_steps)]
        self.first = network.epochs_
        self.shuffle = settings["shuffle"] != 0 and self.batch < self.m
        n = self.engine.size
        dtype = network.dtype
        self.send = np.zeros(n + 4, dtype=dtype)
        self.total = np.zeros(n + 4, dtype=dtype)
        self.gradient = self.total[:n]
        self.rows_buffer = None
        self.weight_ranges = [slice(offset, offset + a * b) for offset, a, b in zip(
            self.engine.weight_offsets, network.layer_dims[1:], network.layer_dims[:-1])]

    # -- one step --------------------------------------------------------------

    def _local_gradient(self, rows, k):
        """Fill send with this rank's weighted gradient (divided by step k's
        total weight when it is known beforehand), cost and weight."""
        n = self.engine.size
        send = self.send
        send[n:] = 0
        weight = 0.0
        if rows is not None:
            weights = None if self.weights is None else self.weights[rows]
            weight = float(len(range(self.m)[rows]) if isinstance(rows, slice) else len(rows))
            if weights is not None:
                weight = float(np.sum(weights, dtype=np.float64))
        if weight <= 0:
            send[:n] = 0
            return
        X = self._gather(rows)
        T = None if self.T is None else self.T[rows]
        labels = None if self.labels is None else self.labels[rows]
        with self.lock:
            cost = self.engine.compute_gradients(X, T, labels, 0.0, sample_weight=weights)
            np.multiply(self.engine.gradients, weight if self.union_weights is None
                        else weight / self.union_weights[k], out=send[:n])
        send[n] = cost * weight
        send[n + 1] = weight

    def _gather(self, rows):
        """This rank's rows of X: a view for a slice, else copied into a buffer
        kept from step to step (an array) or taken by fancy indexing."""
        X = self.X
        if isinstance(rows, slice) or type(X) is not np.ndarray:
            return X[rows]
        if self.rows_buffer is None:
            self.rows_buffer = np.empty((self.batch, X.shape[1]), dtype=X.dtype)
        out = self.rows_buffer[:len(rows)]
        np.take(X, rows, axis=0, out=out)
        return out

    def _step(self, rows, rate, k):
        """One collective step; return (cost, weight) of the union batch
        (weight 0: skipped)."""
        n = self.engine.size
        failure = None
        try:
            self._local_gradient(rows, k)
        except Exception as error:
            failure = error
            self.send[:] = 0
            self.send[n + 3] = 1
        self.send[n + 2] = 1 if self.interrupted[0] else 0
        self.watch.enter("the step's Allreduce", self.epoch, k)
        self.comm.Allreduce(self.send, self.total)
        self.watch.leave()
        total = self.total
        if total[n + 3] > 0:
            self._agree("the step's agreement on a failure", failure, "in a training step")
        if total[n + 2] > 0:
            raise _Agreed(KeyboardInterrupt())
        weight = float(total[n + 1])
        if weight <= 0:
            return 0.0, 0.0
        params = self.engine.parameters
        l2 = self.plan.settings["l2"]
        cost = float(total[n]) / weight
        if l2:
            cost += l2 / (2 * weight) * sum(
                float(np.dot(params[part], params[part])) for part in self.weight_ranges)
        if not math.isfinite(cost):
            return cost, weight
        gradient = self.gradient
        if self.union_weights is None:
            gradient /= total.dtype.type(weight)
        if l2:
            for part in self.weight_ranges:
                gradient[part] += total.dtype.type(l2 / weight) * params[part]
        s = self.plan.settings
        with self.lock:
            self.engine.step_count += 1
            dnn_core.optimizer_step(s["optimizer"], params, gradient, self.engine.moments[0],
                                    self.engine.moments[1], rate, s["beta1"], s["beta2"],
                                    s["epsilon"], self.engine.step_count)
        return cost, weight

    def _agree(self, watched, failure, when, payload=None):
        """:func:`_agree` over the ranks, the wait watched as ``watched``."""
        self.watch.enter(watched, self.epoch)
        try:
            return _agree(self.comm, failure, when, payload)
        finally:
            self.watch.leave()

    def _rows(self, order, k):
        start = k * self.batch
        if start >= self.m:
            return None
        stop = min(self.m, start + self.batch)
        return slice(start, stop) if order is None else order[start:stop]

    # -- epochs ----------------------------------------------------------------

    def _snapshot(self):
        engine = self.engine
        return (engine.parameters.copy(), engine.moments.copy(), engine.step_count,
                self.network.epochs_)

    def _restore(self, snapshot):
        engine = self.engine
        with self.lock:
            engine.parameters[...] = snapshot[0]
            engine.moments[...] = snapshot[1]
            engine.step_count = snapshot[2]
            self.network.epochs_ = snapshot[3]

    def _state_nonfinite(self):
        return (dnn_core.has_nonfinite(self.engine.parameters)
                or dnn_core.has_nonfinite(self.engine.moments.reshape(-1)))

    def _diverge(self, snapshot, e, history):
        self._restore(snapshot)
        s = self.plan.settings
        raise _Agreed(DivergenceError(divergence_message(
            e + 1, snapshot[3] - self.first,
            s["learning_rate"], s.get("target_scale", 0.0))))

    def _validation_scores(self):
        """The validation scores over every rank's validation rows."""
        X, T, labels = self.plan.validation
        m = X.shape[0]
        scores = self.scores(X, T, labels)
        keys = sorted(scores)
        local = np.array([scores[key] * m for key in keys] + [m], dtype=np.float64)
        total = np.empty_like(local)
        self.watch.enter("the validation scores' Allreduce", self.epoch)
        self.comm.Allreduce(local, total)
        self.watch.leave()
        return {key: float(total[i] / total[-1]) for i, key in enumerate(keys)}

    def run(self, history, verbose):
        """Train the plan's epochs; return the flat parameters of the best epoch
        (early stopping) or None."""
        network, engine, s = self.network, self.engine, self.plan.settings
        stopping, callbacks = self.plan.early_stopping, self.plan.callbacks
        snapshot, lowest = self._snapshot(), math.inf
        best = None
        bar = None
        if verbose:
            from tqdm.auto import tqdm
            bar = tqdm(total=self.plan.epochs, unit="epoch", desc=f"fit ({self.size} ranks)")
        try:
            for e in range(self.plan.epochs):
                epoch = self.epoch = network.epochs_
                began = time.perf_counter()
                rate = dnn_core.scheduled_rate(s["schedule"], s["learning_rate"],
                                               s["schedule_a"], s["schedule_b"], epoch)
                order = (epoch_order(self.seed, self.rank, epoch, self.m) if self.shuffle
                         else None)
                total = total_weight = 0.0
                for k in range(self.n_steps):
                    cost, weight = self._step(self._rows(order, k), rate, k)
                    if not math.isfinite(cost):
                        self._diverge(snapshot, e, history)
                    total += cost * weight
                    total_weight += weight
                if self._state_nonfinite():
                    self._diverge(snapshot, e, history)
                cost = total / total_weight if total_weight > 0 else 0.0
                with self.lock:
                    network.epochs_ += 1
                history.epoch.append(epoch)
                history.cost.append(cost)
                history.seconds.append(time.perf_counter() - began)
                if cost < lowest:
                    snapshot, lowest = self._snapshot(), cost
                best, stop = self._after_epoch(history, best, stopping, callbacks, bar)
                if stop:
                    break
        finally:
            if bar is not None:
                bar.close()
        return best

    def _after_epoch(self, history, best, stopping, callbacks, bar):
        """Validation, callbacks, early stopping, checkpoint: agreed upon.
        Return (best parameters, whether to stop)."""
        network = self.network
        failure, stop = None, False
        logs = fit_loop.epoch_logs(
            history, None if self.plan.validation is None else self._validation_scores())
        fit_loop.show_progress(bar, logs)
        try:
            for callback in callbacks:
                stop |= callback(history.epoch[-1], dict(logs)) is True
            stop |= bool(network.stop_training)
        except Exception as error:
            failure = error
        check = zlib.crc32(self.engine.parameters.view(np.uint8))
        gathered = self._agree("the epoch's end (callbacks, stopping, parameters' checksum)",
                               failure, "in a callback",
                               (stop, check, bool(self.interrupted[0])))
        if any(item[2] for item in gathered):
            raise _Agreed(KeyboardInterrupt())
        if len({item[1] for item in gathered}) > 1:
            raise _Agreed(DistributedError(
                "fit: the ranks' parameters differ after an epoch (the MPI library's "
                "Allreduce gave the ranks different sums)"))
        stop = any(item[0] for item in gathered)
        if stopping is not None:
            if stopping.update(logs.get("val_cost", logs["cost"])):
                best = network.flat_parameters
            elif stopping.stalled:
                history.stopped_early = stop = True
        checkpoint = self.plan.checkpoint
        if checkpoint is not None:
            last = stop or len(history) == self.plan.epochs
            failure = None
            if self.rank == 0 and (last or network.epochs_ % checkpoint[1] == 0):
                try:
                    network.save(checkpoint[0])
                except Exception as error:
                    failure = error
            self._agree("the checkpoint (rank 0 writes it)", failure,
                        "writing the checkpoint (rank 0 writes it)")
        network.stop_training = stop
        return best, stop
