"""The embedded flower dataset and the `dnn` command."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

from dnn import cli, datasets

from helpers import REFERENCE as R


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


def test_cli_train_reaches_the_course_accuracy(capsys):
    assert cli.main(["train"]) == 0
    out = capsys.readouterr().out
    assert "iteration      0  cost 0.69" in out
    accuracy = float(out.split("training accuracy: ")[1].split("%")[0])
    assert accuracy >= 88.0, out


def test_cli_reports_bad_options_without_traceback(capsys):
    assert cli.main(["train", "--lr", "-1", "--iterations", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dnn: error: learning_rate: expected a number >= 0.0")
    assert cli.main([]) == 2
    for argv, message in [(["--layers", "4,a"], "--layers: expected comma-separated sizes"),
                          (["--layers", "4,0"], "--layers: expected comma-separated sizes >= 1"),
                          (["--print-every", "0"], "--print-every: expected a number >= 1"),
                          (["--iterations", "-3"], "--iterations: expected a number >= 0"),
                          (["--m", "7"], "m: expected an even number")]:
        capsys.readouterr()
        assert cli.main(["train", *argv]) == 2
        assert capsys.readouterr().err.startswith(f"dnn: error: {message}"), argv


@pytest.mark.skipif(shutil.which("dnn") is None, reason="the dnn console script is not on PATH")
def test_console_script_runs():
    result = subprocess.run(["dnn", "train", "--iterations", "200", "--print-every", "100"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "training accuracy" in result.stdout


def test_python_dash_m_dnn_runs():
    result = subprocess.run([sys.executable, "-m", "dnn", "train", "--iterations", "10"],
                            capture_output=True, text=True, timeout=120, cwd="/")
    assert result.returncode == 0, result.stderr
