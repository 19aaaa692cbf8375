"""Phenology: the daily labile-release and leaf-fall fractions (spec section 5)."""

from __future__ import annotations

import jax.numpy as jnp

from ..registry import DAYS_PER_YEAR
from . import fastmath

__all__ = ["phenology_rate", "phenology_offset"]

# Offset polynomial in log(L - 1), highest power first.
_OFFSET_COEFFICIENTS = (
    0.000023599784710,
    0.000332730053021,
    0.000901865258885,
    -0.005437736864888,
    -0.020836027517787,
    0.126972018064287,
    -0.188459767342504,
)


def phenology_offset(lifespan, width):
    """Timing offset o(L, w) of the annual peak."""
    lam = jnp.log(lifespan - 1.0)
    poly = 0.0
    for c in _OFFSET_COEFFICIENTS:
        poly = poly * lam + c
    return width * poly


def phenology_rate(time_days, lifespan, period, timing):
    """Daily release fraction r(t; L, tau, D), d-1; peaks once per 365.25 days.

    ``time_days`` may be ``(time, pixel)`` while the parameters are ``(pixel,)``; everything that
    depends only on the parameters is formed once.

    Examples
    --------
    >>> float(phenology_rate(3667.0, 1.5, 40.0, 390.0))  # spec table T2
    0.01447027...
    """
    width = period * (jnp.sqrt(2.0) / 2.0)
    half_log_ratio = 0.5 * (jnp.log(lifespan) - jnp.log(lifespan - 1.0))
    amplitude = 2.0 / jnp.sqrt(jnp.pi) * half_log_ratio / width
    shift = phenology_offset(lifespan, width) - timing
    s = DAYS_PER_YEAR / jnp.pi
    return amplitude * jnp.exp(-(fastmath.sin_squared((time_days + shift) / s) * (s / width) ** 2))
