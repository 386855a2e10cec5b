"""The passes over a network's layers, each layer kind's pieces dispatched by name.

Activations and gradients are in the course's ``(units, examples)`` layout.
The input rows ``Xb`` (mb, n0) C-ordered are the course's ``A0`` (n0, mb) in
Fortran order: BLAS reads them through a transpose flag ``tx`` with leading
dimension ``ldx``, in place. A DENSE layer's forward and backward are
``_dense``'s; dropout (keep < 1) is a property of the layer, applied to its A.

With plain gradient descent the update can be folded into the ``dW`` GEMM,
``W = (1 - lr l2 / m) W - (lr / m) dZ A_prev^T`` (BLAS's beta), after
``dA_prev`` has been taken from the old ``W``; ``dA0`` is never computed.
"""
from libc.math cimport NAN

from dnn_core._blas cimport NoTrans, Trans, axpy, dot, scal
from dnn_core._activations cimport (IDENTITY, bias_activation_forward,
                                    activation_backward)
from dnn_core._losses cimport cost_from_logits, output_delta
from dnn_core._dense cimport dense_forward, dense_backward
from dnn_core._layout cimport Layer, DENSE, SPARSE_DENSE
from dnn_core._layout cimport BATCH_NORM, NORM_TRAIN, NORM_RUNNING
from dnn_core._sparse_rows cimport SparseRows, sparse_batch_forward, sparse_batch_weight_grad
from dnn_core._batchnorm cimport (batchnorm_train_forward, batchnorm_inference_forward,
                                  batchnorm_backward)
from libc.stdint cimport uint64_t
from dnn_core._random cimport layer_mask_key, mask_uniform
from dnn_core._rows cimport NO_SHUFFLE, read_ahead, gather_batch, chunk_rows
from dnn_core._clock cimport poll_signals
# issue 14: the dual-form first layer's update and l2 term (hooks marked "dual")
from dnn_core._dual cimport DualState, dual_weight_backward, dual_weights_square_sum


# ---------------------------------------------------------------------------
# One layer: each kind's pieces

cdef void dropout_forward(const MaskDraw *draw, int l, double keep, Py_ssize_t n,
                          Py_ssize_t m, const floating *A, floating *mask,
                          floating *dropped) noexcept nogil:
    """mask = (u < keep) / keep; dropped = A * mask, A (n, m) the rows
    draw.first_row.. of the batch, u[i, j] the uniform of unit i of batch row
    draw.first_row + j in layer l (_random.pxd: a function of the step's key,
    l, the row and the unit only, whatever rows a pass takes)."""
    cdef Py_ssize_t i, j, k
    cdef uint64_t key = layer_mask_key(draw.key, l)
    cdef uint64_t counter
    cdef floating scale = <floating> (1 / keep)
    for i in range(n):
        # counter of (row j, unit i): j * n + i + 1, rows counted in the whole batch
        counter = (<uint64_t> draw.first_row) * n + i + 1
        for j in range(m):
            k = i * m + j
            mask[k] = scale if mask_uniform(key, counter) < keep else 0
            dropped[k] = A[k] * mask[k]
            counter += n


cdef inline void _multiply(Py_ssize_t size, floating *x, const floating *y) noexcept nogil:
    """x = x * y"""
    cdef Py_ssize_t i
    for i in range(size):
        x[i] = x[i] * y[i]


cdef inline void _dropout_forward(const Layer *layer, int l, blas_int m, floating *ws,
                                  bint with_dropout, const MaskDraw *draw) noexcept nogil:
    """Layer l's A dropped out, if it has a dropout (keep < 1) and this pass drops out."""
    if with_dropout and layer.keep < 1 and not layer.output:
        # mask = (u < keep) / keep; A_dropped = A * mask
        dropout_forward(draw, l, layer.keep, layer.n, m, ws + layer.space.a_off,
                        ws + layer.space.mask_off, ws + layer.space.drop_off)


cdef inline void _dense_delta(const Layer *layer, double slope, floating *dA, blas_int m,
                              floating *ws, const Buffers *buf, bint with_dropout,
                              double inv_m, floating *db) noexcept nogil:
    """A hidden layer's dZ from dA (in place) and db = dZ.sum(1) / m."""
    if with_dropout and layer.keep < 1:
        # dA = dA * D / keep
        _multiply(layer.n * m, dA, ws + layer.space.mask_off)
    # dZ = dA * g'(Z); db = dZ.sum(1) / m
    activation_backward(layer.activation, slope, layer.n, m, dA, ws + layer.space.z_off,
                        ws + layer.space.a_off, dA, db, inv_m, buf.work)


cdef inline void _l2_gradient(const Layer *layer, const floating *P, floating *G,
                              double l2, double inv_m) noexcept nogil:
    """dW += (l2 / m) * W, if l2 > 0."""
    if l2 > 0:
        # dW += (l2 / m) * W
        axpy(layer.n * layer.n_prev, <floating> (l2 * inv_m), P + layer.w_off, 1,
             G + layer.w_off, 1)


cdef inline void _weight_backward(const Layer *layer, floating *P, floating *G,
                                  floating *dZ, const floating *A_prev, BLAS_Trans ta,
                                  blas_int lda, blas_int m, double inv_m, double l2,
                                  double fused_rate, floating *dA_prev) noexcept nogil:
    """dA_prev = W.T @ dZ unless NULL; then dW = dZ @ A_prev.T / m (+ l2 / m * W)
    into G, or (G NULL) W's update folded into the GEMM."""
    if G == NULL:
        # dA_prev = W.T @ dZ (from W before its update)
        # W = (1 - lr * l2 / m) * W - (lr / m) * dZ @ A_prev.T
        dense_backward(layer.n, layer.n_prev, m, dZ, A_prev, ta, lda, P + layer.w_off,
                       NoTrans, layer.n_prev, -fused_rate * inv_m, P + layer.w_off,
                       1 - fused_rate * l2 * inv_m, NULL, dA_prev)
    else:
        # dA_prev = W.T @ dZ; dW = dZ @ A_prev.T / m
        dense_backward(layer.n, layer.n_prev, m, dZ, A_prev, ta, lda, P + layer.w_off,
                       NoTrans, layer.n_prev, inv_m, G + layer.w_off, 0, NULL, dA_prev)
        _l2_gradient(layer, P, G, l2, inv_m)


cdef inline const floating *layer_output(const Layer *layer, const floating *ws,
                                         bint with_dropout) noexcept nogil:
    """What the layer above reads: A, or A * mask under dropout."""
    if with_dropout and layer.keep < 1:
        return ws + layer.space.drop_off
    return ws + layer.space.a_off


cdef bint dense_layer_forward(const Layer *layer, double slope, const floating *P,
                              const floating *A_prev, BLAS_Trans ta, blas_int lda,
                              blas_int m, floating *ws, double *work) noexcept nogil:
    """Z = W @ A_prev + b; A = g(Z) (the output layer: Z only, the logits).
    Return True if some Z is not finite."""
    cdef floating *Z = ws + layer.space.z_off
    cdef floating *A = Z if layer.output else ws + layer.space.a_off
    cdef bint bad = dense_forward(layer.activation, slope, layer.n, layer.n_prev, m,
                                  P + layer.w_off, NoTrans, layer.n_prev, A_prev, ta, lda,
                                  P + layer.b_off, Z, A, work)
    return bad


cdef void dense_layer_backward(const Layer *layer, double slope, floating *P, floating *G,
                               floating *dA, const floating *A_prev, BLAS_Trans ta,
                               blas_int lda, blas_int m, floating *ws,
                               const Buffers *buf, bint with_dropout, double inv_m,
                               double l2, double fused_rate,
                               floating *dA_prev) noexcept nogil:
    """From dA (the output layer: dZ, with db already taken): dA_prev unless NULL,
    and dW, db into G; or, when G is NULL, the update ``P -= fused_rate * grad``
    folded into the GEMM. dA is overwritten by dZ."""
    cdef bint fused = G == NULL
    cdef floating *db = ws + buf.db_off if fused else G + layer.b_off
    if not layer.output:
        _dense_delta(layer, slope, dA, m, ws, buf, with_dropout, inv_m, db)
    if layer.dual:
        # dual: W' = [M, c I ...] updated from the batch's dZ / m (no dA0)
        dual_weight_backward(layer, <DualState *> buf.dual, buf, P, G, dA, A_prev, ta, lda,
                             m, inv_m, l2, fused_rate)
    else:
        _weight_backward(layer, P, G, dA, A_prev, ta, lda, m, inv_m, l2, fused_rate,
                         dA_prev)
    if fused:
        # b = b - lr * db
        axpy(layer.n, <floating> -fused_rate, db, 1, P + layer.b_off, 1)


# SPARSE_DENSE: layer 1 reading the batch of a CSR X, gathered into compressed
# columns (buf.sparse, _sparse_rows); the same parameters as DENSE's.

cdef bint sparse_dense_layer_forward(const Layer *layer, double slope, const floating *P,
                                     SparseRows *batch, blas_int m, floating *ws,
                                     double *work) noexcept nogil:
    """Z = W @ Xb.T + b; A = g(Z) (the output layer: Z only). Return True if
    some Z is not finite."""
    cdef floating *Z = ws + layer.space.z_off
    cdef floating *A = Z if layer.output else ws + layer.space.a_off
    cdef bint bad
    # Z = W @ Xb.T
    sparse_batch_forward(batch, layer.n, P + layer.w_off, <const floating *> NULL, Z)
    # Z += b; A = g(Z)
    bad = bias_activation_forward(layer.activation, slope, layer.n, m, Z, P + layer.b_off,
                                  A, work)
    return bad


cdef bint batch_norm_layer_forward(const Layer *layer, double slope, double eps,
                                   double momentum, const floating *P,
                                   const floating *A_prev, BLAS_Trans ta, blas_int lda,
                                   blas_int m, floating *ws, Buffers *buf) noexcept nogil:
    """Z = W @ A_prev; Z~ = gamma * Z_norm + beta; A = g(Z~). Z_norm (into Z) from the batch's statistics (buf.norm_mode
    NORM_TRAIN: the running ones updated; NORM_BATCH: not), or Z~ from the
    running ones (NORM_RUNNING; Z kept). Return True if some Z, batch
    statistic or Z~ is not finite."""
    cdef floating *Z = ws + layer.space.z_off
    cdef floating *A = ws + layer.space.a_off
    cdef floating *nws = <floating *> buf.norm_ws
    cdef floating *Z_tilde = nws + layer.space.zt_off
    cdef floating *running = (<floating *> buf.running) + layer.stats_off
    cdef const floating *gamma = P + layer.gamma_off
    cdef const floating *beta = P + layer.beta_off
    cdef bint update = buf.norm_mode == NORM_TRAIN
    # Z = W @ A_prev (no b)
    cdef bint bad = dense_forward(IDENTITY, slope, layer.n, layer.n_prev, m, P + layer.w_off,
                                  NoTrans, layer.n_prev, A_prev, ta, lda, NULL, Z, Z,
                                  buf.work)
    if buf.norm_mode == NORM_RUNNING:
        # Z~ = gamma * (Z - running_mean) / np.sqrt(running_var + eps) + beta
        batchnorm_inference_forward(layer.n, m, Z, gamma, beta, running, running + layer.n,
                                    eps, Z_tilde)
    else:
        # Z_norm = (Z - mu) / np.sqrt(var + eps) (into Z); Z~ = gamma * Z_norm + beta;
        # running = (1 - momentum) * running + momentum * (mu, unbiased var) if update
        bad |= batchnorm_train_forward(layer.n, m, Z,
                                       ws + buf.wb_off if buf.weighted else NULL,
                                       gamma, beta, eps, momentum, Z, Z_tilde,
                                       nws + layer.space.invstd_off, NULL, NULL,
                                       running if update else NULL,
                                       running + layer.n if update else NULL)
    # A = g(Z~)
    bad |= bias_activation_forward(layer.activation, slope, layer.n, m, Z_tilde, NULL, A,
                                   buf.work)
    return bad


cdef void sparse_dense_layer_backward(const Layer *layer, double slope, floating *P,
                                      floating *G, floating *dA, SparseRows *batch,
                                      blas_int m, floating *ws, const Buffers *buf,
                                      bint with_dropout, double inv_m, double l2,
                                      double fused_rate) noexcept nogil:
    """From dA (the output layer: dZ, with db already taken): dW, db into G (no
    dA0); or, when G is NULL, the update ``P -= fused_rate * grad`` applied
    to W by the sparse kernel (which touches only the batch's columns when
    l2 is 0). dA is overwritten by dZ."""
    cdef bint fused = G == NULL
    cdef floating *db = ws + buf.db_off if fused else G + layer.b_off
    if not layer.output:
        _dense_delta(layer, slope, dA, m, ws, buf, with_dropout, inv_m, db)
    if fused:
        if l2 > 0:
            # W *= 1 - lr * l2 / m
            scal(layer.n * layer.n_prev, <floating> (1 - fused_rate * l2 * inv_m),
                 P + layer.w_off, 1)
        # W -= (lr / m) * dZ @ Xb
        sparse_batch_weight_grad(batch, layer.n, dA, -fused_rate * inv_m, True,
                                 P + layer.w_off)
        # b = b - lr * db
        axpy(layer.n, <floating> -fused_rate, db, 1, P + layer.b_off, 1)
    else:
        # dW = dZ @ Xb / m
        sparse_batch_weight_grad(batch, layer.n, dA, inv_m, False, G + layer.w_off)
        _l2_gradient(layer, P, G, l2, inv_m)


cdef void batch_norm_layer_backward(const Layer *layer, double slope, floating *P,
                                    floating *G, floating *dA, const floating *A_prev,
                                    BLAS_Trans ta, blas_int lda, blas_int m, floating *ws,
                                    const Buffers *buf, bint with_dropout, double inv_m,
                                    double l2, double fused_rate,
                                    floating *dA_prev) noexcept nogil:
    """From dA (a hidden layer's; the batch's statistics in the forward): dA_prev
    unless NULL, and dW, dgamma, dbeta into G; or, when G is NULL, the update
    ``P -= fused_rate * grad`` (W's folded into the GEMM). dA is overwritten by dZ."""
    cdef bint fused = G == NULL
    cdef floating *nws = <floating *> buf.norm_ws
    cdef floating *dgamma = nws + layer.space.dgamma_off if fused else G + layer.gamma_off
    cdef floating *dbeta = nws + layer.space.dbeta_off if fused else G + layer.beta_off
    if with_dropout and layer.keep < 1:
        # dA = dA * D / keep
        _multiply(layer.n * m, dA, ws + layer.space.mask_off)
    # dZ~ = dA * g'(Z~)
    activation_backward(layer.activation, slope, layer.n, m, dA, nws + layer.space.zt_off,
                        ws + layer.space.a_off, dA, NULL, inv_m, buf.work)
    # dbeta = dZ~.sum(1) / m; dgamma = (dZ~ * Z_norm).sum(1) / m
    # dZ = gamma * invstd * (dZ~ - w * (dZ~.sum(1) + Z_norm * (dZ~ * Z_norm).sum(1)) / sum(w))
    batchnorm_backward(layer.n, m, dA, ws + layer.space.z_off,
                       ws + buf.wb_off if buf.weighted else NULL, P + layer.gamma_off,
                       nws + layer.space.invstd_off, True, inv_m, dA, dgamma, dbeta)
    if fused:
        # gamma = gamma - lr * dgamma; beta = beta - lr * dbeta
        axpy(layer.n, <floating> -fused_rate, dgamma, 1, P + layer.gamma_off, 1)
        axpy(layer.n, <floating> -fused_rate, dbeta, 1, P + layer.beta_off, 1)
    # dA_prev = W.T @ dZ; W updated or dW = dZ @ A_prev.T / m (+ l2 / m * W)
    _weight_backward(layer, P, G, dA, A_prev, ta, lda, m, inv_m, l2, fused_rate, dA_prev)


cdef double layer_weights_square_sum(const Layer *layer, const floating *P) noexcept nogil:
    """The layer's part of the l2 term: np.sum(W ** 2) (not gamma, beta)."""
    if layer.kind == DENSE or layer.kind == SPARSE_DENSE or layer.kind == BATCH_NORM:
        return dot(layer.n * layer.n_prev, P + layer.w_off, 1, P + layer.w_off, 1)
    return NAN                      # (no other kind is ever laid out)


# ---------------------------------------------------------------------------
# The passes over the layers

cdef int forward_pass(const Architecture *arch, Buffers *buf, const floating *P,
                      const floating *Xb, BLAS_Trans tx, blas_int ldx, Py_ssize_t mb,
                      bint with_dropout, const MaskDraw *draw,
                      double *last_check) except -1 nogil:
    """Z[l], A[l] for every hidden layer and the output logits Z[L] into the
    workspaces, each hidden A dropped out if keep < 1 and with_dropout (masks
    from draw: the batch's rows draw.first_row.. are Xb's); return 1 if some Z
    is not finite, else 0. Looks for Ctrl-C between layers (see poll_signals)."""
    cdef floating *ws = <floating *> buf.ws
    cdef const floating *A_prev = Xb
    cdef BLAS_Trans ta = tx
    cdef blas_int lda = ldx, m = <blas_int> mb
    cdef const Layer *layer
    cdef int l
    cdef bint bad = False
    for l in range(1, arch.n_layers + 1):
        layer = &arch.layers[l]
        if layer.kind == DENSE:
            bad |= dense_layer_forward(layer, arch.slope, P, A_prev, ta, lda, m, ws,
                                       buf.work)
        elif layer.kind == SPARSE_DENSE:
            bad |= sparse_dense_layer_forward(layer, arch.slope, P,
                                              <SparseRows *> buf.sparse, m, ws, buf.work)
        elif layer.kind == BATCH_NORM:
            bad |= batch_norm_layer_forward(layer, arch.slope, arch.norm_eps,
                                            arch.norm_momentum, P, A_prev, ta, lda, m, ws,
                                            buf)
        _dropout_forward(layer, l, m, ws, with_dropout, draw)
        A_prev = layer_output(layer, ws, with_dropout)
        ta = NoTrans
        lda = m
        poll_signals(last_check)
    return bad


cdef double batch_cost(const Architecture *arch, Buffers *buf, const floating *P,
                       const floating *Yb, Py_ssize_t mb, double weight,
                       double l2) noexcept nogil:
    """Cost of the batch from Z[L] (fills A[L]), plus l2 / (2 m) * sum ||W||^2.

    weight: the batch's total sample weight, which stands for m (mb unweighted).
    """
    cdef floating *ws = <floating *> buf.ws
    cdef const Layer *output = &arch.layers[arch.n_layers]
    cdef double total = 0
    cdef int l
    cdef double cost = cost_from_logits(arch.loss, output.n, mb, ws + output.space.z_off,
                                        Yb, ws + output.space.a_off, buf.work,
                                        ws + buf.wb_off if buf.weighted else NULL) * mb / weight
    if l2 > 0:
        for l in range(1, arch.n_layers + 1):
            if arch.layers[l].dual:
                # dual: np.sum(W1 ** 2) from M, the c_k and the dual features
                total += dual_weights_square_sum(&arch.layers[l], <DualState *> buf.dual,
                                                 P, <const floating *> buf.moment1)
            else:
                total += layer_weights_square_sum(&arch.layers[l], P)
        cost += l2 / (2.0 * weight) * total
    return cost


cdef int backward_pass(const Architecture *arch, Buffers *buf, floating *P, floating *G,
                       const floating *Xb, BLAS_Trans tx, blas_int ldx,
                       const floating *Yb, Py_ssize_t mb, double weight,
                       bint with_dropout, double l2, double fused_rate,
                       double *last_check) except -1 nogil:
    """Gradients of the batch into G, looking for Ctrl-C between layers; or,
    when G is NULL, the gradient-descent update ``P -= fused_rate * grad``
    folded into the GEMMs (not to be interrupted).

    weight: the batch's total sample weight, which stands for m (mb unweighted).
    """
    cdef floating *ws = <floating *> buf.ws
    cdef int l, L = arch.n_layers, current = 0
    cdef blas_int lda, m = <blas_int> mb
    cdef const Layer *layer = &arch.layers[L]
    cdef floating *dZ = ws + buf.delta_off[0]
    cdef floating *dA_prev
    cdef const floating *A_prev
    cdef BLAS_Trans ta
    cdef double inv_m = 1.0 / weight
    # dZ[L] = (A[L] - Y) * w; db[L] = dZ[L].sum(1) / m
    output_delta(layer.n, mb, ws + layer.space.a_off, Yb, dZ,
                 ws + buf.db_off if G == NULL else G + layer.b_off, inv_m,
                 ws + buf.wb_off if buf.weighted else NULL)
    for l in range(L, 0, -1):
        layer = &arch.layers[l]
        if l > 1:
            A_prev = layer_output(&arch.layers[l - 1], ws, with_dropout)
            ta = NoTrans
            lda = m
            dA_prev = ws + buf.delta_off[1 - current]
        else:
            A_prev = Xb
            ta = tx
            lda = ldx
            dA_prev = NULL          # dA0 is never needed
        if layer.kind == DENSE:
            dense_layer_backward(layer, arch.slope, P, G, dZ, A_prev, ta, lda, m, ws, buf,
                                 with_dropout, inv_m, l2, fused_rate, dA_prev)
        elif layer.kind == SPARSE_DENSE:
            sparse_dense_layer_backward(layer, arch.slope, P, G, dZ,
                                        <SparseRows *> buf.sparse, m, ws, buf,
                                        with_dropout, inv_m, l2, fused_rate)
        elif layer.kind == BATCH_NORM:
            batch_norm_layer_backward(layer, arch.slope, P, G, dZ, A_prev, ta, lda, m, ws,
                                      buf, with_dropout, inv_m, l2, fused_rate, dA_prev)
        dZ = dA_prev
        current = 1 - current
        if G != NULL:
            poll_signals(last_check)
    return 0


# ---------------------------------------------------------------------------
# Passes over a whole data set, in chunks of buf.batch rows

cdef void predict_rows(const Architecture *arch, Buffers *buf, const floating *P,
                       const Rows *X, Py_ssize_t m, Activation output,
                       floating *out) noexcept nogil:
    """out = g_out(Z[L]) for the rows of X, out of shape (m, n_out), in chunks
    (each converted to the engine's dtype if X is not in it)."""
    cdef floating *ws = <floating *> buf.ws
    cdef const Layer *last = &arch.layers[arch.n_layers]
    cdef Py_ssize_t start = 0, mb, i, j, n0 = arch.layers[1].n_prev, n_out = last.n
    cdef floating *A = ws + last.space.a_off
    cdef const floating *Xb
    cdef blas_int ldx
    cdef Py_ssize_t hinted = 0
    while start < m:
        mb = min(buf.batch, m - start)
        hinted = read_ahead(NULL, X, n0, NO_SHUFFLE, m, start, hinted)
        Xb = chunk_rows(X, n0, start, mb, ws + buf.xb_off, &ldx)
        forward_pass(arch, buf, P, Xb, Trans, ldx, mb, False, NULL, NULL)
        # A = g_out(Z[L])
        bias_activation_forward(output, arch.slope, n_out, mb, ws + last.space.z_off,
                                NULL, A, buf.work)
        # out[start:start + mb] = A.T
        for j in range(mb):
            for i in range(n_out):
                out[(start + j) * n_out + i] = A[i * mb + j]
        start += mb


cdef double data_cost(const Architecture *arch, Buffers *buf, const floating *P,
                      const Rows *X, const floating *T, const int64_t *labels,
                      Py_ssize_t m) noexcept nogil:
    """The mean cost over all rows of X (no l2 term), in chunks (each converted
    to the engine's dtype if X is not in it)."""
    cdef floating *ws = <floating *> buf.ws
    cdef Py_ssize_t start = 0, mb, n0 = arch.layers[1].n_prev
    cdef Py_ssize_t n_out = arch.layers[arch.n_layers].n
    cdef double total = 0
    cdef const floating *Xb
    cdef blas_int ldx
    cdef Py_ssize_t hinted = 0
    while start < m:
        mb = min(buf.batch, m - start)
        hinted = read_ahead(NULL, X, n0, NO_SHUFFLE, m, start, hinted)
        gather_batch(X, T, labels, NULL, n0, n_out, NULL, start, mb, NULL, ws + buf.yb_off,
                     NULL)
        Xb = chunk_rows(X, n0, start, mb, ws + buf.xb_off, &ldx)
        if forward_pass(arch, buf, P, Xb, Trans, ldx, mb, False, NULL, NULL):
            return NAN
        total += batch_cost(arch, buf, P, ws + buf.yb_off, mb, mb, 0) * mb
        start += mb
    return total / m


cdef double data_gradients(const Architecture *arch, Buffers *buf, floating *P,
                           floating *G, const Rows *X, const floating *T,
                           const int64_t *labels, const floating *W, Py_ssize_t m,
                           double l2) noexcept nogil:
    """G = the gradient over all rows of X as one batch (no dropout); return the
    cost with its l2 term, or NaN if it is not finite (or the weights sum to 0)."""
    cdef floating *ws = <floating *> buf.ws
    cdef double cost, weight
    cdef Py_ssize_t n0 = arch.layers[1].n_prev, n_out = arch.layers[arch.n_layers].n
    cdef blas_int ldx
    cdef const floating *Xb
    weight = gather_batch(X, T, labels, W, n0, n_out, NULL, 0, m, NULL, ws + buf.yb_off,
                          ws + buf.wb_off)
    # X in place, or converted whole into the workspace (one batch: the whole set)
    Xb = chunk_rows(X, n0, 0, m, ws + buf.xb_off, &ldx)
    if weight <= 0 or forward_pass(arch, buf, P, Xb, Trans, ldx, m, False, NULL, NULL):
        return NAN
    buf.batch_rows = NULL           # (dual: the batch is rows 0..m-1)
    buf.batch_start = 0
    cost = batch_cost(arch, buf, P, ws + buf.yb_off, m, weight, l2)
    backward_pass(arch, buf, P, G, Xb, Trans, ldx, ws + buf.yb_off, m, weight, False, l2,
                  0, NULL)
    return cost
