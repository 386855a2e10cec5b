from dnn_core._blas cimport floating

cpdef enum Activation:
    IDENTITY = 0
    SIGMOID = 1
    RELU = 2
    TANH = 3
    LEAKY_RELU = 4
    SOFTMAX = 5
    SOFTPLUS = 6
    EXP = 7                         # an output's only (the Poisson loss's log link)
    ACTIVATION_COUNT                # not an activation: how many there are

cdef bint is_activation(int code) noexcept nogil

cdef int check_activation(int code, str name) except -1

cdef bint bias_activation_forward(
    Activation activation, double slope, Py_ssize_t n, Py_ssize_t m,
    floating *Z, const floating *b, floating *A, double *work) noexcept nogil

cdef void activation_backward(
    Activation activation, double slope, Py_ssize_t n, Py_ssize_t m,
    const floating *dA, const floating *Z, const floating *A, floating *dZ,
    floating *db, double scale, double *work) noexcept nogil

cdef void row_sums(Py_ssize_t n, Py_ssize_t m, const floating *X, floating *out,
                   double scale) noexcept nogil

cdef floating nonfinite_probe(Py_ssize_t m, const floating *x) noexcept nogil
