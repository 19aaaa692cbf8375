"""Cell areas, area-weighted carbon flux totals and site comparisons."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xdifferland.analysis import cell_area, net_carbon_flux, site_comparison
from xdifferland.analysis.diagnostics import EARTH_RADIUS
from xdifferland.errors import UnitsError


def test_cell_areas_cover_the_sphere_and_shrink_poleward():
    lat, lon = np.arange(-89.75, 90, 0.5), np.arange(-179.75, 180, 0.5)
    area = cell_area(lat, lon)
    assert float(area.sum()) == pytest.approx(4 * np.pi * EARTH_RADIUS ** 2, rel=1e-10)
    assert area.sel(lat=0.25).item(0) > area.sel(lat=60.25).item(0)
    # a 0.5 deg cell at the equator: R^2 * dphi * dlambda (nearly flat)
    assert area.sel(lat=0.25).item(0) == pytest.approx(
        EARTH_RADIUS ** 2 * np.deg2rad(0.5) ** 2, rel=1e-4)


def test_net_carbon_flux_units_bands_and_regions():
    lat, lon = np.arange(-89.5, 90, 1.0), np.arange(-179.5, 180, 1.0)
    time = np.arange(3)
    flux = xr.DataArray(np.ones((3, 180, 360)), dims=("time", "lat", "lon"),
                        coords={"time": time, "lat": lat, "lon": lon},
                        attrs={"units": "g m-2 d-1"})
    flux[:, 0, 0] = np.nan  # missing cells count as zero
    north = xr.DataArray(lat > 0, dims="lat", coords={"lat": lat}).broadcast_like(flux[0])
    total = net_carbon_flux(flux, bands=[(-90, 0), (0, 90)], regions={"north": north},
                            time_mean=True)
    sphere = 4 * np.pi * EARTH_RADIUS ** 2 * 365.25 / 1e15
    assert total.region.values.tolist() == ["global", "-90 to 0 degN", "0 to 90 degN", "north"]
    assert total.sel(region="global").item() == pytest.approx(sphere, rel=1e-4)
    assert total.sel(region="0 to 90 degN").item() == pytest.approx(sphere / 2, rel=1e-10)
    assert total.sel(region="north").item() == pytest.approx(sphere / 2, rel=1e-10)
    assert total.attrs["units"] == "Pg yr-1"


@pytest.mark.parametrize("units, scale", [("g m-2 d-1", 1.0), ("gC/m2/d", 1.0),
                                          ("kg m-2 s-1", 1e-3 / 86400.0),
                                          ("mg m-2 d-1", 1e3)])
def test_net_carbon_flux_reads_the_units(units, scale):
    lat, lon = np.arange(-89.5, 90, 1.0), np.arange(-179.5, 180, 1.0)
    flux = xr.DataArray(np.full((180, 360), scale), dims=("lat", "lon"),
                        coords={"lat": lat, "lon": lon}, attrs={"units": units})
    sphere = 4 * np.pi * EARTH_RADIUS ** 2 * 365.25 / 1e15
    assert net_carbon_flux(flux).sel(region="global").item() == pytest.approx(sphere, rel=1e-9)


def test_net_carbon_flux_refuses_fluxes_without_or_with_wrong_units():
    flux = xr.DataArray(np.ones((2, 2)), dims=("lat", "lon"),
                        coords={"lat": [0.5, 1.5], "lon": [0.5, 1.5]}, name="nbe")
    with pytest.raises(UnitsError, match="nbe: has no 'units'"):
        net_carbon_flux(flux)
    with pytest.raises(UnitsError, match="cannot be converted"):
        net_carbon_flux(flux.assign_attrs(units="mm/day"))


def test_net_carbon_flux_of_a_simulation(lai_world):
    _, truth = lai_world
    nbe = truth["nbe"] if "nbe" in truth else truth["lai"] * 0 + 0.1
    series = net_carbon_flux(nbe)
    assert series.dims == ("region", "time") and np.isfinite(series).all()


def test_site_comparison_on_grid_with_towers(rng):
    obs = xr.DataArray(np.full((24, 4, 5), np.nan), dims=("time", "lat", "lon"),
                       coords={"lat": np.arange(4), "lon": np.arange(5)})
    towers = [(0, 1), (2, 3), (3, 0), (1, 4)]
    means = [1.0, 2.0, 3.5, 5.0]
    for (i, j), m in zip(towers, means):
        obs[:, i, j] = m + rng.standard_normal(24) * 0.1
    sim = obs * 0 + xr.DataArray(np.arange(20.0).reshape(4, 5), dims=("lat", "lon"),
                                 coords=obs.isel(time=0, drop=True).coords)
    sim = sim.fillna(7.0)
    res = site_comparison(sim, obs)
    assert int(res.n_sites) == 4
    expected_r = np.corrcoef([i * 5 + j for i, j in towers],
                             [float(obs[:, i, j].mean()) for i, j in towers])[0, 1]
    assert float(res.r) == pytest.approx(expected_r)


def test_site_comparison_converts_the_simulation_to_the_observed_units():
    obs = xr.DataArray(np.arange(12.0).reshape(4, 3) + 1, dims=("time", "site"),
                       attrs={"units": "g m-2 d-1"}, name="gpp")
    sim = (obs / 86400.0 / 1000.0).assign_attrs(units="kg m-2 s-1")
    res = site_comparison(sim, obs)
    np.testing.assert_allclose(res.simulated_mean, res.observed_mean)
    with pytest.raises(ValueError, match="cannot be converted"):
        site_comparison(sim.assign_attrs(units="K"), obs)
