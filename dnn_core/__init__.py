"""dnn_core: the compiled kernels of dnn-core (Cython over SciPy's BLAS).

Low level and unforgiving of meaning (they check only that shapes fit, so
nothing is read or written out of bounds): use the ``dnn`` package for a
validated API. Arrays are in the course's layout, ``(units, examples)``.

The public names (everything in ``__all__``) are what ``dnn`` uses; the
``dnn_core._x`` modules behind them are private and may be reorganised.

- ``Engine(layer_dims, activation_codes, loss_code, slope, dtype, seed)``: the
  compiled network (flat parameter and gradient buffers, optimizer state,
  the training loop without the GIL) under :class:`dnn.Network`.
- ``optimizer_step(code, P, G, V, S, rate, beta1=0.9, beta2=0.999,
  epsilon=1e-8, t=1)``: one update of the 1-D C-contiguous parameter vector
  ``P`` in place by the optimizer of that code (``registry.OPTIMIZERS``), with
  gradient ``G`` and state ``V``, ``S`` (updated in place), all of P's length
  and dtype; ``t >= 1`` is the step count (Adam's bias correction).
- ``scheduled_rate(code, rate0, a, b, epoch)``: the learning rate at ``epoch``
  of the schedule of that code (``registry.SCHEDULES``; ``a, b``: its
  arguments).
- ``gemm_floor(layer_dims, batch, dtype, ...)``: the time of a step's GEMMs alone
  (the floor that benchmarks/bench_step.py reports ratios to).
- ``sparse_kernels``: the sparse first layer's kernels (CSR batch gather,
  forward, weight gradient) with every argument checked.
- ``DualLayer(features, basis_gram, units)``: the dual features of a training
  set for ``Engine.enable_dual``, the dual form of the first layer (issue 14;
  :mod:`dnn._dual`).
- ``batch_norm_train_forward``, ``batch_norm_inference_forward``,
  ``batch_norm_backward``, ``batch_norm_fold``: one batch-normalization
  layer's kernels over ``(units, examples)`` C-contiguous arrays (see each
  one's docstring).
- ``busy_jobs()``: ``(jobs, busy)``, the engine's pool jobs of more than one
  task run so far in this process and how many of them found the pool busy (a
  sharded step is 2 jobs, 2 K + 2 with K batch-norm layers; benchmarks count
  them).
- ``gemm_threads``: the per-GEMM choice of OpenBLAS threads (``bind_setter``
  the address of ``openblas_set_num_threads``, ``work`` the cut-off, ``own`` /
  ``share`` / ``disown`` the count, ``state``, and the fork lock's handlers);
  :mod:`dnn._threads` drives it.
"""
import types

from dnn_core import (_activations, _batchnorm, _blas, _checks, _dense, _losses, _optim,
                      _pool, _update, registry, sparse_kernels)
from dnn_core._engine import Engine
from dnn_core._floor import gemm_floor
from dnn_core._dual import DualLayer

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
optimizer_step = _optim.step
scheduled_rate = _optim.rate
batch_norm_train_forward = _batchnorm.train_forward
batch_norm_inference_forward = _batchnorm.inference_forward
batch_norm_backward = _batchnorm.backward
batch_norm_fold = _batchnorm.fold
busy_jobs = _pool.busy_jobs

#: OpenBLAS's thread count chosen per GEMM (issue 12), driven by dnn._threads:
#: see dnn_core._blas's functions of the same role for each one's contract
gemm_threads = types.SimpleNamespace(
    bind_setter=_blas.bind_thread_setter, setter_bound=_blas.thread_setter_bound,
    work=_blas.gemm_thread_work, own=_blas.own_gemm_threads, share=_blas.share_gemm_threads,
    disown=_blas.disown_gemm_threads, state=_blas.gemm_threads_state,
    take_fork_lock=_blas.take_fork_lock, fork_prepare=_blas.fork_prepare,
    fork_parent=_blas.fork_parent, fork_child=_blas.fork_child)

__all__ = [
    "ACTIVATIONS", "LOSSES", "dense_forward", "dense_backward", "activation_forward",
    "activation_backward", "logits_cost", "probs_cost", "probs_gradient", "output_delta",
    "sgd_update", "value_summary", "has_nonfinite", "rows_beyond", "Engine", "optimizer_step",
    "scheduled_rate", "batch_norm_train_forward", "batch_norm_inference_forward",
    "batch_norm_backward", "batch_norm_fold", "gemm_floor", "sparse_kernels", "DualLayer",
    "busy_jobs",
    "gemm_threads",
]
