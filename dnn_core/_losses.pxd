from dnn_core._blas cimport floating

cpdef enum Loss:
    BINARY_CROSSENTROPY = 0
    CATEGORICAL_CROSSENTROPY = 1
    MEAN_SQUARED_ERROR = 2

cdef double cost_from_logits(Loss loss, Py_ssize_t n, Py_ssize_t m, const floating *Z,
                             const floating *Y, floating *A, double *work,
                             const floating *weights) noexcept nogil

cdef double cost_from_probs(Loss loss, Py_ssize_t n, Py_ssize_t m, const floating *A,
                            const floating *Y) noexcept nogil

cdef void loss_gradient(Loss loss, Py_ssize_t n, Py_ssize_t m, const floating *A,
                        const floating *Y, floating *dA) noexcept nogil

cdef void output_delta(Py_ssize_t n, Py_ssize_t m, const floating *A, const floating *Y,
                       floating *dZ, floating *db, double scale,
                       const floating *weights) noexcept nogil
