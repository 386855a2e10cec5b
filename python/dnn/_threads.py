"""BLAS thread control for training: how many threads a fit uses, and pinning
BLAS's thread pools (threadpoolctl) for the duration of concurrent fits."""
import contextlib
import os
import threading

# (imported here, not lazily in a fit's thread: a fork while that thread holds
# the import lock left the child deadlocked on it)
from threadpoolctl import ThreadpoolController

__all__ = ["THREADED_GEMM_WORK", "SHARD_WORK", "thread_count", "shard_count",
           "usable_cpus", "limit"]

#: multiply-adds per GEMM from which a fit uses more than one BLAS thread: a
#: GEMM then lasts ~10 ms or more, so a thread waiting a scheduler slice on a busy
#: machine costs little (below it, 2-thread OpenBLAS was seen 10-50x slower)
THREADED_GEMM_WORK = 1e8


#: forward multiply-adds of one shard's rows from which a training step is cut
#: into row shards on the engine's pool: a shard then computes for ~0.1 ms or
#: more, against ~0.1 ms for the pool's two jobs of a step (wake-ups on a
#: condition variable, measured ~65 us a job on this 2-core machine)
SHARD_WORK = 2e6

# A network with K batch-norm layers shards from K + 1 times SHARD_WORK (see
# shard_count): its step runs as 2 K + 2 pool jobs instead of 2
# (dnn_core/_bn_shards.pyx: each layer's statistics, and its gradient sums,
# combined between two jobs). Measured with benchmarks/bench_shards.py (2 threads,
# batch 128, adam, float32, K = 2: from 6 M; benchmarks/README.md), quiet machine:
# [784, 64, 64, 10] (3.5 M a shard) 0.94x of one thread, [784, 128, 64, 10] (6.9 M)
# 1.08-1.13x, [784, 256, 128, 10] (15 M) 1.27-1.33x; with two other processes
# busy: 6.9 M 0.91-0.94x (min), 15 M 1.26-1.35x (min) but 0.90-0.97x (median).


def usable_cpus():
    """The CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def shard_count(layer_dims, batch, n_threads=None, shardable=True, sparse=False,
                batch_norm=0):
    """Row shards of each training step (threads of the engine's pool) for a fit
    of ``layer_dims`` on batches of ``batch`` rows.

    ``n_threads`` when given (at most one shard per two rows); else the usable
    CPUs, no more than a BLAS limit set with threadpoolctl (or
    OPENBLAS_NUM_THREADS), and fewer where a shard's forward pass would fall
    below :data:`SHARD_WORK` multiply-adds, times ``batch_norm + 1`` for a
    network with ``batch_norm`` batch-normalized layers (its step runs in 2 K + 2
    phases on the pool instead of 2, each batch-norm layer's statistics and
    gradient sums combined over the shards between two of them). 1 when not
    ``shardable``, and for a ``sparse`` (CSR) X unless ``n_threads`` is given:
    each shard then clears and sums a dense ``n1 x n_features`` gradient of
    layer 1, which cost more than the rows saved (benchmarks/bench_shards.py's
    sparse epoch: 1.02-1.04x of one thread for twice the CPU lightly loaded,
    0.64x loaded).
    """
    if not shardable:
        return 1
    if n_threads is not None:
        return max(1, min(n_threads, batch // 2))
    if sparse:
        return 1
    per_row = sum(layer_dims[l] * layer_dims[l - 1] for l in range(1, len(layer_dims)))
    cap = min(usable_cpus(), _blas_threads.current_limit())
    work = SHARD_WORK * (1 + int(batch_norm))
    return max(1, min(cap, batch // 2, int(per_row * batch // work)))


def thread_count(layer_dims, batch, n_threads=None):
    """BLAS threads for a fit of ``layer_dims`` on batches of ``batch`` examples:
    ``n_threads`` when given, else one unless the average layer's GEMM reaches
    :data:`THREADED_GEMM_WORK` multiply-adds (then every CPU)."""
    if n_threads is not None:
        return n_threads
    dims = layer_dims
    work = sum(dims[l] * dims[l - 1] for l in range(1, len(dims))) * batch
    if work / (len(dims) - 1) < THREADED_GEMM_WORK:
        return 1
    return os.cpu_count() or 1


class BlasThreads:
    """Pins BLAS's thread pools for the duration of a fit; the first of
    concurrent fits sets the count, the last restores it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._limiter = None
        self._blas = None            # the BLAS libraries that _limiter limits
        self._controller = None

    def _select(self):
        if self._controller is None:
            self._controller = ThreadpoolController()
        return self._controller.select(user_api="blas")

    def current_limit(self):
        """The fewest threads any BLAS library may use now (a threadpoolctl or
        OPENBLAS_NUM_THREADS limit; within a fit, the fit's)."""
        with self._lock:
            return min((lib.num_threads for lib in self._select().lib_controllers),
                       default=usable_cpus())

    @contextlib.contextmanager
    def limit(self, n_threads):
        """Within: at most ``n_threads`` BLAS threads (never above a limit the
        user has set with threadpoolctl)."""
        with self._lock:
            if self._users == 0:
                blas = self._select()
                current = min((lib.num_threads for lib in blas.lib_controllers),
                              default=n_threads)
                with _blas_control(blas):
                    self._limiter = blas.limit(limits=max(1, min(n_threads, current)))
                self._blas = blas
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    with _blas_control(self._blas):
                        self._limiter.restore_original_limits()
                    self._limiter = self._blas = None


@contextlib.contextmanager
def _blas_control(controller):
    """Let this thread set OpenBLAS's process-wide thread count, then let go.

    threadpoolctl >= 3.8 lets only one thread (the first to set a limit) change
    the thread count of an OpenBLAS built with pthreads, and silently ignores
    the others; a fit can run in any thread (one limit at a time, under
    BlasThreads's lock).
    """
    def release():
        for lib in controller.lib_controllers:
            clear = getattr(lib, "clear_controlling_thread", None)
            if clear is not None:
                clear(force=True)

    release()
    try:
        yield
    finally:
        release()


_blas_threads = BlasThreads()


def limit(n_threads):
    """The process's :class:`BlasThreads` limit (a context manager)."""
    return _blas_threads.limit(n_threads)


def _after_fork_in_child():
    """A child of fork has only the forking thread: the lock another thread
    held (a fit) would stay locked for ever, so the pinning starts anew."""
    global _blas_threads
    _blas_threads = BlasThreads()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
