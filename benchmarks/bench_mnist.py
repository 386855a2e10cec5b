"""End to end: MNIST, [784, 256, 128, 10] relu/softmax, Adam (lr 1e-3), batch 128,
float32, a few epochs: dnn.Network beside PyTorch eager with the same recipe.

Each framework runs in its own process (so peak memory is its own), with one
BLAS / intra-op thread. Reported: seconds per epoch (median), test accuracy,
resident memory before fit (data loaded, network built) and its peak
during fit (Linux: /proc/self/status after a reset through clear_refs).

    python benchmarks/bench_mnist.py                      # dnn and torch, 3 epochs
    python benchmarks/bench_mnist.py --epochs 5 --data ../shared/data/mnist
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from dnn.datasets import load_mnist

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
LAYERS = [784, 256, 128, 10]


def load(folder):
    """(train_x, train_y, test_x, test_y): float32 pixels in [0, 1], int64 labels."""
    (train_x, train_y), (test_x, test_y) = load_mnist(folder, dtype="float32")
    return train_x, train_y, test_x, test_y


def _status_mb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb():
    """Resident memory now, MB; and restart the count of the peak (Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status_mb("VmRSS")


def peak_mb():
    """Peak resident memory since rss_mb() was last called (Linux), MB."""
    try:
        return _status_mb("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_dnn(data, epochs, batch):
    import dnn
    from threadpoolctl import threadpool_limits

    train_x, train_y, test_x, test_y = data
    net = dnn.Network(LAYERS, "relu", "softmax", dtype="float32", seed=0, n_threads=1)
    before = rss_mb()
    with threadpool_limits(1, user_api="blas"):
        history = net.fit(train_x, train_y, epochs=epochs, batch_size=batch,
                          optimizer="adam", learning_rate=1e-3)
    peak = peak_mb()
    accuracy = float(np.mean(net.predict(test_x) == test_y))
    engine = net._engine
    buffers = (engine.parameters.nbytes + engine.gradients.nbytes + engine.moments.nbytes
               + engine.snapshot_bytes)
    return dict(seconds=history.seconds, accuracy=accuracy, rss_before=before, rss_peak=peak,
                engine_buffers_mb=buffers / 2 ** 20, n_parameters=engine.size)


def run_torch(data, epochs, batch):
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    train_x, train_y, test_x, test_y = (torch.from_numpy(array) for array in data)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    before = rss_mb()
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(train_x))
        for first in range(0, len(train_x), batch):
            index = order[first:first + batch]
            optimizer.zero_grad()
            loss_fn(model(train_x[index]), train_y[index]).backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    peak = peak_mb()
    with torch.no_grad():
        accuracy = float((model(test_x).argmax(1) == test_y).float().mean())
    return dict(seconds=seconds, accuracy=accuracy, rss_before=before, rss_peak=peak)


RUNNERS = {"dnn": run_dnn, "torch": run_torch}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of the four IDX .gz files")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--frameworks", default="dnn,torch")
    parser.add_argument("--run", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        data = load(args.data)
        print(json.dumps(RUNNERS[args.run](data, args.epochs, args.batch_size)))
        return
    results = {}
    for name in args.frameworks.split(","):
        command = [sys.executable, __file__, "--run", name, "--data", args.data,
                   "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name}: failed or not installed:\n{done.stderr.strip().splitlines()[-1]}")
            continue
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(name, results[name], flush=True)
    print()
    print(f"| framework | s / epoch (median of {args.epochs}) | test accuracy | RSS before fit (MB) "
          "| peak RSS during fit (MB) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {statistics.median(r['seconds']):.2f} | {r['accuracy']:.4f} "
              f"| {r['rss_before']:.0f} | {r['rss_peak']:.0f} |")
    if "dnn" in results:
        r = results["dnn"]
        print(f"\ndnn engine buffers (parameters, gradients, 2 Adam moments, snapshot): "
              f"{r['engine_buffers_mb']:.1f} MB for {r['n_parameters']} parameters")


if __name__ == "__main__":
    main()
