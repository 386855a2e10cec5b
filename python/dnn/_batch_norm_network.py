"""Batch normalization in :class:`dnn.Network`: the ``batch_norm`` argument,
and the parameters and running statistics of batch-norm layers.

A batch-norm hidden layer ``l`` has ``W{l}`` (n_l, n_{l-1}), ``gamma{l}`` and
``beta{l}`` (n_l, 1), no ``b{l}``, and the running statistics
``running_mean{l}``, ``running_var{l}`` (n_l, 1), kept by the engine in a
state buffer of their own (neither optimized nor L2-penalised).
"""
import numbers

import numpy as np

from dnn import _validation as check

__all__ = ["check_batch_norm", "initial_parameters", "parameters_view", "copy_in",
           "running_stats", "set_running_stats", "reset_running_stats"]


def _flag(value, name):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")


def check_batch_norm(batch_norm, n_hidden):
    """``batch_norm`` (a bool, or one bool per hidden layer) as a tuple of
    ``n_hidden`` bools."""
    if isinstance(batch_norm, (bool, np.bool_)):
        return (bool(batch_norm),) * n_hidden
    if isinstance(batch_norm, (str, bytes, numbers.Number)) or not hasattr(batch_norm,
                                                                            "__len__"):
        raise TypeError(f"batch_norm: expected a bool or a list of {n_hidden} bools (one per "
                        f"hidden layer), got {type(batch_norm).__name__} {batch_norm!r}")
    flags = list(batch_norm)
    if len(flags) != n_hidden:
        raise ValueError(f"batch_norm: expected {n_hidden} bools (one per hidden layer), "
                         f"got {len(flags)}")
    return tuple(_flag(value, f"batch_norm[{index}]") for index, value in enumerate(flags))


def initial_parameters(params, flags):
    """A course-style dict {W, b} with ``gamma{l}`` = 1, ``beta{l}`` = 0 in
    place of ``b{l}`` for the batch-norm layers."""
    params = dict(params)
    for layer, normalized in enumerate(flags, start=1):
        if normalized:
            b = params.pop(f"b{layer}")
            params[f"gamma{layer}"] = np.ones_like(b)
            params[f"beta{layer}"] = np.zeros_like(b)
    return params


def parameters_view(engine, n_layers):
    """{"W1", "gamma1", "beta1", "W2", "b2", ...}: views of the engine's buffer."""
    flags = engine.batch_norm
    params = {}
    for layer in range(1, n_layers + 1):
        params[f"W{layer}"] = engine.weight(layer)
        if layer < n_layers and flags[layer - 1]:
            params[f"gamma{layer}"] = engine.gamma(layer)
            params[f"beta{layer}"] = engine.beta(layer)
        else:
            params[f"b{layer}"] = engine.bias(layer)
    return params


def _expected_keys(dims, flags):
    keys = []
    for layer in range(1, len(dims)):
        keys.append(f"W{layer}")
        if layer < len(dims) - 1 and flags[layer - 1]:
            keys += [f"gamma{layer}", f"beta{layer}"]
        else:
            keys.append(f"b{layer}")
    return keys


def _shape(dims, key):
    layer = int(key.lstrip("Wbgammaet"))
    return (dims[layer], dims[layer - 1]) if key[0] == "W" else (dims[layer], 1)


def copy_in(engine, params, dims, name="parameters"):
    """Check ``params`` (the keys of :func:`parameters_view`, of those shapes,
    finite, real) and copy them into the engine."""
    if not isinstance(params, dict):
        raise TypeError(f"{name}: expected a dict, got {type(params).__name__}")
    expected = _expected_keys(dims, engine.batch_norm)
    if set(params) != set(expected):
        raise ValueError(f"{name}: expected the keys {expected}, got {sorted(params)}")
    arrays = {}
    for key in expected:
        array = check.as_array(params[key], f"{name}[{key!r}]")
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name}[{key!r}]: expected numbers, got dtype {array.dtype}")
        shape = _shape(dims, key)
        if key[0] != "W" and array.shape == shape[:1]:
            array = array.reshape(shape)
        if array.shape != shape:
            raise ValueError(f"{name}[{key!r}]: expected shape {shape}, got {array.shape}")
        check.check_finite(array, f"{name}[{key!r}]")
        arrays[key] = array
    views = parameters_view(engine, len(dims) - 1)
    for key, array in arrays.items():
        views[key][...] = array


def running_stats(engine, n_layers):
    """{"running_mean{l}", "running_var{l}"}: copies, (n_l, 1) each."""
    stats = {}
    for layer in range(1, n_layers):
        if engine.batch_norm[layer - 1]:
            stats[f"running_mean{layer}"] = engine.running_mean(layer).copy()
            stats[f"running_var{layer}"] = engine.running_var(layer).copy()
    return stats


def set_running_stats(engine, stats, dims, name="running_stats"):
    """Check ``stats`` (the keys of :func:`running_stats`, finite, variances
    >= 0) and copy them into the engine."""
    if not isinstance(stats, dict):
        raise TypeError(f"{name}: expected a dict, got {type(stats).__name__}")
    expected = list(running_stats(engine, len(dims) - 1))
    if set(stats) != set(expected):
        raise ValueError(f"{name}: expected the keys {expected}, got {sorted(stats)}")
    arrays = {}
    for key in expected:
        layer = int(key.rsplit("_", 1)[1].lstrip("meanvr"))
        array = np.asarray(stats[key])
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name}[{key!r}]: expected numbers, got dtype {array.dtype}")
        if array.shape == (dims[layer],):
            array = array.reshape(-1, 1)
        if array.shape != (dims[layer], 1):
            raise ValueError(f"{name}[{key!r}]: expected shape {(dims[layer], 1)}, "
                             f"got {array.shape}")
        check.check_finite(array, f"{name}[{key!r}]")
        if key.startswith("running_var") and (array < 0).any():
            raise ValueError(f"{name}[{key!r}]: expected variances >= 0")
        arrays[(key, layer)] = array
    for (key, layer), array in arrays.items():
        view = engine.running_mean(layer) if key.startswith("running_mean") \
            else engine.running_var(layer)
        view[...] = array


def reset_running_stats(engine, n_layers):
    """Running means 0, variances 1 (PyTorch's initial statistics)."""
    for layer in range(1, n_layers):
        if engine.batch_norm[layer - 1]:
            engine.running_mean(layer)[...] = 0
            engine.running_var(layer)[...] = 1
