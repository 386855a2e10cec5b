"""Where everything of a network lives: the layers' parameters in one flat
buffer, and the workspaces of one batch size.

``lay_out`` fills an Architecture: layer l's ``W`` (n[l], n[l-1]) C-ordered at
``w_off``, then its ``b`` (n[l],) at ``b_off``, layer after layer, so the
parameter buffer is ``[W1, b1, W2, b2, ...]`` and the gradient has the same
layout. A ``Workspace`` holds the buffers of batches of up to ``batch``
examples, made once and reused; ``use`` points an Architecture's layers and
the Buffers at them.
"""
cimport numpy as cnp
import numpy as np

from dnn_core._activations cimport IDENTITY

cnp.import_array()


cdef Py_ssize_t lay_out(Architecture *arch, tuple dims, activations, Loss loss,
                        double slope) except -1:
    """Fill arch with dense layers of sizes dims = (n0, ..., nL), the hidden ones'
    activations (L - 1 codes, checked by the caller), and the loss; return the
    number of parameters."""
    cdef int l, L = len(dims) - 1
    cdef Py_ssize_t offset = 0
    cdef Layer *layer
    arch.n_layers = L
    arch.loss = loss
    arch.slope = slope
    for l in range(1, L + 1):
        layer = &arch.layers[l]
        layer.kind = DENSE
        layer.n = <blas_int> dims[l]
        layer.n_prev = <blas_int> dims[l - 1]
        layer.output = l == L
        layer.activation = IDENTITY if l == L else <Activation> activations[l - 1]
        layer.keep = 1
        layer.w_off = offset
        offset += dims[l] * dims[l - 1]
        layer.b_off = offset
        offset += dims[l]
    arch.size = offset
    return offset


cdef class Workspace:
    """Buffers for batches of up to ``batch`` examples (made once, reused)."""

    def __init__(self, dims, Py_ssize_t batch, bint dropout, bint gather, dtype):
        cdef Py_ssize_t total = 0, l, L = len(dims) - 1, widest = max(dims[1:])
        self.batch = batch
        self.dropout = dropout
        for l in range(1, L + 1):
            self.layers[l].z_off = total
            total += dims[l] * batch
            self.layers[l].a_off = total
            total += dims[l] * batch
            self.layers[l].mask_off = self.layers[l].drop_off = 0
            if dropout and l < L:
                self.layers[l].mask_off = total
                total += dims[l] * batch
                self.layers[l].drop_off = total
                total += dims[l] * batch
        self.delta_off[0] = total
        self.delta_off[1] = total + widest * batch
        total += 2 * widest * batch
        self.xb_off = total
        total += dims[0] * batch if gather else 0
        self.yb_off = total
        total += dims[L] * batch
        self.db_off = total
        total += widest
        self.wb_off = total
        total += batch
        self.buffer = np.zeros(total, dtype=dtype)
        self.work = np.zeros(2 * batch)

    cdef void use(self, Architecture *arch, Buffers *buffers) noexcept:
        """Point arch's layers and buffers' workspaces at this workspace."""
        cdef int l
        for l in range(1, arch.n_layers + 1):
            arch.layers[l].space = self.layers[l]
        buffers.batch = self.batch
        buffers.ws = cnp.PyArray_DATA(self.buffer)
        buffers.work = <double *> cnp.PyArray_DATA(self.work)
        buffers.delta_off[0] = self.delta_off[0]
        buffers.delta_off[1] = self.delta_off[1]
        buffers.xb_off = self.xb_off
        buffers.yb_off = self.yb_off
        buffers.db_off = self.db_off
        buffers.wb_off = self.wb_off
        buffers.weighted = False
        buffers.sparse = NULL
