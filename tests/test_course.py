"""dnn.course gives the course's numbers: against the reference, hand-built caches,
and the application notebook's published cost traces."""
import numpy as np
import pytest

from dnn import course as C

from helpers import REFERENCE as R, assert_close, catvnoncat, check_update_is_a_copy


def test_initializers_draw_the_course_numbers():
    for ours, theirs, args in [
            (C.initialize_parameters, R.initialize_parameters, (3, 2, 1)),
            (C.initialize_parameters_deep, R.initialize_parameters_deep, ([5, 4, 3],)),
            (C.initialize_parameters_deep_application,
             R.initialize_parameters_deep_application, ([5, 4, 3, 1],))]:
        got, expected = ours(*args), theirs(*args)
        assert list(got) == list(expected)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key])
    # the step-by-step notebook's printed W1 for [5, 4, 3] starts 0.01788628 0.0043651
    W1 = C.initialize_parameters_deep([5, 4, 3])["W1"]
    np.testing.assert_allclose(W1[0, :2], [0.01788628, 0.0043651], rtol=1e-6)


def test_course_test_cases_built_by_hand():
    # linear_forward_test_case of the step-by-step notebook
    np.random.seed(1)
    A, W, b = np.random.randn(3, 2), np.random.randn(1, 3), np.random.randn(1, 1)
    Z, cache = C.linear_forward(A, W, b)
    np.testing.assert_allclose(Z, [[3.26295337, -1.23429987]], rtol=1e-8)
    assert_close(Z, W @ A + b)

    # compute_cost_test_case: Y = [1, 1, 0], AL = [.8, .9, .4]
    cost = C.compute_cost(np.array([[0.8, 0.9, 0.4]]), np.array([[1, 1, 0]]))
    assert isinstance(cost, np.ndarray) and cost.shape == ()
    assert cost == pytest.approx(-(np.log(0.8) + np.log(0.9) + np.log(0.6)) / 3, rel=1e-15)

    # L_model_backward_test_case: AL and caches are random, unrelated arrays
    np.random.seed(3)
    AL, Y = np.random.randn(1, 2), np.array([[1, 0]])
    A1, W1, b1, Z1 = (np.random.randn(4, 2), np.random.randn(3, 4), np.random.randn(3, 1),
                      np.random.randn(3, 2))
    A2, W2, b2, Z2 = (np.random.randn(3, 2), np.random.randn(1, 3), np.random.randn(1, 1),
                      np.random.randn(1, 2))
    caches = (((A1, W1, b1), Z1), ((A2, W2, b2), Z2))
    grads = C.L_model_backward(AL, Y, caches)
    expected = R.L_model_backward(AL, Y, caches)
    assert set(grads) == {"dA0", "dA1", "dW1", "db1", "dW2", "db2"} == set(expected)
    for key in expected:
        assert_close(grads[key], expected[key])
    # the notebook's printed dW1 row 0
    np.testing.assert_allclose(grads["dW1"][0], [0.41010002, 0.07807203, 0.13798444, 0.10502167],
                               rtol=1e-7)

    # linear_activation_backward on a hand-built cache, both activations
    np.random.seed(2)
    dA = np.random.randn(1, 2)
    cache = ((np.random.randn(3, 2), np.random.randn(1, 3), np.random.randn(1, 1)),
             np.random.randn(1, 2))
    for activation in ("sigmoid", "relu"):
        for got, want in zip(C.linear_activation_backward(dA, cache, activation),
                             R.linear_activation_backward(dA, cache, activation)):
            assert_close(got, want)


def test_relu_derivative_is_zero_at_zero():
    cache = ((np.ones((1, 3)), np.ones((1, 1)), np.zeros((1, 1))), np.array([[-1.0, 0.0, 2.0]]))
    dA_prev, dW, db = C.linear_activation_backward(np.ones((1, 3)), cache, "relu")
    np.testing.assert_array_equal(dA_prev, [[0.0, 0.0, 1.0]])


def test_update_parameters_leaves_inputs_alone():
    check_update_is_a_copy(C.update_parameters, C.initialize_parameters(3, 2, 1), 0.1)


def test_predict_prints_accuracy(capsys):
    np.random.seed(0)
    X, params = np.random.randn(3, 10), C.initialize_parameters_deep_application([3, 4, 1])
    y = (np.random.rand(1, 10) < 0.5).astype(int)
    p = C.predict(X, y, params)
    expected, accuracy = R.predict(X, y, params)
    np.testing.assert_array_equal(p, expected)
    assert capsys.readouterr().out == f"Accuracy: {accuracy}\n"


def test_models_match_reference_on_planar_data():
    X, Y = R.load_planar_dataset()
    for ours, theirs, dims in [(C.two_layer_model, R.two_layer_model, (2, 5, 1)),
                               (C.L_layer_model, R.L_layer_model, [2, 6, 4, 1])]:
        params, costs = ours(X, Y, dims, learning_rate=0.3, num_iterations=301)
        ref_params, ref_costs = theirs(X, Y, dims, learning_rate=0.3, num_iterations=301)
        assert len(costs) == len(ref_costs) == 4
        assert_close(np.array(costs, dtype=float), np.array(ref_costs, dtype=float))
        for key in ref_params:
            assert_close(params[key], ref_params[key], rtol=1e-10)


# The application notebook's published traces (cost every 100 iterations of 2500)
TWO_LAYER_TRACE = [
    0.6930497356599888, 0.6464320953428849, 0.6325140647912677, 0.6015024920354665,
    0.5601966311605747, 0.5158304772764729, 0.4754901313943325, 0.43391631512257495,
    0.4007977536203886, 0.3580705011323798, 0.3394281538366413, 0.30527536361962654,
    0.2749137728213015, 0.2468176821061484, 0.19850735037466102, 0.17448318112556638,
    0.1708076297809692, 0.11306524562164715, 0.09629426845937156, 0.0834261795972687,
    0.07439078704319085, 0.06630748132267933, 0.05919329501038172, 0.053361403485605606,
    0.04855478562877019]
L_LAYER_TRACE = [
    0.771749, 0.672053, 0.648263, 0.611507, 0.567047, 0.540138, 0.527930, 0.465477,
    0.369126, 0.391747, 0.315187, 0.272700, 0.237419, 0.199601, 0.189263, 0.161189,
    0.148214, 0.137775, 0.129740, 0.121225, 0.113821, 0.107839, 0.102855, 0.100897,
    0.092878]


@pytest.mark.parametrize("model, dims, trace, train_accuracy, test_accuracy", [
    (C.two_layer_model, (12288, 7, 1), TWO_LAYER_TRACE, 1.0, 0.72),
    (C.L_layer_model, [12288, 20, 7, 5, 1], L_LAYER_TRACE, 0.985645933014, 0.8)])
def test_application_notebook_results(model, dims, trace, train_accuracy, test_accuracy,
                                      capsys):
    train_x, train_y, test_x, test_y = catvnoncat()
    params, costs = model(train_x, train_y, dims, num_iterations=2500, print_cost=True)
    np.testing.assert_allclose(np.array(costs, dtype=float), trace, rtol=1e-6, atol=1e-6)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("Cost after iteration 0: 0.")
    assert printed[-1].startswith("Cost after iteration 2499: ")
    p_train = C.predict(train_x, train_y, params)
    p_test = C.predict(test_x, test_y, params)
    assert np.mean(p_train == train_y) == pytest.approx(train_accuracy, abs=1e-9)
    assert np.mean(p_test == test_y) == pytest.approx(test_accuracy, abs=1e-9)
