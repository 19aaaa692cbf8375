"""Property test: whatever is wrong with a Dataset, validate() reports it in the package's error.

Hypothesis draws one to three mutations of a small valid Dataset (units, values, dtypes, dims,
coordinates, variables) and applies them; ``validate(ds).raise_if_any()`` must then either pass
or raise :class:`~xdifferland.errors.DataError` whose every problem names a variable and a fix.
Any other exception (pint's, NumPy's, xarray's) fails the test with the mutations that caused it.
The run is derandomized, so CI sees the same few hundred cases every time.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tests.factories import FORCING, OBSERVATIONS, PREDICTORS, make_dataset
from xdifferland.errors import DataError
from xdifferland.contract.check import validate
from xdifferland.contract.declare import VARIABLES

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NAMES = FORCING + PREDICTORS + OBSERVATIONS
UNITS = ["K", "degC", "degF", "delta_degC", "hPa", "Pa", "kPa", "W m-2", "J m-2",
         "mol mol-1", "ppm", "ppmv", "1e-6", "%", "1", "", " ", "m", "kg m-2 s-1", "mm/s",
         "gC m-2 d-1", "degC/day", "10 degC", "furlong", "m**", "((", "nan", "°C", "K-1",
         "days since 2001-01-01", 5, 3.5, ["kPa"], None]
VALUES = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e300, -1e300, 1e-300, 273.15, 1e6]
FACTORS = [0.0, -1.0, 1e-6, 1e-3, 0.0864, 1 / 0.0864, 10.0, 100.0, 1000.0, 1e20]
DTYPES = ["int64", "uint8", "float16", "float32", "bool", "str", "object", "complex128",
          "datetime64[ns]", "timedelta64[ns]"]
STANDARD_NAMES = ["air_temperature", "leaf_area_index", "latitude", "time", "", "nonsense",
                  "lwe_precipitation_rate", "surface_downwelling_shortwave_flux_in_air"]


# ------------------------------------------------------------------------------ mutations
def _set_units(ds, name, units):
    if units is None:
        ds[name].attrs.pop("units", None)
    else:
        ds[name].attrs["units"] = units
    return ds


def _set_value(ds, name, value, where):
    values = np.array(ds[name].values, dtype=float)
    flat = values.reshape(-1)
    flat[{"first": slice(0, 1), "last": slice(-1, None), "all": slice(None)}[where]] = value
    ds[name] = ds[name].copy(data=values)
    return ds


def _scale(ds, name, factor):
    ds[name] = ds[name] * factor
    return ds


def _astype(ds, name, dtype):
    try:
        ds[name] = ds[name].astype(dtype)
    except (TypeError, ValueError):  # NumPy cannot make that dtype from floats: no mutation
        pass
    return ds


def _dims(ds, name, how):
    da = ds[name]
    if how == "transpose":
        ds[name] = da.transpose(*reversed(da.dims))
    elif how == "drop_time" and "time" in da.dims:
        ds[name] = da.isel(time=0, drop=True)
    elif how == "add_time" and "time" not in da.dims:
        ds[name] = da.expand_dims(time=ds["time"])
    elif how == "extra_dim":
        ds[name] = da.expand_dims(member=2)
    elif how == "rename_dim" and da.dims:
        ds = ds.drop_vars(name).assign({name: da.rename({da.dims[0]: f"my_{da.dims[0]}"})})
    elif how == "half" and da.dims:
        ds[name] = da.isel({da.dims[-1]: slice(0, max(1, da.shape[-1] // 2))})
    elif how == "scalar":
        ds[name] = xr.DataArray(float(np.nanmean(da.values.astype(float))),
                                attrs=da.attrs)
    return ds


def _time(ds, how):
    n = ds.sizes["time"]
    if how == "drop_coord":
        return ds.drop_vars("time")
    if how == "shuffle":
        return ds.isel(time=np.roll(np.arange(n), 1))
    if how == "duplicate":
        return ds.isel(time=[0, *range(n - 1)])
    if how == "strings":
        return ds.assign_coords(time=[str(t)[:10] for t in ds["time"].values])
    if how == "numeric":
        return ds.assign_coords(time=np.arange(n) * 30.0)
    if how == "cftime":
        return ds.convert_calendar("noleap", use_cftime=True)
    if how == "nat":
        times = ds["time"].values.copy()
        times[-1] = np.datetime64("NaT")
        return ds.assign_coords(time=times)
    if how in ("shifted_obs", "daily_obs", "longer_obs"):
        obs = ds[["lai"]] if "lai" in ds else ds[["gpp"]]
        if how == "shifted_obs":
            obs = obs.assign_coords(time=obs["time"].values + np.timedelta64(17, "D"))
        elif how == "daily_obs":
            obs = obs.isel(time=slice(0, 3)).assign_coords(
                time=pd.date_range("2001-01-01", periods=3, freq="D"))
        else:
            obs = obs.assign_coords(time=obs["time"].values - np.timedelta64(365, "D"))
        return xr.merge([ds.drop_vars(list(obs.data_vars)), obs], join="outer",
                        compat="override")
    return ds


def _coordinate(ds, which, how):
    names = [n for n in (which, which[:3]) if n in ds.variables]
    if not names:
        return ds
    name = names[0]
    values = np.array(ds[name].values, dtype=float)
    if how == "drop":
        return ds.drop_vars(name)
    if how == "flip":
        values = -values
    elif how == "plus_400":
        values = values + 400
    elif how == "nan":
        values[0] = np.nan
    elif how == "inf":
        values[-1] = np.inf
    elif how == "strings":
        return ds.assign_coords({name: (ds[name].dims, values.astype(str))})
    elif how == "radians":
        values = np.deg2rad(values)
    return ds.assign_coords({name: (ds[name].dims, values, ds[name].attrs)})


def _variables(ds, name, how, other):
    if how == "drop":
        return ds.drop_vars(name)
    if how == "duplicate":
        ds[f"{name}_copy"] = ds[name]
        ds[f"{name}_copy"].attrs["standard_name"] = other
        return ds
    if how == "standard_name":
        ds[name].attrs["standard_name"] = other
        return ds
    if how == "uncertainty" and name in OBSERVATIONS:
        ds[f"{name}_unc"] = ds[name] * 0.0 - 1.0
        return ds
    return ds


names = st.sampled_from(NAMES)
MUTATIONS = st.one_of(
    st.tuples(st.just(_set_units), names, st.sampled_from(UNITS)),
    st.tuples(st.just(_set_value), names, st.sampled_from(VALUES),
              st.sampled_from(["first", "last", "all"])),
    st.tuples(st.just(_scale), names, st.sampled_from(FACTORS)),
    st.tuples(st.just(_astype), names, st.sampled_from(DTYPES)),
    st.tuples(st.just(_dims), names, st.sampled_from(
        ["transpose", "drop_time", "add_time", "extra_dim", "rename_dim", "half", "scalar"])),
    st.tuples(st.just(_time), st.sampled_from(
        ["drop_coord", "shuffle", "duplicate", "strings", "numeric", "cftime", "nat",
         "shifted_obs", "daily_obs", "longer_obs"])),
    st.tuples(st.just(_coordinate), st.sampled_from(["latitude", "longitude"]),
              st.sampled_from(["drop", "flip", "plus_400", "nan", "inf", "strings", "radians"])),
    st.tuples(st.just(_variables), names,
              st.sampled_from(["drop", "duplicate", "standard_name", "uncertainty"]),
              st.sampled_from(STANDARD_NAMES)),
)


def _mutated(layout: str, mutations) -> xr.Dataset:
    ds = make_dataset(layout, n_time=12)
    for apply, *args in mutations:
        if args and args[0] in NAMES and args[0] not in ds.data_vars:
            continue  # dropped by an earlier mutation
        try:
            ds = apply(ds, *args)
        except Exception:  # noqa: BLE001  (a mutation xarray cannot make, e.g. a calendar
            continue  # conversion of a dropped time axis: not a case for validate())
    return ds


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(layout=st.sampled_from(["site", "grid"]),
       mutations=st.lists(MUTATIONS, min_size=1, max_size=3))
def test_validate_reports_every_mutation_as_a_data_error(layout, mutations):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy casts (inf to int, ...) while mutating
        ds = _mutated(layout, mutations)
    try:
        validate(ds).raise_if_any()
    except DataError as err:
        assert err.problems
        for problem in err.problems:
            assert problem.variable.strip() and problem.message.strip() and problem.fix.strip()


# One declared variable per canonical unit: the unit layer's cases, exhaustively, are cheap.
_BY_UNITS = {}
for _v in VARIABLES:
    _BY_UNITS.setdefault(_v.units, _v)
REPRESENTATIVES = tuple(_BY_UNITS.values())


def _single(v, units=None, dtype=None) -> xr.Dataset:
    values = np.linspace(0.1, 0.9, 6).reshape(3, 2) * (v.plausible_range[1] or 1.0)
    dims = ("time", "site") if "time" in v.dims else ("site",)
    data = values if "time" in v.dims else values[0]
    attrs = {} if units is None else {"units": units}
    ds = xr.Dataset({v.name: (dims, data, attrs)},
                    coords={"time": pd.date_range("2001-01-01", periods=3, freq="MS"),
                            "site": ["a", "b"], "latitude": ("site", [40.0, -30.0])})
    if dtype is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = _astype(ds, v.name, dtype)
    return ds


def _accepted_or_named(ds: xr.Dataset) -> None:
    try:
        validate(ds, skip=["required_forcing"]).raise_if_any()
    except DataError as err:
        assert all(p.variable.strip() and p.fix.strip() for p in err.problems)


@pytest.mark.parametrize("units", UNITS, ids=repr)
def test_every_units_string_on_every_kind_of_variable(units):
    for v in REPRESENTATIVES:
        _accepted_or_named(_single(v, units))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("units", [None, "canonical", "scaled"])
def test_every_dtype_on_every_kind_of_variable(dtype, units):
    for v in REPRESENTATIVES:
        declared = {None: None, "canonical": v.units, "scaled": f"1e-3 {v.units}"}[units]
        _accepted_or_named(_single(v, declared, dtype))
