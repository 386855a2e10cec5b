"""BLAS thread control for training and prediction: how many OpenBLAS threads
a fit's GEMMs may use, chosen per GEMM in the engine, and pinning BLAS's thread
pools (threadpoolctl) for the duration of concurrent fits.

Per GEMM: within a fit (or a large prediction) that may use more than one
thread, the engine runs each GEMM of ``m*n*k >=`` :data:`THREADED_GEMM_WORK`
multiply-adds on the allowed OpenBLAS threads and every other GEMM on one
(``dnn_core.gemm_threads``: it sets the count through the ``openblas_set_num_threads``
of the OpenBLAS that scipy's ``cython_blas`` calls, bound once at import, and
only when the count changes). Where that BLAS is not a pthreads OpenBLAS (no
such symbol), the fit's count is decided once from the average layer's GEMM, as
before (:func:`thread_count`).
"""
import contextlib
import ctypes
import itertools
import os
import threading

# (imported here, not lazily in a fit's thread: a fork while that thread holds
# the import lock left the child deadlocked on it)
from threadpoolctl import ThreadpoolController

from dnn_core import gemm_threads

__all__ = ["THREADED_GEMM_WORK", "AVERAGE_GEMM_WORK", "SHARD_WORK", "thread_count",
           "shard_count", "usable_cpus", "limit", "prediction", "per_gemm_available", "per_gemm"]

#: multiply-adds (m*n*k) of one GEMM from which it runs on more than one
#: OpenBLAS thread (decided per GEMM by the engine). Such a GEMM
#: lasts ~20 ms or more on one thread. Measured (``bench_threads.py
#: --cut-off``, float64 dgemm, 2 cores, 2026-12-04): quiet, 2 threads ran
#: 1.8-2.1x faster from 8e6 multiply-adds up; with another process busy on one
#: core, 2 threads ran 0.09-0.75x as fast as one from 8e6 to 2.7e8 (one shape
#: 1.1x), and 0.89-1.45x at 5.4e8-1.1e9. So below this cut-off threads win
#: only on a quiet machine and lose up to 10x on a busy one; above it they win
#: 2x quiet and about break even busy.
THREADED_GEMM_WORK = 5e8

#: without the per-GEMM choice (no bindable OpenBLAS): the average layer's GEMM
#: of a fit from which every GEMM of it uses every CPU (the rule before it)
AVERAGE_GEMM_WORK = 1e8


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
    """BLAS threads the GEMMs of a fit of ``layer_dims`` on batches of
    ``batch`` examples may use (the fit's cap; within it, each GEMM decides).

    ``n_threads`` when given. Else, with the per-GEMM choice
    (:func:`per_gemm_available`): the usable CPUs if some layer's GEMM (``n_l x
    batch x n_(l-1)`` multiply-adds) reaches :data:`THREADED_GEMM_WORK`, else
    one. Without it (this BLAS is not a pthreads OpenBLAS): the usable CPUs
    if the AVERAGE layer's GEMM reaches :data:`AVERAGE_GEMM_WORK`, else one,
    for every GEMM of the fit. :meth:`BlasThreads.limit` caps the result by any threadpoolctl or
    OPENBLAS_NUM_THREADS limit.

    Parameters
    ----------
    layer_dims : sequence of int, length L + 1
        Units per layer, the input first (0 for a sparse input: its layer is
        not BLAS's).
    batch : int
        Examples per GEMM (rows of a batch, or of a prediction's chunk).
    n_threads : int or None
        The network's ``n_threads``.
    """
    if n_threads is not None:
        return n_threads
    dims = layer_dims
    works = [dims[l] * dims[l - 1] * batch for l in range(1, len(dims))]
    if per_gemm_available():
        reached = max(works) >= gemm_threads.work()
    else:
        reached = sum(works) / len(works) >= AVERAGE_GEMM_WORK
    return usable_cpus() if reached else 1


def _bind_openblas():
    """The address of ``openblas_set_num_threads`` in the OpenBLAS that scipy's
    cython_blas calls (looked up through cython_blas's own library, so its
    dependency: the same BLAS), or 0: not found, or an OpenBLAS that is not
    built with pthreads (``openblas_get_parallel() != 1``: sequential, or
    OpenMP, whose thread count is per thread)."""
    try:
        from scipy.linalg import cython_blas
        library = ctypes.CDLL(cython_blas.__file__)
    except (ImportError, OSError, AttributeError):
        return 0
    for prefix, suffix in itertools.product(("scipy_", ""), ("", "64_", "_64")):
        setter = getattr(library, f"{prefix}openblas_set_num_threads{suffix}", None)
        parallel = getattr(library, f"{prefix}openblas_get_parallel{suffix}", None)
        if setter is None or parallel is None:
            continue
        parallel.restype = ctypes.c_int
        if parallel() != 1:
            return 0
        setter.argtypes = [ctypes.c_int]
        return ctypes.cast(setter, ctypes.c_void_p).value or 0
    return 0


_SETTER = _bind_openblas()
gemm_threads.work(THREADED_GEMM_WORK)
gemm_threads.bind_setter(_SETTER)


def per_gemm_available():
    """Whether GEMMs choose their own thread count (see the module's docstring)."""
    return gemm_threads.setter_bound()


@contextlib.contextmanager
def per_gemm(enabled):
    """Within: the per-GEMM choice on (if available) or off (the rule by the
    average layer), for benchmarks and tests; not while a fit runs."""
    gemm_threads.bind_setter(_SETTER if enabled else 0)
    try:
        yield
    finally:
        gemm_threads.bind_setter(_SETTER)


class BlasThreads:
    """Pins BLAS's thread pools for the duration of a fit.

    The first of concurrent fits (in several threads) pins every BLAS library
    (threadpoolctl) and, with the per-GEMM choice and more than one thread
    allowed, owns OpenBLAS's process-wide count: its GEMMs choose theirs. A
    second fit (or prediction) joining it turns that off: the count goes to
    one as soon as the owner's running threaded GEMM ends, and every GEMM of
    every fit runs on one thread (they never fight over the count) until the
    owner is alone again. The last one out restores every library's count as
    it was before. A fit or prediction nested in one of this thread's (in a
    callback) changes nothing.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._limiter = None
        self._blas = None            # the BLAS libraries that _limiter limits
        self._controller = None
        self._local = threading.local()
        self._owned = 0              # the owner's allowed count while it is in

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
        user has set with threadpoolctl or OPENBLAS_NUM_THREADS); with the
        per-GEMM choice, only GEMMs of :data:`THREADED_GEMM_WORK` multiply-adds
        or more use them (every library is pinned to one thread, the engine
        raises OpenBLAS's count around each such GEMM)."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        owner = False
        with self._lock:
            if self._users == 0:
                blas = self._select()
                current = min((lib.num_threads for lib in blas.lib_controllers),
                              default=n_threads)
                allowed = max(1, min(n_threads, current))
                per_gemm = allowed > 1 and per_gemm_available()
                with _blas_control(blas):
                    self._limiter = blas.limit(limits=1 if per_gemm else allowed)
                self._blas = blas
                owner = per_gemm and gemm_threads.own(allowed)
                self._owned = allowed if owner else 0
            else:
                gemm_threads.share()
            self._users += 1
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            with self._lock:
                if owner:
                    gemm_threads.disown()
                    self._owned = 0
                self._users -= 1
                if self._users == 1 and self._owned:
                    gemm_threads.share(self._owned)      # the owner alone again
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
    BlasThreads's lock). A fork waits meanwhile (the engine's fork lock): a
    fork while OpenBLAS re-creates its workers for a new count left the child
    stuck on OpenBLAS's server lock.
    """
    def release():
        for lib in controller.lib_controllers:
            clear = getattr(lib, "clear_controlling_thread", None)
            if clear is not None:
                clear(force=True)

    release()
    gemm_threads.take_fork_lock()
    try:
        yield
    finally:
        gemm_threads.fork_parent()
        release()


_blas_threads = BlasThreads()


def limit(n_threads):
    """The process's :class:`BlasThreads` limit (a context manager)."""
    return _blas_threads.limit(n_threads)


#: rows per chunk of the engine's predict and cost (dnn_core Engine.predict)
PREDICT_CHUNK = 1024

#: OpenBLAS runs a GEMM of fewer multiply-adds on one thread whatever its count
#: (interface/gemm.c: 65536 * GEMM_MULTITHREAD_THRESHOLD, 4 by default)
OPENBLAS_ONE_THREAD_WORK = 65536 * 4


def prediction(layer_dims, rows, n_threads=None):
    """The BLAS threads of a prediction (or cost) over ``rows`` rows, in chunks
    of :data:`PREDICT_CHUNK`: a :func:`limit` as a fit's (``n_threads``, or
    per GEMM), or nothing (no threadpoolctl call: BLAS's threads as they are)
    where no GEMM of it could run on more than one thread anyway, or without
    the per-GEMM choice (as before it).

    Parameters
    ----------
    layer_dims : sequence of int
        Units per layer, the input first (0 for a sparse input).
    rows : int
        Rows predicted.
    n_threads : int or None
        The network's ``n_threads``.
    """
    batch = max(1, min(rows, PREDICT_CHUNK))
    most = max(layer_dims[l] * layer_dims[l - 1] for l in range(1, len(layer_dims))) * batch
    if most < OPENBLAS_ONE_THREAD_WORK or not per_gemm_available():
        return contextlib.nullcontext()
    return limit(thread_count(layer_dims, batch, n_threads))


def _after_fork_in_child():
    """A child of fork has only the forking thread: the lock another thread
    held (a fit) would stay locked for ever, so the pinning starts anew (and
    the engine's fork lock, held by the fork, too)."""
    global _blas_threads
    gemm_threads.fork_child()
    _blas_threads = BlasThreads()


if hasattr(os, "register_at_fork"):
    # (before fork: wait for a threaded GEMM of another thread to end; see
    # dnn_core.gemm_threads: a fork while OpenBLAS's workers run could deadlock)
    os.register_at_fork(before=gemm_threads.fork_prepare, after_in_parent=gemm_threads.fork_parent,
                        after_in_child=_after_fork_in_child)
