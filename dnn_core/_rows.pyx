"""The rows of a data set, read for the epoch loop (see _rows.pxd).

Data come in scikit-learn's layout, ``X`` of shape ``(m, n0)``, each row's
values contiguous, any row stride. Rows in another dtype than the engine's
(float32, float64, uint8), or shuffled, are converted while they are gathered
into the batch workspace, so a memory-mapped set is never copied whole.
Targets come as a float matrix ``(m, n_out)`` or as integer class labels
``(m,)`` (one-hot encoded while the batch is gathered).
"""
from libc.stdint cimport uint8_t
from libc.string cimport memcpy
from posix.mman cimport madvise, MADV_WILLNEED
from posix.unistd cimport sysconf, _SC_PAGESIZE

cimport numpy as cnp
import numpy as np

from dnn_core._blas cimport BLAS_INT_MAX
from dnn_core._random cimport random_permutation, block_permutation
from dnn_core._sparse_rows cimport SparseRows, sparse_gather, sparse_gather_dense

cnp.import_array()

# Bytes of X announced to the kernel ahead of a reader that takes rows in order
# (madvise WILLNEED): a memory-mapped file is then read in large requests, not
# one page fault at a time (measured: ~50 MB/s without, GB/s with).
cdef Py_ssize_t READ_AHEAD_BYTES = 1 << 25
cdef size_t PAGE_SIZE = <size_t> sysconf(_SC_PAGESIZE)


cdef void gather_rows(const Rows *X, Py_ssize_t n_features, const Py_ssize_t *rows,
                      Py_ssize_t start, Py_ssize_t mb, floating *Xb) noexcept nogil:
    """Xb = X[rows].astype(dtype) (mb, n0) C-ordered; rows: indices, or NULL for
    rows start..start+mb. Converts from X's kind, whatever its row stride."""
    cdef Py_ssize_t j, k, row
    cdef floating *out
    cdef const float *f32
    cdef const double *f64
    cdef const uint8_t *u8
    if X.kind == KIND_CSR:
        if (<SparseRows *> X.sparse).dense:
            # Xb = X[rows].toarray()
            sparse_gather_dense(<SparseRows *> X.sparse, rows, start, mb, Xb)
        else:
            # Xb = X[rows] as compressed columns, into X.sparse's buffers (Xb unused)
            sparse_gather(<SparseRows *> X.sparse, rows, start, mb)
        return
    for j in range(mb):
        row = rows[j] if rows != NULL else start + j
        out = Xb + j * n_features
        if X.kind == KIND_FLOAT32:
            f32 = (<const float *> X.data) + row * X.stride
            if floating is float:
                # Xb[j] = X[row]
                memcpy(out, f32, n_features * sizeof(float))
            else:
                # Xb[j] = X[row].astype(np.float64)
                for k in range(n_features):
                    out[k] = f32[k]
        elif X.kind == KIND_FLOAT64:
            f64 = (<const double *> X.data) + row * X.stride
            if floating is double:
                # Xb[j] = X[row]
                memcpy(out, f64, n_features * sizeof(double))
            else:
                # Xb[j] = X[row].astype(np.float32)
                for k in range(n_features):
                    out[k] = <float> f64[k]
        elif X.kind == KIND_UINT8:
            u8 = (<const uint8_t *> X.data) + row * X.stride
            # Xb[j] = X[row].astype(dtype)
            for k in range(n_features):
                out[k] = u8[k]


cdef void hint_rows(const Rows *X, Py_ssize_t n_features, Py_ssize_t low,
                    Py_ssize_t high) noexcept nogil:
    """Tell the kernel that rows low..high of X will be read soon (madvise
    WILLNEED): pages of a memory-mapped file are read ahead in large requests.
    Harmless for X in memory; errors are ignored (it is a hint)."""
    cdef size_t item = 4 if X.kind == KIND_FLOAT32 else (8 if X.kind == KIND_FLOAT64 else 1)
    cdef size_t first, last
    if high <= low:
        return
    first = <size_t> (X.data + low * X.stride * item)
    last = <size_t> (X.data + ((high - 1) * X.stride + n_features) * item)
    first -= first % PAGE_SIZE
    madvise(<void *> first, last - first, MADV_WILLNEED)


cdef Py_ssize_t read_ahead(const Order *order, const Rows *X, Py_ssize_t n_features,
                           int shuffle, Py_ssize_t m, Py_ssize_t start,
                           Py_ssize_t hinted) noexcept nogil:
    """Announce (hint_rows) the rows that the batches after position ``start`` of
    this epoch's order will read, unless announced already (positions below
    ``hinted``); return the new ``hinted``. In order: READ_AHEAD_BYTES ahead.
    Block shuffle: the next window's blocks. Row shuffle: nothing (random)."""
    cdef Py_ssize_t ahead, span, w, b, low, n0 = n_features
    cdef Py_ssize_t n_blocks
    if X.kind == KIND_CSR:
        return hinted              # (a CSR is in memory)
    if shuffle == NO_SHUFFLE:
        ahead = max(1, READ_AHEAD_BYTES // max(1, X.stride * (
            4 if X.kind == KIND_FLOAT32 else (8 if X.kind == KIND_FLOAT64 else 1))))
        if hinted < m and start + ahead > hinted:
            hint_rows(X, n0, max(hinted, start), min(m, start + 2 * ahead))
            hinted = min(m, start + 2 * ahead)
    elif shuffle == SHUFFLE_BLOCKS:
        span = order.block * order.window
        n_blocks = (m + order.block - 1) // order.block
        # (windows start at multiples of span, give or take the short last block)
        while hinted < m and hinted <= start + span:
            w = hinted // span
            for b in range(w * order.window, min((w + 1) * order.window, n_blocks)):
                low = order.block_order[b] * order.block
                hint_rows(X, n0, low, min(m, low + order.block))
            hinted += span
    return hinted


cdef void shuffle_order(Order *order, Random *rng, int shuffle, Py_ssize_t m) noexcept nogil:
    """order.perm = this epoch's order of the m rows (SHUFFLE_ROWS or SHUFFLE_BLOCKS)."""
    if shuffle == SHUFFLE_BLOCKS:
        block_permutation(rng, m, order.block, order.window, order.perm, order.block_order)
    elif shuffle == SHUFFLE_ROWS:
        random_permutation(rng, m, order.perm)


cdef double gather_batch(const Rows *X, const floating *T, const int64_t *labels,
                         const floating *W, Py_ssize_t n_features, Py_ssize_t n_out,
                         const Py_ssize_t *rows, Py_ssize_t start, Py_ssize_t mb,
                         floating *Xb, floating *Yb, floating *Wb) noexcept nogil:
    """Xb = X[rows] (mb, n0) in the engine's dtype unless Xb is NULL; Yb = targets of
    rows as (n_out, mb);
    Wb = W[rows] unless W is NULL. Return the rows' total weight (mb without W).

    rows: indices, or NULL for rows start..start+mb.
    """
    cdef Py_ssize_t i, j, k, row
    cdef double total = mb
    if W != NULL:
        total = 0
        for j in range(mb):
            # Wb = W[rows]; total = Wb.sum()
            Wb[j] = W[rows[j] if rows != NULL else start + j]
            total += Wb[j]
    if Xb != NULL:
        # Xb = X[rows]
        gather_rows(X, n_features, rows, start, mb, Xb)
    for j in range(mb):
        row = rows[j] if rows != NULL else start + j
        if labels != NULL:
            # Yb[:, j] = one_hot(labels[row])
            for k in range(n_out):
                Yb[k * mb + j] = 1 if labels[row] == k else 0
        else:
            # Yb[:, j] = T[row]
            for k in range(n_out):
                Yb[k * mb + j] = T[row * n_out + k]
    return total


cdef const floating *chunk_rows(const Rows *X, Py_ssize_t n0, Py_ssize_t start,
                                Py_ssize_t mb, floating *Xb, blas_int *ldx) noexcept nogil:
    """The rows start..start+mb of X in the engine's dtype: in place if X allows,
    else converted into Xb (the workspace); *ldx = their leading dimension."""
    if X.in_place:
        ldx[0] = <blas_int> X.stride
        return (<const floating *> X.data) + start * X.stride
    # Xb = X[start:start + mb].astype(dtype)
    gather_rows(X, n0, NULL, start, mb, Xb)
    ldx[0] = <blas_int> n0
    return Xb


# ---------------------------------------------------------------------------
# Checks: everything that reaches the loops is shaped and typed here

cdef Rows describe_rows(object X, Py_ssize_t n0, object dtype) except *:
    """Check X, (m >= 1, n0) float32, float64 or uint8, each row's values
    contiguous (unit column stride), any row stride >= a row; describe it
    (read in place if it is in ``dtype``, the engine's)."""
    cdef Rows rows
    cdef Py_ssize_t m, item, row_step
    if not isinstance(X, np.ndarray):
        raise TypeError(f"X: expected a numpy array, got {type(X).__name__}")
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] != n0:
        raise ValueError(f"X: expected shape (m >= 1, {n0}), got {X.shape}")
    kinds = {np.dtype(np.float32): KIND_FLOAT32, np.dtype(np.float64): KIND_FLOAT64,
             np.dtype(np.uint8): KIND_UINT8}
    if X.dtype not in kinds or not X.dtype.isnative:
        raise ValueError(f"X: expected float32, float64 or uint8 in the machine's byte "
                         f"order, got {X.dtype}")
    m = X.shape[0]
    item = X.dtype.itemsize
    row_step = X.strides[0] if m > 1 else n0 * item
    if not X.flags.aligned or (n0 > 1 and X.strides[1] != item):
        raise ValueError(f"X: expected aligned rows of contiguous values (column "
                         f"stride {item} bytes), got strides {X.strides}")
    if row_step % item or row_step < n0 * item:
        raise ValueError(f"X: expected a row stride that is a multiple of {item} bytes "
                         f"and at least one row ({n0 * item} bytes), got strides "
                         f"{X.strides}")
    rows.data = <const char *> cnp.PyArray_DATA(X)
    rows.kind = kinds[X.dtype]
    rows.stride = row_step // item
    rows.in_place = X.dtype == dtype and rows.stride <= BLAS_INT_MAX
    rows.sparse = NULL
    return rows


cdef int check_array(object array, str name, object dtype, int ndim,
                     bint writeable=False) except -1:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(array).__name__}")
    if array.dtype != dtype or array.ndim != ndim or not array.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous {ndim}-D {np.dtype(dtype)} array, "
                         f"got {array.ndim}-D {array.dtype} (C-contiguous: "
                         f"{array.flags.c_contiguous})")
    if writeable and not array.flags.writeable:
        raise ValueError(f"{name}: expected a writeable array")
    return 0
