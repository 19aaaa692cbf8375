"""Canopy fluxes of one DALEC993 step: LAI, water stress, GPP, ET and SIF (spec 6.1 and 6.11).

They read only the start-of-step foliar and water pools, so :func:`~xdifferland.engine.step.step`
evaluates them first and hands GPP and ET to the allocation cascade and the water balance. The
water-stress variant (:mod:`.water_stress`) decides how GPP and ET are formed: the linear bucket
β (``"default"``), no stress (``"nothing"``), a β network, an ET network, or one network for both
(no β).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import jax.numpy as jnp

from ..typing import Array
from .acm import acm_gpp
from .materialize import shared
from .water_stress import WHOLE_NETWORK_VARIANTS, network_et, stress_factor, whole_network_fluxes

if TYPE_CHECKING:  # step imports this module; the types are for annotations only
    from .step import StepConstants, StepDrivers

__all__ = ["CanopyFluxes", "canopy_fluxes"]


class CanopyFluxes(NamedTuple):
    """The state-dependent canopy quantities of one step, each ``(pixel,)``."""

    lai: Array  #: m2 m-2
    water_stress: Array  #: β in [0, 1]; NaN for the whole-network variants
    gpp: Array  #: gC m-2 d-1
    et: Array  #: mm d-1
    sif: Array


def canopy_fluxes(const: StepConstants, foliar, water, drivers: StepDrivers,
                  water_stress: str = "default", stress_weights=None,
                  share=shared) -> CanopyFluxes:
    """LAI, β, GPP, ET and SIF from the start-of-step foliar and water pools ``(pixel,)``.

    ``water_stress`` and ``stress_weights`` are those of :func:`~xdifferland.engine.step.step`;
    ``share`` marks the intermediates the reverse-mode gradient reads many times
    (:func:`.materialize.shared`).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from xdifferland.engine import midpoint_parameters
    >>> from xdifferland.engine.step import constants
    >>> from xdifferland.engine.acm import ACMDrivers
    >>> from xdifferland.engine.step import StepDrivers
    >>> const = constants(midpoint_parameters(2))
    >>> one = jnp.ones(2)
    >>> drivers = StepDrivers(ACMDrivers(*[one] * len(ACMDrivers._fields)), *[one] * 15)
    >>> canopy = canopy_fluxes(const, foliar=100.0 * one, water=jnp.array([0.0, 1e4]),
    ...                        drivers=drivers)
    >>> canopy.water_stress.tolist()  # an empty and a full bucket
    [0.0, 1.0]
    >>> unstressed = canopy_fluxes(const, 100.0 * one, jnp.array([0.0, 1e4]), drivers, "nothing")
    >>> unstressed.water_stress.tolist(), bool(unstressed.gpp[1] == canopy.gpp[1])
    ([1.0, 1.0], True)
    """
    c, d = const, drivers
    lai = share(foliar / c.leaf_mass_per_area)
    if water_stress in WHOLE_NETWORK_VARIANTS:  # one network gives GPP and ET; there is no β
        gpp, et = whole_network_fluxes(water_stress, stress_weights, d.stress, lai, water)
        beta = jnp.full_like(gpp, jnp.nan)
        gpp = share(gpp)
    else:
        if water_stress == "default":
            beta = (water - c.wilting_point) / c.available_capacity
            beta = jnp.where(beta <= 1.0, beta, 1.0)
            beta = jnp.where(beta >= 0.0, beta, 0.0)
        elif water_stress == "nothing":
            beta = jnp.ones_like(lai)
        else:
            beta = stress_factor(stress_weights, water)
        beta = share(beta)
        gpp = share(acm_gpp(lai, d.acm) * beta)
        if water_stress == "gpp_acm_et_nn":
            et = network_et(stress_weights, d.stress, lai, water, gpp)
        else:
            et = gpp * d.transpiration_per_gpp + d.acm.radiation * d.soil_evaporation_coefficient
    et = share(et)
    sif = c.inverse_sif_slope * gpp - c.sif_offset
    return CanopyFluxes(lai=lai, water_stress=beta, gpp=gpp, et=et, sif=sif)
