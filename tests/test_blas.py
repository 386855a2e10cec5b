"""The BLAS shim against NumPy, over layouts, transposes and dtypes."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from dnn_core import _blas

from helpers import assert_close

DTYPES = [np.float32, np.float64]


def layout(array, kind):
    """The same values in another memory layout."""
    if kind == "C":
        return np.ascontiguousarray(array)
    if kind == "F":
        return np.asfortranarray(array)
    if kind == "slice":  # rows contiguous, row stride wider than the row
        wide = np.zeros((array.shape[0], array.shape[1] + 3), dtype=array.dtype)
        wide[:, 1:-2] = array
        return wide[:, 1:-2]
    if kind == "strided":  # contiguous along neither axis: the shim copies
        big = np.zeros((array.shape[0] * 2, array.shape[1] * 2), dtype=array.dtype)
        big[::2, ::2] = array
        return big[::2, ::2]
    raise ValueError(kind)


@given(m=st.integers(1, 9), n=st.integers(1, 9), k=st.integers(1, 9),
       trans_a=st.booleans(), trans_b=st.booleans(),
       layout_a=st.sampled_from(["C", "F", "slice", "strided"]),
       layout_b=st.sampled_from(["C", "F", "slice", "strided"]),
       dtype=st.sampled_from(DTYPES), alpha=st.floats(-2, 2), beta=st.floats(-2, 2),
       seed=st.integers(0, 2**16))
def test_gemm_matches_numpy(m, n, k, trans_a, trans_b, layout_a, layout_b, dtype, alpha,
                            beta, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    expected = alpha * ((A.T if trans_a else A) @ (B.T if trans_b else B)) + beta * C
    _blas.py_gemm(layout(A, layout_a), layout(B, layout_b), C, alpha, beta, trans_a, trans_b)
    assert_close(C, expected, dtype, rtol=10 * (1e-12 if dtype == np.float64 else 1e-5))


def test_gemm_rejects_mismatched_shapes():
    A, B, C = np.ones((2, 3)), np.ones((4, 2)), np.ones((2, 2))
    with pytest.raises(ValueError, match="inner dimensions"):
        _blas.py_gemm(A, B, C)
    with pytest.raises(ValueError, match="C: expected shape"):
        _blas.py_gemm(np.ones((2, 3)), np.ones((3, 5)), C)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans", [False, True])
def test_gemv_matches_numpy(dtype, trans):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 3)).astype(dtype)
    x = rng.standard_normal(5 if trans else 3).astype(dtype)
    y = rng.standard_normal(3 if trans else 5).astype(dtype)
    expected = 1.5 * ((A.T if trans else A) @ x) - 0.5 * y
    _blas.py_gemv(A, x, y, 1.5, -0.5, trans)
    assert_close(y, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_axpy_scal_dot_match_numpy(dtype):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(17).astype(dtype), rng.standard_normal(17).astype(dtype)
    assert_close(_blas.py_dot(x, y), x @ y, dtype)
    expected = y + dtype(0.25) * x
    _blas.py_axpy(0.25, x, y)
    assert_close(y, expected, dtype)
    expected = dtype(-3.0) * y
    _blas.py_scal(-3.0, y)
    assert_close(y, expected, dtype)
    with pytest.raises(ValueError, match="lengths differ"):
        _blas.py_dot(x, y[:3].copy())
