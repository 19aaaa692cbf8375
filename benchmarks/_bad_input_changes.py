"""The input worlds of ``bad_inputs.py`` and the changes that break them (or relabel them
validly): units labels, values, coordinates, dtypes, time axes, layouts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.factories, and xdifferland from a checkout
    sys.path.insert(0, str(ROOT))

#: The reference world: 8 x 10 cells, 24 months, seed 0.
WORLD = {"n_lat": 8, "n_lon": 10, "n_years": 2, "seed": 0}
#: The same size at 40-44 degN, where the hemisphere check applies (poleward of 25 degrees).
MIDLATITUDE_WORLD = {**WORLD, "lat_range": (40.0, 44.0)}


@lru_cache(maxsize=None)
def cached_world(kind: str) -> xr.Dataset:
    """A base world, built once (not to be changed: :func:`world` gives a copy)."""
    from xdifferland.datasets import synthetic_world

    if kind == "grid":
        return synthetic_world(**WORLD)[0]
    if kind == "midlatitude":
        return synthetic_world(**MIDLATITUDE_WORLD)[0]
    if kind == "site":
        from tests.factories import make_dataset

        return make_dataset("site")
    raise ValueError(f"unknown world {kind!r}")


def world(kind: str = "grid") -> xr.Dataset:
    """A fresh deep copy of a base world (``"grid"``, ``"midlatitude"`` or ``"site"``)."""
    return cached_world(kind).copy(deep=True)


def _land(ds: xr.Dataset) -> dict:
    """Index of a land cell where every predictor has a value (a computed location)."""
    ok = ds["land_mask"].astype(bool)
    for name in ("elevation", "sand", "mean_annual_temperature"):
        ok = ok & ds[name].notnull()
    i, j = np.argwhere(ok.values)[len(np.argwhere(ok.values)) // 2]
    return {"lat": int(i), "lon": int(j)}


def _observed(ds: xr.Dataset, name: str) -> dict:
    """Index (time, lat, lon) of a value of observation ``name`` at a computed location."""
    ok = ds[name].notnull() & ds["land_mask"].astype(bool) & ds["elevation"].notnull()
    t, i, j = np.argwhere(ok.transpose("time", "lat", "lon").values)[0]
    return {"time": int(t), "lat": int(i), "lon": int(j)}


# ----------------------------------------------------------------------------- mutations
def relabel(name: str, factor: float = 1.0, offset: float = 0.0, units: str | None = None):
    """Values in other units than their label: ``values * factor + offset``, label kept
    (or set to ``units``)."""
    def mutate(ds):
        attrs = dict(ds[name].attrs)
        ds[name] = ds[name] * factor + offset
        ds[name].attrs.update(attrs)
        if units is not None:
            ds[name].attrs["units"] = units
        return ds
    return mutate


def set_units(name: str, units: str | None):
    """Replace the units label (``None``: remove it), values unchanged."""
    def mutate(ds):
        if units is None:
            ds[name].attrs.pop("units", None)
        else:
            ds[name].attrs["units"] = units
        return ds
    return mutate


def put(name: str, value, where: str = "land", count: int = 1):
    """Put ``value`` into ``count`` consecutive steps of one computed location (``"land"``) or
    at an observed value (``"observed"``)."""
    def mutate(ds):
        da = ds[name]
        values = np.array(da.values, dtype=float)
        index = _observed(ds, name) if where == "observed" else {
            "time": 3, **_land(ds)}
        dims = [d for d in da.dims]
        key = tuple(slice(index[d], index[d] + count) if d == "time" else index[d]
                    for d in dims)
        values[key] = value
        ds[name] = da.copy(data=values.astype(da.dtype))
        return ds
    return mutate


def transform(name: str, function: Callable):
    """Replace ``ds[name]`` by ``function(ds[name])``, attributes kept."""
    def mutate(ds):
        attrs = dict(ds[name].attrs)
        ds[name] = function(ds[name])
        ds[name].attrs.update(attrs)
        return ds
    return mutate


def drop(*names: str):
    def mutate(ds):
        return ds.drop_vars(list(names))
    return mutate


def both(*mutations: Callable):
    """Apply several mutations in order."""
    def mutate(ds):
        for m in mutations:
            ds = m(ds)
        return ds
    return mutate


def swap_t_min_t_max(ds):
    t_min, t_max = ds["t_min"].copy(), ds["t_max"].copy()
    ds["t_min"], ds["t_max"] = t_max, t_min
    return ds


def t_min_above_t_max_once(ds):
    index = {"time": 5, **_land(ds)}
    t_min = ds["t_min"].values.copy()
    t_min[index["time"], index["lat"], index["lon"]] = float(
        ds["t_max"].values[index["time"], index["lat"], index["lon"]]) + 3.0
    ds["t_min"] = ds["t_min"].copy(data=t_min)
    return ds


def packed_int(name: str, scale: float):
    """As stored in a file (int16, ``scale_factor``) but read with ``mask_and_scale=False``."""
    def mutate(ds):
        attrs = {**ds[name].attrs, "scale_factor": scale, "add_offset": 0.0}
        ds[name] = (ds[name] / scale).round().astype("int16")
        ds[name].attrs.update(attrs)
        return ds
    return mutate


def as_dtype(name: str, kind: str):
    def mutate(ds):
        da, attrs = ds[name], dict(ds[name].attrs)
        if kind == "str":
            new = da.astype(str)
        elif kind == "bool":
            new = da > da.median()
        elif kind == "datetime":
            new = da.copy(data=pd.Timestamp("2001-01-01").to_datetime64()
                          + (da.values * 86400).astype("timedelta64[s]"))
        elif kind == "object":
            values = da.values.astype(object)
            values.reshape(-1)[::7] = None
            new = da.copy(data=values)
        elif kind == "complex":
            new = da.astype(complex)
        else:
            raise ValueError(kind)
        ds[name] = new
        ds[name].attrs.update(attrs)
        return ds
    return mutate


def time_values(function: Callable):
    """Replace the time coordinate by ``function(values)``."""
    def mutate(ds):
        return ds.assign_coords(time=("time", function(ds["time"].values.copy()),
                                      ds["time"].attrs))
    return mutate


def swap_two_steps(t):
    t[[5, 6]] = t[[6, 5]]
    return t


def duplicate_step(t):
    t[6] = t[5]
    return t


def drop_step(ds):
    return ds.isel(time=[i for i in range(ds.sizes["time"]) if i != 9])


def times_as_text(t):
    return pd.DatetimeIndex(t).strftime("%Y-%m-%d").to_numpy(dtype=object)


def change_latitude(function: Callable):
    def mutate(ds):
        return ds.assign_coords(lat=("lat", function(ds["lat"].values.copy()), ds["lat"].attrs))
    return mutate


def change_longitude(function: Callable):
    def mutate(ds):
        return ds.assign_coords(lon=("lon", function(ds["lon"].values.copy()), ds["lon"].attrs))
    return mutate


def predictor_over_time(ds):
    ds["elevation"] = ds["elevation"].expand_dims(time=ds["time"]).transpose("time", ...)
    return ds


def forcing_without_time(ds):
    attrs = ds["t_min"].attrs
    ds = ds.assign(t_min=ds["t_min"].isel(time=0, drop=True))
    ds["t_min"].attrs.update(attrs)
    return ds


def extra_dim(name: str, dim: str = "member"):
    """``name`` with an extra dim of two members (an ensemble, ERA5's expver, a band)."""
    def mutate(ds):
        attrs = ds[name].attrs
        ds[name] = xr.concat([ds[name], ds[name] * 1.01], dim=dim)
        ds[name].attrs.update(attrs)
        return ds
    return mutate


def merge_observation(name: str, retime: Callable):
    """Take ``name`` out, put it on another time axis (``retime(da) -> da``) and merge it back
    with :func:`xarray.merge` (the union of the time axes), as users do."""
    def mutate(ds):
        obs = retime(ds[[name]])
        rest = ds.drop_vars(name)
        return xr.merge([rest, obs], join="outer", compat="no_conflicts",
                        combine_attrs="override")
    return mutate


def shift_days(days: int):
    def retime(obs):
        return obs.assign_coords(time=obs["time"] + np.timedelta64(days, "D"))
    return retime


def eight_daily(obs):
    start = pd.Timestamp(obs["time"].values[0]) - pd.Timedelta(days=14)
    return obs.resample(time="8D", origin=start).nearest().isel(time=slice(0, 80))


def one_year_later(obs):
    return obs.assign_coords(time=obs["time"] + np.timedelta64(365, "D"))


def observation_on_own_axis(ds):
    obs = ds["lai"].rename(time="obs_time")
    ds = ds.drop_vars("lai")
    ds["lai"] = obs.assign_coords(obs_time=obs["obs_time"] + np.timedelta64(5 * 365, "D"))
    return ds


def two_candidates(ds):
    ds["tasmin"] = ds["t_min"] - 1.0
    ds["tasmin"].attrs.update(ds["t_min"].attrs)
    return ds


def site_without_latitude(ds):
    return ds.drop_vars("latitude")


def floor_fire_uncertainty(ds):
    # The synthetic fire uncertainty is noise x value: zero where nothing burns. Floored here
    # so that use_uncertainty=True accepts the base world and each case breaks one thing.
    attrs = ds["fire_emission_unc"].attrs
    ds["fire_emission_unc"] = ds["fire_emission_unc"].clip(min=1e-4)
    ds["fire_emission_unc"].attrs.update(attrs)
    return ds


# Valid layouts: (mutate, put the simulation back in the reference layout)
def era5_names(ds):
    return ds.rename(time="valid_time", lat="latitude", lon="longitude")


def era5_back(out):
    return out.rename(valid_time="time", latitude="lat", longitude="lon")


def other_spellings(ds):
    # The same values in other units, each labelled correctly.
    ds = relabel("t_min", offset=273.15, units="K")(ds)
    ds = relabel("t_max", offset=273.15, units="K")(ds)
    ds = relabel("shortwave_radiation", factor=1e6 / 86400, units="W m-2")(ds)
    ds = relabel("co2", factor=1e-6, units="mol mol-1")(ds)
    ds = relabel("vpd", factor=10.0, units="hPa")(ds)
    ds = relabel("precipitation", factor=1 / 86400, units="kg m-2 s-1")(ds)
    return ds


def cf_aliases(ds):
    return ds.rename(t_min="tasmin", t_max="tasmax", shortwave_radiation="rsds",
                     precipitation="pr")


def generic_cf_axes(ds):
    ds = ds.rename(time="t", lat="y", lon="x")
    ds["t"].attrs.update({"axis": "T", "standard_name": "time"})
    ds["y"].attrs.update({"axis": "Y", "standard_name": "latitude", "units": "degrees_north"})
    ds["x"].attrs.update({"axis": "X", "standard_name": "longitude", "units": "degrees_east"})
    return ds


def as_float64(ds):
    return ds.assign({n: v.astype("float64") for n, v in ds.data_vars.items()
                      if v.dtype.kind == "f"})


def generic_back(out):
    return out.rename(t="time", y="lat", x="lon")
