"""Hand-written adjoint (reverse-mode derivative) of one DALEC993 step.

:func:`step_adjoint` recomputes the step's locals from the start-of-step pools and pulls the
cotangents of the new pools and of the step's outputs back to the pools, the step constants and
the drivers, line by line in reverse order of :func:`.step.step`. Every expression is elementwise
in the pixels, so XLA compiles the month's backward pass into a few fused loops instead of the
hundreds of kernels that JAX's generic transpose gives. Cotangents of outputs nobody asked for
are ``None`` and generate no work.

It covers the water-stress variants ``"default"`` and ``"nothing"``, with and without
``mass_conserving``; the network variants keep JAX's automatic derivative (see
:func:`.adjoint_loop.has_adjoint`). ``jax.grad`` of the plain loop is the oracle: the tests
compare both for every parity case.

The derivative of ``jnp.maximum(a, b)`` at ``a == b`` is split evenly between the two, as JAX
does, so gradients agree at ties too.
"""

from __future__ import annotations

from types import SimpleNamespace

import jax.numpy as jnp

from .acm import C1, C2, Q_ACM, THETA
from .canopy_adjoint import canopy_reverse
from .materialize import written_once
from .cotangents import Cotangents, kept, max0_slope, mul, neg, replaced
from .fire_adjoint import FIRE_POOLS, fire_forward, fire_reverse
from .types import POOL_BOUNDS, Pools

__all__ = ["ADJOINT_VARIANTS", "step_adjoint"]

#: Water-stress variants with a hand-written adjoint.
ADJOINT_VARIANTS = ("default", "nothing")


class _Locals(SimpleNamespace):
    """The recomputed locals of a step, each written to memory once.

    Most locals are read by several cotangents. Left to itself, XLA's CPU fusion copies the
    chain that forms a local into every kernel that reads it. Element operations per
    pixel-month of the 320-pixel training step (``benchmarks/hlo_work.py``): 8,224 storing
    nothing, 5,730 storing every local, 3,774 storing every local and every final cotangent
    (:meth:`.cotangents.Cotangents.pop_`), the fastest of the three.
    """

    def __setattr__(self, name, value):
        value = tuple(map(_once, value)) if isinstance(value, tuple) else _once(value)
        super().__setattr__(name, value)


def _once(x):
    floating = hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)
    return written_once(x) if floating else x


def _forward(c, pools, d, mass_conserving, water_stress):
    """The step's locals, exactly as :func:`.step.step` forms them (without the clamps' share)."""
    v = _Locals()
    dt = d.delta_t
    a = d.acm
    v.lai = pools.foliar / c.leaf_mass_per_area
    if water_stress == "default":
        v.beta_raw = (pools.water - c.wilting_point) / c.available_capacity
        v.beta_1 = jnp.where(v.beta_raw <= 1.0, v.beta_raw, 1.0)
        v.beta = jnp.where(v.beta_1 >= 0.0, v.beta_1, 0.0)
    else:
        v.beta = jnp.ones_like(v.lai)
    v.p = v.lai * a.capacity
    v.s = a.co2 + Q_ACM - v.p
    v.root_disc = jnp.sqrt(v.s * v.s - 4.0 * (a.co2 * Q_ACM - v.p * THETA))
    v.ci = 0.5 * (v.s + v.root_disc)
    v.lai2 = v.lai * v.lai
    v.e0 = C1 * v.lai2 / (C2 + v.lai2)
    v.pd = a.conductance * (a.co2 - v.ci)
    v.light = v.e0 * a.radiation
    v.g0 = v.light * v.pd / (v.light + v.pd)
    v.acm = v.g0 * a.daylength_factor
    v.gpp = v.acm * v.beta
    v.et0 = v.gpp * d.transpiration_per_gpp + a.radiation * d.soil_evaporation_coefficient

    v.ra = c.autotrophic_fraction * v.gpp
    v.npp = v.gpp - v.ra
    v.fp = v.npp * c.foliar_allocation
    v.lp = (v.npp - v.fp) * c.labile_allocation
    v.rp = (v.npp - v.fp - v.lp) * c.root_allocation
    v.wp = v.npp - v.fp - v.lp - v.rp

    v.lr0 = pools.labile * d.labile_release_rate
    v.ll0 = pools.foliar * d.leaf_fall_rate
    v.wl0 = pools.wood * d.wood_turnover_rate
    v.rl0 = pools.root * d.root_turnover_rate
    v.lresp0 = pools.litter * d.litter_respiration_rate
    v.sresp0 = pools.som * d.som_respiration_rate
    v.dec0 = pools.litter * d.decomposition_rate
    v.runoff_high = pools.water > 0.5 * c.runoff_focal_point
    v.runoff0 = jnp.where(v.runoff_high, (pools.water - 0.25 * c.runoff_focal_point) / dt,
                          pools.water * pools.water / c.runoff_focal_point / dt)

    def clamp_range(start, name, flux, base, old):
        low, high = POOL_BOUNDS[name]
        k_low = start >= low
        mid = jnp.where(k_low, start, low)
        flux = jnp.where(k_low, flux, base - (mid - old) / dt)
        k_high = mid <= high
        end = jnp.where(k_high, mid, high)
        return (k_low, mid, flux, k_high, end,
                jnp.where(k_high, flux, base - (end - old) / dt))

    v.lab1 = pools.labile + (v.lp - v.lr0) * dt
    v.lab = clamp_range(v.lab1, "labile", v.lr0, v.lp, pools.labile)
    v.lr = v.lab[5]
    v.fol1 = pools.foliar + (v.fp - v.ll0 + v.lr) * dt
    v.fol_keep = v.fol1 >= 1.0
    v.fol2 = jnp.where(v.fol_keep, v.fol1, 1.0)
    if mass_conserving:
        v.ll1 = jnp.where(v.fol_keep, v.ll0, v.fp + v.lr - (v.fol2 - pools.foliar) / dt)
    else:
        v.ll1 = jnp.where(v.fol_keep, v.ll0, 1.0)
    v.fol_keep_high = v.fol2 <= 2000.0
    v.fol3 = jnp.where(v.fol_keep_high, v.fol2, 2000.0)
    v.ll = jnp.where(v.fol_keep_high, v.ll1, v.fp + v.lr - (v.fol3 - pools.foliar) / dt)
    v.root1 = pools.root + (v.rp - v.rl0) * dt
    v.root = clamp_range(v.root1, "root", v.rl0, v.rp, pools.root)
    v.wood1 = pools.wood + (v.wp - v.wl0) * dt
    v.wood = clamp_range(v.wood1, "wood", v.wl0, v.wp, pools.wood)
    v.rl, v.wl = v.root[5], v.wood[5]

    v.lit1 = pools.litter + (v.ll + v.rl - v.lresp0 - v.dec0) * dt
    v.lit_keep = v.lit1 >= 1.0
    v.lit2 = jnp.where(v.lit_keep, v.lit1, 1.0)
    v.dec1 = jnp.where(v.lit_keep, v.dec0, v.ll + v.rl - v.lresp0 - (v.lit2 - pools.litter) / dt)
    v.positive = v.dec1 >= 0.0
    v.lresp = jnp.where(v.positive, v.lresp0, v.ll + v.rl - (v.lit2 - pools.litter) / dt)
    v.dec2 = jnp.where(v.positive, v.dec1, 0.0)
    v.lit_keep_high = v.lit2 <= 2000.0
    v.lit3 = jnp.where(v.lit_keep_high, v.lit2, 2000.0)
    v.dec = jnp.where(v.lit_keep_high, v.dec2,
                      v.ll + v.rl - v.lresp - (v.lit3 - pools.litter) / dt)
    v.som1 = pools.som + (v.dec - v.sresp0 + v.wl) * dt
    v.som = clamp_range(v.som1, "som", v.sresp0, v.dec + v.wl, pools.som)
    v.sresp = v.som[5]

    p = d.precipitation
    v.wat1 = pools.water - v.runoff0 * dt + p * dt - v.et0 * dt
    v.above = v.wat1 >= 1.0
    v.wat2 = jnp.where(v.above, v.wat1, 0.0 * v.wat1 + 1.0)
    v.runoff1 = jnp.where(v.above, v.runoff0, p - v.et0 - (v.wat2 - pools.water) / dt)
    v.negative = v.runoff1 < 0.0
    v.et = jnp.where(v.negative, p - (v.wat2 - pools.water) / dt, v.et0)
    v.runoff2 = jnp.where(v.negative, 0.0, v.runoff1) if mass_conserving else v.runoff1
    v.wat_keep = v.wat2 <= 10000.0
    v.wat3 = jnp.where(v.wat_keep, v.wat2, 10000.0)
    v.runoff = jnp.where(v.wat_keep, v.runoff2, p - v.et - (v.wat3 - pools.water) / dt)
    return v


#: Output names whose local in :func:`_forward` is named differently.
_OUTPUT_LOCALS = {
    "autotrophic_respiration": "ra", "foliar_production": "fp", "labile_production": "lp",
    "root_production": "rp", "wood_production": "wp", "labile_release": "lr",
    "leaf_litter": "ll", "wood_litter": "wl", "root_litter": "rl",
    "litter_respiration": "lresp", "som_respiration": "sresp", "litter_to_som": "dec",
    "water_stress": "beta", "water_balance_violation": "violation",
    **{f"{pool}_pool": f"new_{pool}" for pool in Pools._fields},
    **{f"{pool}_fire_combust": f"e_{pool}" for pool in FIRE_POOLS},
    **{f"{pool}_fire_transfer": f"m_{pool}" for pool in FIRE_POOLS if pool != "som"},
}


def _rediagnosed(g, t, bases, old_name, old, new, dt, new_name=None):
    """Reverse of ``sum(±base) - (new - old) / dt`` for the cotangent ``t``.

    ``new_name`` is None where ``new`` is a clamp bound wherever ``t`` is non-zero.
    """
    if t is None:
        return
    for name, sign in bases:
        g.add(name, t if sign > 0 else -t)
    if new_name is not None:
        g.add(new_name, -t / dt)
    g.add(old_name, t / dt)
    g.add("d.delta_t", t * (new - old) / (dt * dt))


def _clamp_range_reverse(g, state, start, flux0, flux, bases, old_name, old, dt, end):
    """Reverse of the lower-then-upper clamp of one pool and the re-diagnosis of its flux."""
    k_low, mid, _, k_high, clamped, _ = state
    g_flux = g.pop_(flux)
    g_mid_flux = kept(k_high, g_flux)
    _rediagnosed(g, replaced(k_high, g_flux), bases, old_name, old, clamped, dt)
    g_mid = kept(k_high, g.pop_(end))
    g.add(flux0, kept(k_low, g_mid_flux))
    _rediagnosed(g, replaced(k_low, g_mid_flux), bases, old_name, old, mid, dt)
    g.add(start, kept(k_low, g_mid))


def step_adjoint(c, pools: Pools, d, g_new: Pools, g_outputs: dict, mass_conserving=False,
                 water_stress="default"):
    """Cotangents of a step's inputs from those of its new pools and outputs.

    Parameters
    ----------
    c, pools, d
        The step's constants, start-of-step pools and drivers, as given to :func:`.step.step`.
    g_new : Pools
        Cotangent of the new pools (fields may be None: zero).
    g_outputs : dict
        Cotangent of each output of the step that has one (output names of
        :mod:`.outputs`); absent outputs have a zero cotangent.

    Returns
    -------
    g_pools : Pools
        Cotangent of the start-of-step pools (fields None where zero).
    g_inputs : dict
        Cotangents of the constants (``"c.<field>"``, ``"c.fire.<field>"``) and the drivers
        (``"d.<field>"``, ``"d.acm.<field>"``), each broadcast to the pixels; absent where zero.
    """
    if water_stress not in ADJOINT_VARIANTS:
        raise ValueError(f"no hand-written adjoint for water_stress={water_stress!r}")
    v = _forward(c, pools, d, mass_conserving, water_stress)
    dt = d.delta_t
    clamped = {"labile": v.lab[4], "foliar": v.fol3, "root": v.root[4], "wood": v.wood[4],
               "litter": v.lit3, "som": v.som[4]}
    fire = fire_forward(clamped, d.burned_per_day, c.fire, dt, mass_conserving)
    g = Cotangents()
    for name, value in g_outputs.items():
        g.add(_OUTPUT_LOCALS.get(name, name), value)
    for name in Pools._fields:
        g.add("new_" + name, getattr(g_new, name))

    g_vod = g.pop_("vod")
    if g_vod is not None:
        g.add("new_foliar", g_vod * c.vod_foliar)
        g.add("new_wood", g_vod * c.vod_wood)
        g.add("c.vod_foliar", g_vod * fire.new["foliar"])
        g.add("c.vod_wood", g_vod * fire.new["wood"])
    g_nbe = g.pop_("nbe")
    g.add("nee", g_nbe)
    g.add("fire_emission", g_nbe)
    g_nee = g.pop_("nee")
    g.add("gpp", neg(g_nee))
    for name in ("ra", "lresp", "sresp"):
        g.add(name, g_nee)
    g.add("wat3", g.pop_("new_water"))
    fire_reverse(g, fire, clamped, d.burned_per_day, c.fire, dt)
    _water_reverse(g, v, pools, d, mass_conserving)
    _runoff_reverse(g, v, c, pools, d)
    _carbon_reverse(g, v, pools, d, mass_conserving)
    canopy_reverse(g, v, c, pools, d, water_stress)
    g_pools = Pools(*(g.pop_("pool." + name) for name in Pools._fields))
    unresolved = sorted(k for k in g if not k.startswith(("c.", "d.")))
    if unresolved:  # a local whose reverse was never written
        raise AssertionError(f"step_adjoint left cotangents of {unresolved}")
    return g_pools, dict(g)


def _water_reverse(g, v, pools, d, mass_conserving):
    dt, w0 = d.delta_t, pools.water
    g_runoff = g.pop_("runoff")
    g.add("runoff2", kept(v.wat_keep, g_runoff))
    _rediagnosed(g, replaced(v.wat_keep, g_runoff), [("d.precipitation", 1), ("et", -1)],
                 "pool.water", w0, v.wat3, dt)
    g.add("wat2", kept(v.wat_keep, g.pop_("wat3")))
    g_runoff2 = g.pop_("runoff2")
    g.add("runoff1", replaced(v.negative, g_runoff2) if mass_conserving else g_runoff2)
    g_et = g.pop_("et")
    g.add("et0", replaced(v.negative, g_et))
    _rediagnosed(g, kept(v.negative, g_et), [("d.precipitation", 1)], "pool.water", w0, v.wat2,
                 dt, new_name="wat2")
    g.add("runoff1", mul(g.pop_("violation"), -0.01 * max0_slope(-0.01 * v.runoff1)))
    g_runoff1 = g.pop_("runoff1")
    g.add("runoff0", kept(v.above, g_runoff1))
    _rediagnosed(g, replaced(v.above, g_runoff1), [("d.precipitation", 1), ("et0", -1)],
                 "pool.water", w0, v.wat2, dt)
    g_wat1 = kept(v.above, g.pop_("wat2"))
    if g_wat1 is not None:
        g.add("pool.water", g_wat1)
        g.add("runoff0", -g_wat1 * dt)
        g.add("d.precipitation", g_wat1 * dt)
        g.add("et0", -g_wat1 * dt)
        g.add("d.delta_t", g_wat1 * (d.precipitation - v.runoff0 - v.et0))


def _budget_reverse(g, start, old_name, terms, dt):
    """Reverse of ``old + (sum of ±term) * dt``; ``terms`` are (name, value, sign)."""
    g_start = g.pop_(start)
    if g_start is None:
        return
    g.add(old_name, g_start)
    rate = None
    for name, value, sign in terms:
        g.add(name, g_start * dt if sign > 0 else -g_start * dt)
        rate = (value if sign > 0 else -value) if rate is None else (
            rate + value if sign > 0 else rate - value)
    g.add("d.delta_t", g_start * rate)


def _carbon_reverse(g, v, pools, d, mass_conserving):
    dt = d.delta_t
    _clamp_range_reverse(g, v.som, "som1", "sresp0", "sresp", [("dec", 1), ("wl", 1)],
                         "pool.som", pools.som, dt, "clamped_som")
    _budget_reverse(g, "som1", "pool.som", [("dec", v.dec, 1), ("sresp0", v.sresp0, -1),
                                            ("wl", v.wl, 1)], dt)
    # Litter: lower clamp (re-diagnoses decomposition), positivity of decomposition (re-diagnoses
    # litter respiration), upper clamp (re-diagnoses decomposition).
    g_dec = g.pop_("dec")
    g.add("dec2", kept(v.lit_keep_high, g_dec))
    _rediagnosed(g, replaced(v.lit_keep_high, g_dec), [("ll", 1), ("rl", 1), ("lresp", -1)],
                 "pool.litter", pools.litter, v.lit3, dt)
    g.add("lit2", kept(v.lit_keep_high, g.pop_("clamped_litter")))
    g.add("dec1", kept(v.positive, g.pop_("dec2")))
    g_lresp = g.pop_("lresp")
    g.add("lresp0", kept(v.positive, g_lresp))
    _rediagnosed(g, replaced(v.positive, g_lresp), [("ll", 1), ("rl", 1)], "pool.litter",
                 pools.litter, v.lit2, dt, new_name="lit2")
    g_dec1 = g.pop_("dec1")
    g.add("dec0", kept(v.lit_keep, g_dec1))
    _rediagnosed(g, replaced(v.lit_keep, g_dec1), [("ll", 1), ("rl", 1), ("lresp0", -1)],
                 "pool.litter", pools.litter, v.lit2, dt)
    g.add("lit1", kept(v.lit_keep, g.pop_("lit2")))
    _budget_reverse(g, "lit1", "pool.litter", [("ll", v.ll, 1), ("rl", v.rl, 1),
                                               ("lresp0", v.lresp0, -1), ("dec0", v.dec0, -1)],
                    dt)

    _clamp_range_reverse(g, v.wood, "wood1", "wl0", "wl", [("wp", 1)], "pool.wood", pools.wood,
                         dt, "clamped_wood")
    _budget_reverse(g, "wood1", "pool.wood", [("wp", v.wp, 1), ("wl0", v.wl0, -1)], dt)
    _clamp_range_reverse(g, v.root, "root1", "rl0", "rl", [("rp", 1)], "pool.root", pools.root,
                         dt, "clamped_root")
    _budget_reverse(g, "root1", "pool.root", [("rp", v.rp, 1), ("rl0", v.rl0, -1)], dt)

    g_ll = g.pop_("ll")
    g.add("ll1", kept(v.fol_keep_high, g_ll))
    _rediagnosed(g, replaced(v.fol_keep_high, g_ll), [("fp", 1), ("lr", 1)], "pool.foliar",
                 pools.foliar, v.fol3, dt)
    g.add("fol2", kept(v.fol_keep_high, g.pop_("clamped_foliar")))
    g_ll1 = g.pop_("ll1")
    g.add("ll0", kept(v.fol_keep, g_ll1))
    if mass_conserving:
        _rediagnosed(g, replaced(v.fol_keep, g_ll1), [("fp", 1), ("lr", 1)], "pool.foliar",
                     pools.foliar, v.fol2, dt)
    g.add("fol1", kept(v.fol_keep, g.pop_("fol2")))
    _budget_reverse(g, "fol1", "pool.foliar", [("fp", v.fp, 1), ("ll0", v.ll0, -1),
                                               ("lr", v.lr, 1)], dt)
    _clamp_range_reverse(g, v.lab, "lab1", "lr0", "lr", [("lp", 1)], "pool.labile",
                         pools.labile, dt, "clamped_labile")
    _budget_reverse(g, "lab1", "pool.labile", [("lp", v.lp, 1), ("lr0", v.lr0, -1)], dt)

    # First-order fluxes from the start-of-step pools.
    for flux, pool, rate in (("lr0", "labile", "labile_release_rate"),
                             ("ll0", "foliar", "leaf_fall_rate"),
                             ("wl0", "wood", "wood_turnover_rate"),
                             ("rl0", "root", "root_turnover_rate"),
                             ("lresp0", "litter", "litter_respiration_rate"),
                             ("sresp0", "som", "som_respiration_rate"),
                             ("dec0", "litter", "decomposition_rate")):
        g_flux = g.pop_(flux)
        if g_flux is not None:
            g.add("pool." + pool, g_flux * getattr(d, rate))
            g.add("d." + rate, g_flux * getattr(pools, pool))


def _runoff_reverse(g, v, c, pools, d):
    """Reverse of the start-of-step runoff: linear above half the focal point, quadratic below."""
    g_runoff = g.pop_("runoff0")
    if g_runoff is None:
        return
    dt, w, focal = d.delta_t, pools.water, c.runoff_focal_point
    high, low = kept(v.runoff_high, g_runoff), replaced(v.runoff_high, g_runoff)
    g.add("pool.water", high / dt + low * (2.0 * w / focal / dt))
    g.add("c.runoff_focal_point", -0.25 * high / dt - low * (w * w / (focal * focal) / dt))
    g.add("d.delta_t", -v.runoff0 * g_runoff / dt)
