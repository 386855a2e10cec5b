"""dnn.course.regularization (course 2 week 1) gives the course's numbers.

Expected values: the graded tests of the "Regularization" notebook (its
public_tests.py: compute_cost_with_regularization_test,
backward_propagation_with_regularization_test, forward_propagation_with_dropout_test,
backward_propagation_with_dropout_test; the same cases are in the older testCases.py,
e.g. github.com/muellevin/ML_CV 3_Improving_ML_applications/1_regularization/testCases.py)
and the notebook's printed outputs (the three models' cost traces and accuracies);
beside them, equality with the plain NumPy rendering (benchmarks/numpy_reference_course.py).
"""
import numpy as np
import pytest

from dnn.course import regularization as C

from helpers import COURSE_REFERENCE as R, DATA, assert_close

SHAPES = [("W1", (2, 3)), ("b1", (2, 1)), ("W2", (3, 2)), ("b2", (3, 1)), ("W3", (1, 3)),
          ("b3", (1, 1))]


def _params():
    return {key: np.random.randn(*shape) for key, shape in SHAPES}


def _graded_cache():
    """backward_propagation_with_regularization_test's cache: the forward pass of
    X and the parameters drawn after np.random.seed(1)."""
    np.random.seed(1)
    X = np.random.randn(3, 5)
    p = _params()
    return X, C.forward_propagation(X, p)[1]


def test_compute_cost_with_regularization_graded():
    np.random.seed(1)
    Y = np.array([[1, 1, 0, 1, 0]])
    p = _params()
    A3 = np.array([[0.40682402, 0.01629284, 0.16722898, 0.10118111, 0.40682402]])
    cost = C.compute_cost_with_regularization(A3, Y, p, 0.1)
    assert isinstance(cost, np.float64)
    assert cost == pytest.approx(1.7864859451590758, rel=1e-14)
    assert cost == pytest.approx(R.c2_l2_cost(A3, Y, p, 0.1), rel=1e-14)


def test_backward_propagation_with_regularization_graded():
    X, cache = _graded_cache()
    # the graded cache, as printed in public_tests.py
    np.testing.assert_allclose(cache[0][0], [-1.52855314, 3.32524635, 2.13994541, 2.60700654,
                                             -0.75942115], rtol=1e-7)
    np.testing.assert_allclose(cache[9], [[0.40682402, 0.01629284, 0.16722898, 0.10118111,
                                           0.40682402]], rtol=1e-6)
    Y = np.array([[1, 1, 0, 1, 0]])
    grads = C.backward_propagation_with_regularization(X, Y, cache, 0.7)
    assert list(grads) == ["dZ3", "dW3", "db3", "dA2", "dZ2", "dW2", "db2", "dA1", "dZ1",
                           "dW1", "db1"]
    expected = {
        "dZ3": [[-0.59317598, -0.98370716, 0.16722898, -0.89881889, 0.40682402]],
        "dW3": [[-1.77691347, -0.11832879, -0.09397446]],
        "db3": [[-0.38032981]],
        "dA2": [[0.40761434, 0.67597671, -0.11491519, 0.6176438, -0.27955836],
                [0.50135568, 0.83143484, -0.14134288, 0.7596868, -0.34384996],
                [0.39816708, 0.66030962, -0.11225181, 0.6033287, -0.27307905]],
        "dW2": [[0.79276486, 0.85133918], [-0.0957219, -0.01720463], [-0.13100772, -0.03750433]],
        "db2": [[0.26135226], [0.], [0.]],
        "dZ1": [[0., 0.33967447, -0.05774423, 0.31036252, 0.],
                [0., 0.60895764, -0.10352203, 0.5564081, 0.]],
        "dW1": [[-0.25604646, 0.12298827, -0.28297129], [-0.17706303, 0.34536094, -0.4410571]],
        "db1": [[0.11845855], [0.21236874]]}
    for key, value in expected.items():
        np.testing.assert_allclose(grads[key], value, rtol=1e-6, atol=1e-8, err_msg=key)
    ref = R.c2_backward(X, Y, cache, lambd=0.7)
    for key in ref:
        assert_close(grads[key], ref[key])


def test_forward_propagation_with_dropout_graded():
    np.random.seed(1)
    X = np.random.randn(3, 5)
    p = _params()
    np.random.seed(7)
    A3, cache = C.forward_propagation_with_dropout(X, p, 0.7)
    np.testing.assert_allclose(A3, [[0.36974721, 0.00305176, 0.04565099, 0.49683389,
                                     0.36974721]], rtol=1e-6)
    assert len(cache) == 14
    np.testing.assert_array_equal(cache[1], [[1, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(cache[6], [[1, 1, 1, 0, 1], [1, 1, 1, 1, 1], [0, 0, 1, 1, 0]])
    np.testing.assert_allclose(cache[2], [[0., 0., 3.05706487, 3.72429505, 0.],
                                          [0., 5.94299915, 1.1293003, 2.09276446, 0.]],
                               rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(cache[7][0], [0.75765067, 8.40591658, 4.40550021, 0.,
                                             0.75765067], rtol=1e-7)
    np.testing.assert_allclose(cache[10], [[-0.53330145, -5.78898099, -3.04000407, -0.0126646,
                                            -0.53330145]], rtol=1e-6)
    np.random.seed(1)
    ref_A3, ref_cache = R.c2_forward(X, p, keep_prob=0.7)
    for got, want in zip(cache, ref_cache):
        assert_close(got, want)


def test_backward_propagation_with_dropout_graded():
    # the graded cache, as printed in public_tests.py: hand-built (its A1 is the
    # forward pass's at keep_prob 0.5, the test's keep_prob is 0.8)
    np.random.seed(1)
    X = np.random.randn(3, 5)
    p = _params()
    cache = (
        np.array([[-1.52855314, 3.32524635, 2.13994541, 2.60700654, -0.75942115],
                  [-1.98043538, 4.1600994, 0.79051021, 1.46493512, -0.45506242]]),
        np.array([[True, False, True, True, True], [True, True, True, True, False]]),
        np.array([[0., 0., 4.27989081, 5.21401307, 0.], [0., 8.32019881, 1.58102041,
                                                          2.92987024, 0.]]),
        p["W1"], p["b1"],
        np.array([[0.53035547, 8.02565606, 4.10524802, 5.78975856, 0.53035547],
                  [-0.69166075, -1.71413186, -3.81223329, -4.61667916, -0.69166075],
                  [-0.39675353, -2.62563561, -4.82528105, -6.0607449, -0.39675353]]),
        np.array([[True, False, True, False, True], [False, True, False, True, True],
                  [False, False, True, False, False]]),
        np.array([[1.06071093, 0., 8.21049603, 0., 1.06071093], [0.] * 5, [0.] * 5]),
        p["W2"], p["b2"],
        np.array([[-0.7415562, -0.0126646, -5.65469333, -0.0126646, -0.7415562]]),
        np.array([[0.32266394, 0.49683389, 0.00348883, 0.49683389, 0.32266394]]),
        p["W3"], p["b3"])
    np.testing.assert_allclose(p["W1"][0], [-1.09989127, -0.17242821, -0.87785842], rtol=1e-7)
    Y = np.array([[1, 1, 0, 1, 0]])
    grads = C.backward_propagation_with_dropout(X, Y, cache, 0.8)
    expected = {
        "dZ3": [[-0.67733606, -0.50316611, 0.00348883, -0.50316611, 0.32266394]],
        "dW3": [[-0.06951191, 0., 0.]],
        "db3": [[-0.2715031]],
        "dA2": [[0.58180856, 0., -0.00299679, 0., -0.27715731],
                [0., 0.53159854, -0., 0.53159854, -0.34089673],
                [0., 0., -0.00292733, 0., -0.]],
        "dZ2": [[0.58180856, 0., -0.00299679, 0., -0.27715731], [0.] * 5, [0.] * 5],
        "dW2": [[-0.00256518, -0.0009476], [0., 0.], [0., 0.]],
        "db2": [[0.06033089], [0.], [0.]],
        "dA1": [[0.36544439, 0., -0.00188233, 0., -0.17408748],
                [0.65515713, 0., -0.00337459, 0., -0.]],
        "dW1": [[0.00019884, 0.00028657, 0.00012138], [0.00035647, 0.00051375, 0.00021761]],
        "db1": [[-0.00037647], [-0.00067492]]}
    for key, value in expected.items():
        np.testing.assert_allclose(grads[key], value, rtol=1e-5, atol=1e-8, err_msg=key)
    ref = R.c2_backward(X, Y, cache, keep_prob=0.8)
    for key in ref:
        assert_close(grads[key], ref[key])


def test_plain_helpers_match_reference(capsys):
    np.random.seed(4)
    X, Y = np.random.randn(2, 9), np.random.rand(1, 9) > 0.5
    p = C.initialize_parameters([2, 5, 3, 1])
    ref_p = R.c2_init([2, 5, 3, 1], lambda n: 1 / np.sqrt(n), 3)
    for key in ref_p:
        assert_close(p[key], ref_p[key])   # W / sqrt(n) there, W * (1 / sqrt(n)) here
    a3, cache = C.forward_propagation(X, p)
    grads = C.backward_propagation(X, Y, cache)
    ref = R.c2_backward(X, Y.astype(float), R.c2_forward(X, p)[1])
    for key in ref:
        assert_close(grads[key], ref[key])
    assert C.compute_cost(a3, Y) == pytest.approx(
        np.nansum(R.c2_logprobs(a3, Y.astype(float))) / 9, rel=1e-13)
    updated = C.update_parameters(p, grads, 0.3)
    for key in p:
        assert_close(updated[key], p[key] - 0.3 * grads["d" + key])
    pred = C.predict(X, Y, p)
    assert capsys.readouterr().out == f"Accuracy: {np.mean(pred[0] == Y[0])}\n"
    np.testing.assert_array_equal(C.predict_dec(p, X), a3 > 0.5)


@pytest.mark.parametrize("kw", [{}, {"lambd": 0.7}, {"keep_prob": 0.86}])
def test_model_matches_reference(kw):
    np.random.seed(5)
    X, Y = np.random.randn(2, 40), (np.random.rand(1, 40) > 0.5).astype(int)
    got = C.model(X, Y, num_iterations=1001, print_cost=False, **kw)
    ref, _ = R.c2_reg_model(X, Y, 0.3, 1001, **kw)
    for key in ref:
        assert_close(got[key], ref[key], rtol=1e-9)


# The notebook's printed traces (iterations 0, 10000, 20000) and accuracies (train, test)
NOTEBOOK = [
    ({}, [0.6557412523481002, 0.16329987525724204, 0.13851642423234922],
     "0.9478672985781991", "0.915"),
    ({"lambd": 0.7}, [0.6974484493131264, 0.2684918873282239, 0.2680916337127301],
     "0.9383886255924171", "0.93"),
    ({"keep_prob": 0.86}, [0.6543912405149825, 0.0610169865749056, 0.060582435798513114],
     "0.9289099526066351", "0.95")]


@pytest.mark.parametrize("kw, trace, train, test", NOTEBOOK)
def test_notebook_models(kw, trace, train, test, capsys):
    path = DATA / "regularization" / "data.mat"
    if not path.is_file():
        pytest.skip(f"the course's data is not at {path}")
    train_X, train_Y, test_X, test_Y = C.load_2D_dataset(path)
    assert train_X.shape == (2, 211) and test_X.shape == (2, 200)
    p = C.model(train_X, train_Y, **kw)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for i, (line, cost) in enumerate(zip(lines, trace)):
        head, value = line.split(": ")
        assert head == f"Cost after iteration {10000 * i}"
        # copies of the notebook differ from the 12th digit on (their BLAS's rounding)
        assert float(value) == pytest.approx(cost, rel=1e-9)
    C.predict(train_X, train_Y, p)
    C.predict(test_X, test_Y, p)
    assert capsys.readouterr().out == f"Accuracy: {train}\nAccuracy: {test}\n"


def test_bad_input():
    np.random.seed(1)
    X, p = np.random.randn(3, 5), _params()
    Y = np.array([[1, 1, 0, 1, 0]])
    with pytest.raises(ValueError, match="keep_prob: expected a number > 0"):
        C.forward_propagation_with_dropout(X, p, 0)
    with pytest.raises(ValueError, match="keep_prob: expected a number <= 1"):
        C.forward_propagation_with_dropout(X, p, 1.5)
    with pytest.raises(ValueError, match="lambd: expected a number >= 0"):
        C.compute_cost_with_regularization(np.full((1, 5), 0.5), Y, p, -1)
    with pytest.raises(TypeError, match="cache: expected the tuple of 14 arrays"):
        C.backward_propagation_with_dropout(X, Y, C.forward_propagation(X, p)[1], 0.8)
    with pytest.raises(ValueError, match="cache A2: expected shape"):
        cache = list(C.forward_propagation(X, p)[1])
        cache[5] = np.ones((2, 5))
        C.backward_propagation_with_regularization(X, Y, tuple(cache), 0.7)
    with pytest.raises(ValueError, match="one at a time"):
        C.model(X, Y, lambd=0.7, keep_prob=0.8)
    with pytest.raises(ValueError, match="A3: expected shape \\(1, m\\)"):
        C.compute_cost_with_regularization(np.full((2, 5), 0.5), Y, p, 0.1)


@pytest.mark.parametrize("kw", [{"lambd": 0.7}, {"keep_prob": 0.86}])
def test_float32_is_kept(kw):
    np.random.seed(5)
    X, Y = np.random.randn(2, 40).astype(np.float32), np.random.rand(1, 40) > 0.5
    p = C.model(X, Y, num_iterations=201, print_cost=False, **kw)
    ref = C.model(X.astype(np.float64), Y, num_iterations=201, print_cost=False, **kw)
    for key in ref:
        assert p[key].dtype == np.float32
        assert_close(p[key], ref[key], np.float32, rtol=1e-4)
    A3, cache = C.forward_propagation_with_dropout(X, p, 0.8)
    grads = C.backward_propagation_with_dropout(X, Y, cache, 0.8)
    assert A3.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
