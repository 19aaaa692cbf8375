"""The steady-state (EDC) term of the loss and the time totals it reads (spec section 8.5).

Each carbon pool's inflows over outflows, times its mean January pool over its initial value,
should be near 1 (a pool neither running away nor collapsing); :func:`edc_per_pixel` penalises
the log of that product. The fluxes enter only as time totals (``"sum:<name>"`` outputs), so the
time loop never stacks them.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp

from ..typing import Array
from .outputs import TOTAL_PREFIX
from .types import Pools

__all__ = ["EDC_BUDGETS", "EDC_EPSILON", "EDC_FLUXES", "edc_loss", "edc_penalty", "edc_per_pixel",
           "time_total"]

#: Epsilon of the EDC term (spec 8.5).
EDC_EPSILON = 1e-3


def time_total(outputs: Mapping[str, Array], name: str) -> Array:
    """``(pixel,)`` time sum of output ``name``: its ``"sum:"`` total, or its series summed."""
    total = outputs.get(TOTAL_PREFIX + name)
    return jnp.sum(outputs[name], axis=0) if total is None else total


#: Carbon budget of each pool for the EDC term (spec 8.5), keyed by the :class:`Pools` field of its
#: initial value: (inflow outputs, outflow outputs, end-of-step pool output).
EDC_BUDGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "labile": (("labile_production",),
               ("labile_release", "labile_fire_combust", "labile_fire_transfer"), "labile_pool"),
    "foliar": (("foliar_production", "labile_release"),
               ("leaf_litter", "foliar_fire_transfer", "foliar_fire_combust"), "foliar_pool"),
    "root": (("root_production",),
             ("root_litter", "root_fire_combust", "root_fire_transfer"), "root_pool"),
    "wood": (("wood_production",),
             ("wood_litter", "wood_fire_combust", "wood_fire_transfer"), "wood_pool"),
    "litter": (("leaf_litter", "root_litter", "labile_fire_transfer", "foliar_fire_transfer",
                "root_fire_transfer"),
               ("litter_respiration", "litter_to_som", "litter_fire_combust",
                "litter_fire_transfer"), "litter_pool"),
    "som": (("wood_litter", "litter_to_som", "wood_fire_transfer", "litter_fire_transfer"),
            ("som_respiration", "som_fire_combust"), "som_pool"),
}
#: The fluxes whose time totals the EDC term reads.
EDC_FLUXES: tuple[str, ...] = tuple(dict.fromkeys(
    name for inflow, outflow, _ in EDC_BUDGETS.values() for name in (*inflow, *outflow)))
_EDC_OUTPUTS = tuple(dict.fromkeys(
    [TOTAL_PREFIX + name for name in EDC_FLUXES] + [pool for _, _, pool in EDC_BUDGETS.values()]))


def edc_per_pixel(outputs: Mapping[str, Array], initial_pools: Pools,
                  epsilon: float = EDC_EPSILON) -> Array:
    r"""Ungated steady-state (EDC) penalty of every pixel, spec 8.5.

    For each carbon pool :math:`p` (water excluded), with sums over all steps,

    .. math::
        r_p = \frac{\sum \mathrm{in}_p}{\max(\sum \mathrm{out}_p, \epsilon)},\quad
        J_p = \operatorname{mean}_{t=11,23,\dots} \mathrm{pool}_p(t),\quad
        \mathrm{EDC} = \sum_p \Big(\frac{|\ln(r_p J_p / x_{0,p} + \epsilon)|}{\ln 2}\Big)^2 .

    Parameters
    ----------
    outputs : mapping of str to Array
        The engine outputs of :data:`EDC_BUDGETS`, each ``(time, pixel)`` with ``time >= 12``.
    initial_pools : Pools
        Initial pools :math:`x_0`, each ``(pixel,)``.
    epsilon : float, default 1e-3

    Returns
    -------
    Array
        ``(pixel,)``.
    """
    n_time = outputs["labile_pool"].shape[0]
    if n_time < 12:
        raise ValueError(f"the EDC term needs at least 12 time steps, got {n_time}")
    totals = {name: time_total(outputs, name) for name in EDC_FLUXES}
    january = {pool: jnp.mean(outputs[state][11::12], axis=0)
               for pool, (_, _, state) in EDC_BUDGETS.items()}
    return edc_penalty(totals, january, initial_pools, epsilon)


def edc_penalty(totals: Mapping[str, Array], january: Mapping[str, Array], initial_pools: Pools,
                epsilon: float = EDC_EPSILON) -> Array:
    """:func:`edc_per_pixel` from the time totals of :data:`EDC_FLUXES` and the January means.

    ``totals`` maps each flux to its ``(pixel,)`` sum over all steps; ``january`` maps each
    pool of :data:`EDC_BUDGETS` to the mean of its end-of-step values at steps 11, 23, ...
    (the loop-accumulated loss, :mod:`.loss_in_loop`, forms both without stacking a series).
    """
    penalty = 0.0
    for pool, (inflows, outflows, _) in EDC_BUDGETS.items():
        total_in = sum(totals[name] for name in inflows)
        total_out = sum(totals[name] for name in outflows)
        ratio = total_in / jnp.maximum(total_out, epsilon)
        log_change = jnp.abs(jnp.log(ratio * january[pool] / getattr(initial_pools, pool)
                                     + epsilon))
        penalty = penalty + (log_change / jnp.log(2.0)) ** 2
    return penalty


def edc_loss(outputs, observation, context):
    """EDC penalty summed over pixels, each weighted by ``context.edc_gate`` (default 1)."""
    if context.initial_pools is None:
        raise ValueError("the EDC term needs the initial pools")
    per_pixel = edc_per_pixel(outputs, context.initial_pools, context.epsilon)
    gate = 1.0 if context.edc_gate is None else context.edc_gate
    return jnp.sum(per_pixel * gate)
