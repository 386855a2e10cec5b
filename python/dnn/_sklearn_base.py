"""What DNNClassifier and DNNRegressor share (:mod:`dnn.sklearn`): their
parameters, the attributes scikit-learn sets, scikit-learn's initialisation,
and the two phases of a fit before its solver (:mod:`dnn._sklearn_solvers`):
each rank's checks, agreed upon with ``comm`` (:mod:`dnn._sklearn_mpi`), then
its data and network.
"""
import numbers

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from dnn import _sklearn_mpi as mpi
from dnn import optimizers as optim
from dnn._early_stopping import EarlyStopping
from dnn._sklearn_epochs import LayerList, check_layer_shape
from dnn._sklearn_params import ACTIVATIONS, OUT_ACTIVATIONS, check_params, named
from dnn._sklearn_solvers import NONFINITE_WEIGHTS, Data, Solvers  # noqa: F401
from dnn.network import Network

#: what the ranks of a fit with comm must share, as the messages name it
SUMMARY_NAMES = {"parameters": "estimator parameters (all but verbose and n_threads)",
                 "first_pass": "state (fitted and warm_start, or not)",
                 "n_features": "number of features", "feature_names": "feature names",
                 "dtype": "dtype (X's, or the dtype parameter)",
                 "classes": "classes_ (from earlier fits or partial_fit's classes)"}


def _stochastic(estimator):
    if estimator.solver not in ("sgd", "adam"):
        # (scikit-learn's text, after the argument's name)
        raise AttributeError(f"solver: partial_fit is only available for stochastic "
                             f"optimizers. {estimator.solver} is not stochastic.")
    return True


class _BaseDNN(Solvers, BaseEstimator):
    """What DNNClassifier and DNNRegressor share: parameters, solvers, attributes."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, dtype=None, init="glorot_uniform", n_threads=None,
                 batch_norm=False, first_layer="auto"):
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
        self.first_layer = first_layer

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

    def fit(self, X, y, sample_weight=None, *, comm=None):
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
        comm : mpi4py intra-communicator or None, default=None
            Data-parallel training over MPI: every rank of ``comm`` calls
            ``fit`` with its own rows (X, y, sample_weight) and an estimator
            of the same parameters, and every rank ends with the same fitted
            attributes: those of one process trained on the union of the
            ranks' batches (``batch_size`` is per rank; see the README's
            "scikit-learn over MPI"). The classes are the union of the ranks'
            labels; bad input on any rank makes every rank raise. A fit
            argument rather than a parameter: a communicator neither clones
            nor pickles. Not with ``dropout`` or ``batch_norm``.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False, comm=comm)

    def _fit(self, X, y, sample_weight, incremental, comm=None, classes=None):
        comm = mpi.checked(comm)
        # every rank checks its own input, then the ranks agree (with comm), so
        # that a rank that fails makes every rank raise instead of leaving it waiting
        failure = summary = None
        try:
            hidden = self._check_params()
            if comm is not None:
                self._check_distributable()
            first_pass = not hasattr(self, "network_") or not (self.warm_start or incremental)
            X, y = self._validate_input(X, y, incremental, reset=first_pass, classes=classes)
            summary = self._input_summary(X, y, first_pass, incremental)
        except Exception as error:
            failure = error
        summaries = mpi.gather(comm, failure, "checking its input", summary)
        if comm is not None:
            for name in summaries[0]["parameters"]:
                mpi.compare([item["parameters"].get(name) for item in summaries], name,
                            SUMMARY_NAMES["parameters"], shown=str)
            for key in ("first_pass", "n_features", "feature_names", "dtype", "classes"):
                mpi.compare([item[key] for item in summaries],
                            "X" if key in ("n_features", "feature_names", "dtype") else
                            {"first_pass": "warm_start"}.get(key, key),
                            SUMMARY_NAMES[key])
        self._agree_targets([item["targets"] for item in summaries], y, incremental)
        failure = data = None
        try:
            data = self._prepare(X, y, sample_weight, hidden, first_pass, incremental)
        except Exception as error:
            failure = error
        shares = mpi.gather(comm, failure, "preparing its data",
                            None if data is None else data.share)
        mpi.compare([share["weights"] is None for share in shares], "sample_weight",
                    "presence of sample_weight (None or not)")
        if self.solver == "lbfgs":
            self._fit_lbfgs(data, shares, comm)
        else:
            self._fit_stochastic(data, shares, comm, incremental)
        return self

    def _check_distributable(self):
        """ValueError for what ``comm`` cannot train (the same on every rank)."""
        if self.dropout:
            raise ValueError(f"dropout: not supported with comm (each rank would draw its "
                             f"own masks); got {self.dropout!r}")
        if np.any(self.batch_norm):
            raise ValueError(f"batch_norm: not supported with comm (its statistics would be "
                             f"each rank's batch's); got {self.batch_norm!r}")
        if self.first_layer == "dual":
            raise ValueError("first_layer: 'dual' is not supported with comm (each rank's "
                             "dual features are its own rows'); use 'auto' or 'primal'")

    def _input_summary(self, X, y, first_pass, incremental):
        """What the ranks compare (and, "targets", join) before training."""
        parameters = {key: repr(value) for key, value in self.get_params(deep=False).items()
                      if key not in ("verbose", "n_threads")}
        names = getattr(self, "feature_names_in_", None)
        return {"parameters": parameters, "first_pass": first_pass,
                "n_features": X.shape[1],
                "feature_names": None if names is None else list(names),
                "dtype": (X.dtype if self.dtype is None else np.dtype(self.dtype)).name,
                # (the classes of an earlier fit count in a warm start or partial_fit)
                "classes": list(self.classes_) if hasattr(self, "classes_") and (
                    self.warm_start or incremental) else None,
                "targets": self._target_summary(y, incremental)}

    def _prepare(self, X, y, sample_weight, hidden, first_pass, incremental):
        """This rank's part before training: its targets, the network (first
        pass), its data in the network's dtype, its validation split."""
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
        self.network_.first_layer = self.first_layer   # (set_params between fits)
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
        data = Data(X, y, targets, sample_weight, rng)
        if self.solver != "lbfgs":
            self._prepare_stochastic(data, incremental)
        weights = data.sample_weight
        data.share = {
            "train": data.X.shape[0], "val": 0 if data.X_val is None else data.X_val.shape[0],
            "weight": float(data.X.shape[0] if weights is None
                            else np.sum(weights, dtype=np.float64)),
            "weights": None if weights is None else (
                float(weights[0]) if len(weights) and np.all(weights == weights[0])
                else "unequal")}
        return data

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
