"""Early stopping: one counter of epochs without improvement, for
:meth:`dnn.Network.fit` (Keras's rules) and :mod:`dnn.sklearn` (scikit-learn's).

The two differ in three ways, each a parameter here:

================  ==========================  ===============================
                  Network.fit                 dnn.sklearn (MLP's rules)
================  ==========================  ===============================
improvement       better than the best by     better than the best by at
                  more than ``min_delta``     least ``tol``
                  (``delta_inclusive=False``) (``delta_inclusive=True``)
the best moves    on an improvement only      on any better value
                  (``best_moves="improved"``) (``best_moves="any"``)
stop              after ``patience`` epochs   after ``n_iter_no_change + 1``
                  without improvement         (``patience=n_iter_no_change + 1``)
================  ==========================  ===============================
"""
import math

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Counts the epochs since a monitored value last improved.

    Parameters
    ----------
    patience : int >= 1
        :attr:`stalled` once this many epochs in a row brought no improvement.
    min_delta : float >= 0
        The gain over the best value that counts as an improvement.
    mode : {"min", "max"}
        Whether lower (a cost) or higher (a score) is better.
    delta_inclusive : bool
        Whether a gain of exactly ``min_delta`` counts.
    best_moves : {"improved", "any"}
        When :attr:`best` takes a new value: on an improvement only, or on
        any better value (even by less than ``min_delta``).

    Attributes
    ----------
    best : float
        The best value seen (``inf`` or ``-inf`` before any).
    count : int
        Epochs since the last improvement.
    """

    def __init__(self, patience, min_delta=0.0, mode="min", delta_inclusive=False,
                 best_moves="improved"):
        if mode not in ("min", "max") or best_moves not in ("improved", "any"):
            raise ValueError(f"mode, best_moves: expected 'min' or 'max' and 'improved' or "
                             f"'any', got {mode!r}, {best_moves!r}")
        self.patience = patience
        self.min_delta = min_delta
        self.sign = 1.0 if mode == "min" else -1.0
        self.delta_inclusive = delta_inclusive
        self.best_moves = best_moves
        self.best = math.inf * self.sign
        self.count = 0

    def update(self, value):
        """Record one epoch's ``value``.

        Returns
        -------
        bool
            Whether ``value`` is the new :attr:`best` (keep the parameters of
            this epoch, to restore them at the end).
        """
        # (written as the two libraries write them, so that rounding and NaN
        # go the same way)
        if self.sign > 0:
            bar = self.best - self.min_delta
            improved = not value > bar if self.delta_inclusive else value < bar
            better = value < self.best
        else:
            bar = self.best + self.min_delta
            improved = not value < bar if self.delta_inclusive else value > bar
            better = value > self.best
        self.count = 0 if improved else self.count + 1
        if improved if self.best_moves == "improved" else better:
            self.best = value
            return True
        return False

    @property
    def stalled(self):
        """Whether ``patience`` epochs in a row brought no improvement."""
        return self.count >= self.patience

    def restart_count(self):
        """Count from zero again (scikit-learn's adaptive learning rate, after
        it lowered the rate)."""
        self.count = 0
