from dnn_core._blas cimport floating
from dnn_core._activations cimport Activation

cpdef enum Loss:
    BINARY_CROSSENTROPY = 0
    CATEGORICAL_CROSSENTROPY = 1
    MEAN_SQUARED_ERROR = 2
    POISSON = 3
    LOSS_COUNT                      # not a loss: how many there are

cdef bint is_loss(int code) noexcept nogil

cdef int check_loss(int code, str name) except -1

cdef Activation output_activation(Loss loss) noexcept nogil

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
