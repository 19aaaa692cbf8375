"""Tests of the embedded synthetic world (xdifferland.datasets.synthetic_world)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xdifferland.datasets import DEMO_PRESET, TWIN_PRESET, synthetic_world
from xdifferland.datasets.synthetic_climate import make_climate, make_grid, month_times
from xdifferland.datasets.synthetic_observations import patch_ids
from xdifferland.datasets.synthetic_predictors import make_predictors
from xdifferland.registry import PARAMETER_NAMES, PARAMETERS
from xdifferland.transforms import to_unconstrained
from xdifferland.contract.declare import PREDICTOR_GROUPS

PREDICTORS = [n for group in PREDICTOR_GROUPS.values() for n in group]


@pytest.fixture(scope="module")
def world():
    return synthetic_world(seed=0)


def _rank(x):
    return np.argsort(np.argsort(x))


def test_same_seed_identical_and_other_seed_differs(world):
    ds, truth = world
    ds_again, truth_again = synthetic_world(seed=0)
    xr.testing.assert_identical(ds, ds_again)
    xr.testing.assert_identical(truth, truth_again)
    ds_other, _ = synthetic_world(seed=1)
    assert not np.allclose(ds["t_min"], ds_other["t_min"])
    assert not ds["lai"].equals(ds_other["lai"])


def test_shapes_dims_coords_and_attrs(world):
    ds, truth = world
    assert dict(ds.sizes) == {"time": 60, "lat": 16, "lon": 20}
    assert ds["lat"].attrs["units"] == "degrees_north" and ds["lon"].attrs["units"] == "degrees_east"
    assert np.all(np.diff(ds["lat"]) == 0.5) and np.all(np.diff(ds["lon"]) == 0.5)
    assert np.issubdtype(ds["time"].dtype, np.datetime64)
    assert (ds["time"].dt.day == 15).all()
    assert ds["co2"].dims == ("time",) and ds["som"].dims == ("lat", "lon")
    for name in PREDICTORS:
        assert ds[name].dims == ("lat", "lon")
    for name in ("t_min", "lai", "sif", "et", "biomass", "nbe", "fire_emission", "ewt_anomaly",
                 "gpp", "reco", "et_ec", "burned_area"):
        assert ds[name].dims == ("time", "lat", "lon")
    for name in ("lai_unc", "gpp_unc", "nbe_unc", "som_unc"):
        assert name in ds
    assert ds["land_mask"].dtype == bool
    for key in ("title", "description", "seed", "generator_version", "Conventions"):
        assert key in ds.attrs
    assert ds.attrs["Conventions"] == "CF-1.8"
    for name in PARAMETER_NAMES:
        assert truth[name].dims == ("lat", "lon")
    for name in ("lai", "gpp", "et", "nbe", "sif", "fire_emission", "water_pool", "som_pool",
                 "wood_pool", "foliar_pool"):
        assert truth[name].dims == ("time", "lat", "lon")
    assert truth["patch_id"].dtype.kind == "i" and truth["patch_id"].dims == ("lat", "lon")
    assert "noise_std" in truth


def test_units_parse_with_pint_xarray(world):
    # the world is CF (UDUNITS spellings): pint-xarray users read it with cf-xarray's registry
    unit_registry = pytest.importorskip("cf_xarray.units").units
    ds, truth = world
    for dataset in (ds, truth):
        for da in dataset.data_vars.values():
            if "units" in da.attrs:
                unit_registry.Unit(da.attrs["units"])  # raises if unparseable
    ds.pint.quantify(unit_registry=unit_registry)
    assert ds["t_min"].attrs["units"] == "degC"
    assert ds["shortwave_radiation"].attrs["standard_name"] == \
        "surface_downwelling_shortwave_flux_in_air"


def test_predictor_constraints(world):
    ds, _ = world
    land = ds["land_mask"].values
    assert 0 < (~land).sum() < land.size * 0.2
    pft = sum(ds[n] for n in PREDICTOR_GROUPS["PFT"]).values
    assert np.all(pft[land] <= 1 + 1e-6) and np.all(pft[land] > 0.9)
    for name in PREDICTOR_GROUPS["PFT"] + ("sand", "silt", "clay", "gravel"):
        values = ds[name].values[land]
        assert np.all((values >= 0) & (values <= 1))
    texture = (ds["sand"] + ds["silt"] + ds["clay"]).values[land]
    np.testing.assert_allclose(texture, 1.0, atol=1e-6)
    for name in PREDICTORS:
        assert np.isfinite(ds[name].values[land]).all()
        assert np.isnan(ds[name].values[~land]).all()
    mat = (0.5 * (ds["t_min"] + ds["t_max"])).mean("time").values
    np.testing.assert_allclose(ds["mean_annual_temperature"].values[land], mat[land], atol=1e-3)
    map_mm = (ds["precipitation"].mean("time") * 365.25).values
    np.testing.assert_allclose(ds["mean_annual_precipitation"].values[land], map_mm[land],
                               rtol=1e-4)


def test_plausible_ranges(world):
    ds, truth = world
    assert float(ds["precipitation"].min()) >= 0
    assert float(ds["vpd"].min()) >= 0
    assert 0 <= float(ds["burned_area"].min()) and float(ds["burned_area"].max()) <= 1
    assert 0 < float((ds["burned_area"] > 0).mean()) < 0.2  # occasional fires
    assert (ds["t_max"] > ds["t_min"]).all()
    assert -40 < float(ds["t_min"].min()) and float(ds["t_max"].max()) < 50
    assert 0 < float(ds["shortwave_radiation"].min()) and float(ds["shortwave_radiation"].max()) < 35
    co2 = ds["co2"].values
    assert 360 < co2.min() < co2.max() < 420
    assert 1.5 < (co2[-12:].mean() - co2[:12].mean()) / (co2.size / 12 - 1) < 3.0
    land = ds["land_mask"].values
    mean_lai = truth["lai"].mean("time").values[land]
    assert np.median(mean_lai) > 0.5 and np.percentile(mean_lai, 95) < 10
    wet = land & (ds["mean_annual_precipitation"].values > 1500) \
        & (ds["mean_annual_temperature"].values > 20)
    assert wet.any()
    wet_gpp = np.median(truth["gpp"].mean("time").values[wet])
    assert 1 < wet_gpp < 10
    assert float(truth["fire_emission"].max()) > 0
    spun_or_shifted = {p.name for p in PARAMETERS if p.head == "initial_pools"} | {
        "labile_release_day", "leaf_fall_day"}  # spun up / shifted by hemisphere, not mapped
    for name in PARAMETER_NAMES:
        if name in spun_or_shifted:
            continue
        x = np.asarray(to_unconstrained(truth[name].values[land], [name]))
        assert np.abs(x).max() < 1.6, name


def test_observation_noise_at_least_ten_percent(world):
    ds, truth = world
    live = truth["biomass"].values
    annual = live.reshape(-1, 12, *live.shape[1:]).mean(axis=1)
    biomass = truth["biomass"].copy(data=np.repeat(annual, 12, axis=0))
    pairs = {
        "lai": truth["lai"], "sif": truth["sif"], "et": truth["et"], "biomass": biomass,
        "som": truth["som_pool"].mean("time"), "nbe": truth["nbe_coarse"],
        "ewt_anomaly": truth["ewt_anomaly_coarse"], "gpp": truth["gpp"],
        "reco": truth["reco"], "et_ec": truth["et"],
    }
    for name, true in pairs.items():
        obs = ds[name].values
        ok = np.isfinite(obs)
        assert ok.sum() > 10, name
        error = np.std(obs[ok] - true.values[ok])
        assert error >= 0.1 * np.nanstd(true.values), name
        expected = float(truth["noise_std"].sel(stream=name))
        np.testing.assert_allclose(np.nanmax(ds[f"{name}_unc"].values), expected, rtol=1e-5)
    fire, fire_true = ds["fire_emission"].values, truth["fire_emission_coarse"].values
    burning = np.isfinite(fire) & (fire_true > 1e-3)
    assert burning.any() and np.std(np.log(fire[burning] / fire_true[burning])) > 0.1


def test_gaps_present(world):
    ds, _ = world
    land = ds["land_mask"].values
    for name in ("lai", "sif", "et", "biomass", "nbe", "ewt_anomaly"):
        valid = np.isfinite(ds[name].values[:, land])
        assert 0.3 < valid.mean() < 0.995, name
    lai_valid = np.isfinite(ds["lai"].values)
    assert not lai_valid[:, ~land].any()
    # Biomass is one value per pixel-year, repeated over the 12 months.
    biomass = ds["biomass"].values.reshape(5, 12, *land.shape)
    same = np.isclose(biomass, biomass[:, :1]) | (np.isnan(biomass) & np.isnan(biomass[:, :1]))
    assert same.all()


def test_coarse_streams_constant_within_patches(world):
    ds, truth = world
    patch = truth["patch_id"].values
    land = ds["land_mask"].values
    np.testing.assert_array_equal(patch, patch_ids(ds["lat"].values, ds["lon"].values))
    assert np.unique(patch).size == 4
    for name in ("nbe", "fire_emission", "ewt_anomaly"):
        values = ds[name].values
        assert np.isfinite(values).any(), name
        for p in np.unique(patch):
            cells = values[:, (patch == p) & land]
            steps = np.isfinite(cells).any(axis=1)
            spread = np.ptp(cells[steps], axis=1) if steps.any() else np.zeros(1)
            assert np.max(spread) == 0, (name, p)
            # Every land cell of a patch is missing at the same steps.
            assert (np.isnan(cells) == np.isnan(cells[:, :1])).all()


def test_tower_streams_only_at_towers(world):
    ds, truth = world
    towers = truth["tower_mask"].values
    assert towers.sum() == 4
    for name in ("gpp", "reco", "et_ec", "gpp_unc"):
        has = np.isfinite(ds[name].values).any(axis=0)
        assert has.any() and not (has & ~towers).any(), name
    record = np.isfinite(ds["gpp"].values[:, towers])
    assert (record.mean(axis=0) < 1).all()  # partial records


def test_tower_positions_can_be_given():
    ds, truth = synthetic_world(tower_pixels=[(5.1, 12.3)], n_years=1)
    lat, lon = np.nonzero(truth["tower_mask"].values)
    assert float(ds["lat"][lat[0]]) == 5.25 and float(ds["lon"][lon[0]]) == 12.25


def test_parameter_drivers_single_predictor():
    drivers = {"default": ("CLIM", "PFT"), "canopy_efficiency": ("mean_annual_temperature",)}
    ds, truth = synthetic_world(seed=2, n_years=1, parameter_drivers=drivers)
    uses = truth["mapping_uses_predictor"]
    assert uses.sel(parameter="canopy_efficiency").sum() == 1
    assert bool(uses.sel(parameter="canopy_efficiency", predictor="mean_annual_temperature"))
    other = uses.sel(parameter="sif_slope")
    assert set(other.predictor.values[other.values]) == set(
        PREDICTOR_GROUPS["CLIM"] + PREDICTOR_GROUPS["PFT"])
    land = ds["land_mask"].values
    mat = ds["mean_annual_temperature"].values[land].astype(np.float64)
    x = np.asarray(to_unconstrained(truth["canopy_efficiency"].values[land],
                                    ["canopy_efficiency"]), np.float64)
    spearman = np.corrcoef(_rank(mat), _rank(x))[0, 1]
    assert abs(spearman) > 0.8
    # x is a smooth function of MAT alone: a polynomial in MAT explains it fully.
    z = (mat - mat.mean()) / mat.std()
    fit = np.polynomial.Polynomial.fit(z, x, 8)
    r2 = 1 - np.var(x - fit(z)) / np.var(x)
    assert r2 > 0.999
    # ... and no other predictor adds anything to the residual.
    for name in ("elevation", "evergreen_broadleaf_forest", "sand"):
        other = ds[name].values[land]
        assert abs(np.corrcoef(other, x - fit(z))[0, 1]) < 0.2 or np.std(x - fit(z)) < 1e-3


def test_dask_chunks_give_dask_arrays():
    pytest.importorskip("dask")
    ds, _ = synthetic_world(n_years=1, dask_chunks={"time": 6})
    assert ds["lai"].chunks is not None and ds["t_min"].chunks[0] == (6, 6)


def test_twin_preset_size():
    """Check the preset's size without running the engine (climate + predictors only)."""
    grid = make_grid(None, None, 0.5, TWIN_PRESET["lat_range"], TWIN_PRESET["lon_range"])
    times = month_times("2001-01", 12 * TWIN_PRESET["n_years"])
    assert TWIN_PRESET["n_years"] >= 10
    rng = np.random.default_rng(0)
    climate = make_climate(rng, grid, times)
    predictors, land = make_predictors(rng, grid, climate)
    vegetated = land & (predictors["non_vegetated"] < 0.5)
    assert vegetated.sum() >= 2000
    patch = patch_ids(grid.lat, grid.lon)
    assert np.unique(patch[vegetated]).size >= 20


def test_parameter_amplitudes_change_only_the_named_parameters():
    small = dict(n_lat=8, n_lon=10, n_years=1, spinup_years=0, seed=2)
    _, base = synthetic_world(**small)
    _, planted = synthetic_world(**small, parameter_amplitudes={"sif_alpha": 0.0, "LCMA": 0.5})
    land = base["land_mask"].values
    slope = planted["sif_slope"].values[land]
    assert np.ptp(slope) < 1e-3 * slope.mean()  # amplitude 0: a uniform parameter
    assert abs(slope.mean() - 15.0) < 0.01  # at its baseline
    unconstrained = lambda truth: np.asarray(to_unconstrained(
        truth["leaf_carbon_mass_per_area"].values[land], ["leaf_carbon_mass_per_area"]))
    centre = float(base["mapping_centre"].sel(parameter="leaf_carbon_mass_per_area"))
    np.testing.assert_allclose(unconstrained(planted) - centre,
                               2.0 * (unconstrained(base) - centre), atol=1e-4)
    assert float(planted["mapping_amplitude"].sel(parameter="leaf_carbon_mass_per_area")) == 0.5
    np.testing.assert_array_equal(planted["canopy_efficiency"], base["canopy_efficiency"])
    np.testing.assert_array_equal(planted["mapping_linear_weight"], base["mapping_linear_weight"])


def test_parameter_amplitudes_out_of_range_are_rejected():
    with pytest.raises(ValueError, match="amplitude of 'Fday'"):
        synthetic_world(n_lat=4, n_lon=5, n_years=1, spinup_years=0,
                        parameter_amplitudes={"Fday": 1.5})


def test_parameter_baselines_move_only_the_named_centres():
    small = dict(n_lat=8, n_lon=10, n_years=1, spinup_years=0, seed=2)
    ds_base, base = synthetic_world(**small)
    ds, planted = synthetic_world(**small, parameter_baselines={"LCMA": 110.0})
    land = base["land_mask"].values
    unconstrained = lambda truth: np.asarray(to_unconstrained(
        truth["leaf_carbon_mass_per_area"].values[land], ["leaf_carbon_mass_per_area"]))
    centre = lambda value: np.asarray(to_unconstrained(
        np.array([value], np.float32), ["leaf_carbon_mass_per_area"]))[0]
    shift = centre(110.0) - centre(85.0)
    np.testing.assert_allclose(unconstrained(planted) - unconstrained(base), shift, atol=1e-4)
    np.testing.assert_array_equal(planted["canopy_efficiency"], base["canopy_efficiency"])
    np.testing.assert_array_equal(planted["mapping_linear_weight"], base["mapping_linear_weight"])
    assert ds.attrs["parameter_baselines"] == "LCMA=110"
    assert "parameter_baselines" not in ds_base.attrs
    with pytest.raises(ValueError, match="baseline of 'LCMA' is 250.0; use a value inside"):
        synthetic_world(**small, parameter_baselines={"LCMA": 250.0})


def test_demo_preset_observes_a_plausible_canopy():
    """The demo's world: observed LAI within satellite products' range (at most 10), a canopy
    on a good share of the land, and patches enough to hold some out inside the trained range."""
    ds, truth = synthetic_world(**DEMO_PRESET)
    land = ds["land_mask"].values
    assert float(ds["lai"].max()) <= 10.0 and float(truth["lai"].max()) <= 10.0
    vegetated = truth["lai"].mean("time").values[land] > 0.3
    assert 0.3 < vegetated.mean() < 0.6
    assert np.unique(truth["patch_id"].values[land]).size >= 50
    assert int(truth["tower_mask"].sum()) == DEMO_PRESET["tower_pixels"]
    assert float(ds["sif"].max()) < 20 and float(ds["et"].max()) < 30


def test_land_cover_follows_the_planted_canopy():
    small = dict(n_lat=8, n_lon=10, n_years=2, spinup_years=20, seed=3)
    pft = [n for n in PREDICTOR_GROUPS["PFT"] if n != "non_vegetated"]
    plain, plain_truth = synthetic_world(
        **small, parameter_drivers={"default": pft + ["CLIM", "SOIL", "AGE"]})
    ds, truth = synthetic_world(**small, land_cover_follows_canopy=True)
    # non_vegetated drives nothing, so the planted world is the one without that driver ...
    assert not truth["mapping_uses_predictor"].sel(predictor="non_vegetated").any()
    xr.testing.assert_identical(truth, plain_truth)
    # ... and only the land cover of the cells without a canopy is redrawn
    bare = (truth["lai"].mean("time") <= 0.3) & ds["land_mask"]
    assert 0 < int(bare.sum()) < int(ds["land_mask"].sum())
    share = ds["non_vegetated"].where(bare)
    assert float(share.min()) >= 0.6 and float(share.max()) <= 0.95
    kept = ~bare
    xr.testing.assert_identical(ds["non_vegetated"].where(kept), plain["non_vegetated"].where(kept))
    assert ds.attrs["land_cover_follows_canopy"] == 1
    xr.testing.assert_identical(ds.drop_vars("non_vegetated").drop_attrs(),
                                plain.drop_vars("non_vegetated").drop_attrs())


def test_land_cover_alone_cannot_drive_a_parameter_that_follows_the_canopy():
    with pytest.raises(ValueError, match="driven by non_vegetated alone"):
        synthetic_world(n_lat=4, n_lon=5, n_years=1, spinup_years=0,
                        land_cover_follows_canopy=True,
                        parameter_drivers={"LCMA": "non_vegetated"})


@pytest.mark.parametrize("spinup_years, balance_pools, expected", [
    (100, True, "balanced"), (100, False, "soil gaining"), (0, False, "mapped pools")])
def test_balance_pools_starts_the_planted_truth_in_balance(spinup_years, balance_pools, expected):
    """The loss's EDC term assumes each pool starts in balance. With ``balance_pools`` the
    planted truth does; a century of cycling alone leaves the soil gaining carbon, and the mapped
    pools without a spin-up are far from what the parameters sustain."""
    import jax.numpy as jnp

    import xdifferland
    from xdifferland.engine.loss import EDC_BUDGETS, edc_per_pixel
    from xdifferland.engine.types import Pools

    ds, truth = synthetic_world(n_lat=8, n_lon=10, n_years=3, seed=3, spinup_years=spinup_years,
                                balance_pools=balance_pools)
    names = sorted({n for ins, outs, state in EDC_BUDGETS.values() for n in ins + outs + (state,)})
    out = xdifferland.simulate(ds, truth[list(PARAMETER_NAMES)], outputs=names)
    vegetated = ((truth["lai"].mean("time") > 0.3) & ds["land_mask"]).values
    assert vegetated.sum() > 10
    outputs = {n: jnp.asarray(out[n].values[:, vegetated]) for n in names}
    pools = Pools(*(jnp.asarray(truth[f"initial_{p}"].values[vegetated], jnp.float32)
                    for p in Pools._fields))
    penalty = np.asarray(edc_per_pixel(outputs, pools))
    if expected == "balanced":  # measured: median 4e-5, mean 0.007
        assert np.median(penalty) < 0.02 and np.mean(penalty) < 0.1
        assert ds.attrs["balance_pools"] == 1
    elif expected == "soil gaining":  # measured: median 0.17, mean 0.59
        assert np.median(penalty) > 0.05 and "balance_pools" not in ds.attrs
    else:
        assert np.median(penalty) > 1.0
