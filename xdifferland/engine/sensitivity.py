"""Local sensitivity of simulated observations to the parameters: the Fisher information.

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

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from ..registry import PARAMETER_NAMES
from ..transforms import to_physical, to_unconstrained
from ..typing import Array
from .simulate import simulate
from .types import Forcing, Parameters

__all__ = ["fisher_information"]


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
