"""Optimizers and learning-rate schedules for :meth:`dnn.Network.fit`.

Each object only carries hyperparameters; the update rules run in the
compiled engine (one step alone: ``dnn_core.optimizer_step``; a schedule's
rate: ``dnn_core.scheduled_rate``). The rules are the course's (Improving
Deep Neural Networks, week 2), with ``g`` the gradient of one mini-batch and
``t`` the number of updates so far, from 1:

=========  ==================================================================
gd         ``p -= lr * g``
momentum   ``v = beta * v + (1 - beta) * g``; ``p -= lr * v``
nesterov   ``v = beta * v + (1 - beta) * g``; ``p -= lr * (beta * v + (1 - beta) * g)``
rmsprop    ``s = beta * s + (1 - beta) * g**2``; ``p -= lr * g / (sqrt(s) + epsilon)``
adam       ``v = beta1 * v + (1 - beta1) * g``; ``s = beta2 * s + (1 - beta2) * g**2``;
           ``p -= lr * (v / (1 - beta1**t)) / (sqrt(s / (1 - beta2**t)) + epsilon)``
=========  ==================================================================

Momentum is the course's exponentially weighted average, so its step is
``(1 - beta)`` times that of PyTorch's ``SGD(momentum=beta)`` at the same
learning rate.

A schedule gives the learning rate of each epoch (counted from 0 over the
network's life, so a warm-started ``fit`` continues the decay); pass one as
``fit(learning_rate=...)``. A plain number is a constant rate.
"""
import dnn_core
from dnn_core import registry

from dnn import _doc as doc
from dnn import _validation as check

__all__ = ["Optimizer", "GD", "Momentum", "Nesterov", "RMSProp", "Adam", "get",
           "from_hyperparameters",
           "Schedule", "Constant", "InverseTimeDecay", "StepDecay", "ExponentialDecay",
           "schedule"]


class Optimizer:
    """Base of the optimizers: a name, a compiled rule and its hyperparameters."""

    name = None
    code = None
    #: the learning rate fit() uses when none is given
    default_learning_rate = 0.01

    def hyperparameters(self):
        """(beta1, beta2, epsilon) as the engine takes them."""
        return 0.9, 0.999, 1e-8

    @classmethod
    def from_hyperparameters(cls, beta1, beta2, epsilon):
        """The optimizer whose :meth:`hyperparameters` are these (a saved file's)."""
        return cls()

    def __eq__(self, other):
        return type(self) is type(other) and self.hyperparameters() == other.hyperparameters()

    def __hash__(self):
        return hash((type(self), self.hyperparameters()))

    def __repr__(self):
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({fields})"


def _beta(value, name):
    return check.real(value, name, low=0.0, high=1.0 - 1e-16)


def _epsilon(value):
    return check.real(value, "epsilon", low=0.0, low_inclusive=False)


class GD(Optimizer):
    """Plain (mini-batch) gradient descent: ``p -= lr * g``."""

    name = "gd"
    code = registry.OPTIMIZERS["gd"].code


class Momentum(Optimizer):
    """Gradient descent with momentum: ``v = beta v + (1 - beta) g; p -= lr v``.

    Parameters
    ----------
    beta : float in [0, 1)
    """

    name = "momentum"
    code = registry.OPTIMIZERS["momentum"].code

    def __init__(self, beta=0.9):
        self.beta = _beta(beta, "beta")

    def hyperparameters(self):
        return self.beta, 0.999, 1e-8

    @classmethod
    def from_hyperparameters(cls, beta1, beta2, epsilon):
        return cls(beta1)


class Nesterov(Momentum):
    """Nesterov's momentum: as Momentum, stepping along ``beta v + (1 - beta) g``."""

    name = "nesterov"
    code = registry.OPTIMIZERS["nesterov"].code


class RMSProp(Optimizer):
    """RMSProp: ``s = beta s + (1 - beta) g**2; p -= lr g / (sqrt(s) + epsilon)``.

    Parameters
    ----------
    beta : float in [0, 1)
    epsilon : float > 0
    """

    name = "rmsprop"
    code = registry.OPTIMIZERS["rmsprop"].code
    default_learning_rate = 0.001

    def __init__(self, beta=0.9, epsilon=1e-8):
        self.beta = _beta(beta, "beta")
        self.epsilon = _epsilon(epsilon)

    def hyperparameters(self):
        return 0.9, self.beta, self.epsilon

    @classmethod
    def from_hyperparameters(cls, beta1, beta2, epsilon):
        return cls(beta2, epsilon)


class Adam(Optimizer):
    """Adam with bias correction (see the module's table).

    Parameters
    ----------
    beta1, beta2 : float in [0, 1)
    epsilon : float > 0
    """

    name = "adam"
    code = registry.OPTIMIZERS["adam"].code
    default_learning_rate = 0.001

    def __init__(self, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.beta1 = _beta(beta1, "beta1")
        self.beta2 = _beta(beta2, "beta2")
        self.epsilon = _epsilon(epsilon)

    def hyperparameters(self):
        return self.beta1, self.beta2, self.epsilon

    @classmethod
    def from_hyperparameters(cls, beta1, beta2, epsilon):
        return cls(beta1, beta2, epsilon)


#: optimizer name -> its class, one per registry row (in the registry's order)
OPTIMIZERS = {name: {cls.name: cls for cls in (GD, Momentum, Nesterov, RMSProp, Adam)}[name]
              for name in registry.OPTIMIZERS}


def get(optimizer):
    """An Optimizer from a name, one of {OPTIMIZERS}, or the object itself."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise (TypeError if not isinstance(optimizer, str) else ValueError)(
        f"optimizer: expected one of {sorted(OPTIMIZERS)} or a dnn.optimizers.Optimizer, "
        f"got {optimizer!r}")


get.__doc__ = doc.fill(get.__doc__)


def from_hyperparameters(name, beta1, beta2, epsilon):
    """The optimizer ``name`` whose :meth:`Optimizer.hyperparameters` are
    ``(beta1, beta2, epsilon)``: the inverse of ``(opt.name,
    opt.hyperparameters())``, as a saved file keeps an optimizer."""
    return OPTIMIZERS[name].from_hyperparameters(beta1, beta2, epsilon)


# ---------------------------------------------------------------------------
# Learning-rate schedules

class Schedule:
    """Base of the schedules: ``schedule(epoch)`` is the rate of that epoch."""

    code = registry.SCHEDULES["constant"].code

    def __init__(self, learning_rate):
        self.learning_rate = check.real(learning_rate, "learning_rate", low=0.0,
                                        low_inclusive=False)

    def arguments(self):
        """(a, b) as the engine takes them."""
        return 0.0, 1.0

    def __call__(self, epoch):
        a, b = self.arguments()
        return dnn_core.scheduled_rate(self.code, self.learning_rate, a, b, int(epoch))

    def __repr__(self):
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Constant(Schedule):
    """``learning_rate`` every epoch."""


class InverseTimeDecay(Schedule):
    """The course's decay: ``learning_rate / (1 + decay * floor(epoch / interval))``.

    ``interval=1`` is the course's ``update_lr``; a larger one its
    ``schedule_lr_decay(..., time_interval)``.
    """

    code = registry.SCHEDULES["inverse_time"].code

    def __init__(self, learning_rate, decay=1.0, interval=1):
        super().__init__(learning_rate)
        self.decay = check.real(decay, "decay", low=0.0)
        self.interval = check.positive_int(interval, "interval")

    def arguments(self):
        return self.decay, float(self.interval)


class StepDecay(Schedule):
    """``learning_rate * factor ** floor(epoch / step_size)``."""

    code = registry.SCHEDULES["step"].code

    def __init__(self, learning_rate, factor=0.5, step_size=10):
        super().__init__(learning_rate)
        self.factor = check.real(factor, "factor", low=0.0, low_inclusive=False, high=1.0)
        self.step_size = check.positive_int(step_size, "step_size")

    def arguments(self):
        return self.factor, float(self.step_size)


class ExponentialDecay(Schedule):
    """``learning_rate * decay_rate ** (epoch / decay_epochs)``."""

    code = registry.SCHEDULES["exponential"].code

    def __init__(self, learning_rate, decay_rate=0.96, decay_epochs=1):
        super().__init__(learning_rate)
        self.decay_rate = check.real(decay_rate, "decay_rate", low=0.0,
                                     low_inclusive=False, high=1.0)
        self.decay_epochs = check.real(decay_epochs, "decay_epochs", low=0.0,
                                       low_inclusive=False)

    def arguments(self):
        return self.decay_rate, self.decay_epochs


#: schedule name (the registry's) -> its class
SCHEDULES = {name: {cls.code: cls for cls in (Constant, InverseTimeDecay, StepDecay,
                                               ExponentialDecay)}[row.code]
             for name, row in registry.SCHEDULES.items()}


def schedule(learning_rate):
    """A Schedule from a positive number (constant) or the object itself."""
    if isinstance(learning_rate, Schedule):
        return learning_rate
    if isinstance(learning_rate, str) or callable(learning_rate):
        raise TypeError("learning_rate: expected a number or a dnn.optimizers.Schedule, "
                        f"got {learning_rate!r}")
    return Constant(learning_rate)
