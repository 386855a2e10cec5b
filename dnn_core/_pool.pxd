# The engine's worker pool (_pool.h, compiled into _pool only: one pool per
# process): run_tasks(task, context, n) runs task(context, i) for i in
# range(n), task 0 in the caller, and returns the number of threads that ran
# them (1 when the pool is busy: then all run here).
ctypedef void (*pool_task)(void *context, int task) noexcept nogil

cdef int run_tasks(pool_task task, void *context, int n_tasks) noexcept nogil

cdef int check_tasks(int n_tasks, str name) except -1

# a shard's index taken from a shared counter (the tasks of a sharded job take
# shards in turn: a thread slowed by a busy machine takes fewer)
cdef extern from *:
    """
    static inline int dnn_take(int *counter)
    { return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }
    """
    int take "dnn_take"(int *counter) noexcept nogil
