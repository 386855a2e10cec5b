"""dnn.Network on scipy.sparse X (issue 11): the same fit, predictions and
gradients as on the dense copy, without ever densifying X."""
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import dnn

from helpers import no_densify  # noqa: F401 (a fixture)

OPTIMIZERS = ["gd", "momentum", "nesterov", "rmsprop", "adam"]


def _data(m=120, n=30, density=0.15, seed=0, dtype=np.float64, empty_rows=(3, 50)):
    rng = np.random.default_rng(seed)
    X = sp.random(m, n, density=density, format="csr", random_state=seed, dtype=dtype)
    X = X.tolil()
    for r in empty_rows:
        X[r] = 0
    X = X.tocsr()
    X.eliminate_zeros()
    return X, rng.integers(0, 3, m)


def _net(dims, output="softmax", dtype="float64", **kw):
    return dnn.Network(dims, activation="tanh", output=output, dtype=dtype, seed=7, **kw)


def _fit_both(X, y, dims=(30, 8, 3), output="softmax", dtype="float64", **fit):
    nets = []
    for data in (X, X.toarray()):
        net = _net(list(dims), output, dtype)
        net.fit(data, y, **fit)
        nets.append(net)
    return nets


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("batch_size", [16, None])
def test_fit_same_parameters_as_dense(optimizer, shuffle, batch_size):
    X, y = _data()
    sparse, dense = _fit_both(X, y, epochs=3, batch_size=batch_size, optimizer=optimizer,
                              shuffle=shuffle, l2=0.05)
    np.testing.assert_allclose(sparse.flat_parameters, dense.flat_parameters,
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(sparse.history_.cost, dense.history_.cost, rtol=1e-12)


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_fit_with_sample_weights_and_dropout(optimizer):
    X, y = _data()
    w = np.random.default_rng(1).uniform(0, 2, X.shape[0])
    sparse, dense = _fit_both(X, y, dims=(30, 10, 6, 3), epochs=2, batch_size=20,
                              optimizer=optimizer, keep_prob=0.7, sample_weight=w, l2=0.1)
    np.testing.assert_allclose(sparse.flat_parameters, dense.flat_parameters,
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_other_outputs_and_no_hidden_layer(output):
    X, y = _data()
    target = (y == 1).astype(float) if output == "sigmoid" else y.astype(float)
    for dims in ((30, 1), (30, 5, 1)):
        sparse, dense = _fit_both(X, target, dims=dims, output=output, epochs=2,
                                  batch_size=25, optimizer="gd")
        np.testing.assert_allclose(sparse.flat_parameters, dense.flat_parameters,
                                   rtol=0, atol=1e-12)


def test_predict_evaluate_gradients_equal():
    X, y = _data()
    net = _net([30, 8, 3])
    net.fit(X, y, epochs=2, batch_size=32)
    np.testing.assert_array_equal(net.predict(X), net.predict(X.toarray()))
    np.testing.assert_allclose(net.predict_proba(X), net.predict_proba(X.toarray()),
                               rtol=0, atol=1e-14)
    assert net.evaluate(X, y) == pytest.approx(net.evaluate(X.toarray(), y), rel=1e-13)
    w = np.linspace(0, 1, X.shape[0])
    cost, grads = net.compute_gradients(X, y, l2=0.2, sample_weight=w)
    cost_d, grads_d = net.compute_gradients(X.toarray(), y, l2=0.2, sample_weight=w)
    assert cost == pytest.approx(cost_d, rel=1e-13)
    for key in grads:
        np.testing.assert_allclose(grads[key], grads_d[key], rtol=0, atol=1e-14)
    flat = net.flat_parameters * 0.5
    c1, g1 = net.loss_and_gradient(flat, X, y, l2=0.1)
    c2, g2 = net.loss_and_gradient(flat, X.toarray(), y, l2=0.1)
    assert c1 == pytest.approx(c2, rel=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=0, atol=1e-14)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("kind", ["csr_matrix", "csr_array", "csc_matrix", "csc_array",
                                  "coo_matrix"])
def test_formats_and_index_types(index_dtype, kind, no_densify):
    X, y = _data()
    X.indices = X.indices.astype(index_dtype)
    X.indptr = X.indptr.astype(index_dtype)
    data = getattr(sp, kind)(X)
    if kind.startswith("csr"):
        data.indices = data.indices.astype(index_dtype)
        data.indptr = data.indptr.astype(index_dtype)
    net = _net([30, 8, 3])
    net.fit(data, y, epochs=2, batch_size=16, validation_split=0.2)
    p = net.predict_proba(data)
    assert p.shape == (X.shape[0], 3) and np.isfinite(p).all()
    net.compute_gradients(data, y)
    net.evaluate(data, y)


def test_matches_dense_for_int64_indices():
    X, y = _data()
    X64 = sp.csr_matrix((X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)),
                        shape=X.shape)
    a, b = _net([30, 8, 3]), _net([30, 8, 3])
    a.fit(X64, y, epochs=2, batch_size=16)
    b.fit(X.toarray(), y, epochs=2, batch_size=16)
    np.testing.assert_allclose(a.flat_parameters, b.flat_parameters, rtol=0, atol=1e-12)


def test_float32_and_conversion_of_values():
    X, y = _data(dtype=np.float32)
    sparse, dense = _fit_both(X, y, dtype="float32", epochs=2, batch_size=16)
    assert sparse.flat_parameters.dtype == np.float32
    np.testing.assert_allclose(sparse.flat_parameters, dense.flat_parameters, atol=1e-5)
    # float64 values into a float32 network, and integer values: converted at the boundary
    net = _net([30, 8, 3], dtype="float32")
    net.fit(X.astype(np.float64), y, epochs=1, batch_size=16)
    net.fit((X * 10).astype(np.int64), y, epochs=1, batch_size=16)


def test_all_rows_empty_and_duplicates():
    X = sp.csr_matrix((20, 30))
    y = np.arange(20) % 3
    sparse, dense = _fit_both(X, y, epochs=2, batch_size=8)
    np.testing.assert_allclose(sparse.flat_parameters, dense.flat_parameters, atol=1e-12)
    # duplicate entries add up, as in toarray()
    D = sp.csr_matrix((np.array([1.0, 2.0, 3.0]), np.array([4, 4, 7]), np.array([0, 3] + [3] * 19)),
                      shape=(20, 30))
    sparse, dense = _fit_both(D, y, epochs=2, batch_size=8)
    np.testing.assert_allclose(sparse.flat_parameters, dense.flat_parameters, atol=1e-12)


def test_bad_input():
    X, y = _data()
    net = _net([30, 8, 3])
    bad = X.copy()
    bad.data[5] = np.nan
    with pytest.raises(ValueError, match="X: expected finite"):
        net.fit(bad, y, epochs=1)
    with pytest.raises(ValueError, match="X: expected finite"):
        net.predict(bad)
    with pytest.raises(ValueError, match=r"X: expected shape"):
        net.fit(sp.random(10, 29, format="csr"), y[:10], epochs=1)
    broken = X.copy()
    broken.indices[0] = 30
    with pytest.raises(ValueError, match="indices"):
        net.fit(broken, y, epochs=1)
    with pytest.raises(ValueError, match="X: values beyond float32"):
        _net([30, 8, 3], dtype="float32").fit(X * 1e300, y, epochs=1)
    with pytest.raises(ValueError, match="validation_data"):
        net.fit(X, y, epochs=1, validation_data=(bad, y))


def test_never_densified_memory():
    """A fit and predict on a wide sparse X use far less than its dense size."""
    m, n = 2000, 20000                        # dense: 320 MB in float64
    X = sp.random(m, n, density=0.001, format="csr", random_state=0)
    y = np.arange(m) % 4
    net = _net([n, 16, 4])
    tracemalloc.start()
    net.fit(X, y, epochs=1, batch_size=100)
    net.predict(X)
    net.compute_gradients(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.05 * m * n * 8, peak


def test_dense_after_sparse_and_back():
    X, y = _data()
    net = _net([30, 8, 3])
    net.fit(X, y, epochs=1, batch_size=16)
    net.fit(X.toarray(), y, epochs=1, batch_size=16)
    net.fit(X, y, epochs=1, batch_size=16)
    ref = _net([30, 8, 3])
    for _ in range(3):
        ref.fit(X.toarray(), y, epochs=1, batch_size=16)
    np.testing.assert_allclose(net.flat_parameters, ref.flat_parameters, atol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_rolls_back_as_dense():
    X, y = _data()
    X = X * 1e6
    results = []
    for data in (X, X.toarray()):
        net = _net([30, 8, 1], output="linear")
        with pytest.raises(dnn.DivergenceError):
            net.fit(data, y.astype(float) * 1e150, epochs=20, batch_size=16, optimizer="gd",
                    learning_rate=10.0)
        assert np.isfinite(net.flat_parameters).all()
        results.append(net.flat_parameters)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


SPARSE_INTERRUPTED_CHILD = """
import signal, time
import numpy as np, scipy.sparse as sp
import dnn

signal.signal(signal.SIGINT, signal.default_int_handler)
m, n, batch = 2000, 20000, 200
X = sp.random(m, n, density=0.01, format="csr", random_state=0)
y = np.arange(m) % 2
settings = dict(batch_size=batch, shuffle=False, optimizer="adam")
batches = m // batch

def network():
    return dnn.Network([n, 256, 1], dtype="float64", seed=0, n_threads=1)

net, replay = network(), network()
print("fitting", flush=True)
try:
    net.fit(X, y, epochs=10**6, **settings)
    raise SystemExit("fit ended without the interrupt")
except KeyboardInterrupt:
    print("caught", time.monotonic(), flush=True)
new = net._engine.step_count
whole, part = divmod(new, batches)
if whole:
    replay.fit(X, y, epochs=whole, **settings)
if part:
    replay.fit(X[:part * batch], y[:part * batch], epochs=1, **settings)
assert np.array_equal(net.flat_parameters, replay.flat_parameters)
assert np.array_equal(net._engine.moments, replay._engine.moments)
print("ok", new, flush=True)
"""


def test_sigint_during_sparse_fit_stops_at_a_completed_step(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", SPARSE_INTERRUPTED_CHILD],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    sent = latency = None
    try:
        for line in child.stdout:
            word, *values = line.split()
            if word == "fitting":
                time.sleep(0.5)
                sent = time.monotonic()
                os.kill(child.pid, signal.SIGINT)
            elif word == "caught":
                latency = float(values[0]) - sent
        child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, child.stderr.read()
    assert latency is not None and latency < 0.5, latency


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("gather", ["dense", "sparse"])
def test_dense_gathering_above_the_density_threshold(monkeypatch, dtype, gather):
    """Both ways of reading a CSR (compressed columns for SPARSE_DENSE, or dense
    batches for the GEMM path) give the dense copy's fit."""
    from dnn_core import _sparse_rows

    for key in list(_sparse_rows.DENSE_GATHER_DENSITY):
        monkeypatch.setitem(_sparse_rows.DENSE_GATHER_DENSITY, key,
                            0.0 if gather == "dense" else 2.0)
    X, y = _data(density=0.3, dtype=np.dtype(dtype).type)
    for optimizer in ("gd", "adam"):
        sparse, dense = _fit_both(X, y, dtype=dtype, epochs=2, batch_size=16,
                                  optimizer=optimizer, keep_prob=0.8, l2=0.1)
        atol = 1e-12 if dtype == "float64" else 1e-5
        np.testing.assert_allclose(sparse.flat_parameters, dense.flat_parameters, atol=atol)
        np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X.toarray()),
                                   atol=atol)
        c1, g1 = sparse.compute_gradients(X, y)
        c2, g2 = sparse.compute_gradients(X.toarray(), y)
        assert c1 == pytest.approx(c2, rel=1e-5)


def test_default_density_thresholds_choose_the_path():
    from dnn_core import _sparse_rows

    X, _ = _data(density=0.01)
    assert not _sparse_rows.SparseInput(X, 30, np.float64).gathers_dense
    net = _net([30, 4, 3])
    dense_enough = sp.random(50, 30, density=0.5, format="csr", random_state=0)
    net.fit(dense_enough, np.arange(50) % 3, epochs=1, batch_size=10)
    assert _sparse_rows.DENSE_GATHER_DENSITY[np.dtype(np.float64)] < 0.5


@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csr_array, sp.csc_array, sp.coo_matrix])
def test_the_no_densify_fixture_refuses_densifying(kind, no_densify):
    X = kind(np.eye(3))
    for densify in (X.toarray, X.todense, lambda: np.asarray(X, dtype=float)):
        with pytest.raises(AssertionError, match="X was densified"):
            densify()
