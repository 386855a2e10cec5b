"""Time the sparse first-layer kernels (dnn_core.sparse_kernels) beside scipy.sparse
and the dense GEMM on the densified batch, on one mini-batch of a shuffled
order.

Per configuration, columns (microseconds per call, median over repeats, the
columns taking turns so that the machine's noise falls on all of them):

    gather     dnn: X[rows] into compressed columns   | scipy: X[rows] (CSR)
    forward    dnn: Z = W @ Xb.T + b, both loop orders | scipy: Xb @ W.T (W C-order,
               so scipy reads the F-order W.T, copied) | scipy on W.T stored C-order
               (scikit-learn's layout, coef (n_x, n1)) | dense: gather_dense + GEMM
    gradient   dnn: dW = dZ @ Xb / mb, both orders    | scipy: (Xb.T @ dZ.T).T
               | dense: GEMM on the densified batch (gather not included)

BLAS (the GEMMs, through dnn_core's shim) is held to one thread.

    python benchmarks/bench_sparse.py            # every shape, float64 and float32
    python benchmarks/bench_sparse.py --quick
"""
import argparse
import statistics
import time

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

import dnn_core
from dnn_core import sparse_kernels as _sparse

CONFIGS = [  # name, n_rows, n_x, n1, mb, density
    ("text  n_x=50000 n1=100 mb=200 0.1%", 4000, 50_000, 100, 200, 0.001),
    ("mid   n_x=5000  n1=100 mb=200 2%", 4000, 5000, 100, 200, 0.02),
    ("mnist n_x=784   n1=100 mb=128 20%", 4000, 784, 100, 128, 0.20),
]


class Batch:
    """One gathered batch and every buffer the kernels need, preallocated."""

    def __init__(self, X, rows, dtype):
        n_x = X.shape[1]
        nnz = _sparse.batch_nnz(X.indptr, rows)
        self.col_ids = np.empty(min(n_x, nnz), np.int32)
        self.col_ptr = np.empty(min(n_x, nnz) + 1, np.intp)
        self.row_ids = np.empty(nnz, np.int32)
        self.vals = np.empty(nnz, dtype)
        self.work = np.empty(n_x, np.intp)
        self.dense = np.empty((len(rows), n_x), dtype)
        self.X, self.rows = X, rows
        self.n_active = self.gather()

    def gather(self):
        X = self.X
        return _sparse.gather_csc(X.indptr, X.indices, X.data, X.shape[1], self.rows,
                                  self.col_ids, self.col_ptr, self.row_ids, self.vals,
                                  self.work)

    def columns(self):
        return self.col_ids, self.col_ptr, self.row_ids, self.vals, self.n_active


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(name, n_rows, n_x, n1, mb, density, dtype, repeats, rng):
    X = sp.random(n_rows, n_x, density=density, format="csr", dtype=dtype, random_state=rng)
    rows = rng.permutation(n_rows)[:mb]
    B = Batch(X, rows, dtype)
    Xb = X[rows]
    W = rng.standard_normal((n1, n_x)).astype(dtype)
    WT = np.ascontiguousarray(W.T)
    b = rng.standard_normal(n1).astype(dtype)
    Z = np.empty((n1, mb), dtype)
    dZ = rng.standard_normal((n1, mb)).astype(dtype)
    dW = np.empty((n1, n_x), dtype)
    work = np.empty(_sparse.work_size(n1, mb))
    R, C = _sparse.SparseOrder.BY_ROWS, _sparse.SparseOrder.BY_COLUMNS
    X.sort_indices()

    def dense_forward():
        _sparse.gather_dense(X.indptr, X.indices, X.data, rows, B.dense)
        dnn_core.dense_forward(W, B.dense.T, b, Z, Z, 0)

    B.gather()
    _sparse.gather_dense(X.indptr, X.indices, X.data, rows, B.dense)
    columns = {
        "gather dnn": B.gather,
        "gather scipy": lambda: X[rows],
        "forward dnn by rows": lambda: _sparse.forward(*B.columns(), W, b, Z, work, R),
        "forward dnn by cols": lambda: _sparse.forward(*B.columns(), W, b, Z, work, C),
        "forward scipy": lambda: Xb @ W.T,
        "forward scipy W.T C": lambda: Xb @ WT,
        "forward dense+gather": dense_forward,
        "grad dnn by rows": lambda: _sparse.weight_grad(*B.columns(), dZ, dW, 1 / mb, 0, work, R),
        "grad dnn by cols": lambda: _sparse.weight_grad(*B.columns(), dZ, dW, 1 / mb, 0, work, C),
        "grad scipy": lambda: (Xb.T @ dZ.T).T,
        "grad dense": lambda: dnn_core.dense_backward(dZ, B.dense.T, W, dW),
    }
    times = {k: [] for k in columns}
    for _ in range(repeats):
        for k, fn in columns.items():
            times[k].append(timed(fn))
    nnz = Xb.nnz
    print(f"\n{name}, {np.dtype(dtype).name}: batch nnz {nnz}, active columns {B.n_active} "
          f"({nnz / max(B.n_active, 1):.1f} entries each; AUTO picks BY_"
          f"{'COLUMNS' if nnz >= 4 * B.n_active else 'ROWS'})")
    med = {k: statistics.median(t) * 1e6 for k, t in times.items()}
    for k, t in med.items():
        print(f"  {k:22s} {t:10.1f} us")
    auto = "cols" if nnz >= 4 * B.n_active else "rows"
    steps = {  # the first layer's share of a training step, from the medians above
        "dnn (AUTO)": med["gather dnn"] + med[f"forward dnn by {auto}"] + med[f"grad dnn by {auto}"],
        "scipy, W.T C-order": med["gather scipy"] + med["forward scipy W.T C"] + med["grad scipy"],
        "dense gather + GEMMs": med["forward dense+gather"] + med["grad dense"],
    }
    print("  first layer, gather + forward + gradient: " + ", ".join(
        f"{k} {v:.0f} us" for k, v in steps.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    args = ap.parse_args()
    repeats = 7 if args.quick else 31
    dtypes = [np.float64, np.float32] if args.dtype == "both" else [np.dtype(args.dtype).type]
    rng = np.random.default_rng(0)
    with threadpool_limits(1, user_api="blas"):
        for config in CONFIGS:
            for dtype in dtypes:
                run(*config, dtype, repeats, rng)


if __name__ == "__main__":
    main()
