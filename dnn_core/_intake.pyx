"""What comes into the engine, checked: everything that reaches C is shaped and
typed here, with errors that name the argument, the expectation and what came.

Rows come as scikit-learn's ``X`` of shape ``(m, n0)`` (float32, float64 or
uint8, each row's values contiguous, any row stride: _rows) or as a
``SparseInput`` (a scipy.sparse CSR checked once: _sparse_rows); targets as a
float matrix ``T`` ``(m, n_out)`` (sigmoid, linear and Poisson outputs) or as
int64 class labels ``(m,)`` (softmax).
"""
from libc.stdint cimport int64_t
from libc.math cimport isfinite

cimport numpy as cnp
import numpy as np

from dnn_core._losses cimport (BINARY_CROSSENTROPY, CATEGORICAL_CROSSENTROPY,
                               MEAN_SQUARED_ERROR, POISSON)
from dnn_core._optim cimport check_optimizer, check_schedule
from dnn_core._rows cimport (NO_SHUFFLE, SHUFFLE_ROWS, SHUFFLE_BLOCKS, KIND_CSR,
                             describe_rows, check_array)
from dnn_core._sparse_rows cimport SparseInput, SparseRows
from dnn_core._pool cimport check_tasks
from dnn_core._layout cimport DENSE, SPARSE_DENSE, BATCH_NORM

cnp.import_array()


cdef char *_data(object array) except NULL:
    return <char *> cnp.PyArray_DATA(array)


cdef bint gathered(const Rows *X, bint shuffled) noexcept:
    """Whether batches of X are gathered into the workspace's dense Xb."""
    if X.kind == KIND_CSR:
        return (<SparseRows *> X.sparse).dense
    return shuffled or not X.in_place


cdef Rows check_rows(object X, Py_ssize_t n0, object dtype) except *:
    """X described for the loops; a SparseInput as KIND_CSR (its rows stay
    owned by X, which must outlive the call)."""
    cdef Rows rows
    cdef SparseInput sparse
    if isinstance(X, SparseInput):
        sparse = X
        if sparse.shape[1] != n0 or sparse.dtype != dtype:
            raise ValueError(f"X: expected {n0} columns in {dtype}, got "
                             f"{sparse.shape[1]} in {sparse.dtype}")
        rows.data = NULL
        rows.kind = KIND_CSR
        rows.stride = 0
        rows.in_place = False
        rows.sparse = &sparse.rows
        return rows
    return describe_rows(X, n0, dtype)


cdef Data check_data(object X, object T, object labels, object weights, Loss loss,
                     Py_ssize_t n0, Py_ssize_t n_out, object dtype) except *:
    """Check X with its targets (T for sigmoid, linear and Poisson outputs,
    labels for softmax) and sample weights (finite, >= 0, or None); return
    their pointers."""
    cdef Data data
    data.X = check_rows(X, n0, dtype)
    data.m = X.shape[0]
    if loss == CATEGORICAL_CROSSENTROPY:
        if T is not None or labels is None:
            raise ValueError("labels: a softmax output takes integer labels, not T")
        check_array(labels, "labels", np.int64, 1)
        if labels.shape[0] != data.m:
            raise ValueError(f"labels: expected shape ({data.m},), got {labels.shape}")
    elif loss == BINARY_CROSSENTROPY or loss == MEAN_SQUARED_ERROR or loss == POISSON:
        if labels is not None or T is None:
            raise ValueError("T: this output takes a target matrix T, not labels")
        check_array(T, "T", dtype, 2)
        if T.shape != (data.m, n_out):
            raise ValueError(f"T: expected shape {(data.m, n_out)}, got {T.shape}")
    data.T = _data(T) if T is not None else NULL
    data.labels = <int64_t *> _data(labels) if labels is not None else NULL
    data.weights = NULL
    if weights is not None:
        check_array(weights, "sample_weight", dtype, 1)
        if weights.shape[0] != data.m:
            raise ValueError(f"sample_weight: expected shape ({data.m},), "
                             f"got {weights.shape}")
        if not (np.isfinite(weights).all() and (weights >= 0).all()):
            raise ValueError("sample_weight: expected finite weights >= 0")
        data.weights = _data(weights)
    return data


cdef Py_ssize_t check_training(object X, Py_ssize_t batch_size, long epochs,
                               long first_epoch, int optimizer, int shuffle, int n_threads,
                               Py_ssize_t shuffle_block, Py_ssize_t shuffle_window,
                               int schedule, double schedule_b, double l2,
                               double learning_rate, object costs,
                               object seconds) except -1:
    """Check the options of Engine.train; return the shuffle block in rows
    (0 given: the rows of ~1 MiB of X)."""
    if batch_size < 1 or epochs < 0 or first_epoch < 0:
        raise ValueError(f"batch_size, epochs, first_epoch: expected >= 1, >= 0, >= 0, "
                         f"got {batch_size}, {epochs}, {first_epoch}")
    check_optimizer(optimizer, "optimizer")
    if shuffle != NO_SHUFFLE and shuffle != SHUFFLE_ROWS and shuffle != SHUFFLE_BLOCKS:
        raise ValueError(f"shuffle: expected 0 (none), 1 (rows) or 2 (blocks), got {shuffle}")
    check_tasks(n_threads, "n_threads")
    if shuffle_block < 0 or shuffle_window < 1:
        raise ValueError(f"shuffle_block, shuffle_window: expected >= 0 and >= 1, "
                         f"got {shuffle_block}, {shuffle_window}")
    check_schedule(schedule, "schedule")
    if schedule_b <= 0:
        raise ValueError(f"schedule_b: expected > 0, got {schedule_b}")
    check_l2(l2)
    if not (learning_rate > 0 and isfinite(learning_rate)):
        raise ValueError(f"learning_rate: expected a finite number > 0, got {learning_rate}")
    for name, value in (("costs", costs), ("seconds", seconds)):
        check_array(value, name, np.float64, 1, True)
        if value.shape[0] < epochs:
            raise ValueError(f"{name}: expected at least {epochs} entries, got {value.shape[0]}")
    if shuffle_block == 0:
        return max(1, (1 << 20) // (X.shape[1] * X.dtype.itemsize))
    return shuffle_block


cdef int check_l2(double l2) except -1:
    """Raise ValueError unless the L2 strength is finite and >= 0."""
    if not (l2 >= 0 and isfinite(l2)):
        raise ValueError(f"l2: expected a finite number >= 0, got {l2}")
    return 0


cdef list check_keep(object keep, int n_layers):
    """The keep probability of each hidden layer 1..L-1 (None: all 1)."""
    keeps = [1.0] * (n_layers - 1) if keep is None else [float(k) for k in keep]
    if len(keeps) != n_layers - 1 or not all(0 < k <= 1 for k in keeps):
        raise ValueError(f"keep: expected {n_layers - 1} probabilities in (0, 1], got {keep}")
    return keeps


cdef object as_input(object X, Py_ssize_t n0, object dtype):
    """X as the checks take it: a scipy.sparse CSR becomes a SparseInput (checked
    once, read in place by a SPARSE_DENSE first layer); anything else as it is."""
    if getattr(X, "format", None) == "csr":
        return SparseInput(X, n0, dtype)
    return X


cdef int choose_gathering(Data *data, object X, Py_ssize_t batch) except -1:
    """Before the workspace is made: whether a CSR X's batches of ``batch`` rows
    are gathered dense (a dense enough X: see _sparse_rows)."""
    cdef SparseInput sparse
    if data.X.kind == KIND_CSR:
        sparse = X
        sparse.choose_dense(batch)
    return 0


cdef int bind_input(Architecture *arch, Buffers *buf, Data *data, object X,
                    Py_ssize_t batch) except -1:
    """After the workspace is in use: layer 1 reads X as it comes, a CSR X
    through SPARSE_DENSE with buffers for batches of ``batch`` rows (or as
    DENSE on batches gathered dense)."""
    cdef SparseInput sparse
    if data.X.kind == KIND_CSR and arch.layers[1].kind == BATCH_NORM:
        raise ValueError("X: sparse input with batch normalization on the first hidden "
                         "layer is not supported; pass X dense, or batch_norm=False "
                         "for that layer (a per-layer list)")
    if data.X.kind == KIND_CSR and not (<SparseRows *> data.X.sparse).dense:
        sparse = X
        sparse.reserve(batch, arch.layers[1].n)
        arch.layers[1].kind = SPARSE_DENSE
        buf.sparse = data.X.sparse
    else:
        if arch.layers[1].kind == SPARSE_DENSE:
            arch.layers[1].kind = DENSE
        buf.sparse = NULL
    return 0
