from dnn_core._blas cimport floating

cpdef enum Optimizer:
    GD = 0
    MOMENTUM = 1
    NESTEROV = 2
    RMSPROP = 3
    ADAM = 4

cpdef enum Schedule:
    CONSTANT = 0
    INVERSE_TIME = 1
    STEP = 2
    EXPONENTIAL = 3

cdef double scheduled_rate(Schedule schedule, double rate0, double a, double b,
                           long epoch) noexcept nogil

cdef void optimizer_step(Optimizer optimizer, Py_ssize_t size, double rate, double beta1,
                         double beta2, double epsilon, long step, floating *P,
                         const floating *G, floating *V, floating *S) noexcept nogil
