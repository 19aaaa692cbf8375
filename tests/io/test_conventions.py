"""CF metadata of results: complete attribute sets (so a leak or a loss fails under any xarray),
UDUNITS units consistent with standard names, and the on-disk encoding of written files."""

from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xdifferland
from tests.factories import make_dataset
from xdifferland.engine.outputs import OUTPUTS
from xdifferland.io.cf_file import for_file, netcdf_encoding
from xdifferland.io.conventions import cell_area, cf_result, time_bounds, udunits
from xdifferland.registry import PARAMETERS
from xdifferland.contract.convert import parse_units

TIME = {"standard_name": "time", "long_name": "time", "axis": "T", "bounds": "time_bnds"}
LAT = {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north",
       "axis": "Y"}
LON = {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east",
       "axis": "X"}
GPP = {"long_name": "gross primary production",
       "standard_name": "gross_primary_productivity_of_biomass_expressed_as_carbon",
       "units": "g m-2 d-1", "cell_methods": "time: mean"}


def _leaky(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` whose coordinates and variables carry attributes no output may inherit."""
    ds = ds.copy()
    for name in ds.variables:
        ds[name].attrs = {**ds[name].attrs, "leak": "from the input", "standard_name": "time"
                          if name == "time" else ds[name].attrs.get("standard_name", "x")}
    ds["time"].attrs.update(axis="T", calendar_note="input")
    return ds


@pytest.mark.parametrize("leaky", [False, True], ids=["plain", "attributes-on-inputs"])
def test_grid_outputs_carry_exactly_their_own_attributes(leaky):
    ds = make_dataset("grid")
    ds = _leaky(ds) if leaky else ds
    params = xdifferland.default_parameters(like=ds)
    out = xdifferland.simulate(ds, params, ["gpp", "lai", "et", "foliar_pool", "nbe"])
    assert out["gpp"].attrs == {**GPP, "cell_measures": "area: cell_area"}
    assert out["lai"].attrs == {"long_name": "leaf area index (start of step)",
                                "standard_name": "leaf_area_index", "units": "1",
                                "cell_methods": "time: point", "cell_measures": "area: cell_area"}
    assert out["et"].attrs["units"] == "kg m-2 d-1"  # 1 mm of water = 1 kg m-2: same numbers
    assert out["foliar_pool"].attrs["cell_methods"] == "time: point"
    assert out["nbe"].attrs == {"long_name": "net biosphere exchange (NEE + fire; positive = "
                                "source)", "units": "g m-2 d-1", "cell_methods": "time: mean",
                                "cell_measures": "area: cell_area"}
    assert out["time"].attrs == TIME
    assert out["lat"].attrs == LAT and out["lon"].attrs == LON
    assert out["time_bnds"].attrs == {}
    assert set(out.attrs) >= {"Conventions", "title", "history", "source"}
    # the caller's Dataset is untouched
    assert ("leak" in ds["time"].attrs) == leaky


def test_site_outputs_keep_their_coordinates_attributes():
    ds = make_dataset("site")
    out = xdifferland.simulate(ds, xdifferland.default_parameters(like=ds), ["gpp"])
    assert out["gpp"].attrs == GPP  # no cell measures on a station list
    assert out["latitude"].attrs == {k: v for k, v in LAT.items() if k != "axis"}
    assert out["longitude"].attrs == {k: v for k, v in LON.items() if k != "axis"}
    assert out["site"].attrs == {"long_name": "site identifier", "cf_role": "timeseries_id"}
    assert out.attrs["featureType"] == "timeSeries"


def test_parameter_maps_carry_udunits_and_bounds():
    ds = make_dataset("grid")
    params = xdifferland.default_parameters(like=ds)
    attrs = params["temperature_sensitivity"].attrs
    assert set(attrs) == {"long_name", "units", "published_name", "valid_min", "valid_max",
                          "group"}
    assert (attrs["units"], attrs["published_name"], attrs["valid_min"], attrs["valid_max"],
            attrs["group"]) == ("K-1", "Q10", 0.018, 0.08, "decomposition")
    # UDUNITS has no fractional powers: the units go to units_description, not an invalid units
    wue = params["underlying_wue"].attrs
    assert "units" not in wue and wue["units_description"] == "g*kPa**0.5/kg"


@pytest.mark.parametrize("spec", OUTPUTS, ids=lambda o: o.name)
def test_every_output_has_udunits_units(spec):
    units = udunits(spec.units, spec.standard_name)
    assert units is not None and "**" not in units and "/" not in units
    assert units == "1" or all(part[0].isalpha() or part[0] == "%" for part in units.split())
    parse_units(units)  # and our own reader understands what we write


@pytest.mark.parametrize(("pint_units", "standard_name", "expected"), [
    ("g/m**2/day", None, "g m-2 d-1"),
    ("m**2/m**2", "leaf_area_index", "1"),
    ("mm/day", "water_evapotranspiration_flux", "kg m-2 d-1"),
    ("mm", "mass_content_of_water_in_soil", "kg m-2"),
    ("mm/day", None, "mm d-1"),
    ("1/delta_degC", None, "K-1"),
    ("year", None, "year"),
    ("mm/year", None, "mm year-1"),
    ("mW/m**2/nm/sr", None, "mW m-2 nm-1 sr-1"),
    ("mm*m**2/MJ", None, "m2 mm MJ-1"),
])
def test_udunits_spellings(pint_units, standard_name, expected):
    assert udunits(pint_units, standard_name) == expected


def test_every_parameter_unit_is_spelled_or_described():
    for entry in PARAMETERS:
        units = udunits(entry.units)
        assert units is None and "**0.5" in entry.units or units, entry.name


def test_time_bounds_cover_calendar_months_and_days():
    mid_month = xr.DataArray(pd.date_range("2001-01-01", periods=3, freq="MS")
                             + pd.Timedelta("14D"), dims="time")
    bounds = time_bounds(mid_month).values.astype("datetime64[D]").astype(str)
    assert bounds.tolist() == [["2001-01-01", "2001-02-01"], ["2001-02-01", "2001-03-01"],
                               ["2001-03-01", "2001-04-01"]]
    daily = xr.DataArray(pd.date_range("2001-01-01T12", periods=2, freq="D"), dims="time")
    assert time_bounds(daily).values[1, 0] == np.datetime64("2001-01-02")


def test_cell_area_sums_to_the_sphere():
    lat = xr.DataArray(np.arange(-89.5, 90, 1.0), dims="lat")
    lon = xr.DataArray(np.arange(0.5, 360, 1.0), dims="lon")
    total = float(cell_area(lat, lon).sum())
    assert total == pytest.approx(4 * np.pi * 6_371_008.8 ** 2, rel=1e-9)


def test_cf_result_leaves_dask_lazy():
    ds = make_dataset("grid").chunk({"lat": 1})
    out = cf_result(ds[["gpp"]], title="t", what="w")
    assert out["gpp"].chunks is not None


def test_written_file_is_cf_encoded(tmp_path):
    ds = make_dataset("grid")
    out = xdifferland.simulate(ds, xdifferland.default_parameters(like=ds), ["gpp"])
    path = xdifferland.to_netcdf(out, tmp_path / "sim.nc")
    with netCDF4.Dataset(path) as nc:
        assert nc["time"].dtype == np.float64
        assert nc["time"].units.startswith("days since ") and nc["time"].calendar
        assert nc["time_bnds"].dtype == np.float64
        for name in ("time", "lat", "lon", "time_bnds"):
            assert "_FillValue" not in nc[name].ncattrs(), name
        assert nc["cell_area"].units == "m2" and nc["gpp"].cell_measures == "area: cell_area"
        assert nc.Conventions == "CF-1.8" and nc.history and nc.title


def test_string_variables_are_written_as_characters(tmp_path):
    ds = xr.Dataset({"nse": ("variable", [0.5, 0.7])},
                    coords={"variable": np.array(["lai", "gpp"], dtype=str)})
    encoding = netcdf_encoding(ds)
    assert encoding["variable"] == {"dtype": "S1", "_FillValue": None}
    path = xdifferland.to_netcdf(ds, tmp_path / "m.nc")
    with netCDF4.Dataset(path) as nc:
        assert nc["variable"].dtype == np.dtype("S1")
    back = xdifferland.io.open_netcdf(path)
    assert back["variable"].values.tolist() == ["lai", "gpp"]


def test_a_step_index_is_not_labeled_as_cf_time():
    ds = xr.Dataset({"gpp": (("time", "site"), np.ones((3, 2)))},
                    coords={"time": np.arange(3), "site": ["A", "B"]})
    out = cf_result(ds, title="t", what="w")
    assert out["time"].attrs == {"long_name": "model time step (index)", "units": "1"}
    assert "time_bnds" not in out.variables


def test_site_results_are_written_as_cf_time_series(tmp_path):
    ds = make_dataset("site")
    out = xdifferland.simulate(ds, xdifferland.default_parameters(like=ds), ["gpp"])
    assert for_file(out)["gpp"].dims == ("site", "time")  # instance dimension first
    step = out.assign_coords(time=np.arange(out.sizes["time"]),
                             date=("site", out["time"].values[[0, 0, 1, 2]]))
    step = cf_result(step, title="t", what="w")
    written = for_file(step)
    assert "time" not in written.dims and written["site_time"].dims == ("site", "step")
    assert written["site_time"].attrs["standard_name"] == "time"
    # each site's own months from its start date
    np.testing.assert_array_equal(written["site_time"].values[2, :2],
                                  out["time"].values[1:3].astype("datetime64[ns]"))


def test_results_on_user_axis_names_get_their_cell_areas(tmp_path):
    ds = make_dataset("grid").rename(time="valid_time", lat="latitude", lon="longitude")
    out = xdifferland.simulate(ds, xdifferland.default_parameters(like=ds), ["gpp"])
    assert out["gpp"].dims == ("valid_time", "latitude", "longitude")
    assert out["gpp"].attrs["cell_measures"] == "area: cell_area"
    path = xdifferland.to_netcdf(out, tmp_path / "era5.nc")
    with netCDF4.Dataset(path) as nc:
        assert nc["cell_area"].dimensions == ("latitude", "longitude")
        assert nc["valid_time"].standard_name == "time"
