"""One rank of an MPI job of tests/test_mpi.py: ``python mpi_child.py spec.json``.

The spec (JSON) names the data file (npz of X, y, and optional w, X_val,
y_val) and a list of cases; each case gives this rank's rows of X ("rows": one
list per rank), the Network's arguments and fit's. Every case's outcome
(parameters, history, or the exception's type and message) is written to
``<out>.<case>.<rank>.npz`` / ``.json``. Special keys: "bad" (rank -> fit
arguments that override the case's on that rank), "stop_on" (rank, epoch: a
callback asks that rank to stop), "raise_on" (rank, epoch: a callback raises),
"marker" (each rank writes its pid to ``<marker>.<rank>`` after its first
epoch: the Ctrl-C test), "sleep_on" (rank, epoch, seconds: a callback
sleeps, tests/test_mpi_stall.py), "bcast_fails" (rank: its communicator's Bcast raises,
a failure outside the agreed points), "absent" (rank -> seconds to sleep, or
"finalize": that rank never calls fit, tests/test_mpi_start.py), "late" (rank
-> seconds it sleeps before its fit), "count_barriers" (the outcome's
"barriers": how many Ibarrier the fit called). Each outcome also holds the
fit's wall and CPU seconds ("wall", "cpu") and when it began and ended
("began_at", "ended_at": time.time()).

A case with "estimator" ({"class": "DNNClassifier" or "DNNRegressor",
"params": {...}}) fits a dnn.sklearn estimator instead (tests/test_mpi_sklearn.py):
"y" names the target array of the data file, "weighted" passes "w" as
sample_weight, "calls" repeats the call, "partial" uses partial_fit (with
"classes"), and "bad" (rank -> {"params", "nan", "drop_feature", "float32",
"strings", "no_weights"}) spoils that rank's estimator or data.
"""
import json
import os
import sys
import time

import numpy as np
from mpi4py import MPI

import dnn


class CountingBarriers:
    """A communicator counting its Ibarrier calls (``count_barriers``)."""

    def __init__(self, comm):
        self._comm = comm
        self.barriers = 0

    def __getattr__(self, name):
        return getattr(self._comm, name)

    def Ibarrier(self):
        self.barriers += 1
        return self._comm.Ibarrier()


class FailingBcast:
    """A communicator whose Bcast raises (on the rank that uses it)."""

    def __init__(self, comm):
        self._comm = comm

    def __getattr__(self, name):
        return getattr(self._comm, name)

    def Bcast(self, *args, **kwargs):
        raise MemoryError("Bcast failed on purpose")


def run_case(comm, rank, data, case, out):
    rows = np.asarray(case["rows"][rank], dtype=np.intp)
    kwargs = dict(case.get("fit", {}))
    kwargs.update(case.get("bad", {}).get(str(rank), {}))
    X, y = data["X"][rows], data["y"][rows]
    if kwargs.pop("y_bad", False):
        y = y[:-1]
    if "w" in data.files and kwargs.pop("weighted", False):
        kwargs["sample_weight"] = data["w"][rows]
    if "val_rows" in case:
        val = np.asarray(case["val_rows"][rank], dtype=np.intp)
        kwargs["validation_data"] = (data["X_val"][val], data["y_val"][val])
    callbacks = []
    if "stop_on" in case:
        stop_rank, stop_epoch = case["stop_on"]
        callbacks.append(lambda epoch, logs: rank == stop_rank and epoch == stop_epoch)
    if "raise_on" in case:
        bad_rank, bad_epoch = case["raise_on"]

        def raising(epoch, logs):
            if rank == bad_rank and epoch == bad_epoch:
                raise ArithmeticError("a callback failed on purpose")
        callbacks.append(raising)
    if "sleep_on" in case:
        slow_rank, slow_epoch, seconds = case["sleep_on"]

        def sleeping(epoch, logs):
            if rank == slow_rank and epoch == slow_epoch:
                time.sleep(seconds)
        callbacks.append(sleeping)
    if "marker" in case:
        def mark(epoch, logs):
            if epoch == 0:
                with open(f"{case['marker']}.{rank}", "w") as file:
                    file.write(str(os.getpid()))
        callbacks.append(mark)
    if callbacks:
        kwargs["callbacks"] = callbacks
    if rank == case.get("bcast_fails"):
        comm = FailingBcast(comm)
    net = dnn.Network(**case["network"], seed=rank)
    result = {"error": None}
    began = time.perf_counter(), time.process_time(), time.time()
    try:
        history = net.fit(X, y, comm=comm, **kwargs)
        result.update(cost=history.cost, val_cost=history.val_cost,
                      stopped_early=history.stopped_early, epochs=net.epochs_)
    except BaseException as error:  # (KeyboardInterrupt included: it is a test)
        result["error"] = [type(error).__name__, str(error)]
        result["epochs"] = net.epochs_
    result.update(wall=time.perf_counter() - began[0], cpu=time.process_time() - began[1],
                  began_at=began[2], ended_at=time.time())
    np.save(f"{out}.{case['name']}.{rank}.npy", net.flat_parameters)
    with open(f"{out}.{case['name']}.{rank}.json", "w") as file:
        json.dump(result, file)


ATTRIBUTES = ("n_iter_", "t_", "loss_", "loss_curve_", "best_loss_", "validation_scores_",
              "best_validation_score_", "val_loss_curve_", "n_outputs_", "out_activation_")


def plain(value):
    """A JSON-able copy of an estimator's attribute."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def run_estimator(comm, rank, data, case, out):
    from dnn import sklearn as dnn_sklearn
    rows = np.asarray(case["rows"][rank], dtype=np.intp)
    spec = case["estimator"]
    bad = case.get("bad", {}).get(str(rank), {})
    estimator = getattr(dnn_sklearn, spec["class"])(**dict(spec.get("params", {}),
                                                         **bad.get("params", {})))
    X, y = data["X"][rows].copy(), data[case.get("y", "y")][rows]
    if bad.get("nan"):
        X[0, 0] = np.nan
    if bad.get("drop_feature"):
        X = X[:, :-1]
    if bad.get("float32"):
        X = X.astype(np.float32)
    if bad.get("strings"):
        y = np.array([f"class {label}" for label in y])
    kwargs = {}
    if case.get("weighted") and not bad.get("no_weights"):
        kwargs["sample_weight"] = data["w"][rows]
    if case.get("partial") and "classes" in case:
        kwargs["classes"] = np.asarray(case["classes"])
    result = {"error": None}
    began = time.perf_counter(), time.process_time(), time.time()
    try:
        for _ in range(case.get("calls", 1)):
            if case.get("partial"):
                estimator.partial_fit(X, y, comm=comm, **kwargs)
            else:
                estimator.fit(X, y, comm=comm, **kwargs)
        result.update({name: plain(getattr(estimator, name, None)) for name in ATTRIBUTES})
        if hasattr(estimator, "classes_"):
            result["classes_"] = plain(estimator.classes_)
    except BaseException as error:  # (KeyboardInterrupt included: it is a test)
        result["error"] = [type(error).__name__, str(error)]
    result.update(wall=time.perf_counter() - began[0], cpu=time.process_time() - began[1],
                  began_at=began[2], ended_at=time.time())
    network = getattr(estimator, "network_", None)
    np.save(f"{out}.{case['name']}.{rank}.npy",
            np.zeros(0) if network is None else network.flat_parameters)
    with open(f"{out}.{case['name']}.{rank}.json", "w") as file:
        json.dump(result, file)


def main():
    with open(sys.argv[1]) as file:
        spec = json.load(file)
    comm = MPI.COMM_WORLD
    data = np.load(spec["data"])
    rank = comm.Get_rank()
    for case in spec["cases"]:
        absent = case.get("absent", {}).get(str(rank))
        if absent == "finalize":
            MPI.Finalize()
            return
        if absent is not None:
            time.sleep(absent)
            return
        time.sleep(case.get("late", {}).get(str(rank), 0))
        run = run_estimator if "estimator" in case else run_case
        counting = CountingBarriers(comm) if case.get("count_barriers") else None
        run(counting or comm, rank, data, case, spec["out"])
        if counting is not None:
            path = f"{spec['out']}.{case['name']}.{rank}.json"
            with open(path) as file:
                result = json.load(file)
            with open(path, "w") as file:
                json.dump(dict(result, barriers=counting.barriers), file)


if __name__ == "__main__":
    main()
