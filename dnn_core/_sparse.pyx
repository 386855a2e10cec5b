"""Sparse-input first layer: CSR mini-batches, forward and weight gradient.

X (n_rows, n_x) is a scipy.sparse CSR matrix, sample-major; its batch
Xb = X[rows] is gathered into compressed columns (see _sparse.pxd), and

    Z  (n1, mb)  = W (n1, n_x) @ Xb.T + b          sparse_forward
    dW (n1, n_x) = scale * dZ (n1, mb) @ Xb (+ dW)  sparse_weight_grad

with W, Z, dZ, dW C-ordered (the course's layout), in one of two loop
orders (SparseOrder, _sparse.pxd): BY_ROWS goes over W (or dW) four rows at
a time and, in each block, over the batch's columns in ascending feature
order, so W and dW are read or written in one forward sweep (best when a
column has few entries: text); BY_COLUMNS gathers W[:, k] once per column
and adds it, scaled, into Z.T's row of each entry by a vectorised axpy (best
from ~4 entries per column on). AUTO picks by entries per active column.
Sums are in double for both dtypes. No canonicalisation: duplicate entries
add up (X.toarray() semantics), unsorted column indices within a row are
fine.
"""
from libc.string cimport memset

cdef enum:
    COLUMNS_MIN = 4  # entries per active column from which BY_COLUMNS is the faster order
    ROWS = 4     # rows of W per pass over the batch (BY_ROWS)
    CHUNK = 512  # entries of a row of dW zeroed at once (not accumulating)

cdef extern from *:
    """
    #if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
    #define DNN_SPARSE_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define DNN_SPARSE_CLONES
    #endif
    /* y[:n] += a * x[:n], built for AVX2 + FMA and for the baseline (as _vecmath.h) */
    DNN_SPARSE_CLONES static void dnn_sparse_axpy(Py_ssize_t n, double a, const double *x,
                                                  double *y)
    {
        for (Py_ssize_t i = 0; i < n; i++)
            y[i] += a * x[i];
    }
    """
    void _axpy "dnn_sparse_axpy" (Py_ssize_t n, double a, const double *x,
                                  double *y) noexcept nogil


# ---------------------------------------------------------------------------
# Kernels

cdef int csr_invalid(
        const index_t *indptr, const index_t *indices, Py_ssize_t nnz, Py_ssize_t n_rows,
        Py_ssize_t n_x, const Py_ssize_t *rows, Py_ssize_t start, Py_ssize_t mb,
        Py_ssize_t *where) noexcept nogil:
    """0 if rows (or start..start+mb) of the CSR are safe to read; else 1 (row out
    of range), 2 (indptr out of order or past nnz), 3 (column index out of
    range), with where = the batch position (1, 2) or entry (3)."""
    cdef Py_ssize_t j, row, p
    for j in range(mb):
        row = rows[j] if rows != NULL else start + j
        where[0] = j
        if row < 0 or row >= n_rows:
            return 1
        if not 0 <= indptr[row] <= indptr[row + 1] <= nnz:
            return 2
        for p in range(indptr[row], indptr[row + 1]):
            if not 0 <= indices[p] < n_x:
                where[0] = p
                return 3
    return 0


cdef Py_ssize_t csr_batch_nnz(const index_t *indptr, const Py_ssize_t *rows,
                              Py_ssize_t start, Py_ssize_t mb) noexcept nogil:
    """X[rows].nnz, rows: mb indices, or NULL for rows start..start+mb."""
    cdef Py_ssize_t j, row, nnz = 0
    if rows == NULL:
        # X.indptr[start + mb] - X.indptr[start]
        return indptr[start + mb] - indptr[start]
    for j in range(mb):
        # np.diff(X.indptr)[rows].sum()
        row = rows[j]
        nnz += indptr[row + 1] - indptr[row]
    return nnz


cdef Py_ssize_t csr_max_batch_nnz(const index_t *indptr, const Py_ssize_t *order,
                                  Py_ssize_t m, Py_ssize_t batch_size) noexcept nogil:
    """max(X[order[s:s + batch_size]].nnz for s in range(0, m, batch_size));
    order NULL: rows in order. X.nnz bounds it for every order."""
    cdef Py_ssize_t s = 0, mb, nnz, best = 0
    while s < m:
        mb = min(batch_size, m - s)
        nnz = csr_batch_nnz(indptr, order + s if order != NULL else NULL, s, mb)
        best = max(best, nnz)
        s += mb
    return best


cdef Py_ssize_t csr_gather_csc(
        const index_t *indptr, const index_t *indices, const floating *data, Py_ssize_t n_x,
        const Py_ssize_t *rows, Py_ssize_t start, Py_ssize_t mb,
        int32_t *col_ids, Py_ssize_t *col_ptr, int32_t *row_ids, floating *vals,
        Py_ssize_t *work) noexcept nogil:
    """Xb = X[rows] as compressed columns; return n_active (the number of columns).

    Sizes: col_ids min(n_x, nnz_b), col_ptr min(n_x, nnz_b) + 1, row_ids and
    vals nnz_b (csr_batch_nnz), work n_x. O(nnz_b + n_x), a counting sort."""
    cdef Py_ssize_t j, row, p, q, k, count, n_active = 0, total = 0
    # work = np.bincount(Xb.indices, minlength=n_x)
    memset(work, 0, n_x * sizeof(Py_ssize_t))
    for j in range(mb):
        row = rows[j] if rows != NULL else start + j
        for p in range(indptr[row], indptr[row + 1]):
            work[indices[p]] += 1
    # col_ids = np.flatnonzero(work); col_ptr = np.r_[0, np.cumsum(work[col_ids])]
    for k in range(n_x):
        count = work[k]
        if count:
            col_ids[n_active] = <int32_t> k
            col_ptr[n_active] = total
            work[k] = total  # from here on: the next free slot of column k
            total += count
            n_active += 1
    col_ptr[n_active] = total
    # Xc = Xb.tocsc(): row_ids, vals = Xc.indices, Xc.data (rows ascending per column)
    for j in range(mb):
        row = rows[j] if rows != NULL else start + j
        for p in range(indptr[row], indptr[row + 1]):
            k = indices[p]
            q = work[k]
            work[k] = q + 1
            row_ids[q] = <int32_t> j
            vals[q] = data[p]
    return n_active


cdef void csr_gather_dense(
        const index_t *indptr, const index_t *indices, const floating *data, Py_ssize_t n_x,
        const Py_ssize_t *rows, Py_ssize_t start, Py_ssize_t mb, floating *Xb) noexcept nogil:
    """Xb (mb, n_x) C-order = X[rows].toarray() (duplicates summed), for the
    dense GEMMs when the batch is dense enough (Z = W @ Xb.T: Xb is A_prev
    in Fortran order, transpose flag Trans, leading dimension n_x)."""
    cdef Py_ssize_t j, row, p
    cdef floating *out
    memset(Xb, 0, mb * n_x * sizeof(floating))
    for j in range(mb):
        row = rows[j] if rows != NULL else start + j
        out = Xb + j * n_x
        # Xb[j] = X[row].toarray()
        for p in range(indptr[row], indptr[row + 1]):
            out[indices[p]] += data[p]


cdef SparseOrder _order(SparseOrder order, Py_ssize_t n_active,
                        const Py_ssize_t *col_ptr) noexcept nogil:
    if order != AUTO:
        return order
    if n_active and col_ptr[n_active] - col_ptr[0] >= COLUMNS_MIN * n_active:
        return BY_COLUMNS
    return BY_ROWS


cdef void sparse_forward(
        Py_ssize_t n1, Py_ssize_t mb, Py_ssize_t n_x, Py_ssize_t n_active,
        const int32_t *col_ids, const Py_ssize_t *col_ptr, const int32_t *row_ids,
        const floating *vals, const floating *W, const floating *b, floating *Z,
        double *work, SparseOrder order) noexcept nogil:
    """Z = W @ Xb.T + b (b NULL: no bias), Z (n1, mb) C-order, W (n1, n_x)
    C-order; work: sparse_work_size(n1, mb) doubles."""
    if _order(order, n_active, col_ptr) == BY_COLUMNS:
        _forward_columns(n1, mb, n_x, n_active, col_ids, col_ptr, row_ids, vals, W, b, Z,
                         work)
    else:
        _forward_rows(n1, mb, n_x, n_active, col_ids, col_ptr, row_ids, vals, W, b, Z, work)


cdef void _forward_columns(
        Py_ssize_t n1, Py_ssize_t mb, Py_ssize_t n_x, Py_ssize_t n_active,
        const int32_t *col_ids, const Py_ssize_t *col_ptr, const int32_t *row_ids,
        const floating *vals, const floating *W, const floating *b, floating *Z,
        double *work) noexcept nogil:
    """BY_COLUMNS: Z.T[j] += Xb[j, k] * W[:, k] over the entries, column by
    column (W[:, k] gathered once per column); work: n1 (mb + 1) doubles."""
    cdef Py_ssize_t c, p, i, j
    cdef int32_t k
    cdef double bias
    cdef double *ZT = work
    cdef double *w = work + mb * n1
    memset(ZT, 0, mb * n1 * sizeof(double))
    for c in range(n_active):
        k = col_ids[c]
        # w = W[:, k]
        for i in range(n1):
            w[i] = W[i * n_x + k]
        for p in range(col_ptr[c], col_ptr[c + 1]):
            # Z.T[j] += Xb[j, k] * W[:, k]
            _axpy(n1, vals[p], w, ZT + row_ids[p] * n1)
    for i in range(n1):
        # Z[i] = Z.T[:, i] + b[i]
        bias = b[i] if b != NULL else 0.0
        for j in range(mb):
            Z[i * mb + j] = <floating> (ZT[j * n1 + i] + bias)


cdef void _forward_rows(
        Py_ssize_t n1, Py_ssize_t mb, Py_ssize_t n_x, Py_ssize_t n_active,
        const int32_t *col_ids, const Py_ssize_t *col_ptr, const int32_t *row_ids,
        const floating *vals, const floating *W, const floating *b, floating *Z,
        double *work) noexcept nogil:
    """BY_ROWS: four rows of Z at a time, their sums in work (4 mb doubles),
    W's rows read in one forward sweep."""
    cdef Py_ssize_t i, r, rb, c, p, j
    cdef int32_t k
    cdef double v, w0, w1, w2, w3, bias
    cdef double *a0
    cdef double *a1
    cdef double *a2
    cdef double *a3
    cdef const floating *W0
    cdef floating *z
    for i in range(0, n1, 4):  # ROWS
        rb = min(ROWS, n1 - i)
        memset(work, 0, rb * mb * sizeof(double))
        a0, a1, a2, a3 = work, work + mb, work + 2 * mb, work + 3 * mb
        W0 = W + i * n_x
        if rb == ROWS:
            # work[:4] = W[i:i + 4, col_ids] @ Xb[:, col_ids].T
            for c in range(n_active):
                k = col_ids[c]
                w0, w1, w2, w3 = W0[k], W0[n_x + k], W0[2 * n_x + k], W0[3 * n_x + k]
                for p in range(col_ptr[c], col_ptr[c + 1]):
                    j = row_ids[p]
                    v = vals[p]
                    a0[j] += w0 * v
                    a1[j] += w1 * v
                    a2[j] += w2 * v
                    a3[j] += w3 * v
        else:
            for r in range(rb):
                a0 = work + r * mb
                # work[r] = W[i + r, col_ids] @ Xb[:, col_ids].T
                for c in range(n_active):
                    w0 = W0[r * n_x + col_ids[c]]
                    for p in range(col_ptr[c], col_ptr[c + 1]):
                        a0[row_ids[p]] += w0 * vals[p]
        for r in range(rb):
            # Z[i + r] = work[r] + b[i + r]
            bias = b[i + r] if b != NULL else 0.0
            a0 = work + r * mb
            z = Z + (i + r) * mb
            for j in range(mb):
                z[j] = <floating> (a0[j] + bias)


cdef inline Py_ssize_t _zero_to(floating *g, Py_ssize_t n_x, Py_ssize_t rb, Py_ssize_t done,
                                 Py_ssize_t k) noexcept nogil:
    """g[:rb, done:end] = 0, end the end of the chunk that holds column k; return end.
    Zeroing in chunks ahead of the writes: each entry once, the chunk then in L1."""
    cdef Py_ssize_t r, end = min(n_x, (k // CHUNK + 1) * CHUNK)
    for r in range(rb):
        memset(g + r * n_x + done, 0, (end - done) * sizeof(floating))
    return end


cdef void sparse_weight_grad(
        Py_ssize_t n1, Py_ssize_t mb, Py_ssize_t n_x, Py_ssize_t n_active,
        const int32_t *col_ids, const Py_ssize_t *col_ptr, const int32_t *row_ids,
        const floating *vals, const floating *dZ, double scale, bint accumulate,
        floating *dW, double *work, SparseOrder order) noexcept nogil:
    """dW = scale * dZ @ Xb (+ dW if accumulate), dZ (n1, mb) and dW (n1, n_x)
    C-order; every entry of dW is written (zeros off the batch's columns);
    work: sparse_work_size(n1, mb) doubles."""
    if _order(order, n_active, col_ptr) == BY_COLUMNS:
        _grad_columns(n1, mb, n_x, n_active, col_ids, col_ptr, row_ids, vals, dZ, scale,
                      accumulate, dW, work)
    else:
        _grad_rows(n1, mb, n_x, n_active, col_ids, col_ptr, row_ids, vals, dZ, scale,
                   accumulate, dW)


cdef void _grad_columns(
        Py_ssize_t n1, Py_ssize_t mb, Py_ssize_t n_x, Py_ssize_t n_active,
        const int32_t *col_ids, const Py_ssize_t *col_ptr, const int32_t *row_ids,
        const floating *vals, const floating *dZ, double scale, bint accumulate,
        floating *dW, double *work) noexcept nogil:
    """BY_COLUMNS: dW[:, k] = sum of Xb[j, k] * scale * dZ[:, j] over column k's
    entries; work: n1 (mb + 1) doubles."""
    cdef Py_ssize_t c, p, i, j
    cdef int32_t k
    cdef double *dZT = work
    cdef double *s = work + mb * n1
    for i in range(n1):
        # dZT = scale * dZ.T
        for j in range(mb):
            dZT[j * n1 + i] = scale * dZ[i * mb + j]
    if not accumulate:
        # dW[...] = 0
        memset(dW, 0, n1 * n_x * sizeof(floating))
    for c in range(n_active):
        k = col_ids[c]
        memset(s, 0, n1 * sizeof(double))
        for p in range(col_ptr[c], col_ptr[c + 1]):
            # s += Xb[j, k] * dZT[j]
            _axpy(n1, vals[p], dZT + row_ids[p] * n1, s)
        for i in range(n1):
            # dW[:, k] += s
            dW[i * n_x + k] = <floating> (dW[i * n_x + k] + s[i])


cdef void _grad_rows(
        Py_ssize_t n1, Py_ssize_t mb, Py_ssize_t n_x, Py_ssize_t n_active,
        const int32_t *col_ids, const Py_ssize_t *col_ptr, const int32_t *row_ids,
        const floating *vals, const floating *dZ, double scale, bint accumulate,
        floating *dW) noexcept nogil:
    """BY_ROWS: four rows of dW at a time, each entry one sum, written in one
    forward sweep."""
    cdef Py_ssize_t i, r, rb, c, p, j, done
    cdef int32_t k
    cdef double v, s0, s1, s2, s3
    cdef const floating *d0
    cdef floating *g0
    for i in range(0, n1, 4):  # ROWS
        rb = min(ROWS, n1 - i)
        d0 = dZ + i * mb
        g0 = dW + i * n_x
        if rb == ROWS:
            done = 0
            for c in range(n_active):
                k = col_ids[c]
                if not accumulate and k >= done:
                    # dW[i:i + 4, done:end] = 0
                    done = _zero_to(g0, n_x, ROWS, done, k)
                # s = dZ[i:i + 4] @ Xb[:, k]
                s0 = s1 = s2 = s3 = 0
                for p in range(col_ptr[c], col_ptr[c + 1]):
                    j = row_ids[p]
                    v = vals[p]
                    s0 += d0[j] * v
                    s1 += d0[mb + j] * v
                    s2 += d0[2 * mb + j] * v
                    s3 += d0[3 * mb + j] * v
                # dW[i:i + 4, k] = scale * s (+ dW[i:i + 4, k] if accumulating)
                g0[k] = <floating> (scale * s0 + (g0[k] if accumulate else 0.0))
                g0[n_x + k] = <floating> (scale * s1 + (g0[n_x + k] if accumulate else 0.0))
                g0[2 * n_x + k] = <floating> (scale * s2 + (g0[2 * n_x + k] if accumulate else 0.0))
                g0[3 * n_x + k] = <floating> (scale * s3 + (g0[3 * n_x + k] if accumulate else 0.0))
            if not accumulate and done < n_x:
                _zero_to(g0, n_x, ROWS, done, n_x - 1)
        else:
            for r in range(rb):
                done = 0
                for c in range(n_active):
                    k = col_ids[c]
                    if not accumulate and k >= done:
                        done = _zero_to(g0, n_x, 1, done, k)
                    # s = dZ[i + r] @ Xb[:, k]
                    s0 = 0
                    for p in range(col_ptr[c], col_ptr[c + 1]):
                        s0 += d0[row_ids[p]] * <double> vals[p]
                    g0[k] = <floating> (scale * s0 + (g0[k] if accumulate else 0.0))
                if not accumulate and done < n_x:
                    _zero_to(g0, n_x, 1, done, n_x - 1)
                d0 += mb
                g0 += n_x
