"""The DALEC993 time step as an ``init / prepare / step`` contract (spec section 6).

* :func:`init` builds the initial :class:`~xdifferland.engine.types.Pools` from the parameters.
* :func:`prepare` evaluates, for all time steps at once, everything that depends only on the
  parameters and the forcing (ACM drivers, phenology, the decomposition modifier, every compounded
  first-order rate, ET coefficients, fire fractions). It runs outside the time loop.
* :func:`step` carries only the state-dependent arithmetic: LAI, GPP and ET
  (:mod:`.canopy`), allocation, pool updates with the reference's clamp-and-rediagnose order,
  water balance and fire.

With ``mass_conserving=True`` three reference quirks that break budgets or bounds are repaired
(spec section 12, items 1-3); the default reproduces the published model.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from ..typing import Array
from .acm import ACMDrivers, acm_drivers
from .canopy import canopy_fluxes
from .fastmath import integer_power
from .fastmath import power as _power
from .materialize import shared
from .phenology import phenology_rate
from .types import POOL_BOUNDS, Forcing, Parameters, Pools
from .water_stress import DRIVER_VARIANTS, water_stress_drivers

# integer_power (defined in .fastmath) stays exported here, where the API docs cite it.
__all__ = ["StepConstants", "StepDrivers", "FireFactors", "init", "prepare", "step",
           "DRIVER_OUTPUTS", "integer_power"]


class StepConstants(NamedTuple):
    """Per-pixel parameter combinations used inside the loop, each ``(pixel,)``."""

    leaf_mass_per_area: Array
    wilting_point: Array
    available_capacity: Array  #: field capacity minus wilting point
    autotrophic_fraction: Array
    foliar_allocation: Array
    labile_allocation: Array
    root_allocation: Array
    runoff_focal_point: Array
    inverse_sif_slope: Array
    sif_offset: Array  #: intercept / slope
    vod_foliar: Array
    vod_wood: Array
    fire: "FireFactors"


class FireFactors(NamedTuple):
    """Per-pixel fire loss factors; times the burned fraction per day they give the daily losses."""

    labile_combust: Array  #: also root and wood (ligneous factor)
    labile_transfer: Array
    foliar_combust: Array
    foliar_transfer: Array
    litter_combust: Array
    litter_transfer: Array
    som_combust: Array


class StepDrivers(NamedTuple):
    """Everything a step needs that does not depend on the state.

    Each field is ``(time, pixel)`` or any shape broadcastable to it: a field that depends only on
    the parameters is ``(1, pixel)``, one that depends only on a scalar step length is ``()``.
    The scan driver passes time-varying fields as loop inputs and closes over the others, so none
    is broadcast to ``(time, pixel)`` without need.
    """

    acm: ACMDrivers
    transpiration_per_gpp: Array  #: sqrt(VPD) / uWUE
    soil_evaporation_coefficient: Array  #: boese_r, (1, pixel); times radiation in the step
    precipitation: Array
    delta_t: Array
    rate_modifier: Array  #: rho
    leaf_fall_factor: Array  #: lff, d-1
    labile_release_factor: Array  #: lrf, d-1
    labile_release_rate: Array  #: compounded lrf
    leaf_fall_rate: Array
    wood_turnover_rate: Array
    root_turnover_rate: Array
    litter_respiration_rate: Array
    som_respiration_rate: Array
    decomposition_rate: Array
    burned_per_day: Array  #: burned-area fraction / delta_t
    stress: object = None  #: WaterStressDrivers for the variants that read them, else None


#: Outputs that are pure drivers: served from :func:`prepare`, never carried through the loop.
DRIVER_OUTPUTS = {
    "rate_modifier": "rate_modifier",
    "leaf_fall_factor": "leaf_fall_factor",
    "labile_release_factor": "labile_release_factor",
}


def _compounded(rate, delta_t, step_days: int | None = None):
    """Average daily loss fraction of a daily rate compounded over ``delta_t`` days.

    ``(1 - (1 - k)^dt) / dt``, exactly the reference form (spec 1.3 and 6.12). ``step_days`` is
    ``delta_t`` as a static whole number when it is known to be one (monthly 30, daily 1): the
    power is then formed by multiplication (:func:`.fastmath.integer_power`).
    """
    if step_days is not None:
        return (1.0 - integer_power(1.0 - rate, step_days)) / delta_t
    return (1.0 - _power(1.0 - rate, delta_t)) / delta_t


def init(parameters: Parameters) -> Pools:
    """Initial pools from the initial-pool entries of the parameters."""
    p = parameters
    return Pools(p.initial_labile, p.initial_foliar, p.initial_root, p.initial_wood,
                 p.initial_litter, p.initial_som, p.initial_water)


def constants(parameters: Parameters) -> StepConstants:
    """Per-pixel parameter combinations used in every step."""
    p = parameters
    wilting_point = p.field_capacity * p.wilting_point_fraction
    inverse_slope = 1.0 / p.sif_slope
    survive = 1.0 - p.fire_resilience
    cl, cf = p.ligneous_combustion, p.foliar_combustion
    litter_cf = (cl + cf) * 0.5
    return StepConstants(
        leaf_mass_per_area=p.leaf_carbon_mass_per_area,
        wilting_point=wilting_point,
        available_capacity=p.field_capacity - wilting_point,
        autotrophic_fraction=p.autotrophic_fraction,
        foliar_allocation=p.foliar_allocation,
        labile_allocation=p.labile_allocation,
        root_allocation=p.root_allocation,
        runoff_focal_point=p.runoff_focal_point,
        inverse_sif_slope=inverse_slope,
        sif_offset=(p.sif_intercept_plus_three - 3.0) / p.sif_slope,
        vod_foliar=p.vod_foliar_coefficient,
        vod_wood=p.vod_wood_coefficient,
        fire=FireFactors(
            labile_combust=cl,
            labile_transfer=(1.0 - cl) * survive,
            foliar_combust=cf,
            foliar_transfer=(1.0 - cf) * survive,
            litter_combust=litter_cf,
            litter_transfer=(1.0 - litter_cf) * survive,
            som_combust=p.soil_combustion,
        ),
    )


def prepare(parameters: Parameters, forcing: Forcing, water_stress: str = "default",
            step_days: int | None = None) -> StepDrivers:
    """All state-independent quantities of every step, broadcastable to ``(time, pixel)``.

    Nothing is broadcast up front: a quantity of the parameters alone stays ``(1, pixel)``, one of
    a ``(time, 1)`` forcing field stays ``(time, 1)``, so each is evaluated once per distinct value.
    ``step_days``: ``forcing.delta_t`` as a static whole number, when it is one; the compounded
    rates then use :func:`integer_power` (a third of a forward run's ``prepare`` time at 3,200
    pixels went into the ``log`` / ``exp`` of the general power).
    """
    # Parameters become (1, pixel) rows so every broadcast against (time, pixel) is explicit.
    p = Parameters(*(jnp.expand_dims(x, 0) for x in parameters))
    # Static (pixel,) forcing fields become (1, pixel) rows too; scalars and 2-D fields stay.
    f = Forcing(*(jnp.expand_dims(x, 0) if jnp.ndim(x) == 1 else x for x in forcing))
    dt = f.delta_t

    rho = jnp.exp(p.temperature_sensitivity * (0.5 * (f.t_max + f.t_min) - f.mean_temperature)) * (
        (f.precipitation / f.mean_precipitation - 1.0) * p.moisture_factor + 1.0
    )
    lrf = phenology_rate(f.time_days, p.labile_lifespan, p.labile_release_period,
                         p.labile_release_day)
    lff = phenology_rate(f.time_days, p.leaf_lifespan, p.leaf_fall_period, p.leaf_fall_day)
    return StepDrivers(
        acm=acm_drivers(f, p.canopy_efficiency),
        transpiration_per_gpp=jnp.sqrt(f.vpd) / p.underlying_wue,
        soil_evaporation_coefficient=p.radiation_et_coefficient,
        precipitation=f.precipitation,
        delta_t=dt,
        rate_modifier=rho,
        leaf_fall_factor=lff,
        labile_release_factor=lrf,
        labile_release_rate=_compounded(lrf, dt, step_days),
        leaf_fall_rate=_compounded(lff, dt, step_days),
        wood_turnover_rate=_compounded(p.wood_turnover, dt, step_days),
        root_turnover_rate=_compounded(p.root_turnover, dt, step_days),
        litter_respiration_rate=_compounded(rho * p.litter_turnover, dt, step_days),
        som_respiration_rate=_compounded(rho * p.som_turnover, dt, step_days),
        decomposition_rate=_compounded(rho * p.decomposition_rate, dt, step_days),
        burned_per_day=f.burned_area / dt,
        stress=water_stress_drivers(f) if water_stress in DRIVER_VARIANTS else None,
    )


def _clamp(new, old, bound, flux, rediagnose, keep, share=shared):
    """Replace ``new`` by ``bound`` where ``keep`` is false and re-diagnose ``flux`` there.

    ``rediagnose(clamped)`` returns the flux that closes the pool budget given the clamped pool.
    NaN compares false, so NaN pools are replaced by the bound (spec section 0).
    """
    clamped = share(jnp.where(keep, new, bound))
    return clamped, share(jnp.where(keep, flux, rediagnose(clamped)))


def _clamp_range(new, old, name, flux, rediagnose, share=shared):
    """Lower then upper clamp of pool ``name`` with the same flux re-diagnosis for both."""
    low, high = POOL_BOUNDS[name]
    new, flux = _clamp(new, old, low, flux, rediagnose, new >= low, share)
    return _clamp(new, old, high, flux, rediagnose, new <= high, share)


def _limit_fire(pool, inflow, combust, transfer, dt):
    """Mass-conserving mode: scale fire losses so the post-fire pool stays >= 1."""
    loss = (combust + transfer) * dt
    allowed = jnp.maximum(pool - 1.0 + inflow * dt, 0.0)
    too_much = loss > allowed
    scale = jnp.where(too_much, allowed / jnp.where(too_much, loss, 1.0), 1.0)
    return combust * scale, transfer * scale


def step(const: StepConstants, pools: Pools, d: StepDrivers, mass_conserving: bool = False,
         water_stress: str = "default", stress_weights=None, share=shared):
    """Advance the pools by one step; returns ``(new_pools, fluxes)``.

    ``share`` marks intermediates that many gradient kernels read (:func:`.materialize.shared`,
    for reverse mode); pass the identity to differentiate in forward mode.

    ``water_stress`` selects the variant of :mod:`.water_stress` (``stress_weights`` are its
    network weights); ``"default"`` is the published linear bucket stress.

    ``fluxes`` maps output names (see :mod:`xdifferland.engine.outputs`) to ``(pixel,)`` arrays;
    the driver keeps only the ones a caller asked for, and XLA drops the rest.
    """
    c = const
    dt = d.delta_t
    lo = {k: b[0] for k, b in POOL_BOUNDS.items()}
    hi = {k: b[1] for k, b in POOL_BOUNDS.items()}

    # Canopy, water stress, GPP, ET, SIF (start-of-step pools).
    lai, beta, gpp, et, sif = canopy_fluxes(c, pools.foliar, pools.water, d, water_stress,
                                            stress_weights, share)

    # Allocation cascade.
    ra = c.autotrophic_fraction * gpp
    npp = gpp - ra
    foliar_production = share(npp * c.foliar_allocation)
    labile_production = share((npp - foliar_production) * c.labile_allocation)
    root_production = share((npp - foliar_production - labile_production) * c.root_allocation)
    wood_production = npp - foliar_production - labile_production - root_production

    # First-order fluxes from the start-of-step pools.
    labile_release = pools.labile * d.labile_release_rate
    leaf_litter = pools.foliar * d.leaf_fall_rate
    wood_litter = pools.wood * d.wood_turnover_rate
    root_litter = pools.root * d.root_turnover_rate
    litter_resp = pools.litter * d.litter_respiration_rate
    som_resp = pools.som * d.som_respiration_rate
    decomposition = pools.litter * d.decomposition_rate

    half_focal = 0.5 * c.runoff_focal_point
    runoff = jnp.where(
        pools.water > half_focal,
        (pools.water - 0.25 * c.runoff_focal_point) / dt,
        pools.water * pools.water / c.runoff_focal_point / dt,
    )

    # Carbon pools: update, clamp, re-diagnose one flux per clamp (spec 6.6 order).
    old = pools
    lab = old.labile + (labile_production - labile_release) * dt
    lab, labile_release = _clamp_range(lab, old.labile, "labile", labile_release,
                                       lambda n: labile_production - (n - old.labile) / dt, share)

    fol = old.foliar + (foliar_production - leaf_litter + labile_release) * dt
    keep = fol >= lo["foliar"]
    fol_clamped = jnp.where(keep, fol, lo["foliar"])
    if mass_conserving:
        balance = foliar_production + labile_release - (fol_clamped - old.foliar) / dt
        leaf_litter = jnp.where(keep, leaf_litter, balance)
    else:  # reference quirk: the minimum pool size is used as the flux
        leaf_litter = jnp.where(keep, leaf_litter, lo["foliar"])
    fol = fol_clamped
    fol, leaf_litter = _clamp(
        fol, old.foliar, hi["foliar"], leaf_litter,
        lambda n: foliar_production + labile_release - (n - old.foliar) / dt, fol <= hi["foliar"],
        share)

    root = old.root + (root_production - root_litter) * dt
    root, root_litter = _clamp_range(root, old.root, "root", root_litter,
                                     lambda n: root_production - (n - old.root) / dt, share)

    wood = old.wood + (wood_production - wood_litter) * dt
    wood, wood_litter = _clamp_range(wood, old.wood, "wood", wood_litter,
                                     lambda n: wood_production - (n - old.wood) / dt, share)

    lit = old.litter + (leaf_litter + root_litter - litter_resp - decomposition) * dt
    lit, decomposition = _clamp(
        lit, old.litter, lo["litter"], decomposition,
        lambda n: leaf_litter + root_litter - litter_resp - (n - old.litter) / dt,
        lit >= lo["litter"], share)
    positive = decomposition >= 0.0
    litter_resp = jnp.where(positive, litter_resp,
                            leaf_litter + root_litter - (lit - old.litter) / dt)
    decomposition = jnp.where(positive, decomposition, 0.0)
    lit, decomposition = _clamp(
        lit, old.litter, hi["litter"], decomposition,
        lambda n: leaf_litter + root_litter - litter_resp - (n - old.litter) / dt,
        lit <= hi["litter"], share)

    som = old.som + (decomposition - som_resp + wood_litter) * dt
    som, som_resp = _clamp_range(som, old.som, "som", som_resp,
                                 lambda n: decomposition + wood_litter - (n - old.som) / dt, share)

    # Water balance (spec 6.7).
    precip = d.precipitation
    water = old.water - runoff * dt + precip * dt - et * dt
    above = water >= lo["water"]
    water = jnp.where(above, water, 0.0 * water + lo["water"])  # arithmetic blend keeps NaN
    runoff = jnp.where(above, runoff, precip - et - (water - old.water) / dt)
    violation = jnp.maximum(-0.01 * runoff, 0.0)
    negative = runoff < 0.0
    et = jnp.where(negative, precip - (water - old.water) / dt, et)
    if mass_conserving:  # the deficit was taken from ET, so runoff is zero, not negative
        runoff = jnp.where(negative, 0.0, runoff)
    water, runoff = _clamp(water, old.water, hi["water"], runoff,
                           lambda n: precip - et - (n - old.water) / dt, water <= hi["water"],
                           share)

    # Fire on the clamped pools (not re-clamped in the reference).
    ba, fr = d.burned_per_day, c.fire
    e_lab, m_lab = lab * (ba * fr.labile_combust), lab * (ba * fr.labile_transfer)
    e_fol, m_fol = fol * (ba * fr.foliar_combust), fol * (ba * fr.foliar_transfer)
    e_root, m_root = root * (ba * fr.labile_combust), root * (ba * fr.labile_transfer)
    e_wood, m_wood = wood * (ba * fr.labile_combust), wood * (ba * fr.labile_transfer)
    e_lit, m_lit = lit * (ba * fr.litter_combust), lit * (ba * fr.litter_transfer)
    e_som = som * (ba * fr.som_combust)
    if mass_conserving:
        zero = jnp.zeros_like(lab)
        e_lab, m_lab = _limit_fire(lab, zero, e_lab, m_lab, dt)
        e_fol, m_fol = _limit_fire(fol, zero, e_fol, m_fol, dt)
        e_root, m_root = _limit_fire(root, zero, e_root, m_root, dt)
        e_wood, m_wood = _limit_fire(wood, zero, e_wood, m_wood, dt)
        e_lit, m_lit = _limit_fire(lit, m_lab + m_fol + m_root, e_lit, m_lit, dt)
        e_som, _ = _limit_fire(som, m_wood + m_lit, e_som, zero, dt)

    new = Pools(
        labile=lab - (e_lab + m_lab) * dt,
        foliar=fol - (e_fol + m_fol) * dt,
        root=root - (e_root + m_root) * dt,
        wood=wood - (e_wood + m_wood) * dt,
        litter=lit + (m_lab + m_fol + m_root - e_lit - m_lit) * dt,
        som=som + (m_wood + m_lit - e_som) * dt,
        water=water,
    )
    fire_emission = e_lab + e_fol + e_root + e_wood + e_lit + e_som
    nee = -gpp + ra + litter_resp + som_resp

    fluxes = {
        "lai": lai, "gpp": gpp, "et": et, "autotrophic_respiration": ra,
        "foliar_production": foliar_production, "labile_production": labile_production,
        "root_production": root_production, "wood_production": wood_production,
        "labile_release": labile_release, "leaf_litter": leaf_litter, "wood_litter": wood_litter,
        "root_litter": root_litter, "litter_respiration": litter_resp,
        "som_respiration": som_resp, "litter_to_som": decomposition, "runoff": runoff,
        "labile_fire_combust": e_lab, "foliar_fire_combust": e_fol, "root_fire_combust": e_root,
        "wood_fire_combust": e_wood, "litter_fire_combust": e_lit, "som_fire_combust": e_som,
        "labile_fire_transfer": m_lab, "foliar_fire_transfer": m_fol,
        "root_fire_transfer": m_root, "wood_fire_transfer": m_wood,
        "litter_fire_transfer": m_lit, "fire_emission": fire_emission,
        "nee": nee, "nbe": nee + fire_emission,
        "labile_pool": new.labile, "foliar_pool": new.foliar, "root_pool": new.root,
        "wood_pool": new.wood, "litter_pool": new.litter, "som_pool": new.som,
        "water_pool": new.water, "water_stress": beta, "sif": sif,
        "water_balance_violation": violation,
        "vod": c.vod_foliar * new.foliar + c.vod_wood * new.wood,
    }
    return new, fluxes
