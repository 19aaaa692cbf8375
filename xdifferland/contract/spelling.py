"""The UDUNITS spelling of the variable table's units, as messages and written data show them.

The table (:mod:`xdifferland.contract.declare`) spells units for pint (``MJ/m**2/day``,
``dimensionless``, ``m**2/m**2``); users, the files xdifferland writes and CF read UDUNITS
(``MJ m-2 d-1``, ``1``, ``m2 m-2``). A ratio of like units keeps both parts (``m2 m-2`` says
what a leaf area index is a ratio of), where :func:`~xdifferland.io.conventions.udunits` would
cancel it to ``1``.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["udunits_spelling"]

_POWER = re.compile(r"\*\*(-?\d+)")


def _like_units_ratio(units: str) -> str:
    """``m**2/m**2`` → ``m2 m-2``: numerator and denominator kept apart."""
    numerator, *denominators = units.split("/")
    parts = _POWER.sub(r"\1", numerator).split("*")
    for d in denominators:
        match = re.fullmatch(r"(.+?)(?:\*\*(\d+))?", d)
        parts.append(f"{match.group(1)}-{match.group(2) or 1}")
    return " ".join(parts)


@lru_cache(maxsize=None)
def udunits_spelling(units: str) -> str:
    """UDUNITS spelling of a units string of the variable table (unchanged if it has none).

    Examples
    --------
    >>> udunits_spelling("MJ/m**2/day"), udunits_spelling("dimensionless")
    ('MJ m-2 d-1', '1')
    >>> udunits_spelling("m**2/m**2"), udunits_spelling("degC"), udunits_spelling("mm/year")
    ('m2 m-2', 'degC', 'mm year-1')
    """
    from ..io.conventions import udunits

    try:
        spelled = udunits(units)
    except Exception:  # noqa: BLE001  (pint raises several unrelated types; CF names it lacks)
        return units
    if spelled is None:
        return units
    if spelled == "1" and "/" in units:
        return _like_units_ratio(units)
    return spelled
