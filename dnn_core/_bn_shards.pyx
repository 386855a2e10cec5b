"""Data-parallel training steps of batch-normalized networks, in phases.

Batch norm couples a batch's rows: a BATCH_NORM layer's forward needs the
whole batch's mean and variance of its Z, its backward the whole batch's
``sum(dZ~)`` and ``sum(dZ~ * Z_norm)`` per unit. So a step over row shards
(cut as _shards cuts them, each shard with its own workspaces and gradient)
runs as a sequence of pool jobs (phases), the shards' per-unit results
combined between two jobs in this thread, in shard order (so the results
depend on the number of shards, never on timing). With batch-norm layers
``b_1 < ... < b_K``::

    job 0        gather the rows; layers 1 .. b_1 - 1; Z of b_1; its moments
    combine      Chan's formula (_batchnorm_moments) -> mean, var of b_1's Z;
                 the running statistics updated once
    job j        normalize b_j, A = g(Z~), dropout; layers .. b_{j+1} - 1;
                 Z of b_{j+1}; its moments                       (j < K)
    job K        normalize b_K ...; the output, the cost; backward down to
                 b_K's dZ~ and its sums
    combine      sum(dZ~), sum(dZ~ Z_norm) over the shards -> dgamma, dbeta
                 (into shard 0's gradient), and the means the input gradient uses
    job K + j    b's dZ, dW, dA_prev; layers below; the next BN layer's sums,
                 down to layer 1                                  (j = 1 .. K)

then the gradients are reduced and the optimizer steps as _shards does
(sharded_update). Sums over a shard's rows are taken with weight 1 and the
update divides by the batch's weight, as in _shards; so are the cost and the
l2 terms (shard 0's). The one-thread kernels' arithmetic is kept piece by
piece (_batchnorm's pieces), so a sharded step equals the one-thread step up
to the rounding of the sums (float64: ~1e-15 a step).
"""
from libc.math cimport sqrt, NAN

from dnn_core._blas cimport NoTrans, Trans, BLAS_Trans, blas_int, axpy
from dnn_core._activations cimport IDENTITY, bias_activation_forward, activation_backward
from dnn_core._losses cimport output_delta
from dnn_core._dense cimport dense_forward, dense_backward
from dnn_core._layout cimport Layer, DENSE, SPARSE_DENSE, BATCH_NORM, NORM_TRAIN, MAX_LAYERS
from dnn_core._passes cimport (dropout_forward, dense_layer_forward, dense_layer_backward,
                               sparse_dense_layer_forward, sparse_dense_layer_backward,
                               batch_cost)
from dnn_core._batchnorm cimport (batchnorm_unbias_factor, batchnorm_update_running,
                                  batchnorm_normalize, batchnorm_gradient_sums,
                                  batchnorm_input_gradient)
from dnn_core._batchnorm_moments cimport shard_moments, combine_moments
from dnn_core._pool cimport run_tasks, take
from dnn_core._shards cimport Shard, cut_batch, shard_rows
from dnn_core._sparse_rows cimport SparseRows
from dnn_core._random cimport MaskDraw


cdef struct Phase:
    Shards *shards
    int next                       # the next shard to take
    bint is_double
    const Architecture *arch
    void *P
    const Batch *batch
    void *xb                       # the batch's gathered rows (mb, n0), if gathered
    void *yb                       # its targets (n_out, mb)
    double l2
    Py_ssize_t widest              # a shard's norm sums: [w, w ** 2, a (widest,), b (widest,)]
    # forward from batch-norm layer fa (0: the batch's rows) to the Z of
    # batch-norm layer fb (L + 1: the output and the cost); fa < 0: none
    int fa, fb
    # backward from batch-norm layer ba's dZ (L + 1: the output's delta) down
    # to batch-norm layer bb's dZ~ and its sums (0: through layer 1); ba < 0: none
    int ba, bb


cdef inline bint _active(const Phase *job, const Shard *s) noexcept nogil:
    """Whether shard s computes: it has rows, and weight or is shard 0 (the L2 terms)."""
    return s.rows > 0 and (s.weight > 0 or s == &job.shards.shard[0])


cdef inline const floating *_output(const Layer *layer, const floating *ws,
                                    bint dropout) noexcept nogil:
    """What the layer above reads: A, or A * mask under dropout."""
    if dropout and layer.keep < 1:
        return ws + layer.space.drop_off
    return ws + layer.space.a_off


cdef inline void _drop(const Layer *layer, int l, blas_int m, floating *ws, bint dropout,
                       const MaskDraw *draw) noexcept nogil:
    if dropout and layer.keep < 1 and not layer.output:
        # mask = (u < keep) / keep; A_dropped = A * mask
        dropout_forward(draw, l, layer.keep, layer.n, m, ws + layer.space.a_off,
                        ws + layer.space.mask_off, ws + layer.space.drop_off)


cdef void _forward(Phase *job, Shard *s, floating *P) noexcept nogil:
    """Shard s from batch-norm layer job.fa to the Z of job.fb (see Phase)."""
    cdef const Architecture *arch = &s.arch
    cdef Buffers *buf = &s.buf
    cdef floating *ws = <floating *> buf.ws
    cdef floating *nws = <floating *> buf.norm_ws
    cdef const double *stats = job.shards.norm_stats
    cdef int l, L = arch.n_layers, start
    cdef blas_int m = <blas_int> s.rows, lda
    cdef BLAS_Trans ta
    cdef const floating *A_prev
    cdef const Layer *layer
    cdef floating *Z
    cdef bint dropout = job.batch.draw != NULL
    cdef MaskDraw draw
    cdef Py_ssize_t n_out = arch.layers[L].n
    # this shard's masks: the batch's rows [lo, lo + rows) of the step's key
    draw.key = job.batch.draw.key if dropout else 0
    draw.first_row = s.lo
    if job.fa == 0:
        A_prev = <const floating *> s.xb
        ta = Trans
        lda = s.ldx
        start = 1
    else:
        layer = &arch.layers[job.fa]
        Z = ws + layer.space.z_off
        # Z_norm = (Z - mu) * invstd (into Z); Z~ = gamma * Z_norm + beta, the batch's mu, invstd
        batchnorm_normalize(layer.n, m, Z, stats + layer.stats_off,
                            stats + layer.stats_off + layer.n, P + layer.gamma_off,
                            P + layer.beta_off, Z, nws + layer.space.zt_off)
        # A = g(Z~)
        s.bad |= bias_activation_forward(layer.activation, arch.slope, layer.n, m,
                                         nws + layer.space.zt_off, NULL,
                                         ws + layer.space.a_off, buf.work)
        _drop(layer, job.fa, m, ws, dropout, &draw)
        A_prev = _output(layer, ws, dropout)
        ta = NoTrans
        lda = m
        start = job.fa + 1
    for l in range(start, min(job.fb, L + 1)):
        layer = &arch.layers[l]
        if layer.kind == DENSE:
            s.bad |= dense_layer_forward(layer, arch.slope, P, A_prev, ta, lda, m, ws,
                                         buf.work)
        elif layer.kind == SPARSE_DENSE:
            s.bad |= sparse_dense_layer_forward(layer, arch.slope, P,
                                                <SparseRows *> buf.sparse, m, ws, buf.work)
        elif layer.kind == BATCH_NORM:
            s.bad = True            # (never: fb is the next batch-norm layer)
        _drop(layer, l, m, ws, dropout, &draw)
        A_prev = _output(layer, ws, dropout)
        ta = NoTrans
        lda = m
    if job.fb <= L:
        layer = &arch.layers[job.fb]
        Z = ws + layer.space.z_off
        # Z = W @ A_prev (no b)
        s.bad |= dense_forward(IDENTITY, arch.slope, layer.n, layer.n_prev, m,
                               P + layer.w_off, NoTrans, layer.n_prev, A_prev, ta, lda,
                               NULL, Z, Z, buf.work)
        if s.weight > 0:
            # this shard's (count, mean, M2) of Z per unit
            shard_moments(layer.n, m, Z, ws + buf.wb_off if buf.weighted else NULL,
                          s.weight, s.norm + 2, s.norm + 2 + job.widest)
    elif not s.bad:
        # the cost summed over the shard's rows (weight 1), shard 0's with the l2 terms
        s.cost = batch_cost(arch, buf, P, (<floating *> job.yb) + s.lo * n_out, m, 1.0,
                            job.l2 if s == &job.shards.shard[0] else 0)


cdef void _backward(Phase *job, Shard *s, floating *P) noexcept nogil:
    """Shard s from batch-norm layer job.ba down to job.bb (see Phase)."""
    cdef const Architecture *arch = &s.arch
    cdef const Buffers *buf = &s.buf
    cdef floating *ws = <floating *> buf.ws
    cdef floating *nws = <floating *> buf.norm_ws
    cdef floating *G = <floating *> buf.grads
    cdef const double *stats = job.shards.norm_stats
    cdef const double *sums = job.shards.norm_sums
    cdef const floating *weights = ws + buf.wb_off if buf.weighted else NULL
    cdef int l, L = arch.n_layers, top
    cdef blas_int m = <blas_int> s.rows, lda
    cdef BLAS_Trans ta
    cdef const floating *A_prev
    cdef const Layer *layer
    cdef floating *dZ
    cdef floating *dA_prev
    cdef floating *Z
    cdef Py_ssize_t i, n_out = arch.layers[L].n
    cdef double invstd
    cdef bint dropout = job.batch.draw != NULL
    cdef double l2 = job.l2 if s == &job.shards.shard[0] else 0
    if job.ba == L + 1:
        layer = &arch.layers[L]
        # dZ[L] = (A[L] - Y) * w; db[L] = dZ[L].sum(1)
        output_delta(layer.n, m, ws + layer.space.a_off,
                     (<const floating *> job.yb) + s.lo * n_out, ws + buf.delta_off[0],
                     G + layer.b_off, 1.0, weights)
        top = L
    else:
        top = job.ba
    for l in range(top, job.bb, -1):
        layer = &arch.layers[l]
        dZ = ws + buf.delta_off[(L - l) & 1]
        if l > 1:
            A_prev = _output(&arch.layers[l - 1], ws, dropout)
            ta = NoTrans
            lda = m
            dA_prev = ws + buf.delta_off[(L - l + 1) & 1]
        else:
            A_prev = <const floating *> s.xb
            ta = Trans
            lda = s.ldx
            dA_prev = NULL          # dA0 is never needed
        if layer.kind == DENSE:
            dense_layer_backward(layer, arch.slope, P, G, dZ, A_prev, ta, lda, m, ws, buf,
                                 dropout, 1.0, l2, 0, dA_prev)
        elif layer.kind == SPARSE_DENSE:
            sparse_dense_layer_backward(layer, arch.slope, P, G, dZ,
                                        <SparseRows *> buf.sparse, m, ws, buf, dropout,
                                        1.0, l2, 0)
        elif layer.kind == BATCH_NORM:
            # (l == ba: its dZ~ and the batch's sums are in; dgamma, dbeta combined)
            Z = ws + layer.space.z_off
            # dZ = gamma * invstd * (dZ~ - w * (mean_d + Z_norm * mean_dx)), per unit
            # as the one-thread kernel (invstd rounded to the dtype, as it stores it)
            for i in range(layer.n):
                invstd = <floating> stats[layer.stats_off + layer.n + i]
                batchnorm_input_gradient(1, m, dZ + i * m, Z + i * m, weights,
                                         P + layer.gamma_off + i, &invstd, sums + 2 + i,
                                         sums + 2 + job.widest + i, dZ + i * m)
            # dA_prev = W.T @ dZ; dW = dZ @ A_prev.T
            dense_backward(layer.n, layer.n_prev, m, dZ, A_prev, ta, lda, P + layer.w_off,
                           NoTrans, layer.n_prev, 1.0, G + layer.w_off, 0, NULL, dA_prev)
            if l2 > 0:
                # dW += l2 * W
                axpy(layer.n * layer.n_prev, <floating> l2, P + layer.w_off, 1,
                     G + layer.w_off, 1)
    if job.bb >= 1:
        layer = &arch.layers[job.bb]
        dZ = ws + buf.delta_off[(L - job.bb) & 1]
        if dropout and layer.keep < 1:
            # dA = dA * D / keep
            for i in range(layer.n * m):
                dZ[i] = dZ[i] * ws[layer.space.mask_off + i]
        # dZ~ = dA * g'(Z~)
        activation_backward(layer.activation, arch.slope, layer.n, m, dZ,
                            nws + layer.space.zt_off, ws + layer.space.a_off, dZ, NULL, 1.0,
                            buf.work)
        # sum_d = dZ~.sum(1); sum_dx = (dZ~ * Z_norm).sum(1), this shard's
        batchnorm_gradient_sums(layer.n, m, dZ, ws + layer.space.z_off, s.norm + 2,
                                s.norm + 2 + job.widest)


cdef void _shard_phase(Phase *job, Shard *s, floating *P) noexcept nogil:
    cdef Py_ssize_t j
    cdef const floating *w
    cdef const floating *Xb
    cdef blas_int ldx
    cdef Py_ssize_t n0 = job.arch.layers[1].n_prev
    cdef Py_ssize_t n_out = job.arch.layers[job.arch.n_layers].n
    if job.fa == 0:
        if not shard_rows(job.batch, s, s == &job.shards.shard[0], <floating *> job.xb,
                          <floating *> job.yb, n0, n_out, &Xb, &ldx):
            return
        # the shard's weight and sum of squared weights (batch norm's unbiased factor)
        s.norm[0] = s.weight
        s.norm[1] = s.rows
        if s.buf.weighted:
            w = (<const floating *> s.buf.ws) + s.buf.wb_off
            s.norm[1] = 0
            for j in range(s.rows):
                s.norm[1] += <double> w[j] * w[j]
    elif not _active(job, s):
        return
    if s.bad:
        return
    if job.fa >= 0:
        _forward(job, s, P)
    if job.ba >= 0 and not s.bad:
        _backward(job, s, P)


cdef void _phase_task(void *context, int task) noexcept nogil:
    cdef Phase *job = <Phase *> context
    cdef int k = take(&job.next)
    while k < job.shards.n:
        if job.is_double:
            _shard_phase(job, &job.shards.shard[k], <double *> job.P)
        else:
            _shard_phase(job, &job.shards.shard[k], <float *> job.P)
        k = take(&job.next)


cdef bint _run(Phase *job) noexcept nogil:
    """One phase on the pool; return True if some active shard went bad."""
    cdef int k
    job.next = 0
    run_tasks(_phase_task, job, job.shards.n_threads)
    for k in range(job.shards.n):
        if _active(job, &job.shards.shard[k]) and job.shards.shard[k].bad:
            return True
    return False


cdef bint _combine_moments(Phase *job, const Layer *layer, const Buffers *buf,
                           floating *P) noexcept nogil:
    """The batch's mean and invstd of layer's Z from the shards' moments, in
    shard order (into norm_stats), and the running statistics updated (once).
    Return True if some mean or variance is not finite."""
    cdef Shards *shards = job.shards
    cdef double *mean = shards.norm_sums + 2
    cdef double *m2 = shards.norm_sums + 2 + job.widest
    cdef double *stats = shards.norm_stats + layer.stats_off
    cdef double count = 0, squares = 0, mu, v, s
    cdef floating stored_var
    cdef floating *running = (<floating *> buf.running) + layer.stats_off
    cdef Py_ssize_t i
    cdef int k
    cdef bint bad = False
    for k in range(shards.n):
        if shards.shard[k].rows > 0 and shards.shard[k].weight > 0:
            # (count, mean, M2) of shards 0..k from those of 0..k-1 and k's (Chan et al.)
            count = combine_moments(layer.n, count, mean, m2, shards.shard[k].norm[0],
                                    shards.shard[k].norm + 2,
                                    shards.shard[k].norm + 2 + job.widest)
            squares += shards.shard[k].norm[1]
    for i in range(layer.n):
        # var = M2 / count; invstd = 1 / np.sqrt(var + eps)
        mu = mean[i]
        v = m2[i] / count
        s = 1 / sqrt(v + job.arch.norm_eps)
        stored_var = <floating> v
        bad = bad or not (mu - mu == 0 and stored_var - stored_var == 0)
        stats[i] = mu
        stats[layer.n + i] = s
        m2[i] = v
    if buf.norm_mode == NORM_TRAIN:
        # running = (1 - momentum) * running + momentum * (mu, unbias * var)
        batchnorm_update_running(layer.n, mean, m2, batchnorm_unbias_factor(count, squares),
                                 job.arch.norm_momentum, running, running + layer.n)
    return bad


cdef void _combine_sums(Phase *job, const Layer *layer, double total,
                        floating *P) noexcept nogil:
    """sum(dZ~) and sum(dZ~ Z_norm) of layer over the shards in shard order:
    dbeta and dgamma into shard 0's gradient (the others' zero), and their
    means over the batch's weight (norm_sums) for the input gradient."""
    cdef Shards *shards = job.shards
    cdef double *mean_d = shards.norm_sums + 2
    cdef double *mean_dx = shards.norm_sums + 2 + job.widest
    cdef double inv_total = 1 / total
    cdef floating *G
    cdef Py_ssize_t i
    cdef int k
    for i in range(layer.n):
        mean_d[i] = mean_dx[i] = 0
    for k in range(shards.n):
        if not _active(job, &shards.shard[k]):
            continue
        for i in range(layer.n):
            mean_d[i] += shards.shard[k].norm[2 + i]
            mean_dx[i] += shards.shard[k].norm[2 + job.widest + i]
        if k > 0:
            G = <floating *> shards.shard[k].buf.grads
            for i in range(layer.n):
                G[layer.gamma_off + i] = 0
                G[layer.beta_off + i] = 0
    G = <floating *> shards.shard[0].buf.grads
    for i in range(layer.n):
        # dbeta = dZ~.sum(1); dgamma = (dZ~ * Z_norm).sum(1) (sums: the update divides)
        G[layer.beta_off + i] = <floating> mean_d[i]
        G[layer.gamma_off + i] = <floating> mean_dx[i]
        mean_d[i] = mean_d[i] * inv_total
        mean_dx[i] = mean_dx[i] * inv_total


cdef double bn_sharded_gradients(Shards *shards, const Architecture *arch,
                                 const Buffers *buf, floating *P, const Batch *batch,
                                 double l2, double *weight) noexcept nogil:
    """sharded_gradients (_shards) for a network with batch-norm layers (and the
    workspaces and sums of ShardSet.add_batch_norm): gather, forward, cost and
    backward of one batch shard by shard, in phases (see the module's
    docstring), the running statistics updated once. Return the batch cost
    (NaN if some Z or statistic is not finite) and in weight its total weight
    (0: nothing computed past the first layers, running statistics untouched)."""
    cdef Phase job
    cdef int norm[MAX_LAYERS + 1]
    cdef int k, j, K = 0, L = arch.n_layers, previous = 0
    cdef double cost = 0, total = 0
    cdef bint bad
    for k in range(1, L):
        if arch.layers[k].kind == BATCH_NORM:
            norm[K] = k
            K += 1
    cut_batch(shards, batch.mb, buf.weighted)
    job.shards = shards
    job.is_double = floating is double
    job.arch = arch
    job.P = P
    job.batch = batch
    job.xb = (<floating *> buf.ws) + buf.xb_off
    job.yb = (<floating *> buf.ws) + buf.yb_off
    job.l2 = l2
    job.widest = 1
    for k in range(1, L + 1):
        job.widest = max(job.widest, <Py_ssize_t> arch.layers[k].n)
    weight[0] = 0
    job.ba = job.bb = -1
    # forward, up to each batch-norm layer's statistics in turn
    for j in range(K):
        job.fa = previous
        job.fb = norm[j]
        bad = _run(&job)
        if j == 0:
            for k in range(shards.n):
                total += shards.shard[k].weight
            if not total > 0:
                return 0            # (skipped, as one thread skips it)
            weight[0] = total       # (also with a NaN cost: the step diverged)
        if bad:
            return NAN
        if _combine_moments(&job, &arch.layers[norm[j]], buf, P):
            return NAN
        previous = norm[j]
    # the rest of the forward, the cost, and backward down to the last batch-norm layer
    job.fa = previous
    job.fb = L + 1
    job.ba = L + 1
    job.bb = previous
    if _run(&job):
        return NAN
    for k in range(shards.n):
        cost += shards.shard[k].cost
    # backward, from each batch-norm layer's sums in turn
    job.fa = -1
    for j in range(K - 1, -1, -1):
        _combine_sums(&job, &arch.layers[norm[j]], total, P)
        job.ba = norm[j]
        job.bb = norm[j - 1] if j > 0 else 0
        _run(&job)
    return cost / total
