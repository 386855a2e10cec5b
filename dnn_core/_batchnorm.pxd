from dnn_core._blas cimport floating

cdef bint batchnorm_train_forward(
    Py_ssize_t n, Py_ssize_t m, const floating *Z, const floating *weights,
    const floating *gamma, const floating *beta, double eps, double momentum,
    floating *Z_norm, floating *Z_tilde, floating *invstd, floating *mean, floating *var,
    floating *running_mean, floating *running_var) noexcept nogil

cdef void batchnorm_inference_forward(
    Py_ssize_t n, Py_ssize_t m, const floating *Z, const floating *gamma,
    const floating *beta, const floating *running_mean, const floating *running_var,
    double eps, floating *Z_tilde) noexcept nogil

cdef void batchnorm_fold(
    Py_ssize_t n, const floating *gamma, const floating *beta,
    const floating *running_mean, const floating *running_var, double eps,
    floating *scale, floating *shift) noexcept nogil

cdef void batchnorm_backward(
    Py_ssize_t n, Py_ssize_t m, const floating *dZ_tilde, const floating *Z_norm,
    const floating *weights, const floating *gamma, const floating *invstd,
    bint batch_stats, double scale, floating *dZ, floating *dgamma,
    floating *dbeta) noexcept nogil

# The same in pieces, for a batch split into shards (see _batchnorm.pyx)
cdef void batchnorm_partial_sums(
    Py_ssize_t n, Py_ssize_t m, const floating *Z, const floating *weights,
    const double *center, double *sums, double *square_sums) noexcept nogil

cdef double batchnorm_unbias_factor(double total, double total_squares) noexcept nogil

cdef void batchnorm_update_running(
    Py_ssize_t n, const double *mean, const double *var, double unbias, double momentum,
    floating *running_mean, floating *running_var) noexcept nogil

cdef void batchnorm_normalize(
    Py_ssize_t n, Py_ssize_t m, const floating *Z, const double *mean,
    const double *invstd, const floating *gamma, const floating *beta,
    floating *Z_norm, floating *Z_tilde) noexcept nogil

cdef void batchnorm_gradient_sums(
    Py_ssize_t n, Py_ssize_t m, const floating *dZ_tilde, const floating *Z_norm,
    double *sum_d, double *sum_dx) noexcept nogil

cdef void batchnorm_input_gradient(
    Py_ssize_t n, Py_ssize_t m, const floating *dZ_tilde, const floating *Z_norm,
    const floating *weights, const floating *gamma, const double *invstd,
    const double *mean_d, const double *mean_dx, floating *dZ) noexcept nogil
