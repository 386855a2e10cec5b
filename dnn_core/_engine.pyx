"""The training engine: a whole network in flat buffers, and the fit loop in C.

An ``Engine`` owns ONE flat parameter buffer ``[W1, b1, W2, b2, ...]`` (each
``W[l]`` C-ordered ``(n[l], n[l-1])``), one gradient buffer of the same
layout, the optimizer's two moment buffers, a snapshot of all three (to undo a
diverging run) and workspaces for one batch size, allocated once. Its epoch
loop (shuffle, gather the batch, forward, cost, backward, update) runs without
the GIL, which it takes back only to let Python see a pending Ctrl-C (every
``CHECK_SECONDS`` of work) and to raise.

Data come in scikit-learn's layout, ``X`` of shape ``(m, n0)``, each row's
values contiguous, any row stride: read as the course's ``(n0, m)`` it is
Fortran-ordered with the row stride as leading dimension, so BLAS takes a batch
of consecutive rows in the engine's dtype through a transpose flag, with no
copy. Rows in another dtype (float32, float64, uint8), or shuffled, are
converted while they are gathered into the batch workspace, so a memory-mapped
set is never copied whole. Activations and gradients are in
the course's ``(units, examples)`` layout. Targets come as a float matrix
``(m, n_out)`` (sigmoid and linear outputs) or as integer class labels
``(m,)`` (softmax, one-hot encoded while the batch is gathered).

With plain gradient descent the update is folded into the ``dW`` GEMM,
``W = (1 - lr l2 / m) W - (lr / m) dZ A_prev^T`` (BLAS's beta), after
``dA_prev`` has been taken from the old ``W``; ``dA0`` is never computed.
"""
from libc.stdint cimport uint64_t, int64_t, uint8_t
from libc.string cimport memcpy
from libc.math cimport isfinite, NAN, INFINITY
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from posix.mman cimport madvise, MADV_WILLNEED
from posix.unistd cimport sysconf, _SC_PAGESIZE
from cpython.exc cimport PyErr_CheckSignals

cimport numpy as cnp
import numpy as np

from dnn_core._blas cimport floating, blas_int, BLAS_Trans, NoTrans, Trans, gemm, axpy, dot
from dnn_core._activations cimport (Activation, IDENTITY, SIGMOID, SOFTMAX, RELU, TANH,
                                    LEAKY_RELU, bias_activation_forward,
                                    activation_backward, nonfinite_probe)
from dnn_core._losses cimport (Loss, BINARY_CROSSENTROPY, CATEGORICAL_CROSSENTROPY,
                               MEAN_SQUARED_ERROR, cost_from_logits, output_delta)
from dnn_core._optim cimport Optimizer, Schedule, GD, ADAM, scheduled_rate, optimizer_step
from dnn_core._random cimport (Random, random_seed, random_uniform, random_permutation,
                               block_permutation)

cnp.import_array()

# Seconds of work between two looks for a pending Ctrl-C.
cdef double CHECK_SECONDS = 0.02
# A new lowest-cost state is copied aside (the undo for divergence) when at
# least this many times the last copy's duration has passed since it, so the
# copies cost at most ~1/SNAPSHOT_SPACING of the training time.
cdef double SNAPSHOT_SPACING = 20
# Multiply-adds of a forward pass from which plain gd is not folded into the
# GEMMs (such a step takes ~50 ms or more), so that Ctrl-C is looked for within it.
cdef double UNFUSED_WORK = 1e8

# Return codes of the epoch loop.
cdef enum:
    DONE = 0
    DIVERGED = 1

# How rows are shuffled each epoch (train's shuffle).
cdef enum:
    NO_SHUFFLE = 0
    SHUFFLE_ROWS = 1
    SHUFFLE_BLOCKS = 2

# Element types of the rows X (converted to the engine's dtype while gathered).
cdef enum:
    KIND_FLOAT32 = 0
    KIND_FLOAT64 = 1
    KIND_UINT8 = 2

# Bytes of X announced to the kernel ahead of a reader that takes rows in order
# (madvise WILLNEED): a memory-mapped file is then read in large requests, not
# one page fault at a time (measured: ~50 MB/s without, GB/s with).
cdef Py_ssize_t READ_AHEAD_BYTES = 1 << 25
cdef size_t PAGE_SIZE = <size_t> sysconf(_SC_PAGESIZE)

cdef Py_ssize_t MAX_LAYER = 64
cdef Py_ssize_t BLAS_INT_MAX = 2147483647


cdef struct Plan:
    # the network
    int n_layers
    blas_int dims[65]
    Activation activations[65]     # hidden layers 1..L-1
    double keep[65]                # keep probability per hidden layer (1: no dropout)
    Loss loss
    double slope
    Py_ssize_t w_off[65]
    Py_ssize_t b_off[65]
    Py_ssize_t size
    # the run
    double l2
    Optimizer optimizer
    double beta1, beta2, epsilon
    Schedule schedule
    double rate0, schedule_a, schedule_b
    bint dropout
    # buffers, typed by the caller
    void *params
    void *grads
    void *moment1
    void *moment2
    void *snapshot                 # (3, size): params, moment1, moment2
    # workspaces for `batch` examples: offsets into ws
    Py_ssize_t batch
    void *ws
    Py_ssize_t z_off[65]
    Py_ssize_t a_off[65]
    Py_ssize_t mask_off[65]
    Py_ssize_t drop_off[65]
    Py_ssize_t delta_off[2]
    Py_ssize_t xb_off, yb_off, db_off
    Py_ssize_t wb_off              # the batch's sample weights (mb,)
    bint weighted                  # whether ws + wb_off holds them
    double *work                   # 2 * batch doubles (softmax)
    Py_ssize_t *perm               # m indices (shuffle)
    Py_ssize_t *block_order        # ceil(m / shuffle_block) indices (block shuffle)
    Py_ssize_t shuffle_block       # rows per block (block shuffle)
    Py_ssize_t shuffle_window      # blocks per window (block shuffle)


cdef struct Rows:
    # the rows X (m, n0): any row stride, contiguous values within a row
    const char *data
    int kind                       # KIND_FLOAT32, KIND_FLOAT64, KIND_UINT8
    Py_ssize_t stride              # elements from one row to the next
    bint in_place                  # in the engine's dtype, stride fits BLAS: read in place


cdef struct Data:
    # the rows handed in, checked: X (m, n0), and T (m, n_out) or labels (m,)
    Py_ssize_t m
    Rows X
    char *T                        # NULL with labels
    int64_t *labels                # NULL with T
    char *weights                  # (m,) sample weights, or NULL


cdef struct Progress:
    long epochs_done
    long step                      # optimizer steps so far (Adam's t)
    long snapshot_step
    long snapshot_epoch            # the network's epochs completed before the snapshot's
    double snapshot_cost           # the batch cost at the snapshot's state
    double snapshot_seconds        # how long the last copy took
    long failed_epoch              # where the cost stopped being finite
    bint has_snapshot
    double last_check, last_snapshot
    double previous_cost           # of the last step


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + 1e-9 * ts.tv_nsec


cdef int _poll(Progress *progress) except -1 nogil:
    """Let Python see a pending signal (Ctrl-C raises here) if CHECK_SECONDS
    of work have passed since the last look; progress NULL: never."""
    cdef double now
    if progress != NULL:
        now = _now()
        if now - progress.last_check >= CHECK_SECONDS:
            progress.last_check = now
            with gil:
                PyErr_CheckSignals()
    return 0


cdef inline BLAS_Trans _flip(BLAS_Trans t) noexcept nogil:
    return NoTrans if t == Trans else Trans


cdef bint _nonfinite(Py_ssize_t size, const floating *x) noexcept nogil:
    cdef floating probe = nonfinite_probe(size, x)
    return probe != probe


cdef bint _state_nonfinite(Plan *p, const floating *P) noexcept nogil:
    """The parameters or the optimizer's moments hold NaN or inf (squared
    gradients can overflow float32 while the parameters stay finite)."""
    return _nonfinite(p.size, P) or (p.optimizer != GD and (
        _nonfinite(p.size, <const floating *> p.moment1)
        or _nonfinite(p.size, <const floating *> p.moment2)))


# ---------------------------------------------------------------------------
# One batch

cdef void gather_rows(const Rows *X, Py_ssize_t n_features, const Py_ssize_t *rows,
                      Py_ssize_t start, Py_ssize_t mb, floating *Xb) noexcept nogil:
    """Xb = X[rows].astype(dtype) (mb, n0) C-ordered; rows: indices, or NULL for
    rows start..start+mb. Converts from X's kind, whatever its row stride."""
    cdef Py_ssize_t j, k, row
    cdef floating *out
    cdef const float *f32
    cdef const double *f64
    cdef const uint8_t *u8
    for j in range(mb):
        row = rows[j] if rows != NULL else start + j
        out = Xb + j * n_features
        if X.kind == KIND_FLOAT32:
            f32 = (<const float *> X.data) + row * X.stride
            if floating is float:
                # Xb[j] = X[row]
                memcpy(out, f32, n_features * sizeof(float))
            else:
                # Xb[j] = X[row].astype(np.float64)
                for k in range(n_features):
                    out[k] = f32[k]
        elif X.kind == KIND_FLOAT64:
            f64 = (<const double *> X.data) + row * X.stride
            if floating is double:
                # Xb[j] = X[row]
                memcpy(out, f64, n_features * sizeof(double))
            else:
                # Xb[j] = X[row].astype(np.float32)
                for k in range(n_features):
                    out[k] = <float> f64[k]
        else:
            u8 = (<const uint8_t *> X.data) + row * X.stride
            # Xb[j] = X[row].astype(dtype)
            for k in range(n_features):
                out[k] = u8[k]


cdef void hint_rows(const Rows *X, Py_ssize_t n_features, Py_ssize_t low,
                    Py_ssize_t high) noexcept nogil:
    """Tell the kernel that rows low..high of X will be read soon (madvise
    WILLNEED): pages of a memory-mapped file are read ahead in large requests.
    Harmless for X in memory; errors are ignored (it is a hint)."""
    cdef size_t item = 4 if X.kind == KIND_FLOAT32 else (8 if X.kind == KIND_FLOAT64 else 1)
    cdef size_t first, last
    if high <= low:
        return
    first = <size_t> (X.data + low * X.stride * item)
    last = <size_t> (X.data + ((high - 1) * X.stride + n_features) * item)
    first -= first % PAGE_SIZE
    madvise(<void *> first, last - first, MADV_WILLNEED)


cdef Py_ssize_t read_ahead(Plan *p, const Rows *X, int shuffle, Py_ssize_t m,
                           Py_ssize_t start, Py_ssize_t hinted) noexcept nogil:
    """Announce (hint_rows) the rows that the batches after position ``start`` of
    this epoch's order will read, unless announced already (positions below
    ``hinted``); return the new ``hinted``. In order: READ_AHEAD_BYTES ahead.
    Block shuffle: the next window's blocks. Row shuffle: nothing (random)."""
    cdef Py_ssize_t ahead, span, w, b, low, n0 = p.dims[0]
    cdef Py_ssize_t n_blocks
    if shuffle == NO_SHUFFLE:
        ahead = max(1, READ_AHEAD_BYTES // max(1, X.stride * (
            4 if X.kind == KIND_FLOAT32 else (8 if X.kind == KIND_FLOAT64 else 1))))
        if hinted < m and start + ahead > hinted:
            hint_rows(X, n0, max(hinted, start), min(m, start + 2 * ahead))
            hinted = min(m, start + 2 * ahead)
    elif shuffle == SHUFFLE_BLOCKS:
        span = p.shuffle_block * p.shuffle_window
        n_blocks = (m + p.shuffle_block - 1) // p.shuffle_block
        # (windows start at multiples of span, give or take the short last block)
        while hinted < m and hinted <= start + span:
            w = hinted // span
            for b in range(w * p.shuffle_window, min((w + 1) * p.shuffle_window, n_blocks)):
                low = p.block_order[b] * p.shuffle_block
                hint_rows(X, n0, low, min(m, low + p.shuffle_block))
            hinted += span
    return hinted


cdef void shuffle_order(Plan *p, Random *rng, int shuffle, Py_ssize_t m) noexcept nogil:
    """p.perm = this epoch's order of the m rows (SHUFFLE_ROWS or SHUFFLE_BLOCKS)."""
    if shuffle == SHUFFLE_BLOCKS:
        block_permutation(rng, m, p.shuffle_block, p.shuffle_window, p.perm, p.block_order)
    else:
        random_permutation(rng, m, p.perm)


cdef double gather_batch(const Rows *X, const floating *T, const int64_t *labels,
                         const floating *W, Py_ssize_t n_features, Py_ssize_t n_out,
                         const Py_ssize_t *rows, Py_ssize_t start, Py_ssize_t mb,
                         floating *Xb, floating *Yb, floating *Wb) noexcept nogil:
    """Xb = X[rows] (mb, n0) in the engine's dtype unless Xb is NULL; Yb = targets of
    rows as (n_out, mb);
    Wb = W[rows] unless W is NULL. Return the rows' total weight (mb without W).

    rows: indices, or NULL for rows start..start+mb.
    """
    cdef Py_ssize_t i, j, k, row
    cdef double total = mb
    if W != NULL:
        total = 0
        for j in range(mb):
            # Wb = W[rows]; total = Wb.sum()
            Wb[j] = W[rows[j] if rows != NULL else start + j]
            total += Wb[j]
    if Xb != NULL:
        # Xb = X[rows]
        gather_rows(X, n_features, rows, start, mb, Xb)
    for j in range(mb):
        row = rows[j] if rows != NULL else start + j
        if labels != NULL:
            # Yb[:, j] = one_hot(labels[row])
            for k in range(n_out):
                Yb[k * mb + j] = 1 if labels[row] == k else 0
        else:
            # Yb[:, j] = T[row]
            for k in range(n_out):
                Yb[k * mb + j] = T[row * n_out + k]
    return total


cdef void dropout_forward(Random *rng, double keep, Py_ssize_t size, const floating *A,
                          floating *mask, floating *dropped) noexcept nogil:
    """mask = (rng.random(A.shape) < keep) / keep; dropped = A * mask."""
    cdef Py_ssize_t i
    cdef floating scale = <floating> (1 / keep)
    for i in range(size):
        mask[i] = scale if random_uniform(rng) < keep else 0
        dropped[i] = A[i] * mask[i]


cdef int forward_pass(Plan *p, floating *P, const floating *Xb, BLAS_Trans tx,
                      blas_int ldx, Py_ssize_t mb, bint with_dropout, Random *rng,
                      Progress *progress) except -1 nogil:
    """Z[l], A[l] for every hidden layer and the output logits Z[L] into the
    workspaces; return 1 if some Z is not finite, else 0. Looks for Ctrl-C
    between layers (see _poll)."""
    cdef floating *ws = <floating *> p.ws
    cdef const floating *A_prev = Xb
    cdef BLAS_Trans ta = tx
    cdef blas_int lda = ldx
    cdef int l, L = p.n_layers
    cdef bint bad = False
    cdef blas_int n, n_prev, m = <blas_int> mb
    for l in range(1, L + 1):
        n = p.dims[l]
        n_prev = p.dims[l - 1]
        # Z[l] = W[l] @ A[l-1] + b[l]; A[l] = g(Z[l])   (only Z[L] at the output)
        gemm(NoTrans, ta, n, m, n_prev, 1, P + p.w_off[l], n_prev, A_prev, lda, 0,
             ws + p.z_off[l], m)
        if l < L:
            bad |= bias_activation_forward(p.activations[l], p.slope, n, m, ws + p.z_off[l],
                                           P + p.b_off[l], ws + p.a_off[l], p.work)
            A_prev = ws + p.a_off[l]
            if with_dropout and p.keep[l] < 1:
                dropout_forward(rng, p.keep[l], n * mb, ws + p.a_off[l],
                                ws + p.mask_off[l], ws + p.drop_off[l])
                A_prev = ws + p.drop_off[l]
        else:
            bad |= bias_activation_forward(IDENTITY, 0, n, m, ws + p.z_off[l],
                                           P + p.b_off[l], ws + p.z_off[l], p.work)
        ta = NoTrans
        lda = m
        _poll(progress)
    return bad


cdef double weights_square_sum(Plan *p, const floating *P) noexcept nogil:
    """sum over l of np.sum(W[l] ** 2)."""
    cdef double total = 0
    cdef int l
    cdef blas_int size
    for l in range(1, p.n_layers + 1):
        size = p.dims[l] * p.dims[l - 1]
        total += dot(size, P + p.w_off[l], 1, P + p.w_off[l], 1)
    return total


cdef double batch_cost(Plan *p, floating *P, const floating *Yb, Py_ssize_t mb,
                       double weight, double l2) noexcept nogil:
    """Cost of the batch from Z[L] (fills A[L]), plus l2 / (2 m) * sum ||W||^2.

    weight: the batch's total sample weight, which stands for m (mb unweighted).
    """
    cdef floating *ws = <floating *> p.ws
    cdef int L = p.n_layers
    cdef double cost = cost_from_logits(p.loss, p.dims[L], mb, ws + p.z_off[L], Yb,
                                        ws + p.a_off[L], p.work,
                                        ws + p.wb_off if p.weighted else NULL) * mb / weight
    if l2 > 0:
        cost += l2 / (2.0 * weight) * weights_square_sum(p, P)
    return cost


cdef int backward_pass(Plan *p, floating *P, floating *G, const floating *Xb,
                       BLAS_Trans tx, blas_int ldx, const floating *Yb, Py_ssize_t mb,
                       double weight, bint with_dropout, double l2, double fused_rate,
                       Progress *progress) except -1 nogil:
    """Gradients of the batch into G, looking for Ctrl-C between layers; or,
    when G is NULL, the gradient-descent update ``P -= fused_rate * grad``
    folded into the GEMMs (not to be interrupted).

    weight: the batch's total sample weight, which stands for m (mb unweighted).
    """
    cdef floating *ws = <floating *> p.ws
    cdef int l, L = p.n_layers, current = 0
    cdef blas_int n, n_prev, m = <blas_int> mb
    cdef floating *dZ
    cdef floating *dA_prev
    cdef floating *db
    cdef const floating *A_prev
    cdef BLAS_Trans ta
    cdef blas_int lda
    cdef double inv_m = 1.0 / weight
    cdef bint fused = G == NULL
    # dZ[L] = (A[L] - Y) * w; db[L] = dZ[L].sum(1) / m
    dZ = ws + p.delta_off[0]
    db = ws + p.db_off if fused else G + p.b_off[L]
    output_delta(p.dims[L], mb, ws + p.a_off[L], Yb, dZ, db, inv_m,
                 ws + p.wb_off if p.weighted else NULL)
    for l in range(L, 0, -1):
        n = p.dims[l]
        n_prev = p.dims[l - 1]
        if l > 1:
            A_prev = ws + (p.drop_off[l - 1] if with_dropout and p.keep[l - 1] < 1
                           else p.a_off[l - 1])
            ta = NoTrans
            lda = m
            # dA[l-1] = W[l].T @ dZ[l]   (from W[l] before its update)
            dA_prev = ws + p.delta_off[1 - current]
            gemm(Trans, NoTrans, n_prev, m, n, 1, P + p.w_off[l], n_prev, dZ, m, 0,
                 dA_prev, m)
        else:
            A_prev = Xb
            ta = tx
            lda = ldx
        if fused:
            # W[l] = (1 - lr * l2 / m) * W[l] - (lr / m) * dZ[l] @ A[l-1].T
            gemm(NoTrans, _flip(ta), n, n_prev, m, <floating> (-fused_rate * inv_m), dZ, m,
                 A_prev, lda, <floating> (1 - fused_rate * l2 * inv_m), P + p.w_off[l],
                 n_prev)
            # b[l] = b[l] - lr * db[l]
            axpy(n, <floating> -fused_rate, db, 1, P + p.b_off[l], 1)
        else:
            # dW[l] = dZ[l] @ A[l-1].T / m
            gemm(NoTrans, _flip(ta), n, n_prev, m, <floating> inv_m, dZ, m, A_prev, lda,
                 0, G + p.w_off[l], n_prev)
            if l2 > 0:
                # dW[l] += (l2 / m) * W[l]
                axpy(n * n_prev, <floating> (l2 * inv_m), P + p.w_off[l], 1,
                     G + p.w_off[l], 1)
        if l > 1:
            if with_dropout and p.keep[l - 1] < 1:
                # dA[l-1] = dA[l-1] * D[l-1] / keep
                _multiply(n_prev * mb, dA_prev, ws + p.mask_off[l - 1])
            # dZ[l-1] = dA[l-1] * g'(Z[l-1]); db[l-1] = dZ[l-1].sum(1) / m
            db = ws + p.db_off if fused else G + p.b_off[l - 1]
            activation_backward(p.activations[l - 1], p.slope, n_prev, mb, dA_prev,
                                ws + p.z_off[l - 1], ws + p.a_off[l - 1], dA_prev, db,
                                inv_m, p.work)
            dZ = dA_prev
            current = 1 - current
        if not fused:
            _poll(progress)
    return 0


cdef inline void _multiply(Py_ssize_t size, floating *x, const floating *y) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(size):
        x[i] = x[i] * y[i]


# ---------------------------------------------------------------------------
# Epochs

cdef void _save_snapshot(Plan *p, floating *P, Progress *progress) noexcept nogil:
    cdef floating *snap = <floating *> p.snapshot
    memcpy(snap, P, p.size * sizeof(floating))
    if p.optimizer != GD:
        memcpy(snap + p.size, p.moment1, p.size * sizeof(floating))
        memcpy(snap + 2 * p.size, p.moment2, p.size * sizeof(floating))
    progress.snapshot_step = progress.step
    progress.has_snapshot = True


cdef void _restore_snapshot(Plan *p, floating *P, Progress *progress) noexcept nogil:
    cdef floating *snap = <floating *> p.snapshot
    memcpy(P, snap, p.size * sizeof(floating))
    if p.optimizer != GD:
        memcpy(p.moment1, snap + p.size, p.size * sizeof(floating))
        memcpy(p.moment2, snap + 2 * p.size, p.size * sizeof(floating))
    progress.step = progress.snapshot_step


cdef int run_epochs(Plan *p, floating *P, const Rows *X, const floating *T,
                    const int64_t *labels, const floating *W, Py_ssize_t m,
                    Py_ssize_t batch, int shuffle,
                    long first_epoch, long n_epochs, Random *rng, double *costs,
                    double *seconds, Progress *progress) except -1 nogil:
    """Train for n_epochs; return DONE or DIVERGED. W: sample weights (m,) or NULL
    (a batch whose weights are all zero is skipped).

    On DIVERGED the parameters and the optimizer's state are put back to the
    snapshot: the state of lowest batch cost seen since the fit began (the
    first state of the fit, then each new lowest one, spaced so that the copies
    take at most 1/SNAPSHOT_SPACING of the time; a snapshot may be carried over from an earlier call of
    the same fit); progress.epochs_done counts the epochs of this call
    completed before that state (negative when it is from an earlier call).

    Raises (through the GIL) what a pending signal handler raises, such as
    KeyboardInterrupt, between two steps: the parameters are then those at
    the end of the last completed step.
    """
    cdef floating *ws = <floating *> p.ws
    cdef floating *G = <floating *> p.grads
    cdef Py_ssize_t n0 = p.dims[0], n_out = p.dims[p.n_layers]
    cdef Py_ssize_t start, mb
    cdef long e
    cdef double rate, cost, total, total_weight, weight = 0, now, began
    cdef const floating *Xb
    cdef blas_int ldx = <blas_int> n0
    cdef Py_ssize_t hinted
    cdef floating *Yb = ws + p.yb_off
    cdef floating *Wb = ws + p.wb_off
    cdef bint full_batch = batch >= m
    cdef int l
    cdef double forward_work = 0
    for l in range(1, p.n_layers + 1):
        forward_work += <double> p.dims[l] * p.dims[l - 1] * min(batch, m)
    # Plain gd is folded into the GEMMs, except in steps so long that Ctrl-C
    # should be looked for within them (a fused update cannot be stopped halfway).
    cdef bint fused = p.optimizer == GD and forward_work < UNFUSED_WORK
    began = _now()
    for e in range(n_epochs):
        rate = scheduled_rate(p.schedule, p.rate0, p.schedule_a, p.schedule_b,
                              first_epoch + e)
        if shuffle and not full_batch:
            shuffle_order(p, rng, shuffle, m)
        total = total_weight = 0
        start = hinted = 0
        while start < m:
            mb = min(batch, m - start)
            if not full_batch:
                hinted = read_ahead(p, X, shuffle, m, start, hinted)
            if (full_batch or not shuffle) and X.in_place:
                # a block of consecutive rows is read in place
                Xb = (<const floating *> X.data) + start * X.stride
                ldx = <blas_int> X.stride
                if not (full_batch and e > 0):
                    weight = gather_batch(X, T, labels, W, n0, n_out, NULL, start, mb, NULL,
                                          Yb, Wb)
            elif full_batch or not shuffle:
                # consecutive rows, converted to the engine's dtype (once if full batch)
                if not (full_batch and e > 0):
                    weight = gather_batch(X, T, labels, W, n0, n_out, NULL, start, mb,
                                          ws + p.xb_off, Yb, Wb)
                Xb = ws + p.xb_off
            else:
                weight = gather_batch(X, T, labels, W, n0, n_out, p.perm + start, 0, mb,
                                      ws + p.xb_off, Yb, Wb)
                Xb = ws + p.xb_off
            if weight <= 0:
                start += mb
                continue
            # X rows (mb, n0) C-ordered are the course's A0 (n0, mb) in Fortran order
            # (a step folded into the GEMMs is short: looked for Ctrl-C after it only)
            if forward_pass(p, P, Xb, Trans, ldx, mb, p.dropout, rng,
                            NULL if fused else progress):
                cost = NAN
            else:
                cost = batch_cost(p, P, Yb, mb, weight, p.l2)
            if not isfinite(cost):
                progress.epochs_done = progress.failed_epoch = e
                if progress.has_snapshot:
                    # back to the lowest-cost state kept
                    _restore_snapshot(p, P, progress)
                    progress.epochs_done = progress.snapshot_epoch - first_epoch
                return DIVERGED
            now = _now()
            # Keep aside the first state of the fit and then each new state of
            # lowest cost (it is finite: it gave a finite cost), so that a
            # divergence goes back to the best state seen, never to a
            # finite-but-exploded one.
            if (not progress.has_snapshot
                    or (cost < progress.snapshot_cost
                        and now - progress.last_snapshot
                        >= SNAPSHOT_SPACING * progress.snapshot_seconds)):
                if (progress.has_snapshot and p.optimizer != GD
                        and _state_nonfinite(p, P)):
                    # the cost is finite but the optimizer's state overflowed
                    progress.epochs_done = progress.failed_epoch = e
                    _restore_snapshot(p, P, progress)
                    progress.epochs_done = progress.snapshot_epoch - first_epoch
                    return DIVERGED
                _save_snapshot(p, P, progress)
                progress.snapshot_epoch = first_epoch + e
                progress.snapshot_cost = cost
                progress.last_snapshot = now
                now = _now()
                progress.snapshot_seconds = now - progress.last_snapshot
            progress.previous_cost = cost
            if fused:
                progress.step += 1
                backward_pass(p, P, NULL, Xb, Trans, ldx, Yb, mb, weight,
                              p.dropout, p.l2, rate, NULL)
            else:
                backward_pass(p, P, G, Xb, Trans, ldx, Yb, mb, weight,
                              p.dropout, p.l2, 0, progress)
                progress.step += 1
                optimizer_step(p.optimizer, p.size, rate, p.beta1, p.beta2, p.epsilon,
                               progress.step, P, G, <floating *> p.moment1,
                               <floating *> p.moment2)
            total += cost * weight
            total_weight += weight
            if now - progress.last_check >= CHECK_SECONDS:
                _poll(progress)
            start += mb
        costs[e] = total / total_weight if total_weight > 0 else 0
        now = _now()
        seconds[e] = now - began
        began = now
        progress.epochs_done = e + 1
    # the last update is checked here, since no later forward pass will see it
    if n_epochs > 0 and _state_nonfinite(p, P):
        progress.failed_epoch = n_epochs - 1
        progress.epochs_done = n_epochs - 1
        if progress.has_snapshot:
            _restore_snapshot(p, P, progress)
            progress.epochs_done = progress.snapshot_epoch - first_epoch
        return DIVERGED
    return DONE


cdef const floating *chunk_rows(const Rows *X, Py_ssize_t n0, Py_ssize_t start,
                                Py_ssize_t mb, floating *Xb, blas_int *ldx) noexcept nogil:
    """The rows start..start+mb of X in the engine's dtype: in place if X allows,
    else converted into Xb (the workspace); *ldx = their leading dimension."""
    if X.in_place:
        ldx[0] = <blas_int> X.stride
        return (<const floating *> X.data) + start * X.stride
    # Xb = X[start:start + mb].astype(dtype)
    gather_rows(X, n0, NULL, start, mb, Xb)
    ldx[0] = <blas_int> n0
    return Xb


cdef void predict_rows(Plan *p, floating *P, const Rows *X, Py_ssize_t m,
                       Activation output, floating *out) noexcept nogil:
    """out = g_out(Z[L]) for the rows of X, out of shape (m, n_out), in chunks
    (each converted to the engine's dtype if X is not in it)."""
    cdef floating *ws = <floating *> p.ws
    cdef Py_ssize_t start, mb, i, j, n0 = p.dims[0], n_out = p.dims[p.n_layers]
    cdef int L = p.n_layers
    cdef floating *A
    cdef const floating *Xb
    cdef blas_int ldx
    cdef Py_ssize_t hinted = 0
    start = 0
    while start < m:
        mb = min(p.batch, m - start)
        hinted = read_ahead(p, X, NO_SHUFFLE, m, start, hinted)
        Xb = chunk_rows(X, n0, start, mb, ws + p.xb_off, &ldx)
        forward_pass(p, P, Xb, Trans, ldx, mb, False, NULL, NULL)
        A = ws + p.a_off[L]
        bias_activation_forward(output, p.slope, n_out, mb, ws + p.z_off[L], NULL, A,
                                p.work)
        # out[start:start + mb] = A.T
        for j in range(mb):
            for i in range(n_out):
                out[(start + j) * n_out + i] = A[i * mb + j]
        start += mb


cdef double data_cost(Plan *p, floating *P, const Rows *X, const floating *T,
                      const int64_t *labels, Py_ssize_t m) noexcept nogil:
    """The mean cost over all rows of X (no l2 term), in chunks (each converted
    to the engine's dtype if X is not in it)."""
    cdef floating *ws = <floating *> p.ws
    cdef Py_ssize_t start, mb, n0 = p.dims[0], n_out = p.dims[p.n_layers]
    cdef double total = 0
    cdef const floating *Xb
    cdef blas_int ldx
    cdef Py_ssize_t hinted = 0
    start = 0
    while start < m:
        mb = min(p.batch, m - start)
        hinted = read_ahead(p, X, NO_SHUFFLE, m, start, hinted)
        gather_batch(X, T, labels, NULL, n0, n_out, NULL, start, mb, NULL, ws + p.yb_off,
                     NULL)
        Xb = chunk_rows(X, n0, start, mb, ws + p.xb_off, &ldx)
        if forward_pass(p, P, Xb, Trans, ldx, mb, False, NULL, NULL):
            return NAN
        total += batch_cost(p, P, ws + p.yb_off, mb, mb, 0) * mb
        start += mb
    return total / m


# ---------------------------------------------------------------------------
# The Python object

cdef class Workspace:
    """Buffers for batches of up to ``batch`` examples (made once, reused)."""
    cdef readonly Py_ssize_t batch
    cdef readonly bint dropout
    cdef readonly object buffer
    cdef readonly object work
    cdef Py_ssize_t z_off[65]
    cdef Py_ssize_t a_off[65]
    cdef Py_ssize_t mask_off[65]
    cdef Py_ssize_t drop_off[65]
    cdef Py_ssize_t delta_off[2]
    cdef Py_ssize_t xb_off, yb_off, db_off, wb_off

    def __init__(self, dims, Py_ssize_t batch, bint dropout, bint gather, dtype):
        cdef Py_ssize_t total = 0, l, L = len(dims) - 1, widest = max(dims[1:])
        self.batch = batch
        self.dropout = dropout
        for l in range(1, L + 1):
            self.z_off[l] = total
            total += dims[l] * batch
            self.a_off[l] = total
            total += dims[l] * batch
            if dropout and l < L:
                self.mask_off[l] = total
                total += dims[l] * batch
                self.drop_off[l] = total
                total += dims[l] * batch
        self.delta_off[0] = total
        self.delta_off[1] = total + widest * batch
        total += 2 * widest * batch
        self.xb_off = total
        total += dims[0] * batch if gather else 0
        self.yb_off = total
        total += dims[L] * batch
        self.db_off = total
        total += widest
        self.wb_off = total
        total += batch
        self.buffer = np.zeros(total, dtype=dtype)
        self.work = np.zeros(2 * batch)


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
    cdef Plan plan
    cdef Random rng
    cdef bint is_double
    cdef bint busy
    # the snapshot carried from one train() call to the next of the same fit
    cdef bint kept_snapshot
    cdef long kept_step, kept_epoch
    cdef double kept_cost
    cdef Workspace train_ws, infer_ws
    cdef object perm
    cdef Py_ssize_t perm_rows

    def __init__(self, layer_dims, activations, int loss, double slope, dtype,
                 uint64_t seed=0):
        cdef int l, L = len(layer_dims) - 1
        cdef Py_ssize_t offset = 0
        if self._parameters is not None:
            raise RuntimeError("an Engine is initialized once; make a new one")
        if not 1 <= L <= MAX_LAYER:
            raise ValueError(f"layer_dims: expected 2 to {MAX_LAYER + 1} sizes, got {L + 1}")
        if any(int(n) < 1 for n in layer_dims):
            raise ValueError(f"layer_dims: expected sizes >= 1, got {list(layer_dims)}")
        if any(int(a) * int(b) > BLAS_INT_MAX for a, b in zip(layer_dims, layer_dims[1:])):
            raise ValueError(f"layer_dims: a layer's weights must number at most "
                             f"{BLAS_INT_MAX} (BLAS's 32-bit sizes), got {list(layer_dims)}")
        if len(activations) != L - 1:
            raise ValueError(f"activations: expected {L - 1} codes, got {len(activations)}")
        if any(not IDENTITY <= a <= LEAKY_RELU for a in activations):
            raise ValueError(f"activations: expected codes in 0..{LEAKY_RELU}, got {list(activations)}")
        if not BINARY_CROSSENTROPY <= loss <= MEAN_SQUARED_ERROR:
            raise ValueError(f"loss: expected a code in 0..{MEAN_SQUARED_ERROR}, got {loss}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.is_double = self.dtype == np.float64
        self.layer_dims = tuple(int(n) for n in layer_dims)
        self.plan.n_layers = L
        self.plan.loss = <Loss> loss
        self.plan.slope = slope
        for l in range(L + 1):
            self.plan.dims[l] = <blas_int> self.layer_dims[l]
            self.plan.keep[l] = 1
        for l in range(1, L):
            self.plan.activations[l] = <Activation> activations[l - 1]
        for l in range(1, L + 1):
            self.plan.w_off[l] = offset
            offset += self.layer_dims[l] * self.layer_dims[l - 1]
            self.plan.b_off[l] = offset
            offset += self.layer_dims[l]
        self.plan.size = offset
        self.weight_offsets = tuple(self.plan.w_off[l] for l in range(1, L + 1))
        self.bias_offsets = tuple(self.plan.b_off[l] for l in range(1, L + 1))
        self._parameters = np.zeros(offset, dtype=self.dtype)
        self._gradients = np.zeros(offset, dtype=self.dtype)
        self._moments = np.zeros((2, offset), dtype=self.dtype)
        self._snapshot = None
        self.step_count = 0
        self.epochs_done = 0
        random_seed(&self.rng, seed)

    @property
    def size(self):
        """Number of parameters."""
        return self.plan.size

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
        """b[layer] as a (n[l], 1) view of the parameter buffer."""
        return self._view(self._parameters, layer, False)

    def _view(self, flat, int layer, bint weight):
        if not 1 <= layer <= self.plan.n_layers:
            raise ValueError(f"layer: expected 1..{self.plan.n_layers}, got {layer}")
        n, n_prev = self.layer_dims[layer], self.layer_dims[layer - 1]
        if weight:
            start = self.plan.w_off[layer]
            return flat[start:start + n * n_prev].reshape(n, n_prev)
        start = self.plan.b_off[layer]
        return flat[start:start + n].reshape(n, 1)

    def gradient_views(self):
        """{"dW1": ..., "db1": ...} as views of the gradient buffer."""
        grads = {}
        for l in range(1, self.plan.n_layers + 1):
            grads[f"dW{l}"] = self._view(self._gradients, l, True)
            grads[f"db{l}"] = self._view(self._gradients, l, False)
        return grads

    # -- checks: everything that reaches C is shaped and typed here --------

    cdef Rows _check_rows(self, X) except *:
        """Check X, (m >= 1, n0) float32, float64 or uint8, each row's values
        contiguous (unit column stride), any row stride >= a row; describe it."""
        cdef Rows rows
        cdef Py_ssize_t m, n0 = self.layer_dims[0], item, row_step
        if not isinstance(X, np.ndarray):
            raise TypeError(f"X: expected a numpy array, got {type(X).__name__}")
        if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] != n0:
            raise ValueError(f"X: expected shape (m >= 1, {n0}), got {X.shape}")
        kinds = {np.dtype(np.float32): KIND_FLOAT32, np.dtype(np.float64): KIND_FLOAT64,
                 np.dtype(np.uint8): KIND_UINT8}
        if X.dtype not in kinds or not X.dtype.isnative:
            raise ValueError(f"X: expected float32, float64 or uint8 in the machine's byte "
                             f"order, got {X.dtype}")
        m = X.shape[0]
        item = X.dtype.itemsize
        row_step = X.strides[0] if m > 1 else n0 * item
        if not X.flags.aligned or (n0 > 1 and X.strides[1] != item):
            raise ValueError(f"X: expected aligned rows of contiguous values (column "
                             f"stride {item} bytes), got strides {X.strides}")
        if row_step % item or row_step < n0 * item:
            raise ValueError(f"X: expected a row stride that is a multiple of {item} bytes "
                             f"and at least one row ({n0 * item} bytes), got strides "
                             f"{X.strides}")
        rows.data = _data(X)
        rows.kind = kinds[X.dtype]
        rows.stride = row_step // item
        rows.in_place = X.dtype == self.dtype and rows.stride <= BLAS_INT_MAX
        return rows

    cdef Data _check_data(self, X, T, labels, weights=None) except *:
        """Check X with its targets (T for sigmoid and linear outputs, labels for
        softmax) and sample weights (finite, >= 0, or None); return their pointers."""
        cdef Data data
        cdef Py_ssize_t n_out = self.layer_dims[self.plan.n_layers]
        data.X = self._check_rows(X)
        data.m = X.shape[0]
        if self.plan.loss == CATEGORICAL_CROSSENTROPY:
            if T is not None or labels is None:
                raise ValueError("labels: a softmax output takes integer labels, not T")
            _check_array(labels, "labels", np.int64, 1)
            if labels.shape[0] != data.m:
                raise ValueError(f"labels: expected shape ({data.m},), got {labels.shape}")
        else:
            if labels is not None or T is None:
                raise ValueError("T: this output takes a target matrix T, not labels")
            _check_array(T, "T", self.dtype, 2)
            if T.shape != (data.m, n_out):
                raise ValueError(f"T: expected shape {(data.m, n_out)}, got {T.shape}")
        data.T = _data(T) if T is not None else NULL
        data.labels = <int64_t *> _data(labels) if labels is not None else NULL
        data.weights = NULL
        if weights is not None:
            _check_array(weights, "sample_weight", self.dtype, 1)
            if weights.shape[0] != data.m:
                raise ValueError(f"sample_weight: expected shape ({data.m},), "
                                 f"got {weights.shape}")
            if not (np.isfinite(weights).all() and (weights >= 0).all()):
                raise ValueError("sample_weight: expected finite weights >= 0")
            data.weights = _data(weights)
        return data

    cdef Workspace _workspace(self, Py_ssize_t batch, bint training, bint dropout,
                              bint gather):
        cdef Workspace ws = self.train_ws if training else self.infer_ws
        if batch * max(self.layer_dims) > BLAS_INT_MAX:
            raise ValueError(f"batch_size: {batch} examples of {max(self.layer_dims)} units "
                             f"exceed BLAS's 32-bit sizes; use smaller batches")
        if (ws is None or ws.batch != batch or ws.dropout != dropout
                or (gather and ws.xb_off == ws.yb_off)):
            ws = Workspace(self.layer_dims, batch, dropout, gather, self.dtype)
            if training:
                self.train_ws = ws
            else:
                self.infer_ws = ws
        return ws

    cdef void _use(self, Workspace ws):
        cdef int l
        self.plan.batch = ws.batch
        self.plan.ws = _data(ws.buffer)
        self.plan.work = <double *> _data(ws.work)
        for l in range(1, self.plan.n_layers + 1):
            self.plan.z_off[l] = ws.z_off[l]
            self.plan.a_off[l] = ws.a_off[l]
            self.plan.mask_off[l] = ws.mask_off[l]
            self.plan.drop_off[l] = ws.drop_off[l]
        self.plan.delta_off[0] = ws.delta_off[0]
        self.plan.delta_off[1] = ws.delta_off[1]
        self.plan.xb_off = ws.xb_off
        self.plan.yb_off = ws.yb_off
        self.plan.db_off = ws.db_off
        self.plan.wb_off = ws.wb_off
        self.plan.weighted = False
        self.plan.params = _data(self._parameters)
        self.plan.grads = _data(self._gradients)
        self.plan.moment1 = _data(self._moments[0])
        self.plan.moment2 = _data(self._moments[1])

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
              Py_ssize_t shuffle_window=64, bint new_fit=True):
        """Train for ``epochs`` epochs; return True, or False if the cost diverged.

        X: (m, n0) float32, float64 or uint8, each row's values contiguous, any
        row stride (a memmap, a slice of one): batches of rows are read in place
        when X is in the engine's dtype and consecutive rows are taken (full
        batch, no shuffle), else converted while they are gathered into the
        workspace. T: (m, n_out) in the engine's dtype, or
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
        """
        cdef Py_ssize_t m, batch, l, L = self.plan.n_layers
        cdef Progress progress
        cdef int status
        cdef bint dropout = False
        cdef double *cp
        cdef double *sp
        cdef Data data = self._check_data(X, T, labels, sample_weight)
        m = data.m
        if batch_size < 1 or epochs < 0 or first_epoch < 0:
            raise ValueError(f"batch_size, epochs, first_epoch: expected >= 1, >= 0, >= 0, "
                             f"got {batch_size}, {epochs}, {first_epoch}")
        if not GD <= optimizer <= ADAM:
            raise ValueError(f"optimizer: expected a code in 0..{ADAM}, got {optimizer}")
        if not NO_SHUFFLE <= shuffle <= SHUFFLE_BLOCKS:
            raise ValueError(f"shuffle: expected 0 (none), 1 (rows) or 2 (blocks), got {shuffle}")
        if shuffle_block < 0 or shuffle_window < 1:
            raise ValueError(f"shuffle_block, shuffle_window: expected >= 0 and >= 1, "
                             f"got {shuffle_block}, {shuffle_window}")
        if shuffle_block == 0:
            shuffle_block = max(1, (1 << 20) // (X.shape[1] * X.dtype.itemsize))
        if not 0 <= schedule <= 3 or schedule_b <= 0:
            raise ValueError(f"schedule: expected a code in 0..3 and b > 0, got {schedule}, {schedule_b}")
        if not (l2 >= 0 and isfinite(l2)):
            raise ValueError(f"l2: expected a finite number >= 0, got {l2}")
        if not (learning_rate > 0 and isfinite(learning_rate)):
            raise ValueError(f"learning_rate: expected a finite number > 0, got {learning_rate}")
        for name, value in (("costs", costs), ("seconds", seconds)):
            _check_array(value, name, np.float64, 1, True)
            if value.shape[0] < epochs:
                raise ValueError(f"{name}: expected at least {epochs} entries, got {value.shape[0]}")
        keeps = [1.0] * (L - 1) if keep is None else [float(k) for k in keep]
        if len(keeps) != L - 1 or not all(0 < k <= 1 for k in keeps):
            raise ValueError(f"keep: expected {L - 1} probabilities in (0, 1], got {keep}")
        for l in range(1, L):
            self.plan.keep[l] = keeps[l - 1]
            dropout |= keeps[l - 1] < 1
        batch = min(batch_size, m)
        shuffled = shuffle != NO_SHUFFLE and batch < m
        n_order = m + ((m + shuffle_block - 1) // shuffle_block
                       if shuffle == SHUFFLE_BLOCKS else 0)
        self._enter()
        try:
            ws = self._workspace(batch, True, dropout, shuffled or not data.X.in_place)
            self._use(ws)
            if shuffled and (self.perm is None or self.perm.shape[0] != n_order):
                # (the block shuffle keeps its order of blocks after the m rows)
                self.perm = np.empty(n_order, dtype=np.intp)
            if shuffled:
                self.perm_rows = m
            if self._snapshot is None:
                self._snapshot = np.empty((3 if optimizer != GD else 1, self.plan.size),
                                          dtype=self.dtype)
            elif optimizer != GD and self._snapshot.shape[0] < 3:
                self._snapshot = np.empty((3, self.plan.size), dtype=self.dtype)
                self.kept_snapshot = False     # (it had no moments)
            self.plan.snapshot = _data(self._snapshot)
            self.plan.perm = <Py_ssize_t *> _data(self.perm) if shuffled else NULL
            self.plan.block_order = self.plan.perm + m if shuffled else NULL
            self.plan.shuffle_block = shuffle_block
            self.plan.shuffle_window = shuffle_window
            self.plan.dropout = dropout
            self.plan.l2 = l2
            self.plan.weighted = sample_weight is not None
            self.plan.optimizer = <Optimizer> optimizer
            self.plan.beta1 = beta1
            self.plan.beta2 = beta2
            self.plan.epsilon = epsilon
            self.plan.schedule = <Schedule> schedule
            self.plan.rate0 = learning_rate
            self.plan.schedule_a = schedule_a
            self.plan.schedule_b = schedule_b
            progress.epochs_done = 0
            progress.failed_epoch = -1
            progress.step = self.step_count
            progress.has_snapshot = not new_fit and self.kept_snapshot
            progress.snapshot_step = self.kept_step
            progress.snapshot_epoch = self.kept_epoch
            progress.snapshot_cost = self.kept_cost
            progress.last_check = _now()
            progress.last_snapshot = 0
            progress.snapshot_seconds = 0
            progress.previous_cost = INFINITY
            self.epochs_done = 0
            cp = <double *> _data(costs)
            sp = <double *> _data(seconds)
            try:
                if self.is_double:
                    with nogil:
                        status = run_epochs(&self.plan, <double *> self.plan.params,
                                            &data.X, <double *> data.T,
                                            data.labels, <double *> data.weights, m, batch,
                                            shuffle, first_epoch, epochs, &self.rng, cp, sp,
                                            &progress)
                else:
                    with nogil:
                        status = run_epochs(&self.plan, <float *> self.plan.params,
                                            &data.X, <float *> data.T,
                                            data.labels, <float *> data.weights, m, batch,
                                            shuffle, first_epoch, epochs, &self.rng, cp, sp,
                                            &progress)
            finally:
                self.epochs_done = progress.epochs_done
                self.step_count = progress.step
                self.diverged_epoch = progress.failed_epoch
                self.kept_snapshot = progress.has_snapshot
                self.kept_step = progress.snapshot_step
                self.kept_epoch = progress.snapshot_epoch
                self.kept_cost = progress.snapshot_cost
        finally:
            self.busy = False
        return status == DONE

    def compute_gradients(self, X, T, labels, double l2=0, sample_weight=None):
        """Fill ``gradients`` for the whole of X (one batch, no dropout); return the
        cost with its l2 term, or NaN if it is not finite (or the weights sum to 0)."""
        cdef double cost
        cdef Data data = self._check_data(X, T, labels, sample_weight)
        if not (l2 >= 0 and isfinite(l2)):
            raise ValueError(f"l2: expected a finite number >= 0, got {l2}")
        self._enter()
        try:
            self._use(self._workspace(data.m, False, False, not data.X.in_place))
            self.plan.weighted = data.weights != NULL
            if self.is_double:
                with nogil:
                    cost = _gradients(&self.plan, <double *> self.plan.params,
                                      &data.X, <double *> data.T, data.labels,
                                      <double *> data.weights, data.m, l2)
            else:
                with nogil:
                    cost = _gradients(&self.plan, <float *> self.plan.params,
                                      &data.X, <float *> data.T, data.labels,
                                      <float *> data.weights, data.m, l2)
        finally:
            self.busy = False
        return cost

    # -- inference -------------------------------------------------------------

    def predict(self, X, out, Py_ssize_t chunk=1024):
        """out = the output activations for the rows of X, shape (m, n_out), in
        chunks of ``chunk`` rows (X as train takes it: each chunk is converted to
        the engine's dtype if X is not in it)."""
        cdef Activation output
        cdef char *Op
        cdef Rows rows = self._check_rows(X)
        cdef Py_ssize_t m = X.shape[0]
        _check_array(out, "out", self.dtype, 2, True)
        if out.shape != (X.shape[0], self.layer_dims[self.plan.n_layers]):
            raise ValueError(f"out: expected shape {(X.shape[0], self.layer_dims[self.plan.n_layers])}, got {out.shape}")
        if chunk < 1:
            raise ValueError(f"chunk: expected >= 1, got {chunk}")
        output = {BINARY_CROSSENTROPY: SIGMOID, CATEGORICAL_CROSSENTROPY: SOFTMAX,
                  MEAN_SQUARED_ERROR: IDENTITY}[self.plan.loss]
        self._enter()
        try:
            self._use(self._workspace(min(chunk, m), False, False, not rows.in_place))
            Op = _data(out)
            if self.is_double:
                with nogil:
                    predict_rows(&self.plan, <double *> self.plan.params, &rows, m,
                                 output, <double *> Op)
            else:
                with nogil:
                    predict_rows(&self.plan, <float *> self.plan.params, &rows, m,
                                 output, <float *> Op)
        finally:
            self.busy = False
        return out

    def cost(self, X, T, labels, Py_ssize_t chunk=1024):
        """The mean cost over the rows of X (no l2 term); NaN if not finite."""
        cdef double cost
        cdef Data data = self._check_data(X, T, labels)
        if chunk < 1:
            raise ValueError(f"chunk: expected >= 1, got {chunk}")
        self._enter()
        try:
            self._use(self._workspace(min(chunk, data.m), False, False,
                                      not data.X.in_place))
            if self.is_double:
                with nogil:
                    cost = data_cost(&self.plan, <double *> self.plan.params,
                                     &data.X, <double *> data.T, data.labels,
                                     data.m)
            else:
                with nogil:
                    cost = data_cost(&self.plan, <float *> self.plan.params,
                                     &data.X, <float *> data.T, data.labels,
                                     data.m)
        finally:
            self.busy = False
        return cost

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
        for l in range(1, self.plan.n_layers):
            if self.plan.keep[l] < 1:
                n = self.layer_dims[l]
                masks[l] = ws.buffer[ws.mask_off[l]:ws.mask_off[l] + n * ws.batch].copy()
        return masks


cdef double _gradients(Plan *p, floating *P, const Rows *X, const floating *T,
                       const int64_t *labels, const floating *W, Py_ssize_t m,
                       double l2) noexcept nogil:
    cdef floating *ws = <floating *> p.ws
    cdef double cost, weight
    cdef Py_ssize_t n0 = p.dims[0], n_out = p.dims[p.n_layers]
    cdef blas_int ldx
    cdef const floating *Xb
    weight = gather_batch(X, T, labels, W, n0, n_out, NULL, 0, m, NULL, ws + p.yb_off,
                          ws + p.wb_off)
    # X in place, or converted whole into the workspace (one batch: the whole set)
    Xb = chunk_rows(X, n0, 0, m, ws + p.xb_off, &ldx)
    if weight <= 0 or forward_pass(p, P, Xb, Trans, ldx, m, False, NULL, NULL):
        return NAN
    cost = batch_cost(p, P, ws + p.yb_off, m, weight, l2)
    backward_pass(p, P, <floating *> p.grads, Xb, Trans, ldx, ws + p.yb_off, m,
                  weight, False, l2, 0, NULL)
    return cost


cdef int _check_array(object array, str name, object dtype, int ndim,
                      bint writeable=False) except -1:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(array).__name__}")
    if array.dtype != dtype or array.ndim != ndim or not array.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous {ndim}-D {np.dtype(dtype)} array, "
                         f"got {array.ndim}-D {array.dtype} (C-contiguous: "
                         f"{array.flags.c_contiguous})")
    if writeable and not array.flags.writeable:
        raise ValueError(f"{name}: expected a writeable array")
    return 0


# ---------------------------------------------------------------------------
# The floor: a training step's GEMMs alone (benchmarks)

cdef void _step_gemms(int L, const blas_int *dims, blas_int m, floating **W,
                      floating **A, floating **dZ, floating **dW) noexcept nogil:
    cdef int l
    for l in range(1, L + 1):
        # Z[l] = W[l] @ A[l-1]   (A[0]: the rows of X, read through a transpose)
        gemm(NoTrans, Trans if l == 1 else NoTrans, dims[l], m, dims[l - 1], 1, W[l],
             dims[l - 1], A[l - 1], dims[0] if l == 1 else m, 0, A[l], m)
    for l in range(L, 0, -1):
        # dW[l] = dZ[l] @ A[l-1].T / m
        gemm(NoTrans, NoTrans if l == 1 else Trans, dims[l], dims[l - 1], m,
             <floating> (1.0 / m), dZ[l], m, A[l - 1], dims[0] if l == 1 else m, 0,
             dW[l], dims[l - 1])
        if l > 1:
            # dA[l-1] = W[l].T @ dZ[l]
            gemm(Trans, NoTrans, dims[l - 1], m, dims[l], 1, W[l], dims[l - 1], dZ[l], m,
                 0, dZ[l - 1], m)


cdef double _time_gemms(int L, const blas_int *dims, blas_int m, floating **W,
                        floating **A, floating **dZ, floating **dW,
                        long inner) noexcept nogil:
    cdef long i
    cdef double began = _now()
    for i in range(inner):
        _step_gemms(L, dims, m, W, A, dZ, dW)
    return (_now() - began) / inner


def gemm_floor(layer_dims, Py_ssize_t m, dtype, int repeats=15, double min_time=0.2):
    """Median seconds of one training step's GEMMs alone, run in C on
    preallocated buffers: ``Z = W A`` per layer, ``dW = dZ A_prev^T / m`` per
    layer and ``dA_prev = W^T dZ`` above the first (as the engine does them,
    the input read from sample-major rows)."""
    cdef int l, L = len(layer_dims) - 1
    cdef blas_int dims[65]
    cdef double *dW64[65]
    cdef double *W64[65]
    cdef double *A64[65]
    cdef double *dZ64[65]
    cdef float *dW32[65]
    cdef float *W32[65]
    cdef float *A32[65]
    cdef float *dZ32[65]
    cdef long inner
    cdef double once
    if not 1 <= L <= MAX_LAYER or m < 1 or any(int(n) < 1 for n in layer_dims):
        raise ValueError(f"layer_dims, m: expected 2..65 sizes >= 1 and m >= 1, "
                         f"got {list(layer_dims)}, {m}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
    rng = np.random.default_rng(0)
    keep = []
    for l in range(L + 1):
        dims[l] = <blas_int> layer_dims[l]
        a = rng.standard_normal(dims[l] * m).astype(dtype)
        dz = rng.standard_normal(dims[l] * m).astype(dtype)
        keep += [a, dz]
        if dtype == np.float64:
            A64[l], dZ64[l] = <double *> _data(a), <double *> _data(dz)
        else:
            A32[l], dZ32[l] = <float *> _data(a), <float *> _data(dz)
        if l > 0:
            w = rng.standard_normal(dims[l] * dims[l - 1]).astype(dtype)
            dw = np.empty_like(w)
            keep += [w, dw]
            if dtype == np.float64:
                W64[l], dW64[l] = <double *> _data(w), <double *> _data(dw)
            else:
                W32[l], dW32[l] = <float *> _data(w), <float *> _data(dw)
    cdef bint double = dtype == np.float64
    samples = []
    for repeat in range(repeats + 1):
        inner = 1 if repeat == 0 else max(1, <long> (min_time / repeats / max(once, 1e-9)))
        with nogil:
            if double:
                once = _time_gemms(L, dims, <blas_int> m, W64, A64, dZ64, dW64, inner)
            else:
                once = _time_gemms(L, dims, <blas_int> m, W32, A32, dZ32, dW32, inner)
        if repeat > 0:
            samples.append(once)
    return float(np.median(samples))
