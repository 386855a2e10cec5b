# Data-parallel steps: a batch split into row shards, each run through forward,
# cost and backward on the engine's pool (_pool) with its own workspaces and
# gradient; the shards' gradients summed in a fixed order and the update split
# by parameter ranges. Results depend on the number of shards, never on timing.
from dnn_core._blas cimport floating, blas_int, BLAS_Trans
from libc.stdint cimport int64_t
from dnn_core._layout cimport Architecture, Hyperparameters, Buffers
from dnn_core._rows cimport Rows
from dnn_core._random cimport MaskDraw

cdef struct Shard:
    Architecture arch              # the network's, pointed at this shard's workspaces
    Buffers buf                    # the network's, with this shard's ws and gradient
    Py_ssize_t lo, rows            # the batch's rows [lo, lo + rows)
    double cost                    # the shard's cost summed over its rows (weighted)
    double weight                  # its rows' total weight (rows, unweighted)
    bint bad                       # some Z was not finite
    # batch norm (_bn_shards): where the shard's forward reads its rows, and its
    # per-unit sums: [weight, sum of squared weights, a (widest,), b (widest,)]
    const void *xb
    blas_int ldx
    double *norm


cdef struct Shards:
    int n                          # shards (>= 2 when used)
    int n_threads                  # tasks on the pool (<= n)
    Shard *shard                   # (n,)
    # batch norm (_bn_shards), NULL without: the batch's mean and 1 / sqrt(var + eps)
    # of each batch-norm layer (at its stats_off, as the running statistics), and
    # the shards' sums combined ([weight, squares, a (widest,), b (widest,)])
    double *norm_stats
    double *norm_sums


cdef struct Batch:
    # where a step's rows come from (see sharded_gradients)
    const Rows *X
    const void *T                  # (m, n_out) in the engine's dtype, or NULL
    const int64_t *labels          # (m,) or NULL
    const void *W                  # (m,) sample weights, or NULL
    const Py_ssize_t *rows         # the batch's rows in X, or NULL: consecutive from start
    Py_ssize_t start, mb
    bint in_place                  # X's consecutive rows read where they are
    bint gather                    # gather the rows (False: still there from the last step)
    const MaskDraw *draw           # the step's dropout key (first_row unused), or NULL: none


cdef void cut_batch(Shards *shards, Py_ssize_t mb, bint weighted) noexcept nogil

cdef bint shard_rows(const Batch *b, Shard *s, bint first, floating *xb, floating *yb,
                     Py_ssize_t n0, Py_ssize_t n_out, const floating **Xb,
                     blas_int *ldx) noexcept nogil

cdef double sharded_gradients(Shards *shards, const Architecture *arch, const Buffers *buf,
                              floating *P, const Batch *batch, double l2,
                              double *weight) noexcept nogil

cdef void sharded_update(Shards *shards, const Hyperparameters *hyper, Py_ssize_t size,
                         double rate, long step, double weight, floating *P, floating *G,
                         floating *V, floating *S) noexcept nogil


cdef class ShardSet:
    cdef Shards shards
    cdef readonly Py_ssize_t batch
    cdef readonly bint dropout
    cdef list _workspaces, _grads, _sparse
    cdef object _sparse_source
    cdef object _norm, _norm_stats
    cdef int add_batch_norm(self, const Architecture *arch) except -1
    cdef int use_input(self, object X, Py_ssize_t n1) except -1
    cdef Shards *bind(self, const Architecture *arch, const Buffers *buf) except NULL
