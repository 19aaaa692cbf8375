"""Factorial predictor-group experiments, feeding hierarchical partitioning."""

from __future__ import annotations

import numpy as np
import pytest

from xdifferland import factorial, hierarchical_partition
from xdifferland.analysis import factorial_scores, setup_predictors
from xdifferland.analysis.factorial import with_control_predictors

GROUPS = {"SOIL": ["sand"], "CLIM": ["mean_annual_temperature"]}


def test_setups_and_control_predictors(lai_world):
    ds, _ = lai_world
    setups = setup_predictors(ds, GROUPS)
    assert list(setups) == ["CONTROL", "SOIL", "CLIM", "CLIM+SOIL", "LATLON"]
    assert setups["CLIM+SOIL"] == ("sand", "mean_annual_temperature")
    assert setups["CONTROL"] == ("control_noise",)
    assert len(setup_predictors(ds)) == 2 ** 4 + 1  # default: the four groups, 15 + 2
    a, b = with_control_predictors(ds, 1), with_control_predictors(ds, 1)
    np.testing.assert_array_equal(a.control_noise, b.control_noise)
    assert not np.array_equal(a.control_noise, with_control_predictors(ds, 2).control_noise)
    np.testing.assert_array_equal(a.latlon_lat.isel(lon=0), ds.lat)
    with pytest.raises(KeyError, match="nope"):
        setup_predictors(ds, {"X": ["nope"]})


def test_factorial_feeds_the_partition(lai_world):
    # In-process: the Dask path is the same run_tasks call, tested in tests/test_ensemble.py.
    ds, _ = lai_world
    res, ensembles = factorial(ds, GROUPS, n_members=1, epochs=1, split="all", maps=True,
                               client="synchronous", progress=False, return_ensembles=True)
    assert res.setup.values.tolist() == ["CONTROL", "SOIL", "CLIM", "CLIM+SOIL", "LATLON"]
    assert res.r2.dims == ("setup", "member", "variable")
    assert res.variable.values.tolist() == ["lai"]
    assert res.predictors.sel(setup="LATLON").item() == "latlon_lat latlon_lon"
    assert set(ensembles) == set(res.setup.values.tolist())
    # every setup shares the split
    assert len({tuple(e.members[0].splits["test"]) for e in ensembles.values()}) == 1
    scores = factorial_scores(res, "r2", "lai")
    assert set(scores) == {frozenset(), frozenset({"SOIL"}), frozenset({"CLIM"}),
                           frozenset({"SOIL", "CLIM"})}
    parts = hierarchical_partition(scores, ["SOIL", "CLIM"])
    assert float(parts.sum()) == pytest.approx(scores[frozenset({"SOIL", "CLIM"})])
    maps = factorial_scores(res, "temporal_r2", "lai")
    per_pixel = hierarchical_partition(maps, ["SOIL", "CLIM"])
    assert per_pixel.dims == ("component", "lat", "lon")
    full = maps[frozenset({"SOIL", "CLIM"})]
    np.testing.assert_allclose(per_pixel.sum("component").where(full.notnull()), full,
                               atol=1e-10)
