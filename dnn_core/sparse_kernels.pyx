"""The sparse first layer's kernels (_sparse) for Python, every argument checked:
for tests and benchmarks, and the once-per-fit CSR check of the engine's
sparse input (_sparse_rows).

    check_csr(indptr, indices, ndata, n_cols)      every row safe for the kernels
    batch_nnz, max_batch_nnz, batch_nnz_bound      entries of a batch, buffer sizes
    gather_csc(...), gather_dense(...)             X[rows] as compressed columns / dense
    forward(...)      Z  = W @ Xb.T + b
    weight_grad(...)  dW = scale * dZ @ Xb (+ dW)

The layouts are _sparse.pxd's.
"""
from libc.stdint cimport int32_t, INT32_MAX
import numpy as np

from dnn_core._blas cimport floating
from dnn_core._sparse cimport SparseOrder as order_t
from dnn_core._sparse cimport (index_t, AUTO, BY_ROWS, BY_COLUMNS, sparse_work_size,
                               csr_invalid, csr_batch_nnz, csr_max_batch_nnz, csr_gather_csc,
                               csr_gather_dense, sparse_forward, sparse_weight_grad)
from dnn_core._sparse import SparseOrder


cdef object _nonempty(object a):
    """a, or a zero of its dtype and rank if it is empty: &a[0] is then a valid
    address (never read or written by a kernel, whose counts are then 0)."""
    a = np.asarray(a)
    return a if a.size else np.zeros((1,) * a.ndim, a.dtype)


cdef object _rows_array(object rows, str name="rows", Py_ssize_t n_rows=-1):
    """rows as intp with one spare entry (so that &rows[0] is valid for no
    rows), each checked to lie in 0..n_rows-1 unless n_rows < 0; None stays
    None (a contiguous block)."""
    if rows is None:
        return None
    rows = np.asarray(rows).reshape(-1)
    if rows.dtype.kind not in "iu" and rows.size:  # [] is float64 to NumPy
        raise TypeError(f"{name}: expected integer row indices, got dtype {rows.dtype}")
    if n_rows >= 0 and rows.size and not (0 <= rows.min() and rows.max() < n_rows):
        raise ValueError(f"{name}: expected row indices in 0..{n_rows - 1}, got "
                         f"{rows.min()}..{rows.max()}")
    return np.append(rows.astype(np.intp), 0)


cdef int _check_indptr(Py_ssize_t length) except -1:
    if length < 1:
        raise ValueError("indptr: expected at least one entry (n_rows + 1), got none")
    return 0


cdef int _check_csr(const index_t[::1] indptr, const index_t[::1] indices, Py_ssize_t ndata,
                    Py_ssize_t n_cols, const Py_ssize_t *rows, Py_ssize_t start,
                    Py_ssize_t mb) except -1:
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1, where = 0
    cdef int bad
    _check_indptr(indptr.shape[0])
    if indices.shape[0] != ndata:
        raise ValueError(f"indices and data: expected the same length, got "
                         f"{indices.shape[0]} and {ndata}")
    indices = _nonempty(indices)
    if not 0 <= n_cols <= INT32_MAX:
        raise ValueError(f"n_cols: expected 0..2**31-1, got {n_cols}")
    if mb < 0 or mb > INT32_MAX:
        raise ValueError(f"mb: expected 0..2**31-1 rows, got {mb}")
    if rows == NULL and (start < 0 or start + mb > n_rows):
        raise ValueError(f"start, mb: expected rows within 0..{n_rows}, got {start}..{start + mb}")
    with nogil:
        bad = csr_invalid(&indptr[0], &indices[0], ndata, n_rows, n_cols, rows, start, mb,
                          &where)
    if bad == 1:
        raise ValueError(f"rows: expected row indices in 0..{n_rows - 1}, got {rows[where]} "
                         f"at position {where}")
    if bad == 2:
        raise ValueError(f"indptr: expected non-decreasing offsets within 0..{ndata} (row "
                         f"{rows[where] if rows != NULL else start + where})")
    if bad == 3:
        raise ValueError(f"indices: expected column indices in 0..{n_cols - 1}, got "
                         f"{indices[where]} at entry {where}")
    return 0


def check_csr(const index_t[::1] indptr, const index_t[::1] indices, Py_ssize_t ndata,
              Py_ssize_t n_cols):
    """Raise ValueError unless every row of the CSR is safe for the kernels:
    0 <= indptr[r] <= indptr[r + 1] <= ndata == len(indices), indices < n_cols.
    Once per fit, O(nnz); the batch kernels then need only rows in range."""
    _check_csr(indptr, indices, ndata, n_cols, NULL, 0, indptr.shape[0] - 1)


def batch_nnz(const index_t[::1] indptr, rows=None, Py_ssize_t start=0, Py_ssize_t mb=-1):
    """X[rows].nnz (rows None: X[start:start + mb]); indptr's values are trusted."""
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1
    _check_indptr(indptr.shape[0])
    cdef Py_ssize_t[::1] keep = _rows_array(rows, "rows", n_rows)
    if keep is not None:
        return csr_batch_nnz(&indptr[0], &keep[0], 0, keep.shape[0] - 1)
    if mb < 0:
        mb = n_rows - start
    if not (0 <= start and 0 <= mb and start + mb <= n_rows):
        raise ValueError(f"start, mb: expected rows within 0..{n_rows}, got {start}..{start + mb}")
    return csr_batch_nnz(&indptr[0], NULL, start, mb)


def max_batch_nnz(const index_t[::1] indptr, Py_ssize_t batch_size, order=None):
    """The largest X[order[s:s + batch_size]].nnz (order None: in order)."""
    _check_indptr(indptr.shape[0])
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
    cdef Py_ssize_t[::1] keep = _rows_array(order, "order", indptr.shape[0] - 1)
    if keep is None:
        return csr_max_batch_nnz(&indptr[0], NULL, indptr.shape[0] - 1, batch_size)
    return csr_max_batch_nnz(&indptr[0], &keep[0], keep.shape[0] - 1, batch_size)


def batch_nnz_bound(indptr, Py_ssize_t batch_size):
    """The most entries a batch of batch_size rows can hold in any order: the
    sum of the batch_size longest rows (<= X.nnz). Size the gather's buffers by
    it once per fit (O(n_rows), NumPy)."""
    lengths = np.diff(np.asarray(indptr, dtype=np.int64))
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
    if batch_size >= len(lengths):
        return int(lengths.sum())
    return int(np.partition(lengths, len(lengths) - batch_size)[len(lengths) - batch_size:].sum())


def _need(str name, Py_ssize_t have, Py_ssize_t want):
    if have < want:
        raise ValueError(f"{name}: expected at least {want} entries, got {have}")


def gather_csc(const index_t[::1] indptr, const index_t[::1] indices,
               const floating[::1] data, Py_ssize_t n_cols, rows,
               int32_t[::1] col_ids, Py_ssize_t[::1] col_ptr, int32_t[::1] row_ids,
               floating[::1] vals, Py_ssize_t[::1] work, Py_ssize_t start=0,
               Py_ssize_t mb=-1):
    """Gather X[rows] (rows None: X[start:start + mb]) into compressed columns
    col_ids, col_ptr, row_ids, vals; return n_active. work: n_cols entries."""
    cdef Py_ssize_t[::1] keep
    cdef Py_ssize_t n_active, nnz_b
    if mb < 0:
        mb = indptr.shape[0] - 1 - start
    keep = _rows_array(rows)
    cdef const Py_ssize_t *r = &keep[0] if keep is not None else NULL
    if keep is not None:
        mb = keep.shape[0] - 1
    _check_csr(indptr, indices, data.shape[0], n_cols, r, start, mb)
    nnz_b = csr_batch_nnz(&indptr[0], r, start, mb)
    _need("col_ids", col_ids.shape[0], min(n_cols, nnz_b))
    _need("col_ptr", col_ptr.shape[0], min(n_cols, nnz_b) + 1)
    _need("row_ids", row_ids.shape[0], nnz_b)
    _need("vals", vals.shape[0], nnz_b)
    _need("work", work.shape[0], n_cols)
    indices, data, col_ids, row_ids, vals, work = map(
        _nonempty, (indices, data, col_ids, row_ids, vals, work))
    with nogil:
        n_active = csr_gather_csc(&indptr[0], &indices[0], &data[0], n_cols, r, start, mb,
                                  &col_ids[0], &col_ptr[0], &row_ids[0], &vals[0], &work[0])
    return n_active


def gather_dense(const index_t[::1] indptr, const index_t[::1] indices,
                 const floating[::1] data, rows, floating[:, ::1] Xb, Py_ssize_t start=0):
    """Xb = X[rows].toarray() (rows None: X[start:start + len(Xb)]), Xb (mb, n_cols)."""
    cdef Py_ssize_t[::1] keep
    cdef Py_ssize_t mb = Xb.shape[0], n_x = Xb.shape[1]
    keep = _rows_array(rows)
    cdef const Py_ssize_t *r = &keep[0] if keep is not None else NULL
    if keep is not None:
        mb = keep.shape[0] - 1
    if mb != Xb.shape[0]:
        raise ValueError(f"Xb: expected {mb} rows (one per row index), got {Xb.shape[0]}")
    _check_csr(indptr, indices, data.shape[0], n_x, r, start, mb)
    if mb == 0 or n_x == 0:
        return
    indices, data = map(_nonempty, (indices, data))
    with nogil:
        csr_gather_dense(&indptr[0], &indices[0], &data[0], n_x, r, start, mb, &Xb[0, 0])


cdef int _check_batch(Py_ssize_t n_active, const int32_t[::1] col_ids,
                      const Py_ssize_t[::1] col_ptr, const int32_t[::1] row_ids,
                      Py_ssize_t nvals, Py_ssize_t n_x, Py_ssize_t mb) except -1:
    """Compressed columns safe for the kernels: col_ids strictly ascending in
    0..n_x-1, col_ptr non-decreasing within the entries, row_ids in 0..mb-1."""
    cdef Py_ssize_t c, p
    if n_active < 0:
        raise ValueError(f"n_active: expected a count >= 0, got {n_active}")
    _need("col_ids", col_ids.shape[0], n_active)
    _need("col_ptr", col_ptr.shape[0], n_active + 1)
    if row_ids.shape[0] != nvals:
        raise ValueError(f"row_ids and vals: expected the same length, got "
                         f"{row_ids.shape[0]} and {nvals}")
    if not 0 <= col_ptr[0] <= nvals:
        raise ValueError(f"col_ptr: expected offsets within 0..{nvals}, got {col_ptr[0]}")
    for c in range(n_active):
        if not 0 <= col_ids[c] < n_x or (c and col_ids[c] <= col_ids[c - 1]):
            raise ValueError(f"col_ids: expected strictly ascending column indices in "
                             f"0..{n_x - 1}, got {col_ids[c]} at {c}")
        if not col_ptr[c] <= col_ptr[c + 1] <= nvals:
            raise ValueError(f"col_ptr: expected non-decreasing offsets within 0..{nvals}, "
                             f"got {col_ptr[c + 1]} at {c + 1}")
    for p in range(col_ptr[0], col_ptr[n_active]):
        if not 0 <= row_ids[p] < mb:
            raise ValueError(f"row_ids: expected rows in 0..{mb - 1}, got {row_ids[p]} at {p}")
    return 0


def work_size(Py_ssize_t n1, Py_ssize_t mb):
    """The doubles of work that forward and weight_grad need: (n1 + 4) (mb + 1)."""
    return sparse_work_size(n1, mb)


cdef double[::1] _work(double[::1] work, Py_ssize_t n1, Py_ssize_t mb):
    if work is None:
        return np.empty(sparse_work_size(n1, mb))
    _need("work", work.shape[0], sparse_work_size(n1, mb))
    return work


cdef int _check_order(int order) except -1:
    if order not in (AUTO, BY_ROWS, BY_COLUMNS):
        raise ValueError(f"order: expected AUTO ({AUTO}), BY_ROWS ({BY_ROWS}) or BY_COLUMNS "
                         f"({BY_COLUMNS}), got {order}")
    return 0


def forward(const int32_t[::1] col_ids, const Py_ssize_t[::1] col_ptr,
            const int32_t[::1] row_ids, const floating[::1] vals, Py_ssize_t n_active,
            const floating[:, ::1] W, const floating[::1] b, floating[:, ::1] Z,
            double[::1] work=None, int order=AUTO):
    """Z = W @ Xb.T + b (b None: no bias), Xb the gathered batch; W (n1, n_x),
    Z (n1, mb) C-contiguous; work: sparse_work_size(n1, mb) doubles (allocated
    when None); order: a SparseOrder."""
    cdef Py_ssize_t n1 = W.shape[0], n_x = W.shape[1], mb = Z.shape[1]
    if Z.shape[0] != n1:
        raise ValueError(f"Z: expected {n1} rows (the rows of W), got {Z.shape[0]}")
    if b is not None and b.shape[0] != n1:
        raise ValueError(f"b: expected shape {(n1,)}, got {(b.shape[0],)}")
    work = _work(work, n1, mb)
    _check_order(order)
    _check_batch(n_active, col_ids, col_ptr, row_ids, vals.shape[0], n_x, mb)
    col_ids, row_ids, vals, W, Z = map(_nonempty, (col_ids, row_ids, vals, W, Z))
    if b is not None:
        b = _nonempty(b)
    cdef const floating *b_ptr = &b[0] if b is not None else NULL
    with nogil:
        sparse_forward(n1, mb, n_x, n_active, &col_ids[0], &col_ptr[0], &row_ids[0],
                       &vals[0], &W[0, 0], b_ptr, &Z[0, 0], &work[0], <order_t> order)


def weight_grad(const int32_t[::1] col_ids, const Py_ssize_t[::1] col_ptr,
                const int32_t[::1] row_ids, const floating[::1] vals, Py_ssize_t n_active,
                const floating[:, ::1] dZ, floating[:, ::1] dW, double scale=1.0,
                bint accumulate=False, double[::1] work=None, int order=AUTO):
    """dW = scale * dZ @ Xb (+ dW if accumulate); dZ (n1, mb), dW (n1, n_x)
    C-contiguous; work and order as for forward."""
    cdef Py_ssize_t n1 = dZ.shape[0], mb = dZ.shape[1], n_x = dW.shape[1]
    if dW.shape[0] != n1:
        raise ValueError(f"dW: expected {n1} rows (the rows of dZ), got {dW.shape[0]}")
    work = _work(work, n1, mb)
    _check_order(order)
    _check_batch(n_active, col_ids, col_ptr, row_ids, vals.shape[0], n_x, mb)
    col_ids, row_ids, vals, dZ, dW = map(_nonempty, (col_ids, row_ids, vals, dZ, dW))
    with nogil:
        sparse_weight_grad(n1, mb, n_x, n_active, &col_ids[0], &col_ptr[0], &row_ids[0],
                           &vals[0], &dZ[0, 0], scale, accumulate, &dW[0, 0], &work[0],
                           <order_t> order)
