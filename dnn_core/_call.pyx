"""Running a call (_call.pxd): the one place where the network's dtype picks
the float or the double kernels."""
from dnn_core._blas cimport floating
from dnn_core._rows cimport Data
from dnn_core._passes cimport predict_rows, data_cost, data_gradients
from dnn_core._train cimport run_epochs


cdef int _run_typed(Call *c, floating *P) except -1 nogil:
    """Run the call with the buffers of P's type."""
    cdef Data *d = c.data
    cdef const floating *T = <const floating *> d.T
    cdef const floating *W = <const floating *> d.weights
    if c.job == TRAIN:
        c.status = run_epochs(c.arch, c.hyper, c.buf, P, &d.X, T, d.labels, W, d.m,
                              c.batch, c.shuffle, c.order, c.first_epoch, c.epochs, c.rng,
                              c.costs, c.seconds, c.progress, c.shards)
    elif c.job == GRADIENTS:
        c.result = data_gradients(c.arch, c.buf, P, <floating *> c.buf.grads, &d.X, T,
                                  d.labels, W, d.m, c.l2)
    elif c.job == PREDICT:
        predict_rows(c.arch, c.buf, P, &d.X, d.m, c.output, <floating *> c.out)
    elif c.job == COST:
        c.result = data_cost(c.arch, c.buf, P, &d.X, T, d.labels, d.m)
    return 0


cdef int run_call(Call *call, bint is_double) except -1 nogil:
    """Run ``call`` with the float (is_double False) or double kernels."""
    if is_double:
        return _run_typed(call, <double *> call.buf.params)
    return _run_typed(call, <float *> call.buf.params)
