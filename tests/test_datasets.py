"""dnn.datasets: the generators, and the MNIST and cat/non-cat loaders on files
written here (and damaged here), and on ../shared/data when it is present."""
import gzip
import sys

import numpy as np
import pytest

import dnn
from dnn import datasets

from helpers import DATA, REFERENCE as R
from helpers import catvnoncat as course_catvnoncat


# -- generators ---------------------------------------------------------------

def test_make_flower_is_the_course_dataset():
    state = np.random.get_state()[1].copy()
    X, Y = datasets.make_flower()
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global stream untouched
    ref_X, ref_Y = R.load_planar_dataset()
    assert X.shape == (2, 400) and Y.shape == (1, 400)
    np.testing.assert_array_equal(X, ref_X)
    np.testing.assert_array_equal(Y, ref_Y)
    X10, Y10 = datasets.make_flower(m=10, seed=4)
    assert X10.shape == (2, 10) and list(Y10[0]) == [0] * 5 + [1] * 5


def test_make_flower_refuses_bad_sizes():
    with pytest.raises(ValueError, match="m: expected an even number"):
        datasets.make_flower(m=7)
    with pytest.raises(ValueError, match="m: expected an integer >= 1"):
        datasets.make_flower(m=0)


@pytest.mark.parametrize("make", [datasets.make_spirals, datasets.make_moons])
def test_generators_are_seeded_locally_in_sklearn_layout(make):
    state = np.random.get_state()[1].copy()
    X, y = make(n_samples=101, seed=3)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    assert X.shape == (101, 2) and X.dtype == np.float64
    assert y.shape == (101,) and y.dtype == np.int64
    X_again, y_again = make(n_samples=101, seed=3)
    np.testing.assert_array_equal(X, X_again)
    np.testing.assert_array_equal(y, y_again)
    X_other, _ = make(n_samples=101, seed=4)
    assert not np.allclose(X, X_other)
    assert len(set(y[:20].tolist())) > 1  # shuffled, not class by class


def test_make_spirals_points_lie_on_their_arms():
    X, y = datasets.make_spirals(n_samples=301, n_classes=3, noise=0.0, shuffle=False)
    assert np.bincount(y).tolist() == [101, 100, 100]
    for k in range(3):
        arm = X[y == k]
        n = len(arm)
        np.testing.assert_allclose(np.hypot(arm[:, 0], arm[:, 1]), np.linspace(0, 1, n),
                                   atol=1e-12)
        t = np.linspace(4 * k, 4 * (k + 1), n)
        r = np.linspace(0, 1, n)
        np.testing.assert_allclose(arm, np.c_[r * np.sin(t), r * np.cos(t)], atol=1e-12)
    X5, y5 = datasets.make_spirals(n_samples=40, n_classes=5, seed=0)
    assert np.bincount(y5).tolist() == [8] * 5


def test_make_moons_points_lie_on_two_half_circles():
    X, y = datasets.make_moons(n_samples=51, noise=0.0, shuffle=False)
    assert np.bincount(y).tolist() == [25, 26]
    np.testing.assert_allclose(np.hypot(*X[y == 0].T), 1.0)
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1, X[y == 1, 1] - 0.5), 1.0)
    assert np.all(X[y == 0, 1] >= -1e-12) and np.all(X[y == 1, 1] <= 0.5 + 1e-12)


def test_moons_are_learnable_by_a_network():
    X, y = datasets.make_moons(n_samples=200, noise=0.1, seed=0)
    net = dnn.Network([2, 8, 1], "tanh", "sigmoid", seed=0)
    net.fit(X, y, epochs=400, optimizer="adam", learning_rate=0.05)
    assert net.evaluate(X, y)["accuracy"] > 0.95


@pytest.mark.parametrize("call, message", [
    (lambda: datasets.make_spirals(n_classes=1), "n_classes: expected an integer >= 2"),
    (lambda: datasets.make_spirals(n_samples=2, n_classes=3),
     "n_samples: expected an integer >= 3"),
    (lambda: datasets.make_spirals(noise=-1), "noise: expected a number >= 0"),
    (lambda: datasets.make_moons(n_samples=1), "n_samples: expected an integer >= 2"),
    (lambda: datasets.make_moons(noise=-0.1), "noise: expected a number >= 0"),
])
def test_generators_refuse_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_load_digits_through_sklearn():
    pytest.importorskip("sklearn", reason="load_digits reads scikit-learn's copy")
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.dtype == np.int64 and sorted(set(y.tolist())) == list(range(10))
    raw, _ = datasets.load_digits(scale=False)
    np.testing.assert_array_equal(raw, X * 16)


def test_load_digits_without_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` fail
    with pytest.raises(ImportError, match=r'pip install "dnn-core\[sklearn\]"'):
        datasets.load_digits()


# -- IDX / MNIST ----------------------------------------------------------------

def idx_bytes(array, type_code=0x08):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def write_mnist(folder, n_train=12, n_test=5, rows=4, cols=3, compress=True,
                names=("train-images.idx3-ubyte", "train-labels.idx1-ubyte",
                       "t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte"), seed=0):
    """Four small IDX files; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = [rng.integers(0, 256, (n_train, rows, cols)), rng.integers(0, 10, n_train),
              rng.integers(0, 256, (n_test, rows, cols)), rng.integers(0, 10, n_test)]
    for name, array in zip(names, arrays):
        data = idx_bytes(array)
        if compress:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_load_mnist_reads_idx_files(tmp_path, compress):
    images, labels, test_images, test_labels = write_mnist(tmp_path, compress=compress)
    (X, y), (X_test, y_test) = datasets.load_mnist(tmp_path)
    assert X.shape == (12, 12) and X.dtype == np.float32 and X_test.shape == (5, 12)
    np.testing.assert_allclose(X, images.reshape(12, -1) / 255, rtol=1e-6)
    np.testing.assert_allclose(X_test, test_images.reshape(5, -1) / 255, rtol=1e-6)
    assert y.dtype == np.int64 and y.tolist() == labels.tolist()
    assert y_test.tolist() == test_labels.tolist()
    (raw, _), _ = datasets.load_mnist(tmp_path, dtype="uint8")
    np.testing.assert_array_equal(raw, images.reshape(12, -1))
    (X64, _), _ = datasets.load_mnist(tmp_path, dtype=np.float64)
    assert X64.dtype == np.float64 and X64.max() <= 1.0


def test_load_mnist_accepts_lecuns_file_names(tmp_path):
    write_mnist(tmp_path, names=("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    (X, y), _ = datasets.load_mnist(tmp_path)
    assert X.shape == (12, 12) and y.shape == (12,)


def test_read_idx_returns_the_header_shape(tmp_path):
    path = tmp_path / "x.idx"
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path.write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(datasets.read_idx(path), array)


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[:-1], r"header announces shape \(12, 4, 3\) \(144 bytes of data\), "
                             r"the file holds 143"),
    (lambda data: data + b"\0", "the file holds 145"),
    (lambda data: b"\1" + data[1:], "not an IDX file"),
    (lambda data: data[:2] + b"\x0d" + data[3:], r"expected IDX unsigned-byte data \(type "
                                                 r"code 0x08\), got type code 0x0d"),
    (lambda data: data[:10], "damaged IDX header"),
    (lambda data: b"", "not an IDX file"),
])
def test_load_mnist_names_a_damaged_file(tmp_path, damage, message):
    write_mnist(tmp_path, compress=False)
    path = tmp_path / "train-images.idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=message) as error:
        datasets.load_mnist(tmp_path)
    assert str(path) in str(error.value)


def test_load_mnist_names_a_truncated_gzip_file(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "t10k-images.idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(ValueError, match="damaged gzip file") as error:
        datasets.load_mnist(tmp_path)
    assert str(path) in str(error.value)


def test_load_mnist_checks_images_against_labels(tmp_path):
    write_mnist(tmp_path, compress=False)
    labels = tmp_path / "train-labels.idx1-ubyte"
    labels.write_bytes(idx_bytes(np.zeros(11)))
    with pytest.raises(ValueError, match="11 labels for the 12 images") as error:
        datasets.load_mnist(tmp_path)
    assert str(labels) in str(error.value)
    labels.write_bytes(idx_bytes(np.full(12, 10)))
    with pytest.raises(ValueError, match=r"expected labels in 0..9, got 10"):
        datasets.load_mnist(tmp_path)
    labels.write_bytes(idx_bytes(np.zeros((12, 1))))
    with pytest.raises(ValueError, match=r"expected labels, a 1-D IDX file"):
        datasets.load_mnist(tmp_path)
    labels.write_bytes(idx_bytes(np.zeros(12)))
    (tmp_path / "t10k-images.idx3-ubyte").write_bytes(idx_bytes(np.zeros((5, 2, 2))))
    with pytest.raises(ValueError, match="images of 4 pixels, the training images have 12"):
        datasets.load_mnist(tmp_path)


def test_load_mnist_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        datasets.load_mnist(tmp_path / "absent")
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels.idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"no MNIST file t10k-labels.idx1-ubyte\[.gz\]"):
        datasets.load_mnist(tmp_path)
    with pytest.raises(ValueError, match="dtype: expected float32, float64 or uint8"):
        datasets.load_mnist(tmp_path, dtype="int32")


def test_load_mnist_on_the_real_files():
    folder = DATA / "mnist"
    if not folder.is_dir():
        pytest.skip(f"the MNIST files are not at {folder}")
    (X, y), (X_test, y_test) = datasets.load_mnist(folder)
    assert X.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X.dtype == np.float32 and X.min() == 0.0 and X.max() == 1.0
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(y_test).tolist()[:3] == [980, 1135, 1032]


# -- cat / non-cat (HDF5) -------------------------------------------------------

def write_catvnoncat(folder, m_train=7, m_test=3, shape=(4, 4, 3), seed=0, **overrides):
    """The course's two HDF5 files, small; ``overrides`` replaces train datasets."""
    h5py = pytest.importorskip("h5py", reason="h5py writes the cat/non-cat files")
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for part, m in (("train", m_train), ("test", m_test)):
        x = rng.integers(0, 256, (m, *shape)).astype(np.uint8)
        y = np.r_[0, 1, rng.integers(0, 2, m - 2)].astype(np.int64)
        fields = {f"{part}_set_x": x, f"{part}_set_y": y,
                  "list_classes": np.array([b"non-cat", b"cat"])}
        if part == "train":
            fields.update(overrides)
        with h5py.File(folder / f"{part}_catvnoncat.h5", "w") as file:
            for key, value in fields.items():
                if value is not None:
                    file[key] = value
        written[part] = (x, y)
    return written


def test_load_catvnoncat_flattens_and_scales_like_the_course(tmp_path):
    written = write_catvnoncat(tmp_path)
    (X, y), (X_test, y_test), classes = datasets.load_catvnoncat(tmp_path)
    x, labels = written["train"]
    assert X.shape == (7, 48) and X.dtype == np.float64 and X_test.shape == (3, 48)
    np.testing.assert_array_equal(X, x.reshape(7, -1) / 255)  # the course's X.T
    assert y.tolist() == labels.tolist() and y.dtype == np.int64
    assert y_test.tolist() == written["test"][1].tolist()
    assert classes.tolist() == ["non-cat", "cat"]
    X32, _, _ = datasets.read_catvnoncat_file(tmp_path / "train_catvnoncat.h5", "float32")
    assert X32.dtype == np.float32


@pytest.mark.parametrize("overrides, message", [
    (dict(train_set_y=None), r"expected the cat/non-cat layout .* got keys \['list_classes', "
                             r"'train_set_x'\]"),
    (dict(list_classes=None), "expected the cat/non-cat layout"),
    (dict(train_set_x=np.zeros((7, 4, 4, 3))), r"expected uint8 images \(m, height, width, "
                                               r"channels\), got float64"),
    (dict(train_set_y=np.zeros(6, dtype=np.int64)), r"expected 7 integer labels, shape \(7,\)"),
    (dict(train_set_y=np.zeros(7)), "expected 7 integer labels"),
    (dict(train_set_y=np.full(7, 2)), r"expected labels in 0..1, got values in 2..2"),
    (dict(list_classes=np.array([1, 2])), "expected list_classes, the class names"),
])
def test_load_catvnoncat_names_a_malformed_file(tmp_path, overrides, message):
    write_catvnoncat(tmp_path, **overrides)
    with pytest.raises(ValueError, match=message) as error:
        datasets.load_catvnoncat(tmp_path)
    assert "train_catvnoncat.h5" in str(error.value)


@pytest.mark.parametrize("damage", [lambda data: data[:len(data) // 2],
                                    lambda data: b"garbage" + data[7:],
                                    lambda data: b"not hdf5 at all"])
def test_load_catvnoncat_names_a_damaged_file(tmp_path, damage):
    write_catvnoncat(tmp_path)
    path = tmp_path / "test_catvnoncat.h5"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match="not a readable HDF5 file") as error:
        datasets.load_catvnoncat(tmp_path)
    assert str(path) in str(error.value)


def test_load_catvnoncat_refuses_a_group_for_an_array(tmp_path):
    h5py = pytest.importorskip("h5py", reason="h5py writes the cat/non-cat files")
    path = tmp_path / "train_catvnoncat.h5"
    with h5py.File(path, "w") as file:
        file.create_group("train_set_x")
        file["train_set_y"], file["list_classes"] = np.zeros(3, int), np.array([b"a", b"b"])
    with pytest.raises(ValueError, match="expected train_set_x to be an array .* got a Group"):
        datasets.read_catvnoncat_file(path)


def test_load_catvnoncat_missing_file_and_missing_h5py(tmp_path, monkeypatch):
    write_catvnoncat(tmp_path)
    (tmp_path / "test_catvnoncat.h5").unlink()
    with pytest.raises(FileNotFoundError, match="test_catvnoncat.h5: no such file"):
        datasets.load_catvnoncat(tmp_path)
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r'pip install "dnn-core\[h5\]"'):
        datasets.load_catvnoncat(tmp_path)


def test_load_catvnoncat_on_the_course_files():
    folder = DATA / "catvnoncat"
    if not folder.is_dir():
        pytest.skip(f"the course's cat/non-cat files are not at {folder}")
    train_x, train_y, test_x, test_y = course_catvnoncat()  # (12288, m), course layout
    (X, y), (X_test, y_test), classes = datasets.load_catvnoncat(folder)
    np.testing.assert_array_equal(X, train_x.T)
    np.testing.assert_array_equal(X_test, test_x.T)
    assert y.tolist() == train_y[0].tolist() and y_test.tolist() == test_y[0].tolist()
    assert X.shape == (209, 12288) and int(y.sum()) == 72 and int(y_test.sum()) == 33
    assert classes.tolist() == ["non-cat", "cat"]
