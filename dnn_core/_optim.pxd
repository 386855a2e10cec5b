from dnn_core._blas cimport floating

cpdef enum Optimizer:
    GD = 0
    MOMENTUM = 1
    NESTEROV = 2
    RMSPROP = 3
    ADAM = 4
    OPTIMIZER_COUNT                 # not an optimizer: how many there are

cpdef enum Schedule:
    CONSTANT = 0
    INVERSE_TIME = 1
    STEP = 2
    EXPONENTIAL = 3
    SCHEDULE_COUNT                  # not a schedule: how many there are

cdef bint is_optimizer(int code) noexcept nogil

cdef int check_optimizer(int code, str name) except -1

cdef bint is_schedule(int code) noexcept nogil

cdef int check_schedule(int code, str name) except -1

cdef double scheduled_rate(Schedule schedule, double rate0, double a, double b,
                           long epoch) noexcept nogil

cdef void optimizer_step(Optimizer optimizer, Py_ssize_t size, double rate, double beta1,
                         double beta2, double epsilon, long step, floating *P,
                         const floating *G, floating *V, floating *S) noexcept nogil
