"""Optimizer update rules over flat buffers, and learning-rate schedules.

``P`` holds every parameter of a network back to back, ``G`` its gradient,
``V`` and ``S`` the optimizer's first and second moments (same length).
The rules are the course's (Improving Deep Neural Networks, week 2):
momentum keeps an exponentially weighted average of the gradients.
"""
from libc.math cimport floor, pow, sqrt, NAN

from dnn_core._update cimport sgd_update

# The rules with a square root and a division an entry (RMSProp, Adam) are
# bound by those instructions, not by memory: gcc compiles them once per
# instruction set (SSE2, AVX2, AVX-512) and the loader picks the widest the CPU
# has (an ifunc). Measured for 235,146 float32 parameters on this machine's
# AMD EPYC: Adam 161 -> 73 us a step. Without FMA contraction (setup.py's
# -ffp-contract=off) every copy rounds alike: same results on every CPU.
cdef extern from *:
    """
    #include <math.h>
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
    #define DNN_TARGET_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
    #else
    #define DNN_TARGET_CLONES
    #endif

    /* S = b2 S + (1 - b2) G^2; P = P - lr G / (sqrt(S) + eps) */
    #define DNN_RMSPROP(NAME, T, SQRT) \
    DNN_TARGET_CLONES static void NAME(Py_ssize_t n, T lr, T b2, T eps, T *P, \
                                       const T *G, T *S) \
    { \
        T one_b2 = 1 - b2; \
        for (Py_ssize_t i = 0; i < n; i++) { \
            T g = G[i]; \
            T s = b2 * S[i] + one_b2 * (g * g); \
            S[i] = s; \
            P[i] = P[i] - lr * g / (SQRT(s) + eps); \
        } \
    }

    /* V = b1 V + (1 - b1) G; S = b2 S + (1 - b2) G^2;
       P = P - step_size V / (sqrt(S) + eps) */
    #define DNN_ADAM(NAME, T, SQRT) \
    DNN_TARGET_CLONES static void NAME(Py_ssize_t n, T step_size, T b1, T b2, T eps, \
                                       T *P, const T *G, T *V, T *S) \
    { \
        T one_b1 = 1 - b1, one_b2 = 1 - b2; \
        for (Py_ssize_t i = 0; i < n; i++) { \
            T g = G[i]; \
            T v = b1 * V[i] + one_b1 * g; \
            T s = b2 * S[i] + one_b2 * (g * g); \
            V[i] = v; \
            S[i] = s; \
            P[i] = P[i] - step_size * v / (SQRT(s) + eps); \
        } \
    }

    DNN_RMSPROP(dnn_rmsprop_float, float, sqrtf)
    DNN_RMSPROP(dnn_rmsprop_double, double, sqrt)
    DNN_ADAM(dnn_adam_float, float, sqrtf)
    DNN_ADAM(dnn_adam_double, double, sqrt)
    """
    void rmsprop_float "dnn_rmsprop_float"(Py_ssize_t n, float lr, float b2, float eps,
                                           float *P, const float *G, float *S) noexcept nogil
    void rmsprop_double "dnn_rmsprop_double"(Py_ssize_t n, double lr, double b2, double eps,
                                             double *P, const double *G,
                                             double *S) noexcept nogil
    void adam_float "dnn_adam_float"(Py_ssize_t n, float step_size, float b1, float b2,
                                     float eps, float *P, const float *G, float *V,
                                     float *S) noexcept nogil
    void adam_double "dnn_adam_double"(Py_ssize_t n, double step_size, double b1, double b2,
                                       double eps, double *P, const double *G, double *V,
                                       double *S) noexcept nogil


cdef bint is_optimizer(int code) noexcept nogil:
    """Whether code is a member of Optimizer (each named: no range of codes)."""
    return (code == GD or code == MOMENTUM or code == NESTEROV or code == RMSPROP
            or code == ADAM)


cdef int check_optimizer(int code, str name) except -1:
    """Raise ValueError naming the argument ``name`` unless code is an Optimizer."""
    if not is_optimizer(code):
        raise ValueError(f"{name}: expected a code of an optimizer "
                         f"({', '.join(f'{o.name}={int(o)}' for o in _OPTIMIZERS)}), "
                         f"got {code}")
    return 0


cdef bint is_schedule(int code) noexcept nogil:
    """Whether code is a member of Schedule (each named: no range of codes)."""
    return (code == CONSTANT or code == INVERSE_TIME or code == STEP
            or code == EXPONENTIAL)


cdef int check_schedule(int code, str name) except -1:
    """Raise ValueError naming the argument ``name`` unless code is a Schedule."""
    if not is_schedule(code):
        raise ValueError(f"{name}: expected a code of a schedule "
                         f"({', '.join(f'{s.name}={int(s)}' for s in _SCHEDULES)}), "
                         f"got {code}")
    return 0


_OPTIMIZERS = [o for o in Optimizer if o != OPTIMIZER_COUNT]
_SCHEDULES = [s for s in Schedule if s != SCHEDULE_COUNT]


cdef double scheduled_rate(Schedule schedule, double rate0, double a, double b,
                           long epoch) noexcept nogil:
    """The learning rate of epoch ``epoch`` (from 0)."""
    if schedule == CONSTANT:
        return rate0
    if schedule == INVERSE_TIME:
        # rate0 / (1 + decay * floor(epoch / interval));   a = decay, b = interval
        return rate0 / (1 + a * floor(epoch / b))
    if schedule == STEP:
        # rate0 * factor ** floor(epoch / step_size);   a = factor, b = step_size
        return rate0 * pow(a, floor(epoch / b))
    if schedule == EXPONENTIAL:
        # rate0 * rate ** (epoch / decay_epochs);   a = rate, b = decay_epochs
        return rate0 * pow(a, epoch / b)
    return NAN                      # (no other code reaches a kernel)


cdef void optimizer_step(Optimizer optimizer, Py_ssize_t size, double rate, double beta1,
                         double beta2, double epsilon, long step, floating *P,
                         const floating *G, floating *V, floating *S) noexcept nogil:
    """One update of P from G; ``step`` counts updates from 1 (Adam's t).

    Each rule is one pass over the buffers with its scalars hoisted, written
    so that the compiler vectorizes it (no division by a scalar, no libm call
    but the square root, which becomes an instruction; RMSProp's and Adam's
    in one copy per instruction set, above)."""
    cdef Py_ssize_t i
    cdef floating g, v
    cdef floating lr = <floating> rate, b1 = <floating> beta1, b2 = <floating> beta2
    cdef floating eps = <floating> epsilon
    cdef floating one_b1 = 1 - b1
    cdef floating step_size, adam_eps
    cdef double c1, c2
    if optimizer == GD:
        # P = P - lr * G
        sgd_update(size, rate, P, G)
    elif optimizer == MOMENTUM:
        # V = beta * V + (1 - beta) * G; P = P - lr * V
        for i in range(size):
            v = b1 * V[i] + one_b1 * G[i]
            V[i] = v
            P[i] = P[i] - lr * v
    elif optimizer == NESTEROV:
        # V = beta * V + (1 - beta) * G; P = P - lr * (beta * V + (1 - beta) * G)
        for i in range(size):
            g = G[i]
            v = b1 * V[i] + one_b1 * g
            V[i] = v
            P[i] = P[i] - lr * (b1 * v + one_b1 * g)
    elif optimizer == RMSPROP:
        # S = beta * S + (1 - beta) * G ** 2; P = P - lr * G / (np.sqrt(S) + eps)
        if floating is float:
            rmsprop_float(size, lr, b2, eps, P, G, S)
        else:
            rmsprop_double(size, lr, b2, eps, P, G, S)
    elif optimizer == ADAM:
        # V = beta1 * V + (1 - beta1) * G; S = beta2 * S + (1 - beta2) * G ** 2
        # P = P - lr * (V / (1 - beta1 ** t)) / (np.sqrt(S / (1 - beta2 ** t)) + eps)
        # written as P - step_size * V / (np.sqrt(S) + adam_eps) with
        # step_size = lr * sqrt(c2) / c1 and adam_eps = eps * sqrt(c2), the
        # bias corrections c1 = 1 - beta1 ** t, c2 = 1 - beta2 ** t in double
        # like NumPy's (equal to rounding: one division and one square root
        # an entry instead of three divisions)
        c1 = 1 - pow(beta1, step)
        c2 = 1 - pow(beta2, step)
        step_size = <floating> (rate * sqrt(c2) / c1)
        adam_eps = <floating> (epsilon * sqrt(c2))
        if floating is float:
            adam_float(size, step_size, b1, b2, adam_eps, P, G, V, S)
        else:
            adam_double(size, step_size, b1, b2, adam_eps, P, G, V, S)


# ---------------------------------------------------------------------------
# Python entry points (tests).

def step(int optimizer, floating[::1] P, const floating[::1] G, floating[::1] V,
         floating[::1] S, double rate, double beta1=0.9, double beta2=0.999,
         double epsilon=1e-8, long t=1):
    """One optimizer update of P in place (V and S are its state, same length)."""
    cdef Py_ssize_t size = P.shape[0]
    check_optimizer(optimizer, "optimizer")
    if G.shape[0] != size or V.shape[0] != size or S.shape[0] != size:
        raise ValueError(f"G, V, S: expected {size} entries like P, got "
                         f"{G.shape[0]}, {V.shape[0]}, {S.shape[0]}")
    if t < 1:
        raise ValueError(f"t: expected an integer >= 1, got {t}")
    if size == 0:
        return
    with nogil:
        optimizer_step(<Optimizer> optimizer, size, rate, beta1, beta2, epsilon, t,
                       &P[0], &G[0], &V[0], &S[0])


def rate(int schedule, double rate0, double a, double b, long epoch):
    """The learning rate of ``epoch`` under a schedule code (see Schedule)."""
    check_schedule(schedule, "schedule")
    return scheduled_rate(<Schedule> schedule, rate0, a, b, epoch)
