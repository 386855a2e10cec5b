"""Shared fixtures. The tests import the INSTALLED dnn and dnn_core, never the source tree."""
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import dnn
import dnn_core

from helpers import REFERENCE, ROOT

# "default" draws the same examples every run (CI must not be flaky);
# HYPOTHESIS_PROFILE=explore draws new ones each time, and more of them.
settings.register_profile(
    "default", deadline=None, max_examples=40, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "explore", deadline=None, max_examples=300,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config):
    for module in (dnn, dnn_core):
        where = Path(module.__file__).resolve()
        if ROOT in where.parents and not os.environ.get("DNN_TEST_SOURCE_TREE"):
            raise pytest.UsageError(
                f"{module.__name__} was imported from the source tree ({where}), not from the "
                "installed package: run `pytest` (not `python -m pytest`) after `pip install .`")


@pytest.fixture(scope="session")
def ref():
    """The NumPy reference (benchmarks/numpy_reference.py), the tests' oracle."""
    return REFERENCE
