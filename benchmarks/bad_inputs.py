"""A catalogue of deliberate input mistakes, and how xdifferland reacts to each.

Every case breaks one thing in a valid input (a units label, a value, a coordinate, a dtype, the
layout, an uncertainty, a file) and then runs what a user would run, in order:

1. ``xdifferland.validate(ds)``;
2. if it reports nothing, ``xdifferland.simulate(ds, xdifferland.default_parameters(like=ds))``;
3. for mistakes in an observation or an uncertainty, if still nothing was refused,
   ``xdifferland.fit(ds, epochs=1, progress=False, use_uncertainty=...)``.

File cases call a reader instead (:func:`xdifferland.io.open_netcdf`,
:func:`~xdifferland.io.open_zarr`, the command line's reader ``xdifferland.cli_data.resolve_data``
+ ``open_resolved``, or ``xdifferland.cli.main(["validate", path])``) and validate what it
returns.

Outcomes of a mistake:

* ``clear``: a package error (:class:`~xdifferland.errors.DataError` and its subclasses, or a
  ``ValueError`` raised in xdifferland's own code) or a validation report with a problem that
  names the broken variable and says what to do (a non-empty fix);
* ``unclear``: refused by the package, but no problem names the broken variable or gives a fix;
* ``warned``: accepted with a ``UserWarning`` (e.g. a ``PlausibilityWarning``) naming it;
* ``foreign``: another exception escaped (pint, NumPy, xarray, JAX, ``KeyError``, ...);
* ``silent``: accepted without error or warning, with wrong but plausible results.

Valid layouts (ERA5's ``valid_time``/``latitude``/``longitude``, transposed dims, other unit
spellings, ...) are not mistakes: they must be accepted and simulate the same as the reference
world (``accepted``); ``refused`` or ``differs`` fails. Documented limitations (a mistake the
package cannot see by design, e.g. a flipped latitude sign inside the tropics) are run and
reported, but neither counted as mistakes nor failing.

World: ``synthetic_world(n_lat=8, n_lon=10, n_years=2, seed=0)`` (8 x 10 cells x 24 months at
2-6 degN, 10-15 degE; 73 land cells), a mid-latitude twin (40-44 degN) for the hemisphere check,
and ``tests/factories.make_dataset("site")`` for the site layout.

Usage::

    python benchmarks/bad_inputs.py               # all; writes benchmarks/results/bad_inputs.json
    python benchmarks/bad_inputs.py --only units  # category "units", or names containing "units"
    python benchmarks/bad_inputs.py --no-fit      # skip the 1-epoch fits

Exits 1 when any mistake is ``foreign`` or ``silent`` or any valid layout is not accepted, so it
serves as a check. ``tests/contract/test_bad_inputs.py`` runs the validate step of the cases
that ``validate`` should catch.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import io
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.factories, and xdifferland from a checkout
    sys.path.insert(0, str(ROOT))

import xdifferland  # noqa: E402
from xdifferland.errors import DataError  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "bad_inputs.json"
PACKAGE_DIR = Path(xdifferland.__file__).resolve().parent
#: The reference world: 8 x 10 cells, 24 months, seed 0.
WORLD = {"n_lat": 8, "n_lon": 10, "n_years": 2, "seed": 0}
#: The same size at 40-44 degN, where the hemisphere check applies (poleward of 25 degrees).
MIDLATITUDE_WORLD = {**WORLD, "lat_range": (40.0, 44.0)}

MISTAKE_OUTCOMES = ("clear", "unclear", "warned", "foreign", "silent")
FAILING = ("foreign", "silent")


# ----------------------------------------------------------------------------- the worlds
@lru_cache(maxsize=None)
def _world(kind: str) -> xr.Dataset:
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
    return _world(kind).copy(deep=True)


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


def _swap_t_min_t_max(ds):
    t_min, t_max = ds["t_min"].copy(), ds["t_max"].copy()
    ds["t_min"], ds["t_max"] = t_max, t_min
    return ds


def _t_min_above_t_max_once(ds):
    index = {"time": 5, **_land(ds)}
    t_min = ds["t_min"].values.copy()
    t_min[index["time"], index["lat"], index["lon"]] = float(
        ds["t_max"].values[index["time"], index["lat"], index["lon"]]) + 3.0
    ds["t_min"] = ds["t_min"].copy(data=t_min)
    return ds


def _packed_int(name: str, scale: float):
    """As stored in a file (int16, ``scale_factor``) but read with ``mask_and_scale=False``."""
    def mutate(ds):
        attrs = {**ds[name].attrs, "scale_factor": scale, "add_offset": 0.0}
        ds[name] = (ds[name] / scale).round().astype("int16")
        ds[name].attrs.update(attrs)
        return ds
    return mutate


def _as_dtype(name: str, kind: str):
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


def _time_values(function: Callable):
    """Replace the time coordinate by ``function(values)``."""
    def mutate(ds):
        return ds.assign_coords(time=("time", function(ds["time"].values.copy()),
                                      ds["time"].attrs))
    return mutate


def _swap_two_steps(t):
    t[[5, 6]] = t[[6, 5]]
    return t


def _duplicate_step(t):
    t[6] = t[5]
    return t


def _drop_step(ds):
    return ds.isel(time=[i for i in range(ds.sizes["time"]) if i != 9])


def _times_as_text(t):
    return pd.DatetimeIndex(t).strftime("%Y-%m-%d").to_numpy(dtype=object)


def _latitude(function: Callable):
    def mutate(ds):
        return ds.assign_coords(lat=("lat", function(ds["lat"].values.copy()), ds["lat"].attrs))
    return mutate


def _longitude(function: Callable):
    def mutate(ds):
        return ds.assign_coords(lon=("lon", function(ds["lon"].values.copy()), ds["lon"].attrs))
    return mutate


def _predictor_over_time(ds):
    ds["elevation"] = ds["elevation"].expand_dims(time=ds["time"]).transpose("time", ...)
    return ds


def _forcing_without_time(ds):
    attrs = ds["t_min"].attrs
    ds = ds.assign(t_min=ds["t_min"].isel(time=0, drop=True))
    ds["t_min"].attrs.update(attrs)
    return ds


def _extra_dim(name: str, dim: str = "member"):
    """``name`` with an extra dim of two members (an ensemble, ERA5's expver, a band)."""
    def mutate(ds):
        attrs = ds[name].attrs
        ds[name] = xr.concat([ds[name], ds[name] * 1.01], dim=dim)
        ds[name].attrs.update(attrs)
        return ds
    return mutate


def _merge_observation(name: str, retime: Callable):
    """Take ``name`` out, put it on another time axis (``retime(da) -> da``) and merge it back
    with :func:`xarray.merge` (the union of the time axes), as users do."""
    def mutate(ds):
        obs = retime(ds[[name]])
        rest = ds.drop_vars(name)
        return xr.merge([rest, obs], join="outer", compat="no_conflicts",
                        combine_attrs="override")
    return mutate


def _shift_days(days: int):
    def retime(obs):
        return obs.assign_coords(time=obs["time"] + np.timedelta64(days, "D"))
    return retime


def _eight_daily(obs):
    start = pd.Timestamp(obs["time"].values[0]) - pd.Timedelta(days=14)
    return obs.resample(time="8D", origin=start).nearest().isel(time=slice(0, 80))


def _one_year_later(obs):
    return obs.assign_coords(time=obs["time"] + np.timedelta64(365, "D"))


def _observation_on_own_axis(ds):
    obs = ds["lai"].rename(time="obs_time")
    ds = ds.drop_vars("lai")
    ds["lai"] = obs.assign_coords(obs_time=obs["obs_time"] + np.timedelta64(5 * 365, "D"))
    return ds


def _two_candidates(ds):
    ds["tasmin"] = ds["t_min"] - 1.0
    ds["tasmin"].attrs.update(ds["t_min"].attrs)
    return ds


def _site_without_latitude(ds):
    return ds.drop_vars("latitude")


def _floor_fire_uncertainty(ds):
    # The synthetic fire uncertainty is noise x value: zero where nothing burns. Floored here
    # so that use_uncertainty=True accepts the base world and each case breaks one thing.
    attrs = ds["fire_emission_unc"].attrs
    ds["fire_emission_unc"] = ds["fire_emission_unc"].clip(min=1e-4)
    ds["fire_emission_unc"].attrs.update(attrs)
    return ds


# Valid layouts: (mutate, put the simulation back in the reference layout)
def _era5_names(ds):
    return ds.rename(time="valid_time", lat="latitude", lon="longitude")


def _era5_back(out):
    return out.rename(valid_time="time", latitude="lat", longitude="lon")


def _other_spellings(ds):
    # The same values in other units, each labelled correctly.
    ds = relabel("t_min", offset=273.15, units="K")(ds)
    ds = relabel("t_max", offset=273.15, units="K")(ds)
    ds = relabel("shortwave_radiation", factor=1e6 / 86400, units="W m-2")(ds)
    ds = relabel("co2", factor=1e-6, units="mol mol-1")(ds)
    ds = relabel("vpd", factor=10.0, units="hPa")(ds)
    ds = relabel("precipitation", factor=1 / 86400, units="kg m-2 s-1")(ds)
    return ds


def _cf_aliases(ds):
    return ds.rename(t_min="tasmin", t_max="tasmax", shortwave_radiation="rsds",
                     precipitation="pr")


def _generic_cf_axes(ds):
    ds = ds.rename(time="t", lat="y", lon="x")
    ds["t"].attrs.update({"axis": "T", "standard_name": "time"})
    ds["y"].attrs.update({"axis": "Y", "standard_name": "latitude", "units": "degrees_north"})
    ds["x"].attrs.update({"axis": "X", "standard_name": "longitude", "units": "degrees_east"})
    return ds


def _float64(ds):
    return ds.assign({n: v.astype("float64") for n, v in ds.data_vars.items()
                      if v.dtype.kind == "f"})


def _generic_back(out):
    return out.rename(t="time", y="lat", x="lon")


# ----------------------------------------------------------------------------- file cases
def _write_world(path: Path) -> Path:
    from xdifferland.io import to_netcdf

    return to_netcdf(world(), path)


def _text_file(tmp: Path) -> Path:
    path = tmp / "notes.nc"
    path.write_text("time,t_min,t_max\n2001-01-15,20.1,30.2\n")
    return path


def _html_page(tmp: Path) -> Path:
    path = tmp / "download.nc"
    path.write_text("<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>\n")
    return path


def _empty_file(tmp: Path) -> Path:
    path = tmp / "empty.nc"
    path.write_bytes(b"")
    return path


def _truncated(tmp: Path) -> Path:
    full = _write_world(tmp / "full.nc")
    path = tmp / "truncated.nc"
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_classic(tmp: Path) -> Path:
    """A netCDF-3 (64-bit offset) file cut short: its libraries read the rest as zeros."""
    from xdifferland.io import to_netcdf

    full = to_netcdf(world(), tmp / "full3.nc", format="NETCDF3_64BIT", engine="scipy")
    path = tmp / "truncated3.nc"
    data = full.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.95)])
    return path


def _empty_zarr(tmp: Path) -> Path:
    path = tmp / "empty.zarr"
    path.mkdir()
    return path


def _kelvin_file(tmp: Path) -> Path:
    from xdifferland.io import to_netcdf

    return to_netcdf(relabel("t_min", offset=273.15)(world()), tmp / "kelvin.nc")


def read_netcdf(make: Callable[[Path], Path]):
    """Open what ``make(tmp)`` writes with :func:`xdifferland.io.open_netcdf`, then validate."""
    def action(tmp: Path):
        from xdifferland.io import open_netcdf

        with open_netcdf(make(tmp)) as ds:
            return ds.differland.validate()
    return action


def read_zarr(make: Callable[[Path], Path]):
    def action(tmp: Path):
        from xdifferland.io import open_zarr

        with open_zarr(make(tmp)) as ds:
            return ds.differland.validate()
    return action


def read_cli(make: Callable[[Path], Path], fmt: str = "auto"):
    """The command line's reader: ``resolve_data`` (format detection unless ``fmt`` says) and
    ``open_resolved``."""
    def action(tmp: Path):
        from xdifferland.cli_data import open_resolved, resolve_data

        ds = open_resolved(resolve_data([str(make(tmp))], fmt))
        try:
            return ds.differland.validate()
        finally:
            ds.close()
    return action


class CommandRefused(Exception):
    """``xdifferland validate`` exited non-zero; ``text`` is what it printed."""

    def __init__(self, text: str, unexpected: bool):
        super().__init__(text)
        self.text, self.unexpected = text, unexpected


def run_cli(make: Callable[[Path], Path]):
    """``xdifferland validate PATH`` through ``xdifferland.cli.main``, output captured."""
    def action(tmp: Path):
        import logging

        from xdifferland.cli import main

        out, err = io.StringIO(), io.StringIO()
        root = logging.getLogger()
        handlers = list(root.handlers)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(["validate", str(make(tmp))])
        finally:
            for h in root.handlers[:]:  # the command line adds its own handler
                if h not in handlers:
                    root.removeHandler(h)
        text = out.getvalue() + err.getvalue()
        if code != 0:
            raise CommandRefused(text, "unexpected error" in text)
        return None
    return action


# ----------------------------------------------------------------------------- the catalogue
@dataclass(frozen=True)
class Case:
    """One deliberate mistake (or valid layout, or documented limitation)."""

    name: str
    category: str  #: units, values, coordinates, dtypes, structure, uncertainties, files, layouts
    expect: tuple[str, ...]  #: names a good report gives (canonical variable, coordinate, file)
    mutate: Callable[[xr.Dataset], xr.Dataset] | None = None  #: world -> broken world
    action: Callable[[Path], object] | None = None  #: file cases: read (and validate)
    base: str = "grid"  #: which world: "grid", "midlatitude", "site"
    fit: bool = False  #: also fit 1 epoch when validate and simulate accept it
    use_uncertainty: bool = False
    kind: str = "mistake"  #: "mistake", "valid" (must be accepted) or "limitation"
    caught_by: str = "validate"  #: the step that should refuse it: validate, simulate, fit, read
    back: Callable[[xr.Dataset], xr.Dataset] | None = None  #: valid layouts: output to reference
    note: str = ""


def _c(name, category, expect, mutate=None, **options) -> Case:
    expect = (expect,) if isinstance(expect, str) else tuple(expect)
    return Case(name, category, expect, mutate, **options)


_SECONDS_PER_DAY = 86400.0
_unc = both(_floor_fire_uncertainty)

CASES: tuple[Case, ...] = (
    # --- units: values in other units than their label ---
    _c("t_min_kelvin_labelled_degC", "units", "t_min", relabel("t_min", offset=273.15)),
    _c("t_max_kelvin_labelled_degC", "units", "t_max", relabel("t_max", offset=273.15)),
    _c("t_max_fahrenheit_labelled_degC", "units", "t_max",
       relabel("t_max", factor=1.8, offset=32.0)),
    _c("t_min_celsius_labelled_K", "units", "t_min", set_units("t_min", "K")),
    _c("shortwave_wm2_labelled_MJ_m2_d", "units", "shortwave_radiation",
       relabel("shortwave_radiation", factor=1e6 / _SECONDS_PER_DAY)),
    _c("co2_mol_per_mol_labelled_ppm", "units", "co2", relabel("co2", factor=1e-6)),
    _c("vpd_hPa_labelled_kPa", "units", "vpd", relabel("vpd", factor=10.0)),
    _c("vpd_Pa_labelled_kPa", "units", "vpd", relabel("vpd", factor=1000.0)),
    _c("burned_area_percent_labelled_fraction", "units", "burned_area",
       relabel("burned_area", factor=100.0)),
    _c("sand_percent_labelled_fraction", "units", "sand", relabel("sand", factor=100.0)),
    _c("precipitation_kg_m2_s_labelled_mm_day", "units", "precipitation",
       relabel("precipitation", factor=1 / _SECONDS_PER_DAY)),
    _c("precipitation_mm_month_labelled_mm_day", "units", "precipitation",
       relabel("precipitation", factor=30.0)),
    _c("precipitation_mm_month_labelled_mm_day_no_map", "units", "precipitation",
       both(drop("mean_annual_precipitation"), relabel("precipitation", factor=30.0))),
    _c("mean_annual_precipitation_mm_day_labelled_mm_year", "units",
       "mean_annual_precipitation", relabel("mean_annual_precipitation", factor=1 / 365.25)),
    _c("ewt_anomaly_mm_labelled_m", "units", "ewt_anomaly", set_units("ewt_anomaly", "m"),
       fit=True),
    _c("elevation_m_labelled_km", "units", "elevation", set_units("elevation", "km")),
    _c("bulk_density_kg_m3_labelled_g_cm3", "units", "bulk_density",
       relabel("bulk_density", factor=1000.0)),
    _c("gpp_per_year_labelled_per_day", "units", "gpp", relabel("gpp", factor=365.25), fit=True),
    _c("t_min_units_missing", "units", "t_min", set_units("t_min", None)),
    _c("precipitation_units_missing", "units", "precipitation",
       set_units("precipitation", None)),
    _c("co2_units_empty", "units", "co2", set_units("co2", "")),
    _c("vpd_units_unparsable", "units", "vpd", set_units("vpd", "kilopascals please")),
    _c("vpd_offset_units_degC", "units", "vpd", set_units("vpd", "degC")),
    _c("precipitation_offset_units_degC_per_day", "units", "precipitation",
       set_units("precipitation", "degC/day")),
    _c("t_min_units_delta_degC", "units", "t_min", set_units("t_min", "delta_degC")),
    _c("lai_units_not_a_ratio", "units", "lai", set_units("lai", "kg"), fit=True),
    # --- values ---
    _c("inf_in_t_min", "values", "t_min", put("t_min", np.inf)),
    _c("minus_inf_in_precipitation", "values", "precipitation", put("precipitation", -np.inf)),
    _c("nan_in_t_max_at_land_cell", "values", "t_max", put("t_max", np.nan)),
    _c("negative_precipitation", "values", "precipitation", put("precipitation", -5.0, count=4)),
    _c("precipitation_sign_flipped", "values", "precipitation",
       relabel("precipitation", factor=-1.0)),
    _c("negative_vpd", "values", "vpd", relabel("vpd", offset=-1.0)),
    _c("negative_shortwave", "values", "shortwave_radiation",
       put("shortwave_radiation", -8.0, count=3)),
    _c("t_min_t_max_swapped", "values", ("t_min", "t_max"), _swap_t_min_t_max),
    _c("t_min_above_t_max_once", "values", ("t_min", "t_max"), _t_min_above_t_max_once),
    _c("burned_area_above_one", "values", "burned_area", put("burned_area", 1.7)),
    _c("co2_zero", "values", "co2", relabel("co2", factor=0.0)),
    _c("fill_value_in_precipitation", "values", "precipitation",
       put("precipitation", 9.969209968386869e36)),
    _c("fill_value_minus_9999_in_t_min", "values", "t_min", put("t_min", -9999.0, count=2)),
    _c("vpd_absurd_magnitude", "values", "vpd", put("vpd", 1e6)),
    _c("nan_in_predictor_at_land_cell", "values", "elevation", put("elevation", np.nan)),
    _c("constant_predictor", "values", "sand", transform("sand", lambda da: da * 0 + 0.3)),
    _c("elevation_below_dead_sea", "values", "elevation", put("elevation", -1500.0)),
    _c("negative_lai_observation", "values", "lai", put("lai", -2.0, "observed", 3), fit=True),
    _c("inf_in_lai_observation", "values", "lai", put("lai", np.inf, "observed"), fit=True),
    _c("minus_inf_in_gpp_observation", "values", "gpp", put("gpp", -np.inf, "observed"),
       fit=True),
    _c("negative_biomass_observation", "values", "biomass",
       put("biomass", -500.0, "observed", 12), fit=True),
    _c("et_observation_absurd_magnitude", "values", "et", put("et", 1e20, "observed"), fit=True),
    _c("negative_fire_emission_observation", "values", "fire_emission",
       put("fire_emission", -3.0, "observed"), fit=True),
    _c("sif_observation_absurd_magnitude", "values", "sif", put("sif", 500.0, "observed"),
       fit=True),
    # --- coordinates ---
    _c("latitude_plus_100", "coordinates", "latitude", _latitude(lambda v: v + 100.0)),
    _c("latitude_in_metres", "coordinates", "latitude", _latitude(lambda v: v * 111_000.0)),
    _c("latitude_sign_flipped_midlatitudes", "coordinates", "latitude",
       _latitude(lambda v: -v), base="midlatitude"),
    _c("latitude_as_text", "coordinates", "latitude", _latitude(lambda v: v.astype(str))),
    _c("longitude_plus_400", "coordinates", "longitude", _longitude(lambda v: v + 400.0)),
    _c("time_not_monotonic", "coordinates", "time", _time_values(_swap_two_steps)),
    _c("time_duplicated_step", "coordinates", "time", _time_values(_duplicate_step)),
    _c("time_irregular_missing_month", "coordinates", "time", _drop_step),
    _c("time_as_text", "coordinates", "time", _time_values(_times_as_text)),
    # --- dtypes ---
    _c("t_min_as_text", "dtypes", "t_min", _as_dtype("t_min", "str")),
    _c("t_min_packed_int_not_unpacked", "dtypes", "t_min", _packed_int("t_min", 0.01)),
    _c("precipitation_packed_int_not_unpacked", "dtypes", "precipitation",
       _packed_int("precipitation", 0.1)),
    _c("precipitation_as_bool", "dtypes", "precipitation", _as_dtype("precipitation", "bool")),
    _c("vpd_as_datetimes", "dtypes", "vpd", _as_dtype("vpd", "datetime")),
    _c("co2_as_objects_with_none", "dtypes", "co2", _as_dtype("co2", "object")),
    _c("shortwave_as_complex", "dtypes", "shortwave_radiation",
       _as_dtype("shortwave_radiation", "complex")),
    # --- structure ---
    _c("missing_vpd", "structure", "vpd", drop("vpd")),
    _c("missing_co2", "structure", "co2", drop("co2")),
    _c("missing_t_min_and_t_max", "structure", ("t_min", "t_max"), drop("t_min", "t_max")),
    _c("predictor_with_time_dim", "structure", "elevation", _predictor_over_time),
    _c("forcing_without_time_dim", "structure", "t_min", _forcing_without_time),
    _c("t_min_with_extra_dim", "structure", "t_min", _extra_dim("t_min")),
    _c("vpd_with_extra_dim", "structure", "vpd", _extra_dim("vpd", "expver")),
    _c("predictor_with_extra_dim", "structure", "elevation", _extra_dim("elevation", "band")),
    _c("observation_with_extra_dim", "structure", "lai", _extra_dim("lai", "band"), fit=True),
    _c("two_candidates_for_t_min", "structure", "t_min", _two_candidates),
    _c("lai_merged_shifted_10_days", "structure", "lai",
       _merge_observation("lai", _shift_days(10)), fit=True),
    _c("lai_merged_8_daily", "structure", "lai", _merge_observation("lai", _eight_daily),
       fit=True),
    _c("lai_merged_one_year_later", "structure", "lai",
       _merge_observation("lai", _one_year_later), fit=True),
    _c("lai_on_own_time_axis_outside_period", "structure", "lai", _observation_on_own_axis,
       fit=True),
    _c("site_without_latitude", "structure", "latitude", _site_without_latitude, base="site"),
    # --- uncertainties (fit with use_uncertainty=True) ---
    _c("fire_emission_unc_zero_where_nothing_burns", "uncertainties", "fire_emission_unc",
       lambda ds: ds, fit=True, use_uncertainty=True, caught_by="fit",
       note="the synthetic world as generated: uncertainty = noise x value"),
    _c("lai_unc_zero", "uncertainties", "lai_unc",
       both(_unc, transform("lai_unc", lambda da: da * 0)), fit=True, use_uncertainty=True,
       caught_by="fit"),
    _c("gpp_unc_missing_where_observed", "uncertainties", "gpp_unc",
       both(_unc, put("gpp_unc", np.nan, "observed", 6)), fit=True, use_uncertainty=True,
       caught_by="fit"),
    _c("et_unc_negative", "uncertainties", "et_unc",
       both(_unc, transform("et_unc", lambda da: -da)), fit=True, use_uncertainty=True),
    _c("nbe_unc_inf", "uncertainties", "nbe_unc", both(_unc, put("nbe_unc", np.inf, "observed")),
       fit=True, use_uncertainty=True),
    # --- files ---
    _c("text_file_as_netcdf", "files", "notes.nc", action=read_netcdf(_text_file),
       caught_by="read"),
    _c("text_file_cli_reader", "files", "notes.nc", action=read_cli(_text_file),
       caught_by="read"),
    _c("html_page_as_netcdf", "files", "download.nc", action=read_netcdf(_html_page),
       caught_by="read"),
    _c("empty_file_as_netcdf", "files", "empty.nc", action=read_netcdf(_empty_file),
       caught_by="read"),
    _c("truncated_netcdf", "files", "truncated.nc", action=read_netcdf(_truncated),
       caught_by="read"),
    _c("truncated_netcdf_cli_reader", "files", "truncated.nc", action=read_cli(_truncated),
       caught_by="read"),
    _c("truncated_netcdf3", "files", "truncated3.nc", action=read_netcdf(_truncated_classic),
       caught_by="read"),
    _c("truncated_netcdf3_cli_reader", "files", "truncated3.nc",
       action=read_cli(_truncated_classic), caught_by="read"),
    _c("truncated_netcdf3_cli_reader_format_netcdf", "files", "truncated3.nc",
       action=read_cli(_truncated_classic, "netcdf"), caught_by="read"),
    _c("empty_zarr_store", "files", "empty.zarr", action=read_zarr(_empty_zarr),
       caught_by="read"),
    _c("empty_zarr_store_cli_reader", "files", "empty.zarr", action=read_cli(_empty_zarr),
       caught_by="read"),
    _c("cli_validate_text_file", "files", "notes.nc", action=run_cli(_text_file),
       caught_by="read"),
    _c("cli_validate_kelvin_labelled_degC", "files", "t_min", action=run_cli(_kelvin_file),
       caught_by="read"),
    # --- valid layouts: must be accepted and simulate as the reference world ---
    _c("era5_valid_time_latitude_longitude", "layouts", (), _era5_names, kind="valid",
       back=_era5_back),
    _c("generic_cf_axes_t_y_x", "layouts", (), _generic_cf_axes, kind="valid",
       back=_generic_back),
    _c("dims_transposed", "layouts", (), lambda ds: ds.transpose("lon", "time", "lat"),
       kind="valid"),
    _c("latitude_descending", "layouts", (), lambda ds: ds.isel(lat=slice(None, None, -1)),
       kind="valid"),
    _c("other_unit_spellings", "layouts", (), _other_spellings, kind="valid"),
    _c("cf_alias_names", "layouts", (), _cf_aliases, kind="valid"),
    _c("float64_values", "layouts", (), _float64, kind="valid"),
    _c("dask_chunked", "layouts", (), lambda ds: ds.chunk({"lat": 4}), kind="valid"),
    _c("site_layout", "layouts", (), lambda ds: ds, base="site", kind="valid"),
    # --- documented limitations: invisible by design, reported, not failing ---
    _c("precipitation_kg_m2_s_labelled_mm_day_no_map", "units", "precipitation",
       both(drop("mean_annual_precipitation"),
            relabel("precipitation", factor=1 / _SECONDS_PER_DAY)), kind="limitation",
       note="every value is a plausible rate (0 to 3e-4 mm/day) and a climate of 0.02 mm/year "
            "is that of the driest deserts; only the mean_annual_precipitation predictor, "
            "when given, shows the factor 86,400"),
    _c("latitude_sign_flipped_tropics", "coordinates", "latitude", _latitude(lambda v: -v),
       kind="limitation",
       note="the hemisphere check judges only locations poleward of 25 degrees; at 2-6 degN "
            "the radiation's seasons cannot tell the hemispheres apart"),
)


# ----------------------------------------------------------------------------- running a case
@dataclass
class Result:
    case: Case
    outcome: str
    step: str  #: where it was refused (or the last step run)
    error: str | None  #: exception type, if one escaped
    message: str
    seconds: float

    def as_dict(self) -> dict:
        return {"name": self.case.name, "category": self.case.category, "kind": self.case.kind,
                "expect": list(self.case.expect), "outcome": self.outcome, "step": self.step,
                "error": self.error, "message": self.message, "seconds": round(self.seconds, 2),
                **({"note": self.case.note} if self.case.note else {})}


def _names(variable: str, expect: tuple[str, ...]) -> bool:
    return variable in expect or Path(variable).name in expect


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def judge_problems(problems, expect) -> tuple[str, str]:
    """``(clear or unclear, message)`` of a refusal listing ``problems``."""
    problems = list(problems)
    good = [p for p in problems if _names(p.variable, expect) and p.fix.strip()]
    shown = good[0] if good else problems[0]
    return ("clear" if good else "unclear"), str(shown).removeprefix("- ")


def _raised_in_package(error: BaseException) -> bool:
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(PACKAGE_DIR)


def judge_error(error: BaseException, expect) -> tuple[str, str]:
    """``(outcome, message)`` of an exception escaping a step."""
    if isinstance(error, DataError):
        return judge_problems(error.problems, expect)
    if isinstance(error, CommandRefused):
        if error.unexpected:
            return "foreign", _first_line(error.text.split("unexpected error")[-1])
        lines = [line for line in error.text.splitlines() if line.strip()]
        named = [line for line in lines if any(e in line for e in expect) and "Fix:" in line]
        shown = named[0] if named else (lines[-1] if lines else "")
        return ("clear" if named else "unclear"), shown.strip().removeprefix("- ")
    from xdifferland.training import TrainingError

    ours = isinstance(error, TrainingError) or (
        isinstance(error, ValueError) and type(error).__module__.split(".")[0] != "pint"
        and _raised_in_package(error))
    text = f"{type(error).__name__}: {_first_line(error)}"
    if not ours:
        return "foreign", text
    return ("clear" if any(e in str(error) for e in expect) else "unclear"), text


def _warned(caught, expect) -> str | None:
    for w in caught:
        if issubclass(w.category, UserWarning) and any(e in str(w.message) for e in expect):
            return f"{w.category.__name__}: {_first_line(w.message)}"
    return None


@lru_cache(maxsize=None)
def _reference_simulation(base: str) -> xr.Dataset:
    ds = _world(base)
    return xdifferland.simulate(ds, xdifferland.default_parameters(like=ds)).load()


def _same_simulation(out: xr.Dataset, case: Case) -> str | None:
    """Why ``out`` differs from the reference simulation, or None."""
    out = (case.back or (lambda o: o))(out).load()
    reference = _reference_simulation(case.base)
    out = out.sortby([d for d in reference.dims if d in out.indexes])
    for name, expected in reference.data_vars.items():
        got = out[name].transpose(*expected.dims)
        if got.sizes != expected.sizes:
            return f"{name}: sizes {dict(got.sizes)} instead of {dict(expected.sizes)}"
        for dim in expected.dims:
            if dim in expected.indexes and not got.indexes[dim].equals(expected.indexes[dim]):
                return f"{name}: other {dim} coordinate"
        # float32 engine; other unit spellings convert back with float32 round-off
        if not np.allclose(got.values, expected.values, rtol=2e-3, atol=1e-4, equal_nan=True):
            worst = float(np.nanmax(np.abs(got.values - expected.values)))
            return f"{name}: differs from the reference by up to {worst:g}"
    return None


def run_case(case: Case, tmp: Path, *, fit: bool = True, only_validate: bool = False) -> Result:
    """Run one case through validate, simulate and (maybe) fit, and classify the outcome."""
    result = _run_case(case, tmp, fit=fit, only_validate=only_validate)
    result.message = result.message.replace(str(tmp), "<tmp>")  # the same on every run
    return result


def _run_case(case: Case, tmp: Path, *, fit: bool, only_validate: bool) -> Result:
    start = time.perf_counter()
    step = "mutate"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if case.action is not None:
                step = "read"
                report = case.action(tmp)
                if report is not None and report.problems:
                    outcome, message = judge_problems(report.problems, case.expect)
                    return Result(case, outcome, step, None, message, _since(start))
            else:
                ds = case.mutate(world(case.base))
                step = "validate"
                report = xdifferland.validate(ds)
                if report.problems:
                    outcome, message = judge_problems(report.problems, case.expect)
                    return Result(case, outcome, step, None, message, _since(start))
                if only_validate:
                    return Result(case, _accepted(case, caught), step, None,
                                  _accepted_text(case, caught), _since(start))
                step = "simulate"
                out = xdifferland.simulate(ds, xdifferland.default_parameters(like=ds))
                if case.kind == "valid" and case.base == "site":  # no gridded reference
                    finite = bool(np.isfinite(out["gpp"].values).all())
                    return Result(case, "accepted" if finite else "differs", step, None,
                                  "simulated, every gpp value finite" if finite
                                  else "NaN in the simulated gpp", _since(start))
                if case.kind == "valid":
                    differs = _same_simulation(out, case)
                    return Result(case, "differs" if differs else "accepted", step, None,
                                  differs or "same simulation as the reference layout",
                                  _since(start))
                if case.fit and fit:
                    step = "fit"
                    xdifferland.fit(ds, epochs=1, progress=False,
                                    use_uncertainty=case.use_uncertainty)
        except Exception as error:  # noqa: BLE001  (every escape is classified)
            if case.kind == "valid":
                return Result(case, "refused", step, type(error).__name__,
                              _first_line(error), _since(start))
            outcome, message = judge_error(error, case.expect)
            return Result(case, outcome, step,
                          None if outcome in ("clear", "unclear") else type(error).__name__,
                          message, _since(start))
        return Result(case, _accepted(case, caught), step, None, _accepted_text(case, caught),
                      _since(start))


def _accepted(case: Case, caught) -> str:
    if case.kind == "valid":
        return "accepted"
    return "warned" if _warned(caught, case.expect) else "silent"


def _accepted_text(case: Case, caught) -> str:
    return _warned(caught, case.expect) or "accepted without error or warning"


def _since(start: float) -> float:
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- report
def totals(results: list[Result]) -> dict:
    mistakes = [r for r in results if r.case.kind == "mistake"]
    valid = [r for r in results if r.case.kind == "valid"]
    limits = [r for r in results if r.case.kind == "limitation"]
    out = {"mistakes": len(mistakes)}
    out.update({o: sum(r.outcome == o for r in mistakes) for o in MISTAKE_OUTCOMES})
    out["valid_layouts"] = len(valid)
    out["valid_layouts_accepted"] = sum(r.outcome == "accepted" for r in valid)
    out["documented_limitations"] = len(limits)
    return out


def failures(results: list[Result]) -> list[Result]:
    """Mistakes that escaped foreign or silent, valid layouts not accepted."""
    return [r for r in results if (r.case.kind == "mistake" and r.outcome in FAILING)
            or (r.case.kind == "valid" and r.outcome != "accepted")]


def print_table(results: list[Result], width: int = 110) -> None:
    name_w = max(len(r.case.name) for r in results)
    print(f"{'case':<{name_w}}  {'category':<13} {'outcome':<8} {'step':<8} message")
    print("-" * min(width + name_w, 200))
    for r in results:
        outcome = r.outcome if r.case.kind != "limitation" else f"({r.outcome})"
        message = r.message if len(r.message) <= width else r.message[:width - 3] + "..."
        print(f"{r.case.name:<{name_w}}  {r.case.category:<13} {outcome:<8} {r.step:<8} "
              f"{message}")


def selected(only: str | None) -> list[Case]:
    if not only:
        return list(CASES)
    keys = [k.strip() for k in only.split(",") if k.strip()]
    return [c for c in CASES if any(k in c.name or k == c.category for k in keys)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=None,
                        help="comma-separated name substrings or categories")
    parser.add_argument("--no-fit", action="store_true", help="skip the 1-epoch fits")
    parser.add_argument("--json", type=Path, default=None,
                        help=f"where to write the results (default: {RESULTS} for a run of "
                        "every case; a run with --only writes only where --json says)")
    args = parser.parse_args(argv)

    cases = selected(args.only)
    started = time.perf_counter()
    results = []
    tmp_root = Path(tempfile.mkdtemp(prefix="xdifferland-bad-inputs-"))
    try:
        for i, case in enumerate(cases):
            tmp = tmp_root / f"{i:03d}"
            tmp.mkdir()
            result = run_case(case, tmp, fit=not args.no_fit)
            results.append(result)
            print(f"[{i + 1:3d}/{len(cases)}] {case.name}: {result.outcome} "
                  f"({result.seconds:.1f} s)", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    runtime = time.perf_counter() - started

    print()
    print_table(results)
    counts = totals(results)
    print()
    print(f"{counts['mistakes']} mistakes: {counts['clear']} clear, {counts['unclear']} unclear, "
          f"{counts['warned']} warned, {counts['foreign']} foreign, {counts['silent']} silent; "
          f"{counts['valid_layouts_accepted']} of {counts['valid_layouts']} valid layouts "
          f"accepted; {counts['documented_limitations']} documented limitation(s); "
          f"{runtime:.0f} s")
    failed = failures(results)
    for r in failed:
        print(f"FAIL {r.case.name}: {r.outcome} ({r.error or r.step}): {r.message}")

    import jax

    record = {
        "what": "deliberate input mistakes: validate(), then simulate() / a 1-epoch fit",
        "date": _dt.date.today().isoformat(),
        "xdifferland": xdifferland.__version__,
        "python": sys.version.split()[0], "jax": jax.__version__, "xarray": xr.__version__,
        "world": {"grid": WORLD, "midlatitude": {**MIDLATITUDE_WORLD,
                                                 "lat_range": list(MIDLATITUDE_WORLD["lat_range"])},
                  "site": "tests/factories.make_dataset('site')"},
        "fit": not args.no_fit, "only": args.only, "runtime_s": round(runtime, 1),
        "cpu_count": os.cpu_count(),
        "totals": counts,
        "cases": [r.as_dict() for r in results],
    }
    if args.json is None and args.only:  # a subset must not replace the record of every case
        print("results not written (a run with --only; pass --json PATH to keep them)")
        return 1 if failed else 0
    path = args.json or RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"results: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
