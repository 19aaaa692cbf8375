"""Fire losses of one step and their hand-written adjoint (part of :mod:`.step_adjoint`).

Forward: each clamped carbon pool loses ``pool × burned-per-day × factor`` to combustion and to
fire mortality (transfer to litter and soil), as in :func:`.step.step`; with ``mass_conserving``
each pool's losses are scaled so that it keeps at least 1 g C m-2 (the litter and soil pools
counting their fire inflows). Reverse: :func:`fire_reverse` pulls the cotangents of the new pools
and of the fire outputs back to the clamped pools, the burned fraction, the fire factors and the
step length.
"""

from __future__ import annotations

from types import SimpleNamespace

import jax.numpy as jnp

from .cotangents import max0_slope

__all__ = ["FIRE_POOLS", "fire_forward", "fire_reverse"]

#: Carbon pools in the order fire is applied, with their (combustion, mortality) factors.
FIRE_POOLS = {
    "labile": ("labile_combust", "labile_transfer"),
    "foliar": ("foliar_combust", "foliar_transfer"),
    "root": ("labile_combust", "labile_transfer"),
    "wood": ("labile_combust", "labile_transfer"),
    "litter": ("litter_combust", "litter_transfer"),
    "som": ("som_combust", None),
}
#: Pools whose fire mortality flows into the litter and soil pools.
_INFLOWS = {"litter": ("labile", "foliar", "root"), "som": ("wood", "litter")}


def fire_forward(clamped: dict, burned_per_day, fire, dt, mass_conserving: bool):
    """Combustion ``e``, mortality ``m`` and the new pools; returns a namespace of locals."""
    f = SimpleNamespace(raw_e={}, raw_m={}, e={}, m={}, limit={})
    for name, (combust, transfer) in FIRE_POOLS.items():
        pool = clamped[name]
        f.raw_e[name] = pool * (burned_per_day * getattr(fire, combust))
        f.raw_m[name] = (pool * (burned_per_day * getattr(fire, transfer)) if transfer
                         else jnp.zeros_like(pool))
        if not mass_conserving:
            f.e[name], f.m[name] = f.raw_e[name], f.raw_m[name]
            continue
        inflow = None
        for source in _INFLOWS.get(name, ()):
            inflow = f.m[source] if inflow is None else inflow + f.m[source]
        loss = (f.raw_e[name] + f.raw_m[name]) * dt
        room = pool - 1.0 + (0.0 * pool if inflow is None else inflow) * dt
        allowed = jnp.maximum(room, 0.0)
        too_much = loss > allowed
        safe_loss = jnp.where(too_much, loss, 1.0)
        scale = jnp.where(too_much, allowed / safe_loss, 1.0)
        f.limit[name] = SimpleNamespace(inflow=inflow, room=room, allowed=allowed,
                                        too_much=too_much, safe_loss=safe_loss, scale=scale)
        f.e[name], f.m[name] = f.raw_e[name] * scale, f.raw_m[name] * scale
    e, m = f.e, f.m
    f.new = {
        "labile": clamped["labile"] - (e["labile"] + m["labile"]) * dt,
        "foliar": clamped["foliar"] - (e["foliar"] + m["foliar"]) * dt,
        "root": clamped["root"] - (e["root"] + m["root"]) * dt,
        "wood": clamped["wood"] - (e["wood"] + m["wood"]) * dt,
        "litter": clamped["litter"] + (m["labile"] + m["foliar"] + m["root"] - e["litter"]
                                       - m["litter"]) * dt,
        "som": clamped["som"] + (m["wood"] + m["litter"] - e["som"]) * dt,
    }
    return f


def fire_reverse(g, f, clamped: dict, burned_per_day, fire, dt):
    """Pull ``g["new_<pool>"]``, ``g["fire_emission"]``, ``g["e_<pool>"]``, ``g["m_<pool>"]``
    back to ``g["clamped_<pool>"]``, ``g["d.burned_per_day"]``, ``g["c.fire.<factor>"]`` and
    ``g["d.delta_t"]`` (``g`` is the adjoint's cotangent table)."""
    emission = g.pop_("fire_emission")
    for name in FIRE_POOLS:
        g.add("e_" + name, emission)
    e, m = f.e, f.m
    for name in ("labile", "foliar", "root", "wood"):  # pool - (e + m) dt
        gn = g.pop_("new_" + name)
        if gn is not None:
            g.add("clamped_" + name, gn)
            g.add("e_" + name, -gn * dt)
            g.add("m_" + name, -gn * dt)
            g.add("d.delta_t", -gn * (e[name] + m[name]))
    gn = g.pop_("new_litter")
    if gn is not None:
        g.add("clamped_litter", gn)
        for source in ("labile", "foliar", "root"):
            g.add("m_" + source, gn * dt)
        g.add("e_litter", -gn * dt)
        g.add("m_litter", -gn * dt)
        g.add("d.delta_t", gn * (m["labile"] + m["foliar"] + m["root"] - e["litter"]
                                 - m["litter"]))
    gn = g.pop_("new_som")
    if gn is not None:
        g.add("clamped_som", gn)
        g.add("m_wood", gn * dt)
        g.add("m_litter", gn * dt)
        g.add("e_som", -gn * dt)
        g.add("d.delta_t", gn * (m["wood"] + m["litter"] - e["som"]))

    for name in reversed(tuple(FIRE_POOLS)):
        combust, transfer = FIRE_POOLS[name]
        ge, gm = g.pop_("e_" + name), g.pop_("m_" + name)
        if transfer is None:
            gm = None
        if name in f.limit:
            ge, gm = _limit_reverse(g, name, f, ge, gm, dt)
            gm = None if transfer is None else gm  # the soil pool has no mortality flux
        pool = clamped[name]
        if ge is not None:
            factor = getattr(fire, combust)
            g.add("clamped_" + name, ge * (burned_per_day * factor))
            g.add("d.burned_per_day", ge * pool * factor)
            g.add("c.fire." + combust, ge * pool * burned_per_day)
        if gm is not None:
            factor = getattr(fire, transfer)
            g.add("clamped_" + name, gm * (burned_per_day * factor))
            g.add("d.burned_per_day", gm * pool * factor)
            g.add("c.fire." + transfer, gm * pool * burned_per_day)


def _limit_reverse(g, name, f, ge, gm, dt):
    """Reverse of the mass-conserving scaling of one pool's fire losses."""
    lim = f.limit[name]
    raw_e, raw_m = f.raw_e[name], f.raw_m[name]
    g_scale = None
    if ge is not None:
        g_scale = ge * raw_e
        ge = ge * lim.scale
    if gm is not None:
        g_scale = gm * raw_m if g_scale is None else g_scale + gm * raw_m
        gm = gm * lim.scale
    if g_scale is None:
        return ge, gm
    g_allowed = jnp.where(lim.too_much, g_scale / lim.safe_loss, 0.0)
    g_loss = jnp.where(lim.too_much, -g_scale * lim.allowed / (lim.safe_loss * lim.safe_loss),
                       0.0)
    g_room = g_allowed * max0_slope(lim.room)
    g.add("clamped_" + name, g_room)
    if lim.inflow is not None:
        for source in _INFLOWS[name]:
            g.add("m_" + source, g_room * dt)
        g.add("d.delta_t", g_room * lim.inflow)
    g.add("d.delta_t", g_loss * (raw_e + raw_m))
    ge = g_loss * dt if ge is None else ge + g_loss * dt
    gm = g_loss * dt if gm is None else gm + g_loss * dt
    return ge, gm
