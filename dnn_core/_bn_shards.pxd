# Data-parallel steps of batch-normalized networks: the row shards of _shards
# run in phases on the pool, each batch-norm layer's statistics (forward) and
# gradient sums (backward) combined over the shards in shard order between them.
from dnn_core._blas cimport floating
from dnn_core._layout cimport Architecture, Buffers
from dnn_core._shards cimport Shards, Batch

cdef double bn_sharded_gradients(Shards *shards, const Architecture *arch,
                                 const Buffers *buf, floating *P, const Batch *batch,
                                 double l2, double *weight) noexcept nogil
