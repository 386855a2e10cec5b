"""The dual-form first layer (issue 14) beside the primal engine and the course's
NumPy loop, in one run, BLAS pinned to one thread (threadpoolctl).

1. The cat app: 2,500 iterations of full-batch gd on [12288, 20, 7, 5, 1], 209
   images: the course's NumPy loop (benchmarks/numpy_reference.py), then
   ``dnn.course.L_layer_model`` (which picks the dual form here), then
   ``dnn.Network(..., first_layer="primal"|"dual")`` full batch (the engine
   both ways). Needs h5py and the course's files in ../shared/data.
2. A synthetic [20000, 64, 1] problem, m = 500, full-batch gd: primal vs dual.
3. The cut-over: m = 200, [n_x, 20, 1], 200 epochs of full-batch gd (and of
   mini-batches of 50) as n_x / m varies; seconds per fit both ways, and what
   "auto" picks.
4. scikit-learn's sgd (one fit an epoch, inside ``Network.consecutive_fits``):
   ``DNNClassifier(solver="sgd")`` on the cat app's shape, 200 epochs,
   first_layer primal / dual / auto, taking turns.
5. Mini-batch momentum with and without L2, float64 and float32: [20000, 100,
   1], m = 1000, batches of 200, 30 epochs, primal vs dual taking turns (the
   L2 term's ||W1||^2 tracked step by step in the dual form).

    python benchmarks/bench_dual.py               # all five
    python benchmarks/bench_dual.py --quick       # fewer iterations
"""
import argparse
import importlib.util
import pathlib
import sys
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import dnn

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "catvnoncat"


def reference():
    spec = importlib.util.spec_from_file_location("numpy_reference",
                                                  HERE / "numpy_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seconds(function, repeats=1):
    """The lowest time of ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def fit_seconds(dims, X, y, mode, epochs, batch_size=None, repeats=1):
    def run():
        net = dnn.Network(dims, seed=0, first_layer=mode, n_threads=1)
        net.fit(X, y, epochs=epochs, optimizer="gd", learning_rate=0.0075,
                batch_size=batch_size)
        return net
    return seconds(run, repeats)


def cat_app(iterations):
    try:
        import h5py
    except ImportError:
        print("cat app: skipped (h5py is not installed)")
        return
    if not DATA.is_dir():
        print(f"cat app: skipped (no data at {DATA})")
        return
    with h5py.File(DATA / "train_catvnoncat.h5", "r") as f:
        X = f["train_set_x"][:].reshape(209, -1).T / 255
        Y = f["train_set_y"][:].reshape(1, -1).astype(float)
    dims = [12288, 20, 7, 5, 1]
    R = reference()
    t_numpy, (_, ref_costs) = seconds(lambda: R.L_layer_model(X, Y, dims,
                                                              num_iterations=iterations))
    t_course, (params, costs) = seconds(lambda: dnn.course.L_layer_model(
        X, Y, dims, num_iterations=iterations))
    rows, labels = np.ascontiguousarray(X.T), Y.ravel()
    t_primal, _ = fit_seconds(dims, rows, labels, "primal", iterations)
    t_dual, _ = fit_seconds(dims, rows, labels, "dual", iterations)
    agree = np.max(np.abs(np.array(costs, float) - np.array(ref_costs, float)))
    print(f"cat app, {iterations} iterations of [12288, 20, 7, 5, 1], m = 209, one thread")
    print(f"  course's NumPy loop            {t_numpy:8.2f} s")
    print(f"  dnn.course.L_layer_model       {t_course:8.2f} s   {t_numpy / t_course:6.1f}x"
          f"   (cost trace within {agree:.1e} of NumPy's)")
    print(f"  Network, first_layer=primal    {t_primal:8.2f} s   {t_numpy / t_primal:6.1f}x")
    print(f"  Network, first_layer=dual      {t_dual:8.2f} s   {t_numpy / t_dual:6.1f}x"
          f"   ({t_primal / t_dual:.1f}x the primal engine)")


def synthetic(epochs):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 20000))
    y = (X[:, :10].sum(1) > 0).astype(float)
    dims = [20000, 64, 1]
    t_primal, _ = fit_seconds(dims, X, y, "primal", epochs)
    t_dual, _ = fit_seconds(dims, X, y, "dual", epochs)
    print(f"[20000, 64, 1], m = 500, {epochs} epochs of full-batch gd, one thread")
    print(f"  primal {t_primal:7.2f} s, dual {t_dual:7.2f} s: dual {t_primal / t_dual:.1f}x")


def sklearn_sgd(epochs, rounds=3):
    from sklearn.exceptions import ConvergenceWarning
    from dnn.sklearn import DNNClassifier
    warnings.simplefilter("ignore", ConvergenceWarning)
    rng = np.random.default_rng(2)
    X = rng.random((209, 12288))
    y = (X[:, :50].sum(1) > 25).astype(int)
    times = {mode: [] for mode in ("primal", "dual", "auto")}
    coefs = {}
    for _ in range(rounds):
        for mode in times:
            clf = DNNClassifier(hidden_layer_sizes=(20, 7, 5), solver="sgd",
                                learning_rate_init=0.01, max_iter=epochs, tol=0.0,
                                n_iter_no_change=epochs + 1, random_state=0,
                                first_layer=mode, n_threads=1)
            start = time.perf_counter()
            clf.fit(X, y)
            times[mode].append(time.perf_counter() - start)
            coefs[mode] = (clf.coefs_[0].copy(), clf.network_.first_layer_)
    gap = np.max(np.abs(coefs["dual"][0] - coefs["primal"][0]))
    print(f"scikit-learn sgd, [12288, 20, 7, 5, 1], m = 209 (batches of 200), {epochs} "
          f"epochs, one thread, least of {rounds}")
    for mode, values in times.items():
        print(f"  first_layer={mode:6s} {min(values):7.2f} s   "
              f"{min(times['primal']) / min(values):5.2f}x primal"
              f"   (last epoch: {coefs[mode][1]})")
    print(f"  max |coefs_[0] dual - primal| = {gap:.1e}")


def momentum_l2(epochs, rounds=2):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1000, 20000))
    y = (X[:, :10].sum(1) > 0).astype(float)
    columns = [(dtype, l2, mode) for dtype in ("float64", "float32") for l2 in (0.0, 1e-4)
               for mode in ("primal", "dual")]
    times = {column: [] for column in columns}
    for _ in range(rounds):
        for dtype, l2, mode in columns:
            net = dnn.Network([20000, 100, 1], seed=0, first_layer=mode, n_threads=1,
                              dtype=dtype)
            start = time.perf_counter()
            net.fit(X, y, epochs=epochs, optimizer="momentum", learning_rate=0.01, l2=l2,
                    batch_size=200)
            times[dtype, l2, mode].append(time.perf_counter() - start)
    print(f"[20000, 100, 1], m = 1000, batches of 200, momentum, {epochs} epochs, one "
          f"thread, least of {rounds}")
    for dtype, l2, mode in columns:
        best = min(times[dtype, l2, mode])
        print(f"  {dtype} l2={l2:<6g} {mode:6s} {best:7.2f} s   "
              f"{min(times[dtype, l2, 'primal']) / best:5.2f}x primal")


def cut_over(epochs):
    rng = np.random.default_rng(1)
    m = 200
    print(f"cut-over: m = {m}, [n_x, 20, 1], {epochs} epochs of gd, one thread "
          f"(seconds per fit; auto's pick)")
    print("   n_x   n_x/m  batch   primal      dual   primal/dual  auto")
    for n_x in (50, 100, 200, 400, 800, 1600, 3200, 6400):
        X = rng.standard_normal((m, n_x))
        y = (X[:, 0] > 0).astype(float)
        for batch in (None, 50):
            dims = [n_x, 20, 1]
            t_primal, _ = fit_seconds(dims, X, y, "primal", epochs, batch, repeats=3)
            t_dual, _ = fit_seconds(dims, X, y, "dual", epochs, batch, repeats=3)
            auto = dnn.Network(dims, seed=0, n_threads=1)
            auto.fit(X, y, epochs=epochs, optimizer="gd", batch_size=batch)
            print(f"  {n_x:5d} {n_x / m:6.2f}  {batch or m:5d}  {t_primal:7.4f}  {t_dual:8.4f}"
                  f"   {t_primal / t_dual:8.2f}     {auto.first_layer_}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("cat", "synthetic", "cutover", "sklearn", "l2"))
    args = parser.parse_args(argv)
    with threadpool_limits(1):
        if args.only in (None, "cat"):
            cat_app(500 if args.quick else 2500)
        if args.only in (None, "synthetic"):
            synthetic(20 if args.quick else 100)
        if args.only in (None, "cutover"):
            cut_over(50 if args.quick else 200)
        if args.only in (None, "sklearn"):
            sklearn_sgd(50 if args.quick else 200)
        if args.only in (None, "l2"):
            momentum_l2(5 if args.quick else 30)


if __name__ == "__main__":
    sys.exit(main())
