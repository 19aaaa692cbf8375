"""Tests for xdifferland.metrics: hand-computed skill scores, masking, layouts, dask, tables."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import xarray as xr
from sklearn.metrics import r2_score

from xdifferland import metrics
from xdifferland.metrics import skill, skill_table

SCALARS = ("nse", "r2", "rmse", "bias")


def _sites(values, units="gC m-2 d-1"):
    values = np.asarray(values, dtype=float)
    return xr.DataArray(values, dims=("time", "site"),
                        coords={"site": [f"S{i}" for i in range(values.shape[1])]},
                        attrs={"units": units})


@pytest.fixture
def obs():
    return _sites(np.arange(12.0).reshape(4, 3))  # site columns [0,3,6,9], [1,4,7,10], [2,5,8,11]


def test_perfect_simulation(obs):
    res = skill(obs, obs.copy())
    for prefix in ("", "spatial_", "temporal_"):
        np.testing.assert_allclose(res[f"{prefix}nse"], 1.0)
        np.testing.assert_allclose(res[f"{prefix}r2"], 1.0)
        np.testing.assert_allclose(res[f"{prefix}rmse"], 0.0)
        np.testing.assert_allclose(res[f"{prefix}bias"], 0.0)
    assert int(res.n) == 12 and int(res.spatial_n) == 3
    assert float(res.median_temporal_nse) == 1.0 and float(res.median_temporal_r2) == 1.0


def test_constant_offset(obs):
    res = skill(obs, obs + 1.0)
    assert float(res.bias) == 1.0 and float(res.rmse) == pytest.approx(1.0)
    assert float(res.r2) == pytest.approx(1.0)
    assert float(res.nse) == pytest.approx(1 - 12 / 143)  # SST of 0..11 about 5.5 is 143
    np.testing.assert_allclose(res.temporal_nse, 1 - 4 / 45)  # each site: SST 45, SSE 4
    np.testing.assert_allclose(res.temporal_bias, 1.0)
    # Location means 4.5, 5.5, 6.5 against 5.5, 6.5, 7.5: SST 2, SSE 3.
    assert float(res.spatial_nse) == pytest.approx(-0.5)
    assert float(res.spatial_r2) == pytest.approx(1.0)
    assert float(res.spatial_bias) == pytest.approx(1.0)


def test_anti_correlated(obs):
    res = skill(obs, 2 * 5.5 - obs)  # mirrored about the observed mean
    assert float(res.r2) == pytest.approx(1.0)  # squared correlation of r = -1
    assert float(res.nse) == pytest.approx(-3.0)  # SSE = 4 SST
    assert float(res.bias) == pytest.approx(0.0, abs=1e-12)
    assert float(res.rmse) == pytest.approx(2 * np.sqrt(143 / 12))
    np.testing.assert_allclose(res.temporal_r2, 1.0)


def test_nan_and_inf_pairs_ignored(rng):
    o = rng.normal(size=(20, 4))
    s = o + rng.normal(scale=0.5, size=o.shape)
    o[0, 0] = o[3, 2] = np.nan
    s[5, 1] = np.nan
    s[7, 3] = np.inf
    res = skill(_sites(o), _sites(s))
    valid = np.isfinite(o) & np.isfinite(s)
    ov, sv = o[valid], s[valid]
    assert int(res.n) == valid.sum() == 76
    assert float(res.nse) == pytest.approx(1 - ((ov - sv) ** 2).sum() / ((ov - ov.mean()) ** 2).sum())
    assert float(res.r2) == pytest.approx(np.corrcoef(ov, sv)[0, 1] ** 2)
    assert float(res.rmse) == pytest.approx(np.sqrt(((sv - ov) ** 2).mean()))
    assert float(res.bias) == pytest.approx((sv - ov).mean())
    np.testing.assert_array_equal(res.temporal_n, valid.sum(axis=0))
    # Spatial: each site's mean over its own valid pairs.
    om = np.array([o[valid[:, j], j].mean() for j in range(4)])
    sm = np.array([s[valid[:, j], j].mean() for j in range(4)])
    assert float(res.spatial_rmse) == pytest.approx(np.sqrt(((sm - om) ** 2).mean()))
    assert float(res.spatial_nse) == pytest.approx(r2_score(om, sm))


def test_warmup_excluded(obs):
    sim = obs.copy()
    sim[:2] = -100.0  # spin-up garbage
    assert float(skill(obs, sim).nse) < 0
    res = skill(obs, sim, warmup=2)
    assert float(res.nse) == 1.0 and int(res.n) == 6 and res.attrs["warmup"] == 2
    with pytest.raises(ValueError, match="no time steps"):
        skill(obs, sim, warmup=4)
    with pytest.raises(ValueError, match="warmup"):
        skill(obs, sim, warmup=-1)


def test_min_count(obs):
    o = obs.copy()
    o[:2, 0] = np.nan  # site S0 keeps 2 valid pairs
    res = skill(o, o + 1.0)
    assert np.isnan(res.temporal_nse.sel(site="S0")) and np.isnan(res.temporal_rmse.sel(site="S0"))
    assert np.isfinite(res.temporal_nse.sel(site="S1"))
    assert int(res.spatial_n) == 2 and int(res.temporal_n.sel(site="S0")) == 2
    # Spatial stats need min_count locations too: only two locations remain.
    assert np.isnan(res.spatial_bias)
    relaxed = skill(o, o + 1.0, min_count=2)
    assert float(relaxed.temporal_rmse.sel(site="S0")) == pytest.approx(1.0)
    assert int(relaxed.spatial_n) == 3 and float(relaxed.spatial_bias) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="min_count"):
        skill(o, o, min_count=0)


@pytest.fixture
def grid_case():
    """obs = a + s(t), sim = 2a + s(t) on a 2x3 grid, s = [-1, 0, 1, 0] (mean 0, SST 2)."""
    a = xr.DataArray([[1.0, 2, 3], [4, 5, 6]], dims=("lat", "lon"),
                     coords={"lat": [10.0, 20.0], "lon": [0.0, 1.0, 2.0]})
    s = xr.DataArray([-1.0, 0, 1, 0], dims="time", coords={"time": np.arange(4)})
    return (a + s).transpose("time", "lat", "lon"), (2 * a + s).transpose("time", "lat", "lon"), a


def test_spatial_vs_temporal_grid(grid_case):
    o, s, a = grid_case
    res = skill(o, s, weights=None)
    # Temporal: each series is off by the constant a -> r2 1, bias a, nse 1 - 4 a^2 / 2.
    xr.testing.assert_allclose(res.temporal_bias, a, check_dim_order=False)
    xr.testing.assert_allclose(res.temporal_rmse, a)
    xr.testing.assert_allclose(res.temporal_nse, 1 - 2 * a**2)
    np.testing.assert_allclose(res.temporal_r2, 1.0)
    assert res.temporal_nse.dims == ("lat", "lon")
    assert float(res.median_temporal_nse) == pytest.approx(-24.0)  # median(-1,-7,-17,-31,-49,-71)
    # Spatial: means a against 2a -> bias 3.5, rmse sqrt(91/6), nse 1 - 91/17.5.
    assert float(res.spatial_bias) == pytest.approx(3.5)
    assert float(res.spatial_rmse) == pytest.approx(np.sqrt(91 / 6))
    assert float(res.spatial_nse) == pytest.approx(1 - 91 / 17.5)
    assert float(res.spatial_r2) == pytest.approx(1.0)
    assert res.attrs["spatial_dims"] == "lat lon"


def test_spatially_perfect_temporally_flat(grid_case):
    o, _, _ = grid_case
    res = skill(o, o.mean("time").broadcast_like(o))  # right means, no seasonal cycle
    assert float(res.spatial_nse) == pytest.approx(1.0)
    np.testing.assert_allclose(res.temporal_nse, 0.0, atol=1e-12)  # SSE equals SST
    assert res.temporal_r2.isnull().all()  # constant simulation: correlation undefined
    assert np.isnan(res.median_temporal_r2)


def test_site_and_pixel_layouts(rng):
    o = rng.normal(size=(30, 5))
    s = o + 0.2
    by_site = skill(_sites(o), _sites(s))
    assert by_site.temporal_nse.dims == ("site",)
    assert list(by_site.temporal_nse.site.values) == ["S0", "S1", "S2", "S3", "S4"]
    by_pixel = skill(xr.DataArray(o, dims=("time", "pixel")), xr.DataArray(s, dims=("time", "pixel")))
    for name in SCALARS:
        assert float(by_pixel[name]) == pytest.approx(float(by_site[name]))
    # A single time series: temporal metrics become scalars, spatial ones are NaN.
    single = skill(_sites(o).isel(site=0), _sites(s).isel(site=0))
    assert single.temporal_nse.dims == () and float(single.temporal_nse) == pytest.approx(float(single.nse))
    assert np.isnan(single.spatial_nse)


def test_explicit_spatial_dims_keep_other_dims(rng):
    o = xr.DataArray(rng.normal(size=(10, 3, 2)), dims=("time", "site", "member"))
    res = skill(o, o * 0.5, spatial_dims=["site"])
    assert res.nse.dims == ("member",) and res.temporal_nse.dims == ("site", "member")
    with pytest.raises(ValueError, match="spatial_dims"):
        skill(o, o, spatial_dims=["time"])


def test_flat_nse_matches_sklearn(rng):
    o = rng.gamma(2.0, 3.0, size=(24, 3, 4))
    s = o * 0.8 + rng.normal(scale=1.5, size=o.shape)
    o[rng.random(o.shape) < 0.1] = np.nan
    dims = ("time", "lat", "lon")
    res = skill(xr.DataArray(o, dims=dims), xr.DataArray(s, dims=dims))
    valid = np.isfinite(o)
    expected = r2_score(o[valid], s[valid])  # y_true = observed
    assert float(res.nse) == pytest.approx(expected, rel=1e-12)
    assert float(res.nse) != pytest.approx(r2_score(s[valid], o[valid]))  # argument order matters


def test_dask_matches_numpy(grid_case, rng):
    pytest.importorskip("dask")
    o, s, _ = grid_case
    s = s + xr.DataArray(rng.normal(size=s.shape), dims=s.dims, coords=s.coords)
    o = o.where(o != 5.0)  # one missing value
    eager = skill(o, s)
    lazy = skill(o.chunk({"time": 2, "lat": 1}), s.chunk({"time": 3}))
    for name in eager.data_vars:
        assert not lazy[name].chunks
    xr.testing.assert_allclose(eager, lazy)


def test_attrs_and_units(obs):
    res = skill(obs, obs * 2)
    for name in ("rmse", "bias", "spatial_rmse", "temporal_bias"):
        assert res[name].attrs["units"] == "gC m-2 d-1"
    assert res.nse.attrs["units"] == "1"
    assert all("long_name" in res[v].attrs for v in res.data_vars)
    assert "Nash-Sutcliffe" in res.nse.attrs["long_name"]
    assert res.attrs["min_count"] == 3 and res.attrs["nse_reference"] == "observed"
    with pytest.raises(ValueError, match="cannot be converted to the observed units"):
        skill(obs, _sites(obs.values, units="mm/day"))


def test_simulation_in_other_units_is_converted(obs):
    per_second = _sites(obs.values / 86400.0 / 1000.0, units="kg m-2 s-1")
    res = skill(obs, per_second)
    assert float(res.nse) == pytest.approx(1.0) and float(res.rmse) < 1e-9
    assert res.rmse.attrs["units"] == "gC m-2 d-1"


def test_area_weights_on_a_grid(grid_case):
    o, s, _ = grid_case
    equal = skill(o, s, weights=None)
    ones = skill(o, s, weights=xr.ones_like(o.isel(time=0, drop=True)))
    xr.testing.assert_allclose(equal, ones)
    area = skill(o, s)  # default: cell areas of the (lat, lon) coordinates
    cos = np.cos(np.deg2rad(o["lat"])).broadcast_like(o.isel(time=0, drop=True))
    manual = skill(o, s, weights=cos)  # on a regular grid areas are proportional to cos(lat)
    for name in ("nse", "bias", "rmse", "spatial_nse", "spatial_bias"):
        assert float(area[name]) == pytest.approx(float(manual[name]), rel=1e-3), name
    assert float(area.bias) != pytest.approx(float(equal.bias), rel=1e-6)
    xr.testing.assert_allclose(area.temporal_nse, equal.temporal_nse)  # never weighted
    with pytest.raises(ValueError, match="non-negative"):
        skill(o, s, weights=-cos)


def test_alignment_and_input_errors(obs):
    longer = xr.concat([obs, obs.isel(time=[0])], "time").assign_coords(time=np.arange(5))
    res = skill(obs.assign_coords(time=np.arange(4)), longer)  # inner join on time
    assert int(res.n) == 12 and float(res.nse) == 1.0
    with pytest.raises(ValueError, match="dims differ"):
        skill(obs, obs.isel(site=0))
    with pytest.raises(ValueError, match="time dimension"):
        skill(obs.rename(time="t"), obs.rename(time="t"))
    with pytest.raises(TypeError):
        skill(obs.values, obs)


def test_skill_table_two_variables(grid_case):
    o, s, _ = grid_case
    obs_ds = xr.Dataset({"gpp": o.assign_attrs(units="gC m-2 d-1"),
                         "lai": (o * 0.1).assign_attrs(units="m2 m-2"),
                         "mask": o.isel(time=0) > 0})  # static: skipped by default
    sim_ds = xr.Dataset({"gpp": s, "lai": o * 0.1 + 0.05, "mask": s.isel(time=0) > 0})
    table = skill_table(obs_ds, sim_ds, warmup=1)
    assert list(table.variable.values) == ["gpp", "lai"]
    assert list(table.units.values) == ["gC m-2 d-1", "m2 m-2"]
    assert table.nse.dims == ("variable",)
    assert table.temporal_nse.dims == ("variable", "lat", "lon")
    for v in ("gpp", "lai"):
        single = skill(obs_ds[v], sim_ds[v], warmup=1)
        for name in single.data_vars:
            np.testing.assert_allclose(table[name].sel(variable=v), single[name])
    assert float(table.bias.sel(variable="lai")) == pytest.approx(0.05)
    assert "units" not in table.rmse.attrs and table.attrs["warmup"] == 1
    only = skill_table(obs_ds, sim_ds, variables=["lai"])
    assert only.sizes["variable"] == 1
    with pytest.raises(KeyError):
        skill_table(obs_ds, sim_ds.drop_vars("lai"), variables=["lai"])


def test_docstring_examples():
    result = doctest.testmod(metrics, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
