"""Row-major BLAS shim over ``scipy.linalg.cython_blas``.

The ``cdef`` functions are the core's only way to BLAS (other modules cimport
them); the ``def`` functions of the same names at the bottom expose them to
Python for testing, taking NumPy arrays and writing into caller-provided ones.
"""
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv
from scipy.linalg.cython_blas cimport saxpy, daxpy, sscal, dscal, sdot, ddot


cdef void gemm(BLAS_Trans ta, BLAS_Trans tb, blas_int m, blas_int n, blas_int k,
               floating alpha, const floating *A, blas_int lda,
               const floating *B, blas_int ldb,
               floating beta, floating *C, blas_int ldc) noexcept nogil:
    """C := alpha * op(A) @ op(B) + beta * C, C of shape (m, n), row-major."""
    # Fortran BLAS is column-major: compute C^T = op(B)^T op(A)^T instead.
    cdef char ta_ = ta, tb_ = tb
    if floating is float:
        sgemm(&tb_, &ta_, &n, &m, &k, &alpha, <float *> B, &ldb,
              <float *> A, &lda, &beta, C, &ldc)
    else:
        dgemm(&tb_, &ta_, &n, &m, &k, &alpha, <double *> B, &ldb,
              <double *> A, &lda, &beta, C, &ldc)


cdef void gemv(BLAS_Trans ta, blas_int m, blas_int n, floating alpha,
               const floating *A, blas_int lda, const floating *x, blas_int incx,
               floating beta, floating *y, blas_int incy) noexcept nogil:
    """y := alpha * op(A) @ x + beta * y, A of shape (m, n), row-major."""
    # A row-major is A^T column-major: flip the transpose flag.
    cdef char ta_ = flip(ta)
    if floating is float:
        sgemv(&ta_, &n, &m, &alpha, <float *> A, &lda, <float *> x, &incx,
              &beta, y, &incy)
    else:
        dgemv(&ta_, &n, &m, &alpha, <double *> A, &lda, <double *> x, &incx,
              &beta, y, &incy)


cdef void axpy(blas_int n, floating alpha, const floating *x, blas_int incx,
               floating *y, blas_int incy) noexcept nogil:
    """y := y + alpha * x"""
    if floating is float:
        saxpy(&n, &alpha, <float *> x, &incx, y, &incy)
    else:
        daxpy(&n, &alpha, <double *> x, &incx, y, &incy)


cdef void scal(blas_int n, floating alpha, floating *x, blas_int incx) noexcept nogil:
    """x := alpha * x"""
    if floating is float:
        sscal(&n, &alpha, x, &incx)
    else:
        dscal(&n, &alpha, x, &incx)


cdef floating dot(blas_int n, const floating *x, blas_int incx,
                  const floating *y, blas_int incy) noexcept nogil:
    """x @ y"""
    if floating is float:
        return sdot(&n, <float *> x, &incx, <float *> y, &incy)
    else:
        return ddot(&n, <double *> x, &incx, <double *> y, &incy)


cdef int blas_operand(const floating[:, :] a, BLAS_Trans *trans, blas_int *ld) except -1:
    """Describe a 2-D view to BLAS without copying it; return 1, or 0 if it can't be.

    A view whose rows are contiguous is passed as it is (``NoTrans``, ``ld`` =
    row stride); one whose columns are contiguous (Fortran order, or the
    transpose of a C array) is passed as the transpose of a row-major array
    (``Trans``, ``ld`` = column stride).
    """
    cdef Py_ssize_t rows = a.shape[0], cols = a.shape[1]
    cdef Py_ssize_t item = sizeof(floating)
    cdef Py_ssize_t s0 = a.strides[0], s1 = a.strides[1]
    # The stride of an axis of length 1 is never used, so it may be anything.
    if ((cols == 1 or s1 == item)
            and (rows == 1 or (s0 % item == 0 and s0 >= cols * item))):
        trans[0] = NoTrans
        ld[0] = s0 // item if rows > 1 else cols
    elif ((rows == 1 or s0 == item)
            and (cols == 1 or (s1 % item == 0 and s1 >= rows * item))):
        trans[0] = Trans
        ld[0] = s1 // item if cols > 1 else rows
    else:
        return 0
    if ld[0] > BLAS_INT_MAX or rows > BLAS_INT_MAX or cols > BLAS_INT_MAX:
        raise ValueError(f"array of shape ({rows}, {cols}) is too large for 32-bit BLAS")
    return 1


cdef const floating[:, :] blas_ready(const floating[:, :] a, BLAS_Trans *trans, blas_int *ld):
    """``a`` itself if BLAS can read it in place, else a C-ordered copy; fill trans, ld."""
    if not blas_operand(a, trans, ld):
        a = a.copy()
        blas_operand(a, trans, ld)
    return a


# ---------------------------------------------------------------------------
# Python entry points (for tests and experiments). Each checks shapes, so
# nothing out of bounds reaches BLAS.

cdef int check_shape(str name, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t want_rows,
                     Py_ssize_t want_cols) except -1:
    """Raise ValueError naming ``name`` unless its shape is (want_rows, want_cols)."""
    if rows != want_rows or cols != want_cols:
        raise ValueError(f"{name}: expected shape {(want_rows, want_cols)}, got {(rows, cols)}")
    return 0


def py_gemm(const floating[:, :] A, const floating[:, :] B, floating[:, ::1] C,
            double alpha=1.0, double beta=0.0, bint trans_a=False, bint trans_b=False):
    """C := alpha * op(A) @ op(B) + beta * C, in place; A and B in any layout."""
    cdef BLAS_Trans ta, tb
    cdef blas_int lda, ldb
    A = blas_ready(A, &ta, &lda)
    B = blas_ready(B, &tb, &ldb)
    cdef Py_ssize_t m = A.shape[1] if trans_a else A.shape[0]
    cdef Py_ssize_t k = A.shape[0] if trans_a else A.shape[1]
    cdef Py_ssize_t kb = B.shape[1] if trans_b else B.shape[0]
    cdef Py_ssize_t n = B.shape[0] if trans_b else B.shape[1]
    if k != kb:
        raise ValueError(f"A and B: inner dimensions differ ({k} != {kb})")
    check_shape("C", C.shape[0], C.shape[1], m, n)
    if trans_a:
        ta = flip(ta)
    if trans_b:
        tb = flip(tb)
    if m == 0 or n == 0:
        return
    with nogil:
        gemm(ta, tb, <blas_int> m, <blas_int> n, <blas_int> k, <floating> alpha,
             &A[0, 0], lda, &B[0, 0], ldb, <floating> beta, &C[0, 0], <blas_int> n)


def py_gemv(const floating[:, ::1] A, const floating[::1] x, floating[::1] y,
            double alpha=1.0, double beta=0.0, bint trans_a=False):
    """y := alpha * op(A) @ x + beta * y, in place; A C-contiguous."""
    cdef Py_ssize_t rows = A.shape[1] if trans_a else A.shape[0]
    cdef Py_ssize_t cols = A.shape[0] if trans_a else A.shape[1]
    if x.shape[0] != cols or y.shape[0] != rows:
        raise ValueError(f"x and y: expected lengths {cols} and {rows}, got {x.shape[0]} and {y.shape[0]}")
    if A.shape[0] == 0 or A.shape[1] == 0:
        raise ValueError("A: expected a non-empty matrix")
    with nogil:
        gemv(Trans if trans_a else NoTrans, <blas_int> A.shape[0], <blas_int> A.shape[1],
             <floating> alpha, &A[0, 0], <blas_int> A.shape[1], &x[0], 1,
             <floating> beta, &y[0], 1)


def py_axpy(double alpha, const floating[::1] x, floating[::1] y):
    """y := y + alpha * x, in place."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y: lengths differ ({x.shape[0]} != {y.shape[0]})")
    if x.shape[0] == 0:
        return
    with nogil:
        axpy(<blas_int> x.shape[0], <floating> alpha, &x[0], 1, &y[0], 1)


def py_scal(double alpha, floating[::1] x):
    """x := alpha * x, in place."""
    if x.shape[0] == 0:
        return
    with nogil:
        scal(<blas_int> x.shape[0], <floating> alpha, &x[0], 1)


def py_dot(const floating[::1] x, const floating[::1] y):
    """Return x @ y."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y: lengths differ ({x.shape[0]} != {y.shape[0]})")
    if x.shape[0] == 0:
        return 0.0
    cdef floating result
    with nogil:
        result = dot(<blas_int> x.shape[0], &x[0], 1, &y[0], 1)
    return result
