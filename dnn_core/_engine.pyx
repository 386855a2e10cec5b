"""The training engine: a whole network in flat buffers, and the fit loop in C.

An ``Engine`` owns ONE flat parameter buffer ``[W1, b1, W2, b2, ...]`` (each
``W[l]`` C-ordered ``(n[l], n[l-1])``, _layout), one gradient buffer of the
same layout, the optimizer's two moment buffers, a snapshot of all three (to
undo a diverging run) and workspaces for one batch size, allocated once. It
has everything that reaches C checked (_intake), then runs one of four jobs
(_call) without the GIL: the epoch loop (_train), the gradient of a whole
set, predictions and the cost (_passes), over rows read as _rows describes.

Data come in scikit-learn's layout, ``X`` of shape ``(m, n0)``, each row's
values contiguous, any row stride. Activations and gradients are in the
course's ``(units, examples)`` layout. Targets come as a float matrix
``(m, n_out)`` (sigmoid and linear outputs) or as integer class labels
``(m,)`` (softmax, one-hot encoded while the batch is gathered).
"""
from libc.stdint cimport uint64_t
from libc.math cimport INFINITY

cimport numpy as cnp
import numpy as np

from dnn_core._blas cimport BLAS_INT_MAX
from dnn_core._activations cimport SOFTMAX, check_activation
from dnn_core._losses cimport Loss, check_loss, output_activation
from dnn_core._optim cimport Optimizer, Schedule, GD
from dnn_core._random cimport Random, random_seed
from dnn_core._layout cimport (MAX_LAYERS, Architecture, Hyperparameters, Buffers,
                               Workspace, lay_out, SPARSE_DENSE)
from dnn_core._layout cimport (lay_out_batch_norm, BATCH_NORM, NormMode, NORM_TRAIN,
                               NORM_BATCH, NORM_RUNNING)
from dnn_core._rows cimport Rows, Data, Order, NO_SHUFFLE, SHUFFLE_BLOCKS, check_array
from dnn_core._intake cimport (gathered, check_rows, check_data, check_training, check_keep,
                               check_l2, as_input, choose_gathering, bind_input)
from dnn_core._call cimport Call, run_call, TRAIN, GRADIENTS, PREDICT, COST
from dnn_core._train cimport Progress, DONE
from dnn_core._shards cimport ShardSet
from dnn_core._clock cimport now
from dnn_core._dual cimport DualLayer

cnp.import_array()

cdef char *_data(object array) except NULL:
    return <char *> cnp.PyArray_DATA(array)


cdef class Engine:
    """A network's buffers and its compiled training loop.

    Parameters
    ----------
    layer_dims : sequence of int
        ``[n0, n1, ..., nL]``, 1 <= L <= 64.
    activations : sequence of int
        Activation codes of the hidden layers 1..L-1 (not softmax).
    loss : int
        Loss code; it fixes the output activation (sigmoid, softmax, identity).
    slope : float
        The leaky relu's slope.
    dtype : numpy.float32 or numpy.float64
    seed : int
        Seed of the engine's generator (shuffles, dropout masks).
    """
    cdef readonly object dtype
    cdef readonly tuple layer_dims
    cdef readonly tuple weight_offsets
    cdef readonly tuple bias_offsets
    # The buffers the C code writes into; Python sees views of them only (a
    # view cannot be resized or replaced under the C code's pointers).
    cdef object _parameters, _gradients, _moments, _snapshot
    #: optimizer steps taken so far (Adam's t)
    cdef public long step_count
    #: epochs completed by the last call to train() (also when it raised)
    cdef readonly long epochs_done
    #: the epoch (from 0, in the last call) whose cost was not finite, or -1
    cdef readonly long diverged_epoch
    cdef Architecture arch
    cdef Hyperparameters hyper
    cdef Buffers buf
    cdef Order order
    cdef Random rng
    cdef bint is_double
    cdef bint busy
    # the snapshot carried from one train() call to the next of the same fit
    cdef bint kept_snapshot
    cdef long kept_step, kept_epoch
    cdef double kept_cost
    cdef Workspace train_ws, infer_ws
    cdef ShardSet shard_set
    cdef readonly int train_shards     # row shards of the last train call's steps (1: none)
    cdef object perm
    cdef Py_ssize_t perm_rows
    # batch norm: the running statistics (the state buffer) and their undo
    cdef object _running, _running_snapshot
    cdef tuple _batch_norm
    # the dual-form first layer (issue 14, enable_dual), or None
    cdef DualLayer _dual

    def __init__(self, layer_dims, activations, int loss, double slope, dtype,
                 uint64_t seed=0):
        cdef int l, L = len(layer_dims) - 1
        cdef Py_ssize_t size
        if self._parameters is not None:
            raise RuntimeError("an Engine is initialized once; make a new one")
        if not 1 <= L <= MAX_LAYERS:
            raise ValueError(f"layer_dims: expected 2 to {MAX_LAYERS + 1} sizes, got {L + 1}")
        if any(int(n) < 1 for n in layer_dims):
            raise ValueError(f"layer_dims: expected sizes >= 1, got {list(layer_dims)}")
        if any(int(a) * int(b) > BLAS_INT_MAX for a, b in zip(layer_dims, layer_dims[1:])):
            raise ValueError(f"layer_dims: a layer's weights must number at most "
                             f"{BLAS_INT_MAX} (BLAS's 32-bit sizes), got {list(layer_dims)}")
        if len(activations) != L - 1:
            raise ValueError(f"activations: expected {L - 1} codes, got {len(activations)}")
        for a in activations:
            check_activation(a, "activations")
            if a == SOFTMAX:
                raise ValueError("activations: softmax is an output's activation, "
                                 "not a hidden layer's")
        check_loss(loss, "loss")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.is_double = self.dtype == np.float64
        self.layer_dims = tuple(int(n) for n in layer_dims)
        size = lay_out(&self.arch, self.layer_dims, activations, <Loss> loss, slope)
        self.weight_offsets = tuple(self.arch.layers[l].w_off for l in range(1, L + 1))
        self.bias_offsets = tuple(self.arch.layers[l].b_off for l in range(1, L + 1))
        self._parameters = np.zeros(size, dtype=self.dtype)
        self._gradients = np.zeros(size, dtype=self.dtype)
        self._moments = np.zeros((2, size), dtype=self.dtype)
        self._snapshot = None
        self.step_count = 0
        self.epochs_done = 0
        random_seed(&self.rng, seed)

    @property
    def size(self):
        """Number of parameters."""
        return self.arch.size

    @property
    def parameters(self):
        """The flat parameter buffer [W1, b1, W2, b2, ...] (a view: write into it)."""
        return self._parameters[:]

    @property
    def gradients(self):
        """The flat gradient buffer, same layout (filled by compute_gradients, and
        by training with any optimizer but a short plain-gd step)."""
        return self._gradients[:]

    @property
    def moments(self):
        """The optimizer's first and second moments, shape (2, size) (a view)."""
        return self._moments[:]

    @property
    def snapshot_bytes(self):
        """Bytes held by the snapshot that undoes a diverging run (0 before any fit)."""
        return 0 if self._snapshot is None else self._snapshot.nbytes

    def seed(self, uint64_t seed):
        """Reseed the generator of shuffles and dropout masks."""
        random_seed(&self.rng, seed)

    def forget_busy(self):
        """After fork, in the child: no thread of the child runs this engine."""
        self.busy = False

    @property
    def rng_state(self):
        """The generator of shuffles and dropout masks: its four 64-bit words
        (uint64, shape (4,)), a copy; assign such an array to restore it."""
        return np.array([self.rng.s0, self.rng.s1, self.rng.s2, self.rng.s3],
                        dtype=np.uint64)

    @rng_state.setter
    def rng_state(self, state):
        words = np.asarray(state)
        if words.dtype != np.uint64 or words.shape != (4,):
            raise ValueError(f"rng_state: expected 4 uint64 words, got {words.dtype} "
                             f"{words.shape}")
        if not words.any():
            raise ValueError("rng_state: the all-zero state is not a state of xoshiro256**")
        if self.busy:
            raise RuntimeError("rng_state: the engine is training")
        self.rng.s0, self.rng.s1, self.rng.s2, self.rng.s3 = (int(w) for w in words)

    def weight(self, int layer):
        """W[layer] as a (n[l], n[l-1]) view of the parameter buffer."""
        return self._view(self._parameters, layer, True)

    def bias(self, int layer):
        """b[layer] as a (n[l], 1) view of the parameter buffer (a batch-norm
        layer has none: ValueError)."""
        self._check_layer(layer, False)
        return self._view(self._parameters, layer, False)

    def _view(self, flat, int layer, bint weight):
        if not 1 <= layer <= self.arch.n_layers:
            raise ValueError(f"layer: expected 1..{self.arch.n_layers}, got {layer}")
        n, n_prev = self.layer_dims[layer], self.layer_dims[layer - 1]
        if weight:
            start = self.arch.layers[layer].w_off
            return flat[start:start + n * n_prev].reshape(n, n_prev)
        start = self.arch.layers[layer].b_off
        return flat[start:start + n].reshape(n, 1)

    def gradient_views(self):
        """{"dW1": ..., "db1": ...} as views of the gradient buffer."""
        grads = {}
        for l in range(1, self.arch.n_layers + 1):
            grads[f"dW{l}"] = self._view(self._gradients, l, True)
            if self.arch.layers[l].kind == BATCH_NORM:
                grads[f"dgamma{l}"] = self._column(self._gradients, l, False)
                grads[f"dbeta{l}"] = self._column(self._gradients, l, True)
            else:
                grads[f"db{l}"] = self._view(self._gradients, l, False)
        return grads

    # -- batch norm -------------------------------------------------------------

    def enable_batch_norm(self, normalized):
        """Make the hidden layers flagged in ``normalized`` (L - 1 bools) batch
        normalized: ``Z~ = gamma * (Z - mu) / sqrt(var + eps) + beta`` between
        the linear part and the activation, no b. Lays the parameters out
        again (``[W1, gamma1, beta1, W2, b2, ...]``, zeros: set them after),
        with the running mean (zeros) and variance (ones) of each such layer in
        a separate state buffer, neither optimized nor penalised. Only before
        any training. Training uses the batch's statistics and updates the
        running ones (eps 1e-5, momentum 0.1, unbiased running variance);
        compute_gradients the batch's, leaving the running ones; predict and
        cost the running ones (a row's output does not depend on the others).
        """
        cdef int l, L = self.arch.n_layers
        flags = tuple(bool(f) for f in normalized)
        if len(flags) != L - 1:
            raise ValueError(f"batch_norm: expected {L - 1} flags, got {len(flags)}")
        if self.busy or self.step_count != 0 or self._snapshot is not None:
            raise RuntimeError("enable_batch_norm: only before any training")
        size = lay_out_batch_norm(&self.arch, flags)
        self._batch_norm = flags
        self.weight_offsets = tuple(self.arch.layers[l].w_off for l in range(1, L + 1))
        self.bias_offsets = tuple(self.arch.layers[l].b_off for l in range(1, L + 1))
        self._parameters = np.zeros(size, dtype=self.dtype)
        self._gradients = np.zeros(size, dtype=self.dtype)
        self._moments = np.zeros((2, size), dtype=self.dtype)
        self._running = np.zeros(self.arch.state_size, dtype=self.dtype)
        self._running_snapshot = np.zeros(self.arch.state_size, dtype=self.dtype)
        self.train_ws = self.infer_ws = None
        self.shard_set = None
        for l in range(1, L):
            if flags[l - 1]:
                self.running_var(l)[...] = 1

    @property
    def batch_norm(self):
        """Per hidden layer, whether it is batch normalized (enable_batch_norm)."""
        if self._batch_norm is None:
            return (False,) * (self.arch.n_layers - 1)
        return self._batch_norm

    @property
    def running_statistics(self):
        """The flat state buffer [mean1, var1, mean2, var2, ...] of the batch-norm
        layers (a view: write into it; empty without such layers)."""
        if self._running is None:
            return np.zeros(0, dtype=self.dtype)
        return self._running[:]

    def gamma(self, int layer):
        """gamma[layer] as a (n[l], 1) view of the parameter buffer."""
        return self._column(self._parameters, layer, False)

    def beta(self, int layer):
        """beta[layer] as a (n[l], 1) view of the parameter buffer."""
        return self._column(self._parameters, layer, True)

    def running_mean(self, int layer):
        """The running mean of layer's Z, a (n[l], 1) view of the state buffer."""
        self._check_layer(layer, True)
        start = self.arch.layers[layer].stats_off
        return self._running[start:start + self.layer_dims[layer]].reshape(-1, 1)

    def running_var(self, int layer):
        """The running (unbiased) variance of layer's Z, a (n[l], 1) view."""
        self._check_layer(layer, True)
        start = self.arch.layers[layer].stats_off + self.layer_dims[layer]
        return self._running[start:start + self.layer_dims[layer]].reshape(-1, 1)

    def _check_layer(self, int layer, bint normalized):
        if not 1 <= layer <= self.arch.n_layers:
            raise ValueError(f"layer: expected 1..{self.arch.n_layers}, got {layer}")
        if (self.arch.layers[layer].kind == BATCH_NORM) != normalized:
            raise ValueError(f"layer: layer {layer} is "
                             f"{'not ' if normalized else ''}batch normalized")

    def _column(self, flat, int layer, bint second):
        self._check_layer(layer, True)
        start = self.arch.layers[layer].beta_off if second else self.arch.layers[layer].gamma_off
        return flat[start:start + self.layer_dims[layer]].reshape(-1, 1)

    # -- the dual-form first layer (issue 14) ------------------------------------

    def enable_dual(self, DualLayer layer):
        """Train layer 1 in the dual form over ``layer``'s features (see _dual):
        this engine's input is then the dual features F (m, m + r n1) of one
        training set, its W1 the coordinates ``[M, c_1 I, ...]``; gd, momentum
        and Nesterov only (the caller's to choose), no batch norm, one thread."""
        if self.busy or self._batch_norm is not None:
            raise RuntimeError("enable_dual: not while training, nor with batch norm")
        if layer.features.dtype != self.dtype:
            raise TypeError(f"layer: expected features of dtype {self.dtype}, got "
                            f"{layer.features.dtype}")
        if (self.layer_dims[1] != layer.units
                or self.layer_dims[0] != layer.m + layer.n_bases * layer.units):
            raise ValueError(f"layer: expected {layer.units} units over m + r * n1 = "
                             f"{layer.m + layer.n_bases * layer.units} inputs, the network "
                             f"has layer_dims {list(self.layer_dims[:2])}")
        self._dual = layer
        self.arch.layers[1].dual = True

    # -- checks (_intake) and the workspaces of a call ----------------------

    cdef Rows _check_rows(self, X) except *:
        return check_rows(X, self.layer_dims[0], self.dtype)

    def _input(self, X):
        return as_input(X, self.layer_dims[0], self.dtype)

    cdef Data _check_data(self, X, T, labels, weights=None) except *:
        return check_data(X, T, labels, weights, self.arch.loss, self.layer_dims[0],
                          self.layer_dims[self.arch.n_layers], self.dtype)

    cdef Workspace _workspace(self, Py_ssize_t batch, bint training, bint dropout,
                              bint gather):
        cdef Workspace ws = self.train_ws if training else self.infer_ws
        if batch * max(self.layer_dims) > BLAS_INT_MAX:
            raise ValueError(f"batch_size: {batch} examples of {max(self.layer_dims)} units "
                             f"exceed BLAS's 32-bit sizes; use smaller batches")
        if (ws is None or ws.batch != batch or ws.dropout != dropout
                or (gather and ws.xb_off == ws.yb_off)):
            ws = Workspace(self.layer_dims, batch, dropout, gather, self.dtype)
            if self.arch.state_size > 0:
                ws.add_batch_norm(&self.arch)
            if training:
                self.train_ws = ws
            else:
                self.infer_ws = ws
        return ws

    cdef void _use(self, Workspace ws):
        ws.use(&self.arch, &self.buf)
        self.buf.params = _data(self._parameters)
        self.buf.grads = _data(self._gradients)
        self.buf.moment1 = _data(self._moments[0])
        self.buf.moment2 = _data(self._moments[1])
        self._use_batch_norm(NORM_TRAIN)
        # dual: layer 1's DualState (enable_dual)
        self.buf.dual = NULL if self._dual is None else &self._dual.state
        if self._dual is not None:
            # (the l2 term's products are formed anew at the call's first cost)
            self._dual.state.tracked = False

    cdef void _use_batch_norm(self, NormMode mode):
        """Point the buffers at the running statistics; mode: which statistics
        the batch-norm layers' forward uses in the coming call."""
        self.buf.state_size = self.arch.state_size
        self.buf.norm_mode = mode
        self.buf.running = self.buf.running_snapshot = NULL
        if self.arch.state_size > 0:
            self.buf.running = _data(self._running)
            self.buf.running_snapshot = _data(self._running_snapshot)

    cdef int _prepare(self, Data *data, object X, Py_ssize_t batch, bint training,
                      bint dropout, bint shuffled) except -1:
        """Under _enter: the workspace for batches of ``batch`` rows in use, layer
        1 bound to X (dense, gathered dense or sparse: _intake.bind_input)."""
        choose_gathering(data, X, batch)
        self._use(self._workspace(batch, training, dropout, gathered(&data.X, shuffled)))
        bind_input(&self.arch, &self.buf, data, X, batch)
        return 0

    cdef int _choose_shards(self, Call *call, Py_ssize_t batch, int n_threads,
                            bint dropout, object X) except -1:
        """call.shards: the row shards of training steps on batches of ``batch`` rows with
        ``n_threads`` (made once and reused), or NULL where one thread trains:
        n_threads 1, fewer than two rows a shard, or the dual form. Dropout
        (masks drawn per row from the step's key), a CSR X (each shard gathers
        its rows; X: the call's SparseInput) and batch norm (in phases, its
        statistics combined over the shards: _bn_shards) shard. Call after
        _prepare."""
        call.shards = NULL
        self.train_shards = 1
        n_threads = min(n_threads, batch // 2)
        if n_threads < 2 or self.arch.layers[1].dual:
            return 0
        if (self.shard_set is None or self.shard_set.batch != batch
                or self.shard_set.shards.n != n_threads or self.shard_set.dropout != dropout):
            self.shard_set = ShardSet(self.layer_dims, batch, n_threads, n_threads,
                                      self.dtype, self.arch.size, dropout)
            if self.arch.state_size > 0:
                # batch norm: each shard's workspaces and sums (_bn_shards)
                self.shard_set.add_batch_norm(&self.arch)
        self.shard_set.use_input(X if self.arch.layers[1].kind == SPARSE_DENSE else None,
                                 self.arch.layers[1].n)
        call.shards = self.shard_set.bind(&self.arch, &self.buf)
        self.train_shards = n_threads
        return 0

    cdef int _run(self, Call *call) except -1:
        """Run the call on this engine's network, without the GIL."""
        call.arch = &self.arch
        call.hyper = &self.hyper
        call.buf = &self.buf
        call.order = &self.order
        call.rng = &self.rng
        with nogil:
            run_call(call, self.is_double)
        return 0

    cdef int _enter(self) except -1:
        if self.busy:
            raise RuntimeError("this network is already running in another thread; "
                               "use one network per thread")
        self.busy = True
        return 0

    # -- training ------------------------------------------------------------

    def train(self, X, T, labels, *, sample_weight=None, Py_ssize_t batch_size, int shuffle, long epochs,
              long first_epoch=0, int optimizer=GD, double beta1=0.9, double beta2=0.999,
              double epsilon=1e-8, int schedule=0, double learning_rate=0.01,
              double schedule_a=0, double schedule_b=1, double l2=0, keep=None,
              costs=None, seconds=None, Py_ssize_t shuffle_block=0,
              Py_ssize_t shuffle_window=64, bint new_fit=True, int n_threads=1):
        """Train for ``epochs`` epochs; return True, or False if the cost diverged.

        X: (m, n0) float32, float64 or uint8, each row's values contiguous, any
        row stride (a memmap, a slice of one): batches of rows are read in place
        when X is in the engine's dtype and consecutive rows are taken (full
        batch, no shuffle), else converted while they are gathered into the
        workspace. Or X: a scipy.sparse CSR (m, n0), never densified: checked
        once per call, its indices read in place, its values too when in the
        engine's dtype; layer 1 then runs as SPARSE_DENSE on each batch
        gathered into compressed columns (_sparse_rows). The same holds for
        compute_gradients, predict and cost. T: (m, n_out) in the engine's dtype, or
        labels: (m,) int64 (softmax; a label outside 0..n_out-1 one-hot encodes
        to zeros: dnn.Network refuses such labels before they come here). batch_size >= 1 (>= m: full batch, no
        shuffle). shuffle: 0 (none), 1 (True: the rows, Fisher-Yates) or 2 (by
        blocks: the order of blocks of ``shuffle_block`` consecutive rows
        shuffled, then the rows within each run of ``shuffle_window`` blocks;
        shuffle_block 0: the rows of ~1 MiB of X). keep: a keep probability per
        hidden layer, or None.
        sample_weight: (m,) finite >= 0 in the engine's dtype, or None: each
        batch's cost and gradient are weighted means (the total weight stands for
        m, also in the l2 term); a batch of zero total weight is skipped.
        costs, seconds: float64 arrays of ``epochs`` entries, filled per epoch.
        ``epochs_done`` tells how many epochs completed, also after an exception
        (after a divergence: those before the restored state, negative when
        that state is from an earlier call). new_fit: False carries the undo
        snapshot (the lowest-cost state so far) over from the previous call,
        as the calls of one fit epoch by epoch do.
        n_threads: row shards of each step run on the engine's pool (1: this
        thread only); with batch norm too (in phases: _bn_shards), with at least two rows
        per shard. The parameters reached depend on
        n_threads (the order of the gradient's sums), never on timing.
        """
        cdef Py_ssize_t m, batch, l, L = self.arch.n_layers
        cdef Progress progress
        cdef Call call
        cdef bint dropout = False
        X = self._input(X)
        cdef Data data = self._check_data(X, T, labels, sample_weight)
        m = data.m
        shuffle_block = check_training(X, batch_size, epochs, first_epoch, optimizer, shuffle,
                                       n_threads, shuffle_block, shuffle_window, schedule,
                                       schedule_b, l2, learning_rate, costs, seconds)
        keeps = check_keep(keep, L)
        for l in range(1, L):
            self.arch.layers[l].keep = keeps[l - 1]
            dropout |= keeps[l - 1] < 1
        batch = min(batch_size, m)
        shuffled = shuffle != NO_SHUFFLE and batch < m
        n_order = m + ((m + shuffle_block - 1) // shuffle_block
                       if shuffle == SHUFFLE_BLOCKS else 0)
        self._enter()
        try:
            self._prepare(&data, X, batch, True, dropout, shuffled)
            self._choose_shards(&call, batch, n_threads, dropout, X)
            if shuffled and (self.perm is None or self.perm.shape[0] != n_order):
                # (the block shuffle keeps its order of blocks after the m rows)
                self.perm = np.empty(n_order, dtype=np.intp)
            if shuffled:
                self.perm_rows = m
            if self._snapshot is None:
                self._snapshot = np.empty((3 if optimizer != GD else 1, self.arch.size),
                                          dtype=self.dtype)
            elif optimizer != GD and self._snapshot.shape[0] < 3:
                self._snapshot = np.empty((3, self.arch.size), dtype=self.dtype)
                self.kept_snapshot = False     # (it had no moments)
            self.buf.snapshot = _data(self._snapshot)
            self.buf.weighted = sample_weight is not None
            self.order.perm = <Py_ssize_t *> _data(self.perm) if shuffled else NULL
            self.order.block_order = self.order.perm + m if shuffled else NULL
            self.order.block = shuffle_block
            self.order.window = shuffle_window
            self.hyper.dropout = dropout
            self.hyper.l2 = l2
            self.hyper.optimizer = <Optimizer> optimizer
            self.hyper.beta1 = beta1
            self.hyper.beta2 = beta2
            self.hyper.epsilon = epsilon
            self.hyper.schedule = <Schedule> schedule
            self.hyper.rate0 = learning_rate
            self.hyper.schedule_a = schedule_a
            self.hyper.schedule_b = schedule_b
            progress.epochs_done = 0
            progress.failed_epoch = -1
            progress.step = self.step_count
            progress.has_snapshot = not new_fit and self.kept_snapshot
            progress.snapshot_step = self.kept_step
            progress.snapshot_epoch = self.kept_epoch
            progress.snapshot_cost = self.kept_cost
            progress.last_check = now()
            progress.last_snapshot = 0
            progress.snapshot_seconds = 0
            progress.previous_cost = INFINITY
            self.epochs_done = 0
            call.job = TRAIN
            call.data = &data
            call.batch = batch
            call.shuffle = shuffle
            call.first_epoch = first_epoch
            call.epochs = epochs
            call.costs = <double *> _data(costs)
            call.seconds = <double *> _data(seconds)
            call.progress = &progress
            try:
                self._run(&call)
            finally:
                self.epochs_done = progress.epochs_done
                self.step_count = progress.step
                self.diverged_epoch = progress.failed_epoch
                self.kept_snapshot = progress.has_snapshot
                self.kept_step = progress.snapshot_step
                self.kept_epoch = progress.snapshot_epoch
                self.kept_cost = progress.snapshot_cost
                if self.shard_set is not None:
                    self.shard_set.use_input(None, 0)     # (let go of a sparse X)
        finally:
            self.busy = False
        return call.status == DONE

    def compute_gradients(self, X, T, labels, double l2=0, sample_weight=None):
        """Fill ``gradients`` for the whole of X (one batch, no dropout); return the
        cost with its l2 term, or NaN if it is not finite (or the weights sum to 0)."""
        cdef Call call
        X = self._input(X)
        cdef Data data = self._check_data(X, T, labels, sample_weight)
        check_l2(l2)
        self._enter()
        try:
            self._prepare(&data, X, data.m, False, False, False)
            self.buf.weighted = data.weights != NULL
            self._use_batch_norm(NORM_BATCH)
            call.job = GRADIENTS
            call.data = &data
            call.l2 = l2
            self._run(&call)
        finally:
            self.busy = False
        return call.result

    # -- inference -------------------------------------------------------------

    def predict(self, X, out, Py_ssize_t chunk=1024):
        """out = the output activations for the rows of X, shape (m, n_out), in
        chunks of ``chunk`` rows (X as train takes it: each chunk is converted to
        the engine's dtype if X is not in it)."""
        cdef Call call
        cdef Data data
        X = self._input(X)
        data.X = self._check_rows(X)
        data.m = X.shape[0]
        data.T = data.weights = NULL
        data.labels = NULL
        check_array(out, "out", self.dtype, 2, True)
        if out.shape != (X.shape[0], self.layer_dims[self.arch.n_layers]):
            raise ValueError(f"out: expected shape {(X.shape[0], self.layer_dims[self.arch.n_layers])}, got {out.shape}")
        if chunk < 1:
            raise ValueError(f"chunk: expected >= 1, got {chunk}")
        call.output = output_activation(self.arch.loss)
        self._enter()
        try:
            self._prepare(&data, X, min(chunk, data.m), False, False, False)
            self._use_batch_norm(NORM_RUNNING)
            call.job = PREDICT
            call.data = &data
            call.out = _data(out)
            self._run(&call)
        finally:
            self.busy = False
        return out

    def cost(self, X, T, labels, Py_ssize_t chunk=1024):
        """The mean cost over the rows of X (no l2 term); NaN if not finite."""
        cdef Call call
        X = self._input(X)
        cdef Data data = self._check_data(X, T, labels)
        if chunk < 1:
            raise ValueError(f"chunk: expected >= 1, got {chunk}")
        self._enter()
        try:
            self._prepare(&data, X, min(chunk, data.m), False, False, False)
            self._use_batch_norm(NORM_RUNNING)
            call.job = COST
            call.data = &data
            self._run(&call)
        finally:
            self.busy = False
        return call.result

    def permutation(self):
        """A copy of the last epoch's shuffle (None if it did not shuffle)."""
        return None if self.perm is None else self.perm[:self.perm_rows].copy()

    def dropout_masks(self):
        """The masks (0 or 1/keep) of the last training batch: {layer: (n, mb)}.

        For tests: with them a NumPy step can be replayed exactly.
        """
        cdef Workspace ws = self.train_ws
        masks = {}
        if ws is None or not ws.dropout:
            return masks
        for l in range(1, self.arch.n_layers):
            if self.arch.layers[l].keep < 1:
                n = self.layer_dims[l]
                masks[l] = ws.buffer[ws.layers[l].mask_off:ws.layers[l].mask_off + n * ws.batch].copy()
        return masks
