from dnn_core._blas cimport floating, blas_int, BLAS_Trans
from dnn_core._activations cimport Activation

cdef bint dense_forward(
    Activation activation, double slope, blas_int n, blas_int n_prev, blas_int m,
    const floating *W, BLAS_Trans trans_w, blas_int ldw,
    const floating *A_prev, BLAS_Trans trans_a, blas_int lda,
    const floating *b, floating *Z, floating *A, double *work) noexcept nogil

cdef void dense_backward(
    blas_int n, blas_int n_prev, blas_int m, const floating *dZ,
    const floating *A_prev, BLAS_Trans trans_a, blas_int lda,
    const floating *W, BLAS_Trans trans_w, blas_int ldw,
    double scale, floating *dW, double dw_beta, floating *db,
    floating *dA_prev) noexcept nogil
