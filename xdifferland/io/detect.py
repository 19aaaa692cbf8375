"""Which reader a data path needs, decided from its content rather than its name.

:func:`detect_format` tells a CARDAMOM site driver from a canonical (xdifferland / CF) NetCDF file
and from a Zarr store. It reads only the file's header (variable names and dimensions) with
netCDF4 (h5netcdf or scipy where netCDF4 is missing); no data are loaded.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import FileFormatError
from .cardamom import REQUIRED

__all__ = ["FORMATS", "detect_format", "netcdf_header"]

#: What :func:`detect_format` answers.
FORMATS = ("cardamom", "netcdf", "zarr")

#: Files that mark a folder as a Zarr store (v2 group/array/attributes, v3 metadata).
ZARR_MARKERS = (".zgroup", ".zarray", ".zattrs", ".zmetadata", "zarr.json")

# Fields only the CARDAMOM Fortran/C code writes: a file holding one of them is a site driver
# even if a required forcing is missing (the reader then names what is missing).
_CARDAMOM_ONLY = ("PARPRIORS", "PARPRIORUNC", "OTHERPRIORS", "OTHERPRIORSUNC", "MCMCID",
                  "EDCDIAG", "nodays")

_CLASSIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05")  # netCDF-3 classic, 64-bit offset, CDF-5
_HDF5 = b"\x89HDF\r\n\x1a\n"


class NotDataError(FileFormatError):
    """A path that is neither a NetCDF file nor a Zarr store."""


def detect_format(path: str | Path) -> str:
    """``"cardamom"``, ``"netcdf"`` or ``"zarr"``: how to read one file or store.

    A CARDAMOM site driver is a NetCDF file with a ``time`` variable and the reader's required
    fields (:data:`xdifferland.io.cardamom.REQUIRED`: ``T2M_MIN``, ..., ``LAT``) on no other
    dimension than the time axis and CARDAMOM's own (``nopars``) - or with one of CARDAMOM's
    bookkeeping fields (``PARPRIORS``, ``MCMCID``, ...). Any other NetCDF file is ``"netcdf"``;
    a folder with Zarr metadata is ``"zarr"``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    NotDataError
        (a ValueError) If it is a folder without Zarr metadata, or a file that is not NetCDF.

    Examples
    --------
    >>> detect_format("../shared/data/fluxnet_sites/US-Ha1.nc")
    'cardamom'
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"not found: {path}")
    if path.is_dir():
        if is_zarr_store(path):
            return "zarr"
        raise NotDataError(f"{path} is a folder without Zarr metadata "
                           f"({', '.join(ZARR_MARKERS)}), not a Zarr store")
    header = netcdf_header(path)
    return "cardamom" if _is_cardamom(header) else "netcdf"


def is_zarr_store(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding Zarr metadata."""
    path = Path(path)
    return path.is_dir() and any((path / name).exists() for name in ZARR_MARKERS)


def netcdf_header(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Variable name -> dimension names of a NetCDF file, read from its header only.

    Raises
    ------
    NotDataError
        If the file is not NetCDF (classic or netCDF-4/HDF5) or cannot be opened as such.
    """
    path = Path(path)
    with path.open("rb") as handle:
        magic = handle.read(8)
    if magic[:4] not in _CLASSIC and magic != _HDF5:
        raise NotDataError(f"{path} is not a NetCDF file (nor a Zarr store)")
    try:
        return _header_netcdf4(path)
    except ImportError:
        pass
    try:
        return _header_h5netcdf(path) if magic == _HDF5 else _header_scipy(path)
    except ImportError as error:  # pragma: no cover - netCDF4 and h5netcdf are dependencies
        raise NotDataError(f"{path}: no NetCDF library to read it ({error})") from None


def _header_netcdf4(path: Path) -> dict[str, tuple[str, ...]]:
    import netCDF4

    try:
        with netCDF4.Dataset(path, "r") as nc:
            return {name: tuple(var.dimensions) for name, var in nc.variables.items()}
    except OSError as error:
        raise NotDataError(f"{path} could not be read as NetCDF: {error}") from None


def _header_h5netcdf(path: Path) -> dict[str, tuple[str, ...]]:
    import h5netcdf

    try:
        with h5netcdf.File(path, "r") as nc:
            return {name: tuple(var.dimensions) for name, var in nc.variables.items()}
    except (OSError, ValueError) as error:
        raise NotDataError(f"{path} could not be read as NetCDF: {error}") from None


def _header_scipy(path: Path) -> dict[str, tuple[str, ...]]:
    from scipy.io import netcdf_file

    try:
        with netcdf_file(path, "r", mmap=False) as nc:
            return {name: tuple(var.dimensions) for name, var in nc.variables.items()}
    except (OSError, ValueError, TypeError) as error:
        raise NotDataError(f"{path} could not be read as NetCDF: {error}") from None


def _is_cardamom(header: dict[str, tuple[str, ...]]) -> bool:
    if any(name in header for name in _CARDAMOM_ONLY):
        return True
    if "time" not in header or any(name not in header for name in REQUIRED):
        return False
    # Site drivers hold series over time alone (LAT is a scalar); gridded or site-list files
    # with CARDAMOM-named variables have further dimensions and are read as NetCDF.
    time_dim = header["time"][0] if header["time"] else "time"
    return all(set(header[name]) <= {time_dim} for name in REQUIRED)
