"""RMSProp's and Adam's update kernels (compiled once per instruction set,
dnn_core/_optim.pyx) round exactly as NumPy does the same operations in the
same order and dtype: bit for bit, whatever the length (vector bodies and
scalar tails) or alignment of the slices, so no copy fuses or reorders."""
import numpy as np
import pytest

import dnn_core
from dnn_core import registry

LENGTHS = [1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 65, 100, 1001]


def numpy_rmsprop(P, G, S, lr, beta2, eps):
    t = P.dtype.type
    S[...] = t(beta2) * S + (t(1) - t(beta2)) * (G * G)
    P[...] = P - t(lr) * G / (np.sqrt(S) + t(eps))


def numpy_adam(P, G, V, S, lr, beta1, beta2, eps, step):
    t = P.dtype.type
    c1, c2 = 1 - beta1 ** step, 1 - beta2 ** step
    step_size, adam_eps = t(lr * np.sqrt(c2) / c1), t(eps * np.sqrt(c2))
    V[...] = t(beta1) * V + (t(1) - t(beta1)) * G
    S[...] = t(beta2) * S + (t(1) - t(beta2)) * (G * G)
    P[...] = P - step_size * V / (np.sqrt(S) + adam_eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_bit_for_bit_as_numpy(dtype, name):
    rng = np.random.default_rng(11)
    code = registry.OPTIMIZERS[name].code
    for n in LENGTHS:
        for offset in range(4):
            buffers = [rng.standard_normal(n + 4).astype(dtype) for _ in range(4)]
            buffers[3] = np.abs(buffers[3])                      # S >= 0
            mine = [b[offset:offset + n] for b in (x.copy() for x in buffers)]
            ref = [b[offset:offset + n].copy() for b in buffers]
            for step in (1, 2, 7):
                dnn_core.optimizer_step(code, *mine, 3e-3, 0.9, 0.999, 1e-8, step)
                if name == "adam":
                    numpy_adam(ref[0], ref[1], ref[2], ref[3], 3e-3, 0.9, 0.999, 1e-8, step)
                else:
                    numpy_rmsprop(ref[0], ref[1], ref[3], 3e-3, 0.999, 1e-8)
            for label, a, b in zip("PGVS", mine, ref):
                np.testing.assert_array_equal(a, b, err_msg=f"{label}, n={n}, offset={offset}")
