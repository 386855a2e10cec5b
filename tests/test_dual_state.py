"""The dual-form first layer's state across fits (issue 14): fits inside
Network.consecutive_fits form W1 once (and whenever the network is read), a
callback that changes X in place is seen, pickle and deepcopy keep
first_layer, the features go when the training array goes, and the uses the
dual form cannot serve (comm) are refused by name."""
import copy
import gc
import pickle
import weakref

import numpy as np
import pytest

import dnn
from dnn.course import deep_neural_network as course

from test_dual import assert_same_networks, relative, wide

FIT = dict(epochs=1, optimizer="momentum", learning_rate=0.01, l2=0.1)


def pair(dims=(300, 6, 1)):
    return [dnn.Network(list(dims), seed=3, first_layer=mode) for mode in ("primal", "dual")]


def test_consecutive_fits_equal_primal_and_form_w1_when_read():
    X, y = wide(m=40, n_x=300)
    primal, dual = pair()
    held = dual.parameters["W1"]          # a view taken before the block
    with dual.consecutive_fits():
        for epoch in range(6):
            for net in (primal, dual):
                net.fit(X, y, **FIT)
            assert dual._first_layer.pending       # W1 not formed after the fit
            if epoch == 3:
                # a read inside the block forms W1 first, and the next fit goes on
                assert relative(dual.parameters["W1"], primal.parameters["W1"]) < 1e-12
                assert not dual._first_layer.pending
                kept = dual._first_layer.kept
        assert dual._first_layer.kept is kept       # the same features all along
    assert not dual._first_layer.pending
    assert_same_networks(dual, primal)
    # the view taken before the block shows the formed W1 once the block ends
    np.testing.assert_array_equal(held, dual.parameters["W1"])


@pytest.mark.parametrize("read", ["predict", "save", "flat_parameters", "assign"])
def test_every_reader_inside_the_block_sees_the_trained_state(read, tmp_path):
    X, y = wide(m=40, n_x=300)
    primal, dual = pair()
    with dual.consecutive_fits():
        for net in (primal, dual):
            for _ in range(3):
                net.fit(X, y, **FIT)
        if read == "predict":
            np.testing.assert_allclose(dual.predict_proba(X), primal.predict_proba(X),
                                       rtol=1e-12)
        elif read == "save":
            dual.save(tmp_path / "m.npz")
            loaded = dnn.load(tmp_path / "m.npz")
            assert relative(loaded.parameters["W1"], primal.parameters["W1"]) < 1e-12
        elif read == "flat_parameters":
            assert relative(dual.flat_parameters, primal.flat_parameters) < 1e-12
        else:
            # parameters assigned inside the block: the next fit starts from them
            for net in (primal, dual):
                net.parameters = {**primal.copy_parameters(), "W1": np.ones((6, 300)) * 1e-3}
        for net in (primal, dual):
            net.fit(X, y, **FIT)
    assert_same_networks(dual, primal)


def test_an_exception_inside_the_block_leaves_the_trained_state():
    X, y = wide(m=40, n_x=300)
    primal, dual = pair()

    def stop(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    for net in (primal, dual):
        with pytest.raises(KeyboardInterrupt), net.consecutive_fits():
            net.fit(X, y, **FIT)
            net.fit(X, y, **{**FIT, "epochs": 5}, callbacks=[stop])
    assert not dual._first_layer.pending
    assert dual.epochs_ == primal.epochs_ == 3      # (epoch 2 is the third)
    assert_same_networks(dual, primal)


def test_a_callback_that_changes_x_in_place_is_seen():
    """e.g. augmentation or a noise schedule in a callback: the later epochs
    train on the new values both ways."""
    X0, y = wide(m=40, n_x=300)
    nets = []
    for mode in ("primal", "dual"):
        X = X0.copy()

        def augment(epoch, logs, X=X):
            X[:, :5] += 0.1

        net = dnn.Network([300, 8, 1], seed=1, first_layer=mode)
        net.fit(X, y, epochs=5, optimizer="momentum", learning_rate=0.05, callbacks=[augment])
        nets.append(net)
    assert_same_networks(nets[1], nets[0])


def test_pickle_and_deepcopy_keep_first_layer():
    X, y = wide(m=10, n_x=30)
    for mode in ("primal", "dual"):
        net = dnn.Network([30, 4, 1], seed=1, first_layer=mode)
        net.fit(X, y, epochs=2, optimizer="gd")
        for twin in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
            assert twin.first_layer == mode
            np.testing.assert_array_equal(twin.flat_parameters, net.flat_parameters)
            twin.fit(X, y, epochs=2, optimizer="gd")
            assert twin.first_layer_ == mode


def test_the_features_go_with_the_training_array():
    X, y = wide(m=200, n_x=2000)
    net = dnn.Network([2000, 8, 1], seed=1)
    net.fit(X, y, epochs=20, optimizer="momentum", learning_rate=0.01)
    assert net.first_layer_ == "dual"
    kept = net._first_layer.kept
    assert kept.features is not None
    alive = weakref.ref(X)
    del X
    gc.collect()
    assert alive() is None                   # the network does not keep X alive
    assert kept.features is None and kept.engine is None
    # and a fit on another array still trains (dual features made anew)
    X2, y2 = wide(m=200, n_x=2000, seed=1)
    net.fit(X2, y2, epochs=20, optimizer="momentum", learning_rate=0.01)
    assert net.first_layer_ == "dual" and net._first_layer.kept is not kept


def test_course_dual_loop_prints_the_last_cost_as_the_course_does(capsys):
    """The course's precedence, ``print_cost and i % 100 == 0 or i ==
    num_iterations - 1``: the last iteration's cost even with print_cost=False."""
    rng = np.random.default_rng(0)
    X = rng.random((4000, 30))
    Y = (rng.random((1, 30)) > 0.5).astype(float)
    parameters = course.initialize_parameters(4000, 7, 1)
    assert course._dual_pays(X, Y, parameters, 150)       # the dual loop is the one run
    for print_cost, lines in ((False, [149]), (True, [0, 100, 149])):
        _, costs = course.two_layer_model(X, Y, (4000, 7, 1), num_iterations=150,
                                          print_cost=print_cost)
        printed = capsys.readouterr().out.splitlines()
        assert [int(line.split()[3].rstrip(":")) for line in printed] == lines
    # the costs those lines print are the course's NumPy loop's
    from helpers import REFERENCE
    _, want = REFERENCE.two_layer_model(X, Y, (4000, 7, 1), num_iterations=150)
    np.testing.assert_allclose(np.array(costs, float), np.array(want, float), rtol=1e-12)


class SingleRank:
    """A one-rank communicator with mpi4py's methods (no MPI needed)."""
    is_inter = False

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def allgather(self, value):
        return [value]

    def bcast(self, value, root=0):
        return value

    def Allreduce(self, send, receive):
        receive[...] = send

    def Bcast(self, buffer, root=0):
        pass

    def Abort(self, code=1):
        raise SystemExit(code)


def test_dual_is_refused_with_comm_and_auto_trains_primal():
    X, y = wide(m=20, n_x=300)
    net = dnn.Network([300, 4, 1], seed=1, first_layer="dual")
    with pytest.raises(ValueError, match="first_layer: 'dual' is not supported with comm"):
        net.fit(X, y, epochs=2, optimizer="gd", comm=SingleRank())
    net.first_layer = "auto"
    net.fit(X, y, epochs=2, optimizer="gd", comm=SingleRank())
    assert net.first_layer_ == "primal"


def test_sklearn_first_layer_checks():
    pytest.importorskip("sklearn")
    from dnn.sklearn import DNNClassifier
    from dnn import _sklearn_mpi as mpi
    X, y = wide(m=20, n_x=50)
    # a wrong type is a TypeError (as Network's) and a ValueError (as scikit-learn's)
    for error in (TypeError, ValueError):
        with pytest.raises(error, match="first_layer: expected one of"):
            DNNClassifier(hidden_layer_sizes=(3,), max_iter=2, first_layer=None).fit(X, y)
    with pytest.raises(ValueError, match="first_layer: 'dual' is not supported with comm"):
        DNNClassifier(hidden_layer_sizes=(3,), solver="sgd", max_iter=2,
                      first_layer="dual").fit(X, y, comm=SingleRank())
    # the ranks' differing parameters quoted once (they are reprs already)
    with pytest.raises(ValueError, match="rank 1 has 'dual', rank 0 'auto'$"):
        mpi.compare(["'auto'", "'dual'"], "first_layer", "estimator parameters", shown=str)


@pytest.mark.parametrize("optimizer, batch_size, epochs, m, n_x, units", [
    ("momentum", 8, 150, 40, 300, 6),       # 750 steps: drift and re-forming
    ("nesterov", 7, 60, 40, 300, 6),        # a last batch of 5
    ("gd", 8, 150, 40, 300, 6),             # gd folded into the backward pass
    ("gd", None, 4, 1000, 1200, 100),       # gd's step long enough not to be folded
])
def test_the_l2_terms_tracked_products_give_the_primal_costs(optimizer, batch_size, epochs,
                                                               m, n_x, units):
    """With l2 the cost's ||W1||^2 comes from M G tracked step by step (dZ1 G_B
    a step): the costs equal the primal engine's at 1e-12 over many steps."""
    X, y = wide(m=m, n_x=n_x)
    nets = [dnn.Network([n_x, units, 1], seed=3, first_layer=mode)
            for mode in ("primal", "dual")]
    runs = [net.fit(X, y, epochs=epochs, optimizer=optimizer, learning_rate=0.02, l2=0.7,
                    batch_size=batch_size) for net in nets]
    np.testing.assert_allclose(runs[1].cost, runs[0].cost, rtol=1e-12)
    assert_same_networks(nets[1], nets[0])


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "gd"])
def test_float32_dual_with_l2_stays_close_over_many_steps(optimizer):
    """float32: the tracked L2 products and the coordinates accumulate in
    float32 over 750 steps (re-formed every 100): costs and parameters stay
    within float32's reach of the primal engine's, and training is not
    silently float64 (the parameters are float32)."""
    X, y = wide(m=40, n_x=300)
    nets = [dnn.Network([300, 6, 1], seed=3, first_layer=mode, dtype="float32")
            for mode in ("primal", "dual")]
    runs = [net.fit(X, y, epochs=150, optimizer=optimizer, learning_rate=0.02, l2=0.7,
                    batch_size=8) for net in nets]
    assert nets[1].first_layer_ == "dual"
    assert nets[1].parameters["W1"].dtype == np.float32
    # (seen: 4e-7 in the costs, 1e-6 in the parameters)
    np.testing.assert_allclose(runs[1].cost, runs[0].cost, rtol=1e-5)
    assert_same_networks(nets[1], nets[0], rtol=1e-5)
    # far from float64's agreement (it really is float32) yet far below the change
    assert relative(nets[1].parameters["W1"], nets[0].parameters["W1"]) > 1e-12
