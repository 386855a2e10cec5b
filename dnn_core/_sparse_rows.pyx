"""A scipy.sparse CSR ``X`` as the engine's SPARSE_DENSE first layer reads it.

``SparseInput(X, n_x, dtype)`` checks X once (shape, index types, and every
row with ``check_csr``: the kernels trust it afterwards) and keeps its
arrays, read in place: int32 or int64 indices as they are, the values
converted to the engine's dtype only if they are in another. ``reserve``
sizes the buffers a batch is gathered into (``batch_nnz_bound``: the batch's
longest rows), once per call of the engine. The nogil pieces gather a batch
(``csr_gather_csc``) and run the first layer's kernels on it
(``sparse_forward``, ``sparse_weight_grad``), for either index width and dtype.
"""
from libc.stdint cimport int32_t, int64_t

cimport numpy as cnp
import numpy as np

from dnn_core._sparse cimport (AUTO, csr_gather_csc, csr_gather_dense, sparse_forward,
                               sparse_weight_grad, sparse_work_size)
from dnn_core.sparse_kernels import check_csr, batch_nnz_bound

cnp.import_array()

#: density (X.nnz / X.size) from which batches are gathered dense and layer 1
#: runs as DENSE (the GEMM path): bench_sparse.py, MNIST-like 784 x 100, batch
#: 128, one thread, gather + forward + gradient at 20 %: float32 dense 775 us vs
#: sparse 1134 us, float64 dense 1137 us vs sparse 989 us (so float64's bar is
#: set above 20 %). Tests may change it.
DENSE_GATHER_DENSITY = {np.dtype(np.float32): 0.10, np.dtype(np.float64): 0.25}
#: the largest dense batch (bytes) gathered: a whole-set job (compute_gradients)
#: on a big X stays sparse rather than densify it
DENSE_GATHER_MAX_BYTES = 1 << 26


cdef void sparse_gather(SparseRows *S, const Py_ssize_t *rows, Py_ssize_t start,
                        Py_ssize_t mb) noexcept nogil:
    """S's batch = X[rows] (rows NULL: X[start:start + mb]) as compressed columns."""
    # Xb = X[rows].tocsc() (only the columns present)
    if S.wide and S.is_double:
        S.n_active = csr_gather_csc(<const int64_t *> S.indptr, <const int64_t *> S.indices,
                                    <const double *> S.data, S.n_x, rows, start, mb,
                                    S.col_ids, S.col_ptr, S.row_ids, <double *> S.vals,
                                    S.gather_work)
    elif S.wide:
        S.n_active = csr_gather_csc(<const int64_t *> S.indptr, <const int64_t *> S.indices,
                                    <const float *> S.data, S.n_x, rows, start, mb,
                                    S.col_ids, S.col_ptr, S.row_ids, <float *> S.vals,
                                    S.gather_work)
    elif S.is_double:
        S.n_active = csr_gather_csc(<const int32_t *> S.indptr, <const int32_t *> S.indices,
                                    <const double *> S.data, S.n_x, rows, start, mb,
                                    S.col_ids, S.col_ptr, S.row_ids, <double *> S.vals,
                                    S.gather_work)
    else:
        S.n_active = csr_gather_csc(<const int32_t *> S.indptr, <const int32_t *> S.indices,
                                    <const float *> S.data, S.n_x, rows, start, mb,
                                    S.col_ids, S.col_ptr, S.row_ids, <float *> S.vals,
                                    S.gather_work)
    S.mb = mb


cdef void sparse_gather_dense(const SparseRows *S, const Py_ssize_t *rows,
                              Py_ssize_t start, Py_ssize_t mb,
                              floating *Xb) noexcept nogil:
    """Xb = X[rows].toarray() (rows NULL: X[start:start + mb]), Xb (mb, n_x)."""
    # Xb = X[rows].toarray()
    if S.wide:
        csr_gather_dense(<const int64_t *> S.indptr, <const int64_t *> S.indices,
                         <const floating *> S.data, S.n_x, rows, start, mb, Xb)
    else:
        csr_gather_dense(<const int32_t *> S.indptr, <const int32_t *> S.indices,
                         <const floating *> S.data, S.n_x, rows, start, mb, Xb)


cdef void sparse_batch_forward(SparseRows *S, Py_ssize_t n1, const floating *W,
                               const floating *b, floating *Z) noexcept nogil:
    """Z = W @ Xb.T + b (b NULL: no bias), Xb the batch gathered last; Z (n1, mb)."""
    # Z = W @ Xb.T + b
    sparse_forward(n1, S.mb, S.n_x, S.n_active, S.col_ids, S.col_ptr, S.row_ids,
                   <const floating *> S.vals, W, b, Z, S.kernel_work, S.order)


cdef void sparse_batch_weight_grad(SparseRows *S, Py_ssize_t n1, const floating *dZ,
                                   double scale, bint accumulate,
                                   floating *dW) noexcept nogil:
    """dW = scale * dZ @ Xb (+ dW if accumulate), Xb the batch gathered last."""
    # dW = scale * dZ @ Xb (+ dW)
    sparse_weight_grad(n1, S.mb, S.n_x, S.n_active, S.col_ids, S.col_ptr, S.row_ids,
                       <const floating *> S.vals, dZ, scale, accumulate, dW,
                       S.kernel_work, S.order)


cdef class SparseInput:
    """A CSR X (n_rows >= 1, n_x) checked once for the kernels, and its batch buffers.

    Parameters
    ----------
    X : scipy.sparse CSR matrix or array
        Its indptr and indices (int32 or int64) are read in place; its values
        too if they are in ``dtype``, else converted once.
    n_x : int
        The columns X must have (the first layer's inputs).
    dtype : numpy.float32 or numpy.float64
        The engine's.
    """

    def __init__(self, X, Py_ssize_t n_x, dtype):
        dtype = np.dtype(dtype)
        if getattr(X, "format", None) != "csr" or X.ndim != 2:
            raise TypeError(f"X: expected a 2-D scipy.sparse CSR matrix or array, got "
                            f"{type(X).__name__}")
        if X.shape[0] < 1 or X.shape[1] != n_x:
            raise ValueError(f"X: expected shape (m >= 1, {n_x}), got {X.shape}")
        indptr, indices, data = X.indptr, X.indices, X.data
        if indptr.dtype != indices.dtype or indices.dtype not in (np.int32, np.int64):
            indptr, indices = indptr.astype(np.int64), indices.astype(np.int64)
        if data.dtype != dtype:
            data = data.astype(dtype)
        indptr, indices, data = (np.ascontiguousarray(a) for a in (indptr, indices, data))
        if indptr.shape[0] != X.shape[0] + 1:
            raise ValueError(f"X: expected indptr of {X.shape[0] + 1} entries, got "
                             f"{indptr.shape[0]}")
        check_csr(indptr, indices, data.shape[0], n_x)
        self.X = (indptr, indices, data)
        self.shape = (int(X.shape[0]), int(n_x))
        self.dtype = dtype
        self.rows.indptr = cnp.PyArray_DATA(indptr)
        self.rows.indices = cnp.PyArray_DATA(indices)
        self.rows.data = cnp.PyArray_DATA(data)
        self.rows.wide = indices.dtype == np.int64
        self.rows.is_double = dtype == np.float64
        self.rows.n_x = n_x
        self.rows.order = AUTO
        self.rows.dense = False
        self.density = data.shape[0] / (<double> X.shape[0] * max(n_x, 1))
        self.capacity = 0
        self.n1 = 0

    cdef int reserve(self, Py_ssize_t batch, Py_ssize_t n1) except -1:
        """Buffers for batches of up to ``batch`` rows into ``n1`` units."""
        cdef Py_ssize_t nnz_max, n_cols
        if self.capacity >= batch and self.n1 == n1:
            return 0
        indptr, indices, data = self.X
        nnz_max = batch_nnz_bound(indptr, batch)
        n_cols = min(self.rows.n_x, nnz_max)
        # (one spare entry each: &a[0] is then valid for empty batches)
        buffers = (np.zeros(n_cols + 1, np.int32), np.zeros(n_cols + 1, np.intp),
                   np.zeros(nnz_max + 1, np.int32), np.zeros(nnz_max + 1, data.dtype),
                   np.zeros(self.rows.n_x + 1, np.intp),
                   np.zeros(sparse_work_size(n1, batch)))
        self._buffers = buffers
        self.rows.col_ids = <int32_t *> cnp.PyArray_DATA(buffers[0])
        self.rows.col_ptr = <Py_ssize_t *> cnp.PyArray_DATA(buffers[1])
        self.rows.row_ids = <int32_t *> cnp.PyArray_DATA(buffers[2])
        self.rows.vals = cnp.PyArray_DATA(buffers[3])
        self.rows.gather_work = <Py_ssize_t *> cnp.PyArray_DATA(buffers[4])
        self.rows.kernel_work = <double *> cnp.PyArray_DATA(buffers[5])
        self.rows.n_active = self.rows.mb = 0
        self.capacity = batch
        self.n1 = n1
        return 0

    cdef bint choose_dense(self, Py_ssize_t batch) except -1:
        """Whether batches of ``batch`` rows are gathered dense (DENSE_GATHER_DENSITY,
        DENSE_GATHER_MAX_BYTES); sets it for the kernels and returns it."""
        self.rows.dense = (self.density >= DENSE_GATHER_DENSITY[self.dtype]
                           and batch * self.rows.n_x * self.dtype.itemsize
                           <= DENSE_GATHER_MAX_BYTES)
        return self.rows.dense

    cdef SparseInput shard_copy(self):
        """A SparseInput over the same checked X (its arrays shared, only read)
        with batch buffers of its own, not yet reserved: a row shard's, so that
        shards gather their rows at once."""
        cdef SparseInput other = SparseInput.__new__(SparseInput)
        other.X = self.X
        other.shape = self.shape
        other.dtype = self.dtype
        other.density = self.density
        other.rows = self.rows
        other.rows.col_ids = other.rows.row_ids = NULL
        other.rows.col_ptr = other.rows.gather_work = NULL
        other.rows.vals = NULL
        other.rows.kernel_work = NULL
        other.rows.n_active = other.rows.mb = 0
        other.capacity = 0
        other.n1 = 0
        other._buffers = None
        return other

    @property
    def gathers_dense(self):
        """Whether the last call gathered batches dense."""
        return bool(self.rows.dense)

    @property
    def buffer_bytes(self):
        """Bytes of the batch buffers."""
        return 0 if self._buffers is None else sum(b.nbytes for b in self._buffers)
