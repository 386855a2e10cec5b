"""Network.to_onnx: the exported graph run in onnxruntime against predict_proba."""
import subprocess
import sys

import numpy as np
import pytest

import dnn
from dnn import _onnx
from dnn_core import registry

onnx = pytest.importorskip("onnx",
                           reason="ONNX export needs onnx (pip install 'dnn-core[onnx]')")
ort = pytest.importorskip("onnxruntime",
                          reason="the exported graphs are run in onnxruntime "
                                 "(pip install 'dnn-core[onnx]')")

HIDDEN = list(registry.hidden_activations())
OUTPUTS = list(registry.OUTPUTS)
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
#: op type of each hidden activation in the graph, by dtype
HIDDEN_OP = {name: registry.ACTIVATIONS[name].onnx for name in HIDDEN}
HIDDEN_OP["leaky_relu"] = {"float32": "LeakyRelu", "float64": "PRelu"}  # (attributes are float32)
OUTPUT_OP = {name: registry.ACTIVATIONS[row.activation].onnx
             for name, row in registry.OUTPUTS.items()
             if registry.ACTIVATIONS[row.activation].onnx is not None}


def trained_network(activation, output, dtype, dims=(4, 6, 5), epochs=5, seed=0):
    """A small network fitted a few epochs on random data (fixed seeds)."""
    rng = np.random.default_rng(seed)
    n_out = 3 if output == "softmax" else 2
    X = rng.standard_normal((48, dims[0]))
    if output == "softmax":
        y = rng.integers(0, n_out, 48)
    elif output == "sigmoid":
        y = (rng.random((48, n_out)) < 0.5).astype(float)
    elif registry.OUTPUTS[output].target == "count":
        y = rng.poisson(1.0, (48, n_out)).astype(float)
    else:
        y = rng.standard_normal((48, n_out))
    net = dnn.Network([*dims, n_out], activation=activation, output=output, dtype=dtype,
                      seed=seed, slope=0.1)
    net.fit(X, y, epochs=epochs, batch_size=16, learning_rate=0.01)
    return net


def run(model, X):
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {"X": X})
    return output


def expected_ops(net):
    ops = []
    for name in net.activations:
        ops.append("Gemm")
        op = HIDDEN_OP.get(name)
        if isinstance(op, dict):
            op = op[net.dtype.name]
        if op is not None:
            ops.append(op)
    ops.append("Gemm")
    if net.output in OUTPUT_OP:
        ops.append(OUTPUT_OP[net.output])
    return ops


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", HIDDEN)
def test_onnxruntime_matches_predict_proba(activation, output, dtype):
    net = trained_network(activation, output, dtype)
    model = net.to_onnx()
    onnx.checker.check_model(model, full_check=True)
    assert [node.op_type for node in model.graph.node] == expected_ops(net)
    rng = np.random.default_rng(1)
    for m in (1, 300):
        # scaled up so that the sigmoids and tanh reach their flat tails
        X = (3 * rng.standard_normal((m, 4))).astype(dtype)
        actual = run(model, X)
        assert actual.dtype == net.dtype
        desired = net.predict_proba(X)
        assert actual.shape == desired.shape == (m, net.layer_dims[-1])
        tol = TOLERANCE[dtype]
        np.testing.assert_allclose(actual, desired, rtol=tol,
                                   atol=tol * max(1.0, np.max(np.abs(desired))))


def test_graph_interface_and_metadata():
    net = trained_network("tanh", "softmax", "float32")
    model = net.to_onnx()
    graph = model.graph
    (source,), (result,) = graph.input, graph.output
    assert source.name == "X" and result.name == "probabilities"
    for value, width in ((source, 4), (result, 3)):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        batch, features = value.type.tensor_type.shape.dim
        assert batch.dim_param == "batch" and not batch.HasField("dim_value")
        assert features.dim_value == width
    assert model.producer_name == "dnn-core" and model.producer_version == dnn.__version__
    assert graph.name == "dnn_network"
    assert [(o.domain, o.version) for o in model.opset_import] == [("", _onnx.DEFAULT_OPSET)]
    softmax = graph.node[-1]
    assert onnx.helper.get_attribute_value(softmax.attribute[0]) == 1  # axis
    props = {p.key: p.value for p in model.metadata_props}
    assert props["layer_dims"] == "4,6,5,3" and props["output"] == "softmax"
    # the initializers are the network's parameters, biases as 1-D tensors
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    for key, value in net.parameters.items():
        np.testing.assert_array_equal(weights[key], value.reshape(-1) if key[0] == "b"
                                      else value)
    linear = trained_network("relu", "linear", "float64").to_onnx()
    assert linear.graph.output[0].name == "predictions"
    assert linear.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_leaky_relu_slope_is_the_networks(dtype):
    net = trained_network("leaky_relu", "sigmoid", dtype)
    model = net.to_onnx()
    node = model.graph.node[1]
    if dtype == "float32":
        (alpha,) = node.attribute
        assert node.op_type == "LeakyRelu" and alpha.name == "alpha"
        assert np.float32(alpha.f) == np.float32(0.1)
    else:
        # an attribute would round the slope to float32: a float64 tensor instead
        slope = next(t for t in model.graph.initializer if t.name == "slope")
        assert node.op_type == "PRelu" and list(node.input)[1] == "slope"
        assert onnx.numpy_helper.to_array(slope).tolist() == [0.1]


def test_mixed_activations_per_layer():
    net = dnn.Network([3, 5, 4, 4, 2], activation=["leaky_relu", "identity", "tanh"],
                      output="sigmoid", dtype="float64", seed=3)
    model = net.to_onnx()
    assert [n.op_type for n in model.graph.node] == [
        "Gemm", "PRelu", "Gemm", "Gemm", "Tanh", "Gemm", "Sigmoid"]
    # an unfitted network exports its initial weights
    X = np.random.default_rng(2).standard_normal((10, 3))
    np.testing.assert_allclose(run(model, X), net.predict_proba(X), rtol=1e-12, atol=1e-12)


def test_written_file_loads_back(tmp_path):
    net = trained_network("relu", "sigmoid", "float32")
    path = tmp_path / "net.onnx"
    returned = net.to_onnx(path)
    loaded = onnx.load(path)
    onnx.checker.check_model(loaded)
    assert loaded == returned
    assert [n.op_type for n in loaded.graph.node] == ["Gemm", "Relu", "Gemm", "Relu",
                                                      "Gemm", "Sigmoid"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    X = np.random.default_rng(5).standard_normal((20, 4)).astype(np.float32)
    np.testing.assert_allclose(session.run(["probabilities"], {"X": X})[0],
                               net.predict_proba(X), rtol=1e-5, atol=1e-5)
    net.to_onnx(str(path), opset=_onnx.MIN_OPSET)  # str paths too; overwrites
    assert onnx.load(str(path)).opset_import[0].version == _onnx.MIN_OPSET


def test_bad_path(tmp_path):
    net = trained_network("relu", "sigmoid", "float32", epochs=0)
    with pytest.raises(IsADirectoryError, match="path: cannot write the ONNX model"):
        net.to_onnx(tmp_path)
    with pytest.raises(FileNotFoundError, match="path: cannot write the ONNX model"):
        net.to_onnx(tmp_path / "missing" / "net.onnx")
    with pytest.raises(TypeError, match="path: expected a file path"):
        net.to_onnx(3)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments():
    net = trained_network("relu", "sigmoid", "float32", epochs=0)
    newest = onnx.defs.onnx_opset_version()
    with pytest.raises(ValueError, match=f"opset: expected an integer from 13 to {newest} "
                                         r"\(the newest this onnx package knows\), got 12"):
        net.to_onnx(opset=12)
    with pytest.raises(ValueError, match=f"got {newest + 1}"):
        net.to_onnx(opset=newest + 1)
    with pytest.raises(TypeError, match="opset: expected an integer or None, got str"):
        net.to_onnx(opset="18")
    with pytest.raises(TypeError, match="network: expected a dnn.Network, got dict"):
        _onnx.to_onnx(net.parameters)
    net.parameters["W2"][0, 0] = np.nan  # written through the view, past the setter's check
    with pytest.raises(ValueError, match=r"network: parameters\['W2'\] holds NaN or inf"):
        net.to_onnx()


def test_missing_onnx_names_the_extra(monkeypatch):
    net = trained_network("relu", "sigmoid", "float32", epochs=0)
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "dnn-core\[onnx\]"'):
        net.to_onnx()


def test_import_dnn_does_not_import_onnx(tmp_path):
    code = ("import sys, dnn; dnn.Network([2, 1]); "
            "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules")
    # (run away from the source tree, so that the installed dnn_core is imported)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_other_opsets(dtype):
    # opsets every onnxruntime the extra allows (>= 1.14) runs; onnxruntime 1.32 runs
    # float64 LeakyRelu/PRelu only at opsets 16-18, so no leaky_relu here
    net = trained_network(["tanh", "relu"], "softmax", dtype, epochs=2)
    X = np.random.default_rng(4).standard_normal((9, 4)).astype(dtype)
    for opset in (_onnx.MIN_OPSET, 15, 17):
        model = net.to_onnx(opset=opset)
        assert model.opset_import[0].version == opset
        np.testing.assert_allclose(run(model, X), net.predict_proba(X),
                                   rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
