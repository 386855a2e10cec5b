"""One pass over an array to check it: non-finite count, minimum, maximum."""
from libc.float cimport DBL_MAX
from libc.math cimport fabs
from posix.mman cimport madvise, MADV_WILLNEED
from posix.unistd cimport sysconf, _SC_PAGESIZE

from dnn_core._blas cimport floating
from dnn_core._activations cimport nonfinite_probe


def summary(const floating[:] x):
    """Return ``(count of NaN and inf, min, max)`` of x; min and max skip NaN.

    The public API checks finiteness and label ranges with this instead of
    several NumPy reductions, each with its own temporary.
    """
    cdef Py_ssize_t i, n = x.shape[0], nonfinite = 0
    cdef double value, low = DBL_MAX, high = -DBL_MAX
    with nogil:
        for i in range(n):
            value = x[i]
            # nonfinite = np.count_nonzero(~np.isfinite(x))
            nonfinite += not (fabs(value) <= DBL_MAX)
            # low, high = np.nanmin(x), np.nanmax(x)
            if value < low:
                low = value
            if value > high:
                high = value
    return nonfinite, low, high


def has_nonfinite(const floating[::1] x):
    """Return True if x holds a NaN or an inf."""
    cdef floating probe = 0
    if x.shape[0] == 0:
        return False
    with nogil:
        # probe = np.sum(x * 0): 0 if x is finite, else NaN
        probe = nonfinite_probe(x.shape[0], &x[0])
    return probe != probe


def rows_beyond(const floating[:, :] x, double bound=DBL_MAX):
    """Return True if x holds a NaN, an inf, or a value beyond +-bound.

    x: (m, n), any strides (a memmap or a slice of one), read in place in its
    own dtype; nothing is copied. Rows of contiguous values go fastest.
    """
    cdef Py_ssize_t i, j, m = x.shape[0], n = x.shape[1], outside = 0
    cdef floating probe = 0
    if m == 0 or n == 0:
        return False
    cdef bint rows = n == 1 or x.strides[1] == sizeof(floating)
    cdef size_t first = <size_t> &x[0, 0], last = <size_t> &x[m - 1, n - 1]
    with nogil:
        if x.strides[0] > 0 and x.strides[1] > 0:
            # the pages of a memory-mapped file are read in large requests
            # (madvise WILLNEED: a hint, errors ignored)
            first -= first % <size_t> sysconf(_SC_PAGESIZE)
            madvise(<void *> first, last + sizeof(floating) - first, MADV_WILLNEED)
        if bound >= DBL_MAX and rows:
            for i in range(m):
                # probe += np.sum(x[i] * 0): 0 if x[i] is finite, else NaN
                probe += nonfinite_probe(n, &x[i, 0])
        else:
            for i in range(m):
                for j in range(n):
                    # outside += np.count_nonzero(~(np.abs(x[i]) <= bound))
                    outside += not (fabs(x[i, j]) <= bound)
    return probe != probe or outside > 0
