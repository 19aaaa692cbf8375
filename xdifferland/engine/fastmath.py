"""Vectorizable trigonometry and powers for the state-independent drivers (pure ``jax.numpy``).

XLA's CPU backend lowers ``sin``, ``cos``, ``tan``, ``arccos`` and ``pow`` to scalar library calls
that cost 15-50 ns per element, while multiply-adds, ``round``, ``sqrt`` and ``exp`` vectorize at
well under 1 ns. :func:`prepare <xdifferland.engine.step.prepare>` evaluates day length,
phenology and the compounded rates for every (time, pixel), so those calls dominated a forward
run. The trigonometry here uses argument reduction plus truncated Taylor series built only from
vectorizable operations. The number of terms follows the dtype: the truncation error is below the
dtype's rounding (about 1e-16 relative in float64, 1e-8 in float32), so results differ from the
library functions by rounding only. The powers are ``exp`` of a product (:func:`power`) or
repeated squaring (:func:`integer_power`). All are ordinary JAX code: differentiable, and
unchanged on GPU.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

__all__ = ["sin", "cos", "sin_squared", "tan", "tan_small", "arccos", "power",
           "integer_power"]

# Cody-Waite split of pi/2: the high part has few significant bits, so n * _HALF_PI_HI is exact
# for the quotients met here (|n| < 2**12) in float32 and float64.
_HALF_PI_HI = 1.5703125
_HALF_PI_LO = math.pi / 2 - 1.5703125
_HALF_PI_LO2 = 6.123233995736766e-17  # pi/2 - float64(pi/2)


def _is_double(x) -> bool:
    return jnp.result_type(x) == jnp.float64


def _series(x2, coefficients):
    """Horner evaluation of sum_k c_k x2**k."""
    total = jnp.zeros_like(x2) + coefficients[-1]
    for c in coefficients[-2::-1]:
        total = total * x2 + c
    return total


def _sin_coefficients(n_terms: int):
    return [(-1.0) ** k / math.factorial(2 * k + 1) for k in range(n_terms)]


def _cos_coefficients(n_terms: int):
    return [(-1.0) ** k / math.factorial(2 * k) for k in range(n_terms)]


def _sin_reduced(r):
    """sin(r) for |r| <= pi/4 (also accurate to pi/2 with the float64 term count)."""
    n = 11 if _is_double(r) else 7
    return r * _series(r * r, _sin_coefficients(n))


def _cos_reduced(r):
    n = 11 if _is_double(r) else 7
    return _series(r * r, _cos_coefficients(n))


def _reduce(x):
    """x = n * pi/2 + r with integer-valued n and |r| <= pi/4 (plus rounding)."""
    n = jnp.round(x * (2.0 / math.pi))
    r = (x - n * _HALF_PI_HI) - n * _HALF_PI_LO
    return n, r


def _quadrant(n):
    return n - 4.0 * jnp.floor(n * 0.25)  # n mod 4 in {0, 1, 2, 3}, as a float


def sin(x):
    """Sine of ``x`` (radians); intended for moderate arguments (|x| < 1000)."""
    n, r = _reduce(x)
    q = _quadrant(n)
    s, c = _sin_reduced(r), _cos_reduced(r)
    value = jnp.where((q == 0.0) | (q == 2.0), s, c)
    return jnp.where(q >= 2.0, -value, value)


def cos(x):
    """Cosine of ``x`` (radians); intended for moderate arguments (|x| < 1000)."""
    n, r = _reduce(x)
    q = _quadrant(n)
    s, c = _sin_reduced(r), _cos_reduced(r)
    value = jnp.where((q == 0.0) | (q == 2.0), c, s)
    return jnp.where((q == 1.0) | (q == 2.0), -value, value)


def sin_squared(x):
    """``sin(x) ** 2``; only the reduction modulo pi/2 is needed (no sign bookkeeping)."""
    n, r = _reduce(x)
    s, c = _sin_reduced(r), _cos_reduced(r)
    odd = _quadrant(n) - 2.0 * jnp.floor(_quadrant(n) * 0.5)  # n mod 2
    value = jnp.where(odd == 0.0, s, c)
    return value * value


def tan(x):
    """Tangent of ``x`` (radians); intended for moderate arguments (|x| < 1000).

    Used for ``tan(latitude)``: XLA fuses a per-pixel value into each ``(time, pixel)`` kernel
    that reads it, so a library ``tan`` there would run once per element, not once per pixel.
    """
    n, r = _reduce(x)
    # A third term of pi/2 keeps the sign right next to the poles: at x = float64(pi/2) the
    # remainder is -6.1e-17, not 0, so tan is +1.6e16 as in NumPy rather than -inf.
    r = r - n * _HALF_PI_LO2
    s, c = _sin_reduced(r), _cos_reduced(r)
    odd = _quadrant(n) - 2.0 * jnp.floor(_quadrant(n) * 0.5)  # n mod 2
    # tan(r + pi/2) = -cos(r) / sin(r); the period is pi, so only the parity of n matters.
    return jnp.where(odd == 0.0, s / c, -c / s)


def tan_small(x):
    """Tangent for |x| <= pi/4 (no argument reduction)."""
    return _sin_reduced(x) / _cos_reduced(x)


def _asin_small(z):
    """arcsin(z) for |z| <= 0.5 from its Maclaurin series."""
    n = 25 if _is_double(z) else 11
    coefficients = []
    c = 1.0
    for k in range(n):
        coefficients.append(c / (2 * k + 1))
        c *= (2 * k + 1) / (2 * k + 2)
    return z * _series(z * z, coefficients)


def arccos(x):
    """Inverse cosine of ``x`` in [-1, 1], in radians (NaN outside, like ``jnp.arccos``)."""
    inner = jnp.abs(x) <= 0.5
    small = math.pi / 2 - _asin_small(jnp.where(inner, x, 0.0))
    half = jnp.sqrt(jnp.maximum(0.5 * (1.0 - jnp.abs(x)), 0.0))
    edge = 2.0 * _asin_small(jnp.where(inner, 0.0, half))
    edge = jnp.where(x < 0.0, math.pi - edge, edge)
    out = jnp.where(inner, small, edge)
    return jnp.where(jnp.abs(x) <= 1.0, out, jnp.nan)


def power(base, exponent):
    """``base ** exponent`` as ``exp(exponent * log|base|)`` with the sign rules of ``pow``.

    This form vectorizes and agrees with ``pow`` to rounding, including negative bases with
    integer exponents (an odd exponent keeps the sign, a non-integer one gives NaN) and a zero
    base (0, with a zero gradient).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> values = power(jnp.array([0.5, -2.0, 0.0]), jnp.array([2.0, 3.0, 1.5]))
    >>> [round(v, 5) for v in values.tolist()]
    [0.25, -8.0, 0.0]
    """
    zero = base == 0.0
    magnitude = jnp.exp(exponent * jnp.log(jnp.where(zero, 1.0, jnp.abs(base))))
    magnitude = jnp.where(zero, 0.0, magnitude)
    integer = exponent == jnp.round(exponent)
    odd = integer & (exponent - 2.0 * jnp.floor(0.5 * exponent) == 1.0)
    signed = jnp.where(odd, -magnitude, jnp.where(integer, magnitude, jnp.nan))
    return jnp.where(base < 0.0, signed, magnitude)


def integer_power(base, n: int):
    """``base ** n`` for a static whole number ``n >= 1`` by repeated squaring.

    About ``2 log2(n)`` multiplications instead of a ``log`` and an ``exp``, and closer to the
    exact power (a few roundings, where ``exp(n log x)`` carries ``log``'s error times ``n``).
    Signs and zeros follow from the multiplications, as ``pow`` gives them for whole exponents.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> integer_power(jnp.array([0.5, -2.0, 0.0]), 3).tolist()
    [0.125, -8.0, 0.0]
    """
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"integer_power needs a whole number >= 1, got {n!r}")
    result, square = None, base
    while True:
        if n & 1:
            result = square if result is None else result * square
        n >>= 1
        if not n:
            return result
        square = square * square
