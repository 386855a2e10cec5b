# A call into the compiled code: which job, on which network, with which rows.
# The Engine fills one, then run_call runs it without the GIL.
from dnn_core._activations cimport Activation
from dnn_core._layout cimport Architecture, Hyperparameters, Buffers
from dnn_core._random cimport Random
from dnn_core._rows cimport Data, Order
from dnn_core._train cimport Progress
from dnn_core._shards cimport Shards

# What a call does.
cdef enum Job:
    TRAIN = 0                      # run_epochs
    GRADIENTS = 1                  # data_gradients
    PREDICT = 2                    # predict_rows
    COST = 3                       # data_cost


cdef struct Call:
    Job job
    # the engine's network
    Architecture *arch
    Hyperparameters *hyper
    Buffers *buf
    Order *order
    Random *rng
    # the job's
    Data *data                     # the rows (PREDICT: X only)
    Py_ssize_t batch               # TRAIN
    int shuffle                    # TRAIN
    long first_epoch, epochs       # TRAIN
    double *costs                  # TRAIN: per epoch
    double *seconds                # TRAIN: per epoch
    Progress *progress             # TRAIN
    Shards *shards                 # TRAIN: the row shards of each step, or NULL
    double l2                      # GRADIENTS
    Activation output              # PREDICT: the output activation
    char *out                      # PREDICT: (m, n_out)
    int status                     # TRAIN: DONE or DIVERGED
    double result                  # GRADIENTS, COST: the cost


cdef int run_call(Call *call, bint is_double) except -1 nogil
