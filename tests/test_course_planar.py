"""dnn.course.planar (course 1 week 3) gives the course's numbers.

Expected values: the graded tests of "Planar data classification with one hidden
layer" (public_tests.py) and the notebook's printed outputs; beside them,
equality with the plain NumPy rendering (benchmarks/numpy_reference_course.py).
"""
import numpy as np
import pytest

from dnn.course import planar as C

from helpers import COURSE_REFERENCE as R, assert_close

PARAMS = {  # forward_propagation_test's W's; update_parameters_test's parameters and grads
    "W1": np.array([[-0.00416758, -0.00056267], [-0.02136196, 0.01640271],
                    [-0.01793436, -0.00841747], [0.00502881, -0.01245288]]),
    "W2": np.array([[-0.01057952, -0.00909008, 0.00551454, 0.02292208]])}


def test_load_planar_dataset_leaves_the_global_state_as_the_course():
    X, Y = C.load_planar_dataset()
    assert X.shape == (2, 400) and Y.shape == (1, 400) and Y.dtype == np.uint8
    after = np.random.randn()
    np.random.seed(1)
    np.random.randn(800)
    assert after == np.random.randn()


def test_layer_sizes():
    # layer_sizes_test
    np.random.seed(1)
    X, Y = np.random.randn(5, 3), np.random.randn(2, 3)
    assert C.layer_sizes(X, Y) == (5, 4, 2)
    assert C.layer_sizes(np.random.randn(7, 5), np.random.randn(5, 5)) == (7, 4, 5)


def test_initialize_parameters():
    # initialize_parameters_test (seed 2, (3, 5, 2)) and the notebook's W1 (seed 2, (2, 4, 1))
    np.random.seed(2)
    p = C.initialize_parameters(3, 5, 2)
    np.testing.assert_allclose(p["W1"][0], [-0.00416758, -0.00056267, -0.02136196], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(p["W2"][1, :2], [-8.78107893e-03, -1.56434170e-03], rtol=1e-6, atol=1e-8)
    assert p["b1"].shape == (5, 1) and p["b2"].shape == (2, 1)
    np.random.seed(2)
    p = C.initialize_parameters(2, 4, 1)
    np.testing.assert_allclose(p["W1"], PARAMS["W1"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(p["W2"], PARAMS["W2"], rtol=1e-6, atol=1e-8)


def test_forward_propagation():
    # forward_propagation_test
    np.random.seed(1)
    X, b1 = np.random.randn(2, 3), np.random.randn(4, 1)
    params = dict(PARAMS, b1=b1, b2=np.array([[-1.3]]))
    A2, cache = C.forward_propagation(X, params)
    assert set(cache) == {"Z1", "A1", "Z2", "A2"}
    np.testing.assert_allclose(A2, [[0.21292656, 0.21274673, 0.21295976]], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(cache["Z2"], [[-1.30737426, -1.30844761, -1.30717618]], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(cache["A1"][0], [0.9400694, 0.94101876, 0.94118266], rtol=1e-6, atol=1e-8)
    ref_A2, ref_cache = R.planar_forward(X, params)
    for key in ref_cache:
        assert_close(cache[key], ref_cache[key])


def test_compute_cost():
    # compute_cost_test (bool labels) and the notebook's cost = 0.6930587610394646
    np.random.seed(1)
    Y = np.random.randn(1, 5) > 0
    cost = C.compute_cost(np.array([[0.5002307, 0.49985831, 0.50023963, 0.25, 0.7]]), Y)
    assert type(cost) is float and cost == pytest.approx(0.5447066599017815, rel=1e-12)
    np.random.seed(1)
    Y = np.random.randn(1, 3) > 0
    assert C.compute_cost(np.array([[0.5002307, 0.49985831, 0.50023963]]), Y) == \
        pytest.approx(0.6930587610394646, rel=1e-12)


def test_backward_propagation_on_unrelated_cache():
    # backward_propagation_test: the cache holds random arrays unrelated to X
    np.random.seed(1)
    X, Y = np.random.randn(3, 7), np.random.randn(1, 7) > 0
    params = {"W1": np.random.randn(9, 3), "W2": np.random.randn(1, 9),
              "b1": np.zeros((9, 1)), "b2": np.zeros((1, 1))}
    cache = {"A1": np.random.randn(9, 7), "A2": np.random.randn(1, 7),
             "Z1": np.random.randn(9, 7), "Z2": np.random.randn(1, 7)}
    grads = C.backward_propagation(params, cache, X, Y)
    np.testing.assert_allclose(grads["dW1"][0], [-0.24468458, -0.24371232, 0.15959609], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads["db1"][:2], [[0.1463639], [-0.33647992]], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads["dW2"][0, :3], [-0.35768529, 0.22046323, -0.29551566],
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads["db2"], [[-0.78032466]], rtol=1e-6, atol=1e-8)
    ref = R.planar_backward(params, cache, X, Y.astype(float))
    for key in ref:
        assert grads[key].shape == ref[key].shape
        assert_close(grads[key], ref[key])


def test_backward_propagation_matches_finite_differences():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(2, 6)), rng.normal(size=(1, 6))    # course mode: real labels
    params = {"W1": rng.normal(size=(3, 2)), "b1": rng.normal(size=(3, 1)),
              "W2": rng.normal(size=(1, 3)), "b2": rng.normal(size=(1, 1))}
    grads = C.backward_propagation(params, C.forward_propagation(X, params)[1], X, Y)
    eps = 1e-6
    for key in params:
        for index in np.ndindex(params[key].shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][index] += eps
            minus[key][index] -= eps
            numeric = (C.compute_cost(C.forward_propagation(X, plus)[0], Y)
                       - C.compute_cost(C.forward_propagation(X, minus)[0], Y)) / (2 * eps)
            assert grads["d" + key][index] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_update_parameters():
    # update_parameters_test (default learning rate 1.2)
    params = {"W1": np.array([[-0.00615039, 0.0169021], [-0.02311792, 0.03137121],
                              [-0.0169217, -0.01752545], [0.00935436, -0.05018221]]),
              "W2": np.array([[-0.0104319, -0.04019007, 0.01607211, 0.04440255]]),
              "b1": np.array([[-8.97523455e-07], [8.15562092e-06], [6.04810633e-07],
                              [-2.54560700e-06]]),
              "b2": np.array([[9.14954378e-05]])}
    grads = {"dW1": np.array([[0.00023322, -0.00205423], [0.00082222, -0.00700776],
                              [-0.00031831, 0.0028636], [-0.00092857, 0.00809933]]),
             "dW2": np.array([[-1.75740039e-05, 3.70231337e-03, -1.25683095e-03,
                               -2.55715317e-03]]),
             "db1": np.array([[1.05570087e-07], [-3.81814487e-06], [-1.90155145e-07],
                              [5.46467802e-07]]),
             "db2": np.array([[-1.08923140e-05]])}
    out = C.update_parameters(params, grads)
    np.testing.assert_allclose(out["W1"][0], [-0.00643025, 0.01936718], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(out["W2"], [[-0.01041081, -0.04463285, 0.01758031, 0.04747113]],
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(out["b2"], [[0.00010457]], rtol=1e-4)
    for key in params:
        assert_close(out[key], params[key] - 1.2 * grads["d" + key])
    # predict_test on these parameters
    np.random.seed(1)
    np.testing.assert_array_equal(C.predict(params, np.random.randn(2, 3)), [[True, False, True]])


def test_nn_model_graded(capsys):
    # nn_model_test: 3 examples, n_h = 4, 10000 iterations; its printed trace
    np.random.seed(1)
    X, Y = np.random.randn(2, 3), np.random.randn(1, 3) > 0
    p = C.nn_model(X, Y, 4, num_iterations=10000, print_cost=True)
    np.testing.assert_allclose(p["W1"][0], [0.56305445, -1.03925886], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(p["W2"], [[1.82196893, 3.09657075, -2.98193564, 3.19946508]],
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(p["b2"], [[0.21344644]], rtol=1e-6, atol=1e-8)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Cost after iteration 0: 0.693198"
    assert lines[-1] == "Cost after iteration 9000: 0.000024" and len(lines) == 10


def test_nn_model_on_the_flower(capsys):
    X, Y = C.load_planar_dataset()
    p = C.nn_model(X, Y, n_h=4, num_iterations=10000, print_cost=True)
    lines = capsys.readouterr().out.splitlines()
    # The notebook's trace; from iteration 7000 on (a phase where the cost rises) the
    # course's own NumPy code moves in the 4th decimal with the BLAS's rounding
    expected = [0.693162, 0.258625, 0.239334, 0.230802, 0.225528, 0.221845, 0.219094]
    assert lines[:7] == [f"Cost after iteration {1000 * i}: {c:.6f}" for i, c in enumerate(expected)]
    assert len(lines) == 10
    accuracy = np.mean(C.predict(p, X) == Y)
    assert 0.90 <= accuracy < 0.91            # the notebook prints "Accuracy: 90%"
    ref, ref_costs = R.planar_nn_model(X, Y, 4, 1000)
    got = C.nn_model(X, Y, 4, num_iterations=1000)
    for key in ref:
        assert_close(got[key], ref[key], rtol=1e-9)


def test_bad_input():
    X = np.ones((2, 3))
    with pytest.raises(ValueError, match="X: expected 2 rows"):
        C.forward_propagation(np.ones((3, 3)), dict(PARAMS, b1=np.zeros((4, 1)),
                                                    b2=np.zeros((1, 1))))
    with pytest.raises(ValueError, match="parameters: missing 'b1'"):
        C.forward_propagation(X, PARAMS)
    with pytest.raises(ValueError, match="Y: expected shape"):
        C.compute_cost(np.full((1, 3), 0.5), np.ones((1, 4)))
    with pytest.raises(ValueError, match="cache: missing 'A2'"):
        C.backward_propagation(dict(PARAMS, b1=np.zeros((4, 1)), b2=np.zeros((1, 1))),
                               {"A1": np.ones((4, 3))}, X, np.ones((1, 3)))
    with pytest.raises(ValueError, match="n_h"):
        C.nn_model(X, np.ones((1, 3)), 0)
