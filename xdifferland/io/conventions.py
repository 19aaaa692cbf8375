"""CF metadata of everything xdifferland produces: units, coordinates, bounds, cell methods.

Results are handed on — to ILAMB, to a colleague's cf-xarray notebook, to a CF checker — so their
metadata are the package's own, written here in one place and never inherited from whatever the
installed xarray copies between objects:

* :func:`udunits` turns the pint units of the declared tables into UDUNITS-2 strings that a
  CF checker accepts and that are consistent with the variable's standard name.
* :func:`coordinate_attrs` is the one source of the attributes of ``time``, ``lat``, ``lon`` and
  ``site``.
* :func:`cf_result` finishes a result Dataset: coordinate attributes, ``time_bnds``,
  ``cell_measures`` on lat/lon grids, and the global attributes ``Conventions``, ``title``,
  ``history``, ``source`` and, for site lists, ``featureType``.

How a result is laid out in a file (cell areas, dimension order, encodings) is
:mod:`xdifferland.io.cf_file`.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import xarray as xr

from .._version import __version__

__all__ = ["CONVENTIONS", "EARTH_RADIUS", "cell_area", "cell_edges", "cf_result",
           "coordinate_attrs", "history_line", "time_bounds", "udunits"]

#: The CF version the outputs follow (what ``compliance-checker --test cf:1.8`` checks).
CONVENTIONS = "CF-1.8"

#: Mean Earth radius (m, IUGG) used for grid-cell areas.
EARTH_RADIUS = 6_371_008.8

_COORDINATES = {
    "time": {"standard_name": "time", "long_name": "time", "axis": "T"},
    "lat": {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north",
            "axis": "Y"},
    "lon": {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east",
            "axis": "X"},
    "site": {"long_name": "site identifier", "cf_role": "timeseries_id"},
}
# Spellings of the same coordinates (site lists carry ``latitude``/``longitude`` along ``site``).
_COORDINATE_ALIASES = {"latitude": "lat", "longitude": "lon"}

# pint unit name → UDUNITS-2 symbol, for the units the declared tables use. UDUNITS' "a" is the
# are (100 m2), so a year is "year" (UDUNITS: a tropical year, 365.2422 days; pint and DALEC use
# 365.25 days, a 2e-5 relative difference that cfchecks notes with a warning).
_SYMBOLS = {
    "gram": "g", "kilogram": "kg", "milligram": "mg", "meter": "m", "millimeter": "mm",
    "centimeter": "cm", "nanometer": "nm", "second": "s", "day": "d", "year": "year",
    "kilopascal": "kPa", "pascal": "Pa", "megajoule": "MJ", "joule": "J", "watt": "W",
    "milliwatt": "mW", "steradian": "sr", "kelvin": "K", "delta_degree_Celsius": "K",
    "degree_Celsius": "degC", "parts_per_million": "ppm", "ppm": "ppm", "percent": "%",
    "mole": "mol",
}
# Order in which symbols are written: mass, amount, energy/power/pressure, area/length, then time.
_ORDER = ["g", "kg", "mg", "mol", "MJ", "J", "W", "mW", "kPa", "Pa", "K", "degC", "m", "mm",
          "cm", "nm", "sr", "d", "year", "s"]

# Standard names whose canonical units are a mass flux or mass per area of water, although the
# model keeps water as a depth: 1 mm of liquid water is 1 kg m-2 (density 1000 kg m-3).
_WATER_MASS = {"water_evapotranspiration_flux", "runoff_flux",
               "mass_content_of_water_in_soil", "water_evaporation_flux"}


def udunits(units: str, standard_name: str | None = None) -> str | None:
    """UDUNITS-2 spelling of pint ``units``, consistent with ``standard_name``.

    Returns ``None`` for units UDUNITS cannot express (fractional powers such as the
    ``kPa**0.5`` of the underlying water-use efficiency); callers then describe the units in
    ``long_name`` instead of writing an invalid ``units`` attribute.

    Examples
    --------
    >>> udunits("g/m**2/day"), udunits("dimensionless"), udunits("1/delta_degC")
    ('g m-2 d-1', '1', 'K-1')
    >>> udunits("mm/day", "water_evapotranspiration_flux")  # 1 mm of water = 1 kg m-2
    'kg m-2 d-1'
    >>> udunits("g*kPa**0.5/kg") is None
    True
    """
    from ..contract.convert import UREG

    unit = UREG.Unit(units)
    if standard_name in _WATER_MASS and unit.dimensionality.get("[length]") in (1, 1.0):
        # mm → kg m-2: same numbers; check it rather than assume the spelling is millimetres
        per_day = "/day" if "[time]" in unit.dimensionality else ""
        factor = UREG.Quantity(1.0, units).to(f"mm{per_day}")
        if not np.isclose(float(factor.magnitude), 1.0):
            raise ValueError(f"{units!r} is not a water depth in mm for {standard_name}")
        return "kg m-2 d-1" if "[time]" in unit.dimensionality else "kg m-2"
    items = []
    for name, power in unit._units.items():
        if float(power) != int(power):
            return None
        symbol = _SYMBOLS.get(name)
        if symbol is None:
            raise ValueError(f"no UDUNITS symbol declared for pint unit {name!r} (in {units!r})")
        items.append((symbol, int(power)))
    # m2 m-2 and the like cancel: pint keeps them apart
    merged: dict[str, int] = {}
    for symbol, power in items:
        merged[symbol] = merged.get(symbol, 0) + power
    merged = {s: p for s, p in merged.items() if p}
    if not merged:
        return "1"
    order = sorted(merged, key=lambda s: (merged[s] < 0, _ORDER.index(s) if s in _ORDER else 99))
    return " ".join(s if merged[s] == 1 else f"{s}{merged[s]}" for s in order)


def coordinate_attrs(name: str) -> dict:
    """The package's attributes for a coordinate (``time``, ``lat``, ``lon``, ``site``).

    Examples
    --------
    >>> coordinate_attrs("lat")["units"], coordinate_attrs("longitude")["standard_name"]
    ('degrees_north', 'longitude')
    """
    return dict(_COORDINATES.get(_COORDINATE_ALIASES.get(name, name), {}))


def history_line(what: str) -> str:
    """One ``history`` entry: the package version and what produced the data.

    No time stamp: the same call on the same data gives identical results, attributes included
    (a seeded fit is reproducible bit for bit, and ``xr.testing.assert_identical`` holds).

    Examples
    --------
    >>> history_line("simulate gpp")  # doctest: +ELLIPSIS
    'xdifferland ...: simulate gpp'
    """
    return f"xdifferland {__version__}: {what}"


def time_bounds(time: xr.DataArray) -> xr.DataArray:
    """Cell bounds ``(time, nv)`` of a 1-D time coordinate.

    Monthly data are bounded by their calendar month (whatever day stamps them), daily data by
    their day; other regular steps by the midpoints between stamps (the ends extrapolated by half
    a step), as :meth:`cf_xarray.CFAccessor.add_bounds` would.

    Examples
    --------
    >>> import pandas as pd
    >>> t = xr.DataArray(pd.date_range("2001-01-01", periods=2, freq="MS") + pd.Timedelta("14D"),
    ...                  dims="time")
    >>> time_bounds(t).values.astype("datetime64[D]").tolist()[0]
    [datetime.date(2001, 1, 1), datetime.date(2001, 2, 1)]
    """
    from ..contract.handoff import time_axis

    values = np.asarray(time.values)
    frequency = time_axis(time).frequency if values.size > 1 else "other"
    if frequency == "monthly" and np.issubdtype(values.dtype, np.datetime64):
        start = values.astype("datetime64[M]")
        lower, upper = start.astype(values.dtype), (start + 1).astype(values.dtype)
    elif frequency == "daily" and np.issubdtype(values.dtype, np.datetime64):
        start = values.astype("datetime64[D]")
        lower, upper = start.astype(values.dtype), (start + 1).astype(values.dtype)
    else:
        # midpoints; a single stamp (or cftime) gets the step from its neighbours or 1 day
        step = (values[1:] - values[:-1]) if values.size > 1 else None
        half = (step / 2) if step is not None else None
        if half is None:
            delta = (np.timedelta64(12, "h") if np.issubdtype(values.dtype, np.datetime64)
                     else _dt.timedelta(hours=12))
            lower, upper = values - delta, values + delta
        else:
            mid = values[:-1] + half
            lower = np.concatenate([[values[0] - half[0]], mid])
            upper = np.concatenate([mid, [values[-1] + half[-1]]])
    return xr.DataArray(np.stack([lower, upper], axis=-1), dims=(time.dims[0], "nv"),
                        coords={time.dims[0]: time.values})


def cell_edges(centres) -> np.ndarray:
    """Edges of cells around regularly or irregularly spaced ``centres`` (midpoints).

    Examples
    --------
    >>> cell_edges([0.25, 0.75, 1.25])
    array([0. , 0.5, 1. , 1.5])
    """
    c = np.asarray(centres, float)
    if c.size < 2:
        raise ValueError("need at least two cell centres to infer the cell size")
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def cell_area(lat, lon, *, radius: float = EARTH_RADIUS) -> xr.DataArray:
    """Spherical area (m2) of every cell of a lat/lon grid given by its centres (degrees).

    ``R² (sin φ_n - sin φ_s) (λ_e - λ_w)`` with edges halfway between centres.

    Examples
    --------
    >>> lat = np.arange(-89.5, 90.0, 1.0)
    >>> lon = np.arange(-179.5, 180.0, 1.0)
    >>> area = cell_area(lat, lon)
    >>> round(float(area.sum()) / (4 * np.pi * EARTH_RADIUS ** 2), 10)
    1.0
    """
    lat_values = np.asarray(lat, float)
    lon_values = np.asarray(lon, float)
    phi = np.deg2rad(np.clip(cell_edges(lat_values), -90.0, 90.0))
    lam = np.deg2rad(cell_edges(lon_values))
    band = np.abs(np.diff(np.sin(phi)))
    width = np.abs(np.diff(lam))
    area = radius ** 2 * band[:, None] * width[None, :]
    return xr.DataArray(area, dims=("lat", "lon"), coords={"lat": lat_values, "lon": lon_values},
                        name="cell_area", attrs={"standard_name": "cell_area",
                                                 "long_name": "grid-cell area", "units": "m2"})


def cf_result(ds: xr.Dataset, *, title: str, what: str) -> xr.Dataset:
    """``ds`` (a result: simulation, parameters, metrics) with its CF metadata completed.

    Coordinates get :func:`coordinate_attrs` (replacing whatever they carried), a time axis gets
    a ``time_bnds`` coordinate, gridded variables get ``cell_measures = "area: cell_area"`` (the
    NetCDF writer adds that variable, see :func:`xdifferland.io.cf_file.for_file`), and the
    global attributes ``Conventions``, ``title``, ``source`` and ``history`` (appended to, as NCO
    does) are set. Data variables keep exactly their own
    attributes. Nothing is computed: dask-backed variables stay lazy.

    Examples
    --------
    >>> import pandas as pd
    >>> gpp = (("time", "lat", "lon"), np.ones((2, 2, 2)), {"units": "g m-2 d-1"})
    >>> ds = xr.Dataset({"gpp": gpp},
    ...                 coords={"time": pd.date_range("2001-01-15", periods=2, freq="30D"),
    ...                         "lat": [0.25, 0.75], "lon": [10.25, 10.75]})
    >>> out = cf_result(ds, title="GPP", what="example")
    >>> out["gpp"].attrs["cell_measures"], out["time"].attrs["bounds"], out.attrs["Conventions"]
    ('area: cell_area', 'time_bnds', 'CF-1.8')
    """
    out = ds.copy(deep=False)
    # ``out.variables[name]`` is the variable itself (``out[name]`` may be a new object for an
    # index coordinate); the shallow copy above means the caller's attributes stay untouched
    for name in out.coords:
        attrs = coordinate_attrs(name)
        if name == "time" and not _is_datetime(out[name]):
            # sites aligned by step: "time" is a step index, not a CF time coordinate
            attrs = {"long_name": "model time step (index)", "units": "1"}
        if attrs:
            if "axis" in attrs and attrs["axis"] in "XY" and out[name].dims != (name,):
                # auxiliary coordinates of a station list or curvilinear grid
                attrs.pop("axis", None)
            out.variables[name].attrs = attrs
    if ("time" in out.dims and "time" in out.coords and out["time"].ndim == 1
            and _is_datetime(out["time"])):
        # as a bare variable: a DataArray's own ``time`` coordinate would replace ours
        out = out.assign_coords(time_bnds=time_bounds(out["time"]).variable)
        out.variables["time"].attrs["bounds"] = "time_bnds"
    if is_grid(out):
        for name in out.data_vars:
            if {"lat", "lon"} <= set(out[name].dims):
                out.variables[name].attrs["cell_measures"] = "area: cell_area"
    if "site" in out.dims:
        out.attrs["featureType"] = "timeSeries" if "time" in out.dims else "point"
    previous = out.attrs.get("history")
    out.attrs.update({
        "Conventions": CONVENTIONS,
        "title": title,
        "source": f"xdifferland {__version__} (DALEC993, DifferLand)",
        "history": "\n".join(filter(None, [previous, history_line(what)])),
    })
    return out


def _is_datetime(time: xr.DataArray) -> bool:
    """datetime64 or cftime values (a step index of sites aligned by step is neither)."""
    return time.dtype.kind in "MO"


def is_grid(ds: xr.Dataset) -> bool:
    """A lat/lon grid whose cells have a size (at least two centres along each axis)."""
    return all(d in ds.dims and d in ds.coords and ds.sizes[d] >= 2 for d in ("lat", "lon"))
