"""Readers for CARDAMOM / DifferLand site-driver NetCDF files.

A CARDAMOM site driver is one NetCDF file per eddy-covariance site (``<SITE>.nc``) with a 1-D
``time`` axis in days since 2001-01-01, upper-case forcing (``T2M_MIN``, ``SSRD``, ``VPD`` in hPa,
...), observations (``GPP``, ``NBE``, ``ET``, ``LAI``, ...) with ``<NAME>unc`` uncertainties,
a scalar ``LAT`` and a number of fields used only by the CARDAMOM Fortran/C code (``PARPRIORS``,
``EDC``, ``MCMCID``, ...). The readers here turn such files into canonical xarray Datasets: the
names, units and CF metadata of :mod:`xdifferland.contract.declare`, dims ``(time, site)``, missing
values as NaN and a decoded calendar. Units are *labelled* here, never converted (VPD stays in hPa;
the units module converts to the canonical kPa later).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import FileFormatError
from ..contract.declare import variable
from .site_table import _LATLON_ATTRS, _add_site_table, _coords_from_table, read_site_coords

__all__ = [
    "REQUIRED",
    "CardamomFormatError",
    "open_cardamom_site",
    "open_cardamom_sites",
    "read_site_coords",
]

#: Time reference of CARDAMOM site drivers whose ``time`` carries no ``units`` attribute.
EPOCH = "2001-01-01"

#: Variables a file must hold to be read as a CARDAMOM site driver: the forcing DALEC cannot run
#: without, and the latitude its day-length calculation needs.
REQUIRED = ("T2M_MIN", "T2M_MAX", "SSRD", "CO2", "VPD", "TOTAL_PREC", "LAT")

# CARDAMOM name -> (canonical name, units of the data). The units are used when the file has no
# usable ``units`` attribute, which is the case for every observation in the DifferLand files.
# Their uncertainties, ``<NAME>unc``, become ``<canonical>_unc`` in the same units.
_FIELDS: dict[str, tuple[str, str]] = {
    "T2M_MIN": ("t_min", "degC"),
    "T2M_MAX": ("t_max", "degC"),
    "SSRD": ("shortwave_radiation", "MJ/m**2/day"),
    "CO2": ("co2", "ppm"),
    "VPD": ("vpd", "hPa"),
    "TOTAL_PREC": ("precipitation", "mm/day"),
    "BURNED_AREA": ("burned_area", "dimensionless"),
    "DOY": ("day_of_year", "dimensionless"),
    "PA": ("surface_pressure", "kPa"),
    "GPP": ("gpp", "g/m**2/day"),
    "RECO": ("reco", "g/m**2/day"),
    "NBE": ("nbe", "g/m**2/day"),
    "ET": ("et", "mm/day"),
    "LAI": ("lai", "m**2/m**2"),
    "SWC": ("swc", "percent"),
    "EWT": ("ewt_anomaly", "mm"),
    "EF": ("evaporative_fraction", "dimensionless"),
    "SOM": ("som", "g/m**2"),
    "ABGB": ("biomass", "g/m**2"),
}

# Kept variables the declared table does not know: (long_name, CF standard_name).
_UNDECLARED = {
    "day_of_year": ("day of year (1 = 1 January)", None),
    "surface_pressure": ("surface air pressure", "surface_air_pressure"),
    "swc": ("soil water content (volumetric)", None),
    "evaporative_fraction": ("evaporative fraction, latent / (latent + sensible) heat", None),
}

# Unit spellings found in CARDAMOM files that pint cannot parse (or misreads), and what they mean.
_UNIT_SPELLINGS = {"hPA": "hPa", "deg C": "degC", "MJ/m2/d": "MJ/m**2/day"}

# CARDAMOM writes -9999 for "no value"; 9.97e36 is the netCDF default fill, in case a writer
# forgot to declare it as _FillValue.
_FILL_SENTINELS = (-9999.0,)
_NETCDF_DEFAULT_FILL = 9.9e36


class CardamomFormatError(FileFormatError):
    """A file cannot be read as a CARDAMOM site driver (not NetCDF, or required fields missing)."""


def open_cardamom_site(path: str | Path, *, site: str | None = None) -> xr.Dataset:
    """Read one CARDAMOM site-driver file as a canonical ``(time, site)`` Dataset.

    Parameters
    ----------
    path : str or Path
        The site file, e.g. ``../shared/data/fluxnet_sites/US-Ha1.nc``.
    site : str, optional
        Site identifier for the ``site`` coordinate; default the file name without suffix.

    Returns
    -------
    xarray.Dataset
        Dims ``time`` (``datetime64[ns]``, decoded from days since 2001-01-01 unless the file says
        otherwise) and ``site`` (length 1). Forcing ``t_min``, ``t_max``, ``shortwave_radiation``,
        ``co2``, ``vpd`` (**hPa**, as in the file), ``precipitation``, ``day_of_year``,
        ``surface_pressure`` and ``burned_area`` (zeros: site drivers carry no fire);
        observations ``gpp``, ``reco``, ``nbe`` (positive = source), ``et``, ``lai``, ``swc``,
        ``ewt_anomaly``, ... with ``<name>_unc`` uncertainties, as far as the file has them.
        Every variable has pint-parsable ``units``, a ``long_name``, a CF ``standard_name`` where
        one exists and ``original_name`` (its CARDAMOM name). Fill values (-9999) are NaN.
        Coordinates ``latitude`` (from ``LAT``) and ``longitude`` (from ``site_coords.csv`` next
        to the file, NaN when there is none) lie on ``site``. CARDAMOM bookkeeping fields are
        dropped and listed in ``attrs["cardamom_dropped_variables"]``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CardamomFormatError
        If the file is not NetCDF or lacks a required variable (named in the message).

    Examples
    --------
    >>> ds = open_cardamom_site("../shared/data/fluxnet_sites/US-Ha1.nc")
    >>> ds.sizes["time"], ds.sizes["site"], str(ds.site.item())
    (3287, 1, 'US-Ha1')
    >>> str(ds.time[0].values)[:10], ds.vpd.attrs["units"]
    ('1999-01-01', 'hPa')
    """
    path = Path(path)
    raw = _read_raw(path)
    site = path.stem if site is None else str(site)
    time = _decode_time(raw["time"], path)
    n = time.size

    data_vars: dict[str, tuple] = {}
    kept: set[str] = {"time", "LAT"}
    for name, (canonical, default_units) in _FIELDS.items():
        if name not in raw.variables:
            continue
        units = _file_units(raw[name], name, default_units)
        for src, dst in ((name, canonical), (f"{name}unc", f"{canonical}_unc")):
            if src in raw.variables and raw[src].dims == ("time",):
                data_vars[dst] = (("time", "site"), _mask_fill(raw[src].values)[:, None],
                                  _attrs(dst, units, src, raw[src]))
                kept.add(src)

    if "burned_area" not in data_vars:
        attrs = _attrs("burned_area", "dimensionless", None, None)
        attrs["comment"] = "site drivers carry no fire information; set to 0 by xdifferland"
        data_vars["burned_area"] = (("time", "site"), np.zeros((n, 1)), attrs)
    if "day_of_year" not in data_vars:
        # The model needs the day of year; derive it from the calendar when the file lacks DOY.
        doy = pd.DatetimeIndex(time).day_of_year.to_numpy(dtype="float64")
        data_vars["day_of_year"] = (("time", "site"), doy[:, None],
                                    _attrs("day_of_year", "dimensionless", None, None))

    lat = float(_mask_fill(np.asarray(raw["LAT"].values, dtype="float64")).reshape(-1)[0])
    lat_csv, lon = _coords_from_table(path.parent / "site_coords.csv", site)
    if np.isnan(lat):
        lat = lat_csv
    dropped = sorted(str(v) for v in raw.variables if v not in kept)
    ds = xr.Dataset(
        data_vars,
        coords={
            "time": ("time", time, {"long_name": "time", "standard_name": "time"}),
            "site": ("site", np.array([site]), {"long_name": "site identifier"}),
            "latitude": ("site", [lat], _LATLON_ATTRS["latitude"]),
            "longitude": ("site", [lon], _LATLON_ATTRS["longitude"]),
        },
        attrs={
            "source": str(path),
            "source_format": "CARDAMOM site driver (NetCDF)",
            "cardamom_dropped_variables": ", ".join(dropped),
        },
    )
    return ds


def open_cardamom_sites(
    directory: str | Path,
    *,
    sites: list[str] | None = None,
    coords_file: str | Path | None = "site_coords.csv",
    align: str = "step",
    pad: bool = True,
) -> xr.Dataset:
    """Read every CARDAMOM site file of a directory as one ``(time, site)`` Dataset.

    Sites generally cover different calendar periods. ``align`` chooses how their time axes are
    put side by side:

    ``"step"`` (default)
        ``time`` is the step index ``0 .. n-1``: step ``i`` is the ``i``-th day of *each* site's
        record. A 2-D coordinate ``date(time, site)`` holds every site's calendar dates. This is
        the layout for simulating all sites in one batch. Records of different lengths (the
        DifferLand sites have 3286 to 3288 days: leap years) are NaN-padded at the end, with
        ``date`` NaT there; a recurrent model is causal, so padding at the end never changes the
        steps before it. With ``pad=False`` unequal lengths raise instead.
    ``"calendar"``
        ``time`` is the calendar: every day from the earliest to the latest date of any site;
        each site is NaN outside its own record. The layout for comparing sites on the same days.

    Parameters
    ----------
    directory : str or Path
        Folder holding ``<SITE>.nc`` files (and, usually, ``site_coords.csv``).
    sites : list of str, optional
        Site identifiers to read (files ``<directory>/<SITE>.nc``), in this order; default every
        ``*.nc`` file in the folder, sorted by name.
    coords_file : str or Path or None
        Site table (relative to ``directory`` unless absolute) with columns SITE_ID, cluster, lon,
        lat, ELEV, MAP, MAT, IGBP; see :func:`xdifferland.io.read_site_coords`. It adds the static
        predictors ``mean_annual_temperature`` (degC), ``mean_annual_precipitation`` (mm/year),
        ``elevation`` (m) and the site coordinates ``igbp``, ``cluster``, ``longitude``. ``None``
        reads the files alone (no predictors; longitude NaN).
    align : {"step", "calendar"}
        Time alignment, see above.
    pad : bool
        With ``align="step"``, NaN-pad shorter records at the end (default) instead of raising.

    Returns
    -------
    xarray.Dataset
        As :func:`open_cardamom_site`, for all sites, plus the predictors.

    Raises
    ------
    FileNotFoundError
        If the directory, a requested site file or the coords file is missing.
    ValueError
        On an unknown ``align``, on unequal record lengths with ``align="step", pad=False``, or
        when a site is absent from the coords file.

    Examples
    --------
    >>> ds = open_cardamom_sites("../shared/data/fluxnet_sites")
    >>> dict(ds.sizes), ds.date.dims
    ({'time': 3288, 'site': 12}, ('time', 'site'))
    >>> str(ds.date.sel(site="US-Ha1")[0].values)[:10]
    '1999-01-01'
    >>> float(ds.mean_annual_temperature.sel(site="US-Ha1"))
    6.62
    >>> cal = open_cardamom_sites("../shared/data/fluxnet_sites", sites=["US-Ha1", "AU-Dry"],
    ...                           align="calendar")
    >>> str(cal.time[0].values)[:10], str(cal.time[-1].values)[:10], cal.sizes["site"]
    ('1999-01-01', '2019-12-30', 2)
    """
    if align not in ("step", "calendar"):
        raise ValueError(f"align must be 'step' or 'calendar', got {align!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"CARDAMOM site directory not found: {directory}")
    files = _site_files(directory, sites)
    parts = [open_cardamom_site(f) for f in files]

    if align == "step":
        lengths = {str(p.site.item()): p.sizes["time"] for p in parts}
        if len(set(lengths.values())) > 1 and not pad:
            raise ValueError(
                f"align='step' with pad=False needs records of equal length, but the sites in "
                f"{directory} have {lengths} days; use align='calendar' to line them up by date, "
                f"or pad=True to NaN-pad the shorter ones at the end"
            )
        parts = [_to_steps(p) for p in parts]

    combined = xr.concat(parts, dim="site", join="outer", data_vars="all", coords="different",
                         compat="equals", combine_attrs="drop_conflicts")
    if align == "calendar":
        combined = combined.reindex(time=_regular_axis(combined.time.values))
    combined = combined.transpose("time", "site", ...)
    combined.attrs = {
        "source": str(directory),
        "source_format": "CARDAMOM site driver (NetCDF)",
        "source_files": ", ".join(f.name for f in files),
        "time_alignment": align,
        "cardamom_dropped_variables": ", ".join(sorted(
            {v for p in parts for v in p.attrs["cardamom_dropped_variables"].split(", ") if v})),
    }
    if coords_file is not None:
        combined = _add_site_table(combined, directory / coords_file)
    return combined


# --- helpers ---------------------------------------------------------------------------------


def _read_raw(path: Path) -> xr.Dataset:
    """Open a file eagerly (no handle stays open) and check it is a CARDAMOM site driver."""
    if not path.is_file():
        raise FileNotFoundError(f"CARDAMOM site file not found: {path}")
    from .detect import classic_truncation  # (detect imports this module)

    truncated = classic_truncation(path)
    if truncated:  # the netCDF-3 library would read the missing values as zeros
        raise CardamomFormatError(truncated)
    try:
        with xr.open_dataset(path, decode_times=False) as ds:
            raw = ds.load()
    except (OSError, ValueError, TypeError) as err:
        raise CardamomFormatError(f"{path} could not be read as a NetCDF file: {err}") from err
    missing = [v for v in REQUIRED if v not in raw.variables]
    if "time" not in raw.variables:
        missing.insert(0, "time")
    if missing:
        raise CardamomFormatError(
            f"{path} is not a CARDAMOM site driver: missing required variable(s) "
            f"{', '.join(missing)} (need time, {', '.join(REQUIRED)})"
        )
    return raw


def _decode_time(time: xr.DataArray, path: Path) -> np.ndarray:
    """Calendar dates of a ``<unit> since <date>`` axis (default days since 2001-01-01)."""
    units = str(time.attrs.get("units", f"days since {EPOCH}"))
    unit, sep, ref = units.partition(" since ")
    pandas_unit = {"days": "D", "day": "D", "hours": "h", "hour": "h", "seconds": "s"}.get(
        unit.strip().lower())
    if not sep or pandas_unit is None:
        raise CardamomFormatError(f"{path}: cannot decode time units {units!r}")
    offsets = pd.to_timedelta(np.asarray(time.values, dtype="float64"), unit=pandas_unit)
    # Negative offsets are legitimate: US-Ha1 starts in 1999, before the 2001 reference.
    return np.asarray(pd.Timestamp(ref.strip()) + offsets, dtype="datetime64[ns]")


def _mask_fill(values: np.ndarray) -> np.ndarray:
    """Replace CARDAMOM's -9999 (and undeclared netCDF default fills) by NaN."""
    values = np.asarray(values)
    if values.dtype.kind != "f":
        values = values.astype("float64")
    bad = np.isin(values, _FILL_SENTINELS) | (np.abs(values) > _NETCDF_DEFAULT_FILL)
    return np.where(bad, np.nan, values).astype(values.dtype)


def _file_units(da: xr.DataArray, name: str, default: str) -> str:
    """The file's units attribute, spelled so pint reads it; ``default`` when it has none."""
    units = da.attrs.get("units")
    if not units or name == "DOY":  # DOY says "Days" but is an ordinal, not a duration
        return default
    return _UNIT_SPELLINGS.get(str(units).strip(), str(units).strip())


def _attrs(canonical: str, units: str, original: str | None, da: xr.DataArray | None) -> dict:
    """Canonical metadata of a kept variable (table first, then the local undeclared table)."""
    try:
        declared = variable(canonical)
        long_name, standard_name = declared.long_name, declared.standard_name
    except KeyError:
        base = canonical.removesuffix("_unc")
        long_name, standard_name = _UNDECLARED.get(base, (base.replace("_", " "), None))
        if base != canonical:
            long_name, standard_name = f"uncertainty of {long_name}", None
    attrs = {"units": units, "long_name": long_name}
    if standard_name:
        attrs["standard_name"] = standard_name
    if original is not None:
        attrs["original_name"] = original
        file_units = da.attrs.get("units") if da is not None else None
        if file_units and str(file_units) != units:
            attrs["original_units"] = str(file_units)
    return attrs


def _site_files(directory: Path, sites: list[str] | None) -> list[Path]:
    if sites is None:
        files = sorted(directory.glob("*.nc"))
        if not files:
            raise FileNotFoundError(f"no CARDAMOM site files (*.nc) in {directory}")
        return files
    if isinstance(sites, str):
        sites = [sites]
    files = [directory / f"{s}.nc" for s in sites]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"site file(s) {', '.join(missing)} not found in {directory}")
    return files


def _to_steps(part: xr.Dataset) -> xr.Dataset:
    """Replace the calendar axis of one site by step indices, keeping dates as ``date``."""
    dates = part.time.values[:, None]
    return part.assign_coords(
        date=(("time", "site"), dates, {"long_name": "calendar date of each step"}),
        time=("time", np.arange(part.sizes["time"]), {"long_name": "time step index"}),
    )


def _regular_axis(dates: np.ndarray) -> np.ndarray:
    """Fill the gaps between site records so that a daily (or other regular) axis stays regular."""
    steps = np.unique(np.diff(dates))
    if steps.size and np.all(steps % steps[0] == np.timedelta64(0)):
        return np.arange(dates[0], dates[-1] + steps[0], steps[0])
    return dates  # irregular records: the plain union of dates
