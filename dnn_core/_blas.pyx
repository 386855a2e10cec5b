"""Row-major BLAS shim over ``scipy.linalg.cython_blas``.

The ``cdef`` functions are the core's only way to BLAS (other modules cimport
them); the ``def`` functions of the same names at the bottom expose them to
Python for testing, taking NumPy arrays and writing into caller-provided ones.
"""
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv
from scipy.linalg.cython_blas cimport saxpy, daxpy, sscal, dscal, sdot, ddot


# ---------------------------------------------------------------------------
# BLAS threads decided per GEMM (issue 12). OpenBLAS's thread count is one
# process-wide number, so one thread at a time may own it: the thread of the
# fit (or prediction) that dnn._threads.BlasThreads let own it. In that thread,
# a GEMM of m*n*k >= dnn_gemm_work multiply-adds runs on dnn_gemm_allowed
# threads, every other GEMM on one; the count is set (through OpenBLAS's own
# openblas_set_num_threads, whose address dnn._threads binds once) only when it
# changes. Every other thread (the engine's shard workers, concurrent fits)
# leaves the count alone: their GEMMs run on what BlasThreads pinned (one); a
# fit joining the owner's sets it to one (share_gemm_threads) until it leaves.
# Fork: OpenBLAS's fork handler shuts its workers down, and a fork while they
# run a GEMM, or while a thread holds OpenBLAS's server lock (it re-creating
# the workers in openblas_set_num_threads after an earlier fork), deadlocked the
# parent or left the child stuck on that lock. So every count change and every
# threaded GEMM of the owner holds dnn_fork_lock; fork_prepare (before fork)
# takes it, sets the count back to one, and holds it through the fork; an owner
# finding it taken waits until the count is one, then runs that GEMM on one
# thread. (dnn_gemm_work's default is dnn._threads.THREADED_GEMM_WORK's.)
cdef extern from *:
    """
    #include <pthread.h>
    #include <sched.h>
    typedef void (*dnn_set_threads_t)(int);
    static dnn_set_threads_t dnn_set_threads = NULL;
    static int dnn_gemm_allowed = 1;        /* threads a big GEMM may use (atomic) */
    static double dnn_gemm_work = 5e8;      /* m*n*k from which a GEMM is threaded */
    static int dnn_gemm_now = 1;            /* the count set while owned (atomic) */
    static long dnn_gemm_threaded = 0;      /* GEMMs run on more than one thread */
    static __thread int dnn_gemm_owner = 0; /* this thread owns the count */
    static pthread_mutex_t dnn_fork_lock = PTHREAD_MUTEX_INITIALIZER;

    static int dnn_now(void) { return __atomic_load_n(&dnn_gemm_now, __ATOMIC_ACQUIRE); }

    /* (dnn_fork_lock held) the count to n */
    static void dnn_count(int n) {
        if (dnn_now() != n) {
            dnn_set_threads(n);
            __atomic_store_n(&dnn_gemm_now, n, __ATOMIC_RELEASE);
        }
    }

    /* Before a GEMM of `work` multiply-adds: set the count it runs on (owner
       only); return 1 if the GEMM holds the fork lock (release: dnn_gemm_end). */
    static int dnn_gemm_begin(double work) {
        int want;
        if (!dnn_gemm_owner) return 0;
        want = work >= dnn_gemm_work ? __atomic_load_n(&dnn_gemm_allowed, __ATOMIC_RELAXED) : 1;
        if (want == 1 && dnn_now() == 1) return 0;
        while (pthread_mutex_trylock(&dnn_fork_lock) != 0) {
            /* a fork is under way (fork_prepare sets the count to one: then run
               on one thread), or BlasThreads is pinning counts (wait for it) */
            if (dnn_now() == 1) return 0;
            sched_yield();
        }
        dnn_count(want);
        if (want == 1) {
            pthread_mutex_unlock(&dnn_fork_lock);
            return 0;
        }
        dnn_gemm_threaded++;
        return 1;
    }
    static void dnn_gemm_end(int locked) {
        if (locked) pthread_mutex_unlock(&dnn_fork_lock);
    }
    /* (BlasThreads has pinned the count to one) */
    static int dnn_gemm_own(int allowed) {
        if (dnn_set_threads == NULL || allowed < 2) return 0;
        __atomic_store_n(&dnn_gemm_allowed, allowed, __ATOMIC_RELAXED);
        __atomic_store_n(&dnn_gemm_now, 1, __ATOMIC_RELEASE);
        dnn_gemm_owner = 1;
        return 1;
    }
    static void dnn_gemm_share(int allowed) {
        __atomic_store_n(&dnn_gemm_allowed, allowed, __ATOMIC_RELAXED);
        if (allowed == 1 && dnn_set_threads != NULL) {
            /* (after the owner's running threaded GEMM) the count to one now */
            pthread_mutex_lock(&dnn_fork_lock);
            dnn_count(1);
            pthread_mutex_unlock(&dnn_fork_lock);
        }
    }
    static void dnn_gemm_disown(void) {
        if (!dnn_gemm_owner) return;
        pthread_mutex_lock(&dnn_fork_lock);
        dnn_count(1);                       /* (back to what BlasThreads pinned) */
        dnn_gemm_owner = 0;
        __atomic_store_n(&dnn_gemm_allowed, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&dnn_fork_lock);
    }
    static void dnn_fork_prepare(void) {
        pthread_mutex_lock(&dnn_fork_lock);
        if (dnn_set_threads != NULL) dnn_count(1);
    }
    static void dnn_fork_lock_take(void) { pthread_mutex_lock(&dnn_fork_lock); }
    static void dnn_fork_child(void) {
        pthread_mutex_init(&dnn_fork_lock, NULL);
    }
    """
    ctypedef void (*dnn_set_threads_t)(int) noexcept nogil
    dnn_set_threads_t dnn_set_threads
    int dnn_gemm_allowed
    double dnn_gemm_work
    int dnn_gemm_now
    long dnn_gemm_threaded
    int dnn_gemm_owner
    int dnn_gemm_begin(double work) noexcept nogil
    void dnn_gemm_end(int locked) noexcept nogil
    int dnn_gemm_own(int allowed) noexcept nogil
    void dnn_gemm_share(int allowed) noexcept nogil
    void dnn_gemm_disown() noexcept nogil
    void dnn_fork_prepare() noexcept nogil
    void dnn_fork_child() noexcept nogil
    void dnn_fork_lock_take() noexcept nogil
    ctypedef struct pthread_mutex_t:
        pass
    pthread_mutex_t dnn_fork_lock
    int pthread_mutex_unlock(pthread_mutex_t *m) noexcept nogil


def bind_thread_setter(size_t address):
    """Bind OpenBLAS's ``openblas_set_num_threads`` (the one scipy's
    cython_blas calls: its address, from ctypes) for the per-GEMM choice; 0
    unbinds it (every GEMM then runs on the count pinned for the fit)."""
    global dnn_set_threads
    if dnn_gemm_owner:
        raise RuntimeError("this thread owns the BLAS thread count: bind before a fit")
    dnn_set_threads = <dnn_set_threads_t> address


def thread_setter_bound():
    """Whether the per-GEMM choice of threads is available (bound)."""
    return dnn_set_threads != NULL


def gemm_thread_work(work=None):
    """The multiply-adds (m*n*k) from which a GEMM runs on more than one
    thread; set it when ``work`` is given (> 0). Return the value in force."""
    global dnn_gemm_work
    if work is not None:
        if not work > 0:
            raise ValueError(f"work: expected a number > 0, got {work!r}")
        dnn_gemm_work = work
    return dnn_gemm_work


def own_gemm_threads(int allowed):
    """This thread's GEMMs choose their thread count, up to ``allowed``
    (others: one), until :func:`disown_gemm_threads`. Return whether it took
    effect (a bound setter and ``allowed`` >= 2). The caller (BlasThreads)
    makes sure one thread at a time owns the count."""
    return bool(dnn_gemm_own(allowed))


def share_gemm_threads(int allowed=1):
    """Another fit runs alongside the owner's: from the owner's next GEMM on,
    every GEMM runs on one thread (the count is set to one once the owner's
    running threaded GEMM ends); ``allowed``: the owner alone again (its
    GEMMs may use that many again)."""
    cdef int n = allowed if allowed > 1 else 1
    with nogil:
        dnn_gemm_share(n)


def disown_gemm_threads():
    """This thread stops choosing (the count goes back to one)."""
    with nogil:
        dnn_gemm_disown()


def gemm_threads_state():
    """(owner: this thread chooses, allowed, GEMMs run threaded so far)."""
    return bool(dnn_gemm_owner), dnn_gemm_allowed, dnn_gemm_threaded


def fork_prepare():
    """Before fork: wait for a threaded GEMM or a count change to end, set the
    count to one; the owner's GEMMs run on one thread until fork_parent."""
    with nogil:
        dnn_fork_prepare()


def take_fork_lock():
    """Hold off forks (and the owner's count changes) while this thread changes
    BLAS thread counts itself (threadpoolctl: OpenBLAS re-creates its workers
    under its server lock then); release with :func:`fork_parent`."""
    with nogil:
        dnn_fork_lock_take()


def fork_parent():
    """After fork, in the parent (and after take_fork_lock): let go of the lock."""
    pthread_mutex_unlock(&dnn_fork_lock)


def fork_child():
    """After fork, in the child (its only thread): the lock anew."""
    dnn_fork_child()



cdef void gemm(BLAS_Trans ta, BLAS_Trans tb, blas_int m, blas_int n, blas_int k,
               floating alpha, const floating *A, blas_int lda,
               const floating *B, blas_int ldb,
               floating beta, floating *C, blas_int ldc) noexcept nogil:
    """C := alpha * op(A) @ op(B) + beta * C, C of shape (m, n), row-major; on
    more than one OpenBLAS thread when this thread owns the count and m*n*k
    reaches the cut-off (see above)."""
    # Fortran BLAS is column-major: compute C^T = op(B)^T op(A)^T instead.
    cdef char ta_ = ta, tb_ = tb
    cdef int locked = dnn_gemm_begin(<double> m * n * k)
    if floating is float:
        sgemm(&tb_, &ta_, &n, &m, &k, &alpha, <float *> B, &ldb,
              <float *> A, &lda, &beta, C, &ldc)
    else:
        dgemm(&tb_, &ta_, &n, &m, &k, &alpha, <double *> B, &ldb,
              <double *> A, &lda, &beta, C, &ldc)
    dnn_gemm_end(locked)


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
