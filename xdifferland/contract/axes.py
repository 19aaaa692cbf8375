"""Find the axes of a user's Dataset (time, latitude, longitude, stations) by CF, not by name.

This is the one place that decides which dimension is time and how locations are laid out.
ERA5-style (``valid_time``, ``latitude``, ``longitude``), CMIP-style (``time``, ``lat``, ``lon``),
station lists (any dimension, e.g. ``station``) and projected grids (``y``/``x`` with 2-D
``lat``/``lon``) are all accepted without renaming. :meth:`Axes.to_internal` renames the Dataset
to the canonical internal names at the boundary, so everything downstream sees ``time``,
``lat``/``lon`` or ``site``, and :meth:`Axes.to_user` puts the user's names back on the results.

Rules
-----
Each search goes through tiers; the first tier that finds anything decides, and two different
dimensions found in one tier are an error (:class:`~xdifferland.errors.DataError`) naming both and
the fix, never a silent choice.

**Time dimension** -- the dimension of a 1-D coordinate that

1. has ``axis = "T"``;
2. cf-xarray recognizes as time (``standard_name = "time"``, ``_CoordinateAxisType = "Time"``,
   ``long_name = "time"``, ...; ``ds.cf.axes["T"]`` and ``ds.cf.coordinates["time"]``);
3. is a dimension coordinate holding datetime64 or cftime values;

and else (4) the dimension literally named ``time``. Within a tier that finds several dimensions,
one literally named ``time`` wins (an annual observation on a ``year`` axis of its own). A
``valid_time(time)`` coordinate thus names the ``time`` dimension; 2-D time coordinates (a site
list's ``date(time, site)``) name none.

**Latitude and longitude** -- the coordinate cf-xarray recognizes (``standard_name``, units
``degrees_north``/``degrees_east``, ...; ``ds.cf.coordinates``), else the coordinate or data
variable literally named ``lat`` or ``latitude`` (``lon`` or ``longitude``). Among several, a
dimension coordinate wins. Their shape gives the layout:

* 1-D on two different dimensions: a regular grid; those dimensions are latitude and longitude;
* 1-D on one shared dimension: a station list along it;
* 2-D: a projected (or curvilinear) grid; its dimensions are the spatial ones, ordered ``(y, x)``
  by the coordinates cf-xarray gives axis ``Y``/``X`` where there are such.

**Station dimension** -- the dimension of the coordinate with ``cf_role = "timeseries_id"``
(``ds.cf.cf_roles``), else the dimension shared by 1-D latitude and longitude, else the
dimension literally named ``site``.

Internal names: the time dimension becomes ``time``; a regular grid's dimension coordinates become
``lat`` and ``lon``; the station dimension (and its coordinate) becomes ``site``. A projected
grid's dimensions and its 2-D latitude/longitude keep their names, as do a station list's
latitude/longitude coordinates; the engine reads latitude from :attr:`Axes.latitude`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import DataError, Problem

__all__ = ["Axes", "INTERNAL", "find_axes", "missing_time"]

#: Canonical internal names of the axes (the engine side's layout).
INTERNAL = {"time": "time", "lat": "lat", "lon": "lon", "site": "site"}

_HEADER = "Could not find the axes of the Dataset:"


@dataclass(frozen=True)
class Axes:
    """The axes of one Dataset (user's names; ``None`` where absent).

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> ds = xr.Dataset(
    ...     {"t2m": (("valid_time", "latitude", "longitude"), np.zeros((3, 2, 2)))},
    ...     coords={"valid_time": pd.date_range("2001-01-01", periods=3, freq="MS"),
    ...             "latitude": [10.0, 9.5], "longitude": [20.0, 20.5]})
    >>> axes = find_axes(ds)
    >>> axes.time, axes.lat, axes.lon, axes.layout
    ('valid_time', 'latitude', 'longitude', 'grid')
    >>> inside = axes.to_internal(ds)
    >>> inside["t2m"].dims
    ('time', 'lat', 'lon')
    >>> axes.to_user(inside)["t2m"].dims
    ('valid_time', 'latitude', 'longitude')
    """

    time: str | None = None  #: the time dimension
    lat: str | None = None  #: latitude dimension of a regular grid
    lon: str | None = None  #: longitude dimension of a regular grid
    site: str | None = None  #: station dimension
    y: str | None = None  #: first spatial dimension of a projected grid
    x: str | None = None  #: second spatial dimension of a projected grid
    latitude: str | None = None  #: latitude coordinate (1-D or 2-D), the user's name
    longitude: str | None = None  #: longitude coordinate, the user's name

    @property
    def layout(self) -> str:
        """``"grid"``, ``"projected"``, ``"site"`` or ``"unknown"``."""
        if self.lat is not None or self.lon is not None:
            return "grid"
        if self.y is not None:
            return "projected"
        if self.site is not None:
            return "site"
        return "unknown"

    @property
    def spatial(self) -> tuple[str, ...]:
        """The user's spatial dimensions, e.g. ``("latitude", "longitude")`` or ``("y", "x")``."""
        if self.layout == "grid":
            return tuple(d for d in (self.lat, self.lon) if d is not None)
        if self.layout == "projected":
            return tuple(d for d in (self.y, self.x) if d is not None)
        return (self.site,) if self.site is not None else ()

    @property
    def renames(self) -> dict[str, str]:
        """User name → internal name, for the names that change."""
        pairs = {self.time: INTERNAL["time"], self.lat: INTERNAL["lat"],
                 self.lon: INTERNAL["lon"], self.site: INTERNAL["site"]}
        return {str(u): i for u, i in pairs.items() if u is not None and u != i}

    def internal(self, name: str | None) -> str | None:
        """The internal name of one of the user's dims or coordinates."""
        return None if name is None else self.renames.get(name, name)

    def to_internal(self, obj):
        """``obj`` (Dataset or DataArray) with its axes renamed to the internal names.

        Only names present in ``obj`` are renamed (a parameters Dataset has no time axis);
        anything that is not an xarray object (``None``) is returned as it is.

        Raises
        ------
        DataError
            If an internal name is already used by something else in ``obj`` (say a scalar
            coordinate ``time`` next to the time dimension ``valid_time``).
        """
        if not isinstance(obj, (xr.Dataset, xr.DataArray)):
            return obj  # None, or a plain array: nothing to rename
        present = _names(obj)
        mapping = {u: i for u, i in self.renames.items() if u in present}
        problems = []
        for user, inner in mapping.items():
            if inner in present and inner not in mapping:
                what = ("dimension" if inner in obj.dims and inner not in obj.coords
                        else "coordinate" if inner in obj.coords else "data variable")
                problems.append(Problem(
                    inner, f"{user!r} is the {_ROLE_OF[inner]} axis and is used as {inner!r} "
                    f"internally, but the Dataset already has a {what} {inner!r}.",
                    f"drop or rename the existing {inner!r} (e.g. ds = ds.drop_vars({inner!r}) "
                    f"or ds = ds.rename({{{inner!r}: '{inner}_orig'}}))."))
        if problems:
            raise DataError(problems, header=_HEADER)
        return obj.rename(mapping) if mapping else obj

    def to_user(self, obj):
        """Inverse of :meth:`to_internal`: results labeled with the user's dims and coordinates."""
        if not isinstance(obj, (xr.Dataset, xr.DataArray)):
            return obj
        present = _names(obj)
        mapping = {i: u for u, i in self.renames.items() if i in present}
        return obj.rename(mapping) if mapping else obj


_ROLE_OF = {"time": "time", "lat": "latitude", "lon": "longitude", "site": "station"}


def _names(obj) -> set[Hashable]:
    names = set(obj.dims) | set(obj.coords)
    if isinstance(obj, xr.Dataset):
        names |= set(obj.data_vars)
    return names


def _as_dataset(obj) -> xr.Dataset:
    if isinstance(obj, xr.Dataset):
        return obj
    if isinstance(obj, xr.DataArray):
        return xr.Dataset(coords=obj.coords)
    raise TypeError(f"expected an xarray Dataset or DataArray, got {type(obj).__name__}")


def _is_datetime(da: xr.DataArray) -> bool:
    if np.issubdtype(da.dtype, np.datetime64):
        return True
    if da.dtype == object and da.size:
        first = np.asarray(da.values).ravel()[0]
        return type(first).__module__.split(".")[0] == "cftime"
    return False


def _is_dim_coord(ds: xr.Dataset, name: Hashable) -> bool:
    return name in ds.coords and ds[name].dims == (name,)


def _cf(ds: xr.Dataset, kind: str, *keys: str) -> list[str]:
    """Names cf-xarray finds for ``keys`` in ``ds.cf.axes`` / ``ds.cf.coordinates``."""
    import cf_xarray  # noqa: F401  (registers the ``.cf`` accessor; imported on first use)

    table = ds.cf.axes if kind == "axes" else ds.cf.coordinates
    found: list[str] = []
    for key in keys:
        found += [str(n) for n in table.get(key, []) if str(n) not in found]
    return sorted(found)


def _ambiguous(what: str, candidates: Mapping[str, str], fix: str) -> DataError:
    listed = ", ".join(f"{name!r} ({how})" for name, how in candidates.items())
    return DataError([Problem(what, f"{len(candidates)} dimensions could be the {what} axis: "
                                    f"{listed}.", fix)], header=_HEADER)


def _find_time(ds: xr.Dataset) -> str | None:
    one_d = [n for n in ds.coords if ds[n].ndim == 1]
    cf_names = set(_cf(ds, "axes", "T")) | set(_cf(ds, "coordinates", "time"))
    tiers = (
        ("axis 'T'", [n for n in one_d if str(ds[n].attrs.get("axis", "")).upper() == "T"]),
        ("CF time coordinate", [n for n in one_d if str(n) in cf_names]),
        ("datetime values", [n for n in one_d if _is_dim_coord(ds, n) and _is_datetime(ds[n])]),
        ("named 'time'", ["time"] if "time" in ds.dims else []),
    )
    for how, names in tiers:
        dims: dict[str, str] = {}
        for n in names:
            dim = str(ds[n].dims[0]) if n in ds.variables else str(n)
            dims.setdefault(dim, f"{how}" if dim == str(n) else f"{how} of {str(n)!r}")
        if len(dims) == 1:
            return next(iter(dims))
        if len(dims) > 1 and "time" in dims:
            # several time-like dims (observations on an annual "year" axis of their own):
            # the literal name decides, as it did before axes were found by CF
            return "time"
        if len(dims) > 1:
            first, *others = dims
            raise _ambiguous("time", dims, (
                f"keep one time axis: set ds[{first!r}].attrs['axis'] = 'T' on the one to use "
                f"(and on no other), or drop the others (e.g. ds.drop_dims({others!r}))."))
    return None


def _find_coordinate(ds: xr.Dataset, key: str, literal: Iterable[str]) -> str | None:
    """The user's latitude or longitude coordinate (``key``: ``"latitude"``/``"longitude"``)."""
    names = _cf(ds, "coordinates", key)
    if not names:
        names = [n for n in literal if n in ds.variables]
    if len(names) > 1:
        dim_coords = [n for n in names if _is_dim_coord(ds, n)]
        names = dim_coords or names
    if len(names) > 1:
        raise DataError([Problem(key, f"{len(names)} variables could be the {key}: "
                                      f"{names}.",
                                 f"drop the ones that are not (e.g. ds.drop_vars({names[1:]!r})) "
                                 f"or remove their {key} attributes.")], header=_HEADER)
    return names[0] if names else None


def _find_station(ds: xr.Dataset) -> str | None:
    import cf_xarray  # noqa: F401

    dims = {str(ds[n].dims[0]) for n in ds.cf.cf_roles.get("timeseries_id", [])
            if n in ds.variables and ds[n].ndim == 1}
    if len(dims) > 1:
        raise _ambiguous("station", {d: "cf_role 'timeseries_id'" for d in sorted(dims)},
                         "keep cf_role = 'timeseries_id' on one station coordinate only.")
    return dims.pop() if dims else None


def find_axes(obj: xr.Dataset | xr.DataArray) -> Axes:
    """Find the time, latitude, longitude and station axes of ``obj`` (see the module rules).

    Axes that are absent are ``None``; it is up to the caller to require them.

    Raises
    ------
    DataError
        If two dimensions could be the time (or station) axis, or two variables the latitude
        (or longitude): the message names them and how to keep one.
    """
    ds = _as_dataset(obj)
    time = _find_time(ds)
    latitude = _find_coordinate(ds, "latitude", ("lat", "latitude"))
    longitude = _find_coordinate(ds, "longitude", ("lon", "longitude"))
    site = _find_station(ds)
    lat_da = ds[latitude] if latitude is not None else None
    lon_da = ds[longitude] if longitude is not None else None
    lat = lon = y = x = None
    if lat_da is not None and lat_da.ndim == 1 and lat_da.dims[0] != time:
        if lon_da is not None and lon_da.dims == lat_da.dims:  # a station list
            site = site or str(lat_da.dims[0])
        elif _is_dim_coord(ds, latitude):  # a regular grid (or a zonal one, without longitude)
            lat = latitude
            if lon_da is not None and _is_dim_coord(ds, longitude):
                lon = longitude
    elif lat_da is not None and lat_da.ndim == 2:  # a projected or curvilinear grid
        dims = [str(d) for d in lat_da.dims]
        axis_y = {str(ds[n].dims[0]) for n in _cf(ds, "axes", "Y") if ds[n].ndim == 1}
        axis_x = {str(ds[n].dims[0]) for n in _cf(ds, "axes", "X") if ds[n].ndim == 1}
        if dims[0] in axis_x or dims[1] in axis_y:
            dims.reverse()
        y, x = dims
    if site is None and lat is None and y is None and "site" in ds.dims:
        site = "site"
    return Axes(time=time, lat=lat, lon=lon, site=site, y=y, x=x, latitude=latitude,
                longitude=longitude)


def missing_time(obj: xr.Dataset | xr.DataArray, axes: Axes) -> DataError:
    """The error for a Dataset in which no time dimension is found, with the likeliest fix."""
    others = [str(d) for d in obj.dims if str(d) not in axes.spatial]
    guess = others[0] if others else "<time dim>"
    return DataError([Problem(
        "time", "no time dimension found: no 1-D coordinate has axis 'T', a CF time "
        "standard_name or datetime values, and no dimension is named 'time' (dimensions: "
        f"{[str(d) for d in obj.dims]}).",
        f"mark the time coordinate (ds[{guess!r}].attrs['standard_name'] = 'time', with datetime "
        f"values) or rename it (ds = ds.rename({{{guess!r}: 'time'}})).")], header=_HEADER)
