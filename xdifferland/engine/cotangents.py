"""Cotangent bookkeeping shared by the hand-written adjoints (:mod:`.step_adjoint`).

A cotangent that is ``None`` is a symbolic zero: the helpers return None for it, so cotangents
of outputs nobody asked for generate no arithmetic.
"""

from __future__ import annotations

import jax.numpy as jnp

from .materialize import written_once

__all__ = ["Cotangents", "mul", "neg", "kept", "replaced", "max0_slope"]


class Cotangents(dict):
    """Cotangent of each named local; an absent name is a symbolic zero (no work)."""

    def add(self, name, value):
        if value is not None:
            self[name] = value if self.get(name) is None else self[name] + value

    def pop_(self, name):
        """The final cotangent of ``name`` (None for zero), written to memory once: the
        reverse of ``name``'s line reads it several times."""
        value = self.pop(name, None)
        return None if value is None else written_once(value)


def mul(g, x):
    """``g * x``, or None for a zero ``g``."""
    return None if g is None else g * x


def neg(g):
    """``-g``, or None for a zero ``g``."""
    return None if g is None else -g


def kept(keep, g):
    """Cotangent of the kept branch of ``where(keep, a, b)`` (``a``'s)."""
    return None if g is None else jnp.where(keep, g, 0.0)


def replaced(keep, g):
    """Cotangent of the replacing branch of ``where(keep, a, b)`` (``b``'s)."""
    return None if g is None else jnp.where(keep, 0.0, g)


def max0_slope(x):
    """d max(x, 0) / dx with JAX's even split at the tie."""
    return jnp.where(x > 0.0, 1.0, jnp.where(x == 0.0, 0.5, 0.0))
