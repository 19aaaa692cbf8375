"""A "published-style" DALEC993 run for comparison: everything evaluated inside the time loop.

Each step of the ``lax.scan`` takes the raw forcing of that month and recomputes from scratch the
decomposition modifier, both phenology rates (library ``sin``), the ACM drivers (library ``cos``,
``tan``, ``arccos``, ``exp``), every compounded rate with ``**`` and the fire fractions, then
does the same state update as :func:`xdifferland.engine.step.step`. No work is hoisted out of the
loop and every output is stacked, which is how the reference implementation is organised. The
numbers equal the engine's to float rounding; this exists only to measure the speed-up of the
``prepare``/``step`` split.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from xdifferland.engine.acm import (A2, B2, DAYLENGTH_INTERCEPT, DAYLENGTH_SLOPE, E_B1T,
                                    FOLIAR_NITROGEN, HYDRAULIC_RESISTANCE, PSI_D, ACMDrivers)
from xdifferland.engine.phenology import phenology_offset
from xdifferland.engine.outputs import series_outputs
from xdifferland.engine.step import StepDrivers, constants, init, step
from xdifferland.engine.types import Forcing


def _rate(t, lifespan, period, timing):
    width = period * (jnp.sqrt(2.0) / 2.0)
    amplitude = 2.0 / jnp.sqrt(jnp.pi) * 0.5 * (jnp.log(lifespan) - jnp.log(lifespan - 1.0)) / width
    s = 365.25 / jnp.pi
    shift = phenology_offset(lifespan, width) - timing
    return amplitude * jnp.exp(-((jnp.sin((t + shift) / s) * (s / width)) ** 2))


def _compound(k, dt):
    return (1.0 - (1.0 - k) ** dt) / dt


def _drivers_in_loop(p, f):
    """All state-independent quantities of one step, from that step's raw forcing ``(pixel,)``."""
    dt = f.delta_t
    rho = jnp.exp(p.temperature_sensitivity * (0.5 * (f.t_max + f.t_min) - f.mean_temperature)) * (
        (f.precipitation / f.mean_precipitation - 1.0) * p.moisture_factor + 1.0)
    lrf = _rate(f.time_days, p.labile_lifespan, p.labile_release_period, p.labile_release_day)
    lff = _rate(f.time_days, p.leaf_lifespan, p.leaf_fall_period, p.leaf_fall_day)
    decl = -23.4 * (jnp.pi / 180.0) * jnp.cos(360.0 * (f.day_of_year + 10.0) / 365.0
                                              * (jnp.pi / 180.0))
    mu = jnp.tan(f.latitude * (jnp.pi / 180.0)) * jnp.tan(decl)
    inside = (mu < 1.0) & (mu > -1.0)
    length = 24.0 * jnp.arccos(-jnp.where(inside, mu, 0.0)) / jnp.pi
    length = jnp.where(mu >= 1.0, 24.0, jnp.where(mu <= -1.0, 0.0, length))
    gc = jnp.abs(PSI_D) ** E_B1T / (B2 * HYDRAULIC_RESISTANCE + 0.5 * (f.t_max - f.t_min))
    acm = ACMDrivers(gc, FOLIAR_NITROGEN * p.canopy_efficiency * jnp.exp(A2 * f.t_max) / gc,
                     f.co2, f.shortwave_radiation,
                     DAYLENGTH_SLOPE * length + DAYLENGTH_INTERCEPT)
    return StepDrivers(
        acm=acm, transpiration_per_gpp=jnp.sqrt(f.vpd) / p.underlying_wue,
        soil_evaporation_coefficient=p.radiation_et_coefficient,
        precipitation=f.precipitation, delta_t=dt, rate_modifier=rho, leaf_fall_factor=lff,
        labile_release_factor=lrf, labile_release_rate=_compound(lrf, dt),
        leaf_fall_rate=_compound(lff, dt), wood_turnover_rate=_compound(p.wood_turnover, dt),
        root_turnover_rate=_compound(p.root_turnover, dt),
        litter_respiration_rate=_compound(rho * p.litter_turnover, dt),
        som_respiration_rate=_compound(rho * p.som_turnover, dt),
        decomposition_rate=_compound(rho * p.decomposition_rate, dt),
        burned_per_day=f.burned_area / dt)


@partial(jax.jit, static_argnames=("outputs",))
def simulate_in_loop(parameters, forcing, outputs):
    """Published-style run; returns ``{name: (time, pixel)}`` for the requested outputs.

    Time totals (``"sum:<name>"``) are returned as the full series of ``<name>`` (the loss
    accepts a series for a total), and the step runs without the engine's gradient hints,
    as the published code has neither.
    """
    outputs = series_outputs(outputs)
    n_time = forcing.t_min.shape[0]
    n_pixel = parameters[0].shape[0]
    full = Forcing(*(jnp.broadcast_to(x, (n_time, n_pixel)) for x in forcing))

    def body(pools, f_t):
        d = _drivers_in_loop(parameters, f_t)
        new, fluxes = step(constants(parameters), pools, d, share=lambda x: x)
        fluxes.update(rate_modifier=d.rate_modifier, leaf_fall_factor=d.leaf_fall_factor,
                      labile_release_factor=d.labile_release_factor)
        return new, {name: fluxes[name] for name in outputs}

    _, stacked = jax.lax.scan(body, init(parameters), full)
    return stacked
