"""The MNIST Adam epoch: [784, 256, 128, 10] relu/softmax, Adam (lr 1e-3),
batch 128, float32, 60,000 training images, in dnn.Network, PyTorch eager and
JAX (the step under jax.jit), each with its default threads and pinned to one.

Every column (framework x threads) runs in a fresh process, the columns taking
turns round after round (the order rotating), so that a change in the
machine's load falls on all of them. One thread means ``taskset -c 1`` plus
the framework's own setting: ``OPENBLAS_NUM_THREADS=1`` and ``n_threads=1``
(dnn), ``torch.set_num_threads(1)``, ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1`` (JAX); default threads means none of these
(the variables are removed from the child's environment).

All start from the same initial parameters (dnn's He initialisation, seed 0)
and shuffle every epoch with their own generator. The first epoch of a process
(JAX's compilation, workspaces, page faults) is not timed; a process's figure
is the least of its other epochs; the table gives the least and the median over
rounds, and the ratios the goals of issue 12 are stated in. Before timing,
each process checks that it computes dnn's training: a few Adam steps over the
first batches in order (no shuffle), then the cost on those rows, which must
equal the one-thread dnn process's within 1e-5 (else MISMATCH, exit status 1).
Also reported: test accuracy, resident memory before fit and its peak during
fit (Linux).

    python benchmarks/bench_mnist.py                          # 3 rounds, 3 epochs
    python benchmarks/bench_mnist.py --rounds 5 --frameworks dnn,jax --threads one
    python benchmarks/bench_mnist.py --random                 # MNIST-shaped random data
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
LAYERS = [784, 256, 128, 10]
LEARNING_RATE, BETA1, BETA2, EPSILON = 1e-3, 0.9, 0.999, 1e-8
FRAMEWORKS = ("dnn", "torch", "jax")
THREADS = ("default", "one")
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")
TOLERANCE = 1e-5


class Missing(Exception):
    """A peer framework is not installed."""


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


# -- the data and the starting point, made once by the parent ------------------------

def prepare(folder, random_data, workdir):
    """Write the data and dnn's initial parameters to ``workdir``; say which data."""
    import dnn
    from dnn.datasets import load_mnist

    if random_data or not Path(folder).is_dir():
        rng = np.random.default_rng(0)
        train_x = rng.random((60_000, 784), dtype=np.float32)
        test_x = rng.random((10_000, 784), dtype=np.float32)
        train_y, test_y = rng.integers(0, 10, 60_000), rng.integers(0, 10, 10_000)
        what = "random MNIST-shaped data" + ("" if random_data else f" ({folder} not found)")
    else:
        (train_x, train_y), (test_x, test_y) = load_mnist(folder, dtype="float32")
        what = f"MNIST from {folder}"
    for name, array in (("train_x", train_x), ("train_y", train_y.astype(np.int64)),
                        ("test_x", test_x), ("test_y", test_y.astype(np.int64))):
        np.save(Path(workdir) / f"{name}.npy", np.ascontiguousarray(array))
    net = dnn.Network(LAYERS, "relu", "softmax", dtype="float32", seed=0)
    np.savez(Path(workdir) / "initial.npz", **net.parameters)
    return what


def load(workdir):
    """(data, params): (train_x, train_y, test_x, test_y) and the initial parameters."""
    data = tuple(np.load(Path(workdir) / f"{name}.npy")
                 for name in ("train_x", "train_y", "test_x", "test_y"))
    with np.load(Path(workdir) / "initial.npz") as saved:
        params = {name: saved[name] for name in saved.files}
    return data, params


# -- one framework, in its own process ------------------------------------------------

def run_dnn(data, params, one_thread, epochs, batch, shuffle, check_steps):
    import dnn

    train_x, train_y, test_x, test_y = data
    n_threads = 1 if one_thread else None

    def network():
        net = dnn.Network(LAYERS, "relu", "softmax", dtype="float32", seed=0,
                          n_threads=n_threads)
        net.parameters = params
        return net

    rows = check_steps * batch
    net = network()
    net.fit(train_x[:rows], train_y[:rows], epochs=1, batch_size=batch, optimizer="adam",
            learning_rate=LEARNING_RATE, shuffle=False)
    check_cost = net.evaluate(train_x[:rows], train_y[:rows])["cost"]
    net = network()
    before = rss_mb()
    history = net.fit(train_x, train_y, epochs=epochs, batch_size=batch, optimizer="adam",
                      learning_rate=LEARNING_RATE, shuffle="rows" if shuffle else False)
    peak = peak_mb()
    accuracy = float(np.mean(net.predict(test_x) == test_y))
    return dict(seconds=list(history.seconds), accuracy=accuracy, rss_before=before,
                rss_peak=peak, check_cost=check_cost, version=dnn.__version__ if hasattr(
                    dnn, "__version__") else "")


def run_torch(data, params, one_thread, epochs, batch, shuffle, check_steps):
    torch = peers.import_torch(one_thread)
    if torch is None:
        raise Missing("torch not installed")
    train_x, train_y, test_x, test_y = (torch.from_numpy(array) for array in data)
    loss_fn = peers.torch_loss(torch, "softmax")
    generator = torch.Generator().manual_seed(0)

    def train(x, y, n_epochs, shuffled):
        model = peers.torch_network(torch, params)
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE,
                                     betas=(BETA1, BETA2), eps=EPSILON)
        seconds = []
        for _ in range(n_epochs):
            start = time.perf_counter()
            order = torch.randperm(len(x), generator=generator) if shuffled else None
            for first in range(0, len(x), batch):
                if shuffled:
                    index = order[first:first + batch]
                    xb, yb = x[index], y[index]
                else:
                    xb, yb = x[first:first + batch], y[first:first + batch]
                optimizer.zero_grad()
                loss_fn(model(xb), yb).backward()
                optimizer.step()
            seconds.append(time.perf_counter() - start)
        return model, seconds

    rows = check_steps * batch
    model, _ = train(train_x[:rows], train_y[:rows], 1, False)
    with torch.no_grad():
        check_cost = float(loss_fn(model(train_x[:rows]), train_y[:rows]))
    before = rss_mb()
    model, seconds = train(train_x, train_y, epochs, shuffle)
    peak = peak_mb()
    with torch.no_grad():
        accuracy = float((model(test_x).argmax(1) == test_y).float().mean())
    return dict(seconds=seconds, accuracy=accuracy, rss_before=before, rss_peak=peak,
                check_cost=check_cost, version=torch.__version__,
                threads=torch.get_num_threads())


def adam(jax):
    """(init, update, name): optax.adam if installed, else the same rule by hand."""
    jnp = jax.numpy
    try:
        import optax
    except ImportError:
        optax = None
    if optax is not None:
        optimizer = optax.adam(LEARNING_RATE, b1=BETA1, b2=BETA2, eps=EPSILON)

        def update(grads, state, p):
            updates, state = optimizer.update(grads, state, p)
            return optax.apply_updates(p, updates), state
        return optimizer.init, update, f"optax {optax.__version__}"

    def init(p):
        # two trees of their own: donated buffers must not be shared
        return (jnp.zeros((), jnp.int32), jax.tree_util.tree_map(jnp.zeros_like, p),
                jax.tree_util.tree_map(jnp.zeros_like, p))

    def update(grads, state, p):
        # v = b1 v + (1 - b1) g; s = b2 s + (1 - b2) g^2;
        # p -= lr (v / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)
        t, v, s = state
        t = t + 1
        v = jax.tree_util.tree_map(lambda a, g: BETA1 * a + (1 - BETA1) * g, v, grads)
        s = jax.tree_util.tree_map(lambda a, g: BETA2 * a + (1 - BETA2) * g * g, s, grads)
        c1 = (1 - BETA1 ** t.astype(jnp.float32))
        c2 = (1 - BETA2 ** t.astype(jnp.float32))
        p = jax.tree_util.tree_map(
            lambda a, m, r: a - LEARNING_RATE * (m / c1) / (jnp.sqrt(r / c2) + EPSILON),
            p, v, s)
        return p, (t, v, s)
    return init, update, "hand-written Adam"


def run_jax(data, params, one_thread, epochs, batch, shuffle, check_steps):
    jax = peers.import_jax(one_thread)
    if jax is None:
        raise Missing("jax not installed")
    jnp = jax.numpy
    import functools

    loss = peers.jax_loss(jax, "softmax")
    init, update, adam_name = adam(jax)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(p, state, x, y, index):
        value, grads = jax.value_and_grad(loss)(p, x[index], y[index])
        p, state = update(grads, state, p)
        return p, state, value

    train_x, train_y, test_x, test_y = (jnp.asarray(array) for array in data)
    rng = np.random.default_rng(0)

    def train(n_rows, n_epochs, shuffled):
        p = peers.jax_parameters(jax, params)
        state = init(p)
        seconds = []
        for _ in range(n_epochs):
            start = time.perf_counter()
            order = (rng.permutation(n_rows) if shuffled else np.arange(n_rows)).astype(np.int32)
            for first in range(0, n_rows, batch):
                p, state, _ = step(p, state, train_x, train_y, order[first:first + batch])
            jax.block_until_ready(p)
            seconds.append(time.perf_counter() - start)
        return p, seconds

    rows = check_steps * batch
    p, _ = train(rows, 1, False)
    check_cost = float(loss(p, train_x[:rows], train_y[:rows]))
    before = rss_mb()
    p, seconds = train(len(train_x), epochs, shuffle)
    peak = peak_mb()
    predicted = jax.jit(lambda p, x: jnp.argmax(peers.jax_logits(jax, p, x), axis=1))(p, test_x)
    accuracy = float(jnp.mean(predicted == test_y))
    return dict(seconds=seconds, accuracy=accuracy, rss_before=before, rss_peak=peak,
                check_cost=check_cost, version=f"jax {jax.__version__}, {adam_name}",
                devices=str(jax.devices()))


RUNNERS = {"dnn": run_dnn, "torch": run_torch, "jax": run_jax}


def child(args):
    data, params = load(args.workdir)
    try:
        result = RUNNERS[args.run](data, params, args.threads == "one", args.epochs,
                                   args.batch_size, not args.no_shuffle, args.check_steps)
    except Missing as missing:
        result = {"missing": str(missing)}
    result["affinity"] = sorted(os.sched_getaffinity(0))
    print(json.dumps(result))


# -- the parent: columns taking turns ---------------------------------------------------

def command(args, framework, threads):
    """(argv, env) of one column's process."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--run", framework, "--threads", threads,
            "--workdir", args.workdir, "--epochs", str(args.epochs),
            "--batch-size", str(args.batch_size), "--check-steps", str(args.check_steps)]
    if args.no_shuffle:
        argv.append("--no-shuffle")
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    if threads == "one":
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", XLA_FLAGS=peers.XLA_ONE_THREAD)
        if shutil.which("taskset") and 1 in os.sched_getaffinity(0):
            argv = ["taskset", "-c", "1"] + argv
    return argv, env


def run_column(args, framework, threads):
    """The child's result dict, or {"missing": ...} / {"failed": ...}."""
    argv, env = command(args, framework, threads)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=args.workdir)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"failed": tail}
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(results):
    """Per column: (least, median) over rounds of each round's least timed epoch."""
    out = {}
    for column, rounds in results.items():
        figures = [min(r["seconds"][1:] or r["seconds"]) for r in rounds if "seconds" in r]
        out[column] = (min(figures), statistics.median(figures)) if figures else None
    return out


def ratio_line(label, top, bottom, times, goal=None):
    """``label: least / median ratio`` of two columns' times, with the goal if any."""
    if times.get(top) is None or times.get(bottom) is None:
        return f"- {label}: n/a (a column is missing)"
    least, median = (times[top][i] / times[bottom][i] for i in (0, 1))
    text = f"- {label}: {least:.2f}x (least) / {median:.2f}x (median)"
    if goal is not None:
        text += f"; goal >= {goal}x: {'met' if least >= goal and median >= goal else 'NOT met'}"
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA),
                        help="folder of MNIST's four IDX .gz files")
    parser.add_argument("--random", action="store_true", help="random MNIST-shaped data")
    parser.add_argument("--epochs", type=int, default=3, help="per process, the first untimed")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--check-steps", type=int, default=3)
    parser.add_argument("--no-shuffle", action="store_true")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--threads", default=",".join(THREADS),
                        help="default, one or both (in a child: which)")
    parser.add_argument("--run", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error(f"--epochs: expected at least 2 (the first is not timed), got {args.epochs}")
    if args.run:
        child(args)
        return 0
    frameworks = args.frameworks.split(",")
    threads = args.threads.split(",")
    for name, given, allowed in (("--frameworks", frameworks, FRAMEWORKS),
                                 ("--threads", threads, THREADS)):
        if not given or any(g not in allowed for g in given):
            parser.error(f"{name}: expected a comma-separated subset of {','.join(allowed)}, "
                         f"got {','.join(given)}")
    columns = [(f, t) for t in threads for f in frameworks]
    results = {column: [] for column in columns}
    with tempfile.TemporaryDirectory(prefix="bench_mnist_") as workdir:
        args.workdir = workdir
        print(f"Data: {prepare(args.data, args.random, workdir)}; {args.rounds} rounds of "
              f"{args.epochs} epochs (first untimed), batch {args.batch_size}, "
              f"shuffle {not args.no_shuffle}, usable CPUs {sorted(os.sched_getaffinity(0))}",
              flush=True)
        for round_ in range(args.rounds):
            shift = round_ % len(columns)
            for column in columns[shift:] + columns[:shift]:
                result = run_column(args, *column)
                results[column].append(result)
                shown = {k: (round(v, 3) if isinstance(v, float) else
                             [round(x, 3) for x in v] if k == "seconds" else v)
                         for k, v in result.items()}
                print(f"round {round_ + 1} {column[0]}/{column[1]}: {shown}", flush=True)
    return report(results, args)


def report(results, args):
    """Print the table, the ratios and the check; 1 if a check failed, else 0."""
    times = summary(results)
    reference = next((r["check_cost"] for r in results.get(("dnn", "one"), []) +
                      results.get(("dnn", "default"), []) if "check_cost" in r), None)
    mismatch = False
    print()
    print(f"| framework | threads | s / epoch, least | median | test accuracy "
          f"| peak RSS MB | cost after {args.check_steps} steps vs dnn's |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (framework, threads), rounds in results.items():
        done = [r for r in rounds if "seconds" in r]
        if not done:
            why = rounds[0].get("missing") or f"failed: {rounds[0].get('failed')}"
            print(f"| {framework} | {threads} | {why} | | | | |")
            continue
        if reference is None:
            check = "n/a (no dnn column)"
        else:
            worst = max(peers.relative_difference(r["check_cost"], reference) for r in done)
            bad = not worst <= TOLERANCE
            mismatch = mismatch or bad
            check = f"{worst:.1e}{' MISMATCH' if bad else ''}"
        least, median = times[(framework, threads)]
        print(f"| {framework} | {threads} | {least:.3f} | {median:.3f} "
              f"| {statistics.median(r['accuracy'] for r in done):.4f} "
              f"| {statistics.median(r['rss_peak'] for r in done):.0f} | {check} |")
    print()
    print("Ratios (time of the first over the second):")
    print(ratio_line("dnn one thread / dnn default", ("dnn", "one"), ("dnn", "default"),
                     times, goal=1.8))
    print(ratio_line("JAX default / dnn default", ("jax", "default"), ("dnn", "default"),
                     times, goal=1.3))
    print(ratio_line("JAX one thread / dnn one thread", ("jax", "one"), ("dnn", "one"),
                     times, goal=1.0))
    print(ratio_line("PyTorch default / dnn default", ("torch", "default"), ("dnn", "default"),
                     times))
    print(ratio_line("PyTorch one thread / dnn one thread", ("torch", "one"), ("dnn", "one"),
                     times))
    print(ratio_line("JAX one thread / JAX default", ("jax", "one"), ("jax", "default"), times))
    versions = {f: r["version"] for (f, _), rounds in results.items() for r in rounds
                if r.get("version")}
    print(f"Versions: {versions}; check tolerance {TOLERANCE:.0e} (relative)")
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
