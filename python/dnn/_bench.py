"""``dnn bench``: one training step of the compiled engine beside the same
step written in NumPy from the course's equations.

A step is full-batch forward (relu hidden layers, sigmoid or softmax output),
cost, backward and the gradient-descent update. Both run on one BLAS thread
(threadpoolctl), taking turns within each repeat; medians are reported.
(The repository's ``benchmarks/bench_step.py`` is the fuller version.)
"""
import statistics
import time

import numpy as np

#: (name, layer dims, m, dtype) of the configurations timed
CONFIGS = [
    ("flower-sized [2,4,1] m=400 float64", [2, 4, 1], 400, np.float64),
    ("deep narrow [64]x6+[1] m=64 float64", [64] * 6 + [1], 64, np.float64),
    ("MNIST-sized [784,256,128,10] m=128 float32", [784, 256, 128, 10], 128, np.float32),
]


def numpy_step(X, Y, params, learning_rate, output="sigmoid"):
    """One gradient-descent step in NumPy, the course's equations, in place.

    ``Z[l] = W[l] A[l-1] + b[l]``, ``A[l] = relu(Z[l])`` (hidden) and sigmoid
    or softmax (output); ``dZ[L] = A[L] - Y``; ``dW[l] = dZ[l] A[l-1]^T / m``,
    ``db[l] = sum(dZ[l]) / m``, ``dZ[l-1] = W[l]^T dZ[l] * (Z[l-1] > 0)``;
    ``W -= lr dW``, ``b -= lr db``.

    Parameters
    ----------
    X : ndarray, shape (n_x, m)
    Y : ndarray, shape (n_out, m)
        0/1 labels (sigmoid) or one-hot columns (softmax).
    params : dict
        ``{"W1": (n1, n_x), "b1": (n1, 1), ...}``, updated in place.
    learning_rate : float
    output : {"sigmoid", "softmax"}

    Returns
    -------
    float
        The cost before the update.
    """
    L = len(params) // 2
    m = X.shape[1]
    A, cache = X, []
    for l in range(1, L + 1):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]
        cache.append((A, Z))
        if l < L:
            A = np.maximum(Z, 0)
        elif output == "sigmoid":
            A = 1 / (1 + np.exp(-Z))
        else:
            E = np.exp(Z - Z.max(axis=0, keepdims=True))
            A = E / E.sum(axis=0, keepdims=True)
    if output == "sigmoid":
        cost = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m
    else:
        cost = -np.sum(Y * np.log(A)) / m
    dZ = A - Y
    for l in range(L, 0, -1):
        A_prev, _ = cache[l - 1]
        dW = dZ @ A_prev.T / m
        db = np.sum(dZ, axis=1, keepdims=True) / m
        if l > 1:
            dZ = (params[f"W{l}"].T @ dZ) * (cache[l - 2][1] > 0)
        params[f"W{l}"] -= learning_rate * dW
        params[f"b{l}"] -= learning_rate * db
    return float(cost)


def problem(dims, m, dtype, seed=0):
    """Random inputs, labels and He-initialised parameters.

    Returns
    -------
    X : ndarray, shape (dims[0], m)
    Y : ndarray, shape (dims[-1], m)
    params : dict
    output : {"sigmoid", "softmax"}
    """
    from dnn.functional import initialize_parameters

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m)).astype(dtype)
    params = initialize_parameters(dims, init="he", seed=seed, dtype=dtype)
    if dims[-1] == 1:
        return X, (rng.random((1, m)) < 0.5).astype(dtype), params, "sigmoid"
    Y = np.eye(dims[-1], dtype=dtype)[:, rng.integers(0, dims[-1], m)]
    return X, np.ascontiguousarray(Y), params, "softmax"


def engine_network(X, Y, params, output):
    """A dnn.Network holding ``params``, and the (rows, labels) it trains on."""
    from dnn.network import Network

    dims = [X.shape[0]] + [params[f"W{l}"].shape[0] for l in range(1, len(params) // 2 + 1)]
    net = Network(dims, "relu", output, dtype=X.dtype, n_threads=1)
    net.parameters = params
    labels = Y[0] if output == "sigmoid" else np.argmax(Y, axis=0)
    return net, np.ascontiguousarray(X.T), labels


def _seconds_per_step(run, steps):
    start = time.perf_counter()
    run(steps)
    return (time.perf_counter() - start) / steps


def compare(dims, m, dtype, repeats=5, budget=0.6, learning_rate=1e-3):
    """Median seconds per step of the engine and of :func:`numpy_step`.

    Each repeat times enough steps to fill ``budget / repeats / 2`` seconds per
    side (at least one), the two sides taking turns.

    Returns
    -------
    (engine_seconds, numpy_seconds)
    """
    X, Y, params, output = problem(dims, m, dtype)
    net, rows, labels = engine_network(X, Y, {k: v.copy() for k, v in params.items()},
                                       output)
    lr = dtype(learning_rate)

    def engine(k):
        net.fit(rows, labels, epochs=k, optimizer="gd", learning_rate=learning_rate)

    def reference(k):
        for _ in range(k):
            numpy_step(X, Y, params, lr, output)

    per_side = budget / repeats / 2
    steps = {}
    for name, run in (("engine", engine), ("numpy", reference)):
        once = _seconds_per_step(run, 1)            # warm up, and a first estimate
        once = min(once, _seconds_per_step(run, max(1, int(0.02 / max(once, 1e-7)))))
        steps[name] = max(1, int(per_side / max(once, 1e-7)))
    samples = {"engine": [], "numpy": []}
    for _ in range(repeats):
        samples["engine"].append(_seconds_per_step(engine, steps["engine"]))
        samples["numpy"].append(_seconds_per_step(reference, steps["numpy"]))
    return statistics.median(samples["engine"]), statistics.median(samples["numpy"])


def run(repeats=5, budget=0.6, out=print):
    """Time every configuration of :data:`CONFIGS` and print a table."""
    from threadpoolctl import threadpool_info, threadpool_limits

    rows = []
    with threadpool_limits(1, user_api="blas"):
        blas = sorted({f"{p['internal_api']} {p.get('version') or ''}".strip()
                       for p in threadpool_info() if p["user_api"] == "blas"})
        out(f"one training step (forward, cost, backward, gradient-descent update), "
            f"BLAS on 1 thread ({', '.join(blas) or 'unknown BLAS'}), median of {repeats}")
        out(f"{'configuration':<44} {'dnn engine':>12} {'NumPy':>12} {'NumPy / dnn':>12}")
        for name, dims, m, dtype in CONFIGS:
            engine, reference = compare(dims, m, dtype, repeats, budget)
            rows.append((name, engine, reference))
            out(f"{name:<44} {engine * 1e6:>9.1f} us {reference * 1e6:>9.1f} us "
                f"{reference / engine:>11.1f}x")
    return rows
