"""Validation: one test per problem (variable named, fix given) and all problems at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tests.factories import make_dataset
from xdifferland.errors import DataError, ValidationError
from xdifferland.contract.check import CHECKS, ValidationReport, validate


def _only(report: ValidationReport):
    """The single problem of a report (fails with the whole report otherwise)."""
    assert len(report) == 1, str(report)
    return report.problems[0]


@pytest.mark.parametrize("kwargs", [
    {"layout": "grid"},
    {"layout": "site"},
    {"layout": "grid", "freq": "D", "n_time": 40},
    {"layout": "site", "freq": "MS", "calendar": "noleap"},
    {"layout": "site", "freq": "D", "n_time": 40, "calendar": "360_day"},
    {"layout": "grid", "freq": "MS", "calendar": "standard"},
    {"layout": "site", "chunks": {"time": 6}},
    {"layout": "grid", "n_time": 1},
], ids=lambda kw: "-".join(map(str, kw.values())))
def test_valid_datasets_pass(kwargs):
    report = validate(make_dataset(**kwargs))
    assert report.ok, str(report)
    assert str(report) == "No problems found."
    report.raise_if_any()  # no-op


def test_mid_month_and_30_day_steps_are_regular():
    ds = make_dataset("site", n_time=14)
    mid = pd.DatetimeIndex([t + pd.Timedelta(days=14) for t in ds.time.to_index()])
    assert validate(ds.assign_coords(time=mid)).ok
    thirty = pd.date_range("2001-01-01", periods=14, freq="30D")
    assert validate(ds.assign_coords(time=thirty)).ok


def test_aliases_and_convertible_units_pass():
    ds = make_dataset("site").rename(t_min="T2M_MIN", vpd="VPD", precipitation="TOTAL_PREC")
    ds["VPD"] = (ds["VPD"] * 10).assign_attrs(units="hPA")
    ds["burned_area"] = (ds["burned_area"] * 100).assign_attrs(units="%")  # judged as fraction
    report = validate(ds)
    assert report.ok, str(report)
    assert report.variables["vpd"] == "VPD"


def test_missing_required_forcing():
    p = _only(validate(make_dataset().drop_vars("vpd")))
    assert p.variable == "vpd"
    assert "required forcing" in p.message and "VPD" in p.message
    assert "roles={'vpd': '<data variable>'}" in p.fix


def test_nan_in_forcing_reports_count_and_first_location():
    ds = make_dataset("grid")
    ds["t_min"][2, 0, 0] = np.nan
    ds["t_min"][5, 1, 2] = np.nan
    p = _only(validate(ds))
    assert p.variable == "t_min"
    assert p.message == ("'t_min' has 2 NaN value(s); the first at time=2001-03-01, lat=10.5, "
                         "lon=20.0.")
    assert "interpolate_na" in p.fix


def test_nan_in_predictor_at_a_site():
    ds = make_dataset("site")
    ds["sand"][1] = np.nan
    p = _only(validate(ds))
    assert p.variable == "sand" and "site=DE-Tha" in p.message


def test_nan_location_with_cftime_and_dask():
    ds = make_dataset("site", calendar="noleap")
    ds["vpd"][3, 0] = np.nan
    p = _only(validate(ds.chunk({"time": 5})))
    assert p.variable == "vpd" and "time=2001-04-01, site=US-Var" in p.message


def test_non_monotonic_time():
    ds = make_dataset("site", freq="D", n_time=10)
    p = _only(validate(ds.isel(time=[0, 1, 2, 4, 3, 5, 6, 7, 8, 9])))
    assert p.variable == "time" and "not strictly increasing" in p.message
    assert "2001-01-05 is followed by 2001-01-04" in p.message
    assert "ds.sortby('time')" in p.fix


def test_duplicated_time_is_not_strictly_increasing():
    ds = make_dataset("site", freq="D", n_time=5)
    p = _only(validate(ds.isel(time=[0, 1, 1, 2, 3])))
    assert p.variable == "time" and "not strictly increasing" in p.message


def test_irregular_daily_time():
    ds = make_dataset("grid", freq="D", n_time=10).drop_isel(time=4)
    p = _only(validate(ds))
    assert p.variable == "time" and "irregular" in p.message
    assert "2001-01-04 to 2001-01-06 is 2 days" in p.message
    assert "typical step is 1 days" in p.message
    assert "resample" in p.fix


def test_monthly_with_a_missing_month_is_irregular():
    ds = make_dataset("site", n_time=12).drop_isel(time=6)
    p = _only(validate(ds))
    assert p.variable == "time" and "2001-06-01 to 2001-08-01" in p.message


def test_observation_without_valid_value_in_forcing_period():
    ds = make_dataset("site")
    ds["gpp"][:] = np.nan
    p = _only(validate(ds))
    assert p.variable == "gpp" and "no valid value in the forcing period 2001-01-01 to 2002-12-01" \
        in p.message
    assert "ds.drop_vars('gpp')" in p.fix


def test_observation_on_its_own_time_axis_not_overlapping():
    ds = make_dataset("site", observations=False)
    years = pd.date_range("2010-01-01", periods=3, freq="YS")
    ds["biomass"] = (("year", "site"), np.ones((3, 4)), {"units": "g/m**2"})
    ds = ds.assign_coords(year=years)
    p = _only(validate(ds))
    assert p.variable == "biomass" and "does not intersect the forcing period" in p.message
    assert "forcing period" in p.fix
    assert validate(ds.assign_coords(year=pd.date_range("2002-01-01", periods=3, freq="YS"))).ok


def test_constant_predictor():
    ds = make_dataset("grid")
    ds["grassland"][:] = 0.0
    p = _only(validate(ds))
    assert p.variable == "grassland" and "cannot be standardized" in p.message
    assert "ds.drop_vars('grassland')" in p.fix


def test_single_location_predictors_are_not_flagged_as_constant():
    assert validate(make_dataset("site").isel(site=[0])).ok


def test_forcing_without_time():
    ds = make_dataset("site")
    ds["co2"] = ds["co2"].isel(time=0, drop=True)
    p = _only(validate(ds))
    assert p.variable == "co2" and "without 'time'" in p.message and "'time'" in p.fix


def test_predictor_with_time():
    ds = make_dataset("site")
    ds["elevation"] = ds["elevation"].expand_dims(time=ds.time)
    p = _only(validate(ds))
    assert p.variable == "elevation" and "varies in time" in p.message
    assert ".mean('time')" in p.fix


def test_unexpected_extra_dim():
    ds = make_dataset("grid")
    ds["t_max"] = ds["t_max"].expand_dims(member=2, axis=1)
    p = _only(validate(ds))
    assert p.variable == "t_max" and "['member']" in p.message and "isel(member=0)" in p.fix


def test_spatial_dims_can_be_given():
    ds = make_dataset("grid")
    report = validate(ds, spatial_dims=("site",))
    assert {p.variable for p in report} >= {"t_min", "gpp", "sand"}
    assert validate(ds, spatial_dims=("lat", "lon")).ok


def test_negative_precipitation():
    ds = make_dataset("site")
    ds["precipitation"][4, 2] = -0.5
    p = _only(validate(ds))
    assert p.variable == "precipitation"
    assert p.message.startswith("'precipitation' has 1 value(s) outside the plausible range 0 to "
                                "2000 mm d-1 (observed -0.5 to ")
    assert p.message.endswith("the first at time=2001-05-01, site=AU-How.")
    assert "plausibility={'precipitation': 'warn'}" in p.fix


def test_burned_area_outside_unit_interval():
    ds = make_dataset("grid")
    ds["burned_area"][0, 1, 1] = 3.0
    p = _only(validate(ds))
    assert p.variable == "burned_area" and "outside the plausible range 0 to 1 (" in p.message
    assert "lat=11.5, lon=21.0" in p.message


def test_observation_with_unknown_units():
    ds = make_dataset("site")
    del ds["lai"].attrs["units"]
    p = _only(validate(ds))
    assert p.variable == "lai" and "has no 'units' attribute (observation" in p.message
    assert "ds['lai'].attrs['units']" in p.fix


def test_unconvertible_units_are_folded_in_and_skip_range_checks():
    ds = make_dataset("site")
    ds["vpd"].attrs["units"] = "m"
    ds["burned_area"].attrs["units"] = "kg"
    ds["burned_area"][0, 0] = 50.0  # its scale is unknown: no range problem on top
    report = validate(ds)
    assert [p.variable for p in report] == ["burned_area", "vpd"]
    assert "cannot be converted to kPa" in str(report) and "'hPa'" in str(report)


def test_ambiguity_is_folded_in():
    ds = make_dataset("site")
    ds["GPP"] = ds["gpp"]
    p = _only(validate(ds))
    assert p.variable == "gpp" and "'GPP'" in p.message and "roles=" in p.fix


def test_roles_are_used():
    ds = make_dataset("site").rename(t_min="coldest")
    assert _only(validate(ds)).variable == "t_min"
    assert validate(ds, roles={"t_min": "coldest"}).ok


def test_many_problems_reported_at_once_and_raised_together():
    ds = make_dataset("grid").drop_vars("co2")
    ds["t_min"][1, 0, 1] = np.nan
    ds["precipitation"][0, 0, 0] = -1.0
    ds["burned_area"][3, 1, 2] = 2.0
    ds["sand"][:] = 0.3
    ds["gpp"][:] = np.nan
    del ds["lai"].attrs["units"]
    ds["vpd"].attrs["units"] = "m"
    ds = ds.isel(time=[0, 1, 2, 3, 5, 4, *range(6, 24)])
    report = validate(ds)
    expected = {"co2", "t_min", "precipitation", "burned_area", "sand", "gpp", "lai", "vpd",
                "time"}
    assert {p.variable for p in report} == expected
    with pytest.raises(ValidationError) as info:
        report.raise_if_any()
    err = info.value
    assert isinstance(err, DataError) and len(err.problems) == len(report)
    lines = str(err).splitlines()
    assert lines[0] == f"The Dataset failed validation ({len(report)} problems):"
    assert all(line.startswith("- ") and " Fix: " in line for line in lines[1:])


def test_skip_checks():
    ds = make_dataset("grid").drop_vars("co2")
    assert validate(ds, skip=["required_forcing"]).ok
    with pytest.raises(ValueError, match="unknown check"):
        validate(ds, skip=["nope"])
    assert "constant_predictors" in CHECKS


def test_numeric_time_axis():
    ds = make_dataset("site", freq="D", n_time=5)
    ds = ds.assign_coords(time=np.arange(5.0))  # undecoded "days since"
    assert validate(ds).ok
    assert _only(validate(ds.assign_coords(time=[0.0, 1, 2, 4, 5]))).variable == "time"


def test_time_dim_without_coordinate():
    ds = make_dataset("site").drop_vars("time")
    report = validate(ds)
    assert [p.variable for p in report] == ["time"]
    assert "assign_coords" in report.problems[0].fix


def test_report_is_a_plain_container():
    report = validate(xr.Dataset())
    assert not report.ok and len(report) == len(list(report)) == 6  # the 6 required forcing


def test_validate_finds_the_axes_by_cf_as_simulate_does():
    from tests.factories import make_dataset

    ds = make_dataset("grid")
    era5 = ds.rename(time="valid_time", lat="latitude", lon="longitude")
    assert validate(ds).ok and validate(era5).ok
    assert era5.differland.validate().ok
    two = era5.assign_coords(forecast_time=("forecast_time", era5["valid_time"].values))
    report = validate(two.assign(x=two["t_min"].rename(valid_time="forecast_time")))
    assert not report.ok and any("could be the time axis" in p.message for p in report)


def test_extra_dim_on_the_first_forcing_variable_is_reported_too():
    # The spatial dims are those every forcing variable has, whichever carries the extra dim.
    ds = make_dataset("grid")
    ds["t_min"] = ds["t_min"].expand_dims(member=2, axis=1)
    p = _only(validate(ds))
    assert p.variable == "t_min" and "['member']" in p.message and "isel(member=0)" in p.fix


@pytest.mark.parametrize("name", ["precipitation", "gpp", "elevation"])
def test_booleans_are_not_quantities(name):
    ds = make_dataset("grid")
    ds[name] = (ds[name] > ds[name].median()).assign_attrs(ds[name].attrs)
    p = _only(validate(ds))
    assert p.variable == name and "booleans" in p.message and p.fix


def test_a_boolean_cover_fraction_is_a_one_hot_land_cover():
    ds = make_dataset("grid")
    ds["needleleaf_forest"] = (ds["needleleaf_forest"] > 0.5).assign_attrs(units="1")
    ds["grassland"] = (~ds["needleleaf_forest"]).assign_attrs(units="1")
    assert validate(ds).ok


def test_packed_integers_that_were_not_unpacked():
    # Read with mask_and_scale=False: int16 hundredths, every value still in range.
    ds = make_dataset("grid")
    packed = (ds["precipitation"] / 0.01).round().astype("int16")
    ds["precipitation"] = packed.assign_attrs(units="mm/day", scale_factor=0.01, add_offset=0.0)
    p = _only(validate(ds))
    assert p.variable == "precipitation" and "packed integers" in p.message
    assert "xr.decode_cf" in p.fix
    assert validate(xr.decode_cf(ds)).ok


def test_ambiguous_axes_report_the_cause_and_not_its_consequences():
    # ERA5 (valid_time, latitude, longitude) merged with CMIP-style (time, lat, lon) files
    grid = make_dataset("grid", n_time=24)
    era = grid[["t_min", "t_max", "shortwave_radiation"]].rename(
        time="valid_time", lat="latitude", lon="longitude")
    ds = xr.merge([era, grid.drop_vars(["t_min", "t_max", "shortwave_radiation"])])
    report = validate(ds)
    assert [p.variable for p in report] == ["latitude"]
    assert "2 variables could be the latitude" in report.problems[0].message
    assert any(n.startswith("checks not run until the axes are clear: latitude, dims, time")
               for n in report.notes)
    assert "('valid_time'" not in str(report)
