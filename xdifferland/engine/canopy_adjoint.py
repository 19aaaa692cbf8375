"""Hand-written adjoint of the canopy and the allocation cascade (part of :mod:`.step_adjoint`).

Reverse of :func:`.canopy.canopy_fluxes` for the ``"default"`` and ``"nothing"`` water-stress
variants and of the allocation of NPP in :func:`.step.step`: cotangents of GPP, ET, SIF, β,
LAI and the productions are pulled back to the foliar and water pools, the step constants and
the ACM drivers.
"""

from __future__ import annotations

from .acm import C1, C2, Q_ACM, THETA
from .cotangents import kept, mul, neg

__all__ = ["canopy_reverse"]


def canopy_reverse(g, v, c, pools, d, water_stress):
    a = d.acm
    # Allocation cascade.
    g_wp = g.pop_("wp")
    for name in ("npp", "fp", "lp", "rp"):
        g.add(name, g_wp if name == "npp" else neg(g_wp))
    g_rp = g.pop_("rp")
    if g_rp is not None:
        g.add("c.root_allocation", g_rp * (v.npp - v.fp - v.lp))
        g_rest = g_rp * c.root_allocation
        g.add("npp", g_rest)
        g.add("fp", -g_rest)
        g.add("lp", -g_rest)
    g_lp = g.pop_("lp")
    if g_lp is not None:
        g.add("c.labile_allocation", g_lp * (v.npp - v.fp))
        g.add("npp", g_lp * c.labile_allocation)
        g.add("fp", -g_lp * c.labile_allocation)
    g_fp = g.pop_("fp")
    if g_fp is not None:
        g.add("c.foliar_allocation", g_fp * v.npp)
        g.add("npp", g_fp * c.foliar_allocation)
    g_npp = g.pop_("npp")
    g.add("gpp", g_npp)
    g.add("ra", neg(g_npp))
    g_ra = g.pop_("ra")
    if g_ra is not None:
        g.add("c.autotrophic_fraction", g_ra * v.gpp)
        g.add("gpp", g_ra * c.autotrophic_fraction)

    # SIF and ET from GPP.
    g_sif = g.pop_("sif")
    if g_sif is not None:
        g.add("c.inverse_sif_slope", g_sif * v.gpp)
        g.add("gpp", g_sif * c.inverse_sif_slope)
        g.add("c.sif_offset", -g_sif)
    g_et = g.pop_("et0")
    if g_et is not None:
        g.add("gpp", g_et * d.transpiration_per_gpp)
        g.add("d.transpiration_per_gpp", g_et * v.gpp)
        g.add("d.acm.radiation", g_et * d.soil_evaporation_coefficient)
        g.add("d.soil_evaporation_coefficient", g_et * a.radiation)

    # GPP = ACM × β.
    g_gpp = g.pop_("gpp")
    g_acm = mul(g_gpp, v.beta)
    if water_stress == "default":
        g.add("beta", mul(g_gpp, v.acm))
        g_raw = kept(v.beta_raw <= 1.0, kept(v.beta_1 >= 0.0, g.pop_("beta")))
        if g_raw is not None:
            scaled = g_raw / c.available_capacity
            g.add("pool.water", scaled)
            g.add("c.wilting_point", -scaled)
            g.add("c.available_capacity", -scaled * v.beta_raw)
    g.pop_("beta")
    if g_acm is not None:
        g.add("d.acm.daylength_factor", g_acm * v.g0)
        _acm_reverse(g, v, a, g_acm * a.daylength_factor)
    g_lai = g.pop_("lai")
    if g_lai is not None:
        g.add("pool.foliar", g_lai / c.leaf_mass_per_area)
        g.add("c.leaf_mass_per_area", -g_lai * v.lai / c.leaf_mass_per_area)


def _acm_reverse(g, v, a, g_g0):
    """Reverse of ACM's light-limited and CO2-limited rates (spec 4) to LAI and the drivers."""
    total = v.light + v.pd
    g_light = g_g0 * (v.pd * v.pd) / (total * total)
    g_pd = g_g0 * (v.light * v.light) / (total * total)
    g.add("d.acm.radiation", g_light * v.e0)
    g_e0 = g_light * a.radiation
    g.add("d.acm.conductance", g_pd * (a.co2 - v.ci))
    g.add("d.acm.co2", g_pd * a.conductance)
    g_ci = -g_pd * a.conductance
    g_s = 0.5 * g_ci
    g_disc = 0.5 * g_ci * 0.5 / v.root_disc
    g_s = g_s + 2.0 * v.s * g_disc
    g.add("d.acm.co2", -4.0 * Q_ACM * g_disc + g_s)
    g_p = 4.0 * THETA * g_disc - g_s
    g.add("d.acm.capacity", g_p * v.lai)
    denominator = C2 + v.lai2
    g_lai2 = g_e0 * (C1 * C2) / (denominator * denominator)
    g.add("lai", g_p * a.capacity + 2.0 * v.lai * g_lai2)
