"""Bad input gets a ValueError or TypeError naming the argument, before any kernel runs."""
import numpy as np
import pytest

from dnn import course as C
from dnn import functional as F


def params(dtype=np.float64):
    return F.initialize_parameters([3, 4, 1], seed=0, dtype=dtype)


X = np.ones((3, 5))
Y = np.array([[0, 1, 0, 1, 1]])


def with_value(key, value):
    p = params()
    p[key] = value
    return p


def nan_at(array, index=(0, 0), value=np.nan):
    array = array.copy()
    array[index] = value
    return array


def forward_cache():
    return F.forward(X, params())


CASES = [
    # shapes
    ("X rows", lambda: F.forward(np.ones((2, 5)), params()), ValueError, r"X: expected 3 rows"),
    ("X 1-D", lambda: F.forward(np.ones(3), params()), ValueError, r"X: expected a 2-D array"),
    ("W chain", lambda: F.forward(X, with_value("W2", np.ones((1, 3)))), ValueError,
     r"parameters\['W2'\]: expected 4 columns"),
    ("b shape", lambda: F.forward(X, with_value("b1", np.ones((3, 1)))), ValueError,
     r"parameters\['b1'\]: expected shape \(4, 1\)"),
    ("missing b", lambda: F.forward(X, {"W1": np.ones((1, 3))}), ValueError, r"missing 'b1'"),
    ("no W", lambda: F.forward(X, {}), ValueError, r"parameters: expected keys"),
    ("params type", lambda: F.forward(X, [np.ones((1, 3))]), TypeError, r"parameters: expected a dict"),
    ("Y shape", lambda: F.compute_cost(np.full((1, 5), 0.5), np.ones((1, 4))), ValueError,
     r"Y: expected shape \(1, 5\)"),
    ("Y shape backward", lambda: F.backward(*forward_cache()[:1], np.ones((2, 5)),
                                            forward_cache()[1]), ValueError, r"Y: expected shape"),
    ("linear A_prev", lambda: F.linear_forward(np.ones((2, 5)), np.ones((4, 3)), np.ones((4, 1))),
     ValueError, r"A_prev: expected 3 rows"),
    ("linear b", lambda: F.linear_forward(X, np.ones((4, 3)), np.ones((3, 1))), ValueError,
     r"b: expected shape \(4, 1\)"),
    ("dZ shape", lambda: F.linear_backward(np.ones((4, 4)), (X, np.ones((4, 3)), np.ones((4, 1)))),
     ValueError, r"dZ: expected shape \(4, 5\)"),
    ("cache form", lambda: F.linear_activation_backward(np.ones((4, 5)), (X, 1, 2), "relu"), TypeError,
     r"cache: expected \(\(A_prev, W, b\), Z\)"),
    ("caches type", lambda: F.backward(np.full((1, 5), 0.5), Y, None), TypeError, r"caches"),
    ("grads shape", lambda: F.update_parameters(params(), {"dW1": np.ones((3, 4)), "db1": np.ones((4, 1)),
                                                           "dW2": np.ones((1, 4)), "db2": np.ones((1, 1))}, 0.1),
     ValueError, r"grads\['dW1'\]: expected shape \(4, 3\)"),
    ("grads missing", lambda: F.update_parameters(params(), {}, 0.1), ValueError, r"grads: missing 'dW1'"),
    # dtypes
    ("int X", lambda: F.forward(np.ones((3, 5), dtype=int), params()), TypeError,
     r"X: expected an array of float32 or float64, got dtype int64"),
    ("float16 W", lambda: F.forward(X, with_value("W1", np.ones((4, 3), np.float16))), TypeError,
     r"parameters\['W1'\]: expected an array of float32 or float64"),
    ("complex X", lambda: F.forward(X + 0j, params()), TypeError, r"X: .*complex128"),
    ("object X", lambda: F.forward(np.array([[None]]), params()), TypeError, r"X: .*object"),
    ("mixed X", lambda: F.forward(X.astype(np.float32), params()), TypeError,
     r"X: expected dtype float64"),
    ("mixed b", lambda: F.forward(X, with_value("b2", np.zeros((1, 1), np.float32))), TypeError,
     r"parameters\['b2'\]: expected dtype float64"),
    ("mixed grads", lambda: F.update_parameters(params(), {k: np.zeros(v.shape, np.float32) for k, v in
                                                           {"dW1": params()["W1"], "db1": params()["b1"],
                                                            "dW2": params()["W2"], "db2": params()["b2"]}.items()}, 0.1),
     TypeError, r"grads\['dW1'\]: expected dtype float64"),
    ("string Y", lambda: F.compute_cost(np.full((1, 5), 0.5), np.array([["a"] * 5])), TypeError,
     r"Y: expected numeric labels"),
    # non-finite values
    ("nan X", lambda: F.forward(nan_at(X), params()), ValueError, r"X: expected finite values"),
    ("inf X", lambda: F.forward(nan_at(X, value=np.inf), params()), ValueError, r"X: expected finite"),
    ("nan W2", lambda: F.forward(X, with_value("W2", nan_at(params()["W2"]))), ValueError,
     r"W2: expected finite values"),
    ("inf b1", lambda: F.forward(X, with_value("b1", nan_at(params()["b1"], value=np.inf))), ValueError,
     r"b1: expected finite values"),
    ("overflow", lambda: F.forward(np.full((3, 5), 1e300), with_value("W1", np.full((4, 3), 1e300))),
     ValueError, r"Z1: the linear step overflowed"),
    ("nan Y", lambda: F.compute_cost(np.full((1, 5), 0.5), nan_at(Y.astype(float))), ValueError,
     r"Y: expected finite values"),
    ("nan AL", lambda: F.compute_cost(nan_at(np.full((1, 5), 0.5)), Y), ValueError,
     r"AL: expected finite values"),
    ("nan grads", lambda: F.update_parameters(params(), {"dW1": nan_at(np.ones((4, 3))), "db1": np.ones((4, 1)),
                                                         "dW2": np.ones((1, 4)), "db2": np.ones((1, 1))}, 0.1),
     ValueError, r"grads\['dW1'\]: expected finite values"),
    # label ranges
    ("Y range", lambda: F.compute_cost(np.full((1, 5), 0.5), Y * 2), ValueError,
     r"Y: expected values in \[0, 1\] for binary crossentropy, got values in \[0, 2\]"),
    ("Y negative backward", lambda: F.backward(*forward_cache()[:1], -Y, forward_cache()[1]),
     ValueError, r"Y: expected values in \[0, 1\]"),
    ("AL range", lambda: F.compute_cost(np.full((1, 5), 1.5), Y), ValueError,
     r"AL: expected values in \[0, 1\]"),
    ("class labels", lambda: F.compute_cost(np.full((3, 5), 0.2), np.array([0, 1, 2, 3, 0]),
                                            "categorical_crossentropy"), ValueError,
     r"Y: expected class labels in 0\.\.2"),
    # empty arrays
    ("empty X", lambda: F.forward(np.ones((3, 0)), params()), ValueError,
     r"X: expected a non-empty array, got shape \(3, 0\)"),
    ("empty W", lambda: F.linear_forward(np.ones((0, 5)), np.ones((4, 0)), np.ones((4, 1))),
     ValueError, r"W: expected a non-empty array"),
    ("empty AL", lambda: F.compute_cost(np.ones((1, 0)), np.ones((1, 0))), ValueError,
     r"AL: expected a non-empty array"),
    # names
    ("activation", lambda: F.forward(X, params(), hidden_activation="swish"), ValueError,
     r"hidden_activation: expected one of .*got 'swish'"),
    ("output", lambda: F.forward(X, params(), output_activation=None), TypeError,
     r"output_activation: expected a string"),
    ("layer activation", lambda: F.linear_activation_forward(X, np.ones((4, 3)), np.ones((4, 1)), "gelu"),
     ValueError, r"activation: expected one of"),
    ("loss", lambda: F.compute_cost(np.full((1, 5), 0.5), Y, loss="hinge"), ValueError,
     r"loss: expected one of .*got 'hinge'"),
    ("init", lambda: F.initialize_parameters([2, 1], init="zeros"), ValueError,
     r"init: expected one of .*got 'zeros'"),
    ("dtype", lambda: F.initialize_parameters([2, 1], dtype=np.int32), TypeError,
     r"dtype: expected float32 or float64, got int32"),
    # sizes and hyperparameters
    ("layer size 0", lambda: F.initialize_parameters([3, 0, 1]), ValueError,
     r"layer_dims\[1\]: expected an integer >= 1, got 0"),
    ("layer size float", lambda: F.initialize_parameters([3, 2.5, 1]), TypeError,
     r"layer_dims\[1\]: expected an integer, got float"),
    ("one layer size", lambda: F.initialize_parameters([3]), ValueError,
     r"layer_dims: expected at least 2 sizes"),
    ("course sizes", lambda: C.initialize_parameters(3, -1, 1), ValueError,
     r"\(n_x, n_h, n_y\)\[1\]: expected an integer >= 1, got -1"),
    ("negative lr", lambda: F.update_parameters(params(), {}, -0.1), ValueError,
     r"learning_rate: expected a number >= 0.0, got -0.1"),
    ("nan lr", lambda: F.update_parameters(params(), {}, float("nan")), ValueError,
     r"learning_rate: expected a finite number, got nan"),
    ("inf lr", lambda: C.L_layer_model(X, Y, [3, 1], learning_rate=float("inf")), ValueError,
     r"learning_rate: expected a finite number"),
    ("string lr", lambda: F.update_parameters(params(), {}, "0.1"), TypeError,
     r"learning_rate: expected a real number, got str"),
    ("iterations", lambda: C.L_layer_model(X, Y, [3, 1], num_iterations=0), ValueError,
     r"num_iterations: expected an integer >= 1, got 0"),
    ("model dims", lambda: C.two_layer_model(X, Y, (4, 2, 1)), ValueError,
     r"X: expected 4 rows \(layers_dims\[0\]\)"),
    ("epsilon", lambda: F.gradient_check(params(), X, Y, epsilon=0), ValueError,
     r"epsilon: expected a number > 0.0"),
    ("threshold", lambda: F.predict(X, params(), threshold=2), ValueError,
     r"threshold: expected a number <= 1.0"),
    # gaps found by tests/test_hostile_input.py
    ("ragged X", lambda: F.forward([[1.0, 2.0], [1.0]], params()), ValueError,
     r"X: expected an array, got a list that does not convert"),
    ("ragged Y", lambda: F.compute_cost(np.full((1, 2), 0.5), [[1.0], [0.0, 1.0]]), ValueError,
     r"Y: expected an array"),
    ("huge int slope", lambda: F.forward(X, params(), slope=10 ** 400), ValueError,
     r"slope: expected a finite number, got an integer of 401 digits"),
    ("negative seed", lambda: F.initialize_parameters([2, 1], seed=-1), ValueError,
     r"seed: expected an integer >= 0"),
    ("bool seed", lambda: F.initialize_parameters([2, 1], seed=True), TypeError,
     r"seed: expected an integer, got bool"),
    ("huge layers", lambda: F.initialize_parameters([10 ** 6, 10 ** 6]), MemoryError,
     r"layer_dims: the parameters of \[1000000, 1000000\] would need 1.49e\+04 GiB"),
    ("huge course layers", lambda: C.initialize_parameters(10 ** 6, 10 ** 6, 1), MemoryError,
     r"\(n_x, n_h, n_y\): the parameters"),
    ("huge model layers", lambda: C.L_layer_model(X, Y, [3, 10 ** 6, 10 ** 6, 1]), MemoryError,
     r"layers_dims: the parameters"),
    ("A_prev named", lambda: F.linear_forward(nan_at(X), np.ones((4, 3)), np.ones((4, 1))),
     ValueError, r"^A_prev: expected finite values"),
    ("linear overflow", lambda: F.linear_forward(np.full((3, 5), 1e300), np.full((4, 3), 1e300),
                                                 np.ones((4, 1))),
     ValueError, r"Z: the linear step overflowed to inf although A_prev, W, b are finite"),
    ("hidden overflow", lambda: F.forward(-X, with_value("W1", np.ones((4, 3))), "leaky_relu",
                                         slope=1e308), ValueError,
     r"X: the activations A1 overflowed"),
    ("cache named", lambda: F.linear_backward(np.ones((4, 5)), np.ones(3)), ValueError,
     r"cache W: expected a 2-D array"),
    ("noncontiguous b", lambda: F.linear_forward(X, np.ones((4, 3)), np.ones((4, 2))[:, :1]),
     None, None),
    ("backward overflow", lambda: F.linear_backward(np.full((4, 5), 1e300),
                                                    (X, np.full((4, 3), 1e300), np.ones((4, 1)))),
     ValueError, r"dZ: the gradients overflowed"),
    ("nan AL backward", lambda: F.backward(np.full((1, 5), np.nan), Y, forward_cache()[1]),
     ValueError, r"AL: expected finite values"),
    ("nan parameters update", lambda: F.update_parameters(
        with_value("b1", nan_at(params()["b1"])), {f"d{k}": np.ones_like(v) for k, v in params().items()},
        0.1), ValueError, r"parameters\['b1'\]: expected finite values"),
    ("nan in cache", lambda: F.linear_backward(np.ones((4, 5)), (X, nan_at(np.ones((4, 3))),
                                                                np.ones((4, 1)))),
     ValueError, r"cache W: expected finite values"),
    ("nan in caches", lambda: F.backward(forward_cache()[0], Y,
                                         [forward_cache()[1][0],
                                          ((forward_cache()[1][1][0][0], nan_at(params()["W2"]),
                                            params()["b2"]), forward_cache()[1][1][1])]),
     ValueError, r"caches\[1\] W: expected finite values"),
    ("byteswapped update", lambda: F.update_parameters(
        {k: v.astype(v.dtype.newbyteorder()) for k, v in params().items()},
        {f"d{k}": np.ones_like(v) for k, v in params().items()}, 0.1), None, None),
    ("gradient_check overflow", lambda: F.gradient_check(
        {"W1": np.full((4, 3), 1e-200), "b1": np.zeros((4, 1)), "W2": np.full((1, 4), 1e200),
         "b2": np.zeros((1, 1))}, np.full((3, 5), 1e200), Y, hidden_activation="identity"),
     ValueError, r"X, parameters: the gradients overflowed"),
    ("orphan bias", lambda: F.update_parameters(
        {k: v for k, v in params().items() if k != "W2"},
        {f"d{k}": np.ones_like(v) for k, v in params().items()}, 0.1),
     ValueError, r"parameters: \['b2'\] without their weight matrices"),
    ("course predict y", lambda: C.predict(X, np.ones((1, 4)), with_value("W2", np.ones((1, 4)))),
     ValueError, r"y: expected shape \(1, 5\)"),
]


@pytest.mark.parametrize("call, error, message", [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_refused_with_a_clear_message(call, error, message):
    if error is None:  # accepted: must work
        call()
        return
    with pytest.raises(error, match=message):
        call()


def test_inplace_update_refuses_read_only_parameters_and_changes_nothing():
    p = params()
    for value in p.values():
        value.flags.writeable = False
    grads = {f"d{key}": np.ones_like(value) for key, value in p.items()}
    before = {key: value.copy() for key, value in p.items()}
    with pytest.raises(ValueError, match=r"parameters\['W1'\]: inplace=True needs writeable"):
        F.update_parameters(p, grads, 0.1, inplace=True)
    for key in p:
        np.testing.assert_array_equal(p[key], before[key])


def test_failed_inplace_update_changes_nothing():
    p = params()
    before = {key: value.copy() for key, value in p.items()}
    grads = {f"d{key}": np.ones_like(value) for key, value in p.items()}
    grads["db2"] = nan_at(grads["db2"])
    with pytest.raises(ValueError, match=r"grads\['db2'\]"):
        F.update_parameters(p, grads, 0.1, inplace=True)
    for key in p:
        np.testing.assert_array_equal(p[key], before[key])
