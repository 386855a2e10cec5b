"""Activations fused with the bias add (forward) and with ``db`` (backward).

All arrays are in the course's layout: ``(units, examples)``, C-order, so a
row holds one unit over the batch and a column one example. ``work`` is a
caller-provided buffer of ``2 m`` doubles, used only by softmax.
"""
import numpy as np

from libc.math cimport exp, log1p, fabs

from dnn_core._blas cimport check_shape
from dnn_core._vecmath cimport (sigmoid_f, sigmoid_d, tanh_f, tanh_d, column_exp_f,
                                column_exp_d)


# Element-wise pieces as inline functions of values already loaded, so that the
# compiler turns each select into a branch-free blend and vectorizes the loop.
cdef inline floating _select(bint condition, floating if_true, floating if_false) noexcept nogil:
    return if_true if condition else if_false


cdef bint is_activation(int code) noexcept nogil:
    """Whether code is a member of Activation (each named: no range of codes)."""
    return (code == IDENTITY or code == SIGMOID or code == RELU or code == TANH
            or code == LEAKY_RELU or code == SOFTMAX or code == SOFTPLUS or code == EXP)


cdef int check_activation(int code, str name) except -1:
    """Raise ValueError naming the argument ``name`` unless code is an Activation."""
    if not is_activation(code):
        raise ValueError(f"{name}: expected a code of an activation "
                         f"({', '.join(f'{a.name}={int(a)}' for a in _ACTIVATIONS)}), "
                         f"got {code}")
    return 0


_ACTIVATIONS = [a for a in Activation if a != ACTIVATION_COUNT]


cdef inline floating _softplus(floating z) noexcept nogil:
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), finite for any finite z."""
    return _select(z > 0, z, 0) + <floating> log1p(exp(-fabs(<double> z)))


cdef inline floating _sigmoid(floating z) noexcept nogil:
    """1 / (1 + exp(-z)) through exp(-|z|), so no exp overflows."""
    cdef double e = exp(-fabs(<double> z))
    return <floating> (1 / (1 + e) if z >= 0 else e / (1 + e))


cdef floating nonfinite_probe(Py_ssize_t m, const floating *x) noexcept nogil:
    """np.sum(x[:m] * 0): 0 if x is finite, NaN otherwise (four running sums)."""
    cdef Py_ssize_t j
    cdef floating p0 = 0, p1 = 0, p2 = 0, p3 = 0
    for j in range(0, m - 3, 4):
        p0 = p0 + x[j] * 0
        p1 = p1 + x[j + 1] * 0
        p2 = p2 + x[j + 2] * 0
        p3 = p3 + x[j + 3] * 0
    for j in range(m - m % 4, m):
        p0 = p0 + x[j] * 0
    return (p0 + p1) + (p2 + p3)


cdef bint bias_activation_forward(
        Activation activation, double slope, Py_ssize_t n, Py_ssize_t m,
        floating *Z, const floating *b, floating *A, double *work) noexcept nogil:
    """Z += b; A = g(Z). Return 1 if some entry of Z is NaN or infinite, else 0.

    Z, A: (n, m); b: (n,) or NULL (then Z is only read); A may be Z itself
    except for softmax.
    """
    cdef Py_ssize_t i, j
    cdef floating bias, value, probe = 0
    cdef floating leak = <floating> slope
    cdef floating *z
    cdef floating *a
    for i in range(n):
        z = Z + i * m
        a = A + i * m
        if b != NULL and activation == RELU:
            bias = b[i]
            # Z[i] = Z[i] + b[i]; A[i] = np.maximum(0, Z[i])   (one pass)
            for j in range(m):
                value = z[j] + bias
                z[j] = value
                a[j] = _select(value > 0, value, 0)
            # probe = np.sum(Z[i] * 0): 0 if Z[i] is finite, else NaN
            probe = probe + nonfinite_probe(m, z)
            continue
        if b != NULL:
            bias = b[i]
            # Z[i] = Z[i] + b[i]
            for j in range(m):
                z[j] = z[j] + bias
        # probe = np.sum(Z[i] * 0): 0 if Z[i] is finite, else NaN
        probe = probe + nonfinite_probe(m, z)
        if activation == SIGMOID:
            # A[i] = 1 / (1 + np.exp(-Z[i]))
            if floating is float:
                sigmoid_f(m, z, a)
            else:
                sigmoid_d(m, z, a)
        elif activation == RELU:
            # A[i] = np.maximum(0, Z[i])
            for j in range(m):
                a[j] = _select(z[j] > 0, z[j], 0)
        elif activation == TANH:
            # A[i] = np.tanh(Z[i])
            if floating is float:
                tanh_f(m, z, a)
            else:
                tanh_d(m, z, a)
        elif activation == LEAKY_RELU:
            # A[i] = np.where(Z[i] > 0, Z[i], slope * Z[i])
            for j in range(m):
                a[j] = _select(z[j] > 0, z[j], leak * z[j])
        elif activation == SOFTPLUS:
            # A[i] = np.maximum(Z[i], 0) + np.log1p(np.exp(-np.abs(Z[i])))
            for j in range(m):
                a[j] = _softplus(z[j])
        elif activation == EXP:
            # A[i] = np.exp(Z[i])
            for j in range(m):
                a[j] = <floating> exp(<double> z[j])
        elif activation == IDENTITY and a != z:
            # A[i] = Z[i]
            for j in range(m):
                a[j] = z[j]
    if activation == SOFTMAX:
        softmax_columns(n, m, Z, A, work)
    return probe != probe


cdef void softmax_columns(Py_ssize_t n, Py_ssize_t m, const floating *Z,
                          floating *A, double *work) noexcept nogil:
    """A = exp(Z - Z.max(0)) / exp(Z - Z.max(0)).sum(0); work: 2 m doubles."""
    cdef Py_ssize_t i, j
    cdef double *colmax = work
    cdef double *colsum = work + m
    cdef floating *a
    # colmax = Z.max(axis=0); A = np.exp(Z - colmax); colsum = A.sum(axis=0)
    if floating is float:
        column_exp_f(n, m, Z, A, work)
    else:
        column_exp_d(n, m, Z, A, work)
    # A /= colsum
    for j in range(m):
        colsum[j] = 1 / colsum[j]
    for i in range(n):
        a = A + i * m
        for j in range(m):
            a[j] = a[j] * <floating> colsum[j]


cdef void activation_backward(
        Activation activation, double slope, Py_ssize_t n, Py_ssize_t m,
        const floating *dA, const floating *Z, const floating *A, floating *dZ,
        floating *db, double scale, double *work) noexcept nogil:
    """dZ = dA * g'(Z), from Z or A = g(Z) as is cheaper; db = scale * dZ.sum(1).

    All (n, m) except db: (n,) or NULL. dZ may be dA itself.
    """
    cdef Py_ssize_t i, j
    cdef floating leak = <floating> slope
    cdef const floating *da
    cdef const floating *z
    cdef const floating *a
    cdef floating *dz
    if activation == SOFTMAX:
        # work = (dA * A).sum(axis=0)
        for j in range(m):
            work[j] = 0
        for i in range(n):
            for j in range(m):
                work[j] += dA[i * m + j] * A[i * m + j]
    for i in range(n):
        da = dA + i * m
        z = Z + i * m
        a = A + i * m
        dz = dZ + i * m
        if activation == SIGMOID:
            # dZ[i] = dA[i] * A[i] * (1 - A[i])
            for j in range(m):
                dz[j] = da[j] * a[j] * (1 - a[j])
        elif activation == RELU:
            # dZ[i] = np.where(Z[i] > 0, dA[i], 0)
            for j in range(m):
                dz[j] = _select(z[j] > 0, da[j], 0)
        elif activation == TANH:
            # dZ[i] = dA[i] * (1 - A[i] ** 2)
            for j in range(m):
                dz[j] = da[j] * (1 - a[j] * a[j])
        elif activation == LEAKY_RELU:
            # dZ[i] = np.where(Z[i] > 0, dA[i], slope * dA[i])
            for j in range(m):
                dz[j] = _select(z[j] > 0, da[j], leak * da[j])
        elif activation == SOFTMAX:
            # dZ[i] = A[i] * (dA[i] - work)
            for j in range(m):
                dz[j] = a[j] * (da[j] - <floating> work[j])
        elif activation == SOFTPLUS:
            # dZ[i] = dA[i] / (1 + np.exp(-Z[i]))   (sigmoid(Z), from Z)
            for j in range(m):
                dz[j] = da[j] * _sigmoid(z[j])
        elif activation == EXP:
            # dZ[i] = dA[i] * A[i]
            for j in range(m):
                dz[j] = da[j] * a[j]
        elif activation == IDENTITY and dz != da:
            # dZ[i] = dA[i]
            for j in range(m):
                dz[j] = da[j]
        if db != NULL:
            row_sums(1, m, dz, db + i, scale)


cdef void row_sums(Py_ssize_t n, Py_ssize_t m, const floating *X, floating *out,
                   double scale) noexcept nogil:
    """out = scale * X.sum(axis=1), X of shape (n, m), summed in double."""
    cdef Py_ssize_t i, j
    cdef double s0, s1, s2, s3
    cdef const floating *x
    for i in range(n):
        x = X + i * m
        s0 = s1 = s2 = s3 = 0
        # four running sums, so the additions need not wait on each other
        for j in range(0, m - 3, 4):
            s0 += x[j]
            s1 += x[j + 1]
            s2 += x[j + 2]
            s3 += x[j + 3]
        for j in range(m - m % 4, m):
            s0 += x[j]
        out[i] = <floating> (scale * ((s0 + s1) + (s2 + s3)))


# ---------------------------------------------------------------------------
# Python entry points. Shapes are checked here; names are mapped in dnn_core.

def forward(const floating[:, ::1] Z, floating[:, ::1] A, int activation,
            double slope=0.01):
    """A = g(Z) into A. Return True if some entry of Z is NaN or infinite.

    Z, A: (n, m) C-contiguous; A may be Z except for softmax. (The bias add
    fused with this kernel is reached through ``dnn_core.dense_forward``.)
    """
    cdef Py_ssize_t n = Z.shape[0], m = Z.shape[1]
    cdef bint bad
    check_shape("A", A.shape[0], A.shape[1], n, m)
    check_activation(activation, "activation")
    if activation == SOFTMAX and n > 0 and m > 0 and &A[0, 0] == &Z[0, 0]:
        raise ValueError("A: softmax needs an output buffer apart from Z")
    if n == 0 or m == 0:
        return False
    cdef double[::1] work = np.empty(2 * m) if activation == SOFTMAX else None
    cdef double *work_ptr = &work[0] if activation == SOFTMAX else NULL
    with nogil:
        # Z is not written: no bias is given
        bad = bias_activation_forward(<Activation> activation, slope, n, m,
                                      <floating *> &Z[0, 0], NULL, &A[0, 0], work_ptr)
    return bad


def backward(const floating[:, ::1] dA, const floating[:, ::1] Z,
             const floating[:, ::1] A, floating[:, ::1] dZ, floating[::1] db,
             int activation, double slope=0.01, double scale=1.0):
    """dZ = dA * g'(Z); db = scale * dZ.sum(1) unless db is None. In place.

    dA, Z, A, dZ: (n, m) C-contiguous (Z is read by relu, leaky_relu and
    softplus, A by the others); db: (n,) or None.
    """
    cdef Py_ssize_t n = dA.shape[0], m = dA.shape[1]
    check_shape("Z", Z.shape[0], Z.shape[1], n, m)
    check_shape("A", A.shape[0], A.shape[1], n, m)
    check_shape("dZ", dZ.shape[0], dZ.shape[1], n, m)
    if db is not None and db.shape[0] != n:
        raise ValueError(f"db: expected shape {(n,)}, got {(db.shape[0],)}")
    check_activation(activation, "activation")
    if n == 0 or m == 0:
        return
    cdef floating *db_ptr = &db[0] if db is not None else NULL
    cdef double[::1] work = np.empty(2 * m) if activation == SOFTMAX else None
    cdef double *work_ptr = &work[0] if activation == SOFTMAX else NULL
    with nogil:
        activation_backward(<Activation> activation, slope, n, m, &dA[0, 0], &Z[0, 0],
                            &A[0, 0], &dZ[0, 0], db_ptr, scale, work_ptr)

