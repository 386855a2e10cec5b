"""Data-parallel training over MPI: one MNIST-shaped epoch (60,000 x 784 float32
random data, [784, 256, 128, 10] relu/softmax, Adam, batch 128 per rank) in one
process against ``mpirun -n 2`` (each rank 30,000 rows), one BLAS thread each,
and the figures of the scaling model of benchmarks/README.md.

    python benchmarks/bench_mpi.py               # 3 rounds, 1 process vs 2 ranks
    python benchmarks/bench_mpi.py --rounds 5 --ranks 2,3 --algorithms ring

Reported (seconds per epoch, min and median over the rounds):

- ``single``: ``Network.fit`` in one process (the engine's C loop, n_threads=1),
  the whole call (its checks of X included, as on the ranks);
- ``mpi-1``: ``fit(..., comm=)`` on one rank (the Python step loop: its cost
  over the C loop);
- ``mpi-N``: N ranks, each on 60,000 / N rows, the epoch's wall time (between
  barriers) on rank 0;

then the speed-up of N ranks over ``single``, and for the model: a step's
compute on one rank (``mpi-1``'s epoch / its steps), an Allreduce of the flat
gradient (n_parameters + 4 float32) between the N ranks here, and a step of
the [1024, 2048, 2048, 10] network at batch 128 (``Network.fit`` on 640 rows).
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROWS, FEATURES, LAYERS, BATCH = 60_000, 784, [784, 256, 128, 10], 128
WIDE = [1024, 2048, 2048, 10]


def data(rows=ROWS, features=FEATURES, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((rows, features), dtype=np.float32),
            rng.integers(0, 10, rows).astype(np.int64))


def network(layers=LAYERS):
    import dnn
    return dnn.Network(layers, output="softmax", dtype="float32", seed=0, n_threads=1)


def single(rounds):
    """Network.fit's epoch in one process; and a step of the wide network."""
    X, y = data()
    times = []
    for _ in range(rounds):
        net = network()
        net.fit(X[:2560], y[:2560], epochs=1, batch_size=BATCH)      # (workspaces, pages)
        began = time.perf_counter()         # (the whole call, as on the ranks)
        net.fit(X, y, epochs=1, batch_size=BATCH)
        times.append(time.perf_counter() - began)
    steps = {}
    for layers, name in ((LAYERS, "mnist"), (WIDE, "wide")):
        for batch in (BATCH, 4 * BATCH):
            Xs, ys = data(5 * batch, layers[0], seed=1)
            net = network(layers)
            net.fit(Xs[:batch], ys[:batch], epochs=1, batch_size=batch)
            steps[f"{name}-{batch}"] = min(
                net.fit(Xs, ys, epochs=1, batch_size=batch).seconds[0] / 5 for _ in range(2))
        steps[f"{name}-parameters"] = net.n_parameters
    return {"single": times, "steps": steps, "n_parameters": network().n_parameters}


def worker(rounds):
    """One rank of ``mpirun -n N``: its share of the epoch, timed between barriers."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    X, y = data()
    mine = slice(rank * ROWS // size, (rank + 1) * ROWS // size)
    X, y = np.ascontiguousarray(X[mine]), y[mine]
    times = []
    for _ in range(rounds):
        net = network()
        net.fit(X[:2560], y[:2560], epochs=1, batch_size=BATCH, comm=comm)
        comm.Barrier()
        began = time.perf_counter()
        net.fit(X, y, epochs=1, batch_size=BATCH, comm=comm)
        comm.Barrier()
        times.append(time.perf_counter() - began)
    buffer = np.zeros(net.n_parameters + 4, dtype=np.float32)
    total = np.empty_like(buffer)
    comm.Barrier()
    began = time.perf_counter()
    for _ in range(100):
        comm.Allreduce(buffer, total)
    allreduce = (time.perf_counter() - began) / 100
    if rank == 0:
        print(json.dumps({"times": times, "allreduce": allreduce,
                          "steps": -(-(ROWS // size) // BATCH)}))


#: Open MPI's options for an Allreduce algorithm ("default": its own choice)
ALGORITHMS = {"default": [],
              "ring": ["--mca", "coll_tuned_use_dynamic_rules", "1",
                       "--mca", "coll_tuned_allreduce_algorithm", "4"]}


def run_ranks(n, rounds, algorithm="default"):
    mpirun = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or "mpirun"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = subprocess.run([mpirun, "--bind-to", "none", *ALGORITHMS[algorithm], "-n", str(n),
                          sys.executable, __file__, "--worker", "--rounds", str(rounds)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ranks", default="2")
    parser.add_argument("--algorithms", default="default,ring",
                        help="Open MPI Allreduce algorithms to run the ranks with: "
                             + ", ".join(ALGORITHMS))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.rounds)
    if args.single:
        return print(json.dumps(single(args.rounds)))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    base = json.loads(subprocess.run([sys.executable, __file__, "--single", "--rounds",
                                      str(args.rounds)], env=env, capture_output=True,
                                     text=True, check=True).stdout.strip().splitlines()[-1])
    one = run_ranks(1, args.rounds)
    best = min(base["single"])
    print(f"{'column':>14} {'min s':>8} {'median s':>9} {'speed-up':>9}")
    print(f"{'single':>14} {best:8.3f} {statistics.median(base['single']):9.3f} {1:9.2f}")
    jobs = [("mpi-1", one)] + [(f"mpi-{n} {algorithm}", run_ranks(int(n), args.rounds,
                                                                   algorithm))
                               for n in args.ranks.split(",")
                               for algorithm in args.algorithms.split(",")]
    for label, result in jobs:
        t = result["times"]
        print(f"{label:>14} {min(t):8.3f} {statistics.median(t):9.3f} {best / min(t):9.2f}"
              f"   (Allreduce of {base['n_parameters'] + 4} float32: "
              f"{result['allreduce'] * 1e3:.3f} ms)")
    loop = min(one["times"]) / one["steps"]
    print(f"step, one rank, MNIST network, batch {BATCH}: {loop * 1e3:.2f} ms (Python loop), "
          f"{best / -(-ROWS // BATCH) * 1e3:.2f} ms (C loop)")
    steps = base["steps"]
    for name, layers in (("mnist", LAYERS), ("wide", WIDE)):
        print(f"step (C loop), {layers} ({steps[name + '-parameters']} parameters): "
              + ", ".join(f"batch {b}: {steps[f'{name}-{b}'] * 1e3:.1f} ms"
                          for b in (BATCH, 4 * BATCH)))
    model(steps, loop - best / -(-ROWS // BATCH))


#: the links of the model: name -> (bandwidth in bytes/s, latency of one message in s)
LINKS = {"10 Gb/s": (10e9 / 8, 20e-6), "100 Gb/s": (100e9 / 8, 5e-6)}


def model(steps, overhead):
    """The scaling model of benchmarks/README.md on the measured step times: a
    step on N machines takes ``C(b) + 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1)
    * latency`` (ring Allreduce, no overlap), ``C(b) = c0 + c1 b`` fitted to the
    two batch sizes plus the Python loop's ``overhead``."""
    print(f"\nmodel (ring Allreduce of float32 gradients, no overlap; Python loop "
          f"+{overhead * 1e3:.2f} ms a step); efficiency E = C / step, speed-up N E")
    for name, layers in (("mnist", LAYERS), ("wide", WIDE)):
        t1, t4 = steps[f"{name}-{BATCH}"], steps[f"{name}-{4 * BATCH}"]
        c1 = (t4 - t1) / (3 * BATCH)
        c0 = t1 - c1 * BATCH + overhead
        size = 4 * (steps[f"{name}-parameters"] + 4)
        for link, (bandwidth, latency) in LINKS.items():
            def comm(n):
                return 2 * (n - 1) / n * size / bandwidth + 2 * (n - 1) * latency
            compute = c0 + c1 * BATCH
            cells = " ".join(f"N={n}: {compute / (compute + comm(n)):.2f}/"
                             f"{n * compute / (compute + comm(n)):.1f}x"
                             for n in (2, 8, 32, 128))
            half = next((n for n in range(2, 100_000) if comm(n) >= compute), None)
            need = {n: max(1, math.ceil((4 * comm(n) - c0) / c1)) for n in (8, 64)}
            print(f"  {name} {layers}, {link}: C({BATCH}) {compute * 1e3:.1f} ms, "
                  f"Allreduce {comm(8) * 1e3:.2f} ms at N=8; E/speed-up {cells}; "
                  f"E < 0.5 from N={half}; E >= 0.8 needs batch >= {need[8]} per rank "
                  f"at N=8, {need[64]} at N=64")


if __name__ == "__main__":
    main()
