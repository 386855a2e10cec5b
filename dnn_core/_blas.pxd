# BLAS shim: fused float/double wrappers over scipy.linalg.cython_blas for
# row-major (C-order) arrays. Model: scikit-learn's sklearn/utils/_cython_blas.

ctypedef fused floating:
    float
    double

# The integer type of scipy.linalg.cython_blas (LP64 OpenBLAS), and its largest value.
ctypedef int blas_int

cdef enum:
    BLAS_INT_MAX = 2147483647

# Values are BLAS's own characters, so a member can be passed as `char`.
cpdef enum BLAS_Trans:
    NoTrans = 110  # 'n'
    Trans = 116    # 't'


cdef inline BLAS_Trans flip(BLAS_Trans t) noexcept nogil:
    """The flag of op(A).T: Trans for NoTrans and NoTrans for Trans."""
    return NoTrans if t == Trans else Trans

cdef void gemm(BLAS_Trans ta, BLAS_Trans tb, blas_int m, blas_int n, blas_int k,
               floating alpha, const floating *A, blas_int lda,
               const floating *B, blas_int ldb,
               floating beta, floating *C, blas_int ldc) noexcept nogil

cdef void gemv(BLAS_Trans ta, blas_int m, blas_int n, floating alpha,
               const floating *A, blas_int lda, const floating *x, blas_int incx,
               floating beta, floating *y, blas_int incy) noexcept nogil

cdef void axpy(blas_int n, floating alpha, const floating *x, blas_int incx,
               floating *y, blas_int incy) noexcept nogil

cdef void scal(blas_int n, floating alpha, floating *x, blas_int incx) noexcept nogil

cdef floating dot(blas_int n, const floating *x, blas_int incx,
                  const floating *y, blas_int incy) noexcept nogil

cdef int blas_operand(const floating[:, :] a, BLAS_Trans *trans, blas_int *ld) except -1

cdef const floating[:, :] blas_ready(const floating[:, :] a, BLAS_Trans *trans, blas_int *ld)

cdef int check_shape(str name, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t want_rows,
                     Py_ssize_t want_cols) except -1
