"""Per-unit moments of a batch cut into row shards (dnn_core/_batchnorm_moments):
Chan et al.'s parallel (count, mean, M2) combined in shard order equal NumPy's
mean and variance, weighted or not, for any cut."""
import numpy as np
import pytest

from dnn_core import _batchnorm_moments
from helpers import assert_close


def test_chan_moments_equal_numpy_for_any_cut():
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((5, 23)) * 3 + 1e4          # a large mean: one-pass sums would lose
    w = rng.uniform(0, 2, 23)
    w[3:8] = 0
    for cuts in ((), (1,), (4, 8), (3, 8, 22), tuple(range(1, 23))):
        mean, var = _batchnorm_moments.moments(Z, cuts=cuts)
        assert_close(mean, Z.mean(axis=1))
        assert_close(var, Z.var(axis=1))
        mean, var = _batchnorm_moments.moments(Z, w, cuts=cuts)
        mu = (Z * w).sum(axis=1) / w.sum()
        assert_close(mean, mu)
        assert_close(var, ((Z - mu[:, None]) ** 2 * w).sum(axis=1) / w.sum())
    with pytest.raises(ValueError, match="cuts"):
        _batchnorm_moments.moments(Z, cuts=(5, 5))
    with pytest.raises(ValueError, match="Z"):
        _batchnorm_moments.moments(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="weights"):
        _batchnorm_moments.moments(Z, -w)
