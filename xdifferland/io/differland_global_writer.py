"""Writer of the published DifferLand global layout: any canonical Dataset as its five files.

:func:`to_differland_global` is the inverse of
:func:`~xdifferland.io.differland_global.open_differland_global`: it writes the driver NetCDF, the
run/patch index, the validity and bulk-assimilation flags and the CO2 table with the published
file names, variable names, dims order (``time, lat, lon``, latitude descending), units and
missing values (NaN), so that the reference calibration could read the folder too. What the
layout has no place for is kept without disturbing it (see the function's Notes).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import DataError, Problem
from .co2_table import CO2_FILE, co2_table_text
from .differland_global import (BULK_FILE, BULK_VARIABLE, DRIVER_FILE,
                                EXTENSIONS_ATTR, FORCING, NO_PATCH, OBSERVATIONS, PERCENT,
                                PLACEHOLDERS_ATTR, PREDICTORS, RUN_INDEX_FILE,
                                RUN_INDEX_VARIABLE, TIME_FIELDS, VALID_FILE, VALID_VARIABLE,
                                WEIGHTED, canonical_name, cf_units)

__all__ = ["to_differland_global"]

_REQUIRED = ("t_min", "t_max", "shortwave_radiation", "vpd", "precipitation", "co2")
_FLAGS = ("land_mask", "assimilate_coarse", "patch_id", "split")  # read back from the flags
_TLL, _LL = ("time", "lat", "lon"), ("lat", "lon")
_DAYS_PER_YEAR_MAP = 365.22  # the reference divides MAP by this (spec 1.1)


def to_differland_global(ds: xr.Dataset, directory: str | Path, *, overwrite: bool = False,
                         roles: Mapping[str, str] | None = None,
                         patch_size: tuple[float, float] | None = None, seed: int = 0,
                         test_fraction: float = 0.1, runs: int = 1) -> dict[str, Path]:
    """Write a canonical ``(time, lat, lon)`` Dataset as a folder in the published layout.

    Parameters
    ----------
    ds : xarray.Dataset
        Forcing, predictors and observations on a lat/lon grid: canonical names or aliases, any
        convertible units (see :mod:`xdifferland.contract.declare`), axes found by CF (ERA5's
        ``valid_time``, ``latitude``, ``longitude`` too; :mod:`xdifferland.contract.axes`). E.g. the
        synthetic world or a Dataset read by
        :func:`~xdifferland.io.differland_global.open_differland_global`.
    directory : str or Path
        Target folder (created if needed).
    overwrite : bool, default False
        Replace files of the layout already there; otherwise any of them existing is refused
        before anything is written.
    roles : mapping, optional
        Explicit ``{canonical_name: variable}`` choices, as in :func:`xdifferland.fit`.
    patch_size : (float, float), optional
        Patch size in degrees when ``ds`` has no ``patch_id``; default
        ``ds.attrs["patch_size_degrees"]`` or the published 4 x 5.
    seed, test_fraction, runs
        When ``ds`` has no ``patch_id``: the seeded draw of the test patches (``test_fraction``
        of the patches holding a valid cell, at least one when there are three or more; indices
        -1, -2, ...) and, for each of ``runs`` run slices, a seeded order of the other patches
        (indices 1, 2, ...; the last tenth by the spec 9.1 rule is that run's dev set).

    Returns
    -------
    dict of str to Path
        ``driver``, ``run_index``, ``valid``, ``bulk`` and ``co2``: the files written, each
        atomically.

    Raises
    ------
    DataError
        If ``ds`` is not on a ``(time, lat, lon)`` grid, lacks required forcing, has CO2 varying
        in space, or has a variable whose name the layout uses for something else.
    FileExistsError
        If a file of the layout exists and ``overwrite`` is False.

    Notes
    -----
    * ``patch_id`` and ``land_mask`` / ``assimilate_coarse`` of ``ds`` (as the reader returns
      them) are written as the run index and the flags; otherwise the index is drawn as above,
      ``era_valid`` is where every predictor is defined, and the bulk flag is where ``nbe`` or
      ``ewt_anomaly`` is observed at least once (so reading back masks nothing that was there).
    * Biomass goes to ``agb_yan`` with ``bgb_yan = 0`` (the reference adds the two).
    * Fields the layout needs but ``ds`` lacks are written as placeholders (NaN observations,
      zero burned area and FLUXNET weights, MAT and MAP from the forcing) and listed in the
      driver's ``xdifferland_placeholders`` attribute; the reader leaves them out.
    * Other data variables (uncertainties, VOD, ...) are added to the driver under their own
      names and listed in ``xdifferland_extensions``; the reference ignores them, the reader
      returns them.

    Examples
    --------
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, _ = synthetic_world(n_lat=8, n_lon=30, n_years=2, seed=3)  # doctest: +SKIP
    >>> files = to_differland_global(ds, "exported")  # doctest: +SKIP
    >>> sorted(files)  # doctest: +SKIP
    ['bulk', 'co2', 'driver', 'run_index', 'valid']
    """
    from ..contract.axes import find_axes
    from ..contract.find import canonicalize
    from ..contract.convert import to_canonical_units
    from .atomic import refuse_existing
    from .netcdf import to_netcdf
    from .text import write_text_atomic

    directory = Path(directory)
    paths = {"driver": DRIVER_FILE, "run_index": RUN_INDEX_FILE, "valid": VALID_FILE,
             "bulk": BULK_FILE, "co2": CO2_FILE}
    paths = {key: directory / name for key, name in paths.items()}
    for path in paths.values():
        refuse_existing(path, overwrite)
    data = canonicalize(to_canonical_units(find_axes(ds).to_internal(ds), roles), roles)
    _check(data)
    data = data.sortby("lat", ascending=False).transpose("time", "lat", "lon", ...)

    driver, placeholders, handled = _driver(data)
    extensions = [n for n in data.data_vars if n not in handled and n not in _FLAGS
                  and set(data[n].dims) <= set(_TLL)]
    clash = [n for n in extensions if n in driver]
    if clash:
        raise DataError([Problem(n, "has a name the published layout uses for another field.",
                                 f"rename it, e.g. ds.rename({{{n!r}: '{n}_extra'}})")
                         for n in clash])
    for name in extensions:
        var = data[name].transpose(*[d for d in _TLL if d in data[name].dims])
        driver[name] = var.copy(data=var.data)
        driver[name].attrs = {k: v for k, v in var.attrs.items() if k != "cell_measures"}
        if "units" in var.attrs and _declared(name):  # converted: the canonical units, in CF
            driver[name].attrs["units"] = cf_units(name)
    valid = _valid(data)
    flags = _flags(data, valid, patch_size, seed, test_fraction, runs)
    attrs = dict(data.attrs) | {"Conventions": "CF-1.8",
                                EXTENSIONS_ATTR: " ".join(extensions),
                                PLACEHOLDERS_ATTR: " ".join(placeholders)}
    driver_ds = xr.Dataset(driver, coords={c: data[c] for c in _TLL}, attrs=attrs)
    encoding = {n: {"dtype": "float32" if "time" in v.dims else "float64",
                    "_FillValue": np.float32(np.nan) if "time" in v.dims else np.nan}
                for n, v in driver_ds.data_vars.items()
                if n not in extensions and v.dtype.kind == "f"}
    directory.mkdir(parents=True, exist_ok=True)
    coords = {c: data[c] for c in _LL}
    to_netcdf(xr.Dataset({RUN_INDEX_VARIABLE: (("run", *_LL), flags["index"], {
        "long_name": "patch index per run (negative: test patch; NaN: no patch)"})},
        coords=coords), paths["run_index"], overwrite=overwrite,
        encoding={RUN_INDEX_VARIABLE: {"dtype": "float32", "_FillValue": np.float32(np.nan)}})
    to_netcdf(xr.Dataset({VALID_VARIABLE: (_LL, valid, {"long_name": "valid cell"})},
                         coords=coords), paths["valid"], overwrite=overwrite)
    to_netcdf(xr.Dataset({BULK_VARIABLE: (_LL, flags["bulk"], {
        "long_name": "coarse NBE and water storage assimilated"})}, coords=coords),
        paths["bulk"], overwrite=overwrite)
    co2 = data["co2"].mean(_LL) if set(data["co2"].dims) - {"time"} else data["co2"]
    write_text_atomic(paths["co2"], co2_table_text(data["time"].values, co2.values),
                      overwrite=overwrite)
    to_netcdf(driver_ds, paths["driver"], overwrite=overwrite, encoding=encoding)
    return paths


def _declared(name: str) -> bool:
    from ..contract.declare import variable

    try:
        return variable(name).name == name
    except KeyError:
        return False


def _check(data: xr.Dataset) -> None:
    problems = [Problem(n, "is missing.", "add it: the published driver needs it")
                for n in _REQUIRED if n not in data]
    if not problems and set(data["t_min"].dims) != set(_TLL):
        problems.append(Problem("t_min", f"has dims {data['t_min'].dims}; the published "
                                "layout is a (time, lat, lon) grid.",
                                "put the data on a lat/lon grid first"))
    if not problems and set(data["co2"].dims) - {"time"}:
        spread = (data["co2"].max(_LL) - data["co2"].min(_LL)).max()
        if float(spread) > 1e-3:
            problems.append(Problem("co2", "varies in space; the published layout holds one "
                                    "global series (the CO2 table).",
                                    "use a global mean series, e.g. ds.co2.mean(['lat', 'lon'])"))
    if problems:
        raise DataError(problems, header="Cannot write the Dataset in the DifferLand global "
                                         "layout:")


def _field(data: xr.Dataset, name: str) -> xr.DataArray:
    """A canonical variable in the published units (attrs: udunits spelling)."""
    from .conventions import udunits
    from ..contract.declare import variable

    da = data[name]
    percent = name in {canonical_name(p) for p in PERCENT}
    units = "%" if percent else udunits(variable(name).units) or variable(name).units
    out = (da.astype(np.float64) * 100.0) if percent else da
    out = out.transpose(*[d for d in _TLL if d in da.dims])
    out.attrs = {"units": units, "long_name": variable(name).long_name,
                 "xdifferland_name": name}
    return out


def _driver(data: xr.Dataset) -> tuple[dict, list[str], set[str]]:
    """Driver fields by published name, the placeholders among them and the canonical names
    they hold."""
    from ..contract.handoff import time_axis

    fields, placeholders, handled = {}, [], {"co2"}  # CO2 goes to the table
    template = xr.zeros_like(data["t_min"], dtype=np.float32)
    template.attrs = {}
    axis = time_axis(data["time"])
    for name, values in zip(TIME_FIELDS, (axis.time_days, axis.day_of_year)):
        # no ``units``: "days since ..." or "days" would make xarray decode them as times
        fields[name] = values.astype(np.float32).variable + template
        fields[name].attrs = {"long_name": {
            "DAYS": "days since 2000-01-01 at the middle of the step (the model's t)",
            "DOY": "day of year at the middle of the step"}[name]}
    for name in FORCING:
        canonical = canonical_name(name)
        if canonical in data:
            fields[name] = _field(data, canonical)
        else:  # only burned area is optional: no fire
            fields[name] = template.assign_attrs(units="1", long_name="no data: zero")
            placeholders.append(name)
        handled.add(canonical)
    fields["LAT"] = (data["lat"] + xr.zeros_like(data["lon"])).transpose(*_LL).assign_attrs(
        units="degrees_north", long_name="latitude")
    for name in PREDICTORS:
        canonical = canonical_name(name)
        if canonical in data:
            fields[name] = _field(data, canonical)
        elif name in ("MAT", "MAP"):  # met slots 11 and 12 need them; the engine's fallback
            mean = (0.5 * (data["t_min"] + data["t_max"])).mean("time") if name == "MAT" else \
                data["precipitation"].mean("time") * _DAYS_PER_YEAR_MAP
            fields[name] = mean.astype(np.float64).assign_attrs(
                units="degC" if name == "MAT" else "mm year-1", long_name="from the forcing")
            placeholders.append(name)
        handled.add(canonical)
    for name in OBSERVATIONS:
        canonical = canonical_name(name)
        handled |= {canonical, f"{canonical}_weight"}
        if name == "bgb_yan":
            source = fields.get("agb_yan")
            fields[name] = (source * 0.0).assign_attrs(source.attrs | {
                "long_name": "zero: agb_yan holds the whole live biomass"})
            continue
        if canonical in data:
            fields[name] = _field(data, canonical)
        else:
            static = name == "initial_som"
            fields[name] = (template.isel(time=0, drop=True) if static else template) + np.nan
            fields[name].attrs = {"units": "1", "long_name": "no data"}
            placeholders.append(name)
        if name in WEIGHTED:
            weight = f"{canonical}_weight"
            if weight in data:
                fields[f"{name}_weight"] = data[weight].astype(np.float32).assign_attrs(units="1")
            else:  # weight 0: the mask is the validity indicator (spec 8.1)
                fields[f"{name}_weight"] = template.assign_attrs(units="1")
                placeholders.append(f"{name}_weight")
    return {n: f.drop_vars([c for c in f.coords if c not in _TLL]) for n, f in fields.items()}, \
        placeholders, handled


def _valid(data: xr.Dataset) -> np.ndarray:
    if "land_mask" in data:
        return np.asarray(data["land_mask"].transpose(*_LL).values, bool)
    names = [canonical_name(p) for p in PREDICTORS if canonical_name(p) in data]
    valid = data["t_min"].isel(time=0, drop=True).notnull() if not names else \
        xr.concat([data[n].notnull() for n in names], "v").all("v")
    return np.asarray(valid.transpose(*_LL).values, bool)


def _flags(data, valid, patch_size, seed, test_fraction, runs) -> dict:
    if "assimilate_coarse" in data:
        bulk = data["assimilate_coarse"].transpose(*_LL).values.astype(bool)
    else:
        coarse = [data[n].notnull().any("time") for n in ("nbe", "ewt_anomaly") if n in data]
        bulk = np.asarray(xr.concat(coarse, "v").any("v").transpose(*_LL).values, bool) \
            if coarse else valid
    if "patch_id" in data:
        ids = data["patch_id"].transpose(*_LL).values
        index = np.where(ids == NO_PATCH, np.nan, ids).astype(np.float32)[None]
        return {"bulk": bulk, "index": index}
    from ..training.data import patch_ids

    size = patch_size or tuple(data.attrs.get("patch_size_degrees", (4.0, 5.0)))
    ids = patch_ids(data, _LL, size).transpose(*_LL).values
    labels = np.unique(ids[valid])
    rng = np.random.default_rng([seed, 0xD1F6])
    n = labels.size
    n_test = max(1, int(round(test_fraction * n))) if test_fraction > 0 and n > 2 else 0
    order = rng.permutation(n)
    test, rest = labels[order[:n_test]], labels[order[n_test:]]
    inside = np.isin(ids, labels)
    position = np.searchsorted(labels, ids[inside])
    index = np.full((runs, *ids.shape), np.nan, np.float32)
    for r in range(runs):
        number = np.empty(n, np.float32)
        number[np.searchsorted(labels, test)] = -np.arange(1, n_test + 1)
        number[np.searchsorted(labels, rest[rng.permutation(rest.size)])] = \
            np.arange(1, rest.size + 1)
        index[r][inside] = number[position]
    return {"bulk": bulk, "index": index}
