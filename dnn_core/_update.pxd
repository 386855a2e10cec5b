from dnn_core._blas cimport floating

cdef void sgd_update(Py_ssize_t size, double learning_rate, floating *W,
                     const floating *dW) noexcept nogil
