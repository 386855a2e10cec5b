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

from dnn_core._blas cimport NoTrans, axpy, dot, gemm, scal

cnp.import_array()


cdef void dual_weight_backward(const Layer *layer, const DualState *state,
                               const Buffers *buf, floating *P, floating *G,
                               const floating *dZ, blas_int mb, double inv_m, double l2,
                               double fused_rate) noexcept nogil:
    """dW' = scatter(dZ / m) + (l2 / m) W' into G; or (G NULL) gd's update of W'
    in place: W' = (1 - lr l2 / m) W' - (lr / m) scatter(dZ)."""
    cdef Py_ssize_t u, j, i, n = layer.n, ld = layer.n_prev
    cdef Py_ssize_t size = n * ld
    cdef floating *W = P + layer.w_off
    cdef floating *D
    cdef floating alpha
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


cdef double dual_weights_square_sum(const Layer *layer, const DualState *state,
                                    const floating *P) noexcept nogil:
    """np.sum(W1 ** 2) = <M, M G> + 2 sum_k c_k <M, B_k X> + sum_kl c_k c_l <B_k, B_l>."""
    cdef Py_ssize_t u, k, q, n = layer.n, m = state.m, r = state.n_bases
    cdef blas_int ld = layer.n_prev
    cdef const floating *W = P + layer.w_off
    cdef const floating *F = <const floating *> state.features
    cdef floating *T = <floating *> state.scratch
    cdef double total = 0, c
    # T = M @ G (M: W'[:, :m]; G: F[:, :m], symmetric)
    gemm(NoTrans, NoTrans, <blas_int> n, <blas_int> m, <blas_int> m, <floating> 1, W, ld,
         F, ld, <floating> 0, T, <blas_int> m)
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
        self.scratch = np.empty((units, m), dtype=features.dtype)
        self.m = m
        self.n_bases = r
        self.units = units
        self.state.m = m
        self.state.n_bases = r
        self.state.features = cnp.PyArray_DATA(features)
        self.state.basis_gram = <const double *> cnp.PyArray_DATA(gram)
        self.state.scratch = cnp.PyArray_DATA(self.scratch)
