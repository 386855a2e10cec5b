"""Per-unit moments of a batch cut into row shards, combined in a fixed order.

Each shard computes, per unit (row of its ``Z`` (n, m), the course's layout),
its count (the sum of its sample weights, or m), mean and ``M2`` (the weighted
sum of squared deviations from its mean), in two passes over its values (as
the one-shard kernel of ``_batchnorm`` does). Two shards' moments are then
combined with Chan, Golub and LeVeque's parallel formula::

    count = count_a + count_b           delta = mean_b - mean_a
    mean = mean_a + delta * count_b / count
    M2 = M2_a + M2_b + delta ** 2 * count_a * count_b / count

which is stable (no difference of large sums, as a one-pass sum and sum of
squares would be) and, taken over the shards in shard order, deterministic.
The batch's variance is ``M2 / count``.
"""
import numpy as np

from dnn_core._batchnorm cimport batchnorm_partial_sums


cdef void shard_moments(Py_ssize_t n, Py_ssize_t m, const floating *Z,
                        const floating *weights, double count, double *mean,
                        double *m2) noexcept nogil:
    """mean = np.sum(w * Z, 1) / count; m2 = np.sum(w * (Z - mean) ** 2, 1).

    Z (n, m); weights (m,) or NULL (1 each); count = sum(w) > 0 (or m); mean,
    m2 (n,). The mean is taken about each row's first value (exact for a
    constant row)."""
    cdef Py_ssize_t i
    # center = Z[:, 0] (into mean); sums = np.sum(w * (Z - center), 1) (into m2)
    for i in range(n):
        mean[i] = Z[i * m]
    batchnorm_partial_sums(n, m, Z, weights, mean, m2, NULL)
    # mean = center + sums / count
    for i in range(n):
        mean[i] = mean[i] + m2[i] / count
    # m2 = np.sum(w * (Z - mean) ** 2, 1)
    batchnorm_partial_sums(n, m, Z, weights, mean, NULL, m2)


cdef double combine_moments(Py_ssize_t n, double count, double *mean, double *m2,
                            double count_b, const double *mean_b,
                            const double *m2_b) noexcept nogil:
    """(count, mean, m2) of a and b together into a's mean, m2 (n,); return the
    count. A side whose count is 0 leaves the other as it is."""
    cdef Py_ssize_t i
    cdef double total = count + count_b, delta
    if count_b <= 0:
        return count
    if count <= 0:
        for i in range(n):
            mean[i] = mean_b[i]
            m2[i] = m2_b[i]
        return count_b
    # delta = mean_b - mean; mean += delta * count_b / total;
    # m2 += m2_b + delta ** 2 * count * count_b / total
    for i in range(n):
        delta = mean_b[i] - mean[i]
        mean[i] = mean[i] + delta * (count_b / total)
        m2[i] = m2[i] + m2_b[i] + delta * delta * (count * (count_b / total))
    return total


def moments(Z, weights=None, cuts=()):
    """The batch's per-row (mean, var) of Z (n, m) float32 or float64, C-ordered,
    from shards of its columns cut at ``cuts`` (increasing, in (0, m)), each
    shard's moments combined in order. For tests.

    weights: (m,) of Z's dtype, >= 0, or None."""
    Z = np.ascontiguousarray(Z)
    if Z.ndim != 2 or Z.dtype not in (np.float32, np.float64) or Z.size == 0:
        raise ValueError(f"Z: expected a non-empty 2-D float32 or float64 array, got "
                         f"{Z.dtype} {Z.shape}")
    n, m = Z.shape
    bounds = [0, *[int(c) for c in cuts], m]
    if any(not a < b for a, b in zip(bounds, bounds[1:])):
        raise ValueError(f"cuts: expected increasing positions in (0, {m}), got {list(cuts)}")
    if weights is not None:
        weights = np.ascontiguousarray(weights, dtype=Z.dtype)
        if weights.shape != (m,) or not (weights >= 0).all():
            raise ValueError(f"weights: expected ({m},) values >= 0, got {weights.shape}")
    mean, m2 = np.zeros(n), np.zeros(n)
    mean_b, m2_b = np.zeros(n), np.zeros(n)
    count = 0.0
    for a, b in zip(bounds, bounds[1:]):
        part = np.ascontiguousarray(Z[:, a:b])
        w = None if weights is None else np.ascontiguousarray(weights[a:b])
        c = float(b - a) if w is None else float(np.sum(w, dtype=np.float64))
        if c > 0:
            _shard(part, w, c, mean_b, m2_b)
        count = combine_moments(n, count, <double *> _ptr(mean), <double *> _ptr(m2), c,
                                <double *> _ptr(mean_b), <double *> _ptr(m2_b))
    return mean, m2 / count


cdef size_t _ptr(object array):
    cdef double[::1] view = array
    return <size_t> &view[0]


def _shard(const floating[:, ::1] Z, const floating[::1] weights, double count,
           double[::1] mean, double[::1] m2):
    shard_moments(Z.shape[0], Z.shape[1], &Z[0, 0],
                  &weights[0] if weights is not None else NULL, count, &mean[0], &m2[0])
