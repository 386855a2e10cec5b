"""dnn.sklearn: scikit-learn's own estimator checks, and MLP parity."""
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is an optional extra")

from sklearn.base import clone  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from dnn.sklearn import DNNClassifier, DNNRegressor  # noqa: E402


def _check_params(estimator, check):
    """The parameters scikit-learn's own test suite gives MLPClassifier and
    MLPRegressor for these checks (sklearn/utils/_test_common/instance_generator.py)."""
    name = getattr(check, "func", check).__name__
    if name == "check_sample_weight_equivalence_on_dense_data":
        if isinstance(estimator, DNNClassifier):
            return dict(solver="lbfgs")
        return dict(solver="sgd", tol=1e-2, random_state=42)
    return {}


@parametrize_with_checks([DNNClassifier(max_iter=100), DNNRegressor(max_iter=100)])
def test_sklearn_estimator_checks(estimator, check):
    check(clone(estimator).set_params(**_check_params(estimator, check)))


# -- against scikit-learn's MLP ---------------------------------------------------

def digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.mark.parametrize("solver, settings", [
    ("adam", dict(max_iter=30)),
    ("sgd", dict(max_iter=30, learning_rate_init=0.01)),
    ("lbfgs", dict(max_iter=60)),
])
def test_accuracy_matches_mlpclassifier(solver, settings):
    from sklearn.neural_network import MLPClassifier
    X_train, X_test, y_train, y_test = digits()
    scores = {DNNClassifier: [], MLPClassifier: []}
    for cls in scores:
        for seed in range(3):
            model = cls(hidden_layer_sizes=(32,), solver=solver, random_state=seed, **settings)
            with _maybe_warns():   # ConvergenceWarning, on purpose: short runs
                model.fit(X_train, y_train)
            scores[cls].append(model.score(X_test, y_test))
    ours, theirs = np.mean(scores[DNNClassifier]), np.mean(scores[MLPClassifier])
    assert ours > 0.9 and theirs > 0.9, scores
    assert abs(ours - theirs) < 0.025, scores


def _maybe_warns():
    import contextlib
    import warnings
    context = contextlib.ExitStack()
    context.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return context


def test_r2_matches_mlpregressor():
    from sklearn.datasets import make_friedman1
    from sklearn.neural_network import MLPRegressor
    X, y = make_friedman1(n_samples=600, noise=0.5, random_state=0)
    X_test, y_test = X[400:], y[400:]
    scores = {DNNRegressor: [], MLPRegressor: []}
    for cls in scores:
        for seed in range(3):
            with _maybe_warns():
                model = cls(hidden_layer_sizes=(32, 16), learning_rate_init=0.01,
                            max_iter=150, random_state=seed).fit(X[:400], y[:400])
            scores[cls].append(model.score(X_test, y_test))
    ours, theirs = np.mean(scores[DNNRegressor]), np.mean(scores[MLPRegressor])
    assert ours > 0.7 and theirs > 0.7, scores
    assert abs(ours - theirs) < 0.05, scores


def _mlp_sgd_reference(X, y, coefs, intercepts, lr, momentum, alpha, epochs):
    """scikit-learn's full-batch SGD with Nesterov's momentum in its own velocity form
    (sklearn/neural_network/_stochastic_optimizers.py), relu hidden layers, identity
    output, squared error."""
    params = [c.copy() for c in coefs] + [b.copy() for b in intercepts]
    velocities = [np.zeros_like(p) for p in params]
    n, L = X.shape[0], len(coefs)
    for _ in range(epochs):
        activations = [X]
        for l in range(L):
            Z = activations[-1] @ params[l] + params[L + l]
            activations.append(np.maximum(Z, 0) if l < L - 1 else Z)
        delta = activations[-1] - y.reshape(n, -1)
        grads = [None] * (2 * L)
        for l in range(L - 1, -1, -1):
            grads[l] = (activations[l].T @ delta + alpha * params[l]) / n
            grads[L + l] = delta.mean(axis=0)
            if l:
                delta = (delta @ params[l].T) * (activations[l] > 0)
        velocities = [momentum * v - lr * g for v, g in zip(velocities, grads)]
        params = [p + momentum * v - lr * g for p, v, g in zip(params, velocities, grads)]
    return params[:L], params[L:]


def test_sgd_momentum_takes_scikit_learns_steps():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5)), rng.standard_normal(40)
    model = DNNRegressor((8, 6), solver="sgd", momentum=0.9, learning_rate_init=0.01,
                         alpha=0.1, batch_size=40, max_iter=1, tol=0, warm_start=True,
                         random_state=0)
    with _maybe_warns():
        model.fit(X, y)
    start = [c.copy() for c in model.coefs_], [b.copy() for b in model.intercepts_]
    model.set_params(max_iter=6)
    with _maybe_warns():
        model.fit(X, y)   # warm start: from `start`, with a new optimizer
    coefs, intercepts = _mlp_sgd_reference(X, y, *start, lr=0.01, momentum=0.9, alpha=0.1,
                                           epochs=6)
    for ours, theirs in zip(model.coefs_ + model.intercepts_, coefs + intercepts):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_learning_rate_schedules():
    X, y = digits()[0][:200], digits()[2][:200]
    model = DNNClassifier((16,), solver="sgd", learning_rate="invscaling", power_t=0.5,
                          learning_rate_init=0.1, max_iter=3, random_state=0)
    with _maybe_warns():
        model.fit(X, y)
    assert model.t_ == 600
    assert model._optimizer.learning_rate == pytest.approx(0.1 / 601 ** 0.5)
    stalled = DNNClassifier((16,), solver="sgd", learning_rate="adaptive", tol=1e9,
                            n_iter_no_change=2, learning_rate_init=0.1, max_iter=7,
                            random_state=0)
    with _maybe_warns():
        stalled.fit(X, y)
    # no epoch improves by 1e9: the rate is divided by 5 every 3 epochs
    assert stalled.n_iter_ == 7 and stalled._optimizer.learning_rate == pytest.approx(0.1 / 25)
    stops = DNNClassifier((16,), tol=1e9, n_iter_no_change=2, max_iter=50,
                          random_state=0).fit(X, y)
    # epoch 1 improves on inf; epochs 2-4 do not: 3 > n_iter_no_change stops
    assert stops.n_iter_ == 4 and len(stops.loss_curve_) == 4


def test_early_stopping_keeps_the_best_epoch():
    X, _, y, _ = digits()
    model = DNNClassifier((16,), early_stopping=True, n_iter_no_change=3, max_iter=200,
                          learning_rate_init=0.05, random_state=0).fit(X, y)
    assert model.n_iter_ < 200
    assert len(model.validation_scores_) == len(model.val_loss_curve_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.best_loss_ is None


def test_outputs_dtypes_and_targets():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 4)).astype(np.float32)
    binary = DNNClassifier((5,), max_iter=5).fit(X, np.where(X[:, 0] > 0, "yes", "no"))
    assert binary.network_.dtype == np.float32 and binary.out_activation_ == "logistic"
    assert binary.predict_proba(X).dtype == np.float32
    assert binary.predict_proba(X).shape == (60, 2)
    assert set(binary.predict(X)) <= {"yes", "no"}
    Y = (rng.random((60, 3)) < 0.5).astype(int)
    multilabel = DNNClassifier((5,), max_iter=5).fit(X, Y)
    assert multilabel.predict(X).shape == (60, 3) and multilabel.n_outputs_ == 3
    assert multilabel.coefs_[0].shape == (4, 5) and multilabel.intercepts_[1].shape == (3,)
    multiclass = DNNClassifier((5,), max_iter=5, dtype="float64").fit(X, rng.integers(0, 4, 60))
    assert multiclass.out_activation_ == "softmax" and multiclass.network_.dtype == np.float64
    np.testing.assert_allclose(multiclass.predict_proba(X).sum(axis=1), 1, rtol=1e-12)
    regressor = DNNRegressor((5,), max_iter=5).fit(X, rng.standard_normal((60, 2)))
    assert regressor.predict(X).shape == (60, 2) and regressor.out_activation_ == "identity"


def test_partial_fit_and_dropout():
    X, _, y, _ = digits()
    model = DNNClassifier((16,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        model.partial_fit(X, y)
    for _ in range(3):
        model.partial_fit(X, y, classes=np.arange(10))
    # (scikit-learn's: n_iter_ counts the last call's one epoch; t_ every sample seen)
    assert model.n_iter_ == 1 and model.t_ == 3 * len(X)
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        DNNClassifier(solver="lbfgs").partial_fit(X, y, classes=np.arange(10))
    dropped = DNNClassifier((16,), dropout=0.5, max_iter=5, random_state=0)
    with _maybe_warns():
        dropped.fit(X, y)
        plain = DNNClassifier((16,), max_iter=5, random_state=0).fit(X, y)
    assert not np.allclose(dropped.coefs_[0], plain.coefs_[0])
    np.testing.assert_array_equal(dropped.predict_proba(X), dropped.predict_proba(X))


@pytest.mark.parametrize("params, message", [
    (dict(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes: expected integers >= 1"),
    (dict(activation="softplus"), "activation: expected one of"),
    (dict(solver="newton"), "solver: expected one of"),
    (dict(alpha=-1.0), "alpha: expected a number >= 0"),
    (dict(batch_size=0), 'batch_size: expected an integer >= 1 or "auto"'),
    (dict(learning_rate_init=0.0), "learning_rate_init: expected a number > 0"),
    (dict(momentum=1.0), "momentum: expected a number >= 0 and < 1"),
    (dict(validation_fraction=1.0), "validation_fraction: expected a number > 0 and < 1"),
    (dict(dropout=1.0), "dropout: expected a number >= 0 and < 1"),
    (dict(dtype="float16"), "dtype: expected None, 'float32' or 'float64'"),
    (dict(max_iter=2.5), "max_iter: expected an integer >= 1"),
])
def test_bad_parameters_are_named(params, message):
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=message):
        DNNClassifier(**params).fit(X, y)


def test_import_dnn_does_not_need_scikit_learn(tmp_path):
    import subprocess
    import sys
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "import dnn\n"
            "try:\n    import dnn.sklearn\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    assert 'pip install "dnn-core[sklearn]"' in out


def test_onnx_export_of_the_estimators(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnx export is an optional extra")
    pytest.importorskip("onnx", reason="onnx export is an optional extra")
    X, _, y, _ = digits()
    X = X.astype(np.float32)
    with _maybe_warns():
        multiclass = DNNClassifier((16,), max_iter=5, random_state=0).fit(X, y)
        binary = DNNClassifier((16,), max_iter=5, random_state=0).fit(X, y % 2)
        regressor = DNNRegressor((16,), max_iter=5, random_state=0).fit(X, y / 9)
    for model, expected in [(multiclass, multiclass.predict_proba(X)),
                            (binary, binary.predict_proba(X)[:, 1:]),
                            (regressor, regressor.predict(X)[:, None])]:
        path = tmp_path / "model.onnx"
        model.to_onnx(path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (output,) = session.run(None, {"X": X})
        np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-6)
