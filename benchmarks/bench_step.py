"""Time one training step side by side: the engine (dnn.Network), dnn.functional,
the NumPy reference, PyTorch eager, JAX (the whole step under jax.jit) and
scikit-learn's MLPClassifier (when installed), and the GEMM floor.

A step is forward, cost, backward (without dA0, which training never needs)
and the gradient-descent update, full batch, relu hidden layers, sigmoid or
softmax output. The floor is the time of the step's GEMMs alone, run in C
through dnn_core's own BLAS shim on preallocated buffers
(``dnn_core.gemm_floor``). Every timing is the median over repeats,
with BLAS pinned to one thread (threadpoolctl; torch.set_num_threads(1);
XLA_FLAGS as ``peers.XLA_ONE_THREAD`` unless set), all in one run, so only the
ratios mean anything. Run it under ``taskset -c 1`` to keep it on one core.

Before timing, each row checks that the peers compute the engine's step: a few
steps from the same parameters, then the cost at the parameters reached by
each, relative to the engine's (within 1e-5 in float32, 1e-10 in float64, or
the row says MISMATCH and the exit status is 1).

    python benchmarks/bench_step.py            # all configurations
    python benchmarks/bench_step.py --quick    # fewer repeats
"""
import argparse
import functools
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
import peers  # noqa: E402

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


def engine_steps(X, Y, params, output, lr=1e-3, first_layer="primal"):
    """(run, cost): ``run(k)`` makes k full-batch gradient-descent steps of
    dnn.Network as one call; ``cost()`` is the cost at the current parameters.
    ``first_layer="primal"``: the steps whose GEMMs the floor counts; "auto": the
    dual form of layer 1 where it pays (issue 14: n_x well above m)."""
    dims = [X.shape[0]] + [params[f"W{l}"].shape[0] for l in range(1, len(params) // 2 + 1)]
    net = dnn.Network(dims, "relu", output, dtype=X.dtype, n_threads=1,
                      first_layer=first_layer)
    net.parameters = params
    rows = np.ascontiguousarray(X.T)
    y = Y[0] if output == "sigmoid" else np.argmax(Y, axis=0)

    def run(k):
        net.fit(rows, y, epochs=k, optimizer="gd", learning_rate=lr)

    def cost():
        return net.evaluate(rows, y)["cost"]
    return run, cost


def peer_arrays(X, Y, output, convert):
    """(rows, target) for a peer, each made by ``convert`` from NumPy: X's
    columns as rows; Y's columns (sigmoid) or the class of each column."""
    target = np.ascontiguousarray(Y.T) if output == "sigmoid" else np.argmax(Y, axis=0)
    return convert(np.ascontiguousarray(X.T)), convert(target)


def torch_step(X, Y, params, output, lr=1e-3):
    """(run, cost): ``run()`` is one eager PyTorch step (autograd,
    torch.optim.SGD), ``cost()`` the cost now; None without torch."""
    torch = peers.import_torch(one_thread=True)
    if torch is None:
        return None
    model = peers.torch_network(torch, params)
    rows, target = peer_arrays(X, Y, output, torch.from_numpy)
    loss_fn = peers.torch_loss(torch, output)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def run():
        optimizer.zero_grad(set_to_none=False)
        loss_fn(model(rows), target).backward()
        optimizer.step()

    def cost():
        with torch.no_grad():
            return float(loss_fn(model(rows), target))
    return run, cost


def jax_step(X, Y, params, output, lr=1e-3):
    """(run, cost): ``run()`` is one JAX step (forward, cost, gradient and the
    gradient-descent update, all in one ``jax.jit``, the parameters' buffers
    donated, waited for with ``block_until_ready``), ``cost()`` the cost now;
    None without jax."""
    jax = peers.import_jax(one_thread=True, x64=True)
    if jax is None:
        return None
    jnp = jax.numpy
    loss = peers.jax_loss(jax, output)
    rows, target = peer_arrays(X, Y, output, jnp.asarray)

    @functools.partial(jax.jit, donate_argnums=0)
    def step(p, X, y):
        value, grads = jax.value_and_grad(loss)(p, X, y)
        return jax.tree_util.tree_map(lambda a, g: a - lr * g, p, grads), value

    state = {"p": peers.jax_parameters(jax, params)}

    def run():
        state["p"], _ = step(state["p"], rows, target)
        jax.block_until_ready(state["p"])

    def cost():
        return float(loss(state["p"], rows, target))
    return run, cost


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
    return run, None


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


def check_peers(dims, m, dtype, steps=3):
    """The peers' cost after ``steps`` steps from the engine's starting point,
    relative to the engine's: ``{column: difference or None if missing}``."""
    costs = {}
    for column in ("engine", "auto", "torch", "jax"):
        X, Y, params, output, _ = problem(dims, m, dtype)
        made = MAKERS[column](X, Y, params, output)
        if made is None:
            costs[column] = None
            continue
        run, cost = made
        if column in ("engine", "auto"):
            run(steps)
        else:
            for _ in range(steps):
                run()
        costs[column] = cost()
    return {column: (None if value is None
                     else peers.relative_difference(value, costs["engine"]))
            for column, value in costs.items() if column != "engine"}


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
    rows, checks, mismatch = [], [], False
    with threadpool_limits(1, user_api="blas"):
        blas = sorted({f"{p['internal_api']} {p['version']} ({p['num_threads']} thread)"
                       for p in threadpool_info() if p["user_api"] == "blas"})
        print("BLAS:", "; ".join(blas), flush=True)
        for name, dims, m, dtype in CONFIGS:
            if args.only and args.only not in name:
                continue
            tolerance = 1e-5 if dtype == np.float32 else 1e-10
            differences = check_peers(dims, m, dtype)
            bad = [c for c, d in differences.items() if d is not None and not d <= tolerance]
            mismatch = mismatch or bool(bad)
            check = ", ".join(f"{c} {'not installed' if d is None else f'{d:.1e}'}"
                              for c, d in differences.items())
            check += f" (tolerance {tolerance:.0e})" + (f" MISMATCH: {', '.join(bad)}"
                                                         if bad else "")
            checks.append((name, check))
            print(f"{name:32s} cost after 3 steps, relative to the engine's: {check}",
                  flush=True)
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
                    made = make(X, Y, params, output)
                    function = None if made is None else made[0]
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
            for column in ("auto", "numpy", "torch", "jax", "sklearn"):
                ratios[f"{column}/engine"] = paired_ratio(samples, column, "engine")
            rows.append((name, timings, ratios))
            print(f"{name:32s} " + "  ".join(f"{column} {value * 1e6:.1f}"
                                             for column, value in timings.items()), flush=True)
    print()
    print("Microseconds per training step (median), 1 BLAS thread; ratios are medians of "
          "the ratios within each repeat: step time over the engine's, and the engine's "
          "over the floor. engine: layer 1 primal (the floor's GEMMs); engine auto: "
          "Network's default first_layer='auto' (the dual form where n_x is well above m).")
    print()
    print("| configuration | GEMM floor | engine | engine auto | functional | NumPy | PyTorch "
          "| JAX jit | scikit-learn | engine / floor | auto / engine | NumPy / engine "
          "| PyTorch / engine | JAX / engine | sklearn / engine |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, t, r in rows:
        us = " | ".join(f"{t[c] * 1e6:.1f}" for c in
                        ("floor", "engine", "auto", "functional", "numpy", "torch", "jax",
                         "sklearn"))
        print(f"| {name} | {us} | {r['engine/floor']:.2f} | {r['auto/engine']:.2f} "
              f"| {r['numpy/engine']:.2f} "
              f"| {r['torch/engine']:.2f} | {r['jax/engine']:.2f} | {r['sklearn/engine']:.2f} |")
    print()
    print(f"Versions: {versions()}. Peers' cost after 3 steps from the engine's starting "
          "point, relative to the engine's:")
    for name, check in checks:
        print(f"- {name}: {check}")
    return 1 if mismatch else 0


def versions():
    """The peers' versions, or 'not installed'."""
    found = []
    for name in ("torch", "jax", "sklearn"):
        try:
            module = __import__(name)
        except ImportError:
            found.append(f"{name} not installed")
        else:
            found.append(f"{name} {module.__version__}")
    return ", ".join(found)


def engine_auto_steps(X, Y, params, output, lr=1e-3):
    """engine_steps with ``first_layer="auto"`` (what Network does by default)."""
    return engine_steps(X, Y, params, output, lr, first_layer="auto")


COLUMNS = [("floor", None, False), ("engine", engine_steps, True),
           ("auto", engine_auto_steps, True),
           ("functional", dnn_step, False), ("numpy", numpy_step, False),
           ("torch", torch_step, False), ("jax", jax_step, False),
           ("sklearn", sklearn_step, False)]
MAKERS = {"engine": engine_steps, "auto": engine_auto_steps, "torch": torch_step,
          "jax": jax_step}


if __name__ == "__main__":
    sys.exit(main())
