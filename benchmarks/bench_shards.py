"""Data-parallel steps with dropout, with sparse input and with batch norm: an
epoch with dnn's default threads (or ``--threads``) beside n_threads=1, columns
taking turns.

    python benchmarks/bench_shards.py                 # 3 rounds, every workload
    python benchmarks/bench_shards.py --rounds 5 --threads 2
    python benchmarks/bench_shards.py --workloads batch_norm --rounds 5
    python benchmarks/bench_shards.py --workloads batch_norm \
        --bn-dims 784,128,64,10 --bn-dims 784,192,128,10

Workloads (random data; the time does not depend on the values):

- dropout: the MNIST-shaped epoch (30,000 x 784 float32, [784, 256, 128, 10]
  relu/softmax, batch 128, adam) with keep_prob 0.8 on both hidden layers;
- sparse: a CSR X of 30,000 x 20,000 float32 with 100 stored values a row
  (0.5 %), [20,000, 256, 128, 10], batch 128, adam (layer 1 reads the
  compressed columns of each shard's rows).

- batch_norm: MNIST-shaped random data (``--bn-rows`` x 784 float32), each of
  ``--bn-dims`` (default [784, 256, 128, 10] and [784, 64, 64, 10]) relu/softmax
  with batch norm on every hidden layer, batch 128, adam; three columns taking
  turns: n_threads=1, the default (None: dnn._threads.shard_count's choice,
  from (K + 1) SHARD_WORK a shard) and 2 (or ``--threads``). Each sharded step
  runs as 2 K + 2 pool jobs for K batch-norm layers (dnn_core/_bn_shards.pyx):
  the last column gives the jobs a step of the 2-shard fit and how many found
  the pool busy (run in the caller alone).

Reported: seconds of the second epoch (min and median over rounds) and the
speed-up over one thread.
"""
import argparse
import statistics

import numpy as np
import scipy.sparse as sp

import dnn
import dnn_core


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


def epoch_seconds(dims, X, y, fit, n_threads, batch_norm=False, jobs=None):
    """The second epoch's seconds and the shards used; with ``jobs`` (a dict), the
    fit's pool jobs per step and how many of them found the pool busy, into it."""
    net = dnn.Network(dims, output="softmax", dtype="float32", seed=0, n_threads=n_threads,
                      batch_norm=batch_norm)
    before = dnn_core.busy_jobs()
    history = net.fit(X, y, epochs=2, batch_size=128, optimizer="adam", **fit)
    after = dnn_core.busy_jobs()
    if jobs is not None:
        steps = 2 * -(-X.shape[0] // 128)
        jobs["per_step"] = (after[0] - before[0]) / steps
        jobs["busy"] = after[1] - before[1]
    return history.seconds[-1], net._engine.train_shards


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="the sharded column's n_threads (default: dnn's choice)")
    parser.add_argument("--workloads", default="dropout,sparse,batch_norm")
    parser.add_argument("--bn-rows", type=int, default=30_000)
    parser.add_argument("--bn-dims", action="append", default=None,
                        help="a batch-norm network's layer sizes, e.g. 784,256,128,10 "
                             "(repeatable)")
    args = parser.parse_args()
    names = args.workloads.split(",")
    if "batch_norm" in names:
        names.remove("batch_norm")
        batch_norm_section(args)
    if not names:
        return
    print("| workload | shards | 1 thread s (min / median) | sharded s (min / median) "
          "| speed-up (min / median) |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
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


def batch_norm_section(args):
    """One thread, the default and ``--threads`` (2) columns taking turns."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.bn_rows, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.bn_rows)
    forced = args.threads or 2
    columns = (1, None, forced)
    print("| batch norm network | 1 thread s (min / median) | default: shards, s "
          f"(min / median), speed-up | {forced} shards: s (min / median), speed-up "
          "(min / median) | its pool jobs a step, busy |")
    print("|---|---:|---:|---:|---:|")
    for spec in args.bn_dims or ["784,256,128,10", "784,64,64,10"]:
        dims = [int(n) for n in spec.split(",")]
        times = {c: [] for c in columns}
        shards, jobs = {}, {}
        for _ in range(args.rounds):
            for n_threads in columns:
                seconds, used = epoch_seconds(dims, X, y, {}, n_threads, batch_norm=True,
                                              jobs=jobs if n_threads == forced else None)
                times[n_threads].append(seconds)
                shards[n_threads] = used
        one = times[1]

        def cell(c):
            return (f"{min(times[c]):.3f} / {statistics.median(times[c]):.3f}, "
                    f"{min(one) / min(times[c]):.2f} / "
                    f"{statistics.median(one) / statistics.median(times[c]):.2f}")
        print(f"| {dims} | {min(one):.3f} / {statistics.median(one):.3f} | "
              f"{shards[None]}: {cell(None)} | {cell(forced)} | {jobs['per_step']:.0f}, "
              f"{jobs['busy']} |", flush=True)


if __name__ == "__main__":
    main()
