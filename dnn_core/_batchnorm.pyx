"""Batch normalization of a layer's linear output, forward and backward.

The second course's formulas (Improving Deep Neural Networks, week 3), per
unit (row) over the batch (columns), between the linear part and the
activation of a hidden layer (whose bias is then dropped)::

    mu = mean(Z, axis=1)                 var = mean((Z - mu) ** 2, axis=1)
    Z_norm = (Z - mu) / sqrt(var + eps)  Z_tilde = gamma * Z_norm + beta

All arrays are in the course's layout, ``(units, examples)``, C-order: ``Z``,
``Z_norm``, ``Z_tilde``, ``dZ`` are (n, m); ``gamma``, ``beta``, the batch's
``mean``, ``var``, ``invstd = 1 / sqrt(var + eps)`` and the running
statistics are (n,). Sums run in double. The cdef kernels allocate nothing:
every output is a caller's buffer.

In an engine, per hidden layer with batch norm (its b dropped)::

    forward    dense_forward(IDENTITY, b=NULL) -> Z
               batchnorm_train_forward(Z, Z_norm=Z (in place), Z_tilde, invstd)
               bias_activation_forward(g, Z_tilde, b=NULL) -> A
    backward   activation_backward(dA, Z_tilde, A) -> dZ_tilde  (db=NULL)
               batchnorm_backward(dZ_tilde, Z_norm, invstd, dZ=dZ_tilde, scale=1/m)
               dense_backward(dZ, db=NULL)
    inference  batchnorm_inference_forward(Z, Z_tilde=Z), or batchnorm_fold into W

so a layer keeps one (n, m) buffer more than a dense one (Z_tilde) and invstd.

Conventions (PyTorch's ``BatchNorm1d``; ``dnn.batch_norm`` documents why):
``eps = 1e-5``; ``running = (1 - momentum) * running + momentum * batch`` with
``momentum = 0.1``; the running variance is the unbiased one (the batch's
``var`` times ``m / (m - 1)``), and is left as it was for a batch of one.

Sample weights ``w`` (m,), NULL for none, make the statistics weighted means
(``mu = sum(w Z) / sum(w)``, likewise ``var``), and the unbiased factor
``sum(w) ** 2 / (sum(w) ** 2 - sum(w ** 2))`` (``m / (m - 1)`` for equal
weights). In backward, ``dZ_tilde`` is then the engine's weighted delta: each
column already carries its weight, as ``dZ[L] = w * (A - Y)`` does.
"""
from libc.math cimport sqrt

import numpy as np

from dnn_core._blas cimport check_shape


# ---------------------------------------------------------------------------
# Row sums, four running sums each so that the additions need not wait on
# each other.

cdef inline double _shifted_sum(Py_ssize_t m, const floating *x, const floating *w,
                                double shift) noexcept nogil:
    """np.sum(w * (x[:m] - shift)), w = 1 if NULL."""
    cdef Py_ssize_t j
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0
    if w == NULL:
        for j in range(0, m - 3, 4):
            s0 += x[j] - shift
            s1 += x[j + 1] - shift
            s2 += x[j + 2] - shift
            s3 += x[j + 3] - shift
        for j in range(m - m % 4, m):
            s0 += x[j] - shift
    else:
        for j in range(0, m - 3, 4):
            s0 += w[j] * (x[j] - shift)
            s1 += w[j + 1] * (x[j + 1] - shift)
            s2 += w[j + 2] * (x[j + 2] - shift)
            s3 += w[j + 3] * (x[j + 3] - shift)
        for j in range(m - m % 4, m):
            s0 += w[j] * (x[j] - shift)
    return (s0 + s1) + (s2 + s3)


cdef inline double _squares_sum(Py_ssize_t m, const floating *x, const floating *w,
                                double shift) noexcept nogil:
    """np.sum(w * (x[:m] - shift) ** 2), w = 1 if NULL."""
    cdef Py_ssize_t j
    cdef double d0, d1, d2, d3, s0 = 0, s1 = 0, s2 = 0, s3 = 0
    for j in range(0, m - 3, 4):
        d0 = x[j] - shift
        d1 = x[j + 1] - shift
        d2 = x[j + 2] - shift
        d3 = x[j + 3] - shift
        if w == NULL:
            s0 += d0 * d0
            s1 += d1 * d1
            s2 += d2 * d2
            s3 += d3 * d3
        else:
            s0 += w[j] * d0 * d0
            s1 += w[j + 1] * d1 * d1
            s2 += w[j + 2] * d2 * d2
            s3 += w[j + 3] * d3 * d3
    for j in range(m - m % 4, m):
        d0 = x[j] - shift
        s0 += d0 * d0 if w == NULL else w[j] * d0 * d0
    return (s0 + s1) + (s2 + s3)


cdef inline double _products_sum(Py_ssize_t m, const floating *x,
                                 const floating *y) noexcept nogil:
    """np.sum(x[:m] * y[:m])"""
    cdef Py_ssize_t j
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0
    for j in range(0, m - 3, 4):
        s0 += <double> x[j] * y[j]
        s1 += <double> x[j + 1] * y[j + 1]
        s2 += <double> x[j + 2] * y[j + 2]
        s3 += <double> x[j + 3] * y[j + 3]
    for j in range(m - m % 4, m):
        s0 += <double> x[j] * y[j]
    return (s0 + s1) + (s2 + s3)


cdef inline double _weight_total(Py_ssize_t m, const floating *w, double *squares) noexcept nogil:
    """np.sum(w), and np.sum(w ** 2) into squares; m and m if w is NULL."""
    cdef Py_ssize_t j
    cdef double total = 0, total_squares = 0
    if w == NULL:
        squares[0] = m
        return m
    # total = np.sum(w); total_squares = np.sum(w ** 2)
    for j in range(m):
        total += w[j]
        total_squares += <double> w[j] * w[j]
    squares[0] = total_squares
    return total


# ---------------------------------------------------------------------------
# Pieces. The whole-batch kernels below run them one row at a time. A batch
# split into shards of columns (examples), each shard with its own (n, m_s)
# buffers, runs them shard by shard, reducing the per-unit sums of all shards
# (in a fixed order) between them so that the statistics are the whole
# batch's; with center = the batch's first column the results are the
# whole-batch kernels' up to the rounding of the sums (tests/test_batch_norm.py's
# sharded_train_forward and sharded_backward run it):
#
#   forward:  S1 = sum over shards of partial_sums(Z_s, w_s, center)
#             mu = center + S1 / total     (total = sum(w), or m)
#             S2 = sum over shards of partial_sums(Z_s, w_s, mu) [squares]
#             var = S2 / total; invstd = 1 / sqrt(var + eps)
#             update_running(mu, var, unbias_factor(total, sum(w ** 2)))  (once)
#             normalize(Z_s, mu, invstd, gamma, beta) on every shard
#   backward: sum_d, sum_dx = sum over shards of gradient_sums(dZ~_s, Z_norm_s)
#             dbeta = scale * sum_d; dgamma = scale * sum_dx
#             input_gradient(dZ~_s, Z_norm_s, w_s, gamma, invstd, sum_d / total,
#                            sum_dx / total) on every shard

cdef void batchnorm_partial_sums(
        Py_ssize_t n, Py_ssize_t m, const floating *Z, const floating *weights,
        const double *center, double *sums, double *square_sums) noexcept nogil:
    """sums = np.sum(w * (Z - center), 1); square_sums = np.sum(w * (Z - center) ** 2, 1).

    center (n,), or NULL for 0; sums, square_sums (n,), either may be NULL.
    """
    cdef Py_ssize_t i
    cdef double c
    for i in range(n):
        c = center[i] if center != NULL else 0
        # sums[i] = np.sum(w * (Z[i] - center[i]))
        if sums != NULL:
            sums[i] = _shifted_sum(m, Z + i * m, weights, c)
        # square_sums[i] = np.sum(w * (Z[i] - center[i]) ** 2)
        if square_sums != NULL:
            square_sums[i] = _squares_sum(m, Z + i * m, weights, c)


cdef double batchnorm_unbias_factor(double total, double total_squares) noexcept nogil:
    """total ** 2 / (total ** 2 - total_squares): m / (m - 1) for m equal weights; 0 for
    too few examples (then the running variance is left as it is)."""
    if total * total > total_squares * (1 + 1e-12):
        return total * total / (total * total - total_squares)
    return 0


cdef void batchnorm_update_running(
        Py_ssize_t n, const double *mean, const double *var, double unbias, double momentum,
        floating *running_mean, floating *running_var) noexcept nogil:
    """running = (1 - momentum) * running + momentum * batch (the variance times unbias,
    not updated if unbias is 0); either running array may be NULL."""
    cdef Py_ssize_t i
    # running_mean = (1 - momentum) * running_mean + momentum * mean
    # running_var = (1 - momentum) * running_var + momentum * unbias * var
    for i in range(n):
        if running_mean != NULL:
            running_mean[i] = <floating> ((1 - momentum) * running_mean[i] + momentum * mean[i])
        if running_var != NULL and unbias > 0:
            running_var[i] = <floating> ((1 - momentum) * running_var[i]
                                         + momentum * unbias * var[i])


cdef void batchnorm_normalize(
        Py_ssize_t n, Py_ssize_t m, const floating *Z, const double *mean,
        const double *invstd, const floating *gamma, const floating *beta,
        floating *Z_norm, floating *Z_tilde) noexcept nogil:
    """Z_norm = (Z - mean) * invstd; Z_tilde = gamma * Z_norm + beta (aliasing as in
    batchnorm_train_forward)."""
    cdef Py_ssize_t i, j
    cdef floating fmu, fs, fg, fb, x
    cdef const floating *z
    cdef floating *xn
    cdef floating *zt
    for i in range(n):
        z, xn, zt = Z + i * m, Z_norm + i * m, Z_tilde + i * m
        fmu, fs, fg, fb = <floating> mean[i], <floating> invstd[i], gamma[i], beta[i]
        # Z_norm[i] = (Z[i] - mean[i]) * invstd[i]; Z_tilde[i] = gamma[i] * Z_norm[i] + beta[i]
        for j in range(m):
            x = (z[j] - fmu) * fs
            xn[j] = x
            zt[j] = fg * x + fb


cdef void batchnorm_gradient_sums(
        Py_ssize_t n, Py_ssize_t m, const floating *dZ_tilde, const floating *Z_norm,
        double *sum_d, double *sum_dx) noexcept nogil:
    """sum_d = np.sum(dZ~, 1); sum_dx = np.sum(dZ~ * Z_norm, 1)."""
    cdef Py_ssize_t i
    for i in range(n):
        # sum_d[i] = np.sum(dZ~[i]); sum_dx[i] = np.sum(dZ~[i] * Z_norm[i])
        sum_d[i] = _shifted_sum(m, dZ_tilde + i * m, <floating *> NULL, 0.0)
        sum_dx[i] = _products_sum(m, dZ_tilde + i * m, Z_norm + i * m)


cdef void batchnorm_input_gradient(
        Py_ssize_t n, Py_ssize_t m, const floating *dZ_tilde, const floating *Z_norm,
        const floating *weights, const floating *gamma, const double *invstd,
        const double *mean_d, const double *mean_dx, floating *dZ) noexcept nogil:
    """dZ = gamma * invstd * (dZ~ - w * (mean_d + Z_norm * mean_dx)), mean_d and mean_dx
    the whole batch's sums over sum(w) (or m). dZ may be dZ_tilde."""
    cdef Py_ssize_t i, j
    cdef floating k, md, mdx
    cdef const floating *d
    cdef const floating *x
    cdef floating *dz
    for i in range(n):
        d, x, dz = dZ_tilde + i * m, Z_norm + i * m, dZ + i * m
        k = <floating> (<double> gamma[i] * invstd[i])
        md, mdx = <floating> mean_d[i], <floating> mean_dx[i]
        if weights == NULL:
            # dZ[i] = gamma[i] * invstd[i] * (dZ~[i] - mean_d[i] - Z_norm[i] * mean_dx[i])
            for j in range(m):
                dz[j] = k * (d[j] - md - x[j] * mdx)
        else:
            # dZ[i] = gamma[i] * invstd[i] * (dZ~[i] - w * (mean_d[i] + Z_norm[i] * mean_dx[i]))
            for j in range(m):
                dz[j] = k * (d[j] - weights[j] * (md + x[j] * mdx))


# ---------------------------------------------------------------------------
# Whole-batch kernels, what a one-shard engine calls

cdef bint batchnorm_train_forward(
        Py_ssize_t n, Py_ssize_t m, const floating *Z, const floating *weights,
        const floating *gamma, const floating *beta, double eps, double momentum,
        floating *Z_norm, floating *Z_tilde, floating *invstd, floating *mean, floating *var,
        floating *running_mean, floating *running_var) noexcept nogil:
    """Z_norm = (Z - mu) / sqrt(var + eps); Z_tilde = gamma * Z_norm + beta, batch statistics.

    Writes Z_norm, Z_tilde (n, m), invstd (n,), and mean, var (n,) unless
    NULL; updates running_mean, running_var (n,) unless NULL. Z_norm and
    Z_tilde may each be Z itself, not each other. Return 1 if some row's mean
    or variance is NaN or inf (Z was not finite, or overflowed), else 0; return
    1 and write nothing if the weights sum to <= 0. One row at a time (it
    stays in cache), through the pieces above.
    """
    cdef Py_ssize_t i
    cdef double squares, mu, v, s
    cdef double total = _weight_total(m, weights, &squares)
    cdef double unbias = batchnorm_unbias_factor(total, squares)
    cdef floating stored_var
    cdef const floating *z
    cdef bint bad = 0
    if not total > 0:
        return 1
    for i in range(n):
        z = Z + i * m
        # mu = Z[i, 0] + np.sum(w * (Z[i] - Z[i, 0])) / total   (exact for a constant row)
        mu = z[0] + _shifted_sum(m, z, weights, z[0]) / total
        # v = np.sum(w * (Z[i] - mu) ** 2) / total; s = 1 / np.sqrt(v + eps)
        v = _squares_sum(m, z, weights, mu) / total
        s = 1 / sqrt(v + eps)
        stored_var = <floating> v
        bad = bad or not (mu - mu == 0 and stored_var - stored_var == 0)
        invstd[i] = <floating> s
        if mean != NULL:
            mean[i] = <floating> mu
        if var != NULL:
            var[i] = stored_var
        # Z_norm[i] = (Z[i] - mu) * s; Z_tilde[i] = gamma[i] * Z_norm[i] + beta[i]
        batchnorm_normalize(1, m, z, &mu, &s, gamma + i, beta + i, Z_norm + i * m,
                            Z_tilde + i * m)
        # running[i] = (1 - momentum) * running[i] + momentum * (mu, unbias * v)
        batchnorm_update_running(1, &mu, &v, unbias, momentum,
                                 running_mean + i if running_mean != NULL else NULL,
                                 running_var + i if running_var != NULL else NULL)
    return bad


cdef void batchnorm_inference_forward(
        Py_ssize_t n, Py_ssize_t m, const floating *Z, const floating *gamma,
        const floating *beta, const floating *running_mean, const floating *running_var,
        double eps, floating *Z_tilde) noexcept nogil:
    """Z_tilde = gamma * (Z - running_mean) / sqrt(running_var + eps) + beta.

    Z, Z_tilde (n, m), Z_tilde may be Z; the rest (n,). Each column depends on
    that column of Z only.
    """
    cdef Py_ssize_t i, j
    cdef floating mu, scale, shift
    cdef const floating *z
    cdef floating *zt
    for i in range(n):
        z = Z + i * m
        zt = Z_tilde + i * m
        mu = running_mean[i]
        scale = <floating> (gamma[i] / sqrt(<double> running_var[i] + eps))
        shift = beta[i]
        # Z_tilde[i] = (Z[i] - running_mean[i]) * (gamma[i] / sqrt(running_var[i] + eps)) + beta[i]
        for j in range(m):
            zt[j] = (z[j] - mu) * scale + shift


cdef void batchnorm_fold(
        Py_ssize_t n, const floating *gamma, const floating *beta,
        const floating *running_mean, const floating *running_var, double eps,
        floating *scale, floating *shift) noexcept nogil:
    """scale = gamma / sqrt(running_var + eps); shift = beta - running_mean * scale.

    Inference as a per-unit affine map: Z_tilde = scale * Z + shift, so a
    layer W, batch norm folds into the dense layer scale[:, None] * W, shift.
    """
    cdef Py_ssize_t i
    cdef double s
    # scale = gamma / np.sqrt(running_var + eps); shift = beta - running_mean * scale
    for i in range(n):
        s = gamma[i] / sqrt(<double> running_var[i] + eps)
        scale[i] = <floating> s
        shift[i] = <floating> (beta[i] - running_mean[i] * s)


cdef void batchnorm_backward(
        Py_ssize_t n, Py_ssize_t m, const floating *dZ_tilde, const floating *Z_norm,
        const floating *weights, const floating *gamma, const floating *invstd,
        bint batch_stats, double scale, floating *dZ, floating *dgamma,
        floating *dbeta) noexcept nogil:
    """dbeta = scale * sum(dZ~, 1); dgamma = scale * sum(dZ~ * Z_norm, 1);
    dZ = gamma * invstd * (dZ~ - w * (sum(dZ~, 1) + Z_norm * sum(dZ~ * Z_norm, 1)) / sum(w)).

    Unweighted (w NULL) that is the compact form ``dZ = (gamma * invstd / m) *
    (m dZ~ - sum(dZ~) - Z_norm sum(dZ~ Z_norm))``. Without ``batch_stats``
    (the forward used running statistics, which are constants), ``dZ = gamma
    * invstd * dZ~``. ``scale``: 1 / m (or 1 / sum(w)) for the course's means,
    as its db; 1 for sums. dZ may be dZ_tilde itself; dgamma, dbeta (n,) may
    be NULL. One row at a time, through the pieces above.
    """
    cdef Py_ssize_t i
    cdef double squares, sum_d, sum_dx, mean_d, mean_dx, s
    cdef double total = _weight_total(m, weights, &squares)
    cdef double inv_total = 1 / total if total > 0 and batch_stats else 0
    for i in range(n):
        # sum_d = np.sum(dZ~[i]); sum_dx = np.sum(dZ~[i] * Z_norm[i])
        batchnorm_gradient_sums(1, m, dZ_tilde + i * m, Z_norm + i * m, &sum_d, &sum_dx)
        if dbeta != NULL:
            dbeta[i] = <floating> (scale * sum_d)
        if dgamma != NULL:
            dgamma[i] = <floating> (scale * sum_dx)
        # dZ[i] = gamma[i] * invstd[i] * (dZ~[i] - w * (mean_d + Z_norm[i] * mean_dx))
        # (mean_d = mean_dx = 0 without batch_stats)
        s, mean_d, mean_dx = invstd[i], sum_d * inv_total, sum_dx * inv_total
        batchnorm_input_gradient(1, m, dZ_tilde + i * m, Z_norm + i * m, weights, gamma + i,
                                 &s, &mean_d, &mean_dx, dZ + i * m)


# ---------------------------------------------------------------------------
# Python entry points. Shapes and the few values that could produce NaN
# (eps, momentum, weights) are checked here.

def _check_vector(str name, Py_ssize_t length, Py_ssize_t n):
    if length != n:
        raise ValueError(f"{name}: expected shape {(n,)}, got {(length,)}")


def _check_hyperparameters(double eps, double momentum):
    if not eps > 0 or eps != eps or eps == float("inf"):
        raise ValueError(f"eps: expected a finite number > 0, got {eps}")
    if not 0 <= momentum <= 1:
        raise ValueError(f"momentum: expected a number in [0, 1], got {momentum}")


def _check_weights(const floating[::1] weights, Py_ssize_t m):
    cdef Py_ssize_t j
    cdef double total = 0
    if weights is None:
        return
    _check_vector("weights", weights.shape[0], m)
    for j in range(m):
        if not 0 <= weights[j] < float("inf"):
            raise ValueError(f"weights: expected finite values >= 0, got {weights[j]} "
                             f"at index {j}")
        total += weights[j]
    if not total > 0:
        raise ValueError("weights: expected a positive sum, got all zeros")


def train_forward(const floating[:, ::1] Z not None, const floating[::1] gamma not None,
                  const floating[::1] beta not None, floating[:, ::1] Z_norm not None,
                  floating[:, ::1] Z_tilde not None, floating[::1] invstd not None,
                  floating[::1] mean=None, floating[::1] var=None,
                  floating[::1] running_mean=None,
                  floating[::1] running_var=None, const floating[::1] weights=None,
                  double eps=1e-5, double momentum=0.1):
    """Batch-statistics forward into Z_norm, Z_tilde, invstd (and mean, var,
    the running statistics unless None). Return True if a mean or variance is
    NaN or inf.

    Z, Z_norm, Z_tilde: (n, m) C-contiguous (Z_norm or Z_tilde may be Z, not
    each other); the rest (n,); weights (m,) or None.
    """
    cdef Py_ssize_t n = Z.shape[0], m = Z.shape[1]
    cdef bint bad
    if n == 0 or m == 0:
        raise ValueError(f"Z: expected a non-empty array, got shape {(n, m)}")
    check_shape("Z_norm", Z_norm.shape[0], Z_norm.shape[1], n, m)
    check_shape("Z_tilde", Z_tilde.shape[0], Z_tilde.shape[1], n, m)
    if &Z_norm[0, 0] == &Z_tilde[0, 0]:
        raise ValueError("Z_tilde: expected a buffer apart from Z_norm")
    for name, vector in (("gamma", gamma), ("beta", beta), ("invstd", invstd), ("mean", mean),
                         ("var", var), ("running_mean", running_mean),
                         ("running_var", running_var)):
        if vector is not None:
            _check_vector(name, vector.shape[0], n)
    _check_hyperparameters(eps, momentum)
    _check_weights(weights, m)
    cdef const floating *w = &weights[0] if weights is not None else NULL
    cdef floating *mean_ptr = &mean[0] if mean is not None else NULL
    cdef floating *var_ptr = &var[0] if var is not None else NULL
    cdef floating *rm_ptr = &running_mean[0] if running_mean is not None else NULL
    cdef floating *rv_ptr = &running_var[0] if running_var is not None else NULL
    with nogil:
        bad = batchnorm_train_forward(n, m, &Z[0, 0], w, &gamma[0], &beta[0], eps, momentum,
                                      &Z_norm[0, 0], &Z_tilde[0, 0], &invstd[0], mean_ptr,
                                      var_ptr, rm_ptr, rv_ptr)
    return bad


def inference_forward(const floating[:, ::1] Z not None, const floating[::1] gamma not None,
                      const floating[::1] beta not None, const floating[::1] running_mean not None,
                      const floating[::1] running_var not None, floating[:, ::1] Z_tilde not None,
                      double eps=1e-5):
    """Z_tilde = gamma * (Z - running_mean) / sqrt(running_var + eps) + beta, into Z_tilde.

    Z, Z_tilde: (n, m) C-contiguous (Z_tilde may be Z); the rest (n,), the
    running variance >= 0.
    """
    cdef Py_ssize_t n = Z.shape[0], m = Z.shape[1], i
    if n == 0 or m == 0:
        raise ValueError(f"Z: expected a non-empty array, got shape {(n, m)}")
    check_shape("Z_tilde", Z_tilde.shape[0], Z_tilde.shape[1], n, m)
    for name, vector in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
                         ("running_var", running_var)):
        _check_vector(name, vector.shape[0], n)
    _check_hyperparameters(eps, 0.0)
    for i in range(n):
        if not running_var[i] >= 0:
            raise ValueError(f"running_var: expected values >= 0, got {running_var[i]} "
                             f"at index {i}")
    with nogil:
        batchnorm_inference_forward(n, m, &Z[0, 0], &gamma[0], &beta[0], &running_mean[0],
                                    &running_var[0], eps, &Z_tilde[0, 0])


def fold(const floating[::1] gamma not None, const floating[::1] beta not None,
         const floating[::1] running_mean not None, const floating[::1] running_var not None,
         floating[::1] scale not None, floating[::1] shift not None, double eps=1e-5):
    """scale = gamma / sqrt(running_var + eps); shift = beta - running_mean * scale, in place."""
    cdef Py_ssize_t n = gamma.shape[0], i
    for name, vector in (("beta", beta), ("running_mean", running_mean),
                         ("running_var", running_var), ("scale", scale), ("shift", shift)):
        _check_vector(name, vector.shape[0], n)
    _check_hyperparameters(eps, 0.0)
    for i in range(n):
        if not running_var[i] >= 0:
            raise ValueError(f"running_var: expected values >= 0, got {running_var[i]} "
                             f"at index {i}")
    if n == 0:
        return
    with nogil:
        batchnorm_fold(n, &gamma[0], &beta[0], &running_mean[0], &running_var[0], eps,
                       &scale[0], &shift[0])


def backward(const floating[:, ::1] dZ_tilde not None, const floating[:, ::1] Z_norm not None,
             const floating[::1] gamma not None, const floating[::1] invstd not None,
             floating[:, ::1] dZ not None,
             floating[::1] dgamma=None, floating[::1] dbeta=None,
             const floating[::1] weights=None, bint batch_stats=True, double scale=1.0):
    """dZ, and dgamma = scale * sum(dZ~ Z_norm, 1), dbeta = scale * sum(dZ~, 1)
    unless None, in place.

    dZ_tilde, Z_norm, dZ: (n, m) C-contiguous (dZ may be dZ_tilde); the rest
    (n,); weights (m,) or None, as given to the forward.
    """
    cdef Py_ssize_t n = dZ_tilde.shape[0], m = dZ_tilde.shape[1]
    if n == 0 or m == 0:
        raise ValueError(f"dZ_tilde: expected a non-empty array, got shape {(n, m)}")
    check_shape("Z_norm", Z_norm.shape[0], Z_norm.shape[1], n, m)
    check_shape("dZ", dZ.shape[0], dZ.shape[1], n, m)
    for name, vector in (("gamma", gamma), ("invstd", invstd), ("dgamma", dgamma),
                         ("dbeta", dbeta)):
        if vector is not None:
            _check_vector(name, vector.shape[0], n)
    _check_weights(weights, m)
    cdef const floating *w = &weights[0] if weights is not None else NULL
    cdef floating *dgamma_ptr = &dgamma[0] if dgamma is not None else NULL
    cdef floating *dbeta_ptr = &dbeta[0] if dbeta is not None else NULL
    with nogil:
        batchnorm_backward(n, m, &dZ_tilde[0, 0], &Z_norm[0, 0], w, &gamma[0], &invstd[0],
                           batch_stats, scale, &dZ[0, 0], dgamma_ptr, dbeta_ptr)


# One def per piece, shapes trusted: for tests/test_batch_norm.py, whose
# sharded_train_forward and sharded_backward walk through the protocol.

def _partial_sums(const floating[:, ::1] Z, const floating[::1] weights,
                  const double[::1] center, bint plain):
    cdef double[::1] out = np.empty(Z.shape[0])
    cdef const floating *w = &weights[0] if weights is not None else NULL
    with nogil:
        if plain:
            batchnorm_partial_sums(Z.shape[0], Z.shape[1], &Z[0, 0], w, &center[0], &out[0],
                                   NULL)
        else:
            batchnorm_partial_sums(Z.shape[0], Z.shape[1], &Z[0, 0], w, &center[0], NULL,
                                   &out[0])
    return np.asarray(out)


def _update_running(const double[::1] mean, const double[::1] var, double total,
                    double total_squares, double momentum, floating[::1] running_mean,
                    floating[::1] running_var):
    cdef floating *rm = &running_mean[0] if running_mean is not None else NULL
    cdef floating *rv = &running_var[0] if running_var is not None else NULL
    batchnorm_update_running(mean.shape[0], &mean[0], &var[0],
                             batchnorm_unbias_factor(total, total_squares), momentum, rm, rv)


def _normalize(const floating[:, ::1] Z, const double[::1] mean, const double[::1] invstd,
               const floating[::1] gamma, const floating[::1] beta, floating[:, ::1] Z_norm,
               floating[:, ::1] Z_tilde):
    batchnorm_normalize(Z.shape[0], Z.shape[1], &Z[0, 0], &mean[0], &invstd[0], &gamma[0],
                        &beta[0], &Z_norm[0, 0], &Z_tilde[0, 0])


def _gradient_sums(const floating[:, ::1] dZ_tilde, const floating[:, ::1] Z_norm):
    cdef double[::1] sum_d = np.empty(dZ_tilde.shape[0]), sum_dx = np.empty(dZ_tilde.shape[0])
    batchnorm_gradient_sums(dZ_tilde.shape[0], dZ_tilde.shape[1], &dZ_tilde[0, 0],
                            &Z_norm[0, 0], &sum_d[0], &sum_dx[0])
    return np.asarray(sum_d), np.asarray(sum_dx)


def _input_gradient(const floating[:, ::1] dZ_tilde, const floating[:, ::1] Z_norm,
                    const floating[::1] weights, const floating[::1] gamma,
                    const double[::1] invstd, const double[::1] mean_d,
                    const double[::1] mean_dx, floating[:, ::1] dZ):
    cdef const floating *w = &weights[0] if weights is not None else NULL
    batchnorm_input_gradient(dZ_tilde.shape[0], dZ_tilde.shape[1], &dZ_tilde[0, 0],
                             &Z_norm[0, 0], w, &gamma[0], &invstd[0], &mean_d[0],
                             &mean_dx[0], &dZ[0, 0])
