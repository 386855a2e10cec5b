"""Data-parallel steps: a batch cut into row shards on the engine's pool gives
one thread's parameters to rounding (float64 1e-12), the same bits on every run
with the same thread count, with dense or sparse input and dropout (masks drawn
per row, the same whatever the shards), and with batch norm (in phases:
tests/test_batch_norm_shards.py)."""
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


def test_batch_norm_steps_shard_in_phases():
    """Batch norm's statistics are the whole batch's: such fits shard in phases
    (tests/test_batch_norm_shards.py), their statistics combined over the
    shards, and give one thread's parameters to rounding; not shardable: one."""
    X, y = data()
    assert _threads.shard_count([12, 16, 8, 1], 50, 4, shardable=False) == 1
    params = []
    for n_threads in (1, 4):
        net = dnn.Network([12, 16, 8, 1], seed=4, n_threads=n_threads, batch_norm=True)
        net.fit(X, y, epochs=2, batch_size=50)
        assert net._engine.train_shards == n_threads
        params.append(net.flat_parameters)
    assert_close(params[1], params[0])


# -- sparse input and dropout -------------------------------------------------

def sparse_data(m=301, n=40, density=0.15, seed=0, dtype=np.float64, index=np.int32):
    rng = np.random.default_rng(seed)
    X = sp.random(m, n, density=density, format="csr", random_state=seed, dtype=dtype,
                  data_rvs=rng.standard_normal)
    X.indices, X.indptr = X.indices.astype(index), X.indptr.astype(index)
    y = (np.asarray(X[:, :4].sum(axis=1)).ravel() > 0).astype(np.float64)
    return X, y


def sharded(n_threads, X, y, dims=(40, 16, 8, 1), dtype="float64", **fit):
    net = dnn.Network(list(dims), seed=4, n_threads=n_threads, dtype=dtype)
    fit.setdefault("epochs", 3)
    fit.setdefault("batch_size", 50)
    fit.setdefault("optimizer", "adam")
    fit.setdefault("learning_rate", 0.01)
    history = net.fit(X, y, **fit)
    assert net._engine.train_shards == min(n_threads, min(fit["batch_size"] or X.shape[0],
                                                          X.shape[0]) // 2)
    return net, history


@pytest.mark.parametrize("n_threads", [2, 3])
@pytest.mark.parametrize("fit", [
    dict(),                                      # shuffled mini-batches
    dict(batch_size=None),                       # full batch: each shard's rows gathered once
    dict(shuffle=False, l2=0.3),                 # consecutive rows; l2 by shard 0
    dict(sample_weight=np.linspace(0, 3, 301), optimizer="momentum", learning_rate=0.05),
    dict(batch_size=7, optimizer="gd", learning_rate=0.1),   # uneven shards
])
def test_sparse_shards_give_one_threads_parameters(n_threads, fit):
    X, y = sparse_data()
    one, h1 = sharded(1, X, y, **fit)
    many, hn = sharded(n_threads, X, y, **fit)
    assert_close(many.flat_parameters, one.flat_parameters)
    assert_close(hn.cost, h1.cost)
    # the same as the dense X through the same shards
    dense, _ = sharded(n_threads, X.toarray(), y, **fit)
    assert_close(many.flat_parameters, dense.flat_parameters)


def test_sparse_shards_gathered_dense_int64_indices_and_softmax(monkeypatch):
    from dnn_core import _sparse_rows
    X, y = sparse_data(index=np.int64)
    labels = (y + (X[:, 5].toarray().ravel() > 0)).astype(int)
    for density in (1.0, 0.0):                   # compressed columns; gathered dense
        for key in list(_sparse_rows.DENSE_GATHER_DENSITY):
            monkeypatch.setitem(_sparse_rows.DENSE_GATHER_DENSITY, key, density)
        params = []
        for n_threads in (1, 2, 3):
            net = dnn.Network([40, 12, 3], output="softmax", seed=4, n_threads=n_threads)
            net.fit(X, labels, epochs=3, batch_size=40, learning_rate=0.01)
            assert net._engine.train_shards == n_threads
            params.append(net.flat_parameters)
        assert_close(params[1], params[0])
        assert_close(params[2], params[0])


def _xoshiro_next(state):
    """xoshiro256**'s next output from state (4 Python ints), and the new state."""
    mask = (1 << 64) - 1
    rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & mask
    s0, s1, s2, s3 = state
    result = (rotl((s1 * 5) & mask, 7) * 9) & mask
    t = (s1 << 17) & mask
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = rotl(s3, 45)
    return result, (s0, s1, s2, s3)


def _mix64(z):
    """splitmix64's output function on uint64 arrays."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def reference_masks(key, layer, n, m, keep):
    """The documented masks of a step's key: unit i of batch row j in ``layer``
    keeps iff the (j n + i + 1)-th splitmix64 output from K_l, as a 53-bit
    uniform, is below keep; K_l = mix64(key + l * GOLDEN). (n, m) of 0 or 1/keep."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        start = _mix64(np.uint64(key) + np.uint64(layer) * golden)
        counter = (np.arange(m, dtype=np.uint64)[None, :] * np.uint64(n)
                   + np.arange(n, dtype=np.uint64)[:, None] + np.uint64(1))
        bits = _mix64(start + counter * golden)
    uniform = (bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return np.where(uniform < keep, 1 / keep, 0.0)


def test_dropout_masks_follow_the_documented_definition():
    X, y = data(m=37)
    net = dnn.Network([12, 9, 7, 1], seed=5, n_threads=1)
    state = tuple(int(w) for w in net._engine.rng_state)
    net.fit(X, y, epochs=1, batch_size=None, optimizer="gd", keep_prob=[0.6, 0.8])
    key, _ = _xoshiro_next(state)            # full batch, no shuffle: the step's one draw
    masks = net._engine.dropout_masks()
    assert sorted(masks) == [1, 2]
    for l, n, keep in ((1, 9, 0.6), (2, 7, 0.8)):
        np.testing.assert_array_equal(masks[l].reshape(n, 37),
                                      reference_masks(key, l, n, 37, keep))
        assert 0 < np.mean(masks[l] > 0) < 1


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("n_threads", [2, 3])
def test_dropout_shards_give_one_threads_parameters(optimizer, n_threads):
    fit = dict(keep_prob=[0.7, 0.9], learning_rate=0.05 if optimizer != "adam" else 0.01)
    one, h1 = fitted(1, optimizer, **fit)
    many, hn = fitted(n_threads, optimizer, **fit)
    assert many._engine.train_shards == n_threads
    assert_close(many.flat_parameters, one.flat_parameters)
    assert_close(hn.cost, h1.cost)


@pytest.mark.parametrize("fit", [
    dict(batch_size=None),
    dict(shuffle=False, l2=0.2),
    dict(sample_weight=np.linspace(0, 3, 301)),
    dict(batch_size=5, epochs=2),
])
def test_dropout_shards_in_every_mode_and_with_sparse_input(fit):
    X, y = sparse_data()
    for Xi, dims in ((data()[0], (12, 16, 8, 1)), (X, (40, 16, 8, 1))):
        yi = y if Xi is X else data()[1]
        params = [fitted(t, "momentum", dims, X=Xi, y=yi, keep_prob=0.75, learning_rate=0.05,
                         **fit)[0].flat_parameters for t in (1, 3)]
        assert_close(params[1], params[0])


def test_dropout_and_sparse_shards_give_the_same_bits_on_every_run():
    X, y = sparse_data()
    first = [sharded(3, X, y, keep_prob=0.8)[0].flat_parameters,
             fitted(3, "adam", keep_prob=0.8, learning_rate=0.01)[0].flat_parameters]
    for _ in range(2):
        again = [sharded(3, X, y, keep_prob=0.8)[0].flat_parameters,
                 fitted(3, "adam", keep_prob=0.8, learning_rate=0.01)[0].flat_parameters]
        for a, b in zip(again, first):
            np.testing.assert_array_equal(a, b)


def test_float32_sparse_and_dropout_shards_stay_close_to_one_thread():
    X, y = sparse_data(dtype=np.float32)
    Xd = data(dtype=np.float32)[0]
    for Xi, yi, dims in ((X, y, (40, 16, 1)), (Xd, data()[1], (12, 16, 1))):
        params = []
        for n_threads in (1, 2, 3):
            net = dnn.Network(list(dims), dtype="float32", seed=4, n_threads=n_threads)
            net.fit(Xi, yi, epochs=2, batch_size=50, optimizer="gd", learning_rate=0.1,
                    keep_prob=0.8)
            params.append(net.flat_parameters)
        assert params[0].dtype == np.float32
        assert_close(params[1], params[0], dtype=np.float32)
        assert_close(params[2], params[0], dtype=np.float32)


def test_sparse_input_shards_only_when_asked():
    """A CSR X's shards each clear and sum a dense layer-1 gradient: by default
    a sparse fit runs in one thread, with n_threads= it shards."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    dims = [20000, 64, 1]
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        cap = min(2, _threads.usable_cpus())
        assert _threads.shard_count(dims, 128) == cap              # dense: 164 M a batch
        assert _threads.shard_count(dims, 128, sparse=True) == 1
        assert _threads.shard_count(dims, 128, 2, sparse=True) == 2
    X, y = sparse_data()
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        net = dnn.Network([40, 16, 8, 1], seed=4)
        net.fit(X, y, epochs=1, batch_size=50)
    assert net._engine.train_shards == 1
    sharded(2, X, y)                             # asked for: two shards


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


@settings(max_examples=20, deadline=None)
@given(m=st.integers(1, 60), batch=st.integers(1, 70), n_threads=st.integers(2, 5),
       keep=st.sampled_from([None, 0.5, 0.9]), density=st.sampled_from([None, 0.05, 0.4]),
       shuffle=st.booleans(), seed=st.integers(0, 2**16))
def test_any_batch_with_dropout_or_sparse_input_gives_one_threads_parameters(
        m, batch, n_threads, keep, density, shuffle, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, 8))
    if density is not None:
        X = sp.csr_matrix(np.where(rng.random((m, 8)) < density, X, 0))
    y = rng.integers(0, 2, m).astype(float)
    params = []
    for threads in (1, n_threads):
        net = dnn.Network([8, 6, 5, 1], seed=seed, n_threads=threads)
        net.fit(X, y, epochs=2, batch_size=batch, optimizer="adam", learning_rate=0.05,
                keep_prob=keep, shuffle=shuffle)
        params.append(net.flat_parameters)
    assert_close(params[1], params[0])
