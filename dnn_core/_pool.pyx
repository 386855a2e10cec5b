"""The engine's worker pool, and entry points that let tests watch it work.

The pool (``_pool.h``) is one process-wide set of POSIX threads: a job's task
``i`` runs on worker ``i`` and task 0 on the caller; workers sleep on a
condition variable between jobs (no spinning), and a ``fork`` waits for the
running job to end, so a child starts with an empty pool and never deadlocks.
A job's result does not depend on the pool: a caller that finds it busy runs
every task itself.
"""
from libc.stdint cimport uint64_t
from posix.time cimport nanosleep, timespec

cdef extern from "_pool.h" nogil:
    ctypedef void (*dnn_task)(void *context, int task) noexcept nogil
    int DNN_POOL_MAX_WORKERS
    int dnn_pool_run(dnn_task task, void *context, int n_tasks)
    int pool_size "dnn_pool_size"()
    void job_counts "dnn_pool_job_counts"(long *jobs, long *busy)
    void dnn_pool_init()

cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    pthread_t pthread_self()

#: the most tasks one job may have (workers + the caller)
MAX_TASKS = DNN_POOL_MAX_WORKERS

# The fork handlers, registered now: a handler that glibc sees registered while
# a fork runs its prepare handlers is skipped for that fork (the child would
# inherit a pool in mid-job). Python's os.fork and an import both hold the GIL.
dnn_pool_init()


cdef int run_tasks(pool_task task, void *context, int n_tasks) noexcept nogil:
    """task(context, i) for i in range(n_tasks) on the pool; the threads used."""
    return dnn_pool_run(<dnn_task> task, context, n_tasks)


cdef int check_tasks(int n_tasks, str name) except -1:
    """Raise ValueError naming ``name`` unless 1 <= n_tasks <= MAX_TASKS."""
    if not 1 <= n_tasks <= DNN_POOL_MAX_WORKERS:
        raise ValueError(f"{name}: expected an integer in [1, {DNN_POOL_MAX_WORKERS}], "
                         f"got {n_tasks}")
    return 0


def size():
    """Worker threads started so far in this process (the callers not counted)."""
    return pool_size()


def busy_jobs():
    """``(jobs, busy)``: jobs of more than one task run so far in this process, and
    how many of them the caller ran alone because the pool was busy (another
    caller's job). A sharded training step is 2 jobs, 2 K + 2 with K batch-norm
    layers (_bn_shards)."""
    cdef long jobs, busy
    job_counts(&jobs, &busy)
    return jobs, busy


# ---------------------------------------------------------------------------
# Python entry points (tests).

cdef struct _Probe:
    uint64_t *threads             # (n_tasks,) the thread that ran each task
    double *sums                  # (n_tasks,) each task's partial sum
    const double *x
    Py_ssize_t n
    int n_tasks
    double seconds                # each task sleeps this long first


cdef void _probe_task(void *context, int task) noexcept nogil:
    cdef _Probe *p = <_Probe *> context
    cdef Py_ssize_t i, lo = p.n * task // p.n_tasks, hi = p.n * (task + 1) // p.n_tasks
    cdef double s = 0
    cdef timespec ts
    if p.seconds > 0:
        ts.tv_sec = <long> p.seconds
        ts.tv_nsec = <long> ((p.seconds - ts.tv_sec) * 1e9)
        nanosleep(&ts, NULL)
    for i in range(lo, hi):
        s += p.x[i]
    p.sums[task] = s
    p.threads[task] = <uint64_t> pthread_self()


def probe(const double[::1] x, int n_tasks, double seconds=0):
    """Split ``x`` (n,) into ``n_tasks`` ranges and sum each on the pool.

    Returns ``(sums, threads, n_threads)``: each task's partial sum (n_tasks,),
    an id of the thread that ran it (n_tasks,), and how many threads ran the job.
    Each task first sleeps ``seconds``.
    """
    import numpy as np
    check_tasks(n_tasks, "n_tasks")
    if not seconds >= 0:
        raise ValueError(f"seconds: expected a number >= 0, got {seconds}")
    sums = np.zeros(n_tasks)
    threads = np.zeros(n_tasks, dtype=np.uint64)
    cdef double[::1] s = sums
    cdef uint64_t[::1] t = threads
    cdef _Probe p
    cdef int used
    p.threads = &t[0]
    p.sums = &s[0]
    p.x = &x[0] if x.shape[0] > 0 else NULL
    p.n = x.shape[0]
    p.n_tasks = n_tasks
    p.seconds = seconds
    with nogil:
        used = run_tasks(_probe_task, &p, n_tasks)
    return sums, threads, used
