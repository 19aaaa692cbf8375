"""The ``lax.scan`` driver: array-level DALEC993 simulation, compiled once per shape."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..typing import Array
from .adjoint_loop import LoopSpec, adjoint_loop, has_adjoint, leaf_names, merge_drivers
from .materialize import shared
from .outputs import TOTAL_PREFIX, is_total, resolve_outputs, total_base
from .step import DRIVER_OUTPUTS, constants, init, prepare, step
from .types import Forcing, Parameters, Pools

__all__ = ["Simulation", "simulate", "as_dtype", "normalized", "run_loop", "whole_step_days"]


class Simulation(NamedTuple):
    """Result of :func:`simulate`: requested outputs ``(time, pixel)`` and the final pools."""

    outputs: dict[str, Array]
    final_pools: Pools


def as_dtype(tree, dtype=None):
    """Cast every leaf to the engine's float dtype (float32, or float64 with ``jax_enable_x64``)."""
    dtype = dtype or jnp.result_type(float)

    def cast(x):  # a JAX array of the right dtype is kept as it is (saves ~1 ms per call)
        keep = isinstance(x, jax.Array) and x.dtype == dtype and not x.weak_type
        return x if keep else jnp.asarray(x, dtype)

    return jax.tree_util.tree_map(cast, tree)


def whole_step_days(delta_t) -> int | None:
    """``delta_t`` as a whole number of days (1 to 366), or None.

    None also when ``delta_t`` is traced (inside someone's ``jax.jit``), varies, or is not whole.

    Examples
    --------
    >>> whole_step_days(30.0), whole_step_days(1.0), whole_step_days(7.5)
    (30, 1, None)
    """
    if isinstance(delta_t, jax.core.Tracer):
        return None
    values = np.unique(np.asarray(delta_t, dtype=float))
    if values.size != 1 or not float(values[0]).is_integer() or not 1 <= values[0] <= 366:
        return None
    return int(values[0])


def _resolve_step_days(step_days, delta_t) -> int | None:
    """``step_days`` checked against a concrete ``delta_t``, or found from it."""
    found = whole_step_days(delta_t)
    if step_days is None:
        return found
    traced = isinstance(delta_t, jax.core.Tracer)
    whole = isinstance(step_days, (int, np.integer)) and step_days >= 1
    if not whole or (not traced and found != step_days):
        given = "traced" if traced else np.unique(np.asarray(delta_t, dtype=float)).tolist()
        raise ValueError(f"step_days={step_days!r} does not match forcing.delta_t ({given}); "
                         "leave step_days out to take it from a concrete delta_t")
    return int(step_days)


def _split_drivers(drivers, n_time: int):
    """Split the drivers into per-step loop inputs and loop constants (a mask and two pytrees).

    A field with a time axis longer than 1 becomes a loop input of shape ``(time, k)`` with
    ``k`` 1 or ``pixel``; every other field is closed over as ``(k,)`` or a scalar. Nothing is
    broadcast to ``(time, pixel)`` that is not already that shape.
    """
    leaves, tree = jax.tree_util.tree_flatten(drivers)
    in_loop = []
    for leaf in leaves:
        ndim = jnp.ndim(leaf)
        in_loop.append(ndim == 2 and jnp.shape(leaf)[0] == n_time and n_time > 1)
    xs = [jnp.broadcast_to(x, (n_time, jnp.shape(x)[1])) for x, m in zip(leaves, in_loop) if m]
    consts = [x[0] if jnp.ndim(x) == 2 else x for x, m in zip(leaves, in_loop) if not m]
    return tree, in_loop, xs, consts


@partial(jax.jit, static_argnames=("outputs", "mass_conserving", "unroll", "water_stress",
                                   "forward_mode", "step_days", "adjoint"))
def _simulate(parameters, forcing, outputs, mass_conserving, unroll, water_stress="default",
              stress_weights=None, forward_mode=False, step_days=None, adjoint=False):
    return run_loop(parameters, forcing, outputs, mass_conserving, unroll, water_stress,
                    stress_weights, forward_mode, step_days, adjoint)[0]


def run_loop(parameters, forcing, outputs, mass_conserving=False, unroll=1,
             water_stress="default", stress_weights=None, forward_mode=False, step_days=None,
             adjoint=False, monitor=None, monitor_inputs=None):
    """The time loop behind :func:`simulate`: ``(Simulation, (monitor_carry, monitor_series))``.

    Arguments are :func:`simulate`'s, already normalized (``Forcing`` and ``Parameters`` of the
    engine dtype, canonical output names). ``monitor`` optionally rides along the loop: an
    object with ``start(n_pixel, dtype) -> carry`` and ``update(carry, fluxes, inputs_t) ->
    (carry, series_t)``, given each month's step fluxes and its slice of ``monitor_inputs``
    (arrays with a leading time axis); the loop-accumulated loss (:mod:`.loss_in_loop`) is
    one. With ``adjoint`` a monitor also needs ``reads`` and ``kept`` (see
    :class:`.adjoint_loop.LoopSpec`).
    """
    share = (lambda x: x) if forward_mode else shared
    drivers = prepare(parameters, forcing, water_stress, step_days)
    const = constants(parameters)
    totals = tuple(total_base(name) for name in outputs if is_total(name))
    series = tuple(name for name in outputs if not is_total(name))
    in_loop_outputs = tuple(name for name in series if name not in DRIVER_OUTPUTS)
    in_loop_totals = tuple(name for name in totals if name not in DRIVER_OUTPUTS)
    n_time = _n_time(forcing)
    shape = (n_time, jnp.shape(parameters.decomposition_rate)[0])
    dtype = jnp.result_type(parameters.decomposition_rate)
    step_drivers = drivers._replace(rate_modifier=None, leaf_fall_factor=None,
                                    labile_release_factor=None)
    tree, in_loop, xs, consts = _split_drivers(step_drivers, n_time)
    if adjoint and has_adjoint(water_stress, forward_mode):
        spec = LoopSpec(tree, tuple(in_loop), leaf_names(step_drivers, "d"),
                        leaf_names(const, "c"), in_loop_outputs, in_loop_totals,
                        mass_conserving, water_stress, unroll, monitor)
        final, sums, watched, stacked = adjoint_loop(spec, const, init(parameters), xs, consts,
                                                     monitor_inputs)
        stacked, monitored = stacked if monitor is not None else (stacked, None)
        run = Simulation(_assemble(drivers, series, totals, stacked, sums, shape), final)
        return run, (watched, monitored)

    def body(carry, xs_t):
        pools, sums, watched = carry
        drivers_t, monitor_t = xs_t
        d = merge_drivers(tree, in_loop, drivers_t, consts)
        new, fluxes = step(const, pools, d, mass_conserving, water_stress, stress_weights, share)
        sums = {name: sums[name] + fluxes[name] for name in in_loop_totals}
        watched, monitored_t = ((None, None) if monitor is None
                                else monitor.update(watched, fluxes, monitor_t))
        return (new, sums, watched), ({name: fluxes[name] for name in in_loop_outputs},
                                      monitored_t)

    # Under differentiation the step is recomputed in the backward pass from the carried pools
    # instead of stacking its ~100 intermediates over time; a forward run is unaffected.
    body = jax.checkpoint(body, prevent_cse=False)
    zero = jnp.zeros(shape[1:], dtype)
    watched = None if monitor is None else monitor.start(shape[1], dtype)
    start = (init(parameters), {name: zero for name in in_loop_totals}, watched)
    (final, sums, watched), (stacked, monitored) = jax.lax.scan(
        body, start, (xs, monitor_inputs), length=n_time, unroll=unroll)
    run = Simulation(_assemble(drivers, series, totals, stacked, sums, shape), final)
    return run, (watched, monitored)


def _assemble(drivers, series, totals, stacked, sums, shape):
    """The requested outputs: loop results, and driver outputs served from ``prepare``."""
    result = {}
    for name in series:
        result[name] = (jnp.broadcast_to(getattr(drivers, DRIVER_OUTPUTS[name]), shape)
                        if name in DRIVER_OUTPUTS else stacked[name])
    for name in totals:
        result[TOTAL_PREFIX + name] = (
            jnp.sum(jnp.broadcast_to(getattr(drivers, DRIVER_OUTPUTS[name]), shape), axis=0)
            if name in DRIVER_OUTPUTS else sums[name])
    return result


def _n_time(forcing) -> int:
    """Number of steps: the leading axis of the time-varying forcing fields."""
    lengths = {jnp.shape(f)[0] for f in forcing if jnp.ndim(f) == 2}
    if not lengths:
        raise ValueError("the forcing has no (time, pixel) field")
    return max(lengths)


def simulate(
    parameters: Parameters,
    forcing: Forcing,
    outputs: Sequence[str] | str | None = ("lai", "gpp", "et", "nbe"),
    *,
    mass_conserving: bool = False,
    unroll: int = 1,
    water_stress: str = "default",
    stress_weights=None,
    forward_mode: bool = False,
    step_days: int | None = None,
    adjoint: bool = False,
) -> Simulation:
    """Run DALEC993 over the forcing for every pixel.

    Parameters
    ----------
    parameters : Parameters
        Physical parameters, one ``(pixel,)`` array per registry entry.
    forcing : Forcing
        Drivers, each ``(time, pixel)`` or broadcastable to it.
    outputs : sequence of str, str or None
        Output names or published aliases (``"ET"``, ``"nbe"``, ...); ``None`` or ``"all"`` for
        all 44. Only these are stacked over time; the others are never materialized.
    mass_conserving : bool, default False
        Repair the reference quirks that break carbon and water budgets (see the docs).
    unroll : int, default 1
        Steps per loop iteration given to :func:`jax.lax.scan`.
    water_stress : {"default", "nothing", "nn_paw", "gpp_acm_et_nn", "nn_whole", "nn_whole_no_lai"}
        Water-stress variant (spec 6.11; :mod:`xdifferland.engine.water_stress` describes each).
        ``"nn_paw"``, ``"gpp_acm_et_nn"`` and the whole-network ones need ``stress_weights``
        (see :func:`xdifferland.engine.water_stress.init_water_stress`).
    forward_mode : bool, default False
        Set when differentiating the run in forward mode (``jax.jvp``, ``jax.jacfwd``). By
        default the step marks the intermediates its reverse-mode gradient reads many times
        (:func:`xdifferland.engine.materialize.shared`, a custom VJP, which forward mode cannot
        differentiate); values are identical either way.
    step_days : int, optional
        ``forcing.delta_t`` as a whole number of days, for callers inside their own ``jax.jit``
        (where ``delta_t`` is traced). Found from a concrete ``delta_t`` otherwise. With it the
        compounded turnover rates ``(1 - (1 - k)^dt) / dt`` take the power by multiplication
        instead of ``exp(dt log(1 - k))`` (same pow rules, a few roundings closer to exact).
    adjoint : bool, default False
        Differentiate the time loop in reverse mode with its hand-written adjoint
        (:mod:`xdifferland.engine.adjoint_loop`; the ``"default"`` and ``"nothing"`` water
        stress, other variants fall back) instead of JAX's automatic derivative of the
        checkpointed loop. Values are identical and gradients agree to rounding (1e-14 in
        float64). On a 2-core CPU the automatic derivative is the faster of the two
        (``benchmarks/step_variants.py``), hence the default.

    Returns
    -------
    Simulation
        ``outputs`` maps each requested name to a ``(time, pixel)`` array; ``final_pools`` is the
        state after the last step.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from xdifferland.engine import Forcing, midpoint_parameters, simulate
    >>> months = jnp.arange(24.0)
    >>> forcing = Forcing(
    ...     time_days=(months * 30 + 15)[:, None], t_min=jnp.full((24, 1), 5.0),
    ...     t_max=jnp.full((24, 1), 15.0), shortwave_radiation=jnp.full((24, 1), 15.0),
    ...     co2=jnp.full((24, 1), 400.0), day_of_year=((months * 30 + 15) % 365)[:, None],
    ...     burned_area=jnp.zeros((24, 1)), vpd=jnp.full((24, 1), 1.0),
    ...     precipitation=jnp.full((24, 1), 2.0), latitude=jnp.array([45.0]),
    ...     delta_t=jnp.array(30.0), mean_temperature=jnp.array([10.0]),
    ...     mean_precipitation=jnp.array([2.0]))
    >>> run = simulate(midpoint_parameters(1), forcing, outputs=["gpp", "lai"])
    >>> run.outputs["gpp"].shape
    (24, 1)
    """
    from .water_stress import WATER_STRESS_VARIANTS

    names = resolve_outputs(outputs)
    if water_stress not in WATER_STRESS_VARIANTS:
        raise ValueError(f"water_stress={water_stress!r}; choose one of {WATER_STRESS_VARIANTS}")
    if water_stress != "default" and stress_weights is None:
        raise ValueError(f"water_stress={water_stress!r} needs its network weights "
                         "(stress_weights=init_water_stress(variant, seed) or a fitted model's)")
    parameters, forcing, step_days = normalized(parameters, forcing, step_days)
    return _simulate(parameters, forcing, names, bool(mass_conserving), int(unroll),
                     water_stress, None if water_stress == "default" else stress_weights,
                     bool(forward_mode), None if step_days is None else int(step_days),
                     bool(adjoint))


def normalized(parameters, forcing, step_days=None):
    """``(Parameters, Forcing, step_days)`` as the loop takes them: named tuples of the engine
    dtype and the whole-day step checked against (or found from) ``forcing.delta_t``."""
    forcing = Forcing(*forcing)
    step_days = _resolve_step_days(step_days, forcing.delta_t)
    return (as_dtype(Parameters(*parameters)), as_dtype(forcing),
            None if step_days is None else int(step_days))
