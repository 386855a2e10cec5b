"""dnn.distributed in one process, without MPI: the helpers, the checks, and
fit(..., comm=) over a loopback communicator of one rank (and a scripted
second rank that fails) against the plain fit."""
import os
import pickle
import signal
import warnings

import numpy as np
import pytest

import dnn
from dnn import optimizers
from dnn.distributed import (DistributedError, epoch_order, steps_per_epoch, union_rows)
from helpers import assert_close


class Loopback:
    """The communicator methods fit uses, for one rank."""

    is_inter = False

    def __init__(self, peer=None):
        self.peer = peer          # what a scripted rank 1 contributes to allgather
        self.allreduces = 0

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1 if self.peer is None else 2

    def Allreduce(self, send, recv):
        self.allreduces += 1
        recv[...] = send

    def allgather(self, value):
        return [value] if self.peer is None else [value, self.peer(value)]

    def bcast(self, value, root=0):
        return value

    def Bcast(self, buffer, root=0):
        pass

    def Abort(self, code=1):
        raise SystemExit(code)


def data(m=40, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 4))
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.int64)


def test_union_rows_and_steps():
    assert steps_per_epoch([5, 3], 2) == 3
    assert steps_per_epoch([5, 3], None) == 1
    steps = union_rows([3, 2], 2)
    assert [s.tolist() for s in steps] == [[0, 1, 3, 4], [2]]
    steps = union_rows([3, 2], 2, orders=[[2, 0, 1], [1, 0]])
    assert [s.tolist() for s in steps] == [[2, 0, 4, 3], [1]]
    assert [s.tolist() for s in union_rows([3, 2], None)] == [[0, 1, 2, 3, 4]]


def test_epoch_order_is_a_seeded_permutation_per_rank_and_epoch():
    order = epoch_order(5, 1, 2, 10)
    assert sorted(order.tolist()) == list(range(10))
    np.testing.assert_array_equal(order, epoch_order(5, 1, 2, 10))
    assert not np.array_equal(order, epoch_order(5, 1, 3, 10))
    assert not np.array_equal(order, epoch_order(5, 0, 2, 10))


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
@pytest.mark.parametrize("batch", [None, 6])
def test_one_rank_equals_the_plain_fit(optimizer, batch):
    X, y = data()
    kwargs = dict(epochs=3, batch_size=batch, optimizer=optimizer, shuffle=False, l2=0.1,
                  learning_rate=optimizers.InverseTimeDecay(0.05, decay=0.5))
    plain = dnn.Network([4, 5, 1], activation="tanh", seed=1)
    expected = plain.fit(X, y, **kwargs)
    net = dnn.Network([4, 5, 1], activation="tanh", seed=1)
    comm = Loopback()
    history = net.fit(X, y, comm=comm, **kwargs)
    assert_close(net.flat_parameters, plain.flat_parameters)
    assert_close(history.cost, expected.cost)
    assert comm.allreduces == 3 * (1 if batch is None else 7)
    # a second fit continues (the optimizer's state too)
    plain.fit(X, y, **kwargs)
    net.fit(X, y, comm=comm, **kwargs)
    assert_close(net.flat_parameters, plain.flat_parameters)
    assert net.epochs_ == plain.epochs_ == 6


def test_shuffled_one_rank_follows_epoch_order():
    X, y = data()
    net = dnn.Network([4, 5, 1], seed=4)
    net.fit(X, y, epochs=2, batch_size=8, optimizer="momentum", comm=Loopback())
    reference = dnn.Network([4, 5, 1], seed=4)
    optimizer = optimizers.get("momentum")
    for epoch in range(2):
        for rows in union_rows([40], 8, [epoch_order(4, 0, epoch, 40)]):
            reference.fit(X[rows], y[rows], epochs=1, optimizer=optimizer)
    assert_close(net.flat_parameters, reference.flat_parameters)


def test_bad_arguments():
    X, y = data()
    net = dnn.Network([4, 5, 1], seed=0)
    with pytest.raises(TypeError, match="comm: expected an mpi4py intra-communicator"):
        net.fit(X, y, comm="world")
    with pytest.raises(ValueError, match="keep_prob: dropout is not supported with comm"):
        net.fit(X, y, keep_prob=0.5, comm=Loopback())
    with pytest.raises(ValueError, match="y: "):
        net.fit(X, y[:-1], comm=Loopback())
    bn = dnn.Network([4, 5, 1], batch_norm=True, seed=0)
    with pytest.raises(ValueError, match="batch normalization is not supported with comm"):
        bn.fit(X, y, comm=Loopback())


def test_another_rank_failing_or_disagreeing_raises_here():
    X, y = data()
    net = dnn.Network([4, 5, 1], seed=0)
    before = net.flat_parameters
    with pytest.raises(DistributedError, match="rank 1 of 2 failed its checks before "
                                               "training: ValueError: X: bad"):
        net.fit(X, y, comm=Loopback(lambda mine: ("ValueError: X: bad", None)))

    def other_batch(mine):
        signature, m = mine[1]
        return (None, (dict(signature, batch_size=3), m))
    with pytest.raises(ValueError, match="rank 1 differs from rank 0 in batch_size: 3"):
        net.fit(X, y, batch_size=5, comm=Loopback(other_batch))
    np.testing.assert_array_equal(net.flat_parameters, before)
    # the network is free again: a plain fit runs
    net.fit(X, y, epochs=1)


def test_sigint_is_agreed_and_the_handler_restored():
    X, y = data()
    net = dnn.Network([4, 5, 1], seed=0)

    def interrupt(epoch, logs):
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=10, batch_size=8, callbacks=[interrupt], comm=Loopback())
    assert net.epochs_ == 2
    assert signal.getsignal(signal.SIGINT) is handler
    assert np.isfinite(net.flat_parameters).all()


def test_float32_and_sparse_input_on_one_rank():
    import scipy.sparse as sp
    X, y = data()
    kwargs = dict(epochs=2, batch_size=8, optimizer="adam", shuffle=False)
    plain = dnn.Network([4, 5, 1], dtype="float32", seed=2)
    plain.fit(X.astype(np.float32), y, **kwargs)
    net = dnn.Network([4, 5, 1], dtype="float32", seed=2)
    net.fit(X.astype(np.float32), y, comm=Loopback(), **kwargs)
    assert net.flat_parameters.dtype == np.float32
    assert_close(net.flat_parameters, plain.flat_parameters, dtype=np.float32)
    X[np.abs(X) < 0.8] = 0
    dense = dnn.Network([4, 5, 1], seed=2)
    dense.fit(X, y, comm=Loopback(), **dict(kwargs, shuffle=True))
    sparse = dnn.Network([4, 5, 1], seed=2)
    sparse.fit(sp.csr_matrix(X), y, comm=Loopback(), **dict(kwargs, shuffle=True))
    assert_close(sparse.flat_parameters, dense.flat_parameters)


# -- dnn.sklearn's comm= on one rank ---------------------------------------------

@pytest.mark.parametrize("solver, early_stopping", [("adam", False), ("sgd", True),
                                                    ("lbfgs", False)])
def test_sklearn_one_rank_equals_the_plain_fit(solver, early_stopping):
    sklearn = pytest.importorskip("dnn.sklearn")
    X, y = data(60)
    params = dict(hidden_layer_sizes=(5,), solver=solver, max_iter=15, random_state=0,
                  batch_size=16, early_stopping=early_stopping, n_iter_no_change=3,
                  learning_rate_init=0.05, shuffle=False)   # (comm: epoch_order's shuffles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = sklearn.DNNClassifier(**params).fit(X, y)
        over = sklearn.DNNClassifier(**params).fit(X, y, comm=Loopback())
    assert_close(over.network_.flat_parameters, plain.network_.flat_parameters)
    assert over.n_iter_ == plain.n_iter_
    for name in ("loss_curve_", "validation_scores_", "val_loss_curve_"):
        if getattr(plain, name, None) is not None:
            assert_close(getattr(over, name), getattr(plain, name))
    if solver != "lbfgs":
        regressor = dict(params, early_stopping=True)
        target = X[:, 0] + X[:, 1] ** 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = sklearn.DNNRegressor(**regressor).fit(X, target)
            got = sklearn.DNNRegressor(**regressor).fit(X, target, comm=Loopback())
        assert_close(got.validation_scores_, expected.validation_scores_)
        assert_close(got.network_.flat_parameters, expected.network_.flat_parameters)


def test_sklearn_comm_is_a_fit_argument_not_a_parameter():
    sklearn = pytest.importorskip("dnn.sklearn")
    from sklearn.base import clone
    X, y = data()
    estimator = sklearn.DNNClassifier(hidden_layer_sizes=(3,), max_iter=3)
    assert "comm" not in estimator.get_params()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y, comm=Loopback())
    again = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(again.predict(X), estimator.predict(X))
    assert "comm" not in clone(estimator).get_params()
    with pytest.raises(TypeError, match="comm: expected an mpi4py intra-communicator"):
        estimator.fit(X, y, comm="world")
    with pytest.raises(ValueError, match="dropout: not supported with comm"):
        sklearn.DNNClassifier(dropout=0.1).fit(X, y, comm=Loopback())
    with pytest.raises(ValueError, match="batch_norm: not supported with comm"):
        sklearn.DNNRegressor(batch_norm=True).fit(X, X[:, 0], comm=Loopback())


def test_sklearn_another_rank_failing_or_disagreeing_raises_here():
    sklearn = pytest.importorskip("dnn.sklearn")
    X, y = data()
    estimator = sklearn.DNNClassifier(hidden_layer_sizes=(3,), max_iter=3)
    with pytest.raises(DistributedError, match="rank 1 of 2 failed checking its input: "
                                               "ValueError: X: bad"):
        estimator.fit(X, y, comm=Loopback(lambda mine: ("ValueError: X: bad", None)))
    assert not hasattr(estimator, "network_")
    with pytest.raises(ValueError, match="X: every rank must fit with the same number of "
                                         "features; rank 1 has 7, rank 0 4"):
        estimator.fit(X, y, comm=Loopback(lambda mine: (None, dict(mine[1], n_features=7))))

    def with_class_2_then_failing(mine):
        if isinstance(mine[1], dict) and "targets" in mine[1]:
            return (None, dict(mine[1], targets=("multiclass", np.array([0, 1, 2]))))
        return ("ValueError: y: bad", None)
    with pytest.raises(DistributedError, match="rank 1 of 2 failed preparing its data"):
        estimator.fit(X, y, comm=Loopback(with_class_2_then_failing))
    # (the classes were agreed before: the union of the ranks' labels)
    assert estimator.classes_.tolist() == [0, 1, 2]
