"""The Network side of inference and gradients: :meth:`dnn.Network.predict_proba`,
``predict``, ``evaluate``, ``compute_gradients`` and ``loss_and_gradient``, as a
mixin of :class:`dnn.Network` (training: :mod:`dnn.network`; files:
:mod:`dnn._network_files`)."""
import numpy as np

import dnn_core
from dnn_core import registry

from dnn import _threads as threads
from dnn import _validation as check
from dnn._sparse_input import is_sparse, workspace_dims

__all__ = ["NetworkEvaluation"]


class NetworkEvaluation:
    """Inference and gradients: a base of :class:`dnn.Network`, whose attributes
    it reads (the architecture, and its engine, engine lock, checked data and
    flat parameter vectors)."""

    def predict_proba(self, X):
        """The output activations, shape (n_samples, n_out): probabilities for
        sigmoid (per output) and softmax (per class), values for linear.

        X, shape (n_samples, n_features), is taken as :meth:`fit` takes it (a
        memmap streams, converted chunk by chunk); the outputs are in the
        network's dtype."""
        X = check.features(X, self.layer_dims[0], self.dtype)
        out = np.empty((X.shape[0], self.layer_dims[-1]), dtype=self.dtype)
        with self._engine_lock, self._prediction_threads(X):
            self._engine.predict(X, out)
        _check_overflow(out, "the output activations")
        return out

    def predict(self, X):
        """Classes (softmax: argmax; sigmoid: probability >= 0.5) or values
        (linear); shape (n_samples,) for one output unit or softmax, else
        (n_samples, n_out)."""
        A = self.predict_proba(X)
        target = registry.OUTPUTS[self.output].target
        if target == "categorical":
            return np.argmax(A, axis=1)
        if target == "binary":
            A = (A >= 0.5).astype(np.int64)
        return A[:, 0] if A.shape[1] == 1 else A

    def evaluate(self, X, y):
        """{"cost": mean cost (no l2 term), "accuracy" (classifiers) or "mse"
        (linear: mean of (prediction - y)**2 over samples and outputs)}."""
        scores = self._scores(*self._dataset(X, y))
        _check_overflow(np.array([scores["cost"]]), "the cost")
        return scores

    def _prediction_threads(self, X):
        """BLAS threads for a prediction on X (:func:`dnn._threads.prediction`)."""
        dims = (0, *self.layer_dims[1:]) if is_sparse(X) else self.layer_dims
        return threads.prediction(dims, X.shape[0], self.n_threads)

    def _scores(self, X, T, labels):
        with self._engine_lock, self._prediction_threads(X):
            cost = self._engine.cost(X, T, labels)
            A = self._engine.predict(X, np.empty((X.shape[0], self.layer_dims[-1]),
                                                 dtype=self.dtype))
        scores = {"cost": float(cost)}
        target = registry.OUTPUTS[self.output].target
        if target == "categorical":
            scores["accuracy"] = float(np.mean(np.argmax(A, axis=1) == labels))
        elif target == "binary":
            scores["accuracy"] = float(np.mean((A >= 0.5) == (T >= 0.5)))
        else:
            scores["mse"] = float(np.mean((A.astype(np.float64) - T) ** 2))
        return scores

    def compute_gradients(self, X, y, l2=0.0, sample_weight=None):
        """The full-batch gradient at the current parameters (no dropout),
        weighted as in :meth:`fit` when ``sample_weight`` is given.

        Returns
        -------
        cost : float
            With the l2 term.
        grads : dict
            ``{"dW1": (n1, n0), "db1": (n1, 1), ...}``, copies.
        """
        X, T, labels = self._dataset(X, y)
        weights = check.sample_weight(sample_weight, X.shape[0], self.dtype)
        l2 = check.real(l2, "l2", low=0.0)
        check.workspace(workspace_dims(self.layer_dims, X), X.shape[0], self.dtype, "X")
        with self._engine_lock:
            cost = self._engine.compute_gradients(X, T, labels, l2, sample_weight=weights)
            grads = {key: value.copy() for key, value in self._engine.gradient_views().items()}
        if weights is None or weights.any():  # (all-zero weights: a NaN cost, by design)
            _check_overflow(np.array([cost]), "the cost")
            for value in grads.values():
                _check_overflow(value, "the gradients")
        return cost, grads

    def loss_and_gradient(self, flat_parameters, X, y, l2=0.0, sample_weight=None):
        """The full-batch cost and its gradient at the parameter vector
        ``flat_parameters``, as a minimizer such as
        ``scipy.optimize.minimize(..., jac=True)`` wants them.

        The network's own parameters are left as they were. As
        :meth:`compute_gradients`, without dropout, weighted as in :meth:`fit`
        when ``sample_weight`` is given; unlike it, a cost that overflowed is
        returned (inf or NaN) rather than raised, so that a line search can
        back off.

        Parameters
        ----------
        flat_parameters : array_like, shape (n_parameters,)
            Laid out as :attr:`flat_parameters`; converted to the network's
            dtype.
        X : array_like, shape (n_samples, n_features)
        y : array_like
            As :meth:`fit` takes it.
        l2 : float >= 0
        sample_weight : array_like, shape (n_samples,), or None

        Returns
        -------
        cost : float
            With the l2 term.
        gradient : ndarray, shape (n_parameters,), float64
            Laid out as :attr:`flat_parameters`.
        """
        flat = self._flat_vector(flat_parameters, "flat_parameters")
        X, T, labels = self._dataset(X, y)
        weights = check.sample_weight(sample_weight, X.shape[0], self.dtype)
        l2 = check.real(l2, "l2", low=0.0)
        check.workspace(workspace_dims(self.layer_dims, X), X.shape[0], self.dtype, "X")
        engine = self._engine
        with self._engine_lock:
            kept = engine.parameters.copy()
            try:
                engine.parameters[...] = flat
                cost = engine.compute_gradients(X, T, labels, l2, sample_weight=weights)
                gradient = engine.gradients.astype(np.float64)
            finally:
                engine.parameters[...] = kept
        return float(cost), gradient


def _check_overflow(array, what):
    """Raise if the outputs of finite data and parameters overflowed."""
    if dnn_core.has_nonfinite(array.reshape(-1)):
        raise ValueError(f"X: {what} overflowed to inf or NaN although X and the parameters "
                         "are finite; scale X down")
