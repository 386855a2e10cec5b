"""Helpers shared by the tests (tests/ is on pytest's pythonpath)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def _load_reference(name="numpy_reference"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = _load_reference()
COURSE_REFERENCE = _load_reference("numpy_reference_course")  # courses 1 (weeks 2-3) and 2


TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


def assert_close(actual, desired, dtype=np.float64, rtol=None, scale=None):
    """Equal to ``rtol`` relative to each entry, or to ``scale`` (default: the
    largest entry), so that a sum that cancels to near zero is judged on the
    scale of its terms."""
    rtol = TOLERANCE[np.dtype(dtype).type] if rtol is None else rtol
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    if scale is None:
        scale = np.max(np.abs(desired)) if desired.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)


@pytest.fixture
def no_densify(monkeypatch):
    """Densifying any scipy.sparse matrix or array raises."""
    def refuse(self, *args, **kwargs):
        raise AssertionError("X was densified")
    for cls in (sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.csc_array, sp.coo_matrix,
                sp.coo_array):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse)
        monkeypatch.setattr(cls, "__array__", refuse, raising=False)


def catvnoncat():
    """The course's cat / non-cat data, preprocessed as the course does."""
    h5py = pytest.importorskip("h5py", reason="h5py is needed to read the cat/non-cat data")
    folder = DATA / "catvnoncat"
    if not folder.is_dir():
        pytest.skip(f"the course's data is not at {folder}")
    with h5py.File(folder / "train_catvnoncat.h5", "r") as train, \
            h5py.File(folder / "test_catvnoncat.h5", "r") as test:
        train_x, train_y = train["train_set_x"][:], train["train_set_y"][:]
        test_x, test_y = test["test_set_x"][:], test["test_set_y"][:]
    return (train_x.reshape(train_x.shape[0], -1).T / 255, train_y.reshape(1, -1),
            test_x.reshape(test_x.shape[0], -1).T / 255, test_y.reshape(1, -1))


def check_update_is_a_copy(update, params, learning_rate):
    """``update(params, grads, learning_rate)`` with unit gradients returns new arrays
    equal to ``params - learning_rate`` and leaves ``params`` alone. Returns the
    values before and the gradients."""
    before = {key: value.copy() for key, value in params.items()}
    grads = {f"d{key}": np.ones_like(value) for key, value in params.items()}
    updated = update(params, grads, learning_rate)
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])
        assert_close(updated[key], before[key] - learning_rate)
    return before, grads
