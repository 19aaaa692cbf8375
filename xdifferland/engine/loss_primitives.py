"""Error primitives of the published DifferLand loss (spec section 8.2), as pure JAX functions.

Every array is time-major, ``(time, pixel)``, like the engine outputs. An :class:`Observation`
holds one observation stream: its values (missing entries already replaced by a finite filler
such as -9999), a mask (0 where missing; fractional values act as weights) and optionally a
one-sigma uncertainty.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from ..typing import Array

__all__ = [
    "MONTHS_PER_YEAR",
    "Observation",
    "annual_mask",
    "annual_mean",
    "annualize",
    "observation_sse",
    "patch_error",
    "patch_error_of_means",
    "scaled_residual",
    "weighted_sse",
]

MONTHS_PER_YEAR = 12


class Observation(NamedTuple):
    """One observation stream, time-major ``(time, pixel)``.

    Attributes
    ----------
    value : Array
        Observed values; missing entries must already hold a finite filler (e.g. -9999).
    mask : Array
        1 where observed, 0 where missing; fractional values weight the entry.
    uncertainty : Array or None
        One-sigma uncertainty in the units of ``value``, used only when the loss is asked to
        weight residuals by uncertainty. It must be positive wherever ``mask > 0``.
    """

    value: Array
    mask: Array
    uncertainty: Array | None = None


def scaled_residual(predicted: Array, observed: Array, mask: Array,
                    uncertainty: Array | None = None) -> Array:
    """Residual ``predicted - observed``, divided by ``uncertainty`` when one is given.

    Where ``mask == 0`` the divisor is replaced by 1, so missing (possibly zero or NaN)
    uncertainties cannot produce NaN values or gradients.
    """
    residual = predicted - observed
    if uncertainty is None:
        return residual
    safe_sigma = jnp.where(mask > 0, uncertainty, jnp.ones_like(uncertainty))
    return residual / safe_sigma


def weighted_sse(predicted: Array, observed: Array, mask: Array,
                 uncertainty: Array | None = None) -> Array:
    r"""Masked sum of squared errors :math:`\sum (\hat y - y)^2 m` over all entries.

    Parameters
    ----------
    predicted, observed, mask : Array
        Arrays of the same shape (any rank).
    uncertainty : Array or None
        If given, each residual is divided by it first (a chi-square-type sum).

    Returns
    -------
    Array
        A scalar.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> float(weighted_sse(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0]), jnp.array([1.0, 0.5])))
    3.0
    """
    residual = scaled_residual(predicted, observed, mask, uncertainty)
    return jnp.sum(residual**2 * mask)


def observation_sse(predicted: Array, observation: Observation,
                    use_uncertainty: bool = False) -> Array:
    """:func:`weighted_sse` against an :class:`Observation`.

    With ``use_uncertainty`` the residuals are divided by ``observation.uncertainty`` when it is
    not ``None``; otherwise the uncertainty is ignored.
    """
    sigma = observation.uncertainty if use_uncertainty else None
    return weighted_sse(predicted, observation.value, observation.mask, sigma)


def patch_error(predicted: Array, observed: Array, mask: Array, batch_size: int) -> Array:
    r"""Patch error PE of spec 8.2 for ``(time, pixel)`` arrays.

    .. math::
        \mathrm{PE} = \sum_t \Big(\tfrac1B\sum_i \hat y_{ti} m_{ti}
        - \tfrac1B\sum_i y_{ti} m_{ti}\Big)^2 \cdot \tfrac1B \sum_i m_{ti}

    The means divide by ``batch_size`` (B) rows, padding included, not by the mask sum: each side is
    "coverage x masked mean" and each time is weighted by its coverage. Padded rows (absent from the
    arrays, or present with mask 0) therefore only enlarge B.

    Parameters
    ----------
    predicted, observed, mask : Array
        ``(time, pixel)`` arrays.
    batch_size : int
        B, the number of rows of the minibatch including padding (320 in the reference training).

    Returns
    -------
    Array
        A scalar.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> pred, obs, mask = jnp.array([[4.0, 0.0]]), jnp.array([[2.0, 0.0]]), jnp.array([[1.0, 0.0]])
    >>> float(patch_error(pred, obs, mask, batch_size=2))  # (2 - 1)^2 * 1/2
    0.5
    """
    if predicted.ndim != 2:
        raise ValueError(f"patch_error expects (time, pixel) arrays, got shape {predicted.shape}")
    predicted_mean = jnp.sum(predicted * mask, axis=1) / batch_size
    return patch_error_of_means(predicted_mean, observed, mask, batch_size)


def patch_error_of_means(predicted_mean: Array, observed: Array, mask: Array,
                         batch_size: int) -> Array:
    """:func:`patch_error` from the model side's per-time means ``(time,)``,
    ``sum_i(predicted * mask) / batch_size``, already formed (as the time loop forms them)."""
    observed_mean = jnp.sum(observed * mask, axis=1) / batch_size
    coverage = jnp.sum(mask, axis=1) / batch_size
    return jnp.sum((predicted_mean - observed_mean) ** 2 * coverage)


def _years(array: Array) -> Array:
    """Reshape ``(time, ...)`` to ``(year, month, ...)``; ``time`` must be a multiple of 12."""
    n_time = array.shape[0]
    if n_time % MONTHS_PER_YEAR:
        raise ValueError(
            f"annualization needs a whole number of years: the time axis has {n_time} steps, "
            f"which is not a multiple of {MONTHS_PER_YEAR} (trim the record or the warm-up)"
        )
    return jnp.reshape(array, (n_time // MONTHS_PER_YEAR, MONTHS_PER_YEAR) + array.shape[1:])


def annual_mean(array: Array) -> Array:
    """Average ``(time, ...)`` monthly values over each block of 12 steps -> ``(year, ...)``.

    Raises
    ------
    ValueError
        If the time axis is not a multiple of 12.
    """
    return jnp.mean(_years(array), axis=1)


def annual_mask(mask: Array) -> Array:
    """Multiply ``(time, ...)`` monthly masks over each year -> ``(year, ...)``.

    A year counts only if all 12 months are observed (products of fractional masks are kept).

    Raises
    ------
    ValueError
        If the time axis is not a multiple of 12.
    """
    return jnp.prod(_years(mask), axis=1)


def annualize(observation: Observation) -> Observation:
    """Annual :class:`Observation`: mean values, product masks, mean uncertainties.

    The uncertainty of an annual value is taken as the mean of the monthly ones, i.e. monthly
    errors are treated as fully correlated (right for annual products repeated every month).
    """
    uncertainty = observation.uncertainty
    return Observation(
        annual_mean(observation.value),
        annual_mask(observation.mask),
        None if uncertainty is None else annual_mean(uncertainty),
    )
