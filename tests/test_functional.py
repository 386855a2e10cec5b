"""dnn.functional against the NumPy reference: values, layouts, dtypes."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import dnn
from dnn import functional as F

from helpers import REFERENCE as R, assert_close, check_update_is_a_copy

DTYPES = [np.float32, np.float64]
HIDDEN = ["relu", "sigmoid", "tanh", "leaky_relu", "identity"]
OUTPUT_LOSS = [("sigmoid", "binary_crossentropy"), ("softmax", "categorical_crossentropy"),
               ("identity", "mse"), ("tanh", "mse"), ("sigmoid", "mse")]


def network(rng, dims, dtype):
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = (rng.standard_normal((dims[l], dims[l - 1]))
                           / np.sqrt(dims[l - 1])).astype(dtype)
        params[f"b{l}"] = (rng.standard_normal((dims[l], 1)) * 0.1).astype(dtype)
    return params


def targets(rng, loss, shape, dtype):
    if loss == "binary_crossentropy":
        return (rng.random(shape) < 0.5).astype(dtype)
    if loss == "categorical_crossentropy":
        return np.ascontiguousarray(np.eye(shape[0], dtype=dtype)[:, rng.integers(0, shape[0],
                                                                                  shape[1])])
    return rng.standard_normal(shape).astype(dtype)


@given(dims=st.lists(st.integers(1, 8), min_size=2, max_size=5), m=st.integers(1, 25),
       hidden=st.sampled_from(HIDDEN), output_loss=st.sampled_from(OUTPUT_LOSS),
       dtype=st.sampled_from(DTYPES), order=st.sampled_from("CF"), seed=st.integers(0, 2**16))
def test_step_matches_reference(dims, m, hidden, output_loss, dtype, order, seed):
    output, loss = output_loss
    if output == "softmax" and dims[-1] == 1:
        dims[-1] = 2
    rng = np.random.default_rng(seed)
    params = network(rng, dims, dtype)
    X = np.asarray(rng.standard_normal((dims[0], m)).astype(dtype), order=order)
    Y = targets(rng, loss, (dims[-1], m), dtype)

    AL, caches = F.forward(X, params, hidden, output)
    ref_AL, ref_caches = R.L_model_forward(X, params, hidden, output)
    assert AL.dtype == dtype and len(caches) == len(ref_caches)
    assert_close(AL, ref_AL, dtype)
    for (lin, Z), (ref_lin, ref_Z) in zip(caches, ref_caches):
        assert_close(Z, ref_Z, dtype)
        assert_close(lin[0], ref_lin[0], dtype)

    cost = F.compute_cost(AL, Y, loss)
    assert cost.dtype == dtype
    assert_close(cost, R.compute_cost(ref_AL.astype(np.float64), Y.astype(np.float64), loss),
                 dtype, rtol=1e-4 if dtype == np.float32 else None)

    grads = F.backward(AL, Y, caches, hidden, output, loss, input_gradient=True)
    ref_grads = R.L_model_backward(ref_AL, Y, ref_caches, hidden, output, loss)
    assert set(grads) == set(ref_grads)
    for key in grads:
        assert grads[key].dtype == dtype
        assert_close(grads[key], ref_grads[key], dtype,
                     rtol=1e-4 if dtype == np.float32 else 1e-11)

    updated = F.update_parameters(params, grads, 0.1)
    ref_updated = R.update_parameters(params, ref_grads, 0.1)
    for key in params:
        assert updated[key].dtype == dtype
        assert_close(updated[key], ref_updated[key], dtype,
                     rtol=1e-4 if dtype == np.float32 else 1e-11)


def test_hand_worked_example():
    # one unit, two inputs, two examples, worked on paper
    X = np.array([[1.0, 2.0], [-1.0, 0.5]])
    params = {"W1": np.array([[0.5, -1.0]]), "b1": np.array([[0.25]])}
    # Z = [0.5 + 1 + 0.25, 1 - 0.5 + 0.25] = [1.75, 0.75]
    AL, caches = F.forward(X, params, output_activation="identity")
    np.testing.assert_allclose(AL, [[1.75, 0.75]], rtol=1e-15)
    # mse against Y = [1, 1]: (0.75^2 + 0.25^2) / (2 * 2) = 0.15625
    Y = np.array([[1.0, 1.0]])
    assert F.compute_cost(AL, Y, "mse") == pytest.approx(0.15625, rel=1e-15)
    # dZ = [0.75, -0.25]; dW = dZ X^T / 2 = [(0.75 - 0.5) / 2, (-0.75 - 0.125) / 2]
    grads = F.backward(AL, Y, caches, output_activation="identity", loss="mse")
    np.testing.assert_allclose(grads["dW1"], [[0.125, -0.4375]], rtol=1e-15)
    np.testing.assert_allclose(grads["db1"], [[0.25]], rtol=1e-15)
    updated = F.update_parameters(params, grads, 2.0)
    np.testing.assert_allclose(updated["W1"], [[0.25, -0.125]], rtol=1e-15)
    np.testing.assert_allclose(updated["b1"], [[-0.25]], rtol=1e-15)


@pytest.mark.parametrize("layout", ["C", "F", "column_slice", "transposed_view", "strided"])
def test_inputs_in_any_layout_give_the_same_result(layout):
    rng = np.random.default_rng(3)
    params = network(rng, [6, 5, 1], np.float64)
    X = rng.standard_normal((6, 30))
    Y = (rng.random((1, 30)) < 0.5).astype(float)
    if layout == "F":
        Xl = np.asfortranarray(X)
    elif layout == "column_slice":
        wide = np.zeros((6, 40))
        wide[:, 5:35] = X
        Xl = wide[:, 5:35]
    elif layout == "transposed_view":
        Xl = np.ascontiguousarray(X.T).T
    elif layout == "strided":
        big = np.zeros((12, 60))
        big[::2, ::2] = X
        Xl = big[::2, ::2]
    else:
        Xl = X
    Xl_before = Xl.copy()
    AL, caches = F.forward(Xl, params)
    grads = F.backward(AL, Y, caches, input_gradient=True)
    ref_AL, ref_caches = R.L_model_forward(X, params)
    ref_grads = R.L_model_backward(ref_AL, Y, ref_caches)
    assert_close(AL, ref_AL)
    for key in ref_grads:
        assert_close(grads[key], ref_grads[key])
    np.testing.assert_array_equal(Xl, Xl_before)


def test_fortran_ordered_parameters_and_read_only_arrays():
    rng = np.random.default_rng(4)
    params = {key: np.asfortranarray(value) for key, value in
              network(rng, [4, 3, 2], np.float64).items()}
    X = rng.standard_normal((4, 7))
    for array in (*params.values(), X):
        array.flags.writeable = False
    AL, caches = F.forward(X, params, "tanh", "sigmoid")
    ref_AL, ref_caches = R.L_model_forward(X, params, "tanh", "sigmoid")
    assert_close(AL, ref_AL)
    Y = (rng.random((2, 7)) < 0.5).astype(float)
    grads = F.backward(AL, Y, caches, "tanh", "sigmoid")
    updated = F.update_parameters(params, grads, 0.5)
    ref = R.update_parameters(params, R.L_model_backward(ref_AL, Y, ref_caches, "tanh"), 0.5)
    for key in params:
        assert_close(updated[key], ref[key])


def test_update_leaves_callers_arrays_alone_unless_inplace():
    rng = np.random.default_rng(5)
    params = network(rng, [3, 2, 1], np.float64)
    before, grads = check_update_is_a_copy(F.update_parameters, params, 0.5)
    same = F.update_parameters(params, grads, 0.5, inplace=True)
    assert same is params
    for key in params:
        assert_close(params[key], before[key] - 0.5)
    # Fortran-ordered and non-contiguous parameters are updated in place too
    W = np.asfortranarray(rng.standard_normal((3, 2)))
    big = rng.standard_normal((6, 1))
    strided = {"W1": W, "b1": big[::2]}
    expected_W, expected_b = W - 0.5, big[::2] - 0.5
    F.update_parameters(strided, {"dW1": np.ones((3, 2)), "db1": np.ones((3, 1))}, 0.5,
                        inplace=True)
    assert_close(W, expected_W)
    assert_close(big[::2], expected_b)


def test_user_made_parameters_and_one_dimensional_biases():
    # parameters built by the user's own NumPy code, b given as (n,)
    rng = np.random.default_rng(6)
    params = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(3),
              "W2": rng.standard_normal((1, 3)), "b2": np.zeros(1)}
    X = rng.standard_normal((2, 5))
    AL, _ = F.forward(X, params)
    column = {key: value.reshape(-1, 1) if key.startswith("b") else value
              for key, value in params.items()}
    assert_close(AL, R.L_model_forward(X, column)[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("init", F.INITS)
def test_initialize_parameters(init, dtype):
    params = F.initialize_parameters([50, 40, 3], init=init, seed=0, dtype=dtype)
    assert set(params) == {"W1", "b1", "W2", "b2"}
    assert params["W1"].shape == (40, 50) and params["b1"].shape == (40, 1)
    assert params["W2"].shape == (3, 40) and params["b2"].shape == (3, 1)
    assert all(value.dtype == dtype for value in params.values())
    assert not params["b1"].any()
    spread = {"he": np.sqrt(2 / 50), "xavier": np.sqrt(1 / 50), "course": 0.01,
              "glorot_uniform": np.sqrt(6 / 90) / np.sqrt(3)}[init]
    assert params["W1"].std() == pytest.approx(spread, rel=0.15)
    again = F.initialize_parameters([50, 40, 3], init=init, seed=0, dtype=dtype)
    np.testing.assert_array_equal(again["W1"], params["W1"])


def test_predict():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3, 9))
    params = network(rng, [3, 4, 1], np.float64)
    AL = R.L_model_forward(X, params)[0]
    np.testing.assert_array_equal(F.predict(X, params), (AL > 0.5).astype(int))
    params3 = network(rng, [3, 4, 3], np.float64)
    AL3 = R.L_model_forward(X, params3, "relu", "softmax")[0]
    np.testing.assert_array_equal(F.predict(X, params3, output_activation="softmax"),
                                  AL3.argmax(axis=0))


def test_softmax_cost_accepts_integer_class_labels():
    rng = np.random.default_rng(8)
    Z = rng.standard_normal((4, 6))
    labels = np.array([0, 3, 2, 1, 3, 0])
    one_hot = np.eye(4)[:, labels]
    expected = R.compute_cost_from_logits(Z, one_hot, "categorical_crossentropy")
    assert_close(F.compute_cost(Z, labels, "categorical_crossentropy", from_logits=True),
                 expected)
    assert_close(F.compute_cost(R.softmax(Z), labels, "categorical_crossentropy"), expected)


def test_cost_from_logits_is_finite_where_probabilities_saturate():
    Z = np.array([[-800.0, 800.0]])
    Y = np.array([[1, 0]])
    assert F.compute_cost(Z, Y, from_logits=True) == pytest.approx(800.0)
    assert F.compute_cost(R.sigmoid(np.array([[-5.0, 5.0]])), Y) == pytest.approx(
        5 + np.log1p(np.exp(-5)))


def test_single_layer_and_linear_step_functions(ref):
    rng = np.random.default_rng(9)
    A_prev, W, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 1))
    Z, cache = F.linear_forward(A_prev, W, b)
    assert_close(Z, ref.linear_forward(A_prev, W, b)[0])
    assert cache[0] is A_prev and cache[1] is W and cache[2] is b
    dZ = rng.standard_normal((2, 3))
    for got, expected in zip(F.linear_backward(dZ, cache), ref.linear_backward(dZ, cache)):
        assert_close(got, expected)
    for activation in ["relu", "sigmoid", "tanh", "leaky_relu", "identity", "softmax"]:
        A, act_cache = F.linear_activation_forward(A_prev, W, b, activation)
        ref_A, ref_cache = ref.linear_activation_forward(A_prev, W, b, activation)
        assert_close(A, ref_A)
        for got, expected in zip(F.linear_activation_backward(dZ, act_cache, activation),
                                 ref.linear_activation_backward(dZ, ref_cache, activation)):
            assert_close(got, expected)


def test_top_level_reexports():
    for name in ["initialize_parameters", "forward", "compute_cost", "backward",
                 "update_parameters", "predict", "gradient_check", "linear_forward",
                 "linear_activation_forward", "linear_backward", "linear_activation_backward"]:
        assert getattr(dnn, name) is getattr(F, name)
