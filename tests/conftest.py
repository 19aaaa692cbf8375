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
def save_figure(request):
    """``save_figure(fig, name)``: draw ``fig`` and, where ``XDIFFERLAND_FIGURE_DIR`` is set,
    write it there as ``<test module>-<name>.png`` (CI keeps that folder as an artifact, so the
    figures the tests check can be looked at). Returns the path, or None without the variable.
    Figures drawn through pyplot are closed after the test."""
    folder = os.environ.get("XDIFFERLAND_FIGURE_DIR")
    module = request.module.__name__.rsplit(".", 1)[-1]

    def save(fig, name: str):
        fig.canvas.draw()  # the text positions the test checks are those of the drawn figure
        if not folder:
            return None
        path = Path(folder) / f"{module}-{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        return path

    yield save
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def rng():
    """A seeded NumPy generator."""
    return np.random.default_rng(20241114)


class Umask:
    """A umask set for one test and the modes it gives: ``file`` and ``folder``."""

    def __init__(self, mask: int):
        self.mask, self.file, self.folder = mask, 0o666 & ~mask, 0o777 & ~mask

    def check(self, *roots: Path) -> None:
        """Assert that every file and folder under (and including) ``roots`` has our mode."""
        for root in roots:
            paths = [root, *root.rglob("*")] if root.is_dir() else [root]
            for path in paths:
                want = self.folder if path.is_dir() else self.file
                mode = path.stat().st_mode & 0o777
                assert mode == want, (f"{path}: {oct(mode)}, want {oct(want)} "
                                      f"(umask {self.mask:03o})")


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    """Run the test under umask 022 and 077 (the process umask is restored afterwards)."""
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    old = os.umask(request.param)
    try:
        yield Umask(request.param)
    finally:
        os.umask(old)
