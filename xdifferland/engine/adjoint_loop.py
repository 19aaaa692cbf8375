"""The time loop with a hand-written reverse pass (``jax.custom_vjp`` over the whole scan).

Forward: the plain ``lax.scan`` of :func:`.step.step`, which also keeps the start-of-step pools
of every month (seven ``(time, pixel)`` arrays, the only residuals). Reverse: one reverse
``lax.scan`` over the months whose body recomputes the step from the kept pools and applies
:func:`.step_adjoint.step_adjoint`; the cotangents of the loop constants accumulate in the carry
and those of the per-month drivers are the scan's outputs. No intermediate of the step is stored
over time and JAX's generic transpose is not involved.

:func:`has_adjoint` says when the loop takes this path; otherwise :mod:`.simulate` keeps JAX's
automatic derivative of the checkpointed scan, which is also the tests' oracle.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .step import step
from .step_adjoint import ADJOINT_VARIANTS, step_adjoint
from .types import Pools

__all__ = ["LoopSpec", "has_adjoint", "adjoint_loop"]


class LoopSpec(NamedTuple):
    """Static description of one time loop (hashable: a ``nondiff`` argument)."""

    driver_tree: object  #: PyTreeDef of the step drivers
    in_loop: tuple  #: per driver leaf: a loop input (True) or a loop constant (False)
    driver_names: tuple  #: per driver leaf: its cotangent name ("d.acm.capacity", ...)
    const_names: tuple  #: per step-constant leaf: its cotangent name ("c.fire.som_combust", ...)
    series: tuple  #: outputs stacked over time
    totals: tuple  #: outputs summed over time
    mass_conserving: bool
    water_stress: str
    unroll: int
    #: Optional monitor riding along the loop (see :func:`.simulate.run_loop`), e.g. the
    #: loop-accumulated loss; its reverse pass needs ``monitor.reads`` (the fluxes it reads) and
    #: ``monitor.kept`` (the carry entries whose values its derivative depends on).
    monitor: object = None


def has_adjoint(water_stress: str, forward_mode: bool = False) -> bool:
    """Whether the loop's reverse pass is hand-written for this configuration.

    The water-stress networks (``"nn_paw"``, ``"gpp_acm_et_nn"``, ``"nn_whole"``,
    ``"nn_whole_no_lai"``) keep JAX's automatic derivative, as does forward-mode
    differentiation (``forward_mode=True``), which a custom VJP cannot serve.

    Examples
    --------
    >>> has_adjoint("default"), has_adjoint("nn_paw"), has_adjoint("default", forward_mode=True)
    (True, False, False)
    """
    return water_stress in ADJOINT_VARIANTS and not forward_mode


def leaf_names(tree, prefix: str) -> tuple[str, ...]:
    """Dotted names of the leaves of a pytree of named tuples, in leaf order."""
    paths, _ = jax.tree_util.tree_flatten_with_path(tree)
    return tuple(".".join([prefix, *(str(k.name) for k in path)]) for path, _ in paths)


def merge_drivers(tree, in_loop, xs, consts):
    """The step drivers from one month's loop inputs ``xs`` and the loop constants ``consts``
    (the split of :func:`.simulate._split_drivers`: ``in_loop`` flags each leaf of ``tree``)."""
    xs, consts = iter(xs), iter(consts)
    return jax.tree_util.tree_unflatten(tree, [next(xs) if m else next(consts) for m in in_loop])


def _merge(spec, xs_t, consts):
    return merge_drivers(spec.driver_tree, spec.in_loop, xs_t, consts)


def _run(spec: LoopSpec, const, pools0, xs, consts, watch_xs, keep: bool):
    monitor = spec.monitor

    def body(carry, inputs):
        pools, sums, watched = carry
        xs_t, watch_t = inputs
        d = _merge(spec, xs_t, consts)
        new, fluxes = step(const, pools, d, spec.mass_conserving, spec.water_stress, None,
                           lambda x: x)
        sums = {name: sums[name] + fluxes[name] for name in spec.totals}
        out = {name: fluxes[name] for name in spec.series}
        kept = None
        if monitor is not None:
            kept = {name: watched[name] for name in monitor.kept}
            watched, monitored = monitor.update(watched, fluxes, watch_t)
            out = (out, monitored)
        return (new, sums, watched), ((out, pools, kept) if keep else out)

    zero = jnp.zeros_like(pools0.labile)
    watched = None if monitor is None else monitor.start(zero.shape[0], zero.dtype)
    start = (pools0, {name: zero for name in spec.totals}, watched)
    n_time = jax.tree_util.tree_leaves(xs)[0].shape[0]
    (final, sums, watched), ys = jax.lax.scan(body, start, (xs, watch_xs), length=n_time,
                                              unroll=spec.unroll)
    return final, sums, watched, ys


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def adjoint_loop(spec: LoopSpec, const, pools0: Pools, xs, consts, watch_xs=None):
    """Run the loop: ``(final_pools, totals, monitor_carry, series)``; reverse mode uses the
    hand-written adjoint.

    ``xs`` are the per-month driver leaves (``(time, k)``, ``k`` 1 or pixels) and ``consts``
    the constant ones, split as :class:`LoopSpec` says; ``pools0`` and the leaves of ``const``
    are ``(pixel,)``. With a monitor (``spec.monitor``), ``watch_xs`` are its per-month inputs
    (data: their cotangents are zero), ``series`` is ``(outputs, monitored)`` and the monitor's
    own derivative (JAX's, of one month's ``update``) joins each reverse month.
    """
    return _run(spec, const, pools0, xs, consts, watch_xs, keep=False)


def _forward(spec, const, pools0, xs, consts, watch_xs=None):
    final, sums, watched, (series, pools, kept) = _run(spec, const, pools0, xs, consts,
                                                       watch_xs, keep=True)
    return (final, sums, watched, series), (const, pools, kept, xs, consts, watch_xs)


def _monitor_pullback(monitor, step_fluxes, kept_t, watch_t, g_watched, g_monitored_t):
    """Cotangents of one month's fluxes and of the monitor's carry before the month."""
    some = next(iter(step_fluxes.values()))
    # entries not kept enter the update linearly: their values do not change the derivative
    carry_t = {**monitor.start(some.shape[0], some.dtype), **kept_t}

    def update(carry, fluxes):
        return monitor.update(carry, fluxes, watch_t)

    _, pullback = jax.vjp(update, carry_t, step_fluxes)
    return pullback((g_watched, g_monitored_t))


def _reduce_to(g, shape):
    """Sum a cotangent over the axes its primal was broadcast along."""
    extra = g.ndim - len(shape)
    if extra > 0:
        g = jnp.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return jnp.sum(g, axis=axes, keepdims=True) if axes else g


def _backward(spec, residuals, cotangents):
    const, pools, kept, xs, consts, watch_xs = residuals
    g_final, g_sums, g_watched, g_series = cotangents
    monitor = spec.monitor
    g_series, g_monitored = g_series if monitor is not None else (g_series, None)
    n_pixel = pools.labile.shape[1]
    dtype = pools.labile.dtype
    zero = jnp.zeros((n_pixel,), dtype)
    loop_names = [n for n, m in zip(spec.driver_names, spec.in_loop) if m]
    const_driver_names = [n for n, m in zip(spec.driver_names, spec.in_loop) if not m]
    const_leaves, const_tree = jax.tree_util.tree_flatten(const)

    def body(carry, inputs):
        g_pools, g_const, g_drivers, g_watched = carry
        pools_t, xs_t, g_series_t, kept_t, watch_t, g_monitored_t = inputs
        d = _merge(spec, xs_t, consts)
        g_out = dict(g_series_t)
        for name in spec.totals:
            g_out[name] = g_out[name] + g_sums[name] if name in g_out else g_sums[name]
        if monitor is not None:
            _, fluxes = step(const, pools_t, d, spec.mass_conserving, spec.water_stress, None,
                             lambda x: x)
            g_watched, g_fluxes = _monitor_pullback(
                monitor, {name: fluxes[name] for name in monitor.reads}, kept_t, watch_t,
                g_watched, g_monitored_t)
            for name, g in g_fluxes.items():
                g_out[name] = g_out[name] + g if name in g_out else g
        g_prev, g_in = step_adjoint(const, pools_t, d, g_pools, g_out, spec.mass_conserving,
                                    spec.water_stress)
        g_prev = Pools(*(zero if g is None else jnp.broadcast_to(g, zero.shape) for g in g_prev))
        g_const = {n: g_const[n] + g_in[n] if n in g_in else g_const[n] for n in g_const}
        g_drivers = {n: g_drivers[n] + g_in[n] if n in g_in else g_drivers[n]
                     for n in g_drivers}
        # Per pixel, even for a (time, 1) input: its sum over the pixels is taken after the
        # loop, where it does not depend on how XLA compiles the loop.
        g_xs_t = [jnp.broadcast_to(g_in[n], zero.shape) if n in g_in else zero
                  for n in loop_names]
        return (g_prev, g_const, g_drivers, g_watched), g_xs_t

    start = (Pools(*(jnp.broadcast_to(g, zero.shape) for g in g_final)),
             {n: zero for n in spec.const_names}, {n: zero for n in const_driver_names},
             g_watched)
    (g_pools0, g_const, g_drivers, _), g_xs = jax.lax.scan(
        body, start, (pools, xs, g_series, kept, watch_xs, g_monitored), reverse=True,
        unroll=spec.unroll)
    g_const_tree = jax.tree_util.tree_unflatten(
        const_tree, [_reduce_to(g_const[n], leaf.shape)
                     for n, leaf in zip(spec.const_names, const_leaves)])
    g_consts = [_reduce_to(g_drivers[n], jnp.shape(c)) for n, c in zip(const_driver_names, consts)]
    g_xs = [_reduce_to(g, x.shape) for g, x in zip(g_xs, xs)]
    g_watch_xs = jax.tree_util.tree_map(jnp.zeros_like, watch_xs)  # data: no cotangent
    return g_const_tree, g_pools0, g_xs, g_consts, g_watch_xs


adjoint_loop.defvjp(_forward, _backward)
