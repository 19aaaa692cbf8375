"""Likely causes of implausible values: a mislabelled unit, a flipped sign, swapped coordinates.

Values outside a variable's plausible range (:mod:`xdifferland.contract.declare`) are usually not
weather but a mistake with a recognisable signature: temperatures of 270 to 310 "degC" are Kelvin,
"MJ m-2 d-1" of 50 to 350 are W m-2, a CO2 "in ppm" of 0.0004 is a mole fraction. The functions
here are pure: given what was found, they name the likely cause and what to do, or return None.
They only guess; :mod:`xdifferland.contract.plausibility` reports the values either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pint

from .convert import UREG, WATER_DENSITY, parse_units
from .declare import variable

__all__ = ["Cause", "coordinate_cause", "find_cause", "likely_cause", "rescalings",
           "units_cause"]

# Units a variable is often given in by mistake, by canonical units; tried in order. A candidate
# is the likely cause when it alone brings every observed value into the plausible range.
_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "degC": ("K", "degC", "degF"),
    "MJ/m**2/day": ("W m-2", "MJ m-2 d-1", "J m-2 d-1", "kJ m-2 d-1"),
    "ppm": ("mol mol-1", "ppm", "1e-9"),
    "kPa": ("hPa", "Pa", "kPa"),
    "mm/day": ("mm d-1", "kg m-2 s-1", "mm h-1", "m d-1", "mm month-1"),
    "mm/year": ("mm yr-1", "m yr-1", "mm d-1"),
    "dimensionless": ("%", "1"),
    "m": ("m", "km", "ft"),
    "g/cm**3": ("cg cm-3", "kg m-3", "g cm-3"),  # SoilGrids stores cg cm-3
    "g/m**2/day": ("g m-2 d-1", "g m-2 yr-1", "g m-2 s-1"),
    "mm": ("mm", "cm", "m"),
}
# How units are named in a hint, where the plain spelling is not what people call them.
_NAMES = {"K": "Kelvin", "degC": "°C", "degF": "°F", "1e-9": "ppb (1e-9)", "1": "a fraction"}
# Negative values this close to zero are round-off (reanalysis, gap filling), not a sign error.
_ROUND_OFF = 0.01


@dataclass(frozen=True)
class Cause:
    """A likely cause of implausible values and what to do about it.

    Examples
    --------
    >>> str(Cause("looks like Kelvin labelled °C", "set units='K'", "K"))
    "looks like Kelvin labelled °C: set units='K'"
    """

    what: str  #: the diagnosis, e.g. "looks like Kelvin labelled °C"
    action: str  #: what to do, e.g. "set units='K'"
    units: str | None = None  #: the units to declare, when the cause is a units mix-up

    def __str__(self) -> str:
        return f"{self.what}: {self.action}"


def _quantity(units: str) -> pint.Quantity | None:
    try:
        return parse_units(units)
    except ValueError:
        return None


def _same(a: pint.Quantity, b: pint.Quantity) -> bool:
    return a.units == b.units and a.magnitude == b.magnitude


def _name(units: str) -> str:
    """How to call ``units`` in a hint: a common name, else its CF spelling, else as written."""
    spellings = [u for alts in _ALTERNATIVES.values() for u in alts]
    if units in _NAMES or units in spellings:
        return _NAMES.get(units, units)
    q = _quantity(units)
    if q is not None:
        for known in (*_NAMES, *spellings):
            other = _quantity(known)
            if other is not None and _same(q, other):
                return _NAMES.get(known, known)
    return units


def _convert(value: float, source: pint.Quantity, target: pint.Quantity,
             water: bool) -> float | None:
    """``value`` in ``source`` units expressed in ``target`` units (None: not convertible)."""
    try:
        # Built, not multiplied: multiplying an offset unit (degC) is ambiguous to pint.
        q = UREG.Quantity(value * source.magnitude, source.units)
        if not q.is_compatible_with(target.units) and water:
            depth = q / WATER_DENSITY
            q = depth if depth.is_compatible_with(target.units) else q * WATER_DENSITY
        return float(q.to(target.units).magnitude) / float(target.magnitude)
    except (pint.errors.PintError, TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None


def _inside(low: float, high: float, plausible: tuple[float | None, float | None]) -> bool:
    lo, hi = plausible
    return (lo is None or low >= lo) and (hi is None or high <= hi)


def find_cause(name: str, units: str | None, low: float, high: float, *, share: float = 1.0,
               plausible: tuple[float | None, float | None] | None = None) -> Cause | None:
    """The likely cause of values of ``name`` outside their plausible range, or None.

    Parameters
    ----------
    name : str
        A declared variable (canonical name or alias).
    units : str or None
        Its units as declared in the data (None: none declared, taken as canonical).
    low, high : float
        The observed finite minimum and maximum, *after* conversion to canonical units.
    share : float, default 1.0
        Share of the non-zero values that lie outside the range. A mislabelled unit moves every
        value (though small ones may stay plausible), so one is only suggested when at least a
        tenth are outside: a few outliers are bad values, not bad units.
    plausible : (low, high), optional
        The range to judge by (default: the table's).

    Examples
    --------
    >>> find_cause("t_min", "degC", 270.0, 305.0).units
    'K'
    >>> find_cause("precipitation", "mm/day", -0.003, 12.0).what
    'tiny negative values (down to -0.003), typical of round-off in reanalysis or gap filling'
    """
    v = variable(name)
    plausible = v.plausible_range if plausible is None else plausible
    if not all(map(math.isfinite, (low, high))):
        return None
    canonical, declared = _quantity(v.units), _quantity(units or v.units)
    water = v.units.split("/")[0] == "mm"  # a depth of water also converts from kg m-2
    if canonical is not None and declared is not None and share >= 0.1:
        raw = [_convert(x, canonical, declared, water) for x in (low, high)]
        for alternative in _ALTERNATIVES.get(v.units, ()):
            alt = _quantity(alternative)
            if alt is None or _same(alt, declared) or None in raw:
                continue
            fixed = [_convert(x, alt, canonical, water) for x in raw]
            if None not in fixed and _inside(min(fixed), max(fixed), plausible):
                return Cause(f"looks like {_name(alternative)} labelled "
                             f"{_name(units or v.units)}", f"set units='{alternative}'",
                             alternative)
    lo, hi = plausible
    if lo == 0 and -_ROUND_OFF <= low < 0 and (hi is None or high <= hi):
        return Cause(f"tiny negative values (down to {low:.3g}), typical of round-off in "
                     "reanalysis or gap filling", "clip them at zero with .clip(min=0)")
    if lo is not None and lo >= 0 and high <= 0 and _inside(-high, -low, plausible):
        return Cause("looks like the sign is flipped (every value is zero or negative)",
                     "negate it, e.g. ds[name] = -ds[name]")
    return None


def units_cause(name: str, units: str | None, alternative: str) -> Cause:
    """The cause "values in ``alternative`` units labelled ``units``" for variable ``name``.

    Examples
    --------
    >>> str(units_cause("precipitation", "mm/day", "kg m-2 s-1"))
    "looks like kg m-2 s-1 labelled mm d-1: set units='kg m-2 s-1'"
    """
    declared = units or variable(name).units
    return Cause(f"looks like {_name(alternative)} labelled {_name(declared)}",
                 f"set units='{alternative}'", alternative)


def rescalings(name: str, units: str | None) -> list[tuple[str, float]]:
    """The units ``name`` is often given in by mistake, each with the factor its canonical
    values would be multiplied by were that declared instead of ``units``.

    For mix-ups that move every value by one factor, which a range cannot always see (a
    rate in kg m-2 s-1 labelled mm/day has every value in range); offset units give none.

    Examples
    --------
    >>> dict(rescalings("precipitation", "mm/day"))["kg m-2 s-1"]
    86400.0
    >>> round(dict(rescalings("mean_annual_precipitation", "mm/year"))["mm d-1"], 2)
    365.25
    """
    v = variable(name)
    canonical, declared = _quantity(v.units), _quantity(units or v.units)
    if canonical is None or declared is None:
        return []
    water = v.units.split("/")[0] == "mm"
    raw = _convert(1.0, canonical, declared, water)
    zero = _convert(0.0, canonical, declared, water)
    found = []
    for alternative in _ALTERNATIVES.get(v.units, ()):
        alt = _quantity(alternative)
        if alt is None or _same(alt, declared) or raw is None or zero is None:
            continue
        one, origin = _convert(raw, alt, canonical, water), _convert(zero, alt, canonical, water)
        if one is None or origin is None or abs(origin) > 1e-9 or not one > 0:
            continue  # not convertible, or an offset (degC vs K): not one factor
        found.append((alternative, one))
    return found


def likely_cause(name: str, units: str | None, low: float, high: float, *,
                 share: float = 1.0) -> str | None:
    """The likely cause of implausible values as one hint, e.g. for a report.

    Arguments as in :func:`find_cause`.

    Examples
    --------
    >>> likely_cause("t_min", "degC", 270.0, 305.0)
    "looks like Kelvin labelled °C: set units='K'"
    >>> likely_cause("shortwave_radiation", "MJ m-2 d-1", 60.0, 330.0)
    "looks like W m-2 labelled MJ m-2 d-1: set units='W m-2'"
    >>> likely_cause("co2", "ppm", 3.7e-4, 3.9e-4)
    "looks like mol mol-1 labelled ppm: set units='mol mol-1'"
    >>> likely_cause("vpd", "kPa", -3.0, 2.0) is None
    True
    """
    cause = find_cause(name, units, low, high, share=share)
    return None if cause is None else str(cause)


def coordinate_cause(name: str, low: float, high: float,
                     other: tuple[float, float] | None = None) -> Cause | None:
    """The likely cause of an implausible ``"latitude"`` or ``"longitude"``, or None.

    ``other`` is the observed range of the other coordinate, when there is one.

    Examples
    --------
    >>> coordinate_cause("latitude", 102.0, 106.0, other=(20.0, 22.0)).what
    'looks like a longitude (lat and lon swapped?) or a colatitude (0 at the North Pole)'
    >>> coordinate_cause("longitude", 420.0, 422.0).what
    'looks offset by a turn (beyond -180..360)'
    """
    if not all(map(math.isfinite, (low, high))):
        return None
    extent = max(abs(low), abs(high))
    if extent > 720:
        return Cause("looks like projected coordinates (metres), not degrees",
                     f"give the {name} in degrees (a 2-D coordinate on a projected grid)")
    if name == "latitude" and extent <= 180:
        # Swapped coordinates are likelier when the longitude would make a fine latitude.
        swapped = other is not None and max(map(abs, other)) <= 90
        return Cause("looks like a longitude (lat and lon swapped?) or a colatitude (0 at the "
                     "North Pole)", "swap the lat and lon coordinates" if swapped else
                     "convert a colatitude with 90 - colatitude; swap lat and lon if swapped")
    if name == "longitude" and low >= -360 and high <= 720:
        return Cause("looks offset by a turn (beyond -180..360)",
                     "wrap it into -180..360 (lon % 360) if it was shifted by whole turns; "
                     "otherwise correct its origin")
    return None
