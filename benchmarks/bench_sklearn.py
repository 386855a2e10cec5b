"""dnn.sklearn.DNNClassifier beside scikit-learn's MLPClassifier, same settings.

MNIST (the first 20,000 training images, float32), hidden layers (256, 128), adam,
batch 200 ("auto"), 5 epochs, one BLAS thread; the two estimators take turns over
3 seeds. Prints seconds per epoch (median), the paired-median ratio, and test
accuracy. Needs scikit-learn and threadpoolctl; MNIST from ../shared/data/mnist or
``--data``.

    python benchmarks/bench_sklearn.py [--data FOLDER] [--samples 20000] [--epochs 5]
"""
import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from dnn.datasets import load_mnist
from dnn.sklearn import DNNClassifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=Path(__file__).resolve().parents[2] / "shared"
                        / "data" / "mnist")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    (X, y), (X_test, y_test) = load_mnist(args.data)
    X, y = X[:args.samples], y[:args.samples]
    seconds = {MLPClassifier: [], DNNClassifier: []}
    accuracy = {MLPClassifier: [], DNNClassifier: []}
    warnings.simplefilter("ignore")   # ConvergenceWarning: the runs are short on purpose
    with threadpool_limits(1):
        for seed in range(args.seeds):
            for cls in seconds:
                model = cls(hidden_layer_sizes=(256, 128), max_iter=args.epochs,
                            n_iter_no_change=args.epochs + 1, random_state=seed)
                start = time.perf_counter()
                model.fit(X, y)
                seconds[cls].append((time.perf_counter() - start) / args.epochs)
                accuracy[cls].append(model.score(X_test, y_test))
    for cls in seconds:
        print(f"{cls.__name__:14s} {np.median(seconds[cls]):.3f} s/epoch "
              f"(runs {', '.join(f'{s:.3f}' for s in seconds[cls])}), test accuracy "
              f"{np.mean(accuracy[cls]):.4f}")
    ratio = np.median(np.array(seconds[MLPClassifier]) / np.array(seconds[DNNClassifier]))
    print(f"MLPClassifier / DNNClassifier time per epoch: {ratio:.2f}")


if __name__ == "__main__":
    main()
