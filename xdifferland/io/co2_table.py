"""The CO2 table of the published DifferLand global data: NOAA global monthly means (spec 1.1).

The reference calibration reads ``co2_mm_gl_01_23.csv`` (columns ``year, month, decimal,
average``; ``#`` comment lines allowed, as in NOAA's own file) and gives step ``i`` the ppm of row
``i`` of ``average``, the same for every pixel. Here rows are matched to the driver's months by
year and month, which is the same pairing when the table starts at the driver's first month.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, Problem

__all__ = ["CO2_FILE", "CO2_COLUMN", "find_co2_table", "co2_for_steps", "co2_table_text"]

CO2_FILE, CO2_COLUMN = "co2_mm_gl_01_23.csv", "average"
_COLUMNS = ("year", "month", "decimal", CO2_COLUMN)


def find_co2_table(directory: Path, co2_file: str | Path | None = None) -> Path | None:
    """The table to read: ``co2_file`` (relative to ``directory``), else ``co2_mm_gl_01_23.csv``
    or the folder's only ``co2_mm_gl_*.csv``; ``None`` when there is none."""
    if co2_file is not None:
        path = Path(co2_file) if Path(co2_file).is_absolute() else directory / co2_file
        return path if path.is_file() else None
    if (directory / CO2_FILE).is_file():
        return directory / CO2_FILE
    found = sorted(directory.glob("co2_mm_gl_*.csv"))
    if len(found) > 1:
        raise DataError([Problem("co2", f"{directory} holds several CO2 tables "
                                 f"({', '.join(p.name for p in found)}).",
                                 "pass co2_file= naming the one that goes with the driver")])
    return found[0] if found else None


def co2_for_steps(path: Path, n_steps: int, time: np.ndarray | None = None):
    """``(time, co2, first_row)``: the CO2 (float32 ppm) of each of ``n_steps`` monthly steps.

    With the driver's ``time`` the rows are those from the row of its first month (a warning
    when that is not row 0, where the reference would start); without it they are the first
    ``n_steps`` rows and ``time`` is their months, on the 15th.
    """
    try:
        table = pd.read_csv(path, comment="#")
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DataError([Problem(path.name, f"could not be read as CSV ({error}).",
                                 f"use NOAA's global monthly table ({', '.join(_COLUMNS)})")]
                        ) from error
    if CO2_COLUMN not in table.columns:
        raise DataError([Problem(path.name, f"has no column {CO2_COLUMN!r} (columns: "
                                 f"{', '.join(map(str, table.columns))}).",
                                 f"use NOAA's global monthly table ({', '.join(_COLUMNS)})")])
    dated = {"year", "month"} <= set(table.columns)
    first = 0
    if time is not None and dated:
        stamp = pd.Timestamp(str(time[0])[:10])  # datetime64 or cftime
        rows = np.flatnonzero((table["year"] == stamp.year) & (table["month"] == stamp.month))
        if rows.size == 0:
            raise DataError([Problem(path.name, f"has no row for {stamp.year}-"
                                     f"{stamp.month:02d}, the driver's first month.",
                                     "pass co2_file= naming a table that covers the driver's "
                                     "period")])
        first = int(rows[0])
        if first:
            warnings.warn(f"{path.name}: the driver starts at row {first} of the CO2 table; the "
                          "reference calibration pairs row i with step i (spec 1.1) and would "
                          "have used the first rows", stacklevel=3)
    if len(table) - first < n_steps:
        raise DataError([Problem(path.name, f"has {len(table) - first} rows from row {first}, "
                                 f"the driver {n_steps} steps.",
                                 "use a table that covers every step")])
    rows = table.iloc[first:first + n_steps]
    if time is None:
        if not dated:
            raise DataError([Problem(path.name, "has no year and month columns and the driver "
                                     "no time coordinate.", "add them (NOAA's layout)")])
        time = pd.to_datetime(pd.DataFrame({"year": rows["year"], "month": rows["month"],
                                            "day": 15})).to_numpy()
    return time, rows[CO2_COLUMN].to_numpy(np.float32), first


def co2_table_text(time: np.ndarray, co2: np.ndarray) -> str:
    """The table of a record, NOAA's columns: one row per step, ppm as float32 round-trips."""
    if np.issubdtype(np.asarray(time).dtype, np.datetime64):
        time = pd.DatetimeIndex(time)
    lines = [",".join(_COLUMNS)]
    for stamp, value in zip(time, np.asarray(co2, np.float32)):
        year, month = int(stamp.year), int(stamp.month)
        lines.append(f"{year},{month},{year + (month - 0.5) / 12:.3f},"
                     f"{np.format_float_positional(value, trim='-')}")
    return "\n".join(lines) + "\n"
