# The clock of the epoch loop, and its look for a pending Ctrl-C.
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from cpython.exc cimport PyErr_CheckSignals

# Milliseconds of work between two looks for a pending Ctrl-C.
cdef enum:
    CHECK_MILLISECONDS = 20


cdef inline double now() noexcept nogil:
    """Seconds on the monotonic clock."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + 1e-9 * ts.tv_nsec


cdef inline int poll_signals(double *last_check) except -1 nogil:
    """Let Python see a pending signal (Ctrl-C raises here) if CHECK_MILLISECONDS
    of work have passed since *last_check (then updated); last_check NULL: never."""
    cdef double t
    if last_check != NULL:
        t = now()
        if t - last_check[0] >= CHECK_MILLISECONDS / 1000.0:
            last_check[0] = t
            with gil:
                PyErr_CheckSignals()
    return 0
