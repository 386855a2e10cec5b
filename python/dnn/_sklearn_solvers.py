"""The solvers of :mod:`dnn.sklearn`'s estimators, a mixin of their base
(:class:`dnn._sklearn_base._BaseDNN`): the sgd and adam epochs with
scikit-learn's bookkeeping (loss curve, early stopping, adaptive and
invscaling rates) and lbfgs; each alone or, with ``comm``, over MPI ranks
(:mod:`dnn._sklearn_mpi`): every rank runs the same loop on the union's
numbers (losses and scores reduced over the ranks), so every rank takes the
same decisions and ends with the same attributes.
"""
import contextlib
import functools
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse
from sklearn.base import ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split

from dnn import _sklearn_mpi as mpi
from dnn._sklearn_epochs import (Solver, batchwise_epoch, distributed_batchwise_epoch,
                                 engine_epoch, l2_term, output_mean_loss)
from dnn.distributed import sigint_flag
from dnn.network import DivergenceError

__all__ = ["Data", "Solvers", "NONFINITE_WEIGHTS"]

#: scikit-learn's error when a fit ends with NaN or infinite weights
NONFINITE_WEIGHTS = ("Solver produced non-finite parameter weights. The input data may "
                     "contain large values and need to be preprocessed.")


class Data:
    """One rank's checked training data (and validation split), and ``share``:
    what it tells the other ranks (its numbers of rows, its weights)."""

    def __init__(self, X, y, targets, sample_weight, rng):
        self.X, self.y, self.targets, self.sample_weight = X, y, targets, sample_weight
        self.rng = rng
        self.X_val = self.y_val = self.targets_val = self.weight_val = None
        self.share = None


class Solvers:
    """sgd, adam and lbfgs for the estimators (see the module's docstring)."""

    def _prepare_stochastic(self, data, incremental):
        """This rank's checks and validation split before sgd or adam."""
        if self.early_stopping and incremental:
            raise ValueError("early_stopping: partial_fit does not support "
                             "early_stopping=True")
        if not hasattr(self, "_stopping"):
            # (a warm start after an lbfgs fit, which keeps no such bookkeeping)
            self._initialize_stochastic()
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = Solver(*self._optimizer_and_rate(), self.learning_rate_init)
            self.network_.reset_optimizer()
        if self.early_stopping:
            # (scikit-learn's: stratified on the 0/1 column of a binary target only)
            targets, weights = data.targets, data.sample_weight
            stratify = (targets.astype(bool) if isinstance(self, ClassifierMixin)
                        and self.n_outputs_ == 1 else None)
            parts = train_test_split(data.X, targets, data.y,
                                     *(() if weights is None else (weights,)),
                                     random_state=data.rng, test_size=self.validation_fraction,
                                     stratify=stratify)
            data.X, data.X_val, data.targets, data.targets_val, _, data.y_val = parts[:6]
            data.sample_weight, data.weight_val = parts[6:] or (None, None)

    def _batch_size(self, largest):
        """The batch size for ``largest`` rows (with comm: per rank, the
        largest rank's rows)."""
        if self.batch_size == "auto":
            return min(200, largest)
        if self.batch_size > largest:
            warnings.warn(f"batch_size: Got `batch_size` less than 1 or larger than "
                          f"sample size. It is going to be clipped (batch_size="
                          f"{self.batch_size}, {largest} samples)")
        return min(self.batch_size, largest)

    def _epoch_function(self, data, shares, comm, batch_size):
        """One epoch's function ``(X, targets, sample_weight) -> loss``."""
        network = self.network_
        keep_prob = 1.0 - self.dropout if self.dropout else None
        settings = dict(alpha=self.alpha, keep_prob=keep_prob, shuffle=self.shuffle)
        n_outputs_averaged = self._n_outputs_averaged()
        weights = [share["weights"] for share in shares]
        if n_outputs_averaged == 1 and (weights[0] is None or (
                weights[0] != "unequal" and len(set(weights)) == 1)):
            # (the engine's epoch cost is scikit-learn's loss)
            return functools.partial(engine_epoch, network, self._optimizer, **settings,
                                     batch_size=batch_size, comm=comm)
        order_rng = np.random.default_rng(self._network_seed(data.rng))
        if comm is None:
            return functools.partial(batchwise_epoch, network, self._optimizer, **settings,
                                     batch_size=batch_size, order_rng=order_rng,
                                     n_outputs_averaged=n_outputs_averaged)
        return functools.partial(distributed_batchwise_epoch, network, self._optimizer,
                                 **settings, batch_size=batch_size, order_rng=order_rng,
                                 n_outputs_averaged=n_outputs_averaged, comm=comm,
                                 sizes=[share["train"] for share in shares])

    def _fit_stochastic(self, data, shares, comm, incremental):
        n_samples = sum(share["train"] for share in shares)
        if self.early_stopping and sum(share["val"] for share in shares) < 2:
            raise ValueError("validation_fraction: The validation set is too small. "
                             "Increase 'validation_fraction' or the size of your "
                             "dataset.")
        batch_size = self._batch_size(max(share["train"] for share in shares))
        epoch = self._epoch_function(data, shares, comm, batch_size)
        verbose = self.verbose and mpi.rank(comm) == 0
        network = self.network_
        self._best_parameters = None
        self._best_running_stats = None
        stopping = self._stopping
        stopping.patience, stopping.min_delta = self.n_iter_no_change + 1, self.tol
        # (scikit-learn's: n_iter_ counts this call's epochs, so one for partial_fit)
        self.n_iter_ = 0
        diverged = False
        with contextlib.ExitStack() as stack:
            # (with comm, a Ctrl-C between epochs is agreed upon at the epoch's end)
            interrupted = [False] if comm is None else stack.enter_context(sigint_flag())
            # (a dual-form layer 1 is formed once, at the end: dnn.Network.consecutive_fits)
            stack.enter_context(network.consecutive_fits())
            try:
                for _ in range(self.max_iter):
                    try:
                        if not diverged:
                            loss = epoch(data.X, data.targets, data.sample_weight)
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
                    if verbose:
                        print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                    scores = self._epoch_scores(data, comm, diverged, interrupted)
                    if diverged:
                        self.val_loss_curve_.append(np.nan)
                        self._update_no_improvement(np.nan, verbose)
                    elif self.early_stopping:
                        self.val_loss_curve_.append(scores[0])
                        self._update_no_improvement(scores[1], verbose)
                    else:
                        self._update_no_improvement(None, verbose)
                    if self.solver == "sgd" and self.learning_rate == "invscaling":
                        self._optimizer.learning_rate = (self.learning_rate_init
                                                         / (self.t_ + 1) ** self.power_t)
                    if stopping.stalled:
                        watched = ("Validation score" if self.early_stopping
                                   else "Training loss")
                        message = (f"{watched} did not improve more than tol={self.tol:f} "
                                   f"for {self.n_iter_no_change} consecutive epochs.")
                        if (self.solver == "sgd" and self.learning_rate == "adaptive"
                                and self._optimizer.learning_rate > 1e-6):
                            self._optimizer.learning_rate /= 5
                            stopping.restart_count()
                            if verbose:
                                print(f"{message} Setting learning rate to "
                                      f"{self._optimizer.learning_rate:f}")
                        else:
                            if verbose:
                                print(f"{message} Stopping.")
                            break
                    if incremental:
                        break
                    if self.n_iter_ == self.max_iter:
                        warnings.warn(f"Stochastic Optimizer: Maximum iterations "
                                      f"({self.max_iter}) reached and the optimization "
                                      f"hasn't converged yet.", ConvergenceWarning)
            except KeyboardInterrupt:
                # scikit-learn's behaviour: keep the model of the last completed step
                warnings.warn("Training interrupted by user.")
        if self.early_stopping and self._best_parameters is not None:
            network.flat_parameters = self._best_parameters
            if self._best_running_stats:
                network.running_stats = self._best_running_stats

    def _epoch_scores(self, data, comm, diverged, interrupted):
        """(validation cost, validation score) after an epoch (None without
        early stopping): with comm, over the union of the ranks' validation
        rows, once the ranks agree that none failed or was interrupted."""
        validate = self.early_stopping and not diverged
        if comm is None:
            if not validate:
                return None
            return (self._validation_cost(data.X_val, data.targets_val),
                    self._validation_score(data.X_val, data.y_val, data.weight_val))
        failure = local = None
        try:
            if validate:
                outputs = self._validation_outputs(data.X_val)
                local = (self._validation_cost(data.X_val, data.targets_val), outputs)
        except Exception as error:
            failure = error
        if any(mpi.gather(comm, failure, "validating an epoch", bool(interrupted[0]))):
            raise KeyboardInterrupt()
        if not validate:
            return None
        cost, outputs = local
        cost = mpi.union_mean(comm, cost, data.X_val.shape[0])
        finite = outputs is not None
        predictions = self._predictions(outputs) if finite else None
        union = (mpi.union_accuracy if isinstance(self, ClassifierMixin) else mpi.union_r2)
        return cost, union(comm, data.y_val, predictions, data.weight_val, finite)

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

    def _validation_outputs(self, X):
        """The output layer on validated arrays, None where not finite."""
        try:
            outputs = self.network_.predict_proba(X)
        except ValueError:   # the outputs overflowed
            return None
        return outputs if np.all(np.isfinite(outputs)) else None

    def _validation_score(self, X, y, sample_weight):
        """scikit-learn's score of validated arrays (no feature-name check):
        NaN where the predictions are not finite."""
        outputs = self._validation_outputs(X)
        if outputs is None:
            return np.nan
        if isinstance(self, ClassifierMixin):
            return float(accuracy_score(y, self._predictions(outputs),
                                        sample_weight=sample_weight))
        return float(r2_score(y, self._predictions(outputs), sample_weight=sample_weight))

    def _update_no_improvement(self, validation_score, verbose):
        """One epoch for early stopping: the validation score (early_stopping)
        or else the training loss."""
        if validation_score is not None:
            self.validation_scores_.append(validation_score)
            if verbose:
                print(f"Validation score: {validation_score:f}")
            if self._stopping.update(validation_score):
                self._best_parameters = self.network_.flat_parameters
                self._best_running_stats = self.network_.running_stats
            self.best_validation_score_ = self._stopping.best
        else:
            self._stopping.update(self.loss_curve_[-1])
            self.best_loss_ = self._stopping.best

    def _fit_lbfgs(self, data, shares, comm):
        network = self.network_
        X, targets, sample_weight = data.X, data.targets, data.sample_weight
        total_weight = sum(share["weight"] for share in shares)
        verbose = self.verbose and mpi.rank(comm) == 0

        def cost_and_gradient(flat):
            cost, gradient = network.loss_and_gradient(flat, X, targets, self.alpha,
                                                       sample_weight)
            if not np.isfinite(cost):
                # a step too far: L-BFGS-B's line search backs off from an infinite cost
                return np.inf, np.zeros_like(gradient)
            return cost, gradient

        def report(intermediate_result):
            if verbose:
                print(f"Iteration {self.n_iter_ + 1}, loss = {intermediate_result.fun:.8f}")
            self.n_iter_ += 1

        objective = cost_and_gradient
        with contextlib.ExitStack() as stack:
            if comm is not None:
                # every rank starts from rank 0's parameters and evaluates the union's
                # cost and gradient: the same numbers, so the same L-BFGS-B path
                network.flat_parameters = comm.bcast(network.flat_parameters, root=0)
                objective = mpi.LbfgsObjective(
                    comm, network, X, targets, sample_weight, self.alpha, total_weight,
                    stack.enter_context(sigint_flag()))
            start = network.flat_parameters.astype(np.float64)
            self.n_iter_ = 0
            with network.training(X.shape[0], sparse_input=scipy.sparse.issparse(X)):
                result = scipy.optimize.minimize(
                    objective, start, method="L-BFGS-B", jac=True, callback=report,
                    options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                             "gtol": self.tol})
        mpi.check_same_parameters(comm, result.x)
        self.n_iter_ = min(int(result.nit), self.max_iter)
        if not np.all(np.isfinite(result.x)):
            network.flat_parameters = start
            raise ValueError(NONFINITE_WEIGHTS)
        network.flat_parameters = result.x
        self.loss_ = float(result.fun)
        if self._n_outputs_averaged() > 1:
            self.loss_ = output_mean_loss(self.loss_, l2_term(network, self.alpha,
                                                              total_weight),
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
