"""Small datasets generated in code, so that examples and the command line need no files."""
import numpy as np

from dnn import _validation as check


def make_flower(m=400, seed=1):
    """The course's planar "flower": two interleaved classes of m / 2 points each.

    For class j (0 first), angles ``t = linspace(3.12 j, 3.12 (j + 1), m / 2) +
    0.2 randn`` and radii ``r = 4 sin(4 t) + 0.2 randn`` (t's noise drawn
    before r's, from the legacy ``RandomState(seed)`` stream) give the points
    ``(r sin t, r cos t)``. With the defaults these are the course's numbers;
    the global NumPy random state is left untouched.

    Parameters
    ----------
    m : int
        Number of points, even, >= 2.
    seed : int

    Returns
    -------
    X : ndarray of float64, shape (2, m)
    Y : ndarray of uint8, shape (1, m)
        Labels 0 and 1.
    """
    m = check.positive_int(m, "m")
    if m % 2:
        raise ValueError(f"m: expected an even number of points, got {m}")
    rng = np.random.RandomState(seed)
    per_class = m // 2
    X = np.zeros((m, 2))
    Y = np.zeros((m, 1), dtype=np.uint8)
    for j in range(2):
        rows = slice(per_class * j, per_class * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, per_class) + rng.randn(per_class) * 0.2
        r = 4 * np.sin(4 * t) + rng.randn(per_class) * 0.2
        X[rows] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[rows] = j
    return X.T, Y.T
