"""dnn.course.logistic_regression (course 1 week 2) gives the course's numbers.

Expected values: the assignment's graded tests (public_tests.py of
"Logistic Regression with a Neural Network mindset": sigmoid_test, propagate_test,
optimize_test, predict_test, model_test) and the notebook's printed outputs;
beside them, equality with the plain NumPy rendering of the course's equations
(benchmarks/numpy_reference_course.py) in float64.
"""
import numpy as np
import pytest

from dnn.course import logistic_regression as C

from helpers import COURSE_REFERENCE as R, assert_close, catvnoncat


def test_sigmoid():
    # sigmoid_test: sigmoid([0, 2]) = [0.5, 0.88079708], sigmoid(1) = 0.7310585
    out = C.sigmoid(np.array([0, 2]))
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [0.5, 0.88079708], rtol=1e-6, atol=1e-8)
    assert C.sigmoid(1) == pytest.approx(0.7310585, rel=1e-6)
    # the notebook prints sigmoid([0.5, 0, 2.0]) = [0.62245933 0.5 0.88079708]
    np.testing.assert_allclose(C.sigmoid(np.array([0.5, 0, 2.0])), [0.62245933, 0.5, 0.88079708],
                               rtol=1e-6, atol=1e-8)
    z = np.random.default_rng(0).normal(scale=10, size=(3, 7))
    assert_close(C.sigmoid(z), R.sigmoid(z))
    assert np.all(np.isfinite(C.sigmoid(np.array([-1000.0, 1000.0]))))


def test_initialize_with_zeros():
    # initialize_with_zeros_test_1/2: w zeros (dim, 1), b == 0.0 of type float
    for dim in (2, 3, 4):
        w, b = C.initialize_with_zeros(dim)
        assert type(b) is float and b == 0.0
        assert w.shape == (dim, 1) and not w.any()
    with pytest.raises(ValueError, match="dim"):
        C.initialize_with_zeros(0)


def test_propagate_graded_and_notebook_values():
    # propagate_test
    w, b = np.array([[1.], [2.], [-1]]), 2.5
    X = np.array([[1., 2., -1., 0], [3., 4., -3.2, 1], [3., 4., -3.2, -3.5]])
    Y = np.array([[1, 1, 0, 0]])
    grads, cost = C.propagate(w, b, X, Y)
    np.testing.assert_allclose(grads["dw"], [[-0.03909333], [0.12501464], [-0.99960809]],
                               rtol=1e-6, atol=1e-8)
    assert grads["db"] == pytest.approx(0.288106326429569, rel=1e-12)
    assert cost == pytest.approx(2.0424567983978403, rel=1e-12)
    expected, expected_cost = R.lr_propagate(w, b, X, Y)
    assert_close(grads["dw"], expected["dw"])
    assert grads["db"] == pytest.approx(expected["db"], rel=1e-12)
    # the notebook's cell: dw = [[0.25071532] [-0.06604096]], db = -0.12500404500439652,
    # cost = 0.15900537707692405; db a np.float64, cost a 0-d array
    w, b = np.array([[1.], [2]]), 1.5
    X, Y = np.array([[1., -2., -1.], [3., 0.5, -3.2]]), np.array([[1, 1, 0]])
    grads, cost = C.propagate(w, b, X, Y)
    assert type(grads["db"]) is np.float64 and grads["dw"].shape == (2, 1)
    assert isinstance(cost, np.ndarray) and cost.shape == ()
    np.testing.assert_allclose(grads["dw"], [[0.25071532], [-0.06604096]], rtol=1e-6, atol=1e-8)
    assert grads["db"] == pytest.approx(-0.12500404500439652, rel=1e-12)
    assert cost == pytest.approx(0.15900537707692405, rel=1e-12)


def test_propagate_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    w, b, X = rng.normal(size=(4, 1)), 0.3, rng.normal(size=(4, 9))
    Y = rng.normal(size=(1, 9))          # course mode: real-valued labels are taken
    grads, _ = C.propagate(w, b, X, Y)
    eps = 1e-6
    for i in range(4):
        step = np.zeros_like(w)
        step[i] = eps
        numeric = (C.propagate(w + step, b, X, Y)[1] - C.propagate(w - step, b, X, Y)[1]) / (2 * eps)
        assert grads["dw"][i, 0] == pytest.approx(numeric, rel=1e-6, abs=1e-9)
    numeric = (C.propagate(w, b + eps, X, Y)[1] - C.propagate(w, b - eps, X, Y)[1]) / (2 * eps)
    assert grads["db"] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_optimize(capsys):
    # optimize_test: 101 iterations at 0.1
    w, b = np.array([[1.], [2.]]), 2.
    X, Y = np.array([[1., 2., -1.], [3., 4., -3.2]]), np.array([[1, 0, 1]])
    params, grads, costs = C.optimize(w, b, X, Y, num_iterations=101, learning_rate=0.1,
                                      print_cost=True)
    assert type(costs) is list and len(costs) == 2
    np.testing.assert_allclose(costs, [5.80154532, 0.31057104], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(params["w"], [[-0.70916784], [-0.42390859]], rtol=1e-6, atol=1e-8)
    assert params["b"] == pytest.approx(2.26891346, rel=1e-6)
    np.testing.assert_allclose(grads["dw"], [[0.06188603], [-0.01407361]], rtol=1e-6, atol=1e-8)
    assert grads["db"] == pytest.approx(-0.04709353, rel=1e-6)
    assert capsys.readouterr().out == ("Cost after iteration 0: 5.801545\n"
                                       "Cost after iteration 100: 0.310571\n")
    ref_params, ref_grads, ref_costs = R.lr_optimize(w, b, X, Y, 101, 0.1)
    assert_close(params["w"], ref_params["w"])
    assert params["b"] == pytest.approx(ref_params["b"], rel=1e-12)
    assert_close(np.array(costs), np.array(ref_costs))
    np.testing.assert_array_equal(w, [[1.], [2.]])     # the inputs are left alone
    # the notebook's cell: 100 iterations at 0.009
    w, b = np.array([[1.], [2]]), 1.5
    X, Y = np.array([[1., -2., -1.], [3., 0.5, -3.2]]), np.array([[1, 1, 0]])
    params, grads, costs = C.optimize(w, b, X, Y, num_iterations=100, learning_rate=0.009)
    np.testing.assert_allclose(params["w"], [[0.80956046], [2.0508202]], rtol=1e-6, atol=1e-8)
    assert params["b"] == pytest.approx(1.5948713189708588, rel=1e-12)
    np.testing.assert_allclose(grads["dw"], [[0.17860505], [-0.04840656]], rtol=1e-6, atol=1e-8)
    assert grads["db"] == pytest.approx(-0.08888460336847771, rel=1e-12)
    assert len(costs) == 1 and costs[0] == pytest.approx(0.15900538, rel=1e-6)


def test_predict():
    # predict_test, and the notebook's cell (predictions = [[1. 1. 0.]])
    pred = C.predict(np.array([[0.3], [0.5], [-0.2]]), -0.33333,
                     np.array([[1., -0.3, 1.5], [2, 0, 1], [0, -1.5, 2]]))
    assert isinstance(pred, np.ndarray) and pred.shape == (1, 3)
    np.testing.assert_array_equal(pred, [[1., 0., 1.]])
    pred = C.predict(np.array([[0.1124579], [0.23106775]]), -0.3,
                     np.array([[1., -1.1, -3.2], [1.2, 2., 0.1]]))
    np.testing.assert_array_equal(pred, [[1., 1., 0.]])


def test_model_graded():
    # model_test: 7 training and 3 test examples, a 1-D y_test
    np.random.seed(0)
    Y, X = np.array([1, 0, 0, 1, 0, 0, 1]).reshape(1, 7), np.random.randn(4, 7)
    x_test, y_test = np.random.randn(4, 3), np.array([0, 1, 0])
    d = C.model(X, Y, x_test, y_test, num_iterations=50, learning_rate=0.01)
    assert set(d) == {"costs", "Y_prediction_test", "Y_prediction_train", "w", "b",
                      "learning_rate", "num_iterations"}
    assert type(d["costs"]) is list and len(d["costs"]) == 1
    np.testing.assert_allclose(d["costs"], [0.69314718], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d["w"], [[0.08639757], [-0.08231268], [-0.11798927],
                                        [0.12866053]], rtol=1e-6, atol=1e-8)
    assert d["b"] == pytest.approx(-0.03983236094816321, rel=1e-12)
    np.testing.assert_array_equal(d["Y_prediction_test"], [[1., 1., 0.]])
    np.testing.assert_array_equal(d["Y_prediction_train"], [[1., 1., 0., 1., 0., 0., 1.]])


def test_model_on_cat_data_prints_the_notebooks_numbers(capsys):
    train_x, train_y, test_x, test_y = catvnoncat()
    d = C.model(train_x, train_y, test_x, test_y, num_iterations=2000, learning_rate=0.005,
                print_cost=True)
    # The notebook's expected output under model(train_set_x, ..., learning_rate=0.005)
    expected = [0.693147, 0.584508, 0.466949, 0.376007, 0.331463, 0.303273, 0.279880,
                0.260042, 0.242941, 0.228004, 0.214820, 0.203078, 0.192544, 0.183033,
                0.174399, 0.166521, 0.159305, 0.152667, 0.146542, 0.140872]
    lines = capsys.readouterr().out.splitlines()
    assert lines[:20] == [f"Cost after iteration {100 * i}: {c:.6f}" for i, c in enumerate(expected)]
    assert lines[20:] == ["train accuracy: 99.04306220095694 %", "test accuracy: 70.0 %"]
    assert len(d["costs"]) == 20


def test_course_mode_and_bad_input():
    X, w = np.ones((2, 3)), np.zeros((2, 1))
    grads, cost = C.propagate(w, 0.0, X, np.array([[0.3, -1.2, 2.5]]))   # real labels taken
    assert np.isfinite(cost)
    with pytest.raises(ValueError, match="w: expected shape"):
        C.propagate(np.zeros((3, 1)), 0.0, X, np.ones((1, 3)))
    with pytest.raises(ValueError, match="Y: expected shape"):
        C.propagate(w, 0.0, X, np.ones((1, 4)))
    with pytest.raises(TypeError, match="X: expected an array of float"):
        C.propagate(w, 0.0, np.ones((2, 3), dtype=int), np.ones((1, 3)))
    with pytest.raises(ValueError, match="X: expected finite"):
        C.propagate(w, 0.0, np.full((2, 3), np.nan), np.ones((1, 3)))
    with pytest.raises(TypeError, match="b: expected a real number"):
        C.propagate(w, "0", X, np.ones((1, 3)))
    with pytest.raises(ValueError, match="learning_rate"):
        C.optimize(w, 0.0, X, np.ones((1, 3)), learning_rate=-1)
    with pytest.raises(ValueError, match="X_test: expected 2 rows"):
        C.model(X, np.ones((1, 3)), np.ones((3, 3)), np.ones((1, 3)))
