# Per-unit moments of a batch cut into shards: each shard's (count, mean, M2),
# combined in a fixed order with Chan et al.'s parallel formula (_bn_shards).
from dnn_core._blas cimport floating

cdef void shard_moments(Py_ssize_t n, Py_ssize_t m, const floating *Z,
                        const floating *weights, double count, double *mean,
                        double *m2) noexcept nogil

cdef double combine_moments(Py_ssize_t n, double count, double *mean, double *m2,
                            double count_b, const double *mean_b,
                            const double *m2_b) noexcept nogil
