"""The dual form of the first layer: its weight update and its l2 term (see _dual.pxd).

With ``W1 = sum_k c_k B_k + M X^T`` the engine's layer 1 has the weights
``W' = [M, c_1 I, ..., c_r I]`` (n1, m + r n1) over the dual features
``F = [G | (B_1 X)^T | ...]`` (one row per example, ``G = X^T X``). The course's
``dW1 = dZ1 X_B^T / m_B + (l2 / m_B) W1`` is, in those coordinates, the batch's
``dZ1 / m_B`` scattered into M's columns of the batch's examples plus
``(l2 / m_B) W'``: an element-wise linear optimizer (gd, momentum, Nesterov)
applied to ``W'`` and its velocity is then exactly the primal one applied to
``W1`` (each diagonal of a ``c_k I`` block goes through identical operations,
so it stays one number; the off-diagonal zeros stay zero). Adam and RMSProp
scale element-wise and leave that span: never dual.
"""
from libc.string cimport memset

cimport numpy as cnp
import numpy as np

from dnn_core._blas cimport NoTrans, BLAS_Trans, flip, axpy, dot, gemm, scal
from dnn_core._optim cimport GD, MOMENTUM, NESTEROV

cnp.import_array()

#: the l2 term's tracked products are formed anew after this many steps (their
#: rounding drifts by about one unit a step; the parameters never depend on them)
cdef int RESYNC_STEPS = 100


cdef void dual_weight_backward(const Layer *layer, DualState *state,
                               const Buffers *buf, floating *P, floating *G,
                               const floating *dZ, const floating *A_prev, BLAS_Trans ta,
                               blas_int lda, blas_int mb, double inv_m, double l2,
                               double fused_rate) noexcept nogil:
    """dW' = scatter(dZ / m) + (l2 / m) W' into G; or (G NULL) gd's update of W'
    in place: W' = (1 - lr l2 / m) W' - (lr / m) scatter(dZ). With l2, the
    step's dZ F_B[:, :m] / m for the tracked products (A_prev: the batch's
    dual features, op(A_prev) = F_B^T)."""
    cdef Py_ssize_t u, j, i, n = layer.n, ld = layer.n_prev, m = state.m
    cdef Py_ssize_t size = n * ld
    cdef floating *W = P + layer.w_off
    cdef floating *T = <floating *> state.products
    cdef floating *D
    cdef floating alpha
    if l2 > 0 and state.tracked:
        # T[2] = dZ @ F_B[:, :m] / m   (F_B[:, :m] = G's rows of the batch)
        gemm(NoTrans, flip(ta), <blas_int> n, <blas_int> m, mb, <floating> inv_m, dZ, mb,
             A_prev, lda, <floating> 0, T + 2 * n * m, <blas_int> m)
        if G == NULL:
            # M G = (1 - lr l2 / m) M G - lr T[2]   (the update below, times G)
            scal(<blas_int> (n * m), <floating> (1 - fused_rate * l2 * inv_m), T, 1)
            axpy(<blas_int> (n * m), <floating> -fused_rate, T + 2 * n * m, 1, T, 1)
            state.since_exact += 1
    if G == NULL:
        if l2 > 0:
            # W' *= 1 - lr * l2 / m
            scal(<blas_int> size, <floating> (1 - fused_rate * l2 * inv_m), W, 1)
        D = W
        alpha = <floating> (-fused_rate * inv_m)
    else:
        # dW' = 0
        D = G + layer.w_off
        memset(D, 0, size * sizeof(floating))
        alpha = <floating> inv_m
    # dW'[:, rows] += alpha * dZ  (M's columns of the batch's examples)
    for j in range(mb):
        i = buf.batch_rows[j] if buf.batch_rows != NULL else buf.batch_start + j
        for u in range(n):
            D[u * ld + i] += alpha * dZ[u * mb + j]
    if G != NULL and l2 > 0:
        # dW' += (l2 / m) * W'
        axpy(<blas_int> size, <floating> (l2 * inv_m), W, 1, D, 1)


cdef void dual_track_step(const Layer *layer, DualState *state, int optimizer,
                          double rate, double beta1, double l2_inv_m,
                          const floating *P) noexcept nogil:
    """After the optimizer's step on W' (and its velocity): the tracked M G and
    V_M G follow it, the step's gradient times G being T[2] + (l2 / m) M G
    (P: the parameters, whose dtype the products have)."""
    cdef Py_ssize_t i, size = layer.n * state.m
    cdef floating *T = <floating *> state.products
    cdef floating *TV = T + size
    cdef floating *TG = T + 2 * size
    cdef floating lr = <floating> rate, b1 = <floating> beta1, one_b1 = 1 - b1
    cdef floating c = <floating> l2_inv_m, g, v
    if not state.tracked:
        return
    if optimizer == GD:
        # M G = M G - lr * (T[2] + l2 / m * M G)
        for i in range(size):
            T[i] = T[i] - lr * (TG[i] + c * T[i])
    elif optimizer == MOMENTUM:
        # V G = b V G + (1 - b) grad G; M G = M G - lr * V G
        for i in range(size):
            g = TG[i] + c * T[i]
            v = b1 * TV[i] + one_b1 * g
            TV[i] = v
            T[i] = T[i] - lr * v
    elif optimizer == NESTEROV:
        # V G = b V G + (1 - b) grad G; M G = M G - lr * (b V G + (1 - b) grad G)
        for i in range(size):
            g = TG[i] + c * T[i]
            v = b1 * TV[i] + one_b1 * g
            TV[i] = v
            T[i] = T[i] - lr * (b1 * v + one_b1 * g)
    else:
        state.tracked = False          # (no other optimizer trains the dual form)
        return
    state.since_exact += 1


cdef void _form_products(const Layer *layer, DualState *state, const floating *P,
                         const floating *V) noexcept nogil:
    """products[0] = M G, products[1] = V_M G (G: F[:, :m], symmetric)."""
    cdef Py_ssize_t n = layer.n, m = state.m
    cdef blas_int ld = layer.n_prev
    cdef const floating *F = <const floating *> state.features
    cdef floating *T = <floating *> state.products
    # T[0] = M @ G
    gemm(NoTrans, NoTrans, <blas_int> n, <blas_int> m, <blas_int> m, <floating> 1,
         P + layer.w_off, ld, F, ld, <floating> 0, T, <blas_int> m)
    # T[1] = V_M @ G
    gemm(NoTrans, NoTrans, <blas_int> n, <blas_int> m, <blas_int> m, <floating> 1,
         V + layer.w_off, ld, F, ld, <floating> 0, T + n * m, <blas_int> m)
    state.tracked = True
    state.since_exact = 0


cdef double dual_weights_square_sum(const Layer *layer, DualState *state,
                                    const floating *P, const floating *V) noexcept nogil:
    """np.sum(W1 ** 2) = <M, M G> + 2 sum_k c_k <M, B_k X> + sum_kl c_k c_l <B_k, B_l>,
    M G tracked from step to step (formed anew at a call's first cost and every
    RESYNC_STEPS steps; V: the optimizer's velocity, whose V_M G is tracked too)."""
    cdef Py_ssize_t u, k, q, n = layer.n, m = state.m, r = state.n_bases
    cdef blas_int ld = layer.n_prev
    cdef const floating *W = P + layer.w_off
    cdef const floating *F = <const floating *> state.features
    cdef const floating *T = <const floating *> state.products
    cdef double total = 0, c
    if not state.tracked or state.since_exact >= RESYNC_STEPS:
        _form_products(layer, state, P, V)
    for u in range(n):
        # <M, M G> row by row
        total += dot(<blas_int> m, W + u * ld, 1, T + u * m, 1)
    for k in range(r):
        c = W[m + k * n]            # the diagonal of block k (row 0)
        for u in range(n):
            # <M, B_k X>: M[u, :] . (B_k X)[u, :] = F[:, m + k n + u]
            total += 2 * c * dot(<blas_int> m, W + u * ld, 1, F + m + k * n + u, ld)
        for q in range(r):
            total += c * W[m + q * n] * state.basis_gram[k * r + q]
    return total


cdef class DualLayer:
    """The dual features of a training set and what the l2 term needs, for
    :meth:`dnn_core.Engine.enable_dual`.

    Parameters
    ----------
    features : ndarray, shape (m, m + r * units), float32 or float64, C-ordered
        ``[G | (B_1 X)^T | ... | (B_r X)^T]`` in the engine's dtype.
    basis_gram : ndarray, shape (r, r), float64
        ``<B_k, B_l>`` (Frobenius inner products of the bases).
    units : int
        n1, the first layer's units.
    """

    def __init__(self, features, basis_gram, Py_ssize_t units):
        if not isinstance(features, np.ndarray) or features.ndim != 2:
            raise TypeError(f"features: expected a 2-D ndarray, got {type(features).__name__}")
        if features.dtype not in (np.float32, np.float64) or not features.flags.c_contiguous:
            raise TypeError(f"features: expected C-ordered float32 or float64, got "
                            f"{features.dtype}, C-contiguous {features.flags.c_contiguous}")
        if units < 1:
            raise ValueError(f"units: expected >= 1, got {units}")
        m = features.shape[0]
        r, rest = divmod(features.shape[1] - m, units)
        if m < 1 or r < 1 or rest != 0:
            raise ValueError(f"features: expected shape (m, m + r * {units}) with m, r >= 1, "
                             f"got {features.shape}")
        gram = np.ascontiguousarray(basis_gram, dtype=np.float64)
        if gram.shape != (r, r):
            raise ValueError(f"basis_gram: expected shape ({r}, {r}), got {gram.shape}")
        self.features = features
        self.basis_gram = gram
        self.products = np.zeros((3, units, m), dtype=features.dtype)
        self.m = m
        self.n_bases = r
        self.units = units
        self.state.m = m
        self.state.n_bases = r
        self.state.features = cnp.PyArray_DATA(features)
        self.state.basis_gram = <const double *> cnp.PyArray_DATA(gram)
        self.state.products = cnp.PyArray_DATA(self.products)
        self.state.tracked = False
        self.state.since_exact = 0
