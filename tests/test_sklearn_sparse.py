"""dnn.sklearn on scipy.sparse X (issue 11): never densified, the same model
as on the dense copy."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from dnn.sklearn import DNNClassifier, DNNRegressor

from helpers import no_densify  # noqa: F401 (a fixture)


def _data(m=150, n=40, seed=0):
    X = sp.random(m, n, density=0.1, format="csr", random_state=seed)
    y = np.random.default_rng(seed).integers(0, 3, m)
    return X, y


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X, y)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_classifier_sparse_equals_dense(solver, fmt):
    X, y = _data()
    Xd = X.toarray()
    params = dict(hidden_layer_sizes=(12,), solver=solver, max_iter=5, random_state=0,
                  batch_size=32, alpha=1e-3)
    sparse = _fit(DNNClassifier(**params), X.asformat(fmt), y)
    dense = _fit(DNNClassifier(**params), Xd, y)
    for a, b in zip(sparse.coefs_ + sparse.intercepts_, dense.coefs_ + dense.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(Xd), atol=1e-12)
    np.testing.assert_array_equal(sparse.predict(X.asformat(fmt)), dense.predict(Xd))


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_never_densified(solver, no_densify):
    X, y = _data()
    clf = _fit(DNNClassifier(hidden_layer_sizes=(8,), solver=solver, max_iter=3,
                             random_state=0), X, y)
    assert clf.predict(X).shape == (X.shape[0],)
    assert clf.score(X, y) >= 0
    reg = _fit(DNNRegressor(hidden_layer_sizes=(8,), solver=solver, max_iter=3,
                            random_state=0), sp.coo_matrix(X), y.astype(float))
    assert reg.predict(sp.csc_matrix(X)).shape == (X.shape[0],)


def test_partial_fit_and_early_stopping(no_densify):
    X, y = _data()
    clf = DNNClassifier(hidden_layer_sizes=(8,), random_state=0)
    for _ in range(3):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and clf.t_ == 3 * X.shape[0]   # as scikit-learn counts them
    reg = DNNRegressor(hidden_layer_sizes=(8,), random_state=0)
    reg.partial_fit(X, y.astype(float))
    _fit(DNNClassifier(hidden_layer_sizes=(8,), early_stopping=True, max_iter=5,
                       random_state=0), X, y)


def test_regressor_sparse_equals_dense():
    X, y = _data()
    t = y.astype(float) + X.sum(axis=1).A1 if hasattr(X.sum(axis=1), "A1") else y
    params = dict(hidden_layer_sizes=(10,), solver="adam", max_iter=4, random_state=1)
    a = _fit(DNNRegressor(**params), X, t)
    b = _fit(DNNRegressor(**params), X.toarray(), t)
    np.testing.assert_allclose(a.predict(X), b.predict(X.toarray()), atol=1e-10)


def test_float32_sparse():
    X, y = _data()
    X32 = X.astype(np.float32)
    clf = _fit(DNNClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0), X32, y)
    assert clf.coefs_[0].dtype == np.float32
    assert clf.predict_proba(X32).dtype == np.float32


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_weighted_sparse_fit_batch_by_batch_is_never_densified(solver, no_densify,
                                                               monkeypatch):
    """Unequal weights run one engine call per batch on the CSR's rows:
    scikit-learn's model and losses (plain sgd), X never densified."""
    from sklearn.neural_network import MLPClassifier
    X, y = _data()
    weights = np.random.default_rng(1).uniform(0, 2, X.shape[0])
    params = dict(hidden_layer_sizes=(12,), solver=solver, max_iter=4, random_state=0,
                  batch_size=32, alpha=1e-3, shuffle=False, momentum=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sparse = DNNClassifier(**params).fit(X, y, sample_weight=weights)
        # (no_densify's refusals off: scikit-learn densifies its own label matrix)
        monkeypatch.undo()
        theirs = MLPClassifier(**params).fit(X, y, sample_weight=weights)
    if solver == "sgd":   # (scikit-learn's Adam is not ours: see the README)
        np.testing.assert_allclose(sparse.loss_curve_, theirs.loss_curve_, rtol=1e-12)
        for a, b in zip(sparse.coefs_ + sparse.intercepts_,
                        theirs.coefs_ + theirs.intercepts_):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert len(sparse.loss_curve_) == sparse.n_iter_ == 4
