"""dnn.plot, headless (Agg): the PNGs are written and show something."""
import subprocess
import sys

import numpy as np
import pytest

import dnn
from dnn import datasets, plot

matplotlib = pytest.importorskip("matplotlib", reason="dnn.plot draws with matplotlib")
matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def saved_png(ax, path):
    """Save ax's figure; check it is a real, non-blank PNG; return its pixels."""
    ax.figure.savefig(path, dpi=60)
    plt.close(ax.figure)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 5000
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    colours = np.unique(pixels.reshape(-1, pixels.shape[-1]).round(2), axis=0)
    assert len(colours) > 20, "the image is (nearly) a single colour"
    return pixels


@pytest.fixture(scope="module")
def moons_net():
    X, y = datasets.make_moons(n_samples=200, noise=0.1, seed=0)
    net = dnn.Network([2, 8, 1], "tanh", "sigmoid", seed=0)
    history = net.fit(X, y, epochs=200, learning_rate=0.05, validation_split=0.2)
    return net, history, X, y


def test_cost_curve_of_a_history(tmp_path, moons_net):
    _, history, _, _ = moons_net
    ax = plot.cost_curve(history)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["training cost", "validation cost"]
    np.testing.assert_allclose(lines[0].get_ydata(), history.cost)
    np.testing.assert_allclose(lines[1].get_ydata(), history.val_cost)
    np.testing.assert_array_equal(lines[0].get_xdata(), history.epoch)
    saved_png(ax, tmp_path / "cost.png")


def test_cost_curve_of_a_list_and_of_a_mapping(tmp_path, moons_net):
    fig, ax = plt.subplots()
    assert plot.cost_curve([0.7, 0.5, 0.4, 0.35], ax=ax) is ax
    assert len(ax.get_lines()) == 1
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0, 1, 2, 3])
    saved_png(ax, tmp_path / "list.png")
    ax = plot.cost_curve(moons_net[1].history)
    assert len(ax.get_lines()) == 2
    plt.close(ax.figure)


def test_cost_curve_refuses_what_is_not_costs():
    with pytest.raises(ValueError, match="history: expected at least one cost"):
        plot.cost_curve([])
    with pytest.raises(ValueError, match="history: expected at least one cost"):
        plot.cost_curve(dnn.History())
    with pytest.raises(TypeError, match="history: expected a dnn.History"):
        plot.cost_curve(3.0)
    with pytest.raises(ValueError, match=r"history: expected a sequence of costs, got shape"):
        plot.cost_curve([[1, 2], [3, 4]])


def test_decision_boundary_of_a_network(tmp_path, moons_net):
    net, _, X, y = moons_net
    ax = plot.decision_boundary(net, X, y, resolution=50)
    assert len(ax.collections) >= 2  # filled regions and the points
    pixels = saved_png(ax, tmp_path / "boundary.png")
    # both classes' region colours appear (coolwarm's blue and red ends, faded)
    red, blue = pixels[..., 0], pixels[..., 2]
    assert np.mean(red - blue > 0.1) > 0.05 and np.mean(blue - red > 0.1) > 0.05


def test_decision_boundary_takes_any_predict_and_string_labels(tmp_path):
    class Quadrants:
        def predict(self, X):
            return np.where(X[:, 0] > 0, np.where(X[:, 1] > 0, "ne", "se"), "w")

    X, _ = datasets.make_spirals(n_samples=90, seed=1)
    y = Quadrants().predict(X)
    fig, ax = plt.subplots()
    assert plot.decision_boundary(Quadrants(), X, y, ax=ax, resolution=30) is ax
    saved_png(ax, tmp_path / "quadrants.png")


def test_decision_boundary_refuses_bad_input(moons_net):
    net, _, X, y = moons_net
    with pytest.raises(ValueError, match=r"X: expected shape \(n_samples, 2\).*got \(200, 3\)"):
        plot.decision_boundary(net, np.c_[X, X[:, 0]], y)
    with pytest.raises(ValueError, match=r"X: expected shape \(n_samples, 2\)"):
        plot.decision_boundary(net, X[:, 0], y)
    with pytest.raises(ValueError, match=r"y: expected shape \(200,\), got \(199,\)"):
        plot.decision_boundary(net, X, y[:-1])
    with pytest.raises(ValueError, match="resolution: expected an integer >= 2"):
        plot.decision_boundary(net, X, y, resolution=1)
    with pytest.raises(TypeError, match="model: expected an object with predict"):
        plot.decision_boundary(object(), X, y)

    class TwoColumns:
        def predict(self, X):
            return np.zeros((len(X), 2))
    with pytest.raises(ValueError, match="model: predict on .* returned shape"):
        plot.decision_boundary(TwoColumns(), X, y, resolution=5)


def test_import_dnn_does_not_import_matplotlib():
    code = "import sys, dnn, dnn.plot; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd="/", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
