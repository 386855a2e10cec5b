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
