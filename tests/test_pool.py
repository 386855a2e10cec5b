"""The engine's worker pool: tasks on their own threads, results independent of
the pool, no spinning between jobs, and fork in the middle of jobs never hangs."""
import subprocess
import sys
import tempfile
import textwrap
import threading

import numpy as np
import pytest

from dnn_core import _pool


def _run(code, timeout=60):
    """Run ``code`` in a fresh interpreter, outside the source tree (whose
    ``dnn_core/`` would shadow the installed package); a hang fails the test."""
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=timeout, cwd=folder)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("n_tasks", [1, 2, 3, 7])
def test_each_task_sums_its_range(n_tasks):
    x = np.random.default_rng(0).random(10_001)
    sums, threads, used = _pool.probe(x, n_tasks)
    bounds = [len(x) * i // n_tasks for i in range(n_tasks + 1)]
    for i in range(n_tasks):
        assert np.isclose(sums[i], np.sum(x[bounds[i]:bounds[i + 1]]), rtol=1e-13)
    assert used == n_tasks
    assert len(set(threads.tolist())) == n_tasks          # one thread per task
    assert _pool.size() >= n_tasks - 1


def test_results_do_not_depend_on_the_threads():
    x = np.random.default_rng(1).random(1000)
    first = _pool.probe(x, 4)[0]
    for _ in range(20):
        np.testing.assert_array_equal(_pool.probe(x, 4)[0], first)


def test_a_busy_pool_runs_the_job_in_the_caller():
    x = np.arange(1000.0)
    results = []

    def job():
        results.append(_pool.probe(x, 3, seconds=0.2))

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2
    assert sorted(r[2] for r in results) == [1, 3]      # one waited for no one
    for sums, _, _ in results:
        assert sums.sum() == x.sum()
    alone = [r for r in results if r[2] == 1][0]
    assert len(set(alone[1].tolist())) == 1


@pytest.mark.parametrize("n_tasks", [0, -1, _pool.MAX_TASKS + 1])
def test_bad_task_counts_are_refused(n_tasks):
    with pytest.raises(ValueError, match="n_tasks"):
        _pool.probe(np.zeros(3), n_tasks)


def test_bad_seconds_are_refused():
    with pytest.raises(ValueError, match="seconds"):
        _pool.probe(np.zeros(3), 2, seconds=float("nan"))


def test_idle_workers_do_not_spin():
    out = _run("""
        import resource, time
        import numpy as np
        from dnn_core import _pool
        _pool.probe(np.ones(100), 4)
        before = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(0.5)
        after = resource.getrusage(resource.RUSAGE_SELF)
        print(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    """)
    assert float(out) < 0.05          # three idle workers, half a second


FORK_WHILE_JOBS_RUN = """
    import os, threading
    import numpy as np
    from dnn_core import _pool
    x = np.arange(10_000.0)
    stop = False

    def jobs():
        while not stop:
            sums, _, _ = _pool.probe(x, 2, seconds=0.001)
            assert sums.sum() == x.sum()

    worker = threading.Thread(target=jobs, daemon=True)
    worker.start()                  # its first job races the first fork
    failed = []
    for i in range(30):
        pid = os.fork()
        if pid == 0:
            # the child has an empty pool that starts again
            sums, threads, used = _pool.probe(x, 3)
            os._exit(0 if sums.sum() == x.sum() and used == 3 else 1)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            failed.append(i)
    stop = True
    worker.join(30)
    assert not failed and not worker.is_alive(), failed
"""


@pytest.mark.parametrize("run", range(5))
def test_fork_while_another_thread_runs_jobs_never_hangs(run):
    # (the fork handlers are registered at import: registered at the first job,
    # glibc skipped them for a fork in progress, and such a child inherited the
    # pool in mid-job, its mutex held: a hang, or a busy pool)
    _run(FORK_WHILE_JOBS_RUN, timeout=120)


def test_the_engine_and_the_probe_share_one_pool():
    out = _run("""
        import numpy as np
        import dnn
        from dnn_core import _pool
        before = _pool.size()
        rng = np.random.default_rng(0)
        X, y = rng.random((600, 20)), rng.integers(0, 3, 600)
        net = dnn.Network([20, 64, 3], output="softmax", n_threads=3)
        net.fit(X, y, epochs=1, batch_size=300)
        print(before, _pool.size())
    """)
    assert out.split() == ["0", "2"]
