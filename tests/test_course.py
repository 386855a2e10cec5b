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


# The application notebook's graded tests (public_tests.py): two_layer_model on
# real-valued labels (Y = np.random.randn(1, 10)) and L_layer_model on 0/1 labels,
# two iterations at lr 0.0075 and then three at another rate. Published to 8 digits.
GRADED_TWO_LAYER = {
    (0.0075, 2): {
        "W1": [[0.01624965, -0.00610741, -0.00528734, -0.01072836, 0.008664,
                -0.02301103, 0.01745639, -0.00760949, 0.0031934, -0.00248971],
               [0.01462848, -0.02057904, -0.00326745, -0.00383625, 0.01138176,
                -0.01097596, -0.00171974, -0.00877601, 0.00043022, 0.00584423],
               [-0.01098272, 0.01148209, 0.00902102, 0.00500958, 0.00900571,
                -0.00683188, -0.00123491, -0.00937164, -0.00267157, 0.00532808],
               [-0.00693465, -0.00400047, -0.00684685, -0.00844447, -0.00670397,
                -0.00014731, -0.01113977, 0.00238846, 0.0165895, 0.00738212]],
        "b1": [[1.10437111e-05], [1.78437869e-05], [3.74879549e-05], [-4.42988824e-05]],
        "W2": [[-0.00200283, -0.00888593, -0.00751122, 0.01688162]],
        "b2": [[-0.00689018]]},
    (0.1, 3): {
        "W1": [[0.01640028, -0.00585699, -0.00542633, -0.01069332, 0.0089055,
                -0.02290418, 0.01765388, -0.00754616, 0.00326712, -0.00239159],
               [0.01476737, -0.02014461, -0.0040947, -0.0037457, 0.01221714,
                -0.01054049, -0.00164111, -0.00872507, 0.00058592, 0.00615077],
               [-0.01051621, 0.01216499, 0.009119, 0.0047126, 0.00894761,
                -0.00672568, -0.00134921, -0.0096428, -0.00253223, 0.00580758],
               [-0.00728552, -0.00461461, -0.00638113, -0.00831084, -0.00654136,
                -0.00053186, -0.01052771, 0.00320719, 0.01643914, 0.00667123]],
        "b1": [[0.00027478], [0.00034477], [0.00076016], [-0.00084497]],
        "W2": [[-0.00358725, -0.00911995, -0.00831979, 0.01615845]],
        "b2": [[-0.13451354]]}}
GRADED_L_LAYER = {
    (0.0075, 2): {
        "b1": [[-2.16491028e-04], [1.50999130e-04], [8.71516045e-06], [5.57557615e-05],
               [-2.90746349e-05]],
        "b2": [[1.80215514e-07], [-1.07935097e-04], [1.63081605e-04], [-3.51202008e-05],
               [-7.40012619e-05], [-4.43814901e-05]],
        "W3": [[-0.09079199, -0.08117381, 0.07667568, 0.16665535, 0.08029575, 0.04805811]],
        "b3": [[0.0013201]]},
    (0.02, 3): {
        "b1": [[-8.61228305e-04], [6.08187689e-04], [3.53075377e-05], [2.21291877e-04],
               [-1.13591429e-04]],
        "b2": [[1.18811550e-06], [-4.25510194e-04], [6.56178455e-04], [-1.42335482e-04],
               [-2.93618626e-04], [-1.75573157e-04]],
        "W3": [[-0.09087434, -0.07882982, 0.07821609, 0.16442826, 0.0783229, 0.04648216]],
        "b3": [[0.00525865]]}}


def _graded_data(labels):
    np.random.seed(1)
    X = np.random.randn(10, 10)
    Y = np.random.randn(1, 10) if labels == "real" else np.array([[1, 1, 1, 1, 0, 0, 0, 1, 1, 0]])
    return X, Y


@pytest.mark.parametrize("model, reference, dims, labels, graded, first_cost", [
    (C.two_layer_model, R.two_layer_model, (10, 4, 1), "real", GRADED_TWO_LAYER, 0.69315968),
    (C.L_layer_model, R.L_layer_model, (10, 5, 6, 1), "binary", GRADED_L_LAYER, 0.70723944)])
def test_application_notebook_graded_tests(model, reference, dims, labels, graded, first_cost,
                                           capsys):
    X, Y = _graded_data(labels)
    for (learning_rate, num_iterations), expected in graded.items():
        # the graded test passes them by position, print_cost left at False
        parameters, costs = model(X, Y, dims, learning_rate, num_iterations)
        assert sorted(parameters) == sorted(f"{k}{l}" for l in range(1, len(dims))
                                            for k in "Wb")
        for key, value in expected.items():
            np.testing.assert_allclose(parameters[key], value, rtol=1e-6, atol=1e-8,
                                       err_msg=key)
        assert len(costs) == 1 and isinstance(costs[0], np.ndarray) and costs[0].shape == ()
        np.testing.assert_allclose(costs[0], first_cost, rtol=1e-7)
        # and to the last bit of the course's equations (the NumPy reference)
        ref_parameters, ref_costs = reference(X, Y, dims, learning_rate, num_iterations)
        for key in ref_parameters:
            assert_close(parameters[key], ref_parameters[key])
        assert_close(np.asarray(costs, dtype=float), np.asarray(ref_costs, dtype=float))
        # the course's print condition shows the last iteration even without print_cost
        printed = capsys.readouterr().out.splitlines()
        assert len(printed) == 1
        assert printed[0].startswith(f"Cost after iteration {num_iterations - 1}: 0.")
