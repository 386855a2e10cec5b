"""Time one training step side by side: the engine (dnn.Network), dnn.functional,
the NumPy reference, PyTorch eager and scikit-learn's MLPClassifier (when
installed), and the GEMM floor.

A step is forward, cost, backward (without dA0, which training never needs)
and the gradient-descent update, full batch, relu hidden layers, sigmoid or
softmax output. The floor is the time of the step's GEMMs alone, run in C
through dnn_core's own BLAS shim on preallocated buffers
(``dnn_core.gemm_floor``). Every timing is the median over repeats,
with BLAS pinned to one thread (threadpoolctl; torch.set_num_threads(1)), all
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

import dnn
from dnn import functional as F
from dnn_core import gemm_floor

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


def engine_steps(X, Y, params, output, lr=1e-3):
    """k full-batch gradient-descent steps of dnn.Network, as one call."""
    dims = [X.shape[0]] + [params[f"W{l}"].shape[0] for l in range(1, len(params) // 2 + 1)]
    net = dnn.Network(dims, "relu", output, dtype=X.dtype, n_threads=1)
    net.parameters = params
    rows = np.ascontiguousarray(X.T)
    y = Y[0] if output == "sigmoid" else np.argmax(Y, axis=0)

    def run(k):
        net.fit(rows, y, epochs=k, optimizer="gd", learning_rate=lr)
    return run


def torch_step(X, Y, params, output, lr=1e-3):
    """One eager PyTorch step (autograd, torch.optim.SGD), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    layers = []
    for l in range(1, len(params) // 2 + 1):
        W = params[f"W{l}"]
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.from_numpy(W).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.zero_()
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    rows = torch.from_numpy(np.ascontiguousarray(X.T))
    if output == "sigmoid":
        target, loss_fn = torch.from_numpy(np.ascontiguousarray(Y.T)), torch.nn.BCEWithLogitsLoss()
    else:
        target = torch.from_numpy(np.argmax(Y, axis=0))
        loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def run():
        optimizer.zero_grad(set_to_none=False)
        loss_fn(model(rows), target).backward()
        optimizer.step()
    return run


def sklearn_step(X, Y, params, output, lr=1e-3):
    """One full-batch MLPClassifier.partial_fit (plain SGD), or None without scikit-learn."""
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    hidden = tuple(params[f"W{l}"].shape[0] for l in range(1, len(params) // 2))
    rows = np.ascontiguousarray(X.T)
    y = Y[0] if output == "sigmoid" else np.argmax(Y, axis=0)
    model = MLPClassifier(hidden, solver="sgd", momentum=0.0, alpha=0.0, batch_size=rows.shape[0],
                          learning_rate_init=lr, shuffle=False)
    classes = np.unique(y)

    def run():
        model.partial_fit(rows, y, classes=classes)
    return run


def timer(function, repeats, min_time=0.2, batched=False):
    """A callable giving one sample, seconds per call, of ``function``; a
    ``batched`` function takes the number of steps to run. None if function is."""
    if function is None:
        return None
    call = function if batched else (lambda k: [function() for _ in range(k)])
    call(1)  # warm up
    # a batched call is timed over several steps, so that the fixed cost of a
    # fit() call (~0.2 ms) does not count as the time of a step
    probe = 1
    while True:
        start = time.perf_counter()
        call(probe)
        once = (time.perf_counter() - start) / probe
        if not batched or probe * once >= 0.05 or probe >= 1000:
            break
        probe *= 10
    inner = max(1, int(min_time / max(once, 1e-9) / repeats))
    if batched:
        inner = max(inner, 4)

    def sample():
        start = time.perf_counter()
        call(inner)
        return (time.perf_counter() - start) / inner
    return sample


def paired_ratio(samples, top, bottom):
    """Median over repeats of top / bottom measured in the same repeat."""
    if not samples[top] or not samples[bottom]:
        return float("nan")
    return statistics.median(a / b for a, b in zip(samples[top], samples[bottom]))


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
            samplers = {}
            for column, make, batched in COLUMNS:
                X, Y, params, output, loss = problem(dims, m, dtype)
                if column == "floor":
                    once = gemm_floor(dims, m, dtype, 1, 0.0)
                    inner_time = max(0.2 / repeats, 2 * once)
                    samplers[column] = (lambda d=dims, mm=m, dt=dtype, t=inner_time:
                                        gemm_floor(d, mm, dt, 1, t))
                    continue
                if column in ("functional", "numpy"):
                    function = (lambda X=X, Y=Y, p=params, o=output, lo=loss, f=make:
                                f(X, Y, p, o, lo))
                else:
                    function = make(X, Y, params, output)
                samplers[column] = timer(function, repeats, batched=batched)
            # the columns take turns within each repeat, so that a change in the
            # machine's load falls on all of them alike
            samples = {column: [] for column in samplers}
            for _ in range(repeats):
                for column, sample in samplers.items():
                    if sample is not None:
                        samples[column].append(sample())
            timings = {column: statistics.median(values) if values else float("nan")
                       for column, values in samples.items()}
            ratios = {"engine/floor": paired_ratio(samples, "engine", "floor")}
            for column in ("numpy", "torch", "sklearn"):
                ratios[f"{column}/engine"] = paired_ratio(samples, column, "engine")
            rows.append((name, timings, ratios))
            print(f"{name:32s} " + "  ".join(f"{column} {value * 1e6:.1f}"
                                             for column, value in timings.items()), flush=True)
    print()
    print("Microseconds per training step (median), 1 BLAS thread; ratios are medians of "
          "the ratios within each repeat: step time over the engine's, and the engine's "
          "over the floor.")
    print()
    print("| configuration | GEMM floor | engine | functional | NumPy | PyTorch | scikit-learn "
          "| engine / floor | NumPy / engine | PyTorch / engine | sklearn / engine |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, t, r in rows:
        us = " | ".join(f"{t[c] * 1e6:.1f}" for c in
                        ("floor", "engine", "functional", "numpy", "torch", "sklearn"))
        print(f"| {name} | {us} | {r['engine/floor']:.2f} | {r['numpy/engine']:.2f} "
              f"| {r['torch/engine']:.2f} | {r['sklearn/engine']:.2f} |")


COLUMNS = [("floor", None, False), ("engine", engine_steps, True),
           ("functional", dnn_step, False), ("numpy", numpy_step, False),
           ("torch", torch_step, False), ("sklearn", sklearn_step, False)]


if __name__ == "__main__":
    main()
