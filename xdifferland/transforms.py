"""Bounded transform between unconstrained network outputs and physical parameter values.

Spec section 3: ``u = arctan(x)/pi + 1/2`` and ``theta = min * (max/min) ** u``. The published code
stores the bounds as float32 arrays, so the ratio ``max/min`` is formed in float32 even when the
rest runs in float64; we reproduce that (it shifts values by about 1e-8 relative) so parity with the
reference holds in both precisions.
"""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
import numpy as np

from .registry import PARAMETER_NAMES, spec

__all__ = ["bounds", "to_physical", "to_unconstrained"]


def _row(values, like, dtype):
    """Bounds shaped to broadcast explicitly against ``like[..., n]``."""
    return jnp.asarray(values, dtype).reshape((1,) * max(jnp.ndim(like) - 1, 0) + (-1,))


def bounds(names: Sequence[str] = PARAMETER_NAMES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float32 ``(min, max, max/min)`` arrays for ``names`` (readable names or aliases)."""
    lo = np.array([spec(n).min for n in names], dtype=np.float32)
    hi = np.array([spec(n).max for n in names], dtype=np.float32)
    return lo, hi, hi / lo


def to_physical(x, names: Sequence[str] = PARAMETER_NAMES):
    """Map unconstrained values ``x[..., len(names)]`` to physical values within the bounds.

    Examples
    --------
    >>> float(to_physical(jnp.zeros(1), ["canopy_efficiency"])[0])  # sqrt(5 * 50)
    15.811388...
    """
    x = jnp.asarray(x)
    dtype = jnp.result_type(x.dtype, jnp.float32)
    lo, _, ratio = bounds(names)
    u = jnp.arctan(x) / jnp.pi + 0.5
    return _row(lo, x, dtype) * _row(ratio, x, dtype) ** u


def to_unconstrained(theta, names: Sequence[str] = PARAMETER_NAMES):
    """Inverse of :func:`to_physical`: physical values to unconstrained network outputs.

    Examples
    --------
    >>> round(float(to_unconstrained(jnp.array([20.0]), ["canopy_efficiency"])[0]), 5)
    0.33209
    """
    theta = jnp.asarray(theta)
    dtype = jnp.result_type(theta.dtype, jnp.float32)
    lo, _, ratio = bounds(names)
    u = jnp.log(theta / _row(lo, theta, dtype)) / jnp.log(_row(ratio, theta, dtype))
    return jnp.tan(jnp.pi * (u - 0.5))
