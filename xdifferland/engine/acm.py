"""Aggregated Canopy Model (ACM) gross primary production, split for speed.

The ACM of spec section 4 is written in two parts: :func:`acm_drivers` holds everything that depends
only on forcing and parameters (canopy conductance, temperature-scaled capacity, day length) and is
evaluated for all time steps at once outside the time loop; :func:`acm_gpp` holds the part that
depends on the state through LAI and runs inside the loop.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from ..typing import Array
from . import fastmath

__all__ = ["ACMDrivers", "acm_drivers", "acm_gpp", "day_length", "declination"]

DAYLENGTH_SLOPE = 0.0156935  # d1
DAYLENGTH_INTERCEPT = 0.0453194  # d2
THETA = 4.22273
K_ACM = 208.868
B2 = 0.37836
C1 = 7.19298
A2 = 0.011136
C2 = 2.1001
E_B1T = 0.789798
PSI_D = -2.0
HYDRAULIC_RESISTANCE = 1.0  # H
FOLIAR_NITROGEN = 1.0  # N
Q_ACM = THETA - K_ACM


class ACMDrivers(NamedTuple):
    """State-independent pieces of ACM, each ``(time, pixel)``."""

    conductance: Array  #: g_c
    capacity: Array  #: N * c_e * exp(a2 T_max) / g_c, multiplied by LAI inside the loop
    co2: Array
    radiation: Array
    daylength_factor: Array  #: d1 * day length + d2


def declination(day_of_year):
    """Solar declination in radians (divisor 365, as in the reference)."""
    return -23.4 * (jnp.pi / 180.0) * fastmath.cos(
        360.0 * (day_of_year + 10.0) / 365.0 * (jnp.pi / 180.0))


def day_length(latitude, day_of_year):
    """Day length in hours: 24 in polar day, 0 in polar night.

    Examples
    --------
    >>> round(float(day_length(45.0, 196.0)), 4)
    15.095
    """
    # XLA recomputes tan(latitude) in every (time, pixel) element, so it must be vectorizable;
    # the declination stays within +-0.41 rad.
    mu = fastmath.tan(latitude * (jnp.pi / 180.0)) * fastmath.tan_small(declination(day_of_year))
    inside = (mu < 1.0) & (mu > -1.0)
    # Zero outside the valid range keeps arccos (and its gradient) finite.
    length = 24.0 * fastmath.arccos(-jnp.where(inside, mu, 0.0)) / jnp.pi
    return jnp.where(mu >= 1.0, 24.0, jnp.where(mu <= -1.0, 0.0, length))


def acm_drivers(forcing, canopy_efficiency) -> ACMDrivers:
    """Evaluate the state-independent part of ACM for all steps."""
    conductance = jnp.abs(PSI_D) ** E_B1T / (
        B2 * HYDRAULIC_RESISTANCE + 0.5 * (forcing.t_max - forcing.t_min)
    )
    capacity = FOLIAR_NITROGEN * canopy_efficiency * jnp.exp(A2 * forcing.t_max) / conductance
    daylength_factor = DAYLENGTH_SLOPE * day_length(forcing.latitude, forcing.day_of_year) + (
        DAYLENGTH_INTERCEPT
    )
    return ACMDrivers(conductance, capacity, forcing.co2, forcing.shortwave_radiation,
                      daylength_factor)


def acm_gpp(lai, drivers: ACMDrivers):
    """Potential GPP (g C m-2 d-1) for leaf area index ``lai`` given the step's drivers."""
    p = lai * drivers.capacity
    ca = drivers.co2
    s = ca + Q_ACM - p
    ci = 0.5 * (s + jnp.sqrt(s * s - 4.0 * (ca * Q_ACM - p * THETA)))
    lai2 = lai * lai
    e0 = C1 * lai2 / (C2 + lai2)
    pd = drivers.conductance * (ca - ci)
    light = e0 * drivers.radiation
    return light * pd / (light + pd) * drivers.daylength_factor
