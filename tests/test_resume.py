"""Never lose a run (issue 10): exact resume through a file, a pickle and a
checkpoint; checkpoints that survive SIGTERM; the CLI's --checkpoint/--resume;
metadata; the rollback after a divergence; fork while a lock is held."""
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import dnn
from dnn import cli, optimizers
from dnn_core import registry

OPTIMIZERS = list(registry.OPTIMIZERS)


def data(m=240, n=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.standard_normal(m) > 0).astype(np.float64)
    return X, y


def settings(optimizer):
    # mini-batches (shuffled, the last one smaller), dropout, a decaying rate
    return dict(batch_size=32, optimizer=optimizer, keep_prob=0.8,
                learning_rate=optimizers.InverseTimeDecay(0.02, decay=0.5))


def network():
    return dnn.Network([6, 12, 8, 1], seed=7)


def trained(epochs, optimizer, **extra):
    X, y = data()
    net = network()
    net.fit(X, y, epochs=epochs, **settings(optimizer), **extra)
    return net


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_resume_through_a_file_and_a_pickle_is_bit_identical(optimizer, tmp_path):
    X, y = data()
    whole = trained(7, optimizer)
    first = trained(3, optimizer)
    first.save(tmp_path / "model.npz")
    for resumed in (dnn.load(tmp_path / "model.npz"), pickle.loads(pickle.dumps(first))):
        assert resumed.epochs_ == 3
        resumed.fit(X, y, epochs=4, **settings(optimizer))
        assert resumed.epochs_ == 7
        np.testing.assert_array_equal(resumed._engine.parameters, whole._engine.parameters)
        np.testing.assert_array_equal(resumed._engine.moments, whole._engine.moments)
    # the generator's state is what makes it exact: without it the shuffles differ
    stale = dnn.load(tmp_path / "model.npz")
    stale._engine.seed(12345)
    stale.fit(X, y, epochs=4, **settings(optimizer))
    assert not np.array_equal(stale._engine.parameters, whole._engine.parameters)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_checkpoint_of_a_stopped_fit_resumes_exactly(optimizer, tmp_path):
    X, y = data()
    whole = trained(8, optimizer)
    path = tmp_path / "run.ckpt.npz"
    # a run stopped after 5 epochs (a callback ends it) left its checkpoint
    net = network()
    net.fit(X, y, epochs=8, checkpoint=path, callbacks=[lambda epoch, logs: epoch == 4],
            **settings(optimizer))
    assert net.epochs_ == 5
    resumed = dnn.load(path)
    assert resumed.epochs_ == 5
    resumed.fit(X, y, epochs=8 - resumed.epochs_, **settings(optimizer))
    np.testing.assert_array_equal(resumed._engine.parameters, whole._engine.parameters)


def test_checkpoint_every_counts_the_networks_epochs(tmp_path):
    X, y = data()
    path = tmp_path / "c.npz"
    seen = []

    def look(epoch, logs):
        seen.append(dnn.load(path).epochs_ if path.exists() else None)

    net = network()
    net.fit(X, y, epochs=5, checkpoint=path, checkpoint_every=2, callbacks=[look],
            **settings("adam"))
    # (a callback sees the checkpoint of the epoch before: it is written after them)
    assert seen == [None, None, 2, 2, 4]
    assert dnn.load(path).epochs_ == 5            # and after the fit's last epoch


def test_checkpoint_arguments_are_checked(tmp_path):
    X, y = data()
    with pytest.raises(ValueError, match="checkpoint: no such folder"):
        network().fit(X, y, epochs=1, checkpoint=tmp_path / "absent" / "c.npz")
    with pytest.raises(TypeError, match="checkpoint: expected a file name"):
        network().fit(X, y, epochs=1, checkpoint=3.5)
    with pytest.raises(ValueError, match="checkpoint_every"):
        network().fit(X, y, epochs=1, checkpoint=tmp_path / "c.npz", checkpoint_every=0)


SIGTERM_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import dnn
    from dnn import optimizers
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 6))
    y = (X[:, 0] - X[:, 1] > 0).astype(np.float64)
    net = dnn.Network([6, 32, 16, 1], seed=7)
    print("ready", flush=True)
    net.fit(X, y, epochs=int(sys.argv[2]), batch_size=16, optimizer="adam", keep_prob=0.9,
            checkpoint=sys.argv[1])
    print("finished", flush=True)
""")


def test_sigterm_during_a_checkpointed_fit_leaves_a_checkpoint_that_resumes_exactly(tmp_path):
    epochs = 400
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 6))
    y = (X[:, 0] - X[:, 1] > 0).astype(np.float64)
    whole = dnn.Network([6, 32, 16, 1], seed=7)
    whole.fit(X, y, epochs=epochs, batch_size=16, optimizer="adam", keep_prob=0.9)
    delays = np.random.default_rng(1).uniform(0.05, 1.0, size=4)
    killed_at = []
    for trial, delay in enumerate(delays):
        path = tmp_path / f"run{trial}.npz"
        child = subprocess.Popen([sys.executable, "-c", SIGTERM_CHILD, str(path), str(epochs)],
                                 stdout=subprocess.PIPE, text=True, cwd=tmp_path)
        assert child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        child.send_signal(signal.SIGTERM)
        rest = child.communicate(timeout=60)[0]
        if "finished" in rest:
            continue                        # the run ended before the signal
        assert child.returncode == -signal.SIGTERM
        resumed = dnn.load(path)
        killed_at.append(resumed.epochs_)
        assert 1 <= resumed.epochs_ < epochs
        resumed.fit(X, y, epochs=epochs - resumed.epochs_, batch_size=16, optimizer="adam",
                    keep_prob=0.9)
        np.testing.assert_array_equal(resumed._engine.parameters, whole._engine.parameters)
    assert len(killed_at) >= 2, killed_at


def test_cli_checkpoint_and_resume_continue_the_same_run(tmp_path, capsys):
    common = ["train", "--quiet", "--no-plot", "--layers", "8", "--batch-size", "50",
              "--dropout", "0.1"]
    straight, ckpt, resumed = (tmp_path / name for name in ("a.npz", "ck.npz", "b.npz"))
    assert cli.main([*common, "--epochs", "12", "--out", str(straight)]) == 0
    assert cli.main([*common, "--epochs", "5", "--out", str(tmp_path / "x.npz"),
                     "--checkpoint", str(ckpt)]) == 0
    assert dnn.load(ckpt).epochs_ == 5
    assert cli.main([*common, "--epochs", "12", "--out", str(resumed), "--resume",
                     str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "after 5 epochs" in out
    a, b = dnn.load(straight), dnn.load(resumed)
    assert b.epochs_ == 12
    np.testing.assert_array_equal(a._engine.parameters, b._engine.parameters)
    assert a.metadata == b.metadata == {"classes": [0, 1]}
    # another architecture than the checkpoint's is refused, naming the option
    status = cli.main(["train", "--quiet", "--no-plot", "--layers", "9", "--resume", str(ckpt)])
    assert status == 2
    assert "--resume" in capsys.readouterr().err


def test_metadata_round_trips_and_is_checked(tmp_path):
    net = network()
    net.metadata = {"classes": ["cat", "dog"], "note": "x", "n": 3}
    net.save(tmp_path / "m.npz")
    assert dnn.load(tmp_path / "m.npz").metadata == net.metadata
    net.save(tmp_path / "n.npz", metadata={"other": [1.5]})
    assert dnn.load(tmp_path / "n.npz").metadata == {"other": [1.5]}
    assert pickle.loads(pickle.dumps(net)).metadata == net.metadata
    for bad in ({"x": object()}, {"x": float("nan")}, ["not", "a", "dict"]):
        with pytest.raises(TypeError, match="metadata"):
            net.save(tmp_path / "bad.npz", metadata=bad)
    assert not (tmp_path / "bad.npz").exists()
    fields = dict(np.load(tmp_path / "m.npz"))
    for damaged, message in ((np.array("{not json"), "metadata"),
                             (np.array("[1, 2]"), "not a JSON object")):
        np.savez(tmp_path / "d.npz", **{**fields, "metadata": damaged})
        with pytest.raises(ValueError, match=message):
            dnn.load(tmp_path / "d.npz")
    np.savez(tmp_path / "r.npz", **{**fields, "rng_state": np.zeros(4, np.uint64)})
    with pytest.raises(ValueError, match="rng_state"):
        dnn.load(tmp_path / "r.npz")


# -- rollback ------------------------------------------------------------------

def far_targets(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, 5))
    return X, 1e9 * (X @ rng.standard_normal(5))


@pytest.mark.parametrize("per_epoch", [False, True])
def test_divergence_on_far_targets_rolls_back_to_no_worse_than_the_start(per_epoch):
    X, y = far_targets()
    net = dnn.Network([5, 8, 1], output="linear", seed=0)
    start_params = net._engine.parameters.copy()
    start = net.evaluate(X, y)["cost"]
    extra = dict(validation_split=0.2) if per_epoch else {}
    with pytest.warns(RuntimeWarning, match="far from unit scale"):
        with pytest.raises(dnn.DivergenceError, match="TransformedTargetRegressor"):
            net.fit(X, y, epochs=50, optimizer="gd", learning_rate=0.01, **extra)
    assert net.evaluate(X, y)["cost"] <= start
    # the state is the start's here (every later step was worse), not ~1e174
    assert np.abs(net._engine.parameters).max() <= np.abs(start_params).max()
    assert net.epochs_ == 0


@pytest.mark.parametrize("optimizer", ["gd", "momentum"])
def test_rollback_keeps_the_lowest_cost_state_of_a_run_that_improved_first(optimizer):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * rng.standard_normal(300)
    # unshuffled batches: nine of ordinary rows, then one of rows 30 times as
    # large, which kicks the weights further every epoch until they overflow
    X_wild = X.copy()
    X_wild[270:] *= 30
    net = dnn.Network([4, 16, 1], output="linear", seed=1)
    start = net.evaluate(X[:270], y[:270])["cost"]
    with pytest.raises(dnn.DivergenceError, match="learning rate is too large"):
        net.fit(X_wild, y, epochs=200, batch_size=30, optimizer=optimizer,
                learning_rate=0.05, shuffle=False)
    after = net.evaluate(X[:270], y[:270])["cost"]
    # the state kept learned from the ordinary rows: well below the start
    assert np.isfinite(after) and after < 0.7 * start
    assert np.isfinite(net._engine.moments).all()
    # and training goes on from there
    net.fit(X[:270], y[:270], epochs=3, batch_size=30, optimizer=optimizer)
    assert net.evaluate(X[:270], y[:270])["cost"] < start


# -- fork --------------------------------------------------------------------

def test_fork_while_another_thread_holds_the_networks_locks_does_not_hang_the_child():
    X, y = data()
    net = network()
    held, release = threading.Event(), threading.Event()

    def hold():
        with net._fit_guard, net._engine_lock:
            net._fitting = True
            held.set()
            release.wait(30)
        net._fitting = False

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    try:
        pid = os.fork()
        if pid == 0:                                   # the child
            code = 1
            try:
                net.predict(X)
                net.fit(X, y, epochs=1)
                net.save(f"/tmp/dnn-fork-{os.getpid()}.npz")
                code = 0
            finally:
                os._exit(code)
        deadline = time.monotonic() + 30
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung on a lock held by another thread")
            time.sleep(0.01)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        os.remove(f"/tmp/dnn-fork-{pid}.npz")
    finally:
        release.set()
        thread.join()
