"""Parameter updates applied in place."""
from dnn_core._blas cimport axpy, blas_int


cdef void sgd_update(Py_ssize_t size, double learning_rate, floating *W,
                     const floating *dW) noexcept nogil:
    """W -= learning_rate * dW over ``size`` contiguous entries."""
    cdef Py_ssize_t start = 0, chunk, top = 1 << 30
    # W = W - learning_rate * dW   (in chunks that fit BLAS's 32-bit sizes)
    while start < size:
        chunk = min(top, size - start)
        axpy(<blas_int> chunk, <floating> -learning_rate, dW + start, 1, W + start, 1)
        start += chunk


def sgd(floating[::1] W, const floating[::1] dW, double learning_rate):
    """W -= learning_rate * dW in place; both 1-D and contiguous."""
    if W.shape[0] != dW.shape[0]:
        raise ValueError(f"dW: expected {W.shape[0]} entries like W, got {dW.shape[0]}")
    if W.shape[0] == 0:
        return
    with nogil:
        sgd_update(W.shape[0], learning_rate, &W[0], &dW[0])
