"""dnn.sklearn behaves as scikit-learn's MLPClassifier / MLPRegressor where a
user would notice (issue 13): initialisation, iteration counts, stopping,
divergence, feature names, weight assignment and messages. scikit-learn's
estimators are the oracle wherever they can be."""
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402

from dnn.sklearn import DNNClassifier, DNNRegressor  # noqa: E402


def regression_data(n_samples=60, n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    y = X @ rng.standard_normal(n_features) + 0.1 * rng.standard_normal(n_samples)
    return X, y


def classification_data(n_samples=60, n_features=4, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    y = np.arange(n_samples) % n_classes
    X[:, 0] += y
    return X, y


def scikit_learn_initial_parameters(activation, layer_units, seed):
    """scikit-learn's initial coefs_ and intercepts_, from its own _initialize."""
    reference = MLPRegressor(activation=activation, random_state=seed)
    reference._random_state = check_random_state(seed)
    reference._initialize(np.zeros((1, layer_units[-1])), layer_units, np.float64)
    return reference.coefs_, reference.intercepts_


@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh"])
def test_initial_parameters_are_scikit_learns(activation):
    X, y = regression_data()
    # a learning rate of 1e-300 leaves the initial parameters as they were
    model = DNNRegressor(hidden_layer_sizes=(5, 3), activation=activation, solver="sgd",
                         momentum=0,
                         learning_rate_init=1e-300, max_iter=1, shuffle=False,
                         random_state=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    coefs, intercepts = scikit_learn_initial_parameters(activation, [4, 5, 3, 1], 7)
    for ours, theirs in zip(model.coefs_ + model.intercepts_, coefs + intercepts):
        np.testing.assert_array_equal(ours, theirs)


def test_lbfgs_follows_scikit_learns_path_from_the_same_seed():
    X, y = regression_data()
    settings = dict(hidden_layer_sizes=(6,), activation="tanh", solver="lbfgs", max_iter=5,
                    alpha=1e-3, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = DNNRegressor(**settings).fit(X, y)
        theirs = MLPRegressor(**settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 5
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_n_iter_counts_this_fit_and_warm_start_warns_again(solver):
    X, y = regression_data()
    model = DNNRegressor(hidden_layer_sizes=(4,), solver=solver, max_iter=3, warm_start=True,
                         tol=0,
                         n_iter_no_change=np.inf, random_state=0)
    for _ in range(2):
        with pytest.warns(ConvergenceWarning):
            model.fit(X, y)
        assert model.n_iter_ == 3


@pytest.mark.parametrize("Ours, Theirs", [(DNNRegressor, MLPRegressor),
                                          (DNNClassifier, MLPClassifier)])
def test_partial_fit_counts_as_scikit_learn(Ours, Theirs):
    X, y = classification_data()
    counts = []
    for Estimator in (Ours, Theirs):
        # (keywords: MLPRegressor's first positional parameter is loss)
        model = Estimator(hidden_layer_sizes=(4,), random_state=0)
        classifier = Estimator in (DNNClassifier, MLPClassifier)
        extra = {"classes": np.unique(y)} if classifier else {}
        for _ in range(3):
            model.partial_fit(X, y, **extra)
        counts.append((model.n_iter_, model.t_))
    assert counts[0] == counts[1] == (1, 3 * len(X))


def test_n_iter_no_change_inf_never_stops():
    X, y = regression_data()
    model = DNNRegressor(hidden_layer_sizes=(4,), solver="sgd", tol=1e9,
                         n_iter_no_change=np.inf, max_iter=12,
                         random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    assert model.n_iter_ == 12
    with pytest.raises(ValueError, match="n_iter_no_change"):
        DNNRegressor(n_iter_no_change=0).fit(X, y)


def test_divergence_with_early_stopping_ends_as_scikit_learns():
    X, y = regression_data(150)
    model = DNNRegressor(hidden_layer_sizes=100, activation="identity", solver="sgd",
                         learning_rate_init=1,
                         max_iter=20, early_stopping=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(X, y * 1e6)
    assert np.isnan(model.validation_scores_[-1])
    assert isinstance(model.validation_scores_[-1], float)
    assert np.all(np.isfinite(model.predict(X)))
    # NaN scores never stop early: scikit-learn runs to max_iter
    assert model.n_iter_ == len(model.validation_scores_) == len(model.loss_curve_) == 20
    assert np.isnan(model.loss_)


def test_divergence_without_early_stopping_raises_scikit_learns_text():
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.standard_normal(10)
    message = ("Solver produced non-finite parameter weights. The input data may contain "
               "large values and need to be preprocessed.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ours_or_theirs in (DNNRegressor(), MLPRegressor()):
            with pytest.raises(ValueError, match=re.escape(message)):
                ours_or_theirs.fit(X, y)


@pytest.mark.parametrize("Estimator", [DNNClassifier, DNNRegressor])
def test_dataframe_with_early_stopping_does_not_warn(Estimator):
    pd = pytest.importorskip("pandas")
    X, y = classification_data(n_classes=2)
    X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        Estimator((4,), early_stopping=True, max_iter=5, random_state=0).fit(X, y)


def test_coefs_and_intercepts_are_assignable():
    X, y = regression_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = DNNRegressor(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)
    model.coefs_ = [np.zeros((4, 5)), np.zeros((5, 1))]
    model.intercepts_ = [np.zeros(5), np.array([2.5])]
    np.testing.assert_array_equal(model.predict(X), np.full(len(X), 2.5))
    assert model.network_.parameters["b2"][0, 0] == 2.5
    with pytest.raises(ValueError, match=r"coefs_\[1\]: expected shape \(5, 1\)"):
        model.coefs_ = [np.zeros((4, 5)), np.zeros((5, 2))]
    with pytest.raises(ValueError, match="intercepts_: expected 2 arrays"):
        model.intercepts_ = [np.zeros(5)]


def test_scikit_learns_messages_are_kept():
    X, y = classification_data()
    model = DNNClassifier(hidden_layer_sizes=(4,), warm_start=True, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    with pytest.raises(ValueError, match=re.escape(
            "warm_start can only be used where `y` has the same classes as in the previous "
            "call to fit. Previously got [0 1 2], `y` has [0 1]")):
        model.fit(X[y < 2], y[y < 2])
    with pytest.raises(ValueError, match="The validation set is too small"):
        DNNRegressor(early_stopping=True).fit(*regression_data(2))
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        DNNRegressor(early_stopping=True).partial_fit(*regression_data())


def targets_of_each_kind():
    """X and {kind: (our class, scikit-learn's, y)}: regression, binary,
    multiclass, multilabel."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4))
    binary = (X[:, 0] > 0).astype(int)
    return X, {
        "regression": (DNNRegressor, MLPRegressor, X @ rng.standard_normal(4)),
        "binary": (DNNClassifier, MLPClassifier, binary),
        "multiclass": (DNNClassifier, MLPClassifier, np.arange(80) % 3),
        "multilabel": (DNNClassifier, MLPClassifier, np.c_[binary, X[:, 1] > 0]),
    }


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "partial_fit"])
def test_same_seed_same_path_as_scikit_learn(kind, weighted, solver):
    """From scikit-learn's initial point, L-BFGS and plain sgd (no momentum,
    no shuffle) take scikit-learn's steps, with and without sample_weight,
    for every kind of target (partial_fit: with classes, twice)."""
    X, kinds = targets_of_each_kind()
    Ours, Theirs, y = kinds[kind]
    sample_weight = np.random.default_rng(1).uniform(0, 3, len(X)) if weighted else None
    settings = dict(hidden_layer_sizes=(5,), activation="logistic", alpha=0.01,
                    random_state=1, max_iter=4)
    if solver != "lbfgs":
        settings.update(solver="sgd", momentum=0, shuffle=False, batch_size=20,
                        learning_rate_init=0.1)
    else:
        settings.update(solver="lbfgs")
    models = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for Estimator in (Ours, Theirs):
            model = Estimator(**settings)
            if solver == "partial_fit":
                classes = ({"classes": np.unique(y)}
                           if Estimator in (DNNClassifier, MLPClassifier) else {})
                for _ in range(2):
                    model.partial_fit(X, y, sample_weight=sample_weight, **classes)
            else:
                model.fit(X, y, sample_weight=sample_weight)
            models.append(model)
    ours, theirs = models
    assert (ours.n_iter_, getattr(ours, "t_", 0)) == (theirs.n_iter_, getattr(theirs, "t_", 0))
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass"])
def test_early_stopping_splits_and_scores_as_scikit_learn(kind):
    """An integer random_state gives scikit-learn's validation split (its
    draws come after the initial weights'), so the validation scores and the
    best weights restored are scikit-learn's."""
    X, kinds = targets_of_each_kind()
    Ours, Theirs, y = kinds[kind]
    settings = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0, shuffle=False,
                    batch_size=20, max_iter=6, random_state=3, learning_rate_init=0.1,
                    early_stopping=True, validation_fraction=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = Ours(**settings).fit(X, y), Theirs(**settings).fit(X, y)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_,
                               rtol=1e-12)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("learning_rate", ["constant", "adaptive", "invscaling"])
@pytest.mark.parametrize("n_iter_no_change", [2, 5, np.inf])
def test_stops_in_the_same_epoch_as_scikit_learn(learning_rate, n_iter_no_change):
    """On scikit-learn's path (same seed, plain sgd, no shuffle), the training
    loss stalls, the adaptive rate drops and the fit stops where scikit-learn's do."""
    X, kinds = targets_of_each_kind()
    Ours, Theirs, y = kinds["binary"]
    settings = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0, shuffle=False,
                    batch_size=20, max_iter=150, random_state=2, learning_rate_init=0.05,
                    learning_rate=learning_rate, tol=1e-2, n_iter_no_change=n_iter_no_change)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = Ours(**settings).fit(X, y), Theirs(**settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert (ours.n_iter_ == 150) == (n_iter_no_change == np.inf)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-9)
