"""Local sensitivity of simulated quantities to the parameters: derivatives and Fisher information.

:func:`output_sensitivity` gives the derivative of one output, reduced over time, with respect to
physical parameters, per pixel. :func:`fisher_information` weighs the derivatives of observed
streams by their noise.

For one pixel with unconstrained parameters ``x`` (the network's output space, see
:mod:`xdifferland.transforms`) and observed streams ``y_s(t)`` with Gaussian noise of standard
deviation ``sigma_s``, the Fisher information is

.. math::

    F_{kl} = \\sum_s \\sum_{t \\ge t_0} \\frac{1}{\\sigma_s^2}
             \\frac{\\partial y_s(t)}{\\partial x_k} \\frac{\\partial y_s(t)}{\\partial x_l}.

Its inverse bounds how well the streams can pin each parameter at that pixel (the Cramér-Rao
bound); off-diagonal terms show which parameters trade off. Pixels are independent in DALEC993,
so one forward-mode derivative per parameter, with that parameter perturbed at every pixel at
once, gives every pixel's column of the Jacobian: 40 forward passes for any number of pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from ..registry import PARAMETER_NAMES
from ..transforms import to_physical, to_unconstrained
from ..typing import Array
from .simulate import simulate
from .types import Forcing, Parameters

__all__ = ["fisher_information", "output_sensitivity", "REDUCTIONS"]

#: Reductions over time of :func:`output_sensitivity`: the mean over the steps, the total over
#: the record (a daily rate times the step length, summed) and none (every step).
REDUCTIONS = ("time-mean", "time-sum", "none")


def output_sensitivity(parameters: Parameters, forcing: Forcing, output: str,
                       wrt: Sequence[int], reduce: str = "time-mean", *,
                       mass_conserving: bool = False, water_stress: str = "default",
                       stress_weights=None) -> tuple[Array, Array]:
    """An output reduced over time and its derivatives with respect to physical parameters.

    Parameters
    ----------
    parameters : Parameters
        Physical parameters, ``(pixel,)`` each.
    forcing : Forcing
        Drivers, as for :func:`~xdifferland.engine.simulate`.
    output : str
        One output name (see :data:`~xdifferland.engine.OUTPUT_NAMES`).
    wrt : sequence of int
        Registry positions of the parameters to differentiate with respect to.
    reduce : {"time-mean", "time-sum", "none"}
        ``"time-sum"`` is the total over the record, ``sum(output) * delta_t`` (for daily rates).
    mass_conserving, water_stress, stress_weights
        As in :func:`~xdifferland.engine.simulate`.

    Returns
    -------
    value, derivatives
        ``value`` is ``(pixel,)`` (``(time, pixel)`` for ``"none"``); ``derivatives`` has a
        leading axis over ``wrt``, in the output's units per unit of each parameter.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from xdifferland.engine import Forcing, midpoint_parameters
    >>> from xdifferland.registry import PARAMETER_NAMES
    >>> months = jnp.arange(24.0)
    >>> forcing = Forcing(
    ...     time_days=(months * 30 + 15)[:, None], t_min=jnp.full((24, 1), 5.0),
    ...     t_max=jnp.full((24, 1), 15.0), shortwave_radiation=jnp.full((24, 1), 15.0),
    ...     co2=jnp.full((24, 1), 380.0), day_of_year=((months * 30 + 15) % 365)[:, None],
    ...     burned_area=jnp.zeros((24, 1)), vpd=jnp.full((24, 1), 1.0),
    ...     precipitation=jnp.full((24, 1), 2.0), latitude=jnp.array([45.0]), delta_t=30.0,
    ...     mean_temperature=jnp.array([10.0]), mean_precipitation=jnp.array([2.0]))
    >>> k = PARAMETER_NAMES.index("canopy_efficiency")
    >>> gpp, d_gpp = output_sensitivity(midpoint_parameters(1), forcing, "gpp", [k])
    >>> d_gpp.shape, bool(d_gpp[0, 0] > 0)  # more efficient canopies assimilate more
    ((1, 1), True)
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce={reduce!r}: use one of {REDUCTIONS}")
    theta = jnp.stack([jnp.asarray(getattr(parameters, n)) for n in PARAMETER_NAMES], axis=-1)

    def reduced(theta):
        run = simulate(Parameters(*jnp.moveaxis(theta, -1, 0)), forcing, (output,),
                       mass_conserving=mass_conserving, water_stress=water_stress,
                       stress_weights=stress_weights, forward_mode=True)
        series = run.outputs[output]  # (time, pixel)
        if reduce == "time-mean":
            return series.mean(axis=0)
        if reduce == "time-sum":
            return series.sum(axis=0) * jnp.asarray(forcing.delta_t, series.dtype)
        return series

    def column(k):
        # Pixels are independent, so a tangent of 1 at every pixel gives each its own derivative.
        tangent = jnp.zeros_like(theta).at[:, k].set(1.0)
        return jax.jvp(reduced, (theta,), (tangent,))[1]

    return reduced(theta), jax.lax.map(column, jnp.asarray(list(wrt), jnp.int32))


def fisher_information(parameters: Parameters, forcing: Forcing, noise: Mapping[str, float], *,
                       warmup: int = 0, mass_conserving: bool = False) -> Array:
    """Fisher information of the unconstrained parameters, ``(pixel, 40, 40)``.

    Parameters
    ----------
    parameters : Parameters
        Physical parameters, ``(pixel,)`` each, strictly inside their registry bounds.
    forcing : Forcing
        Drivers, as for :func:`~xdifferland.engine.simulate`.
    noise : mapping of str to float
        Observed output name → noise standard deviation in the output's units.
    warmup : int, default 0
        Leading steps left out (observations compared after a warm-up).
    mass_conserving : bool, default False
        As in :func:`~xdifferland.engine.simulate`.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from xdifferland.engine import Forcing, midpoint_parameters
    >>> months = jnp.arange(24.0)
    >>> forcing = Forcing(
    ...     time_days=(months * 30 + 15)[:, None], t_min=jnp.full((24, 1), 5.0),
    ...     t_max=jnp.full((24, 1), 15.0), shortwave_radiation=jnp.full((24, 1), 15.0),
    ...     co2=jnp.full((24, 1), 380.0), day_of_year=((months * 30 + 15) % 365)[:, None],
    ...     burned_area=jnp.zeros((24, 1)), vpd=jnp.full((24, 1), 1.0),
    ...     precipitation=jnp.full((24, 1), 2.0), latitude=jnp.array([45.0]), delta_t=30.0,
    ...     mean_temperature=jnp.array([10.0]), mean_precipitation=jnp.array([2.0]))
    >>> info = fisher_information(midpoint_parameters(1), forcing, {"lai": 0.1})
    >>> info.shape
    (1, 40, 40)
    >>> float(info[0, 39, 39])  # the VOD wood coefficient does not touch LAI
    0.0
    """
    names = tuple(noise)
    scale = {name: 1.0 / float(noise[name]) for name in names}
    theta = jnp.stack([jnp.asarray(getattr(parameters, n)) for n in PARAMETER_NAMES], axis=-1)
    x = to_unconstrained(theta)  # (pixel, 40)

    def observed(x):
        run = simulate(Parameters(*jnp.moveaxis(to_physical(x), -1, 0)), forcing, names,
                       mass_conserving=mass_conserving, forward_mode=True)
        return jnp.stack([run.outputs[n][warmup:] * scale[n] for n in names])  # (s, t, pixel)

    def column(k):
        # Perturbing parameter k at every pixel at once gives each pixel its own derivative,
        # because no pixel's simulation depends on another's.
        tangent = jnp.zeros_like(x).at[:, k].set(1.0)
        return jax.jvp(observed, (x,), (tangent,))[1]

    jacobian = jax.lax.map(column, jnp.arange(len(PARAMETER_NAMES)))  # (k, s, t, pixel)
    return jnp.einsum("kstp,lstp->pkl", jacobian, jacobian)
