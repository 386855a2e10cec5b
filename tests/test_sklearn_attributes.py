"""dnn.sklearn keeps scikit-learn's attributes as MLPClassifier / MLPRegressor
keep them (issue 13): loss_ with sample_weight, lbfgs's attributes, coefs_ and
intercepts_ assigned before or after a fit, the learning rate and the count of
epochs without improvement, the Poisson loss. scikit-learn's estimators are the
oracle, on the same data from the same seed."""
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402

from dnn.sklearn import DNNClassifier, DNNRegressor  # noqa: E402

#: the attributes scikit-learn's stochastic solvers keep and lbfgs does not set
STOCHASTIC_ONLY = ("loss_curve_", "best_loss_", "validation_scores_",
                   "best_validation_score_")


def data(kind, n_samples=80, seed=0):
    """X, y and (our class, scikit-learn's) for a kind of target."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, 4))
    binary = (X[:, 0] > 0).astype(int)
    targets = {
        "regression": (DNNRegressor, MLPRegressor, X @ rng.standard_normal(4)),
        "poisson": (DNNRegressor, MLPRegressor,
                    rng.poisson(np.exp(X @ np.array([0.3, -0.2, 0.1, 0.4])))),
        "binary": (DNNClassifier, MLPClassifier, binary),
        "multiclass": (DNNClassifier, MLPClassifier, np.arange(n_samples) % 3),
        "multilabel": (DNNClassifier, MLPClassifier, np.c_[binary, X[:, 1] > 0]),
    }
    Ours, Theirs, y = targets[kind]
    return X, y, Ours, Theirs


def both(Ours, Theirs, settings, fit):
    """``fit(model)`` on ours and on scikit-learn's, with these settings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return [fit(Estimator(**settings)) for Estimator in (Ours, Theirs)]


def assert_same_parameters(ours, theirs, rtol=1e-9, atol=1e-12):
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def sgd_settings(**changes):
    """Plain sgd without shuffles: scikit-learn's path exactly, from its seed."""
    settings = dict(hidden_layer_sizes=(5,), activation="logistic", alpha=0.01,
                    random_state=1, max_iter=6, solver="sgd", momentum=0, shuffle=False,
                    batch_size=20, learning_rate_init=0.1)
    settings.update(changes)
    return settings


# -- loss_ with sample_weight ----------------------------------------------------

@pytest.mark.parametrize("kind", ["regression", "poisson", "binary", "multiclass",
                                  "multilabel"])
def test_weighted_loss_is_scikit_learns(kind):
    """scikit-learn averages the batches' weighted losses by their numbers of
    samples: loss_curve_ and loss_ equal its values, epoch by epoch."""
    X, y, Ours, Theirs = data(kind)
    weights = np.random.default_rng(1).uniform(0, 3, len(X))
    settings = sgd_settings(loss="poisson") if kind == "poisson" else sgd_settings()
    ours, theirs = both(Ours, Theirs, settings,
                        lambda model: model.fit(X, y, sample_weight=weights))
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-12)
    assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-12)
    assert_same_parameters(ours, theirs)


def test_weighted_loss_stops_in_scikit_learns_epoch():
    """The training loss decides when a fit stops: with sample weights it
    stops in the epoch scikit-learn's stops."""
    X, y, Ours, Theirs = data("binary")
    # (uneven weights: the epochs' losses averaged by weight, as the engine
    # reports them, stop one epoch earlier here)
    weights = np.random.default_rng(2).exponential(1.0, len(X)) ** 2
    settings = sgd_settings(max_iter=300, tol=1e-3, n_iter_no_change=2,
                            learning_rate_init=0.1, random_state=2)
    ours, theirs = both(Ours, Theirs, settings,
                        lambda model: model.fit(X, y, sample_weight=weights))
    assert ours.n_iter_ == theirs.n_iter_ == 172
    assert ours._no_improvement_count == theirs._no_improvement_count == 3
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_weighted_fit_with_shuffles_is_reproducible(solver):
    """The per-batch path draws its batch order from random_state."""
    X, y, Ours, _ = data("regression")
    weights = np.random.default_rng(3).uniform(0, 3, len(X))
    settings = dict(hidden_layer_sizes=(5,), solver=solver, batch_size=16, max_iter=4,
                    random_state=4)
    runs = both(Ours, Ours, settings, lambda model: model.fit(X, y, sample_weight=weights))
    assert runs[0].loss_curve_ == runs[1].loss_curve_
    for a, b in zip(runs[0].coefs_, runs[1].coefs_):
        np.testing.assert_array_equal(a, b)
    shuffled = Ours(**dict(settings, random_state=5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        shuffled.fit(X, y, sample_weight=weights)
    assert shuffled.loss_curve_ != runs[0].loss_curve_


def test_equal_weights_take_the_engine_epoch_and_give_scikit_learns_loss():
    """Equal weights (the engine's epoch, where the weights' and the samples'
    averages agree): scikit-learn's loss (the L2 term over the total weight);
    weights of 1 are no weights."""
    X, y, Ours, Theirs = data("multiclass")
    settings = sgd_settings(max_iter=3)
    ours, theirs = both(Ours, Theirs, settings,
                        lambda model: model.fit(X, y, sample_weight=np.full(len(X), 2.5)))
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12)
    ones, plain = both(Ours, Ours, settings, lambda model: model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ones.fit(X, y, sample_weight=np.ones(len(X)))
        plain.fit(X, y)
    assert ones.loss_curve_ == plain.loss_curve_
    assert_same_parameters(ones, plain, rtol=0, atol=0)


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_output_squared_error_is_averaged_over_outputs(solver, weighted):
    """scikit-learn reports the squared error's mean over the outputs (plus
    the L2 term) and follows the summed one's gradient: sgd takes its steps
    and reports its losses. (Its lbfgs hands L-BFGS-B that mean with the
    summed gradient, which do not agree, so its path is its own; ours
    minimizes the summed loss and reports the mean at its optimum.)"""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((80, 4))
    Y = X @ rng.standard_normal((4, 3))
    weights = rng.uniform(0, 3, len(X)) if weighted else None
    if solver == "sgd":
        ours, theirs = both(DNNRegressor, MLPRegressor, sgd_settings(activation="tanh"),
                            lambda model: model.fit(X, Y, sample_weight=weights))
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12)
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-12)
        assert_same_parameters(ours, theirs)
        return
    with pytest.warns(ConvergenceWarning):
        ours = DNNRegressor(hidden_layer_sizes=(5,), activation="tanh", alpha=0.01,
                            solver="lbfgs", max_iter=5, random_state=1).fit(
                                X, Y, sample_weight=weights)
    total = len(X) if weights is None else weights.sum()
    errors = np.average((Y - ours.predict(X)) ** 2, weights=weights, axis=0)
    penalty = 0.5 * 0.01 * sum(np.sum(c ** 2) for c in ours.coefs_) / total
    assert ours.loss_ == pytest.approx(0.5 * errors.mean() + penalty, rel=1e-12)


# -- lbfgs -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["regression", "poisson", "multiclass"])
def test_lbfgs_attributes_are_scikit_learns(kind):
    X, y, Ours, Theirs = data(kind)
    settings = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=7, random_state=0,
                    **({"loss": "poisson"} if kind == "poisson" else {}))
    ours, theirs = both(Ours, Theirs, settings, lambda model: model.fit(X, y))
    for name in STOCHASTIC_ONLY + ("val_loss_curve_",):
        assert not hasattr(ours, name), name
    for name in STOCHASTIC_ONLY:
        assert not hasattr(theirs, name), name
    assert (ours.n_iter_, ours.t_) == (theirs.n_iter_, theirs.t_) == (7, 0)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-8)
    assert ours.out_activation_ == theirs.out_activation_
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge after 7"):
        Ours(**settings).fit(X, y)


def test_lbfgs_after_sgd_keeps_the_sgd_attributes_as_scikit_learn():
    """A refit with lbfgs neither sets nor clears the sgd's loss curve; a warm
    sgd fit after it continues the curve and t_."""
    X, y, Ours, Theirs = data("regression")
    models = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for Estimator in (Ours, Theirs):
            model = Estimator(**sgd_settings(max_iter=4)).fit(X, y)
            model.set_params(solver="lbfgs").fit(X, y)
            after_lbfgs = (len(model.loss_curve_), model.t_, model.n_iter_)
            model.set_params(solver="sgd", warm_start=True).fit(X, y)
            models.append((after_lbfgs, len(model.loss_curve_), model.t_, model.n_iter_))
    assert models[0] == models[1] == ((4, 0, 4), 8, 4 * len(X), 4)


def test_warm_sgd_after_lbfgs_starts_its_own_bookkeeping():
    """scikit-learn fails here (no loss_curve_ after lbfgs); ours starts one."""
    X, y, Ours, _ = data("regression")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = Ours(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=5, random_state=0,
                     warm_start=True).fit(X, y)
        start = [c.copy() for c in model.coefs_]
        model.set_params(solver="sgd", max_iter=3, learning_rate_init=1e-300).fit(X, y)
    assert len(model.loss_curve_) == model.n_iter_ == 3 and model.t_ == 3 * len(X)
    for a, b in zip(model.coefs_, start):
        np.testing.assert_array_equal(a, b)


# -- coefs_ and intercepts_ assigned ---------------------------------------------

def manual_weights():
    return ([np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0.0]]), np.array([[0.1], [0.2]])],
            [np.array([0.1, 0.1]), np.array([1.0])])


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_assigned_before_fitting_a_warm_fit_starts_from_them(how):
    """scikit-learn's upstream test_fit: weights set by hand on an unfitted
    classifier, one step of sgd from them (item by item, as it sets them)."""
    X = np.array([[0.6, 0.8, 0.7]])
    y = np.array([0])
    model = DNNClassifier(solver="sgd", learning_rate_init=0.1, alpha=0.1,
                          activation="logistic", random_state=1, max_iter=1,
                          hidden_layer_sizes=2, momentum=0, warm_start=how == "warm_start")
    coefs, intercepts = manual_weights()
    model.coefs_ = [0] * 2
    model.intercepts_ = [0] * 2
    for layer in range(2):
        model.coefs_[layer] = coefs[layer]
        model.intercepts_[layer] = intercepts[layer]
    assert model.coefs_[1] is coefs[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if how == "partial_fit":
            model.partial_fit(X, y, classes=[0, 1])
        else:
            model.fit(np.r_[X, X], [0, 1])    # (two classes to fit)
    if how == "partial_fit":
        # the worked example of scikit-learn's test_fit
        np.testing.assert_allclose(model.coefs_[1], [[0.04706], [0.154089]], atol=1e-3)
        np.testing.assert_allclose(model.intercepts_[1], [0.9235], atol=1e-3)
        assert model.predict_proba(X)[0, 1] == pytest.approx(0.739, abs=1e-3)
    # a step from the assigned weights: close to them, not to a fresh start
    assert np.max(np.abs(model.coefs_[0] - coefs[0])) < 0.05


def test_assigned_before_fitting_a_cold_fit_initialises():
    X, y, Ours, Theirs = data("regression")
    settings = sgd_settings(max_iter=2)
    fresh = both(Ours, Ours, settings, lambda model: model)[0]
    assigned = Ours(**settings)
    assigned.coefs_ = [np.ones((4, 5)), np.ones((5, 1))]
    assert len(assigned.coefs_) == 2 and not hasattr(assigned, "network_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fresh.fit(X, y)
        assigned.fit(X, y)
    assert_same_parameters(assigned, fresh, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"coefs_\[0\]: expected shape \(4, 5\), got"):
        model = Ours(**settings, warm_start=True)
        model.coefs_ = [np.ones((3, 5)), np.ones((5, 1))]
        model.fit(X, y)


@pytest.mark.parametrize("warm_start", [False, True])
def test_assigned_after_fitting_as_scikit_learn(warm_start):
    """Assigned on a fitted estimator: predict uses them; a warm fit starts
    from them, a cold one initialises afresh (scikit-learn as the oracle)."""
    X, y, Ours, Theirs = data("regression")
    settings = sgd_settings(max_iter=3, warm_start=warm_start)
    zeros = [np.zeros((4, 5)), np.full((5, 1), 0.5)]
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for Estimator in (Ours, Theirs):
            model = Estimator(**settings).fit(X, y)
            model.coefs_ = [array.copy() for array in zeros]
            model.intercepts_[1] = np.array([2.0])   # item by item, too
            # (zero first-layer weights: every row's hidden units are logistic(b1))
            hidden = 1 / (1 + np.exp(-model.intercepts_[0]))
            expected = np.full(3, hidden @ zeros[1][:, 0] + 2.0)
            predicted = model.predict(X[:3])
            model.fit(X, y)
            results.append((predicted, expected, model))
    (ours_predicted, expected, ours), (theirs_predicted, _, theirs) = results
    np.testing.assert_allclose(ours_predicted, expected, rtol=1e-12)
    np.testing.assert_allclose(ours_predicted, theirs_predicted, rtol=1e-12)
    assert_same_parameters(ours, theirs)


def test_assignment_checks_shapes_on_a_fitted_estimator():
    X, y, Ours, _ = data("regression")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = Ours(**sgd_settings(max_iter=1)).fit(X, y)
    with pytest.raises(ValueError, match=r"coefs_\[1\]: expected shape \(5, 1\), got \(5, 2\)"):
        model.coefs_[1] = np.zeros((5, 2))
    with pytest.raises(TypeError, match="intercepts_: assign one layer"):
        model.intercepts_[0:1] = [np.zeros(5)]
    with pytest.raises(TypeError, match="coefs_: expected a list of arrays"):
        Ours().coefs_ = 3.0


# -- the learning rate and the count of epochs without improvement ------------

@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "adaptive"])
def test_learning_rate_and_count_follow_scikit_learn(learning_rate):
    X, y, Ours, Theirs = data("binary")
    settings = sgd_settings(max_iter=60, tol=1e-2, n_iter_no_change=2,
                            learning_rate=learning_rate, learning_rate_init=0.05,
                            random_state=2, power_t=0.3)
    ours, theirs = both(Ours, Theirs, settings, lambda model: model.fit(X, y))
    assert ours.n_iter_ == theirs.n_iter_
    assert ours._optimizer.learning_rate == pytest.approx(theirs._optimizer.learning_rate,
                                                          rel=1e-12)
    assert ours._no_improvement_count == theirs._no_improvement_count


@pytest.mark.parametrize("models", [(DNNClassifier(solver="lbfgs"),
                                     MLPClassifier(solver="lbfgs")),
                                    # (scikit-learn 1.9's MLPRegressor offers partial_fit
                                    # with lbfgs, a full lbfgs fit: its available_if
                                    # lambda returns _check_solver without calling it)
                                    (DNNRegressor(solver="lbfgs"),)])
def test_partial_fit_with_lbfgs_says_what_scikit_learn_says(models):
    text = "partial_fit is only available for stochastic optimizers. lbfgs is not stochastic."
    for model in models:
        assert not hasattr(model, "partial_fit")
        with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as error:
            model.partial_fit
        # (scikit-learn's available_if gives the reason as the cause)
        assert re.fullmatch(rf"(solver: )?{re.escape(text)}", str(error.value.__cause__))
