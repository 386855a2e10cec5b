"""Costs, fused with the output activation they belong to.

Each loss pairs with one output activation: binary cross-entropy with sigmoid,
categorical cross-entropy with softmax (over units), mean squared error with
the identity, the half Poisson deviance with exp (the log link). For all four
``dZ = A - Y`` at the output layer. Costs are
averaged over the m examples (columns) and summed over output units; mean
squared error carries the customary 1/2: ``sum((A - Y) ** 2) / (2 m)``.
Sums are taken in double whatever the dtype.
"""
from libc.math cimport exp, log, NAN

import numpy as np

from dnn_core._activations cimport row_sums, IDENTITY, SIGMOID, SOFTMAX, EXP
from dnn_core._vecmath cimport bce_terms_f, bce_terms_d, column_exp_f, column_exp_d


cdef bint is_loss(int code) noexcept nogil:
    """Whether code is a member of Loss (each named: no range of codes)."""
    return (code == BINARY_CROSSENTROPY or code == CATEGORICAL_CROSSENTROPY
            or code == MEAN_SQUARED_ERROR or code == POISSON)


cdef int check_loss(int code, str name) except -1:
    """Raise ValueError naming the argument ``name`` unless code is a Loss."""
    if not is_loss(code):
        raise ValueError(f"{name}: expected a code of a loss "
                         f"({', '.join(f'{l.name}={int(l)}' for l in _LOSSES)}), got {code}")
    return 0


_LOSSES = [l for l in Loss if l != LOSS_COUNT]


cdef Activation output_activation(Loss loss) noexcept nogil:
    """The output activation the loss is paired with (dZ = A - Y)."""
    if loss == BINARY_CROSSENTROPY:
        return SIGMOID
    if loss == CATEGORICAL_CROSSENTROPY:
        return SOFTMAX
    if loss == MEAN_SQUARED_ERROR:
        return IDENTITY
    if loss == POISSON:
        return EXP
    return IDENTITY                 # (no other code reaches a kernel)


cdef inline double _xlogx(double y) noexcept nogil:
    """scipy.special.xlogy(y, y): 0 at y = 0."""
    return y * log(y) if y > 0 else 0


cdef double cost_from_logits(Loss loss, Py_ssize_t n, Py_ssize_t m, const floating *Z,
                             const floating *Y, floating *A, double *work,
                             const floating *weights) noexcept nogil:
    """Cost of the logits Z (n, m) against Y, stable for saturated Z.

    Writes the output activation into A (n, m) unless A is NULL; ``work`` holds
    2 m doubles (the cross-entropies). With ``weights`` (m,), example j's loss
    counts ``weights[j]`` times: the cost is ``sum_j w_j loss_j / m``.
    """
    cdef Py_ssize_t i, j, size = n * m
    cdef double z, y, e, row_total, total = 0
    cdef floating *a
    cdef double *colmax = work
    cdef double *colsum = work + m
    if loss == BINARY_CROSSENTROPY:
        # cost = np.sum(np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))) / m
        # A = 1 / (1 + np.exp(-Z))   (the terms of a row go to work, then are summed)
        for i in range(n):
            a = A + i * m if A != NULL else NULL
            if floating is float:
                bce_terms_f(m, Z + i * m, Y + i * m, work, a)
            else:
                bce_terms_d(m, Z + i * m, Y + i * m, work, a)
            if weights != NULL:
                # terms = terms * w
                for j in range(m):
                    work[j] *= weights[j]
            row_sums(1, m, work, &row_total, 1.0)
            total += row_total
        return total / m
    if loss == MEAN_SQUARED_ERROR:
        # cost = np.sum(w * (Z - Y) ** 2) / (2 * m)
        for i in range(n):
            for j in range(m):
                z = <double> Z[i * m + j] - Y[i * m + j]
                total += z * z * (weights[j] if weights != NULL else 1)
                if A != NULL:
                    A[i * m + j] = Z[i * m + j]
        return total / (2 * m)
    if loss == POISSON:
        # cost = np.sum(w * (xlogy(Y, Y) - Y * Z - Y + np.exp(Z))) / m;  A = np.exp(Z)
        for i in range(n):
            for j in range(m):
                z, y = Z[i * m + j], Y[i * m + j]
                e = exp(z)
                total += (_xlogx(y) - y * z - y + e) * (weights[j] if weights != NULL else 1)
                if A != NULL:
                    A[i * m + j] = <floating> e
        return total / m
    if loss != CATEGORICAL_CROSSENTROPY:
        return NAN                  # (no other code reaches a kernel)
    # colmax = Z.max(axis=0); colsum = np.exp(Z - colmax).sum(axis=0); A = np.exp(Z - colmax)
    if floating is float:
        column_exp_f(n, m, Z, A, work)
    else:
        column_exp_d(n, m, Z, A, work)
    # lse = colmax + np.log(colsum); cost = -np.sum(w * Y * (Z - lse)) / m
    for j in range(m):
        colmax[j] += log(colsum[j])
    for i in range(n):
        for j in range(m):
            if Y[i * m + j] != 0:
                total -= (Y[i * m + j] * (Z[i * m + j] - colmax[j])
                          * (weights[j] if weights != NULL else 1))
    if A != NULL:
        # A = A / colsum
        for j in range(m):
            colsum[j] = 1 / colsum[j]
        for i in range(n):
            for j in range(m):
                A[i * m + j] = A[i * m + j] * <floating> colsum[j]
    return total / m


cdef double cost_from_probs(Loss loss, Py_ssize_t n, Py_ssize_t m, const floating *A,
                            const floating *Y) noexcept nogil:
    """Cost of the output activations A (n, m) against Y, as the course writes it.

    A term whose coefficient is zero is skipped (0 * log 0 = 0), so a
    saturated A with the matching label stays finite.
    """
    cdef Py_ssize_t i, size = n * m
    cdef double a, y, total = 0
    if loss == BINARY_CROSSENTROPY:
        # cost = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m
        for i in range(size):
            a, y = A[i], Y[i]
            if y != 0:
                total += y * log(a)
            if y != 1:
                total += (1 - y) * log(1 - a)
        return -total / m
    if loss == CATEGORICAL_CROSSENTROPY:
        # cost = -np.sum(Y * np.log(A)) / m
        for i in range(size):
            if Y[i] != 0:
                total += Y[i] * log(<double> A[i])
        return -total / m
    if loss == MEAN_SQUARED_ERROR:
        # cost = np.sum((A - Y) ** 2) / (2 * m)
        for i in range(size):
            a = <double> A[i] - Y[i]
            total += a * a
        return total / (2 * m)
    if loss == POISSON:
        # cost = np.sum(xlogy(Y, Y / A) - Y + A) / m
        for i in range(size):
            a, y = A[i], Y[i]
            total += (y * log(y / a) if y != 0 else 0) - y + a
        return total / m
    return NAN                      # (no other code reaches a kernel)


cdef void loss_gradient(Loss loss, Py_ssize_t n, Py_ssize_t m, const floating *A,
                        const floating *Y, floating *dA) noexcept nogil:
    """dA = m * d(cost)/dA, the course's dAL (the 1/m is applied to dW and db)."""
    cdef Py_ssize_t i, size = n * m
    if loss == BINARY_CROSSENTROPY:
        # dA = -(Y / A - (1 - Y) / (1 - A))
        for i in range(size):
            dA[i] = -(Y[i] / A[i] - (1 - Y[i]) / (1 - A[i]))
    elif loss == CATEGORICAL_CROSSENTROPY:
        # dA = -Y / A
        for i in range(size):
            dA[i] = -Y[i] / A[i]
    elif loss == MEAN_SQUARED_ERROR:
        # dA = A - Y
        for i in range(size):
            dA[i] = A[i] - Y[i]
    elif loss == POISSON:
        # dA = 1 - Y / A
        for i in range(size):
            dA[i] = 1 - Y[i] / A[i]


cdef void output_delta(Py_ssize_t n, Py_ssize_t m, const floating *A, const floating *Y,
                       floating *dZ, floating *db, double scale,
                       const floating *weights) noexcept nogil:
    """dZ = A - Y at an output layer whose loss matches its activation, times
    ``weights`` (m,) per column unless NULL; db = scale * dZ.sum(axis=1) unless
    db is NULL."""
    cdef Py_ssize_t i, j, size = n * m
    # dZ = A - Y
    for i in range(size):
        dZ[i] = A[i] - Y[i]
    if weights != NULL:
        # dZ = dZ * w
        for i in range(n):
            for j in range(m):
                dZ[i * m + j] *= weights[j]
    if db != NULL:
        # db = scale * np.sum(dZ, axis=1)
        row_sums(n, m, dZ, db, scale)


# ---------------------------------------------------------------------------
# Python entry points.

cdef int _check(int loss, Py_ssize_t n, Py_ssize_t m, Py_ssize_t yn, Py_ssize_t ym,
                str name) except -1:
    check_loss(loss, "loss")
    if (yn, ym) != (n, m):
        raise ValueError(f"Y: expected shape {(n, m)} like {name}, got {(yn, ym)}")
    if n == 0 or m == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {(n, m)}")
    return 0


def logits_cost(const floating[:, ::1] Z, const floating[:, ::1] Y, int loss,
                floating[:, ::1] A=None):
    """Return the cost of logits Z (n, m) against Y; fill A = g(Z) if given."""
    cdef Py_ssize_t n = Z.shape[0], m = Z.shape[1]
    _check(loss, n, m, Y.shape[0], Y.shape[1], "Z")
    if A is not None and (A.shape[0], A.shape[1]) != (n, m):
        raise ValueError(f"A: expected shape {(n, m)}, got {(A.shape[0], A.shape[1])}")
    cdef floating *a_ptr = &A[0, 0] if A is not None else NULL
    cdef double[::1] work = np.empty(2 * m)
    cdef double cost
    with nogil:
        cost = cost_from_logits(<Loss> loss, n, m, &Z[0, 0], &Y[0, 0], a_ptr, &work[0],
                                NULL)
    return cost


def probs_cost(const floating[:, ::1] A, const floating[:, ::1] Y, int loss):
    """Return the cost of output activations A (n, m) against Y."""
    cdef Py_ssize_t n = A.shape[0], m = A.shape[1]
    _check(loss, n, m, Y.shape[0], Y.shape[1], "AL")
    cdef double cost
    with nogil:
        cost = cost_from_probs(<Loss> loss, n, m, &A[0, 0], &Y[0, 0])
    return cost


def probs_gradient(const floating[:, ::1] A, const floating[:, ::1] Y,
                   floating[:, ::1] dA, int loss):
    """dA = the course's dAL for the loss, in place."""
    cdef Py_ssize_t n = A.shape[0], m = A.shape[1]
    _check(loss, n, m, Y.shape[0], Y.shape[1], "AL")
    if (dA.shape[0], dA.shape[1]) != (n, m):
        raise ValueError(f"dA: expected shape {(n, m)}, got {(dA.shape[0], dA.shape[1])}")
    with nogil:
        loss_gradient(<Loss> loss, n, m, &A[0, 0], &Y[0, 0], &dA[0, 0])


def delta(const floating[:, ::1] A, const floating[:, ::1] Y, floating[:, ::1] dZ,
          floating[::1] db=None, double scale=1.0):
    """dZ = A - Y and db = scale * dZ.sum(1) (unless db is None), in place."""
    cdef Py_ssize_t n = A.shape[0], m = A.shape[1]
    _check(0, n, m, Y.shape[0], Y.shape[1], "AL")
    if (dZ.shape[0], dZ.shape[1]) != (n, m):
        raise ValueError(f"dZ: expected shape {(n, m)}, got {(dZ.shape[0], dZ.shape[1])}")
    if db is not None and db.shape[0] != n:
        raise ValueError(f"db: expected shape {(n,)}, got {(db.shape[0],)}")
    cdef floating *db_ptr = &db[0] if db is not None else NULL
    with nogil:
        output_delta(n, m, &A[0, 0], &Y[0, 0], &dZ[0, 0], db_ptr, scale, NULL)
