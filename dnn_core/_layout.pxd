# A network as data: its layers (the architecture), the run's hyperparameters,
# and the buffers they work in (one flat parameter buffer, its gradient, the
# optimizer's moments, the workspaces of one batch size). The passes
# (_passes), the epoch loop (_train) and the Engine (_engine) share them.
from dnn_core._blas cimport blas_int
from dnn_core._activations cimport Activation
from dnn_core._losses cimport Loss
from dnn_core._optim cimport Optimizer, Schedule

# The deepest network: layers 1..MAX_LAYERS (arrays of layers have one more
# entry, so that layer l is entry l).
cdef enum:
    MAX_LAYERS = 64

# What a layer computes. Each kind owns its forward, backward and update pieces
# (_passes); every dispatch names each member. A new kind (e.g. BATCH_NORM:
# gamma, beta per unit, running mean and variance, between the linear part and
# the activation, no bias; SPARSE_DENSE: a first layer reading CSR rows) is a
# member here, its offsets in Layer / LayerSpace, its place in lay_out and
# Workspace, and its pieces in _passes (forward, backward, l2 term); the epoch
# loop (_train) calls only the passes and is not touched.
cpdef enum LayerKind:
    DENSE = 0                      # Z = W A_prev + b; A = g(Z); A dropped out if keep < 1
    SPARSE_DENSE = 1               # layer 1 only, as DENSE, A_prev the batch of a CSR X
    BATCH_NORM = 2                 # Z = W A_prev; Z~ = gamma Z_norm + beta; A = g(Z~) (hidden)
    LAYER_KIND_COUNT               # not a kind: how many there are


cdef struct LayerSpace:
    # a layer's workspaces: offsets into the workspace, each (n, batch)
    Py_ssize_t z_off               # Z, the linear part's output
    Py_ssize_t a_off               # A = g(Z) (the output layer: the loss's activation)
    Py_ssize_t mask_off            # dropout's mask (0 or 1 / keep), if keep < 1
    Py_ssize_t drop_off            # A * mask, if keep < 1
    # BATCH_NORM only: offsets into the batch-norm workspace (Buffers.norm_ws)
    Py_ssize_t zt_off              # Z_tilde (n, batch); Z holds Z_norm in training
    Py_ssize_t invstd_off          # 1 / sqrt(var + eps) of the batch (n,)
    Py_ssize_t dgamma_off          # dgamma, dbeta (n,) each of a step folded into
    Py_ssize_t dbeta_off           # the GEMMs (G is NULL)


cdef struct Layer:
    LayerKind kind
    blas_int n                     # units
    blas_int n_prev                # inputs: the units below (n0 for layer 1)
    Activation activation          # g; IDENTITY at the output (the loss applies its own)
    double keep                    # keep probability of A (1: no dropout)
    bint output                    # the last layer: its Z are the logits of the loss
    Py_ssize_t w_off               # W (n, n_prev) C-ordered in the parameter buffer
    Py_ssize_t b_off               # b (n,) in the parameter buffer (-1: BATCH_NORM)
    Py_ssize_t gamma_off           # BATCH_NORM: gamma (n,), then beta (n,), in the
    Py_ssize_t beta_off            # parameter buffer (-1: DENSE)
    Py_ssize_t stats_off           # BATCH_NORM: running mean (n,), then running var
                                   # (n,), in the state buffer (-1: DENSE)
    LayerSpace space
    bint dual                      # layer 1 only: the dual form (_dual); its W is
                                   # [M, c_1 I, ..., c_r I] over the dual features


cdef struct Architecture:
    int n_layers                   # L
    Layer layers[MAX_LAYERS + 1]   # layers[1..L]
    Loss loss                      # fixes the output activation
    double slope                   # leaky relu's
    Py_ssize_t size                # parameters in all
    Py_ssize_t state_size          # running statistics in all (not parameters)
    double norm_eps                # batch norm's eps and running-average momentum
    double norm_momentum


cdef struct Hyperparameters:
    # the run's: set by each call of Engine.train
    double l2
    Optimizer optimizer
    double beta1, beta2, epsilon
    Schedule schedule
    double rate0, schedule_a, schedule_b
    bint dropout                   # some layer has keep < 1


# Which statistics a BATCH_NORM layer's forward uses (set per call by the engine).
cdef enum NormMode:
    NORM_TRAIN = 0                 # the batch's, and update the running ones (training)
    NORM_BATCH = 1                 # the batch's, running ones untouched (compute_gradients)
    NORM_RUNNING = 2               # the running ones (predict, cost): rows independent


cdef struct Buffers:
    # typed by the caller (float or double)
    void *params                   # (size,) [W1, b1, W2, b2, ...]
    void *grads                    # (size,) same layout
    void *moment1                  # (size,) the optimizer's first moments
    void *moment2                  # (size,) its second moments
    void *snapshot                 # (3, size): params, moment1, moment2 (the undo)
    # workspaces for `batch` examples: the layers' in each LayerSpace, the
    # shared ones here as offsets into ws
    Py_ssize_t batch
    void *ws
    Py_ssize_t delta_off[2]        # dA / dZ of two adjacent layers, taking turns
    Py_ssize_t xb_off              # the gathered rows (batch, n0), if gathered
    Py_ssize_t yb_off              # the targets (n_out, batch)
    Py_ssize_t db_off              # db of a gradient-descent step folded into the GEMMs
    Py_ssize_t wb_off              # the batch's sample weights (batch,)
    bint weighted                  # whether ws + wb_off holds them
    double *work                   # 2 * batch doubles (softmax)
    void *sparse                   # a SPARSE_DENSE layer 1's batch: SparseRows, or NULL
    # batch norm (BATCH_NORM layers): the running statistics, their undo, the
    # layers' workspaces, and which statistics a forward pass uses
    void *running                  # (state_size,) [mean1, var1, mean2, var2, ...]
    void *running_snapshot         # (state_size,) taken and restored with snapshot
    Py_ssize_t state_size
    void *norm_ws                  # the LayerSpaces' zt_off ... dbeta_off point here
    NormMode norm_mode
    # the dual-form first layer (_dual): its DualState, or NULL, and the rows
    # of the step's batch (batch_rows[j], or batch_start + j where NULL)
    void *dual
    const Py_ssize_t *batch_rows
    Py_ssize_t batch_start


cdef Py_ssize_t lay_out(Architecture *arch, tuple dims, activations, Loss loss,
                        double slope) except -1


cdef Py_ssize_t lay_out_batch_norm(Architecture *arch, normalized) except -1


cdef class Workspace:
    cdef readonly Py_ssize_t batch
    cdef readonly bint dropout
    cdef readonly object buffer
    cdef readonly object work
    cdef LayerSpace layers[MAX_LAYERS + 1]
    cdef Py_ssize_t delta_off[2]
    cdef Py_ssize_t xb_off, yb_off, db_off, wb_off
    cdef readonly object norm_buffer
    cdef int add_batch_norm(self, const Architecture *arch) except -1
    cdef void use(self, Architecture *arch, Buffers *buffers) noexcept
