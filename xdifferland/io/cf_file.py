"""How a result is laid out in a CF file: cell areas, site time, dimension order, encodings.

Results in memory keep the package's working layout (``(time, lat, lon)`` or ``(time, site)``, an
integer step index for sites aligned by step, no ``cell_area`` in ``data_vars``). A file follows
CF 1.8 and its discrete-sampling-geometry rules instead; :func:`for_file` makes that layout and
:func:`netcdf_encoding` the encodings, and :func:`xdifferland.to_netcdf` applies both:

* the ``cell_area`` variable that gridded variables' ``cell_measures`` name;
* for site results aligned by step (an integer ``time`` index, each site's dates in ``date``), a
  ``step`` dimension with a two-dimensional ``site_time(site, step)`` coordinate holding each
  site's own dates (CF's incomplete multidimensional time series) in place of the bare index;
* in site results, the instance dimension before time (``(site, time)``), as CF's discrete
  sampling geometries order them;
* float64 time with units and calendar, no ``_FillValue`` on coordinates or bounds, strings as
  characters, 64-bit integers as 32-bit ones.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..contract.axes import find_axes
from ..errors import DataError
from .conventions import is_grid, cell_area

__all__ = ["for_file", "netcdf_encoding"]

# Dimensions CF orders last (T, Z, Y, X); every other dimension goes before them.
_SPACE_TIME = ("time", "step", "lat", "lon", "y", "x", "nv")


def for_file(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` in the layout CF expects of a file (see the module notes); values unchanged.

    Site results (marked by :func:`~xdifferland.io.conventions.cf_result` with a
    ``featureType``) get the discrete-sampling-geometry layout; other Datasets (a user's inputs)
    keep their dimension order, so they round-trip unchanged.

    Examples
    --------
    >>> import pandas as pd
    >>> sites = xr.Dataset({"gpp": (("time", "site"), np.ones((2, 3)))},
    ...                    coords={"time": pd.date_range("2001-01-01", periods=2),
    ...                            "site": ["A", "B", "C"]}, attrs={"featureType": "timeSeries"})
    >>> for_file(sites)["gpp"].dims
    ('site', 'time')
    """
    # work on the internal axis names (a result may be labeled valid_time/latitude/longitude)
    try:
        axes = find_axes(ds)
        internal = axes.to_internal(ds)
    except DataError:  # axes that cannot be told apart: leave the layout to the user
        return ds
    out = with_cell_measures(internal)
    if "featureType" in out.attrs:
        out = _with_site_time(out)
        order = {name: [d for d in var.dims if d not in _SPACE_TIME]
                 + [d for d in _SPACE_TIME if d in var.dims]
                 for name, var in out.data_vars.items()}
        out = out.assign({name: out[name].transpose(*dims) for name, dims in order.items()
                          if tuple(dims) != out[name].dims})
    return axes.to_user(out)


def with_cell_measures(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` plus the ``cell_area`` variable its variables' ``cell_measures`` name, if missing.

    Kept out of results in memory (it would join every ``data_vars`` loop) and added where a
    file is written, so every written grid carries the area its cell measures promise.
    """
    wanted = any("area: cell_area" in str(v.attrs.get("cell_measures", ""))
                 for v in ds.data_vars.values())
    if not wanted or "cell_area" in ds.variables or not is_grid(ds):
        return ds
    return ds.assign(cell_area=cell_area(ds["lat"], ds["lon"]).variable)


def netcdf_encoding(ds: xr.Dataset) -> dict:
    """Encoding that makes ``ds`` CF-valid on disk, for :meth:`xarray.Dataset.to_netcdf`.

    Time coordinates (and their bounds) are stored as float64 days since the first stamp with
    an explicit calendar; coordinates and bounds carry no ``_FillValue``; string variables are
    written as character arrays and 64-bit integers as 32-bit ones (CF 1.8 has neither
    variable-length strings nor 64-bit integers). Encodings already set
    on a variable are replaced where they conflict (an int64 time read from another file).
    """
    encoding: dict = {}
    no_fill = set(ds.coords) | {v.attrs.get("bounds") for v in ds.variables.values()}
    for name, var in ds.variables.items():
        enc: dict = {}
        if np.issubdtype(var.dtype, np.datetime64):
            first = np.asarray(var.values).ravel()
            first = first[~np.isnat(first)][:1]
            origin = (str(first[0].astype("datetime64[D]")) if first.size else "1970-01-01")
            enc.update(dtype="float64", units=f"days since {origin}",
                       calendar="proleptic_gregorian")
        elif var.dtype.kind in "UO" and var.size and isinstance(
                np.asarray(var.values).ravel()[0], str):
            enc["dtype"] = "S1"
        elif var.dtype == np.int64:
            # CF 1.8 has no 64-bit integers; counts and ids fit in 32 bits (else store doubles)
            values = np.asarray(var.values)
            small = values.size == 0 or (values.min() >= -2**31 and values.max() < 2**31)
            enc["dtype"] = "int32" if small else "float64"
        if name in no_fill:
            enc["_FillValue"] = None
        if enc:
            encoding[name] = enc
    # bounds share their coordinate's time units
    for name, var in ds.variables.items():
        bounds = var.attrs.get("bounds")
        if bounds in encoding and name in encoding and "units" in encoding[name]:
            encoding[bounds].update(units=encoding[name]["units"],
                                    calendar=encoding[name]["calendar"])
    return encoding


def _with_site_time(ds: xr.Dataset) -> xr.Dataset:
    """A step index plus per-site start dates (sites aligned by step) as CF site times."""
    step = ds.attrs.get("time_step_days")
    if ("time" not in ds.coords or ds["time"].dtype.kind not in "iu" or "site" not in ds.dims
            or "date" not in ds.coords or ds["date"].dims != ("site",)
            or ds["date"].dtype.kind != "M" or step is None):
        return ds
    start = ds["date"].values.astype("datetime64[D]")
    index = ds["time"].values
    if float(step) == 1.0:
        times = start[:, None] + index[None, :].astype("timedelta64[D]")
    else:  # monthly steps: each site's months from its first one
        months = start.astype("datetime64[M]")[:, None] + index[None, :].astype("timedelta64[M]")
        times = months.astype("datetime64[D]") + (start - start.astype("datetime64[M]")
                                                  .astype("datetime64[D]"))[:, None]
    site_time = xr.Variable(("site", "step"), times.astype("datetime64[ns]"),
                            {"standard_name": "time", "long_name": "time of each site's step"})
    # the bare index becomes the "step" dimension: a dimension named time without a time
    # coordinate is what CF checkers (rightly) refuse
    out = ds.drop_vars("time").rename_dims(time="step").assign_coords(site_time=site_time)
    out.variables["date"].attrs = {"long_name": "date of each site's first step"}
    return out
