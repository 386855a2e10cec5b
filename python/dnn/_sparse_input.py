"""Sparse ``X``: scipy.sparse matrices and arrays as the engine takes them.

The engine's first layer reads a CSR's rows in place (``SPARSE_DENSE``,
``dnn_core._sparse_rows``): X is never densified. Here X is checked and
shaped once per call: CSR is taken as it is; CSC, COO and the other formats
are converted to CSR with ``.tocsr()`` (a copy of the nonzeros, as
scikit-learn's own ``check_array`` converts what an estimator does not read);
its values are converted to the network's dtype only if they are in another;
NaN and inf are looked for in ``X.data`` only.
"""
import numpy as np
import scipy.sparse

__all__ = ["is_sparse", "sparse_features", "workspace_dims"]


def is_sparse(X):
    """Whether X is a scipy.sparse matrix or array."""
    return scipy.sparse.issparse(X)


def sparse_features(X, n_features, dtype, name="X"):
    """A scipy.sparse X (n_samples >= 1, n_features) as a CSR in ``dtype``,
    checked: numeric values, finite (and within float32's range for a
    float32 network), two dimensions.

    Parameters
    ----------
    X : scipy.sparse matrix or array
        CSR is used as it is (int32 or int64 indices, duplicates and unsorted
        indices allowed: they add up as in ``X.toarray()``); any other format
        is converted with ``X.tocsr()``.
    n_features : int
    dtype : numpy.float32 or numpy.float64
    name : str
        The argument's name in error messages.

    Returns
    -------
    scipy.sparse CSR matrix or array
        Shares X's index arrays (and its values when they are in ``dtype``).
    """
    from dnn._validation import check_finite

    dtype = np.dtype(dtype)
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D sparse matrix, got {X.ndim} dimensions")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric values, got dtype {X.dtype}")
    if X.shape[1] != n_features or X.shape[0] < 1:
        raise ValueError(f"{name}: expected shape (n_samples >= 1, {n_features}), "
                         f"got {X.shape}")
    if X.format != "csr":
        X = X.tocsr()
    data = X.data
    if data.dtype.kind == "f" and data.size:
        # (in the values' own dtype; float64 into a float32 network must fit float32)
        check_finite(data, name, into=dtype)
    if data.dtype != dtype:
        X = type(X)((data.astype(dtype), X.indices, X.indptr), shape=X.shape, copy=False)
    return X


def workspace_dims(dims, X):
    """The layer sizes whose activations a batch of X needs in the workspace: a
    sparse X's rows are never gathered dense (no ``n0`` columns per example)."""
    return (0, *dims[1:]) if is_sparse(X) else tuple(dims)
