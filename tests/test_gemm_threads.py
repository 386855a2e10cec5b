"""OpenBLAS threads decided per GEMM (issue 12): within an unsharded fit or a
large prediction, a GEMM of m*n*k >= the cut-off runs on the allowed threads,
every other GEMM on one; threadpoolctl limits, n_threads=1, shards and
concurrent fits keep one thread; the process's counts are restored after.

The cut-off is lowered for these tests (the ``cut_off`` fixture) so that small
networks have one layer above it; ``dnn_core.gemm_threads.state()``
counts the GEMMs that ran threaded.
"""
import threading

import numpy as np
import pytest
import scipy.sparse as sp

import dnn
from dnn import _threads
from dnn_core import gemm_threads

from helpers import assert_close

threadpoolctl = pytest.importorskip("threadpoolctl")

pytestmark = pytest.mark.skipif(
    not _threads.per_gemm_available() or _threads.usable_cpus() < 2,
    reason="needs a pthreads OpenBLAS under scipy and two usable CPUs")

#: for the tests that need threaded GEMMs: the allowed count (the usable CPUs,
#: capped by OPENBLAS_NUM_THREADS or a threadpoolctl limit, as shard_count caps
#: it) is at least 2 (tools/sanitize.sh runs the suite with OPENBLAS_NUM_THREADS=1)
two_blas_threads = pytest.mark.skipif(
    _threads.shard_count([4096, 4096], 1024) < 2,
    reason="BLAS capped to one thread here (OPENBLAS_NUM_THREADS=1 or threadpoolctl)")

#: layer 1 (256 x 64 x batch 64 = 1.05 M multiply-adds) above CUT, the rest below
DIMS = [64, 256, 8, 8, 8, 1]
CUT = 5e5


@pytest.fixture
def cut_off():
    before = gemm_threads.work()
    gemm_threads.work(CUT)
    yield CUT
    gemm_threads.work(before)


def threaded():
    """GEMMs run on more than one thread so far in this process."""
    return gemm_threads.state()[2]


def counts():
    return [info["num_threads"] for info in threadpoolctl.threadpool_info()
            if info["user_api"] == "blas"]


def data(m=256, n=DIMS[0], seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    return X, (X[:, 0] + 0.3 * X[:, 1] > 0).astype(float)


def bn_net(n_threads=None, dims=DIMS):
    """A batch-norm network small enough to stay below batch norm's shard
    cut-off (dnn._threads.shard_count): its steps run unsharded."""
    assert _threads.shard_count(list(dims), 64, n_threads, batch_norm=len(dims) - 2) == 1
    return dnn.Network(dims, seed=4, batch_norm=True, n_threads=n_threads)


@two_blas_threads
def test_only_the_big_layers_gemms_are_threaded_and_results_equal_one_thread(cut_off):
    X, y = data()
    before = threaded()
    net = bn_net()
    net.fit(X, y, epochs=3, batch_size=64, optimizer="adam", learning_rate=0.01)
    # 4 steps an epoch; layer 1: its forward and its weight gradient (no dA0)
    assert threaded() - before == 2 * 4 * 3
    one = bn_net(n_threads=1)
    one.fit(X, y, epochs=3, batch_size=64, optimizer="adam", learning_rate=0.01)
    assert_close(net.flat_parameters, one.flat_parameters)
    assert threaded() - before == 2 * 4 * 3          # n_threads=1: none


def test_the_average_rule_never_threads_the_big_layer_of_a_net_of_small_ones(cut_off):
    X, y = data()
    assert _threads.thread_count(DIMS, 64) == _threads.usable_cpus()
    with _threads.per_gemm(False):
        assert not _threads.per_gemm_available()
        assert _threads.thread_count(DIMS, 64) == 1      # the average layer: 0.2 M
        before = threaded()
        seen = []
        bn_net().fit(X, y, epochs=1, batch_size=64,
                     callbacks=[lambda epoch, logs: seen.extend(counts())])
        assert threaded() == before and set(seen) == {1}
    assert _threads.per_gemm_available()


def test_threadpool_limits_one_keeps_every_gemm_on_one_thread(cut_off):
    X, y = data()
    before = threaded()
    seen = []
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        bn_net().fit(X, y, epochs=2, batch_size=64,
                     callbacks=[lambda epoch, logs: seen.extend(counts())])
        bn_net().predict(X)
        assert set(counts()) == {1}
    assert threaded() == before and set(seen) == {1}


@two_blas_threads
def test_the_process_counts_are_restored_after_a_fit(cut_off):
    X, y = data()
    for limit in (None, 2):
        with threadpoolctl.threadpool_limits(limit, user_api="blas"):
            start = counts()
            before = threaded()
            bn_net().fit(X, y, epochs=1, batch_size=64)
            assert threaded() > before
            assert counts() == start
            # and after a fit whose last GEMM was a small one (a prediction's
            # last chunk: layer 5) or a big one (training's last: layer 1's dW)
            bn_net().predict(X[:100])
            assert counts() == start


def test_sharded_steps_keep_single_threaded_blas(cut_off):
    X, y = data(m=512)
    before = threaded()
    net = dnn.Network(DIMS, seed=1, n_threads=2)            # no batch norm: sharded
    net.fit(X, y, epochs=2, batch_size=128)
    assert net._engine.train_shards == 2
    assert threaded() == before


@two_blas_threads
def test_sparse_input_and_prediction_choose_per_gemm(cut_off):
    rng = np.random.default_rng(5)
    X = sp.random(300, 64, density=0.2, format="csr", random_state=6)
    y = (rng.random(300) < 0.5).astype(float)
    dims = [64, 16, 600, 1]           # layer 2: 600 x 16 x 64 rows = 0.61 M
    nets = [dnn.Network(dims, seed=2, n_threads=n) for n in (None, 1)]
    before = threaded()
    nets[0].fit(X, y, epochs=2, batch_size=64, learning_rate=0.05)
    per_fit = threaded() - before
    # 5 batches (the last of 44 rows: 0.42 M, below) x 2 epochs; forward, dW, dA1
    assert per_fit == 3 * 4 * 2
    nets[1].fit(X, y, epochs=2, batch_size=64, learning_rate=0.05)
    assert_close(nets[0].flat_parameters, nets[1].flat_parameters)
    assert threaded() - before == per_fit
    # a prediction of 300 rows: layer 2's GEMM (2.9 M) threaded, once
    dense = X.toarray()
    assert_close(nets[0].predict_proba(dense), nets[1].predict_proba(dense))
    assert threaded() - before == per_fit + 1


@two_blas_threads
def test_a_prediction_in_a_callback_does_not_turn_the_fits_choice_off(cut_off):
    X, y = data()
    other = bn_net()
    before = threaded()
    bn_net().fit(X, y, epochs=2, batch_size=64,
                 callbacks=[lambda epoch, logs: other.predict(X[:64])])
    # the fit's 2 x 4 x 2, and the predictions' own (64 rows: layer 1's GEMM)
    assert threaded() - before == 2 * 4 * 2 + 2


def test_concurrent_fits_equal_the_same_fits_in_sequence_and_restore_counts(cut_off):
    X, y = data(m=512)
    start = counts()
    expected = []
    for seed in (0, 1):
        net = dnn.Network(DIMS, seed=seed, batch_norm=True, n_threads=1)
        net.fit(X, y, epochs=3, batch_size=64, optimizer="adam")
        expected.append(net.flat_parameters)
    barrier = threading.Barrier(2)
    results, errors = [None, None], []

    def work(slot):
        try:
            net = dnn.Network(DIMS, seed=slot, batch_norm=True)
            barrier.wait()
            net.fit(X, y, epochs=3, batch_size=64, optimizer="adam")
            results[slot] = net.flat_parameters
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(slot,)) for slot in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    for got, want in zip(results, expected):
        assert_close(got, want)
    assert counts() == start
    assert gemm_threads.state()[0] is False       # nobody owns the count now


def test_bad_cut_off_is_refused():
    with pytest.raises(ValueError, match="work"):
        gemm_threads.work(0)
    with pytest.raises(ValueError, match="work"):
        gemm_threads.work(float("nan"))


@two_blas_threads
def test_a_prediction_in_another_thread_pauses_the_fits_threads_then_gives_them_back(cut_off):
    X, y = data()
    other = bn_net()
    pauses = []

    def predict_elsewhere(epoch, logs):
        if epoch == 0:
            before = threaded()
            thread = threading.Thread(target=other.predict, args=(X,))
            thread.start()
            thread.join()
            pauses.append(threaded() - before)

    before = threaded()
    bn_net().fit(X, y, epochs=2, batch_size=64, callbacks=[predict_elsewhere])
    # the prediction (another thread: not the owner) ran on one thread; the
    # fit's 2 GEMMs a step threaded in both epochs
    assert pauses == [0]
    assert threaded() - before == 2 * 4 * 2


OPENBLAS_ONE = """
import numpy as np
import dnn
from dnn_core import gemm_threads
gemm_threads.work(5e5)
rng = np.random.default_rng(0)
X = rng.standard_normal((256, 64)); y = (X[:, 0] > 0).astype(float)
dnn.Network([64, 256, 8, 1], seed=0, batch_norm=True).fit(X, y, epochs=2, batch_size=64)
print(gemm_threads.state()[2])
"""


@pytest.mark.parametrize("variable,expected", [("1", "0"), (None, "16")])
def test_openblas_num_threads_caps_the_allowed_count(tmp_path, variable, expected):
    import os
    import subprocess
    import sys
    env = {key: value for key, value in os.environ.items()
           if key not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    if variable is not None:
        env["OPENBLAS_NUM_THREADS"] = variable
    done = subprocess.run([sys.executable, "-c", OPENBLAS_ONE], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    # 2 epochs x 4 steps x layer 1's 2 GEMMs threaded, or none under the variable
    assert done.stdout.strip() == expected
