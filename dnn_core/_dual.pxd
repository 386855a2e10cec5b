# The dual form of the first layer (issue 14), for data with more features than
# examples. Under gradient descent, momentum and Nesterov (with or without l2)
# W1 stays in the span of its starting bases and the rows of the data:
# W1 = sum_k c_k B_k + M X^T, M of shape (n1, m). The engine trains it as a
# DENSE layer 1 over the dual features F = [G | (B_1 X)^T | ... | (B_r X)^T]
# (m rows, G = X^T X) with weights W' = [M, c_1 I, ..., c_r I]: the forward is
# the dense one (Z1 = W' F_B^T + b1 = W1 X_B + b1); the weight update is here:
# the step's dZ1 / m scattered into the batch's columns of M.
from dnn_core._blas cimport floating, blas_int, BLAS_Trans
from dnn_core._layout cimport Layer, Buffers


cdef struct DualState:
    Py_ssize_t m                   # examples of the training set (columns of M, G)
    int n_bases                    # r: the bases B_k (W1 at the start, its velocity)
    const void *features           # F (m, m + r n1) C-ordered, the engine's dtype
    const double *basis_gram       # (r, r): <B_k, B_l>
    # the l2 term's products, (3, n1, m) in the engine's dtype: M G, V_M G (V_M:
    # M's block of the velocity) and the step's dZ1 F_B[:, :m] / m_B; tracked
    # from step to step (dual_track_step) and formed anew (two GEMMs) at a
    # call's first cost and every RESYNC_STEPS steps
    void *products
    bint tracked                   # whether products[0:2] describe the current state
    int since_exact                # steps since products[0:2] were formed anew


cdef void dual_weight_backward(const Layer *layer, DualState *state,
                               const Buffers *buf, floating *P, floating *G,
                               const floating *dZ, const floating *A_prev, BLAS_Trans ta,
                               blas_int lda, blas_int mb, double inv_m, double l2,
                               double fused_rate) noexcept nogil

cdef double dual_weights_square_sum(const Layer *layer, DualState *state,
                                    const floating *P, const floating *V) noexcept nogil

cdef void dual_track_step(const Layer *layer, DualState *state, int optimizer,
                          double rate, double beta1, double l2_inv_m,
                          const floating *P) noexcept nogil


cdef class DualLayer:
    cdef DualState state
    cdef readonly object features
    cdef readonly object basis_gram
    cdef readonly object products
    cdef readonly Py_ssize_t m
    cdef readonly int n_bases
    cdef readonly Py_ssize_t units
