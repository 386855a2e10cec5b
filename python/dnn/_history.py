"""What a fit leaves: its :class:`History`, or a :class:`DivergenceError`."""

__all__ = ["DivergenceError", "History", "TARGET_SCALE_WARNING", "divergence_message"]

#: a linear output's target standard deviation above which fit() warns
TARGET_SCALE_WARNING = 1e4


class DivergenceError(FloatingPointError, ValueError):
    """Training diverged: the cost or the parameters became NaN or infinite.

    Also a ValueError, which is what scikit-learn's estimators raise for it."""


class History:
    """What fit() recorded, one entry per completed epoch.

    Attributes
    ----------
    epoch : list of int
        Epoch numbers over the network's life, from 0.
    cost : list of float
        Mean training cost of the epoch's batches (with the l2 term).
    val_cost, val_accuracy : list of float
        On the validation data, after the epoch (no l2 term); empty without
        validation data; no accuracy for a linear output.
    seconds : list of float
        Wall time of the epoch's training.
    stopped_early : bool
    """

    def __init__(self):
        self.epoch, self.cost, self.seconds = [], [], []
        self.val_cost, self.val_accuracy = [], []
        self.stopped_early = False

    @property
    def history(self):
        """The recorded lists by name, like Keras's ``History.history``."""
        names = ("cost", "val_cost", "val_accuracy", "seconds")
        return {name: getattr(self, name) for name in names if getattr(self, name)}

    def __len__(self):
        return len(self.epoch)

    def __repr__(self):
        last = f", cost={self.cost[-1]:.6g}" if self.cost else ""
        return f"History(epochs={len(self)}{last})"


def divergence_message(epoch, completed, learning_rate, target_scale=0.0):
    """The DivergenceError's message for a fit that diverged in its ``epoch``
    (from 1) after ``completed`` epochs, with its likely cause: targets far from
    unit scale (``target_scale``, their standard deviation, above
    :data:`TARGET_SCALE_WARNING`) or too large a learning rate."""
    if target_scale > TARGET_SCALE_WARNING:
        cause = (f"the targets are far from unit scale (standard deviation "
                 f"{target_scale:.3g}): scale y, e.g. with scikit-learn's "
                 f"TransformedTargetRegressor or StandardScaler, or use a much "
                 f"smaller learning rate (it was {learning_rate:g})")
    else:
        cause = (f"the learning rate is too large (it was {learning_rate:g}): try a "
                 f"smaller learning rate, or scale the inputs")
    return (f"training diverged in epoch {epoch} of this fit (the cost or the parameters "
            f"became NaN or infinite); the network was put back to the lowest-cost state "
            f"seen in this fit, with its optimizer state (after {completed} completed epochs "
            f"of this fit). Likely cause: {cause}.")
