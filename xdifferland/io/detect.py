"""Which reader a data path needs, decided from its content rather than its name.

:func:`detect_format` tells a CARDAMOM site driver from a canonical (xdifferland / CF) NetCDF file
and from a Zarr store. It reads only the file's header (variable names and dimensions) with
netCDF4 (h5netcdf or scipy where netCDF4 is missing); no data are loaded.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import FileFormatError
from .cardamom import REQUIRED

__all__ = ["FORMATS", "classic_truncation", "detect_format", "netcdf_header"]

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
    truncated = classic_truncation(path)
    if truncated:
        raise NotDataError(truncated)
    try:
        return _header_netcdf4(path)
    except ImportError:
        pass
    try:
        return _header_h5netcdf(path) if magic == _HDF5 else _header_scipy(path)
    except ImportError as error:  # pragma: no cover - netCDF4 and h5netcdf are dependencies
        raise NotDataError(f"{path}: no NetCDF library to read it ({error})") from None


# netCDF-3 external types (nc_type) and their sizes in bytes.
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}
_STREAMING = (2**32 - 1, 2**64 - 1)


class _Header:
    """A big-endian reader over the header bytes of a netCDF-3 file (classic, 64-bit offset,
    CDF-5); runs off the end with EOFError."""

    def __init__(self, data: bytes, version: int):
        self.data, self.pos, self.version = data, 4, version

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise EOFError
        chunk, self.pos = self.data[self.pos:self.pos + n], self.pos + n
        return chunk

    def int(self, size: int = 4) -> int:
        return int.from_bytes(self.take(size), "big")

    def count(self) -> int:  # NON_NEG: 8 bytes in CDF-5
        return self.int(8 if self.version == 5 else 4)

    def name(self) -> None:
        n = self.count()
        self.take(n + (-n) % 4)

    def attributes(self) -> None:
        self.int()  # NC_ATTRIBUTE or ZERO (absent)
        for _ in range(self.count()):
            self.name()
            size = _TYPE_SIZES[self.int()]
            n = self.count() * size
            self.take(n + (-n) % 4)


def _expected_size(data: bytes) -> int:
    """Bytes a netCDF-3 file needs for the data its header describes."""
    h = _Header(data, data[3])
    numrecs = h.count()
    h.int()  # NC_DIMENSION or ZERO
    lengths = []
    for _ in range(h.count()):
        h.name()
        lengths.append(h.count())
    h.attributes()
    h.int()  # NC_VARIABLE or ZERO
    end, records = 0, []
    for _ in range(h.count()):
        h.name()
        dims = [h.count() for _ in range(h.count())]
        h.attributes()
        size = _TYPE_SIZES[h.int()]
        vsize = h.count()
        begin = h.int(4 if h.version == 1 else 8)
        shape = [lengths[d] for d in dims]
        if shape and shape[0] == 0:  # a record variable: one slab per record
            per_record = size
            for n in shape[1:]:
                per_record *= n
            records.append((begin, vsize, per_record))
        else:
            nbytes = size
            for n in shape:
                nbytes *= n
            end = max(end, begin + nbytes)
    if records and numrecs not in _STREAMING and numrecs > 0:
        # The record size is the sum of the record variables' padded slabs (unpadded when
        # there is only one).
        record_size = records[0][2] if len(records) == 1 else sum(v for _, v, _ in records)
        end = max(end, *(b + (numrecs - 1) * record_size + n for b, _, n in records))
    return end


def classic_truncation(path: str | Path) -> str | None:
    """Why a netCDF-3 file is shorter than its header says (an interrupted download or copy),
    or None (complete, or not netCDF-3, or a header this check cannot read).

    netCDF-3 libraries read the missing bytes of a truncated file as zeros or fill values
    without an error; HDF5-based netCDF-4 files fail to open instead, so they need no check.
    Only the header is read.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as handle:
        data = handle.read(min(size, 1 << 20))
    if data[:4] not in _CLASSIC:
        return None
    try:
        expected = _expected_size(data)
    except EOFError:
        if size > len(data):
            return None  # a header beyond the first MiB: not checked
        return (f"{path} is truncated: the file ends ({size} bytes) inside its own netCDF-3 "
                "header")
    except (KeyError, IndexError):
        return None  # not a header this check understands: the netCDF library will say
    if size < expected:
        return (f"{path} is truncated: its netCDF-3 header describes {expected} bytes of data "
                f"but the file has {size} (an interrupted download or copy?); the missing "
                "values would read as zeros")
    return None


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
