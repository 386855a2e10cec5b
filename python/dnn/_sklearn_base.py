"""What DNNClassifier and DNNRegressor share (:mod:`dnn.sklearn`): their
parameters, the attributes scikit-learn sets, scikit-learn's initialisation,
and the solvers (sgd and adam one engine epoch per iteration, with
scikit-learn's stopping rules; lbfgs over the network's flat parameters).
"""
import functools
import numbers
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from dnn import optimizers as optim
from dnn._early_stopping import EarlyStopping
from dnn._sklearn_epochs import (LayerList, Solver, batchwise_epoch, check_layer_shape,
                                 engine_epoch, l2_term, output_mean_loss)
from dnn._sklearn_params import ACTIVATIONS, OUT_ACTIVATIONS, check_params, named
from dnn.network import DivergenceError, Network

#: scikit-learn's error when a fit ends with NaN or infinite weights
NONFINITE_WEIGHTS = ("Solver produced non-finite parameter weights. The input data may "
                     "contain large values and need to be preprocessed.")


def _stochastic(estimator):
    if estimator.solver not in ("sgd", "adam"):
        # (scikit-learn's text, after the argument's name)
        raise AttributeError(f"solver: partial_fit is only available for stochastic "
                             f"optimizers. {estimator.solver} is not stochastic.")
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

        As in scikit-learn, the attribute can be assigned: on a fitted
        estimator a list of arrays of these shapes is copied into the network
        (``coefs_[i] = array`` too), so that predict uses them and a
        ``warm_start`` fit starts from them; on an unfitted one the list is
        kept, and a fit with ``warm_start`` (or ``partial_fit``) starts from it
        where scikit-learn's would fail. A fit without ``warm_start``
        initialises afresh.
        """
        return self._read_parameters("coefs_", "W", lambda weight: weight.T)

    @coefs_.setter
    def coefs_(self, coefs):
        self._write_parameters("coefs_", coefs, "W", lambda weight: weight.T)

    @property
    def intercepts_(self):
        """list of (fan_out,) arrays: views of the network's ``b[l]`` (of
        ``beta[l]`` for a batch-norm layer, which has no ``b[l]``).

        Assignable as ``coefs_`` is.
        """
        return self._read_parameters("intercepts_", "b", lambda bias: bias[:, 0])

    @intercepts_.setter
    def intercepts_(self, intercepts):
        self._write_parameters("intercepts_", intercepts, "b", lambda bias: bias[:, 0])

    def _parameter_views(self, prefix, sklearn_view):
        """The scikit-learn views of the network's ``prefix`` parameters (a
        batch-norm layer's beta stands where b would be)."""
        network = self._fitted_network()
        parameters = network.parameters
        return [sklearn_view(parameters[f"{prefix}{l}" if f"{prefix}{l}" in parameters
                                        else f"beta{l}"])
                for l in range(1, len(network.layer_dims))]

    def _read_parameters(self, name, prefix, sklearn_view):
        if not hasattr(self, "network_") and name in self._assigned:
            return self._assigned[name]
        return LayerList(name, self._parameter_views(prefix, sklearn_view))

    def _write_parameters(self, name, arrays, prefix, sklearn_view):
        """Copy scikit-learn-shaped ``arrays`` into the network's ``prefix``
        parameters, whose scikit-learn view ``sklearn_view`` gives (unfitted:
        keep them for a warm start)."""
        if not hasattr(self, "network_"):
            if not np.iterable(arrays):
                raise TypeError(f"{name}: expected a list of arrays (one per layer), got "
                                f"{type(arrays).__name__}")
            self.__dict__.setdefault("_assigned_before_fit", {})[name] = list(arrays)
            return
        views = self._parameter_views(prefix, sklearn_view)
        arrays = list(arrays)
        if len(arrays) != len(views):
            raise ValueError(f"{name}: expected {len(views)} arrays (one per layer), "
                             f"got {len(arrays)}")
        arrays = [np.asarray(array) for array in arrays]
        for layer, (array, view) in enumerate(zip(arrays, views)):
            check_layer_shape(name, layer, array, view)
        for array, view in zip(arrays, views):
            view[...] = array

    @property
    def _no_improvement_count(self):
        """Epochs since the monitored value last improved (scikit-learn's
        counter: a fit stops, or the adaptive rate drops, once it passes
        ``n_iter_no_change``)."""
        if not hasattr(self, "_stopping") and "_no_improvement_count" in self._assigned:
            return self._assigned["_no_improvement_count"]
        return self._stopping.count

    @_no_improvement_count.setter
    def _no_improvement_count(self, count):
        if hasattr(self, "_stopping"):
            self._stopping.count = count
        else:   # (kept for a warm start, as coefs_ is)
            self.__dict__.setdefault("_assigned_before_fit", {})["_no_improvement_count"] = count

    @property
    def _assigned(self):
        """What was assigned to coefs_, intercepts_ or _no_improvement_count
        before the first fit, by name."""
        return self.__dict__.get("_assigned_before_fit", {})

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
            DNNClassifier: class labels (any labels; a 0/1 indicator matrix for
            multilabel). DNNRegressor: real targets, or with ``loss="poisson"``
            non-negative targets (counts or rates).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights: each batch's loss and gradient are weighted
            means, its total weight in the L2 term, as scikit-learn's (an
            integer weight acts as that many copies of the sample); ``loss_``
            is scikit-learn's (for sgd and adam, the batches' losses averaged
            by their numbers of samples). With unequal weights, sgd and adam
            take one engine call per batch.

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
            # assigned before any fit: a warm start (or partial_fit) starts from them
            assigned = self.__dict__.pop("_assigned_before_fit", {})
            if self.warm_start or incremental:
                for name, value in assigned.items():
                    setattr(self, name, value)
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
        if self.solver != "lbfgs":
            self._initialize_stochastic()

    def _initialize_stochastic(self):
        """scikit-learn's bookkeeping of the stochastic solvers (which lbfgs
        neither sets nor clears): the loss curve, the best loss or validation
        score, the count of epochs without improvement."""
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
        if not hasattr(self, "_stopping"):
            # (a warm start after an lbfgs fit, which keeps no such bookkeeping)
            self._initialize_stochastic()
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = Solver(*self._optimizer_and_rate(), self.learning_rate_init)
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
        settings = dict(alpha=self.alpha, keep_prob=keep_prob, shuffle=self.shuffle)
        n_outputs_averaged = self._n_outputs_averaged()
        if n_outputs_averaged == 1 and (sample_weight is None
                                        or np.all(sample_weight == sample_weight[0])):
            # (the engine's epoch cost is scikit-learn's loss)
            epoch = functools.partial(engine_epoch, network, self._optimizer, **settings)
        else:
            epoch = functools.partial(
                batchwise_epoch, network, self._optimizer, **settings,
                order_rng=np.random.default_rng(self._network_seed(rng)),
                n_outputs_averaged=n_outputs_averaged)
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
                        loss = epoch(X, targets, sample_weight, batch_size)
                except DivergenceError as error:
                    if not self.early_stopping:
                        raise ValueError(NONFINITE_WEIGHTS) from error
                    # scikit-learn's: from here on every epoch's loss and validation
                    # score are NaN (which never stops early), up to max_iter; the
                    # best weights are restored at the end
                    diverged = True
                self.n_iter_ += 1
                self.loss_ = np.nan if diverged else loss
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
                    self._optimizer.learning_rate = (self.learning_rate_init
                                                     / (self.t_ + 1) ** self.power_t)
                if stopping.stalled:
                    watched = "Validation score" if self.early_stopping else "Training loss"
                    message = (f"{watched} did not improve more than tol={self.tol:f} for "
                               f"{self.n_iter_no_change} consecutive epochs.")
                    if (self.solver == "sgd" and self.learning_rate == "adaptive"
                            and self._optimizer.learning_rate > 1e-6):
                        self._optimizer.learning_rate /= 5
                        stopping.restart_count()
                        if self.verbose:
                            print(f"{message} Setting learning rate to "
                                  f"{self._optimizer.learning_rate:f}")
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

    def _n_outputs_averaged(self):
        """Over how many outputs scikit-learn averages the data term of its
        reported loss: a multi-output squared error's (its other losses sum)."""
        return self.n_outputs_ if self.out_activation_ == "identity" else 1

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
        if self._n_outputs_averaged() > 1:
            self.loss_ = output_mean_loss(self.loss_, l2_term(
                network, self.alpha,
                X.shape[0] if sample_weight is None else float(np.sum(sample_weight))),
                self.n_outputs_)
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
