# The engine's worker pool (_pool.h): run_tasks(task, context, n) runs
# task(context, i) for i in range(n), task 0 in the caller, and returns the
# number of threads that ran them (1 when the pool is busy: then all run here).
cdef extern from "_pool.h" nogil:
    ctypedef void (*dnn_task)(void *context, int task) noexcept nogil
    int DNN_POOL_MAX_WORKERS
    int run_tasks "dnn_pool_run"(dnn_task task, void *context, int n_tasks)
    int pool_size "dnn_pool_size"()


cdef int check_tasks(int n_tasks, str name) except -1
