"""``dnn.Network``: a deep L-layer network trained by the compiled engine.

Data come in scikit-learn's layout, ``X`` of shape ``(n_samples, n_features)``
(the course's ``X.T``); the whole training loop runs in
:class:`dnn_core.Engine`, without the GIL.
"""
import contextlib
import os
import threading
import weakref

import numpy as np

from dnn_core import Engine, registry

from dnn import _fit_loop as fit_loop
from dnn import _fit_settings as fit_settings
from dnn import _model_file as model_file
from dnn import _batch_norm_network as batch_norm_network
from dnn import _doc as doc
from dnn import _dual as dual
from dnn import _threads as threads
from dnn import _validation as check
from dnn import optimizers
from dnn._history import DivergenceError, History, divergence_message
from dnn._files import file_name
from dnn._network_evaluation import NetworkEvaluation
from dnn.distributed import DistributedTraining
from dnn._network_files import NetworkFiles
from dnn._sparse_input import is_sparse
# (re-exported: their old home)
from dnn._history import TARGET_SCALE_WARNING  # noqa: F401
from dnn._model_file import FORMAT, FORMAT_VERSION  # noqa: F401
from dnn._streaming import SHUFFLE_BLOCK_BYTES, SHUFFLE_WINDOW  # noqa: F401
from dnn._threads import THREADED_GEMM_WORK  # noqa: F401
from dnn.functional import INITS, initialize_parameters, parameter_bytes

__all__ = ["Network", "History", "DivergenceError", "load"]

#: output activation -> the loss it is trained with
OUTPUTS = {name: row.loss for name, row in registry.OUTPUTS.items()}
#: the activations a hidden layer may have
HIDDEN = registry.hidden_activations()


#: every live Network, for the fork handler
_NETWORKS = weakref.WeakSet()


def _after_fork_in_child():
    """A child of fork has only the forking thread: locks that other threads held
    (a fit, a save) would stay locked for ever, so every network's are made anew."""
    for network in list(_NETWORKS):
        network._engine_lock = threading.Lock()
        network._fit_guard = threading.Lock()
        network._fitting = False
        network._engine.forget_busy()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Network(NetworkEvaluation, NetworkFiles, DistributedTraining):
    """A fully connected network: ``Z[l] = W[l] A[l-1] + b[l]``, ``A[l] = g(Z[l])``.

    Parameters
    ----------
    layer_dims : sequence of int
        ``[n_features, n_1, ..., n_out]``.
    activation : str or sequence of str
        Hidden activation (the hidden rows of ``dnn_core.registry.ACTIVATIONS``),
        one for all hidden layers or one per hidden layer, each one of
        {HIDDEN}.
    output : {OUTPUTS}
        Output activation; it fixes the loss (``dnn_core.registry.OUTPUTS``):

        {OUTPUT_LOSSES}

        (the values ``y`` takes for each: :meth:`fit`).
    init : {INITS}
        Weight initialization (see :func:`dnn.initialize_parameters`).
    dtype : {"float64", "float32"}
        Of the parameters and the arithmetic; inputs are converted to it.
    seed : int or None
        Seeds the initial weights, the shuffles and the dropout masks.
    slope : float
        Negative-side slope of "leaky_relu".
    n_threads : int or None
        Threads of a fit. Each training step is cut into this many row
        shards, run on the engine's own threads with single-threaded BLAS,
        their gradients summed in a fixed order (the parameters reached depend
        on the number of shards, never on timing, and equal one thread's to
        rounding; dropout masks do not depend on it). With batch norm too: the
        step runs in phases, each batch-norm layer's mean and variance (and its
        backward's sums) combined over the shards in shard order, so the
        statistics are the whole batch's. Without shards (a sparse X by
        default, steps too small to shard) and in predictions it is the most
        OpenBLAS threads a GEMM may use: those of ``m*n*k >=``
        ``dnn._threads.THREADED_GEMM_WORK`` use them, every other GEMM one
        (see :mod:`dnn._threads`). 1: one thread, never sharded. None: the
        CPUs this process may use, fewer shards for steps too small to gain (a
        higher cut-off with batch norm, whose phases cost more wake-ups; see
        :func:`dnn._threads.shard_count`). Limits set with threadpoolctl (or
        OPENBLAS_NUM_THREADS) are honoured.
    first_layer : {"auto", "primal", "dual"}
        How a fit trains layer 1 (issue 14, :mod:`dnn._dual`): "dual" keeps
        ``W1`` as its starting value plus ``M X^T`` and steps through the Gram
        matrix ``X X^T`` of the training rows (a step's first layer costs
        ``n1 x m x batch`` instead of ``n1 x n_features x batch``), exact to
        rounding with gd, momentum and Nesterov (not Adam, RMSProp, batch norm
        or sparse X: ValueError); "primal" the usual way; "auto" dual where it
        is exact and the cost model says it does less work (wide data: many
        more features than samples). ``W1`` is materialised after each
        training call, so parameters, predict and save read it as usual.
    batch_norm : bool or sequence of bool
        Batch normalization of all hidden layers, or one flag per hidden
        layer: ``Z~[l] = gamma[l] (Z[l] - mu) / sqrt(var + 1e-5) + beta[l]``
        between ``Z[l] = W[l] A[l-1]`` (no ``b[l]``) and ``A[l] = g(Z~[l])``.
        Training normalizes with each batch's statistics and updates the
        running ones (momentum 0.1, unbiased variance: :attr:`running_stats`),
        which predict, predict_proba and evaluate use; compute_gradients uses
        the batch's and leaves the running ones.

    Attributes
    ----------
    parameters : dict
        ``{"W1": (n1, n0), "b1": (n1, 1), ...}``: VIEWS of the engine's flat
        buffer (writing into them changes the network; copy them to keep a
        snapshot). Assigning a dict of that shape copies it in.
        A batch-norm layer l has ``gamma{l}``, ``beta{l}`` (n_l, 1) and no
        ``b{l}``.
    batch_norm : tuple of bool
        Per hidden layer, whether it is batch normalized.
    history_ : History
        Of the last fit() (also after it was interrupted or diverged).
    epochs_ : int
        Epochs trained since the parameters were initialized.
    first_layer_ : {"primal", "dual"}
        How the last fit trained layer 1 (see ``first_layer``).
    """

    def __init__(self, layer_dims, activation="relu", output="sigmoid", init="he",
                 dtype="float64", seed=None, slope=0.01, n_threads=None, batch_norm=False,
                 first_layer="auto"):
        dims = check.layer_dims(layer_dims)
        #: how fit trains layer 1: "auto", "primal" or "dual" (issue 14, dnn._dual)
        self.first_layer = check.choice(first_layer, "first_layer", dual.FIRST_LAYERS)
        n_hidden = len(dims) - 2
        #: per hidden layer, whether it is batch normalized (a tuple of bools)
        self.batch_norm = batch_norm_network.check_batch_norm(batch_norm, n_hidden)
        names = check.per_hidden_layer(activation, "activation", n_hidden,
                                       isinstance(activation, str), "name")
        for index, name in enumerate(names):
            check.choice(name, "activation" if isinstance(activation, str)
                         else f"activation[{index}]", HIDDEN)
        check.choice(output, "output", OUTPUTS)
        check.choice(init, "init", INITS)
        self.dtype = check.float_dtype(dtype)
        self.slope = check.real(slope, "slope")
        if n_threads is not None:
            n_threads = check.positive_int(n_threads, "n_threads")
        seed = check.seed(seed)
        check.network_memory(dims, self.dtype, parameter_bytes(dims, self.dtype))
        self.layer_dims = dims
        self.activations = names
        self.output = output
        self.loss = OUTPUTS[output]
        self.init = init
        self.seed = seed
        self.n_threads = n_threads
        self._rng = np.random.default_rng(seed)
        self._primal_engine = Engine(
            dims, [registry.ACTIVATIONS[name].code for name in names],
            registry.OUTPUTS[output].loss_code, self.slope, self.dtype,
            int(self._rng.integers(2 ** 63)))
        if any(self.batch_norm):
            self._primal_engine.enable_batch_norm(self.batch_norm)
        # issue 14: layer 1's dual form between fits (dnn._dual); _consecutive
        # counts the consecutive_fits blocks open
        self._first_layer = dual.FirstLayerState()
        self._consecutive = 0
        self._optimizer = None
        # _engine_lock is held around each call into the engine (so predict from
        # another thread waits for the current training call instead of failing);
        # _fitting marks a fit in progress (a second one, from another thread or
        # from a callback, is refused), set under _fit_guard.
        self._engine_lock = threading.Lock()
        self._fit_guard = threading.Lock()
        self._fitting = False
        _NETWORKS.add(self)
        self.history_ = History()
        self.stop_training = False
        #: JSON-able dict saved with the network and given back by load()
        self.metadata = {}
        self.initialize()

    # -- parameters -----------------------------------------------------------

    def initialize(self):
        """Draw new weights (zero biases) and forget the optimizer's state."""
        params = initialize_parameters(self.layer_dims, self.init, self._rng, self.dtype)
        if any(self.batch_norm):
            # gamma = 1, beta = 0 for batch-norm layers; running mean 0, variance 1
            params = batch_norm_network.initial_parameters(params, self.batch_norm)
            with self._engine_lock:
                batch_norm_network.reset_running_stats(self._engine, len(self.layer_dims) - 1)
        self._copy_in(params)
        self._reset_optimizer(None)
        self.epochs_ = 0
        return self

    def reset_optimizer(self):
        """Forget the optimizer's state (its moments and step count): the next
        fit starts its optimizer afresh, whichever it is."""
        self._reset_optimizer(None)

    def _reset_optimizer(self, optimizer):
        with self._engine_lock:
            self._engine.moments[...] = 0
            self._engine.step_count = 0
            self._optimizer = optimizer

    @property
    def _engine(self):
        # the engine, with any pending dual state written back (every reader of
        # the parameters, moments or step count goes through here)
        self._first_layer.sync()
        return self._primal_engine

    @contextlib.contextmanager
    def consecutive_fits(self):
        """A block of fits that continue one another on the same X (such as
        scikit-learn's one fit an epoch), X left unchanged by the caller.

        Inside, a fit whose first layer runs in its dual form (see
        ``first_layer``) leaves W1 unformed: the next fit on the same X goes
        on from the dual state, and W1 (with its velocity) is formed once,
        when anything reads the network (``parameters``, ``predict``,
        ``save``, ...) or when the block ends. Arrays taken from
        ``parameters`` before a fit in the block show the new values once
        the network is read again or the block ends.
        """
        self._consecutive += 1
        try:
            yield self
        finally:
            self._consecutive -= 1
            if not self._consecutive:
                with self._engine_lock:
                    self._first_layer.sync()

    @property
    def optimizer(self):
        """The :class:`dnn.optimizers.Optimizer` whose state the network holds
        (the last fit's, or a loaded file's), or None."""
        return self._optimizer

    @property
    def parameters(self):
        if any(self.batch_norm):
            return batch_norm_network.parameters_view(self._engine, len(self.layer_dims) - 1)
        engine = self._engine
        params = {}
        for layer in range(1, len(self.layer_dims)):
            params[f"W{layer}"] = engine.weight(layer)
            params[f"b{layer}"] = engine.bias(layer)
        return params

    def copy_parameters(self):
        """Copies of :attr:`parameters`, all taken at one moment (a fit in
        another thread is not halfway through a step).

        Returns
        -------
        dict
            ``{"W1": (n1, n0), "b1": (n1, 1), ...}``, fresh C-ordered arrays of
            the network's dtype.
        """
        with self._engine_lock:
            return {key: value.copy() for key, value in self.parameters.items()}

    @property
    def flat_parameters(self):
        """All parameters as one vector, shape ``(n_parameters,)``, in the
        network's dtype: ``W1`` (row by row), ``b1``, ``W2``, ``b2``, ...
        (a batch-norm layer's ``gamma{l}``, ``beta{l}`` in place of its ``b{l}``).

        Reading gives a copy (taken under the engine's lock); assigning an
        array_like of that shape (finite values, any float dtype) copies it in.
        """
        with self._engine_lock:
            return self._engine.parameters.copy()

    @flat_parameters.setter
    def flat_parameters(self, values):
        flat = self._flat_vector(values, "flat_parameters")
        check.check_finite(flat, "flat_parameters")
        with self._engine_lock:
            self._engine.parameters[...] = flat

    def _flat_vector(self, values, name):
        array = check.as_array(values, name)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected numeric values, got dtype {array.dtype}")
        if array.shape != (self.n_parameters,):
            raise ValueError(f"{name}: expected shape ({self.n_parameters},), "
                             f"got {array.shape}")
        return np.ascontiguousarray(array, dtype=self.dtype)

    @contextlib.contextmanager
    def training(self, batch_size=None, *, sparse_input=False, shards=1):
        """Hold the network for a training loop of the caller's own (such as
        scikit-learn's lbfgs solver over :meth:`loss_and_gradient`).

        Inside, :meth:`fit` (here or from another thread) is refused, and
        BLAS's threads are pinned as a fit on batches of ``batch_size`` pins
        them (``n_threads``, or chosen by the problem's size).

        Parameters
        ----------
        batch_size : int >= 1 or None
            Examples per cost evaluation; None: one thread unless
            ``n_threads`` says otherwise.
        sparse_input : bool
            The data are scipy.sparse: the first layer's work is not BLAS's
            and does not count towards the choice of threads.
        shards : int >= 1
            The row shards each step runs on, on the engine's own threads
            (see :func:`dnn._threads.shard_count`); above 1, BLAS keeps one
            thread (each shard's calls are single-threaded).
        """
        batch = 1 if batch_size is None else check.positive_int(batch_size, "batch_size")
        with self._fit_guard:
            if self._fitting:
                raise RuntimeError("this network is already being trained (in another "
                                   "thread, or fit() was called from a callback); use one "
                                   "network per thread")
            self._fitting = True
        try:
            with threads.limit(1 if shards > 1 else threads.thread_count(
                    (0, *self.layer_dims[1:]) if sparse_input else self.layer_dims, batch,
                    self.n_threads)):
                yield self
        finally:
            self._fitting = False

    @parameters.setter
    def parameters(self, params):
        self._copy_in(params)

    def _copy_in(self, params):
        if any(self.batch_norm):
            with self._engine_lock:
                batch_norm_network.copy_in(self._engine, params, self.layer_dims)
            return
        weights, biases = check.parameters_of(params, self.layer_dims)
        with self._engine_lock:
            for layer, (W, b) in enumerate(zip(weights, biases), start=1):
                self._engine.weight(layer)[...] = W
                self._engine.bias(layer)[:, 0] = b

    @property
    def running_stats(self):
        """The batch-norm layers' running statistics, which predict,
        predict_proba and evaluate use (training uses each batch's own, and
        updates these; compute_gradients uses the batch's and leaves these).

        Reading gives copies, ``{"running_mean{l}": (n_l, 1), "running_var{l}":
        (n_l, 1), ...}`` for each batch-norm layer l (empty without batch
        norm); assigning such a dict (finite, variances >= 0) copies it in.
        """
        with self._engine_lock:
            return batch_norm_network.running_stats(self._engine, len(self.layer_dims) - 1)

    @running_stats.setter
    def running_stats(self, stats):
        with self._engine_lock:
            batch_norm_network.set_running_stats(self._engine, stats, self.layer_dims)

    @property
    def n_parameters(self):
        return self._engine.size

    # -- data ----------------------------------------------------------------

    def _dataset(self, X, y, name_x="X", name_y="y"):
        """(X, T, labels) checked as the engine takes them (see
        :func:`dnn._fit_settings.checked_data`)."""
        return fit_settings.checked_data(self, X, y, name_x, name_y)

    # -- training ------------------------------------------------------------

    def fit(self, X, y, epochs=100, batch_size=None, optimizer="adam", learning_rate=None,
            l2=0.0, keep_prob=None, shuffle=True, validation_data=None,
            validation_split=0.0, early_stopping=False, patience=10, min_delta=0.0,
            callbacks=(), verbose=False, reinitialize=False, sample_weight=None,
            checkpoint=None, checkpoint_every=1, comm=None):
        """Train; continue from the current parameters (warm start) unless told
        to reinitialize.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            float32, float64 or uint8 with contiguous rows (any row stride: an
            ``np.memmap`` or a slice of one) is read as it is, each batch
            converted to the network's dtype while it is gathered: a dataset
            bigger than memory streams. Other dtypes and layouts are converted
            whole first.
            A scipy.sparse matrix or array is never densified: a CSR's rows
            are read in place by the first layer (int32 or int64 indices; its
            values converted to the network's dtype if they are in another);
            CSC, COO and the other formats are converted with ``.tocsr()``.
            This holds for every method that takes X.
        y : array_like
            Sigmoid output: 0/1 labels, shape (n_samples,) or (n_samples, n_out).
            Softmax: integer classes 0..n_out-1, shape (n_samples,).
            Linear: targets, shape (n_samples,) or (n_samples, n_out).
        epochs : int >= 0
        batch_size : int or None
            None: full batch (one step per epoch, no shuffle). Otherwise
            mini-batches of a seeded permutation, the last one smaller.
        optimizer : {OPTIMIZERS} or dnn.optimizers.Optimizer
            Its state carries over to the next fit() while the optimizer stays
            the same.
        learning_rate : float, dnn.optimizers.Schedule or None
            None: the optimizer's default ({DEFAULT_RATES}).
        l2 : float >= 0
            The course's L2 penalty ``l2 / (2 m) * sum ||W||^2`` (m: batch size).
        keep_prob : float, sequence of float or None
            Inverted dropout: the probability of keeping a hidden unit, one for
            all hidden layers or one per hidden layer (1: none). Off in predict.
        shuffle : bool, "rows" or "blocks"
            How the examples are shuffled every epoch (mini-batches only).
            "rows": an exact uniform permutation of the rows (Fisher-Yates on
            the engine's seeded generator). "blocks", for data read from disk
            (a memmap): the rows are cut into blocks of consecutive rows
            (``SHUFFLE_BLOCK_BYTES``, 1 MiB of X, e.g. 2,621 rows of 100
            float32 features), the order of the blocks is shuffled, then the
            rows within each window of ``SHUFFLE_WINDOW`` (64) consecutive
            blocks of that order are shuffled among themselves, so that an
            epoch reads 64 MiB of the file at a time instead of a random row
            anywhere. Every epoch still visits every row once, in a seeded
            order that changes from epoch to epoch, but it is not a uniform
            permutation: two rows of one block always land in the same window
            (within ~64 MiB of each other's batches), so a mini-batch mixes rows
            of at most 64 blocks; shuffle a file's rows once when writing it if
            neighbouring rows are alike (sorted by label or by time). True (the
            default): "blocks" for a memory-mapped X (an ``np.memmap``, or an
            array whose base is one or an ``mmap``), "rows" otherwise. False:
            consecutive rows, in their order.
        validation_data : (X_val, y_val) or None
        validation_split : float in [0, 1)
            Hold out this last fraction of X, y for validation.
        early_stopping : bool
            Stop when the monitored cost (validation cost if any, else training
            cost) has not improved by ``min_delta`` for ``patience`` epochs. When
            training ends (stopped early or not, but not by Ctrl-C or divergence)
            the parameters of the best epoch are restored; the optimizer's state
            is not rolled back.
        callbacks : sequence of callables
            Each called as ``callback(epoch, logs)`` after every epoch (``logs``:
            this epoch's "cost", "seconds", "val_cost", "val_accuracy"). A
            callback returning True, or setting ``network.stop_training =
            True``, ends training.
        verbose : bool
            Show a progress bar (tqdm) over the epochs.
        reinitialize : bool
            Draw new parameters first.
        sample_weight : array_like, shape (n_samples,), or None
            Finite weights >= 0: each batch's cost and gradient become weighted
            means, ``sum_i w_i loss_i / sum_i w_i`` (the total weight also
            takes the place of m in the l2 term), so an integer weight acts as
            that many copies of the example. A batch weighing 0 is skipped.
        checkpoint : str, os.PathLike or None
            Save the whole state (as :meth:`save` does, atomically) to this
            file every ``checkpoint_every`` epochs of the network's count
            (``epochs_``) and after the fit's last epoch. A killed run
            resumes exactly with ``net = dnn.load(checkpoint)`` and
            ``net.fit(X, y, epochs=total - net.epochs_, ...)`` with the same
            arguments (early stopping's patience count is not in the file).
        checkpoint_every : int >= 1
        comm : mpi4py communicator or None
            Data-parallel training over MPI (see :mod:`dnn.distributed`):
            every rank calls fit with its own rows and the same settings;
            ``batch_size`` is per rank, and each step's gradient is the mean
            over the union of the ranks' batches, so every rank ends with the
            parameters of one process trained on those union batches. Not
            with dropout or batch norm; ``shuffle`` is a per-rank row
            permutation (:func:`dnn.distributed.epoch_order`).

        Returns
        -------
        History

        Raises
        ------
        DivergenceError
            The cost or the parameters became NaN or inf; the parameters are put
            back to the last finite state the engine kept (see README).
        KeyboardInterrupt
            On Ctrl-C; the parameters are those at the end of a completed step.
        """
        arguments = (X, y, epochs, batch_size, optimizer, learning_rate, l2, keep_prob,
                     shuffle, validation_data, validation_split, early_stopping, patience,
                     min_delta, callbacks, sample_weight, checkpoint, checkpoint_every)
        if comm is not None:
            return self._fit_distributed(comm, arguments, verbose, reinitialize)
        # every argument checked, the engine's settings assembled: in fit_plan alone
        plan = fit_settings.fit_plan(self, *arguments)
        X, T, labels, weights = plan.data
        settings, validation, callbacks = plan.settings, plan.validation, plan.callbacks
        with self.training(settings["batch_size"], sparse_input=is_sparse(X),
                           shards=settings["n_threads"]):
            if reinitialize:
                self.initialize()
            if settings["optimizer_object"] != self._optimizer:
                self._reset_optimizer(settings["optimizer_object"])
            history = self.history_ = History()
            self.stop_training = False
            per_epoch = (validation is not None or callbacks or verbose or early_stopping
                         or plan.checkpoint is not None)
            # issue 14: layer 1 in the dual form, or not (dnn._dual.FirstLayerState)
            self.first_layer_ = self._first_layer.plan(
                self, X, settings, plan.epochs, plan.epochs if per_epoch else 1,
                deferred=self._consecutive > 0)
            if not per_epoch:
                self._train(X, T, labels, weights, plan.epochs, settings, history)
            else:
                best = fit_loop.run_per_epoch(
                    self, lambda: self._train(X, T, labels, weights, 1, settings, history,
                                              new_fit=not len(history),
                                              check_values=bool(callbacks)),
                    self._scores, plan.epochs, history, validation, plan.early_stopping,
                    callbacks, verbose, plan.checkpoint)
                # (not after Ctrl-C or divergence: those leave the last step's parameters)
                if best is not None:
                    with self._engine_lock:
                        self._engine.parameters[...] = best
        return history

    def partial_fit(self, X, y, optimizer=None, learning_rate=None, batch_size=None,
                    l2=0.0, keep_prob=None, shuffle=True, sample_weight=None):
        """One epoch over X, y, continuing from the current parameters and
        optimizer state (the last fit's optimizer unless another is given).

        Returns
        -------
        History
        """
        if optimizer is None:
            optimizer = self._optimizer if self._optimizer is not None else "adam"
        return self.fit(X, y, epochs=1, batch_size=batch_size, optimizer=optimizer,
                        learning_rate=learning_rate, l2=l2, keep_prob=keep_prob,
                        shuffle=shuffle, sample_weight=sample_weight)

    def _train(self, X, T, labels, weights, epochs, settings, history, new_fit=True,
               check_values=False):
        """Run epochs in the engine and record them; raise on divergence.

        new_fit: False when this call continues the same fit (the engine then
        keeps its undo state, the fit's lowest-cost state, from the last call).
        check_values: whether X's values may have changed since the last call
        (a callback may change X in place), which the dual form checks."""
        costs = np.zeros(max(epochs, 1))
        seconds = np.zeros(max(epochs, 1))
        if getattr(self, "first_layer_", "primal") == "dual":
            # the dual form (dnn._dual): made anew if the state changed since the last call
            engine, made = self._first_layer.engine(
                self._primal_engine, X,
                [registry.ACTIVATIONS[name].code for name in self.activations],
                registry.OUTPUTS[self.output].loss_code, self.slope,
                check_values and not self._consecutive)
            new_fit = new_fit or made
            extra = {"defer": self._consecutive > 0}
        else:
            engine, extra = self._engine, {}
        arguments = {key: value for key, value in settings.items()
                     if key not in ("optimizer_object", "target_scale")}
        first = self.epochs_
        before = len(history)
        # (epochs_ is counted under the lock too: save() from another thread must
        # see the parameters and their epoch count together)
        finished = None
        with self._engine_lock:
            try:
                finished = engine.train(X, T, labels, sample_weight=weights, epochs=epochs,
                                        first_epoch=first, new_fit=new_fit,
                                        costs=costs, seconds=seconds, **arguments, **extra)
            finally:
                # (after a divergence, done < 0 when the state restored is from an
                # earlier call of this fit)
                done = engine.epochs_done
                recorded = engine.diverged_epoch if finished is False else max(done, 0)
                history.epoch.extend(range(first, first + recorded))
                history.cost.extend(costs[:recorded].tolist())
                history.seconds.extend(seconds[:recorded].tolist())
                self.epochs_ += done
        if not finished:
            raise DivergenceError(divergence_message(
                before + engine.diverged_epoch + 1, before + done, settings["learning_rate"],
                settings.get("target_scale", 0.0)))

    # -- inference and gradients (predict_proba, predict, evaluate, _scores,
    #    compute_gradients, loss_and_gradient): NetworkEvaluation
    # -- files (save, _fields, _restore, _from_fields, __getstate__, to_onnx): NetworkFiles

    def __setstate__(self, state):
        network = Network._from_fields(state["fields"], "pickled Network")
        network.seed, network.n_threads = state["seed"], state["n_threads"]
        network.first_layer = state.get("first_layer", "auto")
        self.__dict__.update(network.__dict__)
        _NETWORKS.add(self)

    def __repr__(self):
        return (f"Network({self.layer_dims}, activation={self.activations!r}, "
                f"output={self.output!r}, dtype={self.dtype.name!r})")


Network.__doc__ = doc.fill(Network.__doc__)
Network.fit.__doc__ = doc.fill(Network.fit.__doc__,
                               DEFAULT_RATES=doc.default_rates(optimizers.OPTIMIZERS))


# ---------------------------------------------------------------------------
# Loading

def load(path):
    """Read a network written by :meth:`Network.save`.

    Every field is checked (nothing is unpickled): a damaged or foreign file
    raises ValueError saying what is wrong.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Network
        With the file's ``metadata``, and its optimizer state when saved.
    """
    return Network._from_fields(model_file.read(path), file_name(path))
