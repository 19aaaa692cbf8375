"""Bounded, pickle-free reading of ``.npz`` archives.

``numpy.load`` allocates each array from the shape its ``.npy`` header declares before reading
any data, and ``.npz`` members may be zip-compressed: a 1 MB file can claim gigabytes. An
:class:`Archive` therefore learns every member's size (zip directory), dtype and shape (``.npy``
header; a few hundred bytes decompressed each) when it opens, refuses what cannot be a
legitimate xdifferland file, and reads array data only when asked, after the caller has compared
the declared shapes with the expected ones.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelFileError

__all__ = ["Archive", "Member", "MAX_EXPANSION", "MAX_MEMBERS", "MAX_METADATA_BYTES",
           "SIZE_SLACK"]

#: The JSON metadata member may not exceed this (a long training history is a few MB).
MAX_METADATA_BYTES = 64 * 2**20
#: More members than a network of any sensible depth has weights, averages and optimizer leaves.
MAX_MEMBERS = 10_000
#: Uncompressed bytes a file may declare beyond ``MAX_EXPANSION`` times its size on disk. Our
#: files are stored uncompressed (ratio 1); float weights re-saved compressed shrink little.
SIZE_SLACK = 64 * 2**20
MAX_EXPANSION = 16
#: dtype kinds an array may have: floats, integers (optimizer step counts), booleans.
_KINDS = "fiub"
# Errors zipfile, zlib and numpy raise on damaged data.
_DAMAGED = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            RuntimeError)


@dataclass(frozen=True)
class Member:
    """What one ``.npy`` member declares, read from its header alone."""

    name: str  #: without the ``.npy`` suffix
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    info: zipfile.ZipInfo

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


class Archive:
    """An open ``.npz`` file whose members are known but not yet read.

    Parameters
    ----------
    path : path-like
        The file.
    metadata_key : str
        Member holding the JSON metadata as ``uint8`` bytes.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        Not a zip of ``.npy`` members, damaged headers, object (pickle) or non-numeric arrays,
        sizes that do not add up, more declared data than the file can hold, missing or
        unreadable metadata.
    """

    def __init__(self, path: str | os.PathLike, metadata_key: str):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no model file at {self.path}")
        try:
            self._zip = zipfile.ZipFile(self.path)
        except _DAMAGED as error:
            raise self._error(f"is not a readable xdifferland file ({error}); it may be "
                              "truncated or corrupted") from None
        try:
            self.members = self._inspect()
            meta = self.members.pop(metadata_key, None)
            if meta is None:
                raise ModelFileError(f"{self.path} has no xdifferland metadata; was it written "
                                     "by DifferLandModel.save()?")
            self.metadata = self._read_metadata(meta)
        except BaseException:
            self._zip.close()
            raise

    def _error(self, what: str) -> ModelFileError:
        return ModelFileError(f"{self.path} {what}: re-save it from the fitted model "
                              "(DifferLandModel.save) or fit it again")

    def _inspect(self) -> dict[str, Member]:
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise self._error(f"has {len(infos)} members, more than any model file")
        # Judged from the zip directory alone, before anything is decompressed.
        declared, on_disk = sum(i.file_size for i in infos), self.path.stat().st_size
        if declared > SIZE_SLACK + MAX_EXPANSION * on_disk:
            raise self._error(f"declares {_mib(declared)} of arrays but is only "
                              f"{_mib(on_disk)} on disk; it was crafted or corrupted (do not "
                              "load it)")
        members: dict[str, Member] = {}
        for info in infos:
            if not info.filename.endswith(".npy") or info.is_dir():
                raise self._error(f"holds {info.filename!r}, which is not a .npy array; it is "
                                  "not an xdifferland file")
            name = info.filename[:-4]
            if name in members:
                raise self._error(f"holds the array {name!r} twice")
            members[name] = self._header(name, info)
        return members

    def _header(self, name: str, info: zipfile.ZipInfo) -> Member:
        """Dtype and shape from the member's ``.npy`` header, checked against its zip size."""
        try:
            with self._zip.open(info) as stream:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
                else:
                    raise ValueError(f".npy format version {version} is not supported")
                offset = stream.tell()
        except _DAMAGED as error:
            raise self._error(f"has a damaged array header for {name!r} ({error})") from None
        if dtype.hasobject:
            raise self._error(f"holds {name!r} as Python objects (a pickle), which xdifferland "
                              "never writes and will not load; it is not a safe model file")
        if dtype.kind not in _KINDS or dtype.fields is not None:
            raise self._error(f"holds {name!r} with dtype {dtype}, not numbers")
        if any(n < 0 for n in shape):
            raise self._error(f"has {name!r} declaring the impossible shape {shape}")
        member = Member(name, dtype, tuple(int(n) for n in shape), bool(fortran), info)
        if offset + member.nbytes != info.file_size:
            raise self._error(
                f"has {name!r} declaring shape {member.shape} of {dtype} ({_mib(member.nbytes)}) "
                f"but holding {_mib(info.file_size - offset)}; it was crafted or truncated")
        return member

    def _read_metadata(self, member: Member) -> dict:
        if member.dtype != np.uint8 or len(member.shape) != 1:
            raise self._error("has corrupted metadata (not a byte string)")
        if member.nbytes > MAX_METADATA_BYTES:
            raise self._error(f"has {_mib(member.nbytes)} of metadata, more than any model file "
                              f"({_mib(MAX_METADATA_BYTES)} at most)")
        try:
            meta = json.loads(self._read(member).tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise self._error("has corrupted metadata (not JSON)") from None
        if not isinstance(meta, dict):
            raise self._error("has corrupted metadata (not a JSON object)")
        return meta

    def _read(self, member: Member) -> np.ndarray:
        try:
            with self._zip.open(member.info) as stream:
                return np.lib.format.read_array(stream, allow_pickle=False)
        except _DAMAGED as error:
            raise self._error(f"has damaged data in {member.name!r} ({error}); it may be "
                              "truncated or corrupted") from None

    def read(self, name: str) -> np.ndarray:
        """The array ``name``; its size is bounded by what :meth:`__init__` checked."""
        return self._read(self.members[name])

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
