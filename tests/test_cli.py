"""The `dnn` command: train (every data format and option), predict, info, bench,
and every error path (one line on stderr, exit status 2)."""
import csv
import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dnn
from dnn import _bench, cli, datasets

from helpers import DATA

FAST = ["--quiet", "--no-plot"]


def run(capsys, *argv):
    """(status, stdout, stderr) of `dnn argv`."""
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def accuracy(out, which):
    return float(re.search(rf"{which} accuracy: ([\d.]+)%", out).group(1))


def write_csv(path, X, y, header=None, target_first=False):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        if header:
            writer.writerow(header)
        for features, label in zip(X, y):
            writer.writerow([label, *features] if target_first else [*features, label])
    return path


def idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    return (bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big")
                                                    for n in array.shape) + array.tobytes())


def write_idx_digits(folder, seed=0):
    """Two "digits" told apart by where they are bright, as MNIST IDX files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", 80), ("t10k", 20)):
        labels = np.arange(n) % 2 * 7  # classes 0 and 7
        images = rng.integers(0, 60, (n, 4, 4))
        images[labels == 7, :2] += 190
        images[labels == 0, 2:] += 190
        (folder / f"{prefix}-images.idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (folder / f"{prefix}-labels.idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return folder


# -- train ------------------------------------------------------------------------

def test_train_with_no_arguments_is_the_main_job(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "train")
    assert status == 0, err
    assert "flower (built in): 320 training samples of 2 features, 80 test samples" in out
    assert accuracy(out, "train") >= 88.0, out  # the course: ~90 %
    assert accuracy(out, "test") >= 80.0, out
    assert "epoch" in err  # the progress bar
    net = dnn.load(tmp_path / "dnn-model.npz")
    assert net.layer_dims == [2, 8, 1] and net.epochs_ == 3000
    X, Y = datasets.make_flower()
    # the reported train accuracy is the saved model's on the 320 training samples
    test = np.random.default_rng(0).permutation(400)[:80]
    train = np.setdiff1d(np.arange(400), test)
    assert accuracy(out, "train") == pytest.approx(
        100 * np.mean(net.predict(X.T[train]) == Y[0, train]), abs=0.06)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "no plot: matplotlib is not installed" in out
    else:
        png = tmp_path / "dnn-model.png"
        assert "plot saved: dnn-model.png (cost curve and decision boundary)" in out
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 20000


def test_train_options_reach_the_network(tmp_path, capsys):
    model = tmp_path / "m.npz"
    status, out, err = run(capsys, "train", "--layers", "16,8", "--activation", "relu",
                           "--optimizer", "momentum", "--lr", "0.05", "--epochs", "7",
                           "--batch-size", "64", "--l2", "0.01", "--dropout", "0.2",
                           "--dtype", "float32", "--seed", "3", "--test-split", "0.25",
                           "--out", model, *FAST)
    assert status == 0, err
    assert "300 training samples of 2 features, 100 test samples" in out
    assert ("network: [2, 16, 8, 1], relu hidden, sigmoid output, float32; momentum lr 0.05, "
            "7 epochs of batches of 64, l2 0.01, dropout 0.2") in out
    net = dnn.load(model)
    assert net.layer_dims == [2, 16, 8, 1] and net.activations == ["relu", "relu"]
    assert net.dtype == np.float32 and net.epochs_ == 7
    assert err == ""  # --quiet: no progress bar


def test_train_plot_where_asked_or_not_at_all(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib", reason="the plot is drawn with matplotlib")
    png = tmp_path / "curves.png"
    status, out, err = run(capsys, "train", "--epochs", "5", "--quiet", "--out",
                           tmp_path / "m.npz", "--plot", png)
    assert status == 0, err
    assert f"plot saved: {png}" in out and png.read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "m.png").exists()
    assert run(capsys, "train", "--epochs", "5", "--out", tmp_path / "n.npz", *FAST)[0] == 0
    assert not (tmp_path / "n.png").exists()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    status, out, _ = run(capsys, "train", "--epochs", "5", "--quiet", "--out",
                         tmp_path / "o.npz")
    assert status == 0
    assert 'no plot: matplotlib is not installed; pip install "dnn-core[plot]"' in out
    assert not (tmp_path / "o.png").exists()


def test_train_is_reproducible_and_seeded(tmp_path, capsys):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        assert run(capsys, "train", "--epochs", "20", "--seed", seed, "--out",
                   tmp_path / f"{name}.npz", *FAST)[0] == 0
    a, b, c = (dnn.load(tmp_path / f"{name}.npz").parameters["W1"] for name in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_train_without_test_split(tmp_path, capsys):
    status, out, _ = run(capsys, "train", "--test-split", "0", "--epochs", "10",
                         "--out", tmp_path / "m.npz", *FAST)
    assert status == 0 and "400 training samples" in out and "test accuracy" not in out


def test_train_on_a_csv_with_a_header_and_named_string_labels(tmp_path, capsys):
    X, y = datasets.make_spirals(n_samples=150, n_classes=3, noise=0.1, seed=0)
    names = np.array(["red", "green", "blue"])[y]
    data = write_csv(tmp_path / "spirals.csv", X, names, header=["species", "x1", "x2"],
                     target_first=True)
    model = tmp_path / "m.npz"
    status, out, err = run(capsys, "train", "--data", data, "--target", "species",
                           "--layers", "32", "--epochs", "600", "--lr", "0.03",
                           "--out", model, *FAST)
    assert status == 0, err
    assert "120 training samples of 2 features, 30 test samples" in out
    assert "classes [blue, green, red]" in out and "softmax output" in out
    assert accuracy(out, "train") > 90
    assert dnn.load(model).layer_dims == [2, 32, 3]
    # predict: labels come back as the names; the label column gives the accuracy
    status, out, err = run(capsys, "predict", "--model", model, "--data", data,
                           "--target", "species")
    assert status == 0, err
    predictions = out.split()
    assert len(predictions) == 150 and set(predictions) <= {"red", "green", "blue"}
    assert np.mean(np.array(predictions) == names) > 0.9
    assert re.search(r"accuracy: \d+\.\d% on 150 samples", err)


def test_train_on_a_csv_without_header_target_by_index(tmp_path, capsys):
    X, y = datasets.make_moons(n_samples=100, noise=0.1, seed=0)
    data = write_csv(tmp_path / "moons.csv", X, y, target_first=True)
    status, out, err = run(capsys, "train", "--data", data, "--target", "0", "--epochs", "300",
                           "--lr", "0.05", "--out", tmp_path / "m.npz", *FAST)
    assert status == 0, err
    assert "80 training samples of 2 features" in out and "classes [0, 1]" in out
    assert accuracy(out, "train") > 90


def test_csv_with_byte_order_mark_quotes_and_blank_lines(tmp_path, capsys):
    X, y = datasets.make_moons(n_samples=40, noise=0.1, seed=2)
    rows = X.tolist()
    lines = ['"x1","x2","label"'] + [f'"{a!r}",{b!r},"{c}"' for (a, b), c in zip(rows, y)]
    lines.insert(5, "")
    data = tmp_path / "quoted.csv"
    data.write_text("\ufeff" + "\n".join(lines) + "\n\n", encoding="utf-8")
    parsed = cli.read_data(data)
    np.testing.assert_array_equal(parsed.X, X)
    assert parsed.y.dtype == np.int64 and parsed.y.tolist() == y.tolist()
    # text labels go through the csv module: same numbers
    text = tmp_path / "text.csv"
    text.write_text("\n".join(f"{a!r},{b!r},{'ab'[c]}" for (a, b), c in zip(rows, y)))
    parsed = cli.read_data(text)
    np.testing.assert_array_equal(parsed.X, X)
    assert parsed.y.tolist() == ["ab"[c] for c in y]


def test_train_regression_on_a_csv_and_predict_values(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (120, 3))
    target = X @ [1.5, -2.0, 0.5] + 0.3
    data = write_csv(tmp_path / "reg.csv", X, target, header=["a", "b", "c", "y"])
    model = tmp_path / "reg.npz"
    status, out, err = run(capsys, "train", "--data", data, "--output", "linear",
                           "--layers", "", "--epochs", "400", "--lr", "0.05",
                           "--out", model, *FAST)
    assert status == 0, err
    assert "linear output" in out
    mse = float(re.search(r"test mse: ([\d.e-]+)", out).group(1))
    assert mse < 1e-3
    features = write_csv(tmp_path / "new.csv", X[:5], X[:5, 0], header=["a", "b", "c", "y"])
    preds = tmp_path / "preds.csv"
    status, _, err = run(capsys, "predict", "--model", model, "--data", features,
                         "--out", preds)
    assert status == 0, err
    lines = preds.read_text().split()
    assert lines[0] == "prediction" and len(lines) == 6
    np.testing.assert_allclose([float(v) for v in lines[1:]], target[:5], atol=0.1)


def test_train_on_npz_with_and_without_its_own_test_set(tmp_path, capsys):
    X, y = datasets.make_moons(n_samples=120, noise=0.1, seed=1)
    plain = tmp_path / "moons.npz"
    np.savez(plain, X=X, y=y.astype(np.float32))  # whole-number floats are class labels
    status, out, err = run(capsys, "train", "--data", plain, "--epochs", "200",
                           "--out", tmp_path / "a.npz", *FAST)
    assert status == 0, err
    assert "96 training samples of 2 features, 24 test samples (0.2 of the data" in out
    split = tmp_path / "split.npz"
    np.savez(split, X=X[:100], y=y[:100], X_test=X[100:], y_test=y[100:])
    model = tmp_path / "b.npz"
    status, out, err = run(capsys, "train", "--data", split, "--epochs", "200",
                           "--out", model, *FAST)
    assert status == 0, err
    assert "100 training samples of 2 features, 20 test samples" in out
    assert "(X_test, y_test)" in out
    # predict on an npz holding only X
    only_x = tmp_path / "x.npz"
    np.savez(only_x, X=X[:7])
    status, out, err = run(capsys, "predict", "--model", model, "--data", only_x)
    assert status == 0, err
    assert out.split() == [str(v) for v in dnn.load(model).predict(X[:7])]


def test_train_on_cat_h5_files_uses_the_test_file_beside(tmp_path, capsys):
    h5py = pytest.importorskip("h5py", reason="the cat/non-cat files are HDF5")
    rng = np.random.default_rng(0)
    for part, m in (("train", 40), ("test", 10)):
        y = np.arange(m) % 2
        x = rng.integers(0, 100, (m, 3, 3, 3)).astype(np.uint8)
        x[y == 1] += 120  # cats are brighter
        with h5py.File(tmp_path / f"{part}_catvnoncat.h5", "w") as file:
            file[f"{part}_set_x"], file[f"{part}_set_y"] = x, y
            file["list_classes"] = np.array([b"non-cat", b"cat"])
    model = tmp_path / "cat.npz"
    status, out, err = run(capsys, "train", "--data", tmp_path / "train_catvnoncat.h5",
                           "--epochs", "100", "--out", model, *FAST)
    assert status == 0, err
    assert "40 training samples of 27 features, 10 test samples" in out
    assert "test_catvnoncat.h5" in out and "classes [non-cat, cat]" in out
    assert accuracy(out, "test") == 100.0
    status, out, err = run(capsys, "predict", "--model", model,
                           "--data", tmp_path / "test_catvnoncat.h5")
    assert status == 0, err
    assert out.split() == ["non-cat", "cat"] * 5
    assert "accuracy: 100.0% on 10 samples" in err
    status, out, _ = run(capsys, "info", "--model", model)
    assert "classes: [non-cat, cat]" in out


def test_train_on_mnist_idx_folder_and_images_file(tmp_path, capsys):
    folder = write_idx_digits(tmp_path / "mnist")
    model = tmp_path / "digits.npz"
    status, out, err = run(capsys, "train", "--data", folder, "--epochs", "60",
                           "--out", model, *FAST)
    assert status == 0, err
    assert "80 training samples of 16 features, 20 test samples" in out
    assert "classes [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" in out and "softmax output" in out
    assert accuracy(out, "test") == 100.0
    assert dnn.load(model).layer_dims == [16, 8, 10]
    images = folder / "train-images.idx3-ubyte.gz"
    status, out, err = run(capsys, "train", "--data", images, "--epochs", "60",
                           "--out", tmp_path / "d2.npz", *FAST)
    assert status == 0, err
    assert "64 training samples of 16 features, 16 test samples" in out
    status, out, err = run(capsys, "predict", "--model", model, "--data",
                           folder / "t10k-images.idx3-ubyte.gz")
    assert status == 0, err
    assert out.split() == ["0", "7"] * 10


def test_train_on_the_real_mnist_briefly(tmp_path, capsys):
    folder = DATA / "mnist"
    if not folder.is_dir():
        pytest.skip(f"the MNIST files are not at {folder}")
    status, out, err = run(capsys, "train", "--data", folder, "--layers", "32",
                           "--activation", "relu", "--epochs", "1", "--dtype", "float32",
                           "--out", tmp_path / "mnist.npz", *FAST)
    assert status == 0, err
    assert "60000 training samples of 784 features, 10000 test samples" in out
    assert accuracy(out, "test") > 90


# -- info, predict, bench ---------------------------------------------------------

def test_info_describes_the_model(tmp_path, capsys):
    model = tmp_path / "m.npz"
    assert run(capsys, "train", "--layers", "5,3", "--epochs", "4", "--out", model, *FAST)[0] == 0
    status, out, err = run(capsys, "info", "--model", model)
    assert status == 0, err
    assert f"model: {model}" in out
    assert ("layers: [2, 5, 3, 1] (input 2; hidden: 5 tanh, 3 tanh; output 1 sigmoid, "
            "loss binary_crossentropy)") in out
    assert "dtype: float64" in out
    assert f"parameters: {2 * 5 + 5 + 5 * 3 + 3 + 3 + 1}" in out
    assert "epochs trained: 4" in out and "optimizer: adam" in out
    assert "classes: [0, 1]" in out


def test_predict_on_a_saved_python_network_without_classes(tmp_path, capsys):
    net = dnn.Network([2, 3, 4], "relu", "softmax", seed=0)
    model = tmp_path / "py.npz"
    net.save(model)
    data = tmp_path / "x.csv"
    X = np.random.default_rng(0).standard_normal((6, 2))
    write_csv(data, X[:, :1], X[:, 1])  # two numeric columns, no label column
    status, out, err = run(capsys, "predict", "--model", model, "--data", data)
    assert status == 0, err
    assert out.split() == [str(v) for v in net.predict(X)]
    assert "accuracy" not in err
    status, out, _ = run(capsys, "info", "--model", model)
    assert "optimizer: not saved" in out and "classes" not in out


def test_bench_prints_the_ratio(capsys, monkeypatch):
    monkeypatch.setattr(_bench, "CONFIGS", [("tiny [2,3,1] m=16", [2, 3, 1], 16, np.float64)])
    status, out, err = run(capsys, "bench", "--repeats", "1")
    assert status == 0, err
    assert "BLAS on 1 thread" in out
    row = re.search(r"tiny \[2,3,1\] m=16 +([\d.]+) us +([\d.]+) us +([\d.]+)x", out)
    assert row, out
    engine, numpy, ratio = map(float, row.groups())
    assert engine > 0 and numpy > 0
    assert ratio == pytest.approx(numpy / engine, rel=0.1)


@pytest.mark.parametrize("dims", [[3, 5, 4, 1], [4, 6, 3], [2, 1]])
def test_bench_numpy_step_is_the_engines_step(dims):
    X, Y, params, output = _bench.problem(dims, 17, np.float64, seed=1)
    net, rows, labels = _bench.engine_network(X, Y, params, output)
    start = {key: value.copy() for key, value in params.items()}
    net.fit(rows, labels, epochs=4, optimizer="gd", learning_rate=0.5)
    costs = [_bench.numpy_step(X, Y, params, 0.5, output) for _ in range(4)]
    for key in params:
        assert not np.allclose(params[key], start[key]) or key.startswith("b")
        np.testing.assert_allclose(net.parameters[key], params[key], rtol=0, atol=1e-12)
    np.testing.assert_allclose(costs, net.history_.cost, rtol=1e-12)


# -- errors: one line, status 2 ------------------------------------------------------

def expect_error(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2, (argv, out, err)
    assert err.startswith("dnn: error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["train", "--lr", "0"], "argument --lr: expected a number > 0, got '0'"),
    (["train", "--lr", "fast"], "argument --lr: expected a number > 0, got 'fast'"),
    (["train", "--lr", "nan"], "argument --lr: expected a number > 0, got 'nan'"),
    (["train", "--epochs", "0"], "argument --epochs: expected an integer >= 1, got '0'"),
    (["train", "--epochs", "2.5"], "argument --epochs: expected an integer >= 1"),
    (["train", "--batch-size", "-4"], "argument --batch-size: expected an integer >= 1"),
    (["train", "--l2", "-1"], "argument --l2: expected a number >= 0"),
    (["train", "--dropout", "1"], "argument --dropout: expected a number >= 0 and < 1, got '1'"),
    (["train", "--test-split", "1.5"], "argument --test-split: expected a number >= 0 and < 1"),
    (["train", "--seed", "-1"], "argument --seed: expected an integer >= 0"),
    (["train", "--layers", "4,a"], "argument --layers: expected comma-separated sizes >= 1"),
    (["train", "--layers", "4,0"], "argument --layers: expected comma-separated sizes >= 1"),
    (["train", "--activation", "swish"], "argument --activation: invalid choice: 'swish'"),
    (["train", "--output", "relu"], "argument --output: invalid choice: 'relu'"),
    (["train", "--optimizer", "lbfgs"], "argument --optimizer: invalid choice"),
    (["train", "--dtype", "float16"], "argument --dtype: invalid choice"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["fly"], "invalid choice: 'fly'"),
    (["predict", "--data", "x.csv"], "the following arguments are required: --model"),
    (["info"], "the following arguments are required: --model"),
    (["bench", "--repeats", "0"], "argument --repeats: expected an integer >= 1"),
])
def test_bad_options(capsys, argv, message):
    expect_error(capsys, argv, message)


def test_no_command_prints_help_and_fails(capsys):
    status, out, err = run(capsys)
    assert status == 2 and "usage: dnn" in err and "train" in err


def test_data_errors(tmp_path, capsys):
    out = ["--out", tmp_path / "m.npz", *FAST]
    expect_error(capsys, ["train", "--data", tmp_path / "absent.csv", *out],
                 "--data: no such file or folder:")
    (tmp_path / "data.txt").write_text("1,2,3\n")
    expect_error(capsys, ["train", "--data", tmp_path / "data.txt", *out],
                 "--data: unknown format of")
    expect_error(capsys, ["train", "--out", tmp_path / "no" / "where.npz", *FAST],
                 "--out: no such folder:")
    expect_error(capsys, ["train", "--quiet", "--plot", tmp_path / "no" / "where.png", *out[:2]],
                 "--plot: no such folder:")
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("a,b,label\n1,2,0\n3,4\n")
    expect_error(capsys, ["train", "--data", csv_path, *out], "d.csv: line 3 has 2 columns, "
                                                               "expected 3")
    csv_path.write_text("a,b,label\n1,2,0\n3,x,1\n")
    expect_error(capsys, ["train", "--data", csv_path, *out],
                 "d.csv: line 3, column 2 ('b'): expected a number, got 'x'")
    csv_path.write_text("1,2,0\n3,4,1\n")
    expect_error(capsys, ["train", "--data", csv_path, "--target", "label", *out],
                 "--target: 'label' is a column name, but")
    csv_path.write_text("a,b,label\n1,2,0\n3,4,1\n")
    expect_error(capsys, ["train", "--data", csv_path, "--target", "class", *out],
                 "--target: no column 'class' in")
    expect_error(capsys, ["train", "--data", csv_path, "--target", "3", *out],
                 "--target: column 3 is out of range")
    csv_path.write_text("")
    expect_error(capsys, ["train", "--data", csv_path, *out], "d.csv: no data")
    X = np.arange(20.0).reshape(10, 2)
    write_csv(csv_path, X, X[:, 0] + 0.5)
    expect_error(capsys, ["train", "--data", csv_path, *out],
                 ".5); use --output linear for regression")
    write_csv(csv_path, X, ["a"] * 10)
    expect_error(capsys, ["train", "--data", csv_path, "--output", "linear", *out],
                 "--output linear needs numeric targets")
    write_csv(csv_path, X, [1] * 10)
    expect_error(capsys, ["train", "--data", csv_path, *out],
                 "expected at least 2 classes, got only '1'")
    write_csv(csv_path, X, np.arange(10) % 3)
    expect_error(capsys, ["train", "--data", csv_path, "--output", "sigmoid", *out],
                 "--output sigmoid: expected 2 classes, the data have 3; use softmax")
    write_csv(csv_path, X[:2], [0, 1])
    expect_error(capsys, ["train", "--data", csv_path, *out],
                 "--test-split: 0.2 of 2 samples leaves 0 for testing")
    write_csv(csv_path, X, np.arange(10) % 2)
    expect_error(capsys, ["train", "--data", csv_path, "--layers", "", "--dropout", "0.5",
                          *out], "--dropout: the network has no hidden layer")
    csv_path.write_text("a,b,y\n1,nan,0\n2,3,1\n")
    expect_error(capsys, ["train", "--data", csv_path, *out],
                 "d.csv: the features hold NaN or inf")
    csv_path.write_bytes(b"1,2,\xff\xfe\n")
    expect_error(capsys, ["train", "--data", csv_path, *out], "d.csv: not a UTF-8 text file")
    csv_path.write_text("a,b,y\n")
    expect_error(capsys, ["train", "--data", csv_path, *out], "line 1, column 1: expected a "
                                                              "number, got 'a'")


def test_npz_data_errors(tmp_path, capsys):
    out = ["--out", tmp_path / "m.npz", *FAST]
    path = tmp_path / "d.npz"
    path.write_bytes(b"not a zip")
    expect_error(capsys, ["train", "--data", path, *out], "d.npz: not an .npz archive")
    np.savez(path, X=np.zeros((4, 2)))
    expect_error(capsys, ["train", "--data", path, *out], "d.npz: expected arrays X and y, "
                                                          "found X")
    np.savez(path, X=np.zeros(4), y=np.zeros(4))
    expect_error(capsys, ["train", "--data", path, *out], "d.npz: X: expected a numeric array")
    np.savez(path, X=np.zeros((4, 2)), y=np.zeros(3))
    expect_error(capsys, ["train", "--data", path, *out], "d.npz: y: expected 4 labels")
    np.savez(path, X=np.zeros((4, 2)), y=np.zeros(4), X_test=np.zeros((2, 2)))
    expect_error(capsys, ["train", "--data", path, *out], "X_test and y_test come together")
    np.savez(path, X=np.zeros((4, 2)), y=np.zeros(4), X_test=np.zeros((2, 3)), y_test=np.zeros(2))
    expect_error(capsys, ["train", "--data", path, *out], "X_test has 3 features, X has 2")
    np.savez(path, X=np.zeros((4, 2)), y=np.r_[0, 1, 0, 1])
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    expect_error(capsys, ["train", "--data", path, *out], "d.npz:")


def test_damaged_idx_and_h5_data(tmp_path, capsys):
    out = ["--out", tmp_path / "m.npz", *FAST]
    folder = write_idx_digits(tmp_path / "mnist")
    images = folder / "train-images.idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-20])
    expect_error(capsys, ["train", "--data", folder, *out],
                 f"{images}: damaged gzip file")
    lone = tmp_path / "lone-images-idx3-ubyte"
    lone.write_bytes(idx_bytes(np.zeros((3, 2, 2))))
    expect_error(capsys, ["train", "--data", lone, *out],
                 "expected the IDX labels beside the images, at")
    (tmp_path / "lone-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(2)))
    expect_error(capsys, ["train", "--data", lone, *out], "2 labels for the 3 images")
    h5 = tmp_path / "train_catvnoncat.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    expect_error(capsys, ["train", "--data", h5, *out], "not a readable HDF5 file")


def test_model_errors(tmp_path, capsys):
    model = tmp_path / "m.npz"
    assert run(capsys, "train", "--epochs", "3", "--out", model, *FAST)[0] == 0
    data = tmp_path / "x.csv"
    write_csv(data, np.zeros((4, 2)), np.zeros(4))  # 3 columns: 2 features + a label
    for command in (["info"], ["predict", "--data", data]):
        expect_error(capsys, [*command, "--model", tmp_path / "absent.npz"],
                     "--model: no such file:")
        garbage = tmp_path / "garbage.npz"
        garbage.write_bytes(b"hello")
        expect_error(capsys, [*command, "--model", garbage], "not a dnn model file")
        cut = tmp_path / "cut.npz"
        cut.write_bytes(model.read_bytes()[:-200])
        expect_error(capsys, [*command, "--model", cut], "cut.npz")
        foreign = tmp_path / "foreign.npz"
        np.savez(foreign, X=np.zeros(3))
        expect_error(capsys, [*command, "--model", foreign],
                     "damaged model file: field 'format' is missing")
    fields = dict(np.load(model))
    fields["classes"] = np.array([0, 1, 2])
    bad_classes = tmp_path / "bad_classes.npz"
    np.savez(bad_classes, **fields)
    expect_error(capsys, ["info", "--model", bad_classes],
                 "bad_classes.npz: damaged model file: 3 classes for a sigmoid output of 1 units")
    wide = tmp_path / "wide.csv"
    write_csv(wide, np.zeros((4, 4)), np.zeros(4))
    expect_error(capsys, ["predict", "--model", model, "--data", wide],
                 "wide.csv: 5 features per sample, the model")
    expect_error(capsys, ["predict", "--model", model, "--data", data,
                          "--out", tmp_path / "no" / "p.csv"], "--out: no such folder")


def test_divergence_is_one_line(tmp_path, capsys):
    data = tmp_path / "big.csv"
    X = np.random.default_rng(0).standard_normal((50, 2)) * 1e150
    write_csv(data, X, X[:, 0])
    expect_error(capsys, ["train", "--data", data, "--output", "linear", "--optimizer", "gd",
                          "--lr", "1", "--out", tmp_path / "m.npz", *FAST],
                 "training diverged")


# -- the installed command, end to end ------------------------------------------------

def installed_dnn():
    beside = Path(sys.executable).parent / "dnn"
    return str(beside) if beside.exists() else shutil.which("dnn")


@pytest.mark.skipif(installed_dnn() is None, reason="the dnn console script is not installed")
def test_console_script_end_to_end(tmp_path):
    dnn_script = installed_dnn()
    result = subprocess.run([dnn_script, "train"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "train accuracy" in result.stdout and "test accuracy" in result.stdout
    assert (tmp_path / "dnn-model.npz").is_file()
    data = write_csv(tmp_path / "points.csv", [[0.0, 1.0], [2.0, -1.0]], [0, 1])
    result = subprocess.run([dnn_script, "predict", "--model", "dnn-model.npz", "--data",
                             "points.csv", "--out", "p.csv"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "p.csv").read_text().split()[0] == "prediction"
    assert data.exists()
    result = subprocess.run([dnn_script, "info", "--model", "absent.npz"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "dnn: error: --model: no such file: absent.npz\n"


def test_python_dash_m_dnn_runs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dnn", "info", "--model", "absent.npz"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "dnn: error: --model: no such file: absent.npz\n"
    result = subprocess.run([sys.executable, "-m", "dnn", "train", "--epochs", "5",
                             "--quiet", "--no-plot"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "train accuracy" in result.stdout
