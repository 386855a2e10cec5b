"""The epoch loop, in C without the GIL (see run_epochs).

It takes the GIL back only to let Python see a pending Ctrl-C (every
CHECK_MILLISECONDS of work, _clock) and to raise. A diverging run (a cost, or
the optimizer's state, that is not finite) leaves through one exit, back to
the lowest-cost state kept aside.
"""
from libc.string cimport memcpy
from libc.math cimport isfinite, NAN

from dnn_core._blas cimport blas_int, Trans
from dnn_core._activations cimport nonfinite_probe
from dnn_core._optim cimport GD, scheduled_rate, optimizer_step
from dnn_core._rows cimport NO_SHUFFLE, read_ahead, shuffle_order, gather_batch
from dnn_core._passes cimport forward_pass, batch_cost, backward_pass
from dnn_core._clock cimport now, poll_signals
from dnn_core._dual cimport DualState, dual_track_step
from dnn_core._shards cimport Shards, Batch, sharded_gradients, sharded_update
from dnn_core._bn_shards cimport bn_sharded_gradients
from dnn_core._random cimport MaskDraw, random_next

# A new lowest-cost state is copied aside (the undo for divergence) when at
# least this many times the last copy's duration has passed since it, so the
# copies cost at most ~1/SNAPSHOT_SPACING of the training time.
cdef double SNAPSHOT_SPACING = 20
# Multiply-adds of a forward pass from which plain gd is not folded into the
# GEMMs (such a step takes ~50 ms or more), so that Ctrl-C is looked for within it.
cdef double UNFUSED_WORK = 1e8


cdef bint _nonfinite(Py_ssize_t size, const floating *x) noexcept nogil:
    cdef floating probe = nonfinite_probe(size, x)
    return probe != probe


cdef bint _state_nonfinite(const Architecture *arch, const Hyperparameters *hyper,
                           const Buffers *buf, const floating *P) noexcept nogil:
    """The parameters or the optimizer's moments hold NaN or inf (squared
    gradients can overflow float32 while the parameters stay finite)."""
    return _nonfinite(arch.size, P) or (hyper.optimizer != GD and (
        _nonfinite(arch.size, <const floating *> buf.moment1)
        or _nonfinite(arch.size, <const floating *> buf.moment2)))


# ---------------------------------------------------------------------------
# The undo: snapshots of the parameters and the optimizer's state

cdef void _save_snapshot(Py_ssize_t size, const Hyperparameters *hyper, Buffers *buf,
                         const floating *P, Progress *progress) noexcept nogil:
    cdef floating *snap = <floating *> buf.snapshot
    memcpy(snap, P, size * sizeof(floating))
    if hyper.optimizer != GD:
        memcpy(snap + size, buf.moment1, size * sizeof(floating))
        memcpy(snap + 2 * size, buf.moment2, size * sizeof(floating))
    if buf.state_size > 0:
        # batch norm's running statistics are part of the state undone
        memcpy(buf.running_snapshot, buf.running, buf.state_size * sizeof(floating))
    progress.snapshot_step = progress.step
    progress.has_snapshot = True


cdef int _diverge(Py_ssize_t size, const Hyperparameters *hyper, Buffers *buf,
                  floating *P, Progress *progress, long epoch,
                  long first_epoch) noexcept nogil:
    """The run diverged in ``epoch``: back to the lowest-cost state kept (if any);
    progress.epochs_done counts the epochs of this call completed before that
    state (negative when it is from an earlier call). Return DIVERGED."""
    cdef floating *snap = <floating *> buf.snapshot
    progress.epochs_done = progress.failed_epoch = epoch
    if progress.has_snapshot:
        memcpy(P, snap, size * sizeof(floating))
        if hyper.optimizer != GD:
            memcpy(buf.moment1, snap + size, size * sizeof(floating))
            memcpy(buf.moment2, snap + 2 * size, size * sizeof(floating))
        if buf.state_size > 0:
            memcpy(buf.running, buf.running_snapshot, buf.state_size * sizeof(floating))
        progress.step = progress.snapshot_step
        progress.epochs_done = progress.snapshot_epoch - first_epoch
    return DIVERGED


# ---------------------------------------------------------------------------
# Epochs

cdef int run_epochs(const Architecture *arch, const Hyperparameters *hyper, Buffers *buf,
                    floating *P, const Rows *X, const floating *T, const int64_t *labels,
                    const floating *W, Py_ssize_t m, Py_ssize_t batch, int shuffle,
                    Order *order, long first_epoch, long n_epochs, Random *rng,
                    double *costs, double *seconds, Progress *progress,
                    Shards *shards) except -1 nogil:
    """Train for n_epochs; return DONE or DIVERGED. W: sample weights (m,) or NULL
    (a batch whose weights are all zero is skipped).

    On DIVERGED the parameters and the optimizer's state are put back to the
    snapshot: the state of lowest batch cost seen since the fit began (the
    first state of the fit, then each new lowest one, spaced so that the copies
    take at most 1/SNAPSHOT_SPACING of the time; a snapshot may be carried over
    from an earlier call of the same fit); progress.epochs_done counts the
    epochs of this call completed before that state (negative when it is from
    an earlier call).

    Raises (through the GIL) what a pending signal handler raises, such as
    KeyboardInterrupt, between two steps: the parameters are then those at
    the end of the last completed step.

    shards: NULL (each step in this thread), or the row shards that the
    engine's pool runs each step on (with batch norm: in phases, _bn_shards).
    """
    cdef floating *ws = <floating *> buf.ws
    cdef floating *G = <floating *> buf.grads
    cdef Py_ssize_t n0 = arch.layers[1].n_prev, n_out = arch.layers[arch.n_layers].n
    cdef Py_ssize_t start, mb, hinted, size = arch.size
    cdef long e
    cdef double rate, cost, total, total_weight, weight = 0, t, began
    cdef const floating *Xb
    cdef blas_int ldx = <blas_int> n0
    cdef floating *Yb = ws + buf.yb_off
    cdef floating *Wb = ws + buf.wb_off
    cdef bint full_batch = batch >= m
    cdef Batch source
    cdef MaskDraw draw
    cdef int l
    cdef double forward_work = 0
    for l in range(1, arch.n_layers + 1):
        forward_work += <double> arch.layers[l].n * arch.layers[l].n_prev * min(batch, m)
    # Plain gd is folded into the GEMMs, except in steps so long that Ctrl-C
    # should be looked for within them (a fused update cannot be stopped halfway).
    cdef bint fused = (hyper.optimizer == GD and forward_work < UNFUSED_WORK
                       and shards == NULL)
    source.X = X
    source.T = T
    source.labels = labels
    source.W = W
    draw.key = 0
    draw.first_row = 0
    began = now()
    for e in range(n_epochs):
        rate = scheduled_rate(hyper.schedule, hyper.rate0, hyper.schedule_a,
                              hyper.schedule_b, first_epoch + e)
        if shuffle != NO_SHUFFLE and not full_batch:
            shuffle_order(order, rng, shuffle, m)
        total = total_weight = 0
        start = hinted = 0
        while start < m:
            # Ctrl-C is let through here, between steps, where the state is one
            # the counts describe: every step so far whole, and each epoch whose
            # last step is done counted in epochs_done
            poll_signals(&progress.last_check)
            mb = min(batch, m - start)
            if hyper.dropout:
                # the step's masks: a function of this key, the layer, the
                # batch row and the unit (_random.pxd), however the batch is cut
                draw.key = random_next(rng)
            if not full_batch:
                hinted = read_ahead(order, X, n0, shuffle, m, start, hinted)
            if shards != NULL:
                # gather, forward, cost and backward shard by shard on the pool
                source.rows = (NULL if full_batch or shuffle == NO_SHUFFLE
                               else order.perm + start)
                source.start = start
                source.mb = mb
                source.in_place = (full_batch or shuffle == NO_SHUFFLE) and X.in_place
                source.gather = not (full_batch and e > 0)
                source.draw = &draw if hyper.dropout else NULL
                if arch.state_size > 0:
                    # batch norm: in phases, the statistics combined between them
                    cost = bn_sharded_gradients(shards, arch, buf, P, &source, hyper.l2,
                                                &weight)
                else:
                    cost = sharded_gradients(shards, arch, buf, P, &source, hyper.l2,
                                             &weight)
                if weight <= 0:
                    start += mb
                    continue
            else:
                if (full_batch or shuffle == NO_SHUFFLE) and X.in_place:
                    # a block of consecutive rows is read in place
                    Xb = (<const floating *> X.data) + start * X.stride
                    ldx = <blas_int> X.stride
                    if not (full_batch and e > 0):
                        weight = gather_batch(X, T, labels, W, n0, n_out, NULL, start, mb, NULL,
                                              Yb, Wb)
                elif full_batch or shuffle == NO_SHUFFLE:
                    # consecutive rows, converted to the engine's dtype (once if full batch)
                    if not (full_batch and e > 0):
                        weight = gather_batch(X, T, labels, W, n0, n_out, NULL, start, mb,
                                              ws + buf.xb_off, Yb, Wb)
                    Xb = ws + buf.xb_off
                else:
                    weight = gather_batch(X, T, labels, W, n0, n_out, order.perm + start, 0, mb,
                                          ws + buf.xb_off, Yb, Wb)
                    Xb = ws + buf.xb_off
                if weight <= 0:
                    start += mb
                    continue
                # X rows (mb, n0) C-ordered are the course's A0 (n0, mb) in Fortran order
                # (a step folded into the GEMMs is short: looked for Ctrl-C after it only)
                if forward_pass(arch, buf, P, Xb, Trans, ldx, mb, hyper.dropout, &draw,
                                NULL if fused else &progress.last_check):
                    cost = NAN
                else:
                    cost = batch_cost(arch, buf, P, Yb, mb, weight, hyper.l2)
            if not isfinite(cost):
                return _diverge(size, hyper, buf, P, progress, e, first_epoch)
            t = now()
            # Keep aside the first state of the fit and then each new state of
            # lowest cost (it is finite: it gave a finite cost), so that a
            # divergence goes back to the best state seen, never to a
            # finite-but-exploded one.
            if (not progress.has_snapshot
                    or (cost < progress.snapshot_cost
                        and t - progress.last_snapshot
                        >= SNAPSHOT_SPACING * progress.snapshot_seconds)):
                if (progress.has_snapshot and hyper.optimizer != GD
                        and _state_nonfinite(arch, hyper, buf, P)):
                    # the cost is finite but the optimizer's state overflowed
                    return _diverge(size, hyper, buf, P, progress, e, first_epoch)
                _save_snapshot(size, hyper, buf, P, progress)
                progress.snapshot_epoch = first_epoch + e
                progress.snapshot_cost = cost
                progress.last_snapshot = t
                t = now()
                progress.snapshot_seconds = t - progress.last_snapshot
            progress.previous_cost = cost
            # dual (_dual): the examples of this batch, whose columns of M it updates
            buf.batch_rows = NULL if full_batch or shuffle == NO_SHUFFLE else order.perm + start
            buf.batch_start = start
            if shards != NULL:
                progress.step += 1
                sharded_update(shards, hyper, size, rate, progress.step, weight, P, G,
                               <floating *> buf.moment1, <floating *> buf.moment2)
            elif fused:
                progress.step += 1
                backward_pass(arch, buf, P, NULL, Xb, Trans, ldx, Yb, mb, weight,
                              hyper.dropout, hyper.l2, rate, NULL)
            else:
                backward_pass(arch, buf, P, G, Xb, Trans, ldx, Yb, mb, weight,
                              hyper.dropout, hyper.l2, 0, &progress.last_check)
                progress.step += 1
                optimizer_step(hyper.optimizer, size, rate, hyper.beta1, hyper.beta2,
                               hyper.epsilon, progress.step, P, G,
                               <floating *> buf.moment1, <floating *> buf.moment2)
                if buf.dual != NULL and hyper.l2 > 0:
                    # dual (_dual): the l2 term's products follow the step
                    dual_track_step(&arch.layers[1], <DualState *> buf.dual,
                                    hyper.optimizer, rate, hyper.beta1, hyper.l2 / weight, P)
            total += cost * weight
            total_weight += weight
            start += mb
        costs[e] = total / total_weight if total_weight > 0 else 0
        t = now()
        seconds[e] = t - began
        began = t
        progress.epochs_done = e + 1
    # the last update is checked here, since no later forward pass will see it
    if n_epochs > 0 and _state_nonfinite(arch, hyper, buf, P):
        return _diverge(size, hyper, buf, P, progress, n_epochs - 1, first_epoch)
    return DONE
