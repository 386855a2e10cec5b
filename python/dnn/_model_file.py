"""The file of a saved :class:`dnn.Network`: an ``.npz`` archive of plain
arrays (nothing pickled), written atomically, every field checked on reading.

Fields: ``format`` ("dnn-core-network"), ``format_version`` (1),
``layer_dims`` (int64), ``activations`` (str, one per hidden layer),
``output``, ``init``, ``dtype``, ``slope``, ``epochs`` (int64),
``parameters`` (the flat vector, the network's dtype), ``metadata`` (a JSON
object); with the optimizer's state also ``rng_state`` (4 uint64 words: the
shuffles' and dropout masks' generator), ``init_rng_state`` (JSON: the
generator of initial weights) and, once an optimizer ran, ``optimizer``,
``optimizer_hyperparameters`` (beta1, beta2, epsilon), ``moments`` (2,
n_parameters) and ``step_count``. A network with batch norm also has
``batch_norm`` (bool, one per hidden layer) and ``running_stats`` (the flat
running means and variances, the network's dtype; see
``dnn_core._engine.Engine.running_statistics``); files without them (older
ones) are networks without batch norm.
"""
import json

import numpy as np

import dnn_core

from dnn import optimizers as optim
from dnn._files import atomic_write, file_name

__all__ = ["FORMAT", "FORMAT_VERSION", "OPTIMIZER_FIELDS", "metadata_json", "encode",
           "write", "read", "decode"]

FORMAT = "dnn-core-network"
FORMAT_VERSION = 1
OPTIMIZER_FIELDS = ("optimizer", "optimizer_hyperparameters", "moments", "step_count")


def metadata_json(metadata):
    """``metadata`` (a dict of JSON-able values) as a JSON string."""
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata: expected a dict, got {type(metadata).__name__}")
    try:
        return json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"metadata: expected JSON-able values (str, numbers, lists, "
                        f"dicts): {error}") from None


def encode(state, metadata):
    """The file's arrays from a network's ``state``.

    Parameters
    ----------
    state : dict
        ``layer_dims``, ``activations``, ``output``, ``init``, ``dtype``,
        ``slope``, ``epochs``, ``parameters`` (flat, a copy); optionally
        ``rng_state``, ``init_rng_state`` (the generator's state dict) and
        ``optimizer`` (a dnn.optimizers.Optimizer) with ``moments`` and
        ``step_count``.
    metadata : dict
        JSON-able.
    """
    fields = dict(
        format=np.array(FORMAT), format_version=np.array(FORMAT_VERSION),
        layer_dims=np.array(state["layer_dims"], dtype=np.int64),
        activations=np.array(state["activations"], dtype=str),
        output=np.array(state["output"]), init=np.array(state["init"]),
        dtype=np.array(np.dtype(state["dtype"]).name), slope=np.array(state["slope"]),
        epochs=np.array(state["epochs"], dtype=np.int64),
        parameters=state["parameters"], metadata=np.array(metadata_json(metadata)))
    if "batch_norm" in state:
        fields.update(batch_norm=np.array(state["batch_norm"], dtype=bool),
                      running_stats=state["running_stats"])
    if "rng_state" in state:
        fields.update(rng_state=state["rng_state"],
                      init_rng_state=np.array(json.dumps(state["init_rng_state"])))
    if state.get("optimizer") is not None:
        fields.update(
            optimizer=np.array(state["optimizer"].name),
            optimizer_hyperparameters=np.array(state["optimizer"].hyperparameters()),
            moments=state["moments"], step_count=np.array(state["step_count"], dtype=np.int64))
    return fields


def write(path, fields):
    """Write ``fields`` to ``path`` atomically: a temporary file beside it,
    fsynced and ``os.replace``'d onto it (the target holds the complete old
    file or the complete new one)."""
    with atomic_write(file_name(path)) as file:
        np.savez(file, **fields)


def read(path):
    """The arrays of the archive ``path`` (nothing unpickled), unchecked.

    Raises
    ------
    FileNotFoundError
    ValueError
        Not an .npz archive, or a damaged one.
    """
    name = file_name(path)
    try:
        archive = np.load(name, allow_pickle=False)
    except FileNotFoundError:
        raise
    except Exception as error:
        raise ValueError(f"{name}: not a dnn model file (.npz): {error}") from None
    if not hasattr(archive, "files"):
        raise ValueError(f"{name}: not a dnn model file (expected an .npz archive)")
    with archive:
        try:
            return {key: archive[key] for key in archive.files}
        except Exception as error:
            raise ValueError(f"{name}: damaged model file: {error}") from None


def _field(fields, key, name, kind, ndim):
    if key not in fields:
        raise ValueError(f"{name}: damaged model file: field {key!r} is missing")
    value = fields[key]
    if value.dtype.kind not in kind or value.ndim != ndim:
        raise ValueError(f"{name}: damaged model file: field {key!r} has dtype {value.dtype} "
                         f"and {value.ndim} dimensions")
    return value


def decode(fields, name, build):
    """Check every field and build the network they describe.

    Parameters
    ----------
    fields : dict of ndarray
        As :func:`read` gives them.
    name : str
        Names the file in the messages.
    build : callable
        ``build(layer_dims, activations, output, init, dtype, slope)``: a
        new network of that architecture (dnn.Network).

    Returns
    -------
    network
        What ``build`` returned.
    state : dict
        What to restore in it: ``parameters`` (flat), ``epochs``, and those
        the file holds of ``metadata`` (dict), ``rng_state`` (4 uint64),
        ``init_rng_state`` (the generator's state dict), ``optimizer``
        (dnn.optimizers.Optimizer), ``moments`` (2, n_parameters) and
        ``step_count``.

    Raises
    ------
    ValueError
        ``"<name>: damaged model file: ..."`` or ``"<name>: not a dnn model file"``.
    """
    if str(_field(fields, "format", name, "U", 0)) != FORMAT:
        raise ValueError(f"{name}: not a dnn model file (format {fields['format']!s})")
    version = int(_field(fields, "format_version", name, "iu", 0))
    if version != FORMAT_VERSION:
        raise ValueError(f"{name}: model file format version {version}; this dnn reads "
                         f"version {FORMAT_VERSION}")
    dims = _field(fields, "layer_dims", name, "iu", 1).tolist()
    activations = _field(fields, "activations", name, "U", 1).tolist()
    settings = {key: str(_field(fields, key, name, "U", 0))
                for key in ("output", "init", "dtype")}
    slope = float(_field(fields, "slope", name, "f", 0))
    epochs = int(_field(fields, "epochs", name, "iu", 0))
    flat = _field(fields, "parameters", name, "f", 1)
    batch_norm = _batch_norm_field(fields, name, dims)
    if (len(dims) < 2 or min(dims) < 1
            or sum(dims[l] * dims[l - 1] + dims[l] for l in range(1, len(dims)))
            + sum(dims[l] for l in range(1, len(dims) - 1) if batch_norm[l - 1]) != flat.size):
        raise ValueError(f"{name}: damaged model file: layer_dims {dims} do not match "
                         f"{flat.size} parameters")
    try:
        network = build(dims, activations, settings["output"], settings["init"],
                        settings["dtype"], slope, **({"batch_norm": batch_norm}
                                                     if any(batch_norm) else {}))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: damaged model file: {error}") from None
    dtype, size = network.dtype, network.n_parameters
    if flat.dtype != dtype or flat.shape != (size,):
        raise ValueError(f"{name}: damaged model file: parameters are {flat.dtype} "
                         f"{flat.shape}, expected {dtype} {(size,)}")
    if dnn_core.has_nonfinite(flat):
        raise ValueError(f"{name}: damaged model file: parameters hold NaN or inf")
    if epochs < 0:
        raise ValueError(f"{name}: damaged model file: epochs is {epochs}")
    state = dict(parameters=flat, epochs=epochs)
    if any(batch_norm):
        state["running_stats"] = _running_stats_field(fields, name, network)
    if "metadata" in fields:
        try:
            metadata = json.loads(str(_field(fields, "metadata", name, "U", 0)))
        except json.JSONDecodeError as error:
            raise ValueError(f"{name}: damaged model file: metadata: {error}") from None
        if not isinstance(metadata, dict):
            raise ValueError(f"{name}: damaged model file: metadata is not a JSON object")
        state["metadata"] = metadata
    if "rng_state" in fields:
        words = _field(fields, "rng_state", name, "u", 1)
        if words.dtype != np.uint64 or words.shape != (4,) or not words.any():
            raise ValueError(f"{name}: damaged model file: rng_state is {words.dtype} "
                             f"{words.shape}, expected 4 uint64 words, not all zero")
        state["rng_state"] = words
    if "init_rng_state" in fields:
        try:
            generator = json.loads(str(_field(fields, "init_rng_state", name, "U", 0)))
            np.random.default_rng().bit_generator.state = generator  # (checks it)
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{name}: damaged model file: init_rng_state: "
                             f"{error}") from None
        state["init_rng_state"] = generator
    present = [key for key in OPTIMIZER_FIELDS if key in fields]
    if present and len(present) != len(OPTIMIZER_FIELDS):
        missing = sorted(set(OPTIMIZER_FIELDS) - set(present))
        raise ValueError(f"{name}: damaged model file: optimizer state without {missing}")
    if present:
        kind = str(_field(fields, "optimizer", name, "U", 0))
        hyper = _field(fields, "optimizer_hyperparameters", name, "f", 1)
        moments = _field(fields, "moments", name, "f", 2)
        step = int(_field(fields, "step_count", name, "iu", 0))
        if kind not in optim.OPTIMIZERS or hyper.shape != (3,):
            raise ValueError(f"{name}: damaged model file: optimizer {kind!r} with "
                             f"{hyper.shape} hyperparameters")
        try:
            optimizer = optim.from_hyperparameters(kind, *hyper.tolist())
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}: damaged model file: {error}") from None
        if moments.dtype != dtype or moments.shape != (2, size):
            raise ValueError(f"{name}: damaged model file: optimizer moments are "
                             f"{moments.dtype} {moments.shape}, expected {dtype} "
                             f"{(2, size)}")
        if dnn_core.has_nonfinite(moments.ravel()) or step < 0:
            raise ValueError(f"{name}: damaged model file: optimizer state holds NaN, inf "
                             f"or a negative step count")
        state.update(optimizer=optimizer, moments=moments, step_count=step)
    return network, state


def _batch_norm_field(fields, name, dims):
    """The file's batch_norm flags (one per hidden layer; all False if absent)."""
    n_hidden = max(len(dims) - 2, 0)
    if "batch_norm" not in fields:
        if "running_stats" in fields:
            raise ValueError(f"{name}: damaged model file: running_stats without batch_norm")
        return (False,) * n_hidden
    flags = _field(fields, "batch_norm", name, "b", 1)
    if flags.shape != (n_hidden,):
        raise ValueError(f"{name}: damaged model file: batch_norm has {flags.shape[0]} "
                         f"flags for {n_hidden} hidden layers")
    return tuple(bool(flag) for flag in flags)


def _running_stats_field(fields, name, network):
    """The file's running statistics, checked against the network built."""
    expected = sum(2 * network.layer_dims[l]
                   for l in range(1, len(network.layer_dims) - 1) if network.batch_norm[l - 1])
    stats = _field(fields, "running_stats", name, "f", 1)
    if stats.dtype != network.dtype or stats.shape != (expected,):
        raise ValueError(f"{name}: damaged model file: running_stats are {stats.dtype} "
                         f"{stats.shape}, expected {network.dtype} {(expected,)}")
    if dnn_core.has_nonfinite(stats):
        raise ValueError(f"{name}: damaged model file: running_stats hold NaN or inf")
    return stats
