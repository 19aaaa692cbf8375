"""The unit contract: conversion to canonical units, laziness and all-at-once errors."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import xarray as xr

from tests.factories import make_dataset, raising_scheduler
from xdifferland.errors import UnitsError
from xdifferland.contract.convert import (
    UREG,
    convert_units,
    parse_units,
    to_canonical_units,
    unit_problems,
)
from xdifferland.contract.declare import variable
from xdifferland.contract.spelling import udunits_spelling

# (data variable name, its units, a value in those units, the value in canonical units)
CASES = [
    ("t_min", "K", 273.15, 0.0),
    ("t_min", "degC", 12.5, 12.5),
    ("t_max", "deg C", 20.0, 20.0),  # CARDAMOM spelling
    ("t_max", "degrees_Celsius", 20.0, 20.0),
    ("mean_annual_temperature", "K", 283.15, 10.0),
    ("shortwave_radiation", "W m-2", 100.0, 8.64),
    ("shortwave_radiation", "W/m^2", 100.0, 8.64),
    ("shortwave_radiation", "J m-2 d-1", 2.0e6, 2.0),
    ("shortwave_radiation", "MJ/m2/d", 15.0, 15.0),  # CARDAMOM spelling
    ("precipitation", "kg m-2 s-1", 1.0 / 86400, 1.0),  # water mass flux -> depth
    ("precipitation", "m d-1", 0.002, 2.0),
    ("precipitation", "mm/s", 1.0e-4, 8.64),
    ("precipitation", "mm/day", 3.0, 3.0),
    ("et", "kg m-2 s-1", 2.0 / 86400, 2.0),
    ("ewt_anomaly", "kg m-2", 5.0, 5.0),
    ("ewt_anomaly", "cm", 5.0, 50.0),
    ("mean_annual_precipitation", "mm/yr", 800.0, 800.0),
    ("mean_annual_precipitation", "m yr-1", 0.8, 800.0),
    ("mean_annual_precipitation", "kg m-2 yr-1", 800.0, 800.0),
    ("vpd", "Pa", 1500.0, 1.5),
    ("vpd", "hPa", 15.0, 1.5),
    ("vpd", "hPA", 15.0, 1.5),  # CARDAMOM spelling
    ("vpd", "kPa", 1.5, 1.5),
    ("co2", "mol mol-1", 4.0e-4, 400.0),
    ("co2", "mol/mol", 4.0e-4, 400.0),
    ("co2", "umol mol-1", 400.0, 400.0),
    ("co2", "ppmv", 400.0, 400.0),
    ("co2", "ppm", 400.0, 400.0),
    ("co2", "1e-6", 400.0, 400.0),  # CF numeric scale
    ("burned_area", "%", 5.0, 0.05),
    ("burned_area", "percent", 5.0, 0.05),
    ("burned_area", "1", 0.05, 0.05),
    ("burned_area", "fraction", 0.05, 0.05),
    ("sand", "%", 40.0, 0.4),
    ("lai", "m2/m2", 3.0, 3.0),
    ("lai", "m2 m-2", 3.0, 3.0),
    ("lai", "1", 3.0, 3.0),
    ("gpp", "gC m-2 d-1", 4.0, 4.0),
    ("gpp", "gC/m2/d", 4.0, 4.0),  # CARDAMOM spelling
    ("nbe", "kgC m-2 s-1", 1.0 / 86400 / 1000, 1.0),
    ("gpp_unc", "g m-2 d-1", 1.0, 1.0),
    ("biomass", "kg m-2", 2.0, 2000.0),
    ("elevation", "km", 1.2, 1200.0),
    ("bulk_density", "kg m-3", 1300.0, 1.3),
    ("forest_age", "yr", 50.0, 50.0),
]


@pytest.mark.parametrize("name, units, value, expected", CASES,
                         ids=[f"{c[0]}[{c[1]}]" for c in CASES])
def test_converts_to_canonical_units(name, units, value, expected):
    dims = ("time",) if "time" in variable(name).dims else ("site",)
    ds = xr.Dataset({name: (dims, np.array([value, value]), {"units": units})})
    out = to_canonical_units(ds)
    np.testing.assert_allclose(out[name].values, [expected, expected], rtol=1e-12, atol=1e-12)
    assert out[name].attrs["units"] == udunits_spelling(variable(name).units)
    assert isinstance(out[name].attrs["units"], str)


@pytest.mark.parametrize("units", ["kg m-2 s-1", "gC/m2/d", "hPA", "deg C", "m2/m2", "1e-6",
                                   "mol mol-1", "W/m^2", "%"])
def test_parse_units_understands_cf_and_cardamom_spellings(units):
    assert isinstance(parse_units(units), UREG.Quantity)


def test_parse_units_rejects_nonsense():
    with pytest.raises(ValueError, match="cannot parse units 'bananas m-2'"):
        parse_units("bananas m-2")


def test_aliases_are_converted_in_place_and_the_rest_untouched():
    ds = xr.Dataset(
        {"VPD": (("time", "lat"), np.full((2, 2), 10.0), {"units": "hPA", "long_name": "vpd"}),
         "notes": ("time", [1.0, 2.0], {"units": "furlong"})},
        coords={"lat": ("lat", [1.0, 2.0], {"units": "degrees_north"})})
    out = to_canonical_units(ds)
    np.testing.assert_allclose(out["VPD"], 1.0)
    assert out["VPD"].attrs == {"units": "kPa", "long_name": "vpd"}
    assert out["lat"].attrs == {"units": "degrees_north"}  # coords are never quantified
    assert out["notes"].identical(ds["notes"])  # undeclared variables are left alone
    assert ds["VPD"].attrs["units"] == "hPA"  # input not mutated


def test_roles_select_what_to_convert():
    ds = xr.Dataset({"tmin_k": ("time", [273.15], {"units": "K"})})
    out = to_canonical_units(ds, roles={"t_min": "tmin_k"})
    np.testing.assert_allclose(out["tmin_k"], 0.0, atol=1e-12)


def test_already_canonical_data_are_not_touched():
    data = np.arange(3, dtype="int32")
    ds = xr.Dataset({"VPD": ("time", data, {"units": "kPa"})})
    assert to_canonical_units(ds)["VPD"].dtype == np.int32


def test_pint_quantified_input_is_accepted():
    ds = xr.Dataset({"VPD": ("time", [10.0, 20.0], {"units": "hPa"})}).pint.quantify()
    out = to_canonical_units(ds)
    np.testing.assert_allclose(out["VPD"].values, [1.0, 2.0])
    assert out["VPD"].attrs["units"] == "kPa"


@pytest.mark.parametrize("layout", ["grid", "site"])
def test_dask_input_stays_lazy(layout):
    ref = make_dataset(layout, n_time=12)
    ds = ref.copy()
    ds["t_min"] = (ds["t_min"] + 273.15).assign_attrs(units="K")
    ds["vpd"] = (ds["vpd"] * 10).assign_attrs(units="hPA")
    ds["precipitation"] = (ds["precipitation"] / 86400).assign_attrs(units="kg m-2 s-1")
    ds["co2"] = (ds["co2"] * 1e-6).assign_attrs(units="mol mol-1")
    ds = ds.chunk({"time": 4})
    with dask.config.set(scheduler=raising_scheduler):
        out = to_canonical_units(ds)
        problems = unit_problems(ds)
    assert problems == []
    for name in ("t_min", "vpd", "precipitation", "co2", "gpp"):
        assert isinstance(out[name].data, dask.array.Array), name
        assert out[name].chunks == ds[name].chunks
    computed = out.compute()
    for name in ("t_min", "vpd", "precipitation", "co2"):
        np.testing.assert_allclose(computed[name].values, ref[name].values, rtol=1e-12)
        assert computed[name].attrs["units"] == udunits_spelling(variable(name).units)


def test_missing_units_allowed_only_for_fraction_forcing_and_predictors():
    ds = xr.Dataset({"BA": ("time", [0.1]), "SAND": ("site", [0.3]), "NF": ("site", [0.5])})
    out = to_canonical_units(ds)
    assert {out[n].attrs["units"] for n in ("BA", "SAND", "NF")} == {"1"}


@pytest.mark.parametrize("name", ["vod", "lai", "gpp", "gpp_unc", "vpd", "co2", "elevation"])
def test_missing_units_raise_for_everything_else(name):
    ds = xr.Dataset({name: ("time", [1.0])})
    with pytest.raises(UnitsError) as info:
        to_canonical_units(ds)
    text = str(info.value)
    assert f"- {name}: has no 'units' attribute" in text
    assert f"ds['{name}'].attrs['units']" in text


def test_empty_units_string_counts_as_missing():
    ds = xr.Dataset({"LAI": ("time", [1.0], {"units": " "})})
    with pytest.raises(UnitsError, match="has no 'units' attribute"):
        to_canonical_units(ds)


def test_all_offenders_listed_in_one_error():
    ds = xr.Dataset({
        "vpd": ("time", [1.0], {"units": "m"}),
        "GPP": ("time", [1.0]),
        "T2M_MIN": ("time", [1.0], {"units": "bananas"}),
        "SSRD": ("time", [1.0], {"units": "W m-2"}),  # fine: not listed
    })
    with pytest.raises(UnitsError) as info:
        to_canonical_units(ds)
    err = info.value
    assert err.variables == ["t_min", "vpd", "gpp"]
    lines = str(err).splitlines()[1:]
    assert lines[1] == ("- vpd: units 'm' (in 'vpd') cannot be converted to kPa. Fix: set "
                        "ds['vpd'].attrs['units'] to the data's real units (e.g. 'hPa').")
    assert "'bananas'" in lines[0] and "degC" in lines[0]
    assert "g m-2 d-1" in lines[2]  # the UDUNITS spelling


def test_water_density_is_only_for_water_variables():
    # A mass per area is not an elevation: the depth rule applies to mm-canonical variables only.
    ds = xr.Dataset({"elevation": ("site", [1.0], {"units": "kg m-2"})})
    [problem] = unit_problems(ds)
    assert problem.variable == "elevation" and "cannot be converted to m" in problem.message


def test_convert_units_is_lenient():
    ds = xr.Dataset({"VPD": ("time", [10.0], {"units": "hPa"}),
                     "CO2": ("time", [400.0], {"units": "kg"})})
    out, problems = convert_units(ds)
    assert float(out["VPD"][0]) == pytest.approx(1.0)
    assert out["CO2"].identical(ds["CO2"])
    assert [p.variable for p in problems] == ["co2"]


@pytest.mark.parametrize("name, units, value, freq, expected", [
    ("tp", "m", 0.002, "D", 2.0),  # ERA5 daily total precipitation, metres per day
    ("tp", "m", 0.0005, "6h", 2.0),  # 0.5 mm in six hours is 2 mm/day
    ("tp", "kg m-2", 3.0, "D", 3.0),  # a water mass per step
    ("ssrd", "J m-2", 1.8e7, "D", 18.0),  # ERA5 daily radiation sum
    ("ssrd", "J m-2", 3.6e6, "h", 86.4),
])
def test_totals_per_time_step_are_divided_by_the_step(name, units, value, freq, expected):
    import pandas as pd

    time = pd.date_range("2001-01-01", periods=4, freq=freq)
    ds = xr.Dataset({name: ("valid_time", np.full(4, value), {"units": units})},
                    coords={"valid_time": time})
    out = to_canonical_units(ds)
    np.testing.assert_allclose(out[name].values, expected, rtol=1e-9)
    assert out[name].attrs["units"] == {"tp": "mm d-1", "ssrd": "MJ m-2 d-1"}[name]


@pytest.mark.parametrize("coords", ["none", "irregular"])
def test_total_per_step_without_a_regular_step_is_refused_naming_the_fix(coords):
    import pandas as pd

    time = {"none": {}, "irregular": {"time": pd.to_datetime(
        ["2001-01-01", "2001-02-01", "2001-03-01"])}}[coords]
    ds = xr.Dataset({"tp": ("time", [0.01, 0.02, 0.03], {"units": "m"})}, coords=time)
    with pytest.raises(UnitsError) as info:
        to_canonical_units(ds)
    text = str(info.value)
    assert "total per time step" in text and "'tp'" in text
    assert "'m d-1'" in text  # the fix: state the rate


def test_a_stated_daily_rate_in_metres_converts_without_a_time_coordinate():
    ds = xr.Dataset({"tp": ("x", [0.002], {"units": "m d-1"})})
    assert float(to_canonical_units(ds)["tp"][0]) == pytest.approx(2.0)


@pytest.mark.parametrize("units, found", [
    ("kg m-2 s-1", {"et": "Evap"}),  # through the water density, a float64 pint constant
    ("W m-2", {"shortwave_radiation": "Evap"}),
    ("K", {"t_min": "Evap"}),
])
def test_float32_data_stay_float32(units, found):
    ds = xr.Dataset({"Evap": ("time", np.ones(3, "float32"), {"units": units})})
    out, problems = convert_units(ds, found=found)
    assert problems == [] and out["Evap"].dtype == np.float32


@pytest.mark.parametrize("name, given, spelled", [
    ("shortwave_radiation", "W m-2", "MJ m-2 d-1"), ("sand", "%", "1"), ("lai", "m2/m2", "m2 m-2"),
    ("gpp", "kg m-2 s-1", "g m-2 d-1"), ("t_min", "K", "degC"), ("lai", "m2 m-2", "m2 m-2"),
])
def test_converted_units_are_spelled_as_udunits(name, given, spelled):
    ds = xr.Dataset({name: ("time", np.ones(2), {"units": given})})
    assert to_canonical_units(ds)[name].attrs["units"] == spelled
