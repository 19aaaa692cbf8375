"""The vectorizable trigonometry and pow used by prepare agree with NumPy to rounding."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from xdifferland.engine import fastmath
from xdifferland.engine.step import _power


def test_trigonometry_matches_numpy(x64):
    x = np.linspace(-70.0, 70.0, 20001)
    for ours, ref in ((fastmath.sin, np.sin), (fastmath.cos, np.cos),
                      (fastmath.sin_squared, lambda v: np.sin(v) ** 2)):
        np.testing.assert_allclose(np.asarray(ours(jnp.asarray(x))), ref(x), atol=1e-14)
    small = np.linspace(-0.78, 0.78, 2001)
    np.testing.assert_allclose(np.asarray(fastmath.tan_small(jnp.asarray(small))), np.tan(small),
                               rtol=1e-14, atol=1e-15)
    unit = np.linspace(-1.0, 1.0, 20001)
    np.testing.assert_allclose(np.asarray(fastmath.arccos(jnp.asarray(unit))), np.arccos(unit),
                               atol=1e-14)


def test_power_follows_pow_rules(x64):
    base = jnp.array([0.5, 0.999, 0.0, -0.5, -0.5, 2.0])
    exponent = jnp.array([30.0, 30.0, 30.0, 30.0, 3.0, 0.5])
    np.testing.assert_allclose(np.asarray(_power(base, exponent)),
                               np.power(np.asarray(base), np.asarray(exponent)), rtol=1e-13)
    assert np.isnan(float(_power(jnp.array(-0.5), jnp.array(2.5))))


def test_tan_matches_numpy_up_to_the_poles(x64):
    latitudes = np.radians(np.linspace(-89.99, 89.99, 20001))
    np.testing.assert_allclose(np.asarray(fastmath.tan(jnp.asarray(latitudes))), np.tan(latitudes),
                               rtol=1e-12)
    # At +-90 degrees the float64 remainder decides the sign: +-1.6e16 as in NumPy, never -inf.
    poles = np.radians(np.array([90.0, -90.0, 180.0]))
    np.testing.assert_allclose(np.asarray(fastmath.tan(jnp.asarray(poles))), np.tan(poles),
                               rtol=1e-12)
