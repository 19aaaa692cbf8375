"""Fixtures of the ensemble and analysis tests: a small LAI-only world, a 2-worker cluster.

JAX's persistent compilation cache is switched on (here and, through the environment, in the
Dask worker processes) so the many small fits of these tests compile each network shape once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import jax
import numpy as np
import pytest

CACHE = Path(tempfile.gettempdir()) / "xdifferland-test-jax-cache"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

#: Predictors of the small fits (two soil variables: one network shape for most tests).
PREDICTORS = ["sand", "clay"]
FIT = {"epochs": 1, "predictors": PREDICTORS, "progress": False}


@pytest.fixture(scope="session")
def lai_world():
    """The default synthetic world, 3 years, observed through LAI only (fast to compile)."""
    from xdifferland.datasets import synthetic_world
    from xdifferland.training.data import STREAMS

    ds, truth = synthetic_world(seed=0, n_years=3)
    drop = [v for v in ds.data_vars if (v in STREAMS or v.endswith("_unc")) and v != "lai"]
    return ds.drop_vars(drop), truth


@pytest.fixture(scope="session")
def client():
    """A LocalCluster of 2 single-threaded worker processes, closed after the session."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    with Client(cluster) as c:
        yield c
    cluster.close()


def make_model(ds, predictors, *, seed=0, ignore=(), only=None):
    """An untrained model over ``predictors`` whose first layer ignores the ``ignore`` ones
    (or uses ``only`` that one), standardized on the land pixels of ``ds``."""
    from xdifferland import DifferLandModel, FitConfig
    from xdifferland.network import init_network
    from xdifferland.training.batches import Standardization

    config = FitConfig()
    weights = jax.tree_util.tree_map(np.array, init_network(config.network, len(predictors),
                                                            seed))
    kernel = weights["embedding_0"]["kernel"]
    for k, name in enumerate(predictors):
        if name in ignore or (only is not None and name != only):
            kernel[k, :] = 0.0
    land = ds["land_mask"].values.astype(bool)
    x = np.stack([ds[n].values[land] for n in predictors], axis=1)
    lat = np.broadcast_to(ds["lat"].values[:, None], land.shape)[land]
    h = 1.0 / (1.0 + np.exp(-lat))
    std = Standardization(tuple(predictors), x.mean(0), x.std(0), float(h.mean()),
                          float(h.std()) or 1.0)
    return DifferLandModel(weights=weights, config=config, standardization=std,
                           predictors=tuple(predictors),
                           splits={"train": (), "dev": (), "test": ()})
