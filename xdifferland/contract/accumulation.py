"""Totals per time step (ERA5 accumulations) read as rates, using the data's time step.

ERA5 writes precipitation ``tp`` in metres and radiation ``ssrd`` in J m-2: the amount that fell
or arrived during one time step, not a rate. Such units lack one ``time`` in the denominator
compared with the canonical rate (``mm/day``, ``MJ/m**2/day``). They are read as rates by
dividing by the length of a time step, taken from the variable's time coordinate when every step
has the same length; otherwise the step is unknown and the units must state the rate.
"""

from __future__ import annotations

import numpy as np
import pint
import xarray as xr

from ..errors import DataError, Problem
from .axes import find_axes

__all__ = ["is_total_per_step", "step_problem", "time_step"]

_SECONDS_PER_DAY = 86400.0


def is_total_per_step(source: pint.Quantity, target: pint.Unit, converts) -> bool:
    """Whether ``source`` per day would convert to ``target`` (``converts(q, target)``)."""
    try:
        return bool(converts(source / type(source)(1.0, "day"), target))
    except pint.errors.PintError:
        return False


def time_step(ds: xr.Dataset, data_name: str, ureg: pint.UnitRegistry) -> pint.Quantity | None:
    """The length of one time step of ``ds[data_name]`` if all steps are equal, else None.

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> from xdifferland.contract.convert import UREG
    >>> ds = xr.Dataset({"tp": ("valid_time", [0.0, 0.0, 0.0])},
    ...                 coords={"valid_time": pd.date_range("2001-01-01", periods=3, freq="6h")})
    >>> time_step(ds, "tp", UREG)
    <Quantity(0.25, 'day')>
    """
    try:
        time = find_axes(ds[[data_name]]).time
    except DataError:
        return None
    if time is None or time not in ds[data_name].dims or time not in ds.coords:
        return None
    values = ds[time].values
    if values.size < 2:
        return None
    steps = np.diff(values)
    if steps.dtype.kind == "m":
        seconds = steps.astype("timedelta64[ms]").astype(np.float64) / 1000.0
    elif steps.dtype.kind == "O" and all(hasattr(s, "total_seconds") for s in steps):  # cftime
        seconds = np.array([s.total_seconds() for s in steps], dtype=np.float64)
    else:
        return None
    if seconds[0] <= 0 or not np.all(seconds == seconds[0]):
        return None
    return ureg.Quantity(float(seconds[0]) / _SECONDS_PER_DAY, "day")


def step_problem(canonical: str, data_name: str, units: str, target: str) -> Problem:
    """The error for a total per step whose step length is unknown."""
    return Problem(
        canonical,
        f"units {units!r} (in {data_name!r}) are a total per time step (as ERA5's tp in m or "
        f"ssrd in J m-2), not a rate in {target}, and the step length is unknown: "
        f"{data_name!r} has no time coordinate with equal steps.",
        f"set ds[{data_name!r}].attrs['units'] to the rate, e.g. '{units} d-1' if the values "
        f"are daily totals, or give {data_name!r} a time coordinate with equal steps.")
