"""Data-parallel steps and the optimizer step: the MNIST-shaped epoch
(60,000 x 784 float32, [784, 256, 128, 10] relu/softmax, batch 128) with dnn's
default threads beside n_threads=1, for each optimizer, columns taking turns.

    python benchmarks/bench_threads.py                  # 3 rounds, gd and adam
    python benchmarks/bench_threads.py --optimizers gd,momentum,nesterov,rmsprop,adam
    python benchmarks/bench_threads.py --busy           # another process keeps a core busy

Reported: seconds per epoch (min and median over rounds), the default's
speed-up over one thread, and each optimizer's epoch over gd's (one thread).
Random data of MNIST's shape (the time does not depend on the values).
"""
import argparse
import multiprocessing
import statistics
import time

import numpy as np

import dnn
from dnn import _threads

LAYERS = [784, 256, 128, 10]


def _spin(stop):
    while not stop.is_set():
        sum(range(10_000))


def epoch_seconds(X, y, optimizer, n_threads, batch):
    net = dnn.Network(LAYERS, output="softmax", dtype="float32", seed=0, n_threads=n_threads)
    history = net.fit(X, y, epochs=2, batch_size=batch, optimizer=optimizer)
    return history.seconds[-1]          # the second epoch: workspaces made, pages touched


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--optimizers", default="gd,adam")
    parser.add_argument("--busy", action="store_true",
                        help="another process spins on one core meanwhile")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.random((args.rows, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.rows)
    optimizers = args.optimizers.split(",")
    columns = [(opt, n) for opt in optimizers for n in (1, None)]
    stop = multiprocessing.Event()
    spinner = None
    if args.busy:
        spinner = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
        spinner.start()
    times = {c: [] for c in columns}
    try:
        for _ in range(args.rounds):
            for opt, n in columns:
                times[(opt, n)].append(epoch_seconds(X, y, opt, n, args.batch))
    finally:
        stop.set()
        if spinner is not None:
            spinner.join()
    shards = _threads.shard_count(LAYERS, args.batch)
    print(f"{args.rows} x 784 float32, {LAYERS}, batch {args.batch}, {args.rounds} rounds, "
          f"usable CPUs {_threads.usable_cpus()}, default shards {shards}"
          f"{', one core kept busy' if args.busy else ''}")
    print("| optimizer | 1 thread s (min / median) | default s (min / median) "
          "| default speed-up (min) | 1 thread / gd's (min) |")
    print("|---|---:|---:|---:|---:|")
    gd_one = min(times[("gd", 1)]) if ("gd", 1) in times else float("nan")
    for opt in optimizers:
        one, default = times[(opt, 1)], times[(opt, None)]
        print(f"| {opt} | {min(one):.3f} / {statistics.median(one):.3f} "
              f"| {min(default):.3f} / {statistics.median(default):.3f} "
              f"| {min(one) / min(default):.2f} | {min(one) / gd_one:.2f} |")


if __name__ == "__main__":
    main()
