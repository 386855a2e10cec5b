"""Data-parallel steps with dropout and with sparse input: an epoch with dnn's
default threads (or ``--threads``) beside n_threads=1, columns taking turns.

    python benchmarks/bench_shards.py                 # 3 rounds, both workloads
    python benchmarks/bench_shards.py --rounds 5 --threads 2

Workloads (random data; the time does not depend on the values):

- dropout: the MNIST-shaped epoch (30,000 x 784 float32, [784, 256, 128, 10]
  relu/softmax, batch 128, adam) with keep_prob 0.8 on both hidden layers;
- sparse: a CSR X of 30,000 x 20,000 float32 with 100 stored values a row
  (0.5 %), [20,000, 256, 128, 10], batch 128, adam (layer 1 reads the
  compressed columns of each shard's rows).

Reported: seconds of the second epoch (min and median over rounds) and the
speed-up over one thread.
"""
import argparse
import statistics

import numpy as np
import scipy.sparse as sp

import dnn


def workload(name, rows):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, rows)
    if name == "dropout":
        X = rng.standard_normal((rows, 784), dtype=np.float32)
        return [784, 256, 128, 10], X, y, dict(keep_prob=0.8)
    per_row, n_x = 100, 20_000
    indices = rng.integers(0, n_x, rows * per_row).astype(np.int32)
    X = sp.csr_matrix((rng.standard_normal(rows * per_row, dtype=np.float32), indices,
                       np.arange(0, rows * per_row + 1, per_row)), shape=(rows, n_x))
    X.sum_duplicates()
    return [n_x, 256, 128, 10], X, y, {}


def epoch_seconds(dims, X, y, fit, n_threads):
    net = dnn.Network(dims, output="softmax", dtype="float32", seed=0, n_threads=n_threads)
    history = net.fit(X, y, epochs=2, batch_size=128, optimizer="adam", **fit)
    return history.seconds[-1], net._engine.train_shards


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="the sharded column's n_threads (default: dnn's choice)")
    parser.add_argument("--workloads", default="dropout,sparse")
    args = parser.parse_args()
    print("| workload | shards | 1 thread s (min / median) | sharded s (min / median) "
          "| speed-up (min / median) |")
    print("|---|---:|---:|---:|---:|")
    for name in args.workloads.split(","):
        dims, X, y, fit = workload(name, args.rows)
        times = {1: [], args.threads: []}
        shards = 1
        for _ in range(args.rounds):
            for n_threads in (1, args.threads):
                seconds, used = epoch_seconds(dims, X, y, fit, n_threads)
                times[n_threads].append(seconds)
                if n_threads != 1:
                    shards = used
        one, many = times[1], times[args.threads]
        print(f"| {name} | {shards} | {min(one):.3f} / {statistics.median(one):.3f} | "
              f"{min(many):.3f} / {statistics.median(many):.3f} | "
              f"{min(one) / min(many):.2f} / "
              f"{statistics.median(one) / statistics.median(many):.2f} |", flush=True)


if __name__ == "__main__":
    main()
