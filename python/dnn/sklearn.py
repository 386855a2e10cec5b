"""scikit-learn estimators trained by the compiled engine.

:class:`DNNClassifier` and :class:`DNNRegressor` take the parameters of
scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, with their names and
defaults, and set the same fitted attributes, so that changing the import is
all a user must do::

    from dnn.sklearn import DNNClassifier as MLPClassifier

Each epoch of the "sgd" and "adam" solvers runs in :class:`dnn.Network`'s
engine (without the GIL); "lbfgs" minimizes the engine's full-batch cost and
gradient with ``scipy.optimize.minimize(method="L-BFGS-B")`` over its flat
parameter buffer. Where the rules differ from scikit-learn's:

- Adam adds ``epsilon`` to ``sqrt(v_hat)`` (the course's form); scikit-learn
  adds it to ``sqrt(v)`` and corrects the learning rate instead.
- "sgd" with momentum is the engine's exponentially weighted average run at
  ``learning_rate / (1 - momentum)``: the same steps as scikit-learn's
  velocity form while the learning rate is constant.
- With unequal sample weights, or several outputs of a squared error, an
  sgd or adam epoch runs one engine call per batch, so that ``loss_`` is
  scikit-learn's (its batches' losses averaged by their numbers of samples,
  the squared error averaged over the outputs): the same steps, at about
  scikit-learn's speed for small networks.

Requires scikit-learn (``pip install "dnn-core[sklearn]"``).
"""
import numpy as np

try:
    from sklearn.base import ClassifierMixin, RegressorMixin
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import (check_classification_targets, type_of_target,
                                          unique_labels)
    from sklearn.utils.validation import column_or_1d, validate_data
except ImportError as error:  # pragma: no cover - exercised without scikit-learn
    raise ImportError('dnn.sklearn needs scikit-learn: pip install "dnn-core[sklearn]"'
                      ) from error

from dnn_core import registry

from dnn._sklearn_base import NONFINITE_WEIGHTS, _BaseDNN, _stochastic  # noqa: F401
from dnn._sklearn_mpi import compare, union_labels
# (ACTIVATIONS and OUT_ACTIVATIONS: importable from here as before)
from dnn._sklearn_params import (ACTIVATIONS, OUT_ACTIVATIONS, OUTPUT_FOR_TARGET,  # noqa: F401
                                 REGRESSION_LOSSES, choice, named)


__all__ = ["DNNClassifier", "DNNRegressor"]




class DNNClassifier(ClassifierMixin, _BaseDNN):
    """Multi-layer perceptron classifier, scikit-learn's ``MLPClassifier`` on the
    compiled engine.

    Binary targets train one sigmoid unit, multiclass targets a softmax layer,
    multilabel indicator matrices one sigmoid unit per label.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
    activation : {"identity", "logistic", "tanh", "relu", "leaky_relu"}, default="relu"
    solver : {"lbfgs", "sgd", "adam"}, default="adam"
    alpha : float, default=0.0001
        L2 penalty ``alpha / (2 n) * sum ||W||^2``.
    batch_size : int or "auto", default="auto"
        "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        For "sgd": after each epoch "invscaling" sets ``learning_rate_init /
        (t + 1) ** power_t`` (t: samples seen); "adaptive" divides the rate by 5
        when the loss stalls (see ``tol``) instead of stopping.
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
    max_iter : int, default=200
        Epochs ("sgd", "adam") or iterations ("lbfgs").
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffles, the dropout masks and the
        validation split.
    tol : float, default=1e-4
    verbose : bool, default=False
    warm_start : bool, default=False
    momentum : float in [0, 1), default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` (stratified) and stop when its
        accuracy stalls; the best epoch's parameters are kept.
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, defaults 0.9, 0.999, 1e-8
        Adam's.
    n_iter_no_change : int or np.inf, default=10
        Epochs without a gain of ``tol`` before stopping; ``np.inf`` never
        stops early.
    max_fun : int, default=15000
        Cost evaluations allowed to "lbfgs".
    dropout : float in [0, 1), default=0.0
        Probability of dropping a hidden unit in training (inverted dropout).
    dtype : {None, "float32", "float64"}, default=None
        Of the parameters; None follows X (float32 stays float32, anything
        else becomes float64).
    init : {"glorot_uniform", "he", "xavier", "course"}, default="glorot_uniform"
        "glorot_uniform" is scikit-learn's: weights and intercepts uniform in
        ``+-sqrt(6 / (fan_in + fan_out))`` (2 instead of 6 for "logistic"),
        drawn from ``random_state`` as scikit-learn draws them, so that a seed
        starts where ``MLPClassifier``'s starts.
    n_threads : int or None, default=None
        Threads, as :class:`dnn.Network`'s ``n_threads`` (None: the usable
        CPUs, as row shards or per GEMM by size).
    batch_norm : bool or list of bool, default=False
        Batch normalization of the hidden layers (all, or one flag per
        hidden layer), as :class:`dnn.Network`'s ``batch_norm``; not with
        ``solver="lbfgs"``. A batch-norm layer's ``intercepts_`` entry is its
        ``beta``.
    first_layer : {"auto", "primal", "dual"}, default="auto"
        How ``solver="sgd"`` trains the first layer, as :class:`dnn.Network`'s
        ``first_layer``: "dual" through the Gram matrix of the training rows
        (exact; pays when there are many more features than samples), "primal"
        the usual way, "auto" the one its cost model says does less work
        (each ``fit`` call of this wrapper is one epoch of the network's, so
        "auto" turns dual only once the repeated epochs on one array pay for
        the Gram matrix). "dual" is refused for "adam" and "lbfgs" (not exact)
        and for sparse X.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    loss_ : float
    best_loss_ : float or None
    loss_curve_ : list of float
    val_loss_curve_ : list of float
        Validation cost per epoch (with ``early_stopping``).
    validation_scores_ : list of float or None
    best_validation_score_ : float or None
    t_ : int
    coefs_ : list of ndarray of shape (fan_in, fan_out)
    intercepts_ : list of ndarray of shape (fan_out,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    n_iter_ : int
        Iterations of the last ``fit`` (also with ``warm_start``); 1 after
        ``partial_fit``.
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    network_ : dnn.Network
    """

    def _validate_input(self, X, y, incremental, reset, classes=None):
        if incremental:
            self._partial_fit_classes(y, classes)
        with named("X, y"):
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                                 multi_output=True, dtype=(np.float64, np.float32),
                                 reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        with named("y"):
            check_classification_targets(y)
        return X, y

    def _partial_fit_classes(self, y, classes):
        """partial_fit's ``classes``: required on the first call, the same after."""
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes: classes must be passed on the first call to "
                                 "partial_fit.")
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(unique_labels(classes),
                                                          self.classes_):
            raise ValueError(f"classes: `classes={classes!r}` is not the same as on last "
                             f"call to partial_fit, was: {self.classes_!r}")

    def _new_classes(self, incremental):
        return not hasattr(self, "classes_") or not (self.warm_start or incremental)

    def _target_summary(self, y, incremental):
        """(type of target, labels) of this rank's y, which the ranks join."""
        if self._new_classes(incremental):
            binarizer = LabelBinarizer().fit(y)
            return binarizer.y_type_, binarizer.classes_
        return type_of_target(y), unique_labels(y)

    def _agree_targets(self, summaries, y, incremental):
        """Set (or check) the classes: the union of every rank's labels."""
        multilabel, labels = union_labels(summaries)
        if self._new_classes(incremental):
            self._label_binarizer = LabelBinarizer().fit(
                y if len(summaries) == 1 or multilabel else labels)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = labels
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"y: warm_start can only be used where `y` has the "
                                     f"same classes as in the previous call to fit. "
                                     f"Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"y: `y` has classes not in `self.classes_`. "
                                 f"`self.classes_` has {self.classes_}. 'y' has {classes}.")

    def _targets(self, y):
        """(targets, output): int64 labels for softmax, else a 0/1 float matrix."""
        kind = self._label_binarizer.y_type_
        if kind == "multiclass":
            return (np.searchsorted(self.classes_, y).astype(np.int64),
                    OUTPUT_FOR_TARGET["categorical"])
        return (self._label_binarizer.transform(y).astype(np.float64),
                OUTPUT_FOR_TARGET["binary"])

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None, *, comm=None):
        """One epoch over X, y ("sgd" and "adam" only).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,), default=None
            All the classes y may hold; required on the first call (with
            ``comm``: the same on every rank).
        comm : mpi4py intra-communicator or None, default=None
            One epoch over the union of the ranks' rows, as ``fit``'s.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True, comm=comm, classes=classes)

    def predict(self, X):
        """Predicted classes, shape (n_samples,) or (n_samples, n_labels)."""
        return self._predictions(self._forward(X))

    def _predictions(self, probabilities):
        """The classes the output layer's ``probabilities`` predict."""
        if self.n_outputs_ == 1:
            probabilities = probabilities.ravel()
        return self._label_binarizer.inverse_transform(probabilities)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes) (multilabel:
        (n_samples, n_labels), each label's probability)."""
        probabilities = self._forward(X)
        if self.out_activation_ == "logistic" and self.n_outputs_ == 1:
            p = probabilities.ravel()
            return np.vstack([1 - p, p]).T
        return probabilities

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against y (scikit-learn's)."""
        with named("X, y"):
            return super().score(X, y, sample_weight)

    def predict_log_proba(self, X):
        """``np.log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class DNNRegressor(RegressorMixin, _BaseDNN):
    """Multi-layer perceptron regressor, scikit-learn's ``MLPRegressor`` on the
    compiled engine: a linear output layer trained on the squared error, or
    (``loss="poisson"``) an exp output layer (the log link, ``out_activation_ ==
    "exp"``) trained on the half Poisson deviance of non-negative targets.

    Parameters
    ----------
    The same as :class:`DNNClassifier`'s.

    Attributes
    ----------
    As :class:`DNNClassifier`'s, without ``classes_``. ``loss_`` is
    scikit-learn's: for the squared error ``mean((y - p)**2) / 2`` averaged
    over the outputs (the gradient followed is the summed one's, as
    scikit-learn's), for "poisson" the half Poisson deviance
    ``mean(y log(y / p) - y + p)`` summed over the outputs; both plus the L2
    term ``alpha / (2 n) * sum ||W||^2``.
    """

    def _validate_input(self, X, y, incremental, reset, classes=None):
        with named("X, y"):
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                                 multi_output=True, y_numeric=True,
                                 dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _target_summary(self, y, incremental):
        """What the ranks compare of y: its number of columns (None: 1-D)."""
        return y.shape[1] if y.ndim == 2 else None

    def _agree_targets(self, summaries, y, incremental):
        compare(summaries, "y", "number of outputs (y's columns; None: one)")

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, loss="squared_error",
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, dtype=None, init="glorot_uniform", n_threads=None,
                 batch_norm=False, first_layer="auto"):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            dropout=dropout, dtype=dtype, init=init, n_threads=n_threads,
            batch_norm=batch_norm, first_layer=first_layer)
        self.loss = loss

    def _targets(self, y):
        choice(self.loss, "loss", REGRESSION_LOSSES)
        output = REGRESSION_LOSSES[self.loss]
        targets = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
        bounds = registry.TARGETS[registry.OUTPUTS[output].target]
        if bounds is not None and (targets.min() < bounds[1] or targets.max() > bounds[2]):
            raise ValueError(f"y: expected {bounds[0]} (values in [{bounds[1]:g}, "
                             f"{bounds[2]:g}]) for loss={self.loss!r}, got values in "
                             f"[{targets.min():g}, {targets.max():g}]")
        return targets, output

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None, *, comm=None):
        """One epoch over X, y ("sgd" and "adam" only).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Real targets, or with ``loss="poisson"`` non-negative targets
            (counts or rates).
        sample_weight : array-like of shape (n_samples,), default=None
        comm : mpi4py intra-communicator or None, default=None
            One epoch over the union of the ranks' rows, as ``fit``'s.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True, comm=comm)

    def score(self, X, y, sample_weight=None):
        """R^2 of ``predict(X)`` against y (scikit-learn's)."""
        with named("X, y"):
            return super().score(X, y, sample_weight)

    def predict(self, X):
        """Predictions, shape (n_samples,) or (n_samples, n_outputs)."""
        return self._predictions(self._forward(X))

    def _predictions(self, outputs):
        """The output layer's activations, as predict returns them."""
        return outputs.ravel() if self.n_outputs_ == 1 else outputs
