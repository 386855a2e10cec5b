# The epoch loop: shuffle, gather each batch, forward, cost, backward, update;
# the undo snapshots, the one exit on divergence, the Ctrl-C poll.
from libc.stdint cimport int64_t
from dnn_core._blas cimport floating
from dnn_core._layout cimport Architecture, Hyperparameters, Buffers
from dnn_core._random cimport Random
from dnn_core._rows cimport Rows, Order
from dnn_core._shards cimport Shards

# Return codes of the epoch loop.
cdef enum:
    DONE = 0
    DIVERGED = 1


cdef struct Progress:
    long epochs_done
    long step                      # optimizer steps so far (Adam's t)
    long snapshot_step
    long snapshot_epoch            # the network's epochs completed before the snapshot's
    double snapshot_cost           # the batch cost at the snapshot's state
    double snapshot_seconds        # how long the last copy took
    long failed_epoch              # where the cost stopped being finite
    bint has_snapshot
    double last_check              # when Ctrl-C was last looked for
    double last_snapshot
    double previous_cost           # of the last step


cdef int run_epochs(const Architecture *arch, const Hyperparameters *hyper, Buffers *buf,
                    floating *P, const Rows *X, const floating *T, const int64_t *labels,
                    const floating *W, Py_ssize_t m, Py_ssize_t batch, int shuffle,
                    Order *order, long first_epoch, long n_epochs, Random *rng,
                    double *costs, double *seconds, Progress *progress,
                    Shards *shards) except -1 nogil
