"""The docstrings that list choices list the registry's (they are generated from it
at import, dnn._doc): Network's activation, output and init, fit's optimizer,
initialize_parameters' init, dnn.optimizers.get; and dnn.sklearn's activation and
init (written by hand there, pinned here)."""
import re

import pytest

import dnn
from dnn import _doc, optimizers
from dnn_core import registry


def parameter(doc, name):
    """The numpydoc entry of parameter ``name``: its type line and description."""
    lines = doc.split("\n")
    for index, line in enumerate(lines):
        if re.match(rf"\s*{re.escape(name)} : ", line):
            indent = len(line) - len(line.lstrip())
            entry = [line]
            for following in lines[index + 1:]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                entry.append(following)
            return "\n".join(entry)
    raise AssertionError(f"no parameter {name!r} in the docstring")


def quoted(text):
    return re.findall(r'"(\w+)"', text)


def test_network_documents_the_registry_choices():
    doc = dnn.Network.__doc__
    assert quoted(parameter(doc, "activation")) == list(registry.hidden_activations())
    output = parameter(doc, "output")
    assert quoted(output.split("\n")[0]) == list(registry.OUTPUTS)
    for name, row in registry.OUTPUTS.items():
        assert f'"{name}": {row.loss}, ``{row.formula}``' in output
    assert quoted(parameter(doc, "init")) == list(registry.INITIALIZERS)


def test_fit_documents_the_optimizers_and_their_default_rates():
    doc = dnn.Network.fit.__doc__
    assert quoted(parameter(doc, "optimizer")) == list(registry.OPTIMIZERS)
    rates = parameter(doc, "learning_rate")
    for name, cls in optimizers.OPTIMIZERS.items():
        assert re.search(rf"{cls.default_learning_rate:g} for [\w, ]*\b{name}\b", rates), name


def test_functional_and_optimizers_document_the_registry_choices():
    init = parameter(dnn.initialize_parameters.__doc__, "init")
    assert quoted(init.split("\n")[0]) == list(registry.INITIALIZERS)
    for name, row in registry.INITIALIZERS.items():
        assert f'"{name}": ``{row.formula}``' in init
    assert quoted(optimizers.get.__doc__) == list(registry.OPTIMIZERS)


def test_no_marker_is_left():
    for doc in (dnn.Network.__doc__, dnn.Network.fit.__doc__,
                dnn.initialize_parameters.__doc__, optimizers.get.__doc__):
        assert not re.search(r"\{[A-Z_]+\}", doc)


def test_fill_indents_a_table_as_its_marker_and_keeps_other_braces():
    doc = 'a : {"x": 1}\n    {LIST}\n'
    assert _doc.fill(doc, LIST="- one\n- two") == 'a : {"x": 1}\n    - one\n    - two\n'
    assert _doc.fill(None) is None
    assert _doc.default_rates({"a": type("A", (), {"default_learning_rate": 0.01}),
                               "b": type("B", (), {"default_learning_rate": 0.001}),
                               "c": type("C", (), {"default_learning_rate": 0.01})}) \
        == "0.01 for a and c, 0.001 for b"


def test_sklearn_documents_the_registry_choices():
    sklearn = pytest.importorskip("dnn.sklearn")
    hidden = [row.sklearn for name, row in registry.ACTIVATIONS.items()
              if row.hidden and row.sklearn]
    for cls in (sklearn.DNNClassifier,):  # (DNNRegressor refers to its parameters)
        for name, expected in (("activation", hidden), ("init", registry.INITIALIZERS)):
            choices = parameter(cls.__doc__, name).split("}")[0]  # (not the default)
            assert sorted(quoted(choices)) == sorted(expected), (cls.__name__, name)
