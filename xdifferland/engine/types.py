"""Immutable named pytrees of the engine: forcing, pools and parameters.

All are :class:`typing.NamedTuple` subclasses, so they are JAX pytrees with named fields and no
positional indexing is ever needed. Arrays are time-major: forcing fields are ``(time, pixel)``
(or broadcastable to it, e.g. ``(pixel,)`` static fields or a ``(time, 1)`` step length), pools
and parameters are ``(pixel,)``.
"""

from __future__ import annotations

from typing import NamedTuple

from ..registry import PARAMETER_NAMES
from ..typing import Array

__all__ = ["Forcing", "Pools", "Parameters", "POOL_BOUNDS", "FORCING_FIELDS"]


class Forcing(NamedTuple):
    """Meteorological drivers of DALEC993 (spec section 1.1), daily rates held over a step."""

    time_days: Array  #: days since the time origin; used only by phenology
    t_min: Array  #: daily minimum air temperature, degC
    t_max: Array  #: daily maximum air temperature, degC
    shortwave_radiation: Array  #: downward shortwave radiation, MJ m-2 d-1
    co2: Array  #: atmospheric CO2, ppm
    day_of_year: Array  #: day of year for solar declination
    burned_area: Array  #: burned-area fraction of the pixel during the step (0-1)
    vpd: Array  #: vapour-pressure deficit, kPa
    precipitation: Array  #: precipitation rate, mm d-1
    latitude: Array  #: degrees north
    delta_t: Array  #: step length, days
    mean_temperature: Array  #: long-term mean annual temperature, degC
    mean_precipitation: Array  #: long-term mean precipitation rate, mm d-1


FORCING_FIELDS: tuple[str, ...] = Forcing._fields


class Pools(NamedTuple):
    """The prognostic state (scan carry): six carbon pools (g C m-2) and plant-available water
    (mm)."""

    labile: Array
    foliar: Array
    root: Array
    wood: Array
    litter: Array
    som: Array
    water: Array


#: Clamp bounds of each pool inside the step (the same numbers as the initial-pool bounds).
POOL_BOUNDS: dict[str, tuple[float, float]] = {
    "labile": (1.0, 2000.0),
    "foliar": (1.0, 2000.0),
    "root": (1.0, 2000.0),
    "wood": (1.0, 100000.0),
    "litter": (1.0, 2000.0),
    "som": (1.0, 200000.0),
    "water": (1.0, 10000.0),
}

#: The 40 physical parameters, one ``(pixel,)`` array per registry entry, in registry order.
Parameters = NamedTuple("Parameters", [(name, Array) for name in PARAMETER_NAMES])
Parameters.__doc__ = (
    "Physical DALEC993 parameters, one field per entry of xdifferland.registry.PARAMETERS."
)
