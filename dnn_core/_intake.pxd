# What comes into the engine from Python, checked before it reaches C: the rows
# (dense or a SparseInput), their targets and sample weights, the options of a fit.
from dnn_core._losses cimport Loss
from dnn_core._layout cimport Architecture, Buffers
from dnn_core._rows cimport Rows, Data


cdef bint gathered(const Rows *X, bint shuffled) noexcept

cdef Rows check_rows(object X, Py_ssize_t n0, object dtype) except *

cdef Data check_data(object X, object T, object labels, object weights, Loss loss,
                     Py_ssize_t n0, Py_ssize_t n_out, object dtype) except *

cdef Py_ssize_t check_training(object X, Py_ssize_t batch_size, long epochs,
                               long first_epoch, int optimizer, int shuffle, int n_threads,
                               Py_ssize_t shuffle_block, Py_ssize_t shuffle_window,
                               int schedule, double schedule_b, double l2,
                               double learning_rate, object costs,
                               object seconds) except -1

cdef int check_l2(double l2) except -1

cdef list check_keep(object keep, int n_layers)

cdef object as_input(object X, Py_ssize_t n0, object dtype)

cdef int choose_gathering(Data *data, object X, Py_ssize_t batch) except -1

cdef int bind_input(Architecture *arch, Buffers *buf, Data *data, object X,
                    Py_ssize_t batch) except -1
