"""dnn.sklearn.DNNClassifier beside scikit-learn's MLPClassifier on sparse data
(issue 11): seconds per epoch and peak memory, each fit in its own child process.

The data: a random CSR (default 20,000 x 50,000 at 0.1 % density, float64),
10 classes; hidden (100,), adam, batch 200, a few epochs (tol=0, so that every
epoch runs). The parent makes the data once and saves them (.npz, a temporary
folder); each child pins BLAS to one thread (OPENBLAS_NUM_THREADS=1 and
threadpoolctl), loads them, then fits; it reports the fit's
seconds per epoch, its resident memory before the fit and its peak
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``), and the training accuracy.
The columns take turns (dnn, sklearn, sklearn, dnn, ...), one child at a time.

    python benchmarks/bench_sparse_fit.py                      # the issue's shape
    python benchmarks/bench_sparse_fit.py --rows 5000 --repeats 1   # quicker
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def make_data(rows, cols, density, classes, seed):
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    X = sp.random(rows, cols, density=density, format="csr", random_state=rng)
    # labels that depend on X (so that training has something to learn)
    W = rng.standard_normal((cols, classes))
    y = np.asarray(np.argmax(X @ W, axis=1)).ravel()
    return X.tocsr(), y


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(args):
    import resource
    import time
    import warnings

    from threadpoolctl import threadpool_limits

    import numpy as np
    import scipy.sparse as sp

    X = sp.load_npz(os.path.join(args.data, "X.npz")).tocsr()
    y = np.load(os.path.join(args.data, "y.npy"))
    params = dict(hidden_layer_sizes=(args.hidden,), solver="adam", batch_size=args.batch,
                  max_iter=args.epochs, tol=0.0, random_state=args.seed)
    if args.child == "dnn":
        from dnn.sklearn import DNNClassifier as Estimator
    else:
        from sklearn.neural_network import MLPClassifier as Estimator
    estimator = Estimator(**params)
    before = rss_bytes()
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(dict(framework=args.child, epoch_seconds=seconds / estimator.n_iter_,
                          epochs=estimator.n_iter_, rss_before=before, peak=peak,
                          accuracy=float(estimator.score(X, y)),
                          dense_bytes=args.rows * args.cols * 8)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--cols", type=int, default=50_000)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=["dnn", "sklearn"])
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as folder:
        import numpy as np
        import scipy.sparse as sp

        X, y = make_data(args.rows, args.cols, args.density, args.classes, args.seed)
        sp.save_npz(os.path.join(folder, "X.npz"), X, compressed=False)
        np.save(os.path.join(folder, "y.npy"), y)
        del X, y
        args.data = folder
        run(args)


def run(args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    results = {"dnn": [], "sklearn": []}
    for r in range(args.repeats):
        for framework in (("dnn", "sklearn") if r % 2 == 0 else ("sklearn", "dnn")):
            command = [sys.executable, __file__, "--child", framework,
                       *(f"--{k}={v}" for k, v in vars(args).items()
                         if k not in ("child", "repeats"))]
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results[framework].append(result)
            print(f"  {framework:8s} {result['epoch_seconds']:7.3f} s/epoch  peak "
                  f"{result['peak'] / 2**20:7.0f} MB (before fit "
                  f"{result['rss_before'] / 2**20:5.0f} MB)  accuracy {result['accuracy']:.3f}",
                  flush=True)
    print(f"\n{args.rows} x {args.cols} CSR at {args.density:.2%} "
          f"(dense float64 would be {args.rows * args.cols * 8 / 2**30:.1f} GiB), "
          f"{args.classes} classes, hidden ({args.hidden},), adam, batch {args.batch}, "
          f"{args.epochs} epochs, one BLAS thread; medians of {args.repeats}")
    print("| | s / epoch | peak RSS (MB) | RSS before fit (MB) | train accuracy |")
    print("|---|---|---|---|---|")
    for framework, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows)
               for k in ("epoch_seconds", "peak", "rss_before", "accuracy")}
        print(f"| {framework} | {med['epoch_seconds']:.2f} | {med['peak'] / 2**20:.0f} | "
              f"{med['rss_before'] / 2**20:.0f} | {med['accuracy']:.3f} |")
    ratio = (statistics.median(r["epoch_seconds"] for r in results["sklearn"])
             / statistics.median(r["epoch_seconds"] for r in results["dnn"]))
    print(f"\nsklearn / dnn time per epoch: {ratio:.2f}")


if __name__ == "__main__":
    main()
