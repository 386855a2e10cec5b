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
- With ``sample_weight``, an sgd/adam epoch's ``loss_`` weights each batch
  by its weights' sum (scikit-learn: by its number of samples); the steps
  are the same.
- The loss of a multi-output regression is summed over outputs,
  ``sum((y - p)**2) / (2 n)`` (scikit-learn reports it averaged over outputs
  while following the summed gradient).

Requires scikit-learn (``pip install "dnn-core[sklearn]"``).
"""
import numbers
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import (check_classification_targets, type_of_target,
                                          unique_labels)
    from sklearn.utils.validation import (_check_sample_weight, check_is_fitted,
                                          column_or_1d, validate_data)
except ImportError as error:  # pragma: no cover - exercised without scikit-learn
    raise ImportError('dnn.sklearn needs scikit-learn: pip install "dnn-core[sklearn]"'
                      ) from error

from dnn import optimizers as optim
from dnn._early_stopping import EarlyStopping
# (ACTIVATIONS and OUT_ACTIVATIONS: importable from here as before)
from dnn._sklearn_params import (ACTIVATIONS, OUT_ACTIVATIONS, OUTPUT_FOR_TARGET,  # noqa: F401
                                 REGRESSION_LOSSES, check_params, choice, named)
from dnn_core import registry
from dnn.network import DivergenceError, Network

__all__ = ["DNNClassifier", "DNNRegressor"]

#: scikit-learn's error when a fit ends with NaN or infinite weights
NONFINITE_WEIGHTS = ("Solver produced non-finite parameter weights. The input data may "
                     "contain large values and need to be preprocessed.")



def _stochastic(estimator):
    if estimator.solver not in ("sgd", "adam"):
        raise AttributeError(f"partial_fit is only available for stochastic optimizers; "
                             f"{estimator.solver!r} is not stochastic")
    return True


class _BaseDNN(BaseEstimator):
    """What DNNClassifier and DNNRegressor share: parameters, solvers, attributes."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, dtype=None, init="glorot_uniform", n_threads=None,
                 batch_norm=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.dtype = dtype
        self.init = init
        self.n_threads = n_threads
        self.batch_norm = batch_norm

    # -- fitted attributes read from the network ---------------------------

    @property
    def coefs_(self):
        """list of (fan_in, fan_out) arrays: views of the network's ``W[l].T``.

        Assigning a list of arrays of these shapes copies them into the network.
        """
        network = self._fitted_network()
        parameters = network.parameters
        return [parameters[f"W{l}"].T for l in range(1, len(network.layer_dims))]

    @coefs_.setter
    def coefs_(self, coefs):
        self._write_parameters("coefs_", coefs, "W", lambda weight: weight.T)

    @property
    def intercepts_(self):
        """list of (fan_out,) arrays: views of the network's ``b[l]`` (of
        ``beta[l]`` for a batch-norm layer, which has no ``b[l]``).

        Assigning a list of arrays of these shapes copies them into the network.
        """
        network = self._fitted_network()
        parameters = network.parameters
        return [parameters[f"b{l}" if f"b{l}" in parameters else f"beta{l}"][:, 0]
                for l in range(1, len(network.layer_dims))]

    @intercepts_.setter
    def intercepts_(self, intercepts):
        self._write_parameters("intercepts_", intercepts, "b", lambda bias: bias[:, 0])

    def _write_parameters(self, name, arrays, prefix, sklearn_view):
        """Copy scikit-learn-shaped ``arrays`` into the network's ``prefix``
        parameters, whose scikit-learn view ``sklearn_view`` gives."""
        network = self._fitted_network()
        parameters = network.parameters
        # (a batch-norm layer's beta stands where b would be, as in intercepts_)
        views = [sklearn_view(parameters[f"{prefix}{l}" if f"{prefix}{l}" in parameters
                                         else f"beta{l}"])
                 for l in range(1, len(network.layer_dims))]
        arrays = list(arrays)
        if len(arrays) != len(views):
            raise ValueError(f"{name}: expected {len(views)} arrays (one per layer), "
                             f"got {len(arrays)}")
        arrays = [np.asarray(array) for array in arrays]
        for layer, (array, view) in enumerate(zip(arrays, views)):
            if array.shape != view.shape:
                raise ValueError(f"{name}[{layer}]: expected shape {view.shape}, "
                                 f"got {array.shape}")
        for array, view in zip(arrays, views):
            view[...] = array

    def _fitted_network(self):
        check_is_fitted(self, "network_")
        return self.network_

    # -- checks ----------------------------------------------------------------

    def _check_params(self):
        """The hidden layer sizes, once every parameter is checked."""
        return check_params(self)

    # -- fit ---------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X, y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Sparse input (CSR, CSC, COO) is never densified: CSR rows are read in
            place by the network's first layer (others are converted to CSR).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights: each batch's loss and gradient are weighted
            means (an integer weight acts as that many copies of the sample).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental):
        hidden = self._check_params()
        first_pass = not hasattr(self, "network_") or not (self.warm_start or incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        targets, output = self._targets(y)
        n_out = targets.shape[1] if targets.ndim == 2 else len(self.classes_)
        rng = check_random_state(self.random_state)
        if first_pass:
            dtype = X.dtype if self.dtype is None else np.dtype(self.dtype)
            layer_units = [X.shape[1], *hidden, n_out]
            # scikit-learn's draws first, in its order, so that a seed starts
            # where scikit-learn's starts
            initial = (self._glorot_parameters(layer_units, rng, dtype)
                       if self.init == "glorot_uniform" else None)
            self.network_ = Network(layer_units,
                                    activation=ACTIVATIONS[self.activation], output=output,
                                    init=self.init, dtype=dtype,
                                    seed=self._network_seed(rng),
                                    n_threads=self.n_threads, batch_norm=self.batch_norm)
            if initial is not None:
                self.coefs_, self.intercepts_ = initial
            self._initialize(output, n_out)
        elif self.network_.layer_dims[1:] != [*hidden, n_out]:
            raise ValueError(f"warm_start: the network has layers {self.network_.layer_dims}; "
                             f"hidden_layer_sizes and y now ask for "
                             f"{[X.shape[1], *hidden, n_out]}")
        dtype = self.network_.dtype
        if scipy.sparse.issparse(X):
            # never densified: the network reads a CSR's rows in place; converted
            # here once (CSC to CSR, values to the network's dtype), not per epoch
            X = X.tocsr().astype(dtype, copy=False)
        else:
            X = np.ascontiguousarray(X, dtype=dtype)
        if targets.dtype.kind == "f":
            targets = np.ascontiguousarray(targets, dtype=dtype)
        if sample_weight is not None:
            with named("sample_weight"):
                sample_weight = _check_sample_weight(sample_weight, X, dtype=dtype)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, targets, sample_weight)
        else:
            self._fit_stochastic(X, y, targets, sample_weight, rng, incremental)
        return self

    def _network_seed(self, rng):
        """The seed of the network's own generator (shuffles, dropout masks).

        An integer ``random_state`` is used as it is, so that ``rng`` gives
        scikit-learn's draws in scikit-learn's order (the initial weights, then
        the validation split); a RandomState instance gives a draw; None, None.
        """
        if self.random_state is None:
            return None
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(rng.randint(np.iinfo(np.int32).max))

    def _glorot_parameters(self, layer_units, rng, dtype):
        """scikit-learn's initial ``(coefs, intercepts)``: for each layer in
        turn, its weights then its intercepts drawn from ``rng`` uniformly in
        ``+-sqrt(factor / (fan_in + fan_out))``, factor 2 for "logistic", else 6.
        """
        factor = 2.0 if self.activation == "logistic" else 6.0
        coefs, intercepts = [], []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
            intercepts.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
        return coefs, intercepts

    def _initialize(self, output, n_out):
        self.n_outputs_ = n_out
        self.n_layers_ = len(self.network_.layer_dims)
        self.out_activation_ = OUT_ACTIVATIONS[output]
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self.val_loss_curve_ = []
        # scikit-learn's rules: a gain of tol counts, the best moves on any gain,
        # stop after n_iter_no_change + 1 epochs without one
        self._stopping = EarlyStopping(self.n_iter_no_change + 1, self.tol,
                                       "max" if self.early_stopping else "min",
                                       delta_inclusive=True, best_moves="any")
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _optimizer_and_rate(self):
        """The engine's optimizer and the factor its learning rate takes."""
        if self.solver == "adam":
            return optim.Adam(self.beta_1, self.beta_2, self.epsilon), 1.0
        if self.momentum == 0:
            return optim.GD(), 1.0
        rule = optim.Nesterov if self.nesterovs_momentum else optim.Momentum
        return rule(self.momentum), 1.0 / (1.0 - self.momentum)

    def _fit_stochastic(self, X, y, targets, sample_weight, rng, incremental):
        network = self.network_
        if self.early_stopping and incremental:
            raise ValueError("early_stopping: partial_fit does not support "
                             "early_stopping=True")
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer, self._rate_factor = self._optimizer_and_rate()
            self._learning_rate = self.learning_rate_init
            network.reset_optimizer()
        if self.early_stopping:
            # (scikit-learn's: stratified on the 0/1 column of a binary target only)
            stratify = (targets.astype(bool) if isinstance(self, ClassifierMixin)
                        and self.n_outputs_ == 1 else None)
            parts = train_test_split(X, targets, y, *(() if sample_weight is None
                                                      else (sample_weight,)),
                                     random_state=rng, test_size=self.validation_fraction,
                                     stratify=stratify)
            X, X_val, targets, targets_val, _, y_val = parts[:6]
            sample_weight, weight_val = parts[6:] or (None, None)
            if X_val.shape[0] < 2:
                raise ValueError("validation_fraction: The validation set is too small. "
                                 "Increase 'validation_fraction' or the size of your "
                                 "dataset.")
        n_samples = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(f"batch_size: Got `batch_size` less than 1 or larger than "
                              f"sample size. It is going to be clipped (batch_size="
                              f"{self.batch_size}, {n_samples} samples)")
            batch_size = min(self.batch_size, n_samples)
        keep_prob = 1.0 - self.dropout if self.dropout else None
        self._best_parameters = None
        self._best_running_stats = None
        stopping = self._stopping
        stopping.patience, stopping.min_delta = self.n_iter_no_change + 1, self.tol
        # (scikit-learn's: n_iter_ counts this call's epochs, so one for partial_fit)
        self.n_iter_ = 0
        diverged = False
        try:
            for _ in range(self.max_iter):
                try:
                    if not diverged:
                        history = network.fit(
                            X, targets, epochs=1, batch_size=batch_size,
                            optimizer=self._optimizer,
                            learning_rate=self._learning_rate * self._rate_factor,
                            l2=self.alpha, keep_prob=keep_prob, shuffle=self.shuffle,
                            sample_weight=sample_weight)
                except DivergenceError as error:
                    if not self.early_stopping:
                        raise ValueError(NONFINITE_WEIGHTS) from error
                    # scikit-learn's: from here on every epoch's loss and validation
                    # score are NaN (which never stops early), up to max_iter; the
                    # best weights are restored at the end
                    diverged = True
                self.n_iter_ += 1
                self.loss_ = np.nan if diverged else history.cost[-1]
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                if diverged:
                    self.val_loss_curve_.append(np.nan)
                    self._update_no_improvement(np.nan)
                elif self.early_stopping:
                    self.val_loss_curve_.append(self._validation_cost(X_val, targets_val))
                    self._update_no_improvement(
                        self._validation_score(X_val, y_val, weight_val))
                else:
                    self._update_no_improvement(None)
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    self._learning_rate = (self.learning_rate_init
                                           / (self.t_ + 1) ** self.power_t)
                if stopping.stalled:
                    watched = "Validation score" if self.early_stopping else "Training loss"
                    message = (f"{watched} did not improve more than tol={self.tol:f} for "
                               f"{self.n_iter_no_change} consecutive epochs.")
                    if (self.solver == "sgd" and self.learning_rate == "adaptive"
                            and self._learning_rate > 1e-6):
                        self._learning_rate /= 5
                        stopping.restart_count()
                        if self.verbose:
                            print(f"{message} Setting learning rate to "
                                  f"{self._learning_rate:f}")
                    else:
                        if self.verbose:
                            print(f"{message} Stopping.")
                        break
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations "
                                  f"({self.max_iter}) reached and the optimization hasn't "
                                  f"converged yet.", ConvergenceWarning)
        except KeyboardInterrupt:
            # scikit-learn's behaviour: keep the model of the last completed step
            warnings.warn("Training interrupted by user.")
        if self.early_stopping and self._best_parameters is not None:
            network.flat_parameters = self._best_parameters
            if self._best_running_stats:
                network.running_stats = self._best_running_stats

    def _validation_cost(self, X, targets):
        """The network's cost on validated arrays, NaN where it overflows."""
        try:
            return self.network_.evaluate(X, targets)["cost"]
        except ValueError:   # the cost overflowed (a diverging fit)
            return np.nan

    def _validation_score(self, X, y, sample_weight):
        """scikit-learn's score of validated arrays (no feature-name check):
        NaN where the predictions are not finite."""
        try:
            outputs = self.network_.predict_proba(X)
        except ValueError:   # the outputs overflowed
            return np.nan
        if not np.all(np.isfinite(outputs)):
            return np.nan
        if isinstance(self, ClassifierMixin):
            return float(accuracy_score(y, self._predictions(outputs),
                                        sample_weight=sample_weight))
        return float(r2_score(y, self._predictions(outputs), sample_weight=sample_weight))

    def _update_no_improvement(self, validation_score):
        """One epoch for early stopping: the validation score (early_stopping)
        or else the training loss."""
        if validation_score is not None:
            self.validation_scores_.append(validation_score)
            if self.verbose:
                print(f"Validation score: {validation_score:f}")
            if self._stopping.update(validation_score):
                self._best_parameters = self.network_.flat_parameters
                self._best_running_stats = self.network_.running_stats
            self.best_validation_score_ = self._stopping.best
        else:
            self._stopping.update(self.loss_curve_[-1])
            self.best_loss_ = self._stopping.best

    def _fit_lbfgs(self, X, targets, sample_weight):
        network = self.network_

        def cost_and_gradient(flat):
            cost, gradient = network.loss_and_gradient(flat, X, targets, self.alpha,
                                                       sample_weight)
            if not np.isfinite(cost):
                # a step too far: L-BFGS-B's line search backs off from an infinite cost
                return np.inf, np.zeros_like(gradient)
            return cost, gradient

        def report(intermediate_result):
            if self.verbose:
                print(f"Iteration {self.n_iter_ + 1}, loss = {intermediate_result.fun:.8f}")
            self.n_iter_ += 1

        start = network.flat_parameters.astype(np.float64)
        self.n_iter_ = 0
        with network.training(X.shape[0], sparse_input=scipy.sparse.issparse(X)):
            result = scipy.optimize.minimize(
                cost_and_gradient, start, method="L-BFGS-B", jac=True, callback=report,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        self.n_iter_ = min(int(result.nit), self.max_iter)
        if not np.all(np.isfinite(result.x)):
            network.flat_parameters = start
            raise ValueError("Solver produced non-finite parameter weights. The input data "
                             "may contain large values and need to be preprocessed.")
        network.flat_parameters = result.x
        self.loss_ = float(result.fun)
        if result.status != 0:
            # scikit-learn's text (sklearn.utils.optimize._check_optimize_result)
            message = (f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                       f"(status={result.status}):\n{result.message}\n")
            if self.n_iter_ == self.max_iter:
                message += (f"\nIncrease the number of iterations to improve the "
                            f"convergence (max_iter={self.max_iter}).")
            message += ("\nYou might also want to scale the data as shown in:\n"
                        "    https://scikit-learn.org/stable/modules/preprocessing.html")
            warnings.warn(message, ConvergenceWarning)

    # -- prediction ------------------------------------------------------------

    def _forward(self, X):
        """The output layer's activations, (n_samples, n_out)."""
        network = self._fitted_network()
        with named("X"):
            X = validate_data(self, X, accept_sparse=["csr", "csc"],
                              dtype=(np.float64, np.float32), reset=False)
        return network.predict_proba(X)

    def to_onnx(self, path=None, opset=None):
        """The fitted network as an ONNX graph; see :meth:`dnn.Network.to_onnx`.

        Its output is the network's last layer: a binary classifier gives the
        positive class's probability as one column (``predict_proba(X)[:, 1:]``).
        """
        return self._fitted_network().to_onnx(path, opset=opset)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


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
        BLAS threads (None: chosen by layer size).
    batch_norm : bool or list of bool, default=False
        Batch normalization of the hidden layers (all, or one flag per
        hidden layer), as :class:`dnn.Network`'s ``batch_norm``; not with
        ``solver="lbfgs"``. A batch-norm layer's ``intercepts_`` entry is its
        ``beta``.

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

    def _validate_input(self, X, y, incremental, reset):
        with named("X, y"):
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                                 multi_output=True, dtype=(np.float64, np.float32),
                                 reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        with named("y"):
            check_classification_targets(y)
        if not hasattr(self, "classes_") or not (self.warm_start or incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"y: warm_start can only be used where `y` has the "
                                     f"same classes as in the previous call to fit. "
                                     f"Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"y: `y` has classes not in `self.classes_`. "
                                 f"`self.classes_` has {self.classes_}. 'y' has {classes}.")
        return X, y

    def _targets(self, y):
        """(targets, output): int64 labels for softmax, else a 0/1 float matrix."""
        kind = self._label_binarizer.y_type_
        if kind == "multiclass":
            return (np.searchsorted(self.classes_, y).astype(np.int64),
                    OUTPUT_FOR_TARGET["categorical"])
        return (self._label_binarizer.transform(y).astype(np.float64),
                OUTPUT_FOR_TARGET["binary"])

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over X, y ("sgd" and "adam" only).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,), default=None
            All the classes y may hold; required on the first call.

        Returns
        -------
        self
        """
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
        return self._fit(X, y, sample_weight, incremental=True)

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
    As :class:`DNNClassifier`'s, without ``classes_``; ``loss_`` is
    ``sum((y - p)**2) / (2 n)`` summed over outputs.
    """

    def _validate_input(self, X, y, incremental, reset):
        with named("X, y"):
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                                 multi_output=True, y_numeric=True,
                                 dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, loss="squared_error",
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, dtype=None, init="glorot_uniform", n_threads=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            dropout=dropout, dtype=dtype, init=init, n_threads=n_threads)
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
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over X, y ("sgd" and "adam" only).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True)

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
