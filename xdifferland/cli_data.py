"""Data arguments of the command line and of ``[data]`` tables: paths, format, reader options.

A data path is a file, a folder or a glob (expanded here, so quoted globs work too). Its format
is detected from the content (:func:`xdifferland.io.detect.detect_format`) unless given:

* **CARDAMOM site drivers** (one file per site, a folder of them or a glob) are read with
  :func:`xdifferland.io.open_cardamom_sites` and prepared for fitting with
  :func:`xdifferland.experiments.prepare_sites`, exactly as in Python: -9999 fill values become
  NaN, records are aligned (``align``), NaN-padded at the end (``pad``) and cut to the steps on
  which every site has its forcing, ET / NBE become ``et_ec`` / ``nee``, IGBP classes from the
  site table (``coords_file``) become one-hot PFT predictors;
* **NetCDF** files (or a folder of them) and **Zarr** stores are opened with xarray; several are
  combined by coordinates.

``xdifferland fit`` (through :mod:`xdifferland.runconfig`) and ``validate``, ``simulate`` and
``evaluate`` (through :func:`open_cli_data`) read data only here.
"""

from __future__ import annotations

import argparse
import glob
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["FORMATS", "READER_OPTIONS", "DataArgumentError", "add_data_options",
           "describe", "expand_paths", "open_cli_data", "open_resolved", "resolve_data"]

#: Values of ``--format`` and ``[data] format``.
FORMATS = ("auto", "netcdf", "zarr", "cardamom", "differland-global")
#: Options of the CARDAMOM site reader accepted in ``[data]``, with their defaults (``sites``:
#: all the paths name).
READER_OPTIONS: dict[str, object] = {"align": "step", "pad": True,
                                     "coords_file": "site_coords.csv", "sites": None}
_ALIGNS = ("step", "calendar")
_SPELL_TOML: Callable[[str], str] = lambda name: f"[data] {name}"  # noqa: E731


class DataArgumentError(ValueError):
    """Data paths or reader options that cannot be read as asked (the message says why)."""


# --- command line --------------------------------------------------------------------------------

def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--role``, ``--format`` and the site reader's ``--align`` and ``--coords-file``."""
    parser.add_argument("--role", action="append", default=[], metavar="NAME=VARIABLE",
                        help="use VARIABLE of the data as canonical variable NAME (repeatable)")
    parser.add_argument("--format", default="auto", choices=FORMATS,
                        help="how to read DATA (default: detected from the content: CARDAMOM "
                             "site files, NetCDF or Zarr)")
    parser.add_argument("--align", default=None, choices=_ALIGNS,
                        help="CARDAMOM sites: line records up by step (default) or by calendar "
                             "date")
    parser.add_argument("--coords-file", default=None, metavar="CSV",
                        help="CARDAMOM sites: site table with the static predictors (default: "
                             "site_coords.csv next to the site files; a relative path is taken "
                             "from their folder); 'none' reads the files without it")


def open_cli_data(args: argparse.Namespace, *, predictors: Sequence[str] = ()):
    """The Dataset the ``DATA`` arguments of ``validate``, ``simulate`` or ``evaluate`` name.

    ``predictors`` are those of the model the data go to: CARDAMOM sites get a (zero) one-hot
    column for every PFT the model knows, also where none of these sites has that class.
    """
    from .pipeline import Step

    paths = expand_paths(list(args.data), Path.cwd(), label="DATA")
    options: dict = {}
    if args.align is not None:
        options["align"] = args.align
    if args.coords_file is not None:
        options["coords_file"] = (False if args.coords_file.lower() == "none"
                                  else args.coords_file)
    data = resolve_data(paths, args.format, options,
                        spell=lambda name: f"--{name.replace('_', '-')}")
    with Step(f"opening {describe(data)}"):
        return open_resolved(data, predictors=predictors)


# --- paths and formats ---------------------------------------------------------------------------

def expand_paths(patterns: Sequence[str], base: Path, *, label: str = "[data] paths") -> list[str]:
    """Existing absolute paths of files, folders or globs (relative ones taken from ``base``).

    Raises FileNotFoundError if a pattern matches nothing, DataArgumentError if none is given.
    """
    if not patterns:
        raise DataArgumentError(f"{label} is empty; give at least one file, folder or glob")
    found: list[str] = []
    for pattern in patterns:
        full = Path(os.path.expanduser(pattern))
        full = full if full.is_absolute() else base / full
        matches = sorted(glob.glob(str(full))) if glob.has_magic(str(full)) else (
            [str(full)] if full.exists() else [])
        if not matches:
            raise FileNotFoundError(f"{label}: nothing matches {pattern!r} (looked in "
                                    f"{full.parent})")
        found.extend(str(Path(m).resolve()) for m in matches)
    return list(dict.fromkeys(found))


def resolve_data(paths: Sequence[str], fmt: str = "auto", options: Mapping | None = None, *,
                 spell: Callable[[str], str] = _SPELL_TOML) -> dict:
    """The resolved ``[data]`` entries of existing ``paths``: format and reader options.

    ``fmt="auto"`` detects the format of every path from its content; folders of NetCDF files
    are replaced by their ``*.nc`` files. For CARDAMOM data the reader options are checked and
    completed with their defaults (:data:`READER_OPTIONS`); for other formats giving one is an
    error. ``spell`` says how messages name an option (``[data] align`` or ``--align``).
    """
    from .io.detect import NotDataError, detect_format, is_zarr_store
    from .io.differland_global import DRIVER_FILE

    options = dict(options or {})
    if fmt not in FORMATS:
        raise DataArgumentError(f"{spell('format')} = {fmt!r}: allowed values are "
                                f"{', '.join(map(repr, FORMATS))}")
    kinds: dict[str, str] = {}  # path -> format, folders of NetCDF files replaced by the files
    for path in map(Path, paths):
        if fmt == "differland-global" or (fmt == "auto" and (path / DRIVER_FILE).is_file()):
            kinds[str(path)] = "differland-global"  # a folder in the published global layout
        elif fmt == "zarr" or (fmt == "auto" and is_zarr_store(path)):
            kinds[str(path)] = "zarr"
        elif path.is_dir() and fmt != "cardamom":
            files = sorted(path.glob("*.nc"))
            if not files:
                if path.name.endswith(".zarr"):
                    kinds[str(path)] = "zarr"  # let the Zarr reader say what is wrong
                    continue
                raise DataArgumentError(f"{path} is a folder with no NetCDF files (*.nc) and no "
                                        "Zarr metadata")
            found = {str(f): "netcdf" if fmt == "netcdf" else _detect(f) for f in files}
            if set(found.values()) == {"cardamom"}:
                kinds[str(path)] = "cardamom"  # the folder, read as Python reads it
            else:
                kinds.update(found)
        elif fmt == "auto":
            try:
                kinds[str(path)] = detect_format(path)
            except NotDataError as error:
                raise DataArgumentError("; ".join(f"{p.message} Fix: {p.fix}"
                                                  for p in error.problems)) from None
        else:
            kinds[str(path)] = fmt
    formats = sorted(set(kinds.values()))
    if len(formats) > 1:
        listing = "; ".join(f"{k}: {', '.join(Path(p).name for p, f in kinds.items() if f == k)}"
                            for k in formats)
        raise DataArgumentError(f"the data paths mix formats ({listing}); give files of one "
                                f"format, or set it with {spell('format')}")
    data: dict = {"paths": list(kinds), "format": formats[0]}
    if data["format"] == "cardamom":
        data.update(_site_options(options, spell))
        _site_folder(data, spell)  # one folder, sites listed in its site table
    elif data["format"] == "differland-global" and (len(kinds) > 1 or not Path(paths[0]).is_dir()):
        raise DataArgumentError("the DifferLand global layout is read from one folder (holding "
                                f"{DRIVER_FILE} and the files beside it); give that folder")
    elif options:
        raise DataArgumentError(
            f"{', '.join(spell(k) for k in options)}: option(s) of the CARDAMOM site reader, but "
            f"the data paths are read as {data['format']}")
    return data


def _detect(path: Path) -> str:
    from .io.detect import NotDataError, detect_format

    try:
        return detect_format(path)
    except NotDataError as error:
        raise DataArgumentError(str(error)) from None


def _site_options(options: Mapping, spell) -> dict:
    """The reader options checked, with their defaults filled in."""
    unknown = [k for k in options if k not in READER_OPTIONS]
    if unknown:
        raise DataArgumentError(f"unknown CARDAMOM reader option(s) {', '.join(unknown)}; "
                                f"allowed: {', '.join(READER_OPTIONS)}")
    out = {k: v for k, v in READER_OPTIONS.items() if v is not None} | dict(options)
    if out["align"] not in _ALIGNS:
        raise DataArgumentError(f"{spell('align')} = {out['align']!r}: allowed values are "
                                f"{', '.join(map(repr, _ALIGNS))}")
    if not isinstance(out["pad"], bool):
        raise DataArgumentError(f"{spell('pad')} = {out['pad']!r}: expected true or false")
    coords = out["coords_file"]
    if coords is not False and not (isinstance(coords, str) and coords):
        raise DataArgumentError(f"{spell('coords_file')} = {coords!r}: expected the file name "
                                "of the site table, or false to read the site files without it")
    if "sites" in out:
        sites = [out["sites"]] if isinstance(out["sites"], str) else out["sites"]
        if not (isinstance(sites, list) and sites and all(isinstance(s, str) for s in sites)):
            raise DataArgumentError(f"{spell('sites')} = {out['sites']!r}: expected a list of "
                                    "site identifiers (file names without .nc)")
        out["sites"] = list(sites)
    return out


def _site_folder(data: dict, spell) -> tuple[Path, list[str] | None]:
    """The folder and the sites (None: all its files) the CARDAMOM paths of ``data`` name."""
    paths = [Path(p) for p in data["paths"]]
    folders = sorted({str(p if p.is_dir() else p.parent) for p in paths})
    if len(folders) > 1:
        raise DataArgumentError(
            "CARDAMOM site files are read one folder at a time (with its site table), but the "
            f"data paths lie in {len(folders)} folders ({', '.join(folders)}); give the files "
            "of one folder")
    folder = Path(folders[0])
    named = None if any(p.is_dir() for p in paths) else [p.stem for p in paths]
    sites = data.get("sites")
    if sites is not None:
        available = named if named is not None else [f.stem for f in sorted(folder.glob("*.nc"))]
        missing = [s for s in sites if s not in available]
        if missing:
            raise DataArgumentError(
                f"{spell('sites')}: {', '.join(missing)} not among the site files the paths "
                f"name ({', '.join(available) or 'none'})")
        named = list(sites)
    coords = data["coords_file"]
    if coords is not False:
        table = folder / coords
        if not table.is_file():
            raise FileNotFoundError(
                f"site table {table} not found (it gives each site's static predictors and IGBP "
                f"class); name it with {spell('coords_file')}, or read the site files without it "
                "([data] coords_file = false; on the command line --coords-file none)")
        from .io import read_site_coords

        listed = set(map(str, read_site_coords(table).site.values))
        wanted = named if named is not None else [f.stem for f in sorted(folder.glob("*.nc"))]
        absent = [s for s in wanted if s not in listed]
        if absent:
            raise DataArgumentError(f"site(s) {', '.join(absent)} not listed in the site table "
                                    f"{table}; add them there, or leave them out of the data "
                                    "paths")
    return folder, named


def describe(data: Mapping) -> str:
    """A short description of resolved data, for progress messages."""
    paths = data["paths"]
    if data["format"] == "cardamom":
        folder, named = _site_folder(dict(data), _SPELL_TOML)
        count = len(named) if named is not None else len(list(folder.glob("*.nc")))
        return (f"{count} CARDAMOM site file{'s' * (count != 1)} in {folder} "
                f"(align={data['align']})")
    return ", ".join(paths)


# --- opening -------------------------------------------------------------------------------------

def open_resolved(data: Mapping, *, predictors: Sequence[str] = ()):
    """Open resolved ``[data]`` entries (:func:`resolve_data`) as one Dataset.

    CARDAMOM sites: :func:`xdifferland.experiments.prepare_sites`, adding the zero one-hot PFT
    columns of ``predictors`` (a model's) that these sites lack. Otherwise xarray, with
    attributes decoded (:func:`xdifferland.io.decode_attrs`).
    """
    import xarray as xr

    from .errors import DataError, FileFormatError
    from .io import decode_attrs

    paths = list(data["paths"])
    for p in paths:
        if not Path(p).exists():
            raise FileNotFoundError(f"data not found: {p}")
    if data["format"] == "cardamom":
        return _open_sites(data, predictors)
    if data["format"] == "differland-global":
        from .io import open_differland_global

        return open_differland_global(paths[0])
    engine = "zarr" if data["format"] == "zarr" else None
    if engine is None:
        from .io.detect import classic_truncation

        for p in paths:  # netCDF-3 libraries read a truncated file's missing values as zeros
            truncated = classic_truncation(p) if Path(p).is_file() else None
            if truncated:
                raise FileFormatError(truncated.removeprefix(f"{p} "), path=p)
    try:
        if len(paths) == 1:
            ds = xr.open_dataset(paths[0], engine=engine)
        else:
            ds = xr.open_mfdataset(paths, engine=engine, combine="by_coords")
    except (OSError, ValueError, KeyError, TypeError) as error:  # truncated, empty, not ours
        missing = isinstance(error, FileNotFoundError) and not any(Path(p).exists() for p in paths)
        if missing or isinstance(error, DataError):
            raise
        raise FileFormatError(f"{', '.join(map(str, paths))} could not be read as "
                              f"{data['format']} data ({type(error).__name__}: {error})",
                              path=paths[0]) from None
    return decode_attrs(ds)


def _open_sites(data: Mapping, predictors: Sequence[str]):
    from .experiments.sites import prepare_sites
    from .contract.declare import PREDICTOR_GROUPS

    folder, sites = _site_folder(dict(data), _SPELL_TOML)
    coords = data.get("coords_file", READER_OPTIONS["coords_file"])
    pfts = [p for p in predictors if p in PREDICTOR_GROUPS["PFT"]]
    try:
        return prepare_sites(folder, sites, align=data.get("align", "step"),
                             pad=data.get("pad", True),
                             coords_file=None if coords is False else coords, pfts=pfts)
    except ValueError as error:
        if "share no step" in str(error):
            raise DataArgumentError(f"{error} (align = \"step\" in [data], or --align step)"
                                    ) from None
        raise
