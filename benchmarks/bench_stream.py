"""Data bigger than memory: one epoch of a float64 network over a float32 memmap.

Writes an (m, n0) float32 file (a tiled random block, in chunks), then trains
one epoch per shuffle mode in a fresh child process each, while this process
samples the child's private memory (RssAnon, /proc/PID/status) and the bytes
it read from disk (/proc/PID/io). A child that runs past --timeout is killed
(that is how a per-row shuffle over a set bigger than RAM ends). Not run in CI.

    python benchmarks/bench_stream.py --path /work/big.f32 --gb 27 --keep
    python benchmarks/bench_stream.py --path /work/big.f32 --gb 2 --in-memory

The file is deleted at the end unless --keep.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

CHILD = r"""
import json, sys, time
import numpy as np
import dnn
path, m, n0, shuffle, batch, in_memory = sys.argv[1:7]
m, n0, batch = int(m), int(n0), int(batch)
shuffle = {"False": False, "True": True}.get(shuffle, shuffle)
X = np.memmap(path, dtype=np.float32, mode="r", shape=(m, n0))
if in_memory == "1":
    X = np.array(X, dtype=np.float64)          # the whole set in memory, float64
y = (np.arange(m) % 2).astype(np.float64)      # 8 bytes per row
net = dnn.Network([n0, 8, 1], seed=0)
net.fit(X[:1000], y[:1000], epochs=1, batch_size=batch)
print("ready", flush=True)
began = time.perf_counter()
net.fit(X, y, epochs=1, batch_size=batch, optimizer="adam", shuffle=shuffle)
total = time.perf_counter() - began
print(json.dumps({"fit_seconds": total, "epoch_seconds": net.history_.seconds[0],
                  "cost": net.history_.cost[0]}), flush=True)
"""


def _status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None


def _read_bytes(pid):
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("read_bytes:"):
                    return int(line.split()[1])
    except OSError:
        return None


def write(path, m, n0, chunk_rows=1 << 16):
    rng = np.random.default_rng(0)
    tile = rng.standard_normal((chunk_rows, n0)).astype(np.float32)
    began = time.perf_counter()
    with open(path, "wb") as f:
        for start in range(0, m, chunk_rows):
            f.write(tile[:min(chunk_rows, m - start)].tobytes())
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - began


def run(path, m, n0, shuffle, batch, timeout, in_memory=False):
    child = subprocess.Popen([sys.executable, "-c", CHILD, path, str(m), str(n0), str(shuffle),
                              str(batch), "1" if in_memory else "0"],
                             stdout=subprocess.PIPE, text=True, cwd="/tmp",
                             env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert child.stdout.readline().strip() == "ready"
    base = _status(child.pid, "RssAnon")
    read0 = _read_bytes(child.pid) or 0
    peak, began, killed, read = base, time.perf_counter(), False, read0
    while child.poll() is None:
        anon = _status(child.pid, "RssAnon")
        if anon is not None:
            peak = max(peak, anon)
            read = _read_bytes(child.pid)
        if time.perf_counter() - began > timeout:
            child.kill()
            killed = True
            break
        time.sleep(0.05)
    out = child.stdout.read()
    child.wait()
    result = json.loads(out.strip().splitlines()[-1]) if not killed else {}
    result.update(shuffle=str(shuffle), in_memory=in_memory, killed=killed,
                  wall_seconds=round(time.perf_counter() - began, 1),
                  base_rss_anon_mib=round(base / 2**20, 1),
                  peak_rss_anon_mib=round(peak / 2**20, 1),
                  read_gib=round(((read or 0) - read0) / 2**30, 1))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True)
    parser.add_argument("--gb", type=float, default=27.0, help="file size, 1e9 bytes")
    parser.add_argument("--n0", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--shuffles", default="False,blocks,rows")
    parser.add_argument("--in-memory", action="store_true",
                        help="also time the same epochs on the data as float64 in memory")
    parser.add_argument("--keep", action="store_true", help="keep the file")
    args = parser.parse_args()
    m = int(args.gb * 1e9) // (4 * args.n0)
    try:
        if not (os.path.exists(args.path) and os.path.getsize(args.path) == m * args.n0 * 4):
            seconds = write(args.path, m, args.n0)
            print(json.dumps({"wrote_gb": m * args.n0 * 4 / 1e9, "rows": m,
                              "seconds": round(seconds, 1)}), flush=True)
        for shuffle in args.shuffles.split(","):
            print(json.dumps(run(args.path, m, args.n0, shuffle, args.batch, args.timeout)),
                  flush=True)
            if args.in_memory:
                print(json.dumps(run(args.path, m, args.n0, shuffle, args.batch,
                                     args.timeout, in_memory=True)), flush=True)
    finally:
        if not args.keep and os.path.exists(args.path):
            os.remove(args.path)


if __name__ == "__main__":
    main()
