"""dnn_core: the compiled kernels of dnn-core (Cython over SciPy's BLAS).

Low level and unforgiving of meaning (they check only that shapes fit, so
nothing is read or written out of bounds): use the ``dnn`` package for a
validated API. Arrays are in the course's layout, ``(units, examples)``.
"""
from dnn_core import _activations, _blas, _checks, _dense, _losses, _update, registry

#: activation name -> the code the kernels take (from dnn_core.registry)
ACTIVATIONS = {name: row.code for name, row in registry.ACTIVATIONS.items()}

#: loss name -> the code the kernels take (from dnn_core.registry; aliases in registry.losses())
LOSSES = {row.loss: row.loss_code for row in registry.OUTPUTS.values()}

dense_forward = _dense.forward
dense_backward = _dense.backward
activation_forward = _activations.forward
activation_backward = _activations.backward
logits_cost = _losses.logits_cost
probs_cost = _losses.probs_cost
probs_gradient = _losses.probs_gradient
output_delta = _losses.delta
sgd_update = _update.sgd
value_summary = _checks.summary
has_nonfinite = _checks.has_nonfinite
rows_beyond = _checks.rows_beyond

__all__ = [
    "ACTIVATIONS", "LOSSES", "dense_forward", "dense_backward", "activation_forward",
    "activation_backward", "logits_cost", "probs_cost", "probs_gradient", "output_delta",
    "sgd_update", "value_summary", "has_nonfinite", "rows_beyond",
]
