"""One dense layer, forward and backward, in the course's layout.

``W`` is (n, n_prev), ``A_prev`` (n_prev, m), ``Z``, ``A``, ``dZ`` (n, m),
one column per example. ``W`` and ``A_prev`` reach BLAS in whatever
layout they come: C or F order, or a slice of either, are described by a
transpose flag and a leading dimension, not copied (any other strides are
copied once). Outputs are C-order.
"""
import numpy as np

from dnn_core._blas cimport gemm, blas_ready, check_shape, flip, NoTrans, Trans
from dnn_core._activations cimport (bias_activation_forward, row_sums, check_activation,
                                    SOFTMAX)


cdef bint dense_forward(
        Activation activation, double slope, blas_int n, blas_int n_prev, blas_int m,
        const floating *W, BLAS_Trans trans_w, blas_int ldw,
        const floating *A_prev, BLAS_Trans trans_a, blas_int lda,
        const floating *b, floating *Z, floating *A, double *work) noexcept nogil:
    """Z = W @ A_prev + b; A = g(Z). Return True if some entry of Z is not finite."""
    # Z = W @ A_prev
    gemm(trans_w, trans_a, n, m, n_prev, 1, W, ldw, A_prev, lda, 0, Z, m)
    # Z += b; A = g(Z)
    return bias_activation_forward(activation, slope, n, m, Z, b, A, work)


cdef void dense_backward(
        blas_int n, blas_int n_prev, blas_int m, const floating *dZ,
        const floating *A_prev, BLAS_Trans trans_a, blas_int lda,
        const floating *W, BLAS_Trans trans_w, blas_int ldw,
        double scale, floating *dW, double dw_beta, floating *db,
        floating *dA_prev) noexcept nogil:
    """From dZ: dA_prev unless NULL (not needed below the first layer), then
    dW = scale * dZ @ A_prev.T + dw_beta * dW, and db = scale * dZ.sum(1) unless
    NULL (it may already have been fused into dZ's kernel).

    dA_prev is taken from W before dW is written, so dW may be W itself: with
    scale = -lr / m and dw_beta = 1 - lr l2 / m a gradient-descent update is
    folded into the GEMM. The course's gradient: scale = 1 / m, dw_beta = 0.
    """
    if dA_prev != NULL:
        # dA_prev = W.T @ dZ
        gemm(flip(trans_w), NoTrans, n_prev, m, n, 1, W, ldw, dZ, m, 0, dA_prev, m)
    # dW = scale * dZ @ A_prev.T + dw_beta * dW
    gemm(NoTrans, flip(trans_a), n, n_prev, m, <floating> scale, dZ, m, A_prev, lda,
         <floating> dw_beta, dW, n_prev)
    if db != NULL:
        # db = scale * np.sum(dZ, axis=1)
        row_sums(n, m, dZ, db, scale)


# ---------------------------------------------------------------------------
# Python entry points.

def forward(const floating[:, :] W, const floating[:, :] A_prev, const floating[::1] b,
            floating[:, ::1] Z, floating[:, ::1] A, int activation, double slope=0.01):
    """Z = W @ A_prev + b; A = g(Z), into Z and A. Return True if Z has NaN or inf.

    W: (n, n_prev); A_prev: (n_prev, m), in any layout; b: (n,) or None;
    Z, A: (n, m) C-contiguous (A may be Z for the identity).
    """
    cdef Py_ssize_t n = W.shape[0], n_prev = W.shape[1], m = A_prev.shape[1]
    cdef bint bad
    if A_prev.shape[0] != n_prev:
        raise ValueError(f"A_prev: expected {n_prev} rows (the columns of W), got {A_prev.shape[0]}")
    if n == 0 or n_prev == 0 or m == 0:
        raise ValueError(f"W and A_prev: expected non-empty arrays, got shapes "
                         f"{(n, n_prev)} and {(n_prev, m)}")
    check_shape("Z", Z.shape[0], Z.shape[1], n, m)
    check_shape("A", A.shape[0], A.shape[1], n, m)
    if b is not None and b.shape[0] != n:
        raise ValueError(f"b: expected shape {(n,)}, got {(b.shape[0],)}")
    check_activation(activation, "activation")
    if activation == SOFTMAX and &A[0, 0] == &Z[0, 0]:
        raise ValueError("A: softmax needs an output buffer apart from Z")
    cdef BLAS_Trans tw, ta
    cdef blas_int ldw, lda
    W = blas_ready(W, &tw, &ldw)
    A_prev = blas_ready(A_prev, &ta, &lda)
    cdef const floating *b_ptr = &b[0] if b is not None else NULL
    cdef double[::1] work = np.empty(2 * m) if activation == SOFTMAX else None
    cdef double *work_ptr = &work[0] if activation == SOFTMAX else NULL
    with nogil:
        bad = dense_forward(<Activation> activation, slope, n, n_prev, m,
                            &W[0, 0], tw, ldw, &A_prev[0, 0], ta, lda,
                            b_ptr, &Z[0, 0], &A[0, 0], work_ptr)
    return bad


def backward(const floating[:, ::1] dZ, const floating[:, :] A_prev,
             const floating[:, :] W, floating[:, ::1] dW, floating[::1] db=None,
             floating[:, ::1] dA_prev=None):
    """dW = dZ @ A_prev.T / m; db = dZ.sum(1) / m; dA_prev = W.T @ dZ, in place.

    dZ: (n, m) C-contiguous; A_prev: (n_prev, m) and W: (n, n_prev) in any
    layout; dW: (n, n_prev) C-contiguous; db (n,) and dA_prev
    (n_prev, m) are skipped when None.
    """
    cdef Py_ssize_t n = dZ.shape[0], m = dZ.shape[1], n_prev = A_prev.shape[0]
    if n == 0 or m == 0 or n_prev == 0:
        raise ValueError(f"dZ and A_prev: expected non-empty arrays, got shapes "
                         f"{(n, m)} and {(n_prev, A_prev.shape[1])}")
    check_shape("A_prev", A_prev.shape[0], A_prev.shape[1], n_prev, m)
    check_shape("W", W.shape[0], W.shape[1], n, n_prev)
    check_shape("dW", dW.shape[0], dW.shape[1], n, n_prev)
    if db is not None and db.shape[0] != n:
        raise ValueError(f"db: expected shape {(n,)}, got {(db.shape[0],)}")
    if dA_prev is not None:
        check_shape("dA_prev", dA_prev.shape[0], dA_prev.shape[1], n_prev, m)
    cdef BLAS_Trans tw, ta
    cdef blas_int ldw, lda
    W = blas_ready(W, &tw, &ldw)
    A_prev = blas_ready(A_prev, &ta, &lda)
    cdef floating *db_ptr = &db[0] if db is not None else NULL
    cdef floating *da_ptr = &dA_prev[0, 0] if dA_prev is not None else NULL
    with nogil:
        dense_backward(n, n_prev, m, &dZ[0, 0], &A_prev[0, 0], ta, lda,
                       &W[0, 0], tw, ldw, 1.0 / m, &dW[0, 0], 0, db_ptr, da_ptr)
