"""Axes by CF, not by name: the synthetic world in ERA5, CMIP, station and projected layouts.

Each layout is written from the canonical world (dims ``(time, lat, lon)``) and must give the
canonical simulation to float32 rounding, labeled with the layout's own names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xdifferland
from xdifferland.contract.axes import find_axes
from xdifferland.datasets import synthetic_world
from xdifferland.errors import DataError
from xdifferland.registry import PARAMETER_NAMES

OUTPUTS = ["gpp", "lai", "nbe", "et"]
#: float32 rounding (the engine runs in float32; every layout reaches it with the same inputs)
RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(scope="module")
def world():
    """A small world (2 x 3 cells, 24 months) and its per-pixel true parameters."""
    ds, truth = synthetic_world(seed=0, n_lat=2, n_lon=3, n_years=2, spinup_years=2)
    return ds, truth[list(PARAMETER_NAMES)]


@pytest.fixture(scope="module")
def canonical(world):
    ds, params = world
    return xdifferland.simulate(ds, params, OUTPUTS)


# --- the world written in each layout -----------------------------------------------------
def era5(ds: xr.Dataset, attrs: bool = True) -> xr.Dataset:
    """ERA5 (CDS netCDF) layout: valid_time, latitude (north to south), longitude."""
    names = {"time": "valid_time", "lat": "latitude", "lon": "longitude"}
    out = ds.rename({k: v for k, v in names.items() if k in ds.dims})
    out = out.isel(latitude=slice(None, None, -1))
    if "valid_time" in out.dims:  # the CDS files' extra coordinates
        out = out.assign_coords(number=0, expver=("valid_time", ["0001"] * out.sizes["valid_time"]))
    if not attrs:  # plain names and datetime values only: the fallbacks must find them
        out = out.assign_coords({c: out[c].drop_attrs() for c in out.coords})
    return out


def cmip(ds: xr.Dataset) -> xr.Dataset:
    """CMIP layout: tasmin/tasmax in K, rsds in W m-2, pr in kg m-2 s-1, co2 in mol mol-1.

    Written in float64, so converting back gives the world's float32 inputs exactly. (In float32
    a temperature near 290 K carries only 3e-5 K: NBE, a small difference of large fluxes, then
    moves by up to 4e-5 g m-2 d-1, 2e-4 relative.)
    """
    out = ds.rename(t_min="tasmin", t_max="tasmax", shortwave_radiation="rsds",
                    precipitation="pr")
    for name, scale, offset, units, standard_name in (
            ("tasmin", 1.0, 273.15, "K", "air_temperature"),
            ("tasmax", 1.0, 273.15, "K", "air_temperature"),
            ("rsds", 1e6 / 86400, 0.0, "W m-2", "surface_downwelling_shortwave_flux_in_air"),
            ("pr", 1 / 86400, 0.0, "kg m-2 s-1", "precipitation_flux"),
            ("co2", 1e-6, 0.0, "mol mol-1", "mole_fraction_of_carbon_dioxide_in_air")):
        out[name] = (out[name].astype(np.float64) * scale + offset).assign_attrs(
            units=units, standard_name=standard_name)
    # bounds as CMIP files carry them (data variables on a "bnds" dimension)
    step = np.timedelta64(15, "D")
    out["time_bnds"] = (("time", "bnds"), np.stack([out["time"].values - step,
                                                    out["time"].values + step], axis=1))
    out["lat_bnds"] = (("lat", "bnds"), np.stack([out["lat"] - 0.25, out["lat"] + 0.25], 1))
    out["lon_bnds"] = (("lon", "bnds"), np.stack([out["lon"] - 0.25, out["lon"] + 0.25], 1))
    for name in ("time", "lat", "lon"):
        out[name].attrs["bounds"] = f"{name}_bnds"
    return out


def projected(ds: xr.Dataset) -> xr.Dataset:
    """Projected grid: dims (y, x) in metres, 2-D lat(y, x) and lon(y, x) coordinates."""
    lat2, lon2 = xr.broadcast(ds["lat"], ds["lon"])
    out = ds.rename(lat="y", lon="x").assign_coords(
        y=("y", 1000.0 * np.arange(ds.sizes["lat"]),
           {"axis": "Y", "standard_name": "projection_y_coordinate", "units": "m"}),
        x=("x", 1000.0 * np.arange(ds.sizes["lon"]),
           {"axis": "X", "standard_name": "projection_x_coordinate", "units": "m"}))
    return out.assign_coords(
        lat=(("y", "x"), lat2.values, {"standard_name": "latitude", "units": "degrees_north"}),
        lon=(("y", "x"), lon2.values, {"standard_name": "longitude", "units": "degrees_east"}))


def stations(ds: xr.Dataset) -> xr.Dataset:
    """A station list: dim "station" with cf_role timeseries_id ids, lat/lon per station."""
    out = ds.stack(station=("lat", "lon")).reset_index("station")
    ids = [f"ST{i:02d}" for i in range(out.sizes["station"])]
    return out.assign_coords(station=("station", ids, {"cf_role": "timeseries_id"}))


def _to_canonical(out: xr.Dataset, layout: str, grid: xr.Dataset) -> xr.Dataset:
    """A layout's result back on the canonical (time, lat, lon) grid, for comparison."""
    if layout.startswith("era5"):
        return out.rename(valid_time="time", latitude="lat", longitude="lon").sortby("lat")
    if layout == "projected":
        return out.drop_vars(["lat", "lon", "y", "x"]).rename(y="lat", x="lon").assign_coords(
            lat=grid["lat"], lon=grid["lon"])
    if layout == "stations":
        return out.set_index(station=["lat", "lon"]).unstack("station").drop_vars("station",
                                                                                   errors="ignore")
    return out


LAYOUTS = {
    "era5": (era5, era5),
    "era5_no_attrs": (lambda d: era5(d, attrs=False), era5),
    "cmip": (cmip, lambda p: p),
    "projected": (projected, projected),
    "stations": (stations, stations),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_gives_the_canonical_simulation(world, canonical, layout):
    ds, params = world
    write_data, write_params = LAYOUTS[layout]
    user, user_params = write_data(ds), write_params(params)
    out = xdifferland.simulate(user, user_params, OUTPUTS)
    # labeled with the user's own names
    assert out["gpp"].dims == user["tasmin" if layout == "cmip" else "t_min"].dims
    back = _to_canonical(out, layout, ds)
    for name in OUTPUTS:
        expected = canonical[name].transpose("time", "lat", "lon")
        got = back[name].transpose("time", "lat", "lon").reindex_like(expected)
        np.testing.assert_allclose(got.values, expected.values, rtol=RTOL, atol=ATOL,
                                   err_msg=f"{layout}: {name}")


def test_era5_dask_backed_matches_and_keeps_user_names(world, canonical):
    ds, params = world
    user = era5(ds).chunk({"latitude": 1, "longitude": 3})
    out = xdifferland.simulate(user, era5(params), OUTPUTS)
    assert out["gpp"].chunks is not None
    assert out["gpp"].dims == ("valid_time", "latitude", "longitude")
    assert "time" not in out.dims and "lat" not in out.coords
    back = _to_canonical(out.compute(), "era5", ds)
    for name in OUTPUTS:
        np.testing.assert_allclose(back[name].values, canonical[name].values, rtol=RTOL,
                                   atol=ATOL)


def test_default_parameters_and_budget_follow_the_user_axes(world):
    ds, _ = world
    user = era5(ds)
    params = xdifferland.default_parameters(like=user)
    assert params["canopy_efficiency"].dims == ("latitude", "longitude")
    # CMIP bounds ("bnds") are not a spatial dimension
    assert xdifferland.default_parameters(like=cmip(ds))["canopy_efficiency"].dims == ("lat",
                                                                                      "lon")
    residuals = xdifferland.budget(user, params, mass_conserving=True)
    assert residuals["carbon_residual"].dims == ("valid_time", "latitude", "longitude")


def test_projected_result_keeps_two_d_coordinates(world):
    ds, params = world
    user = projected(ds)
    out = xdifferland.simulate(user, projected(params), ["gpp"])
    assert out["gpp"].dims == ("time", "y", "x")
    assert out["lat"].dims == ("y", "x") and out["lon"].dims == ("y", "x")
    np.testing.assert_array_equal(out["lat"].values, user["lat"].values)


# --- the rules ------------------------------------------------------------------------------
def _grid(time="time", lat="lat", lon="lon", **coords):
    times = pd.date_range("2001-01-01", periods=3, freq="MS")
    return xr.Dataset({"v": ((time, lat, lon), np.zeros((3, 2, 2)))},
                      coords={time: times, lat: [1.0, 2.0], lon: [3.0, 4.0], **coords})


def test_find_axes_by_cf_attributes_then_by_name():
    axes = find_axes(_grid())
    assert (axes.time, axes.lat, axes.lon, axes.layout) == ("time", "lat", "lon", "grid")
    assert axes.renames == {}
    era = _grid("valid_time", "latitude", "longitude")
    assert find_axes(era).renames == {"valid_time": "time", "latitude": "lat",
                                      "longitude": "lon"}
    # an integer time axis is found by its attributes, or by its name
    t = _grid("t", "y_", "x_").assign_coords(t=("t", [0, 1, 2], {"standard_name": "time"}))
    t["y_"].attrs["units"] = "degrees_north"
    t["x_"].attrs["standard_name"] = "longitude"
    assert find_axes(t).renames == {"t": "time", "y_": "lat", "x_": "lon"}
    assert find_axes(_grid().assign_coords(time=[0, 1, 2])).time == "time"


def test_a_coordinate_names_its_dimension():
    """cfgrib: dim ``time`` (forecast reference time) with ``valid_time(time)`` as CF time."""
    ds = _grid().assign_coords(valid_time=("time", pd.date_range("2001-01-01", periods=3,
                                                                  freq="MS"),
                                            {"standard_name": "time"}))
    ds["time"].attrs["standard_name"] = "forecast_reference_time"
    assert find_axes(ds).time == "time"


def test_two_time_axes_are_an_error_naming_both_and_the_fix():
    ds = _grid().rename(time="forecast_time").expand_dims(
        valid_time=pd.date_range("2001-01-01", periods=2, freq="D"))
    with pytest.raises(DataError) as info:
        find_axes(ds)
    message = str(info.value)
    assert "'forecast_time'" in message and "'valid_time'" in message and "axis" in message
    # an explicit axis attribute settles it
    ds["valid_time"].attrs["axis"] = "T"
    assert find_axes(ds).time == "valid_time"
    # among datetime dims, one literally named "time" wins (an annual "year" axis beside it)
    both = _grid().expand_dims(year=pd.date_range("2001-01-01", periods=2, freq="YS"))
    assert find_axes(both).time == "time"


def test_missing_time_is_one_clear_error(world):
    ds, params = world
    no_time = ds.rename(time="step").assign_coords(step=np.arange(ds.sizes["time"]))
    with pytest.raises(DataError, match=r"no time dimension found.*rename\(\{'step': 'time'\}\)"):
        xdifferland.simulate(no_time, params, ["gpp"])


def test_an_internal_name_already_taken_is_reported(world):
    ds, params = world
    user = era5(ds).assign_coords(time=np.datetime64("2001-01-01", "ns"))  # a scalar coordinate
    user["time"].attrs["standard_name"] = "forecast_reference_time"
    with pytest.raises(DataError, match="already has a coordinate 'time'"):
        xdifferland.simulate(user, era5(params), ["gpp"])


def test_station_and_projected_layouts_are_recognised(world):
    ds, _ = world
    st = find_axes(stations(ds))
    assert (st.layout, st.site, st.renames) == ("site", "station", {"station": "site"})
    pr = find_axes(projected(ds))
    assert (pr.layout, pr.y, pr.x, pr.latitude, pr.renames) == ("projected", "y", "x", "lat", {})
    # the (y, x) order comes from the axis attributes, not the order of the 2-D coordinate
    swapped = projected(ds)
    swapped = swapped.assign_coords(lat=swapped["lat"].transpose("x", "y"))
    assert (find_axes(swapped).y, find_axes(swapped).x) == ("y", "x")


def test_fit_parameters_and_evaluate_on_a_projected_grid(world):
    """The hybrid model's path (training data, patches, splits) on (y, x) with 2-D lat/lon."""
    ds, _ = world
    user = projected(ds)
    model = xdifferland.fit(user, epochs=1, progress=False, batch_size=6)
    assert model.parameters(user)["canopy_efficiency"].dims == ("y", "x")
    skill = xdifferland.evaluate(model, user, "all", warmup_months=0)
    assert {"y", "x"} <= set(skill.dims)
