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
        layer.gamma_off = layer.beta_off = layer.stats_off = -1
        layer.dual = False          # (the dual form: Engine.enable_dual)
    arch.size = offset
    arch.state_size = 0
    arch.norm_eps = 1e-5
    arch.norm_momentum = 0.1
    return offset


cdef Py_ssize_t lay_out_batch_norm(Architecture *arch, normalized) except -1:
    """Make the hidden layers flagged in ``normalized`` (L - 1 bools, checked
    by the caller) BATCH_NORM and lay the parameters out again: layer l's
    ``W`` then, for a batch-norm layer, ``gamma`` (n,) and ``beta`` (n,)
    instead of ``b``; the running mean and variance (n,) each in the separate
    state buffer. Return the number of parameters (state_size: arch's)."""
    cdef int l
    cdef Py_ssize_t offset = 0, state = 0
    cdef Layer *layer
    for l in range(1, arch.n_layers + 1):
        layer = &arch.layers[l]
        layer.w_off = offset
        offset += <Py_ssize_t> layer.n * layer.n_prev
        if l < arch.n_layers and normalized[l - 1]:
            layer.kind = BATCH_NORM
            layer.b_off = -1
            layer.gamma_off = offset
            layer.beta_off = offset + layer.n
            offset += 2 * layer.n
            layer.stats_off = state
            state += 2 * layer.n
        else:
            layer.b_off = offset
            offset += layer.n
            layer.gamma_off = layer.beta_off = layer.stats_off = -1
        layer.dual = False          # (the dual form: Engine.enable_dual)
    arch.size = offset
    arch.state_size = state
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
        self.norm_buffer = None

    cdef int add_batch_norm(self, const Architecture *arch) except -1:
        """The batch-norm layers' workspaces: Z_tilde (n, batch), invstd, dgamma,
        dbeta (n,) each, in a buffer of their own (none without such layers)."""
        cdef Py_ssize_t total = 0, n
        cdef int l
        for l in range(1, arch.n_layers + 1):
            self.layers[l].zt_off = self.layers[l].invstd_off = 0
            self.layers[l].dgamma_off = self.layers[l].dbeta_off = 0
            if arch.layers[l].kind == BATCH_NORM:
                n = arch.layers[l].n
                self.layers[l].zt_off = total
                total += n * self.batch
                self.layers[l].invstd_off = total
                self.layers[l].dgamma_off = total + n
                self.layers[l].dbeta_off = total + 2 * n
                total += 3 * n
        if total > 0:
            self.norm_buffer = np.zeros(total, dtype=self.buffer.dtype)
        return 0

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
        buffers.norm_ws = (cnp.PyArray_DATA(self.norm_buffer)
                           if self.norm_buffer is not None else NULL)
