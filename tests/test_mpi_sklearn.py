"""dnn.sklearn's fit(..., comm=) and partial_fit(..., comm=): real ``mpirun
--oversubscribe -n 2`` and ``-n 3`` jobs (tests/mpi_child.py) against one
process fitting the union of the ranks' batches.

Which union: step k of an epoch takes every rank's k-th batch of its own rows
(``batch_size`` is per rank); the reference fits the rows of those union
batches in that order (:func:`dnn.distributed.union_rows`), with the batch
size times the number of ranks, or, where the union batches are not of one
size (shuffles), one ``partial_fit`` per epoch on the reordered rows. Every
job runs under a timeout: a rank left waiting fails the test.
"""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("mpi4py")
pytest.importorskip("sklearn")

from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import LabelBinarizer  # noqa: E402

from dnn.distributed import epoch_order, union_rows  # noqa: E402
from dnn.sklearn import DNNClassifier, DNNRegressor  # noqa: E402
from helpers import assert_close  # noqa: E402
from test_mpi import CHILD, MPIRUN, env, finish  # noqa: E402

ATTRIBUTES = ("n_iter_", "t_", "loss_", "loss_curve_", "best_loss_", "validation_scores_",
              "best_validation_score_", "val_loss_curve_")
CLASSES = {"DNNClassifier": DNNClassifier, "DNNRegressor": DNNRegressor}
BASE = {"hidden_layer_sizes": [6], "activation": "tanh", "random_state": 0,
        "learning_rate_init": 0.01, "batch_size": 7, "shuffle": False, "max_iter": 6}


def make_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=60) > 0).astype(np.int64)
    y3 = np.where(X[:, 2] > 0.4, 2, (X[:, 0] > 0).astype(np.int64))
    yr = np.stack([X[:, 0] + 0.5 * X[:, 1] ** 2, np.sin(X[:, 2])], axis=1)
    w = rng.integers(0, 4, size=60).astype(np.float64)
    return dict(X=X, y=y, y3=y3, yr=yr, yr1=yr[:, 0].copy(), w=w)


def split(n, labels=None):
    """Equal shares of the 60 rows; with labels, rank 1 holds no row of class 2."""
    m = 60 // n
    if labels is None:
        return [list(range(r * m, (r + 1) * m)) for r in range(n)]
    without = [int(i) for i in np.flatnonzero(labels != 2)]
    rank1 = without[:m]
    rest = [i for i in range(60) if i not in rank1]
    shares = [rest[r * m:(r + 1) * m] for r in range(n - 1)]
    return [shares[0], rank1, *shares[1:]]


def run_job(tmp_path, n, cases, name="job"):
    data = make_data()
    path = tmp_path / "data.npz"
    np.savez(path, **data)
    spec = tmp_path / f"{name}.json"
    spec.write_text(json.dumps({"data": str(path), "cases": cases,
                                "out": str(tmp_path / name)}))
    process = subprocess.Popen([MPIRUN, "--oversubscribe", "-n", str(n), sys.executable,
                                str(CHILD), str(spec)], cwd=tmp_path, env=env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, _, err = finish(process, timeout=120)
    assert code == 0, err[-3000:]
    results = {}
    for case in cases:
        ranks = []
        for rank in range(n):
            result = json.loads((tmp_path / f"{name}.{case['name']}.{rank}.json").read_text())
            result["params"] = np.load(tmp_path / f"{name}.{case['name']}.{rank}.npy")
            ranks.append(result)
        results[case["name"]] = ranks
    return results, data


def assert_same_on_every_rank(ranks):
    for result in ranks[1:]:
        np.testing.assert_array_equal(result["params"], ranks[0]["params"])
        for name in ATTRIBUTES + ("classes_", "error"):
            assert result.get(name) == ranks[0].get(name), name


def union_order(rows, batch, orders=None):
    """The rows of the union batches of one epoch, in order."""
    everything = np.concatenate(rows)
    return everything[np.concatenate(union_rows([len(r) for r in rows], batch, orders))]


def reference(case, data, n):
    """One process on the union batches: (estimator, loss per epoch)."""
    spec = case["estimator"]
    params = dict(spec["params"])
    rows = case["rows"]
    y = data[case.get("y", "y")]
    estimator = CLASSES[spec["class"]](**dict(params, batch_size=params["batch_size"] * n))
    shuffled = params.get("shuffle", True)
    order = union_order(rows, params["batch_size"])
    weights = data["w"] if case.get("weighted") else None
    kwargs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not shuffled and not case.get("partial"):
            if weights is not None:
                kwargs["sample_weight"] = weights[order]
            estimator.fit(data["X"][order], y[order], **kwargs)
            return estimator, estimator.loss_curve_ if hasattr(estimator, "loss_curve_") \
                else None
        # one partial_fit per epoch, on that epoch's union batches
        estimator.set_params(shuffle=False)
        losses = []
        epochs = case.get("calls", 1) if case.get("partial") else params["max_iter"]
        for epoch in range(epochs):
            orders = ([epoch_order(params["random_state"], r, epoch, len(share))
                       for r, share in enumerate(rows)] if shuffled else None)
            order = union_order(rows, params["batch_size"], orders)
            if weights is not None:
                kwargs["sample_weight"] = weights[order]
            if spec["class"] == "DNNClassifier":
                kwargs["classes"] = np.unique(y)
            estimator.partial_fit(data["X"][order], y[order], **kwargs)
            losses.append(estimator.loss_)
    return estimator, losses


def union_cases(n, data):
    rows = split(n)
    adam = dict(BASE, solver="adam")
    sgd = dict(BASE, solver="sgd", momentum=0.9, learning_rate_init=0.005)
    return [
        {"name": "clf-adam", "estimator": {"class": "DNNClassifier", "params": adam}},
        {"name": "clf-missing-class", "y": "y3", "rows": split(n, data["y3"]),
         "estimator": {"class": "DNNClassifier", "params": dict(adam, alpha=0.01)}},
        {"name": "reg-sgd", "y": "yr1",
         "estimator": {"class": "DNNRegressor", "params": sgd}},
        {"name": "reg-two-outputs", "y": "yr",      # (one engine step per batch)
         "estimator": {"class": "DNNRegressor", "params": dict(adam, alpha=0.1)}},
        {"name": "clf-weighted", "weighted": True,  # (unequal weights: the same)
         "estimator": {"class": "DNNClassifier", "params": adam}},
        {"name": "clf-shuffled", "y": "y3",
         "estimator": {"class": "DNNClassifier",
                       "params": dict(adam, shuffle=True, batch_size=8, max_iter=4)}},
        {"name": "reg-partial", "y": "yr1", "partial": True, "calls": 3,
         "estimator": {"class": "DNNRegressor", "params": adam}},
        {"name": "clf-partial", "y": "y3", "partial": True, "calls": 3, "classes": [0, 1, 2],
         "estimator": {"class": "DNNClassifier", "params": adam}},
    ], rows


@pytest.mark.parametrize("n", [2, 3])
def test_the_union_of_the_ranks_batches_equals_one_process(tmp_path, n):
    data = make_data()
    cases, rows = union_cases(n, data)
    for case in cases:
        case.setdefault("rows", rows)
    results, _ = run_job(tmp_path, n, cases)
    for case in cases:
        ranks = results[case["name"]]
        assert ranks[0]["error"] is None, (case["name"], ranks[0]["error"])
        assert_same_on_every_rank(ranks)
        expected, losses = reference(case, data, n)
        assert_close(ranks[0]["params"], expected.network_.flat_parameters)
        assert_close(ranks[0]["loss_curve_"], losses)
        assert ranks[0]["t_"] == expected.t_
        assert ranks[0]["n_iter_"] == (1 if case.get("partial") else
                                       case["estimator"]["params"]["max_iter"])
        assert_close(ranks[0]["best_loss_"], min(losses))
        if case["estimator"]["class"] == "DNNClassifier":
            assert ranks[0]["classes_"] == expected.classes_.tolist()
    assert results["clf-missing-class"][0]["classes_"] == [0, 1, 2]


# -- early stopping: each rank its own split, the scores over the union -------

def validation_split(case, data, n):
    """Each rank's (training rows, validation rows), as its fit splits them: the
    estimator's generator after scikit-learn's initial draws, then
    train_test_split (stratified for a binary classifier)."""
    params = case["estimator"]["params"]
    y = data[case.get("y", "y")]
    classifier = case["estimator"]["class"] == "DNNClassifier"
    n_out = 1 if not classifier or len(np.unique(y)) == 2 else len(np.unique(y))
    units = [data["X"].shape[1], *params["hidden_layer_sizes"], n_out]
    train, val = [], []
    for share in case["rows"]:
        rng = np.random.RandomState(params["random_state"])
        for fan_in, fan_out in zip(units[:-1], units[1:]):
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            rng.uniform(-bound, bound, (fan_in, fan_out))
            rng.uniform(-bound, bound, fan_out)
        share = np.asarray(share)
        stratify = (LabelBinarizer().fit(np.unique(y)).transform(y[share]).astype(bool)
                    if classifier and n_out == 1 else None)
        kept, held = train_test_split(share, random_state=rng,
                                      test_size=params["validation_fraction"],
                                      stratify=stratify)
        train.append(kept)
        val.append(held)
    return train, val


def early_stopping_reference(case, data, n, epochs):
    """One process, epoch by epoch on the union batches of the ranks' training
    rows: the parameters and the validation score over the union of the
    ranks' validation rows after each epoch."""
    spec = case["estimator"]
    params = dict(spec["params"], early_stopping=False)
    y = data[case.get("y", "y")]
    train, val = validation_split(case, data, n)
    estimator = CLASSES[spec["class"]](**dict(params, batch_size=params["batch_size"] * n))
    order = union_order(train, params["batch_size"])
    held = np.concatenate(val)
    kwargs = {"classes": np.unique(y)} if spec["class"] == "DNNClassifier" else {}
    parameters, scores = [], []
    for _ in range(epochs):
        estimator.partial_fit(data["X"][order], y[order], **kwargs)
        parameters.append(estimator.network_.flat_parameters)
        predicted = estimator.predict(data["X"][held])
        scores.append(accuracy_score(y[held], predicted) if spec["class"] == "DNNClassifier"
                      else r2_score(y[held], predicted))
    return parameters, scores


@pytest.mark.parametrize("n", [2, 3])
def test_early_stopping_splits_per_rank_and_scores_the_union(tmp_path, n):
    stopping = dict(BASE, solver="adam", early_stopping=True, validation_fraction=0.2,
                    n_iter_no_change=3, max_iter=60, learning_rate_init=0.05)
    cases = [
        {"name": "clf", "rows": split(n), "estimator": {"class": "DNNClassifier",
                                                         "params": stopping}},
        {"name": "reg", "rows": split(n), "y": "yr1",
         "estimator": {"class": "DNNRegressor", "params": dict(stopping, max_iter=25)}},
    ]
    results, data = run_job(tmp_path, n, cases)
    for case in cases:
        ranks = results[case["name"]]
        assert ranks[0]["error"] is None, ranks[0]["error"]
        assert_same_on_every_rank(ranks)
        scores = ranks[0]["validation_scores_"]
        assert ranks[0]["n_iter_"] == len(scores) == len(ranks[0]["val_loss_curve_"])
        parameters, expected = early_stopping_reference(case, data, n, len(scores))
        assert_close(scores, expected)
        # the parameters kept: those of the last epoch that beat every earlier score
        best = max(i for i, score in enumerate(scores) if score > max(scores[:i], default=-1e300))
        assert_close(ranks[0]["params"], parameters[best])
        assert ranks[0]["best_validation_score_"] == max(scores)
    assert results["clf"][0]["n_iter_"] < 60     # (it stopped early)


# -- lbfgs: the union's cost and gradient, the same L-BFGS-B path everywhere --

@pytest.mark.parametrize("n", [2, 3])
def test_lbfgs_minimizes_the_union_cost(tmp_path, n):
    lbfgs = {"hidden_layer_sizes": [6], "activation": "tanh", "random_state": 0,
             "solver": "lbfgs", "max_iter": 8, "alpha": 0.01}
    uneven = [list(range(0, 31)), list(range(31, 60))] if n == 2 else \
        [list(range(0, 29)), list(range(29, 40)), list(range(40, 60))]
    cases = [
        {"name": "clf", "rows": uneven, "y": "y3",
         "estimator": {"class": "DNNClassifier", "params": lbfgs}},
        {"name": "reg-weighted", "rows": uneven, "y": "yr", "weighted": True,
         "estimator": {"class": "DNNRegressor", "params": lbfgs}},
    ]
    results, data = run_job(tmp_path, n, cases)
    for case in cases:
        ranks = results[case["name"]]
        assert ranks[0]["error"] is None, ranks[0]["error"]
        assert_same_on_every_rank(ranks)
        spec = case["estimator"]
        expected = CLASSES[spec["class"]](**spec["params"])
        y = data[case["y"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected.fit(data["X"], y, sample_weight=data["w"] if case.get("weighted")
                         else None)
        assert ranks[0]["n_iter_"] == expected.n_iter_ == 8
        # (8 iterations of L-BFGS-B from rounding-level differences in the sums)
        assert_close(ranks[0]["params"], expected.network_.flat_parameters, rtol=1e-9)
        assert_close(ranks[0]["loss_"], expected.loss_, rtol=1e-10)


# -- bad input on one rank: every rank raises, none hangs ---------------------

def test_bad_input_on_one_rank_makes_every_rank_raise(tmp_path):
    rows = split(3)
    adam = {"class": "DNNClassifier", "params": dict(BASE, solver="adam", max_iter=2)}
    cases = [
        {"name": "nan", "rows": rows, "estimator": adam, "bad": {"1": {"nan": True}}},
        {"name": "features", "rows": rows, "estimator": adam,
         "bad": {"2": {"drop_feature": True}}},
        {"name": "dtype", "rows": rows, "estimator": adam, "bad": {"1": {"float32": True}}},
        {"name": "parameter", "rows": rows, "estimator": adam,
         "bad": {"2": {"params": {"alpha": 0.5}}}},
        {"name": "labels", "rows": rows, "estimator": adam, "bad": {"1": {"strings": True}}},
        {"name": "weights", "rows": rows, "estimator": adam, "weighted": True,
         "bad": {"0": {"no_weights": True}}},
        {"name": "dropout", "rows": rows,
         "estimator": {"class": "DNNClassifier", "params": dict(adam["params"], dropout=0.2)}},
        {"name": "poisson", "rows": rows, "y": "yr1",     # (negative counts on every rank)
         "estimator": {"class": "DNNRegressor", "params": dict(adam["params"], loss="poisson")},
         },
        {"name": "partial-classes", "rows": rows, "partial": True, "estimator": adam},
        {"name": "fine-after-all-that", "rows": rows, "estimator": adam},
    ]
    results, _ = run_job(tmp_path, 3, cases)
    nan = results["nan"]
    assert nan[1]["error"][0] == "ValueError" and "NaN" in nan[1]["error"][1]
    for rank in (0, 2):
        assert nan[rank]["error"][0] == "DistributedError"
        assert "rank 1 of 3 failed checking its input" in nan[rank]["error"][1]
        assert nan[1]["error"][1] in nan[rank]["error"][1]
    expected = {
        "features": "X: every rank must fit with the same number of features; rank 2 has 4, "
                    "rank 0 5",
        "dtype": "X: every rank must fit with the same dtype (X's, or the dtype parameter); "
                 "rank 1 has 'float32', rank 0 'float64'",
        "parameter": "alpha: every rank must fit with the same estimator parameters",
        "labels": "y: the ranks' labels cannot be joined: Mix of label input types",
        "weights": "sample_weight: every rank must fit with the same presence of "
                   "sample_weight",
        "dropout": "dropout: not supported with comm",
    }
    for name, text in expected.items():
        for rank, result in enumerate(results[name]):
            assert result["error"][0] == "ValueError", (name, rank, result["error"])
            assert result["error"][1].startswith(text), (name, rank, result["error"])
    for rank, result in enumerate(results["poisson"]):
        assert result["error"][0] == "ValueError" and result["error"][1].startswith("y: ")
    for result in results["partial-classes"]:
        assert result["error"][0] == "ValueError"
        assert result["error"][1].startswith("classes: classes must be passed")
    assert [result["error"] for result in results["fine-after-all-that"]] == [None] * 3
    assert_same_on_every_rank(results["fine-after-all-that"])
