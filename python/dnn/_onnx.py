"""ONNX export of a :class:`dnn.Network`: one Gemm node per layer, then its activation.

For ``layer_dims = [n0, n1, ..., nL]`` the graph is::

    X (batch, n0)
      -> Gemm(X, W1, b1, transB=1) -> Z1 -> Relu / LeakyRelu / PRelu / Tanh / Sigmoid -> A1
      -> ...
      -> Gemm(A[L-1], WL, bL, transB=1) -> ZL -> Sigmoid / Softmax(axis=1) -> probabilities
                                                 (linear output: ZL itself) -> predictions

A batch-norm hidden layer is folded into its Gemm with the running
statistics, as inference uses them: ``W{l} = scale * W{l}``, ``b{l} = shift``
with ``scale = gamma / sqrt(running_var + eps)``, ``shift = beta -
running_mean * scale`` (``dnn.batch_norm.batchnorm_fold``).

Tensor names follow the course: initializers ``W{l}`` (n_l, n_{l-1}) and
``b{l}`` (n_l,), intermediate values ``Z{l}`` and ``A{l}``; an "identity"
hidden layer has no activation node (its Gemm writes ``A{l}``). The
input is "X", the output "probabilities" (sigmoid, softmax) or
"predictions" (linear), both of shape (batch, n) and of the network's dtype.

"leaky_relu" is a ``LeakyRelu(alpha=slope)`` node in float32 networks. ONNX
attributes are 32-bit floats, so in float64 networks it is a ``PRelu`` node
with the slope as a float64 initializer "slope" (shape (1,)): the exported
graph then applies the same slope as the network, to the last bit.

The onnx package is imported only when a model is built: ``import dnn``
does not need it.
"""
import os

import numpy as np

from dnn_core import registry

__all__ = ["to_onnx", "DEFAULT_OPSET", "MIN_OPSET", "INPUT_NAME", "OUTPUT_NAMES"]

#: Operator set used when none is given. onnxruntime 1.32's CPU provider
#: runs LeakyRelu and PRelu in float64 only for opsets 16-18 (float32 for
#: all); 18 is the newest of those, and runtimes from onnxruntime 1.14 on
#: support it.
DEFAULT_OPSET = 18
#: Oldest operator set accepted (Softmax's per-axis semantics date from 13).
MIN_OPSET = 13
INPUT_NAME = "X"
#: The graph output's name for each output activation.
OUTPUT_NAMES = {name: row.onnx_output for name, row in registry.OUTPUTS.items()}
#: hidden activation -> its ONNX operator (None: no node)
_HIDDEN_OPS = {name: row.onnx for name, row in registry.ACTIVATIONS.items() if row.hidden}
#: output -> the ONNX operator of its activation (None: no node)
_OUTPUT_OPS = {name: registry.ACTIVATIONS[row.activation].onnx
               for name, row in registry.OUTPUTS.items()}
#: what the export reads of a network (dnn.Network's public surface)
NETWORK_SURFACE = ("layer_dims", "activations", "output", "dtype", "slope", "epochs_",
                   "copy_parameters")


def _import_onnx():
    try:
        import onnx
    except ImportError as error:
        raise ImportError('ONNX export needs the onnx package; install it with '
                          'pip install "dnn-core[onnx]"') from error
    return onnx


def _check_opset(opset, newest):
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, (bool, np.bool_)) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset: expected an integer or None, got {type(opset).__name__}")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset: expected an integer from {MIN_OPSET} to {newest} (the "
                         f"newest this onnx package knows), got {opset}")
    return int(opset)


def _fold_batch_norm(network, params):
    """``params`` with each batch-norm layer folded into a dense one, as
    inference computes it (the running statistics): ``W{l} = scale * W{l}``,
    ``b{l} = shift`` (:func:`dnn.batch_norm.batchnorm_fold`)."""
    if not any(getattr(network, "batch_norm", ())):
        return params
    from dnn.batch_norm import batchnorm_fold

    stats = network.running_stats
    params = dict(params)
    for layer, normalized in enumerate(network.batch_norm, start=1):
        if normalized:
            scale, shift = batchnorm_fold(params.pop(f"gamma{layer}"),
                                          params.pop(f"beta{layer}"),
                                          stats[f"running_mean{layer}"],
                                          stats[f"running_var{layer}"])
            params[f"W{layer}"] = np.ascontiguousarray(scale * params[f"W{layer}"])
            params[f"b{layer}"] = shift
    return params


def to_onnx(network, path=None, opset=None):
    """The network as an ONNX model computing its ``predict_proba``.

    Parameters
    ----------
    network : dnn.Network
    path : str, os.PathLike or None
        Where to write the model (conventionally ``.onnx``); None: only return it.
    opset : int or None
        ONNX operator set, from :data:`MIN_OPSET` to the newest the installed
        onnx knows; None: :data:`DEFAULT_OPSET` (18). onnxruntime 1.32 runs
        float64 leaky_relu networks only at opsets 16-18.

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model``. Input "X" of shape
        (batch, n_features) and output "probabilities" (sigmoid, softmax) or
        "predictions" (linear) of shape (batch, n_out), both in the network's
        dtype (float32 or float64; a runtime will not convert the input).

    Raises
    ------
    ImportError
        The onnx package is not installed (``pip install "dnn-core[onnx]"``).
    TypeError, ValueError
        A bad ``network``, ``path`` or ``opset``; parameters holding NaN or inf.
    OSError
        ``path`` cannot be written (a directory, a missing folder, no permission).
    """
    from dnn import __version__

    if not all(hasattr(network, name) for name in NETWORK_SURFACE):
        raise TypeError(f"network: expected a dnn.Network, got {type(network).__name__}")
    if path is not None and not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path: expected a file path (str or os.PathLike) or None, "
                        f"got {type(path).__name__}")
    onnx = _import_onnx()
    from onnx import helper, numpy_helper

    opset = _check_opset(opset, onnx.defs.onnx_opset_version())
    dtype = network.dtype
    elem_type = helper.np_dtype_to_tensor_dtype(dtype)
    dims = network.layer_dims
    n_layers = len(dims) - 1

    params = network.copy_parameters()  # one snapshot, should another thread train
    for key, value in params.items():
        if not np.all(np.isfinite(value)):
            raise ValueError(f"network: parameters[{key!r}] holds NaN or inf; "
                             "such a network cannot be exported")

    initializers, nodes = [], []
    uses_slope = False
    current = INPUT_NAME
    params = _fold_batch_norm(network, params)
    for layer in range(1, n_layers + 1):
        W, b = f"W{layer}", f"b{layer}"
        initializers.append(numpy_helper.from_array(params[W], W))
        initializers.append(numpy_helper.from_array(params[b].reshape(-1), b))
        if layer < n_layers:
            op, a = _HIDDEN_OPS[network.activations[layer - 1]], f"A{layer}"
        else:
            op, a = _OUTPUT_OPS[network.output], OUTPUT_NAMES[network.output]
        z = a if op is None else f"Z{layer}"
        nodes.append(helper.make_node("Gemm", [current, W, b], [z],
                                      name=f"layer{layer}_gemm", transB=1))
        current = z
        if op is None:
            continue
        inputs, attributes = [z], {}
        if op == "Softmax":
            attributes["axis"] = 1
        elif op == "LeakyRelu" and dtype == np.float64:
            op, uses_slope = "PRelu", True
            inputs.append("slope")
        elif op == "LeakyRelu":
            attributes["alpha"] = float(network.slope)
        nodes.append(helper.make_node(op, inputs, [a], name=f"layer{layer}_{op.lower()}",
                                      **attributes))
        current = a
    if uses_slope:
        initializers.append(numpy_helper.from_array(np.array([network.slope], dtype=dtype),
                                                    "slope"))

    graph = helper.make_graph(
        nodes, "dnn_network",
        [helper.make_tensor_value_info(INPUT_NAME, elem_type, ["batch", dims[0]])],
        [helper.make_tensor_value_info(current, elem_type, ["batch", dims[-1]])],
        initializer=initializers,
        doc_string=repr(network))
    model = helper.make_model_gen_version(
        graph, opset_imports=[helper.make_opsetid("", opset)],
        producer_name="dnn-core", producer_version=__version__,
        doc_string=f"{network!r} after {network.epochs_} epochs of training")
    helper.set_model_props(model, {
        "layer_dims": ",".join(map(str, dims)), "activations": ",".join(network.activations),
        "output": network.output, "slope": repr(network.slope)})
    onnx.checker.check_model(model, full_check=True)

    if path is not None:
        name = os.fspath(path)
        data = model.SerializeToString()
        from dnn._files import atomic_write
        try:
            with atomic_write(name) as file:
                file.write(data)
        except OSError as error:
            cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
            raise OSError(error.errno, f"path: cannot write the ONNX model ({cause.strerror}"
                          f"; the previous file, if any, is unchanged)", name) from error
    return model
