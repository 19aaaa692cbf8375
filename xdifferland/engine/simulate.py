"""The ``lax.scan`` driver: array-level DALEC993 simulation, compiled once per shape."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from ..typing import Array
from .outputs import resolve_outputs
from .step import DRIVER_OUTPUTS, constants, init, prepare, step
from .types import Forcing, Parameters, Pools

__all__ = ["Simulation", "simulate", "as_dtype"]


class Simulation(NamedTuple):
    """Result of :func:`simulate`: requested outputs ``(time, pixel)`` and the final pools."""

    outputs: dict[str, Array]
    final_pools: Pools


def as_dtype(tree, dtype=None):
    """Cast every leaf to the engine's float dtype (float32, or float64 with ``jax_enable_x64``)."""
    dtype = dtype or jnp.result_type(float)
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype), tree)


@partial(jax.jit, static_argnames=("outputs", "mass_conserving", "unroll"))
def _simulate(parameters, forcing, outputs, mass_conserving, unroll):
    drivers = prepare(parameters, forcing)
    const = constants(parameters)
    in_loop = tuple(name for name in outputs if name not in DRIVER_OUTPUTS)

    def body(pools, drivers_t):
        new, fluxes = step(const, pools, drivers_t, mass_conserving)
        return new, {name: fluxes[name] for name in in_loop}

    final, stacked = jax.lax.scan(body, init(parameters), drivers, unroll=unroll)
    result = {name: getattr(drivers, DRIVER_OUTPUTS[name]) if name in DRIVER_OUTPUTS
              else stacked[name] for name in outputs}
    return Simulation(result, final)


def simulate(
    parameters: Parameters,
    forcing: Forcing,
    outputs: Sequence[str] | str | None = ("lai", "gpp", "et", "nbe"),
    *,
    mass_conserving: bool = False,
    unroll: int = 1,
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
    names = resolve_outputs(outputs)
    parameters, forcing = as_dtype(Parameters(*parameters)), as_dtype(Forcing(*forcing))
    return _simulate(parameters, forcing, names, bool(mass_conserving), int(unroll))
