"""Data-parallel steps and the optimizer step: the MNIST-shaped epoch
(60,000 x 784 float32, [784, 256, 128, 10] relu/softmax, batch 128) with dnn's
default threads beside n_threads=1, for each optimizer, columns taking turns.

    python benchmarks/bench_threads.py                  # 3 rounds, gd and adam
    python benchmarks/bench_threads.py --optimizers gd,momentum,nesterov,rmsprop,adam
    python benchmarks/bench_threads.py --busy           # another process keeps a core busy

Reported: seconds per epoch (min and median over rounds), the default's
speed-up over one thread, and each optimizer's epoch over gd's (one thread).
Random data of MNIST's shape (the time does not depend on the values).

OpenBLAS threads per GEMM (issue 12), unsharded fits (batch norm, its shards
turned off: the path a sparse X or a step too small to shard takes):

    python benchmarks/bench_threads.py --gemm           # old rule vs per GEMM vs one thread
    python benchmarks/bench_threads.py --cut-off        # one GEMM: 1 vs 2 threads by size

``--gemm``: float64 epochs (the second of a fit, min and median over rounds) of
networks with batch norm, their columns taking turns: the old rule (one count
for the fit from the average layer's GEMM), per GEMM (dnn's default), and
n_threads=1. ``--cut-off``: one dgemm (scipy.linalg.blas: the same OpenBLAS) on 1 and on 2
OpenBLAS threads, median of 7 rounds taking turns.
"""
import argparse
import contextlib
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


#: (layer_dims, batch): many small layers and one huge; the issue's wide net;
#: many small and one big whose average stays below the cut-off
GEMM_NETS = [([4096, 2048, 32, 32, 32, 10], 512), ([1024, 2048, 2048, 10], 512),
             ([2048, 2048, *[32] * 15, 10], 256)]

@contextlib.contextmanager
def old_rule():
    """The rule before per-GEMM threads: one count for the fit, every CPU if
    the average layer's GEMM reaches dnn._threads.AVERAGE_GEMM_WORK (1e8)."""
    with _threads.per_gemm(False):
        yield


@contextlib.contextmanager
def unsharded():
    """Steps in one thread of the pool (the unsharded path whose GEMMs choose
    their OpenBLAS threads): batch norm ran so before it was sharded too, and
    a sparse X or a step too small to shard still does."""
    shard_count = _threads.shard_count
    _threads.shard_count = lambda *args, **kwargs: 1
    try:
        yield
    finally:
        _threads.shard_count = shard_count


def gemm_epoch_seconds(dims, batch, X, y, mode):
    """The second epoch of an unsharded batch-norm fit: mode "old" (the average
    layer's rule for every GEMM), "per-gemm" or "one" (n_threads=1)."""
    net = dnn.Network(dims, output="softmax", seed=0, batch_norm=True,
                      n_threads=1 if mode == "one" else None)
    with unsharded(), old_rule() if mode == "old" else contextlib.nullcontext():
        history = net.fit(X, y, epochs=2, batch_size=batch, optimizer="adam")
    return history.seconds[-1]


def gemm_main(args):
    rng = np.random.default_rng(0)
    modes = ("old", "per-gemm", "one")
    data = {}
    for dims, batch in GEMM_NETS:
        rows = 4 * batch
        data[tuple(dims)] = (rng.standard_normal((rows, dims[0])),
                             rng.integers(0, dims[-1], rows))
    times = {(tuple(d), mode): [] for d, _ in GEMM_NETS for mode in modes}
    for _ in range(args.rounds):
        for dims, batch in GEMM_NETS:
            for mode in modes:
                times[(tuple(dims), mode)].append(
                    gemm_epoch_seconds(dims, batch, *data[tuple(dims)], mode))
    print(f"float64, batch norm, adam, 4 batches an epoch, {args.rounds} rounds, usable CPUs "
          f"{_threads.usable_cpus()}, cut-off {_threads.THREADED_GEMM_WORK:.0e}")
    print("| layers | batch | old rule's threads | old rule s | per GEMM s | one thread s "
          "| old / per GEMM | one / per GEMM |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for dims, batch in GEMM_NETS:
        with old_rule():
            old_threads = _threads.thread_count(dims, batch)
        old, per, one = (times[(tuple(dims), mode)] for mode in modes)
        name = f"[{dims[0]}, {dims[1]}, 32 x 15, 10]" if len(dims) > 10 else str(dims)
        print(f"| {name} | {batch} | {old_threads} | {min(old):.3f} / {statistics.median(old):.3f}"
              f" | {min(per):.3f} / {statistics.median(per):.3f}"
              f" | {min(one):.3f} / {statistics.median(one):.3f}"
              f" | {min(old) / min(per):.2f} | {min(one) / min(per):.2f} |")


CUT_OFF_SHAPES = [(32, 512, 512), (128, 512, 512), (512, 512, 512), (256, 512, 1024),
                  (2048, 512, 128), (512, 512, 1024), (1024, 512, 512), (512, 1024, 1024),
                  (2048, 512, 512), (2048, 512, 1024)]


def cut_off_main(args):
    from scipy.linalg.blas import dgemm       # (the OpenBLAS that dnn_core calls)
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(0)
    print("| m, n, k | m*n*k | 1 thread ms | 2 threads ms | 1 / 2 |")
    print("|---|---:|---:|---:|---:|")
    for m, n, k in CUT_OFF_SHAPES:
        A = np.asfortranarray(rng.standard_normal((m, k)))
        B = np.asfortranarray(rng.standard_normal((k, n)))
        C = np.zeros((m, n), order="F")
        reps = max(3, int(2e9 / (m * n * k)))
        spent = {1: [], 2: []}
        for _ in range(7):
            for count in (1, 2):
                with threadpool_limits(count, user_api="blas"):
                    began = time.perf_counter()
                    for _ in range(reps):
                        dgemm(1.0, A, B, beta=0.0, c=C, overwrite_c=True)
                    spent[count].append((time.perf_counter() - began) / reps * 1e3)
        one, two = statistics.median(spent[1]), statistics.median(spent[2])
        print(f"| {m}, {n}, {k} | {m * n * k:.1e} | {one:.2f} | {two:.2f} | {one / two:.2f} |",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--optimizers", default="gd,adam")
    parser.add_argument("--busy", action="store_true",
                        help="another process spins on one core meanwhile")
    parser.add_argument("--gemm", action="store_true",
                        help="OpenBLAS threads per GEMM against the old rule (batch norm)")
    parser.add_argument("--cut-off", action="store_true",
                        help="one GEMM on 1 and 2 OpenBLAS threads, by size")
    args = parser.parse_args()
    if args.gemm or args.cut_off:
        (gemm_main if args.gemm else cut_off_main)(args)
        return
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
