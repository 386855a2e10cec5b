# The passes over a network's layers: forward, cost, backward (with a
# gradient-descent update folded in, or not), and the passes over a whole data
# set in chunks (predict, cost, gradients). Each layer kind's pieces are
# dispatched here by name; the epoch loop (_train) only calls the passes.
from libc.stdint cimport int64_t
from dnn_core._blas cimport floating, blas_int, BLAS_Trans
from dnn_core._activations cimport Activation
from dnn_core._layout cimport Architecture, Buffers
from dnn_core._random cimport MaskDraw
from dnn_core._rows cimport Rows

cdef int forward_pass(const Architecture *arch, Buffers *buf, const floating *P,
                      const floating *Xb, BLAS_Trans tx, blas_int ldx, Py_ssize_t mb,
                      bint with_dropout, const MaskDraw *draw,
                      double *last_check) except -1 nogil

cdef double batch_cost(const Architecture *arch, Buffers *buf, const floating *P,
                       const floating *Yb, Py_ssize_t mb, double weight,
                       double l2) noexcept nogil

cdef int backward_pass(const Architecture *arch, Buffers *buf, floating *P, floating *G,
                       const floating *Xb, BLAS_Trans tx, blas_int ldx,
                       const floating *Yb, Py_ssize_t mb, double weight,
                       bint with_dropout, double l2, double fused_rate,
                       double *last_check) except -1 nogil

cdef void predict_rows(const Architecture *arch, Buffers *buf, const floating *P,
                       const Rows *X, Py_ssize_t m, Activation output,
                       floating *out) noexcept nogil

cdef double data_cost(const Architecture *arch, Buffers *buf, const floating *P,
                      const Rows *X, const floating *T, const int64_t *labels,
                      Py_ssize_t m) noexcept nogil

cdef double data_gradients(const Architecture *arch, Buffers *buf, floating *P,
                           floating *G, const Rows *X, const floating *T,
                           const int64_t *labels, const floating *W, Py_ssize_t m,
                           double l2) noexcept nogil

# One layer's pieces, for passes that run a network in phases (_bn_shards)
from dnn_core._layout cimport Layer
from dnn_core._sparse_rows cimport SparseRows

cdef void dropout_forward(const MaskDraw *draw, int l, double keep, Py_ssize_t n,
                          Py_ssize_t m, const floating *A, floating *mask,
                          floating *dropped) noexcept nogil

cdef bint dense_layer_forward(const Layer *layer, double slope, const floating *P,
                              const floating *A_prev, BLAS_Trans ta, blas_int lda,
                              blas_int m, floating *ws, double *work) noexcept nogil

cdef void dense_layer_backward(const Layer *layer, double slope, floating *P, floating *G,
                               floating *dA, const floating *A_prev, BLAS_Trans ta,
                               blas_int lda, blas_int m, floating *ws,
                               const Buffers *buf, bint with_dropout, double inv_m,
                               double l2, double fused_rate,
                               floating *dA_prev) noexcept nogil

cdef bint sparse_dense_layer_forward(const Layer *layer, double slope, const floating *P,
                                     SparseRows *batch, blas_int m, floating *ws,
                                     double *work) noexcept nogil

cdef void sparse_dense_layer_backward(const Layer *layer, double slope, floating *P,
                                      floating *G, floating *dA, SparseRows *batch,
                                      blas_int m, floating *ws, const Buffers *buf,
                                      bint with_dropout, double inv_m, double l2,
                                      double fused_rate) noexcept nogil
