"""dnn.course.optimization (course 2 week 2) gives the course's numbers.

Expected values: the graded tests of the "Optimization Methods" notebook (its
public_tests.py with testCases.py: update_parameters_with_gd_test,
random_mini_batches_test, initialize_velocity_test, update_parameters_with_momentum_test,
initialize_adam_test, update_parameters_with_adam_test, update_lr_test,
schedule_lr_decay_test) and the notebook's printed traces on the moons; beside them,
equality with the plain NumPy rendering (benchmarks/numpy_reference_course.py).
"""
import copy

import numpy as np
import pytest

from dnn.course import optimization as C

from helpers import COURSE_REFERENCE as R, assert_close

SHAPES = [(2, 3), (2, 1), (3, 2), (3, 1)]


def _params_and_grads():
    """update_parameters_with_gd_test_case / ..._momentum_test_case (seed 1)."""
    np.random.seed(1)
    p = {key: np.random.randn(*shape) for key, shape in zip(("W1", "b1", "W2", "b2"), SHAPES)}
    g = {key: np.random.randn(*shape)
         for key, shape in zip(("dW1", "db1", "dW2", "db2"), SHAPES)}
    return p, g


def test_update_parameters_with_gd_graded():
    p, g = _params_and_grads()
    before = copy.deepcopy(p)
    out = C.update_parameters_with_gd(p, g, 0.01)
    expected = {"W1": [[1.63312395, -0.61217855, -0.5339999],
                       [-1.06196243, 0.85396039, -2.3105546]],
                "b1": [[1.73978682], [-0.77021546]],
                "W2": [[0.32587637, -0.24814147], [1.47146563, -2.05746183],
                       [-0.32772076, -0.37713775]],
                "b2": [[1.13773698], [-1.09301954], [-0.16397615]]}
    for key, value in expected.items():
        assert type(out[key]) is np.ndarray and out[key].shape == before[key].shape
        np.testing.assert_allclose(out[key], value, rtol=1e-7)
        assert_close(out[key], before[key] - 0.01 * g["d" + key])
    # as the notebook, the dict passed in holds the new arrays; the old arrays are unchanged
    assert out is p
    np.testing.assert_array_equal(before["W1"], copy.deepcopy(before)["W1"])


def test_random_mini_batches_graded():
    np.random.seed(1)
    X, Y = np.random.randn(5, 7), np.random.randn(1, 7) < 0.5
    batches = C.random_mini_batches(X, Y, 2)
    expected_X = [
        [[1.74481176, -0.52817175], [-0.38405435, -0.24937038], [-1.10061918, -0.17242821],
         [-0.93576943, 0.50249434], [-0.67124613, -0.69166075]],
        [[-0.61175641, -1.07296862], [0.3190391, 1.46210794], [-1.09989127, -0.87785842],
         [0.90159072, 0.90085595], [0.53035547, -0.39675353]],
        [[1.62434536, -2.3015387], [-0.7612069, -0.3224172], [1.13376944, 0.58281521],
         [1.14472371, -0.12289023], [-0.26788808, -0.84520564]],
        [[0.86540763], [-2.06014071], [0.04221375], [-0.68372786], [-0.6871727]]]
    expected_Y = [[[True, True]], [[True, False]], [[True, True]], [[False]]]
    assert len(batches) == 4
    for (bx, by), ex, ey in zip(batches, expected_X, expected_Y):
        np.testing.assert_allclose(bx, ex, rtol=1e-7)
        assert by.dtype == np.bool_
        np.testing.assert_array_equal(by, ey)
    # the course's order for other sizes and seeds, against the reference
    np.random.seed(2)
    X, Y = np.random.randn(3, 150), np.random.rand(1, 150)
    for size, seed in [(64, 0), (32, 11), (150, 3), (200, 5)]:
        got = C.random_mini_batches(X, Y, size, seed)
        ref = R.c2_mini_batches(X, Y, size, seed)
        assert len(got) == len(ref)
        for (bx, by), (rx, ry) in zip(got, ref):
            np.testing.assert_array_equal(bx, rx)
            np.testing.assert_array_equal(by, ry)


def test_initialize_velocity_and_adam_graded():
    np.random.seed(1)
    p = {"W1": np.random.randn(3, 2), "b1": np.random.randn(3, 1),
         "W2": np.random.randn(3, 3), "b2": np.random.randn(3, 1)}
    v = C.initialize_velocity(p)
    assert list(v) == ["dW1", "db1", "dW2", "db2"]
    for key, value in v.items():
        assert value.shape == p[key[1:]].shape and not value.any()
    v, s = C.initialize_adam(p)
    assert list(s) == list(v) == ["dW1", "db1", "dW2", "db2"]
    assert all(not a.any() and a.shape == p[k[1:]].shape for k, a in {**v, **s}.items())


def test_update_parameters_with_momentum_graded():
    p, g = _params_and_grads()
    v = {key: np.zeros(shape) for key, shape in zip(("dW1", "db1", "dW2", "db2"), SHAPES)}
    ref_p, ref_v = R.c2_momentum(copy.deepcopy(p), g, copy.deepcopy(v), 0.9, 0.01)
    p, v = C.update_parameters_with_momentum(p, g, v, 0.9, 0.01)
    expected_p = {"W1": [[1.62522322, -0.61179863, -0.52875457],
                         [-1.071868, 0.86426291, -2.30244029]],
                  "b1": [[1.74430927], [-0.76210776]],
                  "W2": [[0.31972282, -0.24924749], [1.46304371, -2.05987282],
                         [-0.32294756, -0.38336269]],
                  "b2": [[1.1341662], [-1.09920409], [-0.171583]]}
    expected_v = {"dW1": [[-0.08778584, 0.00422137, 0.05828152],
                          [-0.11006192, 0.11447237, 0.09015907]],
                  "dW2": [[-0.06837279, -0.01228902], [-0.09357694, -0.02678881],
                          [0.05303555, -0.06916608]],
                  "db1": [[0.05024943], [0.09008559]],
                  "db2": [[-0.03967535], [-0.06871727], [-0.08452056]]}
    for key, value in expected_p.items():
        np.testing.assert_allclose(p[key], value, rtol=1e-6, atol=1e-8)
        np.testing.assert_array_equal(p[key], ref_p[key])   # the kernel: the course's rounding
    for key, value in expected_v.items():
        np.testing.assert_allclose(v[key], value, rtol=1e-6, atol=1e-8)
        np.testing.assert_array_equal(v[key], ref_v[key])


def test_update_parameters_with_adam_graded():
    np.random.seed(1)
    keys = ("dW1", "dW2", "db1", "db2")
    v = {key: np.zeros(shape) for key, shape in zip(keys, [(2, 3), (3, 2), (2, 1), (3, 1)])}
    s = copy.deepcopy(v)
    p, g = {}, {}
    for key, shape in zip(("W1", "b1", "W2", "b2"), SHAPES):
        p[key] = np.random.randn(*shape)
    for key, shape in zip(("dW1", "db1", "dW2", "db2"), SHAPES):
        g[key] = np.random.randn(*shape)
    t, lr, beta1, beta2, eps = 2, 0.02, 0.8, 0.888, 1e-2
    ref = R.c2_adam(copy.deepcopy(p), g, copy.deepcopy(v), copy.deepcopy(s), t, lr, beta1,
                    beta2, eps)
    out = C.update_parameters_with_adam(p, g, v, s, t, lr, beta1, beta2, eps)
    assert len(out) == 5
    p, v, s, vc, sc = out
    expected_v = {"dW1": [-0.17557168, 0.00844275, 0.11656304], "dW2": [-0.13674557, -0.02457805],
                  "db1": [0.10049887], "db2": [-0.07935071]}
    expected_s = {"dW1": [0.08631117, 0.00019958, 0.03804344], "dW2": [0.05235818, 0.00169142],
                  "db1": [0.02828006], "db2": [0.0176303]}
    expected_p = {"W1": [1.63937725, -0.62327448, -0.54308727], "W2": [0.33400549, -0.23563857],
                  "b1": [1.72995096], "b2": [1.14852557]}
    c1, c2 = 1.0 / (1 - beta1 ** t), 1.0 / (1 - beta2 ** t)
    for key in keys:
        np.testing.assert_allclose(v[key][0], expected_v[key], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(s[key][0], expected_s[key], rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(vc[key][0], np.array(expected_v[key]) * c1, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(sc[key][0], np.array(expected_s[key]) * c2, rtol=1e-5, atol=1e-8)
    for key, value in expected_p.items():
        np.testing.assert_allclose(p[key][0], value, rtol=1e-7)
    for got, want in zip((p, v, s, vc, sc), ref):
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])   # the course's rounding


def test_learning_rate_decay_graded():
    assert C.update_lr(0.5, 2, 1) == pytest.approx(0.16666666666666666, rel=1e-15)
    assert C.schedule_lr_decay(0.5, 100, 1, 100) == pytest.approx(0.25)
    assert C.schedule_lr_decay(0.5, 10, 1, 100) == pytest.approx(0.5)
    assert C.schedule_lr_decay(0.3, 1000, 0.25, 100) == pytest.approx(0.085714285)
    assert C.schedule_lr_decay(0.3, 100, 0.25, 100) == pytest.approx(0.24)
    # the notebook's printed example: 0.5 after 10 epochs, 0.3846153846153846 after 100
    assert C.schedule_lr_decay(0.5, 100, 0.3, 100) == 0.3846153846153846


def test_opt_utils_match_reference(capsys):
    np.random.seed(3)
    X, Y = np.random.randn(2, 10), (np.random.rand(1, 10) > 0.5).astype(int)
    p = C.initialize_parameters([2, 5, 2, 1])
    ref_p = R.c2_init([2, 5, 2, 1], lambda n: np.sqrt(2 / n), 3)
    for key in ref_p:
        np.testing.assert_array_equal(p[key], ref_p[key])
    a3, cache = C.forward_propagation(X, p)
    grads = C.backward_propagation(X, Y, cache)
    ref = R.c2_backward(X, Y, R.c2_forward(X, p)[1])
    for key in ref:
        want = ref[key] / 10 if key[1] in "ZA" else ref[key]     # opt_utils' dz3 = (a3 - Y) / m
        assert_close(grads[key if key[1] in "Wb" else key.lower()], want)
    assert C.compute_cost(a3, Y) == pytest.approx(np.sum(R.c2_logprobs(a3, Y)), rel=1e-13)
    pred = C.predict(X, Y, p)
    assert capsys.readouterr().out == f"Accuracy: {np.mean(pred[0] == Y[0])}\n"
    np.testing.assert_array_equal(C.predict_dec(p, X), a3 > 0.5)


@pytest.mark.parametrize("optimizer, kw", [
    ("gd", {"learning_rate": 0.05}), ("momentum", {"learning_rate": 0.05, "beta": 0.8}),
    ("adam", {}), ("adam", {"learning_rate": 0.01, "decay": C.update_lr, "decay_rate": 0.5})])
def test_model_matches_reference(optimizer, kw):
    np.random.seed(6)
    X, Y = np.random.randn(2, 150), (np.random.rand(1, 150) > 0.5).astype(int)
    got = C.model(X, Y, [2, 4, 3, 1], optimizer, num_epochs=60, print_cost=False,
                  mini_batch_size=32, **kw)
    ref, _ = R.c2_opt_model(X, Y, [2, 4, 3, 1], optimizer, num_epochs=60, mini_batch_size=32,
                            **kw)
    for key in ref:
        assert_close(got[key], ref[key], rtol=1e-9)


NOTEBOOK = [  # the notebook's printed lines on the moons, and its accuracy
    ("gd", {}, ["Cost after epoch 0: 0.702405", "Cost after epoch 1000: 0.668101",
                "Cost after epoch 2000: 0.635288", "Cost after epoch 3000: 0.600491",
                "Cost after epoch 4000: 0.573367"], "0.7166666666666667"),
    ("adam", {"learning_rate": 0.01, "decay": C.schedule_lr_decay},
     ["Cost after epoch 0: 0.699346", "learning rate after epoch 0: 0.010000",
      "Cost after epoch 1000: 0.130074", "learning rate after epoch 1000: 0.005000",
      "Cost after epoch 2000: 0.129826", "learning rate after epoch 2000: 0.003333",
      "Cost after epoch 3000: 0.129282", "learning rate after epoch 3000: 0.002500",
      "Cost after epoch 4000: 0.128361", "learning rate after epoch 4000: 0.002000"], "0.94")]


@pytest.mark.parametrize("optimizer, kw, lines, accuracy", NOTEBOOK)
def test_notebook_models_on_the_moons(optimizer, kw, lines, accuracy, capsys):
    pytest.importorskip("sklearn")
    train_X, train_Y = C.load_dataset()
    assert train_X.shape == (2, 300) and train_Y.shape == (1, 300)
    p = C.model(train_X, train_Y, [train_X.shape[0], 5, 2, 1], optimizer, **kw)
    assert capsys.readouterr().out.splitlines() == lines
    C.predict(train_X, train_Y, p)
    assert capsys.readouterr().out == f"Accuracy: {accuracy}\n"


def test_bad_input():
    p, g = _params_and_grads()
    v = C.initialize_velocity(p)
    with pytest.raises(ValueError, match="grads: missing 'db2'"):
        C.update_parameters_with_gd(p, {k: g[k] for k in ("dW1", "db1", "dW2")}, 0.1)
    with pytest.raises(ValueError, match=r"v\['dW1'\]: expected shape \(2, 3\)"):
        C.update_parameters_with_momentum(p, g, dict(v, dW1=np.zeros((3, 2))), 0.9, 0.1)
    with pytest.raises(ValueError, match="beta: expected a number <= 1"):
        C.update_parameters_with_momentum(p, g, v, 1.5, 0.1)
    vs, ss = C.initialize_adam(p)
    with pytest.raises(ValueError, match="t: expected an integer >= 1"):
        C.update_parameters_with_adam(p, g, vs, ss, 0)
    with pytest.raises(ValueError, match="learning_rate: expected a number >= 0"):
        C.update_parameters_with_adam(p, g, vs, ss, 1, learning_rate=-1)
    with pytest.raises(ValueError, match=r"Y: expected shape \(1, 7\)"):
        C.random_mini_batches(np.ones((2, 7)), np.ones((1, 6)))
    with pytest.raises(ValueError, match="mini_batch_size: expected an integer >= 1"):
        C.random_mini_batches(np.ones((2, 7)), np.ones((1, 7)), 0)
    with pytest.raises(ValueError, match="optimizer: expected one of"):
        C.model(np.ones((2, 7)), np.ones((1, 7)), [2, 3, 2, 1], "sgd")
    with pytest.raises(ValueError, match="layers_dims: expected 4 sizes"):
        C.model(np.ones((2, 7)), np.ones((1, 7)), [2, 3, 1], "gd")
    with pytest.raises(TypeError, match="decay: expected None or a function"):
        C.model(np.ones((2, 7)), np.ones((1, 7)), [2, 3, 2, 1], "gd", decay=0.5)
    with pytest.raises(ValueError, match="time_interval: expected an integer >= 1"):
        C.schedule_lr_decay(0.1, 10, 1, 0)


def test_float32_is_kept():
    np.random.seed(6)
    X, Y = np.random.randn(2, 100).astype(np.float32), np.random.rand(1, 100) > 0.5
    for optimizer in ("gd", "momentum", "adam"):
        p = C.model(X, Y, [2, 4, 3, 1], optimizer, num_epochs=20, print_cost=False)
        ref = C.model(X.astype(np.float64), Y, [2, 4, 3, 1], optimizer, num_epochs=20,
                      print_cost=False)
        for key in ref:
            assert p[key].dtype == np.float32
            assert_close(p[key], ref[key], np.float32, rtol=1e-4)
