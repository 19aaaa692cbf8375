"""Reader of the published DifferLand global data: the driver layout of spec 1.1, 7.1, 8.1 and 9.1.

A published data folder holds five files, named as the reference calibration reads them:

``differland_global_driver_v6.nc``
    The driver, on the 0.25 degree grid (720 x 1440; latitude 89.875 down to -89.875, longitude
    -179.875 to 179.875). Time-varying fields are ``(time, lat, lon)``, static ones
    ``(lat, lon)``; missing values are NaN. Forcing (spec 1.1): ``DAYS`` (days since
    2000-01-01), ``T_min``, ``T_max`` (degC), ``SOLR`` (MJ m-2 d-1), ``DOY``, ``BURNED_AREA``
    (fraction per step), ``VPD`` (kPa), ``PREC`` (mm d-1) and static ``LAT``. Predictors (spec
    7.1): ``NF DBF EBF MF SH SAV GRA WET CRO NVG`` (percent cover), ``MAT`` (degC), ``MAP``
    (mm yr-1), ``elevation``, ``canopy_height`` (m), ``tree_age_000_filled`` (yr),
    ``BULK_DEN`` (g cm-3), ``SAND SILT CLAY GRAVEL`` (percent). Observations (spec 8.1):
    ``LCSPP``, ``NBE``, ``LAI``, ``LWE_normalized``, ``agb_yan`` + ``bgb_yan``,
    ``GFED_FIRE_EMISSION``, static ``initial_som``, ``gpp_fluxnet``, ``reco_fluxnet``,
    ``et_fluxnet`` (each with a ``*_weight``) and ``ET``.
``run_simulation_idx_v6.nc``
    ``run_simulation_idx (run, lat, lon)``: for each of the runs (100 published), the patch
    index of every cell. Cells sharing an index form a patch; NaN is no patch; negative indices
    are the held-out test patches; of the others, index <= round(0.9 max) trains and the rest
    is the dev set (spec 9.1).
``era_valid_v6.nc``
    ``era_valid (lat, lon)``, boolean: cells usable at all.
``assimilate_bulk_variable_v6.nc``
    ``assimilate_bulk_variable (lat, lon)``, boolean: where false, NBE and GRACE water storage
    are not assimilated (spec 8.1; fire is).
``co2_mm_gl_01_23.csv``
    NOAA global monthly mean CO2 (columns ``year, month, decimal, average``), one row per step.

:mod:`.differland_global_writer` writes any canonical Dataset in this layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import DataError, Problem
from .co2_table import CO2_FILE, co2_for_steps, find_co2_table
from ..contract.declare import variable

__all__ = ["open_differland_global", "DRIVER_FILE", "RUN_INDEX_FILE", "VALID_FILE", "BULK_FILE",
           "CO2_FILE", "FORCING", "PREDICTORS", "OBSERVATIONS", "SPLIT_FLAGS", "NO_PATCH"]

DRIVER_FILE = "differland_global_driver_v6.nc"
RUN_INDEX_FILE, RUN_INDEX_VARIABLE = "run_simulation_idx_v6.nc", "run_simulation_idx"
VALID_FILE, VALID_VARIABLE = "era_valid_v6.nc", "era_valid"
BULK_FILE, BULK_VARIABLE = "assimilate_bulk_variable_v6.nc", "assimilate_bulk_variable"
GRID_SHAPE = (720, 1440)  #: the published 0.25 degree grid

#: Time-varying forcing of the driver in met-vector order (spec 1.1; CO2 comes from the table,
#: DELTA_T is the constant 30, LAT, MAT and MAP are static). Canonical names via the aliases of
#: :mod:`xdifferland.contract.declare`.
FORCING = ("T_min", "T_max", "SOLR", "BURNED_AREA", "VPD", "PREC")
TIME_FIELDS = ("DAYS", "DOY")
#: Static predictors in the published order (spec 7.1); LAT_SIGMOID is computed from LAT.
PREDICTORS = ("NF", "DBF", "EBF", "MF", "SH", "SAV", "GRA", "WET", "CRO", "NVG", "MAT", "MAP",
              "elevation", "canopy_height", "tree_age_000_filled", "BULK_DEN", "SAND", "SILT",
              "CLAY", "GRAVEL")
#: Observation fields in label order (spec 8.1); biomass is ``agb_yan + bgb_yan`` and the SOM
#: target ``som_const`` is the static ``initial_som``.
OBSERVATIONS = ("LCSPP", "NBE", "LAI", "LWE_normalized", "agb_yan", "bgb_yan",
                "GFED_FIRE_EMISSION", "initial_som", "gpp_fluxnet", "reco_fluxnet", "et_fluxnet",
                "ET")
BIOMASS_PARTS = ("agb_yan", "bgb_yan")
WEIGHTED = ("gpp_fluxnet", "reco_fluxnet", "et_fluxnet")  #: each has a ``<name>_weight`` field
COARSE = ("NBE", "LWE_normalized")  #: masked where assimilate_bulk_variable is false
#: Fractions the published driver stores in percent (spec 11: "PFT fraction > 80"; the soil
#: textures as HWSD gives them). A ``units`` attribute in the file wins.
PERCENT = (*PREDICTORS[:10], "SAND", "SILT", "CLAY", "GRAVEL")
#: Values of the ``split`` variable: the published split of spec 9.1; -1 is a cell not used.
SPLIT_FLAGS = {"train": 0, "dev": 1, "test": 2}
NO_PATCH = np.iinfo(np.int32).min  #: ``patch_id`` of cells outside every patch (index NaN)
#: Global attributes the writer sets: fields it added beyond the layout (read back as they are),
#: and layout fields it filled with placeholders for data the Dataset lacked (not read back).
EXTENSIONS_ATTR, PLACEHOLDERS_ATTR = "xdifferland_extensions", "xdifferland_placeholders"
_MISSING = -9999.0  # the reference's label fill; treated as missing wherever it occurs
_DEFAULT_CHUNKS = {"time": -1, "lat": 160, "lon": 200}  # 10 x 10 patches of 16 x 20 cells
_DATA_FIX = ("use the published files (doi:10.5281/zenodo.13984225, see docs/reproduce-paper.md) "
             "or write the folder with xdifferland.to_differland_global")


def canonical_name(published: str) -> str:
    """Canonical name of a published driver field, by the aliases of the variable table
    (``SOLR`` -> ``shortwave_radiation``); the two biomass parts make ``biomass``."""
    return "biomass" if published in BIOMASS_PARTS else variable(published).name


def open_differland_global(directory: str | Path, *, run: int = 1,
                           chunks: Mapping[str, int] | None = None,
                           co2_file: str | Path | None = None) -> xr.Dataset:
    """Open a folder in the published DifferLand global layout as a canonical Dataset, lazily.

    Parameters
    ----------
    directory : str or Path
        Folder with the five files of the layout (see the module documentation).
    run : int, default 1
        Which slice of ``run_simulation_idx`` (1-based, as the reference's ``-r``) defines the
        patches and the train/dev split; the test patches are the same in every run.
    chunks : mapping, optional
        Dask chunks by canonical dim (``time``, ``lat``, ``lon``); default all of ``time`` and
        160 x 200 cells (10 x 10 patches), about 21 MB per chunk of a 168-month field.
    co2_file : str or Path, optional
        The CO2 table; default ``co2_mm_gl_01_23.csv`` in ``directory`` (or its only
        ``co2_mm_gl_*.csv``). Rows are matched to the driver's months by year and month.

    Returns
    -------
    xarray.Dataset
        Dims ``(time, lat, lon)``, latitude ascending, every driver field dask-backed, float32
        in canonical units: the forcing and ``co2 (time)``, the predictors and observations
        present (and ``gpp_weight``, ``reco_weight``, ``et_ec_weight``, the FLUXNET label
        weights, which xdifferland's loss does not use). Predictors are NaN outside valid cells
        (``era_valid`` and a patch index), so fit never sees them; ``nbe`` and ``ewt_anomaly``
        are NaN where the bulk flag is false. Flags: ``land_mask`` (``era_valid``),
        ``assimilate_coarse``, ``patch_id`` (int32, the run's published index, :data:`NO_PATCH`
        outside patches: ``fit(patch_variable="patch_id")``) and ``split`` (int8,
        :data:`SPLIT_FLAGS`, -1 unused: ``fit(mask=ds.split == 0)`` trains on the published
        training patches).

    Raises
    ------
    FileNotFoundError
        If ``directory`` does not exist.
    DataError
        Naming each missing or unreadable file or variable, wrong shape, units or CO2 table
        problem, with its fix.

    Examples
    --------
    >>> ds = open_differland_global("published-data", run=1)  # doctest: +SKIP
    >>> model = xdifferland.fit(ds, patch_variable="patch_id", mask=ds.split == 0,
    ...                         test_fraction=0, dev_fraction=0)  # doctest: +SKIP
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"DifferLand global data folder not found: {directory}")
    missing = [f for f in (DRIVER_FILE, RUN_INDEX_FILE, VALID_FILE, BULK_FILE)
               if not (directory / f).is_file()]
    co2_path = find_co2_table(directory, co2_file)
    if missing or co2_path is None:
        names = missing + ([] if co2_path else [str(co2_file or CO2_FILE)])
        raise DataError([Problem(n, f"is missing from {directory}.", _DATA_FIX) for n in names],
                        header=f"{directory} is not a complete DifferLand global data folder:")
    raw = _open(directory / DRIVER_FILE)
    absent = [n for n in FORCING if n not in raw.data_vars]
    if absent:
        raise DataError([Problem(n, f"is missing from {DRIVER_FILE}.", _DATA_FIX) for n in absent])
    tdim, ydim, xdim = raw[FORCING[0]].dims if raw[FORCING[0]].ndim == 3 else (None,) * 3
    if tdim is None:
        raise DataError([Problem(FORCING[0], f"in {DRIVER_FILE} has dims {raw[FORCING[0]].dims}"
                                 "; the layout has (time, lat, lon).", _DATA_FIX)])
    chunks = _DEFAULT_CHUNKS | dict(chunks or {})
    raw = raw.chunk({tdim: chunks["time"], ydim: chunks["lat"], xdim: chunks["lon"]})
    shape = (raw.sizes[ydim], raw.sizes[xdim])
    lat, lon = (_grid_coord(raw, d, n, shape) for d, n in ((ydim, "lat"), (xdim, "lon")))
    time, time_attrs = None, {"standard_name": "time", "axis": "T"}
    if tdim in raw.variables and " since " in str(raw[tdim].attrs.get("units", "")):
        time = xr.decode_cf(xr.Dataset({"t": raw[tdim].variable.to_base_variable()}))["t"].values
        time_attrs = {k: v for k, v in raw[tdim].attrs.items() if k not in ("units", "calendar")}
    time, co2, first_row = co2_for_steps(co2_path, raw.sizes[tdim], time)
    coords = {"time": ("time", time, time_attrs), "lat": lat, "lon": lon}

    index = _flag(directory / RUN_INDEX_FILE, RUN_INDEX_VARIABLE, shape, run)
    era_valid = _flag(directory / VALID_FILE, VALID_VARIABLE, shape).astype(bool)
    bulk = _flag(directory / BULK_FILE, BULK_VARIABLE, shape).astype(bool)
    valid = era_valid & np.isfinite(index)
    ll = ("lat", "lon")
    valid_da, bulk_da = xr.DataArray(valid, dims=ll), xr.DataArray(bulk, dims=ll)

    def field(name: str, dims: tuple) -> xr.DataArray:
        da = raw[name]
        if da.dims != dims:
            raise DataError([Problem(name, f"in {DRIVER_FILE} has dims {da.dims}, expected "
                                     f"{dims}.", _DATA_FIX)])
        data = xr.DataArray(da.data, dims=("time", "lat", "lon")[3 - len(dims):], attrs=da.attrs)
        return data.where(data != _MISSING)

    fields, static = {}, (ydim, xdim)
    for name in FORCING + tuple(n for n in OBSERVATIONS if n in raw.data_vars):
        fields[name] = field(name, static if name == "initial_som" else (tdim, ydim, xdim))
    for name in (n for n in PREDICTORS if n in raw.data_vars):
        fields[name] = field(name, static).where(valid_da)
    for name in (n for n in WEIGHTED if f"{n}_weight" in raw.data_vars):
        fields[f"{name}_weight"] = field(f"{name}_weight", (tdim, ydim, xdim))
    for name in (n for n in COARSE if n in fields):
        fields[name] = fields[name].where(bulk_da)
    placeholders = set(str(raw.attrs.get(PLACEHOLDERS_ATTR, "")).split())
    out = _canonical({n: f for n, f in fields.items() if n not in placeholders})

    # Cells the reference trains on: valid, every predictor defined (spec 9.1 steps 2-4).
    usable = valid.copy()
    for name in (n for n in PREDICTORS if n in fields):
        usable &= np.isfinite(fields[name].values)
    dev_threshold, split = _split(index, usable)
    out |= {
        "co2": xr.DataArray(co2, dims="time", attrs=_attrs("co2", "CO2")),
        "land_mask": xr.DataArray(era_valid, dims=ll, attrs={"long_name": "valid cell",
                                                             "original_name": VALID_VARIABLE}),
        "assimilate_coarse": xr.DataArray(bulk, dims=ll, attrs={
            "long_name": "coarse NBE and water storage assimilated",
            "original_name": BULK_VARIABLE}),
        "patch_id": xr.DataArray(np.where(np.isfinite(index), index, NO_PATCH).astype(np.int32),
                                 dims=ll, attrs={
            "long_name": f"published patch index of run {run} (negative: test patch)",
            "original_name": RUN_INDEX_VARIABLE, "missing_patch": int(NO_PATCH)}),
        "split": xr.DataArray(split, dims=ll, attrs={
            "long_name": "published split of the patches (spec 9.1)",
            "flag_values": np.array(list(SPLIT_FLAGS.values()), np.int8),
            "flag_meanings": " ".join(SPLIT_FLAGS), "unused_cell": -1}),
    }
    rename = {tdim: "time", ydim: "lat", xdim: "lon"}
    for name in (n for n in str(raw.attrs.get(EXTENSIONS_ATTR, "")).split() if n in raw):
        out[name] = xr.DataArray(raw[name].data, dims=[rename.get(d, d) for d in raw[name].dims],
                                 attrs=raw[name].attrs)
    ds = xr.Dataset(out, coords=coords)
    attrs = {k: v for k, v in raw.attrs.items() if k not in (EXTENSIONS_ATTR, PLACEHOLDERS_ATTR)}
    ds.attrs = attrs | {
        "source": str(directory), "source_format": "DifferLand global driver (published layout)",
        "run": int(run), "dev_threshold": int(dev_threshold), "co2_file": co2_path.name,
        "co2_first_row": int(first_row), "patch_variable": "patch_id",
        "patch_size_degrees": attrs.get("patch_size_degrees", [4.0, 5.0])}
    return ds.isel(lat=slice(None, None, -1)) if ds.sizes["lat"] > 1 and lat[1][0] > lat[1][-1] \
        else ds


# --- helpers ---------------------------------------------------------------------------------

def _open(path: Path, **kwargs) -> xr.Dataset:
    from .netcdf import decode_attrs

    try:
        return decode_attrs(xr.open_dataset(path, decode_times=False, **kwargs))
    except (OSError, ValueError, TypeError, RuntimeError) as error:
        raise DataError([Problem(path.name, f"could not be read as NetCDF ({error}).",
                                 _DATA_FIX)]) from error


def _grid_coord(raw: xr.Dataset, dim: str, name: str, shape) -> tuple:
    full, end = {"lat": ("latitude", "north"), "lon": ("longitude", "east")}[name]
    attrs = {"units": f"degrees_{end}", "standard_name": full, "long_name": full}
    if dim in raw.variables and raw[dim].ndim == 1:
        return name, np.asarray(raw[dim].values, float), attrs | dict(raw[dim].attrs)
    if tuple(shape) != GRID_SHAPE:
        raise DataError([Problem(dim, f"{DRIVER_FILE} has no {name} coordinate and a "
                                 f"{shape[0]} x {shape[1]} grid, not the published 720 x 1440.",
                                 f"add a 1-D {dim} coordinate variable")])
    half = 0.125
    values = np.linspace(90 - half, -90 + half, 720) if name == "lat" else \
        np.linspace(-180 + half, 180 - half, 1440)
    return name, values, attrs


def _flag(path: Path, name: str, shape, run: int | None = None) -> np.ndarray:
    """A 2-D flag (or one run's index slice) as NumPy, positionally on the driver's grid."""
    raw = _open(path)
    with raw:
        if name not in raw.data_vars:
            raise DataError([Problem(name, f"is missing from {path.name}.", _DATA_FIX)])
        da = raw[name]
        if run is not None and da.ndim == 3:
            if not 1 <= run <= da.shape[0]:
                raise DataError([Problem(name, f"has {da.shape[0]} runs; run={run} is not "
                                         "one of them.", f"pass run= from 1 to {da.shape[0]}")])
            da = da[run - 1]
        values = da.values
    if values.shape != tuple(shape):
        raise DataError([Problem(name, f"in {path.name} has shape {values.shape}, the driver's "
                                 f"grid is {tuple(shape)}.", "use files of the same grid")])
    if run is not None:
        values = values.astype(np.float64)
        finite = values[np.isfinite(values)]
        if not np.array_equal(finite, np.round(finite)):
            raise DataError([Problem(name, f"in {path.name} holds non-integer patch indices.",
                                     _DATA_FIX)])
    elif values.dtype != bool:  # the reference needs booleans; accept 0/1 stored as numbers
        values = np.nan_to_num(values.astype(np.float64)) != 0
    return values


def _split(index: np.ndarray, usable: np.ndarray) -> tuple[int, np.ndarray]:
    """Published split (spec 9.1): test < 0 <= train <= round(0.9 max) < dev; -1 unused."""
    split = np.full(index.shape, -1, np.int8)
    kept = usable & (index >= 0)
    threshold = int(np.round(0.9 * index[kept].max()).astype(np.int32)) if kept.any() else -1
    split[usable & (index < 0)] = SPLIT_FLAGS["test"]
    split[kept & (index <= threshold)] = SPLIT_FLAGS["train"]
    split[kept & (index > threshold)] = SPLIT_FLAGS["dev"]
    return threshold, split


def cf_units(canonical: str) -> str:
    """Canonical units of a declared variable in UDUNITS spelling (as the synthetic world's)."""
    from .conventions import udunits

    v = variable(canonical)
    return udunits(v.units, v.standard_name) or v.units


def _attrs(canonical: str, original: str) -> dict:
    v = variable(canonical)
    attrs = {"units": cf_units(canonical), "long_name": v.long_name}
    return attrs | ({"standard_name": v.standard_name} if v.standard_name else {}) | {
        "original_name": original}


def _canonical(fields: dict[str, xr.DataArray]) -> dict[str, xr.DataArray]:
    """Published fields under canonical names, converted to canonical units, float32."""
    from ..contract.convert import to_canonical_units

    labelled, originals = {}, {}
    for name, da in fields.items():
        weight = name.endswith("_weight")
        target = f"{canonical_name(name.removesuffix('_weight'))}_weight" if weight else \
            canonical_name(name)
        if name == "bgb_yan":
            continue
        if name == "agb_yan" and "bgb_yan" in fields:
            da = da + fields["bgb_yan"]
            name = "agb_yan + bgb_yan"
        default = "dimensionless" if weight else (
            "percent" if name in PERCENT else variable(target).units)
        labelled[target] = da.assign_attrs(units=str(da.attrs.get("units") or default))
        originals[target] = name
    converted = to_canonical_units(xr.Dataset(labelled))
    out = {}
    for target, da in converted.data_vars.items():
        attrs = {"units": "1", "long_name": "published FLUXNET label weight (spec 8.1; not used "
                 "by xdifferland's loss)", "original_name": originals[target]} \
            if target.endswith("_weight") else _attrs(target, originals[target])
        out[target] = da.astype(np.float32)
        out[target].attrs = attrs
    return out
