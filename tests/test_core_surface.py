"""dnn_core's public names: what python/dnn calls from the compiled core is in
``dnn_core.__all__``; no module of dnn imports a private ``dnn_core._x`` module."""
import ast
import pathlib

import numpy as np
import pytest

import dnn
import dnn_core
from dnn_core import registry


def test_every_public_name_exists():
    for name in dnn_core.__all__:
        assert getattr(dnn_core, name) is not None, name


def dnn_sources():
    """dnn's modules and the benchmarks (which time the core through its public names)."""
    root = pathlib.Path(dnn.__file__).parent
    benchmarks = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
    return sorted(root.rglob("*.py")) + sorted(benchmarks.glob("*.py"))


@pytest.mark.parametrize("path", dnn_sources(), ids=lambda path: path.name)
def test_dnn_imports_no_private_core_module(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            assert not (parts[0] == "dnn_core" and any(p.startswith("_") for p in parts[1:])), \
                (path.name, node.module)
            if node.module == "dnn_core":
                assert all(not alias.name.startswith("_") for alias in node.names), \
                    (path.name, [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith("dnn_core._"), (path.name, alias.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "dnn_core":
                assert not node.attr.startswith("_"), (path.name, node.attr)


def test_optimizer_step_is_adam_from_the_course():
    rng = np.random.default_rng(0)
    P, G = rng.standard_normal(5), rng.standard_normal(5)
    V, S = np.zeros(5), np.zeros(5)
    expected = P.copy()
    v = 0.1 * G
    s = 0.001 * G ** 2
    expected -= 0.01 * (v / (1 - 0.9)) / (np.sqrt(s / (1 - 0.999)) + 1e-8)
    dnn_core.optimizer_step(registry.OPTIMIZERS["adam"].code, P, G, V, S, 0.01)
    np.testing.assert_allclose(P, expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(V, v, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="optimizer"):
        dnn_core.optimizer_step(len(registry.OPTIMIZERS) + 7, P, G, V, S, 0.01)


def test_scheduled_rate_is_the_step_schedule():
    code = registry.SCHEDULES["step"].code
    assert dnn_core.scheduled_rate(code, 0.1, 0.5, 10, 25) == pytest.approx(0.1 * 0.5 ** 2,
                                                                             rel=1e-15)
