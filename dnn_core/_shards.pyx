"""Data-parallel training steps on the engine's pool.

A batch of ``mb`` rows is cut into ``n`` row shards (shard k: rows
``[mb k / n, mb (k + 1) / n)``; a batch of fewer than n rows, one row a shard).
Each shard gathers its rows (a CSR X's into compressed columns of its own for
a SPARSE_DENSE layer 1), then runs the forward pass (dropout masks drawn for
its rows from the step's key: the same masks as one pass over the batch), its
cost and the backward pass into its own gradient as sums over its rows
(weight 1), with single-threaded BLAS calls into its own workspaces; shard 0
alone adds the L2 terms. Then the gradients are summed in
shard order, divided by the batch's weight, and the optimizer steps, split by
parameter ranges. Tasks take shards in turn from a
counter, so a thread slowed by a busy machine takes fewer; which thread runs
a shard never changes a result. A network with batch norm runs the same shards
in phases (_bn_shards: cut_batch and shard_rows are shared).
"""
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
from libc.math cimport NAN

cimport numpy as cnp
import numpy as np

from dnn_core._blas cimport Trans
from dnn_core._layout cimport Workspace
from dnn_core._optim cimport GD, optimizer_step
from dnn_core._passes cimport forward_pass, batch_cost, backward_pass
from dnn_core._pool cimport run_tasks, pool_task, take
from dnn_core._rows cimport gather_batch
from dnn_core._sparse_rows cimport SparseInput

cnp.import_array()

# Parameter ranges of the update start on multiples of this many entries
# (64-byte lines of float32), so two tasks never write one cache line.
cdef Py_ssize_t ALIGN = 16


cdef struct Job:
    Shards *shards
    int next                       # the next shard (or range) to take
    bint is_double
    const Architecture *arch
    const Hyperparameters *hyper
    void *P
    # gradients
    const Batch *batch
    void *xb                       # the batch's gathered rows (mb, n0), if gathered
    void *yb                       # its targets (n_out, mb)
    double l2
    # update
    Py_ssize_t size
    double rate, inv_weight
    long step
    void *G
    void *V
    void *S


cdef void cut_batch(Shards *shards, Py_ssize_t mb, bint weighted) noexcept nogil:
    """Shard k: the batch's rows [lo, lo + rows), the mb rows spread over the
    first min(n, mb) shards, so that shard 0 (which adds the L2 terms) always
    has some."""
    cdef int k
    cdef int active = <int> min(<Py_ssize_t> shards.n, mb)
    for k in range(shards.n):
        shards.shard[k].lo = mb * min(k, active) // active
        shards.shard[k].rows = mb * min(k + 1, active) // active - shards.shard[k].lo
        shards.shard[k].buf.weighted = weighted


cdef bint shard_rows(const Batch *b, Shard *s, bint first, floating *xb, floating *yb,
                     Py_ssize_t n0, Py_ssize_t n_out, const floating **Xb,
                     blas_int *ldx) noexcept nogil:
    """Shard s's rows of batch b: gathered (unless b.gather is False: still
    there from the last step) into xb + s.lo * n0 (xb: the batch's gathered
    rows) unless read in place, its targets into yb + s.lo * n_out, its
    weights into its workspace (s.weight); a SPARSE_DENSE layer 1 gathers into
    the shard's own compressed columns. Xb, ldx: where the shard's forward pass
    reads them. Resets s.cost and s.bad. Return whether the shard computes: it
    has rows, and weight (or it is the ``first``, whose gradient holds the L2
    terms)."""
    cdef floating *ws = <floating *> s.buf.ws
    # X as this shard reads it: a SPARSE_DENSE layer 1 gathers into the shard's own buffers
    cdef Rows X = b.X[0]
    if s.buf.sparse != NULL:
        X.sparse = s.buf.sparse
    if s.buf.sparse != NULL:
        # (not read: gather_batch gathers into the shard's compressed columns, which
        # layer 1 reads; any non-NULL Xb asks for the gather)
        Xb[0] = ws
        ldx[0] = 1
    elif b.in_place:
        Xb[0] = (<const floating *> b.X.data) + (b.start + s.lo) * b.X.stride
        ldx[0] = <blas_int> b.X.stride
    else:
        Xb[0] = xb + s.lo * n0
        ldx[0] = <blas_int> n0
    s.xb = Xb[0]
    s.ldx = ldx[0]
    s.cost = 0
    s.bad = False
    if b.gather:
        s.weight = 0
    if s.rows == 0:
        return False
    if b.gather:
        # this shard's rows (unless read in place), targets and weights
        s.weight = gather_batch(&X, <const floating *> b.T, b.labels,
                                <const floating *> b.W, n0, n_out,
                                b.rows + s.lo if b.rows != NULL else NULL,
                                0 if b.rows != NULL else b.start + s.lo, s.rows,
                                NULL if b.in_place else <floating *> Xb[0],
                                yb + s.lo * n_out, ws + s.buf.wb_off)
    return s.weight > 0 or first


cdef void _shard_gradients(Job *job, Shard *s, floating *P) noexcept nogil:
    cdef const Batch *b = job.batch
    cdef Py_ssize_t n0 = job.arch.layers[1].n_prev
    cdef Py_ssize_t n_out = job.arch.layers[job.arch.n_layers].n
    cdef floating *Yb = (<floating *> job.yb) + s.lo * n_out
    cdef const floating *Xb
    cdef blas_int ldx
    cdef bint first = s == &job.shards.shard[0]
    cdef double l2 = job.l2 if first else 0
    cdef bint dropout = b.draw != NULL
    cdef MaskDraw draw
    # this shard's masks: the batch's rows [lo, lo + rows) of the step's key
    draw.key = b.draw.key if dropout else 0
    draw.first_row = s.lo
    if not shard_rows(b, s, first, <floating *> job.xb, <floating *> job.yb, n0, n_out,
                      &Xb, &ldx):
        return                      # (shard 0 computes: its gradient holds the L2 terms)
    # Sums over the shard's rows (weight 1); the update divides by the batch's
    # weight. forward_pass and backward_pass raise only through a Ctrl-C poll:
    # none here.
    s.bad = forward_pass(&s.arch, &s.buf, P, Xb, Trans, ldx, s.rows, dropout, &draw,
                         NULL) != 0
    if s.bad:
        return
    s.cost = batch_cost(&s.arch, &s.buf, P, Yb, s.rows, 1.0, l2)
    backward_pass(&s.arch, &s.buf, P, <floating *> s.buf.grads, Xb, Trans, ldx, Yb,
                  s.rows, 1.0, dropout, l2, 0, NULL)


cdef void _gradients_task(void *context, int task) noexcept nogil:
    cdef Job *job = <Job *> context
    cdef int k = take(&job.next)
    while k < job.shards.n:
        if job.is_double:
            _shard_gradients(job, &job.shards.shard[k], <double *> job.P)
        else:
            _shard_gradients(job, &job.shards.shard[k], <float *> job.P)
        k = take(&job.next)


cdef double sharded_gradients(Shards *shards, const Architecture *arch, const Buffers *buf,
                              floating *P, const Batch *batch, double l2,
                              double *weight) noexcept nogil:
    """Gather, forward, cost and backward of one batch, shard by shard, each
    shard's rows into the batch's workspace (buf: its rows at xb_off unless
    read in place, its targets at yb_off) and its sums of gradients into its
    own gradient (shard 0's: buf.grads). Return the batch cost (NaN if some Z
    is not finite) and in weight its total weight (rows, unweighted); the
    gradient is the shards' sum divided by it (see sharded_update). A shard
    whose weight is zero (with the batch's) computes nothing."""
    cdef Job job
    cdef int k
    cdef double cost = 0, total = 0
    cut_batch(shards, batch.mb, buf.weighted)
    job.shards = shards
    job.next = 0
    job.is_double = floating is double
    job.arch = arch
    job.P = P
    job.batch = batch
    job.xb = (<floating *> buf.ws) + buf.xb_off
    job.yb = (<floating *> buf.ws) + buf.yb_off
    job.l2 = l2
    run_tasks(_gradients_task, &job, shards.n_threads)
    for k in range(shards.n):
        cost += shards.shard[k].cost
        total += shards.shard[k].weight
    # (the weight also with a NaN cost: a step of weight > 0 diverged, not skipped)
    weight[0] = total
    for k in range(shards.n):
        if shards.shard[k].bad:
            return NAN
    return cost / total if total > 0 else 0


cdef void _range_update(Job *job, Py_ssize_t lo, Py_ssize_t hi, floating *P) noexcept nogil:
    cdef Shards *shards = job.shards
    cdef floating *G = <floating *> job.G
    cdef floating *V = <floating *> job.V
    cdef floating *S = <floating *> job.S
    cdef floating inv_weight = <floating> job.inv_weight
    cdef floating lr = <floating> job.rate
    cdef const floating *Gk
    cdef Py_ssize_t i
    cdef int k, last = 0
    for k in range(1, shards.n):
        if shards.shard[k].weight > 0 and shards.shard[k].rows > 0:
            last = k
    # G = (G_0 + G_1 + ... + G_{n-1}) / weight, in shard order, the division
    # (and gradient descent's update) in the pass of the last sum
    for k in range(1, last):
        if shards.shard[k].weight <= 0 or shards.shard[k].rows == 0:
            continue
        Gk = <const floating *> shards.shard[k].buf.grads
        for i in range(lo, hi):
            G[i] += Gk[i]
    Gk = <const floating *> shards.shard[last].buf.grads if last > 0 else NULL
    if job.hyper.optimizer == GD:
        # P = P - lr * G
        if Gk != NULL:
            for i in range(lo, hi):
                G[i] = (G[i] + Gk[i]) * inv_weight
                P[i] -= lr * G[i]
        else:
            for i in range(lo, hi):
                G[i] *= inv_weight
                P[i] -= lr * G[i]
        return
    if Gk != NULL:
        for i in range(lo, hi):
            G[i] = (G[i] + Gk[i]) * inv_weight
    else:
        for i in range(lo, hi):
            G[i] *= inv_weight
    optimizer_step(job.hyper.optimizer, hi - lo, job.rate, job.hyper.beta1, job.hyper.beta2,
                   job.hyper.epsilon, job.step, P + lo, G + lo,
                   V + lo if V != NULL else NULL, S + lo if S != NULL else NULL)


cdef void _update_task(void *context, int task) noexcept nogil:
    cdef Job *job = <Job *> context
    cdef int n = job.shards.n_threads
    # task t updates entries [lo, hi): equal ranges on ALIGN boundaries
    cdef Py_ssize_t blocks = (job.size + ALIGN - 1) // ALIGN
    cdef Py_ssize_t lo = min(job.size, blocks * task // n * ALIGN)
    cdef Py_ssize_t hi = min(job.size, blocks * (task + 1) // n * ALIGN)
    if lo >= hi:
        return
    if job.is_double:
        _range_update(job, lo, hi, <double *> job.P)
    else:
        _range_update(job, lo, hi, <float *> job.P)


cdef void sharded_update(Shards *shards, const Hyperparameters *hyper, Py_ssize_t size,
                         double rate, long step, double weight, floating *P, floating *G,
                         floating *V, floating *S) noexcept nogil:
    """Sum the shards' gradients into G (shard 0's), divide by the batch's
    ``weight`` and take one optimizer step of P (size,) at ``rate`` (step:
    Adam's t), split by parameter ranges."""
    cdef Job job
    job.inv_weight = 1.0 / weight
    job.shards = shards
    job.is_double = floating is double
    job.hyper = hyper
    job.size = size
    job.rate = rate
    job.step = step
    job.P = P
    job.G = G
    job.V = V
    job.S = S
    run_tasks(_update_task, &job, shards.n_threads)


# ---------------------------------------------------------------------------
# The Python object that owns the shards' memory

cdef class ShardSet:
    """Row shards of training batches of up to ``batch`` rows: each shard's
    workspaces and gradient, made once per fit and reused.

    Parameters
    ----------
    dims : sequence of int
        ``[n0, ..., nL]``.
    batch : int
        The largest batch.
    n_shards : int
        Shards per batch (>= 2).
    n_threads : int
        Pool tasks that take the shards (1 <= n_threads <= n_shards).
    dtype : numpy.float32 or numpy.float64
    size : int
        Parameters of the network (each shard but the first has a gradient of
        this length).
    dropout : bool
        Whether the shards' workspaces hold dropout masks.
    """

    def __cinit__(self):
        self.shards.shard = NULL
        self.shards.n = 0
        self._sparse = []
        self._sparse_source = None
        self._norm = self._norm_stats = None

    def __dealloc__(self):
        free(self.shards.shard)

    def __init__(self, dims, Py_ssize_t batch, int n_shards, int n_threads, dtype,
                 Py_ssize_t size, bint dropout=False):
        if n_shards < 2:
            raise ValueError(f"n_shards: expected an integer >= 2, got {n_shards}")
        if not 1 <= n_threads <= n_shards:
            raise ValueError(f"n_threads: expected an integer in [1, {n_shards}], "
                             f"got {n_threads}")
        cdef Py_ssize_t rows = (batch + n_shards - 1) // n_shards
        # shard 0 computes in the batch's own workspace; the others in their own
        self._workspaces = [None] + [Workspace(dims, rows, dropout, False, dtype)
                                     for _ in range(n_shards - 1)]
        self._grads = [None] + [np.zeros(size, dtype=dtype) for _ in range(n_shards - 1)]
        self.shards.shard = <Shard *> calloc(n_shards, sizeof(Shard))
        if self.shards.shard == NULL:
            raise MemoryError("the shards of a batch")
        self.shards.n = n_shards
        self.shards.n_threads = n_threads
        self.batch = batch
        self.dropout = dropout

    cdef int add_batch_norm(self, const Architecture *arch) except -1:
        """Workspaces for arch's batch-norm layers in each shard (shard 0: the
        batch's), and the per-unit sums that _bn_shards combines."""
        cdef int l
        cdef Py_ssize_t widest = 1
        cdef Workspace ws
        for l in range(1, arch.n_layers + 1):
            widest = max(widest, <Py_ssize_t> arch.layers[l].n)
        for ws in self._workspaces[1:]:
            ws.add_batch_norm(arch)
        self._norm = np.zeros((self.shards.n + 1, 2 + 2 * widest))
        self._norm_stats = np.zeros(max(1, arch.state_size))
        return 0

    cdef int use_input(self, object X, Py_ssize_t n1) except -1:
        """The coming call's X: a SparseInput read by a SPARSE_DENSE layer 1 of
        ``n1`` units gets batch buffers for each shard but the first (which
        uses X's own); anything else (None: the call is over) none."""
        cdef SparseInput copy
        cdef Py_ssize_t rows = (self.batch + self.shards.n - 1) // self.shards.n
        if X is None or not isinstance(X, SparseInput):
            self._sparse, self._sparse_source = [], None
            return 0
        if X is not self._sparse_source:
            self._sparse = [None]
            for _ in range(self.shards.n - 1):
                copy = (<SparseInput> X).shard_copy()
                copy.reserve(rows, n1)
                self._sparse.append(copy)
            self._sparse_source = X
        return 0

    cdef Shards *bind(self, const Architecture *arch, const Buffers *buf) except NULL:
        """Point each shard at the network (arch, buf) and its own buffers; shard 0
        uses buf's workspace and gradient (and sparse batch). Return the shards.
        With a SPARSE_DENSE layer 1 (buf.sparse), call use_input first."""
        cdef int k
        cdef Workspace ws
        cdef double *norm = NULL
        cdef Py_ssize_t stride = 0
        if buf.sparse != NULL and len(self._sparse) != self.shards.n:
            raise RuntimeError("ShardSet.bind: a sparse input without use_input")
        self.shards.norm_stats = self.shards.norm_sums = NULL
        if self._norm is not None:
            norm = <double *> cnp.PyArray_DATA(self._norm)
            stride = self._norm.shape[1]
            self.shards.norm_stats = <double *> cnp.PyArray_DATA(self._norm_stats)
            self.shards.norm_sums = norm + self.shards.n * stride
        for k in range(self.shards.n):
            self.shards.shard[k].arch = arch[0]
            self.shards.shard[k].buf = buf[0]
            self.shards.shard[k].norm = norm + k * stride if norm != NULL else NULL
            if k > 0:
                ws = self._workspaces[k]
                ws.use(&self.shards.shard[k].arch, &self.shards.shard[k].buf)
                self.shards.shard[k].buf.grads = cnp.PyArray_DATA(self._grads[k])
                # (ws.use leaves buf.sparse NULL: a shard's own batch, if any)
                if buf.sparse != NULL:
                    self.shards.shard[k].buf.sparse = &(<SparseInput> self._sparse[k]).rows
        return &self.shards
