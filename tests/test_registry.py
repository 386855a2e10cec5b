"""The registry has exactly one row per kernel enum member, and its lists agree."""
import pytest

from dnn_core import _activations, _losses, _optim, registry


def _members(enum):
    return {member.name: int(member) for member in enum if not member.name.endswith("COUNT")}


@pytest.mark.parametrize("enum, codes", [
    (_activations.Activation, lambda: [row.code for row in registry.ACTIVATIONS.values()]),
    (_losses.Loss, lambda: [row.loss_code for row in registry.OUTPUTS.values()]),
    (_optim.Optimizer, lambda: [row.code for row in registry.OPTIMIZERS.values()]),
    (_optim.Schedule, lambda: [row.code for row in registry.SCHEDULES.values()]),
])
def test_one_row_per_member(enum, codes):
    assert sorted(codes()) == sorted(_members(enum).values())


def test_rows_are_complete():
    for row in registry.ACTIVATIONS.values():
        assert row.reads in ("Z", "A")
    for row in registry.OUTPUTS.values():
        assert row.activation in registry.ACTIVATIONS
        assert row.target in ("binary", "categorical", "continuous", "count")
    for row in registry.INITIALIZERS.values():
        assert row.distribution in ("normal", "uniform")
        assert row.scale(4, 3) > 0
    assert "softmax" not in registry.hidden_activations()
    assert registry.output_for_loss("mean_squared_error").name == "linear"
