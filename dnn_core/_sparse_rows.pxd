# The rows of a scipy.sparse CSR X as a SPARSE_DENSE first layer reads them:
# X's arrays (read in place), and the buffers its batches are gathered into
# (compressed columns, _sparse.pxd), sized once per call of the engine.
from libc.stdint cimport int32_t
from dnn_core._blas cimport floating
from dnn_core._sparse cimport SparseOrder


cdef struct SparseRows:
    # X (n_rows, n_x), checked once per call (check_csr)
    const void *indptr             # (n_rows + 1,) int32 or int64 (wide)
    const void *indices            # (nnz,) same type as indptr
    const void *data               # (nnz,) in the engine's dtype
    bint wide                      # int64 indices
    bint is_double                 # the engine's dtype is float64
    Py_ssize_t n_x
    # the batch last gathered: X[rows] as compressed columns
    int32_t *col_ids               # min(n_x, nnz_max)
    Py_ssize_t *col_ptr            # min(n_x, nnz_max) + 1
    int32_t *row_ids               # nnz_max
    void *vals                     # nnz_max, the engine's dtype
    Py_ssize_t *gather_work        # n_x
    double *kernel_work            # sparse_work_size(n1, batch)
    Py_ssize_t n_active            # columns present in the batch
    Py_ssize_t mb                  # rows in the batch
    SparseOrder order
    bint dense                     # batches gathered dense (csr_gather_dense) into the
                                   # workspace's Xb for a DENSE layer 1 instead


cdef void sparse_gather(SparseRows *S, const Py_ssize_t *rows, Py_ssize_t start,
                        Py_ssize_t mb) noexcept nogil

cdef void sparse_gather_dense(const SparseRows *S, const Py_ssize_t *rows,
                              Py_ssize_t start, Py_ssize_t mb,
                              floating *Xb) noexcept nogil

cdef void sparse_batch_forward(SparseRows *S, Py_ssize_t n1, const floating *W,
                               const floating *b, floating *Z) noexcept nogil

cdef void sparse_batch_weight_grad(SparseRows *S, Py_ssize_t n1, const floating *dZ,
                                   double scale, bint accumulate,
                                   floating *dW) noexcept nogil


cdef class SparseInput:
    cdef SparseRows rows
    cdef readonly object X          # (indptr, indices, data) as the kernels read them
    cdef readonly tuple shape       # (n_rows, n_x)
    cdef readonly object dtype      # the engine's
    cdef readonly double density    # X.nnz / (n_rows * n_x)
    cdef readonly Py_ssize_t capacity   # rows per batch the buffers hold
    cdef readonly Py_ssize_t n1
    cdef object _buffers
    cdef int reserve(self, Py_ssize_t batch, Py_ssize_t n1) except -1
    cdef bint choose_dense(self, Py_ssize_t batch) except -1
    cdef SparseInput shard_copy(self)
