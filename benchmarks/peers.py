"""The peer frameworks of the benchmarks (PyTorch, JAX): importing them with one
thread or their defaults, and the same fully connected network built in each
from given parameters, so that every column computes the same thing.

The network: relu hidden layers, a sigmoid (binary cross-entropy) or softmax
(categorical cross-entropy) output, parameters in the course's shapes (``W``:
``(units, inputs)``, ``b``: ``(units, 1)``), data as rows ``(m, inputs)``, so
the logits are ``A @ W.T + b.T``. Installing the peers:
``pip install -r benchmarks/requirements-peers.txt``.
"""
import os

import numpy as np

#: XLA_FLAGS that keep JAX's CPU backend on one thread (read when the backend starts)
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def import_jax(one_thread, x64=False):
    """JAX, or None if it is not installed.

    Parameters
    ----------
    one_thread : bool
        Set ``XLA_FLAGS`` to :data:`XLA_ONE_THREAD` first, unless the
        environment already sets ``XLA_FLAGS`` (then it is left as given).
        Has an effect only before JAX's backend has started in this process.
    x64 : bool
        Enable float64 (``jax_enable_x64``); float32 arrays stay float32.

    Returns
    -------
    module or None
    """
    if one_thread and "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = XLA_ONE_THREAD
    try:
        import jax
    except ImportError:
        return None
    if x64:
        jax.config.update("jax_enable_x64", True)
    return jax


def import_torch(one_thread):
    """PyTorch, with ``torch.set_num_threads(1)`` if ``one_thread``, or None if missing.

    Parameters
    ----------
    one_thread : bool

    Returns
    -------
    module or None
    """
    try:
        import torch
    except ImportError:
        return None
    if one_thread:
        torch.set_num_threads(1)
    return torch


def layer_count(params):
    """The number of layers L of a ``{"W1", "b1", ..., "WL", "bL"}`` dict."""
    return len(params) // 2


def jax_parameters(jax, params):
    """``[(W, b), ...]`` as JAX arrays (``W`` as given, ``b`` flat), same dtype."""
    jnp = jax.numpy
    return [(jnp.asarray(params[f"W{l}"]), jnp.asarray(np.ravel(params[f"b{l}"])))
            for l in range(1, layer_count(params) + 1)]


def jax_logits(jax, params, X):
    """The output layer's ``Z`` for rows ``X``: relu hidden layers, ``A @ W.T + b``."""
    A = X
    for W, b in params[:-1]:
        A = jax.nn.relu(A @ W.T + b)
    W, b = params[-1]
    return A @ W.T + b


def jax_loss(jax, output):
    """``loss(params, X, y)``: the mean cost of the network from its logits.

    Parameters
    ----------
    jax : module
    output : {"sigmoid", "softmax"}
        sigmoid: ``y`` of shape ``(m, 1)``, 0/1 of X's dtype, binary
        cross-entropy summed over the output and averaged over the rows;
        softmax: ``y`` integer classes of shape ``(m,)``.

    Returns
    -------
    callable
    """
    jnp = jax.numpy
    if output not in ("sigmoid", "softmax"):
        raise ValueError(f"output: expected 'sigmoid' or 'softmax', got {output!r}")

    def loss(params, X, y):
        Z = jax_logits(jax, params, X)
        if output == "sigmoid":
            # log(1 + exp(z)) - z y, stable from the logits; written with
            # logaddexp, whose derivative is sigmoid(z) everywhere (the form
            # max(z, 0) - z y + log1p(exp(-|z|)) gets a wrong subgradient at
            # z = 0 exactly, which an example reaches when all the units
            # before the output are dead)
            terms = jnp.logaddexp(0.0, Z) - Z * y
            return jnp.sum(terms) / X.shape[0]
        logp = jax.nn.log_softmax(Z, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
    return loss


def torch_network(torch, params):
    """``torch.nn.Sequential`` of Linear/ReLU layers holding copies of ``params``."""
    layers = []
    for l in range(1, layer_count(params) + 1):
        W = torch.from_numpy(np.ascontiguousarray(params[f"W{l}"]))
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=W.dtype)
        with torch.no_grad():
            linear.weight.copy_(W)
            linear.bias.copy_(torch.from_numpy(np.ravel(params[f"b{l}"])))
        layers += [linear, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def torch_loss(torch, output):
    """The PyTorch loss from logits matching :func:`jax_loss` (targets alike)."""
    if output == "sigmoid":
        bce = torch.nn.BCEWithLogitsLoss(reduction="sum")
        return lambda logits, y: bce(logits, y) / logits.shape[0]
    if output == "softmax":
        return torch.nn.CrossEntropyLoss()
    raise ValueError(f"output: expected 'sigmoid' or 'softmax', got {output!r}")


def relative_difference(value, reference):
    """``|value - reference| / max(|reference|, tiny)`` as a float."""
    return abs(float(value) - float(reference)) / max(abs(float(reference)), 1e-300)
