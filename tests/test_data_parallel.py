"""Data-parallel steps: a batch cut into row shards on the engine's pool gives
one thread's parameters to rounding (float64 1e-12), the same bits on every run
with the same thread count, and falls back to one thread where it must."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

import dnn
from dnn import _threads
from helpers import assert_close

OPTIMIZERS = ["gd", "momentum", "nesterov", "rmsprop", "adam"]


def data(m=301, n=12, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n)).astype(dtype)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.float64)
    return X, y


def fitted(n_threads, optimizer="adam", dims=(12, 16, 8, 1), output="sigmoid", X=None, y=None,
           **fit):
    if X is None:
        X, y = data()
    net = dnn.Network(list(dims), output=output, seed=4, n_threads=n_threads)
    fit.setdefault("epochs", 4)
    fit.setdefault("batch_size", 50)
    history = net.fit(X, y, optimizer=optimizer, **fit)
    return net, history


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("n_threads", [2, 3, 7])
def test_shards_give_one_threads_parameters(optimizer, n_threads):
    one, h1 = fitted(1, optimizer, learning_rate=0.05 if optimizer != "adam" else 0.01)
    many, hn = fitted(n_threads, optimizer, learning_rate=0.05 if optimizer != "adam" else 0.01)
    assert_close(many.flat_parameters, one.flat_parameters)
    assert_close(hn.cost, h1.cost)


@pytest.mark.parametrize("fit", [
    dict(batch_size=None),                       # full batch: rows gathered once
    dict(shuffle=False),                         # consecutive rows read in place
    dict(l2=0.3),                                # l2 added once, by shard 0
    dict(sample_weight=np.linspace(0, 3, 301)),  # weights, some zero
    dict(batch_size=7),                          # batches not divisible by the shards
    dict(batch_size=5, epochs=2),                # shards of 2 or 3 rows
])
def test_shards_equal_one_thread_in_every_mode(fit):
    one, _ = fitted(1, "momentum", learning_rate=0.05, **fit)
    many, _ = fitted(3, "momentum", learning_rate=0.05, **fit)
    assert_close(many.flat_parameters, one.flat_parameters)


def test_softmax_regression_and_other_input_dtypes():
    X, y = data(dtype=np.float32)
    labels = (y + (X[:, 2] > 0)).astype(int)
    for output, target in (("softmax", labels), ("linear", X[:, :2] @ [1.0, -2.0])):
        dims = (12, 10, 3 if output == "softmax" else 1)
        one, _ = fitted(1, "adam", dims, output, X, target, learning_rate=0.01)
        many, _ = fitted(2, "adam", dims, output, X, target, learning_rate=0.01)
        assert_close(many.flat_parameters, one.flat_parameters)
    # uint8 rows converted while each shard gathers them
    pixels = np.random.default_rng(1).integers(0, 255, (200, 12)).astype(np.uint8)
    target = (pixels[:, 0] > 127).astype(float)
    one, _ = fitted(1, "adam", X=pixels, y=target, learning_rate=0.001)
    many, _ = fitted(2, "adam", X=pixels, y=target, learning_rate=0.001)
    assert_close(many.flat_parameters, one.flat_parameters)


def test_the_same_thread_count_gives_the_same_bits():
    first, _ = fitted(3, "adam", learning_rate=0.01)
    for _ in range(3):
        again, _ = fitted(3, "adam", learning_rate=0.01)
        np.testing.assert_array_equal(again.flat_parameters, first.flat_parameters)


def test_float32_shards_stay_close_to_one_thread():
    X, y = data(dtype=np.float32)
    nets = []
    for n_threads in (1, 2):
        net = dnn.Network([12, 16, 1], dtype="float32", seed=4, n_threads=n_threads)
        net.fit(X, y, epochs=2, batch_size=50, optimizer="gd", learning_rate=0.1)
        nets.append(net.flat_parameters)
    assert_close(nets[1], nets[0], dtype=np.float32)


@pytest.mark.parametrize("case", ["dropout", "batch_norm", "sparse"])
def test_steps_that_need_the_whole_batch_run_in_one_thread(case):
    """Dropout's masks, batch norm's statistics and sparse rows are the whole
    batch's: such fits run as with one thread, n_threads or not."""
    X, y = data()
    options, fit = {}, {}
    if case == "dropout":
        fit["keep_prob"] = 0.8
    elif case == "batch_norm":
        options["batch_norm"] = True
    else:
        X = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0))
    assert _threads.shard_count([12, 16, 8, 1], 50, 4, shardable=False) == 1
    params = []
    for n_threads in (1, 4):
        net = dnn.Network([12, 16, 8, 1], seed=4, n_threads=n_threads, **options)
        net.fit(X, y, epochs=2, batch_size=50, **fit)
        params.append(net.flat_parameters)
    np.testing.assert_array_equal(params[1], params[0])


def test_shard_count_follows_cpus_limits_and_size():
    dims = [784, 256, 128, 10]
    cpus = _threads.usable_cpus()
    assert cpus == len(os.sched_getaffinity(0))
    threadpoolctl = pytest.importorskip("threadpoolctl")
    # (a limit from the environment, e.g. OPENBLAS_NUM_THREADS=1, lifted here)
    with threadpoolctl.threadpool_limits(cpus, user_api="blas"):
        assert _threads.shard_count(dims, 128) == min(cpus, 64)
    assert _threads.shard_count([2, 4, 1], 64) == 1            # too little work a shard
    assert _threads.shard_count(dims, 128, n_threads=3) == 3   # asked for: honoured
    assert _threads.shard_count(dims, 3, n_threads=8) == 1     # two rows a shard at least
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert _threads.shard_count(dims, 128) == 1


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValueError, match="n_threads"):
        dnn.Network([3, 4, 1], n_threads=bad)
    from dnn_core._engine import Engine
    engine = Engine([3, 4, 1], [0], 0, 0.01, np.float64)
    with pytest.raises(ValueError, match="n_threads"):
        engine.train(np.ones((4, 3)), np.ones((4, 1)), None, batch_size=4, shuffle=0,
                     epochs=1, costs=np.zeros(1), seconds=np.zeros(1), n_threads=bad)


def test_more_threads_than_rows_are_capped():
    X, y = data(m=9)
    one, _ = fitted(1, "adam", X=X, y=y, batch_size=4)
    many, _ = fitted(10_000, "adam", X=X, y=y, batch_size=4)
    assert_close(many.flat_parameters, one.flat_parameters)


def test_fork_while_a_sharded_fit_runs_never_hangs(tmp_path):
    code = textwrap.dedent("""
        import os, threading
        import numpy as np
        import dnn
        rng = np.random.default_rng(0)
        X = rng.standard_normal((4000, 64)); y = (X[:, 0] > 0).astype(float)
        net = dnn.Network([64, 128, 64, 1], seed=0, n_threads=2)
        fit = threading.Thread(target=net.fit, args=(X, y), kwargs=dict(epochs=6, batch_size=64))
        fit.start()
        for _ in range(15):
            pid = os.fork()
            if pid == 0:
                child = dnn.Network([64, 32, 1], seed=1, n_threads=2)
                child.fit(X[:500], y[:500], epochs=1, batch_size=100)
                os._exit(0 if np.isfinite(child.flat_parameters).all() else 1)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        fit.join()
        print(net.history_.cost[-1] < net.history_.cost[0])
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)     # not the source tree: it would shadow
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 60), batch=st.integers(1, 70), n_threads=st.integers(2, 9),
       optimizer=st.sampled_from(OPTIMIZERS), weighted=st.booleans(),
       l2=st.sampled_from([0.0, 0.5]), shuffle=st.booleans(), seed=st.integers(0, 2**16))
def test_any_batch_and_shard_count_give_one_threads_parameters(m, batch, n_threads, optimizer,
                                                               weighted, l2, shuffle, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, 5))
    y = rng.integers(0, 2, m).astype(float)
    weights = rng.integers(0, 3, m).astype(float) if weighted else None
    params = []
    for threads in (1, n_threads):
        net = dnn.Network([5, 6, 1], seed=seed, n_threads=threads)
        net.fit(X, y, epochs=2, batch_size=batch, optimizer=optimizer, learning_rate=0.05,
                l2=l2, shuffle=shuffle, sample_weight=weights)
        params.append(net.flat_parameters)
    assert_close(params[1], params[0])
