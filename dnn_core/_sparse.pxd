# Sparse-input first layer: CSR row gather, Z = W @ Xb.T + b, dW = scale * dZ @ Xb.
#
# X is the user's scipy.sparse CSR (n_rows, n_x): indptr, indices (int32 or
# int64, index_t), data (floating). A batch is X[rows] (mb, n_x), gathered
# into its compressed columns ("CSC of the active columns"):
#   col_ids[c]             c-th feature present in the batch, ascending (< n_x)
#   col_ptr[c]:col_ptr[c+1] its entries in row_ids / vals
#   row_ids[p], vals[p]    row within the batch (0..mb-1, ascending per column)
# Duplicate (row, column) entries are kept apart: every kernel is linear in X,
# so they add up as in X.toarray(); unsorted indices are fine.
#
# The kernels trust their arguments: nothing is checked in the hot path. An
# engine checks X once per fit (csr_invalid with rows NULL over all rows, or
# the def check_csr) and then only needs rows within 0..n_rows-1. Buffers,
# once per fit, from nnz_max = the def batch_nnz_bound(indptr, batch_size)
# (the batch_size longest rows; or csr_max_batch_nnz for a fixed order):
#   col_ids  int32       min(n_x, nnz_max)      (n_x < 2**31)
#   col_ptr  Py_ssize_t  min(n_x, nnz_max) + 1
#   row_ids  int32       nnz_max                (mb < 2**31)
#   vals     floating    nnz_max
#   gather work  Py_ssize_t  n_x  (scratch, overwritten per batch)
#   kernel work  double      sparse_work_size(n1, mb)
# Every function is reentrant: threads may share X and W, each with its own
# buffers and outputs.
from libc.stdint cimport int32_t, int64_t
from dnn_core._blas cimport floating

ctypedef fused index_t:
    int32_t
    int64_t

# Loop order of the forward and gradient kernels. BY_ROWS: four rows of W / dW
# at a time, the batch's columns in ascending order (W streamed once: best for
# few entries per column, e.g. text). BY_COLUMNS: per column k, W[:, k] once,
# then one vectorised (AVX2) axpy of length n1 per entry (best from a few
# entries per column on, e.g. MNIST-like). AUTO: BY_COLUMNS when the batch has
# at least 4 entries per active column.
cpdef enum SparseOrder:
    AUTO = 0
    BY_ROWS = 1
    BY_COLUMNS = 2

cdef inline Py_ssize_t sparse_work_size(Py_ssize_t n1, Py_ssize_t mb) noexcept nogil:
    """Doubles of work for sparse_forward and sparse_weight_grad."""
    return (n1 + 4) * (mb + 1)

cdef int csr_invalid(
    const index_t *indptr, const index_t *indices, Py_ssize_t nnz, Py_ssize_t n_rows,
    Py_ssize_t n_x, const Py_ssize_t *rows, Py_ssize_t start, Py_ssize_t mb,
    Py_ssize_t *where) noexcept nogil

cdef Py_ssize_t csr_batch_nnz(const index_t *indptr, const Py_ssize_t *rows,
                              Py_ssize_t start, Py_ssize_t mb) noexcept nogil

cdef Py_ssize_t csr_max_batch_nnz(const index_t *indptr, const Py_ssize_t *order,
                                  Py_ssize_t m, Py_ssize_t batch_size) noexcept nogil

cdef Py_ssize_t csr_gather_csc(
    const index_t *indptr, const index_t *indices, const floating *data, Py_ssize_t n_x,
    const Py_ssize_t *rows, Py_ssize_t start, Py_ssize_t mb,
    int32_t *col_ids, Py_ssize_t *col_ptr, int32_t *row_ids, floating *vals,
    Py_ssize_t *work) noexcept nogil

cdef void csr_gather_dense(
    const index_t *indptr, const index_t *indices, const floating *data, Py_ssize_t n_x,
    const Py_ssize_t *rows, Py_ssize_t start, Py_ssize_t mb, floating *Xb) noexcept nogil

cdef void sparse_forward(
    Py_ssize_t n1, Py_ssize_t mb, Py_ssize_t n_x, Py_ssize_t n_active,
    const int32_t *col_ids, const Py_ssize_t *col_ptr, const int32_t *row_ids,
    const floating *vals, const floating *W, const floating *b, floating *Z,
    double *work, SparseOrder order) noexcept nogil

cdef void sparse_weight_grad(
    Py_ssize_t n1, Py_ssize_t mb, Py_ssize_t n_x, Py_ssize_t n_active,
    const int32_t *col_ids, const Py_ssize_t *col_ptr, const int32_t *row_ids,
    const floating *vals, const floating *dZ, double scale, bint accumulate,
    floating *dW, double *work, SparseOrder order) noexcept nogil
