"""``shared``: an identity whose value and cotangent XLA writes once; gradients are unchanged."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.engine.test_simulate import make_forcing
from xdifferland.engine import midpoint_parameters, simulate
from xdifferland.engine.materialize import shared


def test_shared_is_the_identity_with_the_identity_gradient(x64):
    x = jnp.linspace(-2.0, 3.0, 7)
    np.testing.assert_array_equal(shared(x), x)
    np.testing.assert_array_equal(jax.jit(shared)(x), x)
    grad = jax.grad(lambda v: jnp.sum(jnp.sin(shared(v * v))))(x)
    np.testing.assert_array_equal(grad, jnp.cos(x * x) * 2 * x)


@pytest.mark.parametrize("mass_conserving", [False, True])
def test_simulation_gradients_equal_those_without_the_hints(mass_conserving, x64):
    params, forcing = midpoint_parameters(3), make_forcing(n_time=36)
    forcing = forcing._replace(burned_area=forcing.burned_area + 0.01)

    def loss(scale, forward_mode):
        p = params._replace(canopy_efficiency=params.canopy_efficiency * scale,
                            leaf_fall_period=params.leaf_fall_period * scale)
        run = simulate(p, forcing, ["lai", "nbe", "sum:labile_release", "water_pool"],
                       mass_conserving=mass_conserving, forward_mode=forward_mode)
        return sum(jnp.sum(v ** 2) for v in run.outputs.values())

    scale = jnp.array([0.9, 1.0, 1.1])
    hinted = jax.grad(loss)(scale, False)
    plain = jax.grad(loss)(scale, True)
    forward = jax.jacfwd(lambda s: loss(s, True))(scale)
    assert bool(jnp.all(hinted != 0))
    np.testing.assert_allclose(hinted, plain, rtol=1e-12)
    np.testing.assert_allclose(hinted, forward, rtol=1e-9)


def test_forward_mode_needs_the_flag():
    params, forcing = midpoint_parameters(1), make_forcing(n_time=12, n_pixels=1)
    f = lambda s: simulate(params._replace(canopy_efficiency=params.canopy_efficiency * s),  # noqa: E731
                           forcing, ["gpp"]).outputs["gpp"].sum()
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jacfwd(f)(jnp.ones(1))
    f_forward = lambda s: simulate(params._replace(canopy_efficiency=params.canopy_efficiency * s),  # noqa: E731
                                   forcing, ["gpp"], forward_mode=True).outputs["gpp"].sum()
    assert float(jax.jacfwd(f_forward)(jnp.ones(1))[0]) > 0
