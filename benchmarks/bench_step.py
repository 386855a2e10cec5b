"""Time one training step side by side: dnn.functional, the NumPy reference, the GEMM floor.

A step is forward, cost, backward (without dA0, which training never needs)
and the gradient-descent update. The floor is the time of the step's GEMMs
alone, through dnn_core's own BLAS shim on the same buffers. Every timing is
the median over repeats, with BLAS pinned to one thread (threadpoolctl), all
in one run, so only the ratios mean anything.

    python benchmarks/bench_step.py            # all configurations
    python benchmarks/bench_step.py --quick    # fewer repeats
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from dnn import functional as F
from dnn_core import _blas

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy_reference as R  # noqa: E402

CONFIGS = [
    # (name, layer dims, m, dtype)
    ("[2,4,1] m=400 f64", [2, 4, 1], 400, np.float64),
    ("[64]x11+[1] m=64 f64", [64] * 11 + [1], 64, np.float64),
    ("[784,256,128,10] m=128 f32", [784, 256, 128, 10], 128, np.float32),
    ("[12288,20,7,5,1] m=209 f64", [12288, 20, 7, 5, 1], 209, np.float64),
    ("[1024,2048,2048,10] m=512 f32", [1024, 2048, 2048, 10], 512, np.float32),
]


def problem(dims, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m)).astype(dtype)
    params = F.initialize_parameters(dims, init="he", seed=seed, dtype=dtype)
    if dims[-1] == 1:
        Y = (rng.random((1, m)) < 0.5).astype(dtype)
        output, loss = "sigmoid", "binary_crossentropy"
    else:
        Y = np.eye(dims[-1], dtype=dtype)[:, rng.integers(0, dims[-1], m)]
        output, loss = "softmax", "categorical_crossentropy"
    return X, np.ascontiguousarray(Y), params, output, loss


def dnn_step(X, Y, params, output, loss, lr=1e-3):
    AL, caches = F.forward(X, params, "relu", output)
    F.compute_cost(AL, Y, loss)
    grads = F.backward(AL, Y, caches, "relu", output, loss)
    F.update_parameters(params, grads, lr, inplace=True)


def numpy_step(X, Y, params, output, loss, lr=1e-3):
    new, _ = R.train_step(X, Y, params, lr, "relu", output, loss)
    params.update(new)


def gemm_floor(dims, m, dtype):
    """A function doing just the GEMMs of one step, on preallocated buffers."""
    rng = np.random.default_rng(1)
    Ws = [rng.standard_normal((dims[l], dims[l - 1])).astype(dtype) for l in range(1, len(dims))]
    As = [rng.standard_normal((n, m)).astype(dtype) for n in dims]
    dWs = [np.empty_like(W) for W in Ws]
    dZs = [np.empty((n, m), dtype=dtype) for n in dims[1:]]

    def run():
        for l, W in enumerate(Ws):           # Z[l] = W[l] @ A[l-1]
            _blas.py_gemm(W, As[l], As[l + 1])
        for l in reversed(range(len(Ws))):
            _blas.py_gemm(dZs[l], As[l], dWs[l], 1.0 / m, 0.0, False, True)  # dW = dZ A^T / m
            if l > 0:                        # dA[l-1] = W[l]^T dZ[l]
                _blas.py_gemm(Ws[l], dZs[l], As[l], 1.0, 0.0, True, False)
    return run


def median_time(function, repeats, min_time=0.2):
    function()  # warm up
    start = time.perf_counter()
    function()
    once = time.perf_counter() - start
    inner = max(1, int(min_time / max(once, 1e-9) / repeats))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            function()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", help="run configurations whose name contains this")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 15
    rows = []
    with threadpool_limits(1, user_api="blas"):
        blas = sorted({f"{p['internal_api']} {p['version']} ({p['num_threads']} thread)"
                       for p in threadpool_info() if p["user_api"] == "blas"})
        print("BLAS:", "; ".join(blas), flush=True)
        for name, dims, m, dtype in CONFIGS:
            if args.only and args.only not in name:
                continue
            X, Y, params, output, loss = problem(dims, m, dtype)
            ours = median_time(lambda: dnn_step(X, Y, params, output, loss), repeats)
            X, Y, params, output, loss = problem(dims, m, dtype)
            theirs = median_time(lambda: numpy_step(X, Y, params, output, loss), repeats)
            floor = median_time(gemm_floor(dims, m, dtype), repeats)
            rows.append((name, floor, ours, theirs))
            print(f"{name:32s} floor {floor * 1e6:10.1f} us  dnn {ours * 1e6:10.1f} us  "
                  f"numpy {theirs * 1e6:10.1f} us", flush=True)
    print()
    print("| configuration | GEMM floor (us) | dnn.functional (us) | NumPy reference (us) "
          "| NumPy / dnn | dnn / floor |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, floor, ours, theirs in rows:
        print(f"| {name} | {floor * 1e6:.1f} | {ours * 1e6:.1f} | {theirs * 1e6:.1f} "
              f"| {theirs / ours:.2f} | {ours / floor:.2f} |")


if __name__ == "__main__":
    main()
