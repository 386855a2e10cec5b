# The rows of a data set as the epoch loop reads them: described once (any row
# stride, float32, float64 or uint8), gathered into a batch in the engine's
# dtype, announced to the kernel ahead of the reader, shuffled.
from libc.stdint cimport int64_t
from dnn_core._blas cimport floating, blas_int
from dnn_core._random cimport Random

# How rows are shuffled each epoch (train's shuffle).
cdef enum:
    NO_SHUFFLE = 0
    SHUFFLE_ROWS = 1
    SHUFFLE_BLOCKS = 2

# Element types of the rows X (converted to the engine's dtype while gathered).
cdef enum:
    KIND_FLOAT32 = 0
    KIND_FLOAT64 = 1
    KIND_UINT8 = 2
    KIND_CSR = 3                   # a scipy.sparse CSR: rows gathered into Rows.sparse


cdef struct Rows:
    # the rows X (m, n0): any row stride, contiguous values within a row
    const char *data
    int kind                       # KIND_FLOAT32, KIND_FLOAT64, KIND_UINT8
    Py_ssize_t stride              # elements from one row to the next
    bint in_place                  # in the engine's dtype, stride fits BLAS: read in place
    void *sparse                   # KIND_CSR: its SparseRows (_sparse_rows), else NULL


cdef struct Data:
    # the rows handed in, checked: X (m, n0), and T (m, n_out) or labels (m,)
    Py_ssize_t m
    Rows X
    char *T                        # NULL with labels
    int64_t *labels                # NULL with T
    char *weights                  # (m,) sample weights, or NULL


cdef struct Order:
    # this epoch's order of the rows (SHUFFLE_ROWS, SHUFFLE_BLOCKS)
    Py_ssize_t *perm               # m indices
    Py_ssize_t *block_order        # ceil(m / block) indices (block shuffle)
    Py_ssize_t block               # rows per block (block shuffle)
    Py_ssize_t window              # blocks per window (block shuffle)


cdef void gather_rows(const Rows *X, Py_ssize_t n_features, const Py_ssize_t *rows,
                      Py_ssize_t start, Py_ssize_t mb, floating *Xb) noexcept nogil

cdef Py_ssize_t read_ahead(const Order *order, const Rows *X, Py_ssize_t n_features,
                           int shuffle, Py_ssize_t m, Py_ssize_t start,
                           Py_ssize_t hinted) noexcept nogil

cdef void shuffle_order(Order *order, Random *rng, int shuffle, Py_ssize_t m) noexcept nogil

cdef double gather_batch(const Rows *X, const floating *T, const int64_t *labels,
                         const floating *W, Py_ssize_t n_features, Py_ssize_t n_out,
                         const Py_ssize_t *rows, Py_ssize_t start, Py_ssize_t mb,
                         floating *Xb, floating *Yb, floating *Wb) noexcept nogil

cdef const floating *chunk_rows(const Rows *X, Py_ssize_t n0, Py_ssize_t start,
                                Py_ssize_t mb, floating *Xb, blas_int *ldx) noexcept nogil

cdef Rows describe_rows(object X, Py_ssize_t n0, object dtype) except *

cdef int check_array(object array, str name, object dtype, int ndim,
                     bint writeable=*) except -1
