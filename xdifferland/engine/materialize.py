"""Keep XLA from recomputing shared intermediates of the step's gradient in every kernel.

XLA's CPU fusion copies every cheap elementwise producer into each kernel that reads it. In the
backward pass of the time step about 30 cotangents are formed from one chain of intermediates,
so each of their kernels re-evaluates most of that chain (about 6,800 element operations per
pixel and step instead of about 1,000). :func:`shared` marks a value that several kernels read:
under differentiation the value and its cotangent are each written once to memory, through a
reduction XLA does not duplicate; evaluated without differentiation it is the identity, so
forward runs compile exactly as before.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["shared", "written_once"]


def written_once(x):
    """``x``, evaluated into memory once: XLA neither folds this away nor copies it into the
    kernels that read it (a sum over a stacked zero row)."""
    return jnp.sum(jnp.stack([x, jnp.zeros_like(x)]), axis=0)


@jax.custom_vjp
def shared(x):
    """Identity; under differentiation the value and its cotangent are materialized once.

    Reverse mode only (``jax.grad``, ``jax.vjp``): JAX cannot push forward-mode tangents through
    a custom VJP, so code meant for ``jax.jvp`` passes the identity instead (see
    ``simulate(..., forward_mode=True)``).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> x = jnp.array([1.0, 2.0])
    >>> shared(x).tolist(), jax.grad(lambda v: jnp.sum(shared(v) ** 2))(x).tolist()
    ([1.0, 2.0], [2.0, 4.0])
    """
    return x


def _forward(x):
    return written_once(x), None


def _backward(_, cotangent):
    return (written_once(cotangent),)


shared.defvjp(_forward, _backward)
