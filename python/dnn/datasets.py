"""Datasets: small generators (no files needed) and loaders for MNIST and the
course's cat / non-cat images.

``make_flower`` keeps the course's layout (``X`` (2, m), one column per
example). Everything else returns scikit-learn's layout: ``X`` of shape
``(n_samples, n_features)`` and ``y`` of shape ``(n_samples,)``, int64 classes.
The generators draw from a local ``np.random.default_rng(seed)``; NumPy's
global random state is never touched.
"""
import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from dnn import _validation as check

__all__ = ["make_flower", "make_spirals", "make_moons", "load_digits", "load_mnist",
           "read_idx", "read_idx_pair", "load_catvnoncat", "read_catvnoncat_file",
           "pixel_features"]


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


def _class_sizes(n_samples, n_classes):
    """n_samples split into n_classes sizes differing by at most one."""
    return [n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)]


def _shuffled(X, y, rng, shuffle):
    if not shuffle:
        return X, y
    order = rng.permutation(len(y))
    return X[order], y[order]


def make_spirals(n_samples=300, n_classes=3, noise=0.2, seed=None, shuffle=True):
    """Interleaved spiral arms, one per class (the classic planar toy problem).

    Class k's points have radii ``r = linspace(0, 1)`` and angles ``t =
    linspace(4 k, 4 (k + 1)) + noise * randn``, at ``(r sin t, r cos t)``.

    Parameters
    ----------
    n_samples : int >= n_classes
        Split over the classes as evenly as possible.
    n_classes : int >= 2
    noise : float >= 0
        Standard deviation of the angles' Gaussian noise (radians).
    seed : int, numpy.random.Generator or None
        For ``np.random.default_rng``.
    shuffle : bool
        Shuffle the samples (else they come class by class).

    Returns
    -------
    X : ndarray of float64, shape (n_samples, 2)
    y : ndarray of int64, shape (n_samples,)
        Classes 0..n_classes-1.
    """
    n_classes = check.integer(n_classes, "n_classes", low=2)
    n_samples = check.integer(n_samples, "n_samples", low=n_classes)
    noise = check.real(noise, "noise", low=0.0)
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k, size in enumerate(_class_sizes(n_samples, n_classes)):
        r = np.linspace(0.0, 1.0, size)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), size) + noise * rng.standard_normal(size)
        X.append(np.c_[r * np.sin(t), r * np.cos(t)])
        y.append(np.full(size, k, dtype=np.int64))
    return _shuffled(np.concatenate(X), np.concatenate(y), rng, shuffle)


def make_moons(n_samples=200, noise=0.1, seed=None, shuffle=True):
    """Two interleaving half circles (like scikit-learn's ``make_moons``).

    Class 0 lies on ``(cos t, sin t)``, class 1 on ``(1 - cos t, 0.5 - sin t)``,
    ``t`` in [0, pi]; Gaussian noise of standard deviation ``noise`` is added
    to both coordinates.

    Parameters
    ----------
    n_samples : int >= 2
        ``n_samples // 2`` points in class 0, the rest in class 1.
    noise : float >= 0
    seed : int, numpy.random.Generator or None
        For ``np.random.default_rng``.
    shuffle : bool

    Returns
    -------
    X : ndarray of float64, shape (n_samples, 2)
    y : ndarray of int64, shape (n_samples,)
        Classes 0 and 1.
    """
    n_samples = check.integer(n_samples, "n_samples", low=2)
    noise = check.real(noise, "noise", low=0.0)
    rng = np.random.default_rng(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    t_outer = np.linspace(0.0, np.pi, n_outer)
    t_inner = np.linspace(0.0, np.pi, n_inner)
    X = np.concatenate([np.c_[np.cos(t_outer), np.sin(t_outer)],
                        np.c_[1.0 - np.cos(t_inner), 0.5 - np.sin(t_inner)]])
    X += noise * rng.standard_normal(X.shape)
    y = np.repeat(np.array([0, 1], dtype=np.int64), [n_outer, n_inner])
    return _shuffled(X, y, rng, shuffle)


def load_digits(scale=True):
    """scikit-learn's 8x8 handwritten digits (1797 images, 10 classes).

    Parameters
    ----------
    scale : bool
        Divide the pixels (0..16) by 16, giving values in [0, 1].

    Returns
    -------
    X : ndarray of float64, shape (1797, 64)
    y : ndarray of int64, shape (1797,)

    Raises
    ------
    ImportError
        scikit-learn is not installed (``pip install "dnn-core[sklearn]"``).
    """
    try:
        from sklearn import datasets as sk_datasets
    except ImportError:
        raise ImportError('load_digits needs scikit-learn: pip install "dnn-core[sklearn]"'
                          ) from None
    digits = sk_datasets.load_digits()
    X = np.asarray(digits.data, dtype=np.float64)
    return (X / 16.0 if scale else X), np.asarray(digits.target, dtype=np.int64)


# ---------------------------------------------------------------------------
# MNIST (IDX files)

#: (names tried in order) for each of the four MNIST files; ".gz" optional
MNIST_FILES = {
    "train_images": ("train-images.idx3-ubyte", "train-images-idx3-ubyte"),
    "train_labels": ("train-labels.idx1-ubyte", "train-labels-idx1-ubyte"),
    "test_images": ("t10k-images.idx3-ubyte", "t10k-images-idx3-ubyte"),
    "test_labels": ("t10k-labels.idx1-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_UBYTE = 0x08


def read_idx(path):
    """An IDX file of unsigned bytes (gzip-compressed or not) as a uint8 array.

    IDX: two zero bytes, the type code (0x08: unsigned byte), the number of
    dimensions d, then d big-endian uint32 sizes, then the data.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ndarray of uint8, shape given by the header
        ``(n,)`` for labels, ``(n, rows, cols)`` for images.

    Raises
    ------
    ValueError
        Not an IDX file, an unsupported type code, or data shorter or longer
        than the header says (message names the file).
    """
    path = Path(path)
    with open(path, "rb") as file:
        data = file.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{path}: damaged gzip file: {error}") from None
    if len(data) < 4 or data[:2] != b"\0\0":
        raise ValueError(f"{path}: not an IDX file (expected a header starting with two "
                         f"zero bytes, got {data[:4]!r})")
    if data[2] != _IDX_UBYTE:
        raise ValueError(f"{path}: expected IDX unsigned-byte data (type code 0x08), "
                         f"got type code {data[2]:#04x}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(data) < header:
        raise ValueError(f"{path}: damaged IDX header ({ndim} dimensions, {len(data)} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    size = math.prod(shape)
    if len(data) - header != size:
        raise ValueError(f"{path}: the header announces shape {shape} ({size} bytes of "
                         f"data), the file holds {len(data) - header} (truncated or damaged)")
    return np.frombuffer(data, np.uint8, size, header).reshape(shape)


def _find_mnist_file(folder, key):
    for name in MNIST_FILES[key]:
        for candidate in (folder / (name + ".gz"), folder / name):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"{folder}: no MNIST file {MNIST_FILES[key][0]}[.gz] "
                            f"(or {MNIST_FILES[key][1]}[.gz])")


def read_idx_pair(images_path, labels_path, n_classes=10):
    """Images and labels from two IDX files, checked against each other.

    Returns
    -------
    images : ndarray of uint8, shape (n, rows, cols)
    labels : ndarray of uint8, shape (n,)
        In 0..n_classes-1.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise ValueError(f"{images_path}: expected images, a 3-D IDX file (n, rows, cols), "
                         f"got shape {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected labels, a 1-D IDX file (n,), "
                         f"got shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{labels_path}: {len(labels)} labels for the {len(images)} images "
                         f"of {images_path}")
    if labels.size and labels.max() >= n_classes:
        raise ValueError(f"{labels_path}: expected labels in 0..{n_classes - 1}, "
                         f"got {labels.max()}")
    return images, labels


def _pixel_dtype(dtype):
    """float32 or float64 (pixels / 255) or uint8 (as stored)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64, np.uint8):
        raise ValueError(f"dtype: expected float32, float64 or uint8, got {dtype}")
    return dtype


def pixel_features(images, dtype="float32"):
    """Images as features, one row per image.

    Parameters
    ----------
    images : ndarray of uint8, shape (n, ...)
    dtype : {"float32", "float64", "uint8"}

    Returns
    -------
    ndarray, shape (n, n_pixels)
        ``images / 255`` in float32 or float64 (the course's scaling), or the
        uint8 values themselves (a view when it can be).
    """
    dtype = _pixel_dtype(dtype)
    X = images.reshape(len(images), -1)
    if dtype == np.uint8:
        return X
    return X.astype(dtype) / dtype.type(255)  # the course's x / 255, to the last bit


def load_mnist(folder, dtype="float32"):
    """MNIST from the four standard IDX files in ``folder``.

    Files: ``train-images.idx3-ubyte``, ``train-labels.idx1-ubyte``,
    ``t10k-images.idx3-ubyte``, ``t10k-labels.idx1-ubyte`` (or with "-idx"
    for ".idx" as distributed by LeCun's site), each gzip-compressed (".gz")
    or not.

    Parameters
    ----------
    folder : str or path-like
    dtype : {"float32", "float64", "uint8"}
        float: pixels scaled to [0, 1]; uint8: the raw bytes 0..255.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        ``X`` of shape (n, 784) and ``dtype`` (60000 and 10000 rows for the
        standard files), ``y`` int64 digits 0..9, shape (n,).

    Raises
    ------
    FileNotFoundError
        A file is missing.
    ValueError
        A file is damaged (bad header, truncated, image and label counts
        disagree, labels out of 0..9); the message names the file.
    """
    folder = Path(folder)
    dtype = _pixel_dtype(dtype)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    paths = {key: _find_mnist_file(folder, key) for key in MNIST_FILES}
    parts = []
    for part in ("train", "test"):
        images, labels = read_idx_pair(paths[f"{part}_images"], paths[f"{part}_labels"])
        parts.append((pixel_features(images, dtype), labels.astype(np.int64)))
    if parts[0][0].shape[1] != parts[1][0].shape[1]:
        raise ValueError(f"{paths['test_images']}: images of {parts[1][0].shape[1]} pixels, "
                         f"the training images have {parts[0][0].shape[1]}")
    return tuple(parts)


# ---------------------------------------------------------------------------
# The course's cat / non-cat images (HDF5)

def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError('reading the cat/non-cat HDF5 files needs h5py: '
                          'pip install "dnn-core[h5]"') from None
    return h5py


def read_catvnoncat_file(path, dtype="float64"):
    """One of the course's HDF5 files (``train_catvnoncat.h5`` or
    ``test_catvnoncat.h5``), flattened and scaled.

    The file holds ``{part}_set_x`` (uint8 images (m, height, width,
    channels)), ``{part}_set_y`` (0/1 labels, (m,) or (1, m)) and
    ``list_classes`` (names), ``part`` being "train" or "test".

    Parameters
    ----------
    path : str or path-like
    dtype : {"float64", "float32", "uint8"}
        float: pixels / 255 (the course's preprocessing); uint8: raw.

    Returns
    -------
    X : ndarray, shape (m, height * width * channels)
        Each row an image flattened in C order (the course's ``X.T``).
    y : ndarray of int64, shape (m,)
    classes : ndarray of str, shape (n_classes,)
        Class names, e.g. ["non-cat", "cat"].

    Raises
    ------
    ImportError
        h5py is missing.
    ValueError
        Not an HDF5 file, or keys, shapes or dtypes not as described (message
        names the file).
    """
    h5py = _h5py()
    path = Path(path)
    dtype = _pixel_dtype(dtype)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as file:
            keys = set(file.keys())
            parts = [key[:-len("_set_x")] for key in keys if key.endswith("_set_x")]
            if len(parts) != 1 or f"{parts[0]}_set_y" not in keys or "list_classes" not in keys:
                raise ValueError(f"{path}: expected the cat/non-cat layout (datasets "
                                 f"train_set_x/train_set_y or test_set_x/test_set_y, and "
                                 f"list_classes), got keys {sorted(keys)}")
            for key in (f"{parts[0]}_set_x", f"{parts[0]}_set_y", "list_classes"):
                if not isinstance(file[key], h5py.Dataset):
                    raise ValueError(f"{path}: expected {key} to be an array (HDF5 dataset), "
                                     f"got a {type(file[key]).__name__}")
            x, y = file[f"{parts[0]}_set_x"][()], file[f"{parts[0]}_set_y"][()]
            classes = file["list_classes"][()]
    except ValueError:
        raise
    except (OSError, KeyError, TypeError, AttributeError, RuntimeError) as error:
        raise ValueError(f"{path}: not a readable HDF5 file: {error}") from None
    if x.dtype != np.uint8 or x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(f"{path}: expected uint8 images (m, height, width, channels), got "
                         f"{x.dtype} {x.shape}")
    if y.dtype.kind not in "iu" or y.size != x.shape[0] or y.ndim not in (1, 2) \
            or (y.ndim == 2 and 1 not in y.shape):
        raise ValueError(f"{path}: expected {x.shape[0]} integer labels, shape "
                         f"({x.shape[0]},) or (1, {x.shape[0]}), got {y.dtype} {y.shape}")
    if classes.ndim != 1 or classes.dtype.kind not in "SU" or len(classes) < 2:
        raise ValueError(f"{path}: expected list_classes, the class names, got "
                         f"{classes.dtype} {classes.shape}")
    y = y.reshape(-1).astype(np.int64)
    if y.min() < 0 or y.max() >= len(classes):
        raise ValueError(f"{path}: expected labels in 0..{len(classes) - 1}, got values in "
                         f"{y.min()}..{y.max()}")
    names = np.array([c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c)
                      for c in classes])
    return pixel_features(x, dtype), y, names


def load_catvnoncat(folder, dtype="float64"):
    """The course's cat / non-cat images from ``folder`` (``train_catvnoncat.h5``
    and ``test_catvnoncat.h5``), flattened and scaled to [0, 1] as the course
    does, in scikit-learn's layout.

    Parameters
    ----------
    folder : str or path-like
    dtype : {"float64", "float32", "uint8"}

    Returns
    -------
    (X_train, y_train), (X_test, y_test), classes
        ``X`` (m, 12288) (209 and 50 rows for the course's files), ``y`` int64
        0 (non-cat) / 1 (cat), ``classes`` the names, ["non-cat", "cat"].

    Raises
    ------
    ImportError
        h5py is missing (``pip install "dnn-core[h5]"``).
    FileNotFoundError, ValueError
        See :func:`read_catvnoncat_file`.
    """
    folder = Path(folder)
    X_train, y_train, classes = read_catvnoncat_file(folder / "train_catvnoncat.h5", dtype)
    X_test, y_test, test_classes = read_catvnoncat_file(folder / "test_catvnoncat.h5", dtype)
    if X_test.shape[1] != X_train.shape[1] or list(test_classes) != list(classes):
        raise ValueError(f"{folder / 'test_catvnoncat.h5'}: images of {X_test.shape[1]} values "
                         f"and classes {list(test_classes)} do not match the training file's "
                         f"{X_train.shape[1]} and {list(classes)}")
    return (X_train, y_train), (X_test, y_test), classes

