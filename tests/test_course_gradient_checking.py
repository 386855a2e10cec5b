"""dnn.course.gradient_checking (course 2 week 1) gives the course's numbers.

Expected values: the graded tests of the "Gradient Checking" notebook (its
public_tests.py: forward_propagation_test, backward_propagation_test,
gradient_check_test, gradient_check_n_test on testCases.py's gradient_check_n_test_case)
and its printed messages (as in the notebook copy at github.com/manmartgarc/deep-learning-coursera
02-improving-deep-neural-networks/week-01/Gradient_Checking.ipynb); beside them, the plain NumPy
rendering
(benchmarks/numpy_reference_course.py).
"""
import numpy as np
import pytest

from dnn.course import gradient_checking as C

from helpers import COURSE_REFERENCE as R, assert_close

SHAPES = [("W1", (5, 4)), ("b1", (5, 1)), ("W2", (3, 5)), ("b2", (3, 1)), ("W3", (1, 3)),
          ("b3", (1, 1))]


def gradient_check_n_test_case():
    np.random.seed(1)
    x, y = np.random.randn(4, 3), np.array([1, 1, 0])      # y 1-D, as the course's
    return x, y, {key: np.random.randn(*shape) for key, shape in SHAPES}


def test_one_dimensional_graded(capsys):
    assert C.forward_propagation(2, 4) == 8
    assert C.backward_propagation(2, 4) == 2
    difference = C.gradient_check(2, 4)
    assert difference == pytest.approx(2.919335883291695e-10, rel=1e-6)
    assert capsys.readouterr().out == ""
    C.gradient_check(2, 4, print_msg=True)
    assert capsys.readouterr().out == ("\033[92mYour backward propagation works perfectly fine! "
                                       f"difference = {difference}\033[0m\n")
    # the notebook's own cell: x, theta = 3, 4
    C.gradient_check(3, 4, print_msg=True)
    assert capsys.readouterr().out == ("\033[92mYour backward propagation works perfectly fine! "
                                       "difference = 7.814075313343006e-11\033[0m\n")


def test_gradient_check_n_graded(capsys):
    X, Y, parameters = gradient_check_n_test_case()
    cost, cache = C.forward_propagation_n(X, Y, parameters)
    ref_cost, ref_cache = R.c2_gc_cost(X, Y.reshape(1, -1), parameters)
    assert cost == pytest.approx(ref_cost, rel=1e-13)
    for got, want in zip(cache, ref_cache):
        assert_close(got, want)
    gradients = C.backward_propagation_n(X, Y, cache)
    ref = R.c2_backward(X, Y.reshape(1, -1), ref_cache)
    assert list(gradients) == list(ref)
    for key in ref:
        assert_close(gradients[key], ref[key])
    # the correct backward pass: the graded 1.1890913024229996e-07 (a rounding-noise
    # value, reproduced to the last digit by the kernels)
    difference = C.gradient_check_n(parameters, gradients, X, Y, print_msg=True)
    assert not isinstance(difference, np.ndarray)      # the notebook's own assertion
    assert difference == pytest.approx(1.1890913024229996e-07, rel=1e-6)
    assert difference == pytest.approx(R.c2_gradient_check_n(parameters, gradients, X,
                                                             Y.reshape(1, -1)), abs=1e-9)
    assert capsys.readouterr().out == ("\033[92mYour backward propagation works perfectly fine! "
                                       f"difference = {difference}\033[0m\n")
    # the notebook's buggy backward pass (dW2 twice, db1 four times too large): 0.2850931567761623
    buggy = dict(gradients, dW2=2 * gradients["dW2"], db1=4 * gradients["db1"])
    difference = C.gradient_check_n(parameters, buggy, X, Y, print_msg=True)
    assert difference == pytest.approx(0.2850931567761623, rel=1e-9)
    assert capsys.readouterr().out == ("\033[93mThere is a mistake in the backward propagation! "
                                       f"difference = {difference}\033[0m\n")


def test_gc_utils_round_trip():
    _, _, parameters = gradient_check_n_test_case()
    theta, keys = C.dictionary_to_vector(parameters)
    assert theta.shape == (47, 1)
    assert keys[:21] == ["W1"] * 20 + ["b1"] and keys[-1] == "b3" and len(keys) == 47
    back = C.vector_to_dictionary(theta)
    assert list(back) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for key in parameters:
        np.testing.assert_array_equal(back[key], parameters[key])
    grads = {"d" + key: value for key, value in parameters.items()}
    np.testing.assert_array_equal(C.gradients_to_vector(grads), theta)
    np.testing.assert_array_equal(C.relu(np.array([-1.0, 2.0])), [0.0, 2.0])
    assert C.sigmoid(0.0) == 0.5


def test_gradient_check_n_other_sizes():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(3, 6)), rng.random((1, 6))       # course mode: real labels
    p = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=(4, 1)),
         "W2": rng.normal(size=(2, 4)), "b2": rng.normal(size=(2, 1)),
         "W3": rng.normal(size=(1, 2)), "b3": rng.normal(size=(1, 1))}
    grads = C.backward_propagation_n(X, Y, C.forward_propagation_n(X, Y, p)[1])
    assert C.gradient_check_n(p, grads, X, Y) < 2e-7


def test_bad_input():
    X, Y, p = gradient_check_n_test_case()
    with pytest.raises(TypeError, match="x: expected a real number"):
        C.gradient_check("2", 4)
    with pytest.raises(ValueError, match="epsilon: expected a number > 0"):
        C.gradient_check(2, 4, epsilon=0)
    with pytest.raises(ValueError, match="Y: expected shape"):
        C.forward_propagation_n(X, np.array([1, 0]), p)
    with pytest.raises(ValueError, match="gradients: missing 'db1'"):
        C.gradient_check_n(p, {"dW1": p["W1"]}, X, Y)
    with pytest.raises(ValueError, match=r"theta: expected a column of 47 entries"):
        C.vector_to_dictionary(np.zeros((46, 1)))
    with pytest.raises(TypeError, match="cache: expected the tuple of 12 arrays"):
        C.backward_propagation_n(X, Y, {"A3": 1})
