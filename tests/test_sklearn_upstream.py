"""scikit-learn's own MLP test module, run against :mod:`dnn.sklearn`.

The installed scikit-learn ships ``sklearn/neural_network/tests/test_mlp.py``.
At test time its text is copied into a temporary folder with its import of
``MLPClassifier`` and ``MLPRegressor`` replaced by ours, and run with pytest in
a child process (so that its collection is independent of ours), with
scikit-learn's conftest as a plugin (``-p sklearn.conftest``). Every one of
its tests must pass, except those in :data:`KNOWN_FAILURES`, each with the
reason it cannot (or does not yet) pass. A new failure fails this test, and so
does a known failure that now passes (remove it from the list).
"""
import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

sklearn = pytest.importorskip("sklearn")

UPSTREAM_PATH = (pathlib.Path(sklearn.__file__).parent / "neural_network" / "tests"
                 / "test_mlp.py")
UPSTREAM_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
OUR_IMPORT = ("from dnn.sklearn import DNNClassifier as MLPClassifier, "
              "DNNRegressor as MLPRegressor")
PRIVATE = "reads or writes scikit-learn's private internals: "
#: upstream test id -> why it fails with our classes
KNOWN_FAILURES = {
    "test_gradient": PRIVATE + "_loss_grad_lbfgs (scikit-learn's packed coefs-then-"
                     "intercepts parameter vector and its workspaces) against finite "
                     "differences; ours: tests/test_gradcheck.py, and lbfgs taking "
                     "scikit-learn's steps in tests/test_sklearn_semantics.py",
}


def upstream_source():
    """The upstream module's text with our classes in place of scikit-learn's."""
    source = UPSTREAM_PATH.read_text()
    assert UPSTREAM_IMPORT in source, "scikit-learn's test module changed its import"
    return source.replace(UPSTREAM_IMPORT, OUR_IMPORT)


def outcomes(report_path):
    """{test id: "passed" | "failed" | "skipped"} from a JUnit XML report."""
    result = {}
    for case in ElementTree.parse(report_path).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        result[case.get("name")] = outcome
    return result


def known_reason(test_id):
    """The reason a test is expected to fail, or None (the parametrized
    ids ``name[params]`` match an entry for ``name`` or for ``name[params]``)."""
    return KNOWN_FAILURES.get(test_id, KNOWN_FAILURES.get(test_id.split("[")[0]))


@pytest.mark.skipif(not UPSTREAM_PATH.exists(),
                    reason="this scikit-learn was installed without its tests")
def test_scikit_learn_mlp_tests_pass_on_our_classes(tmp_path):
    (tmp_path / "test_mlp_dnn.py").write_text(upstream_source())
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    report = tmp_path / "report.xml"
    environment = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    run = subprocess.run(
        # (scikit-learn's conftest gives the global_random_seed fixture)
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "sklearn.conftest", "-W",
         "ignore::DeprecationWarning", f"--junitxml={report}", "test_mlp_dnn.py"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
    assert report.exists(), run.stdout[-4000:] + run.stderr[-4000:]
    results = outcomes(report)
    assert len(results) > 50, run.stdout[-4000:]
    new_failures = sorted(t for t, o in results.items()
                          if o == "failed" and not known_reason(t))
    now_passing = sorted(t for t, o in results.items() if o == "passed" and known_reason(t))
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    assert not new_failures, (f"scikit-learn's tests failing with our classes ({summary}): "
                              f"{new_failures}\n{run.stdout[-6000:]}")
    assert not now_passing, f"known failures that now pass (remove them): {now_passing}"
