"""The data files the ``dnn`` command reads: CSV, ``.npz``, the course's
cat/non-cat HDF5 and MNIST's IDX, by :func:`read_data`."""
import csv
import itertools
import zipfile
from pathlib import Path

import numpy as np

from dnn import datasets

__all__ = ["CommandError", "Data", "read_data"]


class CommandError(Exception):
    """A problem to report in one line, exit status 2."""


class Data:
    """Features and labels read from a file, with the file's own test set if it has one."""

    def __init__(self, X, y, name, X_test=None, y_test=None, test_from=None, classes=None):
        self.X, self.y, self.name = X, y, name
        self.classes = classes  # the labels' order when the file gives one
        self.X_test, self.y_test, self.test_from = X_test, y_test, test_from


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def _csv_rows(path):
    """(line number, cells) of the non-blank rows of a CSV file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield reader.line_num, row
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a UTF-8 text file ({error.reason} at byte "
                         f"{error.start})") from None
    except csv.Error as error:
        raise ValueError(f"{path}: malformed CSV: {error}") from None


def _read_csv(path, target, need_target=True, n_features=None):
    """CSV: one sample a row, comma-separated; the first row is a header when
    it has text where the next row has a number. The label column is
    ``target`` (a header name or an index, negative from the end). With
    ``n_features`` given (predict), a file of exactly that many columns has no
    label column."""
    first = list(itertools.islice(_csv_rows(path), 2))
    if not first:
        raise ValueError(f"{path}: no data")
    header, header_line = None, 0
    if len(first) > 1 and any(_number(a) is None and _number(b) is not None
                              for a, b in zip(first[0][1], first[1][1])):
        header, header_line = [cell.strip() for cell in first[0][1]], first[0][0]
    width = len(first[-1][1] if header else first[0][1])
    if header is not None and len(header) != width:
        raise ValueError(f"{path}: the header has {len(header)} columns, the data {width}")
    column = None
    if need_target or n_features is None or width == n_features + 1:
        if width < 2:
            raise ValueError(f"{path}: expected feature columns and a label column, got "
                             f"{width} column")
        column = _target_column(target, header, width, path)
    features = [j for j in range(width) if j != column]
    try:  # all numbers: NumPy's fast reader
        table = np.loadtxt(path, delimiter=",", skiprows=header_line, ndmin=2,
                           encoding="utf-8-sig", comments=None, quotechar='"')
    except ValueError:
        table = None
    if table is not None and table.shape[1] == width:
        X, y = table[:, features], None if column is None else table[:, column]
    else:  # text labels, or a problem to report precisely
        X, y = _parse_csv_rows(path, header, header_line, width, features, column)
    if y is not None and y.dtype.kind == "f" and np.all(y == np.round(y)) \
            and np.all(np.abs(y) < 2 ** 53):
        y = y.astype(np.int64)
    return Data(np.ascontiguousarray(X), y, str(path))


def _parse_csv_rows(path, header, header_line, width, features, column):
    rows, X = [], []
    for line, row in _csv_rows(path):
        if line <= header_line:
            continue
        if len(row) != width:
            raise ValueError(f"{path}: line {line} has {len(row)} columns, expected {width}")
        values = [_number(row[j]) for j in features]
        if None in values:
            j = features[values.index(None)]
            name = f" ({header[j]!r})" if header else ""
            raise ValueError(f"{path}: line {line}, column {j + 1}{name}: expected a number, "
                             f"got {row[j].strip()!r}")
        X.append(values)
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no data below the header")
    if column is None:
        return np.array(X), None
    labels = [row[column].strip() for row in rows]
    numbers = [_number(label) for label in labels]
    y = np.array(numbers) if None not in numbers else np.array(labels)
    return np.array(X), y


def _target_column(target, header, width, path):
    try:
        index = int(target)
    except ValueError:
        if header is None:
            raise ValueError(f"--target: {target!r} is a column name, but {path} has no "
                             f"header row") from None
        if target not in header:
            raise ValueError(f"--target: no column {target!r} in {path} (columns: "
                             f"{', '.join(header)})") from None
        return header.index(target)
    if not -width <= index < width:
        raise ValueError(f"--target: column {index} is out of range for {path}, which has "
                         f"{width} columns")
    return index % width


def _read_npz(path, need_target=True):
    """.npz: arrays X (n, n_features) and y (n,) or (n, n_out); optionally
    X_test and y_test."""
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not an .npz archive (expected a zip file of arrays X and y)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(f"{path}: damaged .npz file: {error}") from None
    except ValueError as error:
        raise ValueError(f"{path}: unreadable .npz file: {error}") from None
    for needed in ("X", "y") if need_target else ("X",):
        if needed not in arrays:
            raise ValueError(f"{path}: expected arrays X and y, found "
                             f"{', '.join(sorted(arrays)) or 'none'}")
    for key in ("X", "X_test"):
        if key in arrays:
            X = arrays[key]
            if X.ndim != 2 or X.dtype.kind not in "biuf" or X.shape[0] < 1:
                raise ValueError(f"{path}: {key}: expected a numeric array (n_samples, "
                                 f"n_features), got {X.dtype} {X.shape}")
    for x_key, y_key in (("X", "y"), ("X_test", "y_test")):
        if y_key in arrays:
            y = arrays[y_key]
            if y.ndim not in (1, 2) or len(y) != len(arrays[x_key]) \
                    or y.dtype.kind not in "biufU":
                raise ValueError(f"{path}: {y_key}: expected {len(arrays[x_key])} labels, "
                                 f"shape ({len(arrays[x_key])},), got {y.dtype} {y.shape}")
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise ValueError(f"{path}: X_test and y_test come together, found only one")
    if "X_test" in arrays and arrays["X_test"].shape[1] != arrays["X"].shape[1]:
        raise ValueError(f"{path}: X_test has {arrays['X_test'].shape[1]} features, "
                         f"X has {arrays['X'].shape[1]}")
    return Data(arrays["X"], arrays.get("y"), str(path), arrays.get("X_test"),
                arrays.get("y_test"), f"{path} (X_test, y_test)")


def _read_h5(path, dtype):
    """The course's cat/non-cat layout; a train_*.h5 file's test_*.h5 sibling
    is its test set."""
    X, y, classes = datasets.read_catvnoncat_file(path, dtype)
    data = Data(X, classes[y], str(path), classes=classes)
    sibling = path.with_name("test_" + path.name[len("train_"):])
    if path.name.startswith("train_") and sibling.is_file():
        X_test, y_test, test_classes = datasets.read_catvnoncat_file(sibling, dtype)
        data.X_test, data.y_test, data.test_from = X_test, test_classes[y_test], str(sibling)
    return data


def _labels_beside(images):
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    return images.with_name(name)


def _read_idx(path, dtype):
    """MNIST: a folder holding the four standard IDX files (train and t10k),
    or one images file (name with "images" and "idx3"), whose labels file is
    found beside it by the same name with "labels" and "idx1"."""
    if path.is_dir():
        (X, y), (X_test, y_test) = datasets.load_mnist(path, dtype)
        return Data(X, y, str(path), X_test, y_test, f"{path} (t10k files)",
                    classes=np.arange(10))
    labels = _labels_beside(path)
    if labels == path or not labels.is_file():
        raise ValueError(f"{path}: expected the IDX labels beside the images, at {labels}")
    images, y = datasets.read_idx_pair(path, labels)
    X = datasets.pixel_features(images, dtype)
    return Data(X, y.astype(np.int64), str(path), classes=np.arange(10))


def _is_idx(path):
    return path.is_dir() or ".idx" in path.name or "-idx" in path.name


def read_data(text, dtype="float64", target="-1", need_target=True, n_features=None):
    """Data from PATH by its kind: .csv, .npz, .h5/.hdf5, IDX (folder or images file)."""
    path = Path(text)
    if not path.exists():
        raise CommandError(f"--data: no such file or folder: {path}")
    suffix = path.suffix.lower()
    if _is_idx(path):
        return _read_idx(path, dtype)
    if suffix == ".csv":
        data = _read_csv(path, target, need_target, n_features)
    elif suffix == ".npz":
        data = _read_npz(path, need_target)
    elif suffix in (".h5", ".hdf5"):
        return _read_h5(path, dtype)
    else:
        raise CommandError(f"--data: unknown format of {path}: expected .csv, .npz, .h5, an "
                           f"MNIST folder or an IDX images file (…-images-idx3-ubyte[.gz])")
    for X in (data.X, data.X_test):
        if X is not None and X.dtype.kind == "f" and not np.all(np.isfinite(X)):
            raise ValueError(f"{path}: the features hold NaN or inf (missing values are not "
                             f"supported)")
    return data
