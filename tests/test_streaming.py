"""Data bigger than memory: X streamed from a memmap in another dtype or with a
row stride (converted batch by batch, never copied whole), and the block shuffle.

Every memmap lives in pytest's tmp_path.
"""
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import dnn
import dnn._streaming
from dnn_core._engine import Engine


def _memmap(path, array, mode="r"):
    """array written to a file and opened again as a read-only np.memmap."""
    out = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape)
    out[:] = array
    out.flush()
    del out
    return np.memmap(path, dtype=array.dtype, mode=mode, shape=array.shape)


def _data(m=600, n0=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n0)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    return X, y


def _same(a, b):
    return all(np.array_equal(a.parameters[key], b.parameters[key]) for key in a.parameters)


FITS = {
    "full batch": dict(),
    "unshuffled batches": dict(batch_size=50, shuffle=False),
    "row-shuffled batches": dict(batch_size=50, shuffle="rows"),
    "block-shuffled batches": dict(batch_size=50, shuffle="blocks"),
}


@pytest.mark.parametrize("fit", list(FITS), ids=list(FITS))
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_float32_memmap_trains_a_float64_network_bit_identically(tmp_path, fit, output):
    X, y = _data()
    if output == "softmax":
        y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    elif output == "linear":
        y = X[:, 0] - 2 * X[:, 2]
    mm = _memmap(tmp_path / "X.f32", X)
    n_out = 3 if output == "softmax" else 1
    streamed = dnn.Network([12, 8, n_out], output=output, seed=3)
    in_memory = dnn.Network([12, 8, n_out], output=output, seed=3)
    assert streamed.dtype == np.float64
    streamed.fit(mm, y, epochs=4, optimizer="adam", **FITS[fit])
    in_memory.fit(X.astype(np.float64), y, epochs=4, optimizer="adam", **FITS[fit])
    assert _same(streamed, in_memory)
    assert streamed.history_.cost == in_memory.history_.cost
    X64 = X.astype(np.float64)
    np.testing.assert_array_equal(streamed.predict_proba(mm), in_memory.predict_proba(X64))
    np.testing.assert_array_equal(streamed.predict(mm), in_memory.predict(X64))
    assert streamed.evaluate(mm, y) == in_memory.evaluate(X64, y)
    cost, grads = streamed.compute_gradients(mm, y)
    cost64, grads64 = streamed.compute_gradients(X64, y)
    assert cost == cost64
    assert all(np.array_equal(grads[key], grads64[key]) for key in grads)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fit", list(FITS), ids=list(FITS))
def test_strided_slices_of_a_memmap_train_without_a_copy(tmp_path, dtype, fit):
    X, y = _data(m=900, n0=16)
    mm = _memmap(tmp_path / "X.f32", X)
    for view, rows in ((mm[::2], slice(None, None, 2)), (mm[100:700:3, 2:14], None)):
        if rows is None:
            dense, labels = X[100:700:3, 2:14], y[100:700:3]
        else:
            dense, labels = X[rows], y[rows]
        n0 = view.shape[1]
        assert not view.flags.c_contiguous
        streamed = dnn.Network([n0, 6, 1], dtype=dtype, seed=1)
        in_memory = dnn.Network([n0, 6, 1], dtype=dtype, seed=1)
        streamed.fit(view, labels, epochs=3, **FITS[fit])
        in_memory.fit(np.ascontiguousarray(dense, dtype=dtype), labels, epochs=3,
                      **FITS[fit])
        assert _same(streamed, in_memory)
        np.testing.assert_array_equal(streamed.predict_proba(view),
                                      in_memory.predict_proba(dense.astype(dtype)))
        assert streamed.evaluate(view, labels) == in_memory.evaluate(dense.astype(dtype),
                                                                     labels)


def test_validation_split_of_a_memmap(tmp_path):
    X, y = _data()
    mm = _memmap(tmp_path / "X.f32", X)
    a = dnn.Network([12, 8, 1], seed=0)
    b = dnn.Network([12, 8, 1], seed=0)
    ha = a.fit(mm, y, epochs=3, batch_size=64, shuffle="rows", validation_split=0.25)
    hb = b.fit(X.astype(np.float64), y, epochs=3, batch_size=64, shuffle="rows",
               validation_split=0.25)
    assert _same(a, b) and ha.val_cost == hb.val_cost


def test_uint8_rows_are_converted_per_batch():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (500, 10), dtype=np.uint8)
    y = (X[:, 0] > 127).astype(np.int64)
    for dtype in ("float64", "float32"):
        a = dnn.Network([10, 5, 1], dtype=dtype, seed=0)
        b = dnn.Network([10, 5, 1], dtype=dtype, seed=0)
        a.fit(X[::2], y[::2], epochs=2, batch_size=40, optimizer="gd")
        b.fit(X[::2].astype(dtype), y[::2], epochs=2, batch_size=40, optimizer="gd")
        assert _same(a, b)
        np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X.astype(dtype)))


def test_odd_layouts_are_copied_and_still_agree():
    X, y = _data()
    reference = dnn.Network([12, 8, 1], seed=0)
    reference.fit(X.astype(np.float64), y, epochs=2, batch_size=64)
    # Fortran order, a swapped byte order, a column stride: converted whole
    for odd in (np.asfortranarray(X), X.astype(X.dtype.newbyteorder(">")),
                np.repeat(X, 2, axis=1)[:, ::2]):
        net = dnn.Network([12, 8, 1], seed=0)
        net.fit(odd, y, epochs=2, batch_size=64)
        assert _same(net, reference)
    # reversed rows: the rows of the reversed set, in its order
    net = dnn.Network([12, 8, 1], seed=0)
    net.fit(X[::-1], y[::-1], epochs=1, batch_size=64, shuffle=False)
    other = dnn.Network([12, 8, 1], seed=0)
    other.fit(X[::-1].astype(np.float64).copy(), y[::-1], epochs=1, batch_size=64,
              shuffle=False)
    assert _same(net, other)


def test_nonfinite_and_overflowing_rows_are_refused_without_a_copy(tmp_path):
    X, y = _data()
    bad = X.copy()
    bad[401, 5] = np.nan
    mm = _memmap(tmp_path / "bad.f32", bad)
    with pytest.raises(ValueError, match="X: expected finite values"):
        dnn.Network([12, 8, 1]).fit(mm, y, epochs=1)
    with pytest.raises(ValueError, match="X: expected finite values"):
        dnn.Network([12, 8, 1]).predict(mm[1::2])
    dnn.Network([12, 8, 1]).predict(mm[::2])          # row 401 is not in it
    huge = X.astype(np.float64)
    huge[7, 3] = 1e300
    with pytest.raises(ValueError, match="X: values beyond float32's range"):
        dnn.Network([12, 8, 1], dtype="float32").fit(huge[::1], y, epochs=1)
    with pytest.raises(ValueError, match="X: values beyond float32's range"):
        dnn.Network([12, 8, 1], dtype="float32").predict(huge[1::3])
    dnn.Network([12, 8, 1], dtype="float64").predict(huge)


def test_engine_refuses_rows_it_cannot_stream():
    engine = Engine([4, 3, 1], [0], 0, 0.01, np.float64)
    out = np.empty((6, 1))
    X = np.zeros((6, 4))
    with pytest.raises(TypeError, match="X: expected a numpy array"):
        engine.predict(X.tolist(), out)
    with pytest.raises(ValueError, match="X: expected float32, float64 or uint8"):
        engine.predict(X.astype(np.int32), out)
    with pytest.raises(ValueError, match="X: expected aligned rows of contiguous values"):
        engine.predict(np.asfortranarray(X), out)
    with pytest.raises(ValueError, match="X: expected a row stride"):
        engine.predict(X[::-1], out)
    with pytest.raises(ValueError, match="X: expected float32, float64 or uint8"):
        engine.predict(X.astype(">f8"), out)
    with pytest.raises(ValueError, match="X: expected shape"):
        engine.predict(X[:, :3], out)
    T = np.zeros((6, 1))
    with pytest.raises(ValueError, match="shuffle: expected 0"):
        engine.train(X, T, None, batch_size=2, shuffle=3, epochs=1,
                     costs=np.zeros(1), seconds=np.zeros(1))
    with pytest.raises(ValueError, match="shuffle_block, shuffle_window"):
        engine.train(X, T, None, batch_size=2, shuffle=2, epochs=1, shuffle_window=0,
                     costs=np.zeros(1), seconds=np.zeros(1))
    with pytest.raises(ValueError, match='shuffle: expected True, False, "rows" or "blocks"'):
        dnn.Network([4, 3, 1]).fit(X, np.zeros(6), epochs=1, batch_size=2, shuffle="row")


# -- the block shuffle -----------------------------------------------------------


def _epoch_orders(X, y, epochs, seed=0, **fit):
    net = dnn.Network([X.shape[1], 4, 1], seed=seed)
    orders = []
    net.fit(X, y, epochs=epochs, batch_size=32, optimizer="gd",
            callbacks=[lambda epoch, logs: orders.append(net._engine.permutation())], **fit)
    return orders


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 10 rows of 12 float32 (480 bytes), windows of 3 blocks."""
    monkeypatch.setattr(dnn._streaming, "SHUFFLE_BLOCK_BYTES", 10 * 12 * 4)
    monkeypatch.setattr(dnn._streaming, "SHUFFLE_WINDOW", 3)
    return 10, 3


def test_block_shuffle_is_a_seeded_permutation_with_block_structure(tmp_path, small_blocks):
    block, window = small_blocks
    X, y = _data(m=1000)
    mm = _memmap(tmp_path / "X.f32", X)
    orders = _epoch_orders(mm, y, 4)                     # shuffle=True: a memmap -> blocks
    assert len(orders) == 4
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(1000))
        position = np.empty(1000, dtype=np.intp)
        position[order] = np.arange(1000)
        # the rows of one block land in one window (positions window * block apart)
        windows = position.reshape(-1, block) // (window * block)
        assert (windows == windows[:, :1]).all()
        # ... and are mixed with the other blocks' rows of that window
        assert not all((np.diff(np.sort(p)) == 1).all() for p in position.reshape(-1, block))
        assert not np.array_equal(order, np.arange(1000))
    for a, b in zip(orders, orders[1:]):
        assert not np.array_equal(a, b)
    again = _epoch_orders(mm, y, 4)
    assert all(np.array_equal(a, b) for a, b in zip(orders, again))
    other = _epoch_orders(mm, y, 1, seed=1)
    assert not np.array_equal(orders[0], other[0])
    # the explicit "blocks" on data in memory gives the same order
    explicit = _epoch_orders(X, y, 4, shuffle="blocks")
    assert all(np.array_equal(a, b) for a, b in zip(orders, explicit))


def test_block_shuffle_with_a_short_last_block_and_window(small_blocks):
    X, y = _data(m=997)
    for order in _epoch_orders(X, y, 3, shuffle="blocks"):
        np.testing.assert_array_equal(np.sort(order), np.arange(997))


def test_default_shuffle_is_per_row_for_data_in_memory_and_blocks_for_a_memmap(
        tmp_path, small_blocks):
    X, y = _data(m=1000)
    rows = _epoch_orders(X, y, 2)
    assert all(np.array_equal(a, b) for a, b in zip(rows, _epoch_orders(X, y, 2,
                                                                       shuffle="rows")))
    blocks = _epoch_orders(X, y, 2, shuffle="blocks")
    assert not np.array_equal(rows[0], blocks[0])
    mm = _memmap(tmp_path / "X.f32", X)
    assert all(np.array_equal(a, b) for a, b in zip(_epoch_orders(mm, y, 2), blocks))
    # a view of a memmap (np.asarray, a slice) is still memory-mapped
    view = np.asarray(mm)[:]
    assert type(view) is np.ndarray
    assert all(np.array_equal(a, b) for a, b in zip(_epoch_orders(view, y, 2), blocks))
    # np.load(mmap_mode="r") gives a memmap too
    np.save(tmp_path / "X.npy", X)
    loaded = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert all(np.array_equal(a, b) for a, b in zip(_epoch_orders(loaded, y, 2), blocks))


def test_block_shuffle_and_window_of_one_block():
    # one block per window: the blocks' rows stay together, shuffled within
    engine = Engine([3, 2, 1], [0], 0, 0.01, np.float64, seed=5)
    X = np.zeros((40, 3))
    engine.train(X, np.zeros((40, 1)), None, batch_size=4, shuffle=2, epochs=1,
                 shuffle_block=8, shuffle_window=1, costs=np.zeros(1), seconds=np.zeros(1))
    order = engine.permutation()
    np.testing.assert_array_equal(np.sort(order), np.arange(40))
    chunks = order.reshape(5, 8)
    assert all(len(set(chunk // 8)) == 1 for chunk in chunks)
    assert sorted(chunk[0] // 8 for chunk in chunks) == list(range(5))


# -- memory ----------------------------------------------------------------------


def _write_memmap(path, m, n0, dtype=np.float32, seed=0):
    """An (m, n0) memmap written in chunks (never whole in memory)."""
    rng = np.random.default_rng(seed)
    tile = rng.standard_normal((4096, n0)).astype(dtype)
    out = np.memmap(path, dtype=dtype, mode="w+", shape=(m, n0))
    for start in range(0, m, 4096):
        stop = min(m, start + 4096)
        out[start:stop] = tile[:stop - start]
    out.flush()
    del out
    return np.memmap(path, dtype=dtype, mode="r", shape=(m, n0))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rows", ["all rows", "every other row"])
@pytest.mark.parametrize("shuffle", [False, "blocks", "rows"])
def test_fit_on_a_float32_memmap_allocates_far_less_than_a_copy(tmp_path, shuffle, rows,
                                                                  dtype):
    # (y, its targets and the permutation take 24 bytes a row: 6 % of a float32 copy)
    m, n0 = 200_000, 100
    X = _write_memmap(tmp_path / "X.f32", m, n0)
    y = (np.arange(m) % 3 == 0).astype(np.float64)
    if rows == "every other row":
        X, y, m = X[::2], y[::2], m // 2
    net = dnn.Network([n0, 8, 1], seed=0, dtype=dtype)
    net.fit(X[:1000], y[:1000], epochs=1, batch_size=256)     # warm the engine
    copy_bytes = m * n0 * np.dtype(dtype).itemsize
    tracemalloc.start()
    try:
        net.fit(X, y, epochs=1, batch_size=256, shuffle=shuffle)
        net.predict_proba(X)                                  # (m, 1) outputs: 1.6 MB
        net.evaluate(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(net.history_.cost) == 1
    assert peak < 0.1 * copy_bytes, (peak, copy_bytes)


@pytest.mark.skipif(os.environ.get("DNN_SANITIZE", "0") != "0",
                    reason="under tools/sanitize.sh the resident memory is mostly ASan's "
                           "shadow and quarantine, not the data's (tracemalloc's test runs)")
def test_private_memory_of_a_child_training_on_a_memmap(tmp_path):
    m, n0 = 400_000, 32
    _write_memmap(tmp_path / "X.f32", m, n0)
    data_bytes = m * n0 * 4
    script = textwrap.dedent(f"""
        import threading, time
        import numpy as np
        import dnn

        def anon():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        return int(line.split()[1]) * 1024

        X = np.memmap({str(tmp_path / "X.f32")!r}, dtype=np.float32, mode="r",
                      shape=({m}, {n0}))
        y = (np.arange({m}) % 3 == 0).astype(np.float64)
        net = dnn.Network([{n0}, 8, 1], seed=0)
        net.fit(X[:1000], y[:1000], epochs=1, batch_size=256)
        net.predict_proba(X[:1000])
        base = anon()
        peak = [base]
        done = threading.Event()

        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], anon())
                time.sleep(0.002)

        watcher = threading.Thread(target=watch)
        watcher.start()
        for shuffle in (False, "blocks", "rows"):
            net.fit(X, y, epochs=1, batch_size=256, shuffle=shuffle)
        net.evaluate(X, y)
        done.set()
        watcher.join()
        peak[0] = max(peak[0], anon())
        print(peak[0] - base, len(net.history_.cost))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path,
                            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    growth, epochs = map(int, result.stdout.split()[-2:])
    assert epochs == 1
    # a float64 copy would be 2 x data_bytes; y, its float64 targets and the
    # permutation take 3 x 8 bytes per row (19 % of these 128-byte rows)
    assert growth < 0.3 * data_bytes, (growth, data_bytes)
