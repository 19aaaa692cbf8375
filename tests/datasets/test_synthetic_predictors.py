"""Independent predictor groups of the synthetic world (a designed experiment)."""

from __future__ import annotations

import numpy as np
import pytest

from xdifferland.datasets import synthetic_world
from xdifferland.datasets.synthetic_climate import make_grid
from xdifferland.datasets.synthetic_predictors import independent_predictors
from xdifferland.contract.declare import PREDICTOR_GROUPS

# A small, quick world (no spin-up): the predictors do not depend on the record length.
SMALL = {"n_lat": 24, "n_lon": 30, "n_years": 1, "spinup_years": 0,
         "parameter_drivers": {"default": ("CLIM", "PFT")}}
DRIVERS = [n for g in ("CLIM", "PFT") for n in PREDICTOR_GROUPS[g]]
FREE = [n for g in ("AGE", "SOIL") for n in PREDICTOR_GROUPS[g]]


@pytest.fixture(scope="module")
def worlds():
    default = synthetic_world(seed=2, **SMALL)
    independent = synthetic_world(seed=2, independent_groups=("SOIL", "AGE"), **SMALL)
    return default, independent


def _explained_by_drivers(ds, name):
    """R2 of the least-squares fit of predictor ``name`` on every CLIM and PFT predictor."""
    land = ds["land_mask"].values
    x = np.stack([ds[n].values[land] for n in DRIVERS] + [np.ones(land.sum())], axis=1)
    y = ds[name].values[land].astype(np.float64)
    coef, *_ = np.linalg.lstsq(x.astype(np.float64), y, rcond=None)
    return 1.0 - np.var(y - x @ coef) / np.var(y)


def test_independent_groups_unpredictable_from_clim_and_pft(worlds):
    (default, _), (independent, _) = worlds
    before = {n: _explained_by_drivers(default, n) for n in FREE}
    after = {n: _explained_by_drivers(independent, n) for n in FREE}
    assert min(before.values()) > 0.4  # the default world ties SOIL and AGE to the climate
    assert max(after.values()) < 0.2, after
    land = independent["land_mask"].values
    for free in FREE:
        for driver in DRIVERS:
            r = np.corrcoef(independent[free].values[land], independent[driver].values[land])[0, 1]
            assert abs(r) < 0.3, (free, driver, r)


def test_age_and_soil_independent_of_each_other(worlds):
    _, (ds, _) = worlds
    land = ds["land_mask"].values
    for age in PREDICTOR_GROUPS["AGE"]:
        for soil in PREDICTOR_GROUPS["SOIL"]:
            r = np.corrcoef(ds[age].values[land], ds[soil].values[land])[0, 1]
            assert abs(r) < 0.2, (age, soil, r)


def test_independent_predictors_plausible(worlds):
    _, (ds, _) = worlds
    land = ds["land_mask"].values
    values = {n: ds[n].values[land] for n in FREE}
    np.testing.assert_allclose(values["sand"] + values["silt"] + values["clay"], 1.0, atol=1e-6)
    for name in ("sand", "silt", "clay"):
        assert 0.0 < values[name].min() and values[name].max() < 1.0
        assert values[name].std() > 0.05
    assert 0.0 <= values["gravel"].min() and values["gravel"].max() <= 0.6
    assert 0.6 <= values["bulk_density"].min() and values["bulk_density"].max() <= 1.8
    assert 3.0 <= values["canopy_height"].min() and values["canopy_height"].max() <= 35.0
    assert 1.0 <= values["forest_age"].min() and values["forest_age"].max() <= 400.0
    assert 20.0 < np.median(values["forest_age"]) < 200.0
    for name in FREE:
        assert np.isnan(ds[name].values[~land]).all()
        assert ds[name].attrs["units"]
    assert ds.attrs["independent_groups"] == "AGE SOIL"


def test_rest_of_the_world_unchanged(worlds):
    (default, default_truth), (independent, truth) = worlds
    for name in ("t_min", "precipitation", "burned_area", "land_mask", *DRIVERS):
        np.testing.assert_array_equal(independent[name].values, default[name].values)
    for name in FREE:
        assert not np.allclose(independent[name].values, default[name].values, equal_nan=True)
    # the planted parameters depend on CLIM and PFT only, so the truth is the same world
    for name in ("canopy_efficiency", "leaf_lifespan", "lai", "gpp"):
        np.testing.assert_array_equal(truth[name].values, default_truth[name].values)
    assert "independent_groups" not in default.attrs


def test_one_group_only_and_empty_is_default():
    soil_only, _ = synthetic_world(seed=4, independent_groups=("SOIL",), **SMALL)
    default, _ = synthetic_world(seed=4, **SMALL)
    empty, _ = synthetic_world(seed=4, independent_groups=(), **SMALL)
    for name in PREDICTOR_GROUPS["AGE"]:
        np.testing.assert_array_equal(soil_only[name].values, default[name].values)
    assert not np.allclose(soil_only["sand"].values, default["sand"].values, equal_nan=True)
    assert soil_only.attrs["independent_groups"] == "SOIL"
    for name in default.data_vars:
        np.testing.assert_array_equal(empty[name].values, default[name].values)


def test_independent_predictors_seeded_and_validated():
    grid = make_grid(10, 12, 0.5, None, None)
    first = independent_predictors(np.random.default_rng(1), grid, ["SOIL", "AGE"])
    again = independent_predictors(np.random.default_rng(1), grid, ("AGE", "SOIL"))
    assert sorted(first) == sorted(FREE)
    for name in FREE:
        assert first[name].shape == (10, 12)
        np.testing.assert_array_equal(first[name], again[name])
    with pytest.raises(ValueError, match="CLIM"):
        independent_predictors(np.random.default_rng(1), grid, ["CLIM"])
