"""The sparse first-layer kernels (dnn_core.sparse_kernels) against the dense NumPy product.

Tolerances: the kernels sum in double for both dtypes and round once, so a
float64 result is within 1e-12 of NumPy's on the scale S = |W| @ |Xb|.T (the
sum of the magnitudes of the terms), and a float32 result within half an ulp
of the exact value plus that: |Z - Z_exact| <= 2**-24 |Z_exact| + 1e-12 S.
Duplicate (row, column) entries are not canonicalised: they add up, as in
X.toarray().
"""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, strategies as st

from dnn_core import sparse_kernels as S

DTYPES = [np.float32, np.float64]
INDEX_TYPES = [np.int32, np.int64]
ORDERS = list(S.SparseOrder)  # AUTO, BY_ROWS, BY_COLUMNS: every case runs in each


def csr(dense_or_parts, shape=None, dtype=np.float64, itype=np.int32):
    """A CSR matrix with the given index dtype, kept exactly as built (no
    sorting, no summing of duplicates)."""
    X = sp.csr_matrix(dense_or_parts, shape=shape, dtype=dtype)
    X.indptr, X.indices = X.indptr.astype(itype), X.indices.astype(itype)
    return X


def gather(X, rows=None, start=0, mb=-1):
    """S.gather_csc into buffers of exactly the documented minimum sizes."""
    n_x = X.shape[1]
    nnz = S.batch_nnz(X.indptr, rows, start, mb)
    cols = min(n_x, nnz)
    ids, ptr = np.full(cols, -1, np.int32), np.full(cols + 1, -1, np.intp)
    row_ids, vals = np.full(nnz, -1, np.int32), np.full(nnz, np.nan, X.dtype)
    work = np.empty(n_x, np.intp)
    n_active = S.gather_csc(X.indptr, X.indices, X.data, n_x, rows, ids, ptr, row_ids, vals,
                            work, start, mb)
    return ids, ptr, row_ids, vals, n_active


def dense_batch(X, rows, start=0, mb=-1):
    D = X.toarray().astype(np.float64)  # sums duplicates
    return D[rows] if rows is not None else D[start:start + (mb if mb >= 0 else len(D))]


def assert_product(actual, expected, scale, dtype):
    actual = np.asarray(actual, dtype=np.float64)
    bound = 1e-12 * scale + (2.0**-24 * np.abs(expected) if dtype == np.float32 else 0)
    assert actual.shape == expected.shape
    assert np.all(np.abs(actual - expected) <= bound + 1e-300), np.max(np.abs(actual - expected))


def check_batch(X, rows, n1, rng, start=0, mb=-1, bias=True):
    """Forward, gradient and accumulated gradient of one batch against NumPy,
    in each loop order."""
    for order in ORDERS:
        batch = check_order(X, rows, n1, rng, start, mb, bias, order)
    return batch


def check_order(X, rows, n1, rng, start, mb, bias, order):
    dtype = X.dtype.type
    batch = gather(X, rows, start, mb)
    D = dense_batch(X, rows, start, mb)
    m, n_x = D.shape
    W = rng.standard_normal((n1, n_x)).astype(dtype)
    b = rng.standard_normal(n1).astype(dtype) if bias else None
    Z = np.full((n1, m), np.nan, dtype)
    work = np.full(S.work_size(n1, m), np.nan)  # exactly the documented size
    S.forward(*batch, W, b, Z, work, order)
    W64 = W.astype(np.float64)
    expected = W64 @ D.T + (b.astype(np.float64)[:, None] if bias else 0)
    scale = np.abs(W64) @ np.abs(D).T + (np.abs(b.astype(np.float64))[:, None] if bias else 0)
    assert_product(Z, expected, scale, dtype)

    dZ = rng.standard_normal((n1, m)).astype(dtype)
    dW = np.full((n1, n_x), np.nan, dtype)
    s = 1.0 / max(m, 1)
    S.weight_grad(*batch, dZ, dW, s, False, work, order)
    dZ64 = dZ.astype(np.float64)
    grad, gscale = s * dZ64 @ D, s * np.abs(dZ64) @ np.abs(D)
    assert_product(dW, grad, gscale, dtype)

    old = rng.standard_normal((n1, n_x)).astype(dtype)
    dW = old.copy()
    S.weight_grad(*batch, dZ, dW, s, accumulate=True, work=work, order=order)
    assert_product(dW, old.astype(np.float64) + grad, gscale + np.abs(old), dtype)
    return batch


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("itype", INDEX_TYPES)
def test_shuffled_batch_and_block(dtype, itype, rng):
    X = csr(sp.random(60, 45, density=0.15, random_state=3), dtype=dtype, itype=itype)
    for n1 in (1, 3, 4, 9):  # the blocks of four rows and the rows left over
        check_batch(X, rng.permutation(60)[:23], n1, rng)
    check_batch(X, None, 6, rng, start=17, mb=30)
    check_batch(X, None, 5, rng, bias=False)  # the whole matrix, no bias


@pytest.mark.parametrize("itype", INDEX_TYPES)
def test_gather_is_the_batch_columns(itype, rng):
    X = csr(sp.random(40, 30, density=0.2, random_state=5), itype=itype)
    rows = rng.integers(0, 40, 25)  # with repeats
    ids, ptr, row_ids, vals, n_active = gather(X, rows)
    C = X[rows].tocsc()
    C.sort_indices()
    active = np.flatnonzero(np.diff(C.indptr))
    assert n_active == len(active)
    np.testing.assert_array_equal(ids[:n_active], active)
    np.testing.assert_array_equal(ptr[:n_active + 1], np.r_[0, np.cumsum(np.diff(C.indptr)[active])])
    np.testing.assert_array_equal(row_ids, C.indices)
    np.testing.assert_array_equal(vals, C.data)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("itype", INDEX_TYPES)
def test_gather_dense(dtype, itype, rng):
    X = csr(sp.random(30, 20, density=0.3, random_state=7), dtype=dtype, itype=itype)
    rows = rng.permutation(30)[:11]
    Xb = np.full((11, 20), np.nan, dtype)
    S.gather_dense(X.indptr, X.indices, X.data, rows, Xb)
    np.testing.assert_array_equal(Xb, X[rows].toarray())
    Xb = np.full((5, 20), np.nan, dtype)
    S.gather_dense(X.indptr, X.indices, X.data, None, Xb, start=25)
    np.testing.assert_array_equal(Xb, X[25:].toarray())
    E = csr(np.zeros((4, 0)), dtype=dtype, itype=itype)  # no columns, and no rows
    S.gather_dense(E.indptr, E.indices, E.data, [0, 3, 1], np.empty((3, 0), dtype))
    S.gather_dense(X.indptr, X.indices, X.data, [], np.empty((0, 20), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("itype", INDEX_TYPES)
def test_edge_matrices(dtype, itype, rng):
    D = rng.standard_normal((8, 10))
    D[[0, 3, 7]] = 0          # empty rows
    D[:, [0, 4, 5, 9]] = 0    # empty columns (first and last among them)
    X = csr(D, dtype=dtype, itype=itype)
    check_batch(X, np.array([0, 3, 7]), 5, rng)    # only empty rows: Z = b, dW = 0
    check_batch(X, np.array([2]), 6, rng)          # a batch of one row
    check_batch(X, np.array([7, 1, 1, 0, 6]), 7, rng)
    check_batch(csr(np.zeros((6, 4)), dtype=dtype, itype=itype), np.arange(6), 5, rng)


@pytest.mark.parametrize("itype", INDEX_TYPES)
def test_unsorted_indices_and_duplicates(itype, rng):
    # row 0: columns 4, 1, 4 (a duplicate, unsorted); row 1 empty; row 2: 3, 0, 2, 3
    indptr = np.array([0, 3, 3, 7], itype)
    indices = np.array([4, 1, 4, 3, 0, 2, 3], itype)
    data = np.array([1.5, -2.0, 0.25, 3.0, 1.0, -1.0, 0.5])
    X = csr((data, indices, indptr), shape=(3, 5), itype=itype)
    assert not X.has_canonical_format
    np.testing.assert_array_equal(X.toarray()[0], [0, -2.0, 0, 0, 1.75])
    for rows in (np.array([0, 2, 1]), np.array([2, 2, 0])):
        batch = check_batch(X, rows, 5, rng)
        assert batch[4] == (5 if 0 in rows and 2 in rows else 4)
    # the user's matrix is read, never canonicalised in place
    np.testing.assert_array_equal(X.indices, indices)
    np.testing.assert_array_equal(X.data, data)
    assert X.indices.dtype == itype and not X.has_canonical_format


@pytest.mark.parametrize("order", ORDERS)
def test_no_rows(order):
    X = csr(sp.random(5, 6, density=0.5, random_state=1))
    ids, ptr, row_ids, vals, n_active = batch = gather(X, np.array([], np.intp))
    assert n_active == 0 and ptr[0] == 0 and len(row_ids) == 0
    Z = np.empty((3, 0))
    S.forward(*batch, np.ones((3, 6)), None, Z, order=order)
    dW = np.full((3, 6), np.nan)
    S.weight_grad(*batch, np.empty((3, 0)), dW, order=order)
    np.testing.assert_array_equal(dW, 0)


def test_dense_batches_take_the_column_order(rng):
    """A dense batch (AUTO: BY_COLUMNS) of a wide layer, with W's leftover rows."""
    X = csr(rng.standard_normal((40, 13)))
    check_batch(X, rng.permutation(40)[:33], 37, rng)


@given(n_rows=st.integers(1, 25), n_x=st.integers(1, 40), n1=st.integers(1, 10),
       density=st.floats(0, 1), mb=st.integers(1, 30), dtype=st.sampled_from(DTYPES),
       itype=st.sampled_from(INDEX_TYPES), seed=st.integers(0, 2**16))
def test_random_batches(n_rows, n_x, n1, density, mb, dtype, itype, seed):
    rng = np.random.default_rng(seed)
    X = csr(sp.random(n_rows, n_x, density=density, random_state=seed), dtype=dtype,
            itype=itype)
    check_batch(X, rng.integers(0, n_rows, mb), n1, rng)


def test_batch_nnz_and_max(rng):
    X = csr(sp.random(50, 20, density=0.3, random_state=2), itype=np.int64)
    counts = np.diff(X.indptr)
    order = rng.permutation(50)
    assert S.batch_nnz(X.indptr, order[:7]) == counts[order[:7]].sum()
    assert S.batch_nnz(X.indptr, None, 10, 15) == counts[10:25].sum()
    assert S.batch_nnz(X.indptr) == X.nnz
    for bs in (1, 7, 50, 64):
        expected = max(counts[order[s:s + bs]].sum() for s in range(0, 50, bs))
        assert S.max_batch_nnz(X.indptr, bs, order) == expected
        assert S.max_batch_nnz(X.indptr, bs) == max(counts[s:s + bs].sum()
                                                    for s in range(0, 50, bs))
        bound = S.batch_nnz_bound(X.indptr, bs)
        assert bound == np.sort(counts)[::-1][:bs].sum() <= X.nnz
        assert S.max_batch_nnz(X.indptr, bs, order) <= bound
        assert S.max_batch_nnz(X.indptr, bs, np.argsort(-counts, kind="stable")) == bound


def test_bad_input_never_reaches_a_kernel():
    X = csr(sp.random(6, 5, density=0.5, random_state=4))
    ip, ix, d = X.indptr, X.indices, X.data
    nnz = X.nnz
    buffers = (np.empty(5, np.int32), np.empty(6, np.intp), np.empty(nnz, np.int32),
               np.empty(nnz), np.empty(5, np.intp))
    with pytest.raises(ValueError, match="rows"):
        S.gather_csc(ip, ix, d, 5, [0, 6], *buffers)
    with pytest.raises(ValueError, match="rows"):
        S.gather_csc(ip, ix, d, 5, [-1], *buffers)
    with pytest.raises(ValueError, match="start, mb"):
        S.gather_csc(ip, ix, d, 5, None, *buffers, start=3, mb=4)
    with pytest.raises(ValueError, match="indices"):
        S.gather_csc(ip, ix, d, 4, None, *buffers)  # a column index 4 with 4 columns
    bad_ptr = ip.copy()
    bad_ptr[2] = bad_ptr[3] + 1
    with pytest.raises(ValueError, match="indptr"):
        S.gather_csc(bad_ptr, ix, d, 5, None, *buffers)
    with pytest.raises(ValueError, match="indptr"):
        S.check_csr(bad_ptr, ix, nnz, 5)
    with pytest.raises(ValueError, match="indices"):
        S.check_csr(ip, ix, nnz, 3)
    with pytest.raises(ValueError, match="indices and data"):
        S.gather_csc(ip, ix, d[:-1], 5, None, *buffers)
    S.check_csr(ip, ix, nnz, 5)
    names = ["col_ids", "col_ptr", "row_ids", "vals", "work"]
    for i, name in enumerate(names):
        short = list(buffers)
        short[i] = short[i][:max(0, (nnz if i in (2, 3) else 5) - 1)]
        with pytest.raises(ValueError, match=name):
            S.gather_csc(ip, ix, d, 5, None, *short)
    with pytest.raises(ValueError, match="Xb"):
        S.gather_dense(ip, ix, d, [0, 1], np.empty((3, 5)))

    batch = gather(X)
    ids, ptr, row_ids, vals, n_active = batch
    W, Z, dZ = np.ones((2, 5)), np.empty((2, 6)), np.ones((2, 6))
    with pytest.raises(ValueError, match="Z"):
        S.forward(*batch, W, None, np.empty((3, 6)))
    with pytest.raises(ValueError, match="b"):
        S.forward(*batch, W, np.ones(3), Z)
    with pytest.raises(ValueError, match="work"):
        S.forward(*batch, W, None, Z, np.empty(S.work_size(2, 6) - 1))
    with pytest.raises(ValueError, match="work"):
        S.weight_grad(*batch, dZ, np.empty((2, 5)), work=np.empty(3))
    with pytest.raises(ValueError, match="order"):
        S.forward(*batch, W, None, Z, order=3)
    with pytest.raises(ValueError, match="row_ids"):
        S.forward(*batch, W, None, np.empty((2, 5)))  # a batch of 6 rows, Z for 5
    with pytest.raises(ValueError, match="col_ids"):
        S.forward(*batch, np.ones((2, 4)), None, Z)    # W for 4 features
    with pytest.raises(ValueError, match="dW"):
        S.weight_grad(*batch, dZ, np.empty((3, 5)))
    unsorted = ids.copy()
    unsorted[[0, 1]] = unsorted[[1, 0]]
    with pytest.raises(ValueError, match="col_ids"):
        S.weight_grad(unsorted, ptr, row_ids, vals, n_active, dZ, np.empty((2, 5)))
    with pytest.raises(ValueError, match="col_ptr"):
        S.forward(ids, ptr[:n_active], row_ids, vals, n_active, W, None, Z)
    with pytest.raises(ValueError, match="n_active"):
        S.forward(ids, ptr, row_ids, vals, -1, W, None, Z)
    with pytest.raises(ValueError, match="row_ids and vals"):
        S.forward(ids, ptr, row_ids, vals[:-1], n_active, W, None, Z)
    with pytest.raises(TypeError, match="rows"):
        S.batch_nnz(ip, np.array([0.5]))
    with pytest.raises(ValueError, match="start, mb"):
        S.batch_nnz(ip, None, 10)
    with pytest.raises(ValueError, match="order"):
        S.max_batch_nnz(ip, 2, [0, 6])
    with pytest.raises((TypeError, ValueError)):  # data and vals in two dtypes: no such kernel
        S.gather_csc(ip, ix, d.astype(np.float32), 5, None, *buffers)
    with pytest.raises((TypeError, ValueError)):  # indptr and indices in two index dtypes
        S.gather_csc(ip.astype(np.int64), ix, d, 5, None, *buffers)
