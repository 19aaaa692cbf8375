"""Data variables no declared variable took: listed by validation, with the role each may play.

A data variable whose name is neither a declared name nor an alias (``Lai_500m``, ``Evap``,
``sand_pct``) is silently left out of a fit. Validation therefore lists the numeric data
variables that share a dimension with the inputs found and that were not used (masks, bounds
and calendar variables such as ``DOY`` aside), and for each
suggests the declared variable it most likely is: by its ``standard_name``, by words of its name
or ``long_name`` that are a declared name or alias or begin a word of a declared ``long_name``
(``Evap`` → evapotranspiration), and only where its ``units`` convert to that variable's. Not
an error: the user decides with ``roles=``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import xarray as xr

from ..errors import Problem
from .declare import VARIABLES, Variable

__all__ = ["unused_notes", "unused_variables"]

# Words that say how something is stored, not what it is: they suggest nothing.
_WEAK = frozenset({"frac", "fraction", "fractions", "pct", "percent", "mean", "daily", "total",
                   "annual", "data", "value", "values", "the", "and", "of", "in", "air", "cover",
                   "surface", "flux", "rate", "per", "map", "max", "min", "std", "unc"})


# Calendar variables: the simulation reads the calendar from the time axis itself.
_CALENDAR = frozenset({"doy", "day_of_year", "dayofyear", "year", "month", "date",
                       "decimal_year", "days", "nodays"})


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z]+", str(text).lower()) if w and w not in _WEAK]


def _score(da: xr.DataArray, name: str, v: Variable) -> int:
    """How strongly ``name`` (with its attributes) looks like the declared variable ``v``."""
    if v.standard_name and da.attrs.get("standard_name") == v.standard_name:
        return 10
    words = _words(name) + _words(da.attrs.get("long_name", ""))
    spellings = {s.lower() for s in (v.name, *v.aliases)}
    described = _words(v.long_name) + _words(v.name)
    score = 0
    for w in words:
        if w in spellings:
            score += 3
        elif len(w) >= 4 and any(d.startswith(w) or (len(d) >= 4 and w.startswith(d))
                                 for d in described):
            score += 1
    return score


def _units_fit(da: xr.DataArray, v: Variable) -> bool:
    """Whether the data's units (if any) could be the declared variable's."""
    from .convert import _plan  # the conversion rules decide, not a second copy of them

    units = da.attrs.get("units")
    if units is None or str(units).strip() == "":
        return True
    return not isinstance(_plan(v, str(da.name), str(units), lambda: 1.0), Problem)


def _looks_like_input(ds: xr.Dataset, name: str, dims: set[str]) -> bool:
    da = ds[name]
    bounds = {str(ds[n].attrs.get("bounds")) for n in ds.variables}
    if name in bounds or da.dtype.kind not in "iuf" or da.ndim == 0:
        return False
    if "mask" in _words(name) or name.lower() in _CALENDAR:
        return False
    return not dims or bool(dims & {str(d) for d in da.dims})


def unused_variables(ds: xr.Dataset, found: Mapping[str, str]) -> dict[str, str | None]:
    """``{data_var: likely canonical name or None}`` for the data variables no declared one took.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({
    ...     "VPD": ("time", np.ones(3), {"units": "kPa"}),
    ...     "Lai_500m": ("time", np.ones(3), {"units": "m2 m-2"}),
    ...     "Evap": ("time", np.ones(3), {"units": "kg m-2 s-1"}),
    ...     "station_id": ((), 7),
    ... })
    >>> unused_variables(ds, {"vpd": "VPD"})
    {'Lai_500m': 'lai', 'Evap': 'et'}
    """
    used = set(found.values())
    dims = {str(d) for n in used if n in ds for d in ds[n].dims}
    free = [v for v in VARIABLES if v.name not in found]
    out: dict[str, str | None] = {}
    for name in map(str, ds.data_vars):
        if name in used or not _looks_like_input(ds, name, dims):
            continue
        da = ds[name]
        scored = [(_score(da, name, v), -i, v) for i, v in enumerate(free)]
        scored = [s for s in scored if s[0] > 0 and _units_fit(da, s[2])]
        out[name] = max(scored, key=lambda s: s[:2])[2].name if scored else None
    return out


def unused_notes(unused: Mapping[str, str | None]) -> list[str]:
    """The validation report's lines about unused data variables.

    Examples
    --------
    >>> for line in unused_notes({"Lai_500m": "lai", "flag": None}):
    ...     print(line)
    not used: 'Lai_500m', 'flag' (no declared variable has these names)
      if 'Lai_500m' is leaf area index, pass roles={'lai': 'Lai_500m'}
      if another is an input, pass roles={'<canonical name>': '<data variable>'} (names: xdifferland.contract.declare.VARIABLES)
    """
    if not unused:
        return []
    from .declare import variable

    lines = [f"not used: {', '.join(map(repr, unused))} (no declared variable has these names)"]
    for name, canonical in unused.items():
        if canonical is not None:
            lines.append(f"  if {name!r} is {variable(canonical).long_name}, pass "
                         f"roles={{{canonical!r}: {name!r}}}")
    if any(c is None for c in unused.values()):
        lines.append(f"  if {'another' if len(lines) > 1 else 'one'} is an input, pass "
                     "roles={'<canonical name>': '<data variable>'} (names: "
                     "xdifferland.contract.declare.VARIABLES)")
    return lines
