"""Atomic, non-clobbering NetCDF and Zarr writers whose attributes round-trip.

Two failure modes of ``Dataset.to_netcdf`` / ``to_zarr`` matter for long training runs: a crash
mid-write leaves a truncated file where a good one used to be, and a second run silently replaces
the results of the first. The writers here write to a temporary sibling of the target (same
directory, hence same filesystem, so the final rename is atomic) and move it into place only when
the write has succeeded; an existing target is refused unless ``overwrite=True``. Results get
the permissions the umask gives, and what a killed writer left is removed on the next write of the
same target (:mod:`xdifferland.io.atomic`).

NetCDF attributes can only be strings, numbers and flat arrays of them. Attributes that are not
(``None``, booleans, dicts, nested or mixed lists) are stored as JSON strings and their names
listed in the attribute ``xdifferland_json_attrs`` of the same object; :func:`open_netcdf` and
:func:`open_zarr` (or :func:`decode_attrs`) restore them. Zarr could hold such values natively,
but both formats are encoded the same way so that a store converts to a file and back unchanged.
"""

from __future__ import annotations

import json
import numbers
import os
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import DataError, Problem
from .atomic import atomic_path
from .cf_file import for_file, netcdf_encoding, with_cell_measures
from .detect import classic_truncation

__all__ = ["decode_attrs", "encode_attrs", "open_netcdf", "open_zarr", "to_netcdf", "to_zarr"]

#: Attribute listing (as a JSON list) the attributes of an object that were stored as JSON.
JSON_ATTRS = "xdifferland_json_attrs"


def to_netcdf(ds: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False,
              **kwargs) -> Path:
    """Write a Dataset to a NetCDF file atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        What to write. Attributes NetCDF cannot store are JSON-encoded (see module docs).
    path : str or path-like
        Target file.
    overwrite : bool
        Replace an existing ``path``. Default False: refuse.
    **kwargs
        Passed to :meth:`xarray.Dataset.to_netcdf` (``engine``, ``encoding``, ``format``, ...);
        ``mode`` is not accepted (``overwrite`` decides).

    Returns
    -------
    Path
        The written path.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import tempfile, xarray as xr
    >>> ds = xr.Dataset({"gpp": ("time", [1.0, 2.0])},
    ...                 attrs={"trained": True, "config": {"lr": 0.01}})
    >>> target = Path(tempfile.mkdtemp()) / "result.nc"
    >>> _ = to_netcdf(ds, target)
    >>> back = open_netcdf(target)
    >>> back.attrs["trained"], back.attrs["config"]
    (True, {'lr': 0.01})
    >>> back.close()
    >>> to_netcdf(ds, target)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileExistsError: ... exists; pass overwrite=True to replace it
    """
    if "mode" in kwargs:
        raise TypeError("to_netcdf() does not take mode; use overwrite=True to replace a file")
    path = Path(path)
    encoded = encode_attrs(for_file(ds))
    kwargs["encoding"] = _cf_encoding(encoded, kwargs.get("encoding"))
    with atomic_path(path, overwrite=overwrite) as tmp:
        encoded.to_netcdf(tmp, mode="w", **kwargs)
    return path


def to_zarr(ds: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False,
            **kwargs) -> Path:
    """Write a Dataset to a Zarr store (directory) atomically.

    The store is written into a temporary sibling directory and renamed into place. With
    ``overwrite=True`` an existing target is first renamed aside and deleted only after the new
    store is in place, so a failure at any point leaves either the old or the new store.

    Parameters
    ----------
    ds : xarray.Dataset
        What to write. Attributes are encoded as for :func:`to_netcdf`; fixed-width unicode
        arrays are stored as variable-length strings (Zarr v3 has no stable fixed-width type).
    path : str or path-like
        Target directory.
    overwrite : bool
        Replace an existing ``path``. Default False: refuse.
    **kwargs
        Passed to :meth:`xarray.Dataset.to_zarr` (``encoding``, ``zarr_format``, ...); ``mode``
        is not accepted.

    Returns
    -------
    Path
        The written path.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import tempfile, xarray as xr
    >>> ds = xr.Dataset({"gpp": ("time", [1.0, 2.0])}, attrs={"note": None})
    >>> target = Path(tempfile.mkdtemp()) / "result.zarr"
    >>> _ = to_zarr(ds, target)
    >>> xr.testing.assert_identical(open_zarr(target).load(), ds)
    """
    if "mode" in kwargs:
        raise TypeError("to_zarr() does not take mode; use overwrite=True to replace a store")
    path = Path(path)
    encoded = _variable_length_strings(encode_attrs(with_cell_measures(ds)))
    with atomic_path(path, overwrite=overwrite, directory=True) as tmp, \
            warnings.catch_warnings():
        # zarr warns on every v3 write that consolidated metadata is not in the v3 spec yet;
        # we still want it (xarray opens consolidated stores without listing every array).
        warnings.filterwarnings("ignore", message="Consolidated metadata", module="zarr")
        encoded.to_zarr(tmp, mode="w", **kwargs)
    return path


def open_netcdf(path: str | os.PathLike, **kwargs) -> xr.Dataset:
    """Open a NetCDF file written by :func:`to_netcdf`, restoring JSON-encoded attributes.

    Lazy, like :func:`xarray.open_dataset` (``**kwargs`` go there); close it or ``.load()`` it.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DataError
        Naming the file and what to do, if it cannot be read as NetCDF (a text file, an HTML
        error page saved by a download, a truncated file) or its attributes are corrupt.

    Examples
    --------
    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "notes.nc"
    >>> _ = bad.write_text("not a NetCDF file")
    >>> try:
    ...     open_netcdf(bad)
    ... except DataError as err:
    ...     print(err.problems[0].fix[:59])
    check that it is a NetCDF file (not text, an HTML page or a
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"NetCDF file not found: {path}")
    return _open(path, "a NetCDF file", "check that it is a NetCDF file (not text, an HTML "
                 "page or a partial download), or open a Zarr store with open_zarr().", kwargs)


def open_zarr(path: str | os.PathLike, **kwargs) -> xr.Dataset:
    """Open a Zarr store written by :func:`to_zarr`, restoring JSON-encoded attributes.

    Lazy, like :func:`xarray.open_dataset` with ``engine="zarr"`` (``**kwargs`` go there).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DataError
        Naming the store and what to do, if it is empty, not a Zarr store or corrupt.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Zarr store not found: {path}")
    return _open(path, "a Zarr store", "check the path: a Zarr store is a folder with Zarr "
                 "metadata (zarr.json or .zgroup), as to_zarr() writes it; an empty folder "
                 "is what an interrupted copy leaves.", {"engine": "zarr", **kwargs})


def _open(path: Path, what: str, fix: str, kwargs: dict) -> xr.Dataset:
    """Open with xarray; a file that is not what it should be raises DataError, not the
    backend's own exceptions (which differ by backend and say little to a user)."""
    truncated = classic_truncation(path) if path.is_file() else None
    if truncated:  # netCDF-3 libraries would read the missing values as zeros, silently
        raise DataError([Problem(str(path), truncated.removeprefix(f"{path} ") + ".", fix)])
    try:
        ds = xr.open_dataset(path, **kwargs)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError, IndexError) as err:
        raise DataError([Problem(str(path), f"cannot be read as {what} ({type(err).__name__}: "
                                 f"{err}).", fix)]) from err
    try:
        return _decode_in_place(ds)
    except ValueError as err:  # an xdifferland_json_attrs attribute that is not our JSON
        ds.close()
        raise DataError([Problem(str(path), f"has corrupt JSON-encoded attributes ({err}).",
                                 f"remove or repair the attributes listed in {JSON_ATTRS!r}.")]
                        ) from err


def encode_attrs(ds: xr.Dataset) -> xr.Dataset:
    """Shallow copy of ``ds`` whose attributes NetCDF can store (unsafe ones as JSON).

    Examples
    --------
    >>> import xarray as xr
    >>> enc = encode_attrs(xr.Dataset(attrs={"flag": True, "name": "x"}))
    >>> enc.attrs
    {'flag': 'true', 'name': 'x', 'xdifferland_json_attrs': '["flag"]'}
    >>> decode_attrs(enc).attrs
    {'flag': True, 'name': 'x'}
    """
    out = ds.copy(deep=False)
    out.attrs = _encode(ds.attrs, "the Dataset")
    for name, var in out.variables.items():
        var.attrs = _encode(var.attrs, f"variable {name!r}")
    return out


def decode_attrs(ds: xr.Dataset) -> xr.Dataset:
    """Shallow copy of ``ds`` with attributes stored by :func:`encode_attrs` restored."""
    return _decode_in_place(ds.copy(deep=False))


# --- helpers ---------------------------------------------------------------------------------


def _cf_encoding(ds: xr.Dataset, requested: dict | None) -> dict:
    """CF on-disk encoding (float time, no fill on coordinates, char strings), then the caller's."""
    encoding = netcdf_encoding(ds)
    for name, enc in (requested or {}).items():
        encoding[name] = {**encoding.get(name, {}), **enc}
    return encoding


def _netcdf_safe(value) -> bool:
    """Whether NetCDF stores ``value`` as an attribute and reads back an equal value."""
    if isinstance(value, (bool, np.bool_)):
        return False  # netCDF4 refuses bool; h5netcdf stores an enum; neither reads back a bool
    if isinstance(value, (str, bytes)):
        return True
    if isinstance(value, (numbers.Integral, numbers.Real, np.integer, np.floating)):
        return True
    if isinstance(value, np.ndarray):
        return value.ndim <= 1 and value.size > 0 and value.dtype.kind in "iufU"
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(v, str) for v in value):
            return True
        return all(isinstance(v, (numbers.Real, np.integer, np.floating))
                   and not isinstance(v, (bool, np.bool_)) for v in value)
    return False


def _json_default(value):
    """Make NumPy values JSON-serialisable (json calls this for types it does not know)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _encode(attrs: dict, where: str) -> dict:
    out, encoded = {}, []
    for key, value in attrs.items():
        if key == JSON_ATTRS:
            continue  # rebuilt below; an old list would name attributes that may have changed
        if _netcdf_safe(value):
            out[key] = value
            continue
        try:
            out[key] = json.dumps(value, default=_json_default)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"attribute {key!r} of {where} ({type(value).__name__}) can be stored neither "
                f"in NetCDF nor as JSON: {err}"
            ) from err
        encoded.append(key)
    if encoded:
        out[JSON_ATTRS] = json.dumps(encoded)
    return out


def _decode(attrs: dict) -> dict:
    if JSON_ATTRS not in attrs:
        return attrs
    names = json.loads(attrs[JSON_ATTRS])
    return {k: (json.loads(v) if k in names else v) for k, v in attrs.items() if k != JSON_ATTRS}


def _decode_in_place(ds: xr.Dataset) -> xr.Dataset:
    ds.attrs = _decode(ds.attrs)
    for var in ds.variables.values():
        var.attrs = _decode(var.attrs)
    return ds


def _variable_length_strings(ds: xr.Dataset) -> xr.Dataset:
    """Fixed-width unicode arrays as object (variable-length) strings, for Zarr v3."""
    fixed = [name for name, var in ds.variables.items() if var.dtype.kind == "U"]
    coords = {n: ds[n].astype(object) for n in fixed if n in ds.coords}
    data = {n: ds[n].astype(object) for n in fixed if n not in ds.coords}
    return ds.assign_coords(coords).assign(data)
