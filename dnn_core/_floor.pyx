"""The floor of the benchmarks: a training step's GEMMs alone, on the same BLAS."""
cimport numpy as cnp
import numpy as np

from dnn_core._blas cimport floating, blas_int, NoTrans, Trans, gemm
from dnn_core._layout cimport MAX_LAYERS
from dnn_core._clock cimport now

cnp.import_array()


cdef void _step_gemms(int L, const blas_int *dims, blas_int m, floating **W,
                      floating **A, floating **dZ, floating **dW) noexcept nogil:
    cdef int l
    for l in range(1, L + 1):
        # Z[l] = W[l] @ A[l-1]   (A[0]: the rows of X, read through a transpose)
        gemm(NoTrans, Trans if l == 1 else NoTrans, dims[l], m, dims[l - 1], 1, W[l],
             dims[l - 1], A[l - 1], dims[0] if l == 1 else m, 0, A[l], m)
    for l in range(L, 0, -1):
        # dW[l] = dZ[l] @ A[l-1].T / m
        gemm(NoTrans, NoTrans if l == 1 else Trans, dims[l], dims[l - 1], m,
             <floating> (1.0 / m), dZ[l], m, A[l - 1], dims[0] if l == 1 else m, 0,
             dW[l], dims[l - 1])
        if l > 1:
            # dA[l-1] = W[l].T @ dZ[l]
            gemm(Trans, NoTrans, dims[l - 1], m, dims[l], 1, W[l], dims[l - 1], dZ[l], m,
                 0, dZ[l - 1], m)


cdef double _time_gemms(int L, const blas_int *dims, blas_int m, void **W, void **A,
                        void **dZ, void **dW, long inner, floating dtype) noexcept nogil:
    """Seconds of one step's GEMMs, averaged over ``inner`` steps; the buffers are
    of the type of ``dtype`` (its value is not used)."""
    cdef long i
    cdef double began = now()
    for i in range(inner):
        _step_gemms(L, dims, m, <floating **> W, <floating **> A, <floating **> dZ,
                    <floating **> dW)
    return (now() - began) / inner


def gemm_floor(layer_dims, Py_ssize_t m, dtype, int repeats=15, double min_time=0.2):
    """Median seconds of one training step's GEMMs alone, run in C on
    preallocated buffers: ``Z = W A`` per layer, ``dW = dZ A_prev^T / m`` per
    layer and ``dA_prev = W^T dZ`` above the first (as the engine does them,
    the input read from sample-major rows)."""
    cdef int l, L = len(layer_dims) - 1
    cdef blas_int dims[MAX_LAYERS + 1]
    cdef void *W[MAX_LAYERS + 1]
    cdef void *A[MAX_LAYERS + 1]
    cdef void *dZ[MAX_LAYERS + 1]
    cdef void *dW[MAX_LAYERS + 1]
    cdef long inner
    cdef double once
    if not 1 <= L <= MAX_LAYERS or m < 1 or any(int(n) < 1 for n in layer_dims):
        raise ValueError(f"layer_dims, m: expected 2..{MAX_LAYERS + 1} sizes >= 1 and "
                         f"m >= 1, got {list(layer_dims)}, {m}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
    rng = np.random.default_rng(0)
    keep = []
    for l in range(L + 1):
        dims[l] = <blas_int> layer_dims[l]
        a = rng.standard_normal(dims[l] * m).astype(dtype)
        dz = rng.standard_normal(dims[l] * m).astype(dtype)
        keep += [a, dz]
        A[l], dZ[l] = cnp.PyArray_DATA(a), cnp.PyArray_DATA(dz)
        if l > 0:
            w = rng.standard_normal(dims[l] * dims[l - 1]).astype(dtype)
            dw = np.empty_like(w)
            keep += [w, dw]
            W[l], dW[l] = cnp.PyArray_DATA(w), cnp.PyArray_DATA(dw)
    cdef bint is_double = dtype == np.float64
    samples = []
    for repeat in range(repeats + 1):
        inner = 1 if repeat == 0 else max(1, <long> (min_time / repeats / max(once, 1e-9)))
        with nogil:
            if is_double:
                once = _time_gemms(L, dims, <blas_int> m, W, A, dZ, dW, inner, <double> 0)
            else:
                once = _time_gemms(L, dims, <blas_int> m, W, A, dZ, dW, inner, <float> 0)
        if repeat > 0:
            samples.append(once)
    return float(np.median(samples))
