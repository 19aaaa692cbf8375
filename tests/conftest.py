"""Shared test configuration: strict JAX settings and small data factories."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

# Strict JAX: implicit rank promotion is a bug in engine code (broadcasts must be explicit).
jax.config.update("jax_numpy_rank_promotion", "raise")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PARITY = SHARED / "data" / "parity"
FLUXNET = SHARED / "data" / "fluxnet_sites"


def pytest_collection_modifyitems(config, items):
    """Skip tests that need ../shared when it is absent (CI always has it)."""
    if SHARED.exists():
        return
    skip = pytest.mark.skip(reason=f"shared reference data not found at {SHARED}")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def x64():
    """Run a test body with float64 enabled (parity tests)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def rng():
    """A seeded NumPy generator."""
    return np.random.default_rng(20241114)
