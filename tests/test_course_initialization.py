"""dnn.course.initialization (course 2 week 1) gives the course's numbers.

Expected values: the graded tests of the "Initialization" notebook (its
public_tests.py: initialize_parameters_zeros_test, initialize_parameters_random_test,
initialize_parameters_he_test) and the notebook's printed outputs (the He model's
cost trace and accuracies, as in the published copies of the notebook, e.g.
github.com/manmartgarc/deep-learning-coursera 02-improving-deep-neural-networks/week-01/
Initialization.ipynb); beside them, equality with the plain NumPy rendering
(benchmarks/numpy_reference_course.py).
"""
import numpy as np
import pytest

from dnn.course import initialization as C

from helpers import COURSE_REFERENCE as R, assert_close


def test_initializers_graded():
    zeros = C.initialize_parameters_zeros([3, 2, 1])
    assert list(zeros) == ["W1", "b1", "W2", "b2"]
    for key, shape in [("W1", (2, 3)), ("b1", (2, 1)), ("W2", (1, 2)), ("b2", (1, 1))]:
        assert zeros[key].shape == shape and zeros[key].dtype == np.float64
        assert not zeros[key].any()
    random = C.initialize_parameters_random([3, 2, 1])
    np.testing.assert_allclose(random["W1"], [[17.88628473, 4.36509851, 0.96497468],
                                              [-18.63492703, -2.77388203, -3.54758979]],
                               rtol=1e-8)
    np.testing.assert_allclose(random["W2"], [[-0.82741481, -6.27000677]], rtol=1e-8)
    he = C.initialize_parameters_he([3, 1, 2])
    np.testing.assert_allclose(he["W1"], [[1.46040903, 0.3564088, 0.07878985]], rtol=1e-7)
    np.testing.assert_allclose(he["W2"], [[-2.63537665], [-0.39228616]], rtol=1e-8)
    assert he["b1"].shape == (1, 1) and he["b2"].shape == (2, 1)
    # the notebook's printed He W1 for [2, 4, 1]
    np.testing.assert_allclose(C.initialize_parameters_he([2, 4, 1])["W2"],
                               [[-0.03098412, -0.33744411, -0.92904268, 0.62552248]], atol=1e-8)
    for ours, scale in [(C.initialize_parameters_random, lambda n: 10),
                        (C.initialize_parameters_he, lambda n: np.sqrt(2 / n))]:
        got, ref = ours([4, 6, 3, 1]), R.c2_init([4, 6, 3, 1], scale, 3)
        for key in ref:
            np.testing.assert_array_equal(got[key], ref[key])


def _case():
    np.random.seed(1)
    X, Y = np.random.randn(3, 7), (np.random.randn(1, 7) > 0).astype(int)
    p = {"W1": np.random.randn(4, 3), "b1": np.random.randn(4, 1),
         "W2": np.random.randn(2, 4), "b2": np.random.randn(2, 1),
         "W3": np.random.randn(1, 2), "b3": np.random.randn(1, 1)}
    return X, Y, p


def test_forward_backward_loss_match_reference():
    X, Y, p = _case()
    a3, cache = C.forward_propagation(X, p)
    ref_a3, ref_cache = R.c2_forward(X, p)
    assert len(cache) == 12
    for got, want in zip(cache, ref_cache):
        assert_close(got, want)
    grads = C.backward_propagation(X, Y, cache)
    ref = R.c2_backward(X, Y, ref_cache)
    assert list(grads) == ["dz3", "dW3", "db3", "da2", "dz2", "dW2", "db2", "da1", "dz1",
                           "dW1", "db1"]
    for key in ref:   # init_utils' dz3 = (a3 - Y) / m: its dz and da carry the 1/m
        want = ref[key] / 7 if key[1] in "ZA" else ref[key]
        assert_close(grads[key if key[1] in "Wb" else key.lower()], want)
    loss = C.compute_loss(a3, Y)
    assert isinstance(loss, np.float64)
    assert loss == pytest.approx(np.nansum(R.c2_logprobs(ref_a3, Y)) / 7, rel=1e-13)
    updated = C.update_parameters(p, grads, 0.1)
    for key in p:
        assert_close(updated[key], p[key] - 0.1 * grads["d" + key])


def test_backward_propagation_on_hand_built_cache():
    # a cache whose a's are not relu(z): the derivative reads a > 0, as the course's
    X, Y, p = _case()
    np.random.seed(2)
    cache = list(C.forward_propagation(X, p)[1])
    cache[1] = np.abs(np.random.randn(4, 7)) * (np.random.rand(4, 7) > 0.3)
    cache[9] = np.random.rand(1, 7)
    grads = C.backward_propagation(X, Y, tuple(cache))
    ref = R.c2_backward(X, Y, tuple(cache))
    for key in ref:
        want = ref[key] / 7 if key[1] in "ZA" else ref[key]
        assert_close(grads[key if key[1] in "Wb" else key.lower()], want)


def test_random_model_accuracy(capsys):
    # randn * 10: the trace is chaotic (the course's own NumPy code on another BLAS moves
    # in the 4th digit from iteration 1000 on), the first cost is inf and the notebook's
    # accuracies hold
    pytest.importorskip("sklearn")
    train_X, train_Y, test_X, test_Y = C.load_dataset()
    with np.errstate(all="ignore"):
        p = C.model(train_X, train_Y, initialization="random")
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "Cost after iteration 0: inf" and len(lines) == 15
        assert float(lines[-1].split(": ")[1]) == pytest.approx(0.38276694641706693, rel=1e-2)
        C.predict(train_X, train_Y, p)
        C.predict(test_X, test_Y, p)
    assert capsys.readouterr().out == "Accuracy: 0.83\nAccuracy: 0.86\n"


def test_loss_skips_nan_terms_as_nansum():
    # a3 = 1 with y = 1: the course's nansum skips 0 * inf
    assert C.compute_loss(np.array([[1.0, 0.5]]), np.array([[1, 0]])) == \
        pytest.approx(-np.log(0.5) / 2, rel=1e-15)


def test_predict_prints_accuracy(capsys):
    X, Y, p = _case()
    pred = C.predict(X, Y, p)
    a3 = R.c2_forward(X, p)[0]
    np.testing.assert_array_equal(pred, (a3 > 0.5).astype(int))
    assert pred.dtype.kind == "i"
    assert capsys.readouterr().out == f"Accuracy: {np.mean(pred[0] == Y[0])}\n"
    np.testing.assert_array_equal(C.predict_dec(p, X), a3 > 0.5)


def test_model_matches_reference():
    X, Y, p = _case()
    got = C.model(X, Y, learning_rate=0.05, num_iterations=2001, print_cost=False)
    ref, _ = R.c2_init_model(X, Y, 0.05, 2001, lambda n: np.sqrt(2 / n))
    for key in ref:
        assert_close(got[key], ref[key], rtol=1e-10)


HE_TRACE = [0.8830537463419761, 0.6879825919728063, 0.6751286264523371, 0.6526117768893807,
            0.6082958970572938, 0.5304944491717495, 0.4138645817071794, 0.3117803464844441,
            0.23696215330322562, 0.18597287209206836, 0.15015556280371808,
            0.12325079292273551, 0.09917746546525937, 0.08457055954024283,
            0.07357895962677366]


def test_he_model_on_the_circles(capsys):
    pytest.importorskip("sklearn")
    train_X, train_Y, test_X, test_Y = C.load_dataset()
    assert train_X.shape == (2, 300) and test_Y.shape == (1, 100)
    p = C.model(train_X, train_Y, initialization="he")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 15
    for i, (line, cost) in enumerate(zip(lines, HE_TRACE)):
        head, value = line.split(": ")
        assert head == f"Cost after iteration {1000 * i}"
        assert float(value) == pytest.approx(cost, rel=1e-12)
    C.predict(train_X, train_Y, p)
    C.predict(test_X, test_Y, p)
    assert capsys.readouterr().out == "Accuracy: 0.9933333333333333\nAccuracy: 0.96\n"


def test_zeros_model_does_not_learn(capsys):
    X, Y, _ = _case()
    C.model(X, Y, num_iterations=1001, initialization="zeros")
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["Cost after iteration 0: 0.6931471805599453",
                     "Cost after iteration 1000: " + lines[1].split(": ")[1]]


def test_bad_input():
    X, Y, p = _case()
    with pytest.raises(ValueError, match="initialization: expected one of"):
        C.model(X, Y, initialization="xavier")
    with pytest.raises(ValueError, match=r"layers_dims\[1\]"):
        C.initialize_parameters_he([3, 0, 1])
    with pytest.raises(ValueError, match="X: expected 3 rows"):
        C.forward_propagation(np.ones((2, 5)), p)
    with pytest.raises(ValueError, match="parameters: expected 3 layers"):
        C.forward_propagation(X, {"W1": p["W1"], "b1": p["b1"]})
    with pytest.raises(TypeError, match="cache: expected the tuple of 12 arrays"):
        C.backward_propagation(X, Y, ("z1", "a1"))
    with pytest.raises(ValueError, match="Y: expected shape"):
        C.backward_propagation(X, np.ones((1, 5)), C.forward_propagation(X, p)[1])
    with pytest.raises(ValueError, match="a3: expected finite values"):
        C.compute_loss(np.array([[np.nan, 0.5]]), np.array([[1, 0]]))
    with pytest.raises(TypeError, match="print_cost"):
        C.model(X, Y, print_cost="yes")


def test_course_2_submodules_export_their_names():
    import dnn.course
    for name in ("initialization", "regularization", "gradient_checking", "optimization"):
        module = getattr(dnn.course, name)
        namespace = {}
        exec(f"from dnn.course.{name} import *", namespace)
        assert set(module.__all__) <= set(namespace)
        assert all(callable(namespace[key]) for key in module.__all__)
