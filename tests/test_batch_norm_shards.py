"""Data-parallel steps of batch-normalized networks (dnn_core/_bn_shards.pyx):
a batch cut into row shards, run in phases on the engine's pool, each batch-norm
layer's statistics (Chan's parallel moments) and gradient sums combined over the
shards in shard order, gives one thread's parameters, running statistics and
cost trace to rounding (float64 1e-12), the same bits on every run with the
same thread count."""
import numpy as np
import pytest
import scipy.sparse as sp

import dnn
import dnn_core
from dnn import _threads
from dnn_core import _batchnorm_moments
from helpers import assert_close

OPTIMIZERS = ["gd", "momentum", "adam"]


def data(m=301, n=12, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((m, n)) * 2 + 1).astype(dtype)
    y = (X[:, 0] + 0.5 * X[:, 1] > 1.5).astype(np.float64)
    return X, y


def fitted(n_threads, optimizer="adam", dims=(12, 16, 8, 1), batch_norm=True, output="sigmoid",
           X=None, y=None, dtype="float64", **fit):
    if X is None:
        X, y = data(dtype=dtype)
    net = dnn.Network(list(dims), output=output, seed=4, n_threads=n_threads,
                      batch_norm=batch_norm, dtype=dtype)
    fit.setdefault("epochs", 4)
    fit.setdefault("batch_size", 50)
    fit.setdefault("learning_rate", 0.01 if optimizer == "adam" else 0.05)
    history = net.fit(X, y, optimizer=optimizer, **fit)
    return net, history


def assert_same_fit(many, hn, one, h1, dtype=np.float64):
    assert_close(many.flat_parameters, one.flat_parameters, dtype=dtype)
    assert_close(many._engine.running_statistics, one._engine.running_statistics,
                 dtype=dtype)
    assert_close(hn.cost, h1.cost, dtype=dtype)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("n_threads", [2, 3, 7])
@pytest.mark.parametrize("keep_prob", [None, 0.8])
def test_bn_shards_give_one_threads_fit(optimizer, n_threads, keep_prob):
    one, h1 = fitted(1, optimizer, keep_prob=keep_prob)
    many, hn = fitted(n_threads, optimizer, keep_prob=keep_prob)
    assert one._engine.train_shards == 1
    assert many._engine.train_shards == n_threads
    assert_same_fit(many, hn, one, h1)


@pytest.mark.parametrize("batch_norm", [[True, False, True], [False, True, False],
                                        [True, True, True], [False, False, True],
                                        [True, False, False]])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_bn_on_some_or_all_hidden_layers(batch_norm, optimizer):
    dims = (12, 10, 9, 7, 3)
    X, y = data()
    labels = (y + (X[:, 2] > 1)).astype(int)
    fit = dict(dims=dims, batch_norm=batch_norm, output="softmax", X=X, y=labels,
               keep_prob=[0.9, 1.0, 0.8])
    one, h1 = fitted(1, optimizer, **fit)
    many, hn = fitted(3, optimizer, **fit)
    assert many._engine.train_shards == 3
    assert_same_fit(many, hn, one, h1)


@pytest.mark.parametrize("fit", [
    dict(batch_size=None),                       # full batch: rows gathered once
    dict(shuffle=False),                         # consecutive rows read in place
    dict(l2=0.3),                                # l2 added once, by shard 0
    dict(sample_weight=np.linspace(0, 3, 301)),  # weighted statistics, some weights zero
    dict(sample_weight=np.r_[np.zeros(40), np.ones(261)], shuffle=False,
         batch_size=20),                         # whole shards and batches of zero weight
    dict(batch_size=7),                          # batches not divisible by the shards
    dict(batch_size=5, epochs=2),                # shards of 2 or 3 rows
    dict(batch_size=64, epochs=3),               # last batch (45 rows) and shards uneven
])
def test_bn_shards_equal_one_thread_in_every_mode(fit):
    one, h1 = fitted(1, "momentum", **fit)
    many, hn = fitted(3, "momentum", **fit)
    assert many._engine.train_shards == 3 or fit.get("batch_size") == 5
    assert_same_fit(many, hn, one, h1)


def test_batches_smaller_than_the_shard_count():
    """301 rows in batches of 8: four shards of two rows, and the epoch's last
    batch of 5 rows (one shard idle); an engine asked for more shards than a
    batch has rows uses one row a shard."""
    one, h1 = fitted(1, "adam", batch_size=8, epochs=2)
    many, hn = fitted(4, "adam", batch_size=8, epochs=2)
    assert many._engine.train_shards == 4
    assert_same_fit(many, hn, one, h1)
    from dnn_core._engine import Engine
    X, y = data(m=10)
    results = []
    for n_threads in (1, 6):
        engine = Engine([12, 5, 1], [0], 0, 0.01, np.float64, seed=1)
        engine.enable_batch_norm([True])
        engine.parameters[:] = np.random.default_rng(3).standard_normal(engine.size) * 0.3
        engine.gamma(1)[...] = 1
        costs = np.zeros(3)
        engine.train(X, y[:, None], None, batch_size=10, shuffle=1, epochs=3, optimizer=2,
                     learning_rate=0.01, costs=costs, seconds=np.zeros(3),
                     n_threads=n_threads)
        assert engine.train_shards == min(n_threads, 5)
        results.append((engine.parameters.copy(), engine.running_statistics.copy(), costs))
    for a, b in zip(results[1], results[0]):
        assert_close(a, b)


def test_sparse_input_with_batch_norm_above_layer_one():
    rng = np.random.default_rng(0)
    X = sp.random(301, 40, density=0.15, format="csr", random_state=0,
                  data_rvs=rng.standard_normal)
    y = (np.asarray(X[:, :4].sum(axis=1)).ravel() > 0).astype(np.float64)
    fit = dict(dims=(40, 16, 8, 1), batch_norm=[False, True], X=X, y=y, keep_prob=0.9)
    one, h1 = fitted(1, "adam", **fit)
    many, hn = fitted(2, "adam", **fit)
    assert many._engine.train_shards == 2
    assert_same_fit(many, hn, one, h1)
    dense, hd = fitted(2, "adam", **{**fit, "X": X.toarray()})
    assert_same_fit(many, hn, dense, hd)


def test_the_same_thread_count_gives_the_same_bits():
    for keep_prob in (None, 0.7):
        first, h1 = fitted(3, "adam", keep_prob=keep_prob, batch_size=37)
        again, h2 = fitted(3, "adam", keep_prob=keep_prob, batch_size=37)
        np.testing.assert_array_equal(again.flat_parameters, first.flat_parameters)
        np.testing.assert_array_equal(again._engine.running_statistics,
                                      first._engine.running_statistics)
        np.testing.assert_array_equal(h2.cost, h1.cost)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_float32_bn_shards_stay_close_to_one_thread(optimizer):
    fit = dict(dtype="float32", epochs=2, keep_prob=0.9)
    one, h1 = fitted(1, optimizer, **fit)
    many, hn = fitted(2, optimizer, **fit)
    assert many._engine.train_shards == 2
    assert_same_fit(many, hn, one, h1, dtype=np.float32)


def test_bn_shards_are_not_a_one_thread_fit_in_disguise():
    """The sharded fit moves: its parameters and running statistics differ
    from the initial ones and from those of a network without batch norm."""
    plain, _ = fitted(2, "adam", batch_norm=False)
    many, _ = fitted(2, "adam")
    fresh = dnn.Network([12, 16, 8, 1], seed=4, batch_norm=True)
    assert many.flat_parameters.shape != plain.flat_parameters.shape
    stats = many._engine.running_statistics
    assert np.all(np.isfinite(stats))
    assert not np.allclose(stats, fresh._engine.running_statistics)
    net, _ = fitted(2, "adam", epochs=0)
    assert not np.allclose(many.flat_parameters, net.flat_parameters)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_divergence_under_shards_is_one_threads(batch_norm):
    """A step whose parameters overflow diverges as with one thread: the same
    error, back to the same best state (running statistics included); so does
    a first step whose Z overflows (a NaN cost is not a skipped batch)."""
    X, y = data()
    outcomes = []
    for n_threads in (1, 3):
        net = dnn.Network([12, 16, 8, 1], seed=4, n_threads=n_threads, batch_norm=batch_norm)
        net.fit(X, y, epochs=2, batch_size=50, optimizer="adam", learning_rate=0.01)
        with pytest.raises(dnn.DivergenceError):
            net.fit(X, y, epochs=3, batch_size=50, optimizer="gd", learning_rate=1e305)
        with pytest.raises(dnn.DivergenceError):
            dnn.Network([12, 16, 8, 1], seed=4, n_threads=n_threads,
                        batch_norm=batch_norm).fit(X * 1e307, y, epochs=1, batch_size=50)
        outcomes.append((net.flat_parameters, net._engine.running_statistics))
    assert_close(outcomes[1][0], outcomes[0][0])
    assert_close(outcomes[1][1], outcomes[0][1])


@pytest.mark.parametrize("batch_norm, jobs_a_step", [
    (False, 2), ([True, False], 4), ([True, True], 6), ([False, True], 4)])
def test_a_sharded_step_is_2k_plus_2_pool_jobs(batch_norm, jobs_a_step):
    """Without batch norm: the gradients and the update; with K batch-norm layers:
    K forward phases, the turn (rest of the forward, the cost, backward to the last
    BN layer), K - 1 backward phases, the last one down to layer 1, the update."""
    X, y = data()
    net = dnn.Network([12, 16, 8, 1], seed=4, n_threads=2, batch_norm=batch_norm)
    before, _ = dnn_core.busy_jobs()
    net.fit(X, y, epochs=2, batch_size=50)       # 7 steps an epoch (the last of 1 row)
    after, _ = dnn_core.busy_jobs()
    assert net._engine.train_shards == 2
    assert after - before == jobs_a_step * 7 * 2
    before, _ = dnn_core.busy_jobs()
    dnn.Network([12, 16, 8, 1], seed=4, n_threads=1, batch_norm=batch_norm).fit(
        X, y, epochs=2, batch_size=50)
    assert dnn_core.busy_jobs()[0] == before


def test_fork_while_a_sharded_bn_fit_runs_never_hangs(tmp_path):
    """A fork between two of a step's phases: the prepare handler takes the pool
    between jobs, the parent's next job finds it busy and runs in the caller (the
    same results), the child starts with an empty pool."""
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent("""
        import os, threading
        import numpy as np
        import dnn
        rng = np.random.default_rng(0)
        X = rng.standard_normal((4000, 64)); y = (X[:, 0] > 0).astype(float)
        net = dnn.Network([64, 128, 64, 1], seed=0, n_threads=2, batch_norm=True)
        fit = threading.Thread(target=net.fit, args=(X, y), kwargs=dict(epochs=6, batch_size=64))
        fit.start()
        for _ in range(15):
            pid = os.fork()
            if pid == 0:
                child = dnn.Network([64, 32, 1], seed=1, n_threads=2, batch_norm=True)
                child.fit(X[:500], y[:500], epochs=1, batch_size=100)
                os._exit(0 if np.isfinite(child.flat_parameters).all() else 1)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        fit.join()
        one = dnn.Network([64, 128, 64, 1], seed=0, n_threads=1, batch_norm=True)
        one.fit(X, y, epochs=6, batch_size=64)
        gap = np.abs(one.flat_parameters - net.flat_parameters).max()
        print(net._engine.train_shards, gap < 1e-12 * np.abs(one.flat_parameters).max())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)     # not the source tree: it would shadow
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2 True"


def test_default_threads_shard_bn_networks_by_their_work():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    cpus = _threads.usable_cpus()
    big, small = [784, 256, 128, 10], [784, 64, 64, 10]
    with threadpoolctl.threadpool_limits(cpus, user_api="blas"):
        # two batch-norm layers: from 3 x SHARD_WORK (6 M) a shard
        assert _threads.shard_count(big, 128, batch_norm=2) == min(cpus, 5)     # 30 M a batch
        assert _threads.shard_count(small, 128, batch_norm=2) == 1              # 7 M
        assert _threads.shard_count(small, 128, batch_norm=1) == 1              # 4 M: 1.75
        assert _threads.shard_count(small, 128) == min(cpus, 3)   # without batch norm it shards
    assert _threads.shard_count(small, 128, n_threads=2, batch_norm=2) == 2
    assert _threads.shard_count(big, 128, n_threads=1, batch_norm=2) == 1
    # n_threads=1 never shards, n_threads=k forces k, None follows shard_count
    X, y = data(m=256, n=784)
    for n_threads, expected in ((1, 1), (2, 2), (None, _threads.shard_count(
            [784, 256, 1], 128, batch_norm=1))):
        net = dnn.Network([784, 256, 1], seed=0, n_threads=n_threads, batch_norm=True)
        net.fit(X, y, epochs=1, batch_size=128)
        assert net._engine.train_shards == expected


def test_chan_moments_equal_numpy_for_any_cut():
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((5, 23)) * 3 + 1e4          # a large mean: one-pass sums would lose
    w = rng.uniform(0, 2, 23)
    w[3:8] = 0
    for cuts in ((), (1,), (4, 8), (3, 8, 22), tuple(range(1, 23))):
        mean, var = _batchnorm_moments.moments(Z, cuts=cuts)
        assert_close(mean, Z.mean(axis=1))
        assert_close(var, Z.var(axis=1))
        mean, var = _batchnorm_moments.moments(Z, w, cuts=cuts)
        mu = (Z * w).sum(axis=1) / w.sum()
        assert_close(mean, mu)
        assert_close(var, ((Z - mu[:, None]) ** 2 * w).sum(axis=1) / w.sum())
    with pytest.raises(ValueError, match="cuts"):
        _batchnorm_moments.moments(Z, cuts=(5, 5))
    with pytest.raises(ValueError, match="Z"):
        _batchnorm_moments.moments(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="weights"):
        _batchnorm_moments.moments(Z, -w)


from hypothesis import assume, given, settings, strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 60), batch=st.integers(1, 70), n_threads=st.integers(2, 9),
       optimizer=st.sampled_from(OPTIMIZERS), weighted=st.booleans(),
       flags=st.sampled_from([[True, True], [True, False], [False, True]]),
       keep=st.sampled_from([None, 0.7]), l2=st.sampled_from([0.0, 0.5]),
       shuffle=st.booleans(), seed=st.integers(0, 2**16))
def test_any_batch_and_shard_count_give_one_threads_bn_fit(m, batch, n_threads, optimizer,
                                                            weighted, flags, keep, l2,
                                                            shuffle, seed):
    # Not Adam with a dense layer 1 below a batch-norm layer 2: b1's gradient is then 0
    # in exact arithmetic (a BN layer's dZ sums to 0 over the batch) wherever a unit of
    # layer 1 is active on every row, and Adam turns its rounding (5e-17 against an
    # exact 0.0 in one thread, seen at m = 4) into steps of lr * 5e-17 / epsilon:
    # 3e-10 apart, either way, on a parameter near 0 (so is one thread from NumPy)
    assume(not (optimizer == "adam" and not flags[0]))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, 5)) * 3 + 2
    y = rng.integers(0, 2, m).astype(float)
    # Weights > 0 here (zero weights: the tests above): a batch whose weight sits on one
    # row has variance 0 in exact arithmetic, so Z~ = beta = 0 exactly on it, at relu's
    # kink; the one-thread mean (about the batch's first row, of weight 0) is off by
    # rounding, the sharded one (about that shard's own first row) exact, and g'(Z~)
    # flips between them (seen: weights [0, 0, 2, 0], a dense layer 1 with dropout)
    weights = rng.integers(1, 4, m).astype(float) if weighted else None
    fits = []
    for threads in (1, n_threads):
        net = dnn.Network([5, 6, 4, 1], seed=seed, n_threads=threads, batch_norm=flags)
        history = net.fit(X, y, epochs=2, batch_size=batch, optimizer=optimizer,
                          learning_rate=0.05, l2=l2, keep_prob=keep, shuffle=shuffle,
                          sample_weight=weights)
        assert net._engine.train_shards == (1 if threads == 1 else
                                            max(1, min(threads, min(batch, m) // 2)))
        fits.append((net, history))
    (one, h1), (many, hn) = fits
    assert_same_fit(many, hn, one, h1)
