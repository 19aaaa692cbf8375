"""Shared test configuration: strict JAX settings and small data factories."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import jax
import numpy as np
import pytest

# Strict JAX: implicit rank promotion is a bug in engine code (broadcasts must be explicit).
jax.config.update("jax_numpy_rank_promotion", "raise")

# One on-disk compilation cache for this test run: many tests fit or simulate the same shapes in
# fresh closures (each ``fit`` jits its own step), which JAX's in-memory caches do not share, so
# identical programs were compiled again and again. The folder is removed when the run ends.
_COMPILE_CACHE = None
if os.environ.get("XDIFFERLAND_TEST_COMPILE_CACHE", "1") != "0":
    _COMPILE_CACHE = tempfile.mkdtemp(prefix="xdifferland-test-jax-cache-")
    jax.config.update("jax_compilation_cache_dir", _COMPILE_CACHE)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def pytest_sessionfinish(session, exitstatus):
    if _COMPILE_CACHE:
        shutil.rmtree(_COMPILE_CACHE, ignore_errors=True)


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
