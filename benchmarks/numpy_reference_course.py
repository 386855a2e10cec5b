"""The course's equations for courses 1 (weeks 2-3) and 2 (weeks 1-2), written plainly
in NumPy: the oracle of tests/test_course_*.py (the week-4 equations are in
numpy_reference.py). Ours, written from the notebooks' equations, not their code."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def relu(z):
    return np.maximum(0, z)


# -- course 1 week 2: logistic regression ------------------------------------------

def lr_propagate(w, b, X, Y):
    m = X.shape[1]
    A = sigmoid(w.T @ X + b)
    cost = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m
    return {"dw": X @ (A - Y).T / m, "db": np.sum(A - Y) / m}, np.squeeze(np.array(cost))


def lr_optimize(w, b, X, Y, num_iterations, learning_rate):
    costs = []
    for i in range(num_iterations):
        grads, cost = lr_propagate(w, b, X, Y)
        w = w - learning_rate * grads["dw"]
        b = b - learning_rate * grads["db"]
        if i % 100 == 0:
            costs.append(cost)
    return {"w": w, "b": b}, grads, costs


# -- course 1 week 3: one hidden tanh layer ------------------------------------------

def planar_forward(X, p):
    Z1 = p["W1"] @ X + p["b1"]
    A1 = np.tanh(Z1)
    Z2 = p["W2"] @ A1 + p["b2"]
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def planar_backward(p, cache, X, Y):
    m = X.shape[1]
    dZ2 = cache["A2"] - Y
    dZ1 = (p["W2"].T @ dZ2) * (1 - cache["A1"] ** 2)
    return {"dW1": dZ1 @ X.T / m, "db1": np.sum(dZ1, axis=1, keepdims=True) / m,
            "dW2": dZ2 @ cache["A1"].T / m, "db2": np.sum(dZ2, axis=1, keepdims=True) / m}


def planar_nn_model(X, Y, n_h, num_iterations, learning_rate=1.2):
    np.random.seed(3)
    p = {"W1": np.random.randn(n_h, X.shape[0]) * 0.01, "b1": np.zeros((n_h, 1))}
    p["W2"] = np.random.randn(Y.shape[0], n_h) * 0.01
    p["b2"] = np.zeros((Y.shape[0], 1))
    costs = []
    for i in range(num_iterations):
        A2, cache = planar_forward(X, p)
        costs.append(float(-np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / X.shape[1]))
        grads = planar_backward(p, cache, X, Y)
        p = {key: p[key] - learning_rate * grads["d" + key] for key in p}
    return p, costs
