"""A short training job for tools/valgrind.sh: every path of the compiled engine
once (outputs, hidden activations, optimizers, dtypes, dropout, l2, mini-batches,
gradients, cost, predict in chunks, divergence, save and load), on tiny data."""
import os
import sys
import tempfile

import numpy as np

import dnn

rng = np.random.default_rng(0)
folder = tempfile.mkdtemp()
jobs = [
    ([6, 8, 5, 1], "relu", "sigmoid", "adam", "float64", None, 0.0, None),
    ([6, 7, 3], "tanh", "softmax", "momentum", "float32", 8, 0.1, 0.8),
    ([6, 9, 9, 2], "leaky_relu", "linear", "rmsprop", "float64", 16, 0.0, [0.9, 0.7]),
    ([6, 5, 1], "sigmoid", "sigmoid", "nesterov", "float32", 5, 0.05, None),
    ([6, 4, 3], "identity", "softmax", "gd", "float64", None, 0.0, None),
    ([6, 2], None, "linear", "gd", "float32", 7, 0.0, None),
]
for index, (dims, activation, output, optimizer, dtype, batch, l2, keep) in enumerate(jobs):
    X = rng.standard_normal((40, dims[0]))
    if output == "softmax":
        y = rng.integers(0, dims[-1], 40)
    elif output == "sigmoid":
        y = (rng.random((40, dims[-1])) < 0.5).astype(float)
    else:
        y = rng.standard_normal((40, dims[-1]))
    net = dnn.Network(dims, activation or "relu", output, dtype=dtype, seed=index)
    history = net.fit(X, y, epochs=3, batch_size=batch, optimizer=optimizer, l2=l2,
                      keep_prob=keep, validation_split=0.25)
    net.fit(X, y, epochs=2, batch_size=batch, optimizer=optimizer, shuffle=False)
    net.compute_gradients(X, y, l2=l2)
    net.evaluate(X, y)
    net.predict(np.tile(X, (30, 1)))                      # more than one chunk
    path = os.path.join(folder, f"{index}.npz")
    net.save(path)
    loaded = dnn.load(path)
    assert np.array_equal(loaded.predict_proba(X), net.predict_proba(X))
    loaded.fit(X, y, epochs=1, batch_size=batch, optimizer=optimizer)
    print(index, dims, output, optimizer, dtype, f"cost {history.cost[-1]:.4f}")

# divergence: the snapshot is restored
X = rng.standard_normal((32, 5))
net = dnn.Network([5, 8, 1], output="linear", seed=0)
try:
    net.fit(X, rng.standard_normal(32) * 1e3, epochs=1000, optimizer="gd", learning_rate=10.0)
    sys.exit("expected a DivergenceError")
except dnn.DivergenceError:
    assert np.isfinite(net._engine.parameters).all()
# bad input is refused before the compiled code
for bad in (X[:, :3], np.full((2, 5), np.nan)):
    try:
        net.predict(bad)
        sys.exit("expected a ValueError")
    except ValueError:
        pass
print("ok")
